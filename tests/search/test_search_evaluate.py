"""Batch evaluation of designs (``alloyml.search.evaluate``) on the tiny real-data bundles.

:class:`Evaluator` is checked against each bundle's own ``predict`` on the designs featurized by
the batch path of training (``alloyml.features.featurize``), and :class:`Problem` against the
campaign's objectives, constraints and domain policy written out by hand.
"""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy.stats import norm

from alloyml.compositions import density_rule_of_mixtures
from alloyml.errors import AlloyMLError
from alloyml.features import featurize
from alloyml.features.presets import get_preset
from alloyml.modeling.predict import load_bundles
from alloyml.schema import PROCESS_NUMERIC
from alloyml.search.campaign import parse_campaign
from alloyml.search.evaluate import DENSITY, Evaluator, Problem, Reference, constraint_value
from alloyml.search.space import Design, DesignSpace

from .conftest import TEST_PARAMS


def _campaign(name: str, **over):
    doc = yaml.safe_load(TEST_PARAMS.read_text())
    return parse_campaign(name, doc["search"]["campaigns"][name] | over)


def _designs(space: DesignSpace, n: int, seed: int):
    """``n`` designs decoded from uniform draws of the flat encoding."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        v = {}
        for name, d in space.flat_distributions.items():
            if hasattr(d, "choices"):
                v[name] = d.choices[rng.integers(len(d.choices))]
            else:
                v[name] = rng.uniform(d.low, d.high)
        out.append(space.decode_flat(v))
    return out


def _measured_designs(processed: pd.DataFrame, space: DesignSpace, n: int):
    """Designs of measured alloys of the training table (inside the models' domain, mostly):
    the campaign's elements and the row's process, for rows of the campaign's routes/tempers."""
    rows = processed[
        processed["route"].isin(space.routes) & processed["temper_class"].isin(space.tempers)
    ].head(n)
    out = []
    for _, r in rows.iterrows():
        wt = {e: float(np.nan_to_num(r[e])) for e in space.elements}
        proc = {c: float(r[c]) for c in PROCESS_NUMERIC if c in r.index and pd.notna(r[c])}
        out.append(
            Design(wt=wt, route=str(r["route"]), temper=str(r["temper_class"]), process=proc)
        )
    return out


def _frame(designs, space: DesignSpace) -> pd.DataFrame:
    """The designs as canonical rows (what training featurizes)."""
    rows = []
    for d in designs:
        r = dict(d.wt) | d.process
        r["route"] = None if d.route == "none" else d.route
        r["temper_class"] = None if d.temper == "none" else d.temper
        rows.append(r)
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def al(search_root):
    c = _campaign("t_al")
    space = DesignSpace(c, get_preset("alloy_v1"))
    bundles = load_bundles(search_root / "models", "al")
    processed = pd.read_parquet(search_root / "data" / "processed" / "al.parquet")
    designs = _designs(space, 48, seed=0) + _measured_designs(processed, space, 32)
    return c, space, bundles, designs


def test_evaluator_matches_each_bundle_on_the_training_features(al):
    c, space, bundles, designs = al
    ev = Evaluator(bundles, space.elements)(*space.matrices(designs))
    expected = {DENSITY} | {f"{t}_{k}" for t in bundles for k in ("pred", "half_in", "lo",
                                                                     "hi", "score")}  # fmt: skip
    assert set(ev) == expected and all(len(v) == len(designs) for v in ev.values())
    feats = featurize(_frame(designs, space), "alloy_v1")
    at_frontier = 0
    for t, b in bundles.items():
        # a wider interval out of domain (shift calibration), as trained models may have
        b = copy.deepcopy(b)
        b.interval.q_out_ = 2.0 * b.interval.q_
        X = feats[b.features].to_numpy(float)
        # a frontier half the designs are predicted above, with a wide extrapolation interval
        b.interval.frontier_ = float(np.median(b.predict(X)["pred"]))
        b.interval.q_frontier_ = float(3.0 * np.max(b.interval.half_width(X)))
        ev = Evaluator({t: b}, space.elements)(*space.matrices(designs))
        r = b.predict(X)
        np.testing.assert_allclose(ev[f"{t}_pred"], r["pred"], rtol=1e-9)
        np.testing.assert_allclose(ev[f"{t}_hi"], r["hi"], rtol=1e-9)
        np.testing.assert_allclose(ev[f"{t}_lo"], np.maximum(r["lo"], 0.0), rtol=1e-9, atol=1e-9)
        assert (ev[f"{t}_lo"] >= 0).all() and (ev[f"{t}_lo"] <= ev[f"{t}_hi"]).all()
        # exploration half-width: the in-domain interval at every design, in or out of domain,
        # widened to the extrapolation-calibrated one at the frontier of what was measured
        iv = b.interval
        base = iv.half_width(X, np.ones(len(X), bool))
        np.testing.assert_allclose(
            ev[f"{t}_half_in"], iv.frontier_half_width(r["pred"], base), rtol=1e-9
        )
        at_frontier += int((r["pred"] > iv.frontier_).sum())
        above = r["pred"] > iv.frontier_
        assert np.all(ev[f"{t}_half_in"][above] >= iv.q_frontier_ - 1e-9)
        score = r["domain_distance"] / b.domain.threshold_
        rare = r["domain_support"] < b.domain.min_support
        # k-NN distances of near neighbours lose relative precision: absolute tolerance
        np.testing.assert_allclose(ev[f"{t}_score"][~rare], score[~rare], rtol=1e-7, atol=1e-7)
        assert (ev[f"{t}_score"][rare] > 1.0).all()  # a rare process key is out of domain
        assert ((ev[f"{t}_score"] <= 1.0) == r["in_domain"]).all()
        assert 0 < r["in_domain"].sum() < len(designs)  # both branches are exercised
        half = r["hi"] - r["pred"]
        wide = iv.frontier_half_width(r["pred"], np.where(r["in_domain"], 1.0, 2.0) * base)
        np.testing.assert_allclose(half, wide, rtol=1e-9)
    assert at_frontier > 0  # the frontier branch is exercised too
    wt = np.array([[d.wt[e] for e in space.elements] for d in designs])
    np.testing.assert_allclose(ev[DENSITY], density_rule_of_mixtures(wt, space.elements))


def test_evaluator_refuses_what_it_cannot_evaluate(al):
    _, space, bundles, _ = al
    with pytest.raises(AlloyMLError, match="no trained models"):
        Evaluator({}, space.elements)
    b = next(iter(bundles.values()))
    other = replace(b, meta=b.meta | {"preset": "alloy_v2"})
    with pytest.raises(AlloyMLError, match="different feature presets"):
        Evaluator({"a": b, "b": other}, space.elements)
    alien = replace(b, meta=b.meta | {"features": [*b.features, "no_such_feature"]})
    with pytest.raises(AlloyMLError, match="no_such_feature"):
        Evaluator({"uts_mpa": alien}, space.elements)


def test_problem_objective_constraints_and_domain_policy(al):
    c, space, bundles, designs = al
    ref = Reference(best={"uts_mpa": 600.0}, scale={"uts_mpa": 600.0})
    p = Problem(c, space, bundles, ref)
    assert p.constraint_names == ["elong_pct_lo_ge_4", "total_solute_min", "domain"]
    ev = p.evaluator(*space.matrices(designs))
    values, cons = p.score(designs, ev)
    assert values.shape == (len(designs), 1) and list(cons) == p.constraint_names
    dom = np.max([ev["uts_mpa_score"], ev["elong_pct_score"]], axis=0)
    np.testing.assert_allclose(p.domain_score(ev), dom)
    # UCB (kappa 1) on the in-domain scale, moved down by the explore penalty outside the domain
    z = norm.ppf(1 - p.evaluator.alpha["uts_mpa"] / 2)
    ucb = ev["uts_mpa_pred"] + ev["uts_mpa_half_in"] / z
    excess = np.clip(dom - 1.0, 0.0, c.domain.max_score)
    np.testing.assert_allclose(values[:, 0], ucb - c.domain.penalty * 600.0 * excess)
    np.testing.assert_allclose(cons["elong_pct_lo_ge_4"], (4.0 - ev["elong_pct_lo"]) / 4.0)
    total = np.array([sum(d.wt[s] for s in c.symbols) for d in designs])
    np.testing.assert_allclose(cons["total_solute_min"], (6.0 - total) / 6.0)
    np.testing.assert_allclose(cons["domain"], (dom - c.domain.max_score) / c.domain.max_score)
    # feasible exactly when every value is <= 0
    feasible = (ev["elong_pct_lo"] >= 4.0) & (total >= 6.0) & (dom <= c.domain.max_score)
    assert ((np.column_stack(list(cons.values())) <= 0).all(axis=1) == feasible).all()


def test_problem_specific_quantity_and_minimised_objective(search_root):
    c = _campaign("t_mg_pareto")  # pred(specific_uts) max, density min
    space = DesignSpace(c, get_preset("alloy_v1"))
    bundles = load_bundles(search_root / "models", "mg")
    designs = _designs(space, 32, seed=1)
    p = Problem(c, space, bundles, Reference(best={}, scale={}))
    ev = p.evaluator(*space.matrices(designs))
    values, _ = p.score(designs, ev)
    rho = ev[DENSITY]
    excess = np.clip(p.domain_score(ev) - 1.0, 0.0, c.domain.max_score)
    pen = c.domain.penalty * 1.0 * excess  # no reference: unit scale
    np.testing.assert_allclose(values[:, 0], ev["uts_mpa_pred"] / rho - pen)
    np.testing.assert_allclose(values[:, 1], rho + pen)  # minimised: the penalty adds
    pred, lo, hi = p.quantity("specific_uts", ev)
    np.testing.assert_allclose(lo, ev["uts_mpa_lo"] / rho)
    np.testing.assert_allclose(hi, ev["uts_mpa_hi"] / rho)
    z = norm.ppf(1 - p.evaluator.alpha["uts_mpa"] / 2)
    np.testing.assert_allclose(p.sigma("specific_uts", ev), ev["uts_mpa_half_in"] / rho / z)
    assert (p.sigma(DENSITY, ev) == 0).all()


def test_problem_refuses_missing_models_and_ei_without_reference(al, search_root):
    c, space, bundles, _ = al
    with pytest.raises(AlloyMLError, match="needs models for"):
        Problem(c, space, {"uts_mpa": bundles["uts_mpa"]}, Reference({}, {}))
    mg = _campaign("t_mgli")  # EI on specific_uts
    mg_space = DesignSpace(mg, get_preset("alloy_v1"))
    mg_bundles = load_bundles(search_root / "models", "mg")
    with pytest.raises(AlloyMLError, match="expected improvement"):
        Problem(mg, mg_space, mg_bundles, Reference({}, {}))
    p = Problem(mg, mg_space, mg_bundles, Reference({"specific_uts": 150.0}, {"specific_uts": 1}))
    designs = _designs(mg_space, 16, seed=2)
    ev = p.evaluator(*mg_space.matrices(designs))
    _, cons = p.score(designs, ev)
    con = mg.constraints[0]  # density ceiling on the prediction
    np.testing.assert_allclose(cons[con.name], constraint_value(con, p.quantity(DENSITY, ev)))
    np.testing.assert_allclose(cons[con.name], (ev[DENSITY] - 1.5) / 1.5)


class _Above:
    """An estimator predicting ``shift`` above another: a yield model gone astray."""

    def __init__(self, est, shift: float) -> None:
        self.est, self.shift = est, shift

    def predict(self, X):
        return self.est.predict(X) + self.shift


def test_evaluator_never_ranks_a_yield_strength_above_the_tensile_strength(al):
    from alloyml.modeling.consistency import consistent_strengths

    c, space, bundles, designs = al
    uts = bundles["uts_mpa"]
    ys = copy.deepcopy(uts)
    ys.estimator = _Above(uts.estimator, 60.0)  # yield 60 MPa above tensile: every row moves
    ev = Evaluator({"ys_mpa": ys, "uts_mpa": uts}, space.elements)(*space.matrices(designs))
    assert (ev["ys_mpa_pred"] <= ev["uts_mpa_pred"] + 1e-9).all()
    X = featurize(_frame(designs, space), "alloy_v1")[uts.features].to_numpy(float)
    raw = {"ys_mpa": ys.predict(X), "uts_mpa": uts.predict(X)}
    want, moved = consistent_strengths(raw)
    assert moved.all()
    for t in ("ys_mpa", "uts_mpa"):
        np.testing.assert_allclose(ev[f"{t}_pred"], want[t]["pred"], rtol=1e-9)
        np.testing.assert_allclose(ev[f"{t}_hi"], want[t]["hi"], rtol=1e-9)
    # the tensile strength rose and the yield strength fell, each by less than the gap
    assert (ev["uts_mpa_pred"] > raw["uts_mpa"]["pred"]).all()
    assert (ev["ys_mpa_pred"] < raw["ys_mpa"]["pred"]).all()
    # without the yield model nothing is projected
    alone = Evaluator({"uts_mpa": uts}, space.elements)(*space.matrices(designs))
    np.testing.assert_allclose(alone["uts_mpa_pred"], raw["uts_mpa"]["pred"], rtol=1e-9)


def test_exploration_width_of_a_forest_is_its_spread_normalised_interval(al):
    """With a forest champion the acquisitions' half-width is q_spread * max(spread, floor) of
    the trees at each design (widened at the frontier), not the neighbour-residual interval."""
    from sklearn.ensemble import ExtraTreesRegressor

    from alloyml.modeling.models import predict_with_spread
    from alloyml.modeling.uncertainty import SpreadInterval

    c, space, bundles, designs = al
    b = copy.deepcopy(bundles["uts_mpa"])
    X = featurize(_frame(designs, space), "alloy_v1")[b.features].to_numpy(float)
    y = b.predict(X)["pred"] + np.linspace(-30.0, 30.0, len(X))  # something for trees to fit
    b.estimator = ExtraTreesRegressor(n_estimators=20, random_state=0, n_jobs=1).fit(X[::2], y[::2])
    b.meta = dict(b.meta) | {"q_spread": 2.0, "spread_floor": 1.5}
    ev = Evaluator({"uts_mpa": b}, space.elements)(*space.matrices(designs))
    pred, spread = predict_with_spread(b.estimator, X)
    assert (spread > 1.5).any() and (spread[1::2] > 0).all()
    want = b.interval.frontier_half_width(pred, SpreadInterval.from_meta(b.meta).half_width(spread))
    np.testing.assert_allclose(ev["uts_mpa_pred"], pred, rtol=1e-9)
    np.testing.assert_allclose(ev["uts_mpa_half_in"], want, rtol=1e-9)
    # the reported interval is still the conformal one
    np.testing.assert_allclose(ev["uts_mpa_hi"], b.predict(X)["hi"], rtol=1e-9)
