//! `dynamo-ctl logs NS TARGET [--stderr | --both] [-f] [-n LINES]`: a worker's log files,
//! as the arbiter names them. TARGET is a watcher, or a type (all its watchers, each line
//! prefixed). Lines are cleaned of escapes ([`crate::logs::clean`]) whatever the output.
//! A closed pipe (`| head`) ends it quietly with 0; an arbiter that does not answer, or no
//! file to read, is exit 1 with where the output goes instead.

use std::io::Write;
use std::time::Duration;

use super::*;
use crate::args::LogStreams;
use crate::logs::{self, CLI_LINE_CAP, Note, Source, Stream, Tail};

/// How long `-f` gathers file events before it reads (and prints) once.
const COALESCE: Duration = Duration::from_millis(20);

/// The watchers TARGET names in the file: a type's (then lines are prefixed), or one.
fn watchers_of(doc: &crate::state::Document, target: &str) -> Option<(Vec<String>, bool)> {
    let s = scale::summarize(&doc.state);
    let ty = s
        .types
        .iter()
        .find(|t| t.ty == target)
        .or_else(|| s.types.iter().find(|t| t.ty.eq_ignore_ascii_case(target)));
    if let Some(t) = ty {
        return Some((
            t.instances.iter().map(|i| i.watcher_name.clone()).collect(),
            true,
        ));
    }
    s.types
        .iter()
        .flat_map(|t| &t.instances)
        .find(|i| i.watcher_name.eq_ignore_ascii_case(target) || i.name == target)
        .map(|i| (vec![i.watcher_name.clone()], false))
}

/// Where the lines go: a prefix per source, text or JSON, and a closed pipe noticed.
struct Printer {
    json: bool,
    prefixes: Vec<String>,
    sources: Vec<(String, Stream)>,
    out: std::io::BufWriter<std::io::Stdout>,
}

impl Printer {
    /// Writes one line; Err(true) when stdout is a closed pipe, Err(false) on another error.
    fn line(&mut self, src: usize, text: &str) -> Result<(), std::io::Error> {
        if self.json {
            let (w, s) = &self.sources[src];
            let v = json!({"watcher": w, "stream": s, "line": text});
            writeln!(self.out, "{v}")
        } else {
            writeln!(self.out, "{}{text}", self.prefixes[src])
        }
    }
}

/// `-o json`'s errors and closed pipes: the exit code for a write error.
fn write_failed(e: &std::io::Error) -> i32 {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        0
    } else {
        error_out(&format!("cannot write to stdout: {e}"), 1)
    }
}

fn say_note(w: &str, s: Stream, n: &Note) {
    let text = match n {
        Note::Reading | Note::Rotated => return,
        Note::Missing(m) | Note::Unreadable(m) => m.clone(),
        Note::Truncated => "the file was truncated: reading it from its start".into(),
    };
    eprintln!("dynamo-ctl: {} {}: {}", safe(w), s.name(), safe(&text));
}

pub(super) fn logs(
    g: &Global,
    store: &Store,
    ns: &str,
    target: &str,
    which: LogStreams,
    follow: bool,
    lines: usize,
) -> i32 {
    let doc = match store.load(ns) {
        Ok(d) => d,
        Err(e) => return fail(&e),
    };
    let Some(endpoint) = scale::summarize(&doc.state).circus_endpoint else {
        return error_out(
            &format!(
                "the state file of {ns} names no circus endpoint: no arbiter to ask where its workers' output goes"
            ),
            1,
        );
    };
    let Some((watchers, prefixed)) = watchers_of(&doc, target) else {
        let types: Vec<String> = scale::summarize(&doc.state)
            .types
            .iter()
            .map(|t| t.ty.clone())
            .collect();
        return error_out(
            &format!(
                "{ns} has no type or watcher {target} (types: {})",
                types.join(", ")
            ),
            2,
        );
    };
    let mut client = match Client::new(&endpoint, g.arbiter_timeout()) {
        Ok(c) => c,
        Err(e) => return error_out(&e.to_string(), 1),
    };
    let sources = match logs::resolve(&mut client, &watchers, which.streams()) {
        Ok(s) => s,
        Err(e) => {
            return error_out(
                &format!(
                    "{e}: cannot ask it where {} writes its output",
                    watchers.join(", ")
                ),
                1,
            );
        }
    };
    let (found, none): (Vec<&Source>, Vec<&Source>) = sources.iter().partition(|s| s.file.is_ok());
    for s in &none {
        if let Err(why) = &s.file {
            if found.is_empty() {
                let _ = error_out(why, 1);
            } else {
                eprintln!("dynamo-ctl: warning: {}", safe(why));
            }
        }
    }
    if found.is_empty() {
        return 1;
    }
    let width = found.iter().map(|s| s.watcher.len()).max().unwrap_or(0);
    let prefix = |s: &Source| match (prefixed, which) {
        (true, LogStreams::Both) => format!("{:<width$} {} | ", safe(&s.watcher), s.stream.name()),
        (true, _) => format!("{:<width$} | ", safe(&s.watcher)),
        (false, LogStreams::Both) => format!("{} | ", s.stream.name()),
        (false, _) => String::new(),
    };
    let mut p = Printer {
        json: g.output == Output::Json,
        prefixes: found.iter().map(|s| prefix(s)).collect(),
        sources: found
            .iter()
            .map(|s| (s.watcher.clone(), s.stream))
            .collect(),
        out: std::io::BufWriter::with_capacity(64 << 10, std::io::stdout()),
    };
    let mut tails = Vec::new();
    let mut readable = 0;
    for (i, s) in found.iter().enumerate() {
        let path = s.file.as_ref().expect("partitioned");
        let (mut tail, first, note) = Tail::open(path, lines, CLI_LINE_CAP);
        match &note {
            Some(n) => say_note(&s.watcher, s.stream, n),
            None => readable += 1,
        }
        for l in &first {
            if let Err(e) = p.line(i, l) {
                return write_failed(&e);
            }
        }
        if !follow
            && lines > 0
            && let Some(l) = tail.take_partial()
            && let Err(e) = p.line(i, &l)
        {
            return write_failed(&e);
        }
        tails.push(tail);
    }
    if let Err(e) = p.out.flush() {
        return write_failed(&e);
    }
    if !follow {
        return if readable == 0 { 1 } else { 0 };
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let _follower = logs::follow(tails, logs::Options::from_env(COALESCE), move |b| {
        tx.send(b).is_ok()
    });
    while let Ok(batch) = rx.recv() {
        for (i, n) in &batch.notes {
            let (w, s) = &p.sources[*i];
            say_note(w, *s, n);
        }
        for (i, l) in &batch.lines {
            if let Err(e) = p.line(*i, l) {
                return write_failed(&e);
            }
        }
        if let Err(e) = p.out.flush() {
            return write_failed(&e);
        }
    }
    0
}
