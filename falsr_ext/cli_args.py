"""Argument types shared by the ``falsr`` subcommands: every value is checked by the
parser, so a bad one is a usage error naming the argument, never a traceback later."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

from falsr_ext.errors import FalsrError

# Below this an LR tile is mostly halo: a 3 px tile of a FALSR network recomputes a
# ~40 px wide receptive field for every 9 output px and runs for minutes.
MIN_TILE = 16


def int_at_least(minimum: int, what: str = "a value") -> Callable[[str], int]:
    """An argparse type: an integer >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{what} must be at least {minimum}, got {value}")
        return value

    parse.__name__ = "integer"  # argparse names the type in its messages
    return parse


positive_int = int_at_least(1)
threads_count = int_at_least(1, "threads")
scale_factor = int_at_least(1, "scale")


def tile_size(text: str) -> int:
    """``--tile``: 0 (automatic, memory-bounded) or a tile side of at least MIN_TILE px."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value != 0 and value < MIN_TILE:
        raise argparse.ArgumentTypeError(
            f"tile must be 0 (automatic) or at least {MIN_TILE} px, got {value}")
    return value


def device_name(text: str) -> str:
    """``--device``: ``cpu``, ``cuda`` or ``cuda:N``."""
    name = text.strip().lower()
    if name in ("cpu", "cuda"):
        return name
    if name.startswith("cuda:") and name[5:].isdigit():
        return name
    raise argparse.ArgumentTypeError(f"device must be cpu, cuda or cuda:N, got {text!r}")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or a.samefile(b)
    except (OSError, ValueError):  # absent, or a name the system refuses
        return False


def check_output_path(out: Path, inputs: Sequence[Path], force: bool) -> None:
    """Refuse an output that is one of the inputs, a folder, or (without ``force``) an
    existing file: a command must never destroy what it reads or what it did not make."""
    from falsr_ext.files import path_kind, short_path

    kind = path_kind(out)
    for src in inputs:
        if _same_file(out, src):
            raise FalsrError(f"{out}: is the input; refusing to overwrite it (choose another "
                             f"output)")
    if kind == "dir":
        raise FalsrError(f"{short_path(out)}: is a folder; name the output file")
    if kind is not None and not force:
        raise FalsrError(f"{short_path(out)}: already exists; pass --force to overwrite it")
    if path_kind(out.parent) != "dir":
        raise FalsrError(f"{short_path(out.parent)}: no such folder for the output")
