//! Growth accounting (生命周期, SPEC §8): per period, new, returning, resurrecting and
//! dormant users, active users, quick ratio.
//!
//! The state is, per user, the set of local period indices in which the user was
//! active, in a compact [`UserSets`] (about a byte a period): exact, order-free, merged
//! by set union. At finish each user's set is read once:
//!
//! ```text
//!  periods  p0 ─ p1   p3 ─ p4          (p2 and p5.. without activity)
//!           new  ret  res  ret  dormant at p2 and at p5 (when p5 <= period(D))
//! ```

use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray};
use serde::{Deserialize, Serialize};
use userops_core::output::{rate, table};
use userops_core::{Events, FinishContext, Period, Result, UserRemap, UserSets};

use crate::activity::ActivityFilter;
use userops_core::time::LocalDays;

/// Parameters of `lifecycle`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LifecycleParams {
    /// `day`, `week` (ISO, Monday) or `month` (default).
    pub period: Period,
    /// Event names that count as activity; `None` (default) means any event.
    pub activity_events: Option<Vec<String>>,
}

impl Default for LifecycleParams {
    fn default() -> Self {
        LifecycleParams { period: Period::Month, activity_events: None }
    }
}

/// Per user, the sorted distinct local periods with activity.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ActivePeriods {
    users: UserSets,
}

impl ActivePeriods {
    /// Folds one batch: the period of each activity row, in zone `tz`.
    pub fn update(&mut self, events: &Events, filter: &ActivityFilter, period: Period, days: &mut LocalDays) {
        let table = filter.table(events);
        for row in 0..events.len() {
            if ActivityFilter::is_activity(&table, events, row) {
                self.users.insert(events.user[row], days.period(period, events.ts[row]) as i64);
            }
        }
    }

    /// Folds another state in (set union per user).
    pub fn merge(&mut self, other: ActivePeriods, remap: &UserRemap) {
        self.users.merge_from(other.users, remap);
    }

    /// Calls `f(user, periods)` for every user with activity, periods ascending.
    pub fn for_each(&mut self, f: impl FnMut(u32, &[i64])) {
        self.users.for_each(f);
    }
}

/// Counts of one period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    new: i64,
    returning: i64,
    resurrecting: i64,
    dormant: i64,
}

/// Adds one user's periods to `counts` (indexed by period − `first`), up to period `last`.
fn count_user(periods: &[i64], first: i32, last: i32, counts: &mut [Counts]) {
    for (i, &p) in periods.iter().enumerate() {
        let p = p as i32;
        if p > last {
            break; // cannot happen: rows after D are never scanned
        }
        let slot = &mut counts[(p - first) as usize];
        match i {
            0 => slot.new += 1,
            _ if periods[i - 1] == p as i64 - 1 => slot.returning += 1,
            _ => slot.resurrecting += 1,
        }
        let continues = periods.get(i + 1) == Some(&(p as i64 + 1));
        if !continues && p < last {
            counts[(p + 1 - first) as usize].dormant += 1;
        }
    }
}

/// The `lifecycle` table: `period, new, returning, resurrecting, dormant, active,
/// quick_ratio, complete` for every period from the first with activity to the period
/// of D (with a breakdown, `segment` first and every segment × every period).
pub fn lifecycle_table(
    mut state: ActivePeriods,
    params: &LifecycleParams,
    ctx: &FinishContext<'_>,
) -> Result<RecordBatch> {
    let tz = &ctx.scan.tz;
    let mut first: Option<i32> = None;
    state.for_each(|_, p| first = Some(first.map_or(p[0] as i32, |f| f.min(p[0] as i32))));
    let (first, last) = match (first, ctx.end) {
        (Some(f), Some(end)) => (f, params.period.index(end, tz)),
        _ => (0, -1), // no activity: no rows
    };
    let n = (last - first + 1).max(0) as usize;
    let complete_last = ctx.end.is_some_and(|end| params.period.is_complete(last, tz, end));
    // Groups: one per breakdown label (sorted), then users without a label.
    let labels = ctx.breakdown;
    let group_count = labels.map_or(1, |l| l.names.len() + 1);
    let mut counts = vec![vec![Counts::default(); n]; group_count];
    let mut has_users = vec![false; group_count];
    state.for_each(|user, periods| {
        let group = match labels {
            None => 0,
            Some(l) => l.label(user).and_then(|name| l.names.iter().position(|m| m == name)).unwrap_or(l.names.len()),
        };
        has_users[group] = true;
        count_user(periods, first, last, &mut counts[group]);
    });
    let mut groups: Vec<(Option<&str>, &[Counts])> = Vec::new();
    match labels {
        None => groups.push((None, &counts[0])),
        Some(l) => {
            for (g, name) in l.names.iter().enumerate() {
                groups.push((Some(name.as_str()), &counts[g]));
            }
            if has_users[l.names.len()] {
                groups.push((None, &counts[l.names.len()]));
            }
        }
    }
    let mut columns = Columns::default();
    for (segment, counts) in groups {
        for (i, c) in counts.iter().enumerate() {
            let p = first + i as i32;
            let active = c.new + c.returning + c.resurrecting;
            columns.segment.push(segment.map(str::to_string));
            columns.period.push(params.period.start_day(p));
            columns.new.push(c.new);
            columns.returning.push(c.returning);
            columns.resurrecting.push(c.resurrecting);
            columns.dormant.push(-c.dormant);
            columns.active.push(active);
            columns.quick_ratio.push(rate((c.new + c.resurrecting) as f64, c.dormant as f64));
            // Complete when fully observed: its last instant is at or before D (SPEC §1). The
            // period of D is therefore incomplete (SPEC §8), unless D is its very last
            // microsecond (`as_of` given as the bare date that ends it).
            columns.complete.push(p < last || complete_last);
        }
    }
    let mut out: Vec<(&str, ArrayRef)> = Vec::new();
    if labels.is_some() {
        out.push(("segment", Arc::new(StringArray::from(columns.segment))));
    }
    out.extend([
        ("period", Arc::new(Date32Array::from(columns.period)) as ArrayRef),
        ("new", Arc::new(Int64Array::from(columns.new))),
        ("returning", Arc::new(Int64Array::from(columns.returning))),
        ("resurrecting", Arc::new(Int64Array::from(columns.resurrecting))),
        ("dormant", Arc::new(Int64Array::from(columns.dormant))),
        ("active", Arc::new(Int64Array::from(columns.active))),
        ("quick_ratio", Arc::new(Float64Array::from(columns.quick_ratio))),
        ("complete", Arc::new(BooleanArray::from(columns.complete))),
    ]);
    table(out)
}

#[derive(Default)]
struct Columns {
    segment: Vec<Option<String>>,
    period: Vec<i32>,
    new: Vec<i64>,
    returning: Vec<i64>,
    resurrecting: Vec<i64>,
    dormant: Vec<i64>,
    active: Vec<i64>,
    quick_ratio: Vec<Option<f64>>,
    complete: Vec<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(users: &[&[i64]], first: i32, last: i32) -> Vec<(i64, i64, i64, i64)> {
        let mut c = vec![Counts::default(); (last - first + 1) as usize];
        for u in users {
            count_user(u, first, last, &mut c);
        }
        c.iter().map(|c| (c.new, c.returning, c.resurrecting, c.dormant)).collect()
    }

    #[test]
    fn growth_accounting_of_one_user() {
        // Active in 0, 1, 3, 4; D in period 6.
        assert_eq!(
            counts(&[&[0, 1, 3, 4]], 0, 6),
            vec![(1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 0, 1), (0, 0, 1, 0), (0, 1, 0, 0), (0, 0, 0, 1), (0, 0, 0, 0)]
        );
    }

    #[test]
    fn only_in_the_first_period_is_new_then_dormant_once() {
        assert_eq!(counts(&[&[0]], 0, 2), vec![(1, 0, 0, 0), (0, 0, 0, 1), (0, 0, 0, 0)]);
        // Active in the period of D: never dormant there or after.
        assert_eq!(counts(&[&[0, 1]], 0, 1), vec![(1, 0, 0, 0), (0, 1, 0, 0)]);
    }

    #[test]
    fn a_period_with_no_activity_has_only_dormant_users() {
        assert_eq!(counts(&[&[0, 2], &[0]], 0, 2), vec![(2, 0, 0, 0), (0, 0, 0, 2), (0, 0, 1, 0)]);
        assert_eq!(counts(&[&[0]], 0, 3)[2..], [(0, 0, 0, 0), (0, 0, 0, 0)]);
    }
}
