//! `s`: how many instances of the selected type should run. The running count is
//! pre-filled and selected: typing replaces it.

use crossterm::event::KeyCode;
use ratatui::Frame;
use ratatui::layout::{Alignment, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::{Ask, Outcome, Panel};
use crate::text::safe;
use crate::tui::action::Op;
use crate::tui::data::Data;
use crate::tui::keys::{Cmd, K, KeyDef, k};
use crate::tui::ui::View;
use crate::tui::widgets::input::Accept;
use crate::tui::widgets::{InputOutcome, TextInput, popup};

pub const TITLE: &str = "Scale to N";
pub const KEYS: &[KeyDef] = &[
    k(
        &[K(KeyCode::Enter)],
        "Enter",
        "show the plan for the typed N",
        Cmd::Open,
        false,
        "plan",
    ),
    k(
        &[K(KeyCode::Esc)],
        "Esc",
        "cancel",
        Cmd::Close,
        false,
        "cancel",
    ),
];

#[derive(Debug)]
pub struct ScalePrompt {
    pub ty: String,
    pub input: TextInput,
}

impl ScalePrompt {
    /// For `ty`, pre-filled with what runs now.
    pub fn new(ty: String, running: usize) -> ScalePrompt {
        ScalePrompt {
            ty,
            input: TextInput::new()
                .accept(Accept::Digits)
                .max_chars(6)
                .hint_words("plan", "cancel")
                .prefilled(&running.to_string()),
        }
    }
}

impl Panel for ScalePrompt {
    fn input_ref(&self) -> Option<&TextInput> {
        Some(&self.input)
    }

    fn input(&mut self) -> Option<&mut TextInput> {
        Some(&mut self.input)
    }

    fn on_input(&mut self, out: InputOutcome, d: &Data) -> Vec<Outcome> {
        match out {
            InputOutcome::Cancel => vec![Outcome::Pop],
            InputOutcome::Submit(v) => match v.parse::<usize>() {
                // An impossible target keeps the prompt open with the reason under it.
                Ok(n) if let Some(why) = impossible(d, &self.ty, n) => {
                    self.input.set_error(Some(why));
                    Vec::new()
                }
                Ok(n) => vec![
                    Outcome::Pop,
                    Ask::Plan {
                        op: Op::Scale(n),
                        ty: self.ty.clone(),
                        target: None,
                    }
                    .into(),
                ],
                Err(_) => {
                    self.input
                        .set_error(Some("type how many instances should run".into()));
                    Vec::new()
                }
            },
            _ => Vec::new(),
        }
    }

    fn on_cmd(&mut self, _cmd: Cmd, _d: &Data) -> Vec<Outcome> {
        Vec::new()
    }

    fn draw(&self, frame: &mut Frame, area: Rect, d: &Data, v: &View, _top: bool) {
        let t = v.theme;
        let running = d
            .current
            .as_ref()
            .map_or(0, |c| c.summary.running(&self.ty));
        // A reason under the input is wrapped, and the popup grows to show all of it.
        let width = 46u16.min(area.width);
        let error = self.input.error().map(|e| safe(e).into_owned());
        let text_w = usize::from(width.saturating_sub(2)).max(1);
        let extra = error
            .as_deref()
            .map_or(0, |e| e.chars().count().div_ceil(text_w).saturating_sub(1));
        let inner = popup::open(
            frame.buffer_mut(),
            t,
            area,
            (width, 7u16.saturating_add(extra.min(20) as u16)),
            " Scale ",
            false,
        );
        let mut prompt = vec![
            Span::styled(format!("{} ", safe(&self.ty)), t.fg(t.cyan)),
            Span::styled(format!("({running} running) to: "), t.fg(t.text)),
        ];
        prompt.extend(self.input.line(t, t.selected(), 8).spans);
        let last = match error {
            Some(e) => Line::styled(e, t.error()),
            None => Line::styled("Enter shows the plan; Esc cancels", t.muted()),
        };
        frame.render_widget(
            Paragraph::new(vec![Line::raw(""), Line::from(prompt), Line::raw(""), last])
                .alignment(Alignment::Center)
                .wrap(Wrap { trim: true }),
            inner,
        );
    }
}

/// Why scaling `ty` to `n` cannot be planned now (too many replicas, too few GPUs, circus
/// cannot follow, already there), worked out on a copy of the state.
fn impossible(d: &Data, ty: &str, n: usize) -> Option<String> {
    if let Some(why) = d.refusal(Op::Scale(n)) {
        return Some(why);
    }
    let cur = d.current.as_ref()?;
    let mut copy = cur.doc.state.clone();
    match super::confirm::plan_of(Op::Scale(n), None, &mut copy, ty) {
        Ok(p) if p.is_empty() => Some(format!("{ty} already runs {n}")),
        Ok(_) => None,
        Err(e) => Some(e.to_string()),
    }
}
