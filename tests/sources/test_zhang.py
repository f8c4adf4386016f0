"""Tests of the ``zhang_mgcazn`` adapter on the real ageing-curve files and on tiny fixtures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alloyml.compositions import atomic_mass
from alloyml.errors import SourceError
from alloyml.process import decode_state
from alloyml.schema import STAGE_COLUMNS
from alloyml.sources.adapters.zhang import COLUMNS, adapt, match_subset
from alloyml.sources.registry import FileSpec, SourceSpec

SOURCE_ID = "zhang_mgcazn"


@pytest.fixture(scope="module")
def paths(real_paths) -> list[Path]:
    return real_paths(SOURCE_ID)


@pytest.fixture(scope="module")
def result(real_source):
    return real_source(SOURCE_ID)


@pytest.fixture(scope="module")
def rows(result) -> pd.DataFrame:
    return result.rows.set_index("source_row", drop=False)


# --------------------------------------------------------------------------- real files


@pytest.mark.realdata
def test_counts_every_raw_row_kept(result):
    assert result.rows_in == 294
    assert len(result.rows) == 294
    assert len(result.rejects) == 0
    assert sorted(result.rows["source_row"]) == list(range(294))


@pytest.mark.realdata
def test_nominal_hardness_only_table(result):
    # columns, dtypes and provenance: test_adapter_contract.py
    rows = result.rows
    assert (rows["comp_basis"] == "nominal").all()
    assert rows["route"].isna().all() and rows["temper"].notna().all()
    assert rows[["ys_mpa", "uts_mpa", "elong_pct", "test_T_C"]].isna().all().all()


@pytest.mark.realdata
def test_author_outliers(result, paths):
    notes = result.notes
    assert notes["clean_rows"] == 256
    assert notes["clean_unmatched"] == []
    out = notes["author_outliers"]
    assert len(out) == 294 - 256 == 38
    assert len(set(out)) == 38 and set(out) <= set(range(294))
    # independent check: the kept raw rows are, as a multiset, exactly the clean file
    raw = pd.read_csv(paths[0])
    clean = pd.read_csv(paths[1])
    kept = raw.drop(index=out)
    key = list(COLUMNS)
    a = kept.sort_values(key).reset_index(drop=True)
    b = clean.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
    assert out[:3] == [15, 16, 61]
    assert result.notes["basis"] == "at_pct_assumed"


@pytest.mark.realdata
def test_at_to_wt_conversion(rows):
    # row 0: Mg 99.09, Ca 0.31, Zn 0.6 (at.%) -> wt %
    m = {s: atomic_mass(s) for s in ("Mg", "Ca", "Zn")}
    total = 99.09 * m["Mg"] + 0.31 * m["Ca"] + 0.6 * m["Zn"]
    assert rows.loc[0, "Zn"] == pytest.approx(100 * 0.6 * m["Zn"] / total)
    assert rows.loc[0, "Ca"] == pytest.approx(100 * 0.31 * m["Ca"] / total)
    assert rows.loc[0, "Zn"] == pytest.approx(1.595, abs=1e-3)
    # Mg-2.4Zn-0.1Ca (at.%), Hono's alloy, is Mg-6.2Zn-0.16Ca in wt %
    r = rows[(rows["age1_T_C"] == 160) & (rows["Ca"] > 0)].iloc[0]
    assert r["Zn"] == pytest.approx(6.20, abs=0.01) and r["Ca"] == pytest.approx(0.158, abs=1e-3)
    comp = rows[["Mg", "Ca", "Zn"]]
    assert comp.notna().all().all()
    assert (comp.sum(axis=1) - 100).abs().max() < 1e-9
    assert rows["Mg"].between(93, 100).all()
    assert rows[["Li", "Al", "Y"]].isna().all().all()  # not reported by this source
    assert len(comp.drop_duplicates()) == 14


@pytest.mark.realdata
def test_ageing_stage_and_temper(rows, result):
    assert result.notes["time0_rows"] == [108, 116, 124, 132]
    zero = rows.loc[[108, 116, 124, 132]]
    assert (zero["temper_class"] == "W").all()
    assert zero[["age1_T_C", "age1_t_h"]].isna().all().all()
    assert (zero["hardness_hv"] == 59.3112).all()
    aged = rows.drop(index=[108, 116, 124, 132])
    assert (aged["temper_class"] == "T6").all()
    # the state: solution treated + aged, degree of ageing from the curve, not from the class
    assert (zero["temper"] == "solution treated").all()
    assert (aged["temper"] == "solution treated + artificially aged").all()
    s_aged = decode_state(aged["temper"].iloc[0], aged["temper_class"].iloc[0], "mg")
    assert s_aged.solution_treated == 1.0 and s_aged.artificial_aged == 1.0
    assert np.isnan(s_aged.ageing_degree)
    s_zero = decode_state(zero["temper"].iloc[0], "W", "mg")
    assert s_zero.temper_class == "W" and s_zero.artificial_aged == 0.0
    assert set(aged["age1_T_C"]) == {70.0, 150.0, 160.0, 175.0, 200.0, 225.0}
    assert (aged["age1_t_h"] > 0).all()
    assert aged["age1_t_h"].max() == 4830.0
    assert rows.loc[0, "age1_T_C"] == 200.0 and rows.loc[0, "age1_t_h"] == 0.02
    assert rows.loc[0, "hardness_hv"] == 50.3509
    others = [c for c in STAGE_COLUMNS if not c.startswith("age1")]
    assert rows[others].isna().all().all()
    assert rows[["cold_work_pct", "extrusion_ratio", "deform_T_C"]].isna().all().all()
    assert rows["hardness_hv"].between(35, 80).all()


# --------------------------------------------------------------------------- fixtures


def _spec(n_files: int = 1, options: dict | None = None) -> SourceSpec:
    files = tuple(FileSpec(path=f"f{i}.csv", sha256="0" * 64) for i in range(n_files))
    return SourceSpec(
        id="zhang_fixture", system="mg", adapter="zhang", files=files, options=options or {}
    )


def _write(tmp_path: Path, name: str, records: list[dict], drop: tuple[str, ...] = ()) -> Path:
    path = tmp_path / name
    pd.DataFrame(records, columns=list(COLUMNS)).drop(columns=list(drop)).to_csv(path, index=False)
    return path


def _rec(**cells) -> dict:
    row = {"Mg": 99.1, "Ca": 0.3, "Zn": 0.6, "Temperature": 200, "Time": 4.0, "Hardness": 60.0}
    row.update(cells)
    return row


def test_fixture_text_cells_and_rejects(tmp_path):
    records = [
        _rec(),
        _rec(Zn="0,6"),  # decimal comma
        _rec(Mg="bal."),  # balance -> 100 - Ca - Zn (at.%)
        _rec(Ca="<0.02"),  # below a limit -> 0.01
        _rec(Hardness="abc"),  # unreadable -> reject
        _rec(Hardness="—"),  # no target -> reject
        _rec(Zn="bal"),  # balance in the wrong column -> reject
        _rec(Time=0),  # as solution treated
        _rec(Time="0.1-0.3"),  # range -> 0.2 h
        _rec(Time=""),  # unknown time: kept, no stage, no class
        _rec(Mg="", Ca="", Zn=""),  # no composition
    ]
    res = adapt(_spec(), [_write(tmp_path, "raw.csv", records)])
    assert res.rows_in == 11
    kept = res.rows.set_index("source_row")
    assert kept.loc[1, "Zn"] == pytest.approx(kept.loc[0, "Zn"])
    assert kept.loc[2, "Mg"] == pytest.approx(kept.loc[0, "Mg"])
    assert kept.loc[3, "Ca"] < kept.loc[0, "Ca"]
    assert kept.loc[7, "temper_class"] == "W" and np.isnan(kept.loc[7, "age1_T_C"])
    assert kept.loc[8, "age1_t_h"] == pytest.approx(0.2) and kept.loc[8, "temper_class"] == "T6"
    assert pd.isna(kept.loc[9, "temper_class"]) and np.isnan(kept.loc[9, "age1_T_C"])
    rej = res.rejects.set_index("source_row")
    assert rej["reason"].to_dict() == {
        4: "non_numeric",
        5: "missing_target",
        6: "balance_in_wrong_column",
        10: "missing_composition",
    }
    assert rej.loc[4, "column"] == "Hardness" and rej.loc[6, "column"] == "Zn"
    assert "author_outliers" not in res.notes  # single file: no outlier list


def test_fixture_missing_required_column(tmp_path):
    with pytest.raises(SourceError, match="Hardness"):
        adapt(_spec(), [_write(tmp_path, "raw.csv", [_rec()], drop=("Hardness",))])
    raw = _write(tmp_path, "raw.csv", [_rec()])
    clean = _write(tmp_path, "clean.csv", [_rec()], drop=("Time",))
    with pytest.raises(SourceError, match="Time"):
        adapt(_spec(2), [raw, clean])


def test_fixture_outlier_matching_with_rounding_and_duplicates(tmp_path):
    raw_records = [
        _rec(Time=1, Hardness=60.12345),
        _rec(Time=1, Hardness=60.12345),  # exact duplicate: only one of the two is in clean
        _rec(Time=2, Hardness=61.0),
        _rec(Time=4, Hardness=70.0),  # removed by the authors
    ]
    clean_records = [
        _rec(Time=1, Hardness=60.12),  # rounded
        _rec(Time=2, Hardness=61.0),
        _rec(Time=8, Hardness=99.0),  # not in raw
    ]
    raw = _write(tmp_path, "raw.csv", raw_records)
    clean = _write(tmp_path, "clean.csv", clean_records)
    res = adapt(_spec(2), [raw, clean])
    assert len(res.rows) == 4  # outliers are kept
    assert res.notes["author_outliers"] == [1, 3]
    assert res.notes["clean_unmatched"] == [2]


def test_match_subset_prefers_exact_match():
    raw = pd.DataFrame({"a": [1.0, 1.004, 2.0]})
    sub = pd.DataFrame({"a": [1.004, 1.0]})
    # the tolerant pass must not steal row 0 from the exact 1.0 match
    assert match_subset(raw, sub) == ([2], [])
    assert match_subset(raw, pd.DataFrame({"a": [5.0]})) == ([0, 1, 2], [0])


def test_fixture_wrong_sheet(tmp_path):
    path = tmp_path / "raw.xlsx"
    pd.DataFrame([_rec()], columns=list(COLUMNS)).to_excel(path, sheet_name="data", index=False)
    assert len(adapt(_spec(options={"sheet": "data"}), [path]).rows) == 1
    with pytest.raises(SourceError, match="missing_sheet"):
        adapt(_spec(options={"sheet": "missing_sheet"}), [path])
