//! What the TUI remembers about discovery between snapshots: which instances just
//! appeared (they flash), which just vanished (shown greyed while leaving), when each was
//! first seen, and an add or remove whose registration is being followed.
//!
//! Pure: the time comes in as an argument, like everything in [`super::app`]. The event
//! loop asks [`Tracker::next_change`] when to wake; with nothing flashing, leaving or
//! followed there is no timer at all.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, SystemTime};

use crate::discovery::{Instance, Snapshot, planner_endpoint};

/// How long a new instance flashes.
pub const FLASH: Duration = Duration::from_secs(3);
/// How long a vanished instance is shown leaving.
pub const LEAVING: Duration = Duration::from_secs(5);

/// One instance's identity across snapshots: source and key.
pub fn ident(i: &Instance) -> String {
    format!("{}\u{0}{}", i.source.as_str(), i.key)
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
        match planner_endpoint(&self.ty) {
            Some(e) => format!("{} on endpoint {e}", self.ty),
            None => self.ty.clone(),
        }
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
    /// When each current instance was first seen in this session.
    pub first_seen: HashMap<String, SystemTime>,
    /// Instances that appeared after the first snapshot, until their flash ends.
    pub flashing: HashMap<String, SystemTime>,
    /// Instances gone from discovery, with when they went.
    pub leaving: Vec<(Instance, SystemTime)>,
    pub follow: Option<Follow>,
}

impl Tracker {
    /// Takes the new snapshot's instances into account; `old` is the previous snapshot.
    pub fn on_snapshot(&mut self, old: Option<&Snapshot>, new: &Snapshot, now: SystemTime) {
        let keys: HashSet<String> = new.instances.iter().map(ident).collect();
        // Back before its leaving ended: it is simply there again.
        self.leaving.retain(|(l, _)| !keys.contains(&ident(l)));
        if let Some(old) = old.filter(|_| self.primed) {
            for i in &old.instances {
                let id = ident(i);
                if !keys.contains(&id) {
                    self.leaving.retain(|(l, _)| ident(l) != id);
                    self.leaving.push((i.clone(), now));
                }
            }
        }
        for id in &keys {
            if !self.first_seen.contains_key(id) {
                self.first_seen.insert(id.clone(), now);
                if self.primed {
                    self.flashing.insert(id.clone(), now);
                }
            }
        }
        self.first_seen.retain(|k, _| keys.contains(k));
        self.flashing.retain(|k, _| keys.contains(k));
        // A view without any answering source says nothing about what appeared.
        self.primed |= new.answered();
    }

    /// Drops flashes and leavers whose time is over; true when something changed.
    pub fn expire(&mut self, now: SystemTime) -> bool {
        let before = (self.flashing.len(), self.leaving.len());
        self.flashing.retain(|_, at| elapsed(now, *at) < FLASH);
        self.leaving.retain(|(_, at)| elapsed(now, *at) < LEAVING);
        before != (self.flashing.len(), self.leaving.len())
    }

    /// When the screen next changes by time alone (a flash or leaving ends, a follow
    /// times out); None: no timer needed.
    pub fn next_change(&self) -> Option<SystemTime> {
        let flashes = self.flashing.values().map(|at| *at + FLASH);
        let leavers = self.leaving.iter().map(|(_, at)| *at + LEAVING);
        let follow = self.follow.iter().map(|f| f.deadline);
        flashes.chain(leavers).chain(follow).min()
    }

    pub fn is_flashing(&self, i: &Instance) -> bool {
        self.flashing.contains_key(&ident(i))
    }

    /// Checks the followed change against the live view and the clock.
    pub fn check_follow(&mut self, live: Option<&Snapshot>, now: SystemTime) -> Option<FollowEnd> {
        let f = self.follow.as_ref()?;
        let n = live.and_then(|l| l.live_for_type(&f.ns, &f.ty));
        if let Some(n) = n.filter(|n| f.reached(*n)) {
            let text = format!(
                "{}: {n} registered in discovery, after {:.1} s ({} before)",
                f.what(),
                elapsed(now, f.started).as_secs_f64(),
                f.before
            );
            self.follow = None;
            return Some(FollowEnd::Reached { text });
        }
        if now >= f.deadline {
            let text = format!(
                "{} still {}registered in discovery after {:.0} s: {} before, {} now",
                f.what(),
                if f.adding { "not " } else { "" },
                elapsed(f.deadline, f.started).as_secs_f64(),
                f.before,
                n.map_or("unknown".to_string(), |n| n.to_string()),
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
