#!/usr/bin/env python3
"""userops vs DuckDB vs Polars on the same Arrow event log (what ``make bench`` runs).

For each size, the demo shop's event log (``userops.datasets.shop(users=events // 20)``)
is generated once and cached as Parquet in ``bench/out/``. For each registered case
(every module of ``bench/cases/``), each engine runs in its own worker process,
which loads the Parquet file into one in-memory Arrow table, hands it to the engine,
runs the case once as a warm-up and then ``--repeat`` times (best time kept), and
reports its peak RSS. The parent checks that the three results agree (same rows;
floats within a relative 1e-9), prints a table and writes ``bench/out/results.json``.

Usage:
    python bench/run.py                        # sizes 1M,10M, every case
    python bench/run.py --quick                # 100k events
    python bench/run.py --sizes 1M --cases rfm
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import pkgutil
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
ENGINES = ("userops", "duckdb", "polars")
REL_TOL = 1e-9

sys.path.insert(0, str(HERE))


# ----------------------------------------------------------------------------- helpers


def parse_size(text: str) -> int:
    """``100k``, ``1M``, ``2.5M``, ``1000000`` -> events."""
    text = text.strip().lower().replace("_", "")
    scale = {"k": 1_000, "m": 1_000_000, "g": 1_000_000_000, "b": 1_000_000_000}
    if text and text[-1] in scale:
        return int(float(text[:-1]) * scale[text[-1]])
    return int(text)


def size_label(events: int) -> str:
    for unit, scale in (("B", 1_000_000_000), ("M", 1_000_000), ("k", 1_000)):
        if events >= scale and events % (scale // 10 or 1) == 0:
            value = events / scale
            return f"{value:g}{unit}"
    return str(events)


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def discover() -> list[tuple[str, Any]]:
    """``(module name, case)`` for every case of every module in ``bench/cases``."""
    import cases as package

    found: list[tuple[str, Any]] = []
    names: set[str] = set()
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"cases.{info.name}")
        for case in getattr(module, "CASES", []):
            if case.name in names:
                raise SystemExit(f"bench: two cases are named {case.name!r} (the second in cases/{info.name}.py)")
            names.add(case.name)
            found.append((info.name, case))
    return found


def rss_now_kb() -> int:
    """The current resident set size (VmRSS), in KiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def hwm_kb() -> int:
    """The peak resident set size since the last reset (VmHWM), in KiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def reset_hwm() -> bool:
    """Resets VmHWM to the current RSS (Linux ``clear_refs`` 5); False if refused."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def maxrss_kb() -> int:
    """``getrusage(RUSAGE_SELF).ru_maxrss`` in KiB (macOS reports bytes)."""
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value // 1024 if sys.platform == "darwin" else value


# ------------------------------------------------------------------------------ worker


def worker(spec: dict[str, Any]) -> dict[str, Any]:
    """Runs one case on one engine; returns timings and memory; writes the result."""
    engine, threads = spec["engine"], spec["threads"]
    case = next(c for _, c in discover() if c.name == spec["case"])

    import pyarrow as pa
    import pyarrow.parquet as pq

    # Import the engine before the baseline, so its libraries count there too.
    if engine == "userops":
        import userops  # noqa: F401
    elif engine == "duckdb":
        import duckdb
    elif engine == "polars":
        import polars as pl

    t = time.perf_counter()
    table = pq.read_table(spec["data"])
    load_s = time.perf_counter() - t

    t = time.perf_counter()
    if engine == "userops":
        run = lambda: case.userops(table)  # noqa: E731
        threads_used = f"threads=0 (one per core: {threads})"
    elif engine == "duckdb":
        con = duckdb.connect()
        con.execute(f"SET threads = {threads}").fetchall()
        con.register("events", table)
        run = lambda: case.duckdb(con, table)  # noqa: E731
        setting = con.execute("SELECT current_setting('threads')").fetchall()[0][0]
        threads_used = f"SET threads = {setting}"
    else:
        df = pl.from_arrow(table)
        run = lambda: case.polars(df)  # noqa: E731
        threads_used = f"POLARS_MAX_THREADS={os.environ.get('POLARS_MAX_THREADS')}, pool {pl.thread_pool_size()}"
    prepare_s = time.perf_counter() - t

    baseline_kb = rss_now_kb()
    hwm_reset = reset_hwm()

    result = run()  # warm-up
    times, cpu = [], []
    for _ in range(spec["repeat"]):
        del result
        c, t = time.process_time(), time.perf_counter()
        result = run()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)  # user + system, all threads

    compute_peak_kb = hwm_kb() if hwm_reset else maxrss_kb()
    peak_kb = max(maxrss_kb(), compute_peak_kb)

    if engine == "polars" and hasattr(result, "to_arrow"):
        result = result.to_arrow()
    if not isinstance(result, pa.Table):
        if hasattr(result, "fetch_arrow_table"):
            result = result.fetch_arrow_table()
        elif isinstance(result, list):
            rows = list(result)
            result = pa.table({f"c{i}": [r[i] for r in rows] for i in range(len(rows[0]))}) if rows else pa.table({})
    normalized = case.normalize(result)
    with pa.OSFile(spec["result"], "wb") as sink, pa.ipc.new_file(sink, normalized.schema) as writer:
        writer.write_table(normalized)

    return {
        "rows": table.num_rows,
        "load_s": load_s,
        "prepare_s": prepare_s,
        "times_s": times,
        "best_s": min(times),
        "cpu_s": cpu,
        "best_cpu_s": min(cpu),
        "result_rows": normalized.num_rows,
        "threads": threads_used,
        "baseline_rss_mb": baseline_kb / 1024,
        "peak_rss_mb": peak_kb / 1024,
        "compute_peak_rss_mb": compute_peak_kb / 1024,
        "above_baseline_mb": max(0, compute_peak_kb - baseline_kb) / 1024,
        "peak_measure": "VmHWM reset after loading" if hwm_reset else "ru_maxrss",
    }


# ------------------------------------------------------------------------------ parent


def generate(events: int) -> Path:
    """The cached Parquet file of the shop with ``events // 20`` users."""
    OUT.mkdir(parents=True, exist_ok=True)
    users = max(1, events // 20)
    path = OUT / f"shop_{users}u.parquet"
    if path.exists():
        return path
    print(f"generating userops.datasets.shop(users={users:,}) -> {path.relative_to(HERE.parent)}", flush=True)
    partial = f"{path}.{os.getpid()}.tmp"  # concurrent runs never share a partial file
    code = (
        "import pyarrow.parquet as pq, userops; "
        f"t = userops.datasets.shop(users={users}, seed=0); "
        f"pq.write_table(t, {partial!r}, row_group_size=1 << 20); print(f'{{t.num_rows:,}} events')"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    os.replace(partial, path)
    return path


def run_worker(spec: dict[str, Any], threads: int) -> dict[str, Any]:
    env = dict(os.environ)
    env["POLARS_MAX_THREADS"] = str(threads)
    env["RAYON_NUM_THREADS"] = str(threads)
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)],
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        return {"error": (proc.stderr.strip().splitlines() or ["(no output)"])[-1], "stderr": proc.stderr[-4000:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def compare(a_path: str, b_path: str) -> str | None:
    """None when the two normalized results agree, else what differs."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    a = pa.ipc.open_file(a_path).read_all()
    b = pa.ipc.open_file(b_path).read_all()
    if a.num_columns != b.num_columns:
        return f"{a.num_columns} columns vs {b.num_columns}"
    if a.num_rows != b.num_rows:
        return f"{a.num_rows} rows vs {b.num_rows}"
    for i, name in enumerate(a.column_names):
        x, y = a.column(i), b.column(i)
        if pa.types.is_floating(x.type) and pa.types.is_floating(y.type):
            xv = x.to_numpy(zero_copy_only=False).astype("float64")
            yv = y.to_numpy(zero_copy_only=False).astype("float64")
            xn, yn = np.isnan(xv), np.isnan(yv)  # nulls become NaN
            ok = (xn == yn) & (xn | (xv == yv) | (np.abs(xv - yv) <= REL_TOL * np.maximum(np.abs(xv), np.abs(yv))))
        else:
            if x.type != y.type:
                try:
                    y = y.cast(x.type)
                except pa.ArrowInvalid:
                    return f"column {name!r}: type {x.type} vs {y.type}"
            eq = pc.equal(x, y)
            both_null = pc.and_(pc.is_null(x), pc.is_null(y))
            ok = pc.or_(pc.fill_null(eq, False), both_null).to_numpy(zero_copy_only=False)
        bad = np.flatnonzero(~ok)
        if bad.size:
            j = int(bad[0])
            return (
                f"column {name!r}: {bad.size} of {a.num_rows} rows differ, first at row {j}: "
                f"{x[j].as_py()!r} vs {y[j].as_py()!r}"
            )
    return None


def fmt_s(entry: dict[str, Any] | None) -> str:
    if not entry or "best_s" not in entry:
        return "error"
    return f"{entry['best_s']:.3f} ({entry['best_cpu_s']:.2f})"


def fmt_ratio(num: dict[str, Any] | None, den: dict[str, Any] | None) -> str:
    if not num or not den or "best_s" not in num or "best_s" not in den or den["best_s"] == 0:
        return "-"
    return f"{num['best_s'] / den['best_s']:.2f}x"


def fmt_rss(entry: dict[str, Any] | None) -> str:
    if not entry or "peak_rss_mb" not in entry:
        return "-"
    return f"{entry['peak_rss_mb']:.0f} (+{entry['above_baseline_mb']:.0f})"


def print_table(rows: list[dict[str, Any]]) -> None:
    header = [
        "case",
        "size",
        "userops s (cpu)",
        "duckdb s (cpu)",
        "polars s (cpu)",
        "duckdb/userops",
        "polars/userops",
        "RSS MB userops",
        "RSS MB duckdb",
        "RSS MB polars",
        "agree",
    ]
    lines = []
    for r in rows:
        e = r["engines"]
        lines.append(
            [
                r["case"],
                r["size"],
                fmt_s(e.get("userops")),
                fmt_s(e.get("duckdb")),
                fmt_s(e.get("polars")),
                fmt_ratio(e.get("duckdb"), e.get("userops")),
                fmt_ratio(e.get("polars"), e.get("userops")),
                fmt_rss(e.get("userops")),
                fmt_rss(e.get("duckdb")),
                fmt_rss(e.get("polars")),
                "yes" if r["agree"] else "NO",
            ]
        )
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines)]
    fmt = lambda cells: "  ".join(str(c).rjust(w) if i > 1 else str(c).ljust(w) for i, (c, w) in enumerate(zip(cells, widths)))  # noqa: E731
    print(fmt(header))
    print("  ".join("-" * w for w in widths))
    for line in lines:
        print(fmt(line))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1M,10M", help="comma-separated event counts, e.g. 100k,1M,10M (default 1M,10M)")
    parser.add_argument("--quick", action="store_true", help="one small size: 100k events")
    parser.add_argument(
        "--cases", default="", help="comma-separated case names, or module names for all their cases (default: all)"
    )
    parser.add_argument("--engines", default=",".join(ENGINES), help="comma-separated engines (default: all three)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs after one warm-up; the best is kept (default 3)")
    parser.add_argument("--threads", type=int, default=cores(), help="threads for every engine (default: all cores)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0

    sizes = [100_000] if args.quick else [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    wanted = {w.strip() for w in args.cases.split(",") if w.strip()}
    engines = [e.strip() for e in args.engines.split(",") if e.strip()]
    unknown = set(engines) - set(ENGINES)
    if unknown:
        parser.error(f"unknown engine(s) {sorted(unknown)}; engines: {', '.join(ENGINES)}")
    found = discover()
    # A word names a case; a word that is no case's name names a module (all its cases).
    modules = wanted - {c.name for _, c in found}
    selected = [(m, c) for m, c in found if not wanted or c.name in wanted or m in modules]
    if not selected:
        parser.error(f"no case matches --cases {args.cases!r}; cases: {', '.join(c.name for _, c in found)}")

    import duckdb
    import polars
    import pyarrow

    import userops

    versions = {
        "userops": userops.__version__,
        "duckdb": duckdb.__version__,
        "polars": polars.__version__,
        "pyarrow": pyarrow.__version__,
        "python": platform.python_version(),
    }
    print(
        f"userops bench: {len(selected)} case(s) x {len(sizes)} size(s) x {len(engines)} engine(s); "
        f"best of {args.repeat} after 1 warm-up; every engine on {args.threads} thread(s) "
        f"(machine: {cores()} core(s) available, {platform.machine()})"
    )
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()), flush=True)

    tmp = OUT / "tmp" / str(os.getpid())  # this run's normalized results, removed at the end
    tmp.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for events in sizes:
        data = generate(events)
        label = size_label(events)
        for module, case in selected:
            entry: dict[str, Any] = {"case": case.name, "module": module, "size": label, "target_events": events, "engines": {}}
            for engine in engines:
                result = str(tmp / f"{case.name}_{label}_{engine}.arrow")
                spec = {
                    "engine": engine,
                    "case": case.name,
                    "data": str(data),
                    "result": result,
                    "repeat": args.repeat,
                    "threads": args.threads,
                }
                out = run_worker(spec, args.threads)
                out["result_file"] = result
                entry["engines"][engine] = out
                status = f"{out['best_s']:.3f} s" if "best_s" in out else f"ERROR: {out['error']}"
                print(f"  {case.name:<16} {label:>5} {engine:<8} {status}", flush=True)
            entry["rows"] = next((o["rows"] for o in entry["engines"].values() if "rows" in o), None)
            mismatches = {}
            ok_engines = [e for e in engines if "best_s" in entry["engines"][e]]
            for other in ok_engines[1:]:
                diff = compare(entry["engines"][ok_engines[0]]["result_file"], entry["engines"][other]["result_file"])
                if diff:
                    mismatches[f"{ok_engines[0]} vs {other}"] = diff
                    print(f"  MISMATCH {case.name} {label} {ok_engines[0]} vs {other}: {diff}", flush=True)
            entry["agree"] = not mismatches and len(ok_engines) == len(engines)
            entry["mismatches"] = mismatches
            rows.append(entry)

    shutil.rmtree(tmp, ignore_errors=True)
    for entry in rows:
        for out in entry["engines"].values():
            out.pop("result_file", None)

    print()
    print_table(rows)
    print()
    print(
        "times: wall seconds, best of the timed runs, input already in memory as Arrow (Parquet load not timed; "
        "polars.from_arrow timed separately as prepare_s in results.json); (cpu) = the least CPU seconds "
        "(user + system, all threads) of a timed run. Ratios are of wall times."
    )
    print(
        "RSS: peak resident MB of each engine's own process (ru_maxrss, includes the loaded data); "
        "(+N) = peak while computing above the RSS once the data was loaded."
    )
    print(f"threads: userops threads=0 (one per core), duckdb SET threads={args.threads}, POLARS_MAX_THREADS={args.threads}")

    report = {
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {"cores": cores(), "platform": platform.platform(), "threads_per_engine": args.threads},
        "versions": versions,
        "repeat": args.repeat,
        "results": rows,
    }
    path = OUT / "results.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"results: {path.relative_to(HERE.parent)}")
    return 0 if all(r["agree"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
