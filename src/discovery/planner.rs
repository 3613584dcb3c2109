//! Dynamo 1.x planner decisions (the VirtualConnector, reference §6).
//!
//! A 1.x planner that does not scale anything itself publishes its target worker counts in
//! etcd under `v1/<ns>/planner/`, and the deployment's environment acknowledges each one:
//!
//! | key | written by | meaning |
//! |---|---|---|
//! | `num_prefill_workers` | planner | target prefill workers (component `prefill`) |
//! | `num_decode_workers` | planner | target decode workers (component `backend`) |
//! | `decision_id` | planner | 0, 1, 2, ...: one per decision |
//! | `scaled_decision_id` | environment | the last decision carried out |
//! | `scaling_decision` | newer planners | `{"num_prefill_workers", "num_decode_workers", "decision_id"}` in one key |
//!
//! Values are ASCII decimal strings (the JSON key: an object of integers). A decision is
//! done when `scaled_decision_id >= decision_id`. The planner's keys live on its lease
//! (30 s): when it dies they vanish, and then there is no decision (an ack alone is not
//! one). Everything here is hostile input: values are bounded ([`MAX_VALUE`] bytes),
//! namespaces counted ([`MAX_NAMESPACES`]), and a bad value is a problem said with the
//! decision, never a failure of the source.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::parse::{self, prefix_end};

/// The component whose live instances count as prefill workers.
pub const PREFILL: &str = "prefill";
/// The component whose live instances count as decode workers (aggregated mode too).
pub const DECODE: &str = "backend";
/// The endpoint the planner counts instances on.
pub const ENDPOINT: &str = "generate";
/// Namespaces with planner keys kept per source; the rest are counted.
pub const MAX_NAMESPACES: usize = 10_000;
/// A planner value longer than this is malformed (a number is at most 20 digits; the JSON
/// key a few dozen bytes).
pub const MAX_VALUE: usize = 4096;

/// One of the planner's keys under `v1/<ns>/planner/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Leaf {
    Prefill,
    Decode,
    DecisionId,
    Scaled,
    Json,
}

impl Leaf {
    fn parse(s: &str) -> Option<Leaf> {
        Some(match s {
            "num_prefill_workers" => Leaf::Prefill,
            "num_decode_workers" => Leaf::Decode,
            "decision_id" => Leaf::DecisionId,
            "scaled_decision_id" => Leaf::Scaled,
            "scaling_decision" => Leaf::Json,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Leaf::Prefill => "num_prefill_workers",
            Leaf::Decode => "num_decode_workers",
            Leaf::DecisionId => "decision_id",
            Leaf::Scaled => "scaled_decision_id",
            Leaf::Json => "scaling_decision",
        }
    }
}

/// The etcd ranges that can hold planner keys: all of `v1/` except the registration
/// buckets (`v1/instances/`, `v1/mdc/`), which hold one key per instance and are read
/// by the instance source. A namespace literally named `instances` or `mdc` cannot be
/// told apart from those buckets, and is not read.
pub(crate) fn ranges() -> [(Vec<u8>, Vec<u8>); 3] {
    [
        (b"v1/".to_vec(), b"v1/instances/".to_vec()),
        (prefix_end("v1/instances/"), b"v1/mdc/".to_vec()),
        (prefix_end("v1/mdc/"), prefix_end("v1/")),
    ]
}

/// A planner key: its namespace and leaf; None for any other key.
pub(crate) fn key(k: &[u8]) -> Option<(&str, Leaf)> {
    let rest = k.strip_prefix(b"v1/")?;
    let rest = std::str::from_utf8(rest).ok()?;
    let (ns, leaf) = rest.split_once("/planner/")?;
    if ns.is_empty() || ns.len() > 256 || ns.contains('/') || ns.chars().any(char::is_control) {
        return None;
    }
    Some((ns, Leaf::parse(leaf)?))
}

/// What one namespace's keys hold (each value parsed when it arrived).
#[derive(Clone, Debug, Default, PartialEq)]
struct Raw {
    /// `num_prefill_workers`, `num_decode_workers`, `decision_id`, `scaled_decision_id`.
    nums: [Option<Result<u64, String>>; 4],
    json: Option<Result<[Option<u64>; 3], String>>,
}

impl Raw {
    fn is_empty(&self) -> bool {
        self.nums.iter().all(Option::is_none) && self.json.is_none()
    }

    /// `leaf`'s value could not be read.
    fn fail(&mut self, leaf: Leaf, why: String) {
        match self.slot(leaf) {
            Some(slot) => *slot = Some(Err(why)),
            None => self.json = Some(Err(why)),
        }
    }

    fn slot(&mut self, leaf: Leaf) -> Option<&mut Option<Result<u64, String>>> {
        let i = match leaf {
            Leaf::Prefill => 0,
            Leaf::Decode => 1,
            Leaf::DecisionId => 2,
            Leaf::Scaled => 3,
            Leaf::Json => return None,
        };
        Some(&mut self.nums[i])
    }
}

/// A decimal count as the planner writes it (`str(int)`).
fn number(v: &[u8]) -> Result<u64, String> {
    let s = std::str::from_utf8(v).map_err(|_| "is not UTF-8".to_string())?;
    let t = s.trim();
    if t.is_empty() || t.len() > 20 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{} is not a count", parse::quote(s)));
    }
    t.parse::<u64>()
        .map_err(|_| format!("{} is out of range", parse::quote(s)))
}

/// The one-key layout: an object with the three planner values (unknown fields ignored).
fn json(v: &[u8]) -> Result<[Option<u64>; 3], String> {
    let val: serde_json::Value =
        serde_json::from_slice(v).map_err(|e| format!("is not JSON: {e}"))?;
    let obj = val
        .as_object()
        .ok_or_else(|| "is not a JSON object".to_string())?;
    let mut out = [None; 3];
    for (i, k) in ["num_prefill_workers", "num_decode_workers", "decision_id"]
        .iter()
        .enumerate()
    {
        out[i] =
            match obj.get(*k) {
                None | Some(serde_json::Value::Null) => None,
                Some(x) => Some(x.as_u64().ok_or_else(|| {
                    format!("{k} is not a count: {}", parse::quote(&x.to_string()))
                })?),
            };
    }
    Ok(out)
}

/// The planner keys of one source, by namespace.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct PlannerKeys {
    by_ns: HashMap<String, Raw>,
    /// Keys of namespaces past [`MAX_NAMESPACES`], not kept.
    pub dropped: usize,
}

impl PlannerKeys {
    /// Routes an etcd key: true when it was a planner key (kept or counted).
    pub fn put(&mut self, k: &[u8], v: &[u8]) -> bool {
        self.set(k, |raw, leaf| {
            if v.len() > MAX_VALUE {
                raw.fail(
                    leaf,
                    format!("is {} bytes, over the {MAX_VALUE} byte cap", v.len()),
                );
            } else if let Some(slot) = raw.slot(leaf) {
                *slot = Some(number(v));
            } else {
                raw.json = Some(json(v));
            }
        })
    }

    /// A key too large to read: said with its namespace's decision.
    pub fn oversized(&mut self, k: &[u8]) -> bool {
        let msg = format!("is over the {} byte cap", super::etcd::MAX_PAGE_BYTES);
        self.set(k, |raw, leaf| raw.fail(leaf, msg))
    }

    /// Applies `f` to key `k`'s namespace (one past [`MAX_NAMESPACES`] is counted, not
    /// kept); true when `k` is a planner key.
    fn set(&mut self, k: &[u8], f: impl FnOnce(&mut Raw, Leaf)) -> bool {
        let Some((ns, leaf)) = key(k) else {
            return false;
        };
        if !self.by_ns.contains_key(ns) && self.by_ns.len() >= MAX_NAMESPACES {
            self.dropped = self.dropped.saturating_add(1);
            return true;
        }
        f(self.by_ns.entry(ns.to_string()).or_default(), leaf);
        true
    }

    /// A key deleted (or its lease expired): true when it was a planner key.
    pub fn delete(&mut self, k: &[u8]) -> bool {
        let Some((ns, leaf)) = key(k) else {
            return false;
        };
        if let Some(raw) = self.by_ns.get_mut(ns) {
            match raw.slot(leaf) {
                Some(slot) => *slot = None,
                None => raw.json = None,
            }
            if raw.is_empty() {
                self.by_ns.remove(ns);
            }
        }
        true
    }

    /// Every namespace's decision.
    pub fn decisions(&self) -> BTreeMap<String, Decision> {
        self.by_ns
            .iter()
            .map(|(ns, raw)| (ns.clone(), Decision::from_raw(raw)))
            .collect()
    }
}

/// A namespace's planner keys, read: the decision (if the planner published one) and its
/// acknowledgement. Serialized as `show -o json`'s `planner` object (see [`Decision::json`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    pub num_prefill_workers: Option<u64>,
    pub num_decode_workers: Option<u64>,
    pub decision_id: Option<u64>,
    pub scaled_decision_id: Option<u64>,
    /// From the one-key `scaling_decision` layout.
    pub single_key: bool,
    /// Values that could not be read, as `key: why` (already quoted).
    pub problems: Vec<String>,
}

/// The JSON form of a decision (`show -o json`, `list -o json`).
#[derive(Serialize, Debug, Clone, PartialEq, Eq)]
pub struct DecisionJson {
    pub num_prefill_workers: Option<u64>,
    pub num_decode_workers: Option<u64>,
    pub decision_id: Option<u64>,
    pub scaled_decision_id: Option<u64>,
    pub pending: bool,
    /// When this dynamo-ctl first saw the decision in its current state (RFC 3339); null
    /// when it does not know (a one-shot command sees it once).
    pub since: Option<String>,
}

impl Decision {
    fn from_raw(raw: &Raw) -> Decision {
        let mut d = Decision::default();
        let mut keys = [None; 4];
        for (i, (slot, leaf)) in raw
            .nums
            .iter()
            .zip([Leaf::Prefill, Leaf::Decode, Leaf::DecisionId, Leaf::Scaled])
            .enumerate()
        {
            match slot {
                Some(Ok(n)) => keys[i] = Some(*n),
                Some(Err(e)) => d.problems.push(format!("{}: {e}", leaf.name())),
                None => {}
            }
        }
        d.num_prefill_workers = keys[0];
        d.num_decode_workers = keys[1];
        d.decision_id = keys[2];
        d.scaled_decision_id = keys[3];
        match &raw.json {
            Some(Ok(j)) => {
                // Both layouts: the newer decision wins (the single key on a tie).
                let keys_newer = matches!((keys[2], j[2]), (Some(a), Some(b)) if a > b)
                    || (j[2].is_none() && keys[2].is_some());
                if !keys_newer {
                    d.num_prefill_workers = j[0];
                    d.num_decode_workers = j[1];
                    d.decision_id = j[2];
                    d.single_key = true;
                }
            }
            Some(Err(e)) => d.problems.push(format!("{}: {e}", Leaf::Json.name())),
            None => {}
        }
        d
    }

    /// Whether the planner published a decision (an acknowledgement alone is not one).
    pub fn decided(&self) -> bool {
        self.decision_id.is_some()
            || self.num_prefill_workers.is_some()
            || self.num_decode_workers.is_some()
    }

    /// Published and not yet carried out (`scaled_decision_id < decision_id`).
    pub fn pending(&self) -> bool {
        match self.decision_id {
            Some(d) => self.scaled_decision_id.is_none_or(|s| s < d),
            None => false,
        }
    }

    /// The planner's target for a component (`prefill` or `backend`, any case); None for
    /// other components or when it set none.
    pub fn target(&self, component: &str) -> Option<u64> {
        if component.eq_ignore_ascii_case(PREFILL) {
            self.num_prefill_workers
        } else if component.eq_ignore_ascii_case(DECODE) {
            self.num_decode_workers
        } else {
            None
        }
    }

    /// `prefill 2, decode 3 (decision 7, pending)`; `since`: how long it has been so, if
    /// known (`pending 45s`).
    pub fn phrase(&self, since: Option<&str>) -> String {
        if !self.decided() {
            return "no planner decision".into();
        }
        let n = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
        let state = if self.decision_id.is_none() {
            "no decision id"
        } else if self.pending() {
            "pending"
        } else {
            "done"
        };
        let id = self
            .decision_id
            .map_or(String::new(), |d| format!("decision {d}, "));
        let since = since.map_or(String::new(), |s| format!(" {s}"));
        format!(
            "prefill {}, decode {} ({id}{state}{since})",
            n(self.num_prefill_workers),
            n(self.num_decode_workers)
        )
    }

    /// The JSON object (`since`: see [`DecisionJson::since`]); None when nothing is decided.
    pub fn json(&self, since: Option<String>) -> Option<DecisionJson> {
        self.decided().then(|| DecisionJson {
            num_prefill_workers: self.num_prefill_workers,
            num_decode_workers: self.num_decode_workers,
            decision_id: self.decision_id,
            scaled_decision_id: self.scaled_decision_id,
            pending: self.pending(),
            since,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(pairs: &[(&str, &str)]) -> PlannerKeys {
        let mut p = PlannerKeys::default();
        for (k, v) in pairs {
            assert!(p.put(k.as_bytes(), v.as_bytes()), "{k}");
        }
        p
    }

    #[test]
    fn three_keys_pending_then_done() {
        let mut p = keys(&[
            ("v1/dyn/planner/num_prefill_workers", "2"),
            ("v1/dyn/planner/num_decode_workers", "3"),
            ("v1/dyn/planner/decision_id", "7"),
        ]);
        let d = &p.decisions()["dyn"];
        assert!(d.decided() && d.pending());
        assert_eq!(d.target("prefill"), Some(2));
        assert_eq!(d.target("Backend"), Some(3));
        assert_eq!(d.target("frontend"), None);
        assert_eq!(d.phrase(None), "prefill 2, decode 3 (decision 7, pending)");
        p.put(b"v1/dyn/planner/scaled_decision_id", b"6");
        assert!(p.decisions()["dyn"].pending());
        p.put(b"v1/dyn/planner/scaled_decision_id", b"7");
        let d = &p.decisions()["dyn"];
        assert!(!d.pending());
        assert_eq!(d.phrase(None), "prefill 2, decode 3 (decision 7, done)");
        let j = serde_json::to_value(d.json(None)).unwrap();
        assert_eq!(
            j,
            serde_json::json!({"num_prefill_workers": 2, "num_decode_workers": 3,
                "decision_id": 7, "scaled_decision_id": 7, "pending": false, "since": null})
        );
    }

    #[test]
    fn planner_gone_leaves_no_decision() {
        let mut p = keys(&[
            ("v1/dyn/planner/num_decode_workers", "1"),
            ("v1/dyn/planner/decision_id", "0"),
            ("v1/dyn/planner/scaled_decision_id", "0"),
        ]);
        assert!(p.delete(b"v1/dyn/planner/num_decode_workers"));
        assert!(p.delete(b"v1/dyn/planner/decision_id"));
        let d = &p.decisions()["dyn"];
        assert!(!d.decided() && !d.pending());
        assert_eq!(d.phrase(None), "no planner decision");
        assert_eq!(d.json(None), None);
        p.delete(b"v1/dyn/planner/scaled_decision_id");
        assert!(p.decisions().is_empty());
    }

    #[test]
    fn single_key_layout_and_the_newer_wins() {
        let p = keys(&[(
            "v1/d/planner/scaling_decision",
            r#"{"num_prefill_workers": 1, "num_decode_workers": 4, "decision_id": 3, "x": "y"}"#,
        )]);
        let d = &p.decisions()["d"];
        assert!(d.single_key && d.pending());
        assert_eq!(
            (d.num_prefill_workers, d.num_decode_workers),
            (Some(1), Some(4))
        );
        let p = keys(&[
            (
                "v1/d/planner/scaling_decision",
                r#"{"num_decode_workers": 4, "decision_id": 3}"#,
            ),
            ("v1/d/planner/num_decode_workers", "9"),
            ("v1/d/planner/decision_id", "5"),
        ]);
        let d = &p.decisions()["d"];
        assert!(!d.single_key);
        assert_eq!((d.num_decode_workers, d.decision_id), (Some(9), Some(5)));
    }

    #[test]
    fn hostile_values_are_problems_not_numbers() {
        let big = "9".repeat(MAX_VALUE + 1);
        let p = keys(&[
            ("v1/h/planner/num_prefill_workers", "-1"),
            ("v1/h/planner/num_decode_workers", "1e30"),
            ("v1/h/planner/decision_id", "18446744073709551616"),
            ("v1/h/planner/scaled_decision_id", &big),
            ("v1/h/planner/scaling_decision", "[1,2]"),
        ]);
        let d = &p.decisions()["h"];
        assert!(!d.decided());
        assert_eq!(d.problems.len(), 5, "{:?}", d.problems);
        assert!(d.problems.iter().all(|m| m.len() < 200), "{:?}", d.problems);
        let p = keys(&[(
            "v1/h/planner/scaling_decision",
            r#"{"num_decode_workers": -3, "decision_id": 1}"#,
        )]);
        assert_eq!(p.decisions()["h"].problems.len(), 1);
    }

    #[test]
    fn only_planner_keys_route() {
        let mut p = PlannerKeys::default();
        for k in [
            "v1/instances/dyn/backend/generate/1",
            "v1/dyn/planner/other",
            "v1//planner/decision_id",
            "v1/a/b/planner/decision_id",
            "v1/dyn/planner",
            "instances/dyn/x:1",
        ] {
            assert!(!p.put(k.as_bytes(), b"1"), "{k}");
        }
        assert!(p.decisions().is_empty());
        for i in 0..MAX_NAMESPACES + 5 {
            p.put(format!("v1/n{i}/planner/decision_id").as_bytes(), b"1");
        }
        assert_eq!(p.decisions().len(), MAX_NAMESPACES);
        assert_eq!(p.dropped, 5);
    }

    #[test]
    fn ranges_cover_planner_keys_and_skip_the_buckets() {
        let inside = |k: &[u8]| {
            ranges()
                .iter()
                .any(|(a, b)| k >= a.as_slice() && k < b.as_slice())
        };
        assert!(inside(b"v1/dyn/planner/decision_id"));
        assert!(inside(b"v1/zzz/planner/decision_id"));
        assert!(inside(b"v1/instancesx/planner/decision_id"));
        assert!(!inside(b"v1/instances/dyn/backend/generate/1"));
        assert!(!inside(b"v1/mdc/dyn/backend/generate/1"));
        assert!(!inside(b"instances/dyn/x:1"));
    }
}
