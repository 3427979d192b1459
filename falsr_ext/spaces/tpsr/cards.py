"""Model cards: the three released TPSR generators, and the card of any fresh network.

Reference figures are the shared README's (Set5 x4, the shared ``LR_bicubic/X4`` inputs,
protocol ``"y-float"``: SR clamped and rounded, float studio Y, 4 px crop, MATLAB SSIM).
The weights are never bundled: the release has no licence.
"""

from __future__ import annotations

from dataclasses import replace

from falsr_ext.spaces.base import ModelCard
from falsr_ext.spaces.tpsr.arch import RELEASED_ARCH, TpsrArch
from falsr_ext.spaces.tpsr.count import receptive_radius

PAPER = ("Lee, Dudziak, Abdelfattah, Venieris, Kim, Wen, Lane: Journey Towards Tiny "
         "Perceptual Super-Resolution, ECCV 2020")


def derive_card(arch: TpsrArch, scale: int, name: str = "tpsr-custom") -> ModelCard:
    """The card of a network of ``arch`` at ``scale`` with no released weights."""
    return ModelCard(
        name=name, space="tpsr", arch=arch.to_string(), scale=scale, colour="rgb",
        input_range=255.0, tiling="exact", halo=receptive_radius(arch, scale), min_size=1,
        protocol="y-float", paper=PAPER,
    )


def _released(name: str, weights: str, sha256: str, psnr: float, ssim: float) -> ModelCard:
    return replace(
        derive_card(RELEASED_ARCH, 4, name), sha256=sha256, weights=weights, reference={
            "Set5": {"psnr": psnr, "ssim": ssim},
            "params": 61_097,
            # LR HxW -> MACs of all convs (MeanShift included) / without the MeanShift 1x1s
            "macs": {"180x320": 3_571_718_400, "120x120": 892_929_600},
            "macs_excluding_meanshift": {"180x320": 3_562_905_600, "120x120": 890_726_400},
        },
    )


CARDS: dict[str, ModelCard] = {c.name: c for c in (
    _released("tpsr-nogan", "TPSR_NOGANX4.pt",
              "2951ceca75f792056cdbac1159ee8d927d2bd353c4fd7e674290cfd368327ab7",
              31.1027, 0.8779),
    _released("tpsr-esrgan", "TPSR_ESRGANX4.pt",
              "bcf2a9cfa886585e062995644f7da06f519a53c8aeb0b6b47d5f6a45bbb5dbc1",
              29.5149, 0.8375),
    _released("tpsr-d2", "TPSR_D2X4.pt",
              "bf86676b483cad500369cbc112a02149e68bc4e275fbd6fb3de8fd1a2af23bfc",
              29.6050, 0.8424),
)}


def card_for_sha256(sha256: str) -> ModelCard | None:
    """The released card whose weights file has this sha256 (hex), if any."""
    key = sha256.strip().lower()
    return next((c for c in CARDS.values() if c.sha256 == key), None)


def card_for_name(name: str) -> ModelCard | None:
    """The released card called ``name`` (case-insensitive), if any."""
    return CARDS.get(name.strip().lower())
