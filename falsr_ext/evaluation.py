"""Standard x-scale evaluation of a network of any space on a benchmark folder.

The protocol is the model card's (:attr:`~falsr_ext.spaces.base.ModelCard.protocol`):

* ``"falsr"`` (FALSR's release): the network on analog luma, PIL-bicubic chroma,
  truncated uint8 RGB; PSNR and SSIM on studio Y rounded to integers, ``scale`` px crop.
* ``"y-float"`` (DLSR's and TPSR's releases): the RGB network on 0..255, output clamped
  and rounded to uint8; PSNR and SSIM on float studio Y, ``scale`` px crop, MATLAB SSIM.

LPIPS (``metrics`` with ``"lpips"``) compares the full RGB output with the HR image, no
border crop (TPSR's convention).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from falsr_ext.data.pairs import PairedFolder
from falsr_ext.dtypes import parse_network_dtype
from falsr_ext.errors import FalsrError
from falsr_ext.metrics import psnr, ssim
from falsr_ext.pipeline import upscale_rgb_falsr

METRICS = ("psnr", "ssim", "lpips")
PROTOCOLS = {
    "falsr": "FALSR: network on analog luma, PIL-bicubic chroma, truncated uint8 RGB; "
             "PSNR/SSIM on studio Y rounded to integers, {s} px border crop",
    "y-float": "RGB network on 0..255, output clamped and rounded to uint8; PSNR/SSIM on "
               "float studio Y = 16 + (65.481 R + 128.553 G + 24.966 B)/255, {s} px border "
               "crop, MATLAB SSIM (11x11 Gaussian, sigma 1.5)",
}
LPIPS_PROTOCOL = "LPIPS-{net} v0.1 on the full RGB output vs HR (inputs x/127.5 - 1), no crop"


@dataclass
class EvalResult:
    """Mean PSNR / SSIM (and LPIPS when asked) over a dataset, plus per-image figures."""

    model: str
    dataset: str
    scale: int
    psnr: float
    ssim: float
    images: int
    per_image: list[dict[str, Any]] = field(default_factory=list)
    protocol: str = ""
    lpips: float | None = None

    def to_dict(self, per_image: bool = False) -> dict[str, Any]:
        """JSON-ready dict; per-image results only when asked for, LPIPS when measured."""
        out = asdict(self)
        if not per_image:
            out.pop("per_image")
        if out["lpips"] is None:
            out.pop("lpips")
        return out


def evaluate(
    model: nn.Module,
    data: str | os.PathLike[str],
    scale: int | None = None,
    progress: bool = False,
    model_name: str | None = None,
    dtype: str | torch.dtype = "float32",
    metrics: Sequence[str] = ("psnr", "ssim"),
    lpips_net: str = "alex",
    lpips_weights: str | os.PathLike[str] | None = None,
) -> EvalResult:
    """Evaluate ``model`` on ``data`` (a folder with ``HR/`` and optional ``LR_bicubic/``)
    with the protocol of the model's card (see the module doc).

    ``scale`` defaults to the model's and must equal it. ``dtype`` ("float32" or
    "bfloat16") is the network's precision (FALSR networks: the fused engine; other
    spaces run their plain module in float32). ``metrics``: PSNR and SSIM are always
    computed; add ``"lpips"`` for LPIPS-``lpips_net`` (``"alex"`` or ``"vgg"``) with the
    weights file ``lpips_weights`` (or ``$FALSR_LPIPS_WEIGHTS``).
    """
    net_dtype = parse_network_dtype(dtype)
    scale = model.scale if scale is None else scale
    if scale != model.scale:
        raise FalsrError(f"the model upscales x{model.scale}, not x{scale}")
    unknown = [m for m in metrics if m not in METRICS]
    if unknown:
        raise FalsrError(f"unknown metric(s) {', '.join(map(repr, unknown))} "
                         f"(known: {', '.join(METRICS)})")
    card = getattr(model, "card", None)
    protocol = card.protocol if card is not None else "falsr"
    if protocol not in PROTOCOLS:
        raise FalsrError(f"no evaluation protocol {protocol!r} (known: {', '.join(PROTOCOLS)})")
    if protocol != "falsr" and net_dtype != torch.float32:
        raise FalsrError(f"--dtype {dtype}: only FALSR networks have a bf16 engine; "
                         f"{getattr(model, 'space', 'this')} networks run in float32")
    lpips_model = _lpips_model(lpips_net, lpips_weights) if "lpips" in metrics else None
    folder = PairedFolder(data, scale)  # checks the folder before any work
    rows: list[dict[str, Any]] = []
    pairs = iter(folder)
    if progress:
        from tqdm import tqdm

        # disable=None: a bar on a terminal only, never junk in logs or pipes
        pairs = tqdm(pairs, total=len(folder), desc=f"{folder.name} x{scale}", unit="img",
                     disable=None, leave=False)
    round_y = protocol == "falsr"
    for pair in pairs:
        if protocol == "falsr":
            sr, _ = upscale_rgb_falsr(model, pair.lr, net_dtype)
        else:
            sr = _run_rgb255(model, pair.lr)
        row = {
            "image": pair.name,
            "psnr": float(psnr(sr, pair.hr, crop_border=scale, round_y=round_y)),
            "ssim": float(ssim(sr, pair.hr, crop_border=scale, round_y=round_y)),
        }
        if lpips_model is not None:
            row["lpips"] = lpips_model(sr, pair.hr)
        rows.append(row)
    n = len(rows)
    description = PROTOCOLS[protocol].format(s=scale)
    if lpips_model is not None:
        description += "; " + LPIPS_PROTOCOL.format(net=lpips_net)
    return EvalResult(
        model=model_name or _model_name(model),
        dataset=folder.name,
        scale=scale,
        psnr=sum(r["psnr"] for r in rows) / n,
        ssim=sum(r["ssim"] for r in rows) / n,
        images=n,
        per_image=rows,
        protocol=description,
        lpips=sum(r["lpips"] for r in rows) / n if lpips_model is not None else None,
    )


def _model_name(model: nn.Module) -> str:
    genotype = getattr(model, "genotype", None)
    if genotype is not None:
        return genotype.name or genotype.to_string()
    card = getattr(model, "card", None)
    return card.name if card is not None else type(model).__name__


@torch.inference_mode()
def _run_rgb255(model: nn.Module, lr: np.ndarray) -> np.ndarray:
    """uint8 HxWx3 LR -> uint8 HxWx3 SR for a network on RGB 0..255 (clamp, round)."""
    x = torch.from_numpy(np.array(lr, dtype=np.float32)).permute(2, 0, 1)[None]
    param = next(model.parameters())
    y = model(x.to(param.device))[0].clamp(0, 255).round()
    return y.to("cpu", torch.uint8).permute(1, 2, 0).numpy()


def _lpips_model(net: str, weights: str | os.PathLike[str] | None):
    """A callable (sr, hr uint8 HxWx3) -> LPIPS distance, built once per evaluation."""
    from falsr_ext.metrics.lpips import get_lpips, lpips_distance

    get_lpips(net, weights)  # finds and checks the weights before any image is scored
    return lambda sr, hr: lpips_distance(sr, hr, net=net, weights=weights)
