"""The bf16 engine stays within 0.02 dB PSNR of fp32 on real images (official weights,
standard protocol). FALSR-B on Set5 is the worst case measured (-0.0126 dB); the full
table over A/B/C x Set5/Set14/B100 is python/bf16_accuracy.py's."""

from __future__ import annotations

from pathlib import Path

import pytest

from falsr_ext import evaluate, load_model


@pytest.mark.parametrize("dataset", ["Set5", "Set14"])
def test_bf16_engine_psnr_within_0_02_db_of_fp32(shared_dir: Path, dataset: str) -> None:
    weights = shared_dir / "falsr" / "pretrained" / "FALSR-B.pb"
    folder = shared_dir / "data" / dataset
    if not weights.is_file() or not folder.is_dir():
        pytest.skip(f"{weights} or {folder} absent: read from ../shared")
    model = load_model("FALSR-B", weights=weights)
    fp32 = evaluate(model, folder, dtype="float32")
    bf16 = evaluate(model, folder, dtype="bfloat16")
    assert abs(bf16.psnr - fp32.psnr) <= 0.02, (fp32.psnr, bf16.psnr)
    assert abs(bf16.ssim - fp32.ssim) <= 0.001, (fp32.ssim, bf16.ssim)
    assert bf16.psnr != fp32.psnr  # the bf16 path really ran
