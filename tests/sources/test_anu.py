"""Tests of the ``anu_al_1154`` adapter on the real ``al_data.csv`` and on tiny fixtures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alloyml.errors import SourceError
from alloyml.process import decode_state
from alloyml.schema import STAGE_COLUMNS
from alloyml.sources.adapters.anu import ELEMENT_COLUMNS, adapt
from alloyml.sources.registry import FileSpec, SourceSpec

SOURCE_ID = "anu_al_1154"


@pytest.fixture(scope="module")
def result(real_source):
    return real_source(SOURCE_ID)


@pytest.fixture(scope="module")
def rows(result) -> pd.DataFrame:
    return result.rows.set_index("source_row", drop=False)


# --------------------------------------------------------------------------- real file


@pytest.mark.realdata
def test_counts_every_row_kept(result):
    assert result.rows_in == 1154
    assert len(result.rows) == 1154
    assert len(result.rejects) == 0
    assert sorted(result.rows["source_row"]) == list(range(1154))


@pytest.mark.realdata
def test_nominal_compositions(result):
    # columns, dtypes and provenance: test_adapter_contract.py
    assert (result.rows["comp_basis"] == "nominal").all()


@pytest.mark.realdata
def test_first_row_converted_to_wt_pct(rows):
    r = rows.loc[0]
    # file: Al 0.88011, Cu 0.0198, Mg 0.0212, Zn 0.0768, Zr 0.0012, Fe 0.00055, Si 0.00034
    assert r["Al"] == pytest.approx(88.011)
    assert r["Zn"] == 7.68  # rounded: no 7.680000000000001 float noise
    assert r["Cu"] == 1.98
    assert r["Mg"] == 2.12
    assert r["Zr"] == pytest.approx(0.12)
    assert r["Fe"] == pytest.approx(0.055)
    assert r["Si"] == pytest.approx(0.034)
    assert r["Sc"] == 0.0  # reported absent
    assert np.isnan(r["Ca"])  # not a column of this source: not reported
    assert r["temper_class"] == "T6"
    assert r["process_code"] == "Solutionised  + Artificially peak aged"  # double space kept
    assert r["uts_mpa"] == 651.6 and r["ys_mpa"] == 583.3 and r["elong_pct"] == 16.8
    assert r["route"] == "wrought"


@pytest.mark.realdata
def test_balance_explicit_and_sum_100(result):
    rows = result.rows
    assert rows["Al"].notna().all()
    assert rows["Al"].between(74.9, 100).all()
    total = rows[list(ELEMENT_COLUMNS)].sum(axis=1)
    assert (total - 100).abs().max() < 1e-3
    assert result.notes["max_sum_dev_wt_pct"] < 1e-3
    # all 25 reported elements are present everywhere (0 = absent), others never reported
    assert rows[list(ELEMENT_COLUMNS)].notna().all().all()
    assert rows[["Ca", "Ce", "Y", "Sr"]].isna().all().all()


@pytest.mark.realdata
def test_processing_classes(result):
    counts = result.rows["temper_class"].value_counts().to_dict()
    assert counts == {
        "T6": 375,
        "H": 197 + 41,
        "T7": 109,
        "T8": 105,
        "O": 130,
        "F": 11,
        "T4": 86,
        "T3": 57,
        "T5": 21,
        "T1": 18,
        "W": 4,
    }
    rows = result.rows
    # no designation in the source: temper holds the class's state, decoded to the same class
    assert rows["temper"].notna().all()
    decoded = [decode_state(t).temper_class for t in rows["temper"]]
    assert decoded == rows["temper_class"].tolist()
    states = rows["temper"].value_counts().to_dict()
    assert states["solution treated + peak aged"] == 375
    assert states["annealed"] == 130 and states["as cast"] == 11
    assert states["strain hardened (hard)"] == 197 and states["strain hardened"] == 41
    peak = decode_state("solution treated + peak aged")
    assert (peak.solution_treated, peak.quenched, peak.ageing_degree) == (1.0, 1.0, 0.0)
    assert decode_state("solution treated + overaged").ageing_degree == 1.0
    assert decode_state("strain hardened").strain_hardened == 1.0
    hard = rows["process_code"] == "Strain Harderned (Hard)"
    assert hard.sum() == 197 and (rows.loc[hard, "temper_class"] == "H").all()
    over = rows["process_code"] == "Solutionised + Artificially over aged"
    assert set(rows.loc[over, "temper_class"]) == {"T7", "T8"}
    assert set(rows.loc[rows["temper_class"] == "W", "source_row"]) == {40, 41, 42, 43}


@pytest.mark.realdata
def test_no_dummy_process_values(result):
    rows = result.rows
    for col in [*STAGE_COLUMNS, "cold_work_pct", "extrusion_ratio", "quench", "product_form"]:
        assert rows[col].isna().all(), col


@pytest.mark.realdata
def test_route_unknown_for_hypereutectic_al_si(rows):
    unknown = set(rows.index[rows["route"].isna()])
    assert unknown == {625, 626, 627, 628, 629, 630, 872, 873, 874, 875, 968, 969, 970, 971}
    assert rows.loc[625, "Si"] == pytest.approx(18.0)
    assert rows.loc[628, "Si"] == pytest.approx(22.0)
    # AA8081-type Al-20Sn-1Cu bearing alloy stays wrought
    assert rows.loc[88, "Sn"] == pytest.approx(20.0)
    assert rows.loc[88, "route"] == "wrought"
    # 4032 (12.2 % Si) is a wrought forging alloy
    assert rows.loc[866, "Si"] == pytest.approx(12.2)
    assert rows.loc[866, "route"] == "wrought"


@pytest.mark.realdata
def test_exact_duplicates_kept_separately(result):
    rows = result.rows
    payload = rows.drop(columns=["row_uid", "source_row"])
    assert payload.duplicated().sum() == 181
    assert rows["row_uid"].is_unique


@pytest.mark.realdata
def test_targets_and_traps_kept(rows, result):
    assert result.rows["elong_pct"].isna().sum() == 108
    assert result.rows["uts_mpa"].isna().sum() == 33
    assert result.rows["ys_mpa"].isna().sum() == 109
    # the one YS > UTS row is kept (the clean stage flags it)
    assert rows.loc[1067, "ys_mpa"] == 637.0 and rows.loc[1067, "uts_mpa"] == 581.0
    assert rows.loc[1067, "Li"] == pytest.approx(2.6)
    # ksi -> MPa spurious precision untouched
    assert (result.rows["ys_mpa"].round(7) == 10.3421355).any()


# --------------------------------------------------------------------------- fixtures

_COLUMNS = ["", "Processing", *ELEMENT_COLUMNS, "Elongation (%)", "Tensile Strength (MPa)",
            "Yield Strength (MPa)", "class"]  # fmt: skip


def _row(index: int, processing: str = "Solutionised  + Artificially peak aged", **cells) -> dict:
    row = {c: 0 for c in ELEMENT_COLUMNS}
    row.update({"Al": 0.9, "Zn": 0.06, "Mg": 0.025, "Cu": 0.015})
    row.update({"": index, "Processing": processing, "Elongation (%)": 10.0,
                "Tensile Strength (MPa)": 500.0, "Yield Strength (MPa)": 450.0, "class": "2"})  # fmt: skip
    row.update(cells)
    return row


def _run(tmp_path: Path, records: list[dict], drop: tuple[str, ...] = ()):
    frame = pd.DataFrame(records, columns=_COLUMNS).drop(columns=list(drop))
    path = tmp_path / "al_data.csv"
    frame.to_csv(path, index=False)
    spec = SourceSpec(
        id="anu_fixture",
        system="al",
        adapter="anu",
        files=(FileSpec(path="al_data.csv", sha256="0" * 64),),
    )
    return adapt(spec, [path])


def test_fixture_good_row(tmp_path):
    res = _run(tmp_path, [_row(0), _row(1, "No Processing")])
    assert len(res.rows) == 2 and len(res.rejects) == 0
    assert res.rows["Zn"].iloc[0] == 6.0
    assert res.rows["Al"].iloc[0] == 90.0
    assert list(res.rows["temper_class"]) == ["T6", "O"]
    assert list(res.rows["temper"]) == ["solution treated + peak aged", "annealed"]
    assert res.rows["doi"].isna().all()  # fixture spec declares no DOI


def test_fixture_missing_required_column(tmp_path):
    with pytest.raises(SourceError, match="Zn"):
        _run(tmp_path, [_row(0)], drop=("Zn",))
    with pytest.raises(SourceError, match="Yield Strength"):
        _run(tmp_path, [_row(0)], drop=("Yield Strength (MPa)",))


def test_fixture_class_column_not_required(tmp_path):
    res = _run(tmp_path, [_row(0)], drop=("class",))
    assert len(res.rows) == 1


def test_fixture_text_cells(tmp_path):
    records = [
        _row(0, Cr="<0.002"),  # below a limit -> half of it
        _row(1, Cu="0.01-0.02"),  # range -> midpoint
        _row(2, Mn="—"),  # not reported
        _row(3, Zn="0,06"),  # decimal comma
        _row(4, Fe="abc"),  # unreadable -> reject
        _row(5, **{"Tensile Strength (MPa)": "n/a"}),
        _row(6, Al="bal."),  # balance marker in the balance column -> computed
        _row(7, Mg="bal."),  # balance marker elsewhere -> reject
    ]
    res = _run(tmp_path, records)
    kept = res.rows.set_index("source_row")
    assert kept.loc[0, "Cr"] == pytest.approx(0.1)
    assert kept.loc[1, "Cu"] == pytest.approx(1.5)
    assert np.isnan(kept.loc[2, "Mn"])
    assert kept.loc[3, "Zn"] == pytest.approx(6.0)
    assert np.isnan(kept.loc[5, "uts_mpa"]) and kept.loc[5, "ys_mpa"] == 450.0
    assert kept.loc[6, "Al"] == pytest.approx(100 - 6 - 2.5 - 1.5)
    rej = res.rejects.set_index("source_row")
    assert set(rej.index) == {4, 7}
    assert rej.loc[4, "reason"] == "non_numeric" and rej.loc[4, "column"] == "Fe"
    assert rej.loc[7, "reason"] == "balance_in_wrong_column" and rej.loc[7, "column"] == "Mg"
    assert res.rows_in == 8


def test_fixture_processing_whitespace_and_unknown(tmp_path):
    records = [
        _row(0, "solutionised + artificially   peak aged"),
        _row(1, "Solutionised + Artificially over aged"),
        _row(2, "Retrogressed"),
        _row(3, None),
    ]
    res = _run(tmp_path, records)
    assert list(res.rows["temper_class"]) == ["T6", "T7"]
    assert res.rows["process_code"].iloc[0] == "solutionised + artificially   peak aged"
    rej = res.rejects.set_index("source_row")
    assert set(rej.index) == {2, 3}
    assert (rej["reason"] == "unknown_processing").all()
    assert (rej["column"] == "Processing").all()


def test_fixture_missing_all_targets(tmp_path):
    empty = {"Elongation (%)": None, "Tensile Strength (MPa)": None, "Yield Strength (MPa)": None}
    res = _run(tmp_path, [_row(0), _row(1, **empty)])
    assert list(res.rows["source_row"]) == [0]
    assert res.rejects["reason"].tolist() == ["missing_all_targets"]


def test_fixture_index_mismatch_is_an_error(tmp_path):
    with pytest.raises(SourceError, match="unnamed index column"):
        _run(tmp_path, [_row(0), _row(5)])


def test_fixture_route_threshold(tmp_path):
    res = _run(tmp_path, [_row(0, Si=0.2, Al=0.7), _row(1, Si=0.12, Al=0.78)])
    assert res.rows["route"].isna().tolist() == [True, False]


@pytest.mark.realdata
def test_no_processing_is_the_o_temper_on_wrought_compositions(rows):
    """ "No Processing" rows carry the handbook O-temper properties (ASM Handbook Vol. 2):
    2024-O 75 / 185 MPa, 7075-O 105 / 230, 6061-O 55 / 125, 5083-O 145 / 290, 3003-O 40 / 110."""
    handbook = {410: (75, 185), 423: (105, 230), 349: (55, 125), 402: (145, 290), 338: (40, 110)}
    for row, (ys, uts) in handbook.items():
        r = rows.loc[row]
        assert r["process_code"] == "No Processing" and r["route"] == "wrought"
        assert (r["temper_class"], r["temper"]) == ("O", "annealed"), row
        assert r["ys_mpa"] == pytest.approx(ys, abs=3) and r["uts_mpa"] == pytest.approx(uts, abs=3)
    assert decode_state("annealed").annealed == 1.0


@pytest.mark.realdata
def test_al_si_casting_compositions_are_cast(rows):
    cast = rows["route"] == "cast"
    assert cast.sum() == 63
    assert rows.loc[cast, "Si"].between(5.0, 11.0).all()
    # A356-type as-cast rows: "No Processing" is the as-cast state there
    assert set(rows.index[rows["temper_class"] == "F"]) == set(range(14, 25))
    assert (rows.loc[14:24, "temper"] == "as cast").all() and cast.loc[14:24].all()
    assert (rows.loc[[466, 798, 772], "route"] == "cast").all()  # A380, 319, A356-T6 types
    assert rows.loc[866, "route"] == "wrought"  # 4032 forging alloy (12.2 % Si)


def test_fixture_no_processing_on_a_casting_composition_is_as_cast(tmp_path):
    al_si = {"Al": 0.925, "Si": 0.07, "Mg": 0.005, "Zn": 0.0, "Cu": 0.0}
    res = _run(tmp_path, [_row(0, "No Processing", **al_si), _row(1, "No Processing")])
    assert list(res.rows["temper_class"]) == ["F", "O"]
    assert list(res.rows["temper"]) == ["as cast", "annealed"]
    assert list(res.rows["route"]) == ["cast", "wrought"]


@pytest.mark.realdata
def test_over_aged_class_is_t8_outside_7xxx(rows):
    """The source's collapsed T7/T8 class: a 2024 in it carries the 2024-T81 handbook values
    (450 / 485 MPa), above its T6, so it is not over-aged; a 7075 in it is T7."""
    over = rows["process_code"] == "Solutionised + Artificially over aged"
    t8 = over & (rows["temper_class"] == "T8")
    assert t8.sum() == 105 and (rows.loc[t8, "route"] == "wrought").all()
    assert (rows.loc[t8, "Si"] < 5.0).all()
    assert (rows.loc[t8, "temper"] == "solution treated + cold worked + artificially aged").all()
    r = rows.loc[1070]  # 2024
    assert r["temper_class"] == "T8" and r["ys_mpa"] == pytest.approx(450, abs=5)
    assert decode_state(r["temper"]).cold_work_before_ageing == 1.0
    zn_major = rows[["Cu", "Mn", "Si", "Mg", "Zn", "Li"]].idxmax(axis=1) == "Zn"
    assert (rows.loc[over & zn_major, "temper_class"] == "T7").all()
    assert (over & zn_major).sum() == 99
    # Al-Si castings and hypereutectic rows in the class stay over-aged
    assert (rows.loc[[428, 968], "temper_class"] == "T7").all()
