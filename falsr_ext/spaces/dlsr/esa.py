"""Enhanced spatial attention (ESA, from RFDN) as the DLSR cells end with it.

A 1x1 squeeze to C//4, a stride-2 3x3 conv, a 7x7 / stride-3 max pool, three 3x3 convs,
a bilinear resize back, a 1x1 expand and a sigmoid mask multiplied into the input. The
pool makes the mask depend on the whole image (so tiling is only approximate) and needs
an input of at least :data:`ESA_MIN_SIZE` px per side.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# conv2 (3x3, stride 2, no padding) must leave >= 7 px for the 7x7 pool: (15-3)//2+1 = 7.
ESA_MIN_SIZE = 15


def esa_width(channels: int) -> int:
    """The ESA's inner width F = C // 4."""
    return channels // 4


class ESA(nn.Module):
    """Spatial attention mask ``y * sigmoid(...)``; parameter names as the checkpoints."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        f = esa_width(channels)
        self.conv1 = nn.Conv2d(channels, f, 1)
        self.conv_f = nn.Conv2d(f, f, 1)
        self.conv_max = nn.Conv2d(f, f, 3, padding=1)
        self.conv2 = nn.Conv2d(f, f, 3, stride=2, padding=0)
        self.conv3 = nn.Conv2d(f, f, 3, padding=1)
        self.conv3_ = nn.Conv2d(f, f, 3, padding=1)
        self.conv4 = nn.Conv2d(f, channels, 1)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        c1_ = self.conv1(y)
        c1 = self.conv2(c1_)
        v = F.max_pool2d(c1, kernel_size=7, stride=3)
        v = F.relu(self.conv_max(v))
        c3 = F.relu(self.conv3(v))
        c3 = self.conv3_(c3)
        c3 = F.interpolate(c3, size=y.shape[-2:], mode="bilinear", align_corners=False)
        mask = torch.sigmoid(self.conv4(c3 + self.conv_f(c1_)))
        return y * mask
