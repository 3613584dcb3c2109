//! The Prometheus text format of a Dynamo process's `/metrics`, read line by line as the
//! answer arrives ([`PageParser::feed`]) and reduced at once to the series dynamo-ctl shows:
//! per worker (`dynamo_namespace`, `dynamo_component`, `worker_id`) the request counter,
//! in-flight gauge, request-duration histogram, error counter and KV-cache use (summed over
//! endpoints and error types); per process the uptime; and the frontend's series.
//!
//! Bounded work and memory whatever the page holds: one pass over the bytes (each line
//! looked at once, at most [`MAX_LINE`] bytes kept of a line still arriving), nothing kept
//! of a series dynamo-ctl does not show, at most [`MAX_WORKERS`] workers per page (series of
//! more are skipped and counted), at most [`MAX_BUCKETS`] bounds per histogram (more makes
//! it malformed). A value that is not plausible for its series ([`Kind`]) is malformed:
//! left out, counted, and the first one described.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use super::math::{Buckets, Kind, MAX_BUCKETS, Reading, normalize};
use super::merge::Tally;

pub const REQUESTS: &str = "dynamo_component_requests_total";
pub const INFLIGHT: &str = "dynamo_component_inflight_requests";
pub const DURATION: &str = "dynamo_component_request_duration_seconds";
pub const ERRORS: &str = "dynamo_component_errors_total";
pub const UPTIME: &str = "dynamo_component_uptime_seconds";
/// Worker KV-cache use (0.0-1.0): older releases with `kvstats_`, newer ones without.
pub const KV_USAGE: [&str; 2] = [
    "dynamo_component_kvstats_gpu_cache_usage_percent",
    "dynamo_component_gpu_cache_usage_percent",
];
pub const FE_REQUESTS: &str = "dynamo_frontend_requests_total";
pub const FE_INFLIGHT: &str = "dynamo_frontend_inflight_requests";
pub const FE_QUEUED: &str = "dynamo_frontend_queued_requests";
pub const FE_TTFT: &str = "dynamo_frontend_time_to_first_token_seconds";
pub const FE_ITL: &str = "dynamo_frontend_inter_token_latency_seconds";
pub const FE_DURATION: &str = "dynamo_frontend_request_duration_seconds";

pub const NAMESPACE: &str = "dynamo_namespace";
pub const COMPONENT: &str = "dynamo_component";
pub const WORKER_ID: &str = "worker_id";

/// Workers one page (or one Prometheus poll) may describe. A process's page has one or a
/// few, a deployment thousands; series of workers beyond this are skipped and counted
/// (it bounds a hostile page of 300k one-series workers to ~100 MB).
pub const MAX_WORKERS: usize = 50_000;
/// A line longer than this is not a Prometheus sample (Dynamo's are ~200 bytes); it is
/// skipped without being kept.
pub const MAX_LINE: usize = 64 << 10;

/// Which worker a series belongs to. `worker_id` is the instance id in hex as Dynamo
/// prints it (empty when the series has none).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WorkerKey {
    pub namespace: String,
    pub component: String,
    pub worker_id: String,
}

/// One worker's series, summed over its endpoints (raw counter values, not rates).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorkerSeries {
    pub requests: Reading<f64>,
    pub inflight: Reading<f64>,
    /// [`normalize`]d.
    pub duration: Reading<Buckets>,
    pub errors: Reading<f64>,
    pub kv_usage: Reading<f64>,
}

/// A frontend's series, summed over models and labels.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FrontendSeries {
    pub requests: Reading<f64>,
    /// `requests_total{status="error"}`; absent when no series has a `status` label.
    pub errors: Reading<f64>,
    pub inflight: Reading<f64>,
    pub queued: Reading<f64>,
    pub ttft: Reading<Buckets>,
    pub itl: Reading<Buckets>,
    pub duration: Reading<Buckets>,
}

/// What one `/metrics` page says.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Parsed {
    pub workers: BTreeMap<WorkerKey, WorkerSeries>,
    /// `dynamo_component_uptime_seconds` per `worker_id`.
    pub uptime: HashMap<String, f64>,
    /// Present when the page has any `dynamo_frontend_` series.
    pub frontend: Option<FrontendSeries>,
    /// Sample lines read.
    pub samples: usize,
    /// Values left out as implausible.
    pub malformed: Tally,
    /// Series left out: their worker was beyond [`MAX_WORKERS`].
    pub skipped: u64,
}

/// Parses a whole page at once (see [`PageParser`]).
pub fn parse(text: &str) -> Result<Parsed, String> {
    let mut p = PageParser::default();
    p.feed(text.as_bytes());
    p.finish()
}

/// A `/metrics` page read as it arrives: [`feed`](Self::feed) each chunk, then
/// [`finish`](Self::finish). Linear in the bytes; keeps only the partial last line and the
/// reduced series.
#[derive(Default)]
pub struct PageParser {
    out: Parsed,
    /// Workers in the order first seen, found by [`key_bytes`].
    workers: Vec<(WorkerKey, WorkerSeries)>,
    index: HashMap<Box<[u8]>, u32>,
    scratch: Vec<u8>,
    /// The last sample's worker: its key (as [`key_bytes`]) and index. A page that lists a
    /// worker's series together finds it again without hashing.
    last: Option<(Vec<u8>, u32)>,
    /// The start of a line whose end has not arrived yet.
    partial: Vec<u8>,
    /// Inside a line longer than [`MAX_LINE`]: dropping bytes up to its end.
    skipping: bool,
    /// Lines that were neither comments nor samples.
    unreadable: usize,
}

impl PageParser {
    pub fn feed(&mut self, mut chunk: &[u8]) {
        if self.skipping {
            match memchr::memchr(b'\n', chunk) {
                Some(i) => {
                    chunk = &chunk[i + 1..];
                    self.skipping = false;
                }
                None => return,
            }
        }
        if !self.partial.is_empty() {
            match memchr::memchr(b'\n', chunk) {
                Some(i) => {
                    let mut line = std::mem::take(&mut self.partial);
                    line.extend_from_slice(&chunk[..i]);
                    self.line(&line);
                    line.clear();
                    self.partial = line;
                    chunk = &chunk[i + 1..];
                }
                None => {
                    self.keep_partial(chunk);
                    return;
                }
            }
        }
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', chunk) {
            self.line(&chunk[start..end]);
            start = end + 1;
        }
        self.keep_partial(&chunk[start..]);
    }

    fn keep_partial(&mut self, rest: &[u8]) {
        if self.partial.len() + rest.len() > MAX_LINE {
            self.partial = Vec::new();
            self.skipping = true;
            self.unreadable += 1;
        } else {
            self.partial.extend_from_slice(rest);
        }
    }

    /// The page as read. An answer with lines but not one sample in them is an error (an
    /// HTML page, garbage); unknown series are ignored.
    pub fn finish(mut self) -> Result<Parsed, String> {
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.line(&line);
        }
        let mut out = self.out;
        if out.samples == 0 && self.unreadable > 0 {
            return Err(format!(
                "not the Prometheus text format ({} lines, no sample)",
                self.unreadable
            ));
        }
        for (key, w) in &mut self.workers {
            finish_hist(&mut w.duration, &mut out.malformed, || {
                format!("{DURATION} of {}", show_key(key))
            });
        }
        if let Some(fe) = &mut out.frontend {
            for (h, name) in [
                (&mut fe.ttft, FE_TTFT),
                (&mut fe.itl, FE_ITL),
                (&mut fe.duration, FE_DURATION),
            ] {
                finish_hist(h, &mut out.malformed, || name.to_string());
            }
        }
        out.workers = self.workers.into_iter().collect();
        Ok(out)
    }

    fn line(&mut self, line: &[u8]) {
        let line = trim(line);
        if line.is_empty() || line[0] == b'#' {
            return;
        }
        let Some(s) = sample(line) else {
            self.unreadable += 1;
            if line.starts_with(b"dynamo_") {
                self.out.malformed.note(|| {
                    format!(
                        "unreadable line {:?}",
                        String::from_utf8_lossy(&line[..line.len().min(120)])
                    )
                });
            }
            return;
        };
        self.out.samples += 1;
        let name = s.name;
        if let Some(base) = name.strip_suffix("_bucket")
            && matches!(base, DURATION | FE_TTFT | FE_ITL | FE_DURATION)
        {
            self.bucket(base, &s);
            return;
        }
        if name == UPTIME {
            if let Some(id) = s.worker_id.as_deref() {
                // An uptime only decides resets: any finite, non-negative time will do.
                if s.value.is_finite() && s.value >= 0.0 {
                    if self.out.uptime.len() < MAX_WORKERS || self.out.uptime.contains_key(id) {
                        self.out.uptime.insert(id.to_string(), s.value);
                    }
                } else {
                    let v = s.value;
                    self.out
                        .malformed
                        .note(|| format!("{UPTIME} of worker {id} = {}: not a time", num(v)));
                }
            }
            return;
        }
        if let Some(rest) = name.strip_prefix("dynamo_frontend_") {
            let (field, kind) = match rest {
                "requests_total" => (0, Kind::Count),
                "inflight_requests" => (1, Kind::Count),
                "queued_requests" => (2, Kind::Count),
                _ => return,
            };
            let fe = self
                .out
                .frontend
                .get_or_insert_with(FrontendSeries::default);
            let x = s.value;
            let slot = match field {
                0 => {
                    if let Some(st) = s.status.as_deref() {
                        if fe.errors.is_absent() {
                            fe.errors = Reading::Value(0.0);
                        }
                        if st == "error" {
                            fe.errors.add(kind, x);
                        }
                    }
                    &mut fe.requests
                }
                1 => &mut fe.inflight,
                _ => &mut fe.queued,
            };
            slot.add(kind, x);
            if !kind.plausible(x) {
                self.out
                    .malformed
                    .note(|| format!("{name} = {}: {}", num(x), kind.expected()));
            }
            return;
        }
        if !name.starts_with("dynamo_component_") {
            return;
        }
        let Some(i) = self.worker(&s) else { return };
        let (key, w) = &mut self.workers[i];
        let (slot, kind, max) = match name {
            REQUESTS => (&mut w.requests, Kind::Count, false),
            INFLIGHT => (&mut w.inflight, Kind::Count, false),
            ERRORS => (&mut w.errors, Kind::Count, false),
            n if KV_USAGE.contains(&n) => (&mut w.kv_usage, Kind::Fraction, true),
            _ => return,
        };
        let x = s.value;
        if max {
            slot.max(kind, x);
        } else {
            slot.add(kind, x);
        }
        if !kind.plausible(x) {
            self.out.malformed.note(|| {
                format!(
                    "{name} of {} = {}: {}",
                    show_key(key),
                    num(x),
                    kind.expected()
                )
            });
        }
    }

    /// One bucket of a histogram dynamo-ctl shows.
    fn bucket(&mut self, base: &str, s: &Sample) {
        let le =
            s.le.as_deref()
                .map(str::trim)
                .and_then(|l| l.parse::<f64>().ok());
        let ok = le.is_some_and(|l| !l.is_nan()) && Kind::Count.plausible(s.value);
        let (slot, key) = if base == DURATION {
            let Some(i) = self.worker(s) else { return };
            let (key, w) = &mut self.workers[i];
            (&mut w.duration, Some(&*key))
        } else {
            let fe = self
                .out
                .frontend
                .get_or_insert_with(FrontendSeries::default);
            let slot = match base {
                FE_TTFT => &mut fe.ttft,
                FE_ITL => &mut fe.itl,
                _ => &mut fe.duration,
            };
            (slot, None)
        };
        match (ok, &mut *slot, le) {
            (true, Reading::Value(b), Some(le)) => b.push((le, s.value)),
            (true, Reading::Absent, Some(le)) => *slot = Reading::Value(vec![(le, s.value)]),
            (true, Reading::Malformed, _) => {}
            _ => {
                *slot = Reading::Malformed;
                let (v, le) = (s.value, s.le.as_deref().unwrap_or("(none)"));
                let of = key
                    .map(|k| format!(" of {}", show_key(k)))
                    .unwrap_or_default();
                self.out.malformed.note(|| {
                    format!(
                        "{base}_bucket{of} le={le:?} = {}: bad bound or count",
                        num(v)
                    )
                });
            }
        }
    }

    /// The index of the sample's worker, added when new; `None` without the namespace and
    /// component labels, or when the page already has [`MAX_WORKERS`] others.
    fn worker(&mut self, s: &Sample) -> Option<usize> {
        let (ns, comp) = (s.namespace.as_deref()?, s.component.as_deref()?);
        let id = s.worker_id.as_deref().unwrap_or("");
        key_bytes(&mut self.scratch, ns, comp, id);
        if let Some((key, i)) = &self.last
            && *key == self.scratch
        {
            return Some(*i as usize);
        }
        if let Some(&i) = self.index.get(self.scratch.as_slice()) {
            self.remember(i);
            return Some(i as usize);
        }
        if self.workers.len() >= MAX_WORKERS {
            self.out.skipped = self.out.skipped.saturating_add(1);
            return None;
        }
        let i = self.workers.len();
        self.index
            .insert(self.scratch.clone().into_boxed_slice(), i as u32);
        self.remember(i as u32);
        self.workers.push((
            WorkerKey {
                namespace: ns.to_string(),
                component: comp.to_string(),
                worker_id: id.to_string(),
            },
            WorkerSeries::default(),
        ));
        Some(i)
    }

    /// Makes worker `i`, whose key is in `scratch`, the last one seen.
    fn remember(&mut self, i: u32) {
        let (key, at) = self.last.get_or_insert_with(|| (Vec::new(), 0));
        key.clear();
        key.extend_from_slice(&self.scratch);
        *at = i;
    }
}

/// An unambiguous byte key for a worker: each part preceded by its length.
pub(super) fn key_bytes(buf: &mut Vec<u8>, ns: &str, comp: &str, id: &str) {
    buf.clear();
    for part in [ns, comp, id] {
        buf.extend_from_slice(&(part.len() as u64).to_le_bytes());
        buf.extend_from_slice(part.as_bytes());
    }
}

/// `ns/component/worker` for a note.
pub(super) fn show_key(k: &WorkerKey) -> String {
    format!("{}/{}/{}", k.namespace, k.component, k.worker_id)
}

/// A number for a note: short whatever its size (`1e300`, never 300 digits).
pub(super) fn num(x: f64) -> String {
    if x.is_finite() && x.abs() < 1e6 {
        format!("{x}")
    } else {
        format!("{x:e}")
    }
}

/// Sorts and merges a histogram's buckets read one by one; more than [`MAX_BUCKETS`]
/// bounds (or none of them `+Inf`-capable) makes it malformed.
fn finish_hist(h: &mut Reading<Buckets>, tally: &mut Tally, what: impl FnOnce() -> String) {
    if let Reading::Value(b) = h {
        normalize(b);
        if b.len() > MAX_BUCKETS {
            let n = b.len();
            *h = Reading::Malformed;
            tally.note(|| format!("{}: {n} bucket bounds (at most {MAX_BUCKETS})", what()));
        } else {
            b.shrink_to_fit();
        }
    }
}

/// One sample line, reduced to what dynamo-ctl reads.
#[derive(Debug, Default)]
struct Sample<'a> {
    name: &'a str,
    namespace: Option<Cow<'a, str>>,
    component: Option<Cow<'a, str>>,
    worker_id: Option<Cow<'a, str>>,
    le: Option<Cow<'a, str>>,
    status: Option<Cow<'a, str>>,
    value: f64,
}

fn trim(mut b: &[u8]) -> &[u8] {
    while let [b' ' | b'\t' | b'\r', rest @ ..] = b {
        b = rest;
    }
    while let [rest @ .., b' ' | b'\t' | b'\r'] = b {
        b = rest;
    }
    b
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t') {
        i += 1;
    }
    i
}

/// Byte classes of the text format, looked up (a page is scanned byte by byte):
/// [`NAME`] a metric name's letters, digits, `_` and `:`; [`LABEL`] a label name's (no
/// `:`); [`START`] what starts a metric name (no digit).
const NAME: u8 = 1;
const LABEL: u8 = 2;
const START: u8 = 4;
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        if b.is_ascii_alphabetic() || b == b'_' {
            t[c] = NAME | LABEL | START;
        } else if b.is_ascii_digit() {
            t[c] = NAME | LABEL;
        } else if b == b':' {
            t[c] = NAME | START;
        }
        c += 1;
    }
    t
};

/// The end of the run of bytes of `class` in `b` from `i`.
fn scan(b: &[u8], i: usize, class: u8) -> usize {
    b.get(i..)
        .and_then(|rest| rest.iter().position(|&c| CLASS[c as usize] & class == 0))
        .map_or(b.len(), |n| i + n)
}

/// `name[{label="value",...}] value [timestamp]`; `None` when the line is not that.
fn sample(b: &[u8]) -> Option<Sample<'_>> {
    if CLASS[*b.first()? as usize] & START == 0 {
        return None;
    }
    let mut i = scan(b, 1, NAME);
    // ASCII by construction.
    let mut s = Sample {
        name: std::str::from_utf8(&b[..i]).ok()?,
        ..Sample::default()
    };
    i = skip_ws(b, i);
    if b.get(i) == Some(&b'{') {
        i += 1;
        loop {
            i = skip_ws(b, i);
            match b.get(i)? {
                b'}' => {
                    i += 1;
                    break;
                }
                b',' => {
                    i += 1;
                    continue;
                }
                _ => {}
            }
            let start = i;
            i = scan(b, i, LABEL);
            let label = &b[start..i];
            if label.is_empty() {
                return None;
            }
            i = skip_ws(b, i);
            if b.get(i) != Some(&b'=') {
                return None;
            }
            i = skip_ws(b, i + 1);
            if b.get(i) != Some(&b'"') {
                return None;
            }
            i += 1;
            let vstart = i;
            let mut escaped = false;
            loop {
                i += memchr::memchr2(b'"', b'\\', b.get(i..)?)?;
                if b[i] == b'"' {
                    break;
                }
                escaped = true;
                i += 2;
            }
            let raw = b.get(vstart..i)?;
            i += 1;
            let slot = match label {
                b"dynamo_namespace" => &mut s.namespace,
                b"dynamo_component" => &mut s.component,
                b"worker_id" => &mut s.worker_id,
                b"le" => &mut s.le,
                b"status" => &mut s.status,
                _ => continue,
            };
            *slot = Some(if escaped {
                Cow::Owned(unescape(raw))
            } else {
                String::from_utf8_lossy(raw)
            });
        }
    }
    let i = skip_ws(b, i);
    let end = b[i..]
        .iter()
        .position(|&c| c == b' ' || c == b'\t')
        .map_or(b.len(), |n| i + n);
    let v = std::str::from_utf8(&b[i..end]).ok()?;
    if v.is_empty() {
        return None;
    }
    s.value = v.parse::<f64>().ok()?;
    Some(s)
}

/// A label value's escapes: `\\`, `\"`, `\n`.
fn unescape(raw: &[u8]) -> String {
    let mut out = Vec::with_capacity(raw.len());
    let mut it = raw.iter();
    while let Some(&c) = it.next() {
        if c == b'\\' {
            match it.next() {
                Some(b'n') => out.push(b'\n'),
                Some(&o) => out.push(o),
                None => out.push(b'\\'),
            }
        } else {
            out.push(c);
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
#[path = "expo_tests.rs"]
mod tests;
