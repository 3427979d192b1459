"""Receptive-field radius of a FALSR-space network, in LR pixels.

Tiled inference needs it: an output pixel depends on the LR pixels at most ``radius``
away (Chebyshev distance), so a tile run with a halo of ``radius`` LR pixels on each side
(clamped at the image border, where the network's zero padding is the same as untiled)
gives exactly the untiled output on its core.
"""

from __future__ import annotations

import math

from falsr_ext.space import Cell, Genotype

# The fixed frame: F is a 3x3 conv, the fusion conv is 3x3, the x3/x4 pre-shuffle conv
# is 3x3, and the inverted bottleneck's depthwise conv is always 3x3.
_HEAD = 1
_FUSION = 1
_PRE_SHUFFLE = 1
_DEPTHWISE = 1


def cell_radius(cell: Cell) -> int:
    """How far (LR px) one cell's output reaches into its input along its deepest path.

    conv / group cells: ``blocks`` layers of ``kernel // 2``; the skip (first + last
    layer) adds nothing beyond the last layer's reach. ib cells: a 1x1 reduce (0), then
    per block expand ``k // 2`` + depthwise 1 + project ``k // 2`` (the block residual
    and the cell skip are shorter paths).
    """
    half = cell.kernel // 2
    if cell.block == "ib":
        return cell.blocks * (2 * half + _DEPTHWISE)
    return cell.blocks * half


def receptive_radius(genotype: Genotype, scale: int) -> int:
    """Receptive-field radius of the network of ``genotype`` at ``scale``, in LR pixels.

    The longest path of ``k // 2`` through the wiring: F (+1), each cell adds its
    :func:`cell_radius` to the max over its inputs, fusion (+1, its residual F is
    shorter), the x3/x4 pre-shuffle conv (+1) and the HR reconstruction 3x3 conv
    (``ceil(1 / scale)`` LR px, i.e. 1). No safety margin: tests check it is tight.
    """
    if int(scale) != scale or scale < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")
    radii = [_HEAD]
    for cell in genotype.cells:
        radii.append(max(radii[i] for i in cell.inputs) + cell_radius(cell))
    radius = max(radii[i] for i in genotype.fusion) + _FUSION
    if scale != 2:
        radius += _PRE_SHUFFLE
    # The reconstruction conv reaches 1 HR px, which lies in the neighbouring LR px.
    return radius + math.ceil(1 / scale)
