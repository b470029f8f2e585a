"""RFM and revenue concentration (SPEC §5, §9), from the ``userops-rfm`` crate.

Every metric function here follows one pattern: its keyword arguments are the
plugin's parameters (same names as the Rust plugin's JSON parameters) plus the run
options ``as_of``, ``columns``, ``tz``, ``threads`` and ``progress``; its body is
``return _run.metric("<plugin name>", locals())``.

Common parameters:
    events: the event log: a pyarrow Table / RecordBatchReader, a polars or pandas
        DataFrame, a DuckDB relation, any ``__arrow_c_stream__`` object, or Parquet
        files (a path, glob, directory or list). Columns ``user_id``, ``ts``,
        ``event``, ``amount`` by default (SPEC §1).
    as_of: the end of data D: None (the latest timestamp), a date (the end of that
        day in ``tz``), a datetime (naive = UTC), an ISO string, a pandas Timestamp
        or a numpy datetime64. Later events are ignored.
    columns: your column names by role, e.g. ``{"user_id": "uid", "ts": "time"}``.
    tz: the time zone of calendar days (``UTC``, ``Asia/Shanghai``, ``+08:00``).
    threads: worker threads, 0 = one per core.
    progress: True / False / None (auto) / a callable ``(rows, batches)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, Callable, Literal, Union

import pyarrow as pa

from userops import _run

AsOf = Union[None, date, datetime, str, Any]
Progress = Union[bool, Callable[[int, int], object], None]


def rfm(
    events: Any,
    *,
    bins: int = 5,
    method: Literal["quantile", "ntile", "fixed"] = "quantile",
    monetary: Literal["sum", "mean"] = "sum",
    thresholds: Mapping[str, Sequence[float]] | None = None,
    revenue_event: str = "order",
    as_of: AsOf = None,
    columns: Mapping[str, str] | None = None,
    tz: str = "UTC",
    threads: int = 0,
    progress: Progress = None,
) -> pa.Table:
    """RFM values, scores and segment per paying user (用户价值分层, SPEC §9).

    Parameters:
        events, as_of, columns, tz, threads, progress: see the module docs.
        bins: score bins, 2 to 9; ``segment`` is null unless there are 5.
        method: ``"quantile"`` (ties share a score), ``"ntile"`` (SQL NTILE, ties by
            user id) or ``"fixed"`` (your ``thresholds``).
        monetary: ``"sum"`` (net revenue) or ``"mean"`` (net revenue per purchase).
        thresholds: for ``method="fixed"``: ``{"recency": [...], "frequency": [...],
            "monetary": [...]}``, ``bins - 1`` ascending values each.
        revenue_event: the event whose rows are purchases (amount >= 0 or null) and
            refunds (amount < 0).

    Returns:
        One row per paying user, sorted by user id: ``user_id``, ``recency_days``,
        ``frequency``, ``monetary``, ``r_score``, ``f_score``, ``m_score``,
        ``rfm_score`` (e.g. ``"545"``), ``segment``.

    Example:
        >>> import userops
        >>> events = userops.datasets.shop(2_000, seed=1)
        >>> scores = userops.rfm(events)
        >>> scores.column_names[:4]
        ['user_id', 'recency_days', 'frequency', 'monetary']
    """
    return _run.metric("rfm", locals())


def rfm_segments(
    events: Any,
    *,
    bins: int = 5,
    method: Literal["quantile", "ntile", "fixed"] = "quantile",
    monetary: Literal["sum", "mean"] = "sum",
    thresholds: Mapping[str, Sequence[float]] | None = None,
    revenue_event: str = "order",
    as_of: AsOf = None,
    columns: Mapping[str, str] | None = None,
    tz: str = "UTC",
    threads: int = 0,
    progress: Progress = None,
) -> pa.Table:
    """The RFM segment summary: size, revenue and mean R, F, M of each segment.

    Parameters:
        the same as :func:`rfm`.

    Returns:
        One row per segment: ``segment``, ``users``, ``user_share``, ``revenue``,
        ``revenue_share``, ``mean_recency_days``, ``mean_frequency``,
        ``mean_monetary``.

    Example:
        >>> import userops
        >>> events = userops.datasets.shop(2_000, seed=1)
        >>> summary = userops.rfm_segments(events)
        >>> round(sum(summary.column("user_share").to_pylist()), 6)
        1.0
    """
    return _run.metric("rfm_segments", locals())


def concentration(
    events: Any,
    *,
    top: float = 0.2,
    revenue_event: str = "order",
    as_of: AsOf = None,
    columns: Mapping[str, str] | None = None,
    tz: str = "UTC",
    threads: int = 0,
    progress: Progress = None,
) -> pa.Table:
    """Revenue concentration (80/20) over paying users (SPEC §5).

    Each paying user's net revenue is floored at 0; the top ``ceil(top * n)`` users by
    revenue are the top users.

    Parameters:
        events, as_of, columns, tz, threads, progress: see the module docs.
        top: the top fraction of paying users, in (0, 1].
        revenue_event: the event whose rows are purchases and refunds.

    Returns:
        One row: ``paying_users``, ``top_fraction``, ``top_users``,
        ``top_revenue_share``, ``gini``.

    Example:
        >>> import userops
        >>> events = userops.datasets.shop(2_000, seed=1)
        >>> row = userops.concentration(events, top=0.2).to_pylist()[0]
        >>> 0 < row["top_revenue_share"] <= 1
        True
    """
    return _run.metric("concentration", locals())


def lorenz(
    events: Any,
    *,
    points: int = 100,
    revenue_event: str = "order",
    as_of: AsOf = None,
    columns: Mapping[str, str] | None = None,
    tz: str = "UTC",
    threads: int = 0,
    progress: Progress = None,
) -> pa.Table:
    """The Lorenz curve of net revenue over paying users (SPEC §5).

    Parameters:
        events, as_of, columns, tz, threads, progress: see the module docs.
        points: steps of the curve; the table has ``points + 1`` rows.
        revenue_event: the event whose rows are purchases and refunds.

    Returns:
        ``user_share`` (0 to 1) and ``revenue_share``: the share of revenue held by
        the bottom ``user_share`` of paying users.

    Example:
        >>> import userops
        >>> events = userops.datasets.shop(2_000, seed=1)
        >>> curve = userops.lorenz(events, points=10)
        >>> curve.num_rows
        11
    """
    return _run.metric("lorenz", locals())
