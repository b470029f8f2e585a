"""Lifecycle (生命周期, SPEC §8) and operator tiers (用户分层, SPEC §11), from the
``userops-lifecycle`` crate.

The functions follow the pattern of :mod:`userops._rfm`: plugin parameters plus the
run options ``as_of``, ``columns``, ``tz``, ``threads``, ``progress`` (see
:func:`userops.rfm`). Instants given as ``at``, ``start`` or ``end`` take the same
forms as ``as_of``: a bare date means the end of that day in ``tz`` (SPEC §1).
"N days" is always elapsed time (``t2 - t1 <= N * 24 h``).

``lifecycle_stage`` and ``tiers`` are segmenters: their tables have ``user_id`` and
``segment`` columns, so they can be the ``breakdown`` of a metric, e.g.
``userops.analyze(events, {"stage": {"plugin": "lifecycle_stage"},
"lifecycle": {"breakdown": "stage"}})``. Every decision where SPEC.md is silent is
listed in ``docs/lifecycle.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, Callable, Literal, Union

import pyarrow as pa

from userops import _options, _run
from userops.errors import ParameterError

AsOf = Union[None, date, datetime, str, Any]
Progress = Union[bool, Callable[[int, int], object], None]
Rules = Union[Sequence[Sequence[str]], Mapping[str, str]]


def _instant(name: str, value: Any, tz: Any) -> int | None:
    """An ``at``/``start``/``end`` argument as microseconds UTC (None stays None)."""
    if value is None:
        return None
    try:
        return _options.as_of_micros(value, _options.tz_option(tz))
    except ParameterError as e:
        raise ParameterError(str(e).replace("as_of", name)) from None


def _rules(rules: Rules) -> list[list[str]]:
    """``rules`` as ``[[label, condition], ...]``, in order."""
    if isinstance(rules, Mapping):
        items = list(rules.items())
    elif isinstance(rules, (str, bytes)) or not isinstance(rules, Sequence):
        raise ParameterError(
            "tiers: rules must be a list of (label, condition) pairs or a dict {label: condition}, "
            f"not {type(rules).__name__}"
        )
    else:
        items = list(rules)
    out = []
    for i, rule in enumerate(items):
        if isinstance(rule, (str, bytes)) or not isinstance(rule, Sequence) or len(rule) != 2:
            raise ParameterError(f"tiers: rules[{i}] must be a (label, condition) pair, not {rule!r}")
        label, condition = rule
        if not isinstance(label, str) or not isinstance(condition, str):
            raise ParameterError(f"tiers: rules[{i}]: the label and the condition must be strings, not {rule!r}")
        out.append([label, condition])
    return out


def lifecycle(
    events: Any,
    *,
    period: Literal["day", "week", "month"] = "month",
    activity_events: Sequence[str] | None = None,
    as_of: AsOf = None,
    columns: Mapping[str, str] | None = None,
    tz: str = "UTC",
    threads: int = 0,
    progress: Progress = None,
) -> pa.Table:
    """Growth accounting per period (生命周期, SPEC §8).

    For every period from the first with activity to the period of D (the end of
    data), over the users active in it:

    - ``new``: first-ever activity in the period (a visit before signup counts);
    - ``returning``: active in the period and the one before, not new;
    - ``resurrecting``: active, not in the period before, active some time earlier;
    - ``dormant``: active in the period before, not in this one, as a negative count;
    - ``active`` = new + returning + resurrecting;
    - ``quick_ratio`` = (new + resurrecting) / |dormant|, null when dormant is 0;
    - ``complete``: false for a period whose last instant is after D (the period of
      D, whose dormant count is not final).

    Periods without any activity are listed (their users are only dormant).

    Parameters:
        events, as_of, columns, tz, threads, progress: see :func:`userops.rfm`.
        period: ``"day"``, ``"week"`` (ISO, Monday start) or ``"month"``, in ``tz``.
        activity_events: the event names that count as activity; None = any event.

    Returns:
        ``period`` (date: the period's first day), ``new``, ``returning``,
        ``resurrecting``, ``dormant``, ``active``, ``quick_ratio``, ``complete``.
        With a ``breakdown`` (through :func:`userops.analyze`), a leading
        ``segment`` column and every segment × every period.

    Example:
        >>> import userops
        >>> events = userops.datasets.shop(2_000, seed=1)
        >>> growth = userops.lifecycle(events, period="month", tz="Asia/Shanghai")
        >>> growth.column_names
        ['period', 'new', 'returning', 'resurrecting', 'dormant', 'active', 'quick_ratio', 'complete']
        >>> row = growth.to_pylist()[5]
        >>> row["active"] == row["new"] + row["returning"] + row["resurrecting"], row["dormant"] <= 0
        (True, True)
        >>> growth.column("complete").to_pylist()[-1]
        False
    """
    return _run.metric("lifecycle", locals())


def lifecycle_stage(
    events: Any,
    *,
    at: AsOf = None,
    new_days: int = 30,
    active_days: int = 30,
    churn_days: int = 90,
    activity_events: Sequence[str] | None = None,
    as_of: AsOf = None,
    columns: Mapping[str, str] | None = None,
    tz: str = "UTC",
    threads: int = 0,
    progress: Progress = None,
) -> pa.Table:
    """Each user's lifecycle stage as of an instant A (a segmenter, SPEC §8).

    Over activity at or before A, the first rule that holds:

    1. ``new``: first activity at most ``new_days`` before A;
    2. ``resurrected``: last activity at most ``active_days`` before A, and a gap
       between two consecutive activities longer than ``churn_days`` ends at most
       ``active_days`` before A;
    3. ``active``: last activity at most ``active_days`` before A;
    4. ``at_risk``: last activity at most ``churn_days`` before A;
    5. ``churned``: otherwise.

    Parameters:
        events, as_of, columns, tz, threads, progress: see :func:`userops.rfm`.
        at: the instant A; None = the end of data D. A date means the end of that
            day in ``tz``; a datetime or ISO string is an instant (naive = UTC).
        new_days, active_days, churn_days: the rule thresholds, in elapsed days.
        activity_events: the event names that count as activity; None = any event.

    Returns:
        One row per user with activity at or before A, sorted by user id:
        ``user_id``, ``stage``, ``first_seen`` and ``last_seen`` (timestamps shown
        in ``tz``), ``days_inactive`` = floor((A - last_seen) / 24 h), and
        ``segment`` (= ``stage``, so the table is a breakdown).

    Example:
        >>> import userops
        >>> events = userops.datasets.shop(2_000, seed=1)
        >>> stages = userops.lifecycle_stage(events, at="2024-10-31", tz="Asia/Shanghai")
        >>> stages.column_names
        ['user_id', 'stage', 'first_seen', 'last_seen', 'days_inactive', 'segment']
        >>> sorted(set(stages.column("stage").to_pylist()))
        ['active', 'at_risk', 'churned', 'new', 'resurrected']
    """
    args = dict(locals())
    args["at"] = _instant("at", at, tz)
    return _run.metric("lifecycle_stage", args)


def stage_transitions(
    events: Any,
    *,
    start: AsOf,
    end: AsOf,
    new_days: int = 30,
    active_days: int = 30,
    churn_days: int = 90,
    activity_events: Sequence[str] | None = None,
    as_of: AsOf = None,
    columns: Mapping[str, str] | None = None,
    tz: str = "UTC",
    threads: int = 0,
    progress: Progress = None,
) -> pa.Table:
    """How users moved between lifecycle stages from ``start`` (A1) to ``end`` (A2).

    Each user's stage at A1 and at A2 follows :func:`lifecycle_stage`; users with no
    activity by A1 (but some by A2) come from ``none``; users with no activity by A2
    are not counted.

    Parameters:
        events, as_of, columns, tz, threads, progress: see :func:`userops.rfm`.
        start, end: the instants A1 < A2 (a date means the end of that day in
            ``tz``); ``end=None`` means the end of data D.
        new_days, active_days, churn_days, activity_events: as for
            :func:`lifecycle_stage`.

    Returns:
        Every from-stage (``none``, ``new``, ``resurrected``, ``active``,
        ``at_risk``, ``churned``) × every to-stage (the five stages), 30 rows:
        ``from_stage``, ``to_stage``, ``users``, and ``share`` = users / all users
        of that from-stage (null when there are none).

    Example:
        >>> import userops
        >>> events = userops.datasets.shop(2_000, seed=1)
        >>> moves = userops.stage_transitions(events, start="2024-09-30", end="2024-10-31")
        >>> moves.num_rows, moves.column_names
        (30, ['from_stage', 'to_stage', 'users', 'share'])
        >>> row = moves.to_pylist()[0]
        >>> row["from_stage"], row["to_stage"], row["users"] > 0
        ('none', 'new', True)
    """
    args = dict(locals())
    args["start"] = _instant("start", start, tz)
    args["end"] = _instant("end", end, tz)
    if args["start"] is None:
        raise ParameterError("stage_transitions: start is required (a date, datetime or ISO string)")
    return _run.metric("stage_transitions", args)


def churn_warning(
    events: Any,
    *,
    threshold: float = 2.0,
    min_active_days: int = 3,
    revenue_event: str = "order",
    activity_events: Sequence[str] | None = None,
    as_of: AsOf = None,
    columns: Mapping[str, str] | None = None,
    tz: str = "UTC",
    threads: int = 0,
    progress: Progress = None,
) -> pa.Table:
    """Churn early warning (用户预警, SPEC §8): silence long for the user's own rhythm.

    Over each user's distinct active calendar days in ``tz``, for users with at least
    ``min_active_days`` of them: ``median_gap_days`` is the median difference between
    consecutive active days, ``days_inactive`` = date(D) - last active day,
    ``risk_ratio`` = days_inactive / median_gap_days, and ``flagged`` = risk_ratio >
    ``threshold``. ``revenue`` is the user's net revenue (purchases minus refunds).

    Parameters:
        events, as_of, columns, tz, threads, progress: see :func:`userops.rfm`.
        threshold: flag users whose risk ratio is strictly greater.
        min_active_days: users with fewer distinct active days are left out (>= 2).
        revenue_event: the event whose rows are purchases and refunds.
        activity_events: the event names that count as activity; None = any event.

    Returns:
        ``user_id``, ``days_inactive``, ``median_gap_days``, ``risk_ratio``,
        ``revenue``, ``flagged``; flagged users first, then by revenue descending,
        then by user id.

    Example:
        >>> import userops
        >>> events = userops.datasets.shop(2_000, seed=1)
        >>> warn = userops.churn_warning(events, threshold=3.0)
        >>> warn.column_names
        ['user_id', 'days_inactive', 'median_gap_days', 'risk_ratio', 'revenue', 'flagged']
        >>> top = warn.to_pylist()[0]
        >>> top["flagged"], top["risk_ratio"] > 3.0
        (True, True)
    """
    return _run.metric("churn_warning", locals())


def tiers(
    events: Any,
    rules: Rules,
    *,
    period_days: int | None = 7,
    default_tier: str = "other",
    revenue_event: str = "order",
    as_of: AsOf = None,
    columns: Mapping[str, str] | None = None,
    tz: str = "UTC",
    threads: int = 0,
    progress: Progress = None,
) -> pa.Table:
    """The operator's own tiers (a segmenter): the first rule that holds wins.

    Each user's features are computed over the window of the last ``period_days``
    before D (events with ``D - ts <= period_days * 24 h``; ``None`` = all events):

    - ``events``: events of any name; ``events.visit``: events named ``visit``;
    - ``amount.points``: the sum of the amounts of ``points`` events (null adds 0);
    - ``revenue``: net revenue of ``revenue_event`` (purchases minus refunds);
    - ``purchases``: purchases (``revenue_event`` rows with amount >= 0 or null);
    - ``active_days``: distinct calendar days (in ``tz``) with any event;
    - ``days_since_last``: whole days from the user's last event (any time) to D.

    A condition compares features and numbers with ``== != < <= > >=``, combines
    them with ``and``, ``or``, ``not`` and parentheses, and may use ``+ - * /``
    (e.g. ``"amount.earn - amount.redeem > 1000"``). Event names with other
    characters are quoted: ``events."add to cart"``. Conditions are checked when the
    call starts; an error names the rule and the bad part.

    Parameters:
        events, as_of, columns, tz, threads, progress: see :func:`userops.rfm`.
        rules: ordered ``(label, condition)`` pairs, or a dict ``{label: condition}``.
        period_days: the window in days before D; None for all time.
        default_tier: the tier of users no rule matches.
        revenue_event: the event whose rows are purchases and refunds.

    Returns:
        One row per user with an event at or before D, sorted by user id:
        ``user_id``, ``tier``, ``segment`` (= ``tier``, so the table is a breakdown).

    Example:
        >>> import userops
        >>> events = userops.datasets.shop(2_000, seed=1)
        >>> rules = [
        ...     ("buyers", "purchases >= 1"),
        ...     ("high activity, no spend", "events.visit >= 3 and revenue == 0"),
        ...     ("asleep", "days_since_last > 30"),
        ... ]
        >>> t = userops.tiers(events, rules, period_days=14)
        >>> t.column_names
        ['user_id', 'tier', 'segment']
        >>> sorted(set(t.column("tier").to_pylist()))
        ['asleep', 'buyers', 'high activity, no spend', 'other']
        >>> userops.tiers(events, [("x", "visits > 3")])
        Traceback (most recent call last):
        ...
        userops.ParameterError: plugin `tiers`: invalid parameter rules[0]: tier `x`: condition `visits > 3`: at `visits` (character 1): unknown feature; features: events, events.<name>, amount.<name>, revenue, purchases, active_days, days_since_last
    """
    args = dict(locals())
    args["rules"] = _rules(rules)
    return _run.metric("tiers", args)
