"""The fused convolution ops of the CPU engine (``torch.ops.falsr.cell_conv``, and
``torch.ops.falsr.inverted_bottleneck``): wrappers, fake kernels, PyTorch references.

Both are NHWC inference ops: inputs of any layout are accepted (non-channels_last ones
are copied to channels_last), outputs are channels_last, ``out=`` tensors must already be
NHWC in memory (channels_last, or a channel slice of a channels_last buffer). float32 and
bfloat16 planes may be mixed; accumulation and the epilogue are always fp32, the output is
rounded once to its dtype. Re-exported by :mod:`falsr_ext.ops`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from falsr_ext._extension import load_extension

load_extension()

_DTYPES = (torch.float32, torch.bfloat16, torch.float16)  # float16: the CUDA kernels only


def _inference_only(name: str):
    def backward(ctx, *grads):
        raise RuntimeError(
            f"falsr::{name} is an inference-only op and has no backward; use "
            f"falsr_ext.ops.{name}_reference (pure PyTorch) where gradients are needed"
        )

    return backward


def _no_context(ctx, inputs, output) -> None:
    pass


# --------------------------------------------------------------------------------------
# cell_conv
# --------------------------------------------------------------------------------------


def cell_conv(
    inputs: Sequence[Tensor],
    weight: Tensor,
    bias: Tensor | None = None,
    groups: int = 1,
    relu: bool = False,
    residual: Tensor | None = None,
    *,
    direct_only: bool = False,
    out: Tensor | None = None,
) -> Tensor:
    """``act(conv2d(cat(inputs, 1), weight, bias, padding=k//2, groups)) + residual``.

    The concatenation is never materialised: each input is read in place. ``weight`` is
    ``[Cout, Cin/groups, k, k]`` with k 1 or 3 (groups includes depthwise), ``act`` is ReLU
    when ``relu`` else identity, and ``residual`` ``[N, Cout, H, W]`` (or ``None``) is
    added after it. Returns (or writes into ``out``) ``[N, Cout, H, W]`` channels_last, of
    the first input's dtype. ``direct_only`` never takes the Winograd path, whose
    rounding differs from PyTorch's by ~1e-6 relative. Inference only.
    """
    inputs = list(inputs)
    if out is None:
        return torch.ops.falsr.cell_conv.default(
            inputs, weight, bias, groups, relu, residual, direct_only
        )
    return torch.ops.falsr.cell_conv.out(
        inputs, weight, bias, groups, relu, residual, direct_only, out=out
    )


def _check_cell_conv(
    inputs: list[Tensor], weight: Tensor, bias: Tensor | None, groups: int,
    residual: Tensor | None,
) -> tuple[int, int, int, int]:
    op = "falsr::cell_conv"
    torch._check(len(inputs) > 0, lambda: f"{op}: expected at least one input tensor")
    for t in inputs:
        torch._check(t.dim() == 4, lambda: f"{op}: inputs must be 4-D tensors")
        torch._check(t.dtype in _DTYPES, lambda: f"{op}: inputs must be float32 or bfloat16")
    n, _, h, w = inputs[0].shape
    c_in = sum(t.shape[1] for t in inputs)
    torch._check(weight.dim() == 4, lambda: f"{op}: weight must be 4-D")
    torch._check(groups >= 1 and c_in % groups == 0, lambda: f"{op}: bad groups {groups}")
    torch._check(weight.shape[1] * groups == c_in, lambda: f"{op}: weight/input channels differ")
    k = weight.shape[2]
    torch._check(k in (1, 3) and weight.shape[3] == k, lambda: f"{op}: kernel must be 1 or 3")
    if bias is not None:
        torch._check(bias.shape == (weight.shape[0],), lambda: f"{op}: bad bias shape")
    if residual is not None:
        torch._check(
            residual.shape == (n, weight.shape[0], h, w), lambda: f"{op}: bad residual shape"
        )
    return n, weight.shape[0], h, w


@torch.library.register_fake("falsr::cell_conv")
def _cell_conv_fake(inputs, weight, bias=None, groups=1, relu=False, residual=None,
                    direct_only=False):
    n, c, h, w = _check_cell_conv(list(inputs), weight, bias, groups, residual)
    return torch.empty(
        (n, c, h, w), dtype=inputs[0].dtype, device=inputs[0].device,
        memory_format=torch.channels_last,
    )


torch.library.register_autograd(
    "falsr::cell_conv", _inference_only("cell_conv"), setup_context=_no_context
)


def cell_conv_reference(
    inputs: Sequence[Tensor],
    weight: Tensor,
    bias: Tensor | None = None,
    groups: int = 1,
    relu: bool = False,
    residual: Tensor | None = None,
) -> Tensor:
    """Pure-PyTorch :func:`cell_conv` in fp32 (the definition it is tested against)."""
    x = torch.cat([t.float() for t in inputs], dim=1)
    y = F.conv2d(x, weight.float(), None if bias is None else bias.float(),
                 padding=weight.shape[-1] // 2, groups=groups)
    if relu:
        y = torch.relu(y)
    if residual is not None:
        y = y + residual.float()
    return y


def cell_conv_path(inputs: Sequence[Tensor], weight: Tensor, groups: int = 1,
                   direct_only: bool = False) -> str:
    """The code path :func:`cell_conv` takes for these arguments (e.g. ``"avx512/direct"``),
    under the current ``FALSR_CPU_ISA`` cap."""
    from falsr_ext import _C

    return _C.cell_conv_path(list(inputs), weight, groups, direct_only)


# --------------------------------------------------------------------------------------
# inverted_bottleneck
# --------------------------------------------------------------------------------------


def inverted_bottleneck(
    x: Tensor,
    expand_w: Tensor,
    expand_b: Tensor | None,
    dw_w: Tensor,
    dw_b: Tensor | None,
    project_w: Tensor,
    project_b: Tensor | None,
    *,
    extra_residual: Tensor | None = None,
    out: Tensor | None = None,
) -> Tensor:
    """One FALSR inverted-bottleneck block, fused:
    ``x + project(relu(dw3x3(relu(expand(x))))) [+ extra_residual]``.

    ``x`` is ``[N, f, H, W]``; ``expand_w`` ``[wide, f, k, k]``, ``dw_w`` ``[wide, 1, 3, 3]``
    (depthwise), ``project_w`` ``[f, wide, k, k]`` with k 1 or 3, each conv zero-padded
    ``same`` (FALSR: wide = 2f). The wide intermediate maps are computed in cache-sized
    bands and never written to memory. Returns (or writes into ``out``) a channels_last
    tensor of x's shape and dtype. Inference only.
    """
    args = (x, expand_w, expand_b, dw_w, dw_b, project_w, project_b, extra_residual)
    if out is None:
        return torch.ops.falsr.inverted_bottleneck.default(*args)
    return torch.ops.falsr.inverted_bottleneck.out(*args, out=out)


@torch.library.register_fake("falsr::inverted_bottleneck")
def _inverted_bottleneck_fake(x, expand_w, expand_b, dw_w, dw_b, project_w, project_b,
                              extra_residual=None):
    op = "falsr::inverted_bottleneck"
    torch._check(x.dim() == 4 and x.dtype in _DTYPES, lambda: f"{op}: bad x")
    f = x.shape[1]
    torch._check(expand_w.dim() == 4 and expand_w.shape[1] == f,
                 lambda: f"{op}: expand_w must be [wide, f, k, k]")
    torch._check(project_w.shape[0] == f, lambda: f"{op}: project_w must be [f, wide, k, k]")
    if extra_residual is not None:
        torch._check(extra_residual.shape == x.shape, lambda: f"{op}: bad extra_residual")
    return torch.empty(x.shape, dtype=x.dtype, device=x.device,
                       memory_format=torch.channels_last)


torch.library.register_autograd(
    "falsr::inverted_bottleneck", _inference_only("inverted_bottleneck"),
    setup_context=_no_context,
)


def inverted_bottleneck_reference(
    x: Tensor,
    expand_w: Tensor,
    expand_b: Tensor | None,
    dw_w: Tensor,
    dw_b: Tensor | None,
    project_w: Tensor,
    project_b: Tensor | None,
    extra_residual: Tensor | None = None,
) -> Tensor:
    """Pure-PyTorch :func:`inverted_bottleneck` in fp32 (what it is tested against)."""
    def f32(t):
        return None if t is None else t.float()

    k = expand_w.shape[-1]
    xf = x.float()
    h = torch.relu(F.conv2d(xf, f32(expand_w), f32(expand_b), padding=k // 2))
    h = torch.relu(F.conv2d(h, f32(dw_w), f32(dw_b), padding=1, groups=h.shape[1]))
    y = xf + F.conv2d(h, f32(project_w), f32(project_b), padding=k // 2)
    return y if extra_residual is None else y + extra_residual.float()
