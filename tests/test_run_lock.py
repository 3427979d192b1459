"""One process per run folder: a second ``falsr train`` / ``falsr search`` on a folder in
use fails with one line naming the owner's pid (the Python API too), and the lock of an
owner killed with ``kill -9`` is taken over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_helpers import assert_one_line_error

from falsr_ext.files import LOCK_NAME, FolderBusyError
from falsr_ext.training import TrainConfig, train_run
from tests.training_helpers import TINY_GENOTYPE, make_hr_folder


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "FALSR_CACHE_DIR": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}


def _falsr(args: list[str]) -> list[str]:
    return [sys.executable, "-m", "falsr_ext.cli", *args]


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_falsr(args), env=env, capture_output=True, text=True, timeout=300)


def _wait_for(check, proc: subprocess.Popen, what: str, timeout: float = 120) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not check():
        assert proc.poll() is None, f"the first run ended early: {proc.communicate()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)  # the process and any pool workers, as kill -9
    proc.wait(timeout=30)


def _train_args(data: Path, run: Path, steps: int, *extra: str) -> list[str]:
    return ["train", "--genotype", TINY_GENOTYPE, "--data", str(data), "--out", str(run),
            "--steps", str(steps), "--batch", "2", "--patch", "8", "--log-every", "1",
            "--checkpoint-every", "100000", "--threads", "1", "--no-progress", *extra]


def test_a_second_train_is_refused_and_a_killed_owners_lock_is_taken_over(
        tmp_path: Path, env: dict[str, str]) -> None:
    data = make_hr_folder(tmp_path / "hr", count=2)
    run = tmp_path / "run"
    first = subprocess.Popen(_falsr(_train_args(data, run, 100000)), env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             start_new_session=True)
    try:
        metrics = run / "metrics.jsonl"
        _wait_for(lambda: metrics.is_file() and metrics.stat().st_size > 0, first, "a step")
        for extra in ([], ["--resume"]):
            second = _run(_train_args(data, run, 100000, *extra), env)
            assert_one_line_error(second, "in use by falsr train", f"pid {first.pid}")
        assert first.poll() is None  # the first run goes on, its log intact
        lines = metrics.read_text().splitlines()[:-1]  # the last may be mid-write
        assert all(json.loads(line)["step"] for line in lines)
    finally:
        _kill(first)
    assert json.loads((run / LOCK_NAME).read_text())["pid"] == first.pid  # left behind
    resumed = _run(["train", "--out", str(run), "--resume", "--steps", "3", "--threads", "1",
                    "--no-progress"], env)
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout.splitlines()[-1])["steps"] == 3
    assert not (run / LOCK_NAME).exists()


def _hold_lock(run: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """Another process holding ``run``'s lock (as a live ``falsr train`` would)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from falsr_ext.files import FolderLock; "
         "FolderLock(sys.argv[1], 'falsr train').acquire(); print('held', flush=True); "
         "time.sleep(120)", str(run)],
        env=env, stdout=subprocess.PIPE, text=True, start_new_session=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_the_python_api_is_guarded_too(tmp_path: Path, env: dict[str, str]) -> None:
    from falsr_ext.nas.search import SearchConfig, run_search

    data = make_hr_folder(tmp_path / "hr", count=2)
    run = tmp_path / "run"
    holder = _hold_lock(run, env)
    try:
        config = TrainConfig(genotype=TINY_GENOTYPE, data=[str(data)], steps=2, batch=2,
                             patch=8)
        with pytest.raises(FolderBusyError, match=f"pid {holder.pid}"):
            train_run(config, run, progress=False, threads=1)
        cfg = SearchConfig(data=[str(data)], val=str(data), out=str(run), population=2,
                           generations=1, train_steps=2, batch=2, patch=8)
        with pytest.raises(FolderBusyError, match=f"pid {holder.pid}"):
            run_search(cfg, report=lambda line: None)
        assert sorted(p.name for p in run.iterdir()) == [LOCK_NAME]  # nothing written
    finally:
        _kill(holder)


def test_a_ddp_run_on_a_busy_folder_fails_on_every_rank(tmp_path: Path,
                                                       env: dict[str, str]) -> None:
    import torch.distributed as dist

    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("this torch has no gloo backend")
    data = make_hr_folder(tmp_path / "hr", count=2)
    run = tmp_path / "run"
    holder = _hold_lock(run, env)
    try:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node", "2", "-m", "falsr_ext.cli",
               *_train_args(data, run, 4)]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    finally:
        _kill(holder)
    # it ended (no rank left waiting on the others), rank 0 saying who holds the folder;
    # the two ranks' lines may interleave, and torchrun may stop rank 1 before it prints
    assert proc.returncode != 0
    assert f"falsr: error: {run}: in use by falsr train (pid {holder.pid}" in proc.stderr
    assert not (run / "config.json").exists()


def _search_args(data: Path, val: Path, out: Path, generations: int) -> list[str]:
    return ["search", "--data", str(data), "--val", str(val), "--out", str(out),
            "--population", "4", "--generations", str(generations), "--train-steps", "20",
            "--batch", "2", "--patch", "8", "--max-macs", "30G", "--max-params", "150K"]


def test_a_second_search_is_refused_and_a_killed_owners_lock_is_taken_over(
        tmp_path: Path, env: dict[str, str]) -> None:
    data = make_hr_folder(tmp_path / "hr", count=2)
    val = make_hr_folder(tmp_path / "val" / "HR", count=2, seed=1).parent
    out = tmp_path / "run"
    first = subprocess.Popen(_falsr(_search_args(data, val, out, 50)), env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             start_new_session=True)
    try:
        _wait_for(lambda: (out / "search.json").is_file(), first, "the search to start")
        second = _run([*_search_args(data, val, out, 50), "--resume"], env)
        assert_one_line_error(second, "in use by falsr search", f"pid {first.pid}")
        assert first.poll() is None
    finally:
        _kill(first)
    assert (out / LOCK_NAME).is_file()  # left behind by the killed search
    resumed = _run([*_search_args(data, val, out, 1), "--resume"], env)
    assert resumed.returncode == 0, resumed.stderr
    assert "front:" in resumed.stdout and (out / "pareto.json").is_file()
    assert not (out / LOCK_NAME).exists()
