//! Load in the TUI: the last metrics round of the open namespace, and what this session
//! has seen of it (request rate per component, the prefill queue depth) for sparklines.
//! Pure: samples and time come in as arguments.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, SystemTime};

use crate::metrics::{ComponentLoad, InstanceLoad, Metrics};

/// How much history is kept: the metrics view shows the last 15 minutes.
pub const KEEP: Duration = Duration::from_secs(15 * 60);

/// Where numbers turn orange, then red (`[thresholds]` in config.toml).
#[derive(Clone, Debug, PartialEq)]
pub struct Thresholds {
    /// p95 request duration, seconds.
    pub p95_warn: f64,
    pub p95_crit: f64,
    /// Errors per second.
    pub errors_warn: f64,
    pub errors_crit: f64,
    /// Prefill queue depth.
    pub queue_warn: f64,
    pub queue_crit: f64,
    /// KV-cache use, 0.0-1.0.
    pub kv_warn: f64,
    pub kv_crit: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            p95_warn: 1.0,
            p95_crit: 5.0,
            errors_warn: 0.01,
            errors_crit: 1.0,
            queue_warn: 10.0,
            queue_crit: 100.0,
            kv_warn: 0.8,
            kv_crit: 0.95,
        }
    }
}

/// How bad a number is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Ok,
    Warn,
    Crit,
}

pub fn level(v: Option<f64>, warn: f64, crit: f64) -> Level {
    match v {
        Some(v) if v >= crit => Level::Crit,
        Some(v) if v >= warn => Level::Warn,
        _ => Level::Ok,
    }
}

#[derive(Clone, Debug, Default)]
pub struct Load {
    /// A metrics source is configured: the columns show, polls run.
    pub on: bool,
    /// Prometheus is among the sources (the metrics view asks it for history).
    pub prometheus: bool,
    /// A poll is in flight.
    pub polling: bool,
    /// The namespace the numbers are of.
    pub ns: Option<String>,
    pub last: Option<Metrics>,
    /// Requests per second per component (lower-cased name), oldest first.
    pub rate: BTreeMap<String, VecDeque<(SystemTime, f64)>>,
    /// In-flight requests per component.
    pub inflight: BTreeMap<String, VecDeque<(SystemTime, f64)>>,
    /// The prefill queue depth.
    pub queue: VecDeque<(SystemTime, f64)>,
    /// Prometheus' history of one component (`m`): (component, (unix s, req/s)).
    pub prom_history: Option<(String, Vec<(f64, f64)>)>,
    pub thresholds: Thresholds,
}

fn push(q: &mut VecDeque<(SystemTime, f64)>, at: SystemTime, v: f64) {
    q.push_back((at, v));
    while q
        .front()
        .is_some_and(|(t, _)| at.duration_since(*t).unwrap_or_default() > KEEP)
    {
        q.pop_front();
    }
}

impl Load {
    /// Takes a round of the namespace `ns`; another namespace's history is dropped.
    pub fn on_sample(&mut self, ns: &str, m: Metrics) {
        if self.ns.as_deref() != Some(ns) {
            self.reset();
            self.ns = Some(ns.to_string());
        }
        let at = m.taken_at;
        for c in m.components.iter().filter(|c| c.namespace == ns) {
            let key = c.component.to_lowercase();
            if let Some(r) = c.requests_per_s {
                push(self.rate.entry(key.clone()).or_default(), at, r);
            }
            if let Some(i) = c.inflight {
                push(self.inflight.entry(key).or_default(), at, i);
            }
        }
        if let Some(q) = &m.prefill_queue {
            push(&mut self.queue, at, q.depth as f64);
        }
        self.last = Some(m);
    }

    /// Forgets the numbers (another namespace opened).
    pub fn reset(&mut self) {
        self.ns = None;
        self.last = None;
        self.rate.clear();
        self.inflight.clear();
        self.queue.clear();
        self.prom_history = None;
    }

    /// A component's load by name (case-insensitive: Dynamo 0.3 labels `VllmWorker`, a
    /// state file's type is `VllmWorker`, 1.x components are lower-case).
    pub fn component(&self, ns: &str, name: &str) -> Option<&ComponentLoad> {
        self.last
            .as_ref()?
            .components
            .iter()
            .find(|c| c.namespace == ns && c.component.eq_ignore_ascii_case(name))
    }

    /// One instance's load by its id in hex.
    /// Every instance of `ns` in the last round, by its id in hex: one map for a table of
    /// them (not [`Load::instance`], a search, per row).
    pub fn by_instance(&self, ns: &str) -> std::collections::HashMap<&str, &InstanceLoad> {
        self.last
            .iter()
            .flat_map(|m| m.instances.iter())
            .filter(|i| i.namespace == ns)
            .map(|i| (i.instance_id_hex.as_str(), i))
            .collect()
    }

    pub fn instance(&self, ns: &str, id_hex: &str) -> Option<&InstanceLoad> {
        self.last
            .as_ref()?
            .instances
            .iter()
            .find(|i| i.namespace == ns && i.instance_id_hex == id_hex)
    }

    /// The request-rate history of a component, oldest first.
    pub fn rates(&self, name: &str) -> Vec<f64> {
        self.rate
            .get(&name.to_lowercase())
            .map(|q| q.iter().map(|(_, v)| *v).collect())
            .unwrap_or_default()
    }
}

/// The last `width` values as a one-line sparkline (`▁▂▃▄▅▆▇█`), scaled to their maximum;
/// empty when there are none.
pub fn sparkline(values: &[f64], width: usize) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let tail = &values[values.len().saturating_sub(width)..];
    let max = tail
        .iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    tail.iter()
        .map(|v| {
            if !v.is_finite() || max <= 0.0 {
                BARS[0]
            } else {
                BARS[((v / max) * 7.0).round().clamp(0.0, 7.0) as usize]
            }
        })
        .collect()
}

/// "12.3/s", "0.41/s", "-" (no number).
pub fn rate_text(v: Option<f64>) -> String {
    match v {
        Some(v) if v >= 100.0 => format!("{v:.0}/s"),
        Some(v) if v >= 10.0 => format!("{v:.1}/s"),
        Some(v) => format!("{v:.2}/s"),
        None => "-".into(),
    }
}

/// "412ms", "1.20s", "-".
pub fn secs_text(v: Option<f64>) -> String {
    match v {
        Some(v) if v < 1.0 => format!("{:.0}ms", v * 1000.0),
        Some(v) => format!("{v:.2}s"),
        None => "-".into(),
    }
}

/// "3", "2.5", "-".
pub fn count_text(v: Option<f64>) -> String {
    match v {
        Some(v) if v.fract() == 0.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.1}"),
        None => "-".into(),
    }
}

/// The trend of a series: rising, falling or flat (last third against the first).
pub fn trend(values: &[f64]) -> &'static str {
    if values.len() < 3 {
        return "";
    }
    let third = values.len() / 3;
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len().max(1) as f64;
    let (a, b) = (
        mean(&values[..third]),
        mean(&values[values.len() - third..]),
    );
    if b > a * 1.1 + 0.01 {
        "↗"
    } else if b < a * 0.9 - 0.01 {
        "↘"
    } else {
        "→"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_scales_to_the_maximum_and_keeps_the_tail() {
        assert_eq!(sparkline(&[0.0, 1.0, 2.0, 4.0], 10), "▁▃▅█");
        assert_eq!(sparkline(&[9.0, 0.0, 0.0], 2), "▁▁");
        assert_eq!(sparkline(&[], 5), "");
        assert_eq!(sparkline(&[f64::NAN, 1.0], 5), "▁█");
    }

    #[test]
    fn levels_and_texts() {
        let t = Thresholds::default();
        assert_eq!(level(Some(0.5), t.p95_warn, t.p95_crit), Level::Ok);
        assert_eq!(level(Some(1.5), t.p95_warn, t.p95_crit), Level::Warn);
        assert_eq!(level(Some(9.0), t.p95_warn, t.p95_crit), Level::Crit);
        assert_eq!(level(None, t.p95_warn, t.p95_crit), Level::Ok);
        assert_eq!(rate_text(Some(12.34)), "12.3/s");
        assert_eq!(secs_text(Some(0.4123)), "412ms");
        assert_eq!(secs_text(Some(1.2)), "1.20s");
        assert_eq!(trend(&[1.0, 1.0, 1.0, 5.0, 5.0, 5.0]), "↗");
        assert_eq!(trend(&[5.0, 5.0, 5.0, 1.0, 1.0, 1.0]), "↘");
        assert_eq!(trend(&[2.0, 2.0, 2.0]), "→");
    }
}
