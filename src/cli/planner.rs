//! The Dynamo 1.x planner's decision of a namespace (reference §6), as `show` and `list`
//! say it: the same words as the TUI ([`Decision::phrase`]).

use super::*;
use crate::discovery::planner::Decision;
use crate::discovery::{Snapshot, SourceKind};

/// What the CLI knows of a namespace's planner.
pub(super) enum Known<'a> {
    /// No etcd source was consulted: nothing to say.
    NotAsked,
    /// etcd was asked and did not answer.
    Unknown(String),
    /// etcd answered: the namespace's planner keys, if any.
    Read(Option<&'a Decision>),
}

pub(super) fn of<'a>(snap: &'a Snapshot, ns: &str) -> Known<'a> {
    let mut etcd = snap.sources.iter().filter(|s| s.kind == SourceKind::Etcd);
    let Some(first) = etcd.next() else {
        return Known::NotAsked;
    };
    if !first.ok() {
        let why = first.error.as_deref().unwrap_or("no answer");
        // A refused connect names its endpoint already; other errors do not.
        return Known::Unknown(if why.starts_with(&first.location) {
            format!("unknown: etcd {why}")
        } else {
            format!("unknown: etcd {}: {why}", first.location)
        });
    }
    Known::Read(snap.planners.get(ns))
}

/// `show -o json`'s and `list -o json`'s `planner`: null unless a decision is published.
/// `since` is null: a one-shot command sees the decision once.
pub(super) fn json(snap: &Snapshot, ns: &str) -> Value {
    match of(snap, ns) {
        Known::Read(Some(d)) => json!(d.json(None)),
        _ => Value::Null,
    }
}

/// The text: `prefill 2, decode 3 (decision 7, pending)`, coloured (pending yellow, done
/// green, unreadable values red); None when etcd was not consulted.
pub(super) fn text(snap: &Snapshot, ns: &str, paint: &Paint) -> Option<String> {
    Some(match of(snap, ns) {
        Known::NotAsked => return None,
        Known::Unknown(why) => safe(&why).into_owned(),
        Known::Read(None) => "no planner decision".into(),
        Known::Read(Some(d)) => {
            let phrase = safe(&d.phrase(None)).into_owned();
            let mut t = if !d.decided() {
                phrase
            } else if d.pending() {
                paint.yellow(&phrase)
            } else {
                paint.green(&phrase)
            };
            if !d.problems.is_empty() {
                let p = format!("; unreadable: {}", d.problems.join("; "));
                t.push_str(&paint.red(&safe(&p)));
            }
            t
        }
    })
}
