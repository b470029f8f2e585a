"""userops on Dask: one partial state per Parquet file or per partition, merged on the
driver (``pip install 'userops[dask]'``).

Each task reads its Parquet file with pyarrow (only the columns the plugins need, batch
by batch) and scans it into a partial state (:func:`userops.partial`); only the states,
which grow with users and not with events, travel back to the driver, where
:func:`userops.merge` and :func:`userops.finish` make the tables. The results equal
:func:`userops.analyze` over the same data exactly. Dask itself is imported only when
:func:`analyze` runs; ``import userops`` never imports it.

Example (not run here)::

    from dask.distributed import Client
    import userops.dask

    client = Client("scheduler:8786")
    out = userops.dask.analyze("s3://bucket/events/*.parquet", {"rfm": {}, "retention": {}}, client=client)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from userops import _inputs, _native, _options, _partial, _run
from userops.errors import ParameterError

__all__ = ["analyze", "file_state"]

_MISSING_DASK = "userops.dask needs Dask: pip install 'userops[dask]' (dask[distributed])"


def _is_uri(path: str) -> bool:
    return "://" in path


def _files(paths: Any) -> list[str]:
    """Local paths, globs and directories expanded on the driver; URIs (``s3://...``)
    passed to the tasks as they are (pyarrow opens them)."""
    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    local = [os.fspath(p) for p in items if not (isinstance(p, str) and _is_uri(p))]
    expanded = _inputs._expand(local) if local else []
    return expanded + [p for p in items if isinstance(p, str) and _is_uri(p)]


def file_state(
    path: str,
    specs: list[dict[str, Any]],
    as_of_us: int | None,
    columns: dict[str, str] | None,
    tz: str,
    threads: int,
) -> bytes:
    """The partial state of one Parquet file (or URI), read with pyarrow inside the task."""
    import pyarrow.dataset as ds

    source: Any = ds.dataset(path, format="parquet") if _is_uri(path) else path
    return _partial.partial_of(
        source, specs, as_of_us=as_of_us, columns=columns, tz=tz, threads=threads, progress=False
    )


def _frame_state(
    frame: Any,
    specs: list[dict[str, Any]],
    as_of_us: int | None,
    columns: dict[str, str] | None,
    tz: str,
    threads: int,
) -> bytes:
    """The partial state of one partition of a Dask DataFrame (a pandas DataFrame)."""
    return _partial.partial_of(
        _arrow_partition(frame, columns), specs, as_of_us=as_of_us, columns=columns, tz=tz, threads=threads
    )


def _arrow_partition(frame: Any, columns: dict[str, str] | None) -> pa.Table:
    """A pandas partition as Arrow. pandas (numpy dtypes) stores an integer column with
    nulls as float64: an integral float ``referrer_id`` is cast back to the type of
    integer ``user_id``, as it was before pandas (a fractional one is left to fail)."""
    import pyarrow.compute as pc

    table = pa.Table.from_pandas(frame, preserve_index=False)
    names = {role: role for role in _options.ROLES} | dict(columns or {})
    user, referrer = names["user_id"], names["referrer_id"]
    schema = table.schema
    if user in schema.names and referrer in schema.names:
        key_type = schema.field(user).type
        if pa.types.is_integer(key_type) and pa.types.is_floating(schema.field(referrer).type):
            try:
                cast = pc.cast(table[referrer], key_type)  # safe: fails on fractions
            except pa.ArrowInvalid:
                return table
            table = table.set_column(schema.get_field_index(referrer), referrer, cast)
    return table


def _is_dask_frame(obj: Any) -> bool:
    module = type(obj).__module__.split(".")[0]
    return module in ("dask", "dask_expr") and hasattr(obj, "to_delayed") and hasattr(obj, "columns")


def analyze(
    data: Any,
    plugins: Mapping[str, Mapping[str, Any] | None],
    client: Any = None,
    *,
    as_of: Any = None,
    columns: Mapping[str, str] | None = None,
    tz: str = "UTC",
    threads: int = 1,
) -> dict[str, pa.Table]:
    """Runs ``plugins`` over ``data`` on Dask: one task per Parquet file or partition.

    Parameters:
        data: Parquet files (a path, a glob, a directory, a list of these, or URIs
            such as ``s3://bucket/part-0.parquet`` that pyarrow can open: one task
            each, read with pyarrow in the task, Arrow end to end), or a Dask
            DataFrame (one task per partition; its columns are projected first).
        plugins: as for :func:`userops.analyze` (breakdowns included: they are
            applied on the driver when finishing).
        client: a ``dask.distributed.Client``; None uses Dask's current scheduler
            (the default client if one exists, else local threads).
        as_of, columns, tz: as for :func:`userops.analyze`.
        threads: engine threads inside each task (default 1: Dask already runs
            one task per worker thread).

    Returns:
        ``{output name: pyarrow.Table}``, equal to :func:`userops.analyze` on the
        same data.
    """
    try:
        import dask
    except ImportError:
        raise ImportError(_MISSING_DASK) from None
    specs, breakdowns = _partial.split_breakdowns(_run.specs_of(plugins))
    columns = _options.columns_option(columns)
    tz = _options.tz_option(tz)
    as_of_us = _options.as_of_micros(as_of, tz)
    threads = _options.threads_option(threads)
    options = (specs, as_of_us, columns, tz, threads)
    needed = _partial.needed_columns(specs, columns)  # checks plugins and parameters before any task
    if _is_dask_frame(data):
        keep = _inputs._projection([str(c) for c in data.columns], needed)
        frame = data[keep] if keep is not None else data
        parts = frame.to_delayed()
        tasks = [dask.delayed(_frame_state, pure=True)(part, *options) for part in parts]
    elif isinstance(data, (str, os.PathLike)) or (
        isinstance(data, (list, tuple)) and data and all(isinstance(p, (str, os.PathLike)) for p in data)
    ):
        tasks = [dask.delayed(file_state, pure=True)(path, *options) for path in _files(data)]
    else:
        kind = type(data)
        raise TypeError(
            f"userops.dask.analyze takes Parquet paths, globs or directories, or a Dask DataFrame, "
            f"not {kind.__module__}.{kind.__qualname__}"
        )
    if not tasks:
        raise ParameterError("userops.dask.analyze: the data has no file or partition")
    if client is not None:
        states = client.gather(client.compute(tasks))
    else:
        states = list(dask.compute(*tasks))
    results = _native.finish(_native.merge(list(states)), breakdowns=breakdowns or None)
    _run._warn_left_out(results, columns)
    return results

