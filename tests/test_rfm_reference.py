"""RFM, segment summary, revenue concentration and Lorenz curve against DuckDB SQL.

The references below are written from SPEC.md (§1 input rules, §5 concentration,
§9 RFM), not from the Rust code: every number userops returns is recomputed here in
DuckDB SQL over the same Arrow table and compared, integers exactly, floats within
a relative 1e-9.

Reference definitions, in one place:
- valid rows: user_id and ts not null, and ts <= as_of when as_of is given;
- D = as_of, or max(ts) over valid rows of any event; a bare date as_of is the last
  microsecond of that day in the run's time zone;
- money in exact micro-units: round(amount * 1e6), halves away from zero;
- purchase: a revenue-event row with amount >= 0 or null; refund: amount < 0;
- RFM over users with >= 1 purchase: recency = (D - last purchase) // 1 day,
  frequency = purchases, monetary = net revenue (or net / purchases);
- quantile score = (bins * (rank() - 1)) // n + 1, ranked worst first;
  ntile = NTILE(bins) worst first, ties by user id; fixed = 1 + #(thresholds <= x)
  (recency: bins - #(thresholds < days));
- concentration over paying users with net floored at 0: top ceil(top * n) users,
  Gini = sum_i sum_j |x_i - x_j| / (2 n^2 mean) (computed by the pairwise self-join);
- Lorenz point i: bottom ceil(i * n / points) users' share of the total.
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
from _reference import (
    as_of_micros,
    assert_tables_close,
    cached_datasets,
    events,
    quiet,
    shop,
    shuffled_chunks,
    sql_string,
)

UTC = dt.timezone.utc
DAY_US = 86_400_000_000

#: SPEC §9 segment order of the summary (best first).
SEGMENTS = [
    "Champions",
    "Loyal Customers",
    "Potential Loyalists",
    "New Customers",
    "Promising",
    "Need Attention",
    "About to Sleep",
    "At Risk",
    "Can't Lose Them",
    "Hibernating",
]

#: SPEC §9's map from (R score, F score) to segment, as SQL.
SEGMENT_SQL = """
CASE
  WHEN r <= 2 AND f <= 2 THEN 'Hibernating'
  WHEN r <= 2 AND f <= 4 THEN 'At Risk'
  WHEN r <= 2 THEN 'Can''t Lose Them'
  WHEN r = 3 AND f <= 2 THEN 'About to Sleep'
  WHEN r = 3 AND f = 3 THEN 'Need Attention'
  WHEN r IN (3, 4) AND f >= 4 THEN 'Loyal Customers'
  WHEN r = 4 AND f = 1 THEN 'Promising'
  WHEN r = 5 AND f = 1 THEN 'New Customers'
  WHEN r IN (4, 5) AND f IN (2, 3) THEN 'Potential Loyalists'
  WHEN r = 5 AND f >= 4 THEN 'Champions'
END"""


# --------------------------------------------------------------------------------------
# Input tables
# --------------------------------------------------------------------------------------

T0 = dt.datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def at(day: float, hour: float = 0.0) -> dt.datetime:
    """``day`` days and ``hour`` hours after 2024-03-01 12:00 UTC."""
    return T0 + dt.timedelta(days=day, hours=hour)


# Ties in every dimension, and values equal to the fixed thresholds below.
TIES = [
    (1, at(0), "order", 10.0), (1, at(5), "order", 10.0),
    (2, at(0), "order", 10.0), (2, at(5), "order", 10.0),  # the same as user 1
    (3, at(5), "order", 20.0),  # recency and monetary of user 1
    (4, at(1), "order", 5.0), (4, at(2), "order", 5.0), (4, at(3), "order", 5.0),
    (5, at(3, 6), "order", 15.0),  # same recency days as user 4, later in the day
    (6, at(9), "order", 1.0),
    (7, at(9, 1), "order", 1.0),
    (8, at(10), "visit", None), (8, at(10.5), "signup", None),  # sets D, pays nothing
    (9, at(0), "order", 4.0), (9, at(0), "order", 4.0), (9, at(0), "order", 4.0),
    (9, at(0), "order", 4.0), (9, at(0), "order", 4.0),  # five at one instant
    (10, at(5), "order", 20.0),  # the same instant as user 3
    (11, at(7), "visit", None), (11, at(8), "order", 2.5),
    (12, at(2), "order", 50.0), (12, at(6), "order", 30.0),
]

# Refunds: larger than the purchases, only refunds, a refund that nets to zero.
REFUNDS = [
    (1, at(0), "order", 100.0), (1, at(2), "order", -150.0),  # net -50
    (2, at(1), "order", -20.0),  # only a refund: not a payer
    (3, at(1), "order", 50.0), (3, at(3), "order", -50.0),  # net 0
    (4, at(2), "order", 30.0), (4, at(4), "order", 30.0), (4, at(6), "order", -10.0),
    (5, at(8), "order", 10.0),
    (6, at(3), "order", 0.0),  # a zero amount is a purchase
    (7, at(9), "order", -5.0), (7, at(9, 2), "order", 7.25),
    (8, at(12), "visit", None),
    (9, at(4), "order", 0.1), (9, at(4), "order", 0.2), (9, at(5), "order", -0.3),  # nets to exactly 0
    (10, at(11), "order", 19.99), (10, at(11.2), "order", 0.01),
]

# Null amounts: purchases that add nothing.
NULL_AMOUNTS = [
    (1, at(1), "order", None),
    (2, at(2), "order", None), (2, at(3), "order", 10.0),
    (3, at(3), "order", 10.0),
    (4, at(3), "order", None), (4, at(4), "order", -5.0),  # net -5
    (5, at(6), "order", None), (5, at(6), "order", None), (5, at(6), "order", None),
    (6, at(7), "visit", None),
    (7, at(5), None, 100.0),  # a null event is not a revenue event
]

# Null user ids and timestamps: left out (and counted), even when they would set D.
NULL_KEYS = [
    (1, at(1), "order", 10.0),
    (2, at(2), "order", 20.0), (2, at(3), "order", 5.0),
    (3, at(4), "order", 7.0),
    (None, at(40), "order", 1000.0),  # would move D and add revenue
    (None, at(2), "visit", None),
    (4, None, "order", 1000.0),  # user 4 has no valid purchase
    (4, at(0), "visit", None),
    (3, None, "order", 50.0),
    (1, None, "visit", None),
    (5, at(5), "order", 1.0),
]
NULL_KEYS_COUNTS = {"user_id": 2, "ts": 3}

# Events after as_of (day 10 at 12:00) are ignored.
AS_OF = [
    (1, at(1), "order", 10.0), (1, at(20), "order", 30.0),
    (2, at(15), "order", 40.0),  # only after as_of: not a payer
    (3, at(2), "order", 100.0), (3, at(12), "order", -60.0),  # the refund comes later
    (4, at(30), "visit", None),
    (5, at(9, 23), "order", 5.0), (5, at(10), "order", 5.0),  # exactly at as_of counts
    (6, at(10, 11.5), "order", 8.0),  # 23:30 UTC on day 10
    (7, at(10, 12), "order", 9.0),  # 00:00 UTC the next day
    (8, at(4), "order", 2.0),
]

# One payer only; every payer tied; all revenue refunded.
SINGLE = [(1, at(0), "visit", None), (1, at(3), "order", 12.5)]
ALL_TIED = [(u, at(2), "order", 3.0) for u in range(1, 8)] + [(9, at(4), "visit", None)]
ZERO_REVENUE = [
    (1, at(1), "order", None),
    (2, at(1), "order", 10.0), (2, at(2), "order", -10.0),
    (3, at(3), "order", 5.0), (3, at(3, 1), "order", -8.0),
]
SINGLE_ORDERS = [(u, at(u % 7, u % 5), "order", float(10 + (u * 7) % 13)) for u in range(1, 40)]


def random_events(seed: int, users: int = 300, rows: int = 3000) -> pa.Table:
    """Small random logs with heavy ties: few days, few amounts, some nulls."""
    rng = np.random.default_rng(seed)
    user = rng.integers(1, users + 1, rows)
    day = rng.integers(0, 25, rows)
    hour = rng.choice([0, 6, 23], rows)
    minute = rng.choice([0, 59], rows)
    ts = (
        np.datetime64("2024-01-01T00:00", "us")
        + day.astype("timedelta64[D]")
        + hour.astype("timedelta64[h]")
        + minute.astype("timedelta64[m]")
    )
    name = rng.choice(["order", "order", "visit", "signup", "invite"], rows)
    amount = rng.choice([0.0, 1.5, 5.0, 10.0, 10.0, 20.0, 99.99, -5.0, -30.0, np.nan], rows)
    amount = np.where(name == "order", amount, np.nan)
    table = pa.table(
        {
            "user_id": pa.array(user, pa.int64(), mask=rng.random(rows) < 0.01),
            "ts": pa.array(ts, pa.timestamp("us", tz="UTC"), mask=rng.random(rows) < 0.01),
            "event": pa.array(name).dictionary_encode(),
            "amount": pa.array(amount, pa.float64(), from_pandas=True),  # NaN -> null
        }
    )
    return table


DATASETS: dict[str, Any] = {
    "ties": lambda: events(TIES),
    "ties_ms_naive": lambda: events(TIES).set_column(
        1, "ts", events(TIES).column("ts").cast(pa.timestamp("ms"))
    ),
    "ties_dict_event": lambda: events(TIES).set_column(
        2, "event", events(TIES).column("event").dictionary_encode()
    ),
    "refunds": lambda: events(REFUNDS),
    "null_amounts": lambda: events(NULL_AMOUNTS),
    "null_keys": lambda: events(NULL_KEYS),
    "as_of_data": lambda: events(AS_OF),
    "single": lambda: events(SINGLE),
    "all_tied": lambda: events(ALL_TIED),
    "zero_revenue": lambda: events(ZERO_REVENUE),
    "single_orders": lambda: events(SINGLE_ORDERS),
    "string_ids": lambda: events(
        [(f"u{u}" if u is not None else None, t, e, a) for u, t, e, a in TIES + [(None, at(1), "order", 3.0)]],
        user_type=pa.string(),
    ),
    "empty": lambda: events([]),
    "random_1": lambda: random_events(1),
    "random_2": lambda: random_events(2, users=40, rows=600),
    "shop_0": lambda: shop(3000, 0),
    "shop_1": lambda: shop(3000, 1),
    "shop_7": lambda: shop(3000, 7),
    "shop_3_shuffled": lambda: shuffled_chunks(shop(3000, 3), seed=3, rows=4096),
}

HAND = ["ties", "refunds", "null_amounts", "null_keys", "as_of_data", "all_tied", "zero_revenue", "string_ids"]


dataset = cached_datasets(DATASETS)


# --------------------------------------------------------------------------------------
# The DuckDB reference
# --------------------------------------------------------------------------------------


class Reference:
    """SPEC §5/§9 in DuckDB SQL over one Arrow table."""

    def __init__(self, table: pa.Table):
        self.con = duckdb.connect()
        self.con.execute("SET threads = 1")
        self.con.register("events_in", table)
        self.user_type = table.schema.field("user_id").type
        self._built: tuple | None = None  # (as_of_us, revenue_event) of the temp tables
        self._pairs: dict[tuple, Any] = {}  # the Gini numerator per (as_of_us, revenue_event)

    def _payers(self, *, as_of_us: int | None, revenue_event: str = "order") -> None:
        """Temp tables ``valid`` (rows kept), ``d`` (end of data), ``payers`` and ``x``
        (net revenue floored at 0)."""
        if self._built == (as_of_us, revenue_event):
            return
        as_of_sql = "NULL" if as_of_us is None else str(int(as_of_us))
        self.con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE valid AS
            SELECT user_id, epoch_us(ts) AS t, CAST(event AS VARCHAR) AS event, amount,
                   CAST(round(amount * 1000000) AS HUGEINT) AS micros
            FROM events_in
            WHERE user_id IS NOT NULL AND ts IS NOT NULL
              AND ({as_of_sql} IS NULL OR epoch_us(ts) <= {as_of_sql});
            CREATE OR REPLACE TEMP TABLE d AS
            SELECT coalesce({as_of_sql}, (SELECT max(t) FROM valid)) AS d;
            CREATE OR REPLACE TEMP TABLE payers AS
            SELECT user_id,
                   count(*) FILTER (WHERE amount >= 0 OR amount IS NULL) AS frequency,
                   max(t) FILTER (WHERE amount >= 0 OR amount IS NULL) AS last_t,
                   coalesce(sum(micros), 0) AS net_micros
            FROM valid
            WHERE event = {sql_string(revenue_event)}
            GROUP BY user_id
            HAVING count(*) FILTER (WHERE amount >= 0 OR amount IS NULL) > 0;
            CREATE OR REPLACE TEMP TABLE x AS SELECT user_id, greatest(net_micros, 0) AS x FROM payers;
            """
        )
        self._built = (as_of_us, revenue_event)

    def rfm_sql(
        self,
        *,
        bins: int = 5,
        method: str = "quantile",
        monetary: str = "sum",
        thresholds: dict | None = None,
    ) -> str:
        """The SQL of the RFM table over temp table ``payers`` (columns r, f, m are scores)."""
        # The monetary value to order by: exact micro-units, or the exact mean (equal
        # fractions give equal doubles: IEEE division is correctly rounded).
        m_key = "net_micros" if monetary == "sum" else "CAST(net_micros AS DOUBLE) / frequency"
        m_value = "CAST(net_micros AS DOUBLE) / 1e6" if monetary == "sum" else "CAST(net_micros AS DOUBLE) / 1e6 / frequency"
        # Worst first: recency descending, frequency and monetary ascending.
        keys = {"r": "recency_days DESC", "f": "frequency ASC", "m": "m_key ASC"}
        if method == "quantile":
            score = {k: f"(({bins} * (rank() OVER (ORDER BY {o}) - 1)) // count(*) OVER ()) + 1" for k, o in keys.items()}
        elif method == "ntile":
            score = {k: f"ntile({bins}) OVER (ORDER BY {o}, user_id ASC)" for k, o in keys.items()}
        elif method == "fixed":
            assert thresholds is not None
            micros = [round(v * 1_000_000) for v in thresholds["monetary"]]
            m_cmp = (
                (lambda t: f"net_micros >= {t}")
                if monetary == "sum"
                else (lambda t: f"net_micros >= CAST({t} AS HUGEINT) * frequency")
            )
            score = {
                "r": f"{bins} - (" + " + ".join(f"CAST({v!r} < recency_days AS INTEGER)" for v in thresholds["recency"]) + ")",
                "f": "1 + (" + " + ".join(f"CAST(frequency >= {v!r} AS INTEGER)" for v in thresholds["frequency"]) + ")",
                "m": "1 + (" + " + ".join(f"CAST({m_cmp(t)} AS INTEGER)" for t in micros) + ")",
            }
        else:
            raise ValueError(method)
        segment = SEGMENT_SQL if bins == 5 else "CAST(NULL AS VARCHAR)"
        return f"""
            WITH base AS (
              SELECT user_id, (SELECT d FROM d) - last_t AS elapsed, frequency, net_micros,
                     {m_key} AS m_key, {m_value} AS monetary
              FROM payers
            ), v AS (
              SELECT *, elapsed // {DAY_US} AS recency_days FROM base
            ), s AS (
              SELECT *, {score['r']} AS r, {score['f']} AS f, {score['m']} AS m FROM v
            )
            SELECT user_id, CAST(recency_days AS BIGINT) AS recency_days, CAST(frequency AS BIGINT) AS frequency,
                   monetary, r AS r_score, f AS f_score, m AS m_score,
                   CAST(r AS VARCHAR) || CAST(f AS VARCHAR) || CAST(m AS VARCHAR) AS rfm_score,
                   {segment} AS segment, net_micros
            FROM s
            ORDER BY user_id
        """

    def rfm(self, *, as_of_us: int | None = None, revenue_event: str = "order", **params: Any) -> pa.Table:
        self._payers(as_of_us=as_of_us, revenue_event=revenue_event)
        table = self.con.sql(self.rfm_sql(**params)).to_arrow_table()
        return table.drop_columns(["net_micros"])

    def rfm_segments(self, *, as_of_us: int | None = None, revenue_event: str = "order", **params: Any) -> pa.Table:
        self._payers(as_of_us=as_of_us, revenue_event=revenue_event)
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE scored AS {self.rfm_sql(**params)}")
        bins = params.get("bins", 5)
        names = SEGMENTS if bins == 5 else [None]
        self.con.execute("CREATE OR REPLACE TEMP TABLE names (pos INTEGER, segment VARCHAR)")
        self.con.executemany("INSERT INTO names VALUES (?, ?)", list(enumerate(names)))
        return self.con.sql(
            """
            WITH totals AS (SELECT count(*) AS users, sum(net_micros) AS revenue FROM scored),
            per AS (
              SELECT segment, count(*) AS users, sum(net_micros) AS revenue,
                     avg(recency_days) AS mean_recency_days, avg(frequency) AS mean_frequency,
                     avg(monetary) AS mean_monetary
              FROM scored GROUP BY segment
            )
            SELECT n.segment,
                   CAST(coalesce(p.users, 0) AS BIGINT) AS users,
                   CAST(coalesce(p.users, 0) AS DOUBLE) / nullif(t.users, 0) AS user_share,
                   CAST(coalesce(p.revenue, 0) AS DOUBLE) / 1e6 AS revenue,
                   CAST(coalesce(p.revenue, 0) AS DOUBLE) / nullif(CAST(t.revenue AS DOUBLE), 0) AS revenue_share,
                   p.mean_recency_days, p.mean_frequency, p.mean_monetary
            FROM names n CROSS JOIN totals t
            LEFT JOIN per p ON p.segment IS NOT DISTINCT FROM n.segment
            ORDER BY n.pos
            """
        ).to_arrow_table()

    def _pair_sum(self, key: tuple) -> int:
        """sum_i sum_j |x_i - x_j| in exact micro-units, by the pairwise self-join."""
        if key not in self._pairs:
            self._pairs[key] = self.con.execute(
                "SELECT CAST(coalesce(sum(abs(a.x - b.x)), 0) AS VARCHAR) FROM x a CROSS JOIN x b"
            ).fetchall()[0][0]
        return int(self._pairs[key])

    def concentration(self, *, top: float = 0.2, as_of_us: int | None = None, revenue_event: str = "order") -> pa.Table:
        self._payers(as_of_us=as_of_us, revenue_event=revenue_event)
        pair_sum = self._pair_sum((as_of_us, revenue_event))
        return self.con.sql(
            f"""
            WITH stats AS (SELECT count(*) AS n, coalesce(sum(x), 0) AS total FROM x),
            k AS (SELECT CAST(ceil({top!r} * n) AS BIGINT) AS k FROM stats),
            ranked AS (SELECT x, row_number() OVER (ORDER BY x DESC) AS pos FROM x),
            top_sum AS (SELECT coalesce(sum(x), 0) AS s FROM ranked WHERE pos <= (SELECT k FROM k)),
            pairs AS (SELECT CAST('{pair_sum}' AS HUGEINT) AS s)
            SELECT CAST(n AS BIGINT) AS paying_users, CAST({top!r} AS DOUBLE) AS top_fraction,
                   (SELECT k FROM k) AS top_users,
                   CAST((SELECT s FROM top_sum) AS DOUBLE) / nullif(CAST(total AS DOUBLE), 0) AS top_revenue_share,
                   -- sum |xi - xj| / (2 n^2 mean) = sum |xi - xj| / (2 n total)
                   CAST((SELECT s FROM pairs) AS DOUBLE) / nullif(2.0 * n * CAST(total AS DOUBLE), 0) AS gini
            FROM stats
            """
        ).to_arrow_table()

    def lorenz(self, *, points: int = 100, as_of_us: int | None = None, revenue_event: str = "order") -> pa.Table:
        self._payers(as_of_us=as_of_us, revenue_event=revenue_event)
        return self.con.sql(
            f"""
            WITH stats AS (SELECT count(*) AS n, coalesce(sum(x), 0) AS total FROM x),
            ranked AS (SELECT x, row_number() OVER (ORDER BY x ASC) AS pos FROM x),
            steps AS (
              SELECT i, CAST(i AS DOUBLE) / {points} AS user_share,
                     -- ceil(i * n / points) in exact integers
                     (i * (SELECT n FROM stats) + {points} - 1) // {points} AS k
              FROM range(0, {points} + 1) r(i)
            )
            SELECT user_share,
                   CAST((SELECT coalesce(sum(x), 0) FROM ranked WHERE pos <= k) AS DOUBLE)
                     / nullif(CAST((SELECT total FROM stats) AS DOUBLE), 0) AS revenue_share
            FROM steps ORDER BY i
            """
        ).to_arrow_table()


@functools.cache
def reference(name: str) -> Reference:
    return Reference(dataset(name))


# --------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------


#: Same columns, rows and values; floats within a relative 1e-9, no absolute tolerance.
assert_same = functools.partial(assert_tables_close, abs_tol=0.0)


INT_COLUMNS = {"recency_days", "frequency", "r_score", "f_score", "m_score", "users", "paying_users", "top_users"}


def assert_types(got: pa.Table) -> None:
    for field in got.schema:
        if field.name in INT_COLUMNS:
            assert pa.types.is_integer(field.type), f"{field.name}: {field.type}"
        elif field.name in {"rfm_score", "segment"}:
            assert pa.types.is_string(field.type) or pa.types.is_large_string(field.type), f"{field.name}: {field.type}"
        elif field.name != "user_id":
            assert pa.types.is_floating(field.type), f"{field.name}: {field.type}"


# --------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------

SMALL_FIXED = {"recency": [1, 3, 5, 8], "frequency": [2, 3, 4, 5], "monetary": [5, 10, 20, 50]}
LARGE_FIXED = {"recency": [30, 90, 180, 270], "frequency": [2, 3, 5, 8], "monetary": [20, 50, 100, 300]}

RFM_PARAMS = {
    "default": {},
    "bins3": {"bins": 3},
    "bins4": {"bins": 4},
    "ntile": {"method": "ntile"},
    "ntile_bins3": {"method": "ntile", "bins": 3},
    "mean": {"monetary": "mean"},
    "mean_ntile_bins4": {"monetary": "mean", "method": "ntile", "bins": 4},
    "fixed_small": {"method": "fixed", "thresholds": SMALL_FIXED},
    "fixed_large": {"method": "fixed", "thresholds": LARGE_FIXED},
    "fixed_mean_bins3": {
        "method": "fixed",
        "bins": 3,
        "monetary": "mean",
        "thresholds": {"recency": [2, 7], "frequency": [2, 4], "monetary": [10, 20]},
    },
}

ALL_DATASETS = list(DATASETS)


@pytest.mark.parametrize("params", list(RFM_PARAMS), ids=str)
@pytest.mark.parametrize("name", ALL_DATASETS, ids=str)
def test_rfm(name: str, params: str) -> None:
    p = RFM_PARAMS[params]
    got = quiet(userops.rfm, dataset(name), **p)
    expected = reference(name).rfm(**p)
    assert_types(got)
    assert got.schema.field("user_id").type == dataset(name).schema.field("user_id").type
    assert_same(got, expected, f"rfm[{name}, {params}]")


@pytest.mark.parametrize("params", ["default", "bins4", "mean_ntile_bins4", "fixed_small", "fixed_mean_bins3"], ids=str)
@pytest.mark.parametrize("name", ALL_DATASETS, ids=str)
def test_rfm_segments(name: str, params: str) -> None:
    p = RFM_PARAMS[params]
    got = quiet(userops.rfm_segments, dataset(name), **p)
    expected = reference(name).rfm_segments(**p)
    assert_types(got)
    assert_same(got, expected, f"rfm_segments[{name}, {params}]")


@pytest.mark.parametrize("top", [0.2, 0.01, 0.5, 1.0])
@pytest.mark.parametrize("name", ALL_DATASETS, ids=str)
def test_concentration(name: str, top: float) -> None:
    got = quiet(userops.concentration, dataset(name), top=top)
    expected = reference(name).concentration(top=top)
    assert_types(got)
    assert_same(got, expected, f"concentration[{name}, top={top}]")


@pytest.mark.parametrize("points", [100, 7, 1])
@pytest.mark.parametrize("name", ALL_DATASETS, ids=str)
def test_lorenz(name: str, points: int) -> None:
    got = quiet(userops.lorenz, dataset(name), points=points)
    expected = reference(name).lorenz(points=points)
    assert_same(got, expected, f"lorenz[{name}, points={points}]")


AS_OF_CASES = {
    # (dataset, as_of, tz)
    "datetime": ("as_of_data", at(10), "UTC"),
    "datetime_naive": ("as_of_data", at(10).replace(tzinfo=None), "UTC"),
    "date_utc": ("as_of_data", dt.date(2024, 3, 11), "UTC"),  # through 2024-03-11 23:59:59.999999 UTC
    "date_shanghai": ("as_of_data", dt.date(2024, 3, 11), "Asia/Shanghai"),  # through 15:59:59.999999 UTC
    "after_the_data": ("ties", at(100), "UTC"),  # D is as_of even past the last event
    "shop_date": ("shop_1", dt.date(2024, 6, 30), "UTC"),
    "shop_datetime": ("shop_0", dt.datetime(2024, 9, 15, 8, 30, tzinfo=UTC), "UTC"),
}


@pytest.mark.parametrize("case", list(AS_OF_CASES), ids=str)
def test_as_of(case: str) -> None:
    name, as_of, tz = AS_OF_CASES[case]
    as_of_us = as_of_micros(as_of, tz)
    ref = reference(name)
    for params in ("default", "ntile", "fixed_small"):
        p = RFM_PARAMS[params]
        got = quiet(userops.rfm, dataset(name), as_of=as_of, tz=tz, **p)
        assert_same(got, ref.rfm(as_of_us=as_of_us, **p), f"rfm[{case}, {params}]")
    got = quiet(userops.rfm_segments, dataset(name), as_of=as_of, tz=tz)
    assert_same(got, ref.rfm_segments(as_of_us=as_of_us), f"rfm_segments[{case}]")
    got = quiet(userops.concentration, dataset(name), as_of=as_of, tz=tz)
    assert_same(got, ref.concentration(as_of_us=as_of_us), f"concentration[{case}]")
    got = quiet(userops.lorenz, dataset(name), as_of=as_of, tz=tz, points=10)
    assert_same(got, ref.lorenz(as_of_us=as_of_us, points=10), f"lorenz[{case}]")


def test_as_of_hand_values() -> None:
    """The as_of rules, spelled out on the hand-made table (day 10 = 2024-03-11 12:00 UTC)."""
    rows = quiet(userops.rfm, dataset("as_of_data"), as_of=at(10)).to_pylist()
    by_user = {r["user_id"]: (r["recency_days"], r["frequency"], r["monetary"]) for r in rows}
    assert by_user == {1: (9, 1, 10.0), 3: (8, 1, 100.0), 5: (0, 2, 10.0), 8: (6, 1, 2.0)}
    # A bare date is the end of that day: user 6 (23:30 UTC) is in, user 7 (00:00 the next day) is out.
    rows = quiet(userops.rfm, dataset("as_of_data"), as_of=dt.date(2024, 3, 11)).to_pylist()
    assert {r["user_id"] for r in rows} == {1, 3, 5, 6, 8}
    assert {r["user_id"]: r["recency_days"] for r in rows}[6] == 0


def test_refund_and_null_amount_values() -> None:
    """SPEC §1 purchases and refunds, spelled out on the hand-made tables."""
    rows = {r["user_id"]: r for r in quiet(userops.rfm, dataset("refunds")).to_pylist()}
    assert 2 not in rows  # only a refund
    assert (rows[1]["frequency"], rows[1]["monetary"]) == (1, -50.0)
    assert (rows[4]["frequency"], rows[4]["monetary"], rows[4]["recency_days"]) == (2, 50.0, 8)
    assert rows[9]["monetary"] == 0.0  # 0.1 + 0.2 - 0.3 in exact micro-units
    assert (rows[6]["frequency"], rows[6]["monetary"]) == (1, 0.0)
    rows = {r["user_id"]: r for r in quiet(userops.rfm, dataset("null_amounts")).to_pylist()}
    assert (rows[1]["frequency"], rows[1]["monetary"]) == (1, 0.0)
    assert (rows[5]["frequency"], rows[5]["monetary"]) == (3, 0.0)
    assert (rows[4]["frequency"], rows[4]["monetary"]) == (1, -5.0)
    assert 7 not in rows  # a null event is no order
    conc = quiet(userops.concentration, dataset("refunds")).to_pylist()[0]
    assert conc["paying_users"] == 8  # users 1, 3, 4, 5, 6, 7, 9, 10


def test_left_out_rows_are_counted() -> None:
    """Null user ids and timestamps are left out, with a warning and metadata counts."""
    with pytest.warns(userops.UserOpsWarning, match="left out 5 row"):
        got = userops.rfm(dataset("null_keys"))
    meta = got.schema.metadata or {}
    assert int(meta[b"userops.null_user_id"]) == NULL_KEYS_COUNTS["user_id"]
    assert int(meta[b"userops.null_ts"]) == NULL_KEYS_COUNTS["ts"]
    assert got.column("user_id").to_pylist() == [1, 2, 3, 5]


def test_empty_input() -> None:
    """An empty input gives valid empty results with the same columns."""
    empty = dataset("empty")
    assert quiet(userops.rfm, empty).num_rows == 0
    assert quiet(userops.rfm, empty).column_names == quiet(userops.rfm, dataset("ties")).column_names
    segments = quiet(userops.rfm_segments, empty)
    assert segments.column("segment").to_pylist() == SEGMENTS
    assert segments.column("users").to_pylist() == [0] * 10
    conc = quiet(userops.concentration, empty).to_pylist()
    assert len(conc) == 1 and conc[0]["paying_users"] == 0 and conc[0]["gini"] is None


def test_analyze_matches_the_reference_in_one_pass() -> None:
    """``analyze`` runs several plugins in one scan; each output equals its reference."""
    name = "shop_7"
    out = quiet(
        userops.analyze,
        dataset(name),
        {
            "rfm": {},
            "rfm_ntile": {"plugin": "rfm", "method": "ntile", "bins": 4},
            "rfm_segments": {"monetary": "mean"},
            "concentration": {"top": 0.1},
            "lorenz": {"points": 20},
        },
    )
    ref = reference(name)
    assert_same(out["rfm"], ref.rfm(), "analyze rfm")
    assert_same(out["rfm_ntile"], ref.rfm(method="ntile", bins=4), "analyze rfm_ntile")
    assert_same(out["rfm_segments"], ref.rfm_segments(monetary="mean"), "analyze rfm_segments")
    assert_same(out["concentration"], ref.concentration(top=0.1), "analyze concentration")
    assert_same(out["lorenz"], ref.lorenz(points=20), "analyze lorenz")


def test_shop_has_the_hard_cases() -> None:
    """The generated data exercise refunds, ties and users who only visit."""
    ref = reference("shop_0")
    ref._payers(as_of_us=None)
    refunds, ties = ref.con.execute(
        "SELECT (SELECT count(*) FROM valid WHERE event = 'order' AND amount < 0),"
        " (SELECT count(*) - count(DISTINCT frequency) FROM payers)"
    ).fetchone()
    assert refunds > 0 and ties > 0
