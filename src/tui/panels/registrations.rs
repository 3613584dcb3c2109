//! `i`: the open namespace's registered instances as discovery shows them (component,
//! endpoint, instance id, transport address, source, lease or age), new ones flashing,
//! vanished ones greyed while they leave, stale file-store entries marked. Sortable like
//! the instance table of a type (Shift+letter, again reverses; `<`/`>`), the cursor
//! staying on its instance. Only the rows that fit are built: 10,000 registrations are
//! common at scale.

use crossterm::event::KeyCode;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

use super::{Outcome, Panel, push};
use crate::text::safe;
use crate::tui::data::{Data, LiveRow, transport_text};
use crate::tui::keys::{self, C, Cmd, K, KeyDef, k};
use crate::tui::live::ident;
use crate::tui::ui::View;
use crate::tui::ui::live::{lease_age, mark};
use crate::tui::widgets::table::{self, TableRow};
use crate::tui::widgets::{
    Column, Filter, InputOutcome, ListCursor, Sort, SortKey, TableState, TextInput, popup,
};

pub const TITLE: &str = "Registered instances (discovery)";
pub const KEYS: &[KeyDef] = &[
    k(
        &[C('k'), K(KeyCode::Up)],
        "k/↑",
        "previous instance",
        Cmd::Up,
        false,
        "up",
    ),
    k(
        &[C('j'), K(KeyCode::Down)],
        "j/↓",
        "next instance",
        Cmd::Down,
        false,
        "down",
    ),
    k(
        &[C('g'), K(KeyCode::Home)],
        "g/Home",
        "first instance",
        Cmd::Top,
        false,
        "",
    ),
    k(
        &[C('G'), K(KeyCode::End)],
        "G/End",
        "last instance",
        Cmd::Bottom,
        false,
        "",
    ),
    k(
        &[K(KeyCode::PageUp)],
        "PgUp",
        "a page up",
        Cmd::PageUp,
        false,
        "",
    ),
    k(
        &[K(KeyCode::PageDown)],
        "PgDn",
        "a page down",
        Cmd::PageDown,
        false,
        "",
    ),
    k(
        &[K(KeyCode::Enter)],
        "Enter",
        "the registration as stored",
        Cmd::Open,
        false,
        "open",
    ),
    k(
        &[C('/')],
        "/",
        "filter the instances",
        Cmd::Filter,
        false,
        "filter",
    ),
    k(
        &[K(KeyCode::Esc), C('i')],
        "Esc/i",
        "clear the filter / back",
        Cmd::Close,
        false,
        "back",
    ),
    crate::tui::keys::SORT_PREV,
    crate::tui::keys::SORT_NEXT,
    k(
        &[C('C')],
        "C",
        "sort by component (again: reverse)",
        Cmd::SortBy(0),
        false,
        "",
    ),
    k(
        &[C('N')],
        "N",
        "sort by endpoint",
        Cmd::SortBy(1),
        false,
        "",
    ),
    k(
        &[C('I')],
        "I",
        "sort by instance id",
        Cmd::SortBy(2),
        false,
        "",
    ),
    k(&[C('A')], "A", "sort by address", Cmd::SortBy(3), false, ""),
    k(&[C('S')], "S", "sort by source", Cmd::SortBy(4), false, ""),
    k(&[C('R')], "R", "sort by req/s", Cmd::SortBy(5), false, ""),
    k(
        &[C('L')],
        "L",
        "sort by p95 latency",
        Cmd::SortBy(6),
        false,
        "",
    ),
    crate::tui::keys::COPY,
];

#[derive(Debug, Default)]
pub struct Registrations {
    /// On an instance's identity ([`ident`]).
    pub cursor: ListCursor<String>,
    pub filter: Filter,
    /// Column widths seen, so they do not jump as rows change.
    pub table: TableState,
    pub sort: Sort,
}

/// The sortable columns' names, in the order of their letters (C N I A S R L).
pub const SORT_NAMES: [&str; 7] = [
    "component",
    "endpoint",
    "instance",
    "address",
    "source",
    "req/s",
    "p95",
];

/// A row's value in sort column `col` (`loads`: the open namespace's by instance id).
fn sort_key(
    r: &LiveRow,
    col: usize,
    loads: &std::collections::HashMap<&str, &crate::metrics::InstanceLoad>,
) -> SortKey {
    let i = r.inst;
    let load = || {
        loads
            .get(i.instance_id_hex().as_str())
            .copied()
            .filter(|l| !l.stale)
    };
    match col {
        0 => SortKey::Text(i.component.to_string()),
        1 => SortKey::Text(i.endpoint.to_string()),
        2 => SortKey::Text(format!("{:016x}", i.instance_id)),
        3 => SortKey::Text(transport_text(&i.transport())),
        4 => SortKey::Text(i.source.as_str().to_string()),
        5 => SortKey::Num(load().and_then(|l| l.requests_per_s)),
        _ => SortKey::Num(load().and_then(|l| l.p95_seconds)),
    }
}

/// [`rows`] in `sort`'s order (the default: as discovery lists them).
pub fn sorted<'a>(d: &'a Data, filter: &Filter, sort: Sort) -> Vec<LiveRow<'a>> {
    let rows = rows(d, filter);
    if sort == Sort::default() {
        return rows;
    }
    // One map of the load rows, not a search per row (10,000 of each are common).
    let ns = d.current.as_ref().map_or("", |c| c.name.as_str());
    let loads = d.load.by_instance(ns);
    sort.order(
        rows,
        |r| sort_key(r, sort.col, &loads),
        |_, _| std::cmp::Ordering::Equal,
    )
}

/// The registered-instances panel's rows: the open namespace's instances in
/// discovery, then the ones leaving, that pass `filter`.
pub fn rows<'a>(d: &'a Data, filter: &Filter) -> Vec<LiveRow<'a>> {
    let Some(cur) = &d.current else {
        return Vec::new();
    };
    let ns = cur.name.as_str();
    let keep = |i: &crate::discovery::Instance| {
        i.namespace == ns
            && (filter.text().is_empty()
                || filter.matches(&[
                    &i.component,
                    &i.endpoint,
                    &i.instance_id_hex(),
                    i.source.as_str(),
                    &transport_text(&i.transport()),
                ]))
    };
    let mut rows: Vec<LiveRow> = d
        .live
        .iter()
        .flat_map(|l| l.of_namespace(ns))
        .filter(|i| keep(i))
        .map(|inst| LiveRow {
            inst,
            leaving: false,
        })
        .collect();
    let leaving = d.track.leaving.iter().filter(|(i, _)| keep(i));
    rows.extend(leaving.map(|(inst, _)| LiveRow {
        inst,
        leaving: true,
    }));
    fn key<'a>(r: &LiveRow<'a>) -> (&'a str, &'a str, u64) {
        (&r.inst.component, &r.inst.endpoint, r.inst.instance_id)
    }
    // A snapshot comes sorted: usually only leavers need placing.
    if !rows.is_sorted_by(|a, b| key(a) <= key(b)) {
        rows.sort_by(|a, b| key(a).cmp(&key(b)));
    }
    rows
}

impl Registrations {
    fn sync(&mut self, d: &Data) {
        let rows = sorted(d, &self.filter, self.sort);
        self.cursor.sync(rows.iter().map(|r| ident(r.inst)));
    }
}

impl Panel for Registrations {
    fn input_ref(&self) -> Option<&TextInput> {
        self.filter.active()
    }

    fn input(&mut self) -> Option<&mut TextInput> {
        self.filter.input()
    }

    fn on_input(&mut self, out: InputOutcome, d: &Data) -> Vec<Outcome> {
        self.filter.on_input(&out);
        self.sync(d);
        Vec::new()
    }

    fn on_data(&mut self, d: &Data) -> Vec<Outcome> {
        self.sync(d);
        Vec::new()
    }

    fn shows_live(&self) -> bool {
        true
    }

    fn on_cmd(&mut self, cmd: Cmd, d: &Data) -> Vec<Outcome> {
        if let Some(nav) = keys::nav(cmd) {
            let n = rows(d, &self.filter).len();
            self.cursor.apply(nav, n);
            self.sync(d);
            return Vec::new();
        }
        // The cursor stays on its instance: `sync` finds it where the sort put it.
        if keys::sort(cmd, &mut self.sort, SORT_NAMES.len()) {
            self.sync(d);
            return Vec::new();
        }
        match cmd {
            Cmd::Filter => self.filter.start(),
            Cmd::Close if !self.filter.text().is_empty() => {
                self.filter.clear();
                self.sync(d);
            }
            Cmd::Close => return vec![Outcome::Pop],
            Cmd::Copy => {
                let rows = sorted(d, &self.filter, self.sort);
                if let Some(r) = self.cursor.selected().and_then(|i| rows.get(i)) {
                    return super::copy("instance id", r.inst.instance_id_hex());
                }
            }
            Cmd::Open => {
                let rows = sorted(d, &self.filter, self.sort);
                if let Some(r) = self.cursor.selected().and_then(|i| rows.get(i)) {
                    return vec![push(super::registration::Registration::new(ident(r.inst)))];
                }
            }
            _ => {}
        }
        Vec::new()
    }

    fn draw(&self, frame: &mut Frame, area: Rect, app: &Data, v: &View, _top: bool) {
        let filter = &self.filter;
        let t = v.theme;
        let Some(cur) = &app.current else { return };
        let rows = sorted(app, filter, self.sort);
        let title = format!(
            " {} registered instances ({}), {}{} ",
            cur.name,
            rows.len(),
            self.sort.label(&SORT_NAMES),
            filter.suffix()
        );
        let inner = popup::open(
            frame.buffer_mut(),
            t,
            area,
            (
                area.width.saturating_sub(2).min(160),
                area.height.saturating_sub(2),
            ),
            &title,
            false,
        );
        if rows.is_empty() {
            let text = match app.live.as_ref().filter(|l| l.answered()) {
                None => "no discovery source answers (--etcd-endpoints, --file-kv)".to_string(),
                Some(_) if !filter.text().is_empty() => "nothing matches the filter".to_string(),
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
        let range = self.cursor.window(fit);
        let start = range.start;
        let selected = self.cursor.index().min(rows.len() - 1);
        let window = &rows[range];
        let body: Vec<TableRow> = window
            .iter()
            .map(|row| {
                let i = row.inst;
                let dim = row.leaving;
                let style = |s: ratatui::style::Style| if dim { t.muted() } else { s };
                let mut cells = vec![
                    Line::styled(safe(&i.component).into_owned(), style(t.fg(t.cyan))),
                    Line::styled(safe(&i.endpoint).into_owned(), style(t.fg(t.text))),
                    Line::styled(i.instance_id_hex(), style(t.fg(t.magenta))),
                    Line::styled(
                        safe(&transport_text(&i.transport())).into_owned(),
                        style(t.fg(t.text)),
                    ),
                    Line::styled(
                        format!("{} {}", i.source.as_str(), i.layout.as_str()),
                        t.muted(),
                    ),
                    Line::styled(lease_age(app, i), t.muted()),
                    Line::from(mark(t, app, row)),
                ];
                if app.load.on {
                    let (text, lvl) = crate::tui::ui::load::instance_text(
                        app.load.instance(&cur.name, &i.instance_id_hex()),
                    );
                    let style = match lvl {
                        crate::tui::load::Level::Ok => t.fg(t.text),
                        crate::tui::load::Level::Warn => t.fg(t.orange),
                        crate::tui::load::Level::Crit => t.error(),
                    };
                    cells.push(Line::styled(text, style));
                }
                TableRow::new(cells)
            })
            .collect();
        let cols = if app.load.on {
            &COLUMNS[..]
        } else {
            &COLUMNS[..COLUMNS.len() - 1]
        };
        table::render(
            frame.buffer_mut(),
            inner,
            t,
            cols,
            &self.table,
            &body,
            Some(selected - start),
        );
    }
}

/// The registered instances' columns, most important first by priority: which instance
/// (component, id), whether it is live, then its age, load, endpoint, address and source.
/// An id or a name is shown whole or not at all (never `VllmWorke`).
const COLUMNS: [Column; 8] = [
    Column::id("Component", 0).max(24),
    Column::id("Endpoint", 4).max(20),
    Column::id("Instance", 1).max(16),
    Column::text("Address", 6).min(12),
    Column::text("Source", 7).fixed(8),
    Column::text("Age", 3).min(9).max(18),
    Column::text("", 2).fixed(9),
    Column::text("Load", 5).min(12).max(34),
];
