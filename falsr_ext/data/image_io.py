"""Reading and writing images as HxWxC numpy arrays, keeping 8/16-bit depth exact."""

from __future__ import annotations

import io
import os
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from falsr_ext.data import _png16
from falsr_ext.errors import ImageError

PathLike = str | os.PathLike[str]

# Pillow modes converted before reading the pixels, to one of L, LA, RGB, RGBA.
_CONVERT = {
    "1": "L",
    "La": "LA",
    "RGBa": "RGBA",
    "RGBX": "RGB",
    "CMYK": "RGB",
    "YCbCr": "RGB",
    "LAB": "RGB",
    "HSV": "RGB",
}
_GREY16 = ("I;16", "I;16L", "I;16B", "I;16N")


def _one_line(exc: BaseException) -> str:
    """An exception's text squeezed onto one line."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _grey_alpha_to_rgba(arr: np.ndarray) -> np.ndarray:
    """Grey+alpha HxWx2 -> RGBA, so callers only ever see 1, 3 or 4 channels."""
    return arr[:, :, [0, 0, 0, 1]]


def _pil_to_array(img: Image.Image, path: Path) -> np.ndarray:
    """Pixels of an opened Pillow image as HxWxC, C in (1, 3, 4)."""
    if img.mode in ("P", "PA"):
        img = img.convert("RGBA" if img.has_transparency_data else "RGB")
    elif img.mode in _CONVERT:
        img = img.convert(_CONVERT[img.mode])
    if img.mode in _GREY16:
        return np.asarray(img).astype(np.uint16)[:, :, None]
    if img.mode == "I":
        arr = np.asarray(img)
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise ImageError(f"{path}: 32-bit integer image with values outside 0..65535")
        return arr.astype(np.uint16)[:, :, None]
    if img.mode == "L":
        return np.asarray(img)[:, :, None]
    if img.mode == "LA":
        return _grey_alpha_to_rgba(np.asarray(img))
    if img.mode in ("RGB", "RGBA"):
        return np.asarray(img)
    raise ImageError(f"{path}: unsupported image mode {img.mode!r}")


def read_image(path: PathLike) -> np.ndarray:
    """Read an image file as an HxWxC array, C in (1, 3, 4), uint8 or uint16.

    Bit depth is preserved: 16-bit PNGs (grey, grey+alpha, RGB, RGBA) give uint16.
    Palette images become RGB (RGBA when they carry transparency); grey+alpha becomes
    RGBA. Raises :class:`ImageError` naming ``path`` for a missing, empty, corrupt,
    truncated or non-image file.
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise ImageError(f"{p}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"{p}: is a directory, not an image file") from None
    except OSError as exc:
        raise ImageError(f"{p}: cannot read ({_one_line(exc)})") from exc
    if not data:
        raise ImageError(f"{p}: empty file (0 bytes)")
    try:
        if _png16.is_wide_colour_png(data):
            arr = _png16.decode(data)
            return _grey_alpha_to_rgba(arr) if arr.shape[2] == 2 else arr
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            return _pil_to_array(img, p)
    except ImageError:
        raise
    except _png16.PngFormatError as exc:
        raise ImageError(f"{p}: {exc}") from exc
    except UnidentifiedImageError:
        raise ImageError(f"{p}: not a recognised image file") from None
    except (
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
        zlib.error,
        Image.DecompressionBombError,
    ) as exc:
        raise ImageError(f"{p}: corrupt or truncated image ({_one_line(exc)})") from exc


def _check_writable(arr: np.ndarray, path: Path) -> np.ndarray:
    """Validate an array for :func:`write_image`; returns it as HxW or HxWxC (C 3/4)."""
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ImageError(
            f"{path}: cannot write an array of shape {arr.shape} (need HxW or HxWxC, C 1/3/4)"
        )
    if arr.size == 0:
        raise ImageError(f"{path}: cannot write an empty image of shape {arr.shape}")
    if arr.dtype not in (np.uint8, np.uint16):
        raise ImageError(f"{path}: cannot write dtype {arr.dtype} (need uint8 or uint16)")
    return arr


def write_image(path: PathLike, array: np.ndarray) -> None:
    """Write a uint8 or uint16 HxW / HxWxC (C in 1, 3, 4) array as an image file.

    uint8 goes through Pillow (format from the extension); uint16 must go to ``.png``
    and is written by our own encoder, since Pillow cannot write 16-bit colour PNGs.
    Both round-trip exactly through :func:`read_image`. Raises :class:`ImageError`.
    """
    p = Path(path)
    arr = _check_writable(np.asarray(array), p)
    try:
        if arr.dtype == np.uint16:
            if p.suffix.lower() != ".png":
                raise ImageError(f"{p}: 16-bit images can only be written as .png")
            p.write_bytes(_png16.encode(arr))
        else:
            Image.fromarray(np.ascontiguousarray(arr)).save(p)
    except ImageError:
        raise
    except (OSError, ValueError, KeyError) as exc:
        raise ImageError(f"{p}: cannot write image ({_one_line(exc)})") from exc


def to_rgb(array: np.ndarray) -> np.ndarray:
    """Three-channel view of an image, as the evaluation protocol reads images.

    Greyscale (HxW, HxWx1) becomes 3 equal channels; grey+alpha keeps the grey; RGBA
    drops alpha without compositing (benchmark images have none). dtype is kept.
    """
    arr = np.asarray(array)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 2, 3, 4):
        raise ImageError(f"to_rgb: need HxW or HxWxC with C in 1..4, got shape {arr.shape}")
    if arr.shape[2] in (1, 2):
        return np.repeat(arr[:, :, :1], 3, axis=2)
    return arr[:, :, :3]


def modcrop(img: np.ndarray, scale: int) -> np.ndarray:
    """Crop the bottom/right so height and width are multiples of ``scale`` (top-left kept)."""
    if int(scale) != scale or scale < 1:
        raise ValueError(f"modcrop: scale must be a positive integer, got {scale}")
    s = int(scale)
    h, w = img.shape[:2]
    if h < s or w < s:
        raise ImageError(f"modcrop: image of {h}x{w} is smaller than the scale {s}")
    return img[: h - h % s, : w - w % s]
