//! The scripting subcommands: `list`, `show`, `add`, `remove`, `scale`, `instances`
//! (live instances from Dynamo's discovery, `cli/live.rs`), `top` (load from the metrics
//! sources, `cli/top.rs`), `logs` (a worker's log files, `cli/logs.rs`). Data goes to
//! stdout (a table, or JSON with `--output json`), messages to stderr. Exit codes: 0 ok,
//! 1 failure, 2 usage (bad flags, bad namespace or type names).

use std::io::{IsTerminal, Write};
use std::time::SystemTime;

use serde_json::{Value, json};

mod arbiter_view;
mod change;
mod list;
mod live;
mod logs;
mod planner;
mod show;
mod top;

use crate::arbiter::{Client, Expect, Kill, Mode, Process, ops};
use crate::args::{ChangeFlags, Command, Global, Output};
use crate::discovery;
use crate::state::scale::{self, Summary};
use crate::state::{RuleError, StateError, Store};
use crate::text::safe;

/// ANSI styling for tables, off unless stdout is a terminal and `NO_COLOR` is unset.
struct Paint {
    on: bool,
}

impl Paint {
    fn detect() -> Paint {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Paint {
            on: !no_color && std::io::stdout().is_terminal(),
        }
    }
    fn wrap(&self, code: &str, s: &str) -> String {
        if self.on {
            format!("\x1b[{code}m{s}\x1b[0m")
        } else {
            s.to_string()
        }
    }
    fn bold(&self, s: &str) -> String {
        self.wrap("1", s)
    }
    fn red(&self, s: &str) -> String {
        self.wrap("31", s)
    }
    fn green(&self, s: &str) -> String {
        self.wrap("32", s)
    }
    fn cyan(&self, s: &str) -> String {
        self.wrap("36", s)
    }
    fn yellow(&self, s: &str) -> String {
        self.wrap("33", s)
    }

    /// A live count in the dashboard's words and colours: `2…` yellow while short, `3+`
    /// red when over, green when as wanted, `-` when no discovery source answered.
    fn live(&self, live: Option<usize>, mark: crate::rows::LiveMark, wanted: bool) -> String {
        use crate::rows::LiveMark;
        let text = crate::rows::live_text(live, mark);
        match mark {
            LiveMark::Unknown => text,
            LiveMark::Short => self.yellow(&text),
            LiveMark::Over => self.red(&text),
            LiveMark::Agrees if wanted => self.green(&text),
            LiveMark::Agrees => text,
        }
    }

    /// The processes circus runs of a type, in the dashboard's colours: green when all
    /// run, yellow when fewer, red when none, plain when unknown or none is wanted.
    fn runs(&self, row: &crate::rows::TypeRow) -> String {
        use crate::rows::RunMark;
        let text = row.runs_text();
        match row.run_mark() {
            RunMark::All => self.green(&text),
            RunMark::Short => self.yellow(&text),
            RunMark::NoneRuns => self.red(&text),
            RunMark::Unknown | RunMark::NothingWanted => text,
        }
    }
}

/// Writes to stdout. A closed pipe (`dynamo-ctl list | head`) is not an error; any other
/// failure (`> /dev/full`) is.
fn out(text: &str) -> Result<(), StateError> {
    let mut o = std::io::stdout().lock();
    match o.write_all(text.as_bytes()).and_then(|()| o.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(StateError::Stdout(e)),
        _ => Ok(()),
    }
}

fn print_json(v: &Value) -> Result<(), StateError> {
    out(&format!(
        "{}\n",
        serde_json::to_string_pretty(v).unwrap_or_default()
    ))
}

/// Exit code for an error: names a user typed that we refuse are usage errors.
fn fail(e: &StateError) -> i32 {
    error_out(&e.to_string(), fail_code(e))
}

/// The namespace from the positional NS or `-n` (one of them, or both the same).
fn pick_ns(g: &Global, positional: Option<String>) -> Result<String, i32> {
    match (positional, &g.namespace) {
        (Some(p), Some(n)) if p != *n => Err(error_out(
            &format!("two namespaces given: {p} and -n {n}"),
            2,
        )),
        (Some(p), _) => Ok(p),
        (None, Some(n)) => Ok(n.clone()),
        (None, None) => Err(error_out("which namespace? give NS or -n NS", 2)),
    }
}

/// `add NS TYPE`, or `-n NS add TYPE` (then the one positional is the type).
fn ns_and_type(g: &Global, first: String, second: Option<String>) -> Result<(String, String), i32> {
    match (second, &g.namespace) {
        (Some(ty), _) => pick_ns(g, Some(first)).map(|ns| (ns, ty)),
        (None, Some(ns)) => Ok((ns.clone(), first)),
        (None, None) => Err(error_out(
            &format!("which type in namespace {first}? give NS TYPE, or -n NS TYPE"),
            2,
        )),
    }
}

/// `-o json`: errors are also JSON on stdout, for scripts.
static JSON_ERRORS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// Reports an error (stderr, and `{"error", "code"}` on stdout with `-o json`); returns the
/// exit code.
fn error_out(msg: &str, code: i32) -> i32 {
    eprintln!("dynamo-ctl: error: {}", safe(msg));
    if JSON_ERRORS.get() == Some(&true) {
        let _ = print_json(&json!({"error": msg, "code": code}));
    }
    code
}

fn fail_code(e: &StateError) -> i32 {
    match e {
        StateError::BadNamespace { .. } | StateError::Rule(RuleError::BadType { .. }) => 2,
        _ => 1,
    }
}

/// add / remove / scale on `NS TYPE` (or `-n NS TYPE`): the exit code.
fn run_change(
    g: &Global,
    store: &Store,
    namespace: String,
    ty: Option<String>,
    flags: &crate::args::ChangeFlags,
    op: change::ChangeOp,
) -> i32 {
    match ns_and_type(g, namespace, ty) {
        Ok((ns, ty)) => change::change(g, store, &ns, &ty, flags, op),
        Err(code) => code,
    }
}

/// The namespace of a command where it is optional (`top`, `instances`): the argument or
/// `-n`; both, when they differ, is a usage error (exit 2), as for `show`.
fn optional_ns(g: &Global, positional: Option<String>) -> Result<Option<String>, i32> {
    match (positional, &g.namespace) {
        (Some(p), Some(n)) if p != *n => Err(error_out(
            &format!("two namespaces given: {p} and -n {n}"),
            2,
        )),
        (p, n) => Ok(p.or_else(|| n.clone())),
    }
}

pub fn run(g: &Global, store: &Store, cmd: Command) -> i32 {
    let _ = JSON_ERRORS.set(g.output == Output::Json);
    let paint = Paint::detect();
    let result = match cmd {
        // Answered in crate::run before the state directory is resolved.
        Command::Completions { .. } | Command::Man => return 0,
        Command::List => {
            return match list::list(g, store, &paint) {
                Ok(code) => code,
                Err(e) => fail(&e),
            };
        }
        Command::Show { namespace } => match pick_ns(g, namespace) {
            Ok(ns) => show::show(g, store, &ns, &paint),
            Err(code) => return code,
        },
        Command::Top {
            namespace,
            window,
            watch,
        } => {
            let ns = match optional_ns(g, namespace) {
                Ok(ns) => ns,
                Err(code) => return code,
            };
            return top::top(g, ns.as_deref(), window, watch, &paint);
        }
        Command::Instances { namespace } => {
            let namespace = match optional_ns(g, namespace) {
                Ok(ns) => ns,
                Err(code) => return code,
            };
            return match live::instances(g, namespace.as_deref(), &paint) {
                Ok(code) => code,
                Err(e) => fail(&e),
            };
        }
        Command::Add {
            namespace,
            ty,
            flags,
            expect,
        } => {
            let op = change::ChangeOp::Add { expect };
            return run_change(g, store, namespace, ty, &flags, op);
        }
        Command::Remove {
            namespace,
            ty,
            flags,
            expect,
            force,
        } => {
            let op = change::ChangeOp::Remove { expect, force };
            return run_change(g, store, namespace, ty, &flags, op);
        }
        Command::Logs {
            namespace,
            target,
            streams,
            follow,
            lines,
        } => {
            return match ns_and_type(g, namespace, target) {
                Ok((ns, target)) => logs::logs(g, store, &ns, &target, streams, follow, lines),
                Err(code) => code,
            };
        }
        Command::Scale {
            namespace,
            ty,
            replicas,
            flags,
            force,
        } => {
            let op = change::ChangeOp::Scale { replicas, force };
            return run_change(g, store, namespace, ty, &flags, op);
        }
    };
    match result {
        Ok(()) => 0,
        Err(e) => fail(&e),
    }
}

/// A file's age for a table cell ("?" when it has no time): [`crate::text::ago`], the
/// TUI's words.
pub fn age(modified: Option<SystemTime>, now: SystemTime) -> String {
    modified.map_or_else(|| "?".into(), |m| crate::text::ago(now, m))
}

/// A file's mtime (from outside: any value) as RFC 3339, null when it has none or it
/// cannot be written as a date.
fn rfc3339(t: Option<SystemTime>) -> Value {
    t.and_then(|t| discovery::rfc3339(t, false))
        .map_or(Value::Null, Value::String)
}

fn counts_text(s: &Summary) -> String {
    s.types
        .iter()
        .map(|t| format!("{} {}", safe(&t.ty), t.running))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Left-aligned columns; the last column is not padded.
fn table(header: &[&str], rows: &[Vec<String>], paint: &Paint) -> String {
    let n = header.len();
    let mut width = vec![0usize; n];
    for (i, h) in header.iter().enumerate() {
        width[i] = h.chars().count();
    }
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            width[i] = width[i].max(visible_len(c));
        }
    }
    let line = |cells: Vec<String>| -> String {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            s.push_str(c);
            if i + 1 < n {
                let pad = width[i] - visible_len(c) + 2;
                s.push_str(&" ".repeat(pad));
            }
        }
        s.truncate(s.trim_end().len());
        s.push('\n');
        s
    };
    let mut outp = line(header.iter().map(|h| paint.bold(h)).collect());
    for r in rows {
        outp.push_str(&line(r.clone()));
    }
    outp
}

/// Length without ANSI escapes.
fn visible_len(s: &str) -> usize {
    let mut n = 0;
    let mut esc = false;
    for c in s.chars() {
        if esc {
            if c == 'm' {
                esc = false;
            }
        } else if c == '\x1b' {
            esc = true;
        } else {
            n += 1;
        }
    }
    n
}
