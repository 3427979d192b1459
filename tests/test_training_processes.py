"""Training as real processes: kill -9 and resume, and 2-process DistributedDataParallel."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from falsr_ext.training import TrainConfig, train_run
from tests.training_helpers import TINY_GENOTYPE, make_hr_folder, read_weights, state_max_diff

ARGS = ["--genotype", TINY_GENOTYPE, "--scale", "2", "--batch", "8", "--patch", "24",
        "--lr", "2e-3", "--seed", "5", "--log-every", "5", "--checkpoint-every", "5",
        "--threads", "1", "--no-progress"]


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "FALSR_CACHE_DIR": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}


def _logged_step(metrics: Path) -> int:
    try:
        lines = metrics.read_text().splitlines()
    except FileNotFoundError:
        return 0
    steps = [json.loads(line)["step"] for line in lines if line.endswith("}")]
    return max(steps, default=0)


def test_kill_9_then_resume_reaches_the_uninterrupted_weights(tmp_path):
    data = make_hr_folder(tmp_path / "hr", count=3, size=(64, 56))
    run = tmp_path / "run"
    steps = 300
    cmd = [sys.executable, "-m", "falsr_ext.cli", "train", "--data", str(data), "--out",
           str(run), "--steps", str(steps), *ARGS]
    proc = subprocess.Popen(cmd, env=_env(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while _logged_step(run / "metrics.jsonl") < 20 and proc.poll() is None:
        assert time.monotonic() < deadline, "training made no progress"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, f"the run ended before the kill: {err}"
    assert not (run / "model.safetensors").exists()
    killed_at = _logged_step(run / "metrics.jsonl")
    assert killed_at < steps

    resumed = subprocess.run([sys.executable, "-m", "falsr_ext.cli", "train", "--out", str(run),
                              "--resume", "--threads", "1", "--no-progress"],
                             env=_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout.splitlines()[-1])["steps"] == steps

    config = TrainConfig.load(run / "config.json")
    os.environ["FALSR_CACHE_DIR"] = str(tmp_path / "cache")
    try:
        full = train_run(config, tmp_path / "full", progress=False, threads=1)
    finally:
        del os.environ["FALSR_CACHE_DIR"]
    diff = state_max_diff(read_weights(run / "model.safetensors"), full.model.state_dict())
    assert diff <= 1e-6, f"resumed weights differ from the uninterrupted run by {diff}"
    events = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    logged = [e["step"] for e in events if "loss" in e]
    assert logged == list(range(5, steps + 1, 5))  # nothing lost, nothing twice


def test_two_process_ddp_matches_single_process(tmp_path):
    pytest.importorskip("torch.distributed")
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("this torch has no gloo backend")
    data = make_hr_folder(tmp_path / "hr", count=3, size=(64, 56))
    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", "-m", "falsr_ext.cli", "train", "--data", str(data), "--out", str(run),
           "--steps", "8", *ARGS]
    proc = subprocess.run(cmd, env=_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    config = TrainConfig.load(run / "config.json")
    os.environ["FALSR_CACHE_DIR"] = str(tmp_path / "cache")
    try:
        single = train_run(config, tmp_path / "single", progress=False, threads=1)
    finally:
        del os.environ["FALSR_CACHE_DIR"]
    ddp = read_weights(run / "model.safetensors")
    diff = state_max_diff(ddp, single.model.state_dict())
    moved = state_max_diff(ddp, _initial_state(config))
    assert diff <= 1e-5, f"2-process weights differ from 1-process ones by {diff}"
    assert moved > 1e-3  # and training did change them: the comparison means something


def _initial_state(config: TrainConfig) -> dict:
    import torch

    from falsr_ext.models.falsr_net import build_model
    from falsr_ext.space import parse_genotype

    torch.manual_seed(config.seed)
    return build_model(parse_genotype(config.genotype), config.scale).state_dict()
