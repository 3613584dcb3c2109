//! What discovery finds: [`Instance`]s (one compact record each: interned names, the
//! value kept as its raw JSON text and parsed on demand), merged into a [`Snapshot`] whose
//! counts are indexed once ([`Snapshot::count`] and friends answer without a scan).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;
use std::hash::Hash;
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub(crate) use super::name::Interner;
pub use super::name::Name;

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

/// An instance's identity across snapshots: its source and key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ident {
    pub source: SourceKind,
    pub key: Name,
}

/// One registered endpoint instance. Compact: the names are shared, and the registered
/// value is kept as its JSON text ([`Instance::raw`], checked to be an object of at most
/// [`super::parse::MAX_VALUE_BYTES`]) and parsed only when asked ([`Instance::transport`],
/// [`Instance::value`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Instance {
    pub namespace: Name,
    pub component: Name,
    pub endpoint: Name,
    /// From the key (the lease id in hex, 0.3 and 1.x etcd; random in the file store).
    pub instance_id: u64,
    pub source: SourceKind,
    pub layout: Layout,
    /// File store only: not touched within the TTL.
    pub stale: bool,
    /// The etcd key, or the file store key the file name encodes.
    pub key: Name,
    /// etcd: the key's lease (0 = none).
    pub lease: Option<i64>,
    /// etcd: the revision that last changed the key.
    pub mod_revision: Option<i64>,
    /// File store: when the owner last touched the entry, as counted: the file's mtime,
    /// or, for an mtime in the future (clock skew, or a hostile file), when this mtime was
    /// first seen (never later than that).
    pub modified: Option<SystemTime>,
    /// File store: the file's mtime as found.
    pub mtime: Option<SystemTime>,
    /// The value as registered: a JSON object, unknown fields included.
    pub raw: Name,
}

/// The value fields every entry has; the rest are "extra".
const KNOWN: [&str; 6] = [
    "type",
    "component",
    "endpoint",
    "namespace",
    "instance_id",
    "transport",
];

impl Instance {
    /// The id as Dynamo prints it (lower-case hex, as in the key and `worker_id` labels).
    pub fn instance_id_hex(&self) -> String {
        format!("{:x}", self.instance_id)
    }

    pub fn ident(&self) -> Ident {
        Ident {
            source: self.source,
            key: self.key.clone(),
        }
    }

    /// The whole value, parsed (an empty object if it no longer parses, which the checks
    /// on the way in rule out).
    pub fn value(&self) -> Map<String, Value> {
        match serde_json::from_str::<Value>(&self.raw) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        }
    }

    /// The value's `transport` object, as registered (null when missing).
    pub fn transport(&self) -> Value {
        #[derive(Deserialize)]
        struct T {
            #[serde(default)]
            transport: Value,
        }
        serde_json::from_str::<T>(&self.raw).map_or(Value::Null, |t| t.transport)
    }

    /// Value fields other than the ones every entry has (e.g. `device_type`).
    pub fn extra_fields(&self) -> Vec<(String, Value)> {
        self.value()
            .into_iter()
            .filter(|(k, _)| !KNOWN.contains(&k.as_str()))
            .collect()
    }

    /// The JSON of `dynamo-ctl instances` (see [`Serialize`], which writes the same without
    /// building it).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The JSON of `dynamo-ctl instances`: the value is parsed while it is written, so a list
/// of instances streams out without a second copy of everything.
impl Serialize for Instance {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let value = self.value();
        let mut st = s.serialize_struct("Instance", 13)?;
        st.serialize_field("namespace", &self.namespace)?;
        st.serialize_field("component", &self.component)?;
        st.serialize_field("endpoint", &self.endpoint)?;
        st.serialize_field("instance_id", &self.instance_id)?;
        st.serialize_field("instance_id_hex", &self.instance_id_hex())?;
        st.serialize_field("transport", value.get("transport").unwrap_or(&Value::Null))?;
        st.serialize_field("source", &self.source)?;
        st.serialize_field("layout", &self.layout)?;
        st.serialize_field("stale", &self.stale)?;
        st.serialize_field("key", &self.key)?;
        st.serialize_field("lease", &self.lease)?;
        st.serialize_field("modified", &self.mtime.and_then(|t| rfc3339(t, true)))?;
        st.serialize_field("value", &value)?;
        st.end()
    }
}

/// RFC 3339 UTC of a time read from outside (a file's mtime), `None` when it cannot be
/// written as one (chrono's range is about ±262,000 years; 2^62 s is far beyond). Never
/// panics, whatever the time.
pub fn rfc3339(t: SystemTime, millis: bool) -> Option<String> {
    let (secs, nanos) = match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (i64::try_from(d.as_secs()).ok()?, d.subsec_nanos()),
        Err(e) => {
            let d = e.duration();
            let s = i64::try_from(d.as_secs()).ok()?.checked_neg()?;
            match d.subsec_nanos() {
                0 => (s, 0),
                n => (s.checked_sub(1)?, 1_000_000_000 - n),
            }
        }
    };
    let dt = chrono::DateTime::<chrono::Utc>::from_timestamp(secs, nanos)?;
    let fmt = if millis {
        chrono::SecondsFormat::Millis
    } else {
        chrono::SecondsFormat::Secs
    };
    Some(dt.to_rfc3339_opts(fmt, true))
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

/// What changed between two snapshots of one live view: the instances that appeared and
/// the ones that went, so a consumer does O(changes) work instead of comparing everything.
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    /// The live view that made the snapshot.
    pub view: u64,
    /// The snapshot's number in its view; the changes are relative to number `seq - 1`.
    pub seq: u64,
    pub added: Vec<Ident>,
    /// Whole, as last seen (a TUI shows them leaving).
    pub removed: Vec<Arc<Instance>>,
}

/// Everything the sources said, merged.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Snapshot {
    pub sources: Vec<SourceStatus>,
    /// Sorted by namespace, component, endpoint, instance id, source, key. Shared with
    /// the live view's state and the other snapshots (each instance is allocated once).
    #[serde(serialize_with = "instances_seq")]
    pub instances: Vec<Arc<Instance>>,
    pub malformed: Vec<String>,
    /// Malformed entries in all (the list above is capped).
    pub malformed_count: usize,
    /// From a live view: what changed since its previous snapshot (None: unknown, e.g. the
    /// first one, or a snapshot made by hand).
    #[serde(skip)]
    pub changes: Option<Arc<Changes>>,
    /// The Dynamo 1.x planners' decisions by namespace (from etcd; reference §6). Every
    /// namespace with planner keys is listed, an acknowledgement alone included.
    #[serde(skip)]
    pub planners: BTreeMap<String, super::planner::Decision>,
    /// The counts, computed once (by the live view before it hands a snapshot on, else at
    /// the first question). A clone starts without: change `instances` only in a clone
    /// that was not asked yet.
    #[serde(skip)]
    #[doc(hidden)]
    pub cache: Cache,
}

fn instances_seq<S: Serializer>(v: &[Arc<Instance>], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|i| &**i))
}

/// The lazily computed [`Index`] of a snapshot (equal whatever it holds; a clone starts
/// empty).
#[derive(Default)]
pub struct Cache(OnceLock<Arc<Index>>);

impl Clone for Cache {
    fn clone(&self) -> Cache {
        Cache::default()
    }
}

impl PartialEq for Cache {
    fn eq(&self, _: &Cache) -> bool {
        true
    }
}

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Cache")
    }
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

/// Per lower-case component: distinct live ids over all endpoints, and per endpoint.
type ComponentCounts = HashMap<String, (usize, HashMap<String, usize>)>;

/// A snapshot's counts, from one pass over its instances.
#[derive(Debug, Default)]
pub struct Index {
    namespaces: BTreeMap<String, NamespaceLive>,
    counts: HashMap<String, ComponentCounts>,
    /// The instances are in namespace order (then `of_namespace` is a binary search).
    by_namespace: bool,
}

impl Index {
    fn build(
        instances: &[Arc<Instance>],
        planners: &BTreeMap<String, super::planner::Decision>,
    ) -> Index {
        let mut namespaces: BTreeMap<String, NamespaceLive> = BTreeMap::new();
        let mut ns_ids: HashMap<&str, HashSet<u64>> = HashMap::new();
        let mut comp_ids: HashMap<(&str, &str), HashSet<u64>> = HashMap::new();
        let mut lower_ids: HashMap<(&str, String), HashSet<u64>> = HashMap::new();
        let mut ep_ids: HashMap<(&str, String, &str), HashSet<u64>> = HashMap::new();
        // Lower-casing once per distinct component name, not per instance.
        let mut lower: HashMap<&str, String> = HashMap::new();
        for i in instances {
            match namespaces.get_mut(i.namespace.as_str()) {
                Some(e) => {
                    e.sources.insert(i.source);
                }
                None => {
                    let mut e = NamespaceLive::default();
                    e.sources.insert(i.source);
                    namespaces.insert(i.namespace.to_string(), e);
                }
            }
            if i.stale {
                continue;
            }
            let (ns, comp) = (i.namespace.as_str(), i.component.as_str());
            let lc = lower
                .entry(comp)
                .or_insert_with(|| comp.to_lowercase())
                .clone();
            ns_ids.entry(ns).or_default().insert(i.instance_id);
            comp_ids
                .entry((ns, comp))
                .or_default()
                .insert(i.instance_id);
            ep_ids
                .entry((ns, lc.clone(), i.endpoint.as_str()))
                .or_default()
                .insert(i.instance_id);
            lower_ids.entry((ns, lc)).or_default().insert(i.instance_id);
        }
        for (ns, ids) in ns_ids {
            if let Some(e) = namespaces.get_mut(ns) {
                e.live = ids.len();
            }
        }
        for ((ns, comp), ids) in comp_ids {
            if let Some(e) = namespaces.get_mut(ns) {
                e.components.insert(comp.to_string(), ids.len());
            }
        }
        let mut counts: HashMap<String, ComponentCounts> = HashMap::new();
        for ((ns, lc), ids) in lower_ids {
            counts
                .entry(ns.to_string())
                .or_default()
                .entry(lc)
                .or_default()
                .0 = ids.len();
        }
        for ((ns, lc, ep), ids) in ep_ids {
            counts
                .entry(ns.to_string())
                .or_default()
                .entry(lc)
                .or_default()
                .1
                .insert(ep.to_string(), ids.len());
        }
        // A planner's namespace scaled to zero still is one (its keys are in etcd).
        for ns in planners.keys() {
            if !namespaces.contains_key(ns) {
                let mut e = NamespaceLive::default();
                e.sources.insert(SourceKind::Etcd);
                namespaces.insert(ns.clone(), e);
            }
        }
        let by_namespace = instances
            .windows(2)
            .all(|w| w[0].namespace <= w[1].namespace);
        Index {
            namespaces,
            counts,
            by_namespace,
        }
    }
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

    /// The counts (computed at the first call; O(1) after).
    pub fn index(&self) -> &Index {
        self.cache
            .0
            .get_or_init(|| Arc::new(Index::build(&self.instances, &self.planners)))
    }

    /// Distinct live instance ids of `component` (case-insensitive) in `ns`, on `endpoint`
    /// when given. `None` when no source answered.
    pub fn count(&self, ns: &str, component: &str, endpoint: Option<&str>) -> Option<usize> {
        if !self.answered() {
            return None;
        }
        let comps = self.index().counts.get(ns);
        let c = comps.and_then(|c| c.get(&component.to_lowercase()));
        Some(match (c, endpoint) {
            (None, _) => 0,
            (Some((n, _)), None) => *n,
            (Some((_, eps)), Some(e)) => eps.get(e).copied().unwrap_or(0),
        })
    }

    /// A state-file type's live count, with the planner's endpoint rule.
    pub fn live_for_type(&self, ns: &str, ty: &str) -> Option<usize> {
        self.count(ns, ty, planner_endpoint(ty))
    }

    /// Per namespace: live counts and which sources know it.
    pub fn namespaces(&self) -> BTreeMap<String, NamespaceLive> {
        self.index().namespaces.clone()
    }

    /// [`Snapshot::namespaces`] without the copy.
    pub fn namespaces_ref(&self) -> &BTreeMap<String, NamespaceLive> {
        &self.index().namespaces
    }

    /// The instances of one namespace (a binary search when they are sorted, as every
    /// snapshot from this module is).
    pub fn of_namespace<'a>(&'a self, ns: &'a str) -> impl Iterator<Item = &'a Instance> + 'a {
        let slice: &[Arc<Instance>] = if self.index().by_namespace {
            let lo = self
                .instances
                .partition_point(|i| i.namespace.as_str() < ns);
            let hi = lo + self.instances[lo..].partition_point(|i| i.namespace.as_str() <= ns);
            &self.instances[lo..hi]
        } else {
            &self.instances
        };
        slice
            .iter()
            .map(|i| &**i)
            .filter(move |i| i.namespace == ns)
    }
}
