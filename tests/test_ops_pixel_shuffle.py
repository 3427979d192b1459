"""falsr::pixel_shuffle against its pure-PyTorch reference and the TF formula.

CPU always; the CUDA variants skip (with the reason) when no GPU is visible or the
extension was built without CUDA.
"""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from cuda_helpers import cuda_skip_reason
from hypothesis import given, settings
from hypothesis import strategies as st

from falsr_ext import _extension, ops

_CUDA_SKIP = cuda_skip_reason()
DEVICES = [
    pytest.param("cpu", id="cpu"),
    pytest.param(
        "cuda",
        id="cuda",
        marks=[
            pytest.mark.cuda,
            pytest.mark.skipif(_CUDA_SKIP is not None, reason=str(_CUDA_SKIP)),
        ],
    ),
]
DTYPES = [pytest.param(torch.float32, id="fp32"), pytest.param(torch.bfloat16, id="bf16")]


def _random(shape, dtype=torch.float32, device="cpu", seed=0) -> torch.Tensor:
    """Random values in [0.5, 1.5): never zero, so a skipped write cannot look right."""
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=g, dtype=torch.float64) + 0.5).to(dtype).to(device)


def _layout(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


# ---------------------------------------------------------------------------------------
# reference vs op
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("tf_order", [False, True], ids=["torch_order", "tf_order"])
@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "nhwc"])
def test_matches_reference(device, dtype, scale, tf_order, channels_last):
    shapes = [(1, 1, 1, 1), (2, 3, 5, 7), (1, 8, 9, 4), (3, 5, 1, 13)]
    for k, (n, c, h, w) in enumerate(shapes):
        x = _layout(_random((n, c * scale * scale, h, w), dtype, device, seed=k), channels_last)
        got = ops.pixel_shuffle(x, scale, tf_order=tf_order)
        want = ops.pixel_shuffle_reference(x, scale, tf_order=tf_order)
        assert got.shape == (n, c, h * scale, w * scale)
        assert got.dtype == dtype and got.device == x.device
        # A pure copy: bit-exact in every dtype.
        assert torch.equal(got, want), (n, c, h, w)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("tf_order", [False, True], ids=["torch_order", "tf_order"])
@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "nhwc"])
def test_large_multithreaded(device, tf_order, channels_last):
    # Big enough to be split across threads (FALSR's 32-channel x2 case, smaller image).
    x = _layout(_random((2, 32, 96, 80), torch.float32, device, seed=7), channels_last)
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        got = ops.pixel_shuffle(x, 2, tf_order)
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(got, ops.pixel_shuffle_reference(x, 2, tf_order))


def test_torch_order_reference_is_pytorch():
    x = _random((2, 18, 4, 5))
    assert torch.equal(ops.pixel_shuffle_reference(x, 3), F.pixel_shuffle(x, 3))


@pytest.mark.parametrize("tf_order", [False, True], ids=["torch_order", "tf_order"])
def test_unshuffle_reference_inverts(tf_order):
    x = _random((2, 27, 4, 5))
    y = ops.pixel_shuffle_reference(x, 3, tf_order)
    assert torch.equal(ops.pixel_unshuffle_reference(y, 3, tf_order), x)


# ---------------------------------------------------------------------------------------
# TF order: the formula from docs/falsr-reference.md, written out element by element
# ---------------------------------------------------------------------------------------


def _tf_depth_to_space_x2(x_nhwc: torch.Tensor) -> torch.Tensor:
    """out[2h+i, 2w+j, c] = in[h, w, (2i+j)*C/4 + c] for one image, NHWC, by loops."""
    h_in, w_in, cin = x_nhwc.shape
    c_out = cin // 4
    out = torch.full((2 * h_in, 2 * w_in, c_out), float("nan"), dtype=x_nhwc.dtype)
    for h, w, i, j, c in itertools.product(
        range(h_in), range(w_in), range(2), range(2), range(c_out)
    ):
        out[2 * h + i, 2 * w + j, c] = x_nhwc[h, w, (2 * i + j) * c_out + c]
    return out


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "nhwc"])
def test_tf_order_formula(device, channels_last):
    x = _random((2, 32, 3, 4), seed=3)  # FALSR: 32 channels -> 8 at x2
    want = torch.stack([_tf_depth_to_space_x2(img.permute(1, 2, 0)) for img in x])  # NHWC
    want = want.permute(0, 3, 1, 2)  # -> NCHW logical order
    assert not torch.isnan(want).any()
    ref = ops.pixel_shuffle_reference(x, 2, tf_order=True)
    assert torch.equal(ref, want)
    got = ops.pixel_shuffle(_layout(x.to(device), channels_last), 2, tf_order=True)
    assert torch.equal(got.cpu(), want)
    # And the orders really differ (otherwise this test proves nothing).
    assert not torch.equal(ops.pixel_shuffle_reference(x, 2, tf_order=False), want)


# ---------------------------------------------------------------------------------------
# layouts, odd inputs
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
def test_output_memory_format_follows_input(device):
    x = _random((1, 16, 5, 6), device=device)
    assert ops.pixel_shuffle(x, 2).is_contiguous()
    y = ops.pixel_shuffle(x.contiguous(memory_format=torch.channels_last), 2)
    assert y.is_contiguous(memory_format=torch.channels_last)
    assert not y.is_contiguous()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("tf_order", [False, True], ids=["torch_order", "tf_order"])
def test_non_contiguous_input(device, tf_order):
    base = _random((2, 8, 12, 10), device=device, seed=5)
    views = [
        base[:, :, ::2, 1:],  # strided
        base.transpose(2, 3),  # permuted
        base.contiguous(memory_format=torch.channels_last)[:, :, 1:, :],  # sliced NHWC
        base[:, :1].expand(2, 8, 12, 10),  # stride 0
    ]
    for v in views:
        got = ops.pixel_shuffle(v, 2, tf_order)
        assert torch.equal(got, ops.pixel_shuffle_reference(v.contiguous(), 2, tf_order))
        assert got.is_contiguous()


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("channels_last", [False, True], ids=["nchw", "nhwc"])
def test_scale_one_and_empty(device, channels_last):
    x = _layout(_random((2, 6, 3, 5), device=device), channels_last)
    for tf_order in (False, True):
        assert torch.equal(ops.pixel_shuffle(x, 1, tf_order), x)
    empty = torch.empty((0, 8, 4, 4), device=device)
    assert ops.pixel_shuffle(empty, 2).shape == (0, 2, 8, 8)
    assert ops.pixel_shuffle(torch.empty((1, 8, 0, 3), device=device), 2).shape == (1, 2, 0, 6)


@pytest.mark.parametrize("dtype", [torch.float16, torch.float64], ids=["fp16", "fp64"])
def test_other_float_dtypes(dtype):
    x = _random((1, 8, 3, 3), dtype)
    assert torch.equal(ops.pixel_shuffle(x, 2, True), ops.pixel_shuffle_reference(x, 2, True))


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 2),
    c=st.integers(1, 4),
    h=st.integers(1, 9),
    w=st.integers(1, 9),
    scale=st.integers(1, 5),
    tf_order=st.booleans(),
    channels_last=st.booleans(),
    bf16=st.booleans(),
)
def test_property_random_shapes(n, c, h, w, scale, tf_order, channels_last, bf16):
    dtype = torch.bfloat16 if bf16 else torch.float32
    x = _layout(_random((n, c * scale * scale, h, w), dtype, seed=n * 100 + w), channels_last)
    assert torch.equal(
        ops.pixel_shuffle(x, scale, tf_order), ops.pixel_shuffle_reference(x, scale, tf_order)
    )


# ---------------------------------------------------------------------------------------
# autograd, opcheck, compile
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("tf_order", [False, True], ids=["torch_order", "tf_order"])
def test_gradcheck(device, tf_order):
    x = _random((2, 18, 3, 4), torch.float64, device).requires_grad_()
    assert torch.autograd.gradcheck(lambda t: ops.pixel_shuffle(t, 3, tf_order), (x,))
    # Backward equals the reference's backward.
    g = _random((2, 2, 9, 12), torch.float64, device, seed=9)
    (gx,) = torch.autograd.grad(ops.pixel_shuffle(x, 3, tf_order), x, g)
    (gr,) = torch.autograd.grad(ops.pixel_shuffle_reference(x, 3, tf_order), x, g)
    assert torch.equal(gx, gr)


def _opcheck_samples(device):
    for k, (dtype, tf_order, channels_last, grad) in enumerate(
        itertools.product(
            (torch.float32, torch.bfloat16), (False, True), (False, True), (False, True)
        )
    ):
        x = _layout(_random((2, 8, 3, 5), dtype, device, seed=k), channels_last)
        yield (x.requires_grad_(grad), 2, tf_order)
    yield (_random((1, 27, 2, 3), device=device), 3, True)


@pytest.mark.parametrize("device", DEVICES)
def test_opcheck(device):
    for args in _opcheck_samples(device):
        torch.library.opcheck(torch.ops.falsr.pixel_shuffle.default, args)


def test_meta_tensors():
    # The fake kernel doubles as the meta kernel (shape inference, FLOP counting).
    x = torch.empty((2, 32, 7, 5), device="meta")
    y = ops.pixel_shuffle(x.contiguous(memory_format=torch.channels_last), 2, tf_order=True)
    assert y.device.type == "meta" and y.shape == (2, 8, 14, 10)
    assert y.is_contiguous(memory_format=torch.channels_last)
    assert ops.pixel_shuffle(x, 4).shape == (2, 2, 28, 20)


def test_torch_compile_fullgraph():
    def fn(x):
        return ops.pixel_shuffle(x * 2.0, 2, tf_order=True) + 1.0

    x = _random((1, 16, 6, 5))
    compiled = torch.compile(fn, backend="aot_eager", fullgraph=True)
    assert torch.equal(compiled(x), fn(x))


# ---------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("device", DEVICES)
def test_errors(device):
    x = _random((1, 8, 4, 4), device=device)
    with pytest.raises(RuntimeError, match=r"floating-point tensor .*got dtype Long"):
        ops.pixel_shuffle(torch.ones((1, 8, 4, 4), dtype=torch.int64, device=device), 2)
    with pytest.raises(RuntimeError, match=r"expected a 4-D tensor \[N, C, H, W\], got a 3-D"):
        ops.pixel_shuffle(x[0], 2)
    with pytest.raises(
        RuntimeError,
        match=r"input channels \(8\) must be divisible by "
        r"scale\*scale \(3\*3 = 9\)",
    ):
        ops.pixel_shuffle(x, 3)
    with pytest.raises(RuntimeError, match=r"scale must be >= 1, got 0"):
        ops.pixel_shuffle(x, 0)
    with pytest.raises(RuntimeError, match=r"scale must be >= 1, got -2"):
        ops.pixel_shuffle(x, -2, True)


def test_missing_extension_message(monkeypatch):
    import builtins

    from falsr_ext.errors import ExtensionError

    real_import = builtins.__import__

    def fake_import(name, globals=None, locals=None, fromlist=(), level=0):
        if name == "falsr_ext" and fromlist and "_C" in fromlist:
            raise ImportError("simulated: no module named falsr_ext._C")
        return real_import(name, globals, locals, fromlist, level)

    _extension.load_extension.cache_clear()
    monkeypatch.setattr(builtins, "__import__", fake_import)
    try:
        with pytest.raises(ExtensionError, match=r"pip install --no-build-isolation \."):
            _extension.load_extension()
        assert not _extension.extension_available()
    finally:
        monkeypatch.undo()
        _extension.load_extension.cache_clear()
    assert _extension.extension_available()


@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("tf_order", [False, True])
def test_pixel_shuffle_out_writes_in_place(channels_last, tf_order):
    g = torch.Generator().manual_seed(3)
    x = torch.rand(2, 12, 5, 7, generator=g) + 0.5
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = x.contiguous(memory_format=fmt)
    out = torch.empty(2, 3, 10, 14, memory_format=fmt)
    ptr = out.data_ptr()
    got = ops.pixel_shuffle(x, 2, tf_order, out=out)
    assert got.data_ptr() == ptr
    assert torch.equal(out, ops.pixel_shuffle_reference(x, 2, tf_order))


def test_pixel_shuffle_out_rejects_a_wrong_buffer():
    x = torch.rand(1, 8, 3, 3) + 0.5
    with pytest.raises(RuntimeError, match="out must have shape"):
        ops.pixel_shuffle(x, 2, out=torch.empty(1, 2, 6, 5))
    with pytest.raises(RuntimeError, match="dtype"):
        ops.pixel_shuffle(x, 2, out=torch.empty(1, 2, 6, 6, dtype=torch.float64))
    with pytest.raises(RuntimeError, match="NCHW-contiguous"):
        ops.pixel_shuffle(x, 2, out=torch.empty(1, 2, 6, 6).contiguous(
            memory_format=torch.channels_last)[:, :, :, :])
    with pytest.raises(RuntimeError, match="overlaps"):
        ops.pixel_shuffle(x, 2, out=x.view(1, 2, 6, 6))
