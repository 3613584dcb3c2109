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
//!   listed but never counted. Every count is `None` when no source answered. The counts
//!   come from an [`Index`] built once per snapshot (by the live view, before it hands
//!   the snapshot on), so each question is a lookup; [`Snapshot::of_namespace`] is a
//!   binary search.
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
//! snapshot owns its data (names, keys and values are shared [`Name`]s), so it can be
//! kept in `App` as is. Each snapshot of a live view carries [`Snapshot::changes`]: the
//! instances added and removed since the view's previous one, so a consumer's work per
//! snapshot is O(changes). File-store owners touch their files every ~3 s: each touch is
//! a change (the entry's mtime), so a view with file-store entries is called that often.
//!
//! # Memory
//! One compact [`Instance`] per registration: namespace, component and endpoint are
//! interned (one string per distinct name), the key is kept once, and the value is kept as
//! its raw JSON text, parsed on demand ([`Instance::transport`], [`Instance::value`], the
//! JSON output, which streams through `Serialize`). About 0.5 KB per Dynamo registration.
//!
//! # Semantics
//! - etcd: a snapshot (paged ranges at one revision), then one watch stream for both
//!   prefixes from the snapshot's revision + 1, so no event is lost in between. A broken
//!   stream, a compacted revision or a cancelled watch means a fresh snapshot (reconnects
//!   back off from 200 ms to 5 s); while etcd is unreachable its status is `error` and it
//!   contributes no instances (nothing it said before is trusted).
//!   A range page is at most 1,000 keys and 16 MiB: a bigger answer is asked again in
//!   smaller pages, and one entry alone past 16 MiB is counted as malformed by its key.
//! - File store: files under `v1/instances/`, `.tmp_*` and hidden files ignored. An entry
//!   not touched for [`Config::ttl`] (10 s, Dynamo's TTL) is `stale`; after TTL +
//!   [`Config::grace`] (20 s) it is dropped. "Touched" is the file's mtime, except that
//!   an mtime in the future (clock skew, or a hostile file: 10^13 s) counts as touched
//!   when that mtime was first seen: an entry is live at most one TTL past the last time
//!   its mtime was seen to change, whatever date it claims. Followed with notify
//!   (inotify) on the bucket directory alone, never recursively (a bucket that is a
//!   symlink to a big tree costs one watch); [`Config::poll`] (default:
//!   `DYNAMO_CTL_WATCH=poll`) polls every second instead.
//! - A malformed key or value is a message in [`Snapshot::malformed`] (at most
//!   [`MAX_MALFORMED`] kept), never an error. Unknown fields stay in [`Instance::raw`].
//!   Every string is as found: print it through [`crate::text::safe`]. Every time read
//!   from outside goes through checked arithmetic ([`rfc3339`] never panics).

mod etcd;
mod file;
pub mod follow;
pub mod listing;
mod model;
mod name;
pub mod parse;
pub mod planner;
mod state;
mod watch;

use std::path::PathBuf;
use std::time::{Duration, Instant};

pub use model::{
    Cache, Changes, Ident, Index, Instance, Layout, Name, NamespaceLive, Snapshot, SourceKind,
    SourceStatus, Status, planner_endpoint, rfc3339,
};
pub(crate) use state::{SourceState, merge};
pub use watch::{WatchHandle, spawn_watch};

/// Malformed-entry messages kept per snapshot.
pub const MAX_MALFORMED: usize = 1000;
/// Instances kept per source; past this the rest are counted as malformed.
pub const MAX_INSTANCES: usize = 200_000;
/// etcd's default client URL, used when nothing is configured (and only if it answers).
pub const DEFAULT_ETCD: &str = "http://localhost:2379";

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
                    tokio::task::spawn_blocking(move || {
                        let mut names = model::Interner::default();
                        file::snapshot(&f, ttl, grace, &mut names, &mut Default::default())
                    })
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
    use std::sync::Arc;
    use std::time::SystemTime;

    fn inst(ns: &str, comp: &str, ep: &str, id: u64, src: SourceKind, stale: bool) -> Instance {
        Instance {
            namespace: ns.into(),
            component: comp.into(),
            endpoint: ep.into(),
            instance_id: id,
            source: src,
            layout: Layout::V1,
            stale,
            key: format!("{ns}/{comp}/{ep}/{id:x}").into(),
            lease: None,
            mod_revision: None,
            modified: None,
            mtime: None,
            raw: "{}".into(),
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
        s.instances = [
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
        ]
        .into_iter()
        .map(Arc::new)
        .collect();
        assert_eq!(s.live_for_type("d", "VllmWorker"), Some(2));
        assert_eq!(s.live_for_type("d", "PrefillWorker"), Some(1));
        assert_eq!(s.live_for_type("d", "Frontend"), Some(1));
        assert_eq!(s.live_for_type("d", "Planner"), Some(0));
        assert_eq!(s.count("x", "Frontend", None), Some(0));
        let ns = s.namespaces();
        assert_eq!(ns["d"].live, 5);
        assert_eq!(ns["d"].components["VllmWorker"], 2);
        assert_eq!(ns["e"].live, 0);
        assert!(ns["e"].sources.contains(&SourceKind::File));
        assert_eq!(s.of_namespace("d").count(), 8);
        assert_eq!(s.of_namespace("e").count(), 1);
        s.sources[0].status = Status::Error;
        assert_eq!(s.live_for_type("d", "VllmWorker"), None);
        // A clone starts without the counts: it may be changed, then asked.
        let mut c = s.clone();
        c.sources[0].status = Status::Ok;
        c.instances.retain(|i| i.instance_id != 2);
        assert_eq!(c.live_for_type("d", "VllmWorker"), Some(1));
        // Unsorted (made by hand): of_namespace still finds every one.
        c.instances.reverse();
        let c = c.clone();
        assert_eq!(c.of_namespace("d").count(), 6);
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
        let (ka, kb, kc) = (a.key.clone(), b.key.clone(), c.key.clone());
        st.put(&ka, Ok(a));
        st.put(&kb, Ok(b));
        st.put(&kc, Ok(c));
        let (ttl, grace) = (Duration::from_secs(10), Duration::from_secs(20));
        let (changed, dropped) = st.refresh_stale(now, ttl, grace);
        assert!(changed);
        assert_eq!(dropped.len(), 1);
        assert!(st.instances[ka.as_str()].stale);
        assert!(!st.instances.contains_key(kb.as_str()));
        assert!(!st.instances[kc.as_str()].stale);
        assert!(st.next_stale_change(now, ttl, grace).is_some());
        assert!(!st.refresh_stale(now, ttl, grace).0);
        st.put("x", Err("bad".into()));
        assert_eq!(merge([&st]).malformed_count, 0, "no status: not merged");
    }

    /// Times from outside never overflow: an mtime at the end of time is no panic.
    #[test]
    fn times_at_the_edge_of_the_range() {
        let mut st = SourceState::default();
        let now = SystemTime::now();
        let (ttl, grace) = (Duration::from_secs(10), Duration::from_secs(20));
        for (n, secs) in [
            (1u64, 1u64 << 62),
            (2, 10_000_000_000_000),
            (3, u64::MAX / 2),
        ] {
            let mut i = inst("d", "c", "e", n, SourceKind::File, false);
            let Some(t) = SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs)) else {
                continue;
            };
            i.modified = Some(t);
            i.mtime = Some(t);
            let k = i.key.clone();
            st.put(&k, Ok(i));
        }
        assert!(!st.instances.is_empty());
        let _ = st.next_stale_change(now, Duration::MAX, Duration::MAX);
        let _ = st.next_stale_change(now, ttl, grace);
        let _ = st.refresh_stale(now, Duration::MAX, Duration::MAX);
        for i in st.instances.values() {
            let _ = i.to_json();
        }
        assert_eq!(
            rfc3339(SystemTime::UNIX_EPOCH, false).unwrap(),
            "1970-01-01T00:00:00Z"
        );
        let before = SystemTime::UNIX_EPOCH - Duration::from_millis(1500);
        assert_eq!(rfc3339(before, true).unwrap(), "1969-12-31T23:59:58.500Z");
        let far = SystemTime::UNIX_EPOCH + Duration::from_secs(1 << 62);
        assert_eq!(rfc3339(far, true), None);
    }

    #[test]
    fn malformed_entries_are_counted_by_key_and_cleared_by_a_good_value() {
        let mut st = SourceState::default();
        for n in 0..(MAX_MALFORMED + 10) {
            st.put(&format!("k{n}"), Err(format!("bad {n}")));
        }
        st.put("k0", Err("bad again".into()));
        assert_eq!(st.malformed_count(), MAX_MALFORMED + 10);
        assert_eq!(st.messages().count(), MAX_MALFORMED);
        let good = inst("d", "c", "e", 1, SourceKind::Etcd, false);
        st.put(
            "k0",
            Ok(Instance {
                key: "k0".into(),
                ..good
            }),
        );
        st.delete("k1");
        assert_eq!(st.malformed_count(), MAX_MALFORMED + 8);
        assert_eq!(st.instances.len(), 1);
    }
}
