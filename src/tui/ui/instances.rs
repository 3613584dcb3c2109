//! The drill-down: a type's instances (Enter on a component row) and one instance's whole
//! entry (Enter on an instance): watcher, GPUs, process, lease, command, its
//! `--worker-env` with `DYNAMO_SERVICE_CONFIG` pretty-printed, and the entry as in the file.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};
use serde_json::Value;

use super::json_line;
use crate::arbiter::ops::{ProcessKind, process_words};
use crate::state::command::{WORKER_ENV, env_object, env_value, shell_word_after};
use crate::text::safe;
use crate::tui::data::Data;
use crate::tui::theme::Theme;

/// The CLI's words ([`process_words`]) for a watcher with these pids (`None`: circus not
/// heard), with a mark and a colour.
pub fn process<'a>(t: &Theme, app: &Data, pids: Option<&[u32]>, parked: bool) -> Span<'a> {
    // `--demo` / `--state-only`: circus is never asked, so say that, not "not heard".
    if let (crate::tui::data::ArbiterStatus::FileOnly(why), false) = (&app.arbiter, parked) {
        return Span::styled(format!("? (circus not asked: {why})"), t.muted());
    }
    let (kind, words) = process_words(parked, pids);
    match kind {
        ProcessKind::Parked | ProcessKind::Unknown => Span::styled(words, t.muted()),
        ProcessKind::NotRunning => Span::styled(format!("✗ {words}"), t.error()),
        ProcessKind::Running => Span::styled(format!("● {words}"), t.fg(t.green)),
    }
}

/// Whether discovery has an instance with this etcd lease (a 0.3 entry's `lease` is the
/// lease its worker registers with): " ✓ registered", " ✗ not registered", or nothing
/// when no source answers.
pub fn registered(app: &Data, ns: &str, lease: i64) -> &'static str {
    match &app.live {
        Some(l) if l.answered() => {
            if l.of_namespace(ns)
                .any(|i| !i.stale && i.instance_id as i64 == lease)
            {
                " ✓ registered"
            } else {
                " ✗ not registered"
            }
        }
        _ => "",
    }
}

/// The entry's `--worker-env` as lines: each variable, and `DYNAMO_SERVICE_CONFIG`
/// pretty-printed (it is a JSON document in a string).
pub fn worker_env_lines(t: &Theme, cmd: &str) -> Vec<Line<'static>> {
    let Some(text) = shell_word_after(cmd, WORKER_ENV) else {
        return vec![Line::styled("  (none in the command)", t.muted())];
    };
    let Some(env) = env_object(&text) else {
        return vec![Line::styled(
            format!("  (not JSON: {})", safe(&text)),
            t.error(),
        )];
    };
    let mut lines = Vec::new();
    for (k, v) in env {
        let val = env_value(&v);
        let pretty = (k == "DYNAMO_SERVICE_CONFIG")
            .then(|| serde_json::from_str::<Value>(&val).ok())
            .flatten()
            .and_then(|j| serde_json::to_string_pretty(&j).ok());
        match pretty {
            Some(p) => {
                lines.push(Line::from(vec![
                    Span::styled(format!("  {} ", safe(&k)), t.fg(t.magenta)),
                    Span::styled("=", t.muted()),
                ]));
                for l in p.lines() {
                    let mut line = json_line(t, &safe(l));
                    line.spans.insert(0, Span::raw("    "));
                    lines.push(line);
                }
            }
            None => lines.push(Line::from(vec![
                Span::styled(format!("  {} ", safe(&k)), t.fg(t.magenta)),
                Span::styled("= ", t.muted()),
                Span::styled(safe(&val).into_owned(), t.fg(t.text)),
            ])),
        }
    }
    lines
}

/// `lines`, then the pretty JSON `json` coloured and indented, wrapped into `area` and
/// scrolled by `scroll`, stopping at the last page (never scrolling into emptiness).
pub fn render_document(
    frame: &mut Frame,
    t: &Theme,
    mut lines: Vec<Line<'static>>,
    json: &str,
    area: Rect,
    scroll: &crate::tui::widgets::Scroll,
) {
    for l in json.lines() {
        let mut line = json_line(t, &safe(l));
        line.spans.insert(0, Span::raw("  "));
        lines.push(line);
    }
    let w = area.width.max(1) as usize;
    let total: usize = lines.iter().map(|l| l.width().div_ceil(w).max(1)).sum();
    let off = scroll
        .fit(total, area.height as usize)
        .min(u16::MAX as usize) as u16;
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((off, 0)),
        area,
    );
}
