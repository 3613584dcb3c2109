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

fn key(ns: &str, c: &str, id: &str) -> WorkerKey {
    WorkerKey {
        namespace: ns.into(),
        component: c.into(),
        worker_id: id.into(),
    }
}

/// Runs `f` on a thread and fails when it takes longer than `secs` (a quadratic
/// regression then fails instead of hanging the suite).
pub(crate) fn within<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(secs))
        .expect("did not finish in time")
}

#[test]
fn a_real_worker_page() {
    let p = parse(WORKER).unwrap();
    let w = &p.workers[&key("mt", "backend", "c68a147e65793529")];
    assert_eq!(w.requests, Reading::Value(32.0));
    assert_eq!(w.inflight, Reading::Value(2.0));
    assert_eq!(w.errors, Reading::Value(5.0));
    assert_eq!(w.kv_usage, Reading::Value(0.25));
    assert_eq!(
        w.duration,
        Reading::Value(vec![(0.05, 3.0), (0.1, 30.0), (f64::INFINITY, 30.0)])
    );
    assert_eq!(p.uptime["c68a147e65793529"], 6.43);
    assert!(p.frontend.is_none());
    assert_eq!(p.workers.len(), 1);
    assert_eq!(p.malformed, Tally::default());
    assert_eq!(p.samples, 13);
}

#[test]
fn any_split_of_the_page_reads_the_same() {
    let whole = parse(WORKER).unwrap();
    for size in [1, 2, 3, 7, 64, 1000] {
        let mut p = PageParser::default();
        for chunk in WORKER.as_bytes().chunks(size) {
            p.feed(chunk);
        }
        assert_eq!(p.finish().unwrap(), whole, "chunks of {size}");
    }
    // CRLF line ends, no final newline, odd spacing, escapes, a trailing comma, a timestamp.
    let page = "dynamo_component_requests_total { dynamo_namespace = \"a\\\"b\" , dynamo_component=\"c\\\\d\",worker_id=\"1\", } 7 1700000000000\r\n\
                dynamo_component_inflight_requests{dynamo_namespace=\"a\\\"b\",dynamo_component=\"c\\\\d\",worker_id=\"1\"}\t3";
    let p = parse(page).unwrap();
    let w = &p.workers[&key("a\"b", "c\\d", "1")];
    assert_eq!((w.requests.get(), w.inflight.get()), (Some(7.0), Some(3.0)));
}

#[test]
fn buckets_without_type_lines_and_new_kv_name() {
    let page = "x_requests_total 1\n\
        dynamo_component_request_duration_seconds_bucket{dynamo_namespace=\"n\",dynamo_component=\"c\",worker_id=\"1\",le=\"+Inf\"} 3\n\
        dynamo_component_request_duration_seconds_bucket{dynamo_namespace=\"n\",dynamo_component=\"c\",worker_id=\"1\",le=\"1\"} 2\n\
        dynamo_component_request_duration_seconds_bucket{dynamo_namespace=\"n\",dynamo_component=\"c\",worker_id=\"1\",dynamo_endpoint=\"x\",le=\"1.0\"} 1\n\
        dynamo_component_gpu_cache_usage_percent{dynamo_namespace=\"n\",dynamo_component=\"c\",worker_id=\"1\"} 0.5\n";
    let p = parse(page).unwrap();
    let w = p.workers.values().next().unwrap();
    assert_eq!(w.kv_usage, Reading::Value(0.5));
    // Sorted, equal bounds of two endpoints added up.
    assert_eq!(
        w.duration,
        Reading::Value(vec![(1.0, 3.0), (f64::INFINITY, 3.0)])
    );
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
    assert_eq!(fe.requests, Reading::Value(12.0));
    assert_eq!(fe.errors, Reading::Value(2.0));
    assert_eq!(fe.inflight, Reading::Value(3.0));
    assert_eq!(fe.queued, Reading::Value(1.0));
    assert_eq!(fe.ttft.value().unwrap().len(), 2);
    assert!(fe.itl.is_absent());
}

/// Out-of-range values of every kind are malformed: left out, counted, described
/// briefly (never as a 300-digit number); the worker's other values stay.
#[test]
fn implausible_values_are_malformed_and_counted() {
    let l = |name: &str, v: &str| {
        format!("{name}{{dynamo_namespace=\"n\",dynamo_component=\"c\",worker_id=\"w\"}} {v}\n")
    };
    let ok_requests = l(REQUESTS, "5");
    for (name, v, field) in [
        (KV_USAGE[1], "1e300", "kv"),
        (KV_USAGE[0], "1.5", "kv"),
        (KV_USAGE[1], "-0.1", "kv"),
        (KV_USAGE[1], "NaN", "kv"),
        (INFLIGHT, "-5e300", "inflight"),
        (INFLIGHT, "-1", "inflight"),
        (INFLIGHT, "+Inf", "inflight"),
        (INFLIGHT, "1e17", "inflight"),
        (ERRORS, "-3", "errors"),
        (ERRORS, "1e300", "errors"),
    ] {
        let page = format!("{ok_requests}{}{}", l(name, "0"), l(name, v));
        let p = parse(&page).unwrap();
        let w = &p.workers[&key("n", "c", "w")];
        let r = match field {
            "kv" => &w.kv_usage,
            "inflight" => &w.inflight,
            _ => &w.errors,
        };
        assert!(r.is_malformed(), "{name} {v}: {r:?}");
        assert_eq!(w.requests, Reading::Value(5.0), "{name} {v}");
        assert_eq!(p.malformed.count, 1, "{name} {v}");
        let first = p.malformed.first.clone().unwrap();
        assert!(first.contains(name) && first.len() < 300, "{first}");
    }
    // The frontend's queue.
    let p = parse("dynamo_frontend_queued_requests -1e308\ndynamo_frontend_inflight_requests 2\n")
        .unwrap();
    let fe = p.frontend.unwrap();
    assert!(fe.queued.is_malformed());
    assert_eq!(fe.inflight, Reading::Value(2.0));
    assert!(p.malformed.first.unwrap().contains("-1e308"));
    // A bucket with a negative count or an unreadable bound: the histogram is malformed.
    for b in [
        r#"le="0.1"} -4"#,
        r#"le="x"} 4"#,
        r#"le="NaN"} 4"#,
        r#"le="1"} 1e300"#,
    ] {
        let page = format!(
            "{DURATION}_bucket{{dynamo_namespace=\"n\",dynamo_component=\"c\",le=\"+Inf\"}} 4\n\
             {DURATION}_bucket{{dynamo_namespace=\"n\",dynamo_component=\"c\",{b}\n"
        );
        let p = parse(&page).unwrap();
        assert!(p.workers[&key("n", "c", "")].duration.is_malformed(), "{b}");
        assert_eq!(p.malformed.count, 1);
    }
    // A sum of plausible counts past 2^53 is no count either.
    let big = l(REQUESTS, "9007199254740992");
    let p = parse(&format!("{big}{big}")).unwrap();
    assert!(p.workers[&key("n", "c", "w")].requests.is_malformed());
}

/// 250k distinct bucket bounds (26 MB, under the body cap): read in linear time, and
/// malformed (more than MAX_BUCKETS); quadratic merging took minutes here.
#[test]
fn a_histogram_of_250k_buckets_is_linear_and_malformed() {
    let p = within(120, || {
        let mut page = String::with_capacity(30 << 20);
        for i in 0..250_000u32 {
            page.push_str(&format!(
                "{DURATION}_bucket{{dynamo_namespace=\"n\",dynamo_component=\"c\",worker_id=\"w\",le=\"{}\"}} {i}\n",
                f64::from(i) * 1e-6
            ));
        }
        page.push_str(&format!(
            "{DURATION}_bucket{{dynamo_namespace=\"n\",dynamo_component=\"c\",worker_id=\"w\",le=\"+Inf\"}} 250000\n"
        ));
        parse(&page).unwrap()
    });
    let w = &p.workers[&key("n", "c", "w")];
    assert!(w.duration.is_malformed());
    assert!(p.malformed.first.unwrap().contains("250001 bucket bounds"));
}

#[test]
fn workers_beyond_the_cap_are_skipped_and_counted() {
    let p = within(120, || {
        let mut page = String::new();
        for i in 0..MAX_WORKERS + 7 {
            page.push_str(&format!(
                "{REQUESTS}{{dynamo_namespace=\"n\",dynamo_component=\"c\",worker_id=\"{i:x}\"}} 1\n"
            ));
        }
        // Known workers still take series past the cap.
        page.push_str(&format!(
            "{INFLIGHT}{{dynamo_namespace=\"n\",dynamo_component=\"c\",worker_id=\"0\"}} 4\n"
        ));
        parse(&page).unwrap()
    });
    assert_eq!(p.workers.len(), MAX_WORKERS);
    assert_eq!(p.skipped, 7);
    assert_eq!(p.workers[&key("n", "c", "0")].inflight, Reading::Value(4.0));
}

#[test]
fn garbage_is_an_error_and_never_a_panic() {
    assert!(parse("<html><body>hello</body></html>\n").is_err());
    assert!(parse("hello world\nfoo bar baz\n").is_err());
    assert_eq!(parse("").unwrap(), Parsed::default());
    assert_eq!(parse("# just a comment\n").unwrap(), Parsed::default());
    // A line longer than MAX_LINE is skipped without being kept, the next one read.
    let mut p = PageParser::default();
    p.feed(b"dynamo_component_requests_total{dynamo_namespace=\"");
    for _ in 0..100 {
        p.feed(&[b'x'; 4096]);
    }
    p.feed(b"\"} 1\ndynamo_frontend_inflight_requests 3\n");
    let p = p.finish().unwrap();
    assert!(p.workers.is_empty());
    assert_eq!(p.frontend.unwrap().inflight, Reading::Value(3.0));
    for hostile in [
        "dynamo_component_requests_total{dynamo_namespace=\"a,b=c\",dynamo_component=\"x\"} NaN\n",
        "dynamo_component_requests_total{dynamo_namespace=\"\u{1b}[2J\",dynamo_component=\"x\"} 1e400\n",
        "dynamo_component_request_duration_seconds_bucket{le=\"x\"} 1\n",
        "dynamo_component_request_duration_seconds_bucket{dynamo_namespace=\"n\",dynamo_component=\"c\",le=\"NaN\"} 1\n",
        "{}{}{}{ 1 2 3\n\u{0}\u{ffff}",
        "dynamo_x{a=\"\\",
        "dynamo_x{a=\"b\"",
        "dynamo_x{=\"b\"} 1",
        "dynamo_x 1 2 3 4",
        "# TYPE dynamo_component_request_duration_seconds histogram\ndynamo_component_request_duration_seconds_bucket{le=\"+Inf\"} -5\n",
    ] {
        let _ = parse(hostile);
    }
}
