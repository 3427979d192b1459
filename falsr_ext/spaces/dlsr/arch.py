"""A DLSR architecture (:class:`DlsrArch`): width, the three searched ops, the cell wiring.

DLSR (Huang et al., arXiv 2105.03939) searches two things, both shared by the whole
network: the three refine operations of its RFDB-style cell (one op list for all six
cells) and, for each of cells 3..6, the two earlier cells whose outputs a 1x1 link reads.
The order of a link's two inputs matters: it fixes which input channels of the link
conv belong to which cell.

Compact string (stable, human readable; cells are numbered 1..6 as ``B1..B6``)::

    nf48-conv_1x1+sep_conv_7x7+sep_conv_5x5-c3=1+2,c4=2+3,c5=2+4,c6=4+5

JSON: ``{"format": "dlsr-arch/1", "nf": 48, "ops": [...], "links": {"c3": [1, 2], ...}}``.
Both round-trip exactly; :func:`parse_arch` takes either and raises
:class:`~falsr_ext.errors.GenotypeError` naming the bad field.

Candidate ops: the nine of the issue (conv 1/3/5/7, separable 3/5/7, dilated 3/5).
The official search space also lists ``skip_connect``; it is left out on purpose: in
this cell it makes ``r = LReLU(x + x)``, no released network uses it, and adding it later
is backward compatible (a new name, old strings keep their meaning).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from falsr_ext.errors import GenotypeError

OPS: tuple[str, ...] = (
    "conv_1x1", "conv_3x3", "conv_5x5", "conv_7x7",
    "sep_conv_3x3", "sep_conv_5x5", "sep_conv_7x7",
    "dil_conv_3x3", "dil_conv_5x5",
)
NUM_CELLS = 6
NUM_OPS = 3
LINKED_CELLS: tuple[int, ...] = (3, 4, 5, 6)  # cells 1 and 2 read the previous output
# nf must be even (distillation width nf/2) and >= 4 (ESA width nf//4 >= 1); the upper
# bound only keeps a typo (nf48000) from allocating gigabytes.
MIN_NF, MAX_NF = 4, 1024
JSON_FORMAT = "dlsr-arch/1"
MAX_SPEC_CHARS = 4096  # a valid arch is under 200 characters, as string or JSON
QUOTE_CHARS = 60
# The released networks' wirings (cells 3..6; see ../shared/dlsr/README.md).
WIRING_A: tuple[tuple[int, int], ...] = ((1, 2), (2, 3), (2, 4), (4, 5))
WIRING_B: tuple[tuple[int, int], ...] = ((2, 1), (3, 2), (4, 3), (1, 3))

_NF = re.compile(r"nf([0-9]{1,6})")
_LINK = re.compile(r"c([0-9])=([0-9]{1,3})\+([0-9]{1,3})")


def quote(value: Any, limit: int = QUOTE_CHARS) -> str:
    """``repr(value)`` on one line, cut to about ``limit`` characters (for error messages)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 1]}… ({len(str(value)):,} chars)"


@dataclass(frozen=True)
class DlsrArch:
    """One network of the DLSR space; validated on construction.

    Attributes:
        nf: feature channels C (even, >= 4); distillation width C/2, ESA width C//4.
        ops: the three searched refine ops of every cell, from :data:`OPS`.
        links: for cells 3, 4, 5, 6 (in that order), the two earlier cells (1-based, in
            concat order) that the cell's 1x1 link reads.
    """

    nf: int
    ops: tuple[str, str, str]
    links: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        _check_nf(self.nf)
        _check_ops(self.ops)
        _check_links(self.links)

    def to_string(self) -> str:
        """The compact string (``parse_arch(a.to_string()) == a``)."""
        pairs = zip(LINKED_CELLS, self.links, strict=True)
        links = ",".join(f"c{c}={a}+{b}" for c, (a, b) in pairs)
        return f"nf{self.nf}-{'+'.join(self.ops)}-{links}"

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready dict."""
        pairs = zip(LINKED_CELLS, self.links, strict=True)
        return {"format": JSON_FORMAT, "nf": self.nf, "ops": list(self.ops),
                "links": {f"c{c}": list(pair) for c, pair in pairs}}

    def to_json(self) -> str:
        """The JSON form (``parse_arch(a.to_json()) == a``)."""
        return json.dumps(self.to_dict())

    def cell_inputs(self, cell: int) -> tuple[int, ...]:
        """The cells (1-based; 0 = the stem) whose outputs cell ``cell`` reads, in order."""
        if cell in LINKED_CELLS:
            return self.links[cell - LINKED_CELLS[0]]
        return (cell - 1,)

    def __str__(self) -> str:
        return self.to_string()


def _check_nf(nf: Any) -> None:
    if isinstance(nf, bool) or not isinstance(nf, int):
        raise GenotypeError(f"nf: expected an integer, got {quote(nf)}")
    if not MIN_NF <= nf <= MAX_NF or nf % 2:
        raise GenotypeError(f"nf: {nf} is not an even width in {MIN_NF}..{MAX_NF}")


def _check_ops(ops: Any) -> None:
    if not isinstance(ops, tuple) or len(ops) != NUM_OPS:
        raise GenotypeError(f"ops: expected {NUM_OPS} op names, got {quote(ops)}")
    for i, op in enumerate(ops):
        if op not in OPS:
            raise GenotypeError(
                f"ops[{i}]: unknown op {quote(op)} (known: {', '.join(OPS)})")


def _check_links(links: Any) -> None:
    if not isinstance(links, tuple) or len(links) != len(LINKED_CELLS):
        raise GenotypeError(
            f"links: expected input pairs for cells c3..c6, got {quote(links)}")
    for cell, pair in zip(LINKED_CELLS, links, strict=True):
        where = f"links.c{cell}"
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise GenotypeError(f"{where}: expected two earlier cells, got {quote(pair)}")
        for src in pair:
            if isinstance(src, bool) or not isinstance(src, int):
                raise GenotypeError(f"{where}: expected a cell number, got {quote(src)}")
            if not 1 <= src < cell:
                raise GenotypeError(
                    f"{where}: cell {src} is not an earlier cell (1..{cell - 1})")
        if pair[0] == pair[1]:
            raise GenotypeError(f"{where}: reads cell {pair[0]} twice (needs two cells)")


def parse_arch(text: str) -> DlsrArch:
    """A validated :class:`DlsrArch` from its compact string or JSON (no ``dlsr:`` prefix).

    Raises:
        GenotypeError: one line naming the bad field (user text quoted, truncated).
    """
    if not isinstance(text, str):
        raise GenotypeError(f"dlsr arch: expected a string, got {type(text).__name__}")
    if len(text) > MAX_SPEC_CHARS:
        raise GenotypeError(f"dlsr arch: {len(text):,} characters is over the limit of "
                            f"{MAX_SPEC_CHARS:,}: {quote(text, 40)}")
    body = text.strip()
    if body.startswith("{"):
        return arch_from_json(body)
    return _from_string(body)


def _from_string(text: str) -> DlsrArch:
    parts = text.split("-")
    if len(parts) != 3:
        raise GenotypeError(
            f"dlsr arch: expected 'nf<C>-<op>+<op>+<op>-c3=a+b,c4=a+b,c5=a+b,c6=a+b' "
            f"(or JSON), got {quote(text)}")
    nf_text, ops_text, links_text = parts
    match = _NF.fullmatch(nf_text)
    if match is None:
        raise GenotypeError(f"nf: expected 'nf<channels>' (e.g. nf48), got {quote(nf_text)}")
    ops = tuple(ops_text.split("+"))
    links: dict[int, tuple[int, int]] = {}
    for item in links_text.split(","):
        link = _LINK.fullmatch(item)
        if link is None:
            raise GenotypeError(f"links: expected 'c<cell>=<a>+<b>', got {quote(item)}")
        cell = int(link.group(1))
        if cell not in LINKED_CELLS or cell in links:
            raise GenotypeError(f"links: c{cell} is not one of c3..c6 given once")
        links[cell] = (int(link.group(2)), int(link.group(3)))
    return _make(int(match.group(1)), ops, links)


def _make(nf: Any, ops: tuple, links: dict[int, tuple]) -> DlsrArch:
    missing = [f"c{c}" for c in LINKED_CELLS if c not in links]
    if missing:
        raise GenotypeError(f"links: no inputs given for {', '.join(missing)}")
    return DlsrArch(nf, ops, tuple(links[c] for c in LINKED_CELLS))  # type: ignore[arg-type]


def arch_from_json(text: str) -> DlsrArch:
    """A validated :class:`DlsrArch` from the JSON form (see the module docstring)."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        reason = str(exc).splitlines()[0][:80] if str(exc) else type(exc).__name__
        raise GenotypeError(f"dlsr arch: bad JSON ({reason}): {quote(text)}") from None
    if not isinstance(data, dict):
        raise GenotypeError(f"dlsr arch: JSON must be an object, got {quote(data)}")
    extra = sorted(set(data) - {"format", "nf", "ops", "links"})
    if extra:
        raise GenotypeError(f"dlsr arch: unknown JSON field {quote(extra[0])}")
    if data.get("format", JSON_FORMAT) != JSON_FORMAT:
        raise GenotypeError(f"format: expected {JSON_FORMAT!r}, got {quote(data['format'])}")
    for key in ("nf", "ops", "links"):
        if key not in data:
            raise GenotypeError(f"{key}: missing from the JSON")
    ops, raw = data["ops"], data["links"]
    if not isinstance(ops, list):
        raise GenotypeError(f"ops: expected a list of {NUM_OPS} op names, got {quote(ops)}")
    if not isinstance(raw, dict):
        raise GenotypeError(f"links: expected an object {{'c3': [a, b], ...}}, got {quote(raw)}")
    links: dict[int, tuple] = {}
    for key, pair in raw.items():
        if key not in {f"c{c}" for c in LINKED_CELLS}:
            raise GenotypeError(f"links: unknown cell {quote(key)} (expected c3..c6)")
        if not isinstance(pair, list):
            raise GenotypeError(f"links.{key}: expected [a, b], got {quote(pair)}")
        links[int(key[1:])] = tuple(pair)
    return _make(data["nf"], tuple(ops), links)
