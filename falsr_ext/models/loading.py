"""Resolve a model specification (zoo name, weights file, official .pb) to a network."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torch import nn

from falsr_ext.errors import GenotypeError, WeightsError
from falsr_ext.models.default import DEFAULT_GENOTYPE, DEFAULT_NAME, load_default_model
from falsr_ext.models.falsr_net import SCALES, FalsrNet
from falsr_ext.models.zoo import ZOO_GENOTYPES, get_genotype
from falsr_ext.space import (
    MAX_SPEC_CHARS,
    Genotype,
    check_spec_size,
    parse_genotype,
    quote_spec,
    shown,
)

WEIGHTS_DIR_ENV = "FALSR_WEIGHTS_DIR"
# Released checkpoints of other projects (DLSR, TPSR), read weights-only.
CHECKPOINT_SUFFIXES = (".pt", ".pth")
# Files holding a genotype as text (compact string or JSON), e.g. ``falsr count g.json``.
GENOTYPE_SUFFIXES = (".json", ".txt")


def load_model(spec: str | os.PathLike[str], weights: str | os.PathLike[str] | None = None,
               arch: str | None = None) -> nn.Module:
    """Load a network of any space for inference (eval mode, CPU, fp32).

    ``spec`` is one of:
      * ``"default"``: the bundled default model (x2, luma; weights this project trained);
      * a path to one of our ``.safetensors`` weights files (any space);
      * a path to an official FALSR ``.pb`` (converted on the fly, no TensorFlow);
      * a path to a released DLSR or TPSR ``.pt`` checkpoint (read weights-only; the
        architecture from its model card, or ``arch`` such as ``"dlsr:..."`` for a file
        no card describes);
      * a zoo name (``FALSR-A``/``-B``/``-C``) together with ``weights`` (a file of either
        kind above), or with ``$FALSR_WEIGHTS_DIR`` holding ``FALSR-A.pb`` or
        ``falsr-a.safetensors``. The official weights have no licence, so we never ship
        them: you point us at your copy.
    With a zoo name the weights' genotype must be that zoo genotype.
    """
    spec = str(spec)
    check_spec_size(spec, "model")
    if spec.lower() == DEFAULT_NAME:
        if weights is not None:
            raise WeightsError("--weights is not used with the bundled default model")
        return load_default_model()
    if spec.upper() in ZOO_GENOTYPES:
        expected = get_genotype(spec)
        path = Path(weights) if weights is not None else _find_in_weights_dir(expected.name)
        model = _load_file(path)
        if not isinstance(model, FalsrNet) or model.genotype != expected:
            raise WeightsError(
                f"{shown(str(path))}: its genotype is not {expected.name} "
                f"({_arch_text(model)})"
            )
        return model
    if weights is not None:
        raise WeightsError(
            f"--weights is only used with a zoo name, not with {quote_spec(spec)}")
    path = Path(spec)
    if arch is not None:
        if path.suffix.lower() not in CHECKPOINT_SUFFIXES:
            raise WeightsError(f"--arch is only used with a .pt checkpoint, not with "
                               f"{quote_spec(spec)}")
        if not _is_file(path):
            raise WeightsError(f"{shown(spec)}: no such checkpoint file")
        from falsr_ext.spaces.checkpoints import load_checkpoint

        return load_checkpoint(path, arch)
    if not _exists(path):
        if _looks_like_genotype(spec):
            raise WeightsError(
                f"{shown(spec)}: a genotype has no weights; pass a weights file of it "
                f"(falsr train writes one) or a zoo name (known: {', '.join(ZOO_GENOTYPES)})")
        raise WeightsError(
            f"{shown(spec)}: neither a weights file nor a zoo model "
            f"(known: {', '.join(ZOO_GENOTYPES)})"
        )
    return _load_file(path)


def _exists(path: Path) -> bool:
    """``path.exists()``, False for a name no file can have (too long, NUL byte, ...)."""
    try:
        return path.exists()
    except (OSError, ValueError):
        return False


def _is_file(path: Path) -> bool:
    """``path.is_file()``, False for a name no file can have (too long, NUL byte, ...)."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _looks_like_genotype(spec: str) -> bool:
    """Whether a model spec that is no file was meant as an architecture (a FALSR string
    or JSON, or another space's ``space:...``)."""
    text = spec.strip()
    return (text.startswith("{") or "fuse" in text or "@" in text
            or text.lower().startswith(("dlsr:", "tpsr:", "falsr:")))


def _arch_text(model: nn.Module) -> str:
    if isinstance(model, FalsrNet):
        return model.genotype.to_string()
    return f"a {getattr(model, 'space', type(model).__name__)} network"


def _load_file(path: Path) -> nn.Module:
    if not _is_file(path):
        raise WeightsError(f"{shown(str(path))}: no such weights file")
    if path.suffix.lower() == ".pb":
        from falsr_ext.convert import load_pb

        return load_pb(path)
    if path.suffix.lower() in CHECKPOINT_SUFFIXES:
        from falsr_ext.spaces.checkpoints import load_checkpoint

        return load_checkpoint(path)
    from falsr_ext.models.weights import load_weights

    return load_weights(path)


def _find_in_weights_dir(name: str | None) -> Path:
    assert name is not None
    folder = os.environ.get(WEIGHTS_DIR_ENV)
    if folder:
        for candidate in (f"{name}.pb", f"{name.lower()}.safetensors", f"{name}.safetensors"):
            path = Path(folder) / candidate
            if _is_file(path):
                return path
    raise WeightsError(
        f"{name}: the official weights are not bundled (they have no licence); pass "
        f"--weights {name}.pb (or a converted .safetensors), or set ${WEIGHTS_DIR_ENV}"
    )


# The scale a space's architecture string means when nothing says otherwise: the scale
# of its released networks.
DEFAULT_SCALES = {"falsr": 2, "dlsr": 2, "tpsr": 4}


def resolve_arch(spec: str | os.PathLike[str]) -> tuple[str, Any, int | None]:
    """(space name, architecture, scale when the spec records one) for a model spec of
    any space: ``"dlsr:..."`` / ``"tpsr:..."`` strings, our ``.safetensors`` of any space
    (metadata only), released ``.pt`` checkpoints, and everything
    :func:`resolve_genotype` takes (FALSR)."""
    from falsr_ext.spaces import get_space, space_names

    text = str(spec)
    check_spec_size(text, "model")
    path = Path(text)
    is_file = _is_file(path)
    head, sep, rest = text.partition(":")
    if sep and not is_file and (head.strip().lower() in space_names()
                                or head.strip().isidentifier()):
        space = get_space(head)  # an unknown prefix: one line naming the known spaces
        return space.name, space.parse(rest), None
    if is_file and path.suffix.lower() in CHECKPOINT_SUFFIXES:
        from falsr_ext.spaces.checkpoints import load_checkpoint

        model = load_checkpoint(path)
        return model.space, model.arch, model.scale
    if is_file and path.suffix.lower() == ".safetensors":
        from falsr_ext.models.weights import read_metadata

        meta = read_metadata(path)
        if meta.get("space", "falsr") != "falsr":
            try:
                space = get_space(meta["space"])
                return space.name, space.parse(meta["arch"]), int(meta.get("scale", "0"))
            except (GenotypeError, KeyError, ValueError) as exc:
                raise WeightsError(f"{shown(str(path))}: bad architecture metadata "
                                   f"({' '.join(str(exc).split())[:200]})") from None
    genotype, scale = resolve_genotype(text)
    return "falsr", genotype, scale


def resolve_genotype(spec: str | os.PathLike[str]) -> tuple[Genotype, int | None]:
    """The genotype (and scale, when a file records one) named by ``spec``, without weights.

    ``spec``: a zoo name, a genotype string or JSON, a ``.json`` / ``.txt`` file holding
    one, one of our weights files (only its metadata is read) or an official ``.pb`` (its
    graph is read, no TensorFlow).
    """
    text = str(spec)
    check_spec_size(text, "model")
    if text.lower() == DEFAULT_NAME:
        return Genotype.from_string(DEFAULT_GENOTYPE, name="default"), 2
    path = Path(text)
    is_file = _is_file(path)
    if is_file and path.suffix.lower() in GENOTYPE_SUFFIXES:
        content = _read_genotype_file(path)  # its errors name the file
        try:
            return parse_genotype(content), None
        except GenotypeError as exc:
            raise GenotypeError(f"{shown(str(path))}: {exc}") from None
    # A name ending in .pb / .safetensors means a file, so a missing one is said to be.
    if is_file or path.suffix.lower() in (".pb", ".safetensors"):
        if not is_file:
            raise WeightsError(f"{shown(text)}: no such model file")
        if path.suffix.lower() == ".pb":
            from falsr_ext.convert import import_pb

            return import_pb(path)[0], 2
        from falsr_ext.models.weights import read_metadata

        meta = read_metadata(path)
        try:
            genotype = Genotype.from_string(meta["genotype"], name=meta.get("name") or None)
            scale = int(meta.get("scale", "2"))
            if scale not in SCALES:
                raise ValueError(f"scale {scale} is not one of {SCALES}")
        except (GenotypeError, ValueError) as exc:
            raise WeightsError(f"{shown(str(path))}: bad genotype metadata ({exc})") from None
        return genotype, scale
    return parse_genotype(text), None


def _read_genotype_file(path: Path) -> str:
    """The text of a genotype file, refused unread when over MAX_SPEC_CHARS bytes."""
    try:
        with path.open("rb") as f:
            data = f.read(MAX_SPEC_CHARS + 1)
    except OSError as exc:
        raise GenotypeError(f"{shown(str(path))}: cannot read ({exc.strerror or exc})") from None
    if len(data) > MAX_SPEC_CHARS:
        raise GenotypeError(f"{shown(str(path))}: over {MAX_SPEC_CHARS:,} bytes, too big for "
                            f"a genotype file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise GenotypeError(f"{shown(str(path))}: not UTF-8 text (a genotype file holds a "
                            f"compact string or JSON)") from None
