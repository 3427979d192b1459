"""The per-tile work of ``upscale``: the network on the tile, colour around it.

Colour follows the FALSR pipeline (:mod:`falsr_ext.pipeline`): the network sees the
analog luma Y of ``rgb2ypbpr``; Pb/Pr come from a PIL bicubic upscale of the LR RGB.

* uint8 RGB(A): exactly the official protocol (JPEG-constant recomposition, clip, then
  *truncation*), so the result equals ``pipeline.upscale_rgb_falsr`` bit for bit.
* The luma, chroma upscale and recomposition run as the compiled ops of
  :mod:`falsr_ext.image_ops` (one fused pass per tile, no HR chroma planes), bit for bit
  the numpy / PIL code they replaced (float: to 1e-15).
* uint16 and float: computed in float (uint16 / 65535); chroma from PIL mode ``"F"``
  bicubic per channel (no 8-bit rounding; overshoot clipped after each pass, as 8-bit
  PIL saturates it), recomposed with the exact inverse Y'PbPr
  matrix, clipped to [0, 1]; uint16 is then rounded, float is returned as float (same
  dtype, no quantisation). Clipping keeps float output in the range the input had to be
  in (and makes it agree with the integer paths up to their quantisation).
* greyscale: the network runs on the grey plane itself (Y = grey), output rounded.
* RGB networks (``in_channels == 3``, e.g. DLSR and TPSR): the network sees the RGB tile
  (grey repeated to RGB, its output's luma kept); no separate chroma path.
* alpha: PIL bicubic (8-bit, or mode ``"F"`` for uint16/float), never through the network.

Chroma and alpha are resized per tile with a :data:`CHROMA_HALO` px halo, so tiles join
seamlessly here too.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from falsr_ext.data.colour import rgb_to_ypbpr
from falsr_ext.image_ops import compose_rgb, from_numpy, pil_bicubic_upscale, rgb_to_luma
from falsr_ext.image_ops import unit_reference as _unit  # the pipeline's [0, 1] scaling
from falsr_ext.pipeline import run_network
from falsr_ext.upscaling.tiling import Tile

# PIL's bicubic upscaling reads LR pixels up to 2 away from an output pixel's centre.
CHROMA_HALO = 2


def _from_unit(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """[0, 1] float -> ``dtype``: clipped; integers rounded to nearest."""
    if dtype == np.uint8:
        return np.clip(np.round(x * 255.0), 0, 255).astype(np.uint8)
    if dtype == np.uint16:
        return np.clip(np.round(x * 65535.0), 0, 65535).astype(np.uint16)
    return np.clip(x, 0.0, 1.0).astype(dtype)


def _view(arr: np.ndarray) -> torch.Tensor:
    """A tensor sharing ``arr``'s memory (the image ops only read their inputs).

    Float dtypes the ops lack (float16, longdouble) go as float64: exact for float16,
    and the result is cast back to the image's dtype as before.
    """
    if arr.dtype.kind == "f" and arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float64)
    return from_numpy(arr)


def _resized(arr: np.ndarray, box: Tile, core: Tile, scale: int, channels: slice) -> np.ndarray:
    """PIL bicubic of ``arr[box][..., channels]`` cropped to the core's HR region.

    uint8 stays uint8 (exactly the pipeline's resize); others become float32 in [0, 1]
    (PIL mode ``"F"``, clipped after each pass as 8-bit PIL saturates).
    """
    src = arr[box.hy0:box.hy1, box.hx0:box.hx1, channels]
    if arr.dtype != np.uint8:
        src = _unit(src).astype(np.float32)
    up = pil_bicubic_upscale(_view(src), scale, clip_unit=arr.dtype != np.uint8).numpy()
    oy, ox = (core.y0 - box.hy0) * scale, (core.x0 - box.hx0) * scale
    return up[oy:oy + (core.y1 - core.y0) * scale, ox:ox + (core.x1 - core.x0) * scale]


def upscale_tile(arr: np.ndarray, out: np.ndarray, t: Tile, net: nn.Module,
                 dtype: torch.dtype) -> None:
    """Compute the HR region of tile ``t`` into ``out``."""
    s = net.scale
    h, w, c = arr.shape
    colour, alpha = c >= 3, c in (2, 4)
    lr = arr[t.hy0:t.hy1, t.hx0:t.hx1]
    oy, ox = (t.y0 - t.hy0) * s, (t.x0 - t.hx0) * s
    ch, cw = (t.y1 - t.y0) * s, (t.x1 - t.x0) * s
    region = out[t.y0 * s:t.y1 * s, t.x0 * s:t.x1 * s]
    chroma_box = t.grown(CHROMA_HALO, h, w)
    if net.in_channels == 3:
        if arr.dtype == np.uint8 and colour:  # the pipeline's float32 scaling
            rgb = lr[:, :, :3].astype(np.float32) / 255.0
        else:
            rgb = _unit(lr[:, :, :3]) if colour else np.repeat(_unit(lr[:, :, :1]), 3, axis=2)
        hr = run_network(net, rgb.transpose(2, 0, 1), dtype)[:, oy:oy + ch, ox:ox + cw]
        hr = hr.transpose(1, 2, 0)
        if colour:
            region[:, :, :3] = _from_unit(hr, arr.dtype)
        else:
            region[:, :, :1] = _from_unit(rgb_to_ypbpr(hr.astype(np.float64))[:, :, :1],
                                          arr.dtype)
    elif colour:
        y_hr = run_network(net, rgb_to_luma(_view(lr)).numpy(), dtype)[oy:oy + ch, ox:ox + cw]
        # Chroma upscale of the haloed box, recomposition and rounding in one pass.
        box = arr[chroma_box.hy0:chroma_box.hy1, chroma_box.hx0:chroma_box.hx1]
        region[:, :, :3] = compose_rgb(_view(y_hr), _view(box), s,
                                       (t.y0 - chroma_box.hy0) * s,
                                       (t.x0 - chroma_box.hx0) * s).numpy()
    else:
        y_hr = run_network(net, _unit(lr[:, :, 0]), dtype)[oy:oy + ch, ox:ox + cw]
        region[:, :, 0] = _from_unit(y_hr.astype(np.float64), arr.dtype)
    if alpha:
        up = _resized(arr, chroma_box, t, s, slice(c - 1, c))
        region[:, :, c - 1:] = up if arr.dtype == np.uint8 else _from_unit(up, arr.dtype)
