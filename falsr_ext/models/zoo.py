"""FALSR-A, -B and -C genotypes, wired exactly as the released graphs.

Source: the official frozen graphs (cell names ``<type>_f<f>_k<k>_b<b>_<flag>`` and their
inputs); see ``../shared/docs/falsr-reference.md``. The official weights are not shipped
(no licence): load them with :func:`falsr_ext.convert.convert_pb`.
"""

from __future__ import annotations

from falsr_ext.space import Genotype

FALSR_A = Genotype.from_string(
    "conv-k3-f64-b4-skip@F/conv-k1-f48-b1-skip@c0/conv-k3-f64-b4-skip@c1/"
    "conv-k3-f64-b4-skip@c1+c2/conv-k3-f64-b4-skip@F+c1+c3/conv-k1-f64-b4-noskip@c4/"
    "conv-k3-f64-b4-skip@F+c1+c4+c5/fuse@F+c0+c1+c2+c3+c4+c5+c6",
    name="FALSR-A",
)

FALSR_B = Genotype.from_string(
    "ib-k3-f16-b1-skip@F/ib-k1-f48-b2-skip@F+c0/conv-k1-f16-b2-skip@F+c0+c1/"
    "ib-k3-f32-b4-noskip@c2/conv-k3-f64-b2-noskip@c1+c2+c3/g4-k3-f16-b4-noskip@c1+c3+c4/"
    "conv-k3-f16-b1-skip@F+c0+c1+c5/fuse@c0+c3+c5+c6",
    name="FALSR-B",
)

FALSR_C = Genotype.from_string(
    "g2-k1-f32-b1-noskip@F/conv-k1-f64-b4-noskip@F+c0/ib-k3-f48-b4-noskip@c1/"
    "g2-k1-f32-b1-noskip@c0+c2/g4-k1-f32-b1-skip@F+c3/conv-k1-f48-b4-noskip@F+c4/"
    "conv-k3-f16-b1-skip@c0+c5/fuse@F+c1+c5+c6",
    name="FALSR-C",
)

ZOO_GENOTYPES: dict[str, Genotype] = {"FALSR-A": FALSR_A, "FALSR-B": FALSR_B, "FALSR-C": FALSR_C}

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
