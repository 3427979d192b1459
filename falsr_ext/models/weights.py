"""Our weights format: a safetensors file whose metadata carries the architecture.

Metadata keys (all strings, as safetensors requires): ``format`` (``falsr_ext/1``),
``space`` (``falsr``, ``dlsr``, ``tpsr``), ``arch`` (the space's compact string),
``name``, ``scale``, ``source``; FALSR files also carry ``genotype`` (= ``arch``),
``in_channels`` and ``shuffle_order``. A file without ``space`` is a FALSR file (the
format before other spaces existed, e.g. the bundled default model).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from falsr_ext.errors import GenotypeError, WeightsError
from falsr_ext.files import atomic_path
from falsr_ext.models.falsr_net import FalsrNet, build_model
from falsr_ext.space import Genotype, quote_spec, shown

WEIGHTS_FORMAT = "falsr_ext/1"
# How many tensor names a mismatch message lists per kind (missing, unexpected, shape).
_NAMES_SHOWN = 3


def save_weights(model: nn.Module, path: str | Path, source: str = "") -> Path:
    """Write a network of any space, weights and architecture, to ``path``
    (.safetensors), atomically.

    The file appears complete or not at all (see :func:`falsr_ext.files.atomic_path`),
    so concurrent writers of one path never mix their bytes. Raises :class:`WeightsError`
    when ``path`` cannot be written.
    """
    from safetensors.torch import save_file

    path = Path(path)
    name = shown(str(path))
    meta = _metadata(model, source)
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous()
               for k, v in model.state_dict().items()}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp), metadata=meta)
    except OSError as exc:
        raise WeightsError(f"{name}: cannot write ({exc.strerror or _one_line(exc)})") from None
    return path


def _metadata(model: nn.Module, source: str) -> dict[str, str]:
    if isinstance(model, FalsrNet):
        arch = model.genotype.to_string()
        return {"format": WEIGHTS_FORMAT, "space": "falsr", "arch": arch, "genotype": arch,
                "name": model.genotype.name or "", "scale": str(model.scale),
                "in_channels": str(model.in_channels), "shuffle_order": model.shuffle_order,
                "source": source}
    from falsr_ext.spaces import get_space

    space_name = getattr(model, "space", None)
    if not isinstance(space_name, str):
        raise TypeError(f"save_weights needs a network of a search space, got "
                        f"{type(model).__name__}")
    card = getattr(model, "card", None)
    return {"format": WEIGHTS_FORMAT, "space": space_name,
            "arch": get_space(space_name).format(model.arch),
            "name": getattr(card, "name", "") or "", "scale": str(model.scale),
            "source": source}


def _one_line(exc: BaseException) -> str:
    """An exception's text squeezed onto one line (safetensors' can span several)."""
    return " ".join(str(exc).split()) or type(exc).__name__


def _read(path: Path, with_tensors: bool) -> tuple[dict[str, str], dict[str, torch.Tensor]]:
    from safetensors import SafetensorError, safe_open

    name = shown(str(path))
    try:
        is_file = path.is_file()
    except (OSError, ValueError):  # a name no file can have (too long, NUL byte)
        is_file = False
    if not is_file:
        raise WeightsError(f"{name}: no such weights file")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()} if with_tensors else {}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError, RuntimeError, TypeError) as exc:
        raise WeightsError(
            f"{name}: not a readable safetensors file ({_one_line(exc)[:200]})") from None
    if meta.get("format") != WEIGHTS_FORMAT or ("genotype" not in meta and "arch" not in meta):
        raise WeightsError(
            f"{name}: not a falsr_ext weights file "
            f"(metadata format {quote_spec(meta.get('format'))})"
        )
    return meta, tensors


def read_metadata(path: str | Path) -> dict[str, str]:
    """The metadata of one of our weights files (genotype, scale, ...), tensors unread."""
    return _read(Path(path), with_tensors=False)[0]


def _shape(shape: torch.Size | tuple[int, ...]) -> str:
    return "x".join(map(str, shape)) or "scalar"


def _listed(names: list[str], shown_max: int = _NAMES_SHOWN) -> str:
    text = ", ".join(names[:shown_max])
    return text + (f", ... (+{len(names) - shown_max})" if len(names) > shown_max else "")


def state_dict_mismatch(expected: dict[str, torch.Tensor],
                        found: dict[str, torch.Tensor]) -> str | None:
    """One line saying how ``found`` differs from ``expected`` in names and shapes (None
    when they agree): counts of missing, unexpected and wrongly shaped tensors, each with
    its first few names (and shapes: file vs model)."""
    missing = [k for k in expected if k not in found]
    unexpected = [shown(k, 60) for k in found if k not in expected]
    wrong = [k for k in expected if k in found and found[k].shape != expected[k].shape]
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing ({_listed(missing)})")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected ({_listed(unexpected)})")
    if wrong:
        shapes = [f"{k} {_shape(found[k].shape)} vs {_shape(expected[k].shape)}" for k in wrong]
        parts.append(f"{len(wrong)} of the wrong shape (file vs model: {_listed(shapes, 2)})")
    if not parts:
        return None
    return f"{len(found)} tensors in the file, {len(expected)} in the model; " + "; ".join(parts)


def load_weights(path: str | Path) -> nn.Module:
    """Load a network written by :func:`save_weights` (eval mode, CPU, fp32): a
    :class:`FalsrNet`, or the network of the file's ``space``.

    Raises :class:`WeightsError` (one line) for a missing or corrupt file, bad
    architecture metadata, tensors that do not match the architecture (names, shapes),
    non-float or non-finite weights.
    """
    path = Path(path)
    name = shown(str(path))
    meta, tensors = _read(path, with_tensors=True)
    space = meta.get("space", "falsr")
    try:
        if space == "falsr":
            genotype = Genotype.from_string(meta.get("genotype") or meta["arch"],
                                            name=meta.get("name") or None)
            settings = {"scale": int(meta.get("scale", "2")),
                        "in_channels": int(meta.get("in_channels", "1")),
                        "shuffle_order": meta.get("shuffle_order", "torch")}

            def make() -> nn.Module:
                return build_model(genotype, **settings)
            arch_text = genotype.to_string()
        else:
            from falsr_ext.spaces import get_space

            room = get_space(space)
            arch = room.parse(meta["arch"])
            scale = int(meta.get("scale", "0"))

            def make() -> nn.Module:
                return room.build(arch, scale)
            arch_text = f"{space}:{room.format(arch)}"
        # Shapes come from a model on the meta device: no memory spent on an
        # architecture whose weights the file does not have.
        with torch.device("meta"):
            expected = make().state_dict()
    except (GenotypeError, KeyError, ValueError) as exc:
        raise WeightsError(f"{name}: bad architecture metadata ({_one_line(exc)})") from None
    problem = state_dict_mismatch(expected, tensors)
    if problem:
        raise WeightsError(f"{name}: weights do not match the architecture "
                           f"{quote_spec(arch_text, 60)}: {problem}")
    for key, tensor in tensors.items():
        if not tensor.is_floating_point():
            raise WeightsError(f"{name}: tensor {key} has dtype {tensor.dtype}, not a float")
        if not bool(torch.isfinite(tensor).all()):
            raise WeightsError(f"{name}: tensor {key} holds NaN or infinite values (corrupt?)")
    model = make()
    model.load_state_dict({k: v.to(torch.float32) for k, v in tensors.items()}, strict=True)
    if space != "falsr":
        _adopt_released_card(model, space, meta.get("name", ""))
    return model.eval()


def _adopt_released_card(model: nn.Module, space: str, name: str) -> None:
    """A converted release keeps its card (reference figures, name) when its metadata
    names that release and the architecture and scale are the release's."""
    import importlib

    try:
        cards = importlib.import_module(f"falsr_ext.spaces.{space}.cards")
    except ImportError:
        return
    card = cards.card_for_name(name) if name and hasattr(cards, "card_for_name") else None
    if card is not None and card.scale == model.scale and card.arch == model.card.arch:
        model.card = card
