"""The settings of one training run, saved as ``RUN/config.json``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from falsr_ext.errors import FalsrError, GenotypeError
from falsr_ext.files import atomic_write_text

SCHEDULES = ("cosine", "step", "constant")
TRAIN_DTYPES = ("float32", "bfloat16")


class TrainConfigError(FalsrError, ValueError):
    """A training setting is invalid, or a resumed run's settings do not match."""


@dataclass
class TrainConfig:
    """Everything that defines a training run (same config + seed = same weights).

    Args:
        genotype: the architecture: a FALSR genotype (compact string, JSON or zoo name;
            see :mod:`falsr_ext.space`), kept as given, or another space's
            ``"space:arch"`` (``"dlsr:nf18-..."``, ``"tpsr:f16/..."``, or a name the
            space's ``parse`` takes, e.g. ``"tpsr:tpsr-d2"``), stored in the space's
            compact form so that a resume rebuilds the same network. (The field keeps
            its name so that the config.json of older FALSR runs still loads.)
        data: folders of HR images (searched for ``HR/`` first, else the folder itself).
        scale: upscaling factor (2, 3 or 4).
        steps: optimiser steps in all.
        batch: global batch (split evenly over the processes of a distributed run).
        patch: LR patch side in pixels (the HR patch is ``patch * scale``); at least the
            network's ``card.min_size`` (15 for DLSR, whose ESA pools a stride-2 map).
        lr, lr_min: Adam learning rate, and the floor the cosine schedule decays to.
        schedule: ``cosine`` (warmup then cosine to ``lr_min``), ``step`` (halve the rate
            at each of ``milestones``, fractions of ``steps``) or ``constant``.
        warmup: linear warmup steps.
        in_channels: 1 trains on analog luma like FALSR; 3 trains an RGB network.
            ``None`` (the default) is the space's: 1 for FALSR, 3 for the RGB-only
            spaces (DLSR, TPSR), for which 1 is an error.
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
    in_channels: int | None = None
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
        self.genotype = canonical_genotype(self.genotype)
        if self.in_channels is None:  # the space's own colour
            self.in_channels = 1 if self.space == "falsr" else 3
        elif self.in_channels == 1 and self.space != "falsr":
            raise TrainConfigError(f"{self.space} networks are RGB only: in_channels must be 3 "
                                   f"(--rgb is implied), got 1")
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

    @property
    def space(self) -> str:
        """The search space of :attr:`genotype` (``"falsr"``, ``"dlsr"``, ``"tpsr"``)."""
        return split_genotype(self.genotype)[0]

    @property
    def arch(self) -> str:
        """:attr:`genotype` without its ``space:`` prefix."""
        return split_genotype(self.genotype)[1]

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


def split_genotype(genotype: str) -> tuple[str, str]:
    """(space name, architecture text) of a ``genotype`` setting; no known ``space:``
    prefix means FALSR."""
    from falsr_ext.spaces import split_spec

    space, text = split_spec(genotype)
    return space.name, text


def canonical_genotype(genotype: Any) -> str:
    """The stored form of a ``genotype`` setting, checked: another space's architecture
    as ``"space:compact"``; a FALSR genotype as given (so old runs' config.json files,
    and their resume checks, are unchanged), without a ``falsr:`` prefix."""
    from falsr_ext.space import Genotype, parse_genotype
    from falsr_ext.spaces import get_space

    if isinstance(genotype, Genotype):
        return genotype.to_string()
    if not isinstance(genotype, str):
        raise TrainConfigError(f"genotype must be a string, got {type(genotype).__name__}")
    try:
        name, text = split_genotype(genotype)
        if name == "falsr":
            parse_genotype(text)  # checked here: a bad one fails before any work
            return text
        space = get_space(name)
        return f"{name}:{space.format(space.parse(text))}"
    except GenotypeError as exc:
        raise TrainConfigError(f"genotype: {exc}") from None
