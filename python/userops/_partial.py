"""Partial states: ``partial`` (events -> state bytes), ``merge`` (states -> one state)
and ``finish`` (state -> result tables): the algebra the engine uses inside, exposed.

A state is the summary of some events for a set of plugins: it grows with the number
of users, not of events. States of any split of the events (files, partitions,
machines, days) merge into the state of all of them, and finishing it gives exactly
what :func:`userops.analyze` gives on all the events at once, to the last bit.

The bytes are a versioned, self-describing format: they carry the format version, the
plugins with their parameters (defaults filled in), the result names, the time zone,
``as_of`` and the column names. ``merge`` and ``finish`` need nothing else; states of
different plugins, parameters, options or format versions are a
:class:`userops.StateError`, never a wrong number. See ``docs/scale.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Callable

import pyarrow as pa

from userops import _inputs, _native, _options, _run
from userops.errors import ParameterError

__all__ = ["finish", "merge", "partial"]


def split_breakdowns(specs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Plugin specs without their breakdowns, and the breakdowns ``{output: source}`` to
    give to :func:`finish` (a state carries no breakdown)."""
    plain = [{**s, "breakdown": None} for s in specs]
    breakdowns = {s["output"]: s["breakdown"] for s in specs if s["breakdown"] is not None}
    return plain, breakdowns


def needed_columns(specs: list[dict[str, Any]], columns: Mapping[str, str] | None) -> _inputs.Needed:
    """The caller's names of the columns a run of ``specs`` reads."""
    light = [{**s, "breakdown": s["breakdown"] if isinstance(s["breakdown"], str) else None} for s in specs]
    found = _native.needed_columns(light, columns=columns)
    return {"required": list(found["required"]), "optional": list(found["optional"])}


def partial_of(
    events: Any,
    specs: list[dict[str, Any]],
    *,
    as_of_us: int | None,
    columns: dict[str, str] | None,
    tz: str,
    threads: int,
    progress: Any = False,
) -> bytes:
    """The state of ``events`` for breakdown-free ``specs``, with options already checked
    (``as_of`` in microseconds UTC, ``tz`` canonical). What the Dask and Spark tasks run."""
    source = _inputs.source(events, lambda: needed_columns(specs, columns))
    with _run._progress(progress, source) as callback:
        return _native.partial(
            source.data, specs, columns=columns, tz=tz, as_of=as_of_us, threads=threads, progress=callback
        )


def partial(
    events: Any,
    plugins: Mapping[str, Mapping[str, Any] | None],
    *,
    as_of: Any = None,
    columns: Mapping[str, str] | None = None,
    tz: str = "UTC",
    threads: int = 0,
    progress: bool | Callable[[int, int], object] | None = None,
) -> bytes:
    """Scans ``events`` into a partial state (bytes) for ``plugins``.

    Make one state per piece of the data (a file, a partition, a day, a machine),
    combine them with :func:`merge` and turn the result into tables with
    :func:`finish`: the tables equal :func:`userops.analyze` over all the pieces at
    once, exactly. The state grows with the users seen, not with the events.

    Parameters:
        events: the event log, any input :func:`userops.analyze` accepts (Arrow
            data, pandas, polars, DuckDB, Parquet paths, globs, directories, a
            ``pyarrow.dataset.Dataset``).
        plugins: ``{plugin name: {parameter: value}}`` as for :func:`userops.analyze`,
            without ``"breakdown"`` (give breakdowns to :func:`finish`).
        as_of, columns, tz: as for every metric; they are recorded in the state, and
            only states made with the same ones merge.
        threads: worker threads, 0 = one per core.
        progress: as for :func:`userops.analyze`.

    Returns:
        The state: bytes in userops' versioned partial-state format.

    Example:
        >>> import pyarrow.compute as pc
        >>> import userops
        >>> events = userops.datasets.shop(2_000, seed=1)
        >>> early = events.filter(pc.less(events["user_id"], 1_000))
        >>> late = events.filter(pc.greater_equal(events["user_id"], 1_000))
        >>> plugins = {"rfm": {}, "revenue": {"period": "month"}}
        >>> states = [userops.partial(part, plugins) for part in (early, late)]
        >>> out = userops.finish(userops.merge(states))
        >>> out["rfm"].equals(userops.analyze(events, plugins)["rfm"])
        True
    """
    specs = _run.specs_of(plugins)
    with_breakdown = [s["output"] for s in specs if s["breakdown"] is not None]
    if with_breakdown:
        raise ParameterError(
            f"plugin `{with_breakdown[0]}`: a partial state carries no breakdown; give it when finishing: "
            f"userops.finish(state, breakdowns={{{with_breakdown[0]!r}: ...}})"
        )
    columns = _options.columns_option(columns)
    tz = _options.tz_option(tz)
    return partial_of(
        events,
        specs,
        as_of_us=_options.as_of_micros(as_of, tz),
        columns=columns,
        tz=tz,
        threads=_options.threads_option(threads),
        progress=progress,
    )


def _as_bytes(state: Any, where: str) -> bytes:
    if isinstance(state, bytes):
        return state
    if isinstance(state, (bytearray, memoryview)):
        return bytes(state)
    raise TypeError(f"{where} is a {type(state).__name__}, not the bytes of a partial state")


def merge(states: Iterable[bytes | bytearray | memoryview]) -> bytes:
    """Merges partial states of one analysis into one state.

    The states must come from :func:`partial` (or :func:`merge`) with the same
    plugins, parameters, ``as_of``, ``tz`` and column names; anything else is a
    :class:`userops.StateError` naming the difference. Merging is associative and
    commutative, so any grouping gives the same result; many states are merged as a
    balanced tree, a chunk at a time, on all cores.

    Parameters:
        states: the states (``bytes``; ``bytearray`` and ``memoryview`` are copied).

    Returns:
        The merged state.

    Example:
        >>> import userops
        >>> a = userops.partial(userops.datasets.shop(500, seed=1), {"rfm": {}})
        >>> b = userops.partial(userops.datasets.shop(500, seed=2), {"rfm": {}})
        >>> ab, ba = userops.finish(userops.merge([a, b])), userops.finish(userops.merge([b, a]))
        >>> ab["rfm"].equals(ba["rfm"])
        True
    """
    if isinstance(states, (bytes, bytearray, memoryview)):
        raise TypeError("merge takes a list of states, not one state")
    items = [_as_bytes(s, f"states[{i}]") for i, s in enumerate(states)]
    if not items:
        raise ParameterError("merge needs at least one partial state")
    return _native.merge(items)


def finish(state: bytes | bytearray | memoryview, *, breakdowns: Mapping[str, Any] | None = None) -> dict[str, pa.Table]:
    """Finishes a partial state into result tables.

    Parameters:
        state: a state from :func:`partial` or :func:`merge`.
        breakdowns: ``{result name: breakdown}`` for metrics that take one: the output
            name of a segmenter in the state (e.g. ``"rfm_segments"``), or a table
            with ``user_id`` and ``segment`` columns.

    Returns:
        ``{output name: pyarrow.Table}``, as :func:`userops.analyze` returns.

    Example:
        >>> import userops
        >>> events = userops.datasets.shop(1_000, seed=1)
        >>> state = userops.partial(events, {"rfm": {}, "retention": {}})
        >>> out = userops.finish(state, breakdowns={"retention": "rfm"})
        >>> "segment" in out["retention"].column_names
        True
    """
    data = _as_bytes(state, "state")
    given: dict[str, Any] | None = None
    if breakdowns is not None:
        if not isinstance(breakdowns, Mapping):
            raise ParameterError(
                f"breakdowns must be a dict {{result name: segmenter output or table}}, not {type(breakdowns).__name__}"
            )
        given = {k: (v if isinstance(v, str) else _inputs.table_like(v)) for k, v in breakdowns.items()}
    results = _native.finish(data, breakdowns=given)
    _run._warn_left_out(results, None)
    return results
