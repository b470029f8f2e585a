//! `retention` (留存, SPEC §4): per cohort (period of acquisition) and offset, the
//! share of eligible users who come back.
//!
//! - **calendar** mode (default): offset k is the k-th period after the cohort's
//!   period; every cohort user is eligible once that period has begun by D.
//! - **rolling** mode: offset k is the window `[a + k·L, a + (k+1)·L)` with L = 1, 7 or
//!   30 days (day, week, month) from the user's own acquisition `a`; a user is eligible
//!   once that window has begun by D.
//! - **classic** retention at k: a return event in offset k; **unbounded**: in offset k
//!   or any later one.
//!
//! Activity before the acquisition is ignored. The table is rectangular: every cohort ×
//! every offset from 0 to the last one observed (over all cohorts, capped by
//! `max_offset`); cells with no eligible user have null `eligible`, `retained`, `rate`.
//!
//! State: the acquisitions, plus per user what each mode needs and nothing more — the
//! periods with a return and whether the acquisition's period has one at or after the
//! acquisition (calendar classic, compact sets of about a byte a period), every
//! distinct return instant (rolling classic: offsets depend on the final acquisition),
//! or only the latest return instant (unbounded).

use std::sync::Arc;

use arrow_array::{ArrayRef, BooleanArray, Date32Array, Float64Array, Int64Array, RecordBatch};
use serde::{Deserialize, Serialize};
use userops_core::output::{rate, table};
use userops_core::{
    decode_state, downcast_state, encode_state, parse_params, Column, ColumnNeeds, Events, FinishContext, ParamInfo,
    PartialState, PerUser, Period, Plugin, PluginKind, Registration, Result, ScanContext, UserOpsError, UserRemap,
    UserSets,
};

use crate::acquired::{
    check_acquisition_events, default_acquisition_events, Acquired, AcquiredUser, AcquisitionConfig,
    ACQUISITION_EVENTS_DOC,
};
use crate::acquisition::PERIOD_DOC;
use crate::cohort::{by_cohort, check_breakdown, runs, EventFilter, Groups, PeriodOf, BREAKDOWN_DOC};

/// How offsets are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Calendar periods after the cohort's period.
    Calendar,
    /// Windows of 1, 7 or 30 days from each user's acquisition.
    Rolling,
}

/// What counts as retained at offset k.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A return event in offset k.
    Classic,
    /// A return event in offset k or later.
    Unbounded,
}

/// Parameters of `retention`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionParams {
    /// The cohort period (and offset unit): `day`, `week` or `month` (default).
    pub period: Period,
    /// `calendar` (default) or `rolling`.
    pub mode: Mode,
    /// `classic` (default) or `unbounded`.
    pub kind: Kind,
    /// Events that acquire a user (default `["signup"]`); `None` = first event of any kind.
    pub acquisition_events: Option<Vec<String>>,
    /// Events that count as a return; `None` (default) = any event.
    pub return_events: Option<Vec<String>>,
    /// The last offset listed (default: the last observed one).
    pub max_offset: Option<u32>,
    /// `"channel"` to break down by acquisition channel; `None` (default) for none.
    pub breakdown: Option<String>,
}

impl Default for RetentionParams {
    fn default() -> Self {
        RetentionParams {
            period: Period::Month,
            mode: Mode::Calendar,
            kind: Kind::Classic,
            acquisition_events: default_acquisition_events(),
            return_events: None,
            max_offset: None,
            breakdown: None,
        }
    }
}

/// Calendar classic: per user, every period `p` with a return, as `2p + 1` when the
/// return is at or after the acquisition known so far and in its period (a flag that
/// stays true as the acquisition moves earlier in that period), else as `2p`; plus the
/// returns before the acquisition known so far, only the latest of each period (all
/// that can matter if the acquisition moves earlier).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PeriodReturns {
    periods: UserSets,
    before: UserSets,
}

impl PeriodReturns {
    /// Adds a return of `user` at `ts`, the user's acquisition known so far being `acquired`.
    #[inline]
    fn insert(&mut self, user: u32, ts: i64, acquired: i64, periods: &mut PeriodOf) {
        let p = periods.index(ts) as i64;
        if ts < acquired {
            self.periods.insert(user, 2 * p);
            self.before.insert(user, ts);
        } else {
            let flag = periods.in_last_period(acquired);
            self.periods.insert(user, 2 * p + i64::from(flag));
        }
    }

    /// Settles the returns before each user's acquisition known so far, `acquired(user)`:
    /// flags the acquisition's period if one of them is now at or after it, and keeps
    /// the latest of each period of those still before it.
    fn settle(&mut self, acquired: impl Fn(u32) -> i64, periods: &mut PeriodOf) {
        let flags = &mut self.periods;
        self.before.retain(|user, values, kept| {
            let a = acquired(user);
            let split = values.partition_point(|t| *t < a);
            let mut latest: Option<(i32, i64)> = None;
            for &t in &values[..split] {
                let p = periods.index(t);
                if let Some((q, previous)) = latest.filter(|(q, _)| *q != p) {
                    debug_assert!(q < p);
                    kept.push(previous);
                }
                latest = Some((p, t));
            }
            kept.extend(latest.map(|(_, t)| t));
            if let Some(&t) = values.get(split) {
                let p = periods.index(t) as i64;
                if periods.in_last_period(a) {
                    flags.insert(user, 2 * p + 1);
                }
            }
        });
    }
}

/// An instant that is `i64::MIN` ("none yet") by default: the latest return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Latest(i64);

impl Default for Latest {
    fn default() -> Self {
        Latest(i64::MIN)
    }
}

/// Per-user return activity, as each mode needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Activity {
    /// Calendar classic: the periods with a return, as [`PeriodReturns`].
    Periods(PeriodReturns),
    /// Rolling classic: every distinct return instant.
    Instants(UserSets),
    /// Unbounded: the latest return instant.
    Latest(PerUser<Latest>),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Data {
    acquired: Acquired,
    activity: Activity,
}

struct RetentionPlugin(RetentionParams);

struct RetentionState {
    data: Data,
    params: RetentionParams,
    periods: PeriodOf,
}

impl RetentionPlugin {
    fn config(&self) -> AcquisitionConfig {
        AcquisitionConfig::new(self.0.acquisition_events.clone())
    }

    fn state(&self, data: Data, scan: &ScanContext) -> RetentionState {
        RetentionState { data, params: self.0.clone(), periods: PeriodOf::new(self.0.period, &scan.tz) }
    }
}

impl Plugin for RetentionPlugin {
    fn name(&self) -> &'static str {
        "retention"
    }

    fn requires(&self) -> ColumnNeeds {
        let (mut required, optional) = self.config().columns();
        if self.0.return_events.is_some() && !required.contains(&Column::Event) {
            required.push(Column::Event);
        }
        ColumnNeeds::new(&required, &optional)
    }

    fn new_state(&self, scan: &ScanContext) -> Box<dyn PartialState> {
        let activity = match (self.0.kind, self.0.mode) {
            (Kind::Classic, Mode::Calendar) => Activity::Periods(PeriodReturns::default()),
            (Kind::Classic, Mode::Rolling) => Activity::Instants(UserSets::new()),
            (Kind::Unbounded, _) => Activity::Latest(PerUser::new()),
        };
        Box::new(self.state(Data { acquired: Acquired::new(self.config()), activity }, scan))
    }

    fn state_from_bytes(&self, bytes: &[u8], scan: &ScanContext) -> Result<Box<dyn PartialState>> {
        Ok(Box::new(self.state(decode_state(bytes)?, scan)))
    }

    fn supports_breakdown(&self) -> bool {
        true
    }
}

impl PartialState for RetentionState {
    fn update(&mut self, events: &Events) -> Result<()> {
        self.data.acquired.update(events);
        let filter = EventFilter::new(events, self.params.return_events.as_deref());
        let n = events.user_count;
        match &mut self.data.activity {
            Activity::Periods(returns) => {
                if filter.is_empty() {
                    return Ok(());
                }
                for row in (0..events.len()).filter(|r| filter.matches(*r)) {
                    let user = events.user[row];
                    let acquired = self.data.acquired.ts_or_max(user);
                    returns.insert(user, events.ts[row], acquired, &mut self.periods);
                }
            }
            Activity::Instants(sets) => {
                for row in (0..events.len()).filter(|r| filter.matches(*r)) {
                    sets.insert(events.user[row], events.ts[row]);
                }
            }
            Activity::Latest(users) => {
                users.grow(n);
                for row in (0..events.len()).filter(|r| filter.matches(*r)) {
                    let latest = users.get_mut(events.user[row]);
                    latest.0 = latest.0.max(events.ts[row]);
                }
            }
        }
        Ok(())
    }

    fn merge(&mut self, other: Box<dyn PartialState>, remap: &UserRemap) -> Result<()> {
        let other = downcast_state::<RetentionState>(other)?.data;
        self.data.acquired.merge(other.acquired, remap)?;
        match (&mut self.data.activity, other.activity) {
            (Activity::Periods(a), Activity::Periods(b)) => {
                a.periods.merge_from(b.periods, remap);
                a.before.merge_from(b.before, remap);
                let acquired = &self.data.acquired;
                a.settle(|user| acquired.ts_or_max(user), &mut self.periods);
            }
            (Activity::Instants(a), Activity::Instants(b)) => a.merge_from(b, remap),
            (Activity::Latest(a), Activity::Latest(b)) => a.merge_from(b, remap, |x, y| x.0 = x.0.max(y.0)),
            _ => return Err(UserOpsError::IncompatibleStates("retention states of different modes".into())),
        }
        Ok(())
    }

    fn to_bytes(&self) -> Result<Vec<u8>> {
        encode_state(&self.data)
    }

    fn finish(self: Box<Self>, ctx: &FinishContext<'_>) -> Result<RecordBatch> {
        let RetentionState { mut data, params, mut periods } = *self;
        if let Activity::Periods(returns) = &mut data.activity {
            let acquired = &data.acquired;
            returns.settle(|user| acquired.ts_or_max(user), &mut periods);
        }
        let acquired = data.acquired.resolve(ctx.users);
        let groups = Groups::new("retention", &acquired, params.breakdown.as_deref() == Some("channel"), ctx)?;
        let rows = match ctx.end {
            Some(_) => by_cohort(&acquired, &groups, &mut periods),
            None => Vec::new(),
        };
        let end = ctx.end.unwrap_or(i64::MIN);
        let window = params.period.rolling_micros();
        let last = match params.mode {
            Mode::Calendar => rows.iter().map(|(_, c, _)| periods.index(end) - c).max(),
            Mode::Rolling => rows.iter().map(|(_, _, u)| ((end - u.ts) / window) as i32).max(),
        };
        let last = match (last, params.max_offset) {
            (Some(last), Some(max)) => Some(last.min(max.min(i32::MAX as u32) as i32)),
            (last, _) => last,
        };
        let offsets = last.map_or(0, |l| l as usize + 1);
        let retained_by_run = retained(&mut data.activity, &rows, offsets, params.mode, window, &mut periods);
        let mut out = Columns::default();
        for (run, retained) in runs(&rows).zip(retained_by_run) {
            let (group, cohort) = (run[0].0, run[0].1);
            let users: Vec<&AcquiredUser> = run.iter().map(|(_, _, u)| *u).collect();
            let latest_acquisition = users.iter().map(|u| u.ts).max().unwrap_or(i64::MIN);
            // Rolling: a user is eligible at offsets 0..=(D - a) / L (a difference array).
            let mut begun = vec![0i64; offsets + 1];
            if params.mode == Mode::Rolling {
                for u in &users {
                    let k = (((end - u.ts) / window) as usize).min(offsets.saturating_sub(1));
                    begun[0] += 1;
                    begun[k + 1] -= 1;
                }
                for k in 1..=offsets {
                    begun[k] += begun[k - 1];
                }
            }
            for k in 0..offsets {
                let (eligible, complete) = match params.mode {
                    Mode::Calendar => {
                        let index = cohort + k as i32;
                        let begun = periods.begun(index, end);
                        (if begun { users.len() as i64 } else { 0 }, begun && periods.complete(index, end))
                    }
                    Mode::Rolling => {
                        let eligible = begun[k];
                        (eligible, eligible > 0 && latest_acquisition + (k as i64 + 1) * window - 1 <= end)
                    }
                };
                out.group.push(group);
                out.cohort.push(params.period.start_day(cohort));
                out.offset.push(k as i64);
                out.size.push(users.len() as i64);
                out.eligible.push((eligible > 0).then_some(eligible));
                out.retained.push((eligible > 0).then_some(retained[k]));
                out.rate.push(if eligible > 0 { rate(retained[k] as f64, eligible as f64) } else { None });
                out.complete.push(complete);
            }
        }
        let mut columns: Vec<(&str, ArrayRef)> = Vec::new();
        columns.extend(groups.column_array(&out.group));
        columns.extend([
            ("cohort", Arc::new(Date32Array::from(out.cohort)) as ArrayRef),
            ("offset", Arc::new(Int64Array::from(out.offset))),
            ("cohort_size", Arc::new(Int64Array::from(out.size))),
            ("eligible", Arc::new(Int64Array::from(out.eligible))),
            ("retained", Arc::new(Int64Array::from(out.retained))),
            ("rate", Arc::new(Float64Array::from(out.rate))),
            ("complete", Arc::new(BooleanArray::from(out.complete))),
        ]);
        table(columns)
    }
}

/// Retained users per offset `0..offsets` of each (group, cohort) run of `rows`, in
/// run order (one pass over the per-user activity, users ascending).
fn retained(
    activity: &mut Activity,
    rows: &[(u32, i32, &AcquiredUser)],
    offsets: usize,
    mode: Mode,
    window: i64,
    periods: &mut PeriodOf,
) -> Vec<Vec<i64>> {
    // Each acquired user's run and acquisition, by dense index.
    let user_count = rows.iter().map(|(_, _, u)| u.user as usize + 1).max().unwrap_or(0);
    let mut of_user: Vec<Option<(usize, i64)>> = vec![None; user_count];
    let mut cohorts = Vec::new();
    for (r, run) in runs(rows).enumerate() {
        cohorts.push(run[0].1);
        for (_, _, u) in run {
            of_user[u.user as usize] = Some((r, u.ts));
        }
    }
    let of = |user: u32| of_user.get(user as usize).copied().flatten();
    let mut counts = vec![vec![0i64; offsets + 1]; cohorts.len()];
    match activity {
        Activity::Periods(returns) => {
            // Offset 0 counts the flagged acquisition period, later offsets any return
            // (`2p` and `2p + 1` are adjacent: count a period once).
            returns.periods.for_each(|user, values| {
                let Some((run, _)) = of(user) else { return };
                let mut counted = None;
                for &v in values {
                    let k = (v >> 1) - cohorts[run] as i64;
                    if (0..offsets as i64).contains(&k) && (k > 0 || v & 1 == 1) && counted != Some(k) {
                        counts[run][k as usize] += 1;
                        counted = Some(k);
                    }
                }
            });
        }
        Activity::Instants(instants) => instants.for_each(|user, values| {
            let Some((run, a)) = of(user) else { return };
            let mut previous = -1i64;
            for &t in values.iter().filter(|t| **t >= a) {
                let k = (t - a) / window;
                if k != previous && (k as usize) < offsets {
                    counts[run][k as usize] += 1;
                }
                previous = k;
            }
        }),
        Activity::Latest(latest) => {
            // Unbounded: a user retained through offset K adds one to 0..=K (a difference array).
            for (run, members) in runs(rows).enumerate() {
                for (_, cohort, u) in members {
                    let t = latest.get(u.user).map_or(i64::MIN, |l| l.0);
                    if t < u.ts {
                        continue;
                    }
                    let k = match mode {
                        Mode::Calendar => (periods.index(t) - cohort) as i64,
                        Mode::Rolling => (t - u.ts) / window,
                    };
                    let k = k.min(offsets as i64 - 1);
                    if k >= 0 {
                        counts[run][0] += 1;
                        counts[run][k as usize + 1] -= 1;
                    }
                }
            }
            for run in &mut counts {
                let mut running = 0;
                for c in run.iter_mut() {
                    running += *c;
                    *c = running;
                }
            }
        }
    }
    for run in &mut counts {
        run.truncate(offsets);
    }
    counts
}

#[derive(Default)]
struct Columns {
    group: Vec<u32>,
    cohort: Vec<i32>,
    offset: Vec<i64>,
    size: Vec<i64>,
    eligible: Vec<Option<i64>>,
    retained: Vec<Option<i64>>,
    rate: Vec<Option<f64>>,
    complete: Vec<bool>,
}

/// `retention`: the cohort retention table (calendar or rolling, classic or unbounded).
pub const RETENTION: Registration = Registration {
    name: "retention",
    kind: PluginKind::Metric,
    crate_name: env!("CARGO_PKG_NAME"),
    description:
        "Cohort retention (留存): per cohort and offset, eligible and retained users and the rate; calendar or \
                  rolling offsets, classic or unbounded; breaks down by channel or a segmenter",
    params: &[
        PERIOD_DOC,
        ParamInfo {
            name: "mode",
            doc: "\"calendar\" (default: the k-th period after the cohort's) or \"rolling\" (the k-th window of 1, 7 \
                  or 30 days from each user's acquisition)",
        },
        ParamInfo {
            name: "kind",
            doc: "\"classic\" (default: a return in offset k) or \"unbounded\" (a return in offset k or later)",
        },
        ACQUISITION_EVENTS_DOC,
        ParamInfo { name: "return_events", doc: "events that count as a return (default null: any event)" },
        ParamInfo { name: "max_offset", doc: "the last offset listed (default null: the last observed offset)" },
        BREAKDOWN_DOC,
    ],
    defaults: userops_core::default_params::<RetentionParams>,
    build: |params| {
        let p: RetentionParams = parse_params("retention", params)?;
        check_acquisition_events("retention", &p.acquisition_events)?;
        if p.return_events.as_ref().is_some_and(|r| r.is_empty()) {
            return Err(UserOpsError::param("retention", "return_events", "must name at least one event, or be null"));
        }
        check_breakdown("retention", &p.breakdown)?;
        Ok(Box::new(RetentionPlugin(p)))
    },
    law_params: &[
        r#"{"period": "week", "mode": "rolling"}"#,
        r#"{"period": "day", "mode": "rolling", "kind": "unbounded", "max_offset": 20}"#,
        r#"{"kind": "unbounded", "acquisition_events": null, "breakdown": "channel"}"#,
        r#"{"period": "week", "return_events": ["order", "visit"], "breakdown": "channel", "max_offset": 3}"#,
        r#"{"mode": "rolling", "return_events": ["order"], "acquisition_events": ["signup", "activate"]}"#,
    ],
};

userops_core::inventory::submit! { RETENTION }
