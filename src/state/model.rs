//! The typed view of a state file. Every key dynamo-ctl does not use is kept verbatim in the
//! `extra` maps; the file's key order is kept by the `Document` (see `document.rs`).

use std::collections::{HashMap, HashSet};

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Number, Value};

pub use super::document::{Document, ParseProblem};

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct State {
    pub namespace: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circus_endpoint: Option<String>,
    pub components: Components,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<Environment>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl<'de> Deserialize<'de> for State {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<State, D::Error> {
        super::parse::Parsed::deserialize(d).map(|p| p.state)
    }
}

/// Everything in a [`State`] but the components: what a change is checked against.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Head {
    namespace: String,
    circus_endpoint: Option<String>,
    environment: Option<Environment>,
    extra: Map<String, Value>,
}

impl State {
    pub(crate) fn head(&self) -> Head {
        Head {
            namespace: self.namespace.clone(),
            circus_endpoint: self.circus_endpoint.clone(),
            environment: self.environment.clone(),
            extra: self.extra.clone(),
        }
    }

    /// Whether anything differs from `head` and the components as read.
    pub(crate) fn changed_since(&self, head: &Head) -> bool {
        self.namespace != head.namespace
            || self.circus_endpoint != head.circus_endpoint
            || self.environment != head.environment
            || self.extra != head.extra
            || self.components.changed()
    }
}

/// The `components` map. Reads go through `Deref`; every change goes through the methods
/// below, which remember each entry's value as read the first time they touch it (so a
/// change is told from a no-op without a copy of the whole map), and put an entry read
/// from the file, removed, then inserted again back at its place in the file.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(transparent)]
pub struct Components {
    map: IndexMap<String, Component>,
    #[serde(skip)]
    track: Track,
}

#[derive(Clone, Debug, Default)]
struct Track {
    /// Only a map read from a file knows its entries' places in the file.
    from_file: bool,
    /// The first `read` entries of the map are entries read, in file order; entries
    /// inserted since follow.
    read: usize,
    /// Places in the file (0-based) of the entries read and removed since, sorted.
    removed: Vec<usize>,
    /// The same, by key.
    removed_keys: HashMap<String, usize>,
    /// Each touched entry's value before it was first touched (`None`: absent).
    before: HashMap<String, Option<Component>>,
}

impl PartialEq for Components {
    fn eq(&self, other: &Self) -> bool {
        self.map == other.map
    }
}

impl std::ops::Deref for Components {
    type Target = IndexMap<String, Component>;
    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

impl<'a> IntoIterator for &'a Components {
    type Item = (&'a String, &'a Component);
    type IntoIter = indexmap::map::Iter<'a, String, Component>;
    fn into_iter(self) -> Self::IntoIter {
        self.map.iter()
    }
}

impl From<IndexMap<String, Component>> for Components {
    fn from(map: IndexMap<String, Component>) -> Self {
        Components {
            map,
            track: Track::default(),
        }
    }
}

impl Components {
    /// The entries as read from a file, in file order.
    pub(crate) fn read(map: IndexMap<String, Component>) -> Self {
        let read = map.len();
        Components {
            map,
            track: Track {
                from_file: true,
                read,
                ..Track::default()
            },
        }
    }

    /// Remembers `key`'s value before its first change.
    fn note(&mut self, key: &str) {
        if !self.track.before.contains_key(key) {
            let was = self.map.get(key).cloned();
            self.track.before.insert(key.to_string(), was);
        }
    }

    /// The place in the file of the `i`th entry of the map (`i` < `track.read`).
    fn file_place(&self, i: usize) -> usize {
        let mut place = i;
        for &r in &self.track.removed {
            if r <= place {
                place += 1;
            } else {
                break;
            }
        }
        place
    }

    /// Inserts or replaces an entry. A new entry goes last; an entry read from the file,
    /// removed and inserted again goes back to its place.
    pub fn insert(&mut self, key: String, c: Component) -> Option<Component> {
        self.note(&key);
        if let Some(slot) = self.map.get_mut(&key) {
            return Some(std::mem::replace(slot, c));
        }
        if let Some(place) = self.track.removed_keys.remove(&key) {
            let t = &mut self.track;
            let k = t.removed.binary_search(&place).unwrap_or_else(|k| k);
            if t.removed.get(k) == Some(&place) {
                t.removed.remove(k);
            }
            // `k` entries read before it are gone: it goes after the others.
            let at = (place - k).min(t.read);
            t.read += 1;
            self.map.shift_insert(at, key, c);
            return None;
        }
        self.map.insert(key, c)
    }

    /// Removes an entry, keeping the order of the others.
    pub fn shift_remove(&mut self, key: &str) -> Option<Component> {
        let i = self.map.get_index_of(key)?;
        self.note(key);
        if self.track.from_file && i < self.track.read {
            let place = self.file_place(i);
            let t = &mut self.track;
            let k = t.removed.binary_search(&place).unwrap_or_else(|k| k);
            t.removed.insert(k, place);
            t.removed_keys.insert(key.to_string(), place);
            t.read -= 1;
        }
        self.map.shift_remove_index(i).map(|(_, c)| c)
    }

    /// Removes every entry in `keys` in one pass, keeping the order of the others.
    pub fn remove_all(&mut self, keys: &HashSet<String>) {
        if keys.is_empty() {
            return;
        }
        for k in keys {
            if self.map.contains_key(k.as_str()) {
                self.note(k);
            }
        }
        if self.track.from_file {
            // Places of the removed entries read, in one walk along the removed ones.
            let mut gone = Vec::new();
            let mut old = self.track.removed.iter().peekable();
            let mut place = 0;
            for k in self.map.keys().take(self.track.read) {
                while old.peek() == Some(&&place) {
                    place += 1;
                    old.next();
                }
                if keys.contains(k) {
                    gone.push((place, k.clone()));
                }
                place += 1;
            }
            let t = &mut self.track;
            t.read -= gone.len();
            for (place, k) in gone {
                t.removed.push(place);
                t.removed_keys.insert(k, place);
            }
            t.removed.sort_unstable();
        }
        self.map.retain(|k, _| !keys.contains(k));
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Component> {
        if !self.map.contains_key(key) {
            return None;
        }
        self.note(key);
        self.map.get_mut(key)
    }

    /// Whether any entry differs from the file as read (always yes for a map that was not
    /// read from a file).
    pub(crate) fn changed(&self) -> bool {
        !self.track.from_file
            || self
                .track
                .before
                .iter()
                .any(|(k, was)| self.map.get(k) != was.as_ref())
    }
}

/// Keys the model does not know, kept in their order. Usually there are none, so there is
/// no map until there is one (an empty map takes 72 bytes, a state file may have hundreds
/// of thousands of entries). Reads and writes go through `Deref` to a [`Map`].
#[derive(Clone, Default)]
pub struct Extra(Option<Box<Map<String, Value>>>);

impl Extra {
    fn empty() -> &'static Map<String, Value> {
        static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
        EMPTY.get_or_init(Map::new)
    }
}

impl std::ops::Deref for Extra {
    type Target = Map<String, Value>;
    fn deref(&self) -> &Map<String, Value> {
        match &self.0 {
            Some(m) => m,
            None => Extra::empty(),
        }
    }
}

impl std::ops::DerefMut for Extra {
    fn deref_mut(&mut self) -> &mut Map<String, Value> {
        self.0.get_or_insert_with(Default::default)
    }
}

impl<'a> IntoIterator for &'a Extra {
    type Item = (&'a String, &'a Value);
    type IntoIter = serde_json::map::Iter<'a>;
    fn into_iter(self) -> Self::IntoIter {
        (**self).iter()
    }
}

impl From<Map<String, Value>> for Extra {
    fn from(m: Map<String, Value>) -> Self {
        Extra((!m.is_empty()).then(|| Box::new(m)))
    }
}

impl PartialEq for Extra {
    fn eq(&self, other: &Self) -> bool {
        **self == **other
    }
}

impl std::fmt::Debug for Extra {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

impl Serialize for Extra {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (**self).serialize(s)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Component {
    pub watcher_name: String,
    pub cmd: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// Absent (`None`), `null` (`Some(None)`: a parked base entry) or an etcd lease id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<Option<Number>>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl<'de> Deserialize<'de> for Component {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Component, D::Error> {
        use serde::de::DeserializeSeed;
        super::parse::ComponentSeed.deserialize(d).map(|(c, _)| c)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocated_gpus: Option<Vec<GpuId>>,
    #[serde(flatten)]
    pub extra: Extra,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Environment {
    #[serde(
        rename = "DYNAMO_SERVICE_CONFIG",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub service_config: Option<String>,
    #[serde(
        rename = "SYSTEM_RESOURCES",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub system_resources: Option<SystemResources>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SystemResources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_gpus: Option<Number>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_info: Option<Vec<GpuId>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A GPU id as written: `dynamo serve` writes ints, the planner strings. Kept as found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum GpuId {
    Int(Number),
    Str(String),
}

impl<'de> Deserialize<'de> for GpuId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<GpuId, D::Error> {
        GpuId::from_value(Value::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl GpuId {
    /// A number or a string; anything else is no GPU id.
    pub(crate) fn from_value(v: Value) -> Result<GpuId, &'static str> {
        match v {
            Value::Number(n) => Ok(GpuId::Int(n)),
            Value::String(s) => Ok(GpuId::Str(s)),
            _ => Err("data did not match any variant of untagged enum GpuId"),
        }
    }

    /// The id as a number, for comparing ints with strings ("2" == 2).
    pub fn numeric(&self) -> Option<u64> {
        match self {
            GpuId::Int(n) => n.as_u64(),
            GpuId::Str(s) => s.trim().parse().ok(),
        }
    }

    /// A key that identifies the GPU whatever its spelling.
    pub fn key(&self) -> String {
        match self.numeric() {
            Some(n) => n.to_string(),
            None => self.to_string(),
        }
    }
}

impl std::fmt::Display for GpuId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GpuId::Int(n) => write!(f, "{n}"),
            GpuId::Str(s) => f.write_str(s),
        }
    }
}

impl Component {
    /// The GPUs this entry holds (empty when none).
    pub fn gpus(&self) -> &[GpuId] {
        self.resources
            .as_ref()
            .and_then(|r| r.allocated_gpus.as_deref())
            .unwrap_or(&[])
    }

    /// A parked entry (`"lease": null` and no GPUs) is a template, not a running worker.
    pub fn is_parked(&self) -> bool {
        matches!(self.lease, Some(None)) && self.gpus().is_empty()
    }
}

impl State {
    pub fn gpu_info(&self) -> Option<&[GpuId]> {
        self.environment
            .as_ref()?
            .system_resources
            .as_ref()?
            .gpu_info
            .as_deref()
    }

    pub fn service_config(&self) -> Option<&str> {
        self.environment.as_ref()?.service_config.as_deref()
    }
}
