//! 8 processes doing 40 mixed add/remove CLI calls each on one namespace: the final
//! document is valid JSON and the instance count equals the arithmetic.

mod cli_support;
use cli_support::*;

#[test]
fn eight_writers_lose_no_update() {
    let d = tempfile::tempdir().unwrap();
    // Enough GPUs that no add can fail for lack of them.
    std::fs::write(d.path().join("race.json"), big_gpu_state("race", 400)).unwrap();
    let start = running(d.path(), "race", "VllmWorker");
    let dir = d.path().to_path_buf();
    let workers: Vec<_> = (0..8u64)
        .map(|w| {
            let dir = dir.clone();
            std::thread::spawn(move || {
                let mut seed =
                    0x9e37_79b9_7f4a_7c15u64 ^ (w + 1).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                let (mut added, mut removed) = (0i64, 0i64);
                for _ in 0..40 {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let op = if seed % 5 < 3 { "add" } else { "remove" };
                    let r = run_in(&dir, &["--lock-timeout", "60", op, "race", "VllmWorker"]);
                    match (op, r.code) {
                        ("add", 0) => added += 1,
                        ("remove", 0) => removed += 1,
                        ("remove", 1) if r.stderr.contains("no running instance") => {}
                        _ => panic!("{op} failed: {}", r.stderr),
                    }
                }
                (added, removed)
            })
        })
        .collect();
    let (mut added, mut removed) = (0i64, 0i64);
    for w in workers {
        let (a, r) = w.join().unwrap();
        added += a;
        removed += r;
    }
    assert!(added > 0 && removed > 0);
    let v = json(d.path(), "race"); // valid JSON
    let end = running(d.path(), "race", "VllmWorker") as i64;
    assert_eq!(
        end,
        start as i64 + added - removed,
        "added {added}, removed {removed}"
    );
    // No GPU handed out twice.
    let mut gpus: Vec<String> = v["components"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|c| {
            c["resources"]["allocated_gpus"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|g| g.to_string().trim_matches('"').to_string())
        .collect();
    let n = gpus.len();
    gpus.sort();
    gpus.dedup();
    assert_eq!(gpus.len(), n);
    // No temp files left behind.
    let stray: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(stray.is_empty(), "{stray:?}");
}
