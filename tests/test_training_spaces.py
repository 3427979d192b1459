"""Training networks of other spaces (DLSR, TPSR): RGB on the card's range, x3/x4, the
min-size and colour checks, weights that evaluate with the card's protocol, kill -9 and
resume, and 2-process DDP."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from falsr_ext.training import TrainConfig, TrainConfigError, train, train_run
from falsr_ext.training.data import load_training_images
from tests.cli_helpers import assert_one_line_error, run_in_process
from tests.training_helpers import TINY_GENOTYPE, make_hr_folder, read_weights, state_max_diff

# Tiny networks (DLSR width 8, TPSR 4 features / 2 nodes) that train in milliseconds.
DLSR = "dlsr:nf8-conv_3x3+sep_conv_3x3+conv_3x3-c3=1+2,c4=2+3,c5=2+4,c6=4+5"
TPSR = "tpsr:f4/conv3@s,sep3@0/sum=1+0"


@pytest.fixture(autouse=True)
def _setup(tmp_path, monkeypatch):
    """A private LR cache, and torch on one thread: on a shared 2-core machine two
    threads run these tiny convolutions many times slower."""
    monkeypatch.setenv("FALSR_CACHE_DIR", str(tmp_path / "cache"))
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "FALSR_CACHE_DIR": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}


def _losses(run: Path) -> list[float]:
    events = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [e["loss"] for e in events if "loss" in e]


def test_config_records_the_space_and_its_colour(tmp_path):
    tpsr = TrainConfig(genotype="tpsr:tpsr-d2", data=["x"], scale=4)
    assert tpsr.genotype.startswith("tpsr:f16/sep5@s,") and tpsr.space == "tpsr"
    assert tpsr.in_channels == 3  # RGB implied
    dlsr = TrainConfig(genotype="dlsr:full", data=["x"])
    assert dlsr.genotype.startswith("dlsr:nf48-") and dlsr.arch == dlsr.genotype[5:]
    tpsr.save(tmp_path / "c.json")
    assert TrainConfig.load(tmp_path / "c.json") == tpsr
    falsr = TrainConfig(genotype=TINY_GENOTYPE, data=["x"])
    assert (falsr.genotype, falsr.space, falsr.in_channels) == (TINY_GENOTYPE, "falsr", 1)
    assert TrainConfig(genotype="falsr:" + TINY_GENOTYPE, data=["x"]).genotype == TINY_GENOTYPE
    with pytest.raises(TrainConfigError, match="RGB only"):
        TrainConfig(genotype=DLSR, data=["x"], in_channels=1)
    with pytest.raises(TrainConfigError, match="genotype: .*tpsr") as info:
        TrainConfig(genotype="tpsr:f4/conv3@s", data=["x"])
    assert "\n" not in str(info.value)


def test_an_old_falsr_config_file_loads_unchanged(tmp_path):
    """A config.json written before other spaces existed (in_channels written out)."""
    old = {"genotype": TINY_GENOTYPE, "data": ["d"], "scale": 2, "steps": 9, "batch": 4,
           "patch": 8, "lr": 0.002, "lr_min": 1e-05, "schedule": "cosine",
           "milestones": [0.5, 0.75, 0.9], "warmup": 0, "in_channels": 1, "val": None,
           "val_every": 1000, "checkpoint_every": 3, "log_every": 2, "seed": 3,
           "dtype": "float32"}
    (tmp_path / "config.json").write_text(json.dumps(old, indent=2) + "\n")
    assert TrainConfig.load(tmp_path / "config.json").to_dict() == old


def test_rgb_patches_are_on_the_cards_range(tmp_path):
    folder = [str(make_hr_folder(tmp_path / "hr", count=2, size=(48, 48)))]
    unit = load_training_images(folder, 3, 15, in_channels=3)
    byte = load_training_images(folder, 3, 15, in_channels=3, value_range=255.0)
    for a, b in zip(unit, byte, strict=True):
        assert np.array_equal(b.hr, np.round(b.hr)) and b.hr.max() > 200  # uint8 values
        assert np.array_equal(b.lr, np.round(a.lr * 255))
        assert b.lr.shape[1:] == (16, 16) and b.hr.shape[1:] == (48, 48)


def test_a_patch_below_the_dlsr_minimum_is_refused_in_one_line(tmp_path, capsys):
    data = make_hr_folder(tmp_path / "hr", count=1, size=(48, 48))
    proc = run_in_process(capsys, "train", "--genotype", DLSR, "--data", str(data), "--out",
                          str(tmp_path / "run"), "--patch", "14", "--steps", "2")
    assert_one_line_error(proc, "patch 14", "min_size", "15")
    assert not (tmp_path / "run").exists()


def test_rgb_contradicting_a_luma_run_is_refused(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    TrainConfig(genotype=TINY_GENOTYPE, data=["d"], steps=4).save(run / "config.json")
    proc = run_in_process(capsys, "train", "--out", str(run), "--resume", "--rgb")
    assert_one_line_error(proc, "--rgb", "luma")


def test_dlsr_trains_x3_and_its_weights_evaluate_with_the_y_float_protocol(tmp_path):
    data = make_hr_folder(tmp_path / "hr", count=6, size=(64, 64))
    val = make_hr_folder(tmp_path / "val" / "HR", count=2, size=(48, 48), seed=7).parent
    run = tmp_path / "run"
    result = train(DLSR, str(data), run, scale=3, steps=8, batch=4, patch=15, lr=2e-3,
                   log_every=2, val=str(val), val_every=8, progress=False)
    losses = _losses(run)
    assert all(math.isfinite(x) for x in losses) and losses[-1] < losses[0]
    assert result.val_psnr is not None and math.isfinite(result.val_psnr)
    from falsr_ext.evaluation import evaluate
    from falsr_ext.models.loading import load_model

    model = load_model(run / "model.safetensors")
    assert (model.space, model.scale, model.card.protocol) == ("dlsr", 3, "y-float")
    assert f"dlsr:{model.arch.to_string()}" == DLSR
    assert state_max_diff(model.state_dict(), result.model.state_dict()) == 0.0
    assert evaluate(model, val).psnr == result.val_psnr


def test_tpsr_trains_x4_by_default_through_the_cli(tmp_path, capsys):
    data = make_hr_folder(tmp_path / "hr", count=6, size=(64, 64))
    val = make_hr_folder(tmp_path / "val" / "HR", count=2, size=(48, 48), seed=7).parent
    run = tmp_path / "run"
    proc = run_in_process(capsys, "train", "--genotype", TPSR, "--data", str(data), "--out",
                          str(run), "--steps", "6", "--batch", "4", "--patch", "8", "--lr",
                          "1e-2", "--log-every", "2", "--threads", "1", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    config = TrainConfig.load(run / "config.json")
    assert (config.genotype, config.scale, config.in_channels) == (TPSR, 4, 3)
    assert all(math.isfinite(x) for x in _losses(run))
    proc = run_in_process(capsys, "eval", "--model", str(run / "model.safetensors"),
                          "--data", str(val), "--json")
    assert proc.returncode == 0, proc.stderr
    scored = json.loads(proc.stdout)
    assert scored["scale"] == 4 and "float studio Y" in scored["protocol"]
    assert math.isfinite(scored["psnr"])


# Trains a config to its end, but at step STOP writes MARKER and waits to be killed.
_KILLABLE = """
import sys, time
from pathlib import Path
from falsr_ext.training import TrainConfig, train_run
config, out, marker, stop = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
def on_step(done):
    if done == stop:
        marker.write_text("ready")
        time.sleep(600)
train_run(TrainConfig.load(config), out, progress=False, threads=1, on_step=on_step)
"""


def test_dlsr_kill_9_then_resume_reaches_the_uninterrupted_weights_bit_for_bit(tmp_path):
    data = make_hr_folder(tmp_path / "hr", count=6, size=(64, 64))
    config = TrainConfig(genotype=DLSR, data=[str(data)], scale=2, steps=16, batch=4,
                         patch=15, lr=2e-3, seed=5, log_every=2, checkpoint_every=5)
    config.save(tmp_path / "config.json")
    run, marker = tmp_path / "run", tmp_path / "ready"
    proc = subprocess.Popen([sys.executable, "-c", _KILLABLE, str(tmp_path / "config.json"),
                             str(run), str(marker), "12"], env=_env(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not marker.exists() and proc.poll() is None:
        assert time.monotonic() < deadline, "training made no progress"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, f"the run ended before the kill: {err}"
    assert torch.load(run / "checkpoint.pt", weights_only=True)["step"] == 10
    assert not (run / "model.safetensors").exists()

    resumed = subprocess.run([sys.executable, "-m", "falsr_ext.cli", "train", "--out", str(run),
                              "--resume", "--threads", "1", "--no-progress"],
                             env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    full = train_run(config, tmp_path / "full", progress=False, threads=1)
    weights = read_weights(run / "model.safetensors")
    assert all(torch.equal(weights[k], v) for k, v in full.model.state_dict().items())
    assert weights.keys() == full.model.state_dict().keys()
    events = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [e["step"] for e in events if "loss" in e] == list(range(2, 17, 2))


def test_two_process_ddp_matches_single_process_for_dlsr(tmp_path):
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("this torch has no gloo backend")
    data = make_hr_folder(tmp_path / "hr", count=6, size=(64, 64))
    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", "-m", "falsr_ext.cli", "train", "--genotype", DLSR, "--data", str(data),
           "--out", str(run), "--steps", "6", "--batch", "4", "--patch", "15", "--lr", "5e-3",
           "--threads", "1", "--no-progress"]
    proc = subprocess.run(cmd, env=_env(tmp_path), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    config = TrainConfig.load(run / "config.json")
    single = train_run(config, tmp_path / "single", progress=False, threads=1)
    from falsr_ext.training.trainer import build_network

    ddp = read_weights(run / "model.safetensors")
    diff = state_max_diff(ddp, single.model.state_dict())
    moved = state_max_diff(ddp, build_network(config).state_dict())
    assert diff <= 1e-5, f"2-process weights differ from 1-process ones by {diff}"
    assert moved > 1e-3  # and training did change them: the comparison means something
