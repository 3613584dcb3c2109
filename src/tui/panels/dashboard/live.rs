//! The dashboard's discovery pieces: the header's discovery status, the Live cell of a
//! type, and the rows of a namespace only discovery knows.

use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Cell, Row};

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

/// Registered instances of a type (discovery), against what the file wants: green when
/// they agree, orange while fewer are registered (starting, or gone), red when more are
/// (unmanaged); "-" when no discovery source answered.
pub(super) fn live_cell<'a>(
    t: &Theme,
    app: &Data,
    ns: &str,
    ty: &str,
    desired: Option<usize>,
) -> Span<'a> {
    let Some(live) = app.live.as_ref().and_then(|s| s.live_for_type(ns, ty)) else {
        return Span::styled("-", t.muted());
    };
    match desired {
        Some(d) if live < d => Span::styled(format!("{live}…"), t.fg(t.orange)),
        Some(d) if live > d => Span::styled(format!("{live}+"), t.error()),
        _ => Span::styled(live.to_string(), t.fg(t.green)),
    }
}

/// A discovery-only namespace's rows: each registered component, its live count, and its
/// instances (endpoint, id in hex, stale marks).
pub(super) fn discovery_rows<'a>(t: &Theme, app: &Data, ns: &str, load_w: u16) -> Vec<Row<'a>> {
    let Some(snap) = &app.live else {
        return vec![];
    };
    let mut by_comp: std::collections::BTreeMap<&str, Vec<&crate::discovery::Instance>> =
        Default::default();
    for i in snap.of_namespace(ns) {
        by_comp.entry(i.component.as_str()).or_default().push(i);
    }
    let decision = app.planner(ns).map(|(d, _)| d).filter(|d| d.decided());
    for c in planner_components(app, ns) {
        by_comp.entry(c).or_default();
    }
    by_comp
        .into_iter()
        .map(|(comp, insts)| {
            let lines: Vec<Line> = insts
                .iter()
                .map(|i| {
                    let mut spans = vec![
                        Span::styled(format!("{} ", safe(&i.endpoint)), t.fg(t.text)),
                        Span::styled(i.instance_id_hex(), t.fg(t.magenta)),
                        Span::styled(format!(" {}", i.source.as_str()), t.muted()),
                    ];
                    if i.stale {
                        spans.push(Span::styled(" stale", t.fg(t.orange)));
                    }
                    Line::from(spans)
                })
                .collect();
            let n = lines.len().max(1) as u16;
            // The planner's target, and the live count against it (its endpoint).
            let target = decision.and_then(|d| d.target(comp));
            let (want, live) = match target {
                Some(w) => (
                    Span::styled(format!("◆ {w}"), t.fg(t.magenta)),
                    planner_live_cell(t, app, ns, comp, w),
                ),
                None => (
                    Span::styled("-", t.muted()),
                    live_cell(t, app, ns, comp, None),
                ),
            };
            let mut cells = vec![
                Cell::from(Span::styled(safe(comp).into_owned(), t.fg(t.cyan))),
                Cell::from(want),
                Cell::from(live),
                Cell::from(Text::from(lines)),
                Cell::from("-"),
            ];
            if load_w > 0 {
                cells.push(Cell::from(crate::tui::ui::load::load_cell(
                    t,
                    app,
                    ns,
                    comp,
                    load_w < crate::tui::ui::load::LOAD_WIDTH,
                )));
            }
            Row::new(cells).height(n)
        })
        .collect()
}

/// The components the planner sets a target for in `ns` (rows even with no instance).
pub fn planner_components<'a>(app: &Data, ns: &str) -> Vec<&'a str> {
    let Some((d, _)) = app.planner(ns) else {
        return Vec::new();
    };
    [
        (crate::discovery::planner::PREFILL, d.num_prefill_workers),
        (crate::discovery::planner::DECODE, d.num_decode_workers),
    ]
    .into_iter()
    .filter(|(_, t)| t.is_some())
    .map(|(c, _)| c)
    .collect()
}

/// Live instances of a planner component on the planner's endpoint against its target:
/// green when they agree, orange while fewer, red when more.
fn planner_live_cell<'a>(t: &Theme, app: &Data, ns: &str, comp: &str, want: u64) -> Span<'a> {
    let live = app
        .live
        .as_ref()
        .and_then(|s| s.count(ns, comp, Some(crate::discovery::planner::ENDPOINT)));
    let Some(live) = live else {
        return Span::styled("?", t.muted());
    };
    let l = live as u64;
    if l < want {
        Span::styled(format!("{live}…"), t.fg(t.orange))
    } else if l > want {
        Span::styled(format!("{live}+"), t.error())
    } else {
        Span::styled(live.to_string(), t.fg(t.green))
    }
}
