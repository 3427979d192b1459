"""ONNX export of a network, for mobile and edge runtimes, checked with ONNX Runtime.

The graph takes ``x`` [N, C, H, W] float32 in [0, 1] (C = 1: analog luma, as FALSR) with
any N, H and W, and returns ``y`` [N, C, s*H, s*W]. Needs the ``onnx`` and ``onnxscript``
packages (``pip install onnx onnxscript``; ``onnxruntime`` too for the check).
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from falsr_ext.errors import FalsrError
from falsr_ext.files import atomic_path
from falsr_ext.models.falsr_net import FalsrNet


class ExportError(FalsrError, RuntimeError):
    """The ONNX exporter or runtime is missing, or the exported graph disagrees."""


def _require(module: str, purpose: str):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ExportError(f"{purpose} needs the '{module}' package: "
                          f"python -m pip install onnx onnxscript onnxruntime") from None


@contextlib.contextmanager
def _quiet_exporter() -> Iterator[None]:
    """Silence the exporter's notes that do not concern our graphs (torchvision ops it
    cannot register, pytree deprecations); real failures still raise."""
    log = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning)
            yield
    finally:
        log.setLevel(level)


def export_onnx(model: FalsrNet, path: str | os.PathLike[str], opset: int = 18) -> Path:
    """Write ``model`` as an ONNX graph with dynamic batch, height and width."""
    _require("onnx", "ONNX export")
    _require("onnxscript", "ONNX export")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    net = copy.deepcopy(model).to("cpu", torch.float32).eval()
    x = torch.rand(1, model.in_channels, 32, 32) * float(getattr(model, "input_range", 1.0))
    dims = {0: torch.export.Dim("batch", max=1024), 2: torch.export.Dim("height", min=4),
            3: torch.export.Dim("width", min=4)}
    try:
        with _quiet_exporter(), atomic_path(path) as tmp:  # never a partial .onnx
            program = torch.onnx.export(net, (x,), dynamo=True, verbose=False, input_names=["x"],
                                        output_names=["y"], dynamic_shapes={"x": dims},
                                        opset_version=opset)
            program.save(str(tmp))
    except Exception as exc:  # the exporter raises many types; report them as one
        name = getattr(getattr(model, "card", None), "name", None) or "the model"
        raise ExportError(f"ONNX export of {name} failed: "
                          f"{' '.join(str(exc).split())[:300]}") from exc
    return path


def onnx_max_abs_error(model: FalsrNet, path: str | os.PathLike[str], x: torch.Tensor) -> float:
    """Max abs difference between ONNX Runtime (CPU) on ``path`` and ``model`` on ``x``."""
    ort = _require("onnxruntime", "checking an ONNX export")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy().astype(np.float32)})[0]
    with torch.inference_mode():
        want = copy.deepcopy(model).to("cpu", torch.float32).eval()(x).numpy()
    if got.shape != want.shape:
        raise ExportError(f"ONNX output shape {got.shape} != PyTorch's {want.shape}")
    return float(np.abs(got - want).max())
