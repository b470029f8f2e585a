"""Referral and viral growth (SPEC §10): userops vs DuckDB vs Polars.

All three engines compute the same thing from the raw event log (docs/viral.md):
- valid rows: ``user_id`` and ``ts`` not null; D = the latest valid ``ts``; UTC;
- acquisition: each user's first ``signup``; at that instant the row with the smallest
  non-null ``channel`` (as a string), then the smallest non-null ``referrer_id``;
- an edge is valid when the referrer was acquired strictly before the user (so it is
  neither a self-referral nor an unknown referrer);
- ``viral``: monthly cohorts, W = 30 days: eligible users (``a + W <= D``), users
  they referred within W, their invites in ``[a, a + W]``, K = invites per user ×
  invite conversion (``referred / eligible`` for a cohort without invites), new
  users and the share who arrived through a valid edge;
- ``viral_cycle``: median and p90 hours from referrer to referred, per month of the
  referred user's acquisition (every month with a new user listed);
- ``referral_tree``: per acquired user the valid referrer, generation, root, direct
  referrals, descendants, their net revenue (exact micro-units) and the depth below.
  DuckDB walks the forest with a recursive CTE; Polars with one join per generation.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from cases import DAY_US, Case, canonical

W_US = 30 * DAY_US
HOUR_US = 3_600_000_000

VIRAL_COLUMNS = [
    "cohort",
    "cohort_size",
    "eligible",
    "in_progress",
    "referred",
    "k_factor",
    "invites",
    "invites_per_user",
    "invite_conversion",
    "new_users",
    "referral_share",
]
CYCLE_COLUMNS = ["period", "edges", "median_hours", "p90_hours"]
TREE_COLUMNS = [
    "user_id",
    "referrer_id",
    "generation",
    "root_id",
    "direct_referrals",
    "descendants",
    "descendant_revenue",
    "max_depth",
]

# ----------------------------------------------------------------------- shared SQL

ACQ_SQL = """
valid AS (
    SELECT user_id, epoch_us(ts) AS t, CAST(event AS VARCHAR) AS event, amount,
           CAST(channel AS VARCHAR) AS channel, referrer_id
    FROM events WHERE user_id IS NOT NULL AND ts IS NOT NULL
), d AS (
    SELECT max(t) AS d FROM valid
), acq AS (
    SELECT user_id, min(t) AS a,
           first(referrer_id ORDER BY t, channel NULLS LAST, referrer_id NULLS LAST) AS referrer_id
    FROM valid WHERE event = 'signup' GROUP BY user_id
), edges AS (
    SELECT u.user_id, u.referrer_id, u.a, r.a AS ra
    FROM acq u JOIN acq r ON r.user_id = u.referrer_id
    WHERE r.a < u.a
)"""


def _polars_acq(df: Any) -> tuple[Any, Any, Any]:
    """(valid rows, acquisitions, valid edges) as lazy frames, and D."""
    import polars as pl

    valid = (
        df.lazy()
        .filter(pl.col("user_id").is_not_null() & pl.col("ts").is_not_null())
        .with_columns(
            t=pl.col("ts").dt.epoch("us"),
            event=pl.col("event").cast(pl.String),
            channel=pl.col("channel").cast(pl.String),
        )
    )
    acq = (
        valid.filter(pl.col("event") == "signup")
        .sort(["user_id", "t", "channel", "referrer_id"], nulls_last=True)
        .group_by("user_id")
        .agg(a=pl.col("t").first(), referrer_id=pl.col("referrer_id").first())
    )
    edges = (
        acq.join(acq.select(pl.col("user_id").alias("referrer_id"), pl.col("a").alias("ra")), on="referrer_id")
        .filter(pl.col("ra") < pl.col("a"))
        .select("user_id", "referrer_id", "a", "ra")
    )
    return valid, acq, edges


# ---------------------------------------------------------------------------- viral


def viral_userops(table: pa.Table) -> pa.Table:
    import userops

    return userops.viral(table, period="month", window_days=30)


VIRAL_SQL = f"""
WITH {ACQ_SQL}, coh AS (
    SELECT user_id, a, CAST(date_trunc('month', make_timestamp(a)) AS DATE) AS cohort, a + {W_US} <= d.d AS eligible
    FROM acq, d
), inv AS (
    SELECT c.user_id, count(*) AS n
    FROM coh c JOIN valid v ON v.user_id = c.user_id AND v.event = 'invite' AND v.t BETWEEN c.a AND c.a + {W_US}
    WHERE c.eligible GROUP BY c.user_id
), ref AS (
    SELECT e.referrer_id AS user_id, count(*) AS n
    FROM edges e JOIN coh c ON c.user_id = e.referrer_id
    WHERE c.eligible AND e.a - e.ra <= {W_US} GROUP BY 1
), newref AS (
    SELECT c.cohort, count(*) AS n FROM edges e JOIN coh c ON c.user_id = e.user_id GROUP BY 1
), agg AS (
    SELECT cohort, count(*) AS size, count(*) FILTER (WHERE eligible) AS eligible,
           coalesce(sum(ref.n), 0) AS referred, coalesce(sum(inv.n), 0) AS invites
    FROM coh LEFT JOIN ref USING (user_id) LEFT JOIN inv USING (user_id)
    GROUP BY cohort
), has AS (
    SELECT count(*) > 0 AS has FROM valid WHERE event = 'invite'
)
SELECT agg.cohort, size AS cohort_size, eligible, size - eligible AS in_progress, referred,
       CASE WHEN has AND invites > 0 AND eligible > 0 THEN (invites / eligible) * (referred / invites)
            WHEN eligible > 0 THEN referred / eligible END AS k_factor,
       CASE WHEN has THEN invites END AS invites,
       CASE WHEN has AND eligible > 0 THEN invites / eligible END AS invites_per_user,
       CASE WHEN has AND invites > 0 THEN referred / invites END AS invite_conversion,
       size AS new_users, coalesce(newref.n, 0) / size AS referral_share
FROM agg LEFT JOIN newref USING (cohort), has
ORDER BY agg.cohort
"""


def viral_duckdb(con: Any, table: pa.Table) -> pa.Table:
    return con.sql(VIRAL_SQL).to_arrow_table()


def viral_polars(df: Any) -> Any:
    import polars as pl

    valid, acq, edges = _polars_acq(df)
    d = valid.select(pl.col("t").max().alias("d"))
    coh = acq.join(d, how="cross").with_columns(
        cohort=pl.from_epoch("a", time_unit="us").dt.truncate("1mo").dt.date(),
        eligible=pl.col("a") + W_US <= pl.col("d"),
    )
    inv = (
        coh.filter("eligible")
        .join(valid.filter(pl.col("event") == "invite").select("user_id", "t"), on="user_id")
        .filter(pl.col("t").is_between(pl.col("a"), pl.col("a") + W_US))
        .group_by("user_id")
        .agg(invites=pl.len())
    )
    ref = (
        edges.join(coh.filter("eligible").select(pl.col("user_id").alias("referrer_id")), on="referrer_id")
        .filter(pl.col("a") - pl.col("ra") <= W_US)
        .group_by("referrer_id")
        .agg(referred=pl.len())
        .rename({"referrer_id": "user_id"})
    )
    newref = edges.join(coh.select("user_id", "cohort"), on="user_id").group_by("cohort").agg(new_referred=pl.len())
    has = valid.filter(pl.col("event") == "invite").select((pl.len() > 0).alias("has"))
    agg = (
        coh.join(ref, on="user_id", how="left")
        .join(inv, on="user_id", how="left")
        .group_by("cohort")
        .agg(
            cohort_size=pl.len(),
            eligible=pl.col("eligible").sum().cast(pl.Int64),
            referred=pl.col("referred").fill_null(0).sum(),
            invites=pl.col("invites").fill_null(0).sum(),
        )
        .join(newref, on="cohort", how="left")
        .join(has, how="cross")
    )
    elig, referred, invites, has_ = pl.col("eligible"), pl.col("referred"), pl.col("invites"), pl.col("has")
    ipu = pl.when(has_ & (elig > 0)).then(invites / elig)
    conv = pl.when(has_ & (invites > 0)).then(referred / invites)
    return (
        agg.with_columns(
            in_progress=pl.col("cohort_size") - elig,
            k_factor=pl.when(has_ & (invites > 0) & (elig > 0))
            .then((invites / elig) * (referred / invites))
            .when(elig > 0)
            .then(referred / elig),
            invites=pl.when(has_).then(invites),
            invites_per_user=ipu,
            invite_conversion=conv,
            new_users=pl.col("cohort_size"),
            referral_share=pl.col("new_referred").fill_null(0) / pl.col("cohort_size"),
        )
        .select(VIRAL_COLUMNS)
        .sort("cohort")
        .collect()
    )


def viral_normalize(table: pa.Table) -> pa.Table:
    return canonical(table, VIRAL_COLUMNS, sort_by=["cohort"])


# ---------------------------------------------------------------------- viral_cycle


def cycle_userops(table: pa.Table) -> pa.Table:
    import userops

    return userops.viral_cycle(table, period="month")


CYCLE_SQL = f"""
WITH {ACQ_SQL}, p AS (
    SELECT user_id, CAST(date_trunc('month', make_timestamp(a)) AS DATE) AS period FROM acq
)
SELECT p.period, count(e.user_id) AS edges,
       quantile_cont((e.a - e.ra) / {HOUR_US}.0, 0.5) AS median_hours,
       quantile_cont((e.a - e.ra) / {HOUR_US}.0, 0.9) AS p90_hours
FROM p LEFT JOIN edges e ON e.user_id = p.user_id
GROUP BY p.period ORDER BY p.period
"""


def cycle_duckdb(con: Any, table: pa.Table) -> pa.Table:
    return con.sql(CYCLE_SQL).to_arrow_table()


def cycle_polars(df: Any) -> Any:
    import polars as pl

    _, acq, edges = _polars_acq(df)
    hours = (pl.col("a_child") - pl.col("ra")) / HOUR_US
    return (
        acq.select("user_id", period=pl.from_epoch("a", time_unit="us").dt.truncate("1mo").dt.date())
        .join(edges.select("user_id", "ra", a_child="a"), on="user_id", how="left")
        .group_by("period")
        .agg(
            edges=pl.col("ra").count().cast(pl.Int64),
            median_hours=hours.quantile(0.5, interpolation="linear"),
            p90_hours=hours.quantile(0.9, interpolation="linear"),
        )
        .sort("period")
        .collect()
    )


def cycle_normalize(table: pa.Table) -> pa.Table:
    return canonical(table, CYCLE_COLUMNS, sort_by=["period"])


# -------------------------------------------------------------------- referral_tree


def tree_userops(table: pa.Table) -> pa.Table:
    import userops

    return userops.referral_tree(table)


TREE_SQL = f"""
WITH RECURSIVE {ACQ_SQL}, anc(node, ancestor, depth) AS (
    SELECT user_id, referrer_id, 1 FROM edges
    UNION ALL
    SELECT a.node, e.referrer_id, a.depth + 1 FROM anc a JOIN edges e ON e.user_id = a.ancestor
), rev AS (
    SELECT user_id, sum(coalesce(CAST(round(amount * 1000000) AS BIGINT), 0)) AS micros
    FROM valid WHERE event = 'order' GROUP BY user_id
), up AS (
    SELECT node, count(*) AS generation, arg_max(ancestor, depth) AS root FROM anc GROUP BY node
), down AS (
    SELECT a.ancestor, count(*) FILTER (WHERE a.depth = 1) AS direct, count(*) AS descendants,
           sum(coalesce(rev.micros, 0)) AS micros, max(a.depth) AS max_depth
    FROM anc a LEFT JOIN rev ON rev.user_id = a.node GROUP BY a.ancestor
)
SELECT acq.user_id, e.referrer_id, coalesce(up.generation, 0) AS generation,
       coalesce(up.root, acq.user_id) AS root_id, coalesce(down.direct, 0) AS direct_referrals,
       coalesce(down.descendants, 0) AS descendants, coalesce(down.micros, 0) / 1e6 AS descendant_revenue,
       coalesce(down.max_depth, 0) AS max_depth
FROM acq LEFT JOIN edges e ON e.user_id = acq.user_id LEFT JOIN up ON up.node = acq.user_id
LEFT JOIN down ON down.ancestor = acq.user_id
ORDER BY acq.user_id
"""


def tree_duckdb(con: Any, table: pa.Table) -> pa.Table:
    return con.sql(TREE_SQL).to_arrow_table()


def tree_polars(df: Any) -> Any:
    import polars as pl

    valid, acq, edges = _polars_acq(df)
    parent = edges.select(node="user_id", ancestor="referrer_id").collect()
    # The ancestor closure, one generation per join (as many joins as the deepest tree).
    level = parent.with_columns(depth=pl.lit(1, pl.Int64))
    levels = [level]
    while level.height:
        level = (
            level.join(parent.rename({"node": "ancestor", "ancestor": "next"}), on="ancestor")
            .select("node", ancestor="next", depth=pl.col("depth") + 1)
        )
        levels.append(level)
    closure = pl.concat(levels).lazy()
    rev = (
        valid.filter(pl.col("event") == "order")
        .group_by("user_id")
        .agg(micros=(pl.col("amount") * 1_000_000).round(mode="half_away_from_zero").cast(pl.Int64).fill_null(0).sum())
    )
    up = closure.group_by("node").agg(
        generation=pl.len().cast(pl.Int64), root=pl.col("ancestor").sort_by("depth").last()
    )
    down = (
        closure.join(rev.rename({"user_id": "node"}), on="node", how="left")
        .group_by("ancestor")
        .agg(
            direct=(pl.col("depth") == 1).sum().cast(pl.Int64),
            descendants=pl.len().cast(pl.Int64),
            micros=pl.col("micros").fill_null(0).sum(),
            max_depth=pl.col("depth").max(),
        )
    )
    return (
        acq.select("user_id")
        .join(edges.select("user_id", "referrer_id"), on="user_id", how="left")
        .join(up.rename({"node": "user_id"}), on="user_id", how="left")
        .join(down.rename({"ancestor": "user_id"}), on="user_id", how="left")
        .select(
            "user_id",
            "referrer_id",
            generation=pl.col("generation").fill_null(0),
            root_id=pl.coalesce("root", "user_id"),
            direct_referrals=pl.col("direct").fill_null(0),
            descendants=pl.col("descendants").fill_null(0),
            descendant_revenue=pl.col("micros").fill_null(0) / 1e6,
            max_depth=pl.col("max_depth").fill_null(0),
        )
        .sort("user_id")
        .collect()
    )


def tree_normalize(table: pa.Table) -> pa.Table:
    return canonical(table, TREE_COLUMNS, sort_by=["user_id"])


CASES = [
    Case(
        name="viral",
        userops=viral_userops,
        duckdb=viral_duckdb,
        polars=viral_polars,
        normalize=viral_normalize,
        description="K-factor per monthly cohort (W = 30 days), invites, conversion, referral share",
    ),
    Case(
        name="viral_cycle",
        userops=cycle_userops,
        duckdb=cycle_duckdb,
        polars=cycle_polars,
        normalize=cycle_normalize,
        description="median and p90 viral cycle hours per month of the referred user's acquisition",
    ),
    Case(
        name="referral_tree",
        userops=tree_userops,
        duckdb=tree_duckdb,
        polars=tree_polars,
        normalize=tree_normalize,
        description="referral forest per acquired user: generation, root, descendants and their revenue, depth",
    ),
]
