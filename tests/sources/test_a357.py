"""Adapter ``a357`` on the real train/test sheets of the pinned workbook, plus small sheets."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alloyml.errors import SourceError
from alloyml.process import decode_state, route_family
from alloyml.schema import ELEMENTS, PROCESS_NUMERIC
from alloyml.sources import read_table
from alloyml.sources.adapters.a357 import TEST_ROW_OFFSET, adapt

SOURCE_ID = "a357_lpdc"
SHEET_ELEMENTS = ["Al", "Si", "Mg", "Cu", "Fe", "Ti"]
TRAIN, TEST = "215 TRAIN DATA", "50 TEST DATA - RESULTS"


@pytest.fixture(scope="module")
def spec(sources):
    return sources[SOURCE_ID]


@pytest.fixture(scope="module")
def paths(real_paths):
    return real_paths(SOURCE_ID)


@pytest.fixture(scope="module")
def result(real_source):
    return real_source(SOURCE_ID)


@pytest.fixture(scope="module")
def rows(result):
    return result.rows.set_index(result.rows["source_row"].astype(int))


# ---------------------------------------------------------------- real file


def test_counts_split_and_row_numbers(result, rows):
    assert result.rows_in == 265
    assert len(result.rows) == 265
    assert result.rejects.empty
    assert rows["source_split"].value_counts().to_dict() == {"train": 215, "test": 50}
    train = rows.index[rows["source_split"] == "train"]
    test = rows.index[rows["source_split"] == "test"]
    assert list(train) == list(range(215))
    assert list(test) == list(range(TEST_ROW_OFFSET, TEST_ROW_OFFSET + 50))


def test_equals_the_concatenated_265_sheet(result, spec, paths):
    # SOURCE.md: sheet '265' = train + test; it is not read, but the adapter must match it
    all_rows = read_table(paths[0], spec.id, sheet="265")
    assert len(all_rows) == result.rows_in
    ours = result.rows[SHEET_ELEMENTS + ["uts_mpa", "ys_mpa", "elong_pct"]].to_numpy()
    theirs = all_rows[
        [f"{e} %" for e in SHEET_ELEMENTS] + ["UTS (MPa)", "YS (MPa)", "E (%)"]
    ].to_numpy(dtype=float)
    assert np.allclose(ours, theirs)


def test_known_rows_and_al_as_given(rows):
    r0 = rows.loc[0]  # train S.NO 1
    assert r0[SHEET_ELEMENTS].tolist() == pytest.approx(
        [92.1332, 6.8882, 0.6651, 0.0027, 0.1359, 0.1249]
    )
    assert (r0["uts_mpa"], r0["ys_mpa"], r0["elong_pct"]) == (260.0, 240.0, 2.5)
    # Al is the measured value, not 100 - sum(others) (that would be 92.1432)
    assert r0["Al"] != pytest.approx(100 - r0[SHEET_ELEMENTS[1:]].sum(), abs=1e-6)
    sums = rows[SHEET_ELEMENTS].sum(axis=1)
    assert sums.between(99.82, 100.01).all()  # row 200: 100.004 (rounding)
    absent = [e for e in ELEMENTS if e not in SHEET_ELEMENTS]
    assert rows[absent].isna().all().all()  # Mn, Zn, Sr ... not reported


def test_anfis_predictions_ignored(result, rows):
    t0 = rows.loc[TEST_ROW_OFFSET]  # test S.NO 1: measured 312/289/3.5, ANFIS 299/275/3.54
    assert (t0["uts_mpa"], t0["ys_mpa"], t0["elong_pct"]) == (312.0, 289.0, 3.5)
    assert t0["Al"] == pytest.approx(92.5127)
    ignored = result.notes["ignored_columns"][TEST]
    assert {"NN - UTS (MPa)", "NN - YS (MPa)", "NN - E (%)"} <= set(ignored)


def test_process_and_provenance(rows):
    assert (rows["route"] == "cast_perm_mould").all()
    assert (rows["temper_class"] == "T6").all()
    assert rows["temper"].isna().all()  # the source writes no temper
    state = decode_state(None, rows["temper_class"].iloc[0])  # the class decoded as designation
    assert state.known and state.solution_treated == 1.0 and state.artificial_aged == 1.0
    assert route_family(rows["route"].iloc[0]) == "cast"
    assert rows[list(PROCESS_NUMERIC)].isna().all().all()
    assert (rows["alloy_name"] == "A357").all()
    assert (rows["comp_basis"] == "measured").all()
    assert (rows["doi"] == "10.1016/j.commatsci.2024.113275").all()
    assert (rows["ys_mpa"] <= rows["uts_mpa"]).all()


# ---------------------------------------------------------------- hand-written sheets

HEAD = ["S.NO", "Al %", "Si %", "Mg %", "Cu %", "Fe %", "Ti %", "UTS (MPa)", "YS (MPa)", "E (%)"]
ROW = [1, 92.1332, 6.8882, 0.6651, 0.0027, 0.1359, 0.1249, 260, 240, 2.5]


def _book(tmp_path: Path, train: list[list], test: list[list], test_head=None) -> Path:
    path = tmp_path / "mini.xlsx"
    test_head = test_head or [*HEAD, "NN - UTS (MPa)"]
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        pd.DataFrame(train, columns=HEAD).to_excel(xw, sheet_name=TRAIN, index=False)
        pd.DataFrame(test, columns=test_head).to_excel(xw, sheet_name=TEST, index=False)
    return path


def _row(**at) -> list:
    r = list(ROW)
    for name, v in at.items():
        r[HEAD.index(name.replace("_", " "))] = v
    return r


def test_fixture_missing_column_in_test_sheet(tmp_path, spec):
    head = [h for h in HEAD if h != "YS (MPa)"]
    test = [[v for h, v in zip(HEAD, ROW, strict=True) if h != "YS (MPa)"]]
    with pytest.raises(SourceError, match=r"YS \(MPa\).*50 TEST DATA"):
        adapt(spec, [_book(tmp_path, [ROW], test, test_head=head)])


def test_fixture_wrong_sheet(tmp_path, spec):
    path = _book(tmp_path, [ROW], [[*ROW, 250]])
    bad = dataclasses.replace(spec, options={**spec.options, "test_sheet": "50 TEST DATA"})
    with pytest.raises(SourceError, match="'50 TEST DATA' not in"):
        adapt(bad, [path])


def test_fixture_text_cells_balance_and_offsets(tmp_path, spec):
    train = [
        _row(**{"Cu_%": "<0.01"}),
        _row(**{"Mg_%": "0,55"}),
        _row(**{"Ti_%": "0.1-0.2", "Fe_%": "—"}),
        _row(**{"Si_%": "abc"}),
        _row(**{"Al_%": "bal."}),
        _row(**{"Si_%": "bal."}),
        _row(**{"UTS_(MPa)": None, "YS_(MPa)": "—", "E_(%)": "n/a"}),
    ]
    test = [[*ROW, 999]]  # NN prediction 999 must not appear anywhere
    res = adapt(spec, [_book(tmp_path, train, test)])
    assert res.rows_in == 8
    out = res.rows.set_index(res.rows["source_row"].astype(int))
    assert out.loc[0, "Cu"] == pytest.approx(0.005)
    assert out.loc[1, "Mg"] == pytest.approx(0.55)
    assert out.loc[2, "Ti"] == pytest.approx(0.15) and math.isnan(out.loc[2, "Fe"])
    assert out.loc[4, "Al"] == pytest.approx(100 - sum(ROW[2:7]))  # 'bal.' -> computed
    rej = res.rejects.set_index("source_row")
    assert (rej.loc[3, "reason"], rej.loc[3, "column"]) == ("non_numeric", "Si %")
    assert (rej.loc[5, "reason"], rej.loc[5, "column"]) == ("balance_in_wrong_column", "Si %")
    assert rej.loc[6, "reason"] == "missing_all_targets"
    assert sorted(out.index) == [0, 1, 2, 4, TEST_ROW_OFFSET]
    assert out.loc[TEST_ROW_OFFSET, "source_split"] == "test"
    assert out.loc[TEST_ROW_OFFSET, "uts_mpa"] == 260.0
    assert not (out[["uts_mpa", "ys_mpa", "elong_pct"]] == 999).any().any()
