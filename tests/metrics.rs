//! Metrics against real servers: real Dynamo 1.x workers (ai-dynamo-runtime 1.6.1) with
//! their system status servers, a real Dynamo client sending a known request rate, and a
//! real Prometheus (Debian `prometheus`) scraping them every second; plus sources that
//! hang, answer garbage or 500. One deployment is shared by the whole binary
//! (`metrics_support::fixture`).

mod metrics_support;
mod tmux_support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use dynamo_ctl::metrics::{Collector, Config, Metrics, SourceKind, Status};
use metrics_support::*;
use serde_json::Value;

/// Tolerance on rates: ±30 %.
const TOL: f64 = 0.3;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn near(v: Option<f64>, want: f64) -> bool {
    v.is_some_and(|v| (v - want).abs() <= want * TOL)
}

/// Polls until `cond` holds (every 500 ms); panics with the last round after `secs`.
fn poll_until(
    rt: &tokio::runtime::Runtime,
    c: &mut Collector,
    ns: Option<&str>,
    secs: u64,
    what: &str,
    cond: impl Fn(&Metrics) -> bool,
) -> Metrics {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let m = rt.block_on(c.poll(ns));
        if cond(&m) {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; last round: {m:#?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Until Prometheus holds a full 10 s window of the client's traffic.
fn warm(f: &Fixture) {
    let ready = f.started + Duration::from_secs(12);
    if let Some(d) = ready.checked_duration_since(Instant::now()) {
        std::thread::sleep(d);
    }
}

#[test]
fn prometheus_numbers_match_the_sent_rate() {
    let f = fixture();
    warm(f);
    let rt = rt();
    let cfg = Config::from_args(Some(f.prometheus.clone()), vec![], None).unwrap();
    let mut c = Collector::new(cfg);
    let (id1, id2) = (&f.workers[0].0, &f.workers[1].0);
    let per = RATE / 2.0;
    let m = poll_until(&rt, &mut c, Some(NS), 20, "rates near the sent rate", |m| {
        m.instance(NS, "backend", id1)
            .is_some_and(|i| near(i.requests_per_s, per))
            && m.instance(NS, "backend", id2)
                .is_some_and(|i| near(i.requests_per_s, per))
            && m.component(NS, "backend").is_some_and(|c| {
                near(c.requests_per_s, RATE) && c.inflight.is_some_and(|x| x >= 1.0)
            })
    });
    assert_eq!(m.sources.len(), 1);
    assert_eq!(m.sources[0].kind, SourceKind::Prometheus);
    assert_eq!(m.sources[0].status, Status::Ok);
    assert_eq!(m.window_seconds, Some(10.0));
    let comp = m.component(NS, "backend").unwrap();
    assert_eq!(comp.instances, 2);
    // Each request takes 0.3 s: the (0.25, 0.5] bucket.
    for q in [comp.p50_seconds, comp.p95_seconds] {
        assert!(q.is_some_and(|q| (0.25..=0.5).contains(&q)), "{comp:?}");
    }
    // KV use: 0.25 under the older name, 0.5 under the newer one; the component's mean.
    assert_eq!(
        m.instance(NS, "backend", id1).unwrap().kv_cache_usage,
        Some(0.25)
    );
    assert_eq!(
        m.instance(NS, "backend", id2).unwrap().kv_cache_usage,
        Some(0.5)
    );
    assert_eq!(comp.kv_cache_usage, Some(0.375));
    // 1.6.1 has no error series until an error type occurs: null, not 0.
    assert_eq!(comp.errors_per_s, None);
    for i in m.instances.iter().filter(|i| i.namespace == NS) {
        assert!(!i.stale && i.health.is_none(), "{i:?}");
        assert_eq!(
            i.instance_id().map(|x| format!("{x:x}")).as_deref(),
            Some(i.instance_id_hex.as_str())
        );
    }
    assert!(m.frontend.is_none() && m.prefill_queue.is_none());
    // History: the last minute of the component's rate.
    let h = rt.block_on(c.history(NS, "backend", 1)).expect("history");
    assert!(h.len() >= 5, "{h:?}");
    assert!(near(h.last().map(|p| p.1), RATE), "{h:?}");
    assert!(h.windows(2).all(|w| w[0].0 < w[1].0));
    // Another namespace: nothing.
    let other = rt.block_on(c.poll(Some("no-such-ns")));
    assert!(other.instances.is_empty() && other.components.is_empty());
    assert!(other.sources[0].ok());
}

#[test]
fn direct_scrape_numbers_match_the_sent_rate() {
    let f = fixture();
    let rt = rt();
    let cfg = Config::from_args(None, f.worker_urls(), None).unwrap();
    assert_eq!(
        cfg.scrape[0].to_string(),
        format!("{}/metrics", f.worker_urls()[0])
    );
    let mut c = Collector::new(cfg);
    let (id1, id2) = (&f.workers[0].0, &f.workers[1].0);
    // First scrape: gauges and health, no rate yet.
    let m0 = rt.block_on(c.poll(Some(NS)));
    assert!(m0.sources.iter().all(|s| s.ok()), "{:?}", m0.sources);
    assert_eq!(m0.window_seconds, None);
    assert_eq!(m0.instances.len(), 2);
    assert!(
        m0.instances
            .iter()
            .all(|i| i.requests_per_s.is_none() && i.inflight.is_some())
    );
    let i1 = m0.instance(NS, "backend", id1).unwrap();
    let i2 = m0.instance(NS, "backend", id2).unwrap();
    assert_eq!(i1.health.as_deref(), Some("ready"));
    assert_eq!(i2.health.as_deref(), Some("notready"));
    assert_eq!(m0.sources[0].health.as_deref(), Some("ready"));
    assert_eq!(
        m0.sources[0]
            .health_endpoints
            .as_ref()
            .unwrap()
            .get("generate")
            .map(String::as_str),
        Some("ready")
    );
    // Over a window: rates from the two scrapes.
    let mut inflight_seen = 0.0f64;
    let mut last = None;
    for _ in 0..3 {
        std::thread::sleep(Duration::from_secs(3));
        let m = rt.block_on(c.poll(Some(NS)));
        let w = m.window_seconds.unwrap();
        assert!((2.9..6.0).contains(&w), "{w}");
        inflight_seen =
            inflight_seen.max(m.component(NS, "backend").unwrap().inflight.unwrap_or(0.0));
        let ok = near(
            m.instance(NS, "backend", id1).unwrap().requests_per_s,
            RATE / 2.0,
        ) && near(
            m.instance(NS, "backend", id2).unwrap().requests_per_s,
            RATE / 2.0,
        ) && near(m.component(NS, "backend").unwrap().requests_per_s, RATE);
        last = Some(m);
        if ok {
            break;
        }
    }
    let m = last.unwrap();
    let comp = m.component(NS, "backend").unwrap();
    assert!(near(comp.requests_per_s, RATE), "{m:#?}");
    for id in [id1, id2] {
        assert!(
            near(
                m.instance(NS, "backend", id).unwrap().requests_per_s,
                RATE / 2.0
            ),
            "{m:#?}"
        );
    }
    assert!(inflight_seen >= 1.0, "{m:#?}");
    for q in [comp.p50_seconds, comp.p95_seconds] {
        assert!(q.is_some_and(|q| (0.25..=0.5).contains(&q)), "{comp:?}");
    }
    assert_eq!(comp.kv_cache_usage, Some(0.375));
    assert_eq!(comp.errors_per_s, None);
}

#[test]
fn a_stopped_worker_goes_stale_and_a_restart_is_a_reset() {
    let f = fixture();
    let rt = rt();
    let ns = "mr";
    let path = format!("{ns}.backend.generate");
    let rate = 10.0;
    let mut w = Worker::start(&path, f.spare_port, &[], &f.store, &f.logdir);
    let old = w.id_hex.clone();
    let _client = Client::start(&path, 1, rate, 60.0, 0.05, &f.store, &f.logdir);
    let mut pcfg = Config::from_args(Some(f.prometheus.clone()), vec![], None).unwrap();
    pcfg.window = Duration::from_secs(4);
    let mut p = Collector::new(pcfg);
    let url = format!("http://127.0.0.1:{}", f.spare_port);
    let mut s = Collector::new(Config::from_args(None, vec![url], None).unwrap());
    let _ = rt.block_on(s.poll(Some(ns)));
    poll_until(
        &rt,
        &mut p,
        Some(ns),
        30,
        "the worker's rate in Prometheus",
        |m| {
            m.instance(ns, "backend", &old)
                .is_some_and(|i| !i.stale && near(i.requests_per_s, rate))
        },
    );
    let m = rt.block_on(s.poll(Some(ns)));
    assert!(
        near(
            m.instance(ns, "backend", &old).unwrap().requests_per_s,
            rate
        ),
        "{m:#?}"
    );

    // Stopped: stale in Prometheus (no sample now, one recently), not counted.
    w.stop();
    let m = poll_until(&rt, &mut p, Some(ns), 20, "the stopped worker stale", |m| {
        m.instance(ns, "backend", &old).is_some_and(|i| i.stale)
    });
    let i = m.instance(ns, "backend", &old).unwrap();
    assert!(i.requests_per_s.is_none() && i.inflight.is_none(), "{i:?}");
    assert!(
        m.component(ns, "backend").is_none_or(|c| c.instances == 0),
        "{m:#?}"
    );
    // Scraped directly: the source fails and says why; the instance is listed stale.
    let m = rt.block_on(s.poll(Some(ns)));
    assert_eq!(m.sources[0].status, Status::Error);
    assert!(
        m.sources[0].error.as_deref().unwrap().contains("connect"),
        "{:?}",
        m.sources
    );
    assert!(m.instance(ns, "backend", &old).unwrap().stale);

    // Restarted on the same port (a new instance id, counters from zero): no negative
    // or huge rate, then the sent rate again.
    let w2 = Worker::start(&path, f.spare_port, &[], &f.store, &f.logdir);
    let new = w2.id_hex.clone();
    assert_ne!(new, old);
    // Its series appear once the client has found it and sent it requests: the first
    // rate computed for it is whatever it is, but never negative or huge.
    let deadline = Instant::now() + Duration::from_secs(20);
    let (m, r) = loop {
        let m = rt.block_on(s.poll(Some(ns)));
        assert!(m.sources[0].ok(), "{:?}", m.sources);
        assert!(m.instance(ns, "backend", &old).is_none());
        if let Some(r) = m
            .instance(ns, "backend", &new)
            .and_then(|i| i.requests_per_s)
        {
            break (m, r);
        }
        assert!(
            Instant::now() < deadline,
            "no rate for the new worker: {m:#?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!((0.0..=rate * (1.0 + TOL)).contains(&r), "{m:#?}");
    std::thread::sleep(Duration::from_secs(3));
    let m = rt.block_on(s.poll(Some(ns)));
    assert!(
        near(
            m.instance(ns, "backend", &new).unwrap().requests_per_s,
            rate
        ),
        "{m:#?}"
    );
    poll_until(
        &rt,
        &mut p,
        Some(ns),
        30,
        "the new worker live, the old one stale",
        |m| {
            m.instance(ns, "backend", &new)
                .is_some_and(|i| !i.stale && i.requests_per_s.is_some())
                && m.instance(ns, "backend", &old).is_some_and(|i| i.stale)
                && m.component(ns, "backend").is_some_and(|c| c.instances == 1)
        },
    );
}

/// A loopback server answering every connection with `answer` (or never, for `None`),
/// until dropped.
struct Bad {
    port: u16,
    stop: Arc<AtomicBool>,
}

impl Bad {
    fn start(answer: Option<Vec<u8>>, dribble: bool) -> Bad {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let port = l.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            while !stop2.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((mut s, _)) => {
                        let _ = s.set_nonblocking(false);
                        let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
                        let mut buf = [0u8; 4096];
                        let _ = s.read(&mut buf);
                        match &answer {
                            Some(a) if dribble => {
                                let _ = s.write_all(a);
                                held.push(s);
                            }
                            Some(a) => {
                                let _ = s.write_all(a);
                            }
                            None => held.push(s),
                        }
                    }
                    Err(_) => {
                        // Dribblers send one byte every 100 ms, never finishing.
                        for s in held.iter_mut() {
                            if dribble {
                                let _ = s.write_all(b"x");
                            }
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
        });
        Bad { port, stop }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Bad {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn http(status: &str, body: &[u8]) -> Vec<u8> {
    let mut v = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    v.extend_from_slice(body);
    v
}

#[test]
fn hanging_garbage_and_failing_sources_are_reported_promptly() {
    let f = fixture();
    let rt = rt();
    let hang = Bad::start(None, false);
    let garbage = Bad::start(
        Some(http(
            "200 OK",
            b"\x1b]2;PWNED\x07<html>\x00\xff not metrics\nhello world\n",
        )),
        false,
    );
    let err500 = Bad::start(
        Some(http("500 Internal Server Error", b"boom \x1b[2J")),
        false,
    );
    let dribble = Bad::start(
        Some(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n".to_vec()),
        true,
    );
    let refused = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let good = f.worker_urls()[0].clone();
    let urls = vec![
        hang.url(),
        garbage.url(),
        err500.url(),
        dribble.url(),
        format!("http://127.0.0.1:{refused}"),
        good.clone(),
    ];
    // Prometheus that answers garbage.
    let mut cfg = Config::from_args(Some(garbage.url()), urls, None).unwrap();
    cfg.timeout = Duration::from_secs(1);
    let mut c = Collector::new(cfg);
    for round in 0..2 {
        let t = Instant::now();
        let m = rt.block_on(c.poll(Some(NS)));
        let took = t.elapsed();
        assert!(took < Duration::from_secs(3), "round {round} took {took:?}");
        let by = |u: &str| {
            m.sources
                .iter()
                .find(|s| s.location.starts_with(u) && s.kind == SourceKind::Scrape)
                .unwrap()
        };
        let err = |u: &str| by(u).error.clone().unwrap_or_default();
        assert_eq!(m.sources[0].kind, SourceKind::Prometheus);
        assert!(
            m.sources[0]
                .error
                .as_deref()
                .unwrap_or("")
                .contains("not a Prometheus API answer"),
            "{:?}",
            m.sources[0]
        );
        assert!(
            err(&hang.url()).contains("no answer within 1.0 s"),
            "{:?}",
            by(&hang.url())
        );
        assert!(
            err(&dribble.url()).contains("no answer within 1.0 s"),
            "{:?}",
            by(&dribble.url())
        );
        assert!(
            err(&garbage.url()).contains("not the Prometheus text format"),
            "{:?}",
            by(&garbage.url())
        );
        assert!(
            err(&err500.url()).starts_with("HTTP 500: boom"),
            "{:?}",
            by(&err500.url())
        );
        assert!(err(&format!("http://127.0.0.1:{refused}")).contains("connect"));
        for s in &m.sources {
            assert!(
                !s.error
                    .as_deref()
                    .unwrap_or("")
                    .chars()
                    .any(dynamo_ctl::text::is_unsafe),
                "{s:?}"
            );
        }
        assert!(by(&good).ok(), "{:?}", by(&good));
        assert!(m.answered());
        assert!(m.instance(NS, "backend", &f.workers[0].0).is_some());
    }
}

fn json(r: &Run) -> Value {
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {} {}", r.stdout, r.stderr))
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort();
    k
}

#[test]
fn top_cli() {
    let f = fixture();
    let urls = f.worker_urls();
    // Direct scrape, JSON.
    let r = run(&[
        "top",
        NS,
        "--metrics",
        &urls[0],
        "--metrics",
        &urls[1],
        "--window",
        "2",
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = json(&r);
    assert_eq!(
        keys(&v),
        [
            "components",
            "frontend",
            "instances",
            "prefill_queue",
            "prefill_queues",
            "sources",
            "taken_at",
            "window_seconds"
        ]
    );
    assert!(v["prefill_queue"].is_null() && v["frontend"].is_null());
    let s = &v["sources"][0];
    assert_eq!(
        keys(s),
        [
            "error",
            "health",
            "health_endpoints",
            "kind",
            "location",
            "malformed",
            "malformed_example",
            "skipped",
            "status"
        ]
    );
    assert_eq!(s["kind"], "scrape");
    assert_eq!(s["status"], "ok");
    assert!(s["error"].is_null());
    assert_eq!(
        (s["malformed"].as_u64(), s["skipped"].as_u64()),
        (Some(0), Some(0))
    );
    let c = &v["components"][0];
    assert_eq!(
        keys(c),
        [
            "component",
            "errors_per_s",
            "inflight",
            "instances",
            "kv_cache_usage",
            "namespace",
            "p50_seconds",
            "p95_seconds",
            "requests_per_s"
        ]
    );
    assert_eq!(
        (
            c["namespace"].as_str(),
            c["component"].as_str(),
            c["instances"].as_u64()
        ),
        (Some(NS), Some("backend"), Some(2))
    );
    assert!(near(c["requests_per_s"].as_f64(), RATE), "{c}");
    assert!(c["errors_per_s"].is_null());
    let insts = v["instances"].as_array().unwrap();
    assert_eq!(insts.len(), 2);
    assert_eq!(
        keys(&insts[0]),
        [
            "component",
            "errors_per_s",
            "health",
            "inflight",
            "instance_id_hex",
            "kv_cache_usage",
            "malformed",
            "namespace",
            "p50_seconds",
            "p95_seconds",
            "requests_per_s",
            "source",
            "stale"
        ]
    );
    let mut ids: Vec<&str> = insts
        .iter()
        .map(|i| i["instance_id_hex"].as_str().unwrap())
        .collect();
    ids.sort();
    let mut want = vec![f.workers[0].0.as_str(), f.workers[1].0.as_str()];
    want.sort();
    assert_eq!(ids, want);

    // Prometheus from the environment variable, JSON, one instant query.
    warm(f);
    let t = Instant::now();
    let r = run_env(
        &["top", "-o", "json", "-n", NS],
        &[("DYNAMO_CTL_PROMETHEUS", &f.prometheus)],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(t.elapsed() < Duration::from_secs(5));
    let v = json(&r);
    assert_eq!(v["sources"][0]["kind"], "prometheus");
    assert_eq!(v["sources"][0]["location"], f.prometheus.as_str());
    assert_eq!(v["components"][0]["instances"], 2);
    assert!(
        near(v["components"][0]["requests_per_s"].as_f64(), RATE),
        "{v}"
    );

    // The text table; the global flag before the subcommand.
    let r = run(&["--metrics", &urls[0], "top", NS, "--window", "1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for want in [
        "NAMESPACE",
        "COMPONENT",
        "INSTANCES",
        "REQ/S",
        "INFLIGHT",
        "P95",
        "KV",
        "HEALTH",
        "backend",
        &f.workers[0].0,
        "ready",
        "live",
        "25%",
        "prefill queue: -",
        "frontend: -",
        "sources (rates over",
    ] {
        assert!(r.stdout.contains(want), "{want:?} not in:\n{}", r.stdout);
    }

    // No source: a usage error naming the flags and the variable.
    let r = run(&["top"]);
    assert_eq!(r.code, 2);
    for want in ["--prometheus", "DYNAMO_CTL_PROMETHEUS", "--metrics"] {
        assert!(r.stderr.contains(want), "{}", r.stderr);
    }
    let r = run(&["top", "-o", "json"]);
    assert_eq!(r.code, 2);
    let v = json(&r);
    assert_eq!(v["code"], 2);
    assert!(v["error"].as_str().unwrap().contains("--metrics"));
    // Not plain http: usage error.
    let r = run(&["top", "--metrics", "https://127.0.0.1:1"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("plain http"), "{}", r.stderr);
    // Every source failed: exit 1, and the JSON says why.
    let dead = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let r = run(&[
        "top",
        "--metrics",
        &format!("http://127.0.0.1:{dead}"),
        "--window",
        "0.5",
        "-o",
        "json",
    ]);
    assert_eq!(r.code, 1);
    let v = json(&r);
    assert_eq!(v["sources"][0]["status"], "error");
    assert!(
        v["sources"][0]["error"]
            .as_str()
            .unwrap()
            .contains("connect")
    );

    // --watch: one JSON document per line, until stopped.
    let mut child = std::process::Command::new(BIN)
        .args([
            "top",
            NS,
            "--metrics",
            &urls[0],
            "--window",
            "0.5",
            "--watch",
            "-o",
            "json",
        ])
        .env_remove("DYNAMO_CTL_PROMETHEUS")
        .env_remove("NATS_SERVER")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(child.stdout.take().unwrap()));
    for _ in 0..2 {
        let line = lines.next().unwrap().unwrap();
        let v: Value = serde_json::from_str(&line).unwrap();
        assert!(v["window_seconds"].as_f64().is_some_and(|w| w < 2.0), "{v}");
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The first "N/s" on a line.
fn rate_on(line: &str) -> Option<f64> {
    line.split_whitespace()
        .find_map(|w| w.strip_suffix("/s").and_then(|n| n.parse::<f64>().ok()))
}

/// The TUI as an operator sees it, against the real deployment: the dashboard of the
/// Dynamo 1.x namespace (discovery only, from the file store) shows the component's request
/// rate from Prometheus beside its instances, and the sources' health; `m` shows its
/// 15-minute history from Prometheus; `i` lists each instance with its own rate.
#[test]
fn the_tui_shows_load_beside_the_counts() {
    use tmux_support::{START, Tmux};
    let f = fixture();
    warm(f);
    let t = Tmux::start();
    t.type_line(&format!(
        "{} --file-kv '{}' --prometheus {} --refresh 1 -n {NS} --state-dir /nonexistent",
        env!("CARGO_BIN_EXE_dynamo-ctl"),
        f.store.display(),
        f.prometheus
    ));
    let s = t.wait_for(
        "the component's rate near 20/s",
        Duration::from_secs(30),
        |s| {
            s.lines().any(|l| {
                l.contains("backend") && rate_on(l).is_some_and(|r| (r - RATE).abs() <= RATE * TOL)
            })
        },
    );
    assert!(s.contains("metrics prometheus ●"), "{s}");
    assert!(s.contains("Load: req/s"), "{s}");
    t.keys(&["m"]);
    let s = t.wait_for("the history from Prometheus", START, |s| {
        s.contains("load of backend in mt") && s.contains("(Prometheus, ")
    });
    assert!(s.contains("requests/s: now "), "{s}");
    t.keys(&["Escape"]);
    t.wait_for("the dashboard", START, |s| !s.contains("load of backend"));
    t.keys(&["i"]);
    let s = t.wait_for("both instances with their rates", START, |s| {
        f.workers.iter().all(|(id, _)| {
            s.lines().any(|l| {
                l.contains(id.as_str())
                    && l.rsplit("live")
                        .next()
                        .and_then(rate_on)
                        .is_some_and(|r| (r - RATE / 2.0).abs() <= RATE / 2.0 * TOL)
            })
        })
    });
    assert!(s.contains("registered instances (2)"), "{s}");
    t.keys(&["q", "q"]);
}

/// The CLI with none of the caller's sources, ended by `timeout` after `secs` (a missing
/// fix then fails the test instead of hanging it).
fn run_bounded(secs: u32, args: &[&str]) -> Run {
    let mut cmd = std::process::Command::new("timeout");
    cmd.arg(secs.to_string()).arg(BIN).args(args);
    for v in [
        "ETCD_ENDPOINTS",
        "DYN_FILE_KV",
        "DYNAMO_CTL_PROMETHEUS",
        "NATS_SERVER",
    ] {
        cmd.env_remove(v);
    }
    let o = cmd.env("NO_COLOR", "1").output().unwrap();
    let r = Run {
        code: o.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    assert_ne!(
        r.code, 124,
        "{args:?} still running after {secs} s: {}",
        r.stderr
    );
    r
}

/// Values out of range (KV use 1e300, in flight -5e300, queued -1e308, rates below zero)
/// from a scraped page and from Prometheus are malformed: counted per source, named per
/// instance, `bad` in the table and never printed as numbers; the other values stay.
#[test]
fn out_of_range_values_are_malformed_never_numbers() {
    let l = |name: &str, v: &str| {
        format!("{name}{{dynamo_namespace=\"n\",dynamo_component=\"c\",worker_id=\"w\"}} {v}\n")
    };
    let page = [
        l("dynamo_component_requests_total", "10"),
        l("dynamo_component_kvstats_gpu_cache_usage_percent", "1e300"),
        l("dynamo_component_inflight_requests", "-5e300"),
        l("dynamo_component_errors_total", "NaN"),
        "dynamo_frontend_queued_requests -1e308\ndynamo_frontend_inflight_requests 4\n".into(),
    ]
    .concat();
    let scraped = Bad::start(Some(http("200 OK", page.as_bytes())), false);
    let series = |v: &str, le: &str| {
        format!(
            r#"{{"metric":{{"dynamo_namespace":"n","dynamo_component":"c","worker_id":"p"{le}}},"value":[1700000000,"{v}"]}}"#
        )
    };
    let answer = format!(
        r#"{{"status":"success","data":{{"resultType":"vector","result":[{},{},{}]}}}}"#,
        series("-5e300", ""),
        series("1e300", r#","le":"1e300""#),
        series("7", r#","le":"+Inf""#)
    );
    let prom = Bad::start(Some(http("200 OK", answer.as_bytes())), false);
    let args = |out: &'static str| {
        vec![
            "top".to_string(),
            "--prometheus".into(),
            prom.url(),
            "--metrics".into(),
            scraped.url(),
            "--window".into(),
            "0.5".into(),
            "-o".into(),
            out.into(),
        ]
    };
    let a = args("json");
    let r = run_bounded(60, &a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = json(&r);
    let inst = |id: &str| {
        v["instances"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["instance_id_hex"] == id)
            .unwrap_or_else(|| panic!("no {id} in {v}"))
            .clone()
    };
    let w = inst("w");
    assert_eq!(
        w["malformed"],
        serde_json::json!(["inflight", "errors_per_s", "kv_cache_usage"]),
        "{w}"
    );
    assert!(w["inflight"].is_null() && w["kv_cache_usage"].is_null());
    assert_eq!(w["requests_per_s"], 0.0, "{w}");
    let p = inst("p");
    for f in [
        "requests_per_s",
        "inflight",
        "errors_per_s",
        "kv_cache_usage",
        "p95_seconds",
    ] {
        assert!(p[f].is_null(), "{f}: {p}");
        assert!(
            p["malformed"].as_array().unwrap().contains(&f.into()),
            "{f}: {p}"
        );
    }
    // The frontend comes from Prometheus (it sums every frontend): all of it malformed.
    let fe = &v["frontend"];
    assert!(fe["queued"].is_null() && fe["inflight"].is_null(), "{fe}");
    assert!(
        fe["malformed"]
            .as_array()
            .unwrap()
            .contains(&"queued".into()),
        "{fe}"
    );
    let prom_src = &v["sources"][0];
    assert_eq!(prom_src["kind"], "prometheus");
    assert!(prom_src["malformed"].as_u64().unwrap() >= 5, "{prom_src}");
    let scrape_src = &v["sources"][1];
    // kv, inflight, errors, queued: each counted once per scrape read.
    assert_eq!(scrape_src["malformed"], 4, "{scrape_src}");
    assert!(
        scrape_src["malformed_example"]
            .as_str()
            .unwrap()
            .contains("1e300"),
        "{scrape_src}"
    );
    // The table: short lines, `bad` cells, the counts in the sources line.
    let a = args("table");
    let r = run_bounded(60, &a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(r.code, 0, "{}", r.stderr);
    let widest = r.stdout.lines().map(|l| l.chars().count()).max().unwrap();
    let row = r.stdout.lines().find(|l| l.contains(" w ")).unwrap();
    assert!(row.contains("bad"), "{}", r.stdout);
    assert!(
        r.stdout.contains("4 malformed values left out"),
        "{}",
        r.stdout
    );
    assert!(!r.stdout.contains("00000000"), "{}", r.stdout);
    let table_width = r
        .stdout
        .lines()
        .take_while(|l| !l.starts_with("sources"))
        .map(|l| l.chars().count())
        .max()
        .unwrap();
    assert!(
        table_width < 160,
        "{table_width} columns (widest line {widest}):\n{}",
        r.stdout
    );
}

/// A page of 250k histogram buckets (26 MB, under the 32 MiB cap): `top --window 1` is
/// linear (it took 49-60 s when each bucket was merged by a search), and the histogram,
/// with more bounds than any duration histogram has, is reported malformed.
#[test]
fn a_page_of_250k_buckets_is_read_in_linear_time() {
    let mut page = String::with_capacity(27 << 20);
    for i in 0..250_000u32 {
        page.push_str(&format!(
            "dynamo_component_request_duration_seconds_bucket{{dynamo_namespace=\"n\",dynamo_component=\"c\",worker_id=\"w\",le=\"{}\"}} {i}\n",
            f64::from(i) * 1e-6
        ));
    }
    page.push_str("dynamo_component_requests_total{dynamo_namespace=\"n\",dynamo_component=\"c\",worker_id=\"w\"} 5\n");
    let server = Bad::start(Some(http("200 OK", page.as_bytes())), false);
    let r = run_bounded(
        120,
        &[
            "top",
            "--metrics",
            &server.url(),
            "--window",
            "1",
            "--metrics-timeout",
            "60",
            "-o",
            "json",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = json(&r);
    assert_eq!(
        v["instances"][0]["malformed"],
        serde_json::json!(["p50_seconds", "p95_seconds"])
    );
    assert!(
        v["sources"][0]["malformed_example"]
            .as_str()
            .unwrap()
            .contains("250000 bucket bounds"),
        "{}",
        v["sources"][0]
    );
}

/// The TUI's metrics task runs on its own thread and runtime: it answers while the runtime
/// that spawned it (the one serving keys) is not running at all, so nothing it does, a
/// large page included, can hold a key up.
#[test]
fn the_tui_metrics_task_never_runs_on_the_keys_runtime() {
    use dynamo_ctl::tui::app::{Action, Effect};
    let page = "dynamo_component_requests_total{dynamo_namespace=\"n\",dynamo_component=\"c\",worker_id=\"w\"} 5\n";
    let server = Bad::start(Some(http("200 OK", page.as_bytes())), false);
    let keys = rt();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Action>();
    let cfg = Config::from_args(None, vec![server.url()], None).unwrap();
    let effects = keys.block_on(async { dynamo_ctl::tui::effects::spawn_metrics(cfg, &tx) });
    // From here on nothing drives `keys`.
    effects
        .send(Effect::MetricsPoll { ns: "n".into() })
        .unwrap();
    let (got_tx, got) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = got_tx.send(rx.blocking_recv());
    });
    let answer = got
        .recv_timeout(Duration::from_secs(60))
        .expect("the metrics task only runs when the keys' runtime does");
    match answer {
        Some(Action::MetricsSeen { ns, metrics }) => {
            assert_eq!(ns, "n");
            assert!(metrics.answered(), "{metrics:?}");
            assert!(metrics.instance("n", "c", "w").is_some());
        }
        _ => panic!("no MetricsSeen"),
    }
    drop(keys);
}

/// An all-day screen says what broke: a real worker's metrics server killed (SIGKILL) makes
/// its URL and the error appear in the header, and in the event log (`E`), within the
/// refresh period.
#[test]
fn a_killed_workers_metrics_url_and_error_reach_the_header_and_the_event_log() {
    use tmux_support::{START, Tmux};
    let store = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut w = Worker::start(
        "killed.backend.generate",
        port,
        &[],
        store.path(),
        logs.path(),
    );
    let url = w.url();
    let t = Tmux::start();
    t.type_line(&format!(
        "{} --file-kv '{}' --metrics {url} --refresh 1 -n killed --state-dir /nonexistent",
        env!("CARGO_BIN_EXE_dynamo-ctl"),
        store.path().display(),
    ));
    t.wait_for("the scrape answering", Duration::from_secs(30), |s| {
        s.contains("metrics scrape ●")
    });
    w.kill();
    let s = t.wait_for(
        "the URL and the error in the header",
        Duration::from_secs(10),
        |s| {
            s.lines()
                .any(|l| l.contains(&format!("✗ metrics scrape {url}")) && l.contains(": "))
        },
    );
    assert!(s.contains("metrics scrape ✗"), "{s}");
    t.keys(&["E"]);
    let s = t.wait_for("the event log", START, |s| s.contains("Events ("));
    assert!(
        s.lines()
            .any(|l| l.contains("✖ metrics scrape") && l.contains(&url) && l.contains("failed")),
        "{s}"
    );
    t.keys(&["Escape", "q"]);
}
