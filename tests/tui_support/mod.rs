//! Shared helpers for the TUI tests: apps on fixture data with an injected clock, effects
//! run synchronously, rendering to a `TestBackend`, and a small inspection API (the
//! popup stack, the top popup as each panel type, the open namespace) so that tests
//! never read `App`'s panel fields (`popups`, `screen`) themselves: a change of how
//! `App` holds its panels is a change of this file only.
#![allow(dead_code, unused_imports)]

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use dynamo_ctl::state::Store;
use dynamo_ctl::state::store::read_document;
use dynamo_ctl::tui::app::{Action, App, Current, Effect, Listing, LoadOutcome, Refresh};
use dynamo_ctl::tui::effects;
pub use dynamo_ctl::tui::panels::AnyPanel;
pub use dynamo_ctl::tui::panels::choose::Choose;
pub use dynamo_ctl::tui::panels::command::CommandBar;
pub use dynamo_ctl::tui::panels::confirm::{Confirm, ConfirmKind};
pub use dynamo_ctl::tui::panels::dashboard::Focus;
pub use dynamo_ctl::tui::panels::entry::Entry;
pub use dynamo_ctl::tui::panels::help::Help;
pub use dynamo_ctl::tui::panels::instances::Instances;
pub use dynamo_ctl::tui::panels::load::LoadView;
pub use dynamo_ctl::tui::panels::messages::Messages;
pub use dynamo_ctl::tui::panels::registration::Registration;
pub use dynamo_ctl::tui::panels::registrations::Registrations;
pub use dynamo_ctl::tui::panels::scale::ScalePrompt;
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

/// An app on `dir` after its start effects ran, as `--state-only` (the demo files name
/// arbiters that do not run: without it every change is refused).
pub fn app_on(dir: &Path, ns: Option<&str>, readonly: bool) -> (App, Store) {
    let store = Store::new(dir);
    let mut app = App::new(dir.to_path_buf(), readonly, ns.map(str::to_string))
        .with_arbiter(Some("--state-only"), Default::default());
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

/// An app on `dir` after its start effects ran, asking the files' arbiters (no
/// `--state-only`): changes go through circus, or are refused while it is offline.
pub fn app_with_circus(dir: &Path, ns: Option<&str>) -> (App, Store) {
    let store = Store::new(dir);
    let mut app = App::new(dir.to_path_buf(), false, ns.map(str::to_string));
    app.set_clock(now(), CLOCK);
    for e in app.start() {
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
    // The joined rows a frame draws are what the sources say now: a source that changed
    // without marking them stale fails every test that draws after it.
    assert!(!app.rows_stale, "drawn with stale rows");
    assert!(
        app.rows == app.join(),
        "the rows drawn are not those of the sources"
    );
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
    let i = app.visible_types().iter().position(|t| t.ty == ty).unwrap();
    set_row(app, i);
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
            .map(|(ns, comp, ep, id)| {
                let key = format!("instances/{ns}/{comp}/{ep}:{id:x}");
                let mut i = dynamo_ctl::discovery::parse::etcd_entry(
                    key.as_bytes(),
                    br#"{"transport": {"nats_tcp": "x"}}"#,
                )
                .expect("a well-formed registration");
                assert_eq!(i.layout, Layout::V03);
                i.lease = Some(*id as i64);
                i.mod_revision = Some(1);
                std::sync::Arc::new(i)
            })
            .collect::<Vec<std::sync::Arc<Instance>>>(),
        ..Default::default()
    }
}

/// The picker's selected row (the popup's, else the screen's).
pub fn picker_sel(app: &App) -> usize {
    app.picker().expect("a picker").cursor.index()
}

/// Puts the picker's cursor on row `i`.
pub fn set_picker(app: &mut App, i: usize) {
    let n = app.visible_namespaces().len();
    for p in app
        .popups
        .iter_mut()
        .rev()
        .chain(std::iter::once(&mut app.screen))
    {
        if let AnyPanel::Picker(p) = p {
            p.cursor.select_index(i, n);
            return;
        }
    }
    panic!("no picker");
}

/// Whether the picker's filter is being typed, and its text.
pub fn picker_typing(app: &App) -> bool {
    app.picker().expect("a picker").filter.typing
}

pub fn picker_filter(app: &App) -> String {
    app.picker().expect("a picker").filter.text().to_string()
}

/// The dashboard's selected row.
pub fn row(app: &App) -> usize {
    app.dashboard().expect("the dashboard").cursor.index()
}

/// Puts the dashboard's cursor on row `i`.
pub fn set_row(app: &mut App, i: usize) {
    let n = app.visible_types().len();
    match &mut app.screen {
        AnyPanel::Dashboard(d) => d.cursor.select_index(i, n),
        _ => panic!("no dashboard"),
    }
}

/// Which dashboard pane has the arrows.
pub fn focus(app: &App) -> Focus {
    app.dashboard().expect("the dashboard").focus
}

/// The first line the GPU pane and the State pane show.
pub fn gpu_offset(app: &App) -> usize {
    app.dashboard().expect("the dashboard").gpu_scroll.offset()
}

pub fn json_offset(app: &App) -> usize {
    app.dashboard().expect("the dashboard").json_scroll.offset()
}

/// The popups' scopes, bottom to top.
pub fn scopes(app: &App) -> Vec<dynamo_ctl::tui::keys::Scope> {
    app.popups.iter().map(|p| p.scope()).collect()
}

// ------------------------------------------------------------------ the popup stack

/// The top popup (the one with the keys), or `None` when the screen has the keys.
/// (`App::top` is different: it falls back to the screen.)
pub fn top_popup(app: &App) -> Option<&AnyPanel> {
    app.popups.last()
}

/// The top popup's scope, or `None` when no popup is open.
pub fn top_scope(app: &App) -> Option<dynamo_ctl::tui::keys::Scope> {
    top_popup(app).map(AnyPanel::scope)
}

/// How many popups are stacked over the screen.
pub fn popup_count(app: &App) -> usize {
    app.popups.len()
}

/// No popup is open: the screen has the keys.
pub fn no_popups(app: &App) -> bool {
    app.popups.is_empty()
}

/// The popups, bottom to top, as `Debug` text for failure messages.
pub fn popups_debug(app: &App) -> String {
    format!("{:?}", app.popups)
}

/// `fn $name(&App) -> &$ty`: the top popup as the panel `AnyPanel::$variant`; panics,
/// showing the whole popup stack, when the top popup is anything else (or there is none).
macro_rules! top_as {
    ($(#[$doc:meta])* $name:ident => $variant:ident($ty:ty)) => {
        $(#[$doc])*
        #[track_caller]
        pub fn $name(app: &App) -> &$ty {
            match top_popup(app) {
                Some(AnyPanel::$variant(p)) => p,
                _ => panic!(
                    "expected a {} popup on top; popups (bottom to top): {}",
                    stringify!($variant),
                    popups_debug(app)
                ),
            }
        }
    };
}

top_as!(
    /// The confirm dialog on top.
    confirm => Confirm(Confirm)
);
top_as!(
    /// The type chooser (`a`, `r`) on top.
    chooser => Choose(Choose)
);
top_as!(
    /// The scale-to-N prompt (`s`) on top.
    scale_prompt => ScaleInput(ScalePrompt)
);
top_as!(
    /// The command bar (`:`) on top.
    command_bar => Command(CommandBar)
);
top_as!(
    /// The help (`?`) on top.
    help => Help(Help)
);
top_as!(
    /// The message history (`M`) on top.
    messages => Messages(Messages)
);
top_as!(
    /// A type's instances (Enter on the dashboard) on top.
    instances => Instances(Instances)
);
top_as!(
    /// One state entry (Enter on an instance) on top.
    entry => Entry(Entry)
);
top_as!(
    /// The registered instances (`i`) on top.
    registrations => Live(Registrations)
);

/// The question of the confirm on top.
#[track_caller]
pub fn confirm_question(app: &App) -> &str {
    &confirm(app).question
}

/// The command bar's text and its note (completions, errors).
#[track_caller]
pub fn command_line(app: &App) -> (String, Option<String>) {
    let input = &command_bar(app).input;
    (input.value().to_string(), input.note().map(str::to_string))
}

// ------------------------------------------------------------------ what the app holds

/// The open namespace, if any.
pub fn opened(app: &App) -> Option<&Current> {
    app.current.as_ref()
}

/// The open namespace; panics when none is open.
#[track_caller]
pub fn current(app: &App) -> &Current {
    opened(app).expect("a namespace is open")
}

/// What the state directory holds.
pub fn listing(app: &App) -> &Listing {
    &app.listing
}
