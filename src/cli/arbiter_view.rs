//! What the circus arbiter says about one namespace, for `show`: one view of it within
//! `--arbiter-timeout` in all, and its words in the table (those of the TUI's header).

use std::collections::HashMap;

use super::Paint;
use crate::arbiter::{self, Client, Watcher, ops};
use crate::args::Global;
use crate::state::scale::Summary;
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
    /// Lower-cased name: the index in `watchers`, or None for `pids_unknown`.
    #[serde(skip)]
    index: HashMap<String, Option<usize>>,
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
            index: Default::default(),
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
                let known = l
                    .watchers
                    .iter()
                    .enumerate()
                    .map(|(i, w)| (&w.name, Some(i)));
                let unknown = l.unknown.iter().map(|n| (n, None));
                v.index = known
                    .chain(unknown)
                    .map(|(n, i)| (n.to_lowercase(), i))
                    .collect();
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

    /// The pids of a watcher named in the file; None when they are not known.
    pub fn pids_of(&self, watcher: &str) -> Option<Vec<u32>> {
        let ws = self.watchers.as_deref()?;
        match self.index.get(&watcher.to_lowercase()) {
            None => Some(Vec::new()),
            Some(None) => None,
            Some(Some(i)) => Some(ws[*i].pids.clone()),
        }
    }

    /// Watchers the arbiter runs for this namespace that the file does not name, with
    /// their pids when known.
    pub fn unmanaged(&self, s: &Summary) -> Vec<(String, Option<Vec<u32>>)> {
        let ws = self.watchers.as_deref().unwrap_or(&[]);
        let unknown: Vec<Watcher> = self
            .pids_unknown
            .iter()
            .map(|name| Watcher {
                name: name.clone(),
                pids: Vec::new(),
            })
            .collect();
        let known = arbiter::client::unmanaged(ws, s)
            .into_iter()
            .map(|w| (w.name.clone(), Some(w.pids.clone())));
        let unknown = arbiter::client::unmanaged(&unknown, s)
            .into_iter()
            .map(|w| (w.name.clone(), None));
        known.chain(unknown).collect()
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
