//! Panels: every screen and popup of the TUI, one file (or folder) each, holding its state,
//! its keys, its key handling and its drawing.
//!
//! A panel reads [`Data`] and changes nothing outside itself: it answers a key or a change
//! of data with [`Outcome`]s (push or pop a panel, say something, run an effect, ask `App`
//! for something that changes what the sources said, quit). `App` never names a panel's
//! fields, and panels never name `App` or each other.
//!
//! Registering a panel is one line of [`registry!`] below: it makes the panel's
//! [`Scope`] (whose keys the registry looks up), its [`AnyPanel`] variant, and feeds its
//! `KEYS` to the key registry, the footer and the help (in this order), so the help cannot
//! miss a panel.

use ratatui::Frame;
use ratatui::layout::Rect;

use super::action::{Effect, Intent, Op};
use super::data::{Data, Severity};
use super::keys::{Cmd, KeyDef};
use super::ui::View;
use super::widgets::{InputOutcome, TextInput};
use crate::state::scale::Change;

pub mod choose;
pub mod command;
pub mod confirm;
pub mod dashboard;
pub mod entry;
pub mod help;
pub mod instances;
pub mod load;
pub mod logs;
pub mod messages;
pub mod picker;
pub mod registration;
pub mod registrations;
pub mod scale;

/// What a panel asks for.
#[derive(Debug)]
pub enum Outcome {
    /// Open this panel on top.
    Push(AnyPanel),
    /// Close the top panel.
    Pop,
    /// Close every popup (the screen stays).
    PopAll,
    /// Close the add/remove flow: the top panel, and the type chooser under it if any.
    PopFlow,
    /// A status message.
    Say(Severity, String),
    Effect(Effect),
    Quit,
    /// Something only `App` can do: it changes what the TUI shows as data.
    Ask(Ask),
}

/// What a panel asks of `App`.
#[derive(Debug)]
pub enum Ask {
    /// Open namespace `name` (the dashboard comes when it is read).
    Open(String),
    /// Leave the open namespace: back to the picker.
    Leave,
    /// Read the directory and the open namespace again.
    Refresh,
    /// `p`: stop or resume applying live updates.
    TogglePause,
    /// Work out what `op` on `ty` would do now and open its confirm (or say why not).
    Plan {
        op: Op,
        ty: String,
        target: Option<String>,
    },
    /// Open the confirm of this very plan (the file moved on: ask again).
    Confirm {
        op: Op,
        ty: String,
        target: Option<String>,
        plan: Vec<Change>,
    },
    /// A worker did not exit after SIGTERM: offer to kill it.
    Kill {
        intent: Intent,
        done: usize,
        message: String,
    },
    /// Start the confirmed change.
    Start(Intent),
    /// Select the row of this type or component on the screen.
    Select(String),
}

impl From<Ask> for Outcome {
    fn from(a: Ask) -> Outcome {
        Outcome::Ask(a)
    }
}

/// `c`: `text` to the terminal's clipboard, and say what was copied (`what`: "watcher
/// names", "instance id"...).
pub fn copy(what: &str, text: String) -> Vec<Outcome> {
    if text.trim().is_empty() {
        return vec![say(
            Severity::Warn,
            format!("nothing to copy: no {what} here"),
        )];
    }
    let mut shown: String = text.chars().take(60).collect();
    if shown.len() < text.len() {
        shown.push('…');
    }
    vec![
        Outcome::Effect(Effect::Copy(text)),
        say(Severity::Ok, format!("copied {what}: {shown}")),
    ]
}

/// A status message as an outcome.
pub fn say(severity: Severity, text: impl Into<String>) -> Outcome {
    Outcome::Say(severity, text.into())
}

/// A screen or a popup.
pub trait Panel {
    /// The text input that gets keys before the key registry, while one is active.
    fn input(&mut self) -> Option<&mut TextInput> {
        None
    }

    /// The active text input, for the footer (its keys are all that can be typed).
    fn input_ref(&self) -> Option<&TextInput> {
        None
    }

    /// What the active input did with a key (never [`InputOutcome::Ignored`]).
    fn on_input(&mut self, _out: InputOutcome, _d: &Data) -> Vec<Outcome> {
        Vec::new()
    }

    /// A key the registry mapped to `cmd` in this panel's scope.
    fn on_cmd(&mut self, cmd: Cmd, d: &Data) -> Vec<Outcome>;

    /// What the sources said changed: follow it (cursors stay on their items, a confirm
    /// states what confirming would do now).
    fn on_data(&mut self, _d: &Data) -> Vec<Outcome> {
        Vec::new()
    }

    /// `Ask::Select` reached this panel (the screen): select that row; false if unknown.
    fn select(&mut self, _name: &str, _d: &Data) -> bool {
        false
    }

    /// A notice for the footer before the hints (why keys are missing, what typing does).
    fn notice(&self, _d: &Data) -> Option<String> {
        None
    }

    /// Whether the panel shows what the live tracker times (flashes, leavers).
    fn shows_live(&self) -> bool {
        false
    }

    /// The id of the log this panel follows ([`Action::Log`](super::action::Action::Log)
    /// news go to it).
    fn log_id(&self) -> Option<u64> {
        None
    }

    /// News of the panel's log.
    fn on_log(&mut self, _news: logs::LogNews) -> Vec<Outcome> {
        Vec::new()
    }

    /// Draws the panel; `area` is the body (a popup centres itself in it), `top`: it has
    /// the keys.
    fn draw(&self, frame: &mut Frame, area: Rect, d: &Data, v: &View, top: bool);
}

macro_rules! registry {
    ($( $name:ident => $m:ident :: $ty:ident ),* $(,)?) => {
        /// Who has the keys: one scope per registered panel, plus the global keys.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Scope {
            Global,
            $($name),*
        }

        impl Scope {
            /// Every scope, in the order of the help.
            pub const ALL: &[Scope] = &[Scope::Global, $(Scope::$name),*];

            /// The help's section title.
            pub fn title(self) -> &'static str {
                match self {
                    Scope::Global => "Everywhere",
                    $(Scope::$name => $m::TITLE),*
                }
            }

            /// The scope's keys.
            pub fn keys(self) -> &'static [KeyDef] {
                match self {
                    Scope::Global => super::keys::GLOBAL,
                    $(Scope::$name => $m::KEYS),*
                }
            }
        }

        /// A registered panel.
        #[derive(Debug)]
        #[allow(clippy::large_enum_variant)] // a handful on a stack
        pub enum AnyPanel {
            $($name($m::$ty)),*
        }

        impl AnyPanel {
            pub fn get(&self) -> &dyn Panel {
                match self {
                    $(AnyPanel::$name(p) => p),*
                }
            }

            pub fn get_mut(&mut self) -> &mut dyn Panel {
                match self {
                    $(AnyPanel::$name(p) => p),*
                }
            }

            /// Whose keys it has.
            pub fn scope(&self) -> Scope {
                match self {
                    $(AnyPanel::$name(_) => Scope::$name),*
                }
            }
        }

        $(
            impl From<$m::$ty> for AnyPanel {
                fn from(p: $m::$ty) -> AnyPanel {
                    AnyPanel::$name(p)
                }
            }
        )*
    };
}

// One line per panel: the help lists their keys in this order.
registry! {
    Picker => picker::Picker,
    Dashboard => dashboard::Dashboard,
    Instances => instances::Instances,
    Entry => entry::Entry,
    Live => registrations::Registrations,
    LiveEntry => registration::Registration,
    Metrics => load::LoadView,
    Logs => logs::LogView,
    Choose => choose::Choose,
    Confirm => confirm::Confirm,
    ScaleInput => scale::ScalePrompt,
    Messages => messages::Messages,
    Command => command::CommandBar,
    Help => help::Help,
}

/// A panel pushed on top, as an outcome.
pub fn push(p: impl Into<AnyPanel>) -> Outcome {
    Outcome::Push(p.into())
}
