//! `App::update` without a terminal: every key of every screen and popup, the popup stack
//! and Esc order, live refreshes, and effects coming back.

mod tui_support;

use crossterm::event::KeyCode;
use std::time::Duration;

use dynamo_ctl::state::scale;
use dynamo_ctl::tui::app::{Action, App, Effect, Listing, LoadOutcome, Op, Refresh, Severity};
use dynamo_ctl::tui::effects;
use dynamo_ctl::tui::keys::{self, Scope};
use tui_support::*;

fn picker_app() -> (App, dynamo_ctl::state::Store) {
    app_on(&fixture("demo"), None, false)
}

fn names(app: &App) -> Vec<String> {
    app.visible_namespaces()
        .iter()
        .map(|n| n.name.clone())
        .collect()
}

fn status(app: &App) -> (Severity, String) {
    let s = app.status.as_ref().expect("a status message");
    (s.severity, s.text.clone())
}

/// The demo copy opened on `dynamo`, its store, and the temp dir keeping it alive.
fn dashboard() -> (App, dynamo_ctl::state::Store, tempfile::TempDir) {
    let dir = demo_copy();
    let (app, store) = app_on(dir.path(), Some("dynamo"), false);
    assert_eq!(app.scope(), Scope::Dashboard);
    (app, store, dir)
}

// ------------------------------------------------------------------ picker

#[test]
fn picker_lists_namespaces_with_broken_ones() {
    let (app, _) = picker_app();
    assert_eq!(app.scope(), Scope::Picker);
    assert_eq!(names(&app), ["agg", "broken", "dynamo", "full"]);
    let broken = &app.visible_namespaces()[1];
    assert!(broken.brief.as_ref().unwrap_err().contains("malformed"));
    let dynamo = &app.visible_namespaces()[2];
    let b = dynamo.brief.as_ref().unwrap();
    assert_eq!((b.gpus_used, b.gpus_total), (4, 8));
    assert!(b.counts.contains(&("VllmWorker".into(), 2)));
}

#[test]
fn picker_j_k_and_arrows_move_within_bounds() {
    let (mut app, store) = picker_app();
    drive(&mut app, &store, key('k'));
    assert_eq!(picker_sel(&app), 0);
    drive(&mut app, &store, key('j'));
    assert_eq!(picker_sel(&app), 1);
    drive(&mut app, &store, code(KeyCode::Down));
    drive(&mut app, &store, code(KeyCode::Down));
    drive(&mut app, &store, code(KeyCode::Down));
    assert_eq!(picker_sel(&app), 3, "stops at the last");
    drive(&mut app, &store, code(KeyCode::Up));
    assert_eq!(picker_sel(&app), 2);
}

#[test]
fn picker_slash_filters_by_typed_text_and_esc_clears() {
    let (mut app, store) = picker_app();
    drive(&mut app, &store, key('/'));
    assert!(picker_typing(&app));
    for c in "dyn".chars() {
        drive(&mut app, &store, key(c));
    }
    assert_eq!(names(&app), ["dynamo"]);
    // q and j are text while filtering, not quit / move.
    drive(&mut app, &store, key('q'));
    assert!(!app.quit);
    assert!(names(&app).is_empty());
    drive(&mut app, &store, code(KeyCode::Backspace));
    assert_eq!(names(&app), ["dynamo"]);
    drive(&mut app, &store, code(KeyCode::Esc));
    assert!(!picker_typing(&app));
    assert_eq!(names(&app).len(), 4);
}

#[test]
fn picker_enter_in_filter_opens_the_match() {
    let dir = demo_copy();
    let (mut app, store) = app_on(dir.path(), None, false);
    for a in [key('/'), key('f'), key('u')] {
        drive(&mut app, &store, a);
    }
    drive(&mut app, &store, code(KeyCode::Enter));
    assert_eq!(current(&app).name, "full");
    assert_eq!(app.scope(), Scope::Dashboard);
}

#[test]
fn picker_enter_opens_via_a_refresh_effect() {
    let (mut app, _) = picker_app();
    set_picker(&mut app, 2);
    let effects = app.update(code(KeyCode::Enter));
    assert_eq!(
        effects,
        [Effect::Refresh {
            ns: Some("dynamo".into())
        }]
    );
    assert!(app.busy());
}

#[test]
fn picker_enter_on_broken_file_refuses_in_red() {
    let (mut app, store) = picker_app();
    set_picker(&mut app, 1);
    let effects = drive(&mut app, &store, code(KeyCode::Enter));
    assert!(effects.is_empty());
    assert!(opened(&app).is_none());
    let (sev, text) = status(&app);
    assert_eq!(sev, Severity::Error);
    assert!(text.contains("cannot open broken"), "{text}");
}

#[test]
fn picker_q_ctrl_c_and_help() {
    let (mut app, store) = picker_app();
    drive(&mut app, &store, key('x'));
    assert!(!app.quit && no_popups(&app), "unbound keys do nothing");
    drive(&mut app, &store, key('?'));
    assert_eq!(app.scope(), Scope::Help);
    drive(&mut app, &store, code(KeyCode::Esc));
    assert_eq!(app.scope(), Scope::Picker);
    drive(&mut app, &store, key('q'));
    assert!(app.quit);
    let (mut app, store) = picker_app();
    drive(&mut app, &store, ctrl('c'));
    assert!(app.quit);
}

#[test]
fn picker_esc_without_filter_and_without_popup_does_nothing() {
    let (mut app, store) = picker_app();
    drive(&mut app, &store, code(KeyCode::Esc));
    assert!(!app.quit);
    assert_eq!(app.scope(), Scope::Picker);
}

#[test]
fn missing_directory_is_a_listing_state_not_an_error() {
    let d = tempfile::tempdir().unwrap();
    let gone = d.path().join("nope");
    let (app, _) = app_on(&gone, None, false);
    assert_eq!(*listing(&app), Listing::Missing);
}

#[test]
fn opening_a_missing_namespace_with_dash_n_says_why() {
    let dir = demo_copy();
    let (app, _) = app_on(dir.path(), Some("nosuch"), false);
    assert_eq!(app.scope(), Scope::Picker);
    let (sev, text) = status(&app);
    assert_eq!(sev, Severity::Error);
    assert!(text.contains("nosuch"), "{text}");
}

// ------------------------------------------------------------------ dashboard

#[test]
fn dashboard_j_k_move_the_table_selection() {
    let (mut app, store, _d) = dashboard();
    assert_eq!(row(&app), 0);
    drive(&mut app, &store, key('j'));
    drive(&mut app, &store, code(KeyCode::Down));
    assert_eq!(row(&app), 2);
    drive(&mut app, &store, key('k'));
    assert_eq!(row(&app), 1);
    drive(&mut app, &store, code(KeyCode::Up));
    drive(&mut app, &store, code(KeyCode::Up));
    assert_eq!(row(&app), 0);
    drive(&mut app, &store, key('G'));
    assert_eq!(row(&app), 4, "5 types in dynamo.json");
    drive(&mut app, &store, key('j'));
    assert_eq!(row(&app), 4);
    drive(&mut app, &store, key('g'));
    assert_eq!(row(&app), 0);
}

#[test]
fn dashboard_tab_cycles_focus_and_keys_follow_it() {
    let (mut app, store, _d) = dashboard();
    // Scrolling is bounded by what is drawn: the screen as a person sees it first.
    tui_support::render(&app, 100, 24);
    assert_eq!(focus(&app), Focus::Components);
    drive(&mut app, &store, code(KeyCode::Tab));
    assert_eq!(focus(&app), Focus::Gpus);
    drive(&mut app, &store, key('j'));
    assert_eq!(gpu_offset(&app), 1);
    assert_eq!(row(&app), 0);
    drive(&mut app, &store, code(KeyCode::Tab));
    assert_eq!(focus(&app), Focus::Json);
    // A page is the view's height less one line kept for context; End shows the last page
    // (no over-scrolling past the last line).
    let height = app.dashboard().unwrap().json_scroll.height();
    assert!(height > 2, "{height}");
    drive(&mut app, &store, code(KeyCode::PageDown));
    assert_eq!(json_offset(&app), height - 1);
    drive(&mut app, &store, key('k'));
    assert_eq!(json_offset(&app), height - 2);
    drive(&mut app, &store, code(KeyCode::PageUp));
    assert_eq!(json_offset(&app), 0);
    drive(&mut app, &store, code(KeyCode::End));
    let lines = current(&app).json.len();
    assert_eq!(json_offset(&app), lines - height);
    drive(&mut app, &store, key('j'));
    assert_eq!(
        json_offset(&app),
        lines - height,
        "no scrolling past the end"
    );
    drive(&mut app, &store, code(KeyCode::Home));
    assert_eq!(json_offset(&app), 0);
    drive(&mut app, &store, code(KeyCode::Tab));
    assert_eq!(focus(&app), Focus::Components);
    drive(&mut app, &store, code(KeyCode::BackTab));
    assert_eq!(focus(&app), Focus::Json);
}

#[test]
fn dashboard_a_opens_type_chooser_preselecting_the_selected_row() {
    let (mut app, store, _d) = dashboard();
    select_type(&mut app, "PrefillWorker");
    drive(&mut app, &store, key('a'));
    let Choose {
        op,
        types,
        selected,
        ..
    } = chooser(&app);
    assert_eq!(*op, Op::Add);
    assert_eq!(types[selected.unwrap()], "PrefillWorker");
    assert_eq!(app.scope(), Scope::Choose);
}

#[test]
fn dashboard_r_offers_only_running_types() {
    let (mut app, store, _d) = dashboard();
    select_type(&mut app, "VllmWorker");
    drive(&mut app, &store, key('r'));
    let Choose {
        op,
        types,
        selected,
        ..
    } = chooser(&app);
    assert_eq!(*op, Op::Remove);
    assert_eq!(types[selected.unwrap()], "VllmWorker");
    let cur = current(&app);
    for t in types {
        assert!(cur.summary.running(t) > 0, "{t} has nothing to remove");
    }
}

#[test]
fn dashboard_n_opens_the_picker_popup_and_esc_closes_it() {
    let (mut app, store, _d) = dashboard();
    let effects = app.update(key('n'));
    assert!(matches!(effects[..], [Effect::Refresh { .. }]));
    assert_eq!(scopes(&app), [Scope::Picker]);
    assert_eq!(
        names(&app)[picker_sel(&app)],
        "dynamo",
        "current one preselected"
    );
    drive(&mut app, &store, code(KeyCode::Esc));
    assert!(no_popups(&app));
    assert_eq!(app.scope(), Scope::Dashboard);
    let _ = store;
}

#[test]
fn dashboard_n_then_enter_switches_namespace() {
    let (mut app, store, _d) = dashboard();
    drive(&mut app, &store, key('n'));
    drive(&mut app, &store, key('k'));
    drive(&mut app, &store, key('k'));
    assert_eq!(names(&app)[picker_sel(&app)], "agg");
    drive(&mut app, &store, code(KeyCode::Enter));
    assert!(no_popups(&app));
    assert_eq!(current(&app).name, "agg");
}

#[test]
fn dashboard_q_ctrl_c_help_and_esc() {
    let (mut app, store, _d) = dashboard();
    drive(&mut app, &store, key('?'));
    assert_eq!(app.scope(), Scope::Help);
    let _ = render(&app, 80, 20);
    let offset = |app: &App| help(app).scroll.offset();
    drive(&mut app, &store, key('j'));
    assert_eq!(offset(&app), 1);
    drive(&mut app, &store, key('k'));
    assert_eq!(offset(&app), 0);
    drive(&mut app, &store, key('?'));
    assert!(no_popups(&app), "? toggles the help");
    // q inside a popup closes it; on the dashboard it quits.
    drive(&mut app, &store, key('?'));
    drive(&mut app, &store, key('q'));
    assert!(no_popups(&app) && !app.quit);
    drive(&mut app, &store, key('q'));
    assert!(app.quit);
    let (mut app, store, _d) = dashboard();
    drive(&mut app, &store, ctrl('c'));
    assert!(app.quit);
}

// ------------------------------------------------------------------ chooser + confirm

#[test]
fn choose_j_k_enter_opens_an_add_confirm_with_ok_focused() {
    let (mut app, store, _d) = dashboard();
    select_type(&mut app, "VllmWorker");
    drive(&mut app, &store, key('a'));
    drive(&mut app, &store, key('j'));
    drive(&mut app, &store, key('k'));
    drive(&mut app, &store, code(KeyCode::Down));
    drive(&mut app, &store, code(KeyCode::Up));
    drive(&mut app, &store, code(KeyCode::Enter));
    let Confirm {
        question,
        ok_focused,
        warning,
        intent,
        ..
    } = confirm(&app);
    assert_eq!(question, "Add dynamo_VllmWorker_2 on GPU 4?");
    assert!(*ok_focused, "OK has focus for adds");
    assert!(warning.is_none());
    assert_eq!(intent.op, Op::Add);
    assert_eq!(popup_count(&app), 2, "confirm is stacked on the chooser");
}

#[test]
fn confirm_remove_states_the_effect_with_cancel_focused() {
    let (mut app, store, _d) = dashboard();
    select_type(&mut app, "VllmWorker");
    drive(&mut app, &store, key('r'));
    drive(&mut app, &store, code(KeyCode::Enter));
    let Confirm {
        question,
        ok_focused,
        warning,
        ..
    } = confirm(&app);
    assert_eq!(question, "Remove dynamo_VllmWorker_1 and free GPU 2?");
    assert!(!ok_focused, "Cancel has focus for removals");
    assert!(warning.is_none(), "one VllmWorker remains");
    // Enter presses Cancel: nothing happens, the flow closes.
    let effects = drive(&mut app, &store, code(KeyCode::Enter));
    assert!(effects.is_empty());
    assert!(no_popups(&app));
}

#[test]
fn confirm_removing_the_last_instance_warns() {
    let dir = demo_copy();
    let (mut app, store) = app_on(dir.path(), Some("full"), false);
    select_type(&mut app, "VllmWorker");
    drive(&mut app, &store, key('r'));
    drive(&mut app, &store, code(KeyCode::Enter));
    let w = confirm(&app).warning.as_deref().expect("a warning");
    assert!(w.contains("last running VllmWorker"), "{w}");
}

#[test]
fn add_that_the_rules_refuse_is_an_error_not_a_confirm() {
    let dir = demo_copy();
    let (mut app, store) = app_on(dir.path(), Some("full"), false);
    select_type(&mut app, "VllmWorker");
    drive(&mut app, &store, key('a'));
    drive(&mut app, &store, code(KeyCode::Enter));
    assert_ne!(top_scope(&app), Some(Scope::Confirm));
    let (sev, text) = status(&app);
    assert_eq!(sev, Severity::Error);
    assert!(text.contains("free"), "{text}");
}

#[test]
fn confirm_tab_arrows_h_l_switch_the_focused_button() {
    let (mut app, store, _d) = dashboard();
    select_type(&mut app, "VllmWorker");
    drive(&mut app, &store, key('a'));
    drive(&mut app, &store, code(KeyCode::Enter));
    let focus = |app: &App| confirm(app).ok_focused;
    let start = focus(&app);
    for (i, a) in [
        code(KeyCode::Tab),
        code(KeyCode::Left),
        code(KeyCode::Right),
        key('h'),
        key('l'),
    ]
    .into_iter()
    .enumerate()
    {
        drive(&mut app, &store, a);
        assert_eq!(focus(&app), if i % 2 == 0 { !start } else { start });
    }
}

#[test]
fn confirm_y_runs_the_scale_effect_and_closes_the_flow() {
    let (mut app, store, _d) = dashboard();
    select_type(&mut app, "PrefillWorker");
    drive(&mut app, &store, key('a'));
    drive(&mut app, &store, code(KeyCode::Enter));
    let effects = drive(&mut app, &store, key('y'));
    assert!(no_popups(&app));
    let [Effect::Scale(intent)] = &effects[..] else {
        panic!("expected one scale effect, got {effects:?}");
    };
    assert_eq!(intent.ty, "PrefillWorker");
    assert_eq!(intent.expected.name(), "dynamo_PrefillWorker_2");
    assert!(app.busy(), "spinner while the change runs");
    // Run it: the file changes and the app shows the result.
    let done = effects::run_blocking(&store, effects[0].clone());
    drive(&mut app, &store, done);
    assert!(!app.busy());
    let (sev, text) = status(&app);
    assert_eq!(sev, Severity::Ok);
    assert_eq!(text, "Added dynamo_PrefillWorker_2 on GPU 4");
    let cur = current(&app);
    assert_eq!(cur.summary.running("PrefillWorker"), 3);
    let on_disk = store.load("dynamo").unwrap();
    assert!(
        on_disk
            .state
            .components
            .contains_key("dynamo_PrefillWorker_2")
    );
}

#[test]
fn confirm_n_cancels_and_enter_on_ok_confirms() {
    let (mut app, store, _d) = dashboard();
    select_type(&mut app, "VllmWorker");
    drive(&mut app, &store, key('a'));
    drive(&mut app, &store, code(KeyCode::Enter));
    let effects = drive(&mut app, &store, key('n'));
    assert!(effects.is_empty());
    assert!(no_popups(&app));
    assert_eq!(status(&app).1, "cancelled");
    drive(&mut app, &store, key('a'));
    drive(&mut app, &store, code(KeyCode::Enter));
    let effects = drive(&mut app, &store, code(KeyCode::Enter));
    assert!(matches!(effects[..], [Effect::Scale(_)]));
}

#[test]
fn esc_closes_popups_one_at_a_time_top_first() {
    let (mut app, store, _d) = dashboard();
    select_type(&mut app, "VllmWorker");
    drive(&mut app, &store, key('r'));
    drive(&mut app, &store, code(KeyCode::Enter));
    drive(&mut app, &store, key('?'));
    assert_eq!(popup_count(&app), 3);
    assert_eq!(app.scope(), Scope::Help);
    drive(&mut app, &store, code(KeyCode::Esc));
    assert_eq!(app.scope(), Scope::Confirm);
    drive(&mut app, &store, code(KeyCode::Esc));
    assert_eq!(app.scope(), Scope::Choose);
    drive(&mut app, &store, code(KeyCode::Esc));
    assert_eq!(app.scope(), Scope::Dashboard);
    // One more goes back to the picker (k9s), never quits.
    drive(&mut app, &store, code(KeyCode::Esc));
    assert!(!app.quit);
    assert_eq!(app.scope(), Scope::Picker);
}

#[test]
fn q_closes_stacked_popups_one_at_a_time_and_ctrl_c_quits() {
    let (mut app, store, _d) = dashboard();
    drive(&mut app, &store, key('a'));
    drive(&mut app, &store, code(KeyCode::Enter));
    assert_eq!(app.scope(), Scope::Confirm);
    drive(&mut app, &store, key('q'));
    assert!(!app.quit);
    assert_eq!(app.scope(), Scope::Choose);
    drive(&mut app, &store, ctrl('c'));
    assert!(app.quit);
}

#[test]
fn picker_popup_under_help_esc_order() {
    let (mut app, store, _d) = dashboard();
    drive(&mut app, &store, key('n'));
    drive(&mut app, &store, key('/'));
    drive(&mut app, &store, key('a'));
    drive(&mut app, &store, key('?'));
    assert_eq!(picker_filter(&app), "a?", "? is text while filtering");
    drive(&mut app, &store, code(KeyCode::Esc));
    assert_eq!(picker_filter(&app), "", "first Esc clears the filter");
    assert_eq!(scopes(&app), [Scope::Picker]);
    drive(&mut app, &store, key('?'));
    assert_eq!(scopes(&app), [Scope::Picker, Scope::Help]);
    drive(&mut app, &store, code(KeyCode::Esc));
    assert_eq!(scopes(&app), [Scope::Picker]);
    drive(&mut app, &store, code(KeyCode::Esc));
    assert!(no_popups(&app));
}

#[test]
fn every_registry_key_reaches_its_own_command() {
    use crossterm::event::{KeyEvent, KeyModifiers};
    use dynamo_ctl::tui::keys::{Key, registry};
    for b in registry() {
        for k in b.keys {
            let ev = match *k {
                Key::Char(c) => KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE),
                Key::Ctrl(c) => KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL),
                Key::Code(c) => KeyEvent::new(c, KeyModifiers::NONE),
            };
            assert_eq!(
                keys::lookup(b.scope, &ev, false),
                Some(b.cmd),
                "{:?} in {:?} is shadowed",
                k,
                b.scope
            );
        }
    }
}

// ------------------------------------------------------------------ readonly

#[test]
fn readonly_drops_add_and_remove_keys() {
    let dir = demo_copy();
    let (mut app, store) = app_on(dir.path(), Some("dynamo"), true);
    drive(&mut app, &store, key('a'));
    drive(&mut app, &store, key('r'));
    assert!(no_popups(&app));
    let footer: Vec<_> = keys::footer(Scope::Dashboard, true);
    assert!(!footer.iter().any(|(l, _)| *l == "a" || *l == "r"));
    let full: Vec<_> = keys::footer(Scope::Dashboard, false);
    assert!(full.iter().any(|(l, _)| *l == "a") && full.iter().any(|(l, _)| *l == "r"));
    let help = keys::help(true, Scope::Dashboard);
    assert!(
        !help
            .iter()
            .flat_map(|(_, rows)| rows)
            .any(|(_, d)| d.contains("add an instance"))
    );
}

// ------------------------------------------------------------------ live updates

#[test]
fn fs_change_asks_for_a_refresh_and_shows_the_new_state() {
    let (mut app, store, _d) = dashboard();
    let effects = app.update(Action::FsChanged);
    assert_eq!(
        effects,
        [Effect::Refresh {
            ns: Some("dynamo".into())
        }]
    );
    store
        .transact("dynamo", false, |s| scale::add(s, "VllmWorker"))
        .unwrap();
    let a = effects::run_blocking(&store, effects[0].clone());
    drive(&mut app, &store, a);
    assert_eq!(current(&app).summary.running("VllmWorker"), 3);
    assert!(status(&app).1.contains("changed on disk"));
}

#[test]
fn vanished_namespace_brings_back_the_picker_and_says_so() {
    let (mut app, store, d) = dashboard();
    drive(&mut app, &store, key('a'));
    std::fs::remove_file(d.path().join("dynamo.json")).unwrap();
    drive(&mut app, &store, Action::FsChanged);
    assert!(opened(&app).is_none());
    assert!(no_popups(&app), "popups about the gone namespace close");
    assert_eq!(app.scope(), Scope::Picker);
    let (sev, text) = status(&app);
    assert_eq!(sev, Severity::Warn);
    assert!(text.contains("dynamo vanished"), "{text}");
    assert!(!names(&app).contains(&"dynamo".to_string()));
}

#[test]
fn vanished_directory_then_reappearing() {
    let (mut app, store, d) = dashboard();
    let moved = d.path().with_extension("moved");
    std::fs::rename(d.path(), &moved).unwrap();
    drive(&mut app, &store, Action::FsChanged);
    assert_eq!(*listing(&app), Listing::Missing);
    assert!(status(&app).1.contains("state directory"));
    std::fs::rename(&moved, d.path()).unwrap();
    drive(&mut app, &store, Action::FsChanged);
    assert_eq!(names(&app).len(), 4);
}

#[test]
fn a_broken_write_keeps_the_last_good_state() {
    let (mut app, _store, _d) = dashboard();
    app.update(Action::FsChanged);
    app.update(Action::Refreshed(Refresh {
        listing: Listing::Found(vec![]),
        ns: Some(("dynamo".into(), LoadOutcome::Broken("truncated".into()))),
    }));
    assert!(opened(&app).is_some());
    let (sev, text) = status(&app);
    assert_eq!(sev, Severity::Warn);
    assert!(text.contains("last good state"), "{text}");
}

#[test]
fn a_confirmed_change_that_raced_is_not_applied_and_the_confirm_reopens() {
    let (mut app, store, d) = dashboard();
    select_type(&mut app, "VllmWorker");
    drive(&mut app, &store, key('a'));
    drive(&mut app, &store, code(KeyCode::Enter));
    assert_eq!(confirm_question(&app), "Add dynamo_VllmWorker_2 on GPU 4?");
    let effects = drive(&mut app, &store, key('y'));
    // Meanwhile the planner adds a VllmWorker: it takes _2 and GPU 4.
    store
        .transact("dynamo", false, |s| scale::add(s, "VllmWorker"))
        .unwrap();
    let raced = std::fs::read(d.path().join("dynamo.json")).unwrap();
    let done = effects::run_blocking(&store, effects[0].clone());
    drive(&mut app, &store, done);
    // Nothing applied: not a different add than the one confirmed.
    assert_eq!(std::fs::read(d.path().join("dynamo.json")).unwrap(), raced);
    let (sev, text) = status(&app);
    assert_eq!(sev, Severity::Warn);
    assert!(text.contains("changed meanwhile"), "{text}");
    assert!(
        text.contains("added dynamo_VllmWorker_3 on GPU 5"),
        "{text}"
    );
    // The confirm is back with the new effect; confirming that one applies it.
    assert_eq!(confirm_question(&app), "Add dynamo_VllmWorker_3 on GPU 5?");
    let effects = drive(&mut app, &store, key('y'));
    let done = effects::run_blocking(&store, effects[0].clone());
    drive(&mut app, &store, done);
    assert_eq!(status(&app).0, Severity::Ok);
    assert!(
        current(&app)
            .doc
            .state
            .components
            .get("dynamo_VllmWorker_3")
            .is_some()
    );
}

#[test]
fn a_confirmed_removal_never_removes_another_instance() {
    let (mut app, store, d) = dashboard();
    select_type(&mut app, "VllmWorker");
    drive(&mut app, &store, key('r'));
    drive(&mut app, &store, code(KeyCode::Enter));
    assert_eq!(
        confirm_question(&app),
        "Remove dynamo_VllmWorker_1 and free GPU 2?"
    );
    let effects = drive(&mut app, &store, key('y'));
    // Someone else removes _1 first: the rule would now park the base entry instead.
    store
        .transact("dynamo", false, |s| scale::remove(s, "VllmWorker"))
        .unwrap();
    let raced = std::fs::read(d.path().join("dynamo.json")).unwrap();
    let done = effects::run_blocking(&store, effects[0].clone());
    drive(&mut app, &store, done);
    assert_eq!(std::fs::read(d.path().join("dynamo.json")).unwrap(), raced);
    assert!(confirm_question(&app).starts_with("Remove dynamo_VllmWorker and free GPU 0?"));
}

#[test]
fn an_open_confirm_follows_the_file() {
    let (mut app, store, _d) = dashboard();
    select_type(&mut app, "VllmWorker");
    drive(&mut app, &store, key('r'));
    drive(&mut app, &store, code(KeyCode::Enter));
    assert_eq!(
        confirm_question(&app),
        "Remove dynamo_VllmWorker_1 and free GPU 2?"
    );
    store
        .transact("dynamo", false, |s| scale::remove(s, "VllmWorker"))
        .unwrap();
    drive(&mut app, &store, Action::FsChanged);
    assert!(
        confirm_question(&app).starts_with("Remove dynamo_VllmWorker and free GPU 0?"),
        "{}",
        confirm_question(&app)
    );
    assert!(
        confirm(&app)
            .warning
            .as_deref()
            .unwrap()
            .contains("last running VllmWorker")
    );
    assert_eq!(status(&app).0, Severity::Warn);
    // And when nothing is left to remove, the confirm closes and says why.
    store
        .transact("dynamo", false, |s| scale::remove(s, "VllmWorker"))
        .unwrap();
    drive(&mut app, &store, Action::FsChanged);
    assert!(no_popups(&app), "{}", popups_debug(&app));
    assert!(
        status(&app).1.contains("cannot remove now"),
        "{}",
        status(&app).1
    );
}

#[test]
fn infrastructure_is_never_preselected_and_needs_a_second_confirmation() {
    let (mut app, store, _d) = dashboard();
    select_type(&mut app, "Frontend");
    drive(&mut app, &store, key('a'));
    let Choose {
        types, selected, ..
    } = chooser(&app);
    assert_eq!(
        &types[..2],
        ["VllmWorker", "PrefillWorker"],
        "workers first"
    );
    assert_eq!(
        types[selected.unwrap()],
        "VllmWorker",
        "the Frontend row does not preselect Frontend"
    );
    let at = types.iter().position(|t| t == "Frontend").unwrap();
    for _ in 0..at {
        drive(&mut app, &store, code(KeyCode::Down));
    }
    drive(&mut app, &store, code(KeyCode::Enter));
    let q = confirm_question(&app);
    assert_eq!(q, "Frontend is not a worker. Run another Frontend?");
    assert!(!confirm(&app).ok_focused, "Cancel has focus");
    let effects = drive(&mut app, &store, key('y'));
    assert!(effects.is_empty(), "step 1 of 2 changes nothing");
    assert_eq!(confirm_question(&app), "Add dynamo_Frontend_1?");
    let effects = drive(&mut app, &store, key('y'));
    assert!(matches!(&effects[..], [Effect::Scale(_)]));
}

#[test]
fn the_arbiter_is_polled_only_with_a_namespace_open_and_routes_the_change() {
    use dynamo_ctl::arbiter::Watcher;
    use dynamo_ctl::tui::app::{ArbiterStatus, Route};
    let (mut picker, _) = picker_app();
    assert!(!picker.wants_arbiter());
    assert!(picker.update(Action::ArbiterTick).is_empty());
    let d = demo_copy();
    let (mut app, store) = app_with_circus(d.path(), Some("dynamo"));
    assert!(app.wants_arbiter());
    let polls = app.update(Action::ArbiterTick);
    let [Effect::ArbiterPoll { ns, endpoint }] = &polls[..] else {
        panic!("{polls:?}");
    };
    assert_eq!(ns, "dynamo");
    assert!(
        app.update(Action::ArbiterTick).is_empty(),
        "one poll at a time"
    );
    // Offline: no write that nothing obeys. The add is refused with why and how, no
    // confirm opens and the file is untouched.
    app.update(Action::ArbiterSeen {
        ns: ns.clone(),
        endpoint: endpoint.clone(),
        result: Err("connection refused".into()),
    });
    let before = std::fs::read(d.path().join("dynamo.json")).unwrap();
    select_type(&mut app, "VllmWorker");
    drive(&mut app, &store, key('a'));
    drive(&mut app, &store, code(KeyCode::Enter));
    assert!(no_popups(&app), "{}", popups_debug(&app));
    let (sev, text) = status(&app);
    assert_eq!(sev, Severity::Error);
    assert!(
        text.contains("cannot add: circus is offline (connection refused): no process would start")
            && text.contains("--state-only"),
        "{text}"
    );
    assert_eq!(std::fs::read(d.path().join("dynamo.json")).unwrap(), before);
    // Online: the change goes through the arbiter.
    app.update(Action::ArbiterTick);
    app.update(Action::ArbiterSeen {
        ns: ns.clone(),
        endpoint: endpoint.clone(),
        result: Ok(vec![Watcher {
            name: "dynamo_vllmworker".into(),
            pids: vec![41],
        }]),
    });
    assert!(matches!(app.arbiter, ArbiterStatus::Online { .. }));
    drive(&mut app, &store, key('a'));
    drive(&mut app, &store, code(KeyCode::Enter));
    let effects = drive(&mut app, &store, key('y'));
    let [Effect::Scale(intent)] = &effects[..] else {
        panic!("{effects:?}")
    };
    assert_eq!(
        intent.route,
        Route::Arbiter {
            endpoint: endpoint.clone()
        }
    );
}

#[test]
fn a_stop_timeout_offers_a_kill_with_cancel_focused() {
    use dynamo_ctl::arbiter::Kill;
    use dynamo_ctl::tui::app::ScaleFailure;
    let (mut app, store, _d) = dashboard();
    select_type(&mut app, "VllmWorker");
    drive(&mut app, &store, key('r'));
    drive(&mut app, &store, code(KeyCode::Enter));
    let effects = drive(&mut app, &store, key('y'));
    let [Effect::Scale(intent)] = &effects[..] else {
        panic!()
    };
    app.update(Action::ScaleDone {
        intent: intent.clone(),
        result: Err(ScaleFailure {
            message: "dynamo_VllmWorker_1 is still running 600 s after SIGTERM".into(),
            moved: None,
            stop_timeout: true,
            done: 0,
        }),
    });
    let Confirm {
        question,
        ok_focused,
        kind,
        intent,
        ..
    } = confirm(&app);
    assert_eq!(*kind, ConfirmKind::Kill);
    assert!(!ok_focused);
    assert!(question.contains("Kill it (SIGKILL)?"), "{question}");
    assert_eq!(intent.opts.kill, Kill::Now);
    let effects = drive(&mut app, &store, key('y'));
    let [Effect::Scale(k)] = &effects[..] else {
        panic!()
    };
    assert_eq!(k.opts.kill, Kill::Now);
}

#[test]
fn a_failed_change_is_reported_in_red() {
    let (mut app, store, d) = dashboard();
    select_type(&mut app, "VllmWorker");
    drive(&mut app, &store, key('a'));
    drive(&mut app, &store, code(KeyCode::Enter));
    let effects = drive(&mut app, &store, key('y'));
    std::fs::remove_file(d.path().join("dynamo.json")).unwrap();
    let done = effects::run_blocking(&store, effects[0].clone());
    app.update(done);
    let (sev, text) = status(&app);
    assert_eq!(sev, Severity::Error);
    assert!(text.contains("could not add VllmWorker"), "{text}");
}

#[test]
fn status_messages_carry_the_injected_time() {
    let (mut app, store, _d) = dashboard();
    app.set_clock(now(), "07:08:09");
    drive(&mut app, &store, key('a'));
    drive(&mut app, &store, code(KeyCode::Enter));
    drive(&mut app, &store, key('n'));
    assert_eq!(app.status.as_ref().unwrap().at, "07:08:09");
}

#[test]
fn ages_are_computed_from_the_injected_now() {
    use dynamo_ctl::tui::app::age;
    use std::time::Duration;
    let n = now();
    assert_eq!(age(n, Some(n - Duration::from_secs(3))), "just now");
    assert_eq!(age(n, Some(n - Duration::from_secs(45))), "45s ago");
    assert_eq!(age(n, Some(n - Duration::from_secs(180))), "3m ago");
    assert_eq!(age(n, Some(n - Duration::from_secs(7200))), "2h ago");
    assert_eq!(age(n, Some(n + Duration::from_secs(5))), "just now");
    assert_eq!(age(n, None), "age unknown");
}

#[test]
fn namespace_flag_with_a_bad_name_stays_on_the_picker_and_says_why() {
    let d = demo_copy();
    for (ns, why) in [
        ("ghost", "cannot open ghost: there is no "),
        (
            "../x",
            "cannot open ../x: invalid namespace name \"../x\": it contains a path separator",
        ),
        ("broken", "cannot open broken: "),
    ] {
        let (app, _store) = app_on(d.path(), Some(ns), false);
        assert!(opened(&app).is_none(), "{ns}");
        assert_eq!(app.scope(), Scope::Picker, "{ns}");
        let (sev, text) = status(&app);
        assert_eq!(sev, Severity::Error, "{ns}");
        assert!(text.contains(why), "{ns}: {text}");
    }
    assert!(!d.path().join("ghost.json").exists());
}

// ------------------------------------------------------------------ operator keys

#[test]
fn esc_on_the_dashboard_goes_back_to_the_picker_on_that_namespace() {
    let (mut app, store, _d) = dashboard();
    drive(&mut app, &store, code(KeyCode::Esc));
    assert!(!app.quit);
    assert!(opened(&app).is_none());
    assert_eq!(app.scope(), Scope::Picker);
    assert_eq!(names(&app)[picker_sel(&app)], "dynamo");
    assert!(!app.wants_arbiter(), "no polls once the namespace is left");
    // Enter opens it again.
    drive(&mut app, &store, code(KeyCode::Enter));
    assert_eq!(app.scope(), Scope::Dashboard);
}

#[test]
fn s_scales_to_n_with_the_exact_plan() {
    let (mut app, store, d) = dashboard();
    select_type(&mut app, "VllmWorker");
    drive(&mut app, &store, key('s'));
    let ScalePrompt { ty, input } = scale_prompt(&app);
    assert_eq!(ty, "VllmWorker");
    assert_eq!(input.value(), "2", "pre-filled with the current count");
    assert!(input.is_selected(), "selected: typing replaces it");
    drive(&mut app, &store, code(KeyCode::Backspace));
    drive(&mut app, &store, key('x')); // not a digit: ignored
    drive(&mut app, &store, key('4'));
    drive(&mut app, &store, code(KeyCode::Enter));
    assert_eq!(
        confirm_question(&app),
        "Scale VllmWorker to 4: add dynamo_VllmWorker_2 on GPU 4, add dynamo_VllmWorker_3 on GPU 5?"
    );
    let effects = drive(&mut app, &store, key('y'));
    let [Effect::Scale(intent)] = &effects[..] else {
        panic!("{effects:?}")
    };
    assert_eq!(intent.plan.len(), 2);
    let done = effects::run_blocking(&store, effects[0].clone());
    drive(&mut app, &store, done);
    let (sev, text) = status(&app);
    assert_eq!(sev, Severity::Ok, "{text}");
    assert!(text.starts_with("VllmWorker now at 4: added dynamo_VllmWorker_2 on GPU 4; added dynamo_VllmWorker_3 on GPU 5"), "{text}");
    assert_eq!(current(&app).summary.running("VllmWorker"), 4);
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.path().join("dynamo.json")).unwrap()).unwrap();
    assert!(v["components"].get("dynamo_VllmWorker_3").is_some());
    // Down to 1: removals, Cancel focused; the same count says so and opens nothing.
    drive(&mut app, &store, key('s'));
    drive(&mut app, &store, code(KeyCode::Backspace));
    drive(&mut app, &store, key('1'));
    drive(&mut app, &store, code(KeyCode::Enter));
    let Confirm {
        ok_focused,
        question,
        ..
    } = confirm(&app);
    assert!(!ok_focused);
    assert!(question.starts_with("Scale VllmWorker to 1: remove dynamo_VllmWorker_3 and free GPU 5, remove dynamo_VllmWorker_2"), "{question}");
    drive(&mut app, &store, key('n'));
    // The same count, or more than the GPUs allow: the prompt stays open with the reason
    // under the input (not only in the footer), and Esc closes it.
    drive(&mut app, &store, key('s'));
    drive(&mut app, &store, code(KeyCode::Enter));
    assert_eq!(
        scale_prompt(&app).input.error(),
        Some("VllmWorker already runs 4")
    );
    drive(&mut app, &store, key('9'));
    drive(&mut app, &store, code(KeyCode::Enter));
    let why = scale_prompt(&app)
        .input
        .error()
        .unwrap_or_default()
        .to_string();
    assert!(why.contains("GPU"), "{why}");
    let text = tui_support::text(&tui_support::render(&app, 120, 40));
    assert!(
        text.contains(&why[..why.len().min(30)]),
        "shown inline: {text}"
    );
    drive(&mut app, &store, code(KeyCode::Esc));
    assert!(no_popups(&app));
}

#[test]
fn readonly_says_so_instead_of_doing_nothing() {
    let d = demo_copy();
    let (mut app, store) = app_on(d.path(), Some("dynamo"), true);
    for k in ['a', 'r', 's'] {
        app.status = None;
        let effects = drive(&mut app, &store, key(k));
        assert!(effects.is_empty() && no_popups(&app), "{k}");
        let (sev, text) = status(&app);
        assert_eq!(sev, Severity::Warn);
        assert!(
            text.starts_with("read-only mode (--readonly)"),
            "{k}: {text}"
        );
    }
}

#[test]
fn message_history_keeps_the_last_1000_with_time_and_severity() {
    let (mut app, store, _d) = dashboard();
    assert_eq!(dynamo_ctl::tui::app::HISTORY, 1000);
    for i in 0..1020 {
        app.set_clock(now(), format!("00:00:{:02}", i % 60));
        drive(&mut app, &store, key('p')); // pause / resume: one message each
    }
    assert_eq!(app.history.len(), dynamo_ctl::tui::app::HISTORY);
    assert_eq!(app.history.back().unwrap().text, "live updates resumed");
    assert_eq!(app.history.back().unwrap().at, "00:00:59");
    drive(&mut app, &store, key('M'));
    assert_eq!(app.scope(), Scope::Messages);
    let _ = render(&app, 80, 20);
    let at = |app: &App| messages(app).cursor.index();
    assert_eq!(at(&app), 999, "on the newest");
    drive(&mut app, &store, key('k'));
    assert_eq!(at(&app), 998, "k goes back from the newest");
    drive(&mut app, &store, key('G'));
    assert_eq!(at(&app), 999);
    drive(&mut app, &store, key('M'));
    assert!(no_popups(&app));
    // E opens the same events and messages.
    drive(&mut app, &store, key('E'));
    assert_eq!(app.scope(), Scope::Messages);
    drive(&mut app, &store, key('E'));
    assert!(no_popups(&app));
}

#[test]
fn the_event_log_filters_follows_the_newest_and_copies_the_selected_event() {
    let (mut app, store, _d) = dashboard();
    app.set_clock(now(), "10:00:00");
    app.say(
        Severity::Error,
        "metrics scrape http://127.0.0.1:1 failed: refused",
    );
    app.say(
        Severity::Ok,
        "metrics scrape http://127.0.0.1:1 answers again",
    );
    app.say(Severity::Info, "dynamo: 1 -> 2 live instances");
    drive(&mut app, &store, key(':'));
    for c in "events".chars() {
        drive(&mut app, &store, key(c));
    }
    drive(&mut app, &store, code(KeyCode::Enter));
    assert_eq!(app.scope(), Scope::Messages, "{}", popups_debug(&app));
    let t = text(&render(&app, 120, 30));
    insta::assert_snapshot!("event_log", t.clone());
    // Severity reads without colour: a symbol per event.
    assert!(
        t.contains("10:00:00 ✖ metrics scrape http://127.0.0.1:1 failed"),
        "{t}"
    );
    assert!(t.contains("10:00:00 ✔ metrics scrape"), "{t}");
    // The cursor is on the newest and stays there as events come.
    let newest = |app: &App| messages(app).cursor.index();
    let n = app.history.len();
    assert_eq!(newest(&app), n - 1);
    app.say(
        Severity::Warn,
        "dynamo: 2 -> 1 live instances; left: VllmWorker 11",
    );
    app.update(Action::Resize);
    assert_eq!(newest(&app), n, "followed the newest");
    // Up one: it stays on its event when more come.
    drive(&mut app, &store, key('k'));
    app.say(Severity::Info, "another");
    app.update(Action::Resize);
    assert_eq!(newest(&app), n - 1);
    // `/error` shows the errors only; `c` copies the selected one.
    drive(&mut app, &store, key('/'));
    for c in "error".chars() {
        drive(&mut app, &store, key(c));
    }
    drive(&mut app, &store, code(KeyCode::Enter));
    let t = text(&render(&app, 120, 30));
    assert!(t.contains("Events (1 of the last 1000"), "{t}");
    assert!(!t.contains("answers again"), "{t}");
    let e = drive(&mut app, &store, key('c'));
    assert_eq!(
        e,
        [Effect::Copy(
            "10:00:00 error metrics scrape http://127.0.0.1:1 failed: refused".into()
        )]
    );
    assert!(status(&app).1.starts_with("copied event: 10:00:00 error"));
    // Esc clears the filter, then closes.
    drive(&mut app, &store, code(KeyCode::Esc));
    assert_eq!(app.scope(), Scope::Messages);
    drive(&mut app, &store, code(KeyCode::Esc));
    assert!(no_popups(&app));
}

#[test]
fn c_copies_the_selection_in_every_list_and_view() {
    let (mut app, store, _d) = dashboard();
    select_type(&mut app, "VllmWorker");
    let e = drive(&mut app, &store, key('c'));
    assert_eq!(
        e,
        [Effect::Copy("dynamo_VllmWorker dynamo_VllmWorker_1".into())]
    );
    assert_eq!(
        status(&app),
        (
            Severity::Ok,
            "copied VllmWorker's watcher names: dynamo_VllmWorker dynamo_VllmWorker_1".into()
        )
    );
    // The type's instance table, and an entry.
    drive(&mut app, &store, code(KeyCode::Enter));
    assert_eq!(app.scope(), Scope::Instances);
    let e = drive(&mut app, &store, key('c'));
    assert_eq!(e, [Effect::Copy("dynamo_VllmWorker".into())]);
    drive(&mut app, &store, code(KeyCode::Enter));
    assert_eq!(app.scope(), Scope::Entry);
    let e = drive(&mut app, &store, key('c'));
    assert_eq!(e, [Effect::Copy("dynamo_VllmWorker".into())]);
    drive(&mut app, &store, code(KeyCode::Esc));
    drive(&mut app, &store, code(KeyCode::Esc));
    // Registrations: the instance id in hex, as `top` prints it.
    app.update(Action::InstancesChanged(Box::new(live(&[(
        "dynamo",
        "VllmWorker",
        "generate",
        0x694da207ac81b30e,
    )]))));
    drive(&mut app, &store, key('i'));
    let e = drive(&mut app, &store, key('c'));
    assert_eq!(e, [Effect::Copy("694da207ac81b30e".into())]);
    drive(&mut app, &store, code(KeyCode::Enter));
    let e = drive(&mut app, &store, key('c'));
    assert_eq!(e, [Effect::Copy("694da207ac81b30e".into())]);
    drive(&mut app, &store, code(KeyCode::Esc));
    drive(&mut app, &store, code(KeyCode::Esc));
    // The picker: the namespace.
    drive(&mut app, &store, key('n'));
    let e = drive(&mut app, &store, key('c'));
    assert!(
        matches!(&e[..], [Effect::Copy(n)] if !n.is_empty()),
        "{e:?}"
    );
}

#[test]
fn pause_holds_live_updates_and_ctrl_r_refreshes_once() {
    let (mut app, store, _d) = dashboard();
    drive(&mut app, &store, key('p'));
    assert!(app.paused);
    store
        .transact("dynamo", false, |s| scale::add(s, "VllmWorker"))
        .unwrap();
    assert!(drive(&mut app, &store, Action::FsChanged).is_empty());
    assert!(
        app.update(Action::ArbiterTick).is_empty(),
        "no polls while paused"
    );
    assert_eq!(current(&app).summary.running("VllmWorker"), 2);
    drive(&mut app, &store, ctrl('r'));
    assert_eq!(current(&app).summary.running("VllmWorker"), 3);
    drive(&mut app, &store, key('p'));
    assert!(!app.paused);
}

#[test]
fn enter_drills_into_instances_and_x_removes_that_very_instance() {
    let (mut app, store, d) = dashboard();
    select_type(&mut app, "VllmWorker");
    drive(&mut app, &store, code(KeyCode::Enter));
    assert_eq!(app.scope(), Scope::Instances);
    let i = instances(&app);
    assert_eq!(i.ty, "VllmWorker");
    assert_eq!(i.cursor.index(), 0);
    assert!(i.filter.text().is_empty());
    drive(&mut app, &store, key('j'));
    drive(&mut app, &store, key('j')); // stops at the last instance
    drive(&mut app, &store, key('k'));
    drive(&mut app, &store, code(KeyCode::Enter));
    let e = entry(&app);
    assert_eq!(e.name, "dynamo_VllmWorker");
    assert_eq!(e.scroll.offset(), 0);
    drive(&mut app, &store, code(KeyCode::Esc));
    assert_eq!(app.scope(), Scope::Instances);
    // x on the base entry: that one, not the highest-numbered one.
    drive(&mut app, &store, key('x'));
    assert_eq!(
        confirm_question(&app),
        "Remove dynamo_VllmWorker and free GPU 0? (it is the template: it stays, parked)"
    );
    let effects = drive(&mut app, &store, key('y'));
    let done = effects::run_blocking(&store, effects[0].clone());
    drive(&mut app, &store, done);
    assert_eq!(status(&app).0, Severity::Ok, "{}", status(&app).1);
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(d.path().join("dynamo.json")).unwrap()).unwrap();
    assert_eq!(
        v["components"]["dynamo_VllmWorker"]["lease"],
        serde_json::Value::Null
    );
    assert!(
        v["components"].get("dynamo_VllmWorker_1").is_some(),
        "_1 untouched"
    );
    // Esc Esc: the instances, then the dashboard; once more: the picker.
    while !no_popups(&app) {
        drive(&mut app, &store, code(KeyCode::Esc));
    }
    assert_eq!(app.scope(), Scope::Dashboard);
    drive(&mut app, &store, code(KeyCode::Esc));
    assert_eq!(app.scope(), Scope::Picker);
}

#[test]
fn x_is_read_only_too_and_a_parked_entry_has_nothing_to_remove() {
    let d = demo_copy();
    let (mut app, store) = app_on(d.path(), Some("dynamo"), true);
    select_type(&mut app, "VllmWorker");
    drive(&mut app, &store, code(KeyCode::Enter));
    drive(&mut app, &store, key('x'));
    assert!(
        status(&app).1.starts_with("read-only mode"),
        "{}",
        status(&app).1
    );
    assert_eq!(app.scope(), Scope::Instances);
}

#[test]
fn slash_filters_the_dashboard_rows() {
    let (mut app, store, _d) = dashboard();
    drive(&mut app, &store, key('/'));
    for c in "prefq".chars() {
        drive(&mut app, &store, key(c)); // q is text while typing
    }
    assert!(!app.quit);
    assert!(app.visible_types().is_empty());
    drive(&mut app, &store, code(KeyCode::Backspace));
    let tys: Vec<&str> = app.visible_types().iter().map(|t| t.ty.as_str()).collect();
    assert_eq!(tys, ["PrefillWorker"]);
    drive(&mut app, &store, code(KeyCode::Enter)); // keep the filter, stop typing
    drive(&mut app, &store, key('s'));
    assert_eq!(scale_prompt(&app).ty, "PrefillWorker");
    drive(&mut app, &store, code(KeyCode::Esc));
    // A watcher name matches too.
    drive(&mut app, &store, code(KeyCode::Esc)); // clears the kept filter
    assert_eq!(app.visible_types().len(), 5);
    assert_eq!(
        app.scope(),
        Scope::Dashboard,
        "the first Esc only clears the filter"
    );
    drive(&mut app, &store, key('/'));
    for c in "vllmworker_1".chars() {
        drive(&mut app, &store, key(c));
    }
    let tys: Vec<&str> = app.visible_types().iter().map(|t| t.ty.as_str()).collect();
    assert_eq!(tys, ["VllmWorker"]);
}

#[test]
fn the_command_bar_completes_and_runs_ns_scale_q_and_type_shortcuts() {
    let (mut app, store, _d) = dashboard();
    drive(&mut app, &store, key(':'));
    assert_eq!(app.scope(), Scope::Command);
    // A type shortcut: `:vllm` selects the VllmWorker row.
    for c in "vl".chars() {
        drive(&mut app, &store, key(c));
    }
    drive(&mut app, &store, code(KeyCode::Tab));
    assert_eq!(command_line(&app).0, "vllmworker ");
    drive(&mut app, &store, code(KeyCode::Enter));
    assert!(no_popups(&app));
    assert_eq!(app.selected_type().unwrap().ty, "VllmWorker");
    // Several completions: the common prefix and the choices.
    drive(&mut app, &store, key(':'));
    drive(&mut app, &store, key('p'));
    drive(&mut app, &store, code(KeyCode::Tab));
    let (line, hint) = command_line(&app);
    assert_eq!(line, "p");
    assert_eq!(hint.as_deref(), Some("processor  planner  prefillworker"));
    drive(&mut app, &store, code(KeyCode::Esc));
    // :scale TYPE N opens the plan's confirm.
    drive(&mut app, &store, key(':'));
    for c in "scale pre".chars() {
        drive(&mut app, &store, key(c));
    }
    drive(&mut app, &store, code(KeyCode::Tab));
    assert_eq!(command_line(&app).0, "scale PrefillWorker ");
    drive(&mut app, &store, key('3'));
    drive(&mut app, &store, code(KeyCode::Enter));
    assert!(
        confirm_question(&app).starts_with("Scale PrefillWorker to 3: add dynamo_PrefillWorker_2")
    );
    drive(&mut app, &store, key('n'));
    // :ns NAME opens another namespace; an unknown one says so.
    drive(&mut app, &store, key(':'));
    for c in "ns ghost".chars() {
        drive(&mut app, &store, key(c));
    }
    drive(&mut app, &store, code(KeyCode::Enter));
    assert_eq!(
        status(&app),
        (Severity::Error, "no namespace ghost".to_string())
    );
    drive(&mut app, &store, key(':'));
    for c in "ns ag".chars() {
        drive(&mut app, &store, key(c));
    }
    drive(&mut app, &store, code(KeyCode::Tab));
    drive(&mut app, &store, code(KeyCode::Enter));
    assert_eq!(current(&app).name, "agg");
    // :q quits.
    drive(&mut app, &store, key(':'));
    drive(&mut app, &store, key('q'));
    assert!(!app.quit, "q is text in the bar");
    drive(&mut app, &store, code(KeyCode::Enter));
    assert!(app.quit);
}

#[test]
fn picker_g_big_g_and_pages() {
    let (mut app, store) = picker_app();
    drive(&mut app, &store, key('G'));
    assert_eq!(names(&app)[picker_sel(&app)], "full");
    drive(&mut app, &store, key('g'));
    assert_eq!(picker_sel(&app), 0);
    drive(&mut app, &store, code(KeyCode::PageDown));
    assert_eq!(picker_sel(&app), 3, "a page down stops at the last");
    drive(&mut app, &store, code(KeyCode::PageUp));
    assert_eq!(picker_sel(&app), 0);
}

// ------------------------------------------------------------------ discovery

#[test]
fn discovery_merges_namespaces_into_the_picker_and_opens_a_discovery_only_one() {
    let (mut app, store) = picker_app();
    app.update(Action::InstancesChanged(Box::new(live(&[
        ("dynamo", "VllmWorker", "generate", 0x11),
        ("dyn16", "backend", "generate", 0x24f4),
        ("dyn16", "backend", "generate", 0x24f5),
    ]))));
    assert_eq!(names(&app), ["agg", "broken", "dyn16", "dynamo", "full"]);
    let dyn16 = app.visible_namespaces()[2].clone();
    assert!(dyn16.discovery_only);
    assert_eq!(dyn16.sources, ["etcd"]);
    assert_eq!(dyn16.live, Some(2));
    let dynamo = app.visible_namespaces()[3].clone();
    assert_eq!(dynamo.sources, ["state", "etcd"]);
    assert_eq!(dynamo.live, Some(1));
    // It opens: live only, and scaling says why there is nothing to scale.
    set_picker(&mut app, 2);
    drive(&mut app, &store, code(KeyCode::Enter));
    let cur = current(&app);
    assert!(cur.discovery_only);
    assert_eq!(cur.name, "dyn16");
    assert!(
        cur.json
            .iter()
            .any(|l| l.contains("\"instance_id_hex\": \"24f4\""))
    );
    assert!(!app.wants_arbiter());
    for k in ['a', 'r', 's'] {
        let effects = drive(&mut app, &store, key(k));
        assert!(effects.is_empty() && no_popups(&app));
        assert!(
            status(&app).1.starts_with("nothing to scale in dyn16"),
            "{}",
            status(&app).1
        );
    }
    // A worker leaving updates the open namespace.
    app.update(Action::InstancesChanged(Box::new(live(&[(
        "dyn16", "backend", "generate", 0x24f4,
    )]))));
    let cur = current(&app);
    assert!(!cur.json.iter().any(|l| l.contains("24f5")));
    // Enter on a component opens its registered instances (it did nothing).
    drive(&mut app, &store, code(KeyCode::Enter));
    assert_eq!(top_scope(&app), Some(Scope::Live));
    assert_eq!(registrations(&app).filter.text(), "backend");
    let t = tui_support::text(&tui_support::render(&app, 120, 30));
    assert!(t.contains("24f4"), "{t}");
}

#[test]
fn with_only_infrastructure_nothing_is_preselected() {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(
        d.path().join("fe.json"),
        r#"{"namespace": "fe", "components": {"fe_Frontend": {"watcher_name": "fe_Frontend", "cmd": "python3 -m frontend", "resources": {}}}}"#,
    )
    .unwrap();
    let (mut app, store) = app_on(d.path(), Some("fe"), false);
    drive(&mut app, &store, key('a'));
    assert_eq!(chooser(&app).selected, None);
    drive(&mut app, &store, code(KeyCode::Enter));
    assert_eq!(top_scope(&app), Some(Scope::Choose), "Enter picks nothing");
    assert!(status(&app).1.contains("pick a type first"));
    drive(&mut app, &store, key('j'));
    drive(&mut app, &store, code(KeyCode::Enter));
    assert_eq!(
        confirm_question(&app),
        "Frontend is not a worker. Run another Frontend?"
    );
}

// ------------------------------------------------------- registered instances (`i`)

fn at_secs(app: &mut App, secs: u64) {
    app.set_clock(now() + Duration::from_secs(secs), CLOCK);
}

fn live_idents(app: &App) -> Vec<(u64, bool)> {
    dynamo_ctl::tui::panels::registrations::rows(app, &Default::default())
        .iter()
        .map(|r| (r.inst.instance_id, r.leaving))
        .collect()
}

#[test]
fn i_shows_registrations_new_ones_flash_and_vanished_ones_leave_for_a_while() {
    let (mut app, store, _d) = dashboard();
    app.update(Action::InstancesChanged(Box::new(live(&[(
        "dynamo",
        "VllmWorker",
        "generate",
        0x11,
    )]))));
    // What is there at the first answer is not new.
    assert!(app.track.flashing.is_empty());
    assert_eq!(app.next_wake(), None, "nothing to time: no timer");
    drive(&mut app, &store, key('i'));
    assert_eq!(app.scope(), Scope::Live);
    assert_eq!(live_idents(&app), [(0x11, false)]);
    at_secs(&mut app, 1);
    app.update(Action::InstancesChanged(Box::new(live(&[
        ("dynamo", "VllmWorker", "generate", 0x11),
        ("dynamo", "PrefillWorker", "mock", 0x12),
        ("other", "VllmWorker", "generate", 0x13),
    ]))));
    assert_eq!(app.track.flashing.len(), 2);
    assert_eq!(
        app.next_wake(),
        Some(now() + Duration::from_secs(1) + dynamo_ctl::tui::live::FLASH)
    );
    // Only the open namespace, sorted by component.
    assert_eq!(live_idents(&app), [(0x12, false), (0x11, false)]);
    at_secs(&mut app, 2);
    app.update(Action::InstancesChanged(Box::new(live(&[(
        "dynamo",
        "PrefillWorker",
        "mock",
        0x12,
    )]))));
    assert_eq!(live_idents(&app), [(0x12, false), (0x11, true)]);
    let text = tui_support::text(&tui_support::render(&app, 140, 30));
    assert!(text.contains("○ leaving"), "{text}");
    assert!(text.contains("★ new"), "{text}");
    assert!(text.contains("gone just now"), "{text}");
    // The flash ends at 4 s, the leaving at 7 s: each is one timer, then none.
    at_secs(&mut app, 4);
    app.update(Action::LiveTick);
    assert!(!app.unchanged);
    assert!(app.track.flashing.is_empty());
    assert_eq!(live_idents(&app), [(0x12, false), (0x11, true)]);
    at_secs(&mut app, 7);
    app.update(Action::LiveTick);
    assert_eq!(live_idents(&app), [(0x12, false)]);
    assert_eq!(app.next_wake(), None);
    app.update(Action::LiveTick);
    assert!(app.unchanged, "a tick that changes nothing draws nothing");
    // On the dashboard a flash is not drawn: its end draws no frame either.
    drive(&mut app, &store, code(KeyCode::Esc));
    app.update(Action::InstancesChanged(Box::new(live(&[(
        "dynamo",
        "VllmWorker",
        "generate",
        0x14,
    )]))));
    at_secs(&mut app, 20);
    app.update(Action::LiveTick);
    assert!(app.track.flashing.is_empty());
    assert!(app.unchanged);
}

#[test]
fn slash_filters_the_registrations_and_enter_shows_one_as_stored() {
    let (mut app, store, _d) = dashboard();
    app.update(Action::InstancesChanged(Box::new(live(&[
        ("dynamo", "VllmWorker", "generate", 0x11),
        ("dynamo", "PrefillWorker", "mock", 0x12),
    ]))));
    drive(&mut app, &store, key('i'));
    drive(&mut app, &store, key('/'));
    for c in "mock".chars() {
        drive(&mut app, &store, key(c));
    }
    drive(&mut app, &store, code(KeyCode::Enter));
    let filter = &registrations(&app).filter;
    assert_eq!(filter.text(), "mock");
    assert_eq!(
        dynamo_ctl::tui::panels::registrations::rows(&app, filter).len(),
        1
    );
    drive(&mut app, &store, code(KeyCode::Enter));
    assert_eq!(app.scope(), Scope::LiveEntry);
    let text = tui_support::text(&tui_support::render(&app, 120, 30));
    assert!(
        text.contains("instances/dynamo/PrefillWorker/mock:12"),
        "{text}"
    );
    assert!(text.contains("12 (18)"), "{text}");
    // Esc: back to the list, then the filter clears, then the list closes.
    drive(&mut app, &store, code(KeyCode::Esc));
    assert_eq!(app.scope(), Scope::Live);
    drive(&mut app, &store, code(KeyCode::Esc));
    assert!(registrations(&app).filter.text().is_empty());
    drive(&mut app, &store, code(KeyCode::Esc));
    assert_eq!(app.scope(), Scope::Dashboard);
}

#[test]
fn slash_filters_a_types_instances_and_x_removes_the_filtered_one() {
    let (mut app, store, _d) = dashboard();
    select_type(&mut app, "VllmWorker");
    drive(&mut app, &store, code(KeyCode::Enter));
    let Instances { ty, filter, .. } = instances(&app);
    let all = dynamo_ctl::tui::panels::instances::rows(&app, ty, filter).len();
    assert!(all >= 2);
    drive(&mut app, &store, key('/'));
    drive(&mut app, &store, key('_'));
    drive(&mut app, &store, key('1'));
    drive(&mut app, &store, code(KeyCode::Enter));
    let Instances { ty, filter, .. } = instances(&app);
    let shown: Vec<String> = dynamo_ctl::tui::panels::instances::rows(&app, ty, filter)
        .iter()
        .map(|(i, _)| i.name.clone())
        .collect();
    assert_eq!(shown, ["dynamo_VllmWorker_1"]);
    drive(&mut app, &store, key('x'));
    let intent = &confirm(&app).intent;
    assert_eq!(intent.target.as_deref(), Some("dynamo_VllmWorker_1"));
}

/// A confirmed change's ScaleDone as if the arbiter had started/stopped the processes.
fn done_through_arbiter(
    app: &mut App,
    store: &dynamo_ctl::state::Store,
    effects: Vec<Effect>,
) -> Action {
    use dynamo_ctl::arbiter::Process;
    let Action::ScaleDone { intent, result } = effects::run_blocking(store, effects[0].clone())
    else {
        panic!()
    };
    let (mut steps, doc, m) = result.expect("the change went through");
    for s in &mut steps {
        s.process = match s.change {
            dynamo_ctl::state::Change::Added { .. } => Process::Started,
            _ => Process::Stopped,
        };
    }
    let _ = app;
    Action::ScaleDone {
        intent,
        result: Ok((steps, doc, m)),
    }
}

#[test]
fn an_add_is_followed_until_discovery_registers_the_new_worker() {
    let (mut app, store, _d) = dashboard();
    app.update(Action::InstancesChanged(Box::new(live(&[(
        "dynamo",
        "VllmWorker",
        "generate",
        0x11,
    )]))));
    select_type(&mut app, "VllmWorker");
    drive(&mut app, &store, key('a'));
    drive(&mut app, &store, code(KeyCode::Enter));
    let effects = drive(&mut app, &store, key('y'));
    let Effect::Scale(intent) = &effects[0] else {
        panic!()
    };
    assert_eq!(intent.live_before, Some(1));
    let done = done_through_arbiter(&mut app, &store, effects);
    at_secs(&mut app, 1);
    app.update(done);
    let f = app.following().expect("following the registration").clone();
    assert_eq!((f.target, f.adding), (2, true));
    assert!(
        status(&app).1.contains(
            "waiting for discovery to register VllmWorker on endpoint generate (1 registered now)"
        ),
        "{}",
        status(&app).1
    );
    // Another endpoint of the same component is not the registration awaited.
    at_secs(&mut app, 2);
    app.update(Action::InstancesChanged(Box::new(live(&[
        ("dynamo", "VllmWorker", "generate", 0x11),
        ("dynamo", "VllmWorker", "clear_kv_blocks", 0x12),
    ]))));
    assert!(app.following().is_some());
    at_secs(&mut app, 4);
    app.update(Action::InstancesChanged(Box::new(live(&[
        ("dynamo", "VllmWorker", "generate", 0x11),
        ("dynamo", "VllmWorker", "generate", 0x12),
    ]))));
    assert!(app.following().is_none());
    let (sev, text) = status(&app);
    assert_eq!(sev, Severity::Ok);
    assert_eq!(
        text,
        "VllmWorker on endpoint generate: 2 registered in discovery, after 3.0 s (1 before)"
    );
}

#[test]
fn a_remove_whose_registration_never_goes_times_out_with_a_warning() {
    let (mut app, store, _d) = dashboard();
    app.update(Action::InstancesChanged(Box::new(live(&[
        ("dynamo", "VllmWorker", "generate", 0x11),
        ("dynamo", "VllmWorker", "generate", 0x12),
    ]))));
    select_type(&mut app, "VllmWorker");
    drive(&mut app, &store, key('r'));
    drive(&mut app, &store, code(KeyCode::Enter));
    let effects = drive(&mut app, &store, key('y'));
    let done = done_through_arbiter(&mut app, &store, effects);
    app.update(done);
    let f = app.following().expect("following").clone();
    assert_eq!((f.target, f.adding), (1, false));
    assert_eq!(app.next_wake(), Some(f.deadline));
    app.set_clock(f.deadline, CLOCK);
    app.update(Action::LiveTick);
    assert!(app.following().is_none());
    let (sev, text) = status(&app);
    assert_eq!(sev, Severity::Warn);
    assert!(
        text.starts_with("VllmWorker on endpoint generate still registered in discovery after 120 s: 2 before, 2 now"),
        "{text}"
    );
}

#[test]
fn a_file_only_change_or_no_discovery_is_not_followed() {
    let (mut app, store, _d) = dashboard();
    select_type(&mut app, "VllmWorker");
    drive(&mut app, &store, key('a'));
    drive(&mut app, &store, code(KeyCode::Enter));
    let effects = drive(&mut app, &store, key('y'));
    // No source answered: nothing to follow.
    let done = done_through_arbiter(&mut app, &store, effects);
    app.update(done);
    assert!(app.following().is_none());
    // --demo: the file only, no process started: nothing to follow either.
    app.update(Action::InstancesChanged(Box::new(live(&[(
        "dynamo",
        "VllmWorker",
        "generate",
        0x11,
    )]))));
    drive(&mut app, &store, key('a'));
    drive(&mut app, &store, code(KeyCode::Enter));
    let effects = drive(&mut app, &store, key('y'));
    let done = effects::run_blocking(&store, effects[0].clone());
    app.update(done);
    assert!(app.following().is_none());
}

#[test]
fn dash_n_of_a_namespace_only_discovery_knows_waits_for_discovery_then_opens() {
    let dir = fixture("demo");
    let store = dynamo_ctl::state::Store::new(&dir);
    for late in [false, true] {
        let mut app = App::new(dir.clone(), false, Some("dyn16".into()));
        app.set_clock(now(), CLOCK);
        app.awaiting_discovery = true;
        let start = app.start();
        let snap = live(&[("dyn16", "backend", "generate", 0x24f4)]);
        let mut queue: Vec<Effect> = Vec::new();
        if late {
            // Discovery answers before the state directory was read.
            queue.extend(app.update(Action::InstancesChanged(Box::new(snap.clone()))));
        }
        for e in start {
            queue.extend(app.update(effects::run_blocking(&store, e)));
        }
        if !late {
            assert!(opened(&app).is_none());
            assert!(
                status(&app).1.contains("waiting for discovery"),
                "{}",
                status(&app).1
            );
            queue.extend(app.update(Action::InstancesChanged(Box::new(snap.clone()))));
        }
        while let Some(e) = queue.pop() {
            queue.extend(app.update(effects::run_blocking(&store, e)));
        }
        let cur = current(&app);
        assert!(cur.discovery_only && cur.name == "dyn16");
    }
    // Discovery answers without it: then it is an error, as without discovery.
    let mut app = App::new(dir.clone(), false, Some("nothere".into()));
    app.set_clock(now(), CLOCK);
    app.awaiting_discovery = true;
    let mut queue = app.start();
    queue.extend(app.update(Action::InstancesChanged(Box::new(live(&[])))));
    while let Some(e) = queue.pop() {
        queue.extend(app.update(effects::run_blocking(&store, e)));
    }
    assert!(opened(&app).is_none());
    assert!(
        status(&app).1.starts_with("cannot open nothere"),
        "{}",
        status(&app).1
    );
}

// ------------------------------------------------------------------ load (metrics)

#[test]
fn metrics_are_polled_only_with_a_source_and_a_namespace_open() {
    // No source: a tick asks nothing.
    let (mut app, store, _d) = dashboard();
    assert!(!app.wants_metrics());
    assert!(drive(&mut app, &store, Action::MetricsTick).is_empty());
    // A source, but only the picker: nothing either.
    let (mut picker, store2) = picker_app();
    picker.load.on = true;
    assert!(!picker.wants_metrics());
    assert!(drive(&mut picker, &store2, Action::MetricsTick).is_empty());
    // A source and a namespace: one poll at a time.
    app.load.on = true;
    let e = drive(&mut app, &store, Action::MetricsTick);
    assert_eq!(
        e,
        [Effect::MetricsPoll {
            ns: "dynamo".into()
        }]
    );
    // The header now says "asking…": that is drawn (a hanging source showed "waiting for
    // the first round" for the whole round).
    assert!(!app.unchanged, "a tick that starts a round draws");
    let t = tui_support::text(&tui_support::render(&app, 120, 40));
    assert!(t.contains("metrics asking…"), "{t}");
    assert!(
        drive(&mut app, &store, Action::MetricsTick).is_empty(),
        "one in flight"
    );
    assert!(app.unchanged, "a tick that starts nothing draws nothing");
    let done = effects::run_blocking(&store, e[0].clone());
    app.update(done);
    assert!(!app.load.polling);
    assert!(app.load.last.is_some());
    // Paused: no polls.
    drive(&mut app, &store, key('p'));
    assert!(drive(&mut app, &store, Action::MetricsTick).is_empty());
}

#[test]
fn a_round_for_another_namespace_is_dropped_and_switching_resets_history() {
    use dynamo_ctl::metrics::{ComponentLoad, Metrics};
    let (mut app, _store, _d) = dashboard();
    app.load.on = true;
    let round = |ns: &str, rate: f64| Metrics {
        sources: vec![],
        components: vec![ComponentLoad {
            namespace: ns.into(),
            component: "VllmWorker".into(),
            instances: 1,
            requests_per_s: Some(rate),
            inflight: None,
            p50_seconds: None,
            p95_seconds: None,
            errors_per_s: None,
            kv_cache_usage: None,
        }],
        instances: vec![],
        frontend: None,
        prefill_queue: None,
        prefill_queues: vec![],
        taken_at: now(),
        window_seconds: None,
    };
    app.update(Action::MetricsSeen {
        ns: "dynamo".into(),
        metrics: Box::new(round("dynamo", 3.0)),
    });
    app.update(Action::MetricsSeen {
        ns: "dynamo".into(),
        metrics: Box::new(round("dynamo", 5.0)),
    });
    assert_eq!(app.load.rates("vllmworker"), [3.0, 5.0]);
    // An answer for a namespace left meanwhile changes nothing.
    app.update(Action::MetricsSeen {
        ns: "agg".into(),
        metrics: Box::new(round("agg", 9.0)),
    });
    assert!(app.unchanged);
    assert_eq!(app.load.rates("VllmWorker"), [3.0, 5.0]);
    assert_eq!(
        app.load
            .component("dynamo", "vllmworker")
            .and_then(|c| c.requests_per_s),
        Some(5.0)
    );
    // History older than 15 minutes goes.
    let mut late = round("dynamo", 7.0);
    late.taken_at = now() + std::time::Duration::from_secs(16 * 60);
    app.update(Action::MetricsSeen {
        ns: "dynamo".into(),
        metrics: Box::new(late),
    });
    assert_eq!(app.load.rates("VllmWorker"), [7.0]);
}

#[test]
fn m_opens_the_load_view_and_asks_prometheus_for_history() {
    let (mut app, store, _d) = dashboard();
    select_type(&mut app, "VllmWorker");
    // Without Prometheus: the view of this session's numbers, no request.
    app.load.on = true;
    assert!(drive(&mut app, &store, key('m')).is_empty());
    assert_eq!(app.scope(), Scope::Metrics);
    drive(&mut app, &store, code(KeyCode::Esc));
    assert_eq!(app.scope(), Scope::Dashboard);
    app.load.prometheus = true;
    let e = drive(&mut app, &store, key('m'));
    assert_eq!(
        e,
        [Effect::MetricsHistory {
            ns: "dynamo".into(),
            component: "VllmWorker".into()
        }]
    );
    app.update(Action::MetricsHistory {
        ns: "dynamo".into(),
        component: "VllmWorker".into(),
        points: Some(vec![(1.0, 2.0), (2.0, 4.0)]),
    });
    assert_eq!(
        app.load.prom_history,
        Some(("VllmWorker".into(), vec![(1.0, 2.0), (2.0, 4.0)]))
    );
    let text = tui_support::text(&tui_support::render(&app, 120, 40));
    assert!(
        text.contains("(Prometheus, 2 points over 15 min)"),
        "{text}"
    );
    // `m` again closes it.
    drive(&mut app, &store, key('m'));
    assert_eq!(app.scope(), Scope::Dashboard);
}

#[test]
fn i_with_no_discovery_source_answering_says_so() {
    let (mut app, store, _d) = dashboard();
    // Sources on (defaults) but none answered: an empty view whose sources all failed.
    let mut snap = live(&[]);
    snap.sources[0].status = dynamo_ctl::discovery::Status::Error;
    app.update(Action::InstancesChanged(Box::new(snap)));
    drive(&mut app, &store, key('i'));
    assert!(
        status(&app).1.starts_with("no discovery source answers"),
        "{}",
        status(&app).1
    );
    let text = tui_support::text(&tui_support::render(&app, 120, 30));
    assert!(text.contains("no discovery source answers"), "{text}");
    assert!(!text.contains("nothing of dynamo is registered"), "{text}");
}

// ------------------------------------------------------------------ many vanishing

/// `n` registrations of `dynamo` (VllmWorker on generate), as etcd would hold them.
fn many(n: u64) -> dynamo_ctl::discovery::Snapshot {
    let mut s = live(&[]);
    s.instances = (0..n)
        .map(|i| {
            let id = 0x694d_a207_0000_0000 + i;
            let key = format!("v1/instances/dynamo/VllmWorker/generate/{id:x}");
            std::sync::Arc::new(
                dynamo_ctl::discovery::parse::etcd_entry(
                    key.as_bytes(),
                    br#"{"type":"Endpoint","transport":{"tcp":"127.0.0.1:1/x"}}"#,
                )
                .unwrap(),
            )
        })
        .collect();
    s
}

/// The same instances with what changed since the view's previous snapshot, as the live
/// view sends them.
fn with_changes(
    mut s: dynamo_ctl::discovery::Snapshot,
    seq: u64,
    added: &dynamo_ctl::discovery::Snapshot,
    removed: &dynamo_ctl::discovery::Snapshot,
) -> Box<dynamo_ctl::discovery::Snapshot> {
    s.changes = Some(std::sync::Arc::new(dynamo_ctl::discovery::Changes {
        view: 77,
        seq,
        added: added.instances.iter().map(|i| i.ident()).collect(),
        removed: removed.instances.clone(),
    }));
    Box::new(s)
}

/// 100,000 registrations vanishing at once (etcd down, a prefix deleted, file-store
/// entries expiring): linear work, not a search per vanished instance (that took minutes).
/// Both ways in: snapshots with the live view's changes, and bare ones compared whole.
/// No timing assertion: a thread and a generous deadline, so a quadratic tracker fails
/// instead of hanging the suite.
#[test]
fn a_hundred_thousand_registrations_vanishing_at_once_are_taken_in_linear_time() {
    const N: u64 = 100_000;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let all = many(N);
        let none = live(&[]);
        let (mut app, store, _d) = dashboard();
        // Changes from the live view: O(changes).
        app.update(Action::InstancesChanged(with_changes(
            all.clone(),
            1,
            &none,
            &none,
        )));
        app.update(Action::InstancesChanged(with_changes(
            none.clone(),
            2,
            &none,
            &all,
        )));
        assert_eq!(app.track.leaving.len(), N as usize);
        assert!(app.track.first_seen.is_empty());
        // Keys and frames while they leave: each row's age is a lookup.
        drive(&mut app, &store, key('i'));
        drive(&mut app, &store, key('j'));
        let text = tui_support::text(&tui_support::render(&app, 140, 40));
        assert!(text.contains("○ leaving"), "{text}");
        assert!(text.contains("gone just now"), "{text}");
        // Back at once: the leavers go in one pass.
        app.update(Action::InstancesChanged(with_changes(
            all.clone(),
            3,
            &all,
            &none,
        )));
        assert!(app.track.leaving.is_empty());
        assert_eq!(app.track.flashing.len(), N as usize);
        // Bare snapshots (no changes): compared whole, with hash sets.
        app.update(Action::InstancesChanged(Box::new(none.clone())));
        assert_eq!(app.track.leaving.len(), N as usize);
        assert!(app.track.flashing.is_empty());
        app.update(Action::InstancesChanged(Box::new(all.clone())));
        assert!(app.track.leaving.is_empty());
        app.update(Action::InstancesChanged(Box::new(none)));
        // Their time over, one tick drops them all.
        app.set_clock(now() + Duration::from_secs(60), "12:01:00");
        app.update(Action::LiveTick);
        assert!(app.track.leaving.is_empty());
        assert_eq!(app.next_wake(), None);
        tx.send(()).unwrap();
    });
    rx.recv_timeout(Duration::from_secs(300))
        .expect("100,000 vanishing registrations taken within 5 minutes");
}

/// The add chooser marks the types that cannot be added now (no free GPU in `full`)
/// before one is picked; a type without GPUs stays open to add.
#[test]
fn the_add_chooser_marks_types_without_a_free_gpu() {
    let d = demo_copy();
    let (mut app, store) = app_on(d.path(), Some("full"), false);
    select_type(&mut app, "VllmWorker");
    drive(&mut app, &store, key('a'));
    let c = chooser(&app);
    let of = |ty: &str| {
        let i = c.types.iter().position(|t| t == ty).unwrap();
        c.blocked[i].clone()
    };
    assert_eq!(of("VllmWorker").as_deref(), Some("no free GPU"));
    assert_eq!(of("PrefillWorker").as_deref(), Some("no free GPU"));
    assert_eq!(of("Frontend"), None);
    let text = tui_support::text(&tui_support::render(&app, 120, 40));
    assert!(text.contains("✗ no free GPU"), "{text}");
}

/// A metrics source that fails is said with its URL and why (footer and `M`), once per
/// change of health, and said again when it answers again.
#[test]
fn a_metrics_source_failing_and_recovering_is_said_with_its_url_and_why() {
    use dynamo_ctl::metrics::{Metrics, SourceKind, SourceStatus, Status};
    let (mut app, _store, _d) = dashboard();
    app.load.on = true;
    let round = |scrape_error: Option<&str>| Metrics {
        sources: vec![
            SourceStatus {
                kind: SourceKind::Prometheus,
                location: "http://127.0.0.1:9090".into(),
                status: Status::Ok,
                error: None,
                health: None,
                health_endpoints: None,
            },
            SourceStatus {
                kind: SourceKind::Scrape,
                location: "http://127.0.0.1:8081/metrics".into(),
                status: if scrape_error.is_some() {
                    Status::Error
                } else {
                    Status::Ok
                },
                error: scrape_error.map(str::to_string),
                health: None,
                health_endpoints: None,
            },
        ],
        components: vec![],
        instances: vec![],
        frontend: None,
        prefill_queue: None,
        prefill_queues: vec![],
        taken_at: now(),
        window_seconds: None,
    };
    let seen = |app: &mut App, m: Metrics| {
        app.update(Action::MetricsSeen {
            ns: "dynamo".into(),
            metrics: Box::new(m),
        });
    };
    seen(&mut app, round(None));
    let said = app.history.len();
    seen(&mut app, round(Some("connection refused")));
    let (sev, text) = status(&app);
    assert_eq!(sev, Severity::Error);
    assert_eq!(
        text,
        "metrics scrape http://127.0.0.1:8081/metrics failed: connection refused"
    );
    assert_eq!(app.history.len(), said + 1);
    // Still failing: not said again.
    seen(&mut app, round(Some("connection refused")));
    assert_eq!(app.history.len(), said + 1);
    // On the header line too, with the URL and why.
    let t = tui_support::text(&tui_support::render(&app, 200, 40));
    assert!(
        t.contains("✗ metrics scrape http://127.0.0.1:8081/metrics: connection refused"),
        "{t}"
    );
    seen(&mut app, round(None));
    let (sev, text) = status(&app);
    assert_eq!(sev, Severity::Ok);
    assert_eq!(
        text,
        "metrics scrape http://127.0.0.1:8081/metrics answers again"
    );
}

/// Circus and discovery changing health are said with where and why, and so is the open
/// namespace's live count when instances come and go.
#[test]
fn circus_and_discovery_health_and_the_live_count_are_said_when_they_change() {
    use dynamo_ctl::discovery::Status as DStatus;
    let d = demo_copy();
    let (mut app, _store) = app_with_circus(d.path(), Some("dynamo"));
    let polls = app.update(Action::ArbiterTick);
    let [Effect::ArbiterPoll { ns, endpoint }] = &polls[..] else {
        panic!("{polls:?}");
    };
    app.update(Action::ArbiterSeen {
        ns: ns.clone(),
        endpoint: endpoint.clone(),
        result: Err("Connection refused (os error 111)".into()),
    });
    assert_eq!(
        status(&app),
        (
            Severity::Error,
            format!("circus {endpoint} is offline: Connection refused (os error 111)")
        )
    );
    app.update(Action::ArbiterTick);
    app.update(Action::ArbiterSeen {
        ns: ns.clone(),
        endpoint: endpoint.clone(),
        result: Ok(vec![]),
    });
    assert_eq!(
        status(&app),
        (Severity::Ok, format!("circus {endpoint} answers again"))
    );
    // Discovery: two live, one leaves, then etcd fails, then answers again.
    let two = live(&[
        ("dynamo", "VllmWorker", "generate", 0x11),
        ("dynamo", "VllmWorker", "generate", 0x12),
    ]);
    app.update(Action::InstancesChanged(Box::new(two)));
    let one = live(&[("dynamo", "VllmWorker", "generate", 0x11)]);
    app.update(Action::InstancesChanged(Box::new(one.clone())));
    let (sev, text) = status(&app);
    assert_eq!(sev, Severity::Warn);
    assert!(text.starts_with("dynamo: 2 -> 1 live instances"), "{text}");
    let mut down = one.clone();
    down.sources[0].status = DStatus::Error;
    down.sources[0].error = Some("connection refused".into());
    app.update(Action::InstancesChanged(Box::new(down)));
    assert_eq!(
        status(&app),
        (
            Severity::Error,
            "discovery etcd http://127.0.0.1:2379 failed: connection refused".to_string()
        )
    );
    app.update(Action::InstancesChanged(Box::new(one)));
    assert_eq!(
        status(&app),
        (
            Severity::Ok,
            "discovery etcd http://127.0.0.1:2379 answers again".to_string()
        )
    );
}

/// Discovery answering while the namespace asked for is still being read starts no second
/// read of it (a big state file parsed twice at once is twice its memory): the read under
/// way is answered with the snapshot in hand.
#[test]
fn discovery_answering_during_the_first_read_starts_no_second_one() {
    let dir = fixture("demo");
    let store = dynamo_ctl::state::Store::new(&dir);
    let mut app = App::new(dir.clone(), false, Some("dynamo".into()));
    app.set_clock(now(), CLOCK);
    app.awaiting_discovery = true;
    let start = app.start();
    assert_eq!(start.len(), 1);
    let more = app.update(Action::InstancesChanged(Box::new(live(&[(
        "other", "backend", "generate", 0x24f4,
    )]))));
    assert!(
        !more.iter().any(|e| matches!(e, Effect::Refresh { .. })),
        "{more:?}"
    );
    for e in start {
        app.update(effects::run_blocking(&store, e));
    }
    assert_eq!(current(&app).name, "dynamo");
}

#[test]
fn enter_again_while_a_namespace_opens_reads_it_once() {
    let d = tui_support::demo_copy();
    let store = dynamo_ctl::state::Store::new(d.path());
    let (mut app, _) = app_on(d.path(), None, false);
    let pos = app
        .visible_namespaces()
        .iter()
        .position(|n| n.name == "dynamo")
        .unwrap();
    set_picker(&mut app, pos);
    let first = app.update(code(KeyCode::Enter));
    assert!(
        matches!(&first[..], [Effect::Refresh { ns: Some(n) }] if n == "dynamo"),
        "{first:?}"
    );
    // The file is still being read: a second Enter starts no second read.
    assert!(app.update(code(KeyCode::Enter)).is_empty());
    let opening = app
        .history
        .iter()
        .filter(|s| s.text == "opening dynamo…")
        .count();
    assert_eq!(opening, 1);
    let a = effects::run_blocking(&store, first[0].clone());
    app.update(a);
    assert_eq!(current(&app).name, "dynamo");
}

#[test]
fn l_under_demo_says_the_demo_has_no_logs_and_asks_no_circus() {
    let d = demo_copy();
    let store = dynamo_ctl::state::Store::new(d.path());
    let mut app = App::new(d.path().to_path_buf(), false, Some("dynamo".into()))
        .with_arbiter(Some("--demo"), Default::default());
    app.set_clock(now(), CLOCK);
    for e in app.start() {
        let a = effects::run_blocking(&store, e);
        let _ = app.update(a);
    }
    select_type(&mut app, "VllmWorker");
    let effects = app.update(key('l'));
    assert!(
        !effects.iter().any(|e| matches!(e, Effect::LogOpen { .. })),
        "{effects:?}"
    );
    assert_eq!(top_scope(&app), None, "no log panel opens");
    let (sev, text) = status(&app);
    assert_eq!(sev, Severity::Warn);
    assert!(text.contains("no logs with --demo"), "{text}");
    // With --state-only a real circus may still run the workers: it is asked.
    let (mut app, _store) = app_on(d.path(), Some("dynamo"), false);
    select_type(&mut app, "VllmWorker");
    let effects = app.update(key('l'));
    assert!(
        effects.iter().any(|e| matches!(e, Effect::LogOpen { .. })),
        "{effects:?}"
    );
}

#[test]
fn a_long_reason_under_the_scale_input_is_shown_whole() {
    let (mut app, store, _d) = dashboard();
    select_type(&mut app, "VllmWorker");
    drive(&mut app, &store, key('s'));
    for c in ['9', '9', '9', '9'] {
        drive(&mut app, &store, key(c));
    }
    drive(&mut app, &store, code(KeyCode::Enter));
    let why = scale_prompt(&app)
        .input
        .error()
        .expect("an impossible target is refused")
        .to_string();
    assert!(
        why.chars().count() > 44,
        "a reason longer than a line: {why}"
    );
    // Every word of it is on screen (wrapped in the popup, not cut at its edge).
    let screen = text(&render(&app, 100, 30));
    let shown: String = screen
        .lines()
        .filter_map(|l| l.split('║').nth(1))
        .collect::<Vec<_>>()
        .join(" ");
    let shown: Vec<&str> = shown.split_whitespace().collect();
    let want: Vec<&str> = why.split_whitespace().collect();
    assert!(
        shown.windows(want.len()).any(|w| w == want.as_slice()),
        "{why}\n{screen}"
    );
}
