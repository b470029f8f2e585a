//! Counters kept by every scan: rows read, rows left out and why, the time range.
//! They merge by addition (and min/max), so they obey the same laws as plugin states.

use serde::{Deserialize, Serialize};

/// What a scan saw. Attached to every result's schema metadata as `userops.*` keys.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScanStats {
    /// Batches read.
    pub batches: u64,
    /// Rows read, valid or not.
    pub rows_read: u64,
    /// Rows given to plugins.
    pub rows_used: u64,
    /// Rows left out for a null user id (a warning).
    pub null_user_id: u64,
    /// Rows left out for a null timestamp (a warning).
    pub null_ts: u64,
    /// Rows left out for being after `as_of` (by request, not a warning).
    pub after_as_of: u64,
    /// Rows with a null event name: counted as activity, matching no named event (a warning).
    pub null_event: u64,
    /// Rows with a NaN or infinite amount: the run fails at finish, naming the count.
    pub non_finite_amount: u64,
    /// The earliest valid timestamp, microseconds UTC.
    pub min_ts: Option<i64>,
    /// The latest valid timestamp, microseconds UTC: the end of data D unless `as_of` is given.
    pub max_ts: Option<i64>,
}

impl ScanStats {
    /// Adds `other`'s counts into `self`.
    pub fn merge(&mut self, other: &ScanStats) {
        self.batches += other.batches;
        self.rows_read += other.rows_read;
        self.rows_used += other.rows_used;
        self.null_user_id += other.null_user_id;
        self.null_ts += other.null_ts;
        self.after_as_of += other.after_as_of;
        self.null_event += other.null_event;
        self.non_finite_amount += other.non_finite_amount;
        self.min_ts = min_opt(self.min_ts, other.min_ts);
        self.max_ts = max_opt(self.max_ts, other.max_ts);
    }

    /// The counters as `(key, value)` pairs for result metadata, prefixed `userops.`.
    pub fn metadata(&self) -> Vec<(String, String)> {
        let mut out = vec![
            ("userops.rows_read".to_string(), self.rows_read.to_string()),
            ("userops.rows_used".to_string(), self.rows_used.to_string()),
            ("userops.null_user_id".to_string(), self.null_user_id.to_string()),
            ("userops.null_ts".to_string(), self.null_ts.to_string()),
            ("userops.after_as_of".to_string(), self.after_as_of.to_string()),
            ("userops.null_event".to_string(), self.null_event.to_string()),
        ];
        if let Some(max) = self.max_ts {
            out.push(("userops.max_ts_micros".to_string(), max.to_string()));
        }
        out
    }
}

fn min_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

fn max_opt(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, None) => x,
        (None, y) => y,
    }
}
