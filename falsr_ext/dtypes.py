"""The network precisions users may name, shared by upscale, evaluate and the engine."""

from __future__ import annotations

import torch

NETWORK_DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
}


def parse_network_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """``torch.float32`` or ``torch.bfloat16`` from a name (any case) or the dtype itself;
    ValueError for anything else."""
    if isinstance(dtype, torch.dtype) and dtype in NETWORK_DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype.lower() in NETWORK_DTYPES:
        return NETWORK_DTYPES[dtype.lower()]
    raise ValueError(f"dtype must be 'float32' or 'bfloat16' (also 'fp32', 'bf16'), got {dtype!r}")
