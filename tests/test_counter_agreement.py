"""The analytic counter agrees with PyTorch on the built network.

For the zoo and 200 random genotypes, at several LR sizes and scales 2/3/4:
``falsr_ext.counter.count(g, h, w, scale).macs`` equals FlopCounterMode's total / 2 and
our aten-tracing module counter's conv MACs on ``build_model(g, scale)`` (on meta tensors,
input ``[1, 1, h, w]``), and ``.params`` equals ``sum(p.numel())``. ``count_batch`` equals
the single counts. Meta tensors carry no data, so each network takes milliseconds.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from falsr_ext.models.falsr_net import SCALES, build_model
from falsr_ext.models.zoo import ZOO_GENOTYPES
from falsr_ext.module_counter import count_module
from falsr_ext.space import NUM_CELLS, Genotype, sample_genotype

counter = pytest.importorskip(
    "falsr_ext.counter", reason="falsr_ext.counter (the analytic C++ counter) is not built"
)

# LR sizes: the paper's 480x480, odd and non-square ones, the smallest the counter takes.
SIZES = [(480, 480), (3, 3), (7, 5), (17, 32), (64, 48), (33, 120)]
ZOO = list(ZOO_GENOTYPES.values())
NUM_RANDOM = 200


def _meta_model(genotype: Genotype, scale: int) -> torch.nn.Module:
    """``build_model(g, scale)`` with its parameters on meta (no init cost, no memory)."""
    with torch.device("meta"):
        return build_model(genotype, scale)


def _pytorch_counts(genotype: Genotype, height: int, width: int, scale: int):
    model = _meta_model(genotype, scale)
    x = torch.empty(1, 1, height, width, device="meta")
    with FlopCounterMode(display=False) as fcm:
        out = model(x)
    assert out.shape == (1, 1, scale * height, scale * width)
    params = sum(p.numel() for p in model.parameters())
    return model, fcm.get_total_flops(), params


def _check_agreement(genotype: Genotype, height: int, width: int, scale: int) -> None:
    model, flops, params = _pytorch_counts(genotype, height, width, scale)
    ours = counter.count(genotype, height, width, scale)
    traced = count_module(model, (1, 1, height, width))
    where = f"{genotype.to_string()} at {height}x{width} x{scale}"
    assert flops % 2 == 0, where
    assert ours.macs == flops // 2, where
    assert ours.macs == traced.conv_macs == traced.macs, where
    assert ours.params == params == traced.params, where
    assert (ours.height, ours.width, ours.scale) == (height, width, scale)


@pytest.mark.parametrize("size", SIZES, ids=[f"{h}x{w}" for h, w in SIZES])
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("name", list(ZOO_GENOTYPES))
def test_zoo_agrees_with_flop_counter(name: str, scale: int, size: tuple[int, int]) -> None:
    _check_agreement(ZOO_GENOTYPES[name], *size, scale)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("name", list(ZOO_GENOTYPES))
def test_zoo_per_cell_agrees_with_module_counter(name: str, scale: int) -> None:
    """Each counted cell matches the MACs/params of the corresponding submodule."""
    genotype = ZOO_GENOTYPES[name]
    h, w = 48, 40
    model = _meta_model(genotype, scale)
    traced = count_module(model, (1, 1, h, w)).inclusive_by_module()
    ours = counter.count(genotype, h, w, scale)
    modules = {"F": "head", "fusion": "fusion", "reconstruction": "tail"}
    modules.update({f"cell{i}": f"cells.{i}" for i in range(len(genotype.cells))})
    if scale != 2:
        modules["pre_shuffle"] = "pre_shuffle"
    assert [c.name for c in ours.cells] == (
        ["F"] + [f"cell{i}" for i in range(NUM_CELLS)] + ["fusion"]
        + (["pre_shuffle"] if scale != 2 else []) + ["reconstruction"]
    )
    for cell in ours.cells:
        sub = model.get_submodule(modules[cell.name])
        assert cell.macs == traced[modules[cell.name]], cell.name
        assert cell.params == sum(p.numel() for p in sub.parameters()), cell.name
    assert sum(c.macs for c in ours.cells) == ours.macs
    assert sum(c.params for c in ours.cells) == ours.params


def test_paper_table1_order_of_magnitude() -> None:
    """FALSR-A x2 at 480x480: our count is the paper's 234.7 G mult-adds, 1.02 M params."""
    res = counter.count(ZOO_GENOTYPES["FALSR-A"], 480, 480, 2)
    assert abs(res.macs - 234.7e9) / 234.7e9 < 0.01
    assert abs(res.params - 1_021_000) / 1_021_000 < 0.01
    assert isinstance(res.convention, str) and res.convention


@settings(max_examples=NUM_RANDOM, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    size=st.sampled_from(SIZES),
    scale=st.sampled_from(SCALES),
)
def test_random_genotypes_agree_with_flop_counter(
    seed: int, size: tuple[int, int], scale: int
) -> None:
    _check_agreement(sample_genotype(random.Random(seed)), *size, scale)


@pytest.fixture(scope="module")
def random_genotypes() -> list[Genotype]:
    return ZOO + [sample_genotype(random.Random(seed)) for seed in range(NUM_RANDOM)]


@pytest.mark.parametrize(("height", "width", "scale"), [(480, 480, 2), (17, 32, 3), (64, 48, 4)])
def test_count_batch_equals_single(
    random_genotypes: list[Genotype], height: int, width: int, scale: int
) -> None:
    singles = [counter.count(g, height, width, scale) for g in random_genotypes]
    for batch_input in (random_genotypes, counter.encode(random_genotypes)):
        batch = counter.count_batch(batch_input, height, width, scale)
        for key in ("params", "macs", "act_bytes"):
            arr = batch[key]
            assert isinstance(arr, np.ndarray) and arr.dtype == np.int64, key
            assert arr.shape == (len(random_genotypes),), key
            assert arr.tolist() == [getattr(s, key) for s in singles], key
    # per-cell columns: F, cell0..cell6, fusion, upsample (= pre_shuffle + reconstruction)
    per_cell = counter.count_batch(random_genotypes, height, width, scale, per_cell=True)
    stages = [["F"], *([f"cell{j}"] for j in range(NUM_CELLS)), ["fusion"],
              ["pre_shuffle", "reconstruction"]]
    for i, single in enumerate(singles):
        cells = {c.name: c for c in single.cells}
        for key in ("macs", "params"):
            expected = [sum(getattr(cells[n], key) for n in names if n in cells)
                        for names in stages]
            assert per_cell[f"cell_{key}"][i].tolist() == expected, (i, key)

def test_count_accepts_strings(random_genotypes: list[Genotype]) -> None:
    for g in random_genotypes[:10]:
        assert counter.count(g.to_string()) == counter.count(g)
