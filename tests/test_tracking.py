"""train_system with MLflow tracking into a store under tmp_path: runs, registry, pyfunc model.

One run of ``train_system`` (jiang_7xxx UTS, 150 rows, candidates ``mean`` and ``ridge``, the full
``alloy_v1`` preset) inside a parent run serves every test. The working directory is an empty
temporary directory during training, so any relative default (``sqlite:///mlflow.db``,
``./mlartifacts``, ``./mlruns``) would show up there instead of in the repository.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from alloyml.features import featurize
from alloyml.modeling.train import TrainConfig

pytestmark = pytest.mark.realdata

N_ROWS = 150
DIGEST = "0123456789abcdef"
EXPERIMENT = "alloyml-train"
REGISTERED = "alloyml-al-uts_mpa"
PLOTS = ("parity", "residuals", "calibration", "importance", "learning_curve")
CFG = TrainConfig(
    seed=42,
    models=("mean", "ridge"),
    folds=3,
    inner_folds=2,
    tuning_trials=0,
    n_jobs=1,
    learning_curve_fractions=(0.5, 1.0),
)


@pytest.fixture(scope="module")
def jiang(jiang_subset) -> pd.DataFrame:
    """150 cleaned jiang_7xxx rows with UTS, sampled with a fixed seed."""
    return jiang_subset(N_ROWS, seed=11)


@pytest.fixture(scope="module")
def trained(jiang, tmp_path_factory) -> dict[str, Any]:
    import mlflow

    from alloyml.modeling.tracking import open_tracker
    from alloyml.modeling.train import train_system

    base = tmp_path_factory.mktemp("tracking")
    cwd = base / "cwd"
    cwd.mkdir()
    uri = f"sqlite:///{base / 'mlflow.db'}"
    features = pd.concat(
        [jiang[["row_uid", "group_id", "uts_mpa", "hardness_hv"]], featurize(jiang, "alloy_v1")],
        axis=1,
    )
    assert jiang["hardness_hv"].isna().all()  # jiang_7xxx has no hardness: below min_rows
    prev = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.chdir(cwd)
            with threadpool_limits(limits=1), open_tracker(EXPERIMENT, uri=uri) as tracker:
                with tracker.run("train-al", tags={"system": "al", "stage": "train"}) as parent:
                    doc = train_system(
                        "al",
                        features,
                        jiang,
                        ("uts_mpa", "hardness_hv"),
                        CFG,
                        "alloy_v1",
                        base / "models" / "al",
                        base / "plots" / "al",
                        tracker=tracker,
                        data_source="data/processed/al.parquet",
                        data_digest=DIGEST,
                    )
                    parent_id = parent.info.run_id
            left_in_cwd = sorted(p.name for p in cwd.iterdir())
            client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
            mlflow.set_tracking_uri(uri)
            mlflow.set_registry_uri(uri)
            pyfunc = mlflow.pyfunc.load_model(f"models:/{REGISTERED}@champion")
    finally:
        mlflow.set_tracking_uri(prev[0])
        mlflow.set_registry_uri(prev[1])
    return {
        "doc": doc,
        "uri": uri,
        "base": base,
        "client": client,
        "parent_id": parent_id,
        "left_in_cwd": left_in_cwd,
        "pyfunc": pyfunc,
        "features": features,
    }


def _children(trained) -> dict[str, Any]:
    client = trained["client"]
    exp = client.get_experiment_by_name(EXPERIMENT)
    runs = client.search_runs(
        [exp.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{trained['parent_id']}'"
    )
    return {r.info.run_name: r for r in runs}


def test_nothing_written_outside_tmp(trained):
    assert trained["left_in_cwd"] == []
    assert (trained["base"] / "mlflow.db").is_file()
    assert (trained["base"] / "mlartifacts").is_dir()  # artefacts beside the database


def test_metrics_document(trained):
    doc = trained["doc"]
    assert doc["hardness_hv"] == {"skipped": f"0 rows < min_rows {CFG.min_rows}"}
    uts = doc["uts_mpa"]
    assert uts["n_rows"] == N_ROWS
    assert uts["champion"] in ("mean", "ridge")
    assert uts["champion"] == min(
        uts["screening"], key=lambda m: uts["screening"][m]["grouped"]["mae"]
    )
    assert {"random", "grouped", "extrapolation"} <= set(uts["protocols"])
    # the settings a reader needs (the report's nominal coverage), as the model was trained
    meta = json.loads((trained["base"] / "models" / "al" / "uts_mpa" / "meta.json").read_text())
    assert uts["alpha"] == meta["alpha"] == CFG.alpha
    assert uts["extrapolation_quantile"] == CFG.extrapolation_quantile


def test_child_runs_with_tags_and_metrics(trained):
    children = _children(trained)
    champion = trained["doc"]["uts_mpa"]["champion"]
    assert {"uts_mpa/mean/grouped", "uts_mpa/ridge/grouped", "uts_mpa/champion"} <= set(children)
    assert not any(name.startswith("hardness_hv") for name in children)  # skipped: no runs
    for run in children.values():
        tags = run.data.tags
        assert tags["system"] == "al" and tags["target"] == "uts_mpa"
        assert tags["data_digest"] == DIGEST
    screen = children["uts_mpa/ridge/grouped"].data
    assert screen.metrics["mae"] == pytest.approx(
        trained["doc"]["uts_mpa"]["screening"]["ridge"]["grouped"]["mae"]
    )
    champ = children["uts_mpa/champion"].data
    assert champ.tags["role"] == "champion" and champ.tags["model"] == champion
    assert champ.params["model"] == champion and champ.params["n_rows"] == str(N_ROWS)
    for key in ("grouped_mae", "grouped_r2", "grouped_coverage", "random_mae", "extrapolation_mae"):
        assert np.isfinite(champ.metrics[key]), key
    protos = trained["doc"]["uts_mpa"]["protocols"]
    assert champ.metrics["grouped_mae"] == pytest.approx(protos["grouped"]["mae"])
    assert champ.metrics["grouped_coverage"] == pytest.approx(protos["grouped"]["coverage"])


def test_dataset_and_plot_artefacts(trained):
    client = trained["client"]
    champ = _children(trained)["uts_mpa/champion"]
    datasets = [d.dataset for d in champ.inputs.dataset_inputs]
    assert [(d.name, d.digest) for d in datasets] == [("al-uts_mpa", DIGEST)]
    pngs = {Path(a.path).name for a in client.list_artifacts(champ.info.run_id, "plots")}
    assert pngs == {f"uts_mpa_{p}.png" for p in PLOTS}


def test_registered_champion_alias(trained):
    client = trained["client"]
    mv = client.get_model_version_by_alias(REGISTERED, "champion")
    champ = _children(trained)["uts_mpa/champion"]
    assert mv.run_id == champ.info.run_id
    assert int(mv.version) == 1


def test_pyfunc_from_registry_matches_bundle(trained):
    from alloyml.modeling.bundle import load_bundle

    bundle = load_bundle(trained["base"] / "models" / "al" / "uts_mpa")
    frame = trained["features"][bundle.features].head(12)
    out = trained["pyfunc"].predict(frame)
    assert list(out.columns) == ["pred", "lo", "hi", "in_domain"]
    assert len(out) == 12
    want = bundle.predict(frame.to_numpy(dtype=float))
    np.testing.assert_allclose(out["pred"].to_numpy(), want["pred"])
    np.testing.assert_allclose(out["hi"].to_numpy(), want["hi"])
    assert (out["lo"] <= out["pred"]).all() and (out["pred"] <= out["hi"]).all()
    assert out["in_domain"].dtype == bool


def test_bundle_and_plots_on_disk(trained):
    bdir = trained["base"] / "models" / "al" / "uts_mpa"
    names = {p.name for p in bdir.iterdir()}
    assert {"meta.json", "calibration.npz"} <= names
    from alloyml.modeling.bundle import MODEL_FILES, load_bundle

    assert len(names & set(MODEL_FILES)) == 1
    assert not (trained["base"] / "models" / "al" / "hardness_hv").exists()

    meta = load_bundle(bdir).meta
    assert (meta["system"], meta["preset"], meta["data_digest"]) == ("al", "alloy_v1", DIGEST)
    for p in PLOTS:
        png = trained["base"] / "plots" / "al" / f"uts_mpa_{p}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png


# ---------------------------------------------------------------- a copied project (issue 13)


def _locations(db: Path) -> list[str]:
    """Every artefact location MLflow stored in ``db``."""
    import sqlite3

    from alloyml.modeling.tracking import _LOCATION_COLUMNS

    con = sqlite3.connect(db)
    try:
        tables = {t for (t,) in con.execute("select name from sqlite_master where type='table'")}
        out = []
        for table, col in _LOCATION_COLUMNS:
            cols = {r[1] for r in con.execute(f"pragma table_info({table})")}
            if table in tables and col in cols:
                out += [v for (v,) in con.execute(f"select {col} from {table}") if v]
        return out
    finally:
        con.close()


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_copied_project_logs_into_its_own_artifacts(tmp_path, monkeypatch):
    """A copy used to write its artefacts into the original project's mlartifacts/."""
    import mlflow

    from alloyml.modeling.tracking import open_tracker

    prev = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    a, b = tmp_path / "project", tmp_path / "elsewhere" / "project-copy"
    a.mkdir()
    (a / "first.txt").write_text("first run")
    monkeypatch.delenv("ALLOYML_TRACKING_URI", raising=False)
    try:
        monkeypatch.chdir(a)  # default URI sqlite:///mlflow.db, relative to the project
        with open_tracker("alloyml-train") as tracker, tracker.run("first") as run:
            tracker.log_artifact(a / "first.txt")
            first_id = run.info.run_id
        shutil.copytree(a, b)
        original = _files(a / "mlartifacts")
        monkeypatch.chdir(b)
        (b / "second.txt").write_text("second run")
        with open_tracker("alloyml-train") as tracker, tracker.run("second") as run:
            tracker.log_artifact(b / "second.txt")
            second_id = run.info.run_id
    finally:
        mlflow.set_tracking_uri(prev[0])
        mlflow.set_registry_uri(prev[1])
    assert _files(a / "mlartifacts") == original  # nothing new in the original
    assert f"{second_id}/artifacts/second.txt" in _files(b / "mlartifacts")
    locations = _locations(b / "mlflow.db")
    assert locations and not [loc for loc in locations if str(a) + "/" in loc + "/"]
    shutil.rmtree(a)  # the copy stands alone: its first run's artefact is read from the copy
    uri = f"sqlite:///{b / 'mlflow.db'}"
    got = mlflow.artifacts.download_artifacts(
        run_id=first_id, artifact_path="first.txt", tracking_uri=uri, dst_path=str(tmp_path / "dl")
    )
    assert Path(got).read_text() == "first run"


def test_relocation_leaves_a_store_in_place_alone(tmp_path):
    import sqlite3

    from alloyml.modeling.tracking import relocate_artifacts

    assert relocate_artifacts(tmp_path / "none.db") == 0
    db = tmp_path / "mlflow.db"
    con = sqlite3.connect(db)
    con.execute("create table experiments (experiment_id int, artifact_location text)")
    here = (tmp_path / "mlartifacts").as_uri()
    con.execute("insert into experiments values (1, ?), (2, 's3://bucket/mlartifacts')", (here,))
    con.commit()
    con.close()
    assert relocate_artifacts(db) == 0
    assert sorted(_locations(db)) == sorted([here, "s3://bucket/mlartifacts"])


def test_copied_store_with_registered_model(trained, tmp_path):
    """Runs, logged models and registry entries of a copied store all point into the copy."""
    import mlflow

    from alloyml.modeling.tracking import relocate_artifacts

    copy = tmp_path / "copy"
    copy.mkdir()
    shutil.copy2(trained["base"] / "mlflow.db", copy / "mlflow.db")
    shutil.copytree(trained["base"] / "mlartifacts", copy / "mlartifacts")
    assert relocate_artifacts(copy / "mlflow.db") > 0
    assert relocate_artifacts(copy / "mlflow.db") == 0  # idempotent
    # MLflow's Default experiment (id 0, unused by alloyml) sits in the cwd of the process that
    # created the store (here a subfolder, not beside the database): it is left as it was.
    locations = [loc for loc in _locations(copy / "mlflow.db") if not loc.endswith("/mlruns/0")]
    base = str(trained["base"]) + "/"
    assert not [loc for loc in locations if base in loc + "/"]
    assert any((copy / "mlartifacts").as_uri() in loc for loc in locations)
    uri = f"sqlite:///{copy / 'mlflow.db'}"
    prev = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    try:
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        model = mlflow.pyfunc.load_model(f"models:/{REGISTERED}@champion")
    finally:
        mlflow.set_tracking_uri(prev[0])
        mlflow.set_registry_uri(prev[1])
    frame = trained["features"][model.metadata.get_input_schema().input_names()].head(3)
    np.testing.assert_allclose(
        model.predict(frame)["pred"].to_numpy(), trained["pyfunc"].predict(frame)["pred"]
    )


def test_relocation_of_a_read_only_copy_warns(tmp_path, caplog, monkeypatch):
    import sqlite3

    import alloyml.modeling.tracking as tracking

    db = tmp_path / "mlflow.db"
    db.write_bytes(b"")

    def read_only(path):
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(tracking, "_relocate", read_only)
    with caplog.at_level("WARNING", logger="alloyml.modeling.tracking"):
        assert tracking.relocate_artifacts(db) == 0
    assert "could not point MLflow store" in caplog.text and "readonly" in caplog.text


def test_experiment_opens_as_model_training(trained):
    from alloyml.modeling.tracking import EXPERIMENT_KIND_TAG, MODEL_TRAINING

    exp = trained["client"].get_experiment_by_name(EXPERIMENT)
    assert exp.tags[EXPERIMENT_KIND_TAG] == MODEL_TRAINING == "custom_model_development"


def test_champion_headline_on_parent_and_in_description(trained):
    import json

    from alloyml.headline import target_headline
    from alloyml.modeling.tracking import CHAMPIONS_VIEW, SHARED_VIEW_PREFIX, champions_view_url

    client = trained["client"]
    champ = _children(trained)["uts_mpa/champion"]
    assert champ.data.tags["current"] == "true"
    assert not any(r.data.tags.get("current") for n, r in _children(trained).items() if "/" in n
                   and not n.endswith("/champion"))  # fmt: skip
    head = target_headline(trained["doc"]["uts_mpa"])
    assert set(head) >= {"grouped_r2", "mae", "coverage"}
    parent = client.get_run(trained["parent_id"]).data.metrics
    assert {k: parent[f"uts_mpa/{k}"] for k in head} == pytest.approx(head)
    assert champ.data.metrics["grouped_r2"] == pytest.approx(head["grouped_r2"])

    exp = client.get_experiment_by_name(EXPERIMENT)
    text = exp.tags["mlflow.note.content"]
    assert champions_view_url(exp.experiment_id) in text
    row = f"| al | uts_mpa | {champ.data.tags['model']} | {head['grouped_r2']:.3g} |"
    assert row in text, text
    assert "hardness_hv" not in text  # skipped target: no champion
    view = json.loads(exp.tags[SHARED_VIEW_PREFIX + CHAMPIONS_VIEW])
    assert view["searchFilter"] == "tags.current = 'true'"
    assert "metrics.`grouped_coverage`" in view["selectedColumns"]
    assert view["orderByKey"].startswith("metrics.")  # flat list, not folded under parents
    found = client.search_runs([exp.experiment_id], filter_string=view["searchFilter"])
    assert [r.info.run_id for r in found] == [champ.info.run_id]


def test_newer_champion_supersedes_older(tmp_path):
    """Two trainings of the same targets: only the newer champions are current and listed."""
    import mlflow

    from alloyml.modeling.tracking import CHAMPION_METRICS, open_tracker

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    ids = []
    for r2 in (0.5, 0.75):
        with open_tracker(EXPERIMENT, uri=uri) as tracker:
            for system in ("al", "mg"):
                with tracker.run(f"train-{system}", tags={"system": system}):
                    tags = {"system": system, "target": "ys_mpa", "model": "et"}
                    with tracker.run("ys_mpa/champion", tags=tags, nested=True) as run:
                        tracker.log_metrics({"grouped_r2": r2, "loso_r2": r2 / 2}, prefix="")
                        tracker.log_champion(system, "ys_mpa", {"grouped_r2": r2, "mae": 9.0})
                        ids.append((system, r2, run.info.run_id))
    client = mlflow.MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(EXPERIMENT)
    current = {(sy, r2): client.get_run(i).data.tags["current"] for sy, r2, i in ids}
    assert current == {("al", 0.5): "false", ("mg", 0.5): "false",
                       ("al", 0.75): "true", ("mg", 0.75): "true"}  # fmt: skip
    text = exp.tags["mlflow.note.content"]
    lines = [ln for ln in text.splitlines() if ln.startswith("| al") or ln.startswith("| mg")]
    assert lines == ["| al | ys_mpa | et | 0.75 | 0.375 |", "| mg | ys_mpa | et | 0.75 | 0.375 |"]
    header = next(ln for ln in text.splitlines() if ln.startswith("| system"))
    labels = dict(CHAMPION_METRICS)
    assert header == f"| system | target | model | {labels['grouped_r2']} | {labels['loso_r2']} |"


def test_workspace_reads_runs_without_touching_the_global_tracking_uri(trained, tmp_path):
    """``Workspace.runs`` gives the frame of ``mlflow.search_runs`` through its own client."""
    import mlflow

    from alloyml.reporting.workspace import Workspace

    elsewhere = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    prev = mlflow.get_tracking_uri()
    try:
        mlflow.set_tracking_uri(elsewhere)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("ALLOYML_TRACKING_URI", trained["uri"])
            ws = Workspace(tmp_path)
            ours = ws.runs(EXPERIMENT)
            tidy = ws.train_runs()
        assert mlflow.get_tracking_uri() == elsewhere
        mlflow.set_tracking_uri(trained["uri"])
        theirs = mlflow.search_runs(experiment_names=[EXPERIMENT], output_format="pandas")
    finally:
        mlflow.set_tracking_uri(prev)
    assert list(ours.columns[:6]) == list(theirs.columns[:6])
    assert set(ours.columns) == set(theirs.columns)
    assert list(ours["run_id"]) == list(theirs["run_id"])  # same order: newest first
    cols = sorted(theirs.columns)

    def nulls_as_none(frame: pd.DataFrame) -> pd.DataFrame:  # NaN / None / NaT alike
        return frame[cols].astype(object).where(frame[cols].notna(), None)

    pd.testing.assert_frame_equal(nulls_as_none(ours), nulls_as_none(theirs), check_dtype=False)
    champion = trained["doc"]["uts_mpa"]["champion"]
    champ = tidy.loc[tidy["role"] == "champion"].iloc[0]
    assert (champ["system"], champ["target"], champ["model"]) == ("al", "uts_mpa", champion)
    assert set(tidy.loc[tidy["role"] == "candidate", "model"]) == {"mean", "ridge"}
