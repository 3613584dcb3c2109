//! Metrics measurements against the real deployment of the tests (two Dynamo 1.6.1 workers
//! under a 20 requests/s client, a Prometheus scraping them every second):
//! - the CPU time (user + system, this process only: getrusage) and wall time of one poll
//!   round over 3 sources (Prometheus, 14 queries, + 2 direct scrapes with their /health),
//!   averaged over 100 rounds;
//! - the time from Prometheus' raw answers (already received) to the parsed `Metrics`.
//!
//! `cargo bench --bench metrics` (Prometheus from the Debian package prometheus,
//! ai-dynamo-runtime 1.6.1 in .venv).

#[path = "../tests/metrics_support/mod.rs"]
#[allow(unused_imports)]
mod metrics_support;

use std::time::{Duration, Instant};

use dynamo_ctl::metrics::{self, Collector, Config};

fn cpu_seconds() -> f64 {
    let mut u = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    let u = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, u.as_mut_ptr());
        u.assume_init()
    };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn main() {
    // `cargo bench` passes --bench; `cargo test --all-targets` runs this binary without it:
    // a measurement is no test, so it only says how to run it then.
    if !std::env::args().any(|a| a == "--bench") {
        println!("benches/metrics.rs measures; run it with `cargo bench --bench metrics`");
        return;
    }
    let f = metrics_support::fixture();
    // A full rate window of traffic in Prometheus first.
    std::thread::sleep(Duration::from_secs(12));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let cfg = Config::from_args(Some(f.prometheus.clone()), f.worker_urls(), None).unwrap();
    let mut c = Collector::new(cfg.clone());
    let warm = rt.block_on(c.poll(Some(metrics_support::NS)));
    assert!(warm.sources.iter().all(|s| s.ok()), "{:?}", warm.sources);
    const ROUNDS: usize = 100;
    let (cpu0, t0) = (cpu_seconds(), Instant::now());
    for _ in 0..ROUNDS {
        let m = rt.block_on(c.poll(Some(metrics_support::NS)));
        assert_eq!(m.instances.len(), 2);
    }
    let (cpu, wall) = (cpu_seconds() - cpu0, t0.elapsed().as_secs_f64());
    println!(
        "poll round over 3 sources (Prometheus: 14 queries; 2 scrapes + /health): {:.2} ms CPU, {:.2} ms wall (mean of {ROUNDS})",
        cpu * 1e3 / ROUNDS as f64,
        wall * 1e3 / ROUNDS as f64
    );

    let answers = rt.block_on(metrics::bench_fetch_answers(
        &cfg,
        Some(metrics_support::NS),
    ));
    let bytes: usize = answers.iter().flatten().map(|b| b.len()).sum();
    const N: usize = 2000;
    let t = Instant::now();
    for _ in 0..N {
        let m = metrics::bench_parse_answers(&cfg, &answers).unwrap();
        assert_eq!(m.instances.len(), 2);
    }
    println!(
        "Prometheus answers ({} answers, {bytes} bytes) to Metrics: {:.1} µs (mean of {N})",
        answers.len(),
        t.elapsed().as_secs_f64() * 1e6 / N as f64
    );
}
