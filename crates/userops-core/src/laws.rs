//! The generic law suite (feature `laws`): strategies that generate hard event data,
//! and checks that every registered plugin obeys the algebra of `plugin.rs`:
//!
//! - **split**: any cut of the input into batches, each scanned into its own partial,
//!   serialized and read back, merged in a random tree, equals one sequential pass;
//! - **reorder**: shuffling rows equals the original order;
//! - **parallel**: the multi-threaded engine over many small batches equals one pass;
//! - **empty**: an empty input finishes into a valid result with the same schema;
//! - **isolation**: each plugin run alone (so only the events it declares are read)
//!   equals its result in the run of every plugin together.
//!
//! Equality is exact (`RecordBatch == RecordBatch`), which SPEC §1's exact money allows.

use std::sync::Arc;

use arrow_array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, RecordBatchIterator, StringArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};
use proptest::prelude::*;

use crate::engine::{Analysis, Breakdown, Partial, PluginSpec, RunOptions};
use crate::plugin::{PluginKind, ScanContext};
use crate::registry::Registry;
use crate::time::{TimeZone, MICROS_PER_DAY, MICROS_PER_HOUR};

/// One generated input row (`None` = null).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The user id.
    pub user: Option<i64>,
    /// The timestamp, microseconds UTC.
    pub ts: Option<i64>,
    /// The event name.
    pub event: Option<&'static str>,
    /// The amount in cents (shown as a float with two decimals); negative for a refund.
    pub amount_cents: Option<i64>,
    /// The channel.
    pub channel: Option<&'static str>,
    /// The referrer id.
    pub referrer: Option<i64>,
}

/// 2024-01-01T00:00Z, the origin of generated timestamps.
pub const ORIGIN: i64 = 19_723 * MICROS_PER_DAY;

const EVENTS: [&str; 5] = ["signup", "activate", "visit", "order", "invite"];
const CHANNELS: [&str; 3] = ["ads", "organic", "social"];

fn arb_ts() -> impl Strategy<Value = i64> {
    prop_oneof![
        // Anywhere in ~14 months, to the second.
        (0i64..420 * 86_400).prop_map(|s| ORIGIN + s * 1_000_000),
        // A handful of shared instants: ties across users and events.
        (0i64..12).prop_map(|k| ORIGIN + k * 37 * MICROS_PER_DAY + 23 * MICROS_PER_HOUR),
        // Near midnight and month ends, where time zones matter.
        (0i64..14, -2i64..3).prop_map(|(m, h)| ORIGIN + m * 31 * MICROS_PER_DAY + h * MICROS_PER_HOUR),
    ]
}

fn arb_row(users: i64) -> impl Strategy<Value = Row> {
    (
        prop_oneof![40 => (0..users).prop_map(Some), 1 => Just(None)],
        prop_oneof![40 => arb_ts().prop_map(Some), 1 => Just(None)],
        prop_oneof![30 => proptest::sample::select(&EVENTS[..]).prop_map(Some), 1 => Just(None)],
        prop_oneof![4 => (0i64..50_000).prop_map(Some), 1 => (-20_000i64..0).prop_map(Some), 1 => Just(Some(0)), 1 => Just(None)],
        prop_oneof![3 => proptest::sample::select(&CHANNELS[..]).prop_map(Some), 1 => Just(None)],
        prop_oneof![3 => Just(None), 1 => (0..users).prop_map(Some)],
    )
        .prop_map(|(user, ts, event, amount_cents, channel, referrer)| {
            let order = event == Some("order");
            let signup = event == Some("signup");
            Row {
                user,
                ts,
                event,
                amount_cents: if order { amount_cents } else { None },
                channel: if signup { channel } else { None },
                referrer: if signup { referrer } else { None },
            }
        })
}

/// Event logs with the hard cases: ties, refunds, null amounts and ids, single-event
/// users, many users per batch and one heavy user (id 0) whose rows span every batch.
pub fn arb_rows() -> impl Strategy<Value = Vec<Row>> {
    (1i64..40).prop_flat_map(|users| {
        (proptest::collection::vec(arb_row(users), 0..160), proptest::collection::vec(arb_ts(), 0..40)).prop_map(
            |(mut rows, heavy)| {
                for ts in heavy {
                    rows.push(Row {
                        user: Some(0),
                        ts: Some(ts),
                        event: Some("visit"),
                        amount_cents: None,
                        channel: None,
                        referrer: None,
                    });
                }
                rows
            },
        )
    })
}

/// The options a law case runs with: a time zone and an optional `as_of` inside the data.
pub fn arb_options() -> impl Strategy<Value = RunOptions> {
    (
        proptest::sample::select(vec!["UTC", "Asia/Shanghai", "America/New_York"]),
        prop_oneof![2 => Just(None), 1 => (30i64..400).prop_map(|d| Some(ORIGIN + d * MICROS_PER_DAY + 5 * MICROS_PER_HOUR))],
    )
        .prop_map(|(tz, as_of)| RunOptions {
            scan: ScanContext { tz: TimeZone::parse(tz).expect("known zone"), as_of },
            ..RunOptions::default()
        })
}

/// The schema of generated rows.
pub fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Int64, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, None), true),
        Field::new("event", DataType::Utf8, true),
        Field::new("amount", DataType::Float64, true),
        Field::new("channel", DataType::Utf8, true),
        Field::new("referrer_id", DataType::Int64, true),
    ]))
}

/// Generated rows as one Arrow batch.
pub fn to_batch(rows: &[Row]) -> RecordBatch {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(rows.iter().map(|r| r.user).collect::<Int64Array>()),
        Arc::new(rows.iter().map(|r| r.ts).collect::<TimestampMicrosecondArray>()),
        Arc::new(rows.iter().map(|r| r.event).collect::<StringArray>()),
        Arc::new(rows.iter().map(|r| r.amount_cents.map(|c| c as f64 / 100.0)).collect::<Float64Array>()),
        Arc::new(rows.iter().map(|r| r.channel).collect::<StringArray>()),
        Arc::new(rows.iter().map(|r| r.referrer).collect::<Int64Array>()),
    ];
    RecordBatch::try_new(schema(), columns).expect("columns match the schema")
}

/// Every registered plugin with its default parameters and each of its
/// `law_params`; every metric that takes a breakdown also runs broken down by each
/// registered segmenter.
pub fn registered_specs(registry: &Registry) -> Vec<PluginSpec> {
    let mut specs = Vec::new();
    for r in registry.iter() {
        let mut params = vec![serde_json::Value::Null];
        params.extend(r.law_params.iter().map(|p| serde_json::from_str(p).expect("law_params are JSON objects")));
        for (i, p) in params.into_iter().enumerate() {
            let mut spec = PluginSpec::new(r.name, p);
            spec.output = format!("{}#{i}", r.name);
            specs.push(spec);
        }
    }
    let segmenters: Vec<String> =
        registry.iter().filter(|r| r.kind == PluginKind::Segmenter).map(|r| format!("{}#0", r.name)).collect();
    let mut broken_down = Vec::new();
    for r in registry.iter() {
        let takes = (r.build)(serde_json::Value::Null).map(|p| p.supports_breakdown()).unwrap_or(false);
        for seg in segmenters.iter().filter(|_| takes) {
            let mut spec = PluginSpec::new(r.name, serde_json::Value::Null);
            spec.output = format!("{}#by:{seg}", r.name);
            spec.breakdown = Some(Breakdown::Segmenter(seg.clone()));
            broken_down.push(spec);
        }
    }
    specs.extend(broken_down);
    specs
}

/// A deterministic permutation of `0..n` from a seed (Fisher–Yates with SplitMix64).
pub fn permutation(n: usize, seed: u64) -> Vec<usize> {
    let mut rng = crate::datasets::SplitMix64::new(seed);
    let mut p: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        p.swap(i, rng.below(i as u64 + 1) as usize);
    }
    p
}

fn finish(analysis: &Analysis, partial: Partial) -> Result<Vec<(String, RecordBatch)>, String> {
    analysis.finish(partial).map_err(|e| format!("finish failed: {e}"))
}

fn compare(expected: &[(String, RecordBatch)], actual: &[(String, RecordBatch)], law: &str) -> Result<(), String> {
    for ((name, e), (_, a)) in expected.iter().zip(actual) {
        if e != a {
            return Err(format!("law `{law}` broken by plugin `{name}`:\n expected {e:?}\n actual {a:?}"));
        }
    }
    Ok(())
}

/// The one-pass reference result.
pub fn one_pass(analysis: &Analysis, rows: &[Row]) -> Result<Vec<(String, RecordBatch)>, String> {
    let partial = analysis.scan_batches(&schema(), &[to_batch(rows)]).map_err(|e| format!("scan failed: {e}"))?;
    finish(analysis, partial)
}

/// Split law: cut `rows` at `cuts`, scan each piece into its own partial, serialize
/// and read each back, merge them in a tree shaped by `seed`, and compare.
pub fn check_split(analysis: &Analysis, rows: &[Row], cuts: &[usize], seed: u64) -> Result<(), String> {
    let expected = one_pass(analysis, rows)?;
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (rows.len() + 1)).collect();
    bounds.extend([0, rows.len()]);
    bounds.sort_unstable();
    let pieces: Vec<&[Row]> = bounds.windows(2).map(|w| &rows[w[0]..w[1]]).collect();
    let mut partials = Vec::new();
    for i in permutation(pieces.len(), seed) {
        let p = analysis.scan_batches(&schema(), &[to_batch(pieces[i])]).map_err(|e| e.to_string())?;
        let bytes = analysis.partial_to_bytes(&p).map_err(|e| e.to_string())?;
        partials.push(analysis.partial_from_bytes(&bytes).map_err(|e| format!("read back: {e}"))?);
    }
    // Merge random pairs until one is left: every tree shape is reachable.
    let mut rng = crate::datasets::SplitMix64::new(seed ^ 0xABCD);
    while partials.len() > 1 {
        let a = partials.swap_remove(rng.below(partials.len() as u64) as usize);
        let b = partials.swap_remove(rng.below(partials.len() as u64) as usize);
        partials.push(analysis.merge(a, b).map_err(|e| e.to_string())?);
    }
    let merged = partials.pop().unwrap_or_else(|| analysis.new_partial());
    compare(&expected, &finish(analysis, merged)?, "split, serialize and merge")
}

/// Reorder law: the rows in another order, as one batch.
pub fn check_reorder(analysis: &Analysis, rows: &[Row], seed: u64) -> Result<(), String> {
    let expected = one_pass(analysis, rows)?;
    let shuffled: Vec<Row> = permutation(rows.len(), seed).into_iter().map(|i| rows[i].clone()).collect();
    compare(&expected, &one_pass(analysis, &shuffled)?, "reorder")
}

/// Parallel law: the multi-threaded engine over batches of `batch_rows` rows.
pub fn check_parallel(analysis: &Analysis, rows: &[Row], batch_rows: usize) -> Result<(), String> {
    let expected = one_pass(analysis, rows)?;
    let batches: Vec<_> = rows.chunks(batch_rows.max(1)).map(|c| Ok(to_batch(c))).collect();
    let reader = Box::new(RecordBatchIterator::new(batches, schema()));
    let partial = analysis.scan(reader, None).map_err(|e| e.to_string())?;
    compare(&expected, &finish(analysis, partial)?, "parallel engine")
}

/// Empty law: no input finishes into tables with the same schemas as a non-empty run.
pub fn check_empty(analysis: &Analysis, some_rows: &[Row]) -> Result<(), String> {
    let empty = finish(analysis, analysis.new_partial())?;
    let full = one_pass(analysis, some_rows)?;
    for ((name, e), (_, f)) in empty.iter().zip(&full) {
        if e.schema().fields() != f.schema().fields() {
            return Err(format!(
                "plugin `{name}`: empty input gives schema {:?}, data gives {:?}",
                e.schema(),
                f.schema()
            ));
        }
    }
    Ok(())
}

/// Isolation law: every plugin of `specs` run alone (with the segmenter its breakdown
/// names, if any) equals its result in the run of all `specs` together. This checks
/// the plugin's `events()` declaration and that plugins do not interfere.
pub fn check_isolation(
    registry: &Registry,
    specs: &[PluginSpec],
    options: &RunOptions,
    rows: &[Row],
) -> Result<(), String> {
    let all = Analysis::new(registry, specs.to_vec(), options.clone()).map_err(|e| e.to_string())?;
    let together = one_pass(&all, rows)?;
    for (spec, (name, expected)) in specs.iter().zip(&together) {
        let mut alone = vec![spec.clone()];
        if let Some(Breakdown::Segmenter(source)) = &spec.breakdown {
            alone.extend(specs.iter().filter(|s| &s.output == source).cloned());
        }
        let analysis = Analysis::new(registry, alone, options.clone()).map_err(|e| e.to_string())?;
        let result = one_pass(&analysis, rows)?;
        // The scan counters depend on which columns the run reads (a null event is
        // only seen when events are read), so compare the results, not the metadata.
        let alone = &result[0].1;
        if alone.schema().fields() != expected.schema().fields() || alone.columns() != expected.columns() {
            return Err(format!(
                "law `isolation` broken by plugin `{name}`:\n together {expected:?}\n alone {alone:?}"
            ));
        }
    }
    Ok(())
}
