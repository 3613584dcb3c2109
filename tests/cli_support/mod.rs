//! Shared helpers for the CLI tests: a temp state dir and running the real binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const BIN: &str = env!("CARGO_BIN_EXE_dynamo-ctl");

pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

/// A temp dir holding copies of the given fixtures (relative to fixtures/).
pub fn state_dir(files: &[&str]) -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for f in files {
        let src = fixture(f);
        std::fs::copy(&src, d.path().join(src.file_name().unwrap())).unwrap();
    }
    d
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the CLI on `dir` with `--state-only`: these tests are about the state file, and
/// their fixtures name arbiters that do not run (tests/arbiter.rs runs a real one).
pub fn run_in(dir: &Path, args: &[&str]) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.arg("--state-dir")
        .arg(dir)
        .arg("--state-only")
        .args(args)
        .env_remove("NO_COLOR");
    to_run(cmd.output().unwrap())
}

pub fn to_run(o: Output) -> Run {
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

pub fn read(dir: &Path, ns: &str) -> Vec<u8> {
    std::fs::read(dir.join(format!("{ns}.json"))).unwrap()
}

pub fn json(dir: &Path, ns: &str) -> serde_json::Value {
    serde_json::from_slice(&read(dir, ns)).unwrap()
}

/// Running instances of a type: entries `<ns>_<ty>` / `<ns>_<ty>_<N>` that are not parked.
pub fn running(dir: &Path, ns: &str, ty: &str) -> usize {
    let v = json(dir, ns);
    v["components"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(k, c)| {
            let rest = k.strip_prefix(&format!("{ns}_{ty}")).unwrap_or("x");
            let ours = rest.is_empty()
                || (rest.starts_with('_') && rest[1..].bytes().all(|b| b.is_ascii_digit()));
            let parked = c.get("lease").is_some_and(|l| l.is_null())
                && c["resources"]
                    .get("allocated_gpus")
                    .and_then(|g| g.as_array())
                    .is_none_or(|g| g.is_empty());
            ours && !parked
        })
        .count()
}

/// A state file with `gpus` GPUs and one running VllmWorker base on GPU 0.
pub fn big_gpu_state(ns: &str, gpus: usize) -> String {
    let ids: Vec<String> = (0..gpus).map(|i| format!("\"{i}\"")).collect();
    format!(
        r#"{{"namespace": "{ns}", "circus_endpoint": "tcp://127.0.0.1:1", "components": {{"{ns}_Frontend": {{"watcher_name": "{ns}_Frontend", "cmd": "python3 -m frontend", "resources": {{}}}}, "{ns}_VllmWorker": {{"watcher_name": "{ns}_VllmWorker", "cmd": "python3 -m worker --service-name VllmWorker", "resources": {{"allocated_gpus": [0]}}}}}}, "environment": {{"DYNAMO_SERVICE_CONFIG": "{{}}", "SYSTEM_RESOURCES": {{"total_gpus": {gpus}, "gpu_info": [{}]}}}}}}"#,
        ids.join(", ")
    )
}
