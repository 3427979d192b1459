"""Standard x-scale evaluation of a network on a benchmark folder (PSNR / SSIM on Y)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from falsr_ext.data.pairs import PairedFolder
from falsr_ext.dtypes import parse_network_dtype
from falsr_ext.metrics import psnr, ssim
from falsr_ext.models.falsr_net import FalsrNet
from falsr_ext.pipeline import upscale_rgb_falsr


@dataclass
class EvalResult:
    """Mean PSNR / SSIM over a dataset, plus the per-image figures."""

    model: str
    dataset: str
    scale: int
    psnr: float
    ssim: float
    images: int
    per_image: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self, per_image: bool = False) -> dict[str, Any]:
        """JSON-ready dict; per-image results only when asked for."""
        out = asdict(self)
        if not per_image:
            out.pop("per_image")
        return out


def evaluate(
    model: FalsrNet,
    data: str | os.PathLike[str],
    scale: int | None = None,
    progress: bool = False,
    model_name: str | None = None,
    dtype: str | torch.dtype = "float32",
) -> EvalResult:
    """Evaluate ``model`` on ``data`` (a folder with ``HR/`` and optional ``LR_bicubic/``).

    Protocol (the official FALSR one): network on analog luma, PIL-bicubic chroma,
    truncated uint8 RGB; PSNR and SSIM on rounded studio Y with ``scale`` px cropped.
    ``scale`` defaults to the model's and must equal it. ``dtype`` ("float32" or
    "bfloat16") is the network's precision (the fused engine on the CPU).
    """
    net_dtype = parse_network_dtype(dtype)
    scale = model.scale if scale is None else scale
    if scale != model.scale:
        raise ValueError(f"the model upscales x{model.scale}, not x{scale}")
    folder = PairedFolder(data, scale)
    rows: list[dict[str, Any]] = []
    pairs = iter(folder)
    if progress:
        from tqdm import tqdm

        # disable=None: a bar on a terminal only, never junk in logs or pipes
        pairs = tqdm(pairs, total=len(folder), desc=f"{folder.name} x{scale}", unit="img",
                     disable=None, leave=False)
    for pair in pairs:
        sr, _ = upscale_rgb_falsr(model, pair.lr, net_dtype)
        rows.append({
            "image": pair.name,
            "psnr": float(psnr(sr, pair.hr, crop_border=scale, test_y_channel=True)),
            "ssim": float(ssim(sr, pair.hr, crop_border=scale, test_y_channel=True)),
        })
    n = len(rows)
    return EvalResult(
        model=model_name or model.genotype.name or model.genotype.to_string(),
        dataset=folder.name,
        scale=scale,
        psnr=sum(r["psnr"] for r in rows) / n,
        ssim=sum(r["ssim"] for r in rows) / n,
        images=n,
        per_image=rows,
    )

