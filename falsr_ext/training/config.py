"""The settings of one training run, saved as ``RUN/config.json``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from falsr_ext.errors import FalsrError
from falsr_ext.files import atomic_write_text

SCHEDULES = ("cosine", "step", "constant")
TRAIN_DTYPES = ("float32", "bfloat16")


class TrainConfigError(FalsrError, ValueError):
    """A training setting is invalid, or a resumed run's settings do not match."""


@dataclass
class TrainConfig:
    """Everything that defines a training run (same config + seed = same weights).

    Args:
        genotype: compact genotype string (see :mod:`falsr_ext.space`).
        data: folders of HR images (searched for ``HR/`` first, else the folder itself).
        scale: upscaling factor (2, 3 or 4).
        steps: optimiser steps in all.
        batch: global batch (split evenly over the processes of a distributed run).
        patch: LR patch side in pixels (the HR patch is ``patch * scale``).
        lr, lr_min: Adam learning rate, and the floor the cosine schedule decays to.
        schedule: ``cosine`` (warmup then cosine to ``lr_min``), ``step`` (halve the rate
            at each of ``milestones``, fractions of ``steps``) or ``constant``.
        warmup: linear warmup steps.
        in_channels: 1 trains on analog luma like FALSR; 3 trains an RGB network.
        val: optional benchmark folder scored with the standard protocol.
        val_every, checkpoint_every, log_every: in steps.
        seed: fixes the initial weights and every sampled patch.
        dtype: ``float32``, or ``bfloat16`` autocast (fp32 master weights).
    """

    genotype: str
    data: list[str]
    scale: int = 2
    steps: int = 1000
    batch: int = 16
    patch: int = 48
    lr: float = 1e-3
    lr_min: float = 1e-5
    schedule: str = "cosine"
    milestones: list[float] = field(default_factory=lambda: [0.5, 0.75, 0.9])
    warmup: int = 0
    in_channels: int = 1
    val: str | None = None
    val_every: int = 1000
    checkpoint_every: int = 200
    log_every: int = 20
    seed: int = 0
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if isinstance(self.data, (str, Path)):
            self.data = [str(self.data)]
        self.data = [str(d) for d in self.data]
        if not self.data:
            raise TrainConfigError("data: give at least one folder of HR images")
        if self.val is not None:
            self.val = str(self.val)
        positive = ("steps", "batch", "patch", "val_every", "checkpoint_every", "log_every")
        for name in positive:
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise TrainConfigError(f"{name} must be a positive integer, got {value!r}")
        if self.scale not in (2, 3, 4):
            raise TrainConfigError(f"scale must be 2, 3 or 4, got {self.scale!r}")
        if self.in_channels not in (1, 3):
            raise TrainConfigError(f"in_channels must be 1 or 3, got {self.in_channels!r}")
        if self.schedule not in SCHEDULES:
            raise TrainConfigError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.dtype not in TRAIN_DTYPES:
            raise TrainConfigError(f"dtype must be one of {TRAIN_DTYPES}, got {self.dtype!r}")
        if not (self.lr > 0 and 0 <= self.lr_min <= self.lr):
            raise TrainConfigError(f"need lr > 0 and 0 <= lr_min <= lr, got {self.lr}, "
                                   f"{self.lr_min}")
        if not 0 <= self.warmup < self.steps:
            raise TrainConfigError(f"warmup must be in [0, steps), got {self.warmup}")
        if any(not 0 < m < 1 for m in self.milestones):
            raise TrainConfigError(f"milestones are fractions in (0, 1), got {self.milestones}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise TrainConfigError(f"unknown training settings: {', '.join(unknown)}")
        return cls(**data)

    def save(self, path: Path) -> None:
        """Write the settings as indented JSON (atomically)."""
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        """Read settings written by :meth:`save`."""
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise TrainConfigError(f"{path}: unreadable training config ({exc})") from None
        if not isinstance(data, dict):
            raise TrainConfigError(f"{path}: not a training config (a JSON object)")
        return cls.from_dict(data)
