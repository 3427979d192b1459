"""Search controllers with an ask/tell interface: NSGA-II (hybrid mutation) and random.

A controller proposes a generation of integer vectors (:meth:`ask`) and is told their
objectives and constraint values (:meth:`tell`). Between generations a controller's
state is plain data (:meth:`state_dict` / :meth:`load_state_dict`: JSON-ready values and
numpy arrays), which a controller made afresh from the same settings takes back to ask
exactly what the saved one would have asked (see :mod:`falsr_ext.nas.state`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pymoo.algorithms.moo.nsga2 import NSGA2
from pymoo.core.evaluator import Evaluator
from pymoo.core.population import Population
from pymoo.core.repair import Repair
from pymoo.core.sampling import Sampling
from pymoo.operators.crossover.pntx import TwoPointCrossover
from pymoo.problems.static import StaticProblem
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

from falsr_ext.nas.encoding import repair
from falsr_ext.nas.mutation import RL_KEY, HybridMutation
from falsr_ext.nas.policy import MutationPolicy
from falsr_ext.nas.problem import SearchProblem

CONTROLLERS = ("hybrid", "nsga2", "random")
_POP_KEYS = ("X", "F", "G", "rank", "crowding")  # what NSGA-II's next generation reads
REWARD_FRONT, REWARD_DOMINATED, REWARD_OVER_BUDGET = 1.0, 0.0, -1.0


class _CanonicalSampling(Sampling):
    def _do(self, problem, n_samples, *args, random_state=None, **kwargs):  # noqa: ANN001
        return problem.sample(random_state, n_samples)


class _CanonicalRepair(Repair):
    def _do(self, problem, X, **kwargs):  # noqa: ANN001
        return repair(np.asarray(X))


class NSGA2Controller:
    """pymoo NSGA-II: two-point crossover, duplicate elimination, hybrid mutation."""

    def __init__(self, problem: SearchProblem, population: int, seed: int,
                 rl_fraction: float, policy_lr: float = 0.3) -> None:
        self.problem = problem
        self.mutation = HybridMutation(rl_fraction, MutationPolicy(lr=policy_lr))
        self.algorithm = NSGA2(pop_size=population, n_offsprings=population,
                               sampling=_CanonicalSampling(),
                               crossover=TwoPointCrossover(prob=0.9),
                               mutation=self.mutation, repair=_CanonicalRepair(),
                               eliminate_duplicates=True, seed=seed)
        self.algorithm.setup(problem, termination=("n_gen", 10**9), seed=seed)
        self._pending = None
        self.last_rewards: list[float] = []

    @property
    def policy(self) -> MutationPolicy:
        """The learned mutation policy."""
        return self.mutation.policy

    def ask(self) -> np.ndarray:
        """The next generation's vectors (the initial population first)."""
        self._pending = self.algorithm.ask()
        return np.asarray(self._pending.get("X")).astype(np.int64)

    def tell(self, F: np.ndarray, G: np.ndarray) -> None:
        """Objectives / constraints of the asked vectors; rewards the policy's moves."""
        pop, self._pending = self._pending, None
        Evaluator().eval(StaticProblem(self.problem, F=F, G=G), pop)
        previous = self.algorithm.pop
        self._reward(pop, previous)
        self.algorithm.tell(infills=pop)

    def state_dict(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Everything the next :meth:`ask` depends on, between generations: the surviving
        population (X, F, G and NSGA-II's rank and crowding, in order), pymoo's random
        generator and generation counter, and the mutation policy."""
        if self._pending is not None:
            raise RuntimeError("state_dict() between ask() and tell()")
        algo = self.algorithm
        meta = {"kind": "nsga2", "initialized": bool(algo.is_initialized),
                "n_iter": algo.n_iter, "rng": algo.random_state.bit_generator.state,
                "policy": self.policy.state_dict()}
        arrays: dict[str, np.ndarray] = {}
        if algo.is_initialized:
            arrays = {f"pop_{key}": np.asarray(algo.pop.get(key)) for key in _POP_KEYS}
        return meta, arrays

    def load_state_dict(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Restore :meth:`state_dict` output into this (fresh) controller."""
        if meta.get("kind") != "nsga2":
            raise ValueError(f"the state of a {meta.get('kind')!r} controller, not nsga2")
        algo = self.algorithm
        algo.random_state.bit_generator.state = meta["rng"]
        self.policy.load_state_dict(meta["policy"])
        if meta["initialized"]:
            pop = Population.new("X", arrays["pop_X"])
            # F, G and the constraint violation exactly as tell() sets them
            Evaluator().eval(StaticProblem(self.problem, F=arrays["pop_F"], G=arrays["pop_G"]),
                             pop)
            pop.set("rank", arrays["pop_rank"], "crowding", arrays["pop_crowding"])
            algo.pop = pop
            algo.is_initialized = True
            algo._set_optimum()
        algo.n_iter = meta["n_iter"]

    def _reward(self, offspring, previous) -> None:  # noqa: ANN001
        actions = [ind.get(RL_KEY) for ind in offspring]
        learned = [i for i, a in enumerate(actions) if a is not None]
        self.last_rewards = []
        if not learned:
            return
        parts = [offspring] if previous is None else [previous, offspring]
        F = np.vstack([np.asarray(p.get("F")) for p in parts])
        G = np.vstack([np.asarray(p.get("G")) for p in parts])
        feasible = np.all(G <= 0, axis=1)
        on_front = np.zeros(len(F), bool)
        if feasible.any():
            idx = np.flatnonzero(feasible)
            on_front[idx[NonDominatedSorting().do(F[idx], only_non_dominated_front=True)]] = True
        base = len(F) - len(offspring)
        over = G[:, :2].max(axis=1) > 0
        rewards = []
        for i in learned:
            j = base + i
            rewards.append(REWARD_OVER_BUDGET if over[j]
                           else REWARD_FRONT if on_front[j] else REWARD_DOMINATED)
        self.policy.update([actions[i] for i in learned], rewards)
        self.last_rewards = rewards


class RandomController:
    """Random search: each generation is ``population`` random vectors within the limits."""

    def __init__(self, problem: SearchProblem, population: int, seed: int) -> None:
        self.problem = problem
        self.population = population
        self.rng = np.random.default_rng(seed)
        self.policy = None
        self.last_rewards: list[float] = []

    def ask(self) -> np.ndarray:
        """``population`` random canonical vectors (within the cost limits when possible)."""
        return self.problem.sample(self.rng, self.population)

    def tell(self, F: np.ndarray, G: np.ndarray) -> None:
        """Random search learns nothing."""

    def state_dict(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The random generator's state (all a random search carries over)."""
        return {"kind": "random", "rng": self.rng.bit_generator.state}, {}

    def load_state_dict(self, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Restore :meth:`state_dict` output."""
        if meta.get("kind") != "random":
            raise ValueError(f"the state of a {meta.get('kind')!r} controller, not random")
        self.rng.bit_generator.state = meta["rng"]


def make_controller(kind: str, problem: SearchProblem, population: int, seed: int,
                    rl_fraction: float, policy_lr: float = 0.3,
                    ) -> NSGA2Controller | RandomController:
    """``hybrid`` (NSGA-II, ``rl_fraction`` learned moves), ``nsga2`` (random moves), ``random``."""
    if kind == "random":
        return RandomController(problem, population, seed)
    fraction = 0.0 if kind == "nsga2" else rl_fraction
    return NSGA2Controller(problem, population, seed, fraction, policy_lr)
