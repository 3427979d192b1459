"""16-bit PNG codec for what Pillow cannot do exactly.

Pillow reads 16-bit RGB, RGBA and grey+alpha PNGs by dropping the low byte and cannot
write them at all. Writing a PNG is simple (zlib + struct, filter type 0). For reading,
the PNG filters predict each byte from the byte ``bpp`` positions to its left and the
byte above, so every byte *position within a pixel* (a "plane") is an independent 8-bit
greyscale image with the same per-row filter types. Each plane is handed to Pillow's C
unfilterer, which avoids a per-pixel Python loop, and the planes are re-interleaved.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
from PIL import Image

SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Colour types by channel count and back: grey, grey+alpha, RGB, RGBA.
_TYPE_OF_CHANNELS = {1: 0, 2: 4, 3: 2, 4: 6}
_CHANNELS_OF_TYPE = {v: k for k, v in _TYPE_OF_CHANNELS.items()}
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
                f"truncated PNG (chunk {ctype.decode('latin-1')} runs past the end)"
            )
        body = data[pos + 8 : end - 4]
        (crc,) = struct.unpack(">I", data[end - 4 : end])
        if zlib.crc32(ctype + body) != crc:
            raise PngFormatError(f"corrupt PNG (CRC mismatch in chunk {ctype.decode('latin-1')})")
        if ctype == b"IEND":
            return out
        out.append((ctype, body))
        pos = end


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


def decode(data: bytes) -> np.ndarray:
    """Decode a 16-bit PNG to an HxWxC uint16 array (C = 1, 2, 3 or 4)."""
    chunks = _chunks(data)
    if not chunks or chunks[0][0] != b"IHDR" or len(chunks[0][1]) != 13:
        raise PngFormatError("corrupt PNG (bad IHDR)")
    width, height, depth, ctype, comp, filt, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    if depth != 16 or ctype not in _CHANNELS_OF_TYPE or comp or filt or interlace > 1:
        raise PngFormatError(f"unsupported PNG (depth {depth}, colour type {ctype})")
    if width == 0 or height == 0:
        raise PngFormatError("corrupt PNG (zero width or height)")
    channels = _CHANNELS_OF_TYPE[ctype]
    bpp = 2 * channels
    stream = zlib.decompressobj()
    try:
        raw = stream.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    except zlib.error as exc:
        raise PngFormatError(f"corrupt PNG (bad image data: {exc})") from exc
    if not stream.eof:
        raise PngFormatError("truncated PNG (image data ends early)")
    flat = np.frombuffer(raw, dtype=np.uint8)
    out = np.empty((height, width, channels), dtype=np.uint16)
    passes = _ADAM7 if interlace else ((0, 0, 1, 1),)
    offset = 0
    for x0, y0, dx, dy in passes:
        pw = max(0, -(-(width - x0) // dx))
        ph = max(0, -(-(height - y0) // dy))
        if pw == 0 or ph == 0:
            continue  # empty Adam7 passes store no bytes at all
        size = ph * (1 + pw * bpp)
        if offset + size > flat.size:
            raise PngFormatError("truncated PNG (not enough image data)")
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
