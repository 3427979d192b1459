"""FALSR-A/B/C end to end, x2, one LR luma image: ours vs PyTorch eager, torch.compile and
ONNX Runtime, all in one run on 2 threads, batch 1, no grad.

    python benchmarks/run_cpu_suite.py           # this + the pixel_shuffle ops, then render

or by hand (the suite's JSON also needs test_bench_pixel_shuffle.py in the same run):

    python -m pytest benchmarks/test_bench_pixel_shuffle.py benchmarks/test_bench_network.py \
        --benchmark-only --benchmark-json benchmarks/results/cpu.json
    python benchmarks/render_summary.py benchmarks/results/cpu.json

Cases (``peers.CASES``): eager fp32 NCHW, eager fp32 channels_last, eager bf16
channels_last, torch.compile fp32 / bf16 with inductor freezing (compile excluded, its
time in ``extra_info["compile_s"]``), ONNX Runtime fp32 (exported from the same
nn.Module), and ours (``falsr_ext.engine.compile_engine``, fp32 and bf16; skipped while it
does not exist). A peer that is not installed is skipped with the reason.

Each case's ``extra_info``: role ("ours" / "baseline"), network, dtype, runtime, layout,
gmacs (conv MACs / 1e9 from ``falsr_ext.counter``), summary (the cpu-summary.json rows it
feeds), size, threads, weights, max_abs_diff (vs eager fp32 NCHW, same input) and what
preparing it cost (compile_s, export_s, build_s). Timings are medians of
``FALSR_BENCH_ROUNDS`` calls after ``FALSR_BENCH_WARMUP`` untimed ones; see peers.py for
the environment switches (FALSR_BENCH_SIZE=96 for a quick smoke run).
"""

from __future__ import annotations

import functools

import pytest
import torch
from peers import (
    CASES,
    NETWORKS,
    ROUNDS,
    SIZE,
    THREADS,
    WARMUP,
    WEIGHTS,
    Case,
    build_network,
    gmacs,
    make_input,
    prepare,
)


@pytest.fixture(autouse=True)
def _threads_no_grad():
    previous = torch.get_num_threads()
    torch.set_num_threads(THREADS)
    with torch.no_grad():
        yield
    torch.set_num_threads(previous)


@functools.cache
def _network(name: str) -> torch.nn.Module:
    return build_network(name)


@functools.cache
def _reference(name: str) -> torch.Tensor:
    """Eager fp32 NCHW output, to record each case's deviation (not asserted: bf16 and
    Winograd paths differ by design; the accuracy tests live in tests/)."""
    with torch.no_grad():
        return _network(name)(make_input())


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
@pytest.mark.parametrize("network", NETWORKS)
def test_network(benchmark, network: str, case: Case, tmp_path) -> None:
    model, x = _network(network), make_input()
    prepared = prepare(case, model, x, tmp_path)
    benchmark.group = f"{network} x2 {SIZE}x{SIZE} {case.dtype}"
    benchmark.extra_info.update(
        role=case.role, network=network, dtype=case.dtype, runtime=case.runtime,
        layout=case.layout, gmacs=gmacs(network), summary=case.summaries(network),
        size=SIZE, threads=THREADS, weights=WEIGHTS, **prepared.info,
    )
    out = benchmark.pedantic(prepared.fn, args=(x,), rounds=ROUNDS, warmup_rounds=WARMUP,
                             iterations=1)
    assert out.shape == (1, 1, 2 * SIZE, 2 * SIZE) and out.dtype == torch.float32
    benchmark.extra_info["max_abs_diff"] = (out - _reference(network)).abs().max().item()
