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

use super::reply::{self, Envelope, Keep, Names};
pub use super::view::{Watcher, pids_of};

/// How long a call waits for an answer unless told otherwise (`--arbiter-timeout`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a call keeps retrying while the arbiter says it is busy with another command
/// (e.g. a slow `rm` with `waiting`), on top of each attempt's own deadline. A view
/// ([`Client::watchers_of`]) retries only within its own budget.
pub const BUSY_RETRY_FOR: Duration = Duration::from_secs(60);
/// The largest reply accepted (`ZMQ_MAXMSGSIZE`: libzmq drops a connection that sends a
/// larger frame, and the call ends at its deadline).
///
/// What circus 0.19 really sends (`scripts/measure-arbiter.py sizes`): `list` takes about
/// 25 bytes per watcher (2,001 watchers: 51,000 bytes), `list NAME` 7–9 bytes per pid
/// (300 pids: 2,196 bytes); a Dynamo deployment has tens of watchers with one process each,
/// well under 2 KB. 1 MiB holds about 40,000 watchers or 115,000 pids: 500 times the
/// largest listing of a real deployment, and little enough to parse and drop at once.
pub const MAX_REPLY: usize = 1 << 20;
/// Messages libzmq queues for the socket before it stops reading the connection
/// (`ZMQ_RCVHWM`, 1,000 by default): circus answers each request once and a socket has one
/// request in flight, so anything beyond a few is someone else's traffic. With
/// [`MAX_REPLY`] this bounds what a flooding peer can make libzmq hold.
const RCV_HWM: i32 = 4;
/// Text the arbiter chose (a refusal's reason, an unexpected status) is cut to this many
/// characters before it is shown.
const MAX_REASON: usize = 300;

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
    #[error("circus is busy (still running another command) after {secs:.1} s: {reason}")]
    Busy { secs: f64, reason: String },
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

/// `s` cut to [`MAX_REASON`] characters (text the arbiter chose, before it is shown).
pub(crate) fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_REASON) {
        None => s.to_string(),
        Some((i, _)) => format!("{}… ({} bytes in all)", &s[..i], s.len()),
    }
}

/// The DEALER socket and the monitor that reports its connection dropped.
struct Conn {
    socket: zmq::Socket,
    monitor: zmq::Socket,
}

impl Conn {
    /// Reads one monitor event without waiting: `Some(true)` when it says the connection
    /// was dropped, `Some(false)` for another event, `None` when there is none.
    fn disconnected(&self) -> Option<bool> {
        let head = self.monitor.recv_bytes(zmq::DONTWAIT).ok()?;
        while self.monitor.get_rcvmore().unwrap_or(false) {
            if self.monitor.recv_bytes(zmq::DONTWAIT).is_err() {
                break;
            }
        }
        let event = head.get(..2).map(|b| u16::from_le_bytes([b[0], b[1]]));
        Some(event == Some(zmq::SocketEvent::DISCONNECTED as u16))
    }
}

/// One connection to one arbiter. Not `Sync`: keep it behind a `Mutex` to share it.
pub struct Client {
    endpoint: String,
    timeout: Duration,
    ctx: zmq::Context,
    conn: Option<Conn>,
    probed: bool,
    busy_retries: u64,
    /// When set, no call waits past it (a view's budget, see [`Client::watchers_of`]).
    deadline: Option<Instant>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoint", &self.endpoint)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Client {
    pub fn new(endpoint: &str, timeout: Duration) -> Result<Client> {
        check_endpoint(endpoint)?;
        Ok(Client {
            endpoint: endpoint.to_string(),
            timeout,
            ctx: zmq::Context::new(),
            conn: None,
            probed: false,
            busy_retries: 0,
            deadline: None,
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

    /// Runs `f` with no call waiting past `deadline` (nor past an earlier one already set).
    pub(crate) fn with_deadline<T>(
        &mut self,
        deadline: Instant,
        f: impl FnOnce(&mut Self) -> T,
    ) -> T {
        let before = self.deadline;
        self.deadline = Some(self.limit(deadline));
        let out = f(self);
        self.deadline = before;
        out
    }

    /// `t`, or the deadline set by [`Client::with_deadline`] when that comes first.
    fn limit(&self, t: Instant) -> Instant {
        self.deadline.map_or(t, |d| d.min(t))
    }

    fn unreachable(&self, reason: impl Into<String>) -> ArbiterError {
        ArbiterError::Unreachable {
            endpoint: self.endpoint.clone(),
            reason: reason.into(),
        }
    }

    fn no_answer(&self) -> ArbiterError {
        self.unreachable(format!(
            "no answer within {:.1} s",
            self.timeout.as_secs_f64()
        ))
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
                let now = Instant::now();
                let wait = self
                    .limit(now + self.timeout.min(Duration::from_secs(2)))
                    .saturating_duration_since(now);
                if wait.is_zero() {
                    return Err(self.no_answer());
                }
                match TcpStream::connect_timeout(&a, wait) {
                    Ok(_) => return Ok(()),
                    Err(e) => last = Some(e),
                }
            }
            if let Some(e) = last {
                return Err(if e.kind() == std::io::ErrorKind::TimedOut {
                    self.no_answer()
                } else {
                    self.unreachable(e.to_string())
                });
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

    fn conn(&mut self) -> Result<&Conn> {
        if self.conn.is_none() {
            if !self.probed {
                self.probe()?;
                self.probed = true;
            }
            let zerr = |e: zmq::Error| self.unreachable(format!("zmq: {e}"));
            let s = self.ctx.socket(zmq::DEALER).map_err(zerr)?;
            s.set_linger(0).map_err(zerr)?;
            s.set_maxmsgsize(MAX_REPLY as i64).map_err(zerr)?;
            s.set_rcvhwm(RCV_HWM).map_err(zerr)?;
            s.set_identity(unique("dynamo-ctl-").as_bytes())
                .map_err(zerr)?;
            // Told when libzmq drops the connection (a reply over MAX_REPLY, the arbiter
            // gone): the call ends then, with the reason, not at its deadline.
            let at = format!("inproc://{}", unique("dynamo-ctl-monitor-"));
            s.monitor(&at, zmq::SocketEvent::DISCONNECTED as i32)
                .map_err(zerr)?;
            let monitor = self.ctx.socket(zmq::PAIR).map_err(zerr)?;
            monitor.set_linger(0).map_err(zerr)?;
            monitor.connect(&at).map_err(zerr)?;
            s.connect(&self.endpoint).map_err(zerr)?;
            self.conn = Some(Conn { socket: s, monitor });
        }
        Ok(self.conn.as_ref().expect("just set"))
    }

    /// Drops the socket (after a timeout or error), so the next call starts clean.
    fn reset(&mut self) {
        self.conn = None;
        self.probed = false;
    }

    /// Sends one request and waits for the reply with its id, until `deadline` whatever
    /// else arrives: replies with another id, or that are no JSON object, are dropped as
    /// they come, and the deadline is checked after each.
    fn attempt(
        &mut self,
        msg: &Value,
        id: &str,
        deadline: Instant,
    ) -> Result<(zmq::Message, Envelope)> {
        if Instant::now() >= deadline {
            return Err(self.no_answer());
        }
        let text = msg.to_string();
        let sent = {
            let c = self.conn()?;
            // A drop before this request (an arbiter restarted since) is not its answer:
            // libzmq reconnects by itself.
            while c.disconnected().is_some() {}
            c.socket
                .set_sndtimeo(
                    deadline
                        .saturating_duration_since(Instant::now())
                        .as_millis()
                        .clamp(1, i32::MAX as u128) as i32,
                )
                .and_then(|_| c.socket.send(text.as_bytes(), 0))
        };
        if let Err(e) = sent {
            self.reset();
            return Err(if e == zmq::Error::EAGAIN {
                self.no_answer()
            } else {
                self.unreachable(format!("send: {e}"))
            });
        }
        let mut frame = zmq::Message::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                self.reset();
                return Err(self.no_answer());
            }
            let c = self.conn.as_ref().expect("socket exists after send");
            let s = &c.socket;
            let mut items = [
                s.as_poll_item(zmq::POLLIN),
                c.monitor.as_poll_item(zmq::POLLIN),
            ];
            let ms = left.as_millis().clamp(1, i64::MAX as u128) as i64;
            match zmq::poll(&mut items, ms) {
                Ok(_) => {}
                Err(zmq::Error::EINTR) => continue,
                Err(e) => {
                    self.reset();
                    return Err(self.unreachable(format!("poll: {e}")));
                }
            }
            if items[1].is_readable() && c.disconnected() == Some(true) {
                self.reset();
                return Err(self.unreachable(format!(
                    "the connection was dropped before an answer came (replies over {} MiB are refused)",
                    MAX_REPLY >> 20
                )));
            }
            if !items[0].is_readable() {
                continue;
            }
            match s.recv(&mut frame, zmq::DONTWAIT) {
                Ok(()) => {}
                Err(zmq::Error::EAGAIN) | Err(zmq::Error::EINTR) => continue,
                Err(e) => {
                    self.reset();
                    return Err(self.unreachable(format!("receive: {e}")));
                }
            }
            // Circus answers with one frame; a message of several is not its answer. The
            // parts of a message arrive together, so none of these waits.
            let mut parts = 1u32;
            let mut rest = zmq::Message::new();
            while s.get_rcvmore().unwrap_or(false) && s.recv(&mut rest, zmq::DONTWAIT).is_ok() {
                parts = parts.saturating_add(1);
            }
            if parts > 1 {
                continue;
            }
            let Some(env) = reply::envelope(&frame) else {
                continue; // not a JSON object: not an answer to us
            };
            if env.id.as_deref() != Some(id) {
                continue; // a late answer to an earlier request, or someone else's
            }
            return Ok((std::mem::replace(&mut frame, zmq::Message::new()), env));
        }
    }

    /// One command; returns the reply and its status once the arbiter did not refuse it.
    /// Retries with backoff while the arbiter answers that it is busy, for
    /// [`BUSY_RETRY_FOR`] (or until the deadline a view set).
    fn exchange(&mut self, command: &str, properties: &Value) -> Result<(zmq::Message, String)> {
        let started = Instant::now();
        let busy_until = self.limit(started + BUSY_RETRY_FOR);
        let mut backoff = Duration::from_millis(20);
        loop {
            let id = unique("");
            let msg = json!({"id": id, "command": command, "properties": properties});
            let deadline = self.limit(Instant::now() + self.timeout);
            let (reply, env) = self.attempt(&msg, &id, deadline)?;
            match env.status {
                Some(status) if status != "error" => return Ok((reply, status)),
                Some(_) => {
                    let reason = clip(env.reason.as_deref().unwrap_or("no reason given"));
                    let busy = reason.contains("already running")
                        || reason.contains("arbiter is restarting");
                    if !busy {
                        return Err(ArbiterError::Refused {
                            command: command.to_string(),
                            reason,
                        });
                    }
                    let now = Instant::now();
                    if now + backoff >= busy_until {
                        return Err(ArbiterError::Busy {
                            secs: started.elapsed().as_secs_f64(),
                            reason,
                        });
                    }
                    self.busy_retries += 1;
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(Duration::from_millis(500));
                }
                None => return Err(Self::protocol(command, "no status")),
            }
        }
    }

    /// One command that must answer `"status": "ok"`; the reply, unparsed.
    fn call_raw(&mut self, command: &str, properties: Value) -> Result<zmq::Message> {
        let (reply, status) = self.exchange(command, &properties)?;
        if status != "ok" {
            return Err(Self::protocol(
                command,
                &format!("status {:?}", clip(&status)),
            ));
        }
        Ok(reply)
    }

    /// One command with its properties; returns the reply's fields on `"status": "ok"`.
    /// Retries with backoff while the arbiter answers that it is busy. The reply is parsed
    /// into a tree (up to 40 times its size): for commands with small answers.
    pub fn call(&mut self, command: &str, properties: Value) -> Result<Map<String, Value>> {
        let reply = self.call_raw(command, properties)?;
        serde_json::from_slice(&reply).map_err(|e| Self::protocol(command, &e.to_string()))
    }

    fn protocol(command: &str, detail: &str) -> ArbiterError {
        ArbiterError::Protocol {
            command: command.to_string(),
            detail: detail.to_string(),
        }
    }

    /// The watcher names of a `list` reply that `keep` keeps, with how many it listed.
    pub fn names(&mut self, keep: Keep) -> Result<Names> {
        let r = self.call_raw("list", json!({}))?;
        match reply::watchers(&r, keep) {
            Ok(Some(n)) => Ok(n),
            Ok(None) => Err(Self::protocol("list", "no \"watchers\" list")),
            Err(e) => Err(Self::protocol("list", &e)),
        }
    }

    /// Whether the arbiter answers `list`; how many watchers it runs.
    pub fn ping(&mut self) -> Result<usize> {
        Ok(self.names(Keep::Nothing)?.total)
    }

    /// Every watcher's name, as circus lists them (lower-cased).
    pub fn list(&mut self) -> Result<Vec<String>> {
        Ok(self.names(Keep::All)?.kept)
    }

    /// The live pids of one watcher.
    pub fn pids(&mut self, name: &str) -> Result<Vec<u32>> {
        let r = self.call_raw("list", json!({"name": name}))?;
        match reply::pids(&r) {
            Ok(Some(p)) => Ok(p),
            Ok(None) => Err(Self::protocol("list", "no \"pids\" list")),
            Err(e) => Err(Self::protocol("list", &e)),
        }
    }

    /// How many processes the watcher has (running or not yet reaped).
    pub fn numprocesses(&mut self, name: &str) -> Result<u64> {
        let r = self.call_raw("numprocesses", json!({"name": name}))?;
        reply::numprocesses(&r)
            .ok()
            .flatten()
            .ok_or_else(|| Self::protocol("numprocesses", "no \"numprocesses\" number"))
    }

    /// "active", "stopped", ... (circus answers `status NAME` with the watcher's status in
    /// place of "ok").
    pub fn status(&mut self, name: &str) -> Result<String> {
        let (_, status) = self.exchange("status", &json!({"name": name}))?;
        Ok(clip(&status))
    }

    /// Adds a watcher with the planner's options (plus `extra`: its log streams) and
    /// starts it.
    pub fn add(
        &mut self,
        name: &str,
        cmd: &str,
        env: &Map<String, Value>,
        extra: Map<String, Value>,
    ) -> Result<()> {
        let mut options = planner_watcher_options(env);
        if let Some(o) = options.as_object_mut() {
            o.extend(extra);
        }
        self.call_raw(
            "add",
            json!({
                "name": name,
                "cmd": cmd,
                "args": [],
                "options": options,
                "start": true,
            }),
        )
        .map(|_| ())
    }

    /// Sends a signal (e.g. "SIGTERM") to the watcher's processes.
    pub fn signal(&mut self, name: &str, signum: &str) -> Result<()> {
        self.call_raw("signal", json!({"name": name, "signum": signum}))
            .map(|_| ())
    }

    /// Removes a watcher, stopping it and waiting for that.
    pub fn rm(&mut self, name: &str) -> Result<()> {
        self.call_raw(
            "rm",
            json!({"name": name, "nostop": false, "waiting": true}),
        )
        .map(|_| ())
    }

    /// Whether `name` is among the watchers (circus lower-cases names).
    pub fn has_watcher(&mut self, name: &str) -> Result<bool> {
        Ok(!self
            .names(Keep::Exactly(name.to_lowercase()))?
            .kept
            .is_empty())
    }
}

#[cfg(test)]
mod tests;
