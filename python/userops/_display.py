"""Readable tables: HTML for Jupyter and the report, aligned text for the terminal.

Results stay plain ``pyarrow.Table`` objects. What changes is how they look:

- In IPython / Jupyter, ``import userops`` registers an HTML formatter for
  ``pyarrow.Table`` and ``pyarrow.RecordBatch`` (pyarrow has none of its own), so a
  result shown in a cell is a table with shares as percentages, money with thousands
  separators, and nulls blank. ``table.to_pandas()`` and ``polars.from_arrow(table)``
  are unaffected. Set the environment variable ``USEROPS_HTML=0`` before importing
  userops to keep pyarrow's plain text, or call :func:`register` with ``False``.
- :func:`display` wraps any table for one rich rendering (``max_rows`` to see more).
- :func:`to_html` and :func:`to_text` return the strings (the report and the command
  line use them).

Formatting rules, by column: a float column whose name says it is a share
(``rate``, ``share``, ``conversion``, ``stickiness``, ``fraction``) is a percentage with
one decimal; other floats have two decimals (thousands separated); integers are
thousands separated; null is blank; dates are ISO dates; timestamps are shown to the
minute in their own time zone; booleans are ``yes`` / ``no``.
"""

from __future__ import annotations

import datetime as _dt
import html
import math
import os
import sys
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

__all__ = ["Display", "display", "format_value", "is_share", "register", "to_html", "to_text"]

#: Words in a column name that mark a share (shown as a percentage).
SHARE_WORDS = ("rate", "share", "conversion", "stickiness", "fraction")

#: Default number of rows shown before the middle is elided.
MAX_ROWS = 20


def is_share(name: str, dtype: pa.DataType) -> bool:
    """Whether a column holds shares in [0, 1], shown as percentages."""
    if not pa.types.is_floating(dtype):
        return False
    lowered = name.lower()
    if "ratio" in lowered or "k_factor" in lowered:
        return False
    return any(word in lowered for word in SHARE_WORDS)


def format_value(value: Any, *, share: bool = False) -> str:
    """One cell as text: percentages for shares, thousands separators, blank for null."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if share:
            return f"{value:.1%}"
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, _dt.datetime):
        text = value.strftime("%Y-%m-%d %H:%M")
        return text
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, _dt.timedelta):
        return str(value)
    return str(value)


def _as_table(table: Any) -> pa.Table:
    if isinstance(table, pa.Table):
        return table
    if isinstance(table, pa.RecordBatch):
        return pa.Table.from_batches([table])
    if hasattr(table, "__arrow_c_stream__"):
        return pa.table(table)
    raise TypeError(f"expected a pyarrow Table (or any Arrow table), not {type(table).__name__}")


def _numeric(dtype: pa.DataType) -> bool:
    return pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_decimal(dtype)


def _rows(table: pa.Table, max_rows: int) -> tuple[list[list[str]], int | None]:
    """The formatted cells of the rows shown, and the index before which an elision
    row goes (None when every row is shown)."""
    n = table.num_rows
    if n > max_rows:
        head = max(max_rows - max_rows // 2, 1)
        tail = max_rows - head
        parts = [table.slice(0, head), table.slice(n - tail, tail)] if tail else [table.slice(0, head)]
        gap: int | None = head
    else:
        parts = [table]
        gap = None
    shares = [is_share(f.name, f.type) for f in table.schema]
    rows: list[list[str]] = []
    for part in parts:
        columns = [part.column(i).to_pylist() for i in range(part.num_columns)]
        for r in range(part.num_rows):
            rows.append([format_value(c[r], share=s) for c, s in zip(columns, shares)])
    return rows, gap


#: The style of :func:`to_html` tables (no external resource).
TABLE_CSS = (
    ".userops-table{border-collapse:collapse;font-size:12.5px;font-variant-numeric:tabular-nums;margin:0.25em 0}"
    ".userops-table th,.userops-table td{padding:3px 10px;border-bottom:1px solid #e3e6ea;white-space:nowrap}"
    ".userops-table thead th{border-bottom:2px solid #9aa4b1;text-align:left;font-weight:600}"
    ".userops-table td.num,.userops-table th.num{text-align:right}"
    ".userops-table tbody tr:nth-child(even){background:#f7f9fb}"
    ".userops-table caption{caption-side:bottom;text-align:left;color:#6b7480;font-size:11.5px;padding-top:4px}"
)
_CSS = "<style>" + TABLE_CSS + "</style>"


def to_html(table: Any, *, max_rows: int = MAX_ROWS, caption: str | None = None, style: bool = True) -> str:
    """The table as an HTML ``<table>`` (with a small inline style unless ``style=False``).

    Example:
        >>> import pyarrow as pa
        >>> from userops._display import to_html
        >>> "78.5%" in to_html(pa.table({"rate": [0.785, None]}))
        True
    """
    table = _as_table(table)
    numeric = [_numeric(f.type) for f in table.schema]
    out = [_CSS] if style else []
    out.append('<table class="userops-table">')
    n, k = table.num_rows, table.num_columns
    note = f"{n:,} row{'s' if n != 1 else ''} × {k} column{'s' if k != 1 else ''}"
    if caption:
        note = f"{caption} · {note}"
    out.append(f"<caption>{html.escape(note)}</caption>")
    out.append("<thead><tr>")
    for name, num in zip(table.column_names, numeric):
        out.append(f'<th class="num">{html.escape(name)}</th>' if num else f"<th>{html.escape(name)}</th>")
    out.append("</tr></thead><tbody>")
    rows, gap = _rows(table, max_rows)
    for i, row in enumerate(rows):
        if gap is not None and i == gap:
            out.append(f'<tr><td colspan="{k}" style="text-align:center;color:#8a939e">⋯</td></tr>')
        cells = (f'<td class="num">{html.escape(v)}</td>' if num else f"<td>{html.escape(v)}</td>"
                 for v, num in zip(row, numeric))
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _width(text: str) -> int:
    """Display width: East Asian wide characters take two columns."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int, right: bool) -> str:
    fill = " " * max(width - _width(text), 0)
    return fill + text if right else text + fill


def to_text(table: Any, *, max_rows: int = MAX_ROWS, title: str | None = None) -> str:
    """The table as aligned plain text (numbers right-aligned, nulls blank).

    Example:
        >>> import pyarrow as pa
        >>> from userops._display import to_text
        >>> print(to_text(pa.table({"segment": ["Champions"], "users": [1200], "user_share": [0.125]})))
        segment    users  user_share
        ---------  -----  ----------
        Champions  1,200       12.5%
    """
    table = _as_table(table)
    numeric = [_numeric(f.type) for f in table.schema]
    rows, gap = _rows(table, max_rows)
    header = table.column_names
    widths = [max([_width(h)] + [_width(r[i]) for r in rows]) for i, h in enumerate(header)]

    def line(values: Sequence[str]) -> str:
        return "  ".join(_pad(v, w, n) for v, w, n in zip(values, widths, numeric)).rstrip()

    out = [] if title is None else [title]
    out.append(line(header))
    out.append("  ".join("-" * w for w in widths))
    for i, row in enumerate(rows):
        if gap is not None and i == gap:
            out.append("  ".join(_pad("…", w, n) for w, n in zip(widths, numeric)).rstrip())
        out.append(line(row))
    if gap is not None:
        out.append(f"({table.num_rows:,} rows)")
    return "\n".join(out)


class Display:
    """A table wrapped for rich display: HTML in Jupyter, aligned text elsewhere.
    The table itself is ``.table`` (a ``pyarrow.Table``)."""

    def __init__(self, table: Any, *, max_rows: int = MAX_ROWS, caption: str | None = None) -> None:
        self.table = _as_table(table)
        self.max_rows = max_rows
        self.caption = caption

    def _repr_html_(self) -> str:
        return to_html(self.table, max_rows=self.max_rows, caption=self.caption)

    def __repr__(self) -> str:
        return to_text(self.table, max_rows=self.max_rows, title=self.caption)


def display(table: Any, *, max_rows: int = MAX_ROWS, caption: str | None = None) -> Display:
    """Shows a table readably: in Jupyter as HTML (shares as percentages, nulls blank),
    elsewhere as aligned text. The value of a notebook cell, or printed.

    Parameters:
        table: a ``pyarrow.Table`` (any userops result) or any Arrow table.
        max_rows: rows shown; longer tables show their head and tail.
        caption: a line under the table.

    Returns:
        A :class:`Display` (its ``.table`` is the table itself).

    Example:
        >>> import userops
        >>> events = userops.datasets.shop(2_000, seed=1)
        >>> shown = userops.display(userops.rfm_segments(events), max_rows=3)
        >>> "<table" in shown._repr_html_() and "%" in shown._repr_html_()
        True
    """
    return Display(table, max_rows=max_rows, caption=caption)


def _formatter(obj: Any) -> str:
    return to_html(obj)


def register(enabled: bool = True) -> bool:
    """Registers (or removes) the HTML formatter of ``pyarrow.Table`` and
    ``pyarrow.RecordBatch`` in the running IPython shell. Returns whether a shell was found.
    Called by ``import userops`` unless ``USEROPS_HTML=0``."""
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    try:
        shell = ipython.get_ipython()
    except Exception:  # noqa: BLE001 - an IPython without a shell
        return False
    if shell is None:
        return False
    formatter = shell.display_formatter.formatters["text/html"]
    for kind in (pa.Table, pa.RecordBatch):
        if enabled:
            formatter.for_type(kind, _formatter)
        else:
            formatter.type_printers.pop(kind, None)
    return True


def _auto_register() -> None:
    if os.environ.get("USEROPS_HTML", "1").strip().lower() in ("0", "false", "no", "off"):
        return
    try:
        register(True)
    except Exception:  # noqa: BLE001 - display is a nicety; never break the import
        pass
