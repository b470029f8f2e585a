"""The one Python path to the engine.

Every public function ends here: :func:`metric` for one plugin (the body of each
metric function), :func:`run` for any set of plugin specs. It checks the run options,
turns ``events`` into Arrow data, calls ``_native.run``, shows progress, and warns
once about rows left out.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import json
import os
import sys
import warnings
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, Callable

from userops import _inputs, _native, _options
from userops.errors import ParameterError, UserOpsWarning

if TYPE_CHECKING:
    import pyarrow as pa

#: The keyword arguments of a metric function that are options of the run; every
#: other keyword argument is a plugin parameter of the same name.
RUN_OPTIONS = ("as_of", "columns", "tz", "threads", "progress")

#: Above this many rows known up front, ``progress=None`` shows a bar.
PROGRESS_ROWS = 5_000_000

def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if hasattr(value, "tolist"):  # numpy arrays
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not a JSON value")


def spec(name: str, params: Mapping[str, Any], *, output: str | None = None, breakdown: Any = None) -> dict[str, Any]:
    """A plugin spec for ``_native.run``: parameters as JSON, breakdown as Arrow data."""
    try:
        text = json.dumps(dict(params), default=_json_default, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise ParameterError(f"plugin `{name}`: parameters cannot be written as JSON: {e}") from None
    if breakdown is not None and not isinstance(breakdown, str):
        breakdown = _inputs.table_like(breakdown)
    return {"name": name, "params": text, "output": output or name, "breakdown": breakdown}


def metric(name: str, args: Mapping[str, Any]) -> pa.Table:
    """Runs plugin ``name`` over ``args["events"]`` and returns its table.

    ``args`` is the calling metric function's ``locals()`` (with any argument the
    function converted replaced): ``events`` and the :data:`RUN_OPTIONS` go to the run;
    every other argument is a plugin parameter of the same name, except a
    ``breakdown`` that is a table (a segmenter's output): that becomes the run's
    breakdown labels, while a string (``"channel"``) stays the plugin's parameter.
    """
    args = dict(args)
    events = args.pop("events")
    options = {k: args.pop(k) for k in RUN_OPTIONS if k in args}
    labels = args.get("breakdown")
    if labels is not None and not isinstance(labels, str):
        args["breakdown"] = None
    else:
        labels = None
    return run(events, [spec(name, args, breakdown=labels)], **options)[name]


def specs_of(plugins: Mapping[str, Mapping[str, Any] | None]) -> list[dict[str, Any]]:
    """Specs from ``analyze``'s ``{output: {"plugin": name, "breakdown": ..., **params}}``.

    A ``breakdown`` string that names another result of the same run is that
    segmenter's labels; any other string (``"channel"``) is the plugin's own
    ``breakdown`` parameter, as in the single-metric functions; a table is labels.
    """
    if not isinstance(plugins, Mapping) or not plugins:
        raise ParameterError("plugins must be a non-empty dict {plugin or output name: {parameter: value}}")
    out = []
    for output, params in plugins.items():
        params = dict(params or {})
        name = params.pop("plugin", output)
        breakdown = params.pop("breakdown", None)
        if isinstance(breakdown, str) and breakdown not in plugins:
            params["breakdown"], breakdown = breakdown, None
        out.append(spec(name, params, output=output, breakdown=breakdown))
    return out


def _inside(path: str, package: str) -> bool:
    return path.startswith(package + os.sep)


def _user_stacklevel() -> int:
    """The stacklevel of the first frame outside the userops package (for warnings)."""
    package = os.path.dirname(os.path.abspath(__file__))
    frame = sys._getframe(1)
    level = 1
    while frame is not None and _inside(os.path.abspath(frame.f_code.co_filename), package):
        frame = frame.f_back  # type: ignore[assignment]
        level += 1
    return level


def _warn_left_out(results: Mapping[str, pa.Table], columns: Mapping[str, str] | None) -> None:
    """One warning per run about rows with a null user id, timestamp or event."""
    if not results:
        return
    meta = next(iter(results.values())).schema.metadata or {}
    names = {role: role for role in _options.ROLES} | dict(columns or {})

    def count(key: str) -> int:
        return int(meta.get(f"userops.{key}".encode(), b"0"))

    left_out = [(count(f"null_{role}"), names[role]) for role in ("user_id", "ts")]
    parts = [f"{n:,} with a null `{col}`" for n, col in left_out if n]
    message = ""
    if parts:
        total = sum(n for n, _ in left_out)
        message = f"userops left out {total:,} row(s) of the input: " + " and ".join(parts) + "."
    null_event = count("null_event")
    if null_event:
        message += (
            f" {null_event:,} row(s) with a null `{names['event']}` were counted as activity matching no event name."
        )
    if message:
        warnings.warn(message.strip(), UserOpsWarning, stacklevel=_user_stacklevel())


def _tqdm() -> Any:
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm


@contextlib.contextmanager
def _progress(progress: Any, source: _inputs.Source) -> Iterator[Callable[[int, int], object] | None]:
    """The callable given to the engine: the caller's own, a tqdm bar's, or None."""
    if progress is False:
        yield None
        return
    if callable(progress) and not isinstance(progress, bool):
        yield progress
        return
    if progress is not None and progress is not True:
        raise ParameterError(f"progress must be True, False, None or a callable (rows, batches), not {progress!r}")
    total = source.rows()
    if progress is None and not source.from_files and (total is None or total <= PROGRESS_ROWS):
        yield None  # small in-memory input: no bar, and tqdm is not even imported
        return
    tqdm = _tqdm()
    if tqdm is None:
        if progress is True:
            warnings.warn(
                "progress=True needs tqdm (pip install 'userops[progress]'); running without a progress bar",
                UserOpsWarning,
                stacklevel=_user_stacklevel(),
            )
        yield None
        return
    bar = tqdm(total=total, unit=" rows", unit_scale=True, desc="userops", leave=False)
    files = source.file_rows() if source.from_files else None
    ends = list(itertools.accumulate(files)) if files and len(files) > 1 else None
    if ends:
        bar.set_postfix_str(f"files 0/{len(ends)}", refresh=False)

    def update(rows: int, batches: int) -> None:
        if ends:  # files whose rows are all done (the files are read in order)
            bar.set_postfix_str(f"files {bisect.bisect_right(ends, rows)}/{len(ends)}", refresh=False)
        bar.update(rows - bar.n)

    try:
        yield update
    finally:
        bar.close()


def run(
    events: Any,
    specs: list[dict[str, Any]],
    *,
    as_of: Any = None,
    columns: Mapping[str, str] | None = None,
    tz: str = "UTC",
    threads: int = 0,
    progress: Any = None,
) -> dict[str, pa.Table]:
    """Runs plugin ``specs`` over ``events`` in one pass: ``{output name: table}``."""
    columns = _options.columns_option(columns)
    tz = _options.tz_option(tz)
    as_of_us = _options.as_of_micros(as_of, tz)
    threads = _options.threads_option(threads)

    def needed() -> _inputs.Needed:
        # Breakdown tables are not needed to know the columns (and a reader would be consumed).
        light = [{**s, "breakdown": s["breakdown"] if isinstance(s["breakdown"], str) else None} for s in specs]
        found = _native.needed_columns(light, columns=columns)
        return {"required": found["required"], "optional": found["optional"]}

    source = _inputs.source(events, needed)
    with _progress(progress, source) as callback:
        results = _native.run(
            source.data, specs, columns=columns, tz=tz, as_of=as_of_us, threads=threads, progress=callback
        )
    _warn_left_out(results, columns)
    return results
