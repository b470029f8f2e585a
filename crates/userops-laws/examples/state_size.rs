//! Measures what each plugin's partial state costs in memory, per user, without Python:
//! which plugin drives the memory of a large run?
//! `cargo run --release -p userops-laws --example state_size -- 200000 all 1`
//! (users, plugins or `all`, threads). For each plugin alone it scans the demo shop and
//! prints the heap bytes per user held by the state after the scan (the user dictionary
//! included), the peak during the scan, the bytes per user of the serialized state, of
//! the result tables, and the peak during finish above the state (the results included).

use arrow_array::RecordBatchIterator;
use userops_core::{datasets, Analysis, PluginSpec, RunOptions};
use userops_laws::counting::{live_bytes, peak_bytes, reset_peak, CountingAllocator};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let users: u64 = args.get(1).map_or(Ok(200_000), |a| a.parse())?;
    let plugins = args.get(2).map_or("all", |a| a.as_str());
    let threads: usize = args.get(3).map_or(Ok(1), |a| a.parse())?;
    let registry = userops_laws::registry();
    let names: Vec<String> = if plugins == "all" {
        registry.iter().map(|r| r.name.to_string()).collect()
    } else {
        plugins.split(',').map(str::to_string).collect()
    };

    let table = datasets::shop(users, 0);
    println!("{} events, {users} users, {threads} thread(s); bytes per user:", table.num_rows());
    println!("{:<24} {:>8} {:>8} {:>10} {:>8} {:>8}", "plugin", "state", "peak", "serialized", "result", "finish");
    let mut total = [0.0; 5];
    for name in &names {
        let specs = vec![PluginSpec::new(name, serde_json::Value::Null)];
        let analysis = Analysis::new(registry, specs, RunOptions { threads, ..RunOptions::default() })?;
        let reader = Box::new(RecordBatchIterator::new(vec![Ok(table.clone())], table.schema()));
        let before = live_bytes();
        reset_peak();
        let partial = analysis.scan(reader, None)?;
        let held = live_bytes().saturating_sub(before);
        let peak = peak_bytes().saturating_sub(before);
        let serialized = analysis.partial_to_bytes(&partial)?.len();
        let scanned = live_bytes();
        reset_peak();
        let results = analysis.finish(partial)?;
        let finish_peak = peak_bytes().saturating_sub(scanned);
        let result: usize = results.iter().map(|(_, b)| b.get_array_memory_size()).sum();
        drop(results);
        let row = [held, peak, serialized, result, finish_peak].map(|b| b as f64 / users as f64);
        println!("{name:<24} {:>8.0} {:>8.0} {:>10.0} {:>8.0} {:>8.0}", row[0], row[1], row[2], row[3], row[4]);
        for (t, r) in total.iter_mut().zip(row) {
            *t += r;
        }
    }
    println!(
        "{:<24} {:>8.0} {:>8.0} {:>10.0} {:>8.0} {:>8.0}",
        "sum", total[0], total[1], total[2], total[3], total[4]
    );
    Ok(())
}
