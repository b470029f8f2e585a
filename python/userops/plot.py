"""Plots of userops results (matplotlib).

Each function takes the tidy table a metric returned (a ``pyarrow.Table``; a pandas or
polars frame works too), draws on ``ax`` (a new figure when None) and returns the
matplotlib ``Axes``. ``import userops`` does not import matplotlib; ``userops.plot``
does (``pip install 'userops[plot]'``).

======================  ============================================================
function                table
======================  ============================================================
``retention_heatmap``   :func:`userops.retention` (or :func:`userops.ltv`, ``values="ltv"``)
``retention_curves``    :func:`userops.retention`, by cohort or by its breakdown
``funnel``              :func:`userops.funnel`, with or without a breakdown
``lifecycle``           :func:`userops.lifecycle`
``rfm_grid``            :func:`userops.rfm` (one row per paying user)
``lorenz``              :func:`userops.lorenz` (and :func:`userops.concentration`)
``ltv``                 :func:`userops.ltv`, with its CAC when spend was given
``k_factor``            :func:`userops.viral`
``acquisition``         :func:`userops.acquisition`
======================  ============================================================

Example:
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import userops
    >>> events = userops.datasets.shop(2_000, seed=1)
    >>> ax = userops.plot.retention_heatmap(userops.retention(events))
    >>> ax.get_title(loc="left").startswith("Retention by cohort")
    True
"""

from __future__ import annotations

import datetime as _dt
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pyarrow as pa

try:
    import matplotlib
    import matplotlib.ticker
    from matplotlib.axes import Axes
    from matplotlib.colors import LinearSegmentedColormap, ListedColormap
    from matplotlib.patches import Patch
    from matplotlib.ticker import FuncFormatter, PercentFormatter
except ImportError as _e:  # pragma: no cover - depends on the environment
    raise ImportError(
        "userops.plot needs matplotlib: pip install 'userops[plot]' (or pip install matplotlib)"
    ) from _e

__all__ = [
    "acquisition",
    "funnel",
    "k_factor",
    "lifecycle",
    "lorenz",
    "ltv",
    "retention_curves",
    "retention_heatmap",
    "rfm_grid",
]

#: Colours used throughout (colour-blind friendly, after Okabe & Ito / Tableau).
PALETTE = ["#4C78A8", "#F58518", "#54A24B", "#E45756", "#72B7B2", "#B279A2", "#FF9DA6", "#9D755D", "#BAB0AC", "#EECA3B"]
LIFECYCLE_COLORS = {"new": "#54A24B", "returning": "#4C78A8", "resurrecting": "#F58518", "dormant": "#E45756"}

#: RFM segments (SPEC §9), best first, with their colours in the grid.
RFM_SEGMENT_COLORS = {
    "Champions": "#2E7D32",
    "Loyal Customers": "#66BB6A",
    "Potential Loyalists": "#AED581",
    "New Customers": "#4FC3F7",
    "Promising": "#B3E5FC",
    "Need Attention": "#FFE082",
    "About to Sleep": "#FFCC80",
    "At Risk": "#FF8A65",
    "Can't Lose Them": "#E53935",
    "Hibernating": "#BDBDBD",
}

#: The (R, F) → segment map of SPEC §9.
def rfm_segment(r: int, f: int) -> str:
    """The SPEC §9 segment of R and F scores (1–5)."""
    if r <= 2:
        return "Hibernating" if f <= 2 else ("At Risk" if f <= 4 else "Can't Lose Them")
    if r == 3:
        if f <= 2:
            return "About to Sleep"
        return "Need Attention" if f == 3 else "Loyal Customers"
    if r == 4:
        if f == 1:
            return "Promising"
        return "Potential Loyalists" if f <= 3 else "Loyal Customers"
    if f == 1:
        return "New Customers"
    return "Potential Loyalists" if f <= 3 else "Champions"


# --------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------


def _table(obj: Any, what: str) -> pa.Table:
    if isinstance(obj, pa.Table):
        return obj
    if isinstance(obj, pa.RecordBatch):
        return pa.Table.from_batches([obj])
    module = type(obj).__module__.split(".")[0]
    if module == "pandas":
        return pa.Table.from_pandas(obj, preserve_index=False)
    if hasattr(obj, "__arrow_c_stream__"):
        return pa.table(obj)
    raise TypeError(f"{what}: expected the table a userops metric returned, not {type(obj).__name__}")


def _need(table: pa.Table, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise ValueError(
            f"{what}: the table has no column {', '.join(f'`{c}`' for c in missing)} "
            f"(columns: {', '.join(table.column_names)}); pass the table userops.{what} plots"
        )


def _group_column(table: pa.Table) -> str | None:
    for name in ("channel", "segment"):
        if name in table.column_names:
            return name
    return None


def _select_group(table: pa.Table, group: Any, what: str) -> pa.Table:
    """One group of a broken-down table (rows whose channel/segment is ``group``)."""
    column = _group_column(table)
    if column is None:
        if group is not None:
            raise ValueError(f"{what}: group={group!r} given, but the table has no breakdown column")
        return table
    values = table.column(column).to_pylist()
    groups = list(dict.fromkeys(values))
    if group is None:
        if len(groups) == 1:
            return table
        raise ValueError(
            f"{what}: the table is broken down by `{column}`; pick one with group=... "
            f"(one of {', '.join(repr(g) for g in groups)})"
        )
    if group not in groups:
        raise ValueError(f"{what}: no {column} {group!r} in the table (groups: {', '.join(repr(g) for g in groups)})")
    mask = pa.array([v == group for v in values], pa.bool_())
    return table.filter(mask)


def _new_axes(ax: Axes | None, size: tuple[float, float]) -> Axes:
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=size, layout="constrained")
    return ax


def _tidy(ax: Axes, *, grid: Literal["x", "y", "both"] | None = "y") -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.spines["left"].set_color("#8a939e")
    ax.spines["bottom"].set_color("#8a939e")
    ax.tick_params(colors="#3c434b", labelsize=9)
    if grid:
        ax.grid(axis=grid, color="#e3e6ea", linewidth=0.8)
        ax.set_axisbelow(True)


def _period_kind(dates: Sequence[_dt.date]) -> str:
    """``month``, ``week`` or ``day``, guessed from the spacing of period starts."""
    dates = sorted({d for d in dates if d is not None})
    if not dates:
        return "month"
    if all(d.day == 1 for d in dates) and (
        len(dates) == 1 or min((b - a).days for a, b in zip(dates, dates[1:])) >= 28
    ):
        return "month"
    if len(dates) > 1 and all((b - a).days % 7 == 0 for a, b in zip(dates, dates[1:])) and all(
        d.weekday() == 0 for d in dates
    ):
        return "week"
    return "day"


def _date_label(d: Any, kind: str) -> str:
    if d is None:
        return "(none)"
    if isinstance(d, _dt.datetime):
        d = d.date()
    if isinstance(d, _dt.date):
        return d.strftime("%Y-%m") if kind == "month" else d.isoformat()
    return str(d)


def _offset_label(kind: str) -> str:
    return {"month": "months after signup", "week": "weeks after signup", "day": "days after signup"}[kind]


_CJK_FAMILIES = (
    "Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN",
    "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "PingFang SC", "Hiragino Sans GB", "Microsoft YaHei", "SimHei",
    "Heiti SC", "Arial Unicode MS",
)
_cjk_cache: list[str | None] = []


def _cjk_font() -> str | None:
    """An installed font family with Chinese glyphs, or None."""
    if not _cjk_cache:
        from matplotlib import font_manager

        names = {f.name for f in font_manager.fontManager.ttflist}
        _cjk_cache.append(next((n for n in _CJK_FAMILIES if n in names), None))
    return _cjk_cache[0]


def _title(ax: Axes, title: str | None, english: str, chinese: str | None = None, pad: float = 6.0) -> None:
    """Sets the title: the caller's, or the English default with the Chinese operator
    term in parentheses when a font with Chinese glyphs is installed."""
    family = _cjk_font()
    if title is None:
        title = f"{english} ({chinese})" if chinese and family else english
    text = ax.set_title(title, fontsize=11.5, loc="left", color="#1d2329", pad=pad)
    if family and any(ord(ch) > 0x2E7F for ch in title):
        text.set_fontfamily([matplotlib.rcParams["font.sans-serif"][0], family])


def _pct(value: float | None, decimals: int = 1) -> str:
    return "" if value is None else f"{value:.{decimals}%}"


def _money(value: float) -> str:
    if abs(value) >= 1e6:
        return f"{value / 1e6:,.2f}M"
    if abs(value) >= 1e4:
        return f"{value / 1e3:,.1f}k"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def _null(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


# --------------------------------------------------------------------------------------
# retention
# --------------------------------------------------------------------------------------


def retention_heatmap(
    table: Any,
    *,
    values: str = "rate",
    group: Any = None,
    annotate: bool = True,
    cmap: str | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """The cohort triangle as a heatmap: one row per cohort, one column per offset.

    Cells hold ``values`` (``"rate"`` for :func:`userops.retention`; ``"ltv"`` for
    :func:`userops.ltv`), annotated as percentages for rates; cells that are not
    observed yet (null) stay blank, and cells whose period is not over
    (``complete = false``) are annotated in italics. Row labels carry the cohort size.

    Parameters:
        table: the tidy retention (or LTV) table.
        values: the column to show.
        group: with a broken-down table, the channel or segment to show.
        annotate: write the value in each cell.
        cmap: a matplotlib colormap name (default: white to blue).
        title: the title (default: "Retention by cohort (留存)").
        ax: the Axes to draw on; None for a new figure.

    Returns:
        The Axes; its image holds the matrix shown (``ax.images[0].get_array()``).
    """
    table = _table(table, "retention_heatmap")
    _need(table, ["cohort", "offset", values], "retention_heatmap")
    table = _select_group(table, group, "retention_heatmap")
    rows = table.to_pylist()
    cohorts = sorted({r["cohort"] for r in rows})
    offsets = sorted({r["offset"] for r in rows})
    index = {c: i for i, c in enumerate(cohorts)}
    position = {o: j for j, o in enumerate(offsets)}
    import numpy as np

    matrix = np.full((len(cohorts), len(offsets)), np.nan)
    complete = np.ones((len(cohorts), len(offsets)), dtype=bool)
    sizes: dict[Any, Any] = {}
    for r in rows:
        i, j = index[r["cohort"]], position[r["offset"]]
        v = r[values]
        if not _null(v):
            matrix[i, j] = v
        if r.get("complete") is False:
            complete[i, j] = False
        if "cohort_size" in r:
            sizes[r["cohort"]] = r["cohort_size"]
    kind = _period_kind(cohorts)
    is_rate = values.endswith(("rate", "share"))
    ax = _new_axes(ax, (min(1.0 + 0.62 * len(offsets), 14.0), min(1.2 + 0.36 * len(cohorts), 12.0)))
    base = matplotlib.colormaps[cmap] if cmap else LinearSegmentedColormap.from_list(
        "userops", ["#f4f8fc", "#2f6fb0", "#0b3b6e"]
    )
    colormap = base.with_extremes(bad=(1.0, 1.0, 1.0, 0.0))  # unobserved cells stay blank
    masked = np.ma.masked_invalid(matrix)
    finite = matrix[np.isfinite(matrix)]
    vmax = 1.0 if is_rate else (float(finite.max()) if finite.size else 1.0)
    # Offset 0 is 100% by definition: scale colours to the rest so they stay readable.
    later = matrix[:, 1:][np.isfinite(matrix[:, 1:])] if matrix.shape[1] > 1 else finite
    if is_rate and later.size and later.max() < 0.95:
        vmax = float(later.max())
    ax.imshow(masked, cmap=colormap, vmin=0.0, vmax=vmax, aspect="auto", interpolation="nearest")
    ax.set_xticks(range(len(offsets)), [str(o) for o in offsets])
    labels = [_date_label(c, kind) + (f"  ({sizes[c]:,})" if sizes.get(c) is not None else "") for c in cohorts]
    ax.set_yticks(range(len(cohorts)), labels)
    ax.set_xlabel(_offset_label(kind), fontsize=9.5, color="#3c434b")
    ax.set_ylabel("cohort  (users)" if sizes else "cohort", fontsize=9.5, color="#3c434b")
    ax.xaxis.set_ticks_position("top")
    ax.xaxis.set_label_position("top")
    ax.tick_params(length=0, labelsize=8.5, colors="#3c434b")
    for side in ax.spines.values():
        side.set_visible(False)
    if annotate:
        small = len(offsets) > 10
        for i in range(len(cohorts)):
            for j in range(len(offsets)):
                v = matrix[i, j]
                if not np.isfinite(v):
                    continue
                text = _pct(float(v), 0 if small else 1) if is_rate else _money(float(v))
                dark = v > 0.55 * vmax
                ax.text(
                    j, i, text, ha="center", va="center", fontsize=7.5 if small else 8.5,
                    color="white" if dark else "#1d2329", style="normal" if complete[i, j] else "italic",
                )
    if values == "rate":
        _title(ax, title, "Retention by cohort", "留存", pad=28)
    else:
        _title(ax, title, f"{values} by cohort", pad=28)
    if not complete.all():
        ax.annotate("italic: period not over yet", xy=(1.0, 1.0), xycoords="axes fraction", xytext=(0, 28),
                    textcoords="offset points", ha="right", va="bottom", fontsize=8, color="#6b7480")
    return ax


def _weighted_curve(rows: list[dict[str, Any]], num: str, den: str) -> dict[int, float]:
    """Per offset: sum(num) / sum(den) over the rows observed there."""
    top: dict[int, float] = defaultdict(float)
    bottom: dict[int, float] = defaultdict(float)
    for r in rows:
        if _null(r[den]) or _null(r[num]) or not r[den]:
            continue
        top[r["offset"]] += r[num]
        bottom[r["offset"]] += r[den]
    return {o: top[o] / bottom[o] for o in sorted(bottom) if bottom[o]}


def _chained_ltv(rows: list[dict[str, Any]]) -> dict[int, float]:
    """LTV per user by offset over several cohorts, chain-linked: the value at 0 is
    ``sum(cumulative_revenue) / sum(cohort_size)``; from k-1 to k it grows by the mean
    revenue per user earned in offset k by the cohorts observed at k. (A plain average
    over the cohorts observed at each offset would jump whenever the older cohorts
    differ from the younger ones, and could even fall.)"""
    by_cohort: dict[Any, dict[int, dict[str, Any]]] = defaultdict(dict)
    for r in rows:
        if not _null(r["cumulative_revenue"]) and r["cohort_size"]:
            by_cohort[r["cohort"]][r["offset"]] = r
    offsets = sorted({o for cells in by_cohort.values() for o in cells})
    curve: dict[int, float] = {}
    for k in offsets:
        observed = [cells for cells in by_cohort.values() if k in cells and (k == offsets[0] or k - 1 in cells)]
        size = sum(cells[k]["cohort_size"] for cells in observed)
        if not size:
            break
        if k == offsets[0]:
            curve[k] = sum(cells[k]["cumulative_revenue"] for cells in observed) / size
        elif k - 1 in curve:
            earned = sum(cells[k]["cumulative_revenue"] - cells[k - 1]["cumulative_revenue"] for cells in observed)
            curve[k] = curve[k - 1] + earned / size
    return curve


def retention_curves(
    table: Any,
    *,
    by: str | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Retention curves: the share of a cohort active k periods after signup.

    Without a breakdown, one thin line per cohort (older cohorts darker) and a thick
    line for all cohorts together. With a breakdown (a ``channel`` or ``segment``
    column: ``userops.retention(events, breakdown=...)``), one line per group. An
    all-cohort or group line at offset k is ``sum(retained) / sum(eligible)`` over the
    cohorts observed at k.

    Parameters:
        table: the tidy retention table.
        by: ``"cohort"`` or ``"group"``; None picks ``"group"`` for a broken-down table.
        title: the title.
        ax: the Axes to draw on; None for a new figure.

    Returns:
        The Axes; each line's label is its cohort or group (``"all cohorts"`` for the
        weighted line), its y data the rates.
    """
    table = _table(table, "retention_curves")
    _need(table, ["cohort", "offset", "rate", "retained", "eligible"], "retention_curves")
    column = _group_column(table)
    by = by or ("group" if column else "cohort")
    rows = table.to_pylist()
    kind = _period_kind([r["cohort"] for r in rows])
    ax = _new_axes(ax, (8.5, 4.6))
    _tidy(ax, grid="both")
    if by == "group":
        if column is None:
            raise ValueError("retention_curves: by='group' needs a broken-down table (a channel or segment column)")
        groups = list(dict.fromkeys(r[column] for r in rows))
        for k, g in enumerate(groups):
            curve = _weighted_curve([r for r in rows if r[column] == g], "retained", "eligible")
            label = "(none)" if g is None else str(g)
            ax.plot(list(curve), list(curve.values()), marker="o", markersize=3.5, linewidth=2,
                    color=PALETTE[k % len(PALETTE)], label=label)
        legend_title = column
    elif by == "cohort":
        if column is not None:
            raise ValueError("retention_curves: by='cohort' needs a table without a breakdown; use by='group'")
        cohorts = sorted({r["cohort"] for r in rows})
        colors = matplotlib.colormaps["viridis"]
        for i, c in enumerate(cohorts):
            points = sorted((r["offset"], r["rate"]) for r in rows if r["cohort"] == c and not _null(r["rate"]))
            shade = colors(0.1 + 0.8 * i / max(len(cohorts) - 1, 1))
            ax.plot([p[0] for p in points], [p[1] for p in points], linewidth=1.1, alpha=0.75, color=shade,
                    label=_date_label(c, kind))
        curve = _weighted_curve(rows, "retained", "eligible")
        ax.plot(list(curve), list(curve.values()), color="#1d2329", linewidth=2.6, label="all cohorts")
        legend_title = "cohort"
    else:
        raise ValueError(f"retention_curves: by must be 'cohort' or 'group', not {by!r}")
    ax.set_ylim(0, 1.02)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel(_offset_label(kind), fontsize=9.5)
    ax.set_ylabel("retained", fontsize=9.5)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.legend(title=legend_title, fontsize=8, title_fontsize=8.5, frameon=False, loc="upper left",
              bbox_to_anchor=(1.01, 1.0))
    _title(ax, title, "Retention curves", "留存")
    return ax


# --------------------------------------------------------------------------------------
# funnel
# --------------------------------------------------------------------------------------


def funnel(table: Any, *, title: str | None = None, ax: Axes | None = None) -> Axes:
    """Funnel bars: users reaching each step, labelled with the conversion from the
    first step and (between bars) from the previous step.

    With a breakdown (a ``channel`` or ``segment`` column), grouped bars of the
    conversion from the first step, one colour per group.

    Parameters:
        table: the :func:`userops.funnel` table.
        title: the title.
        ax: the Axes to draw on; None for a new figure.

    Returns:
        The Axes; bar heights are ``users`` (no breakdown) or ``conversion_from_start``.
    """
    table = _table(table, "funnel")
    _need(table, ["step", "event", "users", "conversion_from_start", "conversion_from_previous"], "funnel")
    column = _group_column(table)
    rows = table.to_pylist()
    steps = sorted({r["step"] for r in rows})
    names = {r["step"]: r["event"] for r in rows}
    ticks = [f"{s}. {names[s]}" for s in steps]
    ax = _new_axes(ax, (max(5.0, 1.9 * len(steps) + 1.5), 4.4))
    _tidy(ax)
    if column is None:
        rows.sort(key=lambda r: r["step"])
        users = [r["users"] for r in rows]
        bars = ax.bar(range(len(rows)), users, color=PALETTE[0], width=0.62)
        top = max(users) if users and max(users) > 0 else 1
        for i, (bar, r) in enumerate(zip(bars, rows)):
            ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() + 0.015 * top,
                    f"{r['users']:,}\n{_pct(r['conversion_from_start'])} of step 1",
                    ha="center", va="bottom", fontsize=8.5, color="#1d2329")
            if i > 0 and not _null(r["conversion_from_previous"]):
                ax.annotate(f"→ {_pct(r['conversion_from_previous'])}", xy=(i - 0.5, 0.5 * top), ha="center",
                            va="center", fontsize=8.5, color="#3c434b",
                            bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": "#c5ccd4"})
        ax.set_ylim(0, top * 1.22)
        ax.set_ylabel("users", fontsize=9.5)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        progress = sum(r["in_progress"] or 0 for r in rows[:1]) if "in_progress" in table.column_names else 0
        if progress:
            ax.annotate(f"{progress:,} users still inside their window are left out", xy=(1.0, 1.0),
                        xycoords="axes fraction", ha="right", va="bottom", fontsize=8, color="#6b7480")
    else:
        groups = list(dict.fromkeys(r[column] for r in rows))
        width = 0.8 / max(len(groups), 1)
        for k, g in enumerate(groups):
            by_step = {r["step"]: r for r in rows if r[column] == g}
            xs = [i - 0.4 + width * (k + 0.5) for i in range(len(steps))]
            heights = [by_step[s]["conversion_from_start"] if s in by_step and not _null(
                by_step[s]["conversion_from_start"]) else 0.0 for s in steps]
            label = "(none)" if g is None else str(g)
            bars = ax.bar(xs, heights, width=width * 0.92, color=PALETTE[k % len(PALETTE)], label=label)
            for bar, h in zip(bars, heights):
                ax.text(bar.get_x() + bar.get_width() / 2, h + 0.01, _pct(h, 0), ha="center", va="bottom",
                        fontsize=7)
        ax.set_ylim(0, 1.12)
        ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.set_ylabel("conversion from step 1", fontsize=9.5)
        ax.legend(title=column, fontsize=8, title_fontsize=8.5, frameon=False, loc="upper left",
                  bbox_to_anchor=(1.01, 1.0))
    ax.set_xticks(range(len(steps)), ticks)
    _title(ax, title, "Conversion funnel", "转化漏斗")
    return ax


# --------------------------------------------------------------------------------------
# lifecycle
# --------------------------------------------------------------------------------------


def lifecycle(table: Any, *, group: Any = None, title: str | None = None, ax: Axes | None = None) -> Axes:
    """Growth accounting: stacked bars of new, returning and resurrecting users above
    zero and dormant users below, with the quick ratio ((new + resurrecting) /
    |dormant|) as a line on the right axis (dashed at 1: growth = churn).

    Parameters:
        table: the :func:`userops.lifecycle` table.
        group: with a broken-down table, the segment to show.
        title: the title.
        ax: the Axes to draw on; None for a new figure.

    Returns:
        The Axes of the bars (containers in the order new, returning, resurrecting,
        dormant); ``ax.quick_ratio_axes`` is the right axis with the quick-ratio line.
    """
    table = _table(table, "lifecycle")
    _need(table, ["period", "new", "returning", "resurrecting", "dormant", "quick_ratio"], "lifecycle")
    table = _select_group(table, group, "lifecycle")
    rows = sorted(table.to_pylist(), key=lambda r: r["period"])
    kind = _period_kind([r["period"] for r in rows])
    xs = list(range(len(rows)))
    ax = _new_axes(ax, (max(6.0, 0.62 * len(rows) + 2.5), 4.6))
    _tidy(ax)
    bottom = [0.0] * len(rows)
    for part in ("new", "returning", "resurrecting"):
        heights = [float(r[part] or 0) for r in rows]
        ax.bar(xs, heights, bottom=bottom, color=LIFECYCLE_COLORS[part], width=0.7, label=part)
        bottom = [b + h for b, h in zip(bottom, heights)]
    ax.bar(xs, [float(r["dormant"] or 0) for r in rows], color=LIFECYCLE_COLORS["dormant"], width=0.7,
           label="dormant")
    for x, r in zip(xs, rows):
        if r.get("complete") is False:
            ax.bar([x], [bottom[x]], color="none", edgecolor="#6b7480", hatch="///", width=0.7, linewidth=0)
    ax.axhline(0, color="#3c434b", linewidth=0.8)
    ax.set_ylabel("users", fontsize=9.5)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    step = max(1, math.ceil(len(rows) / 16))
    ax.set_xticks(xs[::step], [_date_label(r["period"], kind) for r in rows][::step],
                  rotation=45 if len(rows) > 8 else 0, ha="right" if len(rows) > 8 else "center")
    right = ax.twinx()
    ratio = [float("nan") if _null(r["quick_ratio"]) else r["quick_ratio"] for r in rows]
    right.plot(xs, ratio, color="#1d2329", marker="o", markersize=3.5, linewidth=1.6, label="quick ratio")
    right.axhline(1.0, color="#1d2329", linewidth=0.8, linestyle="--", alpha=0.6)
    right.annotate("quick ratio 1", xy=(1.0, 1.0), xycoords=("axes fraction", "data"), xytext=(-3, 2),
                   textcoords="offset points", ha="right", va="bottom", fontsize=7.5, color="#3c434b")
    finite = [v for v in ratio if not math.isnan(v)]
    right.set_ylabel("quick ratio", fontsize=9.5)
    right.spines["top"].set_visible(False)
    right.tick_params(labelsize=9, colors="#3c434b")
    handles, labels = ax.get_legend_handles_labels()
    h2, l2 = right.get_legend_handles_labels()
    ax.legend(handles + h2, labels + l2, fontsize=8, frameon=False, loc="upper left", ncols=5)
    low = min(float(r["dormant"] or 0) for r in rows) if rows else 0.0
    high = max(bottom) if bottom else 1.0
    high = high * 1.3 if high > 0 else 1.0
    low = low * 1.15 if low < 0 else -0.05 * high
    ax.set_ylim(low, high)
    # The right axis' zero sits on the bars' zero line.
    ratio_top = max(finite + [1.0]) * 1.3
    right.set_ylim(ratio_top * low / high, ratio_top)
    right.yaxis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=6, min_n_ticks=3))
    right.set_yticks([t for t in right.get_yticks() if 0 <= t <= ratio_top])
    _title(ax, title, "Lifecycle growth accounting", "生命周期")
    ax.quick_ratio_axes = right  # type: ignore[attr-defined]
    return ax


# --------------------------------------------------------------------------------------
# RFM
# --------------------------------------------------------------------------------------


def rfm_grid(table: Any, *, title: str | None = None, ax: Axes | None = None) -> Axes:
    """The R × F grid of paying users: each cell shows its users and its share of
    revenue, coloured by its RFM segment (SPEC §9); R (recency score) rises upwards,
    F (frequency score) to the right, so Champions sit top right.

    Revenue is the sum of ``monetary`` over the cell's users (net revenue with the
    default ``monetary="sum"``), as a share of the total. With other than 5 bins there
    are no segments and cells are shaded by users.

    Parameters:
        table: the :func:`userops.rfm` table (one row per paying user).
        title: the title.
        ax: the Axes to draw on; None for a new figure.

    Returns:
        The Axes; ``ax.rfm_cells`` maps ``(r, f)`` to ``(users, revenue_share)``.
    """
    table = _table(table, "rfm_grid")
    _need(table, ["r_score", "f_score", "monetary"], "rfm_grid")
    r_scores = table.column("r_score").to_pylist()
    f_scores = table.column("f_score").to_pylist()
    money = table.column("monetary").to_pylist()
    bins = max([s for s in r_scores + f_scores if s is not None] + [1])
    users: dict[tuple[int, int], int] = defaultdict(int)
    revenue: dict[tuple[int, int], float] = defaultdict(float)
    for r, f, m in zip(r_scores, f_scores, money):
        users[(r, f)] += 1
        revenue[(r, f)] += 0.0 if m is None else m
    total = sum(revenue.values())
    cells = {
        (r, f): (users.get((r, f), 0), (revenue.get((r, f), 0.0) / total) if total else None)
        for r in range(1, bins + 1)
        for f in range(1, bins + 1)
    }
    ax = _new_axes(ax, (8.8, 5.6))
    import numpy as np

    segmented = bins == 5
    if segmented:
        names = list(RFM_SEGMENT_COLORS)
        codes = np.array([[names.index(rfm_segment(r, f)) for f in range(1, 6)] for r in range(1, 6)])
        ax.imshow(codes, cmap=ListedColormap(list(RFM_SEGMENT_COLORS.values())), vmin=-0.5,
                  vmax=len(names) - 0.5, origin="lower", aspect="auto")
    else:
        grid = np.array([[cells[(r, f)][0] for f in range(1, bins + 1)] for r in range(1, bins + 1)], dtype=float)
        ax.imshow(grid, cmap="Blues", origin="lower", aspect="auto")
    for (r, f), (n, share) in cells.items():
        ax.text(f - 1, r - 1, f"{n:,} users\n{_pct(share)} rev", ha="center", va="center", fontsize=8.5,
                color="#1d2329")
    # Cell borders.
    for k in range(bins + 1):
        ax.axhline(k - 0.5, color="white", linewidth=2)
        ax.axvline(k - 0.5, color="white", linewidth=2)
    ax.set_xticks(range(bins), [str(f) for f in range(1, bins + 1)])
    ax.set_yticks(range(bins), [str(r) for r in range(1, bins + 1)])
    ax.set_xlabel("F score (frequency: more purchases →)", fontsize=9.5)
    ax.set_ylabel("R score (recency: more recent ↑)", fontsize=9.5)
    ax.tick_params(length=0, labelsize=9)
    for side in ax.spines.values():
        side.set_visible(False)
    if segmented:
        present = {rfm_segment(r, f) for r in range(1, 6) for f in range(1, 6)}
        handles = [Patch(color=c, label=s) for s, c in RFM_SEGMENT_COLORS.items() if s in present]
        ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, fontsize=8.5,
                  title="segment", title_fontsize=9)
    n_users = sum(users.values())
    _title(ax, title, f"RFM grid: {n_users:,} paying users", "用户价值分层")
    ax.rfm_cells = cells  # type: ignore[attr-defined]
    return ax


# --------------------------------------------------------------------------------------
# concentration
# --------------------------------------------------------------------------------------


def lorenz(
    table: Any,
    concentration: Any = None,
    *,
    top: float | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """The Lorenz curve of revenue over paying users, with the top 20% share marked.

    The marked point is at ``1 - top`` of users: the revenue above it is the top
    users' share. With the :func:`userops.concentration` table, its exact
    ``top_revenue_share``, ``top_fraction`` and Gini coefficient are shown; without
    it, the share is read off the curve at ``1 - top`` (default top = 20%).

    Parameters:
        table: the :func:`userops.lorenz` table.
        concentration: the :func:`userops.concentration` table, or None.
        top: the top fraction to mark (default: the concentration table's, else 0.2).
        title: the title.
        ax: the Axes to draw on; None for a new figure.

    Returns:
        The Axes; ``ax.top_share`` is the top users' share of revenue shown.
    """
    table = _table(table, "lorenz")
    _need(table, ["user_share", "revenue_share"], "lorenz")
    xs = table.column("user_share").to_pylist()
    ys = [float("nan") if _null(v) else v for v in table.column("revenue_share").to_pylist()]
    gini = None
    share = None
    if concentration is not None:
        row = _table(concentration, "lorenz").to_pylist()[0]
        gini = row.get("gini")
        if top is None or abs(top - row["top_fraction"]) < 1e-12:
            top = row["top_fraction"]
            share = row["top_revenue_share"]
    top = 0.2 if top is None else top
    cut = 1.0 - top
    import numpy as np

    below = float(np.interp(cut, xs, ys)) if xs else float("nan")
    if share is None and not math.isnan(below):
        share = 1.0 - below
    ax = _new_axes(ax, (5.8, 5.2))
    _tidy(ax, grid="both")
    ax.plot([0, 1], [0, 1], color="#9aa4b1", linestyle="--", linewidth=1, label="perfect equality")
    ax.fill_between(xs, xs, ys, color=PALETTE[0], alpha=0.12)
    ax.plot(xs, ys, color=PALETTE[0], linewidth=2.2, label="Lorenz curve" + (f" (Gini {gini:.2f})" if gini is not None
                                                                             else ""))
    if share is not None:
        y = 1.0 - share
        ax.plot([cut, cut], [0, y], color=PALETTE[3], linewidth=1, linestyle=":")
        ax.plot([cut, cut], [y, 1.0], color=PALETTE[3], linewidth=3, solid_capstyle="butt")
        ax.scatter([cut], [y], color=PALETTE[3], zorder=3, s=22)
        ax.annotate(f"top {top:.0%} of paying users:\n{share:.1%} of revenue", xy=(cut, y + share / 2),
                    xytext=(-12, 0), textcoords="offset points", ha="right", va="center", fontsize=9,
                    color=PALETTE[3], fontweight="bold")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel("paying users, lowest revenue first", fontsize=9.5)
    ax.set_ylabel("share of revenue", fontsize=9.5)
    ax.legend(fontsize=8.5, frameon=False, loc="upper left")
    _title(ax, title, "Revenue concentration (80/20)")
    ax.top_share = share  # type: ignore[attr-defined]
    return ax


# --------------------------------------------------------------------------------------
# LTV
# --------------------------------------------------------------------------------------


def ltv(
    table: Any,
    *,
    cac: float | Mapping[Any, float] | None = None,
    title: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """LTV curves (cumulative revenue per cohort user) with CAC lines (获客成本).

    Without a breakdown, one line per cohort (older cohorts darker) and, when the
    table has a ``cac`` column (``userops.ltv(events, spend=...)``), a dashed line of
    the cohort's CAC in the same colour: a cohort has paid back where its curve
    crosses its line. With a breakdown (``breakdown="channel"``), one line per
    channel and its CAC (total spend / total new users). A channel's line is
    chain-linked over its cohorts: at offset 0 ``sum(cumulative_revenue) /
    sum(cohort_size)``, then at each offset k the previous value plus the revenue per
    user earned in offset k by the cohorts observed at k (so old cohorts alone do not
    make the line jump at late offsets).

    Parameters:
        table: the :func:`userops.ltv` table.
        cac: CAC lines to draw when the table has no ``cac`` column: one number, or
            ``{cohort or group: cac}``.
        title: the title.
        ax: the Axes to draw on; None for a new figure.

    Returns:
        The Axes; solid lines are LTV curves (labels: cohort or group), dashed lines CAC.
    """
    table = _table(table, "ltv")
    _need(table, ["cohort", "offset", "ltv", "cohort_size", "cumulative_revenue"], "ltv")
    column = _group_column(table)
    rows = table.to_pylist()
    kind = _period_kind([r["cohort"] for r in rows])
    has_cac = "cac" in table.column_names
    ax = _new_axes(ax, (8.5, 4.6))
    _tidy(ax, grid="both")
    lines: list[tuple[Any, str, dict[int, float], float | None, Any]] = []
    if column is None:
        cohorts = sorted({r["cohort"] for r in rows})
        colors = matplotlib.colormaps["viridis"]
        for i, c in enumerate(cohorts):
            mine = [r for r in rows if r["cohort"] == c]
            curve = {r["offset"]: r["ltv"] for r in sorted(mine, key=lambda r: r["offset"]) if not _null(r["ltv"])}
            line_cac = next((r["cac"] for r in mine if has_cac and not _null(r["cac"])), None)
            lines.append((c, _date_label(c, kind), curve, line_cac,
                          colors(0.1 + 0.8 * i / max(len(cohorts) - 1, 1))))
        legend_title = "cohort"
    else:
        groups = list(dict.fromkeys(r[column] for r in rows))
        for k, g in enumerate(groups):
            mine = [r for r in rows if r[column] == g]
            curve = _chained_ltv(mine)
            line_cac = None
            if has_cac:
                first = {r["cohort"]: r for r in mine if r["offset"] == 0 and not _null(r["cac"])}
                size = sum(r["cohort_size"] for r in first.values())
                if size:
                    line_cac = sum(r["cac"] * r["cohort_size"] for r in first.values()) / size
            lines.append((g, "(none)" if g is None else str(g), curve, line_cac, PALETTE[k % len(PALETTE)]))
        legend_title = column
    # Many cohorts: one dashed line of the blended CAC (spend / users over the cohorts
    # with a CAC) instead of one line each, and a dot where each cohort paid back.
    blended = column is None and len(lines) > 6
    spend = users = 0.0
    for key, label, curve, line_cac, color in lines:
        if line_cac is None and cac is not None and not isinstance(cac, Mapping):
            line_cac = float(cac)
        elif line_cac is None and isinstance(cac, Mapping):
            line_cac = cac.get(key)
        ax.plot(list(curve), list(curve.values()), color=color, linewidth=1.8, label=label, marker="o",
                markersize=2.5)
        if line_cac is None:
            continue
        if blended:
            size = next((r["cohort_size"] for r in rows if r["cohort"] == key), 0) or 0
            spend += line_cac * size
            users += size
            paid = [o for o, v in curve.items() if v >= line_cac]
            if paid:
                ax.scatter([paid[0]], [curve[paid[0]]], color=color, edgecolor="#1d2329", zorder=3, s=28)
        else:
            ax.axhline(line_cac, color=color, linestyle="--", linewidth=1, alpha=0.85)
    if blended and users:
        ax.axhline(spend / users, color="#1d2329", linestyle="--", linewidth=1.2, label="CAC, all cohorts")
    ax.set_xlabel(_offset_label(kind), fontsize=9.5)
    ax.set_ylabel("cumulative revenue per user", fontsize=9.5)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.set_ylim(bottom=0)
    ax.legend(title=legend_title, fontsize=8, title_fontsize=8.5, frameon=False, loc="upper left",
              bbox_to_anchor=(1.01, 1.0))
    any_cac = any(line.get_linestyle() == "--" for line in ax.lines)
    note = (", CAC dashed, dots where a cohort paid back" if blended else ", CAC dashed") if any_cac else ""
    _title(ax, title, "LTV by " + legend_title + note, "生命周期价值")
    return ax


# --------------------------------------------------------------------------------------
# viral
# --------------------------------------------------------------------------------------


def k_factor(table: Any, *, title: str | None = None, ax: Axes | None = None) -> Axes:
    """K-factor per cohort (裂变): referred users per eligible user within the window.

    Cohorts still inside their window (null K) are marked "in progress". The dashed
    line at K = 1 (each user brings one more: self-sustaining growth) is drawn when
    the K values come near it.

    Parameters:
        table: the :func:`userops.viral` table.
        title: the title.
        ax: the Axes to draw on; None for a new figure.

    Returns:
        The Axes; bar heights are ``k_factor`` (0 for null, labelled "in progress").
    """
    table = _table(table, "k_factor")
    _need(table, ["cohort", "k_factor"], "k_factor")
    rows = sorted(table.to_pylist(), key=lambda r: r["cohort"])
    kind = _period_kind([r["cohort"] for r in rows])
    ax = _new_axes(ax, (max(6.0, 0.6 * len(rows) + 2.5), 4.2))
    _tidy(ax)
    heights = [0.0 if _null(r["k_factor"]) else r["k_factor"] for r in rows]
    bars = ax.bar(range(len(rows)), heights, color=PALETTE[5], width=0.66)
    top = max(heights + [0.0])
    for bar, r in zip(bars, rows):
        text = "in progress" if _null(r["k_factor"]) else f"{r['k_factor']:.2f}"
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() + 0.02 * max(top, 0.05), text, ha="center",
                va="bottom", fontsize=7.5 if _null(r["k_factor"]) else 8.5, color="#3c434b",
                rotation=90 if _null(r["k_factor"]) else 0)
    if top >= 0.5:
        ax.axhline(1.0, color="#1d2329", linestyle="--", linewidth=1)
        ax.annotate("K = 1: self-sustaining", xy=(0, 1.0), xytext=(2, 3), textcoords="offset points", fontsize=8)
    ax.set_ylim(0, max(top * 1.3, 1.1 if top >= 0.5 else 0.1))
    step = max(1, math.ceil(len(rows) / 16))
    ax.set_xticks(list(range(len(rows)))[::step], [_date_label(r["cohort"], kind) for r in rows][::step],
                  rotation=45 if len(rows) > 8 else 0, ha="right" if len(rows) > 8 else "center")
    ax.set_ylabel("K-factor (referred per user)", fontsize=9.5)
    _title(ax, title, "K-factor by cohort", "裂变")
    return ax


# --------------------------------------------------------------------------------------
# acquisition
# --------------------------------------------------------------------------------------


def acquisition(table: Any, *, title: str | None = None, ax: Axes | None = None) -> Axes:
    """New users per period, stacked by channel (拉新).

    Parameters:
        table: the :func:`userops.acquisition` table.
        title: the title.
        ax: the Axes to draw on; None for a new figure.

    Returns:
        The Axes; one bar container per channel (label = channel), heights = new users.
    """
    table = _table(table, "acquisition")
    _need(table, ["period", "channel", "new_users"], "acquisition")
    rows = table.to_pylist()
    periods = sorted({r["period"] for r in rows})
    kind = _period_kind(periods)
    channels = sorted({r["channel"] for r in rows}, key=lambda c: (c is None, str(c)))
    counts = {(r["period"], r["channel"]): r["new_users"] or 0 for r in rows}
    ax = _new_axes(ax, (max(6.0, 0.6 * len(periods) + 2.5), 4.4))
    _tidy(ax)
    bottom = [0.0] * len(periods)
    for k, c in enumerate(channels):
        heights = [float(counts.get((p, c), 0)) for p in periods]
        ax.bar(range(len(periods)), heights, bottom=bottom, width=0.7, color=PALETTE[k % len(PALETTE)],
               label="(none)" if c is None else str(c))
        bottom = [b + h for b, h in zip(bottom, heights)]
    step = max(1, math.ceil(len(periods) / 16))
    ax.set_xticks(list(range(len(periods)))[::step], [_date_label(p, kind) for p in periods][::step],
                  rotation=45 if len(periods) > 8 else 0, ha="right" if len(periods) > 8 else "center")
    ax.set_ylabel("new users", fontsize=9.5)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    ax.legend(title="channel", fontsize=8, title_fontsize=8.5, frameon=False, loc="upper left",
              ncols=min(len(channels), 5))
    ax.set_ylim(0, max(bottom + [1.0]) * 1.2)
    _title(ax, title, "New users by channel", "拉新")
    return ax
