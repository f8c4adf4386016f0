"""Estimator factory: every model family alloyml trains, configured from ``params.yaml``.

All estimators follow scikit-learn conventions (``fit`` returns self, ``random_state`` passed
explicitly). Linear and kernel models are wrapped with a :class:`~sklearn.preprocessing.StandardScaler`
so that features of different units are comparable.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import (
    ExtraTreesRegressor,
    HistGradientBoostingRegressor,
    RandomForestRegressor,
)
from sklearn.gaussian_process import GaussianProcessRegressor
from sklearn.gaussian_process.kernels import (
    ConstantKernel,
    DotProduct,
    Matern,
    WhiteKernel,
)
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from alloyml.errors import ConfigError
from alloyml.modeling.compact import (
    blend_with_spread,
    fill_schedule,
    schedule_columns,
    schedule_fallback,
    schedule_keys,
)

log = logging.getLogger(__name__)

MODEL_NAMES: tuple[str, ...] = ("mean", "ridge", "rf", "et", "gbr", "xgb", "gp", "et_xgb")

#: Mean blends: family -> member families, whose predictions are averaged with equal weights.
#: Extra trees (averaged deep random-split trees) and XGBoost (a sum of shallow boosted trees)
#: make different errors on an unseen source; their mean was the best or near-best family of a
#: screen on every Al protocol (issue 10). Members keep their default hyper-parameters; an
#: override ``"<member>__<param>"`` reaches one member.
BLENDS: dict[str, tuple[str, ...]] = {"et_xgb": ("et", "xgb")}

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
    if name in BLENDS:
        from sklearn.ensemble import VotingRegressor

        members = []
        for m in BLENDS[name]:
            kw = {k.split("__", 1)[1]: v for k, v in overrides.items() if k.startswith(f"{m}__")}
            members.append((m, make_estimator(m, random_state, n_jobs, **kw)))
        unknown = [k for k in overrides if k.split("__", 1)[0] not in BLENDS[name]]
        if unknown:
            raise ConfigError(f"{name}: overrides {unknown} name no member of {BLENDS[name]}")
        # VotingRegressor: the unweighted mean of the fitted members' predictions
        return VotingRegressor(members)
    if name == "mean":
        return DummyRegressor(strategy="mean")
    if name == "ridge":
        return make_pipeline(StandardScaler(), RidgeCV(alphas=(0.01, 0.1, 1.0, 10.0, 100.0)))
    if name == "rf":
        kw = {"n_estimators": 150, "max_features": 0.33, "min_samples_leaf": 1} | overrides
        return RandomForestRegressor(random_state=random_state, n_jobs=n_jobs, **kw)
    if name == "et":
        kw = {"n_estimators": 100, "max_features": 0.4, "min_samples_leaf": 1} | overrides
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


def fit_weighted(est: Any, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None) -> Any:
    """``est.fit(X, y)`` with ``sample_weight`` where the estimator takes one.

    A pipeline passes it to its last step (``<step>__sample_weight``). A Gaussian process has no
    sample weights (scikit-learn's ``GaussianProcessRegressor.fit`` takes none): it is fitted
    unweighted, with a warning in the log.
    """
    import inspect

    if sample_weight is None:
        return est.fit(X, y)
    last_name, last = est.steps[-1] if isinstance(est, Pipeline) else (None, est)
    params = inspect.signature(last.fit).parameters
    takes = "sample_weight" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
    if not takes:  # (scikit-learn's VotingRegressor takes it through **fit_params)
        log.warning("%s takes no sample weights; fitted unweighted", type(last).__name__)
        return est.fit(X, y)
    if last_name is not None:
        return est.fit(X, y, **{f"{last_name}__sample_weight": sample_weight})
    return est.fit(X, y, sample_weight=sample_weight)


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


# -- schedule imputation: rows described by a temper and rows described by a schedule ----------


class ScheduleImputer(TransformerMixin, BaseEstimator):
    """Fill the schedule features of rows whose state implies stages but whose schedule is unknown.

    A compilation that writes ``T6`` and a lab sheet that writes "480 °C/1 h + 120 °C/24 h"
    describe the same kind of treatment. Left as zeros, the stage features of the first would
    read "no stage", and tree models would place a T6 alloy among as-fabricated ones. Fitted on
    the training rows, this transformer learns the median of every schedule feature over the
    rows that give a schedule, per alloy family and temper class (the ``family_v1`` and
    ``process_v2`` one-hots), and writes it into the rows of the same family and class that give
    none but whose state implies stages (``proc_stages_implied``). ``proc_schedule_known`` keeps
    telling the model which rows were filled.

    Why per family: the practice behind a temper depends on the alloy series. Typical T6
    precipitation treatments are 160 °C for 18 h (or 175 °C for 8 h) for 6061, 190 °C for 12 h
    for 2024 (T81) and 120 °C for 24 h for 7075 (ASM Handbook Vol. 4, *Heat Treating*, 1991,
    "Heat Treating of Aluminum Alloys"). With one median per class, the scheduled T6 rows of
    the 7xxx lab datasets set the schedule of every T6 handbook row, so a 6061-T6 or 2024-T6
    without a schedule read as a 7xxx treatment while the same alloys with their handbook
    schedule read as another, and the model could not pool them. A family with fewer than
    ``min_family_rows`` scheduled rows of a class falls back to the class median over every
    family; a class without any scheduled training row takes the schedule of the class whose
    treatment it shares (T9 that of T6, T10 that of T5:
    :data:`alloyml.modeling.compact.SCHEDULE_FALLBACK`), or, without one, is left as it is.

    Args:
        feature_names: the model's feature labels (must include the ``process_v2`` block).
        min_family_rows: scheduled rows of one family and class below which that family uses
            the class median over every family.
    """

    def __init__(self, feature_names: tuple[str, ...] = (), min_family_rows: int = 5) -> None:
        self.feature_names = tuple(feature_names)
        self.min_family_rows = min_family_rows

    def _columns(self) -> tuple[np.ndarray, np.ndarray, int, int, np.ndarray]:
        return schedule_columns(self.feature_names)

    def fit(self, X: np.ndarray, y: np.ndarray | None = None) -> ScheduleImputer:
        X = np.asarray(X, dtype=float)
        cols = self._columns()
        keys, stage, known, _, fams = cols
        n_fam = len(fams)
        key, has_key, fam = schedule_keys(X, cols, n_fam)
        scheduled = has_key & (X[:, known] > 0)
        self.medians_ = np.zeros((n_fam + 1, len(keys), len(stage)))
        self.fitted_keys_ = np.zeros((n_fam + 1, len(keys)), dtype=bool)
        for k in range(len(keys)):
            in_class = scheduled & (key == k)
            if not in_class.any():
                continue
            self.medians_[n_fam, k] = np.median(X[np.ix_(in_class, stage)], axis=0)
            self.fitted_keys_[n_fam, k] = True
            for f in np.unique(fam[in_class]):
                rows = in_class & (fam == f)
                if f < n_fam and rows.sum() >= self.min_family_rows:
                    self.medians_[f, k] = np.median(X[np.ix_(rows, stage)], axis=0)
                    self.fitted_keys_[f, k] = True
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        return fill_schedule(
            X,
            self._columns(),
            self.medians_,
            self.fitted_keys_,
            schedule_fallback(self.feature_names),
        )


class ImputedRegressor(RegressorMixin, BaseEstimator):
    """A regressor behind a :class:`ScheduleImputer` (fit on the same rows).

    Follows scikit-learn's ``fit``/``predict`` protocol; ``imputer_`` and ``estimator_`` are the
    fitted parts (the bundle stores them separately, each in its safe format).
    """

    def __init__(self, estimator: Any, feature_names: tuple[str, ...] = ()) -> None:
        self.estimator = estimator
        self.feature_names = tuple(feature_names)

    def fit(
        self, X: np.ndarray, y: np.ndarray, sample_weight: np.ndarray | None = None
    ) -> ImputedRegressor:
        self.imputer_ = ScheduleImputer(self.feature_names).fit(X)
        self.estimator_ = fit_weighted(self.estimator, self.imputer_.transform(X), y, sample_weight)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.estimator_.predict(self.imputer_.transform(X))


def predict_with_spread(est: Any, X: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Point predictions and the model's own spread at ``X``, or None where it has none.

    The spread is a relative difficulty, the scale of a normalised conformal interval
    (H. Papadopoulos et al., J. Artif. Intell. Res. 40 (2011) 815; with forests, U. Johansson
    et al., Mach. Learn. 97 (2014) 155): the standard deviation of a random or extra-trees
    forest's per-tree predictions, a Gaussian process's predictive standard deviation, and for a
    mean blend the spread of its first member that has one. It grows where the trees (or the
    kernel) have seen nothing alike, which a neighbour-residual scale does not. Boosting and
    linear models have none. Fitted scikit-learn models and the numpy models of
    :mod:`alloyml.modeling.compact` give the same numbers.
    """
    if hasattr(est, "predict_with_spread"):  # compact models
        return est.predict_with_spread(X)
    if isinstance(est, ImputedRegressor):
        return predict_with_spread(est.estimator_, est.imputer_.transform(X))
    if isinstance(est, (RandomForestRegressor, ExtraTreesRegressor)):
        # one walk of the trees: the mean is the per-tree sum in tree order divided by the
        # number of trees, as scikit-learn's forest accumulates it
        X32 = np.asarray(X, dtype=np.float32)
        per_tree = np.stack([t.predict(X32, check_input=False) for t in est.estimators_])
        return per_tree.sum(axis=0) / len(est.estimators_), per_tree.std(axis=0)
    if type(est).__name__ == "VotingRegressor":
        return blend_with_spread(predict_with_spread(m, X) for m in est.estimators_)
    if isinstance(est, ArdGP):
        mu, sd = est.predict(X, return_std=True)
        return mu, sd
    return est.predict(X), None


def needs_imputer(feature_names: Any) -> bool:
    """Whether a feature set carries the ``process_v2`` schedule columns."""
    names = set(feature_names or ())
    return {"proc_schedule_known", "proc_stages_implied"} <= names


def make_model(
    name: str,
    random_state: int,
    n_jobs: int = 1,
    feature_names: Any = None,
    **overrides: Any,
) -> Any:
    """:func:`make_estimator`, behind a :class:`ScheduleImputer` when the features need one."""
    est = make_estimator(name, random_state, n_jobs, **overrides)
    if name != "mean" and needs_imputer(feature_names):
        return ImputedRegressor(est, tuple(feature_names))
    return est


# ------------------------------------------------------------------------------------------
# Extrapolating surrogates (issue 11, section 4). A separate block: these families are not in
# MODEL_NAMES (training does not screen them yet); the discovery backtest builds them with
# :func:`make_extrapolating_estimator`.
# ------------------------------------------------------------------------------------------

#: families that are not piecewise constant: a GP with ARD Matern-5/2 (``gp_ard``) and the same
#: plus a linear (dot-product) kernel (``gp_ard_lin``), which extrapolates a trend beyond the
#: measured range instead of reverting to the mean
EXTRAPOLATING_NAMES: tuple[str, ...] = ("gp_ard", "gp_ard_lin")


class ArdGP(RegressorMixin, BaseEstimator):
    """Gaussian process with one Matern-5/2 length scale per descriptor (ARD), optionally plus a
    linear kernel, on standardised columns ``columns`` of ``X``.

    Kernel: ``C * Matern(l_1..l_d, nu=2.5) [+ C_lin * DotProduct] + White``; hyper-parameters by
    maximum marginal likelihood (L-BFGS-B, scikit-learn). ``y`` is standardised by the GP
    (``normalize_y``). A ``kernel`` given (the fitted ``kernel_`` of an earlier fit, see
    :meth:`frozen`) is the optimiser's starting point (a warm start); with ``optimize=False`` it
    is kept fixed and fitting only conditions on the data, O(n^3) with no optimisation, which is
    what a sequential campaign does between hyper-parameter refits.

    Args:
        linear: add the dot-product kernel.
        columns: indices of the descriptors to use (``None``: all columns).
        kernel: the starting (or, with ``optimize=False``, fixed) kernel; ``None``: a default.
        optimize: fit the hyper-parameters (at most ``max_iter`` L-BFGS-B iterations).
        max_iter: iteration cap of the optimiser (keeps a refit cheap; warm starts converge fast).
        center, scale: fixed standardisation of the columns (``None``: from the training rows).
        n_restarts_optimizer: extra random restarts of the optimiser.
        random_state: seed of the restarts.
    """

    def __init__(
        self,
        linear: bool = False,
        columns: tuple[int, ...] | None = None,
        kernel: Any = None,
        center: Any = None,
        scale: Any = None,
        optimize: bool = True,
        max_iter: int = 60,
        n_restarts_optimizer: int = 0,
        random_state: int = 0,
    ) -> None:
        self.linear = linear
        self.optimize = optimize
        self.max_iter = max_iter
        self.columns = columns
        self.kernel = kernel
        self.center = center
        self.scale = scale
        self.n_restarts_optimizer = n_restarts_optimizer
        self.random_state = random_state

    def _select(self, X: Any) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        return X if self.columns is None else X[:, list(self.columns)]

    def _default_kernel(self, d: int) -> Any:
        k = ConstantKernel(1.0, (1e-2, 1e2)) * Matern(
            length_scale=np.full(d, 2.0), length_scale_bounds=(5e-2, 1e3), nu=2.5
        )
        if self.linear:
            k = k + ConstantKernel(0.1, (1e-4, 1e2)) * DotProduct(
                sigma_0=1.0, sigma_0_bounds=(1e-3, 1e2)
            )
        return k + WhiteKernel(0.05, (1e-5, 1.0))

    def fit(self, X: Any, y: Any) -> ArdGP:
        import warnings

        from sklearn.exceptions import ConvergenceWarning

        Z = self._select(X)
        if self.center is None or self.scale is None:
            self.center_ = Z.mean(axis=0)
            sd = Z.std(axis=0)
            self.scale_ = np.where(sd > 1e-9, sd, 1.0)
        else:
            self.center_, self.scale_ = np.asarray(self.center), np.asarray(self.scale)
        Z = (Z - self.center_) / self.scale_
        max_iter = self.max_iter

        def lbfgs(obj_func: Any, initial_theta: Any, bounds: Any) -> tuple[Any, float]:
            from scipy.optimize import minimize

            res = minimize(
                obj_func,
                initial_theta,
                method="L-BFGS-B",
                jac=True,
                bounds=bounds,
                options={"maxiter": max_iter, "maxfun": 2 * max_iter},
            )
            return res.x, float(res.fun)

        gp = GaussianProcessRegressor(
            kernel=self.kernel if self.kernel is not None else self._default_kernel(Z.shape[1]),
            normalize_y=True,
            optimizer=lbfgs if self.optimize else None,
            n_restarts_optimizer=self.n_restarts_optimizer if self.optimize else 0,
            random_state=self.random_state,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.gp_ = gp.fit(Z, np.asarray(y, dtype=float))
        self.kernel_ = self.gp_.kernel_
        return self

    def predict(self, X: Any, return_std: bool = False) -> Any:
        Z = (self._select(X) - self.center_) / self.scale_
        return self.gp_.predict(Z, return_std=return_std)

    def frozen(self, optimize: bool = False) -> ArdGP:
        """An unfitted copy starting from this fit's kernel and standardisation.

        With ``optimize=False`` the kernel stays fixed (conditioning only); with ``True`` the
        copy re-fits the hyper-parameters from this fit's values (a warm start).
        """
        return ArdGP(
            linear=self.linear,
            columns=self.columns,
            kernel=self.kernel_,
            center=None if optimize else self.center_,
            scale=None if optimize else self.scale_,
            optimize=optimize,
            max_iter=self.max_iter,
            random_state=self.random_state,
        )


def make_extrapolating_estimator(
    name: str, random_state: int, columns: tuple[int, ...] | None = None, **overrides: Any
) -> ArdGP:
    """Unfitted estimator of an extrapolating family (:data:`EXTRAPOLATING_NAMES`).

    Args:
        name: ``gp_ard`` or ``gp_ard_lin``.
        random_state: seed of the optimiser restarts.
        columns: descriptor columns (a compact, physically motivated set: a GP with one length
            scale per column is slow and over-parameterised on 150+ Magpie statistics).
        overrides: further :class:`ArdGP` arguments.
    """
    if name not in EXTRAPOLATING_NAMES:
        raise ConfigError(f"unknown model {name!r}; choose from {', '.join(EXTRAPOLATING_NAMES)}")
    return ArdGP(
        linear=name == "gp_ard_lin", columns=columns, random_state=random_state, **overrides
    )
