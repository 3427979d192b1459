"""FALSR's elastic space (Chu et al., arXiv 1901.07261) behind the SearchSpace protocol.

The genotype, network, counter and search encoding live in :mod:`falsr_ext.space`,
:mod:`falsr_ext.models`, :mod:`falsr_ext.counter` and :mod:`falsr_ext.nas.encoding`;
this room of the house presents them as one :class:`~falsr_ext.spaces.base.SearchSpace`.
"""

from __future__ import annotations

import numpy as np
from torch import nn

from falsr_ext.space import Genotype, parse_genotype
from falsr_ext.spaces.base import Cost
from falsr_ext.spaces.falsr.cards import card_of, released_cards
from falsr_ext.spaces.registry import register_space


class FalsrSpace:
    """FALSR genotypes: ``parse`` takes a compact string, JSON or a zoo name."""

    name = "falsr"

    def parse(self, text: str) -> Genotype:
        """A validated genotype (zoo name, compact string or JSON)."""
        return parse_genotype(text)

    def format(self, arch: Genotype) -> str:
        """The compact string."""
        return arch.to_string()

    def to_json(self, arch: Genotype) -> str:
        """The JSON form."""
        return arch.to_json()

    def build(self, arch: Genotype, scale: int) -> nn.Module:
        """A fresh luma :class:`~falsr_ext.models.falsr_net.FalsrNet`."""
        from falsr_ext.models.falsr_net import build_model

        return build_model(arch, scale=scale)

    def count(self, arch: Genotype, height: int, width: int, scale: int) -> Cost:
        """Params and conv MACs from the C++ counter."""
        from falsr_ext.counter import count

        result = count(arch, height=height, width=width, scale=scale)
        return Cost(result.params, result.macs)

    def sample(self, rng: np.random.Generator) -> Genotype:
        """A uniformly random genotype of the 7-cell search encoding."""
        from falsr_ext.nas.encoding import decode, random_vectors

        return decode(random_vectors(rng, 1)[0])


SPACE = register_space(FalsrSpace())

__all__ = ["SPACE", "FalsrSpace", "card_of", "released_cards"]
