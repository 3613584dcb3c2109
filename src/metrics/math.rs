//! The arithmetic of rates and quantiles, as Prometheus does it: a counter that went down
//! was reset, and its new value is the increase since the reset; quantiles come from
//! cumulative histogram buckets by linear interpolation (PromQL's `histogram_quantile`).

/// Cumulative histogram buckets: (upper bound `le`, count), any order; `+Inf` included.
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

/// The per-bucket increase of a histogram between two scrapes. Any bucket (or the total)
/// going down means a reset: the new buckets are the increase. Buckets are matched by
/// `le`; one only in `cur` counts from zero.
pub fn bucket_increase(prev: &[(f64, f64)], cur: &[(f64, f64)], reset: bool) -> Buckets {
    let prev_of = |le: f64| prev.iter().find(|(l, _)| same_le(*l, le)).map(|(_, c)| *c);
    let went_down = cur
        .iter()
        .any(|&(le, c)| prev_of(le).is_some_and(|p| c < p));
    cur.iter()
        .filter(|(le, c)| !le.is_nan() && c.is_finite())
        .map(|&(le, c)| {
            let p = if reset || went_down {
                0.0
            } else {
                prev_of(le).unwrap_or(0.0)
            };
            (le, (c - p).max(0.0))
        })
        .collect()
}

fn same_le(a: f64, b: f64) -> bool {
    a == b || (a.is_infinite() && b.is_infinite() && a.signum() == b.signum())
}

/// Adds `b` into `a`, bucket by bucket (matched by `le`; new bounds appended).
pub fn add_buckets(a: &mut Buckets, b: &[(f64, f64)]) {
    for &(le, c) in b {
        match a.iter_mut().find(|(l, _)| same_le(*l, le)) {
            Some(slot) => slot.1 += c,
            None => a.push((le, c)),
        }
    }
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
        add_buckets(&mut sum, &[(INF, 3.0), (0.5, 1.0)]);
        assert_eq!(sum, vec![(0.1, 1.0), (INF, 5.0), (0.5, 1.0)]);
    }
}
