"""Adapter ``jiang``: 1053 commercial AA7xxx heats with multi-stage solution + ageing, UTS and EL.

Source ``jiang_7xxx`` (see ``al/jiang_7xxx_heat_treatment/SOURCE.md``): L. Jiang et al., npj Comput.
Mater. 9 (2023), doi:10.1038/s41524-023-00979-9. Origin workbook ``data.xlsx`` (7 sheets), sheet
``Sheet4`` (``options.sheet``); cell A1 holds the paper title, so the column names are on row
index 1 (``options.header: 1``). One row = one commercial 7xxx alloy heat, one solution + ageing
schedule (up to three stages each), measured room-temperature UTS and elongation.

Decisions (every one refers to a trap listed in SOURCE.md):

Column map
    ``Alloys`` -> ``alloy_name`` (AA designation as written, e.g. ``AA7050``);
    ``Zn/％ Mg/％ Cu/％ Cr/％ Mn/％ Zr/％ Ti/％ Fe/％ Si/％`` -> element columns, wt %;
    ``Ultimate tensile strength (MPa)`` -> ``uts_mpa``; ``Elongation (%)`` -> ``elong_pct``;
    the 12 stage columns (primary/secondary/tertiary solution and ageing temperature and time)
    -> ``sol*`` / ``age*`` as described below. Headers are matched after Unicode NFKC
    normalisation (full-width ``％`` = ``%``, ``℃`` = ``°C``), so a re-saved copy with ASCII signs
    reads the same; every one of these 24 columns is required. There is no yield strength.

Composition
    wt % as reported per heat -> ``comp_basis = 'measured'`` (the compiled papers report the
    chemistry of the heat they tested; AA7050 alone has 20 chemistries). Al is not given: it is
    the balance, ``Al = 100 - sum(others)`` (:func:`fill_balance`). Elements that the sheet has no
    column for (Sc, Ag, Li, ...) stay NaN = not reported; a 0 in a column is kept as 0 = reported
    absent (e.g. ``Zr/％ = 0`` in AA7075 heats).

Solution stages
    Temperatures in °C; times in **minutes** (15-600 min) -> converted to hours (/60).

Ageing stages
    The headers say ``(min)`` but the values are **hours** (120 °C x 24 = the standard T6;
    0.17-0.66 = 10-40 min retrogression steps) -> kept as hours, not divided. A 20/25 °C stage is
    natural (room-temperature) pre-ageing and is kept as a real stage at that temperature.

Absent stages (Sheet4 encodes them as temperature 0 and time 0; Sheet5 of the same workbook carries
dummy temperatures instead and is not used)
    A stage is present when its time is non-zero (or its time is blank and its temperature is
    non-zero: present, time unknown). Time 0 => the stage is absent => both ``*_T_C`` and
    ``*_t_h`` NaN, never the 0 and never the temperature written next to it. This matters on
    real rows: 10 rows give a primary ageing temperature with time 0 (e.g. rows 721/821,
    120/135 °C x 0 h = as-quenched; rows 273-277, 20 °C x 0 h) and 4 rows a secondary one
    (rows 9/10: 150/160 °C x 0 h; rows 476/477: 185/190 °C x 0 h). A temperature of 0 next to a
    non-zero time is the sheet's absence code, so it becomes NaN (temperature unknown).

Stage numbering: present stages are renumbered consecutively, in the order of the sheet
    ``sol1``/``age1`` = the first stage actually applied, ``sol2``/``age2`` the second, ... This
    is the meaning the canonical schema gives ``age1`` in every source (a 121 °C x 15 h + 155 °C
    x 13 h schedule must look the same whichever sheet column it was written in). The solution
    stages never have a gap in this sheet, but 5 ageing rows do: rows 335, 341, 970 (natural
    pre-ageing written with 0 h, then two artificial stages) and rows 476, 477 (0-h retrogression
    between 110 °C x 16 h and 120 °C x 24 h). The raw positional schedule is kept verbatim in
    ``condition_text`` (``sol 470C/60min | 0C/0min | 0C/0min; age 120C/24h | 0C/0h | 0C/0h``,
    ageing unit ``h`` as read), so nothing is lost by the renumbering.

``temper_class`` from the schedule (:func:`classify_schedule`; the sheet has no temper string,
so ``temper`` stays empty: the state is ``decode_state(None, temper_class)`` together with the
stage columns, which carry the schedule itself; issue 10). Natural stages (<= 30 °C) are ignored for the class; ``A`` = the
artificial stages in order, "hot" = above 150 °C (``PEAK_AGE_MAX_T_C``: 7xxx peak-ageing
practice is 100-150 °C; over-ageing and retrogression steps are 155-250 °C):

    1. no solution stage -> NaN (not a solution-treated schedule; never seen here);
    2. no artificial stage -> ``W`` (solution-treated and quenched, possibly room-temperature
       aged: for 7xxx, which never stabilise at room temperature, ANSI H35.1 uses ``W``, not T4);
    3. exactly three artificial stages, the middle one hotter than both others, first and last
       <= 150 °C -> ``RRA`` (retrogression and re-ageing). The class describes the schedule's
       structure: middle steps here run from 1 min at 250 °C to 20 h at 180 °C; the long ones
       come from retrogression-time series (rows 153/154, 441-449) and the 1-4 h steps at
       160-190 °C are the industrial T77-type practice derived from RRA. The middle step's
       T and t stay in ``age2_*`` for models to use;
    4. no hot stage (every artificial stage <= 150 °C) -> ``T6`` (solution-treated and
       artificially aged without over-ageing: single steps such as 120 °C x 24 h, two-step ramps
       100 -> 120 °C, T6 followed by a long low-temperature step, interrupted ageing
       120 °C / 65 °C / 120 °C);
    5. exactly two artificial stages, first <= 150 °C, second hot and longer than 1 h -> ``T7``
       (duplex over-ageing, the T73/T74/T76 practice, e.g. 120 °C x 24 h + 160-177 °C x 8 h);
    6. anything else -> NaN, not guessed: a single hot stage (under- or over-aged depending on
       time and alloy kinetics), a short (<= 1 h) hot stage after ageing without re-ageing
       (retrogressed, not re-aged: e.g. rows 99-118), high-then-low two-step schedules, three-step
       schedules with a hot first or last stage, and a stage with unknown temperature.

    On the pinned sheet: T6 387, T7 366, RRA 160, W 8, NaN 132 rows.

Process
    ``route = 'wrought'`` (commercial AA7xxx wrought products; SOURCE.md gives no product form,
    quench, thickness or pre-deformation, so those stay empty).

Rows and rejects
    ``source_row`` = index returned by :func:`read_table` (0-based data row after the header
    row, i.e. Excel row ``source_row + 3``). Unreadable numeric text -> ``non_numeric`` naming
    the column; a row with neither UTS nor elongation -> ``missing_all_targets``. The real sheet
    has neither (no missing values, no text): 1053 in, 1053 kept. Exact duplicates (6) and
    replicate groups are kept: merging them is the clean stage's job.
"""

from __future__ import annotations

import math
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd

from alloyml.errors import SourceError
from alloyml.process import NATURAL_AGEING_MAX_T_C
from alloyml.sources.base import (
    AdapterResult,
    RejectLog,
    fill_balance,
    finish,
    parse_numeric_columns,
    read_table,
    require_columns,
)
from alloyml.sources.registry import SourceSpec

#: Elements of the sheet, in sheet order; header ``<El>/％`` (NFKC: ``<El>/%``).
ELEMENTS = ("Zn", "Mg", "Cu", "Cr", "Mn", "Zr", "Ti", "Fe", "Si")
ALLOY_COL = "Alloys"
UTS_COL = "Ultimate tensile strength (MPa)"
EL_COL = "Elongation (%)"
_ORDINALS = ("Primary", "Secondary", "Tertiary")
#: (temperature column, time column) per stage, NFKC-normalised header text.
SOLUTION_COLS = tuple(
    (f"{o} solution temperature (°C)", f"{o} solution time (min)") for o in _ORDINALS
)
AGEING_COLS = tuple((f"{o} aging temperature (°C)", f"{o} aging time (min)") for o in _ORDINALS)

#: Highest ageing temperature treated as peak-ageing practice (not over-ageing/retrogression).
PEAK_AGE_MAX_T_C = 150.0
#: A hot step must last longer than this to count as over-ageing (T7) rather than retrogression.
OVERAGE_MIN_T_H = 1.0

Stage = tuple[float, float]  # (temperature degC, time h); NaN = unknown


def _nfkc(name: str) -> str:
    return unicodedata.normalize("NFKC", str(name)).strip()


def present_stages(pairs: list[tuple[float, float]]) -> list[Stage]:
    """The stages actually applied, in sheet order, with the 0-codes turned into NaN.

    A stage is present when its time is non-zero, or its time is blank and its temperature is
    non-zero. Time 0 means absent, whatever temperature stands beside it.

    >>> present_stages([(470.0, 60.0), (0.0, 0.0), (480.0, 0.0)])
    [(470.0, 60.0)]
    """
    out: list[Stage] = []
    for temp, time in pairs:
        if math.isnan(time):
            if math.isnan(temp) or temp == 0:
                continue
        elif time == 0:
            continue
        out.append((math.nan if temp == 0 else temp, time))
    return out


def classify_schedule(has_solution: bool, ageing: list[Stage]) -> str | None:
    """Temper class of a solution + ageing schedule (rules in the module docstring).

    ``ageing`` are the present ageing stages in order, times in hours.

    >>> classify_schedule(True, [(120.0, 24.0)])
    'T6'
    >>> classify_schedule(True, [(120.0, 24.0), (165.0, 8.0)])
    'T7'
    >>> classify_schedule(True, [(120.0, 24.0), (190.0, 0.5), (120.0, 24.0)])
    'RRA'
    >>> classify_schedule(True, [(25.0, 24.0)])
    'W'
    >>> classify_schedule(True, [(180.0, 4.0)]) is None
    True
    """
    if not has_solution:
        return None
    if any(math.isnan(t) for t, _ in ageing):
        return None
    art = [(t, h) for t, h in ageing if t > NATURAL_AGEING_MAX_T_C]
    if not art:
        return "W"
    temps = [t for t, _ in art]
    if (
        len(art) == 3
        and temps[1] > temps[0]
        and temps[1] > temps[2]
        and temps[0] <= PEAK_AGE_MAX_T_C
        and temps[2] <= PEAK_AGE_MAX_T_C
    ):
        return "RRA"
    if all(t <= PEAK_AGE_MAX_T_C for t in temps):
        return "T6"
    if (
        len(art) == 2
        and temps[0] <= PEAK_AGE_MAX_T_C < temps[1]
        and not math.isnan(art[1][1])
        and art[1][1] > OVERAGE_MIN_T_H
    ):
        return "T7"
    return None


def _fmt(v: float) -> str:
    return "NA" if math.isnan(v) else f"{v:g}"


def _condition_text(sol: list[tuple[float, float]], age: list[tuple[float, float]]) -> str:
    s = " | ".join(f"{_fmt(t)}C/{_fmt(m)}min" for t, m in sol)
    a = " | ".join(f"{_fmt(t)}C/{_fmt(h)}h" for t, h in age)
    return f"sol {s}; age {a}"


def adapt(spec: SourceSpec, paths: list[Path]) -> AdapterResult:
    opts = spec.options
    path = paths[0]
    raw = read_table(
        path, spec.id, sheet=opts.get("sheet", "Sheet4"), header=int(opts.get("header", 1))
    )
    orig = {_nfkc(c): c for c in raw.columns}
    if len(orig) != len(raw.columns):
        raise SourceError(
            f"headers of {path.name} collide after Unicode normalisation: {list(raw.columns)}",
            source_id=spec.id,
        )
    elem_cols = {f"{e}/%": e for e in ELEMENTS}
    stage_cols = [c for pair in (*SOLUTION_COLS, *AGEING_COLS) for c in pair]
    require_columns(
        pd.DataFrame(columns=list(orig)),
        [ALLOY_COL, *elem_cols, *stage_cols, UTS_COL, EL_COL],
        spec.id,
        path.name,
    )

    rejects = RejectLog(spec.id)
    ids = [int(i) for i in raw.index]
    numeric = {**elem_cols, **{c: c for c in stage_cols}, UTS_COL: "uts_mpa", EL_COL: "elong_pct"}
    # parse on the headers as written, so a reject names the column as the file spells it
    values, _ = parse_numeric_columns(
        raw, {orig[k]: v for k, v in numeric.items()}, rejects, row_ids=ids
    )

    rows = pd.DataFrame(index=raw.index)
    rows["source_row"] = ids
    for e in ELEMENTS:
        rows[e] = values[e].to_numpy()
    rows["Al"] = fill_balance(rows[list(ELEMENTS)], "Al")
    rows["uts_mpa"] = values["uts_mpa"].to_numpy()
    rows["elong_pct"] = values["elong_pct"].to_numpy()

    stage_out: dict[str, list[float]] = {
        f"{kind}{k}_{q}": [] for kind in ("sol", "age") for k in (1, 2, 3) for q in ("T_C", "t_h")
    }
    classes: list[str | None] = []
    texts: list[str] = []
    sol_vals = [values[[t, m]].to_numpy(dtype=float) for t, m in SOLUTION_COLS]
    age_vals = [values[[t, h]].to_numpy(dtype=float) for t, h in AGEING_COLS]
    for i in range(len(raw)):
        sol_raw = [(float(v[i, 0]), float(v[i, 1])) for v in sol_vals]
        age_raw = [(float(v[i, 0]), float(v[i, 1])) for v in age_vals]
        sol = [(t, m / 60.0) for t, m in present_stages(sol_raw)]  # minutes -> hours
        age = present_stages(age_raw)  # already hours (header says min)
        for kind, stages in (("sol", sol), ("age", age)):
            for k in (1, 2, 3):
                t, h = stages[k - 1] if k <= len(stages) else (math.nan, math.nan)
                stage_out[f"{kind}{k}_T_C"].append(t)
                stage_out[f"{kind}{k}_t_h"].append(h)
        classes.append(classify_schedule(bool(sol), age))
        texts.append(_condition_text(sol_raw, age_raw))
    for col, vals in stage_out.items():
        rows[col] = np.asarray(vals, dtype=float)
    rows["temper_class"] = classes
    rows["condition_text"] = texts
    rows["route"] = "wrought"
    rows["comp_basis"] = "measured"
    rows["alloy_name"] = raw[orig[ALLOY_COL]].map(
        lambda v: None if pd.isna(v) else str(v).strip() or None
    )

    no_target = rows[["uts_mpa", "elong_pct"]].isna().all(axis=1)
    for sid in rows.loc[no_target, "source_row"]:
        rejects.add(
            int(sid),
            "missing_all_targets",
            f"{orig[UTS_COL]},{orig[EL_COL]}",
            "no UTS and no elongation",
        )
    return finish(rows, spec, rejects, rows_in=len(raw))
