//! Scoring values into bins 1..=bins (SPEC §9). Values are compared through a
//! "better" ordering (`Greater` = better), so recency (fewer days is better),
//! frequency and exact-rational monetary values share one implementation.

use std::cmp::Ordering;

/// `method="quantile"`: score = floor(bins · (number strictly worse) / n) + 1, so equal
/// values share a score. SQL: `floor(bins*(rank() over (order by x) - 1)/count(*) over ()) + 1`.
pub fn quantile_scores(n: usize, bins: u32, better: impl Fn(usize, usize) -> Ordering) -> Vec<u32> {
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_unstable_by(|&a, &b| better(a, b));
    let mut scores = vec![0; n];
    let mut start = 0;
    while start < n {
        let mut end = start + 1;
        while end < n && better(order[start], order[end]) == Ordering::Equal {
            end += 1;
        }
        let score = (bins as u64 * start as u64 / n as u64) as u32 + 1;
        for &i in &order[start..end] {
            scores[i] = score;
        }
        start = end;
    }
    scores
}

/// [`quantile_scores`] for values with a plain order (higher is better): sorts
/// `(value, index)` pairs directly, which is faster than sorting indices through a
/// comparator, then gives each run of equal values the score of its first position.
pub fn quantile_scores_of<K: Ord + Copy>(values: &[K], bins: u32) -> Vec<u32> {
    let mut pairs: Vec<(K, u32)> = values.iter().enumerate().map(|(i, v)| (*v, i as u32)).collect();
    pairs.sort_unstable();
    let n = values.len() as u64;
    let mut scores = vec![0; values.len()];
    let mut start = 0;
    for (position, (value, index)) in pairs.iter().enumerate() {
        if *value != pairs[start].0 {
            start = position;
        }
        scores[*index as usize] = (bins as u64 * start as u64 / n) as u32 + 1;
    }
    scores
}

/// `method="ntile"`: SQL `NTILE(bins)` over the values ordered worst first, ties broken
/// by `tie_break` (the user id, ascending): the first `n mod bins` tiles hold one more.
pub fn ntile_scores(
    n: usize,
    bins: u32,
    better: impl Fn(usize, usize) -> Ordering,
    tie_break: impl Fn(usize, usize) -> Ordering,
) -> Vec<u32> {
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_unstable_by(|&a, &b| better(a, b).then_with(|| tie_break(a, b)));
    let bins = bins as usize;
    let (size, larger) = (n / bins, n % bins);
    let mut scores = vec![0; n];
    for (position, &i) in order.iter().enumerate() {
        let tile = if position < larger * (size + 1) {
            position / (size + 1)
        } else {
            larger + (position - larger * (size + 1)) / size.max(1)
        };
        scores[i] = tile as u32 + 1;
    }
    scores
}

/// `method="fixed"` for a dimension where higher is better: 1 + the number of
/// thresholds at or below the value (`at_least(i)` says whether value ≥ threshold i).
pub fn fixed_score(thresholds: usize, at_least: impl Fn(usize) -> bool) -> u32 {
    1 + (0..thresholds).filter(|&i| at_least(i)).count() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantile_ties_share_a_score() {
        let v = [10, 20, 20, 30, 40];
        let s = quantile_scores(5, 5, |a, b| v[a].cmp(&v[b]));
        assert_eq!(s, vec![1, 2, 2, 4, 5]);
    }

    #[test]
    fn plain_order_quantiles_equal_the_comparator_ones() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for n in [1usize, 2, 5, 17, 300] {
            let values: Vec<i64> = (0..n)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    (x % 9) as i64 - 4
                })
                .collect();
            for bins in [2, 3, 5, 9] {
                assert_eq!(
                    quantile_scores_of(&values, bins),
                    quantile_scores(n, bins, |a, b| values[a].cmp(&values[b]))
                );
            }
        }
    }

    #[test]
    fn ntile_matches_sql() {
        // NTILE(5) over 7 rows: tiles of 2,2,1,1,1.
        let v = [1, 2, 3, 4, 5, 6, 7];
        let s = ntile_scores(7, 5, |a, b| v[a].cmp(&v[b]), |a, b| a.cmp(&b));
        assert_eq!(s, vec![1, 1, 2, 2, 3, 4, 5]);
        // Fewer rows than tiles: 1, 2, 3.
        let s = ntile_scores(3, 5, |a, b| v[a].cmp(&v[b]), |a, b| a.cmp(&b));
        assert_eq!(s, vec![1, 2, 3]);
        // Ties broken by the tie-break.
        let w = [5, 5, 5, 5, 5];
        let s = ntile_scores(5, 5, |a, b| w[a].cmp(&w[b]), |a, b| b.cmp(&a));
        assert_eq!(s, vec![5, 4, 3, 2, 1]);
    }

    #[test]
    fn fixed_counts_thresholds_reached() {
        let t = [1.0, 2.0, 5.0, 10.0];
        assert_eq!(fixed_score(4, |i| 0.5 >= t[i]), 1);
        assert_eq!(fixed_score(4, |i| 2.0 >= t[i]), 3);
        assert_eq!(fixed_score(4, |i| 99.0 >= t[i]), 5);
    }
}
