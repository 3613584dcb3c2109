//! A real circusd whose watchers write known lines (`writer.sh`) into FileStream files, as
//! `dynamo serve` with `DYN_CIRCUS_LOG_DIR` does, on free loopback ports; with the state
//! file to match. Killed with its workers on drop.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use dynamo_ctl::arbiter::Client;

#[path = "../arbiter_support/mod.rs"]
pub mod arbiter_support;
pub use arbiter_support::free_port;

pub const BIN: &str = env!("CARGO_BIN_EXE_dynamo-ctl");

pub fn writer() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/logs_support/writer.sh")
}

/// One watcher of the deployment: `<ns>_<ty>` (and `_<n>`), how many lines it writes at
/// start, and its files' rotation (None: no file at all, its output goes to circusd).
pub struct W {
    pub ty: &'static str,
    pub suffix: Option<u32>,
    pub first: u32,
    /// (max_bytes, backup_count) of its FileStreams; None: no streams.
    pub files: Option<(u64, u32)>,
}

pub struct LogCircus {
    child: Option<Child>,
    pub endpoint: String,
    pub root: tempfile::TempDir,
    pub ns: String,
}

impl LogCircus {
    pub fn start(ns: &str, watchers: &[W]) -> LogCircus {
        let root = tempfile::tempdir().unwrap();
        for d in ["state", "ctl", "logs"] {
            std::fs::create_dir(root.path().join(d)).unwrap();
        }
        let endpoint = format!("tcp://127.0.0.1:{}", free_port());
        let pubsub = format!("tcp://127.0.0.1:{}", free_port());
        let mut c = LogCircus {
            child: None,
            endpoint,
            root,
            ns: ns.into(),
        };
        let mut ini = format!(
            "[circus]\nendpoint = {}\npubsub_endpoint = {pubsub}\nstatsd = False\n\n",
            c.endpoint
        );
        let mut comps = Vec::new();
        for (gpu, w) in watchers.iter().enumerate() {
            let name = c.watcher(w.ty, w.suffix);
            let cmd = format!(
                "/bin/sh {} {} {name} {}",
                writer().display(),
                c.ctl().display(),
                w.first
            );
            ini.push_str(&format!(
                "[watcher:{name}]\ncmd = {cmd}\nnumprocesses = 1\ngraceful_timeout = 1\n"
            ));
            if let Some((max, backups)) = w.files {
                let dir = c.log_dir().join(&name);
                std::fs::create_dir_all(&dir).unwrap();
                for (s, f) in [("stdout", "output.log"), ("stderr", "error.log")] {
                    ini.push_str(&format!(
                        "{s}_stream.class = FileStream\n{s}_stream.filename = {}\n{s}_stream.max_bytes = {max}\n{s}_stream.backup_count = {backups}\n",
                        dir.join(f).display()
                    ));
                }
            }
            ini.push('\n');
            comps.push(format!(
                r#""{name}": {{"watcher_name": "{name}", "cmd": {}, "resources": {{"allocated_gpus": [{gpu}]}}}}"#,
                serde_json::json!(cmd)
            ));
        }
        std::fs::write(c.root.path().join("circus.ini"), ini).unwrap();
        let state = format!(
            r#"{{"namespace": "{ns}", "circus_endpoint": "{}", "components": {{{}}}, "environment": {{"SYSTEM_RESOURCES": {{"total_gpus": 8, "gpu_info": ["0", "1", "2", "3", "4", "5", "6", "7"]}}}}}}"#,
            c.endpoint,
            comps.join(", ")
        );
        std::fs::write(c.state_dir().join(format!("{ns}.json")), state).unwrap();
        c.spawn(watchers.len());
        c
    }

    pub fn watcher(&self, ty: &str, suffix: Option<u32>) -> String {
        match suffix {
            Some(n) => format!("{}_{ty}_{n}", self.ns),
            None => format!("{}_{ty}", self.ns),
        }
    }

    pub fn state_dir(&self) -> PathBuf {
        self.root.path().join("state")
    }

    pub fn ctl(&self) -> PathBuf {
        self.root.path().join("ctl")
    }

    pub fn log_dir(&self) -> PathBuf {
        self.root.path().join("logs")
    }

    /// A watcher's stdout file.
    pub fn output_log(&self, watcher: &str) -> PathBuf {
        self.log_dir().join(watcher).join("output.log")
    }

    fn spawn(&mut self, n: usize) {
        // Ready when all `n` watchers run their process.
        arbiter_support::spawn_circusd(
            self.root.path(),
            &self.endpoint,
            &mut self.child,
            |c, ws| ws.len() == n && ws.iter().all(|w| c.pids(w).is_ok_and(|p| !p.is_empty())),
        );
    }

    /// Tells `watcher` to write its next batch (`what`: a count, "esc" or "slow N").
    pub fn trigger(&self, watcher: &str, what: &str) {
        let mut k = 1;
        while self.ctl().join(format!("{watcher}.go.{k}")).exists() {
            k += 1;
        }
        let tmp = self.ctl().join(format!(".{watcher}.tmp"));
        std::fs::write(&tmp, what).unwrap();
        std::fs::rename(tmp, self.ctl().join(format!("{watcher}.go.{k}"))).unwrap();
    }

    /// Waits (at most 20 s) until `file` holds a line containing `text`.
    pub fn wait_line(&self, file: &Path, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if std::fs::read_to_string(file).is_ok_and(|s| s.lines().any(|l| l.contains(text))) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} never got {text:?}",
                file.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The CLI against this deployment.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.arg("--state-dir").arg(self.state_dir()).args(args);
        c.env_remove("DYNAMO_CTL_WATCH");
        c
    }
}

impl Drop for LogCircus {
    fn drop(&mut self) {
        let mut groups: Vec<i32> = Vec::new();
        if let Ok(mut c) = Client::new(&self.endpoint, Duration::from_secs(2))
            && let Ok(names) = c.list()
        {
            for n in names {
                groups.extend(c.pids(&n).unwrap_or_default().iter().map(|p| *p as i32));
            }
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for pid in groups {
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
    }
}
