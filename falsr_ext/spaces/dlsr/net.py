"""The DLSR network (:class:`DlsrNet`): stem, six cells wired by 1x1 links, dense tail.

With LReLU = LeakyReLU(0.05)::

    F0 = fea_conv(x)                                   # 3x3 3 -> C, no activation
    O1 = B1(F0); O2 = B2(O1)
    Oi = Bi(LReLU(ci(concat[Oa, Ob])))                 # i = 3..6, (a, b) = arch.links
    T  = LReLU(cout(concat[O1, ..., O6]))              # 1x1 6C -> C
    SR = PixelShuffle(s)(upsampler(LR_conv(T) + F0))   # 3x3 C -> C, 3x3 C -> 3 s^2

RGB in and out on the 0..255 scale (no mean shift). Parameter names are those of the
released checkpoints, so their state dicts load with ``strict=True``.
"""

from __future__ import annotations

import torch
from torch import nn

from falsr_ext.errors import ImageError
from falsr_ext.spaces.base import ModelCard
from falsr_ext.spaces.dlsr.arch import LINKED_CELLS, NUM_CELLS, DlsrArch
from falsr_ext.spaces.dlsr.cell import NEG_SLOPE, Cell
from falsr_ext.spaces.dlsr.esa import ESA_MIN_SIZE

SCALES: tuple[int, ...] = (2, 3, 4)


class DlsrNet(nn.Module):
    """A network of the DLSR space for ``scale`` x upscaling of RGB images in 0..255.

    Attributes:
        arch: the :class:`DlsrArch`.
        scale: the upscaling factor (2, 3 or 4).
        card: the :class:`ModelCard` (a released card after loading released weights).
    """

    space = "dlsr"
    in_channels = 3
    input_range = 255.0

    def __init__(self, arch: DlsrArch, scale: int = 2) -> None:
        super().__init__()
        if scale not in SCALES:
            raise ValueError(f"DLSR scale must be one of {SCALES}, got {scale!r}")
        from falsr_ext.spaces.dlsr.cards import derived_card

        self.arch = arch
        self.scale = scale
        c = arch.nf
        self.fea_conv = nn.Conv2d(3, c, 3, padding=1)
        for i in range(1, NUM_CELLS + 1):
            self.add_module(f"B{i}", Cell(c, arch.ops))
        for i in LINKED_CELLS:
            self.add_module(f"c{i}", nn.Sequential(nn.Conv2d(2 * c, c, 1),
                                                   nn.LeakyReLU(NEG_SLOPE)))
        self.cout = nn.Sequential(nn.Conv2d(NUM_CELLS * c, c, 1), nn.LeakyReLU(NEG_SLOPE))
        self.LR_conv = nn.Conv2d(c, c, 3, padding=1)
        self.upsampler = nn.Sequential(nn.Conv2d(c, 3 * scale * scale, 3, padding=1),
                                       nn.PixelShuffle(scale))
        self.card: ModelCard = derived_card(arch, scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x``: N x 3 x H x W RGB in 0..255 (H, W >= 15); returns N x 3 x sH x sW."""
        if x.dim() != 4 or x.shape[1] != 3:
            raise ImageError(f"DLSR takes N x 3 x H x W RGB input, got shape {tuple(x.shape)}")
        h, w = x.shape[-2:]
        if h < ESA_MIN_SIZE or w < ESA_MIN_SIZE:
            raise ImageError(
                f"DLSR needs an LR input of at least {ESA_MIN_SIZE}x{ESA_MIN_SIZE} px "
                f"(ESA pools 7x7 over a stride-2 map), got {int(h)}x{int(w)}")
        f0 = self.fea_conv(x)
        outs = [f0]
        for i in range(1, NUM_CELLS + 1):
            srcs = self.arch.cell_inputs(i)
            if len(srcs) == 1:
                inp = outs[srcs[0]]
            else:
                inp = getattr(self, f"c{i}")(torch.cat([outs[s] for s in srcs], dim=1))
            outs.append(getattr(self, f"B{i}")(inp))
        t = self.cout(torch.cat(outs[1:], dim=1))
        return self.upsampler(self.LR_conv(t) + f0)

    def num_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters())

    def extra_repr(self) -> str:
        return f"arch={self.arch.to_string()!r}, scale={self.scale}"
