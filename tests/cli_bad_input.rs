//! Every kind of bad input through the CLI: a clear message on stderr, the right exit code,
//! and the file's bytes untouched.

mod cli_support;
use cli_support::*;
use std::path::Path;

fn write(dir: &Path, ns: &str, text: &[u8]) {
    std::fs::write(dir.join(format!("{ns}.json")), text).unwrap();
}

/// Runs `args` and checks exit code, a message fragment, and that `ns`'s bytes are unchanged.
fn refused(dir: &Path, ns: &str, args: &[&str], code: i32, msg: &str) {
    let path = dir.join(format!("{ns}.json"));
    let before = std::fs::read(&path).ok();
    let r = run_in(dir, args);
    assert_eq!(
        r.code, code,
        "{args:?}: stdout={} stderr={}",
        r.stdout, r.stderr
    );
    assert!(
        r.stderr.contains(msg),
        "{args:?}: expected {msg:?} in {:?}",
        r.stderr
    );
    assert!(
        r.stderr.starts_with("dynamo-ctl: ") || r.stderr.starts_with("error: "),
        "{}",
        r.stderr
    );
    assert_eq!(r.stdout, "", "{args:?}");
    assert_eq!(
        std::fs::read(&path).ok(),
        before,
        "{args:?} changed the file"
    );
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
}

#[test]
fn malformed_json() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "bad",
        b"{\"namespace\": \"bad\", \"components\": {",
    );
    refused(
        d.path(),
        "bad",
        &["add", "bad", "VllmWorker"],
        1,
        "malformed state file: EOF while parsing",
    );
    refused(
        d.path(),
        "bad",
        &["show", "bad"],
        1,
        "the file is left untouched",
    );
    write(d.path(), "arr", b"[1, 2]");
    refused(
        d.path(),
        "arr",
        &["remove", "arr", "VllmWorker"],
        1,
        "the top level is not a JSON object",
    );
    write(d.path(), "bin", b"\xff\xfe{}");
    refused(
        d.path(),
        "bin",
        &["add", "bin", "VllmWorker"],
        1,
        "not UTF-8",
    );
}

#[test]
fn missing_fields() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "nocomp",
        br#"{"namespace": "nocomp", "environment": {}}"#,
    );
    refused(
        d.path(),
        "nocomp",
        &["add", "nocomp", "VllmWorker"],
        1,
        "missing field `components`",
    );
    write(
        d.path(),
        "nocmd",
        br#"{"namespace": "nocmd", "components": {"nocmd_VllmWorker": {"watcher_name": "nocmd_VllmWorker"}}}"#,
    );
    refused(
        d.path(),
        "nocmd",
        &["add", "nocmd", "VllmWorker"],
        1,
        "missing field `cmd`",
    );
    write(
        d.path(),
        "wrongtype",
        br#"{"namespace": 5, "components": {}}"#,
    );
    refused(
        d.path(),
        "wrongtype",
        &["show", "wrongtype"],
        1,
        "invalid type",
    );
}

#[test]
fn nan_is_never_overwritten() {
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "nan",
        br#"{"namespace": "nan", "components": {}, "environment": {"x": NaN}}"#,
    );
    refused(
        d.path(),
        "nan",
        &["add", "nan", "VllmWorker"],
        1,
        "contains NaN or Infinity",
    );
    let r = run_in(d.path(), &["list"]);
    assert!(r.stdout.contains("NaN or Infinity"), "{}", r.stdout);
}

#[test]
fn unreadable_file() {
    let d = tempfile::tempdir().unwrap();
    // A directory where the file should be: unreadable as a file even for root.
    std::fs::create_dir(d.path().join("dirns.json")).unwrap();
    let r = run_in(d.path(), &["add", "dirns", "VllmWorker"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("dirns.json: is a directory, not a regular file"),
        "{}",
        r.stderr
    );
    assert!(d.path().join("dirns.json").is_dir());
}

#[test]
fn hostile_namespace_names() {
    let outer = tempfile::tempdir().unwrap();
    let d = outer.path().join("state");
    std::fs::create_dir(&d).unwrap();
    let victim = outer.path().join("victim.json");
    std::fs::copy(fixture("demo/dynamo.json"), &victim).unwrap();
    let before = std::fs::read(&victim).unwrap();
    for (ns, why) in [
        ("../victim", "path separator"),
        ("a/b", "path separator"),
        (".hidden", "starts with '.'"),
        ("..", "starts with '.'"),
        ("", "it is empty"),
    ] {
        let r = run_in(&d, &["add", ns, "VllmWorker"]);
        assert_eq!(r.code, 2, "{ns:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("invalid namespace name") && r.stderr.contains(why),
            "{ns:?}: {}",
            r.stderr
        );
        let r = run_in(&d, &["show", ns]);
        assert_eq!(r.code, 2);
    }
    assert_eq!(std::fs::read(&victim).unwrap(), before);
    assert!(!outer.path().join("victim.lock").exists());
    assert_eq!(
        std::fs::read_dir(&d).unwrap().count(),
        0,
        "nothing created in the state dir"
    );
}

#[test]
fn hostile_type_names() {
    let d = state_dir(&["demo/dynamo.json"]);
    refused(
        d.path(),
        "dynamo",
        &["add", "dynamo", "Vllm'Worker"],
        2,
        "invalid component type",
    );
    refused(
        d.path(),
        "dynamo",
        &["add", "dynamo", "../x"],
        2,
        "invalid component type",
    );
    refused(
        d.path(),
        "dynamo",
        &["add", "dynamo", "Nope"],
        1,
        "no component of type \"Nope\"",
    );
}

#[test]
fn rule_errors() {
    let d = state_dir(&["demo/full.json", "demo/dynamo.json"]);
    refused(
        d.path(),
        "full",
        &["add", "full", "VllmWorker"],
        1,
        "VllmWorker needs 1 GPU(s) but only 0 of 4 are free",
    );
    run_in(
        d.path(),
        &["scale", "dynamo", "PrefillWorker", "--replicas", "0"],
    );
    refused(
        d.path(),
        "dynamo",
        &["remove", "dynamo", "PrefillWorker"],
        1,
        "no running instance of PrefillWorker to remove",
    );
    let d2 = tempfile::tempdir().unwrap();
    write(
        d2.path(),
        "nogpu",
        br#"{"namespace": "nogpu", "components": {"nogpu_VllmWorker": {"watcher_name": "nogpu_VllmWorker", "cmd": "w", "resources": {}}}}"#,
    );
    refused(
        d2.path(),
        "nogpu",
        &["add", "nogpu", "VllmWorker"],
        1,
        "gpu_info is missing",
    );
}

#[test]
fn missing_namespace_and_directory() {
    let d = state_dir(&["demo/dynamo.json"]);
    refused(
        d.path(),
        "ghost",
        &["add", "ghost", "VllmWorker"],
        1,
        "namespace \"ghost\" not found",
    );
    assert!(!d.path().join("ghost.json").exists());
    assert!(!d.path().join("ghost.lock").exists());
    let gone = d.path().join("vanished");
    let r = run_in(&gone, &["list"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("does not exist"), "{}", r.stderr);
    let r = run_in(&gone, &["add", "dynamo", "VllmWorker"]);
    assert_eq!(r.code, 1);
    assert!(
        !gone.exists(),
        "a vanished state directory must not be recreated"
    );
}

#[test]
fn usage_errors_exit_2() {
    let d = state_dir(&["demo/dynamo.json"]);
    for args in [
        &["scale", "dynamo", "VllmWorker"][..],
        &["scale", "dynamo", "VllmWorker", "--replicas", "-1"],
        &["add", "dynamo"],
        &["--lock-timeout", "soon", "list"],
        &["--output", "yaml", "list"],
        &["frobnicate"],
    ] {
        let r = run_in(d.path(), args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains("error:"), "{args:?}: {}", r.stderr);
    }
}

#[test]
fn locked_file_times_out_with_a_clear_message() {
    let d = state_dir(&["demo/dynamo.json"]);
    let lock = d.path().join("dynamo.lock");
    let mut holder = std::process::Command::new("python3")
        .args([
            "-c",
            "import fcntl,os,sys,time\nfd=os.open(sys.argv[1], os.O_RDWR|os.O_CREAT)\nfcntl.flock(fd, fcntl.LOCK_EX)\nprint('locked', flush=True)\ntime.sleep(30)",
            lock.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 is needed for this test");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "locked");
    refused(
        d.path(),
        "dynamo",
        &["--lock-timeout", "0.3", "add", "dynamo", "VllmWorker"],
        1,
        // The holder is named from /proc/locks.
        &format!(
            "locked by another process for more than 0.3s (held by pid {} (",
            holder.id()
        ),
    );
    holder.kill().unwrap();
    holder.wait().unwrap();
    let r = run_in(
        d.path(),
        &["--lock-timeout", "5", "add", "dynamo", "VllmWorker"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
}

#[test]
fn symlink_out_of_the_dir_is_followed_only_as_a_file() {
    // A state file that is a symlink is updated at its target and stays a symlink.
    let outer = tempfile::tempdir().unwrap();
    let d = outer.path().join("state");
    std::fs::create_dir(&d).unwrap();
    let real = outer.path().join("real.json");
    std::fs::copy(fixture("demo/dynamo.json"), &real).unwrap();
    std::os::unix::fs::symlink(&real, d.join("dynamo.json")).unwrap();
    let r = run_in(&d, &["add", "dynamo", "PrefillWorker"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        std::fs::symlink_metadata(d.join("dynamo.json"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert!(
        std::fs::read_to_string(&real)
            .unwrap()
            .contains("dynamo_PrefillWorker_2")
    );
}
