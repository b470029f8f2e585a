"""Lifecycle, stages, transitions, churn warning and tiers against DuckDB SQL.

The references below are written from SPEC.md (§1 input rules, §8 lifecycle, §11
segmenters) and docs/lifecycle.md (the decisions where SPEC is silent), not from the
Rust code: every number userops returns is recomputed here in DuckDB SQL over the
same Arrow table and compared, integers and instants exactly, floats within 1e-9.

Reference definitions, in one place:
- valid rows: user_id and ts not null, and ts <= as_of when as_of is given;
  D = as_of, or max(ts) over valid rows of any event; a bare date is the end of that
  day in the run's time zone; activity = any valid row, or rows of activity_events;
- local calendar: DuckDB ``timezone(tz, ts)``; weeks are ISO (``date_trunc('week')``);
- lifecycle: per user the set of local periods with activity; new = first period,
  returning = active in P and P-1 (not new), resurrecting = active in P, not in P-1,
  not new; dormant = active in P-1, not in P (negative); periods from the first with
  activity to the period of D; complete = the period's last microsecond <= D;
- stage as of A over distinct activity instants <= A: the five rules of SPEC §8 with
  ``A - t <= N days`` and a gap ``> churn_days`` between consecutive instants ending
  at most active_days before A; days_inactive = (A - last) // 1 day;
- transitions: stage at A1 (or ``none``) × stage at A2, all 30 pairs;
- churn warning: distinct local active days; median (quantile_cont 0.5) of the
  consecutive differences; days_inactive = date(D) - last day; flagged = ratio >
  threshold; revenue = exact micro-unit sum of the revenue event's amounts;
- tiers: features over rows with ``D - ts <= period_days days`` (days_since_last over
  all rows), each rule written a second time as a SQL condition by hand.
"""

from __future__ import annotations

import datetime as dt
import doctest
import functools
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pytest

import userops
from _reference import as_of_micros as micros
from _reference import assert_tables_close, cached_datasets, events, quiet, shop, sql_list, utc

UTC = dt.timezone.utc
DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000
ZONES = ["UTC", "Asia/Shanghai", "America/New_York"]
STAGES = ["new", "resurrected", "active", "at_risk", "churned"]

# --------------------------------------------------------------------------------------
# Input tables
# --------------------------------------------------------------------------------------

A = dt.datetime(2024, 6, 1, tzinfo=UTC)  # the end of the boundary data


def before(days: float, micros: int = 0) -> dt.datetime:
    """``days`` days (and ``micros`` µs) before 2024-06-01 00:00 UTC."""
    return A - dt.timedelta(days=days, microseconds=micros)


# Every stage boundary of SPEC §8 (A = D = 2024-06-01 00:00 UTC, default thresholds).
STAGE_BOUNDARIES = [
    (1, before(30), "visit", None),  # first activity exactly new_days before A: new
    (2, before(40), "visit", None), (2, before(30), "visit", None),  # last exactly active_days: active
    (3, before(200), "visit", None), (3, before(90), "visit", None),  # exactly churn_days: at_risk
    (4, before(200), "visit", None), (4, before(90, 1), "visit", None),  # a microsecond more: churned
    (5, before(200), "visit", None), (5, before(10), "order", 12.5),  # long gap ends 10 days ago: resurrected
    (6, before(200), "visit", None), (6, before(110), "visit", None),
    (6, before(20), "visit", None),  # a gap of exactly 90 days is not longer: active
    (7, before(300), "visit", None), (7, before(150), "visit", None),
    (7, before(30), "visit", None),  # a long gap ending exactly active_days before A: resurrected
    (8, before(100), "visit", None), (8, before(5), "visit", None),
    (8, before(5), "visit", None), (8, before(5), "order", 3.0),  # one instant three times: resurrected
    (9, before(31), "visit", None), (9, before(30, -1), "visit", None),  # first 31 days ago: active
    (10, before(95), "invite", None), (10, before(1), "invite", None),  # only invites
    (11, before(400), "visit", None),  # churned long ago
    (12, before(0), "visit", None),  # sets D
]

# Lifecycle: a month with no activity at all, a user only in the first period, a
# user only in the last period, returns after one and after several silent months.
GAP_MONTH = [
    (1, utc(2024, 1, 5), "visit", None),  # only in the first period
    (2, utc(2024, 1, 9), "visit", None), (2, utc(2024, 2, 9), "order", 20.0),
    (2, utc(2024, 4, 1), "visit", None),  # January, February, then April: resurrecting
    (3, utc(2024, 2, 20), "signup", None), (3, utc(2024, 2, 21), "visit", None),
    (4, utc(2024, 1, 31, 23, 59), "visit", None), (4, utc(2024, 4, 30, 23, 59), "visit", None),
    (5, utc(2024, 4, 2), "invite", None),  # only an invite, in the last period
    (6, utc(2024, 2, 29, 12), "visit", None), (6, utc(2024, 2, 29, 13), "visit", None),
]

# Instants around local midnight in Shanghai (16:00 UTC) and New York (04:00/05:00 UTC),
# at month ends and on Sunday/Monday boundaries.
MIDNIGHTS = [
    (u, utc(2024, m, d, h, mi) + dt.timedelta(microseconds=us), e, a)
    for u, (m, d, h, mi, us, e, a) in enumerate(
        [
            (1, 31, 15, 59, 999_999, "visit", None),  # Jan 31 23:59:59.999999 in Shanghai
            (1, 31, 16, 0, 0, "visit", None),  # Feb 1 00:00 in Shanghai
            (2, 29, 16, 0, 0, "order", 8.0),  # Mar 1 in Shanghai
            (3, 31, 3, 59, 0, "visit", None),  # Mar 30 23:59 in New York (EDT)
            (3, 31, 4, 0, 0, "visit", None),  # Mar 31 00:00 in New York
            (4, 1, 3, 59, 0, "visit", None),  # Mar 31 23:59 in New York
            (4, 1, 4, 0, 0, "order", 3.0),  # Apr 1 00:00 in New York
            (3, 10, 15, 59, 0, "visit", None),  # Sun Mar 10 23:59 in Shanghai
            (3, 10, 16, 0, 0, "visit", None),  # Mon Mar 11 00:00 in Shanghai
            (3, 10, 6, 30, 0, "visit", None),  # the New York DST change day
            (5, 31, 16, 0, 0, "visit", None),
            (6, 30, 15, 59, 0, "visit", None),
            (6, 30, 16, 0, 0, "visit", None),
        ]
        * 3,
    )
]
MIDNIGHTS = [(1 + (i % 7), t, e, a) for i, (_, t, e, a) in enumerate(MIDNIGHTS)]


def random_events(seed: int, users: int = 150, rows: int = 2500) -> pa.Table:
    """Random logs over ~14 months, many instants near local midnights, ties, nulls."""
    rng = np.random.default_rng(seed)
    user = rng.integers(1, users + 1, rows)
    day = rng.integers(0, 420, rows)
    hour = rng.choice([0, 3, 4, 5, 12, 15, 16, 23], rows)
    minute = rng.choice([0, 30, 59], rows)
    ts = (
        np.datetime64("2024-01-01T00:00", "us")
        + day.astype("timedelta64[D]")
        + hour.astype("timedelta64[h]")
        + minute.astype("timedelta64[m]")
    )
    name = rng.choice(["visit", "visit", "order", "signup", "invite", "points"], rows)
    amount = rng.choice([0.0, 5.0, 10.0, 99.99, 500.0, -5.0, np.nan], rows)
    amount = np.where((name == "order") | (name == "points"), amount, np.nan)
    return pa.table(
        {
            "user_id": pa.array(user, pa.int64(), mask=rng.random(rows) < 0.01),
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC"), mask=rng.random(rows) < 0.01),
            "event": pa.array(name).dictionary_encode(),
            "amount": pa.array(amount, pa.float64(), from_pandas=True),
        }
    )


DATASETS: dict[str, Any] = {
    "boundaries": lambda: events(STAGE_BOUNDARIES),
    "gap_month": lambda: events(GAP_MONTH),
    "gap_month_naive_ms": lambda: events(GAP_MONTH).set_column(
        1, "ts", events(GAP_MONTH).column("ts").cast(pa.timestamp("ms"))
    ),
    "midnights": lambda: events(MIDNIGHTS),
    "string_ids": lambda: events(
        [(f"u{u}", t, e, a) for u, t, e, a in STAGE_BOUNDARIES + GAP_MONTH], user_type=pa.string()
    ),
    "random_1": lambda: random_events(1),
    "random_2": lambda: random_events(2, users=40, rows=1500),
    "shop_1": lambda: shop(3000, 1),
    "shop_7": lambda: shop(1500, 7),
    "empty": lambda: events([]),
}
SMALL = [n for n in DATASETS if not n.startswith("shop")]


dataset = cached_datasets(DATASETS)


# --------------------------------------------------------------------------------------
# The DuckDB reference
# --------------------------------------------------------------------------------------


class Reference:
    """SPEC §8/§11 in DuckDB SQL over one Arrow table, one time zone, one as_of."""

    def __init__(self, table: pa.Table, tz: str = "UTC", as_of_us: int | None = None, activity: list[str] | None = None):
        ts = table.column("ts")
        if ts.type.tz is None:  # a timestamp without a time zone is a UTC instant
            table = table.set_column(table.schema.get_field_index("ts"), "ts", ts.cast(pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC")))
        self.con = duckdb.connect()
        self.con.execute("SET threads = 1")
        self.con.register("events_in", table)
        self.tz = tz
        as_of = "NULL" if as_of_us is None else str(int(as_of_us))
        activity_filter = "TRUE" if activity is None else f"event IN ({sql_list(activity)})"
        self.con.execute(
            f"""
            CREATE TEMP TABLE valid AS
            SELECT user_id, ts, epoch_us(ts) AS t, CAST(event AS VARCHAR) AS event, amount,
                   CAST(round(amount * 1000000) AS HUGEINT) AS micros,
                   CAST(timezone('{tz}', ts) AS DATE) AS local_day
            FROM events_in
            WHERE user_id IS NOT NULL AND ts IS NOT NULL AND ({as_of} IS NULL OR epoch_us(ts) <= {as_of});
            CREATE TEMP TABLE d AS SELECT coalesce({as_of}, (SELECT max(t) FROM valid)) AS d;
            CREATE TEMP TABLE act AS SELECT * FROM valid WHERE coalesce({activity_filter}, FALSE);
            """
        )
        (self.d,) = self.con.execute("SELECT d FROM d").fetchall()[0]

    def local_date_of(self, instant_us: int) -> str:
        return f"CAST(timezone('{self.tz}', timezone('UTC', make_timestamp({int(instant_us)}))) AS DATE)"

    def lifecycle(self, period: str = "month", segments: pa.Table | None = None) -> pa.Table:
        step = f"INTERVAL 1 {period}"
        if segments is not None:
            self.con.register("seg_in", segments)
            seg_join = "LEFT JOIN seg_in s ON s.user_id = a.user_id"
            seg_col = "s.segment"
            labels = (
                "SELECT DISTINCT segment FROM seg_in WHERE segment IS NOT NULL"
                " UNION ALL SELECT NULL WHERE EXISTS (SELECT 1 FROM ap WHERE segment IS NULL)"
            )
        else:
            seg_join, seg_col, labels = "", "CAST(NULL AS VARCHAR)", "SELECT CAST(NULL AS VARCHAR) AS segment"
        d = self.d
        table = self.con.sql(
            f"""
            WITH ap AS (
              SELECT DISTINCT a.user_id, {seg_col} AS segment,
                     CAST(date_trunc('{period}', timezone('{self.tz}', a.ts)) AS DATE) AS p
              FROM act a {seg_join}
            ), firsts AS (SELECT user_id, min(p) AS first_p FROM ap GROUP BY user_id),
            bounds AS (
              SELECT min(p) AS lo,
                     CAST(date_trunc('{period}', timezone('{self.tz}', timezone('UTC', make_timestamp({d or 0})))) AS DATE) AS hi
              FROM ap
            ), series AS (
              SELECT CAST(unnest(generate_series(lo, hi, {step})) AS DATE) AS p FROM bounds WHERE lo IS NOT NULL
            ), labels AS ({labels}),
            cur AS (
              SELECT a.user_id, a.segment, a.p, f.first_p, b.user_id IS NOT NULL AS prev_active
              FROM ap a JOIN firsts f USING (user_id)
              LEFT JOIN ap b ON b.user_id = a.user_id AND b.p = CAST(a.p - {step} AS DATE)
            ), agg AS (
              SELECT segment, p,
                     count(*) FILTER (WHERE p = first_p) AS new,
                     count(*) FILTER (WHERE p <> first_p AND prev_active) AS returning,
                     count(*) FILTER (WHERE p <> first_p AND NOT prev_active) AS resurrecting
              FROM cur GROUP BY segment, p
            ), dorm AS (
              SELECT b.segment, CAST(b.p + {step} AS DATE) AS p, count(*) AS dormant
              FROM ap b LEFT JOIN ap a ON a.user_id = b.user_id AND a.p = CAST(b.p + {step} AS DATE)
              WHERE a.user_id IS NULL GROUP BY 1, 2
            )
            SELECT l.segment, s.p AS period,
                   CAST(coalesce(g.new, 0) AS BIGINT) AS new,
                   CAST(coalesce(g.returning, 0) AS BIGINT) AS returning,
                   CAST(coalesce(g.resurrecting, 0) AS BIGINT) AS resurrecting,
                   CAST(-coalesce(x.dormant, 0) AS BIGINT) AS dormant,
                   CAST(coalesce(g.new, 0) + coalesce(g.returning, 0) + coalesce(g.resurrecting, 0) AS BIGINT) AS active,
                   CAST(coalesce(g.new, 0) + coalesce(g.resurrecting, 0) AS DOUBLE) / nullif(coalesce(x.dormant, 0), 0)
                     AS quick_ratio,
                   epoch_us(timezone('{self.tz}', CAST(s.p + {step} AS TIMESTAMP))) - 1 <= {d or 0} AS complete
            FROM labels l CROSS JOIN series s
            LEFT JOIN agg g ON g.segment IS NOT DISTINCT FROM l.segment AND g.p = s.p
            LEFT JOIN dorm x ON x.segment IS NOT DISTINCT FROM l.segment AND x.p = s.p
            ORDER BY l.segment NULLS LAST, s.p
            """
        ).to_arrow_table()
        return table if segments is not None else table.drop_columns(["segment"])

    def stage_sql(self, at_us: int, new_days: int = 30, active_days: int = 30, churn_days: int = 90) -> str:
        a = int(at_us)
        return f"""
            WITH acts AS (SELECT DISTINCT user_id, t FROM act WHERE t <= {a}),
            g AS (SELECT user_id, t, t - lag(t) OVER (PARTITION BY user_id ORDER BY t) AS gap FROM acts),
            per AS (
              SELECT user_id, min(t) AS first_t, max(t) AS last_t,
                     coalesce(bool_or(gap > {churn_days} * {DAY_US} AND {a} - t <= {active_days} * {DAY_US}), FALSE)
                       AS long_gap
              FROM g GROUP BY user_id
            )
            SELECT user_id,
                   CASE WHEN {a} - first_t <= {new_days} * {DAY_US} THEN 'new'
                        WHEN {a} - last_t <= {active_days} * {DAY_US} AND long_gap THEN 'resurrected'
                        WHEN {a} - last_t <= {active_days} * {DAY_US} THEN 'active'
                        WHEN {a} - last_t <= {churn_days} * {DAY_US} THEN 'at_risk'
                        ELSE 'churned' END AS stage,
                   first_t AS first_seen, last_t AS last_seen,
                   CAST(({a} - last_t) // {DAY_US} AS BIGINT) AS days_inactive
            FROM per
        """

    def lifecycle_stage(self, at_us: int | None = None, **thresholds: int) -> pa.Table:
        a = self.d if at_us is None else at_us
        if a is None:
            return pa.table({c: [] for c in ["user_id", "stage", "first_seen", "last_seen", "days_inactive", "segment"]})
        return self.con.sql(
            f"SELECT *, stage AS segment FROM ({self.stage_sql(a, **thresholds)}) ORDER BY user_id"
        ).to_arrow_table()

    def stage_transitions(self, start_us: int, end_us: int, **thresholds: int) -> pa.Table:
        return self.con.sql(
            f"""
            WITH s1 AS ({self.stage_sql(start_us, **thresholds)}), s2 AS ({self.stage_sql(end_us, **thresholds)}),
            pairs AS (
              SELECT coalesce(s1.stage, 'none') AS from_stage, s2.stage AS to_stage, count(*) AS users
              FROM s2 LEFT JOIN s1 USING (user_id) GROUP BY 1, 2
            ),
            f AS (SELECT * FROM (VALUES ('none', 0), {", ".join(f"('{s}', {i + 1})" for i, s in enumerate(STAGES))}) v(stage, pos)),
            t AS (SELECT * FROM (VALUES {", ".join(f"('{s}', {i})" for i, s in enumerate(STAGES))}) v(stage, pos)),
            m AS (
              SELECT f.stage AS from_stage, t.stage AS to_stage, CAST(coalesce(p.users, 0) AS BIGINT) AS users, f.pos AS fp, t.pos AS tp
              FROM f CROSS JOIN t LEFT JOIN pairs p ON p.from_stage = f.stage AND p.to_stage = t.stage
            )
            SELECT from_stage, to_stage, users,
                   CAST(users AS DOUBLE) / nullif(sum(users) OVER (PARTITION BY from_stage), 0) AS share
            FROM m ORDER BY fp, tp
            """
        ).to_arrow_table()

    def churn_warning(
        self, threshold: float = 2.0, min_active_days: int = 3, revenue_event: str = "order"
    ) -> pa.Table:
        if self.d is None:
            return pa.table({c: [] for c in ["user_id", "days_inactive", "median_gap_days", "risk_ratio", "revenue", "flagged"]})
        return self.con.sql(
            f"""
            WITH days AS (SELECT DISTINCT user_id, local_day FROM act),
            g AS (SELECT user_id, local_day, local_day - lag(local_day) OVER (PARTITION BY user_id ORDER BY local_day) AS gap FROM days),
            per AS (
              SELECT user_id, max(local_day) AS last_day, quantile_cont(gap, 0.5) AS med
              FROM g GROUP BY user_id HAVING count(*) >= {min_active_days}
            ),
            rev AS (SELECT user_id, sum(coalesce(micros, 0)) AS net FROM valid WHERE event = '{revenue_event}' GROUP BY user_id),
            out AS (
              SELECT p.user_id, CAST({self.local_date_of(self.d)} - p.last_day AS BIGINT) AS days_inactive,
                     CAST(p.med AS DOUBLE) AS median_gap_days, coalesce(r.net, 0) AS net
              FROM per p LEFT JOIN rev r USING (user_id)
            )
            SELECT user_id, days_inactive, median_gap_days, days_inactive / median_gap_days AS risk_ratio,
                   CAST(net AS DOUBLE) / 1e6 AS revenue, days_inactive / median_gap_days > {threshold!r} AS flagged
            FROM out ORDER BY flagged DESC, net DESC, user_id
            """
        ).to_arrow_table()

    def tiers(self, rules: list[tuple[str, str]], period_days: int | None = 7, default_tier: str = "other") -> pa.Table:
        """``rules``: (label, SQL condition over the feature columns below)."""
        in_window = "TRUE" if period_days is None else f"{self.d or 0} - t <= {period_days} * {DAY_US}"
        case = " ".join(f"WHEN {cond} THEN '{label}'" for label, cond in rules)
        case = f"CASE {case} ELSE '{default_tier}' END" if rules else f"'{default_tier}'"
        return self.con.sql(
            f"""
            WITH f AS (
              SELECT user_id,
                     count(*) FILTER (WHERE {in_window}) AS events,
                     count(*) FILTER (WHERE {in_window} AND event = 'visit') AS events_visit,
                     count(*) FILTER (WHERE {in_window} AND event = 'order') AS events_order,
                     count(*) FILTER (WHERE {in_window} AND event = 'add to cart') AS events_add_to_cart,
                     CAST(coalesce(sum(coalesce(micros, 0)) FILTER (WHERE {in_window} AND event = 'points'), 0) AS DOUBLE) / 1e6
                       AS amount_points,
                     CAST(coalesce(sum(coalesce(micros, 0)) FILTER (WHERE {in_window} AND event = 'order'), 0) AS DOUBLE) / 1e6
                       AS revenue,
                     count(*) FILTER (WHERE {in_window} AND event = 'order' AND (amount >= 0 OR amount IS NULL)) AS purchases,
                     count(DISTINCT local_day) FILTER (WHERE {in_window}) AS active_days,
                     ({self.d or 0} - max(t)) // {DAY_US} AS days_since_last
              FROM valid GROUP BY user_id
            )
            SELECT user_id, {case} AS tier, {case} AS segment FROM f ORDER BY user_id
            """
        ).to_arrow_table()


@functools.cache
def reference(name: str, tz: str = "UTC", as_of_us: int | None = None, activity: tuple[str, ...] | None = None) -> Reference:
    return Reference(dataset(name), tz, as_of_us, None if activity is None else list(activity))


# --------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------


def plain(table: pa.Table) -> pa.Table:
    """Timestamps as int64 microseconds, so instants compare exactly."""
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(pa.timestamp("us")).cast(pa.int64()))
    return table


def assert_same(got: pa.Table, expected: pa.Table, what: str) -> None:
    """Same column names, same row count, same values row by row (floats within a relative
    1e-9, no absolute tolerance), timestamps compared as instants (``plain``)."""
    assert_tables_close(plain(got), plain(expected), what, abs_tol=0.0)


# --------------------------------------------------------------------------------------
# lifecycle
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("activity", [None, ("visit", "order")], ids=["any", "visit_order"])
@pytest.mark.parametrize("period", ["month", "week", "day"])
@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize("name", list(DATASETS), ids=str)
def test_lifecycle(name: str, tz: str, period: str, activity: tuple[str, ...] | None) -> None:
    got = quiet(userops.lifecycle, dataset(name), period=period, tz=tz, activity_events=activity)
    expected = reference(name, tz, None, activity).lifecycle(period)
    assert got.schema.field("period").type == pa.date32()
    assert_same(got, expected, f"lifecycle[{name}, {tz}, {period}, {activity}]")


AS_OF_CASES = {
    # (dataset, as_of, tz)
    "date_utc": ("gap_month", dt.date(2024, 2, 21), "UTC"),
    "month_end_date": ("gap_month", dt.date(2024, 2, 29), "UTC"),  # February complete
    "month_end_date_shanghai": ("midnights", dt.date(2024, 3, 31), "Asia/Shanghai"),
    "after_the_data": ("gap_month", dt.datetime(2024, 7, 15, tzinfo=UTC), "UTC"),  # silent months listed
    "instant_ny": ("midnights", dt.datetime(2024, 4, 1, 3, 59, tzinfo=UTC), "America/New_York"),
    "shop_date": ("shop_1", dt.date(2024, 6, 30), "Asia/Shanghai"),
    "shop_naive": ("shop_7", dt.datetime(2024, 9, 15, 8, 30), "America/New_York"),
    "random": ("random_1", dt.date(2024, 11, 30), "Asia/Shanghai"),
}


@pytest.mark.parametrize("case", list(AS_OF_CASES), ids=str)
def test_lifecycle_as_of(case: str) -> None:
    name, as_of, tz = AS_OF_CASES[case]
    ref = reference(name, tz, micros(as_of, tz))
    for period in ("month", "week", "day"):
        got = quiet(userops.lifecycle, dataset(name), period=period, tz=tz, as_of=as_of)
        assert_same(got, ref.lifecycle(period), f"lifecycle[{case}, {period}]")


def test_lifecycle_hand_values() -> None:
    """SPEC §8 spelled out: a silent month, a first-period-only user, the period of D."""
    rows = userops.lifecycle(dataset("gap_month")).to_pylist()
    assert [r["period"] for r in rows] == [dt.date(2024, m, 1) for m in (1, 2, 3, 4)]
    assert [(r["new"], r["returning"], r["resurrecting"], r["dormant"]) for r in rows] == [
        (3, 0, 0, 0),  # users 1, 2, 4
        (2, 1, 0, -2),  # 3 and 6 new, 2 returning; 1 and 4 dormant
        (0, 0, 0, -3),  # nobody active: 2, 3, 6 dormant
        (1, 0, 2, 0),  # 5 new (an invite is activity); 2 and 4 resurrecting
    ]
    assert [r["quick_ratio"] for r in rows] == [None, 1.0, 0.0, None]
    assert [r["complete"] for r in rows] == [True, True, True, False]
    # as_of the bare date that ends April: April is fully observed.
    rows = userops.lifecycle(dataset("gap_month"), as_of=dt.date(2024, 4, 30)).to_pylist()
    assert rows[-1]["complete"] is True
    # In Shanghai, user 4's 2024-01-31 23:59 UTC is February 1 and 2024-04-30 23:59 UTC is May 1.
    rows = userops.lifecycle(dataset("gap_month"), tz="Asia/Shanghai").to_pylist()
    assert [r["new"] for r in rows] == [2, 3, 0, 1, 0]
    assert [r["resurrecting"] for r in rows] == [0, 0, 0, 1, 1]


# --------------------------------------------------------------------------------------
# lifecycle_stage and stage_transitions
# --------------------------------------------------------------------------------------

STAGE_PARAMS = {
    "default": {},
    "small": {"new_days": 7, "active_days": 10, "churn_days": 20},
    "new_0": {"new_days": 0, "active_days": 60, "churn_days": 14},
}


@pytest.mark.parametrize("params", list(STAGE_PARAMS), ids=str)
@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize("name", list(DATASETS), ids=str)
def test_lifecycle_stage(name: str, tz: str, params: str) -> None:
    p = STAGE_PARAMS[params]
    got = quiet(userops.lifecycle_stage, dataset(name), tz=tz, **p)
    assert_same(got, reference(name, tz).lifecycle_stage(**p), f"lifecycle_stage[{name}, {tz}, {params}]")
    if got.num_rows:
        assert got.schema.field("first_seen").type == pa.timestamp("us", tz=tz)


AT_CASES = {
    # (dataset, at, tz, activity)
    "boundaries_at_D": ("boundaries", A, "UTC", None),
    "boundaries_date": ("boundaries", dt.date(2024, 5, 31), "UTC", None),  # A = D - 1 µs
    "boundaries_orders": ("boundaries", A, "UTC", ("visit", "order")),
    "shop_date_shanghai": ("shop_1", dt.date(2024, 9, 30), "Asia/Shanghai", None),
    "shop_instant": ("shop_7", dt.datetime(2024, 5, 1, 16, 0, tzinfo=UTC), "UTC", ("order",)),
    "random_date_ny": ("random_1", dt.date(2024, 10, 31), "America/New_York", None),
    "after_the_data": ("gap_month", dt.date(2024, 8, 1), "UTC", None),
    "before_the_data": ("gap_month", dt.date(2023, 12, 31), "UTC", None),
}


@pytest.mark.parametrize("case", list(AT_CASES), ids=str)
def test_lifecycle_stage_at(case: str) -> None:
    name, at, tz, activity = AT_CASES[case]
    ref = reference(name, tz, None, activity)
    for params, p in STAGE_PARAMS.items():
        got = quiet(userops.lifecycle_stage, dataset(name), at=at, tz=tz, activity_events=activity, **p)
        assert_same(got, ref.lifecycle_stage(micros(at, tz), **p), f"lifecycle_stage[{case}, {params}]")


def test_lifecycle_stage_hand_values() -> None:
    rows = userops.lifecycle_stage(dataset("boundaries")).to_pylist()
    stages = {r["user_id"]: r["stage"] for r in rows}
    assert stages == {
        1: "new", 2: "active", 3: "at_risk", 4: "churned", 5: "resurrected", 6: "active",
        7: "resurrected", 8: "resurrected", 9: "active", 10: "resurrected", 11: "churned", 12: "new",
    }
    assert {r["user_id"]: r["days_inactive"] for r in rows}[4] == 90  # 90 days and 1 µs
    # Only visits and orders: user 10 (invites only) is not listed.
    rows = userops.lifecycle_stage(dataset("boundaries"), activity_events=["visit", "order"]).to_pylist()
    assert 10 not in {r["user_id"] for r in rows}


TRANSITION_CASES = {
    # (dataset, start, end, tz, activity)
    "boundaries": ("boundaries", dt.date(2024, 3, 1), A, "UTC", None),
    "shop_months": ("shop_1", dt.date(2024, 8, 31), dt.date(2024, 9, 30), "Asia/Shanghai", None),
    "shop_quarter": ("shop_7", dt.date(2024, 3, 31), dt.date(2024, 6, 30), "UTC", ("visit", "order")),
    "shop_after_D": ("shop_7", dt.date(2024, 11, 30), dt.date(2025, 3, 1), "UTC", None),
    "random_ny": ("random_1", dt.datetime(2024, 4, 1, 4), dt.date(2024, 7, 1), "America/New_York", None),
    "random_tiny": ("random_2", dt.date(2024, 6, 1), dt.date(2024, 6, 2), "Asia/Shanghai", None),
    "empty": ("empty", dt.date(2024, 1, 1), dt.date(2024, 2, 1), "UTC", None),
}


@pytest.mark.parametrize("case", list(TRANSITION_CASES), ids=str)
def test_stage_transitions(case: str) -> None:
    name, start, end, tz, activity = TRANSITION_CASES[case]
    ref = reference(name, tz, None, activity)
    for params, p in STAGE_PARAMS.items():
        got = quiet(userops.stage_transitions, dataset(name), start=start, end=end, tz=tz, activity_events=activity, **p)
        expected = ref.stage_transitions(micros(start, tz), micros(end, tz), **p)
        assert_same(got, expected, f"stage_transitions[{case}, {params}]")


def test_stage_transitions_hand_values() -> None:
    moves = userops.stage_transitions(dataset("gap_month"), start=dt.date(2024, 1, 31), end=dt.date(2024, 4, 30))
    pairs = {(r["from_stage"], r["to_stage"]): r["users"] for r in moves.to_pylist() if r["users"]}
    # As of Jan 31 23:59:59.999999: users 1, 2, 4 new. As of Apr 30 23:59:59.999999: 1 churned
    # (116 days), 2 active (a 52-day gap is short), 4 active (a gap of exactly 90 days is not
    # longer than churn_days), 3 and 6 (February only) at risk, 5 new.
    assert pairs == {("new", "churned"): 1, ("new", "active"): 2, ("none", "at_risk"): 2, ("none", "new"): 1}
    with pytest.raises(userops.ParameterError, match="start"):
        userops.stage_transitions(dataset("gap_month"), start=dt.date(2024, 4, 30), end=dt.date(2024, 1, 31))


# --------------------------------------------------------------------------------------
# churn_warning
# --------------------------------------------------------------------------------------

WARNING_PARAMS = {
    "default": {},
    "low": {"threshold": 1.0, "min_active_days": 2},
    "high": {"threshold": 3.5, "min_active_days": 5},
}


@pytest.mark.parametrize("params", list(WARNING_PARAMS), ids=str)
@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize("name", list(DATASETS), ids=str)
def test_churn_warning(name: str, tz: str, params: str) -> None:
    p = WARNING_PARAMS[params]
    got = quiet(userops.churn_warning, dataset(name), tz=tz, **p)
    assert_same(got, reference(name, tz).churn_warning(**p), f"churn_warning[{name}, {tz}, {params}]")


@pytest.mark.parametrize("case", ["date_utc", "month_end_date_shanghai", "after_the_data", "shop_date", "random"])
def test_churn_warning_as_of_and_activity(case: str) -> None:
    name, as_of, tz = AS_OF_CASES[case]
    got = quiet(userops.churn_warning, dataset(name), as_of=as_of, tz=tz, min_active_days=2)
    assert_same(got, reference(name, tz, micros(as_of, tz)).churn_warning(min_active_days=2), f"churn_warning[{case}]")
    got = quiet(userops.churn_warning, dataset(name), as_of=as_of, tz=tz, activity_events=["visit"], min_active_days=2)
    expected = reference(name, tz, micros(as_of, tz), ("visit",)).churn_warning(min_active_days=2)
    assert_same(got, expected, f"churn_warning[{case}, visits]")


def test_churn_warning_ties_are_sorted_by_user_id() -> None:
    got = userops.churn_warning(dataset("string_ids"), min_active_days=2).to_pylist()
    keys = [(not r["flagged"], -r["revenue"], r["user_id"]) for r in got]
    assert keys == sorted(keys)


# --------------------------------------------------------------------------------------
# tiers
# --------------------------------------------------------------------------------------

# (label, userops condition, the same condition in SQL over the reference's features)
TIER_RULES = {
    "activity_no_spend": [
        ("buyers", "purchases >= 1 and revenue > 0", "purchases >= 1 AND revenue > 0"),
        ("high activity, no spend", "events.visit >= 2 and revenue == 0", "events_visit >= 2 AND revenue = 0"),
        ("asleep", "days_since_last > 20", "days_since_last > 20"),
    ],
    "points": [
        (
            "points rich, no redemption",
            "amount.points >= 500 and not (events.order > 0)",
            "amount_points >= 500 AND NOT (events_order > 0)",
        ),
        ("refunded", "revenue < 0 or (purchases == 0 and events.order >= 1)", "revenue < 0 OR (purchases = 0 AND events_order >= 1)"),
        ("busy", "active_days * 2 + events / 10 >= 3", "active_days * 2 + events / 10.0 >= 3"),
        ("quoted", "events.'add to cart' > 0", "events_add_to_cart > 0"),
    ],
    "none": [],
}


@pytest.mark.parametrize("period_days", [7, 30, 0, None], ids=["7d", "30d", "0d", "all"])
@pytest.mark.parametrize("rules", list(TIER_RULES), ids=str)
@pytest.mark.parametrize("tz", ZONES)
@pytest.mark.parametrize("name", list(DATASETS), ids=str)
def test_tiers(name: str, tz: str, rules: str, period_days: int | None) -> None:
    r = TIER_RULES[rules]
    got = quiet(userops.tiers, dataset(name), [(label, cond) for label, cond, _ in r], period_days=period_days, tz=tz)
    expected = reference(name, tz).tiers([(label, sql) for label, _, sql in r], period_days=period_days)
    assert_same(got, expected, f"tiers[{name}, {tz}, {rules}, {period_days}]")


@pytest.mark.parametrize("case", ["date_utc", "after_the_data", "shop_date", "random"])
def test_tiers_as_of(case: str) -> None:
    name, as_of, tz = AS_OF_CASES[case]
    r = TIER_RULES["activity_no_spend"]
    got = quiet(userops.tiers, dataset(name), {label: cond for label, cond, _ in r}, as_of=as_of, tz=tz, default_tier="rest")
    expected = reference(name, tz, micros(as_of, tz)).tiers([(label, sql) for label, _, sql in r], default_tier="rest")
    assert_same(got, expected, f"tiers[{case}]")


def test_tiers_errors_name_the_bad_part() -> None:
    table = dataset("gap_month")
    with pytest.raises(userops.ParameterError, match=r"rules\[1\]: tier `b`: .* at `revenu` \(character 23\): unknown feature"):
        userops.tiers(table, [("a", "revenue > 0"), ("b", "events.visit >= 5 and revenu == 0")])
    with pytest.raises(userops.ParameterError, match="use `==`"):
        userops.tiers(table, [("a", "revenue = 0")])
    with pytest.raises(userops.ParameterError, match="a number where a condition is expected"):
        userops.tiers(table, [("a", "events.visit")])
    with pytest.raises(userops.ParameterError, match=r"rules\[0\] must be a \(label, condition\) pair"):
        userops.tiers(table, ["revenue > 0"])
    with pytest.raises(userops.ParameterError, match="rules must be a list"):
        userops.tiers(table, "revenue > 0")


# --------------------------------------------------------------------------------------
# Segmenters as breakdowns, analyze, options
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("tz", ["UTC", "Asia/Shanghai"])
@pytest.mark.parametrize("name", ["shop_7", "gap_month", "random_1", "boundaries"])
def test_segmenters_are_breakdowns(name: str, tz: str) -> None:
    """lifecycle broken down by lifecycle_stage and by tiers, in one pass, equals SQL per segment."""
    rules = [("buyers", "purchases >= 1"), ("visitors", "events.visit >= 2")]
    out = quiet(
        userops.analyze,
        dataset(name),
        {
            "stage": {"plugin": "lifecycle_stage"},
            "tier": {"plugin": "tiers", "rules": [list(r) for r in rules], "period_days": 30},
            "by_stage": {"plugin": "lifecycle", "breakdown": "stage", "period": "month"},
            "by_tier": {"plugin": "lifecycle", "breakdown": "tier", "period": "week"},
        },
        tz=tz,
    )
    ref = reference(name, tz)
    assert_same(out["stage"], ref.lifecycle_stage(), "analyze stage")
    seg = out["stage"].select(["user_id", "segment"])
    assert_same(out["by_stage"], ref.lifecycle(period="month", segments=seg), f"lifecycle by stage [{name}, {tz}]")
    seg = out["tier"].select(["user_id", "segment"])
    assert_same(out["by_tier"], ref.lifecycle(period="week", segments=seg), f"lifecycle by tier [{name}, {tz}]")
    # A segmenter's earlier output, passed as a table, gives the same result.
    again = quiet(userops.analyze, dataset(name), {"lifecycle": {"breakdown": out["stage"]}}, tz=tz)
    assert again["lifecycle"].equals(out["by_stage"])


def test_analyze_runs_every_lifecycle_plugin_in_one_pass() -> None:
    name, tz = "shop_1", "Asia/Shanghai"
    table = dataset(name)
    out = userops.analyze(
        table,
        {
            "lifecycle": {"period": "week", "activity_events": ["visit", "order"]},
            "lifecycle_stage": {"new_days": 14},
            "stage_transitions": {"start": micros(dt.date(2024, 10, 31), tz), "end": micros(dt.date(2024, 11, 30), tz)},
            "churn_warning": {"threshold": 3.0},
            "tiers": {"rules": [["buyers", "purchases >= 1"]]},
        },
        tz=tz,
    )
    assert out["lifecycle"].equals(userops.lifecycle(table, period="week", activity_events=["visit", "order"], tz=tz))
    assert out["lifecycle_stage"].equals(userops.lifecycle_stage(table, new_days=14, tz=tz))
    assert out["stage_transitions"].equals(
        userops.stage_transitions(table, start=dt.date(2024, 10, 31), end=dt.date(2024, 11, 30), tz=tz)
    )
    assert out["churn_warning"].equals(userops.churn_warning(table, threshold=3.0, tz=tz))
    assert out["tiers"].equals(userops.tiers(table, [("buyers", "purchases >= 1")], tz=tz))


def test_threads_and_batches_do_not_change_results() -> None:
    table = dataset("shop_7")
    shuffled = table.take(np.random.default_rng(3).permutation(table.num_rows))
    reader = pa.RecordBatchReader.from_batches(shuffled.schema, shuffled.to_batches(max_chunksize=777))
    plugins = {
        "lifecycle": {"period": "day"},
        "lifecycle_stage": {},
        "stage_transitions": {"end": micros(dt.date(2024, 12, 1), "UTC")},
        "churn_warning": {},
        "tiers": {"rules": [["a", "events >= 3"], ["b", "active_days >= 2"]], "period_days": 10},
    }
    one = userops.analyze(table, plugins, threads=1)
    many = userops.analyze(reader, plugins, threads=2)
    for key in plugins:
        assert one[key].equals(many[key]), key


def test_columns_and_bad_options() -> None:
    table = dataset("gap_month").rename_columns(["uid", "time", "what", "amount"])
    got = userops.lifecycle(table, columns={"user_id": "uid", "ts": "time", "event": "what"})
    assert got.equals(userops.lifecycle(dataset("gap_month")))
    with pytest.raises(userops.ColumnError, match="`event`"):
        userops.lifecycle(table, activity_events=["visit"], columns={"user_id": "uid", "ts": "time"})
    with pytest.raises(userops.ParameterError, match="at: 'tomorrow'"):
        userops.lifecycle_stage(dataset("gap_month"), at="tomorrow")
    with pytest.raises(userops.ParameterError, match="activity_events"):
        userops.lifecycle(dataset("gap_month"), activity_events=[])
    with pytest.raises(userops.ParameterError, match="min_active_days"):
        userops.churn_warning(dataset("gap_month"), min_active_days=1)
    with pytest.raises(userops.ParameterError, match="quarter"):
        userops.lifecycle(dataset("gap_month"), period="quarter")


def test_empty_input_gives_empty_tables_with_the_columns() -> None:
    empty = dataset("empty")
    full = dataset("gap_month")
    for fn, kwargs in [
        (userops.lifecycle, {}),
        (userops.lifecycle_stage, {}),
        (userops.churn_warning, {}),
        (userops.tiers, {"rules": [("a", "events > 0")]}),
    ]:
        e, f = fn(empty, **kwargs), fn(full, **kwargs)
        assert e.num_rows == 0 and e.column_names == f.column_names, fn.__name__


def test_docstring_examples_run() -> None:
    import userops._lifecycle as module

    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 5 and result.failed == 0
