//! What the sources' health and the live count did since they were last heard, said in
//! the footer and the history: a source failing (where and why) or answering again, the
//! open namespace's live count changing and who left. Said once per change.

use super::*;
use crate::discovery::Snapshot;

/// How a source's health went from the last round to this one (`was` None: not heard).
fn transition(
    what: &str,
    location: &str,
    was: Option<bool>,
    ok: bool,
    error: Option<&str>,
) -> Option<(Severity, String)> {
    match (was, ok) {
        (Some(true) | None, false) => Some((
            Severity::Error,
            format!("{what} {location} failed: {}", error.unwrap_or("no answer")),
        )),
        (Some(false), true) => Some((Severity::Ok, format!("{what} {location} answers again"))),
        _ => None,
    }
}

/// At most this many lines per round; the rest are counted.
const SAID: usize = 3;
/// Instances arriving or leaving said one by one per round; the rest are counted.
const EACH: usize = 20;

impl Data {
    fn say_lines(&mut self, lines: Vec<(Severity, String)>) {
        let more = lines.len().saturating_sub(SAID);
        for (sev, text) in lines.into_iter().take(SAID) {
            self.say(sev, crate::text::safe(&text).into_owned());
        }
        if more > 0 {
            self.say(
                Severity::Warn,
                format!("{more} more sources or counts changed (M lists the messages)"),
            );
        }
    }

    /// Each metrics source whose health changed since the last round. A source first
    /// heard failing counts as a change.
    pub fn say_metrics_health(&mut self, new: &crate::metrics::Metrics) {
        let before: std::collections::HashMap<(&str, &str), bool> = self
            .load
            .last
            .iter()
            .flat_map(|m| m.sources.iter())
            .map(|s| ((s.kind.as_str(), s.location.as_str()), s.ok()))
            .collect();
        let lines = new
            .sources
            .iter()
            .filter_map(|s| {
                let was = before.get(&(s.kind.as_str(), s.location.as_str())).copied();
                let what = format!("metrics {}", s.kind.as_str());
                transition(&what, &s.location, was, s.ok(), s.error.as_deref())
            })
            .collect();
        self.say_lines(lines);
    }

    /// Each discovery source whose health changed, and the open namespace's live count
    /// with the instances that left (a few by component and id).
    pub fn say_discovery_changes(&mut self, snap: &Snapshot) {
        let Some(before) = &self.live else {
            return;
        };
        let ok = |s: &crate::discovery::SourceStatus| s.status == crate::discovery::Status::Ok;
        let mut lines: Vec<(Severity, String)> = snap
            .sources
            .iter()
            .filter_map(|s| {
                let was = before
                    .sources
                    .iter()
                    .find(|b| b.kind == s.kind && b.location == s.location)
                    .map(ok)?;
                let what = format!("discovery {}", s.kind.as_str());
                transition(&what, &s.location, Some(was), ok(s), s.error.as_deref())
            })
            .collect();
        // Each instance of the open namespace arriving or leaving (a few per round; a
        // mass change is counted).
        let mut each: Vec<(Severity, String)> = Vec::new();
        if let (Some(cur), Some(ch)) = (&self.current, &snap.changes)
            && before.answered()
        {
            let ns = cur.name.as_str();
            let mut more = 0usize;
            // One event per instance, the first EACH of them; the rest counted.
            let mut one = |sev: Severity, verb: &str, i: &crate::discovery::Instance| {
                if each.len() < EACH {
                    each.push((
                        sev,
                        format!(
                            "{ns}: {} {} {verb} ({}, {})",
                            i.component,
                            i.instance_id_hex(),
                            i.endpoint,
                            i.source.as_str()
                        ),
                    ));
                } else {
                    more += 1;
                }
            };
            if !ch.added.is_empty() {
                let keys: std::collections::HashSet<&str> = ch
                    .added
                    .iter()
                    .take(10_000)
                    .map(|i| i.key.as_str())
                    .collect();
                for i in snap
                    .of_namespace(ns)
                    .filter(|i| keys.contains(i.key.as_str()))
                {
                    one(Severity::Ok, "arrived", i);
                }
            }
            for i in ch.removed.iter().filter(|i| i.namespace == ns) {
                one(Severity::Warn, "left", i);
            }
            if more > 0 {
                each.push((
                    Severity::Info,
                    format!("{ns}: {more} more instances arrived or left"),
                ));
            }
        }
        if let Some(cur) = &self.current
            && before.answered()
            && snap.answered()
        {
            let count = |x: &Snapshot| x.namespaces_ref().get(&cur.name).map_or(0, |l| l.live);
            let (was, now) = (count(before), count(snap));
            if was != now {
                let mut text = format!("{}: {was} -> {now} live instances", cur.name);
                let gone: Vec<String> = snap
                    .changes
                    .iter()
                    .flat_map(|ch| ch.removed.iter())
                    .filter(|i| i.namespace == cur.name)
                    .take(3)
                    .map(|i| format!("{} {}", i.component, i.instance_id_hex()))
                    .collect();
                if !gone.is_empty() {
                    text.push_str(&format!("; left: {}", gone.join(", ")));
                }
                let sev = if now < was {
                    Severity::Warn
                } else {
                    Severity::Info
                };
                lines.push((sev, text));
            }
        }
        // Instances first: the count line (and a source's health) is said last, so the
        // footer shows it.
        for (sev, text) in each {
            self.say(sev, crate::text::safe(&text).into_owned());
        }
        self.say_lines(lines);
    }

    /// Circus's health changing: offline with where and why, or answering again.
    pub fn say_arbiter_change(&mut self, seen: &ArbiterStatus) {
        let line = match (&self.arbiter, seen) {
            (
                ArbiterStatus::Online { .. } | ArbiterStatus::Unknown,
                ArbiterStatus::Offline { endpoint, reason },
            ) => Some((
                Severity::Error,
                format!("circus {endpoint} is offline: {reason}"),
            )),
            (ArbiterStatus::Offline { .. }, ArbiterStatus::Online { endpoint, .. }) => {
                transition("circus", endpoint, Some(false), true, None)
            }
            _ => None,
        };
        self.say_lines(line.into_iter().collect());
    }
}
