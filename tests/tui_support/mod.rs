//! Shared helpers for the TUI tests: apps on fixture data with an injected clock, effects
//! run synchronously, rendering to a `TestBackend`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use dynamo_ctl::state::Store;
use dynamo_ctl::state::store::read_document;
use dynamo_ctl::tui::app::{Action, App, Effect, Listing, LoadOutcome, Refresh};
use dynamo_ctl::tui::effects;
use dynamo_ctl::tui::theme::{ColorMode, Theme};
use dynamo_ctl::tui::ui;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;

/// The injected "now" of every test: 2027-01-15 08:00:00 UTC.
pub const NOW_SECS: u64 = 1_800_000_000;
pub const CLOCK: &str = "12:00:00";

pub fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(NOW_SECS)
}

/// Three minutes before [`now`].
pub fn three_min_ago() -> SystemTime {
    now() - Duration::from_secs(180)
}

pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

/// A temp dir holding copies of fixtures/demo/*.json.
pub fn demo_copy() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    for f in ["dynamo.json", "agg.json", "full.json", "broken.json"] {
        std::fs::copy(fixture("demo").join(f), d.path().join(f)).expect("copy fixture");
    }
    d
}

pub fn key(c: char) -> Action {
    Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

pub fn code(c: KeyCode) -> Action {
    Action::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

pub fn ctrl(c: char) -> Action {
    Action::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL))
}

/// Applies `action`, runs the effects it asks for synchronously (Refresh only; Scale
/// effects are returned to the caller), and pins file ages to "3m ago".
pub fn drive(app: &mut App, store: &Store, action: Action) -> Vec<Effect> {
    let mut queue = app.update(action);
    let mut left = Vec::new();
    while let Some(e) = queue.pop() {
        match e {
            Effect::Refresh { .. } => {
                let a = effects::run_blocking(store, e);
                queue.extend(app.update(a));
            }
            other => left.push(other),
        }
    }
    pin_ages(app);
    left
}

pub fn pin_ages(app: &mut App) {
    if let Listing::Found(list) = &mut app.listing {
        for n in list {
            n.modified = Some(three_min_ago());
        }
    }
    if let Some(c) = &mut app.current {
        c.modified = Some(three_min_ago());
    }
}

/// An app on `dir` after its start effects ran.
pub fn app_on(dir: &Path, ns: Option<&str>, readonly: bool) -> (App, Store) {
    let store = Store::new(dir);
    let mut app = App::new(dir.to_path_buf(), readonly, ns.map(str::to_string));
    app.set_clock(now(), CLOCK);
    let effects = app.start();
    for e in effects {
        let a = effects::run_blocking(&store, e);
        let more = app.update(a);
        assert!(more.is_empty(), "start must settle: {more:?}");
    }
    pin_ages(&mut app);
    (app, store)
}

/// The dashboard on the reference file (`fixtures/reference/after-planner-add.json`) as
/// namespace `dynamo` in `/home/op/.dynamo/state`.
pub fn reference_app(readonly: bool) -> App {
    let dir = PathBuf::from("/home/op/.dynamo/state");
    let mut app = App::new(dir, readonly, Some("dynamo".into()));
    app.set_clock(now(), CLOCK);
    let _ = app.start();
    let doc = read_document(&fixture("reference/after-planner-add.json")).expect("reference");
    let effects = app.update(Action::Refreshed(Refresh {
        listing: Listing::Found(vec![]),
        ns: Some((
            "dynamo".into(),
            LoadOutcome::Loaded(Box::new(doc), Some(three_min_ago())),
        )),
    }));
    assert!(effects.is_empty());
    app
}

pub fn render_with(app: &App, w: u16, h: u16, mode: ColorMode) -> Buffer {
    let theme = Theme::new(mode);
    let banner = ui::banner();
    let view = ui::View {
        theme: &theme,
        banner: &banner,
        spin: 0,
    };
    let mut term = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
    term.draw(|f| ui::draw(f, app, &view)).expect("draw");
    term.backend().buffer().clone()
}

pub fn render(app: &App, w: u16, h: u16) -> Buffer {
    render_with(app, w, h, ColorMode::TrueColor)
}

/// The buffer as text, one line per row, trailing spaces kept.
pub fn text(buf: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            out.push_str(buf[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}

/// The (x, y) of the first cell of `needle`; the row text must be one cell per char.
pub fn find(buf: &Buffer, needle: &str) -> Option<(u16, u16)> {
    for y in 0..buf.area.height {
        let cells: Vec<&str> = (0..buf.area.width).map(|x| buf[(x, y)].symbol()).collect();
        let row: String = cells
            .iter()
            .map(|s| s.chars().next().unwrap_or(' '))
            .collect();
        if let Some(byte) = row.find(needle) {
            let x = row[..byte].chars().count() as u16;
            return Some((x, y));
        }
    }
    None
}

/// Selects the table row of component type `ty` on the dashboard.
pub fn select_type(app: &mut App, ty: &str) {
    app.table_selected = app
        .current
        .as_ref()
        .unwrap()
        .summary
        .types
        .iter()
        .position(|t| t.ty == ty)
        .unwrap();
}

/// A discovery snapshot from one answering etcd with these (namespace, component,
/// endpoint, instance id) registrations.
pub fn live(instances: &[(&str, &str, &str, u64)]) -> dynamo_ctl::discovery::Snapshot {
    use dynamo_ctl::discovery::{Instance, Layout, Snapshot, SourceKind, SourceStatus, Status};
    Snapshot {
        sources: vec![SourceStatus {
            kind: SourceKind::Etcd,
            location: "http://127.0.0.1:2379".into(),
            status: Status::Ok,
            error: None,
            resyncs: 0,
        }],
        instances: instances
            .iter()
            .map(|(ns, comp, ep, id)| Instance {
                namespace: ns.to_string(),
                component: comp.to_string(),
                endpoint: ep.to_string(),
                instance_id: *id,
                transport: serde_json::json!({"nats_tcp": "x"}),
                source: SourceKind::Etcd,
                layout: Layout::V03,
                stale: false,
                key: format!("instances/{ns}/{comp}/{ep}:{id:x}"),
                lease: Some(*id as i64),
                mod_revision: Some(1),
                modified: None,
                value: Default::default(),
            })
            .collect(),
        malformed: vec![],
        malformed_count: 0,
    }
}
