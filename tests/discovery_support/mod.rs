//! Real servers for the discovery tests: etcd (Debian `etcd-server`, installed by
//! scripts/test.sh) on free loopback ports with a temp data dir, and real Dynamo 1.x workers
//! (ai-dynamo-runtime 1.6.1 in the project's `.venv`, `worker.py`).
#![allow(dead_code)]

#[path = "../servers/mod.rs"]
mod servers;
pub use servers::*;

pub fn etcd_bin() -> PathBuf {
    need_bin("etcd", "etcd-server")
}

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use dynamo_ctl::discovery::{self, Config, Snapshot, WatchHandle};

pub struct Etcd {
    child: Option<Child>,
    pub client_port: u16,
    peer_port: u16,
    pub dir: tempfile::TempDir,
    /// More command-line flags (e.g. `--max-request-bytes`).
    extra: Vec<String>,
}

impl Etcd {
    pub fn start() -> Etcd {
        Etcd::start_with(&[])
    }

    /// An etcd of its own, with these extra flags.
    pub fn start_with(extra: &[&str]) -> Etcd {
        let mut e = Etcd {
            child: None,
            client_port: free_port(),
            peer_port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        e.spawn();
        e
    }

    /// A handle on a server started elsewhere (the shared one): no process of its own.
    pub fn client_only(client_port: u16) -> Etcd {
        Etcd {
            child: None,
            client_port,
            peer_port: 0,
            dir: tempfile::tempdir().unwrap(),
            extra: Vec::new(),
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    pub fn spawn(&mut self) {
        let client = self.endpoint();
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join("etcd.log"))
            .unwrap();
        let mut cmd = Command::new(etcd_bin());
        cmd.args(["--name", "t", "--data-dir"])
            .arg(self.dir.path().join("data"))
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &format!("t={peer}")])
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        die_with_parent(&mut cmd);
        self.child = Some(cmd.spawn().expect("start etcd"));
        // Ready when it answers a read.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if self.get_prefix("health-check/").is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "etcd did not answer within 30 s: {}",
                std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops etcd (SIGTERM, then waits); the data dir stays for a restart.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe {
                libc::kill(c.id() as i32, libc::SIGTERM);
            }
            let _ = c.wait();
        }
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn with_client<T>(
        &self,
        f: impl AsyncFnOnce(&mut etcd_client::Client) -> Result<T, etcd_client::Error>,
    ) -> Result<T, String> {
        let ep = self.endpoint();
        Self::rt().block_on(async move {
            let opts = etcd_client::ConnectOptions::new()
                .with_connect_timeout(Duration::from_secs(2))
                .with_timeout(Duration::from_secs(5));
            let mut c = etcd_client::Client::connect([ep], Some(opts))
                .await
                .map_err(|e| e.to_string())?;
            f(&mut c).await.map_err(|e| e.to_string())
        })
    }

    pub fn put(&self, key: &str, value: &str, lease: Option<i64>) {
        let (k, v) = (key.to_string(), value.to_string());
        self.with_client(async move |c| {
            let opts = lease.map(|l| etcd_client::PutOptions::new().with_lease(l));
            c.put(k, v, opts).await.map(|_| ())
        })
        .unwrap();
    }

    pub fn delete(&self, key: &str) {
        let k = key.to_string();
        self.with_client(async move |c| c.delete(k, None).await.map(|_| ()))
            .unwrap();
    }

    pub fn lease_grant(&self, ttl: i64) -> i64 {
        self.with_client(async move |c| c.lease_grant(ttl, None).await.map(|r| r.id()))
            .unwrap()
    }

    pub fn lease_revoke(&self, id: i64) {
        self.with_client(async move |c| c.lease_revoke(id).await.map(|_| ()))
            .unwrap();
    }

    /// Compacts the history up to the current revision.
    pub fn compact(&self) -> i64 {
        self.with_client(async move |c| {
            let rev = c
                .get("compact-probe", None)
                .await?
                .header()
                .map_or(0, |h| h.revision());
            c.compact(
                rev,
                Some(etcd_client::CompactionOptions::new().with_physical()),
            )
            .await?;
            Ok(rev)
        })
        .unwrap()
    }

    pub fn get_prefix(&self, prefix: &str) -> Result<Vec<String>, String> {
        let p = prefix.to_string();
        self.with_client(async move |c| {
            let r = c
                .get(p, Some(etcd_client::GetOptions::new().with_prefix()))
                .await?;
            Ok(r.kvs()
                .iter()
                .map(|kv| String::from_utf8_lossy(kv.key()).into_owned())
                .collect())
        })
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One etcd for the whole test binary, for tests that use their own namespaces. It is
/// started by a thread that lives as long as the binary, so it dies with the binary.
pub fn shared_etcd() -> String {
    static EP: OnceLock<String> = OnceLock::new();
    EP.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let e = Etcd::start();
            tx.send(e.endpoint()).unwrap();
            // Keep `e` (and this thread, which etcd's parent-death signal is tied to).
            loop {
                std::thread::park();
            }
            #[allow(unreachable_code)]
            drop(e);
        });
        rx.recv().expect("shared etcd")
    })
    .clone()
}

/// A real Dynamo 1.x worker serving `ns.component.endpoint`, in its own process group.
pub struct Worker {
    child: Option<Child>,
    pub id_hex: String,
    log: PathBuf,
}

#[derive(Clone, Copy)]
pub enum Backend<'a> {
    Etcd(&'a str),
    File(&'a Path),
}

impl Worker {
    pub fn start(path: &str, backend: Backend, logdir: &Path) -> Worker {
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/discovery_support/worker.py");
        let log = logdir.join(format!("worker-{}.log", path.replace('.', "_")));
        let mut cmd = dynamo_python();
        cmd.arg(script)
            .arg(path)
            .env("DYN_EVENT_PLANE", "zmq")
            .env("DYN_SYSTEM_PORT", "-1")
            .env_remove("DYN_FILE_KV")
            .env_remove("ETCD_ENDPOINTS")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .process_group(0);
        match backend {
            Backend::Etcd(ep) => {
                cmd.env("DYN_DISCOVERY_BACKEND", "etcd")
                    .env("ETCD_ENDPOINTS", ep);
            }
            Backend::File(root) => {
                cmd.env("DYN_DISCOVERY_BACKEND", "file")
                    .env("DYN_FILE_KV", root);
            }
        }
        die_with_parent(&mut cmd);
        let mut child = cmd.spawn().expect("start the Dynamo worker");
        // First line: "instance <hex>".
        use std::io::BufRead;
        let mut line = String::new();
        let stdout = child.stdout.take().unwrap();
        let mut reader = std::io::BufReader::new(stdout);
        let _ = reader.read_line(&mut line);
        let id_hex = line
            .trim()
            .strip_prefix("instance ")
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!(
                    "worker {path} did not start: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )
            })
            .to_string();
        let w = Worker {
            child: Some(child),
            id_hex,
            log,
        };
        // Registered, and on loopback (or the test fails here).
        let root;
        let source: [&str; 2] = match backend {
            Backend::Etcd(ep) => ["--etcd-endpoints", ep],
            Backend::File(r) => {
                root = r.display().to_string();
                ["--file-kv", &root]
            }
        };
        assert_registered_on_loopback(&source, &w.id_hex);
        w
    }

    pub fn signal(&mut self, sig: i32) {
        if let Some(c) = &self.child {
            unsafe {
                libc::kill(c.id() as i32, sig);
            }
        }
    }

    /// Waits for the process to exit (bounded), after a signal.
    pub fn reap(&mut self) {
        if let Some(mut c) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe {
                libc::kill(-(c.id() as i32), libc::SIGKILL);
            }
            let _ = c.wait();
        }
    }
}

/// A live view whose snapshots a test waits on.
pub struct Live {
    pub handle: Option<WatchHandle>,
    seen: Arc<(Mutex<Vec<Snapshot>>, Condvar)>,
}

impl Live {
    pub fn start(cfg: Config) -> Live {
        let seen: Arc<(Mutex<Vec<Snapshot>>, Condvar)> = Arc::default();
        let s2 = seen.clone();
        let handle = discovery::spawn_watch(cfg, move |snap| {
            let (m, c) = &*s2;
            m.lock().unwrap().push(snap);
            c.notify_all();
        });
        Live {
            handle: Some(handle),
            seen,
        }
    }

    /// Waits until a snapshot satisfies `cond` (checked on every snapshot seen so far from
    /// index `from`); returns its index. Panics with the last snapshot after `secs`.
    pub fn wait_from(
        &self,
        from: usize,
        secs: u64,
        what: &str,
        cond: impl Fn(&Snapshot) -> bool,
    ) -> usize {
        let (m, c) = &*self.seen;
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut g = m.lock().unwrap();
        let mut next = from;
        loop {
            while next < g.len() {
                if cond(&g[next]) {
                    return next;
                }
                next += 1;
            }
            let now = Instant::now();
            assert!(
                now < deadline,
                "timed out waiting for {what}; last snapshot: {:#?}",
                g.last()
            );
            g = c.wait_timeout(g, deadline - now).unwrap().0;
        }
    }

    pub fn wait(&self, secs: u64, what: &str, cond: impl Fn(&Snapshot) -> bool) -> usize {
        self.wait_from(0, secs, what, cond)
    }

    pub fn len(&self) -> usize {
        self.seen.0.lock().unwrap().len()
    }

    pub fn get(&self, i: usize) -> Snapshot {
        self.seen.0.lock().unwrap()[i].clone()
    }
}

/// Runs the CLI (as `run`) killed after `secs`: a hang fails the test instead of the
/// suite. A kill shows as exit code 137.
pub fn run_deadline(args: &[&str], secs: u64) -> Run {
    let mut all = vec!["-s", "KILL"];
    let secs = secs.to_string();
    all.push(&secs);
    all.push(env!("CARGO_BIN_EXE_dynamo-ctl"));
    all.extend_from_slice(args);
    let o = Command::new("timeout")
        .args(&all)
        .env_remove("ETCD_ENDPOINTS")
        .env_remove("DYN_FILE_KV")
        .env_remove("DYNAMO_CTL_WATCH")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// A temporary directory on tmpfs when there is one (`/dev/shm`): tmpfs keeps 64-bit file
/// times (ext4 stops at the year 2446), so a hostile mtime is kept as written.
pub fn tmpfs_dir() -> tempfile::TempDir {
    tempfile::tempdir_in("/dev/shm").unwrap_or_else(|_| tempfile::tempdir().unwrap())
}

/// Instance ids (hex) of a namespace in a snapshot, sorted, with their stale flags.
pub fn ids(s: &Snapshot, ns: &str) -> Vec<(String, bool)> {
    let mut v: Vec<(String, bool)> = s
        .of_namespace(ns)
        .map(|i| (i.instance_id_hex(), i.stale))
        .collect();
    v.sort();
    v
}

/// circusd (from `.venv`, as in tests/arbiter.rs) running one real Dynamo worker as
/// `<ns>_VllmWorker`, registering `<ns>.VllmWorker.generate` in etcd at `etcd`; the state
/// file to match (GPUs 0-3, GPU 0 taken).
pub struct DynamoCircus {
    child: Option<Child>,
    pub endpoint: String,
    pub root: tempfile::TempDir,
}

pub fn circusd() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/circusd");
    assert!(
        venv.exists(),
        "circusd not found: run scripts/test.sh, which installs circus==0.19.0 into .venv"
    );
    venv
}

impl DynamoCircus {
    pub fn start(ns: &str, etcd: &str) -> DynamoCircus {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("state")).unwrap();
        let endpoint = format!("tcp://127.0.0.1:{}", free_port());
        let pubsub = format!("tcp://127.0.0.1:{}", free_port());
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/discovery_support/worker.py");
        let cmd = format!(
            "/usr/bin/env {} DYN_DISCOVERY_BACKEND=etcd ETCD_ENDPOINTS={etcd} DYN_EVENT_PLANE=zmq DYN_SYSTEM_PORT=-1 {} {} {ns}.VllmWorker.generate",
            dynamo_loopback_words(),
            venv_python().display(),
            script.display()
        );
        let state = serde_json::json!({
            "namespace": ns,
            "circus_endpoint": endpoint,
            "components": {
                format!("{ns}_VllmWorker"): {
                    "watcher_name": format!("{ns}_VllmWorker"),
                    "cmd": cmd,
                    "resources": {"allocated_gpus": [0]},
                }
            },
            "environment": {
                "DYNAMO_SERVICE_CONFIG": "{}",
                "SYSTEM_RESOURCES": {"total_gpus": 4, "gpu_info": ["0", "1", "2", "3"]},
            },
        });
        std::fs::write(
            root.path().join(format!("state/{ns}.json")),
            serde_json::to_string(&state).unwrap(),
        )
        .unwrap();
        let ini = format!(
            "[circus]\nendpoint = {endpoint}\npubsub_endpoint = {pubsub}\nstatsd = False\n\n[watcher:{ns}_VllmWorker]\ncmd = {cmd}\nnumprocesses = 1\ngraceful_timeout = 10\n"
        );
        std::fs::write(root.path().join("circus.ini"), ini).unwrap();
        let log = std::fs::File::create(root.path().join("circusd.log")).unwrap();
        let mut c = Command::new(circusd());
        c.arg(root.path().join("circus.ini"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0);
        die_with_parent(&mut c);
        let child = c.spawn().expect("start circusd");
        DynamoCircus {
            child: Some(child),
            endpoint,
            root,
        }
    }

    pub fn state_dir(&self) -> PathBuf {
        self.root.path().join("state")
    }
}

impl Drop for DynamoCircus {
    fn drop(&mut self) {
        // circus setsid()s its workers: kill each one's group, then circusd.
        let mut groups = Vec::new();
        if let Ok(mut c) = dynamo_ctl::arbiter::Client::new(&self.endpoint, Duration::from_secs(2))
            && let Ok(names) = c.list()
        {
            for n in names {
                groups.extend(c.pids(&n).unwrap_or_default());
            }
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for pid in groups {
            unsafe {
                libc::kill(-(pid as i32), libc::SIGKILL);
            }
        }
    }
}
