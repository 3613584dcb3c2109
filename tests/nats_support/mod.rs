//! A real nats-server (Debian `nats-server`, installed by scripts/test.sh) on a free loopback
//! port with a temp store dir, and Dynamo 0.3's prefill queue made on it the way its
//! `NATSQueue` makes it (stream `<name>` on `<name>.*`, durable pull consumer
//! `worker-group` on `<name>.queue`), through the crate's own small client.
#![allow(dead_code)]

#[path = "../servers/mod.rs"]
mod servers;
pub use servers::*;

pub fn nats_bin() -> PathBuf {
    need_bin("nats-server", "nats-server")
}

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use dynamo_ctl::metrics::nats::{Client, NatsUrl};
use serde_json::{Value, json};

pub const T: Duration = Duration::from_secs(10);

pub struct NatsServer {
    child: Option<Child>,
    pub port: u16,
    pub jetstream: bool,
    pub dir: tempfile::TempDir,
}

impl NatsServer {
    /// `nats-server -js` on a free port, its store in a temp dir; returns once JetStream
    /// answers.
    pub fn start() -> NatsServer {
        Self::start_with(true)
    }

    pub fn start_with(jetstream: bool) -> NatsServer {
        let mut s = NatsServer {
            child: None,
            port: free_port(),
            jetstream,
            dir: tempfile::tempdir().unwrap(),
        };
        s.spawn();
        s
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("nats.log")
    }

    /// Starts the server (again, same port and store after [`stop`](Self::stop)).
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log())
            .unwrap();
        let mut cmd = Command::new(nats_bin());
        cmd.args(["-a", "127.0.0.1", "-p", &self.port.to_string()]);
        if self.jetstream {
            cmd.arg("-js").arg("-sd").arg(self.dir.path().join("js"));
        }
        cmd.stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        die_with_parent(&mut cmd);
        self.child = Some(cmd.spawn().expect("start nats-server"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.ready() {
            if let Some(Ok(Some(st))) = self.child.as_mut().map(|c| c.try_wait()) {
                panic!(
                    "nats-server exited ({st}): {}",
                    std::fs::read_to_string(self.log()).unwrap_or_default()
                );
            }
            assert!(
                Instant::now() < deadline,
                "nats-server did not answer within 30 s: {}",
                std::fs::read_to_string(self.log()).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the server answers a PING, and (with JetStream) `$JS.API.INFO`.
    fn ready(&self) -> bool {
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let probe = if self.jetstream {
            "CONNECT {\"verbose\":false,\"headers\":true,\"no_responders\":true}\r\nSUB r 1\r\nPUB $JS.API.INFO r 0\r\n\r\nPING\r\n"
        } else {
            "CONNECT {\"verbose\":false}\r\nPING\r\n"
        };
        if s.write_all(probe.as_bytes()).is_err() {
            return false;
        }
        let mut got = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match s.read(&mut chunk) {
                Ok(0) | Err(_) => return false,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
            }
            let text = String::from_utf8_lossy(&got);
            if text.contains("PONG\r\n") {
                // The JetStream answer comes before the PONG; a "no responders" status
                // (`NATS/1.0 503` in a header) means not yet. Only the status line counts:
                // the answer's JSON holds byte counts that may contain the digits 503.
                return !self.jetstream
                    || (text.contains("MSG r 1") && !text.contains("NATS/1.0 503"));
            }
        }
    }

    /// Stops the server (SIGTERM, then waits); the store stays for a restart.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe {
                libc::kill(c.id() as i32, libc::SIGTERM);
            }
            let _ = c.wait();
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One `nats-server -js` for the whole test binary, for tests that use their own stream
/// names. Started by a thread that lives as long as the binary, so it dies with it.
pub fn shared_url() -> String {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let s = NatsServer::start();
            tx.send(s.url()).unwrap();
            loop {
                std::thread::park();
            }
            #[allow(unreachable_code)]
            drop(s);
        });
        rx.recv().expect("shared nats-server")
    })
    .clone()
}

pub async fn client(url: &str) -> Client {
    Client::connect(&NatsUrl::parse(url).unwrap(), T)
        .await
        .expect("connect to nats-server")
}

/// A JetStream API request; panics on an API error.
pub async fn api(c: &mut Client, subject: &str, body: Value) -> Value {
    let m = c
        .request(subject, body.to_string().as_bytes())
        .await
        .unwrap_or_else(|e| panic!("{subject}: {e}"));
    let v: Value = serde_json::from_slice(&m.payload)
        .unwrap_or_else(|e| panic!("{subject}: {e}: {:?}", String::from_utf8_lossy(&m.payload)));
    assert!(v.get("error").is_none(), "{subject}: {v}");
    v
}

/// A stream as Dynamo 0.3's `NATSQueue` adds it: subjects `<name>.*`, defaults otherwise.
pub async fn create_stream(c: &mut Client, name: &str) {
    api(
        c,
        &format!("$JS.API.STREAM.CREATE.{name}"),
        json!({"name": name, "subjects": [format!("{name}.*")]}),
    )
    .await;
}

/// A durable pull consumer as nats-py's `pull_subscribe("<stream>.queue", durable=...)`
/// creates it.
pub async fn create_consumer(c: &mut Client, stream: &str, durable: &str) {
    api(
        c,
        &format!("$JS.API.CONSUMER.DURABLE.CREATE.{stream}.{durable}"),
        json!({"stream_name": stream, "config": {
            "durable_name": durable,
            "deliver_policy": "all",
            "ack_policy": "explicit",
            "filter_subject": format!("{stream}.queue"),
        }}),
    )
    .await;
}

/// The prefill queue of Dynamo 0.3: the stream and its `worker-group` consumer.
pub async fn create_queue(c: &mut Client, stream: &str) {
    create_stream(c, stream).await;
    create_consumer(c, stream, "worker-group").await;
}

/// Enqueues `n` prefill requests on `<stream>.queue`, each acknowledged by JetStream.
pub async fn enqueue(c: &mut Client, stream: &str, n: usize) {
    for i in 0..n {
        let body = json!({"engine_id": "e", "request_id": format!("r{i}")}).to_string();
        let m = c
            .request(&format!("{stream}.queue"), body.as_bytes())
            .await
            .unwrap();
        let ack: Value = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(ack["stream"], stream, "publish ack: {ack}");
    }
}

/// A prefill worker's `fetch(1)` done `k` times: returns the ack subjects (not acked yet).
pub async fn fetch(c: &mut Client, stream: &str, k: usize) -> Vec<String> {
    let mut acks = Vec::new();
    for _ in 0..k {
        let m = c
            .request(
                &format!("$JS.API.CONSUMER.MSG.NEXT.{stream}.worker-group"),
                json!({"batch": 1, "expires": 5_000_000_000u64})
                    .to_string()
                    .as_bytes(),
            )
            .await
            .unwrap();
        assert_eq!(m.status, None, "fetch got a status, not a message: {m:?}");
        acks.push(m.reply.expect("a JetStream message has an ack subject"));
    }
    acks
}

/// Acknowledges fetched messages, each confirmed by the server.
pub async fn ack(c: &mut Client, acks: &[String]) {
    for a in acks {
        c.request(a, b"+ACK").await.unwrap();
    }
}
