"""The NAS's encoding, settings parsing, mutation and policy (no training)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from falsr_ext.nas import SearchError
from falsr_ext.nas.encoding import CARDINALITY, NUM_VARS, decode, encode, random_vectors, repair
from falsr_ext.nas.policy import MutationPolicy
from falsr_ext.nas.runners import check_scheduler_address
from falsr_ext.nas.search import parse_amount
from falsr_ext.space import sample_genotype


def test_genotype_vector_round_trip() -> None:
    for seed in range(100):
        g = sample_genotype(random.Random(seed))
        x = encode(g)
        assert x.shape == (NUM_VARS,)
        assert np.all((x >= 0) & (x < CARDINALITY))
        assert decode(x) == g


def test_every_vector_decodes_and_repairs_to_canonical() -> None:
    rng = np.random.default_rng(1)
    X = np.floor(rng.random((300, NUM_VARS)) * CARDINALITY).astype(np.int64)
    X[:50, -8:] = 0  # empty fusion sets
    R = repair(X)
    for x, r in zip(X, R, strict=True):
        g = decode(x)  # validates
        assert decode(r) == g
        assert np.array_equal(encode(g), r)
    assert decode(X[0]).fusion == (7,)  # empty fusion falls back to the last cell
    # out-of-bounds genes are clipped into the space; repair is idempotent
    assert decode(np.full(NUM_VARS, 9)) == decode(np.asarray(CARDINALITY) - 1)
    assert np.array_equal(repair(R), R)


def test_parse_amount() -> None:
    assert parse_amount("100G", "x") == 100e9
    assert parse_amount("500K", "x") == 500e3
    assert parse_amount("1.5m", "x") == 1.5e6
    assert parse_amount("12345", "x") == 12345
    for bad in ("abc", "10Q", "-5G", "0", ""):
        with pytest.raises(SearchError, match="x"):
            parse_amount(bad, "x")


def test_scheduler_address_format() -> None:
    assert check_scheduler_address("tcp://127.0.0.1:8786") == "tcp://127.0.0.1:8786"
    for bad in ("127.0.0.1:8786", "http://host:1", "tcp://host", "tcp://host:port"):
        with pytest.raises(SearchError, match="tcp://HOST:PORT"):
            check_scheduler_address(bad)


def test_policy_learns_the_rewarded_move_and_round_trips() -> None:
    from falsr_ext.nas.policy import KINDS

    policy = MutationPolicy(lr=0.3)
    rng = np.random.default_rng(0)
    x = encode(sample_genotype(random.Random(0)))
    kind = KINDS.index("filters")  # reward "set some cell's filters to 16" only
    before = policy.kind_probs(0)[kind]
    for _ in range(20):
        actions = [policy.act(x, 0, rng) for _ in range(8)]
        policy.update(actions, [1.0 if a.kind == kind and a.new == 0 else 0.0
                                for a in actions])
    assert policy.kind_probs(0)[kind] > 3 * before
    assert policy.value_probs(0, kind, 3)[0] > 0.6  # uniform would be 1/3
    assert policy.kind_probs(1)[kind] == pytest.approx(before)  # other context untouched
    clone = MutationPolicy()
    clone.load_state_dict(policy.state_dict())
    assert np.array_equal(clone.kind_logits, policy.kind_logits)
    assert np.array_equal(clone.value_logits, policy.value_logits)
    assert clone.updates == policy.updates
    assert list(clone.context_updates) == [20, 0]
    a = policy.act(x, 0, rng)
    assert a.new != a.old and 0 <= a.new < CARDINALITY[a.gene]
    assert policy.gene_probs(0).sum() == pytest.approx(1.0)


def test_hybrid_mutation_changes_one_gene_and_tags_policy_moves() -> None:
    from pymoo.core.population import Population

    from falsr_ext.nas.mutation import RL_KEY, HybridMutation
    from falsr_ext.nas.problem import Limits, SearchProblem

    problem = SearchProblem(Limits(max_macs=30e9))
    rng = np.random.default_rng(3)
    X = random_vectors(rng, 40)
    for fraction, expect in ((0.0, 0), (1.0, 40)):
        pop = Population.new("X", X.copy())
        HybridMutation(fraction).do(problem, pop, random_state=rng)
        tags = [ind.get(RL_KEY) for ind in pop]
        assert sum(t is not None for t in tags) == expect
        Y = np.asarray(pop.get("X"))
        assert np.array_equal(repair(Y), Y)
        changed = [decode(a) != decode(b) for a, b in zip(X, Y, strict=True)]
        assert sum(changed) >= 30  # one gene each; a few land on an equivalent genotype
        over = problem.over_budget(X)
        for t, o in zip(tags, over, strict=True):
            assert t is None or t.context == int(o)


def test_search_settings_errors(tmp_path) -> None:  # noqa: ANN001
    from falsr_ext.nas.search import SearchConfig

    base = dict(data=[str(tmp_path)], val=str(tmp_path), out=str(tmp_path / "run"),
                population=4, generations=2, train_steps=3)
    SearchConfig(**base)
    for change, needle in (({"population": 1}, "--population"),
                           ({"generations": 0}, "--generations"),
                           ({"scheduler": "localhost:8786"}, "tcp://HOST:PORT"),
                           ({"rl_fraction": 1.5}, "--mutation-rl-fraction"),
                           ({"controller": "bayes"}, "--controller"),
                           ({"val": str(tmp_path / "nope")}, "no such data folder")):
        with pytest.raises(SearchError, match=needle):
            SearchConfig(**{**base, **change})
