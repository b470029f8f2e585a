//! Hand-made event logs with known answers: the boundaries and ties of SPEC §8 and the
//! decisions of docs/lifecycle.md.

use std::sync::{Arc, OnceLock};

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use serde_json::{json, Value};
use userops_core::time::{days_from_civil, MICROS_PER_DAY, MICROS_PER_HOUR};
use userops_core::{Analysis, Breakdown, PluginSpec, Registry, RunOptions, ScanContext, TimeZone};

const DAY: i64 = MICROS_PER_DAY;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Registry::from_registrations(userops_lifecycle::registrations()))
}

/// Midnight UTC of a date, in µs.
fn utc(y: i32, m: u32, d: u32) -> i64 {
    days_from_civil(y, m, d) as i64 * DAY
}

fn events(rows: &[(i64, i64, &str, Option<f64>)]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Int64, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        Field::new("event", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(rows.iter().map(|r| r.0).collect::<Int64Array>()),
        Arc::new(TimestampMicrosecondArray::from_iter_values(rows.iter().map(|r| r.1))),
        Arc::new(rows.iter().map(|r| Some(r.2)).collect::<StringArray>()),
        Arc::new(rows.iter().map(|r| r.3).collect::<Float64Array>()),
    ];
    RecordBatch::try_new(schema, columns).unwrap()
}

fn run_specs(
    batch: &RecordBatch,
    specs: Vec<PluginSpec>,
    tz: &str,
    as_of: Option<i64>,
) -> userops_core::Result<Vec<(String, RecordBatch)>> {
    let options = RunOptions { scan: ScanContext { tz: TimeZone::parse(tz).unwrap(), as_of }, ..RunOptions::default() };
    let analysis = Analysis::new(registry(), specs, options)?;
    let partial = analysis.scan_batches(batch.schema().as_ref(), std::slice::from_ref(batch))?;
    analysis.finish(partial)
}

fn run(batch: &RecordBatch, plugin: &str, params: Value, tz: &str, as_of: Option<i64>) -> RecordBatch {
    run_specs(batch, vec![PluginSpec::new(plugin, params)], tz, as_of).unwrap().remove(0).1
}

fn ints(b: &RecordBatch, name: &str) -> Vec<i64> {
    b.column_by_name(name).unwrap().as_primitive::<Int64Type>().values().to_vec()
}

fn floats(b: &RecordBatch, name: &str) -> Vec<Option<f64>> {
    b.column_by_name(name).unwrap().as_primitive::<Float64Type>().iter().collect()
}

fn strings(b: &RecordBatch, name: &str) -> Vec<Option<String>> {
    b.column_by_name(name).unwrap().as_string::<i32>().iter().map(|s| s.map(str::to_string)).collect()
}

fn bools(b: &RecordBatch, name: &str) -> Vec<bool> {
    b.column_by_name(name).unwrap().as_boolean().iter().map(|v| v.unwrap()).collect()
}

fn dates(b: &RecordBatch, name: &str) -> Vec<i32> {
    b.column_by_name(name).unwrap().as_primitive::<Date32Type>().values().to_vec()
}

#[test]
fn lifecycle_months_with_a_gap_and_a_first_period_only_user() {
    let b = events(&[
        (1, utc(2024, 1, 5), "visit", None), // only in the first period
        (2, utc(2024, 1, 9), "visit", None), // Jan, Feb, then Apr: resurrecting
        (2, utc(2024, 2, 9), "visit", None),
        (2, utc(2024, 4, 1), "visit", None),
        (3, utc(2024, 2, 20), "signup", None), // new in Feb, returning in Mar
        (3, utc(2024, 3, 1), "visit", None),
        (3, utc(2024, 3, 2), "order", Some(5.0)),
    ]);
    let t = run(&b, "lifecycle", json!({}), "UTC", None);
    assert_eq!(
        dates(&t, "period"),
        [utc(2024, 1, 1), utc(2024, 2, 1), utc(2024, 3, 1), utc(2024, 4, 1)]
            .iter()
            .map(|t| (t / DAY) as i32)
            .collect::<Vec<_>>()
    );
    assert_eq!(ints(&t, "new"), vec![2, 1, 0, 0]);
    assert_eq!(ints(&t, "returning"), vec![0, 1, 1, 0]);
    assert_eq!(ints(&t, "resurrecting"), vec![0, 0, 0, 1]);
    assert_eq!(ints(&t, "dormant"), vec![0, -1, -1, -1]);
    assert_eq!(ints(&t, "active"), vec![2, 2, 1, 1]);
    assert_eq!(floats(&t, "quick_ratio"), vec![None, Some(1.0), Some(0.0), Some(1.0)]);
    assert_eq!(bools(&t, "complete"), vec![true, true, true, false]);

    // as_of later than the data: the silent months are listed, with their dormant users.
    let t = run(&b, "lifecycle", json!({}), "UTC", Some(utc(2024, 6, 15)));
    assert_eq!(ints(&t, "active"), vec![2, 2, 1, 1, 0, 0]);
    assert_eq!(ints(&t, "dormant"), vec![0, -1, -1, -1, -1, 0]);
    assert_eq!(floats(&t, "quick_ratio")[4..], [Some(0.0), None]);

    // D at the last microsecond of April (as_of = the bare date 2024-04-30): April is complete.
    let t = run(&b, "lifecycle", json!({}), "UTC", Some(utc(2024, 5, 1) - 1));
    assert_eq!(bools(&t, "complete"), vec![true, true, true, true]);
    let t = run(&b, "lifecycle", json!({}), "UTC", Some(utc(2024, 5, 1) - 2));
    assert_eq!(bools(&t, "complete"), vec![true, true, true, false]);

    // Only orders count: user 3 only, new in March.
    let t = run(&b, "lifecycle", json!({"activity_events": ["order"]}), "UTC", None);
    assert_eq!(dates(&t, "period")[0], days_from_civil(2024, 3, 1));
    assert_eq!(ints(&t, "new"), vec![1, 0]);
    assert_eq!(ints(&t, "dormant"), vec![0, -1]);
}

#[test]
fn lifecycle_buckets_in_the_run_time_zone() {
    // 2024-01-31T16:30Z is 2024-02-01 00:30 in Shanghai; 2024-01-31T15:59Z is still Jan 31 there.
    let b = events(&[
        (1, utc(2024, 1, 31) + 16 * MICROS_PER_HOUR + 30 * 60_000_000, "visit", None),
        (2, utc(2024, 1, 31) + 15 * MICROS_PER_HOUR + 59 * 60_000_000, "visit", None),
    ]);
    let utc_t = run(&b, "lifecycle", json!({}), "UTC", None);
    assert_eq!(ints(&utc_t, "new"), vec![2]);
    let sh = run(&b, "lifecycle", json!({}), "Asia/Shanghai", None);
    assert_eq!(dates(&sh, "period"), vec![days_from_civil(2024, 1, 1), days_from_civil(2024, 2, 1)]);
    assert_eq!(ints(&sh, "new"), vec![1, 1]);
    assert_eq!(ints(&sh, "dormant"), vec![0, -1]);
    // Days and ISO weeks: Wed 2024-01-31 and Thu 2024-02-01 share a week.
    let week = run(&b, "lifecycle", json!({"period": "week"}), "Asia/Shanghai", None);
    assert_eq!(dates(&week, "period"), vec![days_from_civil(2024, 1, 29)]);
    let day = run(&b, "lifecycle", json!({"period": "day"}), "Asia/Shanghai", None);
    assert_eq!(ints(&day, "new"), vec![1, 1]);
}

#[test]
fn stages_at_their_boundaries() {
    let a = utc(2024, 6, 1);
    let b = events(&[
        (1, a - 30 * DAY, "visit", None), // first activity exactly new_days before A: new
        (2, a - 40 * DAY, "visit", None), // last exactly active_days before A: active
        (2, a - 30 * DAY, "visit", None),
        (3, a - 200 * DAY, "visit", None), // last exactly churn_days before A: at_risk
        (3, a - 90 * DAY, "visit", None),
        (4, a - 200 * DAY, "visit", None), // churned
        (4, a - 90 * DAY - 1, "visit", None),
        (5, a - 200 * DAY, "visit", None), // gap of 100 days ending 10 days ago: resurrected
        (5, a - 10 * DAY, "visit", None),
        (5, a - 2 * DAY, "visit", None),
        (6, a - 200 * DAY, "visit", None), // gap of exactly 90 days: active
        (6, a - 110 * DAY, "visit", None),
        (6, a - 20 * DAY, "visit", None),
        (7, a + DAY, "visit", None), // after A: not listed
    ]);
    let t = run(&b, "lifecycle_stage", json!({"at": a}), "UTC", None);
    assert_eq!(ints(&t, "user_id"), vec![1, 2, 3, 4, 5, 6]);
    let stages: Vec<String> = strings(&t, "stage").into_iter().map(|s| s.unwrap()).collect();
    assert_eq!(stages, vec!["new", "active", "at_risk", "churned", "resurrected", "active"]);
    assert_eq!(strings(&t, "segment"), strings(&t, "stage"));
    assert_eq!(ints(&t, "days_inactive"), vec![30, 30, 90, 90, 2, 20]);
    let first = t.column_by_name("first_seen").unwrap();
    assert_eq!(first.data_type(), &DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())));

    // Without `at`, A is the end of data (user 7's event).
    let t = run(&b, "lifecycle_stage", json!({}), "Asia/Shanghai", None);
    assert_eq!(ints(&t, "user_id"), vec![1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(strings(&t, "stage")[6].as_deref(), Some("new"));
    assert_eq!(
        t.column_by_name("last_seen").unwrap().data_type(),
        &DataType::Timestamp(TimeUnit::Microsecond, Some("Asia/Shanghai".into()))
    );
}

#[test]
fn transitions_count_every_pair_and_none() {
    let a1 = utc(2024, 3, 1);
    let a2 = utc(2024, 6, 1);
    let b = events(&[
        (1, a1 - 10 * DAY, "visit", None), // new at A1, churned at A2 (last 102 days before)
        (2, a1 - 60 * DAY, "visit", None), // at_risk at A1; a 142-day gap ending 10 days before A2: resurrected
        (2, a2 - 10 * DAY, "visit", None),
        (3, a2 - DAY, "visit", None), // none → new
    ]);
    let t = run(&b, "stage_transitions", json!({"start": a1, "end": a2}), "UTC", None);
    assert_eq!(t.num_rows(), 30);
    let from = strings(&t, "from_stage");
    let to = strings(&t, "to_stage");
    let users = ints(&t, "users");
    let get = |f: &str, s: &str| {
        (0..30).find(|&i| from[i].as_deref() == Some(f) && to[i].as_deref() == Some(s)).map(|i| users[i]).unwrap()
    };
    assert_eq!(get("new", "churned"), 1);
    assert_eq!(get("at_risk", "resurrected"), 1);
    assert_eq!(get("none", "new"), 1);
    assert_eq!(users.iter().sum::<i64>(), 3);
    let share = floats(&t, "share");
    let i = (0..30).find(|&i| from[i].as_deref() == Some("none") && to[i].as_deref() == Some("new")).unwrap();
    assert_eq!(share[i], Some(1.0));
    assert_eq!(share[1], Some(0.0)); // none → resurrected
    let err = run_specs(&b, vec![PluginSpec::new("stage_transitions", json!({"start": a2, "end": a1}))], "UTC", None)
        .err()
        .unwrap();
    assert!(err.to_string().contains("start"), "{err}");
}

#[test]
fn churn_warning_uses_local_days_and_sorts_flagged_first() {
    let d = utc(2024, 5, 31) + 12 * MICROS_PER_HOUR;
    let day = |n: i64| utc(2024, 5, 1) + n * DAY + 12 * MICROS_PER_HOUR;
    let b = events(&[
        // User 1: days 0, 1, 2 → median gap 1, last day May 3, inactive 28 days: flagged.
        (1, day(0), "visit", None),
        (1, day(1), "visit", None),
        (1, day(2), "order", Some(10.0)),
        // User 2: days 0, 10, 20 (and two rows on one day): median 10, inactive 10: ratio 1, not flagged.
        (2, day(0), "visit", None),
        (2, day(10), "visit", None),
        (2, day(20), "order", Some(50.0)),
        (2, day(20), "order", Some(-20.0)),
        // User 3: two days only: left out with min_active_days 3.
        (3, day(0), "visit", None),
        (3, day(1), "visit", None),
        // User 4: flagged, more revenue than user 1.
        (4, day(0), "visit", None),
        (4, day(1), "order", Some(99.0)),
        (4, day(2), "visit", None),
        (9, d, "visit", None),
    ]);
    let t = run(&b, "churn_warning", json!({}), "UTC", None);
    assert_eq!(ints(&t, "user_id"), vec![4, 1, 2]);
    assert_eq!(bools(&t, "flagged"), vec![true, true, false]);
    assert_eq!(ints(&t, "days_inactive"), vec![28, 28, 10]);
    assert_eq!(floats(&t, "median_gap_days"), vec![Some(1.0), Some(1.0), Some(10.0)]);
    assert_eq!(floats(&t, "risk_ratio"), vec![Some(28.0), Some(28.0), Some(1.0)]);
    assert_eq!(floats(&t, "revenue"), vec![Some(99.0), Some(10.0), Some(30.0)]);
    // risk_ratio equal to the threshold is not flagged (strictly greater).
    let t = run(&b, "churn_warning", json!({"threshold": 1.0}), "UTC", None);
    assert_eq!(bools(&t, "flagged"), vec![true, true, false]);
    let t = run(&b, "churn_warning", json!({"threshold": 0.99, "min_active_days": 2}), "UTC", None);
    assert_eq!(ints(&t, "user_id"), vec![4, 2, 1, 3]); // all flagged: by revenue
                                                       // In Shanghai, 12:00Z is 20:00 local: the same days.
    let sh = run(&b, "churn_warning", json!({}), "Asia/Shanghai", None);
    assert_eq!(ints(&sh, "days_inactive"), vec![28, 28, 10]);
    let err = run_specs(&b, vec![PluginSpec::new("churn_warning", json!({"min_active_days": 1}))], "UTC", None)
        .err()
        .unwrap();
    assert!(err.to_string().contains("min_active_days"), "{err}");
}

#[test]
fn tiers_first_match_wins_over_the_window() {
    let d = utc(2024, 5, 31);
    let b = events(&[
        (1, d - 7 * DAY, "visit", None), // exactly 7 days before D: in the window
        (1, d - 3 * DAY, "visit", None),
        (1, d - 2 * DAY, "visit", None),
        (2, d - 8 * DAY, "visit", None), // outside the window
        (2, d - DAY, "order", Some(30.0)),
        (3, d - 40 * DAY, "visit", None),
        (4, d, "points", Some(500.0)),
    ]);
    let rules = json!([
        ["buyer", "revenue > 0"],
        ["browser", "events.visit >= 3 and revenue == 0"],
        ["lapsed", "days_since_last >= 30"],
        {"label": "points rich", "condition": "amount.points >= 500 and events.redeem == 0"}
    ]);
    let t = run(&b, "tiers", json!({"rules": rules}), "UTC", None);
    assert_eq!(ints(&t, "user_id"), vec![1, 2, 3, 4]);
    let tiers: Vec<String> = strings(&t, "tier").into_iter().map(|s| s.unwrap()).collect();
    assert_eq!(tiers, vec!["browser", "buyer", "lapsed", "points rich"]);
    assert_eq!(strings(&t, "segment"), strings(&t, "tier"));
    let t = run(&b, "tiers", json!({"rules": rules, "period_days": 6}), "UTC", None);
    assert_eq!(strings(&t, "tier")[0].as_deref(), Some("other"));
    let t = run(&b, "tiers", json!({"rules": [["all", "events >= 1"]], "period_days": null}), "UTC", None);
    assert!(strings(&t, "tier").iter().all(|s| s.as_deref() == Some("all")));
    let bad = |rules: Value| {
        run_specs(&b, vec![PluginSpec::new("tiers", json!({ "rules": rules }))], "UTC", None).err().unwrap().to_string()
    };
    let e = bad(json!([["ok", "revenue > 0"], ["bad", "events.visit >= 5 and revenu == 0"]]));
    assert!(e.contains("rules[1]") && e.contains("tier `bad`") && e.contains("at `revenu` (character 23)"), "{e}");
    let e = bad(json!([["x"]]));
    assert!(e.contains("rules[0]") && e.contains("[label, condition]"), "{e}");
}

#[test]
fn segmenters_are_breakdowns_of_lifecycle() {
    let b = events(&[
        (1, utc(2024, 1, 5), "visit", None),
        (1, utc(2024, 2, 5), "order", Some(10.0)),
        (2, utc(2024, 2, 7), "visit", None),
        (3, utc(2024, 1, 7), "visit", None),
    ]);
    let mut by_stage = PluginSpec::new("lifecycle", json!({}));
    by_stage.output = "by_stage".into();
    by_stage.breakdown = Some(Breakdown::Segmenter("lifecycle_stage".into()));
    let mut tiers = PluginSpec::new("tiers", json!({"rules": [["buyer", "purchases > 0"]], "period_days": null}));
    tiers.output = "tiers".into();
    let mut by_tier = PluginSpec::new("lifecycle", json!({}));
    by_tier.output = "by_tier".into();
    by_tier.breakdown = Some(Breakdown::Segmenter("tiers".into()));
    let results =
        run_specs(&b, vec![PluginSpec::new("lifecycle_stage", json!({})), tiers, by_stage, by_tier], "UTC", None)
            .unwrap();
    let by_stage = &results[2].1;
    // As of D = 2024-02-07: user 1 active (first seen 33 days before), 2 new, 3 at risk (31 days silent).
    assert_eq!(
        strings(by_stage, "segment"),
        ["active", "active", "at_risk", "at_risk", "new", "new"]
            .iter()
            .map(|s| Some(s.to_string()))
            .collect::<Vec<_>>()
    );
    assert_eq!(ints(by_stage, "new"), vec![1, 0, 1, 0, 0, 1]);
    assert_eq!(ints(by_stage, "dormant"), vec![0, 0, 0, -1, 0, 0]);
    assert_eq!(ints(by_stage, "returning"), vec![0, 1, 0, 0, 0, 0]);
    let by_tier = &results[3].1;
    assert_eq!(by_tier.column(0).len(), 4);
    assert_eq!(ints(by_tier, "active"), vec![1, 1, 1, 1]); // buyer (user 1): Jan, Feb; other: Jan (3), Feb (2)
    assert!(by_tier.column(0).as_string::<i32>().iter().all(|s| s.is_some()));
}
