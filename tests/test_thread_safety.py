"""``falsr_ext.upscale`` and the engines called from several threads at once return, bit
for bit, what one thread gets (issue 13: the shared default model's engine reused one
buffer set with no lock), and the caches in front of them build one model / engine."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
import torch
from cuda_helpers import cuda_skip_reason

import falsr_ext
from falsr_ext.engine import cache, compile_engine
from falsr_ext.engine.runner import BufferPools
from falsr_ext.models import build_model, default
from falsr_ext.models.zoo import ZOO_GENOTYPES
from falsr_ext.space import Genotype

SHAPES = [(40, 56), (64, 64), (33, 71)]


def _images(kind: str, shapes=SHAPES, seed: int = 0) -> list[np.ndarray]:
    """Random non-zero uint8 images: ``rgb`` HxWx3 or ``grey`` HxW."""
    rng = np.random.default_rng(seed)
    extra = (3,) if kind == "rgb" else ()
    return [rng.integers(1, 256, (h, w, *extra), dtype=np.uint8) for h, w in shapes]


def _in_threads(fn: Callable[[Any], Any], items: list, threads: int, rounds: int = 3
                ) -> list[list[Any]]:
    """``fn`` on every item, ``rounds`` times, from ``threads`` threads released together
    (worker i starts at item i, so threads run different shapes at the same moment);
    result [round][item]."""
    barrier = threading.Barrier(threads)
    jobs = [(r, i) for r in range(rounds) for i in range(len(items))]

    def work(k: int) -> list[tuple[int, int, Any]]:
        barrier.wait()
        return [(r, i, fn(items[i])) for r, i in jobs[k::threads]]

    out: list[list[Any]] = [[None] * len(items) for _ in range(rounds)]
    with ThreadPoolExecutor(threads) as pool:
        for part in pool.map(work, range(threads)):
            for r, i, res in part:
                out[r][i] = res
    return out


def _assert_all_equal(got: list[list[Any]], want: list[Any]) -> None:
    bad = [(r, i) for r, row in enumerate(got) for i, g in enumerate(row)
           if not (np.array_equal(g, want[i]) if isinstance(g, np.ndarray)
                   else torch.equal(g, want[i]))]
    assert not bad, f"{len(bad)} of {len(got) * len(want)} results differ: {bad}"


@pytest.fixture
def stand_in_default(monkeypatch, tmp_path):
    """Random weights of the default genotype as the shared default model (so the test
    does not depend on the bundled file), with fresh caches around it."""
    from falsr_ext.models.weights import save_weights

    torch.manual_seed(0)
    model = build_model(Genotype.from_string(default.DEFAULT_GENOTYPE))
    path = save_weights(model, tmp_path / "default-x2.safetensors")
    monkeypatch.setattr(default, "DEFAULT_WEIGHTS", path)
    default.shared_default_model.cache_clear()
    yield
    default.shared_default_model.cache_clear()


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("kind", ["rgb", "grey"])
@pytest.mark.parametrize("mixed", [True, False], ids=["mixed-shapes", "same-shape"])
def test_upscale_default_model_from_threads_is_bit_exact(stand_in_default, dtype, kind,
                                                         mixed):
    images = _images(kind) if mixed else _images(kind, [(40, 56)] * 3)
    want = [falsr_ext.upscale(img, dtype=dtype) for img in images]  # also compiles
    got = _in_threads(lambda img: falsr_ext.upscale(img, dtype=dtype), images, threads=4)
    _assert_all_equal(got, want)


def test_upscale_tiled_from_eight_threads_is_bit_exact(stand_in_default):
    # Tiles of several shapes inside each call, as well as across the threads.
    images = _images("rgb", seed=1)
    want = [falsr_ext.upscale(img, tile=24) for img in images]
    got = _in_threads(lambda img: falsr_ext.upscale(img, tile=24), images, threads=8,
                      rounds=2)
    _assert_all_equal(got, want)


def test_first_calls_from_threads_share_one_model_and_engine(stand_in_default, monkeypatch):
    loads = []
    load = default.load_default_model

    def slow_load():
        loads.append(1)
        time.sleep(0.05)  # widen the window in which other threads miss too
        return load()

    monkeypatch.setattr(default, "load_default_model", slow_load)
    models = _in_threads(lambda _: default.shared_default_model(), [None], 6, rounds=6)
    assert len(loads) == 1 and len({id(m) for row in models for m in row}) == 1
    model = models[0][0]
    engines = _in_threads(lambda _: cache.engine_for(model, torch.float32), [None], 6,
                          rounds=6)
    assert len({id(e) for row in engines for e in row}) == 1


def _model(genotype: str, in_channels: int = 1) -> falsr_ext.FalsrNet:
    torch.manual_seed(0)
    model = build_model(Genotype.from_string(genotype) if "@" in genotype
                        else ZOO_GENOTYPES[genotype], in_channels=in_channels)
    with torch.no_grad():  # weights large enough that every cell matters
        for p in model.parameters():
            p.uniform_(-0.3, 0.3)
    return model.eval()


def _inputs(channels: int, batch: int = 1) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(2)
    return [torch.rand((batch, channels, h, w), generator=g) * 0.9 + 0.05
            for h, w in [*SHAPES, (40, 56)]]


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("name,channels", [(default.DEFAULT_GENOTYPE, 1), ("FALSR-B", 1),
                                           ("FALSR-C", 3)], ids=["default", "B", "C-rgb"])
def test_engine_from_threads_is_bit_exact(name, channels, dtype):
    engine = compile_engine(_model(name, channels), dtype)
    xs = _inputs(channels, batch=2 if channels == 3 else 1)
    want = [engine(x) for x in xs]
    _assert_all_equal(_in_threads(engine, xs, threads=4), want)


def test_release_while_threads_run_stays_exact():
    engine = compile_engine(_model("FALSR-B"))
    xs = _inputs(1)
    want = [engine(x) for x in xs]
    stop = threading.Event()

    def releaser() -> None:
        while not stop.is_set():
            engine.release()
            time.sleep(0.001)

    t = threading.Thread(target=releaser)
    t.start()
    try:
        got = _in_threads(engine, xs, threads=4)
    finally:
        stop.set()
        t.join()
    _assert_all_equal(got, want)
    engine.release()
    assert engine._pools.idle() == 0


def test_buffer_pools_bounded_by_concurrency():
    engine = compile_engine(_model("FALSR-B"))
    xs = _inputs(1)
    for x in xs:  # one thread, shapes alternating: one buffer set, remade (as before)
        engine(x)
    assert engine._pools.idle() == 1
    _in_threads(engine, xs, threads=4)
    assert 1 <= engine._pools.idle() <= 4  # never more than ran at once
    pools = BufferPools(engine.plan, max_idle=2)
    hold = threading.Barrier(4)

    def use(_: object) -> None:
        with pools.checkout(1, 8, 8):
            hold.wait()  # all four sets out at once

    _in_threads(use, [None], threads=4, rounds=4)
    assert pools.idle() == 2
    with pytest.raises(ValueError, match="max_idle"):
        BufferPools(engine.plan, max_idle=0)


def test_compiled_engine_does_not_alias_the_model_weights():
    # Training (or editing) the model in place, e.g. from another thread, must not
    # change an engine that is already compiled (or running).
    model = _model("FALSR-B")
    engine = compile_engine(model)
    x = _inputs(1)[0]
    before = engine(x)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(0.5)
    assert torch.equal(engine(x), before)
    assert cache.engine_for(model, torch.float32) is not cache.engine_for(
        _model("FALSR-B"), torch.float32)




@pytest.mark.cuda
@pytest.mark.skipif(cuda_skip_reason() is not None, reason=str(cuda_skip_reason()))
@pytest.mark.parametrize("streams", [False, True], ids=["default-stream", "own-streams"])
def test_cuda_engine_from_threads_is_bit_exact(streams):
    from falsr_ext.engine.cuda import CudaEngine

    engine = CudaEngine(_model(default.DEFAULT_GENOTYPE), "float32", "cuda")
    xs = [x.cuda() for x in _inputs(1)]
    want = [engine(x) for x in xs]
    torch.cuda.synchronize()

    def run(x: torch.Tensor) -> torch.Tensor:
        if not streams:
            return engine(x)
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            y = engine(x)
        torch.cuda.current_stream().wait_stream(s)
        return y

    got = _in_threads(run, xs, threads=4)
    torch.cuda.synchronize()
    _assert_all_equal(got, want)
