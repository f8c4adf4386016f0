"""Adapter ``park``: 227 Al-Zn-Mg-Cu samples, cast or extruded, process steps as integer codes.

Source ``park_7xxx`` (see ``al/park_7xxx_xai/SOURCE.md``): "High strength aluminum alloys design
via explainable artificial intelligence" (believed S. Park et al., J. Alloys Compd. 2022; authors
and DOI not verified, so ``doi`` stays empty and ``reference`` carries the citation of
``sources.yaml``). The origin is ``Sheet1`` of the workbook ``data.xlsx`` that also holds the
Jiang sheets; the CSV export ``park2022_7xxx_sheet1.csv`` in the mirror is a convenience copy of
the same rows and is not read.

Sheet layout (checked with openpyxl on the pinned bytes)
    Row 0 is a group header (``No.`` merged over rows 0-1, ``Chemical composition (wt%)`` over
    the element columns, ``Fabrication Processes`` over the five codes, ``Experimental Tensile
    properties`` over YS/TS/EL); row 1 holds the column names -> ``read_table(header=1)``
    (``options.header``, default 1). Because ``No.`` is merged upwards its row-1 cell is blank
    and the column arrives as ``unnamed_0``; it is accepted under either name. Cell S3 (column
    ``unnamed_18`` of data row 0) holds the paper title and is ignored, as are the empty columns
    Q-R. After the 227 samples come one blank line (dropped by :func:`read_table`) and two rows
    of ``=MAX(B3:B229)`` / ``=MIN(B3:B229)`` formulas: the column max / min used by the authors
    to normalise inputs, not samples.

Column map (matched by name, case- and space-insensitive; every one is required and a missing
or ambiguous one raises :class:`SourceError` naming it)
    ``Zn Mg Cu Zr Ti Fe Si`` -> element columns, wt %; ``YS (MPa)`` -> ``ys_mpa``,
    ``TS (MPa)`` -> ``uts_mpa``, ``EL (%)`` -> ``elong_pct``; ``Casting (0: B, 1:PM)``,
    ``Homogenization (℃/h)``, ``Extrusion (0: X, 1:O)``, ``Solution Treatment (℃/h)``,
    ``Aging (℃/h)`` -> the five process codes.

Composition
    wt % (group header ``Chemical composition (wt%)``), ``comp_basis = 'measured'`` (the
    authors' own castings; treated as analysed chemistry, SOURCE.md does not say otherwise).
    Al is not given: ``Al = 100 - sum(others)`` (:func:`fill_balance`). Elements without a column
    (Cr, Mn, Sc, ...) stay NaN = not reported; 0 stays 0.

Process codes
    The code -> (°C, h) tables are in the paper, not in the workbook, so homogenisation,
    solution and ageing cannot be turned into temperatures and times: every numeric stage
    column (``homog_*``, ``sol*``, ``age*``) stays NaN and the five codes are kept verbatim in
    ``process_code`` as ``cast=<c>;homog=<h>;extr=<e>;sol=<s>;age=<a>`` (``NA`` for a blank
    code), usable as within-source categoricals. A code that is not a non-negative integer (or
    a casting/extrusion code other than 0/1) cannot be interpreted -> reject
    ``invalid_process_code`` naming the column.

``route``
    The product was cast (book mould ``B`` or permanent mould ``PM``) and then, for extrusion
    code 1, extruded. The extrusion wins: ``route = 'extruded'`` whenever extrusion = 1, because
    the hot deformation replaces the cast structure that the mould type set; the mould type is
    still in ``process_code``. Otherwise casting 0 -> ``cast_book_mould``, 1 ->
    ``cast_perm_mould`` (SOURCE.md: "presumably book mould vs permanent mould"), a blank casting
    code -> ``cast``; a blank extrusion code -> NaN.

``temper`` and ``temper_class`` (the sheet has no temper string). Code 0 means "step not
applied": this is what SOURCE.md presumes and what the properties show (solution > 0 with
ageing 0 gives YS ~ 230 MPa and EL ~ 27 %, as-quenched; solution 0 with ageing 0 gives the
as-cast YS ~ 140 MPa / EL ~ 4 %). ``temper`` is the state the codes state, written for
:func:`alloyml.process.decode_state` (issue 10: one process-state model), and
``temper_class`` is the class it decodes to:

    * solution 0, ageing 0 -> "as-cast" / "as-extruded" (``F``), prefixed "homogenised +" when
      the homogenisation code is > 0 and the product was extruded afterwards (still F: the
      homogenisation was an ingot treatment before shaping). A homogenised casting that was
      not extruded is "as-cast + homogenised": heat treated after casting, no ANSI class
      (``temper_class`` NaN; before issue 10 these rows were ``F``);
    * solution > 0, ageing 0 -> "... + solution treated" (``W``, solution treated and quenched);
      "..." is "cast", "extruded", "cast + homogenised" or "homogenised + extruded";
    * solution 0, ageing > 0 -> "cast + artificially aged" / "extruded + artificially aged"
      (``T5``: artificially aged without solution treatment, after casting or after cooling
      from extrusion);
    * solution > 0, ageing > 0 -> "... + solution treated + artificially aged": ``T6`` by the
      ANSI H35.1 definition (solution heat treated and then artificially aged) with
      ``ageing_degree`` unknown (NaN): whether an ageing code over-ages (T7) cannot be told
      without the paper's table, and the decoder does not guess it (before issue 10 the class
      was NaN);
    * a blank code -> NaN (unknown).

Rows and rejects
    ``source_row`` = index from :func:`read_table` (0-based data row after header row 1:
    samples 0-226 = ``No.`` 1-227; the two formula rows are 228 and 229 because the blank line
    227 is layout). A row without a sample number whose values equal the column maximum (or
    minimum) over the numbered rows in every column is a normalisation row -> reject
    ``normalisation_row`` (column ``No.``). Unreadable numeric text -> ``non_numeric``; a row
    with no YS, TS or EL -> ``missing_all_targets``. On the pinned file: 229 in, 227 kept, 2
    rejected (``normalisation_row``). The exact duplicate and the replicate groups are kept for
    the clean stage.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from alloyml.errors import SourceError
from alloyml.process import decode_state
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

ELEMENTS = ("Zn", "Mg", "Cu", "Zr", "Ti", "Fe", "Si")
#: canonical key -> (pattern on the lower-cased, space-free header, name used in messages)
_PATTERNS: dict[str, tuple[str, str]] = {
    "cast": (r"^casting", "Casting (0: B, 1:PM)"),
    "homog": (r"^homogeni[sz]ation", "Homogenization (℃/h)"),
    "extr": (r"^extrusion", "Extrusion (0: X, 1:O)"),
    "sol": (r"^solution", "Solution Treatment (℃/h)"),
    "age": (r"^age?ing", "Aging (℃/h)"),
    "ys_mpa": (r"^ys\(mpa\)$", "YS (MPa)"),
    "uts_mpa": (r"^ts\(mpa\)$", "TS (MPa)"),
    "elong_pct": (r"^el\(%\)$", "EL (%)"),
}
CODES = ("cast", "homog", "extr", "sol", "age")
PROPS = ("ys_mpa", "uts_mpa", "elong_pct")
_NO_NAMES = ("no.", "no", "unnamed_0")
_CAST_ROUTE = {0: "cast_book_mould", 1: "cast_perm_mould"}


def _key(name: str) -> str:
    return re.sub(r"\s+", "", str(name)).lower()


def column_map(columns: list[str], source_id: str) -> tuple[str, dict[str, str]]:
    """Return ``(sample_number_column, {raw header: canonical key})`` or raise naming the gap."""
    mapping: dict[str, str] = {}
    problems: list[str] = []
    for e in ELEMENTS:
        if e in columns:
            mapping[e] = e
        else:
            problems.append(e)
    for canon, (pattern, label) in _PATTERNS.items():
        hits = [c for c in columns if re.search(pattern, _key(c))]
        if len(hits) == 1:
            mapping[hits[0]] = canon
        elif not hits:
            problems.append(label)
        else:
            raise SourceError(f"several columns match {label!r}: {hits}", source_id=source_id)
    no_col = next((c for c in columns if _key(c) in _NO_NAMES), None)
    if no_col is None:
        problems.append("No.")
    if problems:
        # require_columns gives the standard message naming every missing column
        require_columns(pd.DataFrame(columns=columns), problems, source_id)
    return str(no_col), mapping


def state_text(
    cast: int | None, homog: int | None, extr: int | None, sol: int | None, age: int | None
) -> str | None:
    """The state the five codes state, in words :func:`decode_state` reads (module docstring).

    Examples:
        >>> state_text(1, 1, 1, 0, 0), state_text(0, 0, 0, 2, 3)
        ('homogenised + as-extruded', 'cast + solution treated + artificially aged')
    """
    if None in (extr, sol, age):
        return None
    shaped = "extruded" if extr == 1 else "cast"
    if sol == 0 and age == 0:
        if extr == 1:
            return "homogenised + as-extruded" if homog else "as-extruded"
        return "as-cast + homogenised" if homog else "as-cast"
    parts = ["homogenised", "extruded"] if extr == 1 else ["cast", "homogenised"]
    parts = parts if homog else [shaped]
    if sol and sol > 0:
        parts.append("solution treated")
    if age and age > 0:
        parts.append("artificially aged")
    return " + ".join(parts)


def _code(v: float) -> int | None:
    return None if math.isnan(v) else int(v)


def adapt(spec: SourceSpec, paths: list[Path]) -> AdapterResult:
    opts = spec.options
    path = paths[0]
    raw = read_table(
        path, spec.id, sheet=opts.get("sheet", "Sheet1"), header=int(opts.get("header", 1))
    )
    no_col, mapping = column_map(list(raw.columns), spec.id)
    ids = [int(i) for i in raw.index]
    rejects = RejectLog(spec.id)

    # Normalisation rows first (they must not be reported as anything else).
    value_cols = list(mapping)
    loose = raw[value_cols].apply(pd.to_numeric, errors="coerce")
    numbered = raw[no_col].notna()
    if numbered.any():
        col_max, col_min = loose[numbered].max(), loose[numbered].min()
        for sid in raw.index[~numbered]:
            row = loose.loc[sid]
            for label, ref in (("maximum", col_max), ("minimum", col_min)):
                if row.notna().all() and np.allclose(row.to_numpy(float), ref.to_numpy(float)):
                    rejects.add(
                        int(sid), "normalisation_row", "No.",
                        f"no sample number; every value equals the column {label} of the samples",
                        raw.loc[sid, value_cols].to_dict(),
                    )  # fmt: skip
                    break

    values, _ = parse_numeric_columns(raw, mapping, rejects, row_ids=ids)
    labels = {canon: label for canon, (_, label) in _PATTERNS.items()}
    for canon in CODES:
        col = values[canon]
        allowed_max = 1 if canon in ("cast", "extr") else None
        for sid, v in zip(ids, col.to_numpy(float), strict=True):
            if math.isnan(v):
                continue
            if v < 0 or v != int(v) or (allowed_max is not None and v > allowed_max):
                raw_col = next(k for k, c in mapping.items() if c == canon)
                rejects.add(
                    sid, "invalid_process_code", raw_col,
                    f"{labels[canon]} code {v:g} is not one of the integer codes", None,
                )  # fmt: skip

    rows = pd.DataFrame(index=raw.index)
    rows["source_row"] = ids
    for e in ELEMENTS:
        rows[e] = values[e].to_numpy()
    rows["Al"] = fill_balance(rows[list(ELEMENTS)], "Al")
    for p in PROPS:
        rows[p] = values[p].to_numpy()

    codes = values[list(CODES)].to_numpy(float)
    routes, classes, pcodes, states = [], [], [], []
    for sid, row in zip(ids, codes, strict=True):
        if sid in rejects:  # dropped by finish; its codes may be unreadable
            routes.append(None)
            classes.append(None)
            pcodes.append(None)
            states.append(None)
            continue
        cast, homog, extr, sol, age = (_code(v) for v in row)
        pcodes.append(
            ";".join(
                f"{k}={'NA' if c is None else c}"
                for k, c in zip(CODES, map(_code, row), strict=True)
            )
        )
        if extr == 1:
            routes.append("extruded")
        elif extr == 0:
            routes.append("cast" if cast is None else _CAST_ROUTE[cast])
        else:
            routes.append(None)
        states.append(state_text(cast, homog, extr, sol, age))
        classes.append(None if states[-1] is None else decode_state(states[-1]).temper_class)
    rows["route"] = routes
    rows["temper"] = states
    rows["temper_class"] = classes
    rows["process_code"] = pcodes
    rows["comp_basis"] = "measured"
    if not spec.doi and spec.citation:
        rows["reference"] = spec.citation

    no_target = rows[list(PROPS)].isna().all(axis=1)
    for sid in rows.loc[no_target, "source_row"]:
        rejects.add(int(sid), "missing_all_targets", "YS (MPa),TS (MPa),EL (%)", "no YS, TS or EL")
    return finish(rows, spec, rejects, rows_in=len(raw))
