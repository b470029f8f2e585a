"""Partial states as a public format: ``partial`` -> ``merge`` -> ``finish`` equals
``analyze`` exactly, for every registered plugin, in any grouping; mismatched states
are a ``StateError``; Parquet sources read only the needed columns."""

from __future__ import annotations

import datetime as dt
import functools
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import userops
from userops import _inputs, _native, _run


def every_plugin() -> dict[str, dict[str, Any]]:
    """Every registered plugin with its defaults (a breakdown added where one is taken)."""
    return {name: {} for name in _native.registered_names()}


def assert_same(got: dict[str, pa.Table], want: dict[str, pa.Table]) -> None:
    assert list(got) == list(want)
    for name in want:
        assert got[name].schema == want[name].schema, name
        assert got[name].schema.metadata == want[name].schema.metadata, name
        assert got[name].equals(want[name]), name


def row_pieces(events: pa.Table, n: int, seed: int) -> list[pa.Table]:
    """``n`` pieces of random rows: one user's rows land in several pieces."""
    order = np.random.default_rng(seed).permutation(events.num_rows)
    return [events.take(pa.array(np.sort(part))) for part in np.array_split(order, n)]


def user_pieces(events: pa.Table, n: int) -> list[pa.Table]:
    """``n`` (a power of 2) pieces by user id (a referrer and the users they invited
    may be apart)."""
    bucket = pc.bit_wise_and(events["user_id"], n - 1)
    return [events.filter(pc.equal(bucket, i)) for i in range(n)]


def tree(states: list[bytes]) -> bytes:
    """Merges as an unbalanced, nested tree of pairwise merges."""
    if len(states) == 1:
        return userops.merge(states)
    mid = len(states) // 3 or 1
    return userops.merge([tree(states[:mid]), tree(states[mid:])])


@pytest.fixture(scope="module")
def plugins() -> dict[str, dict[str, Any]]:
    return every_plugin()


@pytest.fixture(scope="module")
def expected(events: pa.Table, plugins: dict[str, dict[str, Any]]) -> dict[str, pa.Table]:
    return userops.analyze(events, plugins)


@pytest.fixture(scope="module")
def states(events: pa.Table, plugins: dict[str, dict[str, Any]]) -> list[bytes]:
    return [userops.partial(piece, plugins, threads=1 + i % 2) for i, piece in enumerate(row_pieces(events, 5, seed=3))]


# ------------------------------------------------------------------------- the algebra


def test_every_plugin_is_covered(plugins: dict[str, dict[str, Any]]) -> None:
    assert len(plugins) >= 26
    assert set(plugins) == set(_native.registered_names())


@pytest.mark.parametrize(
    "grouping",
    ["all at once", "reversed", "left fold", "right fold", "nested tree", "merge of merges", "duplicated empty"],
)
def test_merged_pieces_finish_to_analyze_exactly(
    grouping: str, states: list[bytes], expected: dict[str, pa.Table], events: pa.Table
) -> None:
    s = states
    if grouping == "all at once":
        merged = userops.merge(s)
    elif grouping == "reversed":
        merged = userops.merge(s[::-1])
    elif grouping == "left fold":
        merged = functools.reduce(lambda a, b: userops.merge([a, b]), s)
    elif grouping == "right fold":
        merged = functools.reduce(lambda a, b: userops.merge([b, a]), s[::-1])
    elif grouping == "nested tree":
        merged = tree([s[3], s[0], s[4], s[1], s[2]])
    elif grouping == "merge of merges":
        merged = userops.merge([userops.merge(s[:2]), userops.merge([s[2]]), userops.merge(s[3:])])
    else:
        empty = userops.partial(events.slice(0, 0), {name: {} for name in _native.registered_names()})
        merged = userops.merge([empty, *s[:3], empty, *s[3:], empty])
    assert_same(userops.finish(merged), expected)


def test_pieces_by_user_and_options_finish_to_analyze_exactly(events: pa.Table) -> None:
    plugins = {**every_plugin(), "retention": {"period": "week", "mode": "rolling"}}
    options: dict[str, Any] = {"tz": "Asia/Shanghai", "as_of": dt.date(2024, 10, 31)}
    expected = userops.analyze(events, plugins, **options)
    states = [userops.partial(piece, plugins, **options) for piece in user_pieces(events, 4)]
    assert_same(userops.finish(userops.merge(states)), expected)


def test_many_states_merge_like_one(events: pa.Table) -> None:
    """More states than one decoding chunk: the streaming tree gives the same result."""
    plugins = {"rfm": {}, "retention": {}, "referral_tree": {}, "active_users": {}}
    pieces = row_pieces(events, 40, seed=5)
    states = [userops.partial(p, plugins, threads=1) for p in pieces]
    expected = userops.analyze(events, plugins)
    assert_same(userops.finish(userops.merge(states)), expected)
    assert_same(userops.finish(userops.merge(states[::-1])), expected)


def test_a_state_is_self_describing_and_finishes_alone(events: pa.Table) -> None:
    plugins = {"rfm": {"bins": 3}, "rfm_4": {"plugin": "rfm", "bins": 4}}
    state = userops.partial(events, plugins)
    assert isinstance(state, bytes) and state[:8] == b"USEROPS\0"
    assert struct.unpack("<I", state[8:12])[0] == 2  # the format version (2: compact state layouts)
    assert_same(userops.finish(state), userops.analyze(events, plugins))
    assert userops.finish(bytearray(state))["rfm"].equals(userops.finish(memoryview(state))["rfm"])


def test_breakdowns_are_given_when_finishing(events: pa.Table) -> None:
    pieces = row_pieces(events, 3, seed=1)
    plugins = {"rfm": {}, "retention": {}, "ltv": {}}
    state = userops.merge([userops.partial(p, plugins) for p in pieces])
    by_segmenter = userops.finish(state, breakdowns={"retention": "rfm"})
    want = userops.analyze(events, {"rfm": {}, "retention": {"breakdown": "rfm"}, "ltv": {}})
    assert_same(by_segmenter, want)
    labels = userops.rfm(events).select(["user_id", "segment"])
    by_table = userops.finish(state, breakdowns={"ltv": labels})
    assert by_table["ltv"].equals(userops.analyze(events, {"ltv": {"breakdown": labels}})["ltv"])


def test_a_breakdown_in_partial_says_to_give_it_to_finish(events: pa.Table) -> None:
    with pytest.raises(userops.ParameterError, match="finish"):
        userops.partial(events, {"rfm": {}, "retention": {"breakdown": "rfm"}})
    with pytest.raises(userops.ParameterError, match="no result named `nope`"):
        userops.finish(userops.partial(events, {"retention": {}}), breakdowns={"nope": "x"})
    with pytest.raises(userops.ParameterError, match="takes no breakdown"):
        userops.finish(userops.partial(events, {"rfm": {}}), breakdowns={"rfm": "rfm"})


# --------------------------------------------------------------------------- mismatches


@pytest.fixture(scope="module")
def small(events: pa.Table) -> pa.Table:
    return events.slice(0, 5_000)


@pytest.mark.parametrize(
    ("other", "match"),
    [
        ({"plugins": {"revenue": {}}}, r"states\[1\] does not match states\[0\]: the states are of plugins"),
        ({"plugins": {"rfm": {"bins": 4}}}, "bins"),
        ({"plugins": {"rfm": {}, "revenue": {}}}, "the states are of plugins"),
        ({"plugins": {"segments": {"plugin": "rfm"}}}, "segments"),
        ({"tz": "Asia/Shanghai"}, "scan options differ"),
        ({"as_of": "2024-06-30"}, "scan options differ"),
        ({"rename": True}, "column names differ"),
    ],
)
def test_states_of_another_analysis_do_not_merge(small: pa.Table, other: dict[str, Any], match: str) -> None:
    mine = userops.partial(small, {"rfm": {}})
    options = {k: v for k, v in other.items() if k in ("tz", "as_of")}
    data = small
    if other.get("rename"):
        data = small.rename_columns([c if c != "amount" else "paid" for c in small.column_names])
        options["columns"] = {"amount": "paid"}
    theirs = userops.partial(data, other.get("plugins", {"rfm": {}}), **options)
    with pytest.raises(userops.StateError, match=match):
        userops.merge([mine, theirs])
    with pytest.raises(userops.StateError):
        userops.merge([theirs, mine, mine])


def test_a_state_of_another_format_version_is_refused(small: pa.Table) -> None:
    state = userops.partial(small, {"rfm": {}})
    future = state[:8] + struct.pack("<I", 99) + state[12:]
    with pytest.raises(userops.StateError, match="format version 99"):
        userops.merge([future])
    with pytest.raises(userops.StateError, match="format version 99"):
        userops.merge([state, future])
    with pytest.raises(userops.StateError, match="format version 99"):
        userops.finish(future)


def test_bytes_that_are_no_state_are_refused(small: pa.Table) -> None:
    state = userops.partial(small, {"rfm": {}})
    with pytest.raises(userops.StateError, match="magic"):
        userops.finish(b"not a state at all")
    with pytest.raises(userops.StateError, match=r"states\[1\]"):
        userops.merge([state, state[: len(state) // 2]])
    with pytest.raises(userops.StateError):
        userops.finish(state[:-3])


def test_merge_arguments_are_checked(small: pa.Table) -> None:
    state = userops.partial(small, {"rfm": {}})
    with pytest.raises(userops.ParameterError, match="at least one"):
        userops.merge([])
    with pytest.raises(TypeError, match="list of states"):
        userops.merge(state)
    with pytest.raises(TypeError, match=r"states\[1\] is a str"):
        userops.merge([state, "state"])
    with pytest.raises(TypeError, match="str"):
        _native.merge([state, "state"])  # type: ignore[list-item]


def test_string_user_ids_merge_with_string_ids_only(small: pa.Table) -> None:
    strings = small.set_column(0, "user_id", pc.cast(small["user_id"], pa.string()))
    strings = strings.set_column(5, "referrer_id", pc.cast(small["referrer_id"], pa.string()))
    a = userops.partial(strings.slice(0, 2_000), {"rfm": {}})
    b = userops.partial(strings.slice(2_000), {"rfm": {}})
    assert userops.finish(userops.merge([a, b]))["rfm"].equals(userops.rfm(strings))
    with pytest.raises(userops.StateError, match="string"):
        userops.merge([a, userops.partial(small, {"rfm": {}})])


# ------------------------------------------------------------------ reading from files


def test_parquet_sources_read_only_the_needed_columns(events: pa.Table, tmp_path: Path) -> None:
    """The reader handed to the engine has only the columns the plugins need."""
    pq.write_table(events, tmp_path / "events.parquet")
    for plugins, want in [
        ({"rfm": {}}, ["user_id", "ts", "event", "amount"]),
        ({"active_users": {}}, ["user_id", "ts"]),
        ({"acquisition": {}, "rfm": {}}, ["user_id", "ts", "event", "amount", "channel"]),
        ({"referral_tree": {}}, ["user_id", "ts", "event", "amount", "channel", "referrer_id"]),
    ]:
        needed = _native.needed_columns(_run.specs_of(plugins))
        assert set(needed["required"]) | set(needed["optional"]) == set(want), plugins
        source = _inputs.source(tmp_path / "events.parquet", lambda: needed)  # noqa: B023
        assert source.data.schema.names == want, plugins


def test_partial_of_files_equals_partial_of_the_table(events: pa.Table, tmp_path: Path) -> None:
    for i, piece in enumerate(row_pieces(events, 3, seed=9)):
        pq.write_table(piece, tmp_path / f"part-{i}.parquet", row_group_size=5_000)
    plugins = {"rfm": {}, "viral": {}}
    from_files = userops.partial(str(tmp_path / "*.parquet"), plugins, progress=False)
    assert_same(userops.finish(from_files), userops.analyze(events, plugins))


def test_progress_counts_files_done(events: pa.Table, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i, piece in enumerate(row_pieces(events, 4, seed=2)):
        pq.write_table(piece, tmp_path / f"part-{i}.parquet")
    shown: list[str] = []

    class Bar:
        def __init__(self, total: int | None = None, **_: Any) -> None:
            self.total, self.n = total, 0

        def set_postfix_str(self, text: str, refresh: bool = True) -> None:
            shown.append(text)

        def update(self, k: int) -> None:
            self.n += k

        def close(self) -> None:
            pass

    monkeypatch.setattr(_run, "_tqdm", lambda: Bar)
    userops.analyze(tmp_path, {"rfm": {}}, progress=True, threads=1)
    assert shown[0] == "files 0/4"
    assert shown[-1] == "files 4/4"


def test_import_userops_imports_neither_dask_nor_pyspark() -> None:
    code = (
        "import sys, userops\n"
        "assert 'dask' not in sys.modules and 'pyspark' not in sys.modules\n"
        "assert callable(userops.dask.analyze) and callable(userops.spark.analyze)\n"
        "assert 'dask' not in sys.modules and 'pyspark' not in sys.modules, sorted(sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr


def test_the_docstring_examples_run() -> None:
    import doctest

    from userops import _partial

    result = doctest.testmod(_partial, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 10 and result.failed == 0
