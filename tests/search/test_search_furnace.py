"""Furnace-shared batches and batch selection with fantasies (issue 12), on the tiny fixture."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from alloyml.errors import ConfigError
from alloyml.search import get_campaign, run_campaign
from alloyml.search.candidates import designs_of
from alloyml.search.space import DesignSpace


def _campaign(test_doc, **over):
    doc = yaml.safe_load(yaml.safe_dump(test_doc))
    doc["search"]["campaigns"]["t_al"] |= over
    return get_campaign(doc, "t_al")


def _run(camp, root, out, **kw):
    return run_campaign(
        camp, seed=42, models_dir=root / "models",
        processed_path=root / "data" / "processed" / "al.parquet", output_dir=out,
        storage=f"journal:{out / 'study.journal'}", **kw,
    )  # fmt: skip


def test_furnace_options_are_validated(test_doc):
    c = _campaign(test_doc, shared_process=["sol1", "age1", "age2"], furnace_groups=2)
    assert c.furnace.stages == ("sol1", "age1", "age2") and c.furnace.groups == 2
    assert _campaign(test_doc, furnace_groups=3).furnace.stages == (
        "sol1", "sol2", "age1", "age2", "age3",
    )  # fmt: skip
    # a batch setting, not the problem: the study (its digest) is the same
    assert c.digest(42) == _campaign(test_doc).digest(42)
    with pytest.raises(ConfigError, match="age4"):
        _campaign(test_doc, shared_process=["age4"])
    with pytest.raises(ConfigError, match="furnace_groups"):
        _campaign(test_doc, shared_process=["sol1"], furnace_groups=0)


def test_flat_genes_round_trip(search_root, test_doc):
    """encode_flat is the inverse of decode_flat on exact designs (grafted designs are exact)."""
    from alloyml.features.presets import get_preset
    from alloyml.search.furnace import encode_flat

    camp = _campaign(test_doc)
    space = DesignSpace(camp, get_preset("alloy_v1"))
    rng = np.random.default_rng(3)
    for _ in range(200):
        v = {}
        for name, d in space.flat_distributions.items():
            v[name] = (
                d.choices[rng.integers(len(d.choices))]
                if hasattr(d, "choices")
                else float(rng.uniform(d.low, d.high))
            )
        design = space.decode_flat(v)
        assert space.decode_flat(encode_flat(space, design)) == design


@pytest.mark.parametrize("groups", [1, 2])
def test_furnace_batch_shares_the_schedule(search_root, test_doc, tmp_path, groups):
    from alloyml.search.furnace import schedule_key

    camp = _campaign(test_doc, n_trials=200, shared_process=["sol1", "age1", "age2"],
                     furnace_groups=groups)  # fmt: skip
    res = _run(
        camp,
        search_root,
        tmp_path / "f",
        furnace_options={"n_schedules": 4, "trials_per_schedule": 100},
    )
    cand = res.candidates
    assert len(cand) == camp.batch_size
    designs = designs_of(cand, res.problem.space)
    keys = {schedule_key(d, camp.furnace) for d in designs}
    assert 1 <= len(keys) <= groups
    if groups == 1:  # one temper and one sol1/age1/age2 schedule for the whole batch
        for col in ("temper_class", "sol1_T_C", "sol1_t_h", "age1_T_C", "age1_t_h"):
            assert cand[col].nunique(dropna=False) == 1, col
    assert all(not res.problem.space.violations(d) for d in designs)
    assert cand["constraints_ok"].all()
    vec = res.problem.space.vectors(designs)
    dist = np.linalg.norm(vec[:, None] - vec[None], axis=2) + np.eye(len(vec)) * 1e9
    assert dist.min() >= camp.min_distance
    fur = res.summary["selection"]["furnace"]
    assert len(fur["schedules"]) == len(keys) and fur["n_evaluations"] == 400
    assert fur["unconstrained_batch_value"] > 0 and fur["ratio_to_unconstrained"] > 0


def test_pending_designs_are_fantasies_and_never_proposed_again(search_root, test_doc, tmp_path):
    camp = _campaign(test_doc, n_trials=200)
    first = _run(camp, search_root, tmp_path / "a")
    space = first.problem.space
    old = designs_of(first.candidates, space)
    again = _run(camp, search_root, tmp_path / "b", pending=old[:2], exclude=old[2:])
    new = designs_of(again.candidates, space)
    assert new
    gap = np.linalg.norm(space.vectors(new)[:, None] - space.vectors(old)[None], axis=2)
    assert gap.min() >= camp.min_distance
    sel = again.summary["selection"]
    assert sel["n_pending"] == 2 and sel["n_excluded"] == len(old) - 2


def test_believer_conditioning_shrinks_uncertainty_near_fantasies():
    from alloyml.search.fantasy import condition

    mu = np.array([10.0, 10.0, 10.0])
    sigma = np.array([2.0, 2.0, 2.0])
    rho_xf = np.array([[1.0], [0.5], [0.0]])  # at, near and far from the fantasy
    mu2, sd2 = condition(mu, sigma, rho_xf, np.ones((1, 1)), np.array([10.0]), np.array([2.0]),
                         np.array([10.0]))  # fmt: skip
    assert np.allclose(mu2, mu)  # believer: the prediction stays
    assert sd2[0] < 1e-3 and 0 < sd2[1] < 2.0 and sd2[2] == pytest.approx(2.0)
    mu3, _ = condition(mu, sigma, rho_xf, np.ones((1, 1)), np.array([10.0]), np.array([2.0]),
                       np.array([4.0]))  # fmt: skip
    assert mu3[0] == pytest.approx(4.0, abs=1e-3) and 4.0 < mu3[1] < 10.0 and mu3[2] == 10.0
