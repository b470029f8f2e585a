"""Run options from Python values: ``as_of``, ``columns``, ``tz``, ``threads``."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any

from userops import _native
from userops.errors import ParameterError

#: The column roles, in schema order; each is also the column's default name.
ROLES: tuple[str, ...] = ("user_id", "ts", "event", "amount", "channel", "referrer_id")

_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_EPOCH_ORDINAL = _dt.date(1970, 1, 1).toordinal()
_MICROSECOND = _dt.timedelta(microseconds=1)

AS_OF_ACCEPTED = (
    "None, a datetime.date (the end of that day in `tz`), a datetime.datetime (naive = UTC), "
    "an ISO 8601 string (a date-only string is a date), a pandas Timestamp or a numpy datetime64"
)


def columns_option(columns: Mapping[str, str] | None) -> dict[str, str] | None:
    """Checks a ``{role: your column name}`` mapping."""
    if columns is None:
        return None
    if not isinstance(columns, Mapping):
        raise ParameterError(
            f"columns must be a dict {{role: column name}}, not {type(columns).__name__}; roles: {', '.join(ROLES)}"
        )
    unknown = [role for role in columns if role not in ROLES]
    if unknown:
        raise ParameterError(
            f"columns: unknown column role(s) {', '.join(map(repr, unknown))}; roles: {', '.join(ROLES)}"
        )
    for role, name in columns.items():
        if not isinstance(name, str):
            raise ParameterError(f"columns: the name of the {role} column must be a string, not {name!r}")
    return dict(columns)


def tz_option(tz: str | _dt.tzinfo | None) -> str:
    """The canonical name of a time zone: ``UTC``, an IANA name or ``+08:00``."""
    if tz is None:
        return "UTC"
    if isinstance(tz, _dt.tzinfo):
        key = getattr(tz, "key", None) or getattr(tz, "zone", None)  # zoneinfo / pytz
        if key is None and tz is _dt.timezone.utc:
            key = "UTC"
        if key is None:
            raise ParameterError(f"tz: cannot tell the name of time zone {tz!r}; pass an IANA name such as 'Asia/Shanghai'")
        tz = key
    if not isinstance(tz, str):
        raise ParameterError(f"tz must be a time zone name such as 'UTC', 'Asia/Shanghai' or '+08:00', not {tz!r}")
    return _native.tz_name(tz)


def threads_option(threads: int) -> int:
    """Worker threads: 0 means one per core."""
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ParameterError(f"threads must be an integer >= 0 (0 = one per core), not {threads!r}")
    return threads


def _date_end(day: _dt.date, tz: str) -> int:
    return _native.day_end(day.toordinal() - _EPOCH_ORDINAL, tz)


def _datetime_micros(value: _dt.datetime) -> int:
    if value.tzinfo is None:  # a timestamp without a time zone is a UTC instant
        value = value.replace(tzinfo=_dt.timezone.utc)
    return (value - _EPOCH) // _MICROSECOND


def as_of_micros(as_of: Any, tz: str) -> int | None:
    """``as_of`` as microseconds UTC; a bare date means the end of that day in ``tz``."""
    if as_of is None:
        return None
    kind = type(as_of)
    module = kind.__module__.split(".")[0]
    if module == "pandas" and kind.__name__ in ("Timestamp", "NaTType"):
        if kind.__name__ == "NaTType":
            raise ParameterError("as_of is NaT (not a time)")
        # .value is nanoseconds: UTC for an aware Timestamp, the wall time for a naive one (= UTC).
        return int(as_of.value) // 1000
    if module == "numpy" and kind.__name__ == "datetime64":
        import numpy as np

        if np.isnat(as_of):
            raise ParameterError("as_of is NaT (not a time)")
        unit = np.datetime_data(as_of.dtype)[0]
        if unit in ("Y", "M", "W", "D"):
            return _native.day_end(int(as_of.astype("datetime64[D]").astype("int64")), tz)
        return int(as_of.astype("datetime64[us]").astype("int64"))
    if isinstance(as_of, _dt.datetime):
        return _datetime_micros(as_of)
    if isinstance(as_of, _dt.date):
        return _date_end(as_of, tz)
    if isinstance(as_of, str):
        text = as_of.strip()
        try:
            if len(text) == 10:
                return _date_end(_dt.date.fromisoformat(text), tz)
            return _datetime_micros(_dt.datetime.fromisoformat(text))
        except ValueError:
            raise ParameterError(f"as_of: {as_of!r} is not an ISO 8601 date or date-time") from None
    raise ParameterError(f"as_of of type {kind.__name__} is not understood; accepted: {AS_OF_ACCEPTED}")
