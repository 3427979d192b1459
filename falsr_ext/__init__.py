"""falsr_ext: fast, accurate, lightweight super-resolution for PyTorch: the FALSR, DLSR
and TPSR search spaces, their released networks, a fused CPU engine.

The public API, kept small (heavy parts import lazily, so ``import falsr_ext`` is cheap)::

    from falsr_ext import Genotype, parse_genotype, build_model, load_model, evaluate
    model = load_model("FALSR-A", weights="FALSR-A.pb")
    print(evaluate(model, "Set5").psnr)
    tpsr = load_model("TPSR_D2X4.pt")          # a released checkpoint, read weights-only
    net = create_model("dlsr:nf48-conv_1x1+sep_conv_7x7+sep_conv_5x5-c3=1+2,c4=2+3,c5=2+4,c6=4+5")
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
    "create_model": "falsr_ext.spaces",
    "get_space": "falsr_ext.spaces",
    "space_names": "falsr_ext.spaces",
    "ModelCard": "falsr_ext.spaces",
}

__all__ = [
    "Cell", "Engine", "FalsrError", "FalsrNet", "Genotype", "ModelCard", "build_model",
    "compile_engine", "convert_pb", "count", "create_model", "get_space", "space_names",
    "count_batch", "count_module", "evaluate",
    "get_genotype", "import_pb", "load_model", "load_weights", "parse_genotype",
    "save_weights", "upscale", "zoo_names",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'falsr_ext' has no attribute {name!r}")
