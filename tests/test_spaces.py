"""Three spaces, one library: the registry, model cards, and every CLI verb on DLSR and
TPSR networks beside FALSR (issue 14)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import assert_one_line_error
from cli_helpers import run_in_process as falsr

import falsr_ext
from falsr_ext.errors import FalsrError, GenotypeError, ImageError
from falsr_ext.models.weights import read_metadata, save_weights
from falsr_ext.spaces import create_model, get_space, space_names
from falsr_ext.upscaling import upscale

pytestmark = pytest.mark.usefixtures("one_torch_thread")

DLSR_TINY = "dlsr/checkpoints/RFDN_beta21_tiny18_ps128_20210306_lr4_700.pt"
TPSR_D2 = "tpsr/checkpoints/TPSR_D2X4.pt"






def test_registry_knows_three_spaces() -> None:
    assert space_names() == ["dlsr", "falsr", "tpsr"]
    for name in space_names():
        space = get_space(name)
        arch = space.sample(np.random.default_rng(3))
        assert space.parse(space.format(arch)) == arch
        assert space.parse(space.to_json(arch)) == arch


def test_unknown_space_is_one_line() -> None:
    with pytest.raises(GenotypeError, match="unknown search space 'esrgan'.*dlsr, falsr, tpsr"):
        create_model("esrgan:rrdb23")


@pytest.mark.parametrize("spec", ["dlsr:nf18-conv_1x1+sep_conv_7x7+sep_conv_5x5-"
                                  "c3=1+2,c4=2+3,c5=2+4,c6=4+5", "tpsr:tpsr-d2", "FALSR-B"])
def test_create_model_of_every_space(spec: str) -> None:
    model = create_model(spec)
    card = model.card
    assert card.space == spec.split(":")[0] if ":" in spec else card.space == "falsr"
    x = torch.rand(1, model.in_channels, 16, 16) * model.input_range
    with torch.inference_mode():
        y = model(x)
    assert y.shape == (1, model.in_channels, 16 * model.scale, 16 * model.scale)


def test_falsr_cards_name_the_zoo_and_the_default() -> None:
    assert falsr_ext.load_model("default").card.name == "default"
    assert create_model("FALSR-A").card.reference["paper"]["params"] > 0
    assert create_model("FALSR-A").card.protocol == "falsr"


@pytest.mark.parametrize(("ckpt", "psnr", "ssim", "scale"), [
    (DLSR_TINY, 37.7164, 0.95949, 2),
    (TPSR_D2, 29.6050, 0.8424, 4),
])
def test_eval_reads_released_checkpoints_directly(capsys: pytest.CaptureFixture[str],
                                                  shared_dir: Path, ckpt: str, psnr: float,
                                                  ssim: float, scale: int) -> None:
    """The check's interface: `falsr eval --model <file>.pt --data DIR --json`."""
    proc = falsr(capsys, "eval", "--model", str(shared_dir / ckpt), "--data",
                 str(shared_dir / "data" / "Set5"), "--json", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["scale"] == scale  # --scale defaults to the model's
    assert abs(result["psnr"] - psnr) <= 5e-4 and abs(result["ssim"] - ssim) <= 5e-5
    assert "float studio Y" in result["protocol"]


@pytest.mark.parametrize(("ckpt", "size", "params", "macs"), [
    (DLSR_TINY, "480x480", 56_268, 12_068_501_472),
    ("dlsr/checkpoints/RFDN_beta21_ps128_20210128_1000.pt", "360x640", 322_620,
     67_306_238_496),
    ("dlsr/checkpoints/RFDN_beta1_para_loss.pt", "480x480", 327_804, 68_500_647_648),
    (TPSR_D2, "180x320", 61_097, 3_571_718_400),
    ("tpsr/checkpoints/TPSR_NOGANX4.pt", "120x120", 61_097, 892_929_600),
])
def test_count_released_networks(capsys: pytest.CaptureFixture[str], shared_dir: Path,
                                 ckpt: str, size: str, params: int, macs: int) -> None:
    proc = falsr(capsys, "count", str(shared_dir / ckpt), "--size", size, "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert (result["params"], result["macs"]) == (params, macs)


def test_count_an_architecture_string(capsys: pytest.CaptureFixture[str]) -> None:
    proc = falsr(capsys, "count", "tpsr:tpsr-d2", "--size", "120x120", "--json")
    assert json.loads(proc.stdout)["macs"] == 892_929_600
    proc = falsr(capsys, "count", "FALSR-B", "--json")
    assert json.loads(proc.stdout)["space"] == "falsr"


def test_convert_then_eval_and_upscale_x4(capsys: pytest.CaptureFixture[str],
                                          shared_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "tpsr-d2.safetensors"
    proc = falsr(capsys, "convert", str(shared_dir / TPSR_D2), "-o", str(out), "-v")
    assert proc.returncode == 0, proc.stderr
    meta = read_metadata(out)
    assert meta["space"] == "tpsr" and meta["arch"].startswith("f16/")
    model = falsr_ext.load_model(out)
    assert model.card.name == "tpsr-d2" and model.card.reference["Set5"]["psnr"] == 29.605
    photo = shared_dir / "data" / "Set5" / "LR_bicubic" / "X4" / "birdx4.png"
    proc = falsr(capsys, "upscale", str(photo), "-o", str(tmp_path / "bird.png"), "--model",
                 str(out))
    assert proc.returncode == 0, proc.stderr
    from PIL import Image

    with Image.open(photo) as lr, Image.open(tmp_path / "bird.png") as sr:
        assert sr.size == (4 * lr.size[0], 4 * lr.size[1])


def test_rgb_networks_tile_exactly_where_their_card_says(shared_dir: Path) -> None:
    model = falsr_ext.load_model(shared_dir / TPSR_D2)
    assert model.card.tiling == "exact"
    img = np.random.default_rng(0).integers(1, 256, (40, 52, 3), dtype=np.uint8)
    whole = upscale(img, model)
    assert whole.shape == (160, 208, 3)
    # float: the tiles' halo covers the receptive field, so only summation order differs
    exact = upscale(img / 255.0, model)
    np.testing.assert_allclose(upscale(img / 255.0, model, tile=16), exact, atol=1e-5)
    # uint8: that float noise may flip a rounding, by one level, very rarely
    diff = np.abs(upscale(img, model, tile=16).astype(int) - whole)
    assert diff.max() <= 1 and np.count_nonzero(diff) <= whole.size // 10_000
    grey = upscale(img[:, :, 0], model)
    assert grey.shape == (160, 208)


def test_safetensors_round_trip_of_other_spaces(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create_model("dlsr:nf18-conv_1x1+sep_conv_7x7+sep_conv_5x5-"
                         "c3=1+2,c4=2+3,c5=2+4,c6=4+5").eval()
    path = save_weights(model, tmp_path / "d.safetensors")
    back = falsr_ext.load_model(path)
    x = torch.rand(1, 3, 20, 20) * 255
    with torch.inference_mode():
        assert torch.equal(model(x), back(x))


def test_files_without_space_are_falsr(tmp_path: Path) -> None:
    """The shipped default model predates the ``space`` key and still loads."""
    from falsr_ext.models.default import DEFAULT_WEIGHTS

    assert "space" not in read_metadata(DEFAULT_WEIGHTS)
    assert falsr_ext.load_model("default").space == "falsr"


def test_bad_inputs_are_one_line(capsys: pytest.CaptureFixture[str], shared_dir: Path,
                                 tmp_path: Path) -> None:
    assert_one_line_error(falsr(capsys, "count", "esrgan:rrdb"), "unknown search space")
    assert_one_line_error(falsr(capsys, "count", "dlsr:nf48-conv_9x9"), "dlsr")
    not_sr = tmp_path / "other.pt"
    torch.save({"conv.weight": torch.rand(4, 3, 3, 3)}, not_sr)
    assert_one_line_error(falsr(capsys, "eval", "--model", str(not_sr), "--data",
                                str(shared_dir / "data" / "Set5")),
                          "not a DLSR or TPSR checkpoint")
    small = tmp_path / "small.png"
    from PIL import Image

    Image.fromarray(np.full((10, 12, 3), 90, np.uint8)).save(small)
    proc = falsr(capsys, "upscale", str(small), "-o", str(tmp_path / "o.png"), "--model",
                 str(shared_dir / DLSR_TINY))
    assert_one_line_error(proc, "needs at least 15x15 px")


def test_scale_mismatch_and_bf16_on_other_spaces(shared_dir: Path) -> None:
    model = falsr_ext.load_model(shared_dir / TPSR_D2)
    img = np.full((16, 16, 3), 7, np.uint8)
    with pytest.raises(FalsrError, match="upscales x4, not x2"):
        upscale(img, model, scale=2)
    with pytest.raises(FalsrError, match="float32"):
        upscale(img, model, dtype="bf16")
    with pytest.raises(ImageError):
        upscale(np.zeros((3, 40, 3), np.uint8), model)  # ambiguous layout, as for FALSR


def test_eval_with_lpips(capsys: pytest.CaptureFixture[str], shared_dir: Path) -> None:
    """The check's interface: `--metrics psnr,ssim,lpips --lpips-weights FILE --json`."""
    args = ["eval", "--model", str(shared_dir / TPSR_D2), "--data",
            str(shared_dir / "data" / "Set5"), "--metrics", "psnr,ssim,lpips",
            "--lpips-weights", str(shared_dir / "lpips" / "alex.safetensors"), "--json",
            "--per-image", "--no-progress"]
    proc = falsr(capsys, *args)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert {"psnr", "ssim", "lpips"} <= set(result) and "LPIPS-alex" in result["protocol"]
    per_image = [row["lpips"] for row in result["per_image"]]
    assert 0.0 < min(per_image) and max(per_image) < 1.0
    assert result["lpips"] == pytest.approx(sum(per_image) / len(per_image))
    wrong = falsr(capsys, *args[:-3], "--lpips-net", "vgg", "--no-progress")
    assert_one_line_error(wrong, "LPIPS-vgg")


def test_dlsr_runs_whole_and_says_when_tiles_change_the_result(shared_dir: Path) -> None:
    """ESA pools over the whole input, so DLSR tiles differ from the untiled result
    (measured: python/dlsr_tiling_cost.py); images run whole within the memory budget,
    and a tiled run says that it changes the result."""
    import warnings

    from falsr_ext.data.image_io import ImageNote
    from falsr_ext.upscaling.tiling import default_tile

    model = falsr_ext.load_model(shared_dir / DLSR_TINY)
    assert model.card.tiling == "approximate"
    assert default_tile(model, 700, 700) == 700
    big = default_tile(model, 4000, 3000)
    assert 64 <= big < 3000 and big % 16 == 0
    img = np.random.default_rng(1).integers(1, 256, (40, 36, 3), dtype=np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # untiled: no note
        whole = upscale(img, model)
    with pytest.warns(ImageNote, match="tiles of 16 px change the result slightly"):
        tiled = upscale(img, model, tile=16)
    assert tiled.shape == whole.shape == (80, 72, 3)


@pytest.mark.parametrize("spec", ["dlsr:para", "tpsr:tpsr-nogan", "FALSR-C"])
def test_genotype_verb_prints_and_round_trips_every_space(capsys: pytest.CaptureFixture[str],
                                                          spec: str) -> None:
    text = falsr(capsys, "genotype", spec)
    assert text.returncode == 0, text.stderr
    as_json = falsr(capsys, "genotype", spec, "--json").stdout
    again = falsr(capsys, "genotype", as_json)  # the JSON names its space
    assert again.returncode == 0 and again.stdout == text.stdout


def test_export_of_an_rgb_255_network_checks_on_its_range(capsys: pytest.CaptureFixture[str],
                                                         tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    torch.manual_seed(0)
    weights = save_weights(create_model("tpsr:tpsr-d2").eval(), tmp_path / "t.safetensors")
    proc = falsr(capsys, "export", "--model", str(weights), "--onnx", str(tmp_path / "t.onnx"))
    assert proc.returncode == 0, proc.stderr
    assert "of the range of white" in proc.stdout
