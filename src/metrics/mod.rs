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
//! Every HTTP call is bounded by [`Config::timeout`] (2 s by default; reading the answer
//! included) and all sources are asked concurrently, so a hanging, dead or
//! garbage-answering source costs one timeout at most and shows up as `status: error` in
//! [`Metrics::sources`], never as a panic. Plain `http://` only (loopback and cluster
//! addresses; no TLS).
//!
//! # Hostile sources: bounded work and memory
//! - A `/metrics` page is parsed line by line as it arrives (no copy of the page is kept)
//!   into one compact record per worker; a Prometheus answer is read series by series into
//!   the same, and dropped once read. Answers are capped at 32 MiB, a line at 64 KiB.
//! - At most [`MAX_WORKERS`] (100,000) workers per source: series of more are skipped and
//!   counted ([`SourceQuality::skipped`]). A histogram with more than [`MAX_BUCKETS`]
//!   (4,096) bounds is malformed. Every histogram merge is one sorted walk (linear).
//! - Values are checked per series ([`Kind`]): counts and rates finite, `0..=2^53`; KV use
//!   a fraction `0..=1` (`gpu_cache_usage_percent` is 0.0-1.0 in Dynamo); durations
//!   `0..=` a year. Anything else is *malformed*: null, named in the instance's or the
//!   frontend's `malformed` list, counted per source with the first one described
//!   ([`Collector::poll_report`], `top -o json`'s `sources[].malformed`), never shown as a
//!   number.
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
//! loop {                                 // on its own thread and runtime, never the keys'
//!     let m = collector.poll(Some(ns)).await;         // bounded by the timeout
//!     tx.send(Action::MetricsSampled(m));
//!     tokio::time::sleep(refresh).await;
//! }
//! collector.history(ns, "backend", 15).await;         // sparkline; None without Prometheus
//! ```

mod expo;
mod http;
mod math;
mod merge;
pub mod nats;
mod prom;
mod promjson;
mod scrape;

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, SystemTime};

use serde::{Serialize, Serializer};

pub use expo::{MAX_WORKERS, PageParser, Parsed, WorkerKey, parse as parse_page};
pub use http::HttpUrl;
pub use math::{Buckets, Kind, MAX_BUCKETS, MAX_COUNT, MAX_SECONDS, Reading};
pub use math::{add_buckets, bucket_increase, increase, normalize, quantile};
use merge::{Partial, merge};
pub use merge::{SourceQuality, Tally};
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
pub(crate) fn safe_error(e: &str) -> String {
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
    /// The fields above the source gave a value for that is not plausible (a count below
    /// zero, a KV use above 1, a quantile of a year): they are null, never shown as numbers.
    pub malformed: Vec<&'static str>,
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
    /// The fields above whose value was not plausible (null then).
    pub malformed: Vec<&'static str>,
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

/// A round as `top -o json` writes it: [`Metrics`], each source with its
/// [`SourceQuality`] (`malformed`, `malformed_example`, `skipped`) beside its status.
pub struct Report<'a> {
    pub metrics: &'a Metrics,
    /// Same order as `metrics.sources`.
    pub quality: &'a [SourceQuality],
}

impl Serialize for Report<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        #[derive(Serialize)]
        struct Source<'a> {
            #[serde(flatten)]
            status: &'a SourceStatus,
            #[serde(flatten)]
            quality: &'a SourceQuality,
        }
        struct When(SystemTime);
        impl Serialize for When {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                rfc3339(&self.0, s)
            }
        }
        // Every field, so that a new one cannot be forgotten here.
        let Metrics {
            sources,
            components,
            instances,
            frontend,
            prefill_queue,
            prefill_queues,
            taken_at,
            window_seconds,
        } = self.metrics;
        let none = SourceQuality::default();
        let sources: Vec<Source> = sources
            .iter()
            .enumerate()
            .map(|(i, status)| Source {
                status,
                quality: self.quality.get(i).unwrap_or(&none),
            })
            .collect();
        let mut st = s.serialize_struct("Metrics", 8)?;
        st.serialize_field("sources", &sources)?;
        st.serialize_field("components", components)?;
        st.serialize_field("instances", instances)?;
        st.serialize_field("frontend", frontend)?;
        st.serialize_field("prefill_queue", prefill_queue)?;
        st.serialize_field("prefill_queues", prefill_queues)?;
        st.serialize_field("taken_at", &When(*taken_at))?;
        st.serialize_field("window_seconds", window_seconds)?;
        st.end()
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
        self.poll_report(namespace).await.0
    }

    /// [`poll`](Self::poll), with how much of each source's answer was left out as
    /// malformed or beyond the caps (same order as [`Metrics::sources`]).
    pub async fn poll_report(&mut self, namespace: Option<&str>) -> (Metrics, Vec<SourceQuality>) {
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
        let (mut m, mut quality) = merge(partials);
        m.window_seconds = window;
        if let Some((location, answer)) = queues {
            match answer {
                Ok(q) => {
                    m.prefill_queue = nats::preferred(&q.queues).cloned();
                    m.prefill_queues = q.queues;
                    m.sources
                        .push(SourceStatus::new(SourceKind::Nats, location, None));
                    quality.push(q.malformed.quality(0));
                }
                Err(e) => {
                    m.sources.push(SourceStatus::new(
                        SourceKind::Nats,
                        location,
                        Some(e.to_string()),
                    ));
                    quality.push(SourceQuality::default());
                }
            }
        }
        (m, quality)
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
