"""Runs a :class:`~falsr_ext.engine.plan.Plan` with the fused CPU ops, reusing buffers.

Buffers are allocated per input shape on the first call and reused by later calls of the
same shape; within a call, a buffer whose last reader has run is handed to the next
step that needs one of the same channel count and dtype (liveness-based reuse), so
FALSR-A at 480x480 holds 9 feature maps, not its ~30 intermediate ones.
"""

from __future__ import annotations

import torch
from torch import Tensor

from falsr_ext import conv_ops, ops
from falsr_ext.dtypes import parse_network_dtype
from falsr_ext.engine.plan import (
    AddStep,
    BottleneckStep,
    ConvStep,
    Plan,
    TailStep,
    build_plan,
    step_reads,
    step_writes,
)
from falsr_ext.models.falsr_net import FalsrNet


def assign_slots(plan: Plan) -> dict[str, int]:
    """Maps every buffer to a physical slot; two buffers share a slot only if they have
    the same channels and dtype and their lifetimes do not overlap."""
    slot_of: dict[str, int] = {}
    free: dict[tuple[int, torch.dtype], list[int]] = {}
    count = 0
    for i, step in enumerate(plan.steps):
        name = step_writes(step)
        if name is not None and name not in slot_of:
            buf = plan.buffers[name]
            pool = free.setdefault((buf.channels, buf.dtype), [])
            # A step may not write into a slot it also reads, so slots freed by this
            # step's own reads are only recycled after it (below).
            if pool:
                slot_of[name] = pool.pop()
            else:
                slot_of[name] = count
                count += 1
        for read in dict.fromkeys(step_reads(step)):  # a buffer may be read twice
            if read in slot_of and plan.last_use.get(read) == i and read != name:
                buf = plan.buffers[read]
                free.setdefault((buf.channels, buf.dtype), []).append(slot_of[read])
    return slot_of


class Engine:
    """A FALSR network compiled for the fused CPU ops. Call it like the module:
    ``engine(x)`` with ``x`` [N, C, H, W] float (C = the model's in_channels) returns
    [N, C, sH, sW] float32, equal to ``model(x)`` within 1e-5 (float32 engine).

    The weights are copied at compile time: recompile after changing the model.
    """

    def __init__(self, model: FalsrNet, dtype: str | torch.dtype = "float32",
                 fuse_ib: str = "auto") -> None:
        if not isinstance(model, FalsrNet):
            raise TypeError(f"compile_engine expects a FalsrNet, got {type(model).__name__}")
        if next(model.parameters()).device.type != "cpu":
            raise ValueError("the fused engine runs on the CPU; move the model with .cpu()")
        self.dtype = parse_network_dtype(dtype)
        self.plan = build_plan(model, self.dtype, fuse_ib)
        self.scale = model.scale
        self.in_channels = model.in_channels
        self._slots = assign_slots(self.plan)
        self._shape: tuple[int, int, int] | None = None
        self._pool: dict[int, Tensor] = {}

    def _buffers(self, n: int, h: int, w: int) -> dict[str, Tensor]:
        if self._shape != (n, h, w):
            self._pool = {}
            for name, slot in self._slots.items():
                if slot not in self._pool:
                    buf = self.plan.buffers[name]
                    self._pool[slot] = torch.empty(
                        (n, buf.channels, h, w), dtype=buf.dtype,
                        memory_format=torch.channels_last,
                    )
            self._shape = (n, h, w)
        return {name: self._pool[slot] for name, slot in self._slots.items()}

    def release(self) -> None:
        """Frees the cached buffers (they are re-made on the next call)."""
        self._pool, self._shape = {}, None

    def __call__(self, x: Tensor) -> Tensor:
        return self._run(x, None)

    def profile(self, x: Tensor) -> list[tuple[str, float]]:
        """Runs ``x`` once and returns (step description, seconds) for every step."""
        import time

        times: list[tuple[str, float]] = []
        last = [time.perf_counter()]

        def tick(step) -> None:
            now = time.perf_counter()
            times.append((describe_step(step, self.plan), now - last[0]))
            last[0] = now

        self._run(x, tick)
        return times

    @torch.inference_mode()
    def _run(self, x: Tensor, tick) -> Tensor:
        if not isinstance(x, Tensor) or x.dim() != 4 or x.shape[1] != self.in_channels:
            shape = list(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"expected input [N, {self.in_channels}, H, W], got {shape}")
        if x.device.type != "cpu":
            raise ValueError(f"the fused engine runs on the CPU, got a tensor on {x.device}")
        if x.numel() == 0:
            raise ValueError(f"expected a non-empty input, got shape {list(x.shape)}")
        n, _, h, w = x.shape
        bufs = self._buffers(n, h, w)
        bufs["x"] = x.float().contiguous(memory_format=torch.channels_last)
        y: Tensor | None = None
        for step in self.plan.steps:
            if isinstance(step, ConvStep):
                conv_ops.cell_conv(
                    [bufs[i] for i in step.inputs], step.weight, step.bias, step.groups,
                    step.relu, None if step.residual is None else bufs[step.residual],
                    out=bufs[step.out],
                )
            elif isinstance(step, BottleneckStep):
                conv_ops.inverted_bottleneck(
                    bufs[step.x], *step.weights,
                    extra_residual=None if step.extra_residual is None
                    else bufs[step.extra_residual],
                    out=bufs[step.out],
                )
            elif isinstance(step, AddStep):
                torch.add(bufs[step.a], bufs[step.b], out=bufs[step.out])
            elif isinstance(step, TailStep):
                y = ops.subpixel_conv(bufs[step.x], None, step.weight, step.bias, step.scale,
                                      step.tf_order)
            if tick is not None:
                tick(step)
        assert y is not None  # every plan ends with its tail
        return y.contiguous()


def describe_step(step, plan: Plan) -> str:
    """One line naming a step's op, shapes and buffers (for profiles and logs)."""
    if isinstance(step, ConvStep):
        k = step.weight.shape[-1]
        cin = step.weight.shape[1] * step.groups
        g = f" g{step.groups}" if step.groups > 1 else ""
        res = f" +{step.residual}" if step.residual else ""
        return (f"conv{k}x{k}{g} {cin}->{step.weight.shape[0]} "
                f"[{'+'.join(step.inputs)}]{res} -> {step.out}")
    if isinstance(step, AddStep):
        return f"add [{step.a}+{step.b}] -> {step.out}"
    if isinstance(step, BottleneckStep):
        f, wide, k = step.weights[0].shape[1], step.weights[0].shape[0], step.weights[0].shape[-1]
        return f"ib k{k} {f}->{wide}->{f} [{step.x}] -> {step.out}"
    return f"tail x{step.scale} [{step.x}]"


def compile_engine(model: FalsrNet, dtype: str | torch.dtype = "float32",
                   fuse_ib: str = "auto") -> Engine:
    """Compile ``model`` (a FalsrNet on the CPU) into a fused :class:`Engine`.

    ``dtype="float32"`` matches the module within 1e-5. ``"bfloat16"`` runs the cells on
    AMX (where the CPU has it) with fp32 accumulation, fp32 F / fusion / tail; its PSNR is
    within 0.02 dB of float32 on the standard benchmarks.

    ``fuse_ib`` ("auto", "always", "never") chooses how inverted-bottleneck blocks run:
    the fused op or three cell convs (see :func:`~falsr_ext.engine.plan.build_plan`).
    """
    return Engine(model.eval(), dtype, fuse_ib)
