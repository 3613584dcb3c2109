//! A writer killed with SIGKILL at random moments never leaves a file that fails to parse,
//! nor a file other than the one before or the one after its change.

mod cli_support;
use cli_support::*;
use dynamo_ctl::state::{Document, scale};
use std::time::{Duration, Instant};

/// What a completed `op` would write, from the current text.
fn expected_after(text: &str, op: &str) -> Option<String> {
    let mut doc = Document::parse(text).unwrap();
    let ok = match op {
        "add" => scale::add(&mut doc.state, "VllmWorker").is_ok(),
        _ => scale::remove(&mut doc.state, "VllmWorker").is_ok(),
    };
    ok.then(|| doc.render().unwrap())
}

#[test]
fn sigkill_at_random_moments_never_corrupts() {
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("crash.json");
    std::fs::write(&path, big_gpu_state("crash", 64)).unwrap();
    // Calibrate: how long does one uninterrupted call take?
    let t = Instant::now();
    for op in ["add", "remove"] {
        assert_eq!(run_in(d.path(), &[op, "crash", "VllmWorker"]).code, 0);
    }
    let per_call = (t.elapsed() / 2).max(Duration::from_millis(1));
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let (mut killed, mut finished) = (0, 0);
    for i in 0..200 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let before = std::fs::read_to_string(&path).unwrap();
        let n = scale::summarize(&Document::parse(&before).unwrap().state).running("VllmWorker");
        let op = if n < 8 && (!seed.is_multiple_of(3) || n == 0) {
            "add"
        } else {
            "remove"
        };
        let after = expected_after(&before, op);
        let mut child = std::process::Command::new(BIN)
            .args([
                "--state-dir",
                d.path().to_str().unwrap(),
                "--state-only",
                op,
                "crash",
                "VllmWorker",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Anywhere from the very start to a little past a whole call.
        let delay = per_call.mul_f64((seed % 1000) as f64 / 800.0);
        std::thread::sleep(delay);
        let _ = child.kill(); // SIGKILL
        let status = child.wait().unwrap();
        if status.code().is_some() {
            finished += 1;
        } else {
            killed += 1;
        }
        let now = std::fs::read_to_string(&path).unwrap();
        Document::parse(&now).unwrap_or_else(|e| panic!("iteration {i}: unparseable: {e:?}"));
        assert!(
            now == before || Some(&now) == after.as_ref(),
            "iteration {i}: the file is neither the one before nor the one after {op}"
        );
    }
    assert!(
        killed > 20,
        "only {killed} of 200 runs were killed mid-way; finished {finished}"
    );
    // The next writer cleans the temp files the killed ones left.
    assert_eq!(run_in(d.path(), &["add", "crash", "VllmWorker"]).code, 0);
    let stray = std::fs::read_dir(d.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .count();
    assert_eq!(stray, 0);
}
