//! `E` / `M` / `:events`: the event log. Every status message of the session (the last
//! [`HISTORY`]): sources failing and answering again (where and why), instances arriving
//! and leaving, actions started, done or failed, the planner's decisions. Newest at the
//! bottom; the cursor stays on the newest while it is there, else on its event. `/`
//! filters (text, time or severity word: `/error`), `c` copies the selected event, the
//! selected event is shown whole under the list.

use crossterm::event::KeyCode;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::{Outcome, Panel};
use crate::text::safe;
use crate::tui::data::{Data, HISTORY, Status};
use crate::tui::keys::{self, BOTTOM, C, Cmd, K, KeyDef, PAGE_DOWN, PAGE_UP, TOP, k};
use crate::tui::ui::View;
use crate::tui::widgets::table::fit_line;
use crate::tui::widgets::{Filter, InputOutcome, ListCursor, TextInput, popup};

pub const TITLE: &str = "Event log";
pub const KEYS: &[KeyDef] = &[
    k(
        &[C('k'), K(KeyCode::Up)],
        "k/↑",
        "older",
        Cmd::Up,
        false,
        "up",
    ),
    k(
        &[C('j'), K(KeyCode::Down)],
        "j/↓",
        "newer",
        Cmd::Down,
        false,
        "down",
    ),
    PAGE_UP,
    PAGE_DOWN,
    TOP,
    BOTTOM,
    k(
        &[C('/')],
        "/",
        "filter (text, time, error/warning)",
        Cmd::Filter,
        false,
        "filter",
    ),
    k(
        &[K(KeyCode::Esc), C('M'), C('E')],
        "Esc/M/E",
        "clear the filter / close",
        Cmd::Close,
        false,
        "close",
    ),
    crate::tui::keys::COPY,
];

#[derive(Debug)]
pub struct Messages {
    /// On an event's number ([`Data::said`]).
    pub cursor: ListCursor<u64>,
    pub filter: Filter,
    /// The cursor is on the newest event: it stays there as events come.
    tail: bool,
}

impl Default for Messages {
    fn default() -> Self {
        Messages {
            cursor: ListCursor::new(),
            filter: Filter::default(),
            tail: true,
        }
    }
}

/// The events that pass the filter, oldest first, with their numbers.
pub fn rows<'a>(d: &'a Data, filter: &Filter) -> Vec<(u64, &'a Status)> {
    let first = d.said.saturating_sub(d.history.len() as u64);
    d.history
        .iter()
        .enumerate()
        .map(|(i, m)| (first + i as u64, m))
        .filter(|(_, m)| filter.matches(&[&m.text, &m.at, m.severity.word()]))
        .collect()
}

impl Messages {
    fn sync(&mut self, d: &Data) {
        let rows = rows(d, &self.filter);
        if self.tail {
            self.cursor.select_index(usize::MAX, rows.len());
        }
        self.cursor.sync(rows.iter().map(|(n, _)| *n));
    }

    fn selected<'a>(&self, d: &'a Data) -> Option<&'a Status> {
        let rows = rows(d, &self.filter);
        self.cursor
            .selected()
            .and_then(|i| rows.get(i))
            .map(|(_, m)| *m)
    }
}

impl Panel for Messages {
    fn input_ref(&self) -> Option<&TextInput> {
        self.filter.active()
    }

    fn input(&mut self) -> Option<&mut TextInput> {
        self.filter.input()
    }

    fn on_input(&mut self, out: InputOutcome, d: &Data) -> Vec<Outcome> {
        self.filter.on_input(&out);
        self.tail = true;
        self.sync(d);
        Vec::new()
    }

    fn on_data(&mut self, d: &Data) -> Vec<Outcome> {
        self.sync(d);
        Vec::new()
    }

    fn on_cmd(&mut self, cmd: Cmd, d: &Data) -> Vec<Outcome> {
        if let Some(nav) = keys::nav(cmd) {
            let n = rows(d, &self.filter).len();
            self.cursor.apply(nav, n);
            self.tail = self.cursor.index() + 1 >= n;
            self.sync(d);
            return Vec::new();
        }
        match cmd {
            Cmd::Filter => self.filter.start(),
            Cmd::Close if !self.filter.text().is_empty() => {
                self.filter.clear();
                self.tail = true;
                self.sync(d);
            }
            Cmd::Close => return vec![Outcome::Pop],
            Cmd::Copy => {
                let text = self
                    .selected(d)
                    .map(|m| format!("{} {} {}", m.at, m.severity.word(), m.text))
                    .unwrap_or_default();
                return super::copy("event", text);
            }
            _ => {}
        }
        Vec::new()
    }

    fn draw(&self, frame: &mut Frame, area: Rect, d: &Data, v: &View, _top: bool) {
        let t = v.theme;
        let rows = rows(d, &self.filter);
        let title = format!(
            " Events ({} of the last {}{}){} ",
            rows.len(),
            HISTORY,
            if d.history.len() < HISTORY {
                format!(", {} so far", d.history.len())
            } else {
                String::new()
            },
            self.filter.suffix()
        );
        let inner = popup::open(
            frame.buffer_mut(),
            t,
            area,
            (
                area.width.saturating_sub(4).min(140),
                area.height.saturating_sub(2),
            ),
            &title,
            false,
        );
        if rows.is_empty() {
            let text = if d.history.is_empty() {
                "no events yet"
            } else {
                "nothing matches the filter"
            };
            frame.render_widget(Paragraph::new(Line::styled(text, t.muted())), inner);
            return;
        }
        // The list, then the selected event whole (wrapped) under a rule.
        let sel = self.selected(d);
        let detail_h = sel.map_or(1, |m| {
            let w = inner.width.max(1) as usize;
            (m.text.chars().count() + m.at.len() + 3)
                .div_ceil(w)
                .clamp(1, 4) as u16
        });
        let [list_a, rule_a, detail_a] = Layout::vertical([
            Constraint::Min(1),
            Constraint::Length(1),
            Constraint::Length(detail_h),
        ])
        .areas(inner);
        let window = self.cursor.window(list_a.height.max(1) as usize);
        let start = window.start;
        let w = list_a.width as usize;
        let lines: Vec<Line> = rows[window]
            .iter()
            .enumerate()
            .map(|(i, (_, m))| {
                let (sym, style) = m.severity.look(t);
                let line = Line::from(vec![
                    Span::styled(format!("{} ", m.at), t.muted()),
                    Span::styled(format!("{sym} "), style),
                    Span::styled(safe(&m.text).into_owned(), style),
                ]);
                let line = fit_line(&line, w);
                if self.cursor.selected() == Some(start + i) {
                    line.style(t.selected())
                } else {
                    line
                }
            })
            .collect();
        frame.render_widget(Paragraph::new(lines), list_a);
        frame.render_widget(
            Paragraph::new(Line::styled("─".repeat(rule_a.width as usize), t.muted())),
            rule_a,
        );
        if let Some(m) = sel {
            let (sym, style) = m.severity.look(t);
            frame.render_widget(
                Paragraph::new(Line::from(vec![
                    Span::styled(format!("{} ", m.at), t.muted()),
                    Span::styled(format!("{sym} "), style),
                    Span::styled(safe(&m.text).into_owned(), style),
                ]))
                .wrap(Wrap { trim: false }),
                detail_a,
            );
        }
    }
}
