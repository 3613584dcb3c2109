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
    Copy,
    /// Sort by the table's column N (again: reverse).
    SortBy(u8),
    SortPrev,
    SortNext,
    /// `l`: the selected watcher's (or type's) log.
    Logs,
    /// Space in a log: follow on / off.
    Follow,
    /// `o` in a log: stdout / stderr.
    Stream,
    /// `m` in a log: both streams merged.
    Merge,
    /// `n` / `N`: the next / previous search match.
    NextMatch,
    PrevMatch,
}

pub use super::panels::Scope;

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

/// One key of a panel, as the panel declares it.
#[derive(Clone, Copy, Debug)]
pub struct KeyDef {
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

/// A key of the registry: a panel's [`KeyDef`] in the panel's scope.
#[derive(Clone, Copy, Debug)]
pub struct Binding {
    pub scope: Scope,
    pub keys: &'static [Key],
    pub label: &'static str,
    pub desc: &'static str,
    pub cmd: Cmd,
    pub dangerous: bool,
    pub hint: &'static str,
}

/// A key definition, for the panels' `KEYS` tables.
pub const fn k(
    keys: &'static [Key],
    label: &'static str,
    desc: &'static str,
    cmd: Cmd,
    dangerous: bool,
    hint: &'static str,
) -> KeyDef {
    KeyDef {
        keys,
        label,
        desc,
        cmd,
        dangerous,
        hint,
    }
}

pub use Key::{Char as C, Code as K, Ctrl};

/// The paging keys every list and scroll view shares (beside its own k/j).
pub const PAGE_UP: KeyDef = k(
    &[K(KeyCode::PageUp)],
    "PgUp",
    "a page up",
    Cmd::PageUp,
    false,
    "",
);
pub const PAGE_DOWN: KeyDef = k(
    &[K(KeyCode::PageDown)],
    "PgDn",
    "a page down",
    Cmd::PageDown,
    false,
    "",
);
/// `k` / `j` in a view that scrolls (an entry, a registration).
pub const SCROLL_UP: KeyDef = k(
    &[C('k'), K(KeyCode::Up)],
    "k/↑",
    "scroll up",
    Cmd::Up,
    false,
    "up",
);
pub const SCROLL_DOWN: KeyDef = k(
    &[C('j'), K(KeyCode::Down)],
    "j/↓",
    "scroll down",
    Cmd::Down,
    false,
    "down",
);
/// `c` in every list and view: the selected row's name, id or text to the clipboard.
pub const COPY: KeyDef = k(
    &[C('c')],
    "c",
    "copy the selection (OSC 52)",
    Cmd::Copy,
    false,
    "",
);
/// `<` / `>` in a sortable table: the sort moves one column.
pub const SORT_PREV: KeyDef = k(
    &[C('<')],
    "<",
    "sort by the column on the left",
    Cmd::SortPrev,
    false,
    "",
);
pub const SORT_NEXT: KeyDef = k(
    &[C('>')],
    ">",
    "sort by the column on the right",
    Cmd::SortNext,
    false,
    "sort",
);

/// A sort command on a table of `columns` sortable columns; false for any other command.
pub fn sort(cmd: Cmd, sort: &mut crate::tui::widgets::Sort, columns: usize) -> bool {
    match cmd {
        Cmd::SortBy(col) => sort.by(usize::from(col)),
        Cmd::SortPrev => sort.shift(-1, columns),
        Cmd::SortNext => sort.shift(1, columns),
        _ => return false,
    }
    true
}

pub const TOP: KeyDef = k(
    &[C('g'), K(KeyCode::Home)],
    "g/Home",
    "to the top",
    Cmd::Top,
    false,
    "",
);
pub const BOTTOM: KeyDef = k(
    &[C('G'), K(KeyCode::End)],
    "G/End",
    "to the bottom",
    Cmd::Bottom,
    false,
    "",
);

/// The list or scroll move a command asks for.
pub fn nav(cmd: Cmd) -> Option<super::widgets::Nav> {
    use super::widgets::Nav;
    Some(match cmd {
        Cmd::Up => Nav::Up,
        Cmd::Down => Nav::Down,
        Cmd::PageUp => Nav::PageUp,
        Cmd::PageDown => Nav::PageDown,
        Cmd::Top => Nav::Top,
        Cmd::Bottom => Nav::Bottom,
        _ => return None,
    })
}

/// The keys that work everywhere.
pub const GLOBAL: &[KeyDef] = &[
    k(&[C('?')], "?", "help", Cmd::Help, false, "help"),
    k(
        &[C(':')],
        ":",
        "command bar: ns, scale, q, a type",
        Cmd::Command,
        false,
        "",
    ),
    k(
        &[C('M'), C('E')],
        "M/E",
        "events and messages (the last 1,000)",
        Cmd::Messages,
        false,
        "",
    ),
    k(
        &[Ctrl('r')],
        "Ctrl-R",
        "refresh now",
        Cmd::Refresh,
        false,
        "",
    ),
    k(
        &[C('q'), Ctrl('c')],
        "q",
        "quit (in a popup: close it)",
        Cmd::Quit,
        false,
        "quit",
    ),
];

/// Every binding of the registry: the global keys and each registered panel's.
pub fn registry() -> impl Iterator<Item = Binding> {
    Scope::ALL.iter().flat_map(|&scope| {
        scope.keys().iter().map(move |d| Binding {
            scope,
            keys: d.keys,
            label: d.label,
            desc: d.desc,
            cmd: d.cmd,
            dangerous: d.dangerous,
            hint: d.hint,
        })
    })
}

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
    act("quit", Scope::Global, Cmd::Quit),
    act("help", Scope::Global, Cmd::Help),
    act("messages", Scope::Global, Cmd::Messages),
    act("refresh", Scope::Global, Cmd::Refresh),
    act("command", Scope::Global, Cmd::Command),
    act("add", Scope::Dashboard, Cmd::Add),
    act("remove", Scope::Dashboard, Cmd::Remove),
    act("scale", Scope::Dashboard, Cmd::Scale),
    act("namespaces", Scope::Dashboard, Cmd::Namespaces),
    act("pause", Scope::Dashboard, Cmd::Pause),
    act("wrap", Scope::Dashboard, Cmd::Wrap),
    act("filter", Scope::Dashboard, Cmd::Filter),
    act("open", Scope::Dashboard, Cmd::Open),
    act("live", Scope::Dashboard, Cmd::Live),
    act("load", Scope::Dashboard, Cmd::Metrics),
    act("logs", Scope::Dashboard, Cmd::Logs),
    act("logs", Scope::Instances, Cmd::Logs),
    act("logs", Scope::Entry, Cmd::Logs),
    act("remove_instance", Scope::Instances, Cmd::RemoveThis),
    act("remove_instance", Scope::Entry, Cmd::RemoveThis),
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
            let sees = |s: Scope| a.scope == Scope::Global || s == Scope::Global || s == a.scope;
            // Taken by a binding that stays (is not rebound itself)?
            let taken = registry().find(|b| {
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
    registry()
        .filter(move |b| !(readonly && b.dangerous))
        .map(move |b| {
            match overrides
                .iter()
                .find(|(s, c, _, _)| *s == b.scope && *c == b.cmd)
            {
                Some((_, _, keys, label)) => Binding { keys, label, ..b },
                None => b,
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

/// Footer hints for `scope`: its bindings with a footer word, then the global ones.
pub fn footer_bindings(scope: Scope, readonly: bool) -> impl Iterator<Item = Binding> {
    let own = bindings(readonly).filter(move |b| b.scope == scope);
    let global = bindings(readonly).filter(move |b| b.scope == Scope::Global);
    own.chain(global)
        .filter(|b| !b.hint.is_empty())
        // In the help, `?` closes it: listed once.
        .filter(move |b| !(scope == Scope::Help && b.scope == Scope::Global && b.cmd == Cmd::Help))
}

/// Footer hints for `scope` as (keys, word).
pub fn footer(scope: Scope, readonly: bool) -> Vec<(&'static str, &'static str)> {
    footer_bindings(scope, readonly)
        .map(|b| (b.label, b.hint))
        .collect()
}

/// The help, grouped by scope: the section of the screen it was asked `from` first, then
/// the keys that work everywhere, then the others in registry order.
pub fn help(readonly: bool, from: Scope) -> Vec<(Scope, Vec<(&'static str, &'static str)>)> {
    let order = std::iter::once(from).chain(Scope::ALL.iter().copied().filter(|s| *s != from));
    let mut out: Vec<(Scope, Vec<(&'static str, &'static str)>)> = Vec::new();
    for scope in order {
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
