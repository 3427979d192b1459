"""Colour conversions of the FALSR evaluation protocol (float64, no skimage/cv2).

Two different BT.601 flavours are involved: the network sees *analog* luma (skimage's
``rgb2ypbpr``, [0, 1]) while the metrics use MATLAB's *studio-range* Y (16..235).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from falsr_ext.errors import ImageError

# skimage.color's ypbpr_from_rgb, to the digit, so network inputs match the official ones.
YPBPR_FROM_RGB = np.array(
    [
        [0.299, 0.587, 0.114],
        [-0.168736, -0.331264, 0.5],
        [0.5, -0.418688, -0.081312],
    ]
)
RGB_FROM_YPBPR = np.linalg.inv(YPBPR_FROM_RGB)

# skimage/MATLAB rgb2ycbcr for RGB in [0, 1]: out = offset + M @ rgb, on the 0..255 scale.
YCBCR_FROM_RGB = np.array(
    [
        [65.481, 128.553, 24.966],
        [-37.797, -74.203, 112.0],
        [112.0, -93.786, -18.214],
    ]
)
YCBCR_OFFSET = np.array([16.0, 128.0, 128.0])


def _float_rgb(rgb: np.ndarray, name: str) -> np.ndarray:
    """Validate a float HxWx3 array and return it as float64."""
    arr = np.asarray(rgb)
    if arr.ndim < 1 or arr.shape[-1] != 3:
        raise ImageError(f"{name}: need ...x3 channels, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise ImageError(f"{name}: need float input in [0, 1], got dtype {arr.dtype}")
    return arr.astype(np.float64, copy=False)


def rgb_to_ypbpr(rgb: np.ndarray) -> np.ndarray:
    """Analog BT.601 Y'PbPr of float RGB in [0, 1] (exactly ``skimage.color.rgb2ypbpr``).

    Y is in [0, 1], Pb and Pr in [-0.5, 0.5]; the last axis holds the channels.
    """
    return _float_rgb(rgb, "rgb_to_ypbpr") @ YPBPR_FROM_RGB.T


def ypbpr_to_rgb(ypbpr: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_ypbpr` (``skimage.color.ypbpr2rgb``), not clipped."""
    return _float_rgb(ypbpr, "ypbpr_to_rgb") @ RGB_FROM_YPBPR.T


def _unit_rgb(img: np.ndarray, name: str) -> np.ndarray:
    """RGB in [0, 1] as float64 from 0..255 values; greyscale becomes 3 equal channels."""
    arr = np.asarray(img)
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 1):
        arr = np.repeat(arr.reshape(arr.shape[0], arr.shape[1], 1), 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ImageError(f"{name}: need HxW or HxWx3, got shape {arr.shape}")
    # Multiply by 1/255 (not divide) as skimage's img_as_float does: same float bits.
    return np.multiply(arr, 1.0 / 255.0, dtype=np.float64)


def rgb_to_ycbcr_studio(img: np.ndarray) -> np.ndarray:
    """Studio-range Y, Cb, Cr (``skimage.color.rgb2ycbcr``, MATLAB's ``rgb2ycbcr``).

    Input: uint8 (or 0..255 float) HxWx3 RGB, or greyscale (3 equal channels).
    Output: HxWx3 float64 on the 0..255 scale (Y in 16..235), not rounded.
    """
    return _unit_rgb(img, "rgb_to_ycbcr_studio") @ YCBCR_FROM_RGB.T + YCBCR_OFFSET


def rgb_to_y_studio(img: np.ndarray) -> np.ndarray:
    """Studio luma ``16 + 65.481 R + 128.553 G + 24.966 B`` with R, G, B = uint8 / 255.

    HxW float64, not rounded (the metrics round). Computed through the full matrix, as
    the official script's ``skimage.color.rgb2ycbcr`` does, so ties round the same way.
    """
    return rgb_to_ycbcr_studio(img)[:, :, 0]


def ycbcr_studio_to_rgb(ycbcr: np.ndarray) -> np.ndarray:
    """Exact inverse of :func:`rgb_to_ycbcr_studio`: RGB on 0..255, float64, not clipped."""
    arr = np.asarray(ycbcr, dtype=np.float64)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ImageError(f"ycbcr_studio_to_rgb: need HxWx3, got shape {arr.shape}")
    return 255.0 * ((arr - YCBCR_OFFSET) @ np.linalg.inv(YCBCR_FROM_RGB).T)


def falsr_compose_rgb(y_hr: np.ndarray, pbpr: np.ndarray) -> np.ndarray:
    """Step 4 of the official protocol: network luma + upscaled chroma -> uint8 RGB.

    ``y_hr`` is HxW (or HxWx1) analog luma in about [0, 1], unclipped network output;
    ``pbpr`` is HxWx2 (Pb, Pr). The official script uses JPEG-style constants here (not
    the inverse of the Y'PbPr matrix) and *truncates* after clipping; both are kept,
    since they move PSNR by up to 0.09 dB.
    """
    y = np.asarray(y_hr, dtype=np.float64)
    if y.ndim == 3 and y.shape[2] == 1:
        y = y[:, :, 0]
    c = np.asarray(pbpr, dtype=np.float64)
    if y.ndim != 2 or c.shape != y.shape + (2,):
        raise ImageError(
            f"falsr_compose_rgb: need HxW luma and HxWx2 chroma, got {y.shape} and {c.shape}"
        )
    y_full = 255.0 * y
    cb = 255.0 * (c[:, :, 0] + 0.5) - 128.0
    cr = 255.0 * (c[:, :, 1] + 0.5) - 128.0
    r = y_full + 1.402 * cr
    g = y_full - 0.34414 * cb - 0.71414 * cr
    b = y_full + 1.772 * cb
    rgb = np.clip(np.stack([r, g, b], axis=2), 0.0, 255.0)
    return rgb.astype(np.uint8)  # truncation, as the official script does


def pil_bicubic_upscale(img: np.ndarray, scale: int) -> np.ndarray:
    """Upscale uint8 HxW, HxWx1 or HxWx3 by ``scale`` with PIL's BICUBIC, as the protocol does.

    The output keeps the input's channel layout.
    """
    arr = np.asarray(img)
    if int(scale) != scale or scale < 1:
        raise ValueError(f"pil_bicubic_upscale: scale must be a positive integer, got {scale}")
    if arr.dtype != np.uint8:
        raise ImageError(f"pil_bicubic_upscale: need uint8, got dtype {arr.dtype}")
    squeeze = arr.ndim == 3 and arr.shape[2] == 1
    plane = arr[:, :, 0] if squeeze else arr
    if plane.ndim not in (2, 3) or (plane.ndim == 3 and plane.shape[2] != 3) or plane.size == 0:
        raise ImageError(f"pil_bicubic_upscale: need HxW, HxWx1 or HxWx3, got shape {arr.shape}")
    h, w = plane.shape[:2]
    s = int(scale)
    up = Image.fromarray(np.ascontiguousarray(plane)).resize(
        (w * s, h * s), Image.Resampling.BICUBIC
    )
    out = np.asarray(up)
    return out[:, :, None] if squeeze else out
