//! The etcd source: paged snapshot of both prefixes at one revision, then one watch stream
//! from the next revision; resynchronised from a fresh snapshot on any break.

use std::time::Duration;

use etcd_client::{Client, ConnectOptions, EventType, GetOptions, WatchOptions};
use tokio::sync::mpsc::UnboundedSender;

use super::EtcdSource;
use super::model::{Instance, Interner, Name, SourceKind, SourceStatus, Status};
use super::parse::{self, PREFIX_1X, PREFIX_03};
use super::planner;
use super::state::SourceState;

/// Keys per range request at most. Dynamo's values are a few hundred bytes, but etcd
/// accepts values of a megabyte and more: pages are sized by what the previous ones
/// weighed (about [`PAGE_BYTES`] each, first [`FIRST_PAGE`] keys, then at most 4x more
/// each time); a page that still passes [`MAX_PAGE_BYTES`] is asked again at the size
/// its answer's length and the keys left in the range call for, down to one key; a
/// single entry past it is counted as malformed from its key alone. A range never fails
/// the source for its size.
const PAGE: i64 = 1000;
const FIRST_PAGE: i64 = 100;
/// What a page should weigh.
const PAGE_BYTES: usize = 4 << 20;
/// Decode limit of a range response (also the most one page can hold in memory).
pub(crate) const MAX_PAGE_BYTES: usize = 16 << 20;
/// Decode limit of a watch response (etcd may batch many revisions into one).
const MAX_MESSAGE: usize = 64 << 20;
const BACKOFF_MIN: Duration = Duration::from_millis(200);
const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// A watch that lasted this long resets the backoff.
const STABLE: Duration = Duration::from_secs(10);

/// What the etcd task tells the live view.
#[derive(Debug)]
pub(crate) enum EtcdUpdate {
    /// A full state (after a snapshot, or empty with an error status).
    Reset(SourceState),
    /// Changes on top of the last reset: key, and the new entry (None: deleted).
    Events(Vec<(Name, Option<Result<Instance, String>>)>),
    /// Changes of the planners' keys: key, and the new value (None: deleted).
    Planner(Vec<(Vec<u8>, Option<Vec<u8>>)>),
    /// The default endpoint did not answer: the source is off.
    Off,
}

fn status(src: &EtcdSource, error: Option<String>, resyncs: u64) -> SourceStatus {
    SourceStatus {
        kind: SourceKind::Etcd,
        location: src.endpoints.join(","),
        status: if error.is_some() {
            Status::Error
        } else {
            Status::Ok
        },
        error,
        resyncs,
    }
}

/// `host:port` of an endpoint URL (`http://h:p`, `h:p`, `h`).
fn host_port(endpoint: &str) -> String {
    let rest = endpoint.split_once("://").map_or(endpoint, |(_, r)| r);
    let hp = rest.split('/').next().unwrap_or(rest);
    let has_port = hp.rsplit_once(':').is_some_and(|(h, p)| {
        !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && !h.ends_with(':')
    });
    if has_port {
        hp.to_string()
    } else {
        format!("{hp}:2379")
    }
}

/// A plain TCP connect to every endpoint first (concurrently): a refused or unroutable
/// endpoint fails here at once, where the gRPC channel would keep retrying until the
/// timeout, or would send a request to it and fail. Returns the endpoints that answered.
async fn probe(src: &EtcdSource, timeout: Duration) -> Result<Vec<String>, String> {
    let tries = src.endpoints.iter().map(|e| async move {
        let hp = host_port(e);
        match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&hp)).await {
            Ok(Ok(_)) => Ok(e.clone()),
            Ok(Err(err)) => Err(format!("{e}: {err}")),
            Err(_) => Err(format!("{e}: {}", no_answer(timeout))),
        }
    });
    let (up, errors): (Vec<_>, Vec<_>) = futures_util::future::join_all(tries)
        .await
        .into_iter()
        .partition(Result::is_ok);
    if up.is_empty() {
        return Err(errors
            .into_iter()
            .filter_map(Result::err)
            .collect::<Vec<_>>()
            .join("; "));
    }
    Ok(up.into_iter().filter_map(Result::ok).collect())
}

async fn connect(src: &EtcdSource, timeout: Duration) -> Result<Client, String> {
    if src.endpoints.is_empty() {
        return Err("no etcd endpoint given".into());
    }
    let up = probe(src, timeout).await?;
    let opts = ConnectOptions::new()
        .with_connect_timeout(timeout)
        .with_keep_alive(Duration::from_secs(30), timeout.max(Duration::from_secs(5)));
    match tokio::time::timeout(timeout, Client::connect(&up, Some(opts))).await {
        Ok(Ok(c)) => Ok(c),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(no_answer(timeout)),
    }
}

/// The length of an answer that passed the decode limit (None: another error).
fn too_large(e: &etcd_client::Error) -> Option<usize> {
    let m = e.to_string();
    let rest = m.split("message length too large: found ").nth(1)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    Some(digits.parse().unwrap_or(usize::MAX))
}

fn no_answer(timeout: Duration) -> String {
    format!("no answer within {:.1}s", timeout.as_secs_f64())
}

/// One range request, bounded by `timeout`.
async fn range(
    kv: &mut etcd_client::KvClient,
    start: &[u8],
    opts: GetOptions,
    timeout: Duration,
) -> Result<Result<etcd_client::GetResponse, etcd_client::Error>, String> {
    tokio::time::timeout(timeout, kv.get(start.to_vec(), Some(opts)))
        .await
        .map_err(|_| no_answer(timeout))
}

/// Keys per page for entries of `per_key` bytes (about [`PAGE_BYTES`] a page).
fn keys_for(per_key: usize) -> i64 {
    i64::try_from(PAGE_BYTES / per_key.max(1))
        .unwrap_or(PAGE)
        .clamp(1, PAGE)
}

/// Both prefixes at one revision, paged by count and by size (see [`PAGE`]). Returns the
/// revision and the entries.
async fn load(
    client: &Client,
    timeout: Duration,
    names: &mut Interner,
) -> Result<(i64, SourceState), String> {
    let mut kv = client.kv_client().max_decoding_message_size(MAX_PAGE_BYTES);
    let mut state = SourceState::default();
    let mut rev = 0i64;
    let mut limit = FIRST_PAGE;
    // The instance prefixes, then the ranges that hold the planners' keys.
    let mut ranges: Vec<(Vec<u8>, Vec<u8>, bool)> = [PREFIX_03, PREFIX_1X]
        .iter()
        .map(|p| (p.as_bytes().to_vec(), parse::prefix_end(p), true))
        .collect();
    ranges.extend(planner::ranges().into_iter().map(|(a, b)| (a, b, false)));
    for (first, end, instances) in ranges {
        let mut start = first;
        loop {
            let at = |o: GetOptions| if rev > 0 { o.with_revision(rev) } else { o };
            let opts = at(GetOptions::new().with_range(end.clone()).with_limit(limit));
            let resp = match range(&mut kv, &start, opts, timeout).await? {
                Ok(r) => r,
                Err(e) => {
                    let Some(found) = too_large(&e) else {
                        return Err(e.to_string());
                    };
                    if limit > 1 {
                        // The answer held min(limit, keys left) entries: size the next.
                        let opts = at(GetOptions::new().with_range(end.clone()).with_count_only());
                        let left = match range(&mut kv, &start, opts, timeout).await? {
                            Ok(r) => r.count().clamp(1, limit),
                            Err(e) => return Err(e.to_string()),
                        };
                        let per_key = found / usize::try_from(left).unwrap_or(1).max(1);
                        limit = keys_for(per_key).min(limit - 1);
                        continue;
                    }
                    // One entry alone is past the limit: count it from its key, skip it.
                    let opts = at(GetOptions::new()
                        .with_range(end.clone())
                        .with_limit(1)
                        .with_keys_only());
                    let r = match range(&mut kv, &start, opts, timeout).await? {
                        Ok(r) => r,
                        Err(e) => return Err(e.to_string()),
                    };
                    if rev == 0 {
                        rev = r.header().map_or(0, |h| h.revision());
                    }
                    let Some(big) = r.kvs().first() else { break };
                    if instances {
                        let key = key_string(big.key());
                        let msg = format!(
                            "etcd key {}: its entry is over the {MAX_PAGE_BYTES} byte cap",
                            parse::quote(&key)
                        );
                        state.put(&key, Err(msg));
                    } else {
                        state.planner.oversized(big.key());
                    }
                    start = big.key().to_vec();
                    start.push(0);
                    continue;
                }
            };
            if rev == 0 {
                rev = resp.header().map_or(0, |h| h.revision());
            }
            let mut bytes = 0usize;
            for kv in resp.kvs() {
                bytes = bytes.saturating_add(kv.key().len() + kv.value().len());
                if instances {
                    state.put(&key_string(kv.key()), entry(names, kv));
                } else {
                    state.planner.put(kv.key(), kv.value());
                }
            }
            // The next page by what these weighed, growing at most 4x at a time.
            if let Some(each) = bytes.checked_div(resp.kvs().len()) {
                limit = keys_for(each).min(limit.saturating_mul(4)).min(PAGE);
            }
            match resp.kvs().last() {
                Some(last) if resp.more() => {
                    start = last.key().to_vec();
                    start.push(0);
                }
                _ => break,
            }
        }
    }
    Ok((rev, state))
}

/// A key of the instance prefixes (the watch of the planner ranges sees other keys too).
fn is_instance_key(k: &[u8]) -> bool {
    k.starts_with(PREFIX_03.as_bytes()) || k.starts_with(PREFIX_1X.as_bytes())
}

fn key_string(k: &[u8]) -> String {
    String::from_utf8_lossy(k).into_owned()
}

fn entry(names: &mut Interner, kv: &etcd_client::KeyValue) -> Result<Instance, String> {
    parse::etcd_entry_in(names, kv.key(), kv.value()).map(|mut i| {
        i.lease = Some(kv.lease());
        i.mod_revision = Some(kv.mod_revision());
        i
    })
}

/// One snapshot for the CLI. `None` when the default endpoint does not answer.
pub(crate) async fn snapshot(src: &EtcdSource, timeout: Duration) -> Option<SourceState> {
    let res = match connect(src, timeout).await {
        Ok(c) => load(&c, timeout, &mut Interner::default()).await,
        Err(e) => Err(e),
    };
    match res {
        Ok((_, mut st)) => {
            st.status = Some(status(src, None, 0));
            Some(st)
        }
        Err(_) if !src.explicit => None,
        Err(e) => Some(SourceState {
            status: Some(status(src, Some(e), 0)),
            ..Default::default()
        }),
    }
}

/// Why a watch ended.
enum End {
    /// Compacted or cancelled: take a fresh snapshot now.
    Resync,
    /// The connection broke.
    Broken(String),
    /// The live view is gone.
    Closed,
}

/// The live source: snapshot, watch, and again after any break, until `tx` is closed.
pub(crate) async fn run(
    src: EtcdSource,
    timeout: Duration,
    watch_delay: Duration,
    tx: UnboundedSender<EtcdUpdate>,
) {
    let mut backoff = BACKOFF_MIN;
    let mut resyncs = 0u64;
    let mut first = true;
    let mut names = Interner::sharing();
    loop {
        let loaded = match connect(&src, timeout).await {
            Ok(c) => load(&c, timeout, &mut names).await.map(|l| (c, l)),
            Err(e) => Err(e),
        };
        let (client, rev) = match loaded {
            Ok((client, (rev, mut state))) => {
                if !first {
                    resyncs += 1;
                }
                state.status = Some(status(&src, None, resyncs));
                if tx.send(EtcdUpdate::Reset(state)).is_err() {
                    return;
                }
                (client, rev)
            }
            Err(e) => {
                if first && !src.explicit {
                    let _ = tx.send(EtcdUpdate::Off);
                    return;
                }
                let st = SourceState {
                    status: Some(status(&src, Some(e), resyncs)),
                    ..Default::default()
                };
                if tx.send(EtcdUpdate::Reset(st)).is_err() {
                    return;
                }
                first = false;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
                continue;
            }
        };
        first = false;
        if !watch_delay.is_zero() {
            tokio::time::sleep(watch_delay).await;
        }
        let watching = std::time::Instant::now();
        let end = watch(&client, rev, &tx, &mut names).await;
        // A watch that lived a while was healthy: the next trouble starts from the shortest
        // pause. One that ends at once again and again (a server that keeps cancelling it)
        // backs off like a refused connection.
        if watching.elapsed() > STABLE {
            backoff = BACKOFF_MIN;
        }
        match end {
            End::Closed => return,
            End::Resync => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
            End::Broken(e) => {
                let st = SourceState {
                    status: Some(status(&src, Some(e), resyncs)),
                    ..Default::default()
                };
                if tx.send(EtcdUpdate::Reset(st)).is_err() {
                    return;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    }
}

async fn watch(
    client: &Client,
    rev: i64,
    tx: &UnboundedSender<EtcdUpdate>,
    names: &mut Interner,
) -> End {
    let mut wc = client.watch_client().max_decoding_message_size(MAX_MESSAGE);
    let opts = |p: &str| {
        WatchOptions::new()
            .with_range(parse::prefix_end(p))
            .with_start_revision(rev + 1)
    };
    let mut stream = match wc.watch(PREFIX_03, Some(opts(PREFIX_03))).await {
        Ok(s) => s,
        Err(e) => return End::Broken(e.to_string()),
    };
    if let Err(e) = stream.watch(PREFIX_1X, Some(opts(PREFIX_1X))).await {
        return End::Broken(e.to_string());
    }
    for (start, end) in planner::ranges() {
        let o = WatchOptions::new()
            .with_range(end)
            .with_start_revision(rev + 1);
        if let Err(e) = stream.watch(start, Some(o)).await {
            return End::Broken(e.to_string());
        }
    }
    loop {
        let msg = tokio::select! {
            m = stream.message() => m,
            () = tx.closed() => return End::Closed,
        };
        let resp = match msg {
            Ok(Some(r)) => r,
            Ok(None) => return End::Broken("the watch stream ended".into()),
            Err(e) => return End::Broken(e.to_string()),
        };
        if resp.compact_revision() > 0 || resp.canceled() {
            return End::Resync;
        }
        let mut events = Vec::new();
        let mut planners = Vec::new();
        for ev in resp.events() {
            let Some(kv) = ev.kv() else { continue };
            let put = ev.event_type() == EventType::Put;
            if is_instance_key(kv.key()) {
                let key = Name::from(key_string(kv.key()));
                events.push((key, put.then(|| entry(names, kv))));
            } else if planner::key(kv.key()).is_some() {
                planners.push((kv.key().to_vec(), put.then(|| kv.value().to_vec())));
            }
        }
        if !events.is_empty() && tx.send(EtcdUpdate::Events(events)).is_err() {
            return End::Closed;
        }
        if !planners.is_empty() && tx.send(EtcdUpdate::Planner(planners)).is_err() {
            return End::Closed;
        }
    }
}
