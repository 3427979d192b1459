"""ONNX export: dynamic shapes, agreement with PyTorch on a real image, CLI, errors."""

from __future__ import annotations

import pytest
import torch

from falsr_ext.models.falsr_net import build_model
from falsr_ext.space import parse_genotype
from tests.cli_helpers import assert_one_line_error, run_falsr

pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install '.[test]')")
pytest.importorskip("onnxscript", reason="onnxscript is not installed (pip install '.[test]')")


def _random_model(name: str = "FALSR-C", scale: int = 2):
    torch.manual_seed(7)
    model = build_model(parse_genotype(name), scale=scale).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)  # away from the init's symmetric values
    return model


def test_export_matches_pytorch_on_a_real_image_at_any_size(tmp_path, shared_dir):
    from falsr_ext.data.image_io import read_image
    from falsr_ext.image_ops import rgb_to_luma
    from falsr_ext.onnx_export import export_onnx, onnx_max_abs_error

    model = _random_model()
    path = export_onnx(model, tmp_path / "m.onnx")
    image = read_image(shared_dir / "data" / "Set5" / "LR_bicubic" / "X2" / "birdx2.png")
    luma = rgb_to_luma(torch.from_numpy(image.copy()))[None, None]  # 144x144, not 32x32
    assert onnx_max_abs_error(model, path, luma) <= 1e-4
    batch = torch.rand(2, 1, 20, 27)
    assert onnx_max_abs_error(model, path, batch) <= 1e-4


def test_export_x3_rgb_model(tmp_path):
    from falsr_ext.models.falsr_net import FalsrNet
    from falsr_ext.onnx_export import export_onnx, onnx_max_abs_error

    torch.manual_seed(1)
    model = FalsrNet(parse_genotype("FALSR-B"), scale=3, in_channels=3).eval()
    path = export_onnx(model, tmp_path / "rgb.onnx")
    assert onnx_max_abs_error(model, path, torch.rand(1, 3, 17, 23)) <= 1e-4


def test_cli_export_writes_and_checks(tmp_path):
    from falsr_ext.models.weights import save_weights

    weights = save_weights(_random_model("FALSR-B"), tmp_path / "b.safetensors")
    proc = run_falsr("export", "--model", str(weights), "--onnx", str(tmp_path / "b.onnx"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "b.onnx").is_file()
    assert "max abs error" in proc.stdout


def test_cli_export_errors(tmp_path):
    assert_one_line_error(run_falsr("export", "--model", str(tmp_path / "nope.safetensors"),
                                    "--onnx", str(tmp_path / "x.onnx")), "nope.safetensors")
    from falsr_ext.models.weights import save_weights

    weights = save_weights(_random_model(), tmp_path / "c.safetensors")
    assert_one_line_error(run_falsr("export", "--model", str(weights)), "--onnx")


def test_cli_export_checks_on_a_real_image(tmp_path, shared_dir):
    from falsr_ext.models.falsr_net import FalsrNet
    from falsr_ext.models.weights import save_weights

    torch.manual_seed(2)
    rgb = FalsrNet(parse_genotype("FALSR-B"), in_channels=3).eval()  # the RGB input branch
    weights = save_weights(rgb, tmp_path / "rgb.safetensors")
    image = shared_dir / "data" / "Set5" / "LR_bicubic" / "X2" / "babyx2.png"
    proc = run_falsr("export", "--model", str(weights), "--onnx", str(tmp_path / "rgb.onnx"),
                     "--check-image", str(image))
    assert proc.returncode == 0, proc.stderr
    assert f"on {image}: max abs error" in proc.stdout
    assert "torchvision" not in proc.stderr  # the exporter's unrelated notes are silenced


def test_cli_export_bad_check_image_writes_nothing(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    out = tmp_path / "x.onnx"
    assert_one_line_error(run_falsr("export", "--model", "default", "--onnx", str(out),
                                    "--check-image", str(bad)), "bad.png")
    assert not out.exists()
