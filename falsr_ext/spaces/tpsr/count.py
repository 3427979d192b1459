"""Exact, analytic params, conv MACs and receptive radius of any TPSR architecture.

Convention (the project's, ``shared/tpsr/README.md``): MACs of conv layers only, a
depthwise conv counted as k^2 per output value, PReLU / sums / PixelShuffle not counted,
for an LR input of ``height`` x ``width``. :attr:`TpsrCost.macs` counts *all* convs,
including the two frozen MeanShift 1x1 convs (9 MACs per LR and per HR pixel), because
they run like any other conv and so that it equals ``FlopCounterMode`` // 2 on the module;
:attr:`TpsrCost.meanshift_macs` is that share (the README's "excluding MeanShift" column is
``macs - meanshift_macs``). Params are the learnable ones; the 24 frozen MeanShift values
are :attr:`TpsrCost.frozen_params`.
"""

from __future__ import annotations

from dataclasses import dataclass

from falsr_ext.spaces.base import Cost
from falsr_ext.spaces.tpsr.arch import OPS, STEM, TpsrArch, upsample_factors

MEANSHIFT_PARAMS = 2 * (9 + 3)


@dataclass(frozen=True)
class TpsrCost:
    """Params and conv MACs of one TPSR network at one LR size (see the module docstring)."""

    params: int
    frozen_params: int
    macs: int
    meanshift_macs: int

    def cost(self) -> Cost:
        """The space-neutral :class:`Cost` (learnable params, all-conv MACs)."""
        return Cost(self.params, self.macs)


def _op_params_macs(op: str, n: int) -> tuple[int, int]:
    """(params, MACs per pixel) of one node op at width ``n``."""
    kind, k = OPS[op]
    if kind == "conv":
        return n * n * k * k + n + 1, n * n * k * k
    return n * k * k + 1 + n * n + n + 1, n * k * k + n * n


def _per_width(n: int) -> dict[str, tuple[int, int]]:
    return {op: _op_params_macs(op, n) for op in OPS}


_CACHE: dict[int, dict[str, tuple[int, int]]] = {}


def tpsr_cost(arch: TpsrArch, height: int, width: int, scale: int) -> TpsrCost:
    """Exact params and conv MACs of ``arch`` built for ``scale`` on ``height`` x ``width``."""
    n = arch.n_feats
    table = _CACHE.get(n)
    if table is None:
        table = _CACHE[n] = _per_width(n)
    params = 27 * n + n + 1  # stem conv3x3 3->n, merge PReLU
    per_px = 27 * n
    for node in arch.nodes:
        p, m = table[node.op]
        params += p
        per_px += m
    pixels = height * width
    macs = per_px * pixels
    cin, res = n, 1
    for r in upsample_factors(scale):
        cout = 3 * r * r
        params += 9 * cin * cout + cout
        macs += 9 * cin * cout * pixels * res * res
        cin, res = 3, res * r
    meanshift = 9 * pixels * (1 + scale * scale)
    return TpsrCost(params, MEANSHIFT_PARAMS, macs + meanshift, meanshift)


def receptive_radius(arch: TpsrArch, scale: int) -> int:
    """LR px of context an output pixel depends on (each side): the tiling halo.

    The stem and each node add k//2 along the deepest path to a summed node; the first
    upsampler conv adds 1, and each later stage's conv (at r x the LR grid) adds 1 px at
    that resolution, rounded up to whole LR px when mapped back through the shuffles.
    """
    depth: list[int] = []
    for node in arch.nodes:
        base = 0 if node.input == STEM else depth[node.input]
        depth.append(base + OPS[node.op][1] // 2)
    radius = 0  # walking the upsampler backwards, in px of the current grid
    factors = upsample_factors(scale)
    for j in range(len(factors) - 1, -1, -1):
        radius += 1
        if j:
            radius = -(-radius // factors[j - 1])
    return 1 + max(depth[i] for i in arch.outputs) + radius
