"""Genotype -> trainable nn.Module (plain PyTorch), the reference every fast path matches.

Frame (fixed, as the official FALSR graphs):
``F = ReLU(conv3x3 in->32)``; cells wired by the genotype (inputs concatenated in node
order, F first); ``fuse = ReLU(conv3x3 concat(fusion nodes) -> 32) + F``; sub-pixel
shuffle x s; reconstruction ``conv3x3 8 -> out`` (no activation, no clipping).

At x2 the 32 fused channels are shuffled directly into 8 HR channels (exactly FALSR).
At x3 and x4, which FALSR never released, a 3x3 conv ``32 -> 8*s*s`` precedes the
shuffle so the HR feature map always has 8 channels.
"""

from __future__ import annotations

import torch
from torch import nn

from falsr_ext.models.cells import build_cell
from falsr_ext.models.layers import SHUFFLE_ORDERS, DepthToSpace, conv
from falsr_ext.space import FEATURE_CHANNELS, Genotype

HR_CHANNELS = 8
SCALES = (2, 3, 4)


class FalsrNet(nn.Module):
    """A network of the FALSR space.

    Args:
        genotype: the cells and wiring (validated here).
        scale: upscaling factor, 2, 3 or 4.
        in_channels: 1 for luma (FALSR), 3 for RGB.
        shuffle_order: ``"tf"`` (official weights) or ``"torch"``.
    """

    def __init__(
        self,
        genotype: Genotype,
        scale: int = 2,
        in_channels: int = 1,
        shuffle_order: str = "torch",
    ) -> None:
        super().__init__()
        genotype.validate()
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {SCALES}, got {scale!r}")
        if in_channels not in (1, 3):
            raise ValueError(f"in_channels must be 1 (luma) or 3 (RGB), got {in_channels!r}")
        if shuffle_order not in SHUFFLE_ORDERS:
            raise ValueError(f"shuffle_order must be one of {SHUFFLE_ORDERS}")
        self.genotype = genotype
        self.scale = scale
        self.in_channels = in_channels
        self.shuffle_order = shuffle_order
        self.head = conv(in_channels, FEATURE_CHANNELS, 3)
        self.cells = nn.ModuleList(
            build_cell(cell, genotype.cell_in_channels(i)) for i, cell in enumerate(genotype.cells)
        )
        self.fusion = conv(genotype.fusion_in_channels, FEATURE_CHANNELS, 3)
        shuffle_in = HR_CHANNELS * scale * scale
        self.pre_shuffle = None if scale == 2 else conv(FEATURE_CHANNELS, shuffle_in, 3)
        self.shuffle = DepthToSpace(scale, shuffle_order)
        self.tail = conv(HR_CHANNELS, in_channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Upscale ``x`` [N, in_channels, H, W] to [N, in_channels, sH, sW]."""
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"expected input [N, {self.in_channels}, H, W], got {list(x.shape)}"
            )
        feat = torch.relu(self.head(x))
        nodes = [feat]
        for cell, module in zip(self.genotype.cells, self.cells, strict=True):
            nodes.append(module(_concat(nodes, cell.inputs)))
        fused = torch.relu(self.fusion(_concat(nodes, self.genotype.fusion))) + feat
        if self.pre_shuffle is not None:
            fused = self.pre_shuffle(fused)
        return self.tail(self.shuffle(fused))

    def num_params(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters())

    space = "falsr"
    input_range = 1.0  # the value of white at the input and output

    @property
    def arch(self) -> Genotype:
        """The architecture (the space protocol's name for the genotype)."""
        return self.genotype

    @property
    def card(self):
        """The :class:`~falsr_ext.spaces.base.ModelCard` (a zoo / default card when the
        genotype is one, else derived from the network)."""
        from falsr_ext.spaces.falsr.cards import card_of

        return card_of(self)

    def extra_repr(self) -> str:
        return f"genotype={self.genotype.to_string()!r}, scale={self.scale}"


def _concat(nodes: list[torch.Tensor], which: tuple[int, ...]) -> torch.Tensor:
    if len(which) == 1:
        return nodes[which[0]]
    return torch.cat([nodes[i] for i in which], dim=1)


def build_model(
    genotype: Genotype, scale: int = 2, in_channels: int = 1, shuffle_order: str = "torch"
) -> FalsrNet:
    """Build the trainable network of ``genotype`` (see :class:`FalsrNet`)."""
    return FalsrNet(genotype, scale=scale, in_channels=in_channels, shuffle_order=shuffle_order)
