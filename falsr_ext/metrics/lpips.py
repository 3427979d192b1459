"""LPIPS v0.1 (Zhang et al., CVPR 2018), AlexNet and VGG16 variants, in plain torch.

The official forward (richzhang/PerceptualSimilarity ``lpips/lpips.py``, v0.1): inputs
NCHW RGB in [-1, 1]; ``(x - shift) / scale``; the five trunk taps; each unit-normalised
over channels, ``f / (sqrt(sum_c f^2) + 1e-10)``; squared difference; a bias-free 1x1
linear head; spatial mean; sum over the five layers. Equals the ``lpips`` package with
the same weights (``../shared/lpips/README.md``). Weights: see
:mod:`~falsr_ext.metrics.lpips_weights` (never bundled, never downloaded).

- :class:`LPIPS`: the ``nn.Module`` (frozen, eval); ``forward(x, y)`` -> per-image distances.
- :func:`get_lpips`: a thread-safe cache, so an evaluation builds each network once.
- :func:`lpips_distance`: two uint8 HxWx3 RGB images -> a float. (Not named ``lpips``: a
  function of the package's name would shadow this module in ``falsr_ext.metrics``.)
"""

from __future__ import annotations

import functools
import os
import threading
from typing import Any

import numpy as np
import torch
from torch import nn

from falsr_ext.errors import ImageError, WeightsError
from falsr_ext.metrics.lpips_nets import MIN_SIDE, NETS, TAP_CHANNELS, Trunk
from falsr_ext.metrics.lpips_weights import read_lpips_weights, resolve_lpips_weights

# The official normalize_tensor's eps, added to the norm (not inside the sqrt).
EPS = 1e-10
WeightsPath = str | os.PathLike[str] | None


def _net_name(net: str) -> str:
    name = {"vgg16": "vgg"}.get(net, net) if isinstance(net, str) else net
    if name not in NETS:
        raise WeightsError(f"unknown LPIPS network {net!r}: choose 'alex' or 'vgg'")
    return name


class _ScalingLayer(nn.Module):
    """``(x - shift) / scale``: [-1, 1] RGB to the trunk's ImageNet-normalised input."""

    def __init__(self) -> None:
        super().__init__()
        # Values come from the weights file (official buffers); these are placeholders.
        self.register_buffer("shift", torch.zeros(1, 3, 1, 1))
        self.register_buffer("scale", torch.ones(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.shift) / self.scale


class _Head(nn.Module):
    """The official NetLinLayer: ``model.1`` is the 1x1 conv (``model.0`` its dropout,
    an identity at evaluation, kept as one so the key names match)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.Identity(), nn.Conv2d(channels, 1, 1, bias=False))


def _skeleton_into(module: nn.Module, net: str) -> None:
    module.scaling_layer = _ScalingLayer()
    module.net = Trunk(net)
    for k, channels in enumerate(TAP_CHANNELS[net]):
        module.add_module(f"lin{k}", _Head(channels))


@functools.cache
def _expected_state(net: str) -> dict[str, torch.Tensor]:
    """Names and shapes of LPIPS-``net``'s state dict (meta tensors: nothing allocated)."""
    with torch.device("meta"):
        holder = nn.Module()
        _skeleton_into(holder, net)
    return holder.state_dict()


class LPIPS(nn.Module):
    """LPIPS v0.1 with an AlexNet (``net="alex"``) or VGG16 (``net="vgg"``) trunk.

    Weights: ``weights`` (a file, or a folder holding ``alex.safetensors`` /
    ``vgg16.safetensors``), else ``$FALSR_LPIPS_WEIGHTS``; :class:`WeightsError` when
    neither is set or the file is wrong. The module is in eval mode with frozen
    parameters; gradients still flow to the inputs, so it can serve as a loss.
    """

    def __init__(self, net: str = "alex", weights: WeightsPath = None) -> None:
        super().__init__()
        self.net_name = _net_name(net)
        path = resolve_lpips_weights(self.net_name, weights)
        state = read_lpips_weights(path, self.net_name, {n: _expected_state(n) for n in NETS})
        with torch.device("meta"):  # no random init: every tensor comes from the file
            _skeleton_into(self, self.net_name)
        self.load_state_dict(state, strict=True, assign=True)
        # channels_last kernels as well as inputs: else every CPU conv call converts the
        # kernel again (measured: 5x slower on small images).
        self.net.to(memory_format=torch.channels_last)
        self.weights_path = path
        self.requires_grad_(False)
        self.eval()

    def _check(self, x: torch.Tensor, y: torch.Tensor) -> None:
        if not (isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)):
            raise ImageError("LPIPS takes two tensors (NCHW RGB in [-1, 1])")
        if x.shape != y.shape or x.dim() != 4 or x.shape[1] != 3:
            raise ImageError(f"LPIPS needs two NCHW RGB tensors of one shape, got "
                             f"{tuple(x.shape)} and {tuple(y.shape)}")
        if not (x.is_floating_point() and y.is_floating_point()):
            raise ImageError(f"LPIPS inputs must be float tensors in [-1, 1], got "
                             f"{x.dtype} and {y.dtype}")
        side = MIN_SIDE[self.net_name]
        if min(x.shape[2:]) < side:
            raise ImageError(f"LPIPS-{self.net_name} needs images of at least {side}x{side} "
                             f"pixels, got {x.shape[2]}x{x.shape[3]}")

    def forward(self, x: torch.Tensor, y: torch.Tensor, normalize: bool = False) -> torch.Tensor:
        """The distances of ``x`` and ``y`` (NCHW RGB, [-1, 1]; [0, 1] with
        ``normalize=True``), one per image: a tensor of shape ``(N,)``."""
        self._check(x, y)
        dtype = self.scaling_layer.shift.dtype
        x, y = x.to(dtype), y.to(dtype)
        if normalize:
            x, y = 2 * x - 1, 2 * y - 1
        n = x.shape[0]
        # One trunk pass over both batches; channels_last suits oneDNN's CPU convs.
        both = self.scaling_layer(torch.cat([x, y])).contiguous(memory_format=torch.channels_last)
        total = x.new_zeros(n)
        for k, f in enumerate(self.net(both)):
            f = f / (f.square().sum(1, keepdim=True).sqrt() + EPS)
            # The head is linear, so averaging d over H, W before it equals the official
            # head-then-mean and saves a 1x1 conv over the full maps.
            d = (f[:n] - f[n:]).square().mean((2, 3))
            total = total + d @ getattr(self, f"lin{k}").model[1].weight.reshape(-1)
        return total


_CACHE: dict[tuple[str, str], tuple[tuple[int, int], LPIPS]] = {}
_CACHE_LOCK = threading.Lock()


def get_lpips(net: str = "alex", weights: WeightsPath = None) -> LPIPS:
    """A shared :class:`LPIPS` for ``net`` and its weights file, built once per file
    (rebuilt if the file changes) and safe to call from many threads. Treat it as
    read-only: every caller gets the same module."""
    name = _net_name(net)
    path = resolve_lpips_weights(name, weights)
    try:
        stat = path.stat()
        key, version = (name, str(path.resolve())), (stat.st_mtime_ns, stat.st_size)
    except OSError as exc:
        raise WeightsError(f"{path}: cannot read ({exc.strerror})") from None
    with _CACHE_LOCK:  # held while building, so concurrent callers never build twice
        hit = _CACHE.get(key)
        if hit is None or hit[0] != version:
            hit = (version, LPIPS(name, weights=path))
            _CACHE[key] = hit
        return hit[1]


def _as_input(img: Any, what: str) -> torch.Tensor:
    """A uint8 HxWx3 RGB image (numpy, or anything ``np.asarray`` takes) as 1x3xHxW in
    [-1, 1]: ``img / 127.5 - 1``, as the official ``lpips.im2tensor``."""
    a = np.asarray(img)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 3:
        raise ImageError(f"LPIPS {what}: need a uint8 HxWx3 RGB image, got {a.dtype} "
                         f"of shape {a.shape}")
    t = torch.tensor(a).permute(2, 0, 1)[None]  # a copy: img may be read-only
    return t.to(torch.float32) / 127.5 - 1


def lpips_distance(img1: Any, img2: Any, net: str = "alex",
                   weights: WeightsPath = None) -> float:
    """LPIPS of two uint8 HxWx3 RGB images (0..255) of one size, full image, no crop;
    the network comes from :func:`get_lpips` (built once)."""
    a, b = _as_input(img1, "img1"), _as_input(img2, "img2")
    if a.shape != b.shape:
        raise ImageError(f"LPIPS: image shapes differ: {tuple(np.shape(img1))} vs "
                         f"{tuple(np.shape(img2))}")
    model = get_lpips(net, weights)
    with torch.inference_mode():
        return float(model(a, b)[0])


__all__ = ["EPS", "LPIPS", "get_lpips", "lpips_distance"]
