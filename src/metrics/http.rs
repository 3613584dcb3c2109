//! A small plain-HTTP/1.1 GET client on hyper (already in the tree through etcd-client's
//! tonic), for loopback and cluster addresses. No TLS. Every call is bounded as a whole
//! (connect, request, body) by the caller's timeout; dropping the future closes the socket.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::body::Body;
use hyper::header::{ACCEPT, CONNECTION, HOST, USER_AGENT};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Answers bigger than this are an error (a /metrics page is a few MB at most).
pub const MAX_BODY: usize = 32 << 20;

/// An `http://host[:port][/path]` URL, checked.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HttpUrl {
    /// Host as written (an IPv6 address without brackets).
    pub host: String,
    pub port: u16,
    /// Path and query, without a trailing `/` (empty for the root).
    pub path: String,
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "http://[{}]:{}{}", self.host, self.port, self.path)
        } else {
            write!(f, "http://{}:{}{}", self.host, self.port, self.path)
        }
    }
}

impl HttpUrl {
    /// `http://host:port/path`, or `host:port` (http assumed). https, user info, fragments
    /// and other schemes are refused (plain http only).
    pub fn parse(s: &str) -> Result<HttpUrl, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("empty URL".into());
        }
        let with_scheme = if s.contains("://") {
            s.to_string()
        } else {
            format!("http://{s}")
        };
        let uri: hyper::Uri = with_scheme
            .parse()
            .map_err(|e| format!("not a URL ({e})"))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err("https is not supported: plain http:// only (no TLS)".into());
            }
            Some(other) => return Err(format!("scheme {other}:// is not supported: http:// only")),
            None => return Err("no scheme: give http://host:port".into()),
        }
        let auth = uri.authority().ok_or("no host: give http://host:port")?;
        if auth.as_str().contains('@') {
            return Err("user info in the URL is not supported".into());
        }
        let host = auth.host().trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err("no host: give http://host:port".into());
        }
        // After the last `:` outside an IPv6 address's brackets.
        let port = match auth
            .as_str()
            .rsplit_once(':')
            .filter(|(_, p)| !p.contains(']'))
        {
            None => 80,
            Some((_, p)) => match p.parse::<u16>() {
                Ok(0) | Err(_) => return Err(format!("{p:?} is not a port")),
                Ok(n) => n,
            },
        };
        let mut path = uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default();
        while path.ends_with('/') {
            path.pop();
        }
        Ok(HttpUrl {
            host: host.to_string(),
            port,
            path,
        })
    }

    /// The same server, another path (`/health`).
    pub fn with_path(&self, path: &str) -> HttpUrl {
        HttpUrl {
            path: path.to_string(),
            ..self.clone()
        }
    }

    fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// An HTTP answer: status code and body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
}

/// Aborts the connection task when the request is dropped (timed out or done).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// GET `path_and_query` (which starts with `/`) from `url`'s server, within `timeout`.
/// Errors are short, human-readable texts.
pub async fn get(url: &HttpUrl, path_and_query: &str, timeout: Duration) -> Result<Answer, String> {
    let mut body: Vec<u8> = Vec::new();
    let status = get_each(url, path_and_query, timeout, |hint, chunk| {
        if body.is_empty() {
            // One allocation of the announced size (bounded), not a doubling per chunk.
            body.reserve_exact(hint.min(MAX_BODY));
        }
        body.extend_from_slice(chunk);
        Ok(())
    })
    .await?;
    Ok(Answer {
        status,
        body: Bytes::from(body),
    })
}

/// GET, the body handed to `chunk(size_hint, bytes)` piece by piece as it arrives (so it
/// can be read while it comes and never held whole); its error ends the call. The whole
/// call, `chunk` included, is bounded by `timeout`; at most [`MAX_BODY`] bytes. Answers the
/// status code.
pub async fn get_each(
    url: &HttpUrl,
    path_and_query: &str,
    timeout: Duration,
    chunk: impl FnMut(usize, &[u8]) -> Result<(), String>,
) -> Result<u16, String> {
    match tokio::time::timeout(timeout, get_unbounded(url, path_and_query, chunk)).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {:.1} s", timeout.as_secs_f64())),
    }
}

async fn get_unbounded(
    url: &HttpUrl,
    path_and_query: &str,
    mut chunk: impl FnMut(usize, &[u8]) -> Result<(), String>,
) -> Result<u16, String> {
    let stream = TcpStream::connect((url.host.as_str(), url.port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("http: {e}"))?;
    let _conn = AbortOnDrop(tokio::spawn(async move {
        let _ = conn.await;
    }));
    let req = Request::get(if path_and_query.is_empty() {
        "/"
    } else {
        path_and_query
    })
    .header(HOST, url.authority())
    .header(
        USER_AGENT,
        concat!("dynamo-ctl/", env!("CARGO_PKG_VERSION")),
    )
    .header(ACCEPT, "*/*")
    .header(CONNECTION, "close")
    .body(Empty::<Bytes>::new())
    .map_err(|e| format!("bad request: {e}"))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("http: {e}"))?;
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let hint = usize::try_from(body.size_hint().lower()).unwrap_or(MAX_BODY);
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| format!("reading the answer: {e}"))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        total = total.saturating_add(data.len());
        if total > MAX_BODY {
            return Err(format!("answer bigger than {} MiB", MAX_BODY >> 20));
        }
        chunk(hint, &data)?;
    }
    Ok(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = HttpUrl::parse("http://127.0.0.1:9090/").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("127.0.0.1", 9090, "")
        );
        assert_eq!(u.to_string(), "http://127.0.0.1:9090");
        let u = HttpUrl::parse("localhost:8081/metrics").unwrap();
        assert_eq!(u.to_string(), "http://localhost:8081/metrics");
        let u = HttpUrl::parse("http://[::1]:80/prom").unwrap();
        assert_eq!(u.host, "::1");
        assert_eq!(u.to_string(), "http://[::1]:80/prom");
        assert_eq!(HttpUrl::parse("http://h").unwrap().port, 80);
        for bad in [
            "",
            "https://x:1",
            "ftp://x:1",
            "http://u:p@x:1",
            "http://:80",
            "http://x:0",
            "http://x:99999",
            "http://x y:1",
        ] {
            assert!(HttpUrl::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
