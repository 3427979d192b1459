"""Reading and writing images as HxWxC numpy arrays, keeping 8/16-bit depth exact."""

from __future__ import annotations

import contextlib
import io
import os
import stat
import struct
import threading
import warnings
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from falsr_ext.data import _png16
from falsr_ext.errors import ImageError
from falsr_ext.files import atomic_path

PathLike = str | os.PathLike[str]

# Pixel-count limit of every image read, whatever its format and bit depth, checked from
# the header before any pixel is decoded: Pillow's own decompression-bomb limit
# (89,478,485 px, about 9459 x 9459). ``read_image(max_pixels=None)`` lifts it.
DEFAULT_MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485
# Bigger files are not read at all (a 16-bit RGBA PNG of DEFAULT_MAX_PIXELS stored raw is
# about 716 MB; formats compress, so 2 GiB leaves room without reading a disk image).
MAX_FILE_BYTES = 2 * 2**30


class ImageNote(UserWarning):
    """Something a reader of an image should know (e.g. only one frame of an animation
    was used); the command line prints it as one ``falsr: note:`` line."""

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


def read_image(path: PathLike, max_pixels: int | None = DEFAULT_MAX_PIXELS,
               frame: int | None = None) -> np.ndarray:
    """Read an image file as an HxWxC array, C in (1, 3, 4), uint8 or uint16.

    Bit depth is preserved: 16-bit PNGs (grey, grey+alpha, RGB, RGBA) give uint16.
    Palette images become RGB (RGBA when they carry transparency); grey+alpha becomes
    RGBA. The EXIF orientation is applied (a phone photo comes out upright).

    Args:
        path: a regular file (FIFOs, devices and sockets are refused, never read).
        max_pixels: the largest width x height accepted, checked from the header before
            any pixel is decoded, for every format and bit depth (a decompression-bomb
            guard); ``None`` for no limit.
        frame: which frame of a multi-frame file (GIF, APNG, TIFF, WebP) to read;
            ``None`` reads the first and, when there are more, warns with
            :class:`ImageNote` that the others were not used.

    Raises :class:`ImageError` naming ``path`` for a missing, empty, corrupt, truncated,
    oversized or non-image file, or a frame it does not have.
    """
    p = Path(path)
    if max_pixels is not None and (int(max_pixels) != max_pixels or max_pixels < 1):
        raise ValueError(f"max_pixels must be a positive integer or None, got {max_pixels!r}")
    if frame is not None and (int(frame) != frame or frame < 0):
        raise ValueError(f"frame must be a non-negative integer or None, got {frame!r}")
    data = _read_regular_file(p)
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            return _decode(p, data, max_pixels, frame)
    finally:  # outside the recording: the notes reach the caller (or the CLI's printer)
        _pass_on_notes(p, caught)


def _decode(p: Path, data: bytes, max_pixels: int | None, frame: int | None) -> np.ndarray:
    """The pixels of an image file's bytes (see :func:`read_image`)."""
    try:
        if _png16.is_wide_colour_png(data):
            height, width = _png16.png_size(data)
            _check_pixels(p, height, width, max_pixels)
            _check_frame(p, 1, frame)
            arr = _png16.decode(data, max_pixels=max_pixels)
            return _grey_alpha_to_rgba(arr) if arr.shape[2] == 2 else arr
        with _pillow_limit(max_pixels), Image.open(io.BytesIO(data)) as img:
            _check_pixels(p, img.height, img.width, max_pixels)
            frames = getattr(img, "n_frames", 1)
            _check_frame(p, frames, frame)
            if frame:
                img.seek(frame)
            img.load()
            return _pil_to_array(_upright(img), p)
    except ImageError:
        raise
    except _png16.PngFormatError as exc:
        raise ImageError(f"{p}: {exc}") from exc
    except UnidentifiedImageError:
        raise ImageError(f"{p}: not a recognised image file") from None
    except Image.DecompressionBombError:
        raise ImageError(f"{p}: over Pillow's decompression-bomb limit of "
                         f"{2 * (Image.MAX_IMAGE_PIXELS or 0):,} px") from None
    except MemoryError:
        raise ImageError(f"{p}: not enough memory to decode this image") from None
    except (
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
        zlib.error,
        # Pillow's decoders raise these on malformed files too (fuzzed GIF, TIFF, PNG)
        IndexError,
        KeyError,
        TypeError,
        AssertionError,
        struct.error,
    ) as exc:
        raise ImageError(f"{p}: corrupt or truncated image ({_one_line(exc)})") from exc


def _pass_on_notes(p: Path, caught: list[warnings.WarningMessage]) -> None:
    """Re-issue what decoding warned about as :class:`ImageNote`s, one line each and
    once per message: Pillow's own warnings (a truncated read, damaged EXIF) say the
    pixels may be incomplete, which a user should see as one line, not a traceback-like
    two-line Python warning."""
    seen: set[str] = set()
    for w in caught:
        if issubclass(w.category, Image.DecompressionBombWarning):
            continue  # our own pixel limit decides, with its own message
        text = _one_line(w.message) if isinstance(w.message, Warning) else str(w.message)
        if not issubclass(w.category, ImageNote):
            text = f"{p}: {text}"
        if text not in seen:
            seen.add(text)
            warnings.warn(ImageNote(text), stacklevel=3)


_FILE_KINDS = ((stat.S_ISDIR, "is a directory, not an image file"),
               (stat.S_ISFIFO, "is a FIFO (named pipe), not a regular file: not read"),
               (stat.S_ISCHR, "is a character device, not a regular file: not read"),
               (stat.S_ISBLK, "is a block device, not a regular file: not read"),
               (stat.S_ISSOCK, "is a socket, not a regular file: not read"))


def _read_regular_file(p: Path) -> bytes:
    """The bytes of ``p`` if it is a regular file of at most MAX_FILE_BYTES.

    The file is opened non-blocking and checked with fstat on the open descriptor, so a
    FIFO never blocks and /dev/zero is never read, even if the path changes meanwhile.
    """
    try:
        fd = os.open(p, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise ImageError(f"{p}: no such file") from None
    except OSError as exc:
        try:
            mode = os.stat(p).st_mode
        except OSError:
            mode = 0
        for is_kind, text in _FILE_KINDS:
            if is_kind(mode):
                raise ImageError(f"{p}: {text}") from None
        raise ImageError(f"{p}: cannot read ({_one_line(exc)})") from exc
    try:
        info = os.fstat(fd)
        for is_kind, text in _FILE_KINDS:
            if is_kind(info.st_mode):
                raise ImageError(f"{p}: {text}")
        if not stat.S_ISREG(info.st_mode):
            raise ImageError(f"{p}: not a regular file: not read")
        if info.st_size == 0:
            raise ImageError(f"{p}: empty file (0 bytes)")
        if info.st_size > MAX_FILE_BYTES:
            raise ImageError(f"{p}: {info.st_size:,} bytes is over the "
                             f"{MAX_FILE_BYTES:,}-byte limit of an image file")
        with os.fdopen(fd, "rb") as f:
            fd = -1  # the file object closes it now
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ImageError(f"{p}: cannot read ({_one_line(exc)})") from exc
    finally:
        if fd >= 0:
            os.close(fd)
    if not data:
        raise ImageError(f"{p}: empty file (0 bytes)")
    return data


def _check_pixels(p: Path, height: int, width: int, max_pixels: int | None) -> None:
    if max_pixels is not None and height * width > max_pixels:
        raise ImageError(
            f"{p}: {width}x{height} = {width * height:,} px is over the limit of "
            f"{max_pixels:,} px (a guard against decompression bombs); raise it with "
            f"--max-pixels N, or read_image(max_pixels=N) / None for no limit")


def _check_frame(p: Path, frames: int, frame: int | None) -> None:
    if frame is not None and frame >= frames:
        raise ImageError(f"{p}: has {frames} frame(s); frame {frame} asked for "
                         f"(frames count from 0)")
    if frame is None and frames > 1:
        warnings.warn(ImageNote(f"{p}: has {frames} frames; used the first "
                                f"(choose another with --frame N)"), stacklevel=3)


# Pillow refuses images over twice Image.MAX_IMAGE_PIXELS in Image.open, before our own
# check could allow them; a read with a higher limit lifts Pillow's for its duration.
_PILLOW_LIMIT_LOCK = threading.Lock()


@contextlib.contextmanager
def _pillow_limit(max_pixels: int | None) -> Iterator[None]:
    pillow = Image.MAX_IMAGE_PIXELS
    with warnings.catch_warnings():
        # our own check (same or lower limit) decides, with a clearer message
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        if pillow is None or (max_pixels is not None and max_pixels <= 2 * pillow):
            yield
            return
        with _PILLOW_LIMIT_LOCK:
            Image.MAX_IMAGE_PIXELS = None if max_pixels is None else max_pixels
            try:
                yield
            finally:
                Image.MAX_IMAGE_PIXELS = pillow


def _upright(img: Image.Image) -> Image.Image:
    """``img`` turned as its EXIF orientation tag says (unchanged without one)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's "Corrupt EXIF data" chatter
            orientation = img.getexif().get(0x0112, 1)  # 0x0112: Orientation
    except Exception:  # a damaged EXIF block must not make the pixels unreadable
        return img
    if orientation in (2, 3, 4, 5, 6, 7, 8):
        return ImageOps.exif_transpose(img)
    return img


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
    Both round-trip exactly through :func:`read_image`. The file is written under a
    temporary name and renamed, so ``path`` never holds a partial image, even if the
    process is killed. Raises :class:`ImageError`.
    """
    p = Path(path)
    arr = _check_writable(np.asarray(array), p)
    fmt = Image.registered_extensions().get(p.suffix.lower())
    if fmt is None:
        raise ImageError(f"{p}: unknown image file extension {p.suffix!r} (use e.g. .png)")
    if arr.dtype == np.uint16 and fmt != "PNG":
        raise ImageError(f"{p}: 16-bit images can only be written as .png")
    try:
        with atomic_path(p) as tmp:
            if arr.dtype == np.uint16:
                tmp.write_bytes(_png16.encode(arr))
            else:
                Image.fromarray(np.ascontiguousarray(arr)).save(tmp, format=fmt)
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
