//! What each source said this round ([`Partial`]), checked, and merged into one
//! [`Metrics`]: per instance a live answer wins over a stale one, in source order; per
//! component the sums of its live instances; the frontend from Prometheus, else the sum of
//! the scrapes.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use serde::Serialize;

use super::expo::WorkerKey;
use super::math::{self, Buckets, Kind, Reading, quantile};
use super::{ComponentLoad, FrontendLoad, InstanceLoad, Metrics, SourceStatus};

/// How much of one source's answer was left out this round. Kept beside
/// [`Metrics::sources`] (same order) by [`super::Collector::poll_report`].
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct SourceQuality {
    /// Values left out as implausible (out of range, not finite, unreadable); for NATS,
    /// streams left out because their consumer's numbers made no sense.
    pub malformed: u64,
    /// The first of them, described (safe to print).
    pub malformed_example: Option<String>,
    /// Series left out because the answer described more workers than dynamo-ctl takes
    /// from one source (100,000).
    pub skipped: u64,
}

/// Malformed values counted, the first described.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tally {
    pub count: u64,
    pub first: Option<String>,
}

impl Tally {
    /// Counts one; `what` describes it (called for the first only).
    pub fn note(&mut self, what: impl FnOnce() -> String) {
        self.count = self.count.saturating_add(1);
        if self.first.is_none() {
            self.first = Some(what());
        }
    }

    pub fn quality(&self, skipped: u64) -> SourceQuality {
        SourceQuality {
            malformed: self.count,
            malformed_example: self.first.as_deref().map(super::safe_error),
            skipped,
        }
    }
}

/// One worker instance as one source saw it, before merging.
#[derive(Clone, Debug, Default)]
pub(super) struct InstAgg {
    pub key: WorkerKey,
    pub requests_per_s: Reading<f64>,
    pub inflight: Reading<f64>,
    /// Bucket rates (or increases: quantiles do not care about the scale), normalized.
    pub buckets: Reading<Buckets>,
    pub errors_per_s: Reading<f64>,
    pub kv_usage: Reading<f64>,
    pub health: Option<String>,
    pub stale: bool,
    pub source: String,
}

/// The frontend as one source saw it.
#[derive(Clone, Debug, Default)]
pub(super) struct FrontAgg {
    pub requests_per_s: Reading<f64>,
    pub errors_per_s: Reading<f64>,
    pub inflight: Reading<f64>,
    pub queued: Reading<f64>,
    pub ttft: Reading<Buckets>,
    pub itl: Reading<Buckets>,
    pub duration: Reading<Buckets>,
}

/// What one source said this round.
pub(super) struct Partial {
    pub status: SourceStatus,
    pub quality: SourceQuality,
    pub instances: Vec<InstAgg>,
    pub frontend: Option<FrontAgg>,
}

impl Partial {
    /// A source's answer, with its histograms checked: one whose quantiles are not
    /// durations (a bound of 1e300, a negative one) is malformed and counted in `tally`.
    pub fn new(
        status: SourceStatus,
        mut tally: Tally,
        skipped: u64,
        mut instances: Vec<InstAgg>,
        mut frontend: Option<FrontAgg>,
    ) -> Partial {
        for i in &mut instances {
            check_hist(&mut i.buckets, &mut tally, || {
                format!("request durations of {}", super::expo::show_key(&i.key))
            });
        }
        if let Some(f) = &mut frontend {
            for (h, what) in [
                (&mut f.ttft, "frontend TTFT"),
                (&mut f.itl, "frontend ITL"),
                (&mut f.duration, "frontend request durations"),
            ] {
                check_hist(h, &mut tally, || what.to_string());
            }
        }
        Partial {
            status,
            quality: tally.quality(skipped),
            instances,
            frontend,
        }
    }
}

fn check_hist(h: &mut Reading<Buckets>, tally: &mut Tally, what: impl FnOnce() -> String) {
    let Reading::Value(b) = h else { return };
    let bad = if b.len() > math::MAX_BUCKETS {
        Some(format!("{} bucket bounds", b.len()))
    } else {
        [0.5, 0.95]
            .into_iter()
            .filter_map(|p| quantile(p, b))
            .find(|x| !Kind::Seconds.plausible(*x))
            .map(|x| {
                format!(
                    "quantile {}: {}",
                    super::expo::num(x),
                    Kind::Seconds.expected()
                )
            })
    };
    if let Some(why) = bad {
        *h = Reading::Malformed;
        tally.note(|| format!("{}: {why}", what()));
    }
}

fn sum(a: &mut Reading<f64>, b: &Reading<f64>) {
    match (&*a, b) {
        (_, Reading::Absent) | (Reading::Malformed, _) => {}
        (_, Reading::Malformed) => *a = Reading::Malformed,
        (Reading::Absent, Reading::Value(y)) => *a = Reading::Value(*y),
        (Reading::Value(x), Reading::Value(y)) => *a = Reading::Value(x + y),
    }
}

/// Adds a plausible value into an optional total (a malformed one is left out).
fn add_opt(total: &mut Option<f64>, v: &Reading<f64>) {
    if let Some(x) = v.get() {
        *total = Some(total.unwrap_or(0.0) + x);
    }
}

fn add_hist(a: &mut Reading<Buckets>, b: &Reading<Buckets>) {
    match (&mut *a, b) {
        (_, Reading::Absent) | (Reading::Malformed, _) => {}
        (_, Reading::Malformed) => *a = Reading::Malformed,
        (Reading::Absent, Reading::Value(y)) => *a = Reading::Value(y.clone()),
        (Reading::Value(x), Reading::Value(y)) => math::add_buckets(x, y),
    }
}

/// A quantile of checked buckets, as shown: a duration, else nothing.
fn q(p: f64, b: &Reading<Buckets>) -> Option<f64> {
    b.value()
        .and_then(|b| quantile(p, b))
        .filter(|x| Kind::Seconds.plausible(*x))
}

/// Merges what the sources said into one [`Metrics`], with each source's quality beside.
pub(super) fn merge(partials: Vec<Partial>) -> (Metrics, Vec<SourceQuality>) {
    let mut by_key: BTreeMap<WorkerKey, InstAgg> = BTreeMap::new();
    let mut frontend: Option<FrontAgg> = None;
    let mut frontend_from_prometheus = false;
    let mut sources = Vec::with_capacity(partials.len());
    let mut quality = Vec::with_capacity(partials.len());
    for p in partials {
        let is_prom = p.status.kind == super::SourceKind::Prometheus;
        sources.push(p.status);
        quality.push(p.quality);
        for mut i in p.instances {
            // Health from the instance's own source, else the first source that knows it.
            // One search per instance; the key moves into the map (the map's key is the
            // one read below, `i.key` is left empty).
            match by_key.entry(std::mem::take(&mut i.key)) {
                Entry::Occupied(mut o) => {
                    let have = o.get_mut();
                    if !have.stale || i.stale {
                        if have.health.is_none() {
                            have.health = i.health;
                        }
                    } else {
                        if i.health.is_none() {
                            i.health = have.health.take();
                        }
                        *have = i;
                    }
                }
                Entry::Vacant(v) => {
                    v.insert(i);
                }
            }
        }
        if let Some(f) = p.frontend {
            // Prometheus sums every frontend already; scrapes of several frontends add up.
            if is_prom {
                frontend = Some(f);
                frontend_from_prometheus = true;
            } else if !frontend_from_prometheus {
                let acc = frontend.get_or_insert_with(FrontAgg::default);
                sum(&mut acc.requests_per_s, &f.requests_per_s);
                sum(&mut acc.errors_per_s, &f.errors_per_s);
                sum(&mut acc.inflight, &f.inflight);
                sum(&mut acc.queued, &f.queued);
                add_hist(&mut acc.ttft, &f.ttft);
                add_hist(&mut acc.itl, &f.itl);
                add_hist(&mut acc.duration, &f.duration);
            }
        }
    }
    let mut instances = Vec::with_capacity(by_key.len());
    // Per component: the load so far, its instances' buckets and KV uses.
    type Acc = (ComponentLoad, Reading<Buckets>, (f64, usize));
    // The instances come in key order, so a component's are together: its accumulator is
    // the last one, in (namespace, component) order.
    let mut comps: Vec<Acc> = Vec::new();
    for (key, i) in by_key {
        let same = comps
            .last()
            .is_some_and(|(c, _, _)| c.namespace == key.namespace && c.component == key.component);
        if !same {
            comps.push((
                ComponentLoad {
                    namespace: key.namespace.clone(),
                    component: key.component.clone(),
                    instances: 0,
                    requests_per_s: None,
                    inflight: None,
                    p50_seconds: None,
                    p95_seconds: None,
                    errors_per_s: None,
                    kv_cache_usage: None,
                },
                Reading::Absent,
                (0.0, 0),
            ));
        }
        let Some((c, buckets, kv)) = comps.last_mut() else {
            continue;
        };
        let live = !i.stale;
        let mut malformed = Vec::new();
        if live {
            // A malformed histogram leaves the component's quantiles to the others.
            if !i.buckets.is_malformed() {
                add_hist(buckets, &i.buckets);
            }
            if let Some(k) = i.kv_usage.get() {
                kv.0 += k;
                kv.1 += 1;
            }
            c.instances += 1;
            add_opt(&mut c.requests_per_s, &i.requests_per_s);
            add_opt(&mut c.inflight, &i.inflight);
            add_opt(&mut c.errors_per_s, &i.errors_per_s);
            for (r, name) in [
                (&i.requests_per_s, "requests_per_s"),
                (&i.inflight, "inflight"),
                (&i.errors_per_s, "errors_per_s"),
                (&i.kv_usage, "kv_cache_usage"),
            ] {
                if r.is_malformed() {
                    malformed.push(name);
                }
            }
            if i.buckets.is_malformed() {
                malformed.extend(["p50_seconds", "p95_seconds"]);
            }
        }
        let shown = |r: &Reading<f64>| r.get().filter(|_| live);
        instances.push(InstanceLoad {
            health: i.health,
            requests_per_s: shown(&i.requests_per_s),
            inflight: shown(&i.inflight),
            p50_seconds: q(0.5, &i.buckets).filter(|_| live),
            p95_seconds: q(0.95, &i.buckets).filter(|_| live),
            errors_per_s: shown(&i.errors_per_s),
            kv_cache_usage: shown(&i.kv_usage),
            malformed,
            namespace: key.namespace,
            component: key.component,
            instance_id_hex: key.worker_id,
            stale: i.stale,
            source: i.source,
        });
    }
    let components = comps
        .into_iter()
        .map(|(mut c, b, (kv, n))| {
            c.p50_seconds = q(0.5, &b);
            c.p95_seconds = q(0.95, &b);
            if n > 0 {
                c.kv_cache_usage = Some(kv / n as f64);
            }
            c
        })
        .collect();
    let frontend = frontend.map(|f| {
        let mut malformed = Vec::new();
        for (r, name) in [
            (&f.requests_per_s, "requests_per_s"),
            (&f.errors_per_s, "errors_per_s"),
            (&f.inflight, "inflight"),
            (&f.queued, "queued"),
        ] {
            if r.is_malformed() {
                malformed.push(name);
            }
        }
        for (h, names) in [
            (&f.ttft, ["ttft_p50_seconds", "ttft_p95_seconds"]),
            (&f.itl, ["itl_p50_seconds", "itl_p95_seconds"]),
            (&f.duration, ["p50_seconds", "p95_seconds"]),
        ] {
            if h.is_malformed() {
                malformed.extend(names);
            }
        }
        FrontendLoad {
            requests_per_s: f.requests_per_s.get(),
            errors_per_s: f.errors_per_s.get(),
            inflight: f.inflight.get(),
            queued: f.queued.get(),
            ttft_p50_seconds: q(0.5, &f.ttft),
            ttft_p95_seconds: q(0.95, &f.ttft),
            itl_p50_seconds: q(0.5, &f.itl),
            itl_p95_seconds: q(0.95, &f.itl),
            p50_seconds: q(0.5, &f.duration),
            p95_seconds: q(0.95, &f.duration),
            malformed,
        }
    });
    let m = Metrics {
        sources,
        components,
        instances,
        frontend,
        ..Metrics::none()
    };
    (m, quality)
}
