"""``userops.plot``: every plot renders to a non-empty PNG and shows the table's numbers."""

from __future__ import annotations

import datetime as dt
import math
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import matplotlib.image  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import userops  # noqa: E402
from userops import plot  # noqa: E402

STEPS = ["signup", "activate", "order"]
SPEND = {
    "channel": ["ads", "search", "social"] * 12,
    "period_start": [dt.date(2024, m, 1) for m in range(1, 13) for _ in range(3)],
    "spend": [3000.0, 2500.0, 1500.0] * 12,
}


@pytest.fixture(scope="module")
def out(events: pa.Table) -> dict[str, pa.Table]:
    results = userops.analyze(
        events,
        {
            "retention": {},
            "funnel": {"steps": STEPS},
            "lifecycle": {},
            "rfm": {},
            "lorenz": {},
            "concentration": {},
            "ltv": {},
            "viral": {},
            "acquisition": {},
            "via": {"plugin": "acquired_via"},
            "retention_by_via": {"plugin": "retention", "breakdown": "via"},
        },
    )
    results["funnel_by_channel"] = userops.funnel(events, STEPS, breakdown="channel")
    results["ltv_spend"] = userops.ltv(events, spend=SPEND)
    results["ltv_channel"] = userops.ltv(events, spend=SPEND, breakdown="channel")
    return results


@pytest.fixture(autouse=True)
def _close_figures() -> Any:
    yield
    plt.close("all")


def render(ax: Any, path: Path) -> np.ndarray:
    """Saves the Axes' figure as PNG and checks the picture is not blank."""
    ax.figure.savefig(path, dpi=60)
    assert path.stat().st_size > 5_000
    pixels = matplotlib.image.imread(path)
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert pixels[..., :3].std() > 0.05, "the picture is not one flat colour"
    return pixels


def nan_list(values: list[Any]) -> list[float]:
    return [math.nan if v is None else float(v) for v in values]


def same(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all((math.isnan(x) and math.isnan(y)) or x == pytest.approx(y) for x, y in zip(a, b))


def test_retention_heatmap_cells_are_the_table_rates(out: dict[str, pa.Table], tmp_path: Path) -> None:
    table = out["retention"]
    ax = plot.retention_heatmap(table)
    render(ax, tmp_path / "heatmap.png")
    matrix = ax.images[0].get_array()
    cohorts = sorted(set(table.column("cohort").to_pylist()))
    offsets = sorted(set(table.column("offset").to_pylist()))
    assert matrix.shape == (len(cohorts), len(offsets))
    for r in table.to_pylist():
        cell = matrix[cohorts.index(r["cohort"]), offsets.index(r["offset"])]
        if r["rate"] is None:
            assert np.ma.is_masked(cell), "an unobserved cell is blank"
        else:
            assert float(cell) == r["rate"]
    observed = [r for r in table.to_pylist() if r["rate"] is not None]
    texts = [t.get_text() for t in ax.texts if t.get_text().endswith("%")]
    assert len(texts) == len(observed), "one annotation per observed cell, none for blanks"
    jan_m1 = next(r["rate"] for r in observed if r["cohort"] == cohorts[0] and r["offset"] == 1)
    assert f"{jan_m1:.0%}" in texts
    assert table.column("rate").null_count > 0, "the demo has unobserved cells"


def test_retention_heatmap_of_a_breakdown_needs_a_group(out: dict[str, pa.Table], tmp_path: Path) -> None:
    table = out["retention_by_via"]
    with pytest.raises(ValueError, match="organic"):
        plot.retention_heatmap(table)
    ax = plot.retention_heatmap(table, group="referred")
    render(ax, tmp_path / "referred.png")
    referred = [r for r in table.to_pylist() if r["segment"] == "referred"]
    finite = np.asarray(ax.images[0].get_array().filled(np.nan))
    assert np.nansum(finite) == pytest.approx(sum(r["rate"] for r in referred if r["rate"] is not None))


def test_retention_curves_by_cohort_and_all(out: dict[str, pa.Table], tmp_path: Path) -> None:
    table = out["retention"]
    ax = plot.retention_curves(table)
    render(ax, tmp_path / "curves.png")
    lines = {line.get_label(): line for line in ax.lines}
    rows = table.to_pylist()
    first = min(r["cohort"] for r in rows)
    jan = [r["rate"] for r in sorted(rows, key=lambda r: r["offset"]) if r["cohort"] == first and r["rate"] is not None]
    assert list(lines[first.strftime("%Y-%m")].get_ydata()) == jan
    # The all-cohorts line: retained / eligible summed over the cohorts observed at each offset.
    retained: dict[int, int] = defaultdict(int)
    eligible: dict[int, int] = defaultdict(int)
    for r in rows:
        if r["eligible"]:
            retained[r["offset"]] += r["retained"]
            eligible[r["offset"]] += r["eligible"]
    expected = [retained[k] / eligible[k] for k in sorted(eligible)]
    assert list(lines["all cohorts"].get_ydata()) == pytest.approx(expected)


def test_retention_curves_by_breakdown(out: dict[str, pa.Table], tmp_path: Path) -> None:
    ax = plot.retention_curves(out["retention_by_via"])
    render(ax, tmp_path / "via.png")
    assert sorted(line.get_label() for line in ax.lines) == ["organic", "referred"]
    assert all(line.get_ydata()[0] == 1.0 for line in ax.lines), "offset 0 is 100%"


def test_funnel_bars_are_users_with_conversion_labels(out: dict[str, pa.Table], tmp_path: Path) -> None:
    table = out["funnel"]
    ax = plot.funnel(table)
    render(ax, tmp_path / "funnel.png")
    heights = [p.get_height() for p in ax.patches]
    assert heights == table.column("users").to_pylist()
    texts = " ".join(t.get_text() for t in ax.texts)
    for r in table.to_pylist():
        assert f"{r['users']:,}" in texts
        assert f"{r['conversion_from_start']:.1%} of step 1" in texts
        if r["conversion_from_previous"] is not None:
            assert f"→ {r['conversion_from_previous']:.1%}" in texts


def test_funnel_by_channel_bars_are_conversions(out: dict[str, pa.Table], tmp_path: Path) -> None:
    table = out["funnel_by_channel"]
    ax = plot.funnel(table)
    render(ax, tmp_path / "funnel_channel.png")
    heights = sorted(round(p.get_height(), 12) for p in ax.patches)
    expected = sorted(round(r["conversion_from_start"] or 0.0, 12) for r in table.to_pylist())
    assert heights == expected


def test_lifecycle_bars_and_quick_ratio(out: dict[str, pa.Table], tmp_path: Path) -> None:
    table = out["lifecycle"]
    ax = plot.lifecycle(table)
    render(ax, tmp_path / "lifecycle.png")
    rows = sorted(table.to_pylist(), key=lambda r: r["period"])
    containers = {c.get_label(): c for c in ax.containers}
    for part in ("new", "returning", "resurrecting", "dormant"):
        assert [p.get_height() for p in containers[part]] == [r[part] for r in rows], part
    assert all(p.get_height() <= 0 for p in containers["dormant"]), "dormant below zero"
    ratio = ax.quick_ratio_axes.lines[0].get_ydata()
    assert same(list(ratio), nan_list([r["quick_ratio"] for r in rows]))


def test_rfm_grid_cells_count_users_and_revenue(out: dict[str, pa.Table], tmp_path: Path) -> None:
    table = out["rfm"]
    ax = plot.rfm_grid(table)
    render(ax, tmp_path / "rfm.png")
    grouped = table.group_by(["r_score", "f_score"]).aggregate([("user_id", "count"), ("monetary", "sum")])
    total = pa.compute.sum(table.column("monetary")).as_py()
    texts = {t.get_text() for t in ax.texts}
    seen = 0
    for r in grouped.to_pylist():
        users, share = ax.rfm_cells[(r["r_score"], r["f_score"])]
        assert users == r["user_id_count"]
        assert share == pytest.approx(r["monetary_sum"] / total)
        assert f"{users:,} users\n{share:.1%} rev" in texts
        seen += users
    assert seen == table.num_rows
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "Champions" in legend and "Hibernating" in legend


def test_lorenz_curve_and_top_share(out: dict[str, pa.Table], tmp_path: Path) -> None:
    table, conc = out["lorenz"], out["concentration"]
    ax = plot.lorenz(table, conc)
    render(ax, tmp_path / "lorenz.png")
    curve = next(line for line in ax.lines if line.get_label().startswith("Lorenz"))
    assert list(curve.get_ydata()) == table.column("revenue_share").to_pylist()
    share = conc.column("top_revenue_share")[0].as_py()
    assert ax.top_share == share
    assert any(f"{share:.1%} of revenue" in t.get_text() for t in ax.texts)
    # Without the concentration table the share is read off the curve at 80% of users.
    ax2 = plot.lorenz(table)
    below = dict(zip(table.column("user_share").to_pylist(), table.column("revenue_share").to_pylist()))[0.8]
    assert ax2.top_share == pytest.approx(1 - below)


def test_ltv_curves_per_cohort(out: dict[str, pa.Table], tmp_path: Path) -> None:
    table = out["ltv"]
    ax = plot.ltv(table)
    render(ax, tmp_path / "ltv.png")
    rows = table.to_pylist()
    first = min(r["cohort"] for r in rows)
    line = next(x for x in ax.lines if x.get_label() == first.strftime("%Y-%m"))
    expected = [r["ltv"] for r in sorted(rows, key=lambda r: r["offset"]) if r["cohort"] == first and r["ltv"] is not None]
    assert list(line.get_ydata()) == expected
    assert not any(x.get_linestyle() == "--" for x in ax.lines), "no spend, no CAC line"


def test_ltv_with_spend_draws_cac(out: dict[str, pa.Table], events: pa.Table, tmp_path: Path) -> None:
    ax = plot.ltv(out["ltv_spend"])
    render(ax, tmp_path / "ltv_spend.png")
    cac = next(x for x in ax.lines if x.get_linestyle() == "--")
    # Blended CAC over all cohorts: all spend / all new users of the months with spend.
    new_users = sum(out["acquisition"].column("new_users").to_pylist())
    assert cac.get_ydata()[0] == pytest.approx(sum(SPEND["spend"]) / new_users)


def test_ltv_by_channel_with_cac_lines(out: dict[str, pa.Table], tmp_path: Path) -> None:
    ax = plot.ltv(out["ltv_channel"])
    render(ax, tmp_path / "ltv_channel.png")
    curves = {x.get_label(): x for x in ax.lines if x.get_linestyle() != "--"}
    assert set(curves) == set(out["ltv_channel"].column("channel").to_pylist())
    dashed = sorted(round(x.get_ydata()[0], 9) for x in ax.lines if x.get_linestyle() == "--")
    users: dict[str, int] = defaultdict(int)
    for r in out["acquisition"].to_pylist():
        users[r["channel"]] += r["new_users"]
    spend: dict[str, float] = defaultdict(float)
    for c, s in zip(SPEND["channel"], SPEND["spend"]):
        spend[c] += s
    assert dashed == sorted(round(spend[c] / users[c], 9) for c in spend)
    # Each channel's curve, chain-linked: revenue per user at offset 0, then plus the revenue per
    # user earned in offset k by the cohorts observed at k.
    ads = [r for r in out["ltv_channel"].to_pylist() if r["channel"] == "ads" and r["ltv"] is not None]
    at = {(r["cohort"], r["offset"]): r for r in ads}
    zero = [r for r in ads if r["offset"] == 0]
    expected = [sum(r["cumulative_revenue"] for r in zero) / sum(r["cohort_size"] for r in zero)]
    for k in range(1, max(r["offset"] for r in ads) + 1):
        cells = [r for r in ads if r["offset"] == k]
        earned = sum(r["cumulative_revenue"] - at[(r["cohort"], k - 1)]["cumulative_revenue"] for r in cells)
        expected.append(expected[-1] + earned / sum(r["cohort_size"] for r in cells))
    assert list(curves["ads"].get_ydata()) == pytest.approx(expected)
    assert list(curves["ads"].get_xdata()) == list(range(len(expected)))


def test_k_factor_bars(out: dict[str, pa.Table], tmp_path: Path) -> None:
    table = out["viral"]
    ax = plot.k_factor(table)
    render(ax, tmp_path / "k.png")
    rows = sorted(table.to_pylist(), key=lambda r: r["cohort"])
    assert [p.get_height() for p in ax.patches] == [r["k_factor"] or 0.0 for r in rows]
    texts = [t.get_text() for t in ax.texts]
    assert texts.count("in progress") == sum(r["k_factor"] is None for r in rows)


def test_acquisition_stacks_channels(out: dict[str, pa.Table], tmp_path: Path) -> None:
    table = out["acquisition"]
    ax = plot.acquisition(table)
    render(ax, tmp_path / "acq.png")
    for container in ax.containers:
        channel = container.get_label()
        periods = sorted(set(table.column("period").to_pylist()))
        by = {r["period"]: r["new_users"] for r in table.to_pylist() if r["channel"] == channel}
        assert [p.get_height() for p in container] == [by.get(p, 0) for p in periods]


def test_plots_take_pandas_and_name_missing_columns(out: dict[str, pa.Table]) -> None:
    ax = plot.funnel(out["funnel"].to_pandas())
    assert [p.get_height() for p in ax.patches] == out["funnel"].column("users").to_pylist()
    with pytest.raises(ValueError, match="`users`"):
        plot.funnel(out["lifecycle"])


def test_import_userops_does_not_import_matplotlib() -> None:
    code = (
        "import sys\n"
        "sys.modules['matplotlib'] = None  # as if it were not installed\n"
        "import userops\n"
        "assert 'userops.plot' not in sys.modules\n"
        "events = userops.datasets.shop(300, seed=1)\n"
        "assert userops.rfm(events).num_rows > 0\n"
        "try:\n"
        "    userops.plot\n"
        "except ImportError as e:\n"
        "    assert 'pip install' in str(e)\n"
        "else:\n"
        "    raise SystemExit('userops.plot imported without matplotlib')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr


def test_the_docstring_examples_run() -> None:
    import doctest

    result = doctest.testmod(plot, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
