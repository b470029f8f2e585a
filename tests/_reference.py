"""Plumbing shared by the reference tests (``tests/test_*_reference.py``).

Only helpers that were the same logic in several of those files live here: building
and caching input tables, SPEC §1's reading of an ``as_of`` option, quoting SQL
literals, silencing the left-out-rows warning and comparing a userops table with a
reference table. Nothing here computes a metric: each test file keeps its own
reference implementation (DuckDB SQL or plain Python), written from SPEC.md and
independent of the other files and of the Rust code.

Where the files' copies differed in a way that matters (the absolute float tolerance,
which table a name refers to), the difference is a parameter, set in each file.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa

import userops

UTC = dt.timezone.utc
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)
#: The relative float tolerance of every reference comparison.
REL = 1e-9

# --------------------------------------------------------------------------------------
# Input tables
# --------------------------------------------------------------------------------------


def utc(*args: int) -> dt.datetime:
    """``datetime(*args)`` in UTC: ``utc(2024, 1, 31, 16)`` for the hand-made rows."""
    return dt.datetime(*args, tzinfo=UTC)


def events(rows: list[tuple], *, user_type: pa.DataType = pa.int64(), channel: bool = False) -> pa.Table:
    """An event table from ``(user_id, ts, event, amount[, channel])`` rows.

    ``ts`` is ``timestamp[us, UTC]``, ``event`` a string, ``amount`` a float64, the ids
    of ``user_type``; with ``channel``, a string column ``channel`` from each row's fifth
    value follows. A row may be shorter: its missing trailing values are None.
    """
    width = 5 if channel else 4
    rows = [tuple(r) + (None,) * (width - len(r)) for r in rows]
    cols = [list(c) for c in zip(*rows)] if rows else [[] for _ in range(width)]
    data = {
        "user_id": pa.array(cols[0], user_type),
        "ts": pa.array(cols[1], pa.timestamp("us", tz="UTC")),
        "event": pa.array(cols[2], pa.string()),
        "amount": pa.array(cols[3], pa.float64()),
    }
    if channel:
        data["channel"] = pa.array(cols[4], pa.string())
    return pa.table(data)


@functools.cache
def shop(users: int, seed: int) -> pa.Table:
    """``userops.datasets.shop(users, seed=seed)``, generated once per session."""
    return userops.datasets.shop(users, seed=seed)


def shuffled_chunks(table: pa.Table, seed: int, rows: int) -> pa.Table:
    """The rows of ``table`` in a seeded random order, cut into batches of ``rows``
    (results must not depend on row order or batch boundaries)."""
    order = np.random.default_rng(seed).permutation(table.num_rows)
    return pa.Table.from_batches(table.take(order).to_batches(max_chunksize=rows))


def cached_datasets(builders: Mapping[str, Callable[[], pa.Table]]) -> Callable[[str], pa.Table]:
    """``dataset(name)``: the table ``builders[name]()`` builds, built once.

    One cache per test file: the files reuse names ("ties", "empty", "random_1") for
    different tables, so each file makes its own ``dataset`` from its own builders.
    """

    @functools.cache
    def dataset(name: str) -> pa.Table:
        return builders[name]()

    return dataset


# --------------------------------------------------------------------------------------
# Options and SQL text
# --------------------------------------------------------------------------------------


def as_of_micros(value: Any, tz: str) -> int | None:
    """An ``as_of`` (or ``at``, ``start``, ``end``) option as UTC microseconds, by SPEC §1:
    a datetime is an instant (naive = UTC); a bare date is the end of that day in ``tz``
    (the last microsecond before the next local midnight); None stays None."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        return (value - EPOCH) // dt.timedelta(microseconds=1)
    if isinstance(value, dt.date):
        next_day = dt.datetime.combine(value + dt.timedelta(days=1), dt.time(), tzinfo=ZoneInfo(tz))
        return as_of_micros(next_day, tz) - 1
    raise TypeError(value)


def sql_string(text: str) -> str:
    """``text`` as a SQL string literal: single quotes around, inner quotes doubled."""
    return "'" + text.replace("'", "''") + "'"


def sql_list(names: list[str]) -> str:
    """``names`` as comma-separated SQL string literals, for inside ``IN (...)``."""
    return ", ".join(sql_string(n) for n in names)


# --------------------------------------------------------------------------------------
# Calling userops and comparing
# --------------------------------------------------------------------------------------


def quiet(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` with userops' left-out-rows warning silenced (the warning
    itself is checked in tests of its own)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", userops.UserOpsWarning)
        return fn(*args, **kwargs)


def close(a: Any, b: Any, *, abs_tol: float) -> bool:
    """Whether a userops value equals a reference value: None only equals None; when
    either is a float, within a relative ``REL`` or the absolute ``abs_tol`` (NaN equals
    nothing); anything else exactly."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, float) or isinstance(b, float):
        if math.isnan(a) or math.isnan(b):
            return False
        return a == b or math.isclose(a, b, rel_tol=REL, abs_tol=abs_tol)
    return a == b


def assert_tables_close(got: pa.Table, expected: pa.Table, what: str = "", *, abs_tol: float) -> None:
    """Asserts that userops' table ``got`` equals the reference table ``expected``: the
    same column names in the same order, the same number of rows, and every value
    ``close`` (with ``abs_tol``) to the one at the same row and column. The message
    names the first differing row of each table and how many rows differ."""
    if got.column_names != expected.column_names:
        raise AssertionError(f"{what}: columns {got.column_names} != {expected.column_names}")
    if got.num_rows != expected.num_rows:
        raise AssertionError(
            f"{what}: {got.num_rows} rows, expected {expected.num_rows}; first rows: "
            f"userops {got.slice(0, 5).to_pylist()}, reference {expected.slice(0, 5).to_pylist()}"
        )
    for name in expected.column_names:
        g = got.column(name).to_pylist()
        e = expected.column(name).to_pylist()
        bad = [(i, x, y) for i, (x, y) in enumerate(zip(g, e)) if not close(x, y, abs_tol=abs_tol)]
        if bad:
            i, x, y = bad[0]
            raise AssertionError(
                f"{what}: column {name!r}: {len(bad)} of {len(e)} rows differ; first at row {i}: "
                f"userops {x!r}, reference {y!r}\n"
                f"userops row {got.slice(i, 1).to_pylist()}\nreference row {expected.slice(i, 1).to_pylist()}"
            )
