"""Discovery backtest: the product's campaign loop replayed on a pool of measured rows.

The pool is every measured row of a dataset (composition + process condition, property ``y``);
one composition measured in several tempers is several rows, each one "experiment", and the top
rows are counted by row (``n_top5_groups`` says how many compositions they are). A campaign starts
from ``n_init`` random rows drawn outside the top 5 %, then repeatedly refits a surrogate on the
rows measured so far, scores the unmeasured rows with an acquisition function
(:mod:`alloyml.search.acquisition`, the campaigns' module) and "measures" the best ``q`` of them
(batch size ``q``; for ``q > 1`` the batch is chosen by sequential fantasies, kriging believer by
default). Every method of a seed starts from the same initial rows (paired comparison).

Methods:

* ``product``: the campaigns' loop. Features of the features table (``featurize.preset``), the
  family of the training champion (``backtest.product.family``; ``et`` is the champion of
  ``uts_mpa`` for both systems in ``reports/metrics``), intervals from
  :class:`alloyml.modeling.uncertainty.ConformalInterval` calibrated on out-of-fold residuals of the current
  training set (grouped ``folds``-fold CV, recalibrated every ``recalibrate_every`` rounds, the
  model itself refitted every round), the domain rule of the campaigns (k-NN domain score with the
  ``explore`` policy: penalty and a maximum score; rows beyond the maximum are ranked last; the
  domain model and threshold are refreshed with each calibration) and the
  campaigns' acquisition (``ucb``, ``sigma`` = exploration half-width / ``z``). The exploration
  half-width is the campaigns' (:mod:`alloyml.search.evaluate`): for a model with a spread of
  its own (forest trees, a GP's standard deviation) the conformal half-width normalised by that
  spread (:class:`alloyml.modeling.uncertainty.SpreadInterval`), calibrated on the same
  out-of-fold predictions and applied with the current model; else the in-domain conformal
  half-width. As in the campaigns, a prediction at the frontier gets an exploration
  half-width at least as wide as the extrapolation split of the measured rows calls for
  (:meth:`alloyml.modeling.uncertainty.ConformalInterval.fit_frontier`: train below their top
  ``train.extrapolation_quantile``, predict the rest; refreshed with each calibration).
* ``product_<family>``: the same loop with another family, e.g. ``gp_ard_lin`` (a GP with ARD
  Matern-5/2 plus a linear kernel on compact descriptors, :mod:`alloyml.modeling.models`), a surrogate
  that is not piecewise constant above the best measured alloy.
* baselines (Liang et al., npj Comput. Mater. 7 (2021) 188): ``rf_lcb``, a random forest with
  the spread of its trees as ``sigma`` and the optimistic bound with weight 2 (their LCB on the
  minimised ``-y``); ``gp_ard_lcb``, a GP with ARD Matern-5/2 on standardised compact
  descriptors (wt % of each element but the balance + the main process numbers: ARD on 150+
  Magpie statistics is slow and over-parameterised), hyper-parameters refitted (warm-started)
  every ``refit_every`` rounds and the GP conditioned on the data every round; ``random``,
  exact (below).

Metrics (counts are numbers of measured rows, the initial design included; a batch counts
whole). With ``K`` top-5 % rows:

* ``top1``: experiments until the first top-1 % row;
* ``top5_half`` / ``top5_all``: experiments until ``ceil(K / 2)`` / all ``K`` top-5 % rows are found;
* ``beat_init``: experiments until a row better than the best row of the initial design;
* acceleration factor ``AF = E[experiments, random] / mean experiments of the method`` over the
  seeds (Liang et al.: experiments random needs / experiments the method needs for the same
  fraction of the top 5 %); 90 % CI by bootstrap over seeds (percentiles 5 and 95);
* enhancement factor ``EF(t)`` = mean top-5 % rows found by the method after ``t`` experiments /
  the random expectation ``K (t - n0) / (N - n0)``, at every batch boundary.

Random, exactly: after ``n0`` non-target initial rows, ``N' = N - n0`` rows remain with ``k``
targets; the position ``T_r`` of the ``r``-th target in a uniformly random order follows the
negative hypergeometric law ``P(T_r = t) = C(t-1, r-1) C(N'-t, k-r) / C(N', k)``, with
``E[T_r] = r (N' + 1) / (k + 1)``; batches of ``q`` count ``q ceil(T_r / q)``. The expectation is
computed from this law, never simulated.

A guided campaign runs at most ``max_guided`` model-guided experiments (it stops earlier when
every target is found). A target still missing then is completed by the random law above on the
rows left (``expected_draws``; reported as ``n_completed_randomly``): the count is an
expectation, never censored, and a method is never credited with more than random on its tail.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import gammaln

from alloyml import config
from alloyml.config import BASELINE_KINDS
from alloyml.errors import ConfigError, SchemaError
from alloyml.modeling.models import predict_with_spread
from alloyml.schema import BALANCE
from alloyml.search.acquisition import (
    acquire,
    interval_z,
    select_batch,
)

log = logging.getLogger("alloyml.evaluation.backtest")

TOP_FRACTIONS: dict[str, float] = {"top1": 0.01, "top5": 0.05}
METRICS: tuple[str, ...] = ("top1", "top5_half", "top5_all", "beat_init")

#: process descriptors of the compact set (with the wt % of every element but the balance)
COMPACT_PROCESS: tuple[str, ...] = (
    "proc_sol1_T_C",
    "proc_sol1_t_h",
    "proc_age1_T_C",
    "proc_age1_t_h",
    "proc_age2_T_C",
    "proc_age2_t_h",
    "proc_age_hj_max_K",
    "proc_age_total_t_h",
    "proc_rra",
    "proc_cold_work_pct",
    "proc_log_extrusion_ratio",
    "proc_rolling_reduction_pct",
    "proc_route_wrought",
    "proc_route_cast",
)
#: physically motivated composition descriptors added for the extrapolating product family
COMPACT_PHYSICS: tuple[str, ...] = (
    "solute_wt_pct",
    "zn_mg_cu_wt_pct",
    "delta_size_pct",
    "dH_mix_kJ_mol",
    "vec",
)

POOL_NOTE = (
    "The pool is every measured row of the dataset with the target (composition + process "
    "condition): one composition in several tempers is several rows, each one experiment, and "
    "top-k % rows are counted by row. Measuring one temper of a composition informs the model "
    "about its other tempers, which is how a real campaign on that composition would go."
)


# ----------------------------------------------------------------------------------- config
#: The product loop's and the baselines' settings: the validated ``backtest.product`` and
#: ``backtest.baselines`` models of :mod:`alloyml.config` (defaults there).
ProductSpec = config.BacktestProduct
BaselineSpec = config.BacktestBaseline


@dataclass(frozen=True)
class DatasetSpec:
    """One backtest pool: rows of ``system`` from ``sources`` (empty = all) with ``target``."""

    name: str
    system: str
    target: str
    sources: tuple[str, ...] = ()
    max_guided: int | None = None  # overrides BacktestConfig.max_guided
    product_variants: tuple[str, ...] | None = None  # overrides BacktestConfig.product_variants


def _default(name: str) -> Any:
    return config.BacktestParams.model_fields[name].get_default(call_default_factory=True)


@dataclass(frozen=True)
class BacktestConfig:
    """The ``backtest`` section (+ ``base.seed``) as the backtest runs it (defaults: config)."""

    seed: int = config.DEFAULT_SEED
    n_seeds: int = _default("n_seeds")
    n_init: int = _default("n_init")
    batch_sizes: tuple[int, ...] = _default("batch_sizes")
    max_guided: int = _default("max_guided")
    fantasy: str = _default("fantasy")
    lie: str = _default("lie")
    product: ProductSpec = field(default_factory=ProductSpec)
    product_variants: tuple[str, ...] = _default("product_variants")
    baselines: tuple[str, ...] = BASELINE_KINDS
    baseline: BaselineSpec = field(default_factory=BaselineSpec)
    other_batch_sizes: tuple[int, ...] = (1,)  # variants and baselines (product: batch_sizes)
    n_jobs: int = _default("n_jobs")
    n_boot: int = _default("n_boot")
    datasets: dict[str, DatasetSpec] = field(default_factory=dict)
    #: the top fraction the frontier is calibrated on: ``train.extrapolation_quantile``
    frontier_quantile: float = 0.9
    #: composition groups below which intervals are plain: ``train.normalised_min_groups``
    normalised_min_groups: int = 30


def backtest_params(doc: dict[str, Any]) -> BacktestConfig:
    """Validated :class:`BacktestConfig` from the ``backtest`` section (+ ``base.seed``)."""
    p = config.section(doc, "backtest", config.BacktestParams)
    seed = config.base_seed(doc)
    # the campaigns' intervals are the training's: read its rules where the document has them
    train = config.section(doc, "train", config.TrainParams) if "train" in doc else None
    frontier_q = train.extrapolation_quantile if train else BacktestConfig.frontier_quantile
    min_groups = train.normalised_min_groups if train else BacktestConfig.normalised_min_groups
    return BacktestConfig(
        seed=seed,
        n_seeds=p.n_seeds,
        n_init=p.n_init,
        batch_sizes=p.batch_sizes,
        max_guided=p.max_guided,
        fantasy=p.fantasy,
        lie=p.lie,
        product=p.product,
        product_variants=p.product_variants,
        baselines=p.baselines.methods,
        baseline=BaselineSpec(**p.baselines.model_dump(exclude={"methods"})),
        other_batch_sizes=p.other_batch_sizes or p.batch_sizes[:1],
        n_jobs=p.n_jobs,
        n_boot=p.n_boot,
        datasets={
            name: DatasetSpec(name, d.system, d.target, d.sources, d.max_guided, d.product_variants)
            for name, d in p.datasets.items()
        },
        frontier_quantile=frontier_q,
        normalised_min_groups=min_groups,
    )


# ------------------------------------------------------------------------------------- pool
@dataclass
class Pool:
    X: np.ndarray  # float32, C-contiguous, constant columns dropped
    y: np.ndarray
    row_uid: np.ndarray
    group_id: np.ndarray
    feature_names: list[str]
    source_id: np.ndarray | None = None
    balance: str | None = None  # balance element of the system (e.g. "Al")


def build_pool(
    features: pd.DataFrame, processed: pd.DataFrame, spec: DatasetSpec, labels: list[str]
) -> Pool:
    """Rows of ``spec`` with a measured target; features joined on ``row_uid``."""
    missing = [c for c in ("row_uid", "group_id", *labels) if c not in features.columns]
    if missing:
        raise SchemaError(
            f"feature table lacks {len(missing)} column(s) (first {missing[:3]}); "
            "rebuild it with the featurize stage"
        )
    for col in ("row_uid", "source_id", spec.target):
        if col not in processed.columns:
            raise SchemaError(f"processed table lacks column {col!r}")
    proc = processed[["row_uid", "source_id", spec.target]].copy()
    proc["row_uid"] = proc["row_uid"].astype(str)
    feats = features[["row_uid", "group_id", *labels]].copy()
    feats["row_uid"] = feats["row_uid"].astype(str)
    df = proc.merge(feats, on="row_uid", how="inner", validate="one_to_one")
    if spec.sources:
        unknown = sorted(set(spec.sources) - set(proc["source_id"].astype(str)))
        if unknown:
            raise ConfigError(
                f"backtest dataset {spec.name!r}: source(s) {unknown} not in the processed table"
            )
        df = df[df["source_id"].astype(str).isin(spec.sources)]
    df = df[df[spec.target].notna()].reset_index(drop=True)
    if len(df) < 50:
        raise SchemaError(f"backtest dataset {spec.name!r}: only {len(df)} rows with a target")
    X = df[labels].to_numpy(dtype=float)
    if not np.isfinite(X).all():
        raise SchemaError(f"backtest dataset {spec.name!r}: non-finite feature values")
    keep = X.std(axis=0) > 0
    return Pool(
        X=np.ascontiguousarray(X[:, keep], dtype=np.float32),
        y=df[spec.target].to_numpy(dtype=float),
        row_uid=df["row_uid"].to_numpy(dtype=str),
        group_id=df["group_id"].astype(str).to_numpy(),
        feature_names=[lab for lab, k in zip(labels, keep, strict=True) if k],
        source_id=df["source_id"].astype(str).to_numpy(),
        balance=BALANCE[spec.system],
    )


def top_mask(y: np.ndarray, fraction: float) -> np.ndarray:
    """Rows with ``y`` at or above the ``1 - fraction`` quantile (at least the maximum)."""
    y = np.asarray(y, dtype=float)
    return y >= np.quantile(y, 1.0 - fraction)


def initial_design(is_excluded: np.ndarray, n_init: int, rng: np.random.Generator) -> np.ndarray:
    """``n_init`` distinct random rows, none of them ``is_excluded`` (the top 5 %)."""
    allowed = np.flatnonzero(~np.asarray(is_excluded, bool))
    if len(allowed) < n_init:
        raise ConfigError(f"n_init={n_init} but only {len(allowed)} rows outside the top 5 %")
    return rng.choice(allowed, size=n_init, replace=False)


def compact_columns(
    feature_names: list[str], balance: str | None = None, physics: bool = False
) -> tuple[int, ...]:
    """Indices of the compact descriptor set: wt % of each element but the ``balance`` element
    (e.g. ``Al``; it is 100 minus the rest) and :data:`COMPACT_PROCESS` (+
    :data:`COMPACT_PHYSICS` with ``physics``)."""
    extra = set(COMPACT_PROCESS) | (set(COMPACT_PHYSICS) if physics else set())
    skip = f"wt_pct_{balance}" if balance else None
    return tuple(
        i
        for i, f in enumerate(feature_names)
        if (f.startswith("wt_pct_") and f != skip) or f in extra
    )


# ------------------------------------------------------------------------- random, exactly
def expected_draws(n: int, k: int, r: int, q: int = 1) -> float:
    """Expected experiments until the ``r``-th of ``k`` targets among ``n`` rows, random order.

    Negative hypergeometric position ``T_r`` (see the module docstring); in batches of ``q``
    the count is ``min(q ceil(T_r / q), n)``. ``r <= 0`` gives 0.
    """
    if r <= 0:
        return 0.0
    if not 1 <= r <= k <= n:
        raise ValueError(f"need 1 <= r <= k <= n, got r={r}, k={k}, n={n}")
    if q == 1:
        return r * (n + 1) / (k + 1)
    t = np.arange(r, n - k + r + 1)
    logp = (
        gammaln(t) - gammaln(r) - gammaln(t - r + 1)
        + gammaln(n - t + 1) - gammaln(k - r + 1) - gammaln(n - t - k + r + 1)
        - (gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1))
    )  # fmt: skip
    counted = np.minimum(q * np.ceil(t / q), n)
    return float(np.sum(np.exp(logp) * counted))


# ------------------------------------------------------------------------------- surrogates
class Surrogate:
    """A surrogate of one campaign: ``fit`` on the measured rows every round, ``predict`` at
    candidates (``mu``, ``sigma`` in the target's units), ``fantasy`` = refit on fantasy data
    with the round's calibration and hyper-parameters kept, ``penalty`` = domain penalty."""

    def __init__(self, X: np.ndarray, groups: np.ndarray, seed: int) -> None:
        self.X, self.groups, self.seed = X, groups, seed

    def fit(self, rows: np.ndarray, y: np.ndarray, step: int) -> None:  # pragma: no cover
        raise NotImplementedError

    def predict(self, cand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # pragma: no cover
        raise NotImplementedError

    def fantasy(self, rows: np.ndarray, y: np.ndarray, cand: np.ndarray):  # pragma: no cover
        raise NotImplementedError

    def penalty(self, cand: np.ndarray, best: float) -> np.ndarray:
        return np.zeros(len(cand))


class ForestLCB(Surrogate):
    """Random forest, ``sigma`` = standard deviation of the per-tree predictions."""

    def __init__(self, X, groups, seed, n_estimators: int) -> None:
        super().__init__(X, groups, seed)
        self.n_estimators = n_estimators

    def _fit(self, rows, y, rs):
        from sklearn.ensemble import RandomForestRegressor

        return RandomForestRegressor(
            n_estimators=self.n_estimators, max_features=1.0, random_state=rs, n_jobs=1
        ).fit(self.X[rows], y)

    def fit(self, rows, y, step):
        self.step = step
        self.est = self._fit(rows, y, self.seed * 10_007 + step)

    def predict(self, cand):
        return predict_with_spread(self.est, self.X[cand])

    def fantasy(self, rows, y, cand):
        return predict_with_spread(self._fit(rows, y, self.seed * 10_007 + self.step), self.X[cand])


class GPLCB(Surrogate):
    """GP with ARD Matern-5/2 (``linear``: + dot product) on ``columns``; GP predictive std."""

    def __init__(self, X, groups, seed, columns, refit_every: int, max_iter: int) -> None:
        super().__init__(X, groups, seed)
        self.columns, self.refit_every, self.max_iter = columns, refit_every, max_iter
        self.hyper: Any = None

    def fit(self, rows, y, step):
        from alloyml.modeling.models import make_extrapolating_estimator

        if self.hyper is None:
            est = make_extrapolating_estimator(
                "gp_ard", self.seed, self.columns, max_iter=self.max_iter
            )
        elif step % self.refit_every == 0:
            est = self.hyper.frozen(optimize=True)  # warm start from the last hyper-parameters
        else:
            est = self.hyper.frozen()  # condition only
        est.fit(self.X[rows], y)
        if self.hyper is None or step % self.refit_every == 0:
            self.hyper = est
        self.est = est

    def predict(self, cand):
        return self.est.predict(self.X[cand], return_std=True)

    def fantasy(self, rows, y, cand):
        return self.hyper.frozen().fit(self.X[rows], y).predict(self.X[cand], return_std=True)


class ProductLoop(Surrogate):
    """The campaigns' surrogate: champion family, conformal interval, domain rule."""

    def __init__(
        self, X, groups, seed, spec: ProductSpec, columns, refit_every, max_iter,
        frontier_quantile: float = 0.9, min_groups: int = 30,
    ) -> None:  # fmt: skip
        super().__init__(X, groups, seed)
        self.spec = spec
        self.frontier_quantile = frontier_quantile
        self.min_groups = min_groups
        self.columns, self.refit_every, self.max_iter = columns, refit_every, max_iter
        self.policy = config.DOMAIN_MODES.get(spec.domain)
        self.z = interval_z(spec.alpha)
        self.hyper: Any = None
        # exploration width, set by _calibrate: the spread-normalised interval of a model with
        # a spread, else the conformal half-width of every pool row (fixed until recalibration)
        self.explore: Any = None
        self.half: np.ndarray | None = None
        self.frontier: Any = None  # ConformalInterval calibrated at the frontier (fit_frontier)
        self.calibrated = False

    def _make(self, step: int, fixed: bool) -> Any:
        from alloyml.modeling.models import (
            EXTRAPOLATING_NAMES,
            make_estimator,
            make_extrapolating_estimator,
        )

        fam = self.spec.family
        if fam in EXTRAPOLATING_NAMES:
            if self.hyper is None:
                return make_extrapolating_estimator(
                    fam, self.seed, self.columns, max_iter=self.max_iter
                )
            return self.hyper.frozen(optimize=not fixed)
        kw: dict[str, Any] = {}
        if fam in ("rf", "et", "xgb"):
            kw["n_estimators"] = self.spec.n_estimators
        if fam == "gbr":
            kw["max_iter"] = self.spec.n_estimators
        return make_estimator(fam, random_state=self.seed * 10_007 + step, n_jobs=1, **kw)

    def fit(self, rows, y, step):
        from alloyml.modeling.models import EXTRAPOLATING_NAMES

        self.step = step
        is_gp = self.spec.family in EXTRAPOLATING_NAMES
        refit_hyper = is_gp and (self.hyper is None or step % self.refit_every == 0)
        est = self._make(step, fixed=not refit_hyper).fit(self.X[rows], y)
        if refit_hyper:
            self.hyper = est
        self.est = est
        if not self.calibrated or step % self.spec.recalibrate_every == 0:
            self._calibrate(rows, y, step)
            self.calibrated = True

    def _calibrate(self, rows, y, step):
        """Conformal interval and domain threshold from a grouped K-fold of the measured rows."""
        from sklearn.model_selection import GroupKFold, KFold

        from alloyml.modeling.uncertainty import ConformalInterval, Domain, SpreadInterval

        g = self.groups[rows]
        k = min(self.spec.folds, len(np.unique(g)))
        splits = (
            GroupKFold(n_splits=k).split(rows, groups=g)
            if k >= 2
            else KFold(n_splits=min(self.spec.folds, len(rows))).split(rows)
        )
        oof = np.empty(len(rows))
        spread: np.ndarray | None = np.empty(len(rows))
        dist = np.empty(len(rows))
        for tr, te in splits:
            m = self._make(step, fixed=True).fit(self.X[rows[tr]], y[tr])
            oof[te], sp = predict_with_spread(m, self.X[rows[te]])
            if sp is None:
                spread = None
            elif spread is not None:
                spread[te] = sp
            if self.policy is not None:
                dist[te] = Domain().fit(self.X[rows[tr]]).distance(self.X[rows[te]])
        if spread is not None:  # the campaigns' exploration width: normalised by the spread
            self.explore = SpreadInterval(alpha=self.spec.alpha).fit(y, oof, spread)
            self.half = None
        else:  # a model without a spread: the in-domain conformal half-width
            self.explore = None
            ci = ConformalInterval(
                alpha=self.spec.alpha, normalised=True, min_groups=self.min_groups
            ).fit(self.X[rows], y, oof, groups=g)
            self.half = ci.half_width(self.X)
        self._calibrate_frontier(rows, y, g, step)
        if self.policy is not None:
            self.domain = Domain().fit(self.X[rows])
            self.domain.calibrate(dist)
            thr = self.domain.threshold_
            d = self.domain.distance(self.X)  # every pool row, until the next calibration
            self.dscore = d / thr if thr > 0 else np.zeros(len(d))

    def _calibrate_frontier(self, rows, y, g, step):
        """The campaigns' frontier calibration on the measured rows: train below their top
        ``frontier_quantile``, predict the rows above it (extrapolation split); a prediction at
        the level of those predictions gets the exploration half-width their shortfall calls
        for (:meth:`ConformalInterval.fit_frontier`)."""
        from alloyml.modeling.uncertainty import ConformalInterval

        def fit_predict(tr: np.ndarray, te: np.ndarray) -> np.ndarray:
            est = self._make(step, fixed=True).fit(self.X[rows[tr]], y[tr])
            return est.predict(self.X[rows[te]])

        iv = ConformalInterval(alpha=self.spec.alpha)
        fitted = iv.calibrate_frontier(y, g, self.frontier_quantile, fit_predict)
        self.frontier = iv if fitted else None

    def _moments(self, est, cand):
        if self.half is None:
            mu, sp = predict_with_spread(est, self.X[cand])
            h = self.explore.half_width(sp)
        else:
            h = self.half[cand]
            h = np.where(np.isfinite(h), h, np.nanmax(np.where(np.isfinite(h), h, 0.0)))
            mu = est.predict(self.X[cand])
        if self.frontier is not None:
            h = self.frontier.frontier_half_width(mu, h)
        return mu, h / self.z

    def predict(self, cand):
        return self._moments(self.est, cand)

    def fantasy(self, rows, y, cand):
        return self._moments(self._make(self.step, fixed=True).fit(self.X[rows], y), cand)

    def penalty(self, cand, best):
        """The campaigns' domain policy: ``penalty |best| clip(score - 1, 0, max_score)``; rows
        beyond ``max_score`` (infeasible in a campaign) are ranked after every other row."""
        if self.policy is None:
            return np.zeros(len(cand))
        score = self.dscore[cand]
        mx, pen = self.policy["max_score"], self.policy["penalty"]
        p = pen * abs(best) * np.clip(score - 1.0, 0.0, mx)
        return p + np.where(score > mx, 1e9, 0.0)


# -------------------------------------------------------------------------------- campaign
@dataclass(frozen=True)
class Method:
    """One guided method: ``kind`` in product / rf_lcb / gp_ard_lcb, ``family`` for product."""

    name: str
    kind: str
    family: str = ""


def methods_of(cfg: BacktestConfig) -> list[Method]:
    out = [Method("product", "product", cfg.product.family)]
    out += [Method(f"product_{f}", "product", f) for f in cfg.product_variants]
    out += [Method(k, k) for k in cfg.baselines]
    return out


def make_surrogate(method: Method, pool: Pool, cfg: BacktestConfig, seed: int) -> Surrogate:
    b = cfg.baseline
    if method.kind == "rf_lcb":
        return ForestLCB(pool.X, pool.group_id, seed, b.rf_n_estimators)
    if method.kind == "gp_ard_lcb":
        cols = compact_columns(pool.feature_names, pool.balance)
        return GPLCB(pool.X, pool.group_id, seed, cols, b.gp_refit_every, b.gp_max_iter)
    spec = cfg.product.model_copy(update={"family": method.family})
    cols = compact_columns(pool.feature_names, pool.balance, physics=True)
    return ProductLoop(
        pool.X, pool.group_id, seed, spec, cols, b.gp_refit_every, b.gp_max_iter,
        cfg.frontier_quantile, cfg.normalised_min_groups,
    )  # fmt: skip


def _score_fn(method: Method, cfg: BacktestConfig, penalty: np.ndarray):
    if method.kind == "product":
        acq, kappa = cfg.product.acquisition, cfg.product.kappa
    else:  # Liang et al.'s LCB on -y = the optimistic bound on y
        acq, kappa = "ucb", cfg.baseline.kappa

    def score(mu: np.ndarray, sigma: np.ndarray, best: float) -> np.ndarray:
        return acquire(acq, mu, sigma, best=best, kappa=kappa, maximize=True) - penalty

    return score


def targets_of(y: np.ndarray, init: np.ndarray) -> dict[str, tuple[np.ndarray, int]]:
    """Per metric: (target mask, how many of them must be found)."""
    top1, top5 = top_mask(y, TOP_FRACTIONS["top1"]), top_mask(y, TOP_FRACTIONS["top5"])
    beat = y > y[init].max()
    k5 = int(top5.sum())
    return {
        "top1": (top1, 1),
        "top5_half": (top5, math.ceil(k5 / 2)),
        "top5_all": (top5, k5),
        "beat_init": (beat, 1),
    }


def experiments_needed(
    order: np.ndarray, mask: np.ndarray, r: int, n_init: int, q: int, n_pool: int
) -> tuple[float, bool]:
    """Experiments until ``r`` rows of ``mask`` are measured (batches counted whole), and whether
    the count was completed by the exact random law on the rows left after ``order``."""
    hits = np.flatnonzero(mask[order]) + 1  # 1-based positions
    if len(hits) >= r:
        pos = int(hits[r - 1])
        if pos <= n_init:
            return float(n_init), False
        return float(min(n_init + q * math.ceil((pos - n_init) / q), n_pool)), False
    done, found = len(order), len(hits)
    rest = expected_draws(n_pool - done, int(mask.sum()) - found, r - found, q)
    return done + rest, True


def run_campaign(
    pool: Pool,
    method: Method | None,
    init: np.ndarray,
    q: int,
    cfg: BacktestConfig,
    seed: int,
    max_guided: int,
) -> dict:
    """One guided campaign (``method``) from the rows ``init`` in batches of ``q``.

    Stops when every target of :func:`targets_of` is found, after ``max_guided`` guided
    experiments, or when the pool is exhausted. Returns ``order`` (measured row ids) and
    ``experiments`` per metric (with ``completed`` flags).
    """  # fmt: skip
    y, n = pool.y, len(pool.y)
    targets = targets_of(y, init)
    rng = np.random.default_rng([seed, 7919, q])
    measured = np.zeros(n, bool)
    measured[init] = True
    order = [int(i) for i in init]
    sur = make_surrogate(method, pool, cfg, seed)
    step = 0

    def finished() -> bool:
        o = np.asarray(order)
        return all(int(m[o].sum()) >= r for m, r in targets.values())

    while len(order) - len(init) < max_guided and len(order) < n and not finished():
        rem = np.flatnonzero(~measured)
        rows = np.asarray(order)
        ys = y[rows]
        sur.fit(rows, ys, step)
        mu, sigma = sur.predict(rem)
        pen = sur.penalty(rem, float(ys.max()))
        pick = select_batch(
            rem, rows, ys, min(q, max_guided - (len(order) - len(init))),
            predict=lambda r_, y_, _rem=rem: sur.fantasy(r_, y_, _rem),
            score=_score_fn(method, cfg, pen),
            fantasy=cfg.fantasy, lie=cfg.lie, first=(mu, sigma), rng=rng,
        )  # fmt: skip
        measured[pick] = True
        order.extend(int(i) for i in pick)
        step += 1
    o = np.asarray(order)
    exp, comp = {}, {}
    for k, (m, r) in targets.items():
        exp[k], comp[k] = experiments_needed(o, m, r, len(init), q, n)
    return {"order": o, "experiments": exp, "completed": comp, "n_rounds": step}


def random_expected(pool: Pool, init: np.ndarray, q: int) -> dict[str, float]:
    """Exact expected experiments of random choice from the same initial rows, per metric."""
    n, n0 = len(pool.y), len(init)
    out = {}
    for k, (m, r) in targets_of(pool.y, init).items():
        k_left = int(m.sum()) - int(m[init].sum())
        r_left = r - int(m[init].sum())
        out[k] = n0 + expected_draws(n - n0, k_left, r_left, q) if r_left > 0 else float(n0)
    return out


def _campaign_task(pool, method, init, q, cfg, seed, max_guided):
    t0 = time.process_time()
    res = run_campaign(pool, method, init, q, cfg, seed, max_guided)
    return method.name, q, seed, res, time.process_time() - t0


# --------------------------------------------------------------------------------- metrics
def _ci(values: np.ndarray) -> list[float]:
    return [float(np.quantile(values, 0.05)), float(np.quantile(values, 0.95))]


def acceleration(
    random_exp: np.ndarray, method_exp: np.ndarray, boot_idx: np.ndarray
) -> dict[str, Any]:
    """AF = mean random / mean method over seeds (paired), bootstrap 90 % CI over seeds."""
    af = float(random_exp.mean() / method_exp.mean())
    boot = random_exp[boot_idx].mean(axis=1) / method_exp[boot_idx].mean(axis=1)
    return {"af": af, "ci90": _ci(boot)}


def enhancement_curve(
    orders: list[np.ndarray],
    top5: np.ndarray,
    n_init: int,
    q: int,
    n_cycles: int,
    boot_idx: np.ndarray,
    horizon: int | None = None,
) -> dict[str, list[float]]:
    """EF at the end of each cycle: mean top-5 % found / random expectation (exact).

    Cycles end at ``n_init + q c`` experiments, up to ``horizon`` (the guided budget); a
    campaign that stopped before (every target found) keeps its final count.
    """  # fmt: skip
    n, k = len(top5), int(top5.sum())
    horizon = n if horizon is None else horizon
    t = n_init + q * np.arange(1, n_cycles + 1)
    t = t[t <= min(n, horizon)]
    found = np.empty((len(orders), len(t)))
    for i, o in enumerate(orders):
        cum = np.concatenate([[0], np.cumsum(top5[o])])
        found[i] = cum[np.minimum(t, len(o))]
    expect = k * (t - n_init) / (n - n_init)
    boot = found[boot_idx].mean(axis=1) / expect
    return {
        "experiments": t.tolist(),
        "ef": [round(float(v), 3) for v in found.mean(axis=0) / expect],
        "ci90_lo": [round(float(v), 3) for v in np.quantile(boot, 0.05, axis=0)],
        "ci90_hi": [round(float(v), 3) for v in np.quantile(boot, 0.95, axis=0)],
    }


def run_backtest(pool: Pool, cfg: BacktestConfig, dataset: str, target: str) -> dict:
    """Every method at every batch size for ``cfg.n_seeds`` seeds; a JSON-ready report."""
    from joblib import Parallel, delayed

    t_start = time.perf_counter()
    y, n = pool.y, len(pool.y)
    spec = cfg.datasets.get(dataset)
    max_guided = spec.max_guided if spec is not None and spec.max_guided else cfg.max_guided
    if spec is not None and spec.product_variants is not None:
        cfg = replace(cfg, product_variants=spec.product_variants)
    top5 = top_mask(y, TOP_FRACTIONS["top5"])
    seeds = [cfg.seed + i for i in range(cfg.n_seeds)]
    inits = {s: initial_design(top5, cfg.n_init, np.random.default_rng([s, 104729])) for s in seeds}
    methods = methods_of(cfg)
    sizes = {
        m.name: cfg.batch_sizes if m.name == "product" else cfg.other_batch_sizes for m in methods
    }
    tasks = [(m, q, s) for m in methods for q in sizes[m.name] for s in seeds]
    out = Parallel(n_jobs=cfg.n_jobs)(
        delayed(_campaign_task)(pool, m, inits[s], q, cfg, s, max_guided) for m, q, s in tasks
    )
    results: dict[tuple[str, int], dict[int, dict]] = {}
    cpu: dict[tuple[str, int], float] = {}
    for name, q, s, res, sec in out:
        results.setdefault((name, q), {})[s] = res
        cpu[(name, q)] = cpu.get((name, q), 0.0) + sec

    boot_idx = np.random.default_rng([cfg.seed, 31337]).integers(
        0, len(seeds), size=(cfg.n_boot, len(seeds))
    )
    n_cycles = {q: max(1, math.ceil(max_guided / q)) for q in cfg.batch_sizes}
    table: list[dict[str, Any]] = []
    per_method: dict[str, dict[str, Any]] = {}
    curves: dict[str, Any] = {}
    for q in cfg.batch_sizes:
        rnd = {s: random_expected(pool, inits[s], q) for s in seeds}
        r_arr = {k: np.array([rnd[s][k] for s in seeds]) for k in METRICS}
        rkey = f"random@b{q}"
        per_method[rkey] = {
            "method": "random",
            "batch_size": q,
            "exact": True,
            **{f"experiments_{k}_mean": float(r_arr[k].mean()) for k in METRICS},
        }
        for k in METRICS:
            table.append({
                "method": "random", "batch_size": q, "metric": k,
                "experiments_mean": float(r_arr[k].mean()), "af": 1.0, "ci90": [1.0, 1.0],
            })  # fmt: skip
        for m in methods:
            if q not in sizes[m.name]:
                continue
            runs = [results[(m.name, q)][s] for s in seeds]
            key = f"{m.name}@b{q}"
            rep: dict[str, Any] = {"method": m.name, "batch_size": q, "seeds": seeds}
            for k in METRICS:
                e = np.array([r["experiments"][k] for r in runs])
                a = acceleration(r_arr[k], e, boot_idx)
                rep[f"experiments_{k}"] = [round(float(v), 2) for v in e]
                rep[f"experiments_{k}_mean"] = float(e.mean())
                rep[f"experiments_{k}_ci90"] = _ci(e[boot_idx].mean(axis=1))
                rep[f"acceleration_factor_{k}"] = a["af"]
                rep[f"acceleration_factor_{k}_ci90"] = a["ci90"]
                rep[f"n_completed_randomly_{k}"] = int(sum(r["completed"][k] for r in runs))
                table.append({
                    "method": m.name, "batch_size": q, "metric": k,
                    "experiments_mean": float(e.mean()), "af": a["af"], "ci90": a["ci90"],
                    "n_completed_randomly": rep[f"n_completed_randomly_{k}"],
                })  # fmt: skip
            rep["cpu_s"] = round(cpu[(m.name, q)], 1)
            per_method[key] = rep
            curves[key] = enhancement_curve(
                [r["order"] for r in runs], top5, cfg.n_init, q, n_cycles[q], boot_idx,
                horizon=cfg.n_init + max_guided,
            )  # fmt: skip

    q0 = cfg.batch_sizes[0]
    primary = per_method[f"product@b{q0}"]

    def factors(rep: dict[str, Any]) -> dict[str, Any]:
        return {f"acceleration_factor_{k}": rep[f"acceleration_factor_{k}"] for k in METRICS} | {
            f"acceleration_factor_{k}_ci90": rep[f"acceleration_factor_{k}_ci90"] for k in METRICS
        }

    baselines: dict[str, Any] = {}
    for q in cfg.batch_sizes:
        baselines[f"random@b{q}"] = per_method[f"random@b{q}"] | {
            f"acceleration_factor_{k}": 1.0 for k in METRICS
        }
        for b in cfg.baselines if q in cfg.other_batch_sizes else ():
            baselines[f"{b}@b{q}"] = factors(per_method[f"{b}@b{q}"]) | {
                f"experiments_{k}_mean": per_method[f"{b}@b{q}"][f"experiments_{k}_mean"]
                for k in METRICS
            }
    best_base = {
        k: max(
            (baselines[f"{b}@b{q0}"][f"acceleration_factor_{k}"] for b in cfg.baselines),
            default=float("nan"),
        )
        for k in METRICS
    }
    report = {
        "dataset": dataset,
        "target": target,
        "n_pool": n,
        "n_groups": int(len(np.unique(pool.group_id))),
        "n_features": int(pool.X.shape[1]),
        "n_compact_features": len(compact_columns(pool.feature_names, pool.balance)),
        "compact_features": [
            pool.feature_names[i] for i in compact_columns(pool.feature_names, pool.balance)
        ],
        "n_top1": int(top_mask(y, TOP_FRACTIONS["top1"]).sum()),
        "n_top5": int(top5.sum()),
        "n_top5_groups": int(len(np.unique(pool.group_id[top5]))),
        "threshold_top1": float(np.quantile(y, 0.99)),
        "threshold_top5": float(np.quantile(y, 0.95)),
        "y_max": float(y.max()),
        "n_seeds": cfg.n_seeds,
        "n_init": cfg.n_init,
        "batch_sizes": list(cfg.batch_sizes),
        "other_batch_sizes": list(cfg.other_batch_sizes),
        "max_guided": max_guided,
        "fantasy": cfg.fantasy,
        "product_variants": list(cfg.product_variants),
        "product": cfg.product.model_dump(),
        "baseline_settings": cfg.baseline.model_dump(),
        "primary": f"product@b{q0}",
        "acceleration_factor_top1": primary["acceleration_factor_top1"],
        "acceleration_factor_top5_half": primary["acceleration_factor_top5_half"],
        "acceleration_factor_top5_all": primary["acceleration_factor_top5_all"],
        "acceleration_factor_beat_init": primary["acceleration_factor_beat_init"],
        "experiments_to_beat_initial_best": primary["experiments_beat_init_mean"],
        "ratio_to_best_baseline": {
            k: _ratio(primary[f"acceleration_factor_{k}"], best_base[k]) for k in METRICS
        },
        "baselines": baselines,
        "methods": per_method,
        "table": table,
        "enhancement_factor": curves,
        "definitions": {
            "acceleration_factor": (
                "E[experiments, random] (exact negative hypergeometric expectation, same initial "
                "rows) averaged over seeds / mean experiments of the method over seeds; "
                "experiments include the initial design; batches count whole; ci90 = bootstrap "
                "over seeds (5th, 95th percentiles)"
            ),
            "top1": "first top-1 % row",
            "top5_half": "ceil(K/2) of the K top-5 % rows (Liang et al. 2021)",
            "top5_all": "all K top-5 % rows (Liang et al. 2021)",
            "beat_init": "first row better than the best row of the initial design",
            "enhancement_factor": (
                "mean top-5 % rows found by the method / K (t - n_init) / (N - n_init)"
            ),
            "completion": (
                "a target still missing after max_guided guided experiments is completed by "
                "the exact random expectation on the rows left (n_completed_randomly)"
            ),
        },
        "notes": {"pool": POOL_NOTE},
        "runtime_s": round(time.perf_counter() - t_start, 1),
        "cpu_s": round(sum(cpu.values()), 1),
    }
    return report


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b > 0 else float("nan")


# ---------------------------------------------------------------------------------- plots
def plot_backtest(report: dict, path: str | Path) -> Path:
    """Enhancement-factor curves of every method and batch size."""
    from alloyml.reporting.plots import figure, save_png

    qs = report["batch_sizes"]
    fig, axes = figure(1, len(qs), figsize=(6 * len(qs), 4), squeeze=False)
    for ax, q in zip(axes[0], qs, strict=True):
        for key, c in report["enhancement_factor"].items():
            if not key.endswith(f"@b{q}"):
                continue
            t = np.asarray(c["experiments"])
            (line,) = ax.plot(t, c["ef"], label=key.split("@")[0])
            ax.fill_between(t, c["ci90_lo"], c["ci90_hi"], color=line.get_color(), alpha=0.15)
        ax.axhline(1.0, color="k", ls="--", lw=1, label="random (exact)")
        ax.set_xlabel("experiments (initial design included)")
        ax.set_ylabel("enhancement factor, top-5 %")
        ax.set_title(
            f"{report['dataset']} ({report['target']}), batch {q}: N={report['n_pool']}, "
            f"K={report['n_top5']}, {report['n_seeds']} seeds",
            fontsize=9,
        )
        ax.legend(fontsize=7)
    return save_png(fig, Path(path))
