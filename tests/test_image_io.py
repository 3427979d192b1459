"""Image reading/writing: exact round trips at 8 and 16 bits, modes, and bad files."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from falsr_ext.data import modcrop, read_image, to_rgb, write_image
from falsr_ext.errors import ImageError

ADAM7 = (
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)


def _random(shape: tuple[int, ...], dtype: type, seed: int = 0) -> np.ndarray:
    """Random image with no zero pixels (so a silently blank read cannot pass)."""
    rng = np.random.default_rng(seed)
    return rng.integers(1, np.iinfo(dtype).max, shape, dtype=dtype, endpoint=True)


def _filter_rows(raw: np.ndarray, bpp: int, rng: np.random.Generator) -> bytes:
    """PNG-filter uint8 rows (H, W*bpp) with a random filter type per row."""
    r = raw.astype(np.int32)
    left = np.pad(r, ((0, 0), (bpp, 0)))[:, :-bpp]
    up = np.pad(r, ((1, 0), (0, 0)))[:-1]
    up_left = np.pad(up, ((0, 0), (bpp, 0)))[:, :-bpp]
    p = left + up - up_left
    pa, pb, pc = np.abs(p - left), np.abs(p - up), np.abs(p - up_left)
    paeth = np.where((pa <= pb) & (pa <= pc), left, np.where(pb <= pc, up, up_left))
    preds = [np.zeros_like(r), left, up, (left + up) // 2, paeth]
    kinds = rng.integers(0, 5, raw.shape[0])
    rows = [
        bytes([k]) + ((r[i] - preds[k][i]) % 256).astype(np.uint8).tobytes()
        for i, k in enumerate(kinds)
    ]
    return b"".join(rows)


def _png16(arr: np.ndarray, interlace: bool, seed: int = 0) -> bytes:
    """An independent 16-bit PNG encoder using every filter type (and Adam7 if asked)."""
    h, w, c = arr.shape
    ctype = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    rng = np.random.default_rng(seed)
    passes = ADAM7 if interlace else ((0, 0, 1, 1),)
    data = b""
    for x0, y0, dx, dy in passes:
        sub = arr[y0::dy, x0::dx]
        if sub.size:
            raw = sub.astype(">u2").reshape(sub.shape[0], -1).view(np.uint8)
            data += _filter_rows(raw, 2 * c, rng)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    ihdr = struct.pack(">IIBBBBB", w, h, 16, ctype, 0, 0, int(interlace))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(data))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("shape", [(13, 17), (13, 17, 1), (13, 17, 3), (13, 17, 4)])
def test_round_trip(tmp_path: Path, dtype: type, shape: tuple[int, ...]) -> None:
    arr = _random(shape, dtype)
    path = tmp_path / "img.png"
    write_image(path, arr)
    back = read_image(path)
    assert back.dtype == dtype
    assert np.array_equal(back, arr.reshape(13, 17, -1))


@pytest.mark.parametrize("channels, mode", [(3, "RGB"), (4, "RGBA")])
def test_16bit_colour_file_is_valid_png(tmp_path: Path, channels: int, mode: str) -> None:
    """Pillow reads our 16-bit colour PNGs too (keeping only the high byte)."""
    arr = _random((9, 11, channels), np.uint16, seed=1)
    path = tmp_path / "wide.png"
    write_image(path, arr)
    with Image.open(path) as img:
        assert img.mode == mode
        assert np.array_equal(np.asarray(img), (arr >> 8).astype(np.uint8))


@pytest.mark.parametrize("interlace", [False, True])
@pytest.mark.parametrize("channels", [2, 3, 4])
def test_reads_filtered_16bit_png(tmp_path: Path, channels: int, interlace: bool) -> None:
    arr = _random((21, 19, channels), np.uint16, seed=channels)
    path = tmp_path / "filtered.png"
    path.write_bytes(_png16(arr, interlace, seed=channels))
    back = read_image(path)
    expected = arr[:, :, [0, 0, 0, 1]] if channels == 2 else arr  # grey+alpha -> RGBA
    assert np.array_equal(back, expected)


def test_palette_and_other_modes(tmp_path: Path) -> None:
    rgb = _random((10, 12, 3), np.uint8, seed=2)
    pal = Image.fromarray(rgb).quantize(colors=16)
    pal.save(tmp_path / "p.png")
    assert np.array_equal(read_image(tmp_path / "p.png"), np.asarray(pal.convert("RGB")))
    pal.save(tmp_path / "pt.png", transparency=3)
    assert read_image(tmp_path / "pt.png").shape == (10, 12, 4)
    la = _random((10, 12, 2), np.uint8, seed=3)
    Image.fromarray(la, mode="LA").save(tmp_path / "la.png")
    assert np.array_equal(read_image(tmp_path / "la.png"), la[:, :, [0, 0, 0, 1]])
    Image.fromarray(rgb[:, :, 0] > 128).save(tmp_path / "bw.png")
    bw = read_image(tmp_path / "bw.png")
    assert bw.dtype == np.uint8 and set(np.unique(bw)) <= {0, 255}
    grey16 = _random((10, 12), np.uint16, seed=4)
    Image.fromarray(grey16).save(tmp_path / "g16.png")  # Pillow's own 16-bit grey writer
    assert np.array_equal(read_image(tmp_path / "g16.png")[:, :, 0], grey16)


def test_jpeg_uint8(tmp_path: Path) -> None:
    arr = _random((16, 16, 3), np.uint8)
    write_image(tmp_path / "a.jpg", arr)
    assert read_image(tmp_path / "a.jpg").shape == (16, 16, 3)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_truncated_png(tmp_path: Path, dtype: type) -> None:
    path = tmp_path / "whole.png"
    write_image(path, _random((40, 40, 3), dtype))
    cut = tmp_path / "cut.png"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ImageError, match="cut.png") as info:
        read_image(cut)
    assert "\n" not in str(info.value)


def test_corrupt_16bit_crc(tmp_path: Path) -> None:
    path = tmp_path / "crc.png"
    write_image(path, _random((8, 8, 3), np.uint16))
    data = bytearray(path.read_bytes())
    data[45] ^= 0xFF  # inside the IDAT body
    path.write_bytes(bytes(data))
    with pytest.raises(ImageError, match=r"crc\.png.*CRC"):
        read_image(path)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="missing.png: no such file"):
        read_image(tmp_path / "missing.png")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageError, match="empty.png: empty file"):
        read_image(tmp_path / "empty.png")
    (tmp_path / "text.png").write_bytes(b"this is not an image at all\n" * 20)
    with pytest.raises(ImageError, match="text.png: not a recognised image"):
        read_image(tmp_path / "text.png")
    with pytest.raises(ImageError, match="is a directory"):
        read_image(tmp_path)


def test_write_errors(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="dtype float64"):
        write_image(tmp_path / "f.png", np.random.default_rng(0).random((4, 4)))
    with pytest.raises(ImageError, match="only be written as .png"):
        write_image(tmp_path / "w.jpg", _random((4, 4, 3), np.uint16))
    with pytest.raises(ImageError, match="shape"):
        write_image(tmp_path / "two.png", _random((4, 4, 2), np.uint8))
    with pytest.raises(ImageError, match="nodir"):
        write_image(tmp_path / "nodir" / "x.png", _random((4, 4), np.uint8))


def test_to_rgb_and_modcrop() -> None:
    grey = _random((5, 7), np.uint16)
    rgb = to_rgb(grey)
    assert rgb.shape == (5, 7, 3) and rgb.dtype == np.uint16
    assert all(np.array_equal(rgb[:, :, c], grey) for c in range(3))
    rgba = _random((5, 7, 4), np.uint8)
    assert np.array_equal(to_rgb(rgba), rgba[:, :, :3])
    assert np.array_equal(to_rgb(rgba[:, :, :3]), rgba[:, :, :3])
    assert modcrop(rgba, 3).shape == (3, 6, 4)
    assert np.array_equal(modcrop(rgba, 3), rgba[:3, :6])
    with pytest.raises(ImageError):
        to_rgb(_random((5, 7, 5), np.uint8))
    with pytest.raises(ValueError):
        modcrop(rgba, 0)
