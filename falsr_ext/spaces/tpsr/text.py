"""TPSR architectures from and to text: the compact string and JSON.

JSON form (``parse(to_json(a)) == a``)::

    {"format": "tpsr-arch/1", "n_feats": 16,
     "nodes": [{"op": "sep5", "input": "s"}, {"op": "conv7", "input": 0}, ...],
     "outputs": [9, 8, 6]}
"""

from __future__ import annotations

import json
import re
from typing import Any

from falsr_ext.errors import GenotypeError
from falsr_ext.spaces.tpsr.arch import STEM, TpsrArch

JSON_FORMAT = "tpsr-arch/1"
MAX_TEXT = 8192  # longer than any valid arch (64 nodes) by far
_FEATS = re.compile(r"f(\d{1,6})")
_NODE = re.compile(r"([a-z0-9]+)@(s|\d{1,4})")
_SUM = re.compile(r"sum=(\d{1,4}(?:\+\d{1,4})*)")
_SHAPE = "expected 'f<n_feats>/<op>@<input>,.../sum=<i>+<j>...'"


def _snippet(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _bad(field: str, why: str) -> GenotypeError:
    return GenotypeError(f"tpsr arch: {field}: {why}")


def parse_arch(text: str) -> TpsrArch:
    """A :class:`TpsrArch` from its compact string or its JSON form.

    Raises:
        GenotypeError: one line naming the bad field (user text truncated).
    """
    if isinstance(text, TpsrArch):
        return text
    if not isinstance(text, str):
        raise GenotypeError(f"tpsr arch: expected a string, got {type(text).__name__}")
    text = text.strip()
    if len(text) > MAX_TEXT:
        raise GenotypeError(f"tpsr arch: {len(text)} characters is too long (max {MAX_TEXT})")
    if text.startswith("{"):
        return arch_from_json(text)
    return _parse_compact(text)


def _parse_compact(text: str) -> TpsrArch:
    parts = text.lower().split("/")
    if len(parts) != 3:
        raise GenotypeError(f"tpsr arch {_snippet(text)}: {_SHAPE}")
    feats, body, summed = parts
    m = _FEATS.fullmatch(feats)
    if not m:
        raise _bad("n_feats", f"{_snippet(feats)} is not 'f<integer>'")
    nodes: list[tuple[str, int | str]] = []
    for i, token in enumerate(body.split(",")):
        n = _NODE.fullmatch(token.strip())
        if not n:
            raise _bad(f"nodes[{i}]", f"{_snippet(token)} is not '<op>@<input>'")
        nodes.append((n[1], STEM if n[2] == STEM else int(n[2])))
    s = _SUM.fullmatch(summed.replace(" ", ""))
    if not s:
        raise _bad("outputs", f"{_snippet(summed)} is not 'sum=<i>+<j>...'")
    return TpsrArch(int(m[1]), tuple(nodes), tuple(int(v) for v in s[1].split("+")))


def arch_to_json(arch: TpsrArch) -> str:
    """The JSON form of ``arch`` (one line, keys in a fixed order)."""
    return json.dumps({
        "format": JSON_FORMAT,
        "n_feats": arch.n_feats,
        "nodes": [{"op": n.op, "input": n.input} for n in arch.nodes],
        "outputs": list(arch.outputs),
    })


def _field(obj: dict[str, Any], key: str, where: str) -> Any:
    if key not in obj:
        raise _bad(where, "missing")
    return obj[key]


def arch_from_json(text: str) -> TpsrArch:
    """A :class:`TpsrArch` from its JSON form; :class:`GenotypeError` naming the field."""
    try:
        obj = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        why = f"{exc.msg} at line {exc.lineno} column {exc.colno}" \
            if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        raise GenotypeError(f"tpsr arch: malformed JSON ({why})") from None
    if not isinstance(obj, dict):
        raise GenotypeError("tpsr arch: the JSON is not an object")
    unknown = sorted(set(obj) - {"format", "n_feats", "nodes", "outputs"})
    if unknown:
        raise _bad(_snippet(str(unknown[0])), "unknown key (expected format, n_feats, nodes, "
                                              "outputs)")
    if obj.get("format", JSON_FORMAT) != JSON_FORMAT:
        raise _bad("format", f"{_snippet(str(obj['format']))} is not {JSON_FORMAT!r}")
    raw_nodes = _field(obj, "nodes", "nodes")
    if not isinstance(raw_nodes, list):
        raise _bad("nodes", "expected a list of {\"op\": ..., \"input\": ...}")
    nodes = []
    for i, node in enumerate(raw_nodes):
        if not isinstance(node, dict):
            raise _bad(f"nodes[{i}]", "expected an object {\"op\": ..., \"input\": ...}")
        extra = sorted(set(node) - {"op", "input"})
        if extra:
            raise _bad(f"nodes[{i}]", f"unknown key {_snippet(str(extra[0]))}")
        nodes.append((_field(node, "op", f"nodes[{i}].op"),
                      _field(node, "input", f"nodes[{i}].input")))
    outputs = _field(obj, "outputs", "outputs")
    if not isinstance(outputs, list):
        raise _bad("outputs", "expected a list of node indices")
    return TpsrArch(_field(obj, "n_feats", "n_feats"), tuple(nodes), tuple(outputs))
