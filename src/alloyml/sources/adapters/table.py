"""Generic adapter for in-house sheets: a column map from the sheet's headers to canonical names.

Use it for a lab's own CSV/Excel sheet by declaring, in ``sources.yaml`` (or in a spec file for
``alloyml data validate``)::

    - id: mylab_7xxx_2026
      system: al
      adapter: table
      files: [{path: inhouse/7xxx_batch3.xlsx, sha256: <64 hex>}]
      options:
        sheet: Tensile          # Excel only; default: first sheet
        header: 0               # 0-based row of the column names
        encoding: utf-8         # text files only; e.g. latin-1 or cp1252 for old Excel exports
        delimiter: ";"          # text files only; default: detected (comma, ; tab or |)
        ignore: [Hf (wt%)]      # element-like headers to drop on purpose (see below)
        basis: wt_pct           # wt_pct | mass_fraction | at_pct
        comp_basis: measured    # measured | nominal | spec_midpoint
        columns:                # sheet header -> canonical column (see alloyml.schema)
          Zn (wt%): Zn
          Mg (wt%): Mg
          Cu (wt%): Cu
          Rp0.2 (MPa): ys_mpa
          Rm (MPa): uts_mpa
          A (%): elong_pct
          Ageing T (C): age1_T_C
          Ageing t (h): age1_t_h
          Temper: temper
          Sample: alloy_name
        defaults: {route: extruded}   # constant canonical values for every row
        required: [Zn, Mg, Cu]  # canonical columns a row with a property value must give

Decisions:

- Without ``columns``, headers that are already canonical names or element symbols map to
  themselves; other headers are ignored and listed in the notes (``unmapped_columns``).
- A header that names an element (``Hf``, ``Hf (wt%)``, ``Ni wt%``; see
  :func:`alloyml.compositions.element_in_header`) and is not mapped is a hard error naming the
  column, with or without ``columns``: dropping an alloying element would silently add its
  wt % to the balance element. Map it, or list it in ``ignore`` to drop it on purpose. An
  element alloyml does not model (e.g. ``Hf``) cannot be mapped.
- Text files are read as UTF-8 unless ``encoding`` says otherwise (a file that is not valid
  UTF-8 is an error that names the line and this option); the delimiter is detected (comma
  first; ``;`` for sheets with decimal commas) unless ``delimiter`` is given.
- Numeric cells follow :func:`alloyml.sources.base.parse_cell` (``<0.05`` -> 0.025,
  ``0.1-0.3`` -> 0.2, ``0,25`` -> 0.25, ``—`` -> not reported, ``bal.``/``Rem`` only in the balance
  element's column); any other text rejects the row with reason ``non_numeric``.
- Composition basis: ``mass_fraction`` is multiplied by 100; ``at_pct`` is converted to wt % with
  pymatgen atomic masses (every element column must then be given, the balance included or
  computed as 100 at % minus the rest). The balance element is ``100 - sum(others)`` when absent
  or marked ``bal.``.
- Elements not in the sheet are "not reported" (NaN), elements given as empty cells too.
- ``temper`` gives ``temper_class`` (ANSI H35.1 / ASTM B296 designations and free-text states such
  as "as-cast" or "cast + T6", via :func:`alloyml.process.decode_state`) unless a
  ``temper_class`` column is mapped; ``temper`` is kept as written so that the state stays
  decodable;
  ``route`` is normalised (``cast``, ``Extruded``, ``HPDC`` ...) and an unknown route rejects the row
  (``unknown_route``).
- A row with no property at all is rejected (``missing_all_targets``); a row with a property
  but no value in a ``required`` column is rejected (``missing_required``, naming the column),
  e.g. the measured amount of an alloy's main elements in a lab round's sheet.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pymatgen.core.periodic_table import Element

from alloyml.compositions import at_to_wt, element_in_header
from alloyml.errors import SourceError
from alloyml.process import normalise_route, temper_class
from alloyml.schema import (
    ADAPTER_COLUMNS,
    BALANCE,
    ELEMENTS,
    PROCESS_NUMERIC,
    PROPERTIES,
    TARGETS,
    TEXT_COLUMNS,
)
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

_NUMERIC = set(ELEMENTS) | set(PROCESS_NUMERIC) | set(PROPERTIES)
_SETTABLE = set(ADAPTER_COLUMNS) - {"row_uid", "source_id", "source_row", "system"}


def _is_element(name: str) -> bool:
    try:
        Element(name)
    except ValueError:
        return False
    return True


def _check_unmapped_elements(
    headers: list[str], mapping: dict[str, str], ignore: list[str], spec: SourceSpec
) -> None:
    """Refuse a header that names an element but is neither mapped nor ignored on purpose."""
    balance = BALANCE[spec.system]
    for h in headers:
        sym = element_in_header(h) if h not in mapping and h not in ignore else None
        if sym is None:
            continue
        if sym not in ELEMENTS:
            raise SourceError(
                f"element {sym} is not modelled by alloyml (known: {', '.join(ELEMENTS)}); "
                f"dropping the column would add its wt % to {balance}. Remove the rows that "
                f"contain {sym}, or list {h!r} in options.ignore to drop it on purpose",
                source_id=spec.id,
                column=h,
            )
        hint = f"map it in options.columns ({h!r}: {sym})"
        if h == sym:
            hint = f"add it to options.columns ({h}: {sym})"
        raise SourceError(
            f"looks like the {sym} column but is not read: {hint}, or list it in options.ignore "
            f"to drop it on purpose (its wt % then goes to {balance})",
            source_id=spec.id,
            column=h,
        )


def column_map(headers: list[str], spec: SourceSpec) -> tuple[dict[str, str], list[str]]:
    """Return ``({header: canonical}, unmapped_headers)``, validating the declared map."""
    declared = spec.options.get("columns")
    ignore = spec.options.get("ignore") or []
    if not isinstance(ignore, list) or not all(isinstance(h, str) for h in ignore):
        raise SourceError("options.ignore must be a list of sheet headers", source_id=spec.id)
    absent = [h for h in ignore if h not in headers]
    if absent:
        raise SourceError(
            f"options.ignore names header(s) {absent} that are not in the sheet; found {headers}",
            source_id=spec.id,
        )
    if declared is None:
        mapping = {h: h for h in headers if h in _SETTABLE}
    else:
        if not isinstance(declared, dict):
            raise SourceError(
                "options.columns must map sheet headers to canonical names", source_id=spec.id
            )
        require_columns(pd.DataFrame(columns=headers), declared, spec.id)
        mapping = {}
        for raw, canon in declared.items():
            if canon not in _SETTABLE:
                hint = (
                    "an element alloyml does not model"
                    if _is_element(str(canon))
                    else "not a canonical column"
                )
                raise SourceError(f"maps to {canon!r}, {hint}", source_id=spec.id, column=raw)
            mapping[raw] = canon
    _check_unmapped_elements(headers, mapping, ignore, spec)
    targets = list(mapping.values())
    dup = sorted({c for c in targets if targets.count(c) > 1})
    if dup:
        raise SourceError(f"several columns map to {dup}", source_id=spec.id)
    if not any(c in TARGETS for c in targets):
        raise SourceError(
            f"no property column found (need one of {', '.join(TARGETS)}); map one in options.columns",
            source_id=spec.id,
        )
    if not any(c in ELEMENTS for c in targets):
        raise SourceError(
            "no element column found; map element columns in options.columns", source_id=spec.id
        )
    unmapped = [h for h in headers if h not in mapping]
    return mapping, unmapped


def adapt(spec: SourceSpec, paths: list[Path]) -> AdapterResult:
    opts = spec.options
    encoding, delimiter = opts.get("encoding"), opts.get("delimiter")
    if encoding is not None and not isinstance(encoding, str):
        raise SourceError("options.encoding must be a text encoding name", source_id=spec.id)
    if delimiter is not None and not (isinstance(delimiter, str) and len(delimiter) == 1):
        raise SourceError(
            f"options.delimiter must be one character, got {delimiter!r}", source_id=spec.id
        )
    raw = read_table(
        paths[0],
        spec.id,
        sheet=opts.get("sheet"),
        header=int(opts.get("header", 0)),
        encoding=encoding,
        delimiter=delimiter,
    )
    mapping, unmapped = column_map(list(raw.columns), spec)
    balance = BALANCE[spec.system]
    rejects = RejectLog(spec.id)
    ids = list(raw.index)
    numeric = {h: c for h, c in mapping.items() if c in _NUMERIC}
    values, _ = parse_numeric_columns(raw, numeric, rejects, balance_ok=[balance], row_ids=ids)
    rows = pd.DataFrame(index=raw.index)
    rows["source_row"] = ids
    for col in values.columns:
        rows[col] = values[col].to_numpy()
    for h, c in mapping.items():
        if c in TEXT_COLUMNS:
            rows[c] = raw[h].map(lambda v: None if pd.isna(v) else str(v).strip() or None)
    rows_in = len(raw)
    del raw, values  # the raw grid is not needed any more: free it before the rows are built
    for c, v in (opts.get("defaults") or {}).items():
        if c not in _SETTABLE:
            raise SourceError(f"defaults: {c!r} is not a canonical column", source_id=spec.id)
        rows[c] = v if c not in rows else rows[c].fillna(v)
    elements = [c for c in rows.columns if c in ELEMENTS]
    basis = opts.get("basis", "wt_pct")
    if basis == "mass_fraction":
        rows[elements] = rows[elements] * 100.0
    elif basis == "at_pct":
        comp = rows[elements].copy()
        if balance not in comp:
            comp[balance] = np.nan
        others = comp.drop(columns=balance).fillna(0)
        comp[balance] = comp[balance].fillna(100.0 - others.sum(axis=1))
        bad = (comp < 0).any(axis=1) | (others.sum(axis=1) > 100.0)
        for sid in comp.index[bad]:
            rejects.add(
                sid, "composition_sum", balance, "elements exceed 100 at% (negative balance)"
            )
        good = ~bad
        for e in comp.columns:
            rows[e] = np.nan
        if good.any():
            wt = at_to_wt(comp.loc[good].to_numpy(), list(comp.columns))
            for i, e in enumerate(comp.columns):
                rows.loc[good, e] = np.where(comp.loc[good, e].isna(), np.nan, wt[:, i])
        elements = list(comp.columns)
    elif basis != "wt_pct":
        raise SourceError(
            f"options.basis must be wt_pct, mass_fraction or at_pct, got {basis!r}",
            source_id=spec.id,
        )
    if balance not in rows:
        rows[balance] = np.nan
    rows[balance] = rows[balance].fillna(
        fill_balance(rows[[c for c in rows if c in ELEMENTS]], balance)
    )
    rows["comp_basis"] = opts.get("comp_basis", "measured")
    if "temper" in rows and "temper_class" not in mapping.values():
        rows["temper_class"] = rows["temper"].map(temper_class)
    if "route" in rows:
        normalised = []
        for sid, r in zip(ids, rows["route"], strict=True):
            try:
                normalised.append(normalise_route(r))
            except ValueError as exc:
                rejects.add(sid, "unknown_route", "route", str(exc))
                normalised.append(None)
        rows["route"] = normalised
    props = [t for t in TARGETS if t in rows]
    for sid in rows.index[rows[props].isna().all(axis=1)]:
        rejects.add(sid, "missing_all_targets", ",".join(props), "no property value in this row")
    required = opts.get("required") or []
    if not isinstance(required, list) or not all(isinstance(c, str) for c in required):
        raise SourceError("options.required must be a list of canonical columns", source_id=spec.id)
    for c in required:
        if c not in rows:
            raise SourceError(
                f"options.required names {c!r}, but no sheet column maps to it", source_id=spec.id
            )
        for sid in rows.index[rows[c].isna()]:
            rejects.add(sid, "missing_required", c, f"no value in the required column {c}")
    return finish(rows, spec, rejects, rows_in=rows_in, unmapped_columns=unmapped)
