"""The engine's conv ops against their PyTorch baselines, at FALSR's shapes (480x480).

    python -m pytest benchmarks/test_bench_conv_ops.py --benchmark-only \
        --benchmark-json benchmarks/results/conv_ops.json
    python benchmarks/render_summary.py benchmarks/results/conv_ops.json

Ours: ``falsr::cell_conv`` (inputs read in place of their concat, bias + ReLU (+ residual)
in the epilogue, into a preallocated NHWC output: how the engine calls it) and
``falsr::inverted_bottleneck``. Baseline: the same maths in PyTorch channels_last
(``torch.cat`` + ``conv2d`` + ReLU (+ add)), the best eager layout. fp32, and bf16 for the
cell conv; 2 threads. Compare medians within one run (baseline / ours).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from falsr_ext.ops import cell_conv, inverted_bottleneck, inverted_bottleneck_reference

THREADS = 2
HW = 480
CL = torch.channels_last

# name: (input channel list, cout, k, groups, residual)
CONVS = {
    "3x3 64->64": ((64,), 64, 3, 1, False),
    "3x3 cat(32,48,64,64)->64": ((32, 48, 64, 64), 64, 3, 1, False),
    "3x3 cat(8x)464->32 +res": ((32, 64, 48, 64, 64, 64, 64, 64), 32, 3, 1, True),
    "1x1 64->64": ((64,), 64, 1, 1, False),
    "3x3 g4 16->16": ((16,), 16, 3, 4, False),
    "3x3 depthwise 96": ((96,), 96, 3, 96, False),
}
IBS = {"ib k3 f48": (48, 3), "ib k1 f48": (48, 1), "ib k3 f16": (16, 3)}


@pytest.fixture(autouse=True)
def _threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    with torch.inference_mode():
        yield
    torch.set_num_threads(previous)


def _rand(*shape, dtype=torch.float32):
    return (torch.rand(*shape) + 0.1).to(dtype)  # never zeros


def _conv_case(name: str, dtype: torch.dtype):
    torch.manual_seed(0)
    chans, cout, k, groups, res = CONVS[name]
    inputs = [_rand(1, c, HW, HW, dtype=dtype).contiguous(memory_format=CL) for c in chans]
    w = ((torch.rand(cout, sum(chans) // groups, k, k) - 0.5) * 0.2).to(dtype)
    b = torch.rand(cout)
    r = _rand(1, cout, HW, HW, dtype=dtype).contiguous(memory_format=CL) if res else None
    out = torch.empty(1, cout, HW, HW, dtype=dtype, memory_format=CL)
    return inputs, w, b, groups, r, out


def _torch_conv(inputs, w, b, groups, r):
    x = inputs[0] if len(inputs) == 1 else torch.cat(inputs, 1)
    y = torch.relu(F.conv2d(x, w, b.to(w.dtype), padding=w.shape[-1] // 2, groups=groups))
    return y if r is None else y + r


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
@pytest.mark.parametrize("name", CONVS)
def test_cell_conv(benchmark, name: str, dtype: str) -> None:
    dt = torch.float32 if dtype == "fp32" else torch.bfloat16
    inputs, w, b, groups, r, out = _conv_case(name, dt)
    benchmark.group = f"cell_conv {name} {dtype}"
    benchmark.extra_info.update(summary=f"cell_conv/{name}/{dtype}", role="ours")
    benchmark(cell_conv, inputs, w, b, groups, True, r, out=out)
    want = _torch_conv([t.float() for t in inputs], w.float(), b, groups,
                       None if r is None else r.float())
    tol = 1e-4 if dtype == "fp32" else 5e-2
    assert (out.float() - want).abs().max().item() <= tol * max(1.0, want.abs().max().item())


@pytest.mark.parametrize("dtype", ["fp32", "bf16"])
@pytest.mark.parametrize("name", CONVS)
def test_cell_conv_torch(benchmark, name: str, dtype: str) -> None:
    dt = torch.float32 if dtype == "fp32" else torch.bfloat16
    inputs, w, b, groups, r, _ = _conv_case(name, dt)
    benchmark.group = f"cell_conv {name} {dtype}"
    benchmark.extra_info.update(summary=f"cell_conv/{name}/{dtype}", role="baseline")
    benchmark(_torch_conv, inputs, w, b, groups, r)


def _ib_case(name: str):
    torch.manual_seed(0)
    f, k = IBS[name]
    wide = 2 * f
    x = _rand(1, f, HW, HW).contiguous(memory_format=CL)
    ws = ((torch.rand(wide, f, k, k) - 0.5) * 0.3, torch.rand(wide) - 0.5,
          (torch.rand(wide, 1, 3, 3) - 0.5) * 0.5, torch.rand(wide) - 0.5,
          (torch.rand(f, wide, k, k) - 0.5) * 0.2, torch.rand(f) - 0.5)
    return x, ws, torch.empty_like(x)


@pytest.mark.parametrize("name", IBS)
def test_inverted_bottleneck(benchmark, name: str) -> None:
    x, ws, out = _ib_case(name)
    benchmark.group = f"inverted_bottleneck {name}"
    benchmark.extra_info.update(summary=f"inverted_bottleneck/{name}", role="ours")
    benchmark(inverted_bottleneck, x, *ws, out=out)
    want = inverted_bottleneck_reference(x, *ws)
    assert (out - want).abs().max().item() <= 1e-4 * max(1.0, want.abs().max().item())


@pytest.mark.parametrize("name", IBS)
def test_inverted_bottleneck_torch(benchmark, name: str) -> None:
    x, ws, _ = _ib_case(name)
    benchmark.group = f"inverted_bottleneck {name}"
    benchmark.extra_info.update(summary=f"inverted_bottleneck/{name}", role="baseline")
    benchmark(inverted_bottleneck_reference, x, *ws)
