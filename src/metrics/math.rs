//! The arithmetic of rates and quantiles, as Prometheus does it: a counter that went down
//! was reset, and its new value is the increase since the reset; quantiles come from
//! cumulative histogram buckets by linear interpolation (PromQL's `histogram_quantile`).

/// Cumulative histogram buckets: (upper bound `le`, count), `+Inf` included; sorted by `le`
/// with one entry per bound once [`normalize`]d.
pub type Buckets = Vec<(f64, f64)>;

/// The increase of a counter from `prev` to `cur`. A decrease means the counter was reset
/// (the process restarted): the increase is then `cur` itself. `reset` forces that (e.g.
/// the process's uptime went down). Never negative; `None` for non-finite input.
pub fn increase(prev: f64, cur: f64, reset: bool) -> Option<f64> {
    if !prev.is_finite() || !cur.is_finite() || cur < 0.0 {
        return None;
    }
    if reset || cur < prev {
        Some(cur)
    } else {
        Some(cur - prev)
    }
}

/// The largest count (requests, in flight, queued) and rate taken as real: 2^53, where f64
/// stops holding every integer. Anything above is a broken or hostile exporter.
pub const MAX_COUNT: f64 = 9_007_199_254_740_992.0;
/// The longest request duration taken as real: a year.
pub const MAX_SECONDS: f64 = 365.0 * 24.0 * 3600.0;

/// What a number must look like to be shown. Values outside are *malformed*: left out,
/// counted per source, never printed as numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Counters, gauges of requests, rates: finite, `0..=`[`MAX_COUNT`].
    Count,
    /// KV-cache use: finite, `0..=1` (Dynamo's `gpu_cache_usage_percent` is a fraction,
    /// "GPU cache usage as a percentage (0.0-1.0)" in its `prometheus_names`).
    Fraction,
    /// Durations and uptimes: finite, `0..=`[`MAX_SECONDS`] (uptime: any finite `>= 0`).
    Seconds,
}

impl Kind {
    pub fn plausible(self, x: f64) -> bool {
        x.is_finite()
            && x >= 0.0
            && match self {
                Kind::Count => x <= MAX_COUNT,
                Kind::Fraction => x <= 1.0,
                Kind::Seconds => x <= MAX_SECONDS,
            }
    }

    /// Why a value of this kind was refused, for the source's note.
    pub fn expected(self) -> &'static str {
        match self {
            Kind::Count => "not a count (finite, 0 to 2^53)",
            Kind::Fraction => "not a fraction (0 to 1)",
            Kind::Seconds => "not a duration (0 to a year)",
        }
    }
}

/// One number (or histogram) as a source gave it: not given, a plausible value, or
/// malformed (given, but not a value of its [`Kind`]: left out and shown as such).
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Reading<T> {
    #[default]
    Absent,
    Value(T),
    Malformed,
}

impl<T> Reading<T> {
    pub fn value(&self) -> Option<&T> {
        match self {
            Reading::Value(v) => Some(v),
            _ => None,
        }
    }

    pub fn is_malformed(&self) -> bool {
        matches!(self, Reading::Malformed)
    }

    pub fn is_absent(&self) -> bool {
        matches!(self, Reading::Absent)
    }
}

impl Reading<f64> {
    /// `x` checked as a `kind`.
    pub fn of(kind: Kind, x: f64) -> Reading<f64> {
        if kind.plausible(x) {
            Reading::Value(x)
        } else {
            Reading::Malformed
        }
    }

    /// From an optional value, checked.
    pub fn checked(kind: Kind, x: Option<f64>) -> Reading<f64> {
        x.map_or(Reading::Absent, |x| Reading::of(kind, x))
    }

    pub fn get(&self) -> Option<f64> {
        self.value().copied()
    }

    /// Adds a checked `x` (a sum over endpoints or series): malformed once any part is.
    pub fn add(&mut self, kind: Kind, x: f64) {
        *self = match (&*self, Reading::of(kind, x)) {
            (Reading::Malformed, _) | (_, Reading::Malformed) => Reading::Malformed,
            (Reading::Absent, r) => r,
            (Reading::Value(a), Reading::Value(b)) => Reading::of(kind, a + b),
            (Reading::Value(a), Reading::Absent) => Reading::Value(*a),
        };
    }

    /// Keeps the largest (KV use of several series of one worker).
    pub fn max(&mut self, kind: Kind, x: f64) {
        *self = match (&*self, Reading::of(kind, x)) {
            (Reading::Malformed, _) | (_, Reading::Malformed) => Reading::Malformed,
            (Reading::Value(a), Reading::Value(b)) => Reading::Value(a.max(b)),
            (_, r) => r,
        };
    }
}

/// Distinct bucket bounds a histogram may have: more is not a request-duration histogram
/// (Prometheus' defaults have 11, Dynamo's 10-20) but a broken or hostile exporter, and the
/// histogram is then malformed. Every merge below is linear, so this only bounds memory.
pub const MAX_BUCKETS: usize = 4096;

/// Sorts buckets by `le` and adds up the counts of equal bounds, in place (`O(n log n)`);
/// `NaN` bounds go. Every other function here takes buckets in this form.
pub fn normalize(b: &mut Buckets) {
    b.retain(|(le, _)| !le.is_nan());
    b.sort_by(|x, y| x.0.total_cmp(&y.0));
    b.dedup_by(|next, kept| {
        if same_le(next.0, kept.0) {
            kept.1 += next.1;
            true
        } else {
            false
        }
    });
}

/// The per-bucket increase of a histogram between two scrapes (both [`normalize`]d; the
/// result is too). Any bucket going down means a reset: the new buckets are the increase.
/// Buckets are matched by `le` (one walk over both); one only in `cur` counts from zero.
pub fn bucket_increase(prev: &[(f64, f64)], cur: &[(f64, f64)], reset: bool) -> Buckets {
    // Each bucket of `cur` with its previous count (if `prev` has that bound).
    let mut paired = Vec::with_capacity(cur.len());
    let mut j = 0;
    for &(le, c) in cur {
        while j < prev.len() && prev[j].0.total_cmp(&le).is_lt() && !same_le(prev[j].0, le) {
            j += 1;
        }
        let p = prev
            .get(j)
            .filter(|(l, _)| same_le(*l, le))
            .map(|(_, c)| *c);
        paired.push((le, c, p));
    }
    let went_down = paired.iter().any(|&(_, c, p)| p.is_some_and(|p| c < p));
    paired
        .into_iter()
        .filter(|(le, c, _)| !le.is_nan() && c.is_finite())
        .map(|(le, c, p)| {
            let p = if reset || went_down {
                0.0
            } else {
                p.unwrap_or(0.0)
            };
            (le, (c - p).max(0.0))
        })
        .collect()
}

fn same_le(a: f64, b: f64) -> bool {
    a == b || (a.is_infinite() && b.is_infinite() && a.signum() == b.signum())
}

/// Adds `b` into `a`, bucket by bucket (both [`normalize`]d, and `a` stays so): one sorted
/// merge, linear in both lengths.
pub fn add_buckets(a: &mut Buckets, b: &[(f64, f64)]) {
    if b.is_empty() {
        return;
    }
    if a.is_empty() {
        a.extend_from_slice(b);
        return;
    }
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (x, y) = (a[i], b[j]);
        if same_le(x.0, y.0) {
            out.push((x.0, x.1 + y.1));
            i += 1;
            j += 1;
        } else if x.0.total_cmp(&y.0).is_lt() {
            out.push(x);
            i += 1;
        } else {
            out.push(y);
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    *a = out;
}

/// The `q`-quantile (0..=1) of cumulative buckets, exactly as PromQL's
/// `histogram_quantile`: buckets sorted by `le`, counts made monotonic, the rank found by
/// linear interpolation within its bucket (the first bucket starts at 0 when its bound is
/// positive); a rank in the `+Inf` bucket gives the highest finite bound. `None` when there
/// are no observations, fewer than two buckets, or no `+Inf` bucket.
pub fn quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    if !(0.0..=1.0).contains(&q) {
        return None;
    }
    let mut b: Vec<(f64, f64)> = buckets
        .iter()
        .copied()
        .filter(|(le, c)| !le.is_nan() && !c.is_nan())
        .collect();
    b.sort_by(|x, y| x.0.total_cmp(&y.0));
    b.dedup_by(|next, kept| {
        if same_le(next.0, kept.0) {
            kept.1 += next.1;
            true
        } else {
            false
        }
    });
    if b.len() < 2 || b.last().is_none_or(|(le, _)| *le != f64::INFINITY) {
        return None;
    }
    // Monotonic, as PromQL's ensureMonotonic.
    let mut max = f64::NEG_INFINITY;
    for (_, c) in b.iter_mut() {
        if *c < max {
            *c = max;
        }
        max = *c;
    }
    let total = b.last()?.1;
    if total.is_nan() || total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let i = b
        .iter()
        .position(|(_, c)| *c >= rank)
        .unwrap_or(b.len() - 1);
    if i == b.len() - 1 {
        return Some(b[b.len() - 2].0);
    }
    let (end, count) = b[i];
    if i == 0 && end <= 0.0 {
        return Some(end);
    }
    let (start, below) = if i == 0 { (0.0, 0.0) } else { b[i - 1] };
    let in_bucket = count - below;
    if in_bucket <= 0.0 {
        return Some(end);
    }
    Some(start + (end - start) * (rank - below) / in_bucket)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INF: f64 = f64::INFINITY;

    #[test]
    fn counter_increase_and_resets() {
        assert_eq!(increase(10.0, 25.0, false), Some(15.0));
        assert_eq!(increase(10.0, 10.0, false), Some(0.0));
        // Went down: reset, the new value is the increase since.
        assert_eq!(increase(100.0, 7.0, false), Some(7.0));
        // Uptime went down though the counter is higher: still a reset.
        assert_eq!(increase(10.0, 25.0, true), Some(25.0));
        assert_eq!(increase(f64::NAN, 1.0, false), None);
        assert_eq!(increase(1.0, INF, false), None);
        assert_eq!(increase(1.0, -1.0, false), None);
    }

    #[test]
    fn quantile_like_promql() {
        // 100 observations: 50 <= 0.1, 40 in (0.1, 0.5], 10 in (0.5, 1].
        let b = vec![(0.1, 50.0), (0.5, 90.0), (1.0, 100.0), (INF, 100.0)];
        assert_eq!(quantile(0.5, &b), Some(0.1));
        // rank 95: in (0.5, 1], 5 of 10 -> 0.75.
        assert!((quantile(0.95, &b).unwrap() - 0.75).abs() < 1e-12);
        // rank 25 in the first bucket, from 0: 0.05.
        assert!((quantile(0.25, &b).unwrap() - 0.05).abs() < 1e-12);
        // Unsorted input is sorted first.
        let mut r = b.clone();
        r.reverse();
        assert_eq!(quantile(0.95, &r), quantile(0.95, &b));
        // A rank in +Inf: the highest finite bound.
        let tail = vec![(0.1, 1.0), (1.0, 2.0), (INF, 10.0)];
        assert_eq!(quantile(0.95, &tail), Some(1.0));
        // No observations, no +Inf, one bucket: none.
        assert_eq!(quantile(0.5, &[(0.1, 0.0), (INF, 0.0)]), None);
        assert_eq!(quantile(0.5, &[(0.1, 1.0), (1.0, 2.0)]), None);
        assert_eq!(quantile(0.5, &[(INF, 3.0)]), None);
        assert_eq!(quantile(1.5, &b), None);
        // Non-monotonic counts are made monotonic.
        let bumpy = vec![(0.1, 5.0), (0.5, 3.0), (1.0, 10.0), (INF, 10.0)];
        assert!(quantile(0.5, &bumpy).unwrap() <= 0.5);
        // A first bucket with a bound <= 0 answers that bound.
        assert_eq!(
            quantile(0.1, &[(0.0, 5.0), (1.0, 10.0), (INF, 10.0)]),
            Some(0.0)
        );
        // Hostile: NaN/inf everywhere never panics.
        let _ = quantile(
            0.5,
            &[(f64::NAN, 1.0), (INF, f64::NAN), (-INF, 3.0), (INF, INF)],
        );
    }

    #[test]
    fn bucket_deltas() {
        let prev = vec![(0.1, 5.0), (1.0, 8.0), (INF, 10.0)];
        let cur = vec![(0.1, 7.0), (1.0, 12.0), (INF, 15.0)];
        assert_eq!(
            bucket_increase(&prev, &cur, false),
            vec![(0.1, 2.0), (1.0, 4.0), (INF, 5.0)]
        );
        // A bucket went down: reset, the new counts are the increase.
        let after_reset = vec![(0.1, 1.0), (1.0, 1.0), (INF, 2.0)];
        assert_eq!(bucket_increase(&prev, &after_reset, false), after_reset);
        assert_eq!(bucket_increase(&prev, &cur, true), cur);
        let mut sum = vec![(0.1, 1.0), (INF, 2.0)];
        add_buckets(&mut sum, &[(0.5, 1.0), (INF, 3.0)]);
        assert_eq!(sum, vec![(0.1, 1.0), (0.5, 1.0), (INF, 5.0)]);
        // Bounds only in one side, and -0 meeting 0.
        let mut a = vec![(-0.0, 1.0), (2.0, 2.0)];
        add_buckets(&mut a, &[(0.0, 1.0), (1.0, 1.0), (3.0, 1.0)]);
        assert_eq!(a, vec![(-0.0, 2.0), (1.0, 1.0), (2.0, 2.0), (3.0, 1.0)]);
        // A bound new in `cur`: counts from zero; one gone: ignored.
        let prev = vec![(0.1, 5.0), (0.2, 6.0), (INF, 10.0)];
        let cur = vec![(0.1, 6.0), (0.15, 1.0), (INF, 12.0)];
        assert_eq!(
            bucket_increase(&prev, &cur, false),
            vec![(0.1, 1.0), (0.15, 1.0), (INF, 2.0)]
        );
    }

    #[test]
    fn normalized_and_linear() {
        let mut b = vec![
            (INF, 3.0),
            (f64::NAN, 1.0),
            (1.0, 1.0),
            (0.5, 1.0),
            (1.0, 2.0),
        ];
        normalize(&mut b);
        assert_eq!(b, vec![(0.5, 1.0), (1.0, 3.0), (INF, 3.0)]);
        // 200k distinct bounds each way: one pass, where a search per bucket took minutes.
        let many: Buckets = (0..200_000).map(|i| (f64::from(i), 1.0)).collect();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut a = many.clone();
            add_buckets(&mut a, &many);
            let d = bucket_increase(&many, &a, false);
            let _ = tx.send((a.len(), d.len()));
        });
        let got = rx.recv_timeout(std::time::Duration::from_secs(60));
        assert_eq!(got, Ok((200_000, 200_000)));
    }

    #[test]
    fn plausibility() {
        for (k, ok, bad) in [
            (
                Kind::Count,
                &[0.0, 1.0, 1e15, MAX_COUNT][..],
                &[-1.0, -5e300, 1e300, MAX_COUNT * 2.0, f64::NAN, INF][..],
            ),
            (
                Kind::Fraction,
                &[0.0, 0.25, 1.0],
                &[1.0001, 1e300, -0.1, f64::NAN],
            ),
            (
                Kind::Seconds,
                &[0.0, 0.012, 3600.0],
                &[-1.0, 1e300, MAX_SECONDS * 2.0, INF],
            ),
        ] {
            for x in ok {
                assert!(k.plausible(*x), "{k:?} {x}");
            }
            for x in bad {
                assert!(!k.plausible(*x), "{k:?} {x}");
            }
        }
        let mut r = Reading::Absent;
        r.add(Kind::Count, 2.0);
        r.add(Kind::Count, 3.0);
        assert_eq!(r, Reading::Value(5.0));
        r.add(Kind::Count, -1.0);
        assert!(r.is_malformed());
        r.add(Kind::Count, 1.0);
        assert!(r.is_malformed());
        let mut m = Reading::Absent;
        m.max(Kind::Fraction, 0.2);
        m.max(Kind::Fraction, 0.1);
        assert_eq!(m.get(), Some(0.2));
        m.max(Kind::Fraction, 2.0);
        assert!(m.is_malformed());
    }
}
