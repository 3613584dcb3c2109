//! Load numbers of a Dynamo deployment: request rate, in-flight requests, request-duration
//! quantiles, error rate and KV-cache use per worker instance and per component, the
//! frontend's TTFT/ITL, and (from NATS, `nats.rs`, another branch) the prefill queue
//! depth. No terminal in here: the CLI (`top`) and the TUI both call it.
//!
//! # Sources
//! - **Prometheus** (`--prometheus URL`, `$DYNAMO_CTL_PROMETHEUS`): instant PromQL queries
//!   over its HTTP API (`/api/v1/query`) with `rate(...[window])`; history with
//!   `/api/v1/query_range`. A worker whose series went stale (its target is down: no sample
//!   now, one within [`Config::stale_lookback`]) is listed with `stale: true` and no numbers.
//! - **Direct scrape** (`--metrics URL`, repeatable): a worker's system status server
//!   (`DYN_SYSTEM_PORT`; `/metrics` is added to a URL without a path) or a frontend's
//!   `/metrics`, and that server's `/health` (`ready`/`notready`, its endpoints) beside it.
//!   Rates come from successive polls of the same URL: the first poll has none (null).
//!   A counter that went down, or a process whose `dynamo_component_uptime_seconds` went
//!   down, was reset: the new value is the increase since (Prometheus' rule), never a
//!   negative rate. A worker id first seen on a URL polled before counts from zero when its
//!   uptime says it started within the interval (a worker restarted on the same port).
//!   When a scrape fails, the instances that URL last showed are listed `stale`.
//! - Both at once: per instance, a live answer wins over a stale one, Prometheus before the
//!   scrapes (in the order given); `health` comes from whichever source knows it.
//!
//! Every HTTP call is bounded by [`Config::timeout`] (2 s by default) and all sources are
//! asked concurrently, so a hanging, dead or garbage-answering source costs one timeout at
//! most and shows up as `status: error` in [`Metrics::sources`], never as a panic.
//! Plain `http://` only (loopback and cluster addresses; no TLS).
//!
//! # Joining
//! `worker_id` is the instance id in hex, as in discovery's keys:
//! [`InstanceLoad::instance_id_hex`] equals `discovery::Instance::instance_id_hex()`.
//!
//! # Text from servers
//! Namespaces, components and worker ids are kept as the servers wrote them (they are
//! join keys): print them through [`crate::text::safe`]. Error texts in
//! [`SourceStatus::error`] are already made safe.
//!
//! # For the TUI
//! ```text
//! let cfg = metrics::Config::from_args(g.prometheus.clone(), g.metrics.clone(), g.nats.clone())?;
//! let mut collector = metrics::Collector::new(cfg);
//! loop {                                              // a source task, every refresh
//!     let m = collector.poll(Some(ns)).await;         // bounded by the timeout
//!     tx.send(Action::MetricsSampled(m));
//!     tokio::time::sleep(refresh).await;
//! }
//! collector.history(ns, "backend", 15).await;         // sparkline; None without Prometheus
//! ```

mod expo;
mod http;
mod math;
pub mod nats;
mod prom;
mod scrape;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

use serde::{Serialize, Serializer};

pub use expo::{Parsed, WorkerKey};
pub use http::HttpUrl;
pub use math::{Buckets, bucket_increase, increase, quantile};
#[doc(hidden)]
pub use prom::{bench_fetch_answers, bench_parse_answers};

/// Env variable naming the Prometheus server when `--prometheus` is not given.
pub const PROMETHEUS_ENV: &str = "DYNAMO_CTL_PROMETHEUS";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Prometheus,
    Scrape,
    Nats,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Prometheus => "prometheus",
            SourceKind::Scrape => "scrape",
            SourceKind::Nats => "nats",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Error,
}

/// How one source answered this round.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SourceStatus {
    pub kind: SourceKind,
    /// The URL asked.
    pub location: String,
    pub status: Status,
    /// Why it failed (safe to print).
    pub error: Option<String>,
    /// Scrape only: the server's `/health` `status` (`ready`/`notready`); null when it did
    /// not answer with Dynamo's health JSON.
    pub health: Option<String>,
    /// Scrape only: `/health`'s `endpoints` (`{"generate": "ready"}`).
    pub health_endpoints: Option<BTreeMap<String, String>>,
}

impl SourceStatus {
    pub fn ok(&self) -> bool {
        self.status == Status::Ok
    }

    fn new(kind: SourceKind, location: String, error: Option<String>) -> SourceStatus {
        SourceStatus {
            kind,
            location,
            status: if error.is_some() {
                Status::Error
            } else {
                Status::Ok
            },
            error: error.map(|e| safe_error(&e)),
            health: None,
            health_endpoints: None,
        }
    }
}

/// Server text in an error, made printable and bounded.
fn safe_error(e: &str) -> String {
    let mut s = crate::text::safe(e).into_owned();
    if s.chars().count() > 300 {
        s = s.chars().take(300).collect::<String>() + "…";
    }
    s
}

/// One component (summed over its instances and endpoints).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ComponentLoad {
    pub namespace: String,
    pub component: String,
    /// Instances with live series (stale ones not counted).
    pub instances: usize,
    pub requests_per_s: Option<f64>,
    pub inflight: Option<f64>,
    pub p50_seconds: Option<f64>,
    pub p95_seconds: Option<f64>,
    pub errors_per_s: Option<f64>,
    /// Mean KV-cache use of its instances, 0.0-1.0 (Dynamo's `gpu_cache_usage_percent`).
    pub kv_cache_usage: Option<f64>,
}

/// One worker instance.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InstanceLoad {
    pub namespace: String,
    pub component: String,
    /// The `worker_id` label: the instance id in lower-case hex.
    pub instance_id_hex: String,
    pub requests_per_s: Option<f64>,
    pub inflight: Option<f64>,
    pub p50_seconds: Option<f64>,
    pub p95_seconds: Option<f64>,
    pub errors_per_s: Option<f64>,
    pub kv_cache_usage: Option<f64>,
    /// `ready`/`notready` from its server's `/health` (direct scrape); null when unknown.
    pub health: Option<String>,
    /// Its series stopped (Prometheus: no sample now, one recently; scrape: the last
    /// scrape of its URL failed). Numbers are null then.
    pub stale: bool,
    /// The source the numbers come from (its location).
    pub source: String,
}

impl InstanceLoad {
    /// The instance id, for joining with discovery (`None` when not hex).
    pub fn instance_id(&self) -> Option<u64> {
        u64::from_str_radix(&self.instance_id_hex, 16).ok()
    }
}

/// The frontend(s): `dynamo_frontend_*`, summed over models (and frontends).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct FrontendLoad {
    pub requests_per_s: Option<f64>,
    /// `requests_total{status="error"}` per second.
    pub errors_per_s: Option<f64>,
    pub inflight: Option<f64>,
    pub queued: Option<f64>,
    pub ttft_p50_seconds: Option<f64>,
    pub ttft_p95_seconds: Option<f64>,
    pub itl_p50_seconds: Option<f64>,
    pub itl_p95_seconds: Option<f64>,
    pub p50_seconds: Option<f64>,
    pub p95_seconds: Option<f64>,
}

/// Prefill queue depth from NATS JetStream ([`nats`]).
pub use nats::QueueDepth;

/// One round over all sources.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Metrics {
    pub sources: Vec<SourceStatus>,
    /// Sorted by namespace, component.
    pub components: Vec<ComponentLoad>,
    /// Sorted by namespace, component, instance id.
    pub instances: Vec<InstanceLoad>,
    pub frontend: Option<FrontendLoad>,
    /// The namespace's prefill queue (`<ns>_prefill_queue`, else the only one); null
    /// without NATS or with several model-named queues (all are in `prefill_queues`).
    pub prefill_queue: Option<QueueDepth>,
    /// Every prefill queue NATS has (streams with a durable `worker-group` consumer).
    pub prefill_queues: Vec<QueueDepth>,
    #[serde(serialize_with = "rfc3339")]
    pub taken_at: SystemTime,
    /// What the rates are measured over: the Prometheus window, or the time since the
    /// previous scrape (null on a first scrape only).
    pub window_seconds: Option<f64>,
}

fn rfc3339<S: Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(
        &chrono::DateTime::<chrono::Utc>::from(*t)
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    )
}

impl Metrics {
    /// A round of no source: nothing known, taken now.
    pub fn none() -> Metrics {
        Metrics {
            sources: Vec::new(),
            components: Vec::new(),
            instances: Vec::new(),
            frontend: None,
            prefill_queue: None,
            prefill_queues: Vec::new(),
            taken_at: SystemTime::now(),
            window_seconds: None,
        }
    }

    /// Whether any source answered.
    pub fn answered(&self) -> bool {
        self.sources.iter().any(SourceStatus::ok)
    }

    /// The load of one instance (by namespace, component and hex id).
    pub fn instance(&self, ns: &str, component: &str, id_hex: &str) -> Option<&InstanceLoad> {
        self.instances
            .iter()
            .find(|i| i.namespace == ns && i.component == component && i.instance_id_hex == id_hex)
    }

    /// The load of one component.
    pub fn component(&self, ns: &str, component: &str) -> Option<&ComponentLoad> {
        self.components
            .iter()
            .find(|c| c.namespace == ns && c.component == component)
    }
}

/// A flag's value that is not a usable URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{flag} {value:?}: {reason}")]
pub struct ConfigError {
    pub flag: &'static str,
    pub value: String,
    pub reason: String,
}

/// Which sources to ask and how.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    pub prometheus: Option<HttpUrl>,
    /// Direct-scrape targets (`/metrics` added to a URL without a path).
    pub scrape: Vec<HttpUrl>,
    /// NATS for the prefill queue depth (`--nats`, else `$NATS_SERVER`).
    pub nats: Option<nats::NatsUrl>,
    /// Bound on each HTTP call (connect, request and answer).
    pub timeout: Duration,
    /// The Prometheus `rate()` window.
    pub window: Duration,
    /// Prometheus: how far back a series that stopped is still listed as stale.
    pub stale_lookback: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            prometheus: None,
            scrape: Vec::new(),
            nats: None,
            timeout: Duration::from_secs(2),
            window: Duration::from_secs(10),
            stale_lookback: Duration::from_secs(300),
        }
    }
}

impl Config {
    /// From the flags (`--prometheus` already falls back to `$DYNAMO_CTL_PROMETHEUS` in
    /// clap). Blank values count as not given; a repeated `--metrics` URL is asked once.
    pub fn from_args(
        prometheus: Option<String>,
        metrics: Vec<String>,
        nats: Option<String>,
    ) -> Result<Config, ConfigError> {
        let bad = |flag: &'static str, value: &str, reason: String| ConfigError {
            flag,
            value: crate::text::safe(value).into_owned(),
            reason,
        };
        let prometheus = match prometheus.filter(|p| !p.trim().is_empty()) {
            Some(p) => Some(HttpUrl::parse(&p).map_err(|e| bad("--prometheus", &p, e))?),
            None => None,
        };
        let mut scrape: Vec<HttpUrl> = Vec::new();
        for m in metrics.iter().filter(|m| !m.trim().is_empty()) {
            let mut u = HttpUrl::parse(m).map_err(|e| bad("--metrics", m, e))?;
            if u.path.is_empty() {
                u.path = "/metrics".into();
            }
            if !scrape.contains(&u) {
                scrape.push(u);
            }
        }
        let nats = match nats.filter(|n| !n.trim().is_empty()) {
            Some(n) => {
                Some(nats::NatsUrl::parse(n.trim()).map_err(|e| bad("--nats", &n, e.to_string()))?)
            }
            None => None,
        };
        Ok(Config {
            prometheus,
            scrape,
            nats,
            ..Config::default()
        })
    }

    /// From the global flags.
    pub fn from_global(g: &crate::args::Global) -> Result<Config, ConfigError> {
        let mut c = Config::from_args(g.prometheus.clone(), g.metrics.clone(), g.nats.clone())?;
        c.timeout = Duration::from_secs_f64(g.metrics_timeout);
        Ok(c)
    }

    /// No source configured at all.
    pub fn is_empty(&self) -> bool {
        self.prometheus.is_none() && self.scrape.is_empty() && self.nats.is_none()
    }
}

/// Asks the sources; keeps the previous scrape of every URL for rates.
pub struct Collector {
    cfg: Config,
    prev: HashMap<HttpUrl, scrape::Previous>,
    /// One NATS connection kept across polls.
    nats: Option<nats::NatsSource>,
}

impl Collector {
    pub fn new(cfg: Config) -> Collector {
        let nats = cfg
            .nats
            .clone()
            .map(|u| nats::NatsSource::new(u, cfg.timeout));
        Collector {
            cfg,
            prev: HashMap::new(),
            nats,
        }
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// One round over all sources, concurrently, each bounded by the timeout; only
    /// namespace `namespace` when given.
    pub async fn poll(&mut self, namespace: Option<&str>) -> Metrics {
        let prom = async {
            match &self.cfg.prometheus {
                Some(url) => Some(prom::poll(url, &self.cfg, namespace).await),
                None => None,
            }
        };
        let scrapes = futures_util::future::join_all(
            self.cfg
                .scrape
                .iter()
                .map(|u| scrape::fetch(u, self.cfg.timeout)),
        );
        let queues = async {
            match self.nats.as_mut() {
                Some(n) => Some((n.url().to_string(), n.poll(namespace).await)),
                None => None,
            }
        };
        let (prom, fetched, queues) = tokio::join!(prom, scrapes, queues);
        let mut partials: Vec<Partial> = prom.into_iter().collect();
        let mut window = partials.first().map(|_| self.cfg.window.as_secs_f64());
        for (url, f) in self.cfg.scrape.iter().zip(fetched) {
            let p = scrape::partial(url, f, self.prev.get_mut(url), namespace);
            if let Some(dt) = p.1 {
                window.get_or_insert(dt);
            }
            if let Some(state) = p.2 {
                self.prev.insert(url.clone(), state);
            }
            partials.push(p.0);
        }
        let mut m = merge(partials);
        m.window_seconds = window;
        if let Some((location, answer)) = queues {
            match answer {
                Ok(q) => {
                    m.prefill_queue = nats::preferred(&q).cloned();
                    m.prefill_queues = q;
                    m.sources
                        .push(SourceStatus::new(SourceKind::Nats, location, None));
                }
                Err(e) => m.sources.push(SourceStatus::new(
                    SourceKind::Nats,
                    location,
                    Some(e.to_string()),
                )),
            }
        }
        m
    }

    /// Requests per second of one component over the last `minutes` (Prometheus
    /// `query_range`, about 240 points): `(unix seconds, req/s)`. `None` without
    /// Prometheus or when it did not answer.
    pub async fn history(
        &self,
        namespace: &str,
        component: &str,
        minutes: u32,
    ) -> Option<Vec<(f64, f64)>> {
        let url = self.cfg.prometheus.as_ref()?;
        prom::history(url, &self.cfg, namespace, component, minutes)
            .await
            .ok()
    }
}

/// One worker instance as one source saw it, before merging.
#[derive(Clone, Debug, Default)]
struct InstAgg {
    key: WorkerKey,
    requests_per_s: Option<f64>,
    inflight: Option<f64>,
    /// Bucket rates (or increases: quantiles do not care about the scale).
    buckets: Option<Buckets>,
    errors_per_s: Option<f64>,
    kv_usage: Option<f64>,
    health: Option<String>,
    stale: bool,
    source: String,
}

/// The frontend as one source saw it.
#[derive(Clone, Debug, Default)]
struct FrontAgg {
    requests_per_s: Option<f64>,
    errors_per_s: Option<f64>,
    inflight: Option<f64>,
    queued: Option<f64>,
    ttft: Option<Buckets>,
    itl: Option<Buckets>,
    duration: Option<Buckets>,
}

/// What one source said this round.
struct Partial {
    status: SourceStatus,
    instances: Vec<InstAgg>,
    frontend: Option<FrontAgg>,
}

fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|x| x.is_finite())
}

fn sum(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (finite(a), finite(b)) {
        (Some(x), Some(y)) => Some(x + y),
        (x, y) => x.or(y),
    }
}

fn add_opt_buckets(a: &mut Option<Buckets>, b: &Option<Buckets>) {
    if let Some(b) = b {
        math::add_buckets(a.get_or_insert_with(Vec::new), b);
    }
}

fn q(p: f64, b: &Option<Buckets>) -> Option<f64> {
    finite(b.as_deref().and_then(|b| quantile(p, b)))
}

/// Merges what the sources said into one [`Metrics`].
fn merge(partials: Vec<Partial>) -> Metrics {
    let mut by_key: BTreeMap<WorkerKey, InstAgg> = BTreeMap::new();
    let mut health: HashMap<WorkerKey, String> = HashMap::new();
    let mut frontend: Option<FrontAgg> = None;
    let mut frontend_from_prometheus = false;
    let mut sources = Vec::new();
    for p in partials {
        let is_prom = p.status.kind == SourceKind::Prometheus;
        sources.push(p.status);
        for i in p.instances {
            if let Some(h) = &i.health {
                health.entry(i.key.clone()).or_insert_with(|| h.clone());
            }
            match by_key.get(&i.key) {
                Some(have) if !have.stale || i.stale => {}
                _ => {
                    by_key.insert(i.key.clone(), i);
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
                acc.requests_per_s = sum(acc.requests_per_s, f.requests_per_s);
                acc.errors_per_s = sum(acc.errors_per_s, f.errors_per_s);
                acc.inflight = sum(acc.inflight, f.inflight);
                acc.queued = sum(acc.queued, f.queued);
                add_opt_buckets(&mut acc.ttft, &f.ttft);
                add_opt_buckets(&mut acc.itl, &f.itl);
                add_opt_buckets(&mut acc.duration, &f.duration);
            }
        }
    }
    let mut instances = Vec::with_capacity(by_key.len());
    // Per component: the load so far, its instances' buckets and KV uses.
    type Acc = (ComponentLoad, Option<Buckets>, Vec<f64>);
    let mut comps: BTreeMap<(String, String), Acc> = BTreeMap::new();
    for (key, i) in by_key {
        let (c, buckets, kv) = comps
            .entry((key.namespace.clone(), key.component.clone()))
            .or_insert_with(|| {
                (
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
                    None,
                    Vec::new(),
                )
            });
        if !i.stale {
            add_opt_buckets(buckets, &i.buckets);
            if let Some(k) = finite(i.kv_usage) {
                kv.push(k);
            }
            c.instances += 1;
            c.requests_per_s = sum(c.requests_per_s, i.requests_per_s);
            c.inflight = sum(c.inflight, i.inflight);
            c.errors_per_s = sum(c.errors_per_s, i.errors_per_s);
        }
        let live = !i.stale;
        instances.push(InstanceLoad {
            health: i.health.or_else(|| health.get(&key).cloned()),
            namespace: key.namespace,
            component: key.component,
            instance_id_hex: key.worker_id,
            requests_per_s: finite(i.requests_per_s).filter(|_| live),
            inflight: finite(i.inflight).filter(|_| live),
            p50_seconds: q(0.5, &i.buckets).filter(|_| live),
            p95_seconds: q(0.95, &i.buckets).filter(|_| live),
            errors_per_s: finite(i.errors_per_s).filter(|_| live),
            kv_cache_usage: finite(i.kv_usage).filter(|_| live),
            stale: i.stale,
            source: i.source,
        });
    }
    let components = comps
        .into_values()
        .map(|(mut c, b, kv)| {
            c.p50_seconds = q(0.5, &b);
            c.p95_seconds = q(0.95, &b);
            if !kv.is_empty() {
                c.kv_cache_usage = Some(kv.iter().sum::<f64>() / kv.len() as f64);
            }
            c
        })
        .collect();
    let frontend = frontend.map(|f| FrontendLoad {
        requests_per_s: finite(f.requests_per_s),
        errors_per_s: finite(f.errors_per_s),
        inflight: finite(f.inflight),
        queued: finite(f.queued),
        ttft_p50_seconds: q(0.5, &f.ttft),
        ttft_p95_seconds: q(0.95, &f.ttft),
        itl_p50_seconds: q(0.5, &f.itl),
        itl_p95_seconds: q(0.95, &f.itl),
        p50_seconds: q(0.5, &f.duration),
        p95_seconds: q(0.95, &f.duration),
    });
    Metrics {
        sources,
        components,
        instances,
        frontend,
        ..Metrics::none()
    }
}
