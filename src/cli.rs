//! The scripting subcommands: `list`, `show`, `add`, `remove`, `scale`, `instances`
//! (live instances from Dynamo's discovery, `cli/live.rs`), `top` (load from the metrics
//! sources, `cli/top.rs`). Data goes to
//! stdout (a table, or JSON with `--output json`), messages to stderr. Exit codes: 0 ok,
//! 1 failure, 2 usage (bad flags, bad namespace or type names).

use std::io::{IsTerminal, Write};
use std::time::SystemTime;

use serde_json::{Value, json};

mod live;
mod top;

use crate::arbiter::{self, Client, Expect, Kill, Mode, Process, Watcher, ops};
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

pub fn run(g: &Global, store: &Store, cmd: Command) -> i32 {
    let _ = JSON_ERRORS.set(g.output == Output::Json);
    let paint = Paint::detect();
    let result = match cmd {
        // Answered in crate::run before the state directory is resolved.
        Command::Completions { .. } | Command::Man => return 0,
        Command::List => list(g, store, &paint),
        Command::Show { namespace } => match pick_ns(g, namespace) {
            Ok(ns) => show(g, store, &ns, &paint),
            Err(code) => return code,
        },
        Command::Top {
            namespace,
            window,
            watch,
        } => {
            let ns = match (namespace, &g.namespace) {
                (Some(p), Some(n)) if p != *n => {
                    return error_out(&format!("two namespaces given: {p} and -n {n}"), 2);
                }
                (p, n) => p.or_else(|| n.clone()),
            };
            return top::top(g, ns.as_deref(), window, watch, &paint);
        }
        Command::Instances { namespace } => {
            let namespace = namespace.or_else(|| g.namespace.clone());
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
            let op = ChangeOp::Add { expect };
            return match ns_and_type(g, namespace, ty) {
                Ok((ns, ty)) => change(g, store, &ns, &ty, &flags, op),
                Err(code) => code,
            };
        }
        Command::Remove {
            namespace,
            ty,
            flags,
            expect,
            force,
        } => {
            let op = ChangeOp::Remove { expect, force };
            return match ns_and_type(g, namespace, ty) {
                Ok((ns, ty)) => change(g, store, &ns, &ty, &flags, op),
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
            let op = ChangeOp::Scale { replicas, force };
            return match ns_and_type(g, namespace, ty) {
                Ok((ns, ty)) => change(g, store, &ns, &ty, &flags, op),
                Err(code) => code,
            };
        }
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
    let snap = live::snapshot(g);
    live::report_malformed(g, &snap);
    let live_ns = snap.namespaces();
    // A namespace only discovery knows (every Dynamo 1.x deployment) is listed too, even
    // without a state directory.
    let entries = match store.list() {
        Ok(e) => e,
        Err(StateError::DirMissing { .. }) if !live_ns.is_empty() => Vec::new(),
        Err(e) => return Err(e),
    };
    let in_state: std::collections::HashSet<&str> =
        entries.iter().map(|e| e.name.as_str()).collect();
    let live_only: Vec<(&String, &discovery::NamespaceLive)> = live_ns
        .iter()
        .filter(|(n, _)| !in_state.contains(n.as_str()))
        .collect();
    let answered = snap.answered();
    let sources_of = |name: &str, state: bool| -> Vec<&'static str> {
        let mut v = Vec::new();
        if state {
            v.push("state");
        }
        if let Some(l) = live_ns.get(name) {
            v.extend(l.sources.iter().map(|k| k.as_str()));
        }
        v
    };
    let live_of =
        |name: &str| -> Option<usize> { answered.then(|| live_ns.get(name).map_or(0, |l| l.live)) };
    let components_of = |name: &str| -> Value {
        match (answered, live_ns.get(name)) {
            (false, _) => Value::Null,
            (true, None) => json!({}),
            (true, Some(l)) => json!(l.components),
        }
    };
    let now = SystemTime::now();
    if g.output == Output::Json {
        let mut items: Vec<Value> = entries
            .iter()
            .map(|e| {
                let mut o = json!({
                    "name": e.name,
                    "path": e.path,
                    "modified": rfc3339(e.modified),
                    "sources": sources_of(&e.name, true),
                    "live": live_of(&e.name),
                    "live_components": components_of(&e.name),
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
        for (name, _) in &live_only {
            items.push(json!({
                "name": name,
                "path": null,
                "modified": null,
                "status": "ok",
                "sources": sources_of(name, false),
                "live": live_of(name),
                "live_components": components_of(name),
            }));
        }
        items.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        return print_json(&json!({
            "state_dir": store.dir(),
            "namespaces": items,
            "discovery": live::sources_json(&snap),
        }));
    }
    if entries.is_empty() && live_only.is_empty() {
        eprintln!(
            "dynamo-ctl: no namespaces in {} (`dynamo serve` with a local planner writes them; try --demo)",
            safe(&store.dir().display().to_string())
        );
        return Ok(());
    }
    let live_text = |name: &str| live_of(name).map_or("-".to_string(), |n| n.to_string());
    let mut rows: Vec<(String, Vec<String>)> = entries
        .iter()
        .map(|e| {
            let row = match &e.doc {
                Ok(doc) => {
                    let s = scale::summarize(&doc.state);
                    vec![
                        paint.cyan(&safe(&e.name)),
                        counts_text(&s),
                        format!("{}/{}", s.gpus_used, s.gpus_total),
                        age(e.modified, now),
                        live_text(&e.name),
                        sources_of(&e.name, true).join(","),
                        paint.green("ok"),
                    ]
                }
                Err(err) => vec![
                    paint.cyan(&safe(&e.name)),
                    "-".into(),
                    "-".into(),
                    age(e.modified, now),
                    live_text(&e.name),
                    sources_of(&e.name, true).join(","),
                    paint.red(&format!("error: {}", safe(&err.to_string()))),
                ],
            };
            (e.name.clone(), row)
        })
        .collect();
    for (name, l) in &live_only {
        let comps = l
            .components
            .iter()
            .map(|(c, n)| format!("{} {n}", safe(c)))
            .collect::<Vec<_>>()
            .join(", ");
        rows.push((
            (*name).clone(),
            vec![
                paint.cyan(&safe(name)),
                if comps.is_empty() { "-".into() } else { comps },
                "-".into(),
                "-".into(),
                live_text(name),
                sources_of(name, false).join(","),
                paint.green("ok (no state file)"),
            ],
        ));
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let rows: Vec<Vec<String>> = rows.into_iter().map(|(_, r)| r).collect();
    let mut text = table(
        &[
            "NAMESPACE",
            "RUNNING",
            "GPUS",
            "MODIFIED",
            "LIVE",
            "SOURCES",
            "STATUS",
        ],
        &rows,
        paint,
    );
    text.push_str(&live::sources_text(&snap, paint));
    out(&text)
}

/// What the arbiter says about one namespace, for `show`.
#[derive(Debug, serde::Serialize)]
pub struct ArbiterView {
    pub endpoint: Option<String>,
    /// null when not asked (`--state-only`, `--demo`).
    pub reachable: Option<bool>,
    pub error: Option<String>,
    /// The namespace's watchers (`<ns>_*`) with their pids; null when unknown.
    pub watchers: Option<Vec<Watcher>>,
}

impl ArbiterView {
    pub fn ask(g: &Global, ns: &str, endpoint: Option<&str>) -> ArbiterView {
        let mut v = ArbiterView {
            endpoint: endpoint.map(str::to_string),
            reachable: None,
            error: None,
            watchers: None,
        };
        if let Some(reason) = g.file_only_reason() {
            v.error = Some(format!("not asked ({reason})"));
            return v;
        }
        let Some(endpoint) = endpoint else {
            v.reachable = Some(false);
            v.error = Some("the state file names no circus endpoint".into());
            return v;
        };
        match Client::new(endpoint, g.arbiter_timeout()).and_then(|mut c| c.watchers_of(ns)) {
            Ok(w) => {
                v.reachable = Some(true);
                v.watchers = Some(w);
            }
            Err(e) => {
                v.reachable = Some(!e.is_unreachable());
                v.error = Some(e.to_string());
            }
        }
        v
    }

    /// The pids of a watcher named in the file; None when the arbiter was not heard.
    pub fn pids_of(&self, watcher: &str) -> Option<Vec<u32>> {
        self.watchers
            .as_deref()
            .map(|ws| arbiter::client::pids_of(ws, watcher))
    }

    /// Watchers the arbiter runs for this namespace that the file does not name.
    pub fn unmanaged(&self, s: &Summary) -> Vec<Watcher> {
        let ws = self.watchers.as_deref().unwrap_or(&[]);
        arbiter::client::unmanaged(ws, s)
            .into_iter()
            .cloned()
            .collect()
    }
}

/// "running (pid 4121)", "not running", "parked", "?".
fn process_text(parked: bool, pids: Option<&[u32]>) -> String {
    match (parked, pids) {
        (true, Some(p)) if !p.is_empty() => format!("parked, yet running ({})", ops::pids(p)),
        (true, _) => "parked".into(),
        (false, None) => "?".into(),
        (false, Some([])) => "in the file, not running".into(),
        (false, Some(p)) => format!("running ({})", ops::pids(p)),
    }
}

fn show(g: &Global, store: &Store, ns: &str, paint: &Paint) -> Result<(), StateError> {
    let path = store.path_for(ns)?;
    let snap = live::snapshot(g);
    live::report_malformed(g, &snap);
    let doc = match store.load(ns) {
        Ok(d) => d,
        Err(StateError::NotFound { .. } | StateError::DirMissing { .. })
            if snap.of_namespace(ns).next().is_some() =>
        {
            return live::show_live_only(g, ns, &snap, paint);
        }
        Err(e) => return Err(e),
    };
    let s = scale::summarize(&doc.state);
    let arb = ArbiterView::ask(g, ns, s.circus_endpoint.as_deref());
    let unmanaged = arb.unmanaged(&s);
    if g.output == Output::Json {
        let mut v = serde_json::to_value(&s).unwrap_or(Value::Null);
        v["path"] = json!(path);
        if let Some(types) = v["types"].as_array_mut() {
            for (t, ts) in types.iter_mut().zip(&s.types) {
                t["live"] = json!(snap.live_for_type(ns, &ts.ty));
                if let Some(insts) = t["instances"].as_array_mut() {
                    for (i, is) in insts.iter_mut().zip(&ts.instances) {
                        i["pids"] = json!(arb.pids_of(&is.watcher_name));
                    }
                }
            }
        }
        v["arbiter"] = json!(arb);
        v["unmanaged_watchers"] = json!(unmanaged);
        v["discovery"] = live::sources_json(&snap);
        v["live_instances"] = json!(
            snap.of_namespace(ns)
                .map(discovery::Instance::to_json)
                .collect::<Vec<_>>()
        );
        print_json(&v)?;
        return Ok(());
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
    let endpoint = arb.endpoint.as_deref().map(safe);
    let error = arb.error.as_deref().map(safe);
    let circus = match (&endpoint, arb.reachable, &error) {
        (None, _, _) => "none (no circus_endpoint in the file)".to_string(),
        (Some(e), Some(true), _) => format!(
            "{e}, {} ({} watchers of {ns})",
            paint.green("online"),
            arb.watchers.as_ref().map_or(0, Vec::len)
        ),
        (Some(e), None, Some(why)) => format!("{e}, {why}"),
        (Some(e), _, why) => format!(
            "{e}, {}",
            paint.red(&format!("offline: {}", why.as_deref().unwrap_or("?")))
        ),
    };
    text.push_str(&format!("{}     {}\n\n", paint.bold("circus"), circus));
    let rows: Vec<Vec<String>> = s
        .types
        .iter()
        .map(|t| {
            let running: Vec<_> = t.instances.iter().filter(|i| !i.parked).collect();
            let gpus = running
                .iter()
                .flat_map(|i| i.gpus.iter().map(|g| safe(g).into_owned()))
                .collect::<Vec<_>>()
                .join(", ");
            let procs = match &arb.watchers {
                None => "?".to_string(),
                Some(_) => running
                    .iter()
                    .filter(|i| arb.pids_of(&i.watcher_name).is_some_and(|p| !p.is_empty()))
                    .count()
                    .to_string(),
            };
            vec![
                safe(&t.ty).into_owned(),
                t.running.to_string(),
                procs,
                snap.live_for_type(ns, &t.ty)
                    .map_or("-".to_string(), |n| n.to_string()),
                if gpus.is_empty() { "-".into() } else { gpus },
            ]
        })
        .collect();
    text.push_str(&table(
        &["TYPE", "RUNNING", "PROCESSES", "LIVE", "GPUS"],
        &rows,
        paint,
    ));
    let mut rows: Vec<Vec<String>> = Vec::new();
    for t in &s.types {
        for i in &t.instances {
            let pids = arb.pids_of(&i.watcher_name);
            let state = process_text(i.parked, pids.as_deref());
            let state = match (i.parked, pids.as_deref()) {
                (false, Some([])) => paint.red(&state),
                (false, Some(_)) => paint.green(&state),
                _ => state,
            };
            rows.push(vec![
                safe(&i.watcher_name).into_owned(),
                safe(&t.ty).into_owned(),
                if i.gpus.is_empty() {
                    "-".into()
                } else {
                    safe(&i.gpus.join(", ")).into_owned()
                },
                state,
            ]);
        }
    }
    for w in &unmanaged {
        rows.push(vec![
            safe(&w.name).into_owned(),
            "?".into(),
            "-".into(),
            paint.red(&format!(
                "running, not in the file ({})",
                ops::pids(&w.pids)
            )),
        ]);
    }
    text.push('\n');
    text.push_str(&table(
        &["WATCHER", "TYPE", "GPUS", "PROCESS"],
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
    let insts: Vec<_> = snap.of_namespace(ns).collect();
    if !insts.is_empty() {
        text.push('\n');
        text.push_str(&table(
            &live::INSTANCE_HEADER,
            &live::instance_rows(insts.into_iter(), false, paint),
            paint,
        ));
    }
    if !snap.sources.is_empty() {
        text.push('\n');
        text.push_str(&live::sources_text(&snap, paint));
    }
    out(&text)?;
    Ok(())
}

enum ChangeOp {
    Add { expect: Option<String> },
    Remove { expect: Option<String>, force: bool },
    Scale { replicas: usize, force: bool },
}

/// add / remove / scale: the file, and the processes through the arbiter unless
/// `--state-only` or `--demo`. Returns the exit code.
fn change(g: &Global, store: &Store, ns: &str, ty: &str, flags: &ChangeFlags, op: ChangeOp) -> i32 {
    if flags.dry_run {
        return match dry_run(g, store, ns, ty, &op) {
            Ok(()) => 0,
            Err(e) => fail(&e),
        };
    }
    // Read once (no lock) for the endpoint and the type check; every change re-reads under
    // the lock.
    let doc = match store.load(ns) {
        Ok(d) => d,
        Err(e) => return fail(&e),
    };
    if let Err(e) = scale::check_type(ty) {
        return fail(&e.into());
    }
    // An impossible target (too many replicas, too few GPUs) fails before any lock.
    if let ChangeOp::Scale { replicas, .. } = op
        && let Err(e) = scale::check_scale(&doc.state, ty, replicas)
    {
        return fail(&e.into());
    }
    let known = doc
        .state
        .components
        .keys()
        .any(|k| scale::parse_entry(&doc.state.namespace, k).ty == ty);
    if known && !flags.allow_infra && !scale::is_worker_type(&doc.state, ty) {
        return error_out(
            &format!(
                "{ty} is not a worker type (it holds no GPUs): another {ty} would run beside the first (a second Frontend fights the first for its port) and removing one takes that service away; pass --allow-infra if that is what you mean"
            ),
            2,
        );
    }
    let mut client = None;
    if g.file_only_reason().is_none() {
        let endpoint = match &doc.state.circus_endpoint {
            Some(e) => e.clone(),
            None => {
                return error_out(
                    &format!(
                        "{} names no circus endpoint, so no process would start or stop; the state file is unchanged (--state-only changes only the file)",
                        store
                            .path_for(ns)
                            .map(|p| p.display().to_string())
                            .unwrap_or_default()
                    ),
                    1,
                );
            }
        };
        match Client::new(&endpoint, g.arbiter_timeout()) {
            Ok(c) => client = Some(c),
            Err(e) => return error_out(&format!("{e}; the state file is unchanged"), 1),
        }
    }
    let mut opts = g.scale_options();
    opts.wait = !flags.no_wait;
    let mut progress = |line: &str| eprintln!("dynamo-ctl: {}", safe(line));
    // With a discovery source on, an add or remove that runs a process is followed until
    // discovery says so (the planner's blocking mode).
    let adding = match &op {
        ChangeOp::Add { .. } => Some(true),
        ChangeOp::Remove { .. } => Some(false),
        ChangeOp::Scale { .. } => None,
    };
    let follow = adding
        .filter(|_| client.is_some() && !flags.no_wait)
        .and_then(|adding| live_before(g, ns, ty).map(|(cfg, n)| (adding, cfg, n)));
    if let ChangeOp::Remove { force: true, .. } | ChangeOp::Scale { force: true, .. } = op {
        opts.kill = Kill::AfterTimeout;
    }
    let one = |r: Result<(ops::Step, crate::state::Document), ops::OpError>| match r {
        Ok((step, _)) => (vec![step], None),
        Err(e) => (vec![], Some(e)),
    };
    let mode = mode_of(&mut client);
    let (steps, error) = match op {
        ChangeOp::Add { expect } => one(ops::add(
            store,
            ns,
            ty,
            mode,
            &opts,
            &Expect::name(expect),
            &mut progress,
        )),
        ChangeOp::Remove { expect, .. } => one(ops::remove(
            store,
            ns,
            ty,
            None,
            mode,
            &opts,
            &Expect::name(expect),
            &mut progress,
        )),
        ChangeOp::Scale { replicas, .. } => {
            ops::scale(store, ns, ty, replicas, mode, &opts, &mut progress)
        }
    };
    let timed_out = steps.iter().any(|s| s.process == Process::Timeout);
    let mut live_error = None;
    if let Some((adding, cfg, before)) = follow
        && error.is_none()
        && steps.iter().any(|s| {
            s.process
                == if adding {
                    Process::Started
                } else {
                    Process::Stopped
                }
        })
    {
        live_error = follow_discovery(g, &cfg, ns, ty, adding, before, &mut progress);
    }
    let code = match &error {
        Some(ops::OpError::State(se)) => fail_code(se),
        Some(_) => 1,
        None if timed_out || live_error.is_some() => 1,
        None => 0,
    };
    let running = store
        .load(ns)
        .ok()
        .map(|d| running_counts(&scale::summarize(&d.state)));
    // Said once, when something changed: no process followed the file.
    if let Some(reason) = g.file_only_reason()
        && !steps.is_empty()
    {
        eprintln!(
            "dynamo-ctl: warning: {reason}: only the state file changed, no process starts or stops"
        );
    }
    if let Some(note) = steps.iter().find_map(|s| s.layout_note.as_deref()) {
        eprintln!("dynamo-ctl: note: {}", safe(note));
    }
    let printed = if g.output == Output::Json {
        print_json(&json!({
            "namespace": ns,
            "dry_run": false,
            "changes": steps,
            "running": running,
            "error": error.as_ref().map(|e| e.to_string()),
            "code": code,
        }))
    } else if steps.is_empty() && error.is_none() {
        out("no change: already at the requested count\n")
    } else {
        let text: String = steps
            .iter()
            .map(|s| format!("{}\n", safe(&s.to_string())))
            .collect();
        out(&text)
    };
    if let Err(e) = printed {
        return fail(&e);
    }
    if let Some(e) = error {
        let done = if steps.is_empty() {
            String::new()
        } else {
            format!("after {} change(s): ", steps.len())
        };
        eprintln!("dynamo-ctl: error: {done}{}", safe(&e.to_string()));
    } else if timed_out {
        eprintln!(
            "dynamo-ctl: error: the new worker did not start within --start-timeout; its watcher and entry stay"
        );
    } else if let Some(e) = &live_error {
        eprintln!("dynamo-ctl: error: {}", safe(e));
    }
    code
}

/// The discovery config and a type's live count before a change, when it is worth
/// following: a source answered, and it was configured explicitly or already knows the
/// namespace (so a machine that merely has a default etcd does not wait for workers that
/// never register there).
fn live_before(g: &Global, ns: &str, ty: &str) -> Option<(discovery::Config, usize)> {
    let cfg = discovery::Config::from_args(g);
    if !cfg.any() {
        return None;
    }
    let snap = discovery::snapshot(&cfg, cfg.timeout);
    let n = snap.live_for_type(ns, ty)?;
    let explicit = cfg.sources().iter().any(|s| s.2);
    (explicit || snap.of_namespace(ns).next().is_some()).then_some((cfg, n))
}

/// Waits (up to --start-timeout) until discovery counts one more (`adding`) or one fewer
/// instance of `ty` than `before`. Returns the error to report, if any.
fn follow_discovery(
    g: &Global,
    cfg: &discovery::Config,
    ns: &str,
    ty: &str,
    adding: bool,
    before: usize,
    progress: &mut dyn FnMut(&str),
) -> Option<String> {
    let endpoint = discovery::planner_endpoint(ty);
    let what = format!(
        "{ty}{}",
        endpoint
            .map(|e| format!(" on endpoint {e}"))
            .unwrap_or_default()
    );
    progress(&format!(
        "waiting for discovery to {} {what} ({before} registered now)",
        if adding { "register" } else { "drop" }
    ));
    let started = std::time::Instant::now();
    let timeout = std::time::Duration::from_secs_f64(g.start_timeout);
    let outcome = discovery::wait_for_count(
        cfg,
        ns,
        ty,
        endpoint,
        |n| if adding { n > before } else { n < before },
        timeout,
        progress,
    );
    match outcome {
        discovery::WaitOutcome::Reached(n) => {
            progress(&format!(
                "{what}: {n} registered in discovery, after {:.2} s",
                started.elapsed().as_secs_f64()
            ));
            None
        }
        discovery::WaitOutcome::TimedOut(last) => Some(format!(
            "{what} still {}registered in discovery after --start-timeout ({:.0} s): {} before, {} now",
            if adding { "not " } else { "" },
            g.start_timeout,
            before,
            last.map_or("unknown".to_string(), |n| n.to_string())
        )),
        discovery::WaitOutcome::NoSource => None,
    }
}

fn mode_of(client: &mut Option<Client>) -> Mode<'_> {
    match client.as_mut() {
        Some(c) => Mode::Arbiter(c),
        None => Mode::StateOnly,
    }
}

fn running_counts(s: &Summary) -> Value {
    s.types
        .iter()
        .map(|t| (t.ty.clone(), json!(t.running)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// `--dry-run`: the changes on a copy, under the lock, nothing written, no process touched.
fn dry_run(g: &Global, store: &Store, ns: &str, ty: &str, op: &ChangeOp) -> Result<(), StateError> {
    if let ChangeOp::Scale { replicas, .. } = op {
        scale::check_scale(&store.load(ns)?.state, ty, *replicas)?;
    }
    let (changes, doc) = store.transact(ns, true, |s| match op {
        ChangeOp::Add { expect } => {
            let c = scale::add(s, ty)?;
            Expect::name(expect.clone()).check(&c)?;
            Ok(vec![c])
        }
        ChangeOp::Remove { expect, .. } => {
            let c = scale::remove(s, ty)?;
            Expect::name(expect.clone()).check(&c)?;
            Ok(vec![c])
        }
        ChangeOp::Scale { replicas, .. } => scale::scale(s, ty, *replicas),
    })?;
    if g.output == Output::Json {
        let changes: Vec<Value> = changes
            .iter()
            .map(|c| {
                let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
                v["process"] = Value::Null;
                v["pids"] = Value::Null;
                v
            })
            .collect();
        return print_json(&json!({
            "namespace": ns,
            "dry_run": true,
            "changes": changes,
            "running": running_counts(&scale::summarize(&doc.state)),
        }));
    }
    if changes.is_empty() {
        return out("no change: already at the requested count\n");
    }
    let text: String = changes
        .iter()
        .map(|c| format!("dry run: {}\n", safe(&c.to_string())))
        .collect();
    out(&text)?;
    eprintln!(
        "dynamo-ctl: dry run: {} left unchanged, no process started or stopped",
        safe(&store.path_for(ns)?.display().to_string())
    );
    Ok(())
}
