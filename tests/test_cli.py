"""The ``alloyml`` command line: ``data validate`` and ``data inspect``."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from alloyml.cli import app

DATA = Path(__file__).resolve().parent / "data"
CSV = DATA / "inhouse_7xxx.csv"
SPEC = DATA / "inhouse_7xxx.spec.yaml"
REASONS = ("non_numeric", "unknown_route", "balance_in_wrong_column", "missing_all_targets")


@pytest.fixture
def run(repo):
    runner = CliRunner()

    def invoke(*args: str):
        # wide terminal so rich does not fold reason codes across lines
        return runner.invoke(app, list(args), env={"COLUMNS": "240"})

    return invoke


def _validate_args(repo, *extra, file=CSV, spec=SPEC):
    return [
        "data",
        "validate",
        str(file),
        "--spec",
        str(spec),
        "--params",
        str(repo / "params.yaml"),
        *extra,
    ]


def assert_clean_failure(result, *fragments: str) -> None:
    """Exit 1 through typer.Exit (not an uncaught exception), one message, no traceback."""
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    assert "error:" in result.output
    for frag in fragments:
        assert frag in result.output, result.output


def test_validate_fixture_summary_and_reasons(run, repo):
    result = run(*_validate_args(repo))
    assert result.exit_code == 0, result.output
    assert result.exception is None
    out = result.output
    assert re.search(r"│\s*7\s*│\s*3\s*│\s*4\s*│", out), out  # rows in / usable / rejected
    for reason in REASONS:
        assert reason in out
    assert "lab_batch3" in out
    assert "Operator" in out  # ignored column reported


def test_validate_writes_rejects_csv(run, repo, tmp_path):
    out_csv = tmp_path / "out.csv"
    result = run(*_validate_args(repo, "--rejects", str(out_csv)))
    assert result.exit_code == 0, result.output
    rej = pd.read_csv(out_csv)
    assert len(rej) == 4
    assert rej["source_row"].tolist() == [3, 4, 5, 6]
    assert rej["reason"].tolist() == list(REASONS)
    assert set(rej["stage"]) == {"ingest"}
    assert str(out_csv) in result.output.replace("\n", "")


def test_validate_without_params_file_uses_defaults(run, tmp_path):
    result = run(
        "data", "validate", str(CSV), "--spec", str(SPEC), "--params", str(tmp_path / "nope.yaml")
    )
    assert result.exit_code == 0, result.output
    assert "missing_all_targets" in result.output


def test_validate_nonexistent_file(run, repo, tmp_path):
    result = run(*_validate_args(repo, file=tmp_path / "missing.csv"))
    assert_clean_failure(result, "not found", "missing.csv")


def test_validate_nonexistent_spec(run, repo, tmp_path):
    result = run(*_validate_args(repo, spec=tmp_path / "missing.yaml"))
    assert_clean_failure(result, "not found", "missing.yaml")


def _bad_spec(tmp_path: Path, mutate) -> Path:
    doc = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    mutate(doc)
    p = tmp_path / "bad.spec.yaml"
    p.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return p


BAD_SPECS = {
    "unknown_system": (lambda d: d.update(system="ti"), "'ti'"),
    "unknown_canonical": (lambda d: d["options"]["columns"].update({"Zn (wt%)": "zinc"}), "'zinc'"),
    "unmodelled_element": (lambda d: d["options"]["columns"].update({"Zr (wt%)": "Hf"}), "'Hf'"),
    "header_not_in_file": (
        lambda d: d["options"]["columns"].update({"Ni (wt%)": "Ni"}),
        "'Ni (wt%)'",
    ),
    "unknown_basis": (lambda d: d["options"].update(basis="vol_pct"), "'vol_pct'"),
    "bad_id": (lambda d: d.update(id="Lab Batch"), "lower_snake_case"),
    "unknown_adapter": (lambda d: d.update(adapter="nosuch"), "'nosuch'"),
}


@pytest.mark.parametrize("case", sorted(BAD_SPECS))
def test_validate_bad_spec(run, repo, tmp_path, case):
    mutate, fragment = BAD_SPECS[case]
    result = run(*_validate_args(repo, spec=_bad_spec(tmp_path, mutate)))
    assert_clean_failure(result, fragment)


def test_validate_spec_not_yaml(run, repo, tmp_path):
    p = tmp_path / "broken.yaml"
    p.write_text("id: [unclosed\n", encoding="utf-8")
    assert_clean_failure(run(*_validate_args(repo, spec=p)), "not valid YAML")


def test_inspect_missing_processed_dir(run, tmp_path):
    result = run("data", "inspect", "al", "--processed-dir", str(tmp_path / "processed"))
    assert_clean_failure(result, "not found", "al.parquet")


def test_no_args_shows_help(run):
    result = run()
    assert "data" in result.output
    assert "Traceback" not in result.output


def test_cli_import_is_light():
    """``alloyml --help`` stays fast: importing the CLI loads none of the heavy libraries."""
    import subprocess
    import sys

    heavy = ("pandas", "numpy", "sklearn", "mlflow", "optuna", "matplotlib", "pandera", "yaml")
    code = f"import sys, alloyml.cli; print(','.join(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"imported at CLI start-up: {out.stdout.strip()}"


@pytest.mark.parametrize("option", ["--n-trials", "--eval-batch", "--batch-size"])
@pytest.mark.parametrize("value", ["0", "-3"])
def test_search_refuses_non_positive_counts(run, repo, option, value):
    """0 used to fall back to the campaign default (20,000 trials) instead of being refused."""
    result = run(
        "search", "al_uhs", option, value, "--no-track", "--params", str(repo / "params.yaml")
    )
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    assert option in result.output and "Invalid value" in result.output, result.output


# ---------------------------------------------------------------- data validate: issue-13 probes


def _sheet(tmp_path: Path, transform=None, name: str = "sheet.csv", **to_csv) -> Path:
    """The fixture sheet, optionally changed, written under ``name``."""
    raw = pd.read_csv(CSV, dtype=object, keep_default_na=False)
    if transform is not None:
        raw = transform(raw)
    p = tmp_path / name
    raw.to_csv(p, index=False, **to_csv)
    return p


def test_validate_refuses_an_unmapped_element_column(run, repo, tmp_path):
    """Hf used to be dropped with a warning and its wt % added to Al."""
    p = _sheet(tmp_path, lambda d: d.assign(Hf="0.5"))
    assert_clean_failure(run(*_validate_args(repo, file=p)), "'Hf'", "options.ignore")


@pytest.mark.parametrize(
    ("content", "fragment"),
    [(CSV.read_bytes(), "rename it to .csv"), (bytes(range(256)) * 4, "not an Excel workbook")],
)
def test_validate_non_workbook_xlsx(run, repo, tmp_path, content, fragment):
    """A CSV named .xlsx or random bytes used to end in a BadZipFile traceback."""
    p = tmp_path / "batch.xlsx"
    p.write_bytes(content)
    assert_clean_failure(run(*_validate_args(repo, file=p)), fragment, "batch.xlsx")


def test_validate_latin1_file_says_how_to_fix(run, repo, tmp_path):
    """A Windows Excel export (cp1252, a superset of latin-1) used to give a bare codec error."""
    p = _sheet(tmp_path, lambda d: d.assign(Operator="Jürgen"), encoding="cp1252")
    assert_clean_failure(run(*_validate_args(repo, file=p)), "line 2", "encoding: latin-1")
    spec = _bad_spec(tmp_path, lambda d: d["options"].update(encoding="cp1252"))
    ok = run(*_validate_args(repo, file=p, spec=spec))
    assert ok.exit_code == 0, ok.output
    assert re.search(r"│\s*7\s*│\s*3\s*│\s*4\s*│", ok.output), ok.output


def test_validate_semicolon_file(run, repo, tmp_path):
    """A ';'-separated file used to fail with a missing-columns error."""
    p = _sheet(tmp_path, sep=";")
    result = run(*_validate_args(repo, file=p))
    assert result.exit_code == 0, result.output
    assert re.search(r"│\s*7\s*│\s*3\s*│\s*4\s*│", result.output), result.output


def test_validate_rejects_into_a_missing_folder(run, repo, tmp_path):
    """--rejects into a folder that does not exist used to end in a traceback."""
    out_csv = tmp_path / "new" / "deeper" / "rejects.csv"
    result = run(*_validate_args(repo, "--rejects", str(out_csv)))
    assert result.exit_code == 0, result.output
    assert pd.read_csv(out_csv)["source_row"].tolist() == [3, 4, 5, 6]


def test_validate_rejects_path_that_cannot_be_written(run, repo, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    result = run(*_validate_args(repo, "--rejects", str(blocker / "rejects.csv")))
    assert_clean_failure(result, "--rejects", "a_file")
    assert_clean_failure(run(*_validate_args(repo, "--rejects", str(tmp_path))), "is a folder")
