//! `:`: the command bar at the bottom of the screen: `q`, `ns NAME`, `scale TYPE N`, or a
//! type name (a prefix will do) to select its row. Tab completes.

use crossterm::event::KeyCode;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Span;
use ratatui::widgets::Clear;

use super::{Ask, Outcome, Panel, say};
use crate::tui::action::Op;
use crate::tui::data::{Data, Listing, Severity};
use crate::tui::keys::{Cmd, K, KeyDef, k};
use crate::tui::ui::View;
use crate::tui::widgets::{InputOutcome, TextInput, popup};

pub const TITLE: &str = "Command bar";
pub const KEYS: &[KeyDef] = &[
    k(
        &[K(KeyCode::Tab)],
        "Tab",
        "complete the word",
        Cmd::Complete,
        false,
        "complete",
    ),
    k(
        &[K(KeyCode::Enter)],
        "Enter",
        "run it",
        Cmd::Open,
        false,
        "run",
    ),
    k(
        &[K(KeyCode::Esc)],
        "Esc",
        "close",
        Cmd::Close,
        false,
        "close",
    ),
];

#[derive(Debug)]
pub struct CommandBar {
    pub input: TextInput,
}

impl Default for CommandBar {
    fn default() -> Self {
        CommandBar {
            input: TextInput::new().completing().hint_words("run", "close"),
        }
    }
}

/// What Tab completes the word at the cursor from: the commands and the open namespace's
/// types (lower-cased, as shortcuts), after `ns ` the namespaces, after `scale ` the types.
fn pool(d: &Data, head: &str) -> Vec<String> {
    let types: Vec<String> = d
        .current
        .as_ref()
        .map(|c| c.summary.types.iter().map(|t| t.ty.clone()).collect())
        .unwrap_or_default();
    match head.trim() {
        "" => ["ns", "scale", "events", "q"]
            .iter()
            .map(|s| s.to_string())
            .chain(types.iter().map(|t| t.to_lowercase()))
            .collect(),
        "ns" => match &d.listing {
            // Only namespaces that can be opened.
            Listing::Found(list) => list
                .iter()
                .filter(|n| n.brief.is_ok())
                .map(|n| n.name.clone())
                .collect(),
            _ => vec![],
        },
        "scale" => types,
        _ => vec![],
    }
}

/// Runs a command line.
fn run(d: &Data, line: &str) -> Vec<Outcome> {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        [] => Vec::new(),
        ["q" | "quit"] => vec![Outcome::Quit],
        ["events" | "messages"] => vec![super::push(super::messages::Messages::default())],
        ["ns", name] => {
            let known =
                matches!(&d.listing, Listing::Found(l) if l.iter().any(|n| n.name == *name));
            if !known {
                return vec![say(Severity::Error, format!("no namespace {name}"))];
            }
            vec![Outcome::PopAll, Ask::Open(name.to_string()).into()]
        }
        ["scale", ty, n] => {
            if d.readonly {
                return vec![say(
                    Severity::Warn,
                    "read-only mode (--readonly): scale is off",
                )];
            }
            let Some(cur) = &d.current else {
                return vec![say(Severity::Warn, "open a namespace first (:ns NAME)")];
            };
            let Some(t) = cur
                .summary
                .types
                .iter()
                .find(|t| t.ty.eq_ignore_ascii_case(ty))
            else {
                return vec![say(
                    Severity::Error,
                    format!("no type {ty} in {}", cur.name),
                )];
            };
            match n.parse::<usize>() {
                Ok(n) => vec![
                    Ask::Plan {
                        op: Op::Scale(n),
                        ty: t.ty.clone(),
                        target: None,
                    }
                    .into(),
                ],
                Err(_) => vec![say(Severity::Error, format!("{n} is not a count"))],
            }
        }
        [word] if d.current.is_some() => vec![Ask::Select(word.to_string()).into()],
        _ => vec![say(
            Severity::Error,
            format!("unknown command: {line} (try ns NAME, scale TYPE N, events, q, or a type)"),
        )],
    }
}

impl Panel for CommandBar {
    fn input_ref(&self) -> Option<&TextInput> {
        Some(&self.input)
    }

    fn input(&mut self) -> Option<&mut TextInput> {
        Some(&mut self.input)
    }

    fn on_input(&mut self, out: InputOutcome, d: &Data) -> Vec<Outcome> {
        match out {
            InputOutcome::Cancel => vec![Outcome::Pop],
            InputOutcome::Submit(line) => {
                let mut o = vec![Outcome::Pop];
                o.extend(run(d, line.trim()));
                o
            }
            InputOutcome::Complete => {
                let head = self.input.word().0.to_string();
                self.input.complete(&pool(d, &head));
                Vec::new()
            }
            _ => Vec::new(),
        }
    }

    fn on_cmd(&mut self, _cmd: Cmd, _d: &Data) -> Vec<Outcome> {
        Vec::new()
    }

    fn draw(&self, frame: &mut Frame, area: Rect, _d: &Data, v: &View, _top: bool) {
        let t = v.theme;
        let h = 2 + self.input.rows();
        let r = Rect {
            x: area.x,
            y: area.y + area.height.saturating_sub(h),
            width: area.width,
            height: h.min(area.height),
        };
        frame.render_widget(Clear, r);
        let inner = popup::open_at(
            frame.buffer_mut(),
            t,
            r,
            " Command (Tab completes, Enter runs, Esc closes) ",
            false,
        );
        self.input.render(
            frame.buffer_mut(),
            inner,
            t,
            Span::styled(":", t.fg(t.magenta)),
        );
    }
}
