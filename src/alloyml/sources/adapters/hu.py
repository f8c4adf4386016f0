"""Adapter for ``hu_uq_wrought_al``: Hu et al. (Univ. of Queensland) wrought-Al compilation.

Source: ``al/hu_uq_wrought_al/SOURCE.md`` in the data mirror (repository
``UQ43815685/mitigating_data_bias_for_Al_alloys_design``; predecessor M. Hu et al., Metall. Mater.
Trans. A 52 (2021) 2873). One row is one (alloy, route, temper, product form) record with its
room-temperature tensile properties, from handbooks (ASM 1993, Smithells), patents and papers.

Files, sheets and ``source_row`` numbering
-------------------------------------------
- ``paths[0]`` = ``dataset.xlsx``, sheet ``options.sheet`` (``Sheet1``, 1150 rows):
  ``source_row`` = 0-based data-row number 0…1149.
- ``paths[1]`` = ``self_designed_al_alloys.xlsx``, sheets ``options.extra_sheets``
  (``Loop I``, ``Loop II``; 4 rows each): ``source_row`` = ``10000 * k`` + data-row number for the
  k-th extra sheet (k = 1, 2, …): Loop I → 10000…10003, Loop II → 20000…20003. A sheet with
  10000 rows or more would collide and raises :class:`~alloyml.errors.SourceError`.
- All sheets must carry the same 34 columns (missing ones raise ``SourceError`` naming them; a
  missing sheet raises ``SourceError`` listing the sheets).

Rejects
-------
- ``model_prediction``: the active-learning sheets hold pairs of rows per designed alloy; ``Alloy``
  ending in ``-D`` (Reference "Predicted from ML model trained in Loop …") is the model's
  prediction, not a measurement. A row is a prediction when ``Alloy`` ends in ``-D`` *or*
  ``Reference`` contains "predicted" (checked on every sheet; 4 rows, all in the Loop sheets).
  The ``-E`` rows ("Experimentally measured in own lab") are kept. This check runs first.
- ``non_numeric``: a numeric cell that :func:`~alloyml.sources.base.parse_cell` cannot read.
- ``unknown_route``: ``ManufacturingMethod`` not known to :func:`alloyml.process.normalise_route`.
- ``unknown_ageing_type``: ``AgeingType`` missing or not one of No / Natural / Artificial /
  Overageing (the ageing stage cannot be interpreted without it).
- ``missing_all_targets``: YTS, UTS and EL all empty (none in the real files).

Column map
----------
- Composition (wt %): Si, Fe, Cu, Mn, Mg, Cr, Zn, V, Ti, Zr, Li, Ni, Ga, Bi, Pb, B, Be, Sc as
  given; every row reports all of them, so ``0`` = reported absent, other canonical elements NaN
  (not reported). ``Al (min.)`` is the balance (100 − Σ others; sums are exactly 100) → ``Al`` as
  given; a missing or ``bal.`` cell is filled with :func:`~alloyml.sources.base.fill_balance`.
  Known trap kept as is (the clean stage judges it): row 5 (1050 H111, Smithells) has its trace
  values shifted by one or two columns (V 0.025, Zr 0.025, Li 0.015).
- ``S/A Temp`` (°C): 25 is the source's placeholder for "not solution treated" → ``sol1_T_C``
  NaN; any value above 25 → ``sol1_T_C``. ``sol1_t_h`` is always NaN (time not given). For the
  O-temper rows (furnace-cooled, mostly 343/345/413/415 °C) this column is the *annealing*
  temperature: the canonical schema has no anneal column, so it is kept in ``sol1_T_C`` as the
  source records it (``temper_class`` O and ``quench`` furnace identify these rows); the
  featurizer does not read it as a solution treatment, since the designation says annealed
  (:func:`alloyml.features.process.process_features_v2`). Moving it out of ``sol1_T_C`` was
  tried: leave-one-source-out elongation R2 fell from 0.368 to 0.339 (extra trees) and the Hu
  named-to-unspecified yield-strength R2 from 0.596 to 0.552, the anneal temperature of an O
  row being information within this source.
- Ageing (``AgeingType``, ``Ageing Temp`` °C, ``Ageing Time`` **hours**, unlabeled in the file):

  ============  =====================================================================
  AgeingType    canonical stage
  ============  =====================================================================
  No            no ageing stage: ``age1_T_C`` and ``age1_t_h`` NaN (the file has 25 / 0)
  Natural       a real room-temperature stage: ``age1_T_C`` = 25 °C; ``age1_t_h`` =
                Ageing Time when > 0, else NaN (0 = time not stated, most T4 rows).
                Row 375 (2124-T4, Natural, yet 120 °C / 18 h) is inconsistent: type and
                temper agree on natural ageing (and the properties are T4-like), so it gets
                25 °C with time NaN; the raw numbers stay in ``condition_text``.
  Artificial,   ``age1_T_C`` = Ageing Temp when > 25 (25 = placeholder) else NaN;
  Overageing    ``age1_t_h`` = Ageing Time when > 0 else NaN. Row 374 (2048-T851) has
                25 / 0: the stage exists but its parameters are unknown → both NaN.
  ============  =====================================================================

  The raw cells of the three numeric process columns are kept verbatim in ``condition_text``
  (``S/A Temp=…; Ageing Temp=…; Ageing Time=…``) so every placeholder stays auditable.
- ``ManufacturingMethod`` → ``route`` via :func:`alloyml.process.normalise_route` (Rolled →
  rolled, Extruded → extruded, Wrought → wrought, Drawn → drawn, Forged → forged, Thixoformed →
  thixoformed).
- ``HeatTreatmentMedium`` → ``quench``, lower-case (water / air / furnace), on every row: for
  rows without a solution treatment (F, H, T1, T5) it is the cooling medium after fabrication or
  the partial anneal, as the source records it.
- ``StrainHardeningMethod``: ``6% Work Hardening`` / ``7% Work Hardening`` → ``cold_work_pct`` 6 / 7;
  no other label states an amount (``Work Hardening Level N`` is the H-temper digit, not a
  percentage) so ``cold_work_pct`` is NaN there.
- ``ProductionShape`` → ``product_form``, lower-case (sheet, rod, plate, bar, wire, tube, forging,
  ingot, ring, foil); ``Wrought`` is not a shape (it repeats the route) → NaN.
- ``process_code`` keeps the categorical process columns verbatim, ``;``-joined as
  ``Column=value`` (ManufacturingMethod, HeatTreatmentMedium, StrainHardeningMethod, AgeingType,
  TreatmentAfterward, ProductionShape; empty cells omitted): TreatmentAfterward (Stablized [sic],
  Partial Annealed) and the strain-hardening labels have no canonical column.
- ``Designation`` → ``temper`` (raw) and ``temper_class`` via :func:`alloyml.process.temper_class`
  (``OF``, one 7075 row, has no ANSI class → ``temper_class`` NaN, ``temper`` kept). Every
  other designation (F, O, H1x-H3x with third digits, T3-T8 with 51/510/511 suffixes) is decoded
  by :func:`alloyml.process.decode_state` (issue 10: one process-state model); ``OF`` decodes
  as unknown (``known`` False), never as a default. The stage columns stay as the source
  gives them; the route carries only the product's primary route.
- ``YTS`` → ``ys_mpa`` (0.2 % proof), ``UTS`` → ``uts_mpa``, ``EL`` → ``elong_pct``; kept as given
  (row 986, YTS > UTS, is flagged later by the clean stage). ``test_T_C`` is left NaN (SOURCE.md
  says room temperature for the whole compilation; no per-row value is given).
- **Elongations that are not elongations: rows 796 and 797 are rejected**
  (``implausible_elongation``, column ``EL``). Both are 7075 bar from P. N. Adler and R. DeIasi,
  Metall. Trans. A 8 (1977) 1185 (a calorimetry study), in T651 (EL 31 %) and T7351 (EL 37 %):
  about three times the elongation of those tempers (7075-T651 11 %, 7075-T7351 13 %; ASM
  Handbook Vol. 2, 1990) and of every other 7xxx row in the five tables in a T6 or T7 temper
  (at most 24 %); the values fit a reduction of area, which tensile tables print beside it.
  They were the only stretched (Tx51) 7xxx rows with an elongation above 17 %, so a tree model
  read "stretched 7xxx" as ductile: 7075-T651 was predicted 18 % elongation (11 % in the
  handbook), 7050-T7451 17 % (11 %). The whole row goes: the rejects file keeps it, and its
  strengths (below the handbook values of the tempers) are not used alone.
- ``Reference`` → ``reference``; ``doi`` = the registry DOI of the compilation.
- ``Alloy`` → ``alloy_name``: an integer designation becomes ``AA<number>`` (``AA7075``), except a
  1xxx number whose Al content is below 99.00 wt % (AA 1xxx means ≥ 99.00 % Al): that is another
  designation system (``1441`` is the Russian Al-Cu-Li-Mg alloy) and the number is kept bare.
  ``Unspecified`` (286 non-registered/experimental alloys) is kept verbatim so the paper
  protocol (:func:`paper_split`: train on named alloys, test on ``Unspecified``) can recover it; the
  Loop sheets' names (``L1A1-E``) are kept verbatim.

Composition basis
-----------------
- ``spec_midpoint``: a Sheet1 row of a registered alloy whose composition is identical to the
  composition the compilers used for that alloy's ASM Handbook rows (Reference starting
  ``Davis, J., 1993. Aluminum And Aluminum Alloys``). That composition is derived from the AA
  specification ranges (mid-points, impurity maxima halved or at the maximum), not analysed, and
  the compilers reused it for datasheet/paper rows that gave no chemistry (641 rows).
- ``nominal``: every other Sheet1 row (registered alloys with their own composition, 1441, and the
  ``Unspecified`` rows from patents and papers): the compilation does not say whether the
  composition was analysed, so it is taken as stated by the source (509 rows, 507 kept).
- ``measured``: the kept rows of the extra (Loop) sheets, the authors' own cast and analysed
  alloys (compositions to 4 decimals that differ from the designed ``-D`` values; 4 rows).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alloyml.errors import SourceError
from alloyml.process import normalise_route, temper_class
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

ELEMENT_COLUMNS: tuple[str, ...] = (
    "Si", "Fe", "Cu", "Mn", "Mg", "Cr", "Zn", "V", "Ti", "Zr", "Li", "Ni", "Ga", "Bi", "Pb",
    "B", "Be", "Sc",
)  # fmt: skip
BALANCE_COLUMN = "Al (min.)"
TARGET_MAP: dict[str, str] = {"YTS": "ys_mpa", "UTS": "uts_mpa", "EL": "elong_pct"}
PROCESS_NUMERIC: dict[str, str] = {
    "S/A Temp": "_sa_T",
    "Ageing Temp": "_age_T",
    "Ageing Time": "_age_t",
}
CATEGORICAL: tuple[str, ...] = (
    "ManufacturingMethod",
    "HeatTreatmentMedium",
    "StrainHardeningMethod",
    "AgeingType",
    "TreatmentAfterward",
    "ProductionShape",
)
REQUIRED: tuple[str, ...] = (
    "Alloy",
    *ELEMENT_COLUMNS,
    BALANCE_COLUMN,
    *PROCESS_NUMERIC,
    *CATEGORICAL,
    "Designation",
    *TARGET_MAP,
    "Reference",
)

#: Placeholder of the source: 25 degC in S/A Temp / Ageing Temp means "no such stage".
ROOM_T_C = 25.0
#: Offset of the k-th extra sheet's source_row (k = 1, 2, ...).
SHEET_OFFSET = 10_000
#: ``alloy_name`` of the 286 non-registered/experimental ``Sheet1`` rows (kept verbatim).
UNSPECIFIED = "Unspecified"
#: Reference prefix of the ASM Handbook rows whose compositions are AA-spec derived.
SPEC_REFERENCE = re.compile(r"^\s*Davis,\s*J\.,\s*1993\.\s*Aluminum And Aluminum Alloys", re.I)
_PREDICTED_NAME = re.compile(r"-D\s*$")
_PREDICTED_REF = re.compile(r"\bpredicted\b", re.I)
_COLD_WORK = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*%\s*work\s+hardening\s*$", re.I)
_AGEING_TYPES = {"no": "no", "natural": "natural", "artificial": "artificial", "overageing": "over"}


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    text = str(value).replace("\ufeff", "").replace("\xa0", " ").strip()
    return text or None


def alloy_name(value: Any, al_wt: float) -> str | None:
    """``AA<n>`` for a registered designation, the bare number for a non-AA 1xxx, else verbatim."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | np.integer) or (
        isinstance(value, float | np.floating) and np.isfinite(value) and float(value).is_integer()
    ):
        digits = str(int(value))
    else:
        text = _text(value)
        if text is None:
            return None
        if not text.isdigit():
            return text
        digits = text
    if len(digits) == 4 and digits[0] == "1" and np.isfinite(al_wt) and al_wt < 99.0 - 1e-9:
        return digits
    return f"AA{digits}"


def _is_prediction(alloy: Any, reference: Any) -> str | None:
    name, ref = _text(alloy), _text(reference)
    if name is not None and _PREDICTED_NAME.search(name):
        return "Alloy"
    if ref is not None and _PREDICTED_REF.search(ref):
        return "Reference"
    return None


def _process_code(raw: pd.DataFrame) -> list[str | None]:
    out = []
    for rec in raw[list(CATEGORICAL)].itertuples(index=False):
        parts = [f"{col}={_text(v)}" for col, v in zip(CATEGORICAL, rec, strict=True) if _text(v)]
        out.append("; ".join(parts) or None)
    return out


def _condition_text(raw: pd.DataFrame) -> list[str | None]:
    out = []
    for rec in raw[list(PROCESS_NUMERIC)].itertuples(index=False):
        parts = [
            f"{col}={_text(v)}" for col, v in zip(PROCESS_NUMERIC, rec, strict=True) if _text(v)
        ]
        out.append("; ".join(parts) or None)
    return out


#: Sheet1 rows whose ``EL`` is not an elongation (module docstring): source_row ->
#: (Designation, EL as given); a row is rejected only when both still match.
IMPLAUSIBLE_ELONGATION: dict[int, tuple[str, float]] = {796: ("T651", 31.0), 797: ("T7351", 37.0)}


def _sheet_rows(
    raw: pd.DataFrame, offset: int, extra: bool, spec: SourceSpec, rejects: RejectLog
) -> pd.DataFrame:
    """Canonical rows of one sheet (rejected rows included; :func:`finish` drops them)."""
    ids = [int(i) + offset for i in raw.index]
    if not extra:
        for sid, (designation, el) in IMPLAUSIBLE_ELONGATION.items():
            if sid not in raw.index:
                continue
            got_d, got_el = _text(raw.at[sid, "Designation"]), raw.at[sid, "EL"]
            if got_d == designation and pd.to_numeric(got_el, errors="coerce") == el:
                rejects.add(
                    sid,
                    "implausible_elongation",
                    "EL",
                    f"EL {el:g} % for 7075-{designation}: about three times the handbook "
                    "elongation of the temper; a reduction of area, not an elongation",
                    {"Alloy": raw.at[sid, "Alloy"], "Designation": got_d, "EL": got_el},
                )

    for sid, alloy, ref in zip(ids, raw["Alloy"], raw["Reference"], strict=True):
        col = _is_prediction(alloy, ref)
        if col is not None:
            rejects.add(
                sid,
                "model_prediction",
                col,
                f"{_text(alloy)!r}: values predicted by the authors' ML model, not measured",
                {"Alloy": alloy, "Reference": ref},
            )

    numeric = {e: e for e in ELEMENT_COLUMNS} | {BALANCE_COLUMN: "Al"}
    numeric |= PROCESS_NUMERIC | TARGET_MAP
    values, _ = parse_numeric_columns(raw, numeric, rejects, balance_ok=["Al"], row_ids=ids)

    rows = pd.DataFrame(index=raw.index)
    rows["source_row"] = ids
    comp = values[[*ELEMENT_COLUMNS, "Al"]].copy()
    comp["Al"] = comp["Al"].fillna(fill_balance(comp, "Al"))
    for e in comp.columns:
        rows[e] = comp[e]
    for canon in TARGET_MAP.values():
        rows[canon] = values[canon]

    # Solution (or, for O tempers, annealing) temperature; 25 = placeholder for "none".
    sa = values["_sa_T"]
    rows["sol1_T_C"] = sa.where(sa > ROOM_T_C)

    # Ageing stage by AgeingType.
    age_T = values["_age_T"].to_numpy()
    age_t = values["_age_t"].to_numpy()
    out_T = np.full(len(raw), np.nan)
    out_t = np.full(len(raw), np.nan)
    for i, (sid, kind_raw) in enumerate(zip(ids, raw["AgeingType"], strict=True)):
        kind = _AGEING_TYPES.get((_text(kind_raw) or "").casefold())
        if kind is None:
            rejects.add(
                sid,
                "unknown_ageing_type",
                "AgeingType",
                f"AgeingType {kind_raw!r} is not one of No/Natural/Artificial/Overageing",
                {"AgeingType": kind_raw},
            )
        elif kind == "natural":
            out_T[i] = ROOM_T_C
            if age_T[i] == ROOM_T_C and age_t[i] > 0:
                out_t[i] = age_t[i]
        elif kind in ("artificial", "over"):
            if age_T[i] > ROOM_T_C:
                out_T[i] = age_T[i]
            if age_t[i] > 0:
                out_t[i] = age_t[i]
    rows["age1_T_C"] = out_T
    rows["age1_t_h"] = out_t

    routes = []
    for sid, method in zip(ids, raw["ManufacturingMethod"], strict=True):
        try:
            routes.append(normalise_route(_text(method)))
        except ValueError as exc:
            rejects.add(sid, "unknown_route", "ManufacturingMethod", str(exc), {"route": method})
            routes.append(None)
    rows["route"] = routes

    rows["quench"] = raw["HeatTreatmentMedium"].map(
        lambda v: t.lower() if (t := _text(v)) else None
    )
    cold = []
    for v in raw["StrainHardeningMethod"]:
        m = _COLD_WORK.match(_text(v) or "")
        cold.append(float(m.group(1)) if m else np.nan)
    rows["cold_work_pct"] = cold
    rows["product_form"] = raw["ProductionShape"].map(
        lambda v: None if (t := _text(v)) is None or t.casefold() == "wrought" else t.lower()
    )
    rows["process_code"] = _process_code(raw)
    rows["condition_text"] = _condition_text(raw)
    rows["temper"] = raw["Designation"].map(_text)
    rows["temper_class"] = rows["temper"].map(temper_class)
    rows["reference"] = raw["Reference"].map(_text)
    rows["alloy_name"] = [
        alloy_name(a, al) for a, al in zip(raw["Alloy"], rows["Al"].to_numpy(), strict=True)
    ]

    if extra:
        rows["comp_basis"] = "measured"
    else:
        elements = [*ELEMENT_COLUMNS, "Al"]
        key = rows[elements].round(9).astype(str).agg("|".join, axis=1)
        named = rows["alloy_name"].fillna("").str.startswith("AA")
        is_spec_ref = rows["reference"].fillna("").str.match(SPEC_REFERENCE)
        asm = named & is_spec_ref
        spec_keys = set(zip(rows["alloy_name"][asm], key[asm], strict=True))
        rows["comp_basis"] = [
            "spec_midpoint" if (n and (a, k) in spec_keys) else "nominal"
            for n, a, k in zip(named, rows["alloy_name"], key, strict=True)
        ]

    props = list(TARGET_MAP.values())
    for sid in rows.loc[rows[props].isna().all(axis=1), "source_row"]:
        rejects.add(int(sid), "missing_all_targets", ",".join(TARGET_MAP), "no property value")
    return rows


def adapt(spec: SourceSpec, paths: list[Path]) -> AdapterResult:
    opts = spec.options
    header = int(opts.get("header", 0))
    extra_sheets = list(opts.get("extra_sheets") or [])
    if extra_sheets and len(paths) < 2:
        raise SourceError(
            f"options.extra_sheets {extra_sheets} need a second file (the self-designed alloys "
            "workbook) in files",
            source_id=spec.id,
        )
    plan: list[tuple[Path, str | None, int, bool]] = [(paths[0], opts.get("sheet"), 0, False)]
    plan += [(paths[1], s, SHEET_OFFSET * (k + 1), True) for k, s in enumerate(extra_sheets)]

    rejects = RejectLog(spec.id)
    frames = []
    rows_in = 0
    for path, sheet, offset, extra in plan:
        raw = read_table(path, spec.id, sheet=sheet, header=header)
        where = f"{Path(path).name}" + (f" sheet {sheet!r}" if sheet is not None else "")
        require_columns(raw, REQUIRED, spec.id, file=where)
        if len(raw) and int(raw.index.max()) >= SHEET_OFFSET:
            raise SourceError(
                f"{where} has {int(raw.index.max()) + 1} data rows; source_row offsets of "
                f"{SHEET_OFFSET} per sheet would collide",
                source_id=spec.id,
            )
        rows_in += len(raw)
        frames.append(_sheet_rows(raw, offset, extra, spec, rejects))
    rows = pd.concat(frames, ignore_index=True)
    return finish(rows, spec, rejects, rows_in=rows_in)


# -- what the papers on this source did (see :mod:`alloyml.sources.adapters`) -----------------


def parse_process_code(code: pd.Series) -> pd.DataFrame:
    """The ``process_code`` written by :func:`_process_code` back into one column per key.

    Examples:
        >>> parse_process_code(pd.Series(["AgeingType=No; ProductionShape=Sheet", None]))
          AgeingType ProductionShape
        0         No           Sheet
        1        NaN             NaN
    """
    rows = []
    for text in code.astype("string").fillna(""):
        parts = [p.split("=", 1) for p in str(text).split(";") if "=" in p]
        rows.append({k.strip(): v.strip() for k, v in parts})
    return pd.DataFrame(rows, index=code.index)


def paper_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """The 1150 rows of ``Sheet1`` (drops the authors' own Loop I/II measurements)."""
    rows = pd.to_numeric(frame["source_row"], errors="coerce")
    return frame[rows < SHEET_OFFSET].reset_index(drop=True)


def paper_split(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Row positions: train = named alloys, test = the ``Unspecified`` (novel) alloys."""
    name = frame["alloy_name"].astype("string").str.strip()
    test = (name == UNSPECIFIED).fillna(False).to_numpy(dtype=bool)
    return np.flatnonzero(~test), np.flatnonzero(test)


def paper_categories(frame: pd.DataFrame) -> pd.DataFrame:
    """One-hot of the raw temper (``H14`` vs ``H18``), quench medium, product form and each
    categorical process column kept in ``process_code`` (``StrainHardeningMethod``,
    ``AgeingType``, ``TreatmentAfterward``...)."""
    parts = parse_process_code(frame["process_code"])
    blocks = [
        one_hot(frame["temper"], "temper"),
        one_hot(frame["quench"], "quench"),
        one_hot(frame["product_form"], "form"),
    ]
    blocks += [one_hot(parts[c], c) for c in parts.columns]
    return pd.concat(blocks, axis=1)
