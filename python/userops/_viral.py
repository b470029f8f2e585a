"""Referral and viral growth (裂变, SPEC §10), from the ``userops-viral`` crate.

Every function here follows the pattern of :mod:`userops._rfm`: its keyword
arguments are the plugin's parameters plus the run options ``as_of``, ``columns``,
``tz``, ``threads`` and ``progress`` (see :func:`userops.rfm`).

Rules shared by these functions (SPEC §2, §10):
- a user's acquisition is their first row whose event is in ``acquisition_events``
  (default ``("signup",)``; None = their first row of any kind); when several rows
  share that instant, the one with the smallest non-null ``channel`` is taken, then
  the smallest non-null ``referrer_id``, whatever the row order;
- a referral edge is ``referrer_id`` on that row (on later rows it is ignored). It is
  valid only when the referrer is an acquired user acquired strictly before the user;
  otherwise it is left out and listed by :func:`referral_issues` as
  ``self_referral``, ``unknown_referrer`` or ``referrer_not_earlier``. Valid edges form
  a forest, computed without recursion (a chain of a million referrals is fine), and
  raw ``referrer_id`` cycles are reported, never followed;
- a user whose own edge is left out counts as organic: generation 0, their own root;
- the ``referrer_id`` column must exist (same type as ``user_id``); ``channel`` and
  ``amount`` are read when present.

Every decision where SPEC.md is silent is listed in ``docs/viral.md``.

Example: users 1 → 2 → 3 form a chain; user 4 names themselves as referrer; user 5
has two signup rows at one instant, and the one with a referrer (9, who never signed
up) is taken. Every function's example uses this event log.

    >>> import datetime as dt
    >>> import pyarrow as pa
    >>> import userops
    >>> jan = lambda d: dt.datetime(2024, 1, d, tzinfo=dt.timezone.utc)
    >>> events = pa.table({
    ...     "user_id": [1, 1, 2, 3, 4, 5, 5, 3],
    ...     "ts": [jan(1), jan(2), jan(3), jan(5), jan(6), jan(7), jan(7), jan(20)],
    ...     "event": ["signup", "invite", "signup", "signup", "signup", "signup", "signup", "order"],
    ...     "amount": [None] * 7 + [25.0],
    ...     "referrer_id": [None, None, 1, 2, 4, 9, None, None],
    ... })
    >>> tree = userops.referral_tree(events)
    >>> tree.select(["user_id", "referrer_id", "generation", "descendants"]).to_pylist()[:3]
    [{'user_id': 1, 'referrer_id': None, 'generation': 0, 'descendants': 2}, {'user_id': 2, 'referrer_id': 1, 'generation': 1, 'descendants': 1}, {'user_id': 3, 'referrer_id': 2, 'generation': 2, 'descendants': 0}]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any, Callable, Literal, Union

import pyarrow as pa

from userops import _run
from userops.errors import ParameterError

AsOf = Union[None, date, datetime, str, Any]
Progress = Union[bool, Callable[[int, int], object], None]
Period = Literal["day", "week", "month"]


def _metric(name: str, args: dict[str, Any]) -> pa.Table:
    """Runs plugin ``name`` with the caller's ``locals()``, ``acquisition_events`` as a list."""
    value = args["acquisition_events"]
    if isinstance(value, str):
        value = [value]
    elif value is not None:
        if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
            raise ParameterError(f"acquisition_events must be a list of event names or None, not {value!r}")
        value = list(value)
    return _run.metric(name, {**args, "acquisition_events": value})


def viral(
    events: Any,
    *,
    period: Period = "month",
    window_days: int = 30,
    acquisition_events: Sequence[str] | None = ("signup",),
    invite_event: str = "invite",
    as_of: AsOf = None,
    columns: Mapping[str, str] | None = None,
    tz: str = "UTC",
    threads: int = 0,
    progress: Progress = None,
) -> pa.Table:
    """K-factor, invites and referral share per cohort (裂变, SPEC §10).

    A cohort is the period of acquisition. Its users acquired at least ``window_days``
    (W) before D (the end of data) are ``eligible``; the rest are ``in_progress``, left
    out of every rate. Over the eligible users:

    - ``referred``: users they referred through a valid edge who were acquired at most
      W days after their referrer;
    - ``invites``: their ``invite_event`` rows in ``[acquisition, acquisition + W]``;
      ``invites_per_user = invites / eligible``; ``invite_conversion = referred / invites``;
    - ``k_factor = invites_per_user × invite_conversion`` when the data has invite
      events and the cohort has at least one; otherwise ``referred / eligible``.

    The invite columns are null when the data has no invite event at all.
    ``new_users`` are the period's acquired users (the cohort size: a cohort is its
    users' acquisition period) and ``referral_share`` is the share of them who arrived
    through a valid edge. Rates with a zero denominator are null.

    Parameters:
        events, as_of, columns, tz, threads, progress: see :func:`userops.rfm`.
        period: ``"day"``, ``"week"`` (ISO, Monday start) or ``"month"``.
        window_days: W, 0 to 3650; elapsed time (``t2 - t1 <= W * 24 h``).
        acquisition_events: the events that acquire a user; None = first event of any kind.
        invite_event: the event name of an invitation sent.

    Returns:
        One row per cohort with at least one acquired user, by cohort: ``cohort``
        (date), ``cohort_size``, ``eligible``, ``in_progress``, ``referred``,
        ``k_factor``, ``invites``, ``invites_per_user``, ``invite_conversion``,
        ``new_users``, ``referral_share``.

    Example:
        >>> import datetime as dt
        >>> import pyarrow as pa
        >>> import userops
        >>> jan = lambda d: dt.datetime(2024, 1, d, tzinfo=dt.timezone.utc)
        >>> events = pa.table({
        ...     "user_id": [1, 1, 2, 3, 4, 5, 5, 3],
        ...     "ts": [jan(1), jan(2), jan(3), jan(5), jan(6), jan(7), jan(7), jan(20)],
        ...     "event": ["signup", "invite", "signup", "signup", "signup", "signup", "signup", "order"],
        ...     "amount": [None] * 7 + [25.0],
        ...     "referrer_id": [None, None, 1, 2, 4, 9, None, None],
        ... })

        With this log (D = 2024-01-20, the last event) and W = 18 days, user
        1 (acquired 2024-01-01) is the only eligible user; they sent one invite and
        referred user 2 two days later, so K = 1 invite per user × 1 referral per invite:

        >>> row = userops.viral(events, window_days=18).to_pylist()[0]
        >>> row["cohort"], row["cohort_size"], row["eligible"], row["in_progress"]
        (datetime.date(2024, 1, 1), 5, 1, 4)
        >>> row["referred"], row["invites"], row["invite_conversion"], row["k_factor"]
        (1, 1, 1.0, 1.0)
        >>> row["referral_share"]  # users 2 and 3 of 5; user 5's referrer 9 never signed up
        0.4
    """
    return _metric("viral", locals())


def viral_cycle(
    events: Any,
    *,
    period: Period | None = None,
    acquisition_events: Sequence[str] | None = ("signup",),
    as_of: AsOf = None,
    columns: Mapping[str, str] | None = None,
    tz: str = "UTC",
    threads: int = 0,
    progress: Progress = None,
) -> pa.Table:
    """Viral cycle time: hours from the referrer's acquisition to the referred user's.

    Median and p90 (linear interpolation, as DuckDB ``quantile_cont``) over every valid
    edge; with a ``period``, grouped by the referred user's acquisition period.

    Parameters:
        events, as_of, columns, tz, threads, progress: see :func:`userops.rfm`.
        period: None (one overall row, with a null ``period``), or ``"day"``,
            ``"week"``, ``"month"``.
        acquisition_events: the events that acquire a user; None = first event of any kind.

    Returns:
        ``period`` (date, null for the overall row), ``edges``, ``median_hours``,
        ``p90_hours``. By period: one row per period with at least one acquired user,
        by period (``edges`` 0 and null hours where none arrived through a valid edge).

    Example:
        >>> import datetime as dt
        >>> import pyarrow as pa
        >>> import userops
        >>> jan = lambda d: dt.datetime(2024, 1, d, tzinfo=dt.timezone.utc)
        >>> events = pa.table({
        ...     "user_id": [1, 1, 2, 3, 4, 5, 5, 3],
        ...     "ts": [jan(1), jan(2), jan(3), jan(5), jan(6), jan(7), jan(7), jan(20)],
        ...     "event": ["signup", "invite", "signup", "signup", "signup", "signup", "signup", "order"],
        ...     "amount": [None] * 7 + [25.0],
        ...     "referrer_id": [None, None, 1, 2, 4, 9, None, None],
        ... })

        Valid edges: 1 → 2 after 48 h, 2 → 3 after 48 h:

        >>> userops.viral_cycle(events).to_pylist()
        [{'period': None, 'edges': 2, 'median_hours': 48.0, 'p90_hours': 48.0}]
        >>> userops.viral_cycle(events, period="day").column("edges").to_pylist()
        [0, 1, 1, 0, 0]
    """
    return _metric("viral_cycle", locals())


def referral_tree(
    events: Any,
    *,
    revenue_event: str = "order",
    acquisition_events: Sequence[str] | None = ("signup",),
    as_of: AsOf = None,
    columns: Mapping[str, str] | None = None,
    tz: str = "UTC",
    threads: int = 0,
    progress: Progress = None,
) -> pa.Table:
    """The referral forest: one row per acquired user (SPEC §10).

    Parameters:
        events, as_of, columns, tz, threads, progress: see :func:`userops.rfm`.
        revenue_event: the event whose rows are purchases and refunds; a user's net
            revenue (all their rows up to D) adds to each ancestor's ``descendant_revenue``.
        acquisition_events: the events that acquire a user; None = first event of any kind.

    Returns:
        By user id: ``user_id``; ``referrer_id`` (the valid referrer, null for organic
        users and for users whose edge was left out); ``generation`` (0 = organic);
        ``root_id`` (the generation-0 user of the tree, the user itself for a root);
        ``direct_referrals``; ``descendants`` (everyone below: for a root, its cascade
        size); ``descendant_revenue`` (their net revenue); ``max_depth`` (generations
        below the user: for a root, the depth of its cascade).

    Example:
        >>> import datetime as dt
        >>> import pyarrow as pa
        >>> import userops
        >>> jan = lambda d: dt.datetime(2024, 1, d, tzinfo=dt.timezone.utc)
        >>> events = pa.table({
        ...     "user_id": [1, 1, 2, 3, 4, 5, 5, 3],
        ...     "ts": [jan(1), jan(2), jan(3), jan(5), jan(6), jan(7), jan(7), jan(20)],
        ...     "event": ["signup", "invite", "signup", "signup", "signup", "signup", "signup", "order"],
        ...     "amount": [None] * 7 + [25.0],
        ...     "referrer_id": [None, None, 1, 2, 4, 9, None, None],
        ... })
        >>> tree = userops.referral_tree(events)
        >>> tree.select(["user_id", "root_id", "descendant_revenue", "max_depth"]).to_pylist()[0]
        {'user_id': 1, 'root_id': 1, 'descendant_revenue': 25.0, 'max_depth': 2}
        >>> tree.column("generation").to_pylist()  # users 4 (self-referral) and 5 are roots
        [0, 1, 2, 0, 0]
    """
    return _metric("referral_tree", locals())


def top_referrers(
    events: Any,
    *,
    by: Literal["direct_referrals", "descendants", "descendant_revenue"] = "descendants",
    n: int = 20,
    revenue_event: str = "order",
    acquisition_events: Sequence[str] | None = ("signup",),
    as_of: AsOf = None,
    columns: Mapping[str, str] | None = None,
    tz: str = "UTC",
    threads: int = 0,
    progress: Progress = None,
) -> pa.Table:
    """The top ``n`` referrers by direct referrals, descendants or their revenue.

    Only users with at least one valid direct referral are ranked, highest first, ties
    by user id ascending.

    Parameters:
        events, as_of, columns, tz, threads, progress: see :func:`userops.rfm`.
        by: ``"direct_referrals"``, ``"descendants"`` or ``"descendant_revenue"``.
        n: how many referrers, at least 1.
        revenue_event: the event whose rows are purchases and refunds.
        acquisition_events: the events that acquire a user; None = first event of any kind.

    Returns:
        The columns of :func:`referral_tree`, at most ``n`` rows.

    Example:
        >>> import datetime as dt
        >>> import pyarrow as pa
        >>> import userops
        >>> jan = lambda d: dt.datetime(2024, 1, d, tzinfo=dt.timezone.utc)
        >>> events = pa.table({
        ...     "user_id": [1, 1, 2, 3, 4, 5, 5, 3],
        ...     "ts": [jan(1), jan(2), jan(3), jan(5), jan(6), jan(7), jan(7), jan(20)],
        ...     "event": ["signup", "invite", "signup", "signup", "signup", "signup", "signup", "order"],
        ...     "amount": [None] * 7 + [25.0],
        ...     "referrer_id": [None, None, 1, 2, 4, 9, None, None],
        ... })
        >>> top = userops.top_referrers(events, by="descendants", n=5)
        >>> top.select(["user_id", "descendants"]).to_pylist()
        [{'user_id': 1, 'descendants': 2}, {'user_id': 2, 'descendants': 1}]
    """
    return _metric("top_referrers", locals())


def referral_issues(
    events: Any,
    *,
    acquisition_events: Sequence[str] | None = ("signup",),
    as_of: AsOf = None,
    columns: Mapping[str, str] | None = None,
    tz: str = "UTC",
    threads: int = 0,
    progress: Progress = None,
) -> pa.Table:
    """Every referral edge left out, and why: nothing is dropped silently.

    ``issue`` is ``self_referral`` (the user named themselves), ``unknown_referrer``
    (the referrer was never acquired) or ``referrer_not_earlier`` (the referrer was
    acquired at the same instant as the user or later, which includes every edge of a
    raw ``referrer_id`` cycle that closes it).

    Parameters:
        events, as_of, columns, tz, threads, progress: see :func:`userops.rfm`.
        acquisition_events: the events that acquire a user; None = first event of any kind.

    Returns:
        ``user_id``, ``referrer_id``, ``issue``, one row per acquired user whose
        acquisition row names a referrer that is not valid, by user id.

    Example:
        >>> import datetime as dt
        >>> import pyarrow as pa
        >>> import userops
        >>> jan = lambda d: dt.datetime(2024, 1, d, tzinfo=dt.timezone.utc)
        >>> events = pa.table({
        ...     "user_id": [1, 1, 2, 3, 4, 5, 5, 3],
        ...     "ts": [jan(1), jan(2), jan(3), jan(5), jan(6), jan(7), jan(7), jan(20)],
        ...     "event": ["signup", "invite", "signup", "signup", "signup", "signup", "signup", "order"],
        ...     "amount": [None] * 7 + [25.0],
        ...     "referrer_id": [None, None, 1, 2, 4, 9, None, None],
        ... })
        >>> userops.referral_issues(events).to_pylist()
        [{'user_id': 4, 'referrer_id': 4, 'issue': 'self_referral'}, {'user_id': 5, 'referrer_id': 9, 'issue': 'unknown_referrer'}]
    """
    return _metric("referral_issues", locals())


def acquired_via(
    events: Any,
    *,
    acquisition_events: Sequence[str] | None = ("signup",),
    as_of: AsOf = None,
    columns: Mapping[str, str] | None = None,
    tz: str = "UTC",
    threads: int = 0,
    progress: Progress = None,
) -> pa.Table:
    """Segmenter: ``referred`` or ``organic`` per acquired user.

    ``referred`` when the user's own acquisition edge is valid, ``organic`` otherwise
    (including users whose edge was left out). Users never acquired are not listed.
    The table can be the ``breakdown`` of any metric that takes one, e.g. retention of
    referred versus organic users.

    Parameters:
        events, as_of, columns, tz, threads, progress: see :func:`userops.rfm`.
        acquisition_events: the events that acquire a user; None = first event of any kind.

    Returns:
        ``user_id``, ``segment``, by user id.

    Example:
        >>> import datetime as dt
        >>> import pyarrow as pa
        >>> import userops
        >>> jan = lambda d: dt.datetime(2024, 1, d, tzinfo=dt.timezone.utc)
        >>> events = pa.table({
        ...     "user_id": [1, 1, 2, 3, 4, 5, 5, 3],
        ...     "ts": [jan(1), jan(2), jan(3), jan(5), jan(6), jan(7), jan(7), jan(20)],
        ...     "event": ["signup", "invite", "signup", "signup", "signup", "signup", "signup", "order"],
        ...     "amount": [None] * 7 + [25.0],
        ...     "referrer_id": [None, None, 1, 2, 4, 9, None, None],
        ... })
        >>> userops.acquired_via(events).column("segment").to_pylist()
        ['organic', 'referred', 'referred', 'organic', 'organic']
        >>> shop = userops.datasets.shop(2_000, seed=1)
        >>> by_via = userops.retention(shop, breakdown=userops.acquired_via(shop), max_offset=2)
        >>> sorted(set(by_via.column("segment").to_pylist()))
        ['organic', 'referred']
    """
    return _metric("acquired_via", locals())
