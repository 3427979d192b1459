"""Receptive radius of a DLSR network, for the tiling halo of its card.

The local paths only: ESA's pooled branch sees the whole image, so a tile with this halo
gives nearly (not exactly) the untiled result; the card says ``tiling="approximate"``.
"""

from __future__ import annotations

from falsr_ext.spaces.dlsr.arch import NUM_CELLS, DlsrArch
from falsr_ext.spaces.dlsr.ops import op_kernel, op_kind


def op_radius(name: str) -> int:
    """LR px of context an op adds (a separable op has two k x k convs, a dilated one
    a single k x k conv with dilation 2)."""
    half = op_kernel(name) // 2
    return {"conv": half, "sep": 2 * half, "dil": 2 * half}[op_kind(name)]


def cell_depths(arch: DlsrArch) -> list[int]:
    """For cells 1..6, the most cells on any path from the stem through that cell."""
    depth = [0]  # the stem
    for cell in range(1, NUM_CELLS + 1):
        depth.append(1 + max(depth[src] for src in arch.cell_inputs(cell)))
    return depth[1:]


def receptive_radius(arch: DlsrArch) -> int:
    """LR px of context one output pixel needs through the convs (ESA's global pool
    aside): stem 3x3, the deepest chain of cells (op1..op3 then the 3x3 ``c4``), the
    tail 3x3 and the upsampler 3x3."""
    per_cell = sum(op_radius(op) for op in arch.ops) + 1
    return 3 + max(cell_depths(arch)) * per_cell
