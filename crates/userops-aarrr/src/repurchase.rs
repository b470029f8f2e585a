//! Repurchase (复购, SPEC §5): the 30-day repurchase rate per cohort of first-purchase
//! month (`repurchase`, 30天复购率) and the next-month repurchase rate
//! (`next_month_repurchase`, 次月复购率).
//!
//! `repurchase` keeps per user the two earliest purchase instants (a multiset: two
//! purchases at the same instant are a first and a second purchase), which merges as
//! "the two smallest of four". `next_month_repurchase` keeps per user the set of local
//! months with a purchase ([`UserSets`]). Refunds (negative amounts) are never purchases.

use std::sync::Arc;

use arrow_array::{BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch};
use serde::{Deserialize, Serialize};
use userops_core::output::{rate, table};
use userops_core::time::MICROS_PER_DAY;
use userops_core::{
    decode_state, downcast_state, encode_state, parse_params, Column, ColumnNeeds, Events, FinishContext, ParamInfo,
    PartialState, PerUser, Period, Plugin, PluginKind, Registration, Result, RevenueRow, ScanContext, UserRemap,
    UserSets,
};

use crate::buckets::{check_param_values, complete, min_over_users, LocalDays, MAX_WINDOW_DAYS, PERIODS};
use crate::revenue::{check_revenue_event, REVENUE_EVENT_DOC};

/// Parameters of `repurchase`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RepurchaseParams {
    /// The window: a second purchase at most this many days (elapsed, 24 h each)
    /// after the first counts (default 30).
    pub window_days: u32,
    /// The cohort period of the first purchase: `month` (default), `week` or `day`.
    pub period: Period,
    /// The event whose rows are purchases and refunds (default `order`).
    pub revenue_event: String,
}

impl Default for RepurchaseParams {
    fn default() -> Self {
        RepurchaseParams { window_days: 30, period: Period::Month, revenue_event: "order".into() }
    }
}

/// Parameters of `next_month_repurchase`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NextMonthParams {
    /// The event whose rows are purchases and refunds (default `order`).
    pub revenue_event: String,
}

impl Default for NextMonthParams {
    fn default() -> Self {
        NextMonthParams { revenue_event: "order".into() }
    }
}

/// The two earliest purchase instants of a user (`i64::MAX` = none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct FirstTwo {
    first: i64,
    second: i64,
}

impl Default for FirstTwo {
    fn default() -> Self {
        FirstTwo { first: i64::MAX, second: i64::MAX }
    }
}

impl FirstTwo {
    #[inline]
    fn insert(&mut self, ts: i64) {
        if ts < self.first {
            self.second = self.first;
            self.first = ts;
        } else if ts < self.second {
            self.second = ts;
        }
    }

    fn absorb(&mut self, other: FirstTwo) {
        self.insert(other.first);
        self.insert(other.second);
    }
}

/// Calls `f(user, ts)` for every purchase row of `revenue_event` in the batch.
fn for_each_purchase(events: &Events, revenue_event: &str, mut f: impl FnMut(u32, i64)) {
    let code = events.event_code(revenue_event);
    if code.is_none() {
        return;
    }
    for row in 0..events.len() {
        if let Some(RevenueRow::Purchase(_)) = events.revenue_row(row, code) {
            f(events.user[row], events.ts[row]);
        }
    }
}

fn purchase_needs() -> ColumnNeeds {
    // Without an amount column every revenue-event row is a purchase.
    ColumnNeeds::new(&[Column::Event], &[Column::Amount])
}

struct RepurchasePlugin(RepurchaseParams);

struct RepurchaseState {
    users: PerUser<FirstTwo>,
    params: RepurchaseParams,
}

impl Plugin for RepurchasePlugin {
    fn name(&self) -> &'static str {
        "repurchase"
    }

    fn requires(&self) -> ColumnNeeds {
        purchase_needs()
    }

    fn events(&self) -> Option<Vec<String>> {
        Some(vec![self.0.revenue_event.clone()])
    }

    fn new_state(&self, _scan: &ScanContext) -> Box<dyn PartialState> {
        Box::new(RepurchaseState { users: PerUser::new(), params: self.0.clone() })
    }

    fn state_from_bytes(&self, bytes: &[u8], _scan: &ScanContext) -> Result<Box<dyn PartialState>> {
        Ok(Box::new(RepurchaseState { users: decode_state(bytes)?, params: self.0.clone() }))
    }
}

impl PartialState for RepurchaseState {
    fn update(&mut self, events: &Events) -> Result<()> {
        self.users.grow(events.user_count);
        let users = &mut self.users;
        for_each_purchase(events, &self.params.revenue_event, |user, ts| users.get_mut(user).insert(ts));
        Ok(())
    }

    fn merge(&mut self, other: Box<dyn PartialState>, remap: &UserRemap) -> Result<()> {
        let other = downcast_state::<RepurchaseState>(other)?.users;
        self.users.merge_from(other, remap, |a, b| a.absorb(b));
        Ok(())
    }

    fn to_bytes(&self) -> Result<Vec<u8>> {
        encode_state(&self.users)
    }

    fn finish(self: Box<Self>, ctx: &FinishContext<'_>) -> Result<RecordBatch> {
        let period = self.params.period;
        let tz = &ctx.scan.tz;
        let window = self.params.window_days as i64 * MICROS_PER_DAY;
        let buyers: Vec<FirstTwo> = self.users.iter().map(|(_, t)| *t).filter(|t| t.first != i64::MAX).collect();
        let mut days = LocalDays::new(tz);
        let cohorts: Vec<i32> = buyers.iter().map(|t| period.index_of_day(days.day(t.first))).collect();
        let (first, last) = match (cohorts.iter().min(), ctx.end) {
            (Some(&first), Some(end)) => (first, period.index(end, tz)),
            _ => (0, -1),
        };
        let n = (last - first + 1).max(0) as usize;
        let (mut buyers_n, mut eligible, mut repurchased, mut in_progress) =
            (vec![0i64; n], vec![0i64; n], vec![0i64; n], vec![0i64; n]);
        let end = ctx.end.unwrap_or(i64::MIN);
        for (t, cohort) in buyers.iter().zip(&cohorts) {
            let Some(i) = usize::try_from(cohort - first).ok().filter(|&i| i < n) else { continue };
            buyers_n[i] += 1;
            if end - t.first < window {
                in_progress[i] += 1;
            } else {
                eligible[i] += 1;
                if t.second != i64::MAX && t.second - t.first <= window {
                    repurchased[i] += 1;
                }
            }
        }
        let rates: Vec<Option<f64>> = (0..n).map(|i| rate(repurchased[i] as f64, eligible[i] as f64)).collect();
        table(vec![
            ("cohort", Arc::new(Date32Array::from_iter_values((first..=last).map(|p| period.start_day(p))))),
            ("first_buyers", Arc::new(Int64Array::from(buyers_n))),
            ("eligible", Arc::new(Int64Array::from(eligible))),
            ("repurchased", Arc::new(Int64Array::from(repurchased))),
            ("rate", Arc::new(Float64Array::from(rates))),
            ("in_progress", Arc::new(Int64Array::from(in_progress))),
        ])
    }
}

struct NextMonthPlugin(NextMonthParams);

struct NextMonthState {
    months: UserSets,
    params: NextMonthParams,
    days: LocalDays,
}

impl Plugin for NextMonthPlugin {
    fn name(&self) -> &'static str {
        "next_month_repurchase"
    }

    fn requires(&self) -> ColumnNeeds {
        purchase_needs()
    }

    fn events(&self) -> Option<Vec<String>> {
        Some(vec![self.0.revenue_event.clone()])
    }

    fn new_state(&self, scan: &ScanContext) -> Box<dyn PartialState> {
        Box::new(NextMonthState { months: UserSets::new(), params: self.0.clone(), days: LocalDays::new(&scan.tz) })
    }

    fn state_from_bytes(&self, bytes: &[u8], scan: &ScanContext) -> Result<Box<dyn PartialState>> {
        Ok(Box::new(NextMonthState {
            months: decode_state(bytes)?,
            params: self.0.clone(),
            days: LocalDays::new(&scan.tz),
        }))
    }
}

impl PartialState for NextMonthState {
    fn update(&mut self, events: &Events) -> Result<()> {
        let (months, days) = (&mut self.months, &mut self.days);
        for_each_purchase(events, &self.params.revenue_event, |user, ts| {
            months.insert(user, Period::Month.index_of_day(days.day(ts)) as i64)
        });
        Ok(())
    }

    fn merge(&mut self, other: Box<dyn PartialState>, remap: &UserRemap) -> Result<()> {
        let other = downcast_state::<NextMonthState>(other)?.months;
        self.months.merge_from(other, remap);
        Ok(())
    }

    fn to_bytes(&self) -> Result<Vec<u8>> {
        encode_state(&self.months)
    }

    fn finish(self: Box<Self>, ctx: &FinishContext<'_>) -> Result<RecordBatch> {
        let mut months = self.months;
        let tz = &ctx.scan.tz;
        let (first, last) = match (min_over_users(&mut months), ctx.end) {
            (Some(first), Some(end)) => (first, Period::Month.index(end, tz)),
            _ => (0, -1),
        };
        let n = (last - first + 1).max(0) as usize;
        let (mut paying, mut repeat) = (vec![0i64; n], vec![0i64; n]);
        months.for_each(|_, set| {
            for (j, &m) in set.iter().enumerate() {
                let Some(i) = usize::try_from(m - first as i64).ok().filter(|&i| i < n) else { continue };
                paying[i] += 1;
                if set.get(j + 1) == Some(&(m + 1)) {
                    repeat[i] += 1;
                }
            }
        });
        let end = ctx.end.unwrap_or(i64::MIN);
        let mut out_repeat = Vec::with_capacity(n);
        let mut out_rate = Vec::with_capacity(n);
        let mut out_complete = Vec::with_capacity(n);
        for (i, m) in (first..=last).enumerate() {
            // Month M+1 has begun by D for every month but the last (the month of D).
            let observed = m < last;
            out_repeat.push(observed.then_some(repeat[i]));
            out_rate.push(if observed { rate(repeat[i] as f64, paying[i] as f64) } else { None });
            out_complete.push(complete(Period::Month, m + 1, tz, end));
        }
        table(vec![
            ("month", Arc::new(Date32Array::from_iter_values((first..=last).map(|m| Period::Month.start_day(m))))),
            ("paying", Arc::new(Int64Array::from(paying))),
            ("repeat_next_month", Arc::new(Int64Array::from(out_repeat))),
            ("rate", Arc::new(Float64Array::from(out_rate))),
            ("complete", Arc::new(BooleanArray::from(out_complete))),
        ])
    }
}

fn repurchase_params(params: serde_json::Value) -> Result<RepurchaseParams> {
    check_param_values("repurchase", &params, &[("period", PERIODS)], &["window_days"], MAX_WINDOW_DAYS)?;
    let p: RepurchaseParams = parse_params("repurchase", params)?;
    check_revenue_event("repurchase", &p.revenue_event)?;
    Ok(p)
}

/// `repurchase`: the N-day repurchase rate per cohort of first-purchase month (30天复购率).
pub const REPURCHASE: Registration = Registration {
    name: "repurchase",
    kind: PluginKind::Metric,
    crate_name: env!("CARGO_PKG_NAME"),
    description: "N-day repurchase rate (30天复购率) per cohort of first-purchase month: second purchase at most N days after the first",
    params: &[
        ParamInfo { name: "window_days", doc: "a second purchase at most this many days after the first counts (default 30)" },
        ParamInfo { name: "period", doc: "cohort period of the first purchase: \"month\" (default), \"week\" or \"day\"" },
        REVENUE_EVENT_DOC,
    ],
    defaults: userops_core::default_params::<RepurchaseParams>,
    build: |params| Ok(Box::new(RepurchasePlugin(repurchase_params(params)?))),
    law_params: &[r#"{"window_days": 7, "period": "week"}"#, r#"{"window_days": 0, "period": "day"}"#, r#"{"window_days": 90}"#],
};

/// `next_month_repurchase`: share of a month's paying users who also pay the next month (次月复购率).
pub const NEXT_MONTH_REPURCHASE: Registration = Registration {
    name: "next_month_repurchase",
    kind: PluginKind::Metric,
    crate_name: env!("CARGO_PKG_NAME"),
    description:
        "Next-month repurchase rate (次月复购率): share of a month's paying users who also purchase in the next month",
    params: &[REVENUE_EVENT_DOC],
    defaults: userops_core::default_params::<NextMonthParams>,
    build: |params| {
        let p: NextMonthParams = parse_params("next_month_repurchase", params)?;
        check_revenue_event("next_month_repurchase", &p.revenue_event)?;
        Ok(Box::new(NextMonthPlugin(p)))
    },
    law_params: &[r#"{"revenue_event": "visit"}"#],
};

userops_core::inventory::submit! { REPURCHASE }
userops_core::inventory::submit! { NEXT_MONTH_REPURCHASE }

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_two_is_a_multiset_minimum() {
        let mut a = FirstTwo::default();
        for t in [9, 4, 7] {
            a.insert(t);
        }
        assert_eq!(a, FirstTwo { first: 4, second: 7 });
        let mut b = FirstTwo::default();
        b.insert(4);
        a.absorb(b);
        assert_eq!(a, FirstTwo { first: 4, second: 4 }, "two purchases at one instant count twice");
        let mut c = FirstTwo::default();
        c.absorb(FirstTwo::default());
        assert_eq!(c, FirstTwo::default());
    }
}
