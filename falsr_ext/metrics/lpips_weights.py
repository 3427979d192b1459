"""Where the LPIPS weights come from, and reading them safely.

falsr_ext never bundles nor downloads them (the ImageNet trunks are torchvision's, the
heads LPIPS's): the file is a safetensors export of the official ``lpips.LPIPS(net=...)``
state dict (README, "LPIPS"). Looked up in order: the ``weights`` argument (the CLI's
``--lpips-weights``), then :data:`ENV_VAR`; each may name the file or a folder holding
:data:`FILE_NAMES`. No pickle is ever read.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from falsr_ext.errors import WeightsError
from falsr_ext.models.weights import state_dict_mismatch
from falsr_ext.space import shown

ENV_VAR = "FALSR_LPIPS_WEIGHTS"
FILE_NAMES = {"alex": "alex.safetensors", "vgg": "vgg16.safetensors"}
# The official state dict also holds ``lins.{k}.model.1.weight``: aliases of the
# ``lin{k}`` heads, ignored when a file carries them.
_ALIAS_PREFIX = "lins."


def _is(path: Path, kind: str) -> bool:
    try:
        return path.is_dir() if kind == "dir" else path.is_file()
    except (OSError, ValueError):  # a name no file can have (too long, NUL byte)
        return False


def resolve_lpips_weights(net: str, weights: str | os.PathLike[str] | None = None) -> Path:
    """The weights file of LPIPS-``net`` (``"alex"`` or ``"vgg"``): ``weights`` if given,
    else ``$FALSR_LPIPS_WEIGHTS``; either a file or a folder holding ``alex.safetensors`` /
    ``vgg16.safetensors``. Raises :class:`WeightsError` (one line) when none is configured
    or the named file is absent; never downloads."""
    file_name = FILE_NAMES[net]
    if weights is not None:
        given, source = str(weights), "weights"
    elif os.environ.get(ENV_VAR):
        given, source = os.environ[ENV_VAR], ENV_VAR
    else:
        raise WeightsError(
            f"LPIPS-{net} needs its weights file {file_name}, which falsr_ext neither bundles "
            f"nor downloads: pass --lpips-weights PATH (weights= in Python) or set {ENV_VAR} "
            f"to the file or to a folder holding it; make it once with the lpips package "
            f"(README, section LPIPS)"
        )
    path = Path(given).expanduser()
    if _is(path, "dir"):
        path = path / file_name
    if not _is(path, "file"):
        raise WeightsError(f"{shown(str(path))}: no such LPIPS-{net} weights file "
                           f"(from {source}; expected {file_name} or a folder holding it)")
    return path


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def _other_net(net: str, found: dict[str, torch.Tensor],
               expected_by_net: dict[str, dict[str, torch.Tensor]]) -> str | None:
    """The other network's name when ``found`` has exactly its tensor names."""
    for other, expected in expected_by_net.items():
        if other != net and set(found) == set(expected):
            return other
    return None


def read_lpips_weights(path: Path, net: str,
                       expected_by_net: dict[str, dict[str, torch.Tensor]],
                       ) -> dict[str, torch.Tensor]:
    """The float32 tensors of the LPIPS-``net`` file ``path``, checked against
    ``expected_by_net[net]`` (a state dict of the right names and shapes). Raises
    :class:`WeightsError` (one line) for a file that is not safetensors, lacks or has
    extra tensors, has wrong shapes or non-finite values, or is the other net's file."""
    from safetensors import SafetensorError, safe_open

    name = shown(str(path))
    try:
        with safe_open(str(path), framework="pt") as f:
            found = {k: f.get_tensor(k) for k in f.keys()  # noqa: SIM118
                     if not k.startswith(_ALIAS_PREFIX)}
    except (SafetensorError, OSError, ValueError, RuntimeError, TypeError) as exc:
        raise WeightsError(
            f"{name}: not a readable safetensors file ({_one_line(exc)})") from None
    other = _other_net(net, found, expected_by_net)
    if other is not None:
        raise WeightsError(f"{name}: these are LPIPS-{other} weights, not LPIPS-{net} "
                           f"(expected {FILE_NAMES[net]})")
    mismatch = state_dict_mismatch(expected_by_net[net], found)
    if mismatch is not None:
        raise WeightsError(f"{name}: not LPIPS-{net} weights ({mismatch})")
    for key, tensor in found.items():
        if not tensor.is_floating_point():
            raise WeightsError(f"{name}: tensor {key} is {tensor.dtype}, not floating point")
        if not bool(torch.isfinite(tensor).all()):
            raise WeightsError(f"{name}: tensor {key} holds NaN or infinite values")
    return {k: v.to(torch.float32) for k, v in found.items()}
