//! The Prometheus text format of a Dynamo process's `/metrics`, parsed with the
//! `prometheus-parse` crate and reduced to the series dynamo-ctl shows: per worker
//! (`dynamo_namespace`, `dynamo_component`, `worker_id`) the request counter, in-flight
//! gauge, request-duration histogram, error counter and KV-cache use (summed over
//! endpoints and error types); per process the uptime; and the frontend's series.

use std::collections::{BTreeMap, HashMap};

use prometheus_parse::{Sample, Scrape, Value};

use super::math::{Buckets, add_buckets};

pub const REQUESTS: &str = "dynamo_component_requests_total";
pub const INFLIGHT: &str = "dynamo_component_inflight_requests";
pub const DURATION: &str = "dynamo_component_request_duration_seconds";
pub const ERRORS: &str = "dynamo_component_errors_total";
pub const UPTIME: &str = "dynamo_component_uptime_seconds";
/// Worker KV-cache use (0.0-1.0): older releases with `kvstats_`, newer ones without.
pub const KV_USAGE: [&str; 2] = [
    "dynamo_component_kvstats_gpu_cache_usage_percent",
    "dynamo_component_gpu_cache_usage_percent",
];
pub const FE_REQUESTS: &str = "dynamo_frontend_requests_total";
pub const FE_INFLIGHT: &str = "dynamo_frontend_inflight_requests";
pub const FE_QUEUED: &str = "dynamo_frontend_queued_requests";
pub const FE_TTFT: &str = "dynamo_frontend_time_to_first_token_seconds";
pub const FE_ITL: &str = "dynamo_frontend_inter_token_latency_seconds";
pub const FE_DURATION: &str = "dynamo_frontend_request_duration_seconds";

pub const NAMESPACE: &str = "dynamo_namespace";
pub const COMPONENT: &str = "dynamo_component";
pub const WORKER_ID: &str = "worker_id";

/// Which worker a series belongs to. `worker_id` is the instance id in hex as Dynamo
/// prints it (empty when the series has none).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorkerKey {
    pub namespace: String,
    pub component: String,
    pub worker_id: String,
}

/// One worker's series, summed over its endpoints (raw counter values, not rates).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorkerSeries {
    pub requests: Option<f64>,
    pub inflight: Option<f64>,
    pub duration: Option<Buckets>,
    pub errors: Option<f64>,
    pub kv_usage: Option<f64>,
}

/// A frontend's series, summed over models and labels.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FrontendSeries {
    pub requests: Option<f64>,
    /// `requests_total{status="error"}`; `None` when no series has a `status` label.
    pub errors: Option<f64>,
    pub inflight: Option<f64>,
    pub queued: Option<f64>,
    pub ttft: Option<Buckets>,
    pub itl: Option<Buckets>,
    pub duration: Option<Buckets>,
}

/// What one `/metrics` page says.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Parsed {
    pub workers: BTreeMap<WorkerKey, WorkerSeries>,
    /// `dynamo_component_uptime_seconds` per `worker_id`.
    pub uptime: HashMap<String, f64>,
    /// Present when the page has any `dynamo_frontend_` series.
    pub frontend: Option<FrontendSeries>,
    /// Samples read (histogram buckets counted one by one).
    pub samples: usize,
}

fn add(slot: &mut Option<f64>, v: f64) {
    if v.is_finite() {
        *slot = Some(slot.unwrap_or(0.0) + v);
    }
}

fn add_hist(slot: &mut Option<Buckets>, b: &[(f64, f64)]) {
    add_buckets(slot.get_or_insert_with(Vec::new), b);
}

fn scalar(v: &Value) -> Option<f64> {
    match v {
        Value::Counter(x) | Value::Gauge(x) | Value::Untyped(x) => Some(*x),
        _ => None,
    }
}

/// Parses a `/metrics` page. An answer with lines but not one sample in them is an error
/// (an HTML page, garbage); unknown series are ignored.
pub fn parse(text: &str) -> Result<Parsed, String> {
    let candidates = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count();
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .map_err(|e| format!("unreadable metrics: {e}"))?;
    let mut out = Parsed::default();
    // Histogram buckets of pages without `# TYPE` lines: (name, labels without le) -> buckets.
    let mut loose: BTreeMap<(String, Vec<(String, String)>), Buckets> = BTreeMap::new();
    for s in &scrape.samples {
        match &s.value {
            Value::Histogram(h) => {
                out.samples += h.len();
                let b: Buckets = h.iter().map(|c| (c.less_than, c.count)).collect();
                take_histogram(&mut out, &s.metric, worker_key(s), &b);
            }
            Value::Summary(q) => out.samples += q.len(),
            v => {
                out.samples += 1;
                let Some(x) = scalar(v) else { continue };
                if let Some(base) = s.metric.strip_suffix("_bucket")
                    && let Some(le) = s.labels.get("le")
                    && let Ok(le) = le.parse::<f64>()
                {
                    let mut rest: Vec<(String, String)> = s
                        .labels
                        .iter()
                        .filter(|(k, _)| k.as_str() != "le")
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect();
                    rest.sort();
                    loose
                        .entry((base.to_string(), rest))
                        .or_default()
                        .push((le, x));
                    continue;
                }
                take_scalar(&mut out, s, x);
            }
        }
    }
    for ((name, labels), b) in loose {
        let get = |k: &str| labels.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        take_histogram(&mut out, &name, key_of(get), &b);
    }
    if out.samples == 0 && candidates > 0 {
        return Err(format!(
            "not the Prometheus text format ({candidates} lines, no sample)"
        ));
    }
    Ok(out)
}

fn key_of(get: impl Fn(&str) -> Option<String>) -> Option<WorkerKey> {
    Some(WorkerKey {
        namespace: get(NAMESPACE)?,
        component: get(COMPONENT)?,
        worker_id: get(WORKER_ID).unwrap_or_default(),
    })
}

fn worker_key(s: &Sample) -> Option<WorkerKey> {
    key_of(|k| s.labels.get(k).map(str::to_string))
}

fn take_scalar(out: &mut Parsed, s: &Sample, x: f64) {
    let name = s.metric.as_str();
    if name == UPTIME {
        if let Some(id) = s.labels.get(WORKER_ID)
            && x.is_finite()
        {
            out.uptime.insert(id.to_string(), x);
        }
        return;
    }
    if let Some(rest) = name.strip_prefix("dynamo_frontend_") {
        let fe = out.frontend.get_or_insert_with(FrontendSeries::default);
        match rest {
            "requests_total" => {
                add(&mut fe.requests, x);
                if let Some(st) = s.labels.get("status") {
                    fe.errors.get_or_insert(0.0);
                    if st == "error" {
                        add(&mut fe.errors, x);
                    }
                }
            }
            "inflight_requests" => add(&mut fe.inflight, x),
            "queued_requests" => add(&mut fe.queued, x),
            _ => {}
        }
        return;
    }
    if !name.starts_with("dynamo_component_") {
        return;
    }
    let Some(key) = worker_key(s) else { return };
    let w = out.workers.entry(key).or_default();
    match name {
        REQUESTS => add(&mut w.requests, x),
        INFLIGHT => add(&mut w.inflight, x),
        ERRORS => add(&mut w.errors, x),
        n if KV_USAGE.contains(&n) && x.is_finite() => {
            w.kv_usage = Some(w.kv_usage.map_or(x, |k| k.max(x)));
        }
        _ => {}
    }
}

fn take_histogram(out: &mut Parsed, name: &str, key: Option<WorkerKey>, b: &[(f64, f64)]) {
    match name {
        DURATION => {
            if let Some(key) = key {
                add_hist(&mut out.workers.entry(key).or_default().duration, b);
            }
        }
        FE_TTFT | FE_ITL | FE_DURATION => {
            let fe = out.frontend.get_or_insert_with(FrontendSeries::default);
            let slot = match name {
                FE_TTFT => &mut fe.ttft,
                FE_ITL => &mut fe.itl,
                _ => &mut fe.duration,
            };
            add_hist(slot, b);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As a real ai-dynamo-runtime 1.6.1 worker writes it (trimmed).
    const WORKER: &str = r#"# HELP dynamo_component_inflight_requests Number of requests currently being processed by work handler
# TYPE dynamo_component_inflight_requests gauge
dynamo_component_inflight_requests{dynamo_component="backend",dynamo_endpoint="generate",dynamo_namespace="mt",worker_id="c68a147e65793529"} 2
# TYPE dynamo_component_request_duration_seconds histogram
dynamo_component_request_duration_seconds_bucket{dynamo_component="backend",dynamo_endpoint="generate",dynamo_namespace="mt",worker_id="c68a147e65793529",le="0.05"} 3
dynamo_component_request_duration_seconds_bucket{dynamo_component="backend",dynamo_endpoint="generate",dynamo_namespace="mt",worker_id="c68a147e65793529",le="0.1"} 30
dynamo_component_request_duration_seconds_bucket{dynamo_component="backend",dynamo_endpoint="generate",dynamo_namespace="mt",worker_id="c68a147e65793529",le="+Inf"} 30
dynamo_component_request_duration_seconds_sum{dynamo_component="backend",dynamo_endpoint="generate",dynamo_namespace="mt",worker_id="c68a147e65793529"} 1.59
dynamo_component_request_duration_seconds_count{dynamo_component="backend",dynamo_endpoint="generate",dynamo_namespace="mt",worker_id="c68a147e65793529"} 30
# TYPE dynamo_component_requests_total counter
dynamo_component_requests_total{dynamo_component="backend",dynamo_endpoint="generate",dynamo_namespace="mt",worker_id="c68a147e65793529"} 30
dynamo_component_requests_total{dynamo_component="backend",dynamo_endpoint="clear_kv_blocks",dynamo_namespace="mt",worker_id="c68a147e65793529"} 2
# TYPE dynamo_component_uptime_seconds gauge
dynamo_component_uptime_seconds{worker_id="c68a147e65793529"} 6.43
# TYPE dynamo_component_errors_total counter
dynamo_component_errors_total{dynamo_component="backend",dynamo_endpoint="generate",dynamo_namespace="mt",worker_id="c68a147e65793529",error_type="generate"} 4
dynamo_component_errors_total{dynamo_component="backend",dynamo_endpoint="generate",dynamo_namespace="mt",worker_id="c68a147e65793529",error_type="publish_final"} 1
dynamo_component_kvstats_gpu_cache_usage_percent{dynamo_component="backend",dynamo_namespace="mt",worker_id="c68a147e65793529"} 0.25
dynamo_engine_request 0
"#;

    #[test]
    fn a_real_worker_page() {
        let p = parse(WORKER).unwrap();
        let key = WorkerKey {
            namespace: "mt".into(),
            component: "backend".into(),
            worker_id: "c68a147e65793529".into(),
        };
        let w = &p.workers[&key];
        assert_eq!(w.requests, Some(32.0));
        assert_eq!(w.inflight, Some(2.0));
        assert_eq!(w.errors, Some(5.0));
        assert_eq!(w.kv_usage, Some(0.25));
        let mut d = w.duration.clone().unwrap();
        d.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert_eq!(d, vec![(0.05, 3.0), (0.1, 30.0), (f64::INFINITY, 30.0)]);
        assert_eq!(p.uptime["c68a147e65793529"], 6.43);
        assert!(p.frontend.is_none());
        assert_eq!(p.workers.len(), 1);
    }

    #[test]
    fn buckets_without_type_lines_and_new_kv_name() {
        let page = "x_requests_total 1\n\
            dynamo_component_request_duration_seconds_bucket{dynamo_namespace=\"n\",dynamo_component=\"c\",worker_id=\"1\",le=\"1\"} 2\n\
            dynamo_component_request_duration_seconds_bucket{dynamo_namespace=\"n\",dynamo_component=\"c\",worker_id=\"1\",le=\"+Inf\"} 3\n\
            dynamo_component_gpu_cache_usage_percent{dynamo_namespace=\"n\",dynamo_component=\"c\",worker_id=\"1\"} 0.5\n";
        let p = parse(page).unwrap();
        let w = p.workers.values().next().unwrap();
        assert_eq!(w.kv_usage, Some(0.5));
        assert_eq!(w.duration.as_ref().unwrap().len(), 2);
    }

    #[test]
    fn frontend_series() {
        let page = r#"# TYPE dynamo_frontend_requests_total counter
dynamo_frontend_requests_total{endpoint="chat_completions",model="m",request_type="stream",status="success"} 10
dynamo_frontend_requests_total{endpoint="chat_completions",model="m",request_type="stream",status="error"} 2
# TYPE dynamo_frontend_inflight_requests gauge
dynamo_frontend_inflight_requests{model="m"} 3
# TYPE dynamo_frontend_queued_requests gauge
dynamo_frontend_queued_requests{model="m"} 1
# TYPE dynamo_frontend_time_to_first_token_seconds histogram
dynamo_frontend_time_to_first_token_seconds_bucket{model="m",le="0.1"} 5
dynamo_frontend_time_to_first_token_seconds_bucket{model="m",le="+Inf"} 12
"#;
        let fe = parse(page).unwrap().frontend.unwrap();
        assert_eq!(fe.requests, Some(12.0));
        assert_eq!(fe.errors, Some(2.0));
        assert_eq!(fe.inflight, Some(3.0));
        assert_eq!(fe.queued, Some(1.0));
        assert_eq!(fe.ttft.unwrap().len(), 2);
        assert!(fe.itl.is_none());
    }

    #[test]
    fn garbage_is_an_error_and_never_a_panic() {
        assert!(parse("<html><body>hello</body></html>\n").is_err());
        assert!(parse("hello world\nfoo bar baz\n").is_err());
        assert_eq!(parse("").unwrap(), Parsed::default());
        assert_eq!(parse("# just a comment\n").unwrap(), Parsed::default());
        for hostile in [
            "dynamo_component_requests_total{dynamo_namespace=\"a,b=c\",dynamo_component=\"x\"} NaN\n",
            "dynamo_component_requests_total{dynamo_namespace=\"\u{1b}[2J\",dynamo_component=\"x\"} 1e400\n",
            "dynamo_component_request_duration_seconds_bucket{le=\"x\"} 1\n",
            "dynamo_component_request_duration_seconds_bucket{dynamo_namespace=\"n\",dynamo_component=\"c\",le=\"NaN\"} 1\n",
            "{}{}{}{ 1 2 3\n\u{0}\u{ffff}",
            "# TYPE dynamo_component_request_duration_seconds histogram\ndynamo_component_request_duration_seconds_bucket{le=\"+Inf\"} -5\n",
        ] {
            let _ = parse(hostile);
        }
    }
}
