//! How what the sources said changes [`Data`]: a listing and a read came back, discovery
//! changed, a change finished. Each answers with [`Outcome`]s for `App` (effects to run,
//! a confirm to open again, popups to close).

use std::path::PathBuf;
use std::time::SystemTime;

use super::*;
use crate::arbiter::{Process, Step};
use crate::state::Document;
use crate::state::scale::Change;
use crate::tui::action::{Effect, Intent, LoadOutcome, Op, Refresh, Route, ScaleFailure};
use crate::tui::live::{Follow, FollowEnd};
use crate::tui::panels::{Ask, Outcome};

impl Data {
    /// Whether the keys that change the deployment are off: `--readonly`, or a namespace only
    /// discovery knows (nothing to scale without a state file).
    pub fn keys_readonly(&self) -> bool {
        self.readonly || self.current.as_ref().is_some_and(|c| c.discovery_only)
    }

    /// Whether the metrics sources should be polled: one is configured and a namespace is
    /// open (never on the picker, never without a source).
    pub fn wants_metrics(&self) -> bool {
        self.load.on && self.current.is_some()
    }

    /// Whether the arbiter should be polled now: a namespace with an endpoint is open.
    pub fn wants_arbiter(&self) -> bool {
        self.file_only.is_none()
            && self
                .current
                .as_ref()
                .is_some_and(|c| c.summary.circus_endpoint.is_some())
    }

    /// Why a change must not go now: circus offline, or a file without a circus endpoint,
    /// and neither `--state-only` nor `--demo`. The file would change while no process
    /// follows it, which breaks the planner's next remove; the CLI refuses the same.
    pub fn refusal(&self, op: Op) -> Option<String> {
        let nothing = match op {
            Op::Add => "no process would start",
            Op::Scale(_) => "no process would start or stop",
            Op::Remove => "no process would stop",
        };
        let how =
            "nothing is changed (start dynamo-ctl with --state-only to change only the state file)";
        match &self.arbiter {
            ArbiterStatus::Offline { reason, .. } => {
                Some(format!("circus is offline ({reason}): {nothing}, so {how}"))
            }
            ArbiterStatus::NoEndpoint => Some(format!(
                "the state file names no circus endpoint: {nothing}, so {how}"
            )),
            _ => None,
        }
    }

    /// Where a change confirmed now would go, and the line the confirm shows about it.
    pub fn route(&self, op: Op) -> (Route, String) {
        let (start, nothing) = match op {
            Op::Add => ("circus starts its process", "no process will start"),
            Op::Scale(_) => (
                "circus starts and stops the processes, one at a time",
                "no process will start or stop",
            ),
            Op::Remove => (
                "circus stops its process (SIGTERM) first",
                "no process will stop",
            ),
        };
        match &self.arbiter {
            ArbiterStatus::Online { endpoint, .. } => (
                Route::Arbiter {
                    endpoint: endpoint.clone(),
                },
                format!("{start}."),
            ),
            ArbiterStatus::FileOnly(why) => (
                Route::FileOnly(why.to_string()),
                format!("{why}: only the state file changes, {nothing}."),
            ),
            ArbiterStatus::NoEndpoint => (
                Route::FileOnly("no circus endpoint".into()),
                format!(
                    "The file names no circus endpoint: only the state file changes, {nothing}."
                ),
            ),
            ArbiterStatus::Offline { reason, .. } => (
                Route::FileOnly(format!("circus offline: {reason}")),
                format!("Circus is offline ({reason}): only the state file changes, {nothing}."),
            ),
            // Not heard yet: the change goes to the file's arbiter, which answers then
            // (or the change fails and the file is left as it was).
            ArbiterStatus::Unknown => match self
                .current
                .as_ref()
                .and_then(|c| c.summary.circus_endpoint.clone())
            {
                Some(endpoint) => (
                    Route::Arbiter { endpoint },
                    format!("Circus has not answered yet: it is asked when you confirm; {start}."),
                ),
                None => (
                    Route::FileOnly("no circus endpoint".into()),
                    format!(
                        "The file names no circus endpoint: only the state file changes, {nothing}."
                    ),
                ),
            },
        }
    }

    /// The effects to run at start.
    pub fn start(&mut self) -> Vec<Effect> {
        vec![self.refresh()]
    }

    /// Injects the time: `now` for ages, `clock` (e.g. "16:42:07") for status messages.
    pub fn set_clock(&mut self, now: SystemTime, clock: impl Into<String>) {
        self.now = now;
        self.clock = clock.into();
    }

    pub fn busy(&self) -> bool {
        self.pending > 0
    }

    pub fn refresh(&mut self) -> Effect {
        self.pending += 1;
        self.refreshing.push(self.want.clone());
        Effect::Refresh {
            ns: self.want.clone(),
        }
    }

    /// A refresh of the namespace asked for is running: its answer is still to come (a
    /// second one would read and parse the file again at the same time, twice the memory
    /// of a big state file).
    pub fn refresh_running(&self) -> bool {
        self.refreshing.contains(&self.want)
    }

    pub fn say(&mut self, severity: Severity, text: impl Into<String>) {
        let status = Status {
            at: self.clock.clone(),
            severity,
            text: text.into(),
        };
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(status.clone());
        self.said = self.said.saturating_add(1);
        self.status = Some(status);
    }

    /// The picker's list: the state directory's namespaces, each with what discovery says
    /// of it, plus the namespaces only discovery knows (every Dynamo 1.x deployment).
    pub fn merge_listing(&mut self) {
        let joined = self
            .live
            .as_ref()
            .map(crate::discovery::listing::Joined::new);
        let mut list = match &self.state_listing {
            Listing::Found(l) => l.clone(),
            other => match &joined {
                Some(j) if !j.namespaces().is_empty() => Vec::new(),
                _ => {
                    self.listing = other.clone();
                    return;
                }
            },
        };
        if let Some(j) = &joined {
            for n in list.iter_mut() {
                let of = j.of_state(&n.name);
                n.sources = of.sources;
                n.live = of.live;
            }
            let only = j.live_only(list.iter().map(|n| n.name.as_str()));
            let mut extra = Vec::with_capacity(only.len());
            for (name, l) in only {
                let of = crate::discovery::listing::Joined::of_live_only(l);
                extra.push(NsInfo {
                    name: name.clone(),
                    path: PathBuf::new(),
                    modified: None,
                    brief: Ok(Brief {
                        counts: l.components.iter().map(|(c, n)| (c.clone(), *n)).collect(),
                        gpus_used: 0,
                        gpus_total: 0,
                    }),
                    sources: of.sources,
                    live: of.live,
                    discovery_only: true,
                });
            }
            list.extend(extra);
            list.sort_by(|a, b| a.name.cmp(&b.name));
        }
        self.listing = Listing::Found(list);
    }

    pub fn on_instances(&mut self, snap: Snapshot) {
        self.say_discovery_changes(&snap);
        self.follow_planners(&snap);
        self.track.on_snapshot(self.live.as_ref(), &snap, self.now);
        self.live = Some(snap);
        self.rows_stale = true;
        self.merge_listing();
        self.check_follow();
        if let Some(cur) = &mut self.current
            && cur.discovery_only
        {
            cur.json = instances_json(self.live.as_ref(), &cur.name);
        }
    }

    /// Ends the followed registration when discovery shows it or its time is up; true when
    /// it ended.
    pub fn check_follow(&mut self) -> bool {
        match self.track.check_follow(self.live.as_ref(), self.now) {
            Some(FollowEnd::Reached { text }) => {
                self.say(Severity::Ok, text);
                true
            }
            Some(FollowEnd::TimedOut { text }) => {
                self.say(Severity::Warn, text);
                true
            }
            None => false,
        }
    }

    /// When the screen next changes by time alone (see [`Tracker::next_change`]).
    pub fn next_wake(&self) -> Option<SystemTime> {
        self.track.next_change()
    }

    /// After a change that started or stopped processes: follow discovery until the live
    /// count shows it (the planner's blocking mode), or the start timeout passes.
    pub fn follow_steps(&mut self, intent: &Intent, steps: &[Step]) {
        let Some(before) = intent.live_before else {
            return;
        };
        let added = steps
            .iter()
            .filter(|s| s.process == Process::Started && matches!(s.change, Change::Added { .. }))
            .count();
        let removed = steps
            .iter()
            .filter(|s| s.process == Process::Stopped && matches!(s.change, Change::Removed { .. }))
            .count();
        if added == removed {
            return;
        }
        let adding = added > removed;
        let target = (before + added).saturating_sub(removed);
        let f = Follow {
            ns: intent.ns.clone(),
            ty: intent.ty.clone(),
            target,
            adding,
            before,
            started: self.now,
            deadline: self.now + intent.opts.start_timeout,
        };
        self.say(
            Severity::Info,
            crate::discovery::follow::waiting(adding, &f.what(), before),
        );
        self.track.follow = Some(f);
        self.check_follow();
    }

    /// A registration is being followed (the spinner runs).
    pub fn following(&self) -> Option<&Follow> {
        self.track.follow.as_ref()
    }

    /// A directory listing and maybe a read of the open namespace came back.
    pub fn on_refreshed(&mut self, r: Refresh) -> Vec<Outcome> {
        let answered = r.ns.as_ref().map(|(name, _)| name.clone());
        if let Some(i) = self.refreshing.iter().position(|w| *w == answered) {
            self.refreshing.swap_remove(i);
        }
        let mut out = Vec::new();
        self.state_listing = r.listing;
        self.merge_listing();
        let Some((name, outcome)) = r.ns else {
            return Vec::new();
        };
        if self.want.as_deref() != Some(name.as_str()) {
            return Vec::new(); // an answer for a namespace we left meanwhile
        }
        match outcome {
            LoadOutcome::Loaded(doc, modified) => {
                let path = self.dir.join(format!("{name}.json"));
                match &self.current {
                    Some(cur) if cur.name == name => {
                        let hold = std::mem::take(&mut self.hold_status);
                        if cur.doc.state != doc.state && !hold {
                            self.say(
                                Severity::Info,
                                format!("{name}.json changed on disk; showing the new state"),
                            );
                        } else if self
                            .status
                            .as_ref()
                            .is_some_and(|s| s.text.starts_with(&unreadable_now(&name)))
                        {
                            // A good read ends the "unreadable" warning.
                            self.say(Severity::Info, format!("{name}.json is readable again"));
                        }
                    }
                    _ => {
                        self.say(Severity::Ok, format!("opened namespace {name}"));
                    }
                }
                self.current = Some(Current::new(name, path, *doc, modified));
                self.rows_stale = true;
                self.reread_broken = false;
                self.last_refresh = Some(self.clock.clone());
                self.settle_arbiter();
            }
            // No state file, but discovery knows it (Dynamo 1.x): live only.
            LoadOutcome::Gone(_)
                if self
                    .live
                    .as_ref()
                    .is_some_and(|s| s.namespaces_ref().contains_key(&name)) =>
            {
                if self.current.as_ref().is_none_or(|c| c.name != name) {
                    self.say(
                        Severity::Ok,
                        format!("opened namespace {name} (discovery only: no state file)"),
                    );
                }
                self.current = Some(Current::discovery_only(name, self.live.as_ref()));
                self.rows_stale = true;
                self.last_refresh = Some(self.clock.clone());
                self.arbiter = ArbiterStatus::NoEndpoint;
            }
            LoadOutcome::Gone(_) if self.awaiting_discovery && self.current.is_none() => {
                self.say(
                    Severity::Info,
                    format!("no state file for {name}: waiting for discovery…"),
                );
            }
            LoadOutcome::Gone(msg) => {
                let was_open = self.current.as_ref().is_some_and(|c| c.name == name);
                self.current = None;
                self.rows_stale = true;
                self.want = None;
                out.push(Outcome::PopAll);
                if was_open {
                    self.say(
                        Severity::Warn,
                        format!("namespace {name} vanished (the deployment stopped?): {msg}"),
                    );
                } else {
                    self.say(Severity::Error, format!("cannot open {name}: {msg}"));
                }
            }
            LoadOutcome::Broken(msg) => {
                if self.current.as_ref().is_some_and(|c| c.name == name) {
                    self.say(
                        Severity::Warn,
                        format!(
                            "{}, showing the last good state: {msg}",
                            unreadable_now(&name)
                        ),
                    );
                    // Reads run side by side: this one may have started before a good
                    // write that an earlier-finished read already showed. Read once more,
                    // so the screen ends on the file as it is now.
                    if !std::mem::replace(&mut self.reread_broken, true) {
                        return vec![Outcome::Effect(self.refresh())];
                    }
                } else {
                    self.want = None;
                    self.say(Severity::Error, format!("cannot open {name}: {msg}"));
                }
            }
        }
        out
    }

    /// After a (re)load: what is known of the arbiter for this file.
    pub fn settle_arbiter(&mut self) {
        self.rows_stale = true;
        let Some(cur) = &self.current else {
            return;
        };
        let endpoint = cur.summary.circus_endpoint.clone();
        self.arbiter = match (self.file_only, endpoint) {
            (Some(why), _) => ArbiterStatus::FileOnly(why),
            (None, None) => ArbiterStatus::NoEndpoint,
            (None, Some(e)) => match &self.arbiter {
                ArbiterStatus::Online { endpoint, .. }
                | ArbiterStatus::Offline { endpoint, .. }
                    if *endpoint == e =>
                {
                    return;
                }
                _ => ArbiterStatus::Unknown,
            },
        };
    }

    /// A change finished (or failed, or found the file moved on).
    pub fn on_scaled(
        &mut self,
        intent: Intent,
        result: Result<(Vec<Step>, Document, Option<SystemTime>), ScaleFailure>,
    ) -> Vec<Outcome> {
        let mut out = Vec::new();
        match result {
            Ok((steps, doc, modified)) => {
                let last = steps
                    .iter()
                    .any(|s| matches!(s.change, Change::Removed { remaining: 0, .. }));
                let severity = if steps.iter().any(|s| s.process == Process::Timeout) || last {
                    Severity::Warn
                } else {
                    Severity::Ok
                };
                let mut text = match intent.op {
                    Op::Scale(n) => format!(
                        "{} now at {n}: {}",
                        intent.ty,
                        steps
                            .iter()
                            .map(|s| s.to_string())
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                    _ => steps
                        .iter()
                        .map(|s| capitalize(&s.to_string()))
                        .collect::<Vec<_>>()
                        .join("; "),
                };
                if let Some(note) = steps.iter().find_map(|s| s.layout_note.as_deref()) {
                    text.push_str(&format!("; note: {note}"));
                }
                // What the arbiter now runs, without waiting for the next poll.
                if let ArbiterStatus::Online { watchers, .. } = &mut self.arbiter {
                    for step in &steps {
                        let name = step.change.name().to_lowercase();
                        watchers.retain(|w| w.name != name);
                        if step.process == Process::Started {
                            watchers.push(Watcher {
                                name,
                                pids: step.pids.clone().unwrap_or_default(),
                            });
                        }
                    }
                }
                self.say(severity, text);
                self.follow_steps(&intent, &steps);
                if self.want.as_deref() == Some(intent.ns.as_str()) {
                    let path = self.dir.join(format!("{}.json", intent.ns));
                    self.current = Some(Current::new(intent.ns.clone(), path, doc, modified));
                    self.rows_stale = true;
                }
            }
            Err(f) => {
                let here = self.want.as_deref() == Some(intent.ns.as_str());
                if let Some(now) = f.moved {
                    // Not what was confirmed: nothing (more) done; ask again with the new effect.
                    self.say(Severity::Warn, f.message);
                    self.hold_status = true;
                    if here {
                        out.push(Outcome::Ask(match intent.op {
                            Op::Scale(_) => Ask::Plan {
                                op: intent.op,
                                ty: intent.ty.clone(),
                                target: None,
                            },
                            op => Ask::Confirm {
                                op,
                                ty: intent.ty.clone(),
                                target: intent.target,
                                plan: vec![now],
                            },
                        }));
                    }
                } else if f.stop_timeout {
                    self.say(Severity::Error, f.message.clone());
                    out.push(Outcome::Ask(Ask::Kill {
                        intent,
                        done: f.done,
                        message: f.message,
                    }));
                } else {
                    self.say(
                        Severity::Error,
                        format!(
                            "could not {} {} in {}: {}",
                            op_verb(intent.op),
                            intent.ty,
                            intent.ns,
                            f.message
                        ),
                    );
                }
            }
        }
        // The listing (counts, ages) follows the file.
        out.push(Outcome::Effect(self.refresh()));
        out
    }
}

fn op_verb(op: Op) -> &'static str {
    match op {
        Op::Add => "add",
        Op::Remove => "remove",
        Op::Scale(_) => "scale",
    }
}

/// The start of the warning shown while the open namespace's file cannot be read.
fn unreadable_now(name: &str) -> String {
    format!("{name}.json is unreadable now")
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
