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


def test_upscale_cli_without_a_model_uses_the_default(stand_in, tmp_path):
    from falsr_ext import upscale
    from falsr_ext.cli import main
    from falsr_ext.data.image_io import read_image, write_image

    img = (np.random.default_rng(2).random((9, 13, 3)) * 255).astype(np.uint8)
    write_image(tmp_path / "in.png", img)
    assert main(["upscale", str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png")]) == 0
    assert np.array_equal(read_image(tmp_path / "out.png"), upscale(img, model=stand_in))


shipped = pytest.mark.skipif(
    not default.DEFAULT_WEIGHTS.is_file(),
    reason=f"{default.DEFAULT_WEIGHTS} is not in this checkout (it is committed with the repo)",
)


@shipped
def test_shipped_weights_are_small_and_load():
    assert default.DEFAULT_WEIGHTS.stat().st_size < 2 * 1024 * 1024
    model = default.load_default_model()
    assert model.genotype.to_string() == default.DEFAULT_GENOTYPE
    assert all(torch.isfinite(p).all() for p in model.parameters())


@shipped
def test_shipped_model_meets_the_accuracy_floor(shared_dir):
    """Issue 5's floor: 37.0 dB on Set5 and 32.7 dB on Set14 (x2, standard protocol)."""
    from falsr_ext.evaluation import evaluate

    model = load_model("default")
    set5 = evaluate(model, shared_dir / "data" / "Set5", progress=False)
    set14 = evaluate(model, shared_dir / "data" / "Set14", progress=False)
    assert set5.images == 5 and set14.images == 14
    assert set5.psnr >= 37.0, set5
    assert set14.psnr >= 32.7, set14


@shipped
def test_shipped_model_onnx_matches_pytorch_on_a_real_image(tmp_path, shared_dir):
    for module in ("onnxruntime", "onnxscript"):
        pytest.importorskip(module, reason=f"{module} is not installed (pip install '.[test]')")
    from falsr_ext.data.image_io import read_image
    from falsr_ext.image_ops import rgb_to_luma
    from falsr_ext.onnx_export import export_onnx, onnx_max_abs_error

    model = load_model("default")
    path = export_onnx(model, tmp_path / "default.onnx")
    image = read_image(shared_dir / "data" / "Set14" / "LR_bicubic" / "X2" / "comicx2.png")
    luma = rgb_to_luma(torch.from_numpy(image.copy()))[None, None]
    assert onnx_max_abs_error(model, path, luma) <= 1e-4
