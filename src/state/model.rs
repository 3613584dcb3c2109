//! The typed view of a state file. Every key dynamo-ctl does not use is kept verbatim in the
//! `extra` maps; key order is restored from the original text on save (see `Document`).

use std::collections::HashSet;

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Number, Value};

use super::json::{self, Dialect, JsonStyle};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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

/// The `components` map. Reads go through `Deref`; every change goes through the methods
/// below, which remember the entries they touched, so a save re-serializes only those and
/// writes every other entry exactly as it was read (see `Document::render`).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Components {
    map: IndexMap<String, Component>,
    /// Entries inserted or handed out mutably since the file was read.
    #[serde(skip)]
    touched: HashSet<String>,
    /// Only a map read from a file can vouch for its untouched entries.
    #[serde(skip, default = "yes")]
    from_file: bool,
}

fn yes() -> bool {
    true
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
            touched: HashSet::new(),
            from_file: false,
        }
    }
}

impl Components {
    /// Inserts or replaces an entry (a new entry goes last).
    pub fn insert(&mut self, key: String, c: Component) -> Option<Component> {
        self.touched.insert(key.clone());
        self.map.insert(key, c)
    }

    /// Removes an entry, keeping the order of the others.
    pub fn shift_remove(&mut self, key: &str) -> Option<Component> {
        self.touched.remove(key);
        self.map.shift_remove(key)
    }

    /// Removes every entry in `keys` in one pass, keeping the order of the others.
    pub fn remove_all(&mut self, keys: &HashSet<String>) {
        if keys.is_empty() {
            return;
        }
        self.map.retain(|k, _| !keys.contains(k));
        self.touched.retain(|k| !keys.contains(k));
    }

    pub fn get_mut(&mut self, key: &str) -> Option<&mut Component> {
        let c = self.map.get_mut(key)?;
        self.touched.insert(key.to_string());
        Some(c)
    }

    /// Whether `key` is exactly as it was read from the file.
    pub fn is_pristine(&self, key: &str) -> bool {
        self.from_file && !self.touched.contains(key)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Component {
    pub watcher_name: String,
    pub cmd: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// Absent (`None`), `null` (`Some(None)`: a parked base entry) or an etcd lease id.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub lease: Option<Option<Number>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Resources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocated_gpus: Option<Vec<GpuId>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SystemResources {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_gpus: Option<Number>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_info: Option<Vec<GpuId>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// A GPU id as written: `dynamo serve` writes ints, the planner strings. Kept as found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum GpuId {
    Int(Number),
    Str(String),
}

impl GpuId {
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

fn double_option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<Number>>, D::Error> {
    Option::<Number>::deserialize(d).map(Some)
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

/// A parsed state file: the typed state plus what is needed to write it back losslessly.
#[derive(Clone, Debug)]
pub struct Document {
    pub state: State,
    original: Value,
    pub style: JsonStyle,
    /// Separators, escaping, line endings and indent character, as detected.
    dialect: Dialect,
    /// The length of the text read, to size the text written.
    size_hint: usize,
    /// Set by a save that could not keep the file's exact layout.
    layout_note: Option<String>,
}

/// Why a text is not a usable state file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseProblem {
    NonFinite,
    Invalid(String),
}

impl Document {
    pub fn parse(text: &str) -> Result<Document, ParseProblem> {
        // A big file is parsed twice at once, tree and typed view, one per core.
        let (tree, typed) = if text.len() >= PARALLEL_PARSE_BYTES {
            std::thread::scope(|s| {
                let typed = s.spawn(|| serde_json::from_str::<State>(text));
                let tree = serde_json::from_str::<Value>(text);
                (tree, Some(typed.join()))
            })
        } else {
            (serde_json::from_str::<Value>(text), None)
        };
        let original: Value = match tree {
            Ok(v) => v,
            Err(e) => {
                if json::has_non_finite_literal(text) {
                    return Err(ParseProblem::NonFinite);
                }
                return Err(ParseProblem::Invalid(e.to_string()));
            }
        };
        if !original.is_object() {
            return Err(ParseProblem::Invalid(
                "the top level is not a JSON object".into(),
            ));
        }
        // A parser keeps one copy of a repeated key and a save would drop the other (say,
        // a component holding a GPU): refuse the file instead, whatever its size.
        if let Some((at, key)) = json::find_duplicate_key(text) {
            let at = if at.is_empty() {
                "at the top level".to_string()
            } else {
                format!("in {at}")
            };
            return Err(ParseProblem::Invalid(format!(
                "duplicate key {key:?} {at}: refusing to guess which copy counts"
            )));
        }
        let state = match typed {
            Some(Ok(Ok(s))) => s,
            Some(Ok(Err(e))) => return Err(ParseProblem::Invalid(e.to_string())),
            // From the tree; from the text only when that fails: a `Value` hands integers
            // beyond 64 bits to serde's buffering (flattened `extra` maps, untagged `GpuId`)
            // as u128/i128, which it rejects, while the text parser passes them on as exact
            // strings. (A panicked parser thread lands here too.)
            _ => match State::deserialize(&original) {
                Ok(s) => s,
                Err(_) => {
                    serde_json::from_str(text).map_err(|e| ParseProblem::Invalid(e.to_string()))?
                }
            },
        };
        let style = JsonStyle::detect(text);
        Ok(Document {
            state,
            original,
            style,
            dialect: Dialect::detect(text, style),
            size_hint: text.len(),
            layout_note: None,
        })
    }

    /// The state as a JSON value, in the original key order.
    pub fn to_value(&self) -> Result<Value, serde_json::Error> {
        let mut v = serde_json::to_value(&self.state)?;
        json::restore_layout(&mut v, &self.original);
        Ok(v)
    }

    /// The text to write: byte-identical to the input when nothing changed. Equal to
    /// `to_python_string(&self.to_value()?)`, but only the components changed since the file
    /// was read are serialized again; the others are written from the tree as read.
    pub fn render(&self) -> Result<String, serde_json::Error> {
        self.render_in(self.style, self.dialect)
    }

    /// `render` in another layout, e.g. `JsonStyle::PLANNER` for an indented view (with
    /// Python's default separators and ASCII escapes).
    pub fn render_as(&self, style: JsonStyle) -> Result<String, serde_json::Error> {
        self.render_in(style, Dialect::PYTHON)
    }

    /// Why the last save re-laid out the whole file (its layout is not one the writer
    /// reproduces exactly), if it did.
    pub fn layout_note(&self) -> Option<&str> {
        self.layout_note.as_deref()
    }

    pub(crate) fn set_layout_note(&mut self, note: String) {
        self.layout_note = Some(note);
    }

    fn render_in(&self, style: JsonStyle, dialect: Dialect) -> Result<String, serde_json::Error> {
        let s = &self.state;
        // Everything but the components goes through serde; it is small.
        let head = State {
            namespace: s.namespace.clone(),
            circus_endpoint: s.circus_endpoint.clone(),
            components: Components::default(),
            environment: s.environment.clone(),
            extra: s.extra.clone(),
        };
        let mut top = serde_json::to_value(&head)?;
        json::restore_layout(&mut top, &self.original);
        let orig = self.original.get("components").and_then(Value::as_object);
        // The components in file order: those read, then the new ones.
        let mut fresh: Vec<(&String, Value)> = Vec::new();
        let mut entries: Vec<(&String, Option<&Value>)> = Vec::with_capacity(s.components.len());
        if let Some(orig) = orig {
            for (k, ov) in orig {
                if s.components.contains_key(k) {
                    entries.push((k, Some(ov)));
                }
            }
        }
        for (k, c) in s.components.iter() {
            let ov = orig.and_then(|o| o.get(k));
            if ov.is_none() {
                entries.push((k, None));
            }
            if !(ov.is_some() && s.components.is_pristine(k)) {
                let mut v = serde_json::to_value(c)?;
                if let Some(ov) = ov {
                    json::restore_layout(&mut v, ov);
                }
                fresh.push((k, v));
            }
        }
        let fresh: std::collections::HashMap<&str, Value> =
            fresh.into_iter().map(|(k, v)| (k.as_str(), v)).collect();
        let components: Vec<(&str, &Value)> = entries
            .into_iter()
            .map(|(k, ov)| {
                let v = fresh
                    .get(k.as_str())
                    .or(ov)
                    .expect("every entry is fresh or read");
                (k.as_str(), v)
            })
            .collect();
        Ok(json::to_python_string_in(
            &top,
            style,
            dialect,
            self.size_hint + 1024,
            "components",
            &components,
        ))
    }
}

/// Files at least this big parse their tree and typed view in parallel.
const PARALLEL_PARSE_BYTES: usize = 256 * 1024;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::json::to_python_string;

    const TEXT: &str = r#"{"namespace": "n", "components": {"n_A": {"watcher_name": "n_A", "cmd": "a", "x": 1, "resources": {"allocated_gpus": [0]}}, "n_B": {"watcher_name": "n_B", "cmd": "b"}}, "z": null}"#;

    fn full(d: &Document) -> String {
        to_python_string(&d.to_value().unwrap(), d.style)
    }

    #[test]
    fn untouched_document_renders_as_read() {
        let d = Document::parse(TEXT).unwrap();
        assert_eq!(d.render().unwrap(), TEXT);
        assert_eq!(full(&d), TEXT);
    }

    #[test]
    fn a_change_through_get_mut_is_written() {
        let mut d = Document::parse(TEXT).unwrap();
        d.state.components.get_mut("n_A").unwrap().cmd = "changed".into();
        let text = d.render().unwrap();
        assert!(
            text.contains(r#""n_A": {"watcher_name": "n_A", "cmd": "changed", "x": 1"#),
            "{text}"
        );
        assert_eq!(text, full(&d));
    }

    #[test]
    fn a_replaced_map_is_written_whole() {
        let mut d = Document::parse(TEXT).unwrap();
        let mut map = (*d.state.components).clone();
        map.get_mut("n_B").unwrap().cmd = "replaced".into();
        d.state.components = Components::from(map);
        let text = d.render().unwrap();
        assert!(text.contains(r#""cmd": "replaced""#), "{text}");
        assert_eq!(text, full(&d));
    }

    #[test]
    fn removed_and_reinserted_entries_keep_their_place() {
        let mut d = Document::parse(TEXT).unwrap();
        let a = d.state.components.shift_remove("n_A").unwrap();
        d.state.components.insert("n_C".into(), a.clone());
        d.state.components.insert("n_A".into(), a);
        let text = d.render().unwrap();
        assert!(text.find("\"n_A\"").unwrap() < text.find("\"n_B\"").unwrap());
        assert!(text.find("\"n_B\"").unwrap() < text.find("\"n_C\"").unwrap());
        assert_eq!(text, full(&d));
    }

    #[test]
    fn big_files_parse_in_parallel_to_the_same_document() {
        let mut comps = String::new();
        for i in 0..3000 {
            comps.push_str(&format!(
                r#", "n_W_{i}": {{"watcher_name": "n_W_{i}", "cmd": "{}", "lease": 123456789012345678901234567890}}"#,
                "x".repeat(80)
            ));
        }
        let text = format!(
            r#"{{"namespace": "n", "components": {{"n_W": {{"watcher_name": "n_W", "cmd": "w"}}{comps}}}}}"#
        );
        assert!(text.len() >= PARALLEL_PARSE_BYTES);
        let d = Document::parse(&text).unwrap();
        assert_eq!(d.state.components.len(), 3001);
        assert_eq!(d.render().unwrap(), text);
        assert!(matches!(
            Document::parse(&text.replace("\"cmd\": \"w\"", "\"cmd\": 5")),
            Err(ParseProblem::Invalid(_))
        ));
    }
}
