"""The `paper_protocols` stage: the protocol file, the papers' splits and categories on the real
interim tables (adapter hooks), honest model choice, the output records, and one small
end-to-end run with cheap models."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from alloyml.errors import AlloyMLError, ConfigError
from alloyml.evaluation.paper_protocols import (
    HIGHER_IS_BETTER,
    RECORD_KEYS,
    Candidate,
    ExperimentResult,
    ProtocolResult,
    RunConfig,
    _inner,
    beaten,
    composition_groups,
    feature_views,
    fit_predict_choice,
    inner_splits,
    load_protocols,
    load_source,
    make_records,
    paper_categories,
    parse_protocols,
    run_paper_protocols,
    select_model,
    summary_lines,
    validate_records,
    write_records,
)
from alloyml.modeling.validation import grouped_holdout_splits, grouped_splits, holdout_splits
from alloyml.schema import ELEMENTS
from alloyml.sources.adapters import a357, anu, hu, m916
from alloyml.sources.ingest import ingest_source, write_interim

PROTOCOLS = load_protocols()
SOURCES = {"anu": "anu_al_1154", "hu": "hu_uq_wrought_al", "a357": "a357_lpdc", "m916": "ghorbani_m916"}  # fmt: skip


@pytest.fixture(scope="module")
def interim(tmp_path_factory, sources, mirror):
    """The four paper-protocol sources ingested from the real mirror into a temporary dir."""
    root = tmp_path_factory.mktemp("interim")
    raw = tmp_path_factory.mktemp("raw")
    for sid in SOURCES.values():
        spec = sources[sid]
        write_interim(ingest_source(spec, raw_dir=raw, mirror=mirror), spec, root / spec.system)
    return root


@pytest.fixture(scope="module")
def frames(interim, sources):
    return {key: load_source(interim, sources[sid].system, sid) for key, sid in SOURCES.items()}


def _comp_keys(frame: pd.DataFrame) -> np.ndarray:
    """Composition key built independently of ``composition_groups`` (string of rounded wt%)."""
    cols = [e for e in ELEMENTS if e in frame.columns]
    wt = frame[cols].fillna(0.0).round(2) + 0.0
    return wt.astype(str).agg("|".join, axis=1).to_numpy()


# ---------------------------------------------------------------- the protocol file


def test_every_paper_number_has_a_citation():
    assert len(PROTOCOLS.anchors) == 38
    for a in PROTOCOLS.anchors:
        assert a.metric in HIGHER_IS_BETTER
        assert a.target in PROTOCOLS.experiments[a.experiment].targets
        if a.value is None:
            assert a.citation is None and a.label.startswith("extra row")
        else:
            assert a.citation is not None and a.citation.reference and a.citation.where
            assert a.label == a.citation.label
    # spot checks against the sources' SOURCE.md (precision of the source, not a rounded table)
    table = {(a.experiment, a.target, a.metric, a.value) for a in PROTOCOLS.anchors}
    assert ("hu_named_to_unspecified", "elong_pct", "r2", -1.24) in table
    assert ("hu_named_to_unspecified", "ys_mpa", "r2", 0.584) in table  # not the rounded 0.58
    assert ("anu_random", "uts_mpa", "rmse", 37.3) in table
    assert ("m916_grouped", "elong_pct", "r2", 0.312) in table
    assert sum(a.value is not None for a in PROTOCOLS.anchors) == 32


def _doc() -> dict:
    from importlib import resources

    import yaml

    text = (resources.files("alloyml.evaluation") / "paper_protocols.yaml").read_text("utf-8")
    return yaml.safe_load(text)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["anchors"][0].update(metric="accuracy"), r"anchors\[0\]\.metric"),
        (lambda d: d["anchors"][1].update(citation="nobody"), r"anchors\[1\]\.citation"),
        (lambda d: d["anchors"][2].update(experiment="x"), r"anchors\[2\]\.experiment"),
        (lambda d: d["anchors"][3].pop("citation"), r"anchors\[3\]: missing required key"),
        (lambda d: d["experiments"]["anu_random"].update(outer="loo"), r"anu_random\.outer"),
        (lambda d: d["datasets"]["a357_lpdc"].update(views=["full"]), r"needs view 'raw'"),
        (lambda d: d["candidate_sets"].update(standard=["xgb"]), r"candidate_sets\.standard"),
    ],
)
def test_protocol_file_errors_name_the_key(edit, message):
    doc = _doc()
    parse_protocols(doc)  # the shipped file is valid
    edit(doc)
    with pytest.raises(ConfigError, match=message):
        parse_protocols(doc)


# ---------------------------------------------------------------- the papers' rows and splits


@pytest.mark.realdata
def test_hu_named_to_unspecified_split(frames):
    full = frames["hu"]
    sheet1 = hu.paper_rows(full)
    # Sheet1 holds 1150 data rows; the adapter rejects two (7075 bar rows whose elongation is a
    # reduction of area), and the Loop I/II lab rows are not Sheet1.
    assert len(full) > len(sheet1) == 1150 - len(hu.IMPLAUSIBLE_ELONGATION)
    assert (sheet1["source_row"] < 10_000).all()
    train, test = hu.paper_split(sheet1)
    assert len(test) == 286
    assert (sheet1["alloy_name"].iloc[test] == "Unspecified").all()
    assert not (sheet1["alloy_name"].iloc[train] == "Unspecified").any()
    assert len(np.intersect1d(train, test)) == 0
    assert len(train) + len(test) == len(sheet1)


@pytest.mark.realdata
def test_a357_fixed_split_is_the_authors(frames):
    f = frames["a357"]
    train, test = a357.paper_split(f)
    assert (len(train), len(test)) == (215, 50)
    assert len(np.intersect1d(train, test)) == 0
    assert (f["source_split"].iloc[train] == "train").all()
    assert (f["source_split"].iloc[test] == "test").all()
    assert list(a357.paper_features(f).columns) == ["Si", "Mg", "Cu", "Fe", "Ti"]


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
    assert composition_groups(f, decimals=3)[2] != g[0]  # the key's decimals are honoured


# ---------------------------------------------------------------- features


@pytest.mark.realdata
def test_paper_categories_add_what_the_papers_used(frames):
    cats = paper_categories(frames["anu"], anu)
    assert cats.shape[1] == 10  # the ten Processing classes
    assert (cats.sum(axis=1) == 1).all()
    cats = paper_categories(hu.paper_rows(frames["hu"]), hu)
    assert any(c.startswith("StrainHardeningMethod=") for c in cats.columns)
    assert any(c.startswith("temper=H1") for c in cats.columns)
    cats = paper_categories(frames["m916"], m916)
    assert sorted(cats.columns) == [f"coded={i}" for i in range(1, 7)]
    assert paper_categories(frames["a357"], a357).shape == (265, 0)  # no hook: no categories


@pytest.mark.realdata
def test_feature_views_are_finite_and_aligned(frames):
    views = feature_views(frames["m916"], m916, "alloy_v1")
    assert set(views) == {"full", "lean"}
    assert views["full"].shape[0] == views["lean"].shape[0] == len(frames["m916"])
    assert views["lean"].shape[1] < views["full"].shape[1]
    assert all(np.isfinite(v).all() for v in views.values())
    views = feature_views(frames["a357"], a357, "alloy_v1", ("raw", "full"))
    assert views["raw"].shape == (265, 5)
    with pytest.raises(ConfigError, match="no paper_features"):
        feature_views(frames["m916"], m916, "alloy_v1", ("raw",))


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
    groups = np.repeat(np.arange(20), 3)
    for tr, te in inner_splits(len(groups), 3, 0, groups):
        assert not set(groups[tr]) & set(groups[te])


def test_inner_cv_uses_fewer_forest_trees_only():
    assert _inner(Candidate("et", "v"), 50).overrides == (("n_estimators", 50),)
    assert _inner(Candidate("rf", "v"), 50).name == "rf[v]"  # same candidate, cheaper forest
    assert _inner(Candidate("xgb", "v"), 50).overrides == ()  # boosting rounds change the model
    assert _inner(Candidate("et", "v"), None).overrides == ()


def test_candidate_text():
    assert Candidate.parse("xgb[lean]") == Candidate("xgb", "lean")
    with pytest.raises(ConfigError):
        Candidate.parse("xgb lean")


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
        "a357_fixed": ExperimentResult(
            "fixed split",
            "al/a357_lpdc",
            {"elong_pct": _fake({"r2": 0.70, "mae": 0.30, "rmse": 0.4, "mape": 11.0})},
        )
    }
    recs = make_records(results, PROTOCOLS.anchors)
    assert [(r["target"], r["metric"]) for r in recs] == [("elong_pct", "r2"), ("elong_pct", "mae")]
    r2, mae = recs
    assert beaten(r2) is True and not r2["note"].startswith("NOT BEATEN")
    assert beaten(mae) is False and mae["note"].startswith("NOT BEATEN: the ANFIS errors")
    assert mae["higher_is_better"] is False and r2["higher_is_better"] is True
    assert "sd 0" in r2["note"]  # two identical splits: spread reported
    assert "anchor: metrics of the authors' ANFIS test predictions" in r2["note"]
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


# ---------------------------------------------------------------- end to end


@pytest.mark.realdata
def test_small_a357_run_end_to_end(interim, sources, tmp_path):
    cfg = RunConfig(
        experiments=("a357_fixed",),
        candidates=(Candidate("ridge", "raw"), Candidate("mean", "raw")),
        n_jobs=1,
    )
    recs = run_paper_protocols(interim, sources, cfg)
    assert len(recs) == 8  # YS r2/mae/mape, UTS r2/mae/mape, EL r2/mae
    for r in recs:
        assert tuple(r) == RECORD_KEYS
        assert r["dataset"] == "al/a357_lpdc"
        assert math.isfinite(r["value"]) and r["anchor_value"] is not None
        assert "train on the 215 'train' castings, test on the 50 'test'" in r["protocol"]
        assert "5-fold CV on the train rows" in r["protocol"]
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
def test_unknown_experiment_is_an_error(interim, sources):
    with pytest.raises(AlloyMLError, match="unknown paper-protocol experiments"):
        run_paper_protocols(interim, sources, RunConfig(experiments=("nope",)))
