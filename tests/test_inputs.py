"""Every accepted input gives the same result; bad inputs give clear errors."""

from __future__ import annotations

import datetime as dt
import math
import warnings
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import userops


@pytest.fixture(scope="module")
def expected(events: pa.Table) -> pa.Table:
    return userops.rfm(events)


@pytest.fixture(scope="module")
def parquet_dir(events: pa.Table, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The events in three Parquet files (small row groups), rows shuffled across them."""
    root = tmp_path_factory.mktemp("parquet")
    n = events.num_rows
    order = np.random.default_rng(0).permutation(n)
    for i, part in enumerate(np.array_split(order, 3)):
        pq.write_table(events.take(pa.array(part)), root / f"part-{i}.parquet", row_group_size=4096)
    return root


def _readers(events: pa.Table) -> dict[str, object]:
    import duckdb
    import pandas as pd  # noqa: F401
    import polars as pl

    return {
        "pyarrow.Table": events,
        "pyarrow.RecordBatchReader": pa.RecordBatchReader.from_batches(events.schema, events.to_batches(max_chunksize=1000)),
        "polars.DataFrame": pl.from_arrow(events),
        "pandas.DataFrame": events.to_pandas(),
        "duckdb relation": duckdb.from_arrow(events),
    }


@pytest.mark.parametrize("kind", ["pyarrow.Table", "pyarrow.RecordBatchReader", "polars.DataFrame", "pandas.DataFrame", "duckdb relation"])
def test_in_memory_inputs_give_identical_results(events: pa.Table, expected: pa.Table, kind: str) -> None:
    source = _readers(events)[kind]
    assert userops.rfm(source).equals(expected)


def test_parquet_file_glob_directory_and_list_give_identical_results(
    events: pa.Table, expected: pa.Table, parquet_dir: Path, tmp_path: Path
) -> None:
    single = tmp_path / "events.parquet"
    pq.write_table(events, single, row_group_size=5000)
    files = sorted(parquet_dir.glob("*.parquet"))
    sources = {
        "file": single,
        "file as str": str(single),
        "glob": str(parquet_dir / "*.parquet"),
        "directory": parquet_dir,
        "list": files,
        "pyarrow dataset": __import__("pyarrow.dataset").dataset.dataset(parquet_dir),
    }
    for name, source in sources.items():
        assert userops.rfm(source, progress=False).equals(expected), name


def test_parquet_reads_only_needed_columns(events: pa.Table, expected: pa.Table, tmp_path: Path) -> None:
    """A column the run does not read may even have a type userops cannot read."""
    wide = events.append_column("blob", pa.array([[1.5]] * events.num_rows))
    pq.write_table(wide, tmp_path / "wide.parquet")
    assert userops.rfm(tmp_path / "wide.parquet", progress=False).equals(expected)


def test_a_bad_path_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "nope.parquet"
    with pytest.raises(FileNotFoundError, match="nope.parquet"):
        userops.rfm(missing)
    with pytest.raises(FileNotFoundError, match=r"nothing-\*\.parquet"):
        userops.rfm(str(tmp_path / "nothing-*.parquet"))


def test_an_unsupported_object_names_its_type() -> None:
    with pytest.raises(TypeError, match=r"dict.*pyarrow Table"):
        userops.rfm({"user_id": [1]})


def test_columns_maps_the_callers_names(events: pa.Table, expected: pa.Table) -> None:
    renamed = events.rename_columns(["uid", "time", "what", "amt", "channel", "referrer_id"])
    columns = {"user_id": "uid", "ts": "time", "event": "what", "amount": "amt"}
    assert userops.rfm(renamed, columns=columns).equals(expected)


def test_an_unknown_column_role_is_a_parameter_error(events: pa.Table) -> None:
    with pytest.raises(userops.ParameterError, match="userid"):
        userops.rfm(events, columns={"userid": "uid"})


def test_a_missing_column_names_it(events: pa.Table) -> None:
    with pytest.raises(userops.ColumnError, match="`ts`"):
        userops.rfm(events.drop_columns(["ts"]))
    renamed = events.rename_columns(["uid", "ts", "event", "amount", "channel", "referrer_id"])
    with pytest.raises(userops.ColumnError, match="`user_id`"):
        userops.rfm(renamed)


def test_an_unsupported_type_names_the_column_and_type(events: pa.Table) -> None:
    floats = events.set_column(0, "user_id", pc.cast(events["user_id"], pa.float64()))
    with pytest.raises(userops.ColumnError, match=r"(?s)`user_id`.*Float64"):
        userops.rfm(floats)


def test_null_user_ids_give_one_warning_with_the_count(events: pa.Table, expected: pa.Table) -> None:
    mask = pa.array(np.arange(events.num_rows) % 97 == 0)
    nulled = events.set_column(0, "user_id", pc.if_else(mask, pa.scalar(None, pa.int64()), events["user_id"]))
    count = pc.sum(mask).as_py()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        userops.analyze(nulled, {"rfm": {}, "concentration": {}})
    ours = [w for w in caught if issubclass(w.category, userops.UserOpsWarning)]
    assert len(ours) == 1, [str(w.message) for w in ours]
    assert f"{count:,}" in str(ours[0].message)
    assert "user_id" in str(ours[0].message)
    assert ours[0].filename == __file__  # points at the caller, not at userops


def test_clean_input_gives_no_warning(events: pa.Table) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", userops.UserOpsWarning)
        userops.concentration(events)


def test_a_bare_date_as_of_includes_the_whole_day(events: pa.Table) -> None:
    day = dt.date(2024, 6, 30)
    end_of_day = dt.datetime(2024, 6, 30, 23, 59, 59, 999999)
    by_date = userops.rfm(events, as_of=day)
    assert by_date.equals(userops.rfm(events, as_of=end_of_day))
    assert not by_date.equals(userops.rfm(events, as_of=dt.datetime(2024, 6, 30)))
    for same in ("2024-06-30", np.datetime64("2024-06-30"), dt.datetime(2024, 6, 30, 23, 59, 59, 999999, tzinfo=dt.timezone.utc)):
        assert userops.rfm(events, as_of=same).equals(by_date), same
    import pandas as pd

    assert userops.rfm(events, as_of=pd.Timestamp("2024-06-30 23:59:59.999999")).equals(by_date)
    assert userops.rfm(events, as_of="2024-06-30T23:59:59.999999Z").equals(by_date)


def test_a_bare_date_ends_in_the_time_zone(events: pa.Table) -> None:
    tz = "Asia/Shanghai"
    end = dt.datetime(2024, 6, 30, 23, 59, 59, 999999, tzinfo=ZoneInfo(tz))
    assert userops.rfm(events, as_of=dt.date(2024, 6, 30), tz=tz).equals(userops.rfm(events, as_of=end, tz=tz))


def test_bad_as_of_and_tz_are_parameter_errors(events: pa.Table) -> None:
    with pytest.raises(userops.ParameterError, match="not-a-date"):
        userops.rfm(events, as_of="not-a-date")
    with pytest.raises(userops.ParameterError, match="Mars/Olympus"):
        userops.rfm(events, tz="Mars/Olympus")
    with pytest.raises(userops.ParameterError, match="as_of"):
        userops.rfm(events, as_of=12.5)


def test_an_unknown_plugin_or_parameter_names_it(events: pa.Table) -> None:
    with pytest.raises(userops.ParameterError, match="no_such_metric"):
        userops.analyze(events, {"no_such_metric": {}})
    with pytest.raises(userops.ParameterError, match="binz"):
        userops.analyze(events, {"rfm": {"binz": 3}})
    with pytest.raises(userops.ParameterError, match="bins"):
        userops.rfm(events, bins=1)


def test_a_nan_amount_is_a_data_error_with_the_count(events: pa.Table) -> None:
    nulls = events["amount"].is_null().to_numpy(zero_copy_only=False)
    amounts = events["amount"].to_numpy(zero_copy_only=False).copy()
    orders = np.flatnonzero(~nulls)
    amounts[orders[:3]] = math.nan
    amounts[orders[3]] = math.inf
    bad = events.set_column(3, "amount", pa.array(amounts, mask=nulls, from_pandas=False))
    with pytest.raises(userops.DataError, match=r"(?s)`amount`.*\b4 NaN"):
        userops.rfm(bad)
