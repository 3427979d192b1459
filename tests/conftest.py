"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only ``../shared`` folder (override with FALSR_SHARED); skips if absent."""
    path = Path(os.environ.get("FALSR_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    if not path.is_dir():
        pytest.skip(
            f"{path} absent: shared data and weights are read from ../shared (or FALSR_SHARED)"
        )
    return path
