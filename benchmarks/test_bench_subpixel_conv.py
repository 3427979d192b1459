"""FALSR tail, fused: ours vs PyTorch ``conv2d(pixel_shuffle(x + r, 2), w, b, padding=1)``.

    python -m pytest benchmarks/test_bench_subpixel_conv.py --benchmark-only \
        --benchmark-json benchmarks/results/subpixel_conv.json

x [1, 32, 480, 480] (the fusion output) with residual [1, 32, 480, 480] (F), weight
[1, 8, 3, 3] (luma reconstruction conv), x2 -> [1, 1, 960, 960]; NCHW and channels_last,
fp32, 2 threads. Compare medians within one run, as ratios (baseline / ours).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from falsr_ext.ops import subpixel_conv

THREADS = 2
SHAPE = (1, 32, 480, 480)
LAYOUTS = {"nchw": torch.contiguous_format, "nhwc": torch.channels_last}


@pytest.fixture(autouse=True)
def _threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    with torch.no_grad():
        yield
    torch.set_num_threads(previous)


def _inputs(layout: str):
    torch.manual_seed(0)
    fmt = LAYOUTS[layout]
    x = (torch.rand(SHAPE) + 0.1).contiguous(memory_format=fmt)  # never zeros
    r = (torch.rand(SHAPE) + 0.1).contiguous(memory_format=fmt)
    w = torch.rand(1, 8, 3, 3) - 0.5
    b = torch.rand(1)
    return x, r, w, b


def _baseline(x, r, w, b):
    return F.conv2d(F.pixel_shuffle(x + r, 2), w, b, padding=1)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_ours(benchmark, layout: str) -> None:
    x, r, w, b = _inputs(layout)
    benchmark.group = f"subpixel_conv {layout}"
    benchmark.extra_info.update(summary=f"subpixel_conv/{layout}", role="ours")
    out = benchmark(subpixel_conv, x, r, w, b, 2, False)
    assert out.shape == (1, 1, 960, 960)
    torch.testing.assert_close(out, _baseline(x, r, w, b), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_torch_baseline(benchmark, layout: str) -> None:
    x, r, w, b = _inputs(layout)
    benchmark.group = f"subpixel_conv {layout}"
    benchmark.extra_info.update(summary=f"subpixel_conv/{layout}", role="baseline")
    benchmark(_baseline, x, r, w, b)
