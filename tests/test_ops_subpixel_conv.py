"""falsr::subpixel_conv (residual add + sub-pixel shuffle + reconstruction conv) against
its pure-PyTorch reference, the FALSR tail of a real network, opcheck and the errors.
"""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from falsr_ext import ops
from falsr_ext.models import build_model
from falsr_ext.models.zoo import ZOO_GENOTYPES


def _random(shape, dtype=torch.float32, seed=0, lo=0.5, hi=1.5) -> torch.Tensor:
    """Random values in [lo, hi): by default never zero."""
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g, dtype=torch.float64) * (hi - lo) + lo).to(dtype)


def _layout(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def _inputs(n, c, h, w, scale, c_out, k, residual, bias, dtype=torch.float32, seed=0):
    cin = c * scale * scale
    x = _random((n, cin, h, w), dtype, seed)
    r = _random((n, cin, h, w), dtype, seed + 1, -1.0, 1.0) if residual else None
    wt = _random((c_out, c, k, k), dtype, seed + 2, -0.5, 0.5)
    b = _random((c_out,), dtype, seed + 3) if bias else None
    return x, r, wt, b


def _f32(t):
    return None if t is None else t.float()


def _assert_close(got, want, rtol):
    # atol scaled to the output's magnitude (sums of 9*C products partly cancel).
    atol = rtol * max(1.0, want.abs().max().item())
    torch.testing.assert_close(got.float(), want.float(), rtol=rtol, atol=atol)


# ---------------------------------------------------------------------------------------
# reference vs op
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("tf_order", [False, True], ids=["torch_order", "tf_order"])
@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "nhwc"])
@pytest.mark.parametrize("c_out", [1, 3])
@pytest.mark.parametrize("k", [1, 3])
def test_matches_reference_fp32(scale, tf_order, channels_last, c_out, k):
    shapes = [(1, 1, 1, 1), (2, 3, 5, 7), (1, 8, 9, 21), (2, 2, 13, 3)]
    for idx, (n, c, h, w) in enumerate(shapes):
        residual, bias = idx % 2 == 0, idx % 3 != 2
        x, r, wt, b = _inputs(n, c, h, w, scale, c_out, k, residual, bias, seed=idx)
        xl = _layout(x, channels_last)
        rl = None if r is None else _layout(r, channels_last)
        got = ops.subpixel_conv(xl, rl, wt, b, scale, tf_order)
        want = ops.subpixel_conv_reference(x, r, wt, b, scale, tf_order)
        assert got.shape == (n, c_out, h * scale, w * scale)
        assert got.dtype == torch.float32
        if ops._uses_channels_last(xl):
            assert got.is_contiguous(memory_format=torch.channels_last)
        else:
            assert got.is_contiguous()
        _assert_close(got, want, 1e-5)


@pytest.mark.parametrize("residual", [False, True], ids=["no_res", "res"])
@pytest.mark.parametrize("bias", [False, True], ids=["no_bias", "bias"])
@pytest.mark.parametrize("tf_order", [False, True], ids=["torch_order", "tf_order"])
@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "nhwc"])
def test_residual_bias_combinations(residual, bias, tf_order, channels_last):
    # FALSR x2 shape (32 -> 8 HR channels), wide enough for full vector tiles + a tail.
    x, r, wt, b = _inputs(1, 8, 37, 45, 2, 3, 3, residual, bias, seed=11)
    got = ops.subpixel_conv(
        _layout(x, channels_last),
        None if r is None else _layout(r, channels_last),
        wt,
        b,
        2,
        tf_order,
    )
    _assert_close(got, ops.subpixel_conv_reference(x, r, wt, b, 2, tf_order), 1e-5)


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("tf_order", [False, True], ids=["torch_order", "tf_order"])
@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "nhwc"])
@pytest.mark.parametrize("c_out", [1, 3])
@pytest.mark.parametrize("c", [4, 8])
def test_bf16_vs_fp32_reference(scale, tf_order, channels_last, c_out, c):
    x, r, wt, b = _inputs(2, c, 7, 11, scale, c_out, 3, True, True, torch.bfloat16, seed=5)
    got = ops.subpixel_conv(
        _layout(x, channels_last), _layout(r, channels_last), wt, b, scale, tf_order
    )
    assert got.dtype == torch.bfloat16
    want = ops.subpixel_conv_reference(x.float(), r.float(), wt.float(), b.float(), scale, tf_order)
    _assert_close(got, want, 1e-2)


def test_mixed_layouts_and_non_contiguous():
    x, r, wt, b = _inputs(2, 8, 10, 12, 2, 3, 3, True, True, seed=3)
    want = ops.subpixel_conv_reference(x, r, wt, b, 2, True)
    # NHWC x with NCHW residual, and the reverse.
    cl = torch.channels_last
    _assert_close(ops.subpixel_conv(x.contiguous(memory_format=cl), r, wt, b, 2, True), want, 1e-5)
    _assert_close(ops.subpixel_conv(x, r.contiguous(memory_format=cl), wt, b, 2, True), want, 1e-5)
    # Strided views and a non-contiguous weight.
    big = _random((2, 32, 20, 12), seed=9)
    xv = big[:, :, ::2, :]
    wt_t = wt.transpose(2, 3).contiguous().transpose(2, 3)
    got = ops.subpixel_conv(xv, None, wt_t, None, 2, False)
    _assert_close(got, ops.subpixel_conv_reference(xv.contiguous(), None, wt, None, 2, False), 1e-5)
    assert got.is_contiguous()


def test_large_multithreaded():
    x, r, wt, b = _inputs(2, 8, 70, 50, 2, 1, 3, True, True, seed=21)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        got = ops.subpixel_conv(x, r, wt, b, 2, True)
        got_cl = ops.subpixel_conv(_layout(x, True), _layout(r, True), wt, b, 2, True)
    finally:
        torch.set_num_threads(threads)
    want = ops.subpixel_conv_reference(x, r, wt, b, 2, True)
    _assert_close(got, want, 1e-5)
    _assert_close(got_cl, want, 1e-5)


def test_empty_and_scale_one():
    x, r, wt, b = _inputs(2, 3, 4, 5, 1, 2, 3, True, True, seed=2)
    _assert_close(ops.subpixel_conv(x, r, wt, b, 1), F.conv2d(x + r, wt, b, padding=1), 1e-5)
    e = torch.empty((0, 32, 4, 4))
    assert ops.subpixel_conv(e, None, torch.ones(1, 8, 3, 3), None, 2).shape == (0, 1, 8, 8)
    e = torch.empty((1, 32, 0, 4))
    assert ops.subpixel_conv(e, e, torch.ones(1, 8, 3, 3), None, 2).shape == (1, 1, 0, 8)


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 2),
    c=st.integers(1, 4),
    h=st.integers(1, 9),
    w=st.integers(1, 40),
    scale=st.integers(1, 4),
    c_out=st.integers(1, 5),
    k=st.sampled_from([1, 3]),
    residual=st.booleans(),
    bias=st.booleans(),
    tf_order=st.booleans(),
    channels_last=st.booleans(),
)
def test_property_random_shapes(
    n, c, h, w, scale, c_out, k, residual, bias, tf_order, channels_last
):
    x, r, wt, b = _inputs(n, c, h, w, scale, c_out, k, residual, bias, seed=n * 100 + w)
    got = ops.subpixel_conv(
        _layout(x, channels_last),
        None if r is None else _layout(r, channels_last),
        wt,
        b,
        scale,
        tf_order,
    )
    _assert_close(got, ops.subpixel_conv_reference(x, r, wt, b, scale, tf_order), 1e-5)


# ---------------------------------------------------------------------------------------
# the FALSR tail of a real network
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "nhwc"])
def test_falsr_tail_end_to_end(channels_last):
    torch.manual_seed(0)
    model = build_model(ZOO_GENOTYPES["FALSR-C"], shuffle_order="tf").eval()
    lr = _random((1, 1, 12, 17), seed=4)
    captured = {}

    def hook(_module, inputs, output):
        captured["fused"] = inputs[0]

    handle = model.shuffle.register_forward_hook(hook)
    with torch.no_grad():
        y = model(lr)
        # Rebuild the tail's inputs: feat and relu(fusion(cat)).
        feat = torch.relu(model.head(lr))
        nodes = [feat]
        for cell, module in zip(model.genotype.cells, model.cells, strict=True):
            cat = (
                torch.cat([nodes[i] for i in cell.inputs], 1)
                if len(cell.inputs) > 1
                else (nodes[cell.inputs[0]])
            )
            nodes.append(module(cat))
        fin = model.genotype.fusion
        cat = torch.cat([nodes[i] for i in fin], 1) if len(fin) > 1 else nodes[fin[0]]
        act = torch.relu(model.fusion(cat))
    handle.remove()
    torch.testing.assert_close(act + feat, captured["fused"], rtol=0, atol=0)
    want = model.tail(model.shuffle(act + feat))
    torch.testing.assert_close(want, y, rtol=0, atol=0)
    got = ops.subpixel_conv(
        _layout(act, channels_last),
        _layout(feat, channels_last),
        model.tail.weight.detach(),
        model.tail.bias.detach(),
        2,
        True,
    )
    torch.testing.assert_close(got, y, rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------------------------------
# opcheck, meta, compile, autograd
# ---------------------------------------------------------------------------------------


def _opcheck_samples():
    # No requires_grad samples: the op is inference-only (its backward raises), so the
    # autograd parts of opcheck are checked for registration only, not for gradients.
    for idx, (dtype, tf_order, channels_last, residual, bias) in enumerate(
        itertools.product(
            (torch.float32, torch.bfloat16),
            (False, True),
            (False, True),
            (False, True),
            (False, True),
        )
    ):
        x, r, wt, b = _inputs(2, 2, 3, 5, 2, 3, 3, residual, bias, dtype, seed=idx)
        yield (
            _layout(x, channels_last),
            None if r is None else _layout(r, channels_last),
            wt,
            b,
            2,
            tf_order,
        )
    x, r, wt, b = _inputs(1, 3, 2, 3, 3, 1, 1, True, True, seed=99)
    yield (x, r, wt, b, 3, True)


def test_opcheck():
    for args in _opcheck_samples():
        torch.library.opcheck(torch.ops.falsr.subpixel_conv.default, args)


def test_backward_raises_clearly():
    x, r, wt, b = _inputs(1, 2, 3, 4, 2, 1, 3, True, True)
    x.requires_grad_()
    y = ops.subpixel_conv(x, r, wt, b, 2)
    assert y.requires_grad
    with pytest.raises(RuntimeError, match="inference-only op and has no backward"):
        y.sum().backward()
    # The reference is differentiable.
    ops.subpixel_conv_reference(x, r, wt, b, 2).sum().backward()
    assert x.grad is not None


def test_meta_tensors():
    x = torch.empty((2, 32, 7, 5), device="meta")
    w = torch.empty((3, 8, 3, 3), device="meta")
    y = ops.subpixel_conv(x.contiguous(memory_format=torch.channels_last), x, w, None, 2, True)
    assert y.device.type == "meta" and y.shape == (2, 3, 14, 10)
    assert y.is_contiguous(memory_format=torch.channels_last)
    assert ops.subpixel_conv(x, None, torch.empty((1, 2, 1, 1), device="meta"), None, 4).shape == (
        2,
        1,
        28,
        20,
    )


def test_torch_compile_fullgraph():
    x, r, wt, b = _inputs(1, 8, 6, 5, 2, 1, 3, True, True, seed=8)

    def fn(x, r):
        return ops.subpixel_conv(torch.relu(x), r, wt, b, 2, tf_order=True) + 1.0

    compiled = torch.compile(fn, backend="aot_eager", fullgraph=True)
    _assert_close(compiled(x, r), fn(x, r), 1e-6)


# ---------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------


def test_errors():
    x, r, wt, b = _inputs(1, 8, 4, 4, 2, 1, 3, True, True)
    op = ops.subpixel_conv
    with pytest.raises(RuntimeError, match=r"float32 or bfloat16, got dtype Double"):
        op(x.double(), None, wt.double(), None, 2)
    with pytest.raises(RuntimeError, match=r"weight must have the dtype of x"):
        op(x, r, wt.bfloat16(), b, 2)
    with pytest.raises(RuntimeError, match=r"residual must have the dtype of x"):
        op(x, r.bfloat16(), wt, b, 2)
    with pytest.raises(RuntimeError, match=r"bias must have the dtype of x"):
        op(x, r, wt, b.bfloat16(), 2)
    with pytest.raises(RuntimeError, match=r"residual must have the shape of x"):
        op(x, r[:, :, :3], wt, b, 2)
    with pytest.raises(RuntimeError, match=r"expected x to be a 4-D tensor"):
        op(x[0], None, wt, b, 2)
    with pytest.raises(RuntimeError, match=r"divisible by scale\*scale \(3\*3 = 9\)"):
        op(x, None, wt, b, 3)
    with pytest.raises(RuntimeError, match=r"weight in-channels \(4\) must equal input channels"):
        op(x, None, wt[:, :4], b, 2)
    with pytest.raises(RuntimeError, match=r"square 1x1 or 3x3, got 5x5"):
        op(x, None, torch.ones(1, 8, 5, 5), b, 2)
    with pytest.raises(RuntimeError, match=r"square 1x1 or 3x3, got 3x1"):
        op(x, None, torch.ones(1, 8, 3, 1), b, 2)
    with pytest.raises(RuntimeError, match=r"expected bias of shape \[1\]"):
        op(x, None, wt, torch.ones(2), 2)
    with pytest.raises(RuntimeError, match=r"scale must be >= 1, got 0"):
        op(x, None, wt, b, 0)
    with pytest.raises(RuntimeError, match=r"expected weight \[Cout, C, k, k\]"):
        op(x, None, wt[0], b, 2)
