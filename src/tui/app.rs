//! The pure core: `App` holds what the sources said ([`Data`]) and the panels on screen,
//! and `update` turns an [`Action`] into new state plus [`Effect`]s for the event loop to
//! run. No I/O, no clock: the loop injects the time with [`Data::set_clock`] before each
//! update.
//!
//! Routing: a key goes to the top panel's text input first (while one is active), then
//! to the key registry (global keys here, the rest to the top panel); what the sources
//! said goes to [`Data`], then every panel follows it ([`Panel::on_data`]). Panels answer
//! with [`Outcome`]s, which only `App` carries out.

use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

pub use super::action::*;
pub use super::data::*;
use super::keys::{self, Cmd};
use super::panels::command::CommandBar;
use super::panels::dashboard::Dashboard;
use super::panels::help::Help;
use super::panels::messages::Messages;
use super::panels::picker::{self, Picker};
use super::panels::{AnyPanel, Ask, Outcome, Scope, confirm};
use super::widgets::InputOutcome;
use crate::arbiter::Options;

mod ask;
mod sources;

use sources::Step;

pub struct App {
    /// What the sources said.
    pub data: Data,
    /// The screen: the dashboard while a namespace is open, else the picker.
    pub screen: AnyPanel,
    /// Popups over the screen, the top one last (it has the keys).
    pub popups: Vec<AnyPanel>,
    pub quit: bool,
    /// The namespace the dashboard screen was made for.
    opened: Option<String>,
    /// The last `update` changed nothing that is drawn (the loop skips the frame).
    pub unchanged: bool,
    /// [`Data::said`] when the panels last followed the data: a message said since (by a
    /// key, an effect's answer, the clock) is followed at the next update (the event log
    /// stays on the newest).
    synced_said: u64,
}

impl std::ops::Deref for App {
    type Target = Data;
    fn deref(&self) -> &Data {
        &self.data
    }
}

impl std::ops::DerefMut for App {
    fn deref_mut(&mut self) -> &mut Data {
        &mut self.data
    }
}

impl App {
    pub fn new(dir: PathBuf, readonly: bool, namespace: Option<String>) -> App {
        App {
            data: Data {
                dir,
                readonly,
                now: std::time::SystemTime::UNIX_EPOCH,
                clock: String::new(),
                listing: Listing::Loading,
                want: namespace,
                current: None,
                status: None,
                pending: 0,
                arbiter: ArbiterStatus::Unknown,
                polling: false,
                file_only: None,
                scale_opts: Options::default(),
                hold_status: false,
                track: Default::default(),
                awaiting_discovery: false,
                planner_seen: Default::default(),
                said: 0,
                refreshing: Vec::new(),
                load: Default::default(),
                live: None,
                state_listing: Listing::Loading,
                reread_broken: false,
                history: Default::default(),
                paused: false,
                last_refresh: None,
                log_lines: crate::logs::DEFAULT_LINES,
                rows: Default::default(),
                rows_stale: false,
            },
            screen: Picker::default().into(),
            popups: Vec::new(),
            quit: false,
            opened: None,
            unchanged: false,
            synced_said: 0,
        }
    }

    /// `--demo` / `--state-only` (file only, never ask the arbiter) and the timeouts.
    pub fn with_arbiter(mut self, file_only: Option<&'static str>, opts: Options) -> App {
        self.data.file_only = file_only;
        self.data.scale_opts = opts;
        self
    }

    /// The effects to run at start.
    pub fn start(&mut self) -> Vec<Effect> {
        self.data.start()
    }

    /// The panel with the keys: the top popup, else the screen.
    pub fn top(&self) -> &AnyPanel {
        self.popups.last().unwrap_or(&self.screen)
    }

    /// Who has the keys.
    pub fn scope(&self) -> Scope {
        self.top().scope()
    }

    /// The dashboard, when it is the screen.
    pub fn dashboard(&self) -> Option<&Dashboard> {
        match &self.screen {
            AnyPanel::Dashboard(d) => Some(d),
            _ => None,
        }
    }

    /// The picker in use (the popup over the dashboard, else the screen).
    pub fn picker(&self) -> Option<&Picker> {
        self.popups
            .iter()
            .rev()
            .chain(std::iter::once(&self.screen))
            .find_map(|p| match p {
                AnyPanel::Picker(p) => Some(p),
                _ => None,
            })
    }

    /// The namespaces the picker shows (after its filter).
    pub fn visible_namespaces(&self) -> Vec<&NsInfo> {
        match self.picker() {
            Some(p) => picker::visible(&self.data, &p.filter),
            None => picker::visible(&self.data, &Default::default()),
        }
    }

    /// The type of the dashboard's selected row.
    pub fn selected_type(&self) -> Option<&crate::state::scale::TypeSummary> {
        self.dashboard()?.selected_type(&self.data)
    }

    /// The types the dashboard shows (after its filter).
    pub fn visible_types(&self) -> Vec<&crate::state::scale::TypeSummary> {
        self.dashboard()
            .map(|d| d.visible_types(&self.data))
            .unwrap_or_default()
    }

    /// Whether the screen shows what the live tracker times (flashes, leavers).
    fn shows_live(&self) -> bool {
        self.popups.iter().any(|p| p.get().shows_live())
    }

    pub fn update(&mut self, action: Action) -> Vec<Effect> {
        let mut effects = self.update_inner(action);
        self.data.rejoin();
        if self.data.said != self.synced_said {
            self.synced_said = self.data.said;
            effects.extend(self.follow_data());
            self.unchanged = false;
        }
        effects
    }

    fn update_inner(&mut self, action: Action) -> Vec<Effect> {
        self.unchanged = false;
        let outcomes = match action {
            Action::Key(key) => return self.on_key(key),
            Action::Resize | Action::SpinnerTick => return Vec::new(),
            Action::AgeTick => {
                self.data.check_planner_slow();
                return Vec::new();
            }
            Action::Hangup => {
                self.quit = true;
                return Vec::new();
            }
            a @ (Action::ArbiterTick
            | Action::MetricsTick
            | Action::MetricsSeen { .. }
            | Action::MetricsHistory { .. }
            | Action::ArbiterSeen { .. }
            | Action::InstancesChanged(_)
            | Action::LiveTick
            | Action::Log { .. }) => match self.on_source(a) {
                Step::Effects(e) => return e,
                Step::Outcomes(o) => o,
            },
            Action::ScaleProgress(line) => {
                self.data.say(Severity::Info, line);
                return Vec::new();
            }
            Action::FsChanged if self.data.paused => {
                self.unchanged = true;
                return Vec::new();
            }
            Action::FsChanged => return vec![self.data.refresh()],
            Action::Refreshed(r) => {
                self.data.pending = self.data.pending.saturating_sub(1);
                self.data.on_refreshed(r)
            }
            Action::ScaleDone { intent, result } => {
                self.data.pending = self.data.pending.saturating_sub(1);
                self.data.on_scaled(intent, result)
            }
        };
        let mut effects = self.apply(outcomes);
        effects.extend(self.follow_data());
        effects
    }

    /// After the data changed: the screen matches it (the dashboard while a namespace is
    /// open, the picker otherwise), and every panel follows it.
    fn follow_data(&mut self) -> Vec<Effect> {
        self.data.rejoin();
        let open = self.data.current.as_ref().map(|c| c.name.clone());
        match (&self.screen, &open) {
            (AnyPanel::Picker(_), Some(_)) => {
                self.screen = Dashboard::default().into();
                self.opened = open.clone();
            }
            (AnyPanel::Dashboard(_), Some(name)) if self.opened.as_ref() != Some(name) => {
                self.screen = Dashboard::default().into();
                self.opened = open.clone();
            }
            (AnyPanel::Dashboard(_), None) => {
                let left = self.opened.take();
                self.screen = Picker::at(left.as_deref(), false, &self.data).into();
            }
            _ => {}
        }
        let mut out = self.screen.get_mut().on_data(&self.data);
        for p in self.popups.iter_mut() {
            out.extend(p.get_mut().on_data(&self.data));
        }
        self.apply(out)
    }

    fn on_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
            self.quit = true;
            return Vec::new();
        }
        let top = self.popups.last_mut().unwrap_or(&mut self.screen);
        // A text input has the keys while it is active; what it ignores goes on.
        if let Some(input) = top.get_mut().input() {
            let out = input.on_key(&key);
            match out {
                InputOutcome::Ignored => {}
                InputOutcome::Rejected => return Vec::new(),
                out => {
                    let o = top.get_mut().on_input(out, &self.data);
                    return self.apply(o);
                }
            }
        }
        let scope = self.scope();
        let Some(cmd) = keys::lookup(scope, &key, self.data.keys_readonly()) else {
            self.explain_missing(scope, &key);
            return Vec::new();
        };
        let outcomes = match cmd {
            // Quit closes a popup (whatever key it is bound to); on a screen it quits.
            Cmd::Quit if !self.popups.is_empty() => vec![Outcome::Pop],
            Cmd::Quit => vec![Outcome::Quit],
            Cmd::Command => {
                if matches!(scope, Scope::Picker | Scope::Dashboard) {
                    vec![Outcome::Push(CommandBar::default().into())]
                } else {
                    Vec::new()
                }
            }
            Cmd::Messages if scope != Scope::Messages => {
                vec![Outcome::Push(Messages::default().into())]
            }
            Cmd::Help if scope != Scope::Help => vec![Outcome::Push(Help::new(scope).into())],
            Cmd::Refresh => {
                self.data.say(Severity::Info, "refreshing…");
                vec![Ask::Refresh.into()]
            }
            _ => {
                let top = self.popups.last_mut().unwrap_or(&mut self.screen);
                top.get_mut().on_cmd(cmd, &self.data)
            }
        };
        let mut effects = self.apply(outcomes);
        if matches!(cmd, Cmd::Refresh) && self.data.wants_arbiter() && !self.data.polling {
            let cur = self.data.current.as_ref().expect("wants_arbiter");
            effects.push(Effect::ArbiterPoll {
                ns: cur.name.clone(),
                endpoint: cur.summary.circus_endpoint.clone().unwrap_or_default(),
            });
            self.data.polling = true;
        }
        effects
    }

    /// Says why a key that changes the deployment does nothing.
    fn explain_missing(&mut self, scope: Scope, key: &KeyEvent) {
        let Some(b) = keys::binding(scope, key, false).filter(|b| b.dangerous) else {
            return;
        };
        let d = &mut self.data;
        match &d.current {
            Some(cur) if cur.discovery_only => {
                let text = no_scaling(&cur.name);
                d.say(Severity::Warn, text)
            }
            _ if d.readonly => d.say(
                Severity::Warn,
                format!(
                    "read-only mode (--readonly): {} ({}) is off",
                    b.label, b.desc
                ),
            ),
            _ => {}
        }
    }

    /// Carries out what panels and the data asked for; returns the effects to run.
    fn apply(&mut self, outcomes: Vec<Outcome>) -> Vec<Effect> {
        let mut effects = Vec::new();
        let mut queue: std::collections::VecDeque<Outcome> = outcomes.into();
        while let Some(o) = queue.pop_front() {
            match o {
                Outcome::Push(mut p) => {
                    // A new panel starts on the data as it is (its cursor on a row).
                    queue.extend(p.get_mut().on_data(&self.data));
                    self.popups.push(p);
                }
                Outcome::Pop => {
                    self.popups.pop();
                }
                Outcome::PopAll => self.popups.clear(),
                Outcome::PopFlow => {
                    self.popups.pop();
                    if matches!(self.popups.last(), Some(AnyPanel::Choose(_))) {
                        self.popups.pop();
                    }
                }
                Outcome::Say(severity, text) => self.data.say(severity, text),
                Outcome::Effect(e) => effects.push(e),
                Outcome::Quit => self.quit = true,
                Outcome::Ask(ask) => {
                    let more = self.ask(ask, &mut effects);
                    queue.extend(more);
                }
            }
        }
        effects
    }
}
