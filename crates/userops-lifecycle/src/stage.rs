//! Per-user lifecycle stage as of an instant A (SPEC §8), the `lifecycle_stage`
//! segmenter, and the stage transition matrix between two instants (`stage_transitions`).
//!
//! A user's stage as of A reads the activity at or before A; the first rule that holds:
//! 1. `new`: first activity at most `new_days` before A;
//! 2. `resurrected`: last activity at most `active_days` before A, and some gap between
//!    two consecutive (distinct) activity instants longer than `churn_days` ends at
//!    most `active_days` before A;
//! 3. `active`: last activity at most `active_days` before A;
//! 4. `at_risk`: last activity at most `churn_days` before A;
//! 5. `churned`: otherwise.
//!
//! "At most N days" is elapsed time, `A − t <= N · 86400 s`; "longer" is `>`.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use serde::{Deserialize, Serialize};
use userops_core::output::{rate, table};
use userops_core::time::MICROS_PER_DAY;
use userops_core::{FinishContext, Result, UserOpsError};

use crate::instants::{Reach, StageInstants};

/// The stages, in rule order.
pub const STAGES: [&str; 5] = ["new", "resurrected", "active", "at_risk", "churned"];
/// The `from_stage` of users with no activity by the first instant.
pub const NONE_STAGE: &str = "none";

/// The day thresholds of the stage rules (elapsed days).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thresholds {
    /// Rule 1: first activity at most this many days before A (default 30).
    pub new_days: u32,
    /// Rules 2 and 3: last activity (and the end of a long gap) at most this many days before A (default 30).
    pub active_days: u32,
    /// Rule 2's gap length and rule 4: at most this many days (default 90).
    pub churn_days: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds { new_days: 30, active_days: 30, churn_days: 90 }
    }
}

impl Thresholds {
    fn micros(days: u32) -> i64 {
        days as i64 * MICROS_PER_DAY
    }

    /// How far before A a gap may end and still count for rule 2 (`active_days`, µs).
    pub fn window(&self) -> i64 {
        Self::micros(self.active_days)
    }

    /// The largest gap that neither ends an activity for rules 3 and 4 nor is long for
    /// rule 2: `min(active_days, churn_days)`, µs (see [`crate::instants`]).
    pub fn tolerance(&self) -> i64 {
        Self::micros(self.active_days.min(self.churn_days))
    }

    /// Checks that no threshold is absurdly large (beyond 100 years).
    pub fn validate(&self, plugin: &str) -> Result<()> {
        for (name, days) in
            [("new_days", self.new_days), ("active_days", self.active_days), ("churn_days", self.churn_days)]
        {
            if days > 36_500 {
                return Err(UserOpsError::param(plugin, name, format!("must be at most 36500 days, got {days}")));
            }
        }
        Ok(())
    }

    /// The stage (index into [`STAGES`]) of a user as of `at`, from their sorted
    /// distinct instants `instants` (all at or before `at`) and first instant `first`.
    pub fn stage(&self, first: i64, instants: &[i64], at: i64) -> usize {
        let last = *instants.last().expect("a user with activity");
        let within = |t: i64, days: u32| at - t <= Self::micros(days);
        if within(first, self.new_days) {
            return 0;
        }
        if within(last, self.active_days) {
            let long_gap_ends_recently = instants
                .windows(2)
                .rev()
                .take_while(|w| within(w[1], self.active_days))
                .any(|w| w[1] - w[0] > Self::micros(self.churn_days));
            return if long_gap_ends_recently { 1 } else { 2 };
        }
        if within(last, self.churn_days) {
            3
        } else {
            4
        }
    }
}

/// The stage as of `at` of every user with activity at or before `at`, from the kept
/// instants: `(user, stage, first, last)`.
fn stages(state: &mut StageInstants, thresholds: &Thresholds, at: i64) -> Vec<(u32, usize, i64, i64)> {
    let mut out = Vec::new();
    state.for_each(|user, kept| {
        let k = kept.partition_point(|&t| t <= at);
        if k > 0 {
            out.push((user, thresholds.stage(kept[0], &kept[..k], at), kept[0], kept[k - 1]));
        }
    });
    out
}

/// Parameters of `lifecycle_stage`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StageParams {
    /// The instant A (µs UTC); `None` (default) means the end of data D.
    pub at: Option<i64>,
    /// Rule 1 threshold (default 30).
    pub new_days: u32,
    /// Rules 2 and 3 threshold (default 30).
    pub active_days: u32,
    /// Rules 2 and 4 threshold (default 90).
    pub churn_days: u32,
    /// Event names that count as activity; `None` (default) means any event.
    pub activity_events: Option<Vec<String>>,
}

impl Default for StageParams {
    fn default() -> Self {
        let t = Thresholds::default();
        StageParams {
            at: None,
            new_days: t.new_days,
            active_days: t.active_days,
            churn_days: t.churn_days,
            activity_events: None,
        }
    }
}

impl StageParams {
    /// The thresholds.
    pub fn thresholds(&self) -> Thresholds {
        Thresholds { new_days: self.new_days, active_days: self.active_days, churn_days: self.churn_days }
    }

    /// What the state keeps: activity up to `at`, for a stage as of `at` (or of D, at or
    /// after every row).
    pub fn reach(&self) -> Reach {
        Reach { cap: self.at, floor: self.at, back: 0, thresholds: self.thresholds() }
    }
}

/// The instant A of a finish: `at`, else D.
fn instant_or_end(at: Option<i64>, ctx: &FinishContext<'_>) -> Option<i64> {
    at.or(ctx.end)
}

/// The `lifecycle_stage` table: `user_id, stage, first_seen, last_seen, days_inactive,
/// segment` (segment = stage), one row per user with activity at or before A, sorted by
/// user id. `first_seen` and `last_seen` are instants shown in the run's time zone.
pub fn stage_table(mut state: StageInstants, params: &StageParams, ctx: &FinishContext<'_>) -> Result<RecordBatch> {
    let mut rows = match instant_or_end(params.at, ctx) {
        Some(at) => stages(&mut state, &params.thresholds(), at).into_iter().map(|r| (r, at)).collect(),
        None => Vec::new(),
    };
    rows.sort_by(|((a, ..), _), ((b, ..), _)| ctx.users.compare(*a, *b));
    let users: Vec<u32> = rows.iter().map(|((u, ..), _)| *u).collect();
    let tz = ctx.scan.tz.name();
    let stage: ArrayRef = Arc::new(StringArray::from_iter_values(rows.iter().map(|((_, s, ..), _)| STAGES[*s])));
    let instants = |f: fn(&(u32, usize, i64, i64)) -> i64| -> ArrayRef {
        Arc::new(TimestampMicrosecondArray::from_iter_values(rows.iter().map(|(r, _)| f(r))).with_timezone(tz.as_str()))
    };
    table(vec![
        ("user_id", ctx.users.key_array(&users)),
        ("stage", stage.clone()),
        ("first_seen", instants(|r| r.2)),
        ("last_seen", instants(|r| r.3)),
        (
            "days_inactive",
            Arc::new(Int64Array::from_iter_values(
                rows.iter().map(|((.., last), at)| (at - last).div_euclid(MICROS_PER_DAY)),
            )),
        ),
        ("segment", stage),
    ])
}

/// Parameters of `stage_transitions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TransitionParams {
    /// The first instant A1 (µs UTC); `None` (default) means 30 days before `end`.
    pub start: Option<i64>,
    /// The second instant A2 (µs UTC); `None` (default) means the end of data D.
    pub end: Option<i64>,
    /// Rule 1 threshold (default 30).
    pub new_days: u32,
    /// Rules 2 and 3 threshold (default 30).
    pub active_days: u32,
    /// Rules 2 and 4 threshold (default 90).
    pub churn_days: u32,
    /// Event names that count as activity; `None` (default) means any event.
    pub activity_events: Option<Vec<String>>,
}

impl Default for TransitionParams {
    fn default() -> Self {
        let t = Thresholds::default();
        TransitionParams {
            start: None,
            end: None,
            new_days: t.new_days,
            active_days: t.active_days,
            churn_days: t.churn_days,
            activity_events: None,
        }
    }
}

/// The default distance from `end` back to `start`.
pub const DEFAULT_TRANSITION_DAYS: i64 = 30;

impl TransitionParams {
    /// The thresholds.
    pub fn thresholds(&self) -> Thresholds {
        Thresholds { new_days: self.new_days, active_days: self.active_days, churn_days: self.churn_days }
    }

    /// Checks the thresholds and that `start < end` when both are given.
    pub fn validate(&self, plugin: &str) -> Result<()> {
        self.thresholds().validate(plugin)?;
        if let (Some(s), Some(e)) = (self.start, self.end) {
            if s >= e {
                return Err(UserOpsError::param(plugin, "start", format!("must be before end ({s} >= {e} µs)")));
            }
        }
        Ok(())
    }

    /// A1 as known before the scan (`start`, or 30 days before a given `end`).
    pub fn known_start(&self) -> Option<i64> {
        self.start.or(self.end.map(|e| e - DEFAULT_TRANSITION_DAYS * MICROS_PER_DAY))
    }
}

impl TransitionParams {
    /// What the state keeps: activity up to A2 (`end`, else D), for stages as of A1 and
    /// A2, both at or after A1 (known, or 30 days before the latest row seen at least).
    pub fn reach(&self) -> Reach {
        Reach {
            cap: self.end,
            floor: self.known_start(),
            back: DEFAULT_TRANSITION_DAYS * MICROS_PER_DAY,
            thresholds: self.thresholds(),
        }
    }
}

/// The `stage_transitions` table: `from_stage, to_stage, users, share` for every
/// from-stage (`none` first, then the stages in rule order) × every to-stage, where
/// `share` = users / all users of that from-stage (null when there are none).
pub fn transitions_table(
    mut state: StageInstants,
    params: &TransitionParams,
    ctx: &FinishContext<'_>,
) -> Result<RecordBatch> {
    let mut matrix = [[0i64; STAGES.len()]; STAGES.len() + 1];
    let end = params.end.or(ctx.end);
    if let Some(end) = end {
        let start = params.start.unwrap_or(end - DEFAULT_TRANSITION_DAYS * MICROS_PER_DAY);
        if start >= end {
            return Err(UserOpsError::param(
                "stage_transitions",
                "start",
                format!("must be before end (the end of data, {end} µs), got {start} µs"),
            ));
        }
        let t = params.thresholds();
        state.for_each(|_, kept| {
            let (k1, k2) = (kept.partition_point(|&x| x <= start), kept.partition_point(|&x| x <= end));
            if k2 > 0 {
                let row = if k1 == 0 { 0 } else { t.stage(kept[0], &kept[..k1], start) + 1 };
                matrix[row][t.stage(kept[0], &kept[..k2], end)] += 1;
            }
        });
    }
    let from_names: Vec<&str> = std::iter::once(NONE_STAGE).chain(STAGES).collect();
    let (mut from_col, mut to_col, mut users, mut share) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (i, row) in matrix.iter().enumerate() {
        let total: i64 = row.iter().sum();
        for (j, &n) in row.iter().enumerate() {
            from_col.push(from_names[i]);
            to_col.push(STAGES[j]);
            users.push(n);
            share.push(rate(n as f64, total as f64));
        }
    }
    table(vec![
        ("from_stage", Arc::new(StringArray::from(from_col)) as ArrayRef),
        ("to_stage", Arc::new(StringArray::from(to_col))),
        ("users", Arc::new(Int64Array::from(users))),
        ("share", Arc::new(Float64Array::from(share))),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = MICROS_PER_DAY;

    fn stage(instants: &[i64], at: i64) -> &'static str {
        STAGES[Thresholds::default().stage(instants[0], instants, at)]
    }

    #[test]
    fn boundaries_are_inclusive() {
        // First activity exactly new_days before A: still new.
        assert_eq!(stage(&[0], 30 * DAY), "new");
        assert_eq!(stage(&[0], 30 * DAY + 1), "at_risk");
        // Last activity exactly active_days before A: active; a microsecond more: at risk.
        assert_eq!(stage(&[0, 40 * DAY], 70 * DAY), "active");
        assert_eq!(stage(&[0, 40 * DAY], 70 * DAY + 1), "at_risk");
        // Exactly churn_days: at risk; one more microsecond: churned.
        assert_eq!(stage(&[0, 40 * DAY], 130 * DAY), "at_risk");
        assert_eq!(stage(&[0, 40 * DAY], 130 * DAY + 1), "churned");
    }

    #[test]
    fn resurrected_needs_a_long_gap_ending_recently() {
        // A gap of exactly 90 days is not longer than churn_days.
        assert_eq!(stage(&[0, 90 * DAY], 100 * DAY), "active");
        assert_eq!(stage(&[0, 90 * DAY + 1], 100 * DAY), "resurrected");
        // The long gap ended 31 days before A: active, not resurrected.
        assert_eq!(stage(&[0, 100 * DAY, 125 * DAY], 131 * DAY), "active");
        // Exactly 30 days before A: resurrected.
        assert_eq!(stage(&[0, 100 * DAY, 125 * DAY], 130 * DAY), "resurrected");
        // New wins over resurrected only when first activity is recent, which excludes a long gap.
        assert_eq!(stage(&[0, 95 * DAY], 96 * DAY), "resurrected");
    }
}
