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
            let mut cells = vec![
                Cell::from(Span::styled(safe(comp).into_owned(), t.fg(t.cyan))),
                Cell::from(Span::styled("-", t.muted())),
                Cell::from(live_cell(t, app, ns, comp, None)),
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
