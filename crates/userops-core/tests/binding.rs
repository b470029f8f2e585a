//! Column binding over the Arrow type zoo of SPEC §1: every accepted type normalizes
//! to the same values, and every wrong input is an error naming the column, the type
//! found and the types accepted.

use std::sync::Arc;

use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, Date32Array, Date64Array, Decimal128Array, DictionaryArray, Float32Array, Float64Array, Int32Array,
    Int64Array, LargeStringArray, RecordBatch, StringArray, StringViewArray, TimestampMillisecondArray,
    TimestampNanosecondArray, TimestampSecondArray, UInt64Array,
};
use arrow_schema::{Field, Schema};
use userops_core::bind::Binding;
use userops_core::time::{days_from_civil, MICROS_PER_DAY, MICROS_PER_HOUR};
use userops_core::{Column, ColumnNames, ColumnNeeds, ScanStats, TimeZone, UserDict, UserOpsError};

fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
    let fields: Vec<Field> = columns.iter().map(|(n, a)| Field::new(*n, a.data_type().clone(), true)).collect();
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns.into_iter().map(|(_, a)| a).collect()).unwrap()
}

fn needs() -> ColumnNeeds {
    ColumnNeeds::new(&[Column::Event], &[Column::Amount, Column::Channel, Column::ReferrerId])
}

fn normalize(b: &RecordBatch, tz: &str, as_of: Option<i64>) -> (userops_core::Events, ScanStats, UserDict) {
    let binding =
        Binding::new(&b.schema(), &ColumnNames::default(), needs(), &TimeZone::parse(tz).unwrap(), as_of).unwrap();
    let mut users = UserDict::new();
    let mut stats = ScanStats::default();
    let events = binding.normalize(b, &mut users, &mut stats).unwrap();
    (events, stats, users)
}

const DAY0: i64 = 19_723; // 2024-01-01

#[test]
fn every_timestamp_unit_gives_the_same_instant() {
    let seconds = DAY0 * 86_400 + 3_600;
    let ts: Vec<ArrayRef> = vec![
        Arc::new(TimestampSecondArray::from(vec![seconds])),
        Arc::new(TimestampMillisecondArray::from(vec![seconds * 1_000]).with_timezone("Asia/Shanghai")),
        Arc::new(TimestampNanosecondArray::from(vec![seconds * 1_000_000_000])),
    ];
    for t in ts {
        let b = batch(vec![
            ("user_id", Arc::new(Int64Array::from(vec![1]))),
            ("ts", t),
            ("event", Arc::new(StringArray::from(vec!["visit"]))),
        ]);
        let (events, _, _) = normalize(&b, "UTC", None);
        assert_eq!(events.ts, vec![seconds * 1_000_000]);
    }
}

#[test]
fn dates_are_the_start_of_the_local_day() {
    let day = days_from_civil(2024, 3, 1);
    for ts in
        [Arc::new(Date32Array::from(vec![day])) as ArrayRef, Arc::new(Date64Array::from(vec![day as i64 * 86_400_000]))]
    {
        let b = batch(vec![
            ("user_id", Arc::new(Int64Array::from(vec![1]))),
            ("ts", ts),
            ("event", Arc::new(StringArray::from(vec!["visit"]))),
        ]);
        let (events, _, _) = normalize(&b, "+08:00", None);
        assert_eq!(events.ts, vec![day as i64 * MICROS_PER_DAY - 8 * MICROS_PER_HOUR]);
    }
}

#[test]
fn every_user_key_type_interns_the_same_users() {
    let keys: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![7, 8, 7])),
        Arc::new(Int32Array::from(vec![7, 8, 7])),
        Arc::new(UInt64Array::from(vec![7, 8, 7])),
        Arc::new(StringArray::from(vec!["7", "8", "7"])),
        Arc::new(LargeStringArray::from(vec!["7", "8", "7"])),
        Arc::new(StringViewArray::from(vec!["7", "8", "7"])),
        Arc::new(DictionaryArray::<Int32Type>::new(
            Int32Array::from(vec![1, 0, 1]),
            Arc::new(StringArray::from(vec!["8", "7"])),
        )),
    ];
    for k in keys {
        let b = batch(vec![
            ("user_id", k.clone()),
            ("ts", Arc::new(TimestampSecondArray::from(vec![1, 2, 3]))),
            ("event", Arc::new(StringArray::from(vec!["a", "b", "a"]))),
        ]);
        let (events, _, users) = normalize(&b, "UTC", None);
        assert_eq!(users.len(), 2, "{:?}", k.data_type());
        assert_eq!(events.user[0], events.user[2]);
        assert_ne!(events.user[0], events.user[1]);
    }
}

#[test]
fn amounts_of_every_type_are_exact_micro_units() {
    let amounts: Vec<ArrayRef> = vec![
        Arc::new(Float64Array::from(vec![Some(12.5), Some(-3.25), None])),
        Arc::new(Float32Array::from(vec![Some(12.5), Some(-3.25), None])),
        Arc::new(Decimal128Array::from(vec![Some(1250), Some(-325), None]).with_precision_and_scale(10, 2).unwrap()),
    ];
    for a in amounts {
        let b = batch(vec![
            ("user_id", Arc::new(Int64Array::from(vec![1, 1, 1]))),
            ("ts", Arc::new(TimestampSecondArray::from(vec![1, 2, 3]))),
            ("event", Arc::new(StringArray::from(vec!["order"; 3]))),
            ("amount", a),
        ]);
        let (events, _, _) = normalize(&b, "UTC", None);
        assert_eq!(events.amount.unwrap(), vec![Some(12_500_000), Some(-3_250_000), None]);
    }
    let b = batch(vec![
        ("user_id", Arc::new(Int64Array::from(vec![1]))),
        ("ts", Arc::new(TimestampSecondArray::from(vec![1]))),
        ("event", Arc::new(StringArray::from(vec!["order"]))),
        ("amount", Arc::new(Int64Array::from(vec![3]))),
    ]);
    assert_eq!(normalize(&b, "UTC", None).0.amount.unwrap(), vec![Some(3_000_000)]);
}

#[test]
fn null_ids_and_times_are_counted_not_used() {
    let b = batch(vec![
        ("user_id", Arc::new(Int64Array::from(vec![Some(1), None, Some(2), Some(3)]))),
        ("ts", Arc::new(TimestampSecondArray::from(vec![Some(10), Some(20), None, Some(99)]))),
        ("event", Arc::new(StringArray::from(vec![Some("a"), Some("b"), Some("c"), None]))),
    ]);
    let (events, stats, _) = normalize(&b, "UTC", Some(50 * 1_000_000));
    assert_eq!(events.len(), 1);
    assert_eq!((stats.null_user_id, stats.null_ts, stats.after_as_of, stats.rows_used), (1, 1, 1, 1));
    assert_eq!(stats.max_ts, Some(10_000_000));
    let (events, stats, _) = normalize(&b, "UTC", None);
    assert_eq!(events.len(), 2);
    assert_eq!(stats.null_event, 1);
    assert_eq!(events.event.as_ref().unwrap().name_at(1), None);
}

#[test]
fn non_finite_amounts_are_counted() {
    let b = batch(vec![
        ("user_id", Arc::new(Int64Array::from(vec![1, 1]))),
        ("ts", Arc::new(TimestampSecondArray::from(vec![1, 2]))),
        ("event", Arc::new(StringArray::from(vec!["order"; 2]))),
        ("amount", Arc::new(Float64Array::from(vec![f64::NAN, f64::INFINITY]))),
    ]);
    let (events, stats, _) = normalize(&b, "UTC", None);
    assert_eq!(stats.non_finite_amount, 2);
    assert_eq!(events.amount.unwrap(), vec![None, None]);
}

fn bind_error(columns: Vec<(&str, ArrayRef)>) -> String {
    let b = batch(columns);
    let err = Binding::new(&b.schema(), &ColumnNames::default(), needs(), &TimeZone::Utc, None).unwrap_err();
    err.to_string()
}

#[test]
fn wrong_inputs_name_the_column_the_type_and_what_is_accepted() {
    let missing = bind_error(vec![
        ("uid", Arc::new(Int64Array::from(vec![1]))),
        ("ts", Arc::new(TimestampSecondArray::from(vec![1]))),
        ("event", Arc::new(StringArray::from(vec!["a"]))),
    ]);
    assert!(missing.contains("`user_id`") && missing.contains("uid"), "{missing}");
    let float_ids = bind_error(vec![
        ("user_id", Arc::new(Float64Array::from(vec![1.0]))),
        ("ts", Arc::new(TimestampSecondArray::from(vec![1]))),
        ("event", Arc::new(StringArray::from(vec!["a"]))),
    ]);
    assert!(float_ids.contains("Float64") && float_ids.contains("Int64, UInt64"), "{float_ids}");
    let string_ts = bind_error(vec![
        ("user_id", Arc::new(Int64Array::from(vec![1]))),
        ("ts", Arc::new(StringArray::from(vec!["2024-01-01"]))),
        ("event", Arc::new(StringArray::from(vec!["a"]))),
    ]);
    assert!(string_ts.contains("`ts`") && string_ts.contains("Utf8") && string_ts.contains("Timestamp"), "{string_ts}");
    let string_amount = bind_error(vec![
        ("user_id", Arc::new(Int64Array::from(vec![1]))),
        ("ts", Arc::new(TimestampSecondArray::from(vec![1]))),
        ("event", Arc::new(StringArray::from(vec!["a"]))),
        ("amount", Arc::new(StringArray::from(vec!["9.99"]))),
    ]);
    assert!(string_amount.contains("`amount`") && string_amount.contains("Decimal128"), "{string_amount}");
    let b = batch(vec![
        ("user_id", Arc::new(Int64Array::from(vec![1]))),
        ("ts", Arc::new(TimestampSecondArray::from(vec![1]))),
        ("event", Arc::new(StringArray::from(vec!["signup"]))),
        ("referrer_id", Arc::new(StringArray::from(vec!["x"]))),
    ]);
    let err = Binding::new(&b.schema(), &ColumnNames::default(), needs(), &TimeZone::Utc, None).unwrap_err();
    assert!(matches!(err, UserOpsError::MismatchedKeyKind { .. }), "{err}");
}

#[test]
fn caller_names_map_onto_roles() {
    let b = batch(vec![
        ("uid", Arc::new(Int64Array::from(vec![5]))),
        ("time", Arc::new(TimestampSecondArray::from(vec![1]))),
        ("what", Arc::new(StringArray::from(vec!["visit"]))),
    ]);
    let names =
        ColumnNames { user_id: "uid".into(), ts: "time".into(), event: "what".into(), ..ColumnNames::default() };
    let binding = Binding::new(&b.schema(), &names, needs(), &TimeZone::Utc, None).unwrap();
    assert!(!binding.has(Column::Amount));
    let mut users = UserDict::new();
    let events = binding.normalize(&b, &mut users, &mut ScanStats::default()).unwrap();
    assert_eq!(events.event_code("visit"), Some(0));
}
