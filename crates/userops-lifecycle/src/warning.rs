//! Churn early warning (用户预警, SPEC §8): users whose silence is long compared with
//! their own rhythm. Over each user's distinct active local calendar days, for users
//! with at least `min_active_days`: `median_gap_days` (median difference between
//! consecutive active days), `days_inactive` (date(D) − last active day),
//! `risk_ratio` = days_inactive / median_gap_days, `flagged` = risk_ratio > threshold,
//! and the user's net revenue.

use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Float64Array, Int64Array, RecordBatch};
use serde::{Deserialize, Serialize};
use userops_core::money::micros_to_f64;
use userops_core::output::table;
use userops_core::{Events, FinishContext, Result, UserOpsError, UserRemap, UserSets};

use crate::activity::ActivityFilter;
use userops_core::time::LocalDays;
use userops_core::UserSums;

/// Parameters of `churn_warning`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WarningParams {
    /// A user is flagged when risk_ratio is strictly greater than this (default 2.0).
    pub threshold: f64,
    /// Users with fewer distinct active days are left out (default 3; at least 2).
    pub min_active_days: u32,
    /// The event whose rows are purchases and refunds (default `order`).
    pub revenue_event: String,
    /// Event names that count as activity; `None` (default) means any event.
    pub activity_events: Option<Vec<String>>,
}

impl Default for WarningParams {
    fn default() -> Self {
        WarningParams { threshold: 2.0, min_active_days: 3, revenue_event: "order".into(), activity_events: None }
    }
}

impl WarningParams {
    /// Checks the parameters, naming the first one that is wrong.
    pub fn validate(&self, plugin: &str) -> Result<()> {
        if !self.threshold.is_finite() || self.threshold < 0.0 {
            return Err(UserOpsError::param(
                plugin,
                "threshold",
                format!("must be a finite number >= 0, got {}", self.threshold),
            ));
        }
        if self.min_active_days < 2 {
            return Err(UserOpsError::param(
                plugin,
                "min_active_days",
                format!("must be at least 2 (a gap needs two active days), got {}", self.min_active_days),
            ));
        }
        Ok(())
    }
}

/// Active days are stored as days since 2020-01-01 ([`DAY_BASE`]): a user's first day
/// then costs two bytes, not three, for any day of 1997–2042 (any other day is exact too).
const DAY_BASE: i64 = 18_262;

/// The state of `churn_warning`: per user, the distinct active local days (about a byte
/// a day) and the net revenue in micro-units.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WarningState {
    days: UserSets,
    net_micros: UserSums,
}

impl WarningState {
    /// Folds one batch: local days of activity rows in zone `tz`, net revenue of `revenue_event` rows.
    pub fn update(&mut self, events: &Events, filter: &ActivityFilter, revenue_event: &str, local: &mut LocalDays) {
        self.net_micros.grow(events.user_count);
        let table = filter.table(events);
        let revenue = events.event_code(revenue_event);
        for row in 0..events.len() {
            let user = events.user[row];
            if ActivityFilter::is_activity(&table, events, row) {
                self.days.insert(user, local.day(events.ts[row]) as i64 - DAY_BASE);
            }
            if let Some(r) = events.revenue_row(row, revenue) {
                self.net_micros.add(user, r.net_micros().into());
            }
        }
    }

    /// Folds another state in.
    pub fn merge(&mut self, other: WarningState, remap: &UserRemap) {
        self.days.merge_from(other.days, remap);
        self.net_micros.merge_from(other.net_micros, remap);
    }
}

struct Row {
    user: u32,
    days_inactive: i64,
    median_gap: f64,
    risk: f64,
    net_micros: i128,
    flagged: bool,
}

/// The median gap of sorted distinct days (at least two); `gaps` is a reused buffer.
pub fn median_gap(days: &[i64], gaps: &mut Vec<i64>) -> f64 {
    gaps.clear();
    gaps.extend(days.windows(2).map(|w| w[1] - w[0]));
    gaps.sort_unstable();
    let n = gaps.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => gaps[n / 2] as f64,
        // quantile_cont(0.5): halfway between the two middle values.
        _ => gaps[n / 2 - 1] as f64 + (gaps[n / 2] - gaps[n / 2 - 1]) as f64 * 0.5,
    }
}

/// The `churn_warning` table: `user_id, days_inactive, median_gap_days, risk_ratio,
/// revenue, flagged`, flagged users first, then revenue descending, then user id.
pub fn warning_table(mut state: WarningState, params: &WarningParams, ctx: &FinishContext<'_>) -> Result<RecordBatch> {
    let mut rows = Vec::new();
    if let Some(end) = ctx.end {
        let today = ctx.scan.tz.local_day(end) as i64 - DAY_BASE;
        let mut gaps = Vec::new();
        let net_micros = &state.net_micros;
        state.days.for_each(|user, days| {
            if days.len() < params.min_active_days as usize {
                return;
            }
            let median_gap = median_gap(days, &mut gaps);
            let days_inactive = today - days[days.len() - 1];
            let risk = days_inactive as f64 / median_gap;
            rows.push(Row {
                user,
                days_inactive,
                median_gap,
                risk,
                net_micros: net_micros.get(user),
                flagged: risk > params.threshold,
            });
        });
    }
    rows.sort_by(|a, b| {
        b.flagged.cmp(&a.flagged).then(b.net_micros.cmp(&a.net_micros)).then_with(|| ctx.users.compare(a.user, b.user))
    });
    let users: Vec<u32> = rows.iter().map(|r| r.user).collect();
    table(vec![
        ("user_id", ctx.users.key_array(&users)),
        ("days_inactive", Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.days_inactive))) as ArrayRef),
        ("median_gap_days", Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.median_gap)))),
        ("risk_ratio", Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.risk)))),
        ("revenue", Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| micros_to_f64(r.net_micros))))),
        ("flagged", Arc::new(BooleanArray::from(rows.iter().map(|r| r.flagged).collect::<Vec<_>>()))),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use userops_core::quantile_cont;

    #[test]
    fn median_gap_interpolates() {
        let mut gaps = Vec::new();
        assert_eq!(median_gap(&[0, 1, 3], &mut gaps), 1.5);
        assert_eq!(median_gap(&[0, 2, 3, 10], &mut gaps), 2.0);
        assert_eq!(median_gap(&[0, 2, 3, 10, 11], &mut gaps), 1.5);
        for days in [vec![0, 5], vec![0, 1, 10, 12, 40], vec![3, 4, 9, 30, 31, 33]] {
            let mut g: Vec<f64> = days.windows(2).map(|w| (w[1] - w[0]) as f64).collect();
            g.sort_by(f64::total_cmp);
            assert_eq!(Some(median_gap(&days, &mut gaps)), quantile_cont(&g, 0.5));
        }
    }
}
