"""Analytic params / MACs / activation-bytes counter of FALSR-space networks.

The counting runs in C++ (``csrc/core/counter.{h,cpp}``, exposed as ``falsr_ext._C``):
:func:`count` gives one genotype's totals, per-cell ("F", "cell0", ..., "fusion",
"pre_shuffle" at x3/x4, "reconstruction") and per-conv-layer figures in microseconds;
:func:`count_batch` gives the totals of many genotypes at once as numpy arrays (millions
per second on one core), for the NAS.

Counting convention (:data:`CONVENTION`): conv layers only, full ``k*k`` per output
pixel, at the LR input size; it reproduces the FALSR paper's and the released graphs'
figures exactly (FALSR-A 1,021,401 params / 235,000,627,200 MACs at 480x480, x2).

Genotype rows (:func:`encode`): one int64 row per genotype,
``[C, (block, kernel, filters, blocks, skip, input_mask) * C, fusion_mask]``, block ids in
:data:`falsr_ext.space.BLOCK_TYPES` order, masks with bit ``n`` = wiring node ``n``
(0 = F, i + 1 = cell i). See ``csrc/core/counter.h``.

Errors (bad genotype, field outside the search space, size below 3, scale not 2/3/4)
are detected by the C++ core and raised as :class:`~falsr_ext.errors.GenotypeError`
(a ``ValueError``) naming the cell and field, e.g.
``cells[3].kernel: 5 is not in the search space [1, 3]``.
"""

from __future__ import annotations

import functools
import operator
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from falsr_ext._extension import load_extension
from falsr_ext.errors import GenotypeError
from falsr_ext.space import BLOCK_TYPES, NUM_CELLS, Genotype, node_name, parse_genotype

CONVENTION: str = (
    "MACs = multiply-accumulates of conv layers only (bias, ReLU, add, concat, shuffle not "
    "counted), full k*k per output pixel (zero-padding borders ignored), at the given LR "
    "input size (the reconstruction conv at sH x sW); params = conv weights + biases; "
    "act_bytes = bytes of the tensors a plain eager execution writes (every conv output, its "
    "bias and ReLU included, every residual add, every concat of 2+ nodes, the shuffle "
    "output; not the input) times dtype_bytes."
)

CELL_FIELDS = 6  # values per cell in a genotype row
MAX_CELLS = 62  # masks are int64 bit sets
_BLOCK_IDS = {name: i for i, name in enumerate(BLOCK_TYPES)}
_SKIP = {True: 1, False: 0}


@dataclass(frozen=True)
class LayerCount:
    """One conv layer: channels, kernel, groups, output size, params, MACs, output bytes."""

    name: str  # e.g. "F.conv", "cell0.layer1", "cell2.block1.expand", "fusion.conv"
    cell: str  # the CellCount it belongs to ("F", "cell2", "fusion", "reconstruction", ...)
    c_in: int
    c_out: int
    kernel: int
    groups: int
    height: int  # output height (sH for the reconstruction conv)
    width: int
    params: int
    macs: int
    act_bytes: int  # bytes of this conv's output


@dataclass(frozen=True)
class CellCount:
    """Totals of one stage: F, cell<i>, fusion, pre_shuffle (x3/x4), reconstruction.

    ``act_bytes`` also holds the stage's non-conv writes: a cell's (or the fusion's)
    materialised input concat and residual adds, the fusion's ``+ F`` add, and the shuffle
    output (in ``reconstruction``).
    """

    name: str
    params: int
    macs: int
    act_bytes: int


@dataclass(frozen=True)
class CountResult:
    """Totals, per-stage and per-layer counts of one genotype at one input size."""

    genotype: str  # compact string form
    height: int  # LR input size
    width: int
    scale: int
    params: int
    macs: int
    act_bytes: int
    cells: tuple[CellCount, ...]
    layers: tuple[LayerCount, ...]
    convention: str = CONVENTION

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary; each cell also carries ``macs_share`` (of the total MACs)."""
        total = self.macs
        return {
            "genotype": self.genotype,
            "height": self.height,
            "width": self.width,
            "scale": self.scale,
            "params": self.params,
            "macs": self.macs,
            "act_bytes": self.act_bytes,
            "cells": [
                {
                    "name": c.name,
                    "params": c.params,
                    "macs": c.macs,
                    "act_bytes": c.act_bytes,
                    "macs_share": c.macs / total if total else 0.0,
                }
                for c in self.cells
            ],
            "convention": self.convention,
        }


# ------------------------------------------------------------------------ encoding
_MASKS: dict[tuple[int, ...], int] = {}


def _compute_mask(nodes: Any, where: str) -> int:
    mask = 0
    try:
        items = tuple(nodes)
    except TypeError:
        raise GenotypeError(f"{where}: expected a tuple of nodes, got {nodes!r}") from None
    for n in items:
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_CELLS:
            raise GenotypeError(f"{where}: {n!r} is not a wiring node (0 = F, i + 1 = cell i)")
        if mask >> n & 1:
            raise GenotypeError(f"{where}: repeated node {node_name(n)}")
        mask |= 1 << n
    if type(nodes) is tuple and len(_MASKS) < 1 << 16:
        _MASKS[nodes] = mask
    return mask


def _mask(nodes: Any, where_index: int | None) -> int:
    try:
        mask = _MASKS.get(nodes)
    except TypeError:  # unhashable (a list)
        mask = None
    if mask is None:
        where = "fusion" if where_index is None else f"cells[{where_index}].inputs"
        mask = _compute_mask(nodes, where)
    return mask


def _row(genotype: Any) -> list[Any]:
    """The row of one genotype (values unchecked: the C++ core validates them)."""
    if not isinstance(genotype, Genotype):
        genotype = parse_genotype(genotype)
    cells = genotype.cells
    row: list[Any] = [len(cells)]
    extend = row.extend
    blocks, skips, masks = _BLOCK_IDS, _SKIP, _MASKS
    try:  # fast path: known block names, already-seen input tuples
        for c in cells:
            skip = c.skip
            extend((blocks[c.block], c.kernel, c.filters, c.blocks, skips.get(skip, skip),
                    masks[c.inputs]))
        row.append(masks[genotype.fusion])
    except (KeyError, TypeError):
        return _row_checked(genotype)
    return row


def _row_checked(genotype: Genotype) -> list[Any]:
    """:func:`_row` with a precise error for unencodable fields; fills the mask cache."""
    cells = genotype.cells
    row: list[Any] = [len(cells)]
    for i, c in enumerate(cells):
        block = _BLOCK_IDS.get(c.block) if isinstance(c.block, str) else None
        if block is None:
            raise GenotypeError(
                f"cells[{i}].block: {c.block!r} is not in the search space {list(BLOCK_TYPES)}"
            )
        skip = _SKIP.get(c.skip, c.skip) if isinstance(c.skip, int) else c.skip
        row.extend((block, c.kernel, c.filters, c.blocks, skip, _mask(c.inputs, i)))
    row.append(_mask(genotype.fusion, None))
    return row


@functools.lru_cache(maxsize=4096)
def _encoded_cached(genotype: Genotype) -> tuple[tuple[int, ...], str]:
    return tuple(_row(genotype)), genotype.to_string()


def _encoded(genotype: Genotype) -> tuple[tuple[int, ...], str]:
    try:
        return _encoded_cached(genotype)
    except TypeError:  # an unhashable field (e.g. inputs given as a list)
        return tuple(_row(genotype)), genotype.to_string()


def _not_integer(j: int, row: list[Any], genotype: Any) -> GenotypeError:
    """The error for a row holding a non-integer value (a hand-made, unvalidated genotype)."""
    if isinstance(genotype, Genotype):
        try:
            genotype.validate()
        except GenotypeError as exc:
            return GenotypeError(f"genotype {j}: {exc}")
    fields = ("block", "kernel", "filters", "blocks", "skip", "inputs")
    for k, v in enumerate(row):
        if isinstance(v, bool) or not isinstance(v, int) or not -(1 << 63) <= v < 1 << 63:
            where = (
                "num_cells" if k == 0
                else "fusion" if k == len(row) - 1
                else f"cells[{(k - 1) // CELL_FIELDS}].{fields[(k - 1) % CELL_FIELDS]}"
            )
            return GenotypeError(f"genotype {j}: {where}: expected an int64, got {v!r}")
    return GenotypeError(f"genotype {j}: values do not fit in int64")


def encode(genotypes: Genotype | Sequence[Genotype]) -> np.ndarray:
    """Genotype rows as an int64 array [N, 6*C + 2] (the C++ counter's input).

    All genotypes must have the same number of cells. Items may also be anything
    :func:`falsr_ext.space.parse_genotype` accepts (zoo name, compact string, JSON). An
    empty sequence gives an empty [0, 6*NUM_CELLS + 2] array. Values are not range-checked
    here (the C++ counter validates every field); non-integers raise GenotypeError.
    """
    if isinstance(genotypes, Genotype):
        genotypes = (genotypes,)
    elif isinstance(genotypes, (str, dict)):
        genotypes = (parse_genotype(genotypes),)
    # One flat int64 buffer: no per-genotype container survives (so no GC passes over
    # 100k rows), array.extend rejects non-integers, and numpy wraps it without a copy.
    buf = array("q")
    put = buf.extend
    length = -1
    n = 0
    for j, g in enumerate(genotypes):
        row = _row(g)
        if len(row) != length:
            if length >= 0:
                raise GenotypeError(
                    "genotypes: all genotypes in one call must have the same number of cells "
                    f"(genotype 0 has {(length - 2) // CELL_FIELDS}, genotype {j} has {row[0]})"
                )
            length = len(row)
        try:
            put(row)
        except (TypeError, OverflowError):
            raise _not_integer(j, row, g) from None
        n += 1
    if n == 0:
        return np.zeros((0, CELL_FIELDS * NUM_CELLS + 2), dtype=np.int64)
    return np.frombuffer(buf, dtype=np.int64).reshape(n, length)


def batch_cell_names(num_cells: int = NUM_CELLS) -> list[str]:
    """Column names of ``count_batch(..., per_cell=True)``'s cell arrays.

    ``["F", "cell0", ..., "cell{C-1}", "fusion", "upsample"]``; ``upsample`` is the
    pre-shuffle conv (x3/x4) + shuffle + reconstruction conv (= "reconstruction" at x2).
    """
    return ["F", *(f"cell{i}" for i in range(num_cells)), "fusion", "upsample"]


# ------------------------------------------------------------------------ counting
_new = object.__new__
_set = object.__setattr__


def _adopt(cls: type, fields: dict[str, Any]) -> Any:
    # The C++ side builds dicts keyed exactly by the dataclass fields; adopting them as
    # the instance dict avoids 11 frozen __setattr__ calls per layer (count() stays
    # a few microseconds).
    obj = _new(cls)
    _set(obj, "__dict__", fields)
    return obj


def _ints(height: Any, width: Any, scale: Any, in_channels: Any, dtype_bytes: Any) -> tuple:
    index = operator.index
    return index(height), index(width), index(scale), index(in_channels), index(dtype_bytes)


def count(
    genotype: Genotype | str,
    height: int = 480,
    width: int = 480,
    scale: int = 2,
    in_channels: int = 1,
    dtype_bytes: int = 4,
) -> CountResult:
    """Params, conv MACs and activation bytes of one network, per layer, cell and in total.

    Args:
        genotype: a Genotype, or a zoo name / compact string / JSON text.
        height, width: LR input size (>= 3).
        scale: 2, 3 or 4 (x3/x4 add the pre-shuffle conv of FalsrNet).
        in_channels: image channels (1 = luma as FALSR, 3 = RGB).
        dtype_bytes: bytes per activation element (4 = fp32, 2 = bf16/fp16).

    Raises:
        GenotypeError: bad genotype or size (message from the C++ core).
    """
    if not isinstance(genotype, Genotype):
        genotype = parse_genotype(genotype)
    h, w, s, c, d = _ints(height, width, scale, in_channels, dtype_bytes)
    row, text = _encoded(genotype)
    try:
        out = load_extension().count_layers(row, h, w, s, c, d)
    except ValueError as exc:
        raise GenotypeError(str(exc)) from None
    return CountResult(
        text,
        h,
        w,
        s,
        out["params"],
        out["macs"],
        out["act_bytes"],
        tuple([_adopt(CellCount, x) for x in out["cells"]]),
        tuple([_adopt(LayerCount, x) for x in out["layers"]]),
    )


def count_batch(
    genotypes: Sequence[Genotype] | np.ndarray,
    height: int = 480,
    width: int = 480,
    scale: int = 2,
    in_channels: int = 1,
    dtype_bytes: int = 4,
    per_cell: bool = False,
) -> dict[str, np.ndarray]:
    """Totals of many networks at once (one thread, no Python per genotype after encoding).

    Args:
        genotypes: genotypes (all with the same number of cells) or their rows from
            :func:`encode` (an integer array [N, 6*C + 2]; encode once, count many times).
        height, width, scale, in_channels, dtype_bytes: as :func:`count`.
        per_cell: also return ``cell_macs`` and ``cell_params`` [N, C + 3], columns
            :func:`batch_cell_names` (F, cells, fusion, upsample).

    Returns:
        ``{"params", "macs", "act_bytes"}`` int64 arrays [N] (+ the per-cell arrays).

    Raises:
        GenotypeError: a bad genotype (the message names the row, cell and field), mixed
            cell counts, or a bad size / scale.
    """
    h, w, s, c, d = _ints(height, width, scale, in_channels, dtype_bytes)
    if isinstance(genotypes, np.ndarray):
        rows = genotypes
        if rows.dtype.kind not in "iu" or rows.ndim != 2:
            raise GenotypeError(
                f"rows: expected an integer array [N, 6*C + 2], got dtype {rows.dtype} "
                f"and shape {rows.shape}"
            )
        rows = np.ascontiguousarray(rows, dtype=np.int64)
    else:
        rows = encode(genotypes)
    try:
        return load_extension().count_batch(rows, h, w, s, c, d, bool(per_cell))
    except ValueError as exc:
        raise GenotypeError(str(exc)) from None


__all__ = [
    "CONVENTION",
    "CellCount",
    "CountResult",
    "LayerCount",
    "batch_cell_names",
    "count",
    "count_batch",
    "encode",
]
