//! The generic laws (split, serialize and merge; reorder; parallel engine) once more for
//! this crate's plugins, on data built to stress SPEC §2's tie-break and SPEC §10's
//! edges: few users and few instants, so acquisition rows tie on the instant, on the
//! channel and across referrers, edges cross batches, and raw referrers form cycles.
//! The workspace-wide suite (`userops-laws`) runs the same laws on general data.

use proptest::prelude::*;
use userops_core::laws::{arb_options, check_parallel, check_reorder, check_split, Row, ORIGIN};
use userops_core::time::MICROS_PER_DAY;
use userops_core::{Analysis, PluginSpec, Registry, RunOptions};

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(64);
    ProptestConfig { cases, max_shrink_iters: 2_000, ..ProptestConfig::default() }
}

fn arb_tied_row(users: i64) -> impl Strategy<Value = Row> {
    (
        0..users,
        // Four instants a few days apart, so ties are the rule, plus a late one for the window.
        prop_oneof![4 => (0i64..4).prop_map(|k| ORIGIN + k * 3 * MICROS_PER_DAY), 1 => Just(ORIGIN + 80 * MICROS_PER_DAY)],
        prop_oneof![6 => Just("signup"), 2 => Just("invite"), 2 => Just("order"), 1 => Just("visit")],
        prop_oneof![1 => Just(None), 1 => Just(Some("a")), 1 => Just(Some("b"))],
        prop_oneof![1 => Just(None), 3 => (0..users).prop_map(Some)],
        -500i64..2_000,
    )
        .prop_map(|(user, ts, event, channel, referrer, cents)| Row {
            user: Some(user),
            ts: Some(ts),
            event: Some(event),
            amount_cents: (event == "order").then_some(cents),
            channel: if event == "signup" { channel } else { None },
            referrer: if event == "signup" { referrer } else { None },
        })
}

fn arb_tied_rows() -> impl Strategy<Value = Vec<Row>> {
    (2i64..9).prop_flat_map(|users| proptest::collection::vec(arb_tied_row(users), 0..60))
}

fn analysis(options: RunOptions) -> Analysis {
    let registry = Registry::from_registrations(userops_viral::registrations());
    let mut specs = Vec::new();
    for r in registry.iter() {
        let mut params = vec![serde_json::Value::Null];
        params.extend(r.law_params.iter().map(|p| serde_json::from_str(p).expect("JSON")));
        for (i, p) in params.into_iter().enumerate() {
            let mut spec = PluginSpec::new(r.name, p);
            spec.output = format!("{}#{i}", r.name);
            specs.push(spec);
        }
    }
    Analysis::new(&registry, specs, options).expect("builds")
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn tied_acquisitions_split_and_merge_like_one_pass(
        rows in arb_tied_rows(),
        options in arb_options(),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
        seed in any::<u64>(),
    ) {
        let result = check_split(&analysis(options), &rows, &cuts, seed);
        prop_assert!(result.is_ok(), "{}", result.unwrap_err());
    }

    #[test]
    fn tied_acquisitions_do_not_depend_on_row_order(rows in arb_tied_rows(), options in arb_options(), seed in any::<u64>()) {
        let result = check_reorder(&analysis(options), &rows, seed);
        prop_assert!(result.is_ok(), "{}", result.unwrap_err());
    }

    #[test]
    fn tied_acquisitions_in_the_parallel_engine(rows in arb_tied_rows(), options in arb_options(), batch_rows in 1usize..8) {
        let result = check_parallel(&analysis(options), &rows, batch_rows);
        prop_assert!(result.is_ok(), "{}", result.unwrap_err());
    }
}
