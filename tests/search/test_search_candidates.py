"""Ranking and selection of candidates (``alloyml.search.candidates``) against brute force.

The non-dominated filter has three code paths (one objective, a sort for two, blocked pairwise
comparisons for three or more); each is checked against an O(n²) oracle written from the
definition, on random points with many ties and exact duplicates (small integer values).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

from alloyml.search import candidates as cands
from alloyml.search.campaign import Constraint, parse_campaign
from alloyml.search.evaluate import constraint_value

from .conftest import TEST_PARAMS


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """``a`` dominates ``b`` (every column maximised)."""
    return bool(np.all(a >= b) and np.any(a > b))


def oracle_nondominated(F: np.ndarray) -> np.ndarray:
    """Rows no other row dominates; of exact duplicates only the first (lowest index)."""
    n = len(F)
    out = np.ones(n, bool)
    for i in range(n):
        for j in range(n):
            if j != i and (dominates(F[j], F[i]) or (j < i and np.array_equal(F[j], F[i]))):
                out[i] = False
                break
    return out


def _points(rng: np.random.Generator, n: int, k: int, kind: str) -> np.ndarray:
    if kind == "ties":  # few distinct values per column: ties and exact duplicates
        return rng.integers(0, 4, size=(n, k)).astype(float)
    if kind == "duplicates":
        base = rng.normal(size=(max(n // 3, 1), k))
        return base[rng.integers(0, len(base), size=n)]
    return rng.normal(size=(n, k))


@pytest.mark.parametrize("k", [1, 2, 3, 4])
@pytest.mark.parametrize("kind", ["continuous", "ties", "duplicates"])
def test_nondominated_matches_brute_force(k, kind):
    rng = np.random.default_rng(1000 * k + len(kind))
    for n in (1, 2, 3, 7, 40, 120):
        for _ in range(5):
            F = _points(rng, n, k, kind)
            np.testing.assert_array_equal(cands.nondominated(F), oracle_nondominated(F))


def test_nondominated_three_objectives_beyond_one_block():
    """More rows than one comparison block (512): the blocks must cover every row."""
    rng = np.random.default_rng(3)
    F = rng.integers(0, 6, size=(1100, 3)).astype(float)
    np.testing.assert_array_equal(cands.nondominated(F), oracle_nondominated(F))


def test_nondominated_hand_cases():
    F = np.array([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [2.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
    assert cands.nondominated(F).tolist() == [True, False, True, False]
    F2 = np.array([[5.0, 3.0], [5.0, 2.0], [4.0, 3.0], [6.0, 1.0], [5.0, 3.0]])
    assert cands.nondominated(F2).tolist() == [True, False, False, True, False]
    assert cands.nondominated(np.zeros((0, 3))).tolist() == []


@pytest.mark.parametrize("k", [2, 3])
def test_pareto_ranks_peel_fronts(k):
    rng = np.random.default_rng(k)
    F = rng.integers(0, 5, size=(80, k)).astype(float)
    ranks = cands.pareto_ranks(F, enough=len(F))
    assert np.isfinite(ranks).all()
    np.testing.assert_array_equal(ranks == 0, oracle_nondominated(F))
    for r in range(1, int(ranks.max()) + 1):
        here, later = np.flatnonzero(ranks == r), np.flatnonzero(ranks >= r)
        for i in here:
            # nothing in this front or a later one dominates it ...
            assert not any(dominates(F[j], F[i]) for j in later if j != i)
            # ... and something in the front before dominates or duplicates it
            prev = np.flatnonzero(ranks == r - 1)
            assert any(dominates(F[j], F[i]) or np.array_equal(F[j], F[i]) for j in prev)
    # peeling stops once enough rows are ranked; the others are unranked
    partial = cands.pareto_ranks(F, enough=1)
    np.testing.assert_array_equal(np.isfinite(partial), ranks == 0)
    assert np.isinf(partial[ranks > 0]).all()


def test_crowding_distance():
    F = np.array([[0.0, 4.0], [1.0, 3.0], [2.0, 1.0], [4.0, 0.0]])
    d = cands.crowding(F)
    assert np.isinf(d[[0, 3]]).all()
    # interior: sum over objectives of the neighbours' gap over the objective's span
    assert d[1] == pytest.approx((2 - 0) / 4 + (4 - 1) / 4)
    assert d[2] == pytest.approx((4 - 1) / 4 + (3 - 0) / 4)
    assert np.isinf(cands.crowding(F[:2])).all()


def _campaign(name: str):
    doc = yaml.safe_load(TEST_PARAMS.read_text())
    return parse_campaign(name, doc["search"]["campaigns"][name])


def test_ranking_single_objective_feasible_first_by_value():
    c = _campaign("t_al")  # maximise uts
    table = pd.DataFrame(
        {
            "objective_uts_mpa": [500.0, 700.0, 650.0, 900.0, 650.0],
            "constraints_ok": [True, True, True, False, True],
        }
    )
    assert cands.ranking(table, c, enough=10).tolist() == [1, 2, 4, 0]  # stable on ties
    table["constraints_ok"] = False
    assert cands.ranking(table, c, enough=10).tolist() == []


def test_ranking_two_objectives_front_then_crowding():
    c = _campaign("t_mg_pareto")  # maximise specific_uts, minimise density
    rng = np.random.default_rng(5)
    # a trade-off line (more strength costs density) with uneven gaps, plus dominated points
    line_s = 100.0 + np.cumsum(rng.integers(1, 6, 10))
    line_d = 1.30 + np.cumsum(rng.integers(1, 6, 10)) / 100
    noise_s = rng.integers(95, 130, 50).astype(float)
    noise_d = rng.integers(135, 200, 50) / 100
    table = pd.DataFrame(
        {
            "objective_specific_uts": np.concatenate([line_s, noise_s]),
            "objective_density_g_cm3": np.concatenate([line_d, noise_d]),
            "constraints_ok": np.concatenate([[True] * 9 + [False], rng.random(50) < 0.8]),
        }
    ).sample(frac=1.0, random_state=1, ignore_index=True)
    order = cands.ranking(table, c, enough=len(table))
    feas = np.flatnonzero(table["constraints_ok"])
    assert sorted(order.tolist()) == feas.tolist()  # every feasible row once, nothing else
    F = table[["objective_specific_uts", "objective_density_g_cm3"]].to_numpy() * [1.0, -1.0]
    ranks = cands.pareto_ranks(F[feas], enough=len(feas))
    pos = {int(i): r for i, r in zip(feas, ranks, strict=True)}
    r_order = [pos[int(i)] for i in order]
    assert r_order == sorted(r_order)  # fronts in order
    front0 = order[: r_order.count(0)]
    np.testing.assert_array_equal(
        np.sort(front0), feas[oracle_nondominated(F[feas])]
    )  # the first rows are exactly the Pareto front of the feasible rows
    # within a front, less crowded (larger crowding distance) first
    d = cands.crowding(F[front0])
    assert len(front0) >= 4 and (d[:-1] >= d[1:]).all()


def test_select_diverse_honours_min_distance_and_order():
    rng = np.random.default_rng(0)
    vectors = rng.uniform(0, 2, size=(200, 3))
    order = rng.permutation(200)
    for q, dmin in ((5, 0.5), (10, 1.0), (3, 0.0)):
        chosen = cands.select_diverse(order, vectors, q, dmin)
        assert len(chosen) == q and chosen[0] == order[0]
        v = vectors[chosen]
        dist = np.linalg.norm(v[:, None] - v[None], axis=2)[np.triu_indices(q, 1)]
        assert dist.min() >= dmin
        # greedy: every skipped point before the last chosen one is too close to a chosen one
        last = order.tolist().index(chosen[-1])
        for i in order[:last]:
            if i not in chosen:
                before = [c for c in chosen if order.tolist().index(c) < order.tolist().index(i)]
                assert np.linalg.norm(vectors[before] - vectors[i], axis=1).min() < dmin
    # not enough distinct points: fewer than q, never a violation
    same = np.zeros((10, 2))
    assert cands.select_diverse(np.arange(10), same, 4, 0.1) == [0]


def test_li_phase_fields():
    assert cands.li_phase(0.0) == ""
    assert cands.li_phase(5.0) == "alpha (hcp)"
    assert cands.li_phase(5.7) == "alpha+beta"
    assert cands.li_phase(10.3) == "alpha+beta"
    assert cands.li_phase(10.31) == "beta (bcc)"


def test_constraint_value_is_relative_and_feasible_at_or_below_zero():
    q = (np.array([500.0, 400.0]), np.array([450.0, 350.0]), np.array([550.0, 450.0]))
    floor = Constraint("uts_mpa", ">=", 400.0, "lo")
    np.testing.assert_allclose(constraint_value(floor, q), [-50 / 400, 50 / 400])
    ceiling = Constraint("uts_mpa", "<=", 500.0, "hi")
    np.testing.assert_allclose(constraint_value(ceiling, q), [50 / 500, -50 / 500])
    on_zero = Constraint("uts_mpa", ">=", 0.0, "pred")
    np.testing.assert_allclose(constraint_value(on_zero, q), [-500.0, -400.0])
