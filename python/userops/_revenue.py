"""Revenue and repurchase (付费 · 复购, SPEC §5), from the ``userops-aarrr`` crate.

Every function here follows the pattern of :mod:`userops._rfm`: its keyword
arguments are the plugin's parameters plus the run options ``as_of``, ``columns``,
``tz``, ``threads`` and ``progress`` (see :func:`userops.rfm`); its body is
``return _run.metric("<plugin name>", locals())``.

Rules shared by these metrics (SPEC §1):
- a ``revenue_event`` row (default ``order``) is a purchase when its amount is >= 0
  or null, and a refund when it is negative; refunds lower revenue but are never
  purchases (not paying, not a first or second purchase);
- D, the end of data, is ``as_of`` or the latest valid timestamp of any event;
- periods are calendar days, ISO weeks (Monday) or calendar months in ``tz``; the
  ``period``/``cohort``/``month`` column is the first day of the period (a date);
- a period is ``complete`` when its last instant is at or before D (so
  ``as_of="2024-01-31"`` completes January);
- a rate whose denominator is 0 is null.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Callable, Literal, Union

import pyarrow as pa

from userops import _run

AsOf = Union[None, date, datetime, str, Any]
Progress = Union[bool, Callable[[int, int], object], None]
Period = Literal["day", "week", "month"]


def revenue(
    events: Any,
    *,
    period: Period = "month",
    revenue_event: str = "order",
    as_of: AsOf = None,
    columns: Mapping[str, str] | None = None,
    tz: str = "UTC",
    threads: int = 0,
    progress: Progress = None,
) -> pa.Table:
    """Revenue per period (付费): net revenue, active and paying users, ARPU, ARPPU.

    Per period P: ``revenue`` = sum of ``amount`` over the ``revenue_event`` rows in
    P (refunds subtract: net revenue); ``active_users`` = distinct users with any
    event in P; ``paying_users`` = distinct users with at least one purchase in P;
    ``arpu`` = revenue / active; ``arppu`` = revenue / paying; ``paying_rate`` =
    paying / active (each null when its denominator is 0).

    Every period from the first with any event to the period of D is listed (periods
    without events show 0 users and null rates). The period of D has
    ``complete = False`` unless D is its last instant.

    Parameters:
        events, as_of, columns, tz, threads, progress: see :func:`userops.rfm`.
        period: ``"day"``, ``"week"`` (ISO, Monday start) or ``"month"``.
        revenue_event: the event whose rows are purchases and refunds.

    Returns:
        ``period`` (date), ``revenue``, ``active_users``, ``paying_users``, ``arpu``,
        ``arppu``, ``paying_rate``, ``complete``; one row per period, in order.

    Example:
        >>> import userops
        >>> events = userops.datasets.shop(2_000, seed=1)
        >>> table = userops.revenue(events, period="month")
        >>> table.column_names
        ['period', 'revenue', 'active_users', 'paying_users', 'arpu', 'arppu', 'paying_rate', 'complete']
        >>> row = table.to_pylist()[3]
        >>> round(row["arpu"] * row["active_users"], 6) == round(row["revenue"], 6)
        True
    """
    return _run.metric("revenue", locals())


def repurchase(
    events: Any,
    *,
    window_days: int = 30,
    period: Period = "month",
    revenue_event: str = "order",
    as_of: AsOf = None,
    columns: Mapping[str, str] | None = None,
    tz: str = "UTC",
    threads: int = 0,
    progress: Progress = None,
) -> pa.Table:
    """The N-day repurchase rate (30天复购率) per cohort of first-purchase month.

    A user's cohort is the month (or ``period``) of their first purchase. The user
    repurchased when their second purchase (the second purchase row in time order;
    two purchases at the same instant count) is at most ``window_days`` days
    (elapsed, 24 h each) after the first. A user whose first purchase is less than
    ``window_days`` days before D is ``in_progress``: left out of ``eligible`` and
    ``repurchased``, even if they already bought again.

    Every cohort from the first purchase to the period of D is listed; ``rate`` is
    null where no user is eligible.

    Parameters:
        events, as_of, columns, tz, threads, progress: see :func:`userops.rfm`.
        window_days: the window N in days (0 = a second purchase at the same instant).
        period: the cohort period: ``"month"`` (SPEC), ``"week"`` or ``"day"``.
        revenue_event: the event whose rows are purchases and refunds.

    Returns:
        ``cohort`` (date), ``first_buyers``, ``eligible``, ``repurchased``, ``rate``,
        ``in_progress``; ``first_buyers = eligible + in_progress``.

    Example:
        >>> import userops
        >>> events = userops.datasets.shop(2_000, seed=1)
        >>> table = userops.repurchase(events, window_days=30)
        >>> table.column_names
        ['cohort', 'first_buyers', 'eligible', 'repurchased', 'rate', 'in_progress']
        >>> last = table.to_pylist()[-1]  # first purchases in the last month are still in progress
        >>> last["eligible"] == 0 and last["rate"] is None
        True
    """
    return _run.metric("repurchase", locals())


def next_month_repurchase(
    events: Any,
    *,
    revenue_event: str = "order",
    as_of: AsOf = None,
    columns: Mapping[str, str] | None = None,
    tz: str = "UTC",
    threads: int = 0,
    progress: Progress = None,
) -> pa.Table:
    """The next-month repurchase rate (次月复购率) of every month.

    For month M: ``paying`` = users with a purchase in M; ``repeat_next_month`` =
    those of them with a purchase in M+1; ``rate`` = repeat_next_month / paying.
    Months run from the first purchase month to the month of D. For the month of D,
    M+1 has not begun: ``repeat_next_month`` and ``rate`` are null. ``complete`` is
    False while M+1 has not ended by D.

    Parameters:
        events, as_of, columns, tz, threads, progress: see :func:`userops.rfm`.
        revenue_event: the event whose rows are purchases and refunds.

    Returns:
        ``month`` (date), ``paying``, ``repeat_next_month``, ``rate``, ``complete``.

    Example:
        >>> import userops
        >>> events = userops.datasets.shop(2_000, seed=1)
        >>> table = userops.next_month_repurchase(events, as_of="2024-06-30")
        >>> [str(m) for m in table.column("month").to_pylist()[-2:]]
        ['2024-05-01', '2024-06-01']
        >>> table.column("complete").to_pylist()[-2:], table.column("rate").to_pylist()[-1]
        ([True, False], None)
    """
    return _run.metric("next_month_repurchase", locals())
