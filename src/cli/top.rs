//! `dynamo-ctl top [NS]`: load per component and instance, the frontend, the prefill queue,
//! from the metrics sources (`src/metrics/`).

use std::io::Write;
use std::time::Duration;

use super::{Paint, error_out, table};
use crate::args::{Global, Output};
use crate::metrics::{Collector, Config, Metrics, Report, SourceQuality};
use crate::text::safe;

const NO_SOURCE: &str = "no metrics source: give --prometheus URL (or set DYNAMO_CTL_PROMETHEUS) for a Prometheus server, or --metrics URL (repeatable) to scrape a worker's system status server (DYN_SYSTEM_PORT) or a frontend's /metrics directly; --nats URL (or NATS_SERVER) adds the prefill queue depth";

/// Runs `top`; returns the exit code (1 when no source answered in the last round).
pub(super) fn top(g: &Global, ns: Option<&str>, window: f64, watch: bool, paint: &Paint) -> i32 {
    let mut cfg = match Config::from_global(g) {
        Ok(c) => c,
        Err(e) => return error_out(&e.to_string(), 2),
    };
    if cfg.is_empty() {
        return error_out(NO_SOURCE, 2);
    }
    let window = Duration::from_secs_f64(window);
    cfg.window = window;
    let scraping = !cfg.scrape.is_empty();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return error_out(&format!("cannot start the runtime: {e}"), 1),
    };
    rt.block_on(async move {
        let mut c = Collector::new(cfg);
        if scraping {
            // Rates need two scrapes, `window` apart.
            if g.output != Output::Json {
                eprintln!(
                    "dynamo-ctl: measuring over {:.1} s (--window)…",
                    window.as_secs_f64()
                );
            }
            // The second scrape starts `window` after the first started (not after it was
            // read and parsed): the two answers are about `window` apart, and a big page is
            // not waited for twice on top of the window.
            let first = tokio::time::Instant::now();
            let _ = c.poll(ns).await;
            tokio::select! {
                _ = tokio::time::sleep_until(first + window) => {}
                _ = tokio::signal::ctrl_c() => return 130,
            }
        }
        loop {
            let (m, quality) = c.poll_report(ns).await;
            let code = i32::from(!m.answered());
            if !m.answered() {
                eprintln!("dynamo-ctl: error: no metrics source answered");
            }
            let written = if g.output == Output::Json {
                // Streamed to stdout: no second copy of a large round in memory.
                write_json(
                    &Report {
                        metrics: &m,
                        quality: &quality,
                    },
                    watch,
                )
            } else {
                write_out(&render(&m, &quality, paint, watch))
            };
            match written {
                Ok(true) => {}
                Ok(false) => return code, // closed pipe
                Err(e) => return error_out(&format!("cannot write to stdout: {e}"), 1),
            }
            if !watch {
                return code;
            }
            tokio::select! {
                _ = tokio::time::sleep(window) => {}
                _ = tokio::signal::ctrl_c() => return 0,
            }
        }
    })
}

/// One round as JSON on stdout (one line per round with `--watch`, else pretty).
fn write_json(r: &Report, watch: bool) -> std::io::Result<bool> {
    let mut o = std::io::BufWriter::with_capacity(64 << 10, std::io::stdout().lock());
    let res = if watch {
        serde_json::to_writer(&mut o, r)
    } else {
        serde_json::to_writer_pretty(&mut o, r)
    }
    .map_err(std::io::Error::from)
    .and_then(|()| o.write_all(b"\n"))
    .and_then(|()| o.flush());
    match res {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e),
    }
}

/// Writes to stdout; `Ok(false)` when the reader went away (`| head`).
fn write_out(text: &str) -> std::io::Result<bool> {
    let mut o = std::io::stdout().lock();
    match o.write_all(text.as_bytes()).and_then(|()| o.flush()) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e),
    }
}

/// A number in a few columns whatever its size (values are checked by the metrics module;
/// sums of many may still be large).
fn num(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(x) if !x.is_finite() || x.abs() >= 1e9 => format!("{x:.2e}"),
        Some(x) if x.fract() == 0.0 => format!("{x:.0}"),
        Some(x) if x.abs() >= 100.0 => format!("{x:.0}"),
        Some(x) if x.abs() >= 10.0 => format!("{x:.1}"),
        Some(x) => format!("{x:.2}"),
    }
}

fn secs(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(x) if !x.is_finite() || x.abs() >= 1e6 => format!("{x:.2e}s"),
        Some(x) if x < 1.0 => format!("{:.1}ms", x * 1000.0),
        Some(x) => format!("{x:.2}s"),
    }
}

fn pct(v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(x) if (0.0..=1.0).contains(&x) => format!("{:.0}%", x * 100.0),
        Some(_) => "bad".into(),
    }
}

/// The text table of one round; a value a source gave that is not plausible reads `bad`.
pub(super) fn render(m: &Metrics, quality: &[SourceQuality], paint: &Paint, watch: bool) -> String {
    let mut t = String::new();
    if watch {
        t.push_str(&paint.bold(&format!(
            "── {} ──\n",
            chrono::DateTime::<chrono::Local>::from(m.taken_at).format("%H:%M:%S")
        )));
    }
    if m.components.is_empty() && m.instances.is_empty() {
        t.push_str("no Dynamo component series\n");
    } else {
        let rows: Vec<Vec<String>> = m
            .components
            .iter()
            .map(|c| {
                vec![
                    paint.cyan(&safe(&c.namespace)),
                    safe(&c.component).into_owned(),
                    c.instances.to_string(),
                    num(c.requests_per_s),
                    num(c.inflight),
                    secs(c.p50_seconds),
                    secs(c.p95_seconds),
                    num(c.errors_per_s),
                    pct(c.kv_cache_usage),
                ]
            })
            .collect();
        t.push_str(&table(
            &[
                "NAMESPACE",
                "COMPONENT",
                "INSTANCES",
                "REQ/S",
                "INFLIGHT",
                "P50",
                "P95",
                "ERR/S",
                "KV",
            ],
            &rows,
            paint,
        ));
        t.push('\n');
        let rows: Vec<Vec<String>> = m
            .instances
            .iter()
            .map(|i| {
                let bad = |field: &str, shown: String| {
                    if i.malformed.contains(&field) {
                        paint.red("bad")
                    } else {
                        shown
                    }
                };
                vec![
                    paint.cyan(&safe(&i.namespace)),
                    safe(&i.component).into_owned(),
                    safe(&i.instance_id_hex).into_owned(),
                    bad("requests_per_s", num(i.requests_per_s)),
                    bad("inflight", num(i.inflight)),
                    bad("p50_seconds", secs(i.p50_seconds)),
                    bad("p95_seconds", secs(i.p95_seconds)),
                    bad("errors_per_s", num(i.errors_per_s)),
                    bad("kv_cache_usage", pct(i.kv_cache_usage)),
                    match i.health.as_deref() {
                        None => "-".into(),
                        Some("ready") => paint.green("ready"),
                        Some(h) => paint.red(&safe(h)),
                    },
                    if i.stale {
                        paint.red("stale")
                    } else {
                        paint.green("live")
                    },
                ]
            })
            .collect();
        t.push_str(&table(
            &[
                "NAMESPACE",
                "COMPONENT",
                "INSTANCE",
                "REQ/S",
                "INFLIGHT",
                "P50",
                "P95",
                "ERR/S",
                "KV",
                "HEALTH",
                "STATE",
            ],
            &rows,
            paint,
        ));
    }
    t.push('\n');
    match &m.frontend {
        Some(f) => {
            let bad = |field: &str, shown: String| {
                if f.malformed.contains(&field) {
                    paint.red("bad")
                } else {
                    shown
                }
            };
            t.push_str(&format!(
                "frontend: {} req/s, {} in flight, {} queued, errors {}/s; TTFT p50 {} p95 {}; ITL p50 {} p95 {}; duration p50 {} p95 {}\n",
                bad("requests_per_s", num(f.requests_per_s)),
                bad("inflight", num(f.inflight)),
                bad("queued", num(f.queued)),
                bad("errors_per_s", num(f.errors_per_s)),
                bad("ttft_p50_seconds", secs(f.ttft_p50_seconds)),
                bad("ttft_p95_seconds", secs(f.ttft_p95_seconds)),
                bad("itl_p50_seconds", secs(f.itl_p50_seconds)),
                bad("itl_p95_seconds", secs(f.itl_p95_seconds)),
                bad("p50_seconds", secs(f.p50_seconds)),
                bad("p95_seconds", secs(f.p95_seconds)),
            ))
        }
        None => t.push_str("frontend: -\n"),
    }
    match &m.prefill_queue {
        Some(q) => t.push_str(&format!(
            "prefill queue: {} pending ({})\n",
            q.depth,
            safe(&q.stream)
        )),
        None if !m.prefill_queues.is_empty() => t.push_str(&format!(
            "prefill queues: {}\n",
            m.prefill_queues
                .iter()
                .map(|q| format!("{} {} pending", safe(&q.stream), q.depth))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        None => t.push_str("prefill queue: -\n"),
    }
    t.push_str(&sources_text(m, quality, paint));
    t
}

/// "sources: prometheus http://… ok; scrape http://…/metrics ok (health ready: generate=ready)",
/// each with what was left out of its answer.
fn sources_text(m: &Metrics, quality: &[SourceQuality], paint: &Paint) -> String {
    let parts: Vec<String> = m
        .sources
        .iter()
        .enumerate()
        .map(|(n, s)| {
            let mut p = format!("{} {} ", s.kind.as_str(), safe(&s.location));
            if s.ok() {
                p.push_str(&paint.green("ok"));
            } else {
                p.push_str(&paint.red(&format!("error: {}", s.error.as_deref().unwrap_or("?"))));
            }
            if let Some(h) = &s.health {
                let eps: Vec<String> = s
                    .health_endpoints
                    .iter()
                    .flatten()
                    .map(|(k, v)| format!("{}={}", safe(k), safe(v)))
                    .collect();
                p.push_str(&format!(" (health {}", safe(h)));
                if !eps.is_empty() {
                    p.push_str(&format!(": {}", eps.join(" ")));
                }
                p.push(')');
            }
            if let Some(q) = quality.get(n) {
                if q.malformed > 0 {
                    let what = if s.kind == crate::metrics::SourceKind::Nats {
                        "streams"
                    } else {
                        "values"
                    };
                    let example = q
                        .malformed_example
                        .as_deref()
                        .map(|e| format!(", first: {}", safe(e)))
                        .unwrap_or_default();
                    p.push_str(&paint.red(&format!(
                        " ({} malformed {what} left out{example})",
                        q.malformed
                    )));
                }
                if q.skipped > 0 {
                    p.push_str(&paint.red(&format!(
                        " ({} series skipped: more than {} workers)",
                        q.skipped,
                        crate::metrics::MAX_WORKERS
                    )));
                }
            }
            p
        })
        .collect();
    let window = m
        .window_seconds
        .map(|w| format!(" (rates over {w:.1} s)"))
        .unwrap_or_default();
    format!("sources{window}: {}\n", parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(num(None), "-");
        assert_eq!(num(Some(3.0)), "3");
        assert_eq!(num(Some(9.876)), "9.88");
        assert_eq!(num(Some(12.34)), "12.3");
        assert_eq!(secs(Some(0.0123)), "12.3ms");
        assert_eq!(secs(Some(2.5)), "2.50s");
        assert_eq!(pct(Some(0.25)), "25%");
    }
}
