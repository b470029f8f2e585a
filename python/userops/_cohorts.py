"""Acquisition, paying conversion, activation, retention and LTV (拉新 · 付费转化 ·
促活 · 留存 · 生命周期价值, SPEC §2–§5), from the ``userops-aarrr`` crate.

Every function here follows the pattern of :mod:`userops._rfm`: its keyword
arguments are the plugin's parameters plus the run options ``as_of``, ``columns``,
``tz``, ``threads`` and ``progress`` (see :func:`userops.rfm`).

Rules shared by these cohort metrics (SPEC §1, §2):
- a user's acquisition is their first row whose event is in ``acquisition_events``
  (default ``("signup",)``), or their first row of any kind when it is None ("first
  seen"); a user without one is not acquired and is in no cohort;
- the acquisition channel is ``channel`` on that row (null: ``"(none)"``); when
  several acquisition rows share the first instant, the smallest non-null channel
  wins (then the smallest non-null ``referrer_id``), whatever the row order;
- a user's cohort is the period (day, ISO week, month in ``tz``) of acquisition; the
  ``cohort``/``period`` column is the period's first day (a date);
- D, the end of data, is ``as_of`` or the latest valid timestamp of any event; a
  window "N days after acquisition" is ``[a, a + N * 24 h]``; users acquired less
  than N days before D are ``in_progress``, left out of the rate;
- a period is ``complete`` when its last instant is at or before D; a cell whose
  period begins after D is null (not observed); a rate with a zero denominator is null;
- cohort tables list only cohorts with at least one acquired user.
"""

from __future__ import annotations

import datetime as _dt
import math
from collections.abc import Mapping, Sequence
from typing import Any, Callable, Literal, Union

import pyarrow as pa

from userops import _inputs, _run
from userops.errors import ParameterError

AsOf = Union[None, _dt.date, _dt.datetime, str, Any]
Progress = Union[bool, Callable[[int, int], object], None]
Period = Literal["day", "week", "month"]

#: The columns of a spend table.
SPEND_COLUMNS = ("channel", "period_start", "spend")


def _names(value: Sequence[str] | None, parameter: str) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise ParameterError(f"{parameter} must be a list of event names or None, not {value!r}")
    return list(value)


def _as_table(obj: Any, what: str) -> pa.Table:
    """A small table from any Arrow-exporting object, pandas, a dict of columns or a list of rows."""
    if isinstance(obj, pa.Table):
        return obj
    if isinstance(obj, pa.RecordBatch):
        return pa.Table.from_batches([obj])
    if isinstance(obj, pa.RecordBatchReader):
        return obj.read_all()
    if isinstance(obj, Mapping):
        return pa.table(dict(obj))
    if isinstance(obj, list):
        return pa.Table.from_pylist(obj)
    if _inputs.is_pandas(obj):
        return pa.Table.from_pandas(obj, preserve_index=False)
    if hasattr(obj, "__arrow_c_stream__") or hasattr(obj, "__arrow_c_array__"):
        return pa.table(obj)
    raise ParameterError(
        f"{what} must be a table (pyarrow, polars, pandas, DuckDB, a dict of columns or a list of rows), "
        f"not {type(obj).__name__}"
    )


def spend_rows(spend: Any) -> list[dict[str, Any]] | None:
    """The spend table as the plugins' ``spend`` parameter: a list of
    ``{"channel", "period_start", "spend"}`` rows, ``period_start`` as a
    ``"YYYY-MM-DD"`` date (a Date32/Date64 column: a local date in the run's zone)
    or microseconds UTC (a Timestamp column: naive means UTC)."""
    if spend is None:
        return None
    table = _as_table(spend, "spend")
    missing = [c for c in SPEND_COLUMNS if c not in table.column_names]
    if missing:
        raise ParameterError(
            f"spend: the spend table needs columns {', '.join(SPEND_COLUMNS)}; missing {', '.join(missing)} "
            f"(present: {', '.join(table.column_names)})"
        )
    channel = table.column("channel")
    if not any(check(channel.type) for check in (pa.types.is_string, pa.types.is_large_string,
                                                 pa.types.is_string_view, pa.types.is_dictionary, pa.types.is_null)):
        raise ParameterError(f"spend: column `channel` must hold strings, not {channel.type}")
    channels = channel.cast(pa.string()).to_pylist() if not pa.types.is_null(channel.type) else [None] * table.num_rows
    start = table.column("period_start")
    if pa.types.is_date(start.type):
        starts: list[Any] = [None if d is None else d.isoformat() for d in start.cast(pa.date32()).to_pylist()]
    elif pa.types.is_timestamp(start.type):
        starts = start.cast(pa.timestamp("us", tz=start.type.tz)).cast(pa.int64()).to_pylist()
    else:
        raise ParameterError(
            f"spend: column `period_start` must be a Date32, Date64 or Timestamp column, not {start.type}"
        )
    amounts = table.column("spend")
    if not any(check(amounts.type) for check in (pa.types.is_floating, pa.types.is_integer, pa.types.is_decimal,
                                                 pa.types.is_null)):
        raise ParameterError(f"spend: column `spend` must be numeric, not {amounts.type}")
    values = amounts.cast(pa.float64()).to_pylist() if not pa.types.is_null(amounts.type) else [None] * table.num_rows
    rows = []
    for i, (c, s, v) in enumerate(zip(channels, starts, values)):
        if s is None:
            raise ParameterError(f"spend: row {i} has a null period_start")
        if v is not None and not math.isfinite(v):
            raise ParameterError(f"spend: row {i} has a spend of {v}; spend must be a finite number (or null)")
        rows.append({"channel": c, "period_start": s, "spend": v})
    return rows


def acquisition(
    events: Any,
    *,
    period: Period = "month",
    acquisition_events: Sequence[str] | None = ("signup",),
    spend: Any = None,
    as_of: AsOf = None,
    columns: Mapping[str, str] | None = None,
    tz: str = "UTC",
    threads: int = 0,
    progress: Progress = None,
) -> pa.Table:
    """New users per period and channel, with spend and CAC (拉新 · 获客成本, SPEC §2).

    ``new_users`` counts users by the period of their acquisition and its channel.
    ``spend`` is a table with columns ``channel``, ``period_start`` (a date: a local
    date in ``tz``; or a timestamp) and ``spend``; each row is bucketed into the
    period containing ``period_start`` and summed exactly per (period, channel); a
    null ``channel`` is ``"(none)"``. CAC = spend / new users.

    Every (period, channel) with new users or a spend row is listed, sorted by period
    then channel: ``new_users`` is 0 where there is only spend, ``cac`` is null where
    new users are 0. Decisions where SPEC is silent: ``spend`` is null (and so
    ``cac``) for a (period, channel) without a spend row, not 0; spend rows of periods
    that begin after D are left out (not observed).

    Parameters:
        events, as_of, columns, tz, threads, progress: see :func:`userops.rfm`.
        period: ``"day"``, ``"week"`` (ISO, Monday start) or ``"month"``.
        acquisition_events: the events that acquire a user; None = first event of any kind.
        spend: channel spend (pyarrow / polars / pandas / DuckDB table, a dict of
            columns or a list of row dicts), or None.

    Returns:
        ``period`` (date), ``channel``, ``new_users``, ``spend``, ``cac``.

    Example:
        >>> import datetime as dt
        >>> import userops
        >>> events = userops.datasets.shop(2_000, seed=1)
        >>> spend = {"channel": ["ads", "ads"], "period_start": [dt.date(2024, 1, 1), dt.date(2024, 2, 1)],
        ...          "spend": [1500.0, 900.0]}
        >>> table = userops.acquisition(events, spend=spend)
        >>> table.column_names
        ['period', 'channel', 'new_users', 'spend', 'cac']
        >>> jan_ads = [r for r in table.to_pylist() if r["channel"] == "ads"][0]
        >>> jan_ads["period"], round(jan_ads["cac"] * jan_ads["new_users"], 6)
        (datetime.date(2024, 1, 1), 1500.0)
        >>> sum(table.column("new_users").to_pylist())  # every user signs up once
        2000
    """
    return _run.metric(
        "acquisition",
        {
            **locals(),
            "acquisition_events": _names(acquisition_events, "acquisition_events"),
            "spend": spend_rows(spend),
        },
    )


def paying_conversion(
    events: Any,
    *,
    period: Period = "month",
    window_days: int = 30,
    revenue_event: str = "order",
    acquisition_events: Sequence[str] | None = ("signup",),
    as_of: AsOf = None,
    columns: Mapping[str, str] | None = None,
    tz: str = "UTC",
    threads: int = 0,
    progress: Progress = None,
) -> pa.Table:
    """Paying conversion within N days of acquisition (付费转化, SPEC §2).

    A user converted when they have a purchase (a ``revenue_event`` row with amount
    >= 0 or null; refunds never count) at most ``window_days`` days after their
    acquisition. SPEC's "first purchase" is read with §1's window rule: the window is
    ``[a, a + N days]``, so a purchase before the acquisition never counts, and the
    user's first purchase at or after the acquisition decides. Users acquired less
    than N days before D are ``in_progress`` (left out of ``eligible`` and
    ``converted``, even if they already bought).

    Parameters:
        events, as_of, columns, tz, threads, progress: see :func:`userops.rfm`.
        period: the cohort period: ``"day"``, ``"week"`` or ``"month"``.
        window_days: the window N in days (0 = a purchase at the acquisition instant).
        revenue_event: the event whose rows are purchases and refunds.
        acquisition_events: the events that acquire a user; None = first event of any kind.

    Returns:
        One row per (cohort, channel) with new users, sorted: ``cohort`` (date),
        ``channel``, ``new_users`` (= eligible + in_progress), ``eligible``,
        ``converted``, ``rate`` (converted / eligible), ``in_progress``.

    Example:
        >>> import userops
        >>> events = userops.datasets.shop(2_000, seed=1)
        >>> table = userops.paying_conversion(events, window_days=30)
        >>> table.column_names
        ['cohort', 'channel', 'new_users', 'eligible', 'converted', 'rate', 'in_progress']
        >>> all(r["new_users"] == r["eligible"] + r["in_progress"] for r in table.to_pylist())
        True
        >>> table.to_pylist()[-1]["eligible"]  # December's users are all within 30 days of D
        0
    """
    return _run.metric(
        "paying_conversion",
        {
            **locals(),
            "acquisition_events": _names(acquisition_events, "acquisition_events"),
        },
    )


def activation(
    events: Any,
    *,
    period: Period = "month",
    window_days: int = 7,
    activation_event: str = "activate",
    acquisition_events: Sequence[str] | None = ("signup",),
    as_of: AsOf = None,
    columns: Mapping[str, str] | None = None,
    tz: str = "UTC",
    threads: int = 0,
    progress: Progress = None,
) -> pa.Table:
    """Activation rate and time to activate per cohort (促活, SPEC §3).

    A user activated when they have an ``activation_event`` row at most
    ``window_days`` days after acquisition; an activation before the acquisition never
    counts. Users acquired less than ``window_days`` days before D are
    ``in_progress``. ``median_hours`` and ``p90_hours`` (``quantile_cont``) are over
    the eligible users who activated, from the acquisition to their first activation
    at or after it.

    Parameters:
        events, as_of, columns, tz, threads, progress: see :func:`userops.rfm`.
        period: the cohort period: ``"day"``, ``"week"`` or ``"month"``.
        window_days: the activation window in days.
        activation_event: the event that marks activation.
        acquisition_events: the events that acquire a user; None = first event of any kind.

    Returns:
        One row per cohort: ``cohort`` (date), ``cohort_size``, ``eligible``,
        ``activated``, ``rate`` (activated / eligible), ``in_progress``,
        ``median_hours``, ``p90_hours``.

    Example:
        >>> import userops
        >>> events = userops.datasets.shop(2_000, seed=1)
        >>> table = userops.activation(events, window_days=7)
        >>> table.column_names
        ['cohort', 'cohort_size', 'eligible', 'activated', 'rate', 'in_progress', 'median_hours', 'p90_hours']
        >>> row = table.to_pylist()[0]
        >>> 0 < row["rate"] < 1 and row["median_hours"] <= row["p90_hours"] <= 7 * 24
        True
    """
    return _run.metric(
        "activation",
        {
            **locals(),
            "acquisition_events": _names(acquisition_events, "acquisition_events"),
        },
    )


def retention(
    events: Any,
    *,
    period: Period = "month",
    mode: Literal["calendar", "rolling"] = "calendar",
    kind: Literal["classic", "unbounded"] = "classic",
    acquisition_events: Sequence[str] | None = ("signup",),
    return_events: Sequence[str] | None = None,
    max_offset: int | None = None,
    breakdown: Any = None,
    as_of: AsOf = None,
    columns: Mapping[str, str] | None = None,
    tz: str = "UTC",
    threads: int = 0,
    progress: Progress = None,
) -> pa.Table:
    """Cohort retention (留存, SPEC §4), as a tidy table.

    Offset k is the k-th ``period`` after the cohort's (``mode="calendar"``), or the
    window ``[a + k*L, a + (k+1)*L)`` with L = 1, 7 or 30 days from the user's own
    acquisition ``a`` (``mode="rolling"``). ``kind="classic"``: retained at k when
    the user has a ``return_events`` row (default: any event) in offset k;
    ``"unbounded"``: in offset k or any later one. Activity before the acquisition
    is ignored, so with the default ``return_events`` offset 0 is 100%.

    Eligible users: the whole cohort once the offset's period has begun by D
    (calendar), or the users whose k-th window has begun by D (rolling). The table is
    rectangular, every cohort x every offset from 0 to the last observed one (over
    all cohorts; ``max_offset`` caps it); cells with no eligible user have null
    ``eligible``, ``retained`` and ``rate``. ``complete`` is false while the offset's
    period (rolling: any eligible user's window) ends after D.

    Parameters:
        events, as_of, columns, tz, threads, progress: see :func:`userops.rfm`.
        period: cohort period and offset unit: ``"day"``, ``"week"`` or ``"month"``.
        mode: ``"calendar"`` or ``"rolling"``.
        kind: ``"classic"`` or ``"unbounded"``.
        acquisition_events: the events that acquire a user; None = first event of any kind.
        return_events: the events that count as a return; None = any event.
        max_offset: the last offset listed; None = the last observed.
        breakdown: None; ``"channel"`` (the acquisition channel, a ``channel``
            column); or a segmenter's output, any table with ``user_id`` and
            ``segment`` columns, e.g. ``userops.rfm(events)`` (a ``segment`` column;
            cohort users missing from it form the null segment, listed last).

    Returns:
        ``cohort`` (date), ``offset``, ``cohort_size``, ``eligible``, ``retained``,
        ``rate``, ``complete`` (after a ``channel``/``segment`` column with a
        breakdown), sorted by group, cohort, offset. :func:`pivot_triangle` makes the
        classic triangle.

    Example:
        >>> import userops
        >>> events = userops.datasets.shop(2_000, seed=1)
        >>> table = userops.retention(events, period="month")
        >>> table.column_names
        ['cohort', 'offset', 'cohort_size', 'eligible', 'retained', 'rate', 'complete']
        >>> [r["rate"] for r in table.to_pylist() if r["offset"] == 0][:3]
        [1.0, 1.0, 1.0]
        >>> by_segment = userops.retention(events, breakdown=userops.rfm(events), max_offset=3)
        >>> by_segment.column_names[0], by_segment.column("segment").null_count > 0
        ('segment', True)
    """
    return _run.metric(
        "retention",
        {
            **locals(),
            "acquisition_events": _names(acquisition_events, "acquisition_events"),
            "return_events": _names(return_events, "return_events"),
        },
    )


def ltv(
    events: Any,
    *,
    period: Period = "month",
    spend: Any = None,
    max_offset: int | None = None,
    breakdown: Any = None,
    revenue_event: str = "order",
    acquisition_events: Sequence[str] | None = ("signup",),
    as_of: AsOf = None,
    columns: Mapping[str, str] | None = None,
    tz: str = "UTC",
    threads: int = 0,
    progress: Progress = None,
) -> pa.Table:
    """Cohort LTV by offset, with CAC, LTV:CAC and payback (生命周期价值, SPEC §5).

    ``cumulative_revenue`` at offset k is the net revenue (purchases minus refunds,
    exact) of the cohort's users from their acquisition through the end of the
    cohort's period + k; ``ltv`` = cumulative_revenue / cohort_size. Offsets are
    calendar periods and the rectangle is that of calendar :func:`retention`: a cell
    whose period begins after D is null. Revenue before a user's acquisition is left
    out (as activity before acquisition is ignored in retention).

    With ``spend`` (the table of :func:`acquisition`): ``cac`` = the spend of the
    cohort's period (of the row's channel with ``breakdown="channel"``; of all
    channels without a breakdown: a blended CAC) / cohort size, null without a spend
    row; ``ltv_to_cac`` = ltv / cac; ``paid_back`` = ltv >= cac. Spend with a
    segment breakdown is an error.

    Parameters:
        events, as_of, columns, tz, threads, progress: see :func:`userops.rfm`.
        period: cohort period and offset unit.
        spend: channel spend (see :func:`acquisition`), or None.
        max_offset: the last offset listed; None = the last observed.
        breakdown: None, ``"channel"``, or a segmenter's output (as in :func:`retention`).
        revenue_event: the event whose rows are purchases and refunds.
        acquisition_events: the events that acquire a user; None = first event of any kind.

    Returns:
        ``cohort``, ``offset``, ``cohort_size``, ``cumulative_revenue``, ``ltv``,
        ``complete`` (+ ``cac``, ``ltv_to_cac``, ``paid_back`` with spend; after a
        ``channel``/``segment`` column with a breakdown).

    Example:
        >>> import datetime as dt
        >>> import userops
        >>> events = userops.datasets.shop(2_000, seed=1)
        >>> spend = {"channel": ["ads"] * 12, "period_start": [dt.date(2024, m, 1) for m in range(1, 13)],
        ...          "spend": [2000.0] * 12}
        >>> table = userops.ltv(events, spend=spend, breakdown="channel")
        >>> table.column_names[:3], table.column_names[-3:]
        (['channel', 'cohort', 'offset'], ['cac', 'ltv_to_cac', 'paid_back'])
        >>> jan_ads = [r for r in table.to_pylist() if r["channel"] == "ads" and r["offset"] == 11][0]
        >>> jan_ads["ltv_to_cac"] > 0 and jan_ads["paid_back"] == (jan_ads["ltv"] >= jan_ads["cac"])
        True
    """
    return _run.metric(
        "ltv",
        {
            **locals(),
            "spend": spend_rows(spend),
            "acquisition_events": _names(acquisition_events, "acquisition_events"),
        },
    )


def pivot_triangle(table: pa.Table, values: str = "rate") -> pa.Table:
    """The classic cohort triangle of a tidy :func:`retention` or :func:`ltv` table.

    One row per cohort (per group and cohort with a breakdown), one column per offset
    named ``"0"``, ``"1"``, ...; cells hold ``values`` (null where not observed).

    Parameters:
        table: a table with ``cohort``, ``offset`` and ``values`` columns (and
            optionally ``channel`` or ``segment``).
        values: the column to spread: ``"rate"``, ``"retained"``, ``"ltv"``, ...

    Returns:
        ``[channel|segment,] cohort, cohort_size, "0", "1", ...``

    Example:
        >>> import userops
        >>> events = userops.datasets.shop(2_000, seed=1)
        >>> tri = userops.pivot_triangle(userops.retention(events), values="rate")
        >>> tri.column_names[:4]
        ['cohort', 'cohort_size', '0', '1']
        >>> tri.num_rows, tri.column("0").to_pylist()[:2]
        (12, [1.0, 1.0])
        >>> tri.column("11").null_count  # only January has reached offset 11
        11
    """
    for needed in ("cohort", "offset", values):
        if needed not in table.column_names:
            raise ParameterError(f"pivot_triangle: the table has no column `{needed}` (columns: {table.column_names})")
    keys = [c for c in ("channel", "segment") if c in table.column_names] + ["cohort"]
    extra = ["cohort_size"] if "cohort_size" in table.column_names else []
    rows = table.select(keys + extra + ["offset", values]).to_pylist()
    order: dict[tuple, dict[str, Any]] = {}
    offsets: set[int] = set()
    for r in rows:
        key = tuple(r[k] for k in keys)
        out = order.setdefault(key, {k: r[k] for k in keys + extra})
        out[str(r["offset"])] = r[values]
        offsets.add(r["offset"])
    names = [str(k) for k in sorted(offsets)]
    value_type = table.schema.field(values).type
    columns: dict[str, pa.Array] = {}
    for k in keys + extra:
        columns[k] = pa.array([o[k] for o in order.values()], table.schema.field(k).type)
    for n in names:
        columns[n] = pa.array([o.get(n) for o in order.values()], value_type)
    return pa.table(columns)
