"""The hybrid mutation: a fraction of offspring moved by the learned policy, the rest at random.

Each offspring changes exactly one gene (then the vector is repaired to its canonical
form). With probability ``rl_fraction`` the move comes from :class:`MutationPolicy`,
otherwise the gene and its new value are uniform. Policy moves are recorded on the
individual (``rl_action``) so the search can reward them once the child is evaluated.
"""

from __future__ import annotations

import numpy as np
from pymoo.core.mutation import Mutation

from falsr_ext.nas.encoding import CARDINALITY, NUM_VARS, repair
from falsr_ext.nas.policy import Action, MutationPolicy
from falsr_ext.nas.problem import SearchProblem

RL_KEY = "rl_action"


def random_move(x: np.ndarray, rng: np.random.Generator) -> tuple[int, int]:
    """A uniform gene and a uniform value of it other than the current one."""
    gene = int(rng.integers(NUM_VARS))
    new = int(rng.integers(CARDINALITY[gene] - 1))
    return gene, new + (new >= x[gene])


class HybridMutation(Mutation):
    """One-gene mutation, learned (policy) for ``rl_fraction`` of the offspring, else random."""

    def __init__(self, rl_fraction: float, policy: MutationPolicy | None = None) -> None:
        super().__init__(prob=1.0)
        if not 0.0 <= rl_fraction <= 1.0:
            raise ValueError(f"rl_fraction must be in [0, 1], got {rl_fraction}")
        self.rl_fraction = rl_fraction
        self.policy = policy if policy is not None else MutationPolicy()

    def do(self, problem, pop, inplace=True, *args, random_state=None, **kwargs):  # noqa: ANN001
        """Mutate every individual of ``pop`` in place (pymoo's operator interface)."""
        rng = random_state
        X = np.asarray(pop.get("X")).astype(np.int64)
        learned = rng.random(len(X)) < self.rl_fraction
        over = (problem.over_budget(X) if isinstance(problem, SearchProblem) and learned.any()
                else np.zeros(len(X), bool))
        actions: list[Action | None] = []
        for i, x in enumerate(X):
            if learned[i]:
                action = self.policy.act(x, int(over[i]), rng)
                x[action.gene] = action.new
                actions.append(action)
            else:
                gene, new = random_move(x, rng)
                x[gene] = new
                actions.append(None)
        pop.set("X", repair(X))
        for ind, action in zip(pop, actions, strict=True):
            ind.set(RL_KEY, action)
        return pop
