//! The planner's scaling rules (with its flaws fixed), checked against the real reference
//! files, the demo data and hand-made fixtures under `fixtures/rules/`.

mod state_support;
use state_support::*;

use std::process::Command;

use dynamo_ctl::state::json::JsonStyle;
use dynamo_ctl::state::model::GpuId;
use dynamo_ctl::state::{Change, Document, RuleError, State, scale};
use serde_json::{Value, json};

fn doc(rel: &str) -> Document {
    Document::parse(&text(rel)).unwrap_or_else(|e| panic!("{rel}: {e:?}"))
}

fn added(c: &Change) -> (String, Vec<String>) {
    match c {
        Change::Added { name, gpus, .. } => (name.clone(), gpus.clone()),
        other => panic!("expected an add, got {other:?}"),
    }
}

fn gpus_of(state: &State, key: &str) -> Vec<GpuId> {
    state.components[key].gpus().to_vec()
}

fn s(id: &str) -> GpuId {
    GpuId::Str(id.to_string())
}

fn n(id: u64) -> GpuId {
    GpuId::Int(id.into())
}

/// The `--worker-env` JSON of a command we wrote, parsed by real `shlex.split`, and the
/// `--custom-component-name` value. Returns the Python-side view as JSON.
fn python_split(cmd: &str) -> Value {
    let script = r#"
import json, shlex, sys
argv = shlex.split(sys.argv[1])
env = argv[argv.index("--worker-env") + 1]
name = argv[argv.index("--custom-component-name") + 1]
print(json.dumps({"env_text": env, "env": json.loads(env), "name": name, "last": argv[-1],
                  "count_worker_env": argv.count("--worker-env")}))
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(cmd)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "python3 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

// ---------------------------------------------------------------- the reference files

/// Our add on the file `dynamo serve` wrote gives exactly what the real planner wrote,
/// except for the planner's environment dump (PATH, HOME, HF_TOKEN) that we do not copy.
#[test]
fn add_on_serve_initial_matches_the_planner_minus_its_env_dump() {
    let mut d = doc("reference/serve-initial.json");
    let c = scale::add(&mut d.state, "VllmWorker").unwrap();
    // gpu_info holds strings, allocated_gpus ints (0, 1): they must compare as equal ids.
    assert_eq!(added(&c), ("dynamo_VllmWorker_1".into(), vec!["2".into()]));
    assert_eq!(c.to_string(), "added dynamo_VllmWorker_1 on GPU 2");
    d.style = JsonStyle::PLANNER;
    let ours = d.render().unwrap();
    let planner = text("reference/after-planner-add.json");
    let dump = r#"\"PATH\": \"/opt/dynamo/venv/bin:/usr/local/bin:/usr/bin:/bin\", \"HOME\": \"/home/op\", \"HF_TOKEN\": \"hf_REDACTED_but_really_written_here\", "#;
    assert!(planner.contains(dump), "reference file changed?");
    assert_eq!(ours, planner.replace(dump, ""));
    assert!(!ours.contains("HF_TOKEN"));
}

#[test]
fn remove_deletes_numbered_then_parks_base_then_refuses() {
    let mut d = doc("reference/after-planner-add.json");
    let c = scale::remove(&mut d.state, "VllmWorker").unwrap();
    assert_eq!(
        c,
        Change::Removed {
            ty: "VllmWorker".into(),
            name: "dynamo_VllmWorker_1".into(),
            gpus: vec!["2".into()],
            parked: false,
            remaining: 1,
        }
    );
    assert!(!d.state.components.contains_key("dynamo_VllmWorker_1"));

    let c = scale::remove(&mut d.state, "VllmWorker").unwrap();
    assert_eq!(
        c,
        Change::Removed {
            ty: "VllmWorker".into(),
            name: "dynamo_VllmWorker".into(),
            gpus: vec!["0".into()],
            parked: true,
            remaining: 0,
        }
    );
    assert_eq!(
        c.to_string(),
        "removed dynamo_VllmWorker (parked as template), freed GPU 0; no VllmWorker is running now"
    );
    let v = d.to_value().unwrap();
    let base = &v["components"]["dynamo_VllmWorker"];
    assert_eq!(
        serde_json::to_string(base).unwrap(),
        serde_json::to_string(&json!({
            "watcher_name": "dynamo_VllmWorker",
            "cmd": "/opt/dynamo/venv/bin/python3 -m dynamo.sdk.cli.serve_dynamo graph:Frontend --service-name VllmWorker --worker-id $(CIRCUS.WID) --target dynamo",
            "resources": {},
            "lease": null
        }))
        .unwrap()
    );
    // Other types untouched.
    assert_eq!(
        gpus_of(&d.state, "dynamo_PrefillWorker"),
        vec![n(1)],
        "PrefillWorker must keep its GPU"
    );

    let before = d.render().unwrap();
    let e = scale::remove(&mut d.state, "VllmWorker").unwrap_err();
    assert_eq!(
        e,
        RuleError::NothingRunning {
            ty: "VllmWorker".into()
        }
    );
    assert_eq!(e.to_string(), "no running instance of VllmWorker to remove");
    assert_eq!(
        d.render().unwrap(),
        before,
        "a refused remove changes nothing"
    );

    // Adding after a parked base creates a numbered entry; the base stays parked.
    let c = scale::add(&mut d.state, "VllmWorker").unwrap();
    assert_eq!(added(&c), ("dynamo_VllmWorker_1".into(), vec!["0".into()]));
    assert!(d.state.components["dynamo_VllmWorker"].is_parked());
    assert_eq!(scale::summarize(&d.state).running("VllmWorker"), 1);
}

#[test]
fn parked_base_fixture_add_creates_numbered_and_remove_never_touches_the_base() {
    let mut d = doc("rules/parked.json");
    let original = d.render().unwrap();
    let c = scale::add(&mut d.state, "VllmWorker").unwrap();
    assert_eq!(added(&c), ("parked_VllmWorker_1".into(), vec!["0".into()]));
    let c = scale::add(&mut d.state, "VllmWorker").unwrap();
    assert_eq!(added(&c), ("parked_VllmWorker_2".into(), vec!["2".into()]));
    let r = scale::remove(&mut d.state, "VllmWorker").unwrap();
    assert_eq!(r.name(), "parked_VllmWorker_2");
    let r = scale::remove(&mut d.state, "VllmWorker").unwrap();
    assert!(matches!(
        r,
        Change::Removed {
            parked: false,
            remaining: 0,
            ..
        }
    ));
    assert_eq!(r.name(), "parked_VllmWorker_1");
    assert!(scale::remove(&mut d.state, "VllmWorker").is_err());
    assert_eq!(d.render().unwrap(), original);
}

// ---------------------------------------------------------------- suffixes and GPUs

#[test]
fn suffix_is_max_plus_one_across_gaps() {
    let mut d = doc("rules/gpu16.json");
    let c = scale::add(&mut d.state, "VllmWorker").unwrap();
    assert_eq!(added(&c).0, "big_VllmWorker_8", "suffixes 1,3,7 -> 8");
    let c = scale::add(&mut d.state, "PrefillWorker").unwrap();
    assert_eq!(added(&c).0, "big_PrefillWorker_7", "suffixes 1,2,5,6 -> 7");
    // A type without a GPU need and without numbered entries starts at 1.
    let c = scale::add(&mut d.state, "Frontend").unwrap();
    assert_eq!(added(&c), ("big_Frontend_1".into(), vec![]));
    let v = d.to_value().unwrap();
    assert_eq!(
        v["components"]["big_Frontend_1"]["resources"],
        json!({"allocated_gpus": []})
    );
    let fe = python_split(v["components"]["big_Frontend_1"]["cmd"].as_str().unwrap());
    assert_eq!(
        fe["env"][0].as_object().unwrap().keys().collect::<Vec<_>>(),
        vec!["DYNAMO_SERVICE_CONFIG"],
        "no CUDA_VISIBLE_DEVICES without GPUs"
    );
}

#[test]
fn gpus_are_chosen_in_numeric_order_not_string_order() {
    // 16 GPUs "0".."15"; 0..9 are taken except 2 (some allocated as ints, some as strings).
    let mut d = doc("rules/gpu16.json");
    assert_eq!(
        scale::free_gpus(&d.state),
        ["2", "10", "11", "12", "13", "14", "15"].map(s).to_vec()
    );
    let c = scale::add(&mut d.state, "VllmWorker").unwrap();
    assert_eq!(added(&c), ("big_VllmWorker_8".into(), vec!["2".into()]));
    let c = scale::add(&mut d.state, "VllmWorker").unwrap();
    assert_eq!(added(&c), ("big_VllmWorker_9".into(), vec!["10".into()]));
    let c = scale::add(&mut d.state, "PrefillWorker").unwrap();
    assert_eq!(added(&c), ("big_PrefillWorker_7".into(), vec!["11".into()]));
    // Written in gpu_info's spelling (strings), and in CUDA_VISIBLE_DEVICES.
    assert_eq!(gpus_of(&d.state, "big_VllmWorker_9"), vec![s("10")]);
    let p = python_split(&d.state.components["big_VllmWorker_9"].cmd);
    assert_eq!(p["env"][0]["CUDA_VISIBLE_DEVICES"], "10");
}

#[test]
fn mixed_int_and_string_ids_compare_as_numbers_and_keep_gpu_info_spelling() {
    let v = json!({
        "namespace": "m",
        "components": {
            "m_VllmWorker": {"watcher_name": "m_VllmWorker", "cmd": "w", "resources": {"allocated_gpus": ["0"]}},
            "m_VllmWorker_1": {"watcher_name": "m_VllmWorker_1", "cmd": "w", "resources": {"allocated_gpus": [1]}},
            "m_PrefillWorker": {"watcher_name": "m_PrefillWorker", "cmd": "p", "resources": {"allocated_gpus": [" 4"]}}
        },
        "environment": {"SYSTEM_RESOURCES": {"gpu_info": [10, "2", 1, 0, "3", 4, "gpu-x", 20]}}
    });
    let mut d = Document::parse(&v.to_string()).unwrap();
    assert_eq!(
        scale::free_gpus(&d.state),
        vec![s("2"), s("3"), n(10), n(20), s("gpu-x")]
    );
    let mut got = vec![];
    for _ in 0..5 {
        let c = scale::add(&mut d.state, "VllmWorker").unwrap();
        let (name, _) = added(&c);
        got.push(gpus_of(&d.state, &name));
    }
    assert_eq!(
        got,
        vec![
            vec![s("2")],
            vec![s("3")],
            vec![n(10)],
            vec![n(20)],
            vec![s("gpu-x")]
        ]
    );
    let e = scale::add(&mut d.state, "VllmWorker").unwrap_err();
    assert_eq!(
        e.to_string(),
        "VllmWorker needs 1 GPU(s) but only 0 of 8 are free"
    );
}

#[test]
fn multi_gpu_template_gets_the_lowest_free_ids() {
    let mut d = doc("rules/multi-gpu.json");
    // Held: 0,1 (base), 2 (prefill), 4,5 (_1). Free: 3, 6, 7.
    let c = scale::add(&mut d.state, "VllmWorker").unwrap();
    assert_eq!(
        added(&c),
        ("mg_VllmWorker_2".into(), vec!["3".into(), "6".into()])
    );
    assert_eq!(c.to_string(), "added mg_VllmWorker_2 on GPUs 3, 6");
    let p = python_split(&d.state.components["mg_VllmWorker_2"].cmd);
    assert_eq!(p["env"][0]["CUDA_VISIBLE_DEVICES"], "3,6");
    let before = d.render().unwrap();
    let e = scale::add(&mut d.state, "VllmWorker").unwrap_err();
    assert_eq!(
        e,
        RuleError::NotEnoughGpus {
            ty: "VllmWorker".into(),
            need: 2,
            free: 1,
            total: 8
        }
    );
    assert_eq!(
        e.to_string(),
        "VllmWorker needs 2 GPU(s) but only 1 of 8 are free"
    );
    assert_eq!(d.render().unwrap(), before, "a refused add changes nothing");
    // PrefillWorker's template holds one GPU: it takes exactly one.
    let c = scale::add(&mut d.state, "PrefillWorker").unwrap();
    assert_eq!(added(&c).1, vec!["7".to_string()]);
}

#[test]
fn no_free_gpu_error_names_the_counts() {
    let mut d = doc("demo/full.json");
    let before = d.render().unwrap();
    for ty in ["VllmWorker", "PrefillWorker"] {
        let e = scale::add(&mut d.state, ty).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{ty} needs 1 GPU(s) but only 0 of 4 are free")
        );
    }
    assert_eq!(d.render().unwrap(), before);
}

#[test]
fn no_gpu_info_and_unknown_and_bad_types() {
    let mut d = doc("reference/serve-initial.json");
    d.state.environment.as_mut().unwrap().system_resources = None;
    let e = scale::add(&mut d.state, "VllmWorker").unwrap_err();
    assert_eq!(
        e,
        RuleError::NoGpuInfo {
            ty: "VllmWorker".into()
        }
    );
    assert!(e.to_string().contains("gpu_info is missing"), "{e}");
    // A type that needs no GPU can still be added.
    assert!(scale::add(&mut d.state, "Frontend").is_ok());

    let mut d = doc("reference/serve-initial.json");
    let e = scale::add(&mut d.state, "Decoder").unwrap_err();
    assert_eq!(
        e.to_string(),
        "no component of type \"Decoder\" in namespace \"dynamo\" (known types: Planner, PrefillWorker, VllmWorker, Frontend)"
    );
    assert!(matches!(
        scale::remove(&mut d.state, "Decoder"),
        Err(RuleError::UnknownType { .. })
    ));
    for bad in ["", "../x", "Vllm Worker", "a'b"] {
        assert!(
            matches!(
                scale::add(&mut d.state, bad),
                Err(RuleError::BadType { .. })
            ),
            "{bad:?}"
        );
    }
    assert_eq!(d.render().unwrap(), text("reference/serve-initial.json"));
}

// ---------------------------------------------------------------- layouts

#[test]
fn older_layout_without_base_entry() {
    let mut d = doc("demo/agg.json");
    let original = d.render().unwrap();
    let c = scale::add(&mut d.state, "VllmWorker").unwrap();
    // Template agg_VllmWorker_0 holds 2 GPUs; gpu_info holds ints, so ids stay ints.
    assert_eq!(
        added(&c),
        ("agg_VllmWorker_2".into(), vec!["4".into(), "5".into()])
    );
    assert_eq!(gpus_of(&d.state, "agg_VllmWorker_2"), vec![n(4), n(5)]);
    let cmd = &d.state.components["agg_VllmWorker_2"].cmd;
    let p = python_split(cmd);
    assert!(
        p["env"].is_object(),
        "older layout keeps --worker-env as an object: {cmd}"
    );
    assert_eq!(p["env"]["CUDA_VISIBLE_DEVICES"], "4,5");
    assert_eq!(p["name"], "agg_VllmWorker_2");
    assert_eq!(p["count_worker_env"], 1, "template's own env is dropped");

    let r = scale::remove(&mut d.state, "VllmWorker").unwrap();
    assert_eq!(r.name(), "agg_VllmWorker_2");
    assert_eq!(d.render().unwrap(), original);
    let r = scale::remove(&mut d.state, "VllmWorker").unwrap();
    assert!(
        matches!(&r, Change::Removed { name, parked: false, remaining: 1, .. } if name == "agg_VllmWorker_1"),
        "{r:?}"
    );
    // The last entry of the type is parked, not deleted: it is the only template left.
    let r = scale::remove(&mut d.state, "VllmWorker").unwrap();
    assert!(
        matches!(&r, Change::Removed { name, parked: true, remaining: 0, gpus, .. } if name == "agg_VllmWorker_0" && gpus == &["0", "1"]),
        "{r:?}"
    );
    assert!(d.state.components["agg_VllmWorker_0"].is_parked());
    assert!(scale::remove(&mut d.state, "VllmWorker").is_err());
    // Adding again: a new numbered entry with as many GPUs as the template used to hold.
    let c = scale::add(&mut d.state, "VllmWorker").unwrap();
    assert_eq!(
        added(&c),
        ("agg_VllmWorker_1".into(), vec!["0".into(), "1".into()])
    );
}

#[test]
fn scale_reaches_the_wanted_count_in_both_directions() {
    let mut d = doc("rules/gpu16.json");
    let original = d.render().unwrap();
    assert_eq!(scale::summarize(&d.state).running("VllmWorker"), 4);
    let changes = scale::scale(&mut d.state, "VllmWorker", 6).unwrap();
    let names: Vec<&str> = changes.iter().map(|c| c.name()).collect();
    assert_eq!(names, ["big_VllmWorker_8", "big_VllmWorker_9"]);
    assert!(
        scale::scale(&mut d.state, "VllmWorker", 6)
            .unwrap()
            .is_empty()
    );
    let changes = scale::scale(&mut d.state, "VllmWorker", 0).unwrap();
    let names: Vec<&str> = changes.iter().map(|c| c.name()).collect();
    assert_eq!(
        names,
        [
            "big_VllmWorker_9",
            "big_VllmWorker_8",
            "big_VllmWorker_7",
            "big_VllmWorker_3",
            "big_VllmWorker_1",
            "big_VllmWorker"
        ]
    );
    assert!(d.state.components["big_VllmWorker"].is_parked());
    assert_eq!(scale::summarize(&d.state).running("VllmWorker"), 0);
    // More than there are GPUs: a clear error, before anything changes.
    let before = d.state.clone();
    let e = scale::scale(&mut d.state, "VllmWorker", 100).unwrap_err();
    assert!(
        matches!(
            e,
            RuleError::NotEnoughGpusFor {
                instances: 100,
                need: 100,
                free: 11,
                total: 16,
                ..
            }
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "VllmWorker: 100 more instances need 100 GPUs; only 11 of 16 are free"
    );
    assert_eq!(d.state, before);
    assert!(matches!(
        scale::scale(&mut d.state, "Nope", 1),
        Err(RuleError::UnknownType { .. })
    ));
    assert_ne!(d.render().unwrap(), original);
}

// ---------------------------------------------------------------- quoting and environment

/// A service config with every shell-dangerous character: the command must carry it
/// verbatim to `shlex.split` and to a real shell, with no command substitution.
#[test]
fn hostile_service_config_is_quoted_for_shlex_and_sh() {
    let dir = tempfile::tempdir().unwrap();
    let m1 = dir.path().join("m1");
    let m2 = dir.path().join("m2");
    let m3 = dir.path().join("m3");
    let cfg = json!({
        "Common": {
            "model": format!("it's $(touch {}) `touch {}` $HOME ${{X}} \"q\" \\ back; touch {} | & é 🚀", m1.display(), m2.display(), m3.display()),
            "quote": "'", "two": "''", "nl": "a\nb"
        }
    })
    .to_string();
    let mut d = doc("reference/serve-initial.json");
    d.state.environment.as_mut().unwrap().service_config = Some(cfg.clone());
    let c = scale::add(&mut d.state, "VllmWorker").unwrap();
    let (name, _) = added(&c);
    let cmd = d.state.components[&name].cmd.clone();

    let p = python_split(&cmd);
    assert_eq!(p["name"], name);
    assert_eq!(p["last"], name, "the name is the last argument");
    assert_eq!(
        p["env"],
        json!([{"CUDA_VISIBLE_DEVICES": "2", "DYNAMO_SERVICE_CONFIG": cfg}]),
        "exactly the two keys, values verbatim"
    );
    assert_eq!(
        p["env"][0].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["CUDA_VISIBLE_DEVICES", "DYNAMO_SERVICE_CONFIG"]
    );

    // The planner still splits on --worker-env and finds the template command.
    let base = &d.state.components["dynamo_VllmWorker"].cmd;
    assert_eq!(cmd.split("--worker-env").next().unwrap().trim(), base);

    // A real shell prints the quoted words verbatim and runs nothing.
    let tail = cmd.strip_prefix(base.as_str()).unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("printf '%s\\n'{tail}"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        printed,
        format!(
            "--worker-env\n{}\n--custom-component-name\n{name}\n",
            p["env_text"].as_str().unwrap()
        )
    );
    for m in [&m1, &m2, &m3] {
        assert!(!m.exists(), "the shell ran a command: {}", m.display());
    }
}

#[test]
fn shell_quote_escapes_single_quotes_posix_style() {
    assert_eq!(scale::shell_quote("a'b"), r"'a'\''b'");
    assert_eq!(scale::shell_quote(""), "''");
    assert_eq!(scale::shell_quote("$(x)"), "'$(x)'");
}

/// The CLI run with secrets in its environment writes none of them.
#[test]
fn callers_environment_never_lands_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dynamo.json");
    std::fs::copy(fixture_path("reference/serve-initial.json"), &path).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_dynamo-ctl"))
        .args(["add", "dynamo", "VllmWorker", "--state-only", "--state-dir"])
        .arg(dir.path())
        .env("HF_TOKEN", "sentinel-hf-token-4711")
        .env("CUDA_VISIBLE_DEVICES", "sentinel-cvd")
        .env("DYNAMO_SERVICE_CONFIG", "sentinel-cfg")
        .env("AWS_SECRET_ACCESS_KEY", "sentinel-aws")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(!written.contains("sentinel"), "{written}");
    assert!(!written.contains("HF_TOKEN"));
    let v: Value = serde_json::from_str(&written).unwrap();
    let cmd = v["components"]["dynamo_VllmWorker_1"]["cmd"]
        .as_str()
        .unwrap();
    let p = python_split(cmd);
    assert_eq!(
        p["env"][0].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["CUDA_VISIBLE_DEVICES", "DYNAMO_SERVICE_CONFIG"]
    );
    assert_eq!(p["env"][0]["CUDA_VISIBLE_DEVICES"], "2");
}
