"""Skipping CUDA tests with the reason: no GPU, or an extension built without CUDA."""

from __future__ import annotations

import torch

from falsr_ext import _extension


def cuda_skip_reason() -> str | None:
    """Why CUDA tests cannot run here, or None when they can."""
    if not torch.cuda.is_available():
        return "no CUDA device visible (torch.cuda.is_available() is False)"
    if not _extension.cuda_built():
        return "falsr_ext._C was built without CUDA (FORCE_CUDA=1 rebuild: benchmarks/GPU.md)"
    return None
