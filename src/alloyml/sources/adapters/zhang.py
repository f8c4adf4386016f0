"""Adapter for ``zhang_mgcazn``: Mg-Ca-Zn age-hardening curves (Zhang et al., Comput. Mater. Sci. 2025).

Files (``spec.files``, see ``mg/zhang_mgcazn_aging/SOURCE.md``):

0. ``mgcazn_aging_raw.csv`` (``Dataset.csv``, 294 rows): the data. One row = one Vickers
   hardness reading on an isothermal ageing curve. ``source_row`` is its 0-based data-row number;
   every raw row ends as a canonical row or a reject (``rows_in`` = 294).
1. ``mgcazn_aging_clean.csv`` (``DataPreprocessing.csv``, 256 rows): the authors' subset after
   density-clustering outlier removal. It is *not* emitted (all its rows are raw rows). It is
   matched back to the raw rows on all six columns (exactly first, then with a tolerance of
   0.01 on each value, in case of rounding; each raw row used at most once); the raw rows the
   authors removed are **kept** and listed in ``notes['author_outliers']`` (38 rows in the
   pinned files, all matched exactly). Clean rows that match no raw row would be listed in
   ``notes['clean_unmatched']`` (none). The file is optional: with one path, no outlier list.

Reader options ``sheet``/``header`` (none declared) apply to both files (an in-house copy may be
a workbook).

Column map
    ===============  ==========================================================================
    ``Mg, Ca, Zn``   composition, converted at.% -> wt % (see basis); Mg explicit
    ``Temperature``  ``age1_T_C`` (°C) when ``Time`` > 0
    ``Time``         ``age1_t_h`` (hours) when > 0
    ``Hardness``     ``hardness_hv`` (HV)
    ===============  ==========================================================================

Composition basis. The unit is not stated (SOURCE.md). The compositions match alloys the
age-hardening literature reports in **at.%**, notably K. Hono's group (SOURCE.md): Mg-2.4Zn-0.1Ca
aged at 160 °C (trace Ca/Ag additions to Mg-2.4 at.% Zn) and Mg-0.3Ca-0.6Zn aged at 200 °C
(Mg-0.3 at.% Ca with Zn additions); read as wt % they would be other alloys. The paper itself
was not checked (no access in this session).
Decision: the three columns are treated as at.% and converted to wt % with
:func:`alloyml.compositions.at_to_wt` over (Mg, Ca, Zn) with pymatgen's atomic masses, e.g.
Mg-2.4Zn-0.1Ca at.% -> Zn 6.20, Ca 0.16, Mg 93.64 wt %. ``comp_basis = 'nominal'`` (digitised
literature alloys). The assumption is recorded as ``notes['basis'] = 'at_pct_assumed'``; the
clean stage sets ``flag_basis_uncertain`` on these rows (adapters cannot set flags). A cell
``bal`` in ``Mg`` is read as 100 - Ca - Zn (at.%) before the conversion; an empty Ca or Zn
stays NaN (not reported) and counts as 0 in the conversion.

Process.
* ``Time`` = 0 is the as-solution-treated (quenched) state before ageing (SOURCE.md): no ageing
  stage (``age1_T_C``/``age1_t_h`` NaN, the curve temperature is not a treatment the sample
  received) and ``temper_class = 'W'`` (ANSI H35.1: solution heat-treated, unstable temper).
  The four t = 0 rows (108, 116, 124, 132) are one reading repeated on four curves; they become
  identical canonical rows (listed in ``notes['time0_rows']``) for the clean stage to merge as
  replicates.
* ``Time`` > 0: ``temper_class = 'T6'`` (solution treated, then artificially aged: every curve
  is an age-hardening curve measured after solutionising). Whether a point is under-, peak- or
  over-aged (T7) depends on its position on the curve; that is carried by ``age1_T_C`` and
  ``age1_t_h``, not by the class. Empty or negative ``Time`` -> no class, no stage.
* ``temper``: the source writes no designation; it states the state (SOURCE.md: solution
  treated, then aged along each curve), so ``temper`` holds it in words
  :func:`alloyml.process.decode_state` reads (issue 10: one process-state model): "solution
  treated" at t = 0 (class ``W``) and "solution treated + artificially aged" for t > 0 (class
  ``T6`` with ``ageing_degree`` NaN: under-, peak- or over-aged is the point's place on the
  curve, carried by ``age1_T_C`` / ``age1_t_h``; the designation ``T6`` would have decoded as
  peak-aged). Empty or negative ``Time`` -> ``temper`` NaN. ``route`` NaN: no route is given;
  the age-hardening literature on dilute Mg-Ca-Zn covers both cast-and-solutionised ingots and
  rolled/extruded material, so 'cast' would be a guess. No solution temperature/time, grain size
  or indentation load are recorded (SOURCE.md) -> ``sol1_*`` NaN.
* ``test_T_C`` NaN (room temperature presumably, not stated).

Rejects (reason, column): ``non_numeric`` (a cell :func:`alloyml.sources.base.parse_cell` cannot
read), ``balance_in_wrong_column``, ``missing_target`` (no ``Hardness``: the only property),
``missing_composition`` (Mg, Ca and Zn all empty or zero).
The pinned file has none. Duplicated (composition, temperature, time) keys from overlapping
digitised curves are kept (the clean stage aggregates them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alloyml.compositions import at_to_wt
from alloyml.sources.base import (
    AdapterResult,
    RejectLog,
    finish,
    parse_numeric_columns,
    read_table,
    require_columns,
)
from alloyml.sources.registry import SourceSpec

ELEMENTS: tuple[str, ...] = ("Mg", "Ca", "Zn")
COLUMNS: tuple[str, ...] = (*ELEMENTS, "Temperature", "Time", "Hardness")
#: Tolerance (absolute, per value) of the second, rounding-tolerant matching pass.
MATCH_TOL = 0.01


#: The states the curves state (module docstring), in words ``decode_state`` reads.
QUENCHED_STATE = "solution treated"
AGED_STATE = "solution treated + artificially aged"


def _parse_frame(df: pd.DataFrame, rejects: RejectLog) -> pd.DataFrame:
    numeric = {c: c for c in COLUMNS}
    values, kinds = parse_numeric_columns(
        df, numeric, rejects, balance_ok=("Mg",), row_ids=[int(i) for i in df.index]
    )
    bal = (kinds["Mg"] == "balance").to_numpy()
    if bal.any():
        values.loc[bal, "Mg"] = 100.0 - values.loc[bal, ["Ca", "Zn"]].fillna(0.0).sum(axis=1)
    return values


def match_subset(
    raw: pd.DataFrame, subset: pd.DataFrame, tol: float = MATCH_TOL
) -> tuple[list[int], list[int]]:
    """Match every row of ``subset`` to a distinct row of ``raw`` on all columns.

    Pass 1 pairs exactly equal rows, pass 2 pairs the rest within ``tol`` on every value (NaN
    matches NaN); raw rows are taken in file order. Returns ``(unmatched raw index labels,
    unmatched subset index labels)``.
    """
    cols = list(subset.columns)
    r = raw[cols].to_numpy(dtype=float)
    s = subset[cols].to_numpy(dtype=float)
    used = np.zeros(len(r), dtype=bool)
    unmatched_s: list[int] = []
    pending = list(range(len(s)))
    for tolerance in (0.0, tol):
        still = []
        for j in pending:
            diff = np.abs(r - s[j])
            same = np.where(np.isnan(r) & np.isnan(s[j]), True, diff <= tolerance)
            ok = np.flatnonzero(same.all(axis=1) & ~used)
            if len(ok):
                used[ok[0]] = True
            else:
                still.append(j)
        pending = still
    unmatched_s = [int(subset.index[j]) for j in pending]
    return [int(raw.index[i]) for i in np.flatnonzero(~used)], unmatched_s


def adapt(spec: SourceSpec, paths: list[Path]) -> AdapterResult:
    """Map the Mg-Ca-Zn ageing table to canonical rows (see the module docstring)."""
    raw_path = Path(paths[0])
    sheet, header = spec.options.get("sheet"), int(spec.options.get("header", 0))
    raw = read_table(raw_path, spec.id, sheet=sheet, header=header)
    require_columns(raw, COLUMNS, spec.id, file=raw_path.name)
    rejects = RejectLog(spec.id)
    values = _parse_frame(raw, rejects)

    for sr in values.index[values["Hardness"].isna()]:
        rejects.add(
            int(sr), "missing_target", "Hardness", "no hardness value", raw.loc[sr].to_dict()
        )

    at = values[list(ELEMENTS)]
    ok = at.fillna(0.0).sum(axis=1) > 0
    wt = pd.DataFrame(np.nan, index=at.index, columns=list(ELEMENTS))
    if ok.any():
        wt.loc[ok] = at_to_wt(at.loc[ok].to_numpy(), ELEMENTS)
    wt = wt.where(at.notna())  # not reported stays not reported
    for sr in values.index[~ok]:
        rejects.add(int(sr), "missing_composition", "Mg", "no composition", raw.loc[sr].to_dict())

    time = values["Time"]
    aged = (time > 0).to_numpy()
    rows = pd.DataFrame(index=raw.index)
    rows["source_row"] = [int(i) for i in raw.index]
    rows["comp_basis"] = "nominal"
    for el in ELEMENTS:
        rows[el] = wt[el]
    rows["age1_T_C"] = values["Temperature"].where(aged)
    rows["age1_t_h"] = time.where(aged)
    rows["temper"] = [AGED_STATE if t > 0 else QUENCHED_STATE if t == 0 else None for t in time]
    rows["temper_class"] = ["T6" if t > 0 else "W" if t == 0 else None for t in time]
    rows["hardness_hv"] = values["Hardness"]

    notes: dict[str, Any] = {"basis": "at_pct_assumed", "basis_columns": list(ELEMENTS)}
    notes["time0_rows"] = [int(i) for i in raw.index[(time == 0).to_numpy()]]
    if len(paths) > 1:
        clean_path = Path(paths[1])
        clean = read_table(clean_path, spec.id, sheet=sheet, header=header)
        require_columns(clean, COLUMNS, spec.id, file=clean_path.name)
        clean_vals = _parse_frame(clean, RejectLog(spec.id))  # rejects of a subset: ignored
        outliers, unmatched = match_subset(values[list(COLUMNS)], clean_vals[list(COLUMNS)])
        notes["author_outliers"] = outliers
        notes["clean_unmatched"] = unmatched
        notes["clean_rows"] = len(clean)
    return finish(rows, spec, rejects, rows_in=len(raw), **notes)
