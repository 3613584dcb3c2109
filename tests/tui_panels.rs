//! The panel registry keeps its promises on every screen: every key of every registered
//! panel is in the help (under its panel's title), the footer keeps `?` and `q` at any
//! width, and while a text input is open the footer offers only its keys.

mod tui_support;

use crossterm::event::KeyCode;
use dynamo_ctl::tui::app::App;
use dynamo_ctl::tui::keys::{self, Scope};
use tui_support::*;

/// The footer rows of a render: the hints and up to a quarter of the screen of status.
fn footer(app: &App, w: u16) -> String {
    let t = text(&render(app, w, 24));
    let rows: Vec<&str> = t.lines().collect();
    rows[rows.len().saturating_sub(7)..].join("\n")
}

/// Every screen and popup reachable on the demo data, with the keys that open it.
fn screens() -> Vec<(&'static str, Vec<KeyCode>, Scope)> {
    use KeyCode::{Char, Enter, Esc};
    vec![
        ("picker", vec![Esc], Scope::Picker),
        ("dashboard", vec![], Scope::Dashboard),
        ("instances", vec![Enter], Scope::Instances),
        ("entry", vec![Enter, Enter], Scope::Entry),
        ("registrations", vec![Char('i')], Scope::Live),
        ("registration", vec![Char('i'), Enter], Scope::LiveEntry),
        ("logs", vec![Char('l')], Scope::Logs),
        ("load", vec![Char('m')], Scope::Metrics),
        ("choose", vec![Char('a')], Scope::Choose),
        ("confirm", vec![Char('a'), Enter], Scope::Confirm),
        ("help", vec![Char('?')], Scope::Help),
        ("messages", vec![Char('M')], Scope::Messages),
        ("switch namespace", vec![Char('n')], Scope::Picker),
    ]
}

/// Presses keys; the effects they ask for are not run.
fn press(app: &mut App, keys: &[KeyCode]) {
    for k in keys {
        let _ = app.update(code(*k));
    }
}

/// The reference dashboard, with one instance registered in discovery (so that `i`
/// Enter opens a registration), after `keys`.
fn open(keys: &[KeyCode]) -> App {
    let mut app = reference_app(false);
    let _ = app.update(dynamo_ctl::tui::app::Action::InstancesChanged(Box::new(
        live(&[("dynamo", "VllmWorker", "generate", 0x694d9a2c1bd0c03f)]),
    )));
    press(&mut app, keys);
    app
}

#[test]
fn the_footer_keeps_help_and_quit_on_every_screen_at_40_80_and_120_columns() {
    // Every registered panel is here, or is a text input (whose footer offers only its
    // keys: `while_typing_the_footer_offers_only_the_inputs_keys`).
    let covered: Vec<Scope> = screens().iter().map(|(_, _, s)| *s).collect();
    for &scope in Scope::ALL {
        assert!(
            covered.contains(&scope)
                || matches!(scope, Scope::Global | Scope::Command | Scope::ScaleInput),
            "{scope:?} has no screen in this test"
        );
    }
    for (name, keys, scope) in screens() {
        let app = open(&keys);
        assert_eq!(app.scope(), scope, "{name}");
        for w in [40, 80, 120] {
            let f = footer(&app, w);
            // In the help, `?` closes it: the footer says so with Esc/?.
            let help = if scope == Scope::Help {
                "Esc/?"
            } else {
                "[?] help"
            };
            assert!(f.contains(help), "{name} at {w}: no {help} in\n{f}");
            assert!(f.contains("[q] quit"), "{name} at {w}: no [q] quit in\n{f}");
        }
    }
}

#[test]
fn while_typing_the_footer_offers_only_the_inputs_keys() {
    use KeyCode::{Char, Enter};
    for (name, keys) in [
        ("command bar", vec![Char(':')]),
        ("scale prompt", vec![Char('s')]),
        ("dashboard filter", vec![Char('/')]),
        ("instances filter", vec![Enter, Char('/')]),
        ("registrations filter", vec![Char('i'), Char('/')]),
        ("picker filter", vec![Char('n'), Char('/')]),
    ] {
        let app = open(&keys);
        for w in [40, 80, 120] {
            let f = footer(&app, w);
            assert!(f.contains("[Enter]") && f.contains("[Esc]"), "{name}: {f}");
            assert!(!f.contains("quit") && !f.contains("[?]"), "{name}: {f}");
        }
    }
}

#[test]
fn every_key_of_every_registered_panel_is_in_the_help() {
    for &from in Scope::ALL {
        let sections = keys::help(false, from);
        assert_eq!(sections[0].0, from, "the help opens at {from:?}'s keys");
        for &scope in Scope::ALL {
            for d in scope.keys() {
                let listed = sections
                    .iter()
                    .any(|(s, rows)| *s == scope && rows.contains(&(d.label, d.desc)));
                assert!(listed, "{:?} {} missing from the help", scope, d.label);
            }
        }
    }
    // And on screen, under each panel's title (tall enough for all of it).
    let app = open(&[KeyCode::Char('?')]);
    let t = text(&render(&app, 120, 100));
    for &scope in Scope::ALL {
        assert!(
            t.contains(scope.title()),
            "{} not in the help",
            scope.title()
        );
    }
}

#[test]
fn every_panel_has_a_title_and_its_keys_do_what_they_say() {
    // The registry's own keys never shadow each other inside a panel.
    for b in keys::registry() {
        assert!(!b.scope.title().is_empty());
        for k in b.keys {
            let taken: Vec<_> = keys::registry()
                .filter(|o| o.scope == b.scope && o.cmd != b.cmd && o.keys.contains(k))
                .collect();
            assert!(taken.is_empty(), "{k:?} twice in {:?}", b.scope);
        }
    }
}
