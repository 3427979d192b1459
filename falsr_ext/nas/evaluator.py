"""Candidate evaluation: incomplete training, PSNR on a validation set, the evaluation log.

:func:`evaluate_candidate` runs in a worker (a pool process or a Dask worker): it trains
the genotype with :func:`falsr_ext.training.train_run` for a fixed small budget (steps,
batch, patch, seed) into a temporary folder and scores it on the validation folder with
the standard protocol. Same budget and genotype give the same PSNR.

:class:`EvaluationLog` is ``RUN/evaluations.jsonl``: one JSON object per finished
evaluation, appended, flushed and fsynced at once; it is the source of truth on resume
(a genotype already in it is never trained again); a malformed line in it is skipped
with a warning that names it (its genotype is trained again if proposed again). With
``budget.train_log`` set (the search copies ``$FALSR_NAS_TRAIN_LOG``) the worker also
appends ``start`` / ``done`` events there, so tests can count real training calls.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

TRAIN_LOG_ENV = "FALSR_NAS_TRAIN_LOG"
_IMAGES: dict[tuple, Any] = {}  # per worker process: training images, loaded once


@dataclass(frozen=True)
class TrainBudget:
    """The incomplete-training budget every candidate gets (part of the run's identity)."""

    data: tuple[str, ...]
    val: str
    steps: int
    batch: int
    patch: int
    lr: float = 1e-3
    seed: int = 0
    scale: int = 2
    threads: int = 1
    train_log: str | None = None

    def identity(self) -> dict[str, Any]:
        """The fields that change an evaluation's result (threads and log excluded)."""
        out = asdict(self)
        out.pop("threads")
        out.pop("train_log")
        out["data"] = list(self.data)
        return out


def _append_line(path: str | os.PathLike[str], record: dict[str, Any]) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def _images(budget: TrainBudget) -> Any:
    from falsr_ext.training.data import load_training_images

    key = (budget.data, budget.scale, budget.patch)
    if key not in _IMAGES:
        _IMAGES[key] = load_training_images(list(budget.data), budget.scale, budget.patch, 1)
    return _IMAGES[key]


def evaluate_candidate(genotype: str, digest: str, budget: TrainBudget) -> dict[str, Any]:
    """Train ``genotype`` for ``budget`` and return ``{hash, genotype, psnr, seconds}``."""
    from falsr_ext.training import TrainConfig, train_run

    images = _images(budget)
    if budget.train_log:
        _append_line(budget.train_log, {"event": "start", "hash": digest, "pid": os.getpid()})
    config = TrainConfig(genotype=genotype, data=list(budget.data), scale=budget.scale,
                         steps=budget.steps, batch=budget.batch, patch=budget.patch,
                         lr=budget.lr, val=budget.val, val_every=budget.steps,
                         checkpoint_every=budget.steps, log_every=budget.steps,
                         seed=budget.seed)
    tick = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="falsr-nas-") as tmp:
        result = train_run(config, tmp, progress=False, threads=budget.threads, images=images,
                           keep_artifacts=False)
    seconds = time.perf_counter() - tick
    psnr = float(result.val_psnr) if result.val_psnr is not None else float("nan")
    if budget.train_log:
        _append_line(budget.train_log, {"event": "done", "hash": digest, "pid": os.getpid()})
    return {"hash": digest, "genotype": genotype, "psnr": psnr,
            "train_loss": result.last_loss, "seconds": round(seconds, 3)}


_RECORD_KEYS = ("hash", "genotype", "psnr", "macs", "params")


def _parse_record(line: bytes) -> tuple[dict[str, Any] | None, str]:
    """One evaluation record, or None and why the line is not one."""
    try:
        record = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"not JSON: {str(exc).splitlines()[0]}"
    if not isinstance(record, dict):
        return None, "not a JSON object"
    missing = [k for k in _RECORD_KEYS if k not in record]
    if missing:
        return None, f"no {', '.join(missing)}"
    if not isinstance(record["hash"], str):
        return None, "hash is not a string"
    return record, ""


class EvaluationLog:
    """``evaluations.jsonl``: finished evaluations by genotype hash (see the module doc)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: dict[str, dict[str, Any]] = {}
        if path.is_file():
            self._load()

    def _load(self) -> None:
        data = self.path.read_bytes()
        cut = data.rfind(b"\n") + 1
        if cut < len(data):  # a line cut short by a kill: drop it, it is re-evaluated
            with open(self.path, "r+b") as f:
                f.truncate(cut)
            data = data[:cut]
        bad: list[str] = []
        for number, line in enumerate(data.split(b"\n"), 1):
            if not line.strip():
                continue
            record, why = _parse_record(line)
            if record is None:
                bad.append(f"line {number} ({why})")
            else:
                self.records[record["hash"]] = record
        if bad:  # kept in the file: the log is append-only, the warning says what happened
            warnings.warn(
                f"{self.path}: skipped {len(bad)} malformed evaluation record(s): "
                f"{'; '.join(bad[:5])}{'; ...' if len(bad) > 5 else ''}; a genotype "
                f"recorded there is trained again if the search proposes it", stacklevel=3)

    def __contains__(self, digest: str) -> bool:
        return digest in self.records

    def __len__(self) -> int:
        return len(self.records)

    def get(self, digest: str) -> dict[str, Any]:
        """The record of a finished evaluation."""
        return self.records[digest]

    def append(self, record: dict[str, Any]) -> None:
        """Record a finished evaluation durably (append + flush + fsync)."""
        if record["hash"] in self.records:
            raise ValueError(f"genotype {record['hash']} is already in {self.path}")
        _append_line(self.path, record)
        self.records[record["hash"]] = record
