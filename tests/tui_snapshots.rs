//! Rendering on a `TestBackend`: insta snapshots of each screen plus style assertions on
//! the cells that carry meaning (the selected row, errors, dimming, focus). Time is
//! injected (see tui_support), so the output is deterministic.

mod tui_support;

use crossterm::event::KeyCode;
use dynamo_ctl::tui::app::App;
use dynamo_ctl::tui::theme::{ColorMode, Theme};
use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};
use tui_support::*;

const CYAN: Color = Color::Rgb(0x00, 0xf0, 0xff);
const RED: Color = Color::Rgb(0xff, 0x33, 0x33);
const GREEN: Color = Color::Rgb(0x39, 0xff, 0x14);

fn picker() -> App {
    // A relative path keeps the rendered text the same on every machine.
    let (app, _) = app_on(std::path::Path::new("fixtures/demo"), None, false);
    app
}

fn at(buf: &Buffer, needle: &str) -> (u16, u16) {
    find(buf, needle).unwrap_or_else(|| panic!("{needle:?} not on screen:\n{}", text(buf)))
}

fn press(app: &mut App, keys: &[crossterm::event::KeyCode]) {
    for k in keys {
        let effects = app.update(code(*k));
        assert!(
            effects.is_empty(),
            "rendering tests don't run effects: {effects:?}"
        );
    }
}

#[test]
fn picker_with_a_broken_file() {
    let mut app = picker();
    set_picker(&mut app, 2);
    let buf = render(&app, 110, 34);
    insta::assert_snapshot!("picker", text(&buf));
    // The banner is there on a tall terminal.
    assert!(text(&buf).contains("|  _ \\"), "FIGlet banner");
    // The selected namespace is a solid cyan bar with dark text.
    let (x, y) = at(&buf, "▶ dynamo");
    let cell = &buf[(x + 3, y)];
    assert_eq!(cell.bg, CYAN);
    assert_eq!(cell.fg, Color::Rgb(0x1a, 0x1a, 0x1d));
    // The broken file's error is red, and says why.
    let (x, y) = at(&buf, "malformed state file");
    assert_eq!(buf[(x, y)].fg, RED);
    let (x, y) = at(&buf, "✖ broken");
    assert_eq!(buf[(x, y)].fg, RED);
    // Ages come from the injected now.
    assert!(text(&buf).contains("modified 3m ago"));
    // A state file's counts are what should run, not confirmed: plain text, never green.
    let (x, y) = at(&buf, "Frontend 1 · VllmWorker 2");
    let n = &buf[(x + "Frontend 1 · VllmWorker ".chars().count() as u16, y)];
    assert_eq!(n.symbol(), "2");
    assert_ne!(n.fg, GREEN);
    assert_eq!(n.fg, Color::Rgb(0xc5, 0xc6, 0xc7));
}

#[test]
fn picker_banner_folds_away_on_short_terminals() {
    let app = picker();
    let buf = render(&app, 100, 20);
    let t = text(&buf);
    assert!(!t.contains("|  _ \\"), "no banner at 20 rows:\n{t}");
    assert!(t.contains("dynamo"));
    insta::assert_snapshot!("picker_short", t);
}

#[test]
fn picker_filtering() {
    let mut app = picker();
    for c in ['/', 'a', 'g'] {
        app.update(key(c));
    }
    let buf = render(&app, 100, 20);
    let t = text(&buf);
    assert!(t.contains(" / ag▏"), "{t}");
    assert!(t.contains("agg") && !t.contains("full"), "{t}");
}

#[test]
fn empty_picker_explains_how_the_directory_gets_populated() {
    let d = tempfile::tempdir().unwrap();
    let (mut app, _) = app_on(d.path(), None, false);
    app.dir = "/home/op/.dynamo/state".into();
    let buf = render(&app, 110, 34);
    let t = text(&buf);
    assert!(t.contains("No namespaces in /home/op/.dynamo/state"), "{t}");
    assert!(t.contains("dynamo serve"));
    assert!(t.contains("--demo"));
    // And how to reach a Dynamo 1.x deployment, which has no state file.
    for flag in [
        "--etcd-endpoints URL",
        "--file-kv DIR",
        "--prometheus URL",
        "$ETCD_ENDPOINTS",
    ] {
        assert!(t.contains(flag), "{flag}: {t}");
    }
    insta::assert_snapshot!("picker_empty", t);
}

#[test]
fn missing_directory_is_named() {
    let d = tempfile::tempdir().unwrap();
    let (mut app, _) = app_on(&d.path().join("gone"), None, false);
    app.dir = "/home/op/.dynamo/state".into();
    let t = text(&render(&app, 110, 20));
    assert!(
        t.contains("The state directory /home/op/.dynamo/state does not exist"),
        "{t}"
    );
}

#[test]
fn dashboard_on_the_reference_file() {
    let mut app = reference_app(false);
    select_type(&mut app, "VllmWorker");
    let buf = render(&app, 120, 40);
    insta::assert_snapshot!("dashboard", text(&buf));
    let t = text(&buf);
    assert!(t.contains("namespace dynamo"));
    assert!(t.contains("/home/op/.dynamo/state/dynamo.json"));
    assert!(t.contains("tcp://127.0.0.1:48615"));
    assert!(t.contains("last change 3m ago"));
    assert!(t.contains("dynamo_VllmWorker_1"));
    assert!(t.contains("GPU 3  □ free"));
    assert!(t.contains("GPU 2  ■ dynamo_VllmWorker_1"));
    // Selected row: a solid cyan bar over every cell of the row, both lines of it.
    let (x, y) = at(&buf, "▶ VllmWorker");
    for dx in 0..50 {
        assert_eq!(buf[(x + dx, y)].bg, CYAN, "row cell {dx}");
    }
    assert_eq!(buf[(x + 30, y + 1)].bg, CYAN, "second line of the row");
    // Other rows are not highlighted.
    let (x, y) = at(&buf, "Frontend");
    assert_ne!(buf[(x, y)].bg, CYAN);
    // The focused panel's border is bright cyan, the others are dim.
    let (x, y) = at(&buf, "┏ Components");
    assert_eq!(buf[(x, y)].fg, CYAN);
    let (x, y) = at(&buf, "┌ GPUs");
    assert_ne!(buf[(x, y)].fg, CYAN);
    // JSON syntax colours: keys cyan, string values green.
    let (x, y) = at(&buf, "\"namespace\"");
    assert_eq!(buf[(x, y)].fg, CYAN);
    let (x, y) = at(&buf, "\"dynamo\",");
    assert_eq!(buf[(x, y)].fg, GREEN);
    // Footer comes from the registry.
    assert!(t.contains("[a] add") && t.contains("[r] remove") && t.contains("[n] namespace"));
}

#[test]
fn dashboard_tab_moves_the_bright_border() {
    let mut app = reference_app(false);
    press(&mut app, &[KeyCode::Tab, KeyCode::Tab]);
    let buf = render(&app, 120, 40);
    let (x, y) = at(&buf, "┏ State");
    assert_eq!(buf[(x, y)].fg, CYAN);
    let (x, y) = at(&buf, "┌ Components");
    assert_ne!(buf[(x, y)].fg, CYAN);
}

#[test]
fn add_type_chooser_dims_what_is_behind() {
    let mut app = reference_app(false);
    select_type(&mut app, "PrefillWorker");
    app.update(key('a'));
    let buf = render(&app, 120, 40);
    insta::assert_snapshot!("add_chooser", text(&buf));
    let (x, y) = at(&buf, "▶ PrefillWorker");
    assert_eq!(buf[(x + 4, y)].bg, CYAN);
    // Behind the popup: dimmed.
    let (x, y) = at(&buf, "namespace dynamo");
    assert!(buf[(x, y)].modifier.contains(Modifier::DIM));
    // The popup itself is not.
    let (x, y) = at(&buf, "Add which type?");
    assert!(!buf[(x, y)].modifier.contains(Modifier::DIM));
}

#[test]
fn confirm_add_popup() {
    let mut app = reference_app(false);
    select_type(&mut app, "PrefillWorker");
    app.update(key('a'));
    press(&mut app, &[KeyCode::Enter]);
    let buf = render(&app, 120, 40);
    insta::assert_snapshot!("confirm_add", text(&buf));
    let t = text(&buf);
    assert!(t.contains("Add dynamo_PrefillWorker_1 on GPU 3?"), "{t}");
    // OK has focus.
    let (x, y) = at(&buf, "▶[OK]");
    assert_eq!(buf[(x + 2, y)].bg, CYAN);
    let (x, y) = at(&buf, "[Cancel]");
    assert_ne!(buf[(x, y)].bg, CYAN);
}

#[test]
fn confirm_remove_popup_last_instance_in_red() {
    let mut app = reference_app(false);
    select_type(&mut app, "PrefillWorker");
    app.update(key('r'));
    press(&mut app, &[KeyCode::Enter]);
    let buf = render(&app, 120, 40);
    insta::assert_snapshot!("confirm_remove", text(&buf));
    let t = text(&buf);
    assert!(
        t.contains("Remove dynamo_PrefillWorker and free GPU 1?"),
        "{t}"
    );
    let (x, y) = at(&buf, "This is the last running PrefillWorker");
    assert_eq!(buf[(x, y)].fg, RED);
    // A removal's frame is red, and Cancel has focus.
    let (x, y) = at(&buf, "Confirm removal");
    assert_eq!(buf[(x, y)].fg, RED);
    let (x, y) = at(&buf, "▶[Cancel]");
    assert_eq!(buf[(x + 2, y)].bg, CYAN);
}

#[test]
fn help_is_generated_from_the_registry() {
    let mut app = reference_app(false);
    app.update(key('?'));
    // Tall enough for all of it (smaller terminals scroll it, see the_help_stops_...).
    let buf = render(&app, 120, 60);
    insta::assert_snapshot!("help", text(&buf));
    // Tall enough for every section.
    let t = text(&render(&app, 120, 140));
    for (_, rows) in dynamo_ctl::tui::keys::help(false, dynamo_ctl::tui::keys::Scope::Dashboard) {
        for (label, desc) in rows {
            assert!(
                t.contains(&format!("{label:<10}{desc}")),
                "{label} {desc} missing"
            );
        }
    }
}

#[test]
fn tiny_terminal_says_so_at_every_small_size() {
    let app = reference_app(false);
    let buf = render(&app, 30, 8);
    insta::assert_snapshot!("tiny", text(&buf));
    assert!(text(&buf).contains("terminal too small"));
    let (x, y) = at(&buf, "terminal too small");
    assert_eq!(buf[(x, y)].fg, RED);
    // No panic at any size, with popups open too.
    let mut busy = reference_app(false);
    busy.update(key('r'));
    busy.update(code(KeyCode::Enter));
    busy.update(key('?'));
    for w in [1u16, 2, 5, 20, 39, 40, 41, 60, 79, 80, 99, 100, 160] {
        for h in [1u16, 2, 5, 9, 10, 11, 15, 23, 24, 30, 60] {
            render(&app, w, h);
            render(&busy, w, h);
            render(&picker(), w, h);
        }
    }
}

#[test]
fn readonly_has_no_add_remove_anywhere() {
    let mut app = reference_app(true);
    let buf = render(&app, 120, 40);
    insta::assert_snapshot!("readonly", text(&buf));
    let t = text(&buf);
    assert!(!t.contains("[a]") && !t.contains("[r]"), "{t}");
    assert!(t.contains("read-only"));
    app.update(key('?'));
    let t = text(&render(&app, 120, 40));
    assert!(!t.contains("add an instance") && !t.contains("remove an instance"));
    assert!(t.contains("switch namespace"));
}

#[test]
fn status_messages_are_time_stamped_and_coloured_by_severity() {
    let dir = demo_copy();
    let (mut app, store) = app_on(dir.path(), Some("full"), false);
    select_type(&mut app, "VllmWorker");
    drive(&mut app, &store, key('a'));
    drive(&mut app, &store, code(KeyCode::Enter)); // no free GPU: an error
    let buf = render(&app, 120, 40);
    let (x, y) = at(&buf, "12:00:00 ✖");
    let (ex, ey) = at(&buf, "✖ cannot add");
    assert_eq!(ey, y);
    assert!(ex > x);
    assert_eq!(buf[(ex, ey)].fg, RED);
}

#[test]
fn spinner_shows_while_a_change_runs() {
    let dir = demo_copy();
    let (mut app, store) = app_on(dir.path(), Some("dynamo"), false);
    select_type(&mut app, "VllmWorker");
    drive(&mut app, &store, key('a'));
    drive(&mut app, &store, code(KeyCode::Enter));
    let idle = text(&render(&app, 120, 40));
    assert!(!idle.contains('⠋'));
    let effects = drive(&mut app, &store, key('y'));
    assert_eq!(effects.len(), 1);
    let buf = render(&app, 120, 40);
    let (x, y) = at(&buf, "⠋ 12:00:00");
    assert_eq!(buf[(x, y)].fg, CYAN);
    assert!(text(&buf).contains("adding VllmWorker in dynamo…"));
}

#[test]
fn ansi256_twin_and_no_color() {
    let mut app = reference_app(false);
    select_type(&mut app, "VllmWorker");
    let buf = render_with(&app, 120, 40, ColorMode::Ansi256);
    let (x, y) = at(&buf, "▶ VllmWorker");
    assert_eq!(buf[(x + 3, y)].bg, Color::Indexed(51));
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            let c = &buf[(x, y)];
            assert!(
                !matches!(c.fg, Color::Rgb(..)) && !matches!(c.bg, Color::Rgb(..)),
                "RGB at {x},{y} in 256-colour mode"
            );
        }
    }
    let buf = render_with(&app, 120, 40, ColorMode::None);
    let (x, y) = at(&buf, "▶ VllmWorker");
    let cell = &buf[(x + 3, y)];
    assert!(
        cell.modifier.contains(Modifier::REVERSED),
        "selection visible"
    );
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            let c = &buf[(x, y)];
            assert_eq!(
                (c.fg, c.bg),
                (Color::Reset, Color::Reset),
                "colour at {x},{y}"
            );
        }
    }
}

#[test]
fn color_mode_detection() {
    assert_eq!(
        ColorMode::detect(Some("1"), Some("truecolor")),
        ColorMode::None
    );
    assert_eq!(
        ColorMode::detect(Some(""), Some("truecolor")),
        ColorMode::TrueColor
    );
    assert_eq!(ColorMode::detect(None, Some("24bit")), ColorMode::TrueColor);
    assert_eq!(ColorMode::detect(None, None), ColorMode::Ansi256);
    assert_eq!(ColorMode::detect(None, Some("yes")), ColorMode::Ansi256);
    assert_eq!(Theme::new(ColorMode::TrueColor).cyan, CYAN);
}

#[test]
fn dashboard_with_the_arbiter_shows_processes_and_mismatches() {
    use dynamo_ctl::arbiter::Watcher;
    use dynamo_ctl::tui::app::Action;
    let mut app = reference_app(false);
    let w = |name: &str, pids: &[u32]| Watcher {
        name: name.into(),
        pids: pids.to_vec(),
    };
    // dynamo_VllmWorker_1 is in the file but circus does not run it; dynamo_vllmworker_7
    // runs but the file does not name it.
    app.update(Action::ArbiterSeen {
        ns: "dynamo".into(),
        endpoint: "tcp://127.0.0.1:48615".into(),
        result: Ok(vec![
            w("dynamo_frontend", &[4101]),
            w("dynamo_planner", &[4102]),
            w("dynamo_prefillworker", &[4103]),
            w("dynamo_vllmworker", &[4104]),
            w("dynamo_vllmworker_7", &[4999]),
        ]),
    });
    let buf = render(&app, 120, 40);
    insta::assert_snapshot!("dashboard_arbiter", text(&buf));
    let t = text(&buf);
    assert!(t.contains("online (5 watchers)"), "{t}");
    assert!(t.contains("● dynamo_VllmWorker pid 4104"), "{t}");
    assert!(t.contains("✗ dynamo_VllmWorker_1 not running"), "{t}");
    let row = t.lines().find(|l| l.contains("not in file")).unwrap();
    assert!(row.contains("! 1"), "{row}");
    assert!(row.contains("! dynamo_vllmworker_7 pid 4999"), "{row}");
    let (x, y) = at(&buf, "✗ dynamo_VllmWorker_1");
    assert_eq!(buf[(x, y)].fg, RED);
    // Offline is said in the header.
    app.update(Action::ArbiterSeen {
        ns: "dynamo".into(),
        endpoint: "tcp://127.0.0.1:48615".into(),
        result: Err("Connection refused (os error 111)".into()),
    });
    let t = text(&render(&app, 120, 40));
    assert!(
        t.contains("offline: Connection refused (os error 111)"),
        "{t}"
    );
}

#[test]
fn instances_and_entry_views() {
    use dynamo_ctl::arbiter::Watcher;
    use dynamo_ctl::tui::app::Action;
    let mut app = reference_app(false);
    app.update(Action::ArbiterSeen {
        ns: "dynamo".into(),
        endpoint: "tcp://127.0.0.1:48615".into(),
        result: Ok(vec![Watcher {
            name: "dynamo_vllmworker".into(),
            pids: vec![4104],
        }]),
    });
    select_type(&mut app, "VllmWorker");
    press(&mut app, &[KeyCode::Enter]);
    let buf = render(&app, 120, 40);
    insta::assert_snapshot!("instances", text(&buf));
    let t = text(&buf);
    assert!(t.contains("dynamo instances of VllmWorker"), "{t}");
    assert!(t.contains("● running (pid 4104)"), "{t}");
    assert!(t.contains("✗ in the file, not running"), "{t}");
    press(&mut app, &[KeyCode::Down, KeyCode::Enter]);
    let buf = render(&app, 120, 40);
    insta::assert_snapshot!("entry", text(&buf));
    let t = text(&buf);
    assert!(t.contains("CUDA_VISIBLE_DEVICES = 2"), "{t}");
    assert!(t.contains("DYNAMO_SERVICE_CONFIG ="), "{t}");
    assert!(t.contains("\"Common\": {"), "pretty-printed: {t}");
    // Scrolling stops at the last page: the entry as in the file ends it.
    press(&mut app, &[KeyCode::Down; 200]);
    let t = text(&render(&app, 120, 40));
    assert!(t.contains("entry, as in the file"), "{t}");
    assert!(
        t.contains("\"watcher_name\": \"dynamo_VllmWorker_1\""),
        "{t}"
    );
}

/// Priorities when space is short: header and footer, then every Components row (up to the
/// space, with a "+N more" mark when cut), then GPUs, then State; wide terminals give the
/// State panel the width the table does not need.
#[test]
fn the_layout_fits_small_and_wide_terminals() {
    let app = reference_app(false);
    let types = ["Planner", "PrefillWorker", "VllmWorker", "Frontend"];
    for (w, h) in [(60u16, 15u16), (80, 24), (120, 40), (200, 60)] {
        let t = text(&render(&app, w, h));
        insta::assert_snapshot!(format!("layout_{w}x{h}"), t);
        for ty in types {
            assert!(
                t.lines().any(|l| l.contains(&format!(" {ty} "))),
                "{w}x{h}: no {ty} row:\n{t}"
            );
        }
        assert!(t.contains("[Tab] panel"), "{w}x{h}: footer");
        assert!(t.contains("namespace dynamo"), "{w}x{h}: header");
    }
    // Too small for all rows: the title says how many more.
    let t = text(&render(&app, 60, 12));
    assert!(t.contains("more rows"), "{t}");
    // 200 columns: the State panel shows whole command lines, not a sliver.
    let t = text(&render(&app, 200, 60));
    assert!(
        t.contains("graph:Frontend --service-name PrefillWorker"),
        "{t}"
    );
}

#[test]
fn the_state_panel_wraps_scrolls_sideways_and_stops_at_the_last_page() {
    let mut app = reference_app(false);
    press(&mut app, &[KeyCode::Tab, KeyCode::Tab]); // the State panel
    let _ = render(&app, 120, 40);
    press(&mut app, &[KeyCode::Char('G')]);
    let t = text(&render(&app, 120, 40));
    assert!(
        t.contains("lines 28-59/59"),
        "G shows the last page, not one line: {t}"
    );
    press(&mut app, &[KeyCode::PageDown]);
    assert!(text(&render(&app, 120, 40)).contains("lines 28-59/59"));
    press(&mut app, &[KeyCode::Char('g')]);
    // Sideways: the end of a long command comes into view.
    let before = text(&render(&app, 120, 40));
    assert!(
        !before.contains("graph:Frontend --service-name"),
        "{before}"
    );
    press(&mut app, &[KeyCode::Right; 8]);
    let t = text(&render(&app, 120, 40));
    assert!(t.contains(" →64 "), "{t}");
    assert!(t.contains("graph:Frontend --service-name"), "{t}");
    press(&mut app, &[KeyCode::Left; 8]);
    assert!(!text(&render(&app, 120, 40)).contains("→"));
    // Wrapped: the whole command is on screen.
    press(&mut app, &[KeyCode::Char('w')]);
    let t = text(&render(&app, 120, 40));
    assert!(t.contains(" wrapped "), "{t}");
    assert!(t.contains("--worker-id"), "{t}");
}

#[test]
fn the_help_stops_at_its_last_line() {
    let mut app = reference_app(false);
    press(&mut app, &[KeyCode::Char('?')]);
    let _ = render(&app, 120, 30);
    press(&mut app, &[KeyCode::Char('j'); 100]);
    let t = text(&render(&app, 120, 30));
    assert!(t.contains("Help"), "{t}");
    let off = help(&app).scroll.offset();
    assert!(off < 100 && off > 0, "{off}");
}

#[test]
fn the_gpu_map_colours_each_worker_type_with_a_legend() {
    let app = reference_app(false);
    let buf = render(&app, 120, 40);
    let t = text(&buf);
    assert!(
        t.contains("GPUs 3/8 used ■ VllmWorker ■ PrefillWorker"),
        "{t}"
    );
    let vllm = buf[at(&buf, "■ dynamo_VllmWorker_1")].fg;
    let prefill = buf[at(&buf, "■ dynamo_PrefillWorker")].fg;
    assert_ne!(vllm, prefill, "the two worker types are told apart");
    assert_eq!(buf[at(&buf, "■ VllmWorker")].fg, vllm, "the legend matches");
    assert_eq!(buf[at(&buf, "■ PrefillWorker")].fg, prefill);
}

#[test]
fn scale_dialog_and_command_bar() {
    let mut app = reference_app(false);
    select_type(&mut app, "VllmWorker");
    press(&mut app, &[KeyCode::Char('s')]);
    let t = text(&render(&app, 120, 40));
    insta::assert_snapshot!("scale_dialog", t);
    assert!(t.contains("VllmWorker (2 running) to: 2"), "{t}");
    press(
        &mut app,
        &[KeyCode::Backspace, KeyCode::Char('4'), KeyCode::Enter],
    );
    let t = text(&render(&app, 120, 40));
    insta::assert_snapshot!("scale_plan", t);
    assert!(t.contains("Scale VllmWorker to 4"), "{t}");
    press(
        &mut app,
        &[
            KeyCode::Esc,
            KeyCode::Char(':'),
            KeyCode::Char('p'),
            KeyCode::Tab,
        ],
    );
    let t = text(&render(&app, 120, 40));
    insta::assert_snapshot!("command_bar", t);
    assert!(t.contains(":p▏"), "{t}");
    assert!(t.contains("planner  prefillworker"), "{t}");
}

#[test]
fn long_namespace_names_never_run_into_the_next_column() {
    let d = demo_copy();
    let long = "a-very-long-namespace-name-that-goes-on-and-on-and-on-forever";
    std::fs::copy(
        d.path().join("agg.json"),
        d.path().join(format!("{long}.json")),
    )
    .unwrap();
    let (app, _) = app_on(d.path(), None, false);
    let t = text(&render(&app, 100, 40));
    let row = t
        .lines()
        .find(|l| l.contains("a-very-long"))
        .unwrap_or_else(|| panic!("{t}"));
    assert!(row.contains('…'), "{row}");
    assert!(row.contains("GPUs 4/6"), "{row}");
    assert!(row.contains("modified"), "{row}");
}

#[test]
fn desired_and_live_side_by_side_and_a_discovery_only_namespace() {
    use dynamo_ctl::tui::app::Action;
    let mut app = reference_app(false);
    // The file wants 2 VllmWorkers and 1 PrefillWorker: 1 VllmWorker registered on
    // `generate` (one starting), 2 PrefillWorkers on `mock` (one unmanaged), the planner.
    app.update(Action::InstancesChanged(Box::new(live(&[
        ("dynamo", "VllmWorker", "generate", 0x11),
        ("dynamo", "VllmWorker", "load_metrics", 0x11),
        ("dynamo", "PrefillWorker", "mock", 0x21),
        ("dynamo", "PrefillWorker", "mock", 0x22),
        ("dynamo", "Planner", "status", 0x31),
    ]))));
    let buf = render(&app, 120, 40);
    insta::assert_snapshot!("dashboard_live", text(&buf));
    let t = text(&buf);
    assert!(t.contains("discovery etcd ●"), "{t}");
    let row = |ty: &str| {
        t.lines()
            .find(|l| l.contains(&format!(" {ty} ")))
            .unwrap()
            .to_string()
    };
    assert!(
        row("VllmWorker").contains("? 2   1…"),
        "{}",
        row("VllmWorker")
    );
    assert!(
        row("PrefillWorker").contains("? 1   2+"),
        "{}",
        row("PrefillWorker")
    );
    // Circus is not heard here: the file's counts are grey `?`, never green.
    assert!(row("Planner").contains("? 1   1 "), "{}", row("Planner"));
    let (x, y) = at(&buf, "? 2");
    assert_eq!(
        buf[(x, y)].fg,
        Color::Rgb(0x6c, 0x6c, 0x70),
        "unknown is grey"
    );
    assert_eq!(
        buf[at(&buf, "1…")].fg,
        Color::Rgb(0xff, 0x8c, 0x00),
        "starting: orange"
    );
    assert_eq!(buf[at(&buf, "2+")].fg, RED, "unmanaged: red");

    // A namespace only discovery knows.
    let d = demo_copy();
    let (mut app, store) = app_on(d.path(), None, false);
    app.update(Action::InstancesChanged(Box::new(live(&[
        ("dyn16", "backend", "generate", 0x24f41fc93f71170b),
        ("dyn16", "backend", "generate", 0x24f41fc93f71170c),
        ("dyn16", "frontend", "http", 0x77),
    ]))));
    let t = text(&render(&app, 120, 40));
    assert!(t.contains("dyn16"), "{t}");
    let pos = app
        .visible_namespaces()
        .iter()
        .position(|n| n.name == "dyn16")
        .unwrap();
    set_picker(&mut app, pos);
    drive(&mut app, &store, code(KeyCode::Enter));
    let buf = render(&app, 120, 40);
    let t = text(&buf);
    insta::assert_snapshot!(
        "discovery_only",
        t.replace(&d.path().display().to_string(), "DIR")
    );
    assert!(t.contains("(discovery only: no state file)"), "{t}");
    assert!(t.contains("generate 24f41fc93f71170b etcd"), "{t}");
    assert!(
        t.contains("discovery only: no state file, so no circus or GPU list"),
        "{t}"
    );
    // No state-file leftovers: no GPU count, no file age, no Run or GPUs column.
    for gone in ["GPUs 0/0", "last change", "Watchers", " Run "] {
        assert!(!t.contains(gone), "{gone}: {t}");
    }
    assert!(t.contains("Component") && t.contains("Instances"), "{t}");
    assert!(t.contains("2 registered components"), "{t}");
    // The scaling keys are absent, and the footer says why.
    assert!(t.contains("no state file: nothing to scale"), "{t}");
    assert!(!t.contains("[a] add"), "{t}");
}

#[test]
fn registered_instances_panel_flashes_new_and_greys_leaving() {
    use dynamo_ctl::tui::app::Action;
    use std::time::Duration;
    let mut app = reference_app(false);
    let mut first = live(&[
        ("dynamo", "VllmWorker", "generate", 0x694d_a207_ac81_b30e),
        ("dynamo", "PrefillWorker", "mock", 0x694d_a207_ac81_b310),
        ("dynamo", "Frontend", "http", 0x694d_a207_ac81_b311),
    ]);
    // A file-store registration gone stale, with a field newer Dynamo adds.
    let mut stale = (*first.instances[0]).clone();
    stale.source = dynamo_ctl::discovery::SourceKind::File;
    stale.layout = dynamo_ctl::discovery::Layout::V1;
    stale.instance_id = 0x24f4;
    stale.key = "v1/instances/dynamo/VllmWorker/generate/24f4".into();
    stale.raw =
        r#"{"transport": {"tcp": "127.0.0.1:40469/24f4/dynamo/VllmWorker/generate"}}"#.into();
    stale.stale = true;
    stale.lease = None;
    stale.modified = Some(now() - Duration::from_secs(14));
    first.instances.push(std::sync::Arc::new(stale));
    app.update(Action::InstancesChanged(Box::new(first.clone())));
    app.set_clock(now() + Duration::from_secs(1), CLOCK);
    let mut second = first.clone();
    second.instances.retain(|i| i.component != "Frontend");
    second.instances.push(
        live(&[("dynamo", "VllmWorker", "generate", 0x694d_a207_ac81_b320)]).instances[0].clone(),
    );
    app.update(Action::InstancesChanged(Box::new(second)));
    app.update(code(KeyCode::Char('i')));
    app.update(code(KeyCode::Char('j')));
    let buf = render(&app, 140, 30);
    insta::assert_snapshot!("registered_instances", text(&buf));
    let t = text(&buf);
    assert!(t.contains("registered instances (5)"), "{t}");
    let (x, y) = at(&buf, "★ new");
    assert!(buf[(x, y)].modifier.contains(Modifier::REVERSED));
    assert_eq!(buf[(x, y)].fg, GREEN);
    let (x, y) = at(&buf, "○ leaving");
    assert_eq!(buf[(x, y)].fg, Color::Rgb(0x6c, 0x6c, 0x70));
    let (x, y) = at(&buf, "▲ stale");
    assert_eq!(buf[(x, y)].fg, Color::Rgb(0xff, 0x8c, 0x00));
    assert!(t.contains("touched 15s ago"), "{t}");
    // Narrow terminals drop the least important columns; names and ids are never cut
    // (the 80x24 list used to show `VllmWorke` and `b356ceaf9`). Per width, the columns
    // kept are a prefix of the priorities: component, instance, the live mark, age first.
    for (w, must, dropped) in [
        (120, &["Instance", "Age", "Endpoint"][..], &[][..]),
        (80, &["Instance", "Age"][..], &["Source"][..]),
        (60, &["Instance"][..], &["Source", "Address"][..]),
        (40, &[][..], &["Source", "Address", "Endpoint"][..]),
    ] {
        let buf = render(&app, w, 24);
        let t = text(&buf);
        for h in must {
            assert!(t.contains(h), "{w} columns keep {h}:\n{t}");
        }
        for h in dropped {
            assert!(!t.contains(h), "{w} columns drop {h}:\n{t}");
        }
        assert!(t.contains("VllmWorker "), "{w}: a name shown whole:\n{t}");
        assert!(
            t.contains("PrefillWorker "),
            "{w}: a name shown whole:\n{t}"
        );
        assert!(
            !t.contains("VllmWorke…") && !t.contains("VllmWorke "),
            "{w}:\n{t}"
        );
        if t.contains("Instance") {
            for id in ["694da207ac81b30e", "694da207ac81b310", "694da207ac81b320"] {
                assert!(t.contains(id), "{w}: id {id} whole:\n{t}");
            }
        }
    }
}

/// A metrics round as the collector returns it, for a namespace of the reference file.
fn load_round(
    at: std::time::SystemTime,
    vllm_rate: f64,
    depth: u64,
) -> dynamo_ctl::metrics::Metrics {
    use dynamo_ctl::metrics::*;
    let comp = |name: &str, rate: f64, p95: f64, inflight: f64, kv: Option<f64>| ComponentLoad {
        namespace: "dynamo".into(),
        component: name.into(),
        instances: 1,
        requests_per_s: Some(rate),
        inflight: Some(inflight),
        p50_seconds: Some(p95 / 2.0),
        p95_seconds: Some(p95),
        errors_per_s: None,
        kv_cache_usage: kv,
    };
    let src = |kind, location: &str, error: Option<&str>| SourceStatus {
        kind,
        location: location.into(),
        status: if error.is_some() {
            Status::Error
        } else {
            Status::Ok
        },
        error: error.map(str::to_string),
        health: None,
        health_endpoints: None,
    };
    Metrics {
        sources: vec![
            src(SourceKind::Prometheus, "http://127.0.0.1:9090", None),
            src(
                SourceKind::Scrape,
                "http://127.0.0.1:8081/metrics",
                Some("connection refused"),
            ),
            src(SourceKind::Nats, "nats://127.0.0.1:4222", None),
        ],
        components: vec![
            comp("PrefillWorker", 3.1, 6.2, 4.0, None),
            comp("VllmWorker", vllm_rate, 0.412, 7.0, Some(0.83)),
        ],
        instances: vec![],
        frontend: Some(FrontendLoad {
            requests_per_s: Some(12.5),
            inflight: Some(9.0),
            queued: Some(2.0),
            ttft_p95_seconds: Some(0.180),
            itl_p95_seconds: Some(0.012),
            ..Default::default()
        }),
        prefill_queue: Some(nats::QueueDepth {
            stream: "dynamo_prefill_queue".into(),
            depth,
            ack_pending: 0,
            waiting: 0,
            namespace_queue: true,
        }),
        prefill_queues: vec![],
        taken_at: at,
        window_seconds: Some(10.0),
    }
}

#[test]
fn dashboard_with_load_and_sparklines() {
    use dynamo_ctl::tui::app::Action;
    use std::time::Duration;
    let mut app = reference_app(false);
    app.load.on = true;
    for (i, (rate, depth)) in [(2.0, 1), (4.0, 3), (8.0, 9), (16.0, 27), (12.0, 140)]
        .into_iter()
        .enumerate()
    {
        app.update(Action::MetricsSeen {
            ns: "dynamo".into(),
            metrics: Box::new(load_round(
                now() + Duration::from_secs(2 * i as u64),
                rate,
                depth,
            )),
        });
    }
    let buf = render(&app, 160, 40);
    insta::assert_snapshot!("dashboard_load", text(&buf));
    let t = text(&buf);
    let row = t.lines().find(|l| l.contains("VllmWorker")).unwrap();
    assert!(
        row.contains("12.0/s p95 412ms   7 in kv 83% ▂▃▅█▆"),
        "{row}"
    );
    assert!(t.contains("metrics prometheus ● scrape ✗ nats ●"), "{t}");
    // What failed, where and why, on a line of its own.
    assert!(
        t.contains("│✗ metrics scrape http://127.0.0.1:8081/metrics: connection refused"),
        "{t}"
    );
    assert!(
        t.contains("frontend 12.5/s TTFT p95 180ms ITL p95 12ms queued 2"),
        "{t}"
    );
    assert!(t.contains("prefill queue 140 ▁▁▁▂█ ↗"), "{t}");
    // Severity: a p95 over 5 s is red, KV use over 80 % orange, a queue over 100 red.
    let (x, y) = at(&buf, "6.20s");
    assert_eq!(buf[(x, y)].fg, RED);
    let (x, y) = at(&buf, "kv 83%");
    assert_eq!(buf[(x, y)].fg, Color::Rgb(0xff, 0x8c, 0x00));
    let (x, y) = at(&buf, "queue 140");
    assert_eq!(buf[(x + 6, y)].fg, RED);
    // Narrower terminals keep a compact Load column (req/s and the sparkline) and the
    // watchers' names; at 60 columns there is no room for it.
    for w in [80, 100, 120] {
        let t = text(&render(&app, w, 24));
        let row = t.lines().find(|l| l.contains("VllmWorker ")).unwrap();
        assert!(
            row.contains("dynamo_VllmWorker") && row.contains("12.0/s ▂▃▅█▆"),
            "{w}: {row}"
        );
        assert!(!row.contains("p95"), "{w}: {row}");
    }
    let t = text(&render(&app, 60, 20));
    assert!(!t.contains("Load: req/s"), "{t}");
    // `m`: the component's load over time, from what this session measured.
    set_row(&mut app, 2); // VllmWorker
    app.update(code(KeyCode::Char('m')));
    let buf = render(&app, 120, 40);
    insta::assert_snapshot!("metrics_view", text(&buf));
    let t = text(&buf);
    assert!(t.contains("load of VllmWorker in dynamo"), "{t}");
    assert!(
        t.contains("requests/s: now 12.0/s, max 16.0/s (this session, 5 samples)"),
        "{t}"
    );
}

#[test]
fn the_log_panel_follows_pauses_merges_and_searches() {
    use dynamo_ctl::logs::clean::clean_line;
    use dynamo_ctl::logs::{Batch, Note, Source, Stream};
    use dynamo_ctl::tui::app::{Action, Effect, LogNews};
    use dynamo_ctl::tui::panels::logs::LogHandle;
    let mut app = reference_app(false);
    select_type(&mut app, "VllmWorker");
    let effects = app.update(key('l'));
    let (id, watchers) = match &effects[..] {
        [Effect::LogOpen { id, watchers, .. }] => (*id, watchers.clone()),
        other => panic!("{other:?}"),
    };
    assert_eq!(top_scope(&app), Some(dynamo_ctl::tui::keys::Scope::Logs));
    let t = text(&render(&app, 120, 30));
    assert!(t.contains("asking circus where VllmWorker writes"), "{t}");
    let mut sources = Vec::new();
    for w in &watchers {
        for s in [Stream::Stdout, Stream::Stderr] {
            sources.push(Source {
                watcher: w.clone(),
                stream: s,
                file: Ok(format!("/logs/{w}/{}", s.dynamo_file()).into()),
            });
        }
    }
    let line = |s: &str| clean_line(s.as_bytes(), 0);
    let first = Batch {
        lines: vec![
            (0, line("INFO loading model toy")),
            (
                1,
                line("\u{1b}[31mWARNING\u{1b}[0m slow tokenizer\u{1b}]0;PWNED\u{7}"),
            ),
            (2, line("INFO worker 1 ready")),
            (0, line("INFO serving on 127.0.0.1:8001")),
        ],
        notes: vec![(2, Note::Missing("/logs/x/output.log does not exist".into()))],
    };
    app.update(Action::Log {
        id,
        news: LogNews::Opened {
            sources,
            first,
            handle: LogHandle::default(),
        },
    });
    let buf = render(&app, 120, 30);
    insta::assert_snapshot!("logs", text(&buf));
    let t = text(&buf);
    assert!(t.contains("log of VllmWorker · stdout"), "{t}");
    assert!(
        t.contains("INFO serving on 127.0.0.1:8001") && t.contains("● following"),
        "{t}"
    );
    assert!(
        t.contains("⚠ dynamo_VllmWorker_1 stdout: /logs/x/output.log does not exist"),
        "{t}"
    );
    // Space: the view stays, a mark counts what came.
    app.update(key(' '));
    app.update(Action::Log {
        id,
        news: LogNews::Lines(Batch {
            lines: vec![(0, line("INFO request 1")), (2, line("INFO request 2"))],
            notes: vec![],
        }),
    });
    let t = text(&render(&app, 120, 30));
    assert!(t.contains("⏸ paused · 2 new lines since"), "{t}");
    assert!(!t.contains("request 1"), "{t}");
    // Following again shows them; `m` merges the streams, each line marked.
    app.update(key(' '));
    app.update(key('m'));
    let t = text(&render(&app, 120, 30));
    assert!(
        t.contains("request 2") && t.contains("stdout+stderr"),
        "{t}"
    );
    assert!(t.contains("err│WARNING slow tokenizer"), "{t}");
    // `/` searches, `c` copies the match.
    app.update(key('/'));
    for c in "tokenizer".chars() {
        app.update(key(c));
    }
    app.update(code(KeyCode::Enter));
    let effects = app.update(key('c'));
    assert!(
        matches!(&effects[..], [Effect::Copy(t)] if t == "WARNING slow tokenizer"),
        "{effects:?}"
    );
    // Esc clears the search, Esc again closes; the panel's news is then dropped.
    app.update(code(KeyCode::Esc));
    app.update(code(KeyCode::Esc));
    assert!(no_popups(&app));
    app.update(Action::Log {
        id,
        news: LogNews::Failed("late".into()),
    });
    assert!(app.unchanged);
}

#[test]
fn l_on_an_instance_row_and_in_an_entry_opens_that_watchers_log() {
    use dynamo_ctl::tui::app::Effect;
    let mut app = reference_app(false);
    select_type(&mut app, "VllmWorker");
    press(&mut app, &[KeyCode::Enter, KeyCode::Down]);
    let open = |app: &mut App| match &app.update(key('l'))[..] {
        [Effect::LogOpen { watchers, .. }] => watchers.clone(),
        other => panic!("{other:?}"),
    };
    let from_row = open(&mut app);
    assert_eq!(from_row.len(), 1);
    assert!(text(&render(&app, 120, 30)).contains(&format!("log of {}", from_row[0])));
    press(&mut app, &[KeyCode::Esc, KeyCode::Enter]);
    assert_eq!(
        open(&mut app),
        from_row,
        "the entry of that row: the same watcher"
    );
}
