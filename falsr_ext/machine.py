"""What a measurement ran on: the CPU's model name, its vector-ISA flags, the level our
kernels use, and the torch threads (every result file names its machine)."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any

# The flags that decide which of our kernels (and oneDNN's) can run.
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16")


def _cpuinfo_field(name: str) -> str | None:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return None
    return next((ln.split(":", 1)[1].strip() for ln in lines if ln.startswith(name)), None)


def cpu_name() -> str:
    """The CPU's model name (``/proc/cpuinfo``, else ``platform``)."""
    return _cpuinfo_field("model name") or platform.processor() or platform.machine()


def cpu_isa_flags() -> list[str]:
    """The ISA_FLAGS this CPU reports (empty where /proc/cpuinfo is missing)."""
    flags = set((_cpuinfo_field("flags") or "").split())
    return [f for f in ISA_FLAGS if f in flags]


def describe_cpu() -> str:
    """``"<model name> (<isa flags>)"`` for tables and result files."""
    flags = cpu_isa_flags()
    return f"{cpu_name()} ({', '.join(flags)})" if flags else cpu_name()


def machine_info() -> dict[str, Any]:
    """A JSON-ready record of the machine a measurement ran on."""
    import torch

    from falsr_ext import _C

    return {"cpu": cpu_name(), "isa_flags": cpu_isa_flags(),
            "kernel_isa": _C.cpu_isa(), "kernel_isa_available": _C.cpu_isa_available(),
            "logical_cpus": os.cpu_count(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads()}
