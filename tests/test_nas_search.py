"""End to end: a tiny real search, the never-train-over-budget rule, kill -9 and resume."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from cli_helpers import assert_one_line_error
from nas_helpers import (
    TINY_LIMITS,
    env_with_train_log,
    make_tiny_val,
    read_jsonl,
    run,
    search_args,
)

from falsr_ext.counter import count


@pytest.fixture(scope="module")
def tiny_val(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_val(shared_dir, tmp_path_factory.mktemp("nas_val"))


def _check_front(out: Path) -> list[dict]:
    rows = json.loads((out / "pareto.json").read_text())
    assert rows, "empty front"
    for row in rows:
        assert {"genotype", "psnr", "macs", "params"} <= row.keys()
        counted = count(row["genotype"])
        assert (row["macs"], row["params"]) == (counted.macs, counted.params)
        assert row["macs"] <= TINY_LIMITS["max_macs"]
        assert row["params"] <= TINY_LIMITS["max_params"]
        assert np.isfinite(row["psnr"])
    assert (out / "pareto.csv").read_text().startswith("psnr,macs,params")
    assert (out / "pareto.png").stat().st_size > 1000
    return rows


def _tiny_args(shared: Path, val: Path, out: Path) -> list[str]:
    return search_args(shared, val, out, 4, 3, 3, "--min-psnr", "5")


@pytest.fixture(scope="module")
def fresh_run(shared_dir: Path, tiny_val: Path,
              tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A tiny uninterrupted search (population 4, 3 generations): folder, log, stdout."""
    root = tmp_path_factory.mktemp("nas_fresh")
    out, log = root / "run", root / "train.log"
    proc = run(_tiny_args(shared_dir, tiny_val, out), env_with_train_log(log))
    assert proc.returncode == 0, proc.stderr
    return out, log, proc.stdout


def test_tiny_search_end_to_end(fresh_run: tuple[Path, Path, str]) -> None:
    out, log, stdout = fresh_run
    assert "gen 3/3" in stdout and "front" in stdout and "HV" in stdout
    rows = _check_front(out)
    assert all(r["psnr"] >= 5 for r in rows)
    evaluations = read_jsonl(out / "evaluations.jsonl")
    events = read_jsonl(log)
    started = [e["hash"] for e in events if e["event"] == "start"]
    assert sorted(started) == sorted(e["hash"] for e in evaluations)  # once each
    for e in evaluations:  # nothing over budget was trained
        assert e["macs"] <= TINY_LIMITS["max_macs"] and e["params"] <= TINY_LIMITS["max_params"]
    policy = json.loads((out / "policy.json").read_text())
    assert policy["format"].startswith("falsr-mutation-policy")
    assert len(json.loads((out / "history.json").read_text())) == 3


def test_unreadable_state_is_a_clear_error_and_keeps_the_evaluations(
        shared_dir: Path, tiny_val: Path, fresh_run: tuple[Path, Path, str],
        tmp_path: Path) -> None:
    import shutil

    out, log = tmp_path / "run", tmp_path / "train.log"
    shutil.copytree(fresh_run[0], out)
    (out / "state.npz").write_bytes(b"\x80\x04 not a pickle")
    before = (out / "evaluations.jsonl").read_bytes()
    proc = run([*_tiny_args(shared_dir, tiny_val, out), "--resume"], os.environ.copy())
    assert_one_line_error(proc, "cannot read the search state", "evaluations.jsonl",
                          "delete state.npz")
    assert (out / "evaluations.jsonl").read_bytes() == before
    # the advice works: the search replays from its evaluations, training nothing
    (out / "state.npz").unlink()
    proc = run([*_tiny_args(shared_dir, tiny_val, out), "--resume"], env_with_train_log(log))
    assert proc.returncode == 0, proc.stderr
    assert read_jsonl(log) == []
    assert (out / "evaluations.jsonl").read_bytes() == before
    assert (json.loads((out / "pareto.json").read_text())
            == json.loads((fresh_run[0] / "pareto.json").read_text()))
    assert (json.loads((out / "policy.json").read_text())
            == json.loads((fresh_run[0] / "policy.json").read_text()))


def test_a_malformed_evaluation_line_is_skipped_and_re_evaluated(
        shared_dir: Path, tiny_val: Path, fresh_run: tuple[Path, Path, str],
        tmp_path: Path) -> None:
    import shutil

    out, log = tmp_path / "run", tmp_path / "train.log"
    shutil.copytree(fresh_run[0], out)
    lines = (out / "evaluations.jsonl").read_text().splitlines()
    lost = json.loads(lines[1])["hash"]
    lines[1] = lines[1][:30]  # a middle record cut short
    (out / "evaluations.jsonl").write_text("\n".join(lines) + "\n")
    (out / "state.npz").unlink()  # replay the search: it proposes the lost genotype again
    proc = run([*_tiny_args(shared_dir, tiny_val, out), "--resume"], env_with_train_log(log))
    assert proc.returncode == 0, proc.stderr
    warning = [ln for ln in proc.stderr.splitlines() if "malformed" in ln]
    assert len(warning) == 1 and "line 2 (not JSON" in warning[0]
    assert "trained again" in warning[0]
    assert [e["hash"] for e in read_jsonl(log) if e["event"] == "done"] == [lost]
    same = {e["hash"]: e["psnr"] for e in read_jsonl(fresh_run[0] / "evaluations.jsonl")}
    again = {}
    for line in (out / "evaluations.jsonl").read_text().splitlines():
        if line.endswith("}"):
            record = json.loads(line)
            again[record["hash"]] = record["psnr"]
    assert again == same  # nothing lost: the same evaluations, the same front
    assert (json.loads((out / "pareto.json").read_text())
            == json.loads((fresh_run[0] / "pareto.json").read_text()))


def test_over_budget_genotypes_are_never_trained(shared_dir: Path, tiny_val: Path,
                                                 tmp_path: Path) -> None:
    from falsr_ext.nas.encoding import encode
    from falsr_ext.nas.evaluator import EvaluationLog
    from falsr_ext.nas.search import SearchConfig, evaluate_generation
    from falsr_ext.space import Genotype

    class InProcessRunner:  # runs the real evaluation here, remembering what it was given
        submitted: list[str] = []

        def run(self, fn, jobs):  # noqa: ANN001, ANN202
            for job in jobs:
                self.submitted.append(job[0])
                yield fn(*job)

    small = "conv-k1-f16-b1-noskip@F/" * 7 + "fuse@c6"
    big = "conv-k3-f64-b4-skip@F/" * 7 + "fuse@c6"
    mid = "ib-k1-f16-b1-skip@F/" * 7 + "fuse@c6"
    genotypes = [Genotype.from_string(s) for s in (small, big, mid)]
    macs = [count(g).macs for g in genotypes]
    assert macs[1] > 100e9 > max(macs[0], macs[2])
    cfg = SearchConfig(data=[str(shared_dir / "data" / "T91")], val=str(tiny_val),
                       out=str(tmp_path), population=3, generations=1, train_steps=2,
                       batch=2, patch=8, max_macs=100e9)
    log = EvaluationLog(tmp_path / "evaluations.jsonl")
    runner = InProcessRunner()
    X = np.stack([encode(g) for g in genotypes])
    rows, tally = evaluate_generation(X, cfg, log, runner, cfg.budget(), 1)
    assert runner.submitted == [genotypes[0].to_string(), genotypes[2].to_string()]
    assert tally == {"over_budget": 1, "cached": 0, "trained": 2}
    assert not rows[1]["trained"] and np.isnan(rows[1]["psnr"])
    assert rows[0]["trained"] and np.isfinite(rows[0]["psnr"])
    # a second look is served from the log: nothing is trained again
    runner.submitted.clear()
    rows2, tally2 = evaluate_generation(X, cfg, log, runner, cfg.budget(), 2)
    assert runner.submitted == [] and tally2["cached"] == 2
    assert rows2[0]["psnr"] == rows[0]["psnr"]


def test_kill_and_resume(shared_dir: Path, tiny_val: Path, tmp_path: Path,
                         fresh_run: tuple[Path, Path, str]) -> None:
    out, log = tmp_path / "run", tmp_path / "train.log"
    args = _tiny_args(shared_dir, tiny_val, out)
    env = env_with_train_log(log)
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    deadline = time.monotonic() + 180
    try:  # kill the search (and its pool) with SIGKILL inside the second generation
        while len(read_jsonl(out / "evaluations.jsonl")) < 5:
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "search too slow to reach generation 2"
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    finished = {e["hash"] for e in read_jsonl(out / "evaluations.jsonl")}
    assert not (out / "pareto.json").exists()
    assert (out / ".falsr.lock").is_file()  # the killed search's lock: stale, taken over

    resumed = run([*args, "--resume"], env)
    assert resumed.returncode == 0, resumed.stderr
    _check_front(out)
    evaluations = read_jsonl(out / "evaluations.jsonl")
    hashes = [e["hash"] for e in evaluations]
    assert len(hashes) == len(set(hashes)), "an evaluation was logged twice"
    assert finished <= set(hashes), "a finished evaluation was lost"
    done = Counter(e["hash"] for e in read_jsonl(log) if e["event"] == "done")
    assert set(done) == set(hashes)
    assert all(done[h] == 1 for h in finished), "a finished evaluation was trained again"
    history = json.loads((out / "history.json").read_text())
    assert [h["generation"] for h in history] == [1, 2, 3]
    assert not (out / ".falsr.lock").exists()

    # the interrupted run reaches the same evaluations as an uninterrupted one
    same = {e["hash"]: e["psnr"] for e in read_jsonl(fresh_run[0] / "evaluations.jsonl")}
    assert same == {e["hash"]: e["psnr"] for e in evaluations}


def test_search_x2_recipe_smoke(shared_dir: Path, tiny_val: Path, tmp_path: Path) -> None:
    recipe = Path(__file__).resolve().parents[1] / "python" / "search_x2.py"
    proc = run([sys.executable, str(recipe), "--out", str(tmp_path / "run"), "--val",
                str(tiny_val), "--data", str(shared_dir / "data" / "T91"), "--population", "4",
                "--generations", "1", "--train-steps", "2", "--batch", "2", "--patch", "8",
                "--max-macs", "30G", "--max-params", "150K", "--workers", "1"], os.environ.copy())
    assert proc.returncode == 0, proc.stderr
    assert "gen 1/1" in proc.stdout
    assert json.loads((tmp_path / "run" / "pareto.json").read_text())
    bad = run([sys.executable, str(recipe), "--out", str(tmp_path / "bad"), "--population",
               "1"], os.environ.copy())
    assert bad.returncode == 2 and "--population must be at least 2" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_a_failed_start_leaves_no_blocking_state(tmp_path: Path) -> None:
    """A search that fails before its first evaluation (here: a data folder without
    images) can be started again in the same folder, without --resume."""
    from training_helpers import make_hr_folder

    (tmp_path / "empty").mkdir()
    data = make_hr_folder(tmp_path / "hr", count=2)
    val = make_hr_folder(tmp_path / "val" / "HR", count=2, seed=1).parent
    out = tmp_path / "run"

    def args(folder: Path) -> list[str]:
        return [sys.executable, "-m", "falsr_ext.nas.cli", "search", "--data", str(folder),
                "--val", str(val), "--out", str(out), "--population", "2", "--generations",
                "1", "--train-steps", "2", "--batch", "2", "--patch", "8"]

    env = {**os.environ, "FALSR_CACHE_DIR": str(tmp_path / "cache"), "OMP_NUM_THREADS": "1"}
    failed = run(args(tmp_path / "empty"), env)
    assert_one_line_error(failed, "no images")
    assert not (out / "state.npz").exists() and not read_jsonl(out / "evaluations.jsonl")
    again = run(args(data), env)
    assert again.returncode == 0, again.stderr
    assert "gen 1/1" in again.stdout and (out / "pareto.json").is_file()
