"""The search problem: objectives, constraints and the pymoo Problem they define.

Objectives (pymoo minimises): ``-PSNR``, ``MACs``, ``params``. Inequality constraints
(``g <= 0`` is satisfied), each normalised by its limit: MACs over ``max_macs``, params
over ``max_params`` (both known from the C++ counter before any training) and PSNR under
``min_psnr`` (known after the evaluation). A candidate over a cost limit is never trained:
its PSNR objective is set to :data:`UNTRAINED_PSNR`, and the cost violation ranks it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pymoo.core.problem import Problem

from falsr_ext.counter import count_batch
from falsr_ext.nas.encoding import NUM_VARS, UPPER, decode, random_vectors
from falsr_ext.space import BLOCK_TYPES, NUM_CELLS, Cell, Genotype

UNTRAINED_PSNR = 0.0
COUNT_SIZE = 480  # MACs are counted at a 480x480 LR input, FALSR's convention


@dataclass(frozen=True)
class Limits:
    """Constraint limits; ``None`` means unconstrained."""

    max_macs: float | None = None
    max_params: float | None = None
    min_psnr: float | None = None

    def cost_ok(self, macs: float, params: float) -> bool:
        """True when a network is within the MACs and params limits."""
        return ((self.max_macs is None or macs <= self.max_macs)
                and (self.max_params is None or params <= self.max_params))

    def feasible(self, psnr: float, macs: float, params: float) -> bool:
        """True when an evaluated network satisfies every constraint."""
        return self.cost_ok(macs, params) and (self.min_psnr is None or psnr >= self.min_psnr)

    def violations(self, psnr: float, macs: float, params: float) -> list[float]:
        """The three constraint values (``<= 0`` when satisfied), normalised by the limits."""
        def over(value: float, limit: float | None) -> float:
            return 0.0 if limit is None else (value - limit) / max(limit, 1e-12)

        under = 0.0 if self.min_psnr is None else (self.min_psnr - psnr) / max(self.min_psnr, 1)
        return [over(macs, self.max_macs), over(params, self.max_params), under]


def costs(genotypes: list[Genotype], scale: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(MACs, params) int64 arrays of ``genotypes`` at 480x480 (one C++ call)."""
    if not genotypes:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    out = count_batch(genotypes, COUNT_SIZE, COUNT_SIZE, scale)
    return out["macs"], out["params"]


def space_maxima(scale: int = 2) -> tuple[float, float]:
    """Largest (MACs, params) of the space: every cell at its largest, fully wired."""
    best_macs = best_params = 0.0
    for block in BLOCK_TYPES:
        cells = tuple(Cell(block, 3, 64, 4, True, tuple(range(i + 1)))
                      for i in range(NUM_CELLS))
        g = Genotype(cells, tuple(range(NUM_CELLS + 1))).validate()
        macs, params = costs([g], scale)
        best_macs, best_params = max(best_macs, float(macs[0])), max(best_params, float(params[0]))
    return best_macs, best_params


def objectives(psnr: float, macs: float, params: float) -> list[float]:
    """The minimised objective vector of one candidate."""
    psnr = psnr if math.isfinite(psnr) else UNTRAINED_PSNR
    return [-psnr, float(macs), float(params)]


class SearchProblem(Problem):
    """Integer-vector problem of the elastic space (evaluated by the search loop, ask/tell)."""

    def __init__(self, limits: Limits, scale: int = 2) -> None:
        super().__init__(n_var=NUM_VARS, n_obj=3, n_ieq_constr=3, xl=np.zeros(NUM_VARS),
                         xu=UPPER.astype(float), vtype=int)
        self.limits = limits
        self.scale = scale

    def over_budget(self, X: np.ndarray) -> np.ndarray:
        """Boolean mask of the rows of ``X`` over a cost limit (counted, not trained)."""
        macs, params = costs([decode(x) for x in X], self.scale)
        return np.array([not self.limits.cost_ok(m, p) for m, p in zip(macs, params,
                                                                      strict=True)], bool)

    def sample(self, rng: np.random.Generator, n: int, max_draws: int = 20_000) -> np.ndarray:
        """``n`` random canonical vectors within the cost limits (rejection sampling).

        Counting is free, so candidates over budget are redrawn; if the limits are so tight
        that ``max_draws`` draws do not yield ``n``, the rest are unconstrained draws (never
        trained; the search ranks them by their violation).
        """
        found: list[np.ndarray] = []
        drawn = 0
        while sum(len(f) for f in found) < n and drawn < max_draws:
            X = random_vectors(rng, 256)
            drawn += len(X)
            found.append(X[~self.over_budget(X)])
        X = np.concatenate(found)[:n] if found else np.zeros((0, NUM_VARS), np.int64)
        if len(X) < n:
            X = np.concatenate([X, random_vectors(rng, n - len(X))])
        return X

    def _evaluate(self, x, out, *args, **kwargs):  # noqa: ANN001 - pymoo's signature
        raise NotImplementedError("the search loop evaluates candidates itself (ask/tell)")
