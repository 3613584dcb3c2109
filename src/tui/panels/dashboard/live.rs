//! The dashboard's discovery pieces of the header: each source's health and the
//! planner's decision.

use ratatui::text::{Line, Span};

use crate::text::safe;
use crate::tui::data::Data;
use crate::tui::theme::Theme;

/// "   discovery etcd ● file ✗": each discovery source's health (nothing when none is on).
pub(super) fn discovery_status<'a>(t: &Theme, app: &Data) -> Span<'a> {
    let Some(snap) = &app.live else {
        return Span::raw("");
    };
    let parts: Vec<String> = snap
        .sources
        .iter()
        .map(|s| {
            if s.ok() {
                format!("{} ●", s.kind.as_str())
            } else {
                format!("{} ✗", s.kind.as_str())
            }
        })
        .collect();
    if parts.is_empty() {
        return Span::raw("");
    }
    let style = if snap.sources.iter().all(|s| s.ok()) {
        t.fg(t.green)
    } else {
        t.fg(t.orange)
    };
    Span::styled(format!("   discovery {}", parts.join(" ")), style)
}

/// "planner prefill 2, decode 3 (decision 7, pending 45s)": the Dynamo 1.x planner's
/// decision (orange while pending, red when pending past the warning or unreadable, green
/// when done). For a namespace only discovery knows, "no planner decision" when etcd
/// answered and has none; nothing when etcd is not heard.
pub(super) fn planner_line<'a>(
    t: &Theme,
    app: &Data,
    ns: &str,
    discovery_only: bool,
) -> Option<Line<'a>> {
    let etcd_ok = app.live.as_ref().is_some_and(|s| {
        s.sources
            .iter()
            .any(|x| x.kind == crate::discovery::SourceKind::Etcd && x.ok())
    });
    let (text, style) = match app.planner_phrase(ns) {
        Some((text, true)) => (text, t.error()),
        Some((text, false)) => {
            let d = app.planner(ns).map(|(d, _)| d);
            let style = match d {
                Some(d) if d.pending() => t.fg(t.orange),
                Some(d) if d.decided() => t.fg(t.green),
                _ => t.muted(),
            };
            (text, style)
        }
        None if discovery_only && etcd_ok => ("no planner decision".to_string(), t.muted()),
        None => return None,
    };
    Some(Line::from(vec![
        Span::styled("planner ", t.muted()),
        Span::styled(safe(&text).into_owned(), style),
    ]))
}
