//! `a` / `r`: which type to add or remove (workers first).

use crossterm::event::KeyCode;
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{HighlightSpacing, List, ListItem, ListState, Paragraph};

use super::{Ask, Outcome, Panel, say};
use crate::text::safe;
use crate::tui::action::Op;
use crate::tui::data::{Data, Severity};
use crate::tui::keys::{C, Cmd, K, KeyDef, k};
use crate::tui::ui::View;
use crate::tui::widgets::popup;

pub const TITLE: &str = "Choose a type";
pub const KEYS: &[KeyDef] = &[
    k(
        &[C('k'), K(KeyCode::Up)],
        "k/↑",
        "previous type",
        Cmd::Up,
        false,
        "up",
    ),
    k(
        &[C('j'), K(KeyCode::Down)],
        "j/↓",
        "next type",
        Cmd::Down,
        false,
        "down",
    ),
    k(
        &[K(KeyCode::Enter)],
        "Enter",
        "choose",
        Cmd::Open,
        false,
        "choose",
    ),
    k(&[K(KeyCode::Esc)], "Esc", "back", Cmd::Close, false, "back"),
];

#[derive(Debug)]
pub struct Choose {
    pub op: Op,
    pub types: Vec<String>,
    /// None: nothing preselected (only infrastructure to offer); j/k pick one.
    pub selected: Option<usize>,
    /// Per type, why adding one cannot go now ("no free GPU"), marked before it is picked.
    /// Worked out when the data changes, not per frame.
    pub blocked: Vec<Option<String>>,
}

impl Choose {
    pub fn new(op: Op, types: Vec<String>, selected: Option<usize>) -> Choose {
        Choose {
            op,
            types,
            selected,
            blocked: Vec::new(),
        }
    }
}

/// A short mark for why `ty` cannot be added now, if it cannot.
fn add_blocked(d: &Data, ty: &str) -> Option<String> {
    let cur = d.current.as_ref()?;
    let mut copy = cur.doc.state.clone();
    match crate::state::scale::add(&mut copy, ty) {
        Ok(_) => None,
        Err(
            crate::state::RuleError::NotEnoughGpus { .. }
            | crate::state::RuleError::NotEnoughGpusFor { .. },
        ) => Some("no free GPU".into()),
        Err(e) => Some(e.to_string()),
    }
}

impl Panel for Choose {
    fn on_data(&mut self, d: &Data) -> Vec<Outcome> {
        self.blocked = match self.op {
            Op::Add => self.types.iter().map(|ty| add_blocked(d, ty)).collect(),
            _ => Vec::new(),
        };
        Vec::new()
    }

    fn on_cmd(&mut self, cmd: Cmd, d: &Data) -> Vec<Outcome> {
        let last = self.types.len().saturating_sub(1);
        // No type can change while circus cannot follow: close, saying why and how.
        if cmd == Cmd::Open
            && let Some(why) = d.refusal(self.op)
        {
            let verb = crate::tui::panels::confirm::op_verb(self.op);
            return vec![
                Outcome::Pop,
                say(Severity::Error, format!("cannot {verb}: {why}")),
            ];
        }
        match cmd {
            Cmd::Up => self.selected = Some(self.selected.map_or(0, |s| s.saturating_sub(1))),
            Cmd::Down => self.selected = Some(self.selected.map_or(0, |s| (s + 1).min(last))),
            Cmd::Close => return vec![Outcome::Pop],
            Cmd::Open => {
                return match self.selected.and_then(|i| self.types.get(i)) {
                    Some(ty) => vec![
                        Ask::Plan {
                            op: self.op,
                            ty: ty.clone(),
                            target: None,
                        }
                        .into(),
                    ],
                    None => vec![say(Severity::Info, "pick a type first (j/k)")],
                };
            }
            _ => {}
        }
        Vec::new()
    }

    fn draw(&self, frame: &mut Frame, area: Rect, d: &Data, v: &View, _top: bool) {
        let t = v.theme;
        let title = match self.op {
            Op::Add => " Add which type? ",
            Op::Remove | Op::Scale(_) => " Remove which type? ",
        };
        let inner = popup::open(
            frame.buffer_mut(),
            t,
            area,
            (46, self.types.len() as u16 + 4),
            title,
            false,
        );
        let running = |ty: &str| d.current.as_ref().map_or(0, |c| c.summary.running(ty));
        let items: Vec<ListItem> = self
            .types
            .iter()
            .enumerate()
            .map(|(i, ty)| {
                let state = match self.blocked.get(i).and_then(Option::as_ref) {
                    Some(why) => Span::styled(format!("✗ {}", safe(why)), t.fg(t.orange)),
                    None => Span::styled(format!("{} running", running(ty)), t.muted()),
                };
                ListItem::new(Line::from(vec![
                    Span::styled(format!("{:<18}", safe(ty)), t.fg(t.cyan)),
                    state,
                ]))
            })
            .collect();
        let [list_a, help_a] =
            Layout::vertical([Constraint::Min(1), Constraint::Length(1)]).areas(inner);
        let mut st = ListState::default().with_selected(self.selected);
        frame.render_stateful_widget(
            List::new(items)
                .highlight_symbol("▶ ")
                .highlight_spacing(HighlightSpacing::Always)
                .highlight_style(t.selected()),
            list_a,
            &mut st,
        );
        frame.render_widget(
            Paragraph::new(Line::styled("Enter choose · Esc back", t.muted()))
                .alignment(Alignment::Center),
            help_a,
        );
    }
}
