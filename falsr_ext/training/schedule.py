"""Learning-rate schedules as pure functions of the step (so resuming is exact)."""

from __future__ import annotations

import math

from falsr_ext.training.config import TrainConfig


def lr_factor(config: TrainConfig, step: int) -> float:
    """Multiplier of ``config.lr`` for optimiser step ``step`` (0-based)."""
    if step < config.warmup:
        return (step + 1) / (config.warmup + 1)
    if config.schedule == "constant":
        return 1.0
    if config.schedule == "step":
        passed = sum(step >= m * config.steps for m in config.milestones)
        return 0.5 ** passed
    floor = config.lr_min / config.lr
    span = max(1, config.steps - config.warmup - 1)
    t = min(1.0, (step - config.warmup) / span)
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * t))
