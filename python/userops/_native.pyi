# Hand-kept stub of the extension module built from crates/userops-python.
# Keep it in step with crates/userops-python/src/*.rs.

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypedDict

import pyarrow as pa

__version__: str
__all__ = [
    "ColumnError",
    "DataError",
    "InternalError",
    "ParameterError",
    "StateError",
    "UserOpsError",
    "__version__",
    "_test_panic",
    "day_end",
    "day_start",
    "finish",
    "merge",
    "needed_columns",
    "partial",
    "plugins",
    "registered_names",
    "run",
    "shop",
    "tz_name",
]

class UserOpsError(Exception):
    """Base class of every error raised by userops."""

class ColumnError(UserOpsError):
    """An input column is missing, of an unsupported type, or of the wrong key kind."""

class ParameterError(UserOpsError):
    """A plugin parameter or run option is wrong, or a plugin name is unknown."""

class DataError(UserOpsError):
    """The input data cannot be used as is (non-finite amounts, unreadable Arrow stream)."""

class StateError(UserOpsError):
    """Partial states that cannot be read or merged."""

class InternalError(UserOpsError):
    """A bug in userops; please report it with the message."""

class _PluginSpec(TypedDict, total=False):
    name: str  # required: a registered plugin name
    params: str | None  # JSON object of parameters; missing keys take defaults
    output: str | None  # the result's key (default: name)
    breakdown: str | Any | None  # a segmenter's output name in this run, or an Arrow table (user_id, segment)

class _ParamDoc(TypedDict):
    name: str
    doc: str

class _PluginInfo(TypedDict):
    name: str
    kind: str  # "metric" or "segmenter"
    crate: str
    description: str
    parameters: str  # JSON object of the defaults
    params: list[_ParamDoc]
    breakdown: bool

class _NeededColumns(TypedDict):
    required: list[str]
    optional: list[str]

def run(
    source: Any,
    plugins: Sequence[_PluginSpec | Mapping[str, Any]],
    *,
    columns: Mapping[str, str] | None = None,
    tz: str = "UTC",
    as_of: int | None = None,
    threads: int = 0,
    progress: Callable[[int, int], object] | None = None,
) -> dict[str, pa.Table]:
    """Runs `plugins` over the Arrow `source` (`__arrow_c_stream__` / `__arrow_c_array__`)
    in one pass. `as_of` is microseconds UTC; `progress(rows, batches)` is called from
    worker threads at most ~10 times a second."""

def needed_columns(
    plugins: Sequence[_PluginSpec | Mapping[str, Any]], *, columns: Mapping[str, str] | None = None
) -> _NeededColumns:
    """The caller's names of the columns a run of `plugins` reads."""

def partial(
    source: Any,
    plugins: Sequence[_PluginSpec | Mapping[str, Any]],
    *,
    columns: Mapping[str, str] | None = None,
    tz: str = "UTC",
    as_of: int | None = None,
    threads: int = 0,
    progress: Callable[[int, int], object] | None = None,
) -> bytes:
    """Scans the Arrow `source` into one partial state (bytes); specs take no breakdown."""

def merge(states: Sequence[bytes]) -> bytes:
    """Merges partial states of one analysis (streaming balanced tree); StateError if they differ."""

def finish(state: bytes, *, breakdowns: Mapping[str, str | Any] | None = None) -> dict[str, pa.Table]:
    """Finishes a partial state; `breakdowns` maps a result name to a segmenter output or a table."""

def plugins() -> list[_PluginInfo]:
    """Every registered plugin."""

def registered_names() -> list[str]:
    """The sorted names of the registered plugins."""

def shop(users: int = 50000, seed: int = 0, activity: float = 1.0) -> pa.Table:
    """The demo shop's event log."""

def day_start(days_since_epoch: int, tz: str) -> int:
    """The first microsecond (UTC) of a local day."""

def day_end(days_since_epoch: int, tz: str) -> int:
    """The last microsecond (UTC) of a local day."""

def tz_name(tz: str) -> str:
    """The canonical name of a time zone; ParameterError if unknown."""

def _test_panic(message: str) -> None:
    """Panics in the Rust core (for tests): raises InternalError."""
