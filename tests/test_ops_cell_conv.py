"""falsr::cell_conv (the engine's fused conv: concat read in place, groups, bias, ReLU,
residual; NHWC, fp32/bf16) against its PyTorch reference, on every instruction-set path,
plus opcheck, out=, strided inputs and the errors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from isa_helpers import ISA_LEVELS, use_isa

from falsr_ext import conv_ops


def _rand(shape, seed, lo=-1.0, hi=1.0, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(shape, generator=g, dtype=torch.float64) * (hi - lo) + lo
    # never exactly zero: shift values near 0 away from it
    t = torch.where(t.abs() < 1e-3, torch.full_like(t, 1e-3), t)
    return t.to(dtype)


def _cl(t):
    return t.contiguous(memory_format=torch.channels_last)


def _case(seed, chans, cout, k, groups, h, w, n=1, bias=True, residual=True,
          dtype=torch.float32):
    inputs = [_cl(_rand((n, c, h, w), seed + i, dtype=dtype)) for i, c in enumerate(chans)]
    cin = sum(chans)
    weight = _rand((cout, cin // groups, k, k), seed + 10, -0.5, 0.5)
    b = _rand((cout,), seed + 11) if bias else None
    r = _cl(_rand((n, cout, h, w), seed + 12, dtype=dtype)) if residual else None
    return inputs, weight, b, r


def _magnitude(inputs, weight, bias, groups, residual):
    """Sum of |terms| of each output: the scale the rounding error is relative to."""
    x = torch.cat([t.double().abs() for t in inputs], 1)
    m = F.conv2d(x, weight.double().abs(), None, padding=weight.shape[-1] // 2, groups=groups)
    if bias is not None:
        m = m + bias.double().abs()[:, None, None]
    if residual is not None:
        m = m + residual.double().abs()
    return m


def _check(got, inputs, weight, bias, groups, relu, residual, rtol):
    want = conv_ops.cell_conv_reference(
        [t.double() for t in inputs], weight.double(), None if bias is None else bias.double(),
        groups, relu, None if residual is None else residual.double())
    err = (got.double() - want).abs()
    scale = _magnitude(inputs, weight, bias, groups, residual) + 1e-30
    worst = (err / scale).max().item()
    assert worst <= rtol, f"max error / sum|terms| = {worst:.3g} > {rtol}"


CASES = [
    # (input channels, cout, k, groups, h, w)
    ((64,), 64, 3, 1, 9, 33),
    ((64, 48, 64), 64, 3, 1, 7, 21),  # concat of three, FALSR-A-like
    ((17,), 5, 3, 1, 5, 17),
    ((1,), 32, 3, 1, 6, 19),  # the head
    ((64,), 48, 1, 1, 4, 40),
    ((32, 16, 16), 16, 1, 1, 3, 9),
    ((16,), 16, 3, 4, 5, 18),  # g4
    ((64,), 32, 1, 2, 4, 7),  # g2
    ((96,), 96, 3, 96, 5, 23),  # depthwise
    ((8,), 8, 3, 1, 1, 1),
    ((5, 3), 7, 3, 1, 2, 2),
]


@pytest.mark.parametrize("isa", ISA_LEVELS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c[0]}-{c[1]}-k{c[2]}-g{c[3]}")
def test_cell_conv_fp32_matches_reference(monkeypatch, isa, case):
    use_isa(monkeypatch, isa)
    chans, cout, k, groups, h, w = case
    for relu, res, seed in ((True, True, 1), (False, False, 2)):
        inputs, weight, bias, residual = _case(seed, chans, cout, k, groups, h, w,
                                               residual=res)
        got = conv_ops.cell_conv(inputs, weight, bias, groups, relu, residual)
        assert got.dtype == torch.float32 and got.shape == (1, cout, h, w)
        assert got.is_contiguous(memory_format=torch.channels_last)
        _check(got, inputs, weight, bias, groups, relu, residual, 1e-5)
        direct = conv_ops.cell_conv(inputs, weight, bias, groups, relu, residual,
                                    direct_only=True)
        _check(direct, inputs, weight, bias, groups, relu, residual, 1e-5)


@pytest.mark.parametrize("isa", ISA_LEVELS)
@pytest.mark.parametrize("case", CASES[:2] + CASES[4:9], ids=str)
def test_cell_conv_bf16_matches_reference(monkeypatch, isa, case):
    use_isa(monkeypatch, isa)
    chans, cout, k, groups, h, w = case
    inputs, weight, bias, residual = _case(5, chans, cout, k, groups, h, w, n=2,
                                           dtype=torch.bfloat16)
    wb = weight.bfloat16()
    got = conv_ops.cell_conv(inputs, wb, bias, groups, True, residual)
    assert got.dtype == torch.bfloat16
    # inputs and weights are exactly bf16, so the only error is fp32 accumulation and
    # one bf16 rounding of the output (2^-8 relative)
    _check(got, inputs, wb, bias, groups, True, residual, 1e-2)
    # bf16 inputs into an fp32 output: the direct paths keep the fp32 accuracy; the bf16
    # Winograd path (Auto) also rounds its transformed tiles to bf16
    out = _cl(torch.empty(2, cout, h, w))
    conv_ops.cell_conv(inputs, wb, bias, groups, True, residual, out=out, direct_only=True)
    _check(out, inputs, wb, bias, groups, True, residual, 2e-5)
    conv_ops.cell_conv(inputs, wb, bias, groups, True, residual, out=out)
    _check(out, inputs, wb, bias, groups, True, residual, 1e-2)


def test_cell_conv_reads_channel_slices_and_writes_into_one(monkeypatch):
    big = _cl(_rand((1, 96, 6, 11), 3))
    a, b = big[:, :40], big[:, 40:96]  # channel slices: pixel stride 96
    weight = _rand((24, 96, 3, 3), 4, -0.5, 0.5)
    dst = _cl(torch.full((1, 64, 6, 11), 7.0))
    conv_ops.cell_conv([a, b], weight, None, 1, True, out=dst[:, 8:32])
    _check(dst[:, 8:32], [a, b], weight, None, 1, True, None, 1e-5)
    assert (dst[:, :8] == 7).all() and (dst[:, 32:] == 7).all()  # nothing else written


def test_cell_conv_accepts_nchw_inputs():
    inputs, weight, bias, residual = _case(9, (12, 4), 8, 3, 1, 5, 6)
    nchw = [t.contiguous() for t in inputs]
    got = conv_ops.cell_conv(nchw, weight, bias, 1, True, residual.contiguous())
    _check(got, inputs, weight, bias, 1, True, residual, 1e-5)


def test_cell_conv_opcheck():
    inputs, weight, bias, residual = _case(3, (8, 8), 16, 3, 1, 5, 7)
    torch.library.opcheck(torch.ops.falsr.cell_conv.default,
                          (inputs, weight, bias, 1, True, residual, False))
    torch.library.opcheck(torch.ops.falsr.cell_conv.default,
                          (inputs[:1], weight[:, :8], None, 1, False, None, True))


def test_cell_conv_has_no_backward():
    inputs, weight, bias, _ = _case(3, (4,), 4, 3, 1, 3, 3)
    weight.requires_grad_(True)
    with pytest.raises(RuntimeError, match="inference-only"):
        conv_ops.cell_conv(inputs, weight, bias).sum().backward()


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda a: a.update(inputs=[]), "at least one input"),
        (lambda a: a.update(inputs=[a["inputs"][0].int()]), "float32 or bfloat16"),
        (lambda a: a.update(inputs=[a["inputs"][0], a["inputs"][1][:, :, :2]]),
         "N, H and W must agree"),
        (lambda a: a.update(weight=a["weight"][:, :3]), "input channels"),
        (lambda a: a.update(weight=torch.ones(8, 12, 5, 5)), "kernel"),
        (lambda a: a.update(groups=5), "groups"),
        (lambda a: a.update(bias=torch.ones(3)), "bias"),
        (lambda a: a.update(residual=torch.ones(1, 8, 2, 2)), "residual"),
    ],
)
def test_cell_conv_bad_arguments(mutate, message):
    inputs, weight, bias, residual = _case(3, (8, 4), 8, 3, 1, 5, 6)
    args = dict(inputs=inputs, weight=weight, bias=bias, groups=1, relu=True,
                residual=residual)
    mutate(args)
    with pytest.raises(RuntimeError, match=message):
        conv_ops.cell_conv(**args)


def test_cell_conv_empty_input_gives_empty_output():
    weight = _rand((8, 12, 3, 3), 1)
    got = conv_ops.cell_conv([torch.ones(1, 8, 0, 4), torch.ones(1, 4, 0, 4)], weight)
    assert got.shape == (1, 8, 0, 4)


def test_cell_conv_out_must_fit():
    inputs, weight, bias, _ = _case(3, (8,), 8, 3, 1, 5, 6)
    with pytest.raises(RuntimeError, match="out must have shape"):
        conv_ops.cell_conv(inputs, weight, bias, out=_cl(torch.empty(1, 8, 5, 5)))
    with pytest.raises(RuntimeError, match="NHWC"):
        conv_ops.cell_conv(inputs, weight, bias, out=torch.empty(1, 8, 5, 6))
    with pytest.raises(RuntimeError, match="overlap"):
        conv_ops.cell_conv(inputs, weight, bias, out=inputs[0])


@pytest.mark.parametrize("width", [97, 130, 203, 481])  # 1 to 5 column blocks of tiles
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_winograd_column_blocks_cover_wide_images(monkeypatch, width, dtype):
    """Wide images split into equal column blocks of tiles (with a short last one)."""
    use_isa(monkeypatch, "avx512_bf16" if dtype == torch.bfloat16 else "avx512")
    inputs, weight, bias, residual = _case(9, (32, 16), 48, 3, 1, 5, width, dtype=dtype)
    weight = weight.to(dtype)
    assert conv_ops.cell_conv_path(inputs, weight).endswith("winograd2")
    got = conv_ops.cell_conv(inputs, weight, bias, 1, True, residual)
    _check(got, inputs, weight, bias, 1, True, residual,
           1e-5 if dtype == torch.float32 else 1e-2)


# The path each kind of conv takes under each cap: (isa, what) -> expected path.
_PATHS = {
    "dense": {"generic": "generic/direct", "avx2": "avx2/direct",
              "avx512": "avx512/winograd2", "avx512_bf16": "avx512/winograd2"},
    "dense_bf16": {"generic": "generic/direct", "avx2": "avx2/direct",
                   "avx512": "avx512/direct", "avx512_bf16": "avx512_bf16/winograd2"},
    "depthwise": {isa: f"{isa.replace('_bf16', '')}/depthwise" for isa in ISA_LEVELS},
}


@pytest.mark.parametrize("isa", [i for i in ISA_LEVELS if i != "amx"])
def test_cell_conv_path_names_the_kernel_it_runs(monkeypatch, isa):
    use_isa(monkeypatch, isa)
    x = _cl(_rand((1, 48, 9, 10), 5))
    dense, depthwise = _rand((48, 48, 3, 3), 6), _rand((48, 1, 3, 3), 7)
    assert conv_ops.cell_conv_path([x], dense) == _PATHS["dense"][isa]
    assert conv_ops.cell_conv_path([x.bfloat16()], dense) == _PATHS["dense_bf16"][isa]
    assert conv_ops.cell_conv_path((x,), depthwise, groups=48) == _PATHS["depthwise"][isa]
    direct = conv_ops.cell_conv_path([x[:, :16], x[:, 16:]], dense, direct_only=True)
    assert direct.endswith("/direct") and direct.startswith(isa.replace("_bf16", ""))
    with pytest.raises(RuntimeError, match="channels"):
        conv_ops.cell_conv_path([x[:, :16]], dense)  # 16 input channels, weight wants 48


def test_bad_isa_variable_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("FALSR_CPU_ISA", "sse9")
    inputs, weight, bias, _ = _case(3, (8,), 8, 3, 1, 5, 6)
    with pytest.raises(RuntimeError, match="FALSR_CPU_ISA"):
        conv_ops.cell_conv(inputs, weight, bias)


# --------------------------------------------------------------------------------------
# inverted_bottleneck (same file: the engine's other fused conv op)
# --------------------------------------------------------------------------------------


def _ib_case(seed, f, k, n, h, w, dtype=torch.float32, extra=True, expansion=2):
    wide = expansion * f
    x = _cl(_rand((n, f, h, w), seed, dtype=dtype))
    ws = (_rand((wide, f, k, k), seed + 1, -0.4, 0.4), _rand((wide,), seed + 2, -0.2, 0.2),
          _rand((wide, 1, 3, 3), seed + 3, -0.4, 0.4), _rand((wide,), seed + 4, -0.2, 0.2),
          _rand((f, wide, k, k), seed + 5, -0.2, 0.2), _rand((f,), seed + 6, -0.2, 0.2))
    r = _cl(_rand((n, f, h, w), seed + 7, dtype=dtype)) if extra else None
    return x, ws, r


@pytest.mark.parametrize("isa", ISA_LEVELS)
@pytest.mark.parametrize("f, k, h, w", [(16, 3, 7, 19), (48, 1, 5, 33), (8, 3, 1, 1),
                                        (5, 1, 3, 2), (32, 3, 9, 17)])
def test_inverted_bottleneck_matches_reference(monkeypatch, isa, f, k, h, w):
    use_isa(monkeypatch, isa)
    for extra, dtype, rtol in ((True, torch.float32, 1e-5), (False, torch.float32, 1e-5),
                               (True, torch.bfloat16, 1e-2)):
        x, ws, r = _ib_case(f + k + h, f, k, 2, h, w, dtype, extra)
        got = conv_ops.inverted_bottleneck(x, *ws, extra_residual=r)
        assert got.dtype == dtype and got.shape == x.shape
        want = conv_ops.inverted_bottleneck_reference(x.double(), *(t.double() for t in ws),
                                                      None if r is None else r.double())
        scale = want.abs().max().item() + 1.0
        err = (got.double() - want).abs().max().item()
        assert err <= rtol * scale, (dtype, extra, err)


def test_inverted_bottleneck_out_and_opcheck():
    x, ws, r = _ib_case(1, 8, 3, 1, 5, 6)
    out = _cl(torch.empty_like(x))
    conv_ops.inverted_bottleneck(x, *ws, extra_residual=r, out=out)
    torch.testing.assert_close(out, conv_ops.inverted_bottleneck_reference(x, *ws, r),
                               rtol=1e-5, atol=1e-5)
    torch.library.opcheck(torch.ops.falsr.inverted_bottleneck.default, (x, *ws, r))


def test_inverted_bottleneck_bad_arguments():
    x, ws, r = _ib_case(1, 8, 3, 1, 5, 6)
    with pytest.raises(RuntimeError, match="input channels"):
        conv_ops.inverted_bottleneck(x[:, :4], *ws)
    with pytest.raises(RuntimeError, match="dw_w must have shape"):
        conv_ops.inverted_bottleneck(x, ws[0], ws[1], ws[2][:, :, :1], *ws[3:])
    with pytest.raises(RuntimeError, match="extra_residual"):
        conv_ops.inverted_bottleneck(x, *ws, extra_residual=r[:, :, :2])
    with pytest.raises(RuntimeError, match="overlap"):
        conv_ops.inverted_bottleneck(x, *ws, out=x)
