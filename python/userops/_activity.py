"""Active users and stickiness (SPEC §7), from the ``userops-aarrr`` crate.

The functions follow the pattern of :mod:`userops._rfm` (plugin parameters plus the
run options ``as_of``, ``columns``, ``tz``, ``threads``, ``progress``; see
:func:`userops.rfm`). Days, ISO weeks and months are calendar periods in ``tz``; a
period is ``complete`` when its last instant is at or before D (the end of data).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, Callable, Literal, Union

import pyarrow as pa

from userops import _run

AsOf = Union[None, date, datetime, str, Any]
Progress = Union[bool, Callable[[int, int], object], None]


def active_users(
    events: Any,
    *,
    period: Literal["day", "week", "month"] = "day",
    activity_events: Sequence[str] | None = None,
    as_of: AsOf = None,
    columns: Mapping[str, str] | None = None,
    tz: str = "UTC",
    threads: int = 0,
    progress: Progress = None,
) -> pa.Table:
    """Distinct active users per day, ISO week or month (DAU / WAU / MAU).

    Every period from the first with activity to the period of D is listed, with 0
    where nobody was active.

    Parameters:
        events, as_of, columns, tz, threads, progress: see :func:`userops.rfm`.
        period: ``"day"`` (DAU), ``"week"`` (WAU, Monday start) or ``"month"`` (MAU).
        activity_events: the event names that count as activity; None = any event.

    Returns:
        ``period`` (date), ``active_users``, ``complete``.

    Example:
        >>> import userops
        >>> events = userops.datasets.shop(2_000, seed=1)
        >>> mau = userops.active_users(events, period="month", tz="Asia/Shanghai")
        >>> mau.column_names
        ['period', 'active_users', 'complete']
        >>> mau.column("complete").to_pylist()[-1]
        False
    """
    return _run.metric("active_users", locals())


def stickiness(
    events: Any,
    *,
    activity_events: Sequence[str] | None = None,
    as_of: AsOf = None,
    columns: Mapping[str, str] | None = None,
    tz: str = "UTC",
    threads: int = 0,
    progress: Progress = None,
) -> pa.Table:
    """Stickiness (DAU/MAU) per month.

    ``mean_dau`` is the mean of DAU over every calendar day of the month up to
    date(D) (days without activity count as 0; the first month's days before the
    first activity count too); ``mau`` is the month's distinct active users;
    ``stickiness`` = mean_dau / mau (null when mau is 0).

    Parameters:
        events, as_of, columns, tz, threads, progress: see :func:`userops.rfm`.
        activity_events: the event names that count as activity; None = any event.

    Returns:
        ``month`` (date), ``mean_dau``, ``mau``, ``stickiness``, ``complete``.

    Example:
        >>> import userops
        >>> events = userops.datasets.shop(2_000, seed=1)
        >>> table = userops.stickiness(events)
        >>> all(0 < s <= 1 for s in table.column("stickiness").to_pylist() if s is not None)
        True
    """
    return _run.metric("stickiness", locals())
