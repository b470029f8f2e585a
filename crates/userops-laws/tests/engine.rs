//! The engine's promises beyond the laws: partial-state bytes refuse what they cannot
//! merge, bad amounts fail with the real count, breakdowns are validated, and results
//! carry the scan counters.

use std::sync::Arc;

use arrow_array::{Float64Array, Int64Array, RecordBatch, StringArray, TimestampSecondArray};
use arrow_schema::{DataType, Field, Schema};
use serde_json::json;
use userops_core::laws::{schema, to_batch, Row, ORIGIN};
use userops_core::{Analysis, Breakdown, PluginSpec, RunOptions, ScanContext, TimeZone, UserOpsError};

fn analysis(specs: Vec<PluginSpec>, options: RunOptions) -> Result<Analysis, UserOpsError> {
    Analysis::new(userops_laws::registry(), specs, options)
}

fn rows() -> Vec<Row> {
    (0..20)
        .map(|i| Row {
            user: Some(i % 5),
            ts: Some(ORIGIN + i * 3_600_000_000),
            event: Some(if i % 2 == 0 { "order" } else { "visit" }),
            amount_cents: (i % 2 == 0).then_some(100 * i),
            channel: None,
            referrer: None,
        })
        .collect()
}

#[test]
fn partial_bytes_refuse_other_plugins_parameters_and_options() {
    let a = analysis(vec![PluginSpec::new("rfm", json!({}))], RunOptions::default()).unwrap();
    let bytes = a.partial_to_bytes(&a.scan_batches(&schema(), &[to_batch(&rows())]).unwrap()).unwrap();
    assert!(a.partial_from_bytes(&bytes).is_ok());

    let other_params = analysis(vec![PluginSpec::new("rfm", json!({"bins": 4}))], RunOptions::default()).unwrap();
    let err = other_params.partial_from_bytes(&bytes).err().expect("refused").to_string();
    assert!(err.contains("bins"), "names the difference: {err}");

    let other_tz = RunOptions {
        scan: ScanContext { tz: TimeZone::parse("Asia/Tokyo").unwrap(), as_of: None },
        ..Default::default()
    };
    let err =
        analysis(vec![PluginSpec::new("rfm", json!({}))], other_tz).unwrap().partial_from_bytes(&bytes).err().unwrap();
    assert!(matches!(err, UserOpsError::IncompatibleStates(_)), "{err}");

    // Defaults written out or left implicit are the same parameters.
    let explicit =
        analysis(vec![PluginSpec::new("rfm", json!({"bins": 5, "method": "quantile"}))], RunOptions::default())
            .unwrap();
    assert!(explicit.partial_from_bytes(&bytes).is_ok());

    let mut corrupt = bytes.clone();
    corrupt.truncate(bytes.len() - 3);
    assert!(matches!(a.partial_from_bytes(&corrupt).err().unwrap(), UserOpsError::Decode(_)));
    assert!(matches!(a.partial_from_bytes(b"not a state").err().unwrap(), UserOpsError::Decode(_)));
    let mut newer = bytes;
    newer[8] = 99;
    assert!(a.partial_from_bytes(&newer).err().unwrap().to_string().contains("version 99"));
}

#[test]
fn nan_amounts_fail_at_finish_with_the_total_count() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Int64, true),
        Field::new("ts", DataType::Timestamp(arrow_schema::TimeUnit::Second, None), true),
        Field::new("event", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
    ]));
    let batch = |amounts: Vec<f64>| {
        RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(vec![1; amounts.len()])),
                Arc::new(TimestampSecondArray::from(vec![1; amounts.len()])),
                Arc::new(StringArray::from(vec!["order"; amounts.len()])),
                Arc::new(Float64Array::from(amounts)),
            ],
        )
        .unwrap()
    };
    let a = analysis(vec![PluginSpec::new("rfm", json!({}))], RunOptions::default()).unwrap();
    let partial = a.scan_batches(&schema, &[batch(vec![f64::NAN, 1.0]), batch(vec![f64::INFINITY, f64::NAN])]).unwrap();
    let err = a.finish(partial).expect_err("an error");
    assert!(matches!(err, UserOpsError::NonFiniteAmount { rows: 3, .. }), "{err}");
    assert!(err.to_string().contains("`amount`"));
}

#[test]
fn analyses_are_validated_when_built() {
    let twice = vec![PluginSpec::new("rfm", json!({})), PluginSpec::new("rfm", json!({}))];
    assert!(analysis(twice, RunOptions::default()).err().unwrap().to_string().contains("two plugins"));
    let mut no_breakdown = PluginSpec::new("rfm_segments", json!({}));
    no_breakdown.breakdown = Some(Breakdown::Segmenter("rfm".into()));
    let err = analysis(vec![PluginSpec::new("rfm", json!({})), no_breakdown], RunOptions::default()).err().unwrap();
    assert!(err.to_string().contains("takes no breakdown"), "{err}");
    let err = analysis(vec![PluginSpec::new("rfm", json!({"bins": 12}))], RunOptions::default()).err().unwrap();
    assert!(err.to_string().contains("bins") && err.to_string().contains("12"), "{err}");
}

#[test]
fn results_carry_the_scan_counters() {
    let mut rows = rows();
    rows.push(Row {
        user: None,
        ts: Some(ORIGIN),
        event: Some("visit"),
        amount_cents: None,
        channel: None,
        referrer: None,
    });
    let a = analysis(vec![PluginSpec::new("concentration", json!({}))], RunOptions::default()).unwrap();
    let results = a.finish(a.scan_batches(&schema(), &[to_batch(&rows)]).unwrap()).unwrap();
    let metadata = results[0].1.schema().metadata().clone();
    assert_eq!(metadata["userops.null_user_id"], "1");
    assert_eq!(metadata["userops.rows_used"], "20");
}

#[test]
fn serialized_states_merge_and_finish_without_the_original_analysis() {
    let specs = vec![PluginSpec::new("rfm", json!({"bins": 4})), PluginSpec::new("concentration", json!({}))];
    let a = analysis(specs, RunOptions::default()).unwrap();
    let all = rows();
    let expected = a.finish(a.scan_batches(&schema(), &[to_batch(&all)]).unwrap()).unwrap();
    let states: Vec<Vec<u8>> = all
        .chunks(6)
        .map(|c| a.partial_to_bytes(&a.scan_batches(&schema(), &[to_batch(c)]).unwrap()).unwrap())
        .collect();
    let refs: Vec<&[u8]> = states.iter().map(|s| s.as_slice()).collect();
    let merged = Analysis::merge_bytes(userops_laws::registry(), &refs).unwrap();
    let (rebuilt, partial) = Analysis::from_partial_bytes(userops_laws::registry(), &merged).unwrap();
    assert_eq!(rebuilt.finish(partial).unwrap(), expected);

    let other = analysis(vec![PluginSpec::new("rfm", json!({}))], RunOptions::default()).unwrap();
    let foreign = other.partial_to_bytes(&other.new_partial()).unwrap();
    let err = Analysis::merge_bytes(userops_laws::registry(), &[&merged, &foreign]).err().unwrap();
    assert!(matches!(err, UserOpsError::IncompatibleStates(_)), "{err}");
    assert!(Analysis::merge_bytes(userops_laws::registry(), &[]).is_err());
}

#[test]
fn a_failing_input_stream_is_an_error_from_every_worker_count() {
    for threads in [1, 2, 4] {
        let a =
            analysis(vec![PluginSpec::new("rfm", json!({}))], RunOptions { threads, ..Default::default() }).unwrap();
        let batches = vec![
            Ok(to_batch(&rows())),
            Err(arrow_schema::ArrowError::IoError("disk gone".into(), std::io::Error::other("disk gone"))),
            Ok(to_batch(&rows())),
        ];
        let reader = Box::new(arrow_array::RecordBatchIterator::new(batches, schema()));
        let err = a.scan(reader, None).err().expect("the stream's error");
        assert!(err.to_string().contains("disk gone"), "{err}");
    }
}

#[test]
fn workers_that_fold_early_into_the_shared_result_change_nothing() {
    use arrow_array::{Array, TimestampMicrosecondArray, UInt32Array};
    // A time-ordered log, so each of two workers sees nearly every user and folds its
    // partial into the shared result before the end (past 65,536 users).
    let shop = userops_core::datasets::shop(90_000, 5);
    let ts = shop.column(1).as_any().downcast_ref::<TimestampMicrosecondArray>().unwrap();
    let mut order: Vec<u32> = (0..shop.num_rows() as u32).collect();
    order.sort_by_key(|&i| (ts.value(i as usize), i));
    let indices = UInt32Array::from(order);
    let columns =
        shop.columns().iter().map(|c| arrow_select::take::take(c.as_ref(), &indices, None).unwrap()).collect();
    let by_time = RecordBatch::try_new(shop.schema(), columns).unwrap();
    let specs = || -> Vec<PluginSpec> {
        ["rfm", "retention", "active_users", "viral", "lifecycle"]
            .iter()
            .map(|p| PluginSpec::new(p, json!({})))
            .collect()
    };
    let run = |threads: usize| {
        let a = analysis(specs(), RunOptions { threads, ..Default::default() }).unwrap();
        let reader = Box::new(arrow_array::RecordBatchIterator::new(vec![Ok(by_time.clone())], by_time.schema()));
        let partial = a.scan(reader, None).unwrap();
        assert!(partial.users.len() > 65_536);
        a.finish(partial).unwrap()
    };
    let (one, two) = (run(1), run(2));
    assert_eq!(one.len(), 5);
    for ((name, a), (_, b)) in one.iter().zip(&two) {
        assert!(a.num_rows() > 0, "{name} is empty");
        assert_eq!(a, b, "{name} differs between one worker and two");
    }
}
