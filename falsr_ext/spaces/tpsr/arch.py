"""The TPSR generator architecture: one DAG cell after a 3x3 stem (Lee et al., ECCV 2020).

A :class:`TpsrArch` is ``n_feats`` (the width of every node), the nodes in order (each
an op and one input: the stem ``"s"`` or an earlier node's index) and the set of nodes
whose outputs are summed before the merge PReLU. The scale is not part of it: the same
architecture builds for x2, x3, x4 or x8 (:func:`upsample_factors`).

Compact string (stable, human readable; nodes are numbered by position)::

    f16/sep5@s,conv7@0,conv7@1,conv3@2,conv3@2,conv5@4,sep3@5,conv5@3,conv3@7,conv7@s/sum=9+8+6

The summed set is kept in decreasing node order (the order the release adds them in), so
one network has one string. Every node must reach the sum: a node that feeds neither a
later node nor the sum would be dead weight with no effect on the output, so it is an
error rather than silently built (:func:`~falsr_ext.spaces.tpsr.sample.prune` drops them).
Parsing and JSON live in :mod:`~falsr_ext.spaces.tpsr.text`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from falsr_ext.errors import GenotypeError

# op -> (kind, kernel). "conv": kxk conv + PReLU; "sep": depthwise kxk (no bias), PReLU,
# pointwise 1x1, PReLU.
OPS: dict[str, tuple[str, int]] = {
    "conv3": ("conv", 3), "conv5": ("conv", 5), "conv7": ("conv", 7),
    "sep3": ("sep", 3), "sep5": ("sep", 5),
}
STEM = "s"
MAX_NODES = 64  # sanity limits on user input (the release has 10 nodes)
MAX_FEATS = 1024
# Upsampler stages per scale: conv3x3 -> 3*r^2 channels, PixelShuffle(r). x3 is one r=3
# stage (the release is x4 only; one stage is the natural choice for an odd factor).
_FACTORS: dict[int, tuple[int, ...]] = {2: (2,), 3: (3,), 4: (2, 2), 8: (2, 2, 2)}
SCALES: tuple[int, ...] = tuple(_FACTORS)


class TpsrNode(NamedTuple):
    """One node: ``op`` (a key of :data:`OPS`) applied to ``input`` (``"s"`` or an index)."""

    op: str
    input: int | str


def upsample_factors(scale: int) -> tuple[int, ...]:
    """The PixelShuffle factor of each upsampler stage for ``scale``."""
    if isinstance(scale, bool) or scale not in _FACTORS:
        raise GenotypeError(f"tpsr scale: {str(scale)[:20]} is not supported "
                            f"(choose {', '.join(map(str, SCALES))})")
    return _FACTORS[scale]


def _bad(field: str, why: str) -> GenotypeError:
    return GenotypeError(f"tpsr arch: {field}: {why}")


def _short(value: object) -> str:
    if isinstance(value, str) and len(value) > 20:
        return repr(value[:20]) + "..."
    text = repr(value)
    return text if len(text) <= 24 else text[:21] + "..."


def _check_input(i: int, value: object) -> int | str:
    if value == STEM and isinstance(value, str):
        return STEM
    if isinstance(value, bool) or not isinstance(value, int):
        raise _bad(f"nodes[{i}].input", f"{_short(value)} is neither 's' nor a node index")
    if not 0 <= value < i:
        raise _bad(f"nodes[{i}].input", f"node {value} is not earlier")
    return value


@dataclass(frozen=True)
class TpsrArch:
    """A TPSR generator cell; validated (and canonicalised) on construction.

    Attributes:
        n_feats: channels of the stem and of every node (16 in the release).
        nodes: the nodes in order, each a :class:`TpsrNode` (plain ``(op, input)`` tuples
            are accepted).
        outputs: the nodes summed before the merge PReLU, stored in decreasing order.

    Raises:
        GenotypeError: naming the bad field, e.g. ``nodes[3].input: node 5 is not earlier``.
    """

    n_feats: int
    nodes: tuple[TpsrNode, ...]
    outputs: tuple[int, ...]

    def __post_init__(self) -> None:
        if isinstance(self.n_feats, bool) or not isinstance(self.n_feats, int) \
                or not 1 <= self.n_feats <= MAX_FEATS:
            raise _bad("n_feats", f"{_short(self.n_feats)} is not an integer in 1..{MAX_FEATS}")
        if not isinstance(self.nodes, (tuple, list)) or not 1 <= len(self.nodes) <= MAX_NODES:
            raise _bad("nodes", f"expected 1..{MAX_NODES} nodes")
        nodes = []
        for i, node in enumerate(self.nodes):
            if not isinstance(node, (tuple, list)) or len(node) != 2:
                raise _bad(f"nodes[{i}]", f"{_short(node)} is not an (op, input) pair")
            op, inp = node
            if not isinstance(op, str) or op not in OPS:
                raise _bad(f"nodes[{i}].op", f"unknown op {_short(op)} "
                                             f"(choose {', '.join(OPS)})")
            nodes.append(TpsrNode(op, _check_input(i, inp)))
        outputs = self._check_outputs(len(nodes))
        used = set(outputs) | {n.input for n in nodes if n.input != STEM}
        for i in range(len(nodes)):
            if i not in used:
                raise _bad(f"nodes[{i}]", "unused (feeds no later node and is not summed)")
        object.__setattr__(self, "nodes", tuple(nodes))
        object.__setattr__(self, "outputs", outputs)

    def _check_outputs(self, n_nodes: int) -> tuple[int, ...]:
        if not isinstance(self.outputs, (tuple, list, set, frozenset)) or not self.outputs:
            raise _bad("outputs", "expected a non-empty set of node indices")
        seen: set[int] = set()
        for value in self.outputs:
            if isinstance(value, bool) or not isinstance(value, int):
                raise _bad("outputs", f"{_short(value)} is not a node index")
            if not 0 <= value < n_nodes:
                raise _bad("outputs", f"node {value} does not exist (nodes are 0..{n_nodes - 1})")
            if value in seen:
                raise _bad("outputs", f"node {value} repeated")
            seen.add(value)
        return tuple(sorted(seen, reverse=True))

    def to_string(self) -> str:
        """The compact string (without the ``tpsr:`` prefix)."""
        body = ",".join(f"{n.op}@{n.input}" for n in self.nodes)
        return f"f{self.n_feats}/{body}/sum={'+'.join(map(str, self.outputs))}"

    def __str__(self) -> str:
        return self.to_string()


# The released generator (TPSR_NOGAN / _ESRGAN / _D2, shared/tpsr/README.md): main path
# s->0->1->2->4->5->6, side path 2->3->7->8, skip s->9; nodes 9, 8, 6 summed.
RELEASED_ARCH = TpsrArch(
    n_feats=16,
    nodes=(("sep5", STEM), ("conv7", 0), ("conv7", 1), ("conv3", 2), ("conv3", 2),
           ("conv5", 4), ("sep3", 5), ("conv5", 3), ("conv3", 7), ("conv7", STEM)),
    outputs=(9, 8, 6),
)
