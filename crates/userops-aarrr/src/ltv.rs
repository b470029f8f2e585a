//! `ltv` (生命周期价值, SPEC §5): cohort LTV at each calendar offset — the cumulative
//! net revenue of the cohort's users through offset k, divided by the cohort size —
//! with CAC, LTV:CAC and payback when channel spend is given.
//!
//! Offsets are calendar periods after the cohort's period, as in calendar retention,
//! and the table has the same rectangle: every cohort × every offset from 0 to the last
//! observed one; a cell whose period begins after D is null. Revenue before the user's
//! acquisition is left out (activity before acquisition is ignored, SPEC §4).
//!
//! State: the acquisitions and the net revenue per (user, period) of the rows at or
//! after the acquisition known so far, in one flat sorted list, plus the rows before it
//! kept one by one (the acquisition can still move earlier when states merge). Sums are
//! exact integers.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch};
use serde::{Deserialize, Serialize};
use userops_core::money::micros_to_f64;
use userops_core::output::{rate, table};
use userops_core::{
    decode_state, downcast_state, encode_state, parse_params, Column, ColumnNeeds, Events, FinishContext, ParamInfo,
    PartialState, Period, Plugin, PluginKind, Registration, Result, ScanContext, UserOpsError, UserRemap,
};

use crate::acquired::{
    check_acquisition_events, default_acquisition_events, Acquired, AcquisitionConfig, ACQUISITION_EVENTS_DOC,
};
use crate::acquisition::PERIOD_DOC;
use crate::cohort::{by_cohort, check_breakdown, runs, Groups, PeriodOf, BREAKDOWN_DOC};
use crate::paying_conversion::REVENUE_EVENT_DOC;
use crate::spend::{check_spend, spend_by_period, SpendRow, SPEND_DOC};

/// Parameters of `ltv`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LtvParams {
    /// The cohort period (and offset unit): `day`, `week` or `month` (default).
    pub period: Period,
    /// Events that acquire a user (default `["signup"]`); `None` = first event of any kind.
    pub acquisition_events: Option<Vec<String>>,
    /// The event whose amounts are revenue (refunds negative); default `order`.
    pub revenue_event: String,
    /// Channel spend rows for CAC; `None` (default) for none.
    pub spend: Option<Vec<SpendRow>>,
    /// The last offset listed (default: the last observed one).
    pub max_offset: Option<u32>,
    /// `"channel"` to break down by acquisition channel; `None` (default) for none.
    pub breakdown: Option<String>,
}

impl Default for LtvParams {
    fn default() -> Self {
        LtvParams {
            period: Period::Month,
            acquisition_events: default_acquisition_events(),
            revenue_event: "order".into(),
            spend: None,
            max_offset: None,
            breakdown: None,
        }
    }
}

/// Net revenue per (user, period) in micro-units, exact: one flat list of `(user,
/// period, sum)` entries (16 bytes each, nothing allocated per user), sorted by (user,
/// period) up to `clean`; new entries are appended after it and folded in when the
/// spare room, a quarter of the sorted part, is used up. A sum that would overflow
/// `i64` is continued in a second entry of the same (user, period).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct PeriodSums {
    entries: Vec<(u32, i32, i64)>,
    clean: usize,
}

impl PeriodSums {
    #[inline]
    fn add(&mut self, user: u32, period: i32, micros: i64) {
        if let Some(last) = self.entries.last_mut() {
            if (last.0, last.1) == (user, period) {
                if let Some(sum) = last.2.checked_add(micros) {
                    last.2 = sum;
                    return;
                }
            }
        }
        if self.entries.len() == self.entries.capacity() {
            self.compact();
        }
        self.entries.push((user, period, micros));
    }

    /// Sorts, sums the entries of each (user, period), and leaves room for a quarter more.
    fn compact(&mut self) {
        if self.clean < self.entries.len() {
            self.entries[self.clean..].sort_unstable();
            self.entries.sort(); // two sorted runs: one merge
            let mut out = 0;
            for i in 0..self.entries.len() {
                let e = self.entries[i];
                if out > 0 {
                    let last = &mut self.entries[out - 1];
                    if (last.0, last.1) == (e.0, e.1) {
                        if let Some(sum) = last.2.checked_add(e.2) {
                            last.2 = sum;
                            continue;
                        }
                    }
                }
                self.entries[out] = e;
                out += 1;
            }
            self.entries.truncate(out);
            self.clean = out;
        }
        let room = self.entries.len() + self.entries.len() / 4 + 64;
        if self.entries.capacity() > room {
            self.entries.shrink_to(room);
        } else {
            self.entries.reserve_exact(room - self.entries.len());
        }
    }

    /// The entries of `user`, sorted by period (the sums must be compacted).
    fn of(&self, user: u32) -> &[(u32, i32, i64)] {
        let start = self.entries.partition_point(|e| e.0 < user);
        let end = start + self.entries[start..].partition_point(|e| e.0 == user);
        &self.entries[start..end]
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Data {
    acquired: Acquired,
    /// Net revenue of the rows at or after the acquisition known so far.
    revenue: PeriodSums,
    /// `(user, instant, micro-units)` of the rows before the acquisition known so far
    /// (rare; every row is kept, as two equal rows are two purchases).
    early: Vec<(u32, i64, i64)>,
}

impl Data {
    /// Moves the early rows at or after their user's acquisition into the period sums.
    fn settle(&mut self, periods: &mut PeriodOf) {
        let (acquired, revenue) = (&self.acquired, &mut self.revenue);
        self.early.retain(|&(user, ts, micros)| {
            let keep = ts < acquired.ts_or_max(user);
            if !keep {
                revenue.add(user, periods.index(ts), micros);
            }
            keep
        });
    }
}

struct LtvPlugin(LtvParams);

struct LtvState {
    data: Data,
    params: LtvParams,
    periods: PeriodOf,
}

impl LtvPlugin {
    fn config(&self) -> AcquisitionConfig {
        AcquisitionConfig::new(self.0.acquisition_events.clone())
    }

    fn state(&self, data: Data, scan: &ScanContext) -> LtvState {
        LtvState { data, params: self.0.clone(), periods: PeriodOf::new(self.0.period, &scan.tz) }
    }
}

impl Plugin for LtvPlugin {
    fn name(&self) -> &'static str {
        "ltv"
    }

    fn requires(&self) -> ColumnNeeds {
        let (mut required, optional) = self.config().columns();
        required.extend([Column::Event, Column::Amount]);
        ColumnNeeds::new(&required, &optional)
    }

    fn new_state(&self, scan: &ScanContext) -> Box<dyn PartialState> {
        let data = Data { acquired: Acquired::new(self.config()), revenue: PeriodSums::default(), early: Vec::new() };
        Box::new(self.state(data, scan))
    }

    fn state_from_bytes(&self, bytes: &[u8], scan: &ScanContext) -> Result<Box<dyn PartialState>> {
        Ok(Box::new(self.state(decode_state(bytes)?, scan)))
    }

    fn supports_breakdown(&self) -> bool {
        true
    }
}

impl PartialState for LtvState {
    fn update(&mut self, events: &Events) -> Result<()> {
        let data = &mut self.data;
        data.acquired.update(events);
        let Some(code) = events.event_code(&self.params.revenue_event) else { return Ok(()) };
        for row in 0..events.len() {
            if let Some(revenue) = events.revenue_row(row, Some(code)) {
                let user = events.user[row];
                let ts = events.ts[row];
                if ts >= data.acquired.ts_or_max(user) {
                    data.revenue.add(user, self.periods.index(ts), revenue.net_micros());
                } else {
                    data.early.push((user, ts, revenue.net_micros()));
                }
            }
        }
        Ok(())
    }

    fn merge(&mut self, other: Box<dyn PartialState>, remap: &UserRemap) -> Result<()> {
        let other = downcast_state::<LtvState>(other)?.data;
        self.data.acquired.merge(other.acquired, remap)?;
        for (user, period, micros) in other.revenue.entries {
            self.data.revenue.add(remap.to[user as usize], period, micros);
        }
        self.data.early.extend(other.early.into_iter().map(|(user, ts, m)| (remap.to[user as usize], ts, m)));
        self.data.settle(&mut self.periods);
        Ok(())
    }

    fn to_bytes(&self) -> Result<Vec<u8>> {
        encode_state(&self.data)
    }

    fn finish(self: Box<Self>, ctx: &FinishContext<'_>) -> Result<RecordBatch> {
        let LtvState { mut data, params, mut periods } = *self;
        data.settle(&mut periods);
        data.revenue.compact();
        let acquired = data.acquired.resolve(ctx.users);
        let by_channel = params.breakdown.as_deref() == Some("channel");
        let groups = Groups::new("ltv", &acquired, by_channel, ctx)?;
        if params.spend.is_some() && groups.column == Some("segment") {
            return Err(UserOpsError::param(
                "ltv",
                "spend",
                "CAC needs breakdown=\"channel\" (or no breakdown for a blended CAC), not a segment breakdown",
            ));
        }
        let rows = match ctx.end {
            Some(_) => by_cohort(&acquired, &groups, &mut periods),
            None => Vec::new(),
        };
        let end = ctx.end.unwrap_or(i64::MIN);
        let last = rows.iter().map(|(_, c, _)| periods.index(end) - c).max();
        let last = match (last, params.max_offset) {
            (Some(last), Some(max)) => Some(last.min(max.min(i32::MAX as u32) as i32)),
            (last, _) => last,
        };
        let offsets = last.map_or(0, |l| l as usize + 1);
        // Spend per (period, channel label), and per period over all channels.
        let spend = params.spend.as_ref().map(|s| spend_by_period(s, &mut periods, ctx.end));
        let mut blended: BTreeMap<i32, i128> = BTreeMap::new();
        for ((p, _), m) in spend.iter().flatten() {
            *blended.entry(*p).or_default() += m;
        }
        let mut out = Columns::default();
        for run in runs(&rows) {
            let (group, cohort) = (run[0].0, run[0].1);
            let mut by_offset = vec![0i128; offsets];
            for (_, _, u) in run {
                for &(_, p, m) in data.revenue.of(u.user) {
                    if let Some(slot) = usize::try_from(p - cohort).ok().and_then(|k| by_offset.get_mut(k)) {
                        *slot += m as i128;
                    }
                }
            }
            let size = run.len() as i64;
            let cac_micros = match &spend {
                None => None,
                Some(spend) if by_channel => {
                    let label = groups.labels[group as usize].clone().unwrap_or_default();
                    spend.get(&(cohort, label)).copied()
                }
                Some(_) => blended.get(&cohort).copied(),
            };
            let cac = cac_micros.map(|m| micros_to_f64(m) / size as f64);
            let mut cumulative = 0i128;
            for (k, revenue) in by_offset.iter().enumerate() {
                cumulative += revenue;
                let index = cohort + k as i32;
                let begun = periods.begun(index, end);
                let ltv = begun.then(|| micros_to_f64(cumulative) / size as f64);
                out.group.push(group);
                out.cohort.push(params.period.start_day(cohort));
                out.offset.push(k as i64);
                out.size.push(size);
                out.cumulative.push(begun.then(|| micros_to_f64(cumulative)));
                out.ltv.push(ltv);
                out.complete.push(begun && periods.complete(index, end));
                out.cac.push(cac);
                out.ratio.push(match (ltv, cac) {
                    (Some(l), Some(c)) => rate(l, c),
                    _ => None,
                });
                out.paid_back.push(match (ltv, cac) {
                    (Some(l), Some(c)) => Some(l >= c),
                    _ => None,
                });
            }
        }
        let mut columns: Vec<(&str, ArrayRef)> = Vec::new();
        columns.extend(groups.column_array(&out.group));
        columns.extend([
            ("cohort", Arc::new(Date32Array::from(out.cohort)) as ArrayRef),
            ("offset", Arc::new(Int64Array::from(out.offset))),
            ("cohort_size", Arc::new(Int64Array::from(out.size))),
            ("cumulative_revenue", Arc::new(Float64Array::from(out.cumulative))),
            ("ltv", Arc::new(Float64Array::from(out.ltv))),
            ("complete", Arc::new(BooleanArray::from(out.complete))),
        ]);
        if params.spend.is_some() {
            columns.extend([
                ("cac", Arc::new(Float64Array::from(out.cac)) as ArrayRef),
                ("ltv_to_cac", Arc::new(Float64Array::from(out.ratio))),
                ("paid_back", Arc::new(BooleanArray::from(out.paid_back))),
            ]);
        }
        table(columns)
    }
}

#[derive(Default)]
struct Columns {
    group: Vec<u32>,
    cohort: Vec<i32>,
    offset: Vec<i64>,
    size: Vec<i64>,
    cumulative: Vec<Option<f64>>,
    ltv: Vec<Option<f64>>,
    complete: Vec<bool>,
    cac: Vec<Option<f64>>,
    ratio: Vec<Option<f64>>,
    paid_back: Vec<Option<bool>>,
}

/// `ltv`: cohort LTV by calendar offset, with CAC, LTV:CAC and payback from channel spend.
pub const LTV: Registration = Registration {
    name: "ltv",
    kind: PluginKind::Metric,
    crate_name: env!("CARGO_PKG_NAME"),
    description:
        "Cohort LTV (生命周期价值): cumulative net revenue per cohort user through each calendar offset, with \
                  CAC, LTV:CAC and payback when channel spend is given; breaks down by channel or a segmenter",
    params: &[
        PERIOD_DOC,
        ACQUISITION_EVENTS_DOC,
        REVENUE_EVENT_DOC,
        SPEND_DOC,
        ParamInfo { name: "max_offset", doc: "the last offset listed (default null: the last observed offset)" },
        BREAKDOWN_DOC,
    ],
    defaults: userops_core::default_params::<LtvParams>,
    build: |params| {
        let p: LtvParams = parse_params("ltv", params)?;
        check_acquisition_events("ltv", &p.acquisition_events)?;
        check_spend("ltv", &p.spend)?;
        check_breakdown("ltv", &p.breakdown)?;
        if p.revenue_event.is_empty() {
            return Err(UserOpsError::param("ltv", "revenue_event", "must be a non-empty event name"));
        }
        Ok(Box::new(LtvPlugin(p)))
    },
    law_params: &[
        r#"{"period": "week", "max_offset": 5}"#,
        r#"{"period": "day", "acquisition_events": null}"#,
        r#"{"breakdown": "channel", "spend": [
            {"channel": "ads", "period_start": "2024-01-01", "spend": 80},
            {"channel": "ads", "period_start": "2024-02-15", "spend": 40.5},
            {"channel": "social", "period_start": 1709251200000000, "spend": 0},
            {"channel": null, "period_start": "2024-01-20", "spend": 10}]}"#,
        r#"{"spend": [{"channel": "organic", "period_start": "2024-01-01", "spend": 25}], "acquisition_events": ["signup", "order"]}"#,
    ],
};

userops_core::inventory::submit! { LTV }
