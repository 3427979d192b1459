"""FALSR-A, -B and -C as compact genotype strings, wired exactly as the released graphs.

Source: the official frozen graphs (cell names ``<type>_f<f>_k<k>_b<b>_<flag>`` and their
inputs); see ``../shared/docs/falsr-reference.md``.

Plain data at the bottom of the package: :func:`falsr_ext.space.parse_genotype` resolves
zoo names from it and :mod:`falsr_ext.models.zoo` builds its genotypes from it, so the
space never imports the zoo (which imports the space).
"""

from __future__ import annotations

ZOO_SPECS: dict[str, str] = {
    "FALSR-A": (
        "conv-k3-f64-b4-skip@F/conv-k1-f48-b1-skip@c0/conv-k3-f64-b4-skip@c1/"
        "conv-k3-f64-b4-skip@c1+c2/conv-k3-f64-b4-skip@F+c1+c3/conv-k1-f64-b4-noskip@c4/"
        "conv-k3-f64-b4-skip@F+c1+c4+c5/fuse@F+c0+c1+c2+c3+c4+c5+c6"
    ),
    "FALSR-B": (
        "ib-k3-f16-b1-skip@F/ib-k1-f48-b2-skip@F+c0/conv-k1-f16-b2-skip@F+c0+c1/"
        "ib-k3-f32-b4-noskip@c2/conv-k3-f64-b2-noskip@c1+c2+c3/g4-k3-f16-b4-noskip@c1+c3+c4/"
        "conv-k3-f16-b1-skip@F+c0+c1+c5/fuse@c0+c3+c5+c6"
    ),
    "FALSR-C": (
        "g2-k1-f32-b1-noskip@F/conv-k1-f64-b4-noskip@F+c0/ib-k3-f48-b4-noskip@c1/"
        "g2-k1-f32-b1-noskip@c0+c2/g4-k1-f32-b1-skip@F+c3/conv-k1-f48-b4-noskip@F+c4/"
        "conv-k3-f16-b1-skip@c0+c5/fuse@F+c1+c5+c6"
    ),
}
