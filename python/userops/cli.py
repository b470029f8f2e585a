"""The ``userops`` command line.

    userops demo [--users N] [--seed S]   RFM segments and revenue concentration of the demo shop
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import pyarrow as pa

import userops


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


def demo(users: int, seed: int) -> None:
    """Prints the RFM segment summary and the revenue concentration of the demo shop."""
    events = userops.datasets.shop(users, seed=seed)
    print(f"userops {userops.__version__} demo: the synthetic shop, {users:,} users, {events.num_rows:,} events\n")
    out = userops.analyze(events, {"rfm_segments": {}, "concentration": {"top": 0.2}})
    print(format_table(out["rfm_segments"], title="RFM segments (用户价值分层)"))
    print()
    print(format_table(out["concentration"], title="Revenue concentration (top 20% of paying users)"))


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``userops`` script."""
    parser = argparse.ArgumentParser(prog="userops", description="User-operations analytics over Arrow data.")
    parser.add_argument("--version", action="version", version=f"userops {userops.__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    p_demo = commands.add_parser("demo", help="RFM segments and revenue concentration of the demo shop")
    p_demo.add_argument("--users", type=int, default=50_000, help="users in the demo shop (default 50000)")
    p_demo.add_argument("--seed", type=int, default=0, help="random seed of the demo shop (default 0)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        demo(args.users, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
