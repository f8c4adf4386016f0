"""train_target on a small real subset (jiang_7xxx UTS): selection, protocols, intervals, tuning.

One training run serves every test of the module (about 20 s on two cores): the candidates are
``mean``, ``ridge`` and ``rf`` with nested tuning of the champion (2 trials), on 150 rows and the
non-constant wt % and process features (no Magpie statistics), so that permutation importance
stays cheap.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from alloyml.features import feature_table, featurize
from alloyml.modeling.train import TargetResult, TrainConfig, train_target
from alloyml.modeling.validation import extrapolation_split

pytestmark = pytest.mark.realdata

N_ROWS = 150
CANDIDATES = ("mean", "ridge", "rf")
CFG = TrainConfig(
    seed=42,
    models=CANDIDATES,
    folds=3,
    inner_folds=2,
    tuning_trials=2,
    tuning_models=("rf",),
    alpha=0.1,
    n_jobs=1,
    learning_curve_fractions=(0.5, 1.0),
)


@pytest.fixture(scope="module")
def jiang_uts(jiang_subset) -> pd.DataFrame:
    """150 cleaned jiang_7xxx rows with UTS, sampled with a fixed seed, joined to features."""
    sub = jiang_subset(N_ROWS, seed=7)
    return pd.concat([sub, featurize(sub, "alloy_v1")], axis=1)


@pytest.fixture(scope="module")
def features(jiang_uts) -> list[str]:
    ft = feature_table("alloy_v1")
    labels = ft.loc[ft["group"].isin(["wt_pct_v1", "process_v1"]), "label"].tolist()
    return [f for f in labels if jiang_uts[f].std() > 0]


@pytest.fixture(scope="module")
def result(jiang_uts, features) -> TargetResult:
    X = jiang_uts[features].to_numpy(dtype=float)
    assert np.isfinite(X).all()
    # one BLAS/OpenMP thread: k-NN distances otherwise contend on a loaded 2-core machine
    with threadpool_limits(limits=1):
        return train_target(
            X,
            jiang_uts["uts_mpa"].to_numpy(dtype=float),
            jiang_uts["group_id"].to_numpy(),
            jiang_uts["source_id"].astype(str).to_numpy(),
            features,
            "uts_mpa",
            CFG,
        )


def test_subset_is_grouped_real_data(jiang_uts, features):
    assert len(jiang_uts) == N_ROWS
    assert jiang_uts["group_id"].nunique() >= 20  # grouped CV has groups to split
    assert {"wt_pct_Zn", "wt_pct_Mg", "wt_pct_Cu"} <= set(features)


def test_champion_has_best_grouped_mae(result):
    screened = {m: r["grouped"]["mae"] for m, r in result.screening.items() if m in CANDIDATES}
    assert set(screened) == set(CANDIDATES)
    assert result.champion in CANDIDATES
    assert screened[result.champion] == min(screened.values())
    assert result.bundle.meta["model"] == result.champion
    for model in CANDIDATES:  # every candidate is scored on every row, all metrics finite
        m = result.screening[model]["grouped"]
        assert m["n"] == N_ROWS
        assert all(np.isfinite(m[k]) for k in ("r2", "mae", "rmse", "mape"))
    # on 7xxx UTS a forest beats the mean predictor by a wide margin under grouped CV
    assert screened["rf"] < 0.85 * screened["mean"]


def test_nested_tuning_is_recorded(result):
    assert result.champion == "rf"
    tuned = result.screening["rf_tuned"]
    assert set(tuned) == {"grouped"}
    assert tuned["grouped"]["n"] == N_ROWS and np.isfinite(tuned["grouped"]["mae"])
    # tuned params are used only when the nested score beats the default
    assert result.tuned == (tuned["grouped"]["mae"] < result.screening["rf"]["grouped"]["mae"])
    assert bool(result.champion_params) == result.tuned
    assert result.bundle.meta["tuned"] == result.tuned
    assert "tuning_nested" in result.timings


def test_protocols_metrics_and_coverage(result):
    # one source: no leave-one-source-out split
    assert set(result.protocols) == {"random", "grouped", "extrapolation"}
    for name, pr in result.protocols.items():
        m = pr.metrics
        for k in ("r2", "mae", "rmse", "mape", "coverage", "interval_width", "in_domain_rate"):
            assert np.isfinite(m[k]), (name, k)
        assert len(pr.y) == len(pr.pred) == len(pr.lo) == len(pr.hi) == len(pr.in_domain)
        assert np.all(pr.lo <= pr.pred) and np.all(pr.pred <= pr.hi)
        np.testing.assert_allclose(m["coverage"], np.mean((pr.y >= pr.lo) & (pr.y <= pr.hi)))
    g = result.protocols["grouped"]
    assert 0.75 <= g.metrics["coverage"] <= 1.0
    assert sorted(g.test_idx.tolist()) == list(range(N_ROWS))  # grouped folds cover every row
    if not result.tuned:  # same folds, same seed, same default forest as in screening
        assert g.metrics["mae"] == pytest.approx(result.screening["rf"]["grouped"]["mae"])
    ex = result.protocols["extrapolation"]
    assert ex.y.min() >= np.quantile(g.y, CFG.extrapolation_quantile)  # the top decile only
    assert result.bundle.meta["metrics"]["grouped"] == g.metrics


def test_calibration_learning_curve_importance(result, features):
    nominal = [a for a, _ in result.calibration_curve]
    assert nominal == pytest.approx([0.5, 0.6, 0.7, 0.8, 0.9, 0.95])
    empirical = [b for _, b in result.calibration_curve]
    assert all(0.0 <= b <= 1.0 for b in empirical)
    assert empirical == sorted(empirical)  # wider nominal level, never lower coverage
    assert [f for f, _ in result.learning_curve] == [0.5, 1.0]
    assert all(np.isfinite(mae) for _, mae in result.learning_curve)
    assert 0 < len(result.importance) <= 25 and set(result.importance) <= set(features)
    top = max(result.importance, key=result.importance.get)
    assert result.importance[top] > 0


def test_final_bundle_predicts_finite(result, jiang_uts, features):
    X = jiang_uts[features].to_numpy(dtype=float)
    out = result.bundle.predict(X[:50])
    for key in ("pred", "lo", "hi", "domain_distance"):
        assert np.isfinite(out[key]).all(), key
    assert np.all(out["lo"] < out["hi"])
    assert out["in_domain"].mean() > 0.8  # training rows are in their own domain
    assert np.isfinite(result.bundle.interval.q_)
    assert np.isfinite(result.bundle.domain.threshold_)
    # in sample, the final forest is far better than its cross-validated error
    assert (
        np.mean(np.abs(out["pred"] - jiang_uts["uts_mpa"].to_numpy()[:50]))
        < (result.protocols["grouped"].metrics["mae"])
    )


def test_select_champion_weighs_every_listed_protocol():
    from alloyml.modeling.train import select_champion

    s = {
        "xgb": {"grouped": {"mae": 35.2}, "shift": {"mae": 68.9}},
        "et": {"grouped": {"mae": 36.2}, "shift": {"mae": 64.8}},
        "ridge": {"grouped": {"mae": 48.8}, "shift": {"mae": 60.0}},
    }
    assert select_champion(s, ("grouped",)) == "xgb"
    assert select_champion(s, ("shift",)) == "ridge"
    # relative MAE: et 1.028 + 1.080, xgb 1.0 + 1.148, ridge 1.386 + 1.0
    assert select_champion(s, ("grouped", "shift")) == "et"
    # a protocol not scored for every family (e.g. one source: no shift split) is left out
    del s["ridge"]["shift"]
    assert select_champion(s, ("grouped", "shift")) == "xgb"


def test_frontier_interval_is_calibrated_on_the_extrapolation_protocol(result, jiang_uts):
    ext = result.protocols["extrapolation"]
    assert -1.0 <= ext.metrics["spearman"] <= 1.0
    iv = result.bundle.interval
    # the frontier is the best training value less the gap under its own best training value
    # at which the extrapolation protocol's model put 1 - alpha of the held-out top decile; the
    # upper half-width there is the conformal quantile (level 1 - alpha/2) of its signed
    # residuals (at least their median: the top decile is under-predicted). The gap is
    # measured from the best value the protocol's model was trained on (its split's rows).
    y = jiang_uts["uts_mpa"].to_numpy(dtype=float)
    ((tr, te),) = extrapolation_split(
        y, jiang_uts["group_id"].to_numpy(), CFG.extrapolation_quantile
    )
    np.testing.assert_array_equal(te, ext.test_idx)
    gap = y[tr].max() - np.quantile(ext.pred, iv.alpha)
    assert gap > 0
    assert iv.frontier_ == pytest.approx(y.max() - gap)
    assert np.quantile(ext.pred, iv.alpha) < iv.frontier_ < y.max()
    assert iv.q_frontier_ >= np.median(ext.y - ext.pred) > 0
    assert result.bundle.meta["q_frontier"] == iv.q_frontier_
    assert result.bundle.meta["frontier"] == iv.frontier_
    assert "best_measured" not in result.bundle.meta
    x0 = np.zeros((1, len(result.bundle.features)))
    lo, hi = iv.predict_interval(x0, np.array([iv.frontier_, iv.frontier_ - 1.0]))
    assert hi[0] - iv.frontier_ >= iv.q_frontier_  # at the frontier: the upper bound is raised
    assert iv.frontier_ - lo[0] == pytest.approx(iv.frontier_ - 1.0 - lo[1])  # lower: as below
    assert hi[1] - (iv.frontier_ - 1.0) == pytest.approx(iv.frontier_ - 1.0 - lo[1])


def test_exploration_width_is_calibrated_on_the_grouped_spread(result):
    """A forest champion stores the spread-normalised conformal quantile of its grouped
    out-of-fold predictions; at those predictions it covers at least 1 - alpha."""
    from alloyml.modeling.uncertainty import SpreadInterval

    g = result.protocols["grouped"]
    assert result.champion == "rf"  # a forest: it has a spread
    assert g.spread is not None and len(g.spread) == len(g.y) and (g.spread >= 0).all()
    sp = SpreadInterval.from_meta(result.bundle.meta)
    assert sp is not None and sp.q_ > 0 and sp.floor_ > 0
    inside = np.abs(g.y - g.pred) <= sp.half_width(g.spread) + 1e-9
    assert inside.mean() >= 1 - CFG.alpha
    assert np.isfinite(g.metrics["spread_residual_spearman"])


def test_blend_screening_reuses_its_members_and_equals_a_real_blend_fit():
    """The screened blend is the mean of its members' out-of-fold predictions; fitting the blend
    itself on the same folds gives the same predictions, so no fit is saved at a cost in truth."""
    from alloyml.modeling.train import oof_predictions
    from alloyml.modeling.validation import grouped_splits, regression_metrics

    rng = np.random.default_rng(3)
    n = 90
    X = rng.uniform(0.0, 5.0, size=(n, 3))
    y = 200 + 30 * X[:, 0] - 10 * X[:, 1] ** 2 + rng.normal(0.0, 5.0, size=n)
    groups = np.arange(n) // 2
    sources = np.array(["a", "b", "c"])[np.arange(n) % 3]
    cfg = TrainConfig(
        seed=1, models=("et", "xgb", "et_xgb"), selection=("grouped", "shift"), folds=3,
        inner_folds=2, tuning_trials=0, n_jobs=1, loso_min_rows=20,
        learning_curve_fractions=(1.0,),
    )  # fmt: skip
    names = ["x0", "x1", "x2"]
    with threadpool_limits(limits=1):
        res = train_target(X, y, groups, sources, names, "uts_mpa", cfg)
        fitted = oof_predictions(
            "et_xgb", {}, X, y, grouped_splits(groups, cfg.folds, cfg.seed),
            TrainConfig(**{**cfg.__dict__, "feature_names": tuple(names)}),
        )  # fmt: skip
    want = regression_metrics(y[fitted[0]], fitted[1])
    got = res.screening["et_xgb"]["grouped"]
    for key in ("mae", "rmse", "r2"):
        assert got[key] == pytest.approx(want[key], rel=1e-9), key
    assert "shift" in res.screening["et_xgb"]
    # and the blend is not simply one of its members
    assert got["mae"] != res.screening["et"]["grouped"]["mae"]
    assert got["mae"] != res.screening["xgb"]["grouped"]["mae"]


def test_source_weights_balance_compilations():
    from alloyml.modeling.train import source_weights

    src = np.array(["big"] * 64 + ["small"] * 4)
    w = source_weights(src, 0.5)
    assert w[0] == pytest.approx(64**-0.5) and w[-1] == pytest.approx(4**-0.5)
    # a source's total weight grows as n ** (1 - power): 8 vs 2, not 64 vs 4
    assert w[src == "big"].sum() / w[src == "small"].sum() == pytest.approx(4.0)
    assert source_weights(src, 0.0) is None
    assert source_weights(np.array(["one"] * 10), 0.5) is None  # one source: nothing to balance


def test_training_fits_with_source_weights_and_ignores_them_for_one_source():
    """The final model of a weighted run is fitted with the weights (the mean model predicts the
    weighted mean); a single-source target trains exactly as an unweighted run does."""
    rng = np.random.default_rng(5)
    n_big, n_small = 80, 20
    X = rng.uniform(0.0, 1.0, size=(n_big + n_small, 2))
    y = np.r_[np.full(n_big, 100.0), np.full(n_small, 300.0)] + rng.normal(0, 1, n_big + n_small)
    groups = np.arange(len(y))
    sources = np.array(["big"] * n_big + ["small"] * n_small)
    base = dict(
        seed=1, models=("mean",), folds=3, inner_folds=2, tuning_trials=0, n_jobs=1,
        loso_min_rows=10, learning_curve_fractions=(1.0,),
    )  # fmt: skip
    names = ["x0", "x1"]
    res = train_target(
        X, y, groups, sources, names, "uts_mpa", TrainConfig(**base, source_weight_power=1.0)
    )
    w = np.where(sources == "big", 1 / n_big, 1 / n_small)
    got = res.bundle.estimator.predict(X[:1])[0]
    assert got == pytest.approx(np.average(y, weights=w))  # each source half the weight: ~200
    assert abs(got - y.mean()) > 50  # unweighted: 140
    assert res.bundle.meta["source_weight_power"] == 1.0
    one = np.array(["big"] * len(y))
    a = train_target(
        X, y, groups, one, names, "uts_mpa", TrainConfig(**base, source_weight_power=1.0)
    )
    b = train_target(X, y, groups, one, names, "uts_mpa", TrainConfig(**base))
    np.testing.assert_array_equal(a.protocols["grouped"].pred, b.protocols["grouped"].pred)
    assert a.bundle.meta["source_weight_power"] == 0.0


def test_out_of_domain_intervals_calibrate_on_held_out_sources_and_families():
    """With several sources and known families, the out-of-domain quantile is calibrated on both
    kinds of held-out residuals; without families, on held-out sources alone."""
    rng = np.random.default_rng(8)
    n = 120
    X = rng.uniform(0.0, 1.0, size=(n, 2))
    fams = np.array(["2xxx", "6xxx", "7xxx"])[np.arange(n) % 3]
    # an unseen family is far off (a family offset); an unseen source only mildly (a source offset)
    y = 100 * X[:, 0] + np.select([fams == "2xxx", fams == "7xxx"], [150.0, -150.0], 0.0)
    sources = np.array(["a", "b", "c", "d"])[(np.arange(n) // 3) % 4]
    y = y + np.select([sources == "a", sources == "b"], [10.0, -10.0], 0.0) + rng.normal(0, 2, n)
    cfg = TrainConfig(
        seed=1, models=("ridge",), folds=3, inner_folds=2, tuning_trials=0, n_jobs=1,
        loso_min_rows=10, learning_curve_fractions=(1.0,),
    )  # fmt: skip
    names = ["x0", "x1"]
    both = train_target(X, y, np.arange(n), sources, names, "uts_mpa", cfg, families=fams)
    alone = train_target(X, y, np.arange(n), sources, names, "uts_mpa", cfg)
    assert both.bundle.meta["shift_calibration"] == "loso+family"
    assert alone.bundle.meta["shift_calibration"] == "loso"
    # the family residuals (no family offset learnt for an unseen family) widen the
    # out-of-domain quantile beyond what held-out sources alone call for
    assert both.bundle.meta["q_out"] > alone.bundle.meta["q_out"]
