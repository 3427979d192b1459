"""The fused engine on a CUDA GPU: the same :class:`~falsr_ext.engine.plan.Plan` as the CPU
engine, run through the CUDA kernels of ``torch.ops.falsr`` (``cell_conv``,
``inverted_bottleneck``, ``subpixel_conv``; csrc/cuda) on NHWC buffers in GPU memory.

Asking for it where it cannot run raises :class:`~falsr_ext.errors.ExtensionError` (no
CUDA kernels in the build) or :class:`~falsr_ext.errors.FalsrError` (no GPU): it never
runs on the CPU instead.
"""

from __future__ import annotations

import dataclasses
import threading
import weakref

import torch
from torch import Tensor

from falsr_ext._extension import cuda_built
from falsr_ext.engine.cache import weights_signature
from falsr_ext.engine.plan import BottleneckStep, ConvStep, Plan, TailStep, build_plan
from falsr_ext.engine.runner import BufferPools, check_engine_input, run_plan
from falsr_ext.errors import ExtensionError, FalsrError
from falsr_ext.models.falsr_net import FalsrNet

CUDA_DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
}


def parse_cuda_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """float32, bfloat16 or float16 (CUDA only) from a name or the dtype itself."""
    if isinstance(dtype, torch.dtype) and dtype in CUDA_DTYPES.values():
        return dtype
    if isinstance(dtype, str) and dtype.lower() in CUDA_DTYPES:
        return CUDA_DTYPES[dtype.lower()]
    raise ValueError(
        f"CUDA engine dtype must be 'float32', 'bfloat16' or 'float16', got {dtype!r}"
    )


def require_cuda_engine(device: str | torch.device = "cuda") -> torch.device:
    """The CUDA device to run on, or a clear error saying why the GPU engine cannot run.

    Raises ExtensionError when falsr_ext._C was built without its CUDA kernels and
    FalsrError when torch sees no CUDA GPU (or ``device`` is not a CUDA device).
    """
    dev = torch.device(device)
    if dev.type != "cuda":
        raise FalsrError(f"the CUDA engine needs a CUDA device, got {str(device)!r}")
    if not cuda_built():
        raise ExtensionError(
            "falsr_ext._C was built without its CUDA kernels (torch "
            f"{torch.__version__}, CUDA {torch.version.cuda or 'none'}), so device='cuda' "
            "cannot run the fused engine. On a machine with a CUDA torch and nvcc, rebuild "
            "with: FORCE_CUDA=1 python -m pip install --no-build-isolation -e . "
            "(or use device='cpu')"
        )
    if not torch.cuda.is_available():
        raise FalsrError(
            f"device {str(device)!r} requested but torch sees no CUDA GPU; use device='cpu'"
        )
    if dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())
    if dev.index >= torch.cuda.device_count():
        raise FalsrError(
            f"device {str(device)!r} requested but only {torch.cuda.device_count()} CUDA "
            "device(s) are visible"
        )
    return dev


def _on(t: Tensor | None, device: torch.device, dtype: torch.dtype | None = None
        ) -> Tensor | None:
    if t is None:
        return None
    return t.to(device=device, dtype=dtype or t.dtype).contiguous()


def _step_on(step, device: torch.device):
    """The step with its parameters on ``device``. Conv weights become fp32 (exact for the
    plan's bf16 / fp16 weights, and what the kernels read: no per-call conversion)."""
    f32 = torch.float32
    if isinstance(step, ConvStep):
        return dataclasses.replace(step, weight=_on(step.weight, device, f32),
                                   bias=_on(step.bias, device, f32))
    if isinstance(step, BottleneckStep):
        ws = tuple(_on(t, device, f32) for t in step.weights)
        return dataclasses.replace(step, weights=ws)
    if isinstance(step, TailStep):
        return dataclasses.replace(step, weight=_on(step.weight, device),
                                   bias=_on(step.bias, device))
    return step


class CudaEngine:
    """A FALSR network compiled for the CUDA ops. ``engine(x)`` with ``x`` [N, C, H, W]
    float (any device) returns [N, C, sH, sW] float32 on the engine's GPU.

    ``dtype``: "float32" (matches the module to ~1e-5), "bfloat16" or "float16" (the
    cells' activations in 16 bits, F / fusion / tail in fp32, every accumulation fp32).
    float16 needs a plan builder that accepts it (see the engine's plan). The weights are
    copied at compile time: recompile after changing the model.

    Safe to call from several threads: each running call has its own buffers, and a
    buffer set is only reused on the CUDA stream it was made on (see
    :class:`~falsr_ext.engine.runner.BufferPools`).
    """

    def __init__(self, model: FalsrNet, dtype: str | torch.dtype = "float32",
                 device: str | torch.device = "cuda", fuse_ib: str = "auto") -> None:
        if not isinstance(model, FalsrNet):
            raise TypeError(f"CudaEngine expects a FalsrNet, got {type(model).__name__}")
        self.device = require_cuda_engine(device)
        self.dtype = parse_cuda_dtype(dtype)
        plan = build_plan(model.eval(), self.dtype, fuse_ib)
        self.plan = Plan([_step_on(s, self.device) for s in plan.steps], plan.buffers,
                         plan.in_channels, plan.out_channels, plan.scale, plan.compute_dtype)
        self.scale = model.scale
        self.in_channels = model.in_channels
        self._pools = BufferPools(self.plan, self.device)

    def release(self) -> None:
        """Frees the cached GPU buffers (they are re-made on the next call); buffers of
        calls still running are freed when those calls end."""
        self._pools.release()

    @torch.inference_mode()
    def __call__(self, x: Tensor) -> Tensor:
        check_engine_input(x, self.in_channels)
        n, _, h, w = x.shape
        with torch.cuda.device(self.device), self._pools.checkout(n, h, w) as bufs:
            bufs["x"] = x.to(self.device, torch.float32).contiguous(
                memory_format=torch.channels_last)
            return run_plan(self.plan, bufs)


_CACHE: weakref.WeakKeyDictionary[FalsrNet, dict[tuple, tuple[tuple, CudaEngine]]] = (
    weakref.WeakKeyDictionary()
)
_COMPILE_LOCK = threading.Lock()


def cuda_engine_for(model: FalsrNet, dtype: str | torch.dtype = "float32",
                    device: str | torch.device = "cuda") -> CudaEngine:
    """The cached :class:`CudaEngine` of ``model`` in ``dtype`` on ``device``, compiled on
    first use or after the weights changed (as :func:`falsr_ext.engine.cache.engine_for`)."""
    dev = require_cuda_engine(device)
    key = (parse_cuda_dtype(dtype), dev)
    hit = _CACHE.get(model, {}).get(key)
    if hit is not None and hit[0] == weights_signature(model):
        return hit[1]
    with _COMPILE_LOCK:  # threads that miss together compile once
        entries = _CACHE.setdefault(model, {})
        sig = weights_signature(model)
        hit = entries.get(key)
        if hit is None or hit[0] != sig:
            hit = (sig, CudaEngine(model, key[0], dev))
            entries[key] = hit
    return hit[1]


def compile_cuda_engine(model: FalsrNet, dtype: str | torch.dtype = "float32",
                        device: str | torch.device = "cuda", fuse_ib: str = "auto"
                        ) -> CudaEngine:
    """Compile ``model`` (a FalsrNet on any device) into a :class:`CudaEngine`."""
    return CudaEngine(model, dtype, device, fuse_ib)
