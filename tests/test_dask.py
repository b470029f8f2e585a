"""``userops.dask.analyze`` on a real local Dask cluster (2 worker processes) equals the
single-process ``userops.analyze`` exactly, for every registered plugin."""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import userops
from userops import _native

if os.environ.get("CI"):  # CI installs the extras (make requirements): never skip there
    import dask  # noqa: F401
    import distributed  # noqa: F401
else:
    pytest.importorskip("distributed", reason="the Dask tests need dask[distributed]: pip install 'userops[dask]'")

import userops.dask  # noqa: E402  (after the skip: the module itself never needs Dask to import)

PLUGINS: dict[str, dict[str, Any]] = {
    **{name: {} for name in _native.registered_names()},
    "retention_by_rfm": {"plugin": "retention", "breakdown": "rfm"},
}


def assert_same(got: dict[str, pa.Table], want: dict[str, pa.Table]) -> None:
    assert list(got) == list(want)
    for name in want:
        assert got[name].schema == want[name].schema, name
        assert got[name].equals(want[name]), name


@pytest.fixture(scope="module")
def files(events: pa.Table, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo shop in 4 Parquet files of random rows (a user's rows in several files)."""
    root = tmp_path_factory.mktemp("dask")
    order = np.random.default_rng(7).permutation(events.num_rows)
    for i, part in enumerate(np.array_split(order, 4)):
        pq.write_table(events.take(pa.array(np.sort(part))), root / f"part-{i}.parquet", row_group_size=4_000)
    return root


@pytest.fixture(scope="module")
def expected(events: pa.Table) -> dict[str, pa.Table]:
    return userops.analyze(events, PLUGINS)


@pytest.fixture(scope="module")
def client() -> Any:
    from dask.distributed import Client, LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=logging.ERROR
    ) as cluster, Client(cluster) as c:
        yield c


def test_files_on_a_local_cluster_equal_analyze(client: Any, files: Path, expected: dict[str, pa.Table]) -> None:
    assert_same(userops.dask.analyze(str(files / "*.parquet"), PLUGINS, client=client), expected)


def test_a_dask_dataframe_on_a_local_cluster_equals_analyze(client: Any, files: Path, expected: dict[str, pa.Table]) -> None:
    import dask.dataframe as dd

    frame = dd.read_parquet(str(files / "*.parquet"))  # numpy dtypes: referrer_id becomes float64 in pandas
    assert frame.npartitions >= 2
    assert_same(userops.dask.analyze(frame, PLUGINS, client=client), expected)
    arrow_backed = dd.read_parquet(str(files / "*.parquet"), dtype_backend="pyarrow")
    assert_same(userops.dask.analyze(arrow_backed, PLUGINS, client=client), expected)


def test_without_a_client_dask_schedules_locally(files: Path, expected: dict[str, pa.Table]) -> None:
    import dask

    paths = sorted(files.glob("*.parquet"))
    with dask.config.set(scheduler="threads"):  # as without any client: local threads
        assert_same(userops.dask.analyze(paths, PLUGINS), expected)


def test_options_and_renamed_columns(client: Any, events: pa.Table, tmp_path: Path) -> None:
    renamed = events.rename_columns(["uid", "time", "what", "paid", "channel", "referrer_id"])
    for i in range(3):
        pq.write_table(renamed.slice(i * 20_000, 20_000), tmp_path / f"part-{i}.parquet")
    options: dict[str, Any] = {
        "columns": {"user_id": "uid", "ts": "time", "event": "what", "amount": "paid"},
        "tz": "Asia/Shanghai",
        "as_of": dt.date(2024, 9, 30),
    }
    plugins = {"rfm": {}, "retention": {"period": "week"}, "viral": {}}
    got = userops.dask.analyze(tmp_path, plugins, client=client, **options)
    assert_same(got, userops.analyze(renamed, plugins, **options))


def test_wrong_inputs_are_clear_errors(files: Path) -> None:
    with pytest.raises(TypeError, match="Parquet paths"):
        userops.dask.analyze(pa.table({"a": [1]}), {"rfm": {}})
    with pytest.raises(FileNotFoundError, match="nothing"):
        userops.dask.analyze(str(files / "nothing-*.parquet"), {"rfm": {}})
    with pytest.raises(userops.ParameterError, match="nope"):
        userops.dask.analyze(str(files / "*.parquet"), {"nope": {}})
