"""Adapter ``jiang`` on the real Sheet4 of the pinned workbook, plus small hand-written sheets."""

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
from alloyml.schema import ELEMENTS, STAGE_COLUMNS
from alloyml.sources.adapters.jiang import adapt, classify_schedule, present_stages

SOURCE_ID = "jiang_7xxx"
SHEET_ELEMENTS = ["Zn", "Mg", "Cu", "Cr", "Mn", "Zr", "Ti", "Fe", "Si"]


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


def test_every_row_kept_none_rejected(result):
    assert result.rows_in == 1053
    assert len(result.rows) == 1053
    assert result.rejects.empty
    assert list(result.rows["source_row"].astype(int)) == list(range(1053))


def test_composition_balance_and_not_reported(rows):
    others = rows[SHEET_ELEMENTS].sum(axis=1)
    assert np.allclose(rows["Al"] + others, 100.0)
    assert rows["Al"].between(86, 91).all()
    # row 0: AA7056, Zn 9.7 Mg 1.62 Cu 1.54 ...
    assert rows.loc[0, "Zn"] == pytest.approx(9.7)
    # Zn 9.7, Mg 1.62, Cu 1.54, Cr 0.02, Mn 0.1, Zr 0.11, Ti 0.08, Fe 0.019, Si 0.045
    reported = [9.7, 1.62, 1.54, 0.02, 0.1, 0.11, 0.08, 0.019, 0.045]
    assert rows.loc[0, SHEET_ELEMENTS].tolist() == pytest.approx(reported)
    assert rows.loc[0, "Al"] == pytest.approx(100 - sum(reported))  # 86.766
    # elements with no column in the sheet are "not reported", never 0
    absent = [e for e in ELEMENTS if e not in SHEET_ELEMENTS + ["Al"]]
    assert rows[absent].isna().all().all()
    # a reported 0 stays 0 (last row, AA7075 with Zr/% = 0)
    assert rows.loc[1052, "Zr"] == 0.0
    assert (rows["comp_basis"] == "measured").all()


def test_properties_and_provenance(rows):
    assert rows.loc[0, "uts_mpa"] == pytest.approx(650.6)
    assert rows.loc[0, "elong_pct"] == pytest.approx(7.8)
    assert rows["ys_mpa"].isna().all()
    assert rows["uts_mpa"].between(312, 722).all()
    assert (rows["route"] == "wrought").all()
    assert rows["temper"].isna().all()
    counts = rows["alloy_name"].value_counts()
    assert counts["AA7050"] == 286 and counts["AA7055"] == 231 and counts["AA7056"] == 44


def test_units_solution_minutes_to_hours_ageing_hours_kept(rows):
    # row 0: 470 degC x 60 min; ageing 150 degC x 3 (hours, header says min)
    assert rows.loc[0, "sol1_T_C"] == 470.0
    assert rows.loc[0, "sol1_t_h"] == pytest.approx(1.0)
    assert rows.loc[0, "age1_T_C"] == 150.0
    assert rows.loc[0, "age1_t_h"] == pytest.approx(3.0)
    # row 273: 440 x 120 min + 480 x 30 min
    assert rows.loc[273, ["sol1_t_h", "sol2_T_C", "sol2_t_h"]].tolist() == [2.0, 480.0, 0.5]
    # row 7: RRA, retrogression 190 degC x 0.45 h kept in hours
    assert rows.loc[7, ["age2_T_C", "age2_t_h"]].tolist() == [190.0, 0.45]
    assert rows["sol1_t_h"].between(0.25, 10).all()  # 15-600 min
    # 120 degC x 24 is the most common single-stage ageing (T6)
    assert ((rows["age1_T_C"] == 120) & (rows["age1_t_h"] == 24)).sum() > 50


def test_no_dummy_stage_values(rows):
    stages = rows[list(STAGE_COLUMNS)]
    assert not (stages == 0).any().any(), "0 is the sheet's absence code, never a value"
    for kind in ("sol", "age"):
        for k in (1, 2, 3):
            t, h = rows[f"{kind}{k}_T_C"], rows[f"{kind}{k}_t_h"]
            assert (t.isna() == h.isna()).all(), f"{kind}{k}: T and t absent together"
    assert rows["homog_T_C"].isna().all()
    # stage counts from SOURCE.md: secondary solution 219, tertiary 12
    assert rows["sol2_T_C"].notna().sum() == 219
    assert rows["sol3_T_C"].notna().sum() == 12


def test_time_zero_stage_is_absent_even_with_a_temperature(rows):
    # row 721: 120 degC x 0 h -> no ageing at all (as-quenched), not 120 degC
    assert rows.loc[721, ["age1_T_C", "age1_t_h"]].isna().all()
    assert rows.loc[721, "temper_class"] == "W"
    # row 9: 110 x 6 then 150 degC x 0 h -> only the first stage
    assert rows.loc[9, ["age1_T_C", "age1_t_h"]].tolist() == [110.0, 6.0]
    assert rows.loc[9, ["age2_T_C", "age2_t_h"]].isna().all()
    assert rows.loc[9, "temper_class"] == "T6"


def test_present_stages_renumbered_consecutively(rows):
    # row 335: natural pre-ageing 25 degC x 0 h (absent), then 121 x 15, 155 x 13
    assert rows.loc[335, ["age1_T_C", "age1_t_h", "age2_T_C", "age2_t_h"]].tolist() == [
        121.0,
        15.0,
        155.0,
        13.0,
    ]
    assert rows.loc[335, ["age3_T_C", "age3_t_h"]].isna().all()
    assert "25C/0h | 121C/15h | 155C/13h" in rows.loc[335, "condition_text"]
    # its sibling 336 has the natural pre-ageing 25 degC x 24 h as a real first stage
    assert rows.loc[336, ["age1_T_C", "age1_t_h", "age2_T_C", "age3_T_C"]].tolist() == [
        25.0,
        24.0,
        121.0,
        155.0,
    ]
    assert rows.loc[335, "temper_class"] == rows.loc[336, "temper_class"] == "T7"
    # row 476: 110 x 16, 185 degC x 0 h (absent retrogression), 120 x 24 -> two stages, T6
    assert rows.loc[476, ["age1_T_C", "age2_T_C", "age2_t_h"]].tolist() == [110.0, 120.0, 24.0]
    assert math.isnan(rows.loc[476, "age3_T_C"])
    assert rows.loc[476, "temper_class"] == "T6"


def test_room_temperature_stage_kept(rows):
    # rows 545-548: 120 x 6, 20 degC x 10 h, 165 x 16.. -> the 20 degC stage is a real stage
    assert rows.loc[545, ["age2_T_C", "age2_t_h"]].tolist() == [20.0, 10.0]
    assert rows.loc[545, "temper_class"] == "T7"
    # row 896: solution + 25 degC x 360 h only -> W (7xxx does not stabilise at RT)
    assert rows.loc[896, ["age1_T_C", "age1_t_h"]].tolist() == [25.0, 360.0]
    assert rows.loc[896, "temper_class"] == "W"


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (0, "T6"),  # 150 x 3
        (2, "T6"),  # 120 x 12
        (67, "T6"),  # 120 x 24 + 100 x 168 (low-temperature second step)
        (493, "T6"),  # interrupted ageing 120 / 65 / 120
        (4, "T7"),  # 120 x 4 + 165 x 8
        (11, "T6"),  # 110 x 6 + 150 x 2: both steps in the peak-ageing window
        (12, "T7"),  # 110 x 6 + 160 x 2
        (7, "RRA"),  # 120 x 4 + 190 x 0.45 + 120 x 12
        (45, "RRA"),  # 130 x 24 + 173 x 3 + 130 x 24 (T77-type)
        (99, None),  # 135 x 16 + 190 x 0.1: retrogressed, not re-aged
        (846, None),  # single 200 x 4: under/over-aged not judged
        (5, None),  # 155 x 2 then 125 x 24: high-low
        (974, None),  # 160 / 90 / 170
        (273, "W"),  # solution only
    ],
)
def test_temper_class_on_real_rows(rows, row, expected):
    got = rows.loc[row, "temper_class"]
    if expected is None:
        assert pd.isna(got)
    else:
        assert got == expected


def test_temper_class_counts(rows):
    counts = rows["temper_class"].value_counts(dropna=False).to_dict()
    assert counts == {"T6": 387, "T7": 366, "RRA": 160, "W": 8, pd.NA: 132}
    # no designation in the source: the class is decoded as one; no class = unknown state
    known = [decode_state(None, None if pd.isna(c) else c).known for c in rows["temper_class"]]
    assert sum(known) == 1053 - 132


def test_classify_schedule_rules():
    assert classify_schedule(False, [(120.0, 24.0)]) is None
    assert classify_schedule(True, []) == "W"
    assert classify_schedule(True, [(20.0, 10.0)]) == "W"
    assert classify_schedule(True, [(120.0, 24.0), (150.0, 2.0)]) == "T6"
    assert classify_schedule(True, [(110.0, 6.0), (150.0, 2.0)]) == "T6"
    assert classify_schedule(True, [(120.0, 6.0), (20.0, 10.0), (165.0, 16.0)]) == "T7"
    assert classify_schedule(True, [(120.0, 8.0), (165.0, 1.0)]) is None
    assert classify_schedule(True, [(120.0, 24.0), (150.0, 0.5), (120.0, 24.0)]) == "RRA"
    assert classify_schedule(True, [(160.0, 10.0), (160.0, 10.0)]) is None
    assert classify_schedule(True, [(math.nan, 2.0)]) is None


def test_present_stages_rule():
    assert present_stages([(0.0, 0.0), (480.0, 0.0)]) == []
    out = present_stages([(0.0, 30.0), (470.0, math.nan), (math.nan, math.nan)])
    assert math.isnan(out[0][0]) and out[0][1] == 30.0
    assert out[1][0] == 470.0 and math.isnan(out[1][1])
    assert len(out) == 2


# ---------------------------------------------------------------- hand-written sheets

_TITLE = "A rapid and effective method for alloy materials design via sample data transfer"
_O = ("Primary", "Secondary", "Tertiary")
HEADERS = (
    ["Alloys"]
    + [f"{e}/％" for e in SHEET_ELEMENTS]
    + [h for o in _O for h in (f"{o} solution temperature (℃)", f"{o} solution time (min)")]
    + [h for o in _O for h in (f"{o} aging temperature (℃)", f"{o} aging time (min)")]
    + ["Ultimate tensile strength (MPa)", "Elongation (%)"]
)
BASE = ["AA7075", 5.6, 2.5, 1.6, 0.23, 0.03, 0, 0.02, 0.2, 0.1]
BASE += [470, 60, 0, 0, 0, 0] + [120, 24, 0, 0, 0, 0] + [570, 11.0]


def _book(tmp_path: Path, data: list[list], headers: list[str] = HEADERS, sheet="Sheet4") -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append([_TITLE])
    ws.append(headers)
    for r in data:
        ws.append(r)
    path = tmp_path / "mini.xlsx"
    wb.save(path)
    return path


def _row(**changes) -> list:
    r = list(BASE)
    for header, value in changes.items():
        r[HEADERS.index(header)] = value
    return r


def test_fixture_missing_required_column(tmp_path, spec):
    headers = [h for h in HEADERS if h != "Zn/％"]
    data = [[v for h, v in zip(HEADERS, BASE, strict=True) if h != "Zn/％"]]
    with pytest.raises(SourceError, match=r"Zn/%"):
        adapt(spec, [_book(tmp_path, data, headers)])


def test_fixture_wrong_sheet(tmp_path, spec):
    path = _book(tmp_path, [BASE])
    bad = dataclasses.replace(spec, options={"sheet": "Sheet9", "header": 1})
    with pytest.raises(SourceError, match="Sheet9"):
        adapt(bad, [path])


def test_fixture_text_cells_parsed_or_rejected(tmp_path, spec):
    data = [
        _row(**{"Zn/％": "<0.05"}),
        _row(**{"Cu/％": "0,25"}),
        _row(**{"Cr/％": "0.1-0.3", "Mn/％": "—"}),
        _row(**{"Fe/％": "abc"}),
        _row(**{"Primary aging time (min)": "24 h"}),
        _row(**{"Ultimate tensile strength (MPa)": None, "Elongation (%)": "—"}),
    ]
    res = adapt(spec, [_book(tmp_path, data)])
    assert res.rows_in == 6
    out = res.rows.set_index(res.rows["source_row"].astype(int))
    assert out.loc[0, "Zn"] == pytest.approx(0.025)
    assert out.loc[1, "Cu"] == pytest.approx(0.25)
    assert out.loc[2, "Cr"] == pytest.approx(0.2)
    assert math.isnan(out.loc[2, "Mn"])
    rej = res.rejects.set_index("source_row")
    assert rej.loc[3, "reason"] == "non_numeric" and rej.loc[3, "column"] == "Fe/％"
    assert (
        rej.loc[4, "reason"] == "non_numeric" and rej.loc[4, "column"] == "Primary aging time (min)"
    )
    assert rej.loc[5, "reason"] == "missing_all_targets"
    assert sorted(out.index) == [0, 1, 2]


def test_fixture_stage_codes_and_ascii_headers(tmp_path, spec):
    ascii_headers = [h.replace("％", "%").replace("℃", "°C") for h in HEADERS]
    data = [
        # second solution stage with temperature 0 but a time: temperature unknown, not 0
        _row(**{"Secondary solution time (min)": 30}),
        # primary ageing absent (time 0), secondary present -> becomes age1
        _row(
            **{
                "Primary aging time (min)": 0,
                "Secondary aging temperature (℃)": 160,
                "Secondary aging time (min)": 8,
            }
        ),
    ]
    res = adapt(spec, [_book(tmp_path, data, ascii_headers)])
    out = res.rows.set_index(res.rows["source_row"].astype(int))
    assert math.isnan(out.loc[0, "sol2_T_C"]) and out.loc[0, "sol2_t_h"] == 0.5
    assert out.loc[1, ["age1_T_C", "age1_t_h"]].tolist() == [160.0, 8.0]
    assert out.loc[1, ["age2_T_C", "age2_t_h"]].isna().all()
    assert pd.isna(out.loc[1, "temper_class"])  # single hot stage
    assert out.loc[0, "temper_class"] == "T6"
