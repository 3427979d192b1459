"""Seeded mutation fuzzing of the ``falsr`` command line (used by tests/test_fuzz_cli.py).

Every case is a pure function of ``(target, index)``: the seed files are generated
deterministically, and the mutations draw from ``random.Random(f"{target}:{index}")``.
A failing case is reproduced outside pytest with::

    python tests/fuzz_helpers.py TARGET INDEX [FOLDER]

which writes the seed and mutated files to FOLDER (default: a new temporary folder),
prints the ``falsr`` command lines of the case and runs them in-process.

The contract checked (:func:`problem_of`): ``falsr_ext.cli.main`` returns 0, or returns 2
having printed exactly one ``falsr: error: ...`` line on stderr (``falsr: note:`` lines
aside); an exception escaping ``main`` (a traceback for the user) is a failure.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import struct
import sys
import tempfile
import traceback
import warnings
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SIDE = 16  # seed images are SIDE x SIDE: big enough for eval's SSIM, fast to upscale
TINY_GENOTYPE = "conv-k3-f16-b1-skip@F/fuse@c0"
OTHER_GENOTYPE = "ib-k1-f32-b2-noskip@F/conv-k3-f16-b1-skip@F+c0/fuse@c0+c1"
# A mutated header may claim a size Pillow would really decode (it allocates up to its
# bomb limit before finding the data short): such draws are redrawn, keeping the run
# bounded. Claims past Pillow's hard limit (2 x 89.5 Mpx) stay: they test the limits.
MAX_DECODED_PIXELS = 1 << 20
PILLOW_HARD_LIMIT = 2 * 89_478_485
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- running
@dataclass
class Outcome:
    """What one in-process ``falsr`` run did."""

    argv: list[str]
    rc: int | None = None
    out: str = ""
    err: str = ""
    exc: str | None = None  # the traceback of an exception that escaped main()


@contextlib.contextmanager
def _warnings_as_a_fresh_process() -> Iterator[None]:
    """Warnings filtered and printed to sys.stderr as in a plain ``falsr`` process.

    pytest records warnings instead of printing them, which would hide the raw
    ``file.py:N: UserWarning: ...`` lines a user sees. ``_showwarnmsg_impl`` is where
    both the default ``showwarning`` and pytest's recorder end up; catch_warnings
    restores it.
    """
    def show(msg: warnings.WarningMessage) -> None:
        sys.stderr.write(warnings._formatwarnmsg(msg))  # type: ignore[attr-defined]

    with warnings.catch_warnings():
        warnings.resetwarnings()
        warnings.simplefilter("default")
        for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning,
                         ResourceWarning):
            warnings.simplefilter("ignore", category)
        warnings.showwarning = warnings._showwarning_orig  # type: ignore[attr-defined]
        warnings._showwarnmsg_impl = show  # type: ignore[attr-defined]
        yield


def run_main(argv: list[str]) -> Outcome:
    """Run ``falsr_ext.cli.main(argv)`` in this process, capturing stdout and stderr."""
    from falsr_ext.cli import main

    outcome = Outcome(list(argv))
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                _warnings_as_a_fresh_process():
            outcome.rc = main(argv)
    except SystemExit as exc:  # argparse: usage + error, not our one-line contract
        outcome.rc = exc.code if isinstance(exc.code, int) else 1
        outcome.exc = f"SystemExit({exc.code!r}) from argparse"
    except BaseException:  # noqa: BLE001 - anything escaping main() is the finding
        outcome.exc = traceback.format_exc(limit=-6)
    outcome.out, outcome.err = out.getvalue(), err.getvalue()
    return outcome


def problem_of(outcome: Outcome) -> str | None:
    """Why ``outcome`` breaks the CLI's error contract, or None when it keeps it."""
    if outcome.exc is not None:
        last = outcome.exc.strip().splitlines()[-1]
        return f"uncaught exception: {last[:300]}\n{outcome.exc[-1500:]}"
    lines = [ln for ln in outcome.err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if not ln.startswith("falsr: note: ")]
    if outcome.rc == 0:  # success may add notes, nothing else (no raw Python warnings)
        return f"rc 0 but stderr has {outcome.err[:800]!r}" if errors else None
    if outcome.rc != 2:
        return f"exit status {outcome.rc!r} (expected 0 or 2); stderr {outcome.err[:500]!r}"
    if len(errors) != 1 or not errors[0].startswith("falsr: error: "):
        return f"rc 2 but stderr is not one 'falsr: error:' line: {outcome.err[:800]!r}"
    return None


def shell_quote(argv: list[str]) -> str:
    """A command line a user could paste (long arguments abbreviated)."""
    import shlex

    parts = []
    for arg in argv:
        text = shlex.quote(arg)
        parts.append(text if len(text) <= 120 else f"{text[:100]}...<{len(arg)} chars>")
    return "falsr " + " ".join(parts)


# ----------------------------------------------------------------------------- seeds
def _seed_rgb(seed: int, dtype: type, channels: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    top = 255 if dtype == np.uint8 else 65535
    # A smooth gradient plus noise: compresses like a photo, not like white noise.
    ramp = np.linspace(0, top, SIDE * SIDE).reshape(SIDE, SIDE, 1)
    noise = rng.integers(0, top // 4, (SIDE, SIDE, channels))
    return np.clip(ramp * 0.7 + noise, 0, top).astype(dtype)


def make_seeds(folder: Path) -> dict[str, Path]:
    """Write the valid seed files into ``folder``; returns them by kind."""
    import torch
    from PIL import Image

    import falsr_ext
    from falsr_ext.data.image_io import write_image

    folder.mkdir(parents=True, exist_ok=True)
    seeds = {
        "png8": folder / "seed8.png",
        "png8p": folder / "seed8p.png",
        "png16": folder / "seed16.png",
        "png16a": folder / "seed16a.png",
        "png16g": folder / "seed16g.png",
        "jpeg": folder / "seed.jpg",
        "gif": folder / "seed.gif",
        "tiff": folder / "seed.tif",
        "webp": folder / "seed.webp",
        "weights": folder / "tiny.safetensors",
        "weights2": folder / "other.safetensors",
    }
    rgb8 = Image.fromarray(_seed_rgb(1, np.uint8))
    rgb8.save(seeds["png8"])
    # a palette image with a transparent entry: PLTE + tRNS chunks, converted to RGBA
    palette = rgb8.quantize(16)
    palette.info["transparency"] = 3
    palette.save(seeds["png8p"], transparency=3)
    write_image(seeds["png16"], _seed_rgb(2, np.uint16))
    write_image(seeds["png16a"], _seed_rgb(3, np.uint16, channels=4))
    write_image(seeds["png16g"], _seed_rgb(5, np.uint16, channels=1))  # Pillow's I;16 path
    Image.fromarray(_seed_rgb(4, np.uint8)).save(seeds["jpeg"], quality=90)
    frames = [Image.fromarray(_seed_rgb(6 + i, np.uint8)).convert("P") for i in range(2)]
    frames[0].save(seeds["gif"], save_all=True, append_images=frames[1:])
    Image.fromarray(_seed_rgb(8, np.uint8)).save(seeds["tiff"], compression="tiff_lzw")
    Image.fromarray(_seed_rgb(9, np.uint8)).save(seeds["webp"], quality=80)
    for key, text in (("weights", TINY_GENOTYPE), ("weights2", OTHER_GENOTYPE)):
        with torch.random.fork_rng():  # deterministic weights, other tests' RNG untouched
            torch.manual_seed(0)
            model = falsr_ext.build_model(falsr_ext.parse_genotype(text))
        falsr_ext.save_weights(model, seeds[key], source="fuzz seed")
    return seeds


# ------------------------------------------------------------------- generic mutators
INTERESTING_U32 = (0, 1, 7, 0x7F, 0x80, 0xFF, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000,
                   0xFFFFFFFF)


def _flip_bits(rng: random.Random, data: bytearray) -> str:
    pos = rng.randrange(len(data))
    bit = rng.randrange(8)
    data[pos] ^= 1 << bit
    return f"flip bit {bit} of byte {pos}"


def _set_byte(rng: random.Random, data: bytearray) -> str:
    pos = rng.randrange(len(data))
    data[pos] = rng.choice((0x00, 0x01, 0x7F, 0x80, 0xFF, rng.randrange(256)))
    return f"set byte {pos} to {data[pos]}"


def _insert(rng: random.Random, data: bytearray) -> str:
    pos = rng.randrange(len(data) + 1)
    blob = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    data[pos:pos] = blob
    return f"insert {len(blob)} bytes at {pos}"


def _delete(rng: random.Random, data: bytearray) -> str:
    pos = rng.randrange(len(data))
    n = rng.randint(1, min(32, len(data) - pos))
    del data[pos:pos + n]
    return f"delete {n} bytes at {pos}"


def _truncate(rng: random.Random, data: bytearray) -> str:
    keep = rng.randrange(len(data))
    del data[keep:]
    return f"truncate to {keep} bytes"


def _duplicate(rng: random.Random, data: bytearray) -> str:
    pos = rng.randrange(len(data))
    n = rng.randint(1, min(64, len(data) - pos))
    at = rng.randrange(len(data) + 1)
    data[at:at] = data[pos:pos + n]
    return f"copy {n} bytes from {pos} to {at}"


def _overwrite_u32(rng: random.Random, data: bytearray) -> str:
    if len(data) < 4:
        return _flip_bits(rng, data)
    pos = rng.randrange(len(data) - 3)
    value = rng.choice(INTERESTING_U32)
    data[pos:pos + 4] = struct.pack(rng.choice((">I", "<I")), value)
    return f"write u32 {value:#x} at {pos}"


GENERIC = (_flip_bits, _set_byte, _insert, _delete, _truncate, _duplicate, _overwrite_u32)


def mutate_buffer(rng: random.Random, buf: bytearray, times: int,
                  ops: tuple[Callable[[random.Random, bytearray], str], ...] = GENERIC
                  ) -> list[str]:
    """Up to ``times`` mutations of ``buf`` in place (fewer if it becomes empty)."""
    notes = []
    for _ in range(times):
        if not buf:
            break
        notes.append(rng.choice(ops)(rng, buf))
    return notes


def mutate_bytes(rng: random.Random, data: bytes) -> tuple[bytes, list[str]]:
    """1-3 generic byte mutations of ``data``."""
    buf = bytearray(data)
    notes = mutate_buffer(rng, buf, rng.choice((1, 1, 1, 2, 3)))
    return bytes(buf), notes


# ----------------------------------------------------------------------- PNG mutators
def png_chunks(data: bytes) -> list[list[bytes]] | None:
    """[length field, type, body, crc] of every chunk, or None if the layout is broken."""
    if not data.startswith(PNG_SIGNATURE):
        return None
    out, pos = [], len(PNG_SIGNATURE)
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        end = pos + 12 + length
        if end > len(data):
            return None
        out.append([data[pos:pos + 4], data[pos + 4:pos + 8], data[pos + 8:end - 4],
                    data[end - 4:end]])
        pos = end
    return out


def _crc(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", zlib.crc32(kind + body))


def _png_join(chunks: list[list[bytes]]) -> bytes:
    return PNG_SIGNATURE + b"".join(b"".join(c) for c in chunks)


def _chunk(kind: bytes, body: bytes) -> list[bytes]:
    return [struct.pack(">I", len(body)), kind, body, _crc(kind, body)]


_IHDR_FIELDS = {  # name: (offset, struct format, values to try)
    "width": (0, ">I", (0, 1, 2, 7, 9, SIDE * 2, 1000, 2**31 - 1, 2**31, 2**32 - 1, 10**6)),
    "height": (4, ">I", (0, 1, 3, SIDE // 2, SIDE * 3, 65536, 2**31 - 1, 2**32 - 1, 10**6)),
    "depth": (8, ">B", (0, 1, 2, 4, 8, 16, 3, 32, 255)),
    "colour type": (9, ">B", (0, 1, 2, 3, 4, 5, 6, 7, 255)),
    "compression": (10, ">B", (0, 1, 255)),
    "filter": (11, ">B", (0, 1)),
    "interlace": (12, ">B", (0, 1, 2)),
}


def _png_structural(rng: random.Random, chunks: list[list[bytes]]) -> str:
    """One chunk-aware mutation of ``chunks`` in place (CRCs fixed unless said)."""
    kinds = [c[1] for c in chunks]
    op = rng.choice(("ihdr", "ihdr", "ihdr", "ihdr2", "length", "crc", "body", "drop", "dup",
                     "swap", "idat-raw", "idat-raw", "idat-split", "idat-bomb", "extra",
                     "idat-trailing"))
    if op in ("ihdr", "ihdr2") and b"IHDR" in kinds:
        i = kinds.index(b"IHDR")
        body = bytearray(chunks[i][2].ljust(13, b"\0"))
        notes = []
        for _ in range(1 if op == "ihdr" else 2):
            name = rng.choice(list(_IHDR_FIELDS))
            off, fmt, values = _IHDR_FIELDS[name]
            value = rng.choice(values)
            struct.pack_into(fmt, body, off, value)
            notes.append(f"IHDR {name} = {value}")
        chunks[i] = _chunk(b"IHDR", bytes(body))
        return ", ".join(notes)
    i = rng.randrange(len(chunks))
    kind = chunks[i][1].decode("latin-1")
    if op == "length":
        value = rng.choice(INTERESTING_U32 + (len(chunks[i][2]) + 1, len(chunks[i][2]) - 1))
        chunks[i][0] = struct.pack(">I", value % 2**32)
        return f"{kind} length field = {value}"
    if op == "crc":
        chunks[i][3] = bytes(b ^ 0xFF for b in chunks[i][3])
        return f"{kind} CRC corrupted"
    if op == "body" and chunks[i][2]:
        body = bytearray(chunks[i][2])
        note = ", ".join(mutate_buffer(rng, body, 1))
        chunks[i] = _chunk(chunks[i][1], bytes(body))
        return f"{kind} body: {note} (CRC fixed)"
    if op == "drop":
        del chunks[i]
        return f"drop chunk {kind}"
    if op == "dup":
        chunks.insert(rng.randrange(len(chunks) + 1), list(chunks[i]))
        return f"duplicate chunk {kind}"
    if op == "swap" and len(chunks) > 1:
        j = rng.randrange(len(chunks))
        chunks[i], chunks[j] = chunks[j], chunks[i]
        return f"swap chunks {i} and {j}"
    idats = [k for k, c in enumerate(chunks) if c[1] == b"IDAT"]
    if op.startswith("idat") and idats:
        k = idats[0]
        stream = b"".join(chunks[j][2] for j in idats)
        try:
            raw = bytearray(zlib.decompress(stream))
        except zlib.error:
            raw = bytearray(stream)
        for j in reversed(idats[1:]):
            del chunks[j]
        if op == "idat-raw" and raw:
            notes = mutate_buffer(rng, raw, rng.randint(1, 3))
            if raw and rng.random() < 0.5:  # row filter types are the bytes at row starts
                pos = rng.randrange(len(raw))
                raw[pos] = rng.choice((0, 1, 2, 3, 4, 5, 255))
                notes.append(f"raw byte {pos} = {raw[pos]}")
            chunks[k] = _chunk(b"IDAT", zlib.compress(bytes(raw)))
            return "IDAT data (recompressed): " + ", ".join(notes)
        if op == "idat-split":
            compressed = zlib.compress(bytes(raw))
            cut = rng.randrange(len(compressed) + 1)
            chunks[k:k + 1] = [_chunk(b"IDAT", compressed[:cut]), _chunk(b"IDAT", compressed[cut:])]
            return f"IDAT split at {cut}"
        if op == "idat-bomb":
            size = rng.choice((len(raw) + 1, 2 * len(raw), 1 << 21))  # bounded: 2 MiB at most
            chunks[k] = _chunk(b"IDAT", zlib.compress(bytes(raw) + bytes(size - len(raw)), 9))
            return f"IDAT inflates to {size} bytes (header implies {len(raw)})"
        if op == "idat-trailing":
            chunks[k] = _chunk(b"IDAT", zlib.compress(bytes(raw)) + b"trailing junk")
            return "IDAT with bytes after the zlib stream"
    extra = rng.choice((b"tEXt", b"PLTE", b"tRNS", b"acTL", b"abCD", b"zzzz", b"iCCP", b"eXIf"))
    blob = bytes(rng.randrange(256) for _ in range(rng.choice((0, 1, 3, 6, 13, 40))))
    chunks.insert(rng.randint(1, max(1, len(chunks) - 1)), _chunk(extra, blob))
    return f"insert chunk {extra.decode()} of {len(blob)} bytes"


def mutate_png(rng: random.Random, data: bytes) -> tuple[bytes, list[str]]:
    """Chunk-aware mutations (most of the time) or generic byte mutations."""
    chunks = png_chunks(data)
    if chunks is None or rng.random() < 0.3:
        return mutate_bytes(rng, data)
    notes = [_png_structural(rng, chunks) for _ in range(rng.choice((1, 1, 2)))]
    return _png_join(chunks), notes


# ---------------------------------------------------------------------- JPEG mutators
def _jpeg_markers(data: bytes) -> list[tuple[int, int, int]]:
    """(position, marker byte, segment length) of the header segments before the scan."""
    out, pos = [], 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        out.append((pos, marker, length))
        if marker == 0xDA:
            break
        pos += 2 + length
    return out


def mutate_jpeg(rng: random.Random, data: bytes) -> tuple[bytes, list[str]]:
    """Segment-aware mutations of a baseline JPEG, or generic byte mutations."""
    markers = _jpeg_markers(data)
    if not markers or rng.random() < 0.35:
        return mutate_bytes(rng, data)
    buf = bytearray(data)
    op = rng.choice(("sof-size", "sof-size", "sof-field", "marker", "seg-length", "seg-body",
                     "scan", "eoi", "app"))
    sof = [m for m in markers if m[1] in (0xC0, 0xC1, 0xC2)]
    if op == "sof-size" and sof:
        pos = sof[0][0]
        which = rng.choice(("height", "width"))
        value = rng.choice((0, 1, 2, SIDE - 1, SIDE + 1, SIDE * 4, 300, 65535))
        struct.pack_into(">H", buf, pos + 5 + (0 if which == "height" else 2), value)
        return bytes(buf), [f"SOF {which} = {value}"]
    if op == "sof-field" and sof:
        pos = sof[0][0]
        off = rng.choice((4, 9, 10, 11, 12))  # precision, components, comp id/sampling/table
        buf[pos + off] = rng.choice((0, 1, 2, 3, 4, 8, 12, 16, 0x11, 0x22, 0x44, 0xFF))
        return bytes(buf), [f"SOF byte +{off} = {buf[pos + off]}"]
    pos, marker, length = rng.choice(markers)
    if op == "marker":
        buf[pos + 1] = rng.choice((0xC0, 0xC2, 0xC3, 0xC5, 0xCF, 0xD8, 0xD9, 0xDB, 0xC4, 0x01))
        return bytes(buf), [f"marker {marker:#x} at {pos} -> {buf[pos + 1]:#x}"]
    if op == "seg-length":
        value = rng.choice((0, 1, 2, length - 1, length + 1, 0xFFFF))
        struct.pack_into(">H", buf, pos + 2, value % 0x10000)
        return bytes(buf), [f"segment {marker:#x} length {length} -> {value}"]
    if op == "seg-body" and length > 2:
        at = pos + 4 + rng.randrange(length - 2)
        buf[at] = rng.randrange(256)
        return bytes(buf), [f"segment {marker:#x} byte {at} = {buf[at]}"]
    if op == "scan":
        start = markers[-1][0] + 2 + markers[-1][2]
        if start < len(buf) - 2:
            notes = []
            for _ in range(rng.randint(1, 8)):
                at = rng.randrange(start, len(buf) - 2)
                buf[at] = rng.randrange(256)
                notes.append(str(at))
            return bytes(buf), ["scan bytes changed at " + ",".join(notes)]
    if op == "eoi":
        del buf[-2:]
        return bytes(buf), ["no EOI marker"]
    blob = bytes(rng.randrange(256) for _ in range(rng.choice((0, 4, 20))))
    segment = bytes([0xFF, rng.choice((0xE1, 0xEE, 0xE2, 0xFE))]) + struct.pack(
        ">H", len(blob) + 2) + blob
    buf[2:2] = segment
    return bytes(buf), [f"insert APP/COM segment {segment[:2].hex()} of {len(blob)} bytes"]


# ---------------------------------------------------------------- safetensors mutators
def split_safetensors(data: bytes) -> tuple[dict, bytes] | None:
    """(header dict, tensor data) of a safetensors file, or None if unparsable."""
    if len(data) < 8:
        return None
    (n,) = struct.unpack("<Q", data[:8])
    try:
        header = json.loads(data[8:8 + n])
    except (ValueError, UnicodeDecodeError):
        return None
    return (header, data[8 + n:]) if isinstance(header, dict) else None


def join_safetensors(header: dict, body: bytes) -> bytes:
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + body


def mutate_tensors(rng: random.Random, data: bytes) -> tuple[bytes, list[str]]:
    """A valid safetensors file whose tensors no longer fit the genotype (or are odd)."""
    from safetensors.numpy import load, save

    parsed = split_safetensors(data)
    assert parsed is not None
    meta = parsed[0].get("__metadata__", {})
    arrays = load(data)
    names = sorted(arrays)
    name = rng.choice(names)
    op = rng.choice(("drop", "drop-many", "add", "rename", "reshape", "dtype", "dtype",
                     "empty", "scalar", "grow", "nan", "inf"))
    if op == "drop":
        del arrays[name]
    elif op == "drop-many":
        for key in rng.sample(names, rng.randint(2, len(names))):
            del arrays[key]
    elif op == "add":
        arrays[rng.choice(("cells.1.layers.0.weight", "extra", "head.weight2"))] = arrays[name]
    elif op == "rename":
        arrays["renamed." + name] = arrays.pop(name)
    elif op == "reshape":
        arrays[name] = arrays[name].reshape(-1)
    elif op == "dtype":
        dtype = rng.choice((np.int32, np.int64, np.float16, np.float64, np.uint8, np.bool_))
        arrays[name] = arrays[name].astype(dtype)
        name = f"{name} as {np.dtype(dtype).name}"
    elif op == "empty":
        arrays[name] = np.zeros((0, *arrays[name].shape[1:]), np.float32)
    elif op == "scalar":
        arrays[name] = np.array(1.5, dtype=np.float32)
    elif op == "grow":
        arrays[name] = np.concatenate([arrays[name], arrays[name]])
    else:
        arrays[name] = arrays[name].copy()
        arrays[name].flat[0] = np.nan if op == "nan" else -np.inf
    return save(arrays, metadata=meta), [f"tensors: {op} {name}"]


def mutate_weights(rng: random.Random, data: bytes, other: bytes) -> tuple[bytes, list[str]]:
    """Header-aware mutations of a safetensors weights file (``other``: a file of another
    genotype, whose header or metadata may be spliced in), or generic byte mutations."""
    parsed = split_safetensors(data)
    if parsed is None or rng.random() < 0.2:
        return mutate_bytes(rng, data)
    if rng.random() < 0.3:
        return mutate_tensors(rng, data)
    header, body = parsed
    meta = header.setdefault("__metadata__", {})
    names = [k for k in header if k != "__metadata__"]
    op = rng.choice(("meta", "meta", "meta", "dtype", "shape", "offsets", "drop", "rename",
                     "extra", "other-genotype", "other-header", "data", "data", "hlen"))
    if op == "meta":
        key = rng.choice(("genotype", "scale", "in_channels", "shuffle_order", "format", "name"))
        value = rng.choice({
            "genotype": (OTHER_GENOTYPE, TINY_GENOTYPE.replace("f16", "f32"), "FALSR-A",
                         "conv-k3-f16-b1-skip@F/fuse@c0\nx", "x" * 5000, "",
                         TINY_GENOTYPE.replace("@F", "@c" + "9" * 50)),
            "scale": ("3", "4", "5", "0", "-2", "x", "9" * 5000, ""),
            "in_channels": ("3", "0", "2", "x", "1" * 30),
            "shuffle_order": ("tf", "neither", ""),
            "format": ("falsr_ext/2", "", "falsr_ext/1\n"),
            "name": ("x\ny", "n" * 10000, "FALSR-A"),
        }[key])
        if rng.random() < 0.15:
            meta.pop(key, None)
            note = f"metadata {key} removed"
        else:
            meta[key] = value
            note = f"metadata {key} = {value[:40]!r}"
        return join_safetensors(header, body), [note]
    if op == "other-genotype":
        meta["genotype"] = OTHER_GENOTYPE
        return join_safetensors(header, body), ["metadata genotype of another network"]
    if op == "other-header":
        parsed_other = split_safetensors(other)
        assert parsed_other is not None
        return join_safetensors(parsed_other[0], body), ["header of another file"]
    if op == "hlen":
        (n,) = struct.unpack("<Q", data[:8])
        value = rng.choice((0, 1, n - 1, n + 1, n + 8, 2**32, 2**63, 2**64 - 1))
        return struct.pack("<Q", value) + data[8:], [f"header length {n} -> {value}"]
    if op == "data" and body:
        buf = bytearray(body)
        notes = mutate_buffer(rng, buf, rng.randint(1, 4), (_flip_bits, _set_byte, _overwrite_u32))
        if len(buf) >= 4 and rng.random() < 0.3:  # a NaN in a weight
            at = rng.randrange(len(buf) // 4) * 4
            buf[at:at + 4] = struct.pack("<f", float("nan"))
            notes.append(f"NaN at data byte {at}")
        return data[:len(data) - len(body)] + bytes(buf), ["tensor data: " + ", ".join(notes)]
    name = rng.choice(names)
    entry = header[name]
    if op == "dtype":
        entry["dtype"] = rng.choice(("F16", "BF16", "F64", "I64", "I32", "U8", "BOOL", "F8_E4M3",
                                     "XX", 3))
        note = f"{name} dtype = {entry['dtype']!r}"
    elif op == "shape":
        shape = list(entry["shape"])
        choice = rng.choice(("drop", "add", "change", "zero", "swap"))
        if choice == "drop" and shape:
            shape.pop()
        elif choice == "add":
            shape.append(rng.choice((1, 2)))
        elif choice == "zero" and shape:
            shape[0] = 0
        elif choice == "swap" and len(shape) > 1:
            shape[0], shape[1] = shape[1], shape[0]
        elif shape:
            shape[rng.randrange(len(shape))] = rng.choice((1, 2, 3, 1000, 2**40, -1))
        entry["shape"] = shape
        note = f"{name} shape = {shape} ({choice})"
    elif op == "offsets":
        start, end = entry["data_offsets"]
        entry["data_offsets"] = rng.choice(
            ([end, start], [start, end + 4], [start + 4, end], [0, 4], [start, 2**62], [-4, end]))
        note = f"{name} data_offsets = {entry['data_offsets']}"
    elif op == "drop":
        del header[name]
        note = f"tensor {name} removed"
    elif op == "rename":
        new = rng.choice(("head.weight.x", "cells.9.layers.0.weight", "x" * 300, "a\nb"))
        header[new] = header.pop(name)
        note = f"tensor {name} renamed {new[:20]!r}"
    else:
        header["extra.weight"] = dict(entry)
        note = f"extra tensor aliasing {name}"
    return join_safetensors(header, body), [note]


# ------------------------------------------------------------------ genotype mutators
_ALPHABET = ("conv", "ib", "g2", "g4", "-", "k1", "k3", "f16", "f32", "f48", "f64", "b1",
             "b2", "b4", "skip", "noskip", "@", "F", "+", "c0", "c1", "c7", "/", "fuse@",
             "0", "9", " ", "\n", "\t", "{", "}", "[", "]", ":", ",", '"', "\u00b2", "\u0663",
             "\u00e9", "\ufffd", "-", ".pb", ".safetensors", "FALSR-A", "default")
_JSON_VALUES = (None, True, False, 0, -1, 3, 3.0, 1e308, 10**30, "3", "", [], {}, [3],
                {"a": 1}, "c0", "F", ["F", "F"], ["c99"], "x" * 300)


def _valid_genotype(rng: random.Random) -> str:
    from falsr_ext.space import sample_genotype

    if rng.random() < 0.3:
        return rng.choice((TINY_GENOTYPE, OTHER_GENOTYPE, "FALSR-B"))
    return sample_genotype(rng, num_cells=rng.choice((1, 2, 3, 7))).to_string()


def _mutate_text(rng: random.Random, text: str) -> tuple[str, str]:
    op = rng.choice(("insert", "delete", "replace", "number", "repeat", "swap"))
    pos = rng.randrange(len(text) + 1)
    if op == "insert":
        tok = rng.choice(_ALPHABET)
        return text[:pos] + tok + text[pos:], f"insert {tok!r} at {pos}"
    if op == "delete" and text:
        n = rng.randint(1, 5)
        return text[:pos] + text[pos + n:], f"delete {n} chars at {pos}"
    if op == "replace" and pos < len(text):
        tok = rng.choice(_ALPHABET)
        return text[:pos] + tok + text[pos + 1:], f"replace char {pos} by {tok!r}"
    if op == "number":
        digits = [i for i, ch in enumerate(text) if ch.isdigit()]
        if digits:
            i = rng.choice(digits)
            value = rng.choice(("0", "00", "-1", "5", "99999", "9" * 5000, "3.0", "\u0663",
                                "\u00b2", "1e3"))
            return text[:i] + value + text[i + 1:], f"number at {i} -> {value[:12]!r}"
    if op == "repeat" and "/" in text:
        cells, _, fuse = text.rpartition("/")
        times = rng.choice((9, 70, 1000))
        first = cells.split("/")[0].split("@")[0]
        return "/".join([cells] + [first] * times + [fuse]), f"{times} extra cells"
    if op == "swap":
        parts = text.split("/")
        rng.shuffle(parts)
        return "/".join(parts), "parts shuffled"
    return text + rng.choice(_ALPHABET), "append a token"


def _mutate_json(rng: random.Random, text: str) -> tuple[str, list[str]]:
    data = json.loads(text)
    notes = []
    for _ in range(rng.randint(1, 2)):
        op = rng.choice(("cell-field", "cell-field", "top", "drop", "nest", "inputs", "cells"))
        cells = data.get("cells") if isinstance(data, dict) else None
        if op == "cell-field" and isinstance(cells, list) and cells and isinstance(cells[0], dict):
            cell = rng.choice(cells)
            key = rng.choice(("block", "kernel", "filters", "blocks", "skip", "inputs", "extra"))
            cell[key] = rng.choice(_JSON_VALUES)
            notes.append(f"cell {key} = {cell[key]!r}"[:60])
        elif op == "top" and isinstance(data, dict):
            key = rng.choice(("format", "cells", "fusion", "name"))
            data[key] = rng.choice(_JSON_VALUES)
            notes.append(f"{key} = {data[key]!r}"[:60])
        elif op == "drop" and isinstance(data, dict) and data:
            key = rng.choice(sorted(data))
            del data[key]
            notes.append(f"drop {key}")
        elif op == "nest":  # as text: json itself cannot build or dump 30000 levels
            depth = rng.choice((5, 40, 3000, 30000))
            nested = "[" * depth + "]" * depth
            return f'{{"cells": {nested}, "fusion": ["c0"]}}', [*notes, f"nested {depth} deep"]
        elif op == "inputs" and isinstance(cells, list) and cells and isinstance(cells[-1], dict):
            cells[-1]["inputs"] = rng.choice((["F", "c0"], ["c0", "F"], [], "F", [0], ["c-1"],
                                              ["F"] * 3, [f"c{i}" for i in range(200)]))
            notes.append(f"inputs = {cells[-1]['inputs']!r}"[:60])
        elif op == "cells" and isinstance(cells, list) and cells:
            cells.extend([cells[0]] * rng.choice((1, 70)))
            notes.append("cells repeated")
    return json.dumps(data, indent=rng.choice((None, 2))), notes


def make_genotype_spec(rng: random.Random) -> tuple[str, list[str]]:
    """A mutated genotype specification (compact string or JSON text)."""
    from falsr_ext.space import parse_genotype

    base = _valid_genotype(rng)
    choice = rng.random()
    if choice < 0.08:
        size = rng.choice((5000, 70000))
        return (base * (size // len(base) + 1))[:size], [f"{size} chars"]
    if choice < 0.45:
        text = parse_genotype(base).to_json(indent=rng.choice((None, 2)))
        if rng.random() < 0.75:
            text, notes = _mutate_json(rng, text)
        else:
            notes = []
        if rng.random() < 0.4:
            text, note = _mutate_text(rng, text)
            notes.append(note)
        return text, ["JSON", *notes]
    notes = []
    text = base
    for _ in range(rng.choice((1, 1, 2, 3))):
        text, note = _mutate_text(rng, text)
        notes.append(note)
    return text, notes


# ---------------------------------------------------------------------------- cases
@dataclass
class Case:
    """One fuzz case: files to write and the ``falsr`` argument lists to run."""

    target: str
    index: int
    notes: list[str]
    files: dict[str, bytes] = field(default_factory=dict)  # relative name -> content
    commands: list[list[str]] = field(default_factory=list)  # "{dir}" = the case folder

    def describe(self) -> str:
        return f"{self.target}#{self.index} [{'; '.join(self.notes)}]"


def claimed_pixels(data: bytes) -> int | None:
    """The width x height an image file's header claims (None: no readable header)."""
    from PIL import Image

    if data.startswith(PNG_SIGNATURE) and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return width * height
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns about corrupt metadata
            with Image.open(io.BytesIO(data)) as img:
                return img.width * img.height
    except Exception:  # noqa: BLE001 - any parse failure means "no size claimed"
        return None


def _bounded(draw: Callable[[], tuple[bytes, list[str]]]) -> tuple[bytes, list[str]]:
    """Redraw image mutations whose header claims a size Pillow would try to decode."""
    for _ in range(20):
        data, notes = draw()
        pixels = claimed_pixels(data)
        if pixels is None or pixels <= MAX_DECODED_PIXELS or pixels > PILLOW_HARD_LIMIT:
            return data, notes
    return draw()[0][:40], ["truncated to 40 bytes (redraw limit)"]


IMAGE_TARGETS = ("png8", "png8p", "png16", "png16a", "png16g", "jpeg", "gif", "tiff", "webp")
PNG_TARGETS = ("png8", "png8p", "png16", "png16a", "png16g")
TARGETS = (*IMAGE_TARGETS, "weights", "genotype")


def make_case(target: str, index: int, seeds: dict[str, Path]) -> Case:
    """Fuzz case ``index`` of ``target`` (deterministic given the seed files)."""
    rng = random.Random(f"{target}:{index}")
    weights = "{dir}/../" + seeds["weights"].name
    if target in IMAGE_TARGETS:
        seed = seeds[target].read_bytes()
        mutate = {"jpeg": mutate_jpeg, **dict.fromkeys(PNG_TARGETS, mutate_png)}.get(
            target, mutate_bytes)
        data, notes = _bounded(lambda: mutate(rng, seed))
        suffix = seeds[target].suffix
        # eval lists only some suffixes; any name works, Pillow goes by the content
        hr = f"data/HR/img{suffix if suffix in ('.png', '.jpg', '.tif') else '.png'}"
        case = Case(target, index, notes, {f"in{suffix}": data, hr: data})
        case.commands.append(["upscale", f"{{dir}}/in{suffix}", "-o", "{dir}/out.png",
                              f"--model={weights}", "--no-progress"])
        if index % 2 == 0:  # eval reads the same bytes as a dataset's HR image
            case.commands.append(["eval", f"--model={weights}", "--data", "{dir}/data",
                                  "--no-progress"])
        return case
    if target == "weights":
        data, notes = mutate_weights(rng, seeds["weights"].read_bytes(),
                                     seeds["weights2"].read_bytes())
        case = Case(target, index, notes, {"w.safetensors": data})
        case.commands.append(["upscale", "{dir}/../" + seeds["png8"].name, "-o",
                              "{dir}/out.png", "--model={dir}/w.safetensors", "--no-progress"])
        case.commands.append(["count", "{dir}/w.safetensors"])
        return case
    if target == "genotype":
        spec, notes = make_genotype_spec(rng)
        case = Case(target, index, notes, {"g.json" if spec.lstrip().startswith("{")
                                           else "g.txt": spec.encode()})
        case.commands.append(["genotype", *(["--json"] if index % 2 else []), "--", spec])
        case.commands.append(["count", "--size", "8x8", "--", spec])
        case.commands.append(["count", "{dir}/" + next(iter(case.files))])
        if index % 3 == 0:
            case.commands.append(["upscale", "{dir}/../" + seeds["png8"].name, "-o",
                                  "{dir}/out.png", f"--model={spec}", "--no-progress"])
        return case
    raise ValueError(f"unknown fuzz target {target!r} (known: {', '.join(TARGETS)})")


def run_case(case: Case, folder: Path) -> list[str]:
    """Write ``case``'s files under ``folder`` and run its commands; returns the problems
    found, each with the case, the command line and what went wrong."""
    for name, content in case.files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    problems = []
    for command in case.commands:
        argv = [arg.replace("{dir}", str(folder)) for arg in command]
        problem = problem_of(run_main(argv))
        if problem:
            problems.append(f"{case.describe()}\n  $ {shell_quote(argv)}\n  {problem}\n"
                            f"  reproduce: python tests/fuzz_helpers.py {case.target} "
                            f"{case.index}")
    return problems


def main(argv: list[str]) -> int:
    """``python tests/fuzz_helpers.py TARGET INDEX [FOLDER]``: replay one case."""
    if len(argv) not in (2, 3):
        print(__doc__)
        return 2
    target, index = argv[0], int(argv[1])
    root = Path(argv[2]) if len(argv) == 3 else Path(tempfile.mkdtemp(prefix="falsr-fuzz-"))
    seeds = make_seeds(root)
    case = make_case(target, index, seeds)
    folder = root / f"{target}-{index}"
    folder.mkdir(parents=True, exist_ok=True)
    print(case.describe())
    for command in case.commands:
        print("$", shell_quote([arg.replace("{dir}", str(folder)) for arg in command]))
    problems = run_case(case, folder)
    print("\n".join(problems) if problems else "no problem")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
