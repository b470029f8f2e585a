//! `viral_cycle`: viral cycle time (SPEC §10), the hours from the referrer's
//! acquisition to the referred user's, over every valid edge: median and p90
//! (`quantile_cont`), overall or per period of the referred user's acquisition.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{Date32Array, Float64Array, Int64Array, RecordBatch};
use userops_core::output::table;
use userops_core::time::MICROS_PER_HOUR;
use userops_core::{quantile_cont, FinishContext, Result};

use crate::forest::Edges;
use crate::params::CycleParams;

/// The `viral_cycle` table: `period, edges, median_hours, p90_hours`. With a period,
/// one row per period with at least one acquired user (0 edges and null times where
/// none arrived through a valid edge), by period; without, one row with a null period.
pub fn cycle_table(edges: &Edges<'_>, params: &CycleParams, ctx: &FinishContext<'_>) -> Result<RecordBatch> {
    let tz = &ctx.scan.tz;
    let mut groups: BTreeMap<Option<i32>, Vec<f64>> = BTreeMap::new();
    match params.period {
        Some(period) => {
            for &u in &edges.acquired {
                groups.entry(Some(period.index(edges.at(u), tz))).or_default();
            }
        }
        None => {
            groups.insert(None, Vec::new());
        }
    }
    for (p, c) in edges.valid() {
        let key = params.period.map(|period| period.index(edges.at(c), tz));
        let hours = (edges.at(c) - edges.at(p)) as f64 / MICROS_PER_HOUR as f64;
        groups.get_mut(&key).expect("every acquired user's period is listed").push(hours);
    }
    let mut periods = Vec::with_capacity(groups.len());
    let mut counts = Vec::with_capacity(groups.len());
    let mut median = Vec::with_capacity(groups.len());
    let mut p90 = Vec::with_capacity(groups.len());
    for (key, mut hours) in groups {
        hours.sort_unstable_by(f64::total_cmp);
        periods.push(key.zip(params.period).map(|(k, period)| period.start_day(k)));
        counts.push(hours.len() as i64);
        median.push(quantile_cont(&hours, 0.5));
        p90.push(quantile_cont(&hours, 0.9));
    }
    table(vec![
        ("period", Arc::new(Date32Array::from(periods))),
        ("edges", Arc::new(Int64Array::from(counts))),
        ("median_hours", Arc::new(Float64Array::from(median))),
        ("p90_hours", Arc::new(Float64Array::from(p90))),
    ])
}
