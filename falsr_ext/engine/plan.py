"""A FALSR network as a flat plan of fused ops on named NHWC buffers.

Built once from a :class:`~falsr_ext.models.falsr_net.FalsrNet` (its genotype and
weights). No concat is ever materialised: a conv step lists the buffers it reads, and
``falsr::cell_conv`` reads them in place. Bias, ReLU and residual adds live in the conv's
epilogue; the FALSR tail (residual, sub-pixel shuffle, reconstruction conv) is one
``falsr::subpixel_conv``. Buffer names: ``x`` (the input), ``n0`` (F) and ``n{i+1}``
(cell i's output), ``fused``, and per-cell temporaries; the output is ``y``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from falsr_ext.models.cells import ConvCell, InvertedBottleneckCell
from falsr_ext.models.falsr_net import FalsrNet


@dataclass(frozen=True)
class Buffer:
    """An activation [N, channels, H, W] (NHWC in memory) of one dtype."""

    channels: int
    dtype: torch.dtype


@dataclass(frozen=True)
class ConvStep:
    """``out = act(conv(cat(inputs)) + bias) + residual`` (``falsr::cell_conv``)."""

    inputs: tuple[str, ...]
    weight: Tensor
    bias: Tensor | None
    groups: int
    relu: bool
    residual: str | None
    out: str


@dataclass(frozen=True)
class BottleneckStep:
    """``out = x + project(relu(dw(relu(expand(x))))) [+ extra]``
    (``falsr::inverted_bottleneck``)."""

    x: str
    weights: tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]
    extra_residual: str | None
    out: str


@dataclass(frozen=True)
class AddStep:
    """``out = a + b`` (an inverted-bottleneck cell's skip, when its blocks run unfused)."""

    a: str
    b: str
    out: str


@dataclass(frozen=True)
class TailStep:
    """``y = conv(depth_to_space(x), weight, bias)`` (``falsr::subpixel_conv``)."""

    x: str
    weight: Tensor
    bias: Tensor | None
    scale: int
    tf_order: bool


Step = ConvStep | BottleneckStep | AddStep | TailStep


@dataclass
class Plan:
    """The steps in execution order and the buffers they use (``x`` and ``y`` excluded)."""

    steps: list[Step]
    buffers: dict[str, Buffer]
    in_channels: int
    out_channels: int
    scale: int
    compute_dtype: torch.dtype
    last_use: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for i, step in enumerate(self.steps):
            for name in step_reads(step):
                self.last_use[name] = i


def step_reads(step: Step) -> list[str]:
    """Names of the buffers a step reads."""
    if isinstance(step, ConvStep):
        return [*step.inputs, *([step.residual] if step.residual else [])]
    if isinstance(step, BottleneckStep):
        return [step.x, *([step.extra_residual] if step.extra_residual else [])]
    if isinstance(step, AddStep):
        return [step.a, step.b]
    return [step.x]


def step_writes(step: Step) -> str | None:
    """Name of the buffer a step writes (``None`` for the tail, which writes the output)."""
    return None if isinstance(step, TailStep) else step.out


def _weights(conv: nn.Conv2d, dtype: torch.dtype) -> tuple[Tensor, Tensor | None]:
    # Stored in the compute dtype (bf16 weights are rounded here, once); the bias is
    # always fp32 (it is added in the fp32 epilogue).
    return _copy(conv.weight, dtype), None if conv.bias is None else _copy(conv.bias)


def _copy(t: Tensor, dtype: torch.dtype = torch.float32) -> Tensor:
    # Always a copy (.to of the same dtype would alias the parameter): a compiled plan
    # must not change when the model is trained or edited in place, even mid-call from
    # another thread.
    return t.detach().to(dtype, memory_format=torch.contiguous_format, copy=True)


class _Builder:
    def __init__(self, dtype: torch.dtype, fuse_ib: str) -> None:
        self.dtype = dtype  # storage of the cells' activations
        self.fuse_ib = fuse_ib
        self.steps: list[Step] = []
        self.buffers: dict[str, Buffer] = {}

    def unfused_ib(self, block) -> bool:
        """Whether an inverted-bottleneck block runs as three cell convs instead of the
        fused op. "auto" (measured on FALSR-B/C at 480x480): unfused for 3x3
        expand/project, whose arithmetic dominates and where the cell conv has Winograd,
        and always in bf16, where the cell conv has bf16 dot products and the fused op
        computes in fp32; fused for 1x1 in fp32, where memory traffic dominates."""
        if self.fuse_ib == "auto":
            return block.expand.kernel_size[0] == 3 or self.dtype == torch.bfloat16
        return self.fuse_ib == "never"

    def buffer(self, name: str, channels: int, dtype: torch.dtype | None = None) -> str:
        self.buffers[name] = Buffer(channels, dtype or self.dtype)
        return name

    def conv(self, inputs: list[str], conv: nn.Conv2d, relu: bool, out: str,
             residual: str | None = None, weight_dtype: torch.dtype | None = None) -> None:
        w, b = _weights(conv, weight_dtype or self.dtype)
        self.steps.append(ConvStep(tuple(inputs), w, b, conv.groups, relu, residual, out))


def _conv_cell(bld: _Builder, cell: ConvCell, inputs: list[str], out: str, channels: int) -> None:
    layers = list(cell.layers)
    if len(layers) == 1:
        bld.conv(inputs, layers[0], True, bld.buffer(out, channels))
        return
    first = bld.buffer(f"{out}.first", channels)
    bld.conv(inputs, layers[0], True, first)
    prev = first
    for j, layer in enumerate(layers[1:], start=1):
        last = j == len(layers) - 1
        name = bld.buffer(out if last else f"{out}.t{j % 2}", channels)
        bld.conv([prev], layer, True, name, residual=first if (last and cell.skip) else None)
        prev = name


def _ib_block_unfused(bld: _Builder, block, z: str, extra: str | None, name: str) -> None:
    # expand and project as cell convs (Winograd / bf16 dot products apply); the wide
    # maps go through memory, which costs less than fp32 direct arithmetic for 3x3.
    wide = block.expand.out_channels
    h1 = bld.buffer(f"{name}.h1", wide)
    h2 = bld.buffer(f"{name}.h2", wide)
    bld.conv([z], block.expand, True, h1)
    bld.conv([h1], block.depthwise, True, h2)
    base = z
    if extra is not None:  # (extra + z) + project(...) == extra + (z + project(...))
        base = bld.buffer(f"{name}.base", block.project.out_channels)
        bld.steps.append(AddStep(z, extra, base))
    bld.conv([h2], block.project, False, name, residual=base)


def _ib_cell(bld: _Builder, cell: InvertedBottleneckCell, inputs: list[str], out: str,
             channels: int) -> None:
    s = bld.buffer(f"{out}.s", channels)
    bld.conv(inputs, cell.reduce, False, s)
    z = s
    blocks = list(cell.blocks)
    for j, block in enumerate(blocks):
        last = j == len(blocks) - 1
        name = bld.buffer(out if last else f"{out}.z{j % 2}", channels)
        extra = s if (last and cell.skip) else None
        if bld.unfused_ib(block):
            _ib_block_unfused(bld, block, z, extra, name)
            z = name
            continue
        ws = tuple(
            _copy(t)
            for conv in (block.expand, block.depthwise, block.project)
            for t in (conv.weight, conv.bias)
        )
        bld.steps.append(BottleneckStep(z, ws, extra, name))  # type: ignore[arg-type]
        z = name


def build_plan(model: FalsrNet, dtype: torch.dtype = torch.float32,
               fuse_ib: str = "auto") -> Plan:
    """The plan of ``model`` (an eval-mode FalsrNet; its current weights are copied).

    ``fuse_ib``: "always" runs every inverted-bottleneck block as the fused op, "never"
    as three cell convs, "auto" picks per block (see ``_Builder.unfused_ib``).

    ``dtype`` float32: every buffer fp32. bfloat16 (or float16, which only the CUDA
    engine runs): the cells' activations and weights bf16 / fp16, while F (the fusion's
    residual), the fused map and the tail stay fp32 and every accumulation and epilogue
    is fp32.
    """
    if dtype not in (torch.float32, torch.bfloat16, torch.float16):
        raise ValueError(
            f"engine dtype must be float32, bfloat16 or float16 (CUDA only), got {dtype}")
    if fuse_ib not in ("auto", "always", "never"):
        raise ValueError(f"fuse_ib must be 'auto', 'always' or 'never', got {fuse_ib!r}")
    g = model.genotype
    bld = _Builder(dtype, fuse_ib)
    from falsr_ext.space import FEATURE_CHANNELS

    bld.buffer("n0", FEATURE_CHANNELS, torch.float32)
    bld.conv(["x"], model.head, True, "n0", weight_dtype=torch.float32)
    node = ["n0"]
    if dtype != torch.float32:
        # The cells read F in the compute dtype; the fusion's residual stays fp32.
        bld.conv(["x"], model.head, True, bld.buffer("n0.lp", FEATURE_CHANNELS),
                 weight_dtype=torch.float32)
        node = ["n0.lp"]
    for i, (cell, module) in enumerate(zip(g.cells, model.cells, strict=True)):
        inputs = [node[k] for k in cell.inputs]
        out = f"n{i + 1}"
        if isinstance(module, InvertedBottleneckCell):
            _ib_cell(bld, module, inputs, out, cell.filters)
        else:
            _conv_cell(bld, module, inputs, out, cell.filters)
        node.append(out)
    fused = bld.buffer("fused", FEATURE_CHANNELS, torch.float32)
    bld.conv([node[k] for k in g.fusion], model.fusion, True, fused, residual="n0")
    tail_in = fused
    if model.pre_shuffle is not None:
        tail_in = bld.buffer("pre", model.pre_shuffle.out_channels, torch.float32)
        w, b = _weights(model.pre_shuffle, torch.float32)
        bld.steps.append(ConvStep((fused,), w, b, 1, False, None, tail_in))
    tw, tb = _weights(model.tail, torch.float32)
    bld.steps.append(TailStep(tail_in, tw, tb, model.scale, model.shuffle_order == "tf"))
    return Plan(bld.steps, bld.buffers, model.in_channels, model.in_channels, model.scale,
                dtype)
