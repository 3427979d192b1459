"""How each end-to-end peer of the CPU suite is built and called (used by test_bench_network.py).

Every peer gets the same FALSR network (an eval ``nn.Module``, fp32, NCHW) and the same
input, and is turned into a callable ``fn(x)``: ``x`` [1, 1, H, W] fp32 NCHW in, fp32
[1, 1, 2H, 2W] out, the contract of ``falsr_ext.engine``. Conversions a user of a peer has
to do (to bf16 / channels_last and back, to numpy for ONNX Runtime) are inside ``fn`` and
are timed; they touch 1 + 4 LR-sized planes, negligible next to the network.

Environment (all optional):
  FALSR_BENCH_SIZE     LR height = width (default 480, the paper's size; 96 for a smoke run)
  FALSR_BENCH_ROUNDS   timed calls per case (default 7; the median is reported)
  FALSR_BENCH_WARMUP   untimed calls before them (default 1; compile peers compile first)
  FALSR_BENCH_WEIGHTS  "random" (default: seeded random init, speed does not depend on
                       the values) or a folder holding the official FALSR-{A,B,C}.pb
  FALSR_BENCH_NETWORKS comma-separated (default "FALSR-A,FALSR-B,FALSR-C"); "default" is
                       the bundled default model, always with its shipped weights
"""

from __future__ import annotations

import copy
import importlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from falsr_ext.models.falsr_net import build_model
from falsr_ext.models.zoo import ZOO_GENOTYPES

THREADS = 2
SCALE = 2
SEED = 0
SIZE = int(os.environ.get("FALSR_BENCH_SIZE", "480"))
ROUNDS = int(os.environ.get("FALSR_BENCH_ROUNDS", "7"))
WARMUP = int(os.environ.get("FALSR_BENCH_WARMUP", "1"))
WEIGHTS = os.environ.get("FALSR_BENCH_WEIGHTS", "random")
NETWORKS = tuple(os.environ.get("FALSR_BENCH_NETWORKS", ",".join(ZOO_GENOTYPES)).split(","))

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}
FORMATS = {"nchw": torch.contiguous_format, "channels_last": torch.channels_last}
ENGINE_DTYPES = {"fp32": "float32", "bf16": "bfloat16"}


@dataclass(frozen=True)
class Case:
    """One way of running a network: runtime x dtype x memory layout."""

    runtime: str  # "eager" | "compile" | "onnxruntime" | "ours"
    dtype: str  # "fp32" | "bf16"
    layout: str  # "nchw" | "channels_last" | "nhwc" (ours: NHWC kernels, NCHW API)

    @property
    def role(self) -> str:
        return "ours" if self.runtime == "ours" else "baseline"

    @property
    def id(self) -> str:
        return f"{self.runtime}-{self.dtype}-{self.layout}"

    def summaries(self, network: str) -> list[str]:
        """The cpu-summary.json rows this case feeds (ours feeds every row of its dtype)."""
        if self.runtime == "ours":
            peers = ("eager", "compile", "onnxruntime") if self.dtype == "fp32" else (
                "eager", "compile")
            return [f"{network}/{self.dtype}/{p}" for p in peers]
        return [f"{network}/{self.dtype}/{self.runtime}"]


CASES = (
    Case("eager", "fp32", "nchw"),
    Case("eager", "fp32", "channels_last"),
    Case("eager", "bf16", "channels_last"),
    Case("compile", "fp32", "channels_last"),
    Case("compile", "bf16", "channels_last"),
    Case("onnxruntime", "fp32", "nchw"),
    Case("ours", "fp32", "nhwc"),
    Case("ours", "bf16", "nhwc"),
)


@dataclass
class Prepared:
    """A ready-to-time peer and what preparing it cost / chose."""

    fn: Callable[[torch.Tensor], torch.Tensor]
    info: dict[str, Any]


# ------------------------------------------------------------------------ inputs
def build_network(name: str) -> nn.Module:
    """FALSR-A/B/C x2 luma, TF shuffle order, eval, fp32 NCHW: seeded random or official;
    "default": the bundled default model with its weights."""
    if name == "default":
        from falsr_ext.models.default import load_default_model

        return load_default_model().eval()
    if WEIGHTS == "random":
        torch.manual_seed(SEED)
        model = build_model(ZOO_GENOTYPES[name], scale=SCALE, in_channels=1, shuffle_order="tf")
        return model.eval()
    from falsr_ext.models.loading import load_model

    return load_model(name, weights=Path(WEIGHTS) / f"{name}.pb").eval()


def make_input(size: int = SIZE) -> torch.Tensor:
    """One LR luma image in [0.05, 0.95] (never zeros), fixed seed."""
    g = torch.Generator().manual_seed(SEED + 1)
    return torch.rand(1, 1, size, size, generator=g) * 0.9 + 0.05


def gmacs(name: str, size: int = SIZE) -> float | None:
    """Conv MACs of the network at this size, in units of 1e9 (None if the counter is unbuilt)."""
    try:
        from falsr_ext.counter import count
    except ImportError:
        return None
    from falsr_ext.models.loading import resolve_genotype

    return count(resolve_genotype(name)[0], size, size, SCALE, 1).macs / 1e9


# ------------------------------------------------------------------------- peers
def prepare(case: Case, model: nn.Module, x: torch.Tensor, workdir: Path) -> Prepared:
    """Build the callable of ``case`` for ``model`` (skips the test if the peer is missing)."""
    builders = {"eager": _eager, "compile": _compiled, "onnxruntime": _onnxruntime,
                "ours": _ours}
    return builders[case.runtime](case, model, x, workdir)


def _converted(case: Case, model: nn.Module) -> nn.Module:
    return copy.deepcopy(model).to(dtype=DTYPES[case.dtype], memory_format=FORMATS[case.layout])


def _wrap(case: Case, module: Callable[[torch.Tensor], torch.Tensor]):
    """fp32 NCHW in -> the peer's dtype/layout -> fp32 out."""
    dtype, fmt = DTYPES[case.dtype], FORMATS[case.layout]
    if dtype == torch.float32 and fmt == torch.contiguous_format:
        return module

    def fn(x: torch.Tensor) -> torch.Tensor:
        return module(x.to(dtype=dtype, memory_format=fmt)).float()

    return fn


def _eager(case: Case, model: nn.Module, x: torch.Tensor, workdir: Path) -> Prepared:
    return Prepared(_wrap(case, _converted(case, model)), {})


def _compiled(case: Case, model: nn.Module, x: torch.Tensor, workdir: Path) -> Prepared:
    """torch.compile (inductor, default mode) with freezing; the first call (the compile) is
    timed separately as ``compile_s`` and excluded from the benchmark."""
    import torch._dynamo
    import torch._inductor.config as inductor_config

    torch._dynamo.reset()  # one FalsrNet.forward per case: no recompile-limit surprises
    module = _converted(case, model)
    compiled = torch.compile(module)
    fn = _wrap(case, compiled)
    with inductor_config.patch(freezing=True), torch.no_grad():
        start = time.perf_counter()
        fn(x)
        compile_s = time.perf_counter() - start
    return Prepared(fn, {"compile_s": compile_s, "freezing": True})


def _onnxruntime(case: Case, model: nn.Module, x: torch.Tensor, workdir: Path) -> Prepared:
    """Export the same nn.Module (fixed input size) and run it on the CPU provider, 2
    intra-op threads, all graph optimisations."""
    ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed "
                              "(python -m pip install onnxruntime onnx onnxscript)")
    pytest.importorskip("onnx", reason="onnx (needed by torch.onnx.export) is not installed")
    try:
        importlib.import_module("onnxscript")
        dynamo = True  # the supported exporter (torch.export based)
    except ImportError:
        dynamo = False  # the TorchScript exporter: needs only onnx
    path = workdir / f"falsr-{SIZE}.onnx"
    start = time.perf_counter()
    torch.onnx.export(copy.deepcopy(model), (x,), str(path), dynamo=dynamo,
                      input_names=["x"], output_names=["y"])
    export_s = time.perf_counter() - start
    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    input_name = session.get_inputs()[0].name

    def fn(x: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(session.run(None, {input_name: x.numpy()})[0])

    return Prepared(fn, {"export_s": export_s, "onnxruntime": ort.__version__,
                         "exporter": "dynamo" if dynamo else "torchscript"})


def _ours(case: Case, model: nn.Module, x: torch.Tensor, workdir: Path) -> Prepared:
    """``falsr_ext.engine.compile_engine``: skipped while the engine does not exist."""
    try:
        engine_module = importlib.import_module("falsr_ext.engine")
    except Exception as exc:  # absent, or its ops not in the built extension yet
        pytest.skip(f"falsr_ext.engine cannot be imported ({type(exc).__name__}: {exc})")
    if not hasattr(engine_module, "compile_engine"):
        pytest.skip("falsr_ext.engine has no compile_engine yet")
    start = time.perf_counter()
    engine = engine_module.compile_engine(model, dtype=ENGINE_DTYPES[case.dtype])
    return Prepared(engine, {"build_s": time.perf_counter() - start})
