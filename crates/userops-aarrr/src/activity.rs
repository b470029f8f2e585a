//! Active users and stickiness (SPEC §7): `active_users` counts distinct active users
//! per day, ISO week or month (DAU, WAU, MAU); `stickiness` is the mean DAU over each
//! month's calendar days up to date(D), days without activity counting as 0, divided
//! by that month's MAU.
//!
//! State: per user, the set of active periods (`active_users`) or active local days
//! (`stickiness`, which derives months from days), merged by union.

use std::sync::Arc;

use arrow_array::{BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch};
use serde::{Deserialize, Serialize};
use userops_core::output::{rate, table};
use userops_core::{
    decode_state, downcast_state, encode_state, parse_params, Column, ColumnNeeds, Events, FinishContext, ParamInfo,
    PartialState, Period, Plugin, PluginKind, Registration, Result, ScanContext, UserOpsError, UserRemap, UserSets,
};

use crate::buckets::{check_param_values, complete, count_into, min_over_users, LocalDays, PERIODS};

/// Parameters of `active_users`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ActiveUsersParams {
    /// `day` (DAU, default), `week` (WAU) or `month` (MAU).
    pub period: Period,
    /// Events that count as activity; `None` (default) means any event.
    pub activity_events: Option<Vec<String>>,
}

impl Default for ActiveUsersParams {
    fn default() -> Self {
        ActiveUsersParams { period: Period::Day, activity_events: None }
    }
}

/// Parameters of `stickiness`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StickinessParams {
    /// Events that count as activity; `None` (default) means any event.
    pub activity_events: Option<Vec<String>>,
}

fn check_activity_events(plugin: &str, events: &Option<Vec<String>>) -> Result<()> {
    match events {
        Some(list) if list.is_empty() => {
            Err(UserOpsError::param(plugin, "activity_events", "give at least one event name, or null for any event"))
        }
        _ => Ok(()),
    }
}

fn activity_needs(events: &Option<Vec<String>>) -> ColumnNeeds {
    match events {
        Some(_) => ColumnNeeds::new(&[Column::Event], &[]),
        None => ColumnNeeds::new(&[], &[]),
    }
}

/// Calls `f(user, ts)` for every activity row of the batch.
fn for_each_active(events: &Events, activity_events: &Option<Vec<String>>, mut f: impl FnMut(u32, i64)) {
    match (activity_events, &events.event) {
        (None, _) => {
            for (&user, &ts) in events.user.iter().zip(&events.ts) {
                f(user, ts);
            }
        }
        (Some(names), Some(coded)) => {
            let table = coded.membership(names);
            for row in 0..events.len() {
                if coded.is_member(&table, row) {
                    f(events.user[row], events.ts[row]);
                }
            }
        }
        (Some(_), None) => {}
    }
}

/// What a state buckets activity by, and reports.
#[derive(Debug, Clone)]
enum Report {
    Active(ActiveUsersParams),
    Stickiness(StickinessParams),
}

impl Report {
    fn activity_events(&self) -> &Option<Vec<String>> {
        match self {
            Report::Active(p) => &p.activity_events,
            Report::Stickiness(p) => &p.activity_events,
        }
    }

    /// The bucket a local day falls in: a period index, or the day itself.
    fn bucket_of_day(&self, day: i32) -> i32 {
        match self {
            Report::Active(p) => p.period.index_of_day(day),
            Report::Stickiness(_) => day,
        }
    }
}

struct ActivityPlugin {
    name: &'static str,
    report: Report,
}

struct ActivityState {
    buckets: UserSets,
    report: Report,
    days: LocalDays,
}

impl Plugin for ActivityPlugin {
    fn name(&self) -> &'static str {
        self.name
    }

    fn requires(&self) -> ColumnNeeds {
        activity_needs(self.report.activity_events())
    }

    fn events(&self) -> Option<Vec<String>> {
        self.report.activity_events().clone()
    }

    fn new_state(&self, scan: &ScanContext) -> Box<dyn PartialState> {
        Box::new(ActivityState {
            buckets: UserSets::new(),
            report: self.report.clone(),
            days: LocalDays::new(&scan.tz),
        })
    }

    fn state_from_bytes(&self, bytes: &[u8], scan: &ScanContext) -> Result<Box<dyn PartialState>> {
        Ok(Box::new(ActivityState {
            buckets: decode_state(bytes)?,
            report: self.report.clone(),
            days: LocalDays::new(&scan.tz),
        }))
    }
}

impl PartialState for ActivityState {
    fn update(&mut self, events: &Events) -> Result<()> {
        let (buckets, days, report) = (&mut self.buckets, &mut self.days, &self.report);
        for_each_active(events, report.activity_events(), |user, ts| {
            buckets.insert(user, report.bucket_of_day(days.day(ts)) as i64)
        });
        Ok(())
    }

    fn merge(&mut self, other: Box<dyn PartialState>, remap: &UserRemap) -> Result<()> {
        let other = downcast_state::<ActivityState>(other)?.buckets;
        self.buckets.merge_from(other, remap);
        Ok(())
    }

    fn to_bytes(&self) -> Result<Vec<u8>> {
        encode_state(&self.buckets)
    }

    fn finish(self: Box<Self>, ctx: &FinishContext<'_>) -> Result<RecordBatch> {
        let ActivityState { mut buckets, report, .. } = *self;
        match report {
            Report::Active(p) => active_table(&mut buckets, p.period, ctx),
            Report::Stickiness(_) => stickiness_table(&mut buckets, ctx),
        }
    }
}

/// `period, active_users, complete`: every period from the first with activity to the
/// period of D.
fn active_table(sets: &mut UserSets, period: Period, ctx: &FinishContext<'_>) -> Result<RecordBatch> {
    let tz = &ctx.scan.tz;
    let (first, last) = match (min_over_users(sets), ctx.end) {
        (Some(first), Some(end)) => (first, period.index(end, tz)),
        _ => (0, -1),
    };
    let mut counts = vec![0i64; (last - first + 1).max(0) as usize];
    count_into(sets, first, &mut counts);
    let end = ctx.end.unwrap_or(i64::MIN);
    table(vec![
        ("period", Arc::new(Date32Array::from_iter_values((first..=last).map(|p| period.start_day(p))))),
        ("active_users", Arc::new(Int64Array::from(counts))),
        ("complete", Arc::new(BooleanArray::from_iter((first..=last).map(|p| Some(complete(period, p, tz, end)))))),
    ])
}

/// `month, mean_dau, mau, stickiness, complete`: every month from the first with
/// activity to the month of D.
fn stickiness_table(days: &mut UserSets, ctx: &FinishContext<'_>) -> Result<RecordBatch> {
    let tz = &ctx.scan.tz;
    let month = |day: i32| Period::Month.index_of_day(day);
    let (first, last, last_day) = match (min_over_users(days), ctx.end) {
        (Some(first_day), Some(end)) => (month(first_day), Period::Month.index(end, tz), tz.local_day(end)),
        _ => (0, -1, 0),
    };
    let n = (last - first + 1).max(0) as usize;
    let (mut user_days, mut mau) = (vec![0i64; n], vec![0i64; n]);
    days.for_each(|_, active_days| {
        let mut previous_month = None;
        for &day in active_days {
            let m = month(day as i32);
            let Some(i) = usize::try_from(m - first).ok().filter(|&i| i < n) else { continue };
            user_days[i] += 1;
            if previous_month != Some(m) {
                mau[i] += 1;
                previous_month = Some(m);
            }
        }
    });
    let end = ctx.end.unwrap_or(i64::MIN);
    let mut mean_dau = Vec::with_capacity(n);
    let mut stickiness = Vec::with_capacity(n);
    for (i, m) in (first..=last).enumerate() {
        let start = Period::Month.start_day(m);
        let stop = (Period::Month.start_day(m + 1) - 1).min(last_day);
        let calendar_days = (stop - start + 1).max(1) as f64;
        let mean = user_days[i] as f64 / calendar_days;
        mean_dau.push(mean);
        stickiness.push(rate(mean, mau[i] as f64));
    }
    table(vec![
        ("month", Arc::new(Date32Array::from_iter_values((first..=last).map(|m| Period::Month.start_day(m))))),
        ("mean_dau", Arc::new(Float64Array::from(mean_dau))),
        ("mau", Arc::new(Int64Array::from(mau))),
        ("stickiness", Arc::new(Float64Array::from(stickiness))),
        (
            "complete",
            Arc::new(BooleanArray::from_iter((first..=last).map(|m| Some(complete(Period::Month, m, tz, end))))),
        ),
    ])
}

const ACTIVITY_EVENTS_DOC: ParamInfo =
    ParamInfo { name: "activity_events", doc: "event names that count as activity; null (default) means any event" };

/// `active_users`: distinct active users per day, week or month (DAU / WAU / MAU).
pub const ACTIVE_USERS: Registration = Registration {
    name: "active_users",
    kind: PluginKind::Metric,
    crate_name: env!("CARGO_PKG_NAME"),
    description: "Active users (DAU / WAU / MAU): distinct users with activity per day, ISO week or month",
    params: &[
        ParamInfo { name: "period", doc: "\"day\" (default, DAU), \"week\" (WAU, ISO weeks) or \"month\" (MAU)" },
        ACTIVITY_EVENTS_DOC,
    ],
    defaults: userops_core::default_params::<ActiveUsersParams>,
    build: |params| {
        check_param_values("active_users", &params, &[("period", PERIODS)], &[], 0)?;
        let p: ActiveUsersParams = parse_params("active_users", params)?;
        check_activity_events("active_users", &p.activity_events)?;
        Ok(Box::new(ActivityPlugin { name: "active_users", report: Report::Active(p) }))
    },
    law_params: &[r#"{"period": "week"}"#, r#"{"period": "month", "activity_events": ["visit", "order"]}"#],
};

/// `stickiness`: mean DAU over each month's days up to date(D), divided by MAU.
pub const STICKINESS: Registration = Registration {
    name: "stickiness",
    kind: PluginKind::Metric,
    crate_name: env!("CARGO_PKG_NAME"),
    description:
        "Stickiness (DAU/MAU) per month: mean DAU over the month's calendar days up to the end of data, divided by MAU",
    params: &[ACTIVITY_EVENTS_DOC],
    defaults: userops_core::default_params::<StickinessParams>,
    build: |params| {
        let p: StickinessParams = parse_params("stickiness", params)?;
        check_activity_events("stickiness", &p.activity_events)?;
        Ok(Box::new(ActivityPlugin { name: "stickiness", report: Report::Stickiness(p) }))
    },
    law_params: &[r#"{"activity_events": ["visit"]}"#],
};

userops_core::inventory::submit! { ACTIVE_USERS }
userops_core::inventory::submit! { STICKINESS }
