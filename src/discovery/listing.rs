//! The namespace listing: the state directory's namespaces joined with what discovery
//! says of each, plus the namespaces only discovery knows (every Dynamo 1.x deployment).
//! `list` and the TUI's picker both take it from here, so they list the same namespaces
//! with the same sources and live counts. Linear in the namespaces (a set, not a search
//! per name).

use std::collections::{BTreeMap, HashSet};

use super::{NamespaceLive, Snapshot};

/// What discovery says of one namespace of the listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveOf {
    /// Where the namespace is known: "state" first (when it has a file), then each
    /// discovery source that has it.
    pub sources: Vec<&'static str>,
    /// Live instances; `None` when no discovery source answered (unknown, not zero).
    pub live: Option<usize>,
}

/// The join of a state listing with a discovery snapshot.
pub struct Joined<'a> {
    answered: bool,
    live_ns: &'a BTreeMap<String, NamespaceLive>,
}

impl<'a> Joined<'a> {
    /// `snap`: the discovery snapshot, if any source is configured.
    pub fn new(snap: &'a Snapshot) -> Joined<'a> {
        Joined {
            answered: snap.answered(),
            live_ns: snap.namespaces_ref(),
        }
    }

    /// A namespace of the state directory, as discovery sees it.
    pub fn of_state(&self, name: &str) -> LiveOf {
        let mut sources = vec!["state"];
        let mut live = self.answered.then_some(0);
        if let Some(l) = self.live_ns.get(name) {
            sources.extend(l.sources.iter().map(|k| k.as_str()));
            live = Some(l.live);
        }
        LiveOf { sources, live }
    }

    /// The namespaces only discovery knows (none of `state_names`), sorted by name.
    pub fn live_only<'n>(
        &self,
        state_names: impl IntoIterator<Item = &'n str>,
    ) -> Vec<(&'a String, &'a NamespaceLive)> {
        let known: HashSet<&str> = state_names.into_iter().collect();
        self.live_ns
            .iter()
            .filter(|(n, _)| !known.contains(n.as_str()))
            .collect()
    }

    /// A namespace only discovery knows, as discovery sees it.
    pub fn of_live_only(l: &NamespaceLive) -> LiveOf {
        LiveOf {
            sources: l.sources.iter().map(|k| k.as_str()).collect(),
            live: Some(l.live),
        }
    }

    /// Whether any discovery source answered.
    pub fn answered(&self) -> bool {
        self.answered
    }

    /// What discovery knows, by namespace.
    pub fn namespaces(&self) -> &'a BTreeMap<String, NamespaceLive> {
        self.live_ns
    }
}
