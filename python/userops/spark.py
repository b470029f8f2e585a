"""userops on Spark: ``mapInArrow`` makes one partial state per partition, merged on the
driver (``pip install 'userops[spark]'``; Spark needs Java 17+, see ``docs/scale.md``).

Each partition's Arrow batches go straight into the engine on the executor (no pandas),
projected first to the columns the plugins need; the partition returns one row, its
partial state as ``binary``. Only the states, which grow with users and not with
events, travel to the driver, where :func:`userops.merge` and :func:`userops.finish`
make the tables. The results equal :func:`userops.analyze` over the same data exactly.
PySpark is imported only when :func:`analyze` runs; ``import userops`` never imports it.

Example (not run here)::

    import userops.spark

    df = spark.read.parquet("s3://bucket/events/")
    out = userops.spark.analyze(df, {"rfm": {}, "retention": {"period": "week"}})
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterator, Mapping
from typing import Any

import pyarrow as pa

from userops import _inputs, _native, _options, _partial, _run

__all__ = ["analyze", "partition_states"]

#: The schema of the DataFrame of states: one binary column.
STATE_SCHEMA = "state binary"


def partition_states(
    batches: Iterator[pa.RecordBatch],
    *,
    specs: list[dict[str, Any]],
    as_of_us: int | None,
    columns: dict[str, str] | None,
    tz: str,
    threads: int,
) -> Iterator[pa.RecordBatch]:
    """The ``mapInArrow`` function: a partition's batches in, one state row out (none for
    an empty partition)."""
    it = iter(batches)
    first = next(it, None)
    if first is None:
        return
    reader = pa.RecordBatchReader.from_batches(first.schema, itertools.chain([first], it))
    state = _native.partial(reader, specs, columns=columns, tz=tz, as_of=as_of_us, threads=threads)
    yield pa.RecordBatch.from_arrays([pa.array([state], pa.binary())], names=["state"])


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def analyze(
    df: Any,
    plugins: Mapping[str, Mapping[str, Any] | None],
    *,
    as_of: Any = None,
    columns: Mapping[str, str] | None = None,
    tz: str = "UTC",
    threads: int = 1,
) -> dict[str, pa.Table]:
    """Runs ``plugins`` over a Spark DataFrame: one partial state per partition.

    Parameters:
        df: a ``pyspark.sql.DataFrame`` of events (any source: Parquet, tables,
            Delta, ...). Timestamps arrive as UTC instants.
        plugins: as for :func:`userops.analyze` (breakdowns included: they are
            applied on the driver when finishing).
        as_of, columns, tz: as for :func:`userops.analyze`.
        threads: engine threads inside each task (default 1: Spark already runs one
            task per executor core).

    Returns:
        ``{output name: pyarrow.Table}``, equal to :func:`userops.analyze` on the
        same rows.
    """
    try:
        from pyspark.sql import DataFrame
    except ImportError:
        raise ImportError("userops.spark needs PySpark: pip install 'userops[spark]' (and Java 17+)") from None
    if not isinstance(df, DataFrame):
        kind = type(df)
        raise TypeError(f"userops.spark.analyze takes a pyspark.sql.DataFrame, not {kind.__module__}.{kind.__qualname__}")
    specs, breakdowns = _partial.split_breakdowns(_run.specs_of(plugins))
    columns = _options.columns_option(columns)
    tz = _options.tz_option(tz)
    as_of_us = _options.as_of_micros(as_of, tz)
    threads = _options.threads_option(threads)
    keep = _inputs._projection(list(df.columns), _partial.needed_columns(specs, columns))
    if keep is not None:
        df = df.select(*[_quote(c) for c in keep])
    task = functools.partial(
        partition_states, specs=specs, as_of_us=as_of_us, columns=columns, tz=tz, threads=threads
    )
    states = [bytes(row[0]) for row in df.mapInArrow(task, STATE_SCHEMA).collect()]
    if not states:  # no rows at all: the state of an empty table of the same schema
        none = df.limit(0)
        empty = none.toArrow() if hasattr(none, "toArrow") else pa.Table.from_pandas(none.toPandas())  # Spark < 4
        states = [_native.partial(empty, specs, columns=columns, tz=tz, as_of=as_of_us, threads=1)]
    results = _native.finish(_native.merge(states), breakdowns=breakdowns or None)
    _run._warn_left_out(results, columns)
    return results
