"""``alloyml search``: summary table and files; one clear message per user error."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from alloyml.cli import app


@pytest.fixture
def run(search_root, params_file):
    runner = CliRunner()
    params = params_file()

    def invoke(*args: str, models: str | None = None):
        argv = ["search", "--params", str(params), "--no-track",
                "--models-dir", models or str(search_root / "models"),
                "--processed-dir", str(search_root / "data" / "processed"), *args]  # fmt: skip
        return runner.invoke(app, argv, env={"COLUMNS": "220", "ALLOYML_OPTUNA_STORAGE": ""})

    return invoke


def test_search_writes_candidates_and_prints_a_summary(run, tmp_path):
    out = tmp_path / "cli"
    result = run("t_mgli", "--n-trials", "100", "--batch-size", "3", "--output", str(out))
    assert result.exit_code == 0, result.output
    assert "t_mgli: 3 candidates" in result.output
    assert "100 trials (100 this run" in result.output
    csv = pd.read_csv(out / "candidates.csv")
    assert len(csv) == 3 and csv["constraints_ok"].all()
    for col in ("Mg", "Li", "route", "uts_mpa_pred", "uts_mpa_lo", "uts_mpa_hi",
                "density_g_cm3", "in_domain", "constraints_ok"):  # fmt: skip
        assert col in csv.columns
    assert (out / "candidates.md").is_file() and (out / "study.journal").is_file()
    # a second call on the same study needs --resume; with it, the study grows
    again = run("t_mgli", "--n-trials", "150", "--output", str(out))
    assert again.exit_code == 1 and "--resume" in again.output and "Traceback" not in again.output
    more = run("t_mgli", "--n-trials", "150", "--output", str(out), "--resume")
    assert more.exit_code == 0, more.output
    assert "150 trials (50 this run" in more.output


@pytest.mark.parametrize(
    ("args", "fragment"),
    [(("al_uhz",), "unknown campaign"), (("t_al", "--params", "/nonexistent.yaml"), "not found")],
)
def test_config_errors(run, args, fragment):
    result = run(*args)
    assert result.exit_code == 1 and fragment in result.output, result.output
    assert "Traceback" not in result.output


def test_missing_models(run, tmp_path):
    result = run("t_al", "--output", str(tmp_path / "x"), models=str(tmp_path / "none"))
    assert result.exit_code == 1 and "no trained models" in result.output
