//! Prometheus as a source: instant PromQL queries (`/api/v1/query`), all at once, and
//! `query_range` for history. Quantiles are computed here from the bucket rates (the same
//! interpolation as `histogram_quantile`), so per-instance and per-component numbers come
//! from one query.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde_json::Value;

use super::expo::{
    self, COMPONENT, DURATION, ERRORS, FE_DURATION, FE_INFLIGHT, FE_ITL, FE_QUEUED, FE_REQUESTS,
    FE_TTFT, INFLIGHT, NAMESPACE, REQUESTS, WORKER_ID, WorkerKey,
};
use super::http::{self, HttpUrl};
use super::math::Buckets;
use super::scrape::http_error;
use super::{Config, FrontAgg, InstAgg, Metrics, Partial, SourceKind, SourceStatus, merge};

/// Labels of one result series.
type Labels = HashMap<String, String>;

/// The queries of one poll, in the order [`build`] reads their answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Q {
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

/// The raw answers to one poll's queries (concurrently, each bounded by the timeout).
pub(super) async fn fetch_answers(
    url: &HttpUrl,
    cfg: &Config,
    ns: Option<&str>,
) -> Vec<Result<Bytes, String>> {
    let calls = ALL.iter().map(|&q| {
        let path = api_path(url, "query", &[("query", &promql(q, cfg, ns))]);
        async move {
            let a = http::get(url, &path, cfg.timeout).await?;
            if a.status != 200 {
                return Err(api_error(a.status, &a.body));
            }
            Ok(a.body)
        }
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

/// `data.result` of a successful answer of `want` type (`vector`, `matrix`).
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
    // An empty `or` can come back as a vector of nothing; scalars are not asked for.
    if ty != Some(want) {
        return Err(format!("answer of type {ty:?}, not {want}"));
    }
    data.get("result")
        .and_then(Value::as_array)
        .ok_or_else(|| "answer without a result list".to_string())
}

fn labels(series: &Value) -> Labels {
    series
        .get("metric")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// `[unix seconds, "value"]`; `NaN`/`±Inf` values are dropped.
fn point(p: &Value) -> Option<(f64, f64)> {
    let a = p.as_array()?;
    let t = a.first()?.as_f64()?;
    let v: f64 = a.get(1)?.as_str()?.parse().ok()?;
    v.is_finite().then_some((t, v))
}

/// An instant-vector answer: each series' labels and value.
fn vector(body: &[u8]) -> Result<Vec<(Labels, f64)>, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("not a Prometheus API answer: {e}"))?;
    Ok(result(&v, "vector")?
        .iter()
        .filter_map(|s| Some((labels(s), point(s.get("value")?)?.1)))
        .collect())
}

fn key(l: &Labels) -> Option<WorkerKey> {
    Some(WorkerKey {
        namespace: l.get(NAMESPACE)?.clone(),
        component: l.get(COMPONENT)?.clone(),
        worker_id: l.get(WORKER_ID).cloned().unwrap_or_default(),
    })
}

fn per_key(rows: &[(Labels, f64)]) -> HashMap<WorkerKey, f64> {
    rows.iter()
        .filter_map(|(l, v)| Some((key(l)?, *v)))
        .collect()
}

fn le_buckets<'a>(rows: impl Iterator<Item = &'a (Labels, f64)>) -> Buckets {
    rows.filter_map(|(l, v)| Some((l.get("le")?.parse::<f64>().ok()?, *v)))
        .collect()
}

fn scalar(rows: &[(Labels, f64)]) -> Option<f64> {
    rows.first().map(|r| r.1)
}

/// The answers as this source's partial result. A failed query marks the source as
/// failed (with the first error) and leaves its numbers out.
pub(super) fn build(url: &HttpUrl, answers: &[Result<Bytes, String>]) -> Partial {
    let location = url.to_string();
    let mut first_error = None;
    let got: Vec<Option<Vec<(Labels, f64)>>> = answers
        .iter()
        .map(
            |a| match a.as_ref().map_err(Clone::clone).and_then(|b| vector(b)) {
                Ok(rows) => Some(rows),
                Err(e) => {
                    first_error.get_or_insert(e);
                    None
                }
            },
        )
        .collect();
    let get = |q: Q| -> &[(Labels, f64)] {
        ALL.iter()
            .position(|x| *x == q)
            .and_then(|i| got.get(i))
            .and_then(|r| r.as_deref())
            .unwrap_or(&[])
    };
    let requests = per_key(get(Q::Requests));
    let inflight = per_key(get(Q::Inflight));
    let errors = per_key(get(Q::Errors));
    let kv = per_key(get(Q::Kv));
    let live: BTreeSet<WorkerKey> = get(Q::Live).iter().filter_map(|(l, _)| key(l)).collect();
    let mut buckets: HashMap<WorkerKey, Buckets> = HashMap::new();
    for (l, v) in get(Q::Buckets) {
        if let (Some(k), Some(le)) = (key(l), l.get("le").and_then(|s| s.parse::<f64>().ok())) {
            buckets.entry(k).or_default().push((le, *v));
        }
    }
    let mut keys: BTreeSet<WorkerKey> = get(Q::Seen).iter().filter_map(|(l, _)| key(l)).collect();
    keys.extend(live.iter().cloned());
    keys.extend(requests.keys().cloned());
    keys.extend(inflight.keys().cloned());
    let instances = keys
        .into_iter()
        .map(|k| {
            // Seen recently but no sample now: its target is down, or it went away.
            let stale = !live.contains(&k) && !inflight.contains_key(&k);
            InstAgg {
                requests_per_s: requests.get(&k).copied(),
                inflight: inflight.get(&k).copied(),
                buckets: buckets.remove(&k),
                errors_per_s: errors.get(&k).copied(),
                kv_usage: kv.get(&k).copied(),
                health: None,
                stale,
                source: location.clone(),
                key: k,
            }
        })
        .collect();
    let fe_hist = |q: Q| Some(le_buckets(get(q).iter())).filter(|b| !b.is_empty());
    let fe = FrontAgg {
        requests_per_s: scalar(get(Q::FeRequests)),
        errors_per_s: scalar(get(Q::FeErrors)),
        inflight: scalar(get(Q::FeInflight)),
        queued: scalar(get(Q::FeQueued)),
        ttft: fe_hist(Q::FeTtft),
        itl: fe_hist(Q::FeItl),
        duration: fe_hist(Q::FeDuration),
    };
    let any_frontend = fe.requests_per_s.is_some()
        || fe.inflight.is_some()
        || fe.queued.is_some()
        || fe.ttft.is_some()
        || fe.itl.is_some()
        || fe.duration.is_some();
    Partial {
        status: SourceStatus::new(SourceKind::Prometheus, location, first_error),
        instances,
        frontend: any_frontend.then_some(fe),
    }
}

pub(super) async fn poll(url: &HttpUrl, cfg: &Config, ns: Option<&str>) -> Partial {
    let answers = fetch_answers(url, cfg, ns).await;
    build(url, &answers)
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
    Some(merge(vec![build(url, answers)]))
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
mod tests {
    use super::*;

    fn cfg() -> Config {
        Config::default()
    }

    #[test]
    fn queries() {
        let q = promql(Q::Requests, &cfg(), Some("a\"b\\c"));
        assert_eq!(
            q,
            "sum by (dynamo_namespace, dynamo_component, worker_id) (rate(dynamo_component_requests_total{dynamo_namespace=\"a\\\"b\\\\c\"}[10000ms]))"
        );
        assert!(promql(Q::Kv, &cfg(), None).contains(
            "{__name__=~\"dynamo_component_kvstats_gpu_cache_usage_percent|dynamo_component_gpu_cache_usage_percent\"}"
        ));
        assert!(promql(Q::Kv, &cfg(), Some("n")).ends_with(",dynamo_namespace=\"n\"})"));
        assert!(promql(Q::Seen, &cfg(), None).contains("[300000ms]"));
        let u = HttpUrl::parse("http://h:9090/prom").unwrap();
        assert_eq!(
            api_path(&u, "query", &[("query", "up{a=\"b\"}")]),
            "/prom/api/v1/query?query=up%7Ba%3D%22b%22%7D"
        );
    }

    fn ok(result: &str) -> Result<Bytes, String> {
        Ok(Bytes::from(format!(
            r#"{{"status":"success","data":{{"resultType":"vector","result":[{result}]}}}}"#
        )))
    }

    fn series(id: &str, v: &str, extra: &str) -> String {
        format!(
            r#"{{"metric":{{"dynamo_namespace":"n","dynamo_component":"c","worker_id":"{id}"{extra}}},"value":[1700000000.5,"{v}"]}}"#
        )
    }

    #[test]
    fn answers_to_loads() {
        let mut answers: Vec<Result<Bytes, String>> = ALL.iter().map(|_| ok("")).collect();
        let at = |q: Q| ALL.iter().position(|x| *x == q).unwrap();
        answers[at(Q::Requests)] = ok(&format!(
            "{},{}",
            series("a", "10", ""),
            series("b", "NaN", "")
        ));
        answers[at(Q::Inflight)] = ok(&series("a", "2", ""));
        answers[at(Q::Buckets)] = ok(&[
            series("a", "5", r#","le":"0.1""#),
            series("a", "10", r#","le":"1""#),
            series("a", "10", r#","le":"+Inf""#),
        ]
        .join(","));
        answers[at(Q::Seen)] = ok(&format!(
            "{},{}",
            series("a", "1", ""),
            series("gone", "1", "")
        ));
        answers[at(Q::Live)] = ok(&format!(
            "{},{}",
            series("a", "1", ""),
            series("b", "1", "")
        ));
        answers[at(Q::FeInflight)] = ok(r#"{"metric":{},"value":[1,"3"]}"#);
        let url = HttpUrl::parse("http://127.0.0.1:9090").unwrap();
        let m = merge(vec![build(&url, &answers)]);
        assert!(m.sources[0].ok(), "{:?}", m.sources);
        let a = m.instance("n", "c", "a").unwrap();
        assert_eq!(a.requests_per_s, Some(10.0));
        assert_eq!(a.inflight, Some(2.0));
        assert!((a.p50_seconds.unwrap() - 0.1).abs() < 1e-9);
        assert!(!a.stale);
        assert!(m.instance("n", "c", "gone").unwrap().stale);
        assert_eq!(m.instance("n", "c", "b").unwrap().requests_per_s, None);
        let c = m.component("n", "c").unwrap();
        assert_eq!(c.instances, 2);
        assert_eq!(c.requests_per_s, Some(10.0));
        assert_eq!(m.frontend.as_ref().unwrap().inflight, Some(3.0));
        assert_eq!(m.frontend.as_ref().unwrap().requests_per_s, None);
    }

    #[test]
    fn bad_answers_are_errors() {
        let url = HttpUrl::parse("http://127.0.0.1:9090").unwrap();
        for bad in [
            Err("connect: refused".to_string()),
            Ok(Bytes::from_static(b"<html>")),
            Ok(Bytes::from_static(br#"{"status":"error","error":"bad \u001b[2J query"}"#)),
            Ok(Bytes::from_static(br#"{"status":"success","data":{"resultType":"scalar","result":[1,"1"]}}"#)),
            Ok(Bytes::from_static(br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":5,"value":"x"}]}}"#)),
        ] {
            let answers: Vec<_> = ALL.iter().map(|_| bad.clone()).collect();
            let p = build(&url, &answers);
            if p.status.ok() {
                // Only the odd-shaped vector is readable (and yields nothing).
                assert!(p.instances.is_empty());
            } else {
                assert!(!p.status.error.as_deref().unwrap().contains('\u{1b}'));
            }
        }
        assert!(
            api_error(503, br#"{"status":"error","error":"overloaded"}"#).contains("overloaded")
        );
        assert_eq!(api_error(500, b""), "HTTP 500");
    }
}
