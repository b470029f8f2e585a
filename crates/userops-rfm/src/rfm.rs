//! RFM scores and segments (SPEC §9): per paying user, recency (whole days since the
//! last purchase, as of D), frequency (purchases) and monetary (net revenue, or net
//! revenue per purchase), each scored 1..=bins; with 5 bins, a segment from (R, F).

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray};
use serde::{Deserialize, Serialize};
use userops_core::money::{float_to_micros, micros_to_f64};
use userops_core::output::{rate, table};
use userops_core::time::MICROS_PER_DAY;
use userops_core::{FinishContext, Result, UserDict, UserOpsError};

use crate::purchases::Payer;
use crate::scoring::{fixed_score, ntile_scores, quantile_scores, quantile_scores_of};
use crate::segments::{segment, SEGMENTS};

/// How values are scored into bins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Rank-based bins; ties share a score.
    Quantile,
    /// SQL NTILE over users ordered worst first, ties broken by user id.
    Ntile,
    /// The operator's own thresholds per dimension.
    Fixed,
}

/// What the monetary dimension measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Monetary {
    /// Net revenue.
    Sum,
    /// Net revenue per purchase.
    Mean,
}

/// Thresholds for `method="fixed"`: `bins - 1` strictly increasing values per dimension.
/// Frequency and monetary: score = 1 + the number of thresholds ≤ the value.
/// Recency (days): score = bins − the number of thresholds < the days, so a user whose
/// last purchase is at most `recency[0]` days ago scores `bins`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Day thresholds, ascending.
    pub recency: Vec<f64>,
    /// Purchase-count thresholds, ascending.
    pub frequency: Vec<f64>,
    /// Money thresholds (in currency units), ascending.
    pub monetary: Vec<f64>,
}

/// Parameters of `rfm` and `rfm_segments`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RfmParams {
    /// Number of score bins, 2 to 9 (default 5; segments need 5).
    pub bins: u32,
    /// `quantile` (default), `ntile` or `fixed`.
    pub method: Method,
    /// `sum` (default) or `mean`.
    pub monetary: Monetary,
    /// Required with `method="fixed"`, refused otherwise.
    pub thresholds: Option<Thresholds>,
    /// The event whose rows are purchases and refunds (default `order`).
    pub revenue_event: String,
}

impl Default for RfmParams {
    fn default() -> Self {
        RfmParams {
            bins: 5,
            method: Method::Quantile,
            monetary: Monetary::Sum,
            thresholds: None,
            revenue_event: "order".into(),
        }
    }
}

impl RfmParams {
    /// Checks the parameters, naming the first one that is wrong.
    pub fn validate(&self, plugin: &str) -> Result<()> {
        if !(2..=9).contains(&self.bins) {
            return Err(UserOpsError::param(plugin, "bins", format!("must be from 2 to 9, got {}", self.bins)));
        }
        match (&self.method, &self.thresholds) {
            (Method::Fixed, None) => Err(UserOpsError::param(
                plugin,
                "thresholds",
                "method=\"fixed\" needs thresholds for recency, frequency and monetary",
            )),
            (Method::Fixed, Some(t)) => {
                for (name, values) in [("recency", &t.recency), ("frequency", &t.frequency), ("monetary", &t.monetary)]
                {
                    if values.len() != self.bins as usize - 1 {
                        return Err(UserOpsError::param(
                            plugin,
                            &format!("thresholds.{name}"),
                            format!("needs bins - 1 = {} values, got {}", self.bins - 1, values.len()),
                        ));
                    }
                    if values.iter().any(|v| !v.is_finite()) || values.windows(2).any(|w| w[0] >= w[1]) {
                        return Err(UserOpsError::param(
                            plugin,
                            &format!("thresholds.{name}"),
                            format!("must be finite and strictly increasing, got {values:?}"),
                        ));
                    }
                    if name == "monetary" && values.iter().any(|v| float_to_micros(*v).is_none()) {
                        return Err(UserOpsError::param(plugin, "thresholds.monetary", "values are too large"));
                    }
                }
                Ok(())
            }
            (_, Some(_)) => Err(UserOpsError::param(plugin, "thresholds", "only apply to method=\"fixed\"")),
            (_, None) => Ok(()),
        }
    }
}

/// One user's RFM values and scores.
#[derive(Debug, Clone, PartialEq)]
pub struct RfmRow {
    /// The dense user index.
    pub user: u32,
    /// Whole days from the last purchase to D.
    pub recency_days: i64,
    /// Purchases.
    pub frequency: u64,
    /// Net revenue in micro-units.
    pub net_micros: i128,
    /// The monetary value shown (net revenue, or net revenue per purchase).
    pub monetary: f64,
    /// Scores 1..=bins.
    pub r: u32,
    /// Frequency score.
    pub f: u32,
    /// Monetary score.
    pub m: u32,
}

/// Computes the RFM rows of `payers` as of `end`, sorted by user key.
pub fn compute(mut payers: Vec<Payer>, end: i64, params: &RfmParams, users: &UserDict) -> Vec<RfmRow> {
    payers.sort_unstable_by(|a, b| users.compare(a.user, b.user));
    let n = payers.len();
    let recency: Vec<i64> = payers.iter().map(|p| (end - p.stats.last_purchase).div_euclid(MICROS_PER_DAY)).collect();
    let by_recency = |a: usize, b: usize| recency[b].cmp(&recency[a]);
    let by_frequency = |a: usize, b: usize| payers[a].stats.purchases.cmp(&payers[b].stats.purchases);
    let (net, count) = (|i: usize| payers[i].stats.net_micros, |i: usize| payers[i].stats.purchases as i128);
    let by_monetary = |a: usize, b: usize| match params.monetary {
        Monetary::Sum => net(a).cmp(&net(b)),
        Monetary::Mean => (net(a) * count(b)).cmp(&(net(b) * count(a))),
    };
    let by_user = |a: usize, b: usize| a.cmp(&b); // rows are already in user-key order
    let bins = params.bins;
    let (r, f, m) = match (params.method, &params.thresholds) {
        (Method::Quantile, _) => {
            // Plain orders sort values directly; only a mean (an exact fraction) needs the comparator.
            let fewer_days: Vec<i64> = recency.iter().map(|d| -d).collect();
            let purchases: Vec<u64> = payers.iter().map(|p| p.stats.purchases).collect();
            let monetary = match params.monetary {
                Monetary::Sum => quantile_scores_of(&(0..n).map(net).collect::<Vec<_>>(), bins),
                Monetary::Mean => quantile_scores(n, bins, by_monetary),
            };
            (quantile_scores_of(&fewer_days, bins), quantile_scores_of(&purchases, bins), monetary)
        }
        (Method::Ntile, _) => (
            ntile_scores(n, bins, by_recency, by_user),
            ntile_scores(n, bins, by_frequency, by_user),
            ntile_scores(n, bins, by_monetary, by_user),
        ),
        (Method::Fixed, Some(t)) => {
            let k = bins as usize - 1;
            let money: Vec<i128> = t.monetary.iter().map(|v| float_to_micros(*v).unwrap_or(i64::MAX) as i128).collect();
            (
                (0..n).map(|i| bins - (0..k).filter(|&j| recency[i] as f64 > t.recency[j]).count() as u32).collect(),
                (0..n).map(|i| fixed_score(k, |j| payers[i].stats.purchases as f64 >= t.frequency[j])).collect(),
                (0..n)
                    .map(|i| {
                        fixed_score(k, |j| match params.monetary {
                            Monetary::Sum => net(i) >= money[j],
                            Monetary::Mean => net(i) >= money[j] * count(i),
                        })
                    })
                    .collect(),
            )
        }
        (Method::Fixed, None) => unreachable!("validated: fixed needs thresholds"),
    };
    (0..n)
        .map(|i| {
            let p = &payers[i];
            let monetary = match params.monetary {
                Monetary::Sum => micros_to_f64(p.stats.net_micros),
                Monetary::Mean => micros_to_f64(p.stats.net_micros) / p.stats.purchases as f64,
            };
            RfmRow {
                user: p.user,
                recency_days: recency[i],
                frequency: p.stats.purchases,
                net_micros: p.stats.net_micros,
                monetary,
                r: r[i],
                f: f[i],
                m: m[i],
            }
        })
        .collect()
}

fn end_of_data(ctx: &FinishContext<'_>, payers: &[Payer]) -> i64 {
    // With payers there is data, so D exists; fall back to the latest purchase.
    ctx.end.unwrap_or_else(|| payers.iter().map(|p| p.stats.last_purchase).max().unwrap_or(0))
}

/// The three scores as digits ("545"); scores are 1 to 9.
fn score_digits(r: u32, f: u32, m: u32) -> String {
    [r, f, m].iter().map(|d| char::from(b'0' + *d as u8)).collect()
}

fn segment_of(row: &RfmRow, bins: u32) -> Option<&'static str> {
    (bins == 5).then(|| segment(row.r, row.f))
}

/// The `rfm` table: `user_id, recency_days, frequency, monetary, r_score, f_score,
/// m_score, rfm_score, segment`, one row per paying user, sorted by user id.
pub fn rfm_table(payers: Vec<Payer>, params: &RfmParams, ctx: &FinishContext<'_>) -> Result<RecordBatch> {
    let end = end_of_data(ctx, &payers);
    let rows = compute(payers, end, params, ctx.users);
    let users: Vec<u32> = rows.iter().map(|r| r.user).collect();
    let score = |f: fn(&RfmRow) -> u32| -> ArrayRef {
        Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| f(r) as i32)))
    };
    table(vec![
        ("user_id", ctx.users.key_array(&users)),
        ("recency_days", Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.recency_days)))),
        ("frequency", Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.frequency as i64)))),
        ("monetary", Arc::new(Float64Array::from_iter_values(rows.iter().map(|r| r.monetary)))),
        ("r_score", score(|r| r.r)),
        ("f_score", score(|r| r.f)),
        ("m_score", score(|r| r.m)),
        ("rfm_score", Arc::new(StringArray::from_iter_values(rows.iter().map(|r| score_digits(r.r, r.f, r.m))))),
        ("segment", Arc::new(rows.iter().map(|r| segment_of(r, params.bins)).collect::<StringArray>())),
    ])
}

/// The `rfm_segments` table: per segment (all ten, best first; one null segment when
/// bins ≠ 5) `segment, users, user_share, revenue, revenue_share, mean_recency_days,
/// mean_frequency, mean_monetary`. Means are over the segment's users (null when it
/// has none); revenue is net revenue whatever `monetary` is.
pub fn segments_table(payers: Vec<Payer>, params: &RfmParams, ctx: &FinishContext<'_>) -> Result<RecordBatch> {
    let end = end_of_data(ctx, &payers);
    let rows = compute(payers, end, params, ctx.users);
    let names: Vec<Option<&str>> =
        if params.bins == 5 { SEGMENTS.iter().map(|s| Some(*s)).collect() } else { vec![None] };
    let total_users = rows.len() as f64;
    let total_revenue: i128 = rows.iter().map(|r| r.net_micros).sum();
    let mut out = SegmentColumns::default();
    for name in &names {
        let members: Vec<&RfmRow> = rows.iter().filter(|r| segment_of(r, params.bins) == *name).collect();
        let k = members.len() as f64;
        let revenue: i128 = members.iter().map(|r| r.net_micros).sum();
        let mean = |sum: f64| (k > 0.0).then(|| sum / k);
        out.users.push(members.len() as i64);
        out.user_share.push(rate(k, total_users));
        out.revenue.push(micros_to_f64(revenue));
        out.revenue_share.push(rate(revenue as f64, total_revenue as f64));
        out.recency.push(mean(members.iter().map(|r| r.recency_days as f64).sum()));
        out.frequency.push(mean(members.iter().map(|r| r.frequency as f64).sum()));
        out.monetary.push(match params.monetary {
            Monetary::Sum => mean(micros_to_f64(revenue)),
            Monetary::Mean => mean(members.iter().map(|r| r.monetary).sum()),
        });
    }
    table(vec![
        ("segment", Arc::new(names.iter().copied().collect::<StringArray>())),
        ("users", Arc::new(Int64Array::from(out.users))),
        ("user_share", Arc::new(Float64Array::from(out.user_share))),
        ("revenue", Arc::new(Float64Array::from(out.revenue))),
        ("revenue_share", Arc::new(Float64Array::from(out.revenue_share))),
        ("mean_recency_days", Arc::new(Float64Array::from(out.recency))),
        ("mean_frequency", Arc::new(Float64Array::from(out.frequency))),
        ("mean_monetary", Arc::new(Float64Array::from(out.monetary))),
    ])
}

#[derive(Default)]
struct SegmentColumns {
    users: Vec<i64>,
    user_share: Vec<Option<f64>>,
    revenue: Vec<f64>,
    revenue_share: Vec<Option<f64>>,
    recency: Vec<Option<f64>>,
    frequency: Vec<Option<f64>>,
    monetary: Vec<Option<f64>>,
}
