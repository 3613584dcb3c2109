//! A real circusd for the arbiter tests, on free loopback ports, with a state file whose
//! entries run `worker.sh` (a harmless shell worker that records its environment).
#![allow(dead_code)]

pub mod fake;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use dynamo_ctl::arbiter::Client;

pub const BIN: &str = env!("CARGO_BIN_EXE_dynamo-ctl");

/// circusd from the project's venv (scripts/test.sh installs circus==0.19.0 there), else
/// from PATH.
pub fn circusd() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/circusd");
    if venv.exists() {
        return venv;
    }
    if let Some(p) = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("circusd"))
            .find(|p| p.exists())
    }) {
        return p;
    }
    panic!("circusd not found: run scripts/test.sh, which installs circus==0.19.0 into .venv");
}

/// Starts circusd on `root/circus.ini` in a process group of its own (its output in
/// `root/circusd.log`), into `slot` (whose owner kills it on drop, a failed start
/// included), and waits, at most 30 s, until `ready` holds for its watchers.
pub fn spawn_circusd(
    root: &Path,
    endpoint: &str,
    slot: &mut Option<Child>,
    mut ready: impl FnMut(&mut Client, &[String]) -> bool,
) {
    let log = std::fs::File::create(root.join("circusd.log")).unwrap();
    let child = Command::new(circusd())
        .arg(root.join("circus.ini"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0)
        .spawn()
        .expect("cannot start circusd");
    *slot = Some(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut client = Client::new(endpoint, Duration::from_secs(2)).unwrap();
    loop {
        if let Ok(ws) = client.list()
            && ready(&mut client, &ws)
        {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "circusd did not come up: {}",
            std::fs::read_to_string(root.join("circusd.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

pub fn worker_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/arbiter_support/worker.sh")
}

pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

pub struct Circus {
    child: Option<Child>,
    pub endpoint: String,
    pubsub: String,
    pub root: tempfile::TempDir,
    pub ns: String,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Circus {
    /// circusd running `<ns>_Frontend` and `<ns>_VllmWorker` (GPU 0 of 8), plus
    /// `<ns>_StubbornWorker` (ignores SIGTERM, GPU 7) when asked; the state file to match.
    pub fn start(ns: &str, stubborn: bool) -> Circus {
        let root = tempfile::tempdir().unwrap();
        for d in ["state", "out"] {
            std::fs::create_dir(root.path().join(d)).unwrap();
        }
        let endpoint = format!("tcp://127.0.0.1:{}", free_port());
        let pubsub = format!("tcp://127.0.0.1:{}", free_port());
        let mut c = Circus {
            child: None,
            endpoint,
            pubsub,
            root,
            ns: ns.to_string(),
        };
        c.write_state(stubborn);
        c.write_ini(stubborn);
        c.spawn();
        c
    }

    pub fn state_dir(&self) -> PathBuf {
        self.root.path().join("state")
    }

    pub fn out_dir(&self) -> PathBuf {
        self.root.path().join("out")
    }

    pub fn state_path(&self) -> PathBuf {
        self.state_dir().join(format!("{}.json", self.ns))
    }

    pub fn base_cmd(&self, stubborn: bool) -> String {
        format!(
            "/bin/sh {} {}{}",
            worker_script().display(),
            self.out_dir().display(),
            if stubborn { " --ignore-term" } else { "" }
        )
    }

    fn write_state(&self, stubborn: bool) {
        let ns = &self.ns;
        let mut comps = vec![
            format!(
                r#""{ns}_Frontend": {{"watcher_name": "{ns}_Frontend", "cmd": {}, "resources": {{}}}}"#,
                serde_json::json!(self.base_cmd(false))
            ),
            format!(
                r#""{ns}_VllmWorker": {{"watcher_name": "{ns}_VllmWorker", "cmd": {}, "resources": {{"allocated_gpus": [0]}}}}"#,
                serde_json::json!(self.base_cmd(false))
            ),
        ];
        if stubborn {
            comps.push(format!(
                r#""{ns}_StubbornWorker": {{"watcher_name": "{ns}_StubbornWorker", "cmd": {}, "resources": {{"allocated_gpus": [7]}}}}"#,
                serde_json::json!(self.base_cmd(true))
            ));
        }
        let text = format!(
            r#"{{"namespace": "{ns}", "circus_endpoint": "{}", "components": {{{}}}, "environment": {{"DYNAMO_SERVICE_CONFIG": "{{\"Common\": {{\"model\": \"toy\"}}}}", "SYSTEM_RESOURCES": {{"total_gpus": 8, "gpu_info": ["0", "1", "2", "3", "4", "5", "6", "7"]}}}}}}"#,
            self.endpoint,
            comps.join(", ")
        );
        std::fs::write(self.state_path(), text).unwrap();
    }

    fn write_ini(&self, stubborn: bool) {
        let ns = &self.ns;
        let mut ini = format!(
            "[circus]\nendpoint = {}\npubsub_endpoint = {}\nstatsd = False\n\n",
            self.endpoint, self.pubsub
        );
        let mut watchers = vec![("Frontend", false), ("VllmWorker", false)];
        if stubborn {
            watchers.push(("StubbornWorker", true));
        }
        for (ty, stub) in watchers {
            ini.push_str(&format!(
                "[watcher:{ns}_{ty}]\ncmd = {}\nnumprocesses = 1\ngraceful_timeout = 1\n\n",
                self.base_cmd(stub)
            ));
        }
        std::fs::write(self.root.path().join("circus.ini"), ini).unwrap();
    }

    fn spawn(&mut self) {
        let out = self.out_dir();
        let ready_pid = |pid: u32| out.join(format!("{pid}.pid")).exists();
        // Ready when it answers and every configured watcher runs its process.
        spawn_circusd(
            self.root.path(),
            &self.endpoint,
            &mut self.child,
            |c, ws| {
                !ws.is_empty()
                    && ws.iter().all(|w| {
                        c.pids(w)
                            .is_ok_and(|p| !p.is_empty() && p.iter().all(|p| ready_pid(*p)))
                    })
            },
        );
    }

    /// Whether worker `pid` is set up (its signal handling in place): it wrote `<pid>.pid`.
    pub fn is_ready(&self, pid: u32) -> bool {
        self.out_dir().join(format!("{pid}.pid")).exists()
    }

    /// Waits (at most 10 s) until worker `pid` is set up.
    pub fn wait_ready(&self, pid: u32) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.is_ready(pid) {
            assert!(Instant::now() < deadline, "worker {pid} never got ready");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kills circusd outright (its workers live on in their own sessions).
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Kills circusd and starts it again on the same ports.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }

    pub fn client(&self) -> Client {
        Client::new(&self.endpoint, Duration::from_secs(5)).unwrap()
    }

    /// The CLI against this deployment (arbiter mode unless the args say otherwise).
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(BIN);
        cmd.arg("--state-dir").arg(self.state_dir()).args(args);
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

    pub fn state(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.state_path()).unwrap()).unwrap()
    }

    /// The environment a worker recorded (`NAME.env`), as KEY=VALUE lines.
    /// The worker writes it just after it starts: wait for it (at most 10 s).
    pub fn worker_env(&self, name: &str) -> Option<String> {
        let path = self.out_dir().join(format!("{name}.env"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !path.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        std::fs::read_to_string(path).ok()
    }

    /// Whether the worker wrote that it got SIGTERM.
    pub fn got_term(&self, name: &str) -> bool {
        self.out_dir().join(format!("{name}.term")).exists()
    }

    pub fn watchers(&self) -> Vec<String> {
        self.client().list().unwrap()
    }

    pub fn pids(&self, name: &str) -> Vec<u32> {
        self.client().pids(name).unwrap_or_default()
    }
}

pub fn alive(pid: u32) -> bool {
    // Signal 0: exists and is not yet reaped; a zombie counts as gone.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit_once(") ").map(|(_, r)| r.chars().next());
    matches!(state, Some(Some(c)) if c != 'Z' && c != 'X')
}

impl Drop for Circus {
    fn drop(&mut self) {
        // Every worker is a session leader (circus setsid()s them): kill each group, those
        // circusd runs now (one may not have written its pid file yet) and those it lost
        // in a restart (they wrote NAME.pid).
        let mut groups: Vec<i32> = Vec::new();
        if self.child.is_some()
            && let Ok(mut c) = Client::new(&self.endpoint, Duration::from_secs(2))
            && let Ok(names) = c.list()
        {
            for n in names {
                groups.extend(c.pids(&n).unwrap_or_default().iter().map(|p| *p as i32));
            }
        }
        self.kill();
        for pid in groups {
            unsafe {
                libc::kill(-pid, libc::SIGKILL);
            }
        }
        if let Ok(rd) = std::fs::read_dir(self.out_dir()) {
            for e in rd.flatten() {
                if e.path().extension().is_some_and(|x| x == "pid")
                    && let Ok(pid) = std::fs::read_to_string(e.path())
                        .unwrap_or_default()
                        .trim()
                        .parse::<i32>()
                {
                    unsafe {
                        libc::kill(-pid, libc::SIGKILL);
                    }
                }
            }
        }
    }
}

/// One run of the CLI with its peak memory.
pub struct Bounded {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// Peak resident set size, in KiB (what `/usr/bin/time -f %M` says).
    pub max_rss_kib: i64,
}

impl Bounded {
    /// The longest line of stdout and stderr, in bytes.
    pub fn longest_line(&self) -> usize {
        self.stdout
            .lines()
            .chain(self.stderr.lines())
            .map(str::len)
            .max()
            .unwrap_or(0)
    }
}

/// Runs the CLI on `dir` with a deadline: past `within` it is killed and the test fails
/// (a regression that hangs cannot hang the suite). Waits for the process's exit as an
/// event (a pidfd). The peak RSS is what `/usr/bin/time -f %M` says: the process's own
/// `ru_maxrss` would start at this test process's high-water mark (Linux carries it over
/// `exec` from the spawning process).
pub fn run_bounded(dir: &Path, args: &[&str], within: Duration) -> Bounded {
    use std::io::Read;
    let time = Path::new("/usr/bin/time");
    assert!(
        time.exists(),
        "/usr/bin/time is missing (apt-get install time): it measures the peak RSS"
    );
    let rss = tempfile::NamedTempFile::new().unwrap();
    let mut child = Command::new(time)
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(rss.path())
        .arg(BIN)
        .arg("--state-dir")
        .arg(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    assert!(
        pidfd >= 0,
        "pidfd_open: {}",
        std::io::Error::last_os_error()
    );
    let read = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = r.read_to_end(&mut b);
            String::from_utf8_lossy(&b).into_owned()
        })
    };
    let out = read(Box::new(child.stdout.take().unwrap()));
    let err = read(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + within;
    let exited = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut pfd = libc::pollfd {
            fd: pidfd,
            events: libc::POLLIN,
            revents: 0,
        };
        let n = unsafe { libc::poll(&mut pfd, 1, left.as_millis().min(i32::MAX as u128) as i32) };
        if n > 0 {
            break true;
        }
        if n == 0 || left.is_zero() {
            break false;
        }
    };
    if !exited {
        // The whole group: time and the CLI under it.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
    let status = child.wait().unwrap();
    unsafe { libc::close(pidfd) };
    let (stdout, stderr) = (out.join().unwrap(), err.join().unwrap());
    assert!(
        exited,
        "{args:?}: still running after {within:?} (hung?)\n{stderr}"
    );
    let max_rss_kib = std::fs::read_to_string(rss.path())
        .unwrap_or_default()
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("{args:?}: no RSS from /usr/bin/time\n{stderr}"));
    Bounded {
        code: status.code().unwrap_or(-1),
        stdout,
        stderr,
        max_rss_kib,
    }
}
