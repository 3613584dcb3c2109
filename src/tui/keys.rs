//! The one key registry: it decides what a key does, and it is what the footer hints and
//! the `?` help are generated from. `--readonly` drops the dangerous bindings, so the keys,
//! the footer and the help all lose them at once.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a key asks for. Which one applies depends on the [`Scope`] that has the keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmd {
    Quit,
    Help,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Open,
    Filter,
    Namespaces,
    Add,
    Remove,
    FocusNext,
    FocusPrev,
    Close,
    Yes,
    No,
    SwitchButton,
    Scale,
    Refresh,
    Pause,
    Messages,
    RemoveThis,
    Wrap,
    Left,
    Right,
    Command,
    Complete,
    Live,
    Metrics,
}

/// Who has the keys: the top popup, else the screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Global,
    Picker,
    Dashboard,
    Choose,
    Confirm,
    Help,
    ScaleInput,
    Messages,
    Instances,
    Entry,
    Command,
    Live,
    LiveEntry,
    Metrics,
}

impl Scope {
    pub fn title(self) -> &'static str {
        match self {
            Scope::Global => "Everywhere",
            Scope::Picker => "Namespace picker",
            Scope::Dashboard => "Dashboard",
            Scope::Choose => "Choose a type",
            Scope::Confirm => "Confirm",
            Scope::Help => "Help",
            Scope::ScaleInput => "Scale to N",
            Scope::Messages => "Message history",
            Scope::Instances => "Instances of a type",
            Scope::Entry => "One instance",
            Scope::Command => "Command bar",
            Scope::Live => "Registered instances (discovery)",
            Scope::LiveEntry => "One registration",
            Scope::Metrics => "Load of a component",
        }
    }
}

/// A key as written in the registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    Char(char),
    Ctrl(char),
    Code(KeyCode),
}

impl Key {
    pub fn matches(self, ev: &KeyEvent) -> bool {
        let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
        match self {
            Key::Char(c) => !ctrl && ev.code == KeyCode::Char(c),
            Key::Ctrl(c) => ctrl && ev.code == KeyCode::Char(c),
            Key::Code(code) => !ctrl && ev.code == code,
        }
    }
}

/// One entry of the registry.
#[derive(Clone, Copy, Debug)]
pub struct Binding {
    pub scope: Scope,
    pub keys: &'static [Key],
    /// How the keys are written in the footer and help, e.g. `j/↓`.
    pub label: &'static str,
    pub desc: &'static str,
    pub cmd: Cmd,
    /// Changes the deployment; gone with `--readonly`.
    pub dangerous: bool,
    /// The footer's short word; empty: help only.
    pub hint: &'static str,
}

const fn b(
    scope: Scope,
    keys: &'static [Key],
    label: &'static str,
    desc: &'static str,
    cmd: Cmd,
    dangerous: bool,
    hint: &'static str,
) -> Binding {
    Binding {
        scope,
        keys,
        label,
        desc,
        cmd,
        dangerous,
        hint,
    }
}

use Key::{Char as C, Code as K, Ctrl};
use Scope::*;

pub const BINDINGS: &[Binding] = &[
    b(
        Picker,
        &[C('k'), K(KeyCode::Up)],
        "k/↑",
        "previous namespace",
        Cmd::Up,
        false,
        "up",
    ),
    b(
        Picker,
        &[C('j'), K(KeyCode::Down)],
        "j/↓",
        "next namespace",
        Cmd::Down,
        false,
        "down",
    ),
    b(
        Picker,
        &[C('g'), K(KeyCode::Home)],
        "g/Home",
        "first namespace",
        Cmd::Top,
        false,
        "",
    ),
    b(
        Picker,
        &[C('G'), K(KeyCode::End)],
        "G/End",
        "last namespace",
        Cmd::Bottom,
        false,
        "",
    ),
    b(
        Picker,
        &[K(KeyCode::PageUp)],
        "PgUp",
        "a page up",
        Cmd::PageUp,
        false,
        "",
    ),
    b(
        Picker,
        &[K(KeyCode::PageDown)],
        "PgDn",
        "a page down",
        Cmd::PageDown,
        false,
        "",
    ),
    b(
        Picker,
        &[K(KeyCode::Enter)],
        "Enter",
        "open the namespace",
        Cmd::Open,
        false,
        "open",
    ),
    b(
        Picker,
        &[C('/')],
        "/",
        "filter by name",
        Cmd::Filter,
        false,
        "filter",
    ),
    b(
        Picker,
        &[K(KeyCode::Esc)],
        "Esc",
        "clear the filter / close",
        Cmd::Close,
        false,
        "",
    ),
    b(
        Dashboard,
        &[C('k'), K(KeyCode::Up)],
        "k/↑",
        "select / scroll up",
        Cmd::Up,
        false,
        "",
    ),
    b(
        Dashboard,
        &[C('j'), K(KeyCode::Down)],
        "j/↓",
        "select / scroll down",
        Cmd::Down,
        false,
        "",
    ),
    b(
        Dashboard,
        &[K(KeyCode::PageUp)],
        "PgUp",
        "scroll a page up",
        Cmd::PageUp,
        false,
        "",
    ),
    b(
        Dashboard,
        &[K(KeyCode::PageDown)],
        "PgDn",
        "scroll a page down",
        Cmd::PageDown,
        false,
        "",
    ),
    b(
        Dashboard,
        &[C('g'), K(KeyCode::Home)],
        "g/Home",
        "go to the top",
        Cmd::Top,
        false,
        "",
    ),
    b(
        Dashboard,
        &[C('G'), K(KeyCode::End)],
        "G/End",
        "go to the bottom",
        Cmd::Bottom,
        false,
        "",
    ),
    b(
        Dashboard,
        &[K(KeyCode::Tab)],
        "Tab",
        "next panel",
        Cmd::FocusNext,
        false,
        "panel",
    ),
    b(
        Dashboard,
        &[K(KeyCode::BackTab)],
        "S-Tab",
        "previous panel",
        Cmd::FocusPrev,
        false,
        "",
    ),
    b(
        Dashboard,
        &[C('a')],
        "a",
        "add an instance",
        Cmd::Add,
        true,
        "add",
    ),
    b(
        Dashboard,
        &[C('r')],
        "r",
        "remove an instance",
        Cmd::Remove,
        true,
        "remove",
    ),
    b(
        Dashboard,
        &[K(KeyCode::Enter)],
        "Enter",
        "the selected type's instances",
        Cmd::Open,
        false,
        "open",
    ),
    b(
        Dashboard,
        &[C('s')],
        "s",
        "scale the selected type to N",
        Cmd::Scale,
        true,
        "scale",
    ),
    b(
        Dashboard,
        &[C('m')],
        "m",
        "load of the selected row, 15 min",
        Cmd::Metrics,
        false,
        "load",
    ),
    b(
        Dashboard,
        &[C('i')],
        "i",
        "registered instances (discovery)",
        Cmd::Live,
        false,
        "live",
    ),
    b(
        Dashboard,
        &[C('n')],
        "n",
        "switch namespace",
        Cmd::Namespaces,
        false,
        "namespace",
    ),
    b(
        Dashboard,
        &[C('/')],
        "/",
        "filter rows by type or watcher",
        Cmd::Filter,
        false,
        "",
    ),
    b(
        Dashboard,
        &[C('w')],
        "w",
        "State panel: wrap on / off",
        Cmd::Wrap,
        false,
        "",
    ),
    b(
        Dashboard,
        &[C('h'), K(KeyCode::Left)],
        "h/←",
        "State panel: scroll left",
        Cmd::Left,
        false,
        "",
    ),
    b(
        Dashboard,
        &[C('l'), K(KeyCode::Right)],
        "l/→",
        "State panel: scroll right",
        Cmd::Right,
        false,
        "",
    ),
    b(
        Dashboard,
        &[C('p')],
        "p",
        "pause / resume live updates",
        Cmd::Pause,
        false,
        "pause",
    ),
    b(
        Dashboard,
        &[K(KeyCode::Esc)],
        "Esc",
        "back to the namespace picker",
        Cmd::Close,
        false,
        "",
    ),
    b(
        Instances,
        &[C('k'), K(KeyCode::Up)],
        "k/↑",
        "previous instance",
        Cmd::Up,
        false,
        "up",
    ),
    b(
        Instances,
        &[C('j'), K(KeyCode::Down)],
        "j/↓",
        "next instance",
        Cmd::Down,
        false,
        "down",
    ),
    b(
        Instances,
        &[K(KeyCode::Enter)],
        "Enter",
        "the instance's full entry",
        Cmd::Open,
        false,
        "open",
    ),
    b(
        Instances,
        &[C('/')],
        "/",
        "filter the instances",
        Cmd::Filter,
        false,
        "filter",
    ),
    b(
        Instances,
        &[C('x')],
        "x",
        "remove this instance",
        Cmd::RemoveThis,
        true,
        "remove",
    ),
    b(
        Instances,
        &[K(KeyCode::Esc)],
        "Esc",
        "back",
        Cmd::Close,
        false,
        "back",
    ),
    b(
        Entry,
        &[C('k'), K(KeyCode::Up)],
        "k/↑",
        "scroll up",
        Cmd::Up,
        false,
        "up",
    ),
    b(
        Entry,
        &[C('j'), K(KeyCode::Down)],
        "j/↓",
        "scroll down",
        Cmd::Down,
        false,
        "down",
    ),
    b(
        Entry,
        &[C('x')],
        "x",
        "remove this instance",
        Cmd::RemoveThis,
        true,
        "remove",
    ),
    b(
        Entry,
        &[K(KeyCode::Esc)],
        "Esc",
        "back",
        Cmd::Close,
        false,
        "back",
    ),
    b(
        Live,
        &[C('k'), K(KeyCode::Up)],
        "k/↑",
        "previous instance",
        Cmd::Up,
        false,
        "up",
    ),
    b(
        Live,
        &[C('j'), K(KeyCode::Down)],
        "j/↓",
        "next instance",
        Cmd::Down,
        false,
        "down",
    ),
    b(
        Live,
        &[C('g'), K(KeyCode::Home)],
        "g/Home",
        "first instance",
        Cmd::Top,
        false,
        "",
    ),
    b(
        Live,
        &[C('G'), K(KeyCode::End)],
        "G/End",
        "last instance",
        Cmd::Bottom,
        false,
        "",
    ),
    b(
        Live,
        &[K(KeyCode::PageUp)],
        "PgUp",
        "a page up",
        Cmd::PageUp,
        false,
        "",
    ),
    b(
        Live,
        &[K(KeyCode::PageDown)],
        "PgDn",
        "a page down",
        Cmd::PageDown,
        false,
        "",
    ),
    b(
        Live,
        &[K(KeyCode::Enter)],
        "Enter",
        "the registration as stored",
        Cmd::Open,
        false,
        "open",
    ),
    b(
        Live,
        &[C('/')],
        "/",
        "filter the instances",
        Cmd::Filter,
        false,
        "filter",
    ),
    b(
        Live,
        &[K(KeyCode::Esc), C('i')],
        "Esc/i",
        "clear the filter / back",
        Cmd::Close,
        false,
        "back",
    ),
    b(
        LiveEntry,
        &[C('k'), K(KeyCode::Up)],
        "k/↑",
        "scroll up",
        Cmd::Up,
        false,
        "up",
    ),
    b(
        LiveEntry,
        &[C('j'), K(KeyCode::Down)],
        "j/↓",
        "scroll down",
        Cmd::Down,
        false,
        "down",
    ),
    b(
        Metrics,
        &[K(KeyCode::Esc), C('m')],
        "Esc/m",
        "back",
        Cmd::Close,
        false,
        "back",
    ),
    b(
        LiveEntry,
        &[K(KeyCode::Esc)],
        "Esc",
        "back",
        Cmd::Close,
        false,
        "back",
    ),
    b(
        Command,
        &[K(KeyCode::Tab)],
        "Tab",
        "complete the word",
        Cmd::Complete,
        false,
        "complete",
    ),
    b(
        Command,
        &[K(KeyCode::Enter)],
        "Enter",
        "run it",
        Cmd::Open,
        false,
        "run",
    ),
    b(
        Command,
        &[K(KeyCode::Esc)],
        "Esc",
        "close",
        Cmd::Close,
        false,
        "close",
    ),
    b(
        ScaleInput,
        &[K(KeyCode::Enter)],
        "Enter",
        "show the plan for the typed N",
        Cmd::Open,
        false,
        "plan",
    ),
    b(
        ScaleInput,
        &[K(KeyCode::Esc)],
        "Esc",
        "cancel",
        Cmd::Close,
        false,
        "cancel",
    ),
    b(
        Messages,
        &[C('k'), K(KeyCode::Up)],
        "k/↑",
        "older",
        Cmd::Up,
        false,
        "up",
    ),
    b(
        Messages,
        &[C('j'), K(KeyCode::Down)],
        "j/↓",
        "newer",
        Cmd::Down,
        false,
        "down",
    ),
    b(
        Messages,
        &[K(KeyCode::Esc), C('M')],
        "Esc/M",
        "close",
        Cmd::Close,
        false,
        "close",
    ),
    b(
        Choose,
        &[C('k'), K(KeyCode::Up)],
        "k/↑",
        "previous type",
        Cmd::Up,
        false,
        "up",
    ),
    b(
        Choose,
        &[C('j'), K(KeyCode::Down)],
        "j/↓",
        "next type",
        Cmd::Down,
        false,
        "down",
    ),
    b(
        Choose,
        &[K(KeyCode::Enter)],
        "Enter",
        "choose",
        Cmd::Open,
        false,
        "choose",
    ),
    b(
        Choose,
        &[K(KeyCode::Esc)],
        "Esc",
        "back",
        Cmd::Close,
        false,
        "back",
    ),
    b(
        Confirm,
        &[C('y')],
        "y",
        "yes, do it",
        Cmd::Yes,
        false,
        "yes",
    ),
    b(Confirm, &[C('n')], "n", "no, cancel", Cmd::No, false, "no"),
    b(
        Confirm,
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
    b(
        Confirm,
        &[K(KeyCode::Enter)],
        "Enter",
        "press the focused button",
        Cmd::Open,
        false,
        "press",
    ),
    b(
        Confirm,
        &[K(KeyCode::Esc)],
        "Esc",
        "back",
        Cmd::Close,
        false,
        "back",
    ),
    b(
        Help,
        &[K(KeyCode::Esc), C('?')],
        "Esc/?",
        "close the help",
        Cmd::Close,
        false,
        "close",
    ),
    b(
        Help,
        &[C('k'), K(KeyCode::Up)],
        "k/↑",
        "scroll up",
        Cmd::Up,
        false,
        "",
    ),
    b(
        Help,
        &[C('j'), K(KeyCode::Down)],
        "j/↓",
        "scroll down",
        Cmd::Down,
        false,
        "",
    ),
    b(Global, &[C('?')], "?", "help", Cmd::Help, false, "help"),
    b(
        Global,
        &[C(':')],
        ":",
        "command bar: ns, scale, q, a type",
        Cmd::Command,
        false,
        "",
    ),
    b(
        Global,
        &[C('M')],
        "M",
        "message history (the last 100)",
        Cmd::Messages,
        false,
        "",
    ),
    b(
        Global,
        &[Ctrl('r')],
        "Ctrl-R",
        "refresh now",
        Cmd::Refresh,
        false,
        "",
    ),
    b(
        Global,
        &[C('q'), Ctrl('c')],
        "q",
        "quit (in a popup: close it)",
        Cmd::Quit,
        false,
        "quit",
    ),
];

/// An action the configuration may rebind (`[keys]` in config.toml).
#[derive(Clone, Copy, Debug)]
pub struct Action {
    pub name: &'static str,
    pub scope: Scope,
    pub cmd: Cmd,
}

const fn act(name: &'static str, scope: Scope, cmd: Cmd) -> Action {
    Action { name, scope, cmd }
}

pub const ACTIONS: &[Action] = &[
    act("quit", Global, Cmd::Quit),
    act("help", Global, Cmd::Help),
    act("messages", Global, Cmd::Messages),
    act("refresh", Global, Cmd::Refresh),
    act("command", Global, Cmd::Command),
    act("add", Dashboard, Cmd::Add),
    act("remove", Dashboard, Cmd::Remove),
    act("scale", Dashboard, Cmd::Scale),
    act("namespaces", Dashboard, Cmd::Namespaces),
    act("pause", Dashboard, Cmd::Pause),
    act("wrap", Dashboard, Cmd::Wrap),
    act("filter", Dashboard, Cmd::Filter),
    act("open", Dashboard, Cmd::Open),
    act("live", Dashboard, Cmd::Live),
    act("load", Dashboard, Cmd::Metrics),
    act("remove_instance", Instances, Cmd::RemoveThis),
    act("remove_instance", Entry, Cmd::RemoveThis),
];

/// A rebinding in force: the action's (scope, command), its key and the key's label.
type Override = (Scope, Cmd, &'static [Key], &'static str);

static OVERRIDES: std::sync::OnceLock<Vec<Override>> = std::sync::OnceLock::new();

/// How a key is written in the footer and the help.
pub fn key_label(k: Key) -> String {
    match k {
        Key::Char(c) => c.to_string(),
        Key::Ctrl(c) => format!("Ctrl-{}", c.to_ascii_uppercase()),
        Key::Code(KeyCode::F(n)) => format!("F{n}"),
        Key::Code(KeyCode::PageUp) => "PgUp".into(),
        Key::Code(KeyCode::PageDown) => "PgDn".into(),
        Key::Code(c) => format!("{c:?}"),
    }
}

/// Checks rebindings: each key must be free where its action is looked up (its scope and,
/// for a global action, every scope; for a scoped one, the global bindings too).
pub fn check_overrides(map: &[(&'static str, Key)]) -> Result<(), (&'static str, String)> {
    fn actions(name: &str) -> impl Iterator<Item = &'static Action> + '_ {
        ACTIONS.iter().filter(move |a| a.name == name)
    }
    let rebound = |b: &Binding| {
        map.iter()
            .any(|(n, _)| actions(n).any(|o| o.scope == b.scope && o.cmd == b.cmd))
    };
    for (i, (name, key)) in map.iter().enumerate() {
        if actions(name).next().is_none() {
            return Err((name, "unknown action".into()));
        }
        for a in actions(name) {
            let sees = |s: Scope| a.scope == Global || s == Global || s == a.scope;
            // Taken by a binding that stays (is not rebound itself)?
            let taken = BINDINGS.iter().find(|b| {
                sees(b.scope)
                    && !(b.scope == a.scope && b.cmd == a.cmd)
                    && !rebound(b)
                    && b.keys.contains(key)
            });
            if let Some(b) = taken {
                return Err((
                    name,
                    format!(
                        "{} is already bound to \"{}\" ({})",
                        key_label(*key),
                        b.desc,
                        b.scope.title()
                    ),
                ));
            }
            // Or by another rebinding?
            if let Some((other, _)) = map[..i]
                .iter()
                .find(|(n, k)| k == key && actions(n).any(|o| sees(o.scope)))
            {
                return Err((
                    name,
                    format!("{} is also given to {other}", key_label(*key)),
                ));
            }
        }
    }
    Ok(())
}

/// Puts rebindings in force, once per process (the TUI does it at start). They change
/// what keys do and how the footer and the help write them, together.
pub fn set_overrides(map: &[(&'static str, Key)]) -> Result<(), (&'static str, String)> {
    check_overrides(map)?;
    let list: Vec<Override> = map
        .iter()
        .flat_map(|(name, key)| {
            let keys: &'static [Key] = Box::leak(vec![*key].into_boxed_slice());
            let label: &'static str = Box::leak(key_label(*key).into_boxed_str());
            ACTIONS
                .iter()
                .filter(move |a| a.name == *name)
                .map(move |a| (a.scope, a.cmd, keys, label))
        })
        .collect();
    let _ = OVERRIDES.set(list);
    Ok(())
}

/// The bindings in force: the registry with the configured rebindings applied.
pub fn bindings(readonly: bool) -> impl Iterator<Item = Binding> {
    let overrides = OVERRIDES.get().map(Vec::as_slice).unwrap_or(&[]);
    BINDINGS
        .iter()
        .filter(move |b| !(readonly && b.dangerous))
        .map(move |b| {
            match overrides
                .iter()
                .find(|(s, c, _, _)| *s == b.scope && *c == b.cmd)
            {
                Some((_, _, keys, label)) => Binding { keys, label, ..*b },
                None => *b,
            }
        })
}

/// The binding `ev` hits in `scope` (then the global ones).
pub fn binding(scope: Scope, ev: &KeyEvent, readonly: bool) -> Option<Binding> {
    let find = |s: Scope| {
        bindings(readonly).find(|b| b.scope == s && b.keys.iter().any(|k| k.matches(ev)))
    };
    find(scope).or_else(|| find(Scope::Global))
}

/// What `ev` does in `scope`: the scope's own bindings first, then the global ones.
pub fn lookup(scope: Scope, ev: &KeyEvent, readonly: bool) -> Option<Cmd> {
    binding(scope, ev, readonly).map(|b| b.cmd)
}

/// Footer hints for `scope`: its footer bindings, then the global ones.
pub fn footer(scope: Scope, readonly: bool) -> Vec<(&'static str, &'static str)> {
    bindings(readonly)
        .filter(|b| !b.hint.is_empty() && (b.scope == scope || b.scope == Scope::Global))
        // In the help, `?` closes it: listed once.
        .filter(|b| !(scope == Scope::Help && b.scope == Scope::Global && b.cmd == Cmd::Help))
        .map(|b| (b.label, b.hint))
        .collect()
}

/// The help, grouped by scope, in registry order.
pub fn help(readonly: bool) -> Vec<(Scope, Vec<(&'static str, &'static str)>)> {
    let mut out: Vec<(Scope, Vec<(&'static str, &'static str)>)> = Vec::new();
    for scope in [
        Global, Picker, Dashboard, Instances, Entry, Live, LiveEntry, Choose, Confirm, ScaleInput,
        Messages, Command, Help,
    ] {
        let rows: Vec<_> = bindings(readonly)
            .filter(|b| b.scope == scope)
            .map(|b| (b.label, b.desc))
            .collect();
        if !rows.is_empty() {
            out.push((scope, rows));
        }
    }
    out
}
