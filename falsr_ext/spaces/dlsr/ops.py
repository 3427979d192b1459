"""The nine searched refine operations of the DLSR cell (C -> C, stride 1, size kept).

None has a bias. Each is an :class:`Op` whose layers sit in ``self.op`` (an
``nn.Sequential``), so the parameter names are those of the released checkpoints:
``op.0`` for a plain conv; ``op.{1,2}`` (and ``op.{4,5}``) for the depthwise / pointwise
pairs of the separable and dilated ops, whose ``op.0`` / ``op.3`` are parameter-free ReLUs
(DARTS style: a ReLU before each pair, none after).
"""

from __future__ import annotations

import torch
from torch import nn

from falsr_ext.spaces.dlsr.arch import OPS


def op_kernel(name: str) -> int:
    """The spatial kernel size of op ``name`` (``"sep_conv_5x5"`` -> 5)."""
    return int(name.rsplit("x", 1)[1])


def op_kind(name: str) -> str:
    """``"conv"``, ``"sep"`` or ``"dil"``."""
    return name.split("_", 1)[0]


def _dw_pw(channels: int, kernel: int, dilation: int) -> list[nn.Module]:
    """ReLU -> depthwise k x k (dilated) -> pointwise 1x1, all bias-free."""
    pad = dilation * (kernel // 2)
    return [nn.ReLU(),
            nn.Conv2d(channels, channels, kernel, padding=pad, dilation=dilation,
                      groups=channels, bias=False),
            nn.Conv2d(channels, channels, 1, bias=False)]


class Op(nn.Module):
    """One searched op: ``conv_kxk`` (a single conv), ``sep_conv_kxk`` (two ReLU-dw-pw
    pairs) or ``dil_conv_kxk`` (one ReLU-dw-pw pair, dilation 2)."""

    def __init__(self, name: str, channels: int) -> None:
        super().__init__()
        if name not in OPS:
            raise ValueError(f"unknown DLSR op {name!r}")
        self.name = name
        k, kind = op_kernel(name), op_kind(name)
        if kind == "conv":
            layers: list[nn.Module] = [nn.Conv2d(channels, channels, k, padding=k // 2,
                                                 bias=False)]
        elif kind == "sep":
            layers = _dw_pw(channels, k, 1) + _dw_pw(channels, k, 1)
        else:
            layers = _dw_pw(channels, k, 2)
        self.op = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)

    def extra_repr(self) -> str:
        return self.name
