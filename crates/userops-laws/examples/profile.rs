//! Times plugins over the demo shop in-process, without Python: where does a scan spend
//! its time? `cargo run --release -p userops-laws --example profile -- 500000 rfm,concentration 2`
//! (users, plugins, threads). Prints generation, scan and finish times.

use std::time::Instant;

use arrow_array::RecordBatchIterator;
use userops_core::{datasets, Analysis, PluginSpec, RunOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let users: u64 = args.get(1).map_or(Ok(500_000), |a| a.parse())?;
    let plugins = args.get(2).map_or("rfm", |a| a.as_str());
    let threads: usize = args.get(3).map_or(Ok(0), |a| a.parse())?;

    let started = Instant::now();
    let table = datasets::shop(users, 0);
    println!("generated {} events for {users} users in {:.2?}", table.num_rows(), started.elapsed());

    let specs = plugins.split(',').map(|p| PluginSpec::new(p, serde_json::Value::Null)).collect();
    let analysis = Analysis::new(userops_laws::registry(), specs, RunOptions { threads, ..RunOptions::default() })?;
    for round in 0..3 {
        let reader = Box::new(RecordBatchIterator::new(vec![Ok(table.clone())], table.schema()));
        let started = Instant::now();
        let partial = analysis.scan(reader, None)?;
        let scanned = started.elapsed();
        let results = analysis.finish(partial)?;
        let rows: usize = results.iter().map(|(_, b)| b.num_rows()).sum();
        println!("round {round}: scan {scanned:.2?}, finish {:.2?} ({rows} result rows)", started.elapsed() - scanned);
    }
    Ok(())
}
