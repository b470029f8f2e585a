"""RFM (SPEC §9) and revenue concentration (SPEC §5): userops vs DuckDB vs Polars.

All three engines compute the same thing from the raw event log:
- valid rows: ``user_id`` and ``ts`` not null; D = the latest valid ``ts``;
- ``order`` rows are purchases when ``amount >= 0`` or null, refunds when negative;
  net revenue is summed in exact micro-units (``round(amount * 1e6)``), as userops does;
- ``rfm``: per paying user recency days, purchases, net revenue, quantile scores
  ``(5 * (rank - 1)) // n + 1`` ranked worst first, ``rfm_score`` and the segment;
- ``concentration``: top-20% share of net revenue floored at 0, and the Gini
  coefficient from the sorted values (``sum((2i - n - 1) x_i) / (n sum x)``).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from cases import DAY_US, Case, canonical

BINS = 5
TOP = 0.2
# userops draws a tqdm progress bar by default above 5M rows; DuckDB and Polars draw
# none here, so the cases pass progress=False.

RFM_COLUMNS = [
    "user_id",
    "recency_days",
    "frequency",
    "monetary",
    "r_score",
    "f_score",
    "m_score",
    "rfm_score",
    "segment",
]
CONCENTRATION_COLUMNS = ["paying_users", "top_fraction", "top_users", "top_revenue_share", "gini"]

# (segment, R scores, F scores): SPEC §9's map.
SEGMENT_MAP = [
    ("Hibernating", (1, 2), (1, 2)),
    ("At Risk", (1, 2), (3, 4)),
    ("Can't Lose Them", (1, 2), (5,)),
    ("About to Sleep", (3,), (1, 2)),
    ("Need Attention", (3,), (3,)),
    ("Loyal Customers", (3, 4), (4, 5)),
    ("Promising", (4,), (1,)),
    ("New Customers", (5,), (1,)),
    ("Potential Loyalists", (4, 5), (2, 3)),
    ("Champions", (5,), (4, 5)),
]


def _sql_list(values: tuple[int, ...]) -> str:
    return ", ".join(map(str, values))


SEGMENT_SQL = "CASE " + " ".join(
    f"WHEN r_score IN ({_sql_list(r)}) AND f_score IN ({_sql_list(f)}) THEN '{name.replace(chr(39), chr(39) * 2)}'"
    for name, r, f in SEGMENT_MAP
) + " END"


# ---------------------------------------------------------------------------- rfm


def rfm_userops(table: pa.Table) -> pa.Table:
    import userops

    return userops.rfm(table, bins=BINS, progress=False)


RFM_SQL = f"""
WITH d AS (
    SELECT epoch_us(max(ts)) AS d FROM events WHERE user_id IS NOT NULL
), per_user AS (
    SELECT user_id,
           count(*) FILTER (WHERE amount >= 0 OR amount IS NULL) AS frequency,
           epoch_us(max(ts) FILTER (WHERE amount >= 0 OR amount IS NULL)) AS last_us,
           coalesce(sum(CAST(round(amount * 1000000) AS BIGINT)), 0) AS net_micros
    FROM events
    WHERE event = 'order' AND user_id IS NOT NULL AND ts IS NOT NULL
    GROUP BY user_id
    HAVING count(*) FILTER (WHERE amount >= 0 OR amount IS NULL) > 0
), v AS (
    SELECT user_id, (d.d - last_us) // {DAY_US} AS recency_days, frequency, net_micros,
           count(*) OVER () AS n
    FROM per_user, d
), scored AS (
    SELECT user_id, recency_days, frequency, net_micros,
           {BINS} * (rank() OVER (ORDER BY recency_days DESC) - 1) // n + 1 AS r_score,
           {BINS} * (rank() OVER (ORDER BY frequency) - 1) // n + 1 AS f_score,
           {BINS} * (rank() OVER (ORDER BY net_micros) - 1) // n + 1 AS m_score
    FROM v
)
SELECT user_id, recency_days, frequency, net_micros / 1e6 AS monetary, r_score, f_score, m_score,
       concat(r_score, f_score, m_score) AS rfm_score,
       {SEGMENT_SQL} AS segment
FROM scored
ORDER BY user_id
"""


def rfm_duckdb(con: Any, table: pa.Table) -> pa.Table:
    return con.sql(RFM_SQL).to_arrow_table()


def _valid_orders(pl: Any) -> Any:
    return (pl.col("event") == "order") & pl.col("user_id").is_not_null() & pl.col("ts").is_not_null()


def _purchase(pl: Any) -> Any:
    return pl.col("amount").is_null() | (pl.col("amount") >= 0)


def _micros(pl: Any) -> Any:
    return (pl.col("amount") * 1_000_000).round(mode="half_away_from_zero").cast(pl.Int64)


def _segment_expr(pl: Any) -> Any:
    expr = None
    for name, r, f in SEGMENT_MAP:
        cond = pl.col("r_score").is_in(list(r)) & pl.col("f_score").is_in(list(f))
        expr = pl.when(cond).then(pl.lit(name)) if expr is None else expr.when(cond).then(pl.lit(name))
    return expr.otherwise(None)


def rfm_polars(df: Any) -> Any:
    import polars as pl

    end_us = df.select(pl.col("ts").filter(pl.col("user_id").is_not_null()).max().dt.epoch("us")).item()
    purchase = _purchase(pl)

    def score(col: str, descending: bool = False) -> Any:
        rank = pl.col(col).rank("min", descending=descending).cast(pl.Int64)
        return BINS * (rank - 1) // pl.len() + 1

    return (
        df.lazy()
        .filter(_valid_orders(pl))
        .group_by("user_id")
        .agg(
            frequency=purchase.sum(),
            last_us=pl.col("ts").filter(purchase).max().dt.epoch("us"),
            net_micros=_micros(pl).sum(),
        )
        .filter(pl.col("frequency") > 0)
        .with_columns(recency_days=(end_us - pl.col("last_us")) // DAY_US)
        .with_columns(
            r_score=score("recency_days", descending=True),
            f_score=score("frequency"),
            m_score=score("net_micros"),
            monetary=pl.col("net_micros") / 1e6,
        )
        .with_columns(
            rfm_score=pl.concat_str("r_score", "f_score", "m_score"),
            segment=_segment_expr(pl),
        )
        .select(RFM_COLUMNS)
        .sort("user_id")
        .collect()
    )


def rfm_normalize(table: pa.Table) -> pa.Table:
    return canonical(table, RFM_COLUMNS, sort_by=["user_id"])


# ------------------------------------------------------------------ concentration


def concentration_userops(table: pa.Table) -> pa.Table:
    import userops

    return userops.concentration(table, top=TOP, progress=False)


CONCENTRATION_SQL = f"""
WITH x AS (
    SELECT greatest(coalesce(sum(CAST(round(amount * 1000000) AS BIGINT)), 0), 0) AS x
    FROM events
    WHERE event = 'order' AND user_id IS NOT NULL AND ts IS NOT NULL
    GROUP BY user_id
    HAVING count(*) FILTER (WHERE amount >= 0 OR amount IS NULL) > 0
), ranked AS (
    SELECT x, row_number() OVER (ORDER BY x) AS i, count(*) OVER () AS n FROM x
)
SELECT n AS paying_users,
       {TOP} AS top_fraction,
       CAST(ceil({TOP} * n) AS BIGINT) AS top_users,
       sum(x) FILTER (WHERE i > n - ceil({TOP} * n)) / sum(x) AS top_revenue_share,
       sum((2 * i - n - 1) * CAST(x AS DOUBLE)) / (n * CAST(sum(x) AS DOUBLE)) AS gini
FROM ranked
GROUP BY n
"""


def concentration_duckdb(con: Any, table: pa.Table) -> pa.Table:
    return con.sql(CONCENTRATION_SQL).to_arrow_table()


def concentration_polars(df: Any) -> Any:
    import polars as pl

    x = pl.col("x")
    n = pl.len()
    i = pl.int_range(1, n + 1, dtype=pl.Int64)
    top_users = (n * TOP).ceil().cast(pl.Int64)
    return (
        df.lazy()
        .filter(_valid_orders(pl))
        .group_by("user_id")
        .agg(purchases=_purchase(pl).sum(), net=_micros(pl).sum())
        .filter(pl.col("purchases") > 0)
        .select(x=pl.col("net").clip(lower_bound=0))
        .sort("x")
        .select(
            paying_users=n.cast(pl.Int64),
            top_fraction=pl.lit(TOP),
            top_users=top_users,
            top_revenue_share=x.filter(i > n - top_users).sum() / x.sum(),
            gini=((2 * i - n - 1) * x.cast(pl.Float64)).sum() / (n * x.sum().cast(pl.Float64)),
        )
        .collect()
    )


def concentration_normalize(table: pa.Table) -> pa.Table:
    return canonical(table, CONCENTRATION_COLUMNS)


CASES = [
    Case(
        name="rfm",
        userops=rfm_userops,
        duckdb=rfm_duckdb,
        polars=rfm_polars,
        normalize=rfm_normalize,
        description="full RFM table, quantile scores (5 bins), segments, sorted by user_id",
    ),
    Case(
        name="concentration",
        userops=concentration_userops,
        duckdb=concentration_duckdb,
        polars=concentration_polars,
        normalize=concentration_normalize,
        description="top-20% share of net revenue (floored at 0) and Gini over paying users",
    ),
]
