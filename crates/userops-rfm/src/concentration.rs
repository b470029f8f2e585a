//! Revenue concentration (SPEC §5, "80/20"): over paying users, each with net revenue
//! floored at 0, the share of revenue held by the top fraction, the Gini coefficient
//! and Lorenz curve points. All sums are exact integers; only the final ratios are floats.

use std::sync::Arc;

use arrow_array::{Float64Array, Int64Array, RecordBatch};
use serde::{Deserialize, Serialize};
use userops_core::output::{rate, table};
use userops_core::{Result, UserOpsError};

use crate::purchases::Payer;

/// Parameters of `concentration`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConcentrationParams {
    /// The top fraction of paying users, in (0, 1] (default 0.2); taken to 9 decimals.
    pub top: f64,
    /// The event whose rows are purchases and refunds (default `order`).
    pub revenue_event: String,
}

impl Default for ConcentrationParams {
    fn default() -> Self {
        ConcentrationParams { top: 0.2, revenue_event: "order".into() }
    }
}

/// Parameters of `lorenz`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LorenzParams {
    /// Number of steps: the curve has `points + 1` rows (default 100, at most 100,000).
    pub points: u32,
    /// The event whose rows are purchases and refunds (default `order`).
    pub revenue_event: String,
}

impl Default for LorenzParams {
    fn default() -> Self {
        LorenzParams { points: 100, revenue_event: "order".into() }
    }
}

const PARTS_PER_BILLION: i128 = 1_000_000_000;

impl ConcentrationParams {
    /// Checks `top`.
    pub fn validate(&self, plugin: &str) -> Result<()> {
        if !(self.top > 0.0 && self.top <= 1.0) {
            return Err(UserOpsError::param(plugin, "top", format!("must be in (0, 1], got {}", self.top)));
        }
        Ok(())
    }
}

impl LorenzParams {
    /// Checks `points`.
    pub fn validate(&self, plugin: &str) -> Result<()> {
        if !(1..=100_000).contains(&self.points) {
            return Err(UserOpsError::param(
                plugin,
                "points",
                format!("must be from 1 to 100000, got {}", self.points),
            ));
        }
        Ok(())
    }
}

/// Net revenues of paying users floored at 0, ascending.
fn floored_ascending(payers: &[Payer]) -> Vec<i128> {
    let mut values: Vec<i128> = payers.iter().map(|p| p.stats.net_micros.max(0)).collect();
    values.sort_unstable();
    values
}

/// `ceil(a * b / c)` for non-negative integers.
fn ceil_div(a: i128, b: i128, c: i128) -> i128 {
    (a * b + c - 1) / c
}

/// The population Gini coefficient of ascending values:
/// `Σ_i Σ_j |x_i − x_j| / (2 n² mean) = Σ_i (2i − n − 1) x_(i) / (n Σx)`, i from 1.
pub fn gini(ascending: &[i128]) -> Option<f64> {
    let n = ascending.len() as i128;
    let total: i128 = ascending.iter().sum();
    if n == 0 || total == 0 {
        return None;
    }
    let weighted: i128 = ascending.iter().enumerate().map(|(i, x)| (2 * (i as i128 + 1) - n - 1) * x).sum();
    Some(weighted as f64 / (n as f64 * total as f64))
}

/// The `concentration` table: one row `paying_users, top_fraction, top_users,
/// top_revenue_share, gini`; shares are null when there is no revenue.
pub fn concentration_table(payers: &[Payer], params: &ConcentrationParams) -> Result<RecordBatch> {
    let values = floored_ascending(payers);
    let n = values.len() as i128;
    let top_ppb = (params.top * PARTS_PER_BILLION as f64).round() as i128;
    let top_users = ceil_div(top_ppb, n, PARTS_PER_BILLION);
    let total: i128 = values.iter().sum();
    let top_sum: i128 = values.iter().rev().take(top_users as usize).sum();
    table(vec![
        ("paying_users", Arc::new(Int64Array::from(vec![n as i64]))),
        ("top_fraction", Arc::new(Float64Array::from(vec![params.top]))),
        ("top_users", Arc::new(Int64Array::from(vec![top_users as i64]))),
        ("top_revenue_share", Arc::new(Float64Array::from(vec![rate(top_sum as f64, total as f64)]))),
        ("gini", Arc::new(Float64Array::from(vec![gini(&values)]))),
    ])
}

/// The `lorenz` table: for i = 0..=points, `user_share = i/points` and
/// `revenue_share` = the share of revenue held by the bottom ceil(user_share·n) paying
/// users (null when there is no revenue).
pub fn lorenz_table(payers: &[Payer], params: &LorenzParams) -> Result<RecordBatch> {
    let values = floored_ascending(payers);
    let n = values.len() as i128;
    let total: i128 = values.iter().sum();
    let mut prefix = Vec::with_capacity(values.len() + 1);
    prefix.push(0i128);
    for v in &values {
        prefix.push(prefix.last().copied().unwrap_or(0) + v);
    }
    let points = params.points as i128;
    let user_share: Vec<f64> = (0..=points).map(|i| i as f64 / points as f64).collect();
    let revenue_share: Vec<Option<f64>> =
        (0..=points).map(|i| rate(prefix[ceil_div(i, n, points) as usize] as f64, total as f64)).collect();
    table(vec![
        ("user_share", Arc::new(Float64Array::from(user_share))),
        ("revenue_share", Arc::new(Float64Array::from(revenue_share))),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gini_of_equal_and_concentrated() {
        assert_eq!(gini(&[5, 5, 5, 5]), Some(0.0));
        assert_eq!(gini(&[0, 0, 0, 10]), Some(0.75));
        assert_eq!(gini(&[7]), Some(0.0));
        assert_eq!(gini(&[]), None);
        assert_eq!(gini(&[0, 0]), None);
    }

    #[test]
    fn ceil_is_exact_where_floats_are_not() {
        // 0.3 * 10 is 3.0000000000000004 in floats; the top 30% of 10 users is 3 users.
        assert_eq!(ceil_div((0.3f64 * 1e9).round() as i128, 10, PARTS_PER_BILLION), 3);
        assert_eq!(ceil_div(200_000_000, 7, PARTS_PER_BILLION), 2);
    }
}
