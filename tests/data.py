"""Where the real public data for tests lives: ``$TEXTGYM_SHARED_DATA``, else ``../shared/data`` (CI has it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.data import ENV_VAR, default_data_dir

SHARED_DATA = default_data_dir() or Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_data(name: str) -> Path:
    """Path of ``<shared data>/<name>``, skipping the test (with the reason) where it is absent."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"{path} not found: set ${ENV_VAR} to the shared data folder (it holds {name}/)")
    return path
