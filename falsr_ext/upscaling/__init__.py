"""``upscale``: super-resolve an image of any common kind with a model of any space.

The result has the input's kind (PIL image, numpy array, torch tensor), mode, dtype and
layout, ``scale`` times larger; tiling never changes it. One concern per module:

* :mod:`~falsr_ext.upscaling.api`: :func:`upscale` itself, its options, the model it
  runs, the loop over tiles, thread safety.
* :mod:`~falsr_ext.upscaling.inputs`: the input kinds as one HxWxC array and back.
* :mod:`~falsr_ext.upscaling.tiling`: the seamless tile plan and the memory-bounded tile
  size (:func:`plan_tiles`, :func:`auto_tile`, :func:`tile_bytes_per_pixel`).
* :mod:`~falsr_ext.upscaling.colour`: one tile's network run and the FALSR colour
  pipeline around it (bit for bit the official protocol for uint8 RGB).
"""

from __future__ import annotations

from falsr_ext.upscaling.api import _upscale_array, upscale
from falsr_ext.upscaling.colour import CHROMA_HALO
from falsr_ext.upscaling.tiling import (
    MIN_AUTO_TILE,
    OTHER_SPACE_TILE,
    TILE_BUDGET,
    Tile,
    auto_tile,
    plan_tiles,
    tile_bytes_per_pixel,
)

__all__ = [
    "CHROMA_HALO",
    "MIN_AUTO_TILE",
    "OTHER_SPACE_TILE",
    "TILE_BUDGET",
    "Tile",
    "_upscale_array",
    "auto_tile",
    "plan_tiles",
    "tile_bytes_per_pixel",
    "upscale",
]
