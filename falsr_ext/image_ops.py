"""Image ops of the upscale path (``torch.ops.falsr.*``, CPU): colour and PIL bicubic.

* :func:`rgb_to_luma`: the network's input, analog luma Y of ``rgb2ypbpr`` (float32);
* :func:`compose_rgb`: network luma + Pillow-bicubic chroma of the LR image -> RGB in one
  pass (no HR chroma plane), rounded / clipped to the LR image's dtype;
* :func:`pil_bicubic_upscale`: ``Image.resize(..., BICUBIC)`` for any channel count.

Images are HxWxC tensors (numpy's layout; ``torch.from_numpy`` views work, an RGBA
image's RGB is read in place). Each op has a numpy / PIL ``*_reference``: the code the
FALSR pipeline ran before, which the tests hold the ops to (uint8 bit for bit, float to
1e-6). Importing this module loads ``falsr_ext._C``.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from PIL import Image
from torch import Tensor

from falsr_ext._extension import load_extension
from falsr_ext.data import colour
from falsr_ext.data.colour import falsr_compose_rgb, rgb_to_ypbpr, ypbpr_to_rgb

load_extension()  # registers torch.ops.falsr.*; ExtensionError if not built

__all__ = [
    "compose_rgb",
    "from_numpy",
    "compose_rgb_reference",
    "pil_bicubic_upscale",
    "pil_bicubic_upscale_reference",
    "rgb_to_luma",
    "rgb_to_luma_reference",
]

IMAGE_DTYPES = (torch.uint8, torch.uint16, torch.float32, torch.float64)


def from_numpy(arr: np.ndarray) -> Tensor:
    """``torch.from_numpy`` without its warning for read-only arrays (``np.asarray`` of a
    PIL image): the image ops never write to their inputs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(arr)


def rgb_to_luma(rgb: Tensor) -> Tensor:
    """Analog luma Y of an HxWxC (C >= 3, first three are R, G, B) image, HxW float32.

    Samples are scaled to [0, 1] in double (uint8 / 255, uint16 / 65535, float as is)
    and ``Y = 0.299 R + 0.587 G + 0.114 B`` (``skimage.color.rgb2ypbpr``) is rounded to
    float32: exactly the luma the FALSR network is given.
    """
    return torch.ops.falsr.rgb_to_luma.default(rgb)


def compose_rgb(y: Tensor, lr: Tensor, scale: int, top: int = 0, left: int = 0) -> Tensor:
    """RGB from network luma ``y`` (Ho x Wo float32) and the chroma of ``lr`` upscaled.

    ``lr`` is the HxWxC (C >= 3) LR image; its Pillow-bicubic x``scale`` upscale is taken
    in the window of ``y``'s size at (``top``, ``left``) (a tile's core inside its haloed
    box). Returns Ho x Wo x 3 of ``lr``'s dtype:

    * uint8: the official protocol bit for bit (8-bit Pillow chroma, JPEG-constant
      recomposition, clip, truncation), i.e. ``falsr_compose_rgb``;
    * uint16 / float: Pillow mode ``"F"`` chroma clipped to [0, 1] after each pass, the
      exact inverse Y'PbPr matrix, clipped to [0, 1] (uint16 rounded half to even).
    """
    return torch.ops.falsr.compose_rgb.default(y, lr, scale, top, left)


def pil_bicubic_upscale(x: Tensor, scale: int, clip_unit: bool = False) -> Tensor:
    """Pillow's ``resize((W*s, H*s), BICUBIC)`` of an HxWxC uint8 or float32 image.

    uint8 is Pillow's 8-bit path bit for bit; float32 its mode ``"F"`` (double sums,
    float32 results), with ``clip_unit`` clamping each pass's result to [0, 1].
    """
    return torch.ops.falsr.pil_bicubic_upscale.default(x, scale, clip_unit)


# --- fake (meta) kernels ------------------------------------------------------------------


def _check_image(x: Tensor, op: str, min_channels: int) -> None:
    torch._check(
        x.dim() == 3 and x.shape[2] >= min_channels,
        lambda: f"falsr::{op}: expected an HxWxC image (C >= {min_channels}), got {x.shape}",
    )
    torch._check(x.shape[0] >= 1 and x.shape[1] >= 1,
                 lambda: f"falsr::{op}: the image is empty (shape {tuple(x.shape)})")


@torch.library.register_fake("falsr::rgb_to_luma")
def _rgb_to_luma_fake(rgb: Tensor) -> Tensor:
    _check_image(rgb, "rgb_to_luma", 3)
    torch._check(rgb.dtype in IMAGE_DTYPES,
                 lambda: f"falsr::rgb_to_luma: unsupported dtype {rgb.dtype}")
    return rgb.new_empty((rgb.shape[0], rgb.shape[1]), dtype=torch.float32)


@torch.library.register_fake("falsr::compose_rgb")
def _compose_rgb_fake(y: Tensor, lr: Tensor, scale: int, top: int = 0, left: int = 0
                      ) -> Tensor:
    _check_image(lr, "compose_rgb", 3)
    torch._check(lr.dtype in IMAGE_DTYPES,
                 lambda: f"falsr::compose_rgb: unsupported dtype {lr.dtype}")
    torch._check(y.dim() == 2 and y.dtype == torch.float32,
                 lambda: "falsr::compose_rgb: expected HxW float32 luma")
    torch._check(scale >= 1, lambda: f"falsr::compose_rgb: scale must be >= 1, got {scale}")
    torch._check(top >= 0 and left >= 0 and top + y.shape[0] <= lr.shape[0] * scale
                 and left + y.shape[1] <= lr.shape[1] * scale,
                 lambda: "falsr::compose_rgb: the luma window exceeds the upscaled image")
    return lr.new_empty((y.shape[0], y.shape[1], 3))


@torch.library.register_fake("falsr::pil_bicubic_upscale")
def _pil_bicubic_upscale_fake(x: Tensor, scale: int, clip_unit: bool = False) -> Tensor:
    _check_image(x, "pil_bicubic_upscale", 1)
    torch._check(x.dtype in (torch.uint8, torch.float32),
                 lambda: f"falsr::pil_bicubic_upscale: unsupported dtype {x.dtype}")
    torch._check(scale >= 1, lambda: "falsr::pil_bicubic_upscale: scale must be >= 1")
    return x.new_empty((x.shape[0] * scale, x.shape[1] * scale, x.shape[2]))


# --- references (the former numpy / PIL pipeline code) -----------------------------------


def unit_reference(arr: np.ndarray) -> np.ndarray:
    """Integer or float image -> float64 in [0, 1], as the pipeline scales it."""
    if arr.dtype == np.uint8:
        return arr.astype(np.float64) / 255.0
    if arr.dtype == np.uint16:
        return arr.astype(np.float64) / 65535.0
    return arr.astype(np.float64)


def rgb_to_luma_reference(rgb: np.ndarray) -> np.ndarray:
    """``rgb_to_ypbpr(unit(rgb[..., :3]))[..., 0]`` as float32 (the network input)."""
    return rgb_to_ypbpr(unit_reference(rgb[:, :, :3]))[:, :, 0].astype(np.float32)


def pil_bicubic_upscale_reference(x: np.ndarray, scale: int, clip_unit: bool = False
                                  ) -> np.ndarray:
    """PIL per channel: uint8 mode ``"L"``; float32 mode ``"F"``, one pass per axis."""
    h, w, c = x.shape
    out = np.empty((h * scale, w * scale, c), dtype=x.dtype)
    for ch in range(c):
        plane = np.ascontiguousarray(x[:, :, ch])
        if x.dtype == np.uint8:
            out[:, :, ch] = colour.pil_bicubic_upscale(plane, scale)
            continue
        wide = np.asarray(Image.fromarray(plane, "F").resize((w * scale, h),
                                                             Image.Resampling.BICUBIC))
        if clip_unit:
            wide = np.clip(wide, 0, 1)
        tall = np.asarray(Image.fromarray(np.ascontiguousarray(wide), "F").resize(
            (w * scale, h * scale), Image.Resampling.BICUBIC))
        out[:, :, ch] = np.clip(tall, 0, 1) if clip_unit else tall
    return out


def _from_unit(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if dtype == np.uint16:
        return np.clip(np.round(x * 65535.0), 0, 65535).astype(np.uint16)
    return np.clip(x, 0.0, 1.0).astype(dtype)


def compose_rgb_reference(y: np.ndarray, lr: np.ndarray, scale: int, top: int = 0,
                          left: int = 0) -> np.ndarray:
    """The former numpy path: full PIL chroma upscale, float64 colour maths, cropped."""
    rgb = lr[:, :, :3]
    if lr.dtype == np.uint8:
        up = colour.pil_bicubic_upscale(np.ascontiguousarray(rgb), scale)
    else:
        up = pil_bicubic_upscale_reference(unit_reference(rgb).astype(np.float32), scale,
                                           clip_unit=True)
    up = up[top:top + y.shape[0], left:left + y.shape[1]]
    if lr.dtype == np.uint8:
        return falsr_compose_rgb(y, rgb_to_ypbpr(up.astype(np.float64) / 255.0)[:, :, 1:])
    ypbpr = rgb_to_ypbpr(up.astype(np.float64))
    ypbpr[:, :, 0] = y
    return _from_unit(ypbpr_to_rgb(ypbpr), lr.dtype)
