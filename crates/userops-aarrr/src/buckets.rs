//! Small building blocks of the period metrics of this crate (revenue, repurchase,
//! active users, stickiness): counts over per-user sets of period indices
//! ([`UserSets`], which merge exactly and cost about a byte per value), a fast
//! local-day lookup, and the `complete` rule of SPEC §1.

use userops_core::{Period, Result, TimeZone, UserOpsError, UserSets};

pub use userops_core::time::LocalDays;

/// Whether period `index` is fully observed: its last instant is at or before `end`
/// (so `as_of` given as a bare date completes the period that ends with that day).
pub fn complete(period: Period, index: i32, tz: &TimeZone, end: i64) -> bool {
    period.is_complete(index, tz, end)
}

/// Adds one to `counts[p - first]` for every value `p` of every user's set (values
/// outside the range are ignored).
pub fn count_into(sets: &mut UserSets, first: i32, counts: &mut [i64]) {
    sets.for_each(|_, values| {
        for &p in values {
            if let Some(c) = usize::try_from(p - first as i64).ok().and_then(|i| counts.get_mut(i)) {
                *c += 1;
            }
        }
    });
}

/// The smallest value over every user's set (values are `i32` indices stored as `i64`).
pub fn min_over_users(sets: &mut UserSets) -> Option<i32> {
    let mut min: Option<i64> = None;
    sets.for_each(|_, values| {
        if min.is_none_or(|m| values[0] < m) {
            min = Some(values[0]);
        }
    });
    min.map(|m| m as i32)
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
    fn counts_take_each_value_of_a_set_once() {
        let mut sets = UserSets::new();
        for (user, v) in [(0, 5), (0, 3), (0, 5), (1, 3), (1, 9), (2, 1), (1, 3)] {
            sets.insert(user, v);
        }
        assert_eq!(min_over_users(&mut sets), Some(1));
        let mut counts = vec![0; 5];
        count_into(&mut sets, 2, &mut counts); // values 2..=6
        assert_eq!(counts, vec![0, 2, 0, 1, 0]);
        assert_eq!(min_over_users(&mut UserSets::new()), None);
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
