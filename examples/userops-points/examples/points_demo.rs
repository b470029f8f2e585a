//! The `points` plugins over a generated loyalty program, from Rust.
//!
//! ```sh
//! cargo run -p userops-points --example points_demo            # 2,000 members
//! cargo run -p userops-points --example points_demo -- 50000 7 # members, seed
//! ```
//!
//! Prints the points summary per segment, the top high-balance members who never
//! redeemed, and checks one law by hand: the events cut in four parts, each scanned
//! on its own, serialized, read back and merged, finish to the same tables as one pass.

use std::sync::Arc;

use arrow_array::{
    Array, Float64Array, Int64Array, RecordBatch, RecordBatchIterator, StringArray, TimestampMicrosecondArray,
    UInt32Array,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use arrow_select::take::take_record_batch;
use userops_core::datasets::SplitMix64;
use userops_core::time::MICROS_PER_DAY;
use userops_core::{Analysis, PluginSpec, Registry, RunOptions};
// Name the plugin crate so the linker keeps its `inventory` registrations.
use userops_points as _;

/// 2024-01-01T00:00Z in days since the epoch.
const START_DAY: i64 = 19_723;

/// A loyalty program over 2024: every member signs up, most shop and earn points (one
/// point per currency unit, a bonus on some orders); "collectors" never redeem.
fn generate(members: i64, seed: u64) -> RecordBatch {
    let mut rng = SplitMix64::new(seed);
    let (mut user, mut ts, mut event, mut amount) = (Vec::new(), Vec::new(), Vec::<&str>::new(), Vec::new());
    let mut push = |u: i64, t: i64, e: &'static str, a: Option<f64>| {
        user.push(u);
        ts.push(t);
        event.push(e);
        amount.push(a);
    };
    for id in 1..=members {
        let signup = (START_DAY + rng.below(300) as i64) * MICROS_PER_DAY + rng.below(MICROS_PER_DAY as u64) as i64;
        push(id, signup, "signup", None);
        let collector = rng.chance(0.25);
        let orders = rng.exponential(6.0) as i64;
        let mut t = signup;
        let mut balance = 0.0;
        for _ in 0..orders {
            t += (rng.exponential(12.0) * MICROS_PER_DAY as f64) as i64;
            if t > (START_DAY + 366) * MICROS_PER_DAY {
                break;
            }
            let spent = (20.0 + rng.exponential(80.0)).round();
            push(id, t, "order", Some(spent));
            let points = if rng.chance(0.1) { spent * 3.0 } else { spent };
            push(id, t, "points_earn", Some(points));
            balance += points;
            if !collector && balance >= 300.0 && rng.chance(0.4) {
                let redeemed = (balance * (0.5 + 0.5 * rng.unit())).floor();
                push(id, t + MICROS_PER_DAY, "points_redeem", Some(redeemed));
                balance -= redeemed;
            }
        }
    }
    let schema = Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Int64, false),
        Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
        Field::new("event", DataType::Utf8, false),
        Field::new("amount", DataType::Float64, true),
    ]));
    RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(user)),
            Arc::new(TimestampMicrosecondArray::from(ts).with_timezone("UTC")),
            Arc::new(StringArray::from(event)),
            Arc::new(Float64Array::from(amount)),
        ],
    )
    .expect("columns match the schema")
}

/// A table as aligned text (the columns these plugins produce: ints, floats, strings).
fn show(title: &str, batch: &RecordBatch, limit: usize) {
    let header: Vec<String> = batch.schema().fields().iter().map(|f| f.name().clone()).collect();
    let rows = batch.num_rows().min(limit);
    let cell = |column: &dyn Array, row: usize| -> String {
        if column.is_null(row) {
            return String::new();
        }
        if let Some(a) = column.as_any().downcast_ref::<Int64Array>() {
            return a.value(row).to_string();
        }
        if let Some(a) = column.as_any().downcast_ref::<Float64Array>() {
            return format!("{:.2}", a.value(row));
        }
        if let Some(a) = column.as_any().downcast_ref::<StringArray>() {
            return a.value(row).to_string();
        }
        format!("{:?}", column.data_type())
    };
    let cells: Vec<Vec<String>> =
        (0..rows).map(|r| batch.columns().iter().map(|c| cell(c.as_ref(), r)).collect()).collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| cells.iter().map(|r| r[i].len()).chain([header[i].len()]).max().unwrap_or(0))
        .collect();
    println!("{title}");
    let line =
        |values: &[String]| values.iter().zip(&widths).map(|(v, w)| format!("{v:>w$}")).collect::<Vec<_>>().join("  ");
    println!("{}", line(&header));
    for r in &cells {
        println!("{}", line(r));
    }
    println!();
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let members: i64 = args.get(1).map_or(Ok(2_000), |a| a.parse())?;
    let seed: u64 = args.get(2).map_or(Ok(0), |a| a.parse())?;
    let events = generate(members, seed);
    println!("{} events of {members} members\n", events.num_rows());

    // The global registry lists every plugin linked into this binary: here, ours.
    let registry = Registry::global();
    println!("registered plugins: {}\n", registry.names());

    let specs = vec![
        PluginSpec::new("points_summary", serde_json::json!({"high_balance": 1000})),
        PluginSpec::new("points", serde_json::json!({"high_balance": 1000})),
    ];
    let analysis = Analysis::new(registry, specs, RunOptions::default())?;
    let reader = RecordBatchIterator::new(vec![Ok(events.clone())], events.schema());
    let results = analysis.run(Box::new(reader), None)?;
    show("points_summary (积分: balances per segment)", &results[0].1, 10);

    // The users to remind: high balance, never redeemed, largest balance first.
    let users = &results[1].1;
    let segment = users.column_by_name("segment").unwrap().as_any().downcast_ref::<StringArray>().unwrap();
    let balance = users.column_by_name("balance").unwrap().as_any().downcast_ref::<Float64Array>().unwrap();
    let mut flagged: Vec<usize> =
        (0..users.num_rows()).filter(|&i| segment.value(i) == "high_balance_no_redemption").collect();
    flagged.sort_by(|&a, &b| balance.value(b).total_cmp(&balance.value(a)));
    let top = UInt32Array::from_iter_values(flagged.iter().take(10).map(|&i| i as u32));
    let top = take_record_batch(users, &top)?;
    show(&format!("top of the {} high-balance members who never redeemed", flagged.len()), &top, 10);

    // One law by hand: four parts, each scanned alone, serialized, read back, merged.
    let quarter = events.num_rows().div_ceil(4);
    let mut parts = Vec::new();
    for i in 0..4 {
        let start = (i * quarter).min(events.num_rows());
        let piece = events.slice(start, quarter.min(events.num_rows() - start));
        let partial = analysis.scan_batches(events.schema().as_ref(), &[piece])?;
        let bytes = analysis.partial_to_bytes(&partial)?; // what a worker would send
        parts.push(analysis.partial_from_bytes(&bytes)?);
    }
    let merged = analysis.finish(analysis.merge_all(parts)?)?;
    let equal = merged.iter().zip(&results).all(|((_, a), (_, b))| a == b);
    println!("four parts scanned apart, serialized and merged equal one pass: {equal}");
    if !equal {
        return Err("the split law does not hold".into());
    }
    Ok(())
}
