//! What flows through the TUI: [`Action`]s (a key, a finished effect, a change on disk, a
//! timer) come in; [`Effect`]s (slow work: file I/O, locks, sockets) go out to the event
//! loop, which runs them and sends their results back as actions.

use std::time::SystemTime;

use crossterm::event::KeyEvent;

use super::data::Listing;
use crate::arbiter::{Options, Step, Watcher};
use crate::discovery::Snapshot;
use crate::state::Document;
use crate::state::scale::Change;

/// Something that happened: a key, a finished effect, a change on disk, a timer.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // a few per second at most
pub enum Action {
    Key(KeyEvent),
    /// The terminal was resized: nothing to change, just draw again.
    Resize,
    /// The state directory or a file in it changed on disk.
    FsChanged,
    /// A [`Effect::Refresh`] finished.
    Refreshed(Refresh),
    /// A [`Effect::Scale`] finished.
    ScaleDone {
        intent: Intent,
        result: Result<(Vec<Step>, Document, Option<SystemTime>), ScaleFailure>,
    },
    /// Advance the spinner (only sent while work runs).
    SpinnerTick,
    /// The slow timer that refreshes the "modified 3m ago" ages.
    AgeTick,
    /// Discovery's live view changed (every registered instance, all sources).
    InstancesChanged(Box<Snapshot>),
    /// Time to ask the arbiter again (every 2 s while a namespace with an arbiter is open).
    ArbiterTick,
    /// An [`Effect::ArbiterPoll`] finished: the namespace's watchers with their pids.
    ArbiterSeen {
        ns: String,
        endpoint: String,
        result: Result<Vec<Watcher>, String>,
    },
    /// A line of progress from a running [`Effect::Scale`].
    ScaleProgress(String),
    /// Time to ask the metrics sources again (every `--refresh` while a namespace is open).
    MetricsTick,
    /// A metrics round of `ns` came back.
    MetricsSeen {
        ns: String,
        metrics: Box<crate::metrics::Metrics>,
    },
    /// Prometheus' request-rate history of one component (None: it did not answer).
    MetricsHistory {
        ns: String,
        component: String,
        points: Option<Vec<(f64, f64)>>,
    },
    /// The time the live view asked for ([`App::next_wake`]) came: a flash or a leaving
    /// instance ends, a followed registration times out.
    LiveTick,
    /// The terminal hung up (its other end closed): quit without drawing again.
    Hangup,
    /// News for the log panel `id`: where its files are, new lines, or why not.
    Log {
        id: u64,
        news: LogNews,
    },
}

pub use super::panels::logs::LogNews;

/// Work for the event loop; each runs as a tokio task and comes back as an [`Action`].
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // one per key press or poll at most
pub enum Effect {
    /// List the directory and, if given, read that namespace.
    Refresh { ns: Option<String> },
    /// Lock, re-read, apply, save; start or stop the process through the arbiter.
    Scale(Intent),
    /// Ask the arbiter for the namespace's watchers.
    ArbiterPoll { ns: String, endpoint: String },
    /// One metrics round over every source, for namespace `ns` (the metrics task runs it).
    MetricsPoll { ns: String },
    /// Prometheus' history of a component's request rate over the last 15 minutes.
    MetricsHistory { ns: String, component: String },
    /// `c`: put this text in the terminal's clipboard (OSC 52; the loop writes it).
    Copy(String),
    /// Ask the arbiter where `watchers` write, read their last `lines`, then follow them
    /// for the log panel `id` (until it closes).
    LogOpen {
        id: u64,
        endpoint: String,
        watchers: Vec<String>,
        lines: usize,
        timeout: std::time::Duration,
    },
}

/// Why a scale effect did nothing (or stopped part-way), as the UI needs to know it.
#[derive(Clone, Debug, PartialEq)]
pub struct ScaleFailure {
    pub message: String,
    /// The file moved on: this is what the change would do now.
    pub moved: Option<Change>,
    /// The worker did not exit after SIGTERM (a kill can be offered).
    pub stop_timeout: bool,
    /// Changes of the plan done before the failure.
    pub done: usize,
}

/// Where a confirmed change goes.
#[derive(Clone, Debug, PartialEq)]
pub enum Route {
    /// Through the arbiter at this endpoint: processes start and stop.
    Arbiter { endpoint: String },
    /// The state file only; the reason is shown in the confirm.
    FileOnly(String),
}

/// What the operator confirmed: the effect re-applies it under the lock and compares.
#[derive(Clone, Debug, PartialEq)]
pub struct Intent {
    pub ns: String,
    pub ty: String,
    pub op: Op,
    /// What the change did on the state the operator was looking at (the first change of
    /// a scale).
    pub expected: Change,
    /// Every change, in order (one for add/remove), each checked under the lock.
    pub plan: Vec<Change>,
    /// A removal of this very entry (`x` on an instance), not the rule's choice.
    pub target: Option<String>,
    pub route: Route,
    /// Timeouts, and how a stubborn worker is ended.
    pub opts: Options,
    /// The type's live count in discovery when the change was confirmed (None: no source
    /// answers); a change that starts or stops processes is then followed until discovery
    /// shows it.
    pub live_before: Option<usize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Add,
    Remove,
    /// Add or remove until this many run, one change at a time.
    Scale(usize),
}

/// The result of listing the directory and reading the open namespace.
#[derive(Debug)]
pub struct Refresh {
    pub listing: Listing,
    pub ns: Option<(String, LoadOutcome)>,
}

#[derive(Debug)]
pub enum LoadOutcome {
    Loaded(Box<Document>, Option<SystemTime>),
    /// The file or the directory is gone (the deployment stopped).
    Gone(String),
    /// Present but unreadable (e.g. caught mid-write).
    Broken(String),
}
