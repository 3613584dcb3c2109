//! Python-compatible JSON text: what `json.dump(obj)` and `json.dump(obj, indent=N)` write
//! (ASCII only, `\uXXXX` escapes in lower-case hex), plus key-order restoration.

use serde_json::Value;

/// How a state file is laid out, detected on load and kept on save.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JsonStyle {
    /// `None`: Python's compact `json.dump` (`", "` and `": "` separators, one line).
    /// `Some(n)`: `json.dump(indent=n)`.
    pub indent: Option<usize>,
    /// Whether the text ends with a newline (Python writes none).
    pub trailing_newline: bool,
}

impl JsonStyle {
    /// What the planner writes: `json.dump(indent=2)`.
    pub const PLANNER: JsonStyle = JsonStyle {
        indent: Some(2),
        trailing_newline: false,
    };

    /// Detects the style of an existing document's text.
    pub fn detect(text: &str) -> JsonStyle {
        let trimmed = text.trim_end();
        let trailing_newline = text.len() > trimmed.len() && text.ends_with('\n');
        let indent = match trimmed.find('\n') {
            None => None,
            Some(i) => {
                let next = &trimmed[i + 1..];
                let unit = if next.starts_with('\t') { b'\t' } else { b' ' };
                let n = next.bytes().take_while(|b| *b == unit).count();
                Some(if n == 0 { 2 } else { n })
            }
        };
        JsonStyle {
            indent,
            trailing_newline,
        }
    }
}

/// The finer points of a file's layout that `json.dump` arguments (or the platform) vary
/// beyond [`JsonStyle`]: `separators`, `ensure_ascii`, line endings, the indent character.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dialect {
    /// Whether a space follows the item separator `,`, when that differs from Python's
    /// default for the style (yes when compact, no when indented); `None`: the default.
    pub item_space: Option<bool>,
    /// Whether a space follows the key separator `:` (Python's default: yes).
    pub key_space: bool,
    /// Non-ASCII characters written as `\uXXXX` (Python's default) or as they are.
    pub ensure_ascii: bool,
    /// Lines end with `\r\n`.
    pub crlf: bool,
    /// Indented with tabs (`indent="\t"`): one tab per level, `JsonStyle::indent` counting tabs.
    pub tabs: bool,
}

impl Dialect {
    /// What Python's `json.dump` writes by default.
    pub const PYTHON: Dialect = Dialect {
        item_space: None,
        key_space: true,
        ensure_ascii: true,
        crlf: false,
        tabs: false,
    };

    /// Detects the dialect of an existing document's text (with its detected style).
    pub fn detect(text: &str, style: JsonStyle) -> Dialect {
        let mut d = Dialect::PYTHON;
        let bytes = text.as_bytes();
        d.ensure_ascii = text.is_ascii();
        if let Some(i) = text.find('\n') {
            d.crlf = i > 0 && bytes[i - 1] == b'\r';
            d.tabs = bytes.get(i + 1) == Some(&b'\t');
        }
        // The first separators outside strings.
        let (mut key, mut item) = (None, None);
        let mut in_str = false;
        let mut i = 0;
        while i < bytes.len() && (key.is_none() || item.is_none()) {
            let b = bytes[i];
            if in_str {
                if b == b'\\' {
                    i += 1;
                } else if b == b'"' {
                    in_str = false;
                }
            } else if b == b'"' {
                in_str = true;
            } else if b == b':' && key.is_none() {
                key = Some(bytes.get(i + 1) == Some(&b' '));
            } else if b == b',' && item.is_none() {
                item = Some(bytes.get(i + 1) == Some(&b' '));
            }
            i += 1;
        }
        if let Some(k) = key {
            d.key_space = k;
        }
        d.item_space = item.filter(|it| *it != style.indent.is_none());
        d
    }
}

pub use super::sink::{CappedSink, CompareSink, CountSink, IoSink, LineSink, Sink};

/// Everything the writer needs to know about the layout.
pub struct Fmt {
    pub(crate) indent: Option<usize>,
    unit: &'static str,
    item_sep: &'static str,
    pub(crate) key_sep: &'static str,
    pub(crate) ensure_ascii: bool,
    pub(crate) newline: &'static str,
}

impl Fmt {
    pub fn new(style: JsonStyle, d: Dialect) -> Fmt {
        Fmt {
            indent: style.indent,
            unit: if d.tabs { "\t" } else { " " },
            item_sep: if d.item_space.unwrap_or(style.indent.is_none()) {
                ", "
            } else {
                ","
            },
            key_sep: if d.key_space { ": " } else { ":" },
            ensure_ascii: d.ensure_ascii,
            newline: if d.crlf { "\r\n" } else { "\n" },
        }
    }
}

/// Renders `value` exactly as Python's `json.dumps` would with this style.
pub fn to_python_string(value: &Value, style: JsonStyle) -> String {
    to_python_string_sized(value, style, 4096)
}

/// `to_python_string` into a buffer of `capacity` bytes to start with.
pub fn to_python_string_sized(value: &Value, style: JsonStyle, capacity: usize) -> String {
    let f = &Fmt::new(style, Dialect::PYTHON);
    let mut out = String::with_capacity(capacity);
    write_value(&mut out, value, f, 0);
    if style.trailing_newline {
        out.push('\n');
    }
    out
}

/// Writes the object `top` to `out`, except that the value of its top-level key `key` is
/// written by `write_key` (called once, at that key's place, with the level of the value).
/// Ends with the style's trailing newline.
pub fn write_top_with<S: Sink + ?Sized>(
    out: &mut S,
    top: &Value,
    style: JsonStyle,
    f: &Fmt,
    key: &str,
    write_key: &mut dyn FnMut(&mut S, &Fmt, usize),
) {
    match top {
        Value::Object(map) if !map.is_empty() => {
            out.put("{");
            for (i, (k, v)) in map.iter().enumerate() {
                item_start(out, i, f, 0);
                write_str_in(out, k, f.ensure_ascii);
                out.put(f.key_sep);
                if k == key {
                    write_key(out, f, 1);
                } else {
                    write_value(out, v, f, 1);
                }
            }
            if f.indent.is_some() {
                newline(out, f, 0);
            }
            out.put("}");
        }
        _ => write_value(out, top, f, 0),
    }
    if style.trailing_newline {
        out.put(f.newline);
    }
}

/// A line break, then the indentation of `level`.
pub fn newline<S: Sink + ?Sized>(out: &mut S, f: &Fmt, level: usize) {
    out.put(f.newline);
    let n = f.indent.unwrap_or(0) * level;
    if f.unit == " " {
        const SPACES: &str = "                                                                ";
        let mut n = n;
        while n > 0 {
            let k = n.min(SPACES.len());
            out.put(&SPACES[..k]);
            n -= k;
        }
    } else {
        for _ in 0..n {
            out.put(f.unit);
        }
    }
}

/// The separator before item `i` of a container at `level`.
pub fn item_start<S: Sink + ?Sized>(out: &mut S, i: usize, f: &Fmt, level: usize) {
    if i > 0 {
        // Indented, the separator's trailing space (if any) comes before the newline, as
        // Python writes it.
        out.put(f.item_sep);
    }
    if f.indent.is_some() {
        newline(out, f, level + 1);
    }
}

/// `"key": ` of item `i` of an object at `level`.
pub fn key_start<S: Sink + ?Sized>(out: &mut S, i: usize, key: &str, f: &Fmt, level: usize) {
    item_start(out, i, f, level);
    write_str_in(out, key, f.ensure_ascii);
    out.put(f.key_sep);
}

/// The end of a non-empty container at `level`.
pub fn close<S: Sink + ?Sized>(out: &mut S, f: &Fmt, level: usize, bracket: &str) {
    if f.indent.is_some() {
        newline(out, f, level);
    }
    out.put(bracket);
}

pub fn write_value<S: Sink + ?Sized>(out: &mut S, value: &Value, f: &Fmt, level: usize) {
    match value {
        Value::Null => out.put("null"),
        Value::Bool(true) => out.put("true"),
        Value::Bool(false) => out.put("false"),
        // With `arbitrary_precision` a number keeps the exact text it was read from.
        Value::Number(n) => out.put(n.as_str()),
        Value::String(s) => write_str_in(out, s, f.ensure_ascii),
        Value::Array(items) => {
            if items.is_empty() {
                out.put("[]");
                return;
            }
            out.put("[");
            for (i, item) in items.iter().enumerate() {
                item_start(out, i, f, level);
                write_value(out, item, f, level + 1);
            }
            close(out, f, level, "]");
        }
        Value::Object(map) => {
            if map.is_empty() {
                out.put("{}");
                return;
            }
            out.put("{");
            for (i, (k, v)) in map.iter().enumerate() {
                key_start(out, i, k, f, level);
                write_value(out, v, f, level + 1);
            }
            close(out, f, level, "}");
        }
    }
}

/// Python's `ensure_ascii` string encoder.
pub fn write_str(out: &mut String, s: &str) {
    write_str_in(out, s, true);
}

/// Python's string encoder; with `ensure_ascii` off, only `"`, `\\` and the C0 controls
/// are escaped (as `json.dumps(ensure_ascii=False)` does).
pub fn write_str_in<S: Sink + ?Sized>(out: &mut S, s: &str, ensure_ascii: bool) {
    out.put("\"");
    let mut rest = s;
    while !rest.is_empty() {
        // Copy the longest run that needs no escaping in one go.
        let plain = rest
            .bytes()
            .position(|b| {
                if ensure_ascii {
                    !(b' '..=b'~').contains(&b) || b == b'"' || b == b'\\'
                } else {
                    b < b' ' || b == b'"' || b == b'\\'
                }
            })
            .unwrap_or(rest.len());
        out.put(&rest[..plain]);
        rest = &rest[plain..];
        let Some(c) = rest.chars().next() else {
            break;
        };
        rest = &rest[c.len_utf8()..];
        match c {
            '"' => out.put("\\\""),
            '\\' => out.put("\\\\"),
            '\n' => out.put("\\n"),
            '\r' => out.put("\\r"),
            '\t' => out.put("\\t"),
            '\u{8}' => out.put("\\b"),
            '\u{c}' => out.put("\\f"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    let u = *unit as usize;
                    let esc = [
                        b'\\',
                        b'u',
                        HEX[u >> 12],
                        HEX[(u >> 8) & 0xf],
                        HEX[(u >> 4) & 0xf],
                        HEX[u & 0xf],
                    ];
                    out.put(std::str::from_utf8(&esc).expect("ASCII"));
                }
            }
        }
    }
    out.put("\"");
}

/// Gives `value` (the typed model, serialized) the layout of `original` (the file as read):
/// every object's keys that also exist in `original` at the same path come first, in the
/// original's order, and keys new to `value` follow in their own order; a key that held
/// `null` in the original and that the typed model dropped (an `Option` field) is put back
/// as `null` at its place. This is how a save keeps the file's key order.
pub fn restore_layout(value: &mut Value, original: &Value) {
    match (value, original) {
        (Value::Object(map), Value::Object(orig)) => {
            // Fast path, and the common case: the same keys in the same order.
            if map.len() == orig.len() && map.keys().zip(orig.keys()).all(|(a, b)| a == b) {
                for ((_, v), (_, ov)) in map.iter_mut().zip(orig) {
                    restore_layout(v, ov);
                }
                return;
            }
            // Linear time: index the new entries once instead of shift-removing each key.
            let mut slots: Vec<Option<(String, Value)>> =
                std::mem::take(map).into_iter().map(Some).collect();
            let index: std::collections::HashMap<&str, usize> = slots
                .iter()
                .enumerate()
                .filter_map(|(i, s)| s.as_ref().map(|(k, _)| (k.as_str(), i)))
                .collect();
            let order: Vec<(&String, &Value, Option<usize>)> = orig
                .iter()
                .map(|(k, ov)| (k, ov, index.get(k.as_str()).copied()))
                .collect();
            drop(index);
            for (k, ov, slot) in order {
                match slot.and_then(|i| slots[i].take()) {
                    Some((k, mut v)) => {
                        restore_layout(&mut v, ov);
                        map.insert(k, v);
                    }
                    None if ov.is_null() => {
                        map.insert(k.clone(), Value::Null);
                    }
                    None => {}
                }
            }
            for (k, v) in slots.into_iter().flatten() {
                map.insert(k, v);
            }
        }
        (Value::Array(items), Value::Array(orig)) => {
            for (v, ov) in items.iter_mut().zip(orig) {
                restore_layout(v, ov);
            }
        }
        _ => {}
    }
}

/// The first key that appears twice in one object of `text` (valid JSON), with where that
/// object is (`components`, `components.n_W.resources`, or empty for the top level).
/// Keys are compared after unescaping. One pass, no allocation for most keys.
pub fn find_duplicate_key(text: &str) -> Option<(String, String)> {
    use std::borrow::Cow;
    use std::collections::HashSet;
    /// Small objects are searched linearly; big ones (`components`) get a set.
    const LINEAR: usize = 16;
    struct Obj<'a> {
        keys: Vec<Cow<'a, str>>,
        set: Option<HashSet<Cow<'a, str>>>,
        expect_key: bool,
    }
    impl<'a> Obj<'a> {
        /// Adds `key`; false if it was there already.
        fn insert(&mut self, key: Cow<'a, str>) -> bool {
            if let Some(set) = &mut self.set {
                if !set.insert(key.clone()) {
                    return false;
                }
            } else {
                if self.keys.contains(&key) {
                    return false;
                }
                if self.keys.len() == LINEAR {
                    self.set = Some(self.keys.iter().cloned().collect());
                    self.set.as_mut().expect("just set").insert(key.clone());
                }
            }
            self.keys.push(key);
            true
        }
    }
    // `None` is an array.
    let mut stack: Vec<Option<Obj>> = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' => stack.push(Some(Obj {
                keys: Vec::new(),
                set: None,
                expect_key: true,
            })),
            b'[' => stack.push(None),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => {
                if let Some(Some(o)) = stack.last_mut() {
                    o.expect_key = true;
                }
            }
            b':' => {
                if let Some(Some(o)) = stack.last_mut() {
                    o.expect_key = false;
                }
            }
            b'"' => {
                let start = i;
                let mut escaped = false;
                i += 1;
                loop {
                    match bytes[i..].iter().position(|b| *b == b'"' || *b == b'\\') {
                        Some(k) if bytes[i + k] == b'\\' => {
                            escaped = true;
                            i += k + 2;
                        }
                        Some(k) => {
                            i += k;
                            break;
                        }
                        None => {
                            i = bytes.len();
                            break;
                        }
                    }
                }
                if let Some(Some(o)) = stack.last_mut()
                    && o.expect_key
                {
                    let raw = &text[start..(i + 1).min(text.len())];
                    let key: Cow<str> = if escaped {
                        Cow::Owned(serde_json::from_str::<String>(raw).unwrap_or_default())
                    } else {
                        Cow::Borrowed(&raw[1..raw.len().saturating_sub(1).max(1)])
                    };
                    if !o.insert(key.clone()) {
                        let path: Vec<&str> = stack[..stack.len() - 1]
                            .iter()
                            .flatten()
                            .filter_map(|o| o.keys.last().map(|k| k.as_ref()))
                            .collect();
                        return Some((path.join("."), key.into_owned()));
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Finds `NaN`, `Infinity` or `-Infinity` outside strings: Python writes them, JSON has none.
pub fn has_non_finite_literal(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut in_str = false;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if in_str {
            if b == b'\\' {
                i += 1;
            } else if b == b'"' {
                in_str = false;
            }
        } else if b == b'"' {
            in_str = true;
        } else if bytes[i..].starts_with(b"NaN") || bytes[i..].starts_with(b"Infinity") {
            return true;
        }
        i += 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_escapes() {
        let mut s = String::new();
        write_str(&mut s, "é\u{7f}😀\"\\\n\u{1}");
        assert_eq!(s, r#""\u00e9\u007f\ud83d\ude00\"\\\n\u0001""#);
    }

    #[test]
    fn styles() {
        let v: Value =
            serde_json::from_str(r#"{"a": [], "b": {}, "c": [1, {"d": 1.50}]}"#).unwrap();
        assert_eq!(
            to_python_string(&v, JsonStyle::detect("{}")),
            r#"{"a": [], "b": {}, "c": [1, {"d": 1.50}]}"#
        );
        assert_eq!(
            to_python_string(&v, JsonStyle::PLANNER),
            "{\n  \"a\": [],\n  \"b\": {},\n  \"c\": [\n    1,\n    {\n      \"d\": 1.50\n    }\n  ]\n}"
        );
    }

    #[test]
    fn detects_style() {
        assert_eq!(JsonStyle::detect("{\"a\": 1}").indent, None);
        assert_eq!(JsonStyle::detect("{\n    \"a\": 1\n}\n").indent, Some(4));
        assert!(JsonStyle::detect("{\n  \"a\": 1\n}\n").trailing_newline);
    }

    #[test]
    fn duplicate_keys_are_found_with_their_place() {
        assert_eq!(
            find_duplicate_key(r#"{"a": 1, "b": [{"a": 1}], "c": {"d": 1}}"#),
            None
        );
        assert_eq!(
            find_duplicate_key(r#"{"a": 1, "b": 2, "a": 3}"#),
            Some((String::new(), "a".into()))
        );
        assert_eq!(
            find_duplicate_key(r#"{"c": {"x": {"k": "\"}"}, "x": 2, "\u0078": 3}}"#),
            Some(("c".into(), "x".into()))
        );
        assert_eq!(
            find_duplicate_key(r#"{"c": [1, {"n": {"r": {"g": [6], "g": [7]}}}]}"#),
            Some(("c.n.r".into(), "g".into()))
        );
    }

    #[test]
    fn non_finite() {
        assert!(has_non_finite_literal(r#"{"a": NaN}"#));
        assert!(has_non_finite_literal(r#"{"a": -Infinity}"#));
        assert!(!has_non_finite_literal(r#"{"a": "NaN \" Infinity"}"#));
    }
}
