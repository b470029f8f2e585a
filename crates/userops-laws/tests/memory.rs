//! The memory promise of docs/scale.md, kept: every registered plugin together holds a
//! bounded number of bytes per user after a scan (the partial states grow with users,
//! not events). Measured with a counting allocator, so this file has one test only:
//! tests of one binary run on parallel threads and would count each other's memory.

use arrow_array::RecordBatchIterator;
use userops_core::{datasets, Analysis, PluginSpec, RunOptions};
use userops_laws::counting::{live_bytes, CountingAllocator};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// All plugins' states together after a scan, per user of the demo shop (60k users,
/// the user dictionary included). They held about 2,600 B before their compact
/// layouts and 520 B since; this bound leaves room for small changes, not for a
/// per-user `Vec` coming back. A new plugin adds its own bytes: raise the bound by its
/// `state_size` figure, on purpose.
const MAX_BYTES_PER_USER: f64 = 620.0;

#[test]
fn all_plugins_together_hold_a_bounded_state_per_user() {
    let users = 60_000u64;
    let table = datasets::shop(users, 3);
    let registry = userops_laws::registry();
    let specs = registry.iter().map(|r| PluginSpec::new(r.name, serde_json::Value::Null)).collect();
    let analysis = Analysis::new(registry, specs, RunOptions { threads: 1, ..RunOptions::default() }).unwrap();
    let reader = Box::new(RecordBatchIterator::new(vec![Ok(table.clone())], table.schema()));
    let before = live_bytes();
    let partial = analysis.scan(reader, None).unwrap();
    let per_user = live_bytes().saturating_sub(before) as f64 / users as f64;
    assert_eq!(partial.users.len() as u64, users);
    assert!(per_user > 100.0, "{per_user:.0} B per user: the measure is broken");
    assert!(
        per_user <= MAX_BYTES_PER_USER,
        "all plugins hold {per_user:.0} B per user, above {MAX_BYTES_PER_USER}: see which with `cargo run --release \
         -p userops-laws --example state_size -- 200000 all 1`"
    );
    eprintln!("all plugins: {per_user:.0} B per user");
}
