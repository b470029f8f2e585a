//! End-to-end checks of the viral plugins through the engine: SPEC §2's tie-break,
//! SPEC §10's edge rules, the forest on deep chains and wide cascades, K-factor and
//! cycle time on small hand-computed cases, and merges of edges split across workers.

use std::sync::Arc;
use std::time::Instant;

use arrow_array::cast::AsArray;
use arrow_array::types::{Date32Type, Float64Type, Int64Type};
use arrow_array::{Array, ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use userops_core::laws::{schema, to_batch, Row, ORIGIN};
use userops_core::time::{MICROS_PER_DAY, MICROS_PER_HOUR};
use userops_core::{Analysis, PluginSpec, Registry, RunOptions, ScanContext};

fn registry() -> Registry {
    Registry::from_registrations(userops_viral::registrations())
}

fn analysis(name: &str, params: serde_json::Value, as_of: Option<i64>) -> Analysis {
    let options = RunOptions { scan: ScanContext { as_of, ..ScanContext::default() }, ..RunOptions::default() };
    Analysis::new(&registry(), vec![PluginSpec::new(name, params)], options).expect("builds")
}

fn run(name: &str, params: serde_json::Value, batches: &[RecordBatch], as_of: Option<i64>) -> RecordBatch {
    let a = analysis(name, params, as_of);
    let partial = a.scan_batches(&schema(), batches).expect("scans");
    a.finish(partial).expect("finishes").pop().expect("one result").1
}

/// Runs `name` with every batch in its own partial, merged in reverse order.
fn run_split(name: &str, params: serde_json::Value, batches: &[RecordBatch]) -> RecordBatch {
    let a = analysis(name, params, None);
    let mut parts: Vec<_> =
        batches.iter().map(|b| a.scan_batches(&schema(), std::slice::from_ref(b)).expect("scans")).collect();
    let mut merged = a.new_partial();
    while let Some(p) = parts.pop() {
        let bytes = a.partial_to_bytes(&p).expect("serializes");
        merged = a.merge(a.partial_from_bytes(&bytes).expect("reads back"), merged).expect("merges");
    }
    a.finish(merged).expect("finishes").pop().expect("one result").1
}

fn signup(user: i64, hours: i64, channel: Option<&'static str>, referrer: Option<i64>) -> Row {
    Row {
        user: Some(user),
        ts: Some(ORIGIN + hours * MICROS_PER_HOUR),
        event: Some("signup"),
        amount_cents: None,
        channel,
        referrer,
    }
}

fn event(user: i64, hours: i64, name: &'static str, amount_cents: Option<i64>) -> Row {
    Row {
        user: Some(user),
        ts: Some(ORIGIN + hours * MICROS_PER_HOUR),
        event: Some(name),
        amount_cents,
        channel: None,
        referrer: None,
    }
}

fn ints(batch: &RecordBatch, column: &str) -> Vec<Option<i64>> {
    batch
        .column_by_name(column)
        .unwrap_or_else(|| panic!("column {column}"))
        .as_primitive::<Int64Type>()
        .iter()
        .collect()
}

fn floats(batch: &RecordBatch, column: &str) -> Vec<Option<f64>> {
    batch
        .column_by_name(column)
        .unwrap_or_else(|| panic!("column {column}"))
        .as_primitive::<Float64Type>()
        .iter()
        .collect()
}

fn strings(batch: &RecordBatch, column: &str) -> Vec<Option<String>> {
    batch.column_by_name(column).unwrap().as_string::<i32>().iter().map(|s| s.map(str::to_string)).collect()
}

#[test]
fn ties_take_the_smallest_channel_then_the_smallest_referrer_by_key() {
    // Users 9 and 5 are acquired early; 9 is seen (interned) before 5, so dense index
    // order and key order disagree.
    let mut rows = vec![signup(9, 0, None, None), signup(5, 1, None, None), signup(7, 2, None, None)];
    // User 1's first signup instant has three rows: ("b", 7), ("a", 9), ("a", 5), (null, 7).
    rows.push(signup(1, 10, Some("b"), Some(7)));
    rows.push(signup(1, 10, Some("a"), Some(9)));
    rows.push(signup(1, 10, None, Some(7)));
    rows.push(signup(1, 10, Some("a"), Some(5)));
    // A later signup with another referrer is ignored.
    rows.push(signup(1, 20, Some("a"), Some(7)));
    // User 2: the smallest channel's row has no referrer: no edge, even though other rows have one.
    rows.push(signup(2, 10, Some("ads"), None));
    rows.push(signup(2, 10, Some("social"), Some(9)));
    for split in [false, true] {
        let batches: Vec<RecordBatch> = if split {
            rows.iter().map(|r| to_batch(std::slice::from_ref(r))).collect()
        } else {
            vec![to_batch(&rows)]
        };
        let tree = if split {
            run_split("referral_tree", serde_json::Value::Null, &batches)
        } else {
            run("referral_tree", serde_json::Value::Null, &batches, None)
        };
        assert_eq!(ints(&tree, "user_id"), vec![Some(1), Some(2), Some(5), Some(7), Some(9)]);
        assert_eq!(ints(&tree, "referrer_id"), vec![Some(5), None, None, None, None], "split={split}");
    }
}

#[test]
fn invalid_edges_are_reported_and_cycles_never_followed() {
    let rows = vec![
        signup(1, 0, None, None),
        signup(2, 5, None, Some(2)),  // self
        signup(3, 5, None, Some(99)), // never acquired (99 has only a visit)
        event(99, 1, "visit", None),
        signup(4, 5, None, Some(2)), // same instant as 2
        signup(6, 3, None, Some(4)), // 4 is later
        // A raw 2-cycle 10 <-> 11 and a raw 3-cycle 20 -> 21 -> 22 -> 20.
        signup(10, 7, None, Some(11)),
        signup(11, 8, None, Some(10)),
        signup(20, 9, None, Some(22)),
        signup(21, 10, None, Some(20)),
        signup(22, 11, None, Some(21)),
        signup(30, 12, None, Some(1)), // valid
    ];
    let issues = run("referral_issues", serde_json::Value::Null, &[to_batch(&rows)], None);
    assert_eq!(ints(&issues, "user_id"), vec![Some(2), Some(3), Some(4), Some(6), Some(10), Some(20)]);
    assert_eq!(ints(&issues, "referrer_id"), vec![Some(2), Some(99), Some(2), Some(4), Some(11), Some(22)]);
    let kinds: Vec<Option<String>> = [
        "self_referral",
        "unknown_referrer",
        "referrer_not_earlier",
        "referrer_not_earlier",
        "referrer_not_earlier",
        "referrer_not_earlier",
    ]
    .iter()
    .map(|s| Some(s.to_string()))
    .collect();
    assert_eq!(strings(&issues, "issue"), kinds);
    let via = run("acquired_via", serde_json::Value::Null, &[to_batch(&rows)], None);
    let referred: Vec<Option<i64>> = ints(&via, "user_id")
        .into_iter()
        .zip(strings(&via, "segment"))
        .filter(|(_, s)| s.as_deref() == Some("referred"))
        .map(|(u, _)| u)
        .collect();
    assert_eq!(referred, vec![Some(11), Some(21), Some(22), Some(30)]);
    let tree = run("referral_tree", serde_json::Value::Null, &[to_batch(&rows)], None);
    let gen: Vec<(Option<i64>, Option<i64>, Option<i64>)> = ints(&tree, "user_id")
        .into_iter()
        .zip(ints(&tree, "generation"))
        .zip(ints(&tree, "root_id"))
        .map(|((u, g), r)| (u, g, r))
        .collect();
    assert!(gen.contains(&(Some(22), Some(2), Some(20))));
    assert!(gen.contains(&(Some(11), Some(1), Some(10))));
    assert!(gen.contains(&(Some(2), Some(0), Some(2))), "a user whose own edge is invalid is a root");
}

#[test]
fn forest_counts_descendants_revenue_and_depth() {
    // 1 -> 2 -> 3 -> 4, 1 -> 5; revenue: 3 pays 10, refunds 4; 4 pays 1.5; 5 pays 2; 1 pays 100.
    let rows = vec![
        signup(1, 0, None, None),
        signup(2, 1, None, Some(1)),
        signup(3, 2, None, Some(2)),
        signup(4, 3, None, Some(3)),
        signup(5, 4, None, Some(1)),
        event(3, 10, "order", Some(1000)),
        event(3, 11, "order", Some(-400)),
        event(4, 10, "order", Some(150)),
        event(5, 10, "order", Some(200)),
        event(5, 11, "order", None),
        event(1, 10, "order", Some(10_000)),
    ];
    let tree = run("referral_tree", serde_json::Value::Null, &[to_batch(&rows)], None);
    assert_eq!(ints(&tree, "user_id"), (1..=5).map(Some).collect::<Vec<_>>());
    assert_eq!(ints(&tree, "generation"), vec![Some(0), Some(1), Some(2), Some(3), Some(1)]);
    assert_eq!(ints(&tree, "root_id"), vec![Some(1); 5]);
    assert_eq!(ints(&tree, "direct_referrals"), vec![Some(2), Some(1), Some(1), Some(0), Some(0)]);
    assert_eq!(ints(&tree, "descendants"), vec![Some(4), Some(2), Some(1), Some(0), Some(0)]);
    assert_eq!(floats(&tree, "descendant_revenue"), vec![Some(9.5), Some(7.5), Some(1.5), Some(0.0), Some(0.0)]);
    assert_eq!(ints(&tree, "max_depth"), vec![Some(3), Some(2), Some(1), Some(0), Some(0)]);
    let top = run("top_referrers", serde_json::json!({"by": "direct_referrals", "n": 2}), &[to_batch(&rows)], None);
    assert_eq!(ints(&top, "user_id"), vec![Some(1), Some(2)]);
    let top = run("top_referrers", serde_json::json!({"by": "descendant_revenue"}), &[to_batch(&rows)], None);
    assert_eq!(ints(&top, "user_id"), vec![Some(1), Some(2), Some(3)], "only users with referrals, by revenue then id");
}

fn chain_batch(parents: &[Option<i64>]) -> RecordBatch {
    let n = parents.len();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(0..n as i64)),
        Arc::new(TimestampMicrosecondArray::from_iter_values((0..n as i64).map(|i| ORIGIN + i * 1_000_000))),
        Arc::new(StringArray::from_iter_values(std::iter::repeat_n("signup", n))),
        Arc::new(Float64Array::from(vec![None; n])),
        Arc::new(StringArray::from(vec![None::<&str>; n])),
        Arc::new(parents.iter().copied().collect::<Int64Array>()),
    ];
    RecordBatch::try_new(schema(), columns).unwrap()
}

/// Runs `names` (default parameters) over one batch in one scan, as one partial:
/// the big cases stay cheap in debug builds (no second dictionary to absorb).
fn run_big(names: &[&str], batch: RecordBatch) -> Vec<RecordBatch> {
    let specs = names.iter().map(|n| PluginSpec::new(n, serde_json::Value::Null)).collect();
    let a = Analysis::new(&registry(), specs, RunOptions::default()).expect("builds");
    let partial = a.scan_batches(&schema(), &[batch]).expect("scans");
    a.finish(partial).expect("finishes").into_iter().map(|(_, b)| b).collect()
}

#[test]
fn a_chain_of_a_million_referrals_needs_no_recursion() {
    let n = 1_000_000usize;
    // Rows in reverse order, so children arrive before their parents.
    let mut parents: Vec<Option<i64>> = (0..n as i64).map(|i| (i > 0).then(|| i - 1)).collect();
    parents.reverse();
    let batch = chain_batch(&parents);
    let ids: Vec<i64> = (0..n as i64).rev().collect();
    let batch = RecordBatch::try_new(schema(), {
        let mut c = batch.columns().to_vec();
        c[0] = Arc::new(Int64Array::from(ids.clone()));
        c[1] = Arc::new(TimestampMicrosecondArray::from_iter_values(ids.iter().map(|i| ORIGIN + i * 1_000_000)));
        c
    })
    .unwrap();
    let started = Instant::now();
    let tree = run_big(&["referral_tree"], batch).remove(0);
    eprintln!("chain of {n}: {:?}", started.elapsed());
    let gen = tree.column_by_name("generation").unwrap().as_primitive::<Int64Type>();
    let desc = tree.column_by_name("descendants").unwrap().as_primitive::<Int64Type>();
    let depth = tree.column_by_name("max_depth").unwrap().as_primitive::<Int64Type>();
    assert_eq!(tree.num_rows(), n);
    assert_eq!(gen.value(n - 1), n as i64 - 1);
    assert_eq!(desc.value(0), n as i64 - 1);
    assert_eq!(depth.value(0), n as i64 - 1);
    assert!(tree.column_by_name("root_id").unwrap().as_primitive::<Int64Type>().values().iter().all(|r| *r == 0));
}

#[test]
fn a_million_user_cascade_and_its_top_referrers() {
    let n = 1_000_000usize;
    let mut rng = userops_core::datasets::SplitMix64::new(7);
    // Each user i > 0 referred by a random earlier user (skewed to early ones): one tree.
    let parents: Vec<Option<i64>> =
        (0..n as u64).map(|i| (i > 0).then(|| (rng.below(i) as f64 * rng.unit()) as i64)).collect();
    let started = Instant::now();
    let mut out = run_big(&["referral_tree", "top_referrers"], chain_batch(&parents));
    let (tree, top) = (out.remove(0), out.remove(0));
    eprintln!("cascade of {n}: {:?}", started.elapsed());
    let desc = tree.column_by_name("descendants").unwrap().as_primitive::<Int64Type>();
    assert_eq!(desc.value(0), n as i64 - 1);
    // Descendants are one more than the children's descendants summed, for everyone.
    let mut expected = vec![0i64; n];
    for i in (1..n).rev() {
        let p = parents[i].unwrap() as usize;
        expected[p] += expected[i] + 1;
    }
    assert_eq!(desc.values().to_vec(), expected);
    assert_eq!(top.num_rows(), 20);
    assert_eq!(top.column_by_name("user_id").unwrap().as_primitive::<Int64Type>().value(0), 0);
}

#[test]
fn kfactor_and_invites_on_a_small_cohort() {
    let day = 24;
    let rows = vec![
        // January cohort: 1 and 2; 1 invites three times within 30 days (one too late) and refers 3 and 4.
        signup(1, 0, None, None),
        signup(2, 5 * day, None, None),
        event(1, 1, "invite", None),
        event(1, 2, "invite", None),
        event(1, 31 * day, "invite", None),
        signup(3, 10 * day, None, Some(1)),
        signup(4, 31 * day, None, Some(1)), // 31 days after 1: not counted in K
        signup(5, 40 * day, None, Some(2)),
        event(5, 80 * day, "visit", None),
    ];
    // January: 1, 2, 3 (3 referred by 1 after 10 days); February: 4 (by 1, 31 days
    // after: valid but outside W) and 5 (by 2, 35 days after).
    let viral = run("viral", serde_json::Value::Null, &[to_batch(&rows)], None);
    let cohorts: Vec<Option<i32>> =
        viral.column_by_name("cohort").unwrap().as_primitive::<Date32Type>().iter().collect();
    assert_eq!(cohorts, vec![Some(19_723), Some(19_754)]);
    assert_eq!(ints(&viral, "cohort_size"), vec![Some(3), Some(2)]);
    assert_eq!(ints(&viral, "eligible"), vec![Some(3), Some(2)]);
    assert_eq!(ints(&viral, "referred"), vec![Some(1), Some(0)]);
    assert_eq!(ints(&viral, "invites"), vec![Some(2), Some(0)]);
    assert_eq!(floats(&viral, "invites_per_user"), vec![Some(2.0 / 3.0), Some(0.0)]);
    assert_eq!(floats(&viral, "invite_conversion"), vec![Some(0.5), None]);
    assert_eq!(floats(&viral, "k_factor"), vec![Some(2.0 / 3.0 * 0.5), Some(0.0)]);
    assert_eq!(ints(&viral, "new_users"), vec![Some(3), Some(2)]);
    assert_eq!(floats(&viral, "referral_share"), vec![Some(1.0 / 3.0), Some(1.0)]);
    // As of 2024-02-20, February's users are in progress; without invite rows, invite columns are null.
    let no_invites: Vec<Row> = rows.iter().filter(|r| r.event != Some("invite")).cloned().collect();
    let as_of = ORIGIN + 50 * MICROS_PER_DAY;
    let viral = run("viral", serde_json::Value::Null, &[to_batch(&no_invites)], Some(as_of));
    assert_eq!(ints(&viral, "eligible"), vec![Some(3), Some(0)]);
    assert_eq!(ints(&viral, "in_progress"), vec![Some(0), Some(2)]);
    assert_eq!(floats(&viral, "k_factor"), vec![Some(1.0 / 3.0), None]);
    assert!(viral.column_by_name("invites").unwrap().null_count() == 2);
}

#[test]
fn cycle_time_overall_and_by_period() {
    let rows = vec![
        signup(1, 0, None, None),
        signup(2, 10, None, Some(1)),
        signup(3, 20, None, Some(1)),
        signup(4, 60, None, Some(2)),
        signup(5, 24 * 40, None, Some(1)),
    ];
    let overall = run("viral_cycle", serde_json::Value::Null, &[to_batch(&rows)], None);
    assert_eq!(overall.num_rows(), 1);
    assert!(overall.column_by_name("period").unwrap().is_null(0));
    assert_eq!(ints(&overall, "edges"), vec![Some(4)]);
    // Hours 10, 20, 50, 960: median 35, p90 = 50 + 0.7 * 910.
    assert_eq!(floats(&overall, "median_hours"), vec![Some(35.0)]);
    assert!((floats(&overall, "p90_hours")[0].unwrap() - 687.0).abs() < 1e-9);
    let monthly = run("viral_cycle", serde_json::json!({"period": "month"}), &[to_batch(&rows)], None);
    assert_eq!(ints(&monthly, "edges"), vec![Some(3), Some(1)]);
    assert_eq!(floats(&monthly, "median_hours"), vec![Some(20.0), Some(960.0)]);
    let empty = run("viral_cycle", serde_json::Value::Null, &[], None);
    assert_eq!(ints(&empty, "edges"), vec![Some(0)]);
}

#[test]
fn edges_whose_ends_arrive_in_different_partials_merge() {
    // The referrer's signup, the referred user's signup and an earlier duplicate signup
    // of the referrer each land in a different partial.
    let rows = vec![
        signup(50, 100, Some("b"), None),
        signup(60, 50, Some("a"), Some(50)),
        signup(50, 10, None, None),
        event(60, 70, "order", Some(500)),
    ];
    let batches: Vec<RecordBatch> = rows.iter().map(|r| to_batch(std::slice::from_ref(r))).collect();
    for name in ["referral_tree", "referral_issues", "acquired_via", "viral", "viral_cycle", "top_referrers"] {
        assert_eq!(
            run_split(name, serde_json::Value::Null, &batches),
            run(name, serde_json::Value::Null, &[to_batch(&rows)], None),
            "{name}"
        );
    }
    let tree = run_split("referral_tree", serde_json::Value::Null, &batches);
    assert_eq!(ints(&tree, "referrer_id"), vec![None, Some(50)]);
    assert_eq!(floats(&tree, "descendant_revenue"), vec![Some(5.0), Some(0.0)]);
}

#[test]
fn parameters_are_checked() {
    let r = registry();
    assert!(r.build("viral", serde_json::json!({"window_days": 5000})).is_err());
    assert!(r.build("viral", serde_json::json!({"acquisition_events": []})).is_err());
    assert!(r.build("top_referrers", serde_json::json!({"n": 0})).is_err());
    let e = r.build("top_referrers", serde_json::json!({"by": "revenue"})).err().unwrap();
    assert!(e.to_string().contains("descendant_revenue"), "{e}");
    assert!(r.build("viral_cycle", serde_json::json!({"period": "week"})).is_ok());
}
