"""Genotype -> nn.Module, the model zoo, our weights format and model loading."""

from falsr_ext.models.falsr_net import FalsrNet, build_model
from falsr_ext.models.loading import load_model
from falsr_ext.models.weights import load_weights, save_weights
from falsr_ext.models.zoo import ZOO_GENOTYPES, get_genotype, zoo_names

__all__ = [
    "ZOO_GENOTYPES",
    "FalsrNet",
    "build_model",
    "get_genotype",
    "load_model",
    "load_weights",
    "save_weights",
    "zoo_names",
]
