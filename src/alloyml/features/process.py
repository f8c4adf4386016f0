"""Process descriptors: heat-treatment stages, thermal exposure, deformation, route and temper.

Input is the canonical process columns (``alloyml.schema``): stage temperatures ``*_T_C`` (°C)
and times ``*_t_h`` (h), where ``NaN`` means *absent or unknown*; ``cold_work_pct``,
``extrusion_ratio``, ``rolling_reduction_pct``, ``deform_T_C``; ``route`` and ``temper_class``.

Encoding of absent and unknown values (models downstream are scikit-learn / XGBoost; every output
is a finite float):

* A stage is **present** when its time is known and > 0, or its time is unknown and its
  temperature is known. A known time of 0 means the stage did not happen (some sources write absent
  stages as ``T = 0, t = 0`` or ``T = 470, t = 0``), so its temperature is ignored.
* ``proc_has_<stage>`` is the presence indicator. ``proc_<stage>_T_C`` and ``proc_<stage>_t_h`` hold
  the value for a present stage and **0** otherwise: 0 is never read alone, always next to the
  indicator (0 °C is not a real ageing temperature in any source). A present stage with an
  unknown temperature or time also encodes it as 0 and counts it in ``proc_n_params_unknown``.
* Deformation values are 0 when unknown, with a ``proc_<name>_known`` indicator;
  ``proc_log_extrusion_ratio`` is ``ln(extrusion_ratio)`` (0 = no reduction = unknown-neutral).
* ``route`` and ``temper_class`` are one-hot over the preset's frozen category lists plus an
  ``_unknown`` column; a value outside the list raises :class:`~alloyml.errors.SchemaError`.

Thermal exposure of ageing (Hollomon–Jaffe / Larson–Miller form): for a stage at absolute
temperature ``T`` (K) held ``t`` hours, ``P = T (C + log10 t)`` with ``C = 20``
(J. H. Hollomon, L. D. Jaffe, Trans. AIME 162 (1945) 223; F. R. Larson, J. Miller, Trans. ASME 74
(1952) 765). Stages combine by converting each to its equivalent time at the highest stage
temperature ``T_ref``, ``t_eq,i = 10^(P_i / T_ref - C)``, and ``P_eq = T_ref (C + log10 Σ t_eq,i)``
(additivity of equivalent times; H. R. Shercliff, M. F. Ashby, Acta Metall. Mater. 38 (1990)
1789). ``P_eq`` equals ``P`` of a single stage. Stages without both T and t give ``P = 0``.

Retrogression and re-ageing (RRA; B. M. Cina, US Patent 3,856,584, 1974): ``proc_rra`` is 1 when
``temper_class == "RRA"`` or three ageing stages with known T and t satisfy
``T2 > max(T1, T3)`` and ``t2 < min(t1, t3)`` (a short high-temperature stage between two lower
ones, e.g. 120 °C/24 h + 190 °C/0.5 h + 120 °C/24 h).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from alloyml.errors import SchemaError
from alloyml.process import (
    NATURAL_AGEING_MAX_T_C,
    ROUTE_FAMILIES,
    STATE_DESCRIPTORS,
    decode_state,
    route_family,
)
from alloyml.schema import PROCESS_NUMERIC

#: Heat-treatment stages, in process order.
STAGES: tuple[str, ...] = ("homog", "sol1", "sol2", "sol3", "age1", "age2", "age3")
SOLUTION_STAGES: tuple[str, ...] = ("sol1", "sol2", "sol3")
AGEING_STAGES: tuple[str, ...] = ("age1", "age2", "age3")

#: Hollomon–Jaffe / Larson–Miller constant (time in hours).
HJ_CONSTANT = 20.0

#: Zero of the Celsius scale in K.
KELVIN = 273.15

#: Deformation inputs: (column, feature label, known-indicator label).
DEFORMATION: tuple[tuple[str, str, str], ...] = (
    ("cold_work_pct", "proc_cold_work_pct", "proc_cold_work_known"),
    ("extrusion_ratio", "proc_log_extrusion_ratio", "proc_extrusion_ratio_known"),
    ("rolling_reduction_pct", "proc_rolling_reduction_pct", "proc_rolling_reduction_known"),
    ("deform_T_C", "proc_deform_T_C", "proc_deform_T_known"),
)

#: Columns of the numeric process matrix :func:`process_features` takes: the canonical numeric
#: process columns, then ``route`` and ``temper_class`` as integer codes (index into the preset's
#: category list; NaN = unknown). Build it from a frame with ``Featurizer.encode_process``.
PROCESS_INPUT_COLUMNS: tuple[str, ...] = (*PROCESS_NUMERIC, "route", "temper_class")

HOLLOMON_JAFFE = (
    "J. H. Hollomon, L. D. Jaffe, Time-temperature relations in tempering steel, Trans. AIME 162 "
    "(1945) 223; F. R. Larson, J. Miller, Trans. ASME 74 (1952) 765"
)
SHERCLIFF_ASHBY = (
    "H. R. Shercliff, M. F. Ashby, A process model for age hardening of aluminium alloys, "
    "Acta Metall. Mater. 38 (1990) 1789"
)
CINA_1974 = "B. M. Cina, Reducing the susceptibility of alloys to stress corrosion, US 3,856,584"


def process_labels(routes: Sequence[str], tempers: Sequence[str]) -> list[str]:
    """Labels of :func:`process_features` columns, in order."""
    labels: list[str] = []
    for s in STAGES:
        labels += [f"proc_has_{s}", f"proc_{s}_T_C", f"proc_{s}_t_h"]
    labels += [f"proc_{s}_hj_K" for s in AGEING_STAGES]
    labels += [
        "proc_age_hj_max_K",
        "proc_age_hj_eq_K",
        "proc_age_total_t_h",
        "proc_n_sol_stages",
        "proc_n_age_stages",
        "proc_rra",
        "proc_n_params_unknown",
    ]
    for _, label, known in DEFORMATION:
        labels += [label, known]
    labels += [f"proc_route_{r}" for r in routes] + ["proc_route_unknown"]
    labels += [f"proc_temper_{t}" for t in tempers] + ["proc_temper_unknown"]
    return labels


def process_units(routes: Sequence[str], tempers: Sequence[str]) -> dict[str, str]:
    """Unit of every process feature label."""
    units: dict[str, str] = {}
    for label in process_labels(routes, tempers):
        if label.endswith("_T_C"):
            units[label] = "degC"
        elif label.endswith("_t_h"):
            units[label] = "h"
        elif label.endswith("_hj_K") or label.endswith("_hj_max_K") or label.endswith("_eq_K"):
            units[label] = "K (T_K * (20 + log10 t_h))"
        elif label.endswith("_pct"):
            units[label] = "%"
        elif label == "proc_log_extrusion_ratio":
            units[label] = "ln(-)"
        elif label.startswith("proc_n_"):
            units[label] = "count"
        else:
            units[label] = "0/1"
    return units


def row_label(i: int, row_names: Sequence[object] | None) -> str:
    """How an error message names row ``i``: by its name (id, source row) when given."""
    return f"row {row_names[i]!r}" if row_names is not None else f"row {i}"


_COL = {c: j for j, c in enumerate(PROCESS_INPUT_COLUMNS)}
_STAGE_T = np.array([_COL[f"{s}_T_C"] for s in STAGES])
_STAGE_H = np.array([_COL[f"{s}_t_h"] for s in STAGES])
_AGE = np.array([STAGES.index(s) for s in AGEING_STAGES])
_SOL = np.array([STAGES.index(s) for s in SOLUTION_STAGES])
_DEFORM = np.array([_COL[c] for c, _, _ in DEFORMATION])
_ROUTE = _COL["route"]
_TEMPER = _COL["temper_class"]
_T_COLS = np.array([j for c, j in _COL.items() if c.endswith("_T_C")])
_H_COLS = np.array([j for c, j in _COL.items() if c.endswith("_t_h")])
_PCT_COLS = np.array([j for c, j in _COL.items() if c.endswith("_pct")])
_ER = _COL["extrusion_ratio"]


def validate_process(
    proc: np.ndarray,
    n_routes: int,
    n_tempers: int,
    row_names: Sequence[object] | None = None,
) -> None:
    """Reject physically impossible process values, naming the row and column.

    Raises:
        SchemaError: a temperature at or below absolute zero, a negative time or percentage,
            a non-positive extrusion ratio, an infinite value or an invalid category code.
    """
    if proc.ndim != 2 or proc.shape[1] != len(PROCESS_INPUT_COLUMNS):
        raise SchemaError(
            f"process matrix must have shape (n, {len(PROCESS_INPUT_COLUMNS)}) with columns "
            f"{PROCESS_INPUT_COLUMNS}, got {proc.shape}"
        )
    bad = np.isinf(proc)
    bad[:, _T_COLS] |= proc[:, _T_COLS] <= -KELVIN
    bad[:, _H_COLS] |= proc[:, _H_COLS] < 0
    bad[:, _PCT_COLS] |= proc[:, _PCT_COLS] < 0
    bad[:, _ER] |= proc[:, _ER] <= 0
    for j, n_cat in ((_ROUTE, n_routes), (_TEMPER, n_tempers)):
        v = proc[:, j]
        bad[:, j] |= ~np.isnan(v) & ((v != np.round(v)) | (v < 0) | (v >= n_cat))
    if not bad.any():
        return
    i, j = (int(k) for k in np.argwhere(bad)[0])
    col, value = PROCESS_INPUT_COLUMNS[j], float(proc[i, j])
    if np.isinf(value):
        what = "infinite value"
    elif j in _T_COLS:
        what = "temperature at or below absolute zero"
    elif j in _H_COLS:
        what = "negative time"
    elif j in _PCT_COLS:
        what = "negative percentage"
    elif j == _ER:
        what = "extrusion ratio must be > 0"
    else:
        n_cat = n_routes if j == _ROUTE else n_tempers
        what = f"category code must be an integer in [0, {n_cat})"
    raise SchemaError(
        f"{row_label(i, row_names)}, column {col!r}: {what} (got {value!r}); fix the processed table "
        "or the input"
    )


def process_features(
    proc: np.ndarray,
    n_routes: int,
    n_tempers: int,
    temper_rra_code: int | None,
    row_names: Sequence[object] | None = None,
) -> np.ndarray:
    """Process descriptors, columns in the order of :func:`process_labels`.

    Args:
        proc: ``(n, len(PROCESS_INPUT_COLUMNS))`` float matrix, NaN = absent/unknown.
        n_routes: number of route categories of the preset.
        n_tempers: number of temper categories of the preset.
        temper_rra_code: code of the ``"RRA"`` temper class (sets ``proc_rra``), or None.
        row_names: names of the rows for error messages (default: row positions).

    Raises:
        SchemaError: see :func:`validate_process`.
    """
    proc = np.asarray(proc, dtype=float)
    validate_process(proc, n_routes, n_tempers, row_names)
    n, n_st = proc.shape[0], len(STAGES)
    n_age = len(AGEING_STAGES)
    out = np.zeros((n, 3 * n_st + n_age + 7 + 2 * len(DEFORMATION) + n_routes + n_tempers + 2))

    # Stages: presence, temperature, time (0 when absent or unknown).
    temp_c, hours = proc[:, _STAGE_T], proc[:, _STAGE_H]
    t_known, h_known = ~np.isnan(temp_c), ~np.isnan(hours)
    has = np.where(h_known, hours > 0, t_known)
    temp = np.where(has & t_known, temp_c, 0.0)
    time = np.where(has & h_known, hours, 0.0)
    stage_block = out[:, : 3 * n_st].reshape(n, n_st, 3)
    stage_block[:, :, 0] = has
    stage_block[:, :, 1] = temp
    stage_block[:, :, 2] = time
    col = 3 * n_st

    # Hollomon–Jaffe parameter per ageing stage, its maximum and the equivalent-time combination.
    ok = (has & t_known & h_known)[:, _AGE]  # hours > 0 follows from has & h_known
    temp_k = np.where(ok, temp_c[:, _AGE] + KELVIN, 0.0)
    log_t = np.log10(np.where(ok, hours[:, _AGE], 1.0))
    hj = np.where(ok, temp_k * (HJ_CONSTANT + log_t), 0.0)
    out[:, col : col + n_age] = hj
    col += n_age
    t_ref = temp_k.max(axis=1)
    any_ok = t_ref > 0
    safe_ref = np.where(any_ok, t_ref, 1.0)[:, None]
    log_teq = np.where(ok, hj / safe_ref - HJ_CONSTANT, -np.inf)
    top = np.where(any_ok, log_teq.max(axis=1), 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        lse = top + np.log10(np.sum(10.0 ** (log_teq - top[:, None]), axis=1))
    out[:, col] = hj.max(axis=1)
    out[:, col + 1] = np.where(any_ok, safe_ref[:, 0] * (HJ_CONSTANT + np.where(any_ok, lse, 0)), 0)
    out[:, col + 2] = time[:, _AGE].sum(axis=1)
    out[:, col + 3] = has[:, _SOL].sum(axis=1)
    out[:, col + 4] = has[:, _AGE].sum(axis=1)

    # Retrogression and re-ageing: T2 > max(T1, T3) and t2 < min(t1, t3), or temper RRA.
    t1, t2, t3 = (temp[:, i] for i in _AGE)
    h1, h2, h3 = (time[:, i] for i in _AGE)
    rra = ok.all(axis=1) & (t2 > np.maximum(t1, t3)) & (h2 < np.minimum(h1, h3))
    temper = proc[:, _TEMPER]
    if temper_rra_code is not None:
        rra |= temper == temper_rra_code
    out[:, col + 5] = rra
    out[:, col + 6] = (has & ~t_known).sum(axis=1) + (has & ~h_known).sum(axis=1)
    col += 7

    # Deformation: value (0 unknown; ln of the extrusion ratio) and known indicator.
    deform = proc[:, _DEFORM]
    known = ~np.isnan(deform)
    values = np.where(known, deform, 0.0)
    er = [c for c, _, _ in DEFORMATION].index("extrusion_ratio")
    values[:, er] = np.log(np.where(known[:, er], deform[:, er], 1.0))
    deform_block = out[:, col : col + 2 * len(DEFORMATION)].reshape(n, len(DEFORMATION), 2)
    deform_block[:, :, 0] = values
    deform_block[:, :, 1] = known
    col += 2 * len(DEFORMATION)

    # One-hot route and temper (trailing column = unknown).
    rows = np.arange(n)
    for codes, n_cat in ((proc[:, _ROUTE], n_routes), (temper, n_tempers)):
        idx = np.where(np.isnan(codes), n_cat, codes).astype(int)
        out[rows, col + idx] = 1.0
        col += n_cat + 1
    return out


def encode_categories(
    values: pd.Series, categories: Sequence[str], column: str, row_names: Sequence[object]
) -> np.ndarray:
    """Map text categories to codes (index in ``categories``); missing or empty -> NaN.

    Raises:
        SchemaError: a value not in ``categories``, naming the row and column.
    """
    lookup = {c: float(i) for i, c in enumerate(categories)}
    text = pd.Series(values, dtype=object).reset_index(drop=True)
    missing = text.isna() | (text.astype(str).str.strip() == "")
    codes = text.map(lookup)
    bad = ~missing & codes.isna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise SchemaError(
            f"{row_label(i, row_names)}, column {column!r}: unknown value {text.iloc[i]!r}; expected "
            f"one of {tuple(categories)} or empty"
        )
    return codes.where(~missing).to_numpy(dtype=float, na_value=np.nan)


# -- process_v2: the decoded thermal-mechanical state, the route family, schedule knowledge ----

#: State descriptor columns appended to the process input matrix by ``process_v2`` presets: the
#: numeric descriptors of :class:`alloyml.process.ProcessState` (1 yes, 0 no, NaN unknown), then
#: whether anything was decoded and whether the details are known.
STATE_INPUT_COLUMNS: tuple[str, ...] = (
    *(f"state_{d}" for d in STATE_DESCRIPTORS),
    "state_known",
    "state_detail_known",
)

#: Process input columns of ``process_v2`` presets.
PROCESS_INPUT_COLUMNS_V2: tuple[str, ...] = (*PROCESS_INPUT_COLUMNS, *STATE_INPUT_COLUMNS)

#: Temper pseudo-class of ``process_v2`` presets for "heat treated" with no detail (M-916's coded
#: level "cast, then heat treated"): known to be heat treated, not how.
HEAT_TREATED_UNSPECIFIED = "HT"

#: Degree given to a strain-hardened row whose degree is not stated (ANSI H35.1 H14, half hard).
HALF_HARD_EIGHTHS = 4.0

#: Value that stands for "unknown" in the encoded state descriptors (they are 0/1 or, for
#: ``ageing_degree``, in [-1, 1] and, for ``hardness_eighths``, in [0, 9]).
STATE_UNKNOWN = -2.0

DECODER_CITATION = (
    "ANSI H35.1 (Aluminum Association temper designations); ASTM B296 (magnesium tempers); "
    "decoded by alloyml.process.decode_state"
)


def state_row(temper: object, temper_class: object, system: str = "al") -> tuple[float, ...]:
    """State input columns (:data:`STATE_INPUT_COLUMNS`) of one temper text / class pair."""
    t = None if temper is None or (isinstance(temper, float) and np.isnan(temper)) else temper
    c = None if temper_class is None or pd.isna(temper_class) else str(temper_class)
    if t is not None and pd.isna(t):
        t = None
    s = decode_state(None if t is None else str(t), c, system=system)
    return (*s.descriptors().values(), float(s.known), float(s.detail_known))


def state_class(temper: object, temper_class: object, system: str = "al") -> str | None:
    """Temper class for the ``process_v2`` one-hot: the class, else the decoded one, else ``HT``."""
    if temper_class is not None and not pd.isna(temper_class) and str(temper_class).strip():
        return str(temper_class)
    if temper is None or pd.isna(temper) or not str(temper).strip():
        return None
    s = decode_state(str(temper), None, system=system)
    if s.temper_class is not None:
        return s.temper_class
    if s.heat_treated == 1.0 and not s.detail_known:
        return HEAT_TREATED_UNSPECIFIED
    return None


def process_v2_labels(routes: Sequence[str], tempers: Sequence[str]) -> list[str]:
    """Labels of the ``process_v2`` block: the ``process_v1`` block, then the state block."""
    return [
        *process_labels(routes, tempers),
        *(f"proc_route_family_{f}" for f in ROUTE_FAMILIES),
        "proc_route_family_unknown",
        "proc_schedule_known",
        "proc_stages_implied",
        *(f"proc_{c}" for c in STATE_INPUT_COLUMNS),
    ]


def process_features_v2(
    proc: np.ndarray,
    routes: Sequence[str],
    tempers: Sequence[str],
    temper_rra_code: int | None,
    row_names: Sequence[object] | None = None,
) -> np.ndarray:
    """``process_v2`` descriptors, columns in the order of :func:`process_v2_labels`.

    The state descriptors come from the designation (or free-text state) and are completed by
    the schedule: a known solution stage sets ``solution_treated``, a known ageing stage above
    :data:`NATURAL_AGEING_MAX_T_C` ``artificial_aged``, one at or below it (Hu's and Jiang's
    room-temperature stages) ``natural_aged``, and any stage ``heat_treated``, so a row
    described by its schedule and a row described by its temper share one description. The
    schedule only fills what the designation leaves open: a descriptor the designation sets to
    0 stays 0 (an O temper whose source records the anneal temperature in its solution column
    is annealed, not solution treated). Unknown descriptors are encoded as :data:`STATE_UNKNOWN`.
    ``proc_schedule_known`` is 1 when any stage temperature or time is given;
    ``proc_stages_implied`` is 1 when the state implies solution or ageing stages (what the
    schedule imputer of :mod:`alloyml.modeling.models` fills for rows without a schedule).
    """
    proc = np.asarray(proc, dtype=float)
    nv1 = len(PROCESS_INPUT_COLUMNS)
    if proc.ndim != 2 or proc.shape[1] != len(PROCESS_INPUT_COLUMNS_V2):
        raise SchemaError(
            f"process matrix must have shape (n, {len(PROCESS_INPUT_COLUMNS_V2)}) with columns "
            f"{PROCESS_INPUT_COLUMNS_V2}, got {proc.shape}"
        )
    base = process_features(proc[:, :nv1], len(routes), len(tempers), temper_rra_code, row_names)
    n = proc.shape[0]
    fam = np.zeros((n, len(ROUTE_FAMILIES) + 1))
    codes = proc[:, _ROUTE]
    fam_of = [ROUTE_FAMILIES.index(route_family(r)) for r in routes]
    idx = np.where(np.isnan(codes), -1, codes).astype(int)
    col = np.array([fam_of[i] if i >= 0 else len(ROUTE_FAMILIES) for i in idx], dtype=int)
    fam[np.arange(n), col] = 1.0
    sched = proc[:, list(_STAGE_T) + list(_STAGE_H)]
    stage_known = ~np.isnan(sched)
    schedule_known = stage_known.any(axis=1)
    st = proc[:, nv1:].copy()
    names = list(STATE_INPUT_COLUMNS)
    has = np.where(
        ~np.isnan(proc[:, _STAGE_H]), proc[:, _STAGE_H] > 0, ~np.isnan(proc[:, _STAGE_T])
    )
    sol_sched = has[:, _SOL].any(axis=1)
    age_T = proc[:, _STAGE_T[_AGE]]
    natural = has[:, _AGE] & (age_T <= NATURAL_AGEING_MAX_T_C)  # NaN compares False
    age_sched = (has[:, _AGE] & ~natural).any(axis=1)
    any_sched = has.any(axis=1)

    def setcol(name: str, mask: np.ndarray) -> None:
        # the schedule completes the designation, it does not contradict it: an O temper's
        # recorded anneal temperature is no solution treatment (Hu's S/A Temp column)
        j = names.index(f"state_{name}")
        st[mask & (st[:, j] != 0.0), j] = 1.0

    setcol("solution_treated", sol_sched)
    setcol("artificial_aged", age_sched)
    setcol("natural_aged", natural.any(axis=1))
    setcol("heat_treated", any_sched)
    setcol("homogenised", has[:, STAGES.index("homog")])
    known_j, detail_j = names.index("state_known"), names.index("state_detail_known")
    st[any_sched, known_j] = 1.0
    st[:, detail_j] = np.where(any_sched, 1.0, st[:, detail_j])
    implied = np.zeros(n)
    for name in ("solution_treated", "artificial_aged", "natural_aged"):
        implied = np.maximum(implied, np.nan_to_num(st[:, names.index(f"state_{name}")]))
    st[:, known_j] = np.nan_to_num(st[:, known_j])
    st[:, detail_j] = np.nan_to_num(st[:, detail_j])
    # A strain-hardened row whose words give no degree (ANU's "strain hardened" classes; a
    # designation carries its own) sits at the middle of the H scale, half hard (ANSI H35.1
    # eighths of full hard; state_detail_known says the degree was not given). At STATE_UNKNOWN,
    # below every H temper, the trees put such rows with the tempers that have no H degree
    # (O, T, F): ANU's hard-rolled rows were given an annealed elongation. (0 eighths for those
    # tempers as well was tried: leave-one-family-out R2 fell by 0.01-0.03 per Al target.)
    hard = st[:, names.index("state_hardness_eighths")]
    sh = st[:, names.index("state_strain_hardened")]
    hard[np.isnan(hard) & (sh == 1.0) & (st[:, detail_j] == 0.0)] = HALF_HARD_EIGHTHS
    st = np.where(np.isnan(st), STATE_UNKNOWN, st)
    return np.hstack([base, fam, schedule_known[:, None], implied[:, None], st])
