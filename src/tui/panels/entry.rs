//! Enter on an instance: its whole entry (watcher, GPUs, process, lease, command, its
//! `--worker-env` with `DYNAMO_SERVICE_CONFIG` pretty-printed, the entry as in the file).

use crossterm::event::KeyCode;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{Ask, Outcome, Panel, say};
use crate::state::scale::parse_entry;
use crate::text::safe;
use crate::tui::action::Op;
use crate::tui::data::{Data, Severity};
use crate::tui::keys::{self, BOTTOM, C, Cmd, K, KeyDef, PAGE_DOWN, PAGE_UP, TOP, k};
use crate::tui::ui::View;
use crate::tui::ui::instances::{process, render_document, worker_env_lines};
use crate::tui::widgets::{Scroll, popup};

pub const TITLE: &str = "One instance";
pub const KEYS: &[KeyDef] = &[
    crate::tui::keys::SCROLL_UP,
    crate::tui::keys::SCROLL_DOWN,
    PAGE_UP,
    PAGE_DOWN,
    TOP,
    BOTTOM,
    k(
        &[C('l')],
        "l",
        "the instance's log",
        Cmd::Logs,
        false,
        "logs",
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
    crate::tui::keys::COPY,
];

#[derive(Debug)]
pub struct Entry {
    pub name: String,
    pub scroll: Scroll,
}

impl Entry {
    pub fn new(name: String) -> Entry {
        Entry {
            name,
            scroll: Scroll::new(),
        }
    }
}

impl Panel for Entry {
    fn on_cmd(&mut self, cmd: Cmd, d: &Data) -> Vec<Outcome> {
        if let Some(nav) = keys::nav(cmd) {
            self.scroll.apply(nav);
            return Vec::new();
        }
        match cmd {
            Cmd::Close => vec![Outcome::Pop],
            // The watcher name as circus knows it (the entry's key when it has none).
            Cmd::Copy => {
                let watcher = d.current.as_ref().and_then(|c| {
                    c.summary
                        .types
                        .iter()
                        .flat_map(|t| t.instances.iter())
                        .find(|i| i.name == self.name)
                        .map(|i| i.watcher_name.clone())
                });
                super::copy("watcher name", watcher.unwrap_or_else(|| self.name.clone()))
            }
            Cmd::Logs => {
                let Some(c) = d
                    .current
                    .as_ref()
                    .and_then(|c| c.doc.state.components.get(&self.name))
                else {
                    return Vec::new();
                };
                let w = c.watcher_name.clone();
                super::logs::LogView::open(&w, vec![w.clone()], false, d)
            }
            Cmd::RemoveThis => {
                let Some(cur) = &d.current else {
                    return Vec::new();
                };
                let name = self.name.clone();
                let ty = parse_entry(&cur.doc.state.namespace, &name).ty;
                if cur
                    .doc
                    .state
                    .components
                    .get(&name)
                    .is_some_and(|c| c.is_parked())
                {
                    vec![say(
                        Severity::Warn,
                        format!("{name} is parked (the template): nothing runs to remove"),
                    )]
                } else {
                    vec![
                        Ask::Plan {
                            op: Op::Remove,
                            ty,
                            target: Some(name),
                        }
                        .into(),
                    ]
                }
            }
            _ => Vec::new(),
        }
    }

    fn draw(&self, frame: &mut Frame, area: Rect, app: &Data, v: &View, _top: bool) {
        let name = self.name.as_str();
        let t = v.theme;
        let Some(cur) = &app.current else { return };
        let title = format!(" {} ", safe(name));
        let inner = popup::open(
            frame.buffer_mut(),
            t,
            area,
            (
                area.width.saturating_sub(2).min(130),
                area.height.saturating_sub(2),
            ),
            &title,
            false,
        );
        let Some(c) = cur.doc.state.components.get(name) else {
            frame.render_widget(
                Paragraph::new(Line::styled(
                    format!("{} is no longer in the file", safe(name)),
                    t.muted(),
                )),
                inner,
            );
            return;
        };
        let field = |k: &str, v: Span<'static>| {
            Line::from(vec![Span::styled(format!("{k:<10}"), t.muted()), v])
        };
        let gpus: Vec<String> = c.gpus().iter().map(|g| g.to_string()).collect();
        // In hex, as discovery and `top` print instance ids (the file keeps decimal).
        let lease = match &c.lease {
            None => "-".to_string(),
            Some(None) => "null (parked)".to_string(),
            Some(Some(n)) => match n.as_i64() {
                Some(l) => format!(
                    "{:x} ({n} in the file){}",
                    l as u64,
                    crate::tui::ui::instances::registered(app, &cur.name, l)
                ),
                None => n.to_string(),
            },
        };
        let mut lines = vec![
            field(
                "watcher",
                Span::styled(safe(&c.watcher_name).into_owned(), t.fg(t.cyan)),
            ),
            field(
                "type",
                Span::raw(safe(&parse_entry(&cur.doc.state.namespace, name).ty).into_owned()),
            ),
            field(
                "GPUs",
                Span::raw(if gpus.is_empty() {
                    "-".to_string()
                } else {
                    safe(&gpus.join(", ")).into_owned()
                }),
            ),
            field(
                "process",
                process(
                    t,
                    app,
                    app.arbiter.pids(&c.watcher_name).as_deref(),
                    c.is_parked(),
                ),
            ),
            field("lease", Span::raw(safe(&lease).into_owned())),
            Line::styled("cmd", t.muted()),
            Line::styled(format!("  {}", safe(&c.cmd)), t.fg(t.text)),
            Line::styled("--worker-env", t.muted()),
        ];
        lines.extend(worker_env_lines(t, &c.cmd));
        lines.push(Line::styled("entry, as in the file", t.muted()));
        let entry = serde_json::to_string_pretty(c).unwrap_or_default();
        render_document(frame, t, lines, &entry, inner, &self.scroll);
    }
}
