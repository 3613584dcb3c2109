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
                let n = next.bytes().take_while(|b| *b == b' ').count();
                Some(if n == 0 { 2 } else { n })
            }
        };
        JsonStyle {
            indent,
            trailing_newline,
        }
    }
}

/// Renders `value` exactly as Python's `json.dumps` would with this style.
pub fn to_python_string(value: &Value, style: JsonStyle) -> String {
    to_python_string_sized(value, style, 4096)
}

/// `to_python_string` of the object `top`, except that the top-level key `key` is written
/// with `entries` (an object, in that order) as its value.
pub fn to_python_string_with(
    top: &Value,
    style: JsonStyle,
    capacity: usize,
    key: &str,
    entries: &[(&str, &Value)],
) -> String {
    let Value::Object(map) = top else {
        return to_python_string_sized(top, style, capacity);
    };
    let mut out = String::with_capacity(capacity);
    let indent = style.indent;
    if map.is_empty() {
        out.push_str("{}");
    } else {
        out.push('{');
        for (i, (k, v)) in map.iter().enumerate() {
            item_start(&mut out, i, indent, 0);
            write_str(&mut out, k);
            out.push_str(": ");
            if k == key {
                if entries.is_empty() {
                    out.push_str("{}");
                    continue;
                }
                out.push('{');
                for (j, (ek, ev)) in entries.iter().enumerate() {
                    item_start(&mut out, j, indent, 1);
                    write_str(&mut out, ek);
                    out.push_str(": ");
                    write_value(&mut out, ev, indent, 2);
                }
                if let Some(n) = indent {
                    newline(&mut out, n, 1);
                }
                out.push('}');
            } else {
                write_value(&mut out, v, indent, 1);
            }
        }
        if let Some(n) = indent {
            newline(&mut out, n, 0);
        }
        out.push('}');
    }
    if style.trailing_newline {
        out.push('\n');
    }
    out
}

/// `to_python_string` into a buffer of `capacity` bytes to start with.
pub fn to_python_string_sized(value: &Value, style: JsonStyle, capacity: usize) -> String {
    let mut out = String::with_capacity(capacity);
    write_value(&mut out, value, style.indent, 0);
    if style.trailing_newline {
        out.push('\n');
    }
    out
}

fn newline(out: &mut String, indent: usize, level: usize) {
    const SPACES: &str = "                                                                ";
    out.push('\n');
    let mut n = indent * level;
    while n > 0 {
        let k = n.min(SPACES.len());
        out.push_str(&SPACES[..k]);
        n -= k;
    }
}

/// The separator before item `i` of a container at `level`.
fn item_start(out: &mut String, i: usize, indent: Option<usize>, level: usize) {
    if i > 0 {
        out.push(',');
        if indent.is_none() {
            out.push(' ');
        }
    }
    if let Some(n) = indent {
        newline(out, n, level + 1);
    }
}

fn write_value(out: &mut String, value: &Value, indent: Option<usize>, level: usize) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        // With `arbitrary_precision` a number keeps the exact text it was read from.
        Value::Number(n) => out.push_str(n.as_str()),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                item_start(out, i, indent, level);
                write_value(out, item, indent, level + 1);
            }
            if let Some(n) = indent {
                newline(out, n, level);
            }
            out.push(']');
        }
        Value::Object(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return;
            }
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                item_start(out, i, indent, level);
                write_str(out, k);
                out.push_str(": ");
                write_value(out, v, indent, level + 1);
            }
            if let Some(n) = indent {
                newline(out, n, level);
            }
            out.push('}');
        }
    }
}

/// Python's `ensure_ascii` string encoder.
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    let mut rest = s;
    while !rest.is_empty() {
        // Copy the longest run that needs no escaping in one go.
        let plain = rest
            .bytes()
            .position(|b| !(b' '..=b'~').contains(&b) || b == b'"' || b == b'\\')
            .unwrap_or(rest.len());
        out.push_str(&rest[..plain]);
        rest = &rest[plain..];
        let Some(c) = rest.chars().next() else {
            break;
        };
        rest = &rest[c.len_utf8()..];
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            _ => {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{:04x}", unit));
                }
            }
        }
    }
    out.push('"');
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
    fn non_finite() {
        assert!(has_non_finite_literal(r#"{"a": NaN}"#));
        assert!(has_non_finite_literal(r#"{"a": -Infinity}"#));
        assert!(!has_non_finite_literal(r#"{"a": "NaN \" Infinity"}"#));
    }
}
