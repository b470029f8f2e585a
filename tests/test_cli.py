"""The ``userops`` command line: ``demo`` and ``report`` over Parquet and CSV, one-line
errors, the progress callback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pv
import pyarrow.parquet as pq
import pytest

pytest.importorskip("matplotlib")

import userops  # noqa: E402
from userops import cli  # noqa: E402

RENAMED = ["uid", "time", "event", "amount", "channel", "referrer_id"]


def plain(events: pa.Table) -> pa.Table:
    """The shop with plain string columns and the user's own names for two of them."""
    schema = pa.schema([("user_id", pa.int64()), ("ts", pa.timestamp("us", tz="UTC")), ("event", pa.string()),
                        ("amount", pa.float64()), ("channel", pa.string()), ("referrer_id", pa.int64())])
    return events.cast(schema).rename_columns(RENAMED)


@pytest.fixture(scope="module")
def files(events: pa.Table, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("events")
    table = plain(events)
    half = table.num_rows // 2
    (root / "parquet").mkdir()
    pq.write_table(table.slice(0, half), root / "parquet" / "part-0.parquet")
    pq.write_table(table.slice(half), root / "parquet" / "part-1.parquet")
    (root / "csv").mkdir()
    pv.write_csv(table.slice(0, half), root / "csv" / "a.csv")
    pv.write_csv(table.slice(half), root / "csv" / "b.csv")
    return root


def headline(result: Any, key: str) -> str:
    return next(h.text for h in result.headlines if h.key == key)


def test_demo_writes_the_report_and_prints_headlines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo.html"
    assert cli.main(["demo", "--users", "1500", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert out.exists() and out.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert "Headline numbers" in printed and "Net revenue" in printed
    assert "Champions" in printed and "gini" in printed
    expected = userops.report(userops.datasets.shop(1500, seed=0), None)
    assert headline(expected, "top_share") in printed


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_report_of_files_with_own_column_names(
    kind: str, files: Path, events: pa.Table, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / f"{kind}.html"
    code = cli.main(["report", str(files / kind), "--out", str(out), "--columns", "user_id=uid,ts=time"])
    printed = capsys.readouterr().out
    assert code == 0
    assert out.exists() and "https://" not in out.read_text(encoding="utf-8")
    expected = userops.report(events, None)
    for key in ("new_users", "retention_1", "revenue", "top_share", "k_factor"):
        assert headline(expected, key) in printed, key


def test_report_of_a_glob_and_several_files(files: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "glob.html"
    glob_code = cli.main(["report", str(files / "parquet" / "*.parquet"), "-o", str(out),
                          "--columns", "user_id=uid", "--columns", "ts=time", "--as-of", "2024-06-30",
                          "--tz", "Asia/Shanghai"])
    assert glob_code == 0 and out.exists()
    printed = capsys.readouterr().out
    assert "written to" in printed
    code = cli.main(["report", str(files / "csv" / "a.csv"), str(files / "csv" / "b.csv"), "-o", str(out),
                     "--columns", "user_id=uid,ts=time"])
    assert code == 0


def test_progress_is_driven_by_the_engine(files: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          events: pa.Table) -> None:
    seen: list[tuple[int, int]] = []
    totals: list[Any] = []

    def fake(total: Any) -> Any:
        totals.append(total)
        return (lambda rows, batches: seen.append((rows, batches))), (lambda: None)

    monkeypatch.setattr(cli, "_progress", fake)
    assert cli.main(["report", str(files / "parquet"), "-o", str(tmp_path / "p.html"),
                     "--columns", "user_id=uid,ts=time"]) == 0
    assert totals == [events.num_rows], "Parquet row counts are known up front"
    assert seen and max(rows for rows, _ in seen) == events.num_rows


def error_of(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("userops: error: ") and "\n" not in err and "Traceback" not in err, err
    return err


def test_one_line_errors(files: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = ["-o", str(tmp_path / "x.html")]
    assert "no such file" in error_of(capsys, ["report", str(tmp_path / "missing.parquet"), *out])
    assert "no file matches" in error_of(capsys, ["report", str(tmp_path / "*.parquet"), *out])
    err = error_of(capsys, ["report", str(files / "parquet"), *out, "--columns", "user_id=uid"])
    assert "`ts`" in err and "--columns ts=your_name" in err
    err = error_of(capsys, ["report", str(files / "csv"), *out, "--columns", "user_id=customer,ts=time"])
    assert "`customer`" in err and "uid" in err, "names the missing column and those present"
    assert "role=name" in error_of(capsys, ["report", str(files / "csv"), *out, "--columns", "uid"])
    assert "unknown role" in error_of(capsys, ["report", str(files / "csv"), *out, "--columns", "who=uid"])
    assert "time zone" in error_of(capsys, ["report", str(files / "parquet"), *out, "--columns",
                                            "user_id=uid,ts=time", "--tz", "Mars/Olympus"])
    (tmp_path / "notes.txt").write_text("hello")
    assert "neither Parquet" in error_of(capsys, ["report", str(tmp_path / "notes.txt"), *out])
    assert not (tmp_path / "x.html").exists()


def test_a_bad_time_in_a_csv_is_named(files: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = (files / "csv" / "a.csv").read_text().splitlines()
    lines[3] = lines[3].replace("2024-", "yesterday-", 1)
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    err = error_of(capsys, ["report", str(bad), "-o", str(tmp_path / "bad.html"), "--columns", "user_id=uid,ts=time"])
    assert "bad.csv" in err and "`time`" in err and "yesterday" in err


def test_csv_times_with_and_without_offsets(tmp_path: Path) -> None:
    text = (
        "user_id,ts,event,amount\n"
        "1,2024-01-01 10:00:00,signup,\n"
        "1,2024-01-02T10:00:00Z,order,12.5\n"
        "2,2024-01-03T10:00:00+08:00,signup,\n"
        "2,2024-01-04,order,3\n"
        "3,2024-01-05 01:02:03.123456789Z,visit,\n"
    )
    path = tmp_path / "mixed.csv"
    path.write_text(text)
    table = cli.CsvEvents([str(path)], None).reader().read_all()
    assert table.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert [str(t) for t in table.column("ts").to_pylist()] == [
        "2024-01-01 10:00:00+00:00",
        "2024-01-02 10:00:00+00:00",
        "2024-01-03 02:00:00+00:00",
        "2024-01-04 00:00:00+00:00",
        "2024-01-05 01:02:03.123456+00:00",
    ]
    assert table.column("amount").to_pylist() == [None, 12.5, None, 3.0, None]


def test_the_console_script_exits_cleanly_on_errors(tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "userops"
    command = [str(script)] if script.exists() else [sys.executable, "-m", "userops.cli"]
    done = subprocess.run([*command, "report", str(tmp_path / "nope.parquet")], capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 2
    assert done.stderr.strip() == f"userops: error: no such file or folder: '{tmp_path / 'nope.parquet'}'"
    version = subprocess.run([*command, "--version"], capture_output=True, text=True, timeout=120, check=False)
    assert version.stdout.strip() == f"userops {userops.__version__}"
