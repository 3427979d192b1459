"""Shared helpers of the NAS tests: a tiny validation folder, the tiny search command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TINY_LIMITS = {"max_macs": 30e9, "max_params": 150e3}


def make_tiny_val(shared: Path, target: Path) -> Path:
    """Three 48x48 centre crops of Set5 (HR only: the LR is made by our bicubic)."""
    from PIL import Image

    hr = target / "HR"
    if not hr.is_dir():
        hr.mkdir(parents=True)
        for name in ("baby", "bird", "head"):
            im = Image.open(shared / "data" / "Set5" / "HR" / f"{name}.png")
            w, h = im.size
            im.crop((w // 2 - 24, h // 2 - 24, w // 2 + 24, h // 2 + 24)).save(hr / f"{name}.png")
    return target


def search_args(shared: Path, val: Path, out: Path, population: int = 4,
                generations: int = 2, steps: int = 3, *extra: str) -> list[str]:
    """Arguments of ``python -m falsr_ext.nas.cli`` for a tiny search."""
    return [sys.executable, "-m", "falsr_ext.nas.cli", "search",
            "--data", str(shared / "data" / "T91"), "--val", str(val), "--out", str(out),
            "--population", str(population), "--generations", str(generations),
            "--train-steps", str(steps), "--batch", "2", "--patch", "8",
            "--max-macs", "30G", "--max-params", "150K", *extra]


def env_with_train_log(log: Path) -> dict[str, str]:
    """The environment that makes every training call append to ``log``."""
    return {**os.environ, "FALSR_NAS_TRAIN_LOG": str(log), "OMP_NUM_THREADS": "1"}


def run(args: list[str], env: dict[str, str], timeout: float = 240) -> subprocess.CompletedProcess:
    """Run a search to completion, capturing its output."""
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)


def read_jsonl(path: Path) -> list[dict]:
    """Every complete JSON line of ``path`` (none when it does not exist)."""
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
