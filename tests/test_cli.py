"""`falsr` command line: eval output and one-line errors (no traceback) for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import assert_one_line_error
from cli_helpers import run_falsr as run_cli
from PIL import Image

from falsr_ext.models import build_model, save_weights
from falsr_ext.models.zoo import ZOO_GENOTYPES


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    model = build_model(ZOO_GENOTYPES["FALSR-C"], shuffle_order="tf")
    return save_weights(model, tmp_path_factory.mktemp("w") / "c.safetensors")


def make_set(root: Path, sizes: list[tuple[int, int]], mode: str = "RGB",
             lr: bool = False) -> Path:
    rng = np.random.default_rng(1)
    (root / "HR").mkdir(parents=True)
    for k, (h, w) in enumerate(sizes):
        chans = 3 if mode == "RGB" else 1
        arr = rng.integers(1, 255, (h, w, chans), dtype=np.uint8).squeeze()
        Image.fromarray(arr, mode).save(root / "HR" / f"im{k}.png")
        if lr:
            (root / "LR_bicubic" / "X2").mkdir(parents=True, exist_ok=True)
            small = rng.integers(1, 255, (h // 2, w // 2, chans), dtype=np.uint8).squeeze()
            Image.fromarray(small, mode).save(root / "LR_bicubic" / "X2" / f"im{k}x2.png")
    return root


def test_eval_json_with_generated_lr(tmp_path: Path, tiny_model: Path) -> None:
    data = make_set(tmp_path / "set", [(24, 30), (21, 17)])  # odd sizes: modcrop
    proc = run_cli("eval", "--model", str(tiny_model), "--data", str(data), "--json",
                   "--per-image")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["images"] == 2 and out["scale"] == 2 and out["model"] == str(tiny_model)
    assert {"psnr", "ssim"} <= out.keys() and len(out["per_image"]) == 2
    assert 0 < out["psnr"] < 100 and -1 <= out["ssim"] <= 1


def test_eval_greyscale_images_are_evaluated_as_rgb(tmp_path: Path, tiny_model: Path) -> None:
    # The protocol reads greyscale images as 3 equal channels (Set14's `bridge`).
    data = make_set(tmp_path / "grey", [(20, 22)], mode="L", lr=True)
    proc = run_cli("eval", "--model", str(tiny_model), "--data", str(data), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["images"] == 1


def test_missing_folder(tmp_path: Path, tiny_model: Path) -> None:
    missing = tmp_path / "nope"
    proc = run_cli("eval", "--model", str(tiny_model), "--data", str(missing))
    assert_one_line_error(proc, str(missing), "no such data folder")


def test_lr_hr_sizes_disagree(tmp_path: Path, tiny_model: Path) -> None:
    data = make_set(tmp_path / "bad", [(20, 22)], lr=True)
    lr_file = data / "LR_bicubic" / "X2" / "im0x2.png"
    Image.fromarray(np.full((7, 11, 3), 9, np.uint8)).save(lr_file)
    proc = run_cli("eval", "--model", str(tiny_model), "--data", str(data))
    assert_one_line_error(proc, str(lr_file), "scale 2")


def test_corrupt_png(tmp_path: Path, tiny_model: Path) -> None:
    data = make_set(tmp_path / "corrupt", [(20, 22)])
    png = data / "HR" / "im0.png"
    png.write_bytes(png.read_bytes()[:60])
    proc = run_cli("eval", "--model", str(tiny_model), "--data", str(data))
    assert_one_line_error(proc, str(png))


def test_missing_model(tmp_path: Path) -> None:
    proc = run_cli("eval", "--model", str(tmp_path / "x.safetensors"), "--data", str(tmp_path))
    assert_one_line_error(proc, "x.safetensors")


def test_truncated_pb(tmp_path: Path, shared_dir: Path) -> None:
    pb = shared_dir / "falsr" / "pretrained" / "FALSR-B.pb"
    if not pb.is_file():
        pytest.skip(f"{pb} absent: the official weights are read from ../shared")
    cut = tmp_path / "FALSR-B.pb"
    cut.write_bytes(pb.read_bytes()[: pb.stat().st_size // 3])
    proc = run_cli("convert", str(cut), "-o", str(tmp_path / "b.safetensors"))
    assert_one_line_error(proc, str(cut))
    data = make_set(tmp_path / "set", [(20, 22)])
    proc = run_cli("eval", "--model", str(cut), "--data", str(data))
    assert_one_line_error(proc, str(cut))


def test_bad_genotype_string() -> None:
    proc = run_cli("genotype", "conv-k5-f16-b1-skip@F/fuse@c0")
    assert_one_line_error(proc, "cells[0].kernel")
    proc = run_cli("genotype", "FALSR-B", "--json")
    assert proc.returncode == 0 and json.loads(proc.stdout)["name"] == "FALSR-B"


def test_count_json_exact_for_the_zoo() -> None:
    proc = run_cli("count", "FALSR-A", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert (out["params"], out["macs"]) == (1_021_401, 235_000_627_200)
    assert "MACs" in out["convention"] and len(out["cells"]) == 10  # F, 7 cells, fusion, recon
    assert sum(c["macs"] for c in out["cells"]) == out["macs"]


def test_count_table_from_string_weights_and_size(tmp_path: Path, tiny_model: Path) -> None:
    proc = run_cli("count", "conv-k3-f16-b1-skip@F/fuse@F+c0", "--size", "64x48", "--scale", "3")
    assert proc.returncode == 0, proc.stderr
    assert "64x48 LR input, x3" in proc.stdout and "pre_shuffle" in proc.stdout
    proc = run_cli("count", str(tiny_model), "--json")  # FALSR-C weights: only metadata read
    assert proc.returncode == 0 and json.loads(proc.stdout)["macs"] == 97_955_020_800


def test_count_errors() -> None:
    assert_one_line_error(run_cli("count", "FALSR-A", "--size", "2x2"), "height must be >= 3")
    assert_one_line_error(run_cli("count", "conv-k5-f16-b1-skip@F/fuse@c0"), "cells[0].kernel")
    assert_one_line_error(run_cli("count", "nothing.pb"), "nothing.pb")
