"""``analyze``, threads, progress."""

from __future__ import annotations

import sys
import threading

import pyarrow as pa
import pytest

import userops


def test_analyze_equals_single_calls(events: pa.Table) -> None:
    out = userops.analyze(
        events,
        {
            "rfm": {},
            "rfm_segments": {"monetary": "mean"},
            "concentration": {"top": 0.1},
            "lorenz": {"points": 10},
            "rfm_3_bins": {"plugin": "rfm", "bins": 3, "method": "ntile"},
        },
    )
    assert list(out) == ["rfm", "rfm_segments", "concentration", "lorenz", "rfm_3_bins"]
    assert out["rfm"].equals(userops.rfm(events))
    assert out["rfm_segments"].equals(userops.rfm_segments(events, monetary="mean"))
    assert out["concentration"].equals(userops.concentration(events, top=0.1))
    assert out["lorenz"].equals(userops.lorenz(events, points=10))
    assert out["rfm_3_bins"].equals(userops.rfm(events, bins=3, method="ntile"))


def test_results_carry_scan_metadata(events: pa.Table) -> None:
    meta = userops.concentration(events).schema.metadata
    assert int(meta[b"userops.rows_read"]) == events.num_rows


def test_threads_do_not_change_results(events: pa.Table) -> None:
    big = pa.concat_tables([events] * 3)  # several slices, so both workers get some
    plugins = {"rfm": {}, "rfm_segments": {}, "concentration": {}, "lorenz": {}}
    one = userops.analyze(big, plugins, threads=1)
    two = userops.analyze(big, plugins, threads=2)
    for name in plugins:
        assert one[name].equals(two[name]), name


def test_progress_callback_is_called_with_the_rows(events: pa.Table) -> None:
    calls: list[tuple[int, int, str]] = []

    def progress(rows: int, batches: int) -> None:
        calls.append((rows, batches, threading.current_thread().name))

    reader = pa.RecordBatchReader.from_batches(events.schema, events.to_batches(max_chunksize=500))
    userops.rfm(reader, threads=2, progress=progress)
    assert calls, "the progress callback was never called"
    assert calls[-1][0] == events.num_rows
    rows = [c[0] for c in calls]
    assert rows == sorted(rows)


def test_a_failing_progress_callback_does_not_fail_the_run(events: pa.Table, monkeypatch: pytest.MonkeyPatch) -> None:
    raised: list[BaseException | None] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda u: raised.append(u.exc_value))

    def progress(rows: int, batches: int) -> None:
        raise RuntimeError("boom")

    assert userops.rfm(events, progress=progress).equals(userops.rfm(events))
    assert len(raised) == 1 and isinstance(raised[0], RuntimeError)


def test_progress_bar_does_not_change_results(events: pa.Table) -> None:
    pytest.importorskip("tqdm")
    assert userops.concentration(events, progress=True).equals(userops.concentration(events, progress=False))


def test_a_bad_progress_value_is_a_parameter_error(events: pa.Table) -> None:
    with pytest.raises(userops.ParameterError, match="progress"):
        userops.rfm(events, progress="yes")


def test_analyze_needs_plugins(events: pa.Table) -> None:
    with pytest.raises(userops.ParameterError):
        userops.analyze(events, {})


def test_two_results_of_one_name_are_refused(events: pa.Table) -> None:
    with pytest.raises(userops.ParameterError, match="rfm"):
        userops._run.run(events, [userops._run.spec("rfm", {}), userops._run.spec("rfm", {})])


def test_a_breakdown_on_a_metric_without_one_is_a_parameter_error(events: pa.Table) -> None:
    with pytest.raises(userops.ParameterError, match="breakdown"):
        userops.analyze(events, {"rfm": {}, "concentration": {"breakdown": "rfm"}})


def test_shop_is_deterministic() -> None:
    a = userops.datasets.shop(500, seed=3)
    assert a.equals(userops.datasets.shop(500, seed=3))
    assert not a.equals(userops.datasets.shop(500, seed=4))
    assert a.column_names == ["user_id", "ts", "event", "amount", "channel", "referrer_id"]


def test_demo_cli_prints_tables(capsys: pytest.CaptureFixture[str]) -> None:
    from userops import cli

    assert cli.main(["demo", "--users", "2000"]) == 0
    out = capsys.readouterr().out
    assert "Champions" in out and "gini" in out


def test_the_interpreter_is_released_while_rust_works() -> None:
    """Another Python thread keeps running during a scan."""
    big = userops.datasets.shop(100_000, seed=2)
    spins = 0
    stop = threading.Event()

    def spin() -> None:
        nonlocal spins
        while not stop.is_set():
            spins += 1

    thread = threading.Thread(target=spin)
    thread.start()
    try:
        before = spins
        userops.analyze(big, {"rfm": {}, "rfm_segments": {}, "lorenz": {}}, threads=2)
        during = spins - before
    finally:
        stop.set()
        thread.join()
    assert during > 1000


CTRL_C = """
import os, signal, threading, time
import pyarrow as pa, userops
events = userops.datasets.shop(500)
def batches():
    while True:  # an endless, slow stream
        time.sleep(0.02)
        yield from events.to_batches()
reader = pa.RecordBatchReader.from_batches(events.schema, batches())
threading.Timer(0.5, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
try:
    userops.rfm(reader, threads=2)
except KeyboardInterrupt:
    print("interrupted")
"""


def test_ctrl_c_stops_a_scan() -> None:
    import subprocess

    done = subprocess.run([sys.executable, "-c", CTRL_C], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "interrupted"


def test_a_panic_in_rust_is_an_internal_error() -> None:
    with pytest.raises(userops.InternalError, match="deliberate"):
        userops._native._test_panic("deliberate")
    assert userops.datasets.shop(10).num_rows > 0  # the module still works


def test_a_breakdown_table_equals_a_segmenter_breakdown(events: pa.Table) -> None:
    """Labels from a segmenter in the same run, or the same labels as a pyarrow,
    polars or pandas table, break a metric down identically."""
    import polars as pl

    capable = [r["name"] for r in userops.plugins().to_pylist() if r["breakdown"]]
    if not capable:
        pytest.skip("no plugin of this build takes a breakdown")
    name = capable[0]
    labels = userops.rfm(events).select(["user_id", "segment"])
    expected = userops.analyze(events, {"rfm": {}, name: {"breakdown": "rfm"}})[name]
    for table in (labels, pl.from_arrow(labels), labels.to_pandas()):
        assert userops.analyze(events, {name: {"breakdown": table}})[name].equals(expected)
    with pytest.raises(TypeError, match="breakdown"):
        userops.analyze(events, {name: {"breakdown": 42}})


def test_analyze_takes_column_and_segmenter_breakdowns_like_the_single_calls(events: pa.Table) -> None:
    results = userops.analyze(
        events,
        {
            "rfm": {},
            "by_channel": {"plugin": "retention", "breakdown": "channel", "max_offset": 2},
            "by_segment": {"plugin": "retention", "breakdown": "rfm", "max_offset": 2},
            "funnel": {"steps": ["signup", "order"], "breakdown": "channel"},
        },
    )
    assert results["by_channel"].equals(userops.retention(events, breakdown="channel", max_offset=2))
    assert results["by_segment"].equals(userops.retention(events, breakdown=userops.rfm(events), max_offset=2))
    assert results["funnel"].equals(userops.funnel(events, ["signup", "order"], breakdown="channel"))


def test_the_shop_refuses_an_activity_that_is_not_positive() -> None:
    assert userops.datasets.shop(200, seed=1, activity=2.0).num_rows > userops.datasets.shop(200, seed=1).num_rows
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(userops.ParameterError, match="activity"):
            userops.datasets.shop(10, activity=bad)
