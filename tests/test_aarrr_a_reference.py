"""Acquisition, paying conversion, activation, retention and LTV against DuckDB SQL.

The references below are written from SPEC.md (§1 input rules, §2 acquisition, §3
activation, §4 retention, §5 LTV) and the decisions documented in docs/aarrr.md, not
from the Rust code: every number userops returns is recomputed here in DuckDB SQL
over the same Arrow table and compared, integers exactly, floats within a relative 1e-9.

Reference definitions, in one place:
- valid rows: user_id and ts not null, and ts <= as_of when as_of is given;
  D = as_of, or max(ts) over valid rows (a bare date: the end of that day in tz);
- local time: the instant in the run's zone (DuckDB ICU ``timezone(tz, ts)``); a
  period is ``date_trunc('day' | 'week' | 'month', local)`` (weeks start on Monday);
- acquisition: per user, the first valid row whose event is in acquisition_events
  (any row when None), ties at the first instant by channel then referrer_id, nulls
  last (SQL ``ORDER BY t, channel NULLS LAST, referrer_id NULLS LAST``); channel null
  -> '(none)'; cohort = period of the acquisition;
- a window of N days after a: ``[a, a + N * 86400 s]``; a user is in progress when
  ``D - a < N days``; purchases are revenue-event rows with amount >= 0 or null;
- calendar offset k: ``datediff(period, cohort, period(t))``; rolling offset:
  ``(t - a) // L``, L = 1, 7, 30 days; rows before a never count;
- a period begun: its first local instant <= D; complete: its last instant <= D;
- money in exact micro-units: round(amount * 1e6), halves away from zero.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest

import userops
from _reference import as_of_micros, assert_tables_close, cached_datasets, shop, shuffled_chunks, sql_list, utc

# Generated inputs have null ids, timestamps and events on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::userops.UserOpsWarning")

UTC = dt.timezone.utc
DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000
ROLLING_DAYS = {"day": 1, "week": 7, "month": 30}

# --------------------------------------------------------------------------------------
# Input tables
# --------------------------------------------------------------------------------------

SCHEMA = pa.schema(
    [
        ("user_id", pa.int64()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("event", pa.string()),
        ("amount", pa.float64()),
        ("channel", pa.string()),
        ("referrer_id", pa.int64()),
    ]
)


def table(rows: list[tuple]) -> pa.Table:
    """Rows ``(user, ts, event[, amount[, channel[, referrer]]])``."""
    full = [tuple(r) + (None,) * (6 - len(r)) for r in rows]
    columns = list(zip(*full)) if full else [[] for _ in range(6)]
    return pa.table([pa.array(list(c), f.type) for c, f in zip(columns, SCHEMA)], schema=SCHEMA)


# Ties at the first acquisition instant, across rows and users; later and earlier
# signups; activity before signup; users who never sign up.
T = utc(2024, 1, 10, 9)
TIES = [
    (1, T, "signup", None, "social", 5), (1, T, "signup", None, "ads", 7), (1, T, "signup", None, None, 2),
    (1, T, "signup", None, "ads", 3), (1, T + dt.timedelta(hours=1), "signup", None, "aaa", None),
    (2, T, "signup", None, None, None), (2, T, "signup", None, None, 4),
    (3, T + dt.timedelta(days=3), "signup", None, "zzz"), (3, T + dt.timedelta(days=1), "signup", None, "social"),
    (4, T - dt.timedelta(days=2), "visit"), (4, T - dt.timedelta(days=1), "activate"),
    (4, T - dt.timedelta(hours=1), "order", 30.0), (4, T, "signup", None, "ads"),
    (4, T + dt.timedelta(days=7), "activate"), (4, T + dt.timedelta(days=20), "order", 12.5),
    (5, T + dt.timedelta(days=5), "visit", None, "organic"), (5, T + dt.timedelta(days=6), "order", 9.0),
    (6, T, "signup", None, "ads"), (6, T, "activate"), (6, T, "order", 0.0), (6, T + dt.timedelta(days=40), "visit"),
    (7, T + dt.timedelta(days=35), "visit", None, "organic"), (7, T + dt.timedelta(days=35), "signup", None, "ads"),
    (7, T + dt.timedelta(days=36), None), (7, T + dt.timedelta(days=64), "order", 5.0),
    (8, T + dt.timedelta(days=70), "signup", None, "organic"), (8, T + dt.timedelta(days=70, hours=2), "activate"),
    (9, T + dt.timedelta(days=95), "visit"),  # sets D; never acquired
]

# Users acquired near the end of data (censoring), windows closing exactly at D,
# activation and purchases on the window's last microsecond and one after.
E = utc(2024, 6, 30, 12)
CENSOR = [
    (1, E - dt.timedelta(days=40), "signup", None, "ads"), (1, E - dt.timedelta(days=10), "order", 20.0),
    (2, E - dt.timedelta(days=30), "signup", None, "ads"), (2, E, "order", 10.0),  # window closes at D exactly
    (3, E - dt.timedelta(days=29, hours=23), "signup", None, "ads"), (3, E - dt.timedelta(days=1), "order", 5.0),
    (4, E - dt.timedelta(days=7), "signup", None, "social"), (4, E, "activate"),  # activation window closes at D
    (5, E - dt.timedelta(days=6), "signup", None, "social"), (5, E - dt.timedelta(days=5), "activate"),
    (6, E - dt.timedelta(days=20), "signup", None, "social"),
    (6, E - dt.timedelta(days=13, microseconds=-1), "activate"),  # 7 days + 1 µs: too late
    (7, E - dt.timedelta(days=60), "signup", None, "organic"),
    (7, E - dt.timedelta(days=53), "activate"), (7, E - dt.timedelta(days=30), "order", 8.0),  # exactly 30 days
    (8, E - dt.timedelta(days=61), "signup"), (8, E - dt.timedelta(days=31), "order", 8.0),  # exactly 30 days
    (9, E - dt.timedelta(days=1), "signup", None, "ads"), (9, E - dt.timedelta(hours=2), "order", 99.0),
    (10, E - dt.timedelta(days=90), "signup", None, "ads"), (10, E - dt.timedelta(days=89), "visit"),
    (10, E - dt.timedelta(days=2), "visit"),
]

# Refunds: within the window (not a conversion), before signup, netting to zero, only refunds.
R = utc(2024, 2, 5, 8)
REFUNDS = [
    (1, R, "signup", None, "ads"), (1, R + dt.timedelta(days=2), "order", -15.0),
    (1, R + dt.timedelta(days=40), "order", 25.0),
    (2, R, "signup", None, "ads"), (2, R + dt.timedelta(days=1), "order", 50.0),
    (2, R + dt.timedelta(days=3), "order", -50.0), (2, R + dt.timedelta(days=33), "order", -10.0),
    (3, R - dt.timedelta(days=3), "order", 100.0), (3, R, "signup", None, "social"),
    (3, R + dt.timedelta(days=31), "order", 40.0), (3, R + dt.timedelta(days=31), "order", -40.0),
    (4, R + dt.timedelta(days=10), "signup", None, "social"), (4, R + dt.timedelta(days=11), "order", None),
    (4, R + dt.timedelta(days=12), "order", 0.1), (4, R + dt.timedelta(days=12), "order", 0.2),
    (4, R + dt.timedelta(days=13), "order", -0.3),
    (5, R + dt.timedelta(days=100), "visit"),
]

# Periods with no new users (Feb, Mar, May), still active users and spend there.
G = utc(2024, 1, 15, 10)
GAPS = [
    (1, G, "signup", None, "ads"), (1, G + dt.timedelta(days=30), "visit"),
    (1, G + dt.timedelta(days=45), "order", 7.0),
    (2, G + dt.timedelta(days=3), "signup", None, "organic"), (2, G + dt.timedelta(days=70), "order", 3.0),
    (3, utc(2024, 4, 2), "signup", None, "ads"), (3, utc(2024, 6, 2), "visit"),
    (4, utc(2024, 4, 30, 23, 59, 59), "signup", None, "social"), (4, utc(2024, 5, 1), "activate"),
    (5, utc(2024, 6, 20), "signup", None, "ads"), (5, utc(2024, 6, 21), "order", 12.0),
    (6, utc(2024, 7, 3), "visit"),
]

# Near midnight and month/week boundaries in Asia/Shanghai (UTC+8) and UTC.
MIDNIGHT = [
    (1, utc(2024, 1, 31, 15, 59, 59, 999_999), "signup", None, "ads"),  # Jan 31 23:59 in Shanghai
    (1, utc(2024, 1, 31, 16), "visit"), (1, utc(2024, 2, 29, 16), "order", 10.0),  # Feb 1 / Mar 1 in Shanghai
    (2, utc(2024, 1, 31, 16), "signup", None, "ads"),  # Feb 1 00:00 in Shanghai, Jan 31 in UTC
    (2, utc(2024, 2, 4, 15, 59), "visit"),  # Sunday 23:59 in Shanghai
    (2, utc(2024, 2, 4, 16), "visit"),  # Monday 00:00 in Shanghai
    (3, utc(2024, 2, 4, 23, 30), "signup", None, "social"), (3, utc(2024, 2, 5, 0, 30), "activate"),
    (3, utc(2024, 3, 31, 23), "order", 4.5), (3, utc(2024, 4, 1, 0, 1), "visit"),
    (4, utc(2024, 2, 29, 15, 0), "signup", None, None), (4, utc(2024, 3, 31, 16, 0), "visit"),
    (5, utc(2024, 12, 31, 16), "signup", None, "ads"), (5, utc(2025, 1, 5, 3), "visit"),
    (6, utc(2025, 1, 6, 1), "visit"),
]

SPEND_DATES = pa.table(
    {
        "channel": pa.array(["ads", "ads", "social", None, "ads", "tv", "organic", "ads"], pa.string()),
        "period_start": pa.array(
            [dt.date(2024, 1, 1), dt.date(2024, 1, 20), dt.date(2024, 2, 1), dt.date(2024, 2, 1),
             dt.date(2024, 3, 1), dt.date(2024, 4, 1), dt.date(2024, 6, 1), dt.date(2026, 1, 1)],
            pa.date32(),
        ),
        "spend": pa.array([100.0, 50.25, 80.0, 5.0, None, 30.0, 0.0, 1000.0], pa.float64()),
    }
)
SPEND_TIMESTAMPS = pa.table(
    {
        "channel": pa.array(["ads", "ads", "social", "organic"], pa.string()),
        "period_start": pa.array(
            [utc(2024, 1, 31, 16), utc(2024, 1, 1), utc(2024, 2, 4, 16), utc(2024, 6, 30, 23)],
            pa.timestamp("us", tz="UTC"),
        ),
        "spend": pa.array([40.0, 60.0, 12.5, 7.0], pa.float64()),
    }
)


def random_events(seed: int, users: int = 150, rows: int = 2500) -> pa.Table:
    """Small random logs with heavy ties near midnight, refunds, nulls, null events."""
    rng = np.random.default_rng(seed)
    user = rng.integers(1, users + 1, rows)
    day = rng.integers(0, 120, rows)
    hour = rng.choice([0, 15, 16, 23], rows)
    minute = rng.choice([0, 59], rows)
    ts = (
        np.datetime64("2024-01-01T00:00", "us")
        + day.astype("timedelta64[D]")
        + hour.astype("timedelta64[h]")
        + minute.astype("timedelta64[m]")
    )
    name = rng.choice(["signup", "signup", "activate", "visit", "order", "order", None], rows)
    amount = rng.choice([0.0, 1.5, 10.0, 20.0, 99.99, -5.0, -30.0, np.nan], rows)
    is_order = np.array([n == "order" for n in name])
    is_signup = np.array([n == "signup" for n in name])
    channel = rng.choice(["ads", "organic", "social", None], rows)
    return pa.table(
        {
            "user_id": pa.array(user, pa.int64(), mask=rng.random(rows) < 0.01),
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC"), mask=rng.random(rows) < 0.01),
            "event": pa.array(list(name), pa.string()),
            "amount": pa.array(np.where(is_order, amount, np.nan), pa.float64(), from_pandas=True),
            "channel": pa.array([c if s else None for c, s in zip(channel, is_signup)], pa.string()),
            "referrer_id": pa.array(rng.integers(1, users + 1, rows), pa.int64(), mask=~is_signup),
        }
    )


DATASETS: dict[str, Any] = {
    "ties": lambda: table(TIES),
    "censor": lambda: table(CENSOR),
    "refunds": lambda: table(REFUNDS),
    "gaps": lambda: table(GAPS),
    "midnight": lambda: table(MIDNIGHT),
    "empty": lambda: table([]),
    "random_1": lambda: random_events(1),
    "random_2": lambda: random_events(2, users=30, rows=500),
    "shop_1": lambda: shop(3000, 1),
    "shop_5_shuffled": lambda: shuffled_chunks(shop(3000, 5), seed=5, rows=3000),
}
HAND = ["ties", "censor", "refunds", "gaps", "midnight", "empty"]
GENERATED = ["random_1", "random_2", "shop_1", "shop_5_shuffled"]
ALL = HAND + GENERATED


dataset = cached_datasets(DATASETS)


# --------------------------------------------------------------------------------------
# The DuckDB reference
# --------------------------------------------------------------------------------------


class Reference:
    """SPEC §2–§5 in DuckDB SQL over one Arrow table, in one time zone."""

    def __init__(self, events: pa.Table, *, tz: str = "UTC", as_of: Any = None, labels: pa.Table | None = None):
        self.tz = tz
        self.con = duckdb.connect()
        self.con.execute("SET threads = 1")
        self.con.execute("SET TimeZone = 'UTC'")
        self.con.register("events_in", events)
        as_of_us = as_of_micros(as_of, tz)
        as_of_sql = "NULL" if as_of_us is None else str(int(as_of_us))
        channel = "CAST(channel AS VARCHAR)" if "channel" in events.column_names else "CAST(NULL AS VARCHAR)"
        referrer = "referrer_id" if "referrer_id" in events.column_names else "CAST(NULL AS BIGINT)"
        self.con.execute(
            f"""
            CREATE TEMP TABLE valid AS
            SELECT user_id, epoch_us(ts) AS t, timezone('{tz}', CAST(ts AS TIMESTAMPTZ)) AS local,
                   CAST(event AS VARCHAR) AS event, amount,
                   CAST(round(amount * 1000000) AS HUGEINT) AS micros,
                   {channel} AS channel, {referrer} AS referrer_id
            FROM events_in
            WHERE user_id IS NOT NULL AND ts IS NOT NULL
              AND ({as_of_sql} IS NULL OR epoch_us(ts) <= {as_of_sql});
            CREATE TEMP TABLE d AS SELECT coalesce({as_of_sql}, (SELECT max(t) FROM valid)) AS d;
            """
        )
        self.d = self.con.execute("SELECT d FROM d").fetchall()[0][0]
        if labels is not None:
            self.con.register("labels", labels)

    # -- helpers ------------------------------------------------------------------------

    def start_us(self, date_sql: str) -> str:
        """The UTC instant (µs) at which local date ``date_sql`` begins."""
        return f"epoch_us(timezone('{self.tz}', CAST({date_sql} AS TIMESTAMP)))"

    def next_period(self, period: str, date_sql: str, k: str = "1") -> str:
        return f"CAST({date_sql} + to_{period}s(CAST({k} AS INTEGER)) AS DATE)" if period != "week" else (
            f"CAST({date_sql} + to_days(CAST(7 * ({k}) AS INTEGER)) AS DATE)"
        )

    def acquire(self, period: str, acquisition_events: list[str] | None, group: str | None) -> None:
        """Temp table ``acq``: user_id, a, channel, cohort (date), grp."""
        where = "TRUE" if acquisition_events is None else f"event IN ({sql_list(acquisition_events)})"
        grp = {
            None: "CAST(NULL AS VARCHAR)",
            "channel": "coalesce(channel, '(none)')",
            "segment": "(SELECT CAST(l.segment AS VARCHAR) FROM labels l WHERE l.user_id = r.user_id)",
        }[group]
        self.con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE acq AS
            WITH ranked AS (
              SELECT user_id, t, channel, referrer_id,
                     row_number() OVER (PARTITION BY user_id
                                        ORDER BY t, channel NULLS LAST, referrer_id NULLS LAST) AS rn,
                     local
              FROM valid WHERE {where}
            )
            SELECT r.user_id, r.t AS a, coalesce(r.channel, '(none)') AS channel,
                   CAST(date_trunc('{period}', r.local) AS DATE) AS cohort, {grp} AS grp
            FROM ranked r WHERE rn = 1
            """
        )

    def offsets(self, period: str, mode: str, max_offset: int | None) -> int:
        """The number of offsets listed: 0..last observed, capped by max_offset."""
        if mode == "calendar":
            d_local = f"timezone('{self.tz}', make_timestamp(d)::TIMESTAMPTZ)"
            last = self.con.execute(
                f"""SELECT max(datediff('{period}', cohort, CAST(date_trunc('{period}', {d_local}) AS DATE)))
                    FROM acq, d"""
            ).fetchall()[0][0]
        else:
            window = ROLLING_DAYS[period] * DAY_US
            last = self.con.execute(f"SELECT max((d - a) // {window}) FROM acq, d").fetchall()[0][0]
        if last is None:
            return 0
        if max_offset is not None:
            last = min(last, max_offset)
        return int(last) + 1

    def grid(self, period: str, offsets: int) -> None:
        """Temp table ``grid``: grp, cohort, k, size, and the period's start/end instants."""
        nxt = self.next_period(period, "cohort", "k")
        nxt1 = self.next_period(period, "cohort", "k + 1")
        self.con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE grid AS
            WITH g AS (SELECT grp, cohort, count(*) AS size, max(a) AS latest FROM acq GROUP BY ALL)
            SELECT g.*, o.range AS k, {self.start_us(nxt)} AS p_start, {self.start_us(nxt1)} AS p_end
            FROM g CROSS JOIN range(0, {offsets}) o
            """
        )

    # -- metrics ------------------------------------------------------------------------

    def acquisition(self, *, period: str = "month", acquisition_events: list[str] | None = ["signup"],
                    spend: pa.Table | None = None) -> pa.Table:
        self.acquire(period, acquisition_events, None)
        spend_sql = "SELECT NULL AS p, NULL AS ch, NULL AS s WHERE FALSE"
        if spend is not None:
            self.register_spend(spend, period)
            spend_sql = "SELECT p, ch, s FROM spend_by"
        return self.con.sql(
            f"""
            WITH n AS (SELECT cohort AS p, channel AS ch, count(*) AS n FROM acq GROUP BY ALL),
                 s AS ({spend_sql})
            SELECT coalesce(n.p, s.p) AS period, coalesce(n.ch, s.ch) AS channel,
                   CAST(coalesce(n.n, 0) AS BIGINT) AS new_users,
                   CAST(s.s AS DOUBLE) / 1e6 AS spend,
                   CASE WHEN coalesce(n.n, 0) > 0 THEN CAST(s.s AS DOUBLE) / 1e6 / n.n END AS cac
            FROM n FULL OUTER JOIN s ON n.p = s.p AND n.ch = s.ch
            ORDER BY period, channel
            """
        ).to_arrow_table()

    def register_spend(self, spend: pa.Table, period: str) -> None:
        """Temp table ``spend_by``: p (period start date), ch, s (µ-units): periods begun by D only."""
        self.con.register("spend_in", spend)
        start = spend.schema.field("period_start").type
        local = (
            "period_start" if pa.types.is_date(start) else f"timezone('{self.tz}', CAST(period_start AS TIMESTAMPTZ))"
        )
        self.con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE spend_by AS
            SELECT CAST(date_trunc('{period}', {local}) AS DATE) AS p, coalesce(channel, '(none)') AS ch,
                   sum(coalesce(CAST(round(spend * 1000000) AS HUGEINT), 0)) AS s
            FROM spend_in GROUP BY ALL
            """
        )
        if self.d is not None:
            self.con.execute(f"DELETE FROM spend_by WHERE {self.start_us('p')} > {self.d}")

    def windowed(self, *, period: str, days: int, target: str, acquisition_events: list[str] | None) -> None:
        """Temp table ``w``: acquired users with cohort, channel, ``status`` and ``micros`` to the target."""
        self.acquire(period, acquisition_events, None)
        window = days * DAY_US
        self.con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE w AS
            WITH first AS (
              SELECT q.user_id, min(v.t) AS f
              FROM acq q JOIN valid v ON v.user_id = q.user_id AND v.t >= q.a AND {target}
              GROUP BY q.user_id
            )
            SELECT q.cohort, q.channel,
                   CASE WHEN (SELECT d FROM d) - q.a < {window} THEN 'in_progress'
                        WHEN f.f IS NOT NULL AND f.f - q.a <= {window} THEN 'reached'
                        ELSE 'missed' END AS status,
                   f.f - q.a AS micros
            FROM acq q LEFT JOIN first f USING (user_id)
            """
        )

    def paying_conversion(self, *, period: str = "month", window_days: int = 30, revenue_event: str = "order",
                          acquisition_events: list[str] | None = ["signup"]) -> pa.Table:
        target = f"v.event = '{revenue_event}' AND (v.amount >= 0 OR v.amount IS NULL)"
        self.windowed(period=period, days=window_days, target=target, acquisition_events=acquisition_events)
        return self.con.sql(
            """
            SELECT cohort, channel, count(*) AS new_users,
                   count(*) FILTER (WHERE status <> 'in_progress') AS eligible,
                   count(*) FILTER (WHERE status = 'reached') AS converted,
                   CAST(count(*) FILTER (WHERE status = 'reached') AS DOUBLE)
                     / nullif(count(*) FILTER (WHERE status <> 'in_progress'), 0) AS rate,
                   count(*) FILTER (WHERE status = 'in_progress') AS in_progress
            FROM w GROUP BY ALL ORDER BY cohort, channel
            """
        ).to_arrow_table()

    def activation(self, *, period: str = "month", window_days: int = 7, activation_event: str = "activate",
                   acquisition_events: list[str] | None = ["signup"]) -> pa.Table:
        target = f"v.event = '{activation_event}'"
        self.windowed(period=period, days=window_days, target=target, acquisition_events=acquisition_events)
        return self.con.sql(
            f"""
            SELECT cohort, count(*) AS cohort_size,
                   count(*) FILTER (WHERE status <> 'in_progress') AS eligible,
                   count(*) FILTER (WHERE status = 'reached') AS activated,
                   CAST(count(*) FILTER (WHERE status = 'reached') AS DOUBLE)
                     / nullif(count(*) FILTER (WHERE status <> 'in_progress'), 0) AS rate,
                   count(*) FILTER (WHERE status = 'in_progress') AS in_progress,
                   quantile_cont(micros / {HOUR_US}, 0.5) FILTER (WHERE status = 'reached') AS median_hours,
                   quantile_cont(micros / {HOUR_US}, 0.9) FILTER (WHERE status = 'reached') AS p90_hours
            FROM w GROUP BY ALL ORDER BY cohort
            """
        ).to_arrow_table()

    def retention(self, *, period: str = "month", mode: str = "calendar", kind: str = "classic",
                  acquisition_events: list[str] | None = ["signup"], return_events: list[str] | None = None,
                  max_offset: int | None = None, group: str | None = None) -> pa.Table:
        self.acquire(period, acquisition_events, group)
        n = self.offsets(period, mode, max_offset)
        self.grid(period, n)
        ret = "TRUE" if return_events is None else f"v.event IN ({sql_list(return_events)})"
        window = ROLLING_DAYS[period] * DAY_US
        k = (f"datediff('{period}', q.cohort, CAST(date_trunc('{period}', v.local) AS DATE))"
             if mode == "calendar" else f"(v.t - q.a) // {window}")
        self.con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE act AS
            SELECT DISTINCT q.user_id, q.grp, q.cohort, {k} AS k
            FROM acq q JOIN valid v ON v.user_id = q.user_id AND v.t >= q.a AND {ret}
            """
        )
        if kind == "classic":
            retained = "SELECT grp, cohort, k, count(*) AS n FROM act GROUP BY ALL"
        else:
            retained = """
              SELECT g.grp, g.cohort, g.k, count(u.user_id) AS n
              FROM grid g JOIN (SELECT user_id, grp, cohort, max(k) AS m FROM act GROUP BY ALL) u
                ON u.grp IS NOT DISTINCT FROM g.grp AND u.cohort = g.cohort AND u.m >= g.k
              GROUP BY ALL"""
        if mode == "calendar":
            eligible = "CASE WHEN g.p_start <= (SELECT d FROM d) THEN g.size END"
            complete = "g.p_start <= (SELECT d FROM d) AND g.p_end - 1 <= (SELECT d FROM d)"
        else:
            eligible = f"""nullif((SELECT count(*) FROM acq q WHERE q.grp IS NOT DISTINCT FROM g.grp
                                   AND q.cohort = g.cohort AND q.a + g.k * {window} <= (SELECT d FROM d)), 0)"""
            complete = f"g.latest + (g.k + 1) * {window} - 1 <= (SELECT d FROM d)"
        segment = [] if group is None else [f"grp AS {group}"]
        return self.con.sql(
            f"""
            WITH r AS ({retained}),
            cells AS (
              SELECT g.grp, g.cohort, g.k, g.size, {eligible} AS eligible, coalesce(r.n, 0) AS n,
                     {complete} AS complete
              FROM grid g LEFT JOIN r ON r.grp IS NOT DISTINCT FROM g.grp AND r.cohort = g.cohort AND r.k = g.k
            )
            SELECT {', '.join(segment + [''])} cohort, CAST(k AS BIGINT) AS offset, CAST(size AS BIGINT) AS cohort_size,
                   CAST(eligible AS BIGINT) AS eligible,
                   CAST(CASE WHEN eligible IS NOT NULL THEN n END AS BIGINT) AS retained,
                   CAST(n AS DOUBLE) / eligible AS rate,
                   coalesce(complete AND eligible IS NOT NULL, FALSE) AS complete
            FROM cells ORDER BY grp NULLS LAST, cohort, k
            """
        ).to_arrow_table()

    def ltv(self, *, period: str = "month", spend: pa.Table | None = None, max_offset: int | None = None,
            group: str | None = None, revenue_event: str = "order",
            acquisition_events: list[str] | None = ["signup"]) -> pa.Table:
        self.acquire(period, acquisition_events, group)
        n = self.offsets(period, "calendar", max_offset)
        self.grid(period, n)
        self.con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE rev AS
            SELECT q.grp, q.cohort,
                   datediff('{period}', q.cohort, CAST(date_trunc('{period}', v.local) AS DATE)) AS k,
                   coalesce(v.micros, 0) AS micros
            FROM acq q JOIN valid v ON v.user_id = q.user_id AND v.t >= q.a AND v.event = '{revenue_event}'
            """
        )
        cac = "NULL"
        if spend is not None:
            self.register_spend(spend, period)
            if group == "channel":
                cac = "(SELECT CAST(s AS DOUBLE) / 1e6 FROM spend_by WHERE p = g.cohort AND ch = g.grp)"
            else:
                cac = "(SELECT CAST(sum(s) AS DOUBLE) / 1e6 FROM spend_by WHERE p = g.cohort)"
        segment = [] if group is None else [f"grp AS {group}"]
        spend_columns = "" if spend is None else """,
                   cac, CASE WHEN cac <> 0 THEN ltv / cac END AS ltv_to_cac, ltv >= cac AS paid_back"""
        return self.con.sql(
            f"""
            WITH cells AS (
              SELECT g.grp, g.cohort, g.k, g.size, g.p_start <= (SELECT d FROM d) AS begun,
                     g.p_end - 1 <= (SELECT d FROM d) AS ended,
                     (SELECT coalesce(sum(micros), 0) FROM rev r
                      WHERE r.grp IS NOT DISTINCT FROM g.grp AND r.cohort = g.cohort AND r.k <= g.k) AS cum,
                     {cac} / g.size AS cac
              FROM grid g
            ), v AS (
              SELECT *, CASE WHEN begun THEN CAST(cum AS DOUBLE) / 1e6 END AS cumulative_revenue,
                     CASE WHEN begun THEN CAST(cum AS DOUBLE) / 1e6 / size END AS ltv
              FROM cells
            )
            SELECT {', '.join(segment + [''])} cohort, CAST(k AS BIGINT) AS offset, CAST(size AS BIGINT) AS cohort_size,
                   cumulative_revenue, ltv, begun AND ended AS complete{spend_columns}
            FROM v ORDER BY grp NULLS LAST, cohort, k
            """
        ).to_arrow_table()


# --------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------


#: Same columns, rows and values; floats within a relative 1e-9 or an absolute 1e-12.
assert_same = functools.partial(assert_tables_close, abs_tol=1e-12)


TZS = ["UTC", "Asia/Shanghai"]
AS_OFS = {
    "ties": [None, dt.date(2024, 2, 15)],
    "censor": [None, dt.datetime(2024, 6, 20, 12, tzinfo=UTC)],
    "refunds": [None, dt.date(2024, 3, 7)],
    "gaps": [None, dt.date(2024, 4, 30)],
    "midnight": [None, dt.date(2024, 2, 29)],
    "empty": [None, dt.date(2024, 1, 1)],
    "random_1": [None, dt.date(2024, 3, 31)],
    "random_2": [None],
    "shop_1": [None, dt.date(2024, 9, 30)],
    "shop_5_shuffled": [None],
}


def cases(names: list[str]) -> list[tuple[str, str, Any]]:
    return [(n, tz, a) for n in names for tz in TZS for a in AS_OFS[n]]


def ids(case: tuple) -> str:
    return "-".join(str(c) for c in case)


# --------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------

ACQUISITION_PARAMS = [
    {},
    {"period": "week", "acquisition_events": None},
    {"period": "day", "spend": "dates"},
    {"spend": "dates"},
    {"spend": "timestamps", "acquisition_events": ["signup", "visit"]},
]


@pytest.mark.parametrize("params", ACQUISITION_PARAMS, ids=str)
@pytest.mark.parametrize("case", cases(ALL), ids=ids)
def test_acquisition(case: tuple, params: dict) -> None:
    name, tz, as_of = case
    events = dataset(name)
    spend = {"dates": SPEND_DATES, "timestamps": SPEND_TIMESTAMPS, None: None}[params.get("spend")]
    p = {**params, "spend": spend}
    actual = userops.acquisition(events, tz=tz, as_of=as_of, **p)
    ref = Reference(events, tz=tz, as_of=as_of).acquisition(
        period=p.get("period", "month"), acquisition_events=p.get("acquisition_events", ["signup"]), spend=spend
    )
    assert_same(actual, ref)


CONVERSION_PARAMS = [
    {},
    {"window_days": 7, "period": "week"},
    {"window_days": 0, "period": "day", "acquisition_events": None},
    {"window_days": 45, "acquisition_events": ["signup", "visit"]},
]


@pytest.mark.parametrize("params", CONVERSION_PARAMS, ids=str)
@pytest.mark.parametrize("case", cases(ALL), ids=ids)
def test_paying_conversion(case: tuple, params: dict) -> None:
    name, tz, as_of = case
    events = dataset(name)
    actual = userops.paying_conversion(events, tz=tz, as_of=as_of, **params)
    ref = Reference(events, tz=tz, as_of=as_of).paying_conversion(**params)
    assert_same(actual, ref)


ACTIVATION_PARAMS = [
    {},
    {"window_days": 1, "period": "week"},
    {"window_days": 30, "period": "day", "acquisition_events": None},
    {"activation_event": "order", "acquisition_events": ["signup", "visit"]},
]


@pytest.mark.parametrize("params", ACTIVATION_PARAMS, ids=str)
@pytest.mark.parametrize("case", cases(ALL), ids=ids)
def test_activation(case: tuple, params: dict) -> None:
    name, tz, as_of = case
    events = dataset(name)
    actual = userops.activation(events, tz=tz, as_of=as_of, **params)
    ref = Reference(events, tz=tz, as_of=as_of).activation(**params)
    assert_same(actual, ref)


RETENTION_PARAMS = [
    {},
    {"kind": "unbounded"},
    {"mode": "rolling"},
    {"mode": "rolling", "kind": "unbounded", "period": "week"},
    {"period": "week", "return_events": ["order"], "max_offset": 4},
    {"period": "day", "mode": "rolling", "max_offset": 40, "acquisition_events": None},
    {"period": "day", "return_events": ["visit", "order"], "breakdown": "channel"},
    {"breakdown": "channel", "kind": "unbounded", "acquisition_events": ["signup", "activate"]},
    {"breakdown": "channel", "mode": "rolling", "return_events": ["activate"]},
]


@pytest.mark.parametrize("params", RETENTION_PARAMS, ids=str)
@pytest.mark.parametrize("case", cases(ALL), ids=ids)
def test_retention(case: tuple, params: dict) -> None:
    name, tz, as_of = case
    events = dataset(name)
    actual = userops.retention(events, tz=tz, as_of=as_of, **params)
    p = dict(params)
    group = p.pop("breakdown", None)
    ref = Reference(events, tz=tz, as_of=as_of).retention(group=group, **p)
    assert_same(actual, ref)


LTV_PARAMS = [
    {},
    {"period": "week", "max_offset": 6},
    {"period": "day", "acquisition_events": None},
    {"spend": "dates"},
    {"spend": "dates", "breakdown": "channel"},
    {"spend": "timestamps", "breakdown": "channel", "period": "week"},
    {"breakdown": "channel", "max_offset": 2},
]


@pytest.mark.parametrize("params", LTV_PARAMS, ids=str)
@pytest.mark.parametrize("case", cases(ALL), ids=ids)
def test_ltv(case: tuple, params: dict) -> None:
    name, tz, as_of = case
    events = dataset(name)
    p = dict(params)
    spend = {"dates": SPEND_DATES, "timestamps": SPEND_TIMESTAMPS, None: None}[p.pop("spend", None)]
    actual = userops.ltv(events, tz=tz, as_of=as_of, spend=spend, **p)
    group = p.pop("breakdown", None)
    ref = Reference(events, tz=tz, as_of=as_of).ltv(spend=spend, group=group, **p)
    assert_same(actual, ref)


@pytest.mark.parametrize("metric", ["retention", "ltv"])
@pytest.mark.parametrize("case", cases(["ties", "random_1", "shop_1"]), ids=ids)
def test_breakdown_by_segmenter(case: tuple, metric: str) -> None:
    """Retention and LTV by RFM segment in one call; users without a segment form the null group."""
    name, tz, as_of = case
    events = dataset(name)
    segments = userops.rfm(events, tz=tz, as_of=as_of).select(["user_id", "segment"])
    actual = getattr(userops, metric)(events, tz=tz, as_of=as_of, breakdown=segments)
    ref = getattr(Reference(events, tz=tz, as_of=as_of, labels=segments), metric)(group="segment")
    assert_same(actual, ref)


def test_breakdown_through_analyze_matches_the_direct_call() -> None:
    events = dataset("shop_1")
    out = userops.analyze(
        events, {"rfm": {}, "retention": {"breakdown": "rfm", "max_offset": 5}, "ltv": {"breakdown": "rfm"}}
    )
    segments = out["rfm"].select(["user_id", "segment"])
    assert_same(out["retention"], userops.retention(events, breakdown=segments, max_offset=5))
    assert_same(out["ltv"], userops.ltv(events, breakdown=segments))


# --------------------------------------------------------------------------------------
# Hand-checked facts (SPEC examples that the reference could share a mistake about)
# --------------------------------------------------------------------------------------


def test_acquisition_ties_take_the_smallest_non_null_channel() -> None:
    acq = userops.acquisition(dataset("ties"), period="day").to_pylist()
    jan10 = {r["channel"]: r["new_users"] for r in acq if r["period"] == dt.date(2024, 1, 10)}
    # Users 1 (ads beats social and null), 4 and 6 by ads; user 2 has only null channels.
    assert jan10 == {"(none)": 1, "ads": 3}


def test_censored_users_are_in_progress_not_drop_offs() -> None:
    conv = userops.paying_conversion(dataset("censor"), period="month").to_pylist()
    may = {(r["channel"]): r for r in conv if r["cohort"] == dt.date(2024, 5, 1)}
    # May, ads: users 1 and 2 converted (user 2 at D, exactly 30 days after acquisition);
    # user 3 was acquired 29 days 23 hours before D: in progress. June: all in progress.
    assert (may["ads"]["eligible"], may["ads"]["converted"], may["ads"]["in_progress"]) == (2, 2, 1)
    june = [r for r in conv if r["cohort"] == dt.date(2024, 6, 1)]
    assert all(r["eligible"] == 0 and r["rate"] is None for r in june)
    act = userops.activation(dataset("censor"), period="month").to_pylist()
    june = [r for r in act if r["cohort"] == dt.date(2024, 6, 1)][0]
    # User 4: window closes exactly at D and activates at D (counted); user 6 activates 1 µs too late.
    assert (june["eligible"], june["activated"], june["in_progress"]) == (2, 1, 2)


def test_refunds_never_convert_and_lower_ltv() -> None:
    conv = userops.paying_conversion(dataset("refunds"), window_days=30).to_pylist()
    feb = {r["channel"]: r for r in conv}
    # ads: user 1 only refunds within 30 days; user 2 buys on day 1. social: user 3's
    # purchase before signup does not count; user 4's null-amount order does.
    assert (feb["ads"]["converted"], feb["social"]["converted"]) == (1, 1)
    ltv = userops.ltv(dataset("refunds"), breakdown="channel").to_pylist()
    ads = [r for r in ltv if r["channel"] == "ads"]
    assert [round(r["cumulative_revenue"], 6) for r in ads][:2] == [-15.0, 0.0]


def test_a_shanghai_month_starts_at_16_utc() -> None:
    utc_table = userops.acquisition(dataset("midnight")).to_pylist()
    sh_table = userops.acquisition(dataset("midnight"), tz="Asia/Shanghai").to_pylist()
    jan = lambda t: sum(r["new_users"] for r in t if r["period"] == dt.date(2024, 1, 1))  # noqa: E731
    assert (jan(utc_table), jan(sh_table)) == (2, 1)


def test_periods_without_new_users_are_not_cohorts_but_keep_spend() -> None:
    acq = userops.acquisition(dataset("gaps"), spend=SPEND_DATES).to_pylist()
    feb = [r for r in acq if r["period"] == dt.date(2024, 2, 1)]
    assert {r["channel"]: (r["new_users"], r["cac"]) for r in feb} == {"(none)": (0, None), "social": (0, None)}
    cohorts = [r["cohort"] for r in userops.retention(dataset("gaps")).to_pylist() if r["offset"] == 0]
    assert cohorts == [dt.date(2024, 1, 1), dt.date(2024, 4, 1), dt.date(2024, 6, 1)]


def test_pivot_triangle_spreads_offsets() -> None:
    table = userops.retention(dataset("gaps"))
    tri = userops.pivot_triangle(table, values="retained")
    assert tri.column_names == ["cohort", "cohort_size", "0", "1", "2", "3", "4", "5", "6"]
    assert tri.column("0").to_pylist() == [2, 2, 1]
    assert tri.column("6").to_pylist() == [0, None, None]
    by_channel = userops.pivot_triangle(userops.retention(dataset("gaps"), breakdown="channel"))
    assert by_channel.column_names[:3] == ["channel", "cohort", "cohort_size"]


def test_spend_and_breakdown_errors_name_the_parameter() -> None:
    with pytest.raises(userops.ParameterError, match="period_start"):
        userops.acquisition(dataset("gaps"), spend={"channel": ["a"], "period_start": ["x"], "spend": [1.0]})
    with pytest.raises(userops.ParameterError, match="breakdown"):
        userops.retention(dataset("gaps"), breakdown="country")
    segments = userops.rfm(dataset("gaps")).select(["user_id", "segment"])
    with pytest.raises(userops.ParameterError, match="spend"):
        userops.ltv(dataset("gaps"), spend=SPEND_DATES, breakdown=segments)
    with pytest.raises(userops.ParameterError, match="acquisition_events"):
        userops.retention(dataset("gaps"), acquisition_events=[])
