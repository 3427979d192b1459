"""PSNR/SSIM of the official protocol, against hand computations and the paper's table."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from falsr_ext.data import modcrop, read_image, to_rgb
from falsr_ext.metrics import psnr, ssim


def _window() -> np.ndarray:
    g = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5**2))
    g /= g.sum()
    return np.outer(g, g)


def _ssim_scipy(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM with a full 2-D correlation (cv2.filter2D-like), then the valid crop."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def f(x: np.ndarray) -> np.ndarray:
        return ndimage.correlate(x, _window(), mode="reflect")[5:-5, 5:-5]

    mu1, mu2 = f(a), f(b)
    s11, s22, s12 = f(a * a) - mu1**2, f(b * b) - mu2**2, f(a * b) - mu1 * mu2
    num = (2 * mu1 * mu2 + c1) * (2 * s12 + c2)
    return float(np.mean(num / ((mu1**2 + mu2**2 + c1) * (s11 + s22 + c2))))


def _ssim_loops(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM by explicit weighted statistics of every 11x11 window."""
    w = _window()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for i in range(a.shape[0] - 10):
        for j in range(a.shape[1] - 10):
            x, y = a[i : i + 11, j : j + 11].astype(float), b[i : i + 11, j : j + 11].astype(float)
            mx, my = (w * x).sum(), (w * y).sum()
            vx, vy = (w * x * x).sum() - mx * mx, (w * y * y).sum() - my * my
            cxy = (w * x * y).sum() - mx * my
            vals.append(
                (2 * mx * my + c1) * (2 * cxy + c2) / ((mx * mx + my * my + c1) * (vx + vy + c2))
            )
    return float(np.mean(vals))


def _pair(seed: int, shape: tuple[int, ...] = (40, 36, 3)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(20, 230, shape, dtype=np.uint8)
    noise = rng.integers(-15, 16, shape)
    return a, np.clip(a.astype(int) + noise, 0, 255).astype(np.uint8)


def test_psnr_known_mse() -> None:
    a = np.random.default_rng(0).integers(10, 200, (20, 30, 3), dtype=np.uint8)
    b = a + np.uint8(3)
    assert psnr(a, b, 0, test_y_channel=False) == pytest.approx(
        10 * math.log10(255**2 / 9), abs=1e-12
    )
    # Greyscale 0 vs 255 in Y: rounded studio luma 16 vs 235.
    black, white = np.zeros((8, 8), np.uint8), np.full((8, 8), 255, np.uint8)
    assert psnr(black, white, 1) == pytest.approx(10 * math.log10(255**2 / 219**2), abs=1e-12)


def test_psnr_rounds_y() -> None:
    a, b = _pair(1)
    y = [
        np.round(16 + (65.481 * x[..., 0] + 128.553 * x[..., 1] + 24.966 * x[..., 2]) / 255)
        for x in (a, b)
    ]
    mse = np.mean((y[0] - y[1])[2:-2, 2:-2] ** 2)
    assert psnr(a, b, 2) == pytest.approx(10 * math.log10(255**2 / mse), abs=1e-10)


def test_identical_images() -> None:
    a, _ = _pair(2)
    assert psnr(a, a.copy(), 2) == math.inf
    assert psnr(a, a.copy(), 0, test_y_channel=False) == math.inf
    assert ssim(a, a.copy(), 2) == pytest.approx(1.0, abs=1e-12)
    assert ssim(a, a.copy(), 0, test_y_channel=False) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("seed", [3, 4, 5])
def test_ssim_matches_independent_implementations(seed: int) -> None:
    a, b = _pair(seed)
    assert ssim(a, b, 0, test_y_channel=False) == pytest.approx(
        np.mean([_ssim_scipy(a[..., c], b[..., c]) for c in range(3)]), abs=1e-12
    )
    ga, gb = a[:24, :22, 0], b[:24, :22, 0]
    assert ssim(ga, gb, 0, test_y_channel=False) == pytest.approx(_ssim_loops(ga, gb), abs=1e-12)


def test_crop_border() -> None:
    a, _ = _pair(6)
    b = a.copy()
    b[:3] = 255 - b[:3]  # damage only the top 3 rows
    assert psnr(a, b, 3) == math.inf
    assert psnr(a, b, 2) < math.inf
    assert ssim(a, b, 3) == pytest.approx(1.0, abs=1e-12)
    assert ssim(a, b, 0) < 1.0
    y_crop = psnr(a[4:-4, 4:-4], b[4:-4, 4:-4], 0)
    assert psnr(a, b, 4) == y_crop


def test_greyscale_equals_three_equal_channels() -> None:
    a, b = _pair(7, (30, 30))
    assert psnr(a, b, 2) == psnr(to_rgb(a), to_rgb(b), 2)
    assert ssim(a[:, :, None], b[:, :, None], 2) == ssim(to_rgb(a), to_rgb(b), 2)


def test_errors() -> None:
    a, b = _pair(8)
    with pytest.raises(ValueError, match=r"\(40, 36, 3\) vs \(40, 35, 3\)"):
        psnr(a, b[:, :35], 2)
    with pytest.raises(ValueError, match="differ"):
        ssim(a, b[:, :, 0], 2)
    with pytest.raises(ValueError, match="crop_border"):
        psnr(a, b, 18)
    with pytest.raises(ValueError, match="11x11"):
        ssim(a, b, 13)


@pytest.mark.parametrize(
    "dataset, table_psnr, table_ssim", [("Set5", 37.8219, 0.95946), ("Set14", 33.5484, 0.91683)]
)
def test_official_outputs_score_the_table(
    shared_dir: Path, dataset: str, table_psnr: float, table_ssim: float
) -> None:
    """The official FALSR-A outputs score the reference table's numbers under our metrics."""
    ref = shared_dir / "falsr" / "reference" / "FALSR-A" / dataset
    if not ref.is_dir():
        pytest.skip(f"{ref} absent")
    scores = []
    for sr_path in sorted(ref.glob("*_SR.png")):
        hr = read_image(shared_dir / "data" / dataset / "HR" / sr_path.name.replace("_SR", ""))
        sr, hr = to_rgb(read_image(sr_path)), modcrop(to_rgb(hr), 2)
        scores.append((psnr(sr, hr, 2), ssim(sr, hr, 2)))
    mean_psnr, mean_ssim = np.mean(scores, axis=0)
    assert mean_psnr == pytest.approx(table_psnr, abs=5e-5)
    assert mean_ssim == pytest.approx(table_ssim, abs=5e-6)
