"""Training checkpoints: everything needed to continue a run exactly where it stopped.

A checkpoint holds the model, optimiser and scheduler states, the RNG states and the
step (the data position: batches are a pure function of seed and step). It is written
to a temporary file and renamed, so a run killed mid-write keeps the previous one.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from falsr_ext.errors import FalsrError

CHECKPOINT_NAME = "checkpoint.pt"


class CheckpointError(FalsrError, RuntimeError):
    """A checkpoint is missing, unreadable or from another run."""


def rng_state() -> dict[str, Any]:
    """The RNG states of Python, numpy and torch."""
    return {"python": random.getstate(), "numpy": np.random.get_state(),
            "torch": torch.get_rng_state()}


def set_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`rng_state`."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])


def save_checkpoint(run_dir: Path, state: dict[str, Any]) -> Path:
    """Atomically write ``state`` as the run's checkpoint."""
    target = run_dir / CHECKPOINT_NAME
    tmp = target.with_name(target.name + ".tmp")
    torch.save(state, tmp)
    tmp.replace(target)
    return target


def load_checkpoint(run_dir: Path) -> dict[str, Any] | None:
    """The run's checkpoint, or None when it has none yet."""
    target = run_dir / CHECKPOINT_NAME
    if not target.is_file():
        return None
    try:
        # our own file, with numpy / Python RNG states inside: not weights-only
        return torch.load(target, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many types for a damaged file
        raise CheckpointError(f"{target}: unreadable checkpoint ({exc})") from None
