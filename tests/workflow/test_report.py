"""``alloyml report`` on a real quick pipeline run: one self-contained HTML file that a
scientist can mail, whose numbers are the ones the stages wrote, and which says which stages
have not run instead of failing.

The expected values are read from the pipeline's own JSON/CSV outputs, not from the report
module, so a table that shows the wrong row, the wrong protocol or a stale file fails here.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from alloyml.cli import app
from alloyml.reporting.report import FACTOR_FORMAT, FRACTION_FORMAT, R2_FORMAT, build_report
from alloyml.reporting.workspace import Workspace

from ..html_tables import tables

pytestmark = pytest.mark.realdata

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def rows_by_first(table: list[list[str]]) -> dict[str, dict[str, str]]:
    """{first cell: {header: cell}} of a table whose first row is its header."""
    header, *rows = table
    return {r[0]: dict(zip(header, r, strict=True)) for r in rows}


@pytest.fixture(scope="module")
def report(workspace, tmp_path_factory) -> str:
    out = build_report(Workspace.at(workspace), tmp_path_factory.mktemp("report") / "r.html")
    return out.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def report_tables(report) -> dict[str, list[list[str]]]:
    return tables(report)


def _params(workspace: Path) -> dict:
    return yaml.safe_load((workspace / "params.yaml").read_text())


def test_self_contained(report, workspace):
    """No external resource at all: the file must open offline and survive being mailed."""
    refs = re.findall(r"""(?:src|href)\s*=\s*["']?([^"'\s>]+)""", report, flags=re.I)
    external = [r for r in refs if re.match(r"(?:[a-z][a-z0-9+.-]*:)?//", r, flags=re.I)]
    assert not external, external[:5]
    assert not re.search(r"url\(\s*['\"]?(?!data:)", report), "CSS must not load anything"
    assert "<script" not in report.lower() and "<link" not in report.lower()
    imgs = re.findall(r"<img\b[^>]*\bsrc=\"([^\"]+)\"", report)
    # two data-card figures per system at least, and every one an embedded PNG
    assert len(imgs) >= 2 * len(_params(workspace)["base"]["systems"])
    for src in imgs:
        assert src.startswith("data:image/png;base64,"), src[:60]
        assert base64.b64decode(src.split(",", 1)[1], validate=True).startswith(PNG_MAGIC)


def test_every_stage_of_the_run_is_reported(report, workspace):
    """The fixture ran every stage: no "not run" note and no missing figure anywhere."""
    notes = re.findall(r'<p class="note">(.*?)</p>', report)
    assert not notes, notes
    params = _params(workspace)
    for system in params["base"]["systems"]:
        assert f"id='data-{system}'" in report and f"id='models-{system}'" in report


def test_accounting_matches_data_card(report_tables, workspace):
    for system in _params(workspace)["base"]["systems"]:
        card = json.loads((workspace / "reports" / "data" / f"{system}.json").read_text())
        rows = rows_by_first(report_tables[f"accounting-{system}"])
        for sid, s in card["sources"].items():
            r = rows[sid]
            assert [r["rows in"], r["kept"], r["merged"], r["rejected"]] == [
                str(s["rows_in"]), str(s["kept"]), str(s["merged"]), str(s["rejected"])
            ], (system, sid)  # fmt: skip
            for reason, n in s["rejected_by_reason"].items():
                assert f"{reason} {n}" in r["reject reasons (count)"]
        t = card["totals"]
        assert [rows["total"][k] for k in ("rows in", "kept", "merged", "rejected")] == [
            str(t["rows_in"]), str(t["kept"]), str(t["merged"]), str(t["rejected"])
        ]  # fmt: skip


def test_metrics_per_protocol_and_coverage(report, report_tables, workspace):
    n_targets = 0
    for system in _params(workspace)["base"]["systems"]:
        metrics = json.loads((workspace / "reports" / "metrics" / f"{system}.json").read_text())
        for target, m in metrics.items():
            n_targets += 1
            rows = rows_by_first(report_tables[f"metrics-{system}-{target}"])
            assert set(rows) == set(m["protocols"]), (system, target)
            grouped = m["protocols"]["grouped"]
            assert rows["grouped"]["R²"] == R2_FORMAT.format(grouped["r2"])
            assert rows["grouped"]["coverage (nominal 0.90)"] == FRACTION_FORMAT.format(
                grouped["coverage"]
            )
            assert rows["extrapolation"]["test rows"] == str(m["protocols"]["extrapolation"]["n"])
            assert f"champion {m['champion']}" in report
            # calibration: observed coverage at each nominal level, one column per target
            cal = report_tables[f"calibration-{system}"]
            col = cal[0].index(target)
            observed = {r[0]: r[col] for r in cal[1:]}
            for nominal, obs in m["calibration_curve"]:
                assert observed[FRACTION_FORMAT.format(nominal)] == FRACTION_FORMAT.format(obs)
    assert n_targets >= 2


def test_backtest_acceleration(report_tables, workspace):
    found = sorted((workspace / "reports" / "backtest").glob("*.json"))
    assert found, "the fixture runs the backtest"
    for path in found:
        bt = json.loads(path.read_text())
        header, row = report_tables[f"backtest-{path.stem}"]
        r = dict(zip(header, row, strict=True))
        assert r["acceleration top 1 %"] == FACTOR_FORMAT.format(bt["acceleration_factor_top1"])
        assert r["acceleration half of top 5 %"] == FACTOR_FORMAT.format(
            bt["acceleration_factor_top5_half"]
        )
        assert r["seeds"] == str(bt["n_seeds"])
        assert r["method"] == bt["primary"]


def test_candidates_per_campaign(report_tables, workspace):
    campaigns = list(_params(workspace)["search"]["campaigns"])
    assert campaigns
    for c in campaigns:
        cand = pd.read_csv(workspace / "reports" / "candidates" / c / "candidates.csv")
        table = report_tables[f"candidates-{c}"]
        header, first = table[0], table[1]
        assert len(table) - 1 == len(cand)
        row = dict(zip(header, first, strict=True))
        assert row["alloy"] == cand["alloy"].iloc[0]
        assert row["route / temper"] == f"{cand['route'].iloc[0]} / {cand['temper_class'].iloc[0]}"
        assert row["constraints met"] in ("yes", "no")
        pred_cols = [h for h in header if "predicted [90 % interval]" in h]
        assert pred_cols, header
        summary = json.loads(
            (workspace / "reports" / "candidates" / c / "summary.json").read_text()
        )
        srows = {r[0]: r[1] for r in report_tables[f"summary-{c}"][1:]}
        assert srows["trials evaluated"] == str(summary["n_trials_complete"])


def _run_cli(*args: str):
    return CliRunner().invoke(app, ["report", *args], env={"COLUMNS": "400"})


def test_cli_writes_report(workspace, tmp_path):
    out = tmp_path / "sub" / "report.html"
    result = _run_cli("--project", str(workspace), "--output", str(out))
    assert result.exit_code == 0, result.output
    assert str(out) in result.output.replace("\n", "")
    assert out.is_file() and "<h2 id='candidates'>" in out.read_text(encoding="utf-8")


def test_cli_missing_project_fails_cleanly(tmp_path):
    missing = tmp_path / "no_such_project"
    result = _run_cli("--project", str(missing))
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit), result.exception
    assert "error:" in result.output and "no dvc.yaml" in result.output
    assert "Traceback" not in result.output
    # and as a real process, where a traceback would reach the terminal
    proc = subprocess.run(
        [sys.executable, "-m", "alloyml.cli", "report", "--project", str(missing)],
        capture_output=True, text=True, timeout=120, env=os.environ | {"COLUMNS": "300"},
    )  # fmt: skip
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "no dvc.yaml" in proc.stderr.replace("\n", "")


def test_cli_empty_project_fails_cleanly(workspace, tmp_path):
    for name in ("dvc.yaml", "params.yaml"):
        shutil.copy2(workspace / name, tmp_path / name)
    result = _run_cli("--project", str(tmp_path))
    assert result.exit_code == 1
    assert "nothing to report" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "reports" / "report.html").exists()


def test_missing_stage_is_a_note_not_a_crash(workspace, tmp_path):
    """Search not run yet: the report still builds, says so, and keeps the other sections."""
    for rel in ("dvc.yaml", "params.yaml", "dvc.lock"):
        shutil.copy2(workspace / rel, tmp_path / rel)
    shutil.copytree(workspace / "reports", tmp_path / "reports")
    shutil.copytree(workspace / "data" / "processed", tmp_path / "data" / "processed")
    shutil.rmtree(tmp_path / "reports" / "candidates")
    result = _run_cli("--project", str(tmp_path))
    assert result.exit_code == 0, result.output
    text = (tmp_path / "reports" / "report.html").read_text(encoding="utf-8")
    for c in _params(workspace)["search"]["campaigns"]:
        assert f"not run: <code>dvc repro search@{c}</code>" in text
        assert f'id="candidates-{c}"' not in text
    found = tables(text)
    for system in _params(workspace)["base"]["systems"]:
        assert f"accounting-{system}" in found
    assert any(k.startswith("backtest-") for k in found)
