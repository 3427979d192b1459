"""The bundled default model: a genotype of the FALSR space trained by this project.

The official FALSR weights have no licence, so ``falsr upscale`` without ``--model`` uses
weights we trained ourselves (``python/train_default.py``; README, "The default model").
Plain 3x3 convolutions (7 cells of two 48-channel layers with a skip, fusion of the last
cell): 298K parameters, about FALSR-B's size, and the fastest cell type of our engine.
"""

from __future__ import annotations

import threading
from pathlib import Path

from falsr_ext.errors import WeightsError
from falsr_ext.models.falsr_net import FalsrNet

DEFAULT_NAME = "default"
DEFAULT_GENOTYPE = (
    "conv-k3-f48-b2-skip@F/conv-k3-f48-b2-skip@c0/conv-k3-f48-b2-skip@c1/"
    "conv-k3-f48-b2-skip@c2/conv-k3-f48-b2-skip@c3/conv-k3-f48-b2-skip@c4/"
    "conv-k3-f48-b2-skip@c5/fuse@c6"
)

# The settings of the shipped weights' run (TrainConfig fields besides genotype and data).
DEFAULT_TRAINING = {
    "scale": 2, "steps": 15000, "batch": 32, "patch": 32, "lr": 1e-3, "lr_min": 1e-5,
    "schedule": "cosine", "warmup": 300, "val_every": 500, "checkpoint_every": 250,
    "log_every": 50, "seed": 0,
}

DEFAULT_WEIGHTS = Path(__file__).with_name("default-x2.safetensors")


def default_model_available() -> bool:
    """Whether this install carries the bundled default weights."""
    return DEFAULT_WEIGHTS.is_file()


def load_default_model() -> FalsrNet:
    """The bundled default x2 luma model (eval mode, CPU, fp32).

    Raises :class:`WeightsError` when the weights file is not in this install (a package
    built without its package data, or the file deleted).
    """
    from falsr_ext.models.weights import load_weights

    if not default_model_available():
        raise WeightsError(
            f"falsr_ext has no bundled default model in this install ({DEFAULT_WEIGHTS} is "
            f"missing: reinstall falsr_ext, or retrain it with python/train_default.py). "
            f"Or pass a model: one of our "
            f".safetensors files, an official FALSR .pb, or a zoo name with its weights "
            f"(command line: --model FILE, or --model FALSR-A --weights FILE)"
        )
    model = load_weights(DEFAULT_WEIGHTS)
    if model.genotype.to_string() != DEFAULT_GENOTYPE:
        raise WeightsError(f"{DEFAULT_WEIGHTS}: not the default genotype "
                           f"({model.genotype.to_string()})")
    return model


class _SharedDefaultModel:
    """A load-once cache for :func:`shared_default_model` (``functools.lru_cache`` would
    let threads that miss together each load a model, and so compile its engine)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._model: FalsrNet | None = None

    def __call__(self) -> FalsrNet:
        """One loaded default model per process, for inference only (``upscale``
        without a model): reusing it keeps its compiled engine. Use
        :func:`load_default_model` for a copy of your own (to train or modify).
        Thread-safe: concurrent first calls load it once."""
        model = self._model
        if model is None:
            with self._lock:
                if self._model is None:
                    self._model = load_default_model()
                model = self._model
        return model

    def cache_clear(self) -> None:
        """Forget the loaded model (the next call loads the weights file again)."""
        with self._lock:
            self._model = None


shared_default_model = _SharedDefaultModel()
