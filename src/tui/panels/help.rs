//! `?`: every key, grouped by panel, the section of the screen it was asked from first.
//! Pages like every scroll view and says where it is.

use crossterm::event::KeyCode;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{Outcome, Panel, Scope};
use crate::tui::data::Data;
use crate::tui::keys::{self, BOTTOM, C, Cmd, K, KeyDef, PAGE_DOWN, PAGE_UP, TOP, k};
use crate::tui::ui::View;
use crate::tui::widgets::{Scroll, popup};

pub const TITLE: &str = "Help";
pub const KEYS: &[KeyDef] = &[
    k(
        &[K(KeyCode::Esc), C('?')],
        "Esc/?",
        "close the help",
        Cmd::Close,
        false,
        "close",
    ),
    k(
        &[C('k'), K(KeyCode::Up)],
        "k/↑",
        "scroll up",
        Cmd::Up,
        false,
        "",
    ),
    k(
        &[C('j'), K(KeyCode::Down)],
        "j/↓",
        "scroll down",
        Cmd::Down,
        false,
        "",
    ),
    PAGE_UP,
    PAGE_DOWN,
    TOP,
    BOTTOM,
];

#[derive(Debug)]
pub struct Help {
    /// The scope it was asked from: its section comes first.
    pub from: Scope,
    pub scroll: Scroll,
}

impl Help {
    pub fn new(from: Scope) -> Help {
        Help {
            from,
            scroll: Scroll::new(),
        }
    }
}

type Section = (Scope, Vec<(&'static str, &'static str)>);

fn rows(secs: &[Section]) -> usize {
    secs.iter().map(|(_, r)| r.len() + 1).sum()
}

impl Panel for Help {
    fn on_cmd(&mut self, cmd: Cmd, _d: &Data) -> Vec<Outcome> {
        if let Some(nav) = keys::nav(cmd) {
            self.scroll.apply(nav);
        } else if cmd == Cmd::Close {
            return vec![Outcome::Pop];
        }
        Vec::new()
    }

    fn draw(&self, frame: &mut Frame, area: Rect, d: &Data, v: &View, _top: bool) {
        let t = v.theme;
        let sections = keys::help(d.readonly, self.from);
        let size = (
            area.width.saturating_sub(4).min(100),
            area.height.saturating_sub(2),
        );
        // The position goes in the title: drawn after the body is measured.
        let r = popup::centered(area, size.0, size.1);
        let inner = ratatui::widgets::Block::bordered().inner(r);
        let [body, note] = Layout::vertical([
            Constraint::Min(1),
            Constraint::Length(if d.readonly { 1 } else { 0 }),
        ])
        .areas(inner);
        // Two columns when there is room, split where they come out most even (sections
        // stay whole); the scroll stops when the longer column's end is in view.
        let split = if body.width >= 80 {
            (0..=sections.len())
                .min_by_key(|&i| rows(&sections[..i]).max(rows(&sections[i..])))
                .unwrap_or(sections.len())
        } else {
            sections.len()
        };
        let longest = rows(&sections[..split]).max(rows(&sections[split..]));
        let off = self.scroll.fit(longest, body.height as usize) as u16;
        let title = match self.scroll.position() {
            Some(p) => format!(" Help: keys ({p}) "),
            None => " Help: keys ".to_string(),
        };
        popup::open_at(frame.buffer_mut(), t, r, &title, false);
        if d.readonly {
            frame.render_widget(
                Paragraph::new(Line::styled(
                    "read-only: the add and remove keys are off",
                    t.fg(t.orange),
                )),
                note,
            );
        }
        let lines = |secs: &[Section]| {
            let mut lines: Vec<Line> = Vec::new();
            for (scope, rows) in secs {
                lines.push(Line::styled(scope.title().to_string(), t.title()));
                for (label, desc) in rows {
                    lines.push(Line::from(vec![
                        Span::styled(format!("  {label:<10}"), t.fg(t.magenta)),
                        Span::styled(desc.to_string(), t.fg(t.text)),
                    ]));
                }
            }
            lines
        };
        if split < sections.len() {
            let [left, right] =
                Layout::horizontal([Constraint::Percentage(50), Constraint::Percentage(50)])
                    .areas(body);
            frame.render_widget(
                Paragraph::new(lines(&sections[..split])).scroll((off, 0)),
                left,
            );
            frame.render_widget(
                Paragraph::new(lines(&sections[split..])).scroll((off, 0)),
                right,
            );
        } else {
            frame.render_widget(Paragraph::new(lines(&sections)).scroll((off, 0)), body);
        }
    }
}
