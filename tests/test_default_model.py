"""The bundled default model: resolution by name, use by upscale, a clear error when absent.

The plumbing is tested with a stand-in weights file of the default genotype; the shipped
file itself is checked (accuracy, ONNX) where it is present.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import falsr_ext.models.default as default
from falsr_ext.errors import FalsrError, WeightsError
from falsr_ext.models.falsr_net import build_model
from falsr_ext.models.loading import load_model, resolve_genotype
from falsr_ext.models.weights import save_weights
from falsr_ext.space import Genotype


@pytest.fixture
def stand_in(tmp_path, monkeypatch):
    """A random-weights file of the default genotype in place of the bundled one."""
    torch.manual_seed(0)
    model = build_model(Genotype.from_string(default.DEFAULT_GENOTYPE))
    path = save_weights(model, tmp_path / "default-x2.safetensors")
    monkeypatch.setattr(default, "DEFAULT_WEIGHTS", path)
    default.shared_default_model.cache_clear()
    yield model
    default.shared_default_model.cache_clear()


@pytest.fixture
def absent(tmp_path, monkeypatch):
    monkeypatch.setattr(default, "DEFAULT_WEIGHTS", tmp_path / "missing.safetensors")
    default.shared_default_model.cache_clear()
    yield
    default.shared_default_model.cache_clear()


def test_default_genotype_is_about_falsr_b_sized():
    params = build_model(Genotype.from_string(default.DEFAULT_GENOTYPE)).num_params()
    assert params <= 330_000  # FALSR-B: 326K


def test_load_model_default(stand_in):
    model = load_model("default")
    assert model.genotype.to_string() == default.DEFAULT_GENOTYPE and model.scale == 2
    for key, value in stand_in.state_dict().items():
        assert torch.equal(model.state_dict()[key], value)
    assert resolve_genotype("DEFAULT")[0].to_string() == default.DEFAULT_GENOTYPE
    with pytest.raises(WeightsError, match="not used"):
        load_model("default", weights="x.safetensors")


def test_upscale_without_a_model_uses_the_default(stand_in):
    from falsr_ext import upscale

    img = (np.random.default_rng(1).random((12, 10, 3)) * 255).astype(np.uint8)
    ours = upscale(img)
    assert ours.shape == (24, 20, 3) and ours.dtype == np.uint8
    assert np.array_equal(ours, upscale(img, model=stand_in))
    assert default.shared_default_model() is default.shared_default_model()  # one engine


def test_wrong_genotype_in_the_default_file(tmp_path, monkeypatch):
    from falsr_ext.space import parse_genotype

    other = save_weights(build_model(parse_genotype("FALSR-B")), tmp_path / "o.safetensors")
    monkeypatch.setattr(default, "DEFAULT_WEIGHTS", other)
    with pytest.raises(WeightsError, match="not the default genotype"):
        default.load_default_model()


def test_absent_default_is_a_clear_error(absent):
    from falsr_ext import upscale

    with pytest.raises(FalsrError, match="no bundled default model"):
        load_model("default")
    with pytest.raises(FalsrError, match="no bundled default model"):
        upscale(np.zeros((4, 4), np.uint8))
