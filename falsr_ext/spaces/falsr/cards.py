"""Model cards of FALSR-space models: the released FALSR-A/B/C (weights not shipped: no
licence) and the bundled default model, and the card of any other FALSR network."""

from __future__ import annotations

import functools

from falsr_ext.spaces.base import ModelCard

PAPER = "Chu et al., Fast, Accurate and Lightweight Super-Resolution with NAS, arXiv 1901.07261"


def card_of(model) -> ModelCard:  # model: FalsrNet (not imported: models imports spaces)
    """The card of a FALSR network: a zoo or default card when its genotype is one,
    else one derived from the network."""
    from falsr_ext.receptive import receptive_radius

    arch = model.genotype.to_string()
    for known in released_cards().values():  # by architecture: files may carry no name
        if known.arch == arch and known.scale == model.scale and model.in_channels == 1:
            return known
    return ModelCard(
        name=model.genotype.name or "falsr", space="falsr", arch=model.genotype.to_string(),
        scale=model.scale, colour="luma" if model.in_channels == 1 else "rgb",
        input_range=1.0, tiling="exact", halo=receptive_radius(model.genotype, model.scale),
        min_size=1, protocol="falsr", paper=PAPER)


@functools.cache
def released_cards() -> dict[str, ModelCard]:
    """FALSR-A, -B, -C (official weights, read from the user's copy) and ``default``."""
    from falsr_ext.models.default import DEFAULT_GENOTYPE
    from falsr_ext.models.zoo import OFFICIAL_MEASURED, PAPER_TABLE1, ZOO_GENOTYPES
    from falsr_ext.receptive import receptive_radius
    from falsr_ext.space import Genotype

    cards = {}
    for name, genotype in ZOO_GENOTYPES.items():
        cards[name] = ModelCard(
            name=name, space="falsr", arch=genotype.to_string(), scale=2, colour="luma",
            input_range=1.0, tiling="exact", halo=receptive_radius(genotype, 2), min_size=1,
            protocol="falsr", weights=f"{name}.pb", paper=PAPER,
            reference={"paper": PAPER_TABLE1[name],
                       "official_measured": {k: {"psnr": v[0], "ssim": v[1]}
                                             for k, v in OFFICIAL_MEASURED[name].items()}})
    # (cards are frozen dataclasses, but ``reference`` is a dict: callers must not edit it)
    default = Genotype.from_string(DEFAULT_GENOTYPE, name="default")
    cards["default"] = ModelCard(
        name="default", space="falsr", arch=default.to_string(), scale=2, colour="luma",
        input_range=1.0, tiling="exact", halo=receptive_radius(default, 2), min_size=1,
        protocol="falsr", weights="falsr_ext/models/default-x2.safetensors (bundled)",
        paper="trained by this project (python/train_default.py)",
        reference={"Set5": {"psnr": 37.1464}, "Set14": {"psnr": 32.8049},
                   "B100": {"psnr": 31.6390}})
    return cards
