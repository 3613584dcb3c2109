//! What the sources said, routed: the polls' ticks, circus's, discovery's and the metrics'
//! answers, the live tracker's clock and a log panel's lines. `App::update` hands every
//! such [`Action`] here.

use super::*;

/// What a source's action came to: effects for the loop at once, or outcomes to carry
/// out (and then every panel follows the data).
pub(super) enum Step {
    Effects(Vec<Effect>),
    Outcomes(Vec<Outcome>),
}

impl App {
    pub(super) fn on_source(&mut self, action: Action) -> Step {
        let outcomes = match action {
            Action::ArbiterTick => {
                self.unchanged = true;
                let d = &mut self.data;
                if !d.wants_arbiter() || d.polling || d.paused {
                    return Step::Effects(Vec::new());
                }
                let cur = d.current.as_ref().expect("wants_arbiter");
                let poll = Effect::ArbiterPoll {
                    ns: cur.name.clone(),
                    endpoint: cur.summary.circus_endpoint.clone().unwrap_or_default(),
                };
                d.polling = true;
                return Step::Effects(vec![poll]);
            }
            Action::MetricsTick => {
                let d = &mut self.data;
                if !d.wants_metrics() || d.load.polling || d.paused {
                    self.unchanged = true;
                    return Step::Effects(Vec::new());
                }
                // Drawn: the header says "asking…" while the round is out.
                d.load.polling = true;
                let ns = d.current.as_ref().expect("wants_metrics").name.clone();
                return Step::Effects(vec![Effect::MetricsPoll { ns }]);
            }
            Action::MetricsSeen { ns, metrics } => {
                let d = &mut self.data;
                d.load.polling = false;
                if d.current.as_ref().is_some_and(|c| c.name == ns) && !d.paused {
                    d.say_metrics_health(&metrics);
                    d.load.on_sample(&ns, *metrics);
                    d.rows_stale = true;
                } else {
                    self.unchanged = true;
                }
                return Step::Effects(Vec::new());
            }
            Action::MetricsHistory {
                ns,
                component,
                points,
            } => {
                let d = &mut self.data;
                if d.current.as_ref().is_some_and(|c| c.name == ns) {
                    match points {
                        Some(p) => d.load.prom_history = Some((component, p)),
                        None => d.say(
                            Severity::Warn,
                            format!(
                                "Prometheus gave no history of {component}: showing what this session measured"
                            ),
                        ),
                    }
                }
                return Step::Effects(Vec::new());
            }
            Action::ArbiterSeen {
                ns,
                endpoint,
                result,
            } => {
                let d = &mut self.data;
                d.polling = false;
                let same = d.current.as_ref().is_some_and(|c| {
                    c.name == ns && c.summary.circus_endpoint.as_deref() == Some(&endpoint)
                });
                if !same {
                    self.unchanged = true;
                    return Step::Effects(Vec::new());
                }
                let seen = match result {
                    Ok(watchers) => ArbiterStatus::Online { endpoint, watchers },
                    Err(reason) => ArbiterStatus::Offline { endpoint, reason },
                };
                self.unchanged = seen == d.arbiter;
                // The rows are joined again only when circus said something new (a poll
                // every few seconds of an unchanged deployment costs no join).
                d.rows_stale |= !self.unchanged;
                // A change of circus's health is said, with where and why.
                d.say_arbiter_change(&seen);
                d.arbiter = seen;
                // A confirm states where the change goes: it follows the arbiter too.
                Vec::new()
            }
            Action::InstancesChanged(snap) => {
                let d = &mut self.data;
                d.on_instances(*snap);
                // The namespace asked for had no state file: discovery may know it. A read
                // of it still running is answered with this snapshot in hand: no second.
                if std::mem::take(&mut d.awaiting_discovery)
                    && d.want.is_some()
                    && d.current.is_none()
                    && !d.refresh_running()
                {
                    vec![Outcome::Effect(d.refresh())]
                } else {
                    Vec::new()
                }
            }
            Action::LiveTick => {
                let d = &mut self.data;
                let expired = d.track.expire(d.now);
                let ended = d.check_follow();
                // Flashes and leavers show only in the registered-instances panels.
                self.unchanged = !(ended || expired && self.shows_live());
                Vec::new()
            }
            Action::Log { id, news } => {
                // To its panel; a panel closed since drops it (and its follower stops).
                let panel = self
                    .popups
                    .iter_mut()
                    .find(|p| p.get().log_id() == Some(id));
                return Step::Effects(match panel {
                    Some(p) => {
                        let out = p.get_mut().on_log(news);
                        self.apply(out)
                    }
                    None => {
                        self.unchanged = true;
                        Vec::new()
                    }
                });
            }
            // Keys, the clock, files and changes are `update`'s own (it sends none here).
            _ => Vec::new(),
        };
        Step::Outcomes(outcomes)
    }
}
