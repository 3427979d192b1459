"""The FALSR model zoo: FALSR-A, -B and -C as genotypes, with their published and
measured scores.

The genotypes come from :data:`falsr_ext.zoo_specs.ZOO_SPECS` (the released graphs'
wiring). The official weights are not shipped (no licence): load them with
:func:`falsr_ext.convert.convert_pb`.
"""

from __future__ import annotations

from falsr_ext.space import Genotype, parse_genotype
from falsr_ext.zoo_specs import ZOO_SPECS

# parse_genotype hands out one shared Genotype per zoo name, so these are the very
# objects ``parse_genotype("FALSR-A")`` returns.
ZOO_GENOTYPES: dict[str, Genotype] = {name: parse_genotype(name) for name in ZOO_SPECS}
FALSR_A = ZOO_GENOTYPES["FALSR-A"]
FALSR_B = ZOO_GENOTYPES["FALSR-B"]
FALSR_C = ZOO_GENOTYPES["FALSR-C"]

# Published Table 1 of the paper (x2): params, mult-adds (480x480 LR), PSNR/SSIM.
PAPER_TABLE1: dict[str, dict[str, object]] = {
    "FALSR-A": {"params": 1_021_000, "macs": 234.7e9,
                "Set5": (37.82, 0.9595), "Set14": (33.55, 0.9168),
                "B100": (32.12, 0.8987), "Urban100": (31.93, 0.9256)},
    "FALSR-B": {"params": 326_000, "macs": 74.7e9,
                "Set5": (37.61, 0.9585), "Set14": (33.29, 0.9143),
                "B100": (31.97, 0.8967), "Urban100": (31.28, 0.9191)},
    "FALSR-C": {"params": 408_000, "macs": 93.7e9,
                "Set5": (37.66, 0.9586), "Set14": (33.26, 0.9140),
                "B100": (31.96, 0.8965), "Urban100": (31.24, 0.9187)},
}

# The official graphs measured with TensorFlow under the standard protocol (x2).
OFFICIAL_MEASURED: dict[str, dict[str, tuple[float, float]]] = {
    "FALSR-A": {"Set5": (37.8219, 0.95946), "Set14": (33.5484, 0.91683),
                "B100": (32.1150, 0.89870)},
    "FALSR-B": {"Set5": (37.6140, 0.95852), "Set14": (33.2916, 0.91438),
                "B100": (31.9690, 0.89666)},
    "FALSR-C": {"Set5": (37.6604, 0.95863), "Set14": (33.2593, 0.91401),
                "B100": (31.9601, 0.89652)},
}


def zoo_names() -> list[str]:
    """Names of the genotypes in the zoo."""
    return list(ZOO_GENOTYPES)


def get_genotype(name: str) -> Genotype:
    """Look up a zoo genotype by name (case-insensitive)."""
    from falsr_ext.errors import GenotypeError

    key = name.strip().upper()
    if key not in ZOO_GENOTYPES:
        raise GenotypeError(f"model: unknown zoo name {name!r} (known: {', '.join(ZOO_GENOTYPES)})")
    return ZOO_GENOTYPES[key]
