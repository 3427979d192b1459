"""The LPIPS v0.1 trunks (AlexNet, VGG16 ``features``) cut into the five official slices.

Layers sit at torchvision's ``features`` indices inside ``slice1..slice5`` (as in
richzhang/PerceptualSimilarity ``pretrained_networks.py``), so the state-dict keys are
exactly the official ones (``net.slice2.3.weight``, ...). Each slice ends in a ReLU whose
output is one LPIPS tap.
"""

from __future__ import annotations

import torch
from torch import nn

# The official network names; "vgg16" is accepted as a synonym of "vgg".
NETS = ("alex", "vgg")
# Channels of the five taps (and of the five linear heads).
TAP_CHANNELS = {"alex": (64, 192, 384, 256, 256), "vgg": (64, 128, 256, 512, 512)}
# Smallest input side that leaves every tap at least 1x1 (alex: 11x11/4 conv then two
# 3/2 max-pools; vgg: four 2/2 max-pools before the last slice).
MIN_SIDE = {"alex": 31, "vgg": 16}


def _slice(layers: dict[int, nn.Module]) -> nn.Sequential:
    """A Sequential whose children are named by their torchvision ``features`` index."""
    seq = nn.Sequential()
    for index, layer in layers.items():
        seq.add_module(str(index), layer)
    return seq


def _alex_slices() -> list[nn.Sequential]:
    conv, relu, pool = nn.Conv2d, (lambda: nn.ReLU(inplace=True)), (lambda: nn.MaxPool2d(3, 2))
    return [
        _slice({0: conv(3, 64, 11, stride=4, padding=2), 1: relu()}),
        _slice({2: pool(), 3: conv(64, 192, 5, padding=2), 4: relu()}),
        _slice({5: pool(), 6: conv(192, 384, 3, padding=1), 7: relu()}),
        _slice({8: conv(384, 256, 3, padding=1), 9: relu()}),
        _slice({10: conv(256, 256, 3, padding=1), 11: relu()}),
    ]


def _vgg_slices() -> list[nn.Sequential]:
    # (first index, channels in, channels out, convs) per slice; a 2/2 max-pool precedes
    # every slice but the first, at the index before its first conv.
    spec = [(0, 3, 64, 2), (5, 64, 128, 2), (10, 128, 256, 3), (17, 256, 512, 3),
            (24, 512, 512, 3)]
    slices = []
    for first, cin, cout, convs in spec:
        layers: dict[int, nn.Module] = {}
        if first:
            layers[first - 1] = nn.MaxPool2d(2, 2)
        for i in range(convs):
            layers[first + 2 * i] = nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1)
            layers[first + 2 * i + 1] = nn.ReLU(inplace=True)
        slices.append(_slice(layers))
    return slices


class Trunk(nn.Module):
    """AlexNet or VGG16 features returning the five LPIPS taps (official key names)."""

    def __init__(self, net: str) -> None:
        super().__init__()
        slices = _alex_slices() if net == "alex" else _vgg_slices()
        for k, s in enumerate(slices, start=1):
            self.add_module(f"slice{k}", s)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The five tap activations of ``x`` (already shifted and scaled)."""
        taps = []
        for k in range(1, 6):
            x = getattr(self, f"slice{k}")(x)
            taps.append(x)
        return taps
