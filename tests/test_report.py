"""``userops.report``: one pass, one self-contained HTML file, headline numbers equal to
the tables'; ``userops.display``: readable HTML of results that stay pyarrow Tables."""

from __future__ import annotations

import base64
import datetime as dt
import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest

pytest.importorskip("matplotlib")

import userops  # noqa: E402
from userops import _display, _native, _report  # noqa: E402

SPEND = {
    "channel": ["ads", "search"] * 12,
    "period_start": [dt.date(2024, m, 1) for m in range(1, 13) for _ in range(2)],
    "spend": [2000.0, 1500.0] * 12,
}


@pytest.fixture(scope="module")
def made(events: pa.Table, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any]:
    path = tmp_path_factory.mktemp("report") / "report.html"
    return path, userops.report(events, path, spend=SPEND, title="Test shop")


def card(html_text: str, key: str) -> str:
    match = re.search(rf'<div class="card" id="headline-{key}">(.*?)</div></div>', html_text, re.DOTALL)
    assert match, f"no headline card {key}"
    return match.group(1)


def test_the_file_is_written_and_self_contained(made: tuple[Path, Any]) -> None:
    path, result = made
    assert path.exists() and result.path == str(path)
    text = path.read_text(encoding="utf-8")
    assert text == result.html
    assert text.startswith("<!doctype html>")
    assert "http://" not in text and "https://" not in text, "no network resource"
    assert "<script" not in text and "<link" not in text and "@import" not in text and "url(" not in text
    sources = re.findall(r'src="([^"]*)"', text)
    assert len(sources) >= 10
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1]).startswith(b"\x89PNG"), "a real PNG"
    assert not result.problems, result.problems
    assert not result.skipped


def test_every_section_is_there(made: tuple[Path, Any]) -> None:
    text = made[1].html
    for anchor, title, zh in _report.SECTIONS:
        assert f'<section id="{anchor}">' in text
        assert f'<a href="#{anchor}">' in text
        assert title in text and zh in text
    plots = re.findall(r'<img alt="([^"]*)"', text)
    for name in ("new users by channel", "retention heatmap", "retention curves", "LTV curves", "funnel",
                 "lifecycle", "RFM grid", "Lorenz curve", "K-factor", "retention by acquisition"):
        assert name in plots


def test_the_whole_analysis_is_one_pass(events: pa.Table, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = _native.run

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append([spec["output"] for spec in args[1]])
        return real(*args, **kwargs)

    monkeypatch.setattr(_native, "run", counting)
    result = userops.report(events, None)
    assert len(calls) == 1, "one scan of the events"
    for needed in ("acquisition", "activation", "retention", "revenue", "repurchase", "next_month_repurchase",
                   "funnel", "lifecycle", "rfm", "rfm_segments", "concentration", "lorenz", "viral", "ltv"):
        assert needed in calls[0] and needed in result.tables
    assert result.path is None


def test_headline_numbers_equal_the_tables(made: tuple[Path, Any], events: pa.Table) -> None:
    text = made[1].html
    tables = made[1].tables
    heads = {h.key: h for h in made[1].headlines}

    # New users: every acquired user, i.e. every user with a signup.
    signups = pc.count_distinct(events.filter(pc.equal(events.column("event").cast(pa.string()), "signup"))
                                .column("user_id")).as_py()
    assert heads["new_users"].value == signups == sum(tables["acquisition"].column("new_users").to_pylist())
    assert f"{signups:,}" in card(text, "new_users")

    def share(table: str, num: str, den: str, where: Any = lambda r: True) -> float:
        rows = [r for r in tables[table].to_pylist() if where(r) and r[den] is not None]
        return sum(r[num] for r in rows) / sum(r[den] for r in rows)

    expected = {
        "activation_rate": share("activation", "activated", "eligible"),
        "retention_1": share("retention", "retained", "eligible", lambda r: r["offset"] == 1),
        "paying_conversion": share("paying_conversion", "converted", "eligible"),
        "repurchase": share("repurchase", "repurchased", "eligible"),
        "top_share": tables["concentration"].column("top_revenue_share")[0].as_py(),
        "funnel": tables["funnel"].column("conversion_from_start").to_pylist()[-1],
    }
    for key, value in expected.items():
        assert heads[key].value == pytest.approx(value), key
        assert f"{value:.1%}" in card(text, key), key
    k = share("viral", "referred", "eligible")
    assert heads["k_factor"].value == pytest.approx(k) and f"{k:.2f}" in card(text, "k_factor")
    revenue = sum(tables["revenue"].column("revenue").to_pylist())
    assert f"{revenue:,.2f}" in card(text, "revenue")
    done = [r for r in tables["next_month_repurchase"].to_pylist() if r["complete"] and r["rate"] is not None]
    assert f"{done[-1]['rate']:.1%}" in card(text, "next_month_repurchase")
    quick = [r for r in tables["lifecycle"].to_pylist() if r["complete"] and r["quick_ratio"] is not None]
    assert f"{quick[-1]['quick_ratio']:.2f}" in card(text, "quick_ratio")
    flagged = pc.sum(tables["churn_warning"].column("flagged").cast(pa.int64())).as_py()
    assert f"{flagged:,}" in card(text, "churn_flagged")


def test_one_pass_equals_the_single_metric_calls(made: tuple[Path, Any], events: pa.Table) -> None:
    tables = made[1].tables
    assert tables["concentration"].equals(userops.concentration(events))
    assert tables["rfm_segments"].equals(userops.rfm_segments(events))
    assert tables["retention"].equals(userops.retention(events))
    assert tables["funnel"].equals(userops.funnel(events, ["signup", "activate", "order"]))


def test_spend_gives_cac(made: tuple[Path, Any]) -> None:
    ltv = made[1].tables["ltv"]
    assert "cac" in ltv.column_names
    assert "blended_cac" in made[1].html
    acquisition = made[1].tables["acquisition"].to_pylist()
    jan_ads = next(r for r in acquisition if r["channel"] == "ads" and r["period"] == dt.date(2024, 1, 1))
    assert jan_ads["cac"] == pytest.approx(2000.0 / jan_ads["new_users"])


def test_metrics_without_their_columns_are_skipped(events: pa.Table) -> None:
    bare = events.drop_columns(["referrer_id", "amount"])
    result = userops.report(bare, None)
    for name in ("viral", "rfm", "concentration", "acquired_via", "retention_by_via"):
        assert name in result.skipped and name not in result.tables
    assert "referrer_id" in result.skipped["viral"] and "amount" in result.skipped["rfm"]
    assert "retention" in result.tables and "lifecycle" in result.tables
    assert "Not computed" in result.html and not result.problems


def test_a_missing_core_column_is_the_engine_error(events: pa.Table) -> None:
    with pytest.raises(userops.ColumnError, match="uid"):
        userops.report(events, None, columns={"user_id": "uid"})


def test_report_shows_headlines_in_a_notebook(made: tuple[Path, Any]) -> None:
    shown = made[1]._repr_html_()
    assert "<table" in shown and "Net revenue" in shown
    assert "New users" in repr(made[1])


@pytest.mark.skipif(shutil.which("chromium") is None and shutil.which("chromium-browser") is None,
                    reason="headless Chromium is not installed")
def test_the_report_renders_in_a_browser_without_network(made: tuple[Path, Any], tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    shot = tmp_path / "shot.png"
    done = subprocess.run(
        [str(browser), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--host-resolver-rules=MAP * ~NOTFOUND", f"--screenshot={shot}", "--window-size=1200,2400",
         made[0].as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.stat().st_size > 50_000, "a page with content"


# --------------------------------------------------------------------------------------
# display
# --------------------------------------------------------------------------------------


def test_display_formats_shares_money_and_nulls(events: pa.Table) -> None:
    table = userops.next_month_repurchase(events)
    shown = userops.display(table)
    assert shown.table is table, "the result stays the pyarrow Table"
    html_text = shown._repr_html_()
    rate = table.column("rate").to_pylist()
    assert f"<td class=\"num\">{rate[0]:.1%}</td>" in html_text, "rates as percentages"
    assert rate[-1] is None and '<td class="num"></td>' in html_text, "null is blank"
    money = _display.to_html(pa.table({"revenue": [1234567.891], "users": [1234]}))
    assert "1,234,567.89" in money and "1,234" in money
    assert "yes" in _display.to_html(pa.table({"complete": [True]}))
    text = repr(shown)
    assert f"{rate[0]:.1%}" in text and "None" not in text


def test_long_tables_show_head_and_tail(events: pa.Table) -> None:
    table = userops.rfm(events)
    html_text = _display.to_html(table, max_rows=6)
    assert html_text.count("<tr>") == 6 + 1 + 1, "header, 6 rows and the ⋯ row"
    assert f"{table.num_rows:,} rows" in html_text


def test_ipython_shows_tables_as_html(events: pa.Table) -> None:
    ipython = pytest.importorskip("IPython")
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    try:
        assert _display.register(True)
        table = userops.rfm_segments(events)
        data, _ = shell.display_formatter.format(table)
        assert "text/html" in data and "userops-table" in data["text/html"]
        assert "%" in data["text/html"] and "text/plain" in data
        assert isinstance(table, pa.Table)
        _display.register(False)
        data, _ = shell.display_formatter.format(table)
        assert "text/html" not in data
    finally:
        InteractiveShell.clear_instance()
    assert ipython


def test_group_sums_in_headlines_match_by_hand(made: tuple[Path, Any]) -> None:
    """The K-factor headline is referred / eligible over every cohort (each cohort's K is
    referred / eligible too, so it is their eligible-weighted mean)."""
    rows = made[1].tables["viral"].to_pylist()
    weights: dict[str, float] = defaultdict(float)
    for r in rows:
        if r["k_factor"] is not None:
            weights["k"] += r["k_factor"] * r["eligible"]
            weights["n"] += r["eligible"]
    head = next(h for h in made[1].headlines if h.key == "k_factor")
    assert head.value == pytest.approx(weights["k"] / weights["n"])


def test_the_docstring_examples_run() -> None:
    import doctest

    for module in (_display, _report):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0 and result.attempted > 0, module.__name__
