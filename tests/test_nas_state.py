"""The search checkpoint: data only (no pickle), and a restored controller asks exactly
what the uninterrupted one asks (no training: objectives are a pure function of X)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from falsr_ext.nas.controllers import make_controller
from falsr_ext.nas.encoding import decode
from falsr_ext.nas.problem import Limits, SearchProblem, costs, objectives
from falsr_ext.nas.state import STATE_NAME, read_state, save_state

LIMITS = Limits(max_macs=30e9, max_params=150e3, min_psnr=30.5)


def _fake_tell(controller, X: np.ndarray) -> None:  # noqa: ANN001
    """Tell objectives as the search would, with a made-up PSNR (a function of X)."""
    macs, params = costs([decode(x) for x in X], 2)
    F, G = [], []
    for x, m, p in zip(X, macs, params, strict=True):
        ok = LIMITS.cost_ok(m, p)
        psnr = 30.0 + float((x * np.arange(1, len(x) + 1)).sum() % 17) / 8 if ok else math.nan
        F.append(objectives(psnr, m, p))
        G.append(LIMITS.violations(psnr if ok else -math.inf, m, p))
    G = np.array(G)
    G[~np.isfinite(G)] = 1.0
    controller.tell(np.array(F), G)


def _run(controller, generations: int) -> list[np.ndarray]:  # noqa: ANN001
    asked = []
    for _ in range(generations):
        X = controller.ask()
        asked.append(X)
        _fake_tell(controller, X)
    return asked


@pytest.mark.parametrize("kind", ["hybrid", "nsga2", "random"])
def test_a_restored_controller_continues_exactly(kind: str, tmp_path: Path) -> None:
    problem = SearchProblem(LIMITS)
    whole = make_controller(kind, problem, 6, seed=4, rl_fraction=0.5)
    expected = _run(whole, 5)
    first = make_controller(kind, problem, 6, seed=4, rl_fraction=0.5)
    _run(first, 2)
    save_state(tmp_path / STATE_NAME, 2, [{"generation": 1}, {"generation": 2}], first)
    doc, arrays = read_state(tmp_path / STATE_NAME)
    assert doc["generation"] == 2 and len(doc["history"]) == 2
    again = make_controller(kind, problem, 6, seed=4, rl_fraction=0.5)
    again.load_state_dict(doc["controller"], arrays)
    rest = _run(again, 3)
    for want, got in zip(expected[2:], rest, strict=True):
        np.testing.assert_array_equal(want, got)
    if kind != "random":
        assert again.policy.state_dict() == whole.policy.state_dict()
        if kind == "hybrid":
            assert whole.policy.updates > 0  # the policy did learn: its state mattered


def test_a_fresh_state_restores_before_the_first_generation(tmp_path: Path) -> None:
    problem = SearchProblem(LIMITS)
    fresh = make_controller("hybrid", problem, 4, seed=1, rl_fraction=0.5)
    save_state(tmp_path / STATE_NAME, 0, [], fresh)
    doc, arrays = read_state(tmp_path / STATE_NAME)
    again = make_controller("hybrid", problem, 4, seed=1, rl_fraction=0.5)
    again.load_state_dict(doc["controller"], arrays)
    want = make_controller("hybrid", problem, 4, seed=1, rl_fraction=0.5)
    np.testing.assert_array_equal(_run(again, 2)[1], _run(want, 2)[1])


def test_the_state_file_holds_no_pickle(tmp_path: Path) -> None:
    problem = SearchProblem(LIMITS)
    controller = make_controller("hybrid", problem, 4, seed=1, rl_fraction=0.5)
    _run(controller, 2)
    save_state(tmp_path / STATE_NAME, 2, [], controller)
    with np.load(tmp_path / STATE_NAME, allow_pickle=False) as npz:
        assert all(npz[name].dtype != object for name in npz.files)
