"""The TPSR generator as a plain, trainable ``nn.Module`` (any :class:`TpsrArch`, any scale
in :data:`~falsr_ext.spaces.tpsr.arch.SCALES`).

RGB in, RGB out, both on the 0..255 scale (no clamp inside): frozen MeanShift (a 1x1
conv subtracting the DIV2K mean), a 3x3 stem ``s`` with no activation, the DAG nodes (each
op ends in a one-slope PReLU), the summed nodes through one PReLU, the upsampler (per
stage conv3x3 -> 3*r^2, PixelShuffle(r), no activation) and MeanShift adding the mean back.
"""

from __future__ import annotations

import torch
from torch import nn

from falsr_ext.spaces.base import ModelCard
from falsr_ext.spaces.tpsr.arch import OPS, STEM, TpsrArch, upsample_factors
from falsr_ext.spaces.tpsr.cards import derive_card

RGB_MEAN = (0.4488, 0.4371, 0.4040)  # DIV2K, as in EDSR and the TPSR release
RGB_RANGE = 255.0


class MeanShift(nn.Conv2d):
    """Frozen 1x1 conv: identity weight, bias ``sign * 255 * RGB_MEAN`` (float32 arithmetic,
    which gives the released checkpoints' values bit for bit)."""

    def __init__(self, sign: int) -> None:
        super().__init__(3, 3, 1)
        with torch.no_grad():
            self.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
            self.bias.copy_(torch.tensor(RGB_MEAN, dtype=torch.float32) * RGB_RANGE * sign)
        self.requires_grad_(False)


class ConvOp(nn.Module):
    """kxk conv (with bias) then PReLU."""

    def __init__(self, n_feats: int, kernel: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(n_feats, n_feats, kernel, padding=kernel // 2)
        self.act = nn.PReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv(x))


class SepOp(nn.Module):
    """Depthwise kxk conv (no bias), PReLU, pointwise 1x1 conv (with bias), PReLU."""

    def __init__(self, n_feats: int, kernel: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(n_feats, n_feats, kernel, padding=kernel // 2,
                                   groups=n_feats, bias=False)
        self.act1 = nn.PReLU()
        self.pointwise = nn.Conv2d(n_feats, n_feats, 1)
        self.act2 = nn.PReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act2(self.pointwise(self.act1(self.depthwise(x))))


class UpStage(nn.Module):
    """conv3x3 -> 3*r^2 channels, then PixelShuffle(r); no activation."""

    def __init__(self, in_channels: int, factor: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 3 * factor * factor, 3, padding=1)
        self.shuffle = nn.PixelShuffle(factor)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.conv(x))


def make_op(op: str, n_feats: int) -> nn.Module:
    """The module of one node op (``"conv5"``, ``"sep3"``, ...)."""
    kind, kernel = OPS[op]
    return ConvOp(n_feats, kernel) if kind == "conv" else SepOp(n_feats, kernel)


class TpsrNet(nn.Module):
    """A TPSR generator.

    Attributes:
        space: ``"tpsr"``.
        arch: the :class:`TpsrArch`.
        scale: the upscaling factor.
        in_channels: 3 (RGB).
        input_range: 255.0 (inputs and outputs are 0..255 floats).
        card: the :class:`ModelCard` (derived from the arch unless given, e.g. a release's).
    """

    space = "tpsr"
    in_channels = 3
    input_range = RGB_RANGE

    def __init__(self, arch: TpsrArch, scale: int = 4, card: ModelCard | None = None) -> None:
        super().__init__()
        factors = upsample_factors(scale)
        self.arch = arch
        self.scale = scale
        n = arch.n_feats
        self.sub_mean = MeanShift(-1)
        self.stem = nn.Conv2d(3, n, 3, padding=1)
        self.nodes = nn.ModuleList(make_op(node.op, n) for node in arch.nodes)
        self.merge_act = nn.PReLU()
        self.upsample = nn.Sequential(*(UpStage(n if j == 0 else 3, r)
                                        for j, r in enumerate(factors)))
        self.add_mean = MeanShift(+1)
        self.card = card if card is not None else derive_card(arch, scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``N x 3 x H x W`` RGB on 0..255 -> ``N x 3 x sH x sW`` RGB on 0..255 (unclamped)."""
        s = self.stem(self.sub_mean(x))
        feats: list[torch.Tensor] = []
        for node, op in zip(self.arch.nodes, self.nodes, strict=True):
            feats.append(op(s if node.input == STEM else feats[node.input]))
        outputs = self.arch.outputs
        m = feats[outputs[0]]
        for i in outputs[1:]:
            m = m + feats[i]
        return self.add_mean(self.upsample(self.merge_act(m)))

    def extra_repr(self) -> str:
        return f"arch={self.arch}, scale={self.scale}"
