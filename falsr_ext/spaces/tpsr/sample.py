"""Random TPSR architectures, and pruning of nodes that do not reach the sum."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from falsr_ext.errors import GenotypeError
from falsr_ext.spaces.tpsr.arch import OPS, STEM, TpsrArch

_OP_NAMES = tuple(OPS)


def sample_arch(rng: np.random.Generator, n_nodes: int = 10, n_feats: int = 16,
                p_extra_output: float = 0.25) -> TpsrArch:
    """A uniformly wired random cell: each node an op and an input among the stem and the
    earlier nodes; the sum holds every node no other node reads (so none is unused), plus
    each other node with probability ``p_extra_output``."""
    nodes: list[tuple[str, int | str]] = []
    for i in range(n_nodes):
        op = _OP_NAMES[int(rng.integers(len(_OP_NAMES)))]
        src = int(rng.integers(i + 1))  # 0 = the stem, j = node j - 1
        nodes.append((op, STEM if src == 0 else src - 1))
    read = {inp for _, inp in nodes if inp != STEM}
    outputs = [i for i in range(n_nodes)
               if i not in read or rng.random() < p_extra_output]
    return TpsrArch(n_feats, tuple(nodes), tuple(outputs))


def prune(n_feats: int, nodes: Sequence[tuple[str, int | str]],
          outputs: Sequence[int]) -> TpsrArch:
    """The :class:`TpsrArch` of a cell whose unused nodes (those that reach no summed
    node) are dropped and the rest renumbered; e.g. for a controller that samples them."""
    keep: set[int] = set()
    stack = [int(o) for o in outputs]
    while stack:
        i = stack.pop()
        if i in keep:
            continue
        if not 0 <= i < len(nodes):
            raise GenotypeError(f"tpsr arch: outputs: node {i} does not exist "
                                f"(nodes are 0..{len(nodes) - 1})")
        keep.add(i)
        inp = nodes[i][1]
        if inp != STEM:
            if not isinstance(inp, int) or isinstance(inp, bool) or not 0 <= inp < i:
                raise GenotypeError(f"tpsr arch: nodes[{i}].input: {str(inp)[:20]!r} is "
                                    "not the stem or an earlier node")
            stack.append(inp)
    new_index = {old: new for new, old in enumerate(sorted(keep))}
    kept = tuple((nodes[old][0], inp if (inp := nodes[old][1]) == STEM else new_index[inp])
                 for old in sorted(keep))
    return TpsrArch(n_feats, kept, tuple(new_index[int(o)] for o in outputs))
