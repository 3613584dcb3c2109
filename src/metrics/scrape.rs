//! Direct scrape: a Dynamo process's `/metrics` (and `/health`), rates from the previous
//! scrape of the same URL.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::expo::{self, PageParser, Parsed, WorkerKey};
use super::http::{self, HttpUrl};
use super::math::{Buckets, Kind, Reading, bucket_increase, increase};
use super::merge::{FrontAgg, InstAgg, Partial, Tally};
use super::{SourceKind, SourceStatus};

/// `/health` of Dynamo's system status server:
/// `{"status": "ready"|"notready", "endpoints": {"generate": "ready"}, ...}`.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Health {
    pub status: String,
    pub endpoints: BTreeMap<String, String>,
}

/// A `/health` answer longer than this is not Dynamo's.
const MAX_HEALTH: usize = 256 << 10;

/// One scrape of a URL.
pub(super) struct Fetched {
    /// When the `/metrics` answer arrived.
    at: Instant,
    metrics: Result<Parsed, String>,
    health: Option<Health>,
}

/// What a URL said last time it answered.
pub(super) struct Previous {
    at: Instant,
    parsed: Parsed,
}

/// Scrapes `url`'s `/metrics` (read as it arrives, never held whole) and its `/health`,
/// concurrently; each bounded by `timeout`, the reading of the page included.
pub(super) async fn fetch(url: &HttpUrl, timeout: Duration) -> Fetched {
    let metrics = async {
        let mut parser = PageParser::default();
        // The start of a refusal's body, for the error.
        let mut refusal: Vec<u8> = Vec::new();
        let r = http::get_each(url, &url.path, timeout, |_, chunk| {
            parser.feed(chunk);
            if refusal.len() < 512 {
                refusal.extend_from_slice(&chunk[..chunk.len().min(512)]);
            }
            Ok(())
        })
        .await;
        let at = Instant::now();
        let parsed = match r {
            Ok(200) => parser.finish(),
            Ok(status) => Err(http_error(status, &refusal)),
            Err(e) => Err(e),
        };
        (parsed, at)
    };
    let health = async {
        let mut body = Vec::new();
        http::get_each(url, "/health", timeout, |_, chunk| {
            if body.len() + chunk.len() > MAX_HEALTH {
                return Err("health answer too big".to_string());
            }
            body.extend_from_slice(chunk);
            Ok(())
        })
        .await
        .ok()
        .and_then(|_| parse_health(&body))
    };
    let ((metrics, at), health) = tokio::join!(metrics, health);
    Fetched {
        at,
        metrics,
        health,
    }
}

/// "HTTP 500: <the start of the body>".
pub(super) fn http_error(status: u16, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let first: String = text.trim().chars().take(120).collect();
    if first.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {first}")
    }
}

pub(super) fn parse_health(body: &[u8]) -> Option<Health> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    let status = v.get("status")?.as_str()?.chars().take(64).collect();
    let endpoints = v
        .get("endpoints")
        .and_then(|e| e.as_object())
        .map(|m| {
            m.iter()
                .take(1000)
                .map(|(k, v)| {
                    let v = match v {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    (k.clone(), v)
                })
                .collect()
        })
        .unwrap_or_default();
    Some(Health { status, endpoints })
}

fn in_ns(key: &WorkerKey, ns: Option<&str>) -> bool {
    ns.is_none_or(|n| key.namespace == n)
}

/// Rates of one interval: `dt` seconds, `reset` when the process restarted.
struct Interval<'a> {
    dt: f64,
    reset: bool,
    /// First seen now, and started after the previous scrape: counts from zero.
    fresh: bool,
    tally: &'a mut Tally,
    what: &'a dyn Fn() -> String,
}

impl Interval<'_> {
    fn rate(&mut self, name: &str, increase: Option<f64>) -> Reading<f64> {
        let Some(x) = increase.map(|x| x / self.dt) else {
            return Reading::Absent;
        };
        let r = Reading::of(Kind::Count, x);
        if r.is_malformed() {
            let what = (self.what)();
            self.tally.note(|| {
                format!(
                    "{name} of {what}: {}/s, {}",
                    expo::num(x),
                    Kind::Count.expected()
                )
            });
        }
        r
    }

    /// The rate of a counter between two scrapes. A malformed value now stays malformed (it
    /// was counted when read); one before gives no rate this time.
    fn counter(&mut self, name: &str, before: &Reading<f64>, now: &Reading<f64>) -> Reading<f64> {
        match (before, now) {
            (_, Reading::Malformed) => Reading::Malformed,
            (Reading::Value(b), Reading::Value(n)) => self.rate(name, increase(*b, *n, self.reset)),
            (Reading::Absent, Reading::Value(n)) if self.fresh => {
                self.rate(name, increase(0.0, *n, true))
            }
            _ => Reading::Absent,
        }
    }

    fn buckets(
        before: Option<&Reading<Buckets>>,
        now: &Reading<Buckets>,
        reset: bool,
        fresh: bool,
    ) -> Reading<Buckets> {
        match (before, now) {
            (_, Reading::Malformed) => Reading::Malformed,
            (Some(Reading::Value(b)), Reading::Value(n)) => {
                Reading::Value(bucket_increase(b, n, reset))
            }
            (None | Some(Reading::Absent), Reading::Value(n)) if fresh => {
                Reading::Value(bucket_increase(&[], n, true))
            }
            _ => Reading::Absent,
        }
    }
}

/// This scrape as a source's answer: rates against `prev` (the URL's last good scrape).
/// Returns the partial, the interval the rates span, and the state to keep.
pub(super) fn partial(
    url: &HttpUrl,
    f: Fetched,
    prev: Option<&mut Previous>,
    ns: Option<&str>,
) -> (Partial, Option<f64>, Option<Previous>) {
    let location = url.to_string();
    let parsed = match f.metrics {
        Ok(p) => p,
        Err(e) => {
            // The instances it showed last are listed stale, with no numbers.
            let instances = prev
                .map(|p| {
                    p.parsed
                        .workers
                        .keys()
                        .filter(|k| in_ns(k, ns))
                        .map(|k| InstAgg {
                            key: k.clone(),
                            stale: true,
                            source: location.clone(),
                            ..InstAgg::default()
                        })
                        .collect()
                })
                .unwrap_or_default();
            let status = SourceStatus::new(SourceKind::Scrape, location, Some(e));
            return (
                Partial::new(status, Tally::default(), 0, instances, None),
                None,
                None,
            );
        }
    };
    let mut tally = parsed.malformed.clone();
    let dt = prev
        .as_ref()
        .map(|p| f.at.saturating_duration_since(p.at).as_secs_f64())
        .filter(|dt| *dt > 0.001);
    let base = prev.as_ref().filter(|_| dt.is_some()).map(|p| &p.parsed);
    let health = f.health.as_ref().map(|h| h.status.clone());
    let mut instances = Vec::new();
    for (key, cur) in parsed.workers.iter().filter(|(k, _)| in_ns(k, ns)) {
        let mut i = InstAgg {
            key: key.clone(),
            inflight: cur.inflight.clone(),
            kv_usage: cur.kv_usage.clone(),
            health: health.clone(),
            source: location.clone(),
            ..InstAgg::default()
        };
        if let (Some(base), Some(dt)) = (base, dt) {
            let up_now = parsed.uptime.get(&key.worker_id).copied();
            let up_before = base.uptime.get(&key.worker_id).copied();
            // Restarted with the same id: its uptime went down.
            let reset = matches!((up_before, up_now), (Some(b), Some(n)) if n < b);
            let was = base.workers.get(key);
            let fresh = was.is_none() && up_now.is_some_and(|u| u <= dt);
            let what = || expo::show_key(key);
            let mut iv = Interval {
                dt,
                reset,
                fresh,
                tally: &mut tally,
                what: &what,
            };
            let absent = Reading::Absent;
            i.requests_per_s = iv.counter(
                "requests/s",
                was.map_or(&absent, |w| &w.requests),
                &cur.requests,
            );
            // The error counter appears with its first error: a known worker's new error
            // series counts from zero.
            i.errors_per_s = match (was.map(|w| &w.errors), &cur.errors) {
                (Some(Reading::Absent), Reading::Value(n)) => {
                    iv.rate("errors/s", increase(0.0, *n, true))
                }
                (before, now) => iv.counter("errors/s", before.unwrap_or(&absent), now),
            };
            i.buckets = Interval::buckets(was.map(|w| &w.duration), &cur.duration, reset, fresh);
        }
        instances.push(i);
    }
    let frontend = parsed.frontend.as_ref().map(|fe| {
        let was = base.and_then(|b| b.frontend.as_ref());
        let what = || "the frontend".to_string();
        let mut iv = Interval {
            dt: dt.unwrap_or(1.0),
            reset: false,
            fresh: false,
            tally: &mut tally,
            what: &what,
        };
        let mut rate =
            |name: &str, before: Option<&Reading<f64>>, now: &Reading<f64>| match (before, dt) {
                (Some(b), Some(_)) => iv.counter(name, b, now),
                _ if now.is_malformed() => Reading::Malformed,
                _ => Reading::Absent,
            };
        let hist = |before: Option<&Reading<Buckets>>, now: &Reading<Buckets>| match before {
            Some(b) if dt.is_some() => Interval::buckets(Some(b), now, false, false),
            _ if now.is_malformed() => Reading::Malformed,
            _ => Reading::Absent,
        };
        FrontAgg {
            requests_per_s: rate(
                "frontend requests/s",
                was.map(|w| &w.requests),
                &fe.requests,
            ),
            errors_per_s: rate("frontend errors/s", was.map(|w| &w.errors), &fe.errors),
            inflight: fe.inflight.clone(),
            queued: fe.queued.clone(),
            ttft: hist(was.map(|w| &w.ttft), &fe.ttft),
            itl: hist(was.map(|w| &w.itl), &fe.itl),
            duration: hist(was.map(|w| &w.duration), &fe.duration),
        }
    });
    let mut status = SourceStatus::new(SourceKind::Scrape, location, None);
    if let Some(h) = f.health {
        status.health = Some(h.status);
        status.health_endpoints = Some(h.endpoints);
    }
    let skipped = parsed.skipped;
    (
        Partial::new(status, tally, skipped, instances, frontend),
        dt,
        Some(Previous { at: f.at, parsed }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(id: &str, requests: f64, uptime: f64, fast: f64) -> String {
        format!(
            "# TYPE dynamo_component_requests_total counter\n\
             dynamo_component_requests_total{{dynamo_namespace=\"n\",dynamo_component=\"c\",dynamo_endpoint=\"generate\",worker_id=\"{id}\"}} {requests}\n\
             # TYPE dynamo_component_request_duration_seconds histogram\n\
             dynamo_component_request_duration_seconds_bucket{{dynamo_namespace=\"n\",dynamo_component=\"c\",dynamo_endpoint=\"generate\",worker_id=\"{id}\",le=\"0.1\"}} {fast}\n\
             dynamo_component_request_duration_seconds_bucket{{dynamo_namespace=\"n\",dynamo_component=\"c\",dynamo_endpoint=\"generate\",worker_id=\"{id}\",le=\"+Inf\"}} {requests}\n\
             dynamo_component_uptime_seconds{{worker_id=\"{id}\"}} {uptime}\n"
        )
    }

    fn fetched(at: Instant, text: &str) -> Fetched {
        Fetched {
            at,
            metrics: expo::parse(text),
            health: parse_health(br#"{"status":"ready","endpoints":{"generate":"ready"}}"#),
        }
    }

    fn url() -> HttpUrl {
        HttpUrl::parse("http://127.0.0.1:1/metrics").unwrap()
    }

    #[test]
    fn rates_resets_and_restarts() {
        let t0 = Instant::now();
        let (p, dt, mut st) = partial(
            &url(),
            fetched(t0, &page("a", 100.0, 50.0, 50.0)),
            None,
            None,
        );
        assert_eq!(dt, None);
        assert_eq!(p.instances[0].requests_per_s, Reading::Absent);
        assert_eq!(p.instances[0].health.as_deref(), Some("ready"));
        assert_eq!(p.status.health.as_deref(), Some("ready"));
        // 10 s later, 100 more requests, half fast.
        let t1 = t0 + Duration::from_secs(10);
        let (p, dt, st2) = partial(
            &url(),
            fetched(t1, &page("a", 200.0, 60.0, 100.0)),
            st.as_mut(),
            None,
        );
        assert_eq!(dt, Some(10.0));
        assert_eq!(p.instances[0].requests_per_s, Reading::Value(10.0));
        let b = p.instances[0].buckets.value().unwrap();
        assert_eq!(super::super::quantile(0.5, b), Some(0.1));
        st = st2;
        // Same id, counter lower and uptime lower: reset; 30 since.
        let t2 = t1 + Duration::from_secs(10);
        let (p, _, st3) = partial(
            &url(),
            fetched(t2, &page("a", 30.0, 3.0, 30.0)),
            st.as_mut(),
            None,
        );
        assert_eq!(p.instances[0].requests_per_s, Reading::Value(3.0));
        st = st3;
        // Uptime lower but counter higher (restarted, counted fast): still a reset.
        let t3 = t2 + Duration::from_secs(10);
        let (p, _, st4) = partial(
            &url(),
            fetched(t3, &page("a", 40.0, 1.0, 40.0)),
            st.as_mut(),
            None,
        );
        assert_eq!(p.instances[0].requests_per_s, Reading::Value(4.0));
        st = st4;
        // Restarted on the same port with a new id, up 5 s of the 10: counts from zero.
        let t4 = t3 + Duration::from_secs(10);
        let (p, _, st5) = partial(
            &url(),
            fetched(t4, &page("b", 20.0, 5.0, 20.0)),
            st.as_mut(),
            None,
        );
        assert_eq!(p.instances.len(), 1);
        assert_eq!(p.instances[0].key.worker_id, "b");
        assert_eq!(p.instances[0].requests_per_s, Reading::Value(2.0));
        st = st5;
        // A new id that was up before the previous scrape: no rate yet.
        let t5 = t4 + Duration::from_secs(10);
        let (p, _, _) = partial(
            &url(),
            fetched(t5, &page("c", 20.0, 500.0, 20.0)),
            st.as_mut(),
            None,
        );
        assert_eq!(p.instances[0].requests_per_s, Reading::Absent);
    }

    #[test]
    fn a_failed_scrape_lists_the_last_instances_stale() {
        let t0 = Instant::now();
        let (_, _, mut st) = partial(&url(), fetched(t0, &page("a", 1.0, 1.0, 1.0)), None, None);
        let failed = Fetched {
            at: t0 + Duration::from_secs(1),
            metrics: Err("connect: refused".into()),
            health: None,
        };
        let (p, dt, keep) = partial(&url(), failed, st.as_mut(), None);
        assert!(!p.status.ok());
        assert_eq!(p.status.error.as_deref(), Some("connect: refused"));
        assert!(p.instances[0].stale);
        assert!(dt.is_none() && keep.is_none());
        // Another namespace: filtered out.
        let failed = Fetched {
            at: t0 + Duration::from_secs(2),
            metrics: Err("x".into()),
            health: None,
        };
        let (p, _, _) = partial(&url(), failed, st.as_mut(), Some("other"));
        assert!(p.instances.is_empty());
    }

    /// Values that make no sense are malformed in the partial and counted in its quality;
    /// a rate that is no count (2^53 requests in 10 ms) too.
    #[test]
    fn malformed_values_and_rates_are_counted() {
        let t0 = Instant::now();
        let l = |name: &str, v: &str| {
            format!("{name}{{dynamo_namespace=\"n\",dynamo_component=\"c\",worker_id=\"w\"}} {v}\n")
        };
        let first = format!("{}{}", l(expo::REQUESTS, "0"), l(expo::UPTIME, "5"));
        let (_, _, mut st) = partial(&url(), fetched(t0, &first), None, None);
        let second = format!(
            "{}{}{}",
            l(expo::REQUESTS, "9007199254740992"),
            l(expo::INFLIGHT, "-5e300"),
            l(expo::KV_USAGE[1], "1e300")
        );
        let t1 = t0 + Duration::from_millis(10);
        let (p, _, _) = partial(&url(), fetched(t1, &second), st.as_mut(), None);
        let i = &p.instances[0];
        assert!(i.requests_per_s.is_malformed(), "{i:?}");
        assert!(i.inflight.is_malformed() && i.kv_usage.is_malformed());
        assert_eq!(p.quality.malformed, 3, "{:?}", p.quality);
        let e = p.quality.malformed_example.clone().unwrap();
        assert!(e.contains("-5e300") && e.len() < 320, "{e}");
    }

    #[test]
    fn health_json() {
        let h = parse_health(br#"{"status":"notready","uptime":{"secs":1,"nanos":2},"endpoints":{"generate":"ready","x":1}}"#).unwrap();
        assert_eq!(h.status, "notready");
        assert_eq!(h.endpoints["generate"], "ready");
        assert_eq!(h.endpoints["x"], "1");
        assert!(parse_health(b"OK").is_none());
        assert!(parse_health(br#"{"status": 5}"#).is_none());
    }
}
