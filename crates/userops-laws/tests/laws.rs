//! The algebraic laws of `userops_core::plugin`, checked for every registered plugin
//! with each of its `law_params`, on generated data full of hard cases. One block per
//! law family. `PROPTEST_CASES` sets the number of cases (default below).

use proptest::prelude::*;
use userops_core::laws::{
    arb_options, arb_rows, check_empty, check_isolation, check_parallel, check_reorder, check_split, registered_specs,
};
use userops_core::Analysis;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(48);
    ProptestConfig { cases, max_shrink_iters: 2_000, ..ProptestConfig::default() }
}

fn analysis(options: userops_core::RunOptions) -> Analysis {
    Analysis::new(userops_laws::registry(), registered_specs(userops_laws::registry()), options)
        .expect("every registered plugin builds with its defaults and law_params")
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

    #[test]
    fn each_plugin_alone_equals_its_result_among_all(rows in arb_rows(), options in arb_options()) {
        let registry = userops_laws::registry();
        let result = check_isolation(registry, &registered_specs(registry), &options, &rows);
        prop_assert!(result.is_ok(), "{}", result.unwrap_err());
    }
}
