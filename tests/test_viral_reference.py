"""Referral and viral growth (SPEC §10) against an independent DuckDB SQL reference.

The reference below is written from SPEC.md (§1 input rules, §2 acquisition, §10
referral) and the decisions documented in docs/viral.md, not from the Rust code:
every table userops returns is recomputed here in DuckDB SQL over the same Arrow
table and compared, integers and strings exactly, floats within a relative 1e-9.
The referral forest is computed by a recursive CTE over the valid edges (an
ancestor/descendant closure), a different algorithm from userops' breadth-first pass.

Reference definitions, in one place:
- valid rows: user_id and ts not null, and ts <= as_of when as_of is given;
  D = as_of, or max(ts) over valid rows (a bare date: the end of that day in tz);
- local time: ``timezone(tz, ts)``; a period is ``date_trunc(period, local)``;
- acquisition: per user, the first valid row whose event is in acquisition_events
  (any row when None); at that instant the row ``ORDER BY channel NULLS LAST,
  referrer_id NULLS LAST`` is taken; its referrer_id is the user's edge;
- an edge is valid when the referrer is acquired strictly before the user, else it is
  ``self_referral`` (referrer = user), ``unknown_referrer`` (never acquired) or
  ``referrer_not_earlier``; a user with an invalid edge is organic (a root);
- K-factor per cohort (the referrer's acquisition period) over eligible users
  (``a + W <= D``): referred = valid edges with ``a_child - a_referrer <= W``;
  invites = invite rows in ``[a, a + W]``; with invite rows in the data and invites > 0,
  K = (invites / eligible) * (referred / invites), else referred / eligible; invite
  columns null when the data has no invite row; referral_share = new users of the
  period with a valid edge / new users of the period;
- cycle time: hours ``(a_child - a_referrer) / 3600 s`` over valid edges,
  ``quantile_cont`` 0.5 and 0.9; by the child's period, every period with an
  acquired user listed;
- forest: generation = number of ancestors; root = the ancestor without a referrer;
  descendants, their net revenue (exact micro-units) and the depth below are
  aggregated over the closure; top referrers rank users with >= 1 direct referral by
  the metric descending, then user id.
"""

from __future__ import annotations

import datetime as dt
import functools
import random
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest

import userops
from _reference import as_of_micros, assert_tables_close

# The generated logs have rows with null ids and timestamps on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::userops.UserOpsWarning")

UTC = dt.timezone.utc
DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000
T0 = int(dt.datetime(2024, 1, 1, tzinfo=UTC).timestamp()) * 1_000_000

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

# --------------------------------------------------------------------------------------
# Generated data with the hard cases
# --------------------------------------------------------------------------------------

CHANNELS = [None, "ads", "organic", "social", "社交"]


def generate(seed: int, users: int = 1200) -> pa.Table:
    """An event log with every hard case of SPEC §10: self-referrals, unknown
    referrers, raw 2- and 3-cycles, referrers acquired later or at the same instant,
    a deep chain, duplicate signups (tied and not), invites before, inside and after
    the window, refunds, null amounts, null ids and timestamps, referrer ids on
    non-signup rows (ignored), and users who never sign up."""
    rng = random.Random(seed)
    rows: list[tuple[Any, ...]] = []

    def add(user: Any, t: Any, event: Any, amount: Any = None, channel: Any = None, ref: Any = None) -> None:
        rows.append((user, t, event, amount, channel, ref))

    def instant() -> int:
        kind = rng.random()
        if kind < 0.7:
            return T0 + rng.randrange(420 * 86_400) * 1_000_000
        if kind < 0.85:  # near local midnights and month ends, where zones matter
            return T0 + rng.randrange(14) * 31 * DAY_US + rng.randrange(-3, 4) * HOUR_US
        return T0 + rng.randrange(20) * 17 * DAY_US + 13 * HOUR_US  # shared instants: ties

    signup: dict[int, int] = {}
    for u in range(1, users + 1):
        if rng.random() < 0.04:
            add(u, instant(), "visit")  # never acquired (with the default acquisition_events)
            continue
        signup[u] = instant()
    ordered = sorted(signup, key=lambda u: signup[u])
    position = {u: i for i, u in enumerate(ordered)}
    unknown = [100_000 + k for k in range(30)]
    for k in unknown[:10]:
        add(k, instant(), "visit")  # seen, but never signs up
    referrer: dict[int, int | None] = {}
    for u in ordered:
        r = rng.random()
        i = position[u]
        if r < 0.40 or i == 0:
            referrer[u] = None
        elif r < 0.75:  # an earlier user, most often a recent one (deep trees)
            j = i - 1 - min(int(rng.expovariate(1 / 30)), i - 1)
            referrer[u] = ordered[j]
        elif r < 0.80:
            referrer[u] = u
        elif r < 0.85:
            referrer[u] = rng.choice(unknown)
        elif r < 0.92 and i + 1 < len(ordered):  # a later user
            referrer[u] = ordered[rng.randrange(i + 1, len(ordered))]
        else:
            referrer[u] = ordered[rng.randrange(len(ordered))]
    # Referrers acquired at the same instant as the user.
    for _ in range(15):
        a, b = rng.sample(ordered, 2)
        signup[b] = signup[a]
        referrer[b] = a
    # Raw 2-cycles and 3-cycles.
    for size in [2] * 8 + [3] * 8:
        group = rng.sample(ordered, size)
        for x, y in zip(group, group[1:] + group[:1]):
            referrer[y] = x
    # A deep chain.
    chain = list(range(50_000, 50_400))
    for k, u in enumerate(chain):
        signup[u] = T0 + 40 * DAY_US + k * HOUR_US
        referrer[u] = chain[k - 1] if k else None
    for u, t in signup.items():
        if u >= chain[0]:  # the chain stays intact: one signup row each, some orders
            add(u, t, "signup", channel="ads", ref=referrer[u])
            if rng.random() < 0.3:
                add(u, t + rng.randrange(1, 300) * HOUR_US, "order", amount=rng.randrange(-500, 5_000) / 100)
            continue
        channel = rng.choice(CHANNELS)
        add(u, t, "signup", channel=channel, ref=referrer.get(u))
        d = rng.random()
        if d < 0.08:  # tied duplicate rows: the tie-break decides
            add(u, t, "signup", channel=rng.choice(CHANNELS), ref=rng.choice([None, rng.choice(ordered)]))
            add(u, t, "signup", channel=channel, ref=rng.choice([None, rng.choice(ordered)]))
        elif d < 0.15:  # a later duplicate signup with another referrer: ignored
            add(u, t + rng.randrange(1, 90) * DAY_US, "signup", channel=rng.choice(CHANNELS), ref=rng.choice(ordered))
        for _ in range(rng.choice([0, 0, 1, 2, 4])):
            add(u, t + rng.randrange(-5 * 24, 45 * 24) * HOUR_US, "invite")
        if rng.random() < 0.1:
            add(u, t + 60 * HOUR_US, "invite")
            add(u, t + 30 * DAY_US, "invite")  # exactly at the window's end
        for _ in range(rng.choice([0, 0, 1, 3])):
            cents = rng.choice([None, 0, rng.randrange(1, 50_000), -rng.randrange(1, 20_000)])
            add(u, t + rng.randrange(-2, 200) * DAY_US, "order", amount=None if cents is None else cents / 100)
        if rng.random() < 0.3:
            add(u, t + rng.randrange(0, 100) * DAY_US, "activate", ref=rng.choice(ordered))  # referrer ignored
        if rng.random() < 0.2:
            add(u, t - rng.randrange(1, 10) * DAY_US, "visit")  # before signup
    for _ in range(20):
        add(None, instant(), "signup", ref=rng.choice(ordered))
        add(rng.choice(ordered), None, "signup", ref=rng.choice(ordered))
    rng.shuffle(rows)
    columns = list(zip(*rows))
    return pa.table(
        {
            "user_id": pa.array(columns[0], pa.int64()),
            "ts": pa.array(columns[1], pa.timestamp("us", tz="UTC")),
            "event": pa.array(columns[2], pa.string()),
            "amount": pa.array(columns[3], pa.float64()),
            "channel": pa.array(columns[4], pa.string()),
            "referrer_id": pa.array(columns[5], pa.int64()),
        },
        schema=SCHEMA,
    )


@functools.lru_cache(maxsize=None)
def generated(seed: int) -> pa.Table:
    return generate(seed)


def with_string_ids(table: pa.Table) -> pa.Table:
    """The same log with ids as strings ``"u<id>"``: key order is byte order then."""

    def to_str(column: pa.ChunkedArray) -> pa.ChunkedArray:
        return pc.binary_join_element_wise("u", pc.cast(column, pa.string()), "")

    return table.set_column(0, "user_id", to_str(table.column("user_id"))).set_column(
        5, "referrer_id", to_str(table.column("referrer_id"))
    )


# --------------------------------------------------------------------------------------
# The reference
# --------------------------------------------------------------------------------------


class Reference:
    """SPEC §10 in DuckDB SQL over one event log and one set of run options."""

    def __init__(self, table: pa.Table, tz: str = "UTC", as_of: Any = None, acquisition_events: Any = ("signup",)):
        self.con = duckdb.connect()
        self.con.register("ev", table)
        self.tz = tz
        cut = as_of_micros(as_of, tz)
        where = f"AND epoch_us(ts) <= {cut}" if cut is not None else ""
        self.con.execute(
            f"""CREATE TABLE valid AS
                SELECT user_id, epoch_us(ts) AS t, timezone('{tz}', CAST(ts AS TIMESTAMPTZ)) AS local,
                       event, amount, channel, referrer_id
                FROM ev WHERE user_id IS NOT NULL AND ts IS NOT NULL {where}"""
        )
        d = self.con.execute("SELECT max(t) FROM valid").fetchall()[0][0]
        self.d = cut if cut is not None else d
        if acquisition_events is None:
            acq_filter = "TRUE"
        else:
            acq_filter = "event IN (" + ", ".join(f"'{e}'" for e in acquisition_events) + ")"
        self.con.execute(
            f"""CREATE TABLE acq AS
                WITH rows AS (SELECT * FROM valid WHERE {acq_filter}),
                first AS (SELECT user_id, min(t) AS a FROM rows GROUP BY user_id),
                ranked AS (
                    SELECT r.user_id, r.t AS a, r.local, r.referrer_id,
                           row_number() OVER (PARTITION BY r.user_id
                                              ORDER BY r.channel ASC NULLS LAST, r.referrer_id ASC NULLS LAST) AS rn
                    FROM rows r JOIN first f ON r.user_id = f.user_id AND r.t = f.a
                )
                SELECT user_id, a, local, referrer_id FROM ranked WHERE rn = 1"""
        )
        self.con.execute(
            """CREATE TABLE edges AS
               SELECT u.user_id, u.referrer_id, u.a, r.a AS ra,
                      CASE WHEN u.referrer_id = u.user_id THEN 'self_referral'
                           WHEN r.user_id IS NULL THEN 'unknown_referrer'
                           WHEN r.a >= u.a THEN 'referrer_not_earlier'
                      END AS issue
               FROM acq u LEFT JOIN acq r ON r.user_id = u.referrer_id
               WHERE u.referrer_id IS NOT NULL"""
        )

    def sql(self, query: str) -> pa.Table:
        return self.con.sql(query).to_arrow_table()

    def issues(self) -> pa.Table:
        return self.sql("SELECT user_id, referrer_id, issue FROM edges WHERE issue IS NOT NULL ORDER BY user_id")

    def acquired_via(self) -> pa.Table:
        return self.sql(
            """SELECT a.user_id, CASE WHEN e.user_id IS NULL THEN 'organic' ELSE 'referred' END AS segment
               FROM acq a LEFT JOIN edges e ON e.user_id = a.user_id AND e.issue IS NULL
               ORDER BY a.user_id"""
        )

    def viral(self, period: str = "month", window_days: int = 30, invite_event: str = "invite") -> pa.Table:
        w = window_days * DAY_US
        counts = self.con.execute(
            f"""WITH coh AS (
                    SELECT user_id, a, CAST(date_trunc('{period}', local) AS DATE) AS cohort, a + {w} <= {self.d} AS eligible
                    FROM acq
                ), inv AS (
                    SELECT c.user_id, count(*) AS n FROM coh c
                    JOIN valid v ON v.user_id = c.user_id AND v.event = '{invite_event}' AND v.t BETWEEN c.a AND c.a + {w}
                    WHERE c.eligible GROUP BY c.user_id
                ), ref AS (
                    SELECT e.referrer_id AS user_id, count(*) AS n FROM edges e JOIN coh c ON c.user_id = e.referrer_id
                    WHERE e.issue IS NULL AND c.eligible AND e.a - e.ra <= {w} GROUP BY 1
                ), newref AS (
                    SELECT c.cohort, count(*) AS n FROM edges e JOIN coh c ON c.user_id = e.user_id
                    WHERE e.issue IS NULL GROUP BY 1
                )
                SELECT c.cohort, count(*) AS size, count(*) FILTER (WHERE c.eligible) AS eligible,
                       coalesce(sum(ref.n), 0) AS referred, coalesce(sum(inv.n), 0) AS invites,
                       coalesce(any_value(newref.n), 0) AS new_referred
                FROM coh c LEFT JOIN ref ON ref.user_id = c.user_id LEFT JOIN inv ON inv.user_id = c.user_id
                LEFT JOIN newref ON newref.cohort = c.cohort
                GROUP BY c.cohort ORDER BY c.cohort"""
        ).fetchall()
        has_invites = self.con.execute(f"SELECT count(*) FROM valid WHERE event = '{invite_event}'").fetchall()[0][0] > 0

        def ratio(a: float, b: float) -> float | None:
            return None if b == 0 else a / b

        out: dict[str, list[Any]] = {k: [] for k in VIRAL_COLUMNS}
        for cohort, size, eligible, referred, invites, new_referred in counts:
            ipu = ratio(invites, eligible) if has_invites else None
            conv = ratio(referred, invites) if has_invites else None
            k = ipu * conv if (ipu is not None and conv is not None) else ratio(referred, eligible)
            row = [cohort, size, eligible, size - eligible, referred, k, invites if has_invites else None, ipu, conv,
                   size, ratio(new_referred, size)]
            for name, value in zip(VIRAL_COLUMNS, row):
                out[name].append(value)
        return pa.table(out)

    def cycle(self, period: str | None = None) -> pa.Table:
        hours = "(e.a - e.ra) / 3600000000.0"
        if period is None:
            return self.sql(
                f"""SELECT CAST(NULL AS DATE) AS period, count(e.user_id) AS edges,
                           quantile_cont({hours}, 0.5) AS median_hours, quantile_cont({hours}, 0.9) AS p90_hours
                    FROM (SELECT * FROM edges WHERE issue IS NULL) e"""
            )
        return self.sql(
            f"""WITH p AS (SELECT user_id, CAST(date_trunc('{period}', local) AS DATE) AS period FROM acq)
                SELECT p.period, count(e.user_id) AS edges,
                       quantile_cont({hours}, 0.5) AS median_hours, quantile_cont({hours}, 0.9) AS p90_hours
                FROM p LEFT JOIN (SELECT * FROM edges WHERE issue IS NULL) e ON e.user_id = p.user_id
                GROUP BY p.period ORDER BY p.period"""
        )

    def tree(self, revenue_event: str = "order") -> pa.Table:
        return self.sql(
            f"""WITH RECURSIVE v AS (
                    SELECT user_id AS child, referrer_id AS parent FROM edges WHERE issue IS NULL
                ), anc(node, ancestor, depth) AS (
                    SELECT child, parent, 1 FROM v
                    UNION ALL
                    SELECT a.node, v.parent, a.depth + 1 FROM anc a JOIN v ON v.child = a.ancestor
                ), rev AS (
                    SELECT user_id, sum(coalesce(CAST(round(amount * 1000000) AS BIGINT), 0)) AS micros
                    FROM valid WHERE event = '{revenue_event}' GROUP BY user_id
                ), up AS (
                    SELECT node, count(*) AS generation, arg_max(ancestor, depth) AS root FROM anc GROUP BY node
                ), down AS (
                    SELECT a.ancestor, count(*) FILTER (WHERE a.depth = 1) AS direct, count(*) AS descendants,
                           sum(coalesce(rev.micros, 0)) AS micros, max(a.depth) AS max_depth
                    FROM anc a LEFT JOIN rev ON rev.user_id = a.node GROUP BY a.ancestor
                )
                SELECT acq.user_id, v.parent AS referrer_id, coalesce(up.generation, 0) AS generation,
                       coalesce(up.root, acq.user_id) AS root_id, coalesce(down.direct, 0) AS direct_referrals,
                       coalesce(down.descendants, 0) AS descendants,
                       coalesce(down.micros, 0) / 1e6 AS descendant_revenue, coalesce(down.max_depth, 0) AS max_depth
                FROM acq LEFT JOIN v ON v.child = acq.user_id LEFT JOIN up ON up.node = acq.user_id
                LEFT JOIN down ON down.ancestor = acq.user_id
                ORDER BY acq.user_id"""
        )

    def top(self, by: str = "descendants", n: int = 20, revenue_event: str = "order") -> pa.Table:
        tree = self.tree(revenue_event)
        self.con.register("tree_ref", tree)
        return self.sql(
            f"SELECT * FROM tree_ref WHERE direct_referrals > 0 ORDER BY {by} DESC, user_id ASC LIMIT {n}"
        )


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

# --------------------------------------------------------------------------------------
# Comparison
# --------------------------------------------------------------------------------------


#: Same columns, rows and values; floats within a relative 1e-9 or an absolute 1e-12.
assert_same = functools.partial(assert_tables_close, abs_tol=1e-12)


def chunked(table: pa.Table, rows: int) -> pa.Table:
    """The same rows cut into many record batches (edges cross batches and workers)."""
    return pa.Table.from_batches(table.to_batches(max_chunksize=rows), schema=table.schema)


OPTIONS = [
    pytest.param({"tz": "UTC"}, id="utc"),
    pytest.param({"tz": "Asia/Shanghai", "as_of": dt.datetime(2024, 9, 15, 12, tzinfo=UTC)}, id="shanghai-as_of"),
    pytest.param({"tz": "America/New_York", "as_of": dt.date(2024, 11, 30)}, id="new_york-as_of-date"),
]
ACQUISITION = [
    pytest.param(("signup",), id="signup"),
    pytest.param(None, id="first_seen"),
    pytest.param(("signup", "activate"), id="signup_or_activate"),
]

# --------------------------------------------------------------------------------------
# Tests
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("acquisition_events", ACQUISITION)
def test_edges_issues_and_segments(options: dict[str, Any], acquisition_events: Any) -> None:
    table = generated(1)
    ref = Reference(table, acquisition_events=acquisition_events, **options)
    run = dict(options, acquisition_events=acquisition_events)
    issues = userops.referral_issues(chunked(table, 997), threads=2, **run)
    expected = ref.issues()
    assert_same(issues, expected, "referral_issues")
    kinds = set(expected.column("issue").to_pylist())
    assert {"self_referral", "unknown_referrer", "referrer_not_earlier"} <= kinds, kinds
    assert_same(userops.acquired_via(table, **run), ref.acquired_via(), "acquired_via")


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("period, window_days", [("month", 30), ("week", 7), ("day", 0)])
def test_kfactor(options: dict[str, Any], period: str, window_days: int) -> None:
    table = generated(2)
    ref = Reference(table, **options)
    actual = userops.viral(chunked(table, 1500), period=period, window_days=window_days, threads=2, **options)
    assert_same(actual, ref.viral(period, window_days), f"viral {period} {window_days}")
    if window_days > 0:  # with W = 0 nobody can be referred: valid edges are strictly later
        assert sum(actual.column("referred").to_pylist()) > 0


def test_kfactor_other_events_and_no_invites() -> None:
    table = generated(3)
    ref = Reference(table, acquisition_events=None)
    actual = userops.viral(table, acquisition_events=None, invite_event="visit", window_days=14)
    assert_same(actual, ref.viral("month", 14, "visit"), "viral, visits as invites")
    no_invites = table.filter(pc.invert(pc.fill_null(pc.equal(table.column("event"), "invite"), False)))
    actual = userops.viral(no_invites)
    assert_same(actual, Reference(no_invites).viral(), "viral without invite rows")
    assert actual.column("invites").null_count == actual.num_rows


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("period", [None, "day", "week", "month"])
def test_cycle_time(options: dict[str, Any], period: str | None) -> None:
    table = generated(4)
    ref = Reference(table, **options)
    actual = userops.viral_cycle(chunked(table, 777), period=period, threads=2, **options)
    assert_same(actual, ref.cycle(period), f"viral_cycle {period}")


@pytest.mark.parametrize("options", OPTIONS[:2])
@pytest.mark.parametrize("acquisition_events", ACQUISITION[:2])
def test_referral_tree(options: dict[str, Any], acquisition_events: Any) -> None:
    table = generated(5)
    ref = Reference(table, acquisition_events=acquisition_events, **options)
    actual = userops.referral_tree(chunked(table, 1234), acquisition_events=acquisition_events, threads=2, **options)
    expected = ref.tree()
    assert_same(actual, expected, "referral_tree")
    assert max(actual.column("generation").to_pylist()) >= 399, "the deep chain is in the data"


@pytest.mark.parametrize("by", ["direct_referrals", "descendants", "descendant_revenue"])
def test_top_referrers(by: str) -> None:
    table = generated(6)
    ref = Reference(table)
    for n in (1, 20, 10_000):
        actual = userops.top_referrers(table, by=by, n=n)
        assert_same(actual, ref.top(by, n), f"top_referrers {by} {n}")


def test_string_ids_order_by_bytes() -> None:
    """With string ids the tie-break's "smallest referrer_id" and the output order are
    by string ("u10" < "u9"), never by first appearance."""
    table = with_string_ids(generated(7))
    ref = Reference(table, tz="Asia/Shanghai")
    assert_same(userops.referral_issues(chunked(table, 500), tz="Asia/Shanghai", threads=2), ref.issues(), "issues")
    assert_same(userops.referral_tree(chunked(table, 500), tz="Asia/Shanghai", threads=2), ref.tree(), "tree")
    assert_same(userops.viral(table, tz="Asia/Shanghai"), ref.viral(), "viral")


def test_the_demo_shop(events: pa.Table) -> None:
    ref = Reference(events)
    assert_same(userops.viral(events), ref.viral(), "viral on the shop")
    assert_same(userops.viral_cycle(events, period="month"), ref.cycle("month"), "cycle on the shop")
    assert_same(userops.referral_tree(events), ref.tree(), "tree on the shop")
    assert_same(userops.top_referrers(events), ref.top(), "top on the shop")


def test_split_batches_give_identical_results() -> None:
    """Any cut into batches, on any number of workers: the same tables to the last bit."""
    table = generated(8)
    for fn in (userops.viral, userops.viral_cycle, userops.referral_tree, userops.referral_issues, userops.acquired_via):
        one = fn(table, threads=1)
        for rows, threads in ((1, 2), (333, 2), (5000, 1)):
            assert fn(chunked(table, rows), threads=threads).equals(one), (fn.__name__, rows, threads)


def test_empty_input_keeps_the_schema() -> None:
    table = generated(9)
    empty = table.slice(0, 0)
    for fn in (userops.viral, userops.viral_cycle, userops.referral_tree, userops.top_referrers,
               userops.referral_issues, userops.acquired_via):
        e, f = fn(empty), fn(table)
        assert e.schema.names == f.schema.names, fn.__name__
    assert userops.viral_cycle(empty).to_pylist() == [{"period": None, "edges": 0, "median_hours": None, "p90_hours": None}]


def test_missing_referrer_column_is_named() -> None:
    table = generated(9).drop_columns(["referrer_id"])
    with pytest.raises(userops.ColumnError, match="referrer_id"):
        userops.referral_tree(table)


def test_parameters_are_checked() -> None:
    table = generated(9)
    with pytest.raises(userops.ParameterError, match="window_days"):
        userops.viral(table, window_days=99_999)
    with pytest.raises(userops.ParameterError, match="by"):
        userops.top_referrers(table, by="revenue")
    with pytest.raises(userops.ParameterError, match="acquisition_events"):
        userops.viral(table, acquisition_events=[])


def test_docstring_examples_run() -> None:
    import doctest

    import userops._viral as module

    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 20 and result.failed == 0
