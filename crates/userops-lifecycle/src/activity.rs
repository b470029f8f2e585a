//! What counts as activity, and the exact per-user summaries of it that the plugins of
//! this crate keep: sorted sets of active period indices or local days, and sorted
//! distinct activity instants pruned to what a stage can still need.

use serde::{Deserialize, Serialize};
use userops_core::time::{MICROS_PER_DAY, MICROS_PER_HOUR};
use userops_core::{Events, Period, Result, TimeZone, UserOpsError};

/// Which rows are activity: every row (`None`, the default) or the rows whose event
/// name is one of `activity_events` (a row with a null event name matches none).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActivityFilter {
    events: Option<Vec<String>>,
}

impl ActivityFilter {
    /// A filter from the `activity_events` parameter; an empty list is an error naming it.
    pub fn new(plugin: &str, events: &Option<Vec<String>>) -> Result<Self> {
        if let Some(list) = events {
            if list.is_empty() {
                return Err(UserOpsError::param(
                    plugin,
                    "activity_events",
                    "must name at least one event, or be null for any event",
                ));
            }
        }
        Ok(ActivityFilter { events: events.clone() })
    }

    /// Whether the filter reads event names (so the event column is required).
    pub fn needs_events(&self) -> bool {
        self.events.is_some()
    }

    /// A per-row test for one batch: `None` when every row is activity.
    pub fn table(&self, events: &Events) -> Option<Vec<bool>> {
        let names = self.events.as_ref()?;
        Some(events.event.as_ref().map(|e| e.membership(names)).unwrap_or_default())
    }

    /// Whether row `row` is activity, given the batch's [`ActivityFilter::table`].
    pub fn is_activity(table: &Option<Vec<bool>>, events: &Events, row: usize) -> bool {
        match (table, &events.event) {
            (None, _) => true,
            (Some(t), Some(e)) => e.is_member(t, row),
            (Some(_), None) => false,
        }
    }
}

/// Hours remembered by a [`LocalDays`] of a named zone (a direct-mapped table: about
/// 3.7 years of hours without a collision).
const CACHED_HOURS: usize = 1 << 15;

/// Local calendar days of instants in one zone, fast for any row order: the zone's
/// offset is looked up once per UTC hour and remembered in a direct-mapped table (an
/// hour in which the offset changes is never remembered), so a named zone costs little
/// more than UTC. Exact: always the day of [`TimeZone::local_day`]. A state keeps one
/// for its whole life (it is not part of the serialized state).
#[derive(Debug, Clone)]
pub struct LocalDays {
    tz: TimeZone,
    fixed: Option<i64>,
    /// `hours[i]` is the UTC hour whose offset is `offsets[i]` (`i64::MIN` when empty).
    hours: Vec<i64>,
    offsets: Vec<i64>,
    day: i32,
    period: Option<(Period, i32)>,
}

impl LocalDays {
    /// A lookup for zone `tz`.
    pub fn new(tz: &TimeZone) -> Self {
        let fixed = match tz {
            TimeZone::Utc => Some(0),
            TimeZone::Fixed(_) => Some(tz.offset_micros(0)),
            TimeZone::Named(_) => None,
        };
        LocalDays { tz: tz.clone(), fixed, hours: Vec::new(), offsets: Vec::new(), day: i32::MIN, period: None }
    }

    /// The local day of `ts` (days since 1970-01-01).
    #[inline]
    pub fn day(&mut self, ts: i64) -> i32 {
        if let Some(offset) = self.fixed {
            return (ts + offset).div_euclid(MICROS_PER_DAY) as i32;
        }
        let hour = ts.div_euclid(MICROS_PER_HOUR);
        let slot = hour.rem_euclid(CACHED_HOURS as i64) as usize;
        if self.hours.get(slot) == Some(&hour) {
            return (ts + self.offsets[slot]).div_euclid(MICROS_PER_DAY) as i32;
        }
        let start = hour * MICROS_PER_HOUR;
        let offset = self.tz.offset_micros(start);
        if offset != self.tz.offset_micros(start + MICROS_PER_HOUR - 1) {
            return self.tz.local_day(ts); // the offset changes within this hour
        }
        if self.hours.is_empty() {
            self.hours = vec![i64::MIN; CACHED_HOURS];
            self.offsets = vec![0; CACHED_HOURS];
        }
        self.hours[slot] = hour;
        self.offsets[slot] = offset;
        (ts + offset).div_euclid(MICROS_PER_DAY) as i32
    }

    /// The index of the local period of `ts` ([`Period::index`]).
    #[inline]
    pub fn period(&mut self, period: Period, ts: i64) -> i32 {
        let day = self.day(ts);
        match self.period {
            Some((p, index)) if p == period && day == self.day => index,
            _ => {
                let index = period.index_of_day(day);
                self.day = day;
                self.period = Some((period, index));
                index
            }
        }
    }
}

/// Inserts `value` into a sorted vector of distinct values (no-op if present); cheap
/// when values mostly arrive in increasing order.
pub fn insert_sorted<T: Ord + Copy>(values: &mut Vec<T>, value: T) {
    match values.last() {
        None => values.push(value),
        Some(last) if *last < value => values.push(value),
        Some(last) if *last == value => {}
        Some(_) => {
            if let Err(i) = values.binary_search(&value) {
                values.insert(i, value);
            }
        }
    }
}

/// The sorted union (distinct values) of two sorted vectors of distinct values.
pub fn union_sorted<T: Ord + Copy>(a: Vec<T>, b: Vec<T>) -> Vec<T> {
    if a.is_empty() {
        return b;
    }
    if b.is_empty() {
        return a;
    }
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => {
                out.push(a[i]);
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                out.push(b[j]);
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// One user's distinct activity instants (µs UTC), exact for a stage as of any instant
/// `A` at or after the user's last kept instant.
///
/// With a `window` w (the stage's `active_days`), only the instants in
/// `[last − w, last]` and the one instant just before them are kept: a stage as of
/// `A ≥ last` reads the first and last instants and the gaps that end at most w before
/// `A`, and every such gap ends in `[last − w, last]`. Pruning is a function of the set
/// that commutes with union (`prune(prune(a) ∪ prune(b)) = prune(a ∪ b)`), so states
/// merge exactly; it only ever saves memory. Without a window, every instant is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Instants {
    /// The first instant ever (`i64::MAX` when none).
    pub first: i64,
    /// Sorted distinct instants: the pruned tail (or all of them without a window).
    pub tail: Vec<i64>,
}

impl Default for Instants {
    fn default() -> Self {
        Instants { first: i64::MAX, tail: Vec::new() }
    }
}

impl Instants {
    /// Whether no instant was recorded.
    pub fn is_empty(&self) -> bool {
        self.tail.is_empty()
    }

    /// Records one instant.
    pub fn insert(&mut self, ts: i64, window: Option<i64>) {
        self.first = self.first.min(ts);
        let Some(w) = window else {
            insert_sorted(&mut self.tail, ts);
            return;
        };
        let Some(&last) = self.tail.last() else {
            self.tail.push(ts);
            return;
        };
        if ts > last {
            self.tail.push(ts);
            self.prune(w);
        } else if ts >= last.saturating_sub(w) {
            insert_sorted(&mut self.tail, ts);
        } else if self.tail[0] < last.saturating_sub(w) {
            // The kept predecessor of the window: only the latest one before it matters.
            self.tail[0] = self.tail[0].max(ts);
        } else {
            self.tail.insert(0, ts);
        }
    }

    /// Folds in another user's instants (same window).
    pub fn absorb(&mut self, other: Instants, window: Option<i64>) {
        self.first = self.first.min(other.first);
        self.tail = union_sorted(std::mem::take(&mut self.tail), other.tail);
        if let Some(w) = window {
            self.prune(w);
        }
    }

    fn prune(&mut self, w: i64) {
        let Some(&last) = self.tail.last() else { return };
        let cut = self.tail.partition_point(|&t| t < last.saturating_sub(w));
        if cut >= 2 {
            self.tail.drain(..cut - 1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_orders(values: &[i64], window: Option<i64>) -> Instants {
        let mut a = Instants::default();
        for v in values {
            a.insert(*v, window);
        }
        a
    }

    #[test]
    fn cached_local_days_match_the_zone() {
        for name in ["UTC", "+05:30", "Asia/Shanghai", "America/New_York", "Australia/Lord_Howe"] {
            let tz = TimeZone::parse(name).unwrap();
            let mut days = LocalDays::new(&tz);
            let mut cold = LocalDays::new(&tz);
            // Every 7 minutes over 2024, across every DST change, forwards and back.
            let start = 19_723 * MICROS_PER_DAY;
            let step = 7 * 60 * 1_000_000;
            for i in (0..75_000).chain((0..75_000).rev()) {
                let ts = start + i * step;
                assert_eq!(days.day(ts), tz.local_day(ts), "{name} at {ts}");
                assert_eq!(days.day(ts + 3 * MICROS_PER_DAY), cold.day(ts + 3 * MICROS_PER_DAY));
                assert_eq!(days.period(Period::Month, ts), Period::Month.index(ts, &tz));
                assert_eq!(days.period(Period::Week, ts), Period::Week.index(ts, &tz));
            }
        }
    }

    #[test]
    fn sorted_sets_insert_and_union() {
        let mut v = vec![1, 5, 9];
        insert_sorted(&mut v, 5);
        insert_sorted(&mut v, 3);
        insert_sorted(&mut v, 10);
        assert_eq!(v, vec![1, 3, 5, 9, 10]);
        assert_eq!(union_sorted(vec![1, 4, 6], vec![2, 4, 7]), vec![1, 2, 4, 6, 7]);
    }

    #[test]
    fn pruning_keeps_the_window_and_one_predecessor() {
        let a = all_orders(&[1, 2, 3, 50, 95, 100], Some(10));
        assert_eq!(a.first, 1);
        assert_eq!(a.tail, vec![50, 95, 100]);
        let b = all_orders(&[100, 95, 3, 50, 2, 1], Some(10));
        assert_eq!(b, a);
        let c = all_orders(&[100, 95, 3, 50, 2, 1], None);
        assert_eq!(c.tail, vec![1, 2, 3, 50, 95, 100]);
    }

    #[test]
    fn pruning_commutes_with_union() {
        let values: Vec<i64> = (0..60).map(|i| (i * 37 % 101) * 3).collect();
        let whole = all_orders(&values, Some(20));
        for cut in 0..values.len() {
            let mut left = all_orders(&values[..cut], Some(20));
            let right = all_orders(&values[cut..], Some(20));
            left.absorb(right, Some(20));
            assert_eq!(left, whole, "cut at {cut}");
        }
    }
}
