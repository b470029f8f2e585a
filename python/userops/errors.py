"""The exceptions and the warning userops raises.

Every error from the engine is a :class:`UserOpsError`; catch a subclass to handle
one kind of problem:

- :class:`ColumnError`: a column is missing, has an unsupported type, or referrer ids
  are not of the user ids' kind. The message names the column and the types accepted.
- :class:`ParameterError`: a plugin parameter or run option is wrong, or a plugin
  name is unknown. The message names it and what is accepted.
- :class:`DataError`: values that cannot be used (NaN or infinite amounts, with the
  row count), or an unreadable Arrow stream.
- :class:`StateError`: partial states that cannot be read or merged.
- :class:`InternalError`: a bug in userops (also any panic in the Rust core).

:class:`UserOpsWarning` reports rows that were left out (null user id or timestamp)
or counted specially (null event name).
"""

from __future__ import annotations

from userops._native import (
    ColumnError,
    DataError,
    InternalError,
    ParameterError,
    StateError,
    UserOpsError,
)

__all__ = [
    "ColumnError",
    "DataError",
    "InternalError",
    "ParameterError",
    "StateError",
    "UserOpsError",
    "UserOpsWarning",
]


class UserOpsWarning(UserWarning):
    """Rows of the input were left out of a result, or counted specially (SPEC §1)."""
