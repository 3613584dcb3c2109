//! What the TUI remembers about discovery between snapshots: which instances just
//! appeared (they flash), which just vanished (shown greyed while leaving), when each was
//! first seen, and an add or remove whose registration is being followed.
//!
//! Pure: the time comes in as an argument, like everything in [`super::app`]. The event
//! loop asks [`Tracker::next_change`] when to wake; with nothing flashing, leaving or
//! followed there is no timer at all.
//!
//! Linear, and O(changes) per snapshot of a live view: the view hands on what was added
//! and removed ([`Snapshot::changes`], computed off the UI thread), so 100,000
//! registrations vanishing at once cost 100,000 hash-map operations here, not a search
//! each. A snapshot without changes (the first, or one made by hand) is compared as a
//! whole, with hash sets (O(instances)). Every map is keyed by [`Ident`] (source and a
//! shared key: no string is built to look one up); flashes and leavers are kept in the
//! order they started, so expiring them and the next wake-up cost O(what ends).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::discovery::{Ident, Instance, Snapshot};

/// How long a new instance flashes.
pub const FLASH: Duration = Duration::from_secs(3);
/// How long a vanished instance is shown leaving.
pub const LEAVING: Duration = Duration::from_secs(5);

/// One instance's identity across snapshots as text (source and key), e.g. to name it
/// in a popup.
pub fn ident(i: &Instance) -> String {
    format!("{}\u{0}{}", i.source.as_str(), i.key)
}

/// Whether `id` (from [`ident`]) names `i`, without building a string.
pub fn is_ident(i: &Instance, id: &str) -> bool {
    id.strip_prefix(i.source.as_str())
        .and_then(|r| r.strip_prefix('\u{0}'))
        .is_some_and(|k| k == i.key.as_str())
}

/// An add or remove whose registration (or its end) is awaited in discovery.
#[derive(Clone, Debug, PartialEq)]
pub struct Follow {
    pub ns: String,
    pub ty: String,
    /// The live count (planner's endpoint rule) the change should reach.
    pub target: usize,
    pub adding: bool,
    /// Live count when the change was confirmed.
    pub before: usize,
    pub started: SystemTime,
    pub deadline: SystemTime,
}

impl Follow {
    /// "VllmWorker on endpoint generate".
    pub fn what(&self) -> String {
        crate::discovery::follow::what(&self.ty)
    }

    fn reached(&self, n: usize) -> bool {
        if self.adding {
            n >= self.target
        } else {
            n <= self.target
        }
    }
}

/// How a followed change ended.
#[derive(Clone, Debug, PartialEq)]
pub enum FollowEnd {
    Reached { text: String },
    TimedOut { text: String },
}

#[derive(Clone, Debug, Default)]
pub struct Tracker {
    /// Whether a snapshot was seen before (the first one flashes nothing).
    primed: bool,
    /// The live view snapshot last taken in (view, number): the next one's changes apply
    /// when they are relative to it.
    last: Option<(u64, u64)>,
    /// When each current instance was first seen in this session.
    pub first_seen: HashMap<Ident, SystemTime>,
    /// Instances that appeared after the first snapshot, until their flash ends.
    pub flashing: HashMap<Ident, SystemTime>,
    /// The flashes in the order they started (an entry whose instance left or flashed
    /// again since is skipped).
    flash_order: VecDeque<(SystemTime, Ident)>,
    /// Instances gone from discovery, with when they went, oldest first.
    pub leaving: VecDeque<(Arc<Instance>, SystemTime)>,
    /// When each leaving instance went.
    leaving_at: HashMap<Ident, SystemTime>,
    pub follow: Option<Follow>,
}

impl Tracker {
    /// Takes the new snapshot's instances into account; `old` is the previous snapshot.
    pub fn on_snapshot(&mut self, old: Option<&Snapshot>, new: &Snapshot, now: SystemTime) {
        let view = new.changes.as_ref().map(|c| (c.view, c.seq));
        let follows = match (&new.changes, self.last) {
            (Some(c), Some((v, n))) => c.view == v && c.seq == n + 1,
            _ => false,
        };
        if follows && let Some(ch) = &new.changes {
            self.apply(&ch.added, &ch.removed, now);
        } else {
            self.compare(old, new, now);
        }
        self.last = view;
        // A view without any answering source says nothing about what appeared.
        self.primed |= new.answered();
    }

    /// O(changes): the live view said what came and went.
    fn apply(&mut self, added: &[Ident], removed: &[Arc<Instance>], now: SystemTime) {
        let mut dirty = false;
        for i in removed {
            let id = i.ident();
            self.first_seen.remove(&id);
            self.flashing.remove(&id);
            if self.primed {
                dirty |= self.leave(i.clone(), id, now);
            }
        }
        for id in added {
            // Back before its leaving ended: it is simply there again.
            dirty |= self.leaving_at.remove(id).is_some();
            self.appear(id.clone(), now);
        }
        if dirty {
            self.tidy_leavers();
        }
    }

    /// O(instances): no changes to go by, the two snapshots are compared with hash sets.
    fn compare(&mut self, old: Option<&Snapshot>, new: &Snapshot, now: SystemTime) {
        let keys: HashSet<Ident> = new.instances.iter().map(|i| i.ident()).collect();
        let before = self.leaving_at.len();
        self.leaving_at.retain(|k, _| !keys.contains(k));
        let mut dirty = before != self.leaving_at.len();
        if let Some(old) = old.filter(|_| self.primed) {
            for i in &old.instances {
                let id = i.ident();
                if !keys.contains(&id) {
                    dirty |= self.leave(i.clone(), id, now);
                }
            }
        }
        self.first_seen.retain(|k, _| keys.contains(k));
        self.flashing.retain(|k, _| keys.contains(k));
        for id in keys {
            if !self.first_seen.contains_key(&id) {
                self.appear(id, now);
            }
        }
        if dirty {
            self.tidy_leavers();
        }
    }

    fn appear(&mut self, id: Ident, now: SystemTime) {
        self.first_seen.insert(id.clone(), now);
        if self.primed {
            self.flashing.insert(id.clone(), now);
            self.flash_order.push_back((now, id));
        }
    }

    /// `i` is gone: it shows as leaving. True when it was leaving already (the older
    /// entry is then left for [`Tracker::tidy_leavers`]).
    fn leave(&mut self, i: Arc<Instance>, id: Ident, now: SystemTime) -> bool {
        let again = self.leaving_at.insert(id, now).is_some();
        self.leaving.push_back((i, now));
        again
    }

    /// One pass over the leavers: drops those back in discovery and older duplicates.
    fn tidy_leavers(&mut self) {
        let at = &self.leaving_at;
        self.leaving.retain(|(l, t)| at.get(&l.ident()) == Some(t));
    }

    /// Drops flashes and leavers whose time is over; true when something changed. O(what
    /// ends): both are kept oldest first.
    pub fn expire(&mut self, now: SystemTime) -> bool {
        let mut changed = false;
        while let Some((at, _)) = self.flash_order.front() {
            if elapsed(now, *at) < FLASH {
                break;
            }
            let (at, id) = self.flash_order.pop_front().expect("front exists");
            if self.flashing.get(&id) == Some(&at) {
                self.flashing.remove(&id);
                changed = true;
            }
        }
        while let Some((_, at)) = self.leaving.front() {
            if elapsed(now, *at) < LEAVING {
                break;
            }
            let (i, at) = self.leaving.pop_front().expect("front exists");
            let id = i.ident();
            if self.leaving_at.get(&id) == Some(&at) {
                self.leaving_at.remove(&id);
            }
            changed = true;
        }
        changed
    }

    /// When the screen next changes by time alone (a flash or leaving ends, a follow
    /// times out); None: no timer needed. O(1).
    pub fn next_change(&self) -> Option<SystemTime> {
        let flash = self
            .flash_order
            .front()
            .and_then(|(at, _)| at.checked_add(FLASH));
        let leaver = self
            .leaving
            .front()
            .and_then(|(_, at)| at.checked_add(LEAVING));
        let follow = self.follow.as_ref().map(|f| f.deadline);
        [flash, leaver, follow].into_iter().flatten().min()
    }

    /// When `i` left discovery, if it is shown leaving.
    pub fn leaving_since(&self, i: &Instance) -> Option<SystemTime> {
        self.leaving_at.get(&i.ident()).copied()
    }

    /// When this session first saw `i`.
    pub fn first_seen_at(&self, i: &Instance) -> Option<SystemTime> {
        self.first_seen.get(&i.ident()).copied()
    }

    pub fn is_flashing(&self, i: &Instance) -> bool {
        self.flashing.contains_key(&i.ident())
    }

    /// Checks the followed change against the live view and the clock.
    pub fn check_follow(&mut self, live: Option<&Snapshot>, now: SystemTime) -> Option<FollowEnd> {
        let f = self.follow.as_ref()?;
        let n = live.and_then(|l| l.live_for_type(&f.ns, &f.ty));
        if let Some(n) = n.filter(|n| f.reached(*n)) {
            let text = crate::discovery::follow::reached(
                &f.what(),
                n,
                elapsed(now, f.started).as_secs_f64(),
                f.before,
            );
            self.follow = None;
            return Some(FollowEnd::Reached { text });
        }
        if now >= f.deadline {
            let text = crate::discovery::follow::timed_out(
                &f.what(),
                f.adding,
                elapsed(f.deadline, f.started).as_secs_f64(),
                f.before,
                n,
            );
            self.follow = None;
            return Some(FollowEnd::TimedOut { text });
        }
        None
    }
}

fn elapsed(now: SystemTime, then: SystemTime) -> Duration {
    now.duration_since(then).unwrap_or_default()
}
