"""Clean stage: harmonise the ingested sources of one alloy system into one validated table.

Decisions, in the order they are applied (parameters in ``params.yaml`` ``clean:``):

1. **Balance.** The balance element (Al or Mg) is explicit in every row; where an adapter left
   it empty it is ``100 - sum(other reported elements)``.
2. **Physical checks -> rejects** (reason code, offending column):
   ``negative_amount`` (an element < 0, e.g. a balance that went negative),
   ``composition_sum`` (reported elements miss 100 wt % by more than ``sum_tolerance_wt``),
   ``wrong_base`` (the system's balance element is not the largest constituent),
   ``no_target`` (no property at all), ``ys_gt_uts`` (yield above tensile strength in one row:
   physically impossible, so one of the two numbers is wrong and we cannot tell which; a reject,
   not a flag, because a model trained on it would learn a wrong number either way),
   ``composite_material`` (rows an adapter lists in ``notes['composite_rows']``: metal-matrix
   composites whose reinforcement has no composition column),
   ``elong_out_of_range`` (not 0 < elongation < 100 %), ``implausible_property`` (outside the
   per-system range in ``clean.plausible``).
3. **Flags (row kept):** ``flag_sum_off`` (sum off by more than ``sum_flag_wt``),
   ``flag_impurity_li`` (Mg alloy with 0 < Li <= ``impurity_li_max_wt``: a specification
   maximum, e.g. WE43, not a Li addition), ``flag_basis_uncertain`` (sources in
   ``basis_uncertain_sources``), ``flag_replicate_spread`` and ``flag_ys_gt_uts`` (step 5: the
   mean yield of a replicate group above its mean tensile strength, possible only when the
   replicates report different properties, e.g. one gives yield alone and another tensile
   strength alone; every measurement passed the row check, so the row is kept and flagged).
4. **group_id**: a hash of the composition rounded to ``composition_decimals`` wt % (NaN = 0),
   so the same alloy chemistry shares a group across tempers and sources (for grouped CV).
5. **Replicates**: rows with the same composition key and the same processing (every process
   column equal, empty equal to empty) and the same authors' split are one condition measured
   several times. They become one row: properties are the mean, ``<prop>_std`` the sample
   standard deviation, ``n_replicates`` the count, ``merged_rows`` the row_uids folded in; the
   representative is the first row in source order.
6. **Cross-source duplicates**: rows from *different* sources with the same composition key and
   temper class whose shared properties all agree within ``duplicate_rel_tol`` are the same
   handbook/literature value copied into two compilations. They are one row: the one with more
   processing detail is kept, the other is folded into ``merged_rows`` (``n_replicates`` is not
   increased: it is one measurement).
7. **Derived columns**: ``density_calc_g_cm3`` by the inverse rule of mixtures
   (:func:`alloyml.compositions.density_rule_of_mixtures`), ``li_phase`` for Mg alloys with Li
   (alpha < 5.7 wt %, alpha+beta to 10.3, beta above; Nayeb-Hashemi et al. 1984).
8. **Schema**: the table is validated by :data:`alloyml.schema.PROCESSED_SCHEMA` (strict).
9. **Accounting**: per source ``rows_in == kept + merged + rejected`` or
   :class:`~alloyml.errors.AccountingError`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pandera.errors

from alloyml.compositions import density_rule_of_mixtures
from alloyml.errors import AccountingError, SchemaError
from alloyml.params import CleanParams
from alloyml.schema import (
    BALANCE,
    CLEAN_COLUMNS,
    ELEMENTS,
    LI_ALPHA_MAX_WT,
    LI_BETA_MIN_WT,
    PROCESS_NUMERIC,
    PROCESS_TEXT,
    PROCESSED_SCHEMA,
    REJECT_COLUMNS,
    TARGETS,
    conform,
)
from alloyml.sources.base import fill_balance

PROCESS_KEY: tuple[str, ...] = (*PROCESS_TEXT, *PROCESS_NUMERIC, "test_T_C", "source_split")


@dataclass
class CleanResult:
    """The clean table of one system, its rejects and the per-source accounting report."""

    table: pd.DataFrame
    rejects: pd.DataFrame
    report: dict[str, Any]


def _reject(
    frame: pd.DataFrame,
    mask: pd.Series,
    reason: str,
    column: pd.Series | str,
    detail: pd.Series | str,
) -> pd.DataFrame:
    sel = frame.loc[mask]
    if sel.empty:
        return pd.DataFrame(columns=list(REJECT_COLUMNS))
    col = column.loc[mask] if isinstance(column, pd.Series) else column
    det = detail.loc[mask] if isinstance(detail, pd.Series) else detail
    return pd.DataFrame(
        {
            "source_id": sel["source_id"].astype(str).to_numpy(),
            "source_row": sel["source_row"].astype("int64").to_numpy(),
            "reason": reason,
            "column": np.asarray(col, dtype=object) if isinstance(col, pd.Series) else col,
            "detail": np.asarray(det, dtype=object) if isinstance(det, pd.Series) else det,
            "raw": "",
        }
    )


def composition_key(frame: pd.DataFrame, decimals: int) -> pd.Series:
    """Composition rounded to ``decimals`` wt % as a canonical string (NaN counts as 0).

    Elements in alphabetical order, zeros and unreported elements omitted.

    Examples:
        >>> frame = pd.DataFrame(
        ...     {"Al": [90.07], "Zn": [5.6004], "Mg": [2.5], "Cu": [1.6], "Cr": [0.23], "Fe": [0.0]}
        ... ).reindex(columns=list(ELEMENTS))
        >>> composition_key(frame, 2).iloc[0]
        'Al90.07 Cr0.23 Cu1.60 Mg2.50 Zn5.60'
    """
    comp = frame[list(ELEMENTS)].fillna(0.0).round(decimals).to_numpy() + 0.0  # folds -0.0
    fmt = f"{{}}{{:.{decimals}f}}"
    keys = [
        " ".join(fmt.format(sym, v) for sym, v in zip(ELEMENTS, row, strict=True) if v != 0)
        for row in comp
    ]
    return pd.Series(keys, index=frame.index, dtype="string")


def _hash(text: str, prefix: str) -> str:
    return prefix + hashlib.sha1(text.encode("utf-8")).hexdigest()[:12]


def _process_key(frame: pd.DataFrame) -> pd.Series:
    cols = []
    for c in PROCESS_KEY:
        v = frame[c]
        if c in PROCESS_NUMERIC or c == "test_T_C":
            cols.append(v.round(6).astype("string").fillna("~"))
        else:
            cols.append(v.astype("string").fillna("~"))
    key = cols[0]
    for s in cols[1:]:
        key = key.str.cat(s, sep="|")
    return key


def physical_checks(
    frame: pd.DataFrame, system: str, params: CleanParams
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Reject rows that fail a physical check; return (kept rows with flags, rejects)."""
    base = BALANCE[system]
    frame = frame.copy()
    frame[base] = frame[base].where(frame[base].notna(), fill_balance(frame[list(ELEMENTS)], base))
    rejects = []
    remaining = pd.Series(True, index=frame.index)

    def take(mask: pd.Series, reason: str, column: Any, detail: Any) -> None:
        nonlocal remaining
        mask = mask & remaining
        rejects.append(_reject(frame, mask, reason, column, detail))
        remaining = remaining & ~mask

    comp = frame[list(ELEMENTS)]
    neg = (comp < 0).any(axis=1)
    neg_col = comp.lt(0).idxmax(axis=1)
    take(neg, "negative_amount", neg_col, "element amount below 0 wt%")
    total = comp.fillna(0.0).sum(axis=1)
    dev = (total - 100.0).abs()
    take(
        dev > params.sum_tolerance_wt,
        "composition_sum",
        "composition",
        total.map(lambda t: f"elements sum to {t:.3f} wt%"),
    )
    largest = comp.fillna(0.0).idxmax(axis=1)
    take(largest != base, "wrong_base", largest, f"{base} is not the largest constituent")
    props = frame[list(TARGETS)]
    take(props.isna().all(axis=1), "no_target", "properties", "no property reported")
    ys_gt = frame["ys_mpa"] > frame["uts_mpa"]
    take(
        ys_gt,
        "ys_gt_uts",
        "ys_mpa",
        frame["ys_mpa"].astype(str) + " > uts " + frame["uts_mpa"].astype(str),
    )
    el = frame["elong_pct"]
    take(
        el.notna() & ((el <= 0) | (el >= 100)),
        "elong_out_of_range",
        "elong_pct",
        el.astype(str),
    )
    for prop, (lo, hi) in (params.plausible or {}).get(system, {}).items():
        v = frame[prop]
        take(
            v.notna() & ((v < lo) | (v > hi)),
            "implausible_property",
            prop,
            v.map(lambda x, lo=lo, hi=hi: f"{x} outside [{lo}, {hi}]"),
        )
    kept = frame.loc[remaining].copy()
    kept["flag_sum_off"] = dev.loc[remaining] > params.sum_flag_wt
    if system == "mg":
        li = kept["Li"].fillna(0.0)
        kept["flag_impurity_li"] = (li > 0) & (li <= params.impurity_li_max_wt)
    else:
        kept["flag_impurity_li"] = False
    kept["flag_basis_uncertain"] = kept["source_id"].isin(params.basis_uncertain_sources)
    rej = pd.concat(
        [r for r in rejects if not r.empty] or [pd.DataFrame(columns=list(REJECT_COLUMNS))],
        ignore_index=True,
    )
    return kept, rej


def aggregate_replicates(frame: pd.DataFrame, params: CleanParams) -> pd.DataFrame:
    """Fold rows with the same composition key and processing into one row (step 5)."""
    frame = frame.copy()
    frame["_ckey"] = composition_key(frame, params.composition_decimals)
    frame["group_id"] = frame["_ckey"].map(lambda k: _hash(k, "g"))
    frame["_rkey"] = frame["_ckey"] + "#" + _process_key(frame)
    frame["_order"] = np.arange(len(frame))
    grouped = frame.groupby("_rkey", sort=False)
    first = grouped["_order"].transform("min")
    rep_mask = frame["_order"] == first
    out = frame.loc[rep_mask].copy().set_index("_rkey")
    means = grouped[list(TARGETS)].mean()
    stds = grouped[list(TARGETS)].std(ddof=1)
    counts = grouped.size()
    folded: dict[str, list[str]] = {}
    for key, uid, is_rep in zip(frame["_rkey"], frame["row_uid"], rep_mask, strict=True):
        if not is_rep:
            folded.setdefault(key, []).append(uid)
    uids = pd.Series({k: ";".join(v) for k, v in folded.items()}, dtype="string").reindex(out.index)
    spread = grouped[list(TARGETS)].max() - grouped[list(TARGETS)].min()
    for t in TARGETS:
        out[t] = means[t]
        out[f"{t}_std"] = stds[t]
    out["n_replicates"] = counts
    out["merged_rows"] = uids
    limits = params.replicate_spread_flag or {}
    flag = pd.Series(False, index=out.index)
    for t, lim in limits.items():
        flag |= spread[t].fillna(0.0) > lim
    out["flag_replicate_spread"] = flag
    # each row passed the ys <= uts check; means over different subsets of rows may not
    out["flag_ys_gt_uts"] = (out["ys_mpa"] > out["uts_mpa"]).fillna(False).astype(bool)
    return out.reset_index(drop=True).sort_values("_order").reset_index(drop=True)


def _n_process_fields(frame: pd.DataFrame) -> pd.Series:
    return frame[list(PROCESS_NUMERIC)].notna().sum(axis=1) + frame[
        ["temper", "route"]
    ].notna().sum(axis=1)


def merge_cross_source(frame: pd.DataFrame, params: CleanParams) -> pd.DataFrame:
    """Fold the same measurement reported by two sources into one row (step 6)."""
    frame = frame.reset_index(drop=True)
    drop: set[int] = set()
    extra: dict[int, list[str]] = {}
    detail = _n_process_fields(frame)
    keyed = frame.loc[frame["temper_class"].notna()]
    for _, idx in keyed.groupby(["_ckey", "temper_class"], sort=False).groups.items():
        idx = list(idx)
        if frame.loc[idx, "source_id"].nunique() < 2:
            continue
        # richest process detail first, then source order
        idx.sort(key=lambda i: (-detail[i], frame.at[i, "_order"]))
        for a_pos, a in enumerate(idx):
            if a in drop:
                continue
            for b in idx[a_pos + 1 :]:
                if b in drop or frame.at[a, "source_id"] == frame.at[b, "source_id"]:
                    continue
                shared = [
                    t for t in TARGETS if pd.notna(frame.at[a, t]) and pd.notna(frame.at[b, t])
                ]
                if not shared:
                    continue
                if all(
                    abs(frame.at[a, t] - frame.at[b, t])
                    <= params.duplicate_rel_tol * max(abs(frame.at[a, t]), abs(frame.at[b, t]))
                    for t in shared
                ):
                    drop.add(b)
                    folded = [frame.at[b, "row_uid"]]
                    if pd.notna(frame.at[b, "merged_rows"]):
                        folded += str(frame.at[b, "merged_rows"]).split(";")
                    extra.setdefault(a, []).extend(folded)
    for a, uids in extra.items():
        prev = frame.at[a, "merged_rows"]
        allu = ([] if pd.isna(prev) else str(prev).split(";")) + uids
        frame.at[a, "merged_rows"] = ";".join(allu)
    return frame.drop(index=sorted(drop)).reset_index(drop=True)


def add_derived(frame: pd.DataFrame, system: str) -> pd.DataFrame:
    """Rule-of-mixtures density and the Mg-Li phase field (step 7)."""
    frame = frame.copy()
    frame["density_calc_g_cm3"] = density_rule_of_mixtures(
        frame[list(ELEMENTS)].to_numpy(), ELEMENTS
    )
    li = frame["Li"].fillna(0.0)
    phase = pd.Series(pd.NA, index=frame.index, dtype="string")
    if system == "mg":
        has_li = (li > 0) & ~frame["flag_impurity_li"]
        phase = phase.mask(has_li & (li < LI_ALPHA_MAX_WT), "alpha")
        phase = phase.mask(has_li & (li >= LI_ALPHA_MAX_WT) & (li <= LI_BETA_MIN_WT), "alpha+beta")
        phase = phase.mask(has_li & (li > LI_BETA_MIN_WT), "beta")
    frame["li_phase"] = phase
    return frame


def clean_system(
    system: str,
    interim: dict[str, tuple[pd.DataFrame, pd.DataFrame, dict]],
    params: CleanParams,
) -> CleanResult:
    """Run steps 1-9 on the interim tables ``{source_id: (rows, rejects, meta)}`` of ``system``."""
    frames = []
    for sid in sorted(interim):
        rows, _, meta = interim[sid]
        if meta.get("system", system) != system:
            raise AccountingError(
                f"source {sid!r} belongs to system {meta['system']!r}, not {system!r}"
            )
        frames.append(rows)
    allrows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    allrows = (
        conform(allrows)
        .sort_values(["source_id", "source_row"], kind="stable")
        .reset_index(drop=True)
    )
    # Rows an adapter identified as not being an alloy (metal-matrix composites whose
    # reinforcement has no composition column) are rejected here, before any check.
    not_alloy = pd.Series(False, index=allrows.index)
    for sid in interim:
        rows_ = set(interim[sid][2].get("notes", {}).get("composite_rows", []))
        not_alloy |= (allrows["source_id"] == sid) & allrows["source_row"].astype(int).isin(rows_)
    composite_rej = _reject(
        allrows, not_alloy, "composite_material", "alloy_name",
        "metal-matrix composite: the reinforcement is not in the composition",
    )  # fmt: skip
    kept, clean_rej = physical_checks(allrows.loc[~not_alloy], system, params)
    clean_rej = pd.concat(
        [r for r in (composite_rej, clean_rej) if len(r)] or [clean_rej], ignore_index=True
    )
    agg = aggregate_replicates(kept, params)
    merged = merge_cross_source(agg, params)
    table = add_derived(merged, system)
    table = table.drop(columns=[c for c in table.columns if c.startswith("_")])
    table = (
        conform(table, CLEAN_COLUMNS).sort_values("row_uid", kind="stable").reset_index(drop=True)
    )
    try:
        table = PROCESSED_SCHEMA.validate(table, lazy=True)
    except pandera.errors.SchemaErrors as exc:
        raise SchemaError(
            f"processed table of {system!r} fails the schema:\n{exc.failure_cases.head(20)}"
        ) from None
    ingest_rej = [interim[sid][1] for sid in sorted(interim)]
    rejects = (
        pd.concat(
            [r[list(REJECT_COLUMNS)] for r in ingest_rej if len(r)]
            + ([clean_rej] if len(clean_rej) else []),
            ignore_index=True,
        )
        if any(len(r) for r in ingest_rej) or len(clean_rej)
        else pd.DataFrame(columns=list(REJECT_COLUMNS))
    )
    rejects["stage"] = ["ingest"] * sum(len(r) for r in ingest_rej) + ["clean"] * len(clean_rej)
    rejects = rejects.sort_values(["source_id", "source_row"], kind="stable").reset_index(drop=True)
    report = accounting(system, interim, table, rejects)
    report["coverage"] = coverage(table)
    return CleanResult(table=table, rejects=rejects, report=report)


def accounting(
    system: str,
    interim: dict[str, tuple[pd.DataFrame, pd.DataFrame, dict]],
    table: pd.DataFrame,
    rejects: pd.DataFrame,
) -> dict[str, Any]:
    """Per-source rows in / kept / merged / rejected; raises when a row is unaccounted for."""
    merged_uids: list[str] = []
    for m in table["merged_rows"].dropna():
        merged_uids.extend(str(m).split(";"))
    merged_src = pd.Series([u.rsplit(":", 1)[0] for u in merged_uids], dtype="string")
    per_source: dict[str, Any] = {}
    for sid in sorted(interim):
        rows_in = int(interim[sid][2]["rows_in"])
        kept = int((table["source_id"] == sid).sum())
        merged = int((merged_src == sid).sum())
        rej = rejects.loc[rejects["source_id"] == sid]
        rejected = len(rej)
        if rows_in != kept + merged + rejected:
            raise AccountingError(
                f"source {sid!r}: rows_in={rows_in} but kept={kept} + merged={merged} + "
                f"rejected={rejected} = {kept + merged + rejected}; a row was lost or doubled"
            )
        per_source[sid] = {
            "rows_in": rows_in,
            "kept": kept,
            "merged": merged,
            "rejected": rejected,
            "rejected_by_reason": {
                str(k): int(v) for k, v in rej["reason"].value_counts().sort_index().items()
            },
        }
    totals = {
        k: sum(v[k] for v in per_source.values()) for k in ("rows_in", "kept", "merged", "rejected")
    }
    return {
        "system": system,
        "rows": len(table),
        "groups": int(table["group_id"].nunique()),
        "totals": totals,
        "sources": per_source,
    }


def coverage(table: pd.DataFrame) -> dict[str, Any]:
    """Rows with each element present (> 0) and each property reported."""
    elements = {
        e: int((table[e].fillna(0) > 0).sum()) for e in ELEMENTS if (table[e].fillna(0) > 0).any()
    }
    props = {t: int(table[t].notna().sum()) for t in TARGETS}
    return {"elements": elements, "properties": props}
