//! Lossless load/save: every fixture renders byte-identical, and a change in one place leaves
//! every other byte, key order, number spelling and unknown key as it was.

use std::path::{Path, PathBuf};

use dynamo_ctl::state::model::ParseProblem;
use dynamo_ctl::state::{Document, scale};
use serde_json::Value;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn all_json(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            all_json(&p, out);
        } else if p.extension().is_some_and(|x| x == "json") {
            out.push(p);
        }
    }
}

#[test]
fn every_fixture_renders_byte_identical() {
    let mut files = vec![];
    all_json(&fixtures_dir(), &mut files);
    files.sort();
    let mut checked = 0;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let name = f
            .strip_prefix(fixtures_dir())
            .unwrap()
            .display()
            .to_string();
        if name == "demo/broken.json" {
            assert!(
                matches!(Document::parse(&text), Err(ParseProblem::Invalid(_))),
                "broken.json must not parse"
            );
            continue;
        }
        let d = Document::parse(&text).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(d.render().unwrap(), text, "{name}");
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} fixtures found");
}

/// Serializes with serde_json (order kept, numbers as written): independent of our renderer.
fn canonical(v: &Value) -> String {
    serde_json::to_string(v).unwrap()
}

#[test]
fn a_change_elsewhere_keeps_odd_keys_numbers_and_order() {
    let original = std::fs::read_to_string(fixtures_dir().join("rules/odd-keys.json")).unwrap();
    let mut d = Document::parse(&original).unwrap();
    assert_eq!(d.style.indent, Some(4));
    assert!(d.style.trailing_newline);
    let c = scale::add(&mut d.state, "VllmWorker").unwrap();
    assert_eq!(c.name(), "odd_VllmWorker_1");
    let out = d.render().unwrap();
    assert!(out.ends_with("}\n") && !out.ends_with("}\n\n"));

    // Remove the new entry from the parsed output: what is left equals the original, in
    // key order and number spelling at every level.
    let mut after: Value = serde_json::from_str(&out).unwrap();
    let new = after["components"]
        .as_object_mut()
        .unwrap()
        .shift_remove("odd_VllmWorker_1")
        .expect("new entry present");
    let before: Value = serde_json::from_str(&original).unwrap();
    assert_eq!(canonical(&after), canonical(&before));
    assert_eq!(
        canonical(&new["resources"]),
        r#"{"allocated_gpus":["2"]}"#,
        "gpu_info strings: 0 and 1 are taken"
    );

    // Each original line is still there, in order (the entry before the new one gains a
    // comma), and nothing but the new entry was added.
    let strip = |l: &str| l.trim_end_matches(',').to_string();
    let old_lines: Vec<String> = original.lines().map(strip).collect();
    let new_lines: Vec<String> = out.lines().map(strip).collect();
    let mut it = new_lines.iter();
    for l in &old_lines {
        assert!(it.any(|n| n == l), "line lost or moved: {l:?}");
    }
    let new_entry_lines = out.lines().count() - original.lines().count();
    assert_eq!(new_entry_lines, 9, "{out}");

    for exact in [
        "\"lease\": 123456789012345678901234567890,",
        "\"big\": 123456789012345678901234567890,",
        "\"alpha\": 1.0000000000000000001",
        "\"zeta\": 0.1,",
        "\"lease\": -1.5e+300",
        "\"tiny\": 1e-320,",
        "79.99999999999999,",
        "2.50,",
        "\"after\": \"keep me \\u00e9\"",
        "\"zz_last\": null",
    ] {
        assert!(out.contains(exact), "missing {exact:?}");
    }

    // And the add is undone exactly.
    scale::remove(&mut d.state, "VllmWorker").unwrap();
    assert_eq!(d.render().unwrap(), original);
}

/// Integers beyond 64 bits in keys dynamo-ctl does not know (flattened maps) and as GPU ids.
/// Before the fix in `Document::parse` these files failed to load ("invalid type: integer
/// ... as u128").
#[test]
fn huge_integers_anywhere_load_and_survive() {
    for t in [
        r#"{"namespace": "n", "components": {}, "big": 123456789012345678901234567890}"#,
        r#"{"namespace": "n", "components": {}, "neg": -9223372036854775809}"#,
        r#"{"namespace": "n", "components": {"n_A": {"watcher_name": "n_A", "cmd": "c", "resources": {"x": 123456789012345678901234567890}, "y": 340282366920938463463374607431768211456}}}"#,
        r#"{"namespace": "n", "components": {"n_A": {"watcher_name": "n_A", "cmd": "c", "resources": {"allocated_gpus": [123456789012345678901234567890]}}}}"#,
        r#"{"namespace": "n", "components": {}, "environment": {"SYSTEM_RESOURCES": {"total_gpus": 123456789012345678901234567890, "mem": 99999999999999999999999}}}"#,
    ] {
        let d = Document::parse(t).unwrap_or_else(|e| panic!("{t}: {e:?}"));
        assert_eq!(d.render().unwrap(), t);
    }
}

/// Known keys read as `null` were dropped on save; they now survive in place.
#[test]
fn null_values_of_known_keys_survive() {
    for t in [
        r#"{"namespace": "n", "circus_endpoint": null, "components": {}}"#,
        r#"{"namespace": "n", "components": {"n_A": {"watcher_name": "n_A", "cmd": "c", "resources": null}}}"#,
        r#"{"namespace": "n", "components": {"n_A": {"watcher_name": "n_A", "cmd": "c", "resources": {"allocated_gpus": null, "z": 1}}}}"#,
        r#"{"namespace": "n", "components": {}, "environment": null}"#,
        r#"{"environment": {"DYNAMO_SERVICE_CONFIG": null, "SYSTEM_RESOURCES": null, "x": 1}, "namespace": "n", "components": {}}"#,
        r#"{"namespace": "n", "components": {}, "environment": {"SYSTEM_RESOURCES": {"total_gpus": null, "gpu_info": null}}}"#,
    ] {
        let d = Document::parse(t).unwrap_or_else(|e| panic!("{t}: {e:?}"));
        assert_eq!(d.render().unwrap(), t);
    }
    // Also after a change elsewhere in the file.
    let t = r#"{"namespace": "n", "circus_endpoint": null, "components": {"n_Frontend": {"watcher_name": "n_Frontend", "cmd": "f", "resources": null}, "n_VllmWorker": {"watcher_name": "n_VllmWorker", "cmd": "w", "resources": {"allocated_gpus": [0]}}}, "environment": {"DYNAMO_SERVICE_CONFIG": null, "SYSTEM_RESOURCES": {"total_gpus": null, "gpu_info": [0, 1]}}}"#;
    let mut d = Document::parse(t).unwrap();
    scale::add(&mut d.state, "VllmWorker").unwrap();
    let out = d.render().unwrap();
    assert!(out.starts_with(r#"{"namespace": "n", "circus_endpoint": null, "components": {"n_Frontend": {"watcher_name": "n_Frontend", "cmd": "f", "resources": null}, "#), "{out}");
    assert!(out.ends_with(r#""environment": {"DYNAMO_SERVICE_CONFIG": null, "SYSTEM_RESOURCES": {"total_gpus": null, "gpu_info": [0, 1]}}}"#), "{out}");
    scale::remove(&mut d.state, "VllmWorker").unwrap();
    assert_eq!(d.render().unwrap(), t);
}

#[test]
fn styles_are_detected_and_kept() {
    let compact = r#"{"namespace": "n", "components": {"n_A": {"watcher_name": "n_A", "cmd": "c", "resources": {}}}}"#;
    for (t, indent, nl) in [
        (compact.to_string(), None, false),
        (format!("{compact}\n"), None, true),
        (
            serde_json::to_string_pretty(&serde_json::from_str::<Value>(compact).unwrap()).unwrap(),
            Some(2),
            false,
        ),
    ] {
        let d = Document::parse(&t).unwrap();
        assert_eq!((d.style.indent, d.style.trailing_newline), (indent, nl));
        assert_eq!(d.render().unwrap(), t);
    }
}

#[test]
fn nan_and_malformed_text_are_refused() {
    assert_eq!(
        Document::parse(r#"{"namespace": "x", "a": NaN, "components": {}}"#).unwrap_err(),
        ParseProblem::NonFinite
    );
    assert_eq!(
        Document::parse(r#"{"namespace": "x", "a": -Infinity, "components": {}}"#).unwrap_err(),
        ParseProblem::NonFinite
    );
    // "NaN" inside a string is fine.
    assert!(Document::parse(r#"{"namespace": "NaN", "components": {}}"#).is_ok());
    for bad in [
        "",
        "[]",
        r#"{"namespace": "x"}"#,
        r#"{"namespace": 1, "components": {}}"#,
        r#"{"namespace": "x", "components": {"a": {"cmd": "c"}}}"#,
        r#"{"namespace": "x", "components": {}"#,
    ] {
        assert!(
            matches!(Document::parse(bad), Err(ParseProblem::Invalid(_))),
            "{bad:?}"
        );
    }
}
