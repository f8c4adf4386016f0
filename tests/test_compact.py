"""Prediction without scikit-learn (:mod:`alloyml.modeling.compact`): the same numbers as the libraries.

Point predictions of forests and XGBoost models must be bit for bit those of scikit-learn (one
job) and XGBoost, on real alloy features (jiang_7xxx, the full ``alloy_v2`` preset) and on
perturbed rows no model has seen; k nearest neighbours must be the exact ones.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from sklearn.ensemble import ExtraTreesRegressor, RandomForestRegressor
from sklearn.neighbors import NearestNeighbors
from sklearn.tree import DecisionTreeRegressor
from xgboost import XGBRegressor

from alloyml.errors import AlloyMLError
from alloyml.features import feature_labels, featurize
from alloyml.modeling.compact import (
    Neighbours,
    TreeEnsemble,
    _float32_down,
    from_xgboost_json,
    load_forest,
    save_forest,
)
from alloyml.modeling.models import make_estimator

realdata = pytest.mark.realdata


@pytest.fixture(scope="module")
def alloys(jiang_subset) -> dict[str, np.ndarray]:
    """Real features (400 jiang_7xxx rows, alloy_v2), split 300 / 100, plus perturbed rows."""
    frame = jiang_subset(400, seed=11, targets=("uts_mpa",))
    names = feature_labels("alloy_v2")
    X = featurize(frame, "alloy_v2")[names].to_numpy(dtype=float)
    y = frame["uts_mpa"].to_numpy(dtype=float)
    rng = np.random.default_rng(0)
    comp = [j for j, f in enumerate(names) if f.startswith(("wt_pct_", "at_pct_", "Magpie"))]
    new = X[300:].copy()
    new[:, comp] *= rng.uniform(0.9, 1.1, size=(len(new), len(comp)))
    return {"X": X[:300], "y": y[:300], "X_test": np.vstack([X[300:], new])}


@realdata
@pytest.mark.parametrize(
    "params",
    [
        {"name": "et"},  # the champion family at its defaults (min_samples_leaf=1)
        {"name": "et", "min_samples_leaf": 3, "max_features": 0.7},
        {"name": "rf"},
    ],
    ids=lambda p: "-".join(f"{k}={v}" for k, v in p.items()),
)
def test_forest_file_predicts_bit_for_bit(tmp_path, alloys, params):
    params = dict(params)
    est = make_estimator(params.pop("name"), random_state=0, n_jobs=1, n_estimators=40, **params)
    est.fit(alloys["X"], alloys["y"])
    loaded = load_forest(save_forest(est, tmp_path / "model.forest.npz"))
    assert isinstance(loaded, TreeEnsemble) and loaded.n_trees == 40
    for X in (alloys["X"], alloys["X_test"]):
        np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    # the leaves reached are scikit-learn's, tree by tree
    leaves = loaded.apply(alloys["X_test"])
    want = np.stack(
        [
            t.tree_.value[ids, 0, 0]
            for t, ids in zip(est.estimators_, est.apply(alloys["X_test"]).T, strict=True)
        ]
    )
    np.testing.assert_array_equal(loaded.value[leaves], want)


@pytest.mark.parametrize("name", ["et", "rf"])
def test_forest_sends_missing_values_where_sklearn_does(tmp_path, name):
    rng = np.random.default_rng(8)
    X = rng.normal(size=(300, 4))
    y = X[:, 0] - 2 * X[:, 1] + rng.normal(0, 0.1, 300)
    X_fit = X.copy()
    X_fit[rng.random(X.shape) < 0.1] = np.nan  # trees that learned a side for missing values
    for train in (X, X_fit):
        est = make_estimator(name, random_state=0, n_jobs=1, n_estimators=10).fit(train, y)
        probe = X[:100].copy()
        probe[rng.random(probe.shape) < 0.3] = np.nan
        loaded = load_forest(save_forest(est, tmp_path / f"{name}.npz"))
        np.testing.assert_array_equal(loaded.predict(probe), est.predict(probe))


@realdata
@pytest.mark.parametrize("with_missing", [False, True])
def test_xgboost_json_predicts_bit_for_bit(tmp_path, alloys, with_missing):
    X, y, X_test = alloys["X"].copy(), alloys["y"], alloys["X_test"].copy()
    if with_missing:  # missing values go to each split's learned default side
        rng = np.random.default_rng(1)
        X[rng.random(X.shape) < 0.05] = np.nan
        X_test[rng.random(X_test.shape) < 0.05] = np.nan
    est = make_estimator("xgb", random_state=0, n_jobs=1, n_estimators=120).fit(X, y)
    est.save_model(tmp_path / "model.json")
    loaded = from_xgboost_json(tmp_path / "model.json")
    assert loaded is not None and loaded.n_trees == 120
    if with_missing:
        assert loaded.default_left is not None
    for rows in (X, X_test):
        np.testing.assert_array_equal(loaded.predict(rows), est.predict(rows))


@realdata
def test_spread_of_numpy_models_is_the_libraries_tree_spread(tmp_path, alloys):
    """A forest's spread (std of its trees) from the numpy walk equals scikit-learn's per-tree
    predictions; boosting has none; a blend takes its forest member's, and its prediction is
    the mean of the members."""
    from alloyml.modeling.bundle import Bundle, load_bundle, save_bundle
    from alloyml.modeling.models import predict_with_spread
    from alloyml.modeling.uncertainty import ConformalInterval, Domain

    X, y, X_test = alloys["X"], alloys["y"], alloys["X_test"]
    et = make_estimator("et", random_state=0, n_jobs=1, n_estimators=30).fit(X, y)
    per_tree = np.stack([t.predict(X_test.astype(np.float32)) for t in et.estimators_])
    loaded = load_forest(save_forest(et, tmp_path / "model.forest.npz"))
    pred, spread = loaded.predict_with_spread(X_test)
    np.testing.assert_array_equal(pred, et.predict(X_test))
    np.testing.assert_allclose(spread, per_tree.std(axis=0), rtol=1e-12, atol=1e-9)
    assert spread.max() > 0
    sk_pred, sk_spread = predict_with_spread(et, X_test)
    np.testing.assert_allclose(sk_spread, spread, rtol=1e-12, atol=1e-9)
    xgb = make_estimator("xgb", random_state=0, n_jobs=1, n_estimators=30).fit(X, y)
    xgb.save_model(tmp_path / "model.json")
    assert from_xgboost_json(tmp_path / "model.json").predict_with_spread(X_test)[1] is None
    assert predict_with_spread(xgb, X_test)[1] is None
    blend = make_estimator(
        "et_xgb", random_state=0, n_jobs=1, et__n_estimators=30, xgb__n_estimators=30
    ).fit(X, y)
    iv = ConformalInterval(alpha=0.1, normalised=False).fit(X, y, blend.predict(X))
    b = Bundle(blend, iv, Domain().fit(X), {"features": [str(i) for i in range(X.shape[1])]})
    got = load_bundle(save_bundle(b, tmp_path / "blend")).predict(X_test, spread=True)
    np.testing.assert_allclose(got["spread"], spread, rtol=1e-12, atol=1e-9)  # the et member's
    np.testing.assert_array_equal(got["pred"], blend.predict(X_test))
    assert "spread" not in load_bundle(tmp_path / "blend").predict(X_test)  # only when asked


def test_xgboost_models_the_evaluator_does_not_cover_are_left_to_xgboost(tmp_path):
    rng = np.random.default_rng(2)
    X, y = rng.normal(size=(80, 3)), rng.normal(size=80)
    for kw in ({"objective": "reg:absoluteerror"}, {"booster": "dart"}):
        XGBRegressor(n_estimators=5, **kw).fit(X, y).save_model(tmp_path / "m.json")
        assert from_xgboost_json(tmp_path / "m.json") is None
    (tmp_path / "bad.json").write_text(json.dumps({"learner": {}}))
    with pytest.raises(AlloyMLError, match="not an XGBoost JSON model"):
        from_xgboost_json(tmp_path / "bad.json")


def test_float32_thresholds_keep_every_comparison():
    """Rounding a float64 threshold *down* to float32 changes no ``x <= t`` of a float32 x."""
    rng = np.random.default_rng(3)
    t = rng.normal(size=2000) * 10.0 ** rng.integers(-3, 4, 2000)
    t32 = _float32_down(t)
    assert np.all(t32.astype(np.float64) <= t)
    # the float32 values next to every threshold, on both sides
    near = t.astype(np.float32)
    xs = [np.nextafter(near, np.float32(-np.inf)), near, np.nextafter(near, np.float32(np.inf))]
    for x in xs:
        np.testing.assert_array_equal(x <= t32, x.astype(np.float64) <= t)


def test_decision_tree_on_threshold_edges(tmp_path):
    """Inputs exactly at, just below and just above each split value go where sklearn sends them."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(300, 2))
    y = np.sin(3 * X[:, 0]) + X[:, 1]
    tree = DecisionTreeRegressor(random_state=0).fit(X, y)
    thr = tree.tree_.threshold[tree.tree_.feature >= 0].astype(np.float32)
    edges = np.concatenate(
        [np.nextafter(thr, np.float32(-1e9)), thr, np.nextafter(thr, np.float32(1e9))]
    )
    probe = np.column_stack([edges, np.resize(edges[::-1], len(edges))]).astype(np.float64)
    loaded = load_forest(save_forest(tree, tmp_path / "t.npz"))
    np.testing.assert_array_equal(loaded.predict(probe), tree.predict(probe))


def test_forest_file_refuses_a_tampered_or_foreign_file(tmp_path):
    rng = np.random.default_rng(5)
    X, y = rng.normal(size=(60, 3)), rng.normal(size=60)
    path = save_forest(
        RandomForestRegressor(n_estimators=3, random_state=0).fit(X, y), tmp_path / "f.npz"
    )
    with np.load(path) as z:
        a = {k: z[k] for k in z.files}
    np.savez(tmp_path / "short.npz", **(a | {"value": a["value"][:-1]}))
    with pytest.raises(AlloyMLError, match="inconsistent"):
        load_forest(tmp_path / "short.npz")
    np.savez(tmp_path / "foreign.npz", weights=np.zeros(3))
    with pytest.raises(AlloyMLError, match="not an alloyml forest file"):
        load_forest(tmp_path / "foreign.npz")
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(AlloyMLError, match="cannot read"):
        load_forest(tmp_path / "text.npz")
    with pytest.raises(AlloyMLError, match="expects 3 feature columns"):
        load_forest(path).predict(np.zeros((2, 4)))


@realdata
def test_neighbours_are_exact_on_real_features(alloys):
    """Same neighbours as scikit-learn on standardised real features (ties: equal distances)."""
    X = alloys["X"]
    mean, sd = X.mean(axis=0), X.std(axis=0)
    sd[sd == 0] = 1.0
    T, Z = (X - mean) / sd, (alloys["X_test"] - mean) / sd
    mine = Neighbours(T, 15)
    d, i = mine.kneighbors(Z)
    d_ref, i_ref = NearestNeighbors(n_neighbors=15).fit(T).kneighbors(Z)
    np.testing.assert_allclose(d, d_ref, rtol=1e-9, atol=1e-6)
    # where scikit-learn's set differs, it is by training rows at the same distance (duplicates)
    for row in np.flatnonzero([set(a) != set(b) for a, b in zip(i, i_ref, strict=True)]):
        dist = np.linalg.norm(T - Z[row], axis=1)
        np.testing.assert_allclose(np.sort(dist[i[row]]), np.sort(dist[i_ref[row]]), rtol=1e-12)
    # the distances are those of the rows returned, ascending
    direct = np.linalg.norm(T[i] - Z[:, None, :], axis=2)
    np.testing.assert_allclose(d, direct, rtol=1e-12)
    assert np.all(np.diff(d, axis=1) >= 0)


def test_neighbours_ties_and_a_repeated_query():
    """Duplicated training rows: nearest first, ties by lower index; the cache answers a repeat."""
    T = np.array([[0.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [5.0, 5.0], [1.0, 0.0]])
    nn = Neighbours(T, 2, keep=4)
    d, i = nn.kneighbors(np.array([[1.0, 0.1]]), 4)
    np.testing.assert_array_equal(i, [[1, 2, 5, 0]])
    np.testing.assert_allclose(d[0], [0.1, 0.1, 0.1, np.hypot(1.0, 0.1)], rtol=1e-15)
    d2, i2 = nn.kneighbors(np.array([[1.0, 0.1]]))
    np.testing.assert_array_equal(i2, [[1, 2]])
    with pytest.raises(ValueError, match="n_neighbors=7"):
        nn.kneighbors(np.zeros((1, 2)), 7)


def test_neighbours_screening_cannot_drop_a_true_neighbour():
    """Rows far from the origin (large norms) with a near-tie at the k-th place: still exact."""
    rng = np.random.default_rng(6)
    T = 1e3 + rng.normal(size=(500, 40))
    T[:20] = T[0] + 1e-7 * rng.normal(size=(20, 40))  # a cluster of almost equal rows
    Z = np.vstack([T[0] + 1e-8, 1e3 + rng.normal(size=(50, 40))])
    d, i = Neighbours(T, 10).kneighbors(Z)
    direct = np.linalg.norm(T[None, :, :] - Z[:, None, :], axis=2)
    want = np.lexsort((np.broadcast_to(np.arange(500), direct.shape), direct), axis=1)[:, :10]
    np.testing.assert_array_equal(i, want)


def test_predict_imports_neither_sklearn_nor_xgboost(tmp_path):
    """Loading a forest and an XGBoost bundle and predicting a table needs numpy and pandas only."""
    from alloyml.modeling.bundle import Bundle, save_bundle
    from alloyml.modeling.uncertainty import ConformalInterval, Domain

    rng = np.random.default_rng(7)
    names = feature_labels("alloy_v1")
    frame = {"Zn": rng.uniform(4, 8, 80), "Mg": rng.uniform(1, 3, 80), "Cu": rng.uniform(0, 2, 80)}
    import pandas as pd

    table = pd.DataFrame(frame).assign(Al=lambda f: 100 - f.sum(axis=1), temper="T6")
    X = featurize(table, "alloy_v1")[names].to_numpy(dtype=float)
    y = 400 + 20 * table["Zn"].to_numpy()
    for target, est in (
        ("uts_mpa", ExtraTreesRegressor(n_estimators=5, random_state=0)),
        ("ys_mpa", XGBRegressor(n_estimators=5)),
    ):
        est.fit(X, y)
        iv = ConformalInterval().fit(X, y, y + rng.normal(0, 5, 80))
        dm = Domain().fit(X).calibrate(np.ones(10))
        meta = {"target": target, "model": "et", "features": names, "preset": "alloy_v1"}
        save_bundle(Bundle(est, iv, dm, meta), tmp_path / "al" / target)
    code = (
        "import sys; from alloyml.modeling.predict import load_bundles, predict_string; "
        f"b = load_bundles({str(tmp_path)!r}, 'al'); "
        "out = predict_string('Al-6Zn-2Mg-1Cu', 'al', b, temper='T6'); "
        "assert out['uts_mpa_pred'].notna().all(), out; "
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('sklearn', 'xgboost', 'scipy', 'skops', 'pandera', 'mlflow', 'optuna', 'matplotlib')); "
        "print(heavy)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"
