"""The CUDA kernels of torch.ops.falsr (csrc/cuda) against their PyTorch references on the
GPU, random shapes and values, fp32 / bf16 / fp16; and the CUDA engine against the module.

Every GPU test is marked ``cuda`` and skips, with the reason, when torch sees no GPU or
falsr_ext._C was built without CUDA. The tests at the end run everywhere: asking for
CUDA where it cannot run must be a clear error, never a silent CPU run.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cuda_helpers import cuda_skip_reason

from falsr_ext import _extension, conv_ops, ops
from falsr_ext.errors import ExtensionError, FalsrError

_CUDA_SKIP = cuda_skip_reason()
gpu = pytest.mark.skipif(_CUDA_SKIP is not None, reason=str(_CUDA_SKIP))
DTYPES = [
    pytest.param(torch.float32, id="fp32"),
    pytest.param(torch.bfloat16, id="bf16"),
    pytest.param(torch.float16, id="fp16"),
]
# Relative tolerance of a result rounded once to the dtype (fp32: accumulation order).
RTOL = {torch.float32: 1e-5, torch.bfloat16: 1e-2, torch.float16: 2e-3}


def _rand(shape, dtype, seed, lo=-1.0, hi=1.0, device="cuda") -> torch.Tensor:
    """Random values in [lo, hi) made on the CPU (reproducible), stored as ``dtype``."""
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(shape, generator=g, dtype=torch.float64) * (hi - lo) + lo
    return t.to(dtype).to(device)


def _nhwc(t: torch.Tensor) -> torch.Tensor:
    return t.contiguous(memory_format=torch.channels_last)


def _assert_close(got: torch.Tensor, want: torch.Tensor, dtype: torch.dtype, scale: float = 1.0
                  ) -> None:
    """|got - want| <= rtol * (|want| + scale) elementwise, want in fp32 from fp32 inputs."""
    assert got.shape == want.shape, (got.shape, want.shape)
    g, w = got.float(), want.float()
    tol = RTOL[dtype] * (w.abs() + scale)
    err = (g - w).abs()
    assert bool((err <= tol).all()), f"max err {err.max().item():.3g} (tol {RTOL[dtype]:g})"


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


# ---------------------------------------------------------------------------------------
# cell_conv
# ---------------------------------------------------------------------------------------

CONV_CASES = [  # (groups, cin per group, cout per group, k)
    (1, 32, 32, 3), (1, 48, 64, 1), (1, 7, 12, 3), (1, 5, 3, 1), (2, 8, 4, 3),
    (4, 3, 6, 1), (32, 1, 1, 3), (48, 1, 1, 3), (1, 160, 32, 1),  # fusion-like: 160 -> 32
    (1, 600, 8, 3),  # weights beyond 48 KB of shared memory: the global-weights kernel
]


@pytest.mark.cuda
@gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: "g{}_ci{}_co{}_k{}".format(*c))
@pytest.mark.parametrize("direct_only", [False, True], ids=["auto", "direct"])
def test_cell_conv_matches_reference(case, dtype, direct_only):
    # auto: dense bf16 / fp16 convs with Cout % 16 == 0 run on tensor cores (weights rounded
    # to the dtype, within the tolerance); direct: the fp32-FMA kernel.
    groups, cig, cog, k = case
    rng = _rng(hash(case) % 1000)
    n, h, w = int(rng.integers(1, 3)), int(rng.integers(1, 20)), int(rng.integers(1, 24))
    cin, cout = groups * cig, groups * cog
    # The concat split into 1-3 planes read in place.
    cuts = sorted(set(int(c) for c in rng.integers(1, cin, size=2))) if cin > 2 else []
    sizes = [b - a for a, b in zip([0, *cuts], [*cuts, cin], strict=True)]
    inputs = [_nhwc(_rand((n, c, h, w), dtype, 10 + i)) for i, c in enumerate(sizes)]
    weight = _rand((cout, cig, k, k), torch.float32, 1, -0.3, 0.3)
    bias = _rand((cout,), torch.float32, 2)
    residual = _nhwc(_rand((n, cout, h, w), dtype, 3))
    for relu, res in ((True, None), (False, residual), (True, residual)):
        got = conv_ops.cell_conv(inputs, weight, bias, groups, relu, res,
                                 direct_only=direct_only)
        assert got.is_cuda and got.dtype == dtype
        assert got.is_contiguous(memory_format=torch.channels_last)
        want = conv_ops.cell_conv_reference(inputs, weight, bias, groups, relu, res)
        _assert_close(got, want, dtype, scale=float(cig * k * k) ** 0.5)


@pytest.mark.cuda
@gpu
@pytest.mark.parametrize("dtype", DTYPES)
def test_cell_conv_reads_channel_slices_and_writes_out(dtype):
    # Inputs and out as channel slices of wider NHWC buffers (the engine's in-place concat).
    n, h, w = 2, 13, 17
    wide_in = _nhwc(_rand((n, 40, h, w), dtype, 5))
    a, b = wide_in[:, 3:19], wide_in[:, 19:40]
    weight = _rand((24, 37, 3, 3), torch.float32, 6, -0.2, 0.2)
    out_buf = _nhwc(torch.full((n, 30, h, w), 7.0, dtype=dtype, device="cuda"))
    out = out_buf[:, 2:26]
    conv_ops.cell_conv([a, b], weight, None, relu=True, out=out)
    want = conv_ops.cell_conv_reference([a, b], weight, None, relu=True)
    _assert_close(out, want, dtype, scale=6.0)
    assert bool((out_buf[:, :2] == 7).all()) and bool((out_buf[:, 26:] == 7).all())


@pytest.mark.cuda
@gpu
def test_cell_conv_mixed_dtypes_and_errors():
    x32 = _nhwc(_rand((1, 8, 9, 9), torch.float32, 1))
    x16 = _nhwc(_rand((1, 8, 9, 9), torch.bfloat16, 2))
    weight = _rand((16, 16, 3, 3), torch.float32, 3, -0.3, 0.3)
    got = conv_ops.cell_conv([x32, x16], weight, None)
    assert got.dtype == torch.float32
    want = conv_ops.cell_conv_reference([x32, x16], weight, None)
    _assert_close(got, want, torch.float32, scale=4.0)
    with pytest.raises(RuntimeError, match="CUDA"):  # a CPU tensor among CUDA ones
        conv_ops.cell_conv([x32, x16.cpu()], weight, None)
    with pytest.raises(RuntimeError, match="groups"):
        conv_ops.cell_conv([x32, x16], weight, None, groups=3)
    with pytest.raises(RuntimeError, match="float32, bfloat16 or float16"):
        conv_ops.cell_conv([x32.double(), x16], weight, None)


# ---------------------------------------------------------------------------------------
# inverted_bottleneck
# ---------------------------------------------------------------------------------------


@pytest.mark.cuda
@gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("k", [1, 3])
@pytest.mark.parametrize("extra", [False, True])
def test_inverted_bottleneck_matches_reference(dtype, k, extra):
    rng = _rng(k * 10 + extra)
    f = int(rng.choice([16, 32, 48]))
    wide = 2 * f
    n, h, w = 1, int(rng.integers(3, 30)), int(rng.integers(3, 30))
    x = _nhwc(_rand((n, f, h, w), dtype, 1))
    ws = (
        _rand((wide, f, k, k), torch.float32, 2, -0.2, 0.2), _rand((wide,), torch.float32, 3),
        _rand((wide, 1, 3, 3), torch.float32, 4, -0.3, 0.3), _rand((wide,), torch.float32, 5),
        _rand((f, wide, k, k), torch.float32, 6, -0.1, 0.1), _rand((f,), torch.float32, 7),
    )
    r = _nhwc(_rand((n, f, h, w), dtype, 8)) if extra else None
    got = conv_ops.inverted_bottleneck(x, *ws, extra_residual=r)
    assert got.is_cuda and got.dtype == dtype
    want = conv_ops.inverted_bottleneck_reference(x, *ws, r)
    _assert_close(got, want, dtype, scale=4.0)
    out = torch.empty_like(got)
    conv_ops.inverted_bottleneck(x, *ws, extra_residual=r, out=out)
    assert torch.equal(out, got)


# ---------------------------------------------------------------------------------------
# subpixel_conv and pixel_shuffle
# ---------------------------------------------------------------------------------------


@pytest.mark.cuda
@gpu
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("tf_order", [False, True])
@pytest.mark.parametrize("channels_last", [False, True])
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_subpixel_conv_matches_reference(dtype, tf_order, channels_last, scale):
    rng = _rng(scale * 4 + tf_order * 2 + channels_last)
    c_hr, c_out, k = int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.choice([1, 3]))
    n, h, w = int(rng.integers(1, 3)), int(rng.integers(1, 17)), int(rng.integers(1, 19))
    x = _rand((n, c_hr * scale * scale, h, w), dtype, 1)
    res = _rand(x.shape, dtype, 2)
    if channels_last:
        x, res = _nhwc(x), _nhwc(res)
    weight = _rand((c_out, c_hr, k, k), dtype, 3)
    bias = _rand((c_out,), dtype, 4)
    for r, b in ((res, bias), (None, None)):
        got = ops.subpixel_conv(x, r, weight, b, scale, tf_order)
        assert got.is_cuda and got.dtype == dtype
        assert got.is_contiguous(
            memory_format=torch.channels_last if channels_last else torch.contiguous_format)
        want = ops.subpixel_conv_reference(
            x.float(), None if r is None else r.float(), weight.float(),
            None if b is None else b.float(), scale, tf_order)
        _assert_close(got, want, dtype, scale=4.0)


@pytest.mark.cuda
@gpu
@pytest.mark.parametrize("dtype", DTYPES)
def test_pixel_shuffle_out(dtype):
    x = _nhwc(_rand((2, 12, 5, 7), dtype, 1))
    out = _nhwc(torch.empty((2, 3, 10, 14), dtype=dtype, device="cuda"))
    ops.pixel_shuffle(x, 2, True, out=out)
    assert torch.equal(out, ops.pixel_shuffle_reference(x, 2, True))


# ---------------------------------------------------------------------------------------
# colour
# ---------------------------------------------------------------------------------------


@pytest.mark.cuda
@gpu
@pytest.mark.parametrize("np_dtype", [np.uint8, np.uint16, np.float32, np.float64])
def test_rgb_to_luma_is_bitwise_the_cpu_op(np_dtype):
    from falsr_ext.image_ops import rgb_to_luma

    rng = _rng(7)
    shape = (int(rng.integers(1, 70)), int(rng.integers(1, 90)), 4)
    if np.dtype(np_dtype).kind == "f":
        img = rng.random(shape).astype(np_dtype)
    else:
        img = rng.integers(0, np.iinfo(np_dtype).max + 1, size=shape).astype(np_dtype)
    cpu = torch.from_numpy(img)
    want = rgb_to_luma(cpu)
    got = torch.ops.falsr.rgb_to_luma(cpu.cuda())  # RGBA: read in place, alpha skipped
    assert got.is_cuda and got.dtype == torch.float32
    assert torch.equal(got.cpu(), want)


# ---------------------------------------------------------------------------------------
# the engine on CUDA
# ---------------------------------------------------------------------------------------


def _zoo_model(name: str, scale: int = 2):
    from falsr_ext.models import build_model
    from falsr_ext.models.zoo import ZOO_GENOTYPES

    torch.manual_seed(0)
    model = build_model(ZOO_GENOTYPES[name], scale=scale, in_channels=1, shuffle_order="tf")
    with torch.no_grad():
        for p in model.parameters():
            p.uniform_(-0.3, 0.3)
    return model.eval()


@pytest.mark.cuda
@gpu
@pytest.mark.parametrize("name", ["FALSR-A", "FALSR-B", "FALSR-C"])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_cuda_engine_matches_module(name, dtype):
    # fp32 against the module; bf16 against the CPU engine in bf16 (the same plan and the
    # same rounding points, so only the accumulation order differs).
    from falsr_ext.engine import compile_engine
    from falsr_ext.engine.cuda import compile_cuda_engine

    model = _zoo_model(name)
    x = _rand((1, 1, 37, 45), torch.float32, 1, 0.05, 0.95, device="cpu")
    with torch.inference_mode():
        want = model(x) if dtype == "float32" else compile_engine(model, dtype)(x)
    got = compile_cuda_engine(model, dtype)(x)
    assert got.is_cuda and got.dtype == torch.float32 and got.shape == want.shape
    rel = ((got.cpu() - want).abs().max() / want.abs().max()).item()
    assert rel <= (1e-5 if dtype == "float32" else 2e-2), rel


# ---------------------------------------------------------------------------------------
# everywhere: CUDA requests that cannot run are clear errors
# ---------------------------------------------------------------------------------------


@pytest.mark.skipif(_CUDA_SKIP is None, reason="checks the error of a build / machine without CUDA")
def test_cuda_engine_without_cuda_is_a_clear_error():
    from falsr_ext.engine.cuda import compile_cuda_engine

    model = _zoo_model("FALSR-C")
    expected = ExtensionError if not _extension.cuda_built() else FalsrError
    with pytest.raises(expected, match="CUDA"):
        compile_cuda_engine(model)


@pytest.mark.skipif(_CUDA_SKIP is None, reason="checks the error of a build / machine without CUDA")
def test_upscale_on_cuda_without_cuda_is_a_clear_error():
    from falsr_ext import upscale

    model = _zoo_model("FALSR-C")
    img = np.full((6, 5, 3), 100, np.uint8)
    with pytest.raises(FalsrError, match="(?i)cuda"):
        upscale(img, model, device="cuda")


def test_cuda_dtype_names():
    from falsr_ext.engine.cuda import parse_cuda_dtype

    assert parse_cuda_dtype("fp16") is torch.float16
    assert parse_cuda_dtype("BF16") is torch.bfloat16
    assert parse_cuda_dtype(torch.float32) is torch.float32
    with pytest.raises(ValueError, match="float16"):
        parse_cuda_dtype("int8")
