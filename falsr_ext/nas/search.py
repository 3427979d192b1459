"""The search loop: propose, count, train, tell; checkpoint each generation; resume.

A run folder holds ``search.json`` (the settings), ``evaluations.jsonl`` (every finished
evaluation, the source of truth), ``state.npz`` (the controller after the last finished
generation: population, random generator, mutation policy; data only, see
:mod:`falsr_ext.nas.state`), ``policy.json`` (the policy's state, readable),
``history.json`` (per-generation figures) and, at the end, ``pareto.json`` /
``pareto.csv`` / ``pareto.png``. The folder is locked while a search runs, and every file
but the append-only ``evaluations.jsonl`` is replaced atomically.

Resume (``resume=True``) reloads the checkpoint and re-asks the interrupted generation,
which the restored random generator makes identical; its already finished evaluations
are served from ``evaluations.jsonl`` and only the missing ones are trained. A folder with
settings but neither a state nor an evaluation (a start that failed early) is fresh.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from falsr_ext.files import atomic_write_text
from falsr_ext.nas import SearchError
from falsr_ext.nas.controllers import CONTROLLERS, make_controller
from falsr_ext.nas.encoding import decode
from falsr_ext.nas.evaluator import TRAIN_LOG_ENV, EvaluationLog, TrainBudget, evaluate_candidate
from falsr_ext.nas.pareto import front, hypervolume, write_outputs
from falsr_ext.nas.problem import Limits, SearchProblem, costs, objectives, space_maxima
from falsr_ext.nas.runners import check_scheduler_address, make_runner
from falsr_ext.nas.state import (
    LEGACY_STATE_NAME,
    STATE_NAME,
    legacy_state_error,
    read_state,
    save_state,
    unreadable_state_error,
)
from falsr_ext.training.runlock import locked_run_folder

SETTINGS_NAME, LOG_NAME = "search.json", "evaluations.jsonl"
_SUFFIXES = {"K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
# Settings that may differ when a run is resumed (they do not change its results).
_FREE_ON_RESUME = {"out", "generations", "scheduler", "workers", "threads", "resume"}


def parse_amount(text: str | float | int, what: str) -> float:
    """``"100G"`` -> 1e11, ``"500K"`` -> 5e5, ``"1.5M"``, or a plain number (> 0)."""
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        s = text.strip().upper()
        scale = _SUFFIXES.get(s[-1:], 1.0)
        number = s[:-1] if s[-1:] in _SUFFIXES else s
        try:
            value = float(number) * scale
        except ValueError:
            raise SearchError(f"{what}: expected a number with an optional K/M/G/T suffix "
                              f"(e.g. 100G, 500K), got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise SearchError(f"{what}: must be positive, got {text!r}")
    return value


@dataclass
class SearchConfig:
    """Every setting of a search (see ``falsr search --help``)."""

    data: list[str]
    val: str
    out: str
    population: int
    generations: int
    train_steps: int
    batch: int = 16
    patch: int = 32
    lr: float = 1e-3
    seed: int = 0
    scale: int = 2
    max_macs: float | None = None
    max_params: float | None = None
    min_psnr: float | None = None
    controller: str = "hybrid"
    rl_fraction: float = 0.5
    policy_lr: float = 0.3
    scheduler: str | None = None
    workers: int = 1
    threads: int = 1
    resume: bool = False

    def __post_init__(self) -> None:
        if self.population < 2:
            raise SearchError(f"--population must be at least 2, got {self.population}")
        for name in ("generations", "train_steps", "batch", "patch", "workers", "threads"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise SearchError(f"--{name.replace('_', '-')} must be a positive integer, "
                                  f"got {value!r}")
        if self.controller not in CONTROLLERS:
            raise SearchError(f"--controller must be one of {CONTROLLERS}, got "
                              f"{self.controller!r}")
        if not 0.0 <= self.rl_fraction <= 1.0:
            raise SearchError(f"--mutation-rl-fraction must be in [0, 1], got {self.rl_fraction}")
        if self.scheduler is not None:
            check_scheduler_address(self.scheduler)
        for folder in [*self.data, self.val]:
            if not Path(folder).is_dir():
                raise SearchError(f"{folder}: no such data folder")

    @property
    def limits(self) -> Limits:
        """The constraint limits."""
        return Limits(self.max_macs, self.max_params, self.min_psnr)

    def budget(self) -> TrainBudget:
        """The incomplete-training budget of every candidate."""
        return TrainBudget(tuple(str(Path(d).resolve()) for d in self.data),
                           str(Path(self.val).resolve()), self.train_steps, self.batch,
                           self.patch, self.lr, self.seed, self.scale, self.threads,
                           os.environ.get(TRAIN_LOG_ENV) or None)

    def identity(self) -> dict[str, Any]:
        """The settings a resumed run must keep."""
        out = {k: v for k, v in asdict(self).items() if k not in _FREE_ON_RESUME}
        out["data"] = [str(Path(d).resolve()) for d in self.data]
        out["val"] = str(Path(self.val).resolve())
        return out


def _has_progress(out: Path) -> bool:
    """True when ``out`` holds a search that got somewhere: a state file (this version's or
    a pre-hardening one) or a finished evaluation. Settings alone (a start that failed
    before any evaluation, e.g. on bad data) do not count: such a folder is started anew."""
    log = out / LOG_NAME
    return ((out / STATE_NAME).is_file() or (out / LEGACY_STATE_NAME).is_file()
            or (log.is_file() and log.stat().st_size > 0))


def _check_settings(cfg: SearchConfig, out: Path) -> None:
    settings = out / SETTINGS_NAME
    try:
        saved = json.loads(settings.read_text()) if settings.is_file() else {}
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SearchError(f"{settings}: unreadable search settings ({exc})") from None
    if not isinstance(saved, dict):
        raise SearchError(f"{settings}: not search settings (a JSON object)")
    now = json.loads(json.dumps(cfg.identity()))
    changed = [k for k in now if saved.get(k) != now[k]]
    if changed:
        diffs = ", ".join(f"{k}: {saved.get(k)!r} -> {now[k]!r}" for k in changed)
        raise SearchError(f"cannot resume {out} with other settings ({diffs})")


def _open_run(cfg: SearchConfig, out: Path) -> tuple[dict[str, Any], dict] | None:
    """Check the (locked) run folder against ``cfg``; return the state to resume, if any."""
    if _has_progress(out):
        if not cfg.resume:
            raise SearchError(f"{out} already holds a search; pass --resume to continue it, "
                              f"or choose another --out")
        _check_settings(cfg, out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / SETTINGS_NAME, json.dumps(cfg.identity(), indent=2) + "\n")
    state_path = out / STATE_NAME
    if not cfg.resume:
        return None
    if state_path.is_file():
        return _load_state(state_path)
    if (out / LEGACY_STATE_NAME).is_file():  # never unpickled
        raise legacy_state_error(out / LEGACY_STATE_NAME, out / LOG_NAME)
    return None


def _load_state(path: Path) -> tuple[dict[str, Any], dict]:
    """The saved search state (data only), or a SearchError that says what to do."""
    try:
        return read_state(path)
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise unreadable_state_error(path, path.with_name(LOG_NAME), _one_line(exc)) from None


def _restore(controller: Any, saved: tuple[dict[str, Any], dict], path: Path,
             ) -> tuple[int, list[dict]]:
    """Put the saved state into ``controller``; return (generation, history)."""
    doc, arrays = saved
    try:
        controller.load_state_dict(doc["controller"], arrays)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise unreadable_state_error(path, path.with_name(LOG_NAME),
                                     f"does not fit this search: {_one_line(exc)}") from None
    return doc["generation"], doc["history"]


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def evaluate_generation(X: np.ndarray, cfg: SearchConfig, log: EvaluationLog, runner: Any,
                        budget: TrainBudget, generation: int) -> tuple[list[dict], dict[str, int]]:
    """Count every candidate, train the new within-budget ones, return one record per row.

    Over-budget candidates are never trained (their record has ``psnr`` NaN and
    ``trained`` False); candidates already in ``log`` are served from it.
    """
    genotypes = [decode(x) for x in X]
    macs, params = costs(genotypes, cfg.scale)
    limits = cfg.limits
    rows: list[dict[str, Any]] = []
    jobs: dict[str, tuple] = {}
    tally = {"over_budget": 0, "cached": 0, "trained": 0}
    for g, m, p in zip(genotypes, macs, params, strict=True):
        digest = g.digest()
        row = {"hash": digest, "genotype": g.to_string(), "macs": int(m), "params": int(p)}
        if not limits.cost_ok(m, p):
            tally["over_budget"] += 1
        elif digest in log:
            tally["cached"] += 1
        elif digest not in jobs:
            jobs[digest] = (row["genotype"], digest, budget)
        rows.append(row)
    for result in runner.run(evaluate_candidate, list(jobs.values())):
        info = next(r for r in rows if r["hash"] == result["hash"])
        log.append({**result, "macs": info["macs"], "params": info["params"],
                    "generation": generation})
    tally["trained"] = len(jobs)
    for row in rows:
        row["trained"] = row["hash"] in log
        row["psnr"] = log.get(row["hash"])["psnr"] if row["trained"] else float("nan")
    return rows, tally


def _objectives(rows: list[dict], limits: Limits) -> tuple[np.ndarray, np.ndarray]:
    F = np.array([objectives(r["psnr"], r["macs"], r["params"]) for r in rows])
    G = np.array([limits.violations(r["psnr"] if r["trained"] else -math.inf, r["macs"],
                                    r["params"]) for r in rows])
    G[~np.isfinite(G)] = 1.0  # untrained: the PSNR constraint counts as violated
    return F, G


def run_search(cfg: SearchConfig, report: Callable[[str], None] = print) -> list[dict]:
    """Run (or resume) the search of ``cfg``; return the final Pareto front records.

    The run folder is locked throughout: a second search (or a training) on it fails with
    :class:`falsr_ext.files.FolderBusyError` naming this one's pid.
    """
    out = Path(cfg.out)
    with locked_run_folder(out, "falsr search"):
        return _search(cfg, out, report)


def _search(cfg: SearchConfig, out: Path, report: Callable[[str], None]) -> list[dict]:
    saved = _open_run(cfg, out)
    problem = SearchProblem(cfg.limits, cfg.scale)
    controller = make_controller(cfg.controller, problem, cfg.population, cfg.seed,
                                 cfg.rl_fraction, cfg.policy_lr)
    generation, history = 0, []
    if saved is not None:
        generation, history = _restore(controller, saved, out / STATE_NAME)
    log = EvaluationLog(out / LOG_NAME)
    budget = cfg.budget()
    space_macs, space_params = space_maxima(cfg.scale)
    macs_ref, params_ref = cfg.max_macs or space_macs, cfg.max_params or space_params
    psnr_floor = cfg.min_psnr or 0.0
    runner = make_runner(cfg.scheduler, cfg.workers)
    try:
        while generation < cfg.generations:
            gen = generation + 1
            tick = time.perf_counter()
            X = controller.ask()
            rows, tally = evaluate_generation(X, cfg, log, runner, budget, gen)
            controller.tell(*_objectives(rows, cfg.limits))
            records = list(log.records.values())
            best = front(records, cfg.limits)
            stats = {
                "generation": gen, **tally, "evaluated_total": len(log),
                "front_size": len(best),
                "best_psnr": max((r["psnr"] for r in best), default=None),
                "hypervolume": hypervolume(records, cfg.limits, macs_ref, params_ref,
                                           psnr_floor),
                "mean_reward": (float(np.mean(controller.last_rewards))
                                if controller.last_rewards else None),
                "seconds": round(time.perf_counter() - tick, 2),
            }
            generation = gen
            history.append(stats)
            save_state(out / STATE_NAME, generation, history, controller)
            atomic_write_text(out / "history.json", json.dumps(history, indent=2) + "\n")
            if controller.policy is not None:
                atomic_write_text(out / "policy.json",
                                  json.dumps(controller.policy.state_dict()))
            report(_progress_line(stats, cfg.generations))
    finally:
        runner.close()
    rows = write_outputs(out, list(log.records.values()), cfg.limits)
    report(f"front: {len(rows)} network(s) -> {out / 'pareto.json'}")
    return rows


def _progress_line(s: dict[str, Any], total: int) -> str:
    best = "-" if s["best_psnr"] is None else f"{s['best_psnr']:.2f} dB"
    reward = "" if s["mean_reward"] is None else f"  policy reward {s['mean_reward']:+.2f}"
    return (f"gen {s['generation']}/{total}  trained {s['trained']}  cached {s['cached']}  "
            f"over budget {s['over_budget']}  front {s['front_size']}  best PSNR {best}  "
            f"HV {s['hypervolume']:.4f}{reward}  ({s['seconds']:.1f} s)")
