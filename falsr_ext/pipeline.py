"""The FALSR colour pipeline: the network on analog luma, PIL-bicubic chroma.

This is the official release's evaluation path (``falsr-reference.md``, protocol steps
2-4): Y of ``rgb2ypbpr(lr / 255)`` into the network, Pb/Pr from a PIL bicubic upscale of
the LR RGB, then fixed YCbCr -> RGB maths, clipped and truncated to uint8.
"""

from __future__ import annotations

import numpy as np
import torch

from falsr_ext.data.colour import falsr_compose_rgb, pil_bicubic_upscale, rgb_to_ypbpr
from falsr_ext.models.falsr_net import FalsrNet


def run_network(model: FalsrNet, planes: np.ndarray, dtype: torch.dtype = torch.float32
                ) -> np.ndarray:
    """Raw network output (float32, unclipped) for LR planes in [0, 1].

    ``planes`` is HxW (luma model) or CxHxW (RGB model); the result is sHxsW or CxsHxsW.
    The one place evaluation and :func:`falsr_ext.upscale` run a network: the seam the
    fused inference engine will replace. ``torch.bfloat16`` runs the module under
    ``torch.autocast`` (PyTorch's plain bf16).
    """
    x = torch.from_numpy(np.ascontiguousarray(planes, dtype=np.float32))
    x = x[None, None] if x.dim() == 2 else x[None]
    param = next(model.parameters())
    with torch.inference_mode(), torch.autocast(
        param.device.type, dtype=torch.bfloat16, enabled=dtype == torch.bfloat16
    ):
        out = model(x.to(param.device, param.dtype))
    out = out[0].float().cpu().numpy()
    return out[0] if planes.ndim == 2 else out


def upscale_rgb_falsr(model: FalsrNet, lr_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Upscale a uint8 RGB image; returns (SR uint8 RGB, raw float32 network output)."""
    if model.in_channels == 3:
        out = run_network(model, (lr_rgb.astype(np.float32) / 255.0).transpose(2, 0, 1))
        out = out.transpose(1, 2, 0)
        return np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8), out
    ypbpr = rgb_to_ypbpr(lr_rgb.astype(np.float64) / 255.0)
    y_hr = run_network(model, ypbpr[..., 0])
    up = pil_bicubic_upscale(lr_rgb, model.scale)
    pbpr = rgb_to_ypbpr(up.astype(np.float64) / 255.0)[..., 1:]
    return falsr_compose_rgb(y_hr, pbpr), y_hr
