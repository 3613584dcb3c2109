//! Prefill queue depth of Dynamo 0.3.x deployments, read from NATS JetStream.
//!
//! Dynamo 0.3's prefill queue is a JetStream stream named after the served model (some worker
//! versions: `<namespace>_prefill_queue`) with subjects `<stream>.*`, requests enqueued on
//! `<stream>.queue`, and a durable pull consumer `worker-group` shared by the prefill
//! workers. Its depth is that consumer's `num_pending`: messages not yet handed to a worker.
//!
//! # API
//! - [`url_from`]: the server from `--nats URL`, else `$NATS_SERVER` (Dynamo's variable);
//!   `nats://host:port`, `host:port` or `host` (port 4222), with optional `user:pass@` or
//!   `token@`. `None` when neither is set.
//! - [`prefill_queues`]: one connection, one answer, bounded by a timeout.
//! - [`NatsSource`]: the same, keeping its connection between polls (the TUI polls every
//!   2 s); a connection that broke is replaced on the next poll.
//! - [`Client`]: the small NATS client underneath (request/reply, publish), public for tools
//!   and tests.
//!
//! # Semantics
//! Every stream is listed (`$JS.API.STREAM.NAMES`, paged, at most [`MAX_STREAMS`]) and asked
//! for its `worker-group` consumer (`$JS.API.CONSUMER.INFO.<stream>.worker-group`, pipelined);
//! streams without one are not prefill queues and are left out. Streams come back sorted by
//! name; with a namespace, the stream `<ns>_prefill_queue` is marked
//! ([`QueueDepth::namespace_queue`]) and model-named streams are still returned, as nothing
//! ties a model name to a namespace.
//!
//! Everything the server says is untrusted: stream names are escaped with
//! [`crate::text::safe`] before they are returned, names that are not a valid subject token
//! are skipped (never put into a subject), lines and payloads are size-capped, and every
//! network step is bounded by the timeout. Nothing here panics on what the server sends.
//!
//! Why not the `async-nats` crate: its TLS backends (`ring`, `aws-lc-rs`) compile C code;
//! with both disabled it still builds rustls, and a server that announces `tls_required`
//! then makes rustls panic inside the connect (no crypto provider). It would also add ~55
//! crates. The protocol needed here (CONNECT, PING, SUB, PUB, MSG/HMSG) is small, so it is
//! spoken directly with no new dependency; TLS servers are refused with a clear error.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::text;

/// Dynamo's variable for the NATS server.
pub const ENV: &str = "NATS_SERVER";
/// NATS' client port.
pub const DEFAULT_PORT: u16 = 4222;
/// The durable consumer of Dynamo 0.3's prefill queue.
pub const CONSUMER: &str = "worker-group";
/// Streams looked at per poll; a server listing more is cut here.
pub const MAX_STREAMS: usize = 10_000;
/// A control line (INFO, MSG headers, -ERR) longer than this is a broken server.
const MAX_LINE: usize = 1 << 20;
/// A message payload larger than this is a broken server (NATS' default limit is 1 MiB).
const MAX_PAYLOAD: usize = 8 << 20;
/// Consumer-info requests in flight at once.
const WINDOW: usize = 64;
/// Server text quoted in an error is cut to this many characters.
const MAX_QUOTE: usize = 200;

/// Why the queue depth could not be read. Server text in it is already escaped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NatsError {
    #[error("bad NATS URL {given:?}: {why}")]
    BadUrl { given: String, why: String },
    #[error("cannot connect to {addr}: {why}")]
    Unreachable { addr: String, why: String },
    #[error("no answer within {:.1}s", .0.as_secs_f64())]
    Timeout(Duration),
    #[error("the server requires TLS, which dynamo-ctl does not speak")]
    TlsRequired,
    #[error("JetStream is not enabled on this server")]
    NoJetStream,
    #[error("the server closed the connection")]
    Closed,
    #[error("{0}")]
    Io(String),
    #[error("server error: {0}")]
    Server(String),
    #[error("JetStream API error: {0}")]
    Api(String),
    #[error("unexpected answer from the server: {0}")]
    Protocol(String),
}

impl NatsError {
    /// Whether the connection is unusable after this error (anything but a JetStream
    /// answer that said no).
    fn breaks_connection(&self) -> bool {
        !matches!(self, NatsError::NoJetStream | NatsError::Api(_))
    }

    /// A connection that was fine at the last poll failing this way was most likely closed
    /// meanwhile (server restarted): worth one fresh connection at once.
    fn stale_connection(&self) -> bool {
        matches!(self, NatsError::Closed | NatsError::Io(_))
    }
}

fn quote(s: &str) -> String {
    let cut: String = s.chars().take(MAX_QUOTE).collect();
    let more = if cut.len() < s.len() { "…" } else { "" };
    format!("{}{more}", text::safe(&cut))
}

fn io_error(e: std::io::Error) -> NatsError {
    match e.kind() {
        std::io::ErrorKind::UnexpectedEof
        | std::io::ErrorKind::ConnectionReset
        | std::io::ErrorKind::BrokenPipe
        | std::io::ErrorKind::ConnectionAborted => NatsError::Closed,
        _ => NatsError::Io(quote(&e.to_string())),
    }
}

/// Credentials given in the URL.
#[derive(Clone, PartialEq, Eq)]
enum Auth {
    None,
    Token(String),
    User { user: String, pass: String },
}

/// A NATS server address: `nats://[user:pass@|token@]host[:port]`. Shown without its
/// credentials.
#[derive(Clone, PartialEq, Eq)]
pub struct NatsUrl {
    host: String,
    port: u16,
    auth: Auth,
}

impl fmt::Display for NatsUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "nats://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "nats://{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Debug for NatsUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NatsUrl({self})")
    }
}

impl std::str::FromStr for NatsUrl {
    type Err = NatsError;
    fn from_str(s: &str) -> Result<Self, NatsError> {
        NatsUrl::parse(s)
    }
}

impl NatsUrl {
    /// Parses `nats://host:port`, `host:port`, `host` (port 4222), `[v6]:port`, with
    /// optional `user:pass@` or `token@` (percent-encoded). Other schemes (`tls://`,
    /// `ws://`) are refused: only plain NATS is spoken.
    pub fn parse(given: &str) -> Result<NatsUrl, NatsError> {
        let s = given.trim();
        // The text shown in errors never carries the credentials.
        let shown = match s.rsplit_once('@') {
            Some((pre, post)) => {
                let scheme = pre.split_once("://").map_or("", |(sc, _)| sc);
                if scheme.is_empty() {
                    format!("***@{post}")
                } else {
                    format!("{scheme}://***@{post}")
                }
            }
            None => s.to_string(),
        };
        let bad = |why: &str| NatsError::BadUrl {
            given: quote(&shown),
            why: why.to_string(),
        };
        if s.is_empty() {
            return Err(bad("empty"));
        }
        if s.chars().any(|c| c.is_whitespace() || text::is_unsafe(c)) {
            return Err(bad("contains spaces or control characters"));
        }
        if s.contains(',') {
            return Err(bad("give one server"));
        }
        let rest = match s.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("nats") => rest,
            Some(_) => return Err(bad("only nats:// is supported (no TLS, no websockets)")),
            None => s,
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#']) {
            return Err(bad("a NATS URL has no path"));
        }
        let (userinfo, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let auth = match userinfo {
            None => Auth::None,
            Some(u) => {
                let dec = |x: &str| {
                    urlencoding::decode(x)
                        .map(|c| c.into_owned())
                        .map_err(|_| bad("credentials are not valid percent-encoded UTF-8"))
                };
                match u.split_once(':') {
                    Some((user, pass)) => Auth::User {
                        user: dec(user)?,
                        pass: dec(pass)?,
                    },
                    None if u.is_empty() => return Err(bad("empty credentials before '@'")),
                    None => Auth::Token(dec(u)?),
                }
            }
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("unclosed '[' in the host"))?;
            match after {
                "" => (h, None),
                p => (
                    h,
                    Some(
                        p.strip_prefix(':')
                            .ok_or_else(|| bad("expected ':port' after ']'"))?,
                    ),
                ),
            }
        } else {
            match hostport.rsplit_once(':') {
                Some((h, _)) if h.contains(':') => {
                    return Err(bad("an IPv6 address goes in brackets: [::1]:4222"));
                }
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(p) => match p.parse::<u16>() {
                Ok(0) | Err(_) => return Err(bad("the port must be a number from 1 to 65535")),
                Ok(n) => n,
            },
        };
        Ok(NatsUrl {
            host: host.to_string(),
            port,
            auth,
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

/// The NATS server from the flag, else `$NATS_SERVER` (empty counts as unset). `None` when
/// neither is given.
pub fn url_from(flag: Option<String>) -> Result<Option<NatsUrl>, NatsError> {
    url_from_env(flag, std::env::var(ENV).ok())
}

/// [`url_from`] with the variable's value given (for tests).
pub fn url_from_env(
    flag: Option<String>,
    env: Option<String>,
) -> Result<Option<NatsUrl>, NatsError> {
    match flag.or(env).filter(|s| !s.trim().is_empty()) {
        Some(s) => NatsUrl::parse(&s).map(Some),
        None => Ok(None),
    }
}

/// One prefill queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct QueueDepth {
    /// The stream's name, escaped for the terminal.
    pub stream: String,
    /// Requests waiting for a prefill worker: the `worker-group` consumer's `num_pending`.
    pub depth: u64,
    /// Requests handed to a worker and not yet acknowledged (`num_ack_pending`).
    pub ack_pending: u64,
    /// Pull requests of idle workers waiting for work (`num_waiting`).
    pub waiting: u64,
    /// The stream is `<namespace>_prefill_queue` for the namespace asked about.
    pub namespace_queue: bool,
}

/// The namespace's own queue when there is one, else the only queue, else `None` (several
/// model-named queues: nothing says which is the namespace's).
pub fn preferred(queues: &[QueueDepth]) -> Option<&QueueDepth> {
    queues.iter().find(|q| q.namespace_queue).or(match queues {
        [only] => Some(only),
        _ => None,
    })
}

/// The prefill queues of the server at `url`, once: connects, reads, closes. Bounded by
/// `timeout` (connect and read each).
pub async fn prefill_queues(
    url: &str,
    namespace: Option<&str>,
    timeout: Duration,
) -> Result<Vec<QueueDepth>, NatsError> {
    let url = NatsUrl::parse(url)?;
    NatsSource::new(url, timeout).poll(namespace).await
}

/// The queue-depth source: one connection kept across polls, replaced when it breaks.
pub struct NatsSource {
    url: NatsUrl,
    timeout: Duration,
    conn: Option<Client>,
    connects: u64,
}

/// What a poll answers.
pub type SourceResult = Result<Vec<QueueDepth>, NatsError>;

impl NatsSource {
    /// Connects lazily, on the first poll. Connecting and reading are each bounded by
    /// `timeout`; when the kept connection turns out to be closed (server restarted), the
    /// same poll makes one fresh connection and tries again.
    pub fn new(url: NatsUrl, timeout: Duration) -> NatsSource {
        NatsSource {
            url,
            timeout,
            conn: None,
            connects: 0,
        }
    }

    pub fn url(&self) -> &NatsUrl {
        &self.url
    }

    /// Whether a connection is kept (it may still have been closed by the server since).
    pub fn connected(&self) -> bool {
        self.conn.is_some()
    }

    /// Connections made so far (a reconnect is every one after the first).
    pub fn connects(&self) -> u64 {
        self.connects
    }

    /// The prefill queues now. An error leaves the source ready for the next poll.
    pub async fn poll(&mut self, namespace: Option<&str>) -> SourceResult {
        let reused = self.conn.is_some();
        match self.attempt(namespace).await {
            Err(e) if reused && e.stale_connection() => self.attempt(namespace).await,
            r => r,
        }
    }

    async fn attempt(&mut self, namespace: Option<&str>) -> SourceResult {
        if self.conn.is_none() {
            self.conn = Some(Client::connect(&self.url, self.timeout).await?);
            self.connects += 1;
        }
        let conn = self.conn.as_mut().expect("connected above");
        let res = match tokio::time::timeout(self.timeout, queues(conn, namespace)).await {
            Ok(r) => r,
            Err(_) => Err(NatsError::Timeout(self.timeout)),
        };
        if res.as_ref().is_err_and(NatsError::breaks_connection) {
            self.conn = None;
        }
        res
    }
}

#[derive(Deserialize)]
struct ApiError {
    #[serde(default)]
    code: u64,
    #[serde(default)]
    err_code: u64,
    #[serde(default)]
    description: String,
}

impl ApiError {
    fn into_error(self) -> NatsError {
        // 10039: JetStream not enabled for the account; 503: not enabled at all.
        if self.err_code == 10039 || self.code == 503 {
            return NatsError::NoJetStream;
        }
        NatsError::Api(format!(
            "{} (code {}, {})",
            quote(&self.description),
            self.code,
            self.err_code
        ))
    }
}

#[derive(Deserialize)]
struct StreamNames {
    error: Option<ApiError>,
    #[serde(default)]
    total: u64,
    #[serde(default)]
    streams: Option<Vec<String>>,
}

#[derive(Deserialize)]
struct ConsumerInfo {
    error: Option<ApiError>,
    num_pending: Option<u64>,
    #[serde(default)]
    num_ack_pending: u64,
    #[serde(default)]
    num_waiting: u64,
}

fn decode<'a, T: Deserialize<'a>>(what: &str, msg: &'a Msg) -> Result<T, NatsError> {
    if msg.status == Some(503) {
        return Err(NatsError::NoJetStream);
    }
    serde_json::from_slice(&msg.payload)
        .map_err(|e| NatsError::Protocol(format!("{what}: {}", quote(&e.to_string()))))
}

/// Whether `s` can stand as one token of a subject (what a stream name must be). Other
/// characters a terminal must not get as is (bidi controls) are allowed here and escaped
/// when shown.
fn valid_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 1024
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '.' | '*' | '>'))
}

async fn stream_names(conn: &mut Client) -> Result<Vec<String>, NatsError> {
    let mut names = Vec::new();
    loop {
        let req = serde_json::json!({ "offset": names.len() }).to_string();
        let msg = conn
            .request_inner("$JS.API.STREAM.NAMES", req.as_bytes())
            .await?;
        let page: StreamNames = decode("stream names", &msg)?;
        if let Some(e) = page.error {
            return Err(e.into_error());
        }
        let page_names = page.streams.unwrap_or_default();
        if page_names.is_empty() {
            break;
        }
        names.extend(page_names);
        if names.len() as u64 >= page.total || names.len() >= MAX_STREAMS {
            break;
        }
    }
    names.truncate(MAX_STREAMS);
    Ok(names)
}

async fn queues(conn: &mut Client, namespace: Option<&str>) -> SourceResult {
    let mut names = stream_names(conn).await?;
    names.retain(|n| valid_token(n));
    names.sort();
    names.dedup();
    let subjects: Vec<String> = names
        .iter()
        .map(|n| format!("$JS.API.CONSUMER.INFO.{n}.{CONSUMER}"))
        .collect();
    let answers = conn.request_many(&subjects).await?;
    let ns_queue = namespace.map(|ns| format!("{ns}_prefill_queue"));
    let mut out = Vec::new();
    for (name, msg) in names.iter().zip(&answers) {
        let what = format!("consumer {CONSUMER} of stream {}", quote(name));
        let info: ConsumerInfo = decode(&what, msg)?;
        if let Some(e) = info.error {
            // 10014: consumer not found; 10059: stream not found (deleted meanwhile).
            if e.code == 404 || e.err_code == 10014 || e.err_code == 10059 {
                continue;
            }
            return Err(e.into_error());
        }
        let depth = info
            .num_pending
            .ok_or_else(|| NatsError::Protocol(format!("{what}: no num_pending")))?;
        out.push(QueueDepth {
            stream: text::safe(name).into_owned(),
            depth,
            ack_pending: info.num_ack_pending,
            waiting: info.num_waiting,
            namespace_queue: ns_queue.as_deref() == Some(name.as_str()),
        });
    }
    out.sort_by(|a, b| a.stream.cmp(&b.stream));
    Ok(out)
}

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

    async fn request_inner(&mut self, subject: &str, payload: &[u8]) -> Result<Msg, NatsError> {
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
    async fn request_many(&mut self, subjects: &[String]) -> Result<Vec<Msg>, NatsError> {
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

    /// Reads more bytes into the buffer; the server closing is an error.
    async fn fill(&mut self) -> Result<(), NatsError> {
        self.buf.reserve(16 << 10);
        match self.stream.read_buf(&mut self.buf).await {
            Ok(0) => Err(NatsError::Closed),
            Ok(_) => Ok(()),
            Err(e) => Err(io_error(e)),
        }
    }

    async fn read_op(&mut self) -> Result<Op, NatsError> {
        // What was parsed before goes; indices below are from 0 and stay valid across reads.
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        // The control line.
        let mut scanned = 0;
        let end = loop {
            if let Some(i) = self.buf[scanned..].windows(2).position(|w| w == b"\r\n") {
                break scanned + i;
            }
            if self.buf.len() > MAX_LINE {
                return Err(NatsError::Protocol("control line too long".into()));
            }
            scanned = self.buf.len().saturating_sub(1);
            self.fill().await?;
        };
        let line = String::from_utf8_lossy(&self.buf[..end]).into_owned();
        let body = end + 2;
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
                while self.buf.len() < body + total + 2 {
                    self.fill().await?;
                }
                if &self.buf[body + total..body + total + 2] != b"\r\n" {
                    return Err(bad());
                }
                let status = headers
                    .then(|| status_of(&self.buf[body..body + hdr]))
                    .flatten();
                let payload = self.buf[body + hdr..body + total].to_vec();
                self.start = body + total + 2;
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
        self.start = body;
        Ok(op)
    }
}

/// The status code of a header block (`NATS/1.0 503\r\n...`).
fn status_of(headers: &[u8]) -> Option<u16> {
    let first = headers.split(|&b| b == b'\r' || b == b'\n').next()?;
    let first = std::str::from_utf8(first).ok()?;
    let code = first.strip_prefix("NATS/1.0")?.trim_start();
    code.get(..3)?.parse().ok()
}

fn pub_frame(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<NatsUrl, NatsError> {
        NatsUrl::parse(s)
    }

    #[test]
    fn urls() {
        let u = parse("nats://127.0.0.1:4333").unwrap();
        assert_eq!((u.host(), u.port()), ("127.0.0.1", 4333));
        assert_eq!(u.to_string(), "nats://127.0.0.1:4333");
        assert_eq!(parse("localhost:5000").unwrap().port(), 5000);
        assert_eq!(
            parse("nats-host").unwrap().to_string(),
            "nats://nats-host:4222"
        );
        assert_eq!(parse("NATS://h/").unwrap().to_string(), "nats://h:4222");
        assert_eq!(
            parse("[::1]:4223").unwrap().to_string(),
            "nats://[::1]:4223"
        );
        assert_eq!(parse("nats://[::1]").unwrap().host(), "::1");
        let u = parse("nats://bob:s%40cret@h:1").unwrap();
        assert!(
            u.auth
                == Auth::User {
                    user: "bob".into(),
                    pass: "s@cret".into()
                }
        );
        assert_eq!(format!("{u} {u:?}"), "nats://h:1 NatsUrl(nats://h:1)");
        assert!(parse("tok@h").unwrap().auth == Auth::Token("tok".into()));
    }

    #[test]
    fn bad_urls_are_refused_without_showing_credentials() {
        for bad in [
            "",
            "  ",
            "tls://h:4222",
            "ws://h",
            "h:0",
            "h:99999",
            "h:port",
            "::1:4222",
            "[::1",
            "nats://h:4222/path",
            "a:1,b:2",
            "h\u{1b}[2J:4222",
            "@h",
            "nats://",
        ] {
            assert!(
                matches!(parse(bad), Err(NatsError::BadUrl { .. })),
                "{bad:?} accepted"
            );
        }
        let e = parse("nats://bob:hunter2@h:x").unwrap_err().to_string();
        assert!(!e.contains("hunter2"), "{e}");
        assert!(e.contains("nats://***@h:x"), "{e}");
    }

    #[test]
    fn flag_then_env() {
        let f = |flag: Option<&str>, env: Option<&str>| {
            url_from_env(flag.map(Into::into), env.map(Into::into))
                .map(|u| u.map(|u| u.to_string()))
        };
        assert_eq!(f(None, None), Ok(None));
        assert_eq!(f(None, Some("")), Ok(None));
        assert_eq!(f(None, Some("e:1")).unwrap().unwrap(), "nats://e:1");
        assert_eq!(f(Some("f:2"), Some("e:1")).unwrap().unwrap(), "nats://f:2");
        assert!(f(Some("tls://f"), Some("e:1")).is_err());
    }

    #[test]
    fn tokens_and_status() {
        assert!(valid_token("Qwen_Qwen3-0_6B"));
        assert!(valid_token("dynamo_prefill_queue"));
        for bad in ["", "a.b", "a b", "a*", ">", "a\r\nPUB x 1", "\u{1b}[31m"] {
            assert!(!valid_token(bad), "{bad:?}");
        }
        assert_eq!(status_of(b"NATS/1.0 503\r\n\r\n"), Some(503));
        assert_eq!(status_of(b"NATS/1.0 404 No Messages\r\n\r\n"), Some(404));
        assert_eq!(status_of(b"NATS/1.0\r\nA: b\r\n\r\n"), None);
        let mut f = Vec::new();
        assert!(pub_frame(&mut f, "a b", None, b"").is_err());
        assert!(pub_frame(&mut f, "a", Some("r\n"), b"").is_err());
        pub_frame(&mut f, "a.b", Some("r.1"), b"xy").unwrap();
        assert_eq!(f, b"PUB a.b r.1 2\r\nxy\r\n");
    }

    #[test]
    fn preferred_queue() {
        let q = |s: &str, ns| QueueDepth {
            stream: s.into(),
            depth: 0,
            ack_pending: 0,
            waiting: 0,
            namespace_queue: ns,
        };
        assert_eq!(preferred(&[]), None);
        assert_eq!(preferred(&[q("m", false)]).unwrap().stream, "m");
        assert_eq!(preferred(&[q("a", false), q("b", false)]), None);
        assert_eq!(
            preferred(&[q("a", false), q("ns_prefill_queue", true)])
                .unwrap()
                .stream,
            "ns_prefill_queue"
        );
    }
}
