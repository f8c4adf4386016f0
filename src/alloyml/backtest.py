"""Discovery backtest: a simulated sequential-learning campaign on measured data.

The pool is a set of measured rows (composition + process condition, property ``y``). A campaign
starts from ``n_init`` random rows, then repeatedly fits a surrogate on the rows measured so far,
scores the unmeasured rows with an acquisition function and "measures" the best ``batch_size``
of them (reveals their ``y``). The same loop with a random choice is the baseline.

Definitions (all counts are *numbers of measured rows, the initial design included*):

* top-k % rows: ``y >= quantile(y_pool, 1 - k/100)`` (linear interpolation; always >= 1 row, the
  maximum; ties at the threshold all count).
* ``experiments_top1`` / ``experiments_top5``: the number of rows measured when the first top-1 %
  / top-5 % row is measured ("time to find one of the best"). With ``batch_size > 1`` a batch is
  counted whole (every experiment of the batch is run before any result is known).
* The initial design is drawn from rows *outside* the top 5 %, so that no campaign starts with a
  hit; the same initial rows (same order) serve every strategy of a seed (paired comparison).
* A guided campaign runs at most ``max_guided`` model-guided experiments; if a target is still
  missing it continues with random choice until found (counted, never censored, and reported
  as ``n_fallback``).
* Random baseline, analytically: after ``n0`` non-target initial rows, ``K`` targets remain among
  ``N' = N - n0`` rows; the position of the first target in a random order has
  ``P(T > t) = C(N'-K, t) / C(N', t)`` and ``E[T] = (N' + 1) / (K + 1)``; total ``n0 + T``.
* Acceleration factor (primary, fixed before any result was seen): mean experiments of the
  random baseline (analytic expectation) / mean experiments of the primary acquisition, both
  including the initial design. Median-based, simulation-based and post-initial-design
  variants are reported beside it. With ``n0`` counted on both sides the factor is bounded by
  ``E_random / (n0 + 1)``.

The surrogate is a tree ensemble from :func:`alloyml.models.make_estimator`; its uncertainty is
the spread of the per-tree predictions. Acquisitions: ``ucb`` (mean + kappa * std), ``ei``
(expected improvement over the best measured value under a normal predictive) and ``exploit``
(mean). References for acceleration factors: Rohr et al., Chem. Sci. 11 (2020) 2696; Ling et al.,
Integr. Mater. Manuf. Innov. 6 (2017) 207.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr

from alloyml.errors import ConfigError, SchemaError
from alloyml.schema import BALANCE, TARGETS

log = logging.getLogger("alloyml.backtest")

ACQUISITIONS: tuple[str, ...] = ("ucb", "ei", "exploit")
SURROGATES: tuple[str, ...] = ("rf", "et")
TOP_FRACTIONS: dict[str, float] = {"top1": 0.01, "top5": 0.05}

GROUPING_NOTE = (
    "Rows are composition + process conditions: one composition may appear in several rows "
    "with different heat treatments, so a 'discovery' is a (composition, process) pair and "
    "measuring one variant of a composition informs the model about its other variants."
)


# ----------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class DatasetSpec:
    """One backtest pool: rows of ``system`` from ``sources`` (empty = all) with ``target``."""

    name: str
    system: str
    target: str
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class SurrogateSpec:
    model: str = "rf"
    n_estimators: int = 50
    max_features: float = 0.33
    min_samples_leaf: int = 1


@dataclass(frozen=True)
class BacktestConfig:
    seed: int = 42
    n_seeds: int = 20
    n_init: int = 10
    batch_size: int = 1
    acquisitions: tuple[str, ...] = ACQUISITIONS
    primary: str = "ucb"
    kappa: float = 1.0
    max_guided: int = 200
    curve_horizon: int = 150
    surrogate: SurrogateSpec = field(default_factory=SurrogateSpec)
    n_jobs: int = 1
    datasets: dict[str, DatasetSpec] = field(default_factory=dict)


def _num(sec: dict[str, Any], key: str, default: Any, typ: type, lo: float, hi: float) -> Any:
    val = sec.get(key, default)
    ok = isinstance(val, int | float) if typ is float else isinstance(val, int)
    if isinstance(val, bool) or not ok:
        raise ConfigError(f"params.yaml: backtest.{key} must be {typ.__name__}, got {val!r}")
    if not lo <= val <= hi:
        raise ConfigError(f"params.yaml: backtest.{key} must be in [{lo}, {hi}], got {val!r}")
    return typ(val)


def backtest_params(doc: dict[str, Any]) -> BacktestConfig:
    """Validated :class:`BacktestConfig` from the ``backtest`` section (+ ``base.seed``)."""
    sec = doc.get("backtest")
    if not isinstance(sec, dict):
        raise ConfigError("params.yaml: missing section 'backtest'")
    base = doc.get("base") or {}
    seed = base.get("seed", 42)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ConfigError(f"params.yaml: base.seed must be int, got {seed!r}")
    acqs = sec.get("acquisitions", list(ACQUISITIONS))
    if not isinstance(acqs, list) or not acqs or any(a not in ACQUISITIONS for a in acqs):
        raise ConfigError(
            f"params.yaml: backtest.acquisitions must be a non-empty list of {ACQUISITIONS}, "
            f"got {acqs!r}"
        )
    primary = sec.get("primary_acquisition")
    if primary not in acqs:
        raise ConfigError(
            "params.yaml: backtest.primary_acquisition is required and must be one of "
            f"backtest.acquisitions {acqs}, got {primary!r}"
        )
    sur = sec.get("surrogate") or {}
    if not isinstance(sur, dict):
        raise ConfigError("params.yaml: backtest.surrogate must be a mapping")
    model = sur.get("model", "rf")
    if model not in SURROGATES:
        raise ConfigError(f"params.yaml: backtest.surrogate.model must be one of {SURROGATES}")
    surrogate = SurrogateSpec(
        model=model,
        n_estimators=_num(sur, "n_estimators", 50, int, 5, 2000),
        max_features=_num(sur, "max_features", 0.33, float, 0.01, 1.0),
        min_samples_leaf=_num(sur, "min_samples_leaf", 1, int, 1, 100),
    )
    raw = sec.get("datasets")
    if not isinstance(raw, dict) or not raw:
        raise ConfigError("params.yaml: backtest.datasets must be a non-empty mapping")
    datasets: dict[str, DatasetSpec] = {}
    for name, spec in raw.items():
        where = f"backtest.datasets.{name}"
        if not isinstance(spec, dict):
            raise ConfigError(f"params.yaml: {where} must be a mapping")
        system, target = spec.get("system"), spec.get("target")
        if system not in BALANCE:
            raise ConfigError(f"params.yaml: {where}.system must be one of {list(BALANCE)}")
        if target not in TARGETS:
            raise ConfigError(f"params.yaml: {where}.target must be one of {list(TARGETS)}")
        sources = spec.get("sources") or []
        if not isinstance(sources, list) or not all(isinstance(s, str) for s in sources):
            raise ConfigError(f"params.yaml: {where}.sources must be a list of source ids")
        datasets[str(name)] = DatasetSpec(str(name), system, target, tuple(sources))
    cfg = BacktestConfig(
        seed=seed,
        n_seeds=_num(sec, "n_seeds", 20, int, 1, 10_000),
        n_init=_num(sec, "n_init", 10, int, 2, 10_000),
        batch_size=_num(sec, "batch_size", 1, int, 1, 1000),
        acquisitions=tuple(acqs),
        primary=primary,
        kappa=_num(sec, "kappa", 1.0, float, 0.0, 100.0),
        max_guided=_num(sec, "max_guided", 200, int, 1, 1_000_000),
        curve_horizon=_num(sec, "curve_horizon", 150, int, 2, 1_000_000),
        surrogate=surrogate,
        n_jobs=_num(sec, "n_jobs", 1, int, 1, 64),
        datasets=datasets,
    )
    return cfg


# ------------------------------------------------------------------------------------- pool
@dataclass
class Pool:
    X: np.ndarray  # float32, C-contiguous, constant columns dropped
    y: np.ndarray
    row_uid: np.ndarray
    group_id: np.ndarray
    feature_names: list[str]
    source_id: np.ndarray | None = None


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


# ------------------------------------------------------------------------- random baseline
def random_first_hit(n_pool: int, n_targets: int, n_init: int, batch_size: int = 1) -> dict:
    """Distribution of experiments to the first target under random choice (exact).

    ``n_init`` non-target rows are measured first; the rest come in random order, in batches
    of ``batch_size`` counted whole. Returns ``mean``, ``median`` and ``cdf`` where ``cdf[t-1]``
    is P(first target found within ``t`` experiments), ``t = 1..n_pool``.
    """
    n_rest = n_pool - n_init
    if n_targets < 1 or n_rest < n_targets:
        raise ValueError("need 1 <= n_targets <= n_pool - n_init")
    # survival of the post-initial position T: P(T > t) = prod_{i<t} (n_rest-K-i)/(n_rest-i)
    t = np.arange(n_rest + 1)
    num = np.maximum(n_rest - n_targets - t[:-1], 0).astype(float)
    surv = np.concatenate([[1.0], np.cumprod(num / (n_rest - t[:-1]))])
    pmf = surv[:-1] - surv[1:]  # P(T = t), t = 1..n_rest
    pos = np.arange(1, n_rest + 1)
    counted = np.minimum(batch_size * np.ceil(pos / batch_size), n_rest).astype(int)
    pmf_counted = np.bincount(counted, weights=pmf, minlength=n_rest + 1)[1:]
    cdf_rest = np.clip(np.cumsum(pmf_counted), 0.0, 1.0)
    cdf = np.concatenate([np.zeros(n_init), cdf_rest])
    mean = n_init + float(np.sum(pos * pmf_counted))
    median = n_init + int(np.searchsorted(cdf_rest, 0.5 - 1e-12) + 1)
    return {"mean": mean, "median": float(median), "cdf": cdf}


# ------------------------------------------------------------------------------- surrogate
def fit_predict(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_query: np.ndarray,
    spec: SurrogateSpec,
    random_state: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and per-tree standard deviation of a tree ensemble at ``X_query`` (float32)."""
    from alloyml.models import make_estimator

    est = make_estimator(
        spec.model,
        random_state=random_state,
        n_jobs=1,
        n_estimators=spec.n_estimators,
        max_features=spec.max_features,
        min_samples_leaf=spec.min_samples_leaf,
    )
    est.fit(X_train, y_train)
    # per-tree predictions without re-validating X for every tree (X_query is float32 already)
    preds = np.stack([t.predict(X_query, check_input=False) for t in est.estimators_])
    return preds.mean(axis=0), preds.std(axis=0)


def acquisition_scores(
    name: str, mu: np.ndarray, sd: np.ndarray, best: float, kappa: float
) -> np.ndarray:
    """Higher is better. ``ucb``: mu + kappa sd; ``ei``: expected improvement; ``exploit``: mu."""
    if name == "exploit":
        return mu
    if name == "ucb":
        return mu + kappa * sd
    if name == "ei":
        imp = mu - best
        safe = np.where(sd > 1e-12, sd, 1.0)
        z = imp / safe
        ei = imp * ndtr(z) + safe * np.exp(-0.5 * z**2) / math.sqrt(2.0 * math.pi)
        return np.where(sd > 1e-12, ei, np.maximum(imp, 0.0))
    raise ConfigError(f"unknown acquisition {name!r}; choose from {ACQUISITIONS}")


# -------------------------------------------------------------------------------- campaign
def run_campaign(
    X: np.ndarray,
    y: np.ndarray,
    targets: dict[str, np.ndarray],
    init: np.ndarray,
    strategy: str,
    cfg: BacktestConfig,
    seed: int,
) -> dict:
    """One campaign of ``strategy`` (an acquisition or ``random``) from the rows ``init``.

    Stops when every target set has been hit (or the pool is exhausted). Returns the measured
    ``order`` (row positions), ``experiments`` per target, ``n_guided`` and ``fallback``.
    """
    n = len(y)
    rng = np.random.default_rng([seed, 7919])
    measured = np.zeros(n, bool)
    measured[init] = True
    order: list[int] = [int(i) for i in init]
    found: dict[str, int | None] = {k: None for k in targets}
    for k, mask in targets.items():  # never true with the default initial design
        if mask[init].any():
            found[k] = len(order)
    n_guided, step = 0, 0
    q = cfg.batch_size
    while any(v is None for v in found.values()) and len(order) < n:
        remaining = np.flatnonzero(~measured)
        size = min(q, len(remaining))
        if strategy == "random" or n_guided >= cfg.max_guided:
            pick = rng.choice(remaining, size=size, replace=False)
        else:
            idx = np.asarray(order)
            mu, sd = fit_predict(
                X[idx], y[idx], X[remaining], cfg.surrogate, random_state=seed * 100_003 + step
            )
            score = acquisition_scores(strategy, mu, sd, float(y[idx].max()), cfg.kappa)
            rank = np.lexsort((rng.random(len(remaining)), -score))  # random tie-break
            pick = remaining[rank[:size]]
            n_guided += size
        step += 1
        measured[pick] = True
        order.extend(int(i) for i in pick)
        for k, mask in targets.items():
            if found[k] is None and mask[pick].any():
                found[k] = len(order)  # the batch is counted whole
    return {
        "order": np.asarray(order),
        "experiments": {k: int(v) if v is not None else n for k, v in found.items()},
        "n_guided": n_guided,
        "fallback": strategy != "random" and n_guided >= cfg.max_guided,
    }


def _campaign_task(X, y, targets, init, strategy, cfg, seed) -> tuple[str, int, dict, float]:
    t0 = time.process_time()
    res = run_campaign(X, y, targets, init, strategy, cfg, seed)
    return strategy, seed, res, time.process_time() - t0


def _best_so_far_curve(order: np.ndarray, y: np.ndarray, horizon: int) -> np.ndarray:
    """Normalised best-so-far ``(max y_measured - min y) / (max y - min y)`` at t = 1..horizon.

    After a campaign stops (every target found) the last value is held, which understates the
    curve of a strategy that stops early.
    """
    lo, hi = float(y.min()), float(y.max())
    best = np.maximum.accumulate(y[order[:horizon]])
    if len(best) < horizon:
        best = np.concatenate([best, np.full(horizon - len(best), best[-1])])
    return (best - lo) / (hi - lo) if hi > lo else np.ones(horizon)


def first_hit_group_seen(order: np.ndarray, hit: int, groups: np.ndarray) -> bool:
    """True when the row measured at experiment ``hit`` shares its group with an earlier row."""
    return bool(np.isin(groups[order[hit - 1]], groups[order[: hit - 1]]))


def _counts(values: np.ndarray | None, mask: np.ndarray | None = None) -> dict[str, int]:
    if values is None:
        return {}
    v = values if mask is None else values[mask]
    names, counts = np.unique(v, return_counts=True)
    return {str(a): int(b) for a, b in zip(names, counts, strict=True)}


def _summary(values: list[int]) -> dict:
    v = np.asarray(values, dtype=float)
    return {
        "mean": float(v.mean()),
        "median": float(np.median(v)),
        "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
        "min": float(v.min()),
        "max": float(v.max()),
    }


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b > 0 else float("nan")


def run_backtest(pool: Pool, cfg: BacktestConfig, dataset: str, target: str) -> dict:
    """Run every strategy for ``cfg.n_seeds`` seeds; the report as a JSON-ready dict."""
    from joblib import Parallel, delayed

    t_start = time.perf_counter()
    X, y = pool.X, pool.y
    n = len(y)
    targets = {k: top_mask(y, f) for k, f in TOP_FRACTIONS.items()}
    seeds = [cfg.seed + i for i in range(cfg.n_seeds)]
    inits = {
        s: initial_design(targets["top5"], cfg.n_init, np.random.default_rng([s, 104729]))
        for s in seeds
    }
    strategies = ["random", *cfg.acquisitions]
    tasks = [(st, s) for st in strategies for s in seeds]
    out = Parallel(n_jobs=cfg.n_jobs)(
        delayed(_campaign_task)(X, y, targets, inits[s], st, cfg, s) for st, s in tasks
    )
    results: dict[str, dict[int, dict]] = {st: {} for st in strategies}
    seconds: dict[str, float] = dict.fromkeys(strategies, 0.0)
    for st, s, res, sec in out:
        results[st][s] = res
        seconds[st] += sec

    H = min(cfg.curve_horizon, n)
    analytic = {
        k: random_first_hit(n, int(m.sum()), cfg.n_init, cfg.batch_size) for k, m in targets.items()
    }
    strat_report: dict[str, dict] = {}
    curves: dict[str, dict[str, list[float]]] = {}
    t_axis = np.arange(1, H + 1)
    for st in strategies:
        runs = [results[st][s] for s in seeds]
        rep: dict[str, Any] = {"seeds": seeds}
        for k in targets:
            vals = [r["experiments"][k] for r in runs]
            rep[f"experiments_{k}"] = vals
            rep[k] = _summary(vals)
            # was the first hit a sibling (same composition group) of an already measured row?
            rep[f"first_{k}_group_seen"] = float(
                np.mean(
                    [
                        first_hit_group_seen(r["order"], r["experiments"][k], pool.group_id)
                        for r in runs
                    ]
                )
            )
        rep["n_fallback"] = int(sum(r["fallback"] for r in runs))
        rep["mean_guided_experiments"] = float(np.mean([r["n_guided"] for r in runs]))
        rep["cpu_s"] = round(seconds[st], 2)  # CPU time of the worker, all seeds
        strat_report[st] = rep
        bsf = np.mean([_best_so_far_curve(r["order"], y, H) for r in runs], axis=0)
        curves[st] = {"best_so_far": [round(float(v), 4) for v in bsf]}
        for k in targets:
            hits = np.asarray([r["experiments"][k] for r in runs])
            frac = (hits[None, :] <= t_axis[:, None]).mean(axis=1)
            curves[st][f"found_{k}"] = [round(float(v), 4) for v in frac]
    curves["random_analytic"] = {
        f"found_{k}": [round(float(v), 4) for v in analytic[k]["cdf"][:H]] for k in targets
    }

    # acceleration factors: random / acquisition (larger = faster than random)
    rng_boot = np.random.default_rng([cfg.seed, 31337])
    boot_idx = rng_boot.integers(0, len(seeds), size=(2000, len(seeds)))
    accel: dict[str, dict] = {}
    for st in cfg.acquisitions:
        accel[st] = {}
        for k in targets:
            acq = np.asarray(strat_report[st][f"experiments_{k}"], dtype=float)
            rnd = np.asarray(strat_report["random"][f"experiments_{k}"], dtype=float)
            e_rand = analytic[k]["mean"]
            boot = e_rand / acq[boot_idx].mean(axis=1)
            accel[st][k] = {
                "mean_vs_random_analytic": _ratio(e_rand, acq.mean()),
                "ci90_mean_vs_random_analytic": [
                    float(np.quantile(boot, 0.05)),
                    float(np.quantile(boot, 0.95)),
                ],
                "median_vs_random_analytic": _ratio(analytic[k]["median"], float(np.median(acq))),
                "mean_vs_random_simulated": _ratio(rnd.mean(), acq.mean()),
                "median_vs_random_simulated": _ratio(float(np.median(rnd)), float(np.median(acq))),
                "post_init_mean_vs_random_analytic": _ratio(
                    e_rand - cfg.n_init, acq.mean() - cfg.n_init
                ),
                "upper_bound_mean_vs_random_analytic": _ratio(e_rand, cfg.n_init + 1),
            }

    # a large cheap random simulation as a check of the analytic expectation
    many = 2000
    rng_many = np.random.default_rng([cfg.seed, 27449])
    check = {}
    for k, m in targets.items():
        rest = n - cfg.n_init
        hits = np.empty(many)
        for i in range(many):
            perm = rng_many.permutation(rest) < int(m.sum())  # targets are positions < K
            pos = int(np.argmax(perm)) + 1
            hits[i] = cfg.n_init + min(cfg.batch_size * math.ceil(pos / cfg.batch_size), rest)
        check[k] = {"mean": float(hits.mean()), "sem": float(hits.std(ddof=1) / math.sqrt(many))}

    primary = accel[cfg.primary]
    report = {
        "dataset": dataset,
        "target": target,
        "n_pool": n,
        "n_groups": int(len(np.unique(pool.group_id))),
        "n_features": int(X.shape[1]),
        "n_top1": int(targets["top1"].sum()),
        "n_top5": int(targets["top5"].sum()),
        "n_top1_groups": int(len(np.unique(pool.group_id[targets["top1"]]))),
        "n_top5_groups": int(len(np.unique(pool.group_id[targets["top5"]]))),
        "sources": _counts(pool.source_id),
        "top1_sources": _counts(pool.source_id, targets["top1"]),
        "top5_sources": _counts(pool.source_id, targets["top5"]),
        "threshold_top1": float(np.quantile(y, 0.99)),
        "threshold_top5": float(np.quantile(y, 0.95)),
        "y_max": float(y.max()),
        "n_seeds": cfg.n_seeds,
        "n_init": cfg.n_init,
        "batch_size": cfg.batch_size,
        "max_guided": cfg.max_guided,
        "kappa": cfg.kappa,
        "surrogate": asdict(cfg.surrogate),
        "primary_acquisition": cfg.primary,
        "acceleration_factor_top1": primary["top1"]["mean_vs_random_analytic"],
        "acceleration_factor_top5": primary["top5"]["mean_vs_random_analytic"],
        "acceleration_factor_definition": (
            "E[experiments, random] (exact, analytic) / mean experiments of the primary "
            "acquisition over seeds; experiments = rows measured when the first top-k % row is "
            "measured, the initial design included on both sides"
        ),
        "acceleration": accel,
        "acquisition": {st: strat_report[st] for st in cfg.acquisitions},
        "random": strat_report["random"],
        "random_analytic": {
            k: {"mean": analytic[k]["mean"], "median": analytic[k]["median"]} for k in targets
        },
        "random_simulation_check": {"n": many, **check},
        "curves": {"t": t_axis.tolist(), **curves},
        "notes": {
            "grouping": GROUPING_NOTE,
            "initial_design": (
                f"{cfg.n_init} random rows outside the top 5 %, identical for every strategy "
                "of a seed"
            ),
            "counting": (
                "experiments include the initial design; batches are counted whole; after "
                "max_guided guided experiments a campaign continues at random (n_fallback)"
            ),
            "curves": "best-so-far is held after a campaign stops (both targets found)",
            "group_seen": (
                "first_topk_group_seen: fraction of seeds whose first hit shares its composition "
                "group_id with a row measured earlier in the campaign"
            ),
        },
        "runtime_s": round(time.perf_counter() - t_start, 1),  # wall clock, this dataset
        "cpu_s": round(sum(seconds.values()), 1),  # CPU of every campaign (all workers)
    }
    return report


# ---------------------------------------------------------------------------------- plots
def plot_backtest(report: dict, path: str | Path) -> Path:
    """Best-so-far and P(found) curves of every strategy, with the random baseline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = report["curves"]
    t = np.asarray(curves["t"])
    strategies = ["random", *report["acquisition"]]
    colors = {"random": "0.4", "ucb": "tab:blue", "ei": "tab:orange", "exploit": "tab:green"}
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for st in strategies:
        c = colors.get(st, None)
        label = f"{st} (primary)" if st == report["primary_acquisition"] else st
        axes[0].plot(t, curves[st]["best_so_far"], color=c, label=label)
        for ax, k in zip(axes[1:], ("top1", "top5"), strict=True):
            ax.step(t, curves[st][f"found_{k}"], where="post", color=c, label=label)
    for ax, k in zip(axes[1:], ("top1", "top5"), strict=True):
        ax.plot(t, curves["random_analytic"][f"found_{k}"], "k--", lw=1, label="random (analytic)")
        af = report[f"acceleration_factor_{k}"]
        ax.set_title(
            f"{k.replace('top', 'top-')} % found ({report[f'n_{k}']} rows); "
            f"AF[{report['primary_acquisition']}] = {af:.2f}",
            fontsize=9,
        )
        ax.set_ylabel("fraction of seeds")
        ax.set_ylim(-0.02, 1.02)
    axes[0].set_ylabel("best so far (normalised to pool range)")
    axes[0].set_title(
        f"{report['dataset']} ({report['target']}): N={report['n_pool']}, "
        f"{report['n_seeds']} seeds, n_init={report['n_init']}",
        fontsize=9,
    )
    for ax in axes:
        ax.set_xlabel("experiments (initial design included)")
        ax.axvline(report["n_init"], color="0.8", lw=0.8)
        ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return path
