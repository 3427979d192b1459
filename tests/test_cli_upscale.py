"""`falsr upscale`: files, folders, bit depth and alpha kept, one-line errors."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import assert_one_line_error, run_falsr
from PIL import Image

from falsr_ext.cli import main
from falsr_ext.data.image_io import read_image, write_image
from falsr_ext.models import build_model, save_weights
from falsr_ext.space import Genotype
from falsr_ext.upscaling import upscale

Cli = Callable[..., subprocess.CompletedProcess[str]]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``falsr upscale ...`` exactly as a shell runs it (a fresh interpreter)."""
    return run_falsr("upscale", *args)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """``falsr upscale ...`` in this process (fast; same main() and error handling)."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        capsys.readouterr()
        code = main(["upscale", *args])
        captured = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, captured.out, captured.err)

    return run


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    net = build_model(
        Genotype.from_string("conv-k3-f16-b2-skip@F/ib-k1-f16-b1-noskip@c0/fuse@F+c1"))
    with torch.no_grad():
        net.tail.weight.mul_(0.1)
        net.tail.bias.fill_(0.5)
    return save_weights(net, tmp_path_factory.mktemp("w") / "tiny.safetensors")


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(0)
    folder = tmp_path_factory.mktemp("in")
    write_image(folder / "rgb.png", rng.integers(0, 256, (9, 11, 3), dtype=np.uint8))
    write_image(folder / "grey.png", rng.integers(0, 256, (8, 7), dtype=np.uint8))
    write_image(folder / "rgba.png", rng.integers(0, 256, (6, 5, 4), dtype=np.uint8))
    write_image(folder / "deep.png", rng.integers(0, 65536, (7, 6, 3), dtype=np.uint16))
    Image.fromarray(rng.integers(0, 256, (5, 8, 3), dtype=np.uint8)).save(folder / "photo.jpg")
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_one_file_to_a_file(tmp_path: Path, model: Path, images: Path) -> None:
    out = tmp_path / "sr.png"
    proc = run_cli(str(images / "rgb.png"), "-o", str(out), "--model", str(model),
                   "--tile", "16", "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    lr = read_image(images / "rgb.png")
    sr = read_image(out)
    assert sr.shape == (18, 22, 3)
    assert np.array_equal(sr, upscale(lr, str(model)))


def test_one_file_into_a_folder(tmp_path: Path, cli: Cli, model: Path, images: Path) -> None:
    proc = cli(str(images / "photo.jpg"), "-o", f"{tmp_path}/new/", "--model", str(model))
    assert proc.returncode == 0, proc.stderr
    assert read_image(tmp_path / "new" / "photo.png").shape == (10, 16, 3)


def test_a_folder_keeps_names_depth_and_alpha(tmp_path: Path, cli: Cli, model: Path,
                                              images: Path) -> None:
    out = tmp_path / "out"
    proc = cli(str(images), "-o", str(out), "--model", str(model), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "deep.png", "grey.png", "photo.png", "rgb.png", "rgba.png"]
    deep = read_image(out / "deep.png")
    assert deep.dtype == np.uint16 and deep.shape == (14, 12, 3)
    rgba = read_image(out / "rgba.png")
    assert rgba.dtype == np.uint8 and rgba.shape == (12, 10, 4)
    assert read_image(out / "grey.png").shape == (16, 14, 1)


def test_bf16_runs(tmp_path: Path, cli: Cli, model: Path, images: Path) -> None:
    out = tmp_path / "b.png"
    proc = cli(str(images / "grey.png"), "-o", str(out), "--model", str(model),
                   "--dtype", "bf16")
    assert proc.returncode == 0, proc.stderr
    ref = upscale(read_image(images / "grey.png"), str(model), dtype="float32").astype(int)
    assert np.abs(read_image(out).astype(int) - ref).max() <= 5


def test_corrupt_input_is_one_line(tmp_path: Path, model: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    proc = run_cli(str(bad), "-o", str(tmp_path / "o.png"), "--model", str(model))
    assert_one_line_error(proc, str(bad))


def test_missing_input_and_empty_folder(tmp_path: Path, cli: Cli, model: Path) -> None:
    assert_one_line_error(cli(str(tmp_path / "nope.png"), "-o", str(tmp_path / "o"),
                                  "--model", str(model)), "nope.png", "no such file")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(cli(str(tmp_path / "empty"), "-o", str(tmp_path / "o"),
                                  "--model", str(model)), "no images")


def test_never_overwrites_an_input(tmp_path: Path, cli: Cli, model: Path, images: Path) -> None:
    src = tmp_path / "a.png"
    src.write_bytes((images / "rgb.png").read_bytes())
    before = src.read_bytes()
    assert_one_line_error(cli(str(src), "-o", str(src), "--model", str(model)),
                          "refusing to overwrite")
    assert_one_line_error(cli(str(tmp_path), "-o", str(tmp_path), "--model", str(model)),
                          "refusing to overwrite")
    assert src.read_bytes() == before


def test_no_model_and_bad_scale(tmp_path: Path, cli: Cli, model: Path, images: Path,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    import falsr_ext.models.default as default

    src = str(images / "rgb.png")
    monkeypatch.setattr(default, "DEFAULT_WEIGHTS", tmp_path / "missing.safetensors")
    default.shared_default_model.cache_clear()
    assert_one_line_error(cli(src, "-o", str(tmp_path / "o.png")),
                          "no bundled default model")
    monkeypatch.undo()
    default.shared_default_model.cache_clear()
    assert_one_line_error(cli(src, "-o", str(tmp_path / "o.png"), "--model", str(model),
                                  "--scale", "3"), "x2, not x3")
