"""The DLSR cell: an RFDB-style distillation block with three searched refine ops and ESA.

With D = C/2 and LReLU = LeakyReLU(0.05)::

    d1 = LReLU(c1_d(x));   r1 = LReLU(op1(x)  + x)
    d2 = LReLU(c2_d(r1));  r2 = LReLU(op2(r1) + r1)
    d3 = LReLU(c3_d(r2));  r3 = LReLU(op3(r2) + r2)
    r4 = LReLU(c4(r3))                                  # 3x3 C -> D
    out = ESA(c5(concat[d1, d2, d3, r4]))               # 1x1 2C -> C, no activation

No residual around the cell. Parameter names (``c1_d``, ``c1_r.op.*``, ``esa.*``) are
those of the released checkpoints.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from falsr_ext.spaces.dlsr.esa import ESA
from falsr_ext.spaces.dlsr.ops import Op

NEG_SLOPE = 0.05  # DLSR's (RFDN's) LeakyReLU slope


def lrelu(x: torch.Tensor) -> torch.Tensor:
    """LeakyReLU with DLSR's slope 0.05."""
    return F.leaky_relu(x, NEG_SLOPE)


class Cell(nn.Module):
    """One distillation cell of width ``channels`` with refine ops ``ops``."""

    def __init__(self, channels: int, ops: tuple[str, str, str]) -> None:
        super().__init__()
        d = channels // 2
        self.c1_d = nn.Conv2d(channels, d, 1)
        self.c1_r = Op(ops[0], channels)
        self.c2_d = nn.Conv2d(channels, d, 1)
        self.c2_r = Op(ops[1], channels)
        self.c3_d = nn.Conv2d(channels, d, 1)
        self.c3_r = Op(ops[2], channels)
        self.c4 = nn.Conv2d(channels, d, 3, padding=1)
        self.c5 = nn.Conv2d(4 * d, channels, 1)
        self.esa = ESA(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d1 = lrelu(self.c1_d(x))
        r1 = lrelu(self.c1_r(x) + x)
        d2 = lrelu(self.c2_d(r1))
        r2 = lrelu(self.c2_r(r1) + r1)
        d3 = lrelu(self.c3_d(r2))
        r3 = lrelu(self.c3_r(r2) + r2)
        r4 = lrelu(self.c4(r3))
        return self.esa(self.c5(torch.cat([d1, d2, d3, r4], dim=1)))
