"""The estimator factory: every family builds, fits, is seeded, and tunes inside its space."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
from threadpoolctl import threadpool_limits

from alloyml.errors import ConfigError
from alloyml.modeling.models import MODEL_NAMES, SEARCH_SPACES, make_estimator, suggest


@pytest.fixture(scope="module")
def tiny_regression() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n = 60 rows, 4 features, y smooth in x plus noise; 10 held-out rows."""
    rng = np.random.default_rng(0)
    X = rng.uniform(0.0, 5.0, size=(70, 4))
    y = 3.0 * X[:, 0] - 2.0 * X[:, 1] + np.sin(X[:, 2]) + rng.normal(0.0, 0.3, size=70)
    return X[:60], y[:60], X[60:]


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_every_family_fits_finite_and_is_seeded(name, tiny_regression):
    X, y, X_new = tiny_regression
    # one OpenMP thread: HistGradientBoosting/XGBoost otherwise spin on a loaded 2-core box
    with threadpool_limits(limits=1):
        fitted = make_estimator(name, random_state=7, n_jobs=1).fit(X, y)
        first = fitted.predict(X_new)
        second = make_estimator(name, random_state=7, n_jobs=1).fit(X, y).predict(X_new)
        in_sample_mae = np.mean(np.abs(fitted.predict(X) - y))
    assert first.shape == (len(X_new),)
    assert np.isfinite(first).all()
    np.testing.assert_array_equal(first, second)
    if name != "mean":  # every learner beats the constant on this smooth signal
        assert in_sample_mae < 0.5 * np.mean(np.abs(y - y.mean()))


def test_mean_predicts_training_mean(tiny_regression):
    X, y, X_new = tiny_regression
    pred = make_estimator("mean", random_state=0).fit(X, y).predict(X_new)
    np.testing.assert_allclose(pred, y.mean())


def test_overrides_reach_the_estimator():
    est = make_estimator("rf", random_state=3, n_jobs=1, n_estimators=7, min_samples_leaf=4)
    assert est.get_params()["n_estimators"] == 7
    assert est.get_params()["min_samples_leaf"] == 4
    assert est.get_params()["random_state"] == 3


def test_blend_is_the_mean_of_its_members_and_overrides_reach_one_member(tiny_regression):
    X, y, X_new = tiny_regression
    with threadpool_limits(limits=1):
        blend = make_estimator("et_xgb", random_state=5, n_jobs=1, et__n_estimators=9)
        blend.fit(X, y)
        et = make_estimator("et", random_state=5, n_jobs=1, n_estimators=9).fit(X, y)
        xgb = make_estimator("xgb", random_state=5, n_jobs=1).fit(X, y)
        want = (et.predict(X_new) + xgb.predict(X_new)) / 2
        got = blend.predict(X_new)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert blend.named_estimators_["et"].n_estimators == 9
    assert blend.named_estimators_["xgb"].n_estimators == 400  # the default, untouched
    with pytest.raises(ConfigError, match="name no member"):
        make_estimator("et_xgb", random_state=0, rf__n_estimators=3)


def test_unknown_name_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown model 'lasso'"):
        make_estimator("lasso", random_state=0)


@pytest.mark.parametrize("name", sorted(SEARCH_SPACES))
def test_suggest_stays_inside_the_search_space(name):
    space = SEARCH_SPACES[name]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    drawn: list[dict] = []

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial, name)
        drawn.append(params)
        return 0.0

    study.optimize(objective, n_trials=3)
    assert len(drawn) == 3
    for params in drawn:
        assert set(params) == set(space)
        for key, spec in space.items():
            kind, lo, hi = spec[:3]
            assert lo <= params[key] <= hi, (key, params[key])
            assert isinstance(params[key], int if kind == "int" else float)
        # the drawn parameters build a valid estimator of the family
        make_estimator(name, random_state=0, n_jobs=1, **params)


def test_suggest_with_fixed_trial():
    fixed = {"learning_rate": 0.02, "max_leaf_nodes": 64, "min_samples_leaf": 3}
    fixed["l2_regularization"] = 10.0
    assert suggest(optuna.trial.FixedTrial(fixed), "gbr") == fixed
    # an out-of-range FixedTrial value is reported by optuna, so the bounds are really passed
    with pytest.warns(UserWarning, match="max_depth"):
        suggest(
            optuna.trial.FixedTrial(
                {
                    "learning_rate": 0.1,
                    "max_depth": 99,
                    "min_child_weight": 1.0,
                    "subsample": 0.8,
                    "colsample_bytree": 0.5,
                    "reg_lambda": 1.0,
                }
            ),
            "xgb",
        )


def test_families_without_space_suggest_nothing():
    for name in set(MODEL_NAMES) - set(SEARCH_SPACES):
        assert suggest(optuna.trial.FixedTrial({}), name) == {}


# ----------------------------------------------------- extrapolating families (issue 11 §4)
def test_gp_ard_lin_extrapolates_a_trend_beyond_the_training_range():
    from alloyml.modeling.models import EXTRAPOLATING_NAMES, make_extrapolating_estimator

    rng = np.random.default_rng(0)
    X = rng.uniform(0.0, 1.0, size=(60, 3))
    y = 100.0 * X[:, 0] + 5.0 * np.sin(6.0 * X[:, 1]) + rng.normal(0.0, 0.5, 60)
    X_out = np.column_stack([np.full(5, 1.6), rng.uniform(0, 1, (5, 2))])  # beyond x0 = 1
    y_out = 100.0 * X_out[:, 0] + 5.0 * np.sin(6.0 * X_out[:, 1])
    assert EXTRAPOLATING_NAMES == ("gp_ard", "gp_ard_lin")
    lin = make_extrapolating_estimator("gp_ard_lin", random_state=0).fit(X, y)
    forest = make_estimator("et", random_state=0).fit(X, y)
    mae_lin = np.abs(lin.predict(X_out) - y_out).mean()
    mae_forest = np.abs(forest.predict(X_out) - y_out).mean()
    assert mae_lin < 15.0 < mae_forest  # the forest is flat above the best row it saw (~100)
    mu, sd = lin.predict(X_out, return_std=True)
    assert mu.shape == sd.shape == (5,) and (sd > 0).all()


def test_ard_gp_columns_frozen_kernel_and_unknown_name():
    from alloyml.modeling.models import ArdGP, make_extrapolating_estimator

    rng = np.random.default_rng(1)
    X = rng.uniform(0.0, 1.0, size=(40, 4))
    y = 10.0 * X[:, 2] + rng.normal(0.0, 0.1, 40)
    gp = make_extrapolating_estimator("gp_ard", random_state=0, columns=(2, 3)).fit(X, y)
    assert len(gp.kernel_.k1.k2.length_scale) == 2  # one length scale per chosen column
    frozen = gp.frozen().fit(X[:30], y[:30])
    assert frozen.kernel_ == gp.kernel_  # conditioning only: hyper-parameters unchanged
    assert isinstance(frozen, ArdGP) and np.isfinite(frozen.predict(X)).all()
    with pytest.raises(ConfigError):
        make_extrapolating_estimator("lightgbm_linear", random_state=0)


@pytest.mark.parametrize("name", [m for m in MODEL_NAMES if m != "gp"])
def test_fit_weighted_reaches_every_family(name, tiny_regression):
    """Weights reach the estimator (a pipeline's last step, each member of a blend): every row is
    measured twice, once 20 higher with a weight of 0.001; the weighted fit follows the heavy
    measurements, the unweighted one sits between the two."""
    from alloyml.modeling.models import fit_weighted

    X, y, X_new = tiny_regression
    X2, y2 = np.vstack([X, X]), np.r_[y, y + 20.0]
    w = np.r_[np.ones(len(y)), np.full(len(y), 1e-3)]
    with threadpool_limits(limits=1):
        plain = make_estimator(name, random_state=7, n_jobs=1).fit(X2, y2).predict(X_new)
        weighted = fit_weighted(make_estimator(name, 7, 1), X2, y2, w).predict(X_new)
    assert np.mean(plain - weighted) > 5.0


def test_fit_weighted_fits_a_gp_unweighted_with_a_warning(tiny_regression, caplog):
    from alloyml.modeling.models import fit_weighted

    X, y, X_new = tiny_regression
    w = np.linspace(0.1, 1.0, len(y))
    with threadpool_limits(limits=1):
        plain = make_estimator("gp", random_state=7, n_jobs=1).fit(X, y).predict(X_new)
        with caplog.at_level("WARNING", logger="alloyml.modeling.models"):
            got = fit_weighted(make_estimator("gp", 7, 1), X, y, w).predict(X_new)
    np.testing.assert_array_equal(got, plain)
    assert "takes no sample weights" in caplog.text
