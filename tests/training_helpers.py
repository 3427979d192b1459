"""Helpers of the training tests: small synthetic HR folders and weight comparisons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

# A small genotype that trains fast: one cell of each kind the trainer must handle.
TINY_GENOTYPE = ("conv-k3-f16-b2-skip@F/ib-k3-f16-b1-skip@c0/g2-k1-f16-b1-noskip@c1/"
                 "conv-k1-f16-b1-noskip@c2/conv-k3-f16-b1-noskip@c0+c3/"
                 "g4-k3-f16-b1-noskip@c4/conv-k1-f16-b1-noskip@c5/fuse@F+c6")


def make_hr_folder(root: Path, count: int = 4, size: tuple[int, int] = (40, 36),
                   seed: int = 0) -> Path:
    """``count`` smooth random RGB PNGs (never flat) in ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    for i in range(count):
        chans = []
        for _ in range(3):
            fx, fy, ph = rng.uniform(1, 6), rng.uniform(1, 6), rng.uniform(0, 6.3)
            wave = 0.5 + 0.4 * np.sin(2 * np.pi * (fx * xx + fy * yy) + ph)
            chans.append(wave + rng.normal(0, 0.03, (h, w)))
        img = np.clip(np.stack(chans, -1) * 255, 0, 255).astype(np.uint8)
        Image.fromarray(img).save(root / f"img{i:02d}.png")
    return root


def state_max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """Max abs difference over the tensors of two state dicts with the same keys."""
    assert a.keys() == b.keys()
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of one of our .safetensors files."""
    from safetensors.torch import load_file

    return load_file(str(path))
