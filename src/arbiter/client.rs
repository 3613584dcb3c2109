//! A client for the circus arbiter's control socket (`circus_endpoint`): a ZeroMQ DEALER
//! sending one JSON frame per request and matching replies by id.
//!
//! Crate choice: `zmq` (libzmq, built from source by `zmq-sys`, so a fresh machine needs
//! nothing beyond Rust and a C compiler). It reconnects by itself after an arbiter restart;
//! the pure-Rust `zeromq` crate does not, and takes 30 s to fail a connect. On a timeout the
//! socket is dropped and rebuilt anyway, so a late reply can never be read as the answer to
//! the next request.

use std::net::{TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Map, Value, json};

/// How long a call waits for an answer unless told otherwise (`--arbiter-timeout`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a call keeps retrying while the arbiter says it is busy with another command
/// (e.g. a slow `rm` with `waiting`), on top of each attempt's own deadline.
pub const BUSY_RETRY_FOR: Duration = Duration::from_secs(60);
/// Replies larger than this are refused by libzmq (a hostile or confused peer).
const MAX_REPLY: i64 = 16 << 20;

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum ArbiterError {
    #[error("the state file names no circus endpoint")]
    NoEndpoint,
    #[error("circus endpoint {endpoint:?} is not usable: {reason}")]
    BadEndpoint { endpoint: String, reason: String },
    #[error("circus at {endpoint} is unreachable: {reason}")]
    Unreachable { endpoint: String, reason: String },
    #[error("circus refused {command}: {reason}")]
    Refused { command: String, reason: String },
    #[error("circus is busy (still running another command) after {secs} s: {reason}")]
    Busy { secs: u64, reason: String },
    #[error("circus answered {command} with something unexpected: {detail}")]
    Protocol { command: String, detail: String },
}

impl ArbiterError {
    /// True when the arbiter did not answer at all (as opposed to answering "no").
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            ArbiterError::Unreachable { .. } | ArbiterError::NoEndpoint
        )
    }
}

pub type Result<T> = std::result::Result<T, ArbiterError>;

/// The options the planner gives a new worker's watcher (`LocalConnector.add_component`).
pub fn planner_watcher_options(env: &Map<String, Value>) -> Value {
    json!({
        "copy_env": true,
        "stop_children": true,
        "graceful_timeout": 86400,
        "respawn": false,
        "env": env,
        "singleton": true,
    })
}

/// Checks an endpoint read from a (possibly hostile) state file: `tcp://host:port` or
/// `ipc:///path`, nothing else.
pub fn check_endpoint(endpoint: &str) -> Result<()> {
    let bad = |reason: &str| {
        Err(ArbiterError::BadEndpoint {
            endpoint: endpoint.to_string(),
            reason: reason.to_string(),
        })
    };
    if endpoint.len() > 1024 {
        return bad("longer than 1024 bytes");
    }
    if endpoint.chars().any(|c| c.is_control()) {
        return bad("it contains control characters");
    }
    if let Some(rest) = endpoint.strip_prefix("tcp://") {
        match rest.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => Ok(()),
            _ => bad("expected tcp://HOST:PORT"),
        }
    } else if let Some(path) = endpoint.strip_prefix("ipc://") {
        if path.is_empty() {
            bad("expected ipc://PATH")
        } else {
            Ok(())
        }
    } else {
        bad("only tcp:// and ipc:// endpoints are supported")
    }
}

static SEQ: AtomicU64 = AtomicU64::new(0);

/// A process-unique token: time, pid and a counter (request ids and socket identities).
fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!(
        "{prefix}{:x}{:08x}{:06x}",
        nanos,
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed) & 0xff_ffff
    )
}

/// One connection to one arbiter. Not `Sync`: keep it behind a `Mutex` to share it.
pub struct Client {
    endpoint: String,
    timeout: Duration,
    ctx: zmq::Context,
    socket: Option<zmq::Socket>,
    probed: bool,
    busy_retries: u64,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// A watcher as the arbiter runs it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Watcher {
    /// As circus lists it (lower-cased).
    pub name: String,
    pub pids: Vec<u32>,
}

/// Circus lower-cases watcher names (Python's `str.lower`): compare that way.
fn same_watcher(a: &str, b: &str) -> bool {
    a == b || a.to_lowercase() == b.to_lowercase()
}

/// The pids of watcher `name` among `watchers`; empty when circus runs no such watcher.
pub fn pids_of(watchers: &[Watcher], name: &str) -> Vec<u32> {
    watchers
        .iter()
        .find(|w| same_watcher(&w.name, name))
        .map(|w| w.pids.clone())
        .unwrap_or_default()
}

/// The watchers no entry of the state file names (running, not in the file).
pub fn unmanaged<'a>(watchers: &'a [Watcher], s: &crate::state::Summary) -> Vec<&'a Watcher> {
    watchers
        .iter()
        .filter(|w| {
            !s.types
                .iter()
                .flat_map(|t| &t.instances)
                .any(|i| same_watcher(&i.watcher_name, &w.name))
        })
        .collect()
}

impl Client {
    pub fn new(endpoint: &str, timeout: Duration) -> Result<Client> {
        check_endpoint(endpoint)?;
        Ok(Client {
            endpoint: endpoint.to_string(),
            timeout,
            ctx: zmq::Context::new(),
            socket: None,
            probed: false,
            busy_retries: 0,
        })
    }

    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// How many times a call was retried because the arbiter was busy.
    pub fn busy_retries(&self) -> u64 {
        self.busy_retries
    }

    fn unreachable(&self, reason: impl Into<String>) -> ArbiterError {
        ArbiterError::Unreachable {
            endpoint: self.endpoint.clone(),
            reason: reason.into(),
        }
    }

    /// Fails fast where the OS can tell: a refused TCP connection or a missing ipc socket.
    /// libzmq itself would retry silently until the deadline.
    fn probe(&self) -> Result<()> {
        if let Some(rest) = self.endpoint.strip_prefix("tcp://") {
            let Some((host, port)) = rest.rsplit_once(':') else {
                return Ok(());
            };
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let literal = host.parse::<std::net::IpAddr>().is_ok() || host == "localhost";
            if !literal || host == "*" {
                return Ok(()); // a host name: no DNS lookup here, the deadline decides
            }
            let Ok(port) = port.parse::<u16>() else {
                return Ok(());
            };
            let Ok(addrs) = (host, port).to_socket_addrs() else {
                return Ok(());
            };
            let mut last = None;
            for a in addrs {
                match TcpStream::connect_timeout(&a, self.timeout.min(Duration::from_secs(2))) {
                    Ok(_) => return Ok(()),
                    Err(e) => last = Some(e),
                }
            }
            if let Some(e) = last {
                return Err(
                    self.unreachable(if e.kind() == std::io::ErrorKind::TimedOut {
                        format!("no answer within {:.1} s", self.timeout.as_secs_f64())
                    } else {
                        e.to_string()
                    }),
                );
            }
        } else if let Some(path) = self.endpoint.strip_prefix("ipc://") {
            use std::os::unix::fs::FileTypeExt;
            match std::fs::metadata(path) {
                Ok(m) if m.file_type().is_socket() => {}
                Ok(_) => return Err(self.unreachable(format!("{path} is not a socket"))),
                Err(e) => return Err(self.unreachable(format!("{path}: {e}"))),
            }
        }
        Ok(())
    }

    fn socket(&mut self) -> Result<&zmq::Socket> {
        if self.socket.is_none() {
            if !self.probed {
                self.probe()?;
                self.probed = true;
            }
            let zerr = |e: zmq::Error| self.unreachable(format!("zmq: {e}"));
            let s = self.ctx.socket(zmq::DEALER).map_err(zerr)?;
            s.set_linger(0).map_err(zerr)?;
            s.set_maxmsgsize(MAX_REPLY).map_err(zerr)?;
            s.set_identity(unique("dynamo-ctl-").as_bytes())
                .map_err(zerr)?;
            s.connect(&self.endpoint).map_err(zerr)?;
            self.socket = Some(s);
        }
        Ok(self.socket.as_ref().expect("just set"))
    }

    /// Drops the socket (after a timeout or error), so the next call starts clean.
    fn reset(&mut self) {
        self.socket = None;
        self.probed = false;
    }

    /// Sends one request and waits for the reply with its id, until `deadline`.
    fn attempt(&mut self, msg: &Value, id: &str, deadline: Instant) -> Result<Map<String, Value>> {
        let text = msg.to_string();
        let timeout_secs = self.timeout.as_secs_f64();
        let sent = {
            let s = self.socket()?;
            s.set_sndtimeo(
                deadline
                    .saturating_duration_since(Instant::now())
                    .as_millis()
                    .min(i32::MAX as u128) as i32,
            )
            .and_then(|_| s.send(text.as_bytes(), 0))
        };
        if let Err(e) = sent {
            self.reset();
            return Err(self.unreachable(if e == zmq::Error::EAGAIN {
                format!("no answer within {timeout_secs:.1} s")
            } else {
                format!("send: {e}")
            }));
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let s = self.socket.as_ref().expect("socket exists after send");
            let mut items = [s.as_poll_item(zmq::POLLIN)];
            let n = match zmq::poll(&mut items, left.as_millis().min(i64::MAX as u128) as i64) {
                Ok(n) => n,
                Err(zmq::Error::EINTR) => continue,
                Err(e) => {
                    self.reset();
                    return Err(self.unreachable(format!("poll: {e}")));
                }
            };
            if n == 0 || !items[0].is_readable() {
                if Instant::now() >= deadline {
                    self.reset();
                    return Err(self.unreachable(format!("no answer within {timeout_secs:.1} s")));
                }
                continue;
            }
            let bytes = match s.recv_bytes(zmq::DONTWAIT) {
                Ok(b) => b,
                Err(zmq::Error::EAGAIN) | Err(zmq::Error::EINTR) => continue,
                Err(e) => {
                    self.reset();
                    return Err(self.unreachable(format!("receive: {e}")));
                }
            };
            // Drain any further frames of a multi-part message (circus sends one).
            while s.get_rcvmore().unwrap_or(false) {
                let _ = s.recv_bytes(0);
            }
            let Ok(Value::Object(reply)) = serde_json::from_slice::<Value>(&bytes) else {
                continue; // not JSON: not an answer to us
            };
            if reply.get("id").and_then(Value::as_str) != Some(id) {
                continue; // a late answer to an earlier request
            }
            return Ok(reply);
        }
    }

    /// One command with its properties; returns the reply's fields on `"status": "ok"`.
    /// Retries with backoff while the arbiter answers that it is busy.
    pub fn call(&mut self, command: &str, properties: Value) -> Result<Map<String, Value>> {
        let started = Instant::now();
        let mut backoff = Duration::from_millis(20);
        loop {
            let id = unique("");
            let msg = json!({"id": id, "command": command, "properties": properties});
            let reply = self.attempt(&msg, &id, Instant::now() + self.timeout)?;
            match reply.get("status").and_then(Value::as_str) {
                Some("ok") => return Ok(reply),
                Some("error") => {
                    let reason = reply
                        .get("reason")
                        .and_then(Value::as_str)
                        .unwrap_or("no reason given")
                        .to_string();
                    let busy = reason.contains("already running")
                        || reason.contains("arbiter is restarting");
                    if !busy {
                        return Err(ArbiterError::Refused {
                            command: command.to_string(),
                            reason,
                        });
                    }
                    if started.elapsed() >= BUSY_RETRY_FOR {
                        return Err(ArbiterError::Busy {
                            secs: started.elapsed().as_secs(),
                            reason,
                        });
                    }
                    self.busy_retries += 1;
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_millis(500));
                }
                other => {
                    return Err(ArbiterError::Protocol {
                        command: command.to_string(),
                        detail: format!("status {other:?}"),
                    });
                }
            }
        }
    }

    fn protocol(command: &str, detail: &str) -> ArbiterError {
        ArbiterError::Protocol {
            command: command.to_string(),
            detail: detail.to_string(),
        }
    }

    /// Every watcher's name, as circus lists them (lower-cased).
    pub fn list(&mut self) -> Result<Vec<String>> {
        let r = self.call("list", json!({}))?;
        let Some(Value::Array(ws)) = r.get("watchers") else {
            return Err(Self::protocol("list", "no \"watchers\" list"));
        };
        Ok(ws
            .iter()
            .filter_map(|w| w.as_str().map(str::to_string))
            .collect())
    }

    /// The live pids of one watcher.
    pub fn pids(&mut self, name: &str) -> Result<Vec<u32>> {
        let r = self.call("list", json!({"name": name}))?;
        let Some(Value::Array(ps)) = r.get("pids") else {
            return Err(Self::protocol("list", "no \"pids\" list"));
        };
        Ok(ps
            .iter()
            .filter_map(|p| p.as_u64().and_then(|p| u32::try_from(p).ok()))
            .collect())
    }

    /// How many processes the watcher has (running or not yet reaped).
    pub fn numprocesses(&mut self, name: &str) -> Result<u64> {
        let r = self.call("numprocesses", json!({"name": name}))?;
        r.get("numprocesses")
            .and_then(Value::as_u64)
            .ok_or_else(|| Self::protocol("numprocesses", "no \"numprocesses\" number"))
    }

    /// "active", "stopped", ...
    pub fn status(&mut self, name: &str) -> Result<String> {
        let r = self.call("status", json!({"name": name}))?;
        r.get("status")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| Self::protocol("status", "no status"))
    }

    /// Adds a watcher with the planner's options and starts it.
    pub fn add(&mut self, name: &str, cmd: &str, env: &Map<String, Value>) -> Result<()> {
        self.call(
            "add",
            json!({
                "name": name,
                "cmd": cmd,
                "args": [],
                "options": planner_watcher_options(env),
                "start": true,
            }),
        )
        .map(|_| ())
    }

    /// Sends a signal (e.g. "SIGTERM") to the watcher's processes.
    pub fn signal(&mut self, name: &str, signum: &str) -> Result<()> {
        self.call("signal", json!({"name": name, "signum": signum}))
            .map(|_| ())
    }

    /// Removes a watcher, stopping it and waiting for that.
    pub fn rm(&mut self, name: &str) -> Result<()> {
        self.call(
            "rm",
            json!({"name": name, "nostop": false, "waiting": true}),
        )
        .map(|_| ())
    }

    /// Whether `name` is among the watchers (circus lower-cases names).
    pub fn has_watcher(&mut self, name: &str) -> Result<bool> {
        Ok(self.list()?.iter().any(|w| same_watcher(w, name)))
    }

    /// The watchers whose names start with `<namespace>_` (case-insensitively), with pids.
    pub fn watchers_of(&mut self, namespace: &str) -> Result<Vec<Watcher>> {
        let prefix = format!("{}_", namespace.to_lowercase());
        let mut out = Vec::new();
        for name in self.list()? {
            if name.to_lowercase().starts_with(&prefix) {
                let pids = match self.pids(&name) {
                    Ok(p) => p,
                    // Removed between the two calls.
                    Err(ArbiterError::Refused { .. }) => continue,
                    Err(e) => return Err(e),
                };
                out.push(Watcher { name, pids });
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_from_the_file_are_checked() {
        assert!(check_endpoint("tcp://127.0.0.1:5555").is_ok());
        assert!(check_endpoint("tcp://[::1]:5555").is_ok());
        assert!(check_endpoint("ipc:///tmp/circus.sock").is_ok());
        for bad in [
            "",
            "tcp://127.0.0.1",
            "tcp://:5",
            "tcp://h:99999",
            "inproc://x",
            "http://x:1",
            "tcp://a\x1b]2;x\x07:1",
        ] {
            assert!(check_endpoint(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_refused_port_is_reported_as_refused_not_as_a_timeout() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let mut c =
            Client::new(&format!("tcp://127.0.0.1:{port}"), Duration::from_secs(30)).unwrap();
        let e = c.list().unwrap_err();
        assert!(e.is_unreachable(), "{e}");
        assert!(e.to_string().to_lowercase().contains("refused"), "{e}");
    }

    #[test]
    fn ids_are_unique() {
        let a = unique("");
        let b = unique("");
        assert_ne!(a, b);
    }
}
