"""One compiled engine per (model, dtype), rebuilt when the model's weights change.

The key is the model object (weakly held: the cache never keeps a model alive); an entry
is stale once any parameter was modified in place (its ``_version`` counter moves, e.g.
an optimiser step or ``load_state_dict``) or replaced (its storage moves).

Thread-safe: a hit is a plain lookup; a miss compiles under a lock, so threads that miss
together compile once and share the engine (engines are themselves thread-safe).
"""

from __future__ import annotations

import threading
import weakref

import torch

from falsr_ext.engine.engine import Engine
from falsr_ext.models.falsr_net import FalsrNet

_CACHE: weakref.WeakKeyDictionary[FalsrNet, dict[torch.dtype, tuple[tuple, Engine]]] = (
    weakref.WeakKeyDictionary()
)
_COMPILE_LOCK = threading.Lock()


def weights_signature(model: FalsrNet) -> tuple:
    """What identifies the current weights: every parameter's storage and version."""
    return tuple((p.data_ptr(), p._version) for p in model.parameters())


def engine_for(model: FalsrNet, dtype: torch.dtype) -> Engine:
    """The cached :class:`Engine` of ``model`` in ``dtype``, compiled on first use or
    after the weights changed."""
    hit = _CACHE.get(model, {}).get(dtype)
    if hit is not None and hit[0] == weights_signature(model):
        return hit[1]
    with _COMPILE_LOCK:
        entries = _CACHE.setdefault(model, {})
        # Read under the lock: another thread may have compiled these weights meanwhile.
        sig = weights_signature(model)
        hit = entries.get(dtype)
        if hit is None or hit[0] != sig:
            hit = (sig, Engine(model, dtype))
            entries[dtype] = hit
    return hit[1]
