"""Search spaces behind one protocol (:mod:`~falsr_ext.spaces.base`) and registry
(:mod:`~falsr_ext.spaces.registry`): FALSR's elastic space, DLSR and TPSR."""

from falsr_ext.spaces.base import Cost, ModelCard, SearchSpace
from falsr_ext.spaces.registry import (
    create_model,
    get_space,
    register_space,
    space_names,
    split_spec,
)

__all__ = ["Cost", "ModelCard", "SearchSpace", "create_model", "get_space", "register_space",
           "space_names", "split_spec"]
