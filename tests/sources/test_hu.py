"""Tests of the ``hu_uq_wrought_al`` adapter on the real workbooks and on tiny fixtures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alloyml.errors import SourceError
from alloyml.process import decode_state
from alloyml.schema import STAGE_COLUMNS
from alloyml.sources.adapters.hu import ELEMENT_COLUMNS, REQUIRED, adapt, alloy_name
from alloyml.sources.registry import FileSpec, SourceSpec

SOURCE_ID = "hu_uq_wrought_al"
COMP = [*ELEMENT_COLUMNS, "Al"]


@pytest.fixture(scope="module")
def result(real_source):
    return real_source(SOURCE_ID)


@pytest.fixture(scope="module")
def rows(result) -> pd.DataFrame:
    return result.rows.set_index("source_row", drop=False)


# --------------------------------------------------------------------------- real files


@pytest.mark.realdata
def test_counts_and_rejects(result):
    assert result.rows_in == 1150 + 4 + 4
    assert len(result.rows) == 1152
    rej = result.rejects
    assert len(rej) == 6
    assert set(rej["reason"]) == {"model_prediction", "implausible_elongation"}
    pred = rej[rej["reason"] == "model_prediction"]
    assert set(pred["source_row"]) == {10000, 10002, 20000, 20002}
    kept = set(result.rows["source_row"])
    assert set(range(1150)) - {796, 797} <= kept
    assert kept - set(range(1150)) == {10001, 10003, 20001, 20003}


@pytest.mark.realdata
def test_reference_on_every_row(result):
    # columns, dtypes and provenance: test_adapter_contract.py
    assert result.rows["reference"].notna().all()


@pytest.mark.realdata
def test_balance_explicit_and_sum_100(result):
    rows = result.rows
    assert rows["Al"].notna().all()
    total = rows[COMP].sum(axis=1)
    assert (total - 100).abs().max() < 1e-6
    assert rows[COMP].notna().all().all()  # all reported (0 = absent)
    assert rows[["Ag", "Sn", "Ca", "Ce"]].isna().all().all()  # not columns of this source


@pytest.mark.realdata
def test_first_row_1050_h18_wire(rows):
    r = rows.loc[0]
    assert r["alloy_name"] == "AA1050"
    assert r["Al"] == 99.5 and r["Fe"] == 0.235 and r["Cu"] == 0.025
    assert r["comp_basis"] == "spec_midpoint"
    assert r["route"] == "drawn" and r["product_form"] == "wire" and r["quench"] == "air"
    assert r["temper"] == "H18" and r["temper_class"] == "H"
    assert np.isnan(r["sol1_T_C"]) and np.isnan(r["age1_T_C"]) and np.isnan(r["age1_t_h"])
    assert r["ys_mpa"] == 142.5 and r["uts_mpa"] == 167.5 and np.isnan(r["elong_pct"])
    assert "StrainHardeningMethod=Work Hardening Level 8" in r["process_code"]
    assert r["condition_text"] == "S/A Temp=25; Ageing Temp=25; Ageing Time=0"


@pytest.mark.realdata
def test_no_dummy_process_values(result):
    rows = result.rows
    assert not (rows["sol1_T_C"] == 25).any()  # 25 = "not solution treated" placeholder
    assert rows["sol1_t_h"].isna().all()
    assert not (rows["age1_t_h"] <= 0).any()  # 0 = none/unspecified placeholder
    natural = rows["process_code"].str.contains("AgeingType=Natural")
    # 25 degC ageing only for natural ageing, where it is a real room-temperature stage
    assert (
        rows.loc[rows["age1_T_C"] == 25, "process_code"].str.contains("AgeingType=Natural")
    ).all()
    assert (rows.loc[natural, "age1_T_C"] == 25).all()
    no_age = rows["process_code"].str.contains("AgeingType=No")
    assert rows.loc[no_age, ["age1_T_C", "age1_t_h"]].isna().all().all()
    for col in STAGE_COLUMNS:
        if col not in ("sol1_T_C", "age1_T_C", "age1_t_h"):
            assert rows[col].isna().all(), col
    # S/A Temp > 25 in Sheet1 (less the two rejected 7075 rows) + Loop rows
    assert rows["sol1_T_C"].notna().sum() == 810 - 2 + 4


@pytest.mark.realdata
def test_ageing_rules(rows):
    # 2048-T851: artificial ageing with placeholders 25 / 0 -> stage parameters unknown
    assert rows.loc[374, "temper_class"] == "T8" and rows.loc[374, "sol1_T_C"] == 500
    assert np.isnan(rows.loc[374, "age1_T_C"]) and np.isnan(rows.loc[374, "age1_t_h"])
    # 2124-T4, Natural but 120 / 18 in the numbers: natural stage, time unknown, raw kept
    assert rows.loc[375, "age1_T_C"] == 25 and np.isnan(rows.loc[375, "age1_t_h"])
    assert "Ageing Temp=120" in rows.loc[375, "condition_text"]
    # natural ageing with a stated time (1440 h)
    assert rows.loc[939, "age1_T_C"] == 25 and rows.loc[939, "age1_t_h"] == 1440
    # artificial ageing with time in hours (1441-T1: 530 / 150 degC / 24 h)
    assert rows.loc[118, "sol1_T_C"] == 530
    assert rows.loc[118, "age1_T_C"] == 150 and rows.loc[118, "age1_t_h"] == 24


@pytest.mark.realdata
def test_cold_work_only_where_stated(result):
    cw = result.rows["cold_work_pct"]
    assert cw.value_counts().to_dict() == {6.0: 7, 7.0: 7}
    stated = result.rows["process_code"].str.contains(r"StrainHardeningMethod=\d% Work Hardening")
    assert (cw.notna() == stated).all()


@pytest.mark.realdata
def test_categoricals(result):
    rows = result.rows
    assert rows["route"].value_counts().to_dict() == {
        "rolled": 681 - 2 + 2,  # less the two rejected 7075 bar rows
        "extruded": 236 + 2,
        "wrought": 139,
        "drawn": 50,
        "forged": 33,
        "thixoformed": 11,
    }
    assert set(rows["quench"]) == {"water", "air", "furnace"}
    assert rows["product_form"].isna().sum() == 233  # ProductionShape 'Wrought' is not a shape
    assert "wrought" not in set(rows["product_form"].dropna())
    assert rows["temper_class"].isna().sum() == 1  # 'OF'
    assert rows.loc[rows["temper_class"].isna(), "temper"].tolist() == ["OF"]
    assert (rows["temper"] == "T651").sum() == 31 - 1  # row 796 rejected


@pytest.mark.realdata
def test_every_designation_decodes(result):
    """Issue 10: every Hu designation but 'OF' is decoded into a process state."""
    rows = result.rows
    states = [decode_state(t, c) for t, c in zip(rows["temper"], rows["temper_class"], strict=True)]
    unknown = [t for t, s in zip(rows["temper"], states, strict=True) if not s.known]
    assert unknown == ["OF"]
    assert [s.temper_class for s in states] == [
        None if pd.isna(c) else c for c in rows["temper_class"]
    ]
    stretched = [s.stretched == 1.0 for s in states]
    assert sum(stretched) == rows["temper"].str.fullmatch(r"[TW]\d{1,2}51\d?").sum()
    compressed = [s.compressed == 1.0 for s in states]
    assert sum(compressed) == rows["temper"].isin(["T652", "T852"]).sum() > 0
    h = (rows["temper_class"] == "H").fillna(False)
    assert all(s.strain_hardened == 1.0 for s, k in zip(states, h, strict=True) if k)


@pytest.mark.realdata
def test_alloy_names_and_basis(result, rows):
    r = result.rows
    assert (r["alloy_name"] == "Unspecified").sum() == 286
    assert (r["alloy_name"] == "AA7075").sum() == 61 - 2  # rows 796/797 rejected
    assert (r["alloy_name"] == "1441").sum() == 1  # Russian Al-Cu-Li-Mg, not AA1441
    bare = r["alloy_name"].str.fullmatch(r"\d+").fillna(False).astype(bool)
    assert r.loc[bare, "source_row"].tolist() == [118]
    assert r["comp_basis"].value_counts().to_dict() == {
        "spec_midpoint": 641,
        "nominal": 509 - 2,  # rows 796/797 rejected
        "measured": 4,
    }
    assert (r.loc[r["alloy_name"] == "Unspecified", "comp_basis"] == "nominal").all()
    # ASM 7075 rows: composition from the AA specification (Cu 1.2-2.0 -> 1.6, Zn 5.1-6.1 -> 5.6)
    asm_7075 = r[(r["alloy_name"] == "AA7075") & (r["comp_basis"] == "spec_midpoint")]
    assert len(asm_7075) >= 3
    assert (asm_7075["Cu"] == 1.6).all() and (asm_7075["Zn"] == 5.6).all()
    assert (asm_7075["Mg"] == 2.5).all() and (asm_7075["Cr"] == 0.23).all()
    # a paper's 2024 with its own chemistry (Prudhomme et al. 2018: 3.98 Cu) is not spec-derived
    own = r[(r["alloy_name"] == "AA2024") & (r["Cu"] == 3.98)]
    assert len(own) > 0 and (own["comp_basis"] == "nominal").all()


@pytest.mark.realdata
def test_measured_loop_rows(rows):
    e = rows.loc[[10001, 10003, 20001, 20003]]
    assert e["alloy_name"].tolist() == ["L1A1-E", "L1A2-E", "L2A1-E", "L2A2-E"]
    assert (e["comp_basis"] == "measured").all()
    assert e["reference"].str.startswith("Experimentally measured").all()
    l2a2 = rows.loc[20003]
    assert l2a2["uts_mpa"] == 738 and l2a2["ys_mpa"] == 688 and l2a2["elong_pct"] == 7.5
    assert l2a2["Zn"] == 5.5 and l2a2["Cu"] == 3.63 and l2a2["Al"] == 87.22
    assert l2a2["sol1_T_C"] == 480 and l2a2["age1_T_C"] == 120 and l2a2["age1_t_h"] == 16
    assert l2a2["route"] == "extruded" and l2a2["temper_class"] == "T6"
    l1a1 = rows.loc[10001]
    assert l1a1["Cu"] == 1.5155 and l1a1["route"] == "rolled"
    assert (e[COMP].sum(axis=1) - 100).abs().max() < 1e-6


@pytest.mark.realdata
def test_traps_kept(rows, result):
    assert rows.loc[986, "ys_mpa"] == 501.2 and rows.loc[986, "uts_mpa"] == 438.6
    assert result.rows["ys_mpa"].isna().sum() == 84
    assert result.rows["uts_mpa"].isna().sum() == 34
    assert result.rows["elong_pct"].isna().sum() == 172


# --------------------------------------------------------------------------- fixtures


def _row(alloy="Unspecified", **cells) -> dict:
    row = dict.fromkeys(REQUIRED, 0)
    row.update({"Alloy": alloy, "Zn": 5.6, "Mg": 2.5, "Cu": 1.6, "Al (min.)": 90.3})
    row.update({"S/A Temp": 470, "Ageing Temp": 120, "Ageing Time": 24,
                "ManufacturingMethod": "Extruded", "HeatTreatmentMedium": "Water",
                "StrainHardeningMethod": "No", "AgeingType": "Artificial",
                "TreatmentAfterward": "No", "ProductionShape": "Rod", "Designation": "T6",
                "YTS": 500.0, "UTS": 560.0, "EL": 10.0, "Reference": "A paper"})  # fmt: skip
    row.update(cells)
    return row


def _write(path: Path, sheets: dict[str, list[dict]], drop: tuple[str, ...] = ()) -> Path:
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for name, records in sheets.items():
            frame = pd.DataFrame(records, columns=list(REQUIRED)).drop(columns=list(drop))
            frame.to_excel(writer, sheet_name=name, index=False)
    return path


def _spec(**options) -> SourceSpec:
    files = (
        FileSpec(path="dataset.xlsx", sha256="0" * 64),
        FileSpec(path="self.xlsx", sha256="1" * 64),
    )
    return SourceSpec(id="hu_fixture", system="al", adapter="hu", files=files, options=options)


def _run(tmp_path, main, loops=None, drop=(), **options):
    p1 = _write(tmp_path / "dataset.xlsx", {"Sheet1": main}, drop)
    loops = loops if loops is not None else {"Loop I": [_row("X1-E")], "Loop II": [_row("X2-E")]}
    opts = {"sheet": "Sheet1", "extra_sheets": list(loops)} | options
    paths = [p1, _write(tmp_path / "self.xlsx", loops)] if loops else [p1]
    return adapt(_spec(**opts), paths)


def test_fixture_offsets_and_predictions(tmp_path):
    loops = {
        "Loop I": [_row("L1A1-D", Reference="Predicted from ML model"), _row("L1A1-E")],
        "Loop II": [_row("L2A1-E"), _row("L2A1-X", Reference="predicted value")],
    }
    res = _run(tmp_path, [_row(7075), _row()], loops)
    assert res.rows_in == 6
    assert sorted(res.rows["source_row"]) == [0, 1, 10001, 20000]
    rej = res.rejects.set_index("source_row")
    assert rej.loc[10000, "reason"] == "model_prediction" and rej.loc[10000, "column"] == "Alloy"
    assert (
        rej.loc[20001, "reason"] == "model_prediction" and rej.loc[20001, "column"] == "Reference"
    )
    kept = res.rows.set_index("source_row")
    assert kept.loc[10001, "comp_basis"] == "measured"
    assert kept.loc[0, "alloy_name"] == "AA7075" and kept.loc[0, "comp_basis"] == "nominal"


def test_fixture_spec_midpoint_rule(tmp_path):
    asm = "Davis, J., 1993. Aluminum And Aluminum Alloys. Materials Park, OH: ASM International."
    main = [
        _row(7075, Reference=asm),
        _row(7075, Reference="Smithells"),  # same composition as the ASM row
        _row(7075, Reference="A paper", Zn=5.4, **{"Al (min.)": 90.5}),  # own chemistry
        _row("Unspecified", Reference=asm),
    ]
    res = _run(tmp_path, main, {})
    assert res.rows["comp_basis"].tolist() == [
        "spec_midpoint",
        "spec_midpoint",
        "nominal",
        "nominal",
    ]


def test_fixture_process_parsing(tmp_path):
    main = [
        _row(**{"S/A Temp": 25, "Ageing Temp": 25, "Ageing Time": 0, "AgeingType": "No",
                "Designation": "H18", "ManufacturingMethod": "Rolled", "HeatTreatmentMedium": "Air",
                "StrainHardeningMethod": "Work Hardening Level 8", "ProductionShape": "Wrought"}),
        _row(**{"Ageing Temp": 25, "Ageing Time": 0, "AgeingType": "Natural", "Designation": "T4"}),
        _row(**{"Ageing Temp": 25, "Ageing Time": 96, "AgeingType": "Natural",
                "StrainHardeningMethod": "7% Work Hardening", "Designation": "T36"}),
        _row(**{"Ageing Temp": 25, "Ageing Time": 0, "AgeingType": "Overageing", "Designation": "T73"}),
        _row(**{"AgeingType": "Sometimes"}),
        _row(**{"ManufacturingMethod": "Teleported"}),
    ]  # fmt: skip
    res = _run(tmp_path, main, {})
    kept = res.rows.set_index("source_row")
    h18 = kept.loc[0]
    assert np.isnan(h18["sol1_T_C"]) and np.isnan(h18["age1_T_C"]) and np.isnan(h18["age1_t_h"])
    assert h18["route"] == "rolled" and h18["quench"] == "air" and pd.isna(h18["product_form"])
    assert np.isnan(h18["cold_work_pct"]) and h18["temper_class"] == "H"
    assert kept.loc[1, "age1_T_C"] == 25 and np.isnan(kept.loc[1, "age1_t_h"])
    assert kept.loc[1, "sol1_T_C"] == 470 and np.isnan(kept.loc[1, "sol1_t_h"])
    assert kept.loc[2, "age1_t_h"] == 96 and kept.loc[2, "cold_work_pct"] == 7.0
    assert kept.loc[2, "temper_class"] == "T3"
    assert np.isnan(kept.loc[3, "age1_T_C"]) and np.isnan(kept.loc[3, "age1_t_h"])
    assert kept.loc[3, "temper_class"] == "T7"
    rej = res.rejects.set_index("source_row")
    assert rej.loc[4, "reason"] == "unknown_ageing_type" and rej.loc[4, "column"] == "AgeingType"
    assert rej.loc[5, "reason"] == "unknown_route"
    assert rej.loc[5, "column"] == "ManufacturingMethod"


def test_fixture_text_cells(tmp_path):
    main = [
        _row(Cr="<0.05"),
        _row(Mn="0.1-0.3"),
        _row(Ti="—"),
        _row(Zn="5,6"),
        _row(Fe="abc"),
        _row(**{"Al (min.)": "bal."}),
        _row(Mg="Rem"),
        _row(**{"Ageing Time": "24 h"}),
        _row(YTS=None, UTS=None, EL=None),
    ]
    res = _run(tmp_path, main, {})
    kept = res.rows.set_index("source_row")
    assert kept.loc[0, "Cr"] == pytest.approx(0.025)
    assert kept.loc[1, "Mn"] == pytest.approx(0.2)
    assert np.isnan(kept.loc[2, "Ti"])
    assert kept.loc[3, "Zn"] == pytest.approx(5.6)
    assert kept.loc[5, "Al"] == pytest.approx(100 - 5.6 - 2.5 - 1.6)
    rej = res.rejects.set_index("source_row")
    assert rej.loc[4, "reason"] == "non_numeric" and rej.loc[4, "column"] == "Fe"
    assert rej.loc[6, "reason"] == "balance_in_wrong_column" and rej.loc[6, "column"] == "Mg"
    assert rej.loc[7, "reason"] == "non_numeric" and rej.loc[7, "column"] == "Ageing Time"
    assert rej.loc[8, "reason"] == "missing_all_targets"
    assert res.rows_in == 9 and len(res.rows) == 5


def test_fixture_missing_column(tmp_path):
    with pytest.raises(SourceError, match="Ageing Time"):
        _run(tmp_path, [_row()], {}, drop=("Ageing Time",))
    with pytest.raises(SourceError, match="Al \\(min\\.\\)"):
        _run(tmp_path, [_row()], {}, drop=("Al (min.)",))


def test_fixture_wrong_sheet(tmp_path):
    with pytest.raises(SourceError, match="Sheet9"):
        _run(tmp_path, [_row()], {}, sheet="Sheet9")
    with pytest.raises(SourceError, match="Loop III"):
        _run(tmp_path, [_row()], {"Loop I": [_row()]}, extra_sheets=["Loop I", "Loop III"])


def test_fixture_extra_sheets_need_second_file(tmp_path):
    p1 = _write(tmp_path / "dataset.xlsx", {"Sheet1": [_row()]})
    with pytest.raises(SourceError, match="second file"):
        adapt(_spec(sheet="Sheet1", extra_sheets=["Loop I"]), [p1])


def test_alloy_name_rules():
    assert alloy_name(7075, 90.0) == "AA7075"
    assert alloy_name(7075.0, 90.0) == "AA7075"
    assert alloy_name("2024", 93.0) == "AA2024"
    assert alloy_name(1050, 99.5) == "AA1050"
    assert alloy_name(1100, 99.0) == "AA1100"
    assert alloy_name(1441, 95.67) == "1441"
    assert alloy_name(" Unspecified ", 90.0) == "Unspecified"
    assert alloy_name(float("nan"), 90.0) is None


@pytest.mark.realdata
def test_reduction_of_area_read_as_elongation_is_rejected(result):
    """Rows 796/797 (7075-T651 / T7351 bar, Adler & DeIasi 1977): EL 31 / 37 % against the
    handbook 11 / 13 %; rejected with the reason and the column named."""
    rej = result.rejects.set_index("source_row")
    for row, temper in ((796, "T651"), (797, "T7351")):
        assert rej.loc[row, "reason"] == "implausible_elongation"
        assert rej.loc[row, "column"] == "EL"
        assert temper in rej.loc[row, "detail"] and "reduction of area" in rej.loc[row, "detail"]
    rows = result.rows
    assert not rows["source_row"].isin([796, 797]).any()
    # no other 7xxx row in a T6/T7 temper is anywhere near these elongations
    t67 = rows["temper_class"].isin(["T6", "T7"]) & (rows["Zn"] > 4.0)
    assert rows.loc[t67, "elong_pct"].max() <= 24.0
