"""The hand-kept stub ``_native.pyi`` matches the built extension module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def test_native_stub_matches_the_module(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    config = tmp_path / "mypy.ini"
    config.write_text("[mypy]\nignore_missing_imports = True\n")
    done = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "--mypy-config-file", str(config), "userops._native"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
