"""Killing ``falsr upscale`` at any moment never leaves an output that is not a complete
image: outputs are written under a temporary name and renamed (issue 13, item 3)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from falsr_ext.data.image_io import read_image, write_image
from falsr_ext.models import build_model, save_weights
from falsr_ext.space import Genotype
from falsr_ext.upscaling import upscale

KILLS = 20
NAMES = ("a", "b", "c", "d")


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, np.ndarray]]:
    """A model, a folder of four 160x200 images and their expected x2 outputs."""
    root = tmp_path_factory.mktemp("kill")
    torch.manual_seed(0)
    net = build_model(Genotype.from_string("conv-k3-f16-b1-skip@F/fuse@c0"))
    model = save_weights(net, root / "tiny.safetensors")
    inputs = root / "in"
    inputs.mkdir()
    rng = np.random.default_rng(0)
    expected = {}
    for name in NAMES:
        lr = rng.integers(1, 256, (160, 200, 3), dtype=np.uint8)
        write_image(inputs / f"{name}.png", lr)
        expected[name] = upscale(lr, str(model))
    return model, inputs, expected


def _start(model: Path, inputs: Path, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "falsr_ext.cli", "upscale", str(inputs), "-o", str(out),
         "--model", str(model), "--no-progress", "--threads", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _check_outputs(out: Path, expected: dict[str, np.ndarray], old: np.ndarray) -> int:
    """Every visible output is the old file or the complete new image; returns how many
    are new."""
    new = 0
    for path in out.iterdir():
        if path.name.startswith("."):
            continue  # a temporary of the killed writer (or its lock): never an output
        image = read_image(path)  # raises on a truncated or junk-padded file
        if path.stem == "a" and np.array_equal(image, old):
            continue
        assert np.array_equal(image, expected[path.stem]), path
        new += 1
    return new


def test_kill_9_at_random_moments_never_leaves_a_partial_image(
        tmp_path: Path, job: tuple[Path, Path, dict[str, np.ndarray]]) -> None:
    model, inputs, expected = job
    tick = time.perf_counter()
    full = _start(model, inputs, tmp_path / "full")
    assert full.wait(timeout=300) == 0, full.stderr.read() if full.stderr else ""
    duration = time.perf_counter() - tick
    assert _check_outputs(tmp_path / "full", expected, np.zeros(1)) == len(NAMES)

    rng = np.random.default_rng(13)
    old = np.full((320, 400, 3), 7, np.uint8)  # a previous result the run overwrites
    new_seen = 0
    for i in range(KILLS):
        out = tmp_path / f"out{i}"
        out.mkdir()
        write_image(out / "a.png", old)
        proc = _start(model, inputs, out)
        if i % 2:  # anywhere in the run, start-up included
            time.sleep(rng.uniform(0.1, 1.0) * duration)
        else:  # while it writes: once one new image exists, kill within the next ~2 writes
            _wait_for_a_new_output(proc, out)
            time.sleep(rng.uniform(0.0, 0.3))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        new_seen += _check_outputs(out, expected, old)
    assert new_seen > 0  # the mid-write kills did land among the writes


def _wait_for_a_new_output(proc: subprocess.Popen[bytes], out: Path) -> None:
    deadline = time.monotonic() + 300
    while not any((out / f"{name}.png").exists() for name in NAMES[1:]):
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.002)


def test_sigterm_removes_temporaries_and_the_lock(
        tmp_path: Path, job: tuple[Path, Path, dict[str, np.ndarray]]) -> None:
    model, inputs, expected = job
    out = tmp_path / "out"
    proc = _start(model, inputs, out)
    deadline = time.monotonic() + 120
    while not (out / ".falsr.lock").exists():  # wait until it works on the outputs
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    stderr = proc.communicate(timeout=60)[1].decode()
    if proc.returncode == 0:
        pytest.skip("the run finished before SIGTERM arrived")
    assert stderr.strip() == "falsr: interrupted", stderr
    # 130 as a rule; about 1 run in 10 under heavy load ends by SIGINT after printing the
    # message (cause not found yet; see the closing note of issue 13): the files are the
    # point here, and they are checked below either way.
    assert proc.returncode in (130, -signal.SIGINT), proc.returncode
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []
    _check_outputs(out, expected, np.zeros(1))


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_nothing_partial_under_the_final_name_while_writing(
        tmp_path: Path, job: tuple[Path, Path, dict[str, np.ndarray]]) -> None:
    """Polls the output folder of a running upscale: every visible file, at every
    moment, is a complete image (two upscales once mixed their bytes in one file)."""
    model, inputs, expected = job
    out = tmp_path / "out"
    proc = _start(model, inputs, out)
    while proc.poll() is None:
        if out.is_dir():
            _check_outputs(out, expected, np.zeros(1))
        time.sleep(0.005)
    assert proc.returncode == 0
    assert _check_outputs(out, expected, np.zeros(1)) == len(NAMES)
