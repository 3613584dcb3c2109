//! Keys and values of Dynamo's discovery, 0.3.x and 1.x, parsed without trusting them:
//! every failure is a message for the malformed list, never a panic.

use super::model::{Instance, Interner, Layout, Name, SourceKind};

/// Largest value read from a key or a file; Dynamo's are a few hundred bytes.
pub const MAX_VALUE_BYTES: usize = 1 << 20;
/// Longest key or file name quoted in a malformed-entry message.
const QUOTE_MAX: usize = 200;

/// etcd prefixes: Dynamo 0.3.x, then 1.x.
pub const PREFIX_03: &str = "instances/";
pub const PREFIX_1X: &str = "v1/instances/";
/// The file store's bucket of instances, under its root.
pub const FILE_BUCKET: &str = "v1/instances";

/// `s` cut to a quotable length (on a char boundary).
pub fn quote(s: &str) -> String {
    if s.len() <= QUOTE_MAX {
        return format!("{s:?}");
    }
    let mut end = QUOTE_MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{:?}…", &s[..end])
}

fn hex_id(s: &str) -> Result<u64, String> {
    if s.is_empty() || s.len() > 16 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "instance id {} is not 1 to 16 hex digits",
            quote(s)
        ));
    }
    u64::from_str_radix(s, 16).map_err(|e| e.to_string())
}

fn nonempty(parts: &[&str]) -> bool {
    parts.iter().all(|p| !p.is_empty())
}

/// `<ns>/<comp>/<endpoint>/<hex>` (1.x, after the bucket prefix).
fn parse_rest_1x(rest: &str) -> Result<(&str, &str, &str, u64), String> {
    let parts: Vec<&str> = rest.split('/').collect();
    if parts.len() != 4 || !nonempty(&parts) {
        return Err("expected <namespace>/<component>/<endpoint>/<instance id hex>".into());
    }
    Ok((parts[0], parts[1], parts[2], hex_id(parts[3])?))
}

/// `<ns>/<Comp>/<endpoint>:<lease hex>` (0.3.x, after `instances/`).
fn parse_rest_03(rest: &str) -> Result<(&str, &str, &str, u64), String> {
    let parts: Vec<&str> = rest.split('/').collect();
    if parts.len() != 3 || !nonempty(&parts) {
        return Err("expected <namespace>/<component>/<endpoint>:<lease id hex>".into());
    }
    let Some((endpoint, lease)) = parts[2].rsplit_once(':') else {
        return Err("expected <namespace>/<component>/<endpoint>:<lease id hex>".into());
    };
    if endpoint.is_empty() {
        return Err("empty endpoint".into());
    }
    Ok((parts[0], parts[1], endpoint, hex_id(lease)?))
}

/// The value: a JSON object of at most [`MAX_VALUE_BYTES`], as UTF-8 text (kept as is;
/// checked here without building it).
fn check_value(value: &[u8]) -> Result<&str, String> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(format!(
            "value of {} bytes is over the {} byte cap",
            value.len(),
            MAX_VALUE_BYTES
        ));
    }
    let text = std::str::from_utf8(value).map_err(|_| "value is not UTF-8".to_string())?;
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(text) {
        return Err(format!("value is not JSON: {e}"));
    }
    if !text.trim_start().starts_with('{') {
        return Err("value is JSON but not an object".into());
    }
    Ok(text)
}

fn build(
    names: &mut Interner,
    (namespace, component, endpoint, instance_id): (&str, &str, &str, u64),
    raw: &str,
    source: SourceKind,
    layout: Layout,
    key: Name,
) -> Instance {
    Instance {
        namespace: names.get(namespace),
        component: names.get(component),
        endpoint: names.get(endpoint),
        instance_id,
        source,
        layout,
        stale: false,
        key,
        lease: None,
        mod_revision: None,
        modified: None,
        mtime: None,
        raw: names.value(raw),
    }
}

/// An etcd key and value, either layout. `Err` is the message for the malformed list.
pub fn etcd_entry(key: &[u8], value: &[u8]) -> Result<Instance, String> {
    etcd_entry_in(&mut Interner::default(), key, value)
}

/// [`etcd_entry`], its names shared through `names`.
pub(crate) fn etcd_entry_in(
    names: &mut Interner,
    key: &[u8],
    value: &[u8],
) -> Result<Instance, String> {
    let key = std::str::from_utf8(key).map_err(|_| {
        format!(
            "etcd key {} is not UTF-8",
            quote(&String::from_utf8_lossy(key))
        )
    })?;
    let (parts, layout) = if let Some(rest) = key.strip_prefix(PREFIX_1X) {
        (parse_rest_1x(rest), Layout::V1)
    } else if let Some(rest) = key.strip_prefix(PREFIX_03) {
        (parse_rest_03(rest), Layout::V03)
    } else {
        return Err(format!("etcd key {} is not an instance key", quote(key)));
    };
    let parts = parts.map_err(|e| format!("etcd key {}: {e}", quote(key)))?;
    let raw = check_value(value).map_err(|e| format!("etcd key {}: {e}", quote(key)))?;
    let key = names.value(key);
    Ok(build(names, parts, raw, SourceKind::Etcd, layout, key))
}

/// Decodes a file store name: every `%XX` is one byte; the result must be UTF-8.
pub fn decode_name(name: &str) -> Result<String, String> {
    let b = name.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| "bad percent escape".to_string())?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "decodes to bytes that are not UTF-8".into())
}

/// A file of the file store's `v1/instances` bucket: its name and content.
pub fn file_entry(name: &str, content: &[u8]) -> Result<Instance, String> {
    file_entry_in(&mut Interner::default(), name, content)
}

/// [`file_entry`], its names shared through `names`.
pub(crate) fn file_entry_in(
    names: &mut Interner,
    name: &str,
    content: &[u8],
) -> Result<Instance, String> {
    let key = decode_name(name).map_err(|e| format!("file {}: {e}", quote(name)))?;
    let parts = parse_rest_1x(&key).map_err(|e| format!("file {}: {e}", quote(name)))?;
    let raw = check_value(content).map_err(|e| format!("file {}: {e}", quote(name)))?;
    let full = names.value(&format!("{PREFIX_1X}{key}"));
    Ok(build(names, parts, raw, SourceKind::File, Layout::V1, full))
}

/// The key just past every key starting with `prefix` (etcd's range end for a prefix).
pub fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts() {
        let v03 = br#"{"component": "VllmWorker", "endpoint": "generate", "namespace": "dynamo",
  "instance_id": 7587899101031805710, "transport": {"nats_tcp": "dynamo_vllmworker.generate-694da207ac81b30e"}}"#;
        let i = etcd_entry(
            b"instances/dynamo/VllmWorker/generate:694da207ac81b30e",
            v03,
        )
        .unwrap();
        assert_eq!(
            (
                i.namespace.as_str(),
                i.component.as_str(),
                i.endpoint.as_str(),
                i.layout
            ),
            ("dynamo", "VllmWorker", "generate", Layout::V03)
        );
        assert_eq!(i.instance_id, 0x694da207ac81b30e);
        assert_eq!(i.instance_id_hex(), "694da207ac81b30e");
        let v1 = br#"{"type":"Endpoint","component":"backend","endpoint":"generate","namespace":"dyn16","instance_id":7587899115514639621,"transport":{"tcp":"x"},"device_type":"cuda"}"#;
        let i = etcd_entry(b"v1/instances/dyn16/backend/generate/694da20b0bc03505", v1).unwrap();
        assert_eq!(i.layout, Layout::V1);
        assert_eq!(i.value()["device_type"], "cuda");
        assert_eq!(i.transport()["tcp"], "x");
        let f = file_entry("dyn16%2Fbackend%2Fgenerate%2F24f41fc93f71170b", v1).unwrap();
        assert_eq!(f.instance_id, 0x24f41fc93f71170b);
        assert_eq!(f.source, SourceKind::File);
    }

    #[test]
    fn hostile_input_is_an_error_not_a_panic() {
        for (k, v) in [
            (&b"instances/a/b/c"[..], &b"{}"[..]),
            (b"instances/a/b/:12", b"{}"),
            (b"instances/a/b/c:zz", b"{}"),
            (b"instances/a/b/c:11111111111111111", b"{}"),
            (b"v1/instances/a/b/c", b"{}"),
            (b"v1/instances/a//c/12", b"{}"),
            (b"v1/instances/a/b/c/12/x", b"{}"),
            (b"v1/instances/a/b/c/12", b"[1]"),
            (b"v1/instances/a/b/c/12", b"{"),
            (b"v1/instances/a/b/c/12", b"{} {}"),
            (b"v1/instances/a/b/c/12", b" \"{}\""),
            (b"v1/instances/a/b/c/12", b"{\"a\": \"\xff\"}"),
            (b"v1/instances/a/b/c/\xff", b"{}"),
            (b"other/x", b"{}"),
        ] {
            assert!(etcd_entry(k, v).is_err(), "{k:?}");
        }
        for n in ["%", "%4", "%zz", "%ff%fe", "a%2Fb"] {
            assert!(file_entry(n, b"{}").is_err(), "{n}");
        }
        let long = "x".repeat(10_000);
        assert!(etcd_entry(long.as_bytes(), b"{}").unwrap_err().len() < 400);
    }

    #[test]
    fn prefix_ends() {
        assert_eq!(prefix_end("v1/instances/"), b"v1/instances0".to_vec());
        assert_eq!(prefix_end(""), vec![0]);
    }
}
