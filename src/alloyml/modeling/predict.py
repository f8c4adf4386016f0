"""Predict properties of new alloys with the trained champion bundles.

Input is what a scientist writes: an alloy string (``Al-5.6Zn-2.5Mg-1.6Cu-0.23Cr``) with a temper
and route, or a table whose columns are element symbols in wt % (balance element optional,
missing elements 0), optional ``id``, ``temper`` (``T6``, ``T651``, ``T7351``, ``H18``, ``O``, ``RRA``
…), ``route`` (``cast``, ``extruded``, ``rolled`` …) and canonical process columns (``age1_T_C``,
``age1_t_h`` …). Each row gets, per target ``t``, ``t_pred``, ``t_lo``, ``t_hi`` (the calibrated
interval), ``t_in_domain``; ``in_domain`` is true when every target's model is in its domain.
Rows that cannot be alloys (negative or non-finite amounts, elements over 100 wt %, a largest
constituent other than the system's balance element, an element alloyml does not model, a process
cell that is not a number, unknown route) get a message in ``error`` and no prediction; the other
rows are still predicted.

``temper`` accepts every ANSI H35.1 / ASTM B296 designation and the free-text states scientists
write ("as-cast", "cast + T6", "solution treated + peak aged", "heat treated", "RRA"), decoded
by :func:`alloyml.process.decode_state`; a ``temper_class`` column is used where ``temper`` is
empty. A row whose process state cannot be decoded (no temper, or text the decoder does not
know) is still predicted, with ``process_known`` False: the model then sees an unknown state,
and the user sees that it did. When ``route`` is empty and the temper names a shaping step
("as-cast", "extruded + T5"), the route is taken from it (``route_from_temper`` True).

Yield and tensile strength are predicted by two models; where a row's yield strength comes out
above its tensile strength both are projected onto YS <= UTS
(:func:`alloyml.modeling.consistency.project_ys_uts`, as in the search) and
``ys_uts_projected`` says so.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd

from alloyml.compositions import element_in_header, parse_alloy
from alloyml.errors import AlloyMLError
from alloyml.modeling.bundle import Bundle, load_bundle
from alloyml.modeling.consistency import consistent_strengths
from alloyml.process import decode_state, normalise_route
from alloyml.schema import BALANCE, ELEMENTS, PROCESS_NUMERIC, TARGETS

log = logging.getLogger(__name__)

_KNOWN = {"id", "temper", "route", "temper_class", *ELEMENTS, *PROCESS_NUMERIC}

#: Route assumed when a row gives none: most Al rows in the training data are wrought products
#: (a temper such as T651 implies one); Mg alloys are cast or wrought in similar numbers, so no
#: route is assumed for them. An assumed route is reported in ``route_assumed``.
DEFAULT_ROUTE: dict[str, str | None] = {"al": "wrought", "mg": None}


_SHAPING = (
    (re.compile(r"die[\s_-]*cast|\bhpdc\b", re.I), "cast_die"),
    (re.compile(r"sand[\s_-]*cast", re.I), "cast_sand"),
    (re.compile(r"perm\w*[\s_-]*mou?ld|\blpdc\b", re.I), "cast_perm_mould"),
    (re.compile(r"cast", re.I), "cast"),
    (re.compile(r"extru", re.I), "extruded"),
    (re.compile(r"\broll", re.I), "rolled"),
    (re.compile(r"forg", re.I), "forged"),
)


def route_from_temper(temper: str | None) -> str | None:
    """The route a free-text state names ("as-cast" -> ``cast``, "extruded + T5" ->
    ``extruded``), or None when it names none or several."""
    if temper is None or pd.isna(temper):
        return None
    found = {route for rx, route in _SHAPING if rx.search(str(temper))}
    if {"cast_die", "cast_sand", "cast_perm_mould"} & found:
        found.discard("cast")
    return found.pop() if len(found) == 1 else None


def load_bundles(models_dir: str | Path, system: str) -> dict[str, Bundle]:
    """All trained targets of ``system`` under ``models_dir/<system>/``."""
    base = Path(models_dir) / system
    bundles = {t: load_bundle(base / t) for t in TARGETS if (base / t / "meta.json").is_file()}
    if not bundles:
        raise AlloyMLError(f"no trained models under {base}: run `dvc repro` first")
    return bundles


def foreign_base(comp: pd.DataFrame, base: str) -> pd.Series:
    """Per row, the element that outweighs the balance element ``base`` (``""`` when none).

    The rule shared by the string and table paths: an alloy of a system has that system's balance
    element as its largest constituent (a tie is allowed).
    """
    others = comp.drop(columns=base).fillna(0.0)
    top = others.idxmax(axis=1) if len(others.columns) else pd.Series("", index=comp.index)
    outweighs = others.max(axis=1) > comp[base].fillna(0.0)
    return top.where(outweighs, "").astype(object)


def _numeric_column(values: pd.Series, name: str, errors: pd.Series) -> pd.Series:
    """``values`` as floats; text and infinities add a row error naming the column."""
    num = pd.to_numeric(values, errors="coerce")
    for i in values.index[values.notna() & num.isna()]:
        errors[i] += f"{name}: {str(values[i]).strip()!r} is not a number; "
    inf = np.isinf(num.to_numpy(dtype=float))
    errors[inf] += f"{name}: not a finite number; "
    return num.where(~inf)


#: every input column name alloyml reads, by its case-folded spelling
_KNOWN_FOLDED = {c.casefold(): c for c in _KNOWN}


def known_column_names(columns: pd.Index) -> dict[str, str]:
    """Renames that give the input's columns their canonical spelling: a spreadsheet's
    ``Temper``, ``ROUTE``, ``ZN`` or `` Mg `` is read as ``temper``, ``route``, ``Zn``, ``Mg``
    (no two element symbols differ only by case). A column is left alone when its canonical
    name is also present, or when two columns fold to the same name (ambiguous)."""
    folded: dict[str, list[str]] = {}
    for c in columns:
        key = str(c).strip().casefold()
        if key in _KNOWN_FOLDED:
            folded.setdefault(key, []).append(c)
    out = {}
    for key, cols in folded.items():
        canon = _KNOWN_FOLDED[key]
        if len(cols) == 1 and cols[0] != canon and canon not in columns:
            out[cols[0]] = canon
    return out


def canonical_inputs(table: pd.DataFrame, system: str) -> tuple[pd.DataFrame, pd.Series, list[str]]:
    """Turn a user table into canonical rows; returns (rows, per-row error text, unknown columns).

    Column names are matched without regard to case or surrounding spaces
    (:func:`known_column_names`)."""
    table = table.rename(columns=known_column_names(table.columns))
    base = BALANCE[system]
    unknown = [c for c in table.columns if c not in _KNOWN]
    rows = pd.DataFrame(index=table.index)
    errors = pd.Series("", index=table.index, dtype=object)
    for e in ELEMENTS:
        if e in table:
            vals = pd.to_numeric(table[e], errors="coerce")
            bad = table[e].notna() & vals.isna()
            errors[bad] += f"{e}: not a number; "
            inf = np.isinf(vals.to_numpy(dtype=float))
            errors[inf] += f"{e}: not a finite number; "
            rows[e] = vals.where(~inf).fillna(0.0)
        else:
            rows[e] = 0.0
    for c in unknown:  # an element column alloyml cannot read must not vanish into the balance
        sym = element_in_header(c)
        if sym is None:
            continue
        vals = pd.to_numeric(table[c], errors="coerce")
        given = table[c].notna() & (vals.isna() | (vals != 0))
        if sym in ELEMENTS:
            errors[given] += f"{c!r}: name the column {sym} (element columns are bare symbols); "
        else:
            errors[given] += f"{c}: element {sym} is not modelled by alloyml; "
    others = [e for e in ELEMENTS if e != base]
    total = rows[others].sum(axis=1)
    neg = (rows[list(ELEMENTS)] < 0).any(axis=1)
    errors[neg] += "negative element amount; "
    over = total > 100.0
    errors[over] += "alloying elements sum to more than 100 wt%; "
    if base in table:
        given = rows[base]
        off = (given > 0) & ((given + total - 100.0).abs() > 0.5)
        errors[off] += f"{base} + other elements differ from 100 wt% by more than 0.5; "
    rows[base] = 100.0 - total
    wrong = foreign_base(rows[list(ELEMENTS)], base)
    for i in wrong.index[(wrong != "") & ~over & ~neg]:
        errors[i] += (
            f"not a {system} alloy: its largest constituent is {wrong[i]}, not {base} "
            "(use --system for its own system); "
        )
    for c in PROCESS_NUMERIC:
        rows[c] = _numeric_column(table[c], c, errors) if c in table else np.nan
    temper = (
        table["temper"].astype("string")
        if "temper" in table
        else pd.Series(pd.NA, index=table.index, dtype="string")
    )
    rows["temper"] = temper
    given_class = (
        table["temper_class"].astype("string")
        if "temper_class" in table
        else pd.Series(pd.NA, index=table.index, dtype="string")
    )
    states = [
        decode_state(None if pd.isna(t) else str(t), None if pd.isna(c) else str(c), system)
        for t, c in zip(temper, given_class, strict=True)
    ]
    rows["temper_class"] = pd.Series([s.temper_class for s in states], index=table.index,
                                     dtype="string")  # fmt: skip
    rows["process_known"] = pd.Series([s.known for s in states], index=table.index, dtype=bool)
    routes, from_temper = [], []
    for i, r, t in zip(
        table.index,
        table["route"] if "route" in table else [None] * len(table),
        temper,
        strict=True,
    ):
        try:
            route = normalise_route(None if pd.isna(r) else r)
        except ValueError as exc:
            errors[i] += f"{exc}; "
            route = None
        inferred = route is None and pd.isna(r) and pd.notna(t) and route_from_temper(t)
        from_temper.append(bool(inferred))
        routes.append(route_from_temper(t) if inferred else route)
    rows["route"] = pd.Series(routes, index=table.index, dtype="string")
    rows["route_from_temper"] = pd.Series(from_temper, index=table.index, dtype=bool)
    assumed = rows["route"].isna() & (errors == "")
    if DEFAULT_ROUTE.get(system):
        rows.loc[assumed, "route"] = DEFAULT_ROUTE[system]
    else:
        assumed[:] = False
    rows["route_assumed"] = assumed
    return rows, errors.str.rstrip("; "), unknown


def predict_table(table: pd.DataFrame, system: str, bundles: dict[str, Bundle]) -> pd.DataFrame:
    """The input table plus predictions, intervals, domain flags, ``process_known`` (False when
    the row's process state could not be decoded) and an ``error`` column."""
    from alloyml.features import featurize

    rows, errors, unknown = canonical_inputs(table, system)
    if unknown:
        log.warning("columns not used for prediction: %s", unknown)
    out = table.copy()
    out.attrs["unused_columns"] = unknown
    ok = errors == ""
    preset = next(iter(bundles.values())).meta.get("preset", "alloy_v1")
    feats = featurize(rows.loc[ok], preset=preset) if ok.any() else None
    all_dom = ok.copy()
    results = _predict_all(bundles, feats) if feats is not None else {}
    results, projected = consistent_strengths(results)
    for target in bundles:
        for suffix in ("pred", "lo", "hi"):
            out[f"{target}_{suffix}"] = np.nan
        out[f"{target}_in_domain"] = pd.array([pd.NA] * len(table), dtype="boolean")
        if feats is None:
            continue
        res = results[target]
        out.loc[ok, f"{target}_pred"] = np.maximum(res["pred"], 0.0)
        out.loc[ok, f"{target}_lo"] = np.maximum(res["lo"], 0.0)  # properties are non-negative
        out.loc[ok, f"{target}_hi"] = res["hi"]
        out.loc[ok, f"{target}_in_domain"] = res["in_domain"]
        all_dom.loc[ok] &= res["in_domain"]
    out[f"{BALANCE[system]}_wt"] = rows[BALANCE[system]].where(ok)
    out["in_domain"] = pd.array(np.where(ok, all_dom, pd.NA), dtype="boolean")
    out["route_assumed"] = rows["route_assumed"]
    out["process_known"] = rows["process_known"]
    if projected is not None:
        out["ys_uts_projected"] = pd.array(np.full(len(table), pd.NA), dtype="boolean")
        out.loc[ok, "ys_uts_projected"] = projected
    out["error"] = errors
    return out


#: rows from which the targets of a table are predicted in two threads (numpy releases the GIL
#: in the tree walk and the neighbour search; the results do not depend on it)
PARALLEL_ROWS = 2000


def _predict_all(bundles: dict[str, Bundle], feats: pd.DataFrame) -> dict[str, dict]:
    """``Bundle.predict`` of every target on its feature columns of ``feats``."""

    def one(b: Bundle) -> dict:
        return b.predict(feats[b.features].to_numpy(dtype=float))

    if len(feats) < PARALLEL_ROWS or len(bundles) < 2:
        return {t: one(b) for t, b in bundles.items()}
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {t: pool.submit(one, b) for t, b in bundles.items()}
        return {t: f.result() for t, f in futures.items()}


def predict_string(
    alloy: str,
    system: str,
    bundles: dict[str, Bundle],
    temper: str | None = None,
    route: str | None = None,
) -> pd.DataFrame:
    """Predict one alloy written as a string, e.g. ``Mg-14Li-1Al``."""
    comp = parse_alloy(alloy)
    base = BALANCE[system]
    wrong = foreign_base(pd.DataFrame([comp | {base: comp.get(base, 0.0)}]), base).iloc[0]
    if wrong:
        raise AlloyMLError(
            f"{alloy!r} is not a {system} alloy: its largest constituent is {wrong}, not {base}"
        )
    row = {k: v for k, v in comp.items() if k != base}
    for sym in row:
        if sym not in ELEMENTS:
            raise AlloyMLError(f"element {sym} in {alloy!r} is not modelled by alloyml")
    if temper is not None and not decode_state(temper, system=system).known:
        raise AlloyMLError(
            f"temper {temper!r} not recognised: give an ANSI H35.1 / ASTM B296 designation "
            "(F, O, H18, T4, T6, T651, T73, T7451, T8, T9, RRA ...) or a state such as "
            "'as-cast', 'solution treated + peak aged', 'cast + T6', 'heat treated'"
        )
    try:
        normalise_route(route)
    except ValueError as exc:
        raise AlloyMLError(str(exc)) from None
    row |= {"id": alloy, "temper": temper, "route": route}
    return predict_table(pd.DataFrame([row]), system, bundles)
