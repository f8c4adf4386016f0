"""Training: model selection by grouped CV, nested tuning, honest protocols, calibrated intervals.

For one system and one target:

1. **Screen** every candidate family of ``train.models`` with default hyper-parameters under the
   ``grouped`` protocol (out-of-fold predictions, R² / MAE / RMSE / MAPE).
2. **Select** the champion family by the rule of ``train.selection``: each protocol listed there
   (``grouped``: a new alloy is a new composition; ``shift``: the alloy comes from a source, or
   for Mg an alloy family, the model has not seen) scores every family by its out-of-fold MAE
   relative to the best family under that protocol; the champion has the smallest mean relative
   MAE. With ``[grouped]`` alone this is the grouped-CV MAE rule.
3. **Tune** the champion with Optuna when it has a search space and ``train.tuning.n_trials``
   > 0, *nested*: inside each outer grouped fold a study is run with inner grouped CV on the
   training part only, so the outer score of the tuned pipeline never sees its test fold.
   The tuned pipeline replaces the default one only if its nested score is better.
4. **Evaluate** the champion under every protocol (random, grouped, leave-one-source-out,
   leave-one-family-out, extrapolation) with intervals calibrated inside each outer training
   part: the reported coverage and width are out-of-sample. Calibration is Mondrian by domain
   (:mod:`alloyml.modeling.uncertainty`): inner grouped CV gives the in-domain quantile, inner *shift*
   CV (sources held out when the training part has at least three sources with
   ``loso_min_rows`` rows each, and then alloy families held out as well; else alloy families
   alone) gives the out-of-domain one, so an alloy from an unseen lab or family that the domain
   model flags gets an interval measured on such alloys. The domain threshold of an inner fold is the outer training part's.
   Every interval is also calibrated at the frontier: a prediction at or above the best
   training value less the gap by which the extrapolation split of the training part fell
   short of its own best training value on the alloys stronger than any it trained on gets an
   upper bound at least as high as that split's residuals call for
   (:meth:`ConformalInterval.fit_frontier`).
Every fit (screening, tuning, protocols, calibration, final model) weights a row by
``n_s ** -train.source_weight_power``, ``n_s`` the rows of its source among the target's rows
(:func:`source_weights`): a compilation of a thousand rows counts for less than a thousand
independent labs, and a source of seventy still counts.

5. **Final fit** on all rows; the interval is calibrated on grouped out-of-fold residuals of all
   rows (in domain), on the leave-one-source-out and leave-one-family-out residuals of the
   protocol runs (out of domain; the latter alone where sources are not the shift CV) and, at the frontier, on the extrapolation protocol's residuals;
   the domain threshold on grouped held-out k-NN distances.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
from sklearn.inspection import permutation_importance

from alloyml.config import DEFAULT_ALPHA
from alloyml.headline import target_headline
from alloyml.modeling.bundle import Bundle
from alloyml.modeling.models import (
    BLENDS,
    SEARCH_SPACES,
    fit_weighted,
    make_model,
    predict_with_spread,
    suggest,
)
from alloyml.modeling.uncertainty import (
    ConformalInterval,
    Domain,
    ShiftCalibration,
    SpreadInterval,
)
from alloyml.modeling.validation import (
    extrapolation_split,
    grouped_splits,
    loso_splits,
    random_splits,
    regression_metrics,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """The ``train`` section of ``params.yaml`` (see :func:`alloyml.params.train_params`)."""

    seed: int = 42
    models: tuple[str, ...] = ("mean", "ridge", "rf", "et", "gbr", "xgb", "gp")
    gp_max_rows: int = 600
    folds: int = 5
    random_repeats: int = 1
    inner_folds: int = 3
    extrapolation_quantile: float = 0.9
    alpha: float = DEFAULT_ALPHA
    normalised_intervals: bool = True
    normalised_min_groups: int = 30
    #: sample weights against one compilation dominating (:func:`source_weights`); 0: none
    source_weight_power: float = 0.0
    tuning_trials: int = 6
    tuning_models: tuple[str, ...] = ("xgb", "gbr")
    domain_k: int = 5
    domain_level: float = 0.95
    min_rows: int = 40
    n_jobs: int = 2
    learning_curve_fractions: tuple[float, ...] = (0.25, 0.5, 1.0)
    domain_min_support: int = 5
    shift_folds: int = 3
    loso_min_rows: int = 20
    #: protocols of the champion rule (``grouped``, ``shift``); see the module docstring
    selection: tuple[str, ...] = ("grouped",)
    #: set by :func:`train_target` from its features (the schedule imputer and the domain's
    #: process key read them); not a parameter
    feature_names: tuple[str, ...] = ()


@dataclass
class ProtocolResult:
    metrics: dict[str, float]
    y: np.ndarray
    pred: np.ndarray
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None
    in_domain: np.ndarray | None = None
    test_idx: np.ndarray | None = None
    spread: np.ndarray | None = None  # the fold models' own spread at each row (or None)


@dataclass
class TargetResult:
    """Everything training one target produced."""

    target: str
    n_rows: int
    screening: dict[str, dict[str, dict[str, float]]]  # model -> protocol -> metrics
    champion: str
    champion_params: dict[str, Any]
    tuned: bool
    protocols: dict[str, ProtocolResult]  # champion under each protocol, with intervals
    bundle: Bundle
    calibration_curve: list[tuple[float, float]]  # (nominal, empirical) on grouped protocol
    learning_curve: list[tuple[float, float]]  # (train fraction, grouped MAE)
    importance: dict[str, float]
    timings: dict[str, float] = field(default_factory=dict)


def source_weights(sources: np.ndarray, power: float) -> np.ndarray | None:
    """Sample weight ``n_s ** -power`` of each row, ``n_s`` the number of rows of its source.

    ``power`` 0 weights every row alike and 1 every source alike; in between, a source's total
    weight grows as ``n_s ** (1 - power)``. ``None`` (unweighted) when ``power`` is 0 or every
    row comes from one source, where the weights would be equal anyway.
    """
    _, inv, counts = np.unique(np.asarray(sources), return_inverse=True, return_counts=True)
    if power == 0 or len(counts) < 2:
        return None
    return counts[inv].astype(float) ** -power


def fit_model(
    name: str, params: dict[str, Any], X: np.ndarray, y: np.ndarray, cfg: TrainConfig,
    w: np.ndarray | None = None,
) -> Any:  # fmt: skip
    """A fitted :func:`make_model`; ``w`` (the rows' :func:`source_weights`, or None) is rescaled
    to mean 1 over the rows fitted."""
    est = make_model(name, cfg.seed, cfg.n_jobs, cfg.feature_names, **params)
    return fit_weighted(est, X, y, None if w is None else w / w.mean())


def oof_predictions(
    name: str,
    params: dict[str, Any],
    X: np.ndarray,
    y: np.ndarray,
    splits,
    cfg: TrainConfig,
    w: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold predictions over ``splits``; returns (test indices, predictions).

    ``w``: sample weights of the rows of ``X`` (:func:`source_weights`) or None.
    Shared with the paper protocols (:mod:`alloyml.evaluation.paper_protocols`).
    """
    idx, preds = [], []
    for tr, te in splits:
        est = fit_model(name, params, X[tr], y[tr], cfg, None if w is None else w[tr])
        idx.append(te)
        preds.append(est.predict(X[te]))
    return np.concatenate(idx), np.concatenate(preds)


def _support_groups(feature_names: tuple[str, ...]) -> tuple[tuple[int, ...], ...]:
    """One-hot column groups of the domain's process key: family, route family, temper class."""
    out = []
    for prefix in ("family_", "proc_route_family_", "proc_temper_"):
        cols = tuple(j for j, f in enumerate(feature_names) if f.startswith(prefix))
        if cols:
            out.append(cols)
    return tuple(out)


def _interval(cfg: TrainConfig) -> ConformalInterval:
    return ConformalInterval(
        alpha=cfg.alpha, normalised=cfg.normalised_intervals, min_groups=cfg.normalised_min_groups
    )


def _domain(cfg: TrainConfig) -> Domain:
    return Domain(
        k=cfg.domain_k,
        level=cfg.domain_level,
        support_groups=_support_groups(cfg.feature_names),
        min_support=cfg.domain_min_support,
    )


def shift_labels(sources: np.ndarray, families: np.ndarray, min_rows: int) -> np.ndarray:
    """Labels of the shift CV: sources when at least three have ``min_rows`` rows, else families."""
    names, counts = np.unique(np.asarray(sources), return_counts=True)
    return np.asarray(sources) if int(np.sum(counts >= min_rows)) >= 3 else np.asarray(families)


def _shift_oof(
    name: str,
    params: dict[str, Any],
    X,
    y,
    labels,
    threshold: float,
    cfg: TrainConfig,
    seed: int,
    w: np.ndarray | None = None,
) -> ShiftCalibration | None:
    """Out-of-fold residuals with whole shift groups held out, and their domain flags."""
    if len(np.unique(labels)) < 2:
        return None
    splits = grouped_splits(labels, cfg.shift_folds, seed)
    te_all, p_all, d_all = [], [], []
    for tr, te in splits:
        est = fit_model(name, params, X[tr], y[tr], cfg, None if w is None else w[tr])
        dm = _domain(cfg).fit(X[tr])
        dm.threshold_ = threshold
        te_all.append(te)
        p_all.append(est.predict(X[te]))
        d_all.append(dm.in_domain(X[te]))
    te = np.concatenate(te_all)
    labels = np.asarray(labels)
    return ShiftCalibration(
        X[te], y[te], np.concatenate(p_all), np.concatenate(d_all), labels[te], labels
    )


def _heldout_flags(X: np.ndarray, splits, threshold: float, cfg: TrainConfig) -> np.ndarray:
    """Domain flag of every held-out row of ``splits`` (rows in split order) at ``threshold``."""
    out = []
    for tr, te in splits:
        dm = _domain(cfg).fit(X[tr])
        dm.threshold_ = threshold
        out.append(dm.in_domain(X[te]))
    return np.concatenate(out)


def _score(name: str, params: dict[str, Any], X, y, splits, cfg, w=None) -> dict[str, float]:
    te, p = oof_predictions(name, params, X, y, splits, cfg, w)
    return regression_metrics(y[te], p)


def _tune(
    name: str,
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    cfg: TrainConfig,
    seed: int,
    w: np.ndarray | None = None,
) -> dict[str, Any]:
    """Optuna TPE over the family's space, scored by inner grouped-CV MAE on (X, y) only."""
    splits = grouped_splits(groups, cfg.inner_folds, seed)

    def objective(trial: optuna.Trial) -> float:
        params = suggest(trial, name)
        return _score(name, params, X, y, splits, cfg, w)["mae"]

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=cfg.tuning_trials)
    return dict(study.best_params)


def _fit_frontier(
    iv: ConformalInterval,
    name: str,
    params: dict[str, Any],
    X,
    y,
    groups,
    cfg: TrainConfig,
    w: np.ndarray | None = None,
) -> None:
    """Calibrate ``iv`` at the frontier by the extrapolation split of the rows it was fit on."""

    def fit_predict(tr: np.ndarray, te: np.ndarray) -> np.ndarray:
        return oof_predictions(name, params, X, y, [(tr, te)], cfg, w)[1]

    iv.calibrate_frontier(y, groups, cfg.extrapolation_quantile, fit_predict)


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation (nan when fewer than 3 rows or a constant side)."""
    from scipy.stats import spearmanr

    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def _top_spearman(y: np.ndarray, pred: np.ndarray) -> float:
    """Spearman rank correlation of predictions with measurements (the top-decile rows)."""
    return _spearman(y, pred)


def _heldout_distances(X: np.ndarray, splits, cfg: TrainConfig) -> np.ndarray:
    out = []
    for tr, te in splits:
        dm = Domain(k=cfg.domain_k, level=cfg.domain_level).fit(X[tr])
        out.append(dm.distance(X[te]))
    return np.concatenate(out)


def _protocol_with_intervals(
    name: str,
    params: dict[str, Any],
    X,
    y,
    groups,
    splits,
    cfg: TrainConfig,
    keep_scores: bool = False,
    shift_labels_: tuple[np.ndarray, ...] = (),
    w: np.ndarray | None = None,
) -> tuple[ProtocolResult, list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """Champion under one protocol: point predictions, conformal intervals and domain flags.

    Each outer training part calibrates its own interval by inner grouped CV, so the coverage
    measured on the outer test part is out-of-sample. ``shift_labels_``: one label array per kind
    of shift (sources, families) whose held-out residuals calibrate the out-of-domain quantile.
    """
    ys, ps, los, his, dom, tes, scores = [], [], [], [], [], [], []
    spreads: list[np.ndarray | None] = []
    for k, (tr, te) in enumerate(splits):
        w_tr = None if w is None else w[tr]
        est = fit_model(name, params, X[tr], y[tr], cfg, w_tr)
        pred, spread = predict_with_spread(est, X[te])
        spreads.append(spread)
        inner = grouped_splits(groups[tr], cfg.inner_folds, cfg.seed + 1000 + k)
        ite, ip = oof_predictions(name, params, X[tr], y[tr], inner, cfg, w_tr)
        order = np.argsort(ite)
        oof = ip[order]
        dm = _domain(cfg).fit(X[tr])
        dm.calibrate(_heldout_distances(X[tr], inner, cfg))
        flags = np.empty(len(tr), dtype=bool)
        flags[ite] = _heldout_flags(X[tr], inner, dm.threshold_, cfg)
        shift = [
            _shift_oof(name, params, X[tr], y[tr], lab[tr], dm.threshold_, cfg, cfg.seed + k, w_tr)
            for lab in shift_labels_
        ]
        iv = _interval(cfg).fit(
            X[tr],
            y[tr],
            oof,
            in_domain_cal=flags,
            shift=[c for c in shift if c is not None],
            groups=groups[tr],
        )
        _fit_frontier(iv, name, params, X[tr], y[tr], groups[tr], cfg, w_tr)
        in_dom = dm.in_domain(X[te])
        lo, hi = iv.predict_interval(X[te], pred, in_dom)
        ys.append(y[te])
        ps.append(pred)
        los.append(lo)
        his.append(hi)
        dom.append(in_dom)
        tes.append(te)
        if keep_scores:
            s_te = (
                iv.half_width(X[te]) / iv.q_
                if np.isfinite(iv.q_) and iv.q_ > 0
                else np.ones(len(te))
            )
            scores.append((iv.scores_, s_te, np.abs(y[te] - pred)))
    y_all, p_all = np.concatenate(ys), np.concatenate(ps)
    lo_all, hi_all, d_all = np.concatenate(los), np.concatenate(his), np.concatenate(dom)
    m = regression_metrics(y_all, p_all)
    inside = (y_all >= lo_all) & (y_all <= hi_all)
    m |= {
        "coverage": float(inside.mean()),
        "interval_width": float(np.mean(hi_all - lo_all)),
        "in_domain_rate": float(d_all.mean()),
        "coverage_in_domain": float(inside[d_all].mean()) if d_all.any() else float("nan"),
        "coverage_out_of_domain": float(inside[~d_all].mean()) if (~d_all).any() else float("nan"),
    }
    sp_all = None if any(v is None for v in spreads) else np.concatenate(spreads)
    if sp_all is not None:  # does the model's own spread rank its errors?
        m["spread_residual_spearman"] = _spearman(np.abs(y_all - p_all), sp_all)
    res = ProtocolResult(m, y_all, p_all, lo_all, hi_all, d_all, np.concatenate(tes), sp_all)
    return res, scores


def _calibration_curve(scores, alphas=(0.5, 0.4, 0.3, 0.2, 0.1, 0.05)) -> list[tuple[float, float]]:
    from alloyml.modeling.uncertainty import conformal_quantile

    curve = []
    for a in alphas:
        hit = n = 0
        for cal, s_te, abs_err in scores:
            q = conformal_quantile(cal, a)
            hit += int(np.sum(abs_err <= q * s_te))
            n += len(abs_err)
        curve.append((1.0 - a, hit / n if n else float("nan")))
    return curve


def select_champion(
    screening: dict[str, dict[str, dict[str, float]]], protocols: tuple[str, ...]
) -> str:
    """The family with the smallest mean MAE relative to the best family of each protocol.

    >>> select_champion({"a": {"grouped": {"mae": 10.0}, "shift": {"mae": 30.0}},
    ...                  "b": {"grouped": {"mae": 11.0}, "shift": {"mae": 20.0}}},
    ...                 ("grouped", "shift"))
    'b'
    >>> select_champion({"a": {"grouped": {"mae": 10.0}}, "b": {"grouped": {"mae": 11.0}}},
    ...                 ("grouped",))
    'a'
    """
    protos = [p for p in protocols if all(p in screening[m] for m in screening)]
    best = {p: min(screening[m][p]["mae"] for m in screening) for p in protos}

    def score(m: str) -> float:
        return float(np.mean([screening[m][p]["mae"] / max(best[p], 1e-12) for p in protos]))

    return min(screening, key=score)


def train_target(
    X: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    sources: np.ndarray,
    feature_names: list[str],
    target: str,
    cfg: TrainConfig,
    families: np.ndarray | None = None,
) -> TargetResult:
    """Run steps 1-5 of the module docstring for one target (rows with ``y`` present).

    Args:
        families: alloy family of each row (:mod:`alloyml.families`); enables the ``family``
            protocol and the family-based shift calibration.
    """
    from dataclasses import replace

    cfg = replace(cfg, feature_names=tuple(feature_names))
    fams = np.asarray(families) if families is not None else np.asarray(sources)
    shift_lab = shift_labels(sources, fams, cfg.loso_min_rows)
    # without families the labels are the sources, whatever their number
    by_source = families is None or shift_lab is not fams
    # the kinds of shift the out-of-domain intervals are calibrated on: held-out sources and,
    # where sources are the shift CV and families are known, held-out families as well
    shift_kinds = [("loso" if by_source else "family", shift_lab)]
    if by_source and families is not None:
        shift_kinds.append(("family", fams))
    w = source_weights(sources, cfg.source_weight_power)
    t0 = time.perf_counter()
    n = len(y)
    timings: dict[str, float] = {}
    rnd = random_splits(n, cfg.folds, cfg.random_repeats, cfg.seed)
    grp = grouped_splits(groups, cfg.folds, cfg.seed)
    screening: dict[str, dict[str, dict[str, float]]] = {}
    oof_cache: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}

    def screen(name: str, proto: str, splits) -> dict[str, float]:
        members = BLENDS.get(name, ())
        if members and all((m, proto) in oof_cache for m in members):
            # a blend's members are the screened families with the same seed on the same
            # folds: its out-of-fold predictions are the mean of theirs, without refitting
            te = oof_cache[(members[0], proto)][0]
            p = np.average(np.column_stack([oof_cache[(m, proto)][1] for m in members]), axis=1)
        else:
            te, p = oof_predictions(name, {}, X, y, splits, cfg, w)
        oof_cache[(name, proto)] = (te, p)
        return regression_metrics(y[te], p)

    # blends last, so that their members' predictions are there to reuse
    for name in sorted(cfg.models, key=lambda m: m in BLENDS):
        if name == "gp" and n > cfg.gp_max_rows:
            log.info("%s: skipping gp (%d rows > gp_max_rows)", target, n)
            continue
        t = time.perf_counter()
        screening[name] = {"grouped": screen(name, "grouped", grp)}
        timings[f"screen_{name}"] = time.perf_counter() - t
        log.info(
            "%s %s grouped %s",
            target,
            name,
            {k: round(v, 3) for k, v in screening[name]["grouped"].items()},
        )
    if "shift" in cfg.selection:
        shift_splits = loso_splits(sources if by_source else fams, cfg.loso_min_rows)
        for name in screening:
            t = time.perf_counter()
            screening[name]["shift"] = screen(name, "shift", shift_splits)
            timings[f"screen_{name}_shift"] = time.perf_counter() - t
    champion = select_champion(screening, cfg.selection)
    params: dict[str, Any] = {}
    tuned = False
    if cfg.tuning_trials > 0 and champion in cfg.tuning_models and champion in SEARCH_SPACES:
        t = time.perf_counter()
        idx, preds = [], []
        for k, (tr, te) in enumerate(grp):
            w_tr = None if w is None else w[tr]
            best = _tune(champion, X[tr], y[tr], groups[tr], cfg, cfg.seed + k, w_tr)
            est = fit_model(champion, best, X[tr], y[tr], cfg, w_tr)
            idx.append(te)
            preds.append(est.predict(X[te]))
        nested = regression_metrics(y[np.concatenate(idx)], np.concatenate(preds))
        screening[f"{champion}_tuned"] = {"grouped": nested}
        timings["tuning_nested"] = time.perf_counter() - t
        if nested["mae"] < screening[champion]["grouped"]["mae"]:
            params = _tune(champion, X, y, groups, cfg, cfg.seed, w)
            tuned = True
        log.info("%s tuned %s nested grouped MAE %.3f (default %.3f) -> %s", target, champion,
                 nested["mae"], screening[champion]["grouped"]["mae"], "tuned" if tuned else "default")  # fmt: skip
    t = time.perf_counter()
    protocols: dict[str, ProtocolResult] = {}
    scores_grp: list = []
    ext_splits = extrapolation_split(y, groups, cfg.extrapolation_quantile)
    for proto, splits in (
        ("random", rnd),
        ("grouped", grp),
        ("loso", loso_splits(sources, cfg.loso_min_rows)),
        ("family", loso_splits(fams, cfg.loso_min_rows) if families is not None else []),
        ("extrapolation", ext_splits),
    ):
        if not splits:
            continue
        res, sc = _protocol_with_intervals(
            champion,
            params,
            X,
            y,
            groups,
            splits,
            cfg,
            keep_scores=proto == "grouped",
            shift_labels_=tuple(lab for _, lab in shift_kinds),
            w=w,
        )
        if proto == "extrapolation":
            res.metrics["spearman"] = _top_spearman(res.y, res.pred)
        protocols[proto] = res
        if proto == "grouped":
            scores_grp = sc
    timings["protocols"] = time.perf_counter() - t
    # final model, interval and domain on all rows
    est = fit_model(champion, params, X, y, cfg, w)
    g = protocols["grouped"]  # out-of-fold predictions of the champion over the grouped folds
    oof = np.empty(n)
    oof[g.test_idx] = g.pred
    g_dom = np.empty(n, dtype=bool)
    g_dom[g.test_idx] = g.in_domain
    # shifted rows: the protocols that hold out what the shift CVs hold out (sources, families)
    shift = [
        ShiftCalibration(X[sh.test_idx], sh.y, sh.pred, sh.in_domain, lab[sh.test_idx], lab)
        for proto, lab in shift_kinds
        if (sh := protocols.get(proto)) is not None
    ]
    iv = _interval(cfg).fit(X, y, oof, in_domain_cal=g_dom, shift=shift, groups=groups)
    ext = protocols.get("extrapolation")
    if ext is not None:  # the protocol's own held-out top decile calibrates the frontier
        iv.fit_frontier(y, ext.y, ext.pred, y[ext_splits[0][0]])
    dm = _domain(cfg).fit(X).calibrate(_heldout_distances(X, grp, cfg))
    # exploration width of the campaigns: normalised by the model's own spread, calibrated on
    # the grouped out-of-fold predictions (SpreadInterval; None for a model without a spread)
    explore: dict[str, float] = {}
    if g.spread is not None:
        sp = SpreadInterval(alpha=cfg.alpha).fit(g.y, g.pred, g.spread)
        explore = {"q_spread": sp.q_, "spread_floor": sp.floor_}
    # learning curve (grouped CV, training parts subsampled)
    rng = np.random.default_rng(cfg.seed)
    lc = []
    for frac in cfg.learning_curve_fractions:
        if frac >= 1.0:
            lc.append((1.0, protocols["grouped"].metrics["mae"]))
            continue
        sub = [(rng.permutation(tr)[: max(5, int(frac * len(tr)))], te_) for tr, te_ in grp]
        lc.append((frac, _score(champion, params, X, y, sub, cfg, w)["mae"]))
    # permutation importance on the first grouped fold
    # permutation importance on (at most 300 rows of) the first grouped test fold
    tr0, te0 = grp[0]
    te0 = np.random.default_rng(cfg.seed).permutation(te0)[:300]
    e0 = fit_model(champion, params, X[tr0], y[tr0], cfg, None if w is None else w[tr0])
    pi = permutation_importance(
        e0, X[te0], y[te0], n_repeats=2, random_state=cfg.seed, scoring="neg_mean_absolute_error"
    )
    order = np.argsort(pi.importances_mean)[::-1][:25]
    importance = {feature_names[i]: float(pi.importances_mean[i]) for i in order}
    meta = {
        "target": target,
        "model": champion,
        "params": params,
        "tuned": tuned,
        "features": list(feature_names),
        "alpha": cfg.alpha,
        "q_in": float(iv.q_),
        "q_out": float(iv.q_out_),
        "frontier": float(getattr(iv, "frontier_", float("inf"))),
        "q_frontier": float(getattr(iv, "q_frontier_", 0.0)),
        **explore,
        "shift_calibration": "+".join(proto for proto, _ in shift_kinds),
        "source_weight_power": cfg.source_weight_power if w is not None else 0.0,
        "n_rows": int(n),
        "seed": cfg.seed,
        "metrics": {k: v.metrics for k, v in protocols.items()},
    }
    bundle = Bundle(estimator=est, interval=iv, domain=dm, meta=meta)
    timings["total"] = time.perf_counter() - t0
    return TargetResult(
        target=target,
        n_rows=n,
        screening=screening,
        champion=champion,
        champion_params=params,
        tuned=tuned,
        protocols=protocols,
        bundle=bundle,
        calibration_curve=_calibration_curve(scores_grp) if scores_grp else [],
        learning_curve=lc,
        importance=importance,
        timings=timings,
    )


def _pip_requirements() -> list[str]:
    from importlib.metadata import version

    pkgs = ("scikit-learn", "xgboost-cpu", "skops", "numpy", "pandas", "mlflow")
    out = []
    for p in pkgs:
        try:
            out.append(f"{p}=={version(p)}")
        except Exception:
            continue
    return out


def train_system(
    system: str,
    features: Any,
    processed: Any,
    targets: tuple[str, ...],
    cfg: TrainConfig,
    preset: str,
    models_dir: Any,
    plots_dir: Any,
    tracker: Any = None,
    data_source: str = "",
    data_digest: str = "",
) -> dict[str, Any]:
    """Train every target of ``system``; save bundles and plots; log to ``tracker`` if given.

    Args:
        features: frame with ``row_uid``, ``group_id``, the targets and the preset's features.
        processed: the processed table (for ``source_id`` and provenance), joined on ``row_uid``.
        models_dir: ``models/<system>``; each target goes to ``<models_dir>/<target>/``.
        plots_dir: where PNGs go (``<target>_parity.png`` ...).

    Returns:
        The metrics document written to ``reports/metrics/<system>.json``.
    """
    from pathlib import Path

    from alloyml.features import feature_labels
    from alloyml.modeling.bundle import save_bundle
    from alloyml.reporting import plots

    feats = feature_labels(preset)
    missing = [f for f in feats if f not in features.columns]
    if missing:
        from alloyml.errors import AlloyMLError

        raise AlloyMLError(
            f"features table lacks {len(missing)} columns of preset {preset!r}, e.g. {missing[:5]}"
        )
    from alloyml.families import alloy_family
    from alloyml.process import route_family

    fam = alloy_family(processed, system, [route_family(r) for r in processed["route"].astype(object).where(processed["route"].notna(), None)])  # fmt: skip
    prov = processed[["row_uid", "source_id"]].assign(family=fam.astype(str).to_numpy())
    df = features.merge(prov, on="row_uid", how="left", validate="one_to_one")
    models_dir, plots_dir = Path(models_dir), Path(plots_dir)
    doc: dict[str, Any] = {}
    for target in targets:
        sub = df.loc[df[target].notna()].reset_index(drop=True)
        if len(sub) < cfg.min_rows:
            log.warning(
                "%s/%s: only %d rows (< min_rows %d); not trained",
                system,
                target,
                len(sub),
                cfg.min_rows,
            )
            doc[target] = {"skipped": f"{len(sub)} rows < min_rows {cfg.min_rows}"}
            continue
        X = sub[feats].to_numpy(dtype=float)
        if not np.isfinite(X).all():
            from alloyml.errors import AlloyMLError

            bad = [feats[j] for j in np.flatnonzero(~np.isfinite(X).all(axis=0))][:5]
            raise AlloyMLError(f"{system}/{target}: non-finite feature values in {bad}")
        y = sub[target].to_numpy(dtype=float)
        res = train_target(
            X,
            y,
            sub["group_id"].to_numpy(),
            sub["source_id"].astype(str).to_numpy(),
            feats,
            target,
            cfg,
            families=sub["family"].astype(str).to_numpy(),
        )
        res.bundle.meta |= {"system": system, "preset": preset, "data_digest": data_digest}
        bdir = save_bundle(res.bundle, models_dir / target)
        title = f"{system} {target} — {res.champion}{' (tuned)' if res.tuned else ''}"
        pngs = []
        g = res.protocols.get("grouped")
        if g is not None:
            pngs.append(
                plots.parity(
                    g.y,
                    g.pred,
                    g.lo,
                    g.hi,
                    g.in_domain,
                    f"{title}, grouped CV",
                    plots_dir / f"{target}_parity.png",
                )
            )
            pngs.append(
                plots.residuals(
                    g.y, g.pred, f"{title}, grouped CV", plots_dir / f"{target}_residuals.png"
                )
            )
        pngs.append(
            plots.calibration(
                res.calibration_curve,
                f"{title}: interval calibration",
                plots_dir / f"{target}_calibration.png",
            )
        )
        pngs.append(
            plots.importance(
                res.importance,
                f"{title}: permutation importance",
                plots_dir / f"{target}_importance.png",
            )
        )
        pngs.append(
            plots.learning_curve(
                res.learning_curve,
                f"{title}: learning curve",
                plots_dir / f"{target}_learning_curve.png",
            )
        )
        doc[target] = {
            "n_rows": res.n_rows,
            "champion": res.champion,
            "tuned": res.tuned,
            "params": res.champion_params,
            "protocols": {k: v.metrics for k, v in res.protocols.items()},
            "screening": res.screening,
            "calibration_curve": [[a, b] for a, b in res.calibration_curve],
            # settings a reader of the metrics needs (the report's nominal coverage, the
            # extrapolation split), as the model was trained
            "alpha": cfg.alpha,
            "extrapolation_quantile": cfg.extrapolation_quantile,
        }
        if tracker is not None:
            _log_target(
                tracker, system, target, res, sub, feats, bdir, pngs, data_source, data_digest
            )
    return doc


def _log_target(
    tracker, system, target, res: TargetResult, sub, feats, bdir, pngs, data_source, data_digest
) -> None:
    tags = {"system": system, "target": target, "data_digest": data_digest}
    for model, protos in res.screening.items():
        for proto, m in protos.items():
            with tracker.run(
                f"{target}/{model}/{proto}",
                tags=tags | {"model": model, "protocol": proto},
                nested=True,
            ):
                tracker.log_params({"model": model, "protocol": proto, "target": target})
                tracker.log_metrics(m)
    with tracker.run(
        f"{target}/champion", tags=tags | {"model": res.champion, "role": "champion"}, nested=True
    ):
        tracker.log_params(
            {"model": res.champion, "tuned": res.tuned, "n_rows": res.n_rows, **res.champion_params}
        )
        for proto, pr in res.protocols.items():
            tracker.log_metrics(pr.metrics, prefix=f"{proto}_")
        tracker.log_dataset(
            sub[["row_uid", "group_id", target, *feats]],
            source=data_source,
            name=f"{system}-{target}",
            digest=data_digest,
        )
        for p in pngs:
            tracker.log_artifact(p, "plots")
        tracker.log_bundle_model(bdir, sub, f"alloyml-{system}-{target}", _pip_requirements())
        protocols = {k: v.metrics for k, v in res.protocols.items()}
        tracker.log_champion(system, target, target_headline({"protocols": protocols}))
