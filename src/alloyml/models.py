"""Estimator factory: every model family alloyml trains, configured from ``params.yaml``.

All estimators follow scikit-learn conventions (``fit`` returns self, ``random_state`` passed
explicitly). Linear and kernel models are wrapped with a :class:`~sklearn.preprocessing.StandardScaler`
so that features of different units are comparable.
"""

from __future__ import annotations

from typing import Any

from sklearn.base import RegressorMixin
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import (
    ExtraTreesRegressor,
    HistGradientBoostingRegressor,
    RandomForestRegressor,
)
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from alloyml.errors import ConfigError

MODEL_NAMES: tuple[str, ...] = ("mean", "ridge", "rf", "et", "gbr", "xgb", "gp")

#: Hyper-parameter search spaces for Optuna tuning: name -> (kind, low, high[, log]).
SEARCH_SPACES: dict[str, dict[str, tuple]] = {
    "rf": {
        "max_features": ("float", 0.2, 1.0),
        "min_samples_leaf": ("int", 1, 8),
    },
    "et": {
        "max_features": ("float", 0.2, 1.0),
        "min_samples_leaf": ("int", 1, 8),
    },
    "gbr": {
        "learning_rate": ("float", 0.02, 0.3, True),
        "max_leaf_nodes": ("int", 8, 64, True),
        "min_samples_leaf": ("int", 3, 40, True),
        "l2_regularization": ("float", 1e-4, 10.0, True),
    },
    "xgb": {
        "learning_rate": ("float", 0.02, 0.3, True),
        "max_depth": ("int", 2, 8),
        "min_child_weight": ("float", 0.5, 20.0, True),
        "subsample": ("float", 0.5, 1.0),
        "colsample_bytree": ("float", 0.3, 1.0),
        "reg_lambda": ("float", 1e-3, 30.0, True),
    },
}


def make_estimator(
    name: str, random_state: int, n_jobs: int = 1, **overrides: Any
) -> RegressorMixin:
    """Return an unfitted regressor of family ``name`` with ``overrides`` applied.

    Args:
        name: one of :data:`MODEL_NAMES`.
        random_state: seed for every source of randomness in the estimator.
        n_jobs: threads for tree ensembles / XGBoost.
        overrides: hyper-parameters (e.g. from tuning or ``params.yaml``).
    """
    if name == "mean":
        return DummyRegressor(strategy="mean")
    if name == "ridge":
        return make_pipeline(StandardScaler(), RidgeCV(alphas=(0.01, 0.1, 1.0, 10.0, 100.0)))
    if name == "rf":
        kw = {"n_estimators": 150, "max_features": 0.33, "min_samples_leaf": 1} | overrides
        return RandomForestRegressor(random_state=random_state, n_jobs=n_jobs, **kw)
    if name == "et":
        kw = {"n_estimators": 150, "max_features": 0.4, "min_samples_leaf": 1} | overrides
        return ExtraTreesRegressor(random_state=random_state, n_jobs=n_jobs, **kw)
    if name == "gbr":
        kw = {
            "max_iter": 400,
            "learning_rate": 0.06,
            "max_leaf_nodes": 31,
            "min_samples_leaf": 8,
        } | overrides
        return HistGradientBoostingRegressor(random_state=random_state, **kw)
    if name == "xgb":
        from xgboost import XGBRegressor

        kw = {
            "n_estimators": 400,
            "learning_rate": 0.06,
            "max_depth": 5,
            "min_child_weight": 2.0,
            "subsample": 0.8,
            "colsample_bytree": 0.7,
            "reg_lambda": 1.0,
        } | overrides
        return XGBRegressor(
            random_state=random_state, n_jobs=n_jobs, tree_method="hist", max_bin=128, **kw
        )
    if name == "gp":
        kernel = ConstantKernel(1.0) * Matern(length_scale=3.0, nu=2.5) + WhiteKernel(0.1)
        gp = GaussianProcessRegressor(
            kernel=kernel, normalize_y=True, random_state=random_state, n_restarts_optimizer=1
        )
        return Pipeline([("scale", StandardScaler()), ("gp", gp)])
    raise ConfigError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}")


def suggest(trial: Any, name: str) -> dict[str, Any]:
    """Draw hyper-parameters of family ``name`` from an Optuna ``trial``."""
    params: dict[str, Any] = {}
    for key, spec in SEARCH_SPACES.get(name, {}).items():
        kind, lo, hi = spec[:3]
        log = len(spec) > 3 and spec[3]
        if kind == "int":
            params[key] = trial.suggest_int(key, lo, hi, log=log)
        else:
            params[key] = trial.suggest_float(key, lo, hi, log=log)
    return params
