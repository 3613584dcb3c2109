//! Live instances from Dynamo's discovery: etcd (Dynamo 0.3.x keys
//! `instances/<ns>/<Comp>/<endpoint>:<lease hex>` and 1.x keys
//! `v1/instances/<ns>/<comp>/<endpoint>/<instance id hex>`) and the 1.x file store
//! (`<root>/v1/instances/<percent-encoded key>`). No terminal in here: the CLI and the TUI
//! both call it.
//!
//! # API
//! - [`Config::from_args`] resolves the sources from the flags and the environment
//!   (`--etcd-endpoints`/`ETCD_ENDPOINTS`, `--file-kv`/`DYN_FILE_KV`, `--no-discovery`);
//!   [`Config::sources`] lists what is on. A source given by a flag or a variable is always
//!   on (and reports its errors); a default location (`http://localhost:2379`,
//!   `<temp dir>/dynamo_store_kv`) is on only when it answers / exists.
//! - [`snapshot`] (blocking, bounded by a timeout): every source once, merged into a
//!   [`Snapshot`] of [`SourceStatus`]es, [`Instance`]s and malformed-entry messages.
//! - [`spawn_watch`]: a live view. It runs on the current tokio runtime (or its own thread
//!   when there is none), keeps the merged state of all sources and calls `on_change` with
//!   the full current [`Snapshot`] after every change, coalesced (at most one call per
//!   [`Config::coalesce`], 50 ms). The first call comes once every source has answered or
//!   failed once. Dropping the [`WatchHandle`] stops it. Idle it wakes for nothing but the
//!   etcd watch stream (and its HTTP/2 keep-alive every 30 s), the file store's poll when
//!   `DYNAMO_CTL_WATCH=poll`, and a timer armed only while a file-store entry's staleness
//!   is due to change.
//! - Counting: [`Snapshot::count`] (distinct live instance ids of a component, optionally
//!   one endpoint), [`Snapshot::live_for_type`] (the planner's rule: `VllmWorker` on
//!   `generate`, `PrefillWorker` on `mock`, any endpoint for other types),
//!   [`Snapshot::namespaces`] (per namespace, per component). Stale file-store entries are
//!   listed but never counted. Every count is `None` when no source answered.
//! - [`wait_for_count`]: blocks until a component's count satisfies a predicate (the CLI's
//!   wait after an add or a remove).
//!
//! # For the TUI
//! ```text
//! let cfg = discovery::Config::from_args(&global);        // sources from flags / env
//! let handle = discovery::spawn_watch(cfg, move |snap| {   // on the TUI's tokio runtime
//!     let _ = tx.send(Action::InstancesChanged(snap));     // full Snapshot each time
//! });
//! // ... the namespace or screen changes: drop(handle) stops every task of the view.
//! // In App::update, from the latest Snapshot:
//! snap.sources;                                  // header: kind, location, ok/error
//! snap.namespaces()[ns].live / .components;      // picker: per namespace / component
//! snap.live_for_type(ns, "VllmWorker");          // dashboard: state-file type -> live
//! snap.of_namespace(ns);                         // an instances panel (stale flag shown)
//! ```
//! `on_change` runs on a runtime thread: keep it short (send the snapshot on). A
//! snapshot owns its data ([`Instance::value`] is shared through an `Arc`), so it can be
//! kept in `App` as is. File-store owners touch their files every ~3 s: each touch is a
//! change (the entry's mtime), so a view with file-store entries is called that often.
//!
//! # Semantics
//! - etcd: a snapshot (paged ranges at one revision), then one watch stream for both
//!   prefixes from the snapshot's revision + 1, so no event is lost in between. A broken
//!   stream, a compacted revision or a cancelled watch means a fresh snapshot (reconnects
//!   back off from 200 ms to 5 s); while etcd is unreachable its status is `error` and it
//!   contributes no instances (nothing it said before is trusted).
//! - File store: files under `v1/instances/`, `.tmp_*` and hidden files ignored. An entry
//!   whose mtime is older than [`Config::ttl`] (10 s, Dynamo's TTL) is `stale`; older than
//!   TTL + [`Config::grace`] (20 s) it is dropped. Followed with notify (inotify);
//!   [`Config::poll`] (default: `DYNAMO_CTL_WATCH=poll`) polls every second instead.
//! - A malformed key or value is a message in [`Snapshot::malformed`] (at most
//!   [`MAX_MALFORMED`] kept), never an error. Unknown fields stay in [`Instance::value`].
//!   Every string is as found: print it through [`crate::text::safe`].

mod etcd;
mod file;
pub mod parse;
mod watch;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use serde_json::{Map, Value};

pub use watch::{WatchHandle, spawn_watch};

/// Malformed-entry messages kept per snapshot.
pub const MAX_MALFORMED: usize = 1000;
/// Instances kept per source; past this the rest are counted as malformed.
pub const MAX_INSTANCES: usize = 200_000;
/// etcd's default client URL, used when nothing is configured (and only if it answers).
pub const DEFAULT_ETCD: &str = "http://localhost:2379";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Etcd,
    File,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Etcd => "etcd",
            SourceKind::File => "file",
        }
    }
}

/// Which Dynamo wrote the entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum Layout {
    #[serde(rename = "0.3")]
    V03,
    #[serde(rename = "1.x")]
    V1,
}

impl Layout {
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::V03 => "0.3",
            Layout::V1 => "1.x",
        }
    }
}

/// One registered endpoint instance.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Instance {
    pub namespace: String,
    pub component: String,
    pub endpoint: String,
    /// From the key (the lease id in hex, 0.3 and 1.x etcd; random in the file store).
    pub instance_id: u64,
    /// The value's `transport` object, as registered (null when missing).
    pub transport: Value,
    pub source: SourceKind,
    pub layout: Layout,
    /// File store only: not touched within the TTL.
    pub stale: bool,
    /// The etcd key, or the file store key the file name encodes.
    #[serde(skip)]
    pub key: String,
    /// etcd: the key's lease (0 = none).
    #[serde(skip)]
    pub lease: Option<i64>,
    /// etcd: the revision that last changed the key.
    #[serde(skip)]
    pub mod_revision: Option<i64>,
    /// File store: the file's mtime.
    #[serde(skip)]
    pub modified: Option<SystemTime>,
    /// The whole value, unknown fields included (shared: a snapshot clones cheaply).
    #[serde(skip)]
    pub value: Arc<Map<String, Value>>,
}

impl Instance {
    /// The id as Dynamo prints it (lower-case hex, as in the key and `worker_id` labels).
    pub fn instance_id_hex(&self) -> String {
        format!("{:x}", self.instance_id)
    }

    /// Value fields other than the ones every entry has (e.g. `device_type`).
    pub fn extra_fields(&self) -> impl Iterator<Item = (&String, &Value)> {
        const KNOWN: [&str; 6] = [
            "type",
            "component",
            "endpoint",
            "namespace",
            "instance_id",
            "transport",
        ];
        self.value
            .iter()
            .filter(|(k, _)| !KNOWN.contains(&k.as_str()))
    }

    /// The JSON of `dynamo-ctl instances`.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "namespace": self.namespace,
            "component": self.component,
            "endpoint": self.endpoint,
            "instance_id": self.instance_id,
            "instance_id_hex": self.instance_id_hex(),
            "transport": self.transport,
            "source": self.source,
            "layout": self.layout,
            "stale": self.stale,
            "key": self.key,
            "lease": self.lease,
            "modified": self.modified.map(|t| chrono::DateTime::<chrono::Utc>::from(t)
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
            "value": *self.value,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Error,
}

/// How one source answered.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SourceStatus {
    pub kind: SourceKind,
    /// etcd endpoints (comma-separated) or the file store root.
    pub location: String,
    pub status: Status,
    pub error: Option<String>,
    /// Times the live view took a fresh snapshot after the first (reconnects, compaction).
    #[serde(skip)]
    pub resyncs: u64,
}

impl SourceStatus {
    pub fn ok(&self) -> bool {
        self.status == Status::Ok
    }
}

/// Everything the sources said, merged.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Snapshot {
    pub sources: Vec<SourceStatus>,
    /// Sorted by namespace, component, endpoint, instance id, source.
    pub instances: Vec<Instance>,
    pub malformed: Vec<String>,
    /// Malformed entries in all (the list above is capped).
    pub malformed_count: usize,
}

/// One namespace as discovery sees it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct NamespaceLive {
    /// Distinct live (not stale) instance ids over every component.
    pub live: usize,
    /// Distinct live instance ids per component (as registered: case kept).
    pub components: BTreeMap<String, usize>,
    /// The sources that know the namespace (stale entries included).
    pub sources: BTreeSet<SourceKind>,
}

/// The endpoint the planner counts for a type: `generate` for VllmWorker, `mock` for
/// PrefillWorker, any for the rest (type names compared case-insensitively).
pub fn planner_endpoint(ty: &str) -> Option<&'static str> {
    if ty.eq_ignore_ascii_case("VllmWorker") {
        Some("generate")
    } else if ty.eq_ignore_ascii_case("PrefillWorker") {
        Some("mock")
    } else {
        None
    }
}

impl Snapshot {
    /// Whether any source answered.
    pub fn answered(&self) -> bool {
        self.sources.iter().any(SourceStatus::ok)
    }

    /// Distinct live instance ids of `component` (case-insensitive) in `ns`, on `endpoint`
    /// when given. `None` when no source answered.
    pub fn count(&self, ns: &str, component: &str, endpoint: Option<&str>) -> Option<usize> {
        if !self.answered() {
            return None;
        }
        let comp = component.to_lowercase();
        let ids: BTreeSet<u64> = self
            .instances
            .iter()
            .filter(|i| {
                !i.stale
                    && i.namespace == ns
                    && i.component.to_lowercase() == comp
                    && endpoint.is_none_or(|e| i.endpoint == e)
            })
            .map(|i| i.instance_id)
            .collect();
        Some(ids.len())
    }

    /// A state-file type's live count, with the planner's endpoint rule.
    pub fn live_for_type(&self, ns: &str, ty: &str) -> Option<usize> {
        self.count(ns, ty, planner_endpoint(ty))
    }

    /// Per namespace: live counts and which sources know it.
    pub fn namespaces(&self) -> BTreeMap<String, NamespaceLive> {
        let mut out: BTreeMap<String, NamespaceLive> = BTreeMap::new();
        let mut ids: HashMap<(&str, Option<&str>), BTreeSet<u64>> = HashMap::new();
        for i in &self.instances {
            let e = out.entry(i.namespace.clone()).or_default();
            e.sources.insert(i.source);
            if i.stale {
                continue;
            }
            e.components.entry(i.component.clone()).or_insert(0);
            ids.entry((&i.namespace, None))
                .or_default()
                .insert(i.instance_id);
            ids.entry((&i.namespace, Some(&i.component)))
                .or_default()
                .insert(i.instance_id);
        }
        for ((ns, comp), set) in ids {
            let e = out.get_mut(ns).expect("namespace entered above");
            match comp {
                None => e.live = set.len(),
                Some(c) => {
                    e.components.insert(c.to_string(), set.len());
                }
            }
        }
        out
    }

    /// The instances of one namespace.
    pub fn of_namespace<'a>(&'a self, ns: &'a str) -> impl Iterator<Item = &'a Instance> + 'a {
        self.instances.iter().filter(move |i| i.namespace == ns)
    }
}

/// The etcd source.
#[derive(Clone, Debug, PartialEq)]
pub struct EtcdSource {
    pub endpoints: Vec<String>,
    /// Given by a flag or `ETCD_ENDPOINTS` (else the default, on only when it answers).
    pub explicit: bool,
}

/// The file store source.
#[derive(Clone, Debug, PartialEq)]
pub struct FileSource {
    pub root: PathBuf,
    /// Given by a flag or `DYN_FILE_KV` (else the default, on only when it exists).
    pub explicit: bool,
}

/// Which sources to read and how long to wait.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub etcd: Option<EtcdSource>,
    pub file: Option<FileSource>,
    /// Bound on each connect or request.
    pub timeout: Duration,
    /// File store TTL (Dynamo's is 10 s).
    pub ttl: Duration,
    /// How long a stale file-store entry stays listed before it is dropped.
    pub grace: Duration,
    /// The live view's coalescing window.
    pub coalesce: Duration,
    /// Follow the file store by polling (every second) instead of inotify; defaults to
    /// `DYNAMO_CTL_WATCH=poll` (e.g. NFS).
    pub poll: bool,
    /// Testing aid: a pause between the live view's etcd snapshot and its watch.
    #[doc(hidden)]
    pub watch_delay: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            etcd: None,
            file: None,
            timeout: Duration::from_secs(2),
            ttl: Duration::from_secs(10),
            grace: Duration::from_secs(20),
            coalesce: Duration::from_millis(50),
            poll: std::env::var("DYNAMO_CTL_WATCH").is_ok_and(|v| v == "poll"),
            watch_delay: Duration::ZERO,
        }
    }
}

/// Splits `ETCD_ENDPOINTS`-style text (comma-separated, blanks dropped, at most 32).
pub fn split_endpoints(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .take(32)
        .map(str::to_string)
        .collect()
}

impl Config {
    /// From the flags, then `ETCD_ENDPOINTS` / `DYN_FILE_KV`, then the defaults.
    pub fn from_args(g: &crate::args::Global) -> Config {
        let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
        Config::resolve(
            g.no_discovery,
            g.etcd_endpoints
                .clone()
                .or_else(|| env("ETCD_ENDPOINTS").map(|v| v.to_string_lossy().into_owned())),
            g.file_kv
                .clone()
                .or_else(|| env("DYN_FILE_KV").map(PathBuf::from)),
            Duration::from_secs_f64(g.discovery_timeout),
        )
    }

    /// From explicit values (`None` = use the default location, if it answers).
    pub fn resolve(
        off: bool,
        etcd: Option<String>,
        file: Option<PathBuf>,
        timeout: Duration,
    ) -> Config {
        if off {
            return Config {
                timeout,
                ..Config::default()
            };
        }
        let etcd = match etcd {
            Some(s) => EtcdSource {
                endpoints: split_endpoints(&s),
                explicit: true,
            },
            None => EtcdSource {
                endpoints: vec![DEFAULT_ETCD.to_string()],
                explicit: false,
            },
        };
        let file = match file {
            Some(root) => Some(FileSource {
                root,
                explicit: true,
            }),
            None => {
                let root = std::env::temp_dir().join("dynamo_store_kv");
                root.is_dir().then_some(FileSource {
                    root,
                    explicit: false,
                })
            }
        };
        Config {
            etcd: Some(etcd),
            file,
            timeout,
            ..Config::default()
        }
    }

    /// Only etcd at these endpoints.
    pub fn etcd_only(endpoints: &str) -> Config {
        Config {
            etcd: Some(EtcdSource {
                endpoints: split_endpoints(endpoints),
                explicit: true,
            }),
            ..Config::default()
        }
    }

    /// Only the file store at `root`.
    pub fn file_only(root: impl Into<PathBuf>) -> Config {
        Config {
            file: Some(FileSource {
                root: root.into(),
                explicit: true,
            }),
            ..Config::default()
        }
    }

    /// The sources that will be asked: (kind, location, explicit).
    pub fn sources(&self) -> Vec<(SourceKind, String, bool)> {
        let mut v = Vec::new();
        if let Some(e) = &self.etcd {
            v.push((SourceKind::Etcd, e.endpoints.join(","), e.explicit));
        }
        if let Some(f) = &self.file {
            v.push((SourceKind::File, f.root.display().to_string(), f.explicit));
        }
        v
    }

    /// Whether any source may be on.
    pub fn any(&self) -> bool {
        self.etcd.is_some() || self.file.is_some()
    }
}

/// What one source contributed: its status and entries by key.
#[derive(Debug, Default)]
pub(crate) struct SourceState {
    pub status: Option<SourceStatus>,
    pub instances: HashMap<String, Instance>,
    /// Malformed entries by key (so a later good value clears them).
    pub malformed: BTreeMap<String, String>,
}

impl SourceState {
    pub fn put(&mut self, key: String, entry: Result<Instance, String>) {
        match entry {
            Ok(i) => {
                self.malformed.remove(&key);
                if self.instances.len() < MAX_INSTANCES || self.instances.contains_key(&key) {
                    self.instances.insert(key, i);
                } else {
                    self.malformed.insert(
                        key,
                        format!("more than {MAX_INSTANCES} instances: the rest are not kept"),
                    );
                }
            }
            Err(m) => {
                self.instances.remove(&key);
                if self.malformed.len() < MAX_INSTANCES {
                    self.malformed.insert(key, m);
                }
            }
        }
    }

    pub fn delete(&mut self, key: &str) {
        self.instances.remove(key);
        self.malformed.remove(key);
    }

    /// File store: sets `stale` by mtime, drops entries past TTL + grace. Returns whether
    /// anything changed.
    pub fn refresh_stale(&mut self, now: SystemTime, ttl: Duration, grace: Duration) -> bool {
        let mut changed = false;
        self.instances.retain(|_, i| {
            let Some(m) = i.modified else { return true };
            let age = now.duration_since(m).unwrap_or_default();
            if age > ttl + grace {
                changed = true;
                return false;
            }
            let stale = age > ttl;
            if stale != i.stale {
                i.stale = stale;
                changed = true;
            }
            true
        });
        changed
    }

    /// When the next staleness change is due (a file entry going stale or being dropped).
    pub fn next_stale_change(
        &self,
        now: SystemTime,
        ttl: Duration,
        grace: Duration,
    ) -> Option<Instant> {
        let soonest = self
            .instances
            .values()
            .filter_map(|i| {
                let m = i.modified?;
                let at = if i.stale { m + ttl + grace } else { m + ttl };
                Some(at.duration_since(now).unwrap_or_default())
            })
            .min()?;
        // Just past the boundary, so the comparison above has flipped when it fires.
        Some(Instant::now() + soonest + Duration::from_millis(5))
    }
}

/// Merges the sources' states into a snapshot.
pub(crate) fn merge<'a>(states: impl IntoIterator<Item = &'a SourceState>) -> Snapshot {
    let mut snap = Snapshot::default();
    for s in states {
        let Some(st) = &s.status else { continue };
        snap.sources.push(st.clone());
        snap.instances.extend(s.instances.values().cloned());
        snap.malformed_count += s.malformed.len();
        for m in s.malformed.values() {
            if snap.malformed.len() < MAX_MALFORMED {
                snap.malformed.push(m.clone());
            }
        }
    }
    snap.instances.sort_by(|a, b| {
        (
            &a.namespace,
            &a.component,
            &a.endpoint,
            a.instance_id,
            a.source,
        )
            .cmp(&(
                &b.namespace,
                &b.component,
                &b.endpoint,
                b.instance_id,
                b.source,
            ))
    });
    snap
}

/// Every configured source once, within about `timeout` (each source is also bounded by
/// `cfg.timeout`). A default source that does not answer is left out; a configured one
/// that fails is listed with status `error`. Never blocks longer than `timeout` + a moment.
pub fn snapshot(cfg: &Config, timeout: Duration) -> Snapshot {
    if !cfg.any() {
        return Snapshot::default();
    }
    let cfg2 = cfg.clone();
    let run = async move {
        let etcd = async {
            match &cfg2.etcd {
                Some(e) => Some(etcd::snapshot(e, cfg2.timeout.min(timeout)).await),
                None => None,
            }
        };
        let file = async {
            match &cfg2.file {
                Some(f) => {
                    let f = f.clone();
                    let (ttl, grace) = (cfg2.ttl, cfg2.grace);
                    tokio::task::spawn_blocking(move || file::snapshot(&f, ttl, grace))
                        .await
                        .ok()
                }
                None => None,
            }
        };
        let (e, f) = tokio::join!(etcd, file);
        let mut states = Vec::new();
        if let Some(Some(e)) = e {
            states.push(e);
        }
        if let Some(f) = f {
            states.push(f);
        }
        merge(&states)
    };
    // On a runtime already (a caller inside tokio): run on a helper thread.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build();
    let Ok(rt) = rt else {
        return Snapshot::default();
    };
    let limit = timeout + Duration::from_millis(500);
    let fut = async move { tokio::time::timeout(limit, run).await.ok() };
    let out = if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|s| s.spawn(move || rt.block_on(fut)).join().ok().flatten())
    } else {
        rt.block_on(fut)
    };
    out.unwrap_or_else(|| {
        let mut snap = Snapshot::default();
        for (kind, location, _) in cfg.sources() {
            snap.sources.push(SourceStatus {
                kind,
                location,
                status: Status::Error,
                error: Some(format!("no answer within {:.1}s", timeout.as_secs_f64())),
                resyncs: 0,
            });
        }
        snap
    })
}

/// Why [`wait_for_count`] stopped without the count it waited for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitOutcome {
    /// The predicate held; the count then.
    Reached(usize),
    /// Not within the timeout; the last count seen (None: no source answered then).
    TimedOut(Option<usize>),
    /// No discovery source answered at all: nothing to wait for.
    NoSource,
}

/// Waits until the live count of `component` in `ns` (on `endpoint` when given) satisfies
/// `predicate`, asking the sources every 250 ms (each ask bounded by `cfg.timeout`), at
/// most `timeout`. `progress` is told each new count.
pub fn wait_for_count(
    cfg: &Config,
    ns: &str,
    component: &str,
    endpoint: Option<&str>,
    predicate: impl Fn(usize) -> bool,
    timeout: Duration,
    progress: &mut dyn FnMut(&str),
) -> WaitOutcome {
    let start = Instant::now();
    let mut last: Option<usize> = None;
    let mut answered_once = false;
    loop {
        let snap = snapshot(cfg, cfg.timeout);
        let n = snap.count(ns, component, endpoint);
        answered_once |= n.is_some();
        if let Some(n) = n {
            if last != Some(n) {
                progress(&format!(
                    "{component}{}: {n} registered in discovery",
                    endpoint.map(|e| format!("/{e}")).unwrap_or_default()
                ));
            }
            if predicate(n) {
                return WaitOutcome::Reached(n);
            }
            last = Some(n);
        }
        if start.elapsed() >= timeout {
            return if answered_once {
                WaitOutcome::TimedOut(last)
            } else {
                WaitOutcome::NoSource
            };
        }
        std::thread::sleep(Duration::from_millis(250).min(timeout.saturating_sub(start.elapsed())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inst(ns: &str, comp: &str, ep: &str, id: u64, src: SourceKind, stale: bool) -> Instance {
        Instance {
            namespace: ns.into(),
            component: comp.into(),
            endpoint: ep.into(),
            instance_id: id,
            transport: Value::Null,
            source: src,
            layout: Layout::V1,
            stale,
            key: format!("{ns}/{comp}/{ep}/{id:x}"),
            lease: None,
            mod_revision: None,
            modified: None,
            value: Arc::default(),
        }
    }

    #[test]
    fn counts_follow_the_planner_rule() {
        let ok = SourceStatus {
            kind: SourceKind::Etcd,
            location: "x".into(),
            status: Status::Ok,
            error: None,
            resyncs: 0,
        };
        let mut s = Snapshot {
            sources: vec![ok],
            ..Default::default()
        };
        s.instances = vec![
            inst("d", "VllmWorker", "generate", 1, SourceKind::Etcd, false),
            inst(
                "d",
                "VllmWorker",
                "load_metrics",
                1,
                SourceKind::Etcd,
                false,
            ),
            inst("d", "VllmWorker", "generate", 2, SourceKind::Etcd, false),
            inst("d", "vllmworker", "generate", 2, SourceKind::File, false),
            inst("d", "PrefillWorker", "mock", 3, SourceKind::Etcd, false),
            inst("d", "PrefillWorker", "other", 4, SourceKind::Etcd, false),
            inst("d", "Frontend", "a", 5, SourceKind::Etcd, false),
            inst("d", "Frontend", "b", 6, SourceKind::File, true),
            inst("e", "backend", "generate", 7, SourceKind::File, true),
        ];
        assert_eq!(s.live_for_type("d", "VllmWorker"), Some(2));
        assert_eq!(s.live_for_type("d", "PrefillWorker"), Some(1));
        assert_eq!(s.live_for_type("d", "Frontend"), Some(1));
        assert_eq!(s.live_for_type("d", "Planner"), Some(0));
        let ns = s.namespaces();
        assert_eq!(ns["d"].live, 5);
        assert_eq!(ns["d"].components["VllmWorker"], 2);
        assert_eq!(ns["e"].live, 0);
        assert!(ns["e"].sources.contains(&SourceKind::File));
        s.sources[0].status = Status::Error;
        assert_eq!(s.live_for_type("d", "VllmWorker"), None);
    }

    #[test]
    fn staleness_by_mtime() {
        let mut st = SourceState::default();
        let now = SystemTime::now();
        let mut a = inst("d", "c", "e", 1, SourceKind::File, false);
        a.modified = Some(now - Duration::from_secs(11));
        let mut b = inst("d", "c", "e", 2, SourceKind::File, false);
        b.modified = Some(now - Duration::from_secs(40));
        let mut c = inst("d", "c", "e", 3, SourceKind::File, false);
        c.modified = Some(now);
        st.put("a".into(), Ok(a));
        st.put("b".into(), Ok(b));
        st.put("c".into(), Ok(c));
        let (ttl, grace) = (Duration::from_secs(10), Duration::from_secs(20));
        assert!(st.refresh_stale(now, ttl, grace));
        assert!(st.instances["a"].stale);
        assert!(!st.instances.contains_key("b"));
        assert!(!st.instances["c"].stale);
        assert!(st.next_stale_change(now, ttl, grace).is_some());
        assert!(!st.refresh_stale(now, ttl, grace));
        st.put("x".into(), Err("bad".into()));
        assert_eq!(merge([&st]).malformed_count, 0, "no status: not merged");
    }
}
