"""userops: user-operations analytics (AARRR, RFM, lifecycle, viral) over Arrow data.

The metrics run in a Rust engine, in one pass over the events on all cores, and
return ``pyarrow.Table`` results. Inputs: pyarrow, polars, pandas, DuckDB, or Parquet
files. See ``SPEC.md`` for what every number means.

Example:
    >>> import userops
    >>> events = userops.datasets.shop(2_000, seed=1)
    >>> segments = userops.rfm_segments(events)
    >>> "segment" in segments.column_names
    True
"""

from __future__ import annotations

from userops import datasets
from userops._activity import active_users, stickiness
from userops._api import analyze, plugins
from userops._display import display
from userops._cohorts import acquisition, activation, ltv, paying_conversion, pivot_triangle, retention
from userops._native import __version__
from userops._partial import finish, merge, partial
from userops._funnel import funnel
from userops._lifecycle import churn_warning, lifecycle, lifecycle_stage, stage_transitions, tiers
from userops._report import report
from userops._rfm import concentration, lorenz, rfm, rfm_segments
from userops._revenue import next_month_repurchase, repurchase, revenue
from userops._viral import acquired_via, referral_issues, referral_tree, top_referrers, viral, viral_cycle
from userops.errors import (
    ColumnError,
    DataError,
    InternalError,
    ParameterError,
    StateError,
    UserOpsError,
    UserOpsWarning,
)

__all__ = [
    "ColumnError",
    "DataError",
    "InternalError",
    "ParameterError",
    "StateError",
    "UserOpsError",
    "UserOpsWarning",
    "__version__",
    "acquired_via",
    "acquisition",
    "activation",
    "active_users",
    "analyze",
    "churn_warning",
    "concentration",
    "datasets",
    "display",
    "finish",
    "funnel",
    "lifecycle",
    "lifecycle_stage",
    "lorenz",
    "ltv",
    "merge",
    "next_month_repurchase",
    "partial",
    "paying_conversion",
    "pivot_triangle",
    "plugins",
    "referral_issues",
    "referral_tree",
    "report",
    "repurchase",
    "retention",
    "revenue",
    "rfm",
    "rfm_segments",
    "stage_transitions",
    "stickiness",
    "tiers",
    "top_referrers",
    "viral",
    "viral_cycle",
]


def __getattr__(name: str) -> object:
    # ``userops.dask`` and ``userops.spark`` are imported on first use: they need the
    # optional extras (``userops[dask]``, ``userops[spark]``), which ``import userops``
    # never imports. ``userops.plot`` (matplotlib, ``userops[plot]``) likewise.
    if name in ("dask", "spark", "plot"):
        import importlib

        return importlib.import_module(f"userops.{name}")
    raise AttributeError(f"module 'userops' has no attribute {name!r}")


# In IPython / Jupyter, show pyarrow tables as HTML (see userops._display; USEROPS_HTML=0 turns it off).
from userops import _display as _display_module  # noqa: E402

_display_module._auto_register()
