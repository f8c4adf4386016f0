"""Headline numbers (the DVC metrics) computed from the stages' detailed reports."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

from alloyml.headline import (
    backtest_headline,
    best_candidate,
    clean_headline,
    from_reports,
    headline_path,
    search_headline,
    target_headline,
    train_headline,
    write_headline,
)

REPO = Path(__file__).resolve().parents[1]


def _protocol(r2: float, mae: float, coverage: float) -> dict[str, float]:
    return {"r2": r2, "mae": mae, "coverage": coverage, "rmse": 2 * mae, "n": 100}


TRAIN_DOC = {
    "uts_mpa": {
        "champion": "et",
        "n_rows": 100,
        "protocols": {
            "random": _protocol(0.95, 20.0, 0.93),
            "grouped": _protocol(0.93, 31.5, 0.88),
            "loso": _protocol(0.80, 57.8, 0.73),
            "extrapolation": _protocol(-9.9, 101.7, 0.16),
        },
        "screening": {"et": {"grouped": _protocol(0.93, 31.5, 0.88)}},
        "calibration_curve": [[0.5, 0.49]],
    },
    "hardness_hv": {"skipped": "0 rows < min_rows 40"},
}


def test_target_headline_picks_grouped_and_loso():
    head = target_headline(TRAIN_DOC["uts_mpa"])
    assert head == {"grouped_r2": 0.93, "loso_r2": 0.80, "mae": 31.5, "coverage": 0.88}


def test_target_headline_adds_family_when_present_and_drops_non_finite():
    entry = json.loads(json.dumps(TRAIN_DOC["uts_mpa"]))
    entry["protocols"]["family"] = _protocol(0.42, 60.0, 0.7)
    entry["protocols"]["loso"]["r2"] = math.nan
    head = target_headline(entry)
    assert head["family_r2"] == 0.42
    assert "loso_r2" not in head
    assert set(head) == {"grouped_r2", "family_r2", "mae", "coverage"}


def test_train_headline_skips_targets_without_champion():
    assert train_headline(TRAIN_DOC) == {"uts_mpa": target_headline(TRAIN_DOC["uts_mpa"])}


def test_backtest_headline_keeps_factors_only():
    doc = {
        "dataset": "jiang_uts",
        "n_seeds": 20,
        "acceleration_factor_top1": 2.7,
        "acceleration_factor_top5": 1.6,
        "acceleration_factor_definition": "E[random] / mean experiments",
        "acceleration": {"ucb": {"top1": {"mean_vs_random_analytic": 2.7}}},
        "baselines": {
            "random": {"acceleration_factor_top1": 1.0, "seeds": [1, 2]},
            "knn": {"acceleration_factor_top1": 1.9, "acceleration_factor_top5": 1.2},
            "empty": {"n": 3},
        },
    }
    assert backtest_headline(doc) == {
        "acceleration_factor_top1": 2.7,
        "acceleration_factor_top5": 1.6,
        "baselines": {
            "knn": {"acceleration_factor_top1": 1.9, "acceleration_factor_top5": 1.2},
            "random": {"acceleration_factor_top1": 1.0},
        },
    }
    assert backtest_headline({"acceleration_factor_top1": 3.0}) == {"acceleration_factor_top1": 3.0}


def test_best_candidate_takes_first_row_with_interval():
    rows = [
        {"uts_mpa_pred": 850.0, "uts_mpa_lo": 790.0, "uts_mpa_hi": 905.0, "density_g_cm3": 2.85},
        {"uts_mpa_pred": 900.0, "uts_mpa_lo": 800.0, "uts_mpa_hi": 990.0, "density_g_cm3": 2.8},
    ]
    assert best_candidate(rows, ["uts_mpa", "density_g_cm3", "elong_pct"]) == {
        "uts_mpa": {"pred": 850.0, "lo": 790.0, "hi": 905.0},
        "density_g_cm3": {"pred": 2.85},
    }
    assert best_candidate([], ["uts_mpa"]) == {}


def test_search_headline_prefers_best_candidate():
    doc = {
        "n_feasible": 14738,
        "n_trials_complete": 20000,
        "evals_per_s": 301.5,
        "best_objective": {"uts_mpa": 856.4},
        "best_candidate": {"uts_mpa": {"pred": 850.0, "lo": 790.0, "hi": 905.0}},
    }
    assert search_headline(doc) == {
        "n_feasible": 14738,
        "best": {"uts_mpa": {"pred": 850.0, "lo": 790.0, "hi": 905.0}},
    }
    del doc["best_candidate"]  # a report written before the candidate block existed
    assert search_headline(doc) == {"n_feasible": 14738, "best_objective": {"uts_mpa": 856.4}}


def test_clean_headline_totals():
    doc = {
        "rows": 3165,
        "totals": {"kept": 3165, "merged": 686, "rejected": 8, "rows_in": 3859},
        "sources": {"a": {"kept": 1}},
    }
    assert clean_headline(doc) == {"rows_in": 3859, "kept": 3165, "rejected": 8}


def test_write_headline_sorted_json(tmp_path):
    path = write_headline(headline_path(tmp_path, "train", "al"), {"b": 1, "a": {"d": 2, "c": 3}})
    assert path == tmp_path / "reports" / "headline" / "train_al.json"
    assert path.read_text() == '{\n  "a": {\n    "c": 3,\n    "d": 2\n  },\n  "b": 1\n}\n'


def test_from_reports_matches_committed_headlines(tmp_path):
    """Every committed headline file is what its function gives on the committed report, and the
    headline files are exactly the metrics dvc.yaml declares."""
    for sub in ("reports/data", "reports/metrics", "reports/backtest"):
        shutil.copytree(REPO / sub, tmp_path / sub, ignore=shutil.ignore_patterns("*.png", "*.md"))
    written = from_reports(tmp_path)
    names = sorted(p.name for p in written)
    committed = sorted(p.name for p in (REPO / "reports" / "headline").glob("*.json"))
    assert names == committed
    for p in written:
        assert p.read_text() == (REPO / "reports" / "headline" / p.name).read_text(), p.name
    train = json.loads((tmp_path / "reports" / "headline" / "train_al.json").read_text())
    detailed = json.loads((REPO / "reports" / "metrics" / "al.json").read_text())
    assert train["uts_mpa"]["loso_r2"] == detailed["uts_mpa"]["protocols"]["loso"]["r2"]
    dvc = (REPO / "dvc.yaml").read_text()
    assert dvc.count("metrics:") == 4
    for stage in ("clean", "train", "backtest", "search"):
        assert f"reports/headline/{stage}_$" in dvc


@pytest.mark.parametrize("value", [True, "3", None, math.inf])
def test_non_numbers_are_not_headlines(value):
    assert clean_headline({"totals": {"kept": value}}) == {}
