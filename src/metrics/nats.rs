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
//! - [`prefill_queues`]: one connection, one answer ([`Queues`]), bounded by a timeout.
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
//! are skipped (never put into a subject), lines and payloads are size-capped, reading is
//! linear in the bytes received (a flood of small operations after a large message
//! included), and one timeout bounds a whole poll (connect, reconnect, every request). A
//! stream whose consumer answers nonsense (`num_pending` of 1e30, 2^64, -1 or 2.5, no count,
//! not JSON, an API error) is left out and counted ([`Queues::malformed`]); the other
//! streams stay. Nothing here panics on what the server sends.
//!
//! Why not the `async-nats` crate: its TLS backends (`ring`, `aws-lc-rs`) compile C code;
//! with both disabled it still builds rustls, and a server that announces `tls_required`
//! then makes rustls panic inside the connect (no crypto provider). It would also add ~55
//! crates. The protocol needed here (CONNECT, PING, SUB, PUB, MSG/HMSG) is small, so it is
//! spoken directly with no new dependency; TLS servers are refused with a clear error.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::merge::Tally;
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
/// `timeout` as a whole.
pub async fn prefill_queues(url: &str, namespace: Option<&str>, timeout: Duration) -> SourceResult {
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

/// The prefill queues of one poll, and the streams left out.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Queues {
    /// Sorted by stream name.
    pub queues: Vec<QueueDepth>,
    /// Streams whose `worker-group` consumer answered nonsense (a count that is no count:
    /// 1e30, 2^64, -1, 2.5; not JSON; an API error): left out, counted, the first described.
    pub malformed: Tally,
}

impl std::ops::Deref for Queues {
    type Target = [QueueDepth];
    fn deref(&self) -> &[QueueDepth] {
        &self.queues
    }
}

/// What a poll answers.
pub type SourceResult = Result<Queues, NatsError>;

/// The largest count taken from JetStream: its own limit on a stream's messages (int64).
const MAX_JS_COUNT: u64 = i64::MAX as u64;

impl NatsSource {
    /// Connects lazily, on the first poll. The whole poll (connecting, reconnecting, every
    /// request and reply) is bounded by `timeout`; when the kept connection turns out to be
    /// closed (server restarted), the same poll makes one fresh connection and tries again
    /// within that time.
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
        let t = self.timeout;
        let round = async {
            let reused = self.conn.is_some();
            match self.attempt(namespace).await {
                Err(e) if reused && e.stale_connection() => self.attempt(namespace).await,
                r => r,
            }
        };
        match tokio::time::timeout(t, round).await {
            Ok(r) => r,
            Err(_) => {
                // Cut off mid-exchange: the connection may hold half a frame.
                self.conn = None;
                Err(NatsError::Timeout(t))
            }
        }
    }

    async fn attempt(&mut self, namespace: Option<&str>) -> SourceResult {
        if self.conn.is_none() {
            self.conn = Some(Client::connect(&self.url, self.timeout).await?);
            self.connects += 1;
        }
        let conn = self.conn.as_mut().expect("connected above");
        let res = queues(conn, namespace).await;
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

fn decode<'a, T: Deserialize<'a>>(what: &str, msg: &'a Msg) -> Result<T, NatsError> {
    if msg.status == Some(503) {
        return Err(NatsError::NoJetStream);
    }
    serde_json::from_slice(&msg.payload)
        .map_err(|e| NatsError::Protocol(format!("{what}: {}", quote(&e.to_string()))))
}

/// A consumer's count: an integer from 0 to JetStream's own limit, else why not.
fn count(info: &serde_json::Value, field: &str) -> Result<Option<u64>, String> {
    match info.get(field) {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(v) => match v.as_u64().filter(|n| *n <= MAX_JS_COUNT) {
            Some(n) => Ok(Some(n)),
            None => {
                let shown: String = v.to_string().chars().take(40).collect();
                Err(format!("{field} {shown} is not a count"))
            }
        },
    }
}

/// A consumer's (pending, ack pending, waiting) counts.
type Queue = (u64, u64, u64);

/// One stream's `worker-group` consumer: its queue, `Ok(None)` when the stream has none
/// (not a prefill queue), or why its answer makes no sense.
fn consumer(msg: &Msg) -> Result<Result<Option<Queue>, String>, NatsError> {
    if msg.status == Some(503) {
        return Err(NatsError::NoJetStream);
    }
    let info: serde_json::Value = match serde_json::from_slice(&msg.payload) {
        Ok(v) => v,
        Err(e) => return Ok(Err(format!("not JSON ({e})"))),
    };
    if let Some(e) = info.get("error") {
        let e: ApiError = match serde_json::from_value(e.clone()) {
            Ok(e) => e,
            Err(_) => return Ok(Err("an unreadable error".into())),
        };
        // 10014: consumer not found; 10059: stream not found (deleted meanwhile).
        if e.code == 404 || e.err_code == 10014 || e.err_code == 10059 {
            return Ok(Ok(None));
        }
        return Ok(Err(e.into_error().to_string()));
    }
    let read = || -> Result<(u64, u64, u64), String> {
        let depth = count(&info, "num_pending")?.ok_or("no num_pending")?;
        let ack = count(&info, "num_ack_pending")?.unwrap_or(0);
        let waiting = count(&info, "num_waiting")?.unwrap_or(0);
        Ok((depth, ack, waiting))
    };
    Ok(read().map(Some))
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
    let mut out = Queues::default();
    for (name, msg) in names.iter().zip(&answers) {
        // One stream's nonsense costs that stream only.
        let (depth, ack_pending, waiting) = match consumer(msg)? {
            Ok(Some(q)) => q,
            Ok(None) => continue,
            Err(why) => {
                out.malformed.note(|| {
                    format!(
                        "consumer {CONSUMER} of stream {}: {}",
                        quote(name),
                        quote(&why)
                    )
                });
                continue;
            }
        };
        out.queues.push(QueueDepth {
            stream: text::safe(name).into_owned(),
            depth,
            ack_pending,
            waiting,
            namespace_queue: ns_queue.as_deref() == Some(name.as_str()),
        });
    }
    out.queues.sort_by(|a, b| a.stream.cmp(&b.stream));
    Ok(out)
}

mod client;
#[cfg(test)]
mod tests;

pub use client::{Client, Msg};
