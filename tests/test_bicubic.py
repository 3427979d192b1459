"""MATLAB-compatible bicubic: bit-exact against the shipped LR files, and its options."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from falsr_ext.data import imresize, matlab_downscale, modcrop, read_image, to_rgb
from falsr_ext.errors import ImageError

DATASETS = ("Set5", "Set14", "B100")
SCALES = (2, 3, 4)


def _hr_for(lr_path: Path, scale: int) -> Path:
    """HR file of an ``LR_bicubic/X<s>/<name>x<s>.png`` file."""
    name = lr_path.stem[: -len(f"x{scale}")]
    return lr_path.parents[2] / "HR" / f"{name}{lr_path.suffix}"


def _reference_resize(img: np.ndarray, out_len: int, scale: float) -> np.ndarray:
    """Straightforward per-output-pixel 1-D resize along axis 0 (replicate border)."""
    width = 4.0 / scale if scale < 1 else 4.0
    out = np.zeros((out_len,) + img.shape[1:])
    for i in range(out_len):
        u = (i + 1) / scale + 0.5 * (1 - 1 / scale)
        taps = np.arange(
            math.floor(u - width / 2), math.floor(u - width / 2) + math.ceil(width) + 2
        )
        x = (u - taps) * (scale if scale < 1 else 1.0)
        ax = np.abs(x)
        w = np.where(
            ax <= 1,
            1.5 * ax**3 - 2.5 * ax**2 + 1,
            np.where(ax <= 2, -0.5 * ax**3 + 2.5 * ax**2 - 4 * ax + 2, 0.0),
        )
        w = w / w.sum()
        src = np.clip(taps - 1, 0, img.shape[0] - 1)
        out[i] = np.tensordot(w, img[src].astype(np.float64), axes=1)
    return out


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("dataset", DATASETS)
def test_reproduces_shipped_lr_files(shared_dir: Path, dataset: str, scale: int) -> None:
    lr_dir = shared_dir / "data" / dataset / "LR_bicubic" / f"X{scale}"
    if not lr_dir.is_dir():
        pytest.skip(f"{lr_dir} absent")
    files = sorted(lr_dir.glob("*.png"))
    assert files, f"{lr_dir}: no LR files"
    bad = []
    for lr_path in files:
        lr = read_image(lr_path)
        hr = read_image(_hr_for(lr_path, scale))
        if lr.shape[2] == 3:
            hr = to_rgb(hr)  # bridge is greyscale in both HR and LR; keep what the file has
        out = matlab_downscale(hr, scale)
        if out.shape != lr.shape:
            bad.append(f"{lr_path.name}: shape {out.shape} != {lr.shape}")
        elif not np.array_equal(out, lr):
            bad.append(f"{lr_path.name}: {int((out != lr).sum())} pixels differ")
    assert not bad, f"{dataset} x{scale}: " + "; ".join(bad)


def test_interpass_rounding_matters(shared_dir: Path) -> None:
    """Rounding once at the end is off by one at interior pixels; per pass is exact."""
    hr_path = shared_dir / "data" / "Set5" / "HR" / "butterfly.png"
    if not hr_path.is_file():
        pytest.skip(f"{hr_path} absent")
    lr = read_image(shared_dir / "data" / "Set5" / "LR_bicubic" / "X3" / "butterflyx3.png")
    hr = modcrop(read_image(hr_path), 3)
    once = imresize(hr, 1 / 3, round_between_passes=False)
    diff = np.abs(once.astype(int) - lr)
    assert diff.max() == 1
    assert diff[3:-3, 3:-3].any()
    # Rounding the float pipeline by hand gives the same as round_between_passes=False.
    floats = imresize(hr.astype(np.float64), 1 / 3)
    assert floats.dtype == np.float64
    assert np.array_equal(np.floor(np.clip(floats, 0, 255) + 0.5).astype(np.uint8), once)


@pytest.mark.parametrize("scale", SCALES)
def test_symmetric_differs_only_near_edges(scale: int) -> None:
    rng = np.random.default_rng(scale)
    img = rng.integers(0, 256, (61, 47, 3), dtype=np.uint8)
    rep = imresize(img, 1 / scale, border="replicate")
    sym = imresize(img, 1 / scale, border="symmetric")
    assert rep.shape == sym.shape == (math.ceil(61 / scale), math.ceil(47 / scale), 3)
    assert not np.array_equal(rep, sym)
    assert np.array_equal(rep[3:-3, 3:-3], sym[3:-3, 3:-3])


@pytest.mark.parametrize("scale", [0.25, 1 / 3, 0.7, 1.5, 2.0])
def test_matches_straightforward_implementation(scale: float) -> None:
    rng = np.random.default_rng(7)
    img = rng.random((23, 19))
    out = imresize(img, scale)
    oh, ow = math.ceil(23 * scale - 1e-9), math.ceil(19 * scale - 1e-9)
    ref = _reference_resize(_reference_resize(img, oh, scale).T, ow, scale).T
    assert out.shape == (oh, ow)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-12)


def test_float_mode_keeps_dtype_and_is_unrounded() -> None:
    rng = np.random.default_rng(3)
    img = rng.random((20, 30, 3)).astype(np.float32)
    out = imresize(img, 0.5)
    assert out.dtype == np.float32 and out.shape == (10, 15, 3)
    assert not np.allclose(out * 255, np.round(out * 255))
    flat = np.full((12, 10), 0.37)
    np.testing.assert_allclose(imresize(flat, 2.0), 0.37, atol=1e-12)


def test_grey_matches_channels_and_uint16() -> None:
    rng = np.random.default_rng(4)
    img = rng.integers(1, 256, (30, 24, 3), dtype=np.uint8)
    out = imresize(img, 0.5)
    for c in range(3):
        assert np.array_equal(imresize(img[:, :, c], 0.5), out[:, :, c])
    wide = rng.integers(1, 65536, (30, 24), dtype=np.uint16)
    out16 = imresize(wide, 0.5)
    assert out16.dtype == np.uint16 and out16.shape == (15, 12)
    floats = imresize(wide.astype(np.float64), 0.5)
    assert np.abs(out16 - np.clip(floats, 0, 65535)).max() <= 1.0


def test_output_shape_and_identity() -> None:
    rng = np.random.default_rng(5)
    img = rng.integers(1, 256, (17, 13), dtype=np.uint8)
    assert imresize(img, output_shape=(9, 30)).shape == (9, 30)
    same = imresize(img, 1.0)
    assert np.array_equal(same, img) and same is not img
    assert matlab_downscale(img, 3).shape == (5, 4)


def test_errors() -> None:
    img = np.ones((8, 8), dtype=np.uint8)
    with pytest.raises(ValueError, match="scale"):
        imresize(img, 0)
    with pytest.raises(ValueError, match="scale"):
        imresize(img, -2)
    with pytest.raises(ImageError, match="non-empty"):
        imresize(np.zeros((0, 5), np.uint8), 0.5)
    assert imresize(img, 0.01).shape == (1, 1)  # MATLAB's ceil never gives 0 px
    with pytest.raises(ImageError, match="1 px"):
        imresize(img, 1e-12)
    with pytest.raises(ImageError, match="1 px"):
        imresize(img, output_shape=(0, 4))
    with pytest.raises(ValueError, match="border"):
        imresize(img, 0.5, border="wrap")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="dtype"):
        imresize(img.astype(np.int32), 0.5)
    with pytest.raises(ValueError, match="positive integer"):
        matlab_downscale(img, 2.5)  # type: ignore[arg-type]
    with pytest.raises(ImageError, match="smaller than the scale"):
        matlab_downscale(np.ones((2, 9), np.uint8), 3)
