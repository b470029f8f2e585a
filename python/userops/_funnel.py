"""Conversion funnels (转化漏斗, SPEC §6), from the ``userops-aarrr`` crate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, Callable, Literal, Union

import pyarrow as pa

from userops import _run
from userops.errors import ParameterError

AsOf = Union[None, date, datetime, str, Any]
Progress = Union[bool, Callable[[int, int], object], None]


def funnel(
    events: Any,
    steps: Sequence[str],
    *,
    window_days: int = 14,
    mode: Literal["ordered", "strict"] = "ordered",
    breakdown: Any = None,
    acquisition_events: Sequence[str] | None = ("signup",),
    as_of: AsOf = None,
    columns: Mapping[str, str] | None = None,
    tz: str = "UTC",
    threads: int = 0,
    progress: Progress = None,
) -> pa.Table:
    """How many users reach each step of an ordered sequence of events (转化漏斗).

    The population is every user with at least one row of ``steps[0]`` (no signup
    needed). For each such row as a start, the later steps are matched greedily: each
    step takes the earliest row of its event, not already used by an earlier step,
    with a timestamp >= the previous step's and at most ``window_days`` days (24 h
    each) after the start. A name may repeat (``["visit", "visit", "order"]`` needs
    two visit rows, possibly at the same instant). The user's path is the start that
    reaches the furthest step, ties to the earliest start.

    ``mode="strict"`` also requires that the user has no event of any kind strictly
    between two consecutive steps (events at the same instant as a step are not
    between).

    Ties in timestamps: rows with the same instant and event name are
    interchangeable, and a step only takes rows of its own event, so the result
    depends only on the (user, instant, event) rows, never on their order.

    Censoring: a user whose path has not reached the last step and whose best start
    is less than ``window_days`` before D (start + window > D) is in progress: left
    out of ``users`` and the conversions and times, and counted in ``in_progress`` at
    every step the path has reached so far. (As SPEC §6 says, this looks at the best
    start only: a user whose best start's window has closed is a drop-off even if a
    later start's window is still open.)

    Parameters:
        events, as_of, columns, tz, threads, progress: see :func:`userops.rfm`.
        steps: the step event names s1..sn (2 to 64).
        window_days: the conversion window W in days.
        mode: ``"ordered"`` or ``"strict"``.
        breakdown: None; ``"channel"`` for the user's acquisition channel (the
            channel of their first ``acquisition_events`` row, SPEC §2; users never
            acquired fall in the null group); or a segmenter's output (any table
            with ``user_id`` and ``segment`` columns, e.g. ``userops.rfm(events)``;
            users missing from it fall in the null group).
        acquisition_events: the events that acquire a user, for
            ``breakdown="channel"``; None = the first event of any kind.

    Returns:
        One row per step (per group with a breakdown, groups sorted by name, null
        last): [``channel`` or ``segment``], ``step`` (1-based), ``event``,
        ``users``, ``conversion_from_start`` (users / step-1 users),
        ``conversion_from_previous`` (null at step 1),
        ``median_seconds_from_previous`` and ``p90_seconds_from_previous``
        (``quantile_cont`` over the finished users' paths; null at step 1),
        ``in_progress``.

    Example:
        >>> import userops
        >>> events = userops.datasets.shop(2_000, seed=1)
        >>> f = userops.funnel(events, ["signup", "activate", "order"], window_days=14)
        >>> f.column("step").to_pylist(), f.column("event").to_pylist()
        ([1, 2, 3], ['signup', 'activate', 'order'])
        >>> users = f.column("users").to_pylist()
        >>> users[0] >= users[1] >= users[2]
        True
        >>> by_channel = userops.funnel(events, ["visit", "order"], breakdown="channel")
        >>> by_channel.column_names[:3]
        ['channel', 'step', 'event']
    """
    if isinstance(steps, str) or not isinstance(steps, Sequence):
        raise ParameterError(f"funnel: steps must be a list of event names, not {steps!r}")
    return _run.metric(
        "funnel",
        {
            **locals(),
            "steps": list(steps),
            "acquisition_events": None if acquisition_events is None else list(acquisition_events),
        },
    )
