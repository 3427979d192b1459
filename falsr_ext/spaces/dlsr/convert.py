"""Load a DLSR checkpoint (the released ``.pt`` files or our own state dicts).

Only tensors are read (``torch.load(..., weights_only=True)``, never a pickle of code).
Width, refine ops and scale are read off the weight shapes; the wiring is not in the
file, so it comes from the released card matching the file's sha256 or from the caller.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from falsr_ext.errors import WeightsError
from falsr_ext.files import file_sha256, path_kind, short_path
from falsr_ext.spaces.dlsr.arch import NUM_CELLS, WIRING_A, DlsrArch
from falsr_ext.spaces.dlsr.cards import card_for_sha256
from falsr_ext.spaces.dlsr.net import SCALES, DlsrNet

_REQUIRED = ("fea_conv.weight", "B1.c1_d.weight", "cout.0.weight", "upsampler.0.weight")


def _first_line(exc: BaseException) -> str:
    """The first line of an exception's message, printable characters only, cut short."""
    lines = str(exc).strip().splitlines()
    text = "".join(ch for ch in (lines[0] if lines else "") if ch.isprintable())
    return (text[:120] or type(exc).__name__).rstrip(".")


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a DLSR checkpoint: the ``state_dict`` of a training checkpoint
    (``{'epoch', 'optimizer', 'state_dict'}``) or a bare state dict."""
    name = short_path(path)
    kind = path_kind(path)
    if kind != "file":
        raise WeightsError(f"{name}: " + ("no such weights file" if kind is None
                                          else "not a regular file"))
    try:
        data: Any = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        if "weights only" in str(exc).lower():  # a global other than tensors: never run
            raise WeightsError(f"{name}: holds pickled Python objects, not just tensors; "
                               f"only weights are ever loaded") from None
        raise WeightsError(f"{name}: not a readable PyTorch checkpoint "
                           f"(truncated or corrupt? {_first_line(exc)})") from None
    except Exception as exc:  # torch.load raises many kinds for truncated / foreign files
        raise WeightsError(f"{name}: not a readable PyTorch checkpoint "
                           f"(truncated or corrupt? {_first_line(exc)})") from None
    if isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
        data = data["state_dict"]
    if not isinstance(data, dict) or not data or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in data.items()):
        raise WeightsError(f"{name}: holds no state dict of tensors (expected a DLSR "
                           f"checkpoint: {{'state_dict': {{name: tensor}}}} or the bare dict)")
    if all(k.startswith("module.") for k in data):  # saved from DataParallel
        data = {k[len("module."):]: v for k, v in data.items()}
    return data


def _shape(sd: dict[str, torch.Tensor], key: str) -> tuple[int, ...]:
    return tuple(sd[key].shape) if key in sd else ()


def _op_from_shapes(sd: dict[str, torch.Tensor], prefix: str, c: int) -> str | None:
    """The op whose weights ``prefix + 'op.*'`` are, or None when they match none."""
    found = {k[len(prefix):]: tuple(v.shape) for k, v in sd.items() if k.startswith(prefix)}
    if set(found) == {"op.0.weight"}:
        k = found["op.0.weight"][-1]
        if found["op.0.weight"] == (c, c, k, k) and k in (1, 3, 5, 7):
            return f"conv_{k}x{k}"
        return None
    dw, pw = found.get("op.1.weight", ()), found.get("op.2.weight", ())
    if len(dw) != 4 or dw[:2] != (c, 1) or dw[2] != dw[3] or pw != (c, c, 1, 1):
        return None
    k = dw[2]
    if set(found) == {"op.1.weight", "op.2.weight"} and k in (3, 5):
        return f"dil_conv_{k}x{k}"
    same = found.get("op.4.weight") == dw and found.get("op.5.weight") == pw
    if set(found) == {f"op.{i}.weight" for i in (1, 2, 4, 5)} and same and k in (3, 5, 7):
        return f"sep_conv_{k}x{k}"
    return None


def infer_shape_arch(sd: dict[str, torch.Tensor], where: str) -> tuple[int, tuple, int]:
    """(nf, ops, scale) read off the weight shapes; a :class:`WeightsError` otherwise."""
    missing = [k for k in _REQUIRED if k not in sd]
    if missing:
        sample = ", ".join(repr(k) for k in list(sd)[:2])
        raise WeightsError(f"{where}: not a DLSR checkpoint (no {missing[0]!r}; its keys "
                           f"start {sample})")
    stem = _shape(sd, "fea_conv.weight")
    if len(stem) != 4 or stem[1:] != (3, 3, 3):
        raise WeightsError(f"{where}: fea_conv.weight has shape {stem}, expected [C, 3, 3, 3]")
    c = stem[0]
    ops = []
    for i in (1, 2, 3):
        op = _op_from_shapes(sd, f"B1.c{i}_r.", c)
        if op is None:
            raise WeightsError(f"{where}: the weights of B1.c{i}_r match no DLSR operation")
        for cell in range(2, NUM_CELLS + 1):
            if _op_from_shapes(sd, f"B{cell}.c{i}_r.", c) != op:
                raise WeightsError(f"{where}: B{cell}.c{i}_r differs from B1.c{i}_r (DLSR "
                                   f"cells share one op list)")
        ops.append(op)
    up = _shape(sd, "upsampler.0.weight")
    scale = next((s for s in SCALES if up == (3 * s * s, c, 3, 3)), None)
    if scale is None:
        raise WeightsError(f"{where}: upsampler.0.weight has shape {up}, expected "
                           f"[3*s*s, {c}, 3, 3] for s in {SCALES}")
    return c, tuple(ops), scale


def _resolve_arch(arch: DlsrArch | str | None, nf: int, ops: tuple, sha: str,
                  where: str) -> tuple[DlsrArch, Any]:
    """The arch to build (and the released card, if the file is one)."""
    card = card_for_sha256(sha)
    if isinstance(arch, str):
        from falsr_ext.spaces.dlsr import SPACE

        arch = SPACE.parse(arch)
    if arch is None and card is not None:
        from falsr_ext.spaces.dlsr.arch import parse_arch

        arch = parse_arch(card.arch)
    if arch is None:
        example = DlsrArch(nf, ops, WIRING_A).to_string()  # type: ignore[arg-type]
        raise WeightsError(
            f"{where}: DLSR checkpoints do not record their wiring and this is not a "
            f"released file; pass the arch, e.g. --arch '{example}' with its c3..c6 links")
    if (arch.nf, arch.ops) != (nf, ops):
        raise WeightsError(f"{where}: the arch says nf{arch.nf} {'+'.join(arch.ops)} but the "
                           f"file holds nf{nf} {'+'.join(ops)}")
    return arch, card


def _check_fit(want: dict[str, torch.Tensor], sd: dict[str, torch.Tensor], where: str) -> None:
    """One line for the first missing, unexpected or misshapen tensor (load_state_dict's
    own message spans many lines)."""
    missing = [k for k in want if k not in sd]
    extra = [k for k in sd if k not in want]
    bad = [k for k in want if k in sd and tuple(sd[k].shape) != tuple(want[k].shape)]
    if missing or extra:
        what = f"no {missing[0]!r}" if missing else f"an unexpected {extra[0]!r}"
        raise WeightsError(f"{where}: not a DLSR state dict ({what}; {len(missing)} missing, "
                           f"{len(extra)} unexpected tensors)")
    if bad:
        k = bad[0]
        raise WeightsError(f"{where}: {k} has shape {tuple(sd[k].shape)}, expected "
                           f"{tuple(want[k].shape)}")
    nonfloat = next((k for k, v in sd.items() if not v.is_floating_point()), None)
    if nonfloat is not None:
        raise WeightsError(f"{where}: {nonfloat} holds {sd[nonfloat].dtype}, not floats")


def load_dlsr_checkpoint(path: str | Path, arch: DlsrArch | str | None = None) -> DlsrNet:
    """A :class:`DlsrNet` with the weights of a DLSR checkpoint, in eval mode.

    Args:
        path: a ``.pt`` file: ``{'epoch', 'optimizer', 'state_dict'}`` or a bare state dict.
        arch: the architecture (object, compact string, JSON or released name); it
            overrides the released card's wiring. Needed for files that are not released.

    Raises:
        WeightsError: one line, for a missing, truncated or foreign file, weights that fit
            no DLSR network, an ``arch`` that disagrees with them, or no known wiring.
        GenotypeError: a malformed ``arch`` string.
    """
    p = Path(path)
    sd = read_state_dict(p)
    nf, ops, scale = infer_shape_arch(sd, short_path(p))
    net_arch, card = _resolve_arch(arch, nf, ops, file_sha256(p), short_path(p))
    net = DlsrNet(net_arch, scale)
    _check_fit(net.state_dict(), sd, short_path(p))
    net.load_state_dict(sd, strict=True)
    if card is not None and card.arch == net_arch.to_string() and card.scale == scale:
        net.card = card
    return net.eval()
