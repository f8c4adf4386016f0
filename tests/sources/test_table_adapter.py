"""The generic in-house ``table`` adapter, on tests/data/inhouse_7xxx.csv and tiny tmp sheets."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
import yaml
from pymatgen.core.periodic_table import Element

from alloyml.errors import SourceError
from alloyml.schema import ADAPTER_COLUMNS, ELEMENTS
from alloyml.sources.adapters.table import adapt
from alloyml.sources.base import get_adapter
from alloyml.sources.registry import FileSpec, SourceSpec

DATA = Path(__file__).resolve().parents[1] / "data"
CSV = DATA / "inhouse_7xxx.csv"
SPEC = DATA / "inhouse_7xxx.spec.yaml"


def _spec(options: dict, system: str = "al", sid: str = "lab_t") -> SourceSpec:
    return SourceSpec(
        id=sid,
        system=system,
        adapter="table",
        files=(FileSpec(path="lab/t.csv", sha256="0" * 64),),
        options=options,
    )


def _fixture_spec() -> SourceSpec:
    doc = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
    return _spec(doc["options"], system=doc["system"], sid=doc["id"])


@pytest.fixture(scope="module")
def inhouse():
    return adapt(_fixture_spec(), [CSV])


def _write(tmp_path: Path, text: str, name: str = "t.csv") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


# --------------------------------------------------------------------------------------------
# the in-house fixture
# --------------------------------------------------------------------------------------------


def test_inhouse_accounting(inhouse):
    assert inhouse.rows_in == 7
    assert len(inhouse.rows) == 3
    assert len(inhouse.rejects) == 4
    assert inhouse.rows["source_row"].tolist() == [0, 1, 2]
    inhouse.check_accounting()


EXPECTED_REJECTS = {
    3: ("non_numeric", "Zn (wt%)"),
    4: ("unknown_route", "route"),
    5: ("balance_in_wrong_column", "Zr (wt%)"),
    6: ("missing_all_targets", None),
}


@pytest.mark.parametrize("row", sorted(EXPECTED_REJECTS))
def test_inhouse_reject_reason_per_row(inhouse, row):
    rej = inhouse.rejects.set_index("source_row")
    reason, column = EXPECTED_REJECTS[row]
    assert rej.loc[row, "reason"] == reason
    if column is not None:
        assert rej.loc[row, "column"] == column
    assert rej.loc[row, "source_id"] == "lab_batch3"


def test_inhouse_reject_details(inhouse):
    rej = inhouse.rejects.set_index("source_row")
    assert "abc" in rej.loc[3, "detail"]
    assert "teleported" in rej.loc[4, "detail"]
    assert "ys_mpa" in rej.loc[6, "column"]
    assert list(inhouse.rejects.columns) == [
        "source_id",
        "source_row",
        "reason",
        "column",
        "detail",
        "raw",
    ]


def test_inhouse_rows_conform_to_adapter_schema(inhouse):
    rows = inhouse.rows
    assert list(rows.columns) == list(ADAPTER_COLUMNS)
    assert rows["row_uid"].tolist() == ["lab_batch3:0", "lab_batch3:1", "lab_batch3:2"]
    assert set(rows["source_id"]) == {"lab_batch3"}
    assert set(rows["system"]) == {"al"}
    assert set(rows["comp_basis"]) == {"measured"}
    assert rows["alloy_name"].tolist() == ["B3-01", "B3-02", "B3-03"]


def test_inhouse_cell_rules(inhouse):
    r = inhouse.rows.set_index("source_row")
    assert r.loc[0, "Zn"] == pytest.approx(5.6)
    assert r.loc[1, "Zn"] == pytest.approx(6.1)  # "6,1" decimal comma
    assert r.loc[1, "Cu"] == pytest.approx(0.025)  # "<0.05" below limit
    assert r.loc[2, "Zn"] == pytest.approx(8.2)  # "8.0-8.4" range midpoint
    assert r.loc[0, "Zr"] == pytest.approx(0.12)


def test_inhouse_balance_makes_each_row_sum_to_100(inhouse):
    r = inhouse.rows.set_index("source_row")
    assert r.loc[0, "Al"] == pytest.approx(100 - (5.6 + 2.5 + 1.6 + 0.12))  # "bal."
    assert r.loc[1, "Al"] == pytest.approx(100 - (6.1 + 2.4 + 0.025 + 0.11))  # "Rem"
    assert r.loc[2, "Al"] == pytest.approx(100 - (8.2 + 2.0 + 2.3 + 0.1))  # empty cell
    sums = r[list(ELEMENTS)].fillna(0.0).sum(axis=1)
    np.testing.assert_allclose(sums.to_numpy(), 100.0, atol=1e-9)


def test_inhouse_unreported_elements_stay_nan(inhouse):
    assert inhouse.rows["Li"].isna().all()
    assert inhouse.rows["Cr"].isna().all()


def test_inhouse_process_and_properties(inhouse):
    r = inhouse.rows
    assert r["temper"].tolist() == ["T651", "T7351", "T6"]
    assert r["temper_class"].tolist() == ["T6", "T7", "T6"]
    assert r["route"].tolist() == ["extruded", "extruded", "rolled"]
    assert r["ys_mpa"].tolist() == [505.0, 430.0, 610.0]
    assert r["uts_mpa"].tolist() == [572.0, 495.0, 655.0]
    assert r["elong_pct"].tolist() == [11.0, 13.5, 9.0]


def test_inhouse_unmapped_column_in_notes(inhouse):
    assert inhouse.notes["unmapped_columns"] == ["Operator"]


def test_inhouse_same_result_from_xlsx_sheet(tmp_path, inhouse):
    raw = pd.read_csv(CSV, dtype=object, keep_default_na=False)
    book = tmp_path / "batch3.xlsx"
    wb = openpyxl.Workbook()
    wb.active.title = "Notes"
    ws = wb.create_sheet("Tensile")
    ws.append(list(raw.columns))
    for row in raw.itertuples(index=False):
        ws.append([None if v == "" else v for v in row])
    wb.save(book)
    spec = _fixture_spec()
    spec = _spec({**spec.options, "sheet": "Tensile"}, sid="lab_batch3")
    res = adapt(spec, [book])
    assert res.rows["source_row"].tolist() == [0, 1, 2]
    pd.testing.assert_frame_equal(res.rows, inhouse.rows)
    assert res.rejects["reason"].tolist() == inhouse.rejects["reason"].tolist()


def test_get_adapter_table_runs_the_fixture():
    res = get_adapter("table")(_fixture_spec(), [CSV])
    assert len(res.rows) == 3


# --------------------------------------------------------------------------------------------
# composition basis
# --------------------------------------------------------------------------------------------


def test_basis_mass_fraction(tmp_path):
    p = _write(tmp_path, "Zn,Mg,Cu,Al,uts_mpa\n0.056,0.025,0.016,,572\n0.06,0.02,<0.001,bal.,500\n")
    res = adapt(_spec({"basis": "mass_fraction"}), [p])
    r = res.rows
    assert r["Zn"].tolist() == pytest.approx([5.6, 6.0])
    assert r["Mg"].tolist() == pytest.approx([2.5, 2.0])
    assert r["Cu"].tolist() == pytest.approx([1.6, 0.05])
    assert r["Al"].tolist() == pytest.approx([90.3, 100 - 6.0 - 2.0 - 0.05])


def _wt_from_at(at: dict[str, float]) -> dict[str, float]:
    mass = {e: x * float(Element(e).atomic_mass) for e, x in at.items()}
    total = sum(mass.values())
    return {e: 100.0 * m / total for e, m in mass.items()}


def test_basis_at_pct_matches_hand_computation(tmp_path):
    p = _write(tmp_path, "Li,Al,Mg,ys_mpa\n30,1,bal.,120\n20,,,100\n")
    res = adapt(_spec({"basis": "at_pct"}, system="mg"), [p])
    r = res.rows.set_index("source_row")
    want0 = _wt_from_at({"Li": 30.0, "Al": 1.0, "Mg": 69.0})
    for e in ("Li", "Al", "Mg"):
        assert r.loc[0, e] == pytest.approx(want0[e], rel=1e-9)
    # Li 30 at% in Mg is about 10.9 wt% (Li is light): a sanity anchor independent of the code
    assert r.loc[0, "Li"] == pytest.approx(10.89, abs=0.01)
    want1 = _wt_from_at({"Li": 20.0, "Mg": 80.0})
    assert r.loc[1, "Li"] == pytest.approx(want1["Li"], rel=1e-9)
    assert r.loc[1, "Mg"] == pytest.approx(want1["Mg"], rel=1e-9)
    assert math.isnan(r.loc[1, "Al"])  # not reported stays not reported
    sums = r[list(ELEMENTS)].fillna(0.0).sum(axis=1)
    np.testing.assert_allclose(sums.to_numpy(), 100.0, atol=1e-9)


def test_basis_at_pct_without_balance_column(tmp_path):
    p = _write(tmp_path, "Zn,Mg,ys_mpa\n2,3,300\n")
    res = adapt(_spec({"basis": "at_pct"}), [p])
    want = _wt_from_at({"Zn": 2.0, "Mg": 3.0, "Al": 95.0})
    r = res.rows.iloc[0]
    for e in ("Zn", "Mg", "Al"):
        assert r[e] == pytest.approx(want[e], rel=1e-9)


def test_basis_at_pct_row_over_100_is_rejected_not_fatal(tmp_path):
    """One row whose elements exceed 100 at% must not sink the whole sheet (STYLE: data problems
    go to the rejects file, not to a crash)."""
    p = _write(tmp_path, "Li,Al,Mg,ys_mpa\n30,1,bal.,120\n20,,,100\n90,20,,100\n")
    res = adapt(_spec({"basis": "at_pct"}, system="mg"), [p])
    assert res.rows["source_row"].tolist() == [0, 1]
    assert res.rejects["source_row"].tolist() == [2]
    res.check_accounting()


def test_unknown_basis(tmp_path):
    p = _write(tmp_path, "Zn,uts_mpa\n5,500\n")
    with pytest.raises(SourceError, match="vol_pct"):
        adapt(_spec({"basis": "vol_pct"}), [p])


# --------------------------------------------------------------------------------------------
# column map
# --------------------------------------------------------------------------------------------


def test_without_map_canonical_headers_map_to_themselves(tmp_path):
    p = _write(tmp_path, "Zn,Mg,ys_mpa,Comment\n5.6,2.5,505,ok\n")
    res = adapt(_spec({}), [p])
    assert res.rows.loc[0, "Zn"] == pytest.approx(5.6)
    assert res.rows.loc[0, "Al"] == pytest.approx(91.9)
    assert res.notes["unmapped_columns"] == ["Comment"]


def test_defaults_fill_every_row(tmp_path):
    p = _write(tmp_path, "Zn,ys_mpa\n5.6,505\n6.0,510\n")
    res = adapt(_spec({"defaults": {"route": "extruded", "temper": "T6"}}), [p])
    assert res.rows["route"].tolist() == ["extruded", "extruded"]
    assert res.rows["temper_class"].tolist() == ["T6", "T6"]


def test_declared_map_to_unmodelled_element(tmp_path):
    p = _write(tmp_path, "Zn (wt%),Hf (wt%),Rm (MPa)\n5.6,0.1,572\n")
    opts = {"columns": {"Zn (wt%)": "Zn", "Hf (wt%)": "Hf", "Rm (MPa)": "uts_mpa"}}
    with pytest.raises(SourceError) as exc:
        adapt(_spec(opts), [p])
    msg = str(exc.value)
    assert "'Hf (wt%)'" in msg
    assert "'Hf'" in msg and "does not model" in msg
    assert exc.value.column == "Hf (wt%)"


def test_undeclared_unmodelled_element_header(tmp_path):
    p = _write(tmp_path, "Zn,Hf,uts_mpa\n5.6,0.1,572\n")
    with pytest.raises(SourceError, match="'Hf'") as exc:
        adapt(_spec({}), [p])
    assert exc.value.column == "Hf"


def test_declared_map_to_non_canonical_name(tmp_path):
    p = _write(tmp_path, "Zn (wt%),Rm (MPa)\n5.6,572\n")
    with pytest.raises(SourceError, match="not a canonical column") as exc:
        adapt(_spec({"columns": {"Zn (wt%)": "zinc", "Rm (MPa)": "uts_mpa"}}), [p])
    assert "'zinc'" in str(exc.value)


def test_missing_mapped_column(tmp_path):
    p = _write(tmp_path, "Zn (wt%),Rm (MPa)\n5.6,572\n")
    opts = {"columns": {"Zn (wt%)": "Zn", "Mg (wt%)": "Mg", "Rm (MPa)": "uts_mpa"}}
    with pytest.raises(SourceError) as exc:
        adapt(_spec(opts), [p])
    assert "'Mg (wt%)'" in str(exc.value)
    assert "'Zn (wt%)'" not in str(exc.value).split("found")[0]


def test_no_property_column(tmp_path):
    p = _write(tmp_path, "Zn,Mg,Comment\n5.6,2.5,x\n")
    with pytest.raises(SourceError, match="no property column"):
        adapt(_spec({}), [p])


def test_no_element_column(tmp_path):
    p = _write(tmp_path, "Sample,ys_mpa\nA,505\n")
    with pytest.raises(SourceError, match="no element column"):
        adapt(_spec({}), [p])


def test_two_headers_mapped_to_one_column(tmp_path):
    p = _write(tmp_path, "Zn,Zn2,ys_mpa\n5.6,5.7,505\n")
    with pytest.raises(SourceError, match="'Zn'"):
        adapt(_spec({"columns": {"Zn": "Zn", "Zn2": "Zn", "ys_mpa": "ys_mpa"}}), [p])


def test_bad_default_column(tmp_path):
    p = _write(tmp_path, "Zn,ys_mpa\n5.6,505\n")
    with pytest.raises(SourceError, match="'colour'"):
        adapt(_spec({"defaults": {"colour": "red"}}), [p])


# --------------------------------------------------------------------------------------------
# bad inputs found by probing (issue 13): each is refused with a message, never dropped silently
# --------------------------------------------------------------------------------------------

MAP = {"Zn (wt%)": "Zn", "Mg (wt%)": "Mg", "Rm (MPa)": "uts_mpa"}


@pytest.mark.parametrize(
    ("header", "fragment"),
    [
        ("Hf", "not modelled"),  # an element alloyml does not model, plain symbol
        ("Hf (wt%)", "not modelled"),
        ("Ni (wt%)", "'Ni (wt%)': Ni"),  # a modelled element the map forgot: says how to map it
        ("Cu", "Cu: Cu"),
    ],
)
def test_unmapped_element_column_is_refused_not_added_to_the_balance(tmp_path, header, fragment):
    p = _write(tmp_path, f"Zn (wt%),Mg (wt%),{header},Rm (MPa)\n5.6,2.5,2.0,572\n")
    with pytest.raises(SourceError) as exc:
        adapt(_spec({"columns": MAP}), [p])
    assert exc.value.column == header
    assert fragment in str(exc.value)
    assert "options.ignore" in str(exc.value)


def test_element_like_header_without_map_is_refused(tmp_path):
    """Without a map, 'Zn (wt%)' is not a canonical name: it must not vanish into the balance."""
    p = _write(tmp_path, "Zn (wt%),Mg,uts_mpa\n5.6,2.5,572\n")
    with pytest.raises(SourceError, match="Zn") as exc:
        adapt(_spec({}), [p])
    assert exc.value.column == "Zn (wt%)"


def test_ignore_drops_an_element_column_on_purpose(tmp_path):
    p = _write(tmp_path, "Zn (wt%),Mg (wt%),Hf,Rm (MPa),Rp0.2 note\n5.6,2.5,0,572,x\n")
    res = adapt(_spec({"columns": MAP, "ignore": ["Hf"]}), [p])
    assert res.rows.loc[0, "Al"] == pytest.approx(91.9)
    assert res.notes["unmapped_columns"] == ["Hf", "Rp0.2 note"]
    with pytest.raises(SourceError, match="'Hff'"):
        adapt(_spec({"columns": MAP, "ignore": ["Hff"]}), [p])


def test_non_element_headers_are_not_taken_for_elements(tmp_path):
    p = _write(tmp_path, "Zn (wt%),Mg (wt%),Rm (MPa),A (%),No,Operator\n5.6,2.5,572,11,1,MK\n")
    res = adapt(_spec({"columns": MAP}), [p])
    assert res.notes["unmapped_columns"] == ["A (%)", "No", "Operator"]


@pytest.mark.parametrize(
    ("name", "content", "fragment"),
    [
        ("t.xlsx", b"Zn,Mg,uts_mpa\n5.6,2.5,572\n", "rename it to .csv"),  # a CSV named .xlsx
        ("t.xlsx", bytes(range(256)) * 8, "not an Excel workbook"),  # random bytes
        ("t.xlsx", b"PK\x03\x04" + bytes(200), "damaged or incomplete Excel workbook"),
        ("t.csv", bytes(range(256)) * 8, "not a text file"),
        ("t.csv", b"PK\x03\x04" + bytes(200), "zip archive"),
    ],
)
def test_unreadable_file_gives_a_clear_error(tmp_path, name, content, fragment):
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(SourceError, match="lab_t") as exc:
        adapt(_spec({}), [p])
    assert fragment in str(exc.value)
    assert name in str(exc.value)


LATIN1 = "Sample,Zn,Mg,uts_mpa\nB3-01,5.6,2.5,572\nMüller-2,6.0,2.2,600\n"


def test_latin1_file_error_says_where_and_how_to_fix(tmp_path):
    p = tmp_path / "t.csv"
    p.write_bytes(LATIN1.encode("latin-1"))
    with pytest.raises(SourceError) as exc:
        adapt(
            _spec(
                {"columns": {"Sample": "alloy_name", "Zn": "Zn", "Mg": "Mg", "uts_mpa": "uts_mpa"}}
            ),
            [p],
        )
    msg = str(exc.value)
    assert "line 3" in msg and "0xfc" in msg
    assert "UTF-8" in msg and "encoding: latin-1" in msg


def test_encoding_option_reads_a_latin1_file(tmp_path):
    p = tmp_path / "t.csv"
    p.write_bytes(LATIN1.encode("latin-1"))
    cols = {"Sample": "alloy_name", "Zn": "Zn", "Mg": "Mg", "uts_mpa": "uts_mpa"}
    res = adapt(_spec({"columns": cols, "encoding": "latin-1"}), [p])
    assert res.rows["alloy_name"].tolist() == ["B3-01", "Müller-2"]
    with pytest.raises(SourceError, match="unknown encoding 'klingon'"):
        adapt(_spec({"columns": cols, "encoding": "klingon"}), [p])


def test_semicolon_file_with_decimal_commas_is_detected(tmp_path, inhouse):
    """A European export: ';' between fields, ',' as the decimal mark."""
    raw = pd.read_csv(CSV, dtype=object, keep_default_na=False)
    p = tmp_path / "batch3.csv"
    raw.replace(r"^(\d+)\.(\d+)$", r"\1,\2", regex=True).to_csv(p, sep=";", index=False)
    assert ";" in p.read_text().splitlines()[0] and "5,6" in p.read_text()
    res = adapt(_fixture_spec(), [p])
    pd.testing.assert_frame_equal(res.rows, inhouse.rows)
    assert res.rejects["reason"].tolist() == inhouse.rejects["reason"].tolist()


def test_delimiter_option_wins(tmp_path):
    p = _write(tmp_path, "Zn|Mg|uts_mpa\n5.6|2.5|572\n")
    assert adapt(_spec({}), [p]).rows.loc[0, "Zn"] == pytest.approx(5.6)  # detected
    with pytest.raises(SourceError, match="no property column"):
        adapt(_spec({"delimiter": ","}), [p])  # forced: one column 'Zn|Mg|uts_mpa'
    with pytest.raises(SourceError, match="one character"):
        adapt(_spec({"delimiter": ";;"}), [p])
