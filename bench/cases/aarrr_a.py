"""Acquisition, paying conversion, activation, retention and LTV (SPEC §2–§5):
userops vs DuckDB vs Polars.

All three engines compute the same thing from the raw event log, by month in UTC:
- valid rows: ``user_id`` and ``ts`` not null; D = the latest valid ``ts``;
- acquisition: a user's first ``signup`` row; its channel is the smallest non-null
  channel among the signup rows at that instant (``"(none)"`` when all are null);
  the cohort is the month of the acquisition;
- ``acquisition``: new users per (month, channel), joined with a spend table (every
  (month, channel) with new users or spend), CAC = spend / new users;
- ``paying_conversion``: per (cohort, channel), users whose first purchase (an
  ``order`` with amount >= 0 or null) at or after the acquisition is at most 30 days
  later; users acquired less than 30 days before D are in progress;
- ``activation``: per cohort, users with an ``activate`` row at most 7 days after
  acquisition, with the median and p90 hours to the first one (linear interpolation);
- ``retention``: calendar-month classic retention, any event at or after the
  acquisition, every cohort x offset 0..last observed, ``complete`` flags;
- ``ltv``: cumulative net revenue (exact micro-units) at or after acquisition
  through each month offset, divided by the cohort size.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa

from cases import DAY_US, Case, canonical

WINDOW_CONVERSION = 30
WINDOW_ACTIVATION = 7
HOUR_US = 3_600_000_000

#: A year of monthly spend for three channels (the shop runs through 2024).
SPEND = pa.table(
    {
        "channel": pa.array([c for _ in range(12) for c in ("ads", "search", "social")], pa.string()),
        "period_start": pa.array([dt.date(2024, m, 1) for m in range(1, 13) for _ in range(3)], pa.date32()),
        "spend": pa.array([float(1000 + 137 * m + 11 * i) for m in range(12) for i in range(3)], pa.float64()),
    }
)

ACQUISITION_COLUMNS = ["period", "channel", "new_users", "spend", "cac"]
CONVERSION_COLUMNS = ["cohort", "channel", "new_users", "eligible", "converted", "rate", "in_progress"]
ACTIVATION_COLUMNS = [
    "cohort", "cohort_size", "eligible", "activated", "rate", "in_progress", "median_hours", "p90_hours",
]
RETENTION_COLUMNS = ["cohort", "offset", "cohort_size", "eligible", "retained", "rate", "complete"]
LTV_COLUMNS = ["cohort", "offset", "cohort_size", "cumulative_revenue", "ltv", "complete"]

# ---------------------------------------------------------------------- DuckDB

VALID = "user_id IS NOT NULL AND ts IS NOT NULL"

ACQ_SQL = f"""
d AS (SELECT epoch_us(max(ts)) AS d FROM events WHERE {VALID}),
s AS (
    SELECT user_id, ts, CAST(channel AS VARCHAR) AS channel FROM events WHERE event = 'signup' AND {VALID}
), f AS (
    SELECT user_id, min(ts) AS a FROM s GROUP BY user_id
), acq AS (
    SELECT f.user_id, f.a, epoch_us(f.a) AS a_us, coalesce(min(s.channel), '(none)') AS channel,
           CAST(date_trunc('month', f.a) AS DATE) AS cohort
    FROM f JOIN s ON s.user_id = f.user_id AND s.ts = f.a
    GROUP BY f.user_id, f.a
)"""


def _duckdb(con: Any, sql: str) -> pa.Table:
    con.execute("SET TimeZone = 'UTC'")
    return con.sql(sql).to_arrow_table()


def acquisition_duckdb(con: Any, table: pa.Table) -> pa.Table:
    con.register("spend_in", SPEND)
    return _duckdb(
        con,
        f"""
        WITH {ACQ_SQL},
        n AS (SELECT cohort AS period, channel, count(*) AS new_users FROM acq GROUP BY ALL),
        sp AS (
            SELECT CAST(date_trunc('month', period_start) AS DATE) AS period, coalesce(channel, '(none)') AS channel,
                   sum(CAST(round(spend * 1000000) AS BIGINT)) AS micros
            FROM spend_in GROUP BY ALL
        )
        SELECT coalesce(n.period, sp.period) AS period, coalesce(n.channel, sp.channel) AS channel,
               coalesce(n.new_users, 0) AS new_users, sp.micros / 1e6 AS spend,
               CASE WHEN n.new_users > 0 THEN sp.micros / 1e6 / n.new_users END AS cac
        FROM n FULL OUTER JOIN sp ON n.period = sp.period AND n.channel = sp.channel
        ORDER BY period, channel
        """,
    )


def _windowed_sql(target: str, days: int) -> str:
    return f"""
        WITH {ACQ_SQL},
        t AS (SELECT user_id, ts FROM events WHERE {target} AND {VALID}),
        first AS (
            SELECT q.user_id, epoch_us(min(t.ts)) AS f_us
            FROM acq q JOIN t ON t.user_id = q.user_id AND t.ts >= q.a
            GROUP BY q.user_id
        ), w AS (
            SELECT q.cohort, q.channel,
                   CASE WHEN (SELECT d FROM d) - q.a_us < {days * DAY_US} THEN 'in_progress'
                        WHEN f.f_us - q.a_us <= {days * DAY_US} THEN 'reached'
                        ELSE 'missed' END AS status,
                   f.f_us - q.a_us AS micros
            FROM acq q LEFT JOIN first f USING (user_id)
        )"""


def paying_conversion_duckdb(con: Any, table: pa.Table) -> pa.Table:
    target = "event = 'order' AND (amount >= 0 OR amount IS NULL)"
    return _duckdb(
        con,
        _windowed_sql(target, WINDOW_CONVERSION)
        + """
        SELECT cohort, channel, count(*) AS new_users,
               count(*) FILTER (WHERE status <> 'in_progress') AS eligible,
               count(*) FILTER (WHERE status = 'reached') AS converted,
               count(*) FILTER (WHERE status = 'reached') / nullif(count(*) FILTER (WHERE status <> 'in_progress'), 0)
                 AS rate,
               count(*) FILTER (WHERE status = 'in_progress') AS in_progress
        FROM w GROUP BY ALL ORDER BY cohort, channel
        """,
    )


def activation_duckdb(con: Any, table: pa.Table) -> pa.Table:
    return _duckdb(
        con,
        _windowed_sql("event = 'activate'", WINDOW_ACTIVATION)
        + f"""
        SELECT cohort, count(*) AS cohort_size,
               count(*) FILTER (WHERE status <> 'in_progress') AS eligible,
               count(*) FILTER (WHERE status = 'reached') AS activated,
               count(*) FILTER (WHERE status = 'reached') / nullif(count(*) FILTER (WHERE status <> 'in_progress'), 0)
                 AS rate,
               count(*) FILTER (WHERE status = 'in_progress') AS in_progress,
               quantile_cont(micros / {HOUR_US}, 0.5) FILTER (WHERE status = 'reached') AS median_hours,
               quantile_cont(micros / {HOUR_US}, 0.9) FILTER (WHERE status = 'reached') AS p90_hours
        FROM w GROUP BY ALL ORDER BY cohort
        """,
    )


GRID_SQL = """
dm AS (SELECT CAST(date_trunc('month', make_timestamp(d)) AS DATE) AS dm, d FROM d),
sizes AS (SELECT cohort, count(*) AS size FROM acq GROUP BY cohort),
grid AS (
    SELECT s.cohort, s.size, o.range AS k,
           epoch_us(s.cohort + to_months(CAST(o.range AS INTEGER))) AS p_start,
           epoch_us(s.cohort + to_months(CAST(o.range + 1 AS INTEGER))) AS p_end
    FROM sizes s CROSS JOIN range(0, (SELECT datediff('month', min(cohort), (SELECT dm FROM dm)) + 1 FROM acq)) o
)"""


def retention_duckdb(con: Any, table: pa.Table) -> pa.Table:
    return _duckdb(
        con,
        f"""
        WITH {ACQ_SQL}, {GRID_SQL},
        act AS (
            SELECT DISTINCT q.user_id, q.cohort,
                   datediff('month', q.cohort, CAST(date_trunc('month', e.ts) AS DATE)) AS k
            FROM events e JOIN acq q ON e.user_id = q.user_id AND e.ts >= q.a
        ), r AS (SELECT cohort, k, count(*) AS n FROM act GROUP BY ALL)
        SELECT g.cohort, g.k AS offset, g.size AS cohort_size,
               CASE WHEN g.p_start <= (SELECT d FROM d) THEN g.size END AS eligible,
               CASE WHEN g.p_start <= (SELECT d FROM d) THEN coalesce(r.n, 0) END AS retained,
               CASE WHEN g.p_start <= (SELECT d FROM d) THEN coalesce(r.n, 0) / g.size END AS rate,
               g.p_start <= (SELECT d FROM d) AND g.p_end - 1 <= (SELECT d FROM d) AS complete
        FROM grid g LEFT JOIN r ON r.cohort = g.cohort AND r.k = g.k
        ORDER BY g.cohort, g.k
        """,
    )


def ltv_duckdb(con: Any, table: pa.Table) -> pa.Table:
    return _duckdb(
        con,
        f"""
        WITH {ACQ_SQL}, {GRID_SQL},
        rev AS (
            SELECT q.cohort, datediff('month', q.cohort, CAST(date_trunc('month', e.ts) AS DATE)) AS k,
                   sum(CAST(round(e.amount * 1000000) AS BIGINT)) AS micros
            FROM events e JOIN acq q ON e.user_id = q.user_id AND e.ts >= q.a
            WHERE e.event = 'order'
            GROUP BY ALL
        ), cells AS (
            SELECT g.*, sum(coalesce(r.micros, 0)) OVER (PARTITION BY g.cohort ORDER BY g.k) AS cum
            FROM grid g LEFT JOIN rev r ON r.cohort = g.cohort AND r.k = g.k
        )
        SELECT cohort, k AS offset, size AS cohort_size,
               CASE WHEN p_start <= (SELECT d FROM d) THEN cum / 1e6 END AS cumulative_revenue,
               CASE WHEN p_start <= (SELECT d FROM d) THEN cum / 1e6 / size END AS ltv,
               p_start <= (SELECT d FROM d) AND p_end - 1 <= (SELECT d FROM d) AS complete
        FROM cells ORDER BY cohort, k
        """,
    )


# ---------------------------------------------------------------------- Polars


def _valid(pl: Any) -> Any:
    return pl.col("user_id").is_not_null() & pl.col("ts").is_not_null()


def _end_us(df: Any) -> int:
    import polars as pl

    return df.select(pl.col("ts").filter(_valid(pl)).max().dt.epoch("us")).item()


def _acquired(df: Any) -> Any:
    """Lazy frame: user_id, a (µs), channel, cohort (date), month index."""
    import polars as pl

    s = (
        df.lazy()
        .filter(_valid(pl) & (pl.col("event").cast(pl.String) == "signup"))
        .select("user_id", t=pl.col("ts").dt.epoch("us"), channel=pl.col("channel").cast(pl.String), ts=pl.col("ts"))
    )
    first = s.group_by("user_id").agg(t=pl.col("t").min())
    return (
        first.join(s, on=["user_id", "t"])
        .group_by("user_id", "t")
        .agg(channel=pl.col("channel").min(), ts=pl.col("ts").first())
        .select(
            "user_id",
            a=pl.col("t"),
            channel=pl.col("channel").fill_null("(none)"),
            cohort=pl.col("ts").dt.truncate("1mo").dt.date(),
            cm=pl.col("ts").dt.year() * 12 + pl.col("ts").dt.month() - 1,
        )
    )


def acquisition_polars(df: Any) -> Any:
    import polars as pl

    n = _acquired(df).group_by(period=pl.col("cohort"), channel=pl.col("channel")).agg(new_users=pl.len())
    sp = (
        pl.from_arrow(SPEND)
        .lazy()
        .group_by(
            period=pl.col("period_start").dt.truncate("1mo"), channel=pl.col("channel").fill_null("(none)")
        )
        .agg(micros=(pl.col("spend") * 1_000_000).round(mode="half_away_from_zero").cast(pl.Int64).sum())
    )
    return (
        n.join(sp, on=["period", "channel"], how="full", coalesce=True)
        .select(
            "period",
            "channel",
            new_users=pl.col("new_users").fill_null(0).cast(pl.Int64),
            spend=pl.col("micros") / 1e6,
            cac=pl.when(pl.col("new_users") > 0).then(pl.col("micros") / 1e6 / pl.col("new_users")),
        )
        .sort("period", "channel")
        .collect()
    )


def _windowed(df: Any, target: Any, days: int) -> Any:
    import polars as pl

    end = _end_us(df)
    acq = _acquired(df)
    t = df.lazy().filter(_valid(pl) & target).select("user_id", t=pl.col("ts").dt.epoch("us"))
    first = acq.join(t, on="user_id").filter(pl.col("t") >= pl.col("a")).group_by("user_id").agg(f=pl.col("t").min())
    window = days * DAY_US
    return acq.join(first, on="user_id", how="left").with_columns(
        status=pl.when(end - pl.col("a") < window)
        .then(pl.lit("in_progress"))
        .when((pl.col("f") - pl.col("a")) <= window)
        .then(pl.lit("reached"))
        .otherwise(pl.lit("missed")),
        micros=pl.col("f") - pl.col("a"),
    )


def _counts(pl: Any) -> dict[str, Any]:
    status = pl.col("status")
    eligible = (status != "in_progress").sum().cast(pl.Int64)
    reached = (status == "reached").sum().cast(pl.Int64)
    return {
        "eligible": eligible,
        "reached": reached,
        "rate": pl.when(eligible > 0).then(reached / eligible),
        "in_progress": (status == "in_progress").sum().cast(pl.Int64),
    }


def paying_conversion_polars(df: Any) -> Any:
    import polars as pl

    target = (pl.col("event").cast(pl.String) == "order") & (pl.col("amount").is_null() | (pl.col("amount") >= 0))
    c = _counts(pl)
    return (
        _windowed(df, target, WINDOW_CONVERSION)
        .group_by("cohort", "channel")
        .agg(new_users=pl.len().cast(pl.Int64), eligible=c["eligible"], converted=c["reached"], rate=c["rate"],
             in_progress=c["in_progress"])
        .sort("cohort", "channel")
        .collect()
    )


def activation_polars(df: Any) -> Any:
    import polars as pl

    c = _counts(pl)
    hours = (pl.col("micros") / HOUR_US).filter(pl.col("status") == "reached")
    return (
        _windowed(df, pl.col("event").cast(pl.String) == "activate", WINDOW_ACTIVATION)
        .group_by("cohort")
        .agg(
            cohort_size=pl.len().cast(pl.Int64),
            eligible=c["eligible"],
            activated=c["reached"],
            rate=c["rate"],
            in_progress=c["in_progress"],
            median_hours=hours.quantile(0.5, interpolation="linear"),
            p90_hours=hours.quantile(0.9, interpolation="linear"),
        )
        .sort("cohort")
        .collect()
    )


def _grid(df: Any, acq: Any) -> tuple[Any, int]:
    """Lazy grid of cohort x offset with size, period start and end instants; and D."""
    import polars as pl

    end = _end_us(df)
    end_dt = dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=end)
    end_month = end_dt.year * 12 + end_dt.month - 1
    sizes = acq.group_by("cohort", "cm").agg(size=pl.len().cast(pl.Int64))
    first = sizes.select(pl.col("cm").min()).collect().item()
    offsets = pl.LazyFrame({"k": pl.arange(0, end_month - first + 1, eager=True).cast(pl.Int64)})
    start = pl.col("cohort").dt.offset_by(pl.format("{}mo", pl.col("k")))
    grid = sizes.join(offsets, how="cross").with_columns(
        p_start=start.cast(pl.Datetime("us")).dt.epoch("us"),
        p_end=pl.col("cohort").dt.offset_by(pl.format("{}mo", pl.col("k") + 1)).cast(pl.Datetime("us")).dt.epoch("us"),
    )
    return grid, end


def retention_polars(df: Any) -> Any:
    import polars as pl

    acq = _acquired(df)
    grid, end = _grid(df, acq)
    ts = pl.col("ts")
    act = (
        df.lazy()
        .filter(_valid(pl))
        .select("user_id", t=ts.dt.epoch("us"), m=ts.dt.year() * 12 + ts.dt.month() - 1)
        .join(acq.select("user_id", "a", "cohort", "cm"), on="user_id")
        .filter(pl.col("t") >= pl.col("a"))
        .select("user_id", "cohort", k=(pl.col("m") - pl.col("cm")).cast(pl.Int64))
        .unique()
        .group_by("cohort", "k")
        .agg(n=pl.len().cast(pl.Int64))
    )
    begun = pl.col("p_start") <= end
    return (
        grid.join(act, on=["cohort", "k"], how="left")
        .select(
            "cohort",
            offset=pl.col("k"),
            cohort_size=pl.col("size"),
            eligible=pl.when(begun).then(pl.col("size")),
            retained=pl.when(begun).then(pl.col("n").fill_null(0)),
            rate=pl.when(begun).then(pl.col("n").fill_null(0) / pl.col("size")),
            complete=begun & (pl.col("p_end") - 1 <= end),
        )
        .sort("cohort", "offset")
        .collect()
    )


def ltv_polars(df: Any) -> Any:
    import polars as pl

    acq = _acquired(df)
    grid, end = _grid(df, acq)
    ts = pl.col("ts")
    rev = (
        df.lazy()
        .filter(_valid(pl) & (pl.col("event").cast(pl.String) == "order"))
        .select(
            "user_id",
            t=ts.dt.epoch("us"),
            m=ts.dt.year() * 12 + ts.dt.month() - 1,
            micros=(pl.col("amount") * 1_000_000).round(mode="half_away_from_zero").cast(pl.Int64),
        )
        .join(acq.select("user_id", "a", "cohort", "cm"), on="user_id")
        .filter(pl.col("t") >= pl.col("a"))
        .group_by("cohort", k=(pl.col("m") - pl.col("cm")).cast(pl.Int64))
        .agg(micros=pl.col("micros").sum())
    )
    begun = pl.col("p_start") <= end
    cum = pl.col("micros").fill_null(0).cum_sum().over("cohort", order_by="k")
    return (
        grid.join(rev, on=["cohort", "k"], how="left")
        .with_columns(cum=cum)
        .select(
            "cohort",
            offset=pl.col("k"),
            cohort_size=pl.col("size"),
            cumulative_revenue=pl.when(begun).then(pl.col("cum") / 1e6),
            ltv=pl.when(begun).then(pl.col("cum") / 1e6 / pl.col("size")),
            complete=begun & (pl.col("p_end") - 1 <= end),
        )
        .sort("cohort", "offset")
        .collect()
    )


# ---------------------------------------------------------------------- userops


def acquisition_userops(table: pa.Table) -> pa.Table:
    import userops

    return userops.acquisition(table, spend=SPEND, progress=False)


def paying_conversion_userops(table: pa.Table) -> pa.Table:
    import userops

    return userops.paying_conversion(table, window_days=WINDOW_CONVERSION, progress=False)


def activation_userops(table: pa.Table) -> pa.Table:
    import userops

    return userops.activation(table, window_days=WINDOW_ACTIVATION, progress=False)


def retention_userops(table: pa.Table) -> pa.Table:
    import userops

    return userops.retention(table, progress=False)


def ltv_userops(table: pa.Table) -> pa.Table:
    import userops

    return userops.ltv(table, progress=False)


def _normalizer(columns: list[str], keys: list[str]) -> Any:
    def normalize(table: pa.Table) -> pa.Table:
        return canonical(table, columns, sort_by=keys)

    return normalize


CASES = [
    Case(
        name="acquisition",
        userops=acquisition_userops,
        duckdb=acquisition_duckdb,
        polars=acquisition_polars,
        normalize=_normalizer(ACQUISITION_COLUMNS, ["period", "channel"]),
        description="new users per month and channel (first signup, channel tie-break), joined with spend, CAC",
    ),
    Case(
        name="paying_conversion",
        userops=paying_conversion_userops,
        duckdb=paying_conversion_duckdb,
        polars=paying_conversion_polars,
        normalize=_normalizer(CONVERSION_COLUMNS, ["cohort", "channel"]),
        description="30-day paying conversion per monthly cohort and channel, censored users in progress",
    ),
    Case(
        name="activation",
        userops=activation_userops,
        duckdb=activation_duckdb,
        polars=activation_polars,
        normalize=_normalizer(ACTIVATION_COLUMNS, ["cohort"]),
        description="7-day activation per monthly cohort with median and p90 hours to activate",
    ),
    Case(
        name="retention",
        userops=retention_userops,
        duckdb=retention_duckdb,
        polars=retention_polars,
        normalize=_normalizer(RETENTION_COLUMNS, ["cohort", "offset"]),
        description="calendar-month classic retention, every cohort x offset, complete flags",
    ),
    Case(
        name="ltv",
        userops=ltv_userops,
        duckdb=ltv_duckdb,
        polars=ltv_polars,
        normalize=_normalizer(LTV_COLUMNS, ["cohort", "offset"]),
        description="cumulative net revenue per cohort user through each month offset",
    ),
]
