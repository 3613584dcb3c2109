//! What the circus arbiter says about one namespace, for `show`: one view of it within
//! `--arbiter-timeout` in all, and its words in the table (those of the TUI's header).

use super::Paint;
use crate::arbiter::{Client, Watcher, ops};
use crate::args::Global;
use crate::text::safe;

/// What the arbiter says about one namespace, for `show`: one view, at most
/// `--arbiter-timeout` in all.
#[derive(Debug, serde::Serialize)]
pub(super) struct ArbiterView {
    pub endpoint: Option<String>,
    /// null when not asked (`--state-only`, `--demo`).
    pub reachable: Option<bool>,
    pub error: Option<String>,
    /// The namespace's watchers (`<ns>_*`) whose pids are known, with them; null when
    /// unknown.
    pub watchers: Option<Vec<Watcher>>,
    /// The namespace's watchers whose pids are not known (see `incomplete`).
    pub pids_unknown: Vec<String>,
    /// Why `watchers` is not the whole story, when it is not.
    pub incomplete: Option<String>,
}

impl ArbiterView {
    pub fn ask(g: &Global, ns: &str, endpoint: Option<&str>) -> ArbiterView {
        let mut v = ArbiterView {
            endpoint: endpoint.map(str::to_string),
            reachable: None,
            error: None,
            watchers: None,
            pids_unknown: Vec::new(),
            incomplete: None,
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
            Ok(l) => {
                v.reachable = Some(true);
                v.watchers = Some(l.watchers);
                v.pids_unknown = l.unknown;
                v.incomplete = l.incomplete;
            }
            Err(e) => {
                v.reachable = Some(!e.is_unreachable());
                v.error = Some(e.to_string());
            }
        }
        v
    }

    /// The `circus` line of `show`: the TUI header's words ("online (N watchers)",
    /// "offline: REASON"), a refusal included.
    pub(super) fn line(&self, ns: &str, paint: &Paint) -> String {
        let Some(e) = self.endpoint.as_deref().map(safe) else {
            return "none (no circus_endpoint in the file)".to_string();
        };
        let error = self.error.as_deref().map(safe);
        match (self.reachable, &self.watchers, &error) {
            (Some(true), Some(ws), _) => {
                let n = ws.len() + self.pids_unknown.len();
                let mut line = format!("{e}, {} ({n} watchers of {ns})", paint.green("online"));
                if let Some(why) = &self.incomplete {
                    line.push_str(&format!("; {}", paint.red(&safe(why))));
                }
                line
            }
            (None, _, Some(why)) => format!("{e}, {why}"),
            (_, _, why) => format!(
                "{e}, {}",
                paint.red(&format!("offline: {}", why.as_deref().unwrap_or("?")))
            ),
        }
    }
}

/// The shared words ([`ops::process_words`]).
pub(super) fn process_text(parked: bool, pids: Option<&[u32]>) -> String {
    ops::process_words(parked, pids).1
}
