//! The pure core: `App` holds everything on screen, `update` turns an [`Action`] into new
//! state plus [`Effect`]s for the event loop to run. No I/O, no clock: the loop injects the
//! time with [`App::set_clock`] before each update.

use std::path::PathBuf;
use std::time::SystemTime;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::keys::{self, Cmd, Scope};
use crate::state::json::JsonStyle;
use crate::state::scale::{self, Change, Summary, gpu_phrase};
use crate::state::{Document, NamespaceEntry};

/// Something that happened: a key, a finished effect, a change on disk, a timer.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // a few per second at most
pub enum Action {
    Key(KeyEvent),
    /// The terminal was resized: nothing to change, just draw again.
    Resize,
    /// The state directory or a file in it changed on disk.
    FsChanged,
    /// A [`Effect::Refresh`] finished.
    Refreshed(Refresh),
    /// A [`Effect::Scale`] finished.
    ScaleDone {
        intent: Intent,
        result: Result<(Change, Document, Option<SystemTime>), String>,
    },
    /// Advance the spinner (only sent while work runs).
    SpinnerTick,
    /// The slow timer that refreshes the "modified 3m ago" ages.
    AgeTick,
}

/// Work for the event loop; each runs as a tokio task and comes back as an [`Action`].
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// List the directory and, if given, read that namespace.
    Refresh { ns: Option<String> },
    /// Lock, re-read, apply, save.
    Scale(Intent),
}

/// What the operator confirmed: the effect re-applies it under the lock and compares.
#[derive(Clone, Debug, PartialEq)]
pub struct Intent {
    pub ns: String,
    pub ty: String,
    pub op: Op,
    /// What the change did on the state the operator was looking at.
    pub expected: Change,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Add,
    Remove,
}

/// The result of listing the directory and reading the open namespace.
#[derive(Debug)]
pub struct Refresh {
    pub listing: Listing,
    pub ns: Option<(String, LoadOutcome)>,
}

#[derive(Debug)]
pub enum LoadOutcome {
    Loaded(Box<Document>, Option<SystemTime>),
    /// The file or the directory is gone (the deployment stopped).
    Gone(String),
    /// Present but unreadable (e.g. caught mid-write).
    Broken(String),
}

#[derive(Clone, Debug, PartialEq)]
pub enum Listing {
    Loading,
    /// The directory does not exist.
    Missing,
    Error(String),
    Found(Vec<NsInfo>),
}

/// One namespace as the picker shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct NsInfo {
    pub name: String,
    pub path: PathBuf,
    pub modified: Option<SystemTime>,
    pub brief: Result<Brief, String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Brief {
    /// (type, running instances) in file order.
    pub counts: Vec<(String, usize)>,
    pub gpus_used: usize,
    pub gpus_total: usize,
}

impl NsInfo {
    pub fn from_entry(e: &NamespaceEntry) -> NsInfo {
        NsInfo {
            name: e.name.clone(),
            path: e.path.clone(),
            modified: e.modified,
            brief: match &e.doc {
                Ok(doc) => {
                    let s = scale::summarize(&doc.state);
                    Ok(Brief {
                        counts: s.types.iter().map(|t| (t.ty.clone(), t.running)).collect(),
                        gpus_used: s.gpus_used,
                        gpus_total: s.gpus_total,
                    })
                }
                Err(err) => Err(err.to_string()),
            },
        }
    }
}

/// The open namespace.
#[derive(Clone, Debug)]
pub struct Current {
    pub name: String,
    pub path: PathBuf,
    pub doc: Document,
    pub summary: Summary,
    /// The state as pretty JSON, one entry per line.
    pub json: Vec<String>,
    pub modified: Option<SystemTime>,
}

impl Current {
    pub fn new(name: String, path: PathBuf, doc: Document, modified: Option<SystemTime>) -> Self {
        let summary = scale::summarize(&doc.state);
        let json = doc
            .render_as(JsonStyle::PLANNER)
            .unwrap_or_else(|_| "(cannot render the state as JSON)".into())
            .lines()
            .map(str::to_string)
            .collect();
        Current {
            name,
            path,
            doc,
            summary,
            json,
            modified,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Panel {
    Components,
    Gpus,
    Json,
}

impl Panel {
    fn next(self) -> Panel {
        match self {
            Panel::Components => Panel::Gpus,
            Panel::Gpus => Panel::Json,
            Panel::Json => Panel::Components,
        }
    }
    fn prev(self) -> Panel {
        self.next().next()
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Popup {
    /// The namespace picker over the dashboard.
    Picker,
    Choose {
        op: Op,
        types: Vec<String>,
        selected: usize,
    },
    Confirm {
        intent: Intent,
        question: String,
        /// Shown in red: removing the last running instance.
        warning: Option<String>,
        ok_focused: bool,
    },
    Help {
        scroll: u16,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Info,
    Ok,
    Warn,
    Error,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Status {
    /// Wall-clock time of the message, as shown (injected).
    pub at: String,
    pub severity: Severity,
    pub text: String,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct PickerState {
    pub selected: usize,
    pub filter: String,
    pub filtering: bool,
}

pub struct App {
    pub dir: PathBuf,
    pub readonly: bool,
    pub now: SystemTime,
    pub clock: String,
    pub listing: Listing,
    pub picker: PickerState,
    /// The namespace being opened or shown.
    pub want: Option<String>,
    pub current: Option<Current>,
    pub table_selected: usize,
    pub gpu_scroll: u16,
    pub json_scroll: u16,
    pub focus: Panel,
    pub popups: Vec<Popup>,
    pub status: Option<Status>,
    /// Effects started and not yet finished (the spinner shows while > 0).
    pub pending: usize,
    pub quit: bool,
}

impl App {
    pub fn new(dir: PathBuf, readonly: bool, namespace: Option<String>) -> App {
        App {
            dir,
            readonly,
            now: SystemTime::UNIX_EPOCH,
            clock: String::new(),
            listing: Listing::Loading,
            picker: PickerState::default(),
            want: namespace,
            current: None,
            table_selected: 0,
            gpu_scroll: 0,
            json_scroll: 0,
            focus: Panel::Components,
            popups: Vec::new(),
            status: None,
            pending: 0,
            quit: false,
        }
    }

    /// The effects to run at start.
    pub fn start(&mut self) -> Vec<Effect> {
        vec![self.refresh()]
    }

    /// Injects the time: `now` for ages, `clock` (e.g. "16:42:07") for status messages.
    pub fn set_clock(&mut self, now: SystemTime, clock: impl Into<String>) {
        self.now = now;
        self.clock = clock.into();
    }

    pub fn busy(&self) -> bool {
        self.pending > 0
    }

    /// Who has the keys.
    pub fn scope(&self) -> Scope {
        match self.popups.last() {
            Some(Popup::Picker) => Scope::Picker,
            Some(Popup::Choose { .. }) => Scope::Choose,
            Some(Popup::Confirm { .. }) => Scope::Confirm,
            Some(Popup::Help { .. }) => Scope::Help,
            None if self.current.is_some() => Scope::Dashboard,
            None => Scope::Picker,
        }
    }

    fn refresh(&mut self) -> Effect {
        self.pending += 1;
        Effect::Refresh {
            ns: self.want.clone(),
        }
    }

    fn say(&mut self, severity: Severity, text: impl Into<String>) {
        self.status = Some(Status {
            at: self.clock.clone(),
            severity,
            text: text.into(),
        });
    }

    /// The namespaces the picker shows (after the filter).
    pub fn visible_namespaces(&self) -> Vec<&NsInfo> {
        match &self.listing {
            Listing::Found(list) => {
                let f = self.picker.filter.to_lowercase();
                list.iter()
                    .filter(|n| f.is_empty() || n.name.to_lowercase().contains(&f))
                    .collect()
            }
            _ => Vec::new(),
        }
    }

    pub fn update(&mut self, action: Action) -> Vec<Effect> {
        match action {
            Action::Key(key) => self.on_key(key),
            Action::Resize | Action::AgeTick | Action::SpinnerTick => Vec::new(),
            Action::FsChanged => vec![self.refresh()],
            Action::Refreshed(r) => {
                self.pending = self.pending.saturating_sub(1);
                self.on_refreshed(r);
                Vec::new()
            }
            Action::ScaleDone { intent, result } => {
                self.pending = self.pending.saturating_sub(1);
                self.on_scaled(intent, result)
            }
        }
    }

    fn on_refreshed(&mut self, r: Refresh) {
        // The picker's cursor stays on the namespace it was on, wherever that moved.
        let selected = self
            .visible_namespaces()
            .get(self.picker.selected)
            .map(|n| n.name.clone());
        self.listing = r.listing;
        let visible = self.visible_namespaces();
        let n = visible.len();
        if let Some(i) = selected.and_then(|name| visible.iter().position(|v| v.name == name)) {
            self.picker.selected = i;
        } else if self.picker.selected >= n {
            self.picker.selected = n.saturating_sub(1);
        }
        let Some((name, outcome)) = r.ns else {
            return;
        };
        if self.want.as_deref() != Some(name.as_str()) {
            return; // an answer for a namespace we left meanwhile
        }
        match outcome {
            LoadOutcome::Loaded(doc, modified) => {
                let path = self.dir.join(format!("{name}.json"));
                match &self.current {
                    Some(cur) if cur.name == name => {
                        if cur.doc.state != doc.state {
                            self.say(
                                Severity::Info,
                                format!("{name}.json changed on disk; showing the new state"),
                            );
                        } else if self
                            .status
                            .as_ref()
                            .is_some_and(|s| s.text.starts_with(&unreadable_now(&name)))
                        {
                            // A good read ends the "unreadable" warning.
                            self.say(Severity::Info, format!("{name}.json is readable again"));
                        }
                    }
                    _ => {
                        self.table_selected = 0;
                        self.json_scroll = 0;
                        self.gpu_scroll = 0;
                        self.focus = Panel::Components;
                        self.say(Severity::Ok, format!("opened namespace {name}"));
                    }
                }
                self.current = Some(Current::new(name, path, *doc, modified));
                self.clamp_selection();
            }
            LoadOutcome::Gone(msg) => {
                let was_open = self.current.as_ref().is_some_and(|c| c.name == name);
                self.current = None;
                self.want = None;
                self.popups.clear();
                if was_open {
                    self.say(
                        Severity::Warn,
                        format!("namespace {name} vanished (the deployment stopped?): {msg}"),
                    );
                } else {
                    self.say(Severity::Error, format!("cannot open {name}: {msg}"));
                }
            }
            LoadOutcome::Broken(msg) => {
                if self.current.as_ref().is_some_and(|c| c.name == name) {
                    self.say(
                        Severity::Warn,
                        format!(
                            "{}, showing the last good state: {msg}",
                            unreadable_now(&name)
                        ),
                    );
                } else {
                    self.want = None;
                    self.say(Severity::Error, format!("cannot open {name}: {msg}"));
                }
            }
        }
    }

    fn on_scaled(
        &mut self,
        intent: Intent,
        result: Result<(Change, Document, Option<SystemTime>), String>,
    ) -> Vec<Effect> {
        match result {
            Ok((change, doc, modified)) => {
                // Leaving a type with no running instance is worth a warning colour.
                let none_left = matches!(change, Change::Removed { remaining: 0, .. });
                let (severity, mut text) = if change == intent.expected {
                    (
                        if none_left {
                            Severity::Warn
                        } else {
                            Severity::Ok
                        },
                        capitalize(&change.to_string()),
                    )
                } else {
                    (
                        Severity::Warn,
                        format!(
                            "{}.json changed meanwhile: {} (you confirmed: {})",
                            intent.ns, change, intent.expected
                        ),
                    )
                };
                if let Some(note) = doc.layout_note() {
                    text.push_str(&format!("; note: {note}"));
                }
                self.say(severity, text);
                if self.want.as_deref() == Some(intent.ns.as_str()) {
                    let path = self.dir.join(format!("{}.json", intent.ns));
                    self.current = Some(Current::new(intent.ns.clone(), path, doc, modified));
                    self.clamp_selection();
                }
            }
            Err(msg) => {
                let verb = match intent.op {
                    Op::Add => "add",
                    Op::Remove => "remove",
                };
                self.say(
                    Severity::Error,
                    format!("could not {verb} {} in {}: {msg}", intent.ty, intent.ns),
                );
            }
        }
        // The listing (counts, ages) follows the file.
        vec![self.refresh()]
    }

    fn clamp_selection(&mut self) {
        if let Some(cur) = &self.current {
            let n = cur.summary.types.len();
            if self.table_selected >= n {
                self.table_selected = n.saturating_sub(1);
            }
            let max = cur.json.len().saturating_sub(1) as u16;
            self.json_scroll = self.json_scroll.min(max);
            let gmax = cur.summary.gpu_map.len().saturating_sub(1) as u16;
            self.gpu_scroll = self.gpu_scroll.min(gmax);
        }
    }

    fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let ctrl_c =
            key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c');
        if ctrl_c {
            self.quit = true;
            return Vec::new();
        }
        let scope = self.scope();
        // Typing into the picker's filter.
        if scope == Scope::Picker && self.picker.filtering {
            match key.code {
                KeyCode::Char(c) if !key.modifiers.contains(KeyModifiers::CONTROL) => {
                    self.picker.filter.push(c);
                    self.picker.selected = 0;
                    return Vec::new();
                }
                KeyCode::Backspace => {
                    self.picker.filter.pop();
                    self.picker.selected = 0;
                    return Vec::new();
                }
                KeyCode::Esc => {
                    self.picker.filter.clear();
                    self.picker.filtering = false;
                    self.picker.selected = 0;
                    return Vec::new();
                }
                _ => {}
            }
        }
        let Some(cmd) = keys::lookup(scope, &key, self.readonly) else {
            return Vec::new();
        };
        match cmd {
            Cmd::Quit => {
                self.quit = true;
                Vec::new()
            }
            Cmd::Help => {
                if !matches!(self.popups.last(), Some(Popup::Help { .. })) {
                    self.popups.push(Popup::Help { scroll: 0 });
                }
                Vec::new()
            }
            _ => match scope {
                Scope::Picker => self.picker_cmd(cmd),
                Scope::Dashboard => self.dashboard_cmd(cmd),
                Scope::Choose => self.choose_cmd(cmd),
                Scope::Confirm => self.confirm_cmd(cmd),
                Scope::Help => {
                    if let Some(Popup::Help { scroll }) = self.popups.last_mut() {
                        match cmd {
                            Cmd::Up => *scroll = scroll.saturating_sub(1),
                            Cmd::Down => *scroll = scroll.saturating_add(1).min(200),
                            Cmd::Close => {
                                self.popups.pop();
                            }
                            _ => {}
                        }
                    }
                    Vec::new()
                }
                Scope::Global => Vec::new(),
            },
        }
    }

    fn picker_cmd(&mut self, cmd: Cmd) -> Vec<Effect> {
        let n = self.visible_namespaces().len();
        match cmd {
            Cmd::Up => self.picker.selected = self.picker.selected.saturating_sub(1),
            Cmd::Down if self.picker.selected + 1 < n => self.picker.selected += 1,
            Cmd::Filter => self.picker.filtering = true,
            Cmd::Close => {
                if self.picker.filtering || !self.picker.filter.is_empty() {
                    self.picker.filter.clear();
                    self.picker.filtering = false;
                    self.picker.selected = 0;
                } else if matches!(self.popups.last(), Some(Popup::Picker)) {
                    self.popups.pop();
                }
            }
            Cmd::Open => {
                let Some(ns) = self.visible_namespaces().get(self.picker.selected).copied() else {
                    return Vec::new();
                };
                let (name, err) = (ns.name.clone(), ns.brief.as_ref().err().cloned());
                if let Some(err) = err {
                    self.say(Severity::Error, format!("cannot open {name}: {err}"));
                    return Vec::new();
                }
                self.picker.filtering = false;
                if matches!(self.popups.last(), Some(Popup::Picker)) {
                    self.popups.pop();
                }
                if self.current.as_ref().is_some_and(|c| c.name == name) {
                    return Vec::new();
                }
                self.want = Some(name.clone());
                self.current = None;
                self.say(Severity::Info, format!("opening {name}…"));
                return vec![self.refresh()];
            }
            _ => {}
        }
        Vec::new()
    }

    fn dashboard_cmd(&mut self, cmd: Cmd) -> Vec<Effect> {
        let Some(cur) = &self.current else {
            return Vec::new();
        };
        let rows = cur.summary.types.len();
        let json_max = cur.json.len().saturating_sub(1) as u16;
        let gpu_max = cur.summary.gpu_map.len().saturating_sub(1) as u16;
        match cmd {
            Cmd::Up | Cmd::Down | Cmd::PageUp | Cmd::PageDown | Cmd::Top | Cmd::Bottom => {
                let step: i64 = match cmd {
                    Cmd::Up => -1,
                    Cmd::Down => 1,
                    Cmd::PageUp => -10,
                    Cmd::PageDown => 10,
                    Cmd::Top => i64::MIN / 2,
                    _ => i64::MAX / 2,
                };
                let mv = |v: i64, max: i64| (v.saturating_add(step)).clamp(0, max.max(0));
                match self.focus {
                    Panel::Components => {
                        self.table_selected =
                            mv(self.table_selected as i64, rows as i64 - 1) as usize
                    }
                    Panel::Gpus => {
                        self.gpu_scroll = mv(self.gpu_scroll as i64, gpu_max as i64) as u16
                    }
                    Panel::Json => {
                        self.json_scroll = mv(self.json_scroll as i64, json_max as i64) as u16
                    }
                }
            }
            Cmd::FocusNext => self.focus = self.focus.next(),
            Cmd::FocusPrev => self.focus = self.focus.prev(),
            Cmd::Namespaces => {
                self.picker.filter.clear();
                self.picker.filtering = false;
                let name = cur.name.clone();
                if let Some(i) = self
                    .visible_namespaces()
                    .iter()
                    .position(|n| n.name == name)
                {
                    self.picker.selected = i;
                }
                self.popups.push(Popup::Picker);
                return vec![self.refresh()];
            }
            Cmd::Add | Cmd::Remove => {
                let op = if cmd == Cmd::Add { Op::Add } else { Op::Remove };
                let types: Vec<String> = cur
                    .summary
                    .types
                    .iter()
                    .filter(|t| op == Op::Add || t.running > 0)
                    .map(|t| t.ty.clone())
                    .collect();
                if types.is_empty() {
                    let msg = match op {
                        Op::Add => format!(
                            "namespace {} has no components: nothing to add (a new instance copies an existing entry)",
                            cur.name
                        ),
                        Op::Remove => "nothing is running, nothing to remove".to_string(),
                    };
                    self.say(Severity::Warn, msg);
                    return Vec::new();
                }
                let sel_ty = cur
                    .summary
                    .types
                    .get(self.table_selected)
                    .map(|t| t.ty.clone());
                let selected = sel_ty
                    .and_then(|ty| types.iter().position(|t| *t == ty))
                    .unwrap_or(0);
                self.popups.push(Popup::Choose {
                    op,
                    types,
                    selected,
                });
            }
            _ => {}
        }
        Vec::new()
    }

    fn choose_cmd(&mut self, cmd: Cmd) -> Vec<Effect> {
        let Some(Popup::Choose {
            op,
            types,
            selected,
        }) = self.popups.last_mut()
        else {
            return Vec::new();
        };
        match cmd {
            Cmd::Up => *selected = selected.saturating_sub(1),
            Cmd::Down if *selected + 1 < types.len() => *selected += 1,
            Cmd::Close => {
                self.popups.pop();
            }
            Cmd::Open => {
                let (op, ty) = (*op, types.get(*selected).cloned().unwrap_or_default());
                self.open_confirm(op, ty);
            }
            _ => {}
        }
        Vec::new()
    }

    /// Applies the change to a copy of the state to say exactly what it will do.
    fn open_confirm(&mut self, op: Op, ty: String) {
        let Some(cur) = &self.current else {
            return;
        };
        let mut copy = cur.doc.state.clone();
        let res = match op {
            Op::Add => scale::add(&mut copy, &ty),
            Op::Remove => scale::remove(&mut copy, &ty),
        };
        let change = match res {
            Ok(c) => c,
            Err(e) => {
                self.say(Severity::Error, format!("cannot {}: {e}", op_verb(op)));
                return;
            }
        };
        let (question, warning) = match &change {
            Change::Added { name, gpus, .. } => {
                let on = gpu_phrase(gpus)
                    .map(|g| format!(" on {g}"))
                    .unwrap_or_default();
                (format!("Add {name}{on}?"), None)
            }
            Change::Removed {
                ty,
                name,
                gpus,
                parked,
                remaining,
            } => {
                let free = gpu_phrase(gpus)
                    .map(|g| format!(" and free {g}"))
                    .unwrap_or_default();
                let q = if *parked {
                    format!("Remove {name}{free}? (it is the template: it stays, parked)")
                } else {
                    format!("Remove {name}{free}?")
                };
                let w = (*remaining == 0)
                    .then(|| format!("This is the last running {ty}: none will run afterwards."));
                (q, w)
            }
        };
        self.popups.push(Popup::Confirm {
            intent: Intent {
                ns: cur.name.clone(),
                ty,
                op,
                expected: change,
            },
            question,
            warning,
            ok_focused: op == Op::Add,
        });
    }

    fn confirm_cmd(&mut self, cmd: Cmd) -> Vec<Effect> {
        let Some(Popup::Confirm {
            intent, ok_focused, ..
        }) = self.popups.last_mut()
        else {
            return Vec::new();
        };
        let go = match cmd {
            Cmd::SwitchButton => {
                *ok_focused = !*ok_focused;
                return Vec::new();
            }
            Cmd::Close => {
                self.popups.pop();
                return Vec::new();
            }
            Cmd::Yes => true,
            Cmd::No => false,
            Cmd::Open => *ok_focused,
            _ => return Vec::new(),
        };
        let intent = intent.clone();
        // Close the whole add/remove flow: the confirm and the chooser under it.
        self.popups.pop();
        if matches!(self.popups.last(), Some(Popup::Choose { .. })) {
            self.popups.pop();
        }
        if !go {
            self.say(Severity::Info, "cancelled");
            return Vec::new();
        }
        self.pending += 1;
        self.say(
            Severity::Info,
            format!(
                "{} {} in {}…",
                match intent.op {
                    Op::Add => "adding",
                    Op::Remove => "removing",
                },
                intent.ty,
                intent.ns
            ),
        );
        vec![Effect::Scale(intent)]
    }
}

/// The start of the warning shown while the open namespace's file cannot be read.
fn unreadable_now(name: &str) -> String {
    format!("{name}.json is unreadable now")
}

fn op_verb(op: Op) -> &'static str {
    match op {
        Op::Add => "add",
        Op::Remove => "remove",
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// "modified 3m ago" from an injected now.
pub fn age(now: SystemTime, then: Option<SystemTime>) -> String {
    let Some(then) = then else {
        return "age unknown".into();
    };
    let secs = now.duration_since(then).map(|d| d.as_secs()).unwrap_or(0);
    match secs {
        0..=9 => "just now".into(),
        10..=59 => format!("{secs}s ago"),
        60..=3599 => format!("{}m ago", secs / 60),
        3600..=86_399 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}
