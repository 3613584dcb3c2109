//! The confirm of a change: the exact effect ("Add dynamo_VllmWorker_2 on GPU 4?"), what
//! happens to processes, and OK / Cancel (Cancel focused for removals). It holds the
//! *intent*; while open it follows the file, so it always states what confirming would do
//! now. Also the first of two confirms for a type that is not a worker, and the SIGKILL
//! offer after a stop timeout.

use crossterm::event::KeyCode;
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Wrap};

use super::{Ask, Outcome, Panel, push, say};
use crate::arbiter::Kill;
use crate::state::State;
use crate::state::scale::{self, Change, gpu_phrase};
use crate::text::safe;
use crate::tui::action::{Intent, Op, Route};
use crate::tui::data::{Data, Severity};
use crate::tui::keys::{C, Cmd, K, KeyDef, k};
use crate::tui::ui::View;
use crate::tui::widgets::popup;

pub const TITLE: &str = "Confirm";
pub const KEYS: &[KeyDef] = &[
    k(&[C('y')], "y", "yes, do it", Cmd::Yes, false, "yes"),
    k(&[C('n')], "n", "no, cancel", Cmd::No, false, "no"),
    k(
        &[
            K(KeyCode::Tab),
            K(KeyCode::Left),
            K(KeyCode::Right),
            C('h'),
            C('l'),
        ],
        "Tab/←/→",
        "switch button",
        Cmd::SwitchButton,
        false,
        "switch",
    ),
    k(
        &[K(KeyCode::Enter)],
        "Enter",
        "press the focused button",
        Cmd::Open,
        false,
        "press",
    ),
    k(&[K(KeyCode::Esc)], "Esc", "back", Cmd::Close, false, "back"),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfirmKind {
    /// The change itself.
    Change,
    /// First of two: the type is not a worker (Frontend, Planner, ...).
    Infra,
    /// After a stop timeout: kill the worker with SIGKILL.
    Kill,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Confirm {
    pub intent: Intent,
    pub question: String,
    /// Shown in red: removing the last running instance.
    pub warning: Option<String>,
    /// What happens to processes (or why nothing does), shown under the question.
    pub note: Option<String>,
    pub ok_focused: bool,
    pub kind: ConfirmKind,
    /// What the file said this would do when the confirm last looked. The confirm follows
    /// the file's changes, not the file as it is: one reopened with the effect an add
    /// actually met (`Moved`) may look at a file the TUI has not reloaded yet.
    seen: Option<Result<Vec<Change>, String>>,
}

/// What `op` would change, in order, applied to `state` (a copy).
pub fn plan_of(
    op: Op,
    target: Option<&str>,
    state: &mut State,
    ty: &str,
) -> Result<Vec<Change>, crate::state::RuleError> {
    match op {
        Op::Add => scale::add(state, ty).map(|c| vec![c]),
        Op::Remove => match target {
            Some(t) => scale::remove_entry(state, t).map(|c| vec![c]),
            None => scale::remove(state, ty).map(|c| vec![c]),
        },
        Op::Scale(n) => {
            scale::check_scale(state, ty, n)?;
            scale::scale(state, ty, n)
        }
    }
}

/// Two plans do the same thing.
fn same_plan(a: &[Change], b: &[Change]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.same_effect(y))
}

/// "add dynamo_VllmWorker_3 on GPU 4", "remove dynamo_VllmWorker_5 and free GPU 6".
fn plan_phrase(c: &Change) -> String {
    match c {
        Change::Added { name, gpus, .. } => {
            let on = gpu_phrase(gpus)
                .map(|g| format!(" on {g}"))
                .unwrap_or_default();
            format!("add {name}{on}")
        }
        Change::Removed {
            name, gpus, parked, ..
        } => {
            let free = gpu_phrase(gpus)
                .map(|g| format!(" and free {g}"))
                .unwrap_or_default();
            let park = if *parked { " (parked as template)" } else { "" };
            format!("remove {name}{free}{park}")
        }
    }
}

pub fn op_verb(op: Op) -> &'static str {
    match op {
        Op::Add => "add",
        Op::Remove => "remove",
        Op::Scale(_) => "scale",
    }
}

/// Applies the change (or the whole scale) to a copy of the state to say exactly what it
/// will do: the confirm to open, or why there is none. A type that is not a worker first
/// gets a confirm that says what scaling it means.
pub fn plan(d: &Data, op: Op, ty: String, target: Option<String>) -> Vec<Outcome> {
    let Some(cur) = &d.current else {
        return Vec::new();
    };
    if let Some(why) = d.refusal(op) {
        return vec![say(
            Severity::Error,
            format!("cannot {}: {why}", op_verb(op)),
        )];
    }
    let mut copy = cur.doc.state.clone();
    let plan = match plan_of(op, target.as_deref(), &mut copy, &ty) {
        Ok(p) if p.is_empty() => {
            return vec![say(
                Severity::Info,
                format!("{ty}: already at the requested count"),
            )];
        }
        Ok(p) => p,
        Err(e) => return vec![say(Severity::Error, format!("cannot {}: {e}", op_verb(op)))],
    };
    if !scale::is_worker_type(&cur.doc.state, &ty) {
        let (route, _) = d.route(op);
        let adds = plan.iter().any(|c| matches!(c, Change::Added { .. }));
        let (question, warning) = if adds {
            (
                format!("{ty} is not a worker. Run another {ty}?"),
                format!(
                    "Another {ty} runs beside the first: a second Frontend fights the first for its port (8000)."
                ),
            )
        } else {
            (
                format!("{ty} is not a worker. Stop a {ty}?"),
                format!("Removing it takes the {ty} service away from the deployment."),
            )
        };
        return vec![push(Confirm {
            intent: Intent {
                ns: cur.name.clone(),
                ty,
                op,
                expected: plan[0].clone(),
                plan,
                target,
                route,
                opts: d.scale_opts.clone(),
                live_before: None,
            },
            question,
            warning: Some(warning),
            note: Some("Step 1 of 2: the exact change comes next.".into()),
            ok_focused: false,
            kind: ConfirmKind::Infra,
            seen: None,
        })];
    }
    change(d, op, ty, target, plan)
        .map(push)
        .into_iter()
        .collect()
}

/// The confirm of `plan`, with its exact wording and where it goes.
pub fn change(
    d: &Data,
    op: Op,
    ty: String,
    target: Option<String>,
    plan: Vec<Change>,
) -> Option<Confirm> {
    let cur = d.current.as_ref()?;
    let first = plan.first().cloned()?;
    let last_one = plan.iter().find_map(|c| match c {
        Change::Removed {
            ty, remaining: 0, ..
        } => Some(format!(
            "This is the last running {ty}: none will run afterwards."
        )),
        _ => None,
    });
    let question = match op {
        Op::Scale(n) => {
            let steps: Vec<String> = plan.iter().map(plan_phrase).collect();
            format!("Scale {ty} to {n}: {}?", steps.join(", "))
        }
        _ => {
            let mut q = plan_phrase(&first);
            q[..1].make_ascii_uppercase();
            if matches!(first, Change::Removed { parked: true, .. }) {
                format!(
                    "{}? (it is the template: it stays, parked)",
                    q.trim_end_matches(" (parked as template)")
                )
            } else {
                format!("{q}?")
            }
        }
    };
    let removes = plan.iter().any(|c| matches!(c, Change::Removed { .. }));
    let (route, note) = d.route(op);
    Some(Confirm {
        intent: Intent {
            ns: cur.name.clone(),
            ty,
            op,
            expected: first,
            plan,
            target,
            route,
            opts: d.scale_opts.clone(),
            live_before: None,
        },
        question,
        warning: last_one,
        note: Some(note),
        ok_focused: !removes,
        kind: ConfirmKind::Change,
        seen: None,
    })
}

/// After a stop timeout: offer to kill the change that timed out (`done` changes of the
/// plan were made before it).
pub fn kill(intent: &Intent, done: usize, message: String) -> Confirm {
    let stuck = intent
        .plan
        .get(done)
        .cloned()
        .unwrap_or_else(|| intent.expected.clone());
    let name = stuck.name().to_string();
    let mut kill = intent.clone();
    kill.op = Op::Remove;
    kill.expected = stuck.clone();
    kill.target = Some(stuck.name().to_string());
    kill.plan = vec![stuck];
    kill.opts.kill = Kill::Now;
    Confirm {
        question: format!("{name} did not exit after SIGTERM. Kill it (SIGKILL)?"),
        warning: Some("SIGKILL ends it at once: requests in flight on it are lost.".into()),
        note: Some(message),
        ok_focused: false,
        kind: ConfirmKind::Kill,
        intent: kill,
        seen: None,
    }
}

impl Panel for Confirm {
    fn on_cmd(&mut self, cmd: Cmd, d: &Data) -> Vec<Outcome> {
        let go = match cmd {
            Cmd::SwitchButton => {
                self.ok_focused = !self.ok_focused;
                return Vec::new();
            }
            Cmd::Close => return vec![Outcome::Pop],
            Cmd::Yes => true,
            Cmd::No => false,
            Cmd::Open => self.ok_focused,
            _ => return Vec::new(),
        };
        let mut intent = self.intent.clone();
        if go && self.kind == ConfirmKind::Infra {
            // Step 2 of 2: the exact change.
            let next = change(d, intent.op, intent.ty, intent.target, intent.plan);
            return std::iter::once(Outcome::Pop)
                .chain(next.map(push))
                .collect();
        }
        // Close the whole add/remove flow: the confirm and the chooser under it.
        if !go {
            return vec![Outcome::PopFlow, say(Severity::Info, "cancelled")];
        }
        // The route is decided now, from what the arbiter said last: circus gone offline
        // since the confirm opened refuses it.
        if self.kind != ConfirmKind::Kill {
            if let Some(why) = d.refusal(intent.op) {
                return vec![
                    Outcome::PopFlow,
                    say(
                        Severity::Error,
                        format!("cannot {}: {why}", op_verb(intent.op)),
                    ),
                ];
            }
            intent.route = d.route(intent.op).0;
        }
        intent.live_before = d
            .live
            .as_ref()
            .and_then(|l| l.live_for_type(&intent.ns, &intent.ty));
        vec![Outcome::PopFlow, Ask::Start(intent).into()]
    }

    /// An open confirm follows the file: it always states what confirming would do now.
    fn on_data(&mut self, d: &Data) -> Vec<Outcome> {
        let Some(cur) = &d.current else {
            return Vec::new();
        };
        if self.kind != ConfirmKind::Change || self.intent.ns != cur.name {
            return Vec::new();
        }
        let (op, ty) = (self.intent.op, self.intent.ty.clone());
        let target = self.intent.target.clone();
        let mut copy = cur.doc.state.clone();
        let now = plan_of(op, target.as_deref(), &mut copy, &ty).map_err(|e| e.to_string());
        let before = self.seen.replace(now.clone());
        // The first look only takes note: a confirm is built from the file the TUI holds,
        // or (reopened after `Moved`) from a newer one it has not reloaded yet.
        let unchanged = match (&before, &now) {
            (None, _) => true,
            (Some(Ok(a)), Ok(b)) => same_plan(a, b),
            (Some(Err(a)), Err(b)) => a == b,
            _ => false,
        };
        if unchanged {
            return Vec::new();
        }
        match now {
            Ok(now) if same_plan(&now, &self.intent.plan) => Vec::new(),
            Ok(now) if now.is_empty() => vec![
                Outcome::Pop,
                say(
                    Severity::Warn,
                    format!("the state file changed: {ty} is already at the requested count"),
                ),
            ],
            Ok(now) => {
                let mut out = vec![Outcome::Pop];
                out.extend(change(d, op, ty, target, now).map(push));
                out.push(say(
                    Severity::Warn,
                    "the state file changed: the confirm now states the new effect",
                ));
                out
            }
            Err(e) => vec![
                Outcome::PopFlow,
                say(
                    Severity::Warn,
                    format!("the state file changed: cannot {} now: {e}", op_verb(op)),
                ),
            ],
        }
    }

    fn draw(&self, frame: &mut Frame, area: Rect, _d: &Data, v: &View, _top: bool) {
        let t = v.theme;
        let title = match (self.intent.op, self.kind) {
            (_, ConfirmKind::Infra | ConfirmKind::Kill) => " Confirm ",
            (Op::Scale(_), _) => " Confirm scale ",
            (Op::Remove, _) => " Confirm removal ",
            (Op::Add, _) => " Confirm add ",
        };
        let danger = self.kind != ConfirmKind::Change
            || self
                .intent
                .plan
                .iter()
                .any(|c| matches!(c, Change::Removed { .. }));
        let file_only =
            matches!(self.intent.route, Route::FileOnly(_)) && self.kind == ConfirmKind::Change;
        let (question, warning, note) = (
            &self.question,
            self.warning.as_deref(),
            self.note.as_deref(),
        );
        let w = 66u16.min(area.width);
        let text_w = w.saturating_sub(4).max(1) as usize;
        let q_lines = question.chars().count().div_ceil(text_w) as u16;
        let w_lines = warning.map_or(0, |s| s.chars().count().div_ceil(text_w) as u16 + 1);
        let n_lines = note.map_or(0, |s| s.chars().count().div_ceil(text_w) as u16 + 1);
        let inner = popup::open(
            frame.buffer_mut(),
            t,
            area,
            (w, q_lines + w_lines + n_lines + 6),
            title,
            danger,
        );
        let mut lines = vec![
            Line::raw(""),
            Line::styled(safe(question).into_owned(), t.fg(t.text)),
        ];
        if let Some(w) = warning {
            lines.push(Line::raw(""));
            lines.push(Line::styled(safe(w).into_owned(), t.error()));
        }
        if let Some(n) = note {
            lines.push(Line::raw(""));
            let style = if file_only {
                t.fg(t.orange)
            } else {
                t.fg(t.cyan)
            };
            lines.push(Line::styled(safe(n).into_owned(), style));
        }
        let [text_a, buttons_a] =
            Layout::vertical([Constraint::Min(1), Constraint::Length(2)]).areas(inner);
        frame.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .alignment(Alignment::Center),
            text_a.inner(ratatui::layout::Margin::new(1, 0)),
        );
        let button = |label: &'static str, focused: bool, danger: bool| {
            if focused {
                let st = if danger && t.colored() {
                    Style::new().fg(t.bg).bg(t.red).add_modifier(Modifier::BOLD)
                } else {
                    t.selected()
                };
                Span::styled(format!("▶[{label}]"), st)
            } else {
                Span::styled(format!(" [{label}]"), t.fg(t.text))
            }
        };
        frame.render_widget(
            Paragraph::new(vec![Line::from(vec![
                button("OK", self.ok_focused, danger),
                Span::raw("    "),
                button("Cancel", !self.ok_focused, false),
            ])])
            .alignment(Alignment::Center),
            buttons_a,
        );
    }
}
