//! One source's entries (by key), its malformed ones (counted by key, with at most
//! [`MAX_MALFORMED`] messages kept), file-store staleness, and the merge of the sources
//! into a [`Snapshot`].

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::model::{Instance, Name, Snapshot, SourceStatus};
use super::planner::PlannerKeys;
use super::{MAX_INSTANCES, MAX_MALFORMED};

/// What one source contributed: its status and entries by key.
#[derive(Debug, Default)]
pub(crate) struct SourceState {
    pub status: Option<SourceStatus>,
    /// Shared with the snapshots made from it (an instance is allocated once).
    pub instances: HashMap<Name, Arc<Instance>>,
    /// Malformed entries by a hash of their key (a key may be megabytes: it is not kept),
    /// so a later good value clears them; the message for the first [`MAX_MALFORMED`].
    pub(super) malformed: HashMap<u64, Option<Box<str>>>,
    /// Messages held in `malformed`.
    pub(super) messages: usize,
    /// The planners' keys (etcd only).
    pub planner: PlannerKeys,
}

fn key_hash(key: &str) -> u64 {
    let mut h = DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

impl SourceState {
    /// A key's entry, good or malformed. Returns the instance it replaced or removed.
    pub fn put(&mut self, key: &str, entry: Result<Instance, String>) -> Option<Arc<Instance>> {
        match entry {
            Ok(i) => {
                self.unmark(key);
                if self.instances.len() < MAX_INSTANCES || self.instances.contains_key(key) {
                    self.instances.insert(i.key.clone(), Arc::new(i))
                } else {
                    self.mark(
                        key,
                        format!("more than {MAX_INSTANCES} instances: the rest are not kept"),
                    );
                    None
                }
            }
            Err(m) => {
                let before = self.instances.remove(key);
                self.mark(key, m);
                before
            }
        }
    }

    /// Removes a key; returns the instance it held.
    pub fn delete(&mut self, key: &str) -> Option<Arc<Instance>> {
        self.unmark(key);
        self.instances.remove(key)
    }

    fn mark(&mut self, key: &str, msg: String) {
        if self.malformed.len() >= 2 * MAX_INSTANCES {
            return;
        }
        let h = key_hash(key);
        let had = matches!(self.malformed.get(&h), Some(Some(_)));
        let keep = had || self.messages < MAX_MALFORMED;
        self.malformed.insert(h, keep.then(|| msg.into_boxed_str()));
        self.messages = self.messages + usize::from(keep) - usize::from(had);
    }

    fn unmark(&mut self, key: &str) {
        if let Some(Some(_)) = self.malformed.remove(&key_hash(key)) {
            self.messages -= 1;
        }
    }

    /// Malformed entries in all.
    pub fn malformed_count(&self) -> usize {
        self.malformed.len()
    }

    /// The messages kept for malformed entries.
    pub fn messages(&self) -> impl Iterator<Item = &str> {
        self.malformed.values().filter_map(|m| m.as_deref())
    }

    /// File store: sets `stale` by the time each entry was last touched, drops entries past
    /// TTL + grace. Returns whether anything changed, and the instances dropped.
    pub fn refresh_stale(
        &mut self,
        now: SystemTime,
        ttl: Duration,
        grace: Duration,
    ) -> (bool, Vec<Arc<Instance>>) {
        let mut changed = false;
        let mut dropped = Vec::new();
        let limit = ttl.saturating_add(grace);
        self.instances.retain(|_, i| {
            let Some(m) = i.modified else { return true };
            let age = now.duration_since(m).unwrap_or_default();
            if age > limit {
                changed = true;
                dropped.push(i.clone());
                return false;
            }
            let stale = age > ttl;
            if stale != i.stale {
                // Copied on write when a snapshot still holds it.
                Arc::make_mut(i).stale = stale;
                changed = true;
            }
            true
        });
        (changed, dropped)
    }

    /// How long until the next staleness change (an entry going stale or being dropped);
    /// None when none is due. Checked arithmetic: no time read from outside can overflow.
    pub fn next_stale_change(
        &self,
        now: SystemTime,
        ttl: Duration,
        grace: Duration,
    ) -> Option<Duration> {
        self.instances
            .values()
            .filter_map(|i| {
                let m = i.modified?;
                let after = if i.stale {
                    ttl.saturating_add(grace)
                } else {
                    ttl
                };
                let at = m.checked_add(after)?;
                Some(at.duration_since(now).unwrap_or_default())
            })
            .min()
    }
}

/// Merges the sources' states into a snapshot.
pub(crate) fn merge<'a>(states: impl IntoIterator<Item = &'a SourceState>) -> Snapshot {
    let mut snap = Snapshot::default();
    let mut messages: Vec<&str> = Vec::new();
    for s in states {
        let Some(st) = &s.status else { continue };
        snap.sources.push(st.clone());
        snap.instances.extend(s.instances.values().cloned());
        snap.malformed_count += s.malformed_count() + s.planner.dropped;
        messages.extend(s.messages());
        snap.planners.extend(s.planner.decisions());
    }
    messages.sort_unstable();
    snap.malformed = messages
        .into_iter()
        .take(MAX_MALFORMED)
        .map(str::to_string)
        .collect();
    snap.instances.sort_unstable_by(|a, b| {
        (
            &a.namespace,
            &a.component,
            &a.endpoint,
            a.instance_id,
            a.source,
            &a.key,
        )
            .cmp(&(
                &b.namespace,
                &b.component,
                &b.endpoint,
                b.instance_id,
                b.source,
                &b.key,
            ))
    });
    snap
}
