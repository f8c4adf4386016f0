"""Adapter for ``anu_al_1154``: the ANU/Birbilis 1154-row wrought-Al table (``al_data.csv``).

Source: ``al/anu_al_1154/SOURCE.md`` in the data mirror (Kaggle "Aluminium alloy dataset for
supervised learning"; Bhat, Barnard & Birbilis, R. Soc. Open Sci. 10 (2023) 220360). One row is one
alloy in one coarse processing class with its tensile properties, compiled from datasheets,
handbooks and literature.

Decisions (each refers to SOURCE.md):

- **Rows and provenance.** ``source_row`` is the 0-based data-row number returned by
  :func:`~alloyml.sources.base.read_table`. The unnamed first column (read as ``unnamed_0``) is the
  source's own row index 0…1153; it is *not* a feature. The adapter checks that it equals
  ``source_row`` on every row and raises :class:`~alloyml.errors.SourceError` otherwise (a
  reordered or filtered copy of the file would break provenance). ``doi`` is the registry DOI
  (Bhat et al. 2023); ``alloy_name`` and ``reference`` are not given by the source (empty).
- **Composition.** The 25 element columns (Ag, Al, B, Be, Bi, Cd, Co, Cr, Cu, Er, Eu, Fe, Ga, Li,
  Mg, Mn, Ni, Pb, Sc, Si, Sn, Ti, V, Zn, Zr) are **mass fractions** (0–1): multiplied by 100 to
  wt % and rounded to 9 decimals (removes float noise such as 1.9800000000000002; the file has at
  most 9 decimals, so nothing is lost). Every row reports all 25 elements, so ``0`` means reported
  absent and the other canonical elements (Ca, Ce, …) are NaN = not reported. ``Al`` is given
  explicitly as the balance and kept as given (sums are 100 ± 2e-4 wt %; the maximum deviation is
  returned in ``notes['max_sum_dev_wt_pct']``); only a missing/``bal.`` Al cell is filled with
  :func:`~alloyml.sources.base.fill_balance`. ``comp_basis`` = ``nominal`` (datasheet/handbook
  compositions, not analysed chemistry). Trace columns B, Be, Ga, Eu are kept (they are ~0).
- **Processing** (10 coarse classes, SOURCE.md "Processing"). The raw text is kept verbatim in
  ``process_code`` (double space of the peak-aged label and the ``Harderned`` misspelling
  included). The source gives no temper designation, so ``temper`` holds the class's state
  written so that :func:`alloyml.process.decode_state` reads it (issue 10: one process-state
  model; :data:`PROCESSING_TO_STATE`): "solution treated + peak aged", "solution treated +
  overaged", "strain hardened (hard)" / "strain hardened" (H, degree of hardening not given),
  "as fabricated", "solution treated + naturally aged", "solution treated + cold worked +
  naturally aged", "T5 (artificially aged, no solution treatment)", "T1 (naturally aged, no
  solution treatment)" (the documented mapping T5 / T1; the text alone would not say that the
  ageing followed shaping) and "solution treated" (W). ``decode_state(temper)`` gives the
  class below on every row (tested). ``temper_class`` follows the mapping documented in
  SOURCE.md (matched after collapsing whitespace and case, so the double space is not a trap):

  ===============================================  ======  =========================================
  Processing                                       class   note
  ===============================================  ======  =========================================
  ``Solutionised  + Artificially peak aged``       T6
  ``Solutionised + Artificially over aged``        T7 / T8 T7 **and T8** tempers collapsed here by the
                                                           source: T7 on 7xxx and Al-Si
                                                           compositions, T8 else (see below);
                                                           ``process_code`` keeps the raw class
  ``Strain Harderned (Hard)``                      H       [sic]
  ``Strain hardened``                              H
  ``No Processing``                                O / F   annealed; as cast on an Al-Si casting
                                                           composition (see below)
  ``Solutionised + Naturally aged``                T4
  ``Solutionised + Cold Worked + Naturally aged``  T3
  ``Artificial aged``                              T5      aged without a solution treatment
  ``Naturally aged``                               T1      per the documented mapping T1 -> NA
  ``Solutionised``                                 W       see below
  ===============================================  ======  =========================================

  ``No Processing`` (141 rows) is the **annealed O temper**, not as-fabricated, on every
  wrought composition: its rows carry the handbook typical properties of the O temper, e.g.
  rows 410/415 (2024) YS 75 / UTS 185 MPa / 20 %, rows 422–424 (7075) 103–105 / 225–230 / 15–17,
  row 349 (6061) 55 / 125 / 25, row 402 (5083) 145 / 290 / 22, row 338 (3003) 40 / 110 / 30
  (2024-O 75 / 185 / 20, 7075-O 105 / 230 / 17, 6061-O 55 / 125 / 25, 5083-O 145 / 290 / 22,
  3003-O 40 / 110 / 30: ASM Handbook Vol. 2, 1990, "Properties of Wrought Aluminum and
  Aluminum Alloys"), while an as-fabricated (F) wrought product has no guaranteed properties
  and sits far above them (a hot-rolled 2024-F is work hardened). Such rows get ``temper``
  "annealed" and class **O**. On a casting composition (``route`` ``cast``, below) the same
  class is the as-cast state: ``temper`` "as cast", class **F** (rows 14–24: Al-7Si-0.45Mg
  UTS 180–195 MPa, 2–4 %, the A356-F range). Before this decision the O rows were read as F,
  so the models learned "as fabricated" from annealed material and no other source's O rows
  could learn from them.
- ``Solutionised + Artificially over aged`` (214 rows) collapses T7 and T8 (SOURCE.md). On a
  7xxx composition (Zn the largest alloying addition; 99 rows such as 7075, 7050) and on an
  Al-Si composition with Si ≥ 5 wt % (A356-T7 type castings, rows 428–433, and the
  hypereutectic rows 968–971) it is the over-aged **T7**. On every other composition (2xxx,
  6xxx, Al-Li; 105 rows) its rows carry the handbook properties of the T8 /
  T9 tempers of those series, which combine cold work with artificial ageing and are the
  tempers in which such alloys are sold, not an over-ageing: rows 1070/1122 (2024) YS 440–450 /
  UTS 483–485 MPa (2024-T81: 450 / 485), rows 1087/1088 (2219) 365 / 462 (2219-T87: 395 /
  475), rows 1143/1144 (6061-type, Mg 1.0 Si 0.6) 379–380 / 400 (6262-T9: 379 / 400), Al-Li
  rows 1068/1077 (2090/2195 type) 574–630 / 646–697 (ASM Handbook Vol. 2, 1990, and the
  Al-Li datasheets it tabulates). These rows get class **T8** and ``temper`` "solution treated
  + cold worked + artificially aged" (the order of cold work and ageing, T8 or T9, is not
  given; T8 is the common one). Before this decision a 2024-T81 was read as over-aged, below
  its peak strength, while it is above its T6 strength.
- **Casting compositions.** Rows with 5 ≤ Si < 11 wt % get ``route`` ``cast`` (casting
  method not stated; 63 rows): Al-7Si-Mg (A356/A357 type: rows 14–24, 428–433, 772–886),
  Al-6Si-3Cu (319
  type, row 798) and Al-9Si-3Cu (A380 type, rows 466–469) are registered casting alloys, and
  the registered wrought 4xxx alloys in that Si range are cladding and filler alloys (4343,
  4045, 4043) whose tensile properties are not tabulated in datasheets like these (Aluminum
  Association, *International Alloy Designations and Chemical Composition Limits for Wrought
  Aluminum and Wrought Aluminum Alloys*). 4032 (12.2 % Si, rows 866/868) is a wrought forging
  alloy and stays ``wrought``.
- ``Solutionised`` (4 rows, 40–43) → **W** (solution heat-treated, no ageing stated). SOURCE.md
  reports that downstream apps feed O/annealed tempers as "Solutionised", but these four rows are
  the same Al-6.4Cu compositions as the "Naturally aged" rows 438–441 with YS 125–140 MPa and
  3–6 % elongation, which is not annealed-like; the literal meaning (solution treated only) is
  kept. A Processing value not in this table rejects the row (``unknown_processing``).
- **No numeric process stages.** The source gives no temperatures, times or cold-work amounts, so
  every stage column, ``quench`` and ``product_form`` stay NaN (never a dummy value).
- **Route.** ``wrought`` for every row (the compilation is of wrought alloys; Al-20Sn-1Cu rows 88
  and 194 are the registered wrought bearing alloy AA8081), **except** the 14 hypereutectic Al-Si
  rows with Si ≥ 15 wt % (18–22 % Si; rows 625–630, 872–875, 968–971): no registered wrought alloy
  has that much Si (4032/4047 reach 13.5 %), and whether they are cast, spray-formed or powder
  products is not stated, so ``route`` is left NaN rather than guessed.
- **Properties.** ``Elongation (%)`` → ``elong_pct``, ``Tensile Strength (MPa)`` → ``uts_mpa``,
  ``Yield Strength (MPa)`` → ``ys_mpa`` (0.2 % proof). Values are kept as given, including the
  ksi→MPa spurious precision (10.3421355) and the one YS > UTS row (1067; the clean stage flags
  it). ``test_T_C`` is not given (NaN). A row with all three properties missing is rejected
  (``missing_all_targets``); the real file has none.
- **Ignored column.** ``class`` is the iterative-label-spreading cluster label of Bhat et al.
  2023 (1–8 or ``outlier``): a derived label, not canonical and not an input feature, so it is
  not emitted (it is not required either).
- **Duplicates are kept.** The 181 exact duplicate rows (SOURCE.md) and the 497 rows sharing a
  (Processing, composition) vector stay separate canonical rows; the clean stage merges
  replicates and grouped CV handles shared compositions.
- **Unreadable cells.** Numeric cells follow :func:`~alloyml.sources.base.parse_cell`; anything
  else rejects the row with reason ``non_numeric`` naming the column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from alloyml.errors import SourceError
from alloyml.sources.base import (
    AdapterResult,
    RejectLog,
    fill_balance,
    finish,
    one_hot,
    parse_numeric_columns,
    read_table,
    require_columns,
)
from alloyml.sources.registry import SourceSpec

INDEX_COLUMN = "unnamed_0"

ELEMENT_COLUMNS: tuple[str, ...] = (
    "Ag", "Al", "B", "Be", "Bi", "Cd", "Co", "Cr", "Cu", "Er", "Eu", "Fe", "Ga", "Li", "Mg",
    "Mn", "Ni", "Pb", "Sc", "Si", "Sn", "Ti", "V", "Zn", "Zr",
)  # fmt: skip

TARGET_MAP: dict[str, str] = {
    "Elongation (%)": "elong_pct",
    "Tensile Strength (MPa)": "uts_mpa",
    "Yield Strength (MPa)": "ys_mpa",
}

#: Processing class (whitespace-collapsed, case-folded) -> temper class (SOURCE.md mapping).
PROCESSING_TO_CLASS: dict[str, str] = {
    "solutionised + artificially peak aged": "T6",
    "solutionised + artificially over aged": "T7",
    "strain harderned (hard)": "H",
    "strain hardened (hard)": "H",
    "strain hardened": "H",
    "no processing": "O",  # "F" on a casting composition (see the module docstring)
    "solutionised + naturally aged": "T4",
    "solutionised + cold worked + naturally aged": "T3",
    "artificial aged": "T5",
    "naturally aged": "T1",
    "solutionised": "W",
}

#: The state each Processing class states, written for :func:`alloyml.process.decode_state`.
PROCESSING_TO_STATE: dict[str, str] = {
    "solutionised + artificially peak aged": "solution treated + peak aged",
    "solutionised + artificially over aged": "solution treated + overaged",
    "strain harderned (hard)": "strain hardened (hard)",
    "strain hardened (hard)": "strain hardened (hard)",
    "strain hardened": "strain hardened",
    "no processing": "annealed",  # "as cast" on a casting composition
    "solutionised + naturally aged": "solution treated + naturally aged",
    "solutionised + cold worked + naturally aged": (
        "solution treated + cold worked + naturally aged"
    ),
    "artificial aged": "T5 (artificially aged, no solution treatment)",
    "naturally aged": "T1 (naturally aged, no solution treatment)",
    "solutionised": "solution treated",
}

#: Si at or above this (wt %) is beyond any registered wrought alloy: route left unknown.
SI_ROUTE_UNKNOWN_WT = 15.0

#: The collapsed T7/T8 class, and the state of its T8 rows (2xxx, 6xxx, Al-Li compositions).
OVER_AGED = "solutionised + artificially over aged"
T8_STATE = "solution treated + cold worked + artificially aged"
#: alloying additions whose largest names the series (Zn largest: 7xxx)
MAJOR_SOLUTES: tuple[str, ...] = ("Cu", "Mn", "Si", "Mg", "Zn", "Li")

#: Si in [SI_CAST_MIN_WT, SI_CAST_MAX_WT) wt %: a registered casting composition (A356/A357,
#: 319, A380 types), route ``cast``; "No Processing" there is as cast, not annealed.
SI_CAST_MIN_WT = 5.0
SI_CAST_MAX_WT = 11.0


def _key(text: object) -> str | None:
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return None
    return " ".join(str(text).split()).casefold() or None


def _check_index(raw: pd.DataFrame, source_id: str) -> None:
    """The unnamed index column must equal the data-row number (provenance consistency)."""
    idx = pd.to_numeric(raw[INDEX_COLUMN], errors="coerce")
    bad = idx.isna() | (idx != raw.index.to_numpy())
    if bad.any():
        row = int(raw.index[bad.to_numpy()][0])
        raise SourceError(
            f"the unnamed index column ({raw.loc[row, INDEX_COLUMN]!r}) differs from the data-row "
            f"number {row}: the file is reordered or filtered, so source_row would not point into "
            "the published table; use the unmodified al_data.csv",
            source_id=source_id,
            row=row,
            column=INDEX_COLUMN,
        )


def adapt(spec: SourceSpec, paths: list[Path]) -> AdapterResult:
    raw = read_table(paths[0], spec.id, header=int(spec.options.get("header", 0)))
    require_columns(
        raw,
        [INDEX_COLUMN, "Processing", *ELEMENT_COLUMNS, *TARGET_MAP],
        spec.id,
        file=Path(paths[0]).name,
    )
    _check_index(raw, spec.id)
    rejects = RejectLog(spec.id)
    ids = [int(i) for i in raw.index]

    numeric = {e: e for e in ELEMENT_COLUMNS} | TARGET_MAP
    values, _ = parse_numeric_columns(raw, numeric, rejects, balance_ok=["Al"], row_ids=ids)

    rows = pd.DataFrame(index=raw.index)
    rows["source_row"] = ids
    comp = (values[list(ELEMENT_COLUMNS)] * 100.0).round(9)
    comp["Al"] = comp["Al"].fillna(fill_balance(comp, "Al"))
    for e in ELEMENT_COLUMNS:
        rows[e] = comp[e]
    for canon in TARGET_MAP.values():
        rows[canon] = values[canon]

    # Processing -> temper_class; raw text verbatim in process_code.
    classes = []
    for sid, text in zip(ids, raw["Processing"], strict=True):
        cls = PROCESSING_TO_CLASS.get(_key(text) or "")
        if cls is None:
            rejects.add(
                sid,
                "unknown_processing",
                "Processing",
                f"processing class {text!r} is not one of the documented classes",
                {"Processing": text},
            )
        classes.append(cls)
    si = rows["Si"].to_numpy(dtype=float, na_value=np.nan)
    casting = (si >= SI_CAST_MIN_WT) & (si < SI_CAST_MAX_WT)
    states = [
        None if c is None else PROCESSING_TO_STATE[_key(t) or ""]
        for c, t in zip(classes, raw["Processing"], strict=True)
    ]
    as_cast = casting & np.array([_key(t) == "no processing" for t in raw["Processing"]])
    # "over aged" is T8 (cold work + artificial ageing) outside 7xxx and Al-Si compositions
    major = comp[list(MAJOR_SOLUTES)].fillna(0.0).idxmax(axis=1).to_numpy()
    t8 = (
        (si < SI_CAST_MIN_WT)
        & (major != "Zn")
        & np.array([_key(t) == OVER_AGED for t in raw["Processing"]])
    )
    rows["temper_class"] = np.select([as_cast, t8], ["F", "T8"], np.array(classes, dtype=object))
    rows["temper"] = np.select([as_cast, t8], ["as cast", T8_STATE], np.array(states, dtype=object))
    rows["process_code"] = raw["Processing"].map(lambda v: None if pd.isna(v) else str(v))
    rows["route"] = np.where(si >= SI_ROUTE_UNKNOWN_WT, None, np.where(casting, "cast", "wrought"))
    rows["comp_basis"] = "nominal"

    props = list(TARGET_MAP.values())
    for sid in rows.index[rows[props].isna().all(axis=1)]:
        rejects.add(int(sid), "missing_all_targets", ",".join(TARGET_MAP), "no property value")

    ok = ~rows["source_row"].isin(rejects.rejected_rows)
    sum_dev = float((comp.loc[ok].sum(axis=1) - 100.0).abs().max()) if ok.any() else float("nan")
    return finish(rows, spec, rejects, rows_in=len(raw), max_sum_dev_wt_pct=sum_dev)


# -- what the papers on this source did (see :mod:`alloyml.sources.adapters`) -----------------


def paper_categories(frame: pd.DataFrame) -> pd.DataFrame:
    """One-hot of the 10 ``Processing`` classes (kept verbatim in ``process_code``).

    ``temper_class`` maps them one to one except that both strain-hardened classes
    (``Strain Harderned (Hard)``, 197 rows, and ``Strain hardened``, 41) become ``H``: the papers
    on this dataset used the ten classes.
    """
    return one_hot(frame["process_code"], "processing")
