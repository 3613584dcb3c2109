//! Prometheus as a source: instant PromQL queries (`/api/v1/query`), all at once, and
//! `query_range` for history. Quantiles are computed here from the bucket rates (the same
//! interpolation as `histogram_quantile`), so per-instance and per-component numbers come
//! from one query.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde_json::Value;

use super::expo::{
    self, COMPONENT, DURATION, ERRORS, FE_DURATION, FE_INFLIGHT, FE_ITL, FE_QUEUED, FE_REQUESTS,
    FE_TTFT, INFLIGHT, NAMESPACE, REQUESTS, WORKER_ID, WorkerKey,
};
use super::http::{self, HttpUrl};
use super::math::{Buckets, Kind, Reading, normalize};
use super::merge::{FrontAgg, InstAgg, Partial, Tally, merge};
use super::promjson;
use super::scrape::http_error;
use super::{Config, Metrics, SourceKind, SourceStatus};

/// The queries of one poll, in the order [`build`] reads their answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Q {
    Requests,
    Inflight,
    Buckets,
    Errors,
    Kv,
    Seen,
    Live,
    FeRequests,
    FeErrors,
    FeInflight,
    FeQueued,
    FeTtft,
    FeItl,
    FeDuration,
}

const ALL: [Q; 14] = [
    Q::Requests,
    Q::Inflight,
    Q::Buckets,
    Q::Errors,
    Q::Kv,
    Q::Seen,
    Q::Live,
    Q::FeRequests,
    Q::FeErrors,
    Q::FeInflight,
    Q::FeQueued,
    Q::FeTtft,
    Q::FeItl,
    Q::FeDuration,
];

/// A PromQL string literal.
fn lit(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '\\' => o.push_str("\\\\"),
            '"' => o.push_str("\\\""),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// A PromQL duration: whole milliseconds, at least 1 ms.
fn dur(d: Duration) -> String {
    format!("{}ms", d.as_millis().max(1))
}

fn promql(q: Q, cfg: &Config, ns: Option<&str>) -> String {
    let sel = ns
        .map(|n| format!("{NAMESPACE}={}", lit(n)))
        .unwrap_or_default();
    let w = dur(cfg.window);
    let by = format!("{NAMESPACE}, {COMPONENT}, {WORKER_ID}");
    let hist = |name: &str| format!("sum by (le) (rate({name}_bucket[{w}]))");
    match q {
        Q::Requests => format!("sum by ({by}) (rate({REQUESTS}{{{sel}}}[{w}]))"),
        Q::Inflight => format!("sum by ({by}) ({INFLIGHT}{{{sel}}})"),
        Q::Buckets => format!("sum by ({by}, le) (rate({DURATION}_bucket{{{sel}}}[{w}]))"),
        Q::Errors => format!("sum by ({by}) (rate({ERRORS}{{{sel}}}[{w}]))"),
        Q::Kv => {
            let names = expo::KV_USAGE.join("|");
            let sel = if sel.is_empty() {
                String::new()
            } else {
                format!(",{sel}")
            };
            format!("max by ({by}) ({{__name__=~{}{sel}}})", lit(&names))
        }
        Q::Seen => format!(
            "max by ({by}) (last_over_time({REQUESTS}{{{sel}}}[{}]))",
            dur(cfg.stale_lookback)
        ),
        Q::Live => format!("max by ({by}) ({REQUESTS}{{{sel}}})"),
        Q::FeRequests => format!("sum(rate({FE_REQUESTS}[{w}]))"),
        // 0 when the series have a status label but none is an error; nothing without one.
        Q::FeErrors => format!(
            "sum(rate({FE_REQUESTS}{{status=\"error\"}}[{w}])) or (0 * sum(rate({FE_REQUESTS}{{status!=\"\"}}[{w}])))"
        ),
        Q::FeInflight => format!("sum({FE_INFLIGHT})"),
        Q::FeQueued => format!("sum({FE_QUEUED})"),
        Q::FeTtft => hist(FE_TTFT),
        Q::FeItl => hist(FE_ITL),
        Q::FeDuration => hist(FE_DURATION),
    }
}

fn api_path(url: &HttpUrl, api: &str, params: &[(&str, &str)]) -> String {
    let q: Vec<String> = params
        .iter()
        .map(|(k, v)| format!("{k}={}", urlencoding::encode(v)))
        .collect();
    format!("{}/api/v1/{api}?{}", url.path, q.join("&"))
}

fn query_path(url: &HttpUrl, cfg: &Config, ns: Option<&str>, q: Q) -> String {
    api_path(url, "query", &[("query", &promql(q, cfg, ns))])
}

/// One query's answer: its body, or why there is none.
async fn ask(url: &HttpUrl, path: &str, timeout: Duration) -> Result<Bytes, String> {
    let a = http::get(url, path, timeout).await?;
    if a.status != 200 {
        return Err(api_error(a.status, &a.body));
    }
    Ok(a.body)
}

/// The raw answers to one poll's queries (concurrently, each bounded by the timeout).
pub(super) async fn fetch_answers(
    url: &HttpUrl,
    cfg: &Config,
    ns: Option<&str>,
) -> Vec<Result<Bytes, String>> {
    let calls = ALL.iter().map(|&q| {
        let path = query_path(url, cfg, ns, q);
        async move { ask(url, &path, cfg.timeout).await }
    });
    futures_util::future::join_all(calls).await
}

/// Prometheus answers errors as `{"status":"error","errorType","error"}` (400, 422, 503).
fn api_error(status: u16, body: &[u8]) -> String {
    match serde_json::from_slice::<Value>(body) {
        Ok(v) if v.get("error").and_then(Value::as_str).is_some() => {
            format!("HTTP {status}: {}", v["error"].as_str().unwrap_or_default())
        }
        _ => http_error(status, body),
    }
}

/// `data.result` of a successful answer of `want` type (`matrix` for history).
fn result<'a>(v: &'a Value, want: &str) -> Result<&'a Vec<Value>, String> {
    if v.get("status").and_then(Value::as_str) != Some("success") {
        let e = v
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("no status");
        return Err(format!("query failed: {e}"));
    }
    let data = v.get("data").ok_or("answer without data")?;
    let ty = data.get("resultType").and_then(Value::as_str);
    if ty != Some(want) {
        return Err(format!("answer of type {ty:?}, not {want}"));
    }
    data.get("result")
        .and_then(Value::as_array)
        .ok_or_else(|| "answer without a result list".to_string())
}

/// `[unix seconds, "value"]`; `NaN`/`±Inf` values are dropped.
fn point(p: &Value) -> Option<(f64, f64)> {
    let a = p.as_array()?;
    let t = a.first()?.as_f64()?;
    let v: f64 = a.get(1)?.as_str()?.parse().ok()?;
    v.is_finite().then_some((t, v))
}

/// One worker's numbers, from all the queries.
#[derive(Default)]
struct Row {
    requests: Reading<f64>,
    inflight: Reading<f64>,
    errors: Reading<f64>,
    kv: Reading<f64>,
    buckets: Reading<Buckets>,
    seen: bool,
    live: bool,
}

/// The answers read so far: workers found by [`expo::key_bytes`], each answer folded in as
/// it arrives and then dropped.
#[derive(Default)]
struct Acc {
    index: HashMap<Box<[u8]>, u32>,
    rows: Vec<(WorkerKey, Row)>,
    scratch: Vec<u8>,
    fe: FrontAgg,
    any_frontend: bool,
    tally: Tally,
    skipped: u64,
    first_error: Option<String>,
}

impl Acc {
    fn row(&mut self, r: &promjson::Row) -> Option<&mut (WorkerKey, Row)> {
        let (ns, comp) = (r.namespace.as_deref()?, r.component.as_deref()?);
        let id = r.worker_id.as_deref().unwrap_or("");
        expo::key_bytes(&mut self.scratch, ns, comp, id);
        let i = match self.index.get(self.scratch.as_slice()) {
            Some(&i) => i as usize,
            None if self.rows.len() >= expo::MAX_WORKERS => {
                self.skipped = self.skipped.saturating_add(1);
                return None;
            }
            None => {
                self.index.insert(
                    self.scratch.clone().into_boxed_slice(),
                    self.rows.len() as u32,
                );
                let key = WorkerKey {
                    namespace: ns.to_string(),
                    component: comp.to_string(),
                    worker_id: id.to_string(),
                };
                self.rows.push((key, Row::default()));
                self.rows.len() - 1
            }
        };
        self.rows.get_mut(i)
    }

    /// Folds the answer to `q` in.
    fn take(&mut self, q: Q, answer: Result<&[u8], String>) {
        let res = answer.and_then(|body| {
            let mut fe_rows = 0usize;
            promjson::read_vector(body, &mut |r| self.series(q, &r, &mut fe_rows))
        });
        if let Err(e) = res {
            self.first_error.get_or_insert(e);
        }
    }

    fn series(&mut self, q: Q, r: &promjson::Row, fe_rows: &mut usize) {
        if matches!(q, Q::Seen | Q::Live) {
            // Only the labels count.
            if let Some((_, row)) = self.row(r) {
                if q == Q::Seen {
                    row.seen = true;
                } else {
                    row.live = true;
                }
            }
            return;
        }
        let (kind, name) = q.check();
        let x = r
            .value
            .as_deref()
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(f64::NAN);
        let plausible = kind.plausible(x);
        if !plausible {
            let raw: String = r
                .value
                .as_deref()
                .unwrap_or("none")
                .chars()
                .take(40)
                .collect();
            let of = r
                .worker_id
                .as_deref()
                .map(|w| format!(" of worker {w}"))
                .unwrap_or_default();
            self.tally
                .note(|| format!("{name}{of} = {raw}: {}", kind.expected()));
        }
        let le =
            r.le.as_deref()
                .map(str::trim)
                .and_then(|l| l.parse::<f64>().ok());
        let mut fe_scalar = |slot: &mut Reading<f64>| {
            *fe_rows += 1;
            // One series expected (a `sum`): the first one counts.
            if *fe_rows == 1 {
                *slot = Reading::of(kind, x);
            }
        };
        match q {
            Q::FeRequests => fe_scalar(&mut self.fe.requests_per_s),
            Q::FeErrors => fe_scalar(&mut self.fe.errors_per_s),
            Q::FeInflight => fe_scalar(&mut self.fe.inflight),
            Q::FeQueued => fe_scalar(&mut self.fe.queued),
            Q::FeTtft => push_bucket(&mut self.fe.ttft, le, x),
            Q::FeItl => push_bucket(&mut self.fe.itl, le, x),
            Q::FeDuration => push_bucket(&mut self.fe.duration, le, x),
            _ => {
                let Some((_, row)) = self.row(r) else { return };
                match q {
                    Q::Requests => row.requests.add(kind, x),
                    Q::Inflight => row.inflight.add(kind, x),
                    Q::Errors => row.errors.add(kind, x),
                    Q::Kv => row.kv.max(kind, x),
                    _ => push_bucket(&mut row.buckets, le, x),
                }
            }
        }
        // The frontend is there when any of its series is (errors alone do not say so).
        self.any_frontend |= q.is_frontend() && q != Q::FeErrors;
    }

    /// The answers as this source's partial result. A failed query marks the source as
    /// failed (with the first error) and leaves its numbers out.
    fn partial(mut self, url: &HttpUrl) -> Partial {
        let location = url.to_string();
        let mut instances = Vec::with_capacity(self.rows.len());
        for (key, mut r) in self.rows {
            // Listed when seen recently, live now, or with a rate or in-flight count.
            if !r.seen && !r.live && r.requests.is_absent() && r.inflight.is_absent() {
                continue;
            }
            if let Reading::Value(b) = &mut r.buckets {
                normalize(b);
            }
            // Seen recently but no sample now: its target is down, or it went away.
            let stale = !r.live && r.inflight.is_absent();
            instances.push(InstAgg {
                requests_per_s: r.requests,
                inflight: r.inflight,
                buckets: r.buckets,
                errors_per_s: r.errors,
                kv_usage: r.kv,
                health: None,
                stale,
                source: location.clone(),
                key,
            });
        }
        instances.sort_by(|a, b| a.key.cmp(&b.key));
        for h in [&mut self.fe.ttft, &mut self.fe.itl, &mut self.fe.duration] {
            if let Reading::Value(b) = h {
                normalize(b);
            }
        }
        Partial::new(
            SourceStatus::new(SourceKind::Prometheus, location, self.first_error),
            self.tally,
            self.skipped,
            instances,
            self.any_frontend.then_some(self.fe),
        )
    }
}

/// One bucket (`le`, count) into a histogram being read: a bucket without a readable
/// bound or with a count that is not one makes the histogram malformed.
fn push_bucket(slot: &mut Reading<Buckets>, le: Option<f64>, x: f64) {
    let le = le.filter(|l| !l.is_nan());
    match (le, &mut *slot) {
        (_, Reading::Malformed) => {}
        (Some(le), Reading::Value(b)) if Kind::Count.plausible(x) => b.push((le, x)),
        (Some(le), Reading::Absent) if Kind::Count.plausible(x) => {
            *slot = Reading::Value(vec![(le, x)]);
        }
        _ => *slot = Reading::Malformed,
    }
}

impl Q {
    fn is_frontend(self) -> bool {
        matches!(
            self,
            Q::FeRequests
                | Q::FeErrors
                | Q::FeInflight
                | Q::FeQueued
                | Q::FeTtft
                | Q::FeItl
                | Q::FeDuration
        )
    }

    /// What its values must be, and what to call them in a note.
    fn check(self) -> (Kind, &'static str) {
        match self {
            Q::Kv => (Kind::Fraction, "kv_cache_usage"),
            Q::Requests => (Kind::Count, "requests/s"),
            Q::Inflight => (Kind::Count, "inflight"),
            Q::Errors => (Kind::Count, "errors/s"),
            Q::Buckets => (Kind::Count, "request duration bucket"),
            Q::Seen | Q::Live => (Kind::Count, "requests"),
            Q::FeRequests => (Kind::Count, "frontend requests/s"),
            Q::FeErrors => (Kind::Count, "frontend errors/s"),
            Q::FeInflight => (Kind::Count, "frontend inflight"),
            Q::FeQueued => (Kind::Count, "frontend queued"),
            Q::FeTtft | Q::FeItl | Q::FeDuration => (Kind::Count, "frontend bucket"),
        }
    }
}

/// Reads the raw answers of one poll (in query order) as this source's partial result.
pub(super) fn build(url: &HttpUrl, answers: &[Result<Bytes, String>]) -> Partial {
    let mut acc = Acc::default();
    for (&q, a) in ALL.iter().zip(answers) {
        acc.take(q, a.as_ref().map(|b| &b[..]).map_err(Clone::clone));
    }
    acc.partial(url)
}

/// One poll: every query at once; each answer is read as soon as it is complete and then
/// dropped, so the answers are never all held at once. The round is bounded by the
/// timeout as a whole: a query unanswered by then is an error.
pub(super) async fn poll(url: &HttpUrl, cfg: &Config, ns: Option<&str>) -> Partial {
    let deadline = tokio::time::Instant::now() + cfg.timeout;
    let mut pending: FuturesUnordered<_> = ALL
        .iter()
        .map(|&q| {
            let path = query_path(url, cfg, ns, q);
            async move { (q, ask(url, &path, cfg.timeout).await) }
        })
        .collect();
    let mut acc = Acc::default();
    loop {
        match tokio::time::timeout_at(deadline, pending.next()).await {
            Ok(Some((q, answer))) => {
                acc.take(q, answer.as_ref().map(|b| &b[..]).map_err(Clone::clone))
            }
            Ok(None) => break,
            Err(_) => {
                acc.first_error.get_or_insert(format!(
                    "no answer within {:.1} s",
                    cfg.timeout.as_secs_f64()
                ));
                break;
            }
        }
    }
    acc.partial(url)
}

/// Measurement aid (`benches/metrics.rs`): the raw answers of one Prometheus poll, and
/// the time to turn them into [`Metrics`].
#[doc(hidden)]
pub async fn bench_fetch_answers(cfg: &Config, ns: Option<&str>) -> Vec<Result<Bytes, String>> {
    match &cfg.prometheus {
        Some(url) => fetch_answers(url, cfg, ns).await,
        None => Vec::new(),
    }
}

#[doc(hidden)]
pub fn bench_parse_answers(cfg: &Config, answers: &[Result<Bytes, String>]) -> Option<Metrics> {
    let url = cfg.prometheus.as_ref()?;
    Some(merge(vec![build(url, answers)]).0)
}

/// `sum(rate(requests_total{ns, component}[...]))` over the last `minutes`.
pub(super) async fn history(
    url: &HttpUrl,
    cfg: &Config,
    ns: &str,
    component: &str,
    minutes: u32,
) -> Result<Vec<(f64, f64)>, String> {
    let span = f64::from(minutes.clamp(1, 7 * 24 * 60)) * 60.0;
    let step = (span / 240.0).max(1.0).round();
    let window = Duration::from_secs_f64((2.0 * step).max(cfg.window.as_secs_f64()));
    let query = format!(
        "sum(rate({REQUESTS}{{{NAMESPACE}={},{COMPONENT}={}}}[{}]))",
        lit(ns),
        lit(component),
        dur(window)
    );
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let (start, end, step) = (
        format!("{:.3}", now - span),
        format!("{now:.3}"),
        format!("{step}"),
    );
    let path = api_path(
        url,
        "query_range",
        &[
            ("query", &query),
            ("start", &start),
            ("end", &end),
            ("step", &step),
        ],
    );
    let a = http::get(url, &path, cfg.timeout).await?;
    if a.status != 200 {
        return Err(api_error(a.status, &a.body));
    }
    let v: Value =
        serde_json::from_slice(&a.body).map_err(|e| format!("not a Prometheus API answer: {e}"))?;
    let series = result(&v, "matrix")?;
    let mut points: BTreeMap<u64, (f64, f64)> = BTreeMap::new();
    for s in series {
        for p in s
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some((t, v)) = point(p) {
                points.insert((t * 1000.0) as u64, (t, v));
            }
        }
    }
    Ok(points.into_values().collect())
}

#[cfg(test)]
#[path = "prom_tests.rs"]
mod tests;
