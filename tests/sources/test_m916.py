"""Tests of the ``ghorbani_m916`` adapter and its condition parser, on the real file and fixtures."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alloyml.errors import SourceError
from alloyml.process import decode_state
from alloyml.schema import ROUTES, STAGE_COLUMNS, TEMPER_CLASSES
from alloyml.sources.adapters.m916 import ELEMENT_COLUMNS, PARSED_KEYS, adapt, parse_condition
from alloyml.sources.registry import FileSpec, SourceSpec

SOURCE_ID = "ghorbani_m916"


@pytest.fixture(scope="module")
def result(real_source):
    return real_source(SOURCE_ID)


@pytest.fixture(scope="module")
def rows(result) -> pd.DataFrame:
    return result.rows.set_index("source_row", drop=False)


def _row_of(rows: pd.DataFrame, condition: str) -> pd.Series:
    hit = rows[rows["condition_text"] == condition]
    assert len(hit) == 1, condition
    return hit.iloc[0]


# --------------------------------------------------------------------------- real file


@pytest.mark.realdata
def test_counts_every_row_kept(result):
    assert result.rows_in == 916
    assert len(result.rows) == 916
    assert len(result.rejects) == 0
    assert sorted(result.rows["source_row"]) == list(range(916))


@pytest.mark.realdata
def test_nominal_compositions_room_temperature_tests(result):
    # columns, dtypes and provenance: test_adapter_contract.py
    rows = result.rows
    assert (rows["comp_basis"] == "nominal").all()
    assert rows["test_T_C"].isna().all()


@pytest.mark.realdata
def test_composition_mg_explicit_sum_100(result):
    rows = result.rows
    comp = rows[list(ELEMENT_COLUMNS)]
    assert comp.notna().all().all()  # a full 31-element vector: 0 = reported absent
    assert rows["Mg"].between(50, 100).all()
    assert (comp.sum(axis=1) - 100).abs().max() <= 0.011
    assert rows[["Cr", "Ti", "Co", "B"]].isna().all().all()  # not columns here: not reported
    assert result.notes["sum_mismatch_rows"] == []


@pytest.mark.realdata
def test_lithium_counts_and_impurity_rows(rows, result):
    li = rows["Li"]
    assert (li > 0).sum() == 35
    assert (li >= 1).sum() == 30
    assert (li >= 5.7).sum() == 19
    assert (li >= 10.3).sum() == 7
    # WE43/WE54 Li = 0.2 is a specification impurity maximum: value kept, rows listed
    assert result.notes["impurity_li_rows"] == [107, 249]
    assert rows.loc[107, "Li"] == pytest.approx(0.2)
    assert rows.loc[249, "alloy_name"] == "Magnesium WE54-T6"


@pytest.mark.realdata
def test_text_hygiene(rows):
    for col in ("alloy_name", "condition_text", "process_code"):
        text = rows[col].dropna()
        assert not text.str.contains("\ufeff").any(), col
        assert (text == text.str.strip()).all(), col
    assert rows.loc[0, "alloy_name"] == "Mg-15Sc-1Mn"  # trailing space in the file
    assert rows.loc[877, "alloy_name"] == "Mg-14Li-6Zn-1Y"  # BOM in the file
    assert rows.loc[852, "condition_text"] == "wrought Twin-roll-casting + hot rolling"  # inner BOM
    assert rows["condition_text"].isna().sum() == 131
    assert rows["alloy_name"].notna().all()


@pytest.mark.realdata
def test_routes_and_process_code(rows):
    assert rows["route"].value_counts().to_dict() == {
        "extruded": 384,
        "cast_die": 220,
        "cast": 175,
        "cast_sand": 42,
        "rolled": 39,
        "forged": 26,
        "wrought": 21,
        "ecap": 7,
        "cast_perm_mould": 2,
    }
    assert set(rows["route"]) <= set(ROUTES)
    assert rows.loc[0, "process_code"] == "5|Cast (Any cast type, then heat treated)"
    sand = rows[rows["route"] == "cast_sand"]
    assert (sand["process_code"] == "3|Cast  (sand, slow cool)").all()  # double space kept
    # code 6 refined from the text
    assert rows.loc[601, "route"] == "rolled"  # annealed, worm rolling (623K)
    assert rows.loc[845, "route"] == "forged"  # Wrought(hammer forging)
    assert rows.loc[886, "route"] == "wrought"  # 'wrought'
    assert rows.loc[886, "process_code"] == "6|wrought - rolled and Forging"


def _state_label(temper, cls) -> str:
    s = decode_state(None if pd.isna(temper) else temper, None if pd.isna(cls) else cls, "mg")
    if not s.known:
        return "unknown"
    if s.heat_treated == 1:
        return "heat treated" if s.detail_known else "heat treated, detail unknown"
    return "not heat treated" if s.heat_treated == 0 else "heat treatment unknown"


@pytest.mark.realdata
def test_route_and_decoded_state(rows):
    """Issue 10: level 5 "cast, then heat treated" is route cast with a heat-treated state, so
    a user's cast + F (as-cast) no longer lands on heat-treated rows."""
    pairs = zip(rows["temper"], rows["temper_class"], strict=True)
    labels = [_state_label(t, c) for t, c in pairs]
    got = pd.Series(labels, index=rows.index).groupby(rows["route"]).value_counts().to_dict()
    assert got == {
        ("cast", "heat treated"): 147,
        ("cast", "heat treated, detail unknown"): 28,
        ("cast_die", "heat treated"): 1,
        ("cast_die", "not heat treated"): 218,
        ("cast_die", "unknown"): 1,  # "Friction stir"
        ("cast_perm_mould", "not heat treated"): 2,
        ("cast_sand", "heat treated"): 8,
        ("cast_sand", "not heat treated"): 34,
        ("ecap", "not heat treated"): 7,
        ("extruded", "heat treated"): 70,
        ("extruded", "not heat treated"): 293,
        ("extruded", "unknown"): 21,
        ("forged", "heat treated"): 11,
        ("forged", "not heat treated"): 15,
        ("rolled", "heat treated"): 18,
        ("rolled", "heat treated, detail unknown"): 1,
        ("rolled", "heat treatment unknown"): 4,
        ("rolled", "not heat treated"): 14,
        ("rolled", "unknown"): 2,  # "Sheet, Plate 0"
        ("wrought", "heat treated"): 12,
        ("wrought", "heat treated, detail unknown"): 1,
        ("wrought", "unknown"): 8,
    }
    level = rows["process_code"].str[0]
    # every level-5 row is heat treated, except three whose text says otherwise
    lvl5 = pd.Series(labels, index=rows.index)[level == "5"]
    assert lvl5.str.startswith("heat treated").sum() == 188
    assert sorted(lvl5.index[~lvl5.str.startswith("heat treated")]) == [259, 341, 680]
    cast = rows.loc[level == "5", "temper"]
    assert (cast[rows["condition_text"] == "Cast"] == "heat treated").all()
    # levels 3 and 4 with no designation are as-cast (F)
    assert rows.loc[(level == "4") & rows["condition_text"].isna(), "temper"].eq("as-cast").all()
    assert rows.loc[(level == "4") & rows["condition_text"].isna(), "temper_class"].eq("F").all()
    # a stated designation is kept as written
    assert rows.loc[0, "temper"] == "T5" and rows.loc[0, "route"] == "cast"
    r = _row_of(rows, "Cast + Solution Treated at 500 °C + Quenched + peak-aged (200 °C for 24 h")
    assert r["temper_class"] == "T6" and r["route"] == "cast"
    assert rows["route"].isin(ROUTES).all()


@pytest.mark.realdata
def test_targets_and_doi(rows):
    assert rows[["ys_mpa", "uts_mpa", "elong_pct"]].notna().all().all()
    assert rows["ys_mpa"].min() == 21 and rows["uts_mpa"].max() == 710
    assert rows.loc[0, ["ys_mpa", "uts_mpa", "elong_pct"]].tolist() == [152.5, 174.5, 0.25]
    doi = rows["doi"].dropna()
    assert len(doi) == 186
    assert doi.str.startswith("10.").all()
    assert doi.value_counts()["10.1016/j.jma.2018.08.001"] == 68


@pytest.mark.realdata
def test_traps_kept_not_fixed(rows, result):
    # mislabelled names (SOURCE.md trap 3) are kept as they are and listed
    assert result.notes["mislabelled_rows"] == [302, 305, 479, 480, 481, 523]
    assert rows.loc[302, "alloy_name"] == "Z6(1)" and rows.loc[302, "Li"] == pytest.approx(4.79)
    assert rows.loc[523, "Li"] == pytest.approx(2.93)
    # identical property triplets for different compositions are kept (rows 5, 6)
    assert rows.loc[5, ["ys_mpa", "uts_mpa", "elong_pct"]].tolist() == [518, 646, 1.2]
    assert rows.loc[6, ["ys_mpa", "uts_mpa", "elong_pct"]].tolist() == [518, 646, 1.2]
    assert result.notes["composite_rows"] == [286, 287, 288, 289, 290, 676]
    assert 117 in result.notes["route_text_conflicts"]  # Hard Rolled Sheet H24 under code 5
    # the route follows the text (a sheet), the state goes in temper
    assert rows.loc[117, "route"] == "rolled" and rows.loc[117, "temper"] == "H24"
    assert rows.loc[117, "temper_class"] == "H"


@pytest.mark.realdata
def test_parsed_process_on_real_rows(rows):
    r = _row_of(
        rows, "510 °C/16 h + extruded (400 °C sample, 350 °C mold, 15:1) + aged at 200 °C/92 h"
    )
    assert (r["homog_T_C"], r["homog_t_h"]) == (510.0, 16.0)
    assert (r["deform_T_C"], r["extrusion_ratio"]) == (400.0, 15.0)
    assert (r["age1_T_C"], r["age1_t_h"]) == (200.0, 92.0)
    assert np.isnan(r["sol1_T_C"]) and np.isnan(r["age2_T_C"])
    # K -> °C
    assert rows.loc[156, "deform_T_C"] == pytest.approx(400 - 273.15)
    assert rows.loc[711, "deform_T_C"] == pytest.approx(26.85)  # "Extrusion(300K)" as stated
    # (576C) is the casting temperature of the AZ91D series, not an extrusion temperature
    assert np.isnan(rows.loc[258, "deform_T_C"]) and np.isnan(rows.loc[259, "deform_T_C"])
    assert rows.loc[258, "condition_text"] == "as-cast, extruded (576C)"
    # an unlabelled T/t with no unit on time: T kept, t not guessed
    assert rows.loc[144, "age1_T_C"] == 200.0 and np.isnan(rows.loc[144, "age1_t_h"])


@pytest.mark.realdata
def test_parsed_counts_and_no_dummy_values(result):
    rows = result.rows
    counts = rows[["homog_T_C", "sol1_T_C", "age1_T_C", "age1_t_h", "deform_T_C",
                   "extrusion_ratio", "rolling_reduction_pct", "cold_work_pct"]].notna().sum()  # fmt: skip
    assert counts.to_dict() == {
        "homog_T_C": 30,
        "sol1_T_C": 10,
        "age1_T_C": 32,
        "age1_t_h": 35,
        "deform_T_C": 130,
        "extrusion_ratio": 28,
        "rolling_reduction_pct": 10,
        "cold_work_pct": 4,
    }
    for col in STAGE_COLUMNS:
        vals = rows[col].dropna()
        assert (vals > 0).all(), col  # never a 0 / -1 placeholder
        if col.endswith("_T_C"):
            assert vals.between(100, 600).all(), col
    assert rows["deform_T_C"].dropna().between(20, 600).all()
    assert rows["extrusion_ratio"].dropna().between(5, 40).all()
    assert set(rows["temper_class"].dropna()) <= set(TEMPER_CLASSES)
    tc = rows["temper_class"].value_counts().to_dict()
    assert tc["T6"] == 97 and tc["F"] == 583 and tc["H"] == 18
    assert rows["temper_class"].isna().sum() == 68
    assert rows["quench"].value_counts().to_dict() == {"water": 6}


# --------------------------------------------------------------------------- parser

NAN = math.nan
_TABLE = [
    ("extruded (453K)", {"deform_T_C": 179.85}),
    ("Extrusion(230 degree C)", {"deform_T_C": 230.0}),
    ("Extrusion (300 C)", {"deform_T_C": 300.0}),
    ("Cast T6", {"temper": "T6", "temper_class": "T6"}),
    ("Sand Cast T61", {"temper": "T61", "temper_class": "T6"}),
    ("Extrusion (T5D)", {"temper": "T5D", "temper_class": "T5"}),
    ("Hard Rolled Sheet H24", {"temper": "H24", "temper_class": "H"}),
    ("Sheet and Plate  O", {"temper": "O", "temper_class": "O"}),
    ("Sheet, Plate 0", {}),  # a zero, not the letter O: not read
    ("Sand/Chill Cast T5 or T6", {}),  # ambiguous
    ("squeeze casting, extruded, T6, extruded at 335C", {"deform_T_C": 335.0}),
    ("as-cast (730C)", {"temper_class": "F"}),  # casting temperature is not a deformation T
    ("die cast, casting at 700C, mold at 390C", {}),
    ("SO2", {}),
    ("He + R", {}),
    (
        "cast, heated at 420C, water quenching T4, aged at 200C(T6)",
        {
            "temper": "T6",
            "temper_class": "T6",
            "quench": "water",
            "sol1_T_C": 420.0,
            "age1_T_C": 200.0,
        },  # fmt: skip
    ),
    (
        "Hot rolled at 400?C ñ Annealed for 1?h at 380?C",  # mis-encoded degree sign; anneal skipped
        {"deform_T_C": 400.0},
    ),
    (
        "4h / RHT + 0.5h / SHT + 24 h aging",
        {"sol1_t_h": 0.5, "age1_t_h": 24.0},
    ),
    (
        "535 °C/24 h + extruded at 410 °C (13:1) + aged at 200 °C/72",
        {
            "homog_T_C": 535.0,
            "homog_t_h": 24.0,
            "deform_T_C": 410.0,
            "extrusion_ratio": 13.0,
            "age1_T_C": 200.0,
        },  # fmt: skip
    ),
    (
        "500 °C/2 h + 520 °C/12 h + extruded (490 °C sample, 370 °C mold, 9:1) + aged at 200 °C/32 h",
        {
            "homog_T_C": 520.0,
            "homog_t_h": 12.0,
            "deform_T_C": 490.0,
            "extrusion_ratio": 9.0,
            "age1_T_C": 200.0,
            "age1_t_h": 32.0,
        },  # fmt: skip
    ),
    (
        "500 °C/50 h + aged at 200 °C/80 h + 2 passes of ECAP at 330 °C",
        {
            "sol1_T_C": 500.0,
            "sol1_t_h": 50.0,
            "age1_T_C": 200.0,
            "age1_t_h": 80.0,
            "deform_T_C": 330.0,
        },  # fmt: skip
    ),
    (
        "500 °C/10 h + rolled at 500 °C (80% reduction) + 500 °C/10 h + aged at 225 °C/10 h",
        {
            "homog_T_C": 500.0,
            "homog_t_h": 10.0,
            "deform_T_C": 500.0,
            "rolling_reduction_pct": 80.0,
            "sol1_T_C": 500.0,
            "sol1_t_h": 10.0,
            "age1_T_C": 225.0,
            "age1_t_h": 10.0,
        },  # fmt: skip
    ),
    (
        "510 °C/12 h + rolled at 400 °C (96% reduction) + 200 °C/28 h",
        {
            "homog_T_C": 510.0,
            "homog_t_h": 12.0,
            "deform_T_C": 400.0,
            "rolling_reduction_pct": 96.0,
            "age1_T_C": 200.0,
            "age1_t_h": 28.0,
        },  # fmt: skip
    ),
    (
        "450 °C/10 h + extruded at 400 °C (20:1) + rolled at 400 (95% reduction) + aged at 200 °C/16 h",
        # the last deformation (rolling) states no unit: no deformation temperature
        {
            "homog_T_C": 450.0,
            "homog_t_h": 10.0,
            "extrusion_ratio": 20.0,
            "rolling_reduction_pct": 95.0,
            "age1_T_C": 200.0,
            "age1_t_h": 16.0,
        },  # fmt: skip
    ),
    (
        "535 °C/24 h + extruded at 410 °C (30:1) + cold rolled (14.5% reduction) + aged at 200 °C/48 h",
        {
            "homog_T_C": 535.0,
            "homog_t_h": 24.0,
            "deform_T_C": 410.0,
            "extrusion_ratio": 30.0,
            "rolling_reduction_pct": 14.5,
            "cold_work_pct": 14.5,
            "age1_T_C": 200.0,
            "age1_t_h": 48.0,
        },  # fmt: skip
    ),
    (
        "510 °C/12 h + extruded at 420 °C (8:1) + rolled at 400 °C and finally 350 °C (92% reduction)",
        {
            "homog_T_C": 510.0,
            "homog_t_h": 12.0,
            "extrusion_ratio": 8.0,
            "deform_T_C": 350.0,
            "rolling_reduction_pct": 92.0,
        },  # fmt: skip
    ),
    (
        "Extruded at 400 °C + Hot rolled (200 °C rollers, 450 °C/0.5 h sample, 92% reduction) + aged at 225 °C/17 h",
        {"deform_T_C": 450.0, "rolling_reduction_pct": 92.0, "age1_T_C": 225.0, "age1_t_h": 17.0},
    ),
    (
        "Cast + Solution Treated at 500 °C + Quenched + deformed (10%) and peak-aged at 200 °C for 8 h",
        {"sol1_T_C": 500.0, "cold_work_pct": 10.0, "age1_T_C": 200.0, "age1_t_h": 8.0},
    ),
    (
        "500/10 h + extruded at 350 °C (10:1)",
        {"homog_t_h": 10.0, "deform_T_C": 350.0, "extrusion_ratio": 10.0},
    ),  # fmt: skip
    (
        "510 °C/12 h + extruded at 430 °C (9:1) + 500/8 + aged at 225 °C/14 h",
        {
            "homog_T_C": 510.0,
            "homog_t_h": 12.0,
            "deform_T_C": 430.0,
            "extrusion_ratio": 9.0,
            "age1_T_C": 225.0,
            "age1_t_h": 14.0,
        },
    ),  # fmt: skip
]


@pytest.mark.parametrize(("text", "expected"), _TABLE, ids=[t for t, _ in _TABLE])
def test_parse_condition_real_strings(text, expected):
    got = parse_condition(text)
    assert set(got) == set(PARSED_KEYS)
    for key in PARSED_KEYS:
        want = expected.get(key)
        if want is None:
            assert got[key] is None or (isinstance(got[key], float) and math.isnan(got[key])), (
                key,
                got[key],
            )
        elif isinstance(want, str):
            assert got[key] == want, key
        else:
            assert got[key] == pytest.approx(want), key


@pytest.mark.parametrize("text", [None, "", "   ", "\ufeff", float("nan")])
def test_parse_condition_empty(text):
    got = parse_condition(text)
    assert got["temper"] is None and got["temper_class"] is None
    assert all(
        math.isnan(got[k]) for k in PARSED_KEYS if k not in ("temper", "temper_class", "quench")
    )


def test_parse_condition_extrusion_ratio_forms():
    assert parse_condition("extruded at 400 °C, ER 15")["extrusion_ratio"] == 15.0
    assert parse_condition("extruded with an extrusion ratio of 25")["extrusion_ratio"] == 25.0
    assert parse_condition("extruded at 380 °C (15:1)")["extrusion_ratio"] == 15.0
    # a ratio outside an extrusion step is not an extrusion ratio
    assert math.isnan(parse_condition("rolled at 400 °C (3:1)")["extrusion_ratio"])


@given(kelvin=st.integers(min_value=300, max_value=900))
def test_kelvin_round_trip(kelvin):
    got = parse_condition(f"extruded ({kelvin}K)")["deform_T_C"]
    assert got == pytest.approx(kelvin - 273.15, abs=1e-9)
    assert parse_condition(f"Extrusion({kelvin}K)")["deform_T_C"] == got


@given(
    celsius=st.integers(min_value=100, max_value=560),
    unit=st.sampled_from(["C", " °C", " C", "?C"]),
)
def test_celsius_identity(celsius, unit):
    assert parse_condition(f"extruded at {celsius}{unit}")["deform_T_C"] == float(celsius)


@given(
    t=st.integers(min_value=100, max_value=300),
    n=st.integers(min_value=1, max_value=500),
    unit=st.sampled_from([("h", 1.0), ("min", 1 / 60), ("s", 1 / 3600), ("days", 24.0)]),
)
def test_ageing_time_units(t, n, unit):
    name, factor = unit
    got = parse_condition(f"aged at {t} °C/{n} {name}")
    assert got["age1_T_C"] == float(t)
    assert got["age1_t_h"] == pytest.approx(n * factor)


def test_two_ageing_steps_in_order():
    got = parse_condition(
        "solution treated at 500 °C/8 h + aged at 180 °C/2 h + aged at 220 °C/30 min"
    )
    assert (got["sol1_T_C"], got["sol1_t_h"]) == (500.0, 8.0)
    assert (got["age1_T_C"], got["age1_t_h"]) == (180.0, 2.0)
    assert got["age2_T_C"] == 220.0 and got["age2_t_h"] == pytest.approx(0.5)
    assert got["homog_T_C"] != got["homog_T_C"]  # NaN: no homogenisation stated


# --------------------------------------------------------------------------- fixtures

_COLUMNS = ["Name", "Condition", "Process-Heat treatment", "Coded", *ELEMENT_COLUMNS, "Sum",
            "YS(MPa)", "UTS(MPa)", "Ductility", "DOI"]  # fmt: skip


def _row(**cells) -> dict:
    row: dict = {c: 0 for c in ELEMENT_COLUMNS}
    row.update({"Mg": 96.0, "Al": 3.0, "Zn": 1.0, "Sum": 100})
    row.update({"Name": "\ufeffAZ31 ", "Condition": "extruded (573K)",
                "Process-Heat treatment": "Extruded", "Coded": 1, "YS(MPa)": 200,
                "UTS(MPa)": 260, "Ductility": 15, "DOI": ""})  # fmt: skip
    row.update(cells)
    return row


def _spec(options: dict | None = None, name: str = "m916.csv") -> SourceSpec:
    return SourceSpec(
        id="m916_fixture",
        system="mg",
        adapter="m916",
        files=(FileSpec(path=name, sha256="0" * 64),),
        options=options or {},
    )


def _run(tmp_path: Path, records: list[dict], drop: tuple[str, ...] = ()):
    frame = pd.DataFrame(records, columns=_COLUMNS).drop(columns=list(drop))
    path = tmp_path / "m916.csv"
    frame.to_csv(path, index=False)
    return adapt(_spec(), [path])


def test_fixture_good_rows(tmp_path):
    res = _run(
        tmp_path, [_row(), _row(Coded=6, Condition="Forgings T5", DOI="https://doi.org/10.1/x")]
    )
    assert len(res.rows) == 2 and len(res.rejects) == 0
    r0, r1 = res.rows.iloc[0], res.rows.iloc[1]
    assert r0["alloy_name"] == "AZ31" and r0["route"] == "extruded"
    assert r0["deform_T_C"] == pytest.approx(299.85)
    assert r0["process_code"] == "1|Extruded"
    assert pd.isna(r0["doi"]) and r1["doi"] == "10.1/x"
    assert r1["route"] == "forged" and r1["temper_class"] == "T5"


def test_fixture_missing_required_column(tmp_path):
    with pytest.raises(SourceError, match="Li"):
        _run(tmp_path, [_row()], drop=("Li",))
    with pytest.raises(SourceError, match="Coded"):
        _run(tmp_path, [_row()], drop=("Coded",))


def test_fixture_optional_columns(tmp_path):
    res = _run(tmp_path, [_row()], drop=("DOI", "Sum"))
    assert len(res.rows) == 1 and res.rows["doi"].isna().all()
    assert "sum_mismatch_rows" not in res.notes


def test_fixture_text_cells(tmp_path):
    records = [
        _row(Mn="<0.05"),  # below a limit -> half
        _row(Zr="0.1-0.3"),  # range -> midpoint
        _row(Fe="—"),  # not reported
        _row(Zn="0,25"),  # decimal comma
        _row(Ca="abc"),  # unreadable -> reject
        _row(Mg="bal."),  # balance marker on the balance element -> computed
        _row(Al="bal."),  # balance marker elsewhere -> reject
        _row(Coded=7),  # unknown code -> reject
        _row(Coded="x"),  # unreadable code -> reject
        _row(**{"YS(MPa)": "", "UTS(MPa)": "n/a", "Ductility": "-"}),  # nothing to learn
        _row(Coded=""),  # empty code: kept, route unknown
        _row(Sum=90),  # sum mismatch: kept, listed
    ]
    res = _run(tmp_path, records)
    assert res.rows_in == 12
    kept = res.rows.set_index("source_row")
    assert kept.loc[0, "Mn"] == pytest.approx(0.025)
    assert kept.loc[1, "Zr"] == pytest.approx(0.2)
    assert np.isnan(kept.loc[2, "Fe"])
    assert kept.loc[3, "Zn"] == pytest.approx(0.25)
    assert kept.loc[5, "Mg"] == pytest.approx(96.0)
    assert pd.isna(kept.loc[10, "route"]) and kept.loc[10, "process_code"] == "|Extruded"
    rej = res.rejects.set_index("source_row")
    assert rej["reason"].to_dict() == {
        4: "non_numeric",
        6: "balance_in_wrong_column",
        7: "unknown_process_code",
        8: "non_numeric",
        9: "missing_all_targets",
    }
    assert rej.loc[4, "column"] == "Ca" and rej.loc[8, "column"] == "Coded"
    assert rej.loc[7, "column"] == "Coded"
    # rows whose parsed cells no longer sum to Sum, and the wrong Sum; rejected rows not listed
    assert res.notes["sum_mismatch_rows"] == [0, 1, 3, 11]


def test_fixture_wrong_sheet(tmp_path):
    frame = pd.DataFrame([_row()], columns=_COLUMNS)
    path = tmp_path / "m916.xlsx"
    frame.to_excel(path, sheet_name="data", index=False)
    res = adapt(_spec({"sheet": "data"}, "m916.xlsx"), [path])
    assert len(res.rows) == 1
    with pytest.raises(SourceError, match="nope"):
        adapt(_spec({"sheet": "nope"}, "m916.xlsx"), [path])


def test_keyword_stages_homogenised_and_t4():
    got = parse_condition(
        "homogenized at 400 °C for 12 h + T4 (420 °C/24 h) + aged at 175 °C/90 min"
    )
    assert (got["homog_T_C"], got["homog_t_h"]) == (400.0, 12.0)
    assert (got["sol1_T_C"], got["sol1_t_h"]) == (420.0, 24.0)
    assert (got["age1_T_C"], got["age1_t_h"]) == (175.0, 1.5)
    assert got["temper"] == "T4"  # the last token written (no T6 token follows)
    assert np.isnan(got["deform_T_C"])
