//! Benchmarks of the state library and the CLI.
//!
//! cargo bench --bench state -- --warm-up-time 1 --measurement-time 3
//!
//! - `rules/*`: add then remove on the reference `serve-initial.json` (parse + add + remove +
//!   render, and the pure add + remove on a parsed `State`).
//! - `store/*`: load, change (one add or remove) and atomically save a 10,000-component state
//!   file under the lock (target: under 50 ms).
//! - `cli/*`: the whole `dynamo-ctl add` / `remove` process, alternating (target: under 5 ms
//!   median per call).
//! - `scale/*`: `scale` to 16,000 instances of a type and back to one on a parsed state
//!   (linear: about 80 ms both ways here; the quadratic version took 37 s for the way up).

use std::hint::black_box;
use std::path::Path;
use std::process::Command;

use criterion::{Criterion, criterion_group, criterion_main};
use dynamo_ctl::state::json::{JsonStyle, to_python_string};
use dynamo_ctl::state::{Document, Store, scale};
use serde_json::{Map, Value, json};

fn serve_initial() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/reference/serve-initial.json"),
    )
    .unwrap()
}

fn rules(c: &mut Criterion) {
    let text = serve_initial();
    let mut g = c.benchmark_group("rules");
    g.bench_function("parse_add_remove_render", |b| {
        b.iter(|| {
            let mut d = Document::parse(black_box(&text)).unwrap();
            scale::add(&mut d.state, "VllmWorker").unwrap();
            scale::remove(&mut d.state, "VllmWorker").unwrap();
            black_box(d.render().unwrap())
        })
    });
    let mut d = Document::parse(&text).unwrap();
    g.bench_function("add_remove_on_state", |b| {
        b.iter(|| {
            // add then remove leaves the state as it was, so every iteration is the same.
            black_box(scale::add(&mut d.state, "VllmWorker").unwrap());
            black_box(scale::remove(&mut d.state, "VllmWorker").unwrap())
        })
    });
    assert_eq!(d.render().unwrap(), text);
    g.finish();
}

/// A planner-style (indent=2) state file with `n` components: 3 singletons, a VllmWorker
/// base and numbered VllmWorkers each holding one GPU, on a host with 1,000 spare GPUs.
fn big_state(n: usize) -> String {
    let cfg = r#"{"Common": {"model": "deepseek-ai/DeepSeek-R1-Distill-Llama-8B", "block-size": 64}, "VllmWorker": {"ServiceArgs": {"workers": 1, "resources": {"gpu": 1}}}}"#;
    let base = "/opt/dynamo/venv/bin/python3 -m dynamo.sdk.cli.serve_dynamo graphs.disagg:Frontend --service-name VllmWorker --worker-id $(CIRCUS.WID) --target big";
    let mut comps = Map::new();
    for t in ["Frontend", "Processor", "Planner"] {
        let name = format!("big_{t}");
        comps.insert(
            name.clone(),
            json!({"watcher_name": name, "cmd": format!("/opt/dynamo/venv/bin/python3 -m dynamo.sdk.cli.serve_dynamo graphs.disagg:Frontend --service-name {t} --worker-id $(CIRCUS.WID)"), "resources": {}}),
        );
    }
    comps.insert(
        "big_VllmWorker".into(),
        json!({"watcher_name": "big_VllmWorker", "cmd": base, "resources": {"allocated_gpus": [0]}}),
    );
    for i in 1..=(n - 4) {
        let name = format!("big_VllmWorker_{i}");
        let env = json!([{"CUDA_VISIBLE_DEVICES": i.to_string(), "DYNAMO_SERVICE_CONFIG": cfg}]);
        let cmd = format!(
            "{base} --worker-env '{}' --custom-component-name '{name}'",
            to_python_string(
                &env,
                JsonStyle {
                    indent: None,
                    trailing_newline: false
                }
            )
        );
        comps.insert(
            name.clone(),
            json!({"watcher_name": name, "cmd": cmd, "resources": {"allocated_gpus": [i.to_string()]}, "lease": 7587899101031805711u64 + i as u64}),
        );
    }
    let gpus: Vec<Value> = (0..n + 1000)
        .map(|i| Value::String(i.to_string()))
        .collect();
    let v = json!({
        "namespace": "big",
        "circus_endpoint": "tcp://127.0.0.1:48615",
        "components": comps,
        "environment": {"DYNAMO_SERVICE_CONFIG": cfg, "SYSTEM_RESOURCES": {"total_gpus": gpus.len(), "gpu_info": gpus}}
    });
    to_python_string(&v, JsonStyle::PLANNER)
}

fn store(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let text = big_state(10_000);
    let file = dir.path().join("big.json");
    std::fs::write(&file, &text).unwrap();
    let st = Store::new(dir.path());
    assert_eq!(st.load("big").unwrap().state.components.len(), 10_000);
    let mut g = c.benchmark_group("store_10k_components");
    g.sample_size(20);
    g.bench_function("load", |b| b.iter(|| black_box(st.load("big").unwrap())));
    let mut add = true;
    g.bench_function("transact_add_or_remove_and_save", |b| {
        b.iter(|| {
            // Alternate so the file stays at 10,000 / 10,001 components.
            let r = if add {
                st.transact("big", false, |s| scale::add(s, "VllmWorker"))
            } else {
                st.transact("big", false, |s| scale::remove(s, "VllmWorker"))
            };
            add = !add;
            black_box(r.unwrap())
        })
    });
    g.finish();
    if !add {
        st.transact("big", false, |s| scale::remove(s, "VllmWorker"))
            .unwrap();
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
}

fn cli(c: &mut Criterion) {
    let bin = env!("CARGO_BIN_EXE_dynamo-ctl");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("dynamo.json"), serve_initial()).unwrap();
    let mut g = c.benchmark_group("cli");
    g.sample_size(50);
    let mut add = true;
    g.bench_function("add_or_remove_process", |b| {
        b.iter(|| {
            let op = if add { "add" } else { "remove" };
            add = !add;
            let out = Command::new(bin)
                .args([op, "dynamo", "VllmWorker", "--state-only", "--state-dir"])
                .arg(dir.path())
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{op}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        })
    });
    g.finish();
}

fn scale_many(c: &mut Criterion) {
    let text = serve_initial();
    let mut g = c.benchmark_group("scale");
    g.sample_size(10);
    g.bench_function("to_16000_and_back", |b| {
        b.iter(|| {
            let mut d = Document::parse(&text).unwrap();
            let up = scale::scale(&mut d.state, "Frontend", 16_000).unwrap();
            let down = scale::scale(&mut d.state, "Frontend", 1).unwrap();
            black_box((up.len(), down.len()))
        })
    });
    g.finish();
}

criterion_group!(benches, rules, store, cli, scale_many);
criterion_main!(benches);
