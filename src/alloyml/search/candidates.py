"""From a study to a batch for the next experimental round: ranking, diversity, candidate cards.

1. :func:`trials_frame`: one row per complete trial of the study (all workers), built from what
   the trial stored — its design and predictions — so a candidate is exactly what was evaluated.
2. Feasible trials only (every constraint value <= 0), ranked: single objective by the objective
   value; several objectives by non-dominated front, then crowding distance (the NSGA-II order).
3. :func:`select_diverse`: greedily the best trials at least ``min_distance`` apart in the
   design space (:meth:`~alloyml.search.space.DesignSpace.vectors`) from every one already taken,
   until ``q`` are chosen.
4. :func:`card_table`: per candidate the composition in wt % and at %, the process, predictions
   with intervals, density, domain score, the three nearest measured alloys with their distance
   and measured properties, novelty (distance to the nearest measured alloy), the active
   constraints and bounds, extrapolation notes and the Mg-Li phase field; written by
   :func:`write_csv` and :func:`write_markdown`.

A candidate is *active* on a constraint when it lies within 2 % of the bound, and is an
*extrapolation* when a predicted property exceeds the best value measured in the system's data or a
known physical limit of the campaign (e.g. Li-rich Mg-Li alloys verified only below ~300 MPa UTS).
A candidate predicted *at the frontier* (at or above the best training value less the gap by
which the extrapolation protocol's model fell short of its own best training value on alloys
stronger than any it saw, :meth:`alloyml.modeling.uncertainty.ConformalInterval.fit_frontier`)
gets a note too: its upper bound is the extrapolation protocol's, and the model's record there
is quoted.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from optuna.trial import FrozenTrial
from threadpoolctl import threadpool_limits

from alloyml.compositions import format_alloy, wt_to_at
from alloyml.errors import AlloyMLError
from alloyml.features.process import STAGES
from alloyml.schema import (
    ELEMENTS,
    LI_ALPHA_MAX_WT,
    LI_BETA_MIN_WT,
    PROCESS_NUMERIC,
    TARGETS,
    UNITS,
)
from alloyml.search.campaign import SPECIFIC, Campaign
from alloyml.search.evaluate import DENSITY, Problem
from alloyml.search.measured import Measured, in_ranges
from alloyml.search.space import Design, DesignSpace

K_NEAREST = 3
ACTIVE_TOL = 0.02


# -- the trial table --------------------------------------------------------------------------


def process_columns(campaign: Campaign) -> list[str]:
    """Canonical numeric process columns the campaign can produce, in schema order."""
    cols = set(campaign.process.fixed) | {n.column for n in campaign.process.numeric}
    for s in list(campaign.process.stages) + [
        s for ts in campaign.process.tempers.values() for s in ts
    ]:
        cols |= {f"{s.name}_T_C", f"{s.name}_t_h"}
    return [c for c in PROCESS_NUMERIC if c in cols]


def _record(value: str | dict[str, Any]) -> dict[str, Any]:
    """A trial's design or evaluation record: JSON text (the runner's) or a dict (older studies)."""
    return json.loads(value) if isinstance(value, str) else value


def trials_frame(trials: Sequence[FrozenTrial], problem: Problem) -> pd.DataFrame:
    """One row per complete trial: design, predictions, objective and constraint values."""
    c = problem.campaign
    space = problem.space
    proc_cols = process_columns(c)
    targets = problem.evaluator.targets
    rows = []
    for t in trials:
        d, ev = _record(t.user_attrs["design"]), _record(t.user_attrs["eval"])
        row: dict[str, Any] = {"trial": t.number, "worker": t.user_attrs.get("worker", "")}
        row |= d["wt"]
        row["route"], row["temper_class"] = d["route"], d["temper"]
        row |= {col: d["process"].get(col, np.nan) for col in proc_cols}
        row |= {k: (np.nan if v is None else v) for k, v in ev.items()}
        for o, v in zip(c.objectives, t.values, strict=True):
            row[f"objective_{o.quantity}"] = v
        row |= {f"constraint_{k}": v for k, v in t.constraints.items()}
        rows.append(row)
    cols = ["trial", "worker", *space.elements, "route", "temper_class", *proc_cols]
    table = pd.DataFrame(rows)
    if table.empty:
        return pd.DataFrame(columns=cols)
    for q in c.quantities():
        if q in SPECIFIC:
            base = SPECIFIC[q]
            for s in ("pred", "lo", "hi"):
                table[f"{q}_{s}"] = table[f"{base}_{s}"] / table[DENSITY]
    for tgt in targets:
        table[f"{tgt}_in_domain"] = table[f"{tgt}_score"] <= 1.0
    table["domain_score"] = table[[f"{t}_score" for t in problem.domain_targets]].max(axis=1)
    table["in_domain"] = table["domain_score"] <= 1.0
    con_cols = [f"constraint_{n}" for n in problem.constraint_names]
    table["constraints_ok"] = (table[con_cols] <= 0).all(axis=1)
    return table.sort_values("trial").reset_index(drop=True)


def designs_of(table: pd.DataFrame, space: DesignSpace) -> list[Design]:
    """The designs of trial-table rows (absent stages are NaN there)."""
    proc_cols = process_columns(space.campaign)
    out = []
    for _, r in table.iterrows():
        out.append(
            Design(
                wt={e: float(r[e]) for e in space.elements},
                route=str(r["route"]),
                temper=str(r["temper_class"]),
                process={c: float(r[c]) for c in proc_cols if pd.notna(r[c])},
            )
        )
    return out


# -- ranking and selection ----------------------------------------------------------------------


def _signs(campaign: Campaign) -> np.ndarray:
    return np.array([1.0 if o.direction == "maximize" else -1.0 for o in campaign.objectives])


def nondominated(F: np.ndarray) -> np.ndarray:
    """Mask of the non-dominated rows of ``F`` (every column maximised); duplicates keep one."""
    n, k = F.shape
    if n == 0:
        return np.zeros(0, bool)
    if k == 1:
        out = np.zeros(n, bool)
        out[int(np.argmax(F[:, 0]))] = True
        return out
    if k == 2:
        order = np.lexsort((-F[:, 1], -F[:, 0]))
        f1 = F[order, 1]
        prev = np.maximum.accumulate(np.concatenate([[-np.inf], f1[:-1]]))
        out = np.zeros(n, bool)
        out[order[f1 > prev]] = True
        return out
    dominated = np.zeros(n, bool)
    for s in range(0, n, 512):
        blk = F[s : s + 512]
        ge = (F[None, :, :] >= blk[:, None, :]).all(axis=2)
        gt = (F[None, :, :] > blk[:, None, :]).any(axis=2)
        dominated[s : s + 512] = (ge & gt).any(axis=1)
    # exact duplicates are mutually non-dominated: keep the first of each
    keep = ~dominated
    _, first = np.unique(F[keep], axis=0, return_index=True)
    idx = np.flatnonzero(keep)
    out = np.zeros(n, bool)
    out[idx[first]] = True
    return out


def pareto_ranks(F: np.ndarray, enough: int) -> np.ndarray:
    """Front index (0 = Pareto front) of each row, peeling fronts until ``enough`` rows are
    ranked; the rest get ``inf``."""
    ranks = np.full(len(F), np.inf)
    left = np.arange(len(F))
    r = 0
    while len(left) and (ranks < np.inf).sum() < enough:
        nd = nondominated(F[left])
        ranks[left[nd]] = r
        left = left[~nd]
        r += 1
    return ranks


def crowding(F: np.ndarray) -> np.ndarray:
    """NSGA-II crowding distance (boundary points infinite)."""
    n, k = F.shape
    d = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for j in range(k):
        order = np.argsort(F[:, j])
        span = F[order[-1], j] - F[order[0], j]
        d[order[0]] = d[order[-1]] = np.inf
        if span > 0:
            d[order[1:-1]] += (F[order[2:], j] - F[order[:-2], j]) / span
    return d


def ranking(table: pd.DataFrame, campaign: Campaign, enough: int) -> np.ndarray:
    """Positions of the feasible trials of ``table``, best first."""
    feas = np.flatnonzero(table["constraints_ok"].to_numpy(bool))
    if not len(feas):
        return feas
    F = table.iloc[feas][[f"objective_{o.quantity}" for o in campaign.objectives]].to_numpy(float)
    F = F * _signs(campaign)
    if F.shape[1] == 1:
        return feas[np.argsort(-F[:, 0], kind="stable")]
    ranks = pareto_ranks(F, enough)
    keys = np.zeros(len(feas))
    for r in np.unique(ranks[np.isfinite(ranks)]):
        m = ranks == r
        keys[m] = -crowding(F[m])
    order = np.lexsort((keys, ranks))
    return feas[order[np.isfinite(ranks[order])]]


def select_diverse(
    order: np.ndarray, vectors: np.ndarray, q: int, min_distance: float
) -> list[int]:
    """Greedy: walk ``order`` (positions into ``vectors``) and keep a point when it is at least
    ``min_distance`` from every point kept, until ``q`` are kept."""
    chosen: list[int] = []
    for i in order:
        if chosen:
            d = np.linalg.norm(vectors[chosen] - vectors[i], axis=1)
            if d.min() < min_distance:
                continue
        chosen.append(int(i))
        if len(chosen) == q:
            break
    return chosen


def tradeoff_axes(campaign: Campaign) -> list[tuple[str, str, str]] | None:
    """Two ``(column, label, direction)`` axes of the campaign's trade-off front: the first two
    objectives, or the objective and the first constraint (as judged)."""
    objs = campaign.objectives
    axes = [(f"objective_{o.quantity}", o.label, o.direction) for o in objs[:2]]
    if len(axes) == 1 and campaign.constraints:
        con = campaign.constraints[0]
        col = f"{con.quantity}_{con.on}" if con.quantity != DENSITY else DENSITY
        axes.append((col, f"{con.quantity} ({con.on})",
                     "maximize" if con.op == ">=" else "minimize"))  # fmt: skip
    return axes if len(axes) == 2 else None


def front(table: pd.DataFrame, axes: list[tuple[str, str, str]]) -> pd.DataFrame:
    """Feasible non-dominated trials on the trade-off axes."""
    feas = table[table["constraints_ok"]]
    if feas.empty:
        return feas
    F = np.column_stack(
        [feas[c].to_numpy(float) * (1.0 if d == "maximize" else -1.0) for c, _, d in axes]
    )
    return feas[nondominated(F)].sort_values(axes[0][0])


# -- cards ----------------------------------------------------------------------------------------


def li_phase(li_wt: float) -> str:
    """Mg-Li phase field of binary Mg-Li at this Li content (schema limits)."""
    if li_wt <= 0:
        return ""
    if li_wt < LI_ALPHA_MAX_WT:
        return "alpha (hcp)"
    if li_wt <= LI_BETA_MIN_WT:
        return "alpha+beta"
    return "beta (bcc)"


def _measured_label(row: pd.Series, balance: str) -> str:
    name = row.get("alloy_name")
    if isinstance(name, str) and name.strip():
        return name.strip()
    comp = {e: float(row[e]) for e in ELEMENTS if e in row.index and pd.notna(row[e])}
    return format_alloy(comp, balance)


def _frontier_record(bundle: Any) -> str:
    """How the model did on the extrapolation protocol, for a design predicted at the frontier."""
    if bundle is None:
        return ""
    m = bundle.meta.get("metrics", {}).get("extrapolation")
    if not m:
        return " (the model has no extrapolation record)"
    nominal = 1.0 - float(bundle.meta.get("alpha", bundle.interval.alpha))
    text = (
        f" (interval at the frontier calibrated on the extrapolation protocol - train below the "
        f"top decile, predict it: MAE {m['mae']:.3g}, coverage {m['coverage']:.2f} at nominal "
        f"{nominal:.2f}"
    )
    if m.get("spearman") is not None and np.isfinite(m["spearman"]):
        text += f", Spearman {m['spearman']:.2f} within the top decile"
    return text + ")"


def card_table(
    table: pd.DataFrame, chosen: list[int], problem: Problem, measured: Measured
) -> pd.DataFrame:
    """The candidate rows with every card field (one row per candidate, in rank order)."""
    c = problem.campaign
    space = problem.space
    cand = table.iloc[chosen].copy().reset_index(drop=True)
    cand.insert(0, "candidate", np.arange(1, len(cand) + 1))
    if cand.empty:
        return cand
    designs = designs_of(cand, space)
    for i, d in enumerate(designs):
        bad = space.violations(d)
        if bad:  # the search only stores exact designs: this would be a bug
            raise AlloyMLError(f"candidate {i + 1} (trial {cand.loc[i, 'trial']}) breaks {bad}")
    # every model of the system on the candidates: the properties the search did not need, and
    # a check that the written designs give back exactly what the search evaluated
    with threadpool_limits(limits=1):  # as in the search loop (same floating-point results)
        ev = problem.reporter(*space.matrices(designs))
    for t in problem.reporter.targets:
        if t in problem.evaluator.targets:
            if not np.allclose(ev[f"{t}_pred"], cand[f"{t}_pred"], rtol=1e-9, atol=1e-9):
                raise AlloyMLError(
                    f"re-predicting the candidates changed {t}: the models changed during the "
                    "search, or the stored designs do not match the evaluated ones"
                )
            continue
        for k in ("pred", "lo", "hi", "score"):
            cand[f"{t}_{k}"] = ev[f"{t}_{k}"]
        cand[f"{t}_in_domain"] = cand[f"{t}_score"] <= 1.0
    at = wt_to_at(cand[list(space.elements)].to_numpy(float), space.elements) * 100.0
    for j, e in enumerate(space.elements):
        cand[f"at_{e}"] = at[:, j]
    cand.insert(2, "alloy", [format_alloy(d.wt, c.balance) for d in designs])
    dist, idx = measured.nearest(space.vectors(designs), K_NEAREST)
    cand["novelty"] = dist[:, 0]
    for k in range(dist.shape[1]):
        rows = measured.frame.iloc[idx[:, k]]
        cand[f"nearest_{k + 1}_row_uid"] = rows["row_uid"].astype(str).to_numpy()
        cand[f"nearest_{k + 1}_alloy"] = [_measured_label(r, c.balance) for _, r in rows.iterrows()]
        cand[f"nearest_{k + 1}_source"] = rows["source_id"].astype(str).to_numpy()
        cand[f"nearest_{k + 1}_temper"] = rows["temper_class"].astype(object).fillna("").to_numpy()
        cand[f"nearest_{k + 1}_route"] = rows["route"].astype(object).fillna("").to_numpy()
        cand[f"nearest_{k + 1}_distance"] = dist[:, k]
        for t in TARGETS:
            if t in rows.columns:
                cand[f"nearest_{k + 1}_{t}"] = rows[t].to_numpy(float)
    active, notes, beyond = [], [], []
    for i, d in enumerate(designs):
        r = cand.iloc[i]
        act = []
        for con in c.constraints:
            v = r[f"constraint_{con.name}"]
            if v > -ACTIVE_TOL:
                col = DENSITY if con.quantity == DENSITY else f"{con.quantity}_{con.on}"
                act.append(f"{con.describe()}: {r[col]:.4g}")
        if r.get("constraint_total_solute_min", -1.0) > -ACTIVE_TOL:
            act.append(f"total solute >= {c.total_solute_wt[0]:g} wt%")
        if r["constraint_domain"] > -ACTIVE_TOL:
            act.append(f"domain score <= {c.domain.max_score:g}: {r['domain_score']:.3g}")
        act += space.active_bounds(d)
        active.append("; ".join(act))
        note, frontier = [], []
        for t in problem.reporter.targets:
            top = measured.maxima.get(t)
            b = problem.reporter.bundles.get(t)
            front = getattr(b.interval, "frontier_", np.inf) if b is not None else np.inf
            pred = r[f"{t}_pred"]
            among = "the campaign's reference alloys" if c.reference else f"{c.system} alloys"
            if top is not None and pred > top:
                note.append(
                    f"{t} predicted {pred:.4g}, {pred - top:+.4g} above the "
                    f"best measured {top:.4g} among {among}" + _frontier_record(b)
                )
            elif pred >= front:
                # a forest predicts an alloy stronger than any it saw at the top of the data:
                # the upper bound is the extrapolation protocol's (ConformalInterval.fit_frontier)
                best = f", best measured {top:.4g} among {among}" if top is not None else ""
                frontier.append(
                    f"{t} predicted {pred:.4g}, at the frontier of the measured values{best}: "
                    f"upper bound {r[f'{t}_hi']:.4g} raised for a possible underestimate"
                    + _frontier_record(b)
                )
        for lim in c.known_limits:
            inside = bool(in_ranges(pd.DataFrame([d.wt]), lim.when).iloc[0])
            q = lim.quantity
            col = f"{q}_pred" if q != DENSITY else DENSITY
            if inside and r[col] > lim.value:
                note.append(f"{q} predicted {r[col]:.4g} > {lim.value:g}: {lim.note}".rstrip(": "))
        beyond.append(bool(note))  # above the best measured or a known limit
        notes.append(note + frontier)
    cand["active_constraints"] = active
    cand["extrapolation"] = beyond
    cand["extrapolation_notes"] = ["; ".join(n) for n in notes]
    cand["li_phase"] = [li_phase(d.wt.get("Li", 0.0)) for d in designs]
    return cand


def candidate_columns(cand: pd.DataFrame, problem: Problem) -> list[str]:
    """Column order of ``candidates.csv``."""
    c = problem.campaign
    space = problem.space
    cols = ["candidate", "trial", "worker", "alloy", *space.elements]
    cols += [f"at_{e}" for e in space.elements]
    cols += ["route", "temper_class", *process_columns(c)]
    for t in problem.reporter.targets:
        cols += [f"{t}_pred", f"{t}_lo", f"{t}_hi", f"{t}_in_domain", f"{t}_score"]
    cols.append(DENSITY)
    for q in c.quantities():
        if q in SPECIFIC:
            cols += [f"{q}_pred", f"{q}_lo", f"{q}_hi"]
    cols += [f"objective_{o.quantity}" for o in c.objectives]
    cols += [f"constraint_{n}" for n in problem.constraint_names]
    cols += ["domain_score", "in_domain", "constraints_ok", "active_constraints", "extrapolation",
             "extrapolation_notes", "li_phase", "novelty"]  # fmt: skip
    cols += [x for x in cand.columns if x.startswith("nearest_")]
    return [x for x in cols if x in cand.columns]


def write_csv(cand: pd.DataFrame, problem: Problem, path: Path) -> Path:
    cols = candidate_columns(cand, problem)
    out = cand[cols].rename(columns={f"{t}_score": f"{t}_domain_score" for t in TARGETS})
    path.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(path, index=False, lineterminator="\n")
    return path


def _process_text(r: pd.Series, campaign: Campaign) -> str:
    parts = [f"route {r['route']}", f"temper {r['temper_class']}"]
    for s in STAGES:
        T, t = r.get(f"{s}_T_C"), r.get(f"{s}_t_h")
        if T is not None and pd.notna(T):
            parts.append(f"{s} {T:.0f} °C × {t:.2f} h")
    for n in campaign.process.numeric:
        v = r.get(n.column)
        if v is not None and pd.notna(v):
            parts.append(f"{n.column} {v:g}")
    for col, v in campaign.process.fixed.items():
        parts.append(f"{col} {v:g} (fixed)")
    return "; ".join(parts)


def write_markdown(
    cand: pd.DataFrame, problem: Problem, context: dict[str, Any], path: Path
) -> Path:
    """``candidates.md``: a header on the campaign and one card per candidate."""
    c = problem.campaign
    space = problem.space
    L = [f"# Candidates of campaign `{c.name}` ({c.system})", ""]
    if c.description:
        L += [c.description, ""]
    L += ["| | |", "|---|---|"]
    for k, v in context.items():
        L.append(f"| {k} | {v} |")
    L += [
        "",
        "Intervals are the models' calibrated (conformal) intervals at the nominal coverage of "
        "training; the domain score is the k-NN distance to the training data over the model's "
        "threshold (<= 1: inside the domain of applicability). Novelty and nearest-alloy "
        "distances are in design-space units: 1 = 1 wt% of an element, a different route or "
        "temper, a heat-treatment stage added or removed, 50 °C or a factor 10 in time of a stage.",
        "",
    ]
    if cand.empty:
        L += ["**No feasible candidate**: no evaluated design met every constraint. Relax the "
              "constraints, widen the design space, raise n_trials or use `explore`.", ""]  # fmt: skip
    for _, r in cand.iterrows():
        L += [
            f"## Candidate {r['candidate']}: {r['alloy']} ({r['route']}, {r['temper_class']})",
            "",
        ]
        L += ["| | |", "|---|---|"]
        L.append(f"| trial | {r['trial']} (worker `{r['worker']}`) |")
        for o in c.objectives:
            L.append(
                f"| objective {o.label} ({o.direction}) | {r[f'objective_{o.quantity}']:.4g} |"
            )
        L.append(f"| density (rule of mixtures) | {r[DENSITY]:.4f} g/cm³ |")
        dom = "in domain" if r["in_domain"] else "**outside the domain of applicability**"
        L.append(f"| domain score | {r['domain_score']:.3f} ({dom}) |")
        L.append(f"| novelty | {r['novelty']:.3f} (distance to the nearest measured alloy) |")
        if r["li_phase"]:
            L.append(f"| Mg-Li phase field | {r['li_phase']} (Li {r.get('Li', 0):.2f} wt%) |")
        L.append(f"| active constraints | {r['active_constraints'] or 'none'} |")
        extra = "**yes**" if r["extrapolation"] else "no"
        if r["extrapolation_notes"]:
            extra += f": {r['extrapolation_notes']}"
        L.append(f"| extrapolation | {extra} |")
        L += ["", "| element | wt% | at% |", "|---|---:|---:|"]
        for e in space.elements:
            if r[e] > 0:
                L.append(f"| {e} | {r[e]:.2f} | {r[f'at_{e}']:.2f} |")
        L += ["", f"Process: {_process_text(r, c)}", ""]
        L += ["| property | prediction | interval | model in domain |", "|---|---:|---|---|"]
        for t in problem.reporter.targets:
            ok = "yes" if r[f"{t}_in_domain"] else "no"
            L.append(f"| {t} | {r[f'{t}_pred']:.4g} {UNITS[t]} | "
                     f"[{r[f'{t}_lo']:.4g}, {r[f'{t}_hi']:.4g}] | {ok} |")  # fmt: skip
        for q in c.quantities():
            if q in SPECIFIC:
                L.append(f"| {q} | {r[f'{q}_pred']:.4g} {UNITS[q]} | "
                         f"[{r[f'{q}_lo']:.4g}, {r[f'{q}_hi']:.4g}] | |")  # fmt: skip
        L += ["", "Nearest measured alloys:", "",
              "| # | alloy | source | route / temper | distance | YS | UTS | EL | HV |",
              "|---|---|---|---|---:|---:|---:|---:|---:|"]  # fmt: skip
        for k in range(1, K_NEAREST + 1):
            if f"nearest_{k}_row_uid" not in r:
                break
            vals = []
            for t in TARGETS:
                v = r.get(f"nearest_{k}_{t}")
                vals.append("–" if v is None or pd.isna(v) else f"{v:.4g}")
            L.append(
                f"| {k} | {r[f'nearest_{k}_alloy']} (`{r[f'nearest_{k}_row_uid']}`) | "
                f"{r[f'nearest_{k}_source']} | {r[f'nearest_{k}_route'] or '–'} / "
                f"{r[f'nearest_{k}_temper'] or '–'} | {r[f'nearest_{k}_distance']:.3f} | "
                + " | ".join(vals)
                + " |"
            )
        L.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(L) + "\n", encoding="utf-8")
    return path
