"""Every recipe in python/ runs on a tiny budget, so none rots."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def test_reproduce_table1_smoke(shared_dir: Path, tmp_path: Path) -> None:
    pb_dir = shared_dir / "falsr" / "pretrained"
    set5 = shared_dir / "data" / "Set5"
    if not (pb_dir / "FALSR-B.pb").is_file() or not set5.is_dir():
        pytest.skip(f"{pb_dir} or {set5} absent: the recipe reads ../shared")
    out = tmp_path / "t1.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "python" / "reproduce_table1.py"), "--models", "FALSR-B",
         "--weights-dir", str(pb_dir), "--data", str(set5), "--json", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    assert "FALSR-B  Set5" in proc.stdout and "37.61" in proc.stdout
    rows = json.loads(out.read_text())
    assert rows[0]["model"] == "FALSR-B" and abs(rows[0]["psnr"] - 37.6140) <= 0.005


def test_reproduce_table1_missing_weights(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO / "python" / "reproduce_table1.py"), "--models", "FALSR-A",
         "--weights-dir", str(tmp_path), "--data", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "FALSR-A.pb" in proc.stderr


def test_train_default_smoke(shared_dir: Path, tmp_path: Path) -> None:
    data = shared_dir / "data"
    if not (data / "T91").is_dir() or not (data / "BSD200").is_dir():
        pytest.skip(f"{data}/T91 or BSD200 absent: the recipe trains on ../shared/data")
    proc = subprocess.run(
        [sys.executable, str(REPO / "python" / "train_default.py"), "--data-root", str(data),
         "--out", str(tmp_path / "run"), "--steps", "3", "--threads", "2"],
        capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads(proc.stdout.splitlines()[-1])
    assert summary["steps"] == 3 and Path(summary["weights"]).is_file()
    assert 0 < summary["set5_psnr"] < 60  # validated once (3 steps: far from trained)


def test_default_model_table_smoke(shared_dir: Path, tmp_path: Path) -> None:
    data = shared_dir / "data"
    pb = shared_dir / "falsr" / "pretrained" / "FALSR-B.pb"
    if not (data / "Set5").is_dir():
        pytest.skip(f"{data}/Set5 absent: the recipe reads ../shared")
    out = tmp_path / "table.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "python" / "default_model_table.py"), "--data-root",
         str(data), "--falsr-b", str(pb), "--sets", "Set5", "--json", str(out)],
        capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = {r["model"]: r for r in json.loads(out.read_text())}
    assert abs(rows["bicubic"]["psnr"] - 33.6404) <= 0.005  # our imresize, shipped LR
    assert rows["default (ours)"]["psnr"] >= 37.0
    if pb.is_file():
        assert abs(rows["FALSR-B (official)"]["psnr"] - 37.6140) <= 0.005
