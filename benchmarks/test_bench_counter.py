"""MAC/param counters: ours (C++ single call, C++ batch, aten-tracing module counter) vs
``torch.utils.flop_counter.FlopCounterMode`` on meta tensors (and fvcore when installed).

    python -m pytest benchmarks/test_bench_counter.py --benchmark-only \
        --benchmark-json benchmarks/results/counter.json

Every path counts the same networks: the three zoo genotypes plus 97 random ones (fixed
seed), x2 at 480x480 LR; the batch counter counts those 100 tiled to 100,000 rows. All
run in one session on one thread (the acceptance is "on one core"); times are reported
as seconds per network and compared, as ratios, with FlopCounterMode measured in the same
run. The ratios land in each benchmark's ``extra_info`` and in
``benchmarks/results/counter-summary.json`` (written when the module finishes):
``[{"name", "ours_s", "baseline_s", "ratio"}]`` with ratio = baseline / ours.

Targets of the issue (not asserted: benchmarks are not tests): the batch counter handles
>= 100,000 genotypes/s (<= 10 us per network) and is >= 500x faster per network than
FlopCounterMode on meta; a single ``count()`` call is >= 50x faster.

With ``--benchmark-disable`` every benchmark runs once on a few networks (a smoke test).
"""

from __future__ import annotations

import json
import random
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from falsr_ext.models.falsr_net import build_model
from falsr_ext.models.zoo import ZOO_GENOTYPES
from falsr_ext.module_counter import count_module
from falsr_ext.space import Genotype, sample_genotype

counter = pytest.importorskip(
    "falsr_ext.counter", reason="falsr_ext.counter (the analytic C++ counter) is not built"
)

SEED = 20240611
NUM_RANDOM = 97
BATCH = 100_000
HEIGHT = WIDTH = 480
SCALE = 2
FVCORE_SIZE = 32  # fvcore traces real tensors: a small LR keeps it from timing the convs
SMOKE_NETWORKS = 4  # networks per benchmark under --benchmark-disable
SUMMARY = Path(__file__).resolve().parent / "results" / "counter-summary.json"

TARGETS = {  # minimum ratio baseline/ours asked by the issue (None: reported only)
    "counter/single": 50.0,
    "counter/single-cached": None,
    "counter/batch": 500.0,
    "counter/batch+encode": None,
    "module_counter": None,
}

# seconds per network, filled by each benchmark (only when it really measured)
_PER_NETWORK: dict[str, float] = {}


def _genotypes() -> list[Genotype]:
    rng = random.Random(SEED)
    return list(ZOO_GENOTYPES.values()) + [sample_genotype(rng) for _ in range(NUM_RANDOM)]


GENOTYPES = _genotypes()


@pytest.fixture(autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module", autouse=True)
def _write_summary():
    """After the module's benchmarks: write the per-network times and ratios as JSON."""
    _PER_NETWORK.clear()
    yield
    baseline = _PER_NETWORK.get("flop_counter_meta")
    rows = [
        {"name": name, "ours_s": _PER_NETWORK[name], "baseline_s": baseline,
         "ratio": baseline / _PER_NETWORK[name]}
        for name in TARGETS
        if baseline is not None and name in _PER_NETWORK
    ]
    if rows:
        SUMMARY.parent.mkdir(parents=True, exist_ok=True)
        SUMMARY.write_text(json.dumps(rows, indent=2) + "\n")


def _networks(benchmark, items: list[Any]) -> list[Any]:
    """All items when measuring, a few under --benchmark-disable (smoke test)."""
    return items[:SMOKE_NETWORKS] if benchmark.disabled else items


def _record(benchmark, name: str, networks: int, role: str) -> None:
    """Seconds per network of this benchmark (median), and its ratio to the baseline."""
    benchmark.extra_info.update(summary=name, role=role, networks_per_call=networks)
    stats = getattr(benchmark, "stats", None)
    if benchmark.disabled or stats is None:
        return
    per_network = stats.stats.median / networks
    _PER_NETWORK[name] = per_network
    benchmark.extra_info["median_s_per_network"] = per_network
    benchmark.extra_info["networks_per_s"] = 1.0 / per_network
    baseline = _PER_NETWORK.get("flop_counter_meta")
    if baseline is not None and role == "ours":
        ratio = baseline / per_network
        benchmark.extra_info["ratio_vs_flop_counter_meta"] = ratio
        if TARGETS.get(name):
            benchmark.extra_info["target_ratio"] = TARGETS[name]
            benchmark.extra_info["meets_target"] = ratio >= TARGETS[name]


def _meta_models(genotypes: list[Genotype]) -> list[torch.nn.Module]:
    with torch.device("meta"):
        return [build_model(g, SCALE) for g in genotypes]


# ----------------------------------------------------------------------- baseline(s)
def test_flop_counter_meta(benchmark) -> None:
    """Baseline: FlopCounterMode on a prebuilt meta-tensor model (build not timed)."""
    genotypes = _networks(benchmark, GENOTYPES)
    models = _meta_models(genotypes)
    x = torch.empty(1, 1, HEIGHT, WIDTH, device="meta")

    def run() -> list[int]:
        out = []
        for m in models:
            with FlopCounterMode(display=False) as fcm:
                m(x)
            out.append(fcm.get_total_flops())
        return out

    benchmark.group = "counter: per network (100 FALSR x2, 480x480)"
    flops = benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)
    _record(benchmark, "flop_counter_meta", len(models), "baseline")
    expected = [counter.count(g, HEIGHT, WIDTH, SCALE).macs for g in genotypes]
    assert [f // 2 for f in flops] == expected


def test_flop_counter_meta_with_build(benchmark) -> None:
    """For reference: FlopCounterMode including building the model on meta."""
    genotypes = _networks(benchmark, GENOTYPES)
    x = torch.empty(1, 1, HEIGHT, WIDTH, device="meta")

    def run() -> None:
        for g in genotypes:
            with torch.device("meta"):
                m = build_model(g, SCALE)
            with FlopCounterMode(display=False):
                m(x)

    benchmark.group = "counter: per network (100 FALSR x2, 480x480)"
    benchmark.pedantic(run, rounds=3, iterations=1)
    _record(benchmark, "flop_counter_meta+build", len(genotypes), "reference")


# ----------------------------------------------------------------------- ours
def test_counter_single(benchmark) -> None:
    """``counter.count(genotype)``: one Python call per network, each genotype new to
    ``count``'s encoding cache (cleared before each round), as for a NAS's fresh samples."""
    genotypes = _networks(benchmark, GENOTYPES)
    clear = getattr(getattr(counter, "_encoded_cached", None), "cache_clear", lambda: None)

    def run() -> list[int]:
        return [counter.count(g, HEIGHT, WIDTH, SCALE).macs for g in genotypes]

    benchmark.group = "counter: per network (100 FALSR x2, 480x480)"
    macs = benchmark.pedantic(run, setup=clear, rounds=50, iterations=1, warmup_rounds=2)
    _record(benchmark, "counter/single", len(genotypes), "ours")
    assert len(macs) == len(genotypes)


def test_counter_single_cached(benchmark) -> None:
    """``counter.count(genotype)`` again on genotypes it has seen (encoding cached)."""
    genotypes = _networks(benchmark, GENOTYPES)

    def run() -> list[int]:
        return [counter.count(g, HEIGHT, WIDTH, SCALE).macs for g in genotypes]

    benchmark.group = "counter: per network (100 FALSR x2, 480x480)"
    run()
    benchmark(run)
    _record(benchmark, "counter/single-cached", len(genotypes), "ours")


def _tiled(benchmark) -> tuple[list[Genotype], int]:
    base = _networks(benchmark, GENOTYPES)
    rows = 1_000 if benchmark.disabled else BATCH
    return (base * (rows // len(base) + 1))[:rows], rows


def test_counter_batch(benchmark) -> None:
    """``counter.count_batch`` on 100,000 pre-encoded genotypes (encode not timed)."""
    genotypes, rows = _tiled(benchmark)
    encoded = counter.encode(genotypes)

    benchmark.group = "counter: per network (100 FALSR x2, 480x480)"
    out = benchmark.pedantic(
        counter.count_batch, args=(encoded, HEIGHT, WIDTH, SCALE), rounds=10, iterations=1,
        warmup_rounds=1,
    )
    _record(benchmark, "counter/batch", rows, "ours")
    single = {g.to_string(): counter.count(g, HEIGHT, WIDTH, SCALE) for g in genotypes[:100]}
    for i, g in enumerate(genotypes[:100]):
        assert int(out["macs"][i]) == single[g.to_string()].macs
        assert int(out["params"][i]) == single[g.to_string()].params


def test_counter_batch_with_encode(benchmark) -> None:
    """``counter.count_batch(counter.encode(genotypes))`` on 100,000 Genotype objects."""
    genotypes, rows = _tiled(benchmark)

    def run() -> dict[str, np.ndarray]:
        return counter.count_batch(counter.encode(genotypes), HEIGHT, WIDTH, SCALE)

    benchmark.group = "counter: per network (100 FALSR x2, 480x480)"
    out = benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)
    _record(benchmark, "counter/batch+encode", rows, "ours")
    assert len(out["macs"]) == rows


def test_module_counter_meta(benchmark) -> None:
    """``count_module`` (aten tracing of any nn.Module) on the same prebuilt meta models."""
    genotypes = _networks(benchmark, GENOTYPES)
    models = _meta_models(genotypes)
    shape = (1, 1, HEIGHT, WIDTH)

    def run() -> list[int]:
        return [count_module(m, shape).macs for m in models]

    benchmark.group = "counter: per network (100 FALSR x2, 480x480)"
    macs = benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)
    _record(benchmark, "module_counter", len(models), "ours")
    assert macs == [counter.count(g, HEIGHT, WIDTH, SCALE).macs for g in genotypes]


# ----------------------------------------------------------------------- fvcore
def test_fvcore(benchmark) -> None:
    """fvcore ``FlopCountAnalysis`` (jit trace). It fails on meta tensors ("cond must be a
    bool, but got a Tensor"), so it runs on real 1x1x32x32 tensors (its counts, MACs,
    match ours at that size, except that its trace drops dead cells); at 480x480 it takes
    seconds per network (it runs the convs).
    """
    fvcore_nn = pytest.importorskip("fvcore.nn", reason="fvcore not installed")
    genotypes = _networks(benchmark, GENOTYPES)
    models = [build_model(g, SCALE).eval() for g in genotypes]
    x = torch.randn(1, 1, FVCORE_SIZE, FVCORE_SIZE)
    meta_error = None
    try:
        with torch.device("meta"):
            meta_model = build_model(GENOTYPES[0], SCALE)
        fvcore_nn.FlopCountAnalysis(meta_model, torch.empty(1, 1, 8, 8, device="meta")).total()
    except Exception as exc:  # noqa: BLE001 - recorded, not fatal
        meta_error = f"{type(exc).__name__}: {exc}"[:200]

    def run() -> list[int]:
        out = []
        for m in models:
            analysis = fvcore_nn.FlopCountAnalysis(m, x)
            analysis.unsupported_ops_warnings(False)
            analysis.uncalled_modules_warnings(False)
            out.append(int(analysis.total()))
        return out

    benchmark.group = "counter: per network (100 FALSR x2, fvcore at 32x32 real)"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        totals = benchmark.pedantic(run, rounds=3, iterations=1)
    _record(benchmark, "fvcore_cpu_32x32", len(models), "reference")
    benchmark.extra_info["fvcore_on_meta"] = meta_error or "ok"
    benchmark.extra_info["input"] = f"real 1x1x{FVCORE_SIZE}x{FVCORE_SIZE} (cpu)"
    ours = [counter.count(g, FVCORE_SIZE, FVCORE_SIZE, SCALE).macs for g in genotypes]
    # fvcore counts a jit trace, whose dead-code elimination drops cells nothing reads
    # (eager PyTorch, FlopCounterMode and our counter run and count them): only networks
    # whose every cell is live must agree.
    differ = [i for i, (a, b) in enumerate(zip(totals, ours, strict=True)) if a != b]
    benchmark.extra_info["fvcore_differs_on"] = f"{len(differ)}/{len(ours)} networks"
    for i in differ:
        assert _has_dead_cell(genotypes[i]), genotypes[i].to_string()
    assert totals[: len(ZOO_GENOTYPES)] == ours[: len(ZOO_GENOTYPES)]


def _has_dead_cell(genotype: Genotype) -> bool:
    used = genotype.used_nodes()
    return any(node not in used for node in range(1, genotype.num_nodes))

