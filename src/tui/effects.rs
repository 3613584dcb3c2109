//! Running effects: each is blocking file work done on tokio's blocking pool, reported back
//! to the event loop as an [`Action`]. The `*_blocking` functions are what tests call.

use std::time::SystemTime;

use tokio::sync::mpsc::UnboundedSender;

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use super::app::{
    Action, Effect, Intent, Listing, LoadOutcome, LogNews, NsInfo, Refresh, Route, ScaleFailure,
};
use super::panels::logs::LogHandle;
use crate::arbiter::{ArbiterError, Client, Expect, Mode, OpError, Step, Watcher, ops};
use crate::state::{Change, Document, StateError, Store};

/// Lists the directory and reads `ns` (if any).
pub fn refresh_blocking(store: &Store, ns: Option<&str>) -> Refresh {
    // The open namespace's document comes from the listing's read of it: a 100 MB file is
    // read and parsed once per refresh, not twice (and never held twice).
    let mut open = None;
    // One document at a time: each is summarized as it is read (a directory of big
    // files never holds them all).
    let listing = match store.list_with(|e| {
        let info = NsInfo::from_entry(&e);
        if Some(e.name.as_str()) == ns
            && let Ok(doc) = e.doc
        {
            open = Some((doc, e.modified));
        }
        info
    }) {
        Ok(infos) => Listing::Found(infos),
        Err(StateError::DirMissing { .. }) => Listing::Missing,
        Err(e) => Listing::Error(e.to_string()),
    };
    let ns = ns.map(|name| {
        if let Some((doc, modified)) = open {
            return (
                name.to_string(),
                LoadOutcome::Loaded(Box::new(doc), modified),
            );
        }
        let outcome = match store.load(name) {
            Ok(doc) => LoadOutcome::Loaded(Box::new(doc), modified(store, name)),
            Err(StateError::NotFound { path, .. }) => {
                LoadOutcome::Gone(format!("there is no {}", path.display()))
            }
            Err(StateError::DirMissing { dir }) => {
                LoadOutcome::Gone(format!("the state directory {} is gone", dir.display()))
            }
            Err(e) => LoadOutcome::Broken(e.to_string()),
        };
        (name.to_string(), outcome)
    });
    Refresh { listing, ns }
}

fn modified(store: &Store, ns: &str) -> Option<SystemTime> {
    let path = store.path_for(ns).ok()?;
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

/// The confirmed plan, exactly: each change through the arbiter when the intent routes
/// there (the process starts or stops), else in the file only, each checked under the lock
/// against what was confirmed; `progress` gets a line per step. Stops at the first failure.
#[allow(clippy::result_large_err)] // once per confirmed change
pub fn scale_blocking(
    store: &Store,
    intent: &Intent,
    progress: &mut dyn FnMut(&str),
) -> Result<(Vec<Step>, Document, Option<SystemTime>), ScaleFailure> {
    let fail = |message: String, done: usize| ScaleFailure {
        message,
        moved: None,
        stop_timeout: false,
        done,
    };
    let mut client = match &intent.route {
        Route::Arbiter { endpoint } => Some(
            Client::new(endpoint, intent.opts.arbiter_timeout)
                .map_err(|e| fail(e.to_string(), 0))?,
        ),
        Route::FileOnly(_) => None,
    };
    let ty = intent.ty.as_str();
    let total = intent.plan.len();
    let mut steps = Vec::new();
    let mut last_doc = None;
    for (i, change) in intent.plan.iter().enumerate() {
        let mode = match client.as_mut() {
            Some(c) => Mode::Arbiter(c),
            None => Mode::StateOnly,
        };
        let expect = Expect::Exactly(change.clone());
        // The rule's choice, checked against what was confirmed (a different target is
        // `Moved`, and the confirm reopens with it).
        let res = match change {
            Change::Added { .. } => {
                ops::add(store, &intent.ns, ty, mode, &intent.opts, &expect, progress)
            }
            Change::Removed { .. } => ops::remove(
                store,
                &intent.ns,
                ty,
                intent.target.as_deref(),
                mode,
                &intent.opts,
                &expect,
                progress,
            ),
        };
        match res {
            Ok((step, doc)) => {
                steps.push(step);
                last_doc = Some(doc);
            }
            Err(e) => {
                let after = if i > 0 {
                    format!("after {i} of {total} changes: ")
                } else {
                    String::new()
                };
                return Err(ScaleFailure {
                    message: format!("{after}{e}"),
                    moved: e.moved().cloned(),
                    stop_timeout: matches!(e, OpError::StopTimeout { .. }),
                    done: i,
                });
            }
        }
    }
    let doc = last_doc.ok_or_else(|| fail("nothing to do".into(), 0))?;
    Ok((steps, doc, modified(store, &intent.ns)))
}

/// How long a 2-second poll waits for the arbiter: a dead one shows as offline within one
/// poll (a socket that timed out is rebuilt, and the next connect is refused at once).
pub const POLL_TIMEOUT: Duration = Duration::from_secs(2);

/// One client per endpoint for the 2 s polls, kept between them (changes use their own, so
/// a long stop never delays a poll).
fn poll_arbiter(ns: &str, endpoint: &str) -> Result<Vec<Watcher>, String> {
    static POOL: OnceLock<Mutex<HashMap<String, Client>>> = OnceLock::new();
    let mut pool = POOL
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if !pool.contains_key(endpoint) {
        let c = Client::new(endpoint, POLL_TIMEOUT).map_err(|e| e.to_string())?;
        pool.insert(endpoint.to_string(), c);
    }
    let c = pool.get_mut(endpoint).expect("just inserted");
    let l = c.watchers_of(ns).map_err(|e| match e {
        ArbiterError::Unreachable { reason, .. } => reason,
        e => e.to_string(),
    })?;
    // Pids missing (the poll's budget ran out): said, rather than shown as not running.
    match l.incomplete {
        Some(why) if !l.unknown.is_empty() => Err(why),
        _ => Ok(l.watchers),
    }
}

/// How long a log panel's follower gathers file events before it reads: at most one batch
/// (and one frame) per this, whatever the rate of lines.
const LOG_COALESCE: Duration = Duration::from_millis(40);

/// [`Effect::LogOpen`]: asks the arbiter where the watchers write, reads the last lines,
/// and (given `tx`) follows the files for the panel, sending it the news; without `tx` the
/// answer is returned (a one-shot read, for tests).
fn open_logs(
    id: u64,
    endpoint: &str,
    watchers: &[String],
    lines: usize,
    timeout: Duration,
    tx: Option<&UnboundedSender<Action>>,
) -> Option<Action> {
    use crate::logs::{self, Batch, Stream, TUI_LINE_CAP, Tail};
    let news = |news| Action::Log { id, news };
    let mut client = match Client::new(endpoint, timeout) {
        Ok(c) => c,
        Err(e) => return Some(news(LogNews::Failed(e.to_string()))),
    };
    let sources = match logs::resolve(&mut client, watchers, &[Stream::Stdout, Stream::Stderr]) {
        Ok(s) => s,
        Err(e) => {
            return Some(news(LogNews::Failed(format!(
                "{e}: cannot ask it where the logs are"
            ))));
        }
    };
    let mut first = Batch::default();
    let mut tails = Vec::new();
    let mut index = Vec::new();
    for (i, s) in sources.iter().enumerate() {
        let Ok(path) = &s.file else { continue };
        let (tail, got, note) = Tail::open(path, lines, TUI_LINE_CAP);
        first.lines.extend(got.into_iter().map(|l| (i, l)));
        first.notes.extend(note.map(|n| (i, n)));
        tails.push(tail);
        index.push(i);
    }
    let handle = LogHandle::default();
    let opened = news(LogNews::Opened {
        sources,
        first,
        handle: handle.clone(),
    });
    let Some(tx) = tx else { return Some(opened) };
    // The panel gets its sources before any new line.
    let _ = tx.send(opened);
    if !tails.is_empty() && handle.wanted() {
        let tx = tx.clone();
        let f = logs::follow(
            tails,
            logs::Options::from_env(LOG_COALESCE),
            move |mut b| {
                for (i, _) in b.lines.iter_mut() {
                    *i = index[*i];
                }
                for (i, _) in b.notes.iter_mut() {
                    *i = index[*i];
                }
                tx.send(Action::Log {
                    id,
                    news: LogNews::Lines(b),
                })
                .is_ok()
            },
        );
        handle.set(f);
    }
    None
}

pub fn run_blocking(store: &Store, effect: Effect) -> Action {
    run_blocking_with(store, effect, &mut |_| {})
}

/// Runs `effect`; a scale reports its progress lines to `progress`.
pub fn run_blocking_with(store: &Store, effect: Effect, progress: &mut dyn FnMut(&str)) -> Action {
    match effect {
        Effect::Refresh { ns } => Action::Refreshed(refresh_blocking(store, ns.as_deref())),
        Effect::Scale(intent) => {
            let result = scale_blocking(store, &intent, progress);
            Action::ScaleDone { intent, result }
        }
        Effect::ArbiterPoll { ns, endpoint } => {
            let result = poll_arbiter(&ns, &endpoint);
            Action::ArbiterSeen {
                ns,
                endpoint,
                result,
            }
        }
        // The metrics task (`spawn_metrics`) runs these with its collector; here there is
        // none: a round of no source.
        Effect::MetricsPoll { ns } => Action::MetricsSeen {
            ns,
            metrics: Box::new(crate::metrics::Metrics::none()),
        },
        Effect::MetricsHistory { ns, component } => Action::MetricsHistory {
            ns,
            component,
            points: None,
        },
        // Only the loop has the terminal: without one there is no clipboard.
        Effect::Copy(_) => Action::Resize,
        Effect::LogOpen {
            id,
            endpoint,
            watchers,
            lines,
            timeout,
        } => open_logs(id, &endpoint, &watchers, lines, timeout, None)
            .expect("without a sender the answer is returned"),
    }
}

/// The metrics task: owns the collector (it keeps the previous scrapes for rates), runs
/// one request at a time, answers on `tx`. Returns where to send [`Effect::MetricsPoll`]
/// and [`Effect::MetricsHistory`]. It runs on its own thread with its own runtime, so
/// nothing it does (waiting on a slow source, reading a large page, merging) can ever
/// delay a key: the keys' runtime never polls it. It ends when the returned sender is
/// dropped.
pub fn spawn_metrics(
    cfg: crate::metrics::Config,
    tx: &UnboundedSender<Action>,
) -> UnboundedSender<Effect> {
    let (etx, erx) = tokio::sync::mpsc::unbounded_channel::<Effect>();
    let tx = tx.clone();
    let task = metrics_task(cfg, erx, tx);
    // Without a thread to be had, the task is dropped: no metrics, never a panic.
    let _ = std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(task),
                // No runtime: the task (and its receiver) is dropped, polls go nowhere.
                Err(_) => drop(task),
            }
        });
    etx
}

async fn metrics_task(
    cfg: crate::metrics::Config,
    mut erx: tokio::sync::mpsc::UnboundedReceiver<Effect>,
    tx: UnboundedSender<Action>,
) {
    let mut c = crate::metrics::Collector::new(cfg);
    while let Some(e) = erx.recv().await {
        let action = match e {
            Effect::MetricsPoll { ns } => Action::MetricsSeen {
                metrics: Box::new(c.poll(Some(&ns)).await),
                ns,
            },
            Effect::MetricsHistory { ns, component } => Action::MetricsHistory {
                points: c.history(&ns, &component, 15).await,
                ns,
                component,
            },
            _ => continue,
        };
        if tx.send(action).is_err() {
            return;
        }
    }
}

/// Starts `effect` on the blocking pool; its result (and a scale's progress) comes back on
/// `tx`.
pub fn spawn(effect: Effect, store: &Store, tx: &UnboundedSender<Action>) {
    let store = store.clone();
    let tx = tx.clone();
    if let Effect::LogOpen {
        id,
        endpoint,
        watchers,
        lines,
        timeout,
    } = effect
    {
        tokio::task::spawn_blocking(move || {
            if let Some(a) = open_logs(id, &endpoint, &watchers, lines, timeout, Some(&tx)) {
                let _ = tx.send(a);
            }
        });
        return;
    }
    tokio::task::spawn_blocking(move || {
        let ptx = tx.clone();
        let action = run_blocking_with(&store, effect, &mut |line| {
            let _ = ptx.send(Action::ScaleProgress(line.to_string()));
        });
        let _ = tx.send(action);
    });
}
