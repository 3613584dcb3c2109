//! Load on screen: the Load column of the Components table (req/s, p95, in-flight, a
//! sparkline), the header's metrics line (sources, frontend, prefill queue), and `m`, a
//! component's load over the last 15 minutes.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use crate::metrics::{ComponentLoad, InstanceLoad, SourceKind};
use crate::text::safe;
use crate::tui::data::Data;
use crate::tui::load::{Level, count_text, level, rate_text, secs_text, sparkline, trend};
use crate::tui::theme::Theme;

/// Width of the Load column.
pub const LOAD_WIDTH: u16 = 38;
/// Width of the compact Load column (narrow terminals): req/s and the sparkline.
pub const COMPACT_WIDTH: u16 = 16;

pub fn style_of(t: &Theme, l: Level) -> Style {
    match l {
        Level::Ok => t.fg(t.green),
        Level::Warn => t.fg(t.orange),
        Level::Crit => t.error(),
    }
}

/// `12.3/s  p95 412ms  3 in  ▁▂▃▅▇` for a component (`-` when no source has numbers);
/// `compact`: `12.3/s ▁▂▃▅▇` only.
pub fn load_cell(t: &Theme, app: &Data, ns: &str, name: &str, compact: bool) -> Line<'static> {
    let Some(c) = app.load.component(ns, name) else {
        return Line::styled(if app.load.last.is_some() { "-" } else { "…" }, t.muted());
    };
    let th = &app.load.thresholds;
    let mut spans = if compact {
        vec![Span::styled(
            format!("{:>7}", rate_text(c.requests_per_s)),
            t.fg(t.text),
        )]
    } else {
        component_spans(t, c, th)
    };
    let spark = sparkline(&app.load.rates(name), 8);
    if !spark.is_empty() {
        spans.push(Span::styled(format!(" {spark}"), t.fg(t.cyan)));
    }
    Line::from(spans)
}

pub fn component_spans(
    t: &Theme,
    c: &ComponentLoad,
    th: &crate::tui::load::Thresholds,
) -> Vec<Span<'static>> {
    let mut spans = vec![
        Span::styled(format!("{:>7}", rate_text(c.requests_per_s)), t.fg(t.text)),
        Span::styled(" p95 ", t.muted()),
        Span::styled(
            format!("{:>5}", secs_text(c.p95_seconds)),
            style_of(t, level(c.p95_seconds, th.p95_warn, th.p95_crit)),
        ),
        Span::styled(format!(" {:>3} in", count_text(c.inflight)), t.fg(t.text)),
    ];
    if let Some(e) = c.errors_per_s.filter(|e| *e > 0.0) {
        spans.push(Span::styled(
            format!(" {} err", rate_text(Some(e))),
            style_of(t, level(Some(e), th.errors_warn, th.errors_crit)),
        ));
    }
    if let Some(kv) = c.kv_cache_usage {
        spans.push(Span::styled(
            format!(" kv {:.0}%", kv * 100.0),
            style_of(t, level(Some(kv), th.kv_warn, th.kv_crit)),
        ));
    }
    spans
}

/// One instance's load for the registered-instances panel: `10.1/s p95 412ms 2 in ready`.
pub fn instance_text(i: Option<&InstanceLoad>) -> (String, Level) {
    let Some(i) = i else {
        return ("-".into(), Level::Ok);
    };
    if i.stale {
        return ("stale (no samples)".into(), Level::Warn);
    }
    let health = match i.health.as_deref() {
        Some("ready") => " ready".to_string(),
        Some(h) => format!(" {}", safe(h)),
        None => String::new(),
    };
    let lvl = if i.health.as_deref().is_some_and(|h| h != "ready") {
        Level::Crit
    } else {
        Level::Ok
    };
    let errors = match i.errors_per_s.filter(|e| *e > 0.0) {
        Some(e) => format!(" {} err", rate_text(Some(e))),
        None => String::new(),
    };
    (
        format!(
            "{} p95 {} {} in{errors}{health}",
            rate_text(i.requests_per_s),
            secs_text(i.p95_seconds),
            count_text(i.inflight)
        ),
        lvl,
    )
}

/// `URL: why`, cut to fit a header line (the event log has it whole).
pub fn failure_text(location: &str, error: Option<&str>) -> String {
    let text = format!("{location}: {}", error.unwrap_or("no answer"));
    let mut out: String = safe(&text).chars().take(90).collect();
    if out.len() < safe(&text).len() {
        out.push('…');
    }
    out
}

/// The header's line of failures, when a source fails: the first failing metrics source
/// and the first failing discovery source, each with where and why (as circus's line
/// says it), the others counted (the event log has each). None when all answer.
pub fn failure_line(t: &Theme, app: &Data) -> Option<Line<'static>> {
    let mut failures: Vec<String> = Vec::new();
    if let Some(m) = &app.load.last {
        let failed: Vec<_> = m.sources.iter().filter(|s| !s.ok()).collect();
        if let Some(f) = failed.first() {
            let kind = match f.kind {
                SourceKind::Prometheus => "prometheus",
                SourceKind::Scrape => "scrape",
                SourceKind::Nats => "nats",
            };
            let mut text = format!(
                "✗ metrics {kind} {}",
                failure_text(&f.location, f.error.as_deref())
            );
            if failed.len() > 1 {
                text.push_str(&format!(" (+{} more)", failed.len() - 1));
            }
            failures.push(text);
        }
    }
    if let Some(l) = &app.live {
        let failed: Vec<_> = l.sources.iter().filter(|s| !s.ok()).collect();
        if let Some(f) = failed.first() {
            let mut text = format!(
                "✗ discovery {} {}",
                f.kind.as_str(),
                failure_text(&f.location, f.error.as_deref())
            );
            if failed.len() > 1 {
                text.push_str(&format!(" (+{} more)", failed.len() - 1));
            }
            failures.push(text);
        }
    }
    (!failures.is_empty()).then(|| Line::styled(failures.join("   "), t.error()))
}

/// The header's metrics line: each source's health, the frontend's numbers and the
/// prefill queue with its trend.
pub fn status_line(t: &Theme, app: &Data) -> Line<'static> {
    let mut spans = vec![Span::styled("metrics", t.muted())];
    match &app.load.last {
        None if app.load.polling => spans.push(Span::styled(" asking…", t.muted())),
        None => spans.push(Span::styled(" waiting for the first round", t.muted())),
        Some(m) => {
            for s in &m.sources {
                let kind = match s.kind {
                    SourceKind::Prometheus => "prometheus",
                    SourceKind::Scrape => "scrape",
                    SourceKind::Nats => "nats",
                };
                let (mark, style) = if s.ok() {
                    ("●", t.fg(t.green))
                } else {
                    ("✗", t.error())
                };
                spans.push(Span::styled(format!(" {kind} "), t.muted()));
                spans.push(Span::styled(mark, style));
            }
            if let Some(f) = &m.frontend {
                let th = &app.load.thresholds;
                spans.push(Span::styled("   frontend ", t.muted()));
                spans.push(Span::styled(rate_text(f.requests_per_s), t.fg(t.text)));
                spans.push(Span::styled(" TTFT p95 ", t.muted()));
                spans.push(Span::styled(
                    secs_text(f.ttft_p95_seconds),
                    style_of(t, level(f.ttft_p95_seconds, th.p95_warn, th.p95_crit)),
                ));
                spans.push(Span::styled(" ITL p95 ", t.muted()));
                spans.push(Span::styled(secs_text(f.itl_p95_seconds), t.fg(t.text)));
                spans.push(Span::styled(" queued ", t.muted()));
                spans.push(Span::styled(count_text(f.queued), t.fg(t.text)));
            }
            if let Some(q) = &m.prefill_queue {
                let th = &app.load.thresholds;
                let depths: Vec<f64> = app.load.queue.iter().map(|(_, v)| *v).collect();
                spans.push(Span::styled("   prefill queue ", t.muted()));
                spans.push(Span::styled(
                    format!("{}", q.depth),
                    style_of(t, level(Some(q.depth as f64), th.queue_warn, th.queue_crit)),
                ));
                spans.push(Span::styled(
                    format!(" {} {}", sparkline(&depths, 8), trend(&depths)),
                    t.fg(t.cyan),
                ));
            }
        }
    }
    Line::from(spans)
}
