//! Enter on a component row: the type's instances (watcher, GPUs, process, lease).
//! Enter opens one; `x` removes that very instance; `/` filters.

use crossterm::event::KeyCode;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;

use super::{Ask, Outcome, Panel, push, say};
use crate::state::scale;
use crate::text::safe;
use crate::tui::action::Op;
use crate::tui::data::{Data, Severity};
use crate::tui::keys::{self, BOTTOM, C, Cmd, K, KeyDef, PAGE_DOWN, PAGE_UP, TOP, k};
use crate::tui::ui::View;
use crate::tui::ui::instances::{process, registered};
use crate::tui::widgets::table::{self, TableRow};
use crate::tui::widgets::{Column, Filter, InputOutcome, ListCursor, TableState, TextInput, popup};

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
];

#[derive(Debug)]
pub struct Instances {
    pub ty: String,
    /// On an entry name.
    pub cursor: ListCursor<String>,
    pub filter: Filter,
    /// Column widths seen, so they do not jump as rows change.
    pub table: TableState,
}

impl Instances {
    pub fn new(ty: String) -> Instances {
        Instances {
            ty,
            cursor: ListCursor::new(),
            filter: Filter::default(),
            table: TableState::new(),
        }
    }

    fn sync(&mut self, d: &Data) {
        let rows = rows(d, &self.ty, &self.filter);
        self.cursor.sync(rows.iter().map(|i| &i.name));
    }

    /// The selected row's entry name and whether it is parked.
    pub fn selected(&self, d: &Data) -> Option<(String, bool)> {
        let rows = rows(d, &self.ty, &self.filter);
        let i = rows.get(self.cursor.selected()?)?;
        Some((i.name.clone(), i.parked))
    }
}

/// The type's entries that pass the filter.
pub fn rows<'a>(d: &'a Data, ty: &str, filter: &Filter) -> Vec<&'a scale::Instance> {
    let Some(cur) = &d.current else {
        return Vec::new();
    };
    cur.summary
        .types
        .iter()
        .find(|t| t.ty == ty)
        .map(|t| {
            t.instances
                .iter()
                .filter(|i| filter.matches(&[&i.watcher_name, &i.gpus.join(",")]))
                .collect()
        })
        .unwrap_or_default()
}

impl Panel for Instances {
    fn input_ref(&self) -> Option<&TextInput> {
        self.filter.typing.then_some(&self.filter.input)
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
            Cmd::Logs => {
                let shown = rows(d, &self.ty, &self.filter);
                if let Some(i) = self.cursor.selected().and_then(|s| shown.get(s)) {
                    let w = i.watcher_name.clone();
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
            " {} instances of {}{} ",
            cur.name,
            safe(ty),
            filter.suffix()
        );
        let inner = popup::open(
            frame.buffer_mut(),
            t,
            area,
            (
                area.width.saturating_sub(4).min(120),
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
        let shown = rows(app, ty, filter);
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
            .map(|i| {
                let lease = cur
                    .doc
                    .state
                    .components
                    .get(&i.name)
                    .map(|c| match &c.lease {
                        None => "-".to_string(),
                        Some(None) => "null".to_string(),
                        Some(Some(n)) => format!(
                            "{n}{}",
                            n.as_i64().map_or("", |l| registered(app, &cur.name, l))
                        ),
                    })
                    .unwrap_or_default();
                TableRow::new([
                    Line::styled(safe(&i.watcher_name).into_owned(), t.fg(t.cyan)),
                    Line::raw(if i.gpus.is_empty() {
                        "-".to_string()
                    } else {
                        safe(&i.gpus.join(",")).into_owned()
                    }),
                    Line::from(process(t, app, &i.watcher_name, i.parked)),
                    Line::styled(safe(&lease).into_owned(), t.muted()),
                ])
            })
            .collect();
        table::render(
            frame.buffer_mut(),
            inner,
            t,
            &COLUMNS,
            &self.table,
            &rows,
            self.cursor.selected().and_then(|s| s.checked_sub(start)),
        );
    }
}

/// A type's instances: which watcher (never cut), what runs, then GPUs and the lease.
const COLUMNS: [Column; 4] = [
    Column::id("Watcher", 0).max(48),
    Column::text("GPUs", 2).min(4).max(16),
    Column::text("Process", 1).min(12),
    Column::text("Lease", 3).min(6).max(40),
];
