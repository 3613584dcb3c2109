//! `M`: the last status messages, newest at the bottom, wrapped; pages like every scroll
//! view and stays at the newest while it is there.

use crossterm::event::KeyCode;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::{Outcome, Panel};
use crate::text::safe;
use crate::tui::data::{Data, HISTORY, Severity};
use crate::tui::keys::{self, BOTTOM, C, Cmd, K, KeyDef, PAGE_DOWN, PAGE_UP, TOP, k};
use crate::tui::ui::View;
use crate::tui::widgets::{Scroll, popup};

pub const TITLE: &str = "Message history";
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
        &[K(KeyCode::Esc), C('M'), C('E')],
        "Esc/M/E",
        "close",
        Cmd::Close,
        false,
        "close",
    ),
];

#[derive(Debug)]
pub struct Messages {
    pub scroll: Scroll,
}

impl Default for Messages {
    fn default() -> Self {
        Messages {
            scroll: Scroll::tail(),
        }
    }
}

impl Panel for Messages {
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
        let title = format!(" Messages ({} of the last {}) ", d.history.len(), HISTORY);
        let inner = popup::open(
            frame.buffer_mut(),
            t,
            area,
            (
                area.width.saturating_sub(4).min(110),
                area.height.saturating_sub(2),
            ),
            &title,
            false,
        );
        let lines: Vec<Line> = d
            .history
            .iter()
            .map(|m| {
                let style = match m.severity {
                    Severity::Info => t.fg(t.text),
                    Severity::Ok => t.fg(t.green),
                    Severity::Warn => t.fg(t.orange),
                    Severity::Error => t.error(),
                };
                Line::from(vec![
                    Span::styled(format!("{} ", m.at), t.muted()),
                    Span::styled(safe(&m.text).into_owned(), style),
                ])
            })
            .collect();
        let lines = if lines.is_empty() {
            vec![Line::styled("no messages yet", t.muted())]
        } else {
            lines
        };
        // Wrapped: the scroll counts rows, not messages.
        let w = inner.width.max(1) as usize;
        let total: usize = lines.iter().map(|l| l.width().div_ceil(w).max(1)).sum();
        let off = self.scroll.fit(total, inner.height as usize);
        let off = off.min(u16::MAX as usize) as u16;
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .scroll((off, 0)),
            inner,
        );
    }
}
