//! The generic laws over this crate's plugins alone (the full suite over every crate
//! runs in `userops-laws`); quick to iterate on while working on this crate.

use std::sync::OnceLock;

use proptest::prelude::*;
use userops_core::laws::{
    arb_options, arb_rows, check_empty, check_parallel, check_reorder, check_split, registered_specs,
};
use userops_core::{Analysis, Registry};

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| Registry::from_registrations(userops_lifecycle::registrations()))
}

fn analysis(options: userops_core::RunOptions) -> Analysis {
    Analysis::new(registry(), registered_specs(registry()), options).expect("every plugin builds")
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(32);
    ProptestConfig { cases, max_shrink_iters: 2_000, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn split_serialize_merge_equals_one_pass(
        rows in arb_rows(),
        options in arb_options(),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
        seed in any::<u64>(),
    ) {
        let result = check_split(&analysis(options), &rows, &cuts, seed);
        prop_assert!(result.is_ok(), "{}", result.unwrap_err());
    }

    #[test]
    fn reordered_rows_equal_one_pass(rows in arb_rows(), options in arb_options(), seed in any::<u64>()) {
        let result = check_reorder(&analysis(options), &rows, seed);
        prop_assert!(result.is_ok(), "{}", result.unwrap_err());
    }

    #[test]
    fn parallel_engine_equals_one_pass(rows in arb_rows(), options in arb_options(), batch_rows in 1usize..40) {
        let result = check_parallel(&analysis(options), &rows, batch_rows);
        prop_assert!(result.is_ok(), "{}", result.unwrap_err());
    }

    #[test]
    fn empty_input_is_a_valid_result(rows in arb_rows(), options in arb_options()) {
        let result = check_empty(&analysis(options), &rows);
        prop_assert!(result.is_ok(), "{}", result.unwrap_err());
    }
}
