//! The TUI side of issue 7: hostile files in the picker, terminal control in names, and the
//! bugs seen while using it (stale warning, cursor, colours, status line, empty filter).
//! Anything that touches the filesystem runs with a deadline so a regression cannot hang
//! the suite.

mod tui_support;

use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use crossterm::event::KeyCode;
use dynamo_ctl::state::Store;
use dynamo_ctl::tui::app::{Action, App, Listing, Severity, Status};
use dynamo_ctl::tui::effects;
use tui_support::*;

const DEADLINE: Duration = Duration::from_secs(30);

/// Runs `f` on another thread and fails if it takes longer than [`DEADLINE`].
fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(DEADLINE)
        .unwrap_or_else(|_| panic!("{what}: no answer within {DEADLINE:?} (hung?)"))
}

fn status(app: &App) -> (Severity, String) {
    let s = app.status.as_ref().expect("a status message");
    (s.severity, s.text.clone())
}

fn names(app: &App) -> Vec<String> {
    app.visible_namespaces()
        .iter()
        .map(|n| n.name.clone())
        .collect()
}

/// `app_on` with a deadline (the start effect lists the directory).
fn app_within(dir: &Path, ns: Option<&str>) -> (App, Store) {
    let (dir, ns) = (dir.to_path_buf(), ns.map(str::to_string));
    let (store, refresh) = within("the first refresh", move || {
        let store = Store::new(&dir);
        let r = effects::refresh_blocking(&store, ns.as_deref());
        (store, r)
    });
    let mut app = App::new(store.dir().to_path_buf(), false, None);
    app.set_clock(now(), CLOCK);
    let _ = app.start();
    app.want = refresh.ns.as_ref().map(|(n, _)| n.clone());
    let more = app.update(Action::Refreshed(refresh));
    assert!(more.is_empty());
    pin_ages(&mut app);
    (app, store)
}

#[test]
fn a_fifo_in_the_directory_is_listed_broken_and_the_others_are_shown() {
    let dir = demo_copy();
    let c = std::ffi::CString::new(dir.path().join("x.json").to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.json")).unwrap();
    let (app, _store) = app_within(dir.path(), None);
    assert_eq!(
        names(&app),
        ["agg", "broken", "dynamo", "full", "x", "zero"]
    );
    let x = &app.visible_namespaces()[4];
    assert!(
        x.brief.as_ref().unwrap_err().contains("FIFO"),
        "{:?}",
        x.brief
    );
    let zero = &app.visible_namespaces()[5];
    assert!(
        zero.brief
            .as_ref()
            .unwrap_err()
            .contains("character device"),
        "{:?}",
        zero.brief
    );
    assert!(app.visible_namespaces()[2].brief.is_ok());
    let screen = text(&render(&app, 100, 30));
    assert!(screen.contains("broken, cannot be opened"), "{screen}");
    assert!(!screen.contains("reading…"), "{screen}");
}

#[test]
fn names_with_terminal_control_are_drawn_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let evil = "\u{1b}]2;PWNED\u{7}\u{1b}[2J\u{202e}";
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("demo/dynamo.json")).unwrap()).unwrap();
    v["circus_endpoint"] = format!("tcp://{evil}").into();
    v["components"]["dynamo_VllmWorker_1"]["watcher_name"] = format!("w{evil}").into();
    std::fs::write(
        dir.path().join("dynamo.json"),
        serde_json::to_string(&v).unwrap(),
    )
    .unwrap();
    std::fs::write(dir.path().join(format!("n{evil}.json")), "{}").unwrap();
    let (mut app, store) = app_within(dir.path(), Some("dynamo"));
    let screen = text(&render(&app, 160, 40));
    assert!(
        screen.contains("tcp://\\u{1b}]2;PWNED\\u{7}\\u{1b}[2J\\u{202e}"),
        "{screen}"
    );
    assert!(screen.contains("w\\u{1b}]2;PWNED"), "{screen}");
    assert!(!screen.contains('\u{202e}'), "{screen}");
    // The picker shows the file name escaped, as broken.
    drive(&mut app, &store, key('n'));
    let screen = text(&render(&app, 160, 40));
    assert!(screen.contains("n\\u{1b}]2;PWNED"), "{screen}");
    assert!(!screen.contains('\u{202e}'), "{screen}");
}

/// The dashboard keeps "unreadable" only while the file is unreadable: a good read clears
/// it (the planner rewrites in place, so a refresh can catch a half-written file).
#[test]
fn the_unreadable_warning_goes_away_when_the_file_is_good_again() {
    let dir = demo_copy();
    let (mut app, store) = app_on(dir.path(), Some("dynamo"), false);
    let path = dir.path().join("dynamo.json");
    let good = std::fs::read(&path).unwrap();
    std::fs::write(&path, &good[..good.len() / 2]).unwrap();
    let (app, store) = within("a refresh of a truncated file", move || {
        drive(&mut app, &store, Action::FsChanged);
        (app, store)
    });
    let (sev, text) = status(&app);
    assert_eq!(sev, Severity::Warn);
    assert!(text.contains("dynamo.json is unreadable now"), "{text}");
    std::fs::write(&path, &good).unwrap();
    let (mut app, store) = (app, store);
    drive(&mut app, &store, Action::FsChanged);
    let (sev, text) = status(&app);
    assert_eq!(sev, Severity::Info);
    assert_eq!(text, "dynamo.json is readable again");
    let screen = tui_support::text(&render(&app, 120, 40));
    assert!(!screen.contains("unreadable"), "{screen}");
}

#[test]
fn add_in_a_namespace_without_components_says_so() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("empty.json"),
        r#"{"namespace": "empty", "components": {}}"#,
    )
    .unwrap();
    let (mut app, store) = app_on(dir.path(), Some("empty"), false);
    drive(&mut app, &store, key('a'));
    let (sev, text) = status(&app);
    assert_eq!(sev, Severity::Warn);
    assert!(
        text.contains("namespace empty has no components: nothing to add"),
        "{text}"
    );
    assert!(no_popups(&app));
    drive(&mut app, &store, key('r'));
    assert_eq!(status(&app).1, "nothing is running, nothing to remove");
}

#[test]
fn a_filter_that_matches_nothing_does_not_show_the_empty_directory_help() {
    let (mut app, store) = app_on(&fixture("demo"), None, false);
    for a in [key('/'), key('z'), key('z')] {
        drive(&mut app, &store, a);
    }
    assert!(names(&app).is_empty());
    let screen = text(&render(&app, 120, 40));
    assert!(screen.contains("No namespace matches \"zz\"."), "{screen}");
    assert!(screen.contains("Esc clears the filter."), "{screen}");
    assert!(!screen.contains("--demo"), "{screen}");
    assert!(!screen.contains("dynamo serve"), "{screen}");
}

#[test]
fn removing_the_last_running_instance_is_reported_as_a_warning() {
    let dir = demo_copy();
    let (mut app, store) = app_on(dir.path(), Some("full"), false);
    // One VllmWorker runs in `full`: its removal leaves none.
    select_type(&mut app, "VllmWorker");
    drive(&mut app, &store, key('r'));
    drive(&mut app, &store, code(KeyCode::Enter));
    let effects = drive(&mut app, &store, key('y'));
    let done = effects::run_blocking(&store, effects[0].clone());
    drive(&mut app, &store, done);
    let (sev, text) = status(&app);
    assert_eq!(sev, Severity::Warn, "{text}");
    assert!(text.contains("no VllmWorker is running now"), "{text}");
    // A removal that leaves some running stays green.
    select_type(&mut app, "PrefillWorker");
    drive(&mut app, &store, key('r'));
    drive(&mut app, &store, code(KeyCode::Enter));
    let effects = drive(&mut app, &store, key('y'));
    let done = effects::run_blocking(&store, effects[0].clone());
    drive(&mut app, &store, done);
    assert_eq!(status(&app).0, Severity::Ok);
}

#[test]
fn the_picker_cursor_stays_on_its_namespace_when_another_file_vanishes() {
    let dir = demo_copy();
    let (mut app, store) = app_on(dir.path(), None, false);
    drive(&mut app, &store, key('j'));
    drive(&mut app, &store, key('j'));
    assert_eq!(names(&app)[picker_sel(&app)], "dynamo");
    std::fs::remove_file(dir.path().join("agg.json")).unwrap();
    drive(&mut app, &store, Action::FsChanged);
    assert_eq!(names(&app), ["broken", "dynamo", "full"]);
    assert_eq!(names(&app)[picker_sel(&app)], "dynamo");
    // A new file before it does not move it either.
    std::fs::copy(fixture("demo/agg.json"), dir.path().join("aaa.json")).unwrap();
    drive(&mut app, &store, Action::FsChanged);
    assert_eq!(names(&app)[picker_sel(&app)], "dynamo");
    // The selected one vanishing leaves the cursor in range.
    std::fs::remove_file(dir.path().join("dynamo.json")).unwrap();
    std::fs::remove_file(dir.path().join("full.json")).unwrap();
    drive(&mut app, &store, Action::FsChanged);
    assert!(picker_sel(&app) < names(&app).len());
}

/// The last `rows` screen rows (the status line) as one line of words.
fn status_text(screen: &str, rows: usize) -> String {
    let lines: Vec<&str> = screen.lines().collect();
    lines[lines.len() - rows..]
        .iter()
        .flat_map(|l| l.split_whitespace())
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn a_long_status_message_wraps_and_a_too_long_one_ends_with_an_ellipsis() {
    let mut app = reference_app(false);
    let long: String = (0..30).map(|i| format!("word{i} ")).collect::<String>() + "END";
    app.status = Some(Status {
        at: CLOCK.into(),
        severity: Severity::Error,
        text: long.clone(),
    });
    // 60 columns: the message needs 4 rows, a 40-row screen has room for 10.
    let screen = text(&render(&app, 60, 40));
    let shown = status_text(&screen, 4);
    assert!(shown.ends_with("END"), "{screen}");
    assert!(shown.contains(&long), "{shown}");
    assert!(
        !screen.lines().nth(40 - 5).unwrap().contains("word"),
        "the row above the footer holds the key hints: {screen}"
    );
    // 10 rows leave room for 2: cut, and it says so.
    let screen = text(&render(&app, 60, 10));
    let shown = status_text(&screen, 2);
    assert!(shown.ends_with('…'), "{screen}");
    assert!(!shown.contains("END"), "{screen}");
}

/// A change written to a file in a layout the writer cannot reproduce says so once, in the
/// status line.
#[test]
fn a_re_laid_out_file_is_noted_in_the_status_line() {
    let dir = demo_copy();
    let path = dir.path().join("dynamo.json");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("\"namespace\": \"dynamo\",", "\"namespace\" :  \"dynamo\",");
    std::fs::write(&path, text).unwrap();
    let (mut app, store) = app_on(dir.path(), Some("dynamo"), false);
    select_type(&mut app, "PrefillWorker");
    drive(&mut app, &store, key('a'));
    drive(&mut app, &store, code(KeyCode::Enter));
    let effects = drive(&mut app, &store, key('y'));
    let done = effects::run_blocking(&store, effects[0].clone());
    drive(&mut app, &store, done);
    let (sev, text) = status(&app);
    assert_eq!(sev, Severity::Ok);
    assert!(
        text.starts_with("Added dynamo_PrefillWorker_2 on GPU 4; note: "),
        "{text}"
    );
    assert_eq!(text.matches("re-laid out").count(), 1, "{text}");
    assert!(matches!(listing(&app), Listing::Found(_)));
}

/// 200,000 namespaces that only discovery knows (one registration each, beside the
/// state directory's): the picker's listing is joined with a set, not a search per name
/// (that was 2·10^10 comparisons). A deadline, no timing assertion.
#[test]
fn two_hundred_thousand_discovery_only_namespaces_are_listed_in_linear_time() {
    const N: usize = 200_000;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let dir = demo_copy();
        let (mut app, _store) = app_on(dir.path(), None, false);
        let before = names(&app).len();
        let names_: Vec<String> = (0..N).map(|i| format!("ns{i:06}")).collect();
        let spec: Vec<(&str, &str, &str, u64)> = names_
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), "VllmWorker", "generate", 0x1000 + i as u64))
            .collect();
        app.update(Action::InstancesChanged(Box::new(live(&spec))));
        let listed = names(&app);
        assert_eq!(listed.len(), before + N);
        assert!(listed.is_sorted(), "one sorted list");
        let _ = tx.send(());
    });
    rx.recv_timeout(Duration::from_secs(300))
        .expect("200,000 namespaces listed within 5 minutes");
}
