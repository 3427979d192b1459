"""The image kinds ``upscale`` accepts, as one HxWxC numpy array and back.

A PIL image (L, LA, RGB, RGBA, I;16*, F), a numpy array (HxW, HxWxC or, told so, CxHxW)
or a torch tensor (CxHxW or HxW, any device) becomes a validated HxWxC array (C 1..4;
uint8, uint16 or float in [0, 1]) plus a function that turns the upscaled array back
into the caller's kind, mode, dtype, layout and device.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from PIL import Image

from falsr_ext.errors import ImageError

_PIL_MODES = ("L", "LA", "RGB", "RGBA", "I;16", "I;16L", "I;16B", "I;16N", "F")
_PIL_I16 = {"I;16": "<u2", "I;16L": "<u2", "I;16B": ">u2", "I;16N": "=u2"}


def _check_array(arr: np.ndarray, what: str) -> np.ndarray:
    """Validate an HxWxC array (C 1..4; uint8, uint16 or float in [0, 1])."""
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4):
        raise ImageError(
            f"upscale: {what} must be HxW or HxWxC with C in 1 (grey), 2 (grey+alpha), "
            f"3 (RGB) or 4 (RGBA); got shape {arr.shape}"
        )
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ImageError(f"upscale: {what} is empty ({arr.shape[0]}x{arr.shape[1]} px)")
    if arr.dtype in (np.uint8, np.uint16):
        return arr
    if arr.dtype.kind != "f":
        raise ImageError(
            f"upscale: {what} has dtype {arr.dtype}; need uint8, uint16 or float in [0, 1]"
        )
    if not np.isfinite(arr).all():
        raise ImageError(f"upscale: {what} has NaN or infinite values")
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0.0 or hi > 1.0:
        raise ImageError(
            f"upscale: float {what} must be in [0, 1], got values in [{lo:g}, {hi:g}]"
            + (" (divide 0..255 data by 255)" if hi > 1.0 else "")
        )
    return arr


def _from_pil(img: Image.Image) -> tuple[np.ndarray, Callable[[np.ndarray], Any]]:
    mode = img.mode
    if mode not in _PIL_MODES:
        raise ImageError(
            f"upscale: unsupported PIL mode {mode!r} (supported: {', '.join(_PIL_MODES)}); "
            "convert it first, e.g. img.convert('RGB')"
        )
    arr = np.asarray(img)
    if mode in _PIL_I16:
        arr = arr.astype(np.uint16)
    arr = _check_array(arr[:, :, None] if arr.ndim == 2 else arr, f"PIL image ({mode})")
    raw_dtype = _PIL_I16.get(mode, "=f4" if mode == "F" else "u1")

    def restore(out: np.ndarray) -> Image.Image:
        data = np.ascontiguousarray(out.astype(raw_dtype)).tobytes()
        return Image.frombytes(mode, (out.shape[1], out.shape[0]), data)

    return arr, restore


def _from_numpy(arr: np.ndarray, layout: str | None
                ) -> tuple[np.ndarray, Callable[[np.ndarray], Any]]:
    if arr.ndim == 2:
        return _check_array(arr[:, :, None], "array"), lambda out: out[:, :, 0]
    if arr.ndim == 3 and layout is None:
        layout = _guess_layout(arr.shape)
    if arr.ndim == 3 and layout == "CHW":
        return (_check_array(arr.transpose(1, 2, 0), f"array of shape {arr.shape} (CxHxW)"),
                lambda out: np.ascontiguousarray(out.transpose(2, 0, 1)))
    return _check_array(arr, "array"), lambda out: out


_CHANNELS = (1, 2, 3, 4)


def _guess_layout(shape: tuple[int, ...]) -> str:
    """HWC, numpy's image layout, unless only CHW fits; an array that fits both (a
    3x40x3 array: 3x40 px RGB, or 40x3 px RGB?) must be told (``layout=``)."""
    hwc, chw = shape[2] in _CHANNELS, shape[0] in _CHANNELS
    if hwc and chw:
        raise ImageError(
            f"upscale: an array of shape {shape} is ambiguous: {shape[0]}x{shape[1]} px with "
            f"{shape[2]} channels (HxWxC) or {shape[1]}x{shape[2]} px with {shape[0]} "
            f"channels (CxHxW); say which with layout='HWC' or layout='CHW'")
    if chw:
        raise ImageError(
            f"upscale: numpy arrays are read as HxWxC with C in 1..4, got shape {shape}; "
            f"for a CxHxW array pass layout='CHW' (or arr.transpose(1, 2, 0))")
    return "HWC"


def _from_tensor(t: torch.Tensor) -> tuple[np.ndarray, Callable[[np.ndarray], Any]]:
    shape = list(t.shape)
    if t.dim() not in (2, 3):
        raise ImageError(f"upscale: a tensor must be CxHxW or HxW (no batch), got shape {shape}")
    if t.dtype != torch.uint8 and not t.dtype.is_floating_point:
        raise ImageError(f"upscale: tensor dtype {t.dtype}; need uint8 or float in [0, 1]")
    if t.device.type == "meta":
        raise ImageError(f"upscale: a tensor on the meta device (shape {shape}) has no pixels; "
                         f"pass one with data")
    if t.layout != torch.strided:
        raise ImageError(f"upscale: a {t.layout} tensor; pass a dense one (t.to_dense())")
    if t.dim() == 3 and t.shape[0] not in _CHANNELS:
        hint = (": it looks like HxWxC, pass t.permute(2, 0, 1)"
                if t.shape[2] in _CHANNELS else "")
        raise ImageError(f"upscale: a tensor must be CxHxW with C in 1 (grey), 2 (grey+alpha), "
                         f"3 (RGB) or 4 (RGBA), got shape {shape}{hint}")
    dtype, device, flat = t.dtype, t.device, t.dim() == 2
    x = t.detach().to("cpu")
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    arr = x.numpy()
    arr = arr[:, :, None] if flat else arr.transpose(1, 2, 0)
    arr = _check_array(arr, f"tensor of shape {shape} (CxHxW)")

    def restore(out: np.ndarray) -> torch.Tensor:
        res = torch.from_numpy(np.ascontiguousarray(out))
        res = res[:, :, 0] if flat else res.permute(2, 0, 1).contiguous()
        return res.to(device=device, dtype=dtype)

    return arr, restore


def as_array(image: Any, layout: str | None = None
             ) -> tuple[np.ndarray, Callable[[np.ndarray], Any]]:
    """HxWxC numpy view of ``image`` and the function turning the result back."""
    if layout is not None and (not isinstance(image, np.ndarray) or layout not in ("HWC", "CHW")):
        raise ValueError(f"layout is 'HWC' or 'CHW' and only for numpy arrays, got {layout!r} "
                         f"with a {type(image).__name__}")
    if isinstance(image, Image.Image):
        return _from_pil(image)
    if isinstance(image, torch.Tensor):
        return _from_tensor(image)
    if isinstance(image, np.ndarray):
        return _from_numpy(image, layout)
    raise ImageError(
        f"upscale: need a PIL image, a numpy array or a torch tensor, got {type(image).__name__}"
    )
