//! Reading a state file in one pass, straight into the typed model: no tree of the whole
//! document, no copy of it in serde's buffers (the derived `flatten` buffers a whole map
//! before it splits it). What the model does not keep of the file's layout, the order of
//! keys and `null`s it drops, is kept as small "skeletons" (see [`skeleton`]): for the top
//! level always, for an entry only when its keys are not in the order the model writes.

use std::collections::HashMap;
use std::fmt;

use indexmap::IndexMap;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, de::Error as _};
use serde_json::{Map, Number, Value};

use super::model::{Component, Components, Environment, GpuId, Resources, State, SystemResources};

/// A parsed state file: the model and what it does not keep of the layout.
pub(crate) struct Parsed {
    pub state: State,
    /// The top level's skeleton; `components` is a leaf (its entries have their own).
    pub head_layout: Value,
    /// Skeletons of the entries whose keys are not in the model's order.
    pub entry_layouts: HashMap<String, Value>,
}

/// The layout of `v` without its content: objects keep their keys in order, `null` stays
/// `null` (a key the model may drop, to be put back), every other leaf is `false`, and an
/// array of leaves is empty (there is no order to restore in it). What
/// [`super::json::restore_layout`] needs, at a fraction of the size.
pub(crate) fn skeleton(v: &Value) -> Value {
    match v {
        Value::Null => Value::Null,
        Value::Object(m) => skeleton_of_map(m),
        Value::Array(items) if items.iter().any(|i| i.is_object() || i.is_array()) => {
            Value::Array(items.iter().map(skeleton).collect())
        }
        Value::Array(_) => Value::Array(Vec::new()),
        _ => Value::Bool(false),
    }
}

fn skeleton_of_map(m: &Map<String, Value>) -> Value {
    Value::Object(m.iter().map(|(k, v)| (k.clone(), skeleton(v))).collect())
}

/// The skeleton of a known field's value that the model keeps whole: `null` or a leaf.
fn leaf(null: bool) -> Value {
    if null {
        Value::Null
    } else {
        Value::Bool(false)
    }
}

impl<'de> Deserialize<'de> for Parsed {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Parsed, D::Error> {
        d.deserialize_map(TopVisitor)
    }
}

struct TopVisitor;

impl<'de> Visitor<'de> for TopVisitor {
    type Value = Parsed;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("struct State")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parsed, A::Error> {
        let mut layout = Map::new();
        let (mut namespace, mut circus_endpoint, mut environment) = (None, None, None);
        let mut components = None;
        let mut extra = Map::new();
        let mut entry_layouts = HashMap::new();
        while let Some(key) = map.next_key::<String>()? {
            let sk = match key.as_str() {
                "components" => {
                    components = Some(map.next_value_seed(ComponentsSeed {
                        layouts: &mut entry_layouts,
                    })?);
                    leaf(false)
                }
                "namespace" => {
                    namespace = Some(map.next_value::<String>()?);
                    leaf(false)
                }
                "circus_endpoint" => {
                    circus_endpoint = map.next_value::<Option<String>>()?;
                    leaf(circus_endpoint.is_none())
                }
                "environment" => {
                    let (env, sk) = map.next_value_seed(Opt(EnvironmentVisitor))?;
                    environment = env;
                    sk
                }
                _ => {
                    let v = map.next_value::<Value>()?;
                    let sk = skeleton(&v);
                    extra.insert(key.clone(), v);
                    sk
                }
            };
            layout.insert(key, sk);
        }
        let components = components.ok_or_else(|| A::Error::missing_field("components"))?;
        let namespace = namespace.ok_or_else(|| A::Error::missing_field("namespace"))?;
        Ok(Parsed {
            state: State {
                namespace,
                circus_endpoint,
                components,
                environment,
                extra,
            },
            head_layout: Value::Object(layout),
            entry_layouts,
        })
    }
}

/// An object the model may hold as `None` when it is `null`: `(None, null)` then, else
/// what the visitor makes of it (the value and its skeleton).
struct Opt<V>(V);

impl<'de, T, V> DeserializeSeed<'de> for Opt<V>
where
    V: Visitor<'de, Value = (T, Value)>,
{
    type Value = (Option<T>, Value);

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, T, V> Visitor<'de> for Opt<V>
where
    V: Visitor<'de, Value = (T, Value)>,
{
    type Value = (Option<T>, Value);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.0.expecting(f)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok((None, Value::Null))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok((None, Value::Null))
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self.0).map(|(v, sk)| (Some(v), sk))
    }
}

struct EnvironmentVisitor;

impl<'de> Visitor<'de> for EnvironmentVisitor {
    type Value = (Environment, Value);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("struct Environment")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut env = Environment {
            service_config: None,
            system_resources: None,
            extra: Map::new(),
        };
        let mut layout = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let sk = match key.as_str() {
                "DYNAMO_SERVICE_CONFIG" => {
                    env.service_config = map.next_value::<Option<String>>()?;
                    leaf(env.service_config.is_none())
                }
                "SYSTEM_RESOURCES" => {
                    let (r, sk) = map.next_value_seed(Opt(SystemResourcesVisitor))?;
                    env.system_resources = r;
                    sk
                }
                _ => {
                    let v = map.next_value::<Value>()?;
                    let sk = skeleton(&v);
                    env.extra.insert(key.clone(), v);
                    sk
                }
            };
            layout.insert(key, sk);
        }
        Ok((env, Value::Object(layout)))
    }
}

struct SystemResourcesVisitor;

impl<'de> Visitor<'de> for SystemResourcesVisitor {
    type Value = (SystemResources, Value);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("struct SystemResources")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut r = SystemResources {
            total_gpus: None,
            gpu_info: None,
            extra: Map::new(),
        };
        let mut layout = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let sk = match key.as_str() {
                "total_gpus" => {
                    r.total_gpus = map.next_value::<Option<Number>>()?;
                    leaf(r.total_gpus.is_none())
                }
                "gpu_info" => {
                    r.gpu_info = map.next_value::<Option<Vec<GpuId>>>()?;
                    if let Some(g) = &mut r.gpu_info {
                        g.shrink_to_fit();
                    }
                    leaf(r.gpu_info.is_none())
                }
                _ => {
                    let v = map.next_value::<Value>()?;
                    let sk = skeleton(&v);
                    r.extra.insert(key.clone(), v);
                    sk
                }
            };
            layout.insert(key, sk);
        }
        Ok((r, Value::Object(layout)))
    }
}

struct ComponentsSeed<'a> {
    layouts: &'a mut HashMap<String, Value>,
}

impl<'de> DeserializeSeed<'de> for ComponentsSeed<'_> {
    type Value = Components;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Components, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ComponentsSeed<'_> {
    type Value = Components;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Components, A::Error> {
        let mut entries = IndexMap::with_capacity(map.size_hint().unwrap_or(0).min(4096));
        while let Some(key) = map.next_key::<String>()? {
            let (c, layout) = map.next_value_seed(ComponentSeed)?;
            if let Some(l) = layout {
                self.layouts.insert(key.clone(), l);
            }
            entries.insert(key, c);
        }
        entries.shrink_to_fit();
        Ok(Components::read(entries))
    }
}

/// A key of an entry or of its `resources`, without allocating for the known ones.
enum Key {
    WatcherName,
    Cmd,
    Resources,
    Lease,
    AllocatedGpus,
    Other(String),
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Key, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Key, E> {
                Ok(match s {
                    "watcher_name" => Key::WatcherName,
                    "cmd" => Key::Cmd,
                    "resources" => Key::Resources,
                    "lease" => Key::Lease,
                    "allocated_gpus" => Key::AllocatedGpus,
                    _ => Key::Other(s.to_string()),
                })
            }
        }
        d.deserialize_str(V)
    }
}

/// What one key of an entry was, for its skeleton: the known fields in the order the model
/// writes them (so an entry is in that order when these rise), `null`s the model drops, and
/// the other keys (in `extra`, in order).
#[derive(Clone, Copy, PartialEq, PartialOrd)]
enum Seen {
    WatcherName,
    Cmd,
    Resources,
    Lease,
    Extra,
    DroppedNull,
}

/// Whether keys seen in this order come out of the model in the same order, with nothing
/// to put back.
fn in_model_order(seen: &[Seen]) -> bool {
    seen.windows(2)
        .all(|w| w[0] < w[1] || (w[0] == Seen::Extra && w[1] == Seen::Extra))
        && !seen.contains(&Seen::DroppedNull)
}

/// An entry of `components`, with its skeleton when its keys are not in the model's order.
pub(crate) struct ComponentSeed;

impl<'de> DeserializeSeed<'de> for ComponentSeed {
    type Value = (Component, Option<Value>);

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ComponentSeed {
    type Value = (Component, Option<Value>);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("struct Component")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut watcher_name, mut cmd, mut resources, mut lease) = (None, None, None, None);
        let mut extra = Map::new();
        let mut seen: Vec<Seen> = Vec::with_capacity(6);
        let mut res_layout = None;
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::WatcherName => {
                    watcher_name = Some(map.next_value::<String>()?);
                    seen.push(Seen::WatcherName);
                }
                Key::Cmd => {
                    cmd = Some(map.next_value::<String>()?);
                    seen.push(Seen::Cmd);
                }
                Key::Resources => match map.next_value_seed(ResourcesSeed)? {
                    Some((r, layout)) => {
                        resources = Some(r);
                        res_layout = layout;
                        seen.push(Seen::Resources);
                    }
                    None => {
                        resources = None;
                        seen.push(Seen::DroppedNull);
                    }
                },
                Key::Lease => {
                    lease = Some(map.next_value::<Option<Number>>()?);
                    seen.push(Seen::Lease);
                }
                Key::AllocatedGpus => {
                    extra.insert("allocated_gpus".into(), map.next_value::<Value>()?);
                    seen.push(Seen::Extra);
                }
                Key::Other(k) => {
                    extra.insert(k, map.next_value::<Value>()?);
                    seen.push(Seen::Extra);
                }
            }
        }
        let watcher_name = watcher_name.ok_or_else(|| A::Error::missing_field("watcher_name"))?;
        let cmd = cmd.ok_or_else(|| A::Error::missing_field("cmd"))?;
        let layout = (res_layout.is_some() || !in_model_order(&seen)).then(|| {
            let mut extras = extra.keys();
            let mut sk = Map::new();
            for s in &seen {
                let (k, v) = match s {
                    Seen::WatcherName => ("watcher_name", Value::Bool(false)),
                    Seen::Cmd => ("cmd", Value::Bool(false)),
                    Seen::Resources => (
                        "resources",
                        res_layout.clone().unwrap_or(Value::Bool(false)),
                    ),
                    Seen::DroppedNull => ("resources", Value::Null),
                    Seen::Lease => ("lease", Value::Bool(false)),
                    Seen::Extra => match extras.next() {
                        Some(k) => (k.as_str(), Value::Bool(false)),
                        // A repeated key (refused once parsed).
                        None => continue,
                    },
                };
                sk.insert(k.to_string(), v);
            }
            Value::Object(sk)
        });
        Ok((
            Component {
                watcher_name,
                cmd,
                resources,
                lease,
                extra: extra.into(),
            },
            layout,
        ))
    }
}

/// `resources`: `null` (`None`), or the object with its skeleton when its keys are not in
/// the model's order.
struct ResourcesSeed;

impl<'de> DeserializeSeed<'de> for ResourcesSeed {
    type Value = Option<(Resources, Option<Value>)>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for ResourcesSeed {
    type Value = Option<(Resources, Option<Value>)>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("struct Resources")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(ResourcesVisitor).map(Some)
    }
}

struct ResourcesVisitor;

impl<'de> Visitor<'de> for ResourcesVisitor {
    type Value = (Resources, Option<Value>);

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("struct Resources")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut r = Resources::default();
        // The model writes `allocated_gpus` first: in order when it comes first (or not at
        // all) and is not a `null` the model drops.
        let mut order: Vec<Option<bool>> = Vec::new();
        while let Some(key) = map.next_key::<Key>()? {
            let name = match key {
                Key::AllocatedGpus => {
                    r.allocated_gpus = map.next_value::<Option<Vec<GpuId>>>()?;
                    // A vector grown one id at a time has room for four.
                    if let Some(g) = &mut r.allocated_gpus {
                        g.shrink_to_fit();
                    }
                    order.push(Some(r.allocated_gpus.is_none()));
                    continue;
                }
                Key::WatcherName => "watcher_name".to_string(),
                Key::Cmd => "cmd".to_string(),
                Key::Resources => "resources".to_string(),
                Key::Lease => "lease".to_string(),
                Key::Other(k) => k,
            };
            r.extra.insert(name, map.next_value::<Value>()?);
            order.push(None);
        }
        let in_order = match order.iter().position(Option::is_some) {
            None => true,
            Some(i) => i == 0 && order[0] == Some(false),
        };
        let layout = (!in_order).then(|| {
            let mut extras = r.extra.keys();
            let mut sk = Map::new();
            for o in &order {
                match o {
                    Some(null) => {
                        let v = if *null {
                            Value::Null
                        } else {
                            Value::Bool(false)
                        };
                        sk.insert("allocated_gpus".into(), v);
                    }
                    None => {
                        if let Some(k) = extras.next() {
                            sk.insert(k.clone(), Value::Bool(false));
                        }
                    }
                }
            }
            Value::Object(sk)
        });
        Ok((r, layout))
    }
}
