//! The Dynamo 1.x planner's decisions as the TUI follows them (reference §6): since when
//! each namespace's decision is in its current state ("pending 45s"), what changed (said
//! in the footer and the history), and a decision pending for long ([`SLOW`]) said as a
//! warning: an environment that does not follow its planner.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use super::*;
use crate::discovery::Snapshot;
use crate::discovery::planner::Decision;

/// A decision pending longer than this is a warning. Workers take a minute or two to load
/// a model; the planner itself waits up to `SCALING_MAX_WAIT_TIME` (30 min) before it
/// publishes again.
pub const SLOW: Duration = Duration::from_secs(120);

/// What the TUI saw of one namespace's decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    /// (decision id, decided, pending): a change of any starts a new `since`.
    pub key: (Option<u64>, bool, bool),
    pub since: SystemTime,
    /// The slow warning was said for this state.
    pub warned: bool,
}

fn key_of(d: &Decision) -> (Option<u64>, bool, bool) {
    (d.decision_id, d.decided(), d.pending())
}

/// "45s", "3m", "2h": how long, compact.
pub fn span(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=99 => format!("{s}s"),
        100..=5999 => format!("{}m", s / 60),
        _ => format!("{}h", s / 3600),
    }
}

impl Data {
    /// The open namespace's (or `ns`'s) decision and how long it has been so; None when
    /// the namespace has no planner keys or etcd was not heard.
    pub fn planner(&self, ns: &str) -> Option<(&Decision, Option<Duration>)> {
        let d = self.live.as_ref()?.planners.get(ns)?;
        let since = self
            .planner_seen
            .get(ns)
            .and_then(|s| self.now.duration_since(s.since).ok());
        Some((d, since))
    }

    /// The header's words: `prefill 2, decode 3 (decision 7, pending 45s)`, with whether
    /// it is a warning (pending past [`SLOW`]).
    pub fn planner_phrase(&self, ns: &str) -> Option<(String, bool)> {
        let (d, since) = self.planner(ns)?;
        let slow = d.pending() && since.is_some_and(|s| s >= SLOW);
        // How long it waits for the environment (a done decision needs no clock).
        let label = since.filter(|_| d.pending()).map(span);
        let mut text = d.phrase(label.as_deref());
        if slow {
            text.push_str(": not carried out yet (is the environment following its planner?)");
        }
        if !d.problems.is_empty() {
            text.push_str(&format!("; unreadable: {}", d.problems.join("; ")));
        }
        Some((text, slow || !d.problems.is_empty()))
    }

    /// Follows the decisions of a new snapshot: `since` per namespace, and the open
    /// namespace's changes said.
    pub fn follow_planners(&mut self, snap: &Snapshot) {
        let now = self.now;
        let before: HashMap<String, Seen> = std::mem::take(&mut self.planner_seen);
        let mut lines = Vec::new();
        let open = self.current.as_ref().map(|c| c.name.clone());
        for (ns, d) in &snap.planners {
            let key = key_of(d);
            let seen = match before.get(ns) {
                Some(s) if s.key == key => s.clone(),
                was => {
                    if open.as_deref() == Some(ns.as_str()) && self.live.is_some() {
                        lines.extend(change_line(ns, was.map(|s| s.key), d));
                    }
                    Seen {
                        key,
                        since: now,
                        warned: false,
                    }
                }
            };
            self.planner_seen.insert(ns.clone(), seen);
        }
        // Gone altogether (the planner's and the environment's keys).
        if let Some(ns) = &open
            && before.get(ns).is_some_and(|s| s.key.1)
            && !snap.planners.contains_key(ns)
        {
            lines.push((
                Severity::Warn,
                format!("{ns}: the planner's decision is gone (its keys expired: is the planner running?)"),
            ));
        }
        for (sev, text) in lines {
            self.say(sev, crate::text::safe(&text).into_owned());
        }
    }

    /// On the clock: the open namespace's decision pending past [`SLOW`] is said once.
    pub fn check_planner_slow(&mut self) {
        let Some(ns) = self.current.as_ref().map(|c| c.name.clone()) else {
            return;
        };
        let Some((d, Some(since))) = self.planner(&ns) else {
            return;
        };
        if !d.pending() || since < SLOW {
            return;
        }
        let text = format!(
            "{ns}: planner decision {} pending for {}: the environment has not carried it out",
            d.decision_id.map_or("?".into(), |i| i.to_string()),
            span(since)
        );
        if let Some(s) = self.planner_seen.get_mut(&ns)
            && !s.warned
        {
            s.warned = true;
            self.say(Severity::Warn, crate::text::safe(&text).into_owned());
        }
    }
}

/// What a change of the open namespace's decision is said as.
fn change_line(
    ns: &str,
    was: Option<(Option<u64>, bool, bool)>,
    d: &Decision,
) -> Option<(Severity, String)> {
    let id = d.decision_id.map_or("?".into(), |i| i.to_string());
    let what = d.phrase(None);
    match (was, d.decided(), d.pending()) {
        (Some((_, true, _)), false, _) => Some((
            Severity::Warn,
            format!(
                "{ns}: no planner decision any more (the planner's keys expired: is it running?)"
            ),
        )),
        (_, true, true) => Some((
            Severity::Info,
            format!("{ns}: planner decision {id}: {what}"),
        )),
        (Some((_, true, true)), true, false) => Some((
            Severity::Ok,
            format!("{ns}: planner decision {id} carried out"),
        )),
        (None, true, false) => Some((Severity::Info, format!("{ns}: planner: {what}"))),
        _ => None,
    }
}
