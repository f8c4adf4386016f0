"""Adapter ``park`` on the real Sheet1 of the pinned workbook, plus small hand-written sheets."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from alloyml.errors import SourceError
from alloyml.process import decode_state
from alloyml.schema import ELEMENTS, PROCESS_NUMERIC
from alloyml.sources.adapters.park import adapt

SOURCE_ID = "park_7xxx"
SHEET_ELEMENTS = ["Zn", "Mg", "Cu", "Zr", "Ti", "Fe", "Si"]


@pytest.fixture(scope="module")
def spec(sources):
    return sources[SOURCE_ID]


@pytest.fixture(scope="module")
def result(real_source):
    return real_source(SOURCE_ID)


@pytest.fixture(scope="module")
def rows(result):
    return result.rows.set_index(result.rows["source_row"].astype(int))


# ---------------------------------------------------------------- real file


def test_counts_and_normalisation_rows(result):
    assert result.rows_in == 229  # 227 samples + max row + min row (blank line is layout)
    assert len(result.rows) == 227
    rej = result.rejects
    assert list(rej["source_row"]) == [228, 229]
    assert set(rej["reason"]) == {"normalisation_row"}
    assert "maximum" in rej["detail"].iloc[0] and "minimum" in rej["detail"].iloc[1]
    assert list(result.rows["source_row"].astype(int)) == list(range(227))


def test_same_values_as_the_csv_export(rows, mirror):
    csv = pd.read_csv(mirror / "al" / "park_7xxx_xai" / "park2022_7xxx_sheet1.csv")
    csv = csv[csv["row_role"] == "data"].reset_index(drop=True)
    assert len(csv) == len(rows)
    for ours, theirs in [(e, f"{e}_wt") for e in SHEET_ELEMENTS] + [
        ("ys_mpa", "YS_MPa"),
        ("uts_mpa", "TS_MPa"),
        ("elong_pct", "EL_pct"),
    ]:
        assert np.allclose(rows[ours].to_numpy(), csv[theirs].to_numpy()), ours
    codes = (
        "cast="
        + csv["Casting_code_0B_1PM"].astype(str)
        + ";homog="
        + csv["Homogenization_code"].astype(str)
        + ";extr="
        + csv["Extrusion_code_0X_1O"].astype(str)
        + ";sol="
        + csv["Solution_treatment_code"].astype(str)
        + ";age="
        + csv["Aging_code"].astype(str)
    )
    assert list(rows["process_code"]) == list(codes)


def test_known_rows(rows):
    r0 = rows.loc[0]  # No. 1
    assert r0[SHEET_ELEMENTS].tolist() == pytest.approx([7.66, 2.63, 1.96, 0.11, 0.004, 0.1, 0.03])
    assert r0["Al"] == pytest.approx(100 - 12.494)
    assert (r0["ys_mpa"], r0["uts_mpa"], r0["elong_pct"]) == (654.0, 693.0, 14.0)
    assert r0["route"] == "extruded"  # cast in PM, then extruded: extrusion wins
    assert r0["process_code"] == "cast=1;homog=2;extr=1;sol=2;age=1"
    # solution + ageing: T6 by definition, the degree of ageing unknown (code table not given)
    assert r0["temper"] == "homogenised + extruded + solution treated + artificially aged"
    assert r0["temper_class"] == "T6"
    state = decode_state(r0["temper"])
    assert state.solution_treated == 1.0 and np.isnan(state.ageing_degree)
    assert state.homogenised == 1.0
    r1 = rows.loc[1]  # No. 2: book mould, not extruded
    assert r1["route"] == "cast_book_mould"
    assert r1["process_code"] == "cast=0;homog=0;extr=0;sol=7;age=1"
    r225 = rows.loc[225]  # No. 226: as-quenched, EL 42.5 %
    assert r225["temper_class"] == "W" and r225["elong_pct"] == 42.5


def test_composition_balance_and_basis(rows):
    assert np.allclose(rows["Al"] + rows[SHEET_ELEMENTS].sum(axis=1), 100.0)
    absent = [e for e in ELEMENTS if e not in SHEET_ELEMENTS + ["Al"]]
    assert rows[absent].isna().all().all()
    assert (rows["comp_basis"] == "measured").all()
    assert rows["Zn"].between(5.57, 8.70).all()


def test_no_numeric_process_values(rows):
    assert rows[list(PROCESS_NUMERIC)].isna().all().all()


def test_routes_and_temper_classes(rows):
    assert rows["route"].value_counts().to_dict() == {
        "extruded": 134,
        "cast_book_mould": 65,
        "cast_perm_mould": 28,
    }
    classes = rows["temper_class"].value_counts(dropna=False).to_dict()
    assert classes == {"T6": 142, "F": 23, "W": 38, "T5": 7, pd.NA: 17}
    # every row's state is decoded; the 17 without a class are homogenised castings
    states = [decode_state(t) for t in rows["temper"]]
    assert all(st.known and st.detail_known for st in states)
    no_class = rows["temper_class"].isna()
    assert (rows.loc[no_class, "temper"] == "as-cast + homogenised").all()
    assert rows.loc[no_class, "route"].str.startswith("cast").all()
    codes = rows["process_code"].str.extract(r"sol=(\d+);age=(\d+)").astype(int)
    f, w = rows["temper_class"] == "F", rows["temper_class"] == "W"
    assert ((codes.loc[f, 0] == 0) & (codes.loc[f, 1] == 0)).all()
    assert ((codes.loc[w, 0] > 0) & (codes.loc[w, 1] == 0)).all()
    # as-quenched rows are soft and ductile compared with aged ones
    assert rows.loc[w, "ys_mpa"].max() < 500
    assert rows.loc[w, "elong_pct"].mean() > 20


def test_provenance(rows):
    assert rows["doi"].isna().all()  # DOI not verified in SOURCE.md
    assert rows["reference"].str.contains("explainable artificial intelligence").all()
    assert rows["alloy_name"].isna().all()


# ---------------------------------------------------------------- hand-written sheets

NAMES = [
    None,
    *SHEET_ELEMENTS,
    "Casting     (0: B, 1:PM)",
    "Homogenization (℃/h)",
    "Extrusion (0: X, 1:O)",
    "Solution Treatment (℃/h)",
    "Aging (℃/h)",
    "YS (MPa)",
    "TS (MPa)",
    "EL (%)",
]
SAMPLES = [
    [1, 7.66, 2.63, 1.96, 0.11, 0.004, 0.1, 0.03, 1, 2, 1, 2, 1, 654, 693, 14],
    [2, 8.7, 2.8, 1.9, 0.02, 0.04, 0.07, 0.01, 0, 0, 0, 7, 0, 213, 427, 42.5],
    [3, 6.0, 2.0, 1.5, 0, 0.03, 0, 0, 0, 0, 0, 0, 0, 140, 216, 4.0],
]


def _book(tmp_path: Path, samples, names=NAMES, trailer=True, sheet="Sheet1") -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(["No.", "Chemical composition (wt%)", *[None] * 6, "Fabrication Processes"])
    ws.merge_cells("A1:A2")
    ws.merge_cells("B1:H1")
    ws.append(names)
    for s in samples:
        ws.append(s)
    if trailer:
        num = pd.DataFrame([s[1:] for s in SAMPLES], dtype=float)
        ws.append([])
        ws.append([None, *num.max().tolist()])
        ws.append([None, *num.min().tolist()])
    path = tmp_path / "mini.xlsx"
    wb.save(path)
    return path


def test_fixture_normalisation_rows_and_unnumbered_sample(tmp_path, spec):
    extra = [None, 7.0, 2.2, 1.7, 0.1, 0.02, 0.05, 0.02, 1, 1, 0, 0, 0, 150, 220, 5.0]
    res = adapt(spec, [_book(tmp_path, [*SAMPLES, extra])])
    assert res.rows_in == 6
    rej = res.rejects.set_index("source_row")
    assert list(rej.index) == [5, 6]  # max and min rows after the blank line
    assert set(rej["reason"]) == {"normalisation_row"}
    out = res.rows.set_index(res.rows["source_row"].astype(int))
    assert sorted(out.index) == [0, 1, 2, 3]  # a row without No. that is data is kept
    assert out.loc[1, "temper_class"] == "W" and out.loc[2, "temper_class"] == "F"
    assert out.loc[2, "route"] == "cast_book_mould" and out.loc[3, "route"] == "cast_perm_mould"


def test_fixture_missing_columns_named(tmp_path, spec):
    names = [n for n in NAMES if n != "Si"]
    samples = [s[:7] + s[8:] for s in SAMPLES]
    with pytest.raises(SourceError, match="'Si'"):
        adapt(spec, [_book(tmp_path, samples, names, trailer=False)])
    names = [n for n in NAMES if n != "Aging (℃/h)"]
    samples = [s[:12] + s[13:] for s in SAMPLES]
    with pytest.raises(SourceError, match=r"Aging \(℃/h\)"):
        adapt(spec, [_book(tmp_path, samples, names, trailer=False)])


def test_fixture_wrong_header_row_and_wrong_sheet(tmp_path, spec):
    path = _book(tmp_path, SAMPLES)
    with pytest.raises(SourceError, match="missing required column"):
        adapt(dataclasses.replace(spec, options={"sheet": "Sheet1", "header": 0}), [path])
    with pytest.raises(SourceError, match="Sheet6"):
        adapt(dataclasses.replace(spec, options={"sheet": "Sheet6"}), [path])


def test_fixture_text_cells_and_bad_codes(tmp_path, spec):
    base = SAMPLES[0]

    def variant(no, **at):
        r = list(base)
        r[0] = no
        for idx, v in at.items():
            r[int(idx[1:])] = v
        return r

    samples = [
        variant(1, c1="<0.05"),  # Zn below limit -> 0.025
        variant(2, c3="0,25"),  # Cu decimal comma
        variant(3, c4="0.1-0.3", c6="—"),  # Zr range, Fe not reported
        variant(4, c7="abc"),  # Si unreadable
        variant(5, c8=2),  # casting code 2 does not exist
        variant(6, c11=1.5),  # solution code not an integer
        variant(7, c13=None, c14="—", c15=""),  # no property at all
    ]
    res = adapt(spec, [_book(tmp_path, samples, trailer=False)])
    assert res.rows_in == 7
    out = res.rows.set_index(res.rows["source_row"].astype(int))
    assert out.loc[0, "Zn"] == pytest.approx(0.025)
    assert out.loc[1, "Cu"] == pytest.approx(0.25)
    assert out.loc[2, "Zr"] == pytest.approx(0.2) and math.isnan(out.loc[2, "Fe"])
    rej = res.rejects.set_index("source_row")
    assert (rej.loc[3, "reason"], rej.loc[3, "column"]) == ("non_numeric", "Si")
    assert rej.loc[4, "reason"] == "invalid_process_code"
    assert rej.loc[4, "column"].startswith("Casting")
    assert rej.loc[5, "reason"] == "invalid_process_code"
    assert rej.loc[5, "column"] == "Solution Treatment (℃/h)"
    assert rej.loc[6, "reason"] == "missing_all_targets"
    assert sorted(out.index) == [0, 1, 2]
