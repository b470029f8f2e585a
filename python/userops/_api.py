"""``analyze`` (several plugins in one pass) and ``plugins`` (what is registered)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Callable

import pyarrow as pa

from userops import _native, _run


def analyze(
    events: Any,
    plugins: Mapping[str, Mapping[str, Any] | None],
    *,
    as_of: Any = None,
    columns: Mapping[str, str] | None = None,
    tz: str = "UTC",
    threads: int = 0,
    progress: bool | Callable[[int, int], object] | None = None,
) -> dict[str, pa.Table]:
    """Runs several plugins over ``events`` in one pass.

    Parameters:
        events: the event log (see :func:`userops.rfm` for the accepted inputs).
        plugins: ``{plugin name: {parameter: value}}``; to run one plugin twice, key
            by an output name and name the plugin: ``{"rfm_3": {"plugin": "rfm",
            "bins": 3}}``. A parameter dict may hold ``"breakdown"``: the output
            name of a segmenter in this run, or a table with ``user_id`` and
            ``segment`` columns.
        as_of, columns, tz: as for every metric (see :func:`userops.rfm`).
        threads: worker threads, 0 = one per core.
        progress: True for a progress bar (tqdm), False for none, a callable
            ``(rows, batches)``, or None (a bar for file sources and inputs of more
            than 5M rows when tqdm is installed).

    Returns:
        ``{output name: pyarrow.Table}``, in the order given.

    Example:
        >>> import userops
        >>> events = userops.datasets.shop(2_000, seed=1)
        >>> out = userops.analyze(events, {"rfm": {}, "concentration": {"top": 0.1}})
        >>> sorted(out)
        ['concentration', 'rfm']
    """
    return _run.run(
        events, _run.specs_of(plugins), as_of=as_of, columns=columns, tz=tz, threads=threads, progress=progress
    )


def plugins() -> pa.Table:
    """The plugins linked into this build, one row each.

    Columns: ``name``, ``kind`` (``metric`` or ``segmenter``), ``crate``,
    ``description``, ``parameters`` (JSON object of the defaults), ``breakdown``
    (whether it takes a breakdown) and ``param_docs`` (list of ``{name, doc}``).

    Example:
        >>> import userops
        >>> "rfm" in userops.plugins().column("name").to_pylist()
        True
    """
    rows = _native.plugins()
    params_type = pa.list_(pa.struct([("name", pa.string()), ("doc", pa.string())]))
    return pa.table(
        {
            "name": pa.array([r["name"] for r in rows], pa.string()),
            "kind": pa.array([r["kind"] for r in rows], pa.string()),
            "crate": pa.array([r["crate"] for r in rows], pa.string()),
            "description": pa.array([r["description"] for r in rows], pa.string()),
            "parameters": pa.array([r["parameters"] for r in rows], pa.string()),
            "breakdown": pa.array([r["breakdown"] for r in rows], pa.bool_()),
            "param_docs": pa.array([r["params"] for r in rows], params_type),
        }
    )
