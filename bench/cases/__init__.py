"""Benchmark cases: one module per metric family, each exposing ``CASES``.

``bench/run.py`` imports every module of this package whose name does not start
with ``_`` and collects its ``CASES`` list. See ``bench/README.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

#: One day in microseconds.
DAY_US = 86_400_000_000


@dataclass(frozen=True)
class Case:
    """One benchmark case: the same result computed by three engines.

    Each engine function gets the event log already in that engine's hands and must
    return a fully computed result (nothing lazy): a ``pyarrow.Table``, a polars
    ``DataFrame`` or a list of tuples. Import engine modules inside the functions,
    so that each engine's worker process loads only its own engine.

    Attributes:
        name: unique over all case modules; ``--cases`` filters on it (and on the
            module name).
        userops: ``f(table: pyarrow.Table) -> result``.
        duckdb: ``f(con, table) -> result``; the table is registered in ``con`` as
            the view ``events``; ``con`` already uses every core.
        polars: ``f(df: polars.DataFrame) -> result``; ``df = polars.from_arrow(table)``
            (that conversion is timed separately, as ``prepare``).
        normalize: ``f(result as pyarrow.Table) -> pyarrow.Table`` with the same
            columns and row order for every engine (use :func:`canonical`).
        description: one line for the report.
    """

    name: str
    userops: Callable[[pa.Table], Any]
    duckdb: Callable[[Any, pa.Table], Any]
    polars: Callable[[Any], Any]
    normalize: Callable[[pa.Table], pa.Table]
    description: str = ""


def canonical(table: pa.Table, columns: Sequence[str], sort_by: Sequence[str] = ()) -> pa.Table:
    """``columns`` of ``table`` in that order, with one type per kind of value
    (integers as int64, floats as float64, strings as string, dictionaries decoded),
    sorted by ``sort_by`` (ascending, nulls last)."""
    out = {}
    for name in columns:
        col = table.column(name)
        t = col.type
        if pa.types.is_dictionary(t):
            col = col.cast(t.value_type)
            t = col.type
        if pa.types.is_integer(t):
            col = col.cast(pa.int64())
        elif pa.types.is_floating(t) or pa.types.is_decimal(t):
            col = col.cast(pa.float64())
        elif pa.types.is_large_string(t) or pa.types.is_string_view(t):
            col = col.cast(pa.string())
        out[name] = col
    result = pa.table(out)
    if sort_by:
        result = result.take(pc.sort_indices(result, [(k, "ascending") for k in sort_by], null_placement="at_end"))
    return result
