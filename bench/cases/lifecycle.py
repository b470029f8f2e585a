"""Lifecycle (SPEC §8) and operator tiers (SPEC §11): userops vs DuckDB vs Polars.

All three engines compute the same thing from the raw event log:
- valid rows: ``user_id`` and ``ts`` not null; D = the latest valid ``ts``; activity = any event;
- ``lifecycle``: growth accounting per calendar month in Asia/Shanghai (new, returning,
  resurrecting, dormant as a negative count, active, quick ratio, complete);
- ``lifecycle_stage``: each user's stage as of D (new 30 days, active 30, churn 90;
  resurrected = a gap longer than 90 days ending at most 30 days before D), first and
  last seen (µs), whole days inactive;
- ``churn_warning``: distinct active days in Asia/Shanghai, users with >= 3 of them,
  median gap, days inactive to date(D), risk ratio, flagged above 2, net revenue;
- ``tiers``: features over the 7 days before D (visits, purchases, net revenue, active
  days) and days since the last event; the first of four rules that holds.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa

from cases import DAY_US, Case, canonical

TZ = "Asia/Shanghai"
NEW_DAYS, ACTIVE_DAYS, CHURN_DAYS = 30, 30, 90
THRESHOLD, MIN_ACTIVE_DAYS = 2.0, 3
PERIOD_DAYS = 7
RULES = [
    ("buyers", "purchases >= 1 and revenue > 0"),
    ("high activity, no spend", "events.visit >= 3 and revenue == 0"),
    ("asleep", "days_since_last > 30"),
    ("regulars", "active_days >= 2"),
]

LIFECYCLE_COLUMNS = ["period", "new", "returning", "resurrecting", "dormant", "active", "quick_ratio", "complete"]
STAGE_COLUMNS = ["user_id", "stage", "first_seen", "last_seen", "days_inactive"]
WARNING_COLUMNS = ["user_id", "days_inactive", "median_gap_days", "risk_ratio", "revenue", "flagged"]
TIER_COLUMNS = ["user_id", "tier"]

VALID_SQL = "user_id IS NOT NULL AND ts IS NOT NULL"


def _micros_of(value: dt.datetime) -> int:
    return (value - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) // dt.timedelta(microseconds=1)


def _instant(us: int) -> dt.datetime:
    return dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(microseconds=us)


def _timestamps_as_micros(table: pa.Table) -> pa.Table:
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(pa.timestamp("us")).cast(pa.int64()))
    return table


# ----------------------------------------------------------------------- lifecycle


def lifecycle_userops(table: pa.Table) -> pa.Table:
    import userops

    return userops.lifecycle(table, period="month", tz=TZ, progress=False)


LIFECYCLE_SQL = f"""
WITH valid AS (SELECT user_id, ts FROM events WHERE {VALID_SQL}),
d AS (SELECT max(ts) AS d FROM valid),
ap AS (SELECT DISTINCT user_id, CAST(date_trunc('month', timezone('{TZ}', ts)) AS DATE) AS p FROM valid),
firsts AS (SELECT user_id, min(p) AS first_p FROM ap GROUP BY user_id),
bounds AS (
  SELECT min(p) AS lo, CAST(date_trunc('month', timezone('{TZ}', (SELECT d FROM d))) AS DATE) AS hi FROM ap
),
series AS (SELECT CAST(unnest(generate_series(lo, hi, INTERVAL 1 MONTH)) AS DATE) AS p FROM bounds),
cur AS (
  SELECT a.p, a.p = f.first_p AS is_new, b.user_id IS NOT NULL AS prev_active
  FROM ap a JOIN firsts f USING (user_id)
  LEFT JOIN ap b ON b.user_id = a.user_id AND b.p = CAST(a.p - INTERVAL 1 MONTH AS DATE)
),
agg AS (
  SELECT p, count(*) FILTER (WHERE is_new) AS new,
         count(*) FILTER (WHERE NOT is_new AND prev_active) AS "returning",
         count(*) FILTER (WHERE NOT is_new AND NOT prev_active) AS resurrecting
  FROM cur GROUP BY p
),
dorm AS (
  SELECT CAST(b.p + INTERVAL 1 MONTH AS DATE) AS p, count(*) AS dormant
  FROM ap b ANTI JOIN ap a ON a.user_id = b.user_id AND a.p = CAST(b.p + INTERVAL 1 MONTH AS DATE)
  GROUP BY 1
)
SELECT s.p AS period, coalesce(new, 0) AS new, coalesce(agg."returning", 0) AS "returning",
       coalesce(resurrecting, 0) AS resurrecting, -coalesce(dormant, 0) AS dormant,
       coalesce(new, 0) + coalesce(agg."returning", 0) + coalesce(resurrecting, 0) AS active,
       CAST(coalesce(new, 0) + coalesce(resurrecting, 0) AS DOUBLE) / nullif(coalesce(dormant, 0), 0) AS quick_ratio,
       epoch_us(timezone('{TZ}', CAST(s.p + INTERVAL 1 MONTH AS TIMESTAMP))) - 1 <= epoch_us((SELECT d FROM d)) AS complete
FROM series s LEFT JOIN agg USING (p) LEFT JOIN dorm USING (p)
ORDER BY s.p
"""


def lifecycle_duckdb(con: Any, table: pa.Table) -> pa.Table:
    return con.sql(LIFECYCLE_SQL).to_arrow_table()


def _valid(pl: Any) -> Any:
    return pl.col("user_id").is_not_null() & pl.col("ts").is_not_null()


def lifecycle_polars(df: Any) -> Any:
    import polars as pl

    valid = df.lazy().filter(_valid(pl))
    d_us = valid.select(pl.col("ts").max().dt.epoch("us")).collect().item()
    local = pl.col("ts").dt.convert_time_zone(TZ)
    ap = valid.select("user_id", p=local.dt.year().cast(pl.Int32) * 12 + local.dt.month().cast(pl.Int32) - 1).unique()
    firsts = ap.group_by("user_id").agg(first_p=pl.col("p").min())
    prev = ap.select("user_id", p=pl.col("p") + 1, prev_active=pl.lit(True))
    is_new = pl.col("p") == pl.col("first_p")
    agg = (
        ap.join(firsts, on="user_id")
        .join(prev, on=["user_id", "p"], how="left")
        .group_by("p")
        .agg(
            new=is_new.sum(),
            returning=(~is_new & pl.col("prev_active").is_not_null()).sum(),
            resurrecting=(~is_new & pl.col("prev_active").is_null()).sum(),
        )
    )
    dorm = (
        ap.select("user_id", p=pl.col("p") + 1)
        .join(ap, on=["user_id", "p"], how="anti")
        .group_by("p")
        .agg(dormant=pl.len())
    )
    end_local = _instant(d_us).astimezone(ZoneInfo(TZ))
    lo = ap.select(pl.col("p").min()).collect().item()
    hi = end_local.year * 12 + end_local.month - 1
    counts = ["new", "returning", "resurrecting", "dormant"]
    out = (
        pl.LazyFrame({"p": pl.int_range(lo, hi + 1, dtype=pl.Int32, eager=True)})
        .join(agg, on="p", how="left")
        .join(dorm, on="p", how="left")
        .with_columns([pl.col(c).fill_null(0).cast(pl.Int64) for c in counts])
        .sort("p")
        .collect()
    )
    starts = [dt.date(p // 12, p % 12 + 1, 1) for p in out["p"]]
    next_starts = [dt.datetime(p // 12 + (p % 12 == 11), (p + 1) % 12 + 1, 1, tzinfo=ZoneInfo(TZ)) for p in out["p"]]
    return out.select(
        period=pl.Series(starts, dtype=pl.Date),
        new=pl.col("new"),
        returning=pl.col("returning"),
        resurrecting=pl.col("resurrecting"),
        dormant=-pl.col("dormant"),
        active=pl.col("new") + pl.col("returning") + pl.col("resurrecting"),
        quick_ratio=pl.when(pl.col("dormant") > 0)
        .then((pl.col("new") + pl.col("resurrecting")) / pl.col("dormant"))
        .otherwise(None),
        complete=pl.Series([_micros_of(n) - 1 <= d_us for n in next_starts]),
    )


def lifecycle_normalize(table: pa.Table) -> pa.Table:
    return canonical(table, LIFECYCLE_COLUMNS)


# ----------------------------------------------------------------- lifecycle_stage


def stage_userops(table: pa.Table) -> pa.Table:
    import userops

    return userops.lifecycle_stage(table, progress=False)


STAGE_SQL = f"""
WITH valid AS (SELECT user_id, epoch_us(ts) AS t FROM events WHERE {VALID_SQL}),
a AS (SELECT max(t) AS a FROM valid),
acts AS (SELECT DISTINCT user_id, t FROM valid),
g AS (SELECT user_id, t, t - lag(t) OVER (PARTITION BY user_id ORDER BY t) AS gap FROM acts),
per AS (
  SELECT user_id, min(t) AS first_t, max(t) AS last_t,
         coalesce(bool_or(gap > {CHURN_DAYS} * {DAY_US} AND (SELECT a FROM a) - t <= {ACTIVE_DAYS} * {DAY_US}), FALSE)
           AS long_gap
  FROM g GROUP BY user_id
)
SELECT user_id,
       CASE WHEN a - first_t <= {NEW_DAYS} * {DAY_US} THEN 'new'
            WHEN a - last_t <= {ACTIVE_DAYS} * {DAY_US} AND long_gap THEN 'resurrected'
            WHEN a - last_t <= {ACTIVE_DAYS} * {DAY_US} THEN 'active'
            WHEN a - last_t <= {CHURN_DAYS} * {DAY_US} THEN 'at_risk'
            ELSE 'churned' END AS stage,
       first_t AS first_seen, last_t AS last_seen, (a - last_t) // {DAY_US} AS days_inactive
FROM per, a
ORDER BY user_id
"""


def stage_duckdb(con: Any, table: pa.Table) -> pa.Table:
    return con.sql(STAGE_SQL).to_arrow_table()


def stage_polars(df: Any) -> Any:
    import polars as pl

    valid = df.lazy().filter(_valid(pl)).select("user_id", t=pl.col("ts").dt.epoch("us"))
    a = valid.select(pl.col("t").max()).collect().item()
    gap = pl.col("t").diff().over("user_id")
    within = lambda col, days: a - pl.col(col) <= days * DAY_US  # noqa: E731
    return (
        valid.unique()
        .sort("user_id", "t")
        .with_columns(gap=gap)
        .group_by("user_id")
        .agg(
            first_seen=pl.col("t").min(),
            last_seen=pl.col("t").max(),
            long_gap=((pl.col("gap") > CHURN_DAYS * DAY_US) & (a - pl.col("t") <= ACTIVE_DAYS * DAY_US)).any(),
        )
        .with_columns(
            stage=pl.when(within("first_seen", NEW_DAYS))
            .then(pl.lit("new"))
            .when(within("last_seen", ACTIVE_DAYS) & pl.col("long_gap"))
            .then(pl.lit("resurrected"))
            .when(within("last_seen", ACTIVE_DAYS))
            .then(pl.lit("active"))
            .when(within("last_seen", CHURN_DAYS))
            .then(pl.lit("at_risk"))
            .otherwise(pl.lit("churned")),
            days_inactive=(a - pl.col("last_seen")) // DAY_US,
        )
        .select(STAGE_COLUMNS)
        .sort("user_id")
        .collect()
    )


def stage_normalize(table: pa.Table) -> pa.Table:
    return canonical(_timestamps_as_micros(table), STAGE_COLUMNS, sort_by=["user_id"])


# ------------------------------------------------------------------- churn_warning


def warning_userops(table: pa.Table) -> pa.Table:
    import userops

    return userops.churn_warning(table, threshold=THRESHOLD, min_active_days=MIN_ACTIVE_DAYS, tz=TZ, progress=False)


WARNING_SQL = f"""
WITH valid AS (
  SELECT user_id, ts, event, amount, CAST(timezone('{TZ}', ts) AS DATE) AS day FROM events WHERE {VALID_SQL}
),
today AS (SELECT CAST(timezone('{TZ}', max(ts)) AS DATE) AS today FROM valid),
days AS (SELECT DISTINCT user_id, day FROM valid),
g AS (SELECT user_id, day, day - lag(day) OVER (PARTITION BY user_id ORDER BY day) AS gap FROM days),
per AS (
  SELECT user_id, max(day) AS last_day, quantile_cont(gap, 0.5) AS med
  FROM g GROUP BY user_id HAVING count(*) >= {MIN_ACTIVE_DAYS}
),
rev AS (
  SELECT user_id, sum(CAST(round(amount * 1000000) AS BIGINT)) AS net FROM valid WHERE event = 'order' GROUP BY user_id
),
out AS (
  SELECT p.user_id, (SELECT today FROM today) - p.last_day AS days_inactive, CAST(p.med AS DOUBLE) AS med,
         coalesce(r.net, 0) AS net
  FROM per p LEFT JOIN rev r USING (user_id)
)
SELECT user_id, days_inactive, med AS median_gap_days, days_inactive / med AS risk_ratio, net / 1e6 AS revenue,
       days_inactive / med > {THRESHOLD} AS flagged
FROM out
ORDER BY flagged DESC, net DESC, user_id
"""


def warning_duckdb(con: Any, table: pa.Table) -> pa.Table:
    return con.sql(WARNING_SQL).to_arrow_table()


def warning_polars(df: Any) -> Any:
    import polars as pl

    valid = df.lazy().filter(_valid(pl)).with_columns(day=pl.col("ts").dt.convert_time_zone(TZ).dt.date())
    today = valid.select(pl.col("day").max()).collect().item()
    micros = (pl.col("amount") * 1_000_000).round(mode="half_away_from_zero").cast(pl.Int64)
    revenue = valid.filter(pl.col("event") == "order").group_by("user_id").agg(net=micros.sum())
    per = (
        valid.select("user_id", "day")
        .unique()
        .sort("user_id", "day")
        .with_columns(gap=pl.col("day").diff().over("user_id").dt.total_days())
        .group_by("user_id")
        .agg(n=pl.len(), last_day=pl.col("day").max(), median_gap_days=pl.col("gap").median())
        .filter(pl.col("n") >= MIN_ACTIVE_DAYS)
    )
    return (
        per.join(revenue, on="user_id", how="left")
        .with_columns(
            days_inactive=(pl.lit(today) - pl.col("last_day")).dt.total_days(),
            net=pl.col("net").fill_null(0),
        )
        .with_columns(risk_ratio=pl.col("days_inactive") / pl.col("median_gap_days"))
        .with_columns(flagged=pl.col("risk_ratio") > THRESHOLD, revenue=pl.col("net") / 1e6)
        .sort(["flagged", "net", "user_id"], descending=[True, True, False])
        .select(WARNING_COLUMNS)
        .collect()
    )


def warning_normalize(table: pa.Table) -> pa.Table:
    return canonical(table, WARNING_COLUMNS)


# ---------------------------------------------------------------------------- tiers


def tiers_userops(table: pa.Table) -> pa.Table:
    import userops

    return userops.tiers(table, RULES, period_days=PERIOD_DAYS, progress=False)


TIERS_SQL = f"""
WITH valid AS (SELECT user_id, epoch_us(ts) AS t, ts, event, amount FROM events WHERE {VALID_SQL}),
d AS (SELECT max(t) AS d FROM valid),
f AS (
  SELECT user_id,
         count(*) FILTER (WHERE w AND event = 'visit') AS visits,
         count(*) FILTER (WHERE w AND event = 'order' AND (amount >= 0 OR amount IS NULL)) AS purchases,
         coalesce(sum(CAST(round(amount * 1000000) AS BIGINT)) FILTER (WHERE w AND event = 'order'), 0) AS net,
         count(DISTINCT CAST(ts AS DATE)) FILTER (WHERE w) AS active_days,
         ((SELECT d FROM d) - max(t)) // {DAY_US} AS days_since_last
  FROM (SELECT *, (SELECT d FROM d) - t <= {PERIOD_DAYS} * {DAY_US} AS w FROM valid)
  GROUP BY user_id
)
SELECT user_id,
       CASE WHEN purchases >= 1 AND net > 0 THEN 'buyers'
            WHEN visits >= 3 AND net = 0 THEN 'high activity, no spend'
            WHEN days_since_last > 30 THEN 'asleep'
            WHEN active_days >= 2 THEN 'regulars'
            ELSE 'other' END AS tier
FROM f ORDER BY user_id
"""


def tiers_duckdb(con: Any, table: pa.Table) -> pa.Table:
    con.execute("SET TimeZone = 'UTC'").fetchall()  # CAST(ts AS DATE) is the UTC day
    return con.sql(TIERS_SQL).to_arrow_table()


def tiers_polars(df: Any) -> Any:
    import polars as pl

    valid = df.lazy().filter(_valid(pl)).with_columns(t=pl.col("ts").dt.epoch("us"))
    d = valid.select(pl.col("t").max()).collect().item()
    w = d - pl.col("t") <= PERIOD_DAYS * DAY_US
    order = pl.col("event") == "order"
    micros = (pl.col("amount") * 1_000_000).round(mode="half_away_from_zero").cast(pl.Int64)
    return (
        valid.group_by("user_id")
        .agg(
            visits=(w & (pl.col("event") == "visit")).sum(),
            purchases=(w & order & (pl.col("amount").is_null() | (pl.col("amount") >= 0))).sum(),
            net=micros.filter(w & order).sum(),
            active_days=pl.col("ts").dt.date().filter(w).n_unique(),
            days_since_last=(d - pl.col("t").max()) // DAY_US,
        )
        .with_columns(
            tier=pl.when((pl.col("purchases") >= 1) & (pl.col("net") > 0))
            .then(pl.lit("buyers"))
            .when((pl.col("visits") >= 3) & (pl.col("net") == 0))
            .then(pl.lit("high activity, no spend"))
            .when(pl.col("days_since_last") > 30)
            .then(pl.lit("asleep"))
            .when(pl.col("active_days") >= 2)
            .then(pl.lit("regulars"))
            .otherwise(pl.lit("other"))
        )
        .select(TIER_COLUMNS)
        .sort("user_id")
        .collect()
    )


def tiers_normalize(table: pa.Table) -> pa.Table:
    return canonical(table, TIER_COLUMNS, sort_by=["user_id"])


CASES = [
    Case(
        name="lifecycle",
        userops=lifecycle_userops,
        duckdb=lifecycle_duckdb,
        polars=lifecycle_polars,
        normalize=lifecycle_normalize,
        description="growth accounting per month in Asia/Shanghai: new, returning, resurrecting, dormant, quick ratio",
    ),
    Case(
        name="lifecycle_stage",
        userops=stage_userops,
        duckdb=stage_duckdb,
        polars=stage_polars,
        normalize=stage_normalize,
        description="per-user lifecycle stage as of D (new/resurrected/active/at_risk/churned), sorted by user_id",
    ),
    Case(
        name="churn_warning",
        userops=warning_userops,
        duckdb=warning_duckdb,
        polars=warning_polars,
        normalize=warning_normalize,
        description="median gap between active days (Asia/Shanghai), risk ratio, flagged > 2, net revenue",
    ),
    Case(
        name="tiers",
        userops=tiers_userops,
        duckdb=tiers_duckdb,
        polars=tiers_polars,
        normalize=tiers_normalize,
        description="operator tiers from 7-day features (visits, purchases, revenue, active days, days since last)",
    ),
]
