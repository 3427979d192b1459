"""Plain-PyTorch building blocks of the FALSR frame (trainable, no extension needed)."""

from __future__ import annotations

import torch
from torch import nn

SHUFFLE_ORDERS = ("tf", "torch")


def depth_to_space(x: torch.Tensor, scale: int, order: str = "torch") -> torch.Tensor:
    """Sub-pixel shuffle of an NCHW tensor in PyTorch or TensorFlow channel order.

    PyTorch (``F.pixel_shuffle``): output pixel (i, j) of channel c reads input channel
    ``c*s*s + s*i + j``. TensorFlow (``depth_to_space``): it reads ``(s*i + j)*C_out + c``.
    """
    if order == "torch":
        return nn.functional.pixel_shuffle(x, scale)
    if order != "tf":
        raise ValueError(f"shuffle order must be one of {SHUFFLE_ORDERS}, got {order!r}")
    n, c, h, w = x.shape
    c_out = c // (scale * scale)
    x = x.reshape(n, scale, scale, c_out, h, w)  # channel index = (i, j, c)
    return x.permute(0, 3, 4, 1, 5, 2).reshape(n, c_out, h * scale, w * scale)


def conv(c_in: int, c_out: int, kernel: int, groups: int = 1) -> nn.Conv2d:
    """A stride-1 'same' conv with bias, as every conv in FALSR."""
    return nn.Conv2d(c_in, c_out, kernel, padding=kernel // 2, groups=groups, bias=True)


class DepthToSpace(nn.Module):
    """Module form of :func:`depth_to_space`."""

    def __init__(self, scale: int, order: str) -> None:
        super().__init__()
        if order not in SHUFFLE_ORDERS:
            raise ValueError(f"shuffle order must be one of {SHUFFLE_ORDERS}, got {order!r}")
        self.scale = scale
        self.order = order

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return depth_to_space(x, self.scale, self.order)

    def extra_repr(self) -> str:
        return f"scale={self.scale}, order={self.order!r}"
