"""Our weights format: a safetensors file whose metadata carries the genotype.

Metadata keys (all strings, as safetensors requires): ``format`` (``falsr_ext/1``),
``genotype`` (compact string), ``scale``, ``in_channels``, ``shuffle_order``, ``source``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from falsr_ext.errors import GenotypeError, WeightsError
from falsr_ext.models.falsr_net import FalsrNet, build_model
from falsr_ext.space import Genotype

WEIGHTS_FORMAT = "falsr_ext/1"


def save_weights(model: FalsrNet, path: str | Path, source: str = "") -> Path:
    """Write ``model``'s weights and genotype to ``path`` (.safetensors)."""
    from safetensors.torch import save_file

    path = Path(path)
    meta = {
        "format": WEIGHTS_FORMAT,
        "genotype": model.genotype.to_string(),
        "name": model.genotype.name or "",
        "scale": str(model.scale),
        "in_channels": str(model.in_channels),
        "shuffle_order": model.shuffle_order,
        "source": source,
    }
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous()
               for k, v in model.state_dict().items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    tmp.replace(path)  # atomic: a killed write never leaves a half file under the real name
    return path


def _read(path: Path, with_tensors: bool) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    from safetensors import SafetensorError, safe_open

    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()} if with_tensors else {}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{path}: not a readable safetensors file ({exc})") from None
    if meta.get("format") != WEIGHTS_FORMAT or "genotype" not in meta:
        raise WeightsError(
            f"{path}: not a falsr_ext weights file (metadata format {meta.get('format')!r})"
        )
    return meta, tensors


def read_metadata(path: str | Path) -> dict[str, str]:
    """The metadata of one of our weights files (genotype, scale, ...), tensors unread."""
    return _read(Path(path), with_tensors=False)[0]


def load_weights(path: str | Path) -> FalsrNet:
    """Load a model written by :func:`save_weights` (eval mode, CPU, fp32)."""
    path = Path(path)
    meta, tensors = _read(path, with_tensors=True)
    try:
        genotype = Genotype.from_string(meta["genotype"], name=meta.get("name") or None)
        model = build_model(
            genotype,
            scale=int(meta.get("scale", "2")),
            in_channels=int(meta.get("in_channels", "1")),
            shuffle_order=meta.get("shuffle_order", "torch"),
        )
    except (GenotypeError, KeyError, ValueError) as exc:
        raise WeightsError(f"{path}: bad genotype metadata ({exc})") from None
    try:
        model.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise WeightsError(f"{path}: weights do not match the genotype ({first})") from None
    return model.eval()
