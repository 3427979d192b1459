"""The FALSR colour pipeline: the network on analog luma, PIL-bicubic chroma.

This is the official release's evaluation path (``falsr-reference.md``, protocol steps
2-4): Y of ``rgb2ypbpr(lr / 255)`` into the network, Pb/Pr from a PIL bicubic upscale of
the LR RGB, then fixed YCbCr -> RGB maths, clipped and truncated to uint8. The colour
steps run as the compiled ops of :mod:`falsr_ext.image_ops` (bit for bit the numpy / PIL
code they replaced, which ``image_ops`` keeps as their references).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from falsr_ext.errors import FalsrError, ImageError
from falsr_ext.models.falsr_net import FalsrNet


def run_network(model: FalsrNet, planes: np.ndarray, dtype: torch.dtype = torch.float32,
                engine: bool | None = None) -> np.ndarray:
    """Raw network output (float32, unclipped) for LR planes in [0, 1].

    ``planes`` is HxW (luma model) or CxHxW (RGB model); the result is sHxsW or CxsHxsW.
    The one place evaluation and :func:`falsr_ext.upscale` run a network.

    On the CPU it runs the fused engine (:mod:`falsr_ext.engine`; compiled once per model
    and dtype, recompiled when the weights change): float32 equals the module within
    1e-5, bfloat16 runs the cells in bf16 with fp32 accumulation. A model on a CUDA
    device runs the same plan through the CUDA kernels (:mod:`falsr_ext.engine.cuda`;
    ExtensionError if the extension was built without them). ``engine=False`` (or a
    model on another device) runs the ``nn.Module`` instead, bf16 under
    ``torch.autocast`` (PyTorch's plain bf16).

    Thread-safe: threads sharing one model share its compiled engine, and each running
    call gets its own buffers, so results are bit for bit the single-threaded ones.
    """
    if dtype not in (torch.float32, torch.bfloat16):
        raise ValueError(f"run_network: dtype must be float32 or bfloat16, got {dtype}")
    x = torch.from_numpy(np.ascontiguousarray(planes, dtype=np.float32))
    x = x[None, None] if x.dim() == 2 else x[None]
    param = next(model.parameters())
    if not isinstance(model, FalsrNet):
        return _run_other_space(model, x, planes.ndim, dtype)
    if engine is not False and param.device.type == "cpu" and param.dtype == torch.float32:
        from falsr_ext.engine.cache import engine_for

        out = engine_for(model, dtype)(x)
    elif engine is not False and param.device.type == "cuda" and param.dtype == torch.float32:
        from falsr_ext.engine.cuda import cuda_engine_for

        out = cuda_engine_for(model, dtype, param.device)(x)
    else:
        with torch.inference_mode(), torch.autocast(
            param.device.type, dtype=torch.bfloat16, enabled=dtype == torch.bfloat16
        ):
            out = model(x.to(param.device, param.dtype))
    out = out[0].float().cpu().numpy()
    return out[0] if planes.ndim == 2 else out


def _run_other_space(model: nn.Module, x: torch.Tensor, ndim: int,
                     dtype: torch.dtype) -> np.ndarray:
    """A network of another space (DLSR, TPSR: plain module, fp32) on [0, 1] planes; it
    works on its own range (``input_range``, e.g. 0..255), mapped back to [0, 1]."""
    if dtype != torch.float32:
        raise FalsrError(f"bfloat16 runs on the fused engine of FALSR networks; "
                         f"{getattr(model, 'space', 'this')} networks run in float32")
    param = next(model.parameters())
    scale = float(getattr(model, "input_range", 1.0))
    with torch.inference_mode():
        out = model(x.to(param.device, param.dtype) * scale) / scale
    out = out[0].float().cpu().numpy()
    return out[0] if ndim == 2 else out


def upscale_rgb_falsr(model: FalsrNet, lr_rgb: np.ndarray, dtype: torch.dtype = torch.float32
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Upscale a uint8 RGB image; returns (SR uint8 RGB, raw float32 network output).
    ``dtype`` is the network's (see :func:`run_network`)."""
    if model.in_channels == 3:
        out = run_network(model, (lr_rgb.astype(np.float32) / 255.0).transpose(2, 0, 1),
                          dtype)
        out = out.transpose(1, 2, 0)
        return np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8), out
    from falsr_ext.image_ops import compose_rgb, from_numpy, rgb_to_luma  # loads _C

    if lr_rgb.dtype != np.uint8 or lr_rgb.ndim != 3 or lr_rgb.shape[2] != 3:
        raise ImageError(
            f"upscale_rgb_falsr: need a uint8 HxWx3 image, got {lr_rgb.dtype} {lr_rgb.shape}"
        )
    lr = from_numpy(np.ascontiguousarray(lr_rgb))
    y_hr = run_network(model, rgb_to_luma(lr).numpy(), dtype)
    return compose_rgb(torch.from_numpy(y_hr), lr, model.scale).numpy(), y_hr
