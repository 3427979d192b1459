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
    "cell_conv",
    "cell_conv_reference",
    "inverted_bottleneck",
    "inverted_bottleneck_reference",
    "pixel_shuffle",
    "pixel_shuffle_reference",
    "pixel_unshuffle_reference",
    "subpixel_conv",
    "subpixel_conv_reference",
]

_SHUFFLE_DTYPES = (torch.float32, torch.bfloat16, torch.float16, torch.float64)


# --------------------------------------------------------------------------------------
# pixel_shuffle (sub-pixel upsampling, depth_to_space)
# --------------------------------------------------------------------------------------


def pixel_shuffle(x: Tensor, scale: int, tf_order: bool = False, *,
                  out: Tensor | None = None) -> Tensor:
    """Sub-pixel shuffle ``[N, C*s*s, H, W] -> [N, C, H*s, W*s]``.

    ``tf_order=False`` is :func:`torch.nn.functional.pixel_shuffle` (input channel
    ``c*s*s + i*s + j`` goes to output channel ``c`` at sub-pixel ``(i, j)``);
    ``tf_order=True`` is ``tf.nn.depth_to_space`` (input channel ``(i*s + j)*C + c``),
    the order of the official FALSR graphs.

    Floating dtypes (float32, bfloat16, float16, float64), CPU (and CUDA when built).
    A channels_last input runs the NHWC kernel and gives a channels_last output; any
    other input is made contiguous and gives a contiguous output. Differentiable.

    ``out``: a preallocated output of the right shape, dtype and memory format to write
    into (no allocation; not differentiable).
    """
    if out is not None:
        return torch.ops.falsr.pixel_shuffle.out(x, scale, tf_order, out=out)
    return torch.ops.falsr.pixel_shuffle.default(x, scale, tf_order)


def _uses_channels_last(x: Tensor) -> bool:
    # Same rule as uses_channels_last() in csrc/cpu/layout.h.
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


# --------------------------------------------------------------------------------------
# subpixel_conv (the FALSR tail: residual add + sub-pixel shuffle + reconstruction conv)
# --------------------------------------------------------------------------------------

_SUBPIXEL_CONV_DTYPES = (torch.float32, torch.bfloat16, torch.float16)  # fp16: CUDA only


def subpixel_conv(
    x: Tensor,
    residual: Tensor | None,
    weight: Tensor,
    bias: Tensor | None,
    scale: int,
    tf_order: bool = False,
) -> Tensor:
    """Fused ``conv2d(depth_to_space(x + residual, scale), weight, bias, padding=k//2)``.

    The FALSR tail: ``x`` [N, C*s*s, H, W] is the fusion output (after ReLU),
    ``residual`` (same shape, or ``None``) the F features added before the shuffle,
    ``weight`` [Cout, C, k, k] with k 1 or 3 and ``bias`` [Cout] (or ``None``) the
    reconstruction conv. Returns [N, Cout, s*H, s*W]; the HR feature map is never
    materialised. ``tf_order`` picks ``tf.nn.depth_to_space``'s channel order instead of
    :func:`torch.nn.functional.pixel_shuffle`'s (see :func:`pixel_shuffle`).

    float32 or bfloat16 (all tensors the same dtype); bf16 is storage only: the residual
    add and the accumulation are fp32, the output is rounded once. A channels_last ``x``
    runs the NHWC kernel and gives a channels_last output; any other ``x`` gives a
    contiguous output.

    Inference only: the op has no backward. Calling ``backward`` through it raises a
    RuntimeError (it never returns silent zero gradients); train with
    :func:`subpixel_conv_reference`.
    """
    return torch.ops.falsr.subpixel_conv.default(x, residual, weight, bias, scale, tf_order)


@torch.library.register_fake("falsr::subpixel_conv")
def _subpixel_conv_fake(
    x: Tensor,
    residual: Tensor | None,
    weight: Tensor,
    bias: Tensor | None,
    scale: int,
    tf_order: bool = False,
) -> Tensor:
    op = "falsr::subpixel_conv"
    torch._check(x.dim() == 4, lambda: f"{op}: expected x to be a 4-D tensor, got {x.dim()}-D")
    torch._check(
        x.dtype in _SUBPIXEL_CONV_DTYPES,
        lambda: f"{op}: expected x of dtype float32 or bfloat16, got dtype {x.dtype}",
    )
    if residual is not None:
        torch._check(residual.dtype == x.dtype, lambda: f"{op}: residual must have the dtype of x")
        torch._check(residual.shape == x.shape, lambda: f"{op}: residual must have the shape of x")
    torch._check(weight.dtype == x.dtype, lambda: f"{op}: weight must have the dtype of x")
    torch._check(weight.dim() == 4, lambda: f"{op}: expected weight [Cout, C, k, k]")
    k = weight.shape[2]
    torch._check(
        weight.shape[3] == k and (k == 1 or k == 3),
        lambda: f"{op}: weight kernel must be square 1x1 or 3x3",
    )
    if bias is not None:
        torch._check(bias.dtype == x.dtype, lambda: f"{op}: bias must have the dtype of x")
        torch._check(
            bias.dim() == 1 and bias.shape[0] == weight.shape[0],
            lambda: f"{op}: expected bias of shape [{weight.shape[0]}]",
        )
    torch._check(scale >= 1, lambda: f"{op}: scale must be >= 1, got {scale}")
    n, c, h, w = x.shape
    torch._check(
        c % (scale * scale) == 0,
        lambda: f"{op}: input channels ({c}) must be divisible by scale*scale",
    )
    torch._check(
        weight.shape[1] == c // (scale * scale),
        lambda: f"{op}: weight in-channels must equal input channels / scale^2",
    )
    fmt = torch.channels_last if _uses_channels_last(x) else torch.contiguous_format
    return torch.empty(
        (n, weight.shape[0], h * scale, w * scale),
        dtype=x.dtype,
        device=x.device,
        memory_format=fmt,
    )


def _subpixel_conv_setup_context(ctx, inputs, output) -> None:
    pass


def _subpixel_conv_backward(ctx, grad: Tensor):
    raise RuntimeError(
        "falsr::subpixel_conv is an inference-only op and has no backward; "
        "use falsr_ext.ops.subpixel_conv_reference (pure PyTorch) where gradients are needed"
    )


# Registered so that backward through the op fails loudly instead of PyTorch's
# autograd fallback (a warning and no gradient).
torch.library.register_autograd(
    "falsr::subpixel_conv", _subpixel_conv_backward, setup_context=_subpixel_conv_setup_context
)


def subpixel_conv_reference(
    x: Tensor,
    residual: Tensor | None,
    weight: Tensor,
    bias: Tensor | None,
    scale: int,
    tf_order: bool = False,
) -> Tensor:
    """Pure-PyTorch :func:`subpixel_conv` (the definition the op is tested against):
    ``F.conv2d(depth_to_space(x + residual, scale, order), weight, bias, padding=k//2)``.
    Differentiable.
    """
    from falsr_ext.models.layers import depth_to_space

    feat = x if residual is None else x + residual
    hr = depth_to_space(feat, scale, "tf" if tf_order else "torch")
    return F.conv2d(hr, weight, bias, padding=weight.shape[-1] // 2)


# The engine's fused conv ops live in their own module; one import place for users.
from falsr_ext.conv_ops import (  # noqa: E402
    cell_conv,
    cell_conv_reference,
    inverted_bottleneck,
    inverted_bottleneck_reference,
)
