"""The network precisions users may name, shared by upscale, evaluate and the engine, and
the ``dtype="auto"`` policy of :func:`falsr_ext.upscale`.

``auto`` picks bfloat16 for a FALSR network on the CPU when the kernels have native bf16
dot products (ISA level ``avx512_bf16`` or ``amx`` under the ``FALSR_CPU_ISA`` cap), and
float32 otherwise: on older CPUs bf16 is emulated and slower, networks of other spaces
(DLSR, TPSR) run only in float32, and on CUDA bf16 has not been measured to pay.
"""

from __future__ import annotations

import threading
import warnings

import torch
from torch import nn

NETWORK_DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
}
AUTO = "auto"
# The ISA levels (falsr_ext._C.cpu_isa()) whose kernels run bf16 dot products natively.
NATIVE_BF16_ISAS = ("avx512_bf16", "amx")


class PrecisionNote(UserWarning):
    """bf16 was asked for where it is emulated: it runs, but slower than float32."""


def _is_auto(dtype: str | torch.dtype) -> bool:
    return isinstance(dtype, str) and dtype.lower() == AUTO


def parse_network_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """``torch.float32`` or ``torch.bfloat16`` from a name (any case) or the dtype itself;
    ValueError for anything else, ``"auto"`` included (see :func:`resolve_network_dtype`)."""
    if isinstance(dtype, torch.dtype) and dtype in NETWORK_DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype.lower() in NETWORK_DTYPES:
        return NETWORK_DTYPES[dtype.lower()]
    if _is_auto(dtype):
        # Evaluation figures must not change with the machine.
        raise ValueError("dtype 'auto' is for upscale only; name 'float32' or 'bfloat16'")
    raise ValueError(f"dtype must be 'float32' or 'bfloat16' (also 'fp32', 'bf16'), got {dtype!r}")


def native_bf16() -> bool:
    """Whether the CPU kernels now run bf16 natively: the ISA level in use (the CPU's best
    under the ``FALSR_CPU_ISA`` cap, read on every call) is avx512_bf16 or amx."""
    from falsr_ext._extension import load_extension

    return load_extension().cpu_isa() in NATIVE_BF16_ISAS


_warned_emulated = False
_warn_lock = threading.Lock()


def _warn_emulated_once(isa: str) -> None:
    global _warned_emulated
    with _warn_lock:  # concurrent upscale calls must not print it twice
        if _warned_emulated:
            return
        _warned_emulated = True
    warnings.warn(PrecisionNote(
        f"bfloat16 is emulated on this CPU (ISA level {isa}, no native bf16 dot products) "
        f"and slower than float32; dtype='auto' picks float32 here"), stacklevel=4)


def resolve_network_dtype(dtype: str | torch.dtype, device: torch.device,
                          model: nn.Module) -> torch.dtype:
    """The precision :func:`falsr_ext.upscale` runs ``model`` in on ``device``.

    ``"auto"``: bfloat16 for a FALSR network on the CPU with native bf16 (see
    :func:`native_bf16`), else float32. An explicit bfloat16 for a FALSR network on a CPU
    without native bf16 runs, with one :class:`PrecisionNote` per process.
    """
    from falsr_ext.models.falsr_net import FalsrNet

    # Only FALSR networks on the CPU have bf16 kernels whose speed depends on the ISA.
    cpu_falsr = device.type == "cpu" and isinstance(model, FalsrNet)
    if _is_auto(dtype):
        return torch.bfloat16 if cpu_falsr and native_bf16() else torch.float32
    try:
        run = parse_network_dtype(dtype)
    except ValueError:
        raise ValueError(f"dtype must be 'auto', 'float32' or 'bfloat16' (also 'fp32', "
                         f"'bf16'), got {dtype!r}") from None
    if run == torch.bfloat16 and cpu_falsr and not native_bf16():
        from falsr_ext._extension import load_extension

        _warn_emulated_once(load_extension().cpu_isa())
    return run
