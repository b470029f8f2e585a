#!/usr/bin/env python3
"""userops beyond memory: the full analysis over Parquet files of 50M-200M+ events, and
the merge of many partial states (what ``make bench-scale`` runs).

Data. The demo shop (``userops.datasets.shop``) with ``--activity`` (default 1.75:
about 33 events per user, so 200M events are about 6M users, the shape the issue
names) generated in chunks of ``--chunk-users`` users: chunk ``i`` is
``shop(chunk_users, seed=i + 1, activity=activity)`` with ``user_id`` and
``referrer_id`` shifted by ``i * chunk_users``, so the chunks hold disjoint users, and
is written to one Parquet file. The chunks are generated once and cached in
``bench/out/scale/activity-<a>/`` (gitignored); a size of N events reads the first
chunk files whose rows add up to at least N.

Full analysis. For each size, a fresh process runs ``userops.analyze(files, plugins)``
with every registered plugin (or ``--plugins``) in one pass straight from the files, on
all cores (``--threads 0``), and reports wall time, events per second and its peak RSS
(``ru_maxrss``). The parent watches the child's RSS and stops it above ``--max-rss``
(default 12 GiB, so a plugin with a large state cannot take the machine down). The
slope of time over events (least squares over the sizes) estimates 1B events.

Per plugin. ``--per-plugin 50M`` runs each plugin alone at that size and reports its
time and peak RSS: which plugin's state drives the memory.

Merge. ``--merge 1000x100k`` merges 1,000 partial states of 100k users each (users
drawn from 10 blocks of 100k ids, so 1M distinct users; 20 distinct states made by
``userops.partial`` from different seeds, cycled) with ``userops.merge`` and reports
the time, then the time of ``userops.finish`` on the result.

Usage:
    python bench/scale.py --events 50M,100M,200M
    python bench/scale.py --events 10M --per-plugin 10M
    python bench/scale.py --events none --merge 1000x100k --merge-plugins rfm
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
GIB = 1 << 30


def parse_size(text: str) -> int:
    """``100k``, ``50M``, ``1B`` / ``1G``, ``12G`` (bytes for --max-rss) -> a number."""
    text = text.strip().lower().replace("_", "")
    scale = {"k": 1_000, "m": 1_000_000, "g": 1_000_000_000, "b": 1_000_000_000}
    if text and text[-1] in scale:
        return int(float(text[:-1]) * scale[text[-1]])
    return int(text)


def parse_bytes(text: str) -> int:
    """``12G``, ``512M``, ``4096k`` (binary units) or a number of bytes."""
    text = text.strip().lower().rstrip("ib")
    scale = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    if text and text[-1] in scale:
        return int(float(text[:-1]) * scale[text[-1]])
    return int(text)


def label(n: int) -> str:
    for unit, scale in (("B", 10**9), ("M", 10**6), ("k", 10**3)):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return str(n)


def maxrss_bytes() -> int:
    value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return value if sys.platform == "darwin" else value * 1024


def rss_of(pid: int) -> int:
    """The current RSS of process ``pid`` in bytes (0 once it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# ----------------------------------------------------------------------------- data


def fingerprint(activity: float) -> dict[str, Any]:
    """What the cached chunks depend on: the generator's output for a small case."""
    import userops

    small = userops.datasets.shop(500, seed=1, activity=activity)
    return {"version": userops.__version__, "rows_500": small.num_rows, "ts_sum": int(small["ts"].cast("int64").to_numpy().sum())}


def make_chunk(index: int, chunk_users: int, activity: float, path: Path) -> dict[str, Any]:
    """Chunk ``index``: ``shop(chunk_users, seed=index + 1, activity)`` on disjoint user ids."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    import userops

    table = userops.datasets.shop(chunk_users, seed=index + 1, activity=activity)
    offset = index * chunk_users
    for name in ("user_id", "referrer_id"):
        i = table.schema.get_field_index(name)
        table = table.set_column(i, table.schema.field(i), pc.add(table[name], offset))
    tmp = path.with_suffix(".tmp")
    pq.write_table(table, tmp, row_group_size=1 << 20, compression="snappy")
    tmp.rename(path)
    return {"file": path.name, "rows": table.num_rows, "users": chunk_users}


def ensure_chunks(root: Path, chunk_users: int, activity: float, events: int) -> list[dict[str, Any]]:
    """The cached chunks (generated as needed) whose rows add up to at least ``events``."""
    root.mkdir(parents=True, exist_ok=True)
    manifest_path = root / "manifest.json"
    expected = {"chunk_users": chunk_users, "activity": activity, "fingerprint": fingerprint(activity)}
    manifest: dict[str, Any] = {}
    if manifest_path.exists():
        manifest = json.loads(manifest_path.read_text())
    if {k: manifest.get(k) for k in expected} != expected:
        for old in root.glob("part-*.parquet"):
            old.unlink()
        manifest = {**expected, "chunks": []}
    chunks: list[dict[str, Any]] = manifest["chunks"]
    # Estimate the chunks still needed from the first one (about 20 events per user at activity 1).
    per_chunk = chunks[0]["rows"] if chunks else int(chunk_users * 19 * activity)
    have = sum(c["rows"] for c in chunks)
    if have < events:
        todo = list(range(len(chunks), len(chunks) + -(-(events - have) // per_chunk) + 1))
        started = time.perf_counter()
        print(f"generating {len(todo)} chunk(s) of {label(chunk_users)} users into {root} ...", flush=True)
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(2, os.cpu_count() or 1))) as pool:
            made = list(pool.map(lambda i: make_chunk(i, chunk_users, activity, root / f"part-{i:05d}.parquet"), todo))
        chunks.extend(made)
        manifest["chunks"] = chunks
        manifest_path.write_text(json.dumps(manifest, indent=1))
        print(f"  done in {time.perf_counter() - started:.0f} s", flush=True)
    picked, total = [], 0
    for c in chunks:
        if total >= events:
            break
        picked.append(c)
        total += c["rows"]
    if total < events:  # the estimate fell short: one more round
        return ensure_chunks(root, chunk_users, activity, events)
    return picked


# --------------------------------------------------------------------------- children


def child_analyze(spec: dict[str, Any]) -> dict[str, Any]:
    import userops

    plugins = {name: {} for name in spec["plugins"]}
    started = time.perf_counter()
    out = userops.analyze(spec["files"], plugins, threads=spec["threads"], progress=False)
    wall = time.perf_counter() - started
    meta = next(iter(out.values())).schema.metadata or {}
    return {"wall_s": wall, "rows_read": int(meta.get(b"userops.rows_read", b"0")), "maxrss": maxrss_bytes()}


def child_merge(spec: dict[str, Any]) -> dict[str, Any]:
    import pyarrow.compute as pc
    import userops

    plugins = {name: {} for name in spec["plugins"]}
    users, blocks, distinct, n = spec["users"], 10, 20, spec["states"]
    started = time.perf_counter()
    bases = []
    for s in range(distinct):
        table = userops.datasets.shop(users, seed=1000 + s)
        offset = (s % blocks) * users
        for name in ("user_id", "referrer_id"):
            i = table.schema.get_field_index(name)
            table = table.set_column(i, table.schema.field(i), pc.add(table[name], offset))
        bases.append(userops.partial(table, plugins, threads=spec["threads"], progress=False))
        del table
    make_s = time.perf_counter() - started
    states = [bases[i % distinct] for i in range(n)]
    started = time.perf_counter()
    merged = userops.merge(states)
    merge_s = time.perf_counter() - started
    started = time.perf_counter()
    out = userops.finish(merged)
    finish_s = time.perf_counter() - started
    return {
        "make_states_s": make_s,
        "state_mb": sum(len(b) for b in bases) / distinct / 2**20,
        "merged_mb": len(merged) / 2**20,
        "input_mb": sum(len(s) for s in states) / 2**20,
        "merge_s": merge_s,
        "finish_s": finish_s,
        "result_rows": {k: v.num_rows for k, v in out.items()},
        "maxrss": maxrss_bytes(),
    }


def run_child(kind: str, spec: dict[str, Any], max_rss: int) -> dict[str, Any]:
    """Runs a child process, watching its RSS; returns its report (or why it failed)."""
    proc = subprocess.Popen(
        [sys.executable, __file__, "--child", kind, json.dumps(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak, killed = 0, False
    while proc.poll() is None:
        rss = rss_of(proc.pid)
        peak = max(peak, rss)
        if rss > max_rss:
            proc.kill()
            killed = True
            break
        time.sleep(0.05)
    out, err = proc.communicate()
    if killed:
        return {"error": f"stopped: RSS above --max-rss ({max_rss / GIB:.1f} GiB)", "maxrss": peak}
    if proc.returncode != 0:
        return {"error": f"exit {proc.returncode}: {err.strip().splitlines()[-1] if err.strip() else ''}", "maxrss": peak}
    report = json.loads(out.strip().splitlines()[-1])
    report["maxrss"] = max(report["maxrss"], peak)
    return report


# ------------------------------------------------------------------------------- main


def fit(xs: list[float], ys: list[float]) -> tuple[float, float]:
    """Least-squares slope and intercept."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else (my / mx if mx else 0.0)
    return slope, my - slope * mx


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", default="50M,100M,200M", help="sizes of the full analysis, or 'none'")
    parser.add_argument("--plugins", default="all", help="'all' (every registered plugin) or a comma list")
    parser.add_argument("--per-plugin", default=None, metavar="SIZE", help="also run each plugin alone at SIZE")
    parser.add_argument("--merge", default=None, metavar="NxUSERS", help="merge N states of USERS users, e.g. 1000x100k")
    parser.add_argument("--merge-plugins", default="rfm", help="plugins of the merged states ('all' or a list)")
    parser.add_argument("--threads", type=int, default=0, help="engine threads (0 = one per core)")
    parser.add_argument("--max-rss", default="12G", help="stop a run whose RSS exceeds this (bytes; k/M/G suffixes)")
    parser.add_argument("--chunk-users", default="100k", help="users per generated Parquet file")
    parser.add_argument("--activity", type=float, default=1.75, help="the shop's activity (1.75: about 33 events per user)")
    parser.add_argument("--data", default=str(OUT / "scale"), help="where the generated Parquet files are cached (a folder per activity)")
    parser.add_argument("--json", default=str(OUT / "scale.json"), help="where to write the results")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        kind, spec = args.child
        report = (child_analyze if kind == "analyze" else child_merge)(json.loads(spec))
        print(json.dumps(report))
        return 0

    import userops
    from userops import _native

    every = _native.registered_names()

    def plugin_list(text: str) -> list[str]:
        return every if text == "all" else [p.strip() for p in text.split(",") if p.strip()]

    max_rss = parse_bytes(args.max_rss)
    chunk_users = parse_size(args.chunk_users)
    root = Path(args.data) / f"activity-{args.activity:g}"
    plugins = plugin_list(args.plugins)
    sizes = [] if args.events == "none" else [parse_size(s) for s in args.events.split(",")]
    results: dict[str, Any] = {
        "userops": userops.__version__,
        "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "threads": args.threads,
        "plugins": plugins,
        "full": [],
        "per_plugin": [],
    }
    print(f"userops {userops.__version__}, {results['cores']} cores, threads={args.threads}, {len(plugins)} plugin(s)")

    if sizes:
        print(f"\nfull analysis from Parquet ({len(plugins)} plugins in one pass)")
        print(f"{'events':>10} {'files':>6} {'users':>8} {'wall s':>8} {'events/s':>11} {'peak RSS':>10}")
    for size in sizes:
        chunks = ensure_chunks(root, chunk_users, args.activity, size)
        files = [str(root / c["file"]) for c in chunks]
        events, users = sum(c["rows"] for c in chunks), sum(c["users"] for c in chunks)
        report = run_child("analyze", {"files": files, "plugins": plugins, "threads": args.threads}, max_rss)
        row = {"target": size, "events": events, "users": users, "files": len(files), **report}
        results["full"].append(row)
        if "error" in report:
            print(f"{label(events):>10} {len(files):>6} {label(users):>8}  {report['error']}; peak RSS >= {report['maxrss'] / GIB:.2f} GiB")
        else:
            rate = events / report["wall_s"]
            print(f"{label(events):>10} {len(files):>6} {label(users):>8} {report['wall_s']:8.1f} {rate:11,.0f} {report['maxrss'] / GIB:7.2f} GiB", flush=True)
    done = [r for r in results["full"] if "error" not in r]
    if len(done) >= 2:
        slope, intercept = fit([r["events"] for r in done], [r["wall_s"] for r in done])
        mem_slope, mem_intercept = fit([r["users"] for r in done], [r["maxrss"] for r in done])
        billion = slope * 1e9 + intercept
        users_1b = 1e9 * done[-1]["users"] / done[-1]["events"]
        results["slope"] = {
            "s_per_million_events": slope * 1e6,
            "intercept_s": intercept,
            "estimate_1B_s": billion,
            "rss_bytes_per_user": mem_slope,
            "estimate_1B_rss_bytes": mem_slope * users_1b + mem_intercept,
        }
        print(
            f"slope {slope * 1e6:.3f} s per million events (intercept {intercept:.1f} s): "
            f"1B events ~ {billion / 60:.1f} min; peak RSS grows {mem_slope:,.0f} B per user: "
            f"1B events ({label(int(users_1b))} users) ~ {(mem_slope * users_1b + mem_intercept) / GIB:.1f} GiB"
        )

    if args.per_plugin:
        size = parse_size(args.per_plugin)
        chunks = ensure_chunks(root, chunk_users, args.activity, size)
        files = [str(root / c["file"]) for c in chunks]
        events, users = sum(c["rows"] for c in chunks), sum(c["users"] for c in chunks)
        print(f"\neach plugin alone, {label(events)} events, {label(users)} users")
        print(f"{'plugin':>22} {'wall s':>8} {'events/s':>12} {'peak RSS':>10}")
        for name in plugins:
            report = run_child("analyze", {"files": files, "plugins": [name], "threads": args.threads}, max_rss)
            results["per_plugin"].append({"plugin": name, "events": events, "users": users, **report})
            if "error" in report:
                print(f"{name:>22}  {report['error']}")
            else:
                print(f"{name:>22} {report['wall_s']:8.1f} {events / report['wall_s']:12,.0f} {report['maxrss'] / GIB:7.2f} GiB", flush=True)

    if args.merge:
        n_text, _, users_text = args.merge.lower().partition("x")
        spec = {"states": parse_size(n_text), "users": parse_size(users_text), "plugins": plugin_list(args.merge_plugins), "threads": args.threads}
        print(f"\nmerge of {spec['states']:,} states of {label(spec['users'])} users ({len(spec['plugins'])} plugin(s): {','.join(spec['plugins']) if len(spec['plugins']) < 6 else 'all'})")
        report = run_child("merge", spec, max_rss)
        results["merge"] = {**spec, **report}
        if "error" in report:
            print(f"  {report['error']}")
        else:
            print(
                f"  one state {report['state_mb']:.1f} MB, {report['input_mb'] / 1024:.1f} GB in all; merge {report['merge_s']:.2f} s "
                f"-> {report['merged_mb']:.1f} MB; finish {report['finish_s']:.2f} s; peak RSS {report['maxrss'] / GIB:.2f} GiB"
            )

    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=1))
    print(f"\nwritten: {args.json}")
    # A run stopped at --max-rss is a result (the memory it needs), not a failure.
    failed = [r for r in [*results["full"], *results["per_plugin"], results.get("merge", {})] if not r.get("error", "stopped").startswith("stopped")]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
