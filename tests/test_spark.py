"""``userops.spark.analyze`` on a real local Spark (``local[2]``) equals the
single-process ``userops.analyze`` exactly, for every registered plugin.

Spark needs Java 17+. Without it (or without pyspark) these tests are skipped with the
reason, except in CI (``CI`` set), where they must run and fail instead.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import userops
from userops import _native


def java_major() -> tuple[int | None, str]:
    """The major version of the ``java`` Spark would start, and where it was found."""
    home = os.environ.get("JAVA_HOME")
    java = os.path.join(home, "bin", "java") if home else shutil.which("java")
    if not java or not os.path.exists(java):
        return None, "no `java` on PATH and no JAVA_HOME"
    try:
        done = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60, check=False)
    except OSError as e:
        return None, f"{java} cannot run: {e}"
    found = re.search(r'version "(\d+)(?:\.(\d+))?', done.stderr + done.stdout)
    if not found:
        return None, f"cannot tell the version of {java}"
    major = int(found.group(1))
    return (int(found.group(2) or 0) if major == 1 else major), java


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"CI must run the Spark tests: {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


try:
    import pyspark  # noqa: F401
except ImportError:
    _skip_or_fail("the Spark tests need pyspark: pip install 'userops[spark]'")
_major, _where = java_major()
if _major is None or _major < 17:
    _skip_or_fail(f"the Spark tests need Java 17 or newer for Spark 4 ({_where if _major is None else f'{_where} is Java {_major}'})")

import userops.spark  # noqa: E402

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
def spark() -> Any:
    """One local Spark session (2 cores) for the module."""
    from pyspark.sql import SparkSession

    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # PySpark on pandas 3
        session = (
            SparkSession.builder.master("local[2]")
            .appName("userops-tests")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.driver.memory", "1g")
            .config("spark.sql.session.timeZone", "America/New_York")  # results must not depend on it
            .getOrCreate()
        )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def files(events: pa.Table, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo shop in 4 Parquet files of random rows (a user's rows in several files)."""
    root = tmp_path_factory.mktemp("spark")
    order = np.random.default_rng(11).permutation(events.num_rows)
    for i, part in enumerate(np.array_split(order, 4)):
        pq.write_table(events.take(pa.array(np.sort(part))), root / f"part-{i}.parquet")
    return root


@pytest.fixture(scope="module")
def expected(events: pa.Table) -> dict[str, pa.Table]:
    return userops.analyze(events, PLUGINS)


@pytest.fixture(autouse=True)
def _quiet() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        yield


def test_parquet_on_local_spark_equals_analyze(spark: Any, files: Path, expected: dict[str, pa.Table]) -> None:
    df = spark.read.parquet(str(files))
    assert_same(userops.spark.analyze(df, PLUGINS), expected)


def test_any_partitioning_gives_the_same_result(spark: Any, files: Path, expected: dict[str, pa.Table]) -> None:
    df = spark.read.parquet(str(files)).repartition(7)  # rows spread over 7 partitions
    assert_same(userops.spark.analyze(df, PLUGINS, threads=2), expected)


def test_options_renamed_columns_and_projection(spark: Any, events: pa.Table, files: Path) -> None:
    df = spark.read.parquet(str(files)).withColumnRenamed("user_id", "uid").withColumnRenamed("amount", "paid")
    df = df.withColumn("blob", df["uid"].cast("string"))  # never read: projected away
    options: dict[str, Any] = {"columns": {"user_id": "uid", "amount": "paid"}, "tz": "+08:00", "as_of": dt.date(2024, 9, 30)}
    plugins = {"rfm": {}, "revenue": {"period": "week"}, "viral": {}}
    renamed = events.rename_columns(["uid", "ts", "event", "paid", "channel", "referrer_id"])
    assert_same(userops.spark.analyze(df, plugins, **options), userops.analyze(renamed, plugins, **options))


def test_no_rows_finishes_like_an_empty_table(spark: Any, files: Path, events: pa.Table) -> None:
    df = spark.read.parquet(str(files)).where("user_id < 0")
    plugins = {"rfm": {}, "retention": {}}
    assert_same(userops.spark.analyze(df, plugins), userops.analyze(events.slice(0, 0), plugins))


def test_not_a_spark_dataframe(spark: Any, events: pa.Table) -> None:
    with pytest.raises(TypeError, match="pyspark.sql.DataFrame"):
        userops.spark.analyze(events, {"rfm": {}})
