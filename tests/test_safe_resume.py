"""Resuming never runs code from a run folder, and resuming does what was asked.

Planted pickles (whose unpickling would create a marker file) as ``checkpoint.pt``,
``state.pkl`` and ``state.npz`` are refused with one line, the marker never appears;
checkpoints keep their RNG states exactly; a resume with a new ``--steps`` continues the
run (and reports its last loss when no step is left).
"""

from __future__ import annotations

import json
import os
import pickle
import random
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_helpers import assert_one_line_error

from falsr_ext.training import TrainConfig, TrainConfigError, train_run
from falsr_ext.training.checkpoint import (
    CheckpointError,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from tests.training_helpers import TINY_GENOTYPE, make_hr_folder, state_max_diff

TINY = dict(scale=2, batch=4, patch=8, lr=2e-3, log_every=2, checkpoint_every=2, seed=3)


class Payload:
    """Unpickling it creates ``marker`` (it stands for any code an attacker chose)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # noqa: ANN204
        return (open, (str(self.marker), "w"))


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FALSR_CACHE_DIR", str(tmp_path / "cache"))


def _falsr(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "falsr_ext.cli", *args], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})


def _plant(path: Path, marker: Path, how: str) -> None:
    if how == "torch.save":  # a real torch zip file whose pickle names io.open
        torch.save({"step": 1, "model": Payload(marker)}, path)
    elif how == "pickle":  # a bare pickle (what pickle.dump writes)
        path.write_bytes(pickle.dumps(Payload(marker), protocol=2))
    else:  # an .npz whose array is an object array of payloads
        np.savez(path, meta=np.array([Payload(marker)], dtype=object))
    assert not marker.exists()


# ---------------------------------------------------------------------------- training
@pytest.mark.parametrize("how", ["torch.save", "pickle"])
def test_a_planted_checkpoint_is_refused_without_running_it(tmp_path: Path, how: str) -> None:
    data = make_hr_folder(tmp_path / "hr", count=2)
    run, marker = tmp_path / "run", tmp_path / "marker"
    run.mkdir()
    TrainConfig(genotype=TINY_GENOTYPE, data=[str(data)], steps=4, **TINY).save(
        run / "config.json")
    _plant(run / "checkpoint.pt", marker, how)
    proc = _falsr("train", "--out", str(run), "--resume", "--no-progress", "--threads", "1")
    assert_one_line_error(proc, "checkpoint.pt", "move it away")
    assert not marker.exists()
    with pytest.raises(CheckpointError):
        load_checkpoint(run)
    assert not marker.exists()


def test_checkpoint_rng_states_round_trip_exactly(tmp_path: Path) -> None:
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    random.gauss(0, 1)  # leaves a cached Gaussian in Python's state
    np.random.randn()  # and in numpy's
    save_checkpoint(tmp_path, {"step": 1, "rng": rng_state()})
    before = (random.random(), random.gauss(0, 1), np.random.randn(4), torch.rand(3))
    set_rng_state(load_checkpoint(tmp_path)["rng"])
    after = (random.random(), random.gauss(0, 1), np.random.randn(4), torch.rand(3))
    assert before[:2] == after[:2]
    assert np.array_equal(before[2], after[2]) and torch.equal(before[3], after[3])


def test_a_pre_hardening_checkpoint_still_resumes(tmp_path: Path) -> None:
    """Old checkpoints kept numpy's RNG state as a tuple with an array: still loaded
    weights-only (numpy's array constructors are data-only), resume stays exact."""
    data = str(make_hr_folder(tmp_path / "hr", count=2))
    config = TrainConfig(genotype=TINY_GENOTYPE, data=[data], steps=6, **TINY)
    full = train_run(config, tmp_path / "full", progress=False, threads=1)
    part = tmp_path / "part"

    def stop(done: int) -> None:
        if done == 4:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_run(config, part, progress=False, threads=1, on_step=stop)
    state = torch.load(part / "checkpoint.pt", weights_only=True)
    version, internal, gauss = state["rng"]["python"]
    numpy_state = state["rng"]["numpy"]
    state["rng"]["python"] = (version, tuple(internal), gauss)  # as random.getstate()
    state["rng"]["numpy"] = (numpy_state["kind"], numpy_state["keys"].numpy().astype(np.uint32),
                             numpy_state["pos"], numpy_state["has_gauss"],
                             numpy_state["cached_gaussian"])  # as np.random.get_state()
    torch.save(state, part / "checkpoint.pt")
    resumed = train_run(config, part, resume=True, progress=False, threads=1)
    assert state_max_diff(resumed.model.state_dict(), full.model.state_dict()) == 0.0


# ------------------------------------------------------------------------------ search
def _search_folder(tmp_path: Path) -> tuple[Path, list[str]]:
    """A run folder of a search that has finished one evaluation, and its command."""
    from falsr_ext.nas.search import SearchConfig

    data = make_hr_folder(tmp_path / "hr", count=2)
    val = make_hr_folder(tmp_path / "val" / "HR", count=2).parent
    out = tmp_path / "run"
    out.mkdir()
    cfg = SearchConfig(data=[str(data)], val=str(val), out=str(out), population=4,
                       generations=2, train_steps=3, batch=2, patch=8, max_macs=30e9,
                       max_params=150e3)
    (out / "search.json").write_text(json.dumps(cfg.identity()))
    record = {"hash": "0" * 16, "genotype": TINY_GENOTYPE, "psnr": 20.0, "macs": 1,
              "params": 1, "generation": 1}
    (out / "evaluations.jsonl").write_text(json.dumps(record) + "\n")
    args = ["search", "--data", str(data), "--val", str(val), "--out", str(out),
            "--population", "4", "--generations", "2", "--train-steps", "3", "--batch", "2",
            "--patch", "8", "--max-macs", "30G", "--max-params", "150K", "--resume"]
    return out, args


@pytest.mark.parametrize("how", ["torch.save", "pickle"])
def test_a_pre_hardening_search_state_is_never_unpickled(tmp_path: Path, how: str) -> None:
    out, args = _search_folder(tmp_path)
    marker = tmp_path / "marker"
    _plant(out / "state.pkl", marker, how)
    before = (out / "evaluations.jsonl").read_bytes()
    proc = _falsr(*args)
    assert_one_line_error(proc, "state.pkl", "older falsr version", "can run code",
                          "evaluations.jsonl", "delete state.pkl")
    assert not marker.exists()
    assert (out / "evaluations.jsonl").read_bytes() == before


@pytest.mark.parametrize("how", ["pickle", "npz"])
def test_a_planted_search_state_is_refused(tmp_path: Path, how: str) -> None:
    out, args = _search_folder(tmp_path)
    marker = tmp_path / "marker"
    _plant(out / "state.npz", marker, how)
    proc = _falsr(*args)
    assert_one_line_error(proc, "state.npz", "cannot read the search state",
                          "evaluations.jsonl")
    assert not marker.exists()


def test_a_malformed_middle_evaluation_is_skipped_with_its_line_number(tmp_path: Path) -> None:
    from falsr_ext.nas.evaluator import EvaluationLog

    records = [{"hash": f"h{i}", "genotype": "g", "psnr": 30.0 + i, "macs": 1, "params": 2}
               for i in range(3)]
    lines = [json.dumps(r) for r in records]
    lines[1] = lines[1][:25]  # a record cut short mid-file
    path = tmp_path / "evaluations.jsonl"
    path.write_text("\n".join([*lines, json.dumps({"no": "hash"})]) + "\n")
    with pytest.warns(UserWarning) as caught:
        log = EvaluationLog(path)
    message = str(caught[0].message)
    assert len(caught) == 1 and "\n" not in message
    assert "line 2 (not JSON" in message and "line 4 (no hash" in message
    assert "trained again" in message
    assert set(log.records) == {"h0", "h2"}
    log.append({**records[1]})  # the skipped genotype can be recorded again
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        assert set(EvaluationLog(path).records) == {"h0", "h1", "h2"}


# ------------------------------------------------------------------- --steps on resume
def _train_cli(data: Path, run: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return _falsr("train", "--genotype", TINY_GENOTYPE, "--data", str(data), "--out", str(run),
                  "--batch", "4", "--patch", "8", "--log-every", "2", "--checkpoint-every",
                  "2", "--seed", "3", "--threads", "1", "--no-progress", *extra)


def test_resume_with_a_larger_steps_extends_the_run(tmp_path: Path) -> None:
    data = make_hr_folder(tmp_path / "hr", count=2)
    run = tmp_path / "run"
    first = _train_cli(data, run, "--steps", "4", "--schedule", "constant")
    assert first.returncode == 0, first.stderr
    again = _falsr("train", "--out", str(run), "--resume", "--no-progress", "--threads", "1")
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout.splitlines()[-1])
    assert summary["steps"] == 4
    assert summary["loss"] is not None  # no step left, the last logged loss
    assert summary["loss"] == json.loads(first.stdout.splitlines()[-1])["loss"]
    longer = _falsr("train", "--out", str(run), "--resume", "--steps", "8", "--no-progress",
                    "--threads", "1")
    assert longer.returncode == 0, longer.stderr
    assert "falsr: note:" in longer.stderr and "steps 4 -> 8" in longer.stderr
    assert json.loads(longer.stdout.splitlines()[-1])["steps"] == 8
    assert TrainConfig.load(run / "config.json").steps == 8
    events = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [e["step"] for e in events if "loss" in e] == [2, 4, 6, 8]
    # a constant rate makes the extension exactly the run started with 8 steps
    config = TrainConfig.load(run / "config.json")
    whole = train_run(config, tmp_path / "whole", progress=False, threads=1)
    from falsr_ext.models.loading import load_model

    assert state_max_diff(load_model(run / "model.safetensors").state_dict(),
                          whole.model.state_dict()) <= 1e-6
    shorter = _falsr("train", "--out", str(run), "--resume", "--steps", "6", "--no-progress")
    assert_one_line_error(shorter, "already at step 8", "at least 8")


def test_extending_a_cosine_schedule_says_what_changes(tmp_path: Path) -> None:
    data = str(make_hr_folder(tmp_path / "hr", count=2))
    config = TrainConfig(genotype=TINY_GENOTYPE, data=[data], steps=4, **TINY)
    train_run(config, tmp_path / "run", progress=False, threads=1)
    notes: list[str] = []
    longer = TrainConfig(**{**config.to_dict(), "steps": 8})
    result = train_run(longer, tmp_path / "run", resume=True, progress=False, threads=1,
                       notify=notes.append)
    assert result.steps == 8 and len(notes) == 1
    assert "cosine schedule is recomputed for 8 steps" in notes[0]
    assert "learning rate at step 4" in notes[0] and "differ" in notes[0]
    events = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text()
              .splitlines()]
    assert {"step": 4, "event": "steps_changed", "from": 4, "to": 8} in events
    lrs = {e["step"]: e["lr"] for e in events if "lr" in e}
    assert lrs[6] > lrs[4]  # the recomputed schedule's rate, not the old floor
    with pytest.raises(TrainConfigError, match="already at step 8"):
        train_run(TrainConfig(**{**config.to_dict(), "steps": 6}), tmp_path / "run",
                  resume=True, progress=False, threads=1)
