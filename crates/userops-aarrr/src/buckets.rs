//! Small building blocks of the period metrics of this crate (revenue, repurchase,
//! active users, stickiness): per-user sets of period indices that merge exactly, a
//! fast local-day lookup, and the `complete` rule of SPEC §1.

use serde::{Deserialize, Serialize};
use userops_core::{PerUser, Period, Result, TimeZone, UserOpsError};

/// A set of `i32` (period indices or local days) that grows by appending and compacts
/// itself (sort + dedup) when it has doubled since the last compaction, so a user with
/// many rows in one period costs one entry, and a user's rows may arrive in any order.
/// Its contents as a set do not depend on the order of inserts or merges.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IndexSet {
    values: Vec<i32>,
    /// `values[..clean]` is sorted and free of duplicates.
    clean: u32,
}

impl IndexSet {
    /// Adds `value`.
    #[inline]
    pub fn insert(&mut self, value: i32) {
        if self.values.last() == Some(&value) {
            return;
        }
        self.values.push(value);
        if self.values.len() > 2 * self.clean as usize + 8 {
            self.compact();
        }
    }

    /// Adds every value of `other`.
    pub fn absorb(&mut self, other: IndexSet) {
        if self.values.is_empty() {
            *self = other;
            return;
        }
        self.values.extend(other.values);
        if self.values.len() > 2 * self.clean as usize + 8 {
            self.compact();
        }
    }

    /// Sorts and deduplicates.
    pub fn compact(&mut self) {
        if self.clean as usize != self.values.len() {
            self.values.sort_unstable();
            self.values.dedup();
            self.values.shrink_to(self.values.len() * 2);
            self.clean = self.values.len() as u32;
        }
    }

    /// The values, sorted and distinct (compacts first).
    pub fn sorted(&mut self) -> &[i32] {
        self.compact();
        &self.values
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// The smallest value (compacts first).
    pub fn min(&mut self) -> Option<i32> {
        self.sorted().first().copied()
    }
}

pub use userops_core::time::LocalDays;

/// Whether period `index` is fully observed: its last instant is at or before `end`
/// (so `as_of` given as a bare date completes the period that ends with that day).
pub fn complete(period: Period, index: i32, tz: &TimeZone, end: i64) -> bool {
    period.is_complete(index, tz, end)
}

/// Adds one to `counts[p - first]` for every value `p` of every user's set (values
/// outside the range are ignored).
pub fn count_into(sets: &mut PerUser<IndexSet>, first: i32, counts: &mut [i64]) {
    for user in 0..sets.len() as u32 {
        for &p in sets.get_mut(user).sorted() {
            if let Some(c) = usize::try_from(p - first).ok().and_then(|i| counts.get_mut(i)) {
                *c += 1;
            }
        }
    }
}

/// The smallest value over every user's set.
pub fn min_over_users(sets: &mut PerUser<IndexSet>) -> Option<i32> {
    (0..sets.len() as u32).filter_map(|u| sets.get_mut(u).min()).min()
}

/// Checks, before serde reads them, the parameters whose serde errors would not name
/// them: `choices` are `(key, accepted strings)`, `days` are keys of whole numbers of
/// days from 0 to `max_days`. Absent keys are fine (they take defaults).
pub fn check_param_values(
    plugin: &str,
    params: &serde_json::Value,
    choices: &[(&str, &[&str])],
    days: &[&str],
    max_days: u32,
) -> Result<()> {
    let Some(object) = params.as_object() else { return Ok(()) };
    for (key, accepted) in choices {
        if let Some(value) = object.get(*key) {
            if value.as_str().is_none_or(|v| !accepted.contains(&v)) {
                let list = accepted.iter().map(|a| format!("\"{a}\"")).collect::<Vec<_>>().join(", ");
                return Err(UserOpsError::param(plugin, key, format!("must be one of {list}, got {value}")));
            }
        }
    }
    for key in days {
        if let Some(value) = object.get(*key) {
            if value.as_u64().is_none_or(|d| d > max_days as u64) {
                return Err(UserOpsError::param(
                    plugin,
                    key,
                    format!("must be a whole number of days from 0 to {max_days}, got {value}"),
                ));
            }
        }
    }
    Ok(())
}

/// The accepted values of a `period` parameter.
pub const PERIODS: &[&str] = &["day", "week", "month"];

/// The longest window accepted, in days (a hundred years).
pub const MAX_WINDOW_DAYS: u32 = 36_525;

#[cfg(test)]
mod tests {
    use super::*;
    use userops_core::time::days_from_civil;

    #[test]
    fn index_sets_are_sets() {
        let mut a = IndexSet::default();
        for v in [5, 3, 5, 5, 9, 3, 1, 1, 2, 7, 7, 3, 4, 0, 11, 10, 12, 13] {
            a.insert(v);
        }
        let mut b = IndexSet::default();
        b.insert(42);
        b.insert(3);
        a.absorb(b);
        assert_eq!(a.sorted(), &[0, 1, 2, 3, 4, 5, 7, 9, 10, 11, 12, 13, 42]);
        assert_eq!(a.min(), Some(0));
    }

    #[test]
    fn parameter_values_are_checked_by_name() {
        let check = |v: serde_json::Value| check_param_values("p", &v, &[("period", PERIODS)], &["window_days"], 10);
        assert!(check(serde_json::json!({"period": "week", "window_days": 10})).is_ok());
        assert!(check(serde_json::Value::Null).is_ok());
        let err = check(serde_json::json!({"period": "year"})).unwrap_err().to_string();
        assert!(err.contains("period") && err.contains("\"month\""), "{err}");
        let err = check(serde_json::json!({"window_days": -1})).unwrap_err().to_string();
        assert!(err.contains("window_days"), "{err}");
        assert!(check(serde_json::json!({"window_days": 1.5})).is_err());
        assert!(check(serde_json::json!({"window_days": 11})).is_err());
    }

    #[test]
    fn a_bare_date_completes_its_period() {
        let tz = TimeZone::parse("Asia/Shanghai").unwrap();
        let jan = Period::Month.index_of_day(days_from_civil(2024, 1, 15));
        let jan31 = days_from_civil(2024, 1, 31);
        assert!(complete(Period::Month, jan, &tz, tz.day_end(jan31)));
        assert!(!complete(Period::Month, jan, &tz, tz.day_end(jan31) - 1));
    }
}
