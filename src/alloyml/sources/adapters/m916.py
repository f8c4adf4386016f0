"""Adapter for ``ghorbani_m916``: the M-916 magnesium alloy database (Ghorbani et al. 2023).

Source: ``mg/ghorbani_m916/m916_wt.csv`` (916 rows, one alloy condition + one tensile test per
row; see ``SOURCE.md`` beside the file). ``source_row`` is the 0-based data-row number of the CSV
(first line after the header = 0), so rows 302, 305, 523 ... below are the rows SOURCE.md names.

Column map
    ==========================  ================================================================
    ``Name``                    ``alloy_name``; every U+FEFF (BOM) removed, outer spaces stripped
    ``Condition``               ``condition_text`` kept raw apart from BOMs and outer spaces
                                (empty -> NaN, 131 rows); parsed by :func:`parse_condition`
    ``Coded`` + ``Process-      ``process_code`` = ``"<Coded>|<Process-Heat treatment>"`` verbatim
    Heat treatment``            (outer spaces/BOM stripped, casing and inner spaces kept),
                                e.g. ``"4|Cast (Die cast, HPDC, fast cool)"``
    ``Coded``                   ``route`` (the primary route only, see "Route and state"):
                                1 extruded, 2 ecap, 3 cast_sand, 4 cast_die, 5 cast (any
                                casting method, then heat treated), 6 from the condition text:
                                'rolled' (roll/sheet/plate), 'forged' (forg), 'wrought' otherwise
                                or when both are named
    31 element columns          wt % (file name "wt%", SOURCE.md), same names in the schema. Mg is
                                given explicitly as the balance; it is recomputed with
                                :func:`fill_balance` only if a cell says ``bal``/is empty. A 0
                                is kept as 0 (reported absent: the table is a full 31-element
                                vector); elements outside the 31 columns stay NaN (not reported)
    ``YS(MPa)``, ``UTS(MPa)``,  ``ys_mpa``, ``uts_mpa``, ``elong_pct`` (MPa, MPa, %)
    ``Ductility``
    ``DOI``                     ``doi`` (186 rows; the ``https://doi.org/`` prefix removed, the
                                bare DOI kept); empty -> NaN. No paper DOI is added to the other
                                rows: ``doi`` is the DOI of the row's own source
    ``Sum``                     verified, not emitted: rows whose 31 elements differ from ``Sum``
                                by more than 0.011 wt % are listed in ``notes['sum_mismatch_rows']``
                                (none in the pinned file; the column is optional)
    ==========================  ================================================================

Route and state (issue 10: one process-state model). ``route`` carries only how the alloy was
shaped; the thermal-mechanical state goes in ``temper`` so that
:func:`alloyml.process.decode_state` (``temper``, ``temper_class``, system ``mg``, ASTM B296)
gives it. Level 5 "cast, then heat treated" used to be only route ``cast`` with no temper, so a
user's cast + F landed on heat-treated rows; now its state is stated. Decisions, in order:

* ``temper`` = the designation token of the condition text when there is one
  (:func:`parse_condition`: "Cast T6" -> ``T6``, "Sand Cast T61" -> ``T61``);
* else the condition text itself when the decoder reads a state from it ("as-cast (730C)",
  "Cast + Solution Treated at 500 °C + Quenched + peak-aged ...", "extruded+ aging",
  "Hot rolled at 400 °C – Annealed ...", "Sand/Chill Cast T5 or T6" = heat treated, detail
  unknown, "As Homogenized");
* else the state the coded level states: levels 3 and 4 (cast, sand / die, with no
  heat-treatment level of their own: the authors put every heat-treated casting in level 5)
  -> ``as-cast``, except "Friction stir" (not a cast state: unknown); level 5 -> ``heat
  treated`` (detail unknown: "Cast", "cast+HT", "AM50Acast", "SO2"); levels 1, 2 and 6 whose
  text names only the hot-working step ("Extrusion(300C)", "ECAE", "Hot rolling", "Forgings")
  -> ``as-extruded`` / ``as-processed (ECAP)`` / ``as-rolled`` / ``as-forged`` (nothing is
  stated after the working step);
* else NaN (unknown): empty conditions of levels 1 and 6, "wrought", "4h / RHT", "He + R".

``temper_class`` = ``decode_state(temper, system="mg").temper_class``.

Level-5 rows whose text names another route (the ``route_text_conflicts`` rows) get the route
the text names: extruded ("rheocast, extruded (576C)"), rolled (sheet / plate / rolled), forged,
wrought for an H temper with no product named (H tempers are strain-hardened wrought products,
ASTM B296), cast_die when the category text says die cast; the other level-5 rows stay ``cast``
(method not stated). Level-4 rows whose text says "Permanent mold cast" get cast_perm_mould.

Composition basis: ``comp_basis = 'nominal'``. The rows are compiled from literature and
handbooks (ASM / MatWeb-style entries such as "Magnesium AZ31B T1 Wrought Alloy (UNS M11311)");
most compositions are nominal or specification values and the file does not say which rows are
analysed, so none is claimed to be measured.

Test temperature: not given (SOURCE.md: presumably room temperature) -> ``test_T_C`` NaN.

Process parsing (:func:`parse_condition`, from ``Condition`` only; the name is not parsed).
Conservative: a number is set only when the text states it with its unit, else NaN.

* Segments: the text is split at top-level ``+``, ``,``, ``;``, ``ñ`` / `` – `` / `` - ``
  (never inside parentheses, so "(490 °C sample, 370 °C mold, 9:1)" stays one segment).
* Temperatures need a unit: ``°C``, ``C``, ``?C`` (a mis-encoded degree sign), ``degree C``,
  ``K``; kelvin -> °C by -273.15 (rounded to 0.01), e.g. "extruded (453K)" -> 179.85. A bare
  number ("rolled at 400 (95% reduction)", "500/8", "500/10 h") gives no temperature.
  "∼500 °C" is read as 500.
* Times need a unit: h / hr / hours, min, s, day(s) -> hours. "aged at 200 °C/72" gives
  ``age1_T_C`` = 200 and ``age1_t_h`` NaN (the unit of 72 is not stated).
* Stages by keyword: 'aged'/'ageing'/'aging' -> age1, age2, age3 in order; 'solution' / 'SHT'
  (or a T4 token in a segment holding a temperature or time) -> sol1, sol2, sol3;
  'homogeni...' -> homogenisation; a generic heating ("heated at 420C") directly followed by a
  quench segment -> solution treatment ("cast, heated at 420C, water quenching T4, aged at
  200C(T6)" -> sol1_T_C 420, age1_T_C 200). Anneals, generic "heat treatment for 1h at 300 C",
  casting and mould temperatures, and unknown labels ("RHT") are not stages: they stay in
  ``condition_text`` only.
* Unlabelled T/t segments ("510 °C/16 h") are placed by position: directly followed by an
  ageing or quench step -> solution; otherwise, before the first deformation step with a
  deformation after it -> homogenisation (ingot treatment before working); otherwise, after a
  deformation step and not followed by ageing -> ageing if T <= 300 °C, solution if
  T >= 400 °C (Mg alloys are aged at ~150-250 °C and solution treated at ~400-550 °C, ASM
  Handbook Vol. 4, Heat treating of magnesium alloys), else nothing. A multi-step pre-working
  schedule ("500 °C/2 h + 520 °C/12 h + extruded") has one homogenisation column pair: the step
  with the highest temperature (ties: the longer) is reported, the schedule stays in the text.
* ``deform_T_C``: the temperature of the last hot-deformation segment (extru-, roll-, forg-,
  ECAP/ECAE); tool temperatures (mould/mold, die, rollers, container) are skipped and within the
  segment the last remaining temperature is taken ("rolled at 400 °C and finally 350 °C" -> 350,
  "(490 °C sample, 370 °C mold, 9:1)" -> 490). NaN when that last segment states no temperature.
  Cold steps ("cold rolled", "at room temperature", "RT") are not hot deformation. Exception
  (adapter, not parser): "as-cast, extruded (576C)" and "rheocast, extruded (576C)" (rows 258,
  259) -> NaN: the same series writes (576C) on its die-cast, as-cast and rheocast rows, so
  576 °C is the (semi-solid) casting temperature of AZ91D, whose solidus is ~470 °C; it cannot be
  the extrusion temperature. "Extrusion(300K)" (row 711, AZ91) is kept as 26.85 °C as stated;
  it may be a typo for 300 °C, for the clean stage to judge.
* ``extrusion_ratio``: "N:1" inside an extrusion segment, "ER N" or "extrusion ratio of N";
  the last stated (a double extrusion 16:1 + 16:1 gives 16, not a product).
* ``rolling_reduction_pct``: "N% reduction" of the last rolling segment stating one;
  ``cold_work_pct``: the reduction of a cold-rolling step ("cold rolled (14.5% reduction)") or a
  pre-ageing strain "deformed (5%)" after solution treatment and quench.
* ECAP passes ("2 passes of ECAP at 330 °C") are not counted; the ECAP temperature is a
  deformation temperature.
* ``temper``: the last temper token as written (case-sensitive ``T1``-``T9`` with suffixes such
  as T61/T6a/T5D, ``F``, ``O``, ``W``, ``H2``/``H24``), ``temper_class`` via
  :func:`alloyml.process.temper_class`. No temper when two different classes are joined by
  'or' ("Sand/Chill Cast T5 or T6"), or when a hot-deformation step follows the token
  ("squeeze casting, extruded, T6, extruded at 335C"). "Sheet, Plate 0" (a zero, probably O) is
  not read. Without a token, an explicit as-fabricated phrase ("as-cast", "as cast",
  "as-extruded", "as rolled", "as-forged") with no heat-treatment word gives ``temper_class`` 'F'
  (ANSI H35.1: F = as fabricated) and leaves ``temper`` NaN (nothing written). This is
  :func:`parse_condition`; the adapter then writes the row's ``temper`` and ``temper_class``
  as described under "Route and state".
* ``quench``: 'water' when "water quench..." is written; else NaN.

Traps from SOURCE.md, handled here or left for the clean stage (the adapter does not fix
compositions or names and does not reject physically odd rows):

* Mislabelled names (rows 302 ``Z6(1)`` with the AZ31-5Li composition, 305 and 523 with the Li
  of another alloy, 479-481 nominal AZ31-1/3/5Li repeating the measured rows' properties) are
  kept as they are and listed in ``notes['mislabelled_rows']``.
* Li = 0.2 in the WE43-T6 and WE54-T6 rows (107, 249) is the specification's impurity maximum,
  not an addition: the value is kept; the clean stage sets ``flag_impurity_li`` (rows listed in
  ``notes['impurity_li_rows']``). The 19 rows with Li >= 5.7 wt % are kept as they are.
* Process category and text disagree in 16 rows (code 5 "cast then heat treated" on wrought
  sheet/plate or H-temper rows such as "Hard Rolled Sheet H24", on "rheocast, extruded (576C)",
  and one code 5 row whose category text says die cast): the route follows the text (see
  "Route and state"); the rows stay listed in ``notes['route_text_conflicts']``.
* Metal-matrix composites (rows 286-290 "...-10vol%Sic", row 676 "Mg/SiC (33.6 pct)" whose
  composition is Mg 100 because SiC has no column) are kept; they are listed in
  ``notes['composite_rows']`` so that the clean stage can drop or flag them.
* Rows of rapidly solidified / powder material (R/S, P/M, RS P/M in the name or text) are kept.

Rejects (reason, column): ``non_numeric`` (an element, property or ``Coded`` cell that
:func:`alloyml.sources.base.parse_cell` cannot read), ``balance_in_wrong_column``,
``unknown_process_code`` (``Coded`` not an integer 1-6; an empty ``Coded`` keeps the row with
route NaN), ``missing_all_targets`` (no YS, UTS or ductility). The pinned file has none.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alloyml.process import decode_state
from alloyml.process import temper_class as _temper_class
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

#: The 31 element columns of the file, in file order (all are canonical element names).
ELEMENT_COLUMNS: tuple[str, ...] = (
    "Mg", "Nd", "Ce", "La", "Zn", "Sn", "Al", "Ca", "Zr", "Ag", "Ho", "Mn", "Y", "Gd", "Cu",
    "Si", "Li", "Yb", "Th", "Sb", "Pr", "Ga", "Be", "Fe", "Ni", "Sc", "Tb", "Dy", "Er", "Sr", "Bi",
)  # fmt: skip

PROPERTY_COLUMNS: dict[str, str] = {
    "YS(MPa)": "ys_mpa",
    "UTS(MPa)": "uts_mpa",
    "Ductility": "elong_pct",
}

REQUIRED: tuple[str, ...] = (
    "Name",
    "Condition",
    "Process-Heat treatment",
    "Coded",
    *ELEMENT_COLUMNS,
    *PROPERTY_COLUMNS,
)

ROUTE_BY_CODE: dict[int, str | None] = {
    1: "extruded",
    2: "ecap",
    3: "cast_sand",
    4: "cast_die",
    5: "cast",
    6: None,  # from the condition text: rolled / forged / wrought
}

#: Rows SOURCE.md names as mislabelled (shifted names inherited from the ANU precursor).
MISLABELLED_ROWS: tuple[int, ...] = (302, 305, 479, 480, 481, 523)

#: Condition texts whose parenthesised temperature is the casting temperature of the series,
#: not an extrusion temperature (see the module docstring).
CASTING_TEMPERATURE_TEXTS: frozenset[str] = frozenset(
    {"as-cast, extruded (576C)", "rheocast, extruded (576C)"}
)

# --------------------------------------------------------------------------------------------
# Condition parser
# --------------------------------------------------------------------------------------------

_NUMBER = r"\d+(?:\.\d+)?"
_TEMP = re.compile(rf"(?P<v>{_NUMBER})\s*(?:°|º|˚|\?)?\s*(?:degrees?\s*)?(?P<u>[CK])(?![A-Za-z])")
_TIME = re.compile(
    rf"(?P<v>{_NUMBER})\s*\??\s*"
    r"(?P<u>hours?|hrs?|h|minutes?|mins?|seconds?|secs?|s|days?)(?![A-Za-z])"
)
_HOURS = {"h": 1.0, "hr": 1.0, "hrs": 1.0, "hour": 1.0, "hours": 1.0, "min": 1 / 60,
          "mins": 1 / 60, "minute": 1 / 60, "minutes": 1 / 60, "s": 1 / 3600, "sec": 1 / 3600,
          "secs": 1 / 3600, "second": 1 / 3600, "seconds": 1 / 3600, "day": 24.0,
          "days": 24.0}  # fmt: skip
_RATIO = re.compile(rf"(?<![\d.])(?P<v>{_NUMBER})\s*:\s*1(?![\d.])")
_ER_UPPER = re.compile(rf"\bER\s*(?:=|:|of)?\s*(?P<v>{_NUMBER})")
_ER_WORDS = re.compile(rf"extrusion ratio\s*(?:of|=|:|was|is)?\s*(?P<v>{_NUMBER})", re.I)
_REDUCTION = re.compile(
    rf"(?P<v>{_NUMBER})\s*%\s*(?:thickness\s+)?reduction|reduction\s*(?:of|=|:)?\s*(?P<w>{_NUMBER})\s*%",
    re.IGNORECASE,
)
_PRESTRAIN = re.compile(rf"deformed\s*\(?\s*(?P<v>{_NUMBER})\s*%", re.IGNORECASE)
_TEMPER = re.compile(r"(?<![A-Za-z0-9])(?P<t>T[1-9]\d{0,2}[A-Za-z]?|H\d{1,2}|[FOW])(?![A-Za-z0-9])")
_OR = re.compile(r"\bor\b", re.IGNORECASE)
_AS_FAB = re.compile(r"\bas[-\s]+(?:cast|extruded|rolled|forged)\b", re.IGNORECASE)
_HEAT_WORDS = re.compile(
    r"ag(?:e|ed|eing|ing)\b|solution|homogeni|anneal|heat|quench|\bHT\b|\bSHT\b", re.IGNORECASE
)

_AGE = re.compile(r"ag(?:e|ed|eing|ing)\b", re.IGNORECASE)
_SOL = re.compile(r"solution|\bSHT\b", re.IGNORECASE)
_HOMOG = re.compile(r"homogeni", re.IGNORECASE)
_DEFORM = re.compile(r"extru|roll(?!-?cast)|forg|\becap|\becae|swag", re.IGNORECASE)
_EXTRU = re.compile(r"extru", re.IGNORECASE)
_ROLL = re.compile(r"roll(?!-?cast)", re.IGNORECASE)
_COLD = re.compile(r"\bcold\b|room\s+temperature|\bRT\b", re.IGNORECASE)
_GENERIC_HEAT = re.compile(r"anneal|heat|\bHT\b", re.IGNORECASE)
_CAST = re.compile(r"cast|mou?ld\b", re.IGNORECASE)
_QUENCH = re.compile(r"quench", re.IGNORECASE)
_TOOL = re.compile(r"^\s*(?:mou?ld|die|rollers?|container|tool)", re.IGNORECASE)
_SPLIT_CHARS = "+,;ñ"
_SPLIT_DASH = re.compile(r"\s[-–—]\s")

PARSED_KEYS: tuple[str, ...] = (
    "temper", "temper_class", "quench",
    "homog_T_C", "homog_t_h",
    "sol1_T_C", "sol1_t_h", "sol2_T_C", "sol2_t_h", "sol3_T_C", "sol3_t_h",
    "age1_T_C", "age1_t_h", "age2_T_C", "age2_t_h", "age3_T_C", "age3_t_h",
    "cold_work_pct", "extrusion_ratio", "rolling_reduction_pct", "deform_T_C",
)  # fmt: skip


def _clean_text(text: Any) -> str:
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return ""
    return str(text).replace("\ufeff", "").replace("\xa0", " ").strip()


def _segments(text: str) -> list[tuple[int, str]]:
    """Split at top-level separators; returns (start offset, segment text) of non-empty parts."""
    parts: list[tuple[int, str]] = []
    depth, start = 0, 0
    masked = _SPLIT_DASH.sub(lambda m: "\x00" * len(m.group(0)), text)
    for i, ch in enumerate(masked):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(depth - 1, 0)
        elif depth == 0 and (ch in _SPLIT_CHARS or ch == "\x00"):
            parts.append((start, text[start:i]))
            start = i + 1
    parts.append((start, text[start:]))
    return [(s, seg.strip()) for s, seg in parts if seg.strip(" \x00-–—")]


def _to_celsius(value: str, unit: str) -> float:
    v = float(value)
    return round(v - 273.15, 2) if unit == "K" else v


def _temperatures(seg: str) -> list[tuple[float, bool]]:
    """Temperatures in °C in order, each with ``True`` when it is a tool (mould/die/roller) value."""
    out = []
    for m in _TEMP.finditer(seg):
        tool = bool(_TOOL.match(seg[m.end() :]))
        out.append((_to_celsius(m.group("v"), m.group("u")), tool))
    return out


def _times(seg: str) -> list[float]:
    return [float(m.group("v")) * _HOURS[m.group("u").lower()] for m in _TIME.finditer(seg)]


def _is_unlabelled(seg: str) -> bool:
    """Only numbers and units: no words left after removing temperatures and times."""
    rest = _TIME.sub(" ", _TEMP.sub(" ", seg))
    return not re.search(r"[A-Za-z]", rest)


def _kind(seg: str) -> str:
    """Classify one segment: age, sol, homog, deform, cold, heat, cast, quench, plain, other."""
    has_numbers = bool(_TEMP.search(seg) or _TIME.search(seg))
    if _AGE.search(seg):
        return "age"
    if _SOL.search(seg) or (has_numbers and re.search(r"(?<![A-Za-z0-9])T4(?![0-9])", seg)):
        return "sol"
    if _HOMOG.search(seg):
        return "homog"
    if _DEFORM.search(seg):
        return "cold" if _COLD.search(seg) else "deform"
    if _GENERIC_HEAT.search(seg):
        return "heat"
    if _QUENCH.search(seg):
        return "quench"
    if _CAST.search(seg):
        return "cast"
    if has_numbers and _is_unlabelled(seg):
        return "plain"
    if re.search(r"\bheated\b", seg, re.IGNORECASE):
        return "heat"
    return "other"


def _first(values: list[float]) -> float:
    return values[0] if values else math.nan


def parse_condition(text: Any) -> dict[str, Any]:
    """Parse one free-text ``Condition`` of M-916 into canonical process fields.

    Returns a dict with every key of :data:`PARSED_KEYS`: ``temper``/``temper_class``/``quench``
    (str or None) and the numeric stage columns (float, NaN when not stated). The rules are in
    the module docstring.

    Examples:
        >>> parse_condition("extruded (453K)")["deform_T_C"]
        179.85
        >>> d = parse_condition("510 °C/16 h + extruded (400 °C sample, 350 °C mold, 15:1)"
        ...                     " + aged at 200 °C/92 h")
        >>> d["homog_T_C"], d["homog_t_h"], d["deform_T_C"], d["extrusion_ratio"], d["age1_t_h"]
        (510.0, 16.0, 400.0, 15.0, 92.0)
        >>> parse_condition("Cast T6")["temper_class"]
        'T6'
    """
    out: dict[str, Any] = {k: math.nan for k in PARSED_KEYS}
    out.update(temper=None, temper_class=None, quench=None)
    text = _clean_text(text)
    if not text:
        return out
    segs = _segments(text)
    kinds = [_kind(s) for _, s in segs]

    # --- deformation: temperature, ratio, reduction, cold work -------------------------------
    deform_idx = [i for i, k in enumerate(kinds) if k in ("deform", "cold")]
    hot_idx = [i for i, k in enumerate(kinds) if k == "deform"]
    if hot_idx:
        temps = [t for t, tool in _temperatures(segs[hot_idx[-1]][1]) if not tool]
        out["deform_T_C"] = temps[-1] if temps else math.nan
    for i in deform_idx:
        seg = segs[i][1]
        if _EXTRU.search(seg):
            ratios = [float(m.group("v")) for m in _RATIO.finditer(seg)]
            if ratios:
                out["extrusion_ratio"] = ratios[-1]
        if _ROLL.search(seg):
            reds = [float(m.group("v") or m.group("w")) for m in _REDUCTION.finditer(seg)]
            if reds:
                out["rolling_reduction_pct"] = reds[-1]
                if kinds[i] == "cold":
                    out["cold_work_pct"] = reds[-1]
    for rx in (_ER_UPPER, _ER_WORDS):
        found = [float(m.group("v")) for m in rx.finditer(text)]
        if found:
            out["extrusion_ratio"] = found[-1]
    strains = [float(m.group("v")) for m in _PRESTRAIN.finditer(text)]
    if strains:
        out["cold_work_pct"] = strains[-1]

    # --- heat-treatment stages --------------------------------------------------------------
    homog: list[tuple[float, float]] = []
    sols: list[tuple[float, float]] = []
    ages: list[tuple[float, float]] = []
    first_deform = deform_idx[0] if deform_idx else None
    for i, (kind, (_, seg)) in enumerate(zip(kinds, segs, strict=True)):
        temps = [t for t, tool in _temperatures(seg) if not tool]
        stage = (_first(temps), _first(_times(seg)))
        nxt = kinds[i + 1] if i + 1 < len(kinds) else None
        if kind == "age":
            ages.append(stage)
        elif kind == "sol":
            sols.append(stage)
        elif kind == "homog":
            homog.append(stage)
        elif kind == "heat" and nxt == "quench" and re.search(r"\bheated\b", seg, re.I):
            sols.append(stage)
        elif kind == "plain":
            if nxt in ("age", "quench"):
                sols.append(stage)
            elif first_deform is not None and i < first_deform:
                homog.append(stage)
            elif first_deform is not None and i > first_deform and "age" not in kinds[i + 1 :]:
                t = stage[0]
                if t <= 300:
                    ages.append(stage)
                elif t >= 400:
                    sols.append(stage)
    if homog:
        best = max(homog, key=lambda s: (-math.inf if math.isnan(s[0]) else s[0], _nz(s[1])))
        out["homog_T_C"], out["homog_t_h"] = best
    for n, (t, d) in enumerate(sols[:3], start=1):
        out[f"sol{n}_T_C"], out[f"sol{n}_t_h"] = t, d
    for n, (t, d) in enumerate(ages[:3], start=1):
        out[f"age{n}_T_C"], out[f"age{n}_t_h"] = t, d

    # --- temper -------------------------------------------------------------------------------
    tokens = list(_TEMPER.finditer(text))
    if tokens:
        last = tokens[-1]
        classes = {_temper_class(m.group("t")) for m in tokens}
        ambiguous = len(classes) > 1 and any(
            _OR.search(text[a.end() : b.start()]) for a, b in zip(tokens, tokens[1:], strict=False)
        )
        seg_of_token = max((i for i, (s, _) in enumerate(segs) if s <= last.start()), default=0)
        later_hot = any(i > seg_of_token for i in hot_idx)
        if not ambiguous and not later_hot:
            out["temper"] = last.group("t")
            out["temper_class"] = _temper_class(last.group("t"))
    elif _AS_FAB.search(text) and not _HEAT_WORDS.search(text):
        out["temper_class"] = "F"
    if re.search(r"water[-\s]*quench", text, re.IGNORECASE):
        out["quench"] = "water"
    return out


def _nz(x: float) -> float:
    return -math.inf if math.isnan(x) else x


def _route(code: float, text: str) -> str | None:
    if math.isnan(code) or code != int(code) or int(code) not in ROUTE_BY_CODE:
        return None  # empty, or rejected as unknown_process_code
    route = ROUTE_BY_CODE[int(code)]
    if route is not None:
        return route
    low = text.lower()
    rolled = bool(_ROLL.search(low) or re.search(r"sheet|plate", low))
    forged = "forg" in low
    if rolled and not forged:
        return "rolled"
    if forged and not rolled:
        return "forged"
    return "wrought"


_H_TOKEN = re.compile(r"(?<![A-Za-z0-9])H\d{1,2}(?![A-Za-z0-9])")
_PERM_MOULD = re.compile(r"permanent\s+mou?ld", re.IGNORECASE)
_AS_WORKED = {1: "as-extruded", 2: "as-processed (ECAP)"}


def _route_for(code: float, text: str, category: str) -> str | None:
    """Primary route: :func:`_route` with the text's corrections (see "Route and state")."""
    route = _route(code, text)
    if route == "cast" and int(code) == 5:
        low = text.lower()
        if "die" in category.lower():
            return "cast_die"
        if _EXTRU.search(low):
            return "extruded"
        if _ROLL.search(low) or re.search(r"sheet|plate", low):
            return "rolled"
        if "forg" in low:
            return "forged"
        if _H_TOKEN.search(text):
            return "wrought"
    if route == "cast_die" and _PERM_MOULD.search(text):
        return "cast_perm_mould"
    return route


def state_temper(code: float, text: str, token: str | None) -> str | None:
    """The ``temper`` of one row: its designation, its decodable text, or its level's state."""
    if token:
        return token
    if text and decode_state(text, system="mg").known:
        return text
    if math.isnan(code) or code != int(code):
        return None
    level = int(code)
    if level in (3, 4):
        return None if re.search(r"friction|stir", text, re.IGNORECASE) else "as-cast"
    if level == 5:
        return "heat treated"
    if text and _DEFORM.search(text) and not _HEAT_WORDS.search(text):
        if level in _AS_WORKED:
            return _AS_WORKED[level]
        low = text.lower()
        if "forg" in low:
            return "as-forged"
        if _ROLL.search(low):
            return "as-rolled"
    return None


def _bare_doi(raw: Any) -> str | None:
    text = _clean_text(raw)
    if not text:
        return None
    text = re.sub(r"^(?:https?://(?:dx\.)?doi\.org/|doi:\s*)", "", text, flags=re.IGNORECASE)
    return text or None


# --------------------------------------------------------------------------------------------
# Adapter
# --------------------------------------------------------------------------------------------


def adapt(spec: SourceSpec, paths: list[Path]) -> AdapterResult:
    """Map ``m916_wt.csv`` to canonical rows (see the module docstring for every decision)."""
    path = Path(paths[0])
    raw = read_table(
        path, spec.id, sheet=spec.options.get("sheet"), header=int(spec.options.get("header", 0))
    )
    require_columns(raw, REQUIRED, spec.id, file=path.name)
    rejects = RejectLog(spec.id)
    ids = [int(i) for i in raw.index]

    numeric = {c: c for c in ELEMENT_COLUMNS} | PROPERTY_COLUMNS | {"Coded": "coded"}
    values, kinds = parse_numeric_columns(raw, numeric, rejects, balance_ok=("Mg",), row_ids=ids)

    # Process code: an integer 1..6, or empty (route unknown).
    for sr, code in zip(ids, values["coded"], strict=True):
        if not math.isnan(code) and (code != int(code) or int(code) not in ROUTE_BY_CODE):
            rejects.add(sr, "unknown_process_code", "Coded", f"Coded={code!r} is not 1-6",
                        raw.loc[sr].to_dict())  # fmt: skip

    targets = values[list(PROPERTY_COLUMNS.values())]
    for sr in targets.index[targets.isna().all(axis=1)]:
        rejects.add(int(sr), "missing_all_targets", ",".join(PROPERTY_COLUMNS),
                    "no YS, UTS or ductility", raw.loc[sr].to_dict())  # fmt: skip

    comp = values[list(ELEMENT_COLUMNS)].copy()
    fill = kinds["Mg"].isin(["balance", "missing"]).to_numpy()
    if fill.any():
        comp.loc[fill, "Mg"] = fill_balance(comp.loc[fill], "Mg")

    conditions = [_clean_text(c) for c in raw["Condition"]]
    parsed = pd.DataFrame([parse_condition(c) for c in conditions], index=raw.index)
    cast_t = np.array([c in CASTING_TEMPERATURE_TEXTS for c in conditions])
    parsed.loc[cast_t, "deform_T_C"] = math.nan

    category = [_clean_text(c) for c in raw["Process-Heat treatment"]]
    code_text = [_clean_text(c) for c in raw["Coded"]]
    rows = pd.DataFrame(index=raw.index)
    rows["source_row"] = ids
    rows["alloy_name"] = [_clean_text(n) or None for n in raw["Name"]]
    rows["doi"] = [_bare_doi(d) for d in raw["DOI"]] if "DOI" in raw else None
    rows["comp_basis"] = "nominal"
    for el in ELEMENT_COLUMNS:
        rows[el] = comp[el]
    rows["route"] = [
        _route_for(c, t, k) for c, t, k in zip(values["coded"], conditions, category, strict=True)
    ]
    rows["process_code"] = [
        f"{k}|{c}" if (k or c) else None for k, c in zip(code_text, category, strict=True)
    ]
    rows["condition_text"] = [c or None for c in conditions]
    for col in PARSED_KEYS:
        rows[col] = parsed[col]
    rows["temper"] = [
        state_temper(c, t, None if pd.isna(k) else str(k))
        for c, t, k in zip(values["coded"], conditions, parsed["temper"], strict=True)
    ]
    rows["temper_class"] = [
        None if t is None else decode_state(t, system="mg").temper_class for t in rows["temper"]
    ]
    for canon in PROPERTY_COLUMNS.values():
        rows[canon] = values[canon]

    notes: dict[str, Any] = {}
    if "Sum" in raw:
        total = pd.to_numeric(raw["Sum"], errors="coerce")
        off = (comp.fillna(0.0).sum(axis=1) - total).abs() > 0.011
        off &= ~raw.index.isin(list(rejects.rejected_rows))
        notes["sum_mismatch_rows"] = [int(i) for i in raw.index[off.to_numpy()]]
    notes["mislabelled_rows"] = [r for r in MISLABELLED_ROWS if r in set(ids)]
    names = rows["alloy_name"].fillna("")
    we = names.str.contains(r"WE4\d|WE5\d", regex=True) & np.isclose(comp["Li"], 0.2)
    notes["impurity_li_rows"] = [int(i) for i in raw.index[we.to_numpy()]]
    conflict = (values["coded"] == 5) & (
        pd.Series(conditions, index=raw.index).str.contains(
            r"(?i)sheet|plate|roll|extru|forg|wrought|(?-i:(?<![A-Za-z0-9])H\d{1,2}(?![A-Za-z0-9]))",
            regex=True,
        )
        | pd.Series(category, index=raw.index).str.contains("Die", regex=False)
    )
    notes["route_text_conflicts"] = [int(i) for i in raw.index[conflict.to_numpy()]]
    notes["casting_temperature_rows"] = [int(i) for i in raw.index[cast_t]]
    composite = names.str.contains(r"(?i)(?<!un)reinforced|\bsic\b|vol%\s*sic", regex=True)
    notes["composite_rows"] = [int(i) for i in raw.index[composite.to_numpy()]]
    return finish(rows, spec, rejects, rows_in=len(raw), **notes)


# -- what the papers on this source did (see :mod:`alloyml.sources.adapters`) -----------------


def paper_categories(frame: pd.DataFrame) -> pd.DataFrame:
    """One-hot of ``Coded`` (the integer before ``|`` in ``process_code``)."""
    coded = frame["process_code"].astype("string").str.split("|").str[0]
    return one_hot(coded, "coded")
