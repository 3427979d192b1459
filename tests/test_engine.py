"""The fused engine equals the nn.Module (fp32 within 1e-5) for the zoo and random
genotypes at x2/x3/x4, reuses buffers safely, and rejects bad input clearly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from falsr_ext.engine import assign_slots, build_plan, compile_engine
from falsr_ext.models import build_model
from falsr_ext.models.zoo import ZOO_GENOTYPES
from falsr_ext.space import sample_genotype


def _model(genotype, scale=2, in_channels=1, order="tf", seed=0):
    torch.manual_seed(seed)
    model = build_model(genotype, scale=scale, in_channels=in_channels, shuffle_order=order)
    with torch.no_grad():  # weights large enough that every cell matters
        for p in model.parameters():
            p.uniform_(-0.3, 0.3)
    return model.eval()


def _input(shape, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g) * 0.9 + 0.05


def _assert_engine_matches(model, x, tol=1e-5, fuse_ib="auto"):
    with torch.inference_mode():
        want = model(x)
    got = compile_engine(model, fuse_ib=fuse_ib)(x)
    assert got.shape == want.shape and got.dtype == torch.float32
    err = (got - want).abs().max().item()
    assert err <= tol * max(1.0, want.abs().max().item()), err


@pytest.mark.parametrize("name", list(ZOO_GENOTYPES))
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_engine_equals_module_zoo(name, scale):
    _assert_engine_matches(_model(ZOO_GENOTYPES[name], scale), _input((1, 1, 23, 31)))


@pytest.mark.parametrize("fuse_ib", ["always", "never"])
@pytest.mark.parametrize("name", ["FALSR-B", "FALSR-C"])
def test_engine_inverted_bottleneck_fused_or_not(name, fuse_ib):
    _assert_engine_matches(_model(ZOO_GENOTYPES[name], 2), _input((1, 1, 17, 26)),
                           fuse_ib=fuse_ib)


@pytest.mark.parametrize("order", ["tf", "torch"])
def test_engine_rgb_batch_and_order(order):
    model = _model(ZOO_GENOTYPES["FALSR-B"], 2, in_channels=3, order=order)
    _assert_engine_matches(model, _input((2, 3, 12, 17)))


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31 - 1), scale=st.sampled_from([2, 3, 4]),
       h=st.integers(1, 19), w=st.integers(1, 19))
def test_engine_equals_module_random_genotypes(seed, scale, h, w):
    genotype = sample_genotype(np.random.default_rng(seed))
    _assert_engine_matches(_model(genotype, scale, seed=seed % 1000), _input((1, 1, h, w)))


def test_engine_reuses_buffers_between_calls_and_shapes():
    model = _model(ZOO_GENOTYPES["FALSR-C"])
    engine = compile_engine(model)
    for shape in [(1, 1, 9, 13), (1, 1, 9, 13), (1, 1, 16, 8), (1, 1, 9, 13)]:
        x = _input(shape, seed=sum(shape))
        with torch.inference_mode():
            want = model(x)
        err = (engine(x) - want).abs().max().item()
        assert err <= 1e-5 * max(1.0, want.abs().max().item()), err


def test_engine_profile_and_release():
    model = _model(ZOO_GENOTYPES["FALSR-B"])
    engine = compile_engine(model)
    x = _input((1, 1, 11, 14))
    want = engine(x)
    rows = engine.profile(x)
    assert len(rows) == len(engine.plan.steps) and all(t >= 0.0 for _, t in rows)
    assert rows[0][0].startswith("conv3x3 1->") and rows[-1][0].startswith("tail x2")
    engine.release()  # buffers are made again on the next call
    assert torch.equal(engine(x), want)


def _check_slots(name, plan):
    from falsr_ext.engine.plan import step_reads, step_writes

    slots = assign_slots(plan)
    live: dict[int, str] = {}
    for i, step in enumerate(plan.steps):
        for read in step_reads(step):
            if read in slots:
                assert live.get(slots[read]) == read, (name, i, read)
        out = step_writes(step)
        if out is not None:
            assert out not in step_reads(step)
            live[slots[out]] = out
    return slots


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_slots_never_alias_live_buffers_random(seed):
    genotype = sample_genotype(np.random.default_rng(seed))
    _check_slots(genotype.to_string(), build_plan(build_model(genotype)))


def test_slots_never_alias_live_buffers():
    for name, genotype in ZOO_GENOTYPES.items():
        slots = _check_slots(name, build_plan(_model(genotype)))
        assert len(set(slots.values())) < len(slots), f"{name}: no reuse at all"


def test_engine_bad_input():
    engine = compile_engine(_model(ZOO_GENOTYPES["FALSR-B"]))
    with pytest.raises(ValueError, match=r"expected input \[N, 1, H, W\]"):
        engine(torch.rand(1, 3, 8, 8))
    with pytest.raises(ValueError, match="non-empty"):
        engine(torch.rand(1, 1, 0, 8))
    with pytest.raises(ValueError, match="float32' or 'bfloat16"):
        compile_engine(_model(ZOO_GENOTYPES["FALSR-B"]), dtype="float16")
    with pytest.raises(TypeError, match="FalsrNet"):
        compile_engine(torch.nn.Conv2d(1, 1, 3))


def test_engine_bf16_is_close_to_fp32():
    model = _model(ZOO_GENOTYPES["FALSR-A"])
    x = _input((1, 1, 20, 24))
    with torch.inference_mode():
        want = model(x)
    got = compile_engine(model, "bfloat16")(x)
    assert got.dtype == torch.float32
    rel = ((got - want).abs().max() / want.abs().max()).item()
    assert rel < 3e-2, rel
