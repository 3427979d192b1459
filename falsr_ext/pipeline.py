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


@torch.inference_mode()
def run_luma(model: FalsrNet, y: np.ndarray) -> np.ndarray:
    """Raw network output (float32 HxW, unclipped) for an LR luma plane in [0, 1]."""
    x = torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))[None, None]
    param = next(model.parameters())
    out = model(x.to(param.device, param.dtype))
    return out[0, 0].float().cpu().numpy()


def upscale_rgb_falsr(model: FalsrNet, lr_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Upscale a uint8 RGB image; returns (SR uint8 RGB, raw float32 network luma)."""
    scale = model.scale
    if model.in_channels == 3:
        x = torch.from_numpy(lr_rgb.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
        with torch.inference_mode():
            out = model(x)[0].permute(1, 2, 0).numpy()
        sr = np.clip(np.round(out * 255.0), 0, 255).astype(np.uint8)
        return sr, out
    ypbpr = rgb_to_ypbpr(lr_rgb.astype(np.float64) / 255.0)
    y_hr = run_luma(model, ypbpr[..., 0])
    up = pil_bicubic_upscale(lr_rgb, scale)
    pbpr = rgb_to_ypbpr(up.astype(np.float64) / 255.0)[..., 1:]
    return falsr_compose_rgb(y_hr, pbpr), y_hr
