//! What the sources said: the directory listing, the open namespace's file, the arbiter,
//! discovery, load, and the status messages. Panels read it; only `App` changes it.

use std::path::PathBuf;
use std::time::SystemTime;

mod health;
mod lines;
pub mod planner;
mod update;

pub use lines::Lines;

use crate::arbiter::{Options, Watcher};
use crate::discovery::Snapshot;
use crate::rows::Rows;
use crate::state::json::JsonStyle;
use crate::state::scale::{self, Summary};
use crate::state::{Document, NamespaceEntry};
use crate::tui::live::Tracker;

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
                    let (counts, gpus_used, gpus_total) = scale::brief(&doc.state);
                    Ok(Brief {
                        counts,
                        gpus_used,
                        gpus_total,
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
    pub json: Lines,
    pub modified: Option<SystemTime>,
}

/// The State panel keeps at most this much of the state's JSON: beyond, the lines are
/// counted, not kept (a 100 MB state file would otherwise cost twice its size again).
pub const STATE_TEXT_CAP: usize = 16 << 20;

impl Current {
    pub fn new(name: String, path: PathBuf, doc: Document, modified: Option<SystemTime>) -> Self {
        let summary = scale::summarize(&doc.state);
        let json = match doc.render_capped(JsonStyle::PLANNER, STATE_TEXT_CAP) {
            Ok((text, 0)) => Lines::new(text),
            Ok((text, more)) => {
                let mut l = Lines::new(text);
                l.push(&format!(
                    "// ... and {more} more lines (a state this big is shown up to {} MiB: `dynamo-ctl show {} -o json` or the file itself has it all)",
                    STATE_TEXT_CAP >> 20,
                    crate::text::safe(&name)
                ));
                l
            }
            Err(_) => Lines::new("(cannot render the state as JSON)".into()),
        };
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

/// Registrations shown as JSON in the State panel of a discovery-only namespace (the
/// rest are counted: the panel is rebuilt with every discovery change, on the UI thread).
const JSON_INSTANCES: usize = 200;

/// The namespace's registered instances as pretty JSON lines (the State panel of a
/// discovery-only namespace), the first [`JSON_INSTANCES`] of them.
pub fn instances_json(live: Option<&Snapshot>, ns: &str) -> Lines {
    let (list, total) = live.map_or((Vec::new(), 0), |s| {
        let list: Vec<&crate::discovery::Instance> =
            s.of_namespace(ns).take(JSON_INSTANCES).collect();
        let total = if list.len() < JSON_INSTANCES {
            list.len()
        } else {
            s.of_namespace(ns).count()
        };
        (list, total)
    });
    let mut lines = Lines::new(serde_json::to_string_pretty(&list).unwrap_or_default());
    if total > list.len() {
        lines.push(&format!(
            "// and {} more (dynamo-ctl instances {} -o json lists them all)",
            total - list.len(),
            crate::text::safe(ns)
        ));
    }
    lines
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

pub use crate::tui::widgets::footer::Severity;

#[derive(Clone, Debug, PartialEq)]
pub struct Status {
    /// Wall-clock time of the message, as shown (injected).
    pub at: String,
    pub severity: Severity,
    pub text: String,
}

/// What the sources said, and what the TUI derived from it; changed only by `App`.
pub struct Data {
    pub dir: PathBuf,
    pub readonly: bool,
    pub now: SystemTime,
    pub clock: String,
    pub listing: Listing,
    /// The namespace being opened or shown.
    pub want: Option<String>,
    pub current: Option<Current>,
    pub status: Option<Status>,
    /// Effects started and not yet finished (the spinner shows while > 0).
    pub pending: usize,
    pub arbiter: ArbiterStatus,
    /// An arbiter poll is in flight.
    pub polling: bool,
    /// `--demo` / `--state-only`: why no process is ever started or stopped.
    pub file_only: Option<&'static str>,
    /// Timeouts for changes through the arbiter.
    pub scale_opts: Options,
    /// Discovery's live view (None until it first answers, or with no source on).
    pub live: Option<Snapshot>,
    /// The state directory's namespaces, before discovery's are merged in.
    pub state_listing: Listing,
    /// A broken read of the open namespace was followed by one more read already.
    pub reread_broken: bool,
    /// The last status messages (at most [`HISTORY`]), oldest first.
    pub history: std::collections::VecDeque<Status>,
    /// `p`: live updates (file watch, arbiter polls) are not applied.
    pub paused: bool,
    /// When the open namespace was last read (the clock's label).
    pub last_refresh: Option<String>,
    /// The next reload of the open namespace is expected to differ (a change raced): keep
    /// the status line that explains it instead of "changed on disk".
    pub hold_status: bool,
    /// Flashing, leaving and first-seen instances, and a followed registration.
    pub track: Tracker,
    /// Load numbers: the last metrics round and this session's history.
    pub load: super::load::Load,
    /// A discovery source is on and has not answered yet: a namespace with no state file
    /// may still be one discovery knows (`-n` of a Dynamo 1.x deployment).
    pub awaiting_discovery: bool,
    /// Since when each namespace's planner decision is in its state ([`planner`]).
    pub planner_seen: std::collections::HashMap<String, planner::Seen>,
    /// Status messages said in all (the history keeps the last [`HISTORY`]): message `i`
    /// of the history is number `said - history.len() + i`.
    pub said: u64,
    /// How many lines a log panel keeps (config `log_lines`).
    pub log_lines: usize,
    /// The namespace (`want`) of each refresh started and not yet answered.
    pub refreshing: Vec<Option<String>>,
    /// The open namespace's rows: file, circus, discovery, planner and load joined
    /// ([`Rows`]); rebuilt when one of them changes ([`Data::rejoin`]), never per frame.
    pub rows: Rows,
    /// A source of [`Data::rows`] changed since they were joined.
    pub rows_stale: bool,
}

impl Data {
    /// The open namespace's rows as the sources say now.
    pub fn join(&self) -> Rows {
        let Some(cur) = &self.current else {
            return Rows::default();
        };
        let circus = match &self.arbiter {
            ArbiterStatus::Online { watchers, .. } => Some(crate::rows::Circus {
                watchers,
                unknown: &[],
            }),
            _ => None,
        };
        let src = crate::rows::Sources {
            circus,
            live: self.live.as_ref(),
            metrics: self.load.last.as_ref(),
        };
        if cur.discovery_only {
            Rows::of_discovery(&cur.name, src)
        } else {
            Rows::of_file(&cur.summary, src)
        }
    }

    /// Joins the rows again when a source changed since the last join.
    pub fn rejoin(&mut self) {
        if std::mem::take(&mut self.rows_stale) {
            self.rows = self.join();
        }
    }
}

/// How many status messages `M` keeps.
pub const HISTORY: usize = 1000;

/// "3m ago" from an injected now ([`crate::text::ago`], the CLI's words too).
pub fn age(now: SystemTime, then: Option<SystemTime>) -> String {
    then.map_or_else(|| "age unknown".into(), |t| crate::text::ago(now, t))
}

/// Why a discovery-only namespace has no scaling keys.
pub fn no_scaling(ns: &str) -> String {
    format!(
        "nothing to scale in {ns}: it has no local planner state file (only discovery knows it; a Dynamo 1.x deployment scales through its own planner or Kubernetes)"
    )
}
