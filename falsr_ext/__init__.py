"""falsr_ext: fast, accurate, lightweight super-resolution (FALSR) for PyTorch.

The public API, kept small (heavy parts import lazily, so ``import falsr_ext`` is cheap)::

    from falsr_ext import Genotype, parse_genotype, build_model, load_model, evaluate
    model = load_model("FALSR-A", weights="FALSR-A.pb")
    print(evaluate(model, "Set5").psnr)
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from falsr_ext.errors import FalsrError
from falsr_ext.space import Cell, Genotype, parse_genotype

__version__ = "0.1.0"

_LAZY = {
    "build_model": "falsr_ext.models.falsr_net",
    "FalsrNet": "falsr_ext.models.falsr_net",
    "load_model": "falsr_ext.models.loading",
    "save_weights": "falsr_ext.models.weights",
    "load_weights": "falsr_ext.models.weights",
    "evaluate": "falsr_ext.evaluation",
    "convert_pb": "falsr_ext.convert",
    "import_pb": "falsr_ext.convert",
    "zoo_names": "falsr_ext.models.zoo",
    "count": "falsr_ext.counter",
    "count_batch": "falsr_ext.counter",
    "count_module": "falsr_ext.module_counter",
    "get_genotype": "falsr_ext.models.zoo",
    "upscale": "falsr_ext.upscaling",
    "compile_engine": "falsr_ext.engine",
    "Engine": "falsr_ext.engine",
}

__all__ = [
    "Cell", "Engine", "FalsrError", "FalsrNet", "Genotype", "build_model", "compile_engine",
    "convert_pb", "count",
    "count_batch", "count_module", "evaluate",
    "get_genotype", "import_pb", "load_model", "load_weights", "parse_genotype",
    "save_weights", "upscale", "zoo_names",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'falsr_ext' has no attribute {name!r}")
