"""Seamless tiling of ``upscale``: the tile plan and the tile size that bounds memory.

Tiling is seamless: each LR tile runs with a halo of the network's receptive-field radius
(:func:`falsr_ext.receptive.receptive_radius`), clamped at the image border where the
zero padding is the untiled one, and only the tile's core is kept (the chroma and alpha
resize adds its own 2 px halo, :data:`falsr_ext.upscaling.colour.CHROMA_HALO`). Only the
input, the output and one tile's working set are ever in memory, whatever the image size.

The per-network choices (:func:`tile_halo`, :func:`default_tile`) live here too: a FALSR
genotype has a memory model (:func:`tile_bytes_per_pixel`), other spaces a fixed side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch import nn

from falsr_ext.errors import ImageError
from falsr_ext.models.falsr_net import HR_CHANNELS, FalsrNet
from falsr_ext.receptive import receptive_radius
from falsr_ext.space import FEATURE_CHANNELS, IB_EXPANSION, Genotype

# Working-set budget of one tile (activations + per-tile HR temporaries), bytes.
TILE_BUDGET = 384 * 2**20
MIN_AUTO_TILE = 64


@dataclass(frozen=True)
class Tile:
    """One LR tile: its core ``[y0, y1) x [x0, x1)`` and the halo box the network reads."""

    y0: int
    y1: int
    x0: int
    x1: int
    hy0: int
    hy1: int
    hx0: int
    hx1: int

    def grown(self, halo: int, height: int, width: int) -> Tile:
        """The same core with another halo (clamped to the image)."""
        return Tile(self.y0, self.y1, self.x0, self.x1, max(0, self.y0 - halo),
                    min(height, self.y1 + halo), max(0, self.x0 - halo), min(width, self.x1 + halo))


def plan_tiles(height: int, width: int, tile: int, halo: int) -> list[Tile]:
    """Cores of at most ``tile`` x ``tile`` LR px covering the image once, row-major.

    Each core carries a halo of ``halo`` px on every side, clamped at the image border.
    """
    if height < 1 or width < 1:
        raise ImageError(f"cannot tile an image of {height}x{width}")
    if int(tile) != tile or tile < 1:
        raise ValueError(f"tile must be a positive integer (LR px), got {tile!r}")
    if int(halo) != halo or halo < 0:
        raise ValueError(f"halo must be a non-negative integer, got {halo!r}")
    tiles = []
    for y0 in range(0, height, tile):
        for x0 in range(0, width, tile):
            core = Tile(y0, min(height, y0 + tile), x0, min(width, x0 + tile), 0, 0, 0, 0)
            tiles.append(core.grown(halo, height, width))
    return tiles


def tile_bytes_per_pixel(genotype: Genotype, scale: int, in_channels: int = 1) -> int:
    """Estimated peak working set of the plain module per LR pixel of a tile, in bytes.

    Every node output stays alive until the fusion (FalsrNet keeps the node list), plus
    the largest transient: a cell's concatenated input and its internal layers, the
    fusion concat and its outputs, or the HR end (shuffle, reconstruction). The per-tile
    float64 colour temporaries (about a dozen HR planes) are added.
    """
    nodes = sum(genotype.channels_of(n) for n in range(genotype.num_nodes))
    transient = 0
    for i, cell in enumerate(genotype.cells):
        concat = genotype.cell_in_channels(i) if len(cell.inputs) > 1 else 0
        if cell.block == "ib":
            inner = 3 * cell.filters + 2 * IB_EXPANSION * cell.filters
        else:
            inner = 3 * cell.filters
        transient = max(transient, concat + inner)
    fusion = genotype.fusion_in_channels + 3 * FEATURE_CHANNELS
    tail = 3 * HR_CHANNELS * scale * scale + in_channels * scale * scale
    floats = nodes + max(transient, fusion, tail) + in_channels
    # Convolutions may copy their input into a blocked layout: one more of the widest.
    floats += max(genotype.fusion_in_channels,
                  *(genotype.cell_in_channels(i) for i in range(len(genotype.cells))))
    return 4 * floats + 8 * 12 * scale * scale


def auto_tile(genotype: Genotype, scale: int, height: int, width: int,
              budget: int = TILE_BUDGET, in_channels: int = 1) -> int:
    """LR tile size keeping one tile's working set within ``budget`` bytes.

    The whole image (no halo overhead) when it fits, else the largest multiple of 16
    (at least ``MIN_AUTO_TILE``) whose haloed tile fits.
    """
    per_px = tile_bytes_per_pixel(genotype, scale, in_channels)
    if height * width * per_px <= budget:
        return max(height, width)
    halo = receptive_radius(genotype, scale)
    side = math.isqrt(budget // per_px) - 2 * halo
    return max(MIN_AUTO_TILE, side // 16 * 16)


# A tile side for exactly-tiling networks of other spaces (no per-architecture memory
# model yet): their released networks hold a few dozen feature maps, so 512x512 LR px
# stays near 1 GiB.
OTHER_SPACE_TILE = 512
# Networks whose card says tiling is "approximate" (DLSR: ESA pools over the whole input)
# run whole while this many bytes suffice: on Set14 x2 any tile that cuts the image cost
# 0.01-0.27 dB on the worst image, and larger tiles did not shrink that cost
# (python/dlsr_tiling_cost.py, benchmarks/results/dlsr-tiling.json); only no tiling is
# below 0.01 dB. dlsr-full peaks at about 3.2 KB per LR px (1.07 GiB at 512x512).
APPROXIMATE_TILING_BUDGET = 3 * 2**30
APPROXIMATE_BYTES_PER_PX = 4096


def tile_halo(net: nn.Module) -> int:
    """LR px of context a tile reads (at least the network's minimum input size)."""
    card = net.card
    if isinstance(net, FalsrNet):
        return receptive_radius(net.genotype, net.scale)
    return max(card.halo, card.min_size)


def default_tile(net: nn.Module, height: int, width: int) -> int:
    """The LR tile side ``upscale`` uses when the caller names none: FALSR networks by
    their memory model; approximate-tiling networks whole while the budget allows (then
    the largest square tile it allows); other exact-tiling networks OTHER_SPACE_TILE."""
    if isinstance(net, FalsrNet):
        return auto_tile(net.genotype, net.scale, height, width, in_channels=net.in_channels)
    if net.card.tiling == "approximate":
        fits = APPROXIMATE_TILING_BUDGET // APPROXIMATE_BYTES_PER_PX
        if height * width <= fits:
            return max(height, width)
        return max(MIN_AUTO_TILE, (math.isqrt(fits) - 2 * tile_halo(net)) // 16 * 16)
    return max(height, width) if max(height, width) <= OTHER_SPACE_TILE else OTHER_SPACE_TILE

