"""What the CPU and CUDA engines share: buffer slots, the per-shape buffer pool (and the
set of them that lets several threads call one engine), and the loop that runs a plan's
steps through the fused ops (which dispatch on the tensors' device, so the same loop
drives the CPU and the CUDA kernels)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import Tensor

from falsr_ext import conv_ops, ops
from falsr_ext.engine.plan import (
    AddStep,
    BottleneckStep,
    ConvStep,
    Plan,
    Step,
    TailStep,
    step_reads,
    step_writes,
)


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


class BufferPool:
    """The NHWC buffers of a plan on one device, one tensor per slot, made for an input
    shape on first use and kept until the shape changes or :meth:`release`."""

    def __init__(self, plan: Plan, device: torch.device | str = "cpu",
                 slots: dict[str, int] | None = None) -> None:
        self.plan = plan
        self.device = torch.device(device)
        self.slots = assign_slots(plan) if slots is None else slots
        self._shape: tuple[int, int, int] | None = None
        self._tensors: dict[int, Tensor] = {}

    def buffers(self, n: int, h: int, w: int) -> dict[str, Tensor]:
        """Every plan buffer name mapped to its [n, C, h, w] channels_last tensor."""
        if self._shape != (n, h, w):
            self._tensors = {}
            for name, slot in self.slots.items():
                if slot not in self._tensors:
                    buf = self.plan.buffers[name]
                    self._tensors[slot] = torch.empty(
                        (n, buf.channels, h, w), dtype=buf.dtype, device=self.device,
                        memory_format=torch.channels_last,
                    )
            self._shape = (n, h, w)
        return {name: self._tensors[slot] for name, slot in self.slots.items()}

    @property
    def shape(self) -> tuple[int, int, int] | None:
        """The (n, h, w) the tensors are made for, or None when there are none."""
        return self._shape

    def release(self) -> None:
        """Frees the tensors (they are re-made on the next call)."""
        self._tensors, self._shape = {}, None


def _stream_key(device: torch.device) -> int | None:
    """The current CUDA stream's handle on ``device`` (None on the CPU)."""
    if device.type != "cuda":
        return None
    return torch.cuda.current_stream(device).cuda_stream


class BufferPools:
    """The :class:`BufferPool` s of one engine, one checked out per running call, so
    concurrent calls (threads) never share a buffer.

    A call takes an idle pool already made for its shape, else repurposes the least
    recently used idle pool (so a single thread holds one pool, as before), else makes a
    new one: there are never more pools than calls that ran at once, and at most
    ``max_idle`` are kept between calls. On CUDA a pool is only reused on the stream it
    was made on: kernels on one stream run in order, so the next call's writes cannot
    overtake the previous call's pending kernels, and the caching allocator's
    stream-ordered frees stay correct.
    """

    def __init__(self, plan: Plan, device: torch.device | str = "cpu",
                 max_idle: int = 8) -> None:
        self.plan = plan
        self.device = torch.device(device)
        if max_idle < 1:
            raise ValueError(f"max_idle must be at least 1, got {max_idle}")
        self.slots = assign_slots(plan)
        self.max_idle = max_idle
        self._lock = threading.Lock()
        self._idle: list[tuple[int | None, BufferPool]] = []  # least recently used first
        self._generation = 0  # bumped by release(): pools out then are dropped on return

    def _take(self, stream: int | None, shape: tuple[int, int, int]
              ) -> tuple[BufferPool, int]:
        with self._lock:
            generation = self._generation
            same_stream = [i for i, (s, _) in enumerate(self._idle) if s == stream]
            exact = [i for i in same_stream if self._idle[i][1].shape == shape]
            pick = exact[-1] if exact else same_stream[0] if same_stream else None
            if pick is not None:
                return self._idle.pop(pick)[1], generation
        return BufferPool(self.plan, self.device, self.slots), generation

    @contextmanager
    def checkout(self, n: int, h: int, w: int) -> Iterator[dict[str, Tensor]]:
        """The plan's buffers for one call on an [n, C, h, w] input, for this call only
        (see :meth:`BufferPool.buffers`); the pool goes back when the block exits."""
        stream = _stream_key(self.device)
        pool, generation = self._take(stream, (n, h, w))
        try:
            yield pool.buffers(n, h, w)
        finally:
            with self._lock:
                if generation == self._generation:
                    self._idle.append((stream, pool))
                    del self._idle[:-self.max_idle]

    def idle(self) -> int:
        """How many pools are kept between calls."""
        with self._lock:
            return len(self._idle)

    def release(self) -> None:
        """Frees the idle pools' tensors; pools in use are dropped when their call ends."""
        with self._lock:
            self._idle.clear()
            self._generation += 1


def check_engine_input(x: object, in_channels: int) -> None:
    """Raise ValueError unless ``x`` is a non-empty [N, in_channels, H, W] tensor."""
    if not isinstance(x, Tensor) or x.dim() != 4 or x.shape[1] != in_channels:
        shape = list(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"expected input [N, {in_channels}, H, W], got {shape}")
    if x.numel() == 0:
        raise ValueError(f"expected a non-empty input, got shape {list(x.shape)}")


def run_plan(plan: Plan, bufs: dict[str, Tensor],
             tick: Callable[[Step], None] | None = None) -> Tensor:
    """Run ``plan`` on ``bufs`` (``bufs["x"]`` holds the input) and return the tail's
    output; ``tick(step)`` is called after every step (profiling)."""
    y: Tensor | None = None
    for step in plan.steps:
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
