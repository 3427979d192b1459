"""Reading images safely: only regular files, a pixel limit before decoding for every
format and bit depth, EXIF orientation, and multi-frame files (issue 13, items 4-6)."""

from __future__ import annotations

import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from falsr_ext.data.image_io import DEFAULT_MAX_PIXELS, ImageNote, read_image, write_image
from falsr_ext.errors import ImageError


def _png(width: int, height: int, depth: int, colour: int, raw: bytes) -> bytes:
    """A PNG with the given IHDR and one IDAT of ``raw`` (compressed as is)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b""))


def _random(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(1, 256, shape, dtype=np.uint8)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_a_fifo_named_like_an_image_is_refused_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "x.png"
    os.mkfifo(fifo)  # reading it would block forever: nobody writes to it
    with pytest.raises(ImageError, match="FIFO"):
        read_image(fifo)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_device_is_refused_not_read() -> None:
    with pytest.raises(ImageError, match="character device"):
        read_image("/dev/zero")  # would read until memory runs out


def test_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="directory"):
        read_image(tmp_path)


@pytest.mark.parametrize(("depth", "colour"), [(16, 2), (16, 0), (16, 6), (8, 2)])
def test_a_huge_header_is_refused_before_decoding(tmp_path: Path, depth: int,
                                                   colour: int) -> None:
    """A 69-byte PNG that says 10^6 x 10^6 (7.28 TiB at 16-bit RGB)."""
    path = tmp_path / "huge.png"
    path.write_bytes(_png(10**6, 10**6, depth, colour, b"\0" * 16))
    with pytest.raises(ImageError, match=r"1000000x1000000 .* over the limit|decompression"):
        read_image(path)


def test_a_16bit_zlib_bomb_stops_at_the_header_size(tmp_path: Path) -> None:
    """A small 16-bit PNG whose IDAT inflates to 64 MB for a 100x100 header."""
    path = tmp_path / "bomb.png"
    path.write_bytes(_png(100, 100, 16, 2, b"\0" * (64 * 2**20)))
    assert path.stat().st_size < 200_000
    with pytest.raises(ImageError, match="more"):
        read_image(path)


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif", ".gif", ".bmp", ".webp"])
def test_the_pixel_limit_applies_to_every_format(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"img{suffix}"
    Image.fromarray(_random((20, 30, 3))).save(path)
    with pytest.raises(ImageError, match=r"30x20 = 600 px is over the limit of 599 px"):
        read_image(path, max_pixels=599)
    assert read_image(path, max_pixels=600).shape == (20, 30, 3)


def test_the_pixel_limit_applies_to_16bit_pngs(tmp_path: Path) -> None:
    path = tmp_path / "deep.png"
    write_image(path, _random((20, 30, 3)).astype(np.uint16) * 257)
    with pytest.raises(ImageError, match="over the limit of 599 px"):
        read_image(path, max_pixels=599)
    assert read_image(path, max_pixels=600).dtype == np.uint16


def test_no_limit_lifts_pillows_own_and_restores_it(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "img.png"
    Image.fromarray(_random((20, 30, 3))).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow alone would refuse
    assert read_image(path, max_pixels=None).shape == (20, 30, 3)
    assert Image.MAX_IMAGE_PIXELS == 100
    with pytest.raises(ImageError, match="over the limit"):
        read_image(path, max_pixels=599)


def test_default_limit_is_pillows() -> None:
    assert DEFAULT_MAX_PIXELS == 89_478_485


@pytest.mark.parametrize(("orientation", "turn"), [
    (1, lambda a: a),
    (3, lambda a: np.rot90(a, 2)),
    (6, lambda a: np.rot90(a, -1)),   # a phone held upright: stored sideways
    (8, lambda a: np.rot90(a, 1)),
    (2, lambda a: a[:, ::-1]),
])
def test_exif_orientation_is_applied(tmp_path: Path, orientation: int, turn) -> None:
    pixels = _random((4, 6, 3))
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "photo.png"
    Image.fromarray(pixels).save(path, exif=exif.tobytes())
    assert np.array_equal(read_image(path), turn(pixels))


def test_damaged_exif_does_not_hide_the_pixels(tmp_path: Path) -> None:
    pixels = _random((4, 6, 3))
    path = tmp_path / "photo.png"
    Image.fromarray(pixels).save(path, exif=b"Exif\0\0MM\0*\0\0\0\x08\xff\xff")
    assert np.array_equal(read_image(path), pixels)


def _animation(path: Path, frames: int) -> None:
    images = [Image.fromarray(np.full((5, 7, 3), 30 + 60 * i, np.uint8)) for i in range(frames)]
    images[0].save(path, save_all=True, append_images=images[1:])


@pytest.mark.parametrize("suffix", [".gif", ".tif", ".png"])
def test_multi_frame_files_say_the_first_frame_was_used(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"anim{suffix}"
    _animation(path, 3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = read_image(path)
    notes = [w for w in caught if issubclass(w.category, ImageNote)]
    assert len(notes) == 1 and "has 3 frames; used the first" in str(notes[0].message)
    assert first[0, 0, 0] == 30
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an explicit frame: no note
        assert read_image(path, frame=2)[0, 0, 0] == 150
    with pytest.raises(ImageError, match="has 3 frame"):
        read_image(path, frame=3)


def test_single_frame_files_give_no_note(tmp_path: Path) -> None:
    path = tmp_path / "one.gif"
    _animation(path, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_image(path)
    with pytest.raises(ImageError, match="has 1 frame"):
        read_image(path, frame=1)
