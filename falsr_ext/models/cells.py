"""The searched cell types, with the exact semantics of the official FALSR graphs."""

from __future__ import annotations

import torch
from torch import nn

from falsr_ext.models.layers import conv
from falsr_ext.space import IB_EXPANSION, Cell


class ConvCell(nn.Module):
    """``b`` layers of ReLU(k x k conv), grouped for ``g2``/``g4``.

    With ``skip`` and more than one layer the output is first layer + last layer
    (the official ``isskip``); otherwise it is the last layer's output.
    """

    def __init__(self, cell: Cell, c_in: int) -> None:
        super().__init__()
        self.skip = cell.skip and cell.blocks > 1
        chans = [c_in] + [cell.filters] * cell.blocks
        self.layers = nn.ModuleList(
            conv(chans[i], chans[i + 1], cell.kernel, cell.groups) for i in range(cell.blocks)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        first = x = torch.relu(self.layers[0](x))
        for layer in self.layers[1:]:
            x = torch.relu(layer(x))
        return first + x if self.skip else x


class InvertedBottleneck(nn.Module):
    """One inverted-bottleneck block: ReLU(kxk expand) -> ReLU(dw 3x3) -> kxk project."""

    def __init__(self, filters: int, kernel: int) -> None:
        super().__init__()
        wide = filters * IB_EXPANSION
        self.expand = conv(filters, wide, kernel)
        self.depthwise = conv(wide, wide, 3, groups=wide)  # always 3x3, whatever k is
        self.project = conv(wide, filters, kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.expand(x))
        h = torch.relu(self.depthwise(h))
        return self.project(h)


class InvertedBottleneckCell(nn.Module):
    """s = 1x1 reduce (no activation); z = s; b times z = z + block(z).

    The per-block residual exists in noskip cells too. With ``skip`` and more than one
    block the output is s + z, otherwise z.
    """

    def __init__(self, cell: Cell, c_in: int) -> None:
        super().__init__()
        self.skip = cell.skip and cell.blocks > 1
        self.reduce = conv(c_in, cell.filters, 1)
        self.blocks = nn.ModuleList(
            InvertedBottleneck(cell.filters, cell.kernel) for _ in range(cell.blocks)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = z = self.reduce(x)
        for block in self.blocks:
            z = z + block(z)
        return s + z if self.skip else z


def build_cell(cell: Cell, c_in: int) -> nn.Module:
    """The nn.Module for one cell of a genotype."""
    if cell.block == "ib":
        return InvertedBottleneckCell(cell, c_in)
    return ConvCell(cell, c_in)
