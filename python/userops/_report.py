"""``userops.report``: the whole analysis in one pass, as one self-contained HTML file.

The file needs no network to open: the style is inline, the plots are PNG images
embedded as base64 ``data:`` URIs, and no font, script or stylesheet is fetched.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from userops import _display, _inputs, _native, _run
from userops._cohorts import spend_rows

__all__ = ["Headline", "Report", "report"]

#: The sections of the report, in order: (anchor, English title, Chinese term).
SECTIONS: tuple[tuple[str, str, str], ...] = (
    ("summary", "Summary", "概览"),
    ("acquisition", "Acquisition and activation", "拉新 · 促活"),
    ("retention", "Retention", "留存"),
    ("revenue", "Revenue and repurchase", "付费 · 复购"),
    ("funnel", "Conversion funnel", "转化漏斗"),
    ("lifecycle", "Lifecycle and churn warning", "生命周期 · 用户预警"),
    ("rfm", "RFM value segments", "用户价值分层"),
    ("concentration", "Revenue concentration", "80/20"),
    ("viral", "Referral and viral growth", "裂变"),
)


@dataclass
class Headline:
    """One number of the summary: ``value`` (None when it cannot be computed from the
    data), ``text`` (as shown), and a sentence an operator understands."""

    key: str
    label: str
    value: float | int | None
    text: str
    sentence: str


@dataclass
class Report:
    """What :func:`report` made: the file's ``path`` (None when not written), the
    ``html`` text, every result table by name (``tables``), the summary ``headlines``,
    and ``skipped`` metrics (name → why, e.g. a column the data does not have)."""

    path: str | None
    html: str
    tables: dict[str, pa.Table]
    headlines: list[Headline]
    skipped: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def headline_table(self) -> pa.Table:
        """The headlines as a table: ``metric``, ``value``, ``meaning``."""
        return pa.table(
            {
                "metric": [h.label for h in self.headlines],
                "value": [h.text for h in self.headlines],
                "meaning": [h.sentence for h in self.headlines],
            }
        )

    def _repr_html_(self) -> str:
        where = f"<p>Written to <code>{html.escape(self.path)}</code>.</p>" if self.path else ""
        return where + _display.to_html(self.headline_table(), max_rows=50)

    def __repr__(self) -> str:
        where = f"report written to {self.path}\n" if self.path else ""
        return where + _display.to_text(self.headline_table(), max_rows=50)


# --------------------------------------------------------------------------------------
# which columns the input has
# --------------------------------------------------------------------------------------


def _present_columns(events: Any) -> list[str] | None:
    """The input's column names when they are known without reading it, else None."""
    try:
        if isinstance(events, (str, os.PathLike)) or (
            isinstance(events, (list, tuple)) and events and all(isinstance(e, (str, os.PathLike)) for e in events)
        ):
            import pyarrow.dataset as ds

            return list(ds.dataset(_inputs._expand(events), format="parquet").schema.names)
        if isinstance(events, (pa.Table, pa.RecordBatch, pa.RecordBatchReader)):
            return list(events.schema.names)
        if _inputs.is_pandas(events):
            return [str(c) for c in events.columns]
        schema = getattr(events, "schema", None)
        if isinstance(schema, pa.Schema):
            return list(schema.names)
        columns = getattr(events, "columns", None)  # polars DataFrame, DuckDB relation
        if isinstance(columns, (list, tuple)) and all(isinstance(c, str) for c in columns):
            return list(columns)
    except (OSError, TypeError, ValueError, pa.ArrowException):
        return None
    return None


def _plan(
    plugins: dict[str, dict[str, Any]], present: list[str] | None, columns: Mapping[str, str] | None
) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """The plugins whose required columns are present, and why the others are skipped."""
    if present is None:
        return plugins, {}
    have = set(present)
    names = {role: role for role in ("user_id", "ts", "event", "amount", "channel", "referrer_id")}
    names.update(columns or {})
    # Only metrics that need an optional column (amount, channel, referrer_id) are
    # skipped; a missing user_id, ts or event column is left to the engine's error.
    optional = {names["amount"], names["channel"], names["referrer_id"]}
    kept: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    for output, params in plugins.items():
        params = dict(params)
        name = params.pop("plugin", output)
        source = params.pop("breakdown", None)
        if isinstance(source, str) and source in skipped:
            skipped[output] = skipped[source]
            continue
        spec = _run.spec(name, params)
        needed = _native.needed_columns([spec], columns=dict(columns) if columns else None)
        missing = [c for c in needed["required"] if c not in have]
        if missing and all(c in optional for c in missing):
            skipped[output] = "the data has no " + ", ".join(f"`{c}`" for c in missing) + " column"
            continue
        kept[output] = plugins[output]
    return kept, skipped


# --------------------------------------------------------------------------------------
# numbers
# --------------------------------------------------------------------------------------


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1%}"


def _count(v: int | None) -> str:
    return "n/a" if v is None else f"{v:,}"


def _money(v: float | None) -> str:
    return "n/a" if v is None else f"{v:,.2f}"


def _ratio(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}"


def _rows(tables: Mapping[str, pa.Table], name: str) -> list[dict[str, Any]]:
    table = tables.get(name)
    return [] if table is None else table.to_pylist()


def _share(rows: list[dict[str, Any]], num: str, den: str, where: Callable[[dict[str, Any]], bool] = lambda r: True
           ) -> float | None:
    top = sum(r[num] or 0 for r in rows if where(r) and r[den] is not None)
    bottom = sum(r[den] or 0 for r in rows if where(r) and r[den] is not None)
    return top / bottom if bottom else None


def _period_word(period: str) -> str:
    return {"month": "month", "week": "week", "day": "day"}[period]


def _date_text(d: Any, period: str = "day") -> str:
    if d is None:
        return "n/a"
    if period == "month" and isinstance(d, _dt.date):
        return d.strftime("%Y-%m")
    return d.isoformat() if isinstance(d, _dt.date) else str(d)


def headlines(tables: Mapping[str, pa.Table], options: Mapping[str, Any]) -> list[Headline]:
    """The summary numbers, each computed from the result tables as its sentence says."""
    period = options["period"]
    word = _period_word(period)
    out: list[Headline] = []

    def add(key: str, label: str, value: Any, text: str, sentence: str) -> None:
        out.append(Headline(key, label, value, text, sentence))

    if "acquisition" in tables:
        rows = _rows(tables, "acquisition")
        users = sum(r["new_users"] or 0 for r in rows)
        periods = sorted({r["period"] for r in rows if r["new_users"]})
        span = f"{_date_text(periods[0], period)} to {_date_text(periods[-1], period)}" if periods else "no period"
        add("new_users", "New users", users, _count(users),
            f"users acquired (first {' / '.join(options['acquisition_events'] or ['event'])}), {span} (拉新).")
    if "activation" in tables:
        v = _share(_rows(tables, "activation"), "activated", "eligible")
        add("activation_rate", "Activation rate", v, _pct(v),
            f"of new users do `{options['activation_event']}` within {options['activation_days']} days of signup "
            "(促活; users signed up too recently to tell are left out).")
    if "retention" in tables:
        v = _share(_rows(tables, "retention"), "retained", "eligible", lambda r: r["offset"] == 1)
        add("retention_1", f"{word.capitalize()}-1 retention", v, _pct(v),
            f"of a {word}'s new users are active again in the next {word} (留存), over all cohorts observed.")
    if "paying_conversion" in tables:
        v = _share(_rows(tables, "paying_conversion"), "converted", "eligible")
        add("paying_conversion", "Paying conversion", v, _pct(v),
            f"of new users buy within {options['window_days']} days of signup (付费转化).")
    if "revenue" in tables:
        total = sum(r["revenue"] or 0.0 for r in _rows(tables, "revenue"))
        payers = _rows(tables, "concentration")[0]["paying_users"] if _rows(tables, "concentration") else None
        who = f" from {payers:,} paying users" if payers is not None else ""
        add("revenue", "Net revenue", total, _money(total), f"revenue after refunds{who} (付费).")
    if "repurchase" in tables:
        v = _share(_rows(tables, "repurchase"), "repurchased", "eligible")
        add("repurchase", f"{options['window_days']}-day repurchase rate", v, _pct(v),
            f"of first-time buyers buy again within {options['window_days']} days "
            f"({options['window_days']}天复购率).")
    if "next_month_repurchase" in tables:
        done = [r for r in _rows(tables, "next_month_repurchase") if r["complete"] and r["rate"] is not None]
        last = done[-1] if done else None
        v = None if last is None else last["rate"]
        month = "" if last is None else f" in {_date_text(last['month'], 'month')}"
        add("next_month_repurchase", "Next-month repurchase", v, _pct(v),
            f"of the paying users{month} paid again the next month (次月复购率, the last complete month).")
    if "funnel" in tables:
        rows = sorted(_rows(tables, "funnel"), key=lambda r: r["step"])
        v = rows[-1]["conversion_from_start"] if rows else None
        steps = " → ".join(r["event"] for r in rows)
        add("funnel", "Funnel conversion", v, _pct(v),
            f"of users who start `{steps}` reach the last step within {options['funnel_days']} days (转化漏斗).")
    if "lifecycle" in tables:
        done = [r for r in _rows(tables, "lifecycle") if r["complete"] and r["quick_ratio"] is not None]
        last = done[-1] if done else None
        v = None if last is None else last["quick_ratio"]
        when = "" if last is None else f" in {_date_text(last['period'], period)}"
        add("quick_ratio", "Quick ratio", v, _ratio(v),
            f"(new + resurrected) / dormant users{when}: above 1 the active base grows (生命周期).")
    if "churn_warning" in tables:
        flagged = [r for r in _rows(tables, "churn_warning") if r["flagged"]]
        money = sum(r["revenue"] or 0.0 for r in flagged)
        add("churn_flagged", "Churn warnings", len(flagged), _count(len(flagged)),
            f"users silent for over {options['churn_threshold']:g}× their usual gap between active days, "
            f"who spent {_money(money)} so far (用户预警).")
    if "rfm_segments" in tables:
        by_segment = {r["segment"]: r for r in _rows(tables, "rfm_segments")}
        slipping = [by_segment[s] for s in ("At Risk", "Can't Lose Them") if s in by_segment]
        if slipping:
            users = sum(r["users"] for r in slipping)
            share = sum(r["revenue_share"] or 0.0 for r in slipping)
            add("at_risk", "Valuable users slipping", users, _count(users),
                f"paying users in At Risk or Can't Lose Them (frequent buyers gone quiet), "
                f"{_pct(share)} of revenue (用户价值分层).")
    if "concentration" in tables:
        row = _rows(tables, "concentration")[0]
        v = row["top_revenue_share"]
        gini = "" if row["gini"] is None else f"; Gini {row['gini']:.2f}"
        add("top_share", f"Top {row['top_fraction']:.0%} revenue share", v, _pct(v),
            f"of revenue comes from the top {row['top_fraction']:.0%} of paying users (the 80/20 rule{gini}).")
    if "viral" in tables:
        v = _share(_rows(tables, "viral"), "referred", "eligible")
        add("k_factor", "K-factor", v, _ratio(v),
            f"new users each user brings through referrals within {options['viral_days']} days (裂变); "
            "1 would be self-sustaining growth.")
    return out


# --------------------------------------------------------------------------------------
# HTML
# --------------------------------------------------------------------------------------

_STYLE = """
:root { --ink:#1d2329; --muted:#6b7480; --line:#e3e6ea; --accent:#2f6fb0; --bg:#ffffff; --card:#f5f8fb; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
  font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial, "Noto Sans",
    "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif;
  font-size:15px; line-height:1.5; }
main { max-width: 1080px; margin: 0 auto; padding: 28px 28px 60px; }
header h1 { margin:0 0 4px; font-size:28px; letter-spacing:-0.01em; }
header .meta { color:var(--muted); margin:0; font-size:13.5px; }
nav { margin:18px 0 6px; padding:10px 0; border-top:1px solid var(--line); border-bottom:1px solid var(--line);
  font-size:13.5px; }
nav a { color:var(--accent); text-decoration:none; margin-right:16px; white-space:nowrap; }
section { margin-top:34px; }
h2 { font-size:21px; margin:0 0 6px; padding-bottom:4px; border-bottom:2px solid var(--ink); }
h2 .zh, h3 .zh { color:var(--muted); font-weight:normal; margin-left:8px; font-size:0.85em; }
h3 { font-size:16px; margin:22px 0 6px; }
p.explain { margin:6px 0 10px; max-width: 860px; }
p.note { color:var(--muted); font-size:13px; margin:4px 0; }
.cards { display:grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); gap:12px; margin-top:12px; }
.card { background:var(--card); border-radius:8px; padding:12px 14px; border:1px solid var(--line); }
.card .label { font-size:12.5px; color:var(--muted); text-transform:uppercase; letter-spacing:0.03em; }
.card .value { font-size:27px; font-weight:650; margin:2px 0 4px; font-variant-numeric: tabular-nums; }
.card .sentence { font-size:13px; color:#3c434b; line-height:1.4; }
figure { margin:10px 0 14px; }
figure img { max-width:100%; height:auto; display:block; }
.row { display:flex; flex-wrap:wrap; gap:18px; align-items:flex-start; }
.row > * { flex: 1 1 420px; min-width: 0; overflow-x:auto; }
.skipped { background:#fff6e5; border:1px solid #f3d9a4; border-radius:6px; padding:8px 12px; font-size:13.5px; }
footer { margin-top:48px; color:var(--muted); font-size:12.5px; border-top:1px solid var(--line); padding-top:10px; }
code { background:#f1f3f5; padding:0 4px; border-radius:3px; font-size:0.92em; }
"""


class _Html:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.problems: list[str] = []

    def add(self, text: str) -> None:
        self.parts.append(text)

    def p(self, text: str, cls: str = "explain") -> None:
        self.add(f'<p class="{cls}">{text}</p>')

    def h3(self, text: str, zh: str | None = None) -> None:
        tail = f'<span class="zh">{html.escape(zh)}</span>' if zh else ""
        self.add(f"<h3>{html.escape(text)}{tail}</h3>")

    def table(self, table: pa.Table | None, *, max_rows: int = 14, caption: str | None = None) -> None:
        if table is None:
            return
        self.add(_display.to_html(table, max_rows=max_rows, caption=caption, style=False))

    def figure(self, draw: Callable[[Any], Any], size: tuple[float, float], alt: str) -> None:
        """Draws with ``draw(ax)`` on a new figure and embeds it as a base64 PNG."""
        from matplotlib.figure import Figure

        try:
            fig = Figure(figsize=size, layout="constrained")
            draw(fig.add_subplot())
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=120, metadata={"Software": None})
        except Exception as e:  # noqa: BLE001 - one plot must not sink the report
            self.problems.append(f"{alt}: {type(e).__name__}: {e}")
            self.p(f"(The plot “{html.escape(alt)}” could not be drawn: {html.escape(str(e))}.)", "note")
            return
        data = base64.b64encode(buffer.getvalue()).decode("ascii")
        width = int(size[0] * 96)
        self.add(
            f'<figure><img alt="{html.escape(alt)}" style="width:{width}px" '
            f'src="data:image/png;base64,{data}"></figure>'
        )


def _pivot_acquisition(table: pa.Table, has_spend: bool) -> pa.Table:
    rows = table.to_pylist()
    periods = sorted({r["period"] for r in rows})
    channels = sorted({r["channel"] for r in rows}, key=lambda c: (c is None, str(c)))
    cells = {(r["period"], r["channel"]): r for r in rows}
    columns: dict[str, Any] = {"period": pa.array(periods, pa.date32())}
    for c in channels:
        columns[str(c)] = pa.array([(cells.get((p, c)) or {}).get("new_users", 0) for p in periods], pa.int64())
    columns["total"] = pa.array([sum((cells.get((p, c)) or {}).get("new_users", 0) or 0 for c in channels)
                                 for p in periods], pa.int64())
    if has_spend:
        spend = [sum((cells.get((p, c)) or {}).get("spend") or 0.0 for c in channels) for p in periods]
        columns["spend"] = pa.array(spend, pa.float64())
        columns["blended_cac"] = pa.array([s / n if n else None for s, n in zip(spend, columns["total"].to_pylist())],
                                          pa.float64())
    return pa.table(columns)


def _by_cohort(table: pa.Table) -> pa.Table:
    """Paying conversion summed over channels per cohort."""
    rows = table.to_pylist()
    cohorts = sorted({r["cohort"] for r in rows})
    sums = {c: {"new_users": 0, "eligible": 0, "converted": 0, "in_progress": 0} for c in cohorts}
    for r in rows:
        for k in sums[r["cohort"]]:
            sums[r["cohort"]][k] += r[k] or 0
    return pa.table(
        {
            "cohort": pa.array(cohorts, pa.date32()),
            "new_users": [sums[c]["new_users"] for c in cohorts],
            "eligible": [sums[c]["eligible"] for c in cohorts],
            "converted": [sums[c]["converted"] for c in cohorts],
            "rate": pa.array([sums[c]["converted"] / sums[c]["eligible"] if sums[c]["eligible"] else None
                              for c in cohorts], pa.float64()),
            "in_progress": [sums[c]["in_progress"] for c in cohorts],
        }
    )


def _stage_counts(table: pa.Table) -> pa.Table:
    order = ["new", "active", "resurrected", "at_risk", "churned"]
    stages = table.column("stage").to_pylist()
    total = len(stages)
    counts = {s: stages.count(s) for s in order}
    return pa.table(
        {
            "stage": order,
            "users": [counts[s] for s in order],
            "user_share": pa.array([counts[s] / total if total else None for s in order], pa.float64()),
        }
    )


def _skipped_note(doc: _Html, names: Sequence[str], skipped: Mapping[str, str]) -> bool:
    """Writes why metrics were skipped; True when every one of ``names`` was."""
    missing = [n for n in names if n in skipped]
    if missing:
        reasons = sorted({skipped[n] for n in missing})
        doc.add(f'<p class="skipped">Not computed: {", ".join(f"<code>{html.escape(n)}</code>" for n in missing)} '
                f"({html.escape('; '.join(reasons))}).</p>")
    return len(missing) == len(names)


def _code(text: str) -> str:
    """Escaped text with `backticked` parts as <code>."""
    parts = html.escape(text).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _funnel_hours(table: pa.Table) -> pa.Table:
    """The funnel table with times between steps in hours (easier to read than seconds)."""
    for name in ("median_seconds_from_previous", "p90_seconds_from_previous"):
        if name in table.column_names:
            hours = pc.divide(table.column(name), 3600.0)
            table = table.set_column(table.column_names.index(name), name.replace("seconds", "hours"), hours)
    return table


def _section_start(doc: _Html, anchor: str) -> None:
    title, zh = next((t, z) for a, t, z in SECTIONS if a == anchor)
    doc.add(f'<section id="{anchor}"><h2>{html.escape(title)}<span class="zh">{html.escape(zh)}</span></h2>')


def _render(
    tables: Mapping[str, pa.Table],
    heads: list[Headline],
    skipped: Mapping[str, str],
    options: Mapping[str, Any],
) -> tuple[str, list[str]]:
    from userops import plot

    doc = _Html()
    period = options["period"]
    word = _period_word(period)
    t = tables.get
    meta = next(iter(tables.values())).schema.metadata or {} if tables else {}
    rows_used = int(meta.get(b"userops.rows_used", b"0"))
    end = options.get("end")
    users_line = ""
    if "lifecycle_stage" in tables:
        users_line = f" · {tables['lifecycle_stage'].num_rows:,} users"
    doc.add("<header>")
    doc.add(f"<h1>{html.escape(options['title'])}</h1>")
    doc.add(
        f'<p class="meta">{rows_used:,} events{users_line} · end of data D = {html.escape(end or "n/a")} · '
        f"time zone {html.escape(options['tz'])} · {word}ly periods · userops {html.escape(_native.__version__)}</p>"
    )
    doc.add("</header><nav>")
    for anchor, title, _zh in SECTIONS:
        doc.add(f'<a href="#{anchor}">{html.escape(title)}</a>')
    doc.add("</nav>")

    # Summary.
    _section_start(doc, "summary")
    doc.p("The headline numbers of the whole event log, each explained in one sentence. Every number is "
          "computed in the same single pass over the events; the sections below show where it comes from.")
    doc.add('<div class="cards">')
    for h in heads:
        doc.add(
            f'<div class="card" id="headline-{h.key}"><div class="label">{html.escape(h.label)}</div>'
            f'<div class="value">{html.escape(h.text)}</div><div class="sentence">{_code(h.sentence)}</div></div>'
        )
    doc.add("</div>")
    if skipped:
        _skipped_note(doc, list(skipped), skipped)
    doc.add("</section>")

    # Acquisition and activation.
    _section_start(doc, "acquisition")
    if not _skipped_note(doc, ["acquisition", "activation", "paying_conversion"], skipped):
        if t("acquisition") is not None:
            doc.p(f"New users per {word} by acquisition channel (拉新): a user is acquired by their first "
                  f"<code>{html.escape(' / '.join(options['acquisition_events'] or ['any event']))}</code> event, "
                  "and the channel is the one on that event.")
            doc.figure(lambda ax: plot.acquisition(tables["acquisition"], ax=ax), (9.0, 3.8), "new users by channel")
            doc.table(_pivot_acquisition(tables["acquisition"], options["has_spend"]))
        if t("activation") is not None:
            doc.h3("Activation", "促活")
            doc.p(f"Share of each cohort that does <code>{html.escape(options['activation_event'])}</code> within "
                  f"{options['activation_days']} days of signup, and how long it takes (median and p90 hours). "
                  "Users who signed up too recently to tell are counted in <code>in_progress</code>, not as failures.")
            doc.table(tables["activation"])
        if t("paying_conversion") is not None:
            doc.h3("Paying conversion", "付费转化")
            doc.p(f"Share of each cohort's new users who buy within {options['window_days']} days of signup.")
            doc.table(_by_cohort(tables["paying_conversion"]))
    doc.add("</section>")

    # Retention.
    _section_start(doc, "retention")
    if not _skipped_note(doc, ["retention"], skipped):
        doc.p(f"Each row is a cohort (users who signed up in the same {word}); each column is how many {word}s "
              f"later. A cell is the share of the cohort active again in that {word} (留存). Blank cells are not "
              f"observed yet; italic cells are {word}s not over yet.")
        doc.figure(lambda ax: plot.retention_heatmap(tables["retention"], ax=ax), (9.6, 5.2), "retention heatmap")
        doc.figure(lambda ax: plot.retention_curves(tables["retention"], ax=ax), (9.0, 4.2), "retention curves")
    doc.add("</section>")

    # Revenue and repurchase.
    _section_start(doc, "revenue")
    if not _skipped_note(doc, ["revenue", "repurchase", "next_month_repurchase", "ltv"], skipped):
        if t("revenue") is not None:
            doc.p(f"Net revenue per {word} (refunds subtracted), active and paying users, ARPU (revenue per active "
                  "user), ARPPU (revenue per paying user) and the paying rate (付费).")
            doc.table(tables["revenue"])
        if t("repurchase") is not None:
            doc.h3(f"{options['window_days']}-day repurchase rate", f"{options['window_days']}天复购率")
            doc.p(f"Of the users whose first purchase was in a month, the share who bought again within "
                  f"{options['window_days']} days. Buyers whose window is still open are in <code>in_progress</code>.")
            doc.table(tables["repurchase"])
        if t("next_month_repurchase") is not None:
            doc.h3("Next-month repurchase rate", "次月复购率")
            doc.p("Of the users who paid in a month, the share who paid again the month after.")
            doc.table(tables["next_month_repurchase"])
        if t("ltv") is not None:
            doc.h3("Lifetime value by cohort", "生命周期价值 LTV")
            doc.p("Cumulative net revenue per user of each cohort, by months since signup"
                  + (", against the cohort's acquisition cost (CAC, 获客成本)." if options["has_spend"] else "."))
            doc.figure(lambda ax: plot.ltv(tables["ltv"], ax=ax), (9.0, 4.2), "LTV curves")
    doc.add("</section>")

    # Funnel.
    _section_start(doc, "funnel")
    if not _skipped_note(doc, ["funnel"], skipped):
        doc.p(f"Users who do each step in order within {options['funnel_days']} days of the first (转化漏斗). "
              "Users still inside their window are left out, not counted as drop-offs.")
        doc.figure(lambda ax: plot.funnel(tables["funnel"], ax=ax), (7.5, 4.0), "funnel")
        doc.table(_funnel_hours(tables["funnel"]))
    doc.add("</section>")

    # Lifecycle.
    _section_start(doc, "lifecycle")
    if not _skipped_note(doc, ["lifecycle", "lifecycle_stage", "churn_warning"], skipped):
        if t("lifecycle") is not None:
            doc.p(f"Active users per {word} split into new, returning (active the {word} before too) and "
                  f"resurrecting (back after a gap, 召回); dormant users (active the {word} before, not now, 流失) "
                  "below zero. The quick ratio (new + resurrecting) / dormant above 1 means the active base grows.")
            doc.figure(lambda ax: plot.lifecycle(tables["lifecycle"], ax=ax), (9.6, 4.4), "lifecycle")
            doc.table(tables["lifecycle"])
        if t("lifecycle_stage") is not None:
            doc.h3("Users by lifecycle stage at the end of data", "生命周期阶段")
            doc.p("new: first seen in the last 30 days; active: seen in the last 30 days; resurrected: back after "
                  "more than 90 days away; at_risk: last seen 30–90 days ago; churned: more than 90 days.")
            doc.table(_stage_counts(tables["lifecycle_stage"]))
        if t("churn_warning") is not None:
            warn = tables["churn_warning"]
            flagged = warn.filter(pc.equal(warn.column("flagged"), True))
            doc.h3("Churn early warning", "用户预警")
            doc.p(f"Users with at least 3 active days whose silence is more than {options['churn_threshold']:g} times "
                  f"their own median gap between active days, most valuable first: {flagged.num_rows:,} users. "
                  "These are the users to win back before they are gone.")
            doc.table(flagged.slice(0, 15), max_rows=15, caption=f"top 15 of {flagged.num_rows:,} flagged users")
    doc.add("</section>")

    # RFM.
    _section_start(doc, "rfm")
    if not _skipped_note(doc, ["rfm", "rfm_segments"], skipped):
        doc.p("Paying users scored 1–5 on recency (R: how recently they bought), frequency (F: how often) and "
              "monetary value (M), and placed in segments by R and F (用户价值分层). Champions bought recently and "
              "often; At Risk and Can't Lose Them used to buy often but have gone quiet: they deserve a win-back "
              "campaign (召回).")
        if t("rfm") is not None:
            doc.figure(lambda ax: plot.rfm_grid(tables["rfm"], ax=ax), (9.0, 5.2), "RFM grid")
        doc.table(t("rfm_segments"))
    doc.add("</section>")

    # Concentration.
    _section_start(doc, "concentration")
    if not _skipped_note(doc, ["concentration", "lorenz"], skipped):
        doc.p("How unequal revenue is over paying users: the Lorenz curve sorts them from lowest to highest revenue; "
              "the further it sags below the diagonal, the more revenue depends on a few users (Gini 0 = everyone "
              "equal, 1 = one user pays everything).")
        if t("lorenz") is not None:
            doc.figure(lambda ax: plot.lorenz(tables["lorenz"], t("concentration"), ax=ax), (6.2, 5.2), "Lorenz curve")
        doc.table(t("concentration"))
    doc.add("</section>")

    # Viral.
    _section_start(doc, "viral")
    if not _skipped_note(doc, ["viral", "viral_cycle", "top_referrers", "referral_issues"], skipped):
        if t("viral") is not None:
            doc.p(f"K-factor per cohort (裂变): users referred by the cohort's users within {options['viral_days']} "
                  "days, per user; with invite events, K = invites per user × invite conversion. Referral share is "
                  "the share of new users who came through a referral.")
            doc.figure(lambda ax: plot.k_factor(tables["viral"], ax=ax), (9.0, 3.8), "K-factor")
            doc.table(tables["viral"].select(["cohort", "cohort_size", "eligible", "referred", "k_factor",
                                              "invites_per_user", "invite_conversion", "referral_share"]))
        if t("viral_cycle") is not None:
            doc.h3("Viral cycle time", "裂变周期")
            doc.p("Hours from the referrer's signup to the referred user's signup, over every valid referral.")
            cycle = tables["viral_cycle"]
            if "period" in cycle.column_names and cycle.column("period").null_count == cycle.num_rows:
                cycle = cycle.drop_columns(["period"])
            doc.table(cycle)
        if t("retention_by_via") is not None:
            doc.h3("Retention of referred versus organic users")
            doc.p("Do users who came through a referral stay as long as the others? Retention curves of referred "
                  "and organic users, over all cohorts.")
            doc.figure(lambda ax: plot.retention_curves(tables["retention_by_via"], title="Retention: referred vs "
                                                        "organic users", ax=ax), (9.0, 4.0), "retention by acquisition")
        if t("top_referrers") is not None:
            doc.h3("Top referrers", "KOC")
            doc.p("Users whose referral trees grew largest (everyone below them, and their revenue).")
            doc.table(tables["top_referrers"], max_rows=10)
        if t("referral_issues") is not None:
            issues = tables["referral_issues"]
            doc.p(f"Referral edges left out as invalid (self-referral, unknown or later referrer): "
                  f"{issues.num_rows:,}.", "note")
    doc.add("</section>")

    doc.add(
        "<footer>Generated by userops. Definitions of every number: SPEC.md (the metric contract). "
        "Rates leave out users whose window has not closed yet; blank cells are not observed.</footer>"
    )
    body = "\n".join(doc.parts)
    page = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(options['title'])}</title><style>{_STYLE}{_display.TABLE_CSS}</style></head>"
        f"<body><main>\n{body}\n</main></body></html>\n"
    )
    return page, doc.problems


def report(
    events: Any,
    path: str | os.PathLike[str] | None = "report.html",
    *,
    title: str = "User operations report",
    period: str = "month",
    funnel_steps: Sequence[str] = ("signup", "activate", "order"),
    funnel_days: int = 14,
    spend: Any = None,
    top: float = 0.2,
    window_days: int = 30,
    activation_days: int = 7,
    viral_days: int = 30,
    churn_threshold: float = 2.0,
    acquisition_events: Sequence[str] | None = ("signup",),
    activation_event: str = "activate",
    revenue_event: str = "order",
    invite_event: str = "invite",
    as_of: Any = None,
    columns: Mapping[str, str] | None = None,
    tz: str = "UTC",
    threads: int = 0,
    progress: bool | Callable[[int, int], object] | None = None,
) -> Report:
    """The whole user-operations analysis of ``events``, as one HTML file.

    Runs every metric in ONE pass over the events (:func:`userops.analyze`):
    acquisition and CAC, activation, paying conversion, retention, LTV, revenue, 30-day
    and next-month repurchase, a funnel, lifecycle, stages and churn warning, RFM,
    revenue concentration and Lorenz curve, K-factor, viral cycle time, referral tree
    and referred-versus-organic retention. Metrics whose columns the data lacks (e.g.
    no ``referrer_id``: no viral section) are skipped and the report says why.

    The file is self-contained: inline style, plots as embedded PNG images, no
    network needed to open it. It starts with a summary of the headline numbers.

    Parameters:
        events: the event log (anything :func:`userops.rfm` accepts).
        path: where to write the HTML; None to only return it.
        title: the page title.
        period: ``"month"``, ``"week"`` or ``"day"``: cohorts and periods.
        funnel_steps, funnel_days: the funnel's steps and window.
        spend: channel spend for CAC (see :func:`userops.acquisition`), or None.
        top: the top fraction of paying users for revenue concentration.
        window_days: the window of paying conversion and repurchase.
        activation_days: the activation window.
        viral_days: the K-factor window.
        churn_threshold: the churn warning's risk-ratio threshold.
        acquisition_events, activation_event, revenue_event, invite_event: event names.
        as_of, columns, tz, threads, progress: as for every metric.

    Returns:
        A :class:`Report`: ``path``, ``html``, ``tables`` (every result by name),
        ``headlines`` (the summary numbers) and ``skipped`` metrics. In Jupyter it
        shows the headline numbers.

    Example:
        >>> import userops
        >>> events = userops.datasets.shop(1_000, seed=1)
        >>> r = userops.report(events, path=None)
        >>> r.html.startswith("<!doctype html>") and "https://" not in r.html
        True
        >>> [h.key for h in r.headlines][:3]
        ['new_users', 'activation_rate', 'retention_1']
    """
    if period not in ("day", "week", "month"):
        from userops.errors import ParameterError

        raise ParameterError(f"report: period must be 'day', 'week' or 'month', not {period!r}")
    acq = None if acquisition_events is None else [acquisition_events] if isinstance(
        acquisition_events, str) else list(acquisition_events)
    spend_list = spend_rows(spend)
    plugins: dict[str, dict[str, Any]] = {
        "acquisition": {"period": period, "acquisition_events": acq, "spend": spend_list},
        "activation": {"period": period, "window_days": activation_days, "activation_event": activation_event,
                       "acquisition_events": acq},
        "paying_conversion": {"period": period, "window_days": window_days, "revenue_event": revenue_event,
                              "acquisition_events": acq},
        "retention": {"period": period, "acquisition_events": acq},
        "ltv": {"period": period, "spend": spend_list, "revenue_event": revenue_event, "acquisition_events": acq},
        "revenue": {"period": period, "revenue_event": revenue_event},
        "repurchase": {"window_days": window_days, "revenue_event": revenue_event},
        "next_month_repurchase": {"revenue_event": revenue_event},
        "funnel": {"steps": list(funnel_steps), "window_days": funnel_days, "acquisition_events": acq},
        "lifecycle": {"period": period},
        "lifecycle_stage": {},
        "churn_warning": {"threshold": churn_threshold, "revenue_event": revenue_event},
        "rfm": {"revenue_event": revenue_event},
        "rfm_segments": {"revenue_event": revenue_event},
        "concentration": {"top": top, "revenue_event": revenue_event},
        "lorenz": {"revenue_event": revenue_event},
        "viral": {"period": period, "window_days": viral_days, "acquisition_events": acq,
                  "invite_event": invite_event},
        "viral_cycle": {"acquisition_events": acq},
        "top_referrers": {"by": "descendants", "n": 10, "revenue_event": revenue_event, "acquisition_events": acq},
        "referral_issues": {"acquisition_events": acq},
        "acquired_via": {"acquisition_events": acq},
        "retention_by_via": {"plugin": "retention", "breakdown": "acquired_via", "period": period,
                             "acquisition_events": acq},
    }
    plan, skipped = _plan(plugins, _present_columns(events), columns)
    from userops._api import analyze

    tables = analyze(events, plan, as_of=as_of, columns=columns, tz=tz, threads=threads, progress=progress)
    options: dict[str, Any] = {
        "title": title,
        "period": period,
        "tz": tz if isinstance(tz, str) else str(tz),
        "funnel_days": funnel_days,
        "window_days": window_days,
        "activation_days": activation_days,
        "viral_days": viral_days,
        "churn_threshold": churn_threshold,
        "acquisition_events": acq,
        "activation_event": activation_event,
        "has_spend": spend_list is not None,
        "end": _end_text(tables, as_of, tz),
    }
    heads = headlines(tables, options)
    page, problems = _render(tables, heads, skipped, options)
    written = None
    if path is not None:
        written = os.fspath(path)
        with open(written, "w", encoding="utf-8") as f:
            f.write(page)
    return Report(path=written, html=page, tables=dict(tables), headlines=heads, skipped=skipped, problems=problems)


def _end_text(tables: Mapping[str, pa.Table], as_of: Any, tz: Any) -> str | None:
    """D, the end of data, as text: ``as_of`` as given, else the latest timestamp."""
    if as_of is not None:
        return str(as_of)
    if not tables:
        return None
    meta = next(iter(tables.values())).schema.metadata or {}
    raw = meta.get(b"userops.max_ts_micros")
    if raw is None or not raw.strip(b"-").isdigit():
        return None
    micros = int(raw)
    instant = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc) + _dt.timedelta(microseconds=micros)
    try:
        from zoneinfo import ZoneInfo

        name = tz if isinstance(tz, str) else "UTC"
        if name != "UTC" and not name.startswith(("+", "-")):
            instant = instant.astimezone(ZoneInfo(name))
    except Exception:  # noqa: BLE001 - a zone Python does not know: show UTC
        pass
    return instant.strftime("%Y-%m-%d %H:%M %Z").strip()

