//! Hostile files and the bugs found by trying the CLI as a hostile user and as a new
//! operator (issue 7). Every run has a deadline: a regression that hangs fails the test
//! instead of hanging the suite.

mod cli_support;
use cli_support::*;

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(30);

/// Waits for `child` until `within`, killing it and failing the test after that.
fn finish(mut child: Child, what: &str, within: Duration) -> Run {
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let (mut o, mut e) = (Vec::new(), Vec::new());
        if let Some(s) = out.as_mut() {
            let _ = s.read_to_end(&mut o);
        }
        if let Some(s) = err.as_mut() {
            let _ = s.read_to_end(&mut e);
        }
        (o, e)
    });
    let deadline = Instant::now() + within;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {within:?} (hung?)");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let (o, e) = reader.join().unwrap();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o).into_owned(),
        stderr: String::from_utf8_lossy(&e).into_owned(),
    }
}

fn cmd(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(BIN);
    // The state file is the subject here; the fixtures' arbiters do not run.
    c.arg("--state-dir")
        .arg(dir)
        .arg("--state-only")
        .args(args)
        .env_remove("NO_COLOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Runs the CLI with a deadline.
/// Runs the CLI (`--state-only`) with a deadline; stderr without the state-only warning
/// that every change prints, so the tests see what else was said.
fn run(dir: &Path, args: &[&str]) -> Run {
    let mut r = finish(
        cmd(dir, args).spawn().unwrap(),
        &format!("{args:?}"),
        DEADLINE,
    );
    r.stderr = r
        .stderr
        .lines()
        .filter(|l| !l.starts_with("dynamo-ctl: warning: --state-only: only the state file"))
        .map(|l| format!("{l}\n"))
        .collect();
    r
}

fn ino(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().ino()
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Runs a Python snippet with `args`, failing on error.
fn py(script: &str, args: &[&str]) {
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 is needed for this test");
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
}

// ------------------------------------------------- files that are not regular files

/// Every kind of non-regular or oversized file: listed as broken with its reason, never
/// blocking, never read whole, never locked; the healthy namespace is still listed.
#[test]
fn non_regular_and_oversized_files_are_broken_and_never_block_or_lock() {
    let d = state_dir(&["demo/dynamo.json"]);
    let p = d.path();
    mkfifo(&p.join("fifo.json"));
    std::os::unix::fs::symlink("/dev/zero", p.join("zero.json")).unwrap();
    std::fs::create_dir(p.join("dir.json")).unwrap();
    let _sock = std::os::unix::net::UnixListener::bind(p.join("sock.json")).unwrap();
    // Sparse: one byte over the cap costs no disk.
    let big = std::fs::File::create(p.join("big.json")).unwrap();
    big.set_len(256 * 1024 * 1024 + 1).unwrap();
    drop(big);
    let cases = [
        ("fifo", "is a FIFO (named pipe), not a regular file"),
        ("zero", "is a character device, not a regular file"),
        ("dir", "is a directory, not a regular file"),
        ("sock", "is a socket, not a regular file"),
        ("big", "more than the 256 MiB a state file may hold"),
    ];

    let r = run(p, &["list"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for (ns, msg) in cases {
        let line = r
            .stdout
            .lines()
            .find(|l| l.starts_with(ns))
            .unwrap_or_else(|| panic!("{ns} not listed: {}", r.stdout));
        assert!(line.contains(msg), "{ns}: {line}");
    }
    assert!(
        r.stdout
            .lines()
            .any(|l| l.starts_with("dynamo") && l.ends_with("ok")),
        "{}",
        r.stdout
    );
    let r = run(p, &["list", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let statuses: Vec<(String, String)> = v["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["name"].as_str().unwrap().to_string(),
                n["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(statuses.contains(&("dynamo".into(), "ok".into())));
    assert!(statuses.contains(&("fifo".into(), "error".into())));

    for (ns, msg) in cases {
        for args in [
            vec!["show", ns],
            vec!["add", ns, "VllmWorker"],
            vec!["remove", ns, "VllmWorker"],
            vec!["scale", ns, "VllmWorker", "--replicas", "3"],
        ] {
            let r = run(p, &args);
            assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
            assert!(r.stderr.contains(msg), "{args:?}: {}", r.stderr);
        }
        assert!(
            !p.join(format!("{ns}.lock")).exists(),
            "{ns}: the lock was taken for a file that is not a state file"
        );
    }
    assert_eq!(
        std::fs::metadata(p.join("big.json")).unwrap().len(),
        256 * 1024 * 1024 + 1
    );
    assert!(
        std::fs::symlink_metadata(p.join("zero.json"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

// ------------------------------------------------------------ the lock of a symlink

fn hold_lock(lock: &Path) -> Child {
    let mut holder = Command::new("python3")
        .args([
            "-c",
            "import fcntl,os,sys,time\nfd=os.open(sys.argv[1], os.O_RDWR|os.O_CREAT)\nfcntl.flock(fd, fcntl.LOCK_EX)\nprint('locked', flush=True)\ntime.sleep(60)",
            lock.to_str().unwrap(),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 is needed for this test");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "locked");
    holder
}

/// `A/x.json -> B/x.json`: a writer through A waits for the lock the planner in B takes.
#[test]
fn a_symlinked_file_is_written_under_its_target_directorys_lock() {
    let root = tempfile::tempdir().unwrap();
    let (a, b) = (root.path().join("a"), root.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(b.join("x.json"), big_gpu_state("x", 400)).unwrap();
    std::os::unix::fs::symlink(b.join("x.json"), a.join("x.json")).unwrap();

    // The planner in B holds B/x.lock: a change through A must wait for it.
    let mut holder = hold_lock(&b.join("x.lock"));
    let before = std::fs::read(b.join("x.json")).unwrap();
    let r = run(&a, &["--lock-timeout", "0.3", "add", "x", "VllmWorker"]);
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("x.lock: locked by another process"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains(&b.display().to_string()), "{}", r.stderr);
    assert_eq!(std::fs::read(b.join("x.json")).unwrap(), before);

    // Writers in both directories at once lose no update.
    let start = running(&b, "x", "VllmWorker");
    let workers: Vec<_> = (0..6)
        .map(|w| {
            let dir: PathBuf = if w % 2 == 0 { a.clone() } else { b.clone() };
            std::thread::spawn(move || {
                for _ in 0..8 {
                    let r = run(&dir, &["--lock-timeout", "60", "add", "x", "VllmWorker"]);
                    assert_eq!(r.code, 0, "{}", r.stderr);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(running(&b, "x", "VllmWorker"), start + 48);
    assert!(
        std::fs::symlink_metadata(a.join("x.json"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // Temp files are made and cleaned where the file lives; nothing else is left.
    assert_eq!(names_in(&a), ["x.json", "x.lock"]);
    assert_eq!(names_in(&b), ["x.json", "x.lock"]);
}

// ----------------------------------------------------- layouts: no-ops and real changes

/// `json.dump` arguments (as Python source) and the file name for each layout.
const LAYOUTS: [(&str, &str); 5] = [
    ("tight", "separators=(',', ':')"),
    ("noascii", "indent=2, ensure_ascii=False"),
    ("crlf", "indent=2"),
    ("tabs", "indent='\\t'"),
    (
        "tightindent",
        "indent=4, separators=(',', ':'), ensure_ascii=False",
    ),
];

/// Writes the demo `dynamo` namespace (plus a non-ASCII field) in each layout.
fn layouts_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    for (name, args) in LAYOUTS {
        let newline = if name == "crlf" { "'\\r\\n'" } else { "None" };
        py(
            &format!(
                "import json,sys\nd=json.load(open(sys.argv[1]))\nd['note']='café ✓'\nwith open(sys.argv[2],'w',newline={newline}) as f: json.dump(d,f,{args})"
            ),
            &[
                fixture("demo/dynamo.json").to_str().unwrap(),
                d.path().join(format!("{name}.json")).to_str().unwrap(),
            ],
        );
    }
    d
}

#[test]
fn a_change_that_changes_nothing_never_rewrites_any_layout() {
    let d = layouts_dir();
    for (ns, _) in LAYOUTS {
        let path = d.path().join(format!("{ns}.json"));
        let (bytes, inode) = (std::fs::read(&path).unwrap(), ino(&path));
        for args in [
            vec!["scale", ns, "VllmWorker", "--replicas", "2"],
            vec!["scale", ns, "PrefillWorker", "--replicas", "2"],
        ] {
            let r = run(d.path(), &args);
            assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
            assert_eq!(r.stdout, "no change: already at the requested count\n");
            assert_eq!(r.stderr, "", "{args:?}");
        }
        assert_eq!(std::fs::read(&path).unwrap(), bytes, "{ns} rewritten");
        assert_eq!(ino(&path), inode, "{ns} replaced");
    }
    assert_eq!(
        names_in(d.path())
            .iter()
            .filter(|n| n.ends_with(".tmp"))
            .count(),
        0
    );
}

/// A real change keeps each layout exactly: the result is what Python writes for the new
/// content with the same `json.dump` arguments.
#[test]
fn a_real_change_keeps_separators_escaping_line_endings_and_indent() {
    let d = layouts_dir();
    for (ns, args) in LAYOUTS {
        let r = run(d.path(), &["add", ns, "VllmWorker"]);
        assert_eq!(r.code, 0, "{ns}: {}", r.stderr);
        assert_eq!(r.stdout, "added dynamo_VllmWorker_2 on GPU 4\n", "{ns}");
        assert_eq!(r.stderr, "", "{ns}: no layout note when the layout is kept");
        let path = d.path().join(format!("{ns}.json"));
        let again = d.path().join(format!("{ns}.python"));
        let newline = if ns == "crlf" { "'\\r\\n'" } else { "None" };
        py(
            &format!(
                "import json,sys\nd=json.load(open(sys.argv[1], newline=''))\nwith open(sys.argv[2],'w',newline={newline}) as f: json.dump(d,f,{args})"
            ),
            &[path.to_str().unwrap(), again.to_str().unwrap()],
        );
        assert_eq!(
            String::from_utf8(std::fs::read(&path).unwrap()).unwrap(),
            std::fs::read_to_string(&again).unwrap(),
            "{ns}: not the layout Python writes"
        );
    }
}

/// A layout the writer cannot reproduce (hand-edited spacing) is said once, on stderr.
#[test]
fn an_irreproducible_layout_is_rewritten_with_one_note() {
    let d = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(fixture("demo/dynamo.json"))
        .unwrap()
        .replace(
            "\"namespace\": \"dynamo\",",
            "\"namespace\" :   \"dynamo\" ,",
        );
    std::fs::write(d.path().join("dynamo.json"), &text).unwrap();
    let r = run(
        d.path(),
        &["scale", "dynamo", "VllmWorker", "--replicas", "2"],
    );
    assert_eq!(
        (r.code, r.stderr.as_str()),
        (0, ""),
        "a no-op writes and says nothing"
    );
    assert_eq!(read(d.path(), "dynamo"), text.as_bytes());
    let r = run(d.path(), &["add", "dynamo", "VllmWorker"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stderr.matches("note:").count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("re-laid out"), "{}", r.stderr);
    assert_eq!(running(d.path(), "dynamo", "VllmWorker"), 3);
}

// ------------------------------------------------------- terminal control in output

const EVIL: &str = "\u{1b}]2;PWNED\u{7}\u{1b}[2J\u{202e}\u{9b}\u{7f}";

#[test]
fn names_from_the_file_never_reach_the_terminal_as_control() {
    let d = tempfile::tempdir().unwrap();
    let mut v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture("demo/dynamo.json")).unwrap()).unwrap();
    v["circus_endpoint"] = format!("tcp://{EVIL}").into();
    let comps = v["components"].as_object_mut().unwrap();
    comps.insert(
        format!("dynamo_Evil{EVIL}"),
        serde_json::json!({"watcher_name": format!("w{EVIL}"), "cmd": "x", "resources": {"allocated_gpus": [format!("7{EVIL}")]}}),
    );
    comps["dynamo_VllmWorker_1"]["watcher_name"] = format!("dynamo_VllmWorker_1{EVIL}").into();
    std::fs::write(
        d.path().join("dynamo.json"),
        serde_json::to_string(&v).unwrap(),
    )
    .unwrap();
    // A namespace field with controls ends up in new instance names.
    let mut w = v.clone();
    w["namespace"] = format!("ns{EVIL}").into();
    std::fs::write(
        d.path().join("other.json"),
        serde_json::to_string(&w).unwrap(),
    )
    .unwrap();
    // And a file name with controls.
    std::fs::write(d.path().join(format!("f{EVIL}.json")), "{}").unwrap();

    let clean = |what: &str, s: &str| {
        assert!(
            !s.chars()
                .any(|c| (c.is_control() && c != '\n') || ('\u{202a}'..='\u{202e}').contains(&c)),
            "{what}: control characters in {s:?}"
        );
    };
    for args in [
        vec!["list"],
        vec!["show", "dynamo"],
        vec!["show", "other"],
        vec!["add", "other", "VllmWorker", "--dry-run"],
        vec!["add", "other", "VllmWorker"],
        vec!["remove", "dynamo", "VllmWorker"],
        vec!["remove", "other", "Evil"],
    ] {
        let r = run(d.path(), &args);
        clean(&format!("{args:?} stdout"), &r.stdout);
        clean(&format!("{args:?} stderr"), &r.stderr);
        assert!(r.code <= 2, "{args:?}: {}", r.stderr);
    }
    let r = run(d.path(), &["show", "dynamo"]);
    assert!(
        r.stdout
            .contains("tcp://\\u{1b}]2;PWNED\\u{7}\\u{1b}[2J\\u{202e}"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("w\\u{1b}]2;PWNED"), "{}", r.stdout);
    // JSON stays exact JSON: the strings come back byte for byte.
    let r = run(d.path(), &["show", "dynamo", "-o", "json"]);
    let s: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(s["circus_endpoint"], format!("tcp://{EVIL}"));
    assert!(
        s["types"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["type"] == format!("Evil{EVIL}"))
    );
}

// -------------------------------------------------------------- smaller points

/// A duplicated key is refused at every size, naming the key, and the file is untouched.
#[test]
fn duplicate_keys_are_refused_at_any_size() {
    let d = tempfile::tempdir().unwrap();
    let entry = r#""dynamo_VllmWorker_1": {"watcher_name": "dynamo_VllmWorker_1", "cmd": "w", "resources": {"allocated_gpus": ["6"]}}"#;
    let small = format!(
        r#"{{"namespace": "dynamo", "components": {{"dynamo_VllmWorker": {{"watcher_name": "dynamo_VllmWorker", "cmd": "w", "resources": {{"allocated_gpus": ["0"]}}}}, {entry}, {}}}, "environment": {{"SYSTEM_RESOURCES": {{"gpu_info": ["0", "1", "6", "7"]}}}}}}"#,
        entry.replace("[\"6\"]", "[\"1\"]")
    );
    let pad: String = (0..3000)
        .map(|i| {
            format!(
                r#""dynamo_Pad_{i}": {{"watcher_name": "dynamo_Pad_{i}", "cmd": "{}"}}, "#,
                "p".repeat(80)
            )
        })
        .collect();
    let big = small.replacen("\"components\": {", &format!("\"components\": {{{pad}"), 1);
    assert!(big.len() > 256 * 1024);
    std::fs::write(d.path().join("small.json"), &small).unwrap();
    std::fs::write(d.path().join("big.json"), &big).unwrap();
    for ns in ["small", "big"] {
        let before = read(d.path(), ns);
        for args in [
            vec!["show", ns],
            vec!["add", ns, "VllmWorker"],
            vec!["remove", ns, "VllmWorker"],
        ] {
            let r = run(d.path(), &args);
            assert_eq!(r.code, 1, "{args:?}");
            assert!(
                r.stderr
                    .contains("duplicate key \"dynamo_VllmWorker_1\" in components"),
                "{args:?}: {}",
                r.stderr
            );
        }
        assert_eq!(read(d.path(), ns), before);
    }
    let r = run(d.path(), &["list"]);
    assert_eq!(r.stdout.matches("duplicate key").count(), 2, "{}", r.stdout);
}

#[test]
fn write_errors_on_stdout_fail_but_a_closed_pipe_is_quiet() {
    let d = state_dir(&["demo/dynamo.json"]);
    for args in [
        vec!["show", "dynamo", "-o", "json"],
        vec!["show", "dynamo"],
        vec!["list"],
        vec!["add", "dynamo", "VllmWorker", "--dry-run"],
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let child = cmd(d.path(), &args).stdout(full).spawn().unwrap();
        let r = finish(child, "to /dev/full", DEADLINE);
        assert_eq!(r.code, 1, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains("cannot write to stdout"),
            "{args:?}: {}",
            r.stderr
        );
    }
    // `| head`: the reader is gone before anything is written.
    let mut child = cmd(d.path(), &["show", "dynamo", "-o", "json"])
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let r = finish(child, "to a closed pipe", DEADLINE);
    assert!(r.code == 0 || r.code == 141, "{}: {}", r.code, r.stderr);
    assert_eq!(r.stderr, "");
}

/// Unreachable targets (u64::MAX used to run forever under the lock) are refused at once,
/// before the lock (no lock file appears), with the real numbers; a large reachable one is
/// done in one transaction.
#[test]
fn scale_refuses_unreachable_targets_before_the_lock_and_is_linear() {
    let d = state_dir(&["demo/dynamo.json"]);
    let before = read(d.path(), "dynamo");
    let r = run(
        d.path(),
        &[
            "scale",
            "dynamo",
            "VllmWorker",
            "--replicas",
            "9",
            "--dry-run",
        ],
    );
    assert_eq!(r.code, 1);
    assert_eq!(
        r.stderr,
        "dynamo-ctl: error: VllmWorker: 7 more instances need 7 GPUs; only 4 of 8 are free\n"
    );
    for n in ["100001", "18446744073709551615"] {
        let r = run(
            d.path(),
            &["scale", "dynamo", "VllmWorker", "--replicas", n],
        );
        assert_eq!(r.code, 1);
        assert!(
            r.stderr
                .contains("more than the 100000 a scale may aim for"),
            "{}",
            r.stderr
        );
    }
    assert_eq!(read(d.path(), "dynamo"), before);
    assert!(!d.path().join("dynamo.lock").exists(), "the lock was taken");
    // 5,000 instances on a host with 5,200 GPUs in one transaction, then back to one (how
    // long that takes is measured by the `scale` bench, not here).
    std::fs::write(d.path().join("big.json"), big_gpu_state("big", 5200)).unwrap();
    let r = run(
        d.path(),
        &["scale", "big", "VllmWorker", "--replicas", "5000"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.lines().count(), 4_999);
    assert_eq!(
        r.stdout.lines().last(),
        Some("added big_VllmWorker_4999 on GPU 4999")
    );
    assert_eq!(running(d.path(), "big", "VllmWorker"), 5_000);
    let r = run(d.path(), &["scale", "big", "VllmWorker", "--replicas", "1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(running(d.path(), "big", "VllmWorker"), 1);
    assert_eq!(
        r.stdout.lines().next(),
        Some("removed big_VllmWorker_4999, freed GPU 4999")
    );
    let v = json(d.path(), "big");
    let keys: Vec<&String> = v["components"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["big_Frontend", "big_VllmWorker"]);
}

/// GPU ids are one GPU per number: "2" and 2, "05" and 5, "+5" and 5, " 4" and 4.
#[test]
fn gpu_ids_are_compared_by_number_and_cuda_gets_plain_numbers() {
    let d = tempfile::tempdir().unwrap();
    let text = r#"{"namespace": "g", "components": {"g_VllmWorker": {"watcher_name": "g_VllmWorker", "cmd": "w", "resources": {"allocated_gpus": [2]}}, "g_VllmWorker_1": {"watcher_name": "g_VllmWorker_1", "cmd": "w", "resources": {"allocated_gpus": ["2"]}}, "g_PrefillWorker": {"watcher_name": "g_PrefillWorker", "cmd": "p", "resources": {"allocated_gpus": ["+5"]}}}, "environment": {"SYSTEM_RESOURCES": {"gpu_info": ["0", "  4", "2", "05", 2, "5", 0]}}}"#;
    std::fs::write(d.path().join("g.json"), text).unwrap();
    let r = run(d.path(), &["list", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(
        v["namespaces"][0]["gpus"],
        serde_json::json!({"total": 4, "used": 2})
    );
    let r = run(d.path(), &["show", "g"]);
    assert!(
        r.stdout.contains("GPUs: 2/4 used; free: 0,   4"),
        "{}",
        r.stdout
    );
    // The lowest free number first; gpu_info's spelling in the entry, the number in CUDA.
    for (want, cuda) in [("0", "0"), ("  4", "4")] {
        let r = run(d.path(), &["add", "g", "VllmWorker"]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let v = json(d.path(), "g");
        let (name, c) = v["components"]
            .as_object()
            .unwrap()
            .iter()
            .next_back()
            .unwrap();
        assert_eq!(
            c["resources"]["allocated_gpus"],
            serde_json::json!([want]),
            "{name}"
        );
        let cmd = c["cmd"].as_str().unwrap();
        assert!(
            cmd.contains(&format!(r#""CUDA_VISIBLE_DEVICES": "{cuda}""#)),
            "{cmd}"
        );
    }
    let r = run(d.path(), &["add", "g", "VllmWorker"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("only 0 of 4 are free"), "{}", r.stderr);
}

#[test]
fn a_file_name_with_a_newline_is_listed_as_broken() {
    let d = state_dir(&["demo/dynamo.json"]);
    std::fs::copy(fixture("demo/agg.json"), d.path().join("a\nb.json")).unwrap();
    let r = run(d.path(), &["list"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout.lines().count(), 3, "{}", r.stdout);
    let line = r.stdout.lines().nth(1).unwrap();
    assert!(line.starts_with("a\\u{a}b "), "{line}");
    assert!(line.contains("it contains a control character"), "{line}");
    let r = run(d.path(), &["list", "-o", "json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["namespaces"][0]["name"], "a\nb");
    assert_eq!(v["namespaces"][0]["status"], "error");
}

/// `show` racing a planner that rewrites its file in place (`open('w')` + `json.dump`, line
/// buffered here so that each write takes long enough to be caught half-way, every 20 ms)
/// never reports the half-written file as malformed.
#[test]
fn show_racing_an_in_place_writer_never_says_malformed() {
    let d = state_dir(&["demo/dynamo.json"]);
    let stop = d.path().join("stop");
    let writer = Command::new("python3")
        .args([
            "-c",
            "import json,os,sys,time\nd=json.load(open(sys.argv[1]))\nwhile not os.path.exists(sys.argv[2]):\n    with open(sys.argv[1],'w',buffering=1) as f: json.dump(d,f,indent=2)\n    time.sleep(0.02)",
            d.path().join("dynamo.json").to_str().unwrap(),
            stop.to_str().unwrap(),
        ])
        .spawn()
        .expect("python3 is needed for this test");
    let mut failures = Vec::new();
    for _ in 0..300 {
        let r = run(d.path(), &["show", "dynamo", "-o", "json"]);
        if r.code != 0 {
            failures.push(r.stderr);
        }
    }
    std::fs::write(&stop, "").unwrap();
    let _ = finish(writer, "the writer", DEADLINE);
    assert!(
        failures.is_empty(),
        "{} failures: {:?}",
        failures.len(),
        failures.first()
    );
}
