//! Dynamo 1.x planner decisions (reference §6) against the real thing: etcd (Debian
//! etcd-server) on a free loopback port, the real `VirtualConnectorCoordinator` (the
//! planner's side) and `VirtualConnectorClient` (the environment's side) of
//! ai-dynamo-runtime 1.6.1, each in its own process with its own etcd lease.

mod discovery_support;
mod tmux_support;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use discovery_support::*;
use dynamo_ctl::discovery::{self, Config};
use serde_json::{Value, json};

/// One side of the VirtualConnector, driven through tests/discovery_support/planner.py.
struct Side {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    log: std::path::PathBuf,
}

impl Side {
    fn start(role: &str, ns: &str, etcd: &str, logdir: &Path) -> Side {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/discovery_support/planner.py");
        let log = logdir.join(format!("{role}.log"));
        let mut cmd = dynamo_python();
        cmd.arg(script)
            .args([role, ns])
            .env("DYN_DISCOVERY_BACKEND", "etcd")
            .env("ETCD_ENDPOINTS", etcd)
            .env("DYN_EVENT_PLANE", "zmq")
            .env("DYN_SYSTEM_PORT", "-1")
            .env_remove("NATS_SERVER")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap());
        die_with_parent(&mut cmd);
        let mut child = cmd.spawn().expect("start planner.py");
        let stdin = child.stdin.take().unwrap();
        let stdout: ChildStdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for l in BufReader::new(stdout).lines() {
                let Ok(l) = l else { break };
                if tx.send(l).is_err() {
                    break;
                }
            }
        });
        let mut s = Side {
            child,
            stdin,
            lines,
            log,
        };
        let first = s.next_line(60);
        assert_eq!(first, "ready", "{role} did not start: {}", s.log_text());
        s
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn next_line(&mut self, secs: u64) -> String {
        match self.lines.recv_timeout(Duration::from_secs(secs)) {
            Ok(l) => l,
            Err(_) => panic!("no answer from planner.py: {}", self.log_text()),
        }
    }

    /// Sends a command; returns its answer (which must start with "ok").
    fn ask(&mut self, cmd: &str) -> String {
        writeln!(self.stdin, "{cmd}").unwrap();
        let a = self.next_line(60);
        assert!(a.starts_with("ok"), "{cmd}: {a}: {}", self.log_text());
        a
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Side {
    fn drop(&mut self) {
        self.kill();
    }
}

fn show_json(ep: &str, ns: &str) -> Value {
    let r = run_deadline(&["--etcd-endpoints", ep, "show", ns, "-o", "json"], 30);
    assert_eq!(r.code, 0, "show: {}{}", r.stdout, r.stderr);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

fn show_text(ep: &str, ns: &str) -> String {
    let r = run_deadline(&["--etcd-endpoints", ep, "show", ns], 30);
    assert_eq!(r.code, 0, "show: {}{}", r.stdout, r.stderr);
    r.stdout
}

/// Polls `show -o json` until `cond` holds on its `planner` (bounded).
fn wait_planner(ep: &str, ns: &str, secs: u64, cond: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let r = run_deadline(&["--etcd-endpoints", ep, "show", ns, "-o", "json"], 30);
        let p = serde_json::from_str::<Value>(&r.stdout)
            .map(|v| v["planner"].clone())
            .unwrap_or(Value::String(format!("{}{}", r.stdout, r.stderr)));
        if cond(&p) {
            return p;
        }
        assert!(Instant::now() < deadline, "timed out; planner: {p}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[test]
fn a_real_decision_is_pending_then_done_and_goes_with_its_planner() {
    let etcd = Etcd::start();
    let ep = etcd.endpoint();
    let logs = tempfile::tempdir().unwrap();
    let ns = "plan1x";
    let mut planner = Side::start("planner", ns, &ep, logs.path());
    let mut env = Side::start("env", ns, &ep, logs.path());

    // A live view follows the decision through its etcd watch.
    let live = Live::start(Config {
        timeout: Duration::from_secs(3),
        ..Config::etcd_only(&ep)
    });

    planner.ask("decide 2 3");
    let p = wait_planner(&ep, ns, 20, |p| p.is_object());
    assert_eq!(p["num_prefill_workers"], json!(2), "{p}");
    assert_eq!(p["num_decode_workers"], json!(3), "{p}");
    assert_eq!(p["pending"], json!(true), "{p}");
    assert_eq!(
        p["since"],
        Value::Null,
        "a one-shot command does not know: {p}"
    );
    let id = p["decision_id"].as_u64().expect("decision_id");
    let text = show_text(&ep, ns);
    assert!(
        text.contains(&format!(
            "planner    prefill 2, decode 3 (decision {id}, pending)"
        )),
        "{text}"
    );
    // Scaled to zero: no instance, still listed, with its planner and the components it wants.
    assert!(text.contains("PLANNER"), "{text}");
    let r = run_deadline(&["--etcd-endpoints", &ep, "list", "-o", "json"], 30);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let item = v["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == ns)
        .unwrap_or_else(|| panic!("{ns} not listed: {v}"));
    assert_eq!(item["planner"]["pending"], json!(true), "{item}");
    live.wait(20, "the pending decision in the live view", |s| {
        s.planners.get(ns).is_some_and(|d| d.pending()) && s.namespaces_ref().contains_key(ns)
    });

    // The environment carries it out.
    env.ask("complete");
    let p = wait_planner(&ep, ns, 20, |p| p["pending"] == json!(false));
    assert_eq!(p["scaled_decision_id"], json!(id), "{p}");
    assert!(
        show_text(&ep, ns).contains(&format!("prefill 2, decode 3 (decision {id}, done)")),
        "{}",
        show_text(&ep, ns)
    );
    live.wait(20, "the done decision in the live view", |s| {
        s.planners
            .get(ns)
            .is_some_and(|d| d.decided() && !d.pending())
    });

    // A real decode worker: desired (planner) vs live in one table.
    let w = Worker::start(
        &format!("{ns}.backend.generate"),
        Backend::Etcd(&ep),
        logs.path(),
    );
    let text = show_text(&ep, ns);
    let row = text
        .lines()
        .find(|l| l.starts_with("backend"))
        .unwrap_or_else(|| panic!("{text}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    // Short of the planner's target: the dashboard's words, `1…`.
    assert_eq!(&cols[..4], ["backend", "1…", "3", "generate"], "{text}");
    let row = text.lines().find(|l| l.starts_with("prefill")).unwrap();
    assert_eq!(
        row.split_whitespace().collect::<Vec<_>>(),
        ["prefill", "0…", "2"]
    );
    let v = show_json(&ep, ns);
    let backend = v["types"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["type"] == "backend")
        .unwrap();
    assert_eq!(
        (backend["live"].clone(), backend["planner"].clone()),
        (json!(1), json!(3))
    );
    drop(w);

    // The planner dies: its keys go with its lease (30 s); the ack alone is no decision.
    planner.kill();
    let p = wait_planner(&ep, ns, 60, Value::is_null);
    assert_eq!(p, Value::Null);
    assert!(show_text(&ep, ns).contains("planner    no planner decision"));
    live.wait(10, "the decision gone from the live view", |s| {
        s.planners.get(ns).is_none_or(|d| !d.decided())
    });
}

#[test]
fn the_single_key_layout_reads_and_hostile_values_are_said() {
    let etcd = Etcd::start();
    let ep = etcd.endpoint();
    etcd.put(
        "v1/one/planner/scaling_decision",
        r#"{"num_prefill_workers": 1, "num_decode_workers": 4, "decision_id": 9}"#,
        None,
    );
    etcd.put("v1/one/planner/scaled_decision_id", "8", None);
    let p = show_json(&ep, "one")["planner"].clone();
    assert_eq!(
        p,
        json!({"num_prefill_workers": 1, "num_decode_workers": 4, "decision_id": 9,
               "scaled_decision_id": 8, "pending": true, "since": null})
    );
    // Values another process wrote are checked, said, and never printed raw.
    etcd.put("v1/bad/planner/num_decode_workers", "1e300\u{1b}[2J", None);
    etcd.put("v1/bad/planner/decision_id", "3", None);
    let r = run_deadline(&["--etcd-endpoints", &ep, "show", "bad"], 30);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(!r.stdout.contains('\u{1b}'), "{:?}", r.stdout);
    assert!(
        r.stdout
            .contains("prefill -, decode - (decision 3, pending); unreadable: num_decode_workers"),
        "{}",
        r.stdout
    );
    // Namespaces without planner keys say so; keys of other buckets are not planners.
    etcd.put("v1/kv_routers/x/planner/decision_id", "1", None);
    let snap = discovery::snapshot(&Config::etcd_only(&ep), Duration::from_secs(5));
    assert!(snap.planners.contains_key("one") && snap.planners.contains_key("bad"));
    assert_eq!(snap.planners.len(), 2, "{:?}", snap.planners.keys());
}

/// In tmux, as an operator sees it: the 1.x dashboard shows the real planner's decision
/// pending beside the live counts, and done once the real client acknowledges it.
#[test]
fn the_dashboard_follows_a_real_decision_until_the_environment_carries_it_out() {
    use tmux_support::{START, Tmux};
    let etcd = Etcd::start();
    let ep = etcd.endpoint();
    let logs = tempfile::tempdir().unwrap();
    let ns = "plantui";
    let mut planner = Side::start("planner", ns, &ep, logs.path());
    let mut env = Side::start("env", ns, &ep, logs.path());
    let _w = Worker::start(
        &format!("{ns}.backend.generate"),
        Backend::Etcd(&ep),
        logs.path(),
    );
    planner.ask("decide 1 2");
    let empty = tempfile::tempdir().unwrap();
    let t = Tmux::start();
    t.type_line(&format!(
        "NO_COLOR=1 '{}' --state-dir '{}' --etcd-endpoints {ep} -n {ns}",
        env!("CARGO_BIN_EXE_dynamo-ctl"),
        empty.path().display()
    ));
    let s = t.wait_for("the pending decision", START, |s| {
        s.contains(&format!("namespace {ns}"))
            && s.contains("prefill 1, decode 2 (decision")
            && s.contains("pending")
    });
    let backend = s
        .lines()
        .find(|l| l.contains("backend  "))
        .unwrap_or_else(|| panic!("{s}"));
    assert!(
        backend.contains("◆ 2") && backend.contains("1…"),
        "{backend}"
    );
    let prefill = s
        .lines()
        .find(|l| l.contains("prefill  "))
        .unwrap_or_else(|| panic!("{s}"));
    assert!(
        prefill.contains("◆ 1") && prefill.contains("0…"),
        "{prefill}"
    );
    env.ask("complete");
    let s = t.wait_for("the decision done", START, |s| s.contains("done)"));
    assert!(s.contains("carried out"), "said in the footer: {s}");
    t.keys(&["q"]);
}
