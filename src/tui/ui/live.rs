//! `i`: the open namespace's registered instances as discovery shows them (component,
//! endpoint, instance id, transport address, source, lease or age), new ones flashing,
//! vanished ones greyed while they leave, stale file-store entries marked; Enter shows one
//! registration's value as stored, unknown fields included.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, HighlightSpacing, Paragraph, Row, Table, TableState, Wrap};

use super::{View, centered, open_popup};
use crate::discovery::{Instance, SourceKind};
use crate::text::safe;
use crate::tui::app::{App, ListFilter, LiveRow, age, transport_text};
use crate::tui::live::ident;
use crate::tui::theme::Theme;

/// How long this session has seen it ("seen 2m ago"); an etcd lease other than the
/// instance id (Dynamo registers with the id as its lease) is named; the file store says
/// when the owner last touched the entry.
fn lease_age(app: &App, i: &Instance) -> String {
    let id = ident(i);
    if let Some((_, at)) = app.track.leaving.iter().find(|(l, _)| ident(l) == id) {
        return format!("gone {}", age(app.now, Some(*at)));
    }
    let first = app.track.first_seen.get(&id).copied();
    let seen = format!("seen {}", age(app.now, first));
    match (i.source, i.lease, i.modified) {
        (SourceKind::Etcd, Some(0), _) => format!("no lease · {seen}"),
        (SourceKind::Etcd, Some(l), _) if l as u64 != i.instance_id => {
            format!("lease {l:x} · {seen}")
        }
        (SourceKind::File, _, Some(m)) => format!("touched {}", age(app.now, Some(m))),
        _ => seen,
    }
}

/// The state of a row: new (flashing), leaving, stale, or live.
fn mark<'a>(t: &Theme, app: &App, r: &LiveRow) -> Span<'a> {
    if r.leaving {
        Span::styled("○ leaving", t.muted())
    } else if r.inst.stale {
        Span::styled("▲ stale", t.fg(t.orange))
    } else if app.track.is_flashing(r.inst) {
        Span::styled(
            "★ new",
            t.fg(t.green)
                .add_modifier(Modifier::BOLD | Modifier::REVERSED),
        )
    } else {
        Span::styled("● live", t.fg(t.green))
    }
}

pub fn draw_live(
    frame: &mut Frame,
    app: &App,
    v: &View,
    area: Rect,
    selected: usize,
    filter: &ListFilter,
) {
    let t = v.theme;
    let Some(cur) = &app.current else { return };
    let rows = app.live_rows(filter);
    let title = match (filter.text.is_empty(), filter.typing) {
        (true, false) => format!(" {} registered instances ({}) ", cur.name, rows.len()),
        _ => format!(
            " {} registered instances ({}) /{}{} ",
            cur.name,
            rows.len(),
            safe(&filter.text),
            if filter.typing { "▏" } else { "" }
        ),
    };
    let inner = open_popup(
        frame,
        t,
        centered(
            area,
            area.width.saturating_sub(2).min(160),
            area.height.saturating_sub(2),
        ),
        &title,
        false,
    );
    if rows.is_empty() {
        let text = match app.live.as_ref().filter(|l| l.answered()) {
            None => "no discovery source answers (--etcd-endpoints, --file-kv)".to_string(),
            Some(_) if !filter.text.is_empty() => "nothing matches the filter".to_string(),
            Some(_) => format!("nothing of {} is registered in discovery", cur.name),
        };
        frame.render_widget(
            Paragraph::new(Line::styled(text, t.muted())).wrap(Wrap { trim: false }),
            inner,
        );
        return;
    }
    // Only the rows that fit are built (10,000 registrations are common at scale).
    let fit = inner.height.saturating_sub(1).max(1) as usize;
    let selected = selected.min(rows.len() - 1);
    let start = (selected + 1).saturating_sub(fit);
    let window = &rows[start..(start + fit).min(rows.len())];
    let body: Vec<Row> = window
        .iter()
        .map(|row| {
            let i = row.inst;
            let dim = row.leaving;
            let style = |s: ratatui::style::Style| if dim { t.muted() } else { s };
            let mut cells = vec![
                Cell::from(Span::styled(
                    safe(&i.component).into_owned(),
                    style(t.fg(t.cyan)),
                )),
                Cell::from(Span::styled(
                    safe(&i.endpoint).into_owned(),
                    style(t.fg(t.text)),
                )),
                Cell::from(Span::styled(i.instance_id_hex(), style(t.fg(t.magenta)))),
                Cell::from(Span::styled(
                    safe(&transport_text(&i.transport)).into_owned(),
                    style(t.fg(t.text)),
                )),
                Cell::from(Span::styled(
                    format!("{} {}", i.source.as_str(), i.layout.as_str()),
                    t.muted(),
                )),
                Cell::from(Span::styled(lease_age(app, i), t.muted())),
                Cell::from(mark(t, app, row)),
            ];
            if app.load.on {
                cells.push(Cell::from({
                    let (text, lvl) = super::load::instance_text(
                        app.load.instance(&cur.name, &i.instance_id_hex()),
                    );
                    let style = match lvl {
                        crate::tui::load::Level::Ok => t.fg(t.text),
                        crate::tui::load::Level::Warn => t.fg(t.orange),
                        crate::tui::load::Level::Crit => t.error(),
                    };
                    Span::styled(text, style)
                }));
            }
            Row::new(cells)
        })
        .collect();
    let widest = |f: &dyn Fn(&Instance) -> usize, cap: usize| {
        rows.iter()
            .map(|r| f(r.inst))
            .max()
            .unwrap_or(0)
            .clamp(9, cap) as u16
    };
    let table = Table::new(
        body,
        [
            Constraint::Length(widest(&|i| i.component.chars().count(), 24)),
            Constraint::Length(widest(&|i| i.endpoint.chars().count(), 20)),
            Constraint::Length(16),
            Constraint::Fill(3),
            Constraint::Length(8),
            Constraint::Length(18),
            Constraint::Length(9),
        ]
        .into_iter()
        .chain(app.load.on.then_some(Constraint::Length(34))),
    )
    .header(
        Row::new(
            [
                "Component",
                "Endpoint",
                "Instance",
                "Address",
                "Source",
                "Age",
                "",
            ]
            .into_iter()
            .chain(app.load.on.then_some("Load")),
        )
        .style(t.muted().add_modifier(Modifier::BOLD)),
    )
    .row_highlight_style(t.selected())
    .highlight_symbol("▶ ")
    .highlight_spacing(HighlightSpacing::Always);
    let mut state = TableState::default().with_selected(Some(selected - start));
    frame.render_stateful_widget(table, inner, &mut state);
}

pub fn draw_live_entry(frame: &mut Frame, app: &App, v: &View, area: Rect, id: &str, scroll: u16) {
    let t = v.theme;
    let found = app
        .live
        .iter()
        .flat_map(|l| l.instances.iter())
        .map(|i| (i, false))
        .chain(app.track.leaving.iter().map(|(i, _)| (i, true)))
        .find(|(i, _)| ident(i) == id);
    let title = match found {
        Some((i, _)) => format!(" {} ", safe(&i.key)),
        None => " registration ".to_string(),
    };
    let inner = open_popup(
        frame,
        t,
        centered(
            area,
            area.width.saturating_sub(2).min(130),
            area.height.saturating_sub(2),
        ),
        &title,
        false,
    );
    let Some((i, leaving)) = found else {
        frame.render_widget(
            Paragraph::new(Line::styled("no longer registered in discovery", t.muted())),
            inner,
        );
        return;
    };
    let field = |k: &str, v: String| {
        Line::from(vec![
            Span::styled(format!("{k:<12}"), t.muted()),
            Span::styled(safe(&v).into_owned(), t.fg(t.text)),
        ])
    };
    let mut lines = vec![
        field("key", i.key.clone()),
        field(
            "source",
            format!("{} ({} layout)", i.source.as_str(), i.layout.as_str()),
        ),
        field(
            "instance",
            format!("{} ({})", i.instance_id_hex(), i.instance_id),
        ),
        field("transport", transport_text(&i.transport)),
        field("age", lease_age(app, i)),
        field(
            "state",
            if leaving {
                "gone from discovery (leaving)".into()
            } else if i.stale {
                "stale: not touched within its TTL".into()
            } else {
                "registered".into()
            },
        ),
    ];
    if let Some(r) = i.mod_revision {
        lines.push(field("revision", r.to_string()));
    }
    let extra: Vec<String> = i.extra_fields().map(|(k, _)| k.clone()).collect();
    if !extra.is_empty() {
        lines.push(field("other fields", extra.join(", ")));
    }
    lines.push(Line::styled("value, as stored", t.muted()));
    let value = serde_json::to_string_pretty(&*i.value).unwrap_or_default();
    super::instances::render_document(frame, t, lines, &value, inner, scroll);
}
