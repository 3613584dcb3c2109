//! One view of a namespace's watchers (`show`, the TUI's poll): `list`, then `list NAME`
//! for each of the namespace's watchers, all within one budget (`--arbiter-timeout` in
//! total, not per call). What is not known when the budget runs out is reported as such,
//! with the reason, beside what is.

use std::time::{Duration, Instant};

use serde::Serialize;

use super::client::{ArbiterError, Client, Result};
use super::reply::Keep;

/// Watchers whose names are longer than this are not the namespace's (Dynamo's are under
/// 100 bytes): ignored and counted, so no line of output is as long as a reply.
pub const MAX_WATCHER_NAME: usize = 256;
/// How many pids one view keeps in all (4 bytes each, more in JSON output); the pids of
/// watchers past it are reported as unknown. A Dynamo deployment runs one process per
/// watcher.
pub const MAX_VIEW_PIDS: usize = 100_000;

/// A watcher as the arbiter runs it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Watcher {
    /// As circus lists it (lower-cased).
    pub name: String,
    pub pids: Vec<u32>,
}

/// Circus lower-cases watcher names (Python's `str.lower`): compare that way.
pub(crate) fn same_watcher(a: &str, b: &str) -> bool {
    a == b || a.to_lowercase() == b.to_lowercase()
}

/// The pids of watcher `name` among `watchers`; empty when circus runs no such watcher.
pub fn pids_of(watchers: &[Watcher], name: &str) -> Vec<u32> {
    watchers
        .iter()
        .find(|w| same_watcher(&w.name, name))
        .map(|w| w.pids.clone())
        .unwrap_or_default()
}

/// What one view learnt about a namespace's watchers.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Listing {
    /// The namespace's watchers whose pids are known, in circus's order.
    pub watchers: Vec<Watcher>,
    /// The namespace's watchers whose pids are not known (see `incomplete`).
    pub unknown: Vec<String>,
    /// Why the listing is not complete ("pids of 12 of 20 watchers unknown: arbiter
    /// timeout after 2 s"); `None` when it is.
    pub incomplete: Option<String>,
}

/// "2 s", "0.5 s".
fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s:.1} s")
    }
}

impl Client {
    /// The watchers whose names start with `<namespace>_` (case-insensitively), with their
    /// pids, waiting at most the client's timeout in total: the calls share one deadline,
    /// busy retries included. Fails only when the `list` itself fails.
    pub fn watchers_of(&mut self, namespace: &str) -> Result<Listing> {
        let budget = self.timeout();
        let deadline = Instant::now() + budget;
        self.with_deadline(deadline, |c| listing(c, namespace, budget, deadline))
    }
}

fn listing(
    c: &mut Client,
    namespace: &str,
    budget: Duration,
    deadline: Instant,
) -> Result<Listing> {
    let prefix = format!("{}_", namespace.to_lowercase());
    let names = c.names(Keep::Prefix(prefix))?.kept;
    let mut out = Listing::default();
    let mut reasons: Vec<String> = Vec::new();
    let mut why = |r: String| {
        if !reasons.contains(&r) {
            reasons.push(r);
        }
    };
    let timeout = format!("arbiter timeout after {}", secs(budget));
    let (mut listed, mut long, mut pids_left) = (0usize, 0usize, MAX_VIEW_PIDS);
    for name in names {
        if name.len() > MAX_WATCHER_NAME {
            long += 1;
            continue;
        }
        listed += 1;
        if Instant::now() >= deadline {
            why(timeout.clone());
            out.unknown.push(name);
            continue;
        }
        match c.pids(&name) {
            Ok(pids) if pids.len() > pids_left => {
                why(format!("more than {MAX_VIEW_PIDS} pids in all"));
                pids_left = 0;
                out.unknown.push(name);
            }
            Ok(pids) => {
                pids_left -= pids.len();
                out.watchers.push(Watcher { name, pids });
            }
            // Removed between the two calls.
            Err(ArbiterError::Refused { reason, .. }) if reason.contains("not found") => {
                listed -= 1;
            }
            Err(e) => {
                why(match e {
                    _ if Instant::now() >= deadline => timeout.clone(),
                    ArbiterError::Busy { .. } => format!("circus busy for {}", secs(budget)),
                    e => e.to_string(),
                });
                out.unknown.push(name);
            }
        }
    }
    let mut notes = Vec::new();
    if !out.unknown.is_empty() {
        notes.push(format!(
            "pids of {} of {listed} watchers unknown: {}",
            out.unknown.len(),
            reasons.join("; ")
        ));
    }
    if long > 0 {
        notes.push(format!(
            "{long} watchers with names over {MAX_WATCHER_NAME} bytes ignored"
        ));
    }
    if !notes.is_empty() {
        out.incomplete = Some(notes.join("; "));
    }
    Ok(out)
}
