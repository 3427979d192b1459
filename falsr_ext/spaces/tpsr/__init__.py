"""The TPSR generator search space (Lee et al., ECCV 2020; ``shared/tpsr/README.md``).

``get_space("tpsr")`` / ``create_model("tpsr:f16/sep5@s,.../sum=9+8+6", scale=4)``;
official checkpoints through :func:`load_tpsr_checkpoint`. Architecture:
:mod:`.arch` (+ text forms in :mod:`.text`), network :mod:`.net`, counts :mod:`.count`,
released cards :mod:`.cards`.
"""

from __future__ import annotations

import numpy as np

from falsr_ext.spaces.base import Cost
from falsr_ext.spaces.registry import register_space
from falsr_ext.spaces.tpsr.arch import OPS, RELEASED_ARCH, SCALES, TpsrArch, TpsrNode
from falsr_ext.spaces.tpsr.cards import CARDS, card_for_name, card_for_sha256, derive_card
from falsr_ext.spaces.tpsr.convert import load_tpsr_checkpoint
from falsr_ext.spaces.tpsr.count import TpsrCost, receptive_radius, tpsr_cost
from falsr_ext.spaces.tpsr.net import TpsrNet
from falsr_ext.spaces.tpsr.sample import prune, sample_arch
from falsr_ext.spaces.tpsr.text import arch_from_json, arch_to_json, parse_arch


class TpsrSpace:
    """The TPSR space behind the :class:`~falsr_ext.spaces.base.SearchSpace` protocol.
    ``parse`` also takes a released card's name (``"tpsr-nogan"``...) for its arch."""

    name = "tpsr"

    def parse(self, text: str) -> TpsrArch:
        """A :class:`TpsrArch` from its compact string, JSON, or a released card's name."""
        card = card_for_name(text) if isinstance(text, str) else None
        return parse_arch(card.arch if card is not None else text)

    def format(self, arch: TpsrArch) -> str:
        """The compact string."""
        return arch.to_string()

    def to_json(self, arch: TpsrArch) -> str:
        """The JSON form."""
        return arch_to_json(arch)

    def build(self, arch: TpsrArch, scale: int) -> TpsrNet:
        """A freshly initialised :class:`TpsrNet`."""
        return TpsrNet(arch, scale)

    def count(self, arch: TpsrArch, height: int, width: int, scale: int) -> Cost:
        """Learnable params and all-conv MACs (:mod:`.count` states the convention)."""
        return tpsr_cost(arch, height, width, scale).cost()

    def sample(self, rng: np.random.Generator) -> TpsrArch:
        """A random 10-node, 16-feature cell (the release's size)."""
        return sample_arch(rng)


SPACE = register_space(TpsrSpace())

__all__ = ["CARDS", "OPS", "RELEASED_ARCH", "SCALES", "SPACE", "TpsrArch", "TpsrCost",
           "TpsrNet", "TpsrNode", "TpsrSpace", "arch_from_json", "arch_to_json",
           "card_for_name", "card_for_sha256", "derive_card", "load_tpsr_checkpoint",
           "parse_arch", "prune", "receptive_radius", "sample_arch", "tpsr_cost"]
