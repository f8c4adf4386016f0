"""Campaigns end to end on tiny real-data models: candidates are exact, feasible, diverse."""

from __future__ import annotations

import copy
import json
from dataclasses import replace

import numpy as np
import optuna
import pandas as pd
import pytest
import yaml

from alloyml.features import featurize
from alloyml.modeling.predict import load_bundles
from alloyml.search import SearchError, run_campaign
from alloyml.search import candidates as cands
from alloyml.search.campaign import parse_campaign
from alloyml.search.storage import open_storage

from .conftest import TEST_PARAMS
from .test_search_candidates import oracle_nondominated


def _campaign(name: str, **over):
    doc = yaml.safe_load(TEST_PARAMS.read_text())
    return parse_campaign(name, doc["search"]["campaigns"][name] | over)


def _run(root, name, out, **kw):
    c = kw.pop("campaign", None) or _campaign(name)
    return run_campaign(
        c, seed=42, models_dir=root / "models",
        processed_path=root / "data" / "processed" / f"{c.system}.parquet", output_dir=out, **kw,
    )  # fmt: skip


def _canonical(frame: pd.DataFrame, space) -> pd.DataFrame:
    rows = frame.copy()
    rows["route"] = rows["route"].replace("none", None)
    rows["temper_class"] = rows["temper_class"].replace("none", None)
    return rows[[*space.elements, "route", "temper_class",
                 *cands.process_columns(space.campaign)]]  # fmt: skip


@pytest.fixture(scope="module")
def al_run(search_root, tmp_path_factory):
    return _run(search_root, "t_al", tmp_path_factory.mktemp("t_al"))


def test_al_candidates_are_what_was_evaluated_and_feasible(al_run, search_root):
    res = al_run
    space, c = res.problem.space, res.campaign
    csv = pd.read_csv(res.paths["candidates_csv"])
    assert len(csv) == c.batch_size == res.summary["n_candidates"]
    for col in ["Al", "Zn", "Mg", "Cu", "Zr", "route", "temper_class", "sol1_T_C", "age3_t_h",
                "extrusion_ratio", "uts_mpa_pred", "uts_mpa_lo", "uts_mpa_hi", "elong_pct_pred",
                "elong_pct_lo", "elong_pct_hi", "density_g_cm3", "in_domain", "constraints_ok",
                "at_Al", "novelty", "nearest_3_distance", "active_constraints"]:  # fmt: skip
        assert col in csv.columns, col
    assert csv["constraints_ok"].all()
    # the written designs are exact ...
    designs = cands.designs_of(csv, space)
    assert all(space.violations(d) == [] for d in designs)
    np.testing.assert_allclose(csv[list(space.elements)].sum(axis=1), 100.0, atol=1e-9)
    # ... and predicting them again from the CSV gives the written predictions
    feats = featurize(_canonical(csv, space), "alloy_v1")
    for t, b in load_bundles(search_root / "models", "al").items():
        r = b.predict(feats[b.features].to_numpy(float))
        np.testing.assert_allclose(csv[f"{t}_pred"], r["pred"], rtol=1e-9)
        np.testing.assert_allclose(csv[f"{t}_lo"], np.maximum(r["lo"], 0), rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(csv[f"{t}_hi"], r["hi"], rtol=1e-9)
    # every constraint holds, recomputed from the written values
    assert (csv["elong_pct_lo"] >= 4.0).all()
    assert (csv[list(c.symbols)].sum(axis=1) >= 6.0 - 1e-9).all()
    assert (csv["domain_score"] <= c.domain.max_score).all()
    # diverse: pairwise design-space distance at least min_distance
    v = space.vectors(designs)
    d = np.linalg.norm(v[:, None] - v[None], axis=2)[np.triu_indices(len(v), 1)]
    assert d.min() >= c.min_distance
    # ranked by the objective among feasible trials; the best feasible trial comes first
    feas = res.table[res.table["constraints_ok"]]
    assert csv.loc[0, "objective_uts_mpa"] == pytest.approx(feas["objective_uts_mpa"].max())
    assert csv["objective_uts_mpa"].is_monotonic_decreasing


def test_al_cards_and_reports(al_run, search_root):
    res = al_run
    csv = pd.read_csv(res.paths["candidates_csv"])
    processed = pd.read_parquet(search_root / "data" / "processed" / "al.parquet")
    assert csv["nearest_1_row_uid"].isin(processed["row_uid"]).all()
    dist = csv[[f"nearest_{k}_distance" for k in (1, 2, 3)]].to_numpy()
    assert (np.diff(dist, axis=1) >= 0).all() and (
        csv["novelty"] == csv["nearest_1_distance"]
    ).all()
    np.testing.assert_allclose(csv[[c for c in csv if c.startswith("at_")]].sum(axis=1), 100.0)
    md = res.paths["candidates_md"].read_text()
    assert md.count("## Candidate ") == len(csv)
    assert md.count("Nearest measured alloys") == len(csv)
    assert "elong_pct >= 4 (on the lower bound)" in md
    summary = json.loads(res.paths["summary_json"].read_text())
    assert summary["n_trials_complete"] == 300 and summary["n_workers"] == 1
    assert 0 < summary["n_feasible"] <= 300
    # what best_objective measures is recorded with it (the report names the acquisition)
    objectives = res.campaign.objectives
    assert [o["label"] for o in summary["objectives"]] == [o.label for o in objectives]
    assert set(summary["best_objective"]) == {o["quantity"] for o in summary["objectives"]}
    for key in ("history_png", "pareto_png"):
        assert res.paths[key].stat().st_size > 10_000
    front = pd.read_csv(res.paths["pareto_csv"])
    assert len(front) >= 1
    F = front[["objective_uts_mpa", "elong_pct_lo"]].to_numpy()
    assert oracle_nondominated(F).all()


def test_resume_extends_the_study_without_duplicates(search_root, tmp_path):
    out = tmp_path / "resume"
    first = _run(search_root, "t_al", out, n_trials=120, eval_batch=60)
    with pytest.raises(SearchError, match="--resume"):
        _run(search_root, "t_al", out, n_trials=200)
    second = _run(search_root, "t_al", out, n_trials=200, eval_batch=60, resume=True)
    assert second.stats.n_before == 120 and second.stats.n_new == 80
    study = optuna.load_study(study_name=first.stats.study_name,
                              storage=open_storage(None, out).storage)  # fmt: skip
    trials = study.trials
    assert [t.number for t in trials] == list(range(200))
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
    keys = {json.dumps(t.params, sort_keys=True) for t in trials}
    assert len(keys) == 200
    assert len({t.user_attrs["worker"] for t in trials}) == 2


def test_mgli_ei_reference_phase_field_and_tracking(search_root, tmp_path):
    from alloyml.modeling.tracking import open_tracker

    with open_tracker("alloyml-search", uri=f"sqlite:///{tmp_path / 'mlflow.db'}") as tracker:
        res = _run(search_root, "t_mgli", tmp_path / "mgli", tracker=tracker)
        runs = tracker.mlflow.search_runs(experiment_names=["alloyml-search"], output_format="list")
        client = tracker.mlflow.MlflowClient()
        arts = [a.path for a in client.list_artifacts(runs[0].info.run_id, "candidates")]
    # the EI incumbent: best measured specific strength of an Mg-Li alloy meeting the constraints
    p = pd.read_parquet(search_root / "data" / "processed" / "mg.parquet")
    rho = p["density_g_cm3"].fillna(p["density_calc_g_cm3"])
    ok = (p["Li"].fillna(0) >= 5.0) & (rho <= 1.5) & (p["elong_pct"] >= 3.0)
    assert res.summary["reference_best"]["specific_uts"] == pytest.approx(
        (p["uts_mpa"] / rho)[ok].max()
    )
    cand = res.candidates
    assert len(cand) and (cand["density_g_cm3"] <= 1.5).all()
    expected = cand["Li"].map(cands.li_phase)
    assert (cand["li_phase"] == expected).all() and cand["li_phase"].str.len().gt(0).all()
    # tracking: one run with the models it used and the candidates as artefacts
    tags = runs[0].data.tags
    assert tags["campaign"] == "t_mgli" and tags["model.uts_mpa"] == "ridge"
    assert len(tags["model.uts_mpa.files"]) == 12 and "registry_version" in str(tags)
    assert "candidates/candidates.csv" in arts and "candidates/history.png" in arts
    assert runs[0].data.metrics["n_trials_complete"] == 200


def test_li_rich_prediction_above_a_known_limit_is_marked_extrapolation(search_root, tmp_path):
    res = _run(search_root, "t_mgli", tmp_path / "lim", n_trials=100)
    lim = res.campaign.known_limits[0]
    assert (lim.quantity, lim.value, lim.when) == ("uts_mpa", 300.0, {"Li": (5.7, 100.0)})
    table = res.table
    li_rich = np.flatnonzero((table["Li"] >= 5.7).to_numpy())
    pred = table["uts_mpa_pred"].to_numpy()[li_rich]
    hi, lo = int(li_rich[np.argmax(pred)]), int(li_rich[np.argmin(pred)])
    # the tiny models predict below 300 MPa: move the limit between two Li-rich trials
    middle = float((pred.max() + pred.min()) / 2)
    problem = copy.copy(res.problem)
    problem.campaign = replace(res.campaign, known_limits=(replace(lim, value=middle),))
    cards = cands.card_table(table, [hi, lo], problem, res.measured)
    assert cards.loc[0, "extrapolation"] and not cards.loc[1, "extrapolation"]
    assert "verified Li-rich" in cards.loc[0, "extrapolation_notes"]
    assert f"> {middle:g}" in cards.loc[0, "extrapolation_notes"]
    # predictions above the best measured value of the system are marked as well
    measured = copy.copy(res.measured)
    measured.maxima = dict(res.measured.maxima) | {"elong_pct": 0.0}
    cards = cands.card_table(table, [lo], res.problem, measured)
    assert "above the best measured" in cards.loc[0, "extrapolation_notes"]


def test_two_objective_tpe_campaign_gives_a_pareto_front(search_root, tmp_path):
    res = _run(search_root, "t_mg_pareto", tmp_path / "pareto")
    assert res.campaign.encoding == "conditional"
    front = pd.read_csv(res.paths["pareto_csv"])
    F = front[["objective_specific_uts", "objective_density_g_cm3"]].to_numpy() * [1, -1]
    assert len(front) >= 2 and oracle_nondominated(F).all()
    feas = res.table[res.table["constraints_ok"]]
    Ff = feas[["objective_specific_uts", "objective_density_g_cm3"]].to_numpy() * [1, -1]
    # the front is every non-dominated feasible trial (brute force)
    assert sorted(front["trial"]) == sorted(feas["trial"][oracle_nondominated(Ff)])
    first = res.candidates.iloc[0]
    assert first["trial"] in set(front["trial"])  # the best-ranked candidate is on the front
    assert res.candidates["constraints_ok"].all()


def test_a_prediction_at_the_frontier_gets_a_note_but_is_no_extrapolation(search_root, tmp_path):
    """A design predicted at the level where the model put stronger-than-seen alloys (below the
    best measured value) is noted with its raised upper bound, without the extrapolation flag."""
    res = _run(search_root, "t_mgli", tmp_path / "front", n_trials=30)
    table = res.table
    i = int(np.argmax(table["uts_mpa_pred"].to_numpy()))
    problem = copy.deepcopy(res.problem)
    problem.campaign = replace(res.campaign, known_limits=())
    b = problem.reporter.bundles["uts_mpa"]
    measured = copy.copy(res.measured)
    measured.maxima = dict(res.measured.maxima) | {"uts_mpa": 1e6}  # nothing above the best
    b.interval.frontier_ = float(table["uts_mpa_pred"].iloc[i]) - 1.0
    cards = cands.card_table(table, [i], problem, measured)
    notes = cards.loc[0, "extrapolation_notes"]
    uts = [n for n in notes.split("; ") if n.startswith("uts_mpa predicted")]
    assert len(uts) == 1 and "at the frontier of the measured values" in uts[0]
    assert "upper bound" in uts[0] and "extrapolation protocol" in uts[0]
    assert not cards.loc[0, "extrapolation"]
    b.interval.frontier_ = float(table["uts_mpa_pred"].iloc[i]) + 1.0  # below the frontier
    cards = cands.card_table(table, [i], problem, measured)
    assert "uts_mpa predicted" not in cards.loc[0, "extrapolation_notes"]
