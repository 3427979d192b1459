"""Integer vectors <-> genotypes of the elastic space, for pymoo.

Layout (``NUM_VARS`` genes): for each cell ``i`` five choice indices ``block, kernel,
filters, blocks, skip`` then ``i + 1`` bits, one per earlier node (F, c0, ...) it reads;
then one bit per node (F, c0, ..., c6) fed to the fusion. Every integer vector within
the bounds decodes to a valid genotype: an empty input (or fusion) set falls back to the
previous node (the last cell), exactly as :func:`falsr_ext.space.sample_genotype` does.
:func:`repair` maps vectors to the canonical vector of the genotype they decode to, so
two vectors are equal iff their genotypes are.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from falsr_ext.space import (
    BLOCK_TYPES,
    BLOCKS,
    FILTERS,
    KERNELS,
    NUM_CELLS,
    Cell,
    Genotype,
    node_name,
)

_CHOICES: tuple[tuple[str, tuple], ...] = (
    ("block", BLOCK_TYPES),
    ("kernel", KERNELS),
    ("filters", FILTERS),
    ("blocks", BLOCKS),
    ("skip", (False, True)),
)


def _layout() -> tuple[list[str], list[int]]:
    names: list[str] = []
    sizes: list[int] = []
    for i in range(NUM_CELLS):
        for field, values in _CHOICES:
            names.append(f"c{i}.{field}")
            sizes.append(len(values))
        for n in range(i + 1):
            names.append(f"c{i}.in.{node_name(n)}")
            sizes.append(2)
    for n in range(NUM_CELLS + 1):
        names.append(f"fuse.{node_name(n)}")
        sizes.append(2)
    return names, sizes


GENE_NAMES, _SIZES = _layout()
NUM_VARS = len(GENE_NAMES)
#: number of values of each gene (its upper bound is this minus one)
CARDINALITY = np.array(_SIZES, dtype=np.int64)
UPPER = CARDINALITY - 1


def decode(x: Sequence[int] | np.ndarray) -> Genotype:
    """The genotype of vector ``x`` (values clipped into bounds and rounded first)."""
    v = np.clip(np.rint(np.asarray(x, dtype=np.float64)), 0, UPPER).astype(np.int64)
    if v.shape != (NUM_VARS,):
        raise ValueError(f"expected a vector of {NUM_VARS} genes, got shape {v.shape}")
    pos = 0
    cells = []
    for i in range(NUM_CELLS):
        micro = [values[int(v[pos + j])] for j, (_, values) in enumerate(_CHOICES)]
        pos += len(_CHOICES)
        inputs = tuple(n for n in range(i + 1) if v[pos + n]) or (i,)
        pos += i + 1
        cells.append(Cell(micro[0], micro[1], micro[2], micro[3], bool(micro[4]), inputs))
    fusion = tuple(n for n in range(NUM_CELLS + 1) if v[pos + n]) or (NUM_CELLS,)
    return Genotype(tuple(cells), fusion).validate()


def encode(genotype: Genotype) -> np.ndarray:
    """The canonical vector of ``genotype`` (which must have ``NUM_CELLS`` cells)."""
    if len(genotype.cells) != NUM_CELLS:
        raise ValueError(f"the search encodes {NUM_CELLS}-cell genotypes, got "
                         f"{len(genotype.cells)} cells")
    out: list[int] = []
    for i, cell in enumerate(genotype.cells):
        for field, values in _CHOICES:
            out.append(values.index(getattr(cell, field)))
        out.extend(int(n in cell.inputs) for n in range(i + 1))
    out.extend(int(n in genotype.fusion) for n in range(NUM_CELLS + 1))
    return np.array(out, dtype=np.int64)


def repair(X: np.ndarray) -> np.ndarray:
    """Canonical vectors of the rows of ``X`` (see the module docstring)."""
    X = np.atleast_2d(X)
    return np.stack([encode(decode(row)) for row in X]) if len(X) else X.astype(np.int64)


def random_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` uniformly random canonical vectors (each gene uniform over its values)."""
    X = np.floor(rng.random((n, NUM_VARS)) * CARDINALITY).astype(np.int64)
    return repair(X)
