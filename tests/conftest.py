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


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a test module of tiny networks: on a shared 2-core machine
    two OpenMP threads run small convolutions 30-50x slower than one. Restored after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
