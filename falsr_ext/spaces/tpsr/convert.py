"""Load an official TPSR generator checkpoint (``TPSR_*X4.pt``) into a :class:`TpsrNet`.

The file is read with ``torch.load(..., weights_only=True)`` only (never unpickled
freely) and nothing from it is copied anywhere. The official key names
(``early_layers.Node_0_Operation_0_type_Sep2d_5x5.model.0.weight``, ``first_layer.*``,
``merge_op_act.*``, ``up_mod.<j>.extend.*``, ``sub_mean.*``, ``add_mean.*``) give each
node's index and op, the width and the scale; the nodes' inputs and the summed set are
not in the keys, so they come from the card of the file's sha256, from ``arch=``, or,
for a file with exactly the official class's layout (node groups early / middle_main /
middle_side / skip and the released ops), from that class's fixed wiring.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import torch

from falsr_ext.errors import WeightsError
from falsr_ext.files import file_sha256
from falsr_ext.spaces.tpsr.arch import OPS, RELEASED_ARCH, SCALES, TpsrArch, upsample_factors
from falsr_ext.spaces.tpsr.cards import card_for_sha256, derive_card
from falsr_ext.spaces.tpsr.net import TpsrNet
from falsr_ext.spaces.tpsr.text import parse_arch

_NODE_KEY = re.compile(r"(early_layers|middle_main_layers|middle_side_layers|skip_layer)"
                       r"\.Node_(\d{1,3})_Operation_0_type_(Conv2d|Sep2d)_(\d{1,2})x(\d{1,2})"
                       r"\.model\.(.+)")
_UP_KEY = re.compile(r"up_mod\.(\d{1,2})\.extend\.(weight|bias)")
_PARTS = {
    "conv": {"0.weight": "conv.weight", "0.bias": "conv.bias", "1.weight": "act.weight"},
    "sep": {"0.weight": "depthwise.weight", "1.weight": "act1.weight",
            "2.weight": "pointwise.weight", "2.bias": "pointwise.bias",
            "3.weight": "act2.weight"},
}
_FIXED = {"sub_mean.weight": "sub_mean.weight", "sub_mean.bias": "sub_mean.bias",
          "add_mean.weight": "add_mean.weight", "add_mean.bias": "add_mean.bias",
          "first_layer.weight": "stem.weight", "first_layer.bias": "stem.bias",
          "merge_op_act.weight": "merge_act.weight"}
# The official class's groups for the released cell (node -> group)
_RELEASED_GROUPS = (("early_layers",) * 3 + ("middle_side_layers",)
                    + ("middle_main_layers",) * 3 + ("middle_side_layers",) * 2
                    + ("skip_layer",))


def _short(text: str, limit: int = 60) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[:limit - 3] + "..."


def _reason(exc: BaseException) -> str:
    detail = _short(str(exc))
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def _read_state(path: Path, name: str) -> Mapping[str, torch.Tensor]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt / truncated / foreign files
        raise WeightsError(f"{name}: not a readable PyTorch checkpoint (truncated or corrupt: "
                           f"{_reason(exc)})") from None
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping) \
            and "first_layer.weight" not in obj:
        obj = obj["state_dict"]  # a training checkpoint wrapping the generator
    if not isinstance(obj, Mapping):
        raise WeightsError(f"{name}: holds a {type(obj).__name__}, not a state dict")
    if "first_layer.weight" not in obj or not any(_NODE_KEY.fullmatch(str(k)) for k in obj):
        keys = ", ".join(repr(_short(str(k), 30)) for k in list(obj)[:3]) or "none"
        raise WeightsError(f"{name}: not a TPSR generator checkpoint (keys {keys}...; expected "
                           "'first_layer.weight', 'early_layers.Node_0_...')")
    for key, value in obj.items():
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            raise WeightsError(f"{name}: {_short(str(key), 60)!r} is not a float tensor")
    return obj


def _file_layout(state: Mapping[str, torch.Tensor], name: str) -> tuple[
        int, list[str], list[str], int]:
    """(n_feats, op per node, group per node, scale) as the key names and shapes say."""
    ops: dict[int, tuple[str, str]] = {}
    for key in state:
        m = _NODE_KEY.fullmatch(key)
        if not m:
            continue
        group, idx, kind, kh, kw = m[1], int(m[2]), m[3], int(m[4]), int(m[5])
        op = f"{'conv' if kind == 'Conv2d' else 'sep'}{kh}"
        if kh != kw or op not in OPS:
            raise WeightsError(f"{name}: node {idx}: {kind} {kh}x{kw} is not a TPSR op "
                               f"({', '.join(OPS)})")
        if ops.setdefault(idx, (op, group)) != (op, group):
            raise WeightsError(f"{name}: node {idx} has keys of two different ops")
    if sorted(ops) != list(range(len(ops))):
        raise WeightsError(f"{name}: node indices {sorted(ops)[:12]} are not 0..{len(ops) - 1}")
    factors = []
    for j in range(len(state)):
        w = state.get(f"up_mod.{j}.extend.weight")
        if w is None:
            break
        r = round((w.shape[0] / 3) ** 0.5) if w.ndim == 4 else 0
        if r < 1 or 3 * r * r != w.shape[0]:
            raise WeightsError(f"{name}: up_mod.{j}.extend.weight has shape {tuple(w.shape)}, "
                               "not 3*r^2 output channels")
        factors.append(r)
    scale = 1
    for r in factors:
        scale *= r
    if not factors or scale not in SCALES or upsample_factors(scale) != tuple(factors):
        raise WeightsError(f"{name}: upsampler factors {factors[:8]} are not those of a "
                           "supported scale (x2: [2], x3: [3], x4: [2, 2], x8: [2, 2, 2])")
    n_feats = int(state["first_layer.weight"].shape[0])
    return (n_feats, [ops[i][0] for i in range(len(ops))], [ops[i][1] for i in range(len(ops))],
            scale)


def _choose_arch(arch: TpsrArch | str | None, card_arch: TpsrArch | None, n_feats: int,
                 ops: list[str], groups: list[str], name: str) -> TpsrArch:
    if arch is not None:
        arch = parse_arch(arch) if isinstance(arch, str) else arch
    elif card_arch is not None:
        arch = card_arch
    elif ops == [n.op for n in RELEASED_ARCH.nodes] and tuple(groups) == _RELEASED_GROUPS:
        arch = replace(RELEASED_ARCH, n_feats=n_feats)  # the official class: fixed wiring
    else:
        raise WeightsError(f"{name}: the node inputs and summed set are not in the key names; "
                           "pass arch='f<n>/<op>@<input>,.../sum=...'")
    if arch.n_feats != n_feats or len(arch.nodes) != len(ops):
        raise WeightsError(f"{name}: arch has {len(arch.nodes)} nodes of width {arch.n_feats}, "
                           f"the file {len(ops)} of width {n_feats}")
    for i, (node, op) in enumerate(zip(arch.nodes, ops, strict=True)):
        if node.op != op:
            raise WeightsError(f"{name}: nodes[{i}].op is {node.op} in arch=, {op} in the file")
    if card_arch is not None and arch != card_arch:
        raise WeightsError(f"{name}: arch= wires the nodes differently from this released "
                           f"file ({card_arch.to_string()}); omit arch=")
    return arch


def _rename(key: str) -> str | None:
    if key in _FIXED:
        return _FIXED[key]
    m = _NODE_KEY.fullmatch(key)
    if m:
        kind = "conv" if m[3] == "Conv2d" else "sep"
        part = _PARTS[kind].get(m[6])
        return None if part is None else f"nodes.{int(m[2])}.{part}"
    u = _UP_KEY.fullmatch(key)
    return f"upsample.{int(u[1])}.conv.{u[2]}" if u else None


def load_tpsr_checkpoint(path: str | Path, arch: TpsrArch | str | None = None) -> TpsrNet:
    """A :class:`TpsrNet` (eval mode) holding an official TPSR generator checkpoint.

    Args:
        path: the ``.pt`` file (e.g. ``TPSR_NOGANX4.pt``).
        arch: the architecture, needed only when neither the file's sha256 (a released
            file) nor its layout (the official class) pins the node wiring.

    Raises:
        WeightsError: one line: missing, truncated or foreign file (e.g. a DLSR checkpoint),
            keys or shapes that do not fit, an ``arch`` that disagrees with the file, or
            MeanShift values other than the frozen ones.
    """
    path = Path(path)
    name = path.name[:80]
    if not path.is_file():
        raise WeightsError(f"{name}: no such file")
    card = card_for_sha256(file_sha256(path))
    state = _read_state(path, name)
    n_feats, ops, groups, scale = _file_layout(state, name)
    card_arch = parse_arch(card.arch) if card is not None else None
    arch = _choose_arch(arch, card_arch, n_feats, ops, groups, name)
    if card is None:
        card = derive_card(arch, scale)
    net = TpsrNet(arch, scale, card=card)
    expected = net.state_dict()
    mapped: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        ours = _rename(key)
        if ours is None or ours not in expected:
            raise WeightsError(f"{name}: unexpected key {_short(key, 70)!r}")
        if tuple(value.shape) != tuple(expected[ours].shape):
            raise WeightsError(f"{name}: {key} has shape {tuple(value.shape)}, expected "
                               f"{tuple(expected[ours].shape)}")
        mapped[ours] = value.float()
    missing = [k for k in expected if k not in mapped]
    if missing:
        raise WeightsError(f"{name}: {len(missing)} weights missing (e.g. {missing[0]})")
    for key in ("sub_mean.weight", "sub_mean.bias", "add_mean.weight", "add_mean.bias"):
        if not torch.allclose(mapped[key], expected[key], rtol=0, atol=1e-3):
            raise WeightsError(f"{name}: {key} is not the frozen MeanShift (DIV2K mean x 255)")
    net.load_state_dict(mapped, strict=True)
    return net.eval()
