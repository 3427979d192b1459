"""Training checkpoints: everything needed to continue a run exactly where it stopped.

A checkpoint holds the model, optimiser and scheduler states, the RNG states and the
step (the data position: batches are a pure function of seed and step). It holds only
tensors and plain data (RNG states as lists and tensors), so it is read with
``torch.load(weights_only=True)``: a planted file cannot run code. It is written through
:func:`falsr_ext.files.atomic_path`, so a run killed mid-write keeps the previous one.
"""

from __future__ import annotations

import pickle
import random
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from falsr_ext.errors import FalsrError
from falsr_ext.files import atomic_path

CHECKPOINT_NAME = "checkpoint.pt"


class CheckpointError(FalsrError, RuntimeError):
    """A checkpoint is missing, unreadable or from another run."""


def rng_state() -> dict[str, Any]:
    """The RNG states of Python, numpy and torch, as plain lists and tensors."""
    version, internal, gauss = random.getstate()
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    return {
        "python": [version, list(internal), gauss],
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)),
                  "pos": int(pos), "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    """Inverse of :func:`rng_state` (also takes the tuples of pre-hardening checkpoints)."""
    version, internal, gauss = state["python"]
    random.setstate((int(version), tuple(int(v) for v in internal), gauss))
    numpy_state = state["numpy"]
    if isinstance(numpy_state, dict):
        keys = np.asarray(numpy_state["keys"].numpy(), dtype=np.uint32)
        numpy_state = (numpy_state["kind"], keys, numpy_state["pos"], numpy_state["has_gauss"],
                       numpy_state["cached_gaussian"])
    np.random.set_state(numpy_state)
    torch.set_rng_state(state["torch"])


def save_checkpoint(run_dir: Path, state: dict[str, Any]) -> Path:
    """Atomically write ``state`` as the run's checkpoint."""
    target = run_dir / CHECKPOINT_NAME
    with atomic_path(target) as tmp:
        torch.save(state, tmp)
    return target


def _legacy_numpy_globals() -> list[Any]:
    """The data-only numpy constructors of a pre-hardening checkpoint's numpy RNG state
    (one uint32 array): allowed so such runs still resume, still weights-only."""
    from numpy._core import multiarray

    reconstruct = multiarray._reconstruct
    return [reconstruct, (reconstruct, "numpy.core.multiarray._reconstruct"), np.ndarray,
            np.dtype, type(np.dtype(np.uint32))]


def load_checkpoint(run_dir: Path) -> dict[str, Any] | None:
    """The run's checkpoint, or None when it has none yet. Never runs code from the file:
    anything but tensors and plain data is refused with a :class:`CheckpointError`."""
    target = run_dir / CHECKPOINT_NAME
    if not target.is_file():
        return None
    restart = "move it away to restart the run from step 0"
    try:
        with warnings.catch_warnings(), torch.serialization.safe_globals(_legacy_numpy_globals()):
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            state = torch.load(target, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:  # the weights-only unpickler refused it
        code = re.search(r"GLOBAL (\S+)", str(exc))
        if code:
            raise CheckpointError(
                f"{target}: not loaded: it references {code.group(1)}, which is not tensor "
                f"data and could run code when loaded (falsr train never writes that); "
                f"{restart}") from None
        raise CheckpointError(f"{target}: unreadable checkpoint ({_detail(exc)}); "
                              f"{restart}") from None
    except Exception as exc:  # torch raises many types for a damaged file
        raise CheckpointError(f"{target}: unreadable checkpoint ({_detail(exc)}); "
                              f"{restart}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{target}: not a falsr train checkpoint; {restart}")
    return state


def _detail(exc: BaseException) -> str:
    """One line about ``exc`` (torch's weights-only messages are paragraphs)."""
    text = str(exc)
    found = re.search(r"WeightsUnpickler error:\s*(.+)", text)
    if found:
        return found.group(1).strip()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
