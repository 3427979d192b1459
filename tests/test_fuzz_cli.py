"""Seeded, bounded fuzzing of the ``falsr`` command line, in-process.

Valid seeds (8-bit RGB and palette PNGs, 16-bit RGB, RGBA and grey PNGs, JPEG, GIF, TIFF,
WebP, a tiny safetensors weights file, genotype strings and JSON) are mutated (bit flips,
byte inserts and deletes, truncation, IHDR / SOF field changes, chunk length and CRC
edits, recompressed and zlib-bomb IDATs, safetensors header and tensor edits, ...) and
fed to ``upscale``, ``eval``, ``count`` and ``genotype``. Every run must end with exit
status 0, or 2 and exactly one ``falsr: error:`` line (``falsr: note:`` lines aside, no
raw Python warnings): never an uncaught exception.

Deterministic: case ``i`` of a target is ``random.Random(f"{target}:{i}")``; a failure
names the case and ``python tests/fuzz_helpers.py TARGET INDEX`` replays it. About 1,000
cases, 10-15 s of CPU (under 30 s wall on a busy 2-core machine).
"""

from __future__ import annotations

import contextlib
import struct
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fuzz_helpers import Case, make_case, make_seeds, run_case

from falsr_ext.data import _png16

# Cases per target: about a thousand in all, sized so the whole file stays well under 60 s.
CASES = {"png8": 100, "png8p": 60, "png16": 100, "png16a": 40, "png16g": 60, "jpeg": 100,
         "gif": 80, "tiff": 40, "webp": 40, "weights": 160, "genotype": 200}
# Cases beyond those ranges that once found a bug (the longer exploratory runs' finds).
PINNED = [("png16g", 1127), ("png8p", 1249), ("png8p", 1265), ("png8p", 2351), ("tiff", 1006),
          ("gif", 1003), ("gif", 2392)]


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_seeds(tmp_path_factory.mktemp("fuzz"))


def _run_all(cases: list[tuple[str, int]], seeds: dict[str, Path]) -> None:
    root = next(iter(seeds.values())).parent
    problems: list[str] = []
    for target, index in cases:
        case: Case = make_case(target, index, seeds)
        folder = root / f"{target}-{index}"
        folder.mkdir()
        problems.extend(run_case(case, folder))
    assert not problems, f"{len(problems)} CLI contract violations:\n\n" + "\n\n".join(problems)


@pytest.mark.parametrize("target", sorted(CASES))
def test_cli_survives_mutated_inputs(target: str, seeds: dict[str, Path]) -> None:
    _run_all([(target, index) for index in range(CASES[target])], seeds)


def test_cli_survives_pinned_cases(seeds: dict[str, Path]) -> None:
    _run_all(PINNED, seeds)


def test_seeds_are_valid(seeds: dict[str, Path], tmp_path: Path) -> None:
    """The unmutated seeds run cleanly (else the mutations test nothing)."""
    from fuzz_helpers import run_main

    for key in ("png8", "png16", "png16a", "jpeg"):
        outcome = run_main(["upscale", str(seeds[key]), "-o", str(tmp_path / f"{key}.png"),
                            f"--model={seeds['weights']}", "--no-progress"])
        assert outcome.rc == 0 and outcome.exc is None, (key, outcome)
    outcome = run_main(["count", str(seeds["weights"])])
    assert outcome.rc == 0, outcome


# ------------------------------------------- 16-bit PNG decoder limits (issue 13f)
def _png(width: int, height: int, idat: bytes, depth: int = 16, colour: int = 2) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(
            ">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    return (_png16.SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", idat)
            + chunk(b"IEND", b""))


def _peak_bytes(fn: Callable[[], object]) -> int:
    """Peak Python heap (tracemalloc) while ``fn`` runs, whatever it raises."""
    tracemalloc.start()
    try:
        with contextlib.suppress(Exception):
            fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_png_header_reads_no_pixels() -> None:
    tiny = _png(10**6, 10**6, zlib.compress(b"\0" * 10))  # 68 bytes claiming 10^12 px
    assert _png16.png_header(tiny) == (10**6, 10**6, 3, 16, 2)
    assert _png16.png_size(tiny) == (10**6, 10**6)
    header = _png16.png_header(_png(5, 7, b"", depth=8, colour=3))
    assert (header.height, header.width, header.channels, header.colour_type) == (7, 5, 1, 3)
    for bad, why in ((b"GIF89a" + bytes(40), "not a PNG"), (tiny[:30], "truncated"),
                     (tiny[:29] + b"\0\0\0\0" + tiny[33:], "CRC"),
                     (_png(0, 5, b""), "bad size"), (_png(5, 5, b"", depth=16, colour=3), "depth")):
        with pytest.raises(_png16.PngFormatError, match=why):
            _png16.png_header(bad)


def test_png16_decode_refuses_big_headers_before_allocating() -> None:
    tiny = _png(10**6, 10**6, zlib.compress(b"\0" * 10))
    with pytest.raises(_png16.PngTooLargeError, match="over the limit of 1,000,000 px"):
        _png16.decode(tiny, max_pixels=10**6)
    # with no limit the data runs out before anything of the claimed size is allocated
    with pytest.raises(_png16.PngFormatError, match="not enough image data"):
        _png16.decode(tiny)
    assert _peak_bytes(lambda: _png16.decode(tiny)) < 2**20
    arr = np.arange(5 * 4 * 3, dtype=np.uint16).reshape(5, 4, 3) * 1000
    data = _png16.encode(arr)
    assert np.array_equal(_png16.decode(data, max_pixels=20), arr)  # the limit is inclusive
    with pytest.raises(_png16.PngTooLargeError):
        _png16.decode(data, max_pixels=19)


def test_png16_zlib_bomb_stops_at_the_header_size() -> None:
    # 64 MiB of zeros in ~64 KB, behind a header of 100x100 RGB16 (60,100 bytes of rows)
    stream = zlib.compressobj(9)
    bomb = b"".join([stream.compress(bytes(2**20)) for _ in range(64)] + [stream.flush()])
    data = _png(100, 100, bomb)
    with pytest.raises(_png16.PngFormatError, match="more image data than the header says"):
        _png16.decode(data)
    assert _peak_bytes(lambda: _png16.decode(data)) < 4 * 2**20
    # the same stream, ending where the header says, with bytes after it: still an error
    exact = zlib.compress(bytes(100 * (1 + 100 * 6)))
    assert _png16.decode(_png(100, 100, exact)).shape == (100, 100, 3)
    with pytest.raises(_png16.PngFormatError):
        _png16.decode(_png(100, 100, exact[:-6]))
