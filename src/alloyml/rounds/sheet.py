"""``alloyml round sheet``: the lab sheet of a round, and the source spec that reads it back.

One row per candidate: its id, the nominal alloy, the target composition (wt %), empty columns
for the measured composition (wt %; the balance element may be left empty or written ``bal.``),
the planned route, temper and process schedule (°C, h; edit them if the furnace did something
else), the furnace load when the campaign shares a schedule, and empty result columns with their
units. Written as ``sheet.xlsx`` (a second worksheet explains the columns) and ``sheet.csv``
(UTF-8). Add rows for replicate specimens by copying a candidate's row.

:func:`sheet_options` is the ``table`` adapter spec of the sheet (:mod:`alloyml.sources.adapters.
table`): measured composition, not the target, is what enters training
(``comp_basis: measured``); the measured amount of each element the campaign requires is a
required cell for a row with a result.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alloyml.config import NONE
from alloyml.rounds.store import RoundError, Rounds
from alloyml.schema import BALANCE, TARGETS
from alloyml.search.campaign import Campaign
from alloyml.search.candidates import process_columns

SHEET_NAME = "round"
RESULT_HEADERS = {
    "ys_mpa": "YS Rp0.2 (MPa)",
    "uts_mpa": "UTS Rm (MPa)",
    "elong_pct": "Elongation A (%)",
    "hardness_hv": "Hardness (HV)",
}
ID = "candidate_id"


def target_header(el: str) -> str:
    return f"{el} target (wt%)"


def measured_header(el: str) -> str:
    return f"{el} measured (wt%)"


def process_header(col: str) -> str:
    if col.endswith("_T_C"):
        return f"{col[:-4]} T (°C)"
    if col.endswith("_t_h"):
        return f"{col[:-4]} t (h)"
    return col


def sheet_columns(campaign: Campaign) -> list[str]:
    elements = [BALANCE[campaign.system], *campaign.symbols]
    cols = [ID, "alloy (nominal)"]
    cols += [target_header(e) for e in elements]
    cols += [measured_header(e) for e in elements]
    cols += ["route", "temper"]
    if campaign.furnace.active:
        cols.append("furnace load")
    cols += [process_header(c) for c in process_columns(campaign)]
    cols += [RESULT_HEADERS[t] for t in TARGETS]
    cols.append("lab notes")
    return cols


def sheet_options(campaign: Campaign, n: int) -> dict[str, Any]:
    """``table`` adapter options reading the filled sheet (the source spec of the round)."""
    elements = [BALANCE[campaign.system], *campaign.symbols]
    columns = {ID: "alloy_name"}
    columns |= {measured_header(e): e for e in elements}
    columns |= {"route": "route", "temper": "temper"}
    columns |= {process_header(c): c for c in process_columns(campaign)}
    columns |= {RESULT_HEADERS[t]: t for t in TARGETS}
    required = [e.symbol for e in campaign.elements if e.required]
    return {
        "sheet": SHEET_NAME,
        "basis": "wt_pct",
        "comp_basis": "measured",
        "columns": columns,
        "required": required,
        "defaults": {"reference": f"alloyml round {n} of campaign {campaign.name}"},
    }


def sheet_rows(campaign: Campaign, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    elements = [BALANCE[campaign.system], *campaign.symbols]
    rows = []
    for c in manifest["candidates"]:
        d = c["design"]
        row: dict[str, Any] = dict.fromkeys(sheet_columns(campaign))
        row[ID] = c["id"]
        row["alloy (nominal)"] = c["alloy"]
        for e in elements:
            row[target_header(e)] = round(float(d["wt"].get(e, 0.0)), 4)
        row["route"] = "" if d["route"] == NONE else d["route"]
        row["temper"] = "" if d["temper"] == NONE else d["temper"]
        if campaign.furnace.active:
            row["furnace load"] = c.get("furnace_load")
        for col in process_columns(campaign):
            v = d["process"].get(col)
            row[process_header(col)] = None if v is None else float(v)
        rows.append(row)
    return rows


def write_sheet(campaign: Campaign, rounds: Rounds, n: int) -> tuple[Path, Path]:
    """Write ``sheet.xlsx`` and ``sheet.csv`` of round ``n``; return their paths."""
    import pandas as pd
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    manifest = rounds.manifest(n)
    if manifest["campaign"] != campaign.name:
        raise RoundError(f"round {n} in {rounds.dir(n)} belongs to {manifest['campaign']!r}")
    cols = sheet_columns(campaign)
    rows = sheet_rows(campaign, manifest)
    folder = rounds.dir(n)
    csv_path = folder / "sheet.csv"
    pd.DataFrame(rows, columns=cols).to_csv(csv_path, index=False, lineterminator="\n")
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET_NAME
    ws.append(cols)
    fill = {
        "given": PatternFill("solid", fgColor="DDDDDD"),
        "enter": PatternFill("solid", fgColor="FFF2CC"),
    }
    for j, col in enumerate(cols, start=1):
        cell = ws.cell(row=1, column=j)
        cell.font = Font(bold=True)
        given = not (col.endswith("measured (wt%)") or col in RESULT_HEADERS.values()
                     or col == "lab notes")  # fmt: skip
        cell.fill = fill["given" if given else "enter"]
        ws.column_dimensions[get_column_letter(j)].width = max(12, len(col) + 2)
    for r in rows:
        ws.append([r[c] for c in cols])
    ws.freeze_panes = "B2"
    help_ws = wb.create_sheet("how to fill")
    required = ", ".join(e.symbol for e in campaign.elements if e.required) or "none"
    for line in (
        [f"Lab sheet of round {n} of campaign {campaign.name} ({campaign.system})"],
        [
            "Grey columns: the proposal (keep them; edit route/temper/process if the furnace "
            "did something else). Yellow columns: to fill."
        ],  # fmt: skip
        [
            "Measured composition in wt%; it, not the target, enters training. "
            f"Required for a row with a result: {required}. "
            f"The balance ({BALANCE[campaign.system]}) may stay empty or read 'bal.'."
        ],
        [
            "Results: YS and UTS in MPa, elongation in %, hardness in HV. Leave a row's results "
            "empty when the alloy was not tested (it stays pending)."
        ],  # fmt: skip
        ["Replicate specimens: copy the candidate's row once per specimen."],
        [f"Record it with: alloyml round record {campaign.name} {n} <this file>"],
    ):
        help_ws.append(line)
    xlsx_path = folder / "sheet.xlsx"
    wb.save(xlsx_path)
    return xlsx_path, csv_path
