"""What plugins the extension has, and that the Python wrappers match them."""

from __future__ import annotations

import inspect
import json

import userops
from userops import _native, _run

#: Every plugin the extension must register, by crate. A new plugin crate appends here.
EXPECTED_PLUGINS: dict[str, list[str]] = {
    "userops-rfm": ["rfm", "rfm_segments", "concentration", "lorenz"],
    "userops-aarrr": [
        "acquisition",
        "paying_conversion",
        "activation",
        "retention",
        "ltv",
        "revenue",
        "repurchase",
        "next_month_repurchase",
        "funnel",
        "active_users",
        "stickiness",
    ],
    "userops-viral": ["viral", "viral_cycle", "referral_tree", "top_referrers", "referral_issues", "acquired_via"],
    "userops-lifecycle": ["lifecycle", "lifecycle_stage", "stage_transitions", "churn_warning", "tiers"],
}


def expected_names() -> set[str]:
    return {name for names in EXPECTED_PLUGINS.values() for name in names}


def test_registered_names_are_exactly_the_expected_ones() -> None:
    names = _native.registered_names()
    assert names == sorted(names)
    assert set(names) == expected_names()


def test_plugins_table_lists_every_plugin_with_a_description() -> None:
    table = userops.plugins()
    assert table.column_names[:5] == ["name", "kind", "crate", "description", "parameters"]
    rows = {r["name"]: r for r in table.to_pylist()}
    for crate, names in EXPECTED_PLUGINS.items():
        for name in names:
            row = rows[name]
            assert row["crate"] == crate
            assert row["kind"] in ("metric", "segmenter")
            assert row["description"].strip()
            assert isinstance(json.loads(row["parameters"]), dict)
            documented = {p["name"] for p in row["param_docs"]}
            assert documented == set(json.loads(row["parameters"])), name


def test_python_wrappers_mirror_the_plugin_parameters() -> None:
    """Every ``userops.<plugin>`` function takes the plugin's parameters, by the same
    names and with the same defaults, plus the run options."""
    checked = 0
    for row in userops.plugins().to_pylist():
        function = getattr(userops, row["name"], None)
        if function is None:
            continue
        defaults = json.loads(row["parameters"])
        signature = inspect.signature(function)
        params = {n: p.default for n, p in signature.parameters.items() if n != "events" and n not in _run.RUN_OPTIONS}
        assert set(params) == set(defaults), row["name"]
        # A required argument (the funnel's steps) has no default to compare.
        params = {n: d for n, d in params.items() if d is not inspect.Parameter.empty}
        sent = json.loads(_run.spec(row["name"], params)["params"])  # what the wrapper sends by default
        for name, default in sent.items():
            assert default == defaults[name], (row["name"], name)
        assert set(_run.RUN_OPTIONS) <= set(signature.parameters), row["name"]
        assert function.__doc__ and "Example" in function.__doc__, row["name"]
        checked += 1
    assert checked >= len(EXPECTED_PLUGINS["userops-rfm"])


def test_exceptions_form_one_hierarchy() -> None:
    for error in (userops.ColumnError, userops.ParameterError, userops.DataError, userops.StateError, userops.InternalError):
        assert issubclass(error, userops.UserOpsError)
        assert error.__module__ == "userops"
    assert issubclass(userops.UserOpsError, Exception)
    assert issubclass(userops.UserOpsWarning, UserWarning)


def test_public_api_is_listed() -> None:
    for name in userops.__all__:
        assert hasattr(userops, name), name
    assert userops.__version__
