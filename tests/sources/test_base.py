"""Shared adapter machinery: cell parsing rules, table reading errors, rejects, accounting."""

from __future__ import annotations

import json
import math

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alloyml.errors import SourceError
from alloyml.sources.base import (
    AdapterResult,
    RejectLog,
    get_adapter,
    parse_cell,
    parse_numeric_columns,
    read_table,
    require_columns,
)

# --------------------------------------------------------------------------------------------
# parse_cell
# --------------------------------------------------------------------------------------------

PARSED = [
    # (cell, value, kind)
    ("<0.05", 0.025, "below_limit"),
    ("< 0.05", 0.025, "below_limit"),
    ("≤0.05", 0.025, "below_limit"),
    ("<=0.05", 0.025, "below_limit"),
    ("max 0.05", 0.025, "below_limit"),
    ("Max. 0.05", 0.025, "below_limit"),
    ("0.1-0.3", 0.2, "range"),
    ("0.1–0.3", 0.2, "range"),  # en dash
    ("0.1 - 0.3", 0.2, "range"),
    ("0.2-0.2", 0.2, "range"),
    ("0,25", 0.25, "decimal_comma"),
    ("6,1", 6.1, "decimal_comma"),
    ("5.6", 5.6, "number"),
    (" 5.6 ", 5.6, "number"),
    ("\ufeff5.6", 5.6, "number"),
    ("1e-3", 0.001, "number"),
    ("12", 12.0, "number"),
    (3, 3.0, "number"),
    (np.int64(7), 7.0, "number"),
    (0.5, 0.5, "number"),
    (np.float64(2.25), 2.25, "number"),
]

NAN_KINDS = [
    ("bal.", "balance"),
    ("Bal", "balance"),
    ("Rem", "balance"),
    ("rem.", "balance"),
    ("balance", "balance"),
    ("Remainder", "balance"),
    ("—", "missing"),
    ("–", "missing"),
    ("-", "missing"),
    ("", "missing"),
    ("   ", "missing"),
    ("n/a", "missing"),
    ("NA", "missing"),
    ("nr", "missing"),
    (None, "missing"),
    (float("nan"), "missing"),
    (np.nan, "missing"),
]

UNREADABLE = ["abc", "1.2.3", "0.3-0.1", "5 %", "0.1-", "<", "bal 5", True, False]


@pytest.mark.parametrize(("cell", "value", "kind"), PARSED, ids=[repr(c[0]) for c in PARSED])
def test_parse_cell_reads_value_and_rule(cell, value, kind):
    parsed = parse_cell(cell)
    assert parsed.value == pytest.approx(value, rel=1e-12)
    assert parsed.kind == kind


@pytest.mark.parametrize(("cell", "kind"), NAN_KINDS, ids=[repr(c[0]) for c in NAN_KINDS])
def test_parse_cell_missing_and_balance_are_nan(cell, kind):
    parsed = parse_cell(cell)
    assert math.isnan(parsed.value)
    assert parsed.kind == kind


@pytest.mark.parametrize("cell", UNREADABLE, ids=repr)
def test_parse_cell_unreadable_raises_value_error(cell):
    with pytest.raises(ValueError):
        parse_cell(cell)


def test_parse_cell_reversed_range_message_quotes_the_cell():
    with pytest.raises(ValueError, match=r"0\.3-0\.1"):
        parse_cell("0.3-0.1")


@given(st.floats(min_value=0.0, allow_nan=False, allow_infinity=False))
def test_parse_cell_str_of_float_round_trips(x):
    parsed = parse_cell(str(x))
    assert parsed.value == x
    assert parsed.kind == "number"


@given(st.floats(min_value=0.0, max_value=1e9, allow_nan=False, allow_infinity=False))
def test_parse_cell_decimal_comma_property(x):
    text = f"{x:.2f}"
    parsed = parse_cell(text.replace(".", ","))
    assert parsed.value == float(text)
    assert parsed.kind == "decimal_comma"


# --------------------------------------------------------------------------------------------
# read_table
# --------------------------------------------------------------------------------------------


def _xlsx(path, rows, title="Sheet1", extra_sheets=()):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = title
    for r in rows:
        ws.append(list(r))
    for name in extra_sheets:
        wb.create_sheet(name).append(["x"])
    wb.save(path)
    return path


def test_read_table_missing_file(tmp_path):
    with pytest.raises(SourceError, match="not found") as exc:
        read_table(tmp_path / "nope.csv", "src_a")
    assert "src_a" in str(exc.value)


def test_read_table_empty_file(tmp_path):
    p = tmp_path / "empty.csv"
    p.write_bytes(b"")
    with pytest.raises(SourceError, match="empty") as exc:
        read_table(p, "src_a")
    assert exc.value.source_id == "src_a"


def test_read_table_header_only(tmp_path):
    p = tmp_path / "head.csv"
    p.write_text("Zn,Mg,ys_mpa\n", encoding="utf-8")
    with pytest.raises(SourceError, match="no data rows"):
        read_table(p, "src_a")


def test_read_table_duplicate_header_csv(tmp_path):
    p = tmp_path / "dup.csv"
    p.write_text("Zn,Mg,Zn,ys_mpa\n1,2,3,4\n", encoding="utf-8")
    with pytest.raises(SourceError, match="duplicate header") as exc:
        read_table(p, "src_a")
    assert "'Zn'" in str(exc.value)
    assert "'Mg'" not in str(exc.value)


def test_read_table_duplicate_header_after_strip_xlsx(tmp_path):
    p = _xlsx(tmp_path / "dup.xlsx", [["Mg", "Cu ", " Cu", "ys_mpa"], [1, 2, 3, 4]])
    with pytest.raises(SourceError, match="duplicate header") as exc:
        read_table(p, "src_a")
    assert "'Cu'" in str(exc.value)


def test_read_table_wrong_sheet_lists_sheets(tmp_path):
    p = _xlsx(tmp_path / "book.xlsx", [["Zn"], [1]], title="Tensile", extra_sheets=["Notes"])
    with pytest.raises(SourceError, match="Tensyle") as exc:
        read_table(p, "src_a", sheet="Tensyle")
    msg = str(exc.value)
    assert "Tensile" in msg and "Notes" in msg


def test_read_table_sheet_index_out_of_range(tmp_path):
    p = _xlsx(tmp_path / "book.xlsx", [["Zn"], [1]])
    with pytest.raises(SourceError, match="out of range"):
        read_table(p, "src_a", sheet=3)


def test_read_table_named_sheet(tmp_path):
    p = _xlsx(tmp_path / "book.xlsx", [["a"], [1]], title="First", extra_sheets=["Second"])
    df = read_table(p, "src_a", sheet="First")
    assert list(df.columns) == ["a"]
    assert df["a"].tolist() == [1]
    # 'Second' holds only a header row
    with pytest.raises(SourceError, match="no data rows"):
        read_table(p, "src_a", sheet="Second")


@pytest.mark.parametrize("suffix", [".json", ".parquet", ".xls", ""])
def test_read_table_unsupported_suffix(tmp_path, suffix):
    p = tmp_path / f"table{suffix}"
    p.write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(SourceError, match="unsupported file type"):
        read_table(p, "src_a")


def test_read_table_strips_bom_csv(tmp_path):
    p = tmp_path / "bom.csv"
    p.write_text("Zn , Mg\n1,2\n", encoding="utf-8-sig")
    assert p.read_bytes().startswith(b"\xef\xbb\xbf")
    df = read_table(p, "src_a")
    assert list(df.columns) == ["Zn", "Mg"]


def test_read_table_strips_bom_xlsx_and_names_blank_headers(tmp_path):
    p = _xlsx(tmp_path / "bom.xlsx", [["\ufeffZn", None, "Mg"], [1, 2, 3]])
    df = read_table(p, "src_a")
    assert list(df.columns) == ["Zn", "unnamed_1", "Mg"]


def test_read_table_keeps_cells_as_raw_text(tmp_path):
    p = tmp_path / "raw.csv"
    p.write_text('Zn,Al\n"6,1",bal.\nNA,\n', encoding="utf-8")
    df = read_table(p, "src_a")
    assert df["Zn"].tolist() == ["6,1", "NA"]
    assert df["Al"].iloc[0] == "bal."
    assert pd.isna(df["Al"].iloc[1])


def _blank_line_csv(tmp_path):
    p = tmp_path / "blank.csv"
    p.write_text("Zn,Mg\n1,2\n3,4\n\n5,6\n", encoding="utf-8")
    return p


def _blank_commas_csv(tmp_path):
    p = tmp_path / "commas.csv"
    p.write_text("Zn,Mg\n1,2\n3,4\n,\n5,6\n", encoding="utf-8")
    return p


def _blank_row_xlsx(tmp_path):
    return _xlsx(tmp_path / "blank.xlsx", [["Zn", "Mg"], [1, 2], [3, 4], [None, None], [5, 6]])


@pytest.mark.parametrize(
    "make",
    [_blank_line_csv, _blank_commas_csv, _blank_row_xlsx],
    ids=["csv_empty_line", "csv_commas_only", "xlsx"],
)
def test_read_table_skips_blank_rows_but_keeps_file_row_numbers(tmp_path, make):
    """Data row 2 is blank: the rows read are data rows 0, 1 and 3 of the file."""
    df = read_table(make(tmp_path), "src_a")
    assert list(df.index) == [0, 1, 3]
    assert [str(v) for v in df["Zn"]] == ["1", "3", "5"]


def test_read_table_header_offset_index_counts_from_first_data_row(tmp_path):
    p = tmp_path / "title.csv"
    p.write_text("Batch 3 tensile results,\nZn,Mg\n1,2\n3,4\n", encoding="utf-8")
    df = read_table(p, "src_a", header=1)
    assert list(df.columns) == ["Zn", "Mg"]
    assert list(df.index) == [0, 1]


def test_read_table_header_row_beyond_file(tmp_path):
    p = tmp_path / "short.csv"
    p.write_text("Zn,Mg\n", encoding="utf-8")
    with pytest.raises(SourceError, match="no header row 3"):
        read_table(p, "src_a", header=3)


# --------------------------------------------------------------------------------------------
# require_columns
# --------------------------------------------------------------------------------------------


def test_require_columns_names_every_missing_column():
    df = pd.DataFrame(columns=["Zn", "Mg"])
    with pytest.raises(SourceError) as exc:
        require_columns(df, ["Zn", "Cu", "Rm (MPa)", "Mg", "Zr"], "src_a", file="t.csv")
    msg = str(exc.value)
    for col in ("'Cu'", "'Rm (MPa)'", "'Zr'"):
        assert col in msg
    assert "t.csv" in msg
    assert "src_a" in msg


def test_require_columns_passes_when_all_present():
    df = pd.DataFrame(columns=["Zn", "Mg"])
    assert require_columns(df, ["Mg", "Zn"], "src_a") is None


# --------------------------------------------------------------------------------------------
# RejectLog and parse_numeric_columns
# --------------------------------------------------------------------------------------------


def test_reject_log_first_reason_wins_and_frame_is_sorted():
    log = RejectLog("src_a")
    log.add(5, "unknown_route", "route", "x")
    log.add(2, "non_numeric", "Zn (wt%)", "y", raw={"Zn (wt%)": "abc"})
    log.add(5, "missing_all_targets")
    assert 5 in log and 2 in log and 3 not in log
    assert log.rejected_rows == {2, 5}
    frame = log.frame()
    assert frame["source_row"].tolist() == [2, 5]
    assert frame["reason"].tolist() == ["non_numeric", "unknown_route"]
    assert frame["source_id"].unique().tolist() == ["src_a"]
    assert json.loads(frame.loc[0, "raw"]) == {"Zn (wt%)": "abc"}


def test_reject_log_empty_frame_has_reject_columns():
    frame = RejectLog("src_a").frame()
    assert list(frame.columns) == ["source_id", "source_row", "reason", "column", "detail", "raw"]
    assert len(frame) == 0


def test_parse_numeric_columns_non_numeric_names_raw_column():
    df = pd.DataFrame(
        {"Zn (wt%)": ["5.6", "abc", "0,25"], "Al": ["bal.", "bal.", None]}, index=[0, 1, 3]
    )
    log = RejectLog("src_a")
    values, kinds = parse_numeric_columns(
        df, {"Zn (wt%)": "Zn", "Al": "Al"}, log, balance_ok=["Al"], row_ids=[10, 11, 13]
    )
    assert list(values.columns) == ["Zn", "Al"]
    assert values["Zn"].iloc[0] == 5.6
    assert values["Zn"].iloc[2] == 0.25
    assert math.isnan(values["Zn"].iloc[1])
    assert kinds["Zn"].tolist() == ["number", "error", "decimal_comma"]
    assert kinds["Al"].tolist() == ["balance", "balance", "missing"]
    rej = log.frame()
    assert rej["source_row"].tolist() == [11]
    assert rej.loc[0, "reason"] == "non_numeric"
    assert rej.loc[0, "column"] == "Zn (wt%)"
    assert "abc" in rej.loc[0, "detail"]


def test_parse_numeric_columns_balance_in_wrong_column():
    df = pd.DataFrame({"Zr (wt%)": ["0.1", "bal."], "Al": ["bal.", None]})
    log = RejectLog("src_a")
    parse_numeric_columns(df, {"Zr (wt%)": "Zr", "Al": "Al"}, log, balance_ok=["Al"])
    rej = log.frame()
    assert rej["source_row"].tolist() == [1]
    assert rej.loc[0, "reason"] == "balance_in_wrong_column"
    assert rej.loc[0, "column"] == "Zr (wt%)"


def test_parse_numeric_columns_balance_without_balance_ok_is_rejected():
    df = pd.DataFrame({"Al": ["bal."]})
    log = RejectLog("src_a")
    parse_numeric_columns(df, {"Al": "Al"}, log)
    assert log.frame()["reason"].tolist() == ["balance_in_wrong_column"]


# --------------------------------------------------------------------------------------------
# AdapterResult.check_accounting
# --------------------------------------------------------------------------------------------


def _result(kept, rejected, rows_in):
    rows = pd.DataFrame({"source_id": ["src_a"] * len(kept), "source_row": kept})
    log = RejectLog("src_a")
    for r in rejected:
        log.add(r, "non_numeric")
    return AdapterResult(rows=rows, rejects=log.frame(), rows_in=rows_in)


def test_check_accounting_passes_when_every_row_is_counted_once():
    assert _result([0, 2], [1, 3], 4).check_accounting() is None


def test_check_accounting_row_kept_and_rejected():
    with pytest.raises(SourceError, match="both kept and rejected") as exc:
        _result([0, 1], [1, 2], 3).check_accounting()
    assert "[1]" in str(exc.value)
    assert "src_a" in str(exc.value)


@pytest.mark.parametrize("rows_in", [3, 5])
def test_check_accounting_counts_do_not_add_up(rows_in):
    with pytest.raises(SourceError, match=f"rows_in={rows_in}"):
        _result([0, 1], [2, 3], rows_in).check_accounting()


def test_check_accounting_row_emitted_twice():
    with pytest.raises(SourceError, match="twice"):
        _result([0, 0, 1], [2], 3).check_accounting()


# --------------------------------------------------------------------------------------------
# get_adapter
# --------------------------------------------------------------------------------------------


def test_get_adapter_returns_table_adapt():
    from alloyml.sources.adapters import table

    assert get_adapter("table") is table.adapt


@pytest.mark.parametrize(
    ("name", "match"),
    [("Table", "invalid adapter name"), ("../x", "invalid"), ("nosuch", "'table'")],
)
def test_get_adapter_errors(name, match):
    with pytest.raises(SourceError, match=match):
        get_adapter(name)
