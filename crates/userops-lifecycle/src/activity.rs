//! What counts as activity, and the exact per-user summaries of it that the plugins of
//! this crate keep: sorted sets of active period indices or local days, and sorted
//! distinct activity instants pruned to what a stage can still need.

use serde::{Deserialize, Serialize};
use userops_core::{Events, Result, UserOpsError};

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
