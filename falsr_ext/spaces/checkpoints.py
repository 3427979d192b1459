"""Released checkpoints of other projects (DLSR, TPSR ``.pt`` files) through our own
networks. The space is found from the file's sha256 (the model cards pin each release,
wiring included) or, for another file, by trying each space's importer. Files are read
with ``torch.load(weights_only=True)``: tensors only, never code."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

from torch import nn

from falsr_ext.errors import FalsrError, WeightsError
from falsr_ext.files import file_sha256, short_path

# space -> (module of its cards, module of its importer, importer function)
IMPORTERS = {
    "dlsr": ("falsr_ext.spaces.dlsr.cards", "falsr_ext.spaces.dlsr.convert",
             "load_dlsr_checkpoint"),
    "tpsr": ("falsr_ext.spaces.tpsr.cards", "falsr_ext.spaces.tpsr.convert",
             "load_tpsr_checkpoint"),
}
CHECKPOINT_SUFFIXES = (".pt", ".pth")
# Released lightweight-SR checkpoints are a few MB; this bounds what is hashed and read.
MAX_CHECKPOINT_BYTES = 512 * 2**20


def released_space(path: Path) -> str | None:
    """The space whose model cards list this file's sha256, if any."""
    digest = file_sha256(path)
    for space, (cards, _module, _function) in IMPORTERS.items():
        if importlib.import_module(cards).card_for_sha256(digest) is not None:
            return space
    return None


def load_checkpoint(path: str | os.PathLike[str], arch: str | None = None) -> nn.Module:
    """The network of a released DLSR / TPSR checkpoint (eval mode, CPU, fp32).

    ``arch`` (``"dlsr:..."`` / ``"tpsr:..."``, or without prefix for a file whose space is
    known) gives the architecture of a file no card describes. For a released file the
    DLSR importer lets it override the card's wiring (the checkpoints do not record it;
    the shapes must still fit) and the TPSR importer refuses a disagreeing one. Raises
    :class:`WeightsError` (one line) for anything else.
    """
    p = Path(path)
    name = short_path(p)
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise WeightsError(f"{name}: cannot read ({exc.strerror or exc})") from None
    if size > MAX_CHECKPOINT_BYTES:
        raise WeightsError(f"{name}: {size:,} bytes is not a lightweight SR checkpoint")
    space, arch_text = _split_arch(arch)
    space = space or released_space(p)
    if space is not None:
        return _importer(space)(p, arch_text).eval()
    errors = []
    for candidate in IMPORTERS:  # an unknown file: the importer whose format it has
        try:
            return _importer(candidate)(p, None).eval()
        except FalsrError as exc:
            errors.append(f"{candidate}: {exc}")
    raise WeightsError(f"{name}: not a DLSR or TPSR checkpoint this version can read "
                       f"({'; '.join(e[:160] for e in errors)})")


def _split_arch(arch: str | None) -> tuple[str | None, str | None]:
    if arch is None:
        return None, None
    head, sep, rest = arch.partition(":")
    if sep and head.strip().lower() in IMPORTERS:
        return head.strip().lower(), rest
    return None, arch


def _importer(space: str):
    _cards, module, function = IMPORTERS[space]
    return getattr(importlib.import_module(module), function)
