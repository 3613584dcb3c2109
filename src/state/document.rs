//! A parsed state file: the typed model plus what is needed to write it back losslessly
//! (key order, `null`s the model drops, the text's layout), written straight to its
//! destination (a file, a comparison, lines) without a second copy of the document.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::json::{self, Dialect, Fmt, JsonStyle, Sink};
use super::model::{Component, Components, Environment, Resources, State};
use super::parse::Parsed;

/// A parsed state file.
#[derive(Clone, Debug)]
pub struct Document {
    pub state: State,
    /// The top level's layout (see `parse::skeleton`); `components` is a leaf.
    head_layout: Value,
    /// The layout of each entry read whose keys are not in the order the model writes.
    entry_layouts: HashMap<String, Value>,
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

/// The top level but the components, borrowed, serialized as `State` is.
#[derive(Serialize)]
struct Head<'a> {
    namespace: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    circus_endpoint: Option<&'a String>,
    components: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    environment: Option<&'a Environment>,
    #[serde(flatten)]
    extra: &'a Map<String, Value>,
}

impl Document {
    /// Parses a state file's text, in one pass (see `parse.rs`). Refused: text that is not
    /// JSON (NaN and Infinity named as such), a top level that is not an object, a key
    /// repeated in one object (a save would drop one copy), and what does not fit the
    /// model; in that order, whichever comes first in the text.
    pub fn parse(text: &str) -> Result<Document, ParseProblem> {
        let parsed = match serde_json::from_str::<Parsed>(text) {
            Ok(p) => p,
            Err(e) => return Err(why_not(text, e)),
        };
        if let Some(problem) = duplicate(text) {
            return Err(problem);
        }
        let style = JsonStyle::detect(text);
        Ok(Document {
            state: parsed.state,
            head_layout: parsed.head_layout,
            entry_layouts: parsed.entry_layouts,
            style,
            dialect: Dialect::detect(text, style),
            size_hint: text.len(),
            layout_note: None,
        })
    }

    /// The state as a JSON value, in the original key order.
    pub fn to_value(&self) -> Result<Value, serde_json::Error> {
        let mut v = serde_json::to_value(&self.state)?;
        json::restore_layout(&mut v, &self.head_layout);
        if let Some(Value::Object(comps)) = v.get_mut("components") {
            for (k, c) in comps.iter_mut() {
                if let Some(layout) = self.entry_layouts.get(k) {
                    json::restore_layout(c, layout);
                }
            }
        }
        Ok(v)
    }

    /// The text to write: byte-identical to the input when nothing changed and the input
    /// is in a layout the writer reproduces. Equal to `to_python_string(&self.to_value()?)`.
    pub fn render(&self) -> Result<String, serde_json::Error> {
        let mut out = String::with_capacity(self.size_hint + 1024);
        self.render_in(&mut out, self.style, self.dialect)?;
        Ok(out)
    }

    /// `render` in another layout, e.g. `JsonStyle::PLANNER` for an indented view (with
    /// Python's default separators and ASCII escapes).
    pub fn render_as(&self, style: JsonStyle) -> Result<String, serde_json::Error> {
        // Counted first, then written into a buffer of that size: a 100 MB rendering never
        // holds a half-size copy while its buffer doubles.
        let mut count = json::CountSink::default();
        self.render_in(&mut count, style, Dialect::PYTHON)?;
        let mut out = String::with_capacity(count.bytes);
        self.render_in(&mut out, style, Dialect::PYTHON)?;
        Ok(out)
    }

    /// `render_as(style)`, at most `cap` bytes of it in whole lines, and how many lines
    /// are left out.
    pub fn render_capped(
        &self,
        style: JsonStyle,
        cap: usize,
    ) -> Result<(String, usize), serde_json::Error> {
        let mut out = json::CappedSink::new(cap);
        self.render_in(&mut out, style, Dialect::PYTHON)?;
        Ok(out.finish())
    }

    /// `render_as(style)` split into lines (as `str::lines` splits), without the whole
    /// text in memory at once.
    pub fn render_lines(&self, style: JsonStyle) -> Result<Vec<String>, serde_json::Error> {
        let mut out = json::LineSink::default();
        self.render_in(&mut out, style, Dialect::PYTHON)?;
        Ok(out.finish())
    }

    /// Whether `render()` would write exactly `text`, without building it.
    pub fn renders_as(&self, text: &[u8]) -> bool {
        let mut out = json::CompareSink::new(text);
        self.render_in(&mut out, self.style, self.dialect).is_ok() && out.matches()
    }

    /// Writes `render()` to `w`.
    pub fn write_to<W: std::io::Write>(&self, w: W) -> std::io::Result<W> {
        let mut out = json::IoSink::new(w);
        self.render_in(&mut out, self.style, self.dialect)
            .map_err(std::io::Error::other)?;
        out.finish()
    }

    /// Why the last save re-laid out the whole file (its layout is not one the writer
    /// reproduces exactly), if it did.
    pub fn layout_note(&self) -> Option<&str> {
        self.layout_note.as_deref()
    }

    pub(crate) fn set_layout_note(&mut self, note: String) {
        self.layout_note = Some(note);
    }

    fn render_in<S: Sink>(
        &self,
        out: &mut S,
        style: JsonStyle,
        dialect: Dialect,
    ) -> Result<(), serde_json::Error> {
        let s = &self.state;
        // Everything but the components goes through serde; it is small.
        let head = Head {
            namespace: &s.namespace,
            circus_endpoint: s.circus_endpoint.as_ref(),
            components: Map::new(),
            environment: s.environment.as_ref(),
            extra: &s.extra,
        };
        let mut top = serde_json::to_value(&head)?;
        json::restore_layout(&mut top, &self.head_layout);
        let f = Fmt::new(style, dialect);
        let mut failed = None;
        json::write_top_with(out, &top, style, &f, "components", &mut |out, f, level| {
            if let Err(e) = write_components(out, &s.components, &self.entry_layouts, f, level) {
                failed = Some(e);
            }
        });
        match failed {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// The first syntax error, else a top level that is not an object, else a repeated key,
/// else what the model refused (`e`).
fn why_not(text: &str, e: serde_json::Error) -> ParseProblem {
    if let Err(syntax) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
        if json::has_non_finite_literal(text) {
            return ParseProblem::NonFinite;
        }
        return ParseProblem::Invalid(syntax.to_string());
    }
    if !text.trim_start().starts_with('{') {
        return ParseProblem::Invalid("the top level is not a JSON object".into());
    }
    duplicate(text).unwrap_or_else(|| ParseProblem::Invalid(e.to_string()))
}

/// A parser keeps one copy of a repeated key and a save would drop the other (say, a
/// component holding a GPU): such a file is refused, whatever its size.
fn duplicate(text: &str) -> Option<ParseProblem> {
    let (at, key) = json::find_duplicate_key(text)?;
    let at = if at.is_empty() {
        "at the top level".to_string()
    } else {
        format!("in {at}")
    };
    Some(ParseProblem::Invalid(format!(
        "duplicate key {key:?} {at}: refusing to guess which copy counts"
    )))
}

/// The `components` object at `level`, each entry written from the model.
fn write_components<S: Sink>(
    out: &mut S,
    comps: &Components,
    layouts: &HashMap<String, Value>,
    f: &Fmt,
    level: usize,
) -> Result<(), serde_json::Error> {
    if comps.is_empty() {
        out.put("{}");
        return Ok(());
    }
    out.put("{");
    for (i, (k, c)) in comps.iter().enumerate() {
        json::key_start(out, i, k, f, level);
        match layouts.get(k) {
            Some(layout) => {
                let mut v = serde_json::to_value(c)?;
                json::restore_layout(&mut v, layout);
                json::write_value(out, &v, f, level + 1);
            }
            None => write_component(out, c, f, level + 1),
        }
    }
    json::close(out, f, level, "}");
    Ok(())
}

/// What `write_value(&serde_json::to_value(c))` writes, without building the value.
fn write_component<S: Sink>(out: &mut S, c: &Component, f: &Fmt, level: usize) {
    out.put("{");
    json::key_start(out, 0, "watcher_name", f, level);
    json::write_str_in(out, &c.watcher_name, f.ensure_ascii);
    json::key_start(out, 1, "cmd", f, level);
    json::write_str_in(out, &c.cmd, f.ensure_ascii);
    let mut i = 2;
    if let Some(r) = &c.resources {
        json::key_start(out, i, "resources", f, level);
        write_resources(out, r, f, level + 1);
        i += 1;
    }
    if let Some(lease) = &c.lease {
        json::key_start(out, i, "lease", f, level);
        match lease {
            Some(n) => out.put(n.as_str()),
            None => out.put("null"),
        }
        i += 1;
    }
    for (k, v) in &c.extra {
        json::key_start(out, i, k, f, level);
        json::write_value(out, v, f, level + 1);
        i += 1;
    }
    json::close(out, f, level, "}");
}

fn write_resources<S: Sink>(out: &mut S, r: &Resources, f: &Fmt, level: usize) {
    if r.allocated_gpus.is_none() && r.extra.is_empty() {
        out.put("{}");
        return;
    }
    out.put("{");
    let mut i = 0;
    if let Some(gpus) = &r.allocated_gpus {
        json::key_start(out, 0, "allocated_gpus", f, level);
        if gpus.is_empty() {
            out.put("[]");
        } else {
            out.put("[");
            for (j, g) in gpus.iter().enumerate() {
                json::item_start(out, j, f, level + 1);
                match g {
                    super::model::GpuId::Int(n) => out.put(n.as_str()),
                    super::model::GpuId::Str(s) => json::write_str_in(out, s, f.ensure_ascii),
                }
            }
            json::close(out, f, level + 1, "]");
        }
        i = 1;
    }
    for (k, v) in &r.extra {
        json::key_start(out, i, k, f, level);
        json::write_value(out, v, f, level + 1);
        i += 1;
    }
    json::close(out, f, level, "}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::json::to_python_string;
    use crate::state::model::Components;

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
    fn big_files_parse_to_the_same_document() {
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
        let d = Document::parse(&text).unwrap();
        assert_eq!(d.state.components.len(), 3001);
        assert_eq!(d.render().unwrap(), text);
        assert!(matches!(
            Document::parse(&text.replace("\"cmd\": \"w\"", "\"cmd\": 5")),
            Err(ParseProblem::Invalid(_))
        ));
    }

    #[test]
    fn a_no_op_is_no_change_and_a_change_is_one() {
        let mut d = Document::parse(TEXT).unwrap();
        let head = d.state.head();
        assert!(!d.state.changed_since(&head));
        // Touched but equal; a new entry inserted then removed.
        let c = d.state.components.get_mut("n_B").unwrap();
        c.cmd = "b".into();
        let b = d.state.components["n_B"].clone();
        d.state.components.insert("n_C".into(), b.clone());
        d.state.components.shift_remove("n_C");
        // An entry read, removed and inserted again, as it was: same place, no change.
        let a = d.state.components.shift_remove("n_A").unwrap();
        d.state.components.insert("n_A".into(), a.clone());
        assert!(!d.state.changed_since(&head));
        assert_eq!(d.render().unwrap(), TEXT);
        d.state.components.get_mut("n_A").unwrap().watcher_name = "other".into();
        assert!(d.state.changed_since(&head));
        d.state.components.get_mut("n_A").unwrap().watcher_name = "n_A".into();
        assert!(!d.state.changed_since(&head));
        d.state.namespace = "m".into();
        assert!(d.state.changed_since(&head));
    }

    #[test]
    fn entries_removed_together_go_back_to_their_places() {
        let text = r#"{"namespace": "n", "components": {"a": {"watcher_name": "a", "cmd": ""}, "b": {"watcher_name": "b", "cmd": ""}, "c": {"watcher_name": "c", "cmd": ""}, "d": {"watcher_name": "d", "cmd": ""}, "e": {"watcher_name": "e", "cmd": ""}}}"#;
        let mut d = Document::parse(text).unwrap();
        let take = |d: &mut Document, k: &str| d.state.components.shift_remove(k).unwrap();
        let b = take(&mut d, "b");
        let keys: std::collections::HashSet<String> =
            ["a", "d"].iter().map(|s| s.to_string()).collect();
        let (a, dd) = (
            d.state.components["a"].clone(),
            d.state.components["d"].clone(),
        );
        d.state.components.remove_all(&keys);
        let order = |d: &Document| d.state.components.keys().cloned().collect::<Vec<_>>();
        assert_eq!(order(&d), ["c", "e"]);
        d.state.components.insert("z".into(), a.clone());
        d.state.components.insert("d".into(), dd);
        d.state.components.insert("b".into(), b);
        assert_eq!(order(&d), ["b", "c", "d", "e", "z"]);
        d.state.components.insert("a".into(), a);
        assert_eq!(order(&d), ["a", "b", "c", "d", "e", "z"]);
        d.state.components.shift_remove("z");
        assert_eq!(d.render().unwrap(), text);
        assert!(
            !d.state
                .changed_since(&Document::parse(text).unwrap().state.head())
        );
    }

    #[test]
    fn dropped_nulls_and_odd_orders_come_back() {
        for text in [
            r#"{"components": {"n_A": {"resources": null, "cmd": "a", "watcher_name": "n_A"}}, "namespace": "n", "circus_endpoint": null}"#,
            r#"{"namespace": "n", "components": {"n_A": {"watcher_name": "n_A", "cmd": "a", "resources": {"x": [1, {"b": 2, "a": 1}], "allocated_gpus": null}}}}"#,
            r#"{"namespace": "n", "components": {"n_A": {"watcher_name": "n_A", "cmd": "a", "resources": {"allocated_gpus": [1, "2"], "y": {}}, "lease": null, "z": 1}}, "environment": {"SYSTEM_RESOURCES": {"gpu_info": [1], "total_gpus": null}, "DYNAMO_SERVICE_CONFIG": null}}"#,
            r#"{"namespace": "n", "components": {"n_A": {"lease": 12345678901234567890123, "cmd": "a", "watcher_name": "n_A", "resources": {}}}}"#,
            r#"{"namespace": "n", "components": {}}"#,
        ] {
            let d = Document::parse(text).unwrap();
            assert_eq!(d.render().unwrap(), text);
            assert_eq!(full(&d), text);
            assert!(d.renders_as(text.as_bytes()));
            assert!(!d.renders_as(&text.as_bytes()[1..]));
            assert!(!d.renders_as(format!("{text} ").as_bytes()));
            let written = d.write_to(Vec::new()).unwrap();
            assert_eq!(written, text.as_bytes());
            let pretty = d.render_as(JsonStyle::PLANNER).unwrap();
            let lines: Vec<&str> = pretty.lines().collect();
            assert_eq!(d.render_lines(JsonStyle::PLANNER).unwrap(), lines);
        }
    }

    #[test]
    fn the_model_refuses_what_does_not_fit_in_the_old_order() {
        let bad = |t: &str| match Document::parse(t) {
            Err(ParseProblem::Invalid(m)) => m,
            other => panic!("{t}: {other:?}"),
        };
        assert!(bad(r#"{"namespace": "n"}"#).contains("missing field `components`"));
        assert!(bad(r#"{"components": {}}"#).contains("missing field `namespace`"));
        assert!(
            bad(r#"{"namespace": "n", "components": {"a": {"watcher_name": "a"}}}"#)
                .contains("missing field `cmd`")
        );
        assert!(bad(r#"{"namespace": 5, "components": {}}"#).contains("invalid type: integer `5`"));
        assert!(
            bad(r#"{"namespace": "n", "components": {"a": {"watcher_name": "a", "cmd": 5}}}"#)
                .contains("invalid type: integer `5`, expected a string")
        );
        assert!(
            bad(r#"{"namespace": "n", "components": {"a": {"watcher_name": "a", "cmd": "", "resources": {"allocated_gpus": [true]}}}}"#)
                .contains("untagged enum GpuId")
        );
        assert_eq!(bad("[1]"), "the top level is not a JSON object");
        // A repeated key wins over a model error, a syntax error over both.
        assert!(
            bad(r#"{"namespace": 5, "components": {}, "namespace": 6}"#).contains("duplicate key")
        );
        assert!(bad(r#"{"namespace": 5, "components": {}, "namespace": 6"#).contains("EOF"));
        assert_eq!(
            Document::parse(r#"{"namespace": 5, "x": NaN}"#).unwrap_err(),
            ParseProblem::NonFinite
        );
        let _ = Components::default();
    }
}
