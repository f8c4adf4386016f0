"""Cross-validation protocols (who may be in train and test) and metrics against hand values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from alloyml.modeling.validation import (
    extrapolation_split,
    grouped_splits,
    loso_splits,
    random_splits,
    regression_metrics,
)


@pytest.fixture(scope="module")
def groups() -> np.ndarray:
    """97 rows in 23 composition groups of uneven size (1 to 9 rows)."""
    rng = np.random.default_rng(3)
    sizes = rng.integers(1, 10, size=23)
    labels = np.repeat([f"g{i:02d}" for i in range(23)], sizes)
    return rng.permutation(labels)[:97]


def _assert_partition(splits, n: int) -> None:
    """Each test part is disjoint from its train part, and test parts cover every row once."""
    tested = np.concatenate([te for _, te in splits])
    assert sorted(tested.tolist()) == list(range(n))
    for tr, te in splits:
        assert len(np.intersect1d(tr, te)) == 0
        assert len(tr) + len(te) == n


@pytest.mark.parametrize("k", [2, 3, 5])
def test_grouped_splits_never_share_a_group(groups, k):
    splits = grouped_splits(groups, k=k, seed=0)
    assert len(splits) == k
    _assert_partition(splits, len(groups))
    for tr, te in splits:
        assert not set(groups[tr]) & set(groups[te])


def test_grouped_splits_caps_k_at_number_of_groups():
    g = np.array(["a", "a", "b", "b", "c", "c"])
    splits = grouped_splits(g, k=5, seed=0)
    assert len(splits) == 3
    _assert_partition(splits, 6)
    assert all(len(set(g[te])) == 1 for _, te in splits)


def test_grouped_splits_seed_reproducible_and_shuffles(groups):
    a = grouped_splits(groups, k=4, seed=1)
    b = grouped_splits(groups, k=4, seed=1)
    c = grouped_splits(groups, k=4, seed=2)
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a, b, strict=True))
    assert any(not np.array_equal(x[1], y[1]) for x, y in zip(a, c, strict=True))


def test_random_splits_cover_each_row_once_per_repeat():
    n, k, repeats = 53, 4, 3
    splits = random_splits(n, k=k, repeats=repeats, seed=11)
    assert len(splits) == k * repeats
    for r in range(repeats):
        _assert_partition(splits[r * k : (r + 1) * k], n)
    # repeats use different shuffles
    first = [te.tolist() for _, te in splits[:k]]
    second = [te.tolist() for _, te in splits[k : 2 * k]]
    assert first != second


def test_loso_excludes_small_sources_and_tests_whole_sources():
    sources = np.array(["big"] * 30 + ["small"] * 5 + ["mid"] * 20)
    splits = loso_splits(sources, min_test=20)
    tested = {str(sources[te][0]) for _, te in splits}
    assert tested == {"big", "mid"}
    for tr, te in splits:
        (src,) = set(sources[te])
        assert len(te) == int((sources == src).sum())  # the whole source is held out
        assert src not in set(sources[tr])
        assert len(tr) + len(te) == len(sources)  # small sources still train
    assert loso_splits(np.array(["only"] * 50)) == []


def test_extrapolation_tests_the_top_and_drops_test_groups_from_training():
    rng = np.random.default_rng(5)
    n = 200
    y = rng.normal(400.0, 60.0, size=n)
    groups = rng.integers(0, 70, size=n).astype(str)
    ((tr, te),) = extrapolation_split(y, groups, quantile=0.9)
    thr = np.quantile(y, 0.9)
    np.testing.assert_array_equal(np.sort(te), np.flatnonzero(y >= thr))
    assert (y[tr] < thr).all()
    assert not set(groups[te]) & set(groups[tr])
    # a low row sharing a group with a test row is in neither part
    dropped = np.setdiff1d(np.arange(n), np.concatenate([tr, te]))
    assert len(dropped) > 0
    assert set(groups[dropped]) <= set(groups[te])


def test_extrapolation_refuses_too_small_parts():
    y = np.arange(20.0)
    # every row in one group: training is empty after removing the test group
    assert extrapolation_split(y, np.zeros(20, dtype=int), quantile=0.9) == []
    assert extrapolation_split(y, np.arange(20), quantile=0.9) == []  # 2 test rows < 5


def test_regression_metrics_perfect_prediction():
    y = np.array([100.0, 200.0, 300.0])
    m = regression_metrics(y, y.copy())
    assert m == {"r2": 1.0, "mae": 0.0, "rmse": 0.0, "mape": 0.0, "n": 3}


def test_regression_metrics_hand_example():
    y = np.array([100.0, 200.0, 300.0, 400.0])
    pred = np.array([110.0, 190.0, 330.0, 400.0])
    m = regression_metrics(y, pred)
    # errors +10, -10, +30, 0
    assert m["mae"] == pytest.approx(50.0 / 4)
    assert m["rmse"] == pytest.approx(math.sqrt((100 + 100 + 900 + 0) / 4))
    assert m["mape"] == pytest.approx((10 / 100 + 10 / 200 + 30 / 300 + 0) / 4 * 100)
    # ss_res = 1100, ss_tot = 50000
    assert m["r2"] == pytest.approx(1.0 - 1100.0 / 50000.0)
    assert m["n"] == 4


def test_regression_metrics_edge_cases():
    const = regression_metrics(np.array([5.0, 5.0]), np.array([4.0, 6.0]))
    assert math.isnan(const["r2"])  # no variance in y
    assert const["mae"] == 1.0
    zero = regression_metrics(np.array([0.0, 10.0]), np.array([1.0, 12.0]))
    assert zero["mape"] == pytest.approx(20.0)  # the zero target is left out of MAPE
    assert math.isnan(regression_metrics(np.zeros(3), np.ones(3))["mape"])
