"""Revenue, repurchase, next-month repurchase, active users, stickiness (DuckDB SQL)
and the funnel (plain Python) against userops.

The references are written from SPEC.md (§1 input rules, §5 revenue and repurchase,
§6 funnel, §7 active users), not from the Rust code. Integers and dates are compared
exactly, floats within a relative 1e-9, nulls by position.

Reference definitions, in one place:
- valid rows: user_id and ts not null, and ts <= as_of when as_of is given; D = as_of,
  or max(ts) over valid rows of any event; a bare date as_of is the last microsecond
  of that day in the time zone;
- local time = the instant in the run's time zone (DuckDB ICU ``timezone()``); a period
  is date_trunc('day' | 'week' (ISO Monday) | 'month') of local time; a period is
  complete when the instant its successor begins, minus 1 µs, is <= D;
- purchase: a revenue-event row with amount >= 0 or null; refund: amount < 0; money in
  micro-units round(amount * 1e6);
- revenue per period: net revenue, distinct users with any event, distinct users with
  a purchase, and the three ratios; periods from the first with an event to period(D);
- repurchase: per user the first and second purchase rows in time order; cohort =
  period of the first; in progress when D - first < window; repurchased when second -
  first <= window; cohorts from the first to period(D);
- next-month: |paying(M) ∩ paying(M+1)| / |paying(M)|; months from the first purchase
  month to month(D); null when M+1 begins after D; complete when M+1 has ended by D;
- active users: distinct users per period; stickiness: the sum of DAU over the
  month's days up to date(D), divided by that number of days, over MAU;
- funnel: a direct transcription of SPEC §6 in Python (every s1 row is tried as a
  start, steps matched by scanning rows, strictness checked against every row).
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest

import userops
from _reference import (
    as_of_micros,
    assert_tables_close,
    cached_datasets,
    close,
    events,
    quiet,
    shop,
    shuffled_chunks,
    utc,
)

# Some hand-made tables have null keys and events on purpose: their warning is expected.
pytestmark = pytest.mark.filterwarnings("ignore::userops.UserOpsWarning")

UTC = dt.timezone.utc
DAY_US = 86_400_000_000
#: The absolute float tolerance of the comparisons here (the relative one is 1e-9).
ABS_TOL = 1e-12
EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)

# --------------------------------------------------------------------------------------
# Input tables
# --------------------------------------------------------------------------------------


# Revenue: refunds (in another period than the purchase, refund-only users, a refund
# that nets a period negative), null and zero amounts, null keys, a null event.
REVENUE_ROWS = [
    (1, utc(2024, 1, 3, 10), "order", 100.0),
    (1, utc(2024, 2, 2, 10), "order", -100.0),  # refund next month: February nets negative
    (2, utc(2024, 1, 31, 15, 59, 59), "order", 20.5),  # Jan 31 23:59:59 in Shanghai
    (2, utc(2024, 1, 31, 16, 0, 0), "order", 0.0),  # Feb 1 00:00 in Shanghai; a zero amount is a purchase
    (3, utc(2024, 1, 20), "order", None),  # a null amount is a purchase adding nothing
    (4, utc(2024, 2, 5), "order", -5.0),  # only a refund: active, not paying
    (5, utc(2024, 2, 6), "visit", None),
    (5, utc(2024, 2, 6), None, 50.0),  # a null event: activity, not revenue
    (6, utc(2024, 3, 31, 23), "order", 0.1),
    (6, utc(2024, 3, 31, 23), "order", 0.2),
    (None, utc(2024, 5, 1), "order", 999.0),  # null user: left out (would move D)
    (7, None, "order", 999.0),  # null ts: left out
    (8, utc(2024, 4, 1, 1), "visit", None),
    (9, utc(2023, 12, 31, 17), "signup", None),  # 2024-01-01 01:00 in Shanghai
]

# Repurchase: censoring at exactly 30 days before D, ties, refunds between purchases.
D_REP = utc(2024, 6, 30, 12)
REPURCHASE_ROWS = [
    (1, utc(2024, 1, 1), "order", 10.0), (1, utc(2024, 1, 31), "order", 10.0),  # exactly 30 days: counts
    (2, utc(2024, 1, 1), "order", 10.0), (2, utc(2024, 1, 31, 0, 0, 1), "order", 10.0),  # 30 d + 1 s: no
    (3, utc(2024, 1, 5), "order", 10.0), (3, utc(2024, 1, 5), "order", 10.0),  # two at one instant
    (4, utc(2024, 1, 5), "order", 10.0), (4, utc(2024, 1, 6), "order", -10.0),  # a refund is not a second purchase
    (5, utc(2024, 1, 10), "order", -3.0), (5, utc(2024, 2, 1), "order", 8.0),  # first purchase after a refund
    (6, utc(2024, 1, 31, 20), "order", None),  # Feb 1 in Shanghai
    (6, utc(2024, 2, 20), "order", 1.0),
    (7, D_REP - dt.timedelta(days=30), "order", 5.0),  # exactly 30 days before D: eligible
    (8, D_REP - dt.timedelta(days=30) + dt.timedelta(microseconds=1), "order", 5.0),  # in progress
    (8, D_REP - dt.timedelta(days=1), "order", 5.0),  # already repurchased, still in progress
    (9, utc(2024, 4, 10), "order", 5.0), (9, utc(2024, 4, 10), "order", 5.0), (9, utc(2024, 4, 11), "order", 5.0),
    (10, utc(2024, 3, 1), "visit", None),
    (11, D_REP, "visit", None),  # sets D
    (12, utc(2024, 2, 29, 16, 30), "order", 2.0), (12, utc(2024, 3, 30, 16, 30), "order", 2.0),
]

# Next-month: consecutive and gapped months, refunds only, month boundaries in Shanghai.
NEXT_MONTH_ROWS = [
    (1, utc(2024, 1, 10), "order", 5.0), (1, utc(2024, 2, 10), "order", 5.0), (1, utc(2024, 3, 10), "order", 5.0),
    (2, utc(2024, 1, 10), "order", 5.0), (2, utc(2024, 3, 10), "order", 5.0),  # a gap in February
    (3, utc(2024, 1, 31, 17), "order", 5.0),  # February in Shanghai, January in UTC
    (3, utc(2024, 2, 28), "order", 5.0),
    (4, utc(2024, 2, 3), "order", -5.0), (4, utc(2024, 3, 3), "order", 5.0),  # a refund is not paying
    (5, utc(2024, 4, 30, 18), "order", None),  # May in Shanghai
    (5, utc(2024, 5, 2), "order", 1.0),
    (6, utc(2024, 5, 15), "visit", None),
]

# Active users and stickiness: midnight in Shanghai, idle days and an idle month.
ACTIVITY_ROWS = [
    (1, utc(2024, 1, 1, 15, 59), "visit", None),  # Jan 1 23:59 Shanghai
    (1, utc(2024, 1, 1, 16, 0), "visit", None),  # Jan 2 00:00 Shanghai
    (2, utc(2024, 1, 1, 16, 0), "order", 3.0),
    (2, utc(2024, 1, 7, 23), "visit", None),  # Sunday in UTC, Monday in Shanghai
    (3, utc(2024, 1, 31, 20), "visit", None),
    (3, utc(2024, 3, 2), "visit", None),  # nobody in February (UTC)
    (4, utc(2024, 3, 2), "signup", None),
    (4, utc(2024, 3, 2), "visit", None),
    (None, utc(2024, 3, 20), "visit", None),
    (5, utc(2024, 3, 5, 12), "invite", None),
]

# Funnel hard cases. Steps used below: ["visit", "cart", "order"], ["visit", "visit",
# "order"], ["signup", "visit", "order"].
F0 = utc(2024, 1, 1)


def at(day: float, second: float = 0) -> dt.datetime:
    return F0 + dt.timedelta(days=day, seconds=second)


FUNNEL_ROWS = [
    # 1: the full path, with a non-step event in between (breaks strict mode).
    (1, at(0), "visit", None, "ads"), (1, at(0, 10), "help", None), (1, at(0, 20), "cart", None),
    (1, at(0, 30), "order", 5.0), (1, at(-1), "signup", None, "ads"),
    # 2: ties: every step at one instant; three visit rows at one instant.
    (2, at(1), "visit", None), (2, at(1), "visit", None), (2, at(1), "cart", None), (2, at(1), "order", 1.0),
    (2, at(1), "visit", None), (2, at(0.5), "signup", None, None),
    # 3: never reaches step 1 (cart and order only).
    (3, at(2), "cart", None), (3, at(2, 5), "order", 1.0),
    # 4: the first start fails the window, a later start converts.
    (4, at(1), "visit", None), (4, at(20), "visit", None), (4, at(20, 60), "cart", None), (4, at(22), "order", 1.0),
    (4, at(0), "signup", None, "social"), (4, at(0), "signup", None, "ads"),  # ties: the smaller channel wins
    # 5: steps out of order: cart before visit.
    (5, at(3), "cart", None), (5, at(3, 1), "visit", None), (5, at(3, 2), "order", 1.0),
    # 6: near the end of data: window still open, not converted (in progress).
    (6, at(59), "visit", None), (6, at(59, 30), "cart", None),
    # 7: near the end of data but converted: counted.
    (7, at(58), "visit", None), (7, at(58, 1), "cart", None), (7, at(58, 2), "order", 1.0),
    # 8: a closed window, dropped at step 2; a later start still open but only step 1.
    (8, at(10), "visit", None), (8, at(10, 5), "cart", None), (8, at(55), "visit", None),
    # 9: order exactly at the window's end (14 days), and the strict path via ties.
    (9, at(30), "visit", None), (9, at(30), "cart", None), (9, at(44), "order", 1.0),
    # 10: repeated visits for ["visit", "visit", "order"], one visit only for user 11.
    (10, at(5), "visit", None), (10, at(6), "visit", None), (10, at(6, 1), "order", 1.0),
    (11, at(5), "visit", None), (11, at(5, 1), "order", 1.0),
    # 12: a null event between steps (any event breaks strict mode), signup channel null.
    (12, at(7), "visit", None), (12, at(7, 1), None, None), (12, at(7, 2), "cart", None), (12, at(7, 3), "order", 1.0),
    (12, at(6), "signup", None, None),
    # D
    (13, at(60), "visit", None),
]


def random_events(seed: int, users: int = 60, rows: int = 2500) -> pa.Table:
    """Small random logs with heavy ties (few instants), refunds and a channel."""
    rng = np.random.default_rng(seed)
    user = rng.integers(1, users + 1, rows)
    day = rng.integers(0, 70, rows)
    hour = rng.choice([0, 15, 16, 23], rows)
    minute = rng.choice([0, 0, 30, 59], rows)
    ts = (
        np.datetime64("2024-01-01T00:00", "us")
        + day.astype("timedelta64[D]")
        + hour.astype("timedelta64[h]")
        + minute.astype("timedelta64[m]")
    )
    name = rng.choice(["order", "visit", "visit", "cart", "signup", "help"], rows)
    amount = rng.choice([0.0, 1.5, 10.0, -5.0, np.nan], rows)
    amount = np.where(name == "order", amount, np.nan)
    channel = np.where(name == "signup", rng.choice(["ads", "seo", "zz"], rows), None)
    return pa.table(
        {
            "user_id": pa.array(user, pa.int64()),
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
            "event": pa.array(name).dictionary_encode(),
            "amount": pa.array(amount, pa.float64(), from_pandas=True),
            "channel": pa.array(channel, pa.string()),
        }
    )


DATASETS: dict[str, Any] = {
    "revenue_rows": lambda: events(REVENUE_ROWS),
    "repurchase_rows": lambda: events(REPURCHASE_ROWS),
    "next_month_rows": lambda: events(NEXT_MONTH_ROWS),
    "activity_rows": lambda: events(ACTIVITY_ROWS),
    "funnel_rows": lambda: events(FUNNEL_ROWS, channel=True),
    "string_ids": lambda: events([(f"u{r[0]}" if r[0] is not None else None, *r[1:]) for r in REVENUE_ROWS], user_type=pa.string()),
    "naive_us": lambda: events(REPURCHASE_ROWS).set_column(1, "ts", events(REPURCHASE_ROWS).column("ts").cast(pa.timestamp("us"))),
    "naive_ms": lambda: events(NEXT_MONTH_ROWS).set_column(1, "ts", events(NEXT_MONTH_ROWS).column("ts").cast(pa.timestamp("ms"))),
    "empty": lambda: events([]),
    "random_1": lambda: random_events(1),
    "random_2": lambda: random_events(2, users=15, rows=900),
    "shop_1": lambda: shop(3000, 1),
    "shop_5_shuffled": lambda: shuffled_chunks(shop(2000, 5), seed=5, rows=3000),
}

HAND = ["revenue_rows", "repurchase_rows", "next_month_rows", "activity_rows", "funnel_rows", "string_ids", "naive_us", "naive_ms"]
GENERATED = ["random_1", "random_2", "shop_1", "shop_5_shuffled"]
ALL = HAND + GENERATED + ["empty"]

# (tz, as_of) combinations: UTC and Shanghai, no as_of, a bare date, an instant.
OPTIONS = [
    ("UTC", None),
    ("Asia/Shanghai", None),
    ("Asia/Shanghai", dt.date(2024, 3, 31)),
    ("UTC", utc(2024, 2, 15, 7, 30)),
    ("America/New_York", dt.date(2024, 11, 3)),
]


dataset = cached_datasets(DATASETS)


# --------------------------------------------------------------------------------------
# The DuckDB reference
# --------------------------------------------------------------------------------------


class Reference:
    """SPEC §5 and §7 in DuckDB SQL over one Arrow table."""

    def __init__(self, table: pa.Table, tz: str, as_of_us: int | None):
        self.con = duckdb.connect()
        self.con.execute("SET threads = 1")
        self.con.execute("SET TimeZone = 'UTC'")  # a naive timestamp is a UTC instant
        self.con.register("events_in", table)
        self.tz = tz.replace("'", "")
        as_of_sql = "NULL" if as_of_us is None else str(int(as_of_us))
        self.con.execute(
            f"""
            CREATE TEMP TABLE valid AS
            SELECT user_id, epoch_us(CAST(ts AS TIMESTAMPTZ)) AS t,
                   timezone('{self.tz}', CAST(ts AS TIMESTAMPTZ)) AS local,
                   CAST(event AS VARCHAR) AS event, amount,
                   CAST(round(amount * 1000000) AS HUGEINT) AS micros
            FROM events_in
            WHERE user_id IS NOT NULL AND ts IS NOT NULL
              AND ({as_of_sql} IS NULL OR epoch_us(CAST(ts AS TIMESTAMPTZ)) <= {as_of_sql});
            CREATE TEMP TABLE d AS
            SELECT d, timezone('{self.tz}', make_timestamptz(d)) AS local_d
            FROM (SELECT coalesce({as_of_sql}, (SELECT max(t) FROM valid)) AS d);
            """
        )

    def instant(self, local_sql: str) -> str:
        """SQL for the UTC microseconds at which the local wall time ``local_sql`` occurs."""
        return f"epoch_us(timezone('{self.tz}', CAST({local_sql} AS TIMESTAMP)))"

    def periods(self, first_sql: str, period: str) -> str:
        """SQL of the periods (column ``p``) from ``first_sql`` to the period of D, with ``complete``."""
        return f"""
            SELECT p, {self.instant(f"p + INTERVAL 1 {period}")} - 1 <= (SELECT d FROM d) AS complete
            FROM (
              SELECT CAST(unnest(generate_series(CAST(({first_sql}) AS TIMESTAMP),
                      CAST(date_trunc('{period}', (SELECT local_d FROM d)) AS TIMESTAMP),
                      INTERVAL 1 {period})) AS DATE) AS p
            )
        """

    def revenue(self, period: str = "month", revenue_event: str = "order") -> pa.Table:
        ev = revenue_event.replace("'", "''")
        return self.con.sql(
            f"""
            WITH v AS (SELECT *, CAST(date_trunc('{period}', local) AS DATE) AS p FROM valid),
            per AS (
              SELECT p,
                     coalesce(sum(micros) FILTER (WHERE event = '{ev}'), 0) AS net,
                     count(DISTINCT user_id) AS active,
                     count(DISTINCT user_id) FILTER (WHERE event = '{ev}' AND (amount >= 0 OR amount IS NULL)) AS paying
              FROM v GROUP BY p
            ), ps AS ({self.periods("SELECT min(p) FROM v", period)})
            SELECT ps.p AS period, CAST(coalesce(net, 0) AS DOUBLE) / 1e6 AS revenue,
                   coalesce(active, 0) AS active_users, coalesce(paying, 0) AS paying_users,
                   (CAST(coalesce(net, 0) AS DOUBLE) / 1e6) / nullif(active, 0) AS arpu,
                   (CAST(coalesce(net, 0) AS DOUBLE) / 1e6) / nullif(paying, 0) AS arppu,
                   CAST(paying AS DOUBLE) / nullif(active, 0) AS paying_rate,
                   complete
            FROM ps LEFT JOIN per USING (p)
            WHERE EXISTS (SELECT 1 FROM valid)
            ORDER BY ps.p
            """
        ).to_arrow_table()

    def purchases_sql(self, revenue_event: str) -> str:
        ev = revenue_event.replace("'", "''")
        return f"SELECT user_id, t, local FROM valid WHERE event = '{ev}' AND (amount >= 0 OR amount IS NULL)"

    def repurchase(self, window_days: int = 30, period: str = "month", revenue_event: str = "order") -> pa.Table:
        w = window_days * DAY_US
        return self.con.sql(
            f"""
            WITH ranked AS (
              SELECT user_id, t, local, row_number() OVER (PARTITION BY user_id ORDER BY t) AS k
              FROM ({self.purchases_sql(revenue_event)})
            ), u AS (
              SELECT user_id,
                     max(t) FILTER (WHERE k = 1) AS t1, max(t) FILTER (WHERE k = 2) AS t2,
                     CAST(date_trunc('{period}', max(local) FILTER (WHERE k = 1)) AS DATE) AS p
              FROM ranked GROUP BY user_id
            ), c AS (
              SELECT p, count(*) AS first_buyers,
                     count(*) FILTER (WHERE (SELECT d FROM d) - t1 >= {w}) AS eligible,
                     count(*) FILTER (WHERE (SELECT d FROM d) - t1 >= {w} AND t2 - t1 <= {w}) AS repurchased,
                     count(*) FILTER (WHERE (SELECT d FROM d) - t1 < {w}) AS in_progress
              FROM u GROUP BY p
            ), ps AS ({self.periods("SELECT min(p) FROM u", period)})
            SELECT ps.p AS cohort, coalesce(first_buyers, 0) AS first_buyers, coalesce(eligible, 0) AS eligible,
                   coalesce(repurchased, 0) AS repurchased,
                   CAST(repurchased AS DOUBLE) / nullif(eligible, 0) AS rate,
                   coalesce(in_progress, 0) AS in_progress
            FROM ps LEFT JOIN c USING (p)
            WHERE EXISTS (SELECT 1 FROM u)
            ORDER BY ps.p
            """
        ).to_arrow_table()

    def next_month_repurchase(self, revenue_event: str = "order") -> pa.Table:
        return self.con.sql(
            f"""
            WITH pm AS (
              SELECT DISTINCT user_id, CAST(date_trunc('month', local) AS DATE) AS m
              FROM ({self.purchases_sql(revenue_event)})
            ), c AS (
              SELECT a.m, count(*) AS paying, count(b.user_id) AS repeat
              FROM pm a LEFT JOIN pm b ON a.user_id = b.user_id AND b.m = CAST(a.m + INTERVAL 1 MONTH AS DATE)
              GROUP BY a.m
            ), ms AS ({self.periods("SELECT min(m) FROM pm", "month")})
            SELECT ms.p AS month, coalesce(paying, 0) AS paying,
                   CASE WHEN {self.instant("ms.p + INTERVAL 1 MONTH")} > (SELECT d FROM d) THEN NULL
                        ELSE coalesce(repeat, 0) END AS repeat_next_month,
                   CASE WHEN {self.instant("ms.p + INTERVAL 1 MONTH")} > (SELECT d FROM d) THEN NULL
                        ELSE CAST(coalesce(repeat, 0) AS DOUBLE) / nullif(paying, 0) END AS rate,
                   {self.instant("ms.p + INTERVAL 2 MONTH")} - 1 <= (SELECT d FROM d) AS complete
            FROM ms LEFT JOIN c ON c.m = ms.p
            WHERE EXISTS (SELECT 1 FROM pm)
            ORDER BY ms.p
            """
        ).to_arrow_table()

    def activity_sql(self, activity_events: list[str] | None) -> str:
        if activity_events is None:
            return "SELECT * FROM valid"
        names = ", ".join("'" + e.replace("'", "''") + "'" for e in activity_events)
        return f"SELECT * FROM valid WHERE event IN ({names})"

    def active_users(self, period: str = "day", activity_events: list[str] | None = None) -> pa.Table:
        return self.con.sql(
            f"""
            WITH v AS (SELECT user_id, CAST(date_trunc('{period}', local) AS DATE) AS p FROM ({self.activity_sql(activity_events)})),
            c AS (SELECT p, count(DISTINCT user_id) AS n FROM v GROUP BY p),
            ps AS ({self.periods("SELECT min(p) FROM v", period)})
            SELECT ps.p AS period, coalesce(n, 0) AS active_users, complete
            FROM ps LEFT JOIN c USING (p)
            WHERE EXISTS (SELECT 1 FROM v)
            ORDER BY ps.p
            """
        ).to_arrow_table()

    def stickiness(self, activity_events: list[str] | None = None) -> pa.Table:
        return self.con.sql(
            f"""
            WITH v AS (SELECT user_id, CAST(local AS DATE) AS day FROM ({self.activity_sql(activity_events)})),
            dau AS (SELECT day, count(DISTINCT user_id) AS n FROM v GROUP BY day),
            mau AS (SELECT CAST(date_trunc('month', day) AS DATE) AS p, count(DISTINCT user_id) AS mau FROM v GROUP BY 1),
            ms AS ({self.periods("SELECT date_trunc('month', min(day)) FROM v", "month")}),
            days AS (
              SELECT ms.p, count(*) AS calendar_days, sum(coalesce(dau.n, 0)) AS user_days
              FROM ms, LATERAL (
                SELECT CAST(unnest(generate_series(CAST(ms.p AS TIMESTAMP),
                         CAST(least(CAST(ms.p + INTERVAL 1 MONTH - INTERVAL 1 DAY AS DATE),
                                    CAST((SELECT local_d FROM d) AS DATE)) AS TIMESTAMP),
                         INTERVAL 1 DAY)) AS DATE) AS day
              ) cal
              LEFT JOIN dau ON dau.day = cal.day
              GROUP BY ms.p
            )
            SELECT ms.p AS month, CAST(user_days AS DOUBLE) / calendar_days AS mean_dau,
                   coalesce(mau.mau, 0) AS mau,
                   (CAST(user_days AS DOUBLE) / calendar_days) / nullif(mau.mau, 0) AS stickiness,
                   complete
            FROM ms JOIN days USING (p) LEFT JOIN mau USING (p)
            WHERE EXISTS (SELECT 1 FROM v)
            ORDER BY ms.p
            """
        ).to_arrow_table()


# --------------------------------------------------------------------------------------
# The funnel reference (plain Python, straight from SPEC §6)
# --------------------------------------------------------------------------------------


def funnel_reference(
    table: pa.Table,
    steps: list[str],
    *,
    window_days: int = 14,
    mode: str = "ordered",
    tz: str = "UTC",
    as_of_us: int | None = None,
    labels: dict[Any, str | None] | None = None,
    label_name: str | None = None,
) -> list[dict[str, Any]]:
    """Rows of the funnel as dicts. ``labels``: user -> group (users absent -> None)."""
    del tz  # a funnel has no calendar
    rows = table.select(["user_id", "ts", "event"]).to_pylist()
    valid = []
    for r in rows:
        if r["user_id"] is None or r["ts"] is None:
            continue
        t = r["ts"] if r["ts"].tzinfo else r["ts"].replace(tzinfo=UTC)
        us = (t - EPOCH) // dt.timedelta(microseconds=1)
        if as_of_us is not None and us > as_of_us:
            continue
        valid.append((r["user_id"], us, r["event"]))
    end = as_of_us if as_of_us is not None else max((v[1] for v in valid), default=None)
    window = window_days * DAY_US
    by_user: dict[Any, list[tuple[int, str | None]]] = {}
    for user, us, name in valid:
        by_user.setdefault(user, []).append((us, name))
    n = len(steps)

    def walk(user_rows: list[tuple[int, str | None]], instants: list[int], start: int) -> tuple[int, list[int]]:
        """Greedy from start row index ``start``: (steps reached, gaps in µs)."""
        used = {start}
        t0 = prev = user_rows[start][0]
        gaps = []
        for step in steps[1:]:
            found = None
            for i, (us, name) in enumerate(user_rows):  # rows in time order: the first hit is the earliest
                if i in used or name != step or us < prev or us > t0 + window:
                    continue
                if mode == "strict":
                    # any row strictly between prev and us?
                    k = bisect.bisect_right(instants, prev)
                    if k < len(instants) and instants[k] < us:
                        continue
                found = i
                break
            if found is None:
                break
            used.add(found)
            gaps.append(user_rows[found][0] - prev)
            prev = user_rows[found][0]
        return 1 + len(gaps), gaps

    groups: dict[Any, dict[str, Any]] = {}
    for user, user_rows in by_user.items():
        user_rows.sort(key=lambda r: r[0])
        instants = sorted({r[0] for r in user_rows})
        best = None  # (reached, start instant, gaps)
        for i, (us, name) in enumerate(user_rows):
            if name != steps[0]:
                continue
            reached, gaps = walk(user_rows, instants, i)
            if best is None or reached > best[0] or (reached == best[0] and us < best[1]):
                best = (reached, us, gaps)
        if best is None:
            continue  # never reached step 1: not in the population
        reached, start, gaps = best
        key = labels.get(user) if labels is not None else "all"
        g = groups.setdefault(key, {"users": [0] * n, "in_progress": [0] * n, "gaps": [[] for _ in range(n)]})
        in_progress = reached < n and start + window > end
        for j in range(reached):
            g["in_progress" if in_progress else "users"][j] += 1
        if not in_progress:
            for j, gap in enumerate(gaps):
                g["gaps"][j + 1].append(gap / 1e6)
    if labels is None:
        groups.setdefault("all", {"users": [0] * n, "in_progress": [0] * n, "gaps": [[] for _ in range(n)]})
    out = []
    order = sorted(groups, key=lambda k: (k is None, k or ""))
    for key in order:
        g = groups[key]
        for j in range(n):
            users = g["users"][j]
            first = g["users"][0]
            previous = g["users"][j - 1] if j else None
            gaps = g["gaps"][j]
            row = {} if labels is None else {label_name: key}
            row |= {
                "step": j + 1,
                "event": steps[j],
                "users": users,
                "conversion_from_start": users / first if first else None,
                "conversion_from_previous": (users / previous if previous else None) if j else None,
                "median_seconds_from_previous": float(np.quantile(gaps, 0.5)) if j and gaps else None,
                "p90_seconds_from_previous": float(np.quantile(gaps, 0.9)) if j and gaps else None,
                "in_progress": g["in_progress"][j],
            }
            out.append(row)
    return out


def channels_reference(table: pa.Table, acquisition_events: list[str] | None = ("signup",)) -> dict[Any, str]:
    """SPEC §2: the channel of each user's first acquisition row; ties: smallest non-null."""
    best: dict[Any, tuple[int, int, str]] = {}
    names = table.column_names
    for r in table.to_pylist():
        if r["user_id"] is None or r["ts"] is None:
            continue
        if acquisition_events is not None and r["event"] not in acquisition_events:
            continue
        us = (r["ts"] - EPOCH) // dt.timedelta(microseconds=1)
        channel = r["channel"] if "channel" in names else None
        key = (us, 0 if channel is not None else 1, channel or "")
        if r["user_id"] not in best or key < best[r["user_id"]]:
            best[r["user_id"]] = key
    return {u: (k[2] if k[1] == 0 else "(none)") for u, k in best.items()}


# --------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------


def assert_rows_equal(actual: list[dict], expected: list[dict], what: str) -> None:
    assert len(actual) == len(expected), f"{what}: {len(actual)} rows, expected {len(expected)}\n{actual}\n{expected}"
    for i, (a, e) in enumerate(zip(actual, expected)):
        assert a.keys() == e.keys(), f"{what}: columns {list(a)} vs {list(e)}"
        for k in a:
            assert close(a[k], e[k], abs_tol=ABS_TOL), f"{what}, row {i}, column {k}: {a[k]!r} != {e[k]!r}\n{a}\n{e}"


#: Same columns, rows and values; floats within a relative 1e-9 or an absolute 1e-12.
assert_tables_equal = functools.partial(assert_tables_close, abs_tol=ABS_TOL)


# --------------------------------------------------------------------------------------
# Tests: revenue, repurchase, next month, active users, stickiness
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("tz,as_of", OPTIONS)
@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("period", ["day", "week", "month"])
def test_revenue_matches_sql(name: str, tz: str, as_of: Any, period: str) -> None:
    table = dataset(name)
    ref = Reference(table, tz, as_of_micros(as_of, tz))
    actual = quiet(userops.revenue, table, period=period, tz=tz, as_of=as_of)
    assert_tables_equal(actual, ref.revenue(period=period), f"revenue {name} {tz} {as_of} {period}")


@pytest.mark.parametrize("tz,as_of", OPTIONS)
@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("window_days,period", [(30, "month"), (7, "week"), (0, "day"), (45, "month")])
def test_repurchase_matches_sql(name: str, tz: str, as_of: Any, window_days: int, period: str) -> None:
    table = dataset(name)
    ref = Reference(table, tz, as_of_micros(as_of, tz))
    actual = quiet(userops.repurchase, table, window_days=window_days, period=period, tz=tz, as_of=as_of)
    expected = ref.repurchase(window_days=window_days, period=period)
    assert_tables_equal(actual, expected, f"repurchase {name} {tz} {as_of} {window_days} {period}")


@pytest.mark.parametrize("tz,as_of", OPTIONS)
@pytest.mark.parametrize("name", ALL)
def test_next_month_repurchase_matches_sql(name: str, tz: str, as_of: Any) -> None:
    table = dataset(name)
    ref = Reference(table, tz, as_of_micros(as_of, tz))
    actual = quiet(userops.next_month_repurchase, table, tz=tz, as_of=as_of)
    assert_tables_equal(actual, ref.next_month_repurchase(), f"next_month {name} {tz} {as_of}")


@pytest.mark.parametrize("tz,as_of", OPTIONS)
@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("period,activity_events", [("day", None), ("week", None), ("month", None), ("day", ["visit", "order"])])
def test_active_users_match_sql(name: str, tz: str, as_of: Any, period: str, activity_events: Any) -> None:
    table = dataset(name)
    ref = Reference(table, tz, as_of_micros(as_of, tz))
    actual = quiet(userops.active_users, table, period=period, activity_events=activity_events, tz=tz, as_of=as_of)
    expected = ref.active_users(period=period, activity_events=activity_events)
    assert_tables_equal(actual, expected, f"active_users {name} {tz} {as_of} {period} {activity_events}")


@pytest.mark.parametrize("tz,as_of", OPTIONS)
@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("activity_events", [None, ["visit"]])
def test_stickiness_matches_sql(name: str, tz: str, as_of: Any, activity_events: Any) -> None:
    table = dataset(name)
    ref = Reference(table, tz, as_of_micros(as_of, tz))
    actual = quiet(userops.stickiness, table, activity_events=activity_events, tz=tz, as_of=as_of)
    assert_tables_equal(actual, ref.stickiness(activity_events), f"stickiness {name} {tz} {as_of}")


# --------------------------------------------------------------------------------------
# Tests: funnel
# --------------------------------------------------------------------------------------

FUNNELS = [
    (["visit", "cart", "order"], 14, "ordered"),
    (["visit", "cart", "order"], 14, "strict"),
    (["visit", "visit", "order"], 14, "ordered"),
    (["visit", "visit", "order"], 3, "strict"),
    (["signup", "visit", "order"], 30, "ordered"),
    (["order", "visit", "order", "order"], 0, "ordered"),
    (["visit", "order"], 1, "strict"),
    (["cart", "nothing"], 14, "ordered"),  # a step that never happens
]

FUNNEL_DATA = ["funnel_rows", "random_1", "random_2", "shop_1", "empty"]


@pytest.mark.parametrize("as_of", [None, at(45), dt.date(2024, 2, 20)])
@pytest.mark.parametrize("name", FUNNEL_DATA)
@pytest.mark.parametrize("steps,window_days,mode", FUNNELS)
def test_funnel_matches_python(name: str, steps: list[str], window_days: int, mode: str, as_of: Any) -> None:
    table = dataset(name)
    actual = quiet(userops.funnel, table, steps, window_days=window_days, mode=mode, as_of=as_of)
    expected = funnel_reference(table, steps, window_days=window_days, mode=mode, as_of_us=as_of_micros(as_of, "UTC"))
    assert_rows_equal(actual.to_pylist(), expected, f"funnel {name} {steps} {window_days} {mode} {as_of}")


def test_funnel_hand_cases_in_detail() -> None:
    """The hand-made cases, step by step (D = day 60)."""
    table = dataset("funnel_rows")
    f = quiet(userops.funnel, table, ["visit", "cart", "order"]).to_pylist()
    # Population: users 1, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13 (3 never visits).
    # In progress: 6 (day 59, reached cart), 13 (day 60, visit only). User 8's best start
    # (day 10, reached cart) has a closed window: a drop-off, though a later start is open.
    # User 9's order is exactly 14 days after the start: it counts.
    assert [r["users"] for r in f] == [10, 7, 6]  # cart: 1, 2, 4, 7, 8, 9, 12; order: 1, 2, 4, 7, 9, 12
    assert [r["in_progress"] for r in f] == [2, 1, 0]
    strict = quiet(userops.funnel, table, ["visit", "cart", "order"], mode="strict").to_pylist()
    # Strict: 1 has "help" between visit and cart; 12 has a null event between visit and cart.
    assert [r["users"] for r in strict] == [10, 5, 4]  # cart: 2, 4, 7, 8, 9; order: 2, 4, 7, 9
    repeated = quiet(userops.funnel, table, ["visit", "visit", "order"]).to_pylist()
    # Two visit rows within 14 days: 2 (three at one instant) and 10; 4's and 8's second
    # visits are more than 14 days after their first; then an order: 2 and 10.
    assert [r["users"] for r in repeated][1:] == [2, 2]


def test_funnel_breakdown_by_channel_and_by_segment() -> None:
    table = dataset("funnel_rows")
    steps = ["visit", "cart", "order"]
    by_channel = userops.funnel(table, steps, breakdown="channel")
    expected = funnel_reference(table, steps, labels=channels_reference(table), label_name="channel")
    assert_rows_equal(by_channel.to_pylist(), expected, "funnel by channel")
    assert by_channel.column("channel").to_pylist()[::3] == ["(none)", "ads", None]

    segments = pa.table({"user_id": [1, 2, 4, 7, 99], "segment": ["b", "a", "b", None, "c"]})
    by_segment = userops.funnel(table, steps, breakdown=segments)
    labels = dict(zip(segments.column("user_id").to_pylist(), segments.column("segment").to_pylist()))
    expected = funnel_reference(table, steps, labels=labels, label_name="segment")
    assert_rows_equal(by_segment.to_pylist(), expected, "funnel by segment")


@pytest.mark.parametrize("name", ["random_1", "shop_1"])
def test_funnel_breakdown_on_generated_data(name: str) -> None:
    table = dataset(name)
    steps = ["visit", "order"] if name == "shop_1" else ["signup", "visit", "cart"]
    actual = userops.funnel(table, steps, breakdown="channel", window_days=7)
    expected = funnel_reference(table, steps, window_days=7, labels=channels_reference(table), label_name="channel")
    assert_rows_equal(actual.to_pylist(), expected, f"funnel by channel {name}")
    first_seen = userops.funnel(table, steps, breakdown="channel", acquisition_events=None)
    expected = funnel_reference(table, steps, labels=channels_reference(table, None), label_name="channel")
    assert_rows_equal(first_seen.to_pylist(), expected, f"funnel by first-seen channel {name}")
    rfm = userops.rfm(table)
    by_rfm = userops.funnel(table, steps, breakdown=rfm)
    labels = dict(zip(rfm.column("user_id").to_pylist(), rfm.column("segment").to_pylist()))
    expected = funnel_reference(table, steps, labels=labels, label_name="segment")
    assert_rows_equal(by_rfm.to_pylist(), expected, f"funnel by rfm {name}")


# --------------------------------------------------------------------------------------
# Tests: the hard cases spelled out, and the engine paths
# --------------------------------------------------------------------------------------


def test_repurchase_hand_cases_in_detail() -> None:
    table = dataset("repurchase_rows")
    jan = userops.repurchase(table).to_pylist()[0]
    # January first buyers: 1 (exactly 30 days: yes), 2 (30 d + 1 s: no), 3 (same instant:
    # yes), 4 (refund is not a purchase: no), 6 (Jan 31 20:00 UTC); user 5's first purchase
    # is in February (the January row is a refund).
    assert (jan["first_buyers"], jan["eligible"], jan["repurchased"]) == (5, 5, 3)
    shanghai = userops.repurchase(table, tz="Asia/Shanghai").to_pylist()
    # In Shanghai user 6 moves to February, user 12 (Feb 29 16:30 UTC) to March.
    assert [r["first_buyers"] for r in shanghai[:3]] == [4, 2, 1]
    may, june = userops.repurchase(table).to_pylist()[-2:]
    assert may["cohort"] == dt.date(2024, 5, 1)
    assert (may["eligible"], may["in_progress"]) == (1, 1)  # user 7 eligible, user 8 in progress
    assert (june["cohort"], june["first_buyers"], june["rate"]) == (dt.date(2024, 6, 1), 0, None)  # the month of D


def test_next_month_hand_cases() -> None:
    table = dataset("next_month_rows")
    rows = userops.next_month_repurchase(table).to_pylist()
    assert [r["month"] for r in rows] == [dt.date(2024, m, 1) for m in (1, 2, 3, 4, 5)]
    assert [r["paying"] for r in rows] == [3, 2, 3, 1, 1]
    assert [r["repeat_next_month"] for r in rows] == [2, 1, 0, 1, None]  # D is in May
    assert [r["complete"] for r in rows] == [True, True, True, False, False]


def test_revenue_in_shanghai_moves_midnight_orders() -> None:
    table = dataset("revenue_rows")
    utc_rows = {r["period"]: r for r in quiet(userops.revenue, table).to_pylist()}
    sh_rows = {r["period"]: r for r in quiet(userops.revenue, table, tz="Asia/Shanghai").to_pylist()}
    assert utc_rows[dt.date(2024, 1, 1)]["revenue"] == pytest.approx(120.5)
    assert sh_rows[dt.date(2024, 1, 1)]["revenue"] == pytest.approx(120.5)  # 23:59:59 in Shanghai
    assert sh_rows[dt.date(2024, 2, 1)]["paying_users"] == 1  # user 2's zero-amount order at 00:00
    assert min(sh_rows) == dt.date(2024, 1, 1)
    assert utc_rows[dt.date(2024, 2, 1)]["revenue"] == pytest.approx(-105.0)
    assert utc_rows[dt.date(2024, 2, 1)]["paying_users"] == 0 and utc_rows[dt.date(2024, 2, 1)]["arppu"] is None
    assert min(utc_rows) == dt.date(2023, 12, 1)  # user 9's signup


def test_one_pass_analyze_equals_separate_calls() -> None:
    table = shuffled_chunks(shop(2000, 9), seed=9, rows=5000)
    plugins = {
        "revenue": {"period": "week"},
        "repurchase": {"window_days": 14},
        "next_month_repurchase": {},
        "active_users": {"period": "month"},
        "stickiness": {},
        "funnel": {"steps": ["signup", "visit", "order"], "mode": "strict"},
        "by_rfm": {"plugin": "funnel", "steps": ["visit", "order"], "breakdown": "rfm"},
        "rfm": {},
    }
    out = userops.analyze(table, plugins, tz="Asia/Shanghai", as_of="2024-10-31")
    single = dict(tz="Asia/Shanghai", as_of="2024-10-31")
    assert out["revenue"].equals(userops.revenue(table, period="week", **single))
    assert out["repurchase"].equals(userops.repurchase(table, window_days=14, **single))
    assert out["next_month_repurchase"].equals(userops.next_month_repurchase(table, **single))
    assert out["active_users"].equals(userops.active_users(table, period="month", **single))
    assert out["stickiness"].equals(userops.stickiness(table, **single))
    assert out["funnel"].equals(userops.funnel(table, ["signup", "visit", "order"], mode="strict", **single))
    assert out["by_rfm"].equals(userops.funnel(table, ["visit", "order"], breakdown=out["rfm"], **single))


def test_results_do_not_depend_on_threads_or_batches() -> None:
    table = shop(2000, 4)
    pieces = shuffled_chunks(table, seed=4, rows=777)
    for function, kwargs in [
        (userops.revenue, {"period": "day"}),
        (userops.repurchase, {}),
        (userops.next_month_repurchase, {}),
        (userops.active_users, {"period": "week"}),
        (userops.stickiness, {}),
        (userops.funnel, {"steps": ["visit", "visit", "order"], "mode": "strict"}),
        (userops.funnel, {"steps": ["signup", "order"], "breakdown": "channel"}),
    ]:
        one = function(table, threads=1, tz="Asia/Shanghai", **kwargs)
        many = function(pieces, threads=4, tz="Asia/Shanghai", **kwargs)
        assert one.equals(many), function.__name__


def test_empty_input_keeps_the_schema() -> None:
    empty = dataset("empty")
    assert userops.revenue(empty).num_rows == 0
    assert userops.revenue(empty).column_names == userops.revenue(dataset("revenue_rows")).column_names
    steps = userops.funnel(empty, ["a", "b"])
    assert steps.column("users").to_pylist() == [0, 0] and steps.column("conversion_from_start").to_pylist() == [None, None]


def test_parameter_errors_name_the_parameter() -> None:
    table = dataset("funnel_rows")
    with pytest.raises(userops.ParameterError, match="steps"):
        userops.funnel(table, ["visit"])
    with pytest.raises(userops.ParameterError, match="steps"):
        userops.funnel(table, "visit")
    with pytest.raises(userops.ParameterError, match="mode"):
        userops.funnel(table, ["visit", "order"], mode="loose")
    with pytest.raises(userops.ParameterError, match="breakdown"):
        userops.funnel(table, ["visit", "order"], breakdown="country")
    with pytest.raises(userops.ParameterError, match="period"):
        userops.revenue(table, period="year")
    with pytest.raises(userops.ParameterError, match="window_days"):
        userops.repurchase(table, window_days=-1)
    with pytest.raises(userops.ParameterError, match="activity_events"):
        userops.active_users(table, activity_events=[])
    with pytest.raises(userops.ColumnError, match="amount"):
        userops.revenue(table.drop_columns(["amount"]))
    # Repurchase reads amounts only to tell refunds; without the column every order is a purchase.
    assert userops.repurchase(table.drop_columns(["amount"])).num_rows > 0


def test_plugins_are_listed() -> None:
    names = set(userops.plugins().column("name").to_pylist())
    assert {"revenue", "repurchase", "next_month_repurchase", "funnel", "active_users", "stickiness"} <= names
    row = next(r for r in userops.plugins().to_pylist() if r["name"] == "funnel")
    assert row["breakdown"] is True
