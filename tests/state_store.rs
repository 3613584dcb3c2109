//! The store: the planner-compatible lock (with real Python `fcntl.flock` holders), atomic
//! saves (mode, symlinks, no temp files), refusal to write broken files, hostile namespace
//! names, listing, and a vanished directory.

mod state_support;
use state_support::*;

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use dynamo_ctl::state::{RuleError, StateError, Store, scale};

/// A temp state dir holding `fixture` as `<ns>.json`.
fn dir_with(fixture: &str, ns: &str) -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join(format!("{ns}.json"));
    std::fs::copy(fixture_path(fixture), &p).unwrap();
    (d, p)
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// A Python process holding `flock(LOCK_EX)` on a lock file. Killed on drop.
struct Holder {
    child: Child,
    out: BufReader<ChildStdout>,
}

const HOLDER: &str = r#"
import fcntl, os, shutil, sys, time
path, hold, marker, mode = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4]
fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
time.sleep(hold)
open(marker, "w").write("released")
if mode == "unlink":
    os.unlink(path)
elif mode == "rmtree":  # `dynamo serve` exits: the whole state directory goes
    shutil.rmtree(os.path.dirname(path))
fcntl.flock(fd, fcntl.LOCK_UN)
os.close(fd)
print("released", flush=True)
"#;

impl Holder {
    fn start(lock: &Path, hold_secs: f64, marker: &Path, mode: &str) -> Holder {
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(HOLDER)
            .arg(lock)
            .arg(hold_secs.to_string())
            .arg(marker)
            .arg(mode)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "locked", "holder did not lock");
        Holder { child, out }
    }

    fn finish(mut self) {
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "released");
        assert!(self.child.wait().unwrap().success());
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether another process can take the lock on `path` right now (non-blocking).
fn python_can_lock(path: &Path) -> bool {
    let out = Command::new("python3")
        .arg("-c")
        .arg(
            "import fcntl, os, sys\n\
             fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)\n\
             try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB); print('free')\n\
             except BlockingIOError:\n    print('busy')",
        )
        .arg(path)
        .output()
        .unwrap();
    match String::from_utf8_lossy(&out.stdout).trim() {
        "free" => true,
        "busy" => false,
        other => panic!(
            "probe said {other:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

// ---------------------------------------------------------------- the lock

#[test]
fn waits_for_a_python_flock_holder_then_succeeds() {
    let (d, file) = dir_with("reference/serve-initial.json", "dynamo");
    let marker = d.path().join("released-marker");
    let lock = d.path().join("dynamo.lock");
    let holder = Holder::start(&lock, 1.5, &marker, "keep");
    assert!(!python_can_lock(&lock), "the holder must hold the lock");
    let store = Store::new(d.path());
    let (c, doc) = store
        .transact("dynamo", false, |s| {
            // Only reachable once the holder let go.
            assert!(
                marker.exists(),
                "transaction ran while Python held the lock"
            );
            scale::add(s, "VllmWorker")
        })
        .unwrap();
    holder.finish();
    assert_eq!(c.name(), "dynamo_VllmWorker_1");
    assert!(doc.state.components.contains_key("dynamo_VllmWorker_1"));
    let on_disk = std::fs::read_to_string(&file).unwrap();
    assert!(
        on_disk.contains("\"dynamo_VllmWorker_1\": {\"watcher_name\": \"dynamo_VllmWorker_1\"")
    );
    assert!(
        python_can_lock(&lock),
        "lock released after the transaction"
    );
}

#[test]
fn times_out_while_python_holds_the_lock_and_leaves_the_file_alone() {
    let (d, file) = dir_with("reference/serve-initial.json", "dynamo");
    let before = std::fs::read(&file).unwrap();
    let marker = d.path().join("m");
    let holder = Holder::start(&d.path().join("dynamo.lock"), 60.0, &marker, "keep");
    let store = Store::new(d.path()).with_lock_timeout(Duration::from_millis(300));
    let mut called = false;
    let e = store
        .transact("dynamo", false, |s| {
            called = true;
            scale::add(s, "VllmWorker")
        })
        .unwrap_err();
    assert!(matches!(e, StateError::LockTimeout { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("locked by another process"), "{msg}");
    assert!(msg.contains("dynamo.lock"), "{msg}");
    assert!(msg.contains("0.3s"), "{msg}");
    assert!(!called);
    assert_eq!(std::fs::read(&file).unwrap(), before);
    drop(holder);
    assert!(
        !marker.exists(),
        "holder was killed, never released on its own"
    );
}

/// filelock 3.20.4+ unlinks the lock file on release. We must end up holding the lock on
/// the file the path names (a planner arriving now must see it taken), after the holder.
#[test]
fn unlink_on_release_still_serializes() {
    let (d, file) = dir_with("reference/serve-initial.json", "dynamo");
    let store = Store::new(d.path());
    let lock = d.path().join("dynamo.lock");
    for round in 0..3 {
        let marker = d.path().join(format!("released-{round}"));
        let holder = Holder::start(&lock, 0.3, &marker, "unlink");
        store
            .transact("dynamo", false, |s| {
                assert!(
                    marker.exists(),
                    "round {round}: ran before the holder released"
                );
                assert!(lock.exists(), "round {round}: our lock file is on the path");
                assert!(
                    !python_can_lock(&lock),
                    "round {round}: the lock on the path is not ours"
                );
                scale::add(s, "Frontend")
            })
            .unwrap();
        holder.finish();
    }
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    for n in 1..=3 {
        assert!(v["components"][format!("dynamo_Frontend_{n}")].is_object());
    }
}

#[test]
fn concurrent_transactions_in_threads_lose_no_update() {
    let (d, file) = dir_with("reference/serve-initial.json", "dynamo");
    let store = Store::new(d.path());
    std::thread::scope(|sc| {
        for _ in 0..4 {
            sc.spawn(|| {
                for _ in 0..3 {
                    store
                        .transact("dynamo", false, |s| scale::add(s, "Frontend"))
                        .unwrap();
                }
            });
        }
    });
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let comps = v["components"].as_object().unwrap();
    assert_eq!(comps.len(), 4 + 12);
    for n in 1..=12 {
        assert!(comps.contains_key(&format!("dynamo_Frontend_{n}")), "{n}");
    }
}

// ---------------------------------------------------------------- atomic writes

#[test]
fn keeps_the_file_mode() {
    for mode in [0o600, 0o640, 0o664] {
        let (d, file) = dir_with("reference/serve-initial.json", "dynamo");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
        Store::new(d.path())
            .transact("dynamo", false, |s| scale::add(s, "VllmWorker"))
            .unwrap();
        let m = std::fs::metadata(&file).unwrap().permissions().mode() & 0o7777;
        assert_eq!(m, mode, "mode {mode:o} became {m:o}");
        assert!(
            std::fs::read_to_string(&file)
                .unwrap()
                .contains("dynamo_VllmWorker_1")
        );
        assert_eq!(names_in(d.path()), ["dynamo.json", "dynamo.lock"]);
    }
}

#[test]
fn writes_through_a_symlink_and_leaves_no_temp_files() {
    let root = tempfile::tempdir().unwrap();
    let state = root.path().join("state");
    let real = root.path().join("real");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::create_dir_all(&real).unwrap();
    let target = real.join("target.json");
    std::fs::copy(fixture_path("reference/after-planner-add.json"), &target).unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o640)).unwrap();
    let link = state.join("dynamo.json");
    std::os::unix::fs::symlink("../real/target.json", &link).unwrap();

    let store = Store::new(&state);
    for _ in 0..3 {
        store
            .transact("dynamo", false, |s| scale::add(s, "PrefillWorker"))
            .unwrap();
    }
    let lm = std::fs::symlink_metadata(&link).unwrap();
    assert!(lm.file_type().is_symlink(), "the symlink was replaced");
    assert_eq!(
        std::fs::read_link(&link).unwrap(),
        Path::new("../real/target.json")
    );
    let text = std::fs::read_to_string(&target).unwrap();
    for n in 1..=3 {
        assert!(
            text.contains(&format!("\"dynamo_PrefillWorker_{n}\"")),
            "{n}"
        );
    }
    assert_eq!(
        std::fs::metadata(&target).unwrap().permissions().mode() & 0o7777,
        0o640
    );
    // Both locks are taken: the link's and the one the target's directory uses.
    assert_eq!(names_in(&state), ["dynamo.json", "dynamo.lock"]);
    assert_eq!(names_in(&real), ["target.json", "target.lock"]);
}

#[test]
fn dry_run_and_refused_changes_write_nothing() {
    let (d, file) = dir_with("demo/full.json", "full");
    let before = std::fs::read(&file).unwrap();
    let store = Store::new(d.path());
    let e = store
        .transact("full", false, |s| scale::add(s, "VllmWorker"))
        .unwrap_err();
    assert!(
        matches!(
            e,
            StateError::Rule(RuleError::NotEnoughGpus {
                need: 1,
                free: 0,
                total: 4,
                ..
            })
        ),
        "{e:?}"
    );
    assert_eq!(
        e.to_string(),
        "VllmWorker needs 1 GPU(s) but only 0 of 4 are free"
    );
    let (c, doc) = store
        .transact("full", true, |s| scale::remove(s, "PrefillWorker"))
        .unwrap();
    assert_eq!(c.name(), "full_PrefillWorker_2");
    assert!(!doc.state.components.contains_key("full_PrefillWorker_2"));
    assert_eq!(std::fs::read(&file).unwrap(), before);
    // A scale the free GPUs cannot satisfy is refused whole, before any change: the
    // transaction is all or nothing.
    let (d2, file2) = dir_with("rules/multi-gpu.json", "mg");
    let before2 = std::fs::read(&file2).unwrap();
    let e = Store::new(d2.path())
        .transact("mg", false, |s| scale::scale(s, "VllmWorker", 4))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "VllmWorker: 2 more instances need 4 GPUs; only 3 of 8 are free"
    );
    assert_eq!(std::fs::read(&file2).unwrap(), before2);
    // A transaction that changes nothing does not rewrite the file.
    let ino = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&file).unwrap());
    store
        .transact("full", false, |_| Ok::<(), RuleError>(()))
        .unwrap();
    assert_eq!(
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&file).unwrap()),
        ino
    );
}

#[test]
fn nan_and_malformed_files_are_never_written() {
    let d = tempfile::tempdir().unwrap();
    let cases: [(&str, Vec<u8>); 4] = [
        (
            "nan",
            br#"{"namespace": "nan", "a": NaN, "components": {"nan_Frontend": {"watcher_name": "nan_Frontend", "cmd": "c", "resources": {}}}}"#.to_vec(),
        ),
        (
            "inf",
            br#"{"namespace": "inf", "components": {}, "environment": {"x": -Infinity}}"#.to_vec(),
        ),
        (
            "broken",
            std::fs::read(fixture_path("demo/broken.json")).unwrap(),
        ),
        ("latin1", b"{\"namespace\": \"caf\xe9\", \"components\": {}}".to_vec()),
    ];
    for (ns, bytes) in &cases {
        std::fs::write(d.path().join(format!("{ns}.json")), bytes).unwrap();
    }
    let store = Store::new(d.path());
    for (ns, bytes) in &cases {
        let mut called = false;
        let e = store
            .transact(ns, false, |s| {
                called = true;
                scale::add(s, "Frontend")
            })
            .unwrap_err();
        match *ns {
            "nan" | "inf" => {
                assert!(matches!(e, StateError::NonFinite { .. }), "{ns}: {e:?}");
                assert!(e.to_string().contains("NaN or Infinity"), "{e}");
            }
            _ => assert!(matches!(e, StateError::Parse { .. }), "{ns}: {e:?}"),
        }
        assert!(e.to_string().contains("left untouched"), "{e}");
        assert!(!called, "{ns}: closure ran on a broken file");
        assert_eq!(
            &std::fs::read(d.path().join(format!("{ns}.json"))).unwrap(),
            bytes,
            "{ns}"
        );
    }
    assert!(
        names_in(d.path()).iter().all(|n| !n.ends_with(".tmp")),
        "{:?}",
        names_in(d.path())
    );
}

// ---------------------------------------------------------------- names and listing

#[test]
fn hostile_namespace_names_never_touch_the_filesystem() {
    let root = tempfile::tempdir().unwrap();
    let state = root.path().join("state");
    std::fs::create_dir(&state).unwrap();
    // A valid state file outside the state dir that `../x` would name.
    let outside = root.path().join("x.json");
    std::fs::copy(fixture_path("reference/serve-initial.json"), &outside).unwrap();
    std::fs::create_dir(state.join("a")).unwrap();
    std::fs::copy(
        fixture_path("reference/serve-initial.json"),
        state.join("a/b.json"),
    )
    .unwrap();
    std::fs::copy(
        fixture_path("reference/serve-initial.json"),
        state.join(".hidden.json"),
    )
    .unwrap();
    let before_outside = names_in(root.path());
    let store = Store::new(&state);
    for bad in [
        "../x",
        "a/b",
        ".hidden",
        "x\0y",
        "",
        "..",
        ".",
        "a\\b",
        "x\ny",
        "/etc/passwd",
    ] {
        let e = store.path_for(bad).unwrap_err();
        assert!(
            matches!(e, StateError::BadNamespace { .. }),
            "{bad:?}: {e:?}"
        );
        assert!(e.to_string().starts_with("invalid namespace name"), "{e}");
        assert!(store.lock_path(bad).is_err());
        assert!(store.load(bad).is_err());
        let e = store
            .transact(bad, false, |s| scale::add(s, "Frontend"))
            .unwrap_err();
        assert!(
            matches!(e, StateError::BadNamespace { .. }),
            "{bad:?}: {e:?}"
        );
    }
    assert_eq!(names_in(root.path()), before_outside);
    assert_eq!(names_in(&state), [".hidden.json", "a"]);
    assert_eq!(
        std::fs::read(&outside).unwrap(),
        std::fs::read(fixture_path("reference/serve-initial.json")).unwrap()
    );
    let long = "n".repeat(201);
    assert!(store.path_for(&long).is_err());
    assert_eq!(
        store.path_for("dynamo-1_x.y").unwrap(),
        state.join("dynamo-1_x.y.json")
    );
}

#[test]
fn list_shows_broken_files_with_errors_and_skips_non_namespaces() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    std::fs::copy(fixture_path("demo/dynamo.json"), p.join("dynamo.json")).unwrap();
    std::fs::copy(fixture_path("demo/agg.json"), p.join("agg.json")).unwrap();
    std::fs::copy(fixture_path("demo/broken.json"), p.join("broken.json")).unwrap();
    std::fs::write(
        p.join("nan.json"),
        r#"{"namespace": "nan", "x": NaN, "components": {}}"#,
    )
    .unwrap();
    for other in [
        "dynamo.lock",
        ".dynamo.json.a1B2c3.tmp",
        "notes.txt",
        "dynamo.json.bak",
        ".hidden.json",
    ] {
        std::fs::write(p.join(other), "{}").unwrap();
    }
    let store = Store::new(p);
    assert_eq!(store.names().unwrap(), ["agg", "broken", "dynamo", "nan"]);
    let list = store.list().unwrap();
    let summary: Vec<(&str, bool)> = list
        .iter()
        .map(|e| (e.name.as_str(), e.doc.is_ok()))
        .collect();
    assert_eq!(
        summary,
        [
            ("agg", true),
            ("broken", false),
            ("dynamo", true),
            ("nan", false)
        ]
    );
    let broken = list[1].doc.as_ref().unwrap_err();
    assert!(matches!(broken, StateError::Parse { .. }), "{broken:?}");
    assert!(broken.to_string().contains("broken.json"), "{broken}");
    assert!(matches!(list[3].doc, Err(StateError::NonFinite { .. })));
    assert_eq!(list[2].path, p.join("dynamo.json"));
    assert!(list[2].modified.is_some());
    assert_eq!(list[2].doc.as_ref().unwrap().state.components.len(), 7);
    // Listing wrote nothing and created no lock files.
    assert_eq!(names_in(p).len(), 9);
}

#[test]
fn vanished_directory_is_reported_and_not_recreated() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("state");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(
        fixture_path("reference/serve-initial.json"),
        dir.join("dynamo.json"),
    )
    .unwrap();
    let store = Store::new(&dir);
    assert!(store.load("dynamo").is_ok());
    // `dynamo serve` exits and deletes the whole directory.
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(matches!(store.list(), Err(StateError::DirMissing { .. })));
    assert!(matches!(
        store.load("dynamo"),
        Err(StateError::DirMissing { .. })
    ));
    let e = store
        .transact("dynamo", false, |s| scale::add(s, "VllmWorker"))
        .unwrap_err();
    assert!(matches!(e, StateError::DirMissing { .. }), "{e:?}");
    assert!(e.to_string().contains("does not exist"), "{e}");
    assert!(!dir.exists(), "the state directory was recreated");

    // A missing namespace in an existing directory: NotFound, and no lock file left.
    std::fs::create_dir(&dir).unwrap();
    let e = store
        .transact("ghost", false, |s| scale::add(s, "VllmWorker"))
        .unwrap_err();
    assert!(matches!(e, StateError::NotFound { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        format!(
            "namespace \"ghost\" not found: no {}",
            dir.join("ghost.json").display()
        )
    );
    assert!(names_in(&dir).is_empty());
}

#[test]
fn stale_temp_files_of_a_killed_writer_are_removed_under_the_lock() {
    let (d, file) = dir_with("reference/serve-initial.json", "dynamo");
    let stale = d.path().join(".dynamo.json.AbC123.tmp");
    let other = d.path().join(".other.json.AbC123.tmp");
    std::fs::write(&stale, "half a file").unwrap();
    std::fs::write(&other, "not ours").unwrap();
    Store::new(d.path())
        .transact("dynamo", false, |s| scale::add(s, "VllmWorker"))
        .unwrap();
    assert!(!stale.exists());
    assert!(
        other.exists(),
        "another namespace's temp file is not ours to delete"
    );
    assert!(
        std::fs::read_to_string(&file)
            .unwrap()
            .contains("dynamo_VllmWorker_1")
    );
}

/// The deployment stops (its directory is deleted) while we wait for the lock: we report the
/// vanished directory, and recreate neither it nor the lock file.
#[test]
fn directory_vanishing_while_waiting_for_the_lock_is_dir_missing() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("state");
    std::fs::create_dir(&dir).unwrap();
    std::fs::copy(
        fixture_path("reference/serve-initial.json"),
        dir.join("dynamo.json"),
    )
    .unwrap();
    let marker = root.path().join("released");
    let holder = Holder::start(&dir.join("dynamo.lock"), 0.5, &marker, "rmtree");
    let e = Store::new(&dir)
        .transact("dynamo", false, |s| scale::add(s, "VllmWorker"))
        .unwrap_err();
    holder.finish();
    assert!(matches!(e, StateError::DirMissing { .. }), "{e:?}");
    assert!(!dir.exists(), "the state directory was recreated");
}
