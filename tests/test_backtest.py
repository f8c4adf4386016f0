"""Discovery backtest: counting, the random baseline, reproducibility and the report schema."""

from __future__ import annotations

import copy
import importlib.util
import json
import math

import numpy as np
import pandas as pd
import pytest

from alloyml.backtest import (
    BacktestConfig,
    DatasetSpec,
    Pool,
    SurrogateSpec,
    acquisition_scores,
    backtest_params,
    build_pool,
    first_hit_group_seen,
    initial_design,
    plot_backtest,
    random_first_hit,
    run_backtest,
    run_campaign,
    top_mask,
)
from alloyml.errors import ConfigError


def synthetic_pool(n: int = 300, d: int = 4, seed: int = 0) -> Pool:
    """A smooth single-peak target of the features: a surrogate should find the peak fast."""
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.0, 1.0, size=(n, d))
    y = 500.0 - 400.0 * np.sum((X - 0.75) ** 2, axis=1) + rng.normal(0.0, 2.0, n)
    return Pool(
        X=np.ascontiguousarray(X, dtype=np.float32),
        y=y,
        row_uid=np.array([f"s:{i}" for i in range(n)]),
        group_id=np.array([f"g{i // 2}" for i in range(n)]),
        feature_names=[f"f{j}" for j in range(d)],
    )


def small_cfg(**kw) -> BacktestConfig:
    base = dict(
        seed=3,
        n_seeds=4,
        n_init=8,
        batch_size=1,
        acquisitions=("ucb", "exploit"),
        primary="ucb",
        kappa=1.0,
        max_guided=60,
        curve_horizon=80,
        surrogate=SurrogateSpec("rf", n_estimators=15, max_features=1.0, min_samples_leaf=1),
        n_jobs=1,
    )
    return BacktestConfig(**(base | kw))


@pytest.fixture(scope="module")
def pool() -> Pool:
    return synthetic_pool()


@pytest.fixture(scope="module")
def report(pool) -> dict:
    return run_backtest(pool, small_cfg(), "synthetic", "uts_mpa")


# ------------------------------------------------------------------------ random baseline
@pytest.mark.parametrize(("n", "k", "n0"), [(200, 5, 10), (50, 1, 3), (30, 29, 1)])
def test_random_analytic_mean_is_closed_form(n, k, n0):
    r = random_first_hit(n, k, n0, batch_size=1)
    assert r["mean"] == pytest.approx(n0 + (n - n0 + 1) / (k + 1), rel=1e-12)
    cdf = r["cdf"]
    assert len(cdf) == n
    assert np.all(np.diff(cdf) >= -1e-15)
    assert cdf[n0 - 1] == 0.0  # nothing is found inside the initial design
    assert cdf[-1] == pytest.approx(1.0)
    assert n0 + 1 <= r["median"] <= n - k + 1


@pytest.mark.parametrize("batch", [1, 4])
def test_random_analytic_matches_simulation(batch):
    n, k, n0 = 120, 4, 10
    y = np.zeros(n)
    y[:k] = 1.0
    targets = {"top": y > 0.5}
    cfg = small_cfg(batch_size=batch)
    rng = np.random.default_rng(0)
    sims = []
    for s in range(1500):
        init = initial_design(targets["top"], n0, rng)
        res = run_campaign(np.zeros((n, 1), np.float32), y, targets, init, "random", cfg, s)
        sims.append(res["experiments"]["top"])
    sims = np.asarray(sims, float)
    r = random_first_hit(n, k, n0, batch_size=batch)
    sem = sims.std(ddof=1) / math.sqrt(len(sims))
    assert abs(sims.mean() - r["mean"]) < 4 * sem
    # the analytic CDF agrees with the empirical one at a few points
    for t in (15, 25, 40, 80):
        assert abs(np.mean(sims <= t) - r["cdf"][t - 1]) < 0.05
    if batch > 1:  # batches are counted whole
        assert np.all((sims - n0) % batch == 0)
        assert r["mean"] > random_first_hit(n, k, n0, batch_size=1)["mean"]


def test_random_analytic_rejects_impossible_counts():
    with pytest.raises(ValueError):
        random_first_hit(20, 0, 5)
    with pytest.raises(ValueError):
        random_first_hit(20, 16, 5)


# ------------------------------------------------------------------------ targets, initial set
def test_top_mask_and_initial_design_exclude_top_rows():
    y = np.arange(1000, dtype=float)
    assert top_mask(y, 0.01).sum() == 10
    assert top_mask(y, 0.05).sum() == 50
    assert top_mask(np.array([1.0, 2.0, 3.0]), 0.01).sum() == 1  # at least the maximum
    excl = top_mask(y, 0.05)
    rng = np.random.default_rng(1)
    for _ in range(50):
        init = initial_design(excl, 20, rng)
        assert len(set(init.tolist())) == 20
        assert not excl[init].any()
    with pytest.raises(ConfigError):
        initial_design(np.ones(10, bool), 2, rng)


def test_report_initial_designs_are_shared_and_outside_top5(pool, report):
    cfg = small_cfg(max_guided=3)  # only the start of the campaign matters here
    targets = {"top1": top_mask(pool.y, 0.01), "top5": top_mask(pool.y, 0.05)}
    for s in report["random"]["seeds"]:
        init = initial_design(targets["top5"], cfg.n_init, np.random.default_rng([s, 104729]))
        assert not targets["top5"][init].any()
        orders = [
            run_campaign(pool.X, pool.y, targets, init, st, cfg, s)["order"][: cfg.n_init]
            for st in ("random", "exploit")
        ]
        assert np.array_equal(orders[0], orders[1])
        break  # one seed is enough (each guided campaign refits many forests)


# ------------------------------------------------------------------------ campaigns
def test_acquisition_beats_random_on_a_smooth_target(report):
    assert report["acceleration_factor_top1"] > 1.5
    assert report["acceleration_factor_top5"] > 1.2  # bounded by E[random] / (n_init + 1) = 2.9
    assert report["acquisition"]["ucb"]["top1"]["mean"] < report["random_analytic"]["top1"]["mean"]


def test_counts_within_pool_and_after_initial_design(pool, report):
    n = report["n_pool"]
    for rep in [report["random"], *report["acquisition"].values()]:
        for k in ("top1", "top5"):
            vals = np.asarray(rep[f"experiments_{k}"])
            assert len(vals) == report["n_seeds"]
            assert np.all(vals <= n)
            assert np.all(vals >= report["n_init"] + 1)
        # the first top-5 % row comes no later than the first top-1 % row (top-1 % is a subset)
        assert np.all(np.asarray(rep["experiments_top5"]) <= np.asarray(rep["experiments_top1"]))


def test_fallback_to_random_still_finds_every_target(pool):
    cfg = small_cfg(max_guided=1)
    targets = {"top1": top_mask(pool.y, 0.01), "top5": top_mask(pool.y, 0.05)}
    init = initial_design(targets["top5"], cfg.n_init, np.random.default_rng(9))
    res = run_campaign(pool.X, pool.y, targets, init, "ucb", cfg, seed=9)
    assert res["n_guided"] == 1
    assert res["fallback"] is True
    order = res["order"]
    assert len(set(order.tolist())) == len(order) <= len(pool.y)
    for k, m in targets.items():
        e = res["experiments"][k]
        assert m[order[e - 1]]  # the counted experiment is a hit
        assert not m[order[: e - 1]].any()  # and the first one


def test_campaigns_are_reproducible(pool):
    cfg = small_cfg()
    targets = {"top1": top_mask(pool.y, 0.01), "top5": top_mask(pool.y, 0.05)}
    init = initial_design(targets["top5"], cfg.n_init, np.random.default_rng(5))
    a = run_campaign(pool.X, pool.y, targets, init, "ucb", cfg, seed=5)
    b = run_campaign(pool.X, pool.y, targets, init, "ucb", cfg, seed=5)
    assert np.array_equal(a["order"], b["order"])
    assert a["experiments"] == b["experiments"]
    r1 = run_campaign(pool.X, pool.y, targets, init, "random", cfg, seed=5)
    r2 = run_campaign(pool.X, pool.y, targets, init, "random", cfg, seed=6)
    assert not np.array_equal(r1["order"], r2["order"])


def test_group_seen_flags_siblings_of_measured_rows(report):
    groups = np.array(["a", "b", "a", "c"])
    order = np.array([1, 0, 3, 2])
    assert first_hit_group_seen(order, 4, groups)  # row 2 (group a) after row 0 (group a)
    assert not first_hit_group_seen(order, 3, groups)  # row 3 (group c) is the first of its group
    assert not first_hit_group_seen(order, 1, groups)
    for rep in [report["random"], *report["acquisition"].values()]:
        assert 0.0 <= rep["first_top1_group_seen"] <= 1.0


def test_acquisition_scores():
    mu = np.array([1.0, 2.0, 0.0])
    sd = np.array([1.0, 0.0, 3.0])
    assert np.array_equal(acquisition_scores("exploit", mu, sd, 1.5, 2.0), mu)
    assert np.allclose(acquisition_scores("ucb", mu, sd, 1.5, 2.0), [3.0, 2.0, 6.0])
    ei = acquisition_scores("ei", mu, sd, 1.5, 0.0)
    assert ei[1] == pytest.approx(0.5)  # no uncertainty: the plain improvement
    assert np.all(ei >= 0)
    assert ei[2] > ei[0]  # more uncertainty, more expected improvement
    with pytest.raises(ConfigError):
        acquisition_scores("pi", mu, sd, 1.5, 1.0)


# ------------------------------------------------------------------------ report
def test_report_schema_and_json(report, tmp_path):
    for key in (
        "dataset", "target", "n_pool", "n_top1", "n_top5", "n_seeds", "n_init", "acquisition",
        "random", "random_analytic", "acceleration_factor_top1", "acceleration_factor_top5",
        "acceleration", "curves", "notes", "runtime_s", "primary_acquisition",
    ):  # fmt: skip
        assert key in report, key
    assert set(report["acquisition"]) == {"ucb", "exploit"}
    for k in ("top1", "top5"):
        acc = report["acceleration"]["ucb"][k]
        lo, hi = acc["ci90_mean_vs_random_analytic"]
        assert lo <= acc["mean_vs_random_analytic"] <= hi
        assert acc["mean_vs_random_analytic"] <= acc["upper_bound_mean_vs_random_analytic"] + 1e-9
        chk = report["random_simulation_check"][k]
        assert abs(chk["mean"] - report["random_analytic"][k]["mean"]) < 4 * chk["sem"]
    H = len(report["curves"]["t"])
    for st in ("random", "ucb", "exploit"):
        bsf = np.asarray(report["curves"][st]["best_so_far"])
        assert len(bsf) == H
        assert np.all(np.diff(bsf) >= -1e-9) and 0 <= bsf[0] and bsf[-1] <= 1
    assert report["n_top1"] == 3 and report["n_top5"] == 15
    text = json.dumps(report)  # no numpy scalars left
    assert json.loads(text)["acceleration_factor_top1"] == report["acceleration_factor_top1"]
    png = plot_backtest(report, tmp_path / "bt.png")
    assert png.read_bytes()[:4] == b"\x89PNG"


# ------------------------------------------------------------------------ params and pool
PARAMS = {
    "base": {"seed": 1, "systems": ["al", "mg"]},
    "featurize": {"preset": "alloy_v1"},
    "backtest": {
        "primary_acquisition": "exploit",
        "acquisitions": ["exploit"],
        "n_seeds": 2,
        "n_init": 5,
        "max_guided": 15,
        "curve_horizon": 30,
        "surrogate": {"model": "rf", "n_estimators": 8},
        "n_jobs": 1,
        "datasets": {"toy": {"system": "al", "target": "uts_mpa", "sources": ["src_a"]}},
    },
}


def test_backtest_params_validation():
    cfg = backtest_params(PARAMS)
    assert cfg.seed == 1 and cfg.primary == "exploit" and cfg.surrogate.n_estimators == 8
    assert cfg.datasets["toy"] == DatasetSpec("toy", "al", "uts_mpa", ("src_a",))
    bad = [
        ("primary_acquisition", "ucb"),  # not among the acquisitions run
        ("acquisitions", ["pi"]),
        ("n_init", 0),
        ("n_seeds", 2.5),
        ("kappa", True),
        ("datasets", {"x": {"system": "ti", "target": "uts_mpa"}}),
        ("datasets", {"x": {"system": "al", "target": "density"}}),
        ("surrogate", {"model": "gp"}),
    ]
    for key, val in bad:
        doc = copy.deepcopy(PARAMS)
        doc["backtest"][key] = val
        with pytest.raises(ConfigError):
            backtest_params(doc)
    doc = copy.deepcopy(PARAMS)
    del doc["backtest"]
    with pytest.raises(ConfigError):
        backtest_params(doc)


def toy_tables(n: int = 140, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    from alloyml.features import feature_labels

    labels = feature_labels("alloy_v1")
    rng = np.random.default_rng(seed)
    F = np.zeros((n, len(labels)))
    F[:, :6] = rng.uniform(0, 1, size=(n, 6))  # the rest constant: dropped from the pool
    uid = [f"r:{i}" for i in range(n)]
    y = 300 + 200 * F[:, 0] + 50 * F[:, 1]
    y[::10] = np.nan  # unmeasured rows leave the pool
    features = pd.concat(
        [
            pd.DataFrame({"row_uid": uid, "group_id": [f"g{i // 3}" for i in range(n)]}),
            pd.DataFrame({"uts_mpa": y}),
            pd.DataFrame(F, columns=labels),
        ],
        axis=1,
    )
    src = np.where(np.arange(n) < 120, "src_a", "src_b")
    processed = pd.DataFrame({"row_uid": uid[::-1], "source_id": src[::-1], "uts_mpa": y[::-1]})
    return features, processed, labels


def test_build_pool_filters_sources_and_missing_targets():
    features, processed, labels = toy_tables()
    pool = build_pool(features, processed, DatasetSpec("toy", "al", "uts_mpa", ("src_a",)), labels)
    assert len(pool.y) == 108  # 120 rows of src_a minus the 12 without a target
    assert pool.X.shape == (108, 6) and pool.X.dtype == np.float32
    assert np.isfinite(pool.y).all()
    assert set(pool.source_id) == {"src_a"}
    # rows stay aligned after the join on row_uid (the processed table is reversed)
    truth = features.set_index("row_uid").loc[pool.row_uid]
    assert np.allclose(truth["uts_mpa"].to_numpy(), pool.y)
    all_rows = build_pool(features, processed, DatasetSpec("toy", "al", "uts_mpa"), labels)
    assert len(all_rows.y) == 126
    with pytest.raises(ConfigError):
        build_pool(features, processed, DatasetSpec("toy", "al", "uts_mpa", ("nope",)), labels)


def test_pipeline_stage_writes_json_and_png(repo, tmp_path):
    import yaml

    features, processed, _ = toy_tables()
    features.to_parquet(tmp_path / "f.parquet")
    processed.to_parquet(tmp_path / "p.parquet")
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(PARAMS))
    spec = importlib.util.spec_from_file_location("bt_stage", repo / "pipelines" / "backtest.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    argv = [
        "--dataset", "toy", "--system", "al", "--processed", str(tmp_path / "p.parquet"),
        "--features", str(tmp_path / "f.parquet"), "--output-dir", str(tmp_path / "out"),
        "--params", str(tmp_path / "params.yaml"),
    ]  # fmt: skip
    mod.main(argv)
    rep = json.loads((tmp_path / "out" / "toy.json").read_text())
    assert rep["dataset"] == "toy" and rep["n_pool"] == 108 and rep["n_seeds"] == 2
    assert rep["sources"] == {"src_a": 108} and sum(rep["top5_sources"].values()) == rep["n_top5"]
    assert (tmp_path / "out" / "toy.png").stat().st_size > 1000
    with pytest.raises(ConfigError):
        mod.main([*argv[:2], "--system", "mg", *argv[4:]])
