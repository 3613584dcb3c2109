//! The pure core: `App` holds everything on screen, `update` turns an [`Action`] into new
//! state plus [`Effect`]s for the event loop to run. No I/O, no clock: the loop injects the
//! time with [`App::set_clock`] before each update.

use std::path::PathBuf;
use std::time::SystemTime;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::keys::{self, Cmd, Scope};
use super::live::{Follow, FollowEnd, Tracker};
use crate::arbiter::{Kill, Options, Process, Step, Watcher};
use crate::discovery::Snapshot;
use crate::state::json::JsonStyle;
use crate::state::scale::{self, Change, Summary, gpu_phrase};
use crate::state::{Document, NamespaceEntry};

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
}

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

/// What the arbiter said last about the open namespace.
#[derive(Clone, Debug, PartialEq)]
pub enum ArbiterStatus {
    /// Not asked yet.
    Unknown,
    /// The state file names no circus endpoint.
    NoEndpoint,
    /// `--demo` or `--state-only`: never asked.
    FileOnly(&'static str),
    Online {
        endpoint: String,
        /// The namespace's watchers (circus lists names lower-cased) with their pids.
        watchers: Vec<Watcher>,
    },
    Offline {
        endpoint: String,
        reason: String,
    },
}

impl ArbiterStatus {
    /// Live pids of a watcher named in the file; None when the arbiter was not heard.
    pub fn pids(&self, watcher: &str) -> Option<Vec<u32>> {
        match self {
            ArbiterStatus::Online { watchers, .. } => {
                Some(crate::arbiter::client::pids_of(watchers, watcher))
            }
            _ => None,
        }
    }

    /// Watchers of the namespace that the file does not name.
    pub fn unmanaged(&self, s: &Summary) -> Vec<&Watcher> {
        match self {
            ArbiterStatus::Online { watchers, .. } => {
                crate::arbiter::client::unmanaged(watchers, s)
            }
            _ => vec![],
        }
    }
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

#[derive(Clone, Debug, PartialEq)]
pub enum Listing {
    Loading,
    /// The directory does not exist.
    Missing,
    Error(String),
    Found(Vec<NsInfo>),
}

/// One namespace as the picker shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct NsInfo {
    pub name: String,
    pub path: PathBuf,
    pub modified: Option<SystemTime>,
    pub brief: Result<Brief, String>,
    /// Who knows the namespace: "state" (a state file), "etcd", "file" (the file store).
    pub sources: Vec<&'static str>,
    /// Registered instances (discovery), None when no discovery source answered.
    pub live: Option<usize>,
    /// Only discovery knows it (Dynamo 1.x): no state file, nothing to scale here.
    pub discovery_only: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Brief {
    /// (type, running instances) in file order.
    pub counts: Vec<(String, usize)>,
    pub gpus_used: usize,
    pub gpus_total: usize,
}

impl NsInfo {
    pub fn from_entry(e: &NamespaceEntry) -> NsInfo {
        NsInfo {
            sources: vec!["state"],
            live: None,
            discovery_only: false,
            name: e.name.clone(),
            path: e.path.clone(),
            modified: e.modified,
            brief: match &e.doc {
                Ok(doc) => {
                    let s = scale::summarize(&doc.state);
                    Ok(Brief {
                        counts: s.types.iter().map(|t| (t.ty.clone(), t.running)).collect(),
                        gpus_used: s.gpus_used,
                        gpus_total: s.gpus_total,
                    })
                }
                Err(err) => Err(err.to_string()),
            },
        }
    }
}

/// The open namespace.
#[derive(Clone, Debug)]
pub struct Current {
    /// No state file: only discovery knows this namespace (the rows are its components).
    pub discovery_only: bool,
    pub name: String,
    pub path: PathBuf,
    pub doc: Document,
    pub summary: Summary,
    /// The state as pretty JSON, one entry per line.
    pub json: Vec<String>,
    pub modified: Option<SystemTime>,
}

impl Current {
    pub fn new(name: String, path: PathBuf, doc: Document, modified: Option<SystemTime>) -> Self {
        let summary = scale::summarize(&doc.state);
        let json = doc
            .render_as(JsonStyle::PLANNER)
            .unwrap_or_else(|_| "(cannot render the state as JSON)".into())
            .lines()
            .map(str::to_string)
            .collect();
        Current {
            discovery_only: false,
            name,
            path,
            doc,
            summary,
            json,
            modified,
        }
    }

    /// A namespace only discovery knows: an empty state, and its instances as the JSON.
    pub fn discovery_only(name: String, live: Option<&Snapshot>) -> Self {
        let doc =
            Document::parse(&serde_json::json!({"namespace": name, "components": {}}).to_string())
                .expect("a minimal state parses");
        let mut cur = Current::new(name, PathBuf::new(), doc, None);
        cur.discovery_only = true;
        cur.json = instances_json(live, &cur.name);
        cur
    }
}

/// The namespace's registered instances as pretty JSON lines (the State panel of a
/// discovery-only namespace).
fn instances_json(live: Option<&Snapshot>, ns: &str) -> Vec<String> {
    let list: Vec<serde_json::Value> = live
        .map(|s| s.of_namespace(ns).map(|i| i.to_json()).collect())
        .unwrap_or_default();
    serde_json::to_string_pretty(&list)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Panel {
    Components,
    Gpus,
    Json,
}

impl Panel {
    fn next(self) -> Panel {
        match self {
            Panel::Components => Panel::Gpus,
            Panel::Gpus => Panel::Json,
            Panel::Json => Panel::Components,
        }
    }
    fn prev(self) -> Panel {
        self.next().next()
    }
}

#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // a handful on a stack, at a key press's pace
pub enum Popup {
    /// The namespace picker over the dashboard.
    Picker,
    Choose {
        op: Op,
        types: Vec<String>,
        /// None: nothing preselected (only infrastructure to offer); j/k pick one.
        selected: Option<usize>,
    },
    Confirm {
        intent: Intent,
        question: String,
        /// Shown in red: removing the last running instance.
        warning: Option<String>,
        /// What happens to processes (or why nothing does), shown under the question.
        note: Option<String>,
        ok_focused: bool,
        kind: ConfirmKind,
    },
    Help {
        scroll: u16,
    },
    /// `s`: how many instances of `ty` should run (typed digits).
    ScaleInput {
        ty: String,
        input: String,
    },
    /// `M`: the last 100 status messages, newest last.
    Messages {
        scroll: u16,
    },
    /// Enter on a component row: the type's instances.
    Instances {
        ty: String,
        selected: usize,
        filter: ListFilter,
    },
    /// `i`: the namespace's registered instances, as discovery shows them.
    Live {
        selected: usize,
        filter: ListFilter,
    },
    /// `m`: the selected component's load over the last 15 minutes.
    Metrics {
        /// The type (state file) or component (discovery) name.
        name: String,
    },
    /// Enter on a registration: its value as stored, unknown fields included.
    LiveEntry {
        /// [`super::live::ident`] of the instance.
        ident: String,
        scroll: u16,
    },
    /// Enter on an instance: its whole entry.
    Entry {
        name: String,
        scroll: u16,
    },
    /// `:` the command bar; `hint` lists the completions when Tab found several.
    Command {
        input: String,
        hint: Option<String>,
    },
}

/// `/` in a list popup: only rows containing the text (case-insensitive).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ListFilter {
    pub text: String,
    /// Keys go to the filter.
    pub typing: bool,
}

impl ListFilter {
    pub fn matches(&self, fields: &[&str]) -> bool {
        let f = self.text.to_lowercase();
        f.is_empty() || fields.iter().any(|x| x.to_lowercase().contains(&f))
    }
}

/// One row of the registered-instances panel.
#[derive(Clone, Copy, Debug)]
pub struct LiveRow<'a> {
    pub inst: &'a crate::discovery::Instance,
    /// Gone from discovery: shown greyed for a few seconds.
    pub leaving: bool,
}

/// The transport address of a registration: `tcp 10.0.0.2:4000/…`, as registered.
pub fn transport_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Object(m) => m
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k} {s}"),
                other => format!("{k} {other}"),
            })
            .collect::<Vec<_>>()
            .join(", "),
        serde_json::Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// Sizes the last frame had, written by the view (through `Cell`s) and read by `update`
/// to stop scrolling at the last page.
#[derive(Debug, Default)]
pub struct ViewLimits {
    /// Rows of the State panel.
    pub json_rows: std::cell::Cell<u16>,
    /// How far the help can scroll (None before the help was drawn).
    pub help_max: std::cell::Cell<Option<u16>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfirmKind {
    /// The change itself.
    Change,
    /// First of two: the type is not a worker (Frontend, Planner, ...).
    Infra,
    /// After a stop timeout: kill the worker with SIGKILL.
    Kill,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Info,
    Ok,
    Warn,
    Error,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Status {
    /// Wall-clock time of the message, as shown (injected).
    pub at: String,
    pub severity: Severity,
    pub text: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct PickerState {
    pub selected: usize,
    pub filter: String,
    pub filtering: bool,
}

pub struct App {
    pub dir: PathBuf,
    pub readonly: bool,
    pub now: SystemTime,
    pub clock: String,
    pub listing: Listing,
    pub picker: PickerState,
    /// The namespace being opened or shown.
    pub want: Option<String>,
    pub current: Option<Current>,
    pub table_selected: usize,
    /// `/` on the dashboard: only types whose name or a watcher's contains this.
    pub dash_filter: String,
    pub dash_filtering: bool,
    pub gpu_scroll: u16,
    pub json_scroll: u16,
    /// The State panel wraps long lines (`w`); else it scrolls sideways (`h`/`l`).
    pub json_wrap: bool,
    pub json_hscroll: u16,
    /// What the last frame could show, so that scrolling stops at the last page.
    pub view: ViewLimits,
    pub focus: Panel,
    pub popups: Vec<Popup>,
    pub status: Option<Status>,
    /// Effects started and not yet finished (the spinner shows while > 0).
    pub pending: usize,
    pub quit: bool,
    pub arbiter: ArbiterStatus,
    /// An arbiter poll is in flight.
    pub polling: bool,
    /// `--demo` / `--state-only`: why no process is ever started or stopped.
    pub file_only: Option<&'static str>,
    /// Timeouts for changes through the arbiter.
    pub scale_opts: Options,
    /// The last `update` changed nothing that is drawn (the loop skips the frame).
    pub unchanged: bool,
    /// Discovery's live view (None until it first answers, or with no source on).
    pub live: Option<Snapshot>,
    /// The state directory's namespaces, before discovery's are merged in.
    state_listing: Listing,
    /// A broken read of the open namespace was followed by one more read already.
    reread_broken: bool,
    /// The last status messages (at most [`HISTORY`]), oldest first.
    pub history: std::collections::VecDeque<Status>,
    /// `p`: live updates (file watch, arbiter polls) are not applied.
    pub paused: bool,
    /// When the open namespace was last read (the clock's label).
    pub last_refresh: Option<String>,
    /// The next reload of the open namespace is expected to differ (a change raced): keep
    /// the status line that explains it instead of "changed on disk".
    hold_status: bool,
    /// Flashing, leaving and first-seen instances, and a followed registration.
    pub track: Tracker,
    /// Load numbers: the last metrics round and this session's history.
    pub load: super::load::Load,
    /// A discovery source is on and has not answered yet: a namespace with no state file
    /// may still be one discovery knows (`-n` of a Dynamo 1.x deployment).
    pub awaiting_discovery: bool,
}

impl App {
    pub fn new(dir: PathBuf, readonly: bool, namespace: Option<String>) -> App {
        App {
            dir,
            readonly,
            now: SystemTime::UNIX_EPOCH,
            clock: String::new(),
            listing: Listing::Loading,
            picker: PickerState::default(),
            want: namespace,
            current: None,
            table_selected: 0,
            dash_filter: String::new(),
            dash_filtering: false,
            gpu_scroll: 0,
            json_scroll: 0,
            json_wrap: false,
            json_hscroll: 0,
            view: ViewLimits::default(),
            focus: Panel::Components,
            popups: Vec::new(),
            status: None,
            pending: 0,
            quit: false,
            arbiter: ArbiterStatus::Unknown,
            polling: false,
            file_only: None,
            scale_opts: Options::default(),
            hold_status: false,
            track: Tracker::default(),
            awaiting_discovery: false,
            load: Default::default(),
            unchanged: false,
            live: None,
            state_listing: Listing::Loading,
            reread_broken: false,
            history: Default::default(),
            paused: false,
            last_refresh: None,
        }
    }

    /// `--demo` / `--state-only` (file only, never ask the arbiter) and the timeouts.
    pub fn with_arbiter(mut self, file_only: Option<&'static str>, opts: Options) -> App {
        self.file_only = file_only;
        self.scale_opts = opts;
        self
    }

    /// Whether the keys that change the deployment are off: `--readonly`, or a namespace only
    /// discovery knows (nothing to scale without a state file).
    pub fn keys_readonly(&self) -> bool {
        self.readonly || self.current.as_ref().is_some_and(|c| c.discovery_only)
    }

    /// Whether the metrics sources should be polled: one is configured and a namespace is
    /// open (never on the picker, never without a source).
    pub fn wants_metrics(&self) -> bool {
        self.load.on && self.current.is_some()
    }

    /// Whether the arbiter should be polled now: a namespace with an endpoint is open.
    pub fn wants_arbiter(&self) -> bool {
        self.file_only.is_none()
            && self
                .current
                .as_ref()
                .is_some_and(|c| c.summary.circus_endpoint.is_some())
    }

    /// Where a change confirmed now would go, and the line the confirm shows about it.
    fn route(&self, op: Op) -> (Route, String) {
        let (start, nothing) = match op {
            Op::Add => ("circus starts its process", "no process will start"),
            Op::Scale(_) => (
                "circus starts and stops the processes, one at a time",
                "no process will start or stop",
            ),
            Op::Remove => (
                "circus stops its process (SIGTERM) first",
                "no process will stop",
            ),
        };
        match &self.arbiter {
            ArbiterStatus::Online { endpoint, .. } => (
                Route::Arbiter {
                    endpoint: endpoint.clone(),
                },
                format!("{start}."),
            ),
            ArbiterStatus::FileOnly(why) => (
                Route::FileOnly(why.to_string()),
                format!("{why}: only the state file changes, {nothing}."),
            ),
            ArbiterStatus::NoEndpoint => (
                Route::FileOnly("no circus endpoint".into()),
                format!(
                    "The file names no circus endpoint: only the state file changes, {nothing}."
                ),
            ),
            ArbiterStatus::Offline { reason, .. } => (
                Route::FileOnly(format!("circus offline: {reason}")),
                format!("Circus is offline ({reason}): only the state file changes, {nothing}."),
            ),
            ArbiterStatus::Unknown => (
                Route::FileOnly("circus not heard yet".into()),
                format!("Circus has not answered yet: only the state file changes, {nothing}."),
            ),
        }
    }

    /// The effects to run at start.
    pub fn start(&mut self) -> Vec<Effect> {
        vec![self.refresh()]
    }

    /// Injects the time: `now` for ages, `clock` (e.g. "16:42:07") for status messages.
    pub fn set_clock(&mut self, now: SystemTime, clock: impl Into<String>) {
        self.now = now;
        self.clock = clock.into();
    }

    pub fn busy(&self) -> bool {
        self.pending > 0
    }

    /// Who has the keys.
    pub fn scope(&self) -> Scope {
        match self.popups.last() {
            Some(Popup::Picker) => Scope::Picker,
            Some(Popup::Choose { .. }) => Scope::Choose,
            Some(Popup::Confirm { .. }) => Scope::Confirm,
            Some(Popup::Help { .. }) => Scope::Help,
            Some(Popup::ScaleInput { .. }) => Scope::ScaleInput,
            Some(Popup::Messages { .. }) => Scope::Messages,
            Some(Popup::Instances { .. }) => Scope::Instances,
            Some(Popup::Live { .. }) => Scope::Live,
            Some(Popup::LiveEntry { .. }) => Scope::LiveEntry,
            Some(Popup::Metrics { .. }) => Scope::Metrics,
            Some(Popup::Entry { .. }) => Scope::Entry,
            Some(Popup::Command { .. }) => Scope::Command,
            None if self.current.is_some() => Scope::Dashboard,
            None => Scope::Picker,
        }
    }

    fn refresh(&mut self) -> Effect {
        self.pending += 1;
        Effect::Refresh {
            ns: self.want.clone(),
        }
    }

    fn say(&mut self, severity: Severity, text: impl Into<String>) {
        let status = Status {
            at: self.clock.clone(),
            severity,
            text: text.into(),
        };
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(status.clone());
        self.status = Some(status);
    }

    /// The component types the dashboard shows (after its `/` filter).
    pub fn visible_types(&self) -> Vec<&scale::TypeSummary> {
        let Some(cur) = &self.current else {
            return Vec::new();
        };
        let f = self.dash_filter.to_lowercase();
        cur.summary
            .types
            .iter()
            .filter(|t| {
                f.is_empty()
                    || t.ty.to_lowercase().contains(&f)
                    || t.instances
                        .iter()
                        .any(|i| i.watcher_name.to_lowercase().contains(&f))
            })
            .collect()
    }

    /// The components of a namespace only discovery knows, as its dashboard lists them.
    pub fn live_components(&self) -> Vec<String> {
        let (Some(cur), Some(live)) = (&self.current, &self.live) else {
            return Vec::new();
        };
        let set: std::collections::BTreeSet<&str> = live
            .of_namespace(&cur.name)
            .map(|i| i.component.as_str())
            .collect();
        set.into_iter().map(str::to_string).collect()
    }

    /// The selected row's component on a discovery-only dashboard.
    pub fn selected_component(&self) -> Option<String> {
        self.live_components().get(self.table_selected).cloned()
    }

    /// The type of the selected dashboard row.
    pub fn selected_type(&self) -> Option<&scale::TypeSummary> {
        self.visible_types().get(self.table_selected).copied()
    }

    /// The namespaces the picker shows (after the filter).
    pub fn visible_namespaces(&self) -> Vec<&NsInfo> {
        match &self.listing {
            Listing::Found(list) => {
                let f = self.picker.filter.to_lowercase();
                list.iter()
                    .filter(|n| f.is_empty() || n.name.to_lowercase().contains(&f))
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    pub fn update(&mut self, action: Action) -> Vec<Effect> {
        self.unchanged = false;
        match action {
            Action::Key(key) => self.on_key(key),
            Action::Resize | Action::AgeTick | Action::SpinnerTick => Vec::new(),
            Action::ArbiterTick => {
                self.unchanged = true;
                if !self.wants_arbiter() || self.polling || self.paused {
                    return Vec::new();
                }
                let cur = self.current.as_ref().expect("wants_arbiter");
                self.polling = true;
                vec![Effect::ArbiterPoll {
                    ns: cur.name.clone(),
                    endpoint: cur.summary.circus_endpoint.clone().unwrap_or_default(),
                }]
            }
            Action::MetricsTick => {
                self.unchanged = true;
                if !self.wants_metrics() || self.load.polling || self.paused {
                    return Vec::new();
                }
                self.load.polling = true;
                let ns = self.current.as_ref().expect("wants_metrics").name.clone();
                vec![Effect::MetricsPoll { ns }]
            }
            Action::MetricsSeen { ns, metrics } => {
                self.load.polling = false;
                if self.current.as_ref().is_some_and(|c| c.name == ns) && !self.paused {
                    self.load.on_sample(&ns, *metrics);
                } else {
                    self.unchanged = true;
                }
                Vec::new()
            }
            Action::MetricsHistory {
                ns,
                component,
                points,
            } => {
                if self.current.as_ref().is_some_and(|c| c.name == ns) {
                    match points {
                        Some(p) => self.load.prom_history = Some((component, p)),
                        None => self.say(
                            Severity::Warn,
                            format!(
                                "Prometheus gave no history of {component}: showing what this session measured"
                            ),
                        ),
                    }
                }
                Vec::new()
            }
            Action::ArbiterSeen {
                ns,
                endpoint,
                result,
            } => {
                self.polling = false;
                let same = self.current.as_ref().is_some_and(|c| {
                    c.name == ns && c.summary.circus_endpoint.as_deref() == Some(&endpoint)
                });
                if same {
                    let seen = match result {
                        Ok(watchers) => ArbiterStatus::Online { endpoint, watchers },
                        Err(reason) => ArbiterStatus::Offline { endpoint, reason },
                    };
                    self.unchanged = seen == self.arbiter;
                    self.arbiter = seen;
                } else {
                    self.unchanged = true;
                }
                Vec::new()
            }
            Action::InstancesChanged(snap) => {
                self.on_instances(*snap);
                // The namespace asked for had no state file: discovery may know it.
                if std::mem::take(&mut self.awaiting_discovery)
                    && self.want.is_some()
                    && self.current.is_none()
                {
                    return vec![self.refresh()];
                }
                Vec::new()
            }
            Action::LiveTick => {
                let expired = self.track.expire(self.now);
                let ended = self.check_follow();
                // Flashes and leavers show only in the registered-instances panel.
                let shown = self
                    .popups
                    .iter()
                    .any(|p| matches!(p, Popup::Live { .. } | Popup::LiveEntry { .. }));
                self.unchanged = !(ended || expired && shown);
                Vec::new()
            }
            Action::ScaleProgress(line) => {
                self.say(Severity::Info, line);
                Vec::new()
            }
            Action::FsChanged if self.paused => {
                self.unchanged = true;
                Vec::new()
            }
            Action::FsChanged => vec![self.refresh()],
            Action::Refreshed(r) => {
                self.pending = self.pending.saturating_sub(1);
                self.on_refreshed(r)
            }
            Action::ScaleDone { intent, result } => {
                self.pending = self.pending.saturating_sub(1);
                self.on_scaled(intent, result)
            }
        }
    }

    /// The picker's list: the state directory's namespaces, each with what discovery says
    /// of it, plus the namespaces only discovery knows (every Dynamo 1.x deployment).
    fn merge_listing(&mut self) {
        let live = self.live.as_ref().map(|s| (s.answered(), s.namespaces()));
        let mut list = match &self.state_listing {
            Listing::Found(l) => l.clone(),
            other => match &live {
                Some((_, ns)) if !ns.is_empty() => Vec::new(),
                _ => {
                    self.listing = other.clone();
                    return;
                }
            },
        };
        if let Some((answered, namespaces)) = &live {
            for n in list.iter_mut() {
                n.sources = vec!["state"];
                n.live = answered.then_some(0);
                if let Some(l) = namespaces.get(&n.name) {
                    n.sources.extend(l.sources.iter().map(|k| k.as_str()));
                    n.live = Some(l.live);
                }
            }
            for (name, l) in namespaces {
                if list.iter().any(|n| n.name == *name) {
                    continue;
                }
                list.push(NsInfo {
                    name: name.clone(),
                    path: PathBuf::new(),
                    modified: None,
                    brief: Ok(Brief {
                        counts: l.components.iter().map(|(c, n)| (c.clone(), *n)).collect(),
                        gpus_used: 0,
                        gpus_total: 0,
                    }),
                    sources: l.sources.iter().map(|k| k.as_str()).collect(),
                    live: Some(l.live),
                    discovery_only: true,
                });
            }
            list.sort_by(|a, b| a.name.cmp(&b.name));
        }
        self.listing = Listing::Found(list);
    }

    /// Re-merges the picker's list, keeping the cursor on the namespace it was on.
    fn relist(&mut self, apply: impl FnOnce(&mut App)) {
        let selected = self
            .visible_namespaces()
            .get(self.picker.selected)
            .map(|n| n.name.clone());
        apply(self);
        self.merge_listing();
        let visible = self.visible_namespaces();
        let n = visible.len();
        if let Some(i) = selected.and_then(|name| visible.iter().position(|v| v.name == name)) {
            self.picker.selected = i;
        } else if self.picker.selected >= n {
            self.picker.selected = n.saturating_sub(1);
        }
    }

    fn on_instances(&mut self, snap: Snapshot) {
        self.track.on_snapshot(self.live.as_ref(), &snap, self.now);
        self.relist(|app| app.live = Some(snap));
        self.check_follow();
        if let Some(cur) = &mut self.current
            && cur.discovery_only
        {
            cur.json = instances_json(self.live.as_ref(), &cur.name);
        }
    }

    /// Ends the followed registration when discovery shows it or its time is up; true when
    /// it ended.
    fn check_follow(&mut self) -> bool {
        match self.track.check_follow(self.live.as_ref(), self.now) {
            Some(FollowEnd::Reached { text }) => {
                self.say(Severity::Ok, text);
                true
            }
            Some(FollowEnd::TimedOut { text }) => {
                self.say(Severity::Warn, text);
                true
            }
            None => false,
        }
    }

    /// When the screen next changes by time alone (see [`Tracker::next_change`]).
    pub fn next_wake(&self) -> Option<SystemTime> {
        self.track.next_change()
    }

    /// After a change that started or stopped processes: follow discovery until the live
    /// count shows it (the planner's blocking mode), or the start timeout passes.
    fn follow_steps(&mut self, intent: &Intent, steps: &[Step]) {
        let Some(before) = intent.live_before else {
            return;
        };
        let added = steps
            .iter()
            .filter(|s| s.process == Process::Started && matches!(s.change, Change::Added { .. }))
            .count();
        let removed = steps
            .iter()
            .filter(|s| s.process == Process::Stopped && matches!(s.change, Change::Removed { .. }))
            .count();
        if added == removed {
            return;
        }
        let adding = added > removed;
        let target = (before + added).saturating_sub(removed);
        let f = Follow {
            ns: intent.ns.clone(),
            ty: intent.ty.clone(),
            target,
            adding,
            before,
            started: self.now,
            deadline: self.now + intent.opts.start_timeout,
        };
        self.say(
            Severity::Info,
            format!(
                "waiting for discovery to {} {} ({before} registered now)",
                if adding { "register" } else { "drop" },
                f.what()
            ),
        );
        self.track.follow = Some(f);
        self.check_follow();
    }

    /// A registration is being followed (the spinner runs).
    pub fn following(&self) -> Option<&Follow> {
        self.track.follow.as_ref()
    }

    fn on_refreshed(&mut self, r: Refresh) -> Vec<Effect> {
        // The picker's cursor stays on the namespace it was on, wherever that moved.
        let selected = self
            .visible_namespaces()
            .get(self.picker.selected)
            .map(|n| n.name.clone());
        self.state_listing = r.listing;
        self.merge_listing();
        let visible = self.visible_namespaces();
        let n = visible.len();
        if let Some(i) = selected.and_then(|name| visible.iter().position(|v| v.name == name)) {
            self.picker.selected = i;
        } else if self.picker.selected >= n {
            self.picker.selected = n.saturating_sub(1);
        }
        let Some((name, outcome)) = r.ns else {
            return Vec::new();
        };
        if self.want.as_deref() != Some(name.as_str()) {
            return Vec::new(); // an answer for a namespace we left meanwhile
        }
        match outcome {
            LoadOutcome::Loaded(doc, modified) => {
                let path = self.dir.join(format!("{name}.json"));
                match &self.current {
                    Some(cur) if cur.name == name => {
                        let hold = std::mem::take(&mut self.hold_status);
                        if cur.doc.state != doc.state && !hold {
                            self.say(
                                Severity::Info,
                                format!("{name}.json changed on disk; showing the new state"),
                            );
                        } else if self
                            .status
                            .as_ref()
                            .is_some_and(|s| s.text.starts_with(&unreadable_now(&name)))
                        {
                            // A good read ends the "unreadable" warning.
                            self.say(Severity::Info, format!("{name}.json is readable again"));
                        }
                    }
                    _ => {
                        self.table_selected = 0;
                        self.json_scroll = 0;
                        self.gpu_scroll = 0;
                        self.focus = Panel::Components;
                        self.say(Severity::Ok, format!("opened namespace {name}"));
                    }
                }
                self.current = Some(Current::new(name, path, *doc, modified));
                self.reread_broken = false;
                self.last_refresh = Some(self.clock.clone());
                self.clamp_selection();
                self.settle_arbiter();
                self.follow_confirm();
            }
            // No state file, but discovery knows it (Dynamo 1.x): live only.
            LoadOutcome::Gone(_)
                if self
                    .live
                    .as_ref()
                    .is_some_and(|s| s.of_namespace(&name).next().is_some()) =>
            {
                if self.current.as_ref().is_none_or(|c| c.name != name) {
                    self.table_selected = 0;
                    self.focus = Panel::Components;
                    self.say(
                        Severity::Ok,
                        format!("opened namespace {name} (discovery only: no state file)"),
                    );
                }
                self.current = Some(Current::discovery_only(name, self.live.as_ref()));
                self.last_refresh = Some(self.clock.clone());
                self.arbiter = ArbiterStatus::NoEndpoint;
            }
            LoadOutcome::Gone(_) if self.awaiting_discovery && self.current.is_none() => {
                self.say(
                    Severity::Info,
                    format!("no state file for {name}: waiting for discovery…"),
                );
            }
            LoadOutcome::Gone(msg) => {
                let was_open = self.current.as_ref().is_some_and(|c| c.name == name);
                self.current = None;
                self.want = None;
                self.popups.clear();
                if was_open {
                    self.say(
                        Severity::Warn,
                        format!("namespace {name} vanished (the deployment stopped?): {msg}"),
                    );
                } else {
                    self.say(Severity::Error, format!("cannot open {name}: {msg}"));
                }
            }
            LoadOutcome::Broken(msg) => {
                if self.current.as_ref().is_some_and(|c| c.name == name) {
                    self.say(
                        Severity::Warn,
                        format!(
                            "{}, showing the last good state: {msg}",
                            unreadable_now(&name)
                        ),
                    );
                    // Reads run side by side: this one may have started before a good
                    // write that an earlier-finished read already showed. Read once more,
                    // so the screen ends on the file as it is now.
                    if !std::mem::replace(&mut self.reread_broken, true) {
                        return vec![self.refresh()];
                    }
                } else {
                    self.want = None;
                    self.say(Severity::Error, format!("cannot open {name}: {msg}"));
                }
            }
        }
        Vec::new()
    }

    /// After a (re)load: what is known of the arbiter for this file.
    fn settle_arbiter(&mut self) {
        let Some(cur) = &self.current else { return };
        let endpoint = cur.summary.circus_endpoint.clone();
        self.arbiter = match (self.file_only, endpoint) {
            (Some(why), _) => ArbiterStatus::FileOnly(why),
            (None, None) => ArbiterStatus::NoEndpoint,
            (None, Some(e)) => match &self.arbiter {
                ArbiterStatus::Online { endpoint, .. }
                | ArbiterStatus::Offline { endpoint, .. }
                    if *endpoint == e =>
                {
                    return;
                }
                _ => ArbiterStatus::Unknown,
            },
        };
    }

    /// An open confirm follows the file: it always states what confirming would do now.
    fn follow_confirm(&mut self) {
        let Some(cur) = &self.current else { return };
        let Some(Popup::Confirm {
            intent,
            kind: ConfirmKind::Change,
            ..
        }) = self.popups.last()
        else {
            return;
        };
        if intent.ns != cur.name {
            return;
        }
        let (op, ty, old) = (intent.op, intent.ty.clone(), intent.plan.clone());
        let target = intent.target.clone();
        let mut copy = cur.doc.state.clone();
        match plan_of(op, target.as_deref(), &mut copy, &ty) {
            Ok(now) if same_plan(&now, &old) => {}
            Ok(now) if now.is_empty() => {
                self.popups.pop();
                self.say(
                    Severity::Warn,
                    format!("the state file changed: {ty} is already at the requested count"),
                );
            }
            Ok(now) => {
                self.popups.pop();
                self.push_confirm(op, ty, target, now);
                self.say(
                    Severity::Warn,
                    "the state file changed: the confirm now states the new effect",
                );
            }
            Err(e) => {
                self.popups.pop();
                if matches!(self.popups.last(), Some(Popup::Choose { .. })) {
                    self.popups.pop();
                }
                self.say(
                    Severity::Warn,
                    format!("the state file changed: cannot {} now: {e}", op_verb(op)),
                );
            }
        }
    }

    fn on_scaled(
        &mut self,
        intent: Intent,
        result: Result<(Vec<Step>, Document, Option<SystemTime>), ScaleFailure>,
    ) -> Vec<Effect> {
        match result {
            Ok((steps, doc, modified)) => {
                let last = steps
                    .iter()
                    .any(|s| matches!(s.change, Change::Removed { remaining: 0, .. }));
                let severity = if steps.iter().any(|s| s.process == Process::Timeout) || last {
                    Severity::Warn
                } else {
                    Severity::Ok
                };
                let mut text = match intent.op {
                    Op::Scale(n) => format!(
                        "{} now at {n}: {}",
                        intent.ty,
                        steps
                            .iter()
                            .map(|s| s.to_string())
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                    _ => steps
                        .iter()
                        .map(|s| capitalize(&s.to_string()))
                        .collect::<Vec<_>>()
                        .join("; "),
                };
                if let Some(note) = steps.iter().find_map(|s| s.layout_note.as_deref()) {
                    text.push_str(&format!("; note: {note}"));
                }
                // What the arbiter now runs, without waiting for the next poll.
                if let ArbiterStatus::Online { watchers, .. } = &mut self.arbiter {
                    for step in &steps {
                        let name = step.change.name().to_lowercase();
                        watchers.retain(|w| w.name != name);
                        if step.process == Process::Started {
                            watchers.push(Watcher {
                                name,
                                pids: step.pids.clone().unwrap_or_default(),
                            });
                        }
                    }
                }
                self.say(severity, text);
                self.follow_steps(&intent, &steps);
                if self.want.as_deref() == Some(intent.ns.as_str()) {
                    let path = self.dir.join(format!("{}.json", intent.ns));
                    self.current = Some(Current::new(intent.ns.clone(), path, doc, modified));
                    self.clamp_selection();
                }
            }
            Err(f) => {
                let here = self.want.as_deref() == Some(intent.ns.as_str());
                if let Some(now) = f.moved {
                    // Not what was confirmed: nothing (more) done; ask again with the new effect.
                    self.say(Severity::Warn, f.message);
                    self.hold_status = true;
                    if here {
                        match intent.op {
                            Op::Scale(_) => self.open_plan(intent.op, intent.ty.clone(), None),
                            op => {
                                self.push_confirm(op, intent.ty.clone(), intent.target, vec![now])
                            }
                        }
                    }
                } else if f.stop_timeout {
                    self.say(Severity::Error, f.message.clone());
                    // The change that timed out: the one after those done.
                    let stuck = intent
                        .plan
                        .get(f.done)
                        .cloned()
                        .unwrap_or_else(|| intent.expected.clone());
                    let name = stuck.name().to_string();
                    let mut kill = intent.clone();
                    kill.op = Op::Remove;
                    kill.expected = stuck.clone();
                    kill.target = Some(stuck.name().to_string());
                    kill.plan = vec![stuck];
                    kill.opts.kill = Kill::Now;
                    self.popups.push(Popup::Confirm {
                        question: format!("{name} did not exit after SIGTERM. Kill it (SIGKILL)?"),
                        warning: Some(
                            "SIGKILL ends it at once: requests in flight on it are lost.".into(),
                        ),
                        note: Some(f.message),
                        ok_focused: false,
                        kind: ConfirmKind::Kill,
                        intent: kill,
                    });
                } else {
                    self.say(
                        Severity::Error,
                        format!(
                            "could not {} {} in {}: {}",
                            op_verb(intent.op),
                            intent.ty,
                            intent.ns,
                            f.message
                        ),
                    );
                }
            }
        }
        // The listing (counts, ages) follows the file.
        vec![self.refresh()]
    }

    fn clamp_selection(&mut self) {
        if let Some(cur) = &self.current {
            let n = self.visible_types().len();
            if self.table_selected >= n {
                self.table_selected = n.saturating_sub(1);
            }
            let max = cur.json.len().saturating_sub(1) as u16;
            self.json_scroll = self.json_scroll.min(max);
            let gmax = cur.summary.gpu_map.len().saturating_sub(1) as u16;
            self.gpu_scroll = self.gpu_scroll.min(gmax);
        }
    }

    fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let ctrl_c =
            key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c');
        if ctrl_c {
            self.quit = true;
            return Vec::new();
        }
        let scope = self.scope();
        // Typing into the picker's filter.
        if scope == Scope::Picker && self.picker.filtering {
            match key.code {
                KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                    self.picker.filter.push(c);
                    self.picker.selected = 0;
                    return Vec::new();
                }
                KeyCode::Backspace => {
                    self.picker.filter.pop();
                    self.picker.selected = 0;
                    return Vec::new();
                }
                KeyCode::Esc => {
                    self.picker.filter.clear();
                    self.picker.filtering = false;
                    self.picker.selected = 0;
                    return Vec::new();
                }
                _ => {}
            }
        }
        // Typing into a list popup's filter.
        if let Some(
            Popup::Instances {
                filter, selected, ..
            }
            | Popup::Live { filter, selected },
        ) = self.popups.last_mut()
            && filter.typing
        {
            match key.code {
                KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                    filter.text.push(c);
                    *selected = 0;
                    return Vec::new();
                }
                KeyCode::Backspace => {
                    filter.text.pop();
                    *selected = 0;
                    return Vec::new();
                }
                KeyCode::Esc => {
                    *filter = ListFilter::default();
                    *selected = 0;
                    return Vec::new();
                }
                KeyCode::Enter => {
                    filter.typing = false;
                    return Vec::new();
                }
                _ => {}
            }
        }
        // Typing into the dashboard's filter.
        if scope == Scope::Dashboard && self.dash_filtering {
            match key.code {
                KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                    self.dash_filter.push(c);
                    self.table_selected = 0;
                    return Vec::new();
                }
                KeyCode::Backspace => {
                    self.dash_filter.pop();
                    self.table_selected = 0;
                    return Vec::new();
                }
                KeyCode::Esc => {
                    self.dash_filter.clear();
                    self.dash_filtering = false;
                    self.table_selected = 0;
                    return Vec::new();
                }
                KeyCode::Enter => {
                    self.dash_filtering = false;
                    return Vec::new();
                }
                _ => {}
            }
        }
        // Typing into the command bar.
        if let Some(Popup::Command { input, hint }) = self.popups.last_mut() {
            match key.code {
                KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                    if input.chars().count() < 200 {
                        input.push(c);
                    }
                    *hint = None;
                    return Vec::new();
                }
                KeyCode::Backspace => {
                    input.pop();
                    *hint = None;
                    return Vec::new();
                }
                _ => {}
            }
        }
        // Typing the count of a scale.
        if let Some(Popup::ScaleInput { input, .. }) = self.popups.last_mut() {
            match key.code {
                KeyCode::Char(c @ '0'..='9') if input.len() < 6 => {
                    input.push(c);
                    return Vec::new();
                }
                KeyCode::Backspace => {
                    input.pop();
                    return Vec::new();
                }
                _ => {}
            }
        }
        let Some(cmd) = keys::lookup(scope, &key, self.keys_readonly()) else {
            // Say why a key that changes the deployment does nothing.
            if let Some(b) = keys::binding(scope, &key, false).filter(|b| b.dangerous) {
                match &self.current {
                    Some(cur) if cur.discovery_only => {
                        let name = cur.name.clone();
                        self.say(Severity::Warn, no_scaling(&name))
                    }
                    _ if self.readonly => self.say(
                        Severity::Warn,
                        format!(
                            "read-only mode (--readonly): {} ({}) is off",
                            b.label, b.desc
                        ),
                    ),
                    _ => {}
                }
            }
            return Vec::new();
        };
        match cmd {
            // `q` closes a popup; on a screen (and Ctrl-C anywhere) it quits.
            Cmd::Quit if key.code == KeyCode::Char('q') && !self.popups.is_empty() => {
                if matches!(self.popups.last(), Some(Popup::Picker)) {
                    self.picker.filter.clear();
                    self.picker.filtering = false;
                }
                self.popups.pop();
                Vec::new()
            }
            Cmd::Quit => {
                self.quit = true;
                Vec::new()
            }
            Cmd::Command => {
                if matches!(scope, Scope::Picker | Scope::Dashboard) {
                    self.popups.push(Popup::Command {
                        input: String::new(),
                        hint: None,
                    });
                }
                Vec::new()
            }
            Cmd::Messages => {
                if !matches!(self.popups.last(), Some(Popup::Messages { .. })) {
                    self.popups.push(Popup::Messages { scroll: 0 });
                }
                Vec::new()
            }
            Cmd::Refresh => {
                self.say(Severity::Info, "refreshing…");
                let mut effects = vec![self.refresh()];
                if self.wants_arbiter() && !self.polling {
                    let cur = self.current.as_ref().expect("wants_arbiter");
                    self.polling = true;
                    effects.push(Effect::ArbiterPoll {
                        ns: cur.name.clone(),
                        endpoint: cur.summary.circus_endpoint.clone().unwrap_or_default(),
                    });
                }
                effects
            }
            Cmd::Help => {
                if !matches!(self.popups.last(), Some(Popup::Help { .. })) {
                    self.popups.push(Popup::Help { scroll: 0 });
                }
                Vec::new()
            }
            _ => match scope {
                Scope::Picker => self.picker_cmd(cmd),
                Scope::Dashboard => self.dashboard_cmd(cmd),
                Scope::Choose => self.choose_cmd(cmd),
                Scope::Confirm => self.confirm_cmd(cmd),
                Scope::ScaleInput => self.scale_input_cmd(cmd),
                Scope::Instances | Scope::Entry => self.instance_cmd(cmd),
                Scope::Live | Scope::LiveEntry => self.live_cmd(cmd),
                Scope::Metrics => {
                    if cmd == Cmd::Close {
                        self.popups.pop();
                    }
                    Vec::new()
                }
                Scope::Command => self.command_cmd(cmd),
                Scope::Messages => {
                    let max = self.history.len().saturating_sub(1) as u16;
                    if let Some(Popup::Messages { scroll }) = self.popups.last_mut() {
                        // scroll counts back from the newest message.
                        match cmd {
                            Cmd::Up => *scroll = scroll.saturating_add(1).min(max),
                            Cmd::Down => *scroll = scroll.saturating_sub(1),
                            Cmd::Close => {
                                self.popups.pop();
                            }
                            _ => {}
                        }
                    }
                    Vec::new()
                }
                Scope::Help => {
                    if let Some(Popup::Help { scroll }) = self.popups.last_mut() {
                        match cmd {
                            Cmd::Up => *scroll = scroll.saturating_sub(1),
                            Cmd::Down => {
                                let max = self.view.help_max.get().unwrap_or(200);
                                *scroll = scroll.saturating_add(1).min(max)
                            }
                            Cmd::Close => {
                                self.popups.pop();
                            }
                            _ => {}
                        }
                    }
                    Vec::new()
                }
                Scope::Global => Vec::new(),
            },
        }
    }

    fn picker_cmd(&mut self, cmd: Cmd) -> Vec<Effect> {
        let n = self.visible_namespaces().len();
        match cmd {
            Cmd::Up => self.picker.selected = self.picker.selected.saturating_sub(1),
            Cmd::Down if self.picker.selected + 1 < n => self.picker.selected += 1,
            Cmd::Top => self.picker.selected = 0,
            Cmd::Bottom => self.picker.selected = n.saturating_sub(1),
            Cmd::PageUp => self.picker.selected = self.picker.selected.saturating_sub(PAGE),
            Cmd::PageDown => {
                self.picker.selected = (self.picker.selected + PAGE).min(n.saturating_sub(1))
            }
            Cmd::Filter => self.picker.filtering = true,
            Cmd::Close => {
                if self.picker.filtering || !self.picker.filter.is_empty() {
                    self.picker.filter.clear();
                    self.picker.filtering = false;
                    self.picker.selected = 0;
                } else if matches!(self.popups.last(), Some(Popup::Picker)) {
                    self.popups.pop();
                }
            }
            Cmd::Open => {
                let Some(ns) = self.visible_namespaces().get(self.picker.selected).copied() else {
                    return Vec::new();
                };
                let (name, err) = (ns.name.clone(), ns.brief.as_ref().err().cloned());
                if let Some(err) = err {
                    self.say(Severity::Error, format!("cannot open {name}: {err}"));
                    return Vec::new();
                }
                self.picker.filtering = false;
                if matches!(self.popups.last(), Some(Popup::Picker)) {
                    self.popups.pop();
                }
                if self.current.as_ref().is_some_and(|c| c.name == name) {
                    return Vec::new();
                }
                self.want = Some(name.clone());
                self.current = None;
                self.say(Severity::Info, format!("opening {name}…"));
                return vec![self.refresh()];
            }
            _ => {}
        }
        Vec::new()
    }

    fn dashboard_cmd(&mut self, cmd: Cmd) -> Vec<Effect> {
        let Some(cur) = &self.current else {
            return Vec::new();
        };
        if cur.discovery_only && matches!(cmd, Cmd::Add | Cmd::Remove | Cmd::Scale) {
            let name = cur.name.clone();
            self.say(Severity::Warn, no_scaling(&name));
            return Vec::new();
        }
        let rows = self.visible_types().len();
        // The last page, not the last line: G and PgDn never scroll into emptiness.
        let json_max =
            cur.json
                .len()
                .saturating_sub(self.view.json_rows.get().max(1) as usize) as u16;
        let gpu_max = cur.summary.gpu_map.len().saturating_sub(1) as u16;
        match cmd {
            Cmd::Up | Cmd::Down | Cmd::PageUp | Cmd::PageDown | Cmd::Top | Cmd::Bottom => {
                let step: i64 = match cmd {
                    Cmd::Up => -1,
                    Cmd::Down => 1,
                    Cmd::PageUp => -10,
                    Cmd::PageDown => 10,
                    Cmd::Top => i64::MIN / 2,
                    _ => i64::MAX / 2,
                };
                let mv = |v: i64, max: i64| (v.saturating_add(step)).clamp(0, max.max(0));
                match self.focus {
                    Panel::Components => {
                        self.table_selected =
                            mv(self.table_selected as i64, rows as i64 - 1) as usize
                    }
                    Panel::Gpus => {
                        self.gpu_scroll = mv(self.gpu_scroll as i64, gpu_max as i64) as u16
                    }
                    Panel::Json => {
                        self.json_scroll = mv(self.json_scroll as i64, json_max as i64) as u16
                    }
                }
            }
            Cmd::Filter => {
                self.dash_filtering = true;
                self.focus = Panel::Components;
            }
            // Esc first clears a filter; then it leaves the namespace.
            Cmd::Close if !self.dash_filter.is_empty() => {
                self.dash_filter.clear();
                self.table_selected = 0;
            }
            Cmd::Wrap => {
                self.json_wrap = !self.json_wrap;
                self.json_hscroll = 0;
            }
            Cmd::Left if self.focus == Panel::Json => {
                self.json_hscroll = self.json_hscroll.saturating_sub(8)
            }
            Cmd::Right if self.focus == Panel::Json && !self.json_wrap => {
                let widest = cur
                    .json
                    .iter()
                    .map(|l| l.chars().count())
                    .max()
                    .unwrap_or(0);
                self.json_hscroll = (self.json_hscroll + 8).min(widest as u16);
            }
            Cmd::FocusNext => self.focus = self.focus.next(),
            Cmd::FocusPrev => self.focus = self.focus.prev(),
            Cmd::Namespaces => {
                self.picker.filter.clear();
                self.picker.filtering = false;
                let name = cur.name.clone();
                if let Some(i) = self
                    .visible_namespaces()
                    .iter()
                    .position(|n| n.name == name)
                {
                    self.picker.selected = i;
                }
                self.popups.push(Popup::Picker);
                return vec![self.refresh()];
            }
            Cmd::Close => {
                // Back to the picker (k9s): the namespace is left, the picker is the screen.
                let name = cur.name.clone();
                self.dash_filter.clear();
                self.dash_filtering = false;
                self.current = None;
                self.want = None;
                self.arbiter = ArbiterStatus::Unknown;
                if let Some(i) = self
                    .visible_namespaces()
                    .iter()
                    .position(|n| n.name == name)
                {
                    self.picker.selected = i;
                }
                self.say(Severity::Info, format!("left namespace {name}"));
                return vec![self.refresh()];
            }
            Cmd::Pause => {
                self.paused = !self.paused;
                if self.paused {
                    self.say(
                        Severity::Warn,
                        "paused: live updates are not applied (p resumes, Ctrl-R refreshes once)",
                    );
                    return Vec::new();
                }
                self.say(Severity::Info, "live updates resumed");
                return vec![self.refresh()];
            }
            Cmd::Metrics => {
                let name = match &self.current {
                    Some(c) if c.discovery_only => self.selected_component(),
                    _ => self.selected_type().map(|t| t.ty.clone()),
                };
                let Some(name) = name else {
                    return Vec::new();
                };
                if !self.load.on {
                    self.say(
                        Severity::Info,
                        "no metrics source: --prometheus URL, --metrics URL (a worker's /metrics) or --nats URL",
                    );
                }
                self.popups.push(Popup::Metrics { name: name.clone() });
                let ns = self.current.as_ref().map(|c| c.name.clone());
                if self.load.prometheus
                    && let Some(ns) = ns
                {
                    return vec![Effect::MetricsHistory {
                        ns,
                        component: name,
                    }];
                }
            }
            Cmd::Live => {
                self.popups.push(Popup::Live {
                    selected: 0,
                    filter: ListFilter::default(),
                });
                if !self.live.as_ref().is_some_and(|l| l.answered()) {
                    self.say(
                        Severity::Info,
                        "no discovery source answers (--etcd-endpoints, --file-kv): nothing registered to show",
                    );
                }
            }
            Cmd::Open if self.focus == Panel::Components => {
                if let Some(t) = self.selected_type() {
                    self.popups.push(Popup::Instances {
                        ty: t.ty.clone(),
                        selected: 0,
                        filter: ListFilter::default(),
                    });
                }
            }
            Cmd::Scale => {
                let Some(t) = self.selected_type() else {
                    return Vec::new();
                };
                self.popups.push(Popup::ScaleInput {
                    ty: t.ty.clone(),
                    input: t.running.to_string(),
                });
            }
            Cmd::Add | Cmd::Remove => {
                let op = if cmd == Cmd::Add { Op::Add } else { Op::Remove };
                // Workers first (what scaling is for), then infrastructure.
                let state = &cur.doc.state;
                let mut types: Vec<(bool, String)> = cur
                    .summary
                    .types
                    .iter()
                    .filter(|t| op == Op::Add || t.running > 0)
                    .map(|t| (scale::is_worker_type(state, &t.ty), t.ty.clone()))
                    .collect();
                types.sort_by_key(|(worker, _)| !worker);
                if types.is_empty() {
                    let msg = match op {
                        Op::Add => format!(
                            "namespace {} has no components: nothing to add (a new instance copies an existing entry)",
                            cur.name
                        ),
                        Op::Remove | Op::Scale(_) => {
                            "nothing is running, nothing to remove".to_string()
                        }
                    };
                    self.say(Severity::Warn, msg);
                    return Vec::new();
                }
                // Preselect the selected row's type when it is a worker, else the first
                // worker: infrastructure is never preselected.
                let sel_ty = self.selected_type().map(|t| t.ty.clone());
                let first_worker = types.iter().position(|(w, _)| *w);
                let selected = sel_ty
                    .and_then(|ty| types.iter().position(|(w, t)| *w && *t == ty))
                    .or(first_worker);
                let types: Vec<String> = types.into_iter().map(|(_, t)| t).collect();
                self.popups.push(Popup::Choose {
                    op,
                    types,
                    selected,
                });
            }
            _ => {}
        }
        Vec::new()
    }

    fn choose_cmd(&mut self, cmd: Cmd) -> Vec<Effect> {
        let Some(Popup::Choose {
            op,
            types,
            selected,
        }) = self.popups.last_mut()
        else {
            return Vec::new();
        };
        let last = types.len().saturating_sub(1);
        match cmd {
            Cmd::Up => *selected = Some(selected.map_or(0, |s| s.saturating_sub(1))),
            Cmd::Down => *selected = Some(selected.map_or(0, |s| (s + 1).min(last))),
            Cmd::Close => {
                self.popups.pop();
            }
            Cmd::Open => match selected.and_then(|i| types.get(i)).cloned() {
                Some(ty) => {
                    let op = *op;
                    self.open_confirm(op, ty);
                }
                None => self.say(Severity::Info, "pick a type first (j/k)"),
            },
            _ => {}
        }
        Vec::new()
    }

    fn open_confirm(&mut self, op: Op, ty: String) {
        self.open_plan(op, ty, None);
    }

    /// What Tab completes from: the commands, the open namespace's types (lower-cased, as
    /// shortcuts), and after `ns ` the namespaces.
    fn completions(&self, input: &str) -> (String, Vec<String>) {
        let (head, word) = match input.rsplit_once(' ') {
            Some((h, w)) => (format!("{h} "), w),
            None => (String::new(), input),
        };
        let types: Vec<String> = self
            .current
            .as_ref()
            .map(|c| c.summary.types.iter().map(|t| t.ty.clone()).collect())
            .unwrap_or_default();
        let pool: Vec<String> = match head.trim() {
            "" => ["ns", "scale", "q"]
                .iter()
                .map(|s| s.to_string())
                .chain(types.iter().map(|t| t.to_lowercase()))
                .collect(),
            "ns" => match &self.listing {
                Listing::Found(list) => list.iter().map(|n| n.name.clone()).collect(),
                _ => vec![],
            },
            "scale" => types,
            _ => vec![],
        };
        let lw = word.to_lowercase();
        let matches: Vec<String> = pool
            .into_iter()
            .filter(|c| c.to_lowercase().starts_with(&lw))
            .collect();
        (head, matches)
    }

    /// `:` then Tab / Enter / Esc.
    fn command_cmd(&mut self, cmd: Cmd) -> Vec<Effect> {
        let Some(Popup::Command { input, .. }) = self.popups.last() else {
            return Vec::new();
        };
        let input = input.clone();
        match cmd {
            Cmd::Close => {
                self.popups.pop();
                Vec::new()
            }
            Cmd::Complete => {
                let (head, matches) = self.completions(&input);
                let (new, hint) = match matches.as_slice() {
                    [] => (input.clone(), Some("no completion".to_string())),
                    [one] => (format!("{head}{one} "), None),
                    many => {
                        // The longest common prefix (case-insensitive), and the choices.
                        let first: Vec<char> = many[0].chars().collect();
                        let n = many[1..].iter().fold(first.len(), |n, m| {
                            first
                                .iter()
                                .zip(m.chars())
                                .take(n)
                                .take_while(|(a, b)| a.eq_ignore_ascii_case(b))
                                .count()
                        });
                        let prefix: String = first[..n].iter().collect();
                        (format!("{head}{prefix}"), Some(many.join("  ")))
                    }
                };
                if let Some(Popup::Command { input, hint: h }) = self.popups.last_mut() {
                    *input = new;
                    *h = hint;
                }
                Vec::new()
            }
            Cmd::Open => {
                self.popups.pop();
                self.run_command(input.trim())
            }
            _ => Vec::new(),
        }
    }

    /// `:q`, `:ns NAME`, `:scale TYPE N`, or a type name (a prefix will do) to jump to.
    fn run_command(&mut self, line: &str) -> Vec<Effect> {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            [] => Vec::new(),
            ["q" | "quit"] => {
                self.quit = true;
                Vec::new()
            }
            ["ns", name] => {
                let known =
                    matches!(&self.listing, Listing::Found(l) if l.iter().any(|n| n.name == *name));
                if !known {
                    self.say(Severity::Error, format!("no namespace {}", name));
                    return Vec::new();
                }
                self.popups.clear();
                if self.current.as_ref().is_some_and(|c| c.name == *name) {
                    return Vec::new();
                }
                self.want = Some(name.to_string());
                self.current = None;
                self.dash_filter.clear();
                self.say(Severity::Info, format!("opening {name}…"));
                vec![self.refresh()]
            }
            ["scale", ty, n] => {
                if self.readonly {
                    self.say(Severity::Warn, "read-only mode (--readonly): scale is off");
                    return Vec::new();
                }
                let Some(cur) = &self.current else {
                    self.say(Severity::Warn, "open a namespace first (:ns NAME)");
                    return Vec::new();
                };
                let Some(t) = cur
                    .summary
                    .types
                    .iter()
                    .find(|t| t.ty.eq_ignore_ascii_case(ty))
                    .map(|t| t.ty.clone())
                else {
                    self.say(Severity::Error, format!("no type {ty} in {}", cur.name));
                    return Vec::new();
                };
                match n.parse::<usize>() {
                    Ok(n) => self.open_plan(Op::Scale(n), t, None),
                    Err(_) => self.say(Severity::Error, format!("{n} is not a count")),
                }
                Vec::new()
            }
            [word] if self.current.is_some() => {
                // A type name, or the start of one: select its row.
                let w = word.to_lowercase();
                self.dash_filter.clear();
                let pos = self
                    .visible_types()
                    .iter()
                    .position(|t| t.ty.to_lowercase() == w)
                    .or_else(|| {
                        self.visible_types()
                            .iter()
                            .position(|t| t.ty.to_lowercase().starts_with(&w))
                    });
                match pos {
                    Some(i) => {
                        self.table_selected = i;
                        self.focus = Panel::Components;
                    }
                    None => self.say(Severity::Error, format!("unknown command or type: {word}")),
                }
                Vec::new()
            }
            _ => {
                self.say(
                    Severity::Error,
                    format!("unknown command: {line} (try ns NAME, scale TYPE N, q, or a type)"),
                );
                Vec::new()
            }
        }
    }

    /// The instances of a type, or one entry: move, open, remove that very instance.
    /// The drill-down's rows: the type's entries that pass its filter.
    pub fn visible_instances(&self, ty: &str, filter: &ListFilter) -> Vec<&scale::Instance> {
        let Some(cur) = &self.current else {
            return Vec::new();
        };
        cur.summary
            .types
            .iter()
            .find(|t| t.ty == ty)
            .map(|t| {
                t.instances
                    .iter()
                    .filter(|i| filter.matches(&[&i.watcher_name, &i.gpus.join(",")]))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The registered-instances panel's rows: the open namespace's instances in
    /// discovery, then the ones leaving, that pass `filter`.
    pub fn live_rows(&self, filter: &ListFilter) -> Vec<LiveRow<'_>> {
        let Some(cur) = &self.current else {
            return Vec::new();
        };
        let ns = cur.name.as_str();
        let keep = |i: &crate::discovery::Instance| {
            i.namespace == ns
                && (filter.text.is_empty()
                    || filter.matches(&[
                        &i.component,
                        &i.endpoint,
                        &i.instance_id_hex(),
                        i.source.as_str(),
                        &transport_text(&i.transport),
                    ]))
        };
        let mut rows: Vec<LiveRow> = self
            .live
            .iter()
            .flat_map(|l| l.of_namespace(ns))
            .filter(|i| keep(i))
            .map(|inst| LiveRow {
                inst,
                leaving: false,
            })
            .collect();
        let leaving = self.track.leaving.iter().filter(|(i, _)| keep(i));
        rows.extend(leaving.map(|(inst, _)| LiveRow {
            inst,
            leaving: true,
        }));
        fn key<'a>(r: &LiveRow<'a>) -> (&'a str, &'a str, u64) {
            (&r.inst.component, &r.inst.endpoint, r.inst.instance_id)
        }
        // A snapshot comes sorted: usually only leavers need placing.
        if !rows.is_sorted_by(|a, b| key(a) <= key(b)) {
            rows.sort_by(|a, b| key(a).cmp(&key(b)));
        }
        rows
    }

    fn live_cmd(&mut self, cmd: Cmd) -> Vec<Effect> {
        let page = 10;
        // The row count, and the selected row's identity when it is opened.
        let (count, chosen) = match self.popups.last() {
            Some(Popup::Live { filter, selected }) => {
                let rows = self.live_rows(filter);
                let chosen = (cmd == Cmd::Open)
                    .then(|| rows.get(*selected).map(|r| super::live::ident(r.inst)))
                    .flatten();
                (rows.len(), chosen)
            }
            _ => (0, None),
        };
        match self.popups.last_mut() {
            Some(Popup::Live { selected, filter }) => {
                let last = count.saturating_sub(1);
                match cmd {
                    Cmd::Up => *selected = selected.saturating_sub(1),
                    Cmd::Down => *selected = (*selected + 1).min(last),
                    Cmd::PageUp => *selected = selected.saturating_sub(page),
                    Cmd::PageDown => *selected = (*selected + page).min(last),
                    Cmd::Top => *selected = 0,
                    Cmd::Bottom => *selected = last,
                    Cmd::Filter => filter.typing = true,
                    Cmd::Close if !filter.text.is_empty() => {
                        *filter = ListFilter::default();
                        *selected = 0;
                    }
                    Cmd::Close => {
                        self.popups.pop();
                    }
                    Cmd::Open => {
                        if let Some(ident) = chosen {
                            self.popups.push(Popup::LiveEntry { ident, scroll: 0 });
                        }
                    }
                    _ => {}
                }
            }
            Some(Popup::LiveEntry { scroll, .. }) => match cmd {
                Cmd::Up => *scroll = scroll.saturating_sub(1),
                Cmd::Down => *scroll = scroll.saturating_add(1).min(ENTRY_MAX_SCROLL),
                Cmd::Close => {
                    self.popups.pop();
                }
                _ => {}
            },
            _ => {}
        }
        Vec::new()
    }

    fn instance_cmd(&mut self, cmd: Cmd) -> Vec<Effect> {
        let Some(cur) = &self.current else {
            return Vec::new();
        };
        let rows: Vec<(String, bool)> = match self.popups.last() {
            Some(Popup::Instances { ty, filter, .. }) => self
                .visible_instances(ty, filter)
                .iter()
                .map(|i| (i.name.clone(), i.parked))
                .collect(),
            _ => Vec::new(),
        };
        match self.popups.last_mut() {
            Some(Popup::Instances {
                ty,
                selected,
                filter,
            }) => {
                let n = rows.len();
                match cmd {
                    Cmd::Up => *selected = selected.saturating_sub(1),
                    Cmd::Down if *selected + 1 < n => *selected += 1,
                    Cmd::Filter => filter.typing = true,
                    Cmd::Close if !filter.text.is_empty() => {
                        *filter = ListFilter::default();
                        *selected = 0;
                    }
                    Cmd::Close => {
                        self.popups.pop();
                    }
                    Cmd::Open => {
                        if let Some((name, _)) = rows.get(*selected).cloned() {
                            self.popups.push(Popup::Entry { name, scroll: 0 });
                        }
                    }
                    Cmd::RemoveThis => {
                        let ty = ty.clone();
                        match rows.get(*selected).cloned() {
                            Some((name, false)) => {
                                self.open_plan(Op::Remove, ty, Some(name));
                            }
                            Some((name, true)) => self.say(
                                Severity::Warn,
                                format!("{name} is parked (the template): nothing runs to remove"),
                            ),
                            None => {}
                        }
                    }
                    _ => {}
                }
            }
            Some(Popup::Entry { name, scroll }) => match cmd {
                Cmd::Up => *scroll = scroll.saturating_sub(1),
                Cmd::Down => *scroll = scroll.saturating_add(1).min(ENTRY_MAX_SCROLL),
                Cmd::Close => {
                    self.popups.pop();
                }
                Cmd::RemoveThis => {
                    let name = name.clone();
                    let ty = scale::parse_entry(&cur.doc.state.namespace, &name).ty;
                    if cur
                        .doc
                        .state
                        .components
                        .get(&name)
                        .is_some_and(|c| c.is_parked())
                    {
                        self.say(
                            Severity::Warn,
                            format!("{name} is parked (the template): nothing runs to remove"),
                        );
                    } else {
                        self.open_plan(Op::Remove, ty, Some(name));
                    }
                }
                _ => {}
            },
            _ => {}
        }
        Vec::new()
    }

    /// `s` then Enter: the typed count becomes a plan and its confirm.
    fn scale_input_cmd(&mut self, cmd: Cmd) -> Vec<Effect> {
        let Some(Popup::ScaleInput { ty, input }) = self.popups.last() else {
            return Vec::new();
        };
        match cmd {
            Cmd::Close => {
                self.popups.pop();
            }
            Cmd::Open => {
                let ty = ty.clone();
                let Ok(n) = input.parse::<usize>() else {
                    self.say(Severity::Warn, "type how many instances should run");
                    return Vec::new();
                };
                self.popups.pop();
                self.open_plan(Op::Scale(n), ty, None);
            }
            _ => {}
        }
        Vec::new()
    }

    /// Applies the change (or the whole scale) to a copy of the state to say exactly what
    /// it will do; a type that is not a worker first gets a confirmation that says what
    /// scaling it means.
    fn open_plan(&mut self, op: Op, ty: String, target: Option<String>) {
        let Some(cur) = &self.current else {
            return;
        };
        let mut copy = cur.doc.state.clone();
        let plan = match plan_of(op, target.as_deref(), &mut copy, &ty) {
            Ok(p) if p.is_empty() => {
                self.say(
                    Severity::Info,
                    format!("{ty}: already at the requested count"),
                );
                return;
            }
            Ok(p) => p,
            Err(e) => {
                self.say(Severity::Error, format!("cannot {}: {e}", op_verb(op)));
                return;
            }
        };
        if !scale::is_worker_type(&cur.doc.state, &ty) {
            let (route, _) = self.route(op);
            let adds = plan.iter().any(|c| matches!(c, Change::Added { .. }));
            let (question, warning) = if adds {
                (
                    format!("{ty} is not a worker. Run another {ty}?"),
                    format!(
                        "Another {ty} runs beside the first: a second Frontend fights the first for its port (8000)."
                    ),
                )
            } else {
                (
                    format!("{ty} is not a worker. Stop a {ty}?"),
                    format!("Removing it takes the {ty} service away from the deployment."),
                )
            };
            self.popups.push(Popup::Confirm {
                intent: Intent {
                    ns: cur.name.clone(),
                    ty,
                    op,
                    expected: plan[0].clone(),
                    plan,
                    target,
                    route,
                    opts: self.scale_opts.clone(),
                    live_before: None,
                },
                question,
                warning: Some(warning),
                note: Some("Step 1 of 2: the exact change comes next.".into()),
                ok_focused: false,
                kind: ConfirmKind::Infra,
            });
            return;
        }
        self.push_confirm(op, ty, target, plan);
    }

    /// The confirm for `plan`, with its exact wording and where it goes.
    fn push_confirm(&mut self, op: Op, ty: String, target: Option<String>, plan: Vec<Change>) {
        let Some(cur) = &self.current else {
            return;
        };
        let Some(first) = plan.first().cloned() else {
            return;
        };
        let last_one = plan.iter().find_map(|c| match c {
            Change::Removed {
                ty, remaining: 0, ..
            } => Some(format!(
                "This is the last running {ty}: none will run afterwards."
            )),
            _ => None,
        });
        let question = match op {
            Op::Scale(n) => {
                let steps: Vec<String> = plan.iter().map(plan_phrase).collect();
                format!("Scale {ty} to {n}: {}?", steps.join(", "))
            }
            _ => {
                let mut q = plan_phrase(&first);
                q[..1].make_ascii_uppercase();
                if matches!(first, Change::Removed { parked: true, .. }) {
                    format!(
                        "{}? (it is the template: it stays, parked)",
                        q.trim_end_matches(" (parked as template)")
                    )
                } else {
                    format!("{q}?")
                }
            }
        };
        let removes = plan.iter().any(|c| matches!(c, Change::Removed { .. }));
        let (route, note) = self.route(op);
        self.popups.push(Popup::Confirm {
            intent: Intent {
                ns: cur.name.clone(),
                ty,
                op,
                expected: first,
                plan,
                target,
                route,
                opts: self.scale_opts.clone(),
                live_before: None,
            },
            question,
            warning: last_one,
            note: Some(note),
            ok_focused: !removes,
            kind: ConfirmKind::Change,
        });
    }

    fn confirm_cmd(&mut self, cmd: Cmd) -> Vec<Effect> {
        let Some(Popup::Confirm {
            intent,
            ok_focused,
            kind,
            ..
        }) = self.popups.last_mut()
        else {
            return Vec::new();
        };
        let kind = *kind;
        let go = match cmd {
            Cmd::SwitchButton => {
                *ok_focused = !*ok_focused;
                return Vec::new();
            }
            Cmd::Close => {
                self.popups.pop();
                return Vec::new();
            }
            Cmd::Yes => true,
            Cmd::No => false,
            Cmd::Open => *ok_focused,
            _ => return Vec::new(),
        };
        let mut intent = intent.clone();
        if go && kind == ConfirmKind::Infra {
            // Step 2 of 2: the exact change.
            self.popups.pop();
            self.push_confirm(intent.op, intent.ty, intent.target, intent.plan);
            return Vec::new();
        }
        // The route is decided now, from what the arbiter said last.
        if kind != ConfirmKind::Kill {
            intent.route = self.route(intent.op).0;
        }
        intent.live_before = self
            .live
            .as_ref()
            .and_then(|l| l.live_for_type(&intent.ns, &intent.ty));
        // Close the whole add/remove flow: the confirm and the chooser under it.
        self.popups.pop();
        if matches!(self.popups.last(), Some(Popup::Choose { .. })) {
            self.popups.pop();
        }
        if !go {
            self.say(Severity::Info, "cancelled");
            return Vec::new();
        }
        self.pending += 1;
        self.say(
            Severity::Info,
            format!(
                "{} {} in {}…",
                match intent.op {
                    Op::Add => "adding",
                    Op::Remove => "removing",
                    Op::Scale(_) => "scaling",
                },
                intent.ty,
                intent.ns
            ),
        );
        vec![Effect::Scale(intent)]
    }
}

/// What `op` would change, in order, applied to `state` (a copy).
fn plan_of(
    op: Op,
    target: Option<&str>,
    state: &mut crate::state::State,
    ty: &str,
) -> Result<Vec<Change>, crate::state::RuleError> {
    match op {
        Op::Add => scale::add(state, ty).map(|c| vec![c]),
        Op::Remove => match target {
            Some(t) => scale::remove_entry(state, t).map(|c| vec![c]),
            None => scale::remove(state, ty).map(|c| vec![c]),
        },
        Op::Scale(n) => {
            scale::check_scale(state, ty, n)?;
            scale::scale(state, ty, n)
        }
    }
}

/// Two plans do the same thing.
fn same_plan(a: &[Change], b: &[Change]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_effect(y))
}

/// "add dynamo_VllmWorker_3 on GPU 4", "remove dynamo_VllmWorker_5 and free GPU 6".
fn plan_phrase(c: &Change) -> String {
    match c {
        Change::Added { name, gpus, .. } => {
            let on = gpu_phrase(gpus)
                .map(|g| format!(" on {g}"))
                .unwrap_or_default();
            format!("add {name}{on}")
        }
        Change::Removed {
            name, gpus, parked, ..
        } => {
            let free = gpu_phrase(gpus)
                .map(|g| format!(" and free {g}"))
                .unwrap_or_default();
            let park = if *parked { " (parked as template)" } else { "" };
            format!("remove {name}{free}{park}")
        }
    }
}

fn op_verb(op: Op) -> &'static str {
    match op {
        Op::Add => "add",
        Op::Remove => "remove",
        Op::Scale(_) => "scale",
    }
}

/// Why a discovery-only namespace has no scaling keys.
pub fn no_scaling(ns: &str) -> String {
    format!(
        "nothing to scale in {ns}: it has no local planner state file (only discovery knows it; a Dynamo 1.x deployment scales through its own planner or Kubernetes)"
    )
}

/// The start of the warning shown while the open namespace's file cannot be read.
fn unreadable_now(name: &str) -> String {
    format!("{name}.json is unreadable now")
}

/// Rows a PgUp / PgDn moves in the picker.
const PAGE: usize = 10;

/// How far the entry view scrolls (the view stops at its last line anyway).
const ENTRY_MAX_SCROLL: u16 = 2000;

/// How many status messages `M` keeps.
pub const HISTORY: usize = 100;

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// "modified 3m ago" from an injected now.
pub fn age(now: SystemTime, then: Option<SystemTime>) -> String {
    let Some(then) = then else {
        return "age unknown".into();
    };
    let secs = now.duration_since(then).map(|d| d.as_secs()).unwrap_or(0);
    match secs {
        0..=9 => "just now".into(),
        10..=59 => format!("{secs}s ago"),
        60..=3599 => format!("{}m ago", secs / 60),
        3600..=86_399 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}
