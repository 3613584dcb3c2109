//! The scripting CLI through the real binary: output, exit codes, and what lands on disk.

mod cli_support;
use cli_support::*;

const DEMO: &[&str] = &[
    "demo/dynamo.json",
    "demo/agg.json",
    "demo/full.json",
    "demo/broken.json",
];

#[test]
fn list_shows_every_namespace_and_marks_the_broken_one() {
    let d = state_dir(DEMO);
    let r = run_in(d.path(), &["list"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].starts_with("NAMESPACE"), "{}", r.stdout);
    assert_eq!(lines.len(), 5, "{}", r.stdout);
    let broken = lines.iter().find(|l| l.starts_with("broken")).unwrap();
    assert!(
        broken.contains("error:") && broken.contains("malformed"),
        "{broken}"
    );
    let dynamo = lines.iter().find(|l| l.starts_with("dynamo")).unwrap();
    assert!(dynamo.contains("VllmWorker 2") && dynamo.contains("PrefillWorker 2"));
    assert!(dynamo.contains("4/8") && dynamo.contains(" ok"));
    // No colour codes when stdout is not a terminal.
    assert!(!r.stdout.contains('\x1b'));
}

#[test]
fn list_json_is_stable() {
    let d = state_dir(DEMO);
    let r = run_in(d.path(), &["list", "--output", "json"]);
    assert_eq!(r.code, 0);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let ns = v["namespaces"].as_array().unwrap();
    let names: Vec<&str> = ns.iter().map(|n| n["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["agg", "broken", "dynamo", "full"]);
    assert_eq!(ns[1]["status"], "error");
    assert!(ns[1]["error"].as_str().unwrap().contains("malformed"));
    assert_eq!(ns[2]["status"], "ok");
    assert_eq!(ns[2]["running"]["VllmWorker"], 2);
    assert_eq!(ns[2]["gpus"], serde_json::json!({"total": 8, "used": 4}));
    assert!(ns[2]["modified"].as_str().unwrap().ends_with('Z'));
    assert_eq!(v["state_dir"].as_str().unwrap(), d.path().to_str().unwrap());
}

#[test]
fn list_of_an_empty_dir_says_where_it_looked() {
    let d = tempfile::tempdir().unwrap();
    let r = run_in(d.path(), &["list"]);
    assert_eq!(r.code, 0);
    assert_eq!(r.stdout, "");
    assert!(r.stderr.contains("no namespaces in") && r.stderr.contains("--demo"));
}

#[test]
fn show_groups_by_type_with_gpus() {
    let d = state_dir(&["reference/after-planner-add.json"]);
    std::fs::rename(
        d.path().join("after-planner-add.json"),
        d.path().join("dynamo.json"),
    )
    .unwrap();
    let r = run_in(d.path(), &["show", "dynamo"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("circus     tcp://127.0.0.1:48615"));
    let vllm = r
        .stdout
        .lines()
        .find(|l| l.starts_with("VllmWorker"))
        .unwrap();
    assert!(vllm.contains("0, 2"), "{vllm}");
    // One row per watcher; with --state-only the arbiter is not asked, so no process state.
    for w in ["dynamo_VllmWorker ", "dynamo_VllmWorker_1 "] {
        let row = r.stdout.lines().find(|l| l.starts_with(w)).unwrap();
        assert!(row.trim_end().ends_with("? (circus not heard)"), "{row}");
    }
    assert!(r.stdout.contains("GPUs: 3/8 used; free: 3, 4, 5, 6, 7"));

    let r = run_in(d.path(), &["show", "dynamo", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["free_gpus"], serde_json::json!(["3", "4", "5", "6", "7"]));
    assert_eq!(v["gpu_map"][2]["holder"], "dynamo_VllmWorker_1");
    let t = v["types"].as_array().unwrap();
    assert_eq!(t[2]["type"], "VllmWorker");
    assert_eq!(t[2]["running"], 2);
}

#[test]
fn add_then_remove_round_trips_the_file() {
    let d = state_dir(&["demo/dynamo.json"]);
    let before = read(d.path(), "dynamo");
    let r = run_in(d.path(), &["add", "dynamo", "VllmWorker"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "added dynamo_VllmWorker_2 on GPU 4\n");
    let v = json(d.path(), "dynamo");
    let c = &v["components"]["dynamo_VllmWorker_2"];
    assert_eq!(c["watcher_name"], "dynamo_VllmWorker_2");
    assert_eq!(c["resources"]["allocated_gpus"], serde_json::json!(["4"]));
    let r = run_in(d.path(), &["remove", "dynamo", "VllmWorker"]);
    assert_eq!(r.code, 0);
    assert_eq!(r.stdout, "removed dynamo_VllmWorker_2, freed GPU 4\n");
    assert_eq!(read(d.path(), "dynamo"), before);
}

#[test]
fn dry_run_writes_nothing() {
    let d = state_dir(&["demo/dynamo.json"]);
    let before = read(d.path(), "dynamo");
    for args in [
        &["add", "dynamo", "PrefillWorker", "--dry-run"][..],
        &["remove", "dynamo", "PrefillWorker", "--dry-run"],
        &[
            "scale",
            "dynamo",
            "PrefillWorker",
            "--replicas",
            "5",
            "--dry-run",
        ],
    ] {
        let r = run_in(d.path(), args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        assert!(r.stdout.starts_with("dry run: "), "{}", r.stdout);
        assert!(r.stderr.contains("left unchanged"));
        assert_eq!(read(d.path(), "dynamo"), before);
    }
}

#[test]
fn scale_reaches_the_count_in_one_transaction() {
    let d = state_dir(&["demo/dynamo.json"]);
    let r = run_in(
        d.path(),
        &[
            "scale",
            "dynamo",
            "PrefillWorker",
            "--replicas",
            "4",
            "-o",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["changes"].as_array().unwrap().len(), 2);
    assert_eq!(v["changes"][0]["op"], "added");
    assert_eq!(v["running"]["PrefillWorker"], 4);
    assert_eq!(running(d.path(), "dynamo", "PrefillWorker"), 4);

    let r = run_in(
        d.path(),
        &["scale", "dynamo", "PrefillWorker", "--replicas", "0"],
    );
    assert_eq!(r.code, 0);
    assert_eq!(r.stdout.lines().count(), 4);
    assert!(r.stdout.contains("removed dynamo_PrefillWorker (parked as template), freed GPU 1; no PrefillWorker is running now"));
    assert_eq!(running(d.path(), "dynamo", "PrefillWorker"), 0);
    let v = json(d.path(), "dynamo");
    assert_eq!(
        v["components"]["dynamo_PrefillWorker"]["lease"],
        serde_json::Value::Null
    );
    assert_eq!(
        v["components"]["dynamo_PrefillWorker"]["resources"],
        serde_json::json!({})
    );

    let r = run_in(
        d.path(),
        &["scale", "dynamo", "PrefillWorker", "--replicas", "0"],
    );
    assert_eq!(r.stdout, "no change: already at the requested count\n");

    // Too many for the free GPUs: nothing is written at all.
    let before = read(d.path(), "dynamo");
    let r = run_in(
        d.path(),
        &["scale", "dynamo", "PrefillWorker", "--replicas", "9"],
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("PrefillWorker: 9 more instances need 9 GPUs; only 6 of 8 are free"),
        "{}",
        r.stderr
    );
    assert_eq!(read(d.path(), "dynamo"), before);
}

#[test]
fn older_layout_and_multi_gpu_template() {
    let d = state_dir(&["demo/agg.json"]);
    let r = run_in(d.path(), &["add", "agg", "VllmWorker"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "added agg_VllmWorker_2 on GPUs 4, 5\n");
    let v = json(d.path(), "agg");
    let c = &v["components"]["agg_VllmWorker_2"];
    assert_eq!(c["resources"]["allocated_gpus"], serde_json::json!([4, 5]));
    assert!(
        c["cmd"]
            .as_str()
            .unwrap()
            .contains("--worker-env '{\"CUDA_VISIBLE_DEVICES\": \"4,5\"")
    );
    // The last entry of a type without a base entry is parked, not deleted.
    let r = run_in(d.path(), &["scale", "agg", "VllmWorker", "--replicas", "0"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = json(d.path(), "agg");
    assert!(v["components"]["agg_VllmWorker_0"]["lease"].is_null());
    assert!(v["components"].get("agg_VllmWorker_1").is_none());
    let r = run_in(d.path(), &["add", "agg", "VllmWorker"]);
    assert_eq!(
        r.stdout, "added agg_VllmWorker_1 on GPUs 0, 1\n",
        "{}",
        r.stderr
    );
}

#[test]
fn the_callers_environment_never_lands_in_the_file() {
    let d = state_dir(&["demo/dynamo.json"]);
    let out = std::process::Command::new(BIN)
        .args([
            "--state-dir",
            d.path().to_str().unwrap(),
            "--state-only",
            "add",
            "dynamo",
            "VllmWorker",
        ])
        .env("HF_TOKEN", "hf_sentinel_secret")
        .env("AWS_SECRET_ACCESS_KEY", "aws_sentinel_secret")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(read(d.path(), "dynamo")).unwrap();
    assert!(!text.contains("sentinel_secret"));
    assert!(!text.contains(&std::env::var("PATH").unwrap()));
}

#[test]
fn demo_flag_uses_a_fresh_copy() {
    let r = to_run(
        std::process::Command::new(BIN)
            .args(["--demo", "--keep", "add", "dynamo", "PrefillWorker"])
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let line = r
        .stderr
        .lines()
        .find(|l| l.contains("demo state directory: "))
        .unwrap();
    assert!(line.ends_with(" (kept after exit: --keep)"), "{line}");
    let dir = std::path::PathBuf::from(
        line.split("demo state directory: ")
            .nth(1)
            .unwrap()
            .trim_end_matches(" (kept after exit: --keep)"),
    );
    assert!(dir.join("broken.json").exists());
    assert_eq!(running(&dir, "dynamo", "PrefillWorker"), 3);
    // A second --demo run starts from the bundled files again.
    let r2 = to_run(
        std::process::Command::new(BIN)
            .args(["--demo", "show", "dynamo", "-o", "json"])
            .output()
            .unwrap(),
    );
    let v: serde_json::Value = serde_json::from_str(&r2.stdout).unwrap();
    assert_eq!(v["types"][4]["running"], 2);
    std::fs::remove_dir_all(&dir).unwrap();
    // Without --keep the directory is gone after exit.
    let line = r2
        .stderr
        .lines()
        .find(|l| l.contains("demo state directory: "))
        .unwrap();
    assert!(
        line.ends_with("(removed on exit; --keep keeps it)"),
        "{line}"
    );
    let dir2 = line
        .split("demo state directory: ")
        .nth(1)
        .unwrap()
        .trim_end_matches(" (removed on exit; --keep keeps it)");
    assert!(!std::path::Path::new(dir2).exists(), "{dir2}");
}

#[test]
fn state_dir_from_the_environment() {
    let d = state_dir(&["demo/full.json"]);
    let r = to_run(
        std::process::Command::new(BIN)
            .args(["list", "-o", "json"])
            .env("DYN_LOCAL_STATE_DIR", d.path())
            .output()
            .unwrap(),
    );
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["namespaces"][0]["name"], "full");
}

#[test]
fn help_exists_for_every_command() {
    for sub in ["list", "show", "add", "remove", "scale"] {
        let r = to_run(
            std::process::Command::new(BIN)
                .args([sub, "--help"])
                .output()
                .unwrap(),
        );
        assert_eq!(r.code, 0);
        assert!(
            r.stdout.contains("Usage: dynamo-ctl"),
            "{sub}: {}",
            r.stdout
        );
    }
}

#[test]
fn default_state_dir_is_under_home() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join(".dynamo").join("state");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(fixture("demo/full.json"), dir.join("full.json")).unwrap();
    let r = to_run(
        std::process::Command::new(BIN)
            .args(["list", "-o", "json"])
            .env("HOME", home.path())
            .env_remove("DYN_LOCAL_STATE_DIR")
            .output()
            .unwrap(),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["state_dir"].as_str().unwrap(), dir.to_str().unwrap());
    assert_eq!(v["namespaces"][0]["name"], "full");
}

/// `dynamo-ctl list` on a real terminal (a pty from util-linux `script`).
fn list_on_a_terminal(dir: &std::path::Path, no_color: bool) -> String {
    let mut cmd = std::process::Command::new("script");
    cmd.args(["-qec"])
        .arg(format!("{BIN} --state-dir {} list", dir.display()))
        .arg("/dev/null")
        .env_remove("NO_COLOR");
    if no_color {
        cmd.env("NO_COLOR", "1");
    }
    let out = cmd
        .output()
        .expect("`script` (util-linux, Debian bsdutils) is needed for this test");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn tables_are_coloured_on_a_terminal_unless_no_color() {
    let d = state_dir(&["demo/dynamo.json", "demo/broken.json"]);
    let coloured = list_on_a_terminal(d.path(), false);
    assert!(coloured.contains("\x1b[31merror:"), "{coloured:?}");
    assert!(coloured.contains("\x1b[1mNAMESPACE"), "{coloured:?}");
    let plain = list_on_a_terminal(d.path(), true);
    assert!(
        plain.contains("NAMESPACE") && plain.contains("error:"),
        "{plain:?}"
    );
    assert!(!plain.contains('\x1b'), "{plain:?}");
}

#[test]
fn a_type_in_the_wrong_case_says_did_you_mean() {
    let d = state_dir(&["demo/dynamo.json"]);
    let before = read(d.path(), "dynamo");
    for (ty, meant) in [
        ("vllmworker", "VllmWorker"),
        ("PREFILLWORKER", "PrefillWorker"),
        ("prefill", "PrefillWorker"),
    ] {
        let r = run_in(d.path(), &["add", "dynamo", ty]);
        assert_eq!(r.code, 1, "{}", r.stderr);
        assert!(
            r.stderr.contains(&format!("did you mean {meant}?")),
            "{}",
            r.stderr
        );
    }
    // Ambiguous or unrelated: no guess.
    let r = run_in(d.path(), &["add", "dynamo", "P"]);
    assert!(!r.stderr.contains("did you mean"), "{}", r.stderr);
    assert_eq!(read(d.path(), "dynamo"), before);
}

#[test]
fn with_output_json_errors_are_json_on_stdout_too() {
    let d = state_dir(&["demo/dynamo.json"]);
    for (args, code, needle) in [
        (&["show", "ghost", "-o", "json"][..], 1, "not found"),
        (
            &["add", "dynamo", "Nope", "-o", "json"],
            1,
            "no component of type",
        ),
        (
            &["add", "../x", "VllmWorker", "-o", "json"],
            2,
            "invalid namespace",
        ),
        (
            &["add", "dynamo", "Frontend", "-o", "json"],
            2,
            "not a worker type",
        ),
    ] {
        let r = run_in(d.path(), args);
        assert_eq!(r.code, code, "{args:?}: {}", r.stderr);
        let v: serde_json::Value = serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {:?}", r.stdout));
        assert_eq!(v["code"], code);
        assert!(v["error"].as_str().unwrap().contains(needle), "{v}");
        assert!(r.stderr.contains(needle), "{}", r.stderr);
    }
    // Tables stay quiet on stdout.
    let r = run_in(d.path(), &["show", "ghost"]);
    assert_eq!(r.stdout, "");
}

#[test]
fn dash_n_names_the_namespace_for_subcommands_too() {
    let d = state_dir(&["demo/dynamo.json"]);
    for args in [
        &["-n", "dynamo", "show"][..],
        &["show", "-n", "dynamo"],
        &["show", "dynamo"],
    ] {
        let r = run_in(d.path(), args);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        assert!(
            r.stdout.starts_with("namespace  dynamo"),
            "{args:?}: {}",
            r.stdout
        );
    }
    let r = run_in(d.path(), &["-n", "dynamo", "add", "VllmWorker"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "added dynamo_VllmWorker_2 on GPU 4\n");
    let r = run_in(d.path(), &["remove", "-n", "dynamo", "VllmWorker"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run_in(
        d.path(),
        &["-n", "dynamo", "scale", "VllmWorker", "--replicas", "2"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Two different namespaces, or none: usage errors.
    for cmd in ["show", "instances", "top"] {
        let r = run_in(d.path(), &["--no-discovery", "-n", "other", cmd, "dynamo"]);
        assert_eq!(r.code, 2, "{cmd}: {}", r.stderr);
        assert!(
            r.stderr.contains("two namespaces given"),
            "{cmd}: {}",
            r.stderr
        );
    }
    let r = run_in(d.path(), &["show"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let r = run_in(d.path(), &["add", "VllmWorker"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("which type in namespace VllmWorker?"),
        "{}",
        r.stderr
    );
}
