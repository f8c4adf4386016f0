"""Model bundles on disk: exact round trip, safe formats only, and refusal of untrusted code.

Forests and XGBoost models come back as :class:`alloyml.modeling.compact.TreeEnsemble` (numpy only) with
the libraries' point predictions bit for bit; the k-NN parts (domain distance, interval scale)
agree with scikit-learn's to floating-point rounding.
"""

from __future__ import annotations

import builtins
import json
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from threadpoolctl import threadpool_limits

from alloyml.errors import AlloyMLError
from alloyml.modeling.bundle import Bundle, load_bundle, save_bundle
from alloyml.modeling.compact import Imputed, TreeEnsemble
from alloyml.modeling.models import make_estimator
from alloyml.modeling.uncertainty import ConformalInterval, Domain

FEATURES = ["wt_pct_Zn", "wt_pct_Mg", "wt_pct_Cu", "proc_age1_T_C"]
#: few trees: the round trip, not the fit, is under test
SMALL = {
    "rf": {"n_estimators": 15},
    "et": {"n_estimators": 15},
    "gbr": {"max_iter": 25},
    "xgb": {"n_estimators": 25},
    "et_xgb": {"et__n_estimators": 15, "xgb__n_estimators": 25},
}


def _double(x):
    """A function skops can only reference by module path: not a trusted type."""
    return 2 * x


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.uniform(0.0, 6.0, size=(120, 4))
    y = 300 + 20 * X[:, 0] + 10 * X[:, 1] * X[:, 2] + rng.normal(0, 5 + 3 * X[:, 0], size=120)
    X_new = np.vstack([rng.uniform(0.0, 6.0, size=(20, 4)), [[40.0, 40.0, 40.0, 40.0]]])
    return {"X": X, "y": y, "X_new": X_new}


def _bundle(name: str, data: dict[str, np.ndarray], normalised: bool = True) -> Bundle:
    X, y = data["X"], data["y"]
    with threadpool_limits(limits=1):
        est = make_estimator(name, random_state=0, n_jobs=1, **SMALL.get(name, {})).fit(X, y)
        # out-of-fold stand-in: predictions of a model fitted on the other half
        half = len(y) // 2
        other = make_estimator(name, random_state=1, n_jobs=1, **SMALL.get(name, {}))
        first = other.fit(X[half:], y[half:]).predict(X[:half])
        second = other.fit(X[:half], y[:half]).predict(X[half:])
        oof = np.concatenate([first, second])
    iv = ConformalInterval(alpha=0.1, normalised=normalised).fit(X, y, oof)
    dm = Domain(k=5, level=0.95).fit(X)
    dm.calibrate(Domain(k=5).fit(X[:60]).distance(X[60:]))
    meta = {"target": "uts_mpa", "model": name, "features": FEATURES, "alpha": 0.1, "n_rows": 120}
    return Bundle(estimator=est, interval=iv, domain=dm, meta=meta)


@pytest.mark.parametrize(
    ("name", "fmt", "model_file"),
    [
        ("xgb", "xgboost_json", "model.json"),
        ("rf", "forest_npz", "model.forest.npz"),
        ("et", "forest_npz", "model.forest.npz"),
    ],
)
def test_round_trip_is_exact(tmp_path, data, name, fmt, model_file):
    b = _bundle(name, data)
    out = save_bundle(b, tmp_path / "uts_mpa")
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["calibration.npz", "meta.json", model_file]
    )
    loaded = load_bundle(out)
    assert isinstance(loaded.estimator, TreeEnsemble)
    assert loaded.meta["format"] == fmt
    assert loaded.features == FEATURES
    assert loaded.meta["n_rows"] == 120
    with threadpool_limits(limits=1):
        before, after = b.predict(data["X_new"]), loaded.predict(data["X_new"])
    for key in ("pred", "in_domain", "domain_support"):
        np.testing.assert_array_equal(after[key], before[key], err_msg=key)
    for key in ("lo", "hi", "domain_distance"):  # k-NN distances: rounding only
        np.testing.assert_allclose(after[key], before[key], rtol=1e-12, err_msg=key)
    assert after["in_domain"][:-1].any() and not after["in_domain"][-1]  # far row flagged
    assert loaded.interval.q_ == b.interval.q_
    assert loaded.domain.threshold_ == b.domain.threshold_
    # the normalised interval really varies from row to row, and survived the trip
    width = after["hi"] - after["lo"]
    assert width.std() > 0


def test_blend_round_trip_is_exact_and_numpy_only(tmp_path, data):
    b = _bundle("et_xgb", data)
    out = save_bundle(b, tmp_path / "uts_mpa")
    assert sorted(p.name for p in out.iterdir()) == [
        "calibration.npz", "member0.forest.npz", "member1.json", "meta.json"
    ]  # fmt: skip
    meta = json.loads((out / "meta.json").read_text())
    assert meta["format"] == "blend"
    assert [m["family"] for m in meta["members"]] == ["et", "xgb"]
    loaded = load_bundle(out)
    assert all(isinstance(m, TreeEnsemble) for m in loaded.estimator.members)
    with threadpool_limits(limits=1):
        before, after = b.predict(data["X_new"]), loaded.predict(data["X_new"])
        et, xgb = b.estimator.estimators_
        members = (et.predict(data["X_new"]) + xgb.predict(data["X_new"])) / 2
    np.testing.assert_array_equal(after["pred"], before["pred"])
    np.testing.assert_allclose(after["pred"], members, rtol=1e-12)  # the unweighted mean
    np.testing.assert_allclose(after["hi"], before["hi"], rtol=1e-12)
    # saving another family removes the members
    save_bundle(_bundle("rf", data), out)
    assert sorted(p.name for p in out.iterdir()) == [
        "calibration.npz", "meta.json", "model.forest.npz"
    ]  # fmt: skip


def test_blend_with_a_member_file_outside_the_bundle_is_refused(tmp_path, data):
    out = save_bundle(_bundle("et_xgb", data), tmp_path / "b")
    meta = json.loads((out / "meta.json").read_text())
    meta["members"][1]["file"] = "../elsewhere/member1.json"
    (out / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(AlloyMLError, match="unreadable members"):
        load_bundle(out)


def test_plain_interval_round_trip(tmp_path, data):
    b = _bundle("ridge", data, normalised=False)
    loaded = load_bundle(save_bundle(b, tmp_path / "b"))
    assert loaded.interval.scaler_ is None and not loaded.interval.normalised
    got, want = loaded.predict(data["X_new"]), b.predict(data["X_new"])
    np.testing.assert_array_equal(got["hi"] - got["lo"], want["hi"] - want["lo"])
    np.testing.assert_allclose(got["hi"] - got["lo"], 2 * b.interval.q_)  # constant width


@pytest.mark.parametrize("name", ["mean", "ridge", "gbr", "gp"])
def test_every_skops_family_loads(tmp_path, data, name):
    b = _bundle(name, data)
    loaded = load_bundle(save_bundle(b, tmp_path / name))
    assert loaded.meta["format"] == "skops"
    with threadpool_limits(limits=1):
        np.testing.assert_allclose(
            loaded.predict(data["X_new"])["pred"], b.predict(data["X_new"])["pred"], rtol=1e-12
        )


def test_resave_replaces_the_old_model_file(tmp_path, data):
    out = save_bundle(_bundle("rf", data), tmp_path / "b")
    save_bundle(_bundle("xgb", data), out)
    assert not (out / "model.forest.npz").exists()
    assert load_bundle(out).meta["model"] == "xgb"
    save_bundle(_bundle("ridge", data), out)
    assert sorted(p.name for p in out.iterdir()) == ["calibration.npz", "meta.json", "model.skops"]


def test_calibration_and_forest_npz_need_no_pickle(tmp_path, data):
    out = save_bundle(_bundle("rf", data), tmp_path / "b")
    for name in ("calibration.npz", "model.forest.npz"):
        with np.load(out / name, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        assert all(a.dtype != object for a in arrays.values()), name
    assert {"skip", "feature", "threshold", "value"} <= set(arrays)
    meta = json.loads((out / "meta.json").read_text())
    assert meta["features"] == FEATURES and meta["format"] == "forest_npz"


def test_unknown_model_format_is_refused(tmp_path, data):
    out = save_bundle(_bundle("rf", data), tmp_path / "b")
    meta = json.loads((out / "meta.json").read_text())
    (out / "meta.json").write_text(json.dumps(meta | {"format": "pickle"}))
    with pytest.raises(AlloyMLError, match="unknown model format 'pickle'"):
        load_bundle(out)


def test_missing_bundle_tells_to_run_dvc_repro(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(AlloyMLError, match="dvc repro"):
        load_bundle(tmp_path / "empty")
    with pytest.raises(AlloyMLError, match="dvc repro"):
        load_bundle(tmp_path / "does-not-exist")


def _with_estimator(bundle_dir: Path, estimator) -> None:
    """Replace the model of a saved bundle by ``estimator`` (what a tampered file would hold)."""
    sio.dump(estimator, bundle_dir / "model.skops")


@pytest.mark.parametrize(
    "func",
    [
        pytest.param(_double, id="function-from-test-module"),
        # builtins.eval in a model file is code execution on load-and-predict: skops itself
        # lists it as untrusted, and alloyml's docstring promises only sklearn/numpy/scipy types
        pytest.param(builtins.eval, id="builtins.eval"),
    ],
)
def test_untrusted_types_in_skops_file_are_refused(tmp_path, data, func):
    out = save_bundle(_bundle("ridge", data), tmp_path / "b")
    evil = make_pipeline(FunctionTransformer(func), make_estimator("ridge", random_state=0))
    _with_estimator(out, evil)
    untrusted = sio.get_untrusted_types(file=out / "model.skops")
    assert any(func.__name__ in t for t in untrusted), untrusted
    with pytest.raises(AlloyMLError, match="trust"):
        load_bundle(out)


def test_imputed_model_support_domain_and_shift_quantile_round_trip(tmp_path):
    """A process_v2 model: the schedule imputer, the process-key support and q_out survive."""
    import pandas as pd

    from alloyml.features import featurize
    from alloyml.modeling.models import make_model
    from alloyml.modeling.uncertainty import ShiftCalibration

    rng = np.random.default_rng(3)
    n = 120
    frame = pd.DataFrame(
        {
            "Al": 90.0 - rng.uniform(0, 2, n),
            "Zn": 6.0 + rng.uniform(0, 2, n),
            "Mg": 2.5 + rng.uniform(0, 0.5, n),
            "Cu": 1.5,
            "temper": np.where(np.arange(n) % 3 == 0, "T6", "T651"),
            "sol1_T_C": np.where(np.arange(n) % 3 == 0, 475.0, np.nan),
            "age1_T_C": np.where(np.arange(n) % 3 == 0, 120.0, np.nan),
            "age1_t_h": np.where(np.arange(n) % 3 == 0, 24.0, np.nan),
            "route": "rolled",
        }
    )
    frame["Al"] = 100.0 - frame[["Zn", "Mg", "Cu"]].sum(axis=1)
    F = featurize(frame, "alloy_v2")
    names = list(F.columns)
    X, y = F.to_numpy(), 500 + 20 * frame["Zn"].to_numpy() + rng.normal(0, 5, n)
    est = make_model("et", 0, 1, names, n_estimators=10).fit(X, y)
    groups = tuple(
        tuple(j for j, f in enumerate(names) if f.startswith(p))
        for p in ("family_", "proc_route_family_", "proc_temper_")
    )
    dm = Domain(k=5, level=0.95, support_groups=groups, min_support=5).fit(X)
    dm.calibrate(dm.distance(X, exclude_self=True))
    shift = ShiftCalibration(X[:40], y[:40] + 30.0, y[:40], np.zeros(40, bool))
    iv = ConformalInterval(alpha=0.1).fit(X, y, y + rng.normal(0, 5, n), np.ones(n, bool), shift)
    meta = {"target": "uts_mpa", "model": "et", "features": names, "alpha": 0.1, "n_rows": n}
    save_bundle(Bundle(estimator=est, interval=iv, domain=dm, meta=meta), tmp_path / "b")
    loaded = load_bundle(tmp_path / "b")
    a = Bundle(estimator=est, interval=iv, domain=dm, meta=meta).predict(X)
    b = loaded.predict(X)
    for key in ("pred", "lo", "hi", "domain_support", "in_domain"):
        np.testing.assert_array_equal(a[key], b[key])
    assert loaded.interval.q_out_ == iv.q_out_ > iv.q_
    assert loaded.domain.support_groups == groups
    assert isinstance(loaded.estimator, Imputed)
    np.testing.assert_array_equal(loaded.estimator.imputer_.medians_, est.imputer_.medians_)


def test_frontier_calibration_round_trip_and_raises_only_the_upper_bound(tmp_path, data):
    b = _bundle("ridge", data, normalised=False)
    y = data["y"]
    # stand-in extrapolation protocol: the top decile under-predicted by 40-80
    top = y >= np.quantile(y, 0.9)
    y_top = y[top]
    pred_top = y_top - np.linspace(40.0, 80.0, top.sum())
    b.interval.fit_frontier(y, y_top, pred_top, y[~top])
    # the protocol's model put the top decile a gap under its own best training value; the
    # frontier is the same gap under the best value of all the rows
    gap = y[~top].max() - np.quantile(pred_top, b.interval.alpha)
    assert b.interval.frontier_ == pytest.approx(y.max() - gap)
    assert np.median(pred_top) < b.interval.frontier_ < y.max()  # a forest's prediction reaches it
    assert 40.0 <= b.interval.q_frontier_ <= 80.0
    loaded = load_bundle(save_bundle(b, tmp_path / "b"))
    assert loaded.interval.frontier_ == b.interval.frontier_
    assert loaded.interval.q_frontier_ == b.interval.q_frontier_
    # a frontier inside the range of the new rows' predictions, so both sides are exercised
    loaded.interval.frontier_ = float(np.median(loaded.predict(data["X_new"])["pred"]))
    got = loaded.predict(data["X_new"])
    upper, lower = got["hi"] - got["pred"], got["pred"] - got["lo"]
    at = got["pred"] >= loaded.interval.frontier_
    assert at.any() and (~at).any()
    assert np.all(upper[at] >= loaded.interval.q_frontier_ - 1e-9)
    np.testing.assert_allclose(upper[~at], b.interval.q_)  # below it: unchanged
    np.testing.assert_allclose(lower, b.interval.q_)  # the lower bound never moves


def test_frontier_quantile_is_one_sided():
    """The upper bound at the frontier spends alpha / 2 on the signed residuals: a model that
    over-predicts the top decile gets no raise, one that under-predicts it gets the
    1 - alpha/2 conformal quantile of the shortfall."""
    iv = ConformalInterval(alpha=0.1)
    y_top = np.full(39, 500.0)
    iv.fit_frontier(y_top, y_top, y_top + 30.0, np.empty(0))  # over-predicted: no raise
    assert iv.q_frontier_ == 0.0
    short = np.arange(1.0, 40.0)  # shortfalls 1..39 MPa
    iv.fit_frontier(y_top, y_top, y_top - short, np.empty(0))
    assert iv.q_frontier_ == pytest.approx(38.0)  # ceil(40 * 0.95) = 38th smallest


def test_frontier_sits_the_protocols_gap_under_the_best_training_value():
    """The frontier is the best training value less the gap under the protocol's own best
    training value at which 1 - alpha of the held-out top decile was predicted. A protocol that
    reached its best training value has no gap; one that over-reached is clipped at zero."""
    iv = ConformalInterval(alpha=0.1)
    y = np.r_[np.linspace(100.0, 400.0, 90), np.linspace(450.0, 600.0, 10)]
    y_top = y[90:]
    iv.fit_frontier(y, y_top, np.full(10, 400.0), y[:90])  # saturates at its best training value
    assert iv.frontier_ == pytest.approx(600.0)
    iv.fit_frontier(y, y_top, np.full(10, 480.0), y[:90])  # over-reaches it: gap clipped at zero
    assert iv.frontier_ == pytest.approx(600.0)
    iv.fit_frontier(y, y_top, np.full(10, 350.0), y[:90])  # 50 under: so is the frontier
    assert iv.frontier_ == pytest.approx(550.0)
    # the gap is taken where 1 - alpha of the held-out rows reach, not at their median
    iv.fit_frontier(y, y_top, np.r_[300.0, np.full(9, 390.0)], y[:90])
    assert iv.frontier_ == pytest.approx(
        600.0 - (400.0 - np.quantile(np.r_[300.0, [390.0] * 9], 0.1))
    )
    assert iv.frontier_ < 590.0
    up = iv.frontier_half_width(np.array([iv.frontier_ - 1.0, iv.frontier_]), np.ones(2))
    assert up[0] == 1.0 < up[1]  # only the prediction at the frontier is raised


def test_frontier_gap_is_measured_from_the_protocols_own_training_rows():
    """The extrapolation split leaves out the rows whose composition group has a top-decile row;
    the gap is measured from the best value the protocol's model was actually trained on, and
    the calibration on a split (calibrate_frontier) passes those rows."""
    y = np.r_[np.linspace(100.0, 400.0, 90), np.linspace(450.0, 600.0, 10)]
    groups = np.arange(100)
    groups[89] = groups[95]  # the best row below the top decile shares a top-decile group
    pred_top = np.full(10, 350.0)
    # every row under the top decile, row 89 included, would put the gap 50 under 400
    derived = ConformalInterval(alpha=0.1).fit_frontier(y, y[90:], pred_top, y[:90])
    assert derived.frontier_ == pytest.approx(600.0 - (400.0 - 350.0))
    trained = y[:89]  # what the split trains on: row 89 left with its group
    exact = ConformalInterval(alpha=0.1).fit_frontier(y, y[90:], pred_top, trained)
    assert exact.frontier_ == pytest.approx(600.0 - (trained.max() - 350.0))
    assert exact.frontier_ > derived.frontier_
    seen = {}

    def fit_predict(tr, te):
        seen["tr"] = tr
        return np.full(len(te), 350.0)

    iv = ConformalInterval(alpha=0.1)
    assert iv.calibrate_frontier(y, groups, 0.9, fit_predict)
    assert 89 not in seen["tr"] and len(seen["tr"]) == 89
    assert iv.frontier_ == pytest.approx(exact.frontier_)


def test_bundle_without_frontier_keeps_its_interval(tmp_path, data):
    b = _bundle("ridge", data, normalised=False)
    loaded = load_bundle(save_bundle(b, tmp_path / "b"))
    got = loaded.predict(data["X_new"])
    np.testing.assert_allclose(got["hi"] - got["lo"], 2 * b.interval.q_)


def test_scale_rows_are_stored_once_when_the_domain_shares_them(tmp_path, data):
    """train's final fit calibrates the interval scale and the domain on the same rows: the
    standardised rows are written once; a bundle whose domain saw other rows keeps both."""
    shared = _bundle("et", data)
    out = save_bundle(shared, tmp_path / "shared")
    with np.load(out / "calibration.npz", allow_pickle=False) as z:
        assert "scale_X" not in z.files and "scale_X_is_domain_train" in z.files
    loaded = load_bundle(out)
    assert loaded.domain.nn_ is loaded.interval.scaler_.nn_  # one neighbour search for both
    other = _bundle("et", data)
    other.domain = Domain(k=5, level=0.95).fit(data["X"][:80])
    other.domain.calibrate(Domain(k=5).fit(data["X"][:40]).distance(data["X"][40:80]))
    out2 = save_bundle(other, tmp_path / "other")
    with np.load(out2 / "calibration.npz", allow_pickle=False) as z:
        assert "scale_X" in z.files
    loaded2 = load_bundle(out2)
    assert loaded2.domain.nn_ is not loaded2.interval.scaler_.nn_
    for b, got in ((shared, loaded), (other, loaded2)):
        want = b.predict(data["X_new"])
        res = got.predict(data["X_new"])
        np.testing.assert_allclose(res["hi"], want["hi"], rtol=1e-12)
        np.testing.assert_array_equal(res["in_domain"], want["in_domain"])
