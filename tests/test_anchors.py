"""The `anchors` benchmark: protocol splits on the real interim tables, honest model choice,
output record schema, and one small end-to-end run with cheap models."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from alloyml.anchors import (
    ANCHORS,
    HIGHER_IS_BETTER,
    RECORD_KEYS,
    SOURCES,
    Candidate,
    ProtocolResult,
    RunConfig,
    beaten,
    composition_groups,
    feature_views,
    fit_predict_choice,
    fixed_source_split,
    grouped_holdout_splits,
    holdout_splits,
    hu_named_unspecified_split,
    hu_sheet1,
    load_source,
    make_records,
    run_anchors,
    select_model,
    source_categories,
    summary_lines,
    validate_records,
    write_records,
)
from alloyml.errors import AlloyMLError
from alloyml.modeling.validation import grouped_splits
from alloyml.schema import ELEMENTS
from alloyml.sources.ingest import ingest_source, write_interim


@pytest.fixture(scope="module")
def interim(tmp_path_factory, sources, mirror):
    """The four anchor sources ingested from the real mirror into a temporary interim dir."""
    root = tmp_path_factory.mktemp("interim")
    raw = tmp_path_factory.mktemp("raw")
    for system, sid in SOURCES.values():
        spec = sources[sid]
        write_interim(ingest_source(spec, raw_dir=raw, mirror=mirror), spec, root / system)
    return root


@pytest.fixture(scope="module")
def frames(interim):
    return {key: load_source(interim, system, sid) for key, (system, sid) in SOURCES.items()}


def _comp_keys(frame: pd.DataFrame) -> np.ndarray:
    """Composition key built independently of ``composition_groups`` (string of rounded wt%)."""
    cols = [e for e in ELEMENTS if e in frame.columns]
    wt = frame[cols].fillna(0.0).round(2) + 0.0
    return wt.astype(str).agg("|".join, axis=1).to_numpy()


# ---------------------------------------------------------------- protocol splits on real data


@pytest.mark.realdata
def test_hu_named_to_unspecified_split(frames):
    full = frames["hu"]
    sheet1 = hu_sheet1(full)
    assert len(full) > len(sheet1) == 1150  # the Loop I/II lab rows are not Sheet1
    assert (sheet1["source_row"] < 10_000).all()
    train, test = hu_named_unspecified_split(sheet1)
    assert len(test) == 286
    assert (sheet1["alloy_name"].iloc[test] == "Unspecified").all()
    assert not (sheet1["alloy_name"].iloc[train] == "Unspecified").any()
    assert len(np.intersect1d(train, test)) == 0
    assert len(train) + len(test) == len(sheet1)


@pytest.mark.realdata
def test_a357_fixed_split_is_the_authors(frames):
    f = frames["a357"]
    train, test = fixed_source_split(f)
    assert (len(train), len(test)) == (215, 50)
    assert len(np.intersect1d(train, test)) == 0
    assert (f["source_split"].iloc[train] == "train").all()
    assert (f["source_split"].iloc[test] == "test").all()


@pytest.mark.realdata
def test_m916_grouped_folds_never_share_a_composition(frames):
    f = frames["m916"]
    groups = composition_groups(f)
    keys = _comp_keys(f)
    assert len(np.unique(groups)) == len(np.unique(keys)) > 600
    folds = grouped_splits(groups, 5, 42)
    assert len(folds) == 5
    seen = np.concatenate([te for _, te in folds])
    assert np.array_equal(np.sort(seen), np.arange(len(f)))  # every row tested exactly once
    for tr, te in folds:
        assert not set(keys[tr]) & set(keys[te])


@pytest.mark.realdata
def test_anu_holdout_splits(frames):
    f = frames["anu"]
    assert len(f) == 1154  # rows as published: duplicates kept
    n = len(f)
    splits = holdout_splits(n, 5, 42)
    assert len(splits) == 5
    for tr, te in splits:
        assert len(te) == round(0.2 * n)
        assert len(np.intersect1d(tr, te)) == 0 and len(tr) + len(te) == n
    assert not np.array_equal(splits[0][1], splits[1][1])  # the seeds differ
    keys = _comp_keys(f)
    for tr, te in grouped_holdout_splits(composition_groups(f), 5, 42):
        assert not set(keys[tr]) & set(keys[te])
        assert 0.1 < len(te) / n < 0.3


def test_composition_groups_ignore_process_and_rounding_noise():
    f = pd.DataFrame(
        {
            "Al": [95.0, 95.0, 95.001, 94.9],
            "Cu": [5.0, 5.0, 4.999, 5.1],
            "temper_class": ["T6", "T4", "T6", "T6"],
        }
    )
    g = composition_groups(f)
    assert g[0] == g[1] == g[2]
    assert g[3] != g[0]


# ---------------------------------------------------------------- features


@pytest.mark.realdata
def test_source_categories_add_what_the_papers_used(frames):
    anu = source_categories(frames["anu"], "anu_al_1154")
    assert anu.shape[1] == 10  # the ten Processing classes
    assert (anu.sum(axis=1) == 1).all()
    hu = source_categories(hu_sheet1(frames["hu"]), "hu_uq_wrought_al")
    assert any(c.startswith("StrainHardeningMethod=") for c in hu.columns)
    assert any(c.startswith("temper=H1") for c in hu.columns)
    m916 = source_categories(frames["m916"], "ghorbani_m916")
    assert sorted(m916.columns) == [f"coded={i}" for i in range(1, 7)]


@pytest.mark.realdata
def test_feature_views_are_finite_and_aligned(frames):
    views = feature_views(frames["m916"], "ghorbani_m916", "alloy_v1")
    assert set(views) == {"full", "lean"}
    assert views["full"].shape[0] == views["lean"].shape[0] == len(frames["m916"])
    assert views["lean"].shape[1] < views["full"].shape[1]
    assert all(np.isfinite(v).all() for v in views.values())
    a357 = feature_views(frames["a357"], "a357_lpdc", "alloy_v1")
    assert a357["raw"].shape == (265, 5)


# ---------------------------------------------------------------- honest model choice


def _linear_problem(n: int = 120, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = X @ np.array([3.0, -2.0, 0.5, 0.0]) + rng.normal(scale=0.1, size=n)
    return {"v": X}, y


def test_selection_never_reads_test_targets():
    views, y = _linear_problem()
    train, test = np.arange(90), np.arange(90, 120)
    y = y.copy()
    y[test] = np.nan  # any use of a test target would poison the choice or the fit
    cands = [Candidate("ridge", "v"), Candidate("mean", "v")]
    choice = select_model(views, y, train, cands, k=3, seed=1)
    assert math.isfinite(choice.inner_mse)
    pred = fit_predict_choice(choice, views, y, train, test, seed=1)
    assert pred.shape == (30,) and np.isfinite(pred).all()


def test_selection_picks_the_better_model_by_inner_cv():
    views, y = _linear_problem()
    cands = [Candidate("mean", "v"), Candidate("ridge", "v")]
    choice = select_model(views, y, np.arange(100), cands, k=3, seed=0, blends=True)
    assert choice.name == "ridge[v]"
    assert choice.scores["ridge[v]"] < choice.scores["mean[v]+ridge[v]"] < choice.scores["mean[v]"]


def test_grouped_inner_folds_are_grouped():
    from alloyml.anchors import inner_splits

    groups = np.repeat(np.arange(20), 3)
    for tr, te in inner_splits(len(groups), 3, 0, groups):
        assert not set(groups[tr]) & set(groups[te])


# ---------------------------------------------------------------- records


def _fake(values: dict[str, float]) -> ProtocolResult:
    return ProtocolResult(
        per_split=[dict(values, n=10), dict(values, n=10)],
        chosen=["et[full]", "et[full]"],
        n_train=[40, 40],
        n_test=[10, 10],
    )


def test_records_mark_what_is_not_beaten():
    results = {
        "a357_fixed": (
            "fixed split",
            {"elong_pct": _fake({"r2": 0.70, "mae": 0.30, "rmse": 0.4, "mape": 11.0})},
        )
    }
    recs = make_records(results)
    assert [(r["target"], r["metric"]) for r in recs] == [("elong_pct", "r2"), ("elong_pct", "mae")]
    r2, mae = recs
    assert beaten(r2) is True and not r2["note"].startswith("NOT BEATEN")
    assert beaten(mae) is False and mae["note"].startswith("NOT BEATEN: the ANFIS errors")
    assert mae["higher_is_better"] is False and r2["higher_is_better"] is True
    assert "sd 0" in r2["note"]  # two identical splits: spread reported
    validate_records(recs)


def test_validate_records_rejects_bad_records():
    good = {
        "dataset": "al/a357_lpdc",
        "protocol": "p",
        "target": "ys_mpa",
        "metric": "r2",
        "value": 0.5,
        "anchor_value": 0.24,
        "higher_is_better": True,
    }
    validate_records([good])
    with pytest.raises(AlloyMLError):
        validate_records([good | {"higher_is_better": False}])
    with pytest.raises(AlloyMLError):
        validate_records([good | {"value": float("nan")}])
    with pytest.raises(AlloyMLError):
        validate_records([{k: v for k, v in good.items() if k != "protocol"}])


def test_every_anchor_is_well_formed():
    for a in ANCHORS:
        assert a.metric in HIGHER_IS_BETTER
        assert a.target in ("ys_mpa", "uts_mpa", "elong_pct")
    # the accuracy table rows of ANCHORS.md, spot-checked
    table = {(a.experiment, a.target, a.metric, a.value) for a in ANCHORS}
    assert ("hu_named_to_unspecified", "elong_pct", "r2", -1.24) in table
    assert ("hu_named_to_unspecified", "ys_mpa", "r2", 0.584) in table  # not the rounded 0.58
    assert ("anu_random", "uts_mpa", "rmse", 37.3) in table
    assert ("m916_grouped", "elong_pct", "r2", 0.312) in table


@pytest.mark.realdata
def test_small_a357_run_end_to_end(interim, tmp_path):
    cfg = RunConfig(
        datasets=("a357",),
        a357_candidates=(Candidate("ridge", "raw"), Candidate("mean", "raw")),
        n_jobs=1,
    )
    recs = run_anchors(interim, seed=42, preset="alloy_v1", config=cfg)
    assert len(recs) == 8  # YS r2/mae/mape, UTS r2/mae/mape, EL r2/mae
    for r in recs:
        assert tuple(r) == RECORD_KEYS
        assert r["dataset"] == "al/a357_lpdc"
        assert math.isfinite(r["value"]) and r["anchor_value"] is not None
        assert "215" in r["protocol"] and "50" in r["protocol"]
        assert r["model"] in {"ridge[raw]", "mean[raw]", "ridge[raw]+mean[raw]"}
    ys_r2 = next(r for r in recs if (r["target"], r["metric"]) == ("ys_mpa", "r2"))
    assert ys_r2["anchor_value"] == 0.242  # recomputed from the ANFIS predictions
    assert ys_r2["value"] > 0.3  # a ridge on the five wt% columns explains YS (Fe dominates)
    out = tmp_path / "anchors.json"
    write_records(recs, out)
    loaded = json.loads(out.read_text())
    assert isinstance(loaded, list) and loaded == recs
    assert summary_lines(recs)[-1].startswith("beaten ")


@pytest.mark.realdata
def test_unknown_dataset_is_an_error(interim):
    with pytest.raises(AlloyMLError, match="unknown anchor datasets"):
        run_anchors(interim, config=RunConfig(datasets=("nope",)))


def test_inner_cv_uses_fewer_forest_trees_only():
    from alloyml.anchors import _inner

    assert _inner(Candidate("et", "v"), 50).overrides == (("n_estimators", 50),)
    assert _inner(Candidate("rf", "v"), 50).name == "rf[v]"  # same candidate, cheaper forest
    assert _inner(Candidate("xgb", "v"), 50).overrides == ()  # boosting rounds change the model
    assert _inner(Candidate("et", "v"), None).overrides == ()
