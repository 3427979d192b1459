"""Python face of the compiled operators (``torch.ops.falsr.*``).

Each op has: a wrapper with a docstring, a fake (meta) kernel for torch.compile /
FakeTensor (``register_fake``), autograd where it makes sense (``register_autograd``),
and the pure-PyTorch reference the tests hold it to.

Importing this module loads ``falsr_ext._C`` and raises
:class:`~falsr_ext.errors.ExtensionError` (with build instructions) if it is missing.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from falsr_ext._extension import load_extension

load_extension()  # registers torch.ops.falsr.*; ExtensionError if not built

__all__ = [
    "pixel_shuffle",
    "pixel_shuffle_reference",
    "pixel_unshuffle_reference",
]

_SHUFFLE_DTYPES = (torch.float32, torch.bfloat16, torch.float16, torch.float64)


# --------------------------------------------------------------------------------------
# pixel_shuffle (sub-pixel upsampling, depth_to_space)
# --------------------------------------------------------------------------------------


def pixel_shuffle(x: Tensor, scale: int, tf_order: bool = False) -> Tensor:
    """Sub-pixel shuffle ``[N, C*s*s, H, W] -> [N, C, H*s, W*s]``.

    ``tf_order=False`` is :func:`torch.nn.functional.pixel_shuffle` (input channel
    ``c*s*s + i*s + j`` goes to output channel ``c`` at sub-pixel ``(i, j)``);
    ``tf_order=True`` is ``tf.nn.depth_to_space`` (input channel ``(i*s + j)*C + c``),
    the order of the official FALSR graphs.

    Floating dtypes (float32, bfloat16, float16, float64), CPU (and CUDA when built).
    A channels_last input runs the NHWC kernel and gives a channels_last output; any
    other input is made contiguous and gives a contiguous output. Differentiable.
    """
    return torch.ops.falsr.pixel_shuffle.default(x, scale, tf_order)


def _uses_channels_last(x: Tensor) -> bool:
    # Same rule as pixel_shuffle_uses_channels_last() in csrc/cpu/pixel_shuffle_cpu.h.
    return (not x.is_contiguous()) and x.is_contiguous(memory_format=torch.channels_last)


@torch.library.register_fake("falsr::pixel_shuffle")
def _pixel_shuffle_fake(x: Tensor, scale: int, tf_order: bool = False) -> Tensor:
    torch._check(
        x.dim() == 4, lambda: f"falsr::pixel_shuffle: expected a 4-D tensor, got {x.dim()}-D"
    )
    torch._check(
        x.dtype in _SHUFFLE_DTYPES,
        lambda: f"falsr::pixel_shuffle: expected a floating-point tensor, got dtype {x.dtype}",
    )
    torch._check(scale >= 1, lambda: f"falsr::pixel_shuffle: scale must be >= 1, got {scale}")
    n, c, h, w = x.shape
    torch._check(
        c % (scale * scale) == 0,
        lambda: f"falsr::pixel_shuffle: input channels ({c}) must be divisible by scale*scale",
    )
    fmt = torch.channels_last if _uses_channels_last(x) else torch.contiguous_format
    return torch.empty(
        (n, c // (scale * scale), h * scale, w * scale),
        dtype=x.dtype,
        device=x.device,
        memory_format=fmt,
    )


def _pixel_shuffle_setup_context(ctx, inputs, output) -> None:
    _, scale, tf_order = inputs
    ctx.scale = scale
    ctx.tf_order = tf_order


def _pixel_shuffle_backward(ctx, grad: Tensor):
    # The shuffle is a permutation, so its adjoint is the inverse permutation.
    return pixel_unshuffle_reference(grad, ctx.scale, ctx.tf_order), None, None


torch.library.register_autograd(
    "falsr::pixel_shuffle", _pixel_shuffle_backward, setup_context=_pixel_shuffle_setup_context
)


def pixel_shuffle_reference(x: Tensor, scale: int, tf_order: bool = False) -> Tensor:
    """Pure-PyTorch :func:`pixel_shuffle` (the definition the op is tested against).

    PyTorch order: ``out[n, c, h*s+i, w*s+j] = x[n, c*s*s + i*s + j, h, w]``.
    TF order:      ``out[n, c, h*s+i, w*s+j] = x[n, (i*s + j)*C + c, h, w]``, i.e. in NHWC
    ``out[h*s+i, w*s+j, c] = in[h, w, (i*s+j)*C + c]`` (``tf.nn.depth_to_space``).
    """
    if not tf_order:
        return F.pixel_shuffle(x, scale)
    n, cin, h, w = x.shape
    s = scale
    c = cin // (s * s)
    # channel index (i*s + j)*C + c  ->  dims (i, j, c); output dims (n, c, h, i, w, j)
    return x.reshape(n, s, s, c, h, w).permute(0, 3, 4, 1, 5, 2).reshape(n, c, h * s, w * s)


def pixel_unshuffle_reference(y: Tensor, scale: int, tf_order: bool = False) -> Tensor:
    """Inverse of :func:`pixel_shuffle_reference` (``space_to_depth`` for TF order)."""
    if not tf_order:
        return F.pixel_unshuffle(y, scale)
    n, c, hs, ws = y.shape
    s = scale
    h, w = hs // s, ws // s
    # dims (n, c, h, i, w, j) -> (n, i, j, c, h, w)
    return y.reshape(n, c, h, s, w, s).permute(0, 3, 5, 1, 2, 4).reshape(n, s * s * c, h, w)
