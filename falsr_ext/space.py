"""The FALSR elastic search space: a genotype is n cells (micro) plus their wiring (macro).

Node numbering used everywhere (wiring, counter, engine): node 0 is the fixed feature
extractor ``F``; node ``i + 1`` is the output of cell ``i``. A cell's input is the channel
concat, in increasing node order, of the nodes it lists (F first); the fusion conv reads
the concat of the nodes in ``Genotype.fusion``.

Compact string form (stable, human readable, one token per cell, ``/``-separated)::

    conv-k3-f64-b4-skip@F/ib-k1-f48-b2-skip@F+c0/.../fuse@c0+c3+c5+c6

JSON form: ``{"format": "falsr-genotype/1", "cells": [{...}], "fusion": ["c0", ...]}``.
Both round-trip exactly. :meth:`Genotype.validate` raises :class:`GenotypeError` naming
the bad field and value.
"""

from __future__ import annotations

import functools
import hashlib
import json
import numbers
import random
import re
from dataclasses import dataclass, field
from typing import Any

from falsr_ext.errors import GenotypeError
from falsr_ext.zoo_specs import ZOO_SPECS

# Block types of the released FALSR models. ``ib`` is the inverted bottleneck with
# expansion 2 (``invertBotConE2`` in the official graphs); ``g2``/``g4`` are grouped convs.
BLOCK_TYPES: tuple[str, ...] = ("conv", "ib", "g2", "g4")
KERNELS: tuple[int, ...] = (1, 3)
FILTERS: tuple[int, ...] = (16, 32, 48, 64)
BLOCKS: tuple[int, ...] = (1, 2, 4)
NUM_CELLS = 7
FEATURE_CHANNELS = 32  # F and the fusion conv output (fixed frame)
IB_EXPANSION = 2
GROUPS = {"conv": 1, "ib": 1, "g2": 2, "g4": 4}
JSON_FORMAT = "falsr-genotype/1"
# Sanity limits on what a user can hand us. FALSR has 7 cells; 64 is far beyond any
# useful network yet keeps the widest concat (32 + 63 * 64 channels) ~10 MB of weights.
MAX_CELLS = 64
# The largest valid genotype (64 cells, every input listed) is 40 KB as indented JSON.
MAX_SPEC_CHARS = 64 * 1024
# A genotype's JSON nests 4 deep (object, cells list, cell, inputs list); json.loads
# recurses per level, so deeper input is refused before it can raise RecursionError.
MAX_JSON_DEPTH = 32
# How much of a user's text an error message quotes (messages stay one short line).
QUOTE_CHARS = 80
# Numbers in the compact form: ASCII digits only (str.isdigit() also takes '²', which
# int() rejects, and '٣'), at most 9 of them (int() refuses over 4300).
_UINT = re.compile(r"[0-9]{1,9}")

# Names used by the official graphs for each of our block types.
OFFICIAL_BLOCK_NAMES = {
    "conv": "conv",
    "ib": "invertBotConE2",
    "g2": "groupConG2",
    "g4": "groupConG4",
}


def quote_spec(value: Any, limit: int = QUOTE_CHARS) -> str:
    """``repr(value)`` on one line, cut to about ``limit`` characters with an ellipsis.

    For error messages that echo what the user gave (a genotype, a path, a JSON value):
    ``repr`` escapes newlines and control characters, so the message stays one line.
    """
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[: max(limit - 1, 1)]}… ({len(str(value)):,} chars)"


def shown(text: str, limit: int = QUOTE_CHARS) -> str:
    """``text`` as is when it is short and printable (a path, a zoo name), else
    :func:`quote_spec` of it: what an error message names the user's input by."""
    if len(text) <= limit and text.isprintable():
        return text
    return quote_spec(text, limit)


def check_spec_size(text: str, what: str = "genotype") -> None:
    """Refuse a specification longer than :data:`MAX_SPEC_CHARS` with one clear line."""
    if len(text) > MAX_SPEC_CHARS:
        raise GenotypeError(
            f"{what}: {len(text):,} characters is over the limit of {MAX_SPEC_CHARS:,} "
            f"(a genotype is at most a few KB): {quote_spec(text, 40)}")


def json_depth_ok(text: str, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether the brackets of JSON ``text`` nest at most ``limit`` deep (strings skipped).

    A linear scan, no parsing: run before :func:`json.loads`, which recurses per level.
    """
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def node_name(node: int) -> str:
    """Name of a wiring node: 0 -> ``F``, i + 1 -> ``c<i>``."""
    return "F" if node == 0 else f"c{node - 1}"


def parse_node(name: str, where: str) -> int:
    """Inverse of :func:`node_name`; ``where`` names the field for the error message."""
    if name == "F":
        return 0
    if name[:1] == "c" and _UINT.fullmatch(name, 1):
        return int(name[1:]) + 1
    raise GenotypeError(
        f"{where}: bad input node {quote_spec(name)} (expected 'F' or 'c<index>')")


@dataclass(frozen=True)
class Cell:
    """One searched cell (micro search space) and the nodes it reads (macro).

    Attributes:
        block: one of :data:`BLOCK_TYPES`.
        kernel: spatial size of the cell's convs (the inverted bottleneck's depthwise conv
            is always 3x3; its expand and project convs use ``kernel``).
        filters: output channels of the cell.
        blocks: number of layers (conv, group) or bottleneck blocks (ib).
        skip: the ``isskip`` flag; see :mod:`falsr_ext.models.falsr_net` for its meaning.
        inputs: wiring nodes concatenated as the input (sorted, unique, non-empty).
    """

    block: str
    kernel: int
    filters: int
    blocks: int
    skip: bool
    inputs: tuple[int, ...]

    @property
    def groups(self) -> int:
        """Group count of the cell's main convs (1 for conv and ib)."""
        return GROUPS[self.block]

    def token(self) -> str:
        """The micro part of the compact string, e.g. ``conv-k3-f64-b4-skip``."""
        flag = "skip" if self.skip else "noskip"
        return f"{self.block}-k{self.kernel}-f{self.filters}-b{self.blocks}-{flag}"

    def official_name(self) -> str:
        """The cell name used in the official graphs, e.g. ``conv_f64_k3_b4_isskip``."""
        flag = "isskip" if self.skip else "noskip"
        block = OFFICIAL_BLOCK_NAMES[self.block]
        return f"{block}_f{self.filters}_k{self.kernel}_b{self.blocks}_{flag}"


@dataclass(frozen=True)
class Genotype:
    """A network of the elastic space: cells plus the nodes fed to the fusion conv."""

    cells: tuple[Cell, ...]
    fusion: tuple[int, ...]
    name: str | None = field(default=None, compare=False)

    # ----------------------------------------------------------------- validation
    def validate(self) -> Genotype:
        """Check every field against the search space; return self or raise GenotypeError."""
        if not self.cells:
            raise GenotypeError("cells: a genotype needs at least one cell")
        if len(self.cells) > MAX_CELLS:
            raise GenotypeError(
                f"cells: {len(self.cells)} cells is over the limit of {MAX_CELLS}")
        if self.name is not None and not isinstance(self.name, str):
            raise GenotypeError(f"name: expected a string, got {quote_spec(self.name)}")
        for i, cell in enumerate(self.cells):
            where = f"cells[{i}]"
            _check_choice(f"{where}.block", cell.block, BLOCK_TYPES)
            _check_choice(f"{where}.kernel", cell.kernel, KERNELS)
            _check_choice(f"{where}.filters", cell.filters, FILTERS)
            _check_choice(f"{where}.blocks", cell.blocks, BLOCKS)
            if not isinstance(cell.skip, bool):
                raise GenotypeError(
                    f"{where}.skip: expected a bool, got {quote_spec(cell.skip)}")
            _check_nodes(f"{where}.inputs", cell.inputs, limit=i + 1)
            in_ch = self.node_channels(cell.inputs)
            g = cell.groups
            if in_ch % g or cell.filters % g:
                raise GenotypeError(
                    f"{where}.block: {cell.block} needs input ({in_ch}) and filters "
                    f"({cell.filters}) divisible by {g}"
                )
        _check_nodes("fusion", self.fusion, limit=len(self.cells) + 1)
        return self

    # ------------------------------------------------------------------ structure
    @property
    def num_nodes(self) -> int:
        """F plus one node per cell."""
        return len(self.cells) + 1

    def channels_of(self, node: int) -> int:
        """Channels of a wiring node's output."""
        return FEATURE_CHANNELS if node == 0 else self.cells[node - 1].filters

    def node_channels(self, nodes: tuple[int, ...]) -> int:
        """Channels of the concat of ``nodes``."""
        return sum(self.channels_of(n) for n in nodes)

    def cell_in_channels(self, index: int) -> int:
        """Input channels of cell ``index`` (the concat of its inputs)."""
        return self.node_channels(self.cells[index].inputs)

    @property
    def fusion_in_channels(self) -> int:
        """Input channels of the fusion conv."""
        return self.node_channels(self.fusion)

    def used_nodes(self) -> set[int]:
        """Nodes read by some cell or the fusion (others are dead ends)."""
        used = set(self.fusion)
        for cell in self.cells:
            used.update(cell.inputs)
        return used

    # ---------------------------------------------------------------- string form
    def to_string(self) -> str:
        """Compact string form, e.g. ``conv-k3-f64-b4-skip@F/.../fuse@F+c0``."""
        parts = [f"{c.token()}@{_nodes_str(c.inputs)}" for c in self.cells]
        parts.append(f"fuse@{_nodes_str(self.fusion)}")
        return "/".join(parts)

    __str__ = to_string

    @classmethod
    def from_string(cls, text: str, name: str | None = None) -> Genotype:
        """Parse the compact string form (see module doc) and validate it.

        A cell written without ``@inputs`` reads the previous node (F for cell 0).
        """
        if not isinstance(text, str) or not text.strip():
            raise GenotypeError("genotype string: empty")
        check_spec_size(text, "genotype string")
        tokens = [t.strip() for t in text.strip().split("/")]
        if not tokens[-1].startswith("fuse"):
            raise GenotypeError(
                f"genotype string: last part must be 'fuse@<nodes>', got "
                f"{quote_spec(tokens[-1])}"
            )
        cells = tuple(_parse_cell(tok, i) for i, tok in enumerate(tokens[:-1]))
        fuse = tokens[-1]
        if not fuse.startswith("fuse@"):
            raise GenotypeError(f"fusion: expected 'fuse@<nodes>', got {quote_spec(fuse)}")
        fusion = _parse_nodes(fuse[len("fuse@"):], "fusion")
        return cls(cells=cells, fusion=fusion, name=name).validate()

    # ------------------------------------------------------------------ JSON form
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (``format``, ``cells``, ``fusion``, optional ``name``)."""
        out: dict[str, Any] = {
            "format": JSON_FORMAT,
            "cells": [
                {
                    "block": c.block,
                    "kernel": c.kernel,
                    "filters": c.filters,
                    "blocks": c.blocks,
                    "skip": c.skip,
                    "inputs": [node_name(n) for n in c.inputs],
                }
                for c in self.cells
            ],
            "fusion": [node_name(n) for n in self.fusion],
        }
        if self.name:
            out["name"] = self.name
        return out

    def to_json(self, indent: int | None = None) -> str:
        """JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Genotype:
        """Build from :meth:`to_dict` output and validate."""
        if not isinstance(data, dict):
            raise GenotypeError(f"genotype JSON: expected an object, got {type(data).__name__}")
        fmt = data.get("format", JSON_FORMAT)
        if fmt != JSON_FORMAT:
            raise GenotypeError(f"format: unsupported genotype format {quote_spec(fmt)}")
        raw_cells = data.get("cells")
        if not isinstance(raw_cells, list):
            raise GenotypeError("cells: expected a list of cell objects")
        cells = []
        for i, raw in enumerate(raw_cells):
            where = f"cells[{i}]"
            if not isinstance(raw, dict):
                raise GenotypeError(f"{where}: expected an object, got {quote_spec(raw)}")
            missing = {"block", "kernel", "filters", "blocks", "skip"} - raw.keys()
            if missing:
                raise GenotypeError(f"{where}: missing field(s) {sorted(missing)}")
            inputs = raw.get("inputs") or [node_name(i)]
            if not isinstance(inputs, list):
                raise GenotypeError(
                    f"{where}.inputs: expected a list, got {quote_spec(inputs)}")
            cells.append(
                Cell(
                    block=raw["block"],
                    kernel=raw["kernel"],
                    filters=raw["filters"],
                    blocks=raw["blocks"],
                    skip=raw["skip"],
                    inputs=_canonical_nodes(
                        [parse_node(str(n), f"{where}.inputs") for n in inputs],
                        f"{where}.inputs",
                    ),
                )
            )
        fusion_raw = data.get("fusion")
        if not isinstance(fusion_raw, list):
            raise GenotypeError("fusion: expected a list of node names")
        fusion = _canonical_nodes([parse_node(str(n), "fusion") for n in fusion_raw], "fusion")
        return cls(cells=tuple(cells), fusion=fusion, name=data.get("name")).validate()

    @classmethod
    def from_json(cls, text: str) -> Genotype:
        """Parse JSON text written by :meth:`to_json`."""
        check_spec_size(text, "genotype JSON")
        if not json_depth_ok(text):
            raise GenotypeError(
                f"genotype JSON: nested more than {MAX_JSON_DEPTH} levels deep "
                f"(a genotype needs 4): {quote_spec(text, 40)}")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise GenotypeError(f"genotype JSON: {exc}") from None
        except (RecursionError, ValueError) as exc:  # a scan-proof nesting, huge number
            why = " ".join(str(exc).split())[:120] or type(exc).__name__
            raise GenotypeError(f"genotype JSON: unreadable ({why})") from None
        return cls.from_dict(data)

    def digest(self) -> str:
        """Canonical hash (sha256 of the string form): the cache key of the NAS."""
        return hashlib.sha256(self.to_string().encode()).hexdigest()[:16]


def parse_genotype(spec: str | Genotype | dict[str, Any]) -> Genotype:
    """Accept a Genotype, its dict, JSON text, compact string or a zoo name."""
    if isinstance(spec, Genotype):
        return spec.validate()
    if isinstance(spec, dict):
        return Genotype.from_dict(spec)
    if not isinstance(spec, str):
        raise GenotypeError(f"genotype: cannot interpret a {type(spec).__name__}")
    check_spec_size(spec)
    text = spec.strip()
    if text.startswith("{"):
        return Genotype.from_json(text)
    key = text.upper()
    if key in ZOO_SPECS:
        return _zoo_genotype(key)
    return Genotype.from_string(text)


@functools.cache
def _zoo_genotype(name: str) -> Genotype:
    """The zoo's genotype ``name``, built once: every lookup shares one (frozen) object."""
    return Genotype.from_string(ZOO_SPECS[name], name=name)


# ------------------------------------------------------------------------- helpers
def _check_choice(where: str, value: Any, choices: tuple[Any, ...]) -> None:
    # The type check keeps JSON's 3.0 or true from passing as 3 or 1 (3.0 == 3); its
    # wording matches the counter's for the same mistake.
    text = isinstance(choices[0], str)
    if isinstance(value, bool) or not isinstance(value, str if text else numbers.Integral):
        raise GenotypeError(f"{where}: expected {'a string' if text else 'an int64'}, got "
                            f"{quote_spec(value)} ({type(value).__name__})")
    if value not in choices:
        raise GenotypeError(
            f"{where}: {quote_spec(value)} is not in the search space {list(choices)}")


def _check_nodes(where: str, nodes: tuple[int, ...], limit: int) -> None:
    if not nodes:
        raise GenotypeError(f"{where}: must list at least one node")
    for n in nodes:
        if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n < limit:
            allowed = "F" if limit == 1 else f"F, c0 .. c{limit - 2}"
            raise GenotypeError(f"{where}: node {quote_spec(n)} is not one of {allowed}")
    if list(nodes) != sorted(set(nodes)):
        raise GenotypeError(
            f"{where}: nodes must be unique and in order, got {quote_spec(list(nodes))}")


def _nodes_str(nodes: tuple[int, ...]) -> str:
    return "+".join(node_name(n) for n in nodes)


def _canonical_nodes(nodes: list[int], where: str) -> tuple[int, ...]:
    if len(set(nodes)) != len(nodes):
        names = [node_name(n) for n in nodes]
        raise GenotypeError(f"{where}: repeated node in {quote_spec(names)}")
    return tuple(sorted(nodes))


def _parse_nodes(text: str, where: str) -> tuple[int, ...]:
    names = [t for t in text.split("+") if t]
    if not names:
        raise GenotypeError(f"{where}: no input nodes in {quote_spec(text)}")
    return _canonical_nodes([parse_node(n, where) for n in names], where)


def _parse_cell(token: str, index: int) -> Cell:
    where = f"cells[{index}]"
    micro, _, wiring = token.partition("@")
    parts = micro.split("-")
    if len(parts) != 5:
        raise GenotypeError(
            f"{where}: expected '<block>-k<k>-f<f>-b<b>-<skip|noskip>', got "
            f"{quote_spec(micro)}"
        )
    block, k, f, b, flag = parts
    values = []
    for prefix, text, field_name in (("k", k, "kernel"), ("f", f, "filters"), ("b", b, "blocks")):
        if not (text.startswith(prefix) and _UINT.fullmatch(text, 1)):
            raise GenotypeError(
                f"{where}.{field_name}: expected '{prefix}<int>', got {quote_spec(text)}")
        values.append(int(text[1:]))
    if flag not in ("skip", "noskip"):
        raise GenotypeError(
            f"{where}.skip: expected 'skip' or 'noskip', got {quote_spec(flag)}")
    inputs = _parse_nodes(wiring, f"{where}.inputs") if wiring else (index,)
    return Cell(block, values[0], values[1], values[2], flag == "skip", inputs)


def sample_genotype(rng: random.Random, num_cells: int = NUM_CELLS) -> Genotype:
    """A uniformly random valid genotype of the space (used by the NAS and the tests).

    Each earlier node joins a cell's (or the fusion's) input with probability 1/2; an
    empty draw falls back to the previous node, as in the space's definition.
    """
    cells: list[Cell] = []
    for i in range(num_cells):
        inputs = tuple(n for n in range(i + 1) if rng.random() < 0.5) or (i,)
        cells.append(
            Cell(
                block=rng.choice(BLOCK_TYPES),
                kernel=rng.choice(KERNELS),
                filters=rng.choice(FILTERS),
                blocks=rng.choice(BLOCKS),
                skip=rng.random() < 0.5,
                inputs=inputs,
            )
        )
    fusion = tuple(n for n in range(num_cells + 1) if rng.random() < 0.5) or (num_cells,)
    return Genotype(tuple(cells), fusion).validate()
