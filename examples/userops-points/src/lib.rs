//! # userops-points: a custom plugin, step by step
//!
//! Loyalty points (积分) are a metric the operator world watches that userops does not
//! ship: how many points users earn and redeem, the balance they sit on (a liability
//! on the books), and above all the users with a **high balance who never redeem**:
//! they value the program least for what it costs, and a reminder ("your 3,200 points
//! expire soon") is the cheapest campaign there is.
//!
//! Events: `points_earn` and `points_redeem` rows (names are parameters) with the
//! points in the `amount` column (a null amount adds 0 points; a negative amount on an
//! earn row is a reversal). Two plugins share one per-user state:
//!
//! | plugin | kind | result |
//! |---|---|---|
//! | `points` | segmenter | one row per user with points activity: earned, redeemed, balance, counts, segment |
//! | `points_summary` | metric | one row per segment and one for all: users, points, balance, shares, median and p90 balance |
//!
//! Segments, the first rule that holds: `redeemer` (at least one redeem row),
//! `high_balance_no_redemption` (balance ≥ `high_balance`), `earner` (the rest).
//!
//! The four steps of every plugin (see `docs/plugins.md`):
//! 1. **Parameters**: a serde struct with defaults and `deny_unknown_fields`.
//! 2. **State**: exact, order-free per-user summaries (integer micro-points, counts,
//!    a maximum), kept in a [`PerUser`] vector indexed by the engine's dense user index.
//! 3. **Merge and bytes**: add the sums user by user through the [`UserRemap`]; bincode.
//! 4. **Finish**: sort users by their key (never by dense index), compute floats last,
//!    build the table with `output::table`; then submit a [`Registration`].
//!
//! Registered in `crates/userops-laws`, the plugin is checked by every generic law
//! (split, reorder, parallel, empty, isolation) with no test written for it.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use serde::{Deserialize, Serialize};
use userops_core::money::{float_to_micros, micros_to_f64};
use userops_core::output::{rate, table};
use userops_core::time::MICROS_PER_DAY;
use userops_core::{
    decode_state, downcast_state, encode_state, parse_params, quantile_cont, Column, ColumnNeeds, Events,
    FinishContext, ParamInfo, PartialState, PerUser, Plugin, PluginKind, Registration, Result, ScanContext,
    UserOpsError, UserRemap,
};

/// The segment of users who redeemed at least once.
pub const REDEEMER: &str = "redeemer";
/// The segment of users with a balance of at least `high_balance` who never redeemed.
pub const HIGH_BALANCE_NO_REDEMPTION: &str = "high_balance_no_redemption";
/// The segment of the other users with points activity.
pub const EARNER: &str = "earner";
/// The segments, in the order `points_summary` lists them (after `all`).
pub const SEGMENTS: [&str; 3] = [HIGH_BALANCE_NO_REDEMPTION, EARNER, REDEEMER];

// ---------------------------------------------------------------------------------
// Step 1: parameters.
// ---------------------------------------------------------------------------------

/// Parameters of `points` and `points_summary`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PointsParams {
    /// The event of points earned (default `points_earn`).
    pub earn_event: String,
    /// The event of points redeemed (default `points_redeem`).
    pub redeem_event: String,
    /// The balance at or above which a user who never redeemed is flagged (default 1000).
    pub high_balance: f64,
}

impl Default for PointsParams {
    fn default() -> Self {
        PointsParams { earn_event: "points_earn".into(), redeem_event: "points_redeem".into(), high_balance: 1000.0 }
    }
}

impl PointsParams {
    /// Parses and checks the parameters; an error names the parameter.
    pub fn parse(plugin: &str, params: serde_json::Value) -> Result<Self> {
        let p: PointsParams = parse_params(plugin, params)?;
        if p.earn_event.is_empty() {
            return Err(UserOpsError::param(plugin, "earn_event", "must be an event name, not empty"));
        }
        if p.redeem_event.is_empty() {
            return Err(UserOpsError::param(plugin, "redeem_event", "must be an event name, not empty"));
        }
        if p.high_balance.is_nan() || p.high_balance < 0.0 || float_to_micros(p.high_balance).is_none() {
            return Err(UserOpsError::param(
                plugin,
                "high_balance",
                format!("must be a finite number of points >= 0, got {}", p.high_balance),
            ));
        }
        Ok(p)
    }

    fn high_balance_micros(&self) -> i128 {
        float_to_micros(self.high_balance).unwrap_or(0) as i128
    }
}

// ---------------------------------------------------------------------------------
// Step 2: the state. Only exact, order-free summaries: i128 sums of micro-points,
// counts, and a maximum. Any split, order or merge of the rows gives the same state.
// ---------------------------------------------------------------------------------

/// One user's points.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserPoints {
    /// Points earned, in micro-points (10^-6), exact.
    pub earned: i128,
    /// Points redeemed, in micro-points, exact.
    pub redeemed: i128,
    /// Earn rows.
    pub earn_rows: u64,
    /// Redeem rows.
    pub redeem_rows: u64,
    /// The latest earn or redeem instant (µs UTC).
    pub last: Option<i64>,
}

impl UserPoints {
    fn absorb(&mut self, other: UserPoints) {
        self.earned += other.earned;
        self.redeemed += other.redeemed;
        self.earn_rows += other.earn_rows;
        self.redeem_rows += other.redeem_rows;
        self.last = self.last.max(other.last);
    }

    /// Whether the user has any points row.
    pub fn active(&self) -> bool {
        self.earn_rows + self.redeem_rows > 0
    }

    /// Earned minus redeemed, in micro-points.
    pub fn balance(&self) -> i128 {
        self.earned - self.redeemed
    }

    /// The user's segment, the first rule that holds.
    pub fn segment(&self, high_balance: i128) -> &'static str {
        if self.redeem_rows > 0 {
            REDEEMER
        } else if self.balance() >= high_balance {
            HIGH_BALANCE_NO_REDEMPTION
        } else {
            EARNER
        }
    }
}

/// Which table a state finishes into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Report {
    Users,
    Summary,
}

struct PointsPlugin {
    name: &'static str,
    params: PointsParams,
    report: Report,
}

impl Plugin for PointsPlugin {
    fn name(&self) -> &'static str {
        self.name
    }

    /// Event names and amounts (user and time are always read).
    fn requires(&self) -> ColumnNeeds {
        ColumnNeeds::new(&[Column::Event, Column::Amount], &[])
    }

    /// Only the two points events: the engine skips every other row for this plugin
    /// (the isolation law checks this list is complete).
    fn events(&self) -> Option<Vec<String>> {
        Some(vec![self.params.earn_event.clone(), self.params.redeem_event.clone()])
    }

    fn new_state(&self, _scan: &ScanContext) -> Box<dyn PartialState> {
        Box::new(PointsState { users: PerUser::new(), params: self.params.clone(), report: self.report })
    }

    fn state_from_bytes(&self, bytes: &[u8], _scan: &ScanContext) -> Result<Box<dyn PartialState>> {
        Ok(Box::new(PointsState { users: decode_state(bytes)?, params: self.params.clone(), report: self.report }))
    }
}

struct PointsState {
    users: PerUser<UserPoints>,
    params: PointsParams,
    report: Report,
}

impl PartialState for PointsState {
    fn update(&mut self, events: &Events) -> Result<()> {
        // Event codes are batch-local: resolve the names once per batch, never store codes.
        let earn = events.event_code(&self.params.earn_event);
        let redeem = events.event_code(&self.params.redeem_event);
        if earn.is_none() && redeem.is_none() {
            return Ok(());
        }
        self.users.grow(events.user_count);
        let amounts = events.amount.as_ref();
        for row in 0..events.len() {
            let code = Some(events.event_at(row));
            let (is_earn, is_redeem) = (code == earn, code == redeem);
            if !is_earn && !is_redeem {
                continue;
            }
            let points = amounts.and_then(|a| a[row]).unwrap_or(0) as i128;
            let user = self.users.get_mut(events.user[row]);
            if is_earn {
                user.earned += points;
                user.earn_rows += 1;
            }
            if is_redeem {
                user.redeemed += points;
                user.redeem_rows += 1;
            }
            user.last = user.last.max(Some(events.ts[row]));
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------
    // Step 3: merge (user i of `other` is user remap.to[i] here) and bytes.
    // -----------------------------------------------------------------------------

    fn merge(&mut self, other: Box<dyn PartialState>, remap: &UserRemap) -> Result<()> {
        let other = downcast_state::<PointsState>(other)?;
        self.users.merge_from(other.users, remap, |mine, theirs| mine.absorb(theirs));
        Ok(())
    }

    fn to_bytes(&self) -> Result<Vec<u8>> {
        encode_state(&self.users)
    }

    // -----------------------------------------------------------------------------
    // Step 4: finish. Rows sorted by user key; floats computed last, from exact sums.
    // -----------------------------------------------------------------------------

    fn finish(self: Box<Self>, ctx: &FinishContext<'_>) -> Result<RecordBatch> {
        let mut users: Vec<u32> = self.users.iter().filter(|(_, p)| p.active()).map(|(u, _)| u).collect();
        ctx.users.sort_by_key(&mut users);
        let points: Vec<UserPoints> = users.iter().map(|u| *self.users.get(*u).expect("a listed user")).collect();
        let high = self.params.high_balance_micros();
        match self.report {
            Report::Users => users_table(ctx, &users, &points, high),
            Report::Summary => summary_table(&points, high),
        }
    }
}

fn money(values: impl Iterator<Item = i128>) -> ArrayRef {
    Arc::new(Float64Array::from_iter_values(values.map(micros_to_f64)))
}

/// The `points` table: `user_id, earned, redeemed, balance, earn_events,
/// redeem_events, days_since_last, segment`, by user id.
fn users_table(ctx: &FinishContext<'_>, users: &[u32], points: &[UserPoints], high: i128) -> Result<RecordBatch> {
    let end = ctx.end.unwrap_or(i64::MIN);
    let days = points.iter().map(|p| p.last.map(|t| (end - t).div_euclid(MICROS_PER_DAY)));
    table(vec![
        ("user_id", ctx.users.key_array(users)),
        ("earned", money(points.iter().map(|p| p.earned))),
        ("redeemed", money(points.iter().map(|p| p.redeemed))),
        ("balance", money(points.iter().map(|p| p.balance()))),
        ("earn_events", Arc::new(Int64Array::from_iter_values(points.iter().map(|p| p.earn_rows as i64)))),
        ("redeem_events", Arc::new(Int64Array::from_iter_values(points.iter().map(|p| p.redeem_rows as i64)))),
        ("days_since_last", Arc::new(days.collect::<Int64Array>())),
        ("segment", Arc::new(StringArray::from_iter_values(points.iter().map(|p| p.segment(high))))),
    ])
}

/// The `points_summary` table: one row for `all` users with points activity, then
/// one per segment: `segment, users, user_share, earned, redeemed, balance,
/// balance_share, redemption_rate, median_balance, p90_balance`.
fn summary_table(points: &[UserPoints], high: i128) -> Result<RecordBatch> {
    let total_balance: i128 = points.iter().map(|p| p.balance()).sum();
    let mut c = SummaryColumns::default();
    for name in std::iter::once("all").chain(SEGMENTS) {
        let members: Vec<&UserPoints> = points.iter().filter(|p| name == "all" || p.segment(high) == name).collect();
        let earned: i128 = members.iter().map(|p| p.earned).sum();
        let redeemed: i128 = members.iter().map(|p| p.redeemed).sum();
        let mut balances: Vec<i128> = members.iter().map(|p| p.balance()).collect();
        balances.sort_unstable();
        let sorted: Vec<f64> = balances.iter().map(|b| micros_to_f64(*b)).collect();
        c.segment.push(name);
        c.users.push(members.len() as i64);
        c.user_share.push(rate(members.len() as f64, points.len() as f64));
        c.earned.push(micros_to_f64(earned));
        c.redeemed.push(micros_to_f64(redeemed));
        c.balance.push(micros_to_f64(earned - redeemed));
        c.balance_share.push(rate((earned - redeemed) as f64, total_balance as f64));
        c.redemption_rate.push(rate(redeemed as f64, earned as f64));
        c.median.push(quantile_cont(&sorted, 0.5));
        c.p90.push(quantile_cont(&sorted, 0.9));
    }
    table(vec![
        ("segment", Arc::new(StringArray::from(c.segment))),
        ("users", Arc::new(Int64Array::from(c.users))),
        ("user_share", Arc::new(Float64Array::from(c.user_share))),
        ("earned", Arc::new(Float64Array::from(c.earned))),
        ("redeemed", Arc::new(Float64Array::from(c.redeemed))),
        ("balance", Arc::new(Float64Array::from(c.balance))),
        ("balance_share", Arc::new(Float64Array::from(c.balance_share))),
        ("redemption_rate", Arc::new(Float64Array::from(c.redemption_rate))),
        ("median_balance", Arc::new(Float64Array::from(c.median))),
        ("p90_balance", Arc::new(Float64Array::from(c.p90))),
    ])
}

#[derive(Default)]
struct SummaryColumns {
    segment: Vec<&'static str>,
    users: Vec<i64>,
    user_share: Vec<Option<f64>>,
    earned: Vec<f64>,
    redeemed: Vec<f64>,
    balance: Vec<f64>,
    balance_share: Vec<Option<f64>>,
    redemption_rate: Vec<Option<f64>>,
    median: Vec<Option<f64>>,
    p90: Vec<Option<f64>>,
}

// ---------------------------------------------------------------------------------
// Registration: a name, a kind, docs, defaults, a builder, and the parameter sets the
// law suite runs besides the defaults. The generated law data has no points events,
// so the law parameters point the plugin at events it does have (orders carry
// amounts, including refunds and nulls; invites have none), so the laws see real sums.
// ---------------------------------------------------------------------------------

const PARAMS: &[ParamInfo] = &[
    ParamInfo { name: "earn_event", doc: "event of points earned, the points in `amount` (default \"points_earn\")" },
    ParamInfo {
        name: "redeem_event",
        doc: "event of points redeemed, the points in `amount` (default \"points_redeem\")",
    },
    ParamInfo {
        name: "high_balance",
        doc: "balance at or above which a user who never redeemed is `high_balance_no_redemption` (default 1000)",
    },
];

const LAW_PARAMS: &[&str] = &[
    r#"{"earn_event": "order", "redeem_event": "invite", "high_balance": 100}"#,
    r#"{"earn_event": "order", "redeem_event": "order", "high_balance": 0}"#,
    r#"{"earn_event": "visit", "redeem_event": "order", "high_balance": 0.5}"#,
];

/// `points`: per-user points and segment (a segmenter: usable as a breakdown).
pub const POINTS: Registration = Registration {
    name: "points",
    kind: PluginKind::Segmenter,
    crate_name: env!("CARGO_PKG_NAME"),
    description: "Loyalty points (积分) per user: earned, redeemed, balance, and the segment \
                  (redeemer, high_balance_no_redemption, earner)",
    params: PARAMS,
    defaults: userops_core::default_params::<PointsParams>,
    build: |params| {
        let params = PointsParams::parse("points", params)?;
        Ok(Box::new(PointsPlugin { name: "points", params, report: Report::Users }))
    },
    law_params: LAW_PARAMS,
};

/// `points_summary`: balances per segment, and the high-balance users who never redeem.
pub const POINTS_SUMMARY: Registration = Registration {
    name: "points_summary",
    kind: PluginKind::Metric,
    crate_name: env!("CARGO_PKG_NAME"),
    description: "Loyalty points summary: users, points earned and redeemed, outstanding balance and its share, \
                  median and p90 balance, for all users and per points segment",
    params: PARAMS,
    defaults: userops_core::default_params::<PointsParams>,
    build: |params| {
        let params = PointsParams::parse("points_summary", params)?;
        Ok(Box::new(PointsPlugin { name: "points_summary", params, report: Report::Summary }))
    },
    law_params: LAW_PARAMS,
};

userops_core::inventory::submit! { POINTS }
userops_core::inventory::submit! { POINTS_SUMMARY }

/// This crate's registrations, for explicit registries (the law suite's cross-check).
pub fn registrations() -> Vec<&'static Registration> {
    vec![&POINTS, &POINTS_SUMMARY]
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{Array, TimestampMicrosecondArray};
    use arrow_schema::{DataType, Field, Schema, TimeUnit};
    use userops_core::{Analysis, PluginSpec, Registry, RunOptions};

    fn batch(rows: &[(i64, i64, &str, Option<f64>)]) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("user_id", DataType::Int64, false),
            Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), false),
            Field::new("event", DataType::Utf8, false),
            Field::new("amount", DataType::Float64, true),
        ]));
        RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.1 * MICROS_PER_DAY))),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))),
                Arc::new(rows.iter().map(|r| r.3).collect::<Float64Array>()),
            ],
        )
        .unwrap()
    }

    fn run(rows: &[(i64, i64, &str, Option<f64>)], plugin: &str, params: serde_json::Value) -> RecordBatch {
        let registry = Registry::from_registrations(registrations());
        let analysis = Analysis::new(&registry, vec![PluginSpec::new(plugin, params)], RunOptions::default()).unwrap();
        let b = batch(rows);
        let partial = analysis.scan_batches(b.schema().as_ref(), &[b]).unwrap();
        analysis.finish(partial).unwrap().remove(0).1
    }

    fn floats(batch: &RecordBatch, name: &str) -> Vec<Option<f64>> {
        let a = batch.column_by_name(name).unwrap().as_any().downcast_ref::<Float64Array>().unwrap();
        (0..a.len()).map(|i| a.is_valid(i).then(|| a.value(i))).collect()
    }

    fn strings(batch: &RecordBatch, name: &str) -> Vec<String> {
        let a = batch.column_by_name(name).unwrap().as_any().downcast_ref::<StringArray>().unwrap();
        (0..a.len()).map(|i| a.value(i).to_string()).collect()
    }

    const ROWS: &[(i64, i64, &str, Option<f64>)] = &[
        (3, 10, "points_earn", Some(1500.0)),
        (1, 1, "points_earn", Some(300.0)),
        (1, 5, "points_redeem", Some(200.0)),
        (2, 2, "points_earn", Some(400.0)),
        (2, 3, "points_earn", None),
        (4, 4, "visit", None),
        (3, 12, "points_earn", Some(-100.0)),
    ];

    #[test]
    fn users_have_sums_balances_and_segments() {
        let t = run(ROWS, "points", serde_json::Value::Null);
        let ids = t.column(0).as_any().downcast_ref::<Int64Array>().unwrap().values().to_vec();
        assert_eq!(ids, vec![1, 2, 3], "user 4 has no points rows");
        assert_eq!(floats(&t, "balance"), vec![Some(100.0), Some(400.0), Some(1400.0)]);
        assert_eq!(strings(&t, "segment"), vec![REDEEMER, EARNER, HIGH_BALANCE_NO_REDEMPTION]);
        let days = t.column_by_name("days_since_last").unwrap().as_any().downcast_ref::<Int64Array>().unwrap();
        assert_eq!(days.values().to_vec(), vec![7, 9, 0], "D is day 12, the last row");
    }

    #[test]
    fn summary_has_all_then_each_segment() {
        let t = run(ROWS, "points_summary", serde_json::json!({"high_balance": 1400}));
        assert_eq!(strings(&t, "segment"), vec!["all", HIGH_BALANCE_NO_REDEMPTION, EARNER, REDEEMER]);
        assert_eq!(floats(&t, "balance"), vec![Some(1900.0), Some(1400.0), Some(400.0), Some(100.0)]);
        assert_eq!(floats(&t, "redemption_rate")[3], Some(200.0 / 300.0));
        assert_eq!(floats(&t, "median_balance")[0], Some(400.0));
        assert_eq!(floats(&t, "balance_share")[1], Some(1400.0 / 1900.0));
    }

    #[test]
    fn bad_parameters_are_named() {
        let err = PointsParams::parse("points", serde_json::json!({"high_balance": -1})).unwrap_err();
        assert!(err.to_string().contains("high_balance"), "{err}");
        let err = PointsParams::parse("points", serde_json::json!({"treshold": 5})).unwrap_err();
        assert!(err.to_string().contains("treshold"), "{err}");
    }
}
