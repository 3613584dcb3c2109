//! Scaling for real: add and remove as the planner does them, through the circus arbiter,
//! with the state file kept in step. One implementation for the CLI and the TUI.
//!
//! - **add**: under the state lock compute and write the new entry (so no concurrent planner
//!   takes the same name or GPU), release the lock, ask the arbiter to add and start the
//!   watcher, then wait until it runs a process. A refusal takes the entry out again.
//! - **remove**: choose the target under the lock (no write), release it, SIGTERM, wait until
//!   no process is left, `rm`, confirm with `list`, then delete or park the entry under the lock.
//!
//! The lock is never held over the network or while a process starts or stops.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::client::{ArbiterError, Client};
use super::stop::stop;
use crate::state::scale::{self, Change};
use crate::state::{Document, RuleError, StateError, Store};

/// What a change must be to go ahead, checked under the lock.
#[derive(Clone, Debug, PartialEq)]
pub enum Expect {
    Any,
    /// Only if the entry added or removed is this one (`--expect NAME`).
    Name(String),
    /// Only if the change is exactly this one (what a confirm popup stated).
    Exactly(Change),
}

impl Expect {
    pub fn name(name: Option<String>) -> Expect {
        name.map_or(Expect::Any, Expect::Name)
    }

    pub fn check(&self, actual: &Change) -> Result<(), RuleError> {
        let (ok, expected) = match self {
            Expect::Any => return Ok(()),
            Expect::Name(n) => (actual.name() == n, n.clone()),
            Expect::Exactly(c) => (c.same_effect(actual), c.to_string()),
        };
        if ok {
            Ok(())
        } else {
            Err(RuleError::Moved {
                expected,
                actual: Box::new(actual.clone()),
            })
        }
    }
}

/// How a remove ends a worker that does not stop on SIGTERM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Kill {
    /// Report the timeout; nothing is removed.
    #[default]
    Never,
    /// SIGTERM, wait the stop timeout, then SIGKILL (`--force`).
    AfterTimeout,
    /// SIGKILL at once (the TUI's second confirmation after a timeout).
    Now,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    /// How long each arbiter call waits for an answer (`--arbiter-timeout`).
    pub arbiter_timeout: Duration,
    /// How long to wait for the new watcher's process (`--start-timeout`).
    pub start_timeout: Duration,
    /// How long a worker may take to exit after SIGTERM (`--stop-timeout`).
    pub stop_timeout: Duration,
    /// Wait for the process to run / be gone (`--no-wait` turns it off).
    pub wait: bool,
    pub kill: Kill,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            arbiter_timeout: super::client::DEFAULT_TIMEOUT,
            start_timeout: Duration::from_secs(120),
            stop_timeout: Duration::from_secs(600),
            wait: true,
            kill: Kill::Never,
        }
    }
}

/// What happened to the worker process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Process {
    Started,
    Stopped,
    /// Only the file changed (no arbiter, `--state-only`, `--demo`).
    StateOnly,
    /// The process did not run within the start timeout (the entry stays).
    Timeout,
}

/// One change and what the arbiter did with it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Step {
    #[serde(flatten)]
    pub change: Change,
    pub process: Process,
    /// The worker's pids (started, or those that were stopped); null when not known.
    pub pids: Option<Vec<u32>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(skip)]
    pub elapsed: Duration,
    /// The save re-laid out a file whose layout the writer cannot reproduce (said once).
    #[serde(skip)]
    pub layout_note: Option<String>,
}

impl Step {
    /// A change made in the file only.
    fn state_only(change: Change, doc: &Document, started: Instant) -> Step {
        Step {
            change,
            process: Process::StateOnly,
            pids: None,
            note: None,
            elapsed: started.elapsed(),
            layout_note: doc.layout_note().map(str::to_string),
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.change)?;
        match (self.process, &self.pids) {
            (Process::Started, Some(p)) if !p.is_empty() => write!(f, ", running ({})", pids(p))?,
            (Process::Started, _) => write!(f, ", accepted by circus")?,
            (Process::Stopped, Some(p)) if !p.is_empty() => {
                write!(f, ", process stopped ({})", pids(p))?
            }
            (Process::Stopped, _) => {}
            (Process::StateOnly, _) => {} // the warning says so once, on stderr
            (Process::Timeout, _) => write!(f, ", but no process is running yet")?,
        }
        if let Some(n) = &self.note {
            write!(f, "; {n}")?;
        }
        Ok(())
    }
}

/// How many pids [`pids`] names before it counts the rest.
pub const PIDS_SHOWN: usize = 8;

/// "pid 4121" / "pids 4121, 4122" / "pids 1, 2, 3, 4, 5, 6, 7, 8 and 92 more": at most
/// [`PIDS_SHOWN`] named, so a line stays short whatever the arbiter lists.
/// What an entry's process is, as circus says: the CLI's `show` and the TUI's views use
/// these words (the TUI adds a mark and a colour by the kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessKind {
    /// Circus answered: it runs.
    Running,
    /// Circus answered: nothing runs for an entry that should.
    NotRunning,
    /// The type's template, parked (and, oddly, running: said too).
    Parked,
    /// Circus was not heard.
    Unknown,
}

/// "running (pid 4121)", "in the file, not running", "parked (the template)",
/// "? (circus not heard)".
pub fn process_words(parked: bool, pids: Option<&[u32]>) -> (ProcessKind, String) {
    match (parked, pids) {
        (true, Some(p)) if !p.is_empty() => (
            ProcessKind::Parked,
            format!("parked (the template), yet running ({})", self::pids(p)),
        ),
        (true, _) => (ProcessKind::Parked, "parked (the template)".into()),
        (false, None) => (ProcessKind::Unknown, "? (circus not heard)".into()),
        (false, Some([])) => (ProcessKind::NotRunning, "in the file, not running".into()),
        (false, Some(p)) => (ProcessKind::Running, format!("running ({})", self::pids(p))),
    }
}

pub fn pids(p: &[u32]) -> String {
    let list = p
        .iter()
        .take(PIDS_SHOWN)
        .map(u32::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    match p.len() {
        1 => format!("pid {list}"),
        n if n > PIDS_SHOWN => format!("pids {list} and {} more", n - PIDS_SHOWN),
        _ => format!("pids {list}"),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpError {
    #[error(transparent)]
    State(#[from] StateError),
    /// The arbiter failed before anything was written.
    #[error("{0}; the state file is unchanged")]
    Arbiter(ArbiterError),
    /// A worker kept running after SIGTERM; nothing was removed.
    #[error(
        "{name} is still running {secs} s after SIGTERM; nothing was removed (the entry and the watcher stay){hint}"
    )]
    StopTimeout {
        name: String,
        secs: u64,
        hint: &'static str,
    },
    /// A later step failed; the message names the step and what was done about it.
    #[error("{0}")]
    Step(String),
}

impl OpError {
    /// The change the file would now make, when the file moved on since it was planned.
    pub fn moved(&self) -> Option<&Change> {
        match self {
            OpError::State(StateError::Rule(RuleError::Moved { actual, .. })) => Some(actual),
            _ => None,
        }
    }
}

/// Where a change goes: through the arbiter, or into the file only.
pub enum Mode<'a> {
    Arbiter(&'a mut Client),
    StateOnly,
}

/// A progress line ("starting dynamo_VllmWorker_3 …").
pub type Progress<'a> = &'a mut dyn FnMut(&str);

/// Polls `f` until it gives `Some`, backing off from 2 ms to 200 ms, until `timeout`.
pub(super) fn poll_until<T>(
    timeout: Duration,
    mut f: impl FnMut() -> Result<Option<T>, ArbiterError>,
) -> Result<Option<T>, ArbiterError> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(2);
    loop {
        if let Some(v) = f()? {
            return Ok(Some(v));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        std::thread::sleep(pause.min(left));
        pause = (pause * 3 / 2).min(Duration::from_millis(200));
    }
}

fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 10.0 {
        format!("{s:.2} s")
    } else {
        format!("{s:.0} s")
    }
}

/// Adds one instance of `ty`.
pub fn add(
    store: &Store,
    ns: &str,
    ty: &str,
    mode: Mode<'_>,
    opts: &Options,
    expect: &Expect,
    progress: Progress<'_>,
) -> Result<(Step, Document), OpError> {
    let started = Instant::now();
    let client = match mode {
        Mode::StateOnly => {
            let (change, doc) = store.transact(ns, false, |s| {
                let c = scale::add(s, ty)?;
                expect.check(&c)?;
                Ok::<_, RuleError>(c)
            })?;
            return Ok((Step::state_only(change, &doc, started), doc));
        }
        Mode::Arbiter(c) => c,
    };
    // Reachable before anything is written.
    client.ping().map_err(OpError::Arbiter)?;
    let (change, doc) = store.transact(ns, false, |s| {
        let c = scale::add(s, ty)?;
        expect.check(&c)?;
        Ok::<_, RuleError>(c)
    })?;
    let name = change.name().to_string();
    let entry = &doc.state.components[&name];
    let env = scale::worker_env(&doc.state, change.gpus());
    progress(&format!("starting {name} …"));
    // Log files like its base watcher's (none when the base writes to circusd's stdout).
    let streams = super::streams::base_watcher(&doc.state, ty, &name)
        .map(|base| super::streams::for_new_watcher(client, &base, &name, progress))
        .unwrap_or_default();
    if let Err(e) = client.add(&name, &entry.cmd, &env, streams) {
        // Did it take anyway (an answer lost on the way)? Ask; undo only when it did not.
        let present = match &e {
            ArbiterError::Refused { .. } => Some(false),
            _ => client.has_watcher(&name).ok(),
        };
        if present != Some(true) {
            let what = match &e {
                ArbiterError::Refused { reason, .. } => format!("circus refused add: {reason}"),
                other => other.to_string(),
            };
            if present.is_none() {
                return Err(OpError::Step(format!(
                    "{what}; circus cannot say whether it added {name}: entry {name} kept in the file, check with `dynamo-ctl show {ns}`"
                )));
            }
            let undo = store.transact(ns, false, |s| {
                if s.components.get(&name).is_some_and(|c| c.cmd == entry.cmd) {
                    s.components.shift_remove(&name);
                }
                Ok::<_, RuleError>(())
            });
            return Err(OpError::Step(match undo {
                Ok(_) => format!("{what}; entry {name} taken out again"),
                Err(u) => format!(
                    "{what}; and taking entry {name} out again failed: {u} (it stays in the file, no process runs)"
                ),
            }));
        }
    }
    if !opts.wait {
        let pids = client.pids(&name).ok();
        return Ok((
            Step {
                change,
                process: Process::Started,
                pids,
                note: None,
                elapsed: started.elapsed(),
                layout_note: doc.layout_note().map(str::to_string),
            },
            doc,
        ));
    }
    let waited = poll_until(opts.start_timeout, || {
        let p = client.pids(&name)?;
        Ok((!p.is_empty()).then_some(p))
    });
    let (process, pids, note) = match waited {
        Ok(Some(p)) => {
            progress(&format!(
                "{name} running ({}) in {}",
                pids(&p),
                secs(started.elapsed())
            ));
            (Process::Started, Some(p), None)
        }
        Ok(None) => (
            Process::Timeout,
            Some(vec![]),
            Some(format!(
                "no process after {}: the watcher and the entry stay",
                secs(opts.start_timeout)
            )),
        ),
        Err(e) => (
            Process::Timeout,
            None,
            Some(format!(
                "circus accepted it, then stopped answering ({e}): the watcher and the entry stay"
            )),
        ),
    };
    Ok((
        Step {
            change,
            process,
            pids,
            note,
            elapsed: started.elapsed(),
            layout_note: doc.layout_note().map(str::to_string),
        },
        doc,
    ))
}

/// Removes one instance of `ty`: `target` names the entry, else the planner's choice (the
/// highest-numbered running one).
#[allow(clippy::too_many_arguments)]
pub fn remove(
    store: &Store,
    ns: &str,
    ty: &str,
    target: Option<&str>,
    mode: Mode<'_>,
    opts: &Options,
    expect: &Expect,
    progress: Progress<'_>,
) -> Result<(Step, Document), OpError> {
    let started = Instant::now();
    let pick = |s: &mut crate::state::State| -> Result<Change, RuleError> {
        let c = match target {
            Some(t) => scale::remove_entry(s, t)?,
            None => scale::remove(s, ty)?,
        };
        expect.check(&c)?;
        Ok(c)
    };
    let client = match mode {
        Mode::StateOnly => {
            let (change, doc) = store.transact(ns, false, pick)?;
            return Ok((Step::state_only(change, &doc, started), doc));
        }
        Mode::Arbiter(c) => c,
    };
    // Choose under the lock, write nothing yet.
    let (planned, _) = store.transact(ns, true, pick)?;
    let name = planned.name().to_string();
    let present = client.has_watcher(&name).map_err(OpError::Arbiter)?;
    let mut note = None;
    let mut stopped_pids = None;
    if present {
        let before = client.pids(&name).map_err(OpError::Arbiter)?;
        stop(client, &name, opts, &before, progress)?;
        progress(&format!("removing watcher {name} …"));
        client.rm(&name).map_err(|e| {
            OpError::Step(format!(
                "{name} stopped, but circus rm failed: {e}; its entry stays in the file"
            ))
        })?;
        let gone = poll_until(client.timeout(), || {
            Ok((!client.has_watcher(&name)?).then_some(()))
        });
        match gone {
            Ok(Some(())) => {}
            Ok(None) => {
                return Err(OpError::Step(format!(
                    "circus accepted rm {name} but still lists it; its entry stays in the file"
                )));
            }
            Err(e) => {
                return Err(OpError::Step(format!(
                    "{name} stopped and removed, but circus stopped answering ({e}) before it could be confirmed; its entry stays in the file"
                )));
            }
        }
        stopped_pids = Some(before);
    } else {
        note = Some(format!("circus had no watcher {name}"));
    }
    // Now the file: exactly that entry, whatever the highest suffix is by now.
    let res = store.transact(ns, false, |s| scale::remove_entry(s, &name));
    let (change, doc) = match res {
        Ok(r) => r,
        Err(StateError::Rule(RuleError::NoSuchEntry { .. })) => {
            let doc = store.load(ns)?;
            note = Some(format!("{name} was already gone from the state file"));
            (planned, doc)
        }
        Err(e) => {
            return Err(OpError::Step(format!(
                "{name} was stopped and removed from circus, but the state file could not be updated: {e}"
            )));
        }
    };
    progress(&format!("{name} gone in {}", secs(started.elapsed())));
    Ok((
        Step {
            change,
            process: Process::Stopped,
            pids: stopped_pids,
            note,
            elapsed: started.elapsed(),
            layout_note: doc.layout_note().map(str::to_string),
        },
        doc,
    ))
}

/// Adds or removes until `replicas` run: in the file in one transaction when state-only,
/// else one arbiter-backed step at a time, stopping at the first failure. Returns the steps
/// done and the failure, if any.
pub fn scale(
    store: &Store,
    ns: &str,
    ty: &str,
    replicas: usize,
    mode: Mode<'_>,
    opts: &Options,
    progress: Progress<'_>,
) -> (Vec<Step>, Option<OpError>) {
    let client = match mode {
        Mode::StateOnly => {
            let started = Instant::now();
            return match store.transact(ns, false, |s| scale::scale(s, ty, replicas)) {
                Ok((changes, doc)) => (
                    changes
                        .into_iter()
                        .enumerate()
                        .map(|(i, change)| Step {
                            change,
                            process: Process::StateOnly,
                            pids: None,
                            note: None,
                            elapsed: started.elapsed(),
                            layout_note: doc.layout_note().filter(|_| i == 0).map(str::to_string),
                        })
                        .collect(),
                    None,
                ),
                Err(e) => (vec![], Some(e.into())),
            };
        }
        Mode::Arbiter(c) => c,
    };
    // Plan the whole way on a copy first: an unknown type or too few GPUs fails before any
    // process is touched.
    let plan = match store.load(ns) {
        Ok(doc) => scale::scale(&mut doc.state.clone(), ty, replicas),
        Err(e) => return (vec![], Some(e.into())),
    };
    let mut budget = match plan {
        Ok(changes) => changes.len() + 8,
        Err(e) => return (vec![], Some(StateError::from(e).into())),
    };
    let mut steps = Vec::new();
    loop {
        // Each step re-reads the file; the budget keeps a file that another writer keeps
        // moving from looping forever.
        let running = match store.load(ns) {
            Ok(doc) => scale::summarize(&doc.state).running(ty),
            Err(e) => return (steps, Some(e.into())),
        };
        if running == replicas {
            return (steps, None);
        }
        if budget == 0 {
            return (
                steps,
                Some(OpError::Step(format!(
                    "the state file keeps changing under us: {running} {ty} running, {replicas} wanted; stopped"
                ))),
            );
        }
        budget -= 1;
        let res = if running < replicas {
            add(
                store,
                ns,
                ty,
                Mode::Arbiter(client),
                opts,
                &Expect::Any,
                progress,
            )
        } else {
            remove(
                store,
                ns,
                ty,
                None,
                Mode::Arbiter(client),
                opts,
                &Expect::Any,
                progress,
            )
        };
        match res {
            Ok((step, _)) => {
                let timed_out = step.process == Process::Timeout;
                let name = step.change.name().to_string();
                steps.push(step);
                if timed_out {
                    return (
                        steps,
                        Some(OpError::Step(format!(
                            "{name} did not start within {}",
                            secs(opts.start_timeout)
                        ))),
                    );
                }
            }
            Err(e) => return (steps, Some(e)),
        }
    }
}
