//! Enter on a component row: one table of the type's instances joining what every source
//! says of each: the state entry (watcher, GPUs), circus (its process), discovery (the
//! instance id, in hex as `top` prints it, registered or not: a 0.3 entry's lease is its
//! worker's instance id) and metrics (health, req/s, p95, in flight, KV use). Sortable by
//! any column (Shift+its letter, again reverses; `<`/`>` move the sort), the sort shown in
//! the title, the cursor staying on its instance. Enter opens one; `x` removes that very
//! instance; `/` filters; `c` copies its watcher name.

use crossterm::event::KeyCode;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

use super::{Ask, Outcome, Panel, push, say};
use crate::arbiter::ops::process_words;
use crate::metrics::InstanceLoad;
use crate::state::scale;
use crate::text::safe;
use crate::tui::action::Op;
use crate::tui::data::{Data, Severity};
use crate::tui::keys::{self, BOTTOM, C, Cmd, K, KeyDef, PAGE_DOWN, PAGE_UP, TOP, k};
use crate::tui::ui::View;
use crate::tui::ui::instances::process;
use crate::tui::widgets::table::{self, TableRow};
use crate::tui::widgets::{Column, Filter, InputOutcome, ListCursor, TableState, TextInput, popup};
use crate::tui::widgets::{Sort, SortKey};

pub const TITLE: &str = "Instances of a type";
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
    PAGE_UP,
    PAGE_DOWN,
    TOP,
    BOTTOM,
    k(
        &[K(KeyCode::Enter)],
        "Enter",
        "the instance's full entry",
        Cmd::Open,
        false,
        "open",
    ),
    k(
        &[C('l')],
        "l",
        "the instance's log",
        Cmd::Logs,
        false,
        "logs",
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
        &[C('x')],
        "x",
        "remove this instance",
        Cmd::RemoveThis,
        true,
        "remove",
    ),
    k(&[K(KeyCode::Esc)], "Esc", "back", Cmd::Close, false, "back"),
    crate::tui::keys::SORT_PREV,
    crate::tui::keys::SORT_NEXT,
    sort_key('W', "W", 0),
    sort_key('I', "I", 1),
    sort_key('U', "U", 2),
    sort_key('P', "P", 3),
    sort_key('H', "H", 4),
    sort_key('R', "R", 5),
    sort_key('L', "L", 6),
    sort_key('F', "F", 7),
    sort_key('K', "K", 8),
    crate::tui::keys::COPY,
];

/// The sortable columns' names (the title says "sorted by req/s ↓"), in the order of
/// their letters above: watcher, instance, GPUs, process, health, req/s, p95 (latency),
/// in flight, KV.
pub const SORT_NAMES: [&str; 9] = [
    "watcher",
    "instance",
    "GPUs",
    "process",
    "health",
    "req/s",
    "p95",
    "in flight",
    "KV",
];

const fn sort_key(c: char, label: &'static str, col: u8) -> KeyDef {
    k(
        match c {
            'W' => &[C('W')],
            'I' => &[C('I')],
            'U' => &[C('U')],
            'P' => &[C('P')],
            'H' => &[C('H')],
            'R' => &[C('R')],
            'L' => &[C('L')],
            'F' => &[C('F')],
            _ => &[C('K')],
        },
        label,
        SORT_DESC[col as usize],
        Cmd::SortBy(col),
        false,
        "",
    )
}

const SORT_DESC: [&str; 9] = [
    "sort by watcher (again: reverse)",
    "sort by instance id",
    "sort by GPUs",
    "sort by process",
    "sort by health",
    "sort by req/s",
    "sort by p95 latency",
    "sort by requests in flight",
    "sort by KV cache use",
];

#[derive(Debug)]
pub struct Instances {
    pub ty: String,
    /// On an entry name.
    pub cursor: ListCursor<String>,
    pub filter: Filter,
    /// Column widths seen, so they do not jump as rows change.
    pub table: TableState,
    pub sort: Sort,
}

impl Instances {
    pub fn new(ty: String) -> Instances {
        Instances {
            ty,
            cursor: ListCursor::new(),
            filter: Filter::default(),
            table: TableState::new(),
            sort: Sort::default(),
        }
    }

    fn sync(&mut self, d: &Data) {
        let rows = joined(d, &self.ty, &self.filter, self.sort);
        self.cursor.sync(rows.iter().map(|r| &r.entry.name));
    }

    /// The selected row's entry name and whether it is parked.
    pub fn selected(&self, d: &Data) -> Option<(String, bool)> {
        let rows = joined(d, &self.ty, &self.filter, self.sort);
        let r = rows.get(self.cursor.selected()?)?;
        Some((r.entry.name.clone(), r.entry.parked))
    }
}

/// The type's entries that pass the filter, with their pids as joined ([`Data::rows`]:
/// `None` when circus was not heard).
pub fn rows<'a>(
    d: &'a Data,
    ty: &str,
    filter: &Filter,
) -> Vec<(&'a scale::Instance, Option<&'a [u32]>)> {
    let Some(cur) = &d.current else {
        return Vec::new();
    };
    let Some(t) = cur.summary.types.iter().find(|t| t.ty == ty) else {
        return Vec::new();
    };
    let row = d.rows.types.iter().find(|r| r.name == ty);
    t.instances
        .iter()
        .enumerate()
        .filter(|(_, i)| filter.matches(&[&i.watcher_name, &i.gpus.join(",")]))
        .map(|(n, i)| (i, row.and_then(|r| d.rows.pids(r, n))))
        .collect()
}

/// One instance of the type, as every source sees it.
#[derive(Debug)]
pub struct Joined<'a> {
    /// The state entry (watcher, GPUs, parked).
    pub entry: &'a scale::Instance,
    /// Its watcher's pids (circus); `None` when circus was not heard.
    pub pids: Option<&'a [u32]>,
    /// The entry's lease: its worker's instance id (0.3), None when it has none.
    pub id: Option<u64>,
    /// Registered in discovery under that id (None: no source answers, or no id).
    pub registered: Option<bool>,
    /// Its numbers in the last metrics round.
    pub load: Option<&'a InstanceLoad>,
}

impl Joined<'_> {
    /// The instance id as discovery and `top` print it; `-` when there is none.
    pub fn id_text(&self) -> String {
        self.id.map_or_else(|| "-".into(), |id| format!("{id:x}"))
    }

    fn key(&self, col: usize) -> SortKey {
        let num = |v: Option<f64>| SortKey::Num(v);
        let l = self.load.filter(|l| !l.stale);
        match col {
            0 => SortKey::Text(self.entry.watcher_name.clone()),
            1 => self
                .id
                .map_or(SortKey::Num(None), |i| SortKey::Text(format!("{i:016x}"))),
            2 => SortKey::Text(self.entry.gpus.join(",")),
            3 => SortKey::Text(process_words(self.entry.parked, self.pids).1),
            4 => self
                .load
                .and_then(|l| l.health.clone())
                .map_or(SortKey::Num(None), SortKey::Text),
            5 => num(l.and_then(|l| l.requests_per_s)),
            6 => num(l.and_then(|l| l.p95_seconds)),
            7 => num(l.and_then(|l| l.inflight)),
            _ => num(l.and_then(|l| l.kv_cache_usage)),
        }
    }
}

/// The type's instances joined with circus, discovery and metrics, filtered and sorted
/// (ties by watcher name). Linear in the namespace's registrations and load rows.
pub fn joined<'a>(d: &'a Data, ty: &str, filter: &Filter, sort: Sort) -> Vec<Joined<'a>> {
    let Some(cur) = &d.current else {
        return Vec::new();
    };
    let entries = rows(d, ty, filter);
    let live: Option<std::collections::HashSet<u64>> =
        d.live.as_ref().filter(|l| l.answered()).map(|l| {
            l.of_namespace(&cur.name)
                .filter(|i| !i.stale)
                .map(|i| i.instance_id)
                .collect()
        });
    let loads = d.load.by_instance(&cur.name);
    let mut rows: Vec<Joined> = entries
        .into_iter()
        .map(|(entry, pids)| {
            let id = cur
                .doc
                .state
                .components
                .get(&entry.name)
                .and_then(|c| c.lease.as_ref())
                .and_then(|l| l.as_ref())
                .and_then(|n| n.as_i64())
                .map(|l| l as u64);
            let hex = id.map(|i| format!("{i:x}"));
            Joined {
                entry,
                pids,
                id,
                registered: id.zip(live.as_ref()).map(|(i, set)| set.contains(&i)),
                load: hex.and_then(|h| loads.get(h.as_str()).copied()),
            }
        })
        .collect();
    if sort != Sort::default() {
        rows = sort.order(
            rows,
            |r| r.key(sort.col),
            |a, b| a.entry.watcher_name.cmp(&b.entry.watcher_name),
        );
    }
    rows
}

impl Panel for Instances {
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

    fn on_cmd(&mut self, cmd: Cmd, d: &Data) -> Vec<Outcome> {
        if let Some(nav) = keys::nav(cmd) {
            let n = rows(d, &self.ty, &self.filter).len();
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
            Cmd::Open => {
                if let Some((name, _)) = self.selected(d) {
                    return vec![push(super::entry::Entry::new(name))];
                }
            }
            Cmd::Copy => {
                let rows = joined(d, &self.ty, &self.filter, self.sort);
                if let Some(r) = self.cursor.selected().and_then(|s| rows.get(s)) {
                    return super::copy("watcher name", r.entry.watcher_name.clone());
                }
            }
            Cmd::Logs => {
                let shown = joined(d, &self.ty, &self.filter, self.sort);
                if let Some(r) = self.cursor.selected().and_then(|s| shown.get(s)) {
                    let w = r.entry.watcher_name.clone();
                    return super::logs::LogView::open(&w, vec![w.clone()], false, d);
                }
            }
            Cmd::RemoveThis => match self.selected(d) {
                Some((name, false)) => {
                    return vec![
                        Ask::Plan {
                            op: Op::Remove,
                            ty: self.ty.clone(),
                            target: Some(name),
                        }
                        .into(),
                    ];
                }
                Some((name, true)) => {
                    return vec![say(
                        Severity::Warn,
                        format!("{name} is parked (the template): nothing runs to remove"),
                    )];
                }
                None => {}
            },
            _ => {}
        }
        Vec::new()
    }

    fn draw(&self, frame: &mut Frame, area: Rect, app: &Data, v: &View, _top: bool) {
        let (ty, filter) = (self.ty.as_str(), &self.filter);
        let t = v.theme;
        let Some(cur) = &app.current else { return };
        let title = format!(
            " {} instances of {}, {}{} ",
            cur.name,
            safe(ty),
            self.sort.label(&SORT_NAMES),
            filter.suffix()
        );
        let inner = popup::open(
            frame.buffer_mut(),
            t,
            area,
            (
                area.width.saturating_sub(4).min(160),
                area.height.saturating_sub(2),
            ),
            &title,
            false,
        );
        if !cur.summary.types.iter().any(|x| x.ty == ty) {
            frame.render_widget(
                Paragraph::new(Line::styled(
                    format!("no {} in the file any more", safe(ty)),
                    t.muted(),
                )),
                inner,
            );
            return;
        }
        let shown = joined(app, ty, filter, self.sort);
        if shown.is_empty() {
            frame.render_widget(
                Paragraph::new(Line::styled("nothing matches the filter", t.muted())),
                inner,
            );
            return;
        }
        // Only the rows that fit are built.
        let window = self.cursor.window(table::body_height(inner).max(1));
        let start = window.start;
        let rows: Vec<TableRow> = shown[window]
            .iter()
            .map(|r| {
                let i = r.entry;
                let (id_text, id_style) = match r.registered {
                    Some(true) => (format!("{} ✓", r.id_text()), t.fg(t.magenta)),
                    Some(false) => (format!("{} ✗", r.id_text()), t.error()),
                    None => (r.id_text(), t.muted()),
                };
                let mut cells = vec![
                    Line::styled(safe(&i.watcher_name).into_owned(), t.fg(t.cyan)),
                    Line::styled(id_text, id_style),
                    Line::raw(if i.gpus.is_empty() {
                        "-".to_string()
                    } else {
                        safe(&i.gpus.join(",")).into_owned()
                    }),
                    Line::from(process(t, app, r.pids, i.parked)),
                ];
                if app.load.on {
                    cells.extend(load_cells(t, app, r.load));
                }
                TableRow::new(cells)
            })
            .collect();
        let cols = if app.load.on {
            &COLUMNS[..]
        } else {
            &COLUMNS[..4]
        };
        table::render(
            frame.buffer_mut(),
            inner,
            t,
            cols,
            &self.table,
            &rows,
            self.cursor.selected().and_then(|s| s.checked_sub(start)),
        );
    }
}

/// An instance's load cells: health, req/s, p95, in flight, KV (`-` when unknown; a stale
/// series says so).
fn load_cells<'a>(
    t: &crate::tui::theme::Theme,
    app: &Data,
    l: Option<&InstanceLoad>,
) -> Vec<Line<'a>> {
    use crate::tui::load::{count_text, level, rate_text, secs_text};
    let Some(l) = l else {
        return (0..5).map(|_| Line::styled("-", t.muted())).collect();
    };
    if l.stale {
        let mut v = vec![Line::styled("stale", t.fg(t.orange))];
        v.extend((0..4).map(|_| Line::styled("-", t.muted())));
        return v;
    }
    let th = &app.load.thresholds;
    let style = |lvl| crate::tui::ui::load::style_of(t, lvl);
    let health = match l.health.as_deref() {
        Some("ready") => Line::styled("ready", t.fg(t.green)),
        Some(h) => Line::styled(safe(h).into_owned(), t.error()),
        None => Line::styled("-", t.muted()),
    };
    vec![
        health,
        Line::styled(rate_text(l.requests_per_s), t.fg(t.text)),
        Line::styled(
            secs_text(l.p95_seconds),
            style(level(l.p95_seconds, th.p95_warn, th.p95_crit)),
        ),
        Line::styled(count_text(l.inflight), t.fg(t.text)),
        Line::styled(
            l.kv_cache_usage
                .map_or_else(|| "-".into(), |k| format!("{:.0}%", k * 100.0)),
            style(level(l.kv_cache_usage, th.kv_warn, th.kv_crit)),
        ),
    ]
}

/// A type's instances: which watcher and which instance (never cut), what runs, the GPUs,
/// then its load.
const COLUMNS: [Column; 9] = [
    Column::id("Watcher", 0).max(48),
    Column::id("Instance", 1).max(20),
    Column::text("GPUs", 4).min(4).max(16),
    Column::text("Process", 2).min(12).max(40),
    Column::text("Health", 3).min(5).max(10),
    Column::text("Req/s", 5).min(6).max(9).right(),
    Column::text("p95", 6).min(5).max(8).right(),
    Column::text("In flight", 7).min(4).max(9).right(),
    Column::text("KV", 8).min(3).max(5).right(),
];
