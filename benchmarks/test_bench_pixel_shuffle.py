"""Sub-pixel shuffle: ours vs F.pixel_shuffle (NCHW) vs the memory floor (a copy_).

The floor writes into a preallocated tensor; so does ``test_ours_out``, our ``out=``
variant (``torch.ops.falsr.pixel_shuffle.out``, skipped while it is not built), the fair
side of the ``pixel_shuffle/copy`` comparison.

    python -m pytest benchmarks/test_bench_pixel_shuffle.py --benchmark-only \
        --benchmark-json benchmarks/results/pixel_shuffle.json

All three run in one session on 2 threads; compare medians within a run, as ratios
(``python benchmarks/render_summary.py`` turns the JSON into the README table).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from falsr_ext.ops import pixel_shuffle

THREADS = 2
SHAPES = {"32x480x480": (1, 32, 480, 480), "64x480x480": (1, 64, 480, 480)}


@pytest.fixture(autouse=True)
def _threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    yield
    torch.set_num_threads(previous)


def _input(shape: tuple[int, ...]) -> torch.Tensor:
    torch.manual_seed(0)
    return torch.rand(shape) + 0.1  # never zeros


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("order", ["torch", "tf"])
def test_ours(benchmark, shape: str, order: str) -> None:
    x = _input(SHAPES[shape])
    benchmark.group = f"pixel_shuffle {shape}"
    benchmark.extra_info.update(summary=f"pixel_shuffle/{order}/{shape}", role="ours")
    out = benchmark(pixel_shuffle, x, 2, order == "tf")
    assert out.shape == (1, SHAPES[shape][1] // 4, 960, 960)


@pytest.mark.parametrize("shape", SHAPES)
def test_torch_pixel_shuffle_nchw(benchmark, shape: str) -> None:
    x = _input(SHAPES[shape])
    benchmark.group = f"pixel_shuffle {shape}"
    benchmark.extra_info.update(summary=f"pixel_shuffle/*/{shape}", role="baseline")
    benchmark(F.pixel_shuffle, x, 2)


@pytest.mark.parametrize("shape", SHAPES)
def test_copy_floor(benchmark, shape: str) -> None:
    x = _input(SHAPES[shape])
    out = torch.empty_like(x)
    benchmark.group = f"pixel_shuffle {shape}"
    benchmark.extra_info.update(summary=f"pixel_shuffle/copy/{shape}", role="floor")
    benchmark(out.copy_, x)


HAS_OUT = hasattr(torch.ops.falsr.pixel_shuffle, "out")


@pytest.mark.skipif(not HAS_OUT, reason="torch.ops.falsr.pixel_shuffle.out is not built yet")
@pytest.mark.parametrize("shape", SHAPES)
def test_ours_out(benchmark, shape: str) -> None:
    x = _input(SHAPES[shape])
    n, c, h, w = SHAPES[shape]
    out = torch.empty(n, c // 4, 2 * h, 2 * w)
    benchmark.group = f"pixel_shuffle {shape}"
    benchmark.extra_info.update(summary=f"pixel_shuffle/torch-out/{shape}", role="ours")
    benchmark(torch.ops.falsr.pixel_shuffle.out, x, 2, False, out=out)
    torch.testing.assert_close(out, F.pixel_shuffle(x, 2), rtol=0, atol=0)
