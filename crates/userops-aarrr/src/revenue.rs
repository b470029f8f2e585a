//! `revenue` (付费, SPEC §5): per period, net revenue, active users, paying users,
//! ARPU, ARPPU and paying rate.
//!
//! State: per user, one compact set of the periods in which the user had any event,
//! as `2p + 1` when they purchased in it and `2p` otherwise (both may be present); per
//! period, the exact net revenue in micro-units. Both merge by union or integer addition, so batches and
//! workers never change a bit.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch};
use serde::{Deserialize, Serialize};
use userops_core::money::micros_to_f64;
use userops_core::output::{rate, table};
use userops_core::{
    decode_state, downcast_state, encode_state, parse_params, Column, ColumnNeeds, Events, FinishContext, ParamInfo,
    PartialState, Period, Plugin, PluginKind, Registration, Result, RevenueRow, ScanContext, UserOpsError, UserRemap,
    UserSets,
};

use crate::buckets::{check_param_values, complete, min_over_users, LocalDays, PERIODS};

/// Parameters of `revenue`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RevenueParams {
    /// The period rows are bucketed by: `day`, `week` or `month` (default).
    pub period: Period,
    /// The event whose rows are purchases (amount ≥ 0 or null) and refunds (amount < 0).
    pub revenue_event: String,
}

impl Default for RevenueParams {
    fn default() -> Self {
        RevenueParams { period: Period::Month, revenue_event: "order".into() }
    }
}

/// Checks that a revenue event name is given.
pub(crate) fn check_revenue_event(plugin: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(UserOpsError::param(plugin, "revenue_event", "must be a non-empty event name"));
    }
    Ok(())
}

struct RevenuePlugin(RevenueParams);

#[derive(Debug, Default, Serialize, Deserialize)]
struct RevenueData {
    /// Per user, `2p + 1` for every period `p` with a purchase, and `2p` for one with
    /// other rows (a period is active with either value).
    periods: UserSets,
    /// Net revenue per period, micro-units.
    revenue: BTreeMap<i32, i128>,
}

struct RevenueState {
    data: RevenueData,
    params: RevenueParams,
    days: LocalDays,
}

impl Plugin for RevenuePlugin {
    fn name(&self) -> &'static str {
        "revenue"
    }

    fn requires(&self) -> ColumnNeeds {
        ColumnNeeds::new(&[Column::Event, Column::Amount], &[])
    }

    fn new_state(&self, scan: &ScanContext) -> Box<dyn PartialState> {
        Box::new(RevenueState { data: RevenueData::default(), params: self.0.clone(), days: LocalDays::new(&scan.tz) })
    }

    fn state_from_bytes(&self, bytes: &[u8], scan: &ScanContext) -> Result<Box<dyn PartialState>> {
        Ok(Box::new(RevenueState {
            data: decode_state(bytes)?,
            params: self.0.clone(),
            days: LocalDays::new(&scan.tz),
        }))
    }
}

impl PartialState for RevenueState {
    fn update(&mut self, events: &Events) -> Result<()> {
        let code = events.event_code(&self.params.revenue_event);
        let period = self.params.period;
        let data = &mut self.data;
        // The last period's revenue is summed locally: rows often come in time order.
        let mut current: Option<(i32, i128)> = None;
        // The last (user, value) inserted: a row adds nothing when it does not raise it.
        let mut last: Option<(u32, i64)> = None;
        for row in 0..events.len() {
            let user = events.user[row];
            let p = period.index_of_day(self.days.day(events.ts[row])) as i64;
            let revenue = events.revenue_row(row, code);
            let value = 2 * p + i64::from(matches!(revenue, Some(RevenueRow::Purchase(_))));
            if !last.is_some_and(|(u, v)| u == user && v >> 1 == p && v >= value) {
                data.periods.insert(user, value);
                last = Some((user, value));
            }
            if let Some(revenue) = revenue {
                let p = p as i32;
                match &mut current {
                    Some((q, sum)) if *q == p => *sum += revenue.net_micros() as i128,
                    _ => {
                        if let Some((q, sum)) = current.replace((p, revenue.net_micros() as i128)) {
                            *data.revenue.entry(q).or_default() += sum;
                        }
                    }
                }
            }
        }
        if let Some((q, sum)) = current {
            *data.revenue.entry(q).or_default() += sum;
        }
        Ok(())
    }

    fn merge(&mut self, other: Box<dyn PartialState>, remap: &UserRemap) -> Result<()> {
        let other = downcast_state::<RevenueState>(other)?.data;
        self.data.periods.merge_from(other.periods, remap);
        for (p, sum) in other.revenue {
            *self.data.revenue.entry(p).or_default() += sum;
        }
        Ok(())
    }

    fn to_bytes(&self) -> Result<Vec<u8>> {
        encode_state(&self.data)
    }

    fn finish(self: Box<Self>, ctx: &FinishContext<'_>) -> Result<RecordBatch> {
        let RevenueState { mut data, params, .. } = *self;
        let period = params.period;
        let tz = &ctx.scan.tz;
        let first = min_over_users(&mut data.periods).map(|v| v.div_euclid(2));
        let (first, last) = match (first, ctx.end) {
            (Some(first), Some(end)) => (first, period.index(end, tz)),
            _ => (0, -1),
        };
        let n = (last - first + 1).max(0) as usize;
        // Per period: users with either value are active, users with `2p + 1` paying.
        let (mut active, mut paying) = (vec![0i64; n], vec![0i64; n]);
        data.periods.for_each(|_, values| {
            let mut counted = None;
            for &v in values {
                let Some(i) = usize::try_from((v >> 1) - first as i64).ok().filter(|&i| i < n) else { continue };
                if counted != Some(i) {
                    active[i] += 1;
                    counted = Some(i);
                }
                paying[i] += v & 1;
            }
        });
        let mut out = Columns::default();
        for (i, index) in (first..=last).enumerate() {
            let revenue = micros_to_f64(data.revenue.get(&index).copied().unwrap_or(0));
            out.period.push(period.start_day(index));
            out.revenue.push(revenue);
            out.active.push(active[i]);
            out.paying.push(paying[i]);
            out.arpu.push(rate(revenue, active[i] as f64));
            out.arppu.push(rate(revenue, paying[i] as f64));
            out.paying_rate.push(rate(paying[i] as f64, active[i] as f64));
            out.complete.push(complete(period, index, tz, ctx.end.unwrap_or(i64::MIN)));
        }
        table(vec![
            ("period", Arc::new(Date32Array::from(out.period))),
            ("revenue", Arc::new(Float64Array::from(out.revenue))),
            ("active_users", Arc::new(Int64Array::from(out.active))),
            ("paying_users", Arc::new(Int64Array::from(out.paying))),
            ("arpu", Arc::new(Float64Array::from(out.arpu))),
            ("arppu", Arc::new(Float64Array::from(out.arppu))),
            ("paying_rate", Arc::new(Float64Array::from(out.paying_rate))),
            ("complete", Arc::new(BooleanArray::from(out.complete))),
        ])
    }
}

#[derive(Default)]
struct Columns {
    period: Vec<i32>,
    revenue: Vec<f64>,
    active: Vec<i64>,
    paying: Vec<i64>,
    arpu: Vec<Option<f64>>,
    arppu: Vec<Option<f64>>,
    paying_rate: Vec<Option<f64>>,
    complete: Vec<bool>,
}

pub(crate) const REVENUE_EVENT_DOC: ParamInfo = ParamInfo {
    name: "revenue_event",
    doc: "event whose rows are purchases (amount >= 0 or null) and refunds (amount < 0); default \"order\"",
};

pub(crate) const PERIOD_DOC: ParamInfo = ParamInfo {
    name: "period",
    doc: "\"day\", \"week\" (ISO, Monday start) or \"month\" (default), in the run's time zone",
};

/// `revenue`: net revenue, active and paying users, ARPU, ARPPU and paying rate per period.
pub const REVENUE: Registration = Registration {
    name: "revenue",
    kind: PluginKind::Metric,
    crate_name: env!("CARGO_PKG_NAME"),
    description: "Revenue per period (付费): net revenue, active users, paying users, ARPU, ARPPU and paying rate",
    params: &[PERIOD_DOC, REVENUE_EVENT_DOC],
    defaults: userops_core::default_params::<RevenueParams>,
    build: |params| {
        check_param_values("revenue", &params, &[("period", PERIODS)], &[], 0)?;
        let p: RevenueParams = parse_params("revenue", params)?;
        check_revenue_event("revenue", &p.revenue_event)?;
        Ok(Box::new(RevenuePlugin(p)))
    },
    law_params: &[r#"{"period": "day"}"#, r#"{"period": "week", "revenue_event": "invite"}"#],
};

userops_core::inventory::submit! { REVENUE }
