"""The official FALSR models through our code reproduce the published accuracy (x2).

Targets are the official graphs measured with TensorFlow under the standard protocol
(falsr-reference.md); tolerance 0.005 dB PSNR and 0.0005 SSIM, as the issue requires.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from falsr_ext import evaluate, load_model
from falsr_ext.models.zoo import OFFICIAL_MEASURED

CASES = [(m, s) for m in ("FALSR-A", "FALSR-B", "FALSR-C") for s in ("Set5", "Set14", "B100")]


@pytest.fixture(scope="module")
def models(shared_dir: Path) -> dict:
    pretrained = shared_dir / "falsr" / "pretrained"
    if not pretrained.is_dir():
        pytest.skip(f"{pretrained} absent: official weights are read from ../shared")
    return {m: load_model(m, weights=pretrained / f"{m}.pb") for m in ("FALSR-A", "FALSR-B",
                                                                       "FALSR-C")}


@pytest.mark.parametrize(("model_name", "dataset"), CASES)
def test_reproduces_official_psnr_ssim(models: dict, shared_dir: Path, model_name: str,
                                       dataset: str) -> None:
    folder = shared_dir / "data" / dataset
    if not folder.is_dir():
        pytest.skip(f"{folder} absent: benchmark images are read from ../shared")
    result = evaluate(models[model_name], folder, scale=2)
    want_psnr, want_ssim = OFFICIAL_MEASURED[model_name][dataset]
    assert result.images == {"Set5": 5, "Set14": 14, "B100": 100}[dataset]
    assert abs(result.psnr - want_psnr) <= 0.005, (result.psnr, want_psnr)
    assert abs(result.ssim - want_ssim) <= 0.0005, (result.ssim, want_ssim)
