//! What every real-server test support module needs: the binary under test, programs on
//! PATH, the project venv's Python with Dynamo, free loopback ports, and children that die
//! with the test binary. Included by the `*_support` modules with `#[path]`.
#![allow(dead_code)]

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_dynamo-ctl");

/// `name` on PATH, or a panic naming the Debian package that has it (scripts/test.sh
/// installs it).
pub fn need_bin(name: &str, package: &str) -> PathBuf {
    std::env::var_os("PATH")
        .and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(name))
                .find(|p| p.exists())
        })
        .unwrap_or_else(|| {
            panic!("{name} not found: install the Debian package {package} (scripts/test.sh does)")
        })
}

/// Python of the project's venv with ai-dynamo-runtime 1.6.1.
pub fn venv_python() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python3");
    let ok = p.exists()
        && Command::new(&p)
            .args(["-c", "import dynamo.runtime"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    assert!(
        ok,
        "ai-dynamo-runtime not found in .venv: run scripts/test.sh, which installs ai-dynamo-runtime==1.6.1 there"
    );
    p
}

/// What every Dynamo process a test starts is given, so no test traffic leaves loopback
/// (reference §4): the request plane (`DYN_TCP_RPC_HOST`, advertised as `transport.tcp`) and
/// the system status server (`DYN_SYSTEM_HOST`) bind 127.0.0.1.
pub const DYNAMO_LOOPBACK: [(&str, &str); 2] = [
    ("DYN_TCP_RPC_HOST", "127.0.0.1"),
    ("DYN_SYSTEM_HOST", "127.0.0.1"),
];

/// The venv's Python, ready to run a Dynamo process on loopback: the one way tests start
/// Dynamo directly.
pub fn dynamo_python() -> Command {
    let mut cmd = Command::new(venv_python());
    for (k, v) in DYNAMO_LOOPBACK {
        cmd.env(k, v);
    }
    cmd
}

/// The same variables as `env` words, for a command line another program runs (circus
/// starts the workers of a state file through `/usr/bin/env ...`).
pub fn dynamo_loopback_words() -> String {
    DYNAMO_LOOPBACK
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether a registration's transport stays on this machine's loopback: every `tcp`
/// address (`host:port/...`) names 127.0.0.0/8 or ::1; other transports (`nats_tcp`, a
/// subject) carry no address.
pub fn transport_is_loopback(transport: &serde_json::Value) -> Result<(), String> {
    let Some(map) = transport.as_object() else {
        return Ok(());
    };
    for (kind, v) in map {
        if kind != "tcp" {
            continue;
        }
        let addr = v.as_str().unwrap_or_default();
        let hostport = addr.split('/').next().unwrap_or_default();
        let host = match hostport.rsplit_once(':') {
            Some((h, _)) => h.trim_start_matches('[').trim_end_matches(']'),
            None => hostport,
        };
        let ok = host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
        if !ok {
            return Err(format!("transport.tcp {addr:?} is not a loopback address"));
        }
    }
    Ok(())
}

/// Fails the test when a worker it started registered a transport off loopback: every
/// registration `dynamo-ctl instances -o json` finds through `source` (its discovery
/// flags) whose id is `id_hex`.
pub fn assert_registered_on_loopback(source: &[&str], id_hex: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let out = run([&["instances", "-o", "json"][..], source]
            .concat()
            .as_slice());
        let doc: serde_json::Value = serde_json::from_str(&out.stdout).unwrap_or_default();
        let none = Vec::new();
        let mine: Vec<&serde_json::Value> = doc["instances"]
            .as_array()
            .unwrap_or(&none)
            .iter()
            .filter(|i| i["instance_id_hex"].as_str() == Some(id_hex))
            .collect();
        if !mine.is_empty() {
            for i in mine {
                if let Err(e) = transport_is_loopback(&i["transport"]) {
                    panic!(
                        "worker {id_hex} is off loopback ({e}): every Dynamo process a test starts needs {}",
                        dynamo_loopback_words()
                    );
                }
            }
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "worker {id_hex} not registered: {} {}",
            out.stdout,
            out.stderr
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Fails the test when any registration of namespace `ns` found through `source` has a
/// transport off loopback (workers that circus starts from a state file's command).
pub fn assert_namespace_on_loopback(source: &[&str], ns: &str) {
    let out = run([&["instances", ns, "-o", "json"][..], source]
        .concat()
        .as_slice());
    let doc: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("instances -o json: {e}: {} {}", out.stdout, out.stderr));
    let all = doc["instances"].as_array().cloned().unwrap_or_default();
    assert!(
        !all.is_empty(),
        "nothing of {ns} registered: {}",
        out.stderr
    );
    for i in all {
        if let Err(e) = transport_is_loopback(&i["transport"]) {
            panic!(
                "{ns} instance {} is off loopback ({e}): every Dynamo process a test starts needs {}",
                i["instance_id_hex"],
                dynamo_loopback_words()
            );
        }
    }
}

/// A port nothing listens on now (the kernel's choice).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Makes the child die with the thread that started it (shared servers' threads live as
/// long as the test binary), so no server outlives a test run, even when a test panics.
pub fn die_with_parent(cmd: &mut Command) {
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// What a CLI run printed and how it exited.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs the CLI with none of the caller's discovery or metrics variables.
pub fn run(args: &[&str]) -> Run {
    run_env(args, &[])
}

/// Runs the CLI with these variables (and none of the caller's discovery or metrics ones).
pub fn run_env(args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for v in [
        "ETCD_ENDPOINTS",
        "DYN_FILE_KV",
        "DYNAMO_CTL_WATCH",
        "DYNAMO_CTL_PROMETHEUS",
        "NATS_SERVER",
    ] {
        cmd.env_remove(v);
    }
    cmd.env("NO_COLOR", "1");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let o = cmd.output().unwrap();
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}
