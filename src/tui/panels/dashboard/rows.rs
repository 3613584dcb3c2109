//! The Components table's rows, drawn from the joined rows ([`crate::rows`]): a type of
//! the state file (Run, Live, watchers, GPUs, load), or a component of a namespace only
//! discovery knows (Plan, Live, registrations, load).

use ratatui::style::Style;
use ratatui::text::{Line, Span, Text};
use ratatui::widgets::{Cell, Row};

use crate::rows::{ComponentRow, LiveMark, RunMark, TypeRow, live_text};
use crate::state::scale::TypeSummary;
use crate::text::safe;
use crate::tui::data::Data;
use crate::tui::theme::Theme;

/// A live count against what is wanted: green when they agree, orange while fewer are
/// registered (starting, or gone), red when more (unmanaged); grey when unknown.
fn live_span<'a>(t: &Theme, live: Option<usize>, mark: LiveMark) -> Span<'a> {
    let style = match mark {
        LiveMark::Unknown => t.muted(),
        LiveMark::Short => t.fg(t.orange),
        LiveMark::Over => t.error(),
        LiveMark::Agrees => t.fg(t.green),
    };
    Span::styled(live_text(live, mark), style)
}

/// The Run cell's dot: green only when circus confirms them all; grey `?` when circus
/// is not heard (unknown is never green); orange when fewer run than the file says or
/// it wants none; red when none of them runs.
fn run_span<'a>(t: &Theme, row: &TypeRow) -> Span<'a> {
    let (dot, style): (&str, Style) = match row.run_mark() {
        RunMark::Unknown => ("?", t.muted()),
        RunMark::NoneRuns => ("●", t.error()),
        RunMark::NothingWanted => ("○", t.fg(t.orange)),
        RunMark::Short => ("●", t.fg(t.orange)),
        RunMark::All => ("●", t.fg(t.green)),
    };
    Span::styled(format!("{dot} {}", row.desired), style)
}

fn load_cell<'a>(t: &Theme, app: &Data, name: &str, load_w: u16) -> Option<Cell<'a>> {
    (load_w > 0).then(|| {
        Cell::from(crate::tui::ui::load::load_cell(
            t,
            app,
            &app.rows.ns,
            name,
            load_w < crate::tui::ui::load::LOAD_WIDTH,
        ))
    })
}

/// A type of the state file: its watchers with what circus runs, their GPUs.
pub(super) fn type_row<'a>(
    t: &Theme,
    app: &Data,
    ty: &TypeSummary,
    row: &TypeRow,
    load_w: u16,
) -> Row<'a> {
    let names: Vec<Line> = ty
        .instances
        .iter()
        .zip(app.rows.members(row))
        .map(|(i, pids)| match (i.parked, pids) {
            (true, _) => Line::styled(format!("{} (parked)", safe(&i.watcher_name)), t.muted()),
            (false, None) => Line::raw(safe(&i.watcher_name).into_owned()),
            (false, Some([])) => Line::from(vec![
                Span::styled("✗ ", t.error()),
                Span::raw(safe(&i.watcher_name).into_owned()),
                Span::styled(" not running", t.error()),
            ]),
            (false, Some(p)) => Line::from(vec![
                Span::styled("● ", t.fg(t.green)),
                Span::raw(safe(&i.watcher_name).into_owned()),
                Span::styled(format!(" {}", crate::arbiter::ops::pids(p)), t.muted()),
            ]),
        })
        .collect();
    let gpus: Vec<Line> = ty
        .instances
        .iter()
        .map(|i| {
            Line::raw(if i.gpus.is_empty() {
                "-".into()
            } else {
                safe(&i.gpus.join(",")).into_owned()
            })
        })
        .collect();
    let mut cells = vec![
        Cell::from(Span::styled(safe(&ty.ty).into_owned(), t.fg(t.cyan))),
        Cell::from(run_span(t, row)),
        Cell::from(live_span(t, row.live, row.live_mark())),
        Cell::from(Text::from(names)),
        Cell::from(Text::from(gpus)),
    ];
    cells.extend(load_cell(t, app, &ty.ty, load_w));
    Row::new(cells).height(row.height().min(u16::MAX as usize) as u16)
}

/// A component of a namespace only discovery knows: the planner's target, the live count
/// against it, and its registrations (endpoint, id in hex, source, stale marks).
pub(super) fn component_row<'a>(t: &Theme, app: &Data, c: &ComponentRow, load_w: u16) -> Row<'a> {
    let lines: Vec<Line> = c
        .registrations
        .iter()
        .map(|r| {
            let mut spans = vec![
                Span::styled(format!("{} ", safe(&r.endpoint)), t.fg(t.text)),
                Span::styled(r.id_hex(), t.fg(t.magenta)),
                Span::styled(format!(" {}", r.source), t.muted()),
            ];
            if r.stale {
                spans.push(Span::styled(" stale", t.fg(t.orange)));
            }
            Line::from(spans)
        })
        .collect();
    let (want, live) = match c.plan {
        // The planner's target, and the live count on its endpoint against it.
        Some(w) => (
            Span::styled(format!("◆ {w}"), t.fg(t.magenta)),
            match c.live {
                None => Span::styled("?", t.muted()),
                live => live_span(t, live, c.live_mark()),
            },
        ),
        None => (
            Span::styled("-", t.muted()),
            live_span(t, c.live, c.live_mark()),
        ),
    };
    let mut cells = vec![
        Cell::from(Span::styled(safe(&c.name).into_owned(), t.fg(t.cyan))),
        Cell::from(want),
        Cell::from(live),
        Cell::from(Text::from(lines)),
        Cell::from("-"),
    ];
    cells.extend(load_cell(t, app, &c.name, load_w));
    Row::new(cells).height(c.height().min(u16::MAX as usize) as u16)
}
