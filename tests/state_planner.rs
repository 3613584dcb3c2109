//! Compatibility with the reference planner: it must read and change what we write (and we
//! what it writes), and our text must be what Python's `json.dump` writes, byte for byte.

mod state_support;
use state_support::*;

use std::path::Path;
use std::process::Command;

use dynamo_ctl::state::{Change, Document, Store, scale};
use serde_json::Value;

/// Runs the re-implemented planner with a small fixed environment (it dumps its whole
/// environment into the file, as the real one does).
fn planner(op: &str, file: &Path, ty: &str) -> String {
    let out = Command::new("python3")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/planner_compat.py"))
        .args([op])
        .arg(file)
        .arg(ty)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HF_TOKEN", "planner-secret")
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "planner {op} {ty} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// What Python's `json.dumps(json.load(f), indent=...)` makes of a file.
fn python_redump(file: &Path, indent: Option<usize>) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(
            "import json,sys\n\
             o = json.load(open(sys.argv[1]))\n\
             i = None if sys.argv[2] == 'none' else int(sys.argv[2])\n\
             sys.stdout.write(json.dumps(o, indent=i))",
        )
        .arg(file)
        .arg(indent.map_or("none".to_string(), |i| i.to_string()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn our(store: &Store, op: &str, ty: &str) -> Change {
    store
        .transact("dynamo", false, |s| {
            if op == "add" {
                scale::add(s, ty)
            } else {
                scale::remove(s, ty)
            }
        })
        .unwrap_or_else(|e| panic!("our {op} {ty}: {e}"))
        .0
}

fn gpu_holders(file: &Path) -> Vec<String> {
    let v: Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
    let mut ids: Vec<String> = v["components"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|c| {
            c["resources"]["allocated_gpus"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|g| match g {
            Value::String(s) => s,
            other => other.to_string(),
        })
        .collect();
    ids.sort();
    ids
}

#[test]
fn planner_and_dynamo_ctl_take_turns_on_one_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dynamo.json");
    std::fs::copy(fixture_path("reference/serve-initial.json"), &file).unwrap();
    let store = Store::new(dir.path());

    // We write first (compact, as `dynamo serve` left it); the planner reads and adds.
    assert_eq!(
        our(&store, "add", "VllmWorker").name(),
        "dynamo_VllmWorker_1"
    );
    assert_eq!(planner("add", &file, "VllmWorker"), "dynamo_VllmWorker_2");
    // The planner wrote indent=2 with its environment dump; we read it back losslessly.
    let planner_text = std::fs::read_to_string(&file).unwrap();
    assert!(planner_text.contains("planner-secret"));
    let d = Document::parse(&planner_text).unwrap();
    assert_eq!(d.render().unwrap(), planner_text);
    let v: Value = serde_json::from_str(&planner_text).unwrap();
    assert_eq!(
        v["components"]["dynamo_VllmWorker_2"]["resources"]["allocated_gpus"],
        serde_json::json!(["3"]),
        "the planner saw our GPU 2 as taken"
    );

    let c = our(&store, "add", "PrefillWorker");
    assert_eq!(c.name(), "dynamo_PrefillWorker_1");
    assert_eq!(
        planner("add", &file, "PrefillWorker"),
        "dynamo_PrefillWorker_2"
    );
    assert_eq!(
        gpu_holders(&file),
        ["0", "1", "2", "3", "4", "5"],
        "no GPU allocated twice"
    );
    // The planner still writes the same style, we keep it.
    let after = std::fs::read_to_string(&file).unwrap();
    assert_eq!(python_redump(&file, Some(2)), after);

    // Removes interleave too: each side removes the other's highest entry.
    assert_eq!(
        planner("remove", &file, "PrefillWorker"),
        "dynamo_PrefillWorker_2"
    );
    assert_eq!(
        our(&store, "remove", "PrefillWorker").name(),
        "dynamo_PrefillWorker_1"
    );
    assert_eq!(
        planner("remove", &file, "VllmWorker"),
        "dynamo_VllmWorker_2"
    );
    assert_eq!(
        our(&store, "remove", "VllmWorker").name(),
        "dynamo_VllmWorker_1"
    );
    let c = our(&store, "remove", "VllmWorker");
    assert!(
        matches!(&c, Change::Removed { name, parked: true, remaining: 0, .. } if name == "dynamo_VllmWorker"),
        "{c:?}"
    );
    // The planner can add from the base we parked.
    assert_eq!(planner("add", &file, "VllmWorker"), "dynamo_VllmWorker_1");
    let d = Document::parse(&std::fs::read_to_string(&file).unwrap()).unwrap();
    assert_eq!(scale::summarize(&d.state).running("VllmWorker"), 1);
    assert!(d.state.components["dynamo_VllmWorker"].is_parked());
}

/// Our add's output equals Python's own re-dump of it in the file's style, and an unchanged
/// document renders byte-identical: for the planner's indent=2 and `dynamo serve`'s compact
/// style, with non-ASCII text and a hostile service config.
#[test]
fn our_text_is_pythons_text_byte_for_byte() {
    let cases = [
        ("reference/after-planner-add.json", Some(2)),
        ("reference/serve-initial.json", None),
        ("rules/unicode-planner.json", Some(2)),
        ("rules/gpu16.json", None),
        ("rules/multi-gpu.json", Some(2)),
        ("rules/parked.json", Some(2)),
        ("demo/dynamo.json", Some(2)),
        ("demo/agg.json", None),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (rel, indent) in cases {
        let original = text(rel);
        let file = dir.path().join("x.json");
        std::fs::write(&file, &original).unwrap();
        assert_eq!(python_redump(&file, indent), original, "{rel} is Python's");

        let mut d = Document::parse(&original).unwrap();
        assert_eq!(d.render().unwrap(), original, "{rel}: unchanged render");
        scale::add(&mut d.state, "VllmWorker").unwrap_or_else(|e| panic!("{rel}: {e}"));
        let rendered = d.render().unwrap();
        assert_ne!(rendered, original);
        assert!(rendered.is_ascii(), "{rel}: ensure_ascii");
        std::fs::write(&file, &rendered).unwrap();
        assert_eq!(python_redump(&file, indent), rendered, "{rel}: after add");
    }
}

#[test]
fn non_ascii_survives_and_is_escaped_like_python() {
    let original = text("rules/unicode-planner.json");
    let mut d = Document::parse(&original).unwrap();
    assert_eq!(
        d.state.components["uni_Frontend"].extra["description"],
        "Point d'entrée — 前端 🌐"
    );
    assert!(d.state.service_config().unwrap().contains("café-modèle-7B"));
    scale::add(&mut d.state, "VllmWorker").unwrap();
    let out = d.render().unwrap();
    assert!(
        out.contains(r#""description": "Point d'entr\u00e9e \u2014 \u524d\u7aef \ud83c\udf10""#)
    );
    // Inside the command, the env JSON escapes too (as json.dumps does), then the file's
    // JSON escapes its backslashes: \\u00e9.
    let v: Value = serde_json::from_str(&out).unwrap();
    let cmd = v["components"]["uni_VllmWorker_2"]["cmd"].as_str().unwrap();
    assert!(cmd.contains(r"caf\u00e9-mod\u00e8le-7B"), "{cmd}");
    assert!(cmd.contains(r"\ud83d\ude80"), "{cmd}");
    assert!(out.contains(r"caf\\u00e9"));
}

/// Other indents Python may write (indent=4, indent=1) are kept byte for byte as well.
#[test]
fn other_python_indents_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.json");
    for indent in [1, 4] {
        std::fs::copy(fixture_path("rules/unicode-planner.json"), &file).unwrap();
        let original = python_redump(&file, Some(indent));
        assert!(original.contains(&format!("\n{}\"namespace\"", " ".repeat(indent))));
        let mut d = Document::parse(&original).unwrap();
        assert_eq!(d.style.indent, Some(indent));
        assert_eq!(d.render().unwrap(), original);
        scale::add(&mut d.state, "PrefillWorker").unwrap();
        let rendered = d.render().unwrap();
        std::fs::write(&file, &rendered).unwrap();
        assert_eq!(
            python_redump(&file, Some(indent)),
            rendered,
            "indent={indent}"
        );
    }
}
