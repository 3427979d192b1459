"""Exact params and conv MACs of any DLSR network, analytically (no module built).

Convention (``../shared/dlsr/README.md``): MACs = sum over Conv2d layers of output
elements x C_in/groups x k_h x k_w at the LR input size (depthwise per group, ESA's
strided and pooled convs at their own sizes); no bias, activation, pooling, resize,
sigmoid or pixel shuffle. Params = every weight and bias (``sum(p.numel())``).
Plain integer arithmetic: far over 10,000 architectures per second.
"""

from __future__ import annotations

from dataclasses import dataclass

from falsr_ext.spaces.base import Cost
from falsr_ext.spaces.dlsr.arch import NUM_CELLS, DlsrArch
from falsr_ext.spaces.dlsr.esa import ESA_MIN_SIZE, esa_width
from falsr_ext.spaces.dlsr.ops import op_kernel, op_kind


@dataclass(frozen=True)
class DlsrCount:
    """Params and MACs, with the MACs split as the README's table: the six cells
    without their ESA, the six ESAs, and the frame (stem, links, tail, upsampler)."""

    params: int
    macs: int
    cell_macs: int
    esa_macs: int
    frame_macs: int

    @property
    def cost(self) -> Cost:
        """The space-generic :class:`~falsr_ext.spaces.base.Cost`."""
        return Cost(self.params, self.macs)


def op_weights(name: str, c: int) -> int:
    """Weights of one searched op of width ``c`` (no biases); also its MACs per pixel."""
    k, kind = op_kernel(name), op_kind(name)
    if kind == "conv":
        return c * c * k * k
    pairs = 2 if kind == "sep" else 1
    return pairs * (c * k * k + c * c)


def _esa(c: int, h: int, w: int) -> tuple[int, int]:
    """(params, MACs) of one ESA on an h x w input."""
    f = esa_width(c)
    h2, w2 = (h - 3) // 2 + 1, (w - 3) // 2 + 1  # conv2: 3x3, stride 2, no padding
    hp, wp = (h2 - 7) // 3 + 1, (w2 - 7) // 3 + 1  # max pool 7, stride 3
    per_pixel = c * f + f * f + f * c  # conv1, conv_f, conv4 at full size
    macs = h * w * per_pixel + h2 * w2 * 9 * f * f + 3 * hp * wp * 9 * f * f
    params = per_pixel + 4 * 9 * f * f + 6 * f + c
    return params, macs


def count_arch(arch: DlsrArch, height: int, width: int, scale: int) -> DlsrCount:
    """Params and MACs of ``arch`` for an LR input of ``height`` x ``width`` at ``scale``.

    Raises:
        ValueError: a size under ESA's 15 px minimum.
    """
    if height < ESA_MIN_SIZE or width < ESA_MIN_SIZE:
        raise ValueError(f"DLSR needs an LR input of at least {ESA_MIN_SIZE}x{ESA_MIN_SIZE} px, "
                         f"got {height}x{width}")
    c, d, hw = arch.nf, arch.nf // 2, height * width
    out = 3 * scale * scale
    # Cell without ESA: three 1x1 C->D, the ops, 3x3 C->D, 1x1 2C->C (biases: 4D + C).
    cell_w = 3 * c * d + sum(op_weights(op, c) for op in arch.ops) + 9 * c * d + 2 * c * c
    esa_p, esa_m = _esa(c, height, width)
    # Frame: stem 3x3 3->C, four links 1x1 2C->C, tail 1x1 6C->C, 3x3 C->C, upsampler.
    frame_w = 27 * c + 4 * 2 * c * c + 6 * c * c + 9 * c * c + 9 * c * out
    frame_b = 7 * c + out
    params = NUM_CELLS * (cell_w + 4 * d + c + esa_p) + frame_w + frame_b
    cell_macs, esa_macs = NUM_CELLS * cell_w * hw, NUM_CELLS * esa_m
    frame_macs = frame_w * hw
    return DlsrCount(params, cell_macs + esa_macs + frame_macs, cell_macs, esa_macs,
                     frame_macs)


def count(arch: DlsrArch, height: int, width: int, scale: int) -> Cost:
    """Params and conv MACs (:class:`~falsr_ext.spaces.base.Cost`); see :func:`count_arch`."""
    return count_arch(arch, height, width, scale).cost
