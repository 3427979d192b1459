"""DLSR's space (Huang et al., arXiv 2105.03939) behind the SearchSpace protocol.

An architecture (:class:`DlsrArch`) is the width, the three refine ops shared by the six
RFDB-style cells (9 candidates) and the two earlier cells each of cells 3..6 reads::

    falsr_ext.create_model("dlsr:nf48-conv_1x1+sep_conv_7x7+sep_conv_5x5-c3=1+2,c4=2+3,c5=2+4,c6=4+5")
    falsr_ext.spaces.dlsr.load_dlsr_checkpoint("RFDN_beta21_ps128_20210128_1000.pt")
"""

from __future__ import annotations

import numpy as np

from falsr_ext.spaces.base import Cost
from falsr_ext.spaces.dlsr.arch import (
    LINKED_CELLS,
    OPS,
    WIRING_A,
    WIRING_B,
    DlsrArch,
    parse_arch,
)
from falsr_ext.spaces.dlsr.cards import card_for_name, card_for_sha256, released_cards
from falsr_ext.spaces.dlsr.convert import load_dlsr_checkpoint
from falsr_ext.spaces.dlsr.count import DlsrCount, count_arch
from falsr_ext.spaces.dlsr.net import DlsrNet
from falsr_ext.spaces.registry import register_space

DEFAULT_NF = 48  # the released full/para width; the search fixes the width


def sample_arch(rng: np.random.Generator, nf: int = DEFAULT_NF) -> DlsrArch:
    """A uniformly random architecture of width ``nf``: three ops (with repetition) and,
    for each of cells 3..6, an ordered pair of distinct earlier cells."""
    ops = tuple(OPS[i] for i in rng.integers(len(OPS), size=3))
    links = tuple(tuple(int(c) + 1 for c in rng.choice(cell - 1, size=2, replace=False))
                  for cell in LINKED_CELLS)
    return DlsrArch(nf, ops, links)  # type: ignore[arg-type]


class DlsrSpace:
    """DLSR architectures: ``parse`` takes a compact string, JSON or a released name
    (``full``, ``para``, ``tiny``, with or without ``dlsr-``)."""

    name = "dlsr"

    def parse(self, text: str) -> DlsrArch:
        """A validated architecture (released name, compact string or JSON)."""
        card = card_for_name(text) if isinstance(text, str) and len(text) < 40 else None
        return parse_arch(card.arch if card is not None else text)

    def format(self, arch: DlsrArch) -> str:
        """The compact string."""
        return arch.to_string()

    def to_json(self, arch: DlsrArch) -> str:
        """The JSON form."""
        return arch.to_json()

    def build(self, arch: DlsrArch, scale: int) -> DlsrNet:
        """A fresh :class:`DlsrNet` (PyTorch default initialisation)."""
        return DlsrNet(arch, scale)

    def count(self, arch: DlsrArch, height: int, width: int, scale: int) -> Cost:
        """Exact params and conv MACs (analytic; see :mod:`~falsr_ext.spaces.dlsr.count`)."""
        return count_arch(arch, height, width, scale).cost

    def sample(self, rng: np.random.Generator) -> DlsrArch:
        """A uniformly random architecture of width 48."""
        return sample_arch(rng)


SPACE = register_space(DlsrSpace())

__all__ = ["OPS", "SPACE", "WIRING_A", "WIRING_B", "DlsrArch", "DlsrCount", "DlsrNet",
           "DlsrSpace", "card_for_name", "card_for_sha256", "count_arch",
           "load_dlsr_checkpoint", "parse_arch", "released_cards", "sample_arch"]
