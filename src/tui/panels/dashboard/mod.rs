//! The dashboard of the open namespace: the header, the component table (desired,
//! processes, live, load), the GPU map and the raw state; Tab moves between them.

mod draw;
mod layout;
mod live;
mod rows;

use crossterm::event::KeyCode;
use ratatui::Frame;
use ratatui::layout::Rect;

use super::choose::Choose;
use super::instances::Instances;
use super::load::LoadView;
use super::picker::Picker;
use super::registrations::Registrations;
use super::scale::ScalePrompt;
use super::{Ask, Outcome, Panel, push, say};
use crate::state::scale::{self, TypeSummary};
use crate::tui::action::{Effect, Op};
use crate::tui::data::{Data, Severity, no_scaling};
use crate::tui::keys::{self, C, Cmd, K, KeyDef, k};
use crate::tui::ui::View;
use crate::tui::widgets::{Filter, InputOutcome, ListCursor, Scroll, TextInput};

pub const TITLE: &str = "Dashboard";
pub const KEYS: &[KeyDef] = &[
    k(
        &[C('k'), K(KeyCode::Up)],
        "k/↑",
        "select / scroll up",
        Cmd::Up,
        false,
        "",
    ),
    k(
        &[C('j'), K(KeyCode::Down)],
        "j/↓",
        "select / scroll down",
        Cmd::Down,
        false,
        "",
    ),
    k(
        &[K(KeyCode::PageUp)],
        "PgUp",
        "scroll a page up",
        Cmd::PageUp,
        false,
        "",
    ),
    k(
        &[K(KeyCode::PageDown)],
        "PgDn",
        "scroll a page down",
        Cmd::PageDown,
        false,
        "",
    ),
    k(
        &[C('g'), K(KeyCode::Home)],
        "g/Home",
        "go to the top",
        Cmd::Top,
        false,
        "",
    ),
    k(
        &[C('G'), K(KeyCode::End)],
        "G/End",
        "go to the bottom",
        Cmd::Bottom,
        false,
        "",
    ),
    k(
        &[K(KeyCode::Tab)],
        "Tab",
        "next panel",
        Cmd::FocusNext,
        false,
        "panel",
    ),
    k(
        &[K(KeyCode::BackTab)],
        "S-Tab",
        "previous panel",
        Cmd::FocusPrev,
        false,
        "",
    ),
    k(&[C('a')], "a", "add an instance", Cmd::Add, true, "add"),
    k(
        &[C('r')],
        "r",
        "remove an instance",
        Cmd::Remove,
        true,
        "remove",
    ),
    k(
        &[K(KeyCode::Enter)],
        "Enter",
        "the selected type's instances",
        Cmd::Open,
        false,
        "open",
    ),
    k(
        &[C('s')],
        "s",
        "scale the selected type to N",
        Cmd::Scale,
        true,
        "scale",
    ),
    k(
        &[C('m')],
        "m",
        "load of the selected row, 15 min",
        Cmd::Metrics,
        false,
        "load",
    ),
    k(
        &[C('i')],
        "i",
        "registered instances (discovery)",
        Cmd::Live,
        false,
        "live",
    ),
    k(
        &[C('n')],
        "n",
        "switch namespace",
        Cmd::Namespaces,
        false,
        "namespace",
    ),
    k(
        &[C('/')],
        "/",
        "filter rows by type or watcher",
        Cmd::Filter,
        false,
        "",
    ),
    k(
        &[C('w')],
        "w",
        "State panel: wrap on / off",
        Cmd::Wrap,
        false,
        "",
    ),
    k(
        &[K(KeyCode::Left)],
        "←",
        "State panel: scroll left",
        Cmd::Left,
        false,
        "",
    ),
    k(
        &[K(KeyCode::Right)],
        "→",
        "State panel: scroll right",
        Cmd::Right,
        false,
        "",
    ),
    k(
        &[C('l')],
        "l",
        "the type's log (all its watchers)",
        Cmd::Logs,
        false,
        "logs",
    ),
    k(
        &[C('p')],
        "p",
        "pause / resume live updates",
        Cmd::Pause,
        false,
        "pause",
    ),
    k(
        &[K(KeyCode::Esc)],
        "Esc",
        "back to the namespace picker",
        Cmd::Close,
        false,
        "",
    ),
    crate::tui::keys::COPY,
];

/// Which of the dashboard's panes has the arrow keys.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Focus {
    #[default]
    Components,
    Gpus,
    Json,
}

impl Focus {
    fn next(self) -> Focus {
        match self {
            Focus::Components => Focus::Gpus,
            Focus::Gpus => Focus::Json,
            Focus::Json => Focus::Components,
        }
    }
    fn prev(self) -> Focus {
        self.next().next()
    }
}

#[derive(Debug, Default)]
pub struct Dashboard {
    /// On a type (state file) or component (discovery only) name.
    pub cursor: ListCursor<String>,
    /// `/`: only types whose name or a watcher's contains this.
    pub filter: Filter,
    pub focus: Focus,
    pub gpu_scroll: Scroll,
    pub json_scroll: Scroll,
    /// The State pane wraps long lines (`w`); else it scrolls sideways (`←`/`→`).
    pub json_wrap: bool,
    pub json_hscroll: u16,
}

impl Dashboard {
    /// The rows the table shows (after its `/` filter): indices into the joined rows'
    /// types, or components of a namespace only discovery knows.
    pub fn visible(&self, d: &Data) -> Vec<usize> {
        let r = &d.rows;
        if self.filter.text().is_empty() {
            return (0..r.len()).collect();
        }
        if r.discovery_only {
            return (0..r.components.len())
                .filter(|&i| {
                    let c = &r.components[i];
                    let mut fields = vec![c.name.as_str()];
                    fields.extend(c.endpoints.iter().map(String::as_str));
                    self.filter.matches(&fields)
                })
                .collect();
        }
        (0..r.types.len())
            .filter(|&i| {
                let Some(t) = type_of(d, i) else {
                    return false;
                };
                let mut fields = vec![t.ty.as_str()];
                fields.extend(t.instances.iter().map(|i| i.watcher_name.as_str()));
                self.filter.matches(&fields)
            })
            .collect()
    }

    /// The component types the table shows (after its `/` filter).
    pub fn visible_types<'a>(&self, d: &'a Data) -> Vec<&'a TypeSummary> {
        if d.rows.discovery_only {
            return Vec::new();
        }
        self.visible(d)
            .into_iter()
            .filter_map(|i| type_of(d, i))
            .collect()
    }

    /// The rows' keys: types, or components of a discovery-only namespace.
    fn row_keys(&self, d: &Data) -> Vec<String> {
        let names: Vec<&str> = d.rows.names().collect();
        self.visible(d)
            .into_iter()
            .filter_map(|i| names.get(i).map(|n| n.to_string()))
            .collect()
    }

    fn sync(&mut self, d: &Data) {
        let keys = self.row_keys(d);
        self.cursor.sync(keys.iter());
    }

    /// The type of the selected row.
    pub fn selected_type<'a>(&self, d: &'a Data) -> Option<&'a TypeSummary> {
        self.visible_types(d).get(self.cursor.selected()?).copied()
    }

    /// The selected row's name: its type, or its component (discovery only).
    pub fn selected_name(&self, d: &Data) -> Option<String> {
        self.row_keys(d).get(self.cursor.selected()?).cloned()
    }

    /// `a` / `r`: the type chooser, workers first, the selected row's type preselected
    /// when it is a worker.
    fn choose(&self, op: Op, d: &Data) -> Vec<Outcome> {
        let Some(cur) = &d.current else {
            return Vec::new();
        };
        let state = &cur.doc.state;
        let mut types: Vec<(bool, String)> = cur
            .summary
            .types
            .iter()
            .filter(|t| op == Op::Add || t.running > 0)
            .map(|t| (scale::is_worker_type(state, &t.ty), t.ty.clone()))
            .collect();
        types.sort_by_key(|(worker, _)| !worker);
        if types.is_empty() {
            let msg = match op {
                Op::Add => format!(
                    "namespace {} has no components: nothing to add (a new instance copies an existing entry)",
                    cur.name
                ),
                Op::Remove | Op::Scale(_) => "nothing is running, nothing to remove".to_string(),
            };
            return vec![say(Severity::Warn, msg)];
        }
        // Infrastructure is never preselected.
        let sel_ty = self.selected_type(d).map(|t| t.ty.clone());
        let first_worker = types.iter().position(|(w, _)| *w);
        let selected = sel_ty
            .and_then(|ty| types.iter().position(|(w, t)| *w && *t == ty))
            .or(first_worker);
        let types = types.into_iter().map(|(_, t)| t).collect();
        vec![push(Choose::new(op, types, selected))]
    }
}

impl Panel for Dashboard {
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

    fn select(&mut self, word: &str, d: &Data) -> bool {
        // A type name, or the start of one.
        self.filter.clear();
        let w = word.to_lowercase();
        let keys = self.row_keys(d);
        let pos = keys
            .iter()
            .position(|t| t.to_lowercase() == w)
            .or_else(|| keys.iter().position(|t| t.to_lowercase().starts_with(&w)));
        match pos {
            Some(i) => {
                self.cursor.select_index(i, keys.len());
                self.sync(d);
                self.focus = Focus::Components;
                true
            }
            None => false,
        }
    }

    fn notice(&self, d: &Data) -> Option<String> {
        if self.filter.typing {
            return Some("typing filters".into());
        }
        d.current
            .as_ref()
            .is_some_and(|c| c.discovery_only && !d.readonly)
            .then(|| "no state file: nothing to scale".into())
    }

    fn on_cmd(&mut self, cmd: Cmd, d: &Data) -> Vec<Outcome> {
        let Some(cur) = &d.current else {
            return Vec::new();
        };
        if cur.discovery_only && matches!(cmd, Cmd::Add | Cmd::Remove | Cmd::Scale) {
            return vec![say(Severity::Warn, no_scaling(&cur.name))];
        }
        if let Some(nav) = keys::nav(cmd) {
            match self.focus {
                Focus::Components => {
                    let n = self.row_keys(d).len();
                    self.cursor.apply(nav, n);
                    self.sync(d);
                }
                Focus::Gpus => self.gpu_scroll.apply(nav),
                Focus::Json => self.json_scroll.apply(nav),
            }
            return Vec::new();
        }
        match cmd {
            Cmd::Filter => {
                self.filter.start();
                self.focus = Focus::Components;
            }
            // Esc first clears a filter; then it leaves the namespace.
            Cmd::Close if !self.filter.text().is_empty() => {
                self.filter.clear();
                self.sync(d);
            }
            Cmd::Close => return vec![Ask::Leave.into()],
            Cmd::Wrap => {
                self.json_wrap = !self.json_wrap;
                self.json_hscroll = 0;
            }
            Cmd::Left if self.focus == Focus::Json => {
                self.json_hscroll = self.json_hscroll.saturating_sub(8)
            }
            Cmd::Right if self.focus == Focus::Json && !self.json_wrap => {
                let widest = cur.json.widest();
                self.json_hscroll = (self.json_hscroll + 8).min(widest as u16);
            }
            Cmd::FocusNext => self.focus = self.focus.next(),
            Cmd::FocusPrev => self.focus = self.focus.prev(),
            Cmd::Namespaces => {
                return vec![
                    push(Picker::at(Some(&cur.name), true, d)),
                    Ask::Refresh.into(),
                ];
            }
            Cmd::Pause => return vec![Ask::TogglePause.into()],
            // The selected row: its type's watcher names, or (discovery only) its
            // component's instance ids.
            Cmd::Copy if cur.discovery_only => {
                let Some(comp) = self.selected_name(d) else {
                    return Vec::new();
                };
                let ids: Vec<String> = d
                    .rows
                    .components
                    .iter()
                    .filter(|c| c.name == comp)
                    .flat_map(|c| c.registrations.iter().map(|r| r.id_hex()))
                    .collect();
                return super::copy(&format!("{comp}'s instance ids"), ids.join(" "));
            }
            Cmd::Copy => {
                let Some(ty) = self.selected_type(d) else {
                    return Vec::new();
                };
                let names: Vec<&str> = ty
                    .instances
                    .iter()
                    .map(|i| i.watcher_name.as_str())
                    .collect();
                return super::copy(&format!("{}'s watcher names", ty.ty), names.join(" "));
            }
            Cmd::Metrics => {
                let Some(name) = self.selected_name(d) else {
                    return Vec::new();
                };
                let mut out = Vec::new();
                if !d.load.on {
                    out.push(say(
                        Severity::Info,
                        "no metrics source: --prometheus URL, --metrics URL (a worker's /metrics) or --nats URL",
                    ));
                }
                out.push(push(LoadView { name: name.clone() }));
                if d.load.prometheus {
                    out.push(Outcome::Effect(Effect::MetricsHistory {
                        ns: cur.name.clone(),
                        component: name,
                    }));
                }
                return out;
            }
            Cmd::Live => {
                let mut out = vec![push(Registrations::default())];
                if !d.live.as_ref().is_some_and(|l| l.answered()) {
                    out.push(say(
                        Severity::Info,
                        "no discovery source answers (--etcd-endpoints, --file-kv): nothing registered to show",
                    ));
                }
                return out;
            }
            // A discovery-only namespace's rows are components: Enter opens their
            // registered instances.
            Cmd::Open if self.focus == Focus::Components && cur.discovery_only => {
                if let Some(name) = self.selected_name(d) {
                    let mut r = Registrations::default();
                    r.filter.input.set_value(&name);
                    return vec![push(r)];
                }
            }
            Cmd::Open if self.focus == Focus::Components => {
                if let Some(t) = self.selected_type(d) {
                    return vec![push(Instances::new(t.ty.clone()))];
                }
            }
            Cmd::Logs => {
                if cur.discovery_only {
                    return vec![say(
                        Severity::Warn,
                        format!(
                            "no logs in {}: it has no state file, so no circus watchers to ask",
                            cur.name
                        ),
                    )];
                }
                if let Some(t) = self.selected_type(d) {
                    let watchers = t.instances.iter().map(|i| i.watcher_name.clone());
                    return super::logs::LogView::open(&t.ty, watchers.collect(), true, d);
                }
            }
            Cmd::Scale => {
                if let Some(t) = self.selected_type(d) {
                    return vec![push(ScalePrompt::new(t.ty.clone(), t.running))];
                }
            }
            Cmd::Add => return self.choose(Op::Add, d),
            Cmd::Remove => return self.choose(Op::Remove, d),
            _ => {}
        }
        Vec::new()
    }

    fn draw(&self, frame: &mut Frame, area: Rect, d: &Data, v: &View, top: bool) {
        self.draw_all(frame, d, v, area, top);
    }
}

/// The summary's type of joined row `i` (the rows keep the summary's order).
fn type_of(d: &Data, i: usize) -> Option<&TypeSummary> {
    let row = d.rows.types.get(i)?;
    d.current
        .as_ref()?
        .summary
        .types
        .get(row.index)
        .filter(|t| t.ty == row.name)
}
