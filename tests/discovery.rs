//! Discovery against real servers: etcd (Debian etcd-server) on free loopback ports, real
//! Dynamo 1.x workers (ai-dynamo-runtime 1.6.1) registering through etcd and through the
//! file store, and Dynamo 0.3.x keys put with a lease exactly as 0.3.2 writes them.

mod discovery_support;
mod tmux_support;

use std::time::Duration;

use discovery_support::*;
use dynamo_ctl::discovery::{self, Config, Layout, SourceKind, Status};
use serde_json::Value;

const V03_VALUE: &str = r#"{
  "component": "VllmWorker",
  "endpoint": "generate",
  "namespace": "NS",
  "instance_id": 7587899101031805710,
  "transport": {
    "nats_tcp": "dynamo_vllmworker.generate-694da207ac81b30e"
  }
}"#;

/// Puts a 0.3.x registration (pretty JSON, with a lease) for `ns/comp/endpoint`; returns the
/// lease id.
fn put_03(etcd: &Etcd, ns: &str, comp: &str, endpoint: &str) -> i64 {
    let lease = etcd.lease_grant(60);
    let value = V03_VALUE
        .replace("NS", ns)
        .replace("VllmWorker", comp)
        .replace("generate", endpoint);
    etcd.put(
        &format!("instances/{ns}/{comp}/{endpoint}:{lease:x}"),
        &value,
        Some(lease),
    );
    lease
}

/// A client for the shared etcd (the server itself lives as long as the test binary).
fn shared() -> (String, Etcd) {
    let ep = shared_etcd();
    // A handle that only talks to the shared server: same ports, no process.
    let port: u16 = ep.rsplit(':').next().unwrap().parse().unwrap();
    let e = Etcd::client_only(port);
    (ep, e)
}

#[test]
fn dynamo_03_keys_with_a_lease_through_the_cli() {
    let (ep, etcd) = shared();
    let l1 = put_03(&etcd, "t03", "VllmWorker", "generate");
    let l2 = put_03(&etcd, "t03", "VllmWorker", "generate");
    let l3 = put_03(&etcd, "t03", "PrefillWorker", "mock");
    put_03(&etcd, "t03", "VllmWorker", "load_metrics");
    // Malformed entries are counted, listed with --verbose, never fatal.
    etcd.put("instances/t03/VllmWorker/generate:nothex", "{}", None);
    etcd.put("instances/t03/VllmWorker/generate:abc", "not json", None);

    let r = run(&["--etcd-endpoints", &ep, "instances", "t03", "-o", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("2 malformed"), "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["sources"][0]["kind"], "etcd");
    assert_eq!(v["sources"][0]["status"], "ok");
    assert_eq!(v["sources"][0]["error"], Value::Null);
    let insts = v["instances"].as_array().unwrap();
    assert_eq!(insts.len(), 4, "{}", r.stdout);
    let first = insts
        .iter()
        .find(|i| i["instance_id_hex"] == format!("{l1:x}"))
        .unwrap();
    assert_eq!(first["namespace"], "t03");
    assert_eq!(first["component"], "VllmWorker");
    assert_eq!(first["endpoint"], "generate");
    assert_eq!(first["instance_id"].as_u64(), Some(l1 as u64));
    assert_eq!(first["layout"], "0.3");
    assert_eq!(first["source"], "etcd");
    assert_eq!(first["stale"], false);
    assert_eq!(
        first["transport"]["nats_tcp"],
        "dynamo_vllmworker.generate-694da207ac81b30e"
    );

    let r = run(&["--etcd-endpoints", &ep, "-v", "instances", "t03"]);
    assert!(
        r.stderr.contains("nothex") && r.stderr.contains("not JSON"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.contains(&format!("{l2:x}")), "{}", r.stdout);
    assert!(r.stdout.contains("discovery: etcd"), "{}", r.stdout);

    // The planner's counting: VllmWorker on generate, PrefillWorker on mock.
    let snap = discovery::snapshot(&Config::etcd_only(&ep), Duration::from_secs(5));
    assert_eq!(snap.live_for_type("t03", "VllmWorker"), Some(2));
    assert_eq!(snap.live_for_type("t03", "vllmworker"), Some(2));
    assert_eq!(snap.live_for_type("t03", "PrefillWorker"), Some(1));
    assert!(snap.of_namespace("t03").all(|i| i.layout == Layout::V03));

    // A revoked lease takes its key away.
    etcd.lease_revoke(l3);
    etcd.lease_revoke(l2);
    let snap = discovery::snapshot(&Config::etcd_only(&ep), Duration::from_secs(5));
    assert_eq!(snap.live_for_type("t03", "VllmWorker"), Some(1));
    assert_eq!(snap.live_for_type("t03", "PrefillWorker"), Some(0));
}

#[test]
fn list_and_show_gain_live_counts_and_sources() {
    let (ep, etcd) = shared();
    let dir = tempfile::tempdir().unwrap();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo");
    // The demo's "dynamo" namespace renamed to ours, so its keys are ours alone.
    let text = std::fs::read_to_string(fixtures.join("dynamo.json"))
        .unwrap()
        .replace("dynamo_", "tls_")
        .replace("\"namespace\": \"dynamo\"", "\"namespace\": \"tls\"");
    std::fs::write(dir.path().join("tls.json"), text).unwrap();
    put_03(&etcd, "tls", "VllmWorker", "generate");
    put_03(&etcd, "tls", "VllmWorker", "generate");
    // Dynamo 1.x: no state file; a hostile component name.
    etcd.put(
        "v1/instances/tls1x/back\u{1b}]2;x\u{7}end/generate/1a2b",
        r#"{"type":"Endpoint","component":"backend","endpoint":"generate","namespace":"tls1x","instance_id":6699,"transport":{"tcp":"127.0.0.1:1/1a2b"},"device_type":"cpu","future_field":[1,2]}"#,
        None,
    );
    let sd = dir.path().to_str().unwrap();

    let r = run(&[
        "--etcd-endpoints",
        &ep,
        "--state-dir",
        sd,
        "list",
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let ns = v["namespaces"].as_array().unwrap();
    let tls = ns.iter().find(|n| n["name"] == "tls").unwrap();
    assert_eq!(tls["sources"], serde_json::json!(["state", "etcd"]));
    assert_eq!(tls["live"], 2);
    let only = ns.iter().find(|n| n["name"] == "tls1x").unwrap();
    assert_eq!(only["sources"], serde_json::json!(["etcd"]));
    assert_eq!(only["live"], 1);
    assert_eq!(only["path"], Value::Null);
    assert_eq!(v["discovery"][0]["status"], "ok");

    let r = run(&["--etcd-endpoints", &ep, "--state-dir", sd, "list"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stdout.contains('\u{1b}'), "{}", r.stdout);
    let row = r.stdout.lines().find(|l| l.starts_with("tls1x")).unwrap();
    assert!(
        row.contains("no state file") && row.contains("etcd"),
        "{row}"
    );

    let r = run(&[
        "--etcd-endpoints",
        &ep,
        "--state-dir",
        sd,
        "show",
        "tls",
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let live = |ty: &str| {
        v["types"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["type"] == ty)
            .unwrap()["live"]
            .clone()
    };
    assert_eq!(live("VllmWorker"), 2);
    assert_eq!(live("PrefillWorker"), 0);

    // A namespace only discovery knows: shown, unknown fields kept, text escaped.
    let r = run(&["--etcd-endpoints", &ep, "--state-dir", sd, "show", "tls1x"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("no state file"), "{}", r.stdout);
    assert!(r.stdout.contains("future_field=[1,2]"), "{}", r.stdout);
    assert!(
        r.stdout.contains("back\\u{1b}]2;x\\u{7}end"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains('\u{1b}'));
    let r = run(&[
        "--etcd-endpoints",
        &ep,
        "--state-dir",
        sd,
        "show",
        "tls1x",
        "-o",
        "json",
    ]);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["live_instances"][0]["value"]["future_field"][1], 2);
    assert_eq!(v["types"][0]["live"], 1);

    // Without a discovery source, live is null.
    let r = run(&[
        "--no-discovery",
        "--state-dir",
        sd,
        "show",
        "tls",
        "-o",
        "json",
    ]);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["types"][0]["live"], Value::Null);
}

#[test]
fn a_stopped_etcd_fails_promptly_with_an_error_status() {
    let port = free_port();
    let ep = format!("http://127.0.0.1:{port}");
    let snap = discovery::snapshot(&Config::etcd_only(&ep), Duration::from_secs(3));
    assert_eq!(snap.sources.len(), 1);
    assert_eq!(snap.sources[0].status, Status::Error);
    assert!(snap.sources[0].error.is_some());
    assert_eq!(snap.live_for_type("x", "VllmWorker"), None);
    let r = run(&["--etcd-endpoints", &ep, "instances", "-o", "json"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["sources"][0]["status"], "error");
}

#[test]
fn real_dynamo_workers_through_etcd() {
    let (ep, _etcd) = shared();
    let logs = tempfile::tempdir().unwrap();
    let live = Live::start(Config::etcd_only(&ep));
    let mut a = Worker::start("rde.backend.generate", Backend::Etcd(&ep), logs.path());
    let mut b = Worker::start("rde.backend.generate", Backend::Etcd(&ep), logs.path());
    let mut want = vec![(a.id_hex.clone(), false), (b.id_hex.clone(), false)];
    want.sort();
    let i = live.wait(60, "two workers registered", |s| ids(s, "rde") == want);
    let s = live.get(i);
    let inst = s.of_namespace("rde").next().unwrap();
    assert_eq!(inst.layout, Layout::V1);
    assert_eq!(inst.source, SourceKind::Etcd);
    assert_eq!(inst.value()["type"], "Endpoint");
    assert!(inst.transport().get("tcp").is_some(), "{inst:?}");
    assert!(inst.lease.is_some());
    assert_eq!(s.count("rde", "backend", Some("generate")), Some(2));

    // SIGTERM: the worker revokes its lease on the way out; gone at once.
    a.signal(libc::SIGTERM);
    let b_only = vec![(b.id_hex.clone(), false)];
    let i = live.wait_from(i, 30, "the SIGTERMed worker gone", |s| {
        ids(s, "rde") == b_only
    });
    a.reap();
    // SIGKILL: the key stays until its lease (10 s) expires.
    b.signal(libc::SIGKILL);
    b.reap();
    live.wait_from(i, 40, "the SIGKILLed worker's lease expired", |s| {
        ids(s, "rde").is_empty()
    });
}

#[test]
fn real_dynamo_workers_through_the_file_store() {
    let root = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let mut cfg = Config::file_only(root.path());
    cfg.grace = Duration::from_secs(2);
    let live = Live::start(cfg);
    let mut a = Worker::start(
        "rdf.backend.generate",
        Backend::File(root.path()),
        logs.path(),
    );
    let mut b = Worker::start(
        "rdf.backend.generate",
        Backend::File(root.path()),
        logs.path(),
    );
    let mut want = vec![(a.id_hex.clone(), false), (b.id_hex.clone(), false)];
    want.sort();
    let i = live.wait(60, "two workers registered", |s| ids(s, "rdf") == want);
    let s = live.get(i);
    let inst = s.of_namespace("rdf").next().unwrap();
    assert_eq!(inst.source, SourceKind::File);
    assert!(inst.modified.is_some());
    // The CLI sees them too.
    let r = run(&[
        "--file-kv",
        root.path().to_str().unwrap(),
        "instances",
        "rdf",
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["instances"].as_array().unwrap().len(), 2, "{}", r.stdout);
    assert_eq!(v["sources"][0]["kind"], "file");

    // SIGTERM: the worker deletes its file; gone at once.
    a.signal(libc::SIGTERM);
    let b_only = vec![(b.id_hex.clone(), false)];
    let i = live.wait_from(i, 30, "the SIGTERMed worker gone", |s| {
        ids(s, "rdf") == b_only
    });
    a.reap();
    // SIGKILL: nobody touches the file any more: stale after the TTL, then dropped.
    b.signal(libc::SIGKILL);
    b.reap();
    let stale = vec![(b.id_hex.clone(), true)];
    let i = live.wait_from(i, 40, "the SIGKILLed worker stale", |s| {
        ids(s, "rdf") == stale
    });
    assert_eq!(live.get(i).count("rdf", "backend", None), Some(0));
    live.wait_from(i, 40, "the stale worker dropped", |s| {
        ids(s, "rdf").is_empty()
    });
}

#[test]
fn etcd_restarted_under_a_watch_recovers_exactly() {
    let mut etcd = Etcd::start();
    let ep = etcd.endpoint();
    for k in ["aa", "bb"] {
        etcd.put(&format!("v1/instances/rs/c/e/{k}"), "{}", None);
    }
    let live = Live::start(Config::etcd_only(&ep));
    let key_ids =
        |s: &discovery::Snapshot| ids(s, "rs").into_iter().map(|x| x.0).collect::<Vec<_>>();
    let i = live.wait(20, "the first state", |s| key_ids(s) == ["aa", "bb"]);
    etcd.stop();
    let i = live.wait_from(i, 20, "an error status", |s| {
        s.sources.first().is_some_and(|x| x.status == Status::Error)
    });
    assert_eq!(live.get(i).count("rs", "c", None), None);
    // Calls return promptly while it is down.
    let snap = discovery::snapshot(&Config::etcd_only(&ep), Duration::from_secs(3));
    assert_eq!(snap.sources[0].status, Status::Error);
    etcd.spawn();
    // Changed while the watch was away: one gone, one new.
    etcd.delete("v1/instances/rs/c/e/aa");
    etcd.put("v1/instances/rs/c/e/cc", "{}", None);
    let i = live.wait_from(i, 30, "the state after the restart", |s| {
        s.sources[0].status == Status::Ok && key_ids(s) == ["bb", "cc"]
    });
    // And the watch goes on from there.
    etcd.put("v1/instances/rs/c/e/dd", "{}", None);
    live.wait_from(i, 20, "a change after the restart", |s| {
        key_ids(s) == ["bb", "cc", "dd"]
    });
}

#[test]
fn a_compacted_revision_forces_a_resync() {
    let (ep, etcd) = shared();
    etcd.put("v1/instances/cmp/c/e/a1", "{}", None);
    let mut cfg = Config::etcd_only(&ep);
    // The watch starts 4 s after the snapshot: the test compacts past it meanwhile (a
    // few etcd calls, well within that).
    cfg.watch_delay = Duration::from_secs(4);
    let live = Live::start(cfg);
    let key_ids =
        |s: &discovery::Snapshot| ids(s, "cmp").into_iter().map(|x| x.0).collect::<Vec<_>>();
    let i = live.wait(20, "the first state", |s| key_ids(s) == ["a1"]);
    etcd.put("v1/instances/cmp/c/e/b2", "{}", None);
    etcd.delete("v1/instances/cmp/c/e/a1");
    etcd.compact();
    let i = live.wait_from(i, 30, "the resync after compaction", |s| {
        key_ids(s) == ["b2"] && s.sources[0].resyncs >= 1
    });
    etcd.put("v1/instances/cmp/c/e/c3", "{}", None);
    live.wait_from(i, 30, "a change after the resync", |s| {
        key_ids(s) == ["b2", "c3"]
    });
}

#[test]
fn file_store_layout_hostile_files_and_tmp_files() {
    let root = tempfile::tempdir().unwrap();
    let bucket = root.path().join("v1/instances");
    std::fs::create_dir_all(&bucket).unwrap();
    let v = r#"{"type":"Endpoint","component":"backend","endpoint":"generate","namespace":"fs","instance_id":1,"transport":{"tcp":"x"}}"#;
    std::fs::write(bucket.join("fs%2Fbackend%2Fgenerate%2F24f41fc93f71170b"), v).unwrap();
    std::fs::write(bucket.join(".tmp_0123abcd"), v).unwrap();
    std::fs::write(bucket.join("fs%2Fbackend%2Fgenerate%2Fzz"), v).unwrap();
    std::fs::write(bucket.join("fs%2Fbackend%2Fgenerate%2F1"), "{").unwrap();
    // A FIFO is never opened (a read would block): reported, not read.
    let fifo = std::ffi::CString::new(bucket.join("fs%2Fbackend%2Fgenerate%2F3").to_str().unwrap())
        .unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    // An old file: stale (listed, not counted).
    let old = bucket.join("fs%2Fbackend%2Fgenerate%2F2");
    std::fs::write(&old, v).unwrap();
    let f = std::fs::File::options().write(true).open(&old).unwrap();
    f.set_modified(std::time::SystemTime::now() - Duration::from_secs(15))
        .unwrap();
    let snap = discovery::snapshot(&Config::file_only(root.path()), Duration::from_secs(3));
    assert_eq!(snap.sources[0].status, Status::Ok);
    assert_eq!(
        ids(&snap, "fs"),
        vec![
            ("2".to_string(), true),
            ("24f41fc93f71170b".to_string(), false)
        ]
    );
    assert_eq!(snap.malformed_count, 3, "{:?}", snap.malformed);
    assert!(
        snap.malformed
            .iter()
            .any(|m| m.contains("not a regular file"))
    );
    assert_eq!(snap.count("fs", "backend", None), Some(1));
    // A configured root that does not exist is an error, not a hang.
    let snap = discovery::snapshot(
        &Config::file_only(root.path().join("missing")),
        Duration::from_secs(3),
    );
    assert_eq!(snap.sources[0].status, Status::Error);
}

/// circusd running one real Dynamo worker of `ns` (see `DynamoCircus`), once that worker is
/// registered in the etcd at `ep`.
fn deployment_with_one_worker(ns: &str, ep: &str) -> (DynamoCircus, Config) {
    let circus = DynamoCircus::start(ns, ep);
    let cfg = Config::etcd_only(ep);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while discovery::snapshot(&cfg, Duration::from_secs(3)).live_for_type(ns, "VllmWorker")
        != Some(1)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the first worker never registered: {}",
            std::fs::read_to_string(circus.root.path().join("circusd.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_namespace_on_loopback(&["--etcd-endpoints", ep], ns);
    (circus, cfg)
}

#[test]
fn add_and_remove_follow_the_worker_into_discovery() {
    let (ep, _etcd) = shared();
    let ns = "dwait";
    let (circus, cfg) = deployment_with_one_worker(ns, &ep);
    let sd = circus.state_dir();
    let sd = sd.to_str().unwrap();
    let r = run(&[
        "--etcd-endpoints",
        &ep,
        "--state-dir",
        sd,
        "add",
        ns,
        "VllmWorker",
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains(
            "waiting for discovery to register VllmWorker on endpoint generate (1 registered now)"
        ),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("2 registered in discovery"),
        "{}",
        r.stderr
    );
    // Returned only once it was registered.
    let snap = discovery::snapshot(&cfg, Duration::from_secs(3));
    assert_eq!(snap.live_for_type(ns, "VllmWorker"), Some(2));

    let r = run(&[
        "--etcd-endpoints",
        &ep,
        "--state-dir",
        sd,
        "remove",
        ns,
        "VllmWorker",
    ]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("waiting for discovery to drop VllmWorker"),
        "{}",
        r.stderr
    );
    let snap = discovery::snapshot(&cfg, Duration::from_secs(3));
    assert_eq!(snap.live_for_type(ns, "VllmWorker"), Some(1));

    // --no-discovery: no wait.
    let other = tempfile::tempdir().unwrap();
    let r = run(&[
        "--file-kv",
        other.path().to_str().unwrap(),
        "--no-discovery",
        "--state-dir",
        sd,
        "add",
        ns,
        "VllmWorker",
    ]);
    assert_eq!(r.code, 0, "--no-discovery: no wait\n{}", r.stderr);
    assert!(!r.stderr.contains("discovery"), "{}", r.stderr);
    // A configured source where the worker never registers (it registers in etcd, the
    // file store is asked): the wait reports its timeout and exits 1; the process runs.
    let r = run(&[
        "--file-kv",
        other.path().to_str().unwrap(),
        "--start-timeout",
        "2",
        "--state-dir",
        sd,
        "add",
        ns,
        "VllmWorker",
    ]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(
            "still not registered in discovery after 2 s: 0 before, 0 now (--start-timeout)"
        ),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("running"), "{}", r.stderr);
}

#[test]
fn the_file_store_is_followed_by_inotify_and_by_polling() {
    for poll in [false, true] {
        let root = tempfile::tempdir().unwrap();
        let mut cfg = Config::file_only(root.path());
        cfg.poll = poll;
        // The root exists, the bucket not yet: it appears with the first registration.
        let live = Live::start(cfg);
        let i = live.wait(10, "the first (empty) state", |s| {
            s.sources.first().is_some_and(|x| x.status == Status::Ok)
        });
        let bucket = root.path().join("v1/instances");
        std::fs::create_dir_all(&bucket).unwrap();
        let v = r#"{"type":"Endpoint","component":"backend","endpoint":"generate","namespace":"fw","instance_id":1,"transport":{"tcp":"x"}}"#;
        // Written as Dynamo writes: a .tmp_ file renamed into place.
        std::fs::write(bucket.join(".tmp_00aa"), v).unwrap();
        let i = live.wait_from(i, 10, "nothing from a .tmp_ file", |s| {
            s.malformed_count == 0 && s.sources[0].status == Status::Ok
        });
        std::fs::rename(
            bucket.join(".tmp_00aa"),
            bucket.join("fw%2Fbackend%2Fgenerate%2Fab"),
        )
        .unwrap();
        let i = live.wait_from(i, 10, &format!("the new file (poll {poll})"), |s| {
            ids(s, "fw") == [("ab".to_string(), false)]
        });
        std::fs::remove_file(bucket.join("fw%2Fbackend%2Fgenerate%2Fab")).unwrap();
        live.wait_from(i, 10, &format!("the file gone (poll {poll})"), |s| {
            ids(s, "fw").is_empty()
        });
    }
}

fn write_instance(root: &std::path::Path, ns: &str, id: &str) {
    let bucket = root.join("v1/instances");
    std::fs::create_dir_all(&bucket).unwrap();
    std::fs::write(
        bucket.join(format!("{ns}%2Fbackend%2Fgenerate%2F{id}")),
        r#"{"type":"Endpoint","transport":{"tcp":"x"}}"#,
    )
    .unwrap();
}

#[test]
fn the_live_view_runs_on_the_callers_runtime_and_stops_with_its_handle() {
    let root = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let handle = discovery::spawn_watch(Config::file_only(root.path()), move |s| {
            let _ = tx.send(s);
        });
        let first = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(first.sources[0].kind, SourceKind::File);
        write_instance(root.path(), "rt", "ab");
        loop {
            let s = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .expect("the new instance")
                .unwrap();
            if ids(&s, "rt") == [("ab".to_string(), false)] {
                break;
            }
        }
        // Dropping the handle ends the view: its callback (and our sender) goes with it.
        drop(handle);
        while let Some(_s) = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("the view stopped")
        {}
    });
}

#[test]
fn without_a_runtime_the_live_view_has_its_own_thread_and_stops_with_its_handle() {
    let root = tempfile::tempdir().unwrap();
    write_instance(root.path(), "th", "cd");
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = discovery::spawn_watch(Config::file_only(root.path()), move |s| {
        let _ = tx.send(s);
    });
    let s = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(ids(&s, "th"), [("cd".to_string(), false)]);
    // stop() joins the view's thread: the callback is gone when it returns.
    handle.stop();
    while rx.try_recv().is_ok() {}
    assert!(matches!(
        rx.try_recv(),
        Err(std::sync::mpsc::TryRecvError::Disconnected)
    ));
}

#[test]
fn an_etcd_that_accepts_and_never_answers_is_bounded_by_the_timeout() {
    // The kernel accepts connections into the backlog; nothing ever answers them.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ep = format!("http://{}", l.local_addr().unwrap());
    let mut cfg = Config::etcd_only(&ep);
    cfg.timeout = Duration::from_millis(500);
    let snap = discovery::snapshot(&cfg, Duration::from_secs(1));
    assert_eq!(snap.sources[0].status, Status::Error, "{snap:?}");
    let r = run(&[
        "--etcd-endpoints",
        &ep,
        "--discovery-timeout",
        "0.5",
        "list",
        "--state-dir",
        "/nonexistent-dir-for-this-test",
    ]);
    // No namespace anywhere: the state directory's error, after a bounded wait.
    assert_eq!(r.code, 1, "{}", r.stderr);
    drop(l);
}

#[test]
fn sources_come_from_the_environment_as_dynamo_reads_it_and_flags_win() {
    let (ep, etcd) = shared();
    etcd.put(
        "v1/instances/envns/backend/generate/77",
        r#"{"transport":{"tcp":"x"}}"#,
        None,
    );
    let fkv = tempfile::tempdir().unwrap();
    write_instance(fkv.path(), "envns", "88");
    // ETCD_ENDPOINTS is comma-separated; a dead endpoint beside a live one is fine.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let both = format!("{dead},{ep}");
    let r = run_env(
        &["instances", "envns", "-o", "json"],
        &[
            ("ETCD_ENDPOINTS", both.as_str()),
            ("DYN_FILE_KV", fkv.path().to_str().unwrap()),
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["sources"][0]["location"], both.as_str());
    assert_eq!(v["sources"][0]["status"], "ok", "{}", r.stdout);
    assert_eq!(v["sources"][1]["kind"], "file");
    let ids: Vec<&str> = v["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["instance_id_hex"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["77", "88"]);
    // A flag (anywhere on the line) wins over the variable.
    let r = run_env(
        &[
            "instances",
            "envns",
            "--etcd-endpoints",
            &dead,
            "-o",
            "json",
        ],
        &[("ETCD_ENDPOINTS", ep.as_str())],
    );
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["sources"][0]["location"], dead.as_str());
    assert_eq!(v["sources"][0]["status"], "error");
    assert_eq!(r.code, 1);
    // --no-discovery: no source at all.
    let r = run_env(
        &["--no-discovery", "instances", "-o", "json"],
        &[("ETCD_ENDPOINTS", ep.as_str())],
    );
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["sources"], serde_json::json!([]));
}

/// The TUI as an operator uses it, against a real circusd running real Dynamo workers that
/// register in a real etcd: `a` then `y` starts a worker, and the footer follows it until
/// discovery shows it; `i` lists it flashing; `r` then `y` stops one and follows its
/// registration out.
#[test]
fn the_tui_follows_an_add_and_a_remove_into_discovery() {
    use tmux_support::{START, Tmux};
    let (ep, _etcd) = shared();
    let ns = "dtui";
    let (circus, _cfg) = deployment_with_one_worker(ns, &ep);
    let t = Tmux::start();
    t.type_line(&format!(
        "{} --etcd-endpoints {ep} --state-dir '{}' -n {ns}",
        env!("CARGO_BIN_EXE_dynamo-ctl"),
        circus.state_dir().display()
    ));
    t.wait_for("the dashboard with one live worker", START, |s| {
        s.contains("online (1 watchers)")
            && s.lines()
                .any(|l| l.contains(" VllmWorker ") && l.contains("● 1   1 "))
    });
    t.keys(&["a"]);
    t.wait_for("the chooser", START, |s| s.contains("Add which type"));
    t.keys(&["Enter"]);
    t.wait_for("the confirm", START, |s| {
        s.contains("Add dtui_VllmWorker_1")
    });
    t.keys(&["y"]);
    let s = t.wait_for("the registration followed", Duration::from_secs(90), |s| {
        s.contains("registered in discovery, after")
    });
    assert!(
        s.contains("VllmWorker on endpoint generate: 2 registered in discovery"),
        "{s}"
    );
    t.wait_for("2 desired, 2 live", START, |s| {
        s.lines()
            .any(|l| l.contains(" VllmWorker ") && l.contains("● 2   2 "))
    });
    t.keys(&["i"]);
    let s = t.wait_for("the registrations", START, |s| {
        s.contains("dtui registered instances (2)")
    });
    let rows = s
        .lines()
        .filter(|l| l.contains("VllmWorker generate") && l.contains("etcd 1.x"))
        .count();
    assert_eq!(rows, 2, "{s}");
    t.keys(&["Escape"]);
    t.wait_for("the dashboard", START, |s| {
        !s.contains("registered instances")
    });
    t.keys(&["r"]);
    t.wait_for("the chooser", START, |s| s.contains("Remove which type"));
    t.keys(&["Enter"]);
    t.wait_for("the confirm", START, |s| {
        s.contains("Remove dtui_VllmWorker_1")
    });
    t.keys(&["y"]);
    let s = t.wait_for("the removal followed", Duration::from_secs(90), |s| {
        s.contains("1 registered in discovery, after")
    });
    assert!(s.contains("(2 before)"), "{s}");
    t.keys(&["q"]);
}

// ------------------------------------------------------------------ hostile sources

/// A file-store entry written beside a real Dynamo worker's, in the same format, with its
/// mtime set to `t`.
fn entry_with_mtime(root: &std::path::Path, ns: &str, id: &str, t: std::time::SystemTime) {
    let bucket = root.join("v1/instances");
    std::fs::create_dir_all(&bucket).unwrap();
    let path = bucket.join(format!("{ns}%2Fbackend%2Fgenerate%2F{id}"));
    std::fs::write(
        &path,
        format!(
            r#"{{"type":"Endpoint","component":"backend","endpoint":"generate","namespace":"{ns}","instance_id":{},"transport":{{"tcp":"127.0.0.1:1/{id}/{ns}/backend/generate"}}}}"#,
            u64::from_str_radix(id, 16).unwrap()
        ),
    )
    .unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

/// Far-future mtimes as a hostile (or skewed) file store can hold them: the end of time
/// (i64::MAX s, which overflowed the staleness timer), 2^62 s and 10^13 s (past chrono's
/// range: its JSON panicked), the year 2100, and one before 1970.
fn hostile_mtimes() -> Vec<(&'static str, std::time::SystemTime)> {
    use std::time::UNIX_EPOCH;
    vec![
        ("e1", UNIX_EPOCH + Duration::from_secs(i64::MAX as u64)),
        ("e2", UNIX_EPOCH + Duration::from_secs(1 << 62)),
        ("e3", UNIX_EPOCH + Duration::from_secs(10_000_000_000_000)),
        ("e4", UNIX_EPOCH + Duration::from_secs(4_102_444_800)),
        ("e5", UNIX_EPOCH - Duration::from_secs(1_000_000_000)),
    ]
}

#[test]
fn hostile_mtimes_never_panic_and_a_future_one_counts_as_touched_when_first_seen() {
    let root = tmpfs_dir();
    let logs = tempfile::tempdir().unwrap();
    let rootp = root.path().to_str().unwrap();
    // A real Dynamo worker registers in the store; hostile entries beside it.
    let worker = Worker::start(
        "hmt.backend.generate",
        Backend::File(root.path()),
        logs.path(),
    );
    let cfg = Config::file_only(root.path());
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while discovery::snapshot(&cfg, Duration::from_secs(3)).count("hmt", "backend", None) != Some(1)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the worker never registered"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    for (id, t) in hostile_mtimes() {
        entry_with_mtime(root.path(), "hmt", id, t);
    }
    let kept = |id: &str| {
        std::fs::metadata(
            root.path()
                .join(format!("v1/instances/hmt%2Fbackend%2Fgenerate%2F{id}")),
        )
        .unwrap()
        .modified()
        .unwrap()
    };
    // Every command that prints an instance, bounded: none panics (exit 101) or hangs.
    let empty = tempfile::tempdir().unwrap();
    let state = empty.path().to_str().unwrap();
    for args in [
        vec!["instances", "-o", "json"],
        vec!["instances"],
        vec!["instances", "hmt", "-o", "json"],
        vec!["show", "hmt", "-o", "json"],
        vec!["show", "hmt"],
        vec!["list", "-o", "json"],
        vec!["list"],
    ] {
        let mut all = vec!["--file-kv", rootp, "--state-dir", state];
        all.extend(args.iter());
        let r = run_deadline(&all, 30);
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{args:?}: {}", r.stderr);
    }
    let r = run_deadline(&["--file-kv", rootp, "instances", "hmt", "-o", "json"], 30);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let insts = v["instances"].as_array().unwrap();
    assert_eq!(insts.len(), 5, "{}", r.stdout);
    let by_id = |id: &str| {
        insts
            .iter()
            .find(|i| i["instance_id_hex"] == id)
            .unwrap_or_else(|| panic!("{id} in {}", r.stdout))
    };
    assert_eq!(by_id(&worker.id_hex)["stale"], false);
    // In the future: just touched (clock skew), live; the date when it can be written.
    for id in ["e1", "e2", "e3", "e4"] {
        assert_eq!(by_id(id)["stale"], false, "{id}");
    }
    if kept("e2") > std::time::UNIX_EPOCH + Duration::from_secs(1 << 61) {
        // tmpfs kept it: no RFC 3339 date that far out.
        assert_eq!(by_id("e2")["modified"], Value::Null);
    }
    assert_eq!(by_id("e4")["modified"], "2100-01-01T00:00:00.000Z");
    // Long before 1970: long stale, dropped.
    assert!(insts.iter().all(|i| i["instance_id_hex"] != "e5"));

    // The live view: an mtime in the future keeps an entry live one TTL from when it was
    // first seen, not until the date it claims; a new mtime is a new touch.
    let mut cfg = Config::file_only(root.path());
    cfg.ttl = Duration::from_secs(4);
    cfg.grace = Duration::from_secs(2);
    let live = Live::start(cfg);
    // The hostile entries only (the worker's random id may start with `e` too).
    let future = |s: &discovery::Snapshot| {
        ids(s, "hmt")
            .into_iter()
            .filter(|(id, _)| ["e1", "e2", "e3", "e4", "e5"].contains(&id.as_str()))
            .collect::<Vec<_>>()
    };
    let i = live.wait(20, "the future entries live", |s| {
        future(s)
            == [
                ("e1".into(), false),
                ("e2".into(), false),
                ("e3".into(), false),
                ("e4".into(), false),
            ]
    });
    let i = live.wait_from(i, 20, "the future entries stale after one TTL", |s| {
        future(s).iter().all(|(_, stale)| *stale) && future(s).len() == 4
    });
    let i = live.wait_from(i, 20, "the future entries dropped after the grace", |s| {
        future(s).is_empty()
    });
    // Other files keep changing (the worker touches its own): that brings none back.
    let n = live.len();
    live.wait_from(n, 20, "another change", |_| true);
    assert!(future(&live.get(live.len() - 1)).is_empty());
    // Touched again (a new mtime, still in the future): live again.
    entry_with_mtime(
        root.path(),
        "hmt",
        "e4",
        std::time::UNIX_EPOCH + Duration::from_secs(4_102_444_801),
    );
    live.wait_from(i, 20, "e4 live again", |s| {
        future(s) == [("e4".into(), false)]
    });
    drop(worker);
}

/// The TUI opens a namespace whose entries claim the end of time (it panicked at start in
/// the staleness timer, and in the JSON of a discovery-only namespace).
#[test]
fn the_tui_opens_a_namespace_whose_entries_claim_the_end_of_time() {
    use tmux_support::{START, Tmux};
    let root = tmpfs_dir();
    for (id, t) in hostile_mtimes() {
        entry_with_mtime(root.path(), "hmtui", id, t);
    }
    let empty = tempfile::tempdir().unwrap();
    let t = Tmux::start();
    t.type_line(&format!(
        "{} --file-kv '{}' --state-dir '{}' -n hmtui; echo \"TUI\"\"-EXIT=$?\"",
        env!("CARGO_BIN_EXE_dynamo-ctl"),
        root.path().display(),
        empty.path().display()
    ));
    let s = t.wait_for("the discovery-only dashboard", START, |s| {
        s.contains("registered components") || s.contains("TUI-EXIT=")
    });
    assert!(!s.contains("TUI-EXIT="), "{s}");
    assert!(s.contains("e4 file"), "{s}");
    // The registrations panel, the entry and its JSON: nothing panics.
    t.keys(&["i"]);
    t.wait_for("the registrations", START, |s| {
        s.contains("hmtui registered instances (4)") || s.contains("TUI-EXIT=")
    });
    t.keys(&["Enter"]);
    let s = t.wait_for("the entry", START, |s| {
        s.contains("value, as stored") || s.contains("TUI-EXIT=")
    });
    assert!(!s.contains("TUI-EXIT="), "{s}");
    t.keys(&["C-c"]);
    let s = t.wait_for("the exit", START, |s| s.contains("TUI-EXIT="));
    assert!(s.contains("TUI-EXIT=0"), "{s}");
}

/// Values of a megabyte and more (each accepted by etcd) beside good registrations: a
/// range page asked for 1,000 of them passes any sane decode limit. The source pages by
/// size as well, counts each oversized value as malformed, and loses no good instance.
#[test]
fn big_values_in_etcd_are_counted_and_never_fail_the_source() {
    // 32 MiB requests: room for one entry past the 16 MiB page limit as well.
    let etcd = Etcd::start_with(&["--max-request-bytes", "33554432"]);
    let ep = etcd.endpoint();
    let good = |id: u64| {
        format!(
            r#"{{"type":"Endpoint","component":"backend","endpoint":"generate","namespace":"bigv","instance_id":{id},"transport":{{"tcp":"127.0.0.1:1/{id:x}"}}}}"#
        )
    };
    etcd.put("v1/instances/bigv/backend/generate/1", &good(1), None);
    let big = format!(r#"{{"type":"Endpoint","pad":"{}"}}"#, "x".repeat(1_400_000));
    for n in 0..50u64 {
        etcd.put(
            &format!("v1/instances/bigv/backend/generate/{:x}", 0x100 + n),
            &big,
            None,
        );
    }
    // One entry alone past a whole page's limit: counted from its key.
    etcd.put(
        "v1/instances/bigv/backend/generate/ffff",
        &"y".repeat(17 << 20),
        None,
    );
    etcd.put(
        "v1/instances/bigv/backend/generate/fffff",
        &good(0xfffff),
        None,
    );
    put_03(&etcd, "bigv", "backend", "generate");

    // 90 MB to move: the time limit is for slow machines, not part of the point.
    let r = run_deadline(
        &[
            "--discovery-timeout",
            "30",
            "--etcd-endpoints",
            &ep,
            "instances",
            "bigv",
            "-o",
            "json",
        ],
        60,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("51 malformed"), "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["sources"][0]["status"], "ok", "{}", r.stdout);
    assert_eq!(v["malformed"], 51);
    let ids: Vec<&str> = v["instances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["instance_id_hex"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    assert!(ids.contains(&"1") && ids.contains(&"fffff"), "{ids:?}");
    let r = run_deadline(
        &[
            "--discovery-timeout",
            "30",
            "--etcd-endpoints",
            &ep,
            "-v",
            "list",
            "-o",
            "json",
        ],
        60,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("over the 16777216 byte cap"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("over the 1048576 byte cap"),
        "{}",
        r.stderr
    );

    // The live view: the same, then a change on top.
    let live = Live::start(Config::etcd_only(&ep));
    let i = live.wait(30, "the good instances", |s| {
        s.answered() && s.count("bigv", "backend", None) == Some(3) && s.malformed_count == 51
    });
    etcd.put("v1/instances/bigv/backend/generate/2", &good(2), None);
    etcd.put("v1/instances/bigv/backend/generate/3", &big, None);
    live.wait_from(i, 30, "one more, one more malformed", |s| {
        s.count("bigv", "backend", None) == Some(4) && s.malformed_count == 52
    });
}

/// With no state file and an unreachable etcd, `list` must not say "no namespaces" as if
/// all were well: each source's health is said, and nothing listed with every source
/// failed is exit 1.
#[test]
fn list_names_a_failing_source_and_fails_when_nothing_could_be_listed() {
    let dead = format!("http://127.0.0.1:{}", free_port());
    let empty = tempfile::tempdir().unwrap();
    let state = empty.path().to_str().unwrap();
    let missing = empty.path().join("missing");
    let missing = missing.to_str().unwrap();
    let r = run_deadline(
        &["--etcd-endpoints", &dead, "--state-dir", state, "list"],
        30,
    );
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("no namespaces in"), "{}", r.stderr);
    let last = r.stdout.lines().last().unwrap_or_default();
    assert!(
        last.starts_with("discovery: etcd") && last.contains("error"),
        "{}",
        r.stdout
    );
    let r = run_deadline(
        &[
            "--etcd-endpoints",
            &dead,
            "--state-dir",
            state,
            "list",
            "-o",
            "json",
        ],
        30,
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["discovery"][0]["status"], "error");
    assert_eq!(v["namespaces"], serde_json::json!([]));
    // No state directory at all: its error, and discovery's health.
    let r = run_deadline(
        &["--etcd-endpoints", &dead, "--state-dir", missing, "list"],
        30,
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("discovery: etcd") && r.stderr.contains("error"),
        "{}",
        r.stderr
    );
    // A file store and a dead etcd: the file store's namespace is listed, exit 0, with
    // both sources' health as the last line.
    let root = tempfile::tempdir().unwrap();
    write_instance(root.path(), "lsf", "ab");
    let r = run_deadline(
        &[
            "--etcd-endpoints",
            &dead,
            "--file-kv",
            root.path().to_str().unwrap(),
            "--state-dir",
            state,
            "list",
        ],
        30,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let last = r.stdout.lines().last().unwrap_or_default();
    assert!(
        last.contains("etcd") && last.contains("error") && last.contains("file"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("lsf"), "{}", r.stdout);
    // A state file and a dead etcd: listed, exit 0, the health said.
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/demo/dynamo.json"),
        dir.path().join("dynamo.json"),
    )
    .unwrap();
    let r = run_deadline(
        &[
            "--etcd-endpoints",
            &dead,
            "--state-dir",
            dir.path().to_str().unwrap(),
            "list",
        ],
        30,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .lines()
            .last()
            .unwrap_or_default()
            .starts_with("discovery: etcd")
    );
    // `show` of a namespace nobody knows: its error, and discovery's health.
    let r = run_deadline(
        &[
            "--etcd-endpoints",
            &dead,
            "--state-dir",
            state,
            "show",
            "nope",
        ],
        30,
    );
    assert_ne!(r.code, 0);
    assert!(
        r.stderr.contains("discovery: etcd") && r.stderr.contains("error"),
        "{}",
        r.stderr
    );
    // `instances`: the same rule (as before).
    let r = run_deadline(&["--etcd-endpoints", &dead, "instances"], 30);
    assert_eq!(r.code, 1);
    assert!(
        r.stdout
            .lines()
            .last()
            .unwrap_or_default()
            .starts_with("discovery: etcd")
    );
}

/// inotify watches this process holds (every inotify fd's `inotify wd:` lines).
fn inotify_watches() -> usize {
    let mut n = 0;
    for fd in std::fs::read_dir("/proc/self/fdinfo").unwrap().flatten() {
        if let Ok(text) = std::fs::read_to_string(fd.path()) {
            n += text
                .lines()
                .filter(|l| l.starts_with("inotify wd:"))
                .count();
        }
    }
    n
}

/// The child half of the test below (a process of its own, so only its watches count):
/// follows the store at `$DCTL_INOTIFY_ROOT` and prints how many watches that took.
#[test]
fn inotify_child_follows_a_store_and_counts_its_watches() {
    let Some(root) = std::env::var_os("DCTL_INOTIFY_ROOT") else {
        return;
    };
    let root = std::path::PathBuf::from(root);
    let live = Live::start(Config::file_only(&root));
    let i = live.wait(20, "the first snapshot", |s| s.answered());
    // Followed through the symlink: a new entry shows.
    write_instance(&root, "ino", "ab");
    live.wait_from(i, 20, "the new entry", |s| {
        ids(s, "ino") == [("ab".to_string(), false)]
    });
    println!("INOTIFY-WATCHES {}", inotify_watches());
}

/// A store bucket that is a symlink to a big tree: one inotify watch, not one per
/// directory of the tree (the limit is per user, shared with every other program).
#[test]
fn a_bucket_symlinked_to_a_big_tree_costs_one_inotify_watch() {
    let tree = tempfile::tempdir().unwrap();
    for a in 0..20 {
        for b in 0..10 {
            std::fs::create_dir_all(tree.path().join(format!("d{a}/e{b}/f"))).unwrap();
        }
    }
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("v1")).unwrap();
    std::os::unix::fs::symlink(tree.path(), root.path().join("v1/instances")).unwrap();
    let o = std::process::Command::new("timeout")
        .args(["-s", "KILL", "60"])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "inotify_child_follows_a_store_and_counts_its_watches",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("DCTL_INOTIFY_ROOT", root.path())
        .env_remove("DYNAMO_CTL_WATCH")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    let n: usize = out
        .lines()
        .find_map(|l| l.split("INOTIFY-WATCHES ").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("{out}\n{}", String::from_utf8_lossy(&o.stderr)))
        .parse()
        .unwrap();
    assert!((1..=2).contains(&n), "{n} inotify watches for one bucket");
}

/// Each snapshot of a live view says what was added and removed since the one before:
/// replayed from the first, the changes give every later snapshot's instances exactly,
/// through puts, deletes, a revoked lease, etcd going down and coming back (whole-state
/// resets), file-store entries written, removed and expiring.
#[test]
fn live_snapshots_say_exactly_what_was_added_and_removed() {
    use std::collections::HashSet;
    let mut etcd = Etcd::start();
    let ep = etcd.endpoint();
    let root = tempfile::tempdir().unwrap();
    etcd.put("v1/instances/chg/c/e/a1", "{}", None);
    write_instance(root.path(), "chg", "f1");
    let mut cfg = Config::etcd_only(&ep);
    cfg.file = Config::file_only(root.path()).file;
    cfg.ttl = Duration::from_secs(2);
    cfg.grace = Duration::from_secs(1);
    let live = Live::start(cfg);
    let key_ids =
        |s: &discovery::Snapshot| ids(s, "chg").into_iter().map(|x| x.0).collect::<Vec<_>>();
    live.wait(20, "the first state", |s| key_ids(s) == ["a1", "f1"]);
    etcd.put("v1/instances/chg/c/e/a2", "{}", None);
    let lease = etcd.lease_grant(60);
    etcd.put("v1/instances/chg/c/e/a3", "{}", Some(lease));
    write_instance(root.path(), "chg", "f2");
    live.wait(20, "four", |s| key_ids(s) == ["a1", "a2", "a3", "f1", "f2"]);
    etcd.delete("v1/instances/chg/c/e/a1");
    etcd.lease_revoke(lease);
    std::fs::remove_file(
        root.path()
            .join("v1/instances/chg%2Fbackend%2Fgenerate%2Ff1"),
    )
    .unwrap();
    // f2 is not touched again: stale, then dropped by the timer.
    live.wait(20, "f2 expired", |s| key_ids(s) == ["a2"]);
    etcd.stop();
    live.wait(20, "etcd down", |s| key_ids(s).is_empty());
    etcd.spawn();
    etcd.put("v1/instances/chg/c/e/a4", "{}", None);
    let last = live.wait(30, "etcd back", |s| key_ids(s) == ["a2", "a4"]);

    let idents = |s: &discovery::Snapshot| -> HashSet<discovery::Ident> {
        s.instances.iter().map(|i| i.ident()).collect()
    };
    let first = live.get(0);
    assert!(
        first.changes.is_none(),
        "the first snapshot has nothing to be relative to"
    );
    let mut set = idents(&first);
    let mut view = None;
    for k in 1..=last {
        let s = live.get(k);
        let ch = s.changes.clone().expect("changes on every later snapshot");
        assert_eq!(ch.seq, k as u64 + 1);
        assert_eq!(*view.get_or_insert(ch.view), ch.view);
        for r in &ch.removed {
            assert!(
                set.remove(&r.ident()),
                "removed but not there: {:?} (snapshot {k})",
                r.key
            );
        }
        for a in &ch.added {
            assert!(
                set.insert(a.clone()),
                "added but there: {:?} (snapshot {k})",
                a.key
            );
        }
        assert_eq!(set, idents(&s), "snapshot {k}");
    }
}

/// The loopback check that every Dynamo worker a test starts passes: the reference's
/// off-loopback registration (a worker without DYN_TCP_RPC_HOST) fails it.
#[test]
fn the_loopback_check_refuses_an_external_transport() {
    let ext = serde_json::json!({"tcp": "192.0.2.2:40469/694da20b0bc03505/dyn16/backend/generate"});
    assert!(transport_is_loopback(&ext).is_err());
    let host = serde_json::json!({"tcp": "worker-7:40469/x"});
    assert!(
        transport_is_loopback(&host).is_err(),
        "a name is not checked loopback"
    );
    for ok in [
        serde_json::json!({"tcp": "127.0.0.1:40469/694da20b0bc03505/dyn16/backend/generate"}),
        serde_json::json!({"tcp": "[::1]:40469/x"}),
        serde_json::json!({"nats_tcp": "dynamo_vllmworker.generate-694da207ac81b30e"}),
    ] {
        assert!(transport_is_loopback(&ok).is_ok(), "{ok}");
    }
    assert!(DYNAMO_LOOPBACK.contains(&("DYN_TCP_RPC_HOST", "127.0.0.1")));
    assert!(DYNAMO_LOOPBACK.contains(&("DYN_SYSTEM_HOST", "127.0.0.1")));
}
