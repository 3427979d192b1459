"""Genotype -> nn.Module: params, shapes, cell semantics, weights files."""

from __future__ import annotations

import random

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from falsr_ext.errors import WeightsError
from falsr_ext.models import build_model, load_model, load_weights, save_weights
from falsr_ext.models.layers import depth_to_space
from falsr_ext.models.zoo import ZOO_GENOTYPES
from falsr_ext.space import Genotype, sample_genotype

EXPECTED_PARAMS = {"FALSR-A": 1_021_401, "FALSR-B": 324_745, "FALSR-C": 426_569}


@pytest.mark.parametrize("name", sorted(ZOO_GENOTYPES))
def test_zoo_params_exact(name: str) -> None:
    assert build_model(ZOO_GENOTYPES[name]).num_params() == EXPECTED_PARAMS[name]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([2, 3, 4]), st.sampled_from(["tf", "torch"]))
def test_random_genotype_forward_shape(seed: int, scale: int, order: str) -> None:
    g = sample_genotype(random.Random(seed))
    model = build_model(g, scale=scale, shuffle_order=order)
    h, w = 5 + seed % 4, 7 + seed % 3
    with torch.inference_mode():
        out = model(torch.rand(1, 1, h, w))
    assert out.shape == (1, 1, h * scale, w * scale)
    assert torch.isfinite(out).all()


def test_rgb_model_shape_and_gradients() -> None:
    model = build_model(ZOO_GENOTYPES["FALSR-B"], scale=3, in_channels=3)
    out = model(torch.rand(2, 3, 6, 5))
    assert out.shape == (2, 3, 18, 15)
    out.square().mean().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_tf_order_matches_formula() -> None:
    # TF depth_to_space: out[2h+i, 2w+j, c] = in[h, w, (2i+j)*C/4 + c]
    x = torch.randn(1, 12, 3, 4)
    y = depth_to_space(x, 2, "tf")
    c_out = 3
    for c in range(c_out):
        for i in range(2):
            for j in range(2):
                assert torch.equal(y[0, c, i::2, j::2], x[0, (2 * i + j) * c_out + c])


def _cell_output(genotype_text: str, x: torch.Tensor) -> tuple[torch.Tensor, torch.nn.Module]:
    model = build_model(Genotype.from_string(genotype_text))
    return model.cells[0](x), model.cells[0]


def test_conv_cell_skip_adds_first_and_last() -> None:
    x = torch.randn(1, 32, 6, 6)
    out, cell = _cell_output("conv-k3-f16-b2-skip@F/fuse@c0", x)
    first = torch.relu(cell.layers[0](x))
    last = torch.relu(cell.layers[1](first))
    torch.testing.assert_close(out, first + last)
    out, cell = _cell_output("conv-k3-f16-b2-noskip@F/fuse@c0", x)
    torch.testing.assert_close(out, torch.relu(cell.layers[1](torch.relu(cell.layers[0](x)))))


def test_inverted_bottleneck_residuals() -> None:
    x = torch.randn(1, 32, 6, 6)
    for flag in ("skip", "noskip"):
        out, cell = _cell_output(f"ib-k1-f16-b2-{flag}@F/fuse@c0", x)
        s = z = cell.reduce(x)
        for block in cell.blocks:  # per-block residual exists in noskip cells too
            h = torch.relu(block.depthwise(torch.relu(block.expand(z))))
            z = z + block.project(h)
        torch.testing.assert_close(out, s + z if flag == "skip" else z)
        assert cell.blocks[0].depthwise.kernel_size == (3, 3)  # always 3x3, even at k1


def test_weights_round_trip(tmp_path) -> None:
    torch.manual_seed(0)
    model = build_model(ZOO_GENOTYPES["FALSR-C"], shuffle_order="tf").eval()
    path = save_weights(model, tmp_path / "c.safetensors")
    loaded = load_weights(path)
    assert loaded.genotype == model.genotype and loaded.shuffle_order == "tf"
    x = torch.rand(1, 1, 9, 11)
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    assert load_model("FALSR-C", weights=path).genotype == model.genotype
    with pytest.raises(WeightsError, match="genotype is not FALSR-A"):
        load_model("FALSR-A", weights=path)


def test_weights_errors(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("FALSR_WEIGHTS_DIR", raising=False)
    with pytest.raises(WeightsError, match="no such weights file"):
        load_weights(tmp_path / "missing.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not a header")
    with pytest.raises(WeightsError, match="junk.safetensors"):
        load_weights(junk)
    with pytest.raises(WeightsError, match="not bundled"):
        load_model("FALSR-A")
