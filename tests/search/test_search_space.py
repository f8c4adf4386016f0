"""Design space: every decoded design is exact; conditional parameters; one featurization path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from alloyml.features import Featurizer, featurize
from alloyml.features.presets import get_preset
from alloyml.search.campaign import parse_campaign
from alloyml.search.space import Design, DesignSpace

PARAMS = Path(__file__).resolve().parent / "data" / "params_search.yaml"


def _campaign(name: str, **over):
    doc = yaml.safe_load(PARAMS.read_text())
    return parse_campaign(name, doc["search"]["campaigns"][name] | over)


@pytest.fixture(scope="module")
def al_space() -> DesignSpace:
    return DesignSpace(_campaign("t_al"), get_preset("alloy_v1"))


@pytest.fixture(scope="module")
def mg_space() -> DesignSpace:
    return DesignSpace(_campaign("t_mg_pareto"), get_preset("alloy_v1"))


def _draw(space: DesignSpace, n: int, seed: int = 0) -> tuple[list, list[Design]]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    trials, designs = [], []
    for _ in range(n):
        t = study.ask()
        designs.append(space.suggest(t))
        trials.append(study.tell(t, 0.0))
    return trials, designs


def _on_grid(x: float, step: float) -> bool:
    return abs(x / step - round(x / step)) < 1e-6


def test_flat_designs_are_exact(al_space):
    c = al_space.campaign
    assert c.encoding == "flat"
    trials, designs = _draw(al_space, 800)
    bounds = {e.symbol: e for e in c.elements}
    n_at_total_max = n_at_card_max = 0
    for t, d in zip(trials, designs, strict=True):
        assert al_space.violations(d, minimum_total=False) == [], (t.params, d)
        assert set(t.params) == set(al_space.flat_distributions)  # same genes in every trial
        total = sum(d.wt[s] for s in c.symbols)
        assert d.wt["Al"] == pytest.approx(100.0 - total, abs=1e-9)
        for s in c.symbols:
            a = d.wt[s]
            assert a == 0 or _on_grid(a, c.step_wt) or a in (bounds[s].lo, bounds[s].hi)
        n_at_total_max += abs(total - c.total_solute_wt[1]) < 1e-9
        n_at_card_max += sum(d.wt[s] > 0 for s in c.symbols) == c.max_elements
        # conditional stages: a stage's values exist exactly when the stage does
        stages = set(d.stages())
        expected = {"T6": {"age1"}, "T7": {"age1", "age2"}, "RRA": {"age1", "age2", "age3"}}
        assert expected[d.temper] <= stages <= expected[d.temper] | {"age2", "sol1", "sol2"}
        assert "sol1" in stages
        assert ("extrusion_ratio" in d.process) == (d.route == "extruded")
    # the repairs were exercised, not only the easy cases
    assert n_at_total_max > 10 and n_at_card_max > 50


def test_conditional_designs_and_parameters(mg_space):
    c = mg_space.campaign
    assert c.encoding == "conditional"
    trials, designs = _draw(mg_space, 600, seed=1)
    seen_absent = seen_t5 = seen_age2 = 0
    for t, d in zip(trials, designs, strict=True):
        assert mg_space.violations(d, minimum_total=False) == [], (t.params, d)
        for e in c.elements:
            if not e.required:
                present = t.params[f"{e.symbol}_present"]
                assert (e.symbol in t.params) == present  # amount only suggested when present
                seen_absent += not present
        has_t5 = d.temper == "T5"
        assert ("T5.age1_T_C" in t.params) == has_t5 and ("age1_T_C" in d.process) == has_t5
        seen_t5 += has_t5
        if has_t5:
            on = t.params["T5.age2_present"]
            assert ("T5.age2_t_h" in t.params) == on == ("age2_t_h" in d.process)
            seen_age2 += on
        else:
            assert not any(k.startswith("T5.") for k in t.params)
            assert d.process == {}
    assert seen_absent and seen_t5 and seen_age2


def test_finish_repairs_total_and_cardinality(al_space):
    c = al_space.campaign  # total <= 12 wt%, at most 6 alloying elements
    raw = {"Zn": 9.0, "Mg": 3.0, "Cu": 2.5, "Zr": 0.2, "Mn": 0.4, "Cr": 0.25, "Ti": 0.08,
           "Fe": 0.2, "Si": 0.15}  # fmt: skip
    d = al_space.finish(raw, "wrought", "T6", {"sol1": (470.4, 1.234), "age1": (120.6, 24.0)}, {})
    assert al_space.violations(d) == []
    assert sum(d.wt[s] for s in c.symbols) == pytest.approx(12.0, abs=1e-9)
    assert sum(d.wt[s] > 0 for s in c.symbols) == 6
    # the three dropped are the smallest relative to their upper bound; required ones are kept
    assert all(d.wt[s] >= b for s, b in (("Zn", 5.0), ("Mg", 1.5), ("Cu", 1.0)))
    assert d.process == {"sol1_T_C": 470.0, "sol1_t_h": 1.23, "age1_T_C": 121.0, "age1_t_h": 24.0}
    assert d.wt["Al"] == pytest.approx(88.0)


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_finish_is_exact_for_any_raw_draw(al_space, data):
    c = al_space.campaign
    raw = {e.symbol: data.draw(st.floats(-0.5 * e.hi, e.hi * 1.2)) for e in c.elements}
    temper = data.draw(st.sampled_from(al_space.tempers))
    stages = {"sol1": (data.draw(st.floats(400, 520)), data.draw(st.floats(0.1, 8)))}
    for s in c.process.tempers[temper]:
        stages[s.name] = (data.draw(st.floats(50, 250)), data.draw(st.floats(0.01, 60)))
    d = al_space.finish(raw, "wrought", temper, stages, {})
    assert al_space.violations(d, minimum_total=False) == []


def _frame(designs: list[Design]) -> pd.DataFrame:
    rows = []
    for d in designs:
        r = dict(d.wt) | dict(d.process)
        r["route"] = None if d.route == "none" else d.route
        r["temper_class"] = None if d.temper == "none" else d.temper
        rows.append(r)
    return pd.DataFrame(rows)


@pytest.mark.parametrize("which", ["al", "mg"])
def test_search_features_equal_the_table_path(al_space, mg_space, which):
    """What the search evaluates is what `featurize` gives for the written candidate."""
    space = al_space if which == "al" else mg_space
    _, designs = _draw(space, 60, seed=3)
    fz = Featurizer("alloy_v1", elements=space.elements)
    X_search = fz.transform(*space.matrices(designs))
    X_table = featurize(_frame(designs), "alloy_v1").to_numpy()
    np.testing.assert_allclose(X_search, X_table, rtol=1e-12, atol=1e-12)


def test_design_vectors(al_space):
    _, designs = _draw(al_space, 30, seed=4)
    v = al_space.vectors(designs)
    assert v.shape == (30, len(al_space.vector_labels()))
    np.testing.assert_allclose(al_space.vectors_frame(_frame(designs).fillna(np.nan)), v,
                               atol=1e-12)  # fmt: skip
    d = designs[0]
    other = Design(dict(d.wt), d.route, d.temper, dict(d.process))
    other.wt["Zn"] = d.wt["Zn"] + 0.4
    other.wt["Al"] = d.wt["Al"] - 0.4
    dist = np.linalg.norm(al_space.vectors([other])[0] - v[0])
    assert dist == pytest.approx(0.4)  # 1 unit = 1 wt%
    hotter = Design(dict(d.wt), d.route, d.temper, dict(d.process) | {
        "sol1_T_C": d.process["sol1_T_C"] + 25.0})  # fmt: skip
    assert np.linalg.norm(al_space.vectors([hotter])[0] - v[0]) == pytest.approx(0.5)
    other_temper = Design(dict(d.wt), d.route, "T7" if d.temper != "T7" else "T6", d.process)
    assert np.linalg.norm(al_space.vectors([other_temper])[0] - v[0]) == pytest.approx(1.0)
    assert np.isfinite(v).all()


def test_exploration_bonus_is_the_in_domain_half_width_not_the_shift_interval():
    """A design out of domain carries a wide shift-calibrated interval; UCB must not chase it."""
    from types import SimpleNamespace

    from alloyml.search.evaluate import Problem

    stub = SimpleNamespace(evaluator=SimpleNamespace(alpha={"uts_mpa": 0.1}))
    ev = {
        "uts_mpa_pred": np.array([700.0, 700.0]),
        "uts_mpa_hi": np.array([800.0, 1100.0]),  # second design: out of domain, q_out interval
        "uts_mpa_half_in": np.array([100.0, 100.0]),
        "density_g_cm3": np.array([2.8, 2.8]),
    }
    sigma = Problem.sigma(stub, "uts_mpa", ev)
    assert sigma[0] == sigma[1] > 0
