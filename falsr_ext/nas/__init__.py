"""FALSR's hybrid neural architecture search (NSGA-II + reinforced mutation).

    falsr search --data T91 BSD200 --val Set5 --out runs/nas --population 16 \
        --generations 10 --train-steps 200 --max-macs 100G --max-params 500K

Modules: :mod:`encoding` (integer vector <-> genotype), :mod:`problem` (the pymoo
problem and its constraints), :mod:`policy` / :mod:`mutation` (the REINFORCE mutation
policy and the hybrid operator), :mod:`evaluator` (incomplete training, the evaluation
log), :mod:`runners` (process pool, Dask), :mod:`controllers`, :mod:`search` (the loop,
checkpoint and resume), :mod:`state` (the checkpoint, data only), :mod:`pareto` (front,
hypervolume, outputs), :mod:`cli`.
"""

from falsr_ext.errors import FalsrError


class SearchError(FalsrError, ValueError):
    """A search setting is invalid, or a run folder cannot be (re)used."""


__all__ = ["SearchError"]
