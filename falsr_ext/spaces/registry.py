"""The registry of search spaces: ``get_space("dlsr")``, ``create_model("dlsr:...")``.

The built-in spaces are imported on first use (so importing one space never imports the
others); third-party spaces call :func:`register_space`.
"""

from __future__ import annotations

import importlib

from torch import nn

from falsr_ext.errors import GenotypeError
from falsr_ext.spaces.base import SearchSpace

_BUILTIN = {
    "falsr": "falsr_ext.spaces.falsr",
    "dlsr": "falsr_ext.spaces.dlsr",
    "tpsr": "falsr_ext.spaces.tpsr",
}
_SPACES: dict[str, SearchSpace] = {}


def register_space(space: SearchSpace) -> SearchSpace:
    """Make ``space`` available under ``space.name``; returns it."""
    if not isinstance(space, SearchSpace):
        raise TypeError(f"{space!r} does not implement the SearchSpace protocol")
    _SPACES[space.name] = space
    return space


def space_names() -> list[str]:
    """The names of every known space, built-in or registered."""
    return sorted(set(_BUILTIN) | set(_SPACES))


def get_space(name: str) -> SearchSpace:
    """The space called ``name``; a :class:`GenotypeError` listing the known ones."""
    key = name.strip().lower()
    if key not in _SPACES and key in _BUILTIN:
        importlib.import_module(_BUILTIN[key])  # registers itself
    if key not in _SPACES:
        raise GenotypeError(f"unknown search space {name[:40]!r} (known: "
                            f"{', '.join(space_names())})")
    return _SPACES[key]


def split_spec(spec: str, default: str = "falsr") -> tuple[SearchSpace, str]:
    """``"dlsr:..."`` -> (the dlsr space, ``"..."``); no known prefix means ``default``."""
    head, sep, rest = spec.partition(":")
    if sep and head.strip().lower() in space_names():
        return get_space(head), rest
    tagged = _json_format_space(spec)
    if tagged is not None:  # JSON of another space names it: {"format": "dlsr-arch/1", ...}
        return get_space(tagged), spec
    if sep and head.isidentifier() and not spec.lstrip().startswith("{"):
        get_space(head)  # an unknown prefix: one clear error
    return get_space(default), spec


def _json_format_space(spec: str) -> str | None:
    """The space a JSON architecture names in its ``format`` (``"<space>-arch/<n>"``)."""
    text = spec.lstrip()
    if not text.startswith("{") or len(text) > 65536:
        return None
    import json

    try:
        fmt = json.loads(text).get("format", "")
    except (ValueError, RecursionError, AttributeError):
        return None
    name = fmt.split("-arch/")[0] if isinstance(fmt, str) and "-arch/" in fmt else None
    return name if name in space_names() else None


def create_model(spec: str, scale: int | None = None) -> nn.Module:
    """A freshly initialised network from ``"space:arch"`` (no prefix: FALSR)."""
    space, text = split_spec(spec)
    arch = space.parse(text)
    return space.build(arch, scale if scale is not None else getattr(arch, "scale", 2))
