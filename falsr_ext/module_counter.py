"""Count the MACs and parameters of an arbitrary ``nn.Module`` by tracing its aten ops.

The analytic counter (:mod:`falsr_ext.counter`) only knows genotypes of our search space;
this module counts any PyTorch model, so networks from outside the space can be compared
with ours under the same convention::

    from falsr_ext.module_counter import count_module
    res = count_module(model, (1, 1, 480, 480))      # a shape, or a tensor
    res.macs, res.params, res.by_op, res.by_module

The module is run once under a :class:`~torch.utils._python_dispatch.TorchDispatchMode`
that sees every aten op the forward pass dispatches (``conv2d``, ``linear``, ``matmul``
and ``einsum`` arrive already decomposed into ``aten.convolution``, ``aten.addmm``,
``aten.mm``, ``aten.bmm``...). By default it runs on *meta* tensors (shapes only, no data,
no memory, milliseconds), on a copy of the module whose parameters are meta tensors (the
weights themselves are never copied); a module that already lives entirely on meta is run
as is. The user's module is never moved or modified, and no hook is added to it (module
attribution uses process-wide hooks removed after the run). ``device="cpu"`` (or
``"cuda"``) runs a copy on real tensors instead, for models whose forward needs data
(``.item()``, data-dependent shapes).

MAC formulas (bias additions are not MACs):

* convolution (any dims, stride, padding, dilation, groups, depthwise):
  ``out.numel() * (C_in / groups) * prod(kernel)``;
* transposed convolution: ``in.numel() * (C_out / groups) * prod(kernel)`` (each input
  element is scattered through its group's ``C_out/groups x kernel`` weights);
* ``mm``/``addmm``/``bmm``/``baddbmm``/``mv``/``dot``/``matmul``/``linear``:
  ``m * n * k`` (batched: times the batch), i.e. ``out.numel() * k``;
* scaled-dot-product attention kernels: ``b * h * s_q * s_k * (d_qk + d_v)``;
* everything else (ReLU, element-wise add, concat, pixel shuffle, views, pooling,
  normalisation...) counts 0 MACs but is still listed in :attr:`ModuleCount.by_op`.

These are exactly half of what ``torch.utils.flop_counter.FlopCounterMode`` reports for
convolutions and matrix products (it counts 2 FLOPs per MAC).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn.modules.module import (
    register_module_forward_hook,
    register_module_forward_pre_hook,
)
from torch.nn.parameter import is_lazy
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map

from falsr_ext.errors import FalsrError

__all__ = ["CONVENTION", "ModuleCount", "ModuleCountError", "OpCount", "count_module"]

CONVENTION = (
    "MACs (multiply-accumulates), not FLOPs: one MAC is one multiply plus one add, so "
    "torch.utils.flop_counter.FlopCounterMode (and most 'FLOPs' tables) report 2 x MACs. "
    "Only convolutions (incl. grouped, depthwise, dilated, strided, transposed), matrix "
    "products (mm, addmm, bmm, baddbmm, matmul, linear) and attention kernels count; "
    "bias, ReLU, element-wise add, concat and pixel shuffle count 0 MACs. "
    "Params = sum(p.numel()) over the module's unique parameters (buffers excluded)."
)

ROOT = ""  # by_module key of ops run by the root module itself (named_modules convention)


class ModuleCountError(FalsrError, RuntimeError):
    """The module could not be run to count it (e.g. data-dependent code on meta)."""


@dataclass(frozen=True)
class OpCount:
    """MACs and number of calls of one aten op (``macs`` is 0 for non-MAC ops)."""

    macs: int
    count: int


@dataclass(frozen=True)
class ModuleCount:
    """Result of :func:`count_module`.

    Attributes:
        macs: total MACs (``conv_macs + linear_macs + attention_macs``).
        conv_macs: MACs of convolutions (incl. transposed).
        linear_macs: MACs of matrix products (linear, matmul, mm, bmm, einsum...).
        attention_macs: MACs of fused scaled-dot-product attention kernels.
        params: unique parameter elements, ``sum(p.numel() for p in module.parameters())``.
        by_op: aten op name (``"aten.convolution"``) -> :class:`OpCount`, every op seen.
        by_module: module name (as in ``named_modules``; ``""`` is the root) -> MACs of the
            ops it ran itself, i.e. each op is attributed to the innermost module whose
            forward was running. :meth:`inclusive_by_module` sums submodules in.
        device: where the forward pass ran (``"meta"`` by default).
        convention: what is counted, in words (:data:`CONVENTION`).
    """

    macs: int
    conv_macs: int
    linear_macs: int
    attention_macs: int
    params: int
    by_op: dict[str, OpCount] = field(default_factory=dict)
    by_module: dict[str, int] = field(default_factory=dict)
    device: str = "meta"
    convention: str = CONVENTION

    @property
    def flop_counter_flops(self) -> int:
        """What FlopCounterMode would report for the same ops (2 x MACs)."""
        return 2 * self.macs

    def inclusive_by_module(self) -> dict[str, int]:
        """MACs per module including its submodules (the root ``""`` holds the total)."""
        out: dict[str, int] = {}
        for name, macs in self.by_module.items():
            parts = name.split(".") if name else []
            out[ROOT] = out.get(ROOT, 0) + macs
            for i in range(1, len(parts) + 1):
                key = ".".join(parts[:i])
                out[key] = out.get(key, 0) + macs
        return out


# ------------------------------------------------------------------------- op formulas
def _numel(shape: Sequence[int]) -> int:
    return math.prod(int(s) for s in shape)


def _conv_macs(args: Sequence[Any], out: Any, transposed: bool) -> int:
    x, w = args[0], args[1]
    kernel = _numel(w.shape[2:])
    if transposed:  # weight [C_in, C_out/groups, *k]
        return x.numel() * int(w.shape[1]) * kernel
    return _numel(out.shape) * int(w.shape[1]) * kernel  # weight [C_out, C_in/groups, *k]


def _convolution(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> int:
    # convolution(input, weight, bias, stride, padding, dilation, transposed, ...)
    transposed = bool(args[6]) if len(args) > 6 else bool(kwargs.get("transposed", False))
    return _conv_macs(args, out, transposed)


def _plain_conv(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> int:
    return _conv_macs(args, out, transposed=False)


def _transposed_conv(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> int:
    return _conv_macs(args, out, transposed=True)


def _product(first: int) -> Callable[[Sequence[Any], dict[str, Any], Any], int]:
    """m*n*k of a (batched) product whose left operand is ``args[first]``: out.numel() * k."""

    def macs(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> int:
        a = args[first]
        return _numel(out.shape) * int(a.shape[-1]) if a.dim() else 0

    return macs


def _attention(args: Sequence[Any], kwargs: dict[str, Any], out: Any) -> int:
    q, k, v = args[0], args[1], args[2]  # [b, h, s, d]
    return _numel(q.shape[:-1]) * int(k.shape[-2]) * (int(q.shape[-1]) + int(v.shape[-1]))


_CONV = "conv"
_LINEAR = "linear"
_ATTENTION = "attention"


def _formulas() -> dict[Any, tuple[str, Callable[..., int]]]:
    aten = torch.ops.aten
    table: dict[str, tuple[str, Callable[..., int]]] = {
        "convolution": (_CONV, _convolution),
        "_convolution": (_CONV, _convolution),
        "convolution_overrideable": (_CONV, _convolution),
        "cudnn_convolution": (_CONV, _plain_conv),
        "_slow_conv2d_forward": (_CONV, _plain_conv),
        "mkldnn_convolution": (_CONV, _plain_conv),
        "cudnn_convolution_transpose": (_CONV, _transposed_conv),
        "mm": (_LINEAR, _product(0)),
        "bmm": (_LINEAR, _product(0)),
        "mv": (_LINEAR, _product(0)),
        "dot": (_LINEAR, _product(0)),
        "vdot": (_LINEAR, _product(0)),
        "matmul": (_LINEAR, _product(0)),
        "linear": (_LINEAR, _product(0)),
        "addmm": (_LINEAR, _product(1)),
        "baddbmm": (_LINEAR, _product(1)),
        "addmv": (_LINEAR, _product(1)),
        "_scaled_dot_product_flash_attention": (_ATTENTION, _attention),
        "_scaled_dot_product_flash_attention_for_cpu": (_ATTENTION, _attention),
        "_scaled_dot_product_efficient_attention": (_ATTENTION, _attention),
        "_scaled_dot_product_cudnn_attention": (_ATTENTION, _attention),
    }
    out: dict[Any, tuple[str, Callable[..., int]]] = {}
    for name, entry in table.items():
        packet = getattr(aten, name, None)  # some ops only exist in some builds
        if packet is not None:
            out[packet] = entry
    return out


_FORMULAS: dict[Any, tuple[str, Callable[..., int]]] | None = None
_SHORTCUTS: dict[Any, bool] | None = None


def _shape_preserving() -> dict[Any, bool]:
    """Element-wise activations whose float output has the input's shape, dtype and
    strides: aten overload -> in-place flag."""
    global _SHORTCUTS
    if _SHORTCUTS is None:
        aten = torch.ops.aten
        names = ("relu", "leaky_relu", "hardtanh", "gelu", "silu", "sigmoid", "tanh", "elu")
        _SHORTCUTS = {}
        for name in names:
            for op_name, inplace in ((name, False), (name + "_", True)):
                packet = getattr(aten, op_name, None)
                overload = getattr(packet, "default", None) if packet is not None else None
                if overload is not None:
                    _SHORTCUTS[overload] = inplace
    return _SHORTCUTS


# ------------------------------------------------------------------------- recording
class _Recorder(TorchDispatchMode):
    """Dispatch mode that attributes each aten op's MACs to the innermost running module."""

    def __init__(
        self, formulas: dict[Any, tuple[str, Callable[..., int]]], meta: bool = False
    ) -> None:
        super().__init__()
        self.formulas = formulas
        # On meta, shape-preserving activations need not run (their meta kernels are
        # Python references, the slowest part of a meta forward pass).
        self.shortcuts = _shape_preserving() if meta else {}
        self.stack: list[str] = [ROOT]
        self.by_op: dict[str, list[int]] = {}
        self.by_module: dict[str, int] = {}
        self.kind_macs = {_CONV: 0, _LINEAR: 0, _ATTENTION: 0}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        inplace = self.shortcuts.get(func)
        x = args[0] if args else None
        if inplace is not None and isinstance(x, torch.Tensor) and x.is_floating_point():
            out = x if inplace else torch.empty_like(x)
        else:
            out = func(*args, **kwargs)
        packet = func.overloadpacket
        macs = 0
        entry = self.formulas.get(packet)
        if entry is not None:
            kind, formula = entry
            result = out[0] if isinstance(out, (tuple, list)) else out
            macs = int(formula(args, kwargs, result))
            self.kind_macs[kind] += macs
        rec = self.by_op.setdefault(str(packet), [0, 0])
        rec[0] += macs
        rec[1] += 1
        owner = self.stack[-1]
        self.by_module[owner] = self.by_module.get(owner, 0) + macs
        return out


def _install_hooks(root: nn.Module, recorder: _Recorder) -> list[Any]:
    """Process-wide module hooks (removed after the run) that track the running module.

    Global hooks leave the module's own hook dicts untouched; modules outside ``root``
    (e.g. run by other threads) are ignored.
    """
    names = {id(sub): name for name, sub in root.named_modules() if sub is not root}

    def pre(mod: nn.Module, _inp: Any) -> None:
        name = names.get(id(mod))
        if name is not None:
            recorder.stack.append(name)

    def post(mod: nn.Module, _inp: Any, _out: Any) -> None:
        if id(mod) in names and len(recorder.stack) > 1:
            recorder.stack.pop()

    return [
        register_module_forward_pre_hook(pre),
        register_module_forward_hook(post, always_call=True),
    ]


# ------------------------------------------------------------------------- copies/inputs
def _runnable_copy(module: nn.Module, device: torch.device) -> nn.Module:
    """``module`` itself when it already lives on meta (running it there changes no data);
    otherwise a copy on ``device`` (:func:`_copy_to`)."""
    if device.type == "meta":
        tensors = [*module.parameters(), *module.buffers()]
        if all(t.device.type == "meta" and not is_lazy(t) for t in tensors):
            return module
    return _copy_to(module, device)


def _copy_to(module: nn.Module, device: torch.device) -> nn.Module:
    """Deep copy of ``module`` on ``device``, without copying weights to meta first.

    Parameters and buffers are pre-seeded in the deepcopy memo (tied weights stay tied):
    on meta they are empty meta tensors; on a real device parameters are detached aliases
    (or copies, across devices) and buffers are copies, so running statistics etc. of the
    user's module are never touched.
    """
    memo: dict[int, Any] = {}
    meta = device.type == "meta"
    for p in module.parameters():
        if id(p) in memo:
            continue
        if is_lazy(p):  # materialised on ``device`` by the copy's first forward
            memo[id(p)] = type(p)(requires_grad=p.requires_grad, device=device, dtype=p.dtype)
            continue
        data = torch.empty_like(p, device=device) if meta else p.detach().to(device)
        memo[id(p)] = nn.Parameter(data, requires_grad=p.requires_grad)
    for b in module.buffers():
        if id(b) in memo:
            continue
        if is_lazy(b):
            memo[id(b)] = type(b)(requires_grad=False, device=device, dtype=b.dtype)
            continue
        memo[id(b)] = (
            torch.empty_like(b, device=device) if meta else b.detach().to(device, copy=True)
        )
    try:
        return copy.deepcopy(module, memo)
    except Exception as exc:  # noqa: BLE001 - any failure of a user's __deepcopy__
        raise ModuleCountError(
            f"count_module: cannot copy {type(module).__name__} to count it without "
            f"modifying it ({type(exc).__name__}: {exc})"
        ) from exc


def _is_shape(obj: Any) -> bool:
    return isinstance(obj, (tuple, list, torch.Size)) and all(
        isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in obj
    ) and len(obj) > 0


def _default_dtype(module: nn.Module) -> torch.dtype:
    for p in module.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.get_default_dtype()


def _make_inputs(
    inputs: tuple[Any, ...], device: torch.device, dtype: torch.dtype
) -> tuple[Any, ...]:
    """Forward arguments on ``device``: shapes become tensors, tensors are moved."""
    gen = None if device.type == "meta" else torch.Generator(device=device).manual_seed(0)

    def from_shape(shape: Sequence[int]) -> torch.Tensor:
        if device.type == "meta":
            return torch.empty(tuple(shape), dtype=dtype, device=device)
        return torch.randn(tuple(shape), dtype=dtype, device=device, generator=gen)

    return tuple(
        from_shape(item) if _is_shape(item) else tree_map(lambda t: _move(t, device), item)
        for item in inputs
    )


def _move(obj: Any, device: torch.device) -> Any:
    if isinstance(obj, torch.Tensor):
        if device.type == "meta":
            return torch.empty_like(obj, device=device)
        return obj.detach().to(device)
    return obj


# ------------------------------------------------------------------------- public API
def count_module(
    module: nn.Module,
    *inputs: Any,
    device: str | torch.device = "meta",
    dtype: torch.dtype | None = None,
    kwargs: dict[str, Any] | None = None,
) -> ModuleCount:
    """Count the MACs and parameters of one forward pass of ``module``.

    Args:
        module: any ``nn.Module``; it is not moved or modified (a copy runs, unless it
            is already entirely on meta).
        *inputs: the forward arguments: tensors (any device; only their shape and dtype
            matter on meta), nested containers of tensors, or shapes such as
            ``(1, 1, 480, 480)`` (a tensor of that shape is made: empty on meta, seeded
            ``randn`` on a real device).
        device: ``"meta"`` (default: shapes only, fast, no memory) or a real device such
            as ``"cpu"`` for modules whose forward needs actual data.
        dtype: dtype of tensors made from shapes (default: the module's parameter dtype).
        kwargs: keyword arguments of the forward call (tensors are moved like inputs).

    Returns:
        a :class:`ModuleCount` (MACs, not FLOPs: see :data:`CONVENTION`).

    Raises:
        ModuleCountError: the module failed to run (on meta: suggests ``device="cpu"``).
        TypeError: ``module`` is not an ``nn.Module``.
    """
    global _FORMULAS
    if not isinstance(module, nn.Module):
        raise TypeError(f"count_module: expected an nn.Module, got {type(module).__name__}")
    if not inputs and not kwargs:
        raise TypeError("count_module: give the forward inputs (tensors or shapes)")
    dev = torch.device(device)
    if _FORMULAS is None:
        _FORMULAS = _formulas()
    work = _runnable_copy(module, dev)
    dtype = dtype or _default_dtype(module)
    args = _make_inputs(inputs, dev, dtype)
    kw = tree_map(lambda t: _move(t, dev), dict(kwargs or {}))
    recorder = _Recorder(_FORMULAS, meta=dev.type == "meta")
    handles = _install_hooks(work, recorder)
    try:
        with torch.no_grad(), recorder:
            work(*args, **kw)
    except Exception as exc:  # noqa: BLE001 - re-raised with advice
        name = type(module).__name__
        shapes = [tuple(a.shape) if isinstance(a, torch.Tensor) else a for a in args]
        if dev.type == "meta":
            hint = (
                "meta tensors carry shapes but no data, so data-dependent code (.item(), "
                "nonzero, Python branches on values, ops without a meta kernel) cannot run "
                "on them: pass device='cpu' (or 'cuda') to count on real tensors"
            )
        else:
            hint = "check the input shapes and dtypes"
        raise ModuleCountError(
            f"count_module: {name} failed to run on {dev} with inputs {shapes} "
            f"({type(exc).__name__}: {exc}); {hint}"
        ) from exc
    finally:
        for h in handles:
            h.remove()

    params = sum(p.numel() for p in work.parameters())  # unique; lazy modules materialised
    kinds = recorder.kind_macs
    return ModuleCount(
        macs=kinds[_CONV] + kinds[_LINEAR] + kinds[_ATTENTION],
        conv_macs=kinds[_CONV],
        linear_macs=kinds[_LINEAR],
        attention_macs=kinds[_ATTENTION],
        params=params,
        by_op={k: OpCount(macs=v[0], count=v[1]) for k, v in recorder.by_op.items()},
        by_module=dict(recorder.by_module),
        device=str(dev),
    )
