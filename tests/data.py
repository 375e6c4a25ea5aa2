"""Where the real public data for tests lives: ``../shared/data`` beside the checkout (CI has it too)."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_data(name: str) -> Path:
    """Path of ``../shared/data/<name>``, skipping the test (with the reason) where it is absent."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"{path} not found: the shared data folder exists only beside this project's checkout")
    return path
