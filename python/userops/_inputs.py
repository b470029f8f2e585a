"""Turn ``events`` into Arrow data the engine reads.

Accepted: any object exporting the Arrow PyCapsule interface (``__arrow_c_stream__``
or ``__arrow_c_array__``: pyarrow Table, RecordBatch and RecordBatchReader, polars
DataFrame, DuckDB relation, ...), a pandas DataFrame (through pyarrow, index
dropped), a ``pyarrow.dataset.Dataset``, and Parquet files: a path, a glob, a directory or a list of these, read
batch by batch with only the needed columns, so memory stays bounded.
"""

from __future__ import annotations

import errno
import glob
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

ACCEPTED = (
    "a pyarrow Table, RecordBatch, RecordBatchReader or Dataset; a polars DataFrame; a pandas DataFrame; "
    "a DuckDB relation; any object with __arrow_c_stream__; or Parquet files as a path, a glob "
    "('events/*.parquet'), a directory, or a list of these"
)

#: Rows per batch when reading Parquet.
PARQUET_BATCH_ROWS = 1 << 16
# Read one file ahead at a time, a few batches ahead: pyarrow's defaults (4 files, 16
# batches) held about 0.2 GiB more over 200M events and were no faster, as the engine,
# not the reading, sets the pace.
PARQUET_READAHEAD = {"fragment_readahead": 1, "batch_readahead": 4}

#: ``{"required": [...], "optional": [...]}``: the caller's names of the columns a run reads.
Needed = dict[str, list[str]]


@dataclass
class Source:
    """Arrow data for ``_native.run`` and what is known about it up front."""

    data: Any
    from_files: bool = False
    _count: Callable[[], int | None] = field(default=lambda: None, repr=False)
    _file_rows: Callable[[], list[int] | None] = field(default=lambda: None, repr=False)

    def rows(self) -> int | None:
        """The number of rows, when it is known without reading the data."""
        return self._count()

    def file_rows(self) -> list[int] | None:
        """The rows of each file in reading order (Parquet sources), for files-done progress."""
        return self._file_rows()


def _is_pathlike(obj: Any) -> bool:
    return isinstance(obj, (str, os.PathLike))


def _module_of(obj: Any) -> str:
    return type(obj).__module__.split(".")[0]


def _projection(present: Sequence[str], needed: Needed) -> list[str] | None:
    """The needed columns that are present, or None (read everything) when a required
    column is missing, so the engine's error lists every column present."""
    present_set = set(present)
    if any(c not in present_set for c in needed["required"]):
        return None
    wanted = set(needed["required"]) | set(needed["optional"])
    return [c for c in present if c in wanted]


def _expand(paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[str]:
    """Parquet file paths from paths, globs and directories, in a stable order."""
    import pyarrow.dataset as ds

    items: list[Any] = [paths] if _is_pathlike(paths) else list(paths)  # type: ignore[arg-type]
    if not items:
        raise FileNotFoundError("userops: an empty list of Parquet files was given")
    files: list[str] = []
    for item in items:
        if not _is_pathlike(item):
            raise TypeError(f"a list of Parquet files must hold paths, not {type(item).__name__}")
        path = os.fspath(item)
        if glob.has_magic(path):
            matched = sorted(p for p in glob.glob(path, recursive=True) if os.path.isfile(p))
            if not matched:
                raise FileNotFoundError(errno.ENOENT, "userops: no Parquet file matches the glob", path)
            files.extend(matched)
        elif os.path.isdir(path):
            found = sorted(ds.dataset(path, format="parquet").files)
            if not found:
                raise FileNotFoundError(errno.ENOENT, "userops: no Parquet file in the directory", path)
            files.extend(found)
        elif os.path.isfile(path):
            files.append(path)
        else:
            raise FileNotFoundError(errno.ENOENT, "userops: no such Parquet file or directory", path)
    return files


def _scan(dataset: Any, needed: Callable[[], Needed]) -> Source:
    """A pyarrow Dataset read batch by batch, projected to the needed columns."""
    columns = _projection(dataset.schema.names, needed())
    scanner = dataset.scanner(columns=columns, batch_size=PARQUET_BATCH_ROWS, **PARQUET_READAHEAD)
    per_file: list[list[int]] = []

    def file_rows() -> list[int] | None:
        # Row counts from the Parquet footers; the scanner reads the files in this order.
        if not per_file:
            per_file.append([f.count_rows() for f in dataset.get_fragments()])
        return per_file[0]

    def count() -> int | None:
        rows = file_rows()
        return sum(rows) if rows is not None else dataset.count_rows()

    return Source(scanner.to_reader(), from_files=True, _count=count, _file_rows=file_rows)


def _parquet(paths: Any, needed: Callable[[], Needed]) -> Source:
    import pyarrow.dataset as ds

    return _scan(ds.dataset(_expand(paths), format="parquet"), needed)


def _is_dataset(obj: Any) -> bool:
    if _module_of(obj) != "pyarrow":
        return False
    import pyarrow.dataset as ds

    return isinstance(obj, ds.Dataset)


def _pandas(df: Any, needed: Callable[[], Needed]) -> Source:
    import pyarrow as pa

    labels = list(df.columns)
    keep = _projection([str(c) for c in labels], needed())
    if keep is not None:
        df = df[[label for label in labels if str(label) in set(keep)]]
    table = pa.Table.from_pandas(df, preserve_index=False)
    return Source(table, _count=lambda: table.num_rows)


def _duckdb(relation: Any, needed: Callable[[], Needed]) -> Source:
    columns = _projection(list(relation.columns), needed())
    if columns is not None:
        relation = relation.project(", ".join('"' + c.replace('"', '""') + '"' for c in columns))
    if hasattr(relation, "__arrow_c_stream__"):
        return Source(relation)
    # Older DuckDB: a streaming pyarrow RecordBatchReader.
    return Source(relation.fetch_record_batch(PARQUET_BATCH_ROWS))


def _known_rows(obj: Any) -> Callable[[], int | None]:
    for attr in ("num_rows", "height"):  # pyarrow Table / RecordBatch, polars DataFrame
        value = getattr(obj, attr, None)
        if isinstance(value, int):
            return lambda: value
    return lambda: None


def is_pandas(obj: Any) -> bool:
    """Whether ``obj`` is a pandas DataFrame (without importing pandas)."""
    if "pandas" not in sys.modules or _module_of(obj) != "pandas":
        return False
    import pandas as pd

    return isinstance(obj, pd.DataFrame)


def source(events: Any, needed: Callable[[], Needed]) -> Source:
    """``events`` as a :class:`Source`; ``needed`` tells the columns the run reads (it is
    called only for sources that can skip columns)."""
    if _is_pathlike(events) or (isinstance(events, (list, tuple)) and all(_is_pathlike(e) for e in events)):
        return _parquet(events, needed)
    if is_pandas(events):
        return _pandas(events, needed)
    if _is_dataset(events):
        return _scan(events, needed)
    if _module_of(events) == "duckdb" and hasattr(events, "project") and hasattr(events, "columns"):
        return _duckdb(events, needed)
    if hasattr(events, "__arrow_c_stream__") or hasattr(events, "__arrow_c_array__"):
        return Source(events, _count=_known_rows(events))
    kind = type(events)
    hint = " (call .collect() first)" if kind.__name__ == "LazyFrame" else ""
    raise TypeError(f"events of type {kind.__module__}.{kind.__qualname__} cannot be read{hint}; expected {ACCEPTED}")


def table_like(obj: Any) -> Any:
    """A small Arrow object (e.g. a breakdown table) for the engine: pandas goes
    through pyarrow, Arrow objects pass as they are."""
    if is_pandas(obj):
        import pyarrow as pa

        return pa.Table.from_pandas(obj, preserve_index=False)
    if hasattr(obj, "__arrow_c_stream__") or hasattr(obj, "__arrow_c_array__"):
        return obj
    raise TypeError(
        f"a breakdown must be a segmenter's output name or a table with user_id and segment columns, "
        f"not {type(obj).__name__}"
    )
