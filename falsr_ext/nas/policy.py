"""The learned mutation policy: REINFORCE over which kind of gene to change and to what.

State: the child's context, ``0`` when the crossover product is within the cost limits
and ``1`` when it is over them (known from the counter before any training), so the
policy can learn different moves for "improve accuracy" and "shrink the network".

Action (factored, so that a few dozen rewards per search suffice to learn something): a
gene kind ``k`` (block, kernel, filters, blocks, skip, a cell input bit, a fusion bit)
from ``softmax(kind_logits[ctx])``, a uniformly chosen gene of that kind, and for the
micro kinds a new value from ``softmax(value_logits[ctx, k])`` over the values other than
the current one (a bit simply flips). Reward (from the search, after evaluation): ``+1``
for a feasible non-dominated child, ``0`` for a feasible dominated one, ``-1`` for one over
the cost limits. Update: ``theta += lr * (reward - baseline) * grad log pi`` summed over a
generation's moves, the baseline a running mean per context. Plain numpy;
:meth:`state_dict` / :meth:`load_state_dict` save and restore it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from falsr_ext.nas.encoding import CARDINALITY, GENE_NAMES

NUM_CONTEXTS = 2
CONTEXT_NAMES = ("within_budget", "over_budget")
KINDS = ("block", "kernel", "filters", "blocks", "skip", "input", "fusion")
MAX_CARD = int(CARDINALITY.max())
LOGIT_CLIP = 4.0  # keeps every move's probability bounded away from zero (exploration)


def _kind_of(name: str) -> int:
    if name.startswith("fuse."):
        return KINDS.index("fusion")
    field = name.split(".")[1]
    return KINDS.index("input" if field == "in" else field)


GENE_KIND = np.array([_kind_of(n) for n in GENE_NAMES], dtype=np.int64)
GENES_OF_KIND = [np.flatnonzero(GENE_KIND == k) for k in range(len(KINDS))]
KIND_CARD = np.array([int(CARDINALITY[g[0]]) for g in GENES_OF_KIND], dtype=np.int64)


@dataclass(frozen=True)
class Action:
    """One policy move: context, gene kind, gene index, old and new value."""

    context: int
    kind: int
    gene: int
    old: int
    new: int


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z[np.isfinite(z)].max())
    return e / e.sum()


class MutationPolicy:
    """Factored softmax policy (kind, value) per context, trained by REINFORCE."""

    def __init__(self, lr: float = 0.3, baseline_decay: float = 0.8) -> None:
        self.lr = lr
        self.baseline_decay = baseline_decay
        self.kind_logits = np.zeros((NUM_CONTEXTS, len(KINDS)))
        self.value_logits = np.zeros((NUM_CONTEXTS, len(KINDS), MAX_CARD))
        self.baseline = np.zeros(NUM_CONTEXTS)
        self.context_updates = np.zeros(NUM_CONTEXTS, dtype=np.int64)
        self.updates = 0

    # ------------------------------------------------------------------ acting
    def kind_probs(self, context: int) -> np.ndarray:
        """Probability of mutating a gene of each kind in ``context``."""
        return _softmax(self.kind_logits[context])

    def gene_probs(self, context: int) -> np.ndarray:
        """Probability of mutating each gene in ``context``."""
        pk = self.kind_probs(context)
        return np.array([pk[k] / len(GENES_OF_KIND[k]) for k in GENE_KIND])

    def value_probs(self, context: int, kind: int, current: int) -> np.ndarray:
        """Probabilities of the kind's values (0 for ``current`` and out-of-range ones)."""
        logits = self.value_logits[context, kind].copy()
        allowed = np.arange(MAX_CARD) < KIND_CARD[kind]
        allowed[current] = False
        logits[~allowed] = -np.inf
        return _softmax(logits)

    def act(self, x: np.ndarray, context: int, rng: np.random.Generator) -> Action:
        """Draw a move for vector ``x`` (not modified) in ``context``."""
        kind = int(rng.choice(len(KINDS), p=self.kind_probs(context)))
        gene = int(rng.choice(GENES_OF_KIND[kind]))
        old = int(x[gene])
        new = int(rng.choice(MAX_CARD, p=self.value_probs(context, kind, old)))
        return Action(context, kind, gene, old, new)

    # ---------------------------------------------------------------- learning
    def update(self, actions: list[Action], rewards: list[float]) -> None:
        """One REINFORCE step from the moves of a generation and their rewards."""
        for context in range(NUM_CONTEXTS):
            batch = [(a, r) for a, r in zip(actions, rewards, strict=True)
                     if a.context == context]
            if not batch:
                continue
            grad_kind = np.zeros(len(KINDS))
            grad_value = np.zeros((len(KINDS), MAX_CARD))
            for a, r in batch:
                adv = r - self.baseline[context]
                g = -self.kind_probs(context)
                g[a.kind] += 1.0
                grad_kind += adv * g
                if KIND_CARD[a.kind] > 2:  # a bit's flip is not a choice
                    v = -self.value_probs(context, a.kind, a.old)
                    v[a.new] += 1.0
                    grad_value[a.kind] += adv * v
            self.kind_logits[context] = np.clip(
                self.kind_logits[context] + self.lr * grad_kind, -LOGIT_CLIP, LOGIT_CLIP)
            self.value_logits[context] = np.clip(
                self.value_logits[context] + self.lr * grad_value, -LOGIT_CLIP, LOGIT_CLIP)
            mean = float(np.mean([r for _, r in batch]))
            d = self.baseline_decay if self.context_updates[context] else 0.0
            self.baseline[context] = d * self.baseline[context] + (1 - d) * mean
            self.context_updates[context] += 1
        self.updates += 1

    # ------------------------------------------------------------------- state
    def state_dict(self) -> dict[str, Any]:
        """JSON-ready state (logits, baselines, settings) with readable probabilities."""
        return {
            "format": "falsr-mutation-policy/2",
            "lr": self.lr,
            "baseline_decay": self.baseline_decay,
            "updates": self.updates,
            "contexts": list(CONTEXT_NAMES),
            "kinds": list(KINDS),
            "kind_logits": self.kind_logits.tolist(),
            "value_logits": self.value_logits.tolist(),
            "baseline": self.baseline.tolist(),
            "context_updates": self.context_updates.tolist(),
            "kind_probs": {c: dict(zip(KINDS, self.kind_probs(i).round(4).tolist(),
                                       strict=True))
                           for i, c in enumerate(CONTEXT_NAMES)},
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output (the kinds must match this version's)."""
        if state.get("kinds") != list(KINDS):
            raise ValueError("mutation policy state: gene kinds differ from this version")
        self.lr = float(state["lr"])
        self.baseline_decay = float(state["baseline_decay"])
        self.updates = int(state["updates"])
        self.kind_logits = np.array(state["kind_logits"], dtype=np.float64)
        self.value_logits = np.array(state["value_logits"], dtype=np.float64)
        self.baseline = np.array(state["baseline"], dtype=np.float64)
        self.context_updates = np.array(state["context_updates"], dtype=np.int64)
