"""Shared fixtures: the demo shop, small enough for fast tests."""

from __future__ import annotations

import pyarrow as pa
import pytest

import userops


@pytest.fixture(scope="session")
def events() -> pa.Table:
    """``datasets.shop(3000, seed=1)``: the input every comparison test uses."""
    return userops.datasets.shop(3000, seed=1)
