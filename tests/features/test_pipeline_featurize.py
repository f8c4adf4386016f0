"""The `featurize` stage entry script on hand-written fixtures."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from alloyml.errors import SchemaError
from alloyml.features import feature_labels, featurize

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "pipelines" / "featurize.py"
FIXTURE = Path(__file__).parent / "data" / "processed_al_tiny.csv"


@pytest.fixture(scope="module")
def stage():
    spec = importlib.util.spec_from_file_location("featurize_stage", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_writes_ids_targets_and_features(stage, tmp_path: Path) -> None:
    out = tmp_path / "features" / "al.parquet"
    argv = ["--system", "al", "--input", str(FIXTURE), "--output", str(out), "--preset", "alloy_v1"]
    stage.main(argv)
    table = pd.read_parquet(out)
    labels = feature_labels("alloy_v1")
    assert list(table.columns) == ["row_uid", "group_id", "ys_mpa", "uts_mpa", "elong_pct", *labels]
    assert table["row_uid"].tolist() == [f"fx:{i}" for i in range(5)]
    assert np.isfinite(table[labels].to_numpy()).all()
    expected = featurize(pd.read_csv(FIXTURE))
    np.testing.assert_array_equal(table[labels].to_numpy(), expected.to_numpy())
    meta = json.loads(pq.read_schema(out).metadata[b"alloyml.features"])
    assert meta["preset"] == "alloy_v1" and meta["preset_date"] == "2026-11-28"
    assert meta["system"] == "al" and meta["rows"] == "5" and len(meta["table_digest"]) == 16


def test_parquet_input_and_hardness_target(stage, tmp_path: Path) -> None:
    mg = pd.DataFrame(
        {
            "row_uid": ["m:0", "m:1"],
            "group_id": ["g0", "g1"],
            "system": ["mg", "mg"],
            "Mg": [84.75, 93.5],
            "Li": [14.0, np.nan],
            "Al": [1.25, 6.0],
            "Zn": [np.nan, 0.5],
            "hardness_hv": [np.nan, 62.0],
            "uts_mpa": [145.0, np.nan],
        }
    )
    src, out = tmp_path / "mg.parquet", tmp_path / "mg_features.parquet"
    mg.to_parquet(src, index=False)
    stage.main(
        ["--system", "mg", "--input", str(src), "--output", str(out), "--preset", "composition_v1"]
    )
    table = pd.read_parquet(out)
    assert list(table.columns[:4]) == ["row_uid", "group_id", "uts_mpa", "hardness_hv"]
    assert table.loc[0, "li_phase_beta"] == 1 and table.loc[1, "li_phase_alpha"] == 1
    assert table.loc[0, "density_rom_g_cm3"] == pytest.approx(1.35, rel=0.02)


def test_refuses_wrong_system_and_missing_ids(stage, tmp_path: Path) -> None:
    out = str(tmp_path / "x.parquet")
    with pytest.raises(SchemaError, match="--system 'mg'"):
        stage.main(
            ["--system", "mg", "--input", str(FIXTURE), "--output", out, "--preset", "alloy_v1"]
        )
    no_ids = tmp_path / "no_ids.csv"
    pd.read_csv(FIXTURE).drop(columns=["group_id"]).to_csv(no_ids, index=False)
    with pytest.raises(SchemaError, match="group_id"):
        stage.main(
            ["--system", "al", "--input", str(no_ids), "--output", out, "--preset", "alloy_v1"]
        )
    assert not Path(out).exists()


def test_command_line_exit_codes(tmp_path: Path) -> None:
    out = tmp_path / "al.parquet"
    base = [sys.executable, str(SCRIPT), "--system", "al", "--input", str(FIXTURE)]
    ok = subprocess.run(
        [*base, "--output", str(out), "--preset", "alloy_v1"], capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    assert out.is_file() and "5 rows x 255 features" in ok.stderr
    bad = subprocess.run(
        [*base, "--output", str(out), "--preset", "alloy_v0"], capture_output=True, text=True
    )
    assert bad.returncode == 1
    assert "error: unknown feature preset 'alloy_v0'" in bad.stderr
