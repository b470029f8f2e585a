"""The ``userops`` command line.

    userops demo [--users N] [--seed S] [--out report.html]
        the demo shop: the report written to report.html, headline numbers printed
    userops report EVENTS... --out report.html [--columns user_id=uid,ts=time] [--as-of DATE] [--tz ZONE]
        the report of your own events: Parquet or CSV files, folders of them, or globs

Errors (a missing file, a missing column, a bad option) are one line on stderr and
exit status 2, without a traceback. Long scans show a progress bar (tqdm) on stderr.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pyarrow as pa

import userops
from userops import _display


def format_table(table: pa.Table, *, title: str | None = None) -> str:
    """A pyarrow table as aligned plain text: shares (floats within [-1, 1]) with 4
    decimals, other floats with 2, thousands separated."""
    header = table.column_names
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]

    def decimals(values: list[object]) -> int:
        floats = [abs(v) for v in values if isinstance(v, float)]
        return 4 if floats and max(floats) <= 1 else 2

    def cell(value: object, places: int) -> str:
        if value is None:
            return "null"
        if isinstance(value, float):
            return f"{value:,.{places}f}"
        if isinstance(value, int) and not isinstance(value, bool):
            return f"{value:,}"
        return str(value)

    places = [decimals(c) for c in columns]
    rows = [[cell(c[r], p) for c, p in zip(columns, places)] for r in range(table.num_rows)]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    numeric = [pa.types.is_integer(t) or pa.types.is_floating(t) for t in table.schema.types]

    def line(values: Sequence[str]) -> str:
        return "  ".join(v.rjust(w) if n else v.ljust(w) for v, w, n in zip(values, widths, numeric)).rstrip()

    out = [] if title is None else [title, ""]
    out.append(line(header))
    out.append("  ".join("-" * w for w in widths))
    out.extend(line(r) for r in rows)
    return "\n".join(out)

class CliError(Exception):
    """A problem with the command line's input, reported as one line."""


#: File name endings read as Parquet and as CSV.
PARQUET_SUFFIXES = (".parquet", ".parq", ".pq")
CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".tsv")

ROLES = ("user_id", "ts", "event", "amount", "channel", "referrer_id")


def _kind(path: str) -> str | None:
    lowered = path.lower()
    if lowered.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if lowered.endswith(CSV_SUFFIXES):
        return "csv"
    return None


def expand_inputs(items: Sequence[str]) -> tuple[str, list[str]]:
    """The files named by ``items`` (files, folders searched recursively, globs), all
    Parquet or all CSV: ``(kind, sorted files)``."""
    files: list[str] = []
    for item in items:
        if glob.has_magic(item):
            matched = sorted(p for p in glob.glob(item, recursive=True) if os.path.isfile(p))
            if not matched:
                raise CliError(f"no file matches {item!r}")
            files.extend(matched)
        elif os.path.isdir(item):
            found = sorted(
                os.path.join(root, name)
                for root, _dirs, names in os.walk(item)
                for name in names
                if _kind(name) and not name.startswith((".", "_"))
            )
            if not found:
                raise CliError(f"no Parquet or CSV file in the folder {item!r}")
            files.extend(found)
        elif os.path.isfile(item):
            files.append(item)
        else:
            raise CliError(f"no such file or folder: {item!r}")
    kinds = {_kind(f) for f in files}
    if None in kinds:
        odd = next(f for f in files if _kind(f) is None)
        raise CliError(f"{odd!r} is neither Parquet (.parquet) nor CSV (.csv, .csv.gz)")
    if len(kinds) > 1:
        raise CliError("give either Parquet or CSV files, not both in one run")
    return kinds.pop(), files  # type: ignore[return-value]


def parse_columns(values: Sequence[str] | None) -> dict[str, str] | None:
    """``["user_id=uid,ts=time", "event=name"]`` as ``{"user_id": "uid", ...}``."""
    if not values:
        return None
    out: dict[str, str] = {}
    for value in values:
        for part in value.split(","):
            part = part.strip()
            if not part:
                continue
            role, sep, name = part.partition("=")
            role, name = role.strip(), name.strip()
            if not sep or not role or not name:
                raise CliError(f"--columns takes role=name pairs such as user_id=uid,ts=time; got {part!r}")
            if role not in ROLES:
                raise CliError(f"--columns: unknown role {role!r}; roles: {', '.join(ROLES)}")
            out[role] = name
    return out or None


def _parse_ts(array: pa.Array, column: str, path: str) -> pa.Array:
    """Strings as timestamp[us, UTC]: ISO 8601 with an offset, or without (a UTC
    instant); fractions of a second up to nanoseconds (truncated to microseconds)."""
    import pyarrow.compute as pc

    utc = pa.timestamp("us", tz="UTC")

    def parse(values: pa.Array, zoned: bool) -> pa.Array:
        error: Exception | None = None
        for unit in ("us", "ns"):
            try:
                parsed = pc.cast(values, pa.timestamp(unit, tz="UTC") if zoned else pa.timestamp(unit))
                return pc.cast(parsed, utc, safe=False)
            except pa.ArrowInvalid as e:
                error = e
        assert error is not None
        raise error

    for zoned in (True, False):
        try:
            return parse(array, zoned)
        except pa.ArrowInvalid:
            pass
    has_zone = pc.fill_null(pc.match_substring_regex(array, r"(Z|[+-]\d\d:?\d\d)$"), False)
    none = pa.scalar(None, pa.string())
    try:
        with_zone = parse(pc.if_else(has_zone, array, none), True)
        without = parse(pc.if_else(has_zone, none, array), False)
    except pa.ArrowInvalid as e:
        bad = str(e).split("'")[1] if "'" in str(e) else "a value"
        raise CliError(
            f"{path}: column `{column}`: cannot read {bad!r} as a time; expected ISO 8601 such as "
            "2024-01-31, 2024-01-31 12:00:00 (UTC) or 2024-01-31T12:00:00+08:00"
        ) from None
    return pc.if_else(has_zone, with_zone, without)


class CsvEvents:
    """CSV files as one Arrow stream (read block by block, so memory stays small), the
    ``ts`` column parsed as timestamps. An error inside the stream is kept in
    ``error`` so the command reports it, not the engine's wrapping of it."""

    def __init__(self, files: Sequence[str], columns: dict[str, str] | None) -> None:
        import pyarrow.csv as pv

        self.files = list(files)
        self.names = {role: (columns or {}).get(role, role) for role in ROLES}
        self.error: Exception | None = None
        self.rows_done = 0
        first = pv.open_csv(self.files[0], parse_options=self._parse_options(self.files[0]))
        inferred = first.schema
        self.header = inferred.names
        user = self.names["user_id"]
        key = pa.int64()
        if user in inferred.names and not pa.types.is_integer(inferred.field(user).type):
            key = pa.string()
        n = self.names
        self.types = {n["user_id"]: key, n["referrer_id"]: key, n["ts"]: pa.string(), n["event"]: pa.string(),
                      n["channel"]: pa.string(), n["amount"]: pa.float64()}
        fields = []
        for field in inferred:
            kind = self.types.get(field.name, field.type)
            if pa.types.is_null(kind):
                kind = pa.string()
            fields.append(pa.field(field.name, pa.timestamp("us", tz="UTC") if field.name == n["ts"] else kind))
        self.schema = pa.schema(fields)

    @staticmethod
    def _parse_options(path: str) -> Any:
        import pyarrow.csv as pv

        return pv.ParseOptions(delimiter="\t" if path.lower().endswith(".tsv") else ",")

    def _batches(self) -> Iterator[pa.RecordBatch]:
        import pyarrow.csv as pv

        convert = pv.ConvertOptions(
            column_types={k: v for k, v in self.types.items() if k in self.header},
            strings_can_be_null=True,
        )
        try:
            for path in self.files:
                reader = pv.open_csv(path, parse_options=self._parse_options(path), convert_options=convert)
                if reader.schema.names != self.header:
                    raise CliError(
                        f"{path}: its columns ({', '.join(reader.schema.names)}) differ from those of "
                        f"{self.files[0]} ({', '.join(self.header)})"
                    )
                for batch in reader:
                    arrays = []
                    for field, array in zip(self.schema, batch.columns):
                        if field.name == self.names["ts"]:
                            array = _parse_ts(array, field.name, path)
                        elif array.type != field.type:
                            array = array.cast(field.type)
                        arrays.append(array)
                    yield pa.RecordBatch.from_arrays(arrays, schema=self.schema)
        except (CliError, pa.ArrowException, OSError) as e:
            self.error = e
            raise

    def reader(self) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(self.schema, self._batches())


def _progress(total: int | None) -> tuple[Callable[[int, int], object] | bool, Callable[[], None]]:
    """A tqdm bar on stderr shown after half a second of scanning (so short scans show
    nothing): the engine's progress callback and a closer. Without tqdm: no bar."""
    try:
        from tqdm import tqdm
    except ImportError:
        return False, lambda: None
    bar = tqdm(total=total, unit=" rows", unit_scale=True, desc="scanning", delay=0.5, leave=False,
               file=sys.stderr, dynamic_ncols=True)

    def update(rows: int, batches: int) -> None:
        bar.update(rows - bar.n)

    return update, bar.close


def _headline_text(result: Any) -> str:
    return _display.to_text(result.headline_table(), max_rows=50, title="Headline numbers")


def report_command(args: argparse.Namespace) -> int:
    """``userops report``: the report of the given event files."""
    columns = parse_columns(args.columns)
    kind, files = expand_inputs(args.events)
    spend = _read_table(args.spend) if args.spend else None
    csv: CsvEvents | None = None
    if kind == "parquet":
        import pyarrow.dataset as ds

        try:
            total: int | None = ds.dataset(files, format="parquet").count_rows()
        except (pa.ArrowException, OSError) as e:
            raise CliError(f"cannot read the Parquet files: {e}") from None
        events: Any = files
    else:
        csv = CsvEvents(files, columns)
        total = None
        events = csv.reader()
    steps = [s.strip() for s in args.funnel.split(",") if s.strip()]
    started = time.perf_counter()
    callback, close = _progress(total)
    try:
        result = userops.report(
            events, args.out, title=args.title, period=args.period, funnel_steps=steps, spend=spend,
            as_of=args.as_of, columns=columns, tz=args.tz, progress=callback,
        )
    except userops.UserOpsError:
        if csv is not None and csv.error is not None:
            raise csv.error from None
        raise
    finally:
        close()
    rows = len(files)
    print(_headline_text(result))
    reasons: dict[str, list[str]] = {}
    for name, why in result.skipped.items():
        reasons.setdefault(why, []).append(name)
    for why, names in reasons.items():
        print(f"skipped ({why}): {', '.join(names)}")
    print(f"\nreport of {rows:,} file{'s' if rows != 1 else ''} written to {result.path} "
          f"in {time.perf_counter() - started:.1f} s")
    return 0


def _read_table(path: str) -> pa.Table:
    """A small table (the spend) from a Parquet or CSV file."""
    if not os.path.isfile(path):
        raise CliError(f"no such file: {path!r}")
    if _kind(path) == "parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path)
    import pyarrow.csv as pv

    return pv.read_csv(path)


def demo(users: int, seed: int, out: str | None = "report.html") -> None:
    """The demo shop: the report written to ``out``, its headline numbers printed, then
    the RFM segments and the revenue concentration."""
    events = userops.datasets.shop(users, seed=seed)
    print(f"userops {userops.__version__} demo: the synthetic shop, {users:,} users, {events.num_rows:,} events\n")
    started = time.perf_counter()
    result = userops.report(events, out, title=f"Demo shop: {users:,} users")
    print(_headline_text(result))
    print()
    print(_display.to_text(result.tables["rfm_segments"], title="RFM segments (用户价值分层)"))
    print()
    print(_display.to_text(result.tables["concentration"], title="Revenue concentration (top 20% of paying users)"))
    if out:
        print(f"\nThe whole report ({time.perf_counter() - started:.1f} s, one pass over the events): {out}")
        print("Open it in a browser; it needs no network.")


def _one_line(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    if isinstance(error, OSError) and error.filename and error.strerror:
        text = f"{error.strerror}: {error.filename}"
    first = " ".join(text.split("\n")[0].split())
    # The engine's hint names the Python option; on the command line it is --columns.
    return re.sub(r'columns=\{"(\w+)": "your_name"\}', r"--columns \1=your_name", first)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``userops`` script."""
    parser = argparse.ArgumentParser(prog="userops", description="User-operations analytics over Arrow data.")
    parser.add_argument("--version", action="version", version=f"userops {userops.__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    p_demo = commands.add_parser("demo", help="the report of the demo shop, headline numbers in the terminal")
    p_demo.add_argument("--users", type=int, default=50_000, help="users in the demo shop (default 50000)")
    p_demo.add_argument("--seed", type=int, default=0, help="random seed of the demo shop (default 0)")
    p_demo.add_argument("--out", default="report.html", help="where to write the report (default report.html)")
    p_report = commands.add_parser(
        "report",
        help="the report of your events: Parquet or CSV files, folders or globs",
        description="Writes one self-contained HTML report of every metric, computed in one pass over the events.",
    )
    p_report.add_argument("events", nargs="+", metavar="EVENTS",
                          help="Parquet or CSV files, folders of them, or globs ('data/*.parquet')")
    p_report.add_argument("--out", "-o", default="report.html", help="the HTML file to write (default report.html)")
    p_report.add_argument("--columns", action="append", metavar="ROLE=NAME,...",
                          help="your column names, e.g. user_id=uid,ts=time (roles: " + ", ".join(ROLES) + ")")
    p_report.add_argument("--as-of", dest="as_of", metavar="DATE",
                          help="the end of data D (a date means the end of that day); later events are ignored")
    p_report.add_argument("--tz", default="UTC", metavar="ZONE",
                          help="the time zone of days and months (default UTC; e.g. Asia/Shanghai, +08:00). "
                               "CSV times without an offset are UTC instants")
    p_report.add_argument("--period", default="month", choices=("day", "week", "month"),
                          help="cohort and period length (default month)")
    p_report.add_argument("--funnel", default="signup,activate,order", metavar="STEP,STEP,...",
                          help="the funnel's event names (default signup,activate,order)")
    p_report.add_argument("--spend", metavar="FILE", help="channel spend for CAC: channel, period_start, spend")
    p_report.add_argument("--title", default="User operations report", help="the report's title")
    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            demo(args.users, args.seed, args.out)
        elif args.command == "report":
            return report_command(args)
    except KeyboardInterrupt:
        print("userops: interrupted", file=sys.stderr)
        return 130
    except (CliError, userops.UserOpsError, OSError, pa.ArrowException) as e:
        print(f"userops: error: {_one_line(e)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
