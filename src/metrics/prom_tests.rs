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
    let (m, quality) = merge(vec![build(&url, &answers)]);
    assert!(m.sources[0].ok(), "{:?}", m.sources);
    // b's NaN rate is not a count.
    assert_eq!(quality[0].malformed, 1, "{quality:?}");
    assert_eq!(
        m.instance("n", "c", "b").unwrap().malformed,
        ["requests_per_s"]
    );
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

/// Out-of-range values are left out and counted, per field; the rest of the instance
/// and the other instances stay.
#[test]
fn implausible_values_are_malformed() {
    let mut answers: Vec<Result<Bytes, String>> = ALL.iter().map(|_| ok("")).collect();
    let at = |q: Q| ALL.iter().position(|x| *x == q).unwrap();
    answers[at(Q::Live)] = ok(&format!(
        "{},{}",
        series("a", "1", ""),
        series("b", "1", "")
    ));
    answers[at(Q::Requests)] = ok(&format!(
        "{},{}",
        series("a", "-3", ""),
        series("b", "4", "")
    ));
    answers[at(Q::Inflight)] = ok(&format!(
        "{},{}",
        series("a", "-5e300", ""),
        series("b", "1", "")
    ));
    answers[at(Q::Kv)] = ok(&format!(
        "{},{}",
        series("a", "1e300", ""),
        series("b", "0.5", "")
    ));
    answers[at(Q::Buckets)] = ok(&[
        series("a", "5", r#","le":"1e300""#),
        series("a", "10", r#","le":"+Inf""#),
        series("b", "5", r#","le":"0.1""#),
        series("b", "5", r#","le":"+Inf""#),
    ]
    .join(","));
    answers[at(Q::FeQueued)] = ok(r#"{"metric":{},"value":[1,"-1e308"]}"#);
    answers[at(Q::FeInflight)] = ok(r#"{"metric":{},"value":[1,"2"]}"#);
    let url = HttpUrl::parse("http://127.0.0.1:9090").unwrap();
    let (m, quality) = merge(vec![build(&url, &answers)]);
    let a = m.instance("n", "c", "a").unwrap();
    assert_eq!(
        a.malformed,
        [
            "requests_per_s",
            "inflight",
            "kv_cache_usage",
            "p50_seconds",
            "p95_seconds"
        ]
    );
    assert_eq!(
        (
            a.requests_per_s,
            a.inflight,
            a.kv_cache_usage,
            a.p95_seconds
        ),
        (None, None, None, None)
    );
    let b = m.instance("n", "c", "b").unwrap();
    assert!(b.malformed.is_empty());
    assert_eq!((b.requests_per_s, b.kv_cache_usage), (Some(4.0), Some(0.5)));
    let c = m.component("n", "c").unwrap();
    assert_eq!(
        (c.requests_per_s, c.inflight, c.kv_cache_usage),
        (Some(4.0), Some(1.0), Some(0.5))
    );
    // Only b's buckets: 0.95 of 5 in (0, 0.1].
    assert!((c.p95_seconds.unwrap() - 0.095).abs() < 1e-9, "{c:?}");
    let fe = m.frontend.unwrap();
    assert_eq!((fe.queued, fe.inflight), (None, Some(2.0)));
    assert_eq!(fe.malformed, ["queued"]);
    // Three values of a, its histogram (a quantile of 1e300 s) and the frontend's queue.
    assert_eq!(quality[0].malformed, 5, "{quality:?}");
    assert!(
        quality[0]
            .malformed_example
            .as_deref()
            .unwrap()
            .contains("-3")
    );
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
    assert!(api_error(503, br#"{"status":"error","error":"overloaded"}"#).contains("overloaded"));
    assert_eq!(api_error(500, b""), "HTTP 500");
}
