"""Revenue, repurchase, next-month repurchase, funnel, active users and stickiness
(SPEC §5–§7): userops vs DuckDB vs Polars.

All three engines compute the same thing from the raw event log, in UTC:
- valid rows: ``user_id`` and ``ts`` not null; D = the latest valid ``ts``;
- a purchase is an ``order`` row with amount >= 0 or null, a refund one with a
  negative amount; money is summed as integers ``round(amount * 1e6)``;
- ``revenue``: per month from the first to month(D), net revenue, distinct active
  users, distinct paying users, ARPU, ARPPU, paying rate and ``complete``;
- ``repurchase``: per month of first purchase, users whose second purchase row (in
  time order) is at most 30 days after the first; users whose first purchase is less
  than 30 days before D are in progress;
- ``next_month_repurchase``: |paying(M) ∩ paying(M+1)| / |paying(M)|, null for the
  month of D, ``complete`` when M+1 has ended;
- ``funnel``: ``signup -> visit -> order`` within 14 days, ordered mode: for each
  signup as a start, the earliest visit at or after it, then the earliest order at or
  after that visit, both at most 14 days after the start (an ASOF join per step); per
  user the start reaching furthest, ties to the earliest; users not converted whose
  best start is less than 14 days before D are in progress; median and p90 seconds
  between steps (linear interpolation);
- ``active_users``: DAU per day from the first to date(D), 0 on idle days;
- ``stickiness``: per month, the sum of DAU over its days up to date(D) divided by
  that number of days, over MAU.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from cases import DAY_US, Case, canonical

REPURCHASE_DAYS = 30
FUNNEL_STEPS = ["signup", "visit", "order"]
FUNNEL_DAYS = 14

REVENUE_COLUMNS = ["period", "revenue", "active_users", "paying_users", "arpu", "arppu", "paying_rate", "complete"]
REPURCHASE_COLUMNS = ["cohort", "first_buyers", "eligible", "repurchased", "rate", "in_progress"]
NEXT_MONTH_COLUMNS = ["month", "paying", "repeat_next_month", "rate", "complete"]
FUNNEL_COLUMNS = [
    "step",
    "event",
    "users",
    "conversion_from_start",
    "conversion_from_previous",
    "median_seconds_from_previous",
    "p90_seconds_from_previous",
    "in_progress",
]
ACTIVE_COLUMNS = ["period", "active_users", "complete"]
STICKINESS_COLUMNS = ["month", "mean_dau", "mau", "stickiness", "complete"]

# ---------------------------------------------------------------------- DuckDB

VALID = "user_id IS NOT NULL AND ts IS NOT NULL"
PURCHASE = "event = 'order' AND (amount >= 0 OR amount IS NULL)"
D_SQL = f"d AS (SELECT epoch_us(max(ts)) AS d, CAST(max(ts) AS DATE) AS d_day FROM events WHERE {VALID})"


def _duckdb(con: Any, sql: str) -> pa.Table:
    con.execute("SET TimeZone = 'UTC'")
    return con.sql(sql).to_arrow_table()


def _periods_sql(first_sql: str, unit: str) -> str:
    """Periods ``p`` from ``first_sql`` to the period of D, with ``complete``."""
    return f"""
        SELECT p, epoch_us(CAST(p + INTERVAL 1 {unit} AS TIMESTAMP)) - 1 <= (SELECT d FROM d) AS complete
        FROM (
            SELECT CAST(unnest(generate_series(CAST(({first_sql}) AS TIMESTAMP),
                   CAST(date_trunc('{unit}', (SELECT d_day FROM d)) AS TIMESTAMP), INTERVAL 1 {unit})) AS DATE) AS p
        )"""


def revenue_duckdb(con: Any, table: pa.Table) -> pa.Table:
    return _duckdb(
        con,
        f"""
        WITH {D_SQL},
        per AS (
            SELECT CAST(date_trunc('month', ts) AS DATE) AS p,
                   coalesce(sum(CAST(round(amount * 1000000) AS BIGINT)) FILTER (WHERE event = 'order'), 0) AS net,
                   count(DISTINCT user_id) AS active,
                   count(DISTINCT user_id) FILTER (WHERE {PURCHASE}) AS paying
            FROM events WHERE {VALID} GROUP BY 1
        ), ps AS ({_periods_sql("SELECT min(p) FROM per", "MONTH")})
        SELECT ps.p AS period, coalesce(net, 0) / 1e6 AS revenue, coalesce(active, 0) AS active_users,
               coalesce(paying, 0) AS paying_users, coalesce(net, 0) / 1e6 / nullif(active, 0) AS arpu,
               coalesce(net, 0) / 1e6 / nullif(paying, 0) AS arppu, paying / nullif(active, 0) AS paying_rate, complete
        FROM ps LEFT JOIN per USING (p) ORDER BY ps.p
        """,
    )


def repurchase_duckdb(con: Any, table: pa.Table) -> pa.Table:
    w = REPURCHASE_DAYS * DAY_US
    return _duckdb(
        con,
        f"""
        WITH {D_SQL},
        ranked AS (
            SELECT user_id, epoch_us(ts) AS t, ts,
                   row_number() OVER (PARTITION BY user_id ORDER BY ts) AS k
            FROM events WHERE {VALID} AND {PURCHASE}
        ), u AS (
            SELECT max(t) FILTER (WHERE k = 1) AS t1, max(t) FILTER (WHERE k = 2) AS t2,
                   CAST(date_trunc('month', max(ts) FILTER (WHERE k = 1)) AS DATE) AS p
            FROM ranked WHERE k <= 2 GROUP BY user_id
        ), c AS (
            SELECT p, count(*) AS first_buyers,
                   count(*) FILTER (WHERE (SELECT d FROM d) - t1 >= {w}) AS eligible,
                   count(*) FILTER (WHERE (SELECT d FROM d) - t1 >= {w} AND t2 - t1 <= {w}) AS repurchased,
                   count(*) FILTER (WHERE (SELECT d FROM d) - t1 < {w}) AS in_progress
            FROM u GROUP BY p
        ), ps AS ({_periods_sql("SELECT min(p) FROM u", "MONTH")})
        SELECT ps.p AS cohort, coalesce(first_buyers, 0) AS first_buyers, coalesce(eligible, 0) AS eligible,
               coalesce(repurchased, 0) AS repurchased, repurchased / nullif(eligible, 0) AS rate,
               coalesce(in_progress, 0) AS in_progress
        FROM ps LEFT JOIN c USING (p) ORDER BY ps.p
        """,
    )


def next_month_duckdb(con: Any, table: pa.Table) -> pa.Table:
    return _duckdb(
        con,
        f"""
        WITH {D_SQL},
        pm AS (SELECT DISTINCT user_id, CAST(date_trunc('month', ts) AS DATE) AS m FROM events WHERE {VALID} AND {PURCHASE}),
        c AS (
            SELECT a.m, count(*) AS paying, count(b.user_id) AS repeat
            FROM pm a LEFT JOIN pm b ON a.user_id = b.user_id AND b.m = CAST(a.m + INTERVAL 1 MONTH AS DATE)
            GROUP BY a.m
        ), ms AS ({_periods_sql("SELECT min(m) FROM pm", "MONTH")})
        SELECT ms.p AS month, coalesce(paying, 0) AS paying,
               CASE WHEN epoch_us(CAST(ms.p + INTERVAL 1 MONTH AS TIMESTAMP)) > (SELECT d FROM d) THEN NULL
                    ELSE coalesce(repeat, 0) END AS repeat_next_month,
               CASE WHEN epoch_us(CAST(ms.p + INTERVAL 1 MONTH AS TIMESTAMP)) > (SELECT d FROM d) THEN NULL
                    ELSE coalesce(repeat, 0) / nullif(paying, 0) END AS rate,
               epoch_us(CAST(ms.p + INTERVAL 2 MONTH AS TIMESTAMP)) - 1 <= (SELECT d FROM d) AS complete
        FROM ms LEFT JOIN c ON c.m = ms.p ORDER BY ms.p
        """,
    )


def funnel_duckdb(con: Any, table: pa.Table) -> pa.Table:
    w = FUNNEL_DAYS * DAY_US
    s1, s2, s3 = FUNNEL_STEPS
    return _duckdb(
        con,
        f"""
        WITH {D_SQL},
        st AS (SELECT user_id, epoch_us(ts) AS t, CAST(event AS VARCHAR) AS e FROM events
               WHERE {VALID} AND CAST(event AS VARCHAR) IN ('{s1}', '{s2}', '{s3}')),
        a AS (SELECT DISTINCT user_id, t AS t0 FROM st WHERE e = '{s1}'),
        b AS (SELECT user_id, t FROM st WHERE e = '{s2}'),
        c AS (SELECT user_id, t FROM st WHERE e = '{s3}'),
        j2 AS (
            SELECT a.user_id, a.t0, CASE WHEN b.t - a.t0 <= {w} THEN b.t END AS t2
            FROM a ASOF LEFT JOIN b ON a.user_id = b.user_id AND a.t0 <= b.t
        ), j3 AS (
            SELECT j2.user_id, j2.t0, j2.t2, CASE WHEN c.t - j2.t0 <= {w} THEN c.t END AS t3
            FROM j2 ASOF LEFT JOIN c ON j2.user_id = c.user_id AND j2.t2 <= c.t
        ), best AS (
            SELECT *, 1 + CAST(t2 IS NOT NULL AS INT) + CAST(t3 IS NOT NULL AS INT) AS reached
            FROM j3
            QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY reached DESC, t0) = 1
        ), f AS (
            SELECT *, reached < 3 AND t0 + {w} > (SELECT d FROM d) AS prog FROM best
        ), steps AS (
            SELECT 1 AS step, '{s1}' AS event,
                   count(*) FILTER (WHERE NOT prog) AS users, count(*) FILTER (WHERE prog) AS in_progress,
                   NULL::DOUBLE AS med, NULL::DOUBLE AS p90 FROM f
            UNION ALL
            SELECT 2, '{s2}', count(*) FILTER (WHERE NOT prog AND reached >= 2), count(*) FILTER (WHERE prog AND reached >= 2),
                   quantile_cont((t2 - t0) / 1e6, 0.5) FILTER (WHERE NOT prog AND reached >= 2),
                   quantile_cont((t2 - t0) / 1e6, 0.9) FILTER (WHERE NOT prog AND reached >= 2) FROM f
            UNION ALL
            SELECT 3, '{s3}', count(*) FILTER (WHERE NOT prog AND reached >= 3), 0,
                   quantile_cont((t3 - t2) / 1e6, 0.5) FILTER (WHERE NOT prog AND reached >= 3),
                   quantile_cont((t3 - t2) / 1e6, 0.9) FILTER (WHERE NOT prog AND reached >= 3) FROM f
        )
        SELECT step, event, users,
               users / nullif(first_value(users) OVER (ORDER BY step), 0) AS conversion_from_start,
               users / nullif(lag(users) OVER (ORDER BY step), 0) AS conversion_from_previous,
               med AS median_seconds_from_previous, p90 AS p90_seconds_from_previous, in_progress
        FROM steps ORDER BY step
        """,
    )


def active_users_duckdb(con: Any, table: pa.Table) -> pa.Table:
    return _duckdb(
        con,
        f"""
        WITH {D_SQL},
        c AS (SELECT CAST(ts AS DATE) AS p, count(DISTINCT user_id) AS n FROM events WHERE {VALID} GROUP BY 1),
        ps AS ({_periods_sql("SELECT min(p) FROM c", "DAY")})
        SELECT ps.p AS period, coalesce(n, 0) AS active_users, complete
        FROM ps LEFT JOIN c USING (p) ORDER BY ps.p
        """,
    )


def stickiness_duckdb(con: Any, table: pa.Table) -> pa.Table:
    return _duckdb(
        con,
        f"""
        WITH {D_SQL},
        ud AS (SELECT DISTINCT user_id, CAST(ts AS DATE) AS day FROM events WHERE {VALID}),
        m AS (
            SELECT CAST(date_trunc('month', day) AS DATE) AS p, count(*) AS user_days, count(DISTINCT user_id) AS mau
            FROM ud GROUP BY 1
        ), ms AS ({_periods_sql("SELECT min(p) FROM m", "MONTH")})
        SELECT ms.p AS month,
               coalesce(user_days, 0) / (least(CAST(ms.p + INTERVAL 1 MONTH AS DATE) - 1, (SELECT d_day FROM d)) - ms.p + 1)
                 AS mean_dau,
               coalesce(mau, 0) AS mau,
               coalesce(user_days, 0) / (least(CAST(ms.p + INTERVAL 1 MONTH AS DATE) - 1, (SELECT d_day FROM d)) - ms.p + 1)
                 / nullif(mau, 0) AS stickiness,
               complete
        FROM ms LEFT JOIN m USING (p) ORDER BY ms.p
        """,
    )


# ---------------------------------------------------------------------- Polars


def _valid(pl: Any) -> Any:
    return pl.col("user_id").is_not_null() & pl.col("ts").is_not_null()


def _purchase(pl: Any) -> Any:
    return (pl.col("event") == "order") & (pl.col("amount").is_null() | (pl.col("amount") >= 0))


def _end(pl: Any, df: Any) -> tuple[int, Any]:
    """D in microseconds and date(D)."""
    row = df.lazy().filter(_valid(pl)).select(
        d=pl.col("ts").max().dt.epoch("us"), d_day=pl.col("ts").max().dt.date()
    ).collect()
    return row["d"][0], row["d_day"][0]


def _periods(pl: Any, first: Any, d: int, d_day: Any, every: str) -> Any:
    """Periods ``p`` (dates) from ``first`` to the period of D, with ``complete``."""
    last = pl.select(pl.lit(d_day).dt.truncate(every)).item()
    p = pl.date_range(first, last, every, eager=True).alias("p")
    next_start = p.dt.offset_by(every).cast(pl.Datetime("us")).dt.epoch("us")
    return pl.DataFrame({"p": p, "complete": (next_start - 1) <= d}).lazy()


def revenue_polars(df: Any) -> Any:
    import polars as pl

    d, d_day = _end(pl, df)
    micros = (pl.col("amount") * 1_000_000).round(mode="half_away_from_zero").cast(pl.Int64)
    per = (
        df.lazy()
        .filter(_valid(pl))
        .with_columns(p=pl.col("ts").dt.date().dt.truncate("1mo"))
        .group_by("p")
        .agg(
            net=micros.filter(pl.col("event") == "order").sum(),
            active=pl.col("user_id").n_unique(),
            paying=pl.col("user_id").filter(_purchase(pl)).n_unique(),
        )
        .collect()
    )
    net = pl.col("net").fill_null(0) / 1e6
    active, paying = pl.col("active").fill_null(0), pl.col("paying").fill_null(0)
    return (
        _periods(pl, per["p"].min(), d, d_day, "1mo")
        .join(per.lazy(), on="p", how="left")
        .select(
            period="p",
            revenue=net,
            active_users=active,
            paying_users=paying,
            arpu=pl.when(active > 0).then(net / active),
            arppu=pl.when(paying > 0).then(net / paying),
            paying_rate=pl.when(active > 0).then(paying / active),
            complete="complete",
        )
        .sort("period")
        .collect()
    )


def repurchase_polars(df: Any) -> Any:
    import polars as pl

    d, d_day = _end(pl, df)
    w = REPURCHASE_DAYS * DAY_US
    users = (
        df.lazy()
        .filter(_valid(pl) & _purchase(pl))
        .select("user_id", t=pl.col("ts").dt.epoch("us"))
        .group_by("user_id")
        .agg(t1=pl.col("t").min(), t2=pl.col("t").bottom_k(2).max(), n=pl.len())
        .with_columns(
            t2=pl.when(pl.col("n") >= 2).then(pl.col("t2")),
            p=pl.from_epoch(pl.col("t1"), time_unit="us").dt.date().dt.truncate("1mo"),
        )
        .collect()
    )
    eligible = (d - pl.col("t1")) >= w
    counts = users.lazy().group_by("p").agg(
        first_buyers=pl.len(),
        eligible=eligible.sum(),
        repurchased=(eligible & ((pl.col("t2") - pl.col("t1")) <= w)).sum(),
        in_progress=(~eligible).sum(),
    )
    e, r = pl.col("eligible").fill_null(0), pl.col("repurchased").fill_null(0)
    return (
        _periods(pl, users["p"].min(), d, d_day, "1mo")
        .join(counts, on="p", how="left")
        .select(
            cohort="p",
            first_buyers=pl.col("first_buyers").fill_null(0),
            eligible=e,
            repurchased=r,
            rate=pl.when(e > 0).then(r / e),
            in_progress=pl.col("in_progress").fill_null(0),
        )
        .sort("cohort")
        .collect()
    )


def next_month_polars(df: Any) -> Any:
    import polars as pl

    d, d_day = _end(pl, df)
    pm = (
        df.lazy()
        .filter(_valid(pl) & _purchase(pl))
        .select("user_id", m=pl.col("ts").dt.date().dt.truncate("1mo"))
        .unique()
        .collect()
    )
    nxt = pm.lazy().select("user_id", m=pl.col("m").dt.offset_by("-1mo"), nxt=pl.lit(1))
    counts = (
        pm.lazy()
        .join(nxt, on=["user_id", "m"], how="left")
        .group_by("m")
        .agg(paying=pl.len(), repeat=pl.col("nxt").count())
    )
    started = pl.col("p").dt.offset_by("1mo").cast(pl.Datetime("us")).dt.epoch("us") <= d
    ended = pl.col("p").dt.offset_by("2mo").cast(pl.Datetime("us")).dt.epoch("us") - 1 <= d
    paying, repeat = pl.col("paying").fill_null(0), pl.col("repeat").fill_null(0)
    return (
        _periods(pl, pm["m"].min(), d, d_day, "1mo")
        .join(counts, left_on="p", right_on="m", how="left")
        .select(
            month="p",
            paying=paying,
            repeat_next_month=pl.when(started).then(repeat),
            rate=pl.when(started & (paying > 0)).then(repeat / paying),
            complete=ended,
        )
        .sort("month")
        .collect()
    )


def funnel_polars(df: Any) -> Any:
    import polars as pl

    d, _ = _end(pl, df)
    w = FUNNEL_DAYS * DAY_US
    s1, s2, s3 = FUNNEL_STEPS
    st = (
        df.lazy()
        .filter(_valid(pl) & pl.col("event").cast(pl.String).is_in(FUNNEL_STEPS))
        .select("user_id", t=pl.col("ts").dt.epoch("us"), e=pl.col("event").cast(pl.String))
        .collect()
    )
    a = st.filter(pl.col("e") == s1).select("user_id", t0="t").unique().sort("t0")
    b = st.filter(pl.col("e") == s2).select("user_id", t2="t").sort("t2")
    c = st.filter(pl.col("e") == s3).select("user_id", t3="t").sort("t3")
    j2 = a.join_asof(b, left_on="t0", right_on="t2", by="user_id", strategy="forward").with_columns(
        t2=pl.when(pl.col("t2") - pl.col("t0") <= w).then(pl.col("t2"))
    )
    with_visit = j2.filter(pl.col("t2").is_not_null()).sort("t2")
    j3 = pl.concat(
        [
            with_visit.join_asof(c, left_on="t2", right_on="t3", by="user_id", strategy="forward").with_columns(
                t3=pl.when(pl.col("t3") - pl.col("t0") <= w).then(pl.col("t3"))
            ),
            j2.filter(pl.col("t2").is_null()).with_columns(t3=pl.lit(None, pl.Int64)),
        ]
    )
    reached = 1 + pl.col("t2").is_not_null().cast(pl.Int32) + pl.col("t3").is_not_null().cast(pl.Int32)
    best = (
        j3.lazy()
        .with_columns(reached=reached)
        .sort(["user_id", "reached", "t0"], descending=[False, True, False])
        .group_by("user_id")
        .first()
        .with_columns(prog=(pl.col("reached") < 3) & (pl.col("t0") + w > d))
        .collect()
    )
    done = best.filter(~pl.col("prog"))
    prog = best.filter(pl.col("prog"))
    users = [done.height, done.filter(pl.col("reached") >= 2).height, done.filter(pl.col("reached") >= 3).height]
    in_progress = [prog.height, prog.filter(pl.col("reached") >= 2).height, 0]
    g2 = done.filter(pl.col("reached") >= 2).select(g=(pl.col("t2") - pl.col("t0")) / 1e6)["g"]
    g3 = done.filter(pl.col("reached") >= 3).select(g=(pl.col("t3") - pl.col("t2")) / 1e6)["g"]

    def q(g: Any, p: float) -> Any:
        return g.quantile(p, interpolation="linear") if g.len() else None

    rate = lambda n, m: n / m if m else None  # noqa: E731
    return pl.DataFrame(
        {
            "step": [1, 2, 3],
            "event": FUNNEL_STEPS,
            "users": users,
            "conversion_from_start": [rate(u, users[0]) for u in users],
            "conversion_from_previous": [None, rate(users[1], users[0]), rate(users[2], users[1])],
            "median_seconds_from_previous": [None, q(g2, 0.5), q(g3, 0.5)],
            "p90_seconds_from_previous": [None, q(g2, 0.9), q(g3, 0.9)],
            "in_progress": in_progress,
        },
        schema_overrides={"conversion_from_previous": pl.Float64, "median_seconds_from_previous": pl.Float64,
                          "p90_seconds_from_previous": pl.Float64},
    )


def active_users_polars(df: Any) -> Any:
    import polars as pl

    d, d_day = _end(pl, df)
    c = df.lazy().filter(_valid(pl)).group_by(p=pl.col("ts").dt.date()).agg(n=pl.col("user_id").n_unique()).collect()
    return (
        _periods(pl, c["p"].min(), d, d_day, "1d")
        .join(c.lazy(), on="p", how="left")
        .select(period="p", active_users=pl.col("n").fill_null(0), complete="complete")
        .sort("period")
        .collect()
    )


def stickiness_polars(df: Any) -> Any:
    import polars as pl

    d, d_day = _end(pl, df)
    m = (
        df.lazy()
        .filter(_valid(pl))
        .select("user_id", day=pl.col("ts").dt.date())
        .unique()
        .group_by(p=pl.col("day").dt.truncate("1mo"))
        .agg(user_days=pl.len(), mau=pl.col("user_id").n_unique())
        .collect()
    )
    last_day = pl.min_horizontal(pl.col("p").dt.offset_by("1mo") - pl.duration(days=1), pl.lit(d_day))
    days = (last_day - pl.col("p")).dt.total_days() + 1
    mean = pl.col("user_days").fill_null(0) / days
    mau = pl.col("mau").fill_null(0)
    return (
        _periods(pl, m["p"].min(), d, d_day, "1mo")
        .join(m.lazy(), on="p", how="left")
        .select(month="p", mean_dau=mean, mau=mau, stickiness=pl.when(mau > 0).then(mean / mau), complete="complete")
        .sort("month")
        .collect()
    )


# ---------------------------------------------------------------------- userops and cases


def revenue_userops(table: pa.Table) -> pa.Table:
    import userops

    return userops.revenue(table, period="month")


def repurchase_userops(table: pa.Table) -> pa.Table:
    import userops

    return userops.repurchase(table, window_days=REPURCHASE_DAYS)


def next_month_userops(table: pa.Table) -> pa.Table:
    import userops

    return userops.next_month_repurchase(table)


def funnel_userops(table: pa.Table) -> pa.Table:
    import userops

    return userops.funnel(table, FUNNEL_STEPS, window_days=FUNNEL_DAYS)


def active_users_userops(table: pa.Table) -> pa.Table:
    import userops

    return userops.active_users(table, period="day")


def stickiness_userops(table: pa.Table) -> pa.Table:
    import userops

    return userops.stickiness(table)


def _normalizer(columns: list[str], key: str) -> Any:
    return lambda table: canonical(table, columns, sort_by=[key])


CASES = [
    Case(
        name="revenue",
        userops=revenue_userops,
        duckdb=revenue_duckdb,
        polars=revenue_polars,
        normalize=_normalizer(REVENUE_COLUMNS, "period"),
        description="monthly net revenue, active and paying users, ARPU, ARPPU, paying rate",
    ),
    Case(
        name="repurchase",
        userops=repurchase_userops,
        duckdb=repurchase_duckdb,
        polars=repurchase_polars,
        normalize=_normalizer(REPURCHASE_COLUMNS, "cohort"),
        description="30-day repurchase rate per first-purchase month, censored near D",
    ),
    Case(
        name="next_month_repurchase",
        userops=next_month_userops,
        duckdb=next_month_duckdb,
        polars=next_month_polars,
        normalize=_normalizer(NEXT_MONTH_COLUMNS, "month"),
        description="next-month repurchase rate per month",
    ),
    Case(
        name="funnel",
        userops=funnel_userops,
        duckdb=funnel_duckdb,
        polars=funnel_polars,
        normalize=_normalizer(FUNNEL_COLUMNS, "step"),
        description="signup -> visit -> order within 14 days (ordered), times between steps",
    ),
    Case(
        name="active_users",
        userops=active_users_userops,
        duckdb=active_users_duckdb,
        polars=active_users_polars,
        normalize=_normalizer(ACTIVE_COLUMNS, "period"),
        description="DAU per day",
    ),
    Case(
        name="stickiness",
        userops=stickiness_userops,
        duckdb=stickiness_duckdb,
        polars=stickiness_polars,
        normalize=_normalizer(STICKINESS_COLUMNS, "month"),
        description="mean DAU over each month's days / MAU",
    ),
]
