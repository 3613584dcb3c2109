//! The terminal UI: `dynamo-ctl` with no subcommand.
//!
//! Shape: sources (terminal keys, the state-dir watcher, finished effects, a spinner timer
//! that runs only while work runs, and a 30 s timer for the "modified 3m ago" ages) send
//! [`app::Action`]s; the pure [`app::App::update`] turns them into state and
//! [`app::Effect`]s, which run on tokio's blocking pool and come back as actions. The
//! screen is drawn after each action, never on a fixed tick.

pub mod action;
pub mod app;
pub mod data;
pub mod effects;
pub mod hangup;
pub mod keys;
pub mod live;
pub mod load;
pub mod panels;
pub mod theme;
pub mod ui;
pub mod watch;
pub mod widgets;

use std::io::{IsTerminal, Write};
use std::time::{Duration, SystemTime};

use crossterm::event::{Event, EventStream, KeyEventKind};
use futures_util::StreamExt;
use ratatui::DefaultTerminal;
use tokio::sync::mpsc;
use tokio::time::{Instant, MissedTickBehavior};

use crate::args::Global;
use crate::state::Store;
use app::{Action, App, Effect};
use theme::{ColorMode, Theme};

const SPIN_EVERY: Duration = Duration::from_millis(80);
const AGE_EVERY: Duration = Duration::from_secs(30);
/// How often the arbiter is asked while a namespace with one is open (never otherwise).
const ARBITER_EVERY: Duration = Duration::from_secs(2);

/// The message printed instead of drawing when stdout is not a terminal.
pub const NOT_A_TTY: &str = "dynamo-ctl: the terminal UI needs a terminal (stdout is not a TTY).
For scripts use the subcommands:
  dynamo-ctl list                      namespaces with instance counts
  dynamo-ctl show NS                   one namespace: components, watchers, GPUs
  dynamo-ctl add NS TYPE               add one instance (e.g. VllmWorker)
  dynamo-ctl remove NS TYPE            remove the highest-numbered instance
  dynamo-ctl scale NS TYPE --replicas N
(add -o json for machine-readable output; see dynamo-ctl --help)";

pub fn run(g: &Global, store: Store, cfg: &crate::config::Config) -> i32 {
    let trace = Trace::from_env();
    trace.mark("start");
    if !std::io::stdout().is_terminal() {
        eprintln!("{NOT_A_TTY}");
        return 2;
    }
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(4)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("dynamo-ctl: cannot start the runtime: {e}");
            return 1;
        }
    };
    let theme = Theme::new(ColorMode::from_env()).with_overrides(&cfg.theme);
    // Rebindings from the config (checked when it was read).
    if let Ok(map) = cfg.keymap()
        && let Err((action, e)) = keys::set_overrides(&map)
    {
        eprintln!("dynamo-ctl: config: keys.{action}: {e}");
        return 2;
    }
    let arbiter_every = g
        .refresh
        .or(cfg.refresh)
        .map_or(ARBITER_EVERY, |s| Duration::from_secs_f64(s.max(0.5)));
    let metrics = match crate::metrics::Config::from_global(g) {
        Ok(m) => m,
        Err(e) => {
            eprintln!("dynamo-ctl: {}", crate::text::safe(&e.to_string()));
            return 2;
        }
    };
    let mut opts = g.scale_options();
    opts.wait = true;
    let mut app = App::new(store.dir().to_path_buf(), g.readonly, g.namespace.clone())
        .with_arbiter(g.file_only_reason(), opts);
    app.load.on = !metrics.is_empty();
    app.load.prometheus = metrics.prometheus.is_some();
    app.load.thresholds = cfg.thresholds();
    app.log_lines = cfg.log_lines.unwrap_or(crate::logs::DEFAULT_LINES);
    hangup::save_modes();
    // ratatui's init installs a panic hook that restores the terminal first.
    let mut terminal = match ratatui::try_init() {
        Ok(t) => t,
        Err(e) => {
            ratatui::restore();
            eprintln!("dynamo-ctl: cannot set up the terminal: {e}");
            return 1;
        }
    };
    let guard = RestoreGuard;
    // ratatui's hook restores the terminal and prints the panic; then end the process even
    // when the panic was on a background thread (watcher, effect), which would otherwise
    // leave the UI running on a restored terminal.
    let restore_and_report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_and_report(info);
        std::process::exit(101);
    }));
    let code = rt.block_on(event_loop(
        &mut terminal,
        &mut app,
        &store,
        &theme,
        &trace,
        arbiter_every,
        &{
            // The TUI coalesces less than the default (50 ms): a put shows sooner.
            let mut d = crate::discovery::Config::from_args(g);
            d.coalesce = Duration::from_millis(10);
            d
        },
        metrics,
    ));
    drop(terminal);
    drop(guard);
    // A change still waiting for its lock is abandoned: nothing was written yet, and the
    // write itself is an atomic rename.
    rt.shutdown_background();
    code
}

/// Restores the terminal on every way out of `run` (the panic hook covers panics).
struct RestoreGuard;

impl Drop for RestoreGuard {
    fn drop(&mut self) {
        ratatui::restore();
        let _ = crossterm::execute!(std::io::stdout(), crossterm::cursor::Show);
    }
}

fn clock() -> (SystemTime, String) {
    (
        SystemTime::now(),
        chrono::Local::now().format("%H:%M:%S").to_string(),
    )
}

#[allow(clippy::too_many_arguments)] // the loop's inputs, each used once
async fn event_loop(
    terminal: &mut DefaultTerminal,
    app: &mut App,
    store: &Store,
    theme: &Theme,
    trace: &Trace,
    arbiter_every: Duration,
    discovery: &crate::discovery::Config,
    metrics: crate::metrics::Config,
) -> i32 {
    let (tx, mut rx) = mpsc::unbounded_channel::<Action>();
    app.awaiting_discovery = discovery.any();
    // The metrics task, only with a source configured (no source: no polls at all).
    let metrics_tx = (!metrics.is_empty()).then(|| effects::spawn_metrics(metrics, &tx));
    let mut next_metrics: Option<Instant> = None;
    watch::spawn(store.dir().to_path_buf(), tx.clone());
    hangup::spawn(tx.clone());
    // Discovery's live view, when a source is on; it lives as long as the loop.
    let _discovery = discovery.any().then(|| {
        let tx = tx.clone();
        crate::discovery::spawn_watch(discovery.clone(), move |snap| {
            let _ = tx.send(Action::InstancesChanged(Box::new(snap)));
        })
    });
    let banner = ui::banner();
    let mut events = EventStream::new();
    let (now, label) = clock();
    app.set_clock(now, label);
    for e in app.start() {
        effects::spawn(e, store, &tx);
    }
    let mut spin = 0usize;
    let mut next_spin = Instant::now() + SPIN_EVERY;
    let mut ages = tokio::time::interval_at(Instant::now() + AGE_EVERY, AGE_EVERY);
    ages.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut first = true;
    let mut signals = QuitSignals::new();
    // The next arbiter poll; None while no namespace with an arbiter is open.
    let mut next_arbiter: Option<Instant> = None;
    // False after actions that changed nothing on screen (an arbiter poll with the same
    // answer): no frame is drawn for them.
    let mut redraw = true;
    loop {
        let view = ui::View {
            theme,
            banner: &banner,
            spin,
        };
        if redraw && let Err(e) = terminal.draw(|f| ui::draw(f, app, &view)) {
            return fail(&format!("cannot draw: {e}"));
        }
        if redraw {
            trace.mark("frame");
        }
        // The first frame that shows the loaded data (not the "reading…" placeholder).
        if redraw && first && !app.busy() {
            trace.mark("first-complete-frame");
            first = false;
        }
        let busy = app.busy() || app.following().is_some();
        // The live view's next change by time alone (a flash ends, a follow times out).
        let wake = app
            .next_wake()
            .map(|at| Instant::now() + at.duration_since(SystemTime::now()).unwrap_or_default());
        let action = tokio::select! {
            ev = events.next() => match ev {
                Some(Ok(Event::Key(k))) if k.kind != KeyEventKind::Release => {
                    trace.mark("key");
                    #[cfg(debug_assertions)]
                    test_panic(&k);
                    Action::Key(k)
                }
                Some(Ok(Event::Resize(..))) => Action::Resize,
                Some(Ok(_)) => continue,
                Some(Err(e)) => return fail(&format!("cannot read the terminal: {e}")),
                None => return 0,
            },
            Some(a) = rx.recv() => a,
            _ = tokio::time::sleep_until(next_spin), if busy => {
                next_spin = Instant::now() + SPIN_EVERY;
                spin = spin.wrapping_add(1);
                Action::SpinnerTick
            }
            _ = ages.tick() => Action::AgeTick,
            _ = tokio::time::sleep_until(next_metrics.unwrap_or_else(Instant::now)), if next_metrics.is_some() => {
                next_metrics = Some(Instant::now() + arbiter_every);
                Action::MetricsTick
            }
            _ = tokio::time::sleep_until(wake.unwrap_or_else(Instant::now)), if wake.is_some() => {
                Action::LiveTick
            }
            _ = tokio::time::sleep_until(next_arbiter.unwrap_or_else(Instant::now)), if next_arbiter.is_some() => {
                next_arbiter = Some(Instant::now() + arbiter_every);
                Action::ArbiterTick
            }
            code = signals.recv() => return code,
        };
        if matches!(action, Action::Hangup) {
            // No terminal to draw on or restore.
            return 128 + libc::SIGHUP;
        }
        if !busy {
            next_spin = Instant::now() + SPIN_EVERY;
        }
        match &action {
            Action::InstancesChanged(_) => trace.mark("instances"),
            Action::MetricsSeen { .. } => trace.mark("metrics-seen"),
            Action::Log { .. } => trace.mark("log"),
            _ => {}
        }
        let mut actions = vec![action];
        // Take whatever else is queued so one frame shows it all.
        while let Ok(a) = rx.try_recv() {
            actions.push(a);
        }
        redraw = false;
        for a in actions {
            let (now, label) = clock();
            app.set_clock(now, label);
            for e in app.update(a) {
                match (e, &metrics_tx) {
                    (e @ (Effect::MetricsPoll { .. } | Effect::MetricsHistory { .. }), Some(m)) => {
                        trace.mark("metrics-asked");
                        let _ = m.send(e);
                    }
                    (Effect::Copy(text), _) => {
                        use std::io::Write;
                        let w = terminal.backend_mut();
                        let seq = crate::text::osc52(&text);
                        if let Err(e) = w.write_all(seq.as_bytes()).and_then(|()| w.flush()) {
                            app.say(
                                crate::tui::data::Severity::Error,
                                format!("cannot copy: {e}"),
                            );
                        }
                    }
                    (e, _) => effects::spawn(e, store, &tx),
                }
            }
            redraw |= !app.unchanged;
        }
        if app.quit {
            return 0;
        }
        // Metrics: at once when a namespace opens, then every --refresh.
        match (app.wants_metrics(), next_metrics) {
            (true, None) => next_metrics = Some(Instant::now()),
            (false, Some(_)) => next_metrics = None,
            _ => {}
        }
        // Ask at once when a namespace with an arbiter opens, then every 2 s.
        match (app.wants_arbiter(), next_arbiter) {
            (true, None) => next_arbiter = Some(Instant::now()),
            (false, Some(_)) => next_arbiter = None,
            _ => {}
        }
    }
}

/// SIGTERM, SIGHUP and SIGINT, registered up front so the terminal is restored when the
/// session is killed or closed; `recv` gives the conventional exit code (128 + signal).
struct QuitSignals(Option<[tokio::signal::unix::Signal; 3]>);

impl QuitSignals {
    fn new() -> QuitSignals {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::hangup()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(t), Ok(h), Ok(i)) => QuitSignals(Some([t, h, i])),
            _ => QuitSignals(None),
        }
    }

    async fn recv(&mut self) -> i32 {
        let Some([term, hup, int]) = &mut self.0 else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => 128 + 15,
            _ = hup.recv() => 128 + 1,
            _ = int.recv() => 128 + 2,
        }
    }
}

/// Debug builds only, for the end-to-end tests of the panic path:
/// `DYNAMO_CTL_PANIC_ON_KEY=X` panics when X is pressed, `thread:X` on another thread,
/// `freeze:X` blocks the UI thread for 60 s.
#[cfg(debug_assertions)]
fn test_panic(k: &crossterm::event::KeyEvent) {
    let Ok(spec) = std::env::var("DYNAMO_CTL_PANIC_ON_KEY") else {
        return;
    };
    let (mode, key) = match spec.split_once(':') {
        Some((mode, rest)) => (mode.to_string(), rest.to_string()),
        None => (String::new(), spec),
    };
    if k.code != crossterm::event::KeyCode::Char(key.chars().next().unwrap_or('\0')) {
        return;
    }
    if mode == "freeze" {
        // The UI thread stuck for a minute, for the tests of quitting while it is.
        std::thread::sleep(Duration::from_secs(60));
        return;
    }
    if mode == "thread" {
        std::thread::spawn(|| panic!("test panic on a background thread"));
    } else {
        panic!("test panic on the UI thread");
    }
}

fn fail(msg: &str) -> i32 {
    ratatui::restore();
    eprintln!("dynamo-ctl: {msg}");
    1
}

/// `DYNAMO_CTL_TRACE=path`: append `<event> <unix time in µs>` lines (start, frame,
/// first-complete-frame, key, log: news for a log panel) for `scripts/measure-tui.sh` and
/// `scripts/measure-logs.sh`.
struct Trace(Option<std::sync::Mutex<std::fs::File>>);

impl Trace {
    fn from_env() -> Trace {
        let file = std::env::var_os("DYNAMO_CTL_TRACE").and_then(|p| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .ok()
        });
        Trace(file.map(std::sync::Mutex::new))
    }

    fn mark(&self, what: &str) {
        if let Some(f) = &self.0 {
            let us = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| d.as_micros())
                .unwrap_or(0);
            if let Ok(mut f) = f.lock() {
                let _ = writeln!(f, "{what} {us}");
            }
        }
    }
}
