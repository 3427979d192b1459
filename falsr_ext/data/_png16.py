"""16-bit PNG codec for what Pillow cannot do exactly.

Pillow reads 16-bit RGB, RGBA and grey+alpha PNGs by dropping the low byte and cannot
write them at all. Writing a PNG is simple (zlib + struct, filter type 0). For reading,
the PNG filters predict each byte from the byte ``bpp`` positions to its left and the
byte above, so every byte *position within a pixel* (a "plane") is an independent 8-bit
greyscale image with the same per-row filter types. Each plane is handed to Pillow's C
unfilterer, which avoids a per-pixel Python loop, and the planes are re-interleaved.

Hostile files cost little: :func:`png_header` reads the size from the IHDR chunk alone,
:func:`decode` refuses more than ``max_pixels`` before decompressing, never inflates more
than the header's size (+1 byte, to detect a zlib bomb), and allocates the pixel array
only once all of its data is there.
"""

from __future__ import annotations

import struct
import sys
import zlib
from typing import NamedTuple

import numpy as np
from PIL import Image

SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Colour types by channel count and back: grey, grey+alpha, RGB, RGBA.
_TYPE_OF_CHANNELS = {1: 0, 2: 4, 3: 2, 4: 6}
_CHANNELS_OF_TYPE = {v: k for k, v in _TYPE_OF_CHANNELS.items()}
# Samples per pixel and allowed bit depths of every PNG colour type (palette included).
_SAMPLES_OF_TYPE = {**_CHANNELS_OF_TYPE, 3: 1}
_DEPTHS_OF_TYPE = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
_IHDR_END = len(SIGNATURE) + 8 + 13 + 4  # signature, IHDR length + type, body, CRC
# Adam7 passes as (x0, y0, dx, dy).
_ADAM7 = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)


class PngFormatError(ValueError):
    """The PNG data is malformed; the caller adds the file name."""


class PngTooLargeError(PngFormatError):
    """The PNG's header claims more pixels than the caller allows (a decompression bomb
    guard); raised before any pixel is decompressed or allocated."""


class PngHeader(NamedTuple):
    """The image-describing fields of a PNG's IHDR chunk."""

    height: int
    width: int
    channels: int  # samples per pixel as stored: palette images count 1 (the index)
    depth: int  # bits per sample: 1, 2, 4, 8 or 16
    colour_type: int  # 0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA


def png_header(data: bytes) -> PngHeader:
    """Parse the IHDR chunk of PNG ``data`` without decompressing anything.

    Only the first 33 bytes are read (signature + IHDR, whose CRC is checked). Raises
    :class:`PngFormatError` when ``data`` is not a PNG or its IHDR is malformed.
    """
    if not data.startswith(SIGNATURE):
        raise PngFormatError("not a PNG file (bad signature)")
    if len(data) < _IHDR_END:
        raise PngFormatError("truncated PNG (no complete IHDR chunk)")
    length, ctype = struct.unpack(">I4s", data[8:16])
    if ctype != b"IHDR" or length != 13:
        raise PngFormatError("corrupt PNG (the first chunk is not a 13-byte IHDR)")
    (crc,) = struct.unpack(">I", data[29:33])
    if zlib.crc32(data[12:29]) != crc:
        raise PngFormatError("corrupt PNG (CRC mismatch in chunk IHDR)")
    width, height, depth, colour, _comp, _filt, _interlace = struct.unpack(
        ">IIBBBBB", data[16:29])
    if not (0 < width < 2**31 and 0 < height < 2**31):  # the PNG spec's range
        raise PngFormatError(f"corrupt PNG (bad size {width}x{height} in IHDR)")
    if colour not in _SAMPLES_OF_TYPE or depth not in _DEPTHS_OF_TYPE[colour]:
        raise PngFormatError(f"corrupt PNG (bit depth {depth} with colour type {colour})")
    return PngHeader(height, width, _SAMPLES_OF_TYPE[colour], depth, colour)


def png_size(data: bytes) -> tuple[int, int]:
    """(height, width) from PNG ``data``'s header, nothing decompressed (see png_header)."""
    header = png_header(data)
    return header.height, header.width


def is_wide_colour_png(data: bytes) -> bool:
    """Whether ``data`` is a 16-bit PNG with more than one channel (Pillow truncates those)."""
    if len(data) < 29 or not data.startswith(SIGNATURE) or data[12:16] != b"IHDR":
        return False
    return data[24] == 16 and data[25] in (2, 4, 6)


def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """Split PNG ``data`` into (type, body) chunks up to IEND, checking CRCs."""
    out: list[tuple[bytes, bytes]] = []
    pos = len(SIGNATURE)
    while True:
        if pos + 8 > len(data):
            raise PngFormatError("truncated PNG (no IEND chunk)")
        length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
        end = pos + 8 + length + 4
        if end > len(data):
            raise PngFormatError(
                f"truncated PNG (chunk {_chunk_name(ctype)} runs past the end)"
            )
        body = data[pos + 8 : end - 4]
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        if zlib.crc32(ctype + body) != crc:
            raise PngFormatError(f"corrupt PNG (CRC mismatch in chunk {_chunk_name(ctype)})")
        if ctype == b"IEND":
            return out
        out.append((ctype, body))
        pos = end


def _chunk_name(ctype: bytes) -> str:
    """A chunk type for a message: printable ASCII as is, anything else escaped."""
    return ascii(ctype.decode("latin-1"))[1:-1]


def _unfilter(rows: np.ndarray, width: int, height: int) -> np.ndarray:
    """Unfilter one (height, 1 + width * bpp) block of filtered rows, plane by plane."""
    filters = rows[:, :1]
    if int(filters.max()) > 4:
        raise PngFormatError(f"corrupt PNG (unknown row filter {int(filters.max())})")
    body = rows[:, 1:].reshape(height, width, -1)
    planes = []
    for j in range(body.shape[2]):
        plane = np.ascontiguousarray(np.concatenate([filters, body[:, :, j]], axis=1))
        packed = zlib.compress(plane.tobytes(), 1)
        img = Image.frombytes("L", (width, height), packed, "zip", "L")
        planes.append(np.asarray(img))
    stacked = np.stack(planes, axis=2).astype(np.uint16)
    return (stacked[:, :, 0::2] << 8) | stacked[:, :, 1::2]


def _passes(width: int, height: int, interlace: int) -> list[tuple[int, int, int, int, int, int]]:
    """(x0, y0, dx, dy, pass width, pass height) of each non-empty pass."""
    out = []
    for x0, y0, dx, dy in _ADAM7 if interlace else ((0, 0, 1, 1),):
        pw = max(0, -(-(width - x0) // dx))
        ph = max(0, -(-(height - y0) // dy))
        if pw and ph:  # empty Adam7 passes store no bytes at all
            out.append((x0, y0, dx, dy, pw, ph))
    return out


def decode(data: bytes, max_pixels: int | None = None) -> np.ndarray:
    """Decode a 16-bit PNG to an HxWxC uint16 array (C = 1, 2, 3 or 4).

    ``max_pixels``: the largest width x height accepted (``None``: no limit); a bigger
    header raises :class:`PngTooLargeError` before anything is decompressed. Whatever the
    limit, decompression stops one byte past the size the header implies, so a zlib bomb
    costs no more memory than an honest image of its stated size; the pixel array is
    allocated only once all of its data is there.
    """
    header = png_header(data)
    height, width, channels, depth, ctype = header
    if max_pixels is not None and height * width > max_pixels:
        raise PngTooLargeError(
            f"image of {width}x{height} = {width * height:,} px is over the limit of "
            f"{max_pixels:,} px")
    chunks = _chunks(data)
    _w, _h, _d, _c, comp, filt, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    if depth != 16 or comp or filt or interlace > 1:
        raise PngFormatError(f"unsupported PNG (depth {depth}, colour type {ctype})")
    bpp = 2 * channels
    passes = _passes(width, height, interlace)
    expected = sum(ph * (1 + pw * bpp) for _x0, _y0, _dx, _dy, pw, ph in passes)
    if expected >= sys.maxsize:
        raise PngTooLargeError(f"image of {width}x{height} px is too large to decode")
    stream = zlib.decompressobj()
    try:
        raw = stream.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"),
                                expected + 1)
    except zlib.error as exc:
        raise PngFormatError(f"corrupt PNG (bad image data: {exc})") from None
    if len(raw) > expected:
        raise PngFormatError(
            f"corrupt PNG (more image data than the header says: {width}x{height})")
    if not stream.eof:
        raise PngFormatError("truncated PNG (image data ends early)")
    if len(raw) < expected:
        raise PngFormatError("truncated PNG (not enough image data)")
    flat = np.frombuffer(raw, dtype=np.uint8)
    out = np.empty((height, width, channels), dtype=np.uint16)
    offset = 0
    for x0, y0, dx, dy, pw, ph in passes:
        size = ph * (1 + pw * bpp)
        rows = flat[offset : offset + size].reshape(ph, 1 + pw * bpp)
        out[y0::dy, x0::dx] = _unfilter(rows, pw, ph)
        offset += size
    return out


def _chunk(kind: bytes, body: bytes) -> bytes:
    """One length-type-body-CRC PNG chunk."""
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def encode(array: np.ndarray) -> bytes:
    """Encode an HxW or HxWxC (C = 1..4) uint16 array as a 16-bit PNG, losslessly."""
    arr = array if array.ndim == 3 else array[:, :, None]
    height, width, channels = arr.shape
    header = struct.pack(">IIBBBBB", width, height, 16, _TYPE_OF_CHANNELS[channels], 0, 0, 0)
    big_endian = arr.astype(">u2").reshape(height, width * channels).view(np.uint8)
    # Filter type 0 on every row: simple and exact; compression is secondary here.
    rows = np.concatenate([np.zeros((height, 1), np.uint8), big_endian], axis=1)
    return b"".join(
        [
            SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)),
            _chunk(b"IEND", b""),
        ]
    )
