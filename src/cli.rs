//! The scripting subcommands: `list`, `show`, `add`, `remove`, `scale`. Data goes to
//! stdout (a table, or JSON with `--output json`), messages to stderr. Exit codes: 0 ok,
//! 1 failure, 2 usage (bad flags, bad namespace or type names).

use std::io::{IsTerminal, Write};
use std::time::SystemTime;

use serde_json::{Value, json};

use crate::args::{Command, Global, Output};
use crate::state::scale::{self, Change, Summary};
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
    eprintln!("dynamo-ctl: error: {}", safe(&e.to_string()));
    match e {
        StateError::BadNamespace { .. } | StateError::Rule(RuleError::BadType { .. }) => 2,
        _ => 1,
    }
}

pub fn run(g: &Global, store: &Store, cmd: Command) -> i32 {
    let paint = Paint::detect();
    let result = match cmd {
        Command::List => list(g, store, &paint),
        Command::Show { namespace } => show(g, store, &namespace, &paint),
        Command::Add {
            namespace,
            ty,
            dry_run,
        } => change(g, store, &namespace, dry_run, |s| {
            scale::add(s, &ty).map(|c| vec![c])
        }),
        Command::Remove {
            namespace,
            ty,
            dry_run,
        } => change(g, store, &namespace, dry_run, |s| {
            scale::remove(s, &ty).map(|c| vec![c])
        }),
        Command::Scale {
            namespace,
            ty,
            replicas,
            dry_run,
        } => check_target(store, &namespace, &ty, replicas).and_then(|()| {
            change(g, store, &namespace, dry_run, |s| {
                scale::scale(s, &ty, replicas)
            })
        }),
    };
    match result {
        Ok(()) => 0,
        Err(e) => fail(&e),
    }
}

/// "3m ago" style age.
pub fn age(modified: Option<SystemTime>, now: SystemTime) -> String {
    let Some(m) = modified else {
        return "?".into();
    };
    let s = now.duration_since(m).map(|d| d.as_secs()).unwrap_or(0);
    match s {
        0..=59 => format!("{s}s ago"),
        60..=3599 => format!("{}m ago", s / 60),
        3600..=86_399 => format!("{}h ago", s / 3600),
        _ => format!("{}d ago", s / 86_400),
    }
}

fn rfc3339(t: Option<SystemTime>) -> Value {
    t.map(|t| {
        Value::String(
            chrono::DateTime::<chrono::Utc>::from(t)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        )
    })
    .unwrap_or(Value::Null)
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

fn list(g: &Global, store: &Store, paint: &Paint) -> Result<(), StateError> {
    let entries = store.list()?;
    let now = SystemTime::now();
    if g.output == Output::Json {
        let items: Vec<Value> = entries
            .iter()
            .map(|e| {
                let mut o = json!({
                    "name": e.name,
                    "path": e.path,
                    "modified": rfc3339(e.modified),
                });
                match &e.doc {
                    Ok(doc) => {
                        let s = scale::summarize(&doc.state);
                        o["status"] = json!("ok");
                        o["running"] = Value::Object(
                            s.types
                                .iter()
                                .map(|t| (t.ty.clone(), json!(t.running)))
                                .collect(),
                        );
                        o["gpus"] = json!({"total": s.gpus_total, "used": s.gpus_used});
                    }
                    Err(err) => {
                        o["status"] = json!("error");
                        o["error"] = json!(err.to_string());
                    }
                }
                o
            })
            .collect();
        return print_json(&json!({"state_dir": store.dir(), "namespaces": items}));
    }
    if entries.is_empty() {
        eprintln!(
            "dynamo-ctl: no namespaces in {} (`dynamo serve` with a local planner writes them; try --demo)",
            safe(&store.dir().display().to_string())
        );
        return Ok(());
    }
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| match &e.doc {
            Ok(doc) => {
                let s = scale::summarize(&doc.state);
                vec![
                    paint.cyan(&safe(&e.name)),
                    counts_text(&s),
                    format!("{}/{}", s.gpus_used, s.gpus_total),
                    age(e.modified, now),
                    paint.green("ok"),
                ]
            }
            Err(err) => vec![
                paint.cyan(&safe(&e.name)),
                "-".into(),
                "-".into(),
                age(e.modified, now),
                paint.red(&format!("error: {}", safe(&err.to_string()))),
            ],
        })
        .collect();
    out(&table(
        &["NAMESPACE", "RUNNING", "GPUS", "MODIFIED", "STATUS"],
        &rows,
        paint,
    ))
}

fn show(g: &Global, store: &Store, ns: &str, paint: &Paint) -> Result<(), StateError> {
    let path = store.path_for(ns)?;
    let doc = store.load(ns)?;
    let s = scale::summarize(&doc.state);
    if g.output == Output::Json {
        let mut v = serde_json::to_value(&s).unwrap_or(Value::Null);
        v["path"] = json!(path);
        return print_json(&v);
    }
    let mut text = String::new();
    text.push_str(&format!(
        "{}  {}\n",
        paint.bold("namespace"),
        paint.cyan(&safe(&s.namespace))
    ));
    text.push_str(&format!(
        "{}       {}\n",
        paint.bold("file"),
        safe(&path.display().to_string())
    ));
    text.push_str(&format!(
        "{}     {}\n\n",
        paint.bold("circus"),
        safe(s.circus_endpoint.as_deref().unwrap_or("-"))
    ));
    let rows: Vec<Vec<String>> = s
        .types
        .iter()
        .map(|t| {
            let running: Vec<_> = t.instances.iter().filter(|i| !i.parked).collect();
            let parked: Vec<_> = t.instances.iter().filter(|i| i.parked).collect();
            let mut watchers = running
                .iter()
                .map(|i| safe(&i.watcher_name).into_owned())
                .collect::<Vec<_>>()
                .join(", ");
            if !parked.is_empty() {
                let p = parked
                    .iter()
                    .map(|i| format!("{} (parked)", safe(&i.watcher_name)))
                    .collect::<Vec<_>>()
                    .join(", ");
                watchers = if watchers.is_empty() {
                    p
                } else {
                    format!("{watchers}, {p}")
                };
            }
            let gpus = running
                .iter()
                .flat_map(|i| i.gpus.iter().map(|g| safe(g).into_owned()))
                .collect::<Vec<_>>()
                .join(", ");
            vec![
                safe(&t.ty).into_owned(),
                t.running.to_string(),
                if gpus.is_empty() { "-".into() } else { gpus },
                watchers,
            ]
        })
        .collect();
    text.push_str(&table(
        &["TYPE", "RUNNING", "GPUS", "WATCHERS"],
        &rows,
        paint,
    ));
    text.push_str(&format!(
        "\nGPUs: {}/{} used; free: {}\n",
        s.gpus_used,
        s.gpus_total,
        if s.free_gpus.is_empty() {
            "none".to_string()
        } else {
            safe(&s.free_gpus.join(", ")).into_owned()
        }
    ));
    out(&text)
}

/// Refuses an unreachable `scale` target on an unlocked read, before waiting for the lock
/// (the transaction checks again under it).
fn check_target(store: &Store, ns: &str, ty: &str, replicas: usize) -> Result<(), StateError> {
    let doc = store.load(ns)?;
    Ok(scale::check_scale(&doc.state, ty, replicas)?)
}

fn change(
    g: &Global,
    store: &Store,
    ns: &str,
    dry_run: bool,
    f: impl FnOnce(&mut crate::state::State) -> Result<Vec<Change>, RuleError>,
) -> Result<(), StateError> {
    let (changes, doc) = store.transact(ns, dry_run, f)?;
    if let Some(note) = doc.layout_note() {
        eprintln!("dynamo-ctl: note: {}", safe(note));
    }
    if g.output == Output::Json {
        let running: Value = scale::summarize(&doc.state)
            .types
            .iter()
            .map(|t| (t.ty.clone(), json!(t.running)))
            .collect::<serde_json::Map<_, _>>()
            .into();
        return print_json(&json!({
            "namespace": ns,
            "dry_run": dry_run,
            "changes": changes,
            "running": running,
        }));
    }
    if changes.is_empty() {
        return out("no change: already at the requested count\n");
    }
    let prefix = if dry_run { "dry run: " } else { "" };
    let mut text = String::new();
    for c in &changes {
        text.push_str(&format!("{prefix}{}\n", safe(&c.to_string())));
    }
    out(&text)?;
    if dry_run {
        eprintln!(
            "dynamo-ctl: dry run: {} left unchanged",
            safe(&store.path_for(ns)?.display().to_string())
        );
    }
    Ok(())
}
