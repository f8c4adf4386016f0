"""The notebooks run top to bottom on a real (quick) `dvc repro` and show what they promise."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient

from alloyml.reporting.workspace import NO_ROUNDS

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def _execute(path: Path, workspace: Path, monkeypatch) -> nbformat.NotebookNode:
    monkeypatch.setenv("ALLOYML_WORKSPACE", str(workspace))
    monkeypatch.setenv("ALLOYML_TRACKING_URI", f"sqlite:///{workspace / 'mlflow.db'}")
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={
        "metadata": {"path": str(workspace)}}).execute()  # fmt: skip
    return nb


def _text(nb) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            data = out.get("data", {})
            parts += [data.get("text/plain", ""), data.get("text/markdown", "")]
            parts.append(data.get("text/html", ""))
    return "\n".join(parts)


def _images(nb) -> int:
    return sum("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))


def test_three_notebooks_are_committed_clean():
    names = [p.name for p in NOTEBOOKS]
    assert names == ["01_data_exploration.ipynb", "02_model_comparison.ipynb",
                     "03_candidates.ipynb"]  # fmt: skip
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.get("outputs") for c in code), f"{path.name} committed with outputs"
        source = "\n".join(c.source for c in code)
        assert "from alloyml.reporting.workspace import Workspace" in source
        # the notebooks read pipeline outputs; they do not train, featurize or search
        for forbidden in ("train_target", "featurize(", "run_campaign", "clean_system", ".fit("):
            assert forbidden not in source, f"{path.name} holds pipeline logic ({forbidden})"


def test_data_exploration(workspace, monkeypatch):
    nb = _execute(REPO / "notebooks" / "01_data_exploration.ipynb", workspace, monkeypatch)
    text = _text(nb)
    for system in ("al", "mg"):
        card = json.loads((workspace / "reports" / "data" / f"{system}.json").read_text())
        assert f"{system}: {card['rows']} rows in {card['groups']} composition groups" in text
        for sid in card["sources"]:
            assert sid in text
    rejects = pd.read_csv(workspace / "data" / "processed" / "mg.rejects.csv")
    assert f"mg: {len(rejects)} rejected rows" in text
    assert _images(nb) >= 3  # coverage bars and one histogram figure per system


def test_model_comparison(workspace, monkeypatch):
    nb = _execute(REPO / "notebooks" / "02_model_comparison.ipynb", workspace, monkeypatch)
    text = _text(nb)
    metrics = json.loads((workspace / "reports" / "metrics" / "al.json").read_text())
    for target, m in metrics.items():
        assert target in text
        # the grouped R² read from MLflow equals the metrics file's, as the notebook prints it
        assert f"{m['protocols']['grouped']['r2']:.3f}" in text
    n_champions = sum(len(json.loads(p.read_text()))
                      for p in (workspace / "reports" / "metrics").glob("[a-z][a-z].json"))  # fmt: skip
    # protocol bars + calibration + one parity plot per champion, downloaded from MLflow
    assert _images(nb) >= 2 + n_champions


def test_candidates(workspace, monkeypatch):
    nb = _execute(REPO / "notebooks" / "03_candidates.ipynb", workspace, monkeypatch)
    text = _text(nb)
    campaigns = sorted(
        p.parent.name for p in (workspace / "reports" / "candidates").glob("*/candidates.csv")
    )
    assert campaigns, "the quick repro wrote no campaign"
    for c in campaigns:
        cand = pd.read_csv(workspace / "reports" / "candidates" / c / "candidates.csv")
        assert f"{c}: {len(cand)} candidates" in text
        assert cand["alloy"].iloc[0] in text
    assert _images(nb) >= len(campaigns)  # one trade-off plot per campaign
    # the quick run records no lab round: the round status section says so in one line
    assert not (workspace / "data" / "rounds").exists()
    assert NO_ROUNDS in text


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_names_the_missing_stage(path, tmp_path, monkeypatch):
    """On a project where nothing has run, a notebook stops with the stage to run, not a trace."""
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "params.yaml").write_text(
        "base: {systems: [al, mg]}\nsearch: {campaigns: {}}\n")  # fmt: skip
    monkeypatch.setenv("ALLOYML_WORKSPACE", str(tmp_path))
    monkeypatch.setenv("ALLOYML_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    nb = nbformat.read(path, as_version=4)
    with pytest.raises(Exception, match=r"dvc repro|no MLflow experiment|no campaign"):
        NotebookClient(nb, timeout=300, kernel_name="python3").execute()
