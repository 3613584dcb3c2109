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
