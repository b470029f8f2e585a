//! The registry lists every plugin we ship: the linker dropped none, names are unique,
//! and every plugin builds with its defaults and each of its law parameter sets.

use std::collections::BTreeSet;

/// Every plugin the shipped crates register. A new plugin is added here.
const EXPECTED: &[&str] = &[
    "acquired_via",
    "acquisition",
    "activation",
    "active_users",
    "churn_warning",
    "concentration",
    "funnel",
    "lifecycle",
    "lifecycle_stage",
    "lorenz",
    "ltv",
    "next_month_repurchase",
    "paying_conversion",
    "points",
    "points_summary",
    "referral_issues",
    "referral_tree",
    "repurchase",
    "retention",
    "revenue",
    "rfm",
    "rfm_segments",
    "stage_transitions",
    "stickiness",
    "tiers",
    "top_referrers",
    "viral",
    "viral_cycle",
];

#[test]
fn every_expected_plugin_is_registered_once() {
    let registry = userops_laws::registry();
    registry.check().expect("no duplicate names");
    let names: BTreeSet<&str> = registry.iter().map(|r| r.name).collect();
    assert_eq!(names, EXPECTED.iter().copied().collect());
    let explicit: BTreeSet<&str> = userops_laws::explicit_registrations().iter().map(|r| r.name).collect();
    assert_eq!(names, explicit, "inventory and the explicit register_all lists agree");
}

#[test]
fn every_plugin_documents_itself_and_builds() {
    for r in userops_laws::registry().iter() {
        assert!(!r.description.is_empty(), "{} has a description", r.name);
        let defaults = (r.defaults)();
        for p in r.params {
            assert!(defaults.get(p.name).is_some(), "{}: documented parameter {} has a default", r.name, p.name);
        }
        (r.build)(serde_json::Value::Null).unwrap_or_else(|e| panic!("{} builds with defaults: {e}", r.name));
        for law in r.law_params {
            (r.build)(serde_json::from_str(law).unwrap())
                .unwrap_or_else(|e| panic!("{} builds with {law}: {e}", r.name));
        }
    }
}

#[test]
fn unknown_parameters_are_named_in_the_error() {
    let err = userops_laws::registry().build("rfm", serde_json::json!({"binz": 5})).err().expect("an error");
    assert!(err.to_string().contains("binz"), "{err}");
    let err = userops_laws::registry().build("rfm", serde_json::json!({"method": "median"})).err().expect("an error");
    assert!(err.to_string().contains("parameter method") && err.to_string().contains("median"), "{err}");
    let err = userops_laws::registry().build("nope", serde_json::Value::Null).err().expect("an error");
    assert!(err.to_string().contains("rfm_segments"), "lists the known plugins: {err}");
}
