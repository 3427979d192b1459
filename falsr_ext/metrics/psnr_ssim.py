"""PSNR and SSIM exactly as the official FALSR, DLSR and TPSR evaluations compute them.

Step 5 of the FALSR protocol (see ``docs/falsr-reference.md``): studio-range Y of both
uint8 RGB images, rounded to integers, ``crop_border`` pixels cut from every side, then
PSNR ``10 log10(255^2 / MSE)`` and the Gaussian-window SSIM (11x11, sigma 1.5) over the
valid region. DLSR and TPSR score the same Y unrounded (``round_y=False``). The API
follows BasicSR's ``calculate_psnr`` / ``calculate_ssim``.
"""

from __future__ import annotations

import math

import numpy as np

from falsr_ext.data.colour import rgb_to_y_studio

_C1 = (0.01 * 255) ** 2
_C2 = (0.03 * 255) ** 2
_WIN = 11
_SIGMA = 1.5


def _gaussian_1d() -> np.ndarray:
    """cv2.getGaussianKernel(11, 1.5): sampled Gaussian normalised to sum 1."""
    x = np.arange(_WIN, dtype=np.float64) - (_WIN - 1) / 2
    k = np.exp(-(x * x) / (2 * _SIGMA * _SIGMA))
    return k / k.sum()


_KERNEL = _gaussian_1d()


def _prepare(
    img1: np.ndarray, img2: np.ndarray, crop_border: int, test_y_channel: bool,
    round_y: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Check shapes, convert to rounded Y (or float channels) and crop; HxWxC float64."""
    a, b = np.asarray(img1), np.asarray(img2)
    if a.shape != b.shape:
        raise ValueError(f"image shapes differ: {a.shape} vs {b.shape}")
    if a.ndim not in (2, 3):
        raise ValueError(f"need HxW or HxWxC images, got shape {a.shape}")
    if crop_border < 0:
        raise ValueError(f"crop_border must be >= 0, got {crop_border}")
    if test_y_channel and round_y:
        # The official FALSR script clips and rounds Y to integers before scoring.
        a, b = (np.round(np.clip(rgb_to_y_studio(x), 0, 255))[:, :, None] for x in (a, b))
    elif test_y_channel:  # DLSR / TPSR: float Y, as MATLAB rgb2ycbcr(im2double(.)) * 255
        a, b = (rgb_to_y_studio(x)[:, :, None] for x in (a, b))
    else:
        a, b = (x.astype(np.float64).reshape(x.shape[0], x.shape[1], -1) for x in (a, b))
    h, w = a.shape[:2]
    if h <= 2 * crop_border or w <= 2 * crop_border:
        raise ValueError(f"crop_border {crop_border} leaves nothing of a {h}x{w} image")
    if crop_border:
        a = a[crop_border:-crop_border, crop_border:-crop_border]
        b = b[crop_border:-crop_border, crop_border:-crop_border]
    return a, b


def psnr(
    img1: np.ndarray, img2: np.ndarray, crop_border: int, test_y_channel: bool = True,
    round_y: bool = True,
) -> float:
    """Peak signal-to-noise ratio in dB on the 0..255 scale; ``inf`` for identical images.

    Args:
        img1, img2: same-shape HxWx3 RGB or HxW / HxWx1 greyscale, uint8 (or 0..255
            floats). Greyscale counts as 3 equal channels for the Y conversion.
        crop_border: pixels removed from every side before scoring (the scale).
        test_y_channel: score studio Y (the protocol); otherwise all channels.
        round_y: round Y to integers first (FALSR); ``False`` keeps it float (DLSR, TPSR).

    Raises:
        ValueError: different shapes (both are named) or a crop that leaves nothing.
    """
    a, b = _prepare(img1, img2, crop_border, test_y_channel, round_y)
    mse = float(np.mean((a - b) ** 2))
    if mse == 0:
        return math.inf
    return 10.0 * math.log10(255.0 * 255.0 / mse)


def _filter_valid(img: np.ndarray) -> np.ndarray:
    """Gaussian filtering keeping only the valid region, i.e. cv2.filter2D + [5:-5, 5:-5].

    The 2-D window is an outer product, so two separable 1-D passes give the same sums.
    """
    h, w = img.shape
    rows = sum(_KERNEL[i] * img[i : h - _WIN + 1 + i] for i in range(_WIN))
    return sum(_KERNEL[j] * rows[:, j : w - _WIN + 1 + j] for j in range(_WIN))


def _ssim_plane(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM map of two float64 planes (BasicSR's ``_ssim``)."""
    mu1, mu2 = _filter_valid(a), _filter_valid(b)
    mu1_sq, mu2_sq, mu1_mu2 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    sigma1_sq = _filter_valid(a * a) - mu1_sq
    sigma2_sq = _filter_valid(b * b) - mu2_sq
    sigma12 = _filter_valid(a * b) - mu1_mu2
    num = (2 * mu1_mu2 + _C1) * (2 * sigma12 + _C2)
    den = (mu1_sq + mu2_sq + _C1) * (sigma1_sq + sigma2_sq + _C2)
    return float(np.mean(num / den))


def ssim(
    img1: np.ndarray, img2: np.ndarray, crop_border: int, test_y_channel: bool = True,
    round_y: bool = True,
) -> float:
    """Structural similarity as the official script (and BasicSR) computes it.

    Same inputs and cropping as :func:`psnr`; with ``test_y_channel=False`` the result
    is the mean over channels. Needs at least 11x11 pixels after cropping.

    Raises:
        ValueError: different shapes, or too small after cropping.
    """
    a, b = _prepare(img1, img2, crop_border, test_y_channel, round_y)
    if min(a.shape[:2]) < _WIN:
        raise ValueError(
            f"SSIM needs at least {_WIN}x{_WIN} pixels after cropping, got {a.shape[:2]}"
        )
    return float(np.mean([_ssim_plane(a[:, :, c], b[:, :, c]) for c in range(a.shape[2])]))
