//! The small NATS client underneath the prefill-queue source: one TCP connection, one
//! wildcard inbox subscription, requests matched to replies by subject. Reading is linear
//! in the bytes received: operations are parsed at a read offset and the buffer is
//! compacted only when what was read is at least half of it.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Auth, MAX_LINE, MAX_PAYLOAD, NatsError, NatsUrl, WINDOW, io_error, quote};

/// A message received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Msg {
    pub subject: String,
    pub reply: Option<String>,
    /// The status of a header-only message (`NATS/1.0 503`: no responders, 404, 408...).
    pub status: Option<u16>,
    pub payload: Vec<u8>,
}

enum Op {
    Info(Vec<u8>),
    Msg(Msg),
    Ping,
    Pong,
    Ok,
    Err(String),
}

#[derive(Deserialize)]
struct ServerInfo {
    #[serde(default)]
    tls_required: bool,
}

fn random_token() -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    if let Ok(d) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        h.write_u128(d.as_nanos());
    }
    format!("{:016x}", h.finish())
}

/// A plain NATS client: one TCP connection, one wildcard inbox subscription, requests
/// matched to replies by subject. Sequential (`&mut self`); after any error it should be
/// dropped (a timed-out call may have left a frame half read).
pub struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    inbox: String,
    next: u64,
    timeout: Duration,
}

impl Client {
    /// Connects, checks the server's INFO, sends CONNECT and waits for the PONG of a PING
    /// (so a bad password fails here), then subscribes to its inbox. Bounded by `timeout`.
    pub async fn connect(url: &NatsUrl, timeout: Duration) -> Result<Client, NatsError> {
        match tokio::time::timeout(timeout, Self::connect_inner(url, timeout)).await {
            Ok(r) => r,
            Err(_) => Err(NatsError::Timeout(timeout)),
        }
    }

    async fn connect_inner(url: &NatsUrl, timeout: Duration) -> Result<Client, NatsError> {
        let addr = url.to_string();
        let stream = TcpStream::connect((url.host.as_str(), url.port))
            .await
            .map_err(|e| NatsError::Unreachable {
                addr: quote(&addr),
                why: quote(&e.to_string()),
            })?;
        let _ = stream.set_nodelay(true);
        let mut c = Client {
            stream,
            buf: Vec::with_capacity(16 << 10),
            start: 0,
            inbox: format!("_INBOX.dynctl{}", random_token()),
            next: 0,
            timeout,
        };
        let info = match c.read_op().await? {
            Op::Info(json) => serde_json::from_slice::<ServerInfo>(&json)
                .map_err(|e| NatsError::Protocol(format!("INFO: {}", quote(&e.to_string()))))?,
            Op::Err(e) => return Err(NatsError::Server(e)),
            _ => return Err(NatsError::Protocol("expected INFO first".into())),
        };
        if info.tls_required {
            return Err(NatsError::TlsRequired);
        }
        let mut connect = serde_json::json!({
            "verbose": false,
            "pedantic": false,
            "tls_required": false,
            "lang": "rust",
            "version": env!("CARGO_PKG_VERSION"),
            "name": "dynamo-ctl",
            "protocol": 1,
            "headers": true,
            "no_responders": true,
            "echo": false,
        });
        match &url.auth {
            Auth::None => {}
            Auth::Token(t) => connect["auth_token"] = t.clone().into(),
            Auth::User { user, pass } => {
                connect["user"] = user.clone().into();
                connect["pass"] = pass.clone().into();
            }
        }
        let frame = format!("CONNECT {connect}\r\nPING\r\nSUB {}.* 1\r\n", c.inbox);
        c.write(frame.as_bytes()).await?;
        loop {
            match c.read_op().await? {
                Op::Pong => return Ok(c),
                Op::Err(e) => return Err(NatsError::Server(e)),
                Op::Ping => c.write(b"PONG\r\n").await?,
                Op::Info(_) | Op::Ok | Op::Msg(_) => {}
            }
        }
    }

    /// Sends a request and waits for its reply (a `no responders` status included).
    pub async fn request(&mut self, subject: &str, payload: &[u8]) -> Result<Msg, NatsError> {
        let t = self.timeout;
        match tokio::time::timeout(t, self.request_inner(subject, payload)).await {
            Ok(r) => r,
            Err(_) => Err(NatsError::Timeout(t)),
        }
    }

    /// Publishes without waiting for anything.
    pub async fn publish(&mut self, subject: &str, payload: &[u8]) -> Result<(), NatsError> {
        let t = self.timeout;
        match tokio::time::timeout(t, self.send_pub(subject, None, payload)).await {
            Ok(r) => r,
            Err(_) => Err(NatsError::Timeout(t)),
        }
    }

    /// Round trip to the server: everything sent before has been processed by it.
    pub async fn flush(&mut self) -> Result<(), NatsError> {
        let t = self.timeout;
        let fut = async {
            self.write(b"PING\r\n").await?;
            loop {
                match self.read_op().await? {
                    Op::Pong => return Ok(()),
                    Op::Ping => self.write(b"PONG\r\n").await?,
                    Op::Err(e) => return Err(NatsError::Server(e)),
                    Op::Info(_) | Op::Ok | Op::Msg(_) => {}
                }
            }
        };
        match tokio::time::timeout(t, fut).await {
            Ok(r) => r,
            Err(_) => Err(NatsError::Timeout(t)),
        }
    }

    fn new_reply(&mut self) -> String {
        self.next += 1;
        format!("{}.{}", self.inbox, self.next)
    }

    pub(super) async fn request_inner(
        &mut self,
        subject: &str,
        payload: &[u8],
    ) -> Result<Msg, NatsError> {
        let reply = self.new_reply();
        self.send_pub(subject, Some(&reply), payload).await?;
        // A JetStream delivery to the inbox (a pull request's message) keeps the subject it
        // was published on: anything outside the inbox is for this, the only request out.
        let ours = format!("{}.", self.inbox);
        loop {
            if let Some(m) = self.next_msg().await?
                && (m.subject == reply || !m.subject.starts_with(&ours))
            {
                return Ok(m);
            }
        }
    }

    /// Empty-payload requests to every subject, [`WINDOW`] in flight; replies in order.
    pub(super) async fn request_many(
        &mut self,
        subjects: &[String],
    ) -> Result<Vec<Msg>, NatsError> {
        let mut out: Vec<Option<Msg>> = vec![None; subjects.len()];
        let mut waiting: HashMap<String, usize> = HashMap::new();
        let mut sent = 0;
        let mut done = 0;
        while done < subjects.len() {
            if sent < subjects.len() && waiting.len() < WINDOW {
                let mut frame = Vec::new();
                while sent < subjects.len() && waiting.len() < WINDOW {
                    let reply = self.new_reply();
                    pub_frame(&mut frame, &subjects[sent], Some(&reply), b"")?;
                    waiting.insert(reply, sent);
                    sent += 1;
                }
                self.write(&frame).await?;
            }
            if let Some(m) = self.next_msg().await?
                && let Some(i) = waiting.remove(&m.subject)
            {
                out[i] = Some(m);
                done += 1;
            }
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// The next message for us, answering PINGs on the way. `None` for other operations.
    async fn next_msg(&mut self) -> Result<Option<Msg>, NatsError> {
        match self.read_op().await? {
            Op::Msg(m) => Ok(Some(m)),
            Op::Ping => {
                self.write(b"PONG\r\n").await?;
                Ok(None)
            }
            Op::Err(e) => Err(NatsError::Server(e)),
            Op::Info(_) | Op::Pong | Op::Ok => Ok(None),
        }
    }

    async fn send_pub(
        &mut self,
        subject: &str,
        reply: Option<&str>,
        payload: &[u8],
    ) -> Result<(), NatsError> {
        let mut frame = Vec::with_capacity(payload.len() + 64);
        pub_frame(&mut frame, subject, reply, payload)?;
        self.write(&frame).await
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), NatsError> {
        self.stream.write_all(bytes).await.map_err(io_error)
    }

    /// Reads more bytes into the buffer; the server closing is an error. What was already
    /// read goes first, but only when it is at least half the buffer: each byte is moved
    /// a bounded number of times, so reading is linear however the server splits its
    /// operations (megabytes of `+OK` after a large message included).
    async fn fill(&mut self) -> Result<(), NatsError> {
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.reserve(16 << 10);
        match self.stream.read_buf(&mut self.buf).await {
            Ok(0) => Err(NatsError::Closed),
            Ok(_) => Ok(()),
            Err(e) => Err(io_error(e)),
        }
    }

    async fn read_op(&mut self) -> Result<Op, NatsError> {
        // The operation starts at `self.start`; what is before it was read. Indices below are
        // relative to that start, which `fill` may move (it compacts), so they stay valid.
        let mut scanned = 0;
        let end = loop {
            let pending = &self.buf[self.start..];
            if let Some(i) = pending[scanned..].windows(2).position(|w| w == b"\r\n") {
                break scanned + i;
            }
            if pending.len() > MAX_LINE {
                return Err(NatsError::Protocol("control line too long".into()));
            }
            scanned = pending.len().saturating_sub(1);
            self.fill().await?;
        };
        let body = end + 2;
        // The common operations without a copy: a flood of them costs no allocation each.
        let raw = &self.buf[self.start..self.start + end];
        let simple = [
            (&b"PING"[..], Op::Ping),
            (b"PONG", Op::Pong),
            (b"+OK", Op::Ok),
        ]
        .into_iter()
        .find(|(v, _)| raw.trim_ascii_end().eq_ignore_ascii_case(v));
        if let Some((_, op)) = simple {
            self.start += body;
            return Ok(op);
        }
        let line = String::from_utf8_lossy(raw).into_owned();
        let (verb, rest) = line.split_once([' ', '\t']).unwrap_or((&line, ""));
        let rest = rest.trim_start_matches([' ', '\t']);
        let op = match verb.to_ascii_uppercase().as_str() {
            "PING" => Op::Ping,
            "PONG" => Op::Pong,
            "+OK" => Op::Ok,
            "-ERR" => Op::Err(quote(rest.trim().trim_matches('\''))),
            "INFO" => Op::Info(rest.as_bytes().to_vec()),
            "MSG" | "HMSG" => {
                let headers = verb.eq_ignore_ascii_case("HMSG");
                let args: Vec<&str> = rest.split([' ', '\t']).filter(|a| !a.is_empty()).collect();
                let bad = || NatsError::Protocol(format!("bad {verb} line: {}", quote(&line)));
                let sizes = if headers { 2 } else { 1 };
                if args.len() != 2 + sizes && args.len() != 3 + sizes {
                    return Err(bad());
                }
                let num = |s: &str| s.parse::<usize>().map_err(|_| bad());
                let total = num(args[args.len() - 1])?;
                let hdr = if headers {
                    num(args[args.len() - 2])?
                } else {
                    0
                };
                if total > MAX_PAYLOAD || hdr > total {
                    return Err(bad());
                }
                let reply = (args.len() == 3 + sizes).then(|| args[2].to_string());
                let subject = args[0].to_string();
                while self.buf.len() - self.start < body + total + 2 {
                    self.fill().await?;
                }
                let at = self.start + body;
                if &self.buf[at + total..at + total + 2] != b"\r\n" {
                    return Err(bad());
                }
                let status = headers
                    .then(|| status_of(&self.buf[at..at + hdr]))
                    .flatten();
                let payload = self.buf[at + hdr..at + total].to_vec();
                self.start = at + total + 2;
                return Ok(Op::Msg(Msg {
                    subject,
                    reply,
                    status,
                    payload,
                }));
            }
            _ => {
                return Err(NatsError::Protocol(format!(
                    "unknown operation: {}",
                    quote(&line)
                )));
            }
        };
        self.start += body;
        Ok(op)
    }
}

/// The status code of a header block (`NATS/1.0 503\r\n...`).
pub(super) fn status_of(headers: &[u8]) -> Option<u16> {
    let first = headers.split(|&b| b == b'\r' || b == b'\n').next()?;
    let first = std::str::from_utf8(first).ok()?;
    let code = first.strip_prefix("NATS/1.0")?.trim_start();
    code.get(..3)?.parse().ok()
}

pub(super) fn pub_frame(
    frame: &mut Vec<u8>,
    subject: &str,
    reply: Option<&str>,
    payload: &[u8],
) -> Result<(), NatsError> {
    let ok = |s: &str| !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok(subject) || reply.is_some_and(|r| !ok(r)) {
        return Err(NatsError::Protocol(format!(
            "not a valid subject: {}",
            quote(subject)
        )));
    }
    let head = match reply {
        Some(r) => format!("PUB {subject} {r} {}\r\n", payload.len()),
        None => format!("PUB {subject} {}\r\n", payload.len()),
    };
    frame.extend_from_slice(head.as_bytes());
    frame.extend_from_slice(payload);
    frame.extend_from_slice(b"\r\n");
    Ok(())
}
