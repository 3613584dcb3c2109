//! Real servers for the metrics tests: real Dynamo 1.x workers (ai-dynamo-runtime 1.6.1 in
//! the project's `.venv`, `worker.py`) with their system status server on free loopback
//! ports (<= 32767: 1.6.1 reads `DYN_SYSTEM_PORT` as a signed 16-bit number), a real Dynamo
//! client sending requests at a known rate (`client.py`), and a real Prometheus (Debian
//! `prometheus`, installed by scripts/test.sh) scraping them every second. Discovery goes
//! through a file store in a temp dir; everything is on 127.0.0.1.
#![allow(dead_code)]

#[path = "../servers/mod.rs"]
mod servers;
pub use servers::*;

pub fn prometheus_bin() -> PathBuf {
    need_bin("prometheus", "prometheus")
}

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/metrics_support")
        .join(name)
}

/// A free loopback port in 20000-32000 (Dynamo 1.6.1 refuses system ports above 32767).
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let start = (std::process::id() * 7919) % 12000;
    for _ in 0..12000 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 20000 + ((start + n * 37) % 12000) as u16;
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 20000-32000");
}

fn dynamo_env(cmd: &mut Command, store: &Path) {
    cmd.env("DYN_DISCOVERY_BACKEND", "file")
        .env("DYN_FILE_KV", store)
        .env("DYN_EVENT_PLANE", "zmq")
        .env_remove("ETCD_ENDPOINTS")
        .env_remove("NATS_SERVER");
}

/// A real Dynamo 1.x worker serving `ns.component.endpoint`, its system status server on
/// `port`.
pub struct Worker {
    child: Option<Child>,
    pub id_hex: String,
    pub port: u16,
    pub log: PathBuf,
}

impl Worker {
    pub fn start(
        path: &str,
        port: u16,
        env: &[(&str, &str)],
        store: &Path,
        logdir: &Path,
    ) -> Worker {
        let log = logdir.join(format!("worker-{}-{port}.log", path.replace('.', "_")));
        let mut cmd = dynamo_python();
        cmd.arg(script("worker.py"))
            .arg(path)
            .env("DYN_SYSTEM_PORT", port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .process_group(0);
        dynamo_env(&mut cmd, store);
        for (k, v) in env {
            cmd.env(k, v);
        }
        die_with_parent(&mut cmd);
        let mut child = cmd.spawn().expect("start the Dynamo worker");
        let mut line = String::new();
        let _ = BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
        let Some(id) = line.trim().strip_prefix("instance ") else {
            let _ = child.kill();
            panic!(
                "worker {path} did not start: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            )
        };
        let w = Worker {
            child: Some(child),
            id_hex: id.to_string(),
            port,
            log,
        };
        // Serving once its system status server answers.
        wait_for(20, &format!("worker {path} on port {port}"), || {
            http_get(port, "/health").is_some()
        });
        let root = store.display().to_string();
        assert_registered_on_loopback(&["--file-kv", &root], &w.id_hex);
        w
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// SIGTERM (a clean stop: its discovery entry goes too) and wait, SIGKILL after 20 s.
    pub fn stop(&mut self) {
        if let Some(c) = &self.child {
            unsafe {
                libc::kill(c.id() as i32, libc::SIGTERM);
            }
        }
        if let Some(mut c) = self.child.take() {
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            self.child = Some(c);
            self.kill();
        }
    }

    /// SIGKILL (a crash) and wait.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe {
                libc::kill(-(c.id() as i32), libc::SIGKILL);
            }
            let _ = c.wait();
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A real Dynamo client: `rate` requests/s round robin over `instances` instances of
/// `path` for `seconds`, each taking `sleep` s in the worker. Bounded in count and time.
pub struct Client {
    child: Option<Child>,
}

impl Client {
    pub fn start(
        path: &str,
        instances: usize,
        rate: f64,
        seconds: f64,
        sleep: f64,
        store: &Path,
        logdir: &Path,
    ) -> Client {
        let log = logdir.join(format!("client-{}.log", path.replace('.', "_")));
        let mut cmd = dynamo_python();
        cmd.arg(script("client.py"))
            .args([
                path,
                &instances.to_string(),
                &rate.to_string(),
                &seconds.to_string(),
                &sleep.to_string(),
            ])
            .env("DYN_SYSTEM_PORT", "-1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .process_group(0);
        dynamo_env(&mut cmd, store);
        die_with_parent(&mut cmd);
        let mut child = cmd.spawn().expect("start the Dynamo client");
        let mut line = String::new();
        let _ = BufReader::new(child.stdout.take().unwrap()).read_line(&mut line);
        if line.trim() != "ready" {
            let _ = child.kill();
            panic!(
                "client for {path} did not see {instances} instances: {line} {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        Client { child: Some(child) }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe {
                libc::kill(-(c.id() as i32), libc::SIGKILL);
            }
            let _ = c.wait();
        }
    }
}

/// A real Prometheus scraping `targets` (host:port) every second.
pub struct Prometheus {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl Prometheus {
    pub fn start(targets: &[String]) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let list: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: dynamo\n    static_configs:\n      - targets: [{}]\n",
            list.join(", ")
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let mut cmd = Command::new(prometheus_bin());
        cmd.arg(format!(
            "--config.file={}",
            dir.path().join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .process_group(0);
        die_with_parent(&mut cmd);
        let child = cmd.spawn().expect("start prometheus");
        let p = Prometheus {
            child: Some(child),
            port,
            dir,
        };
        wait_for(30, "prometheus ready", || {
            http_get(port, "/-/ready").is_some_and(|(code, _)| code == 200)
        });
        p
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A plain GET on loopback: (status, body), `None` when nothing answers.
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let code = buf.split_whitespace().nth(1)?.parse().ok()?;
    let body = buf.split_once("\r\n\r\n").map(|x| x.1.to_string())?;
    Some((code, body))
}

/// Polls `cond` every 50 ms until it holds; panics naming `what` after `secs`.
pub fn wait_for(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The shared deployment: namespace `mt`, component `backend`, two workers (the first
/// reports ready on /health and KV use 0.25 under the older `kvstats_` name, the second
/// stays notready and reports 0.5 under the newer name), a client sending 20 requests/s
/// round robin (10 each, 0.3 s each in the worker) for up to 150 s, and a Prometheus
/// scraping both workers and `spare_port` (for a test's own worker).
pub struct Fixture {
    pub started: Instant,
    pub store: PathBuf,
    pub logdir: PathBuf,
    pub workers: Vec<(String, u16)>,
    pub prometheus: String,
    pub spare_port: u16,
}

pub const NS: &str = "mt";
pub const RATE: f64 = 20.0;
pub const SLEEP: f64 = 0.3;

impl Fixture {
    pub fn worker_urls(&self) -> Vec<String> {
        self.workers
            .iter()
            .map(|(_, p)| format!("http://127.0.0.1:{p}"))
            .collect()
    }
}

/// Started once per test binary by a thread that lives as long as the binary (so the
/// processes, tied to it by their parent-death signal, die with the binary).
pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let root = tempfile::tempdir().unwrap();
            let store = root.path().join("kv");
            let logdir = root.path().join("logs");
            std::fs::create_dir_all(&store).unwrap();
            std::fs::create_dir_all(&logdir).unwrap();
            let (p1, p2, spare) = (free_port(), free_port(), free_port());
            let targets: Vec<String> = [p1, p2, spare]
                .iter()
                .map(|p| format!("127.0.0.1:{p}"))
                .collect();
            let prom = Prometheus::start(&targets);
            let path = format!("{NS}.backend.generate");
            let w1 = Worker::start(
                &path,
                p1,
                &[
                    ("DYN_SYSTEM_USE_ENDPOINT_HEALTH_STATUS", "[\"generate\"]"),
                    ("WORKER_KV_USAGE", "0.25"),
                    ("WORKER_KV_NAME", "kvstats"),
                ],
                &store,
                &logdir,
            );
            let w2 = Worker::start(&path, p2, &[("WORKER_KV_USAGE", "0.5")], &store, &logdir);
            let _client = Client::start(&path, 2, RATE, 150.0, SLEEP, &store, &logdir);
            tx.send(Fixture {
                started: Instant::now(),
                store: store.clone(),
                logdir: logdir.clone(),
                workers: vec![(w1.id_hex.clone(), p1), (w2.id_hex.clone(), p2)],
                prometheus: prom.url(),
                spare_port: spare,
            })
            .unwrap();
            loop {
                std::thread::park();
            }
            #[allow(unreachable_code)]
            drop((root, prom, w1, w2));
        });
        rx.recv().expect("the shared deployment did not start")
    })
}
