//! The state of `lifecycle_stage` and `stage_transitions`: per user, the few activity
//! instants (µs UTC) that a stage as of any instant at or after a known lower bound
//! still needs, in one compact [`UserSets`].
//!
//! A stage reads the first instant and the *clusters* of the instants: the maximal runs
//! whose consecutive gaps are at most `tau = min(active_days, churn_days)`. Inside a
//! cluster no gap is long (`> churn_days`) and the silence after any instant of it is
//! under `tau`, so rules 2–4 only see cluster starts and ends. A user's set keeps, of
//! the instants `S`:
//!
//! ```text
//!  first   pred │ cut = floor − active_days                          latest
//!    ●  ·  ·  ● │  ●  ·  ·  ●  ·  ●        ●  ·  ●
//!    kept       │  the region at or after the cut, thinned to a chain whose
//!               │  consecutive kept instants are at most tau apart
//! ```
//!
//! - the first instant ever, and the latest instant before the cut (`pred`): a stage as
//!   of `A >= floor` never reads a gap that ends before `A − active_days`;
//! - at or after the cut, every cluster start and end, and enough instants between
//!   them that consecutive kept instants are at most `tau` apart.
//!
//! The kept set has the same clusters as `S` from `pred` on, so [`Thresholds::stage`]
//! over it equals the stage over `S` for every `A >= floor`. A union of kept sets keeps
//! the clusters of the union of the inputs (clusters coalesce by their intervals only),
//! so states merge by set union followed by the same thinning: exact, in any order.
//! `floor` is either known before the scan (an explicit instant) or the latest row
//! seen minus a fixed distance (D is at or after every row).

use serde::{Deserialize, Serialize};
use userops_core::{Events, UserRemap, UserSets};

use crate::activity::ActivityFilter;
use crate::stage::Thresholds;

/// Which instants a state keeps: rows after `cap` are left out, and every stage is
/// asked as of an instant at or after the floor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reach {
    /// Rows after this instant are not activity for the state (`None`: every row).
    pub cap: Option<i64>,
    /// The floor when known before the scan; `None`: the latest row seen minus `back`.
    pub floor: Option<i64>,
    /// With an unknown floor, how far before the latest row seen it is (µs).
    pub back: i64,
    /// The stage thresholds.
    pub thresholds: Thresholds,
}

/// The whole state is thinned once the inserts since the last thinning reach this many
/// and a quarter of the values it kept (amortized; the unthinned part stays small).
const MIN_ADDED: usize = 1 << 16;

/// Per user, the kept activity instants (see the module docs).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct StageInstants {
    sets: UserSets,
    /// The latest instant of any row seen: D is at or after it.
    latest: Option<i64>,
    /// Instants inserted since the last thinning.
    added: usize,
    /// Instants kept by the last thinning.
    kept: usize,
}

impl StageInstants {
    /// Folds the activity rows at or before the cap of one batch: each user's instants of
    /// the batch are thinned before they are inserted (the batch is a piece like any
    /// other), and the whole state is thinned once the inserts outnumber what it kept.
    pub fn update(&mut self, events: &Events, filter: &ActivityFilter, reach: &Reach) {
        if let Some(batch_latest) = events.ts.iter().copied().max() {
            self.latest = self.latest.max(Some(batch_latest));
        }
        let Some((cut, tau)) = self.cut(reach) else { return };
        let table = filter.table(events);
        let mut pairs: Vec<(u32, i64)> = (0..events.len())
            .filter(|&row| {
                reach.cap.is_none_or(|c| events.ts[row] <= c) && ActivityFilter::is_activity(&table, events, row)
            })
            .map(|row| (events.user[row], events.ts[row]))
            .collect();
        pairs.sort_unstable();
        pairs.dedup();
        let (mut values, mut kept) = (Vec::new(), Vec::new());
        for group in pairs.chunk_by(|a, b| a.0 == b.0) {
            values.clear();
            values.extend(group.iter().map(|&(_, t)| t));
            kept.clear();
            thin_user(&values, cut, tau, &mut kept);
            for &t in &kept {
                self.sets.insert(group[0].0, t);
            }
            self.added += kept.len();
        }
        if self.added >= MIN_ADDED.max(self.kept / 4) {
            self.thin(reach);
        }
    }

    /// Folds another state in.
    pub fn merge(&mut self, other: StageInstants, remap: &UserRemap, reach: &Reach) {
        self.latest = self.latest.max(other.latest);
        self.sets.merge_from(other.sets, remap);
        self.thin(reach);
    }

    /// Calls `f(user, kept)` for every user with activity, users ascending, instants
    /// sorted: the stage over `kept` as of any `A >= floor` is the user's stage.
    pub fn for_each(&mut self, f: impl FnMut(u32, &[i64])) {
        self.sets.for_each(f);
    }

    /// The cut (the floor minus `active_days`) and the cluster tolerance; `None` before
    /// any row when the floor is not known.
    fn cut(&self, reach: &Reach) -> Option<(i64, i64)> {
        let floor = reach.floor.or(self.latest.map(|l| l.saturating_sub(reach.back)))?;
        Some((floor.saturating_sub(reach.thresholds.window()), reach.thresholds.tolerance()))
    }

    /// Drops what no stage as of an instant at or after the floor can need.
    fn thin(&mut self, reach: &Reach) {
        let Some((cut, tau)) = self.cut(reach) else { return };
        let mut kept = 0;
        self.sets.retain(|_, values, out| {
            thin_user(values, cut, tau, out);
            kept += out.len();
        });
        self.added = 0;
        self.kept = kept;
    }
}

/// Thins one user's sorted distinct instants (non-empty) into `out`: the first one,
/// the latest one before `cut`, and from there a chain through the rest that keeps
/// every instant whose successor is more than `tau` after the last kept one (so every
/// cluster start and end, and consecutive kept instants at most `tau` apart).
pub fn thin_user(values: &[i64], cut: i64, tau: i64, out: &mut Vec<i64>) {
    let below = values.partition_point(|&t| t < cut);
    out.push(values[0]);
    if below >= 2 {
        out.push(values[below - 1]);
    }
    let rest = &values[below.max(1)..];
    let mut last = out[out.len() - 1];
    for (i, &t) in rest.iter().enumerate() {
        if rest.get(i + 1).is_none_or(|&next| next.saturating_sub(last) > tau) {
            out.push(t);
            last = t;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use userops_core::datasets::SplitMix64;
    use userops_core::time::MICROS_PER_DAY;

    const DAY: i64 = MICROS_PER_DAY;

    fn thinned(values: &[i64], cut: i64, tau: i64) -> Vec<i64> {
        let mut out = Vec::new();
        thin_user(values, cut, tau, &mut out);
        out
    }

    #[test]
    fn thinning_keeps_first_pred_and_a_chain() {
        // tau 10: 0 first, 20 pred (latest before the cut 25); 30 kept (35 − 20 > 10), 35
        // kept (45 − 30 > 10), 41 dropped (45 − 35 <= 10), 45 end, 70 start, 72 end.
        assert_eq!(thinned(&[0, 5, 20, 30, 35, 41, 45, 70, 72], 25, 10), vec![0, 20, 30, 35, 45, 70, 72]);
        assert_eq!(thinned(&[7], 25, 10), vec![7]);
        assert_eq!(thinned(&[7, 9], 25, 10), vec![7, 9]);
        assert_eq!(thinned(&[30, 31, 32, 33], 25, 10), vec![30, 33]);
        // tau 0: every distinct instant at or after the cut is a cluster of its own.
        assert_eq!(thinned(&[30, 31, 32], 0, 0), vec![30, 31, 32]);
    }

    /// The stage over all instants and over kept sets built from random pieces (each
    /// thinned with its own floor), merged in a random order, agree for every A >= floor.
    #[test]
    fn thinned_unions_give_the_stages_of_all_instants() {
        let mut rng = SplitMix64::new(7);
        for case in 0..3000 {
            let t = Thresholds {
                new_days: rng.below(5) as u32,
                active_days: rng.below(6) as u32,
                churn_days: rng.below(8) as u32,
            };
            let n = 1 + rng.below(14) as usize;
            let instants: Vec<i64> = (0..n).map(|_| rng.below(40) as i64 * DAY / 2 + rng.below(3) as i64).collect();
            let mut all = instants.clone();
            all.sort_unstable();
            all.dedup();
            let top = *all.last().unwrap();
            let floor_of = |latest: i64| latest - rng_back(case);
            // Pieces: each instant goes to one of three pieces, thinned with the floor its own latest allows.
            let mut pieces: Vec<Vec<i64>> = vec![Vec::new(); 3];
            for &v in &instants {
                pieces[rng.below(3) as usize].push(v);
            }
            let mut merged: Vec<i64> = Vec::new();
            let mut latest = i64::MIN;
            for piece in pieces.iter_mut().filter(|p| !p.is_empty()) {
                piece.sort_unstable();
                piece.dedup();
                let piece_latest = *piece.last().unwrap();
                let kept = thinned(piece, floor_of(piece_latest) - t.window(), t.tolerance());
                latest = latest.max(piece_latest);
                merged.extend(kept);
                merged.sort_unstable();
                merged.dedup();
                merged = thinned(&merged, floor_of(latest) - t.window(), t.tolerance());
            }
            let floor = floor_of(top);
            for a in (floor..floor + 12 * DAY).step_by((DAY / 4) as usize).chain([floor + 1, floor + DAY - 1]) {
                let upto = |v: &[i64]| v.iter().copied().filter(|&x| x <= a).collect::<Vec<_>>();
                let (full, kept) = (upto(&all), upto(&merged));
                assert_eq!(full.is_empty(), kept.is_empty(), "case {case}");
                if !full.is_empty() {
                    assert_eq!(
                        t.stage(full[0], &full, a),
                        t.stage(kept[0], &kept, a),
                        "case {case}: {t:?} all {all:?} kept {merged:?} at {a}"
                    );
                }
            }
        }
    }

    fn rng_back(case: usize) -> i64 {
        (case % 4) as i64 * 3 * DAY
    }
}
