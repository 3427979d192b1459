"""Resolve a model specification (zoo name, weights file, official .pb) to a network."""

from __future__ import annotations

import os
from pathlib import Path

from falsr_ext.errors import WeightsError
from falsr_ext.models.default import DEFAULT_GENOTYPE, DEFAULT_NAME, load_default_model
from falsr_ext.models.falsr_net import FalsrNet
from falsr_ext.models.zoo import ZOO_GENOTYPES, get_genotype
from falsr_ext.space import Genotype, parse_genotype

WEIGHTS_DIR_ENV = "FALSR_WEIGHTS_DIR"


def load_model(spec: str | os.PathLike[str], weights: str | os.PathLike[str] | None = None
               ) -> FalsrNet:
    """Load a network for inference (eval mode, CPU, fp32).

    ``spec`` is one of:
      * ``"default"``: the bundled default model (x2, luma; weights this project trained);
      * a path to one of our ``.safetensors`` weights files;
      * a path to an official FALSR ``.pb`` (converted on the fly, no TensorFlow);
      * a zoo name (``FALSR-A``/``-B``/``-C``) together with ``weights`` (a file of either
        kind above), or with ``$FALSR_WEIGHTS_DIR`` holding ``FALSR-A.pb`` or
        ``falsr-a.safetensors``. The official weights have no licence, so we never ship
        them: you point us at your copy.
    With a zoo name the weights' genotype must be that zoo genotype.
    """
    spec = str(spec)
    if spec.lower() == DEFAULT_NAME:
        if weights is not None:
            raise WeightsError("--weights is not used with the bundled default model")
        return load_default_model()
    if spec.upper() in ZOO_GENOTYPES:
        expected = get_genotype(spec)
        path = Path(weights) if weights is not None else _find_in_weights_dir(expected.name)
        model = _load_file(path)
        if model.genotype != expected:
            raise WeightsError(
                f"{path}: its genotype is not {expected.name} ({model.genotype.to_string()})"
            )
        return model
    if weights is not None:
        raise WeightsError(f"--weights is only used with a zoo name, not with {spec!r}")
    path = Path(spec)
    if not path.exists():
        raise WeightsError(
            f"{spec}: neither a weights file nor a zoo model (known: {', '.join(ZOO_GENOTYPES)})"
        )
    return _load_file(path)


def _load_file(path: Path) -> FalsrNet:
    if not path.is_file():
        raise WeightsError(f"{path}: no such weights file")
    if path.suffix.lower() == ".pb":
        from falsr_ext.convert import load_pb

        return load_pb(path)
    from falsr_ext.models.weights import load_weights

    return load_weights(path)


def _find_in_weights_dir(name: str | None) -> Path:
    assert name is not None
    folder = os.environ.get(WEIGHTS_DIR_ENV)
    if folder:
        for candidate in (f"{name}.pb", f"{name.lower()}.safetensors", f"{name}.safetensors"):
            path = Path(folder) / candidate
            if path.is_file():
                return path
    raise WeightsError(
        f"{name}: the official weights are not bundled (they have no licence); pass "
        f"--weights {name}.pb (or a converted .safetensors), or set ${WEIGHTS_DIR_ENV}"
    )


def resolve_genotype(spec: str | os.PathLike[str]) -> tuple[Genotype, int | None]:
    """The genotype (and scale, when a file records one) named by ``spec``, without weights.

    ``spec``: a zoo name, a genotype string or JSON, one of our weights files (only its
    metadata is read) or an official ``.pb`` (its graph is read, no TensorFlow).
    """
    text = str(spec)
    if text.lower() == DEFAULT_NAME:
        return Genotype.from_string(DEFAULT_GENOTYPE, name="default"), 2
    path = Path(text)
    if path.suffix.lower() in (".pb", ".safetensors") or path.is_file():
        if not path.is_file():
            raise WeightsError(f"{path}: no such model file")
        if path.suffix.lower() == ".pb":
            from falsr_ext.convert import import_pb

            return import_pb(path)[0], 2
        from falsr_ext.models.weights import read_metadata

        meta = read_metadata(path)
        return Genotype.from_string(meta["genotype"], name=meta.get("name") or None), int(
            meta.get("scale", "2"))
    return parse_genotype(text), None
