//! The Dynamo 1.x planner's decision on the TUI (update + drawing, no terminal): the header
//! line, the Plan column against the live count, what a change says, the slow warning, a
//! planner's namespace scaled to zero in the picker. tests/planner_1x.rs runs the real
//! planner; tests/tui_e2e_planner.rs follows one in tmux.

mod tui_support;

use std::time::Duration;

use crossterm::event::KeyCode;
use dynamo_ctl::discovery::Snapshot;
use dynamo_ctl::discovery::planner::Decision;
use dynamo_ctl::tui::app::{Action, App};
use dynamo_ctl::tui::data::Severity;
use tui_support::*;

fn with_planner(mut snap: Snapshot, ns: &str, d: Decision) -> Snapshot {
    snap.planners.insert(ns.to_string(), d);
    snap
}

fn decision(prefill: u64, decode: u64, id: u64, scaled: Option<u64>) -> Decision {
    Decision {
        num_prefill_workers: Some(prefill),
        num_decode_workers: Some(decode),
        decision_id: Some(id),
        scaled_decision_id: scaled,
        ..Default::default()
    }
}

fn instances() -> Snapshot {
    live(&[
        ("dyn16", "backend", "generate", 0x24f41fc93f71170b),
        ("dyn16", "frontend", "http", 0x77),
    ])
}

fn open_dyn16(snap: Snapshot) -> (App, tempfile::TempDir) {
    let d = demo_copy();
    let (mut app, store) = app_on(d.path(), None, false);
    app.update(Action::InstancesChanged(Box::new(snap)));
    let pos = app
        .visible_namespaces()
        .iter()
        .position(|n| n.name == "dyn16")
        .expect("dyn16 in the picker");
    set_picker(&mut app, pos);
    drive(&mut app, &store, code(KeyCode::Enter));
    assert_eq!(current(&app).name, "dyn16");
    (app, d)
}

fn status(app: &App) -> (Severity, String) {
    let s = app.status.as_ref().expect("a status message");
    (s.severity, s.text.clone())
}

fn line_with<'a>(t: &'a str, needle: &str) -> &'a str {
    t.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?}: {t}"))
}

#[test]
fn a_pending_decision_beside_the_live_counts_then_slow_then_done_then_gone() {
    let (mut app, _d) = open_dyn16(with_planner(
        instances(),
        "dyn16",
        decision(2, 3, 7, Some(6)),
    ));
    let buf = render(&app, 120, 40);
    let t = text(&buf);
    insta::assert_snapshot!("dashboard_planner", t.clone());
    assert!(
        t.contains("planner prefill 2, decode 3 (decision 7, pending 0s)"),
        "{t}"
    );
    assert_eq!(
        buf[find(&buf, "prefill 2, decode 3").unwrap()].fg,
        ratatui::style::Color::Rgb(0xff, 0x8c, 0x00),
        "pending is orange"
    );
    assert!(t.contains("Plan"), "{t}");
    // Desired (the planner) against live on `generate`: one of three decode workers, no
    // prefill worker yet (a row of its own), the frontend has no target.
    let backend = line_with(&t, "backend   ");
    assert!(
        backend.contains("◆ 3") && backend.contains("1…"),
        "{backend}"
    );
    let prefill = line_with(&t, "prefill   ");
    assert!(
        prefill.contains("◆ 2") && prefill.contains("0…"),
        "{prefill}"
    );
    let frontend = line_with(&t, "frontend   ");
    assert!(!frontend.contains('◆'), "{frontend}");

    // Two minutes on: pending that long is a warning, said once.
    let later = now() + Duration::from_secs(150);
    app.set_clock(later, "12:02:30");
    app.update(Action::AgeTick);
    let (sev, text1) = status(&app);
    assert_eq!(sev, Severity::Warn, "{text1}");
    assert!(
        text1.contains("planner decision 7 pending for 2m"),
        "{text1}"
    );
    let t = text(&render(&app, 120, 40));
    assert!(t.contains("pending 2m): not carried out yet"), "{t}");
    app.status = None;
    app.update(Action::AgeTick);
    assert!(app.status.is_none(), "said once");

    // The environment carries it out.
    app.update(Action::InstancesChanged(Box::new(with_planner(
        instances(),
        "dyn16",
        decision(2, 3, 7, Some(7)),
    ))));
    let (sev, text2) = status(&app);
    assert_eq!(
        (sev, text2.as_str()),
        (Severity::Ok, "dyn16: planner decision 7 carried out")
    );
    let t = text(&render(&app, 120, 40));
    assert!(
        t.contains("planner prefill 2, decode 3 (decision 7, done)"),
        "{t}"
    );

    // A new decision.
    app.update(Action::InstancesChanged(Box::new(with_planner(
        instances(),
        "dyn16",
        decision(1, 1, 8, Some(7)),
    ))));
    assert_eq!(
        status(&app),
        (
            Severity::Info,
            "dyn16: planner decision 8: prefill 1, decode 1 (decision 8, pending)".into()
        )
    );

    // The planner dies: its keys expire, the environment's ack stays.
    let ack = Decision {
        scaled_decision_id: Some(7),
        ..Default::default()
    };
    app.update(Action::InstancesChanged(Box::new(with_planner(
        instances(),
        "dyn16",
        ack,
    ))));
    let (sev, text3) = status(&app);
    assert_eq!(sev, Severity::Warn, "{text3}");
    assert!(text3.contains("no planner decision any more"), "{text3}");
    let t = text(&render(&app, 120, 40));
    assert!(t.contains("planner no planner decision"), "{t}");
    assert!(!t.contains("◆ 3") && !t.contains(" Plan "), "{t}");
    // Every change is in the history.
    let said: Vec<&str> = app.history.iter().map(|s| s.text.as_str()).collect();
    for want in [
        "pending for 2m",
        "carried out",
        "decision 8",
        "no planner decision",
    ] {
        assert!(said.iter().any(|s| s.contains(want)), "{want}: {said:?}");
    }
}

#[test]
fn a_planner_scaled_to_zero_is_listed_and_opens() {
    // No instance at all: only the planner's keys.
    let snap = with_planner(live(&[]), "zero", decision(0, 0, 3, Some(3)));
    let d = demo_copy();
    let (mut app, store) = app_on(d.path(), None, false);
    app.update(Action::InstancesChanged(Box::new(snap)));
    let pos = app
        .visible_namespaces()
        .iter()
        .position(|n| n.name == "zero")
        .expect("a planner's namespace is listed");
    set_picker(&mut app, pos);
    drive(&mut app, &store, code(KeyCode::Enter));
    assert_eq!(current(&app).name, "zero");
    let t = text(&render(&app, 120, 40));
    assert!(t.contains("prefill 0, decode 0 (decision 3, done)"), "{t}");
    let backend = line_with(&t, "backend   ");
    assert!(backend.contains("◆ 0"), "{backend}");
}

#[test]
fn unreadable_planner_values_are_said_in_red_never_raw() {
    let d = Decision {
        decision_id: Some(2),
        num_decode_workers: Some(1),
        problems: vec!["num_prefill_workers: \"\\u{1b}[2J\" is not a count".into()],
        ..Default::default()
    };
    let (app, _d) = open_dyn16(with_planner(instances(), "dyn16", d));
    let buf = render(&app, 160, 40);
    let t = text(&buf);
    assert!(t.contains("unreadable: num_prefill_workers"), "{t}");
    assert!(!t.contains('\u{1b}'));
    assert_eq!(
        buf[find(&buf, "unreadable").unwrap()].fg,
        ratatui::style::Color::Rgb(0xff, 0x33, 0x33)
    );
}

#[test]
fn each_instance_arriving_and_leaving_is_an_event() {
    use dynamo_ctl::discovery::{Changes, Ident};
    use std::sync::Arc;
    let (mut app, _d) = open_dyn16(instances());
    // The live view says what changed: one arrived, one left.
    let mut snap = live(&[
        ("dyn16", "backend", "generate", 0x24f41fc93f71170b),
        ("dyn16", "backend", "generate", 0xabc),
    ]);
    let gone = instances().instances[1].clone();
    let arrived = snap.instances[1].clone();
    snap.changes = Some(Arc::new(Changes {
        view: 1,
        seq: 2,
        added: vec![Ident {
            source: arrived.source,
            key: arrived.key.clone(),
        }],
        removed: vec![gone],
    }));
    app.update(Action::InstancesChanged(Box::new(snap)));
    let said: Vec<(Severity, &str)> = app
        .history
        .iter()
        .map(|s| (s.severity, s.text.as_str()))
        .collect();
    assert!(
        said.contains(&(
            Severity::Ok,
            "dyn16: backend 0000000000000abc arrived (generate, etcd)"
        )) || said.contains(&(Severity::Ok, "dyn16: backend abc arrived (generate, etcd)")),
        "{said:?}"
    );
    assert!(
        said.iter().any(|(s, t)| *s == Severity::Warn
            && t.starts_with("dyn16: frontend 77")
            && t.ends_with("left (http, etcd)")),
        "{said:?}"
    );
}
