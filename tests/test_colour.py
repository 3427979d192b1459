"""Colour conversions of the evaluation protocol."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from falsr_ext.data import (
    falsr_compose_rgb,
    pil_bicubic_upscale,
    read_image,
    rgb_to_y_studio,
    rgb_to_ycbcr_studio,
    rgb_to_ypbpr,
    to_rgb,
    ycbcr_studio_to_rgb,
    ypbpr_to_rgb,
)
from falsr_ext.errors import ImageError


def test_ypbpr_known_values() -> None:
    colours = np.array([[[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0], [1.0, 1.0, 1.0]]])
    expected = np.array(
        [
            [
                [0.299, -0.168736, 0.5],
                [0.587, -0.331264, -0.418688],
                [0.114, 0.5, -0.081312],
                [1.0, 0.0, 0.0],
            ]
        ]
    )
    np.testing.assert_allclose(rgb_to_ypbpr(colours), expected, atol=1e-15)


def test_ypbpr_round_trip() -> None:
    rgb = np.random.default_rng(0).random((16, 9, 3))
    ypbpr = rgb_to_ypbpr(rgb)
    assert ypbpr[..., 0].min() >= 0 and np.abs(ypbpr[..., 1:]).max() <= 0.5
    np.testing.assert_allclose(ypbpr_to_rgb(ypbpr), rgb, atol=1e-12)
    with pytest.raises(ImageError, match="float"):
        rgb_to_ypbpr((rgb * 255).astype(np.uint8))


def test_studio_y() -> None:
    rng = np.random.default_rng(1)
    rgb = rng.integers(1, 256, (8, 10, 3), dtype=np.uint8)
    r, g, b = (rgb[..., c] / 255.0 for c in range(3))
    np.testing.assert_allclose(
        rgb_to_y_studio(rgb), 16 + 65.481 * r + 128.553 * g + 24.966 * b, atol=1e-12
    )
    ends = np.array([[[0, 0, 0], [255, 255, 255]]], dtype=np.uint8)
    np.testing.assert_allclose(rgb_to_y_studio(ends), [[16.0, 235.0]], atol=1e-12)
    grey = rgb[..., 0]
    assert np.array_equal(rgb_to_y_studio(grey), rgb_to_y_studio(to_rgb(grey)))
    ycc = rgb_to_ycbcr_studio(rgb)
    assert np.array_equal(ycc[..., 0], rgb_to_y_studio(rgb))
    np.testing.assert_allclose(rgb_to_ycbcr_studio(ends)[0, :, 1:], 128.0, atol=1e-12)
    np.testing.assert_allclose(ycbcr_studio_to_rgb(ycc), rgb, atol=1e-9)


def test_compose_truncates_and_clips() -> None:
    y = np.array([[0.5, 2.0, -1.0]])
    pbpr = np.zeros((1, 3, 2))
    # Y' = 127.5, Cb = Cr = 127.5: R = 126.799, G = 128.029, B = 126.614 -> truncated.
    assert falsr_compose_rgb(y, pbpr).tolist() == [[[126, 128, 126], [255, 255, 255], [0, 0, 0]]]
    # A value just below an integer stays below it: truncation, not rounding.
    y_near = np.array([[100.9 / 255.0]])
    out = falsr_compose_rgb(y_near[:, :, None], np.full((1, 1, 2), 0.5 / 255.0))
    assert out.dtype == np.uint8 and out[0, 0, 0] == 100
    with pytest.raises(ImageError, match="chroma"):
        falsr_compose_rgb(np.zeros((2, 2)), np.zeros((2, 3, 2)))


def test_pil_bicubic_upscale() -> None:
    rng = np.random.default_rng(2)
    rgb = rng.integers(1, 256, (7, 9, 3), dtype=np.uint8)
    up = pil_bicubic_upscale(rgb, 2)
    assert up.shape == (14, 18, 3) and up.dtype == np.uint8
    direct = np.asarray(Image.fromarray(rgb).resize((18, 14), Image.Resampling.BICUBIC))
    assert np.array_equal(up, direct)
    for c in range(3):  # channel-wise: a greyscale upscale of each channel agrees
        assert np.array_equal(pil_bicubic_upscale(rgb[:, :, c], 2), up[:, :, c])
    assert pil_bicubic_upscale(rgb[:, :, :1], 3).shape == (21, 27, 1)
    with pytest.raises(ImageError, match="uint8"):
        pil_bicubic_upscale(rgb.astype(np.float32), 2)


def test_reproduces_official_rgb_output(shared_dir: Path) -> None:
    """Official FALSR-A luma + our chroma path give the official SR.png.

    The stored luma is clipped and 16-bit quantised, so pixels where it clipped are left
    out and a few truncation-edge pixels may be off by one.
    """
    ref = shared_dir / "falsr" / "reference" / "FALSR-A" / "Set5"
    if not ref.is_dir():
        pytest.skip(f"{ref} absent")
    for sr_path in sorted(ref.glob("*_SR.png")):
        name = sr_path.name[: -len("_SR.png")]
        y16 = read_image(ref / f"{name}_Y16.png")[:, :, 0]
        lr = to_rgb(
            read_image(shared_dir / "data" / "Set5" / "LR_bicubic" / "X2" / f"{name}x2.png")
        )
        pbpr = rgb_to_ypbpr(pil_bicubic_upscale(lr, 2) / 255.0)[..., 1:]
        out = falsr_compose_rgb(y16 / 65535.0, pbpr).astype(int)
        keep = (y16 > 0) & (y16 < 65535)
        diff = np.abs(out - read_image(sr_path))[keep]
        assert diff.max() <= 1, name
        assert (diff > 0).mean() < 0.003, name
