"""What every search space provides (:class:`SearchSpace`) and what every released or
bundled model declares (:class:`ModelCard`).

A space owns everything that knows its architectures: parsing and formatting them,
building the ``nn.Module``, counting params and MACs, sampling. Everything above it
(evaluation, upscaling, training, the CLI) reads a model's card, never its class.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
from torch import nn

Colour = Literal["luma", "rgb"]
Tiling = Literal["exact", "approximate"]


@dataclass(frozen=True)
class Cost:
    """Learnable parameters and conv multiply-accumulates (MACs, the README convention:
    conv layers only, depthwise counted per group, at the given LR input size)."""

    params: int
    macs: int


@dataclass(frozen=True)
class ModelCard:
    """How to run, score and tile one model (after spandrel's model descriptors).

    Attributes:
        name: the model's name, e.g. ``"dlsr-full"``.
        space: the search space (``"falsr"``, ``"dlsr"``, ``"tpsr"``).
        arch: the architecture in the space's compact string form.
        scale: the upscaling factor.
        colour: ``"luma"`` (the network sees Y, chroma is upscaled by bicubic) or
            ``"rgb"`` (the network sees and returns RGB).
        input_range: the value of white at the network's input and output (1.0 or 255.0).
        tiling: ``"exact"`` when a tile with a halo of :attr:`halo` LR px gives the
            untiled result, ``"approximate"`` when global operations (e.g. DLSR's ESA)
            make tiles differ slightly.
        halo: LR px of context a tile needs (the receptive radius for exact tiling).
        min_size: the smallest LR height / width the network accepts.
        protocol: the evaluation protocol of :func:`falsr_ext.evaluate` (``"falsr"``:
            rounded Y, luma network; ``"y-float"``: RGB network, float Y, crop = scale).
        sha256: of the released weights file this card describes (``None`` otherwise).
        weights: the released file's name (for messages; never bundled).
        paper: where the model comes from.
        reference: reference figures, e.g. ``{"Set5": {"psnr": 38.0392, "ssim": 0.96061}}``.
    """

    name: str
    space: str
    arch: str
    scale: int
    colour: Colour
    input_range: float
    tiling: Tiling
    halo: int
    min_size: int
    protocol: str
    sha256: str | None = None
    weights: str | None = None
    paper: str = ""
    reference: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class SearchSpace(Protocol):
    """The protocol of a search space. ``Arch`` is the space's own (frozen, hashable)
    architecture type; its compact string never contains the ``space:`` prefix."""

    name: str

    def parse(self, text: str) -> Any:
        """An architecture from its compact string or JSON; raises
        :class:`~falsr_ext.errors.GenotypeError` naming the bad field."""
        ...

    def format(self, arch: Any) -> str:
        """The compact string (``parse(format(a)) == a``)."""
        ...

    def to_json(self, arch: Any) -> str:
        """The JSON form (``parse(to_json(a)) == a``)."""
        ...

    def build(self, arch: Any, scale: int) -> nn.Module:
        """A freshly initialised, trainable network of ``arch`` for ``scale``."""
        ...

    def count(self, arch: Any, height: int, width: int, scale: int) -> Cost:
        """Exact params and conv MACs for an LR input of ``height`` x ``width``."""
        ...

    def sample(self, rng: np.random.Generator) -> Any:
        """A random architecture of the space."""
        ...
