"""Model cards of the three released DLSR x2 networks (weights never shipped: no licence;
read from the user's copy) and the card of any other DLSR network.

The checkpoints do not record their wiring; the cards pin it (by the file's sha256),
as measured in ``../shared/dlsr/README.md``: the wrong wiring loads but scores ~34 dB.
Reference figures: that README's protocol (float Y, crop 2, MATLAB SSIM), 4 decimals.
"""

from __future__ import annotations

from falsr_ext.spaces.base import ModelCard
from falsr_ext.spaces.dlsr.arch import WIRING_A, WIRING_B, DlsrArch
from falsr_ext.spaces.dlsr.esa import ESA_MIN_SIZE
from falsr_ext.spaces.dlsr.receptive import receptive_radius

PAPER = ("Huang et al., Lightweight Image Super-Resolution with Hierarchical and "
         "Differentiable Neural Architecture Search, arXiv 2105.03939")
GENOTYPE_A = ("conv_1x1", "sep_conv_7x7", "sep_conv_5x5")
GENOTYPE_B = ("sep_conv_3x3", "sep_conv_5x5", "sep_conv_5x5")

# name: (nf, ops, wiring, file, sha256, params, MACs @ 480x480, MACs @ 360x640,
#        {set: (PSNR, SSIM)})
_RELEASED = {
    "dlsr-full": (48, GENOTYPE_A, WIRING_A, "RFDN_beta21_ps128_20210128_1000.pt",
                  "d2d9253e8ab69ad3d681244b8673353538d2ed5a024c9a5a273cecb8b7a00ecb",
                  322_620, 67_306_254_048, 67_306_238_496,
                  {"Set5": (38.0392, 0.96061), "Set14": (33.6350, 0.91838),
                   "B100": (32.2353, 0.90031)}),
    "dlsr-para": (48, GENOTYPE_B, WIRING_B, "RFDN_beta1_para_loss.pt",
                  "5966582411f3dd016ff9bdd6012cfdf60aea45519e50d62c0f4fa4c6bca8deb8",
                  327_804, 68_500_647_648, 68_500_632_096,
                  {"Set5": (38.0439, 0.96061), "Set14": (33.6187, 0.91811),
                   "B100": (32.2309, 0.90031)}),
    "dlsr-tiny": (18, GENOTYPE_A, WIRING_A, "RFDN_beta21_tiny18_ps128_20210306_lr4_700.pt",
                  "d08440aea6686aef995b08118c87801df1e231f66ffb97209f1d4e43ebdbdcd1",
                  56_268, 12_068_501_472, 12_068_499_744,
                  {"Set5": (37.7164, 0.95949), "Set14": (33.2686, 0.91511),
                   "B100": (31.9824, 0.89747)}),
}


def derived_card(arch: DlsrArch, scale: int, name: str = "dlsr") -> ModelCard:
    """The card of a DLSR network that is not a released one."""
    return ModelCard(
        name=name, space="dlsr", arch=arch.to_string(), scale=scale, colour="rgb",
        input_range=255.0, tiling="approximate", halo=receptive_radius(arch),
        min_size=ESA_MIN_SIZE, protocol="y-float", paper=PAPER)


def released_cards() -> dict[str, ModelCard]:
    """``dlsr-full``, ``dlsr-para`` and ``dlsr-tiny`` (x2), by name.

    ``reference`` holds ``{"Set5": {"psnr", "ssim"}, "Set14": ..., "B100": ...,
    "params": int, "macs": {"480x480": int, "360x640": int}}``.
    """
    cards = {}
    for name, (nf, ops, wiring, file, sha, params, m480, m720, sets) in _RELEASED.items():
        arch = DlsrArch(nf, ops, wiring)
        reference: dict = {s: {"psnr": p, "ssim": q} for s, (p, q) in sets.items()}
        reference.update(params=params, macs={"480x480": m480, "360x640": m720})
        cards[name] = ModelCard(
            name=name, space="dlsr", arch=arch.to_string(), scale=2, colour="rgb",
            input_range=255.0, tiling="approximate", halo=receptive_radius(arch),
            min_size=ESA_MIN_SIZE, protocol="y-float", sha256=sha, weights=file,
            paper=PAPER, reference=reference)
    return cards


def card_for_sha256(digest: str) -> ModelCard | None:
    """The released card whose weights file has this sha256 (hex), or ``None``."""
    key = digest.strip().lower()
    return next((c for c in released_cards().values() if c.sha256 == key), None)


def card_for_name(name: str) -> ModelCard | None:
    """The released card called ``name`` (``"dlsr-full"``, or just ``"full"``), or ``None``."""
    key = name.strip().lower()
    cards = released_cards()
    return cards.get(key) or cards.get(f"dlsr-{key}")
