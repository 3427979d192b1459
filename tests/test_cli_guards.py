"""The command line refuses bad arguments in the parser, never destroys its inputs, writes
outputs atomically and keeps two upscales out of one folder (issue 13, items 3-6)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import assert_one_line_error
from cli_helpers import run_in_process as falsr
from PIL import Image

from falsr_ext.data.image_io import read_image, write_image
from falsr_ext.files import FolderLock
from falsr_ext.models import build_model, save_weights
from falsr_ext.space import Genotype


def assert_usage_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    """argparse's refusal: status 2, usage and one error line naming the argument."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("falsr ") and "error: argument" in last, proc.stderr
    for needle in needles:
        assert needle in last, last


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    net = build_model(Genotype.from_string("conv-k3-f16-b1-skip@F/fuse@c0"))
    return save_weights(net, tmp_path_factory.mktemp("w") / "tiny.safetensors")


@pytest.fixture
def image(tmp_path: Path) -> Path:
    path = tmp_path / "in.png"
    write_image(path, np.random.default_rng(0).integers(1, 256, (12, 10, 3), dtype=np.uint8))
    return path


@pytest.mark.parametrize(("args", "needles"), [
    (["--tile", "0"], None),
    (["--tile", "3"], ("--tile", "at least 16")),
    (["--tile", "-1"], ("--tile", "at least 16")),
    (["--tile", "x"], ("--tile", "integer")),
    (["--threads", "-1"], ("--threads", "at least 1")),
    (["--threads", "0"], ("--threads", "at least 1")),
    (["--device", "tpu"], ("--device", "cpu, cuda or cuda:N")),
    (["--scale", "0"], ("--scale", "at least 1")),
    (["--max-pixels", "-5"], ("--max-pixels",)),
    (["--frame", "-1"], ("--frame",)),
])
def test_upscale_arguments_are_checked_by_the_parser(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, model: Path, image: Path,
        args: list[str], needles: tuple[str, ...] | None) -> None:
    proc = falsr(capsys, "upscale", str(image), "-o", str(tmp_path / "out.png"),
                 "--model", str(model), "--no-progress", *args)
    if needles is None:
        assert proc.returncode == 0, proc.stderr
    else:
        assert_usage_error(proc, *needles)
        assert not (tmp_path / "out.png").exists()


@pytest.mark.parametrize("args", [["--threads", "0"], ["--scale", "-2"]])
def test_eval_arguments_are_checked_by_the_parser(capsys: pytest.CaptureFixture[str],
                                                  tmp_path: Path, model: Path,
                                                  args: list[str]) -> None:
    proc = falsr(capsys, "eval", "--model", str(model), "--data", str(tmp_path), *args)
    assert_usage_error(proc, args[0])


def test_count_size_must_be_positive(capsys: pytest.CaptureFixture[str]) -> None:
    assert_usage_error(falsr(capsys, "count", "FALSR-B", "--size", "0x480"), "--size")


def test_out_naming_an_existing_file_is_one_line(capsys: pytest.CaptureFixture[str],
                                                 tmp_path: Path, model: Path,
                                                 image: Path) -> None:
    taken = tmp_path / "taken"
    taken.write_text("not a folder")
    proc = falsr(capsys, "upscale", str(image), str(image), "-o", str(taken),
                 "--model", str(model))
    assert_one_line_error(proc, "is a file", "-o names the output folder")
    assert taken.read_text() == "not a folder"
    proc = falsr(capsys, "upscale", str(image), "-o", f"{taken}/", "--model", str(model))
    assert_one_line_error(proc)


def test_upscale_folder_scans_skip_hidden_and_unfinished_files(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, model: Path, image: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    write_image(folder / "a.png", read_image(image))
    (folder / ".a.png.x1y2.part.png").write_bytes(b"\x89PNG half")  # a killed writer's temp
    if hasattr(os, "mkfifo"):
        os.mkfifo(folder / "pipe.png")
    proc = falsr(capsys, "upscale", str(folder), "-o", str(tmp_path / "out"), "--model",
                 str(model), "--no-progress")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.png"]


def test_a_second_upscale_into_a_folder_in_use_is_refused(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, model: Path, image: Path) -> None:
    out = tmp_path / "out"
    with FolderLock(out, "falsr upscale"):  # another upscale writing there
        proc = falsr(capsys, "upscale", str(image.parent), "-o", str(out),
                     "--model", str(model))
        assert_one_line_error(proc, "in use by falsr upscale", f"pid {os.getpid()}")
        single = falsr(capsys, "upscale", str(image), "-o", str(out / "one.png"),
                       "--model", str(model))
        assert single.returncode == 0, single.stderr  # one file: locked on its own
        with FolderLock(out, "falsr upscale", name=".one.png.falsr.lock"):
            again = falsr(capsys, "upscale", str(image), "-o", str(out / "one.png"),
                          "--model", str(model))
            assert_one_line_error(again, "in use")
    assert falsr(capsys, "upscale", str(image), "-o", str(out), "--model",
                 str(model)).returncode == 0
    assert not list(out.glob(".*lock"))  # released and removed


def test_upscale_notes_that_it_used_the_first_frame(capsys: pytest.CaptureFixture[str],
                                                    tmp_path: Path, model: Path) -> None:
    frames = [Image.fromarray(np.full((6, 6, 3), 40 * (i + 1), np.uint8)) for i in range(2)]
    anim = tmp_path / "anim.gif"
    frames[0].save(anim, save_all=True, append_images=frames[1:])
    proc = falsr(capsys, "upscale", str(anim), "-o", str(tmp_path / "a.png"),
                 "--model", str(model))
    assert proc.returncode == 0
    assert proc.stderr.strip() == (f"falsr: note: {anim}: has 2 frames; used the first "
                                   f"(choose another with --frame N)")
    proc = falsr(capsys, "upscale", str(anim), "-o", str(tmp_path / "b.png"),
                 "--model", str(model), "--frame", "1")
    assert proc.returncode == 0 and proc.stderr == ""
    proc = falsr(capsys, "upscale", str(anim), "-o", str(tmp_path / "c.png"),
                 "--model", str(model), "--frame", "2")
    assert_one_line_error(proc, "has 2 frame")


def test_upscale_max_pixels(capsys: pytest.CaptureFixture[str], tmp_path: Path, model: Path,
                            image: Path) -> None:
    proc = falsr(capsys, "upscale", str(image), "-o", str(tmp_path / "o.png"), "--model",
                 str(model), "--max-pixels", "100")
    assert_one_line_error(proc, "10x12 = 120 px is over the limit of 100 px", "--max-pixels")
    assert falsr(capsys, "upscale", str(image), "-o", str(tmp_path / "o.png"), "--model",
                 str(model), "--max-pixels", "0").returncode == 0


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_upscale_of_a_fifo_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                       model: Path) -> None:
    os.mkfifo(tmp_path / "x.png")
    proc = falsr(capsys, "upscale", str(tmp_path / "x.png"), "-o", str(tmp_path / "y.png"),
                 "--model", str(model))
    assert_one_line_error(proc, "FIFO")


# --- convert and export: never overwrite the input, nor an existing file without --force


def test_export_refuses_to_overwrite_its_input(capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path, model: Path) -> None:
    copy = tmp_path / "w.safetensors"
    copy.write_bytes(model.read_bytes())
    proc = falsr(capsys, "export", "--model", str(copy), "--onnx", str(copy))
    assert_one_line_error(proc, "is the input; refusing to overwrite it")
    assert copy.read_bytes() == model.read_bytes()
    link = tmp_path / "link.onnx"
    link.symlink_to(copy)
    assert_one_line_error(falsr(capsys, "export", "--model", str(copy), "--onnx", str(link)),
                          "is the input")


def test_export_needs_force_to_overwrite(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                         model: Path) -> None:
    pytest.importorskip("onnxscript")
    out = tmp_path / "m.onnx"
    out.write_text("mine")
    proc = falsr(capsys, "export", "--model", str(model), "--onnx", str(out), "--no-check")
    assert_one_line_error(proc, "already exists; pass --force")
    assert out.read_text() == "mine"
    proc = falsr(capsys, "export", "--model", str(model), "--onnx", str(out), "--no-check",
                 "--force")
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 1000
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]  # no temporary left


def test_convert_refuses_to_overwrite_its_input(capsys: pytest.CaptureFixture[str],
                                                tmp_path: Path) -> None:
    pb = tmp_path / "X.pb"
    pb.write_bytes(b"\x0a\x03abc")
    before = pb.read_bytes()
    assert_one_line_error(falsr(capsys, "convert", str(pb), "-o", str(pb)), "is the input")
    assert_one_line_error(falsr(capsys, "convert", str(pb), "-o", str(tmp_path / ".." /
                                                                     tmp_path.name / "X.pb")),
                          "is the input")
    assert pb.read_bytes() == before
    existing = tmp_path / "X.safetensors"
    existing.write_text("mine")
    assert_one_line_error(falsr(capsys, "convert", str(pb)), "already exists; pass --force")
    assert existing.read_text() == "mine"
