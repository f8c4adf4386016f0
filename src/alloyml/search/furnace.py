"""Furnace-shared batches: one heat-treatment schedule (or a few) for a whole experimental batch.

A lab casts the batch's alloys and heat-treats them together: every candidate must then share the
schedule of the stages named by the campaign's ``shared_process`` (``sol1``, ``age1`` …; sharing
an ageing stage shares the temper), in at most ``furnace_groups`` distinct schedules
(:class:`~alloyml.search.campaign.FurnaceSpec`). Rounding the candidates of an unconstrained
search onto one schedule afterwards would give designs nobody optimised; here the schedule is
optimised jointly with the compositions:

1. **Batch-level parameters.** The shared schedule is a handful of the flat encoding's genes
   (``temper``, ``x_<stage>_T``, ``x_<stage>_t``; :class:`~alloyml.search.space.DesignSpace`).
   An outer Optuna study (TPE, seeded) proposes schedules; its first trials are the schedules of
   the best distinct designs of the campaign's own (unconstrained) study.
2. **Compositions per candidate.** For each schedule an inner NSGA-II search over every other
   gene (composition, route, the stages not shared, numeric process parameters) runs with the
   schedule's genes fixed, evaluated in batches by the same :class:`Problem` (models,
   acquisitions, constraints, domain policy) as the campaign. It starts from the best designs of
   the campaign's study moved onto the schedule (their genes, re-decoded: exact designs, never
   rounded copies).
3. **The batch.** :func:`~alloyml.search.fantasy.select_with_fantasies` picks ``q`` candidates of
   that schedule greedily with fantasies (kriging believer or constant liar through the shared
   acquisition module), pending experiments conditioning and excluding as in any round. The
   batch's acquisition value (the sum over its picks) is the outer study's objective.
4. **Groups.** With ``furnace_groups: N > 1`` the batch is grown greedily over schedules: the
   best schedule's designs, then the union with the schedule that raises the batch value most,
   up to N schedules.

Every design is decoded by :meth:`DesignSpace.decode_flat` and made exact by
:meth:`DesignSpace.finish`, so candidates satisfy every composition constraint exactly; the
schedule count of the chosen batch is checked before it is returned.
"""

from __future__ import annotations

import json
import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.distributions import CategoricalDistribution, FloatDistribution
from optuna.samplers import NSGAIISampler, TPESampler
from optuna.trial import TrialState
from threadpoolctl import threadpool_limits

from alloyml.errors import AlloyMLError
from alloyml.search.campaign import FurnaceSpec
from alloyml.search.candidates import designs_of, ranking, trials_frame
from alloyml.search.evaluate import Problem
from alloyml.search.fantasy import Selection, select_with_fantasies
from alloyml.search.space import Design, DesignSpace

log = logging.getLogger(__name__)

#: Schedules the outer study tries, and the share of them seeded from the campaign's study.
N_SCHEDULES = 12
SEEDED_FRACTION = 0.5
#: Designs of the campaign's study moved onto each schedule to start its inner search.
N_GRAFTED = 16
#: Inner search budget per schedule: this fraction of the campaign's n_trials (at least one
#: eval_batch).
INNER_FRACTION = 0.1


def _absent_gene(dist: FloatDistribution) -> float:
    return -0.5 if dist.low < 0 else 0.5


def encode_flat(space: DesignSpace, design: Design) -> dict[str, Any]:
    """Flat-encoding genes that :meth:`DesignSpace.decode_flat` maps back to ``design``.

    The inverse of the flat encoding for exact designs: amounts as genes (an absent optional
    element as a negative gene), stage temperatures and times as unit genes inside the bounds of
    the design's temper (log scale for times), an absent optional stage as a negative
    temperature gene; genes the design does not use take the middle of their range.
    """
    c = space.campaign
    dists = space.flat_distributions
    v: dict[str, Any] = {}
    for e in c.elements:
        a = float(design.wt.get(e.symbol, 0.0))
        if e.required:
            v[e.symbol] = a
        else:
            v[f"{e.symbol}_x"] = a if a > 0 else -0.5 * e.hi
    if "route" in dists:
        v["route"] = design.route
    if "temper" in dists:
        v["temper"] = design.temper
    for name, dist in dists.items():
        if name.startswith("x_") and name not in v:  # genes of stages the design lacks
            v[name] = _absent_gene(dist) if name.endswith("_T") else 0.5
    specs = [*c.process.stages, *c.process.tempers.get(design.temper, ())]
    for s in specs:
        if f"{s.name}_T_C" not in design.process:
            v[f"x_{s.name}_T"] = -0.5 if s.optional else 0.5
            continue
        T, t = design.process[f"{s.name}_T_C"], design.process[f"{s.name}_t_h"]
        uT = (T - s.T_C[0]) / (s.T_C[1] - s.T_C[0]) if s.T_C[1] > s.T_C[0] else 0.0
        lt0, lt1 = math.log(s.t_h[0]), math.log(s.t_h[1])
        ut = (math.log(t) - lt0) / (lt1 - lt0) if lt1 > lt0 else 0.0
        v[f"x_{s.name}_T"] = min(max(uT, 0.0), 1.0)
        v[f"x_{s.name}_t"] = min(max(ut, 0.0), 1.0)
    for n in c.process.numeric:
        v[n.column] = float(design.process.get(n.column, (n.lo + n.hi) / 2))
    return v


def shared_genes(space: DesignSpace, spec: FurnaceSpec) -> list[str]:
    """Flat genes that make up one shared schedule (the batch-level parameters)."""
    dists = space.flat_distributions
    genes = []
    if any(s.startswith("age") for s in spec.stages) and "temper" in dists:
        genes.append("temper")
    for s in spec.stages:
        genes += [g for g in (f"x_{s}_T", f"x_{s}_t") if g in dists]
    return genes


def schedule_key(design: Design, spec: FurnaceSpec) -> tuple:
    """What a furnace load shares: the temper (when an ageing stage is shared) and the (T, t)
    of every shared stage (``None`` when the stage is absent)."""
    key: list[Any] = []
    if any(s.startswith("age") for s in spec.stages):
        key.append(design.temper)
    for s in spec.stages:
        T = design.process.get(f"{s}_T_C")
        key.append(None if T is None else (T, design.process[f"{s}_t_h"]))
    return tuple(key)


def describe_schedule(key: tuple, spec: FurnaceSpec) -> str:
    parts = []
    rest = list(key)
    if any(s.startswith("age") for s in spec.stages):
        parts.append(f"temper {rest.pop(0)}")
    for s, v in zip(spec.stages, rest, strict=True):
        parts.append(f"{s} –" if v is None else f"{s} {v[0]:.0f} °C × {v[1]:.2f} h")
    return ", ".join(parts)


@dataclass
class FurnaceResult:
    """The chosen batch and how it was found."""

    table: pd.DataFrame  # the inner searches' trials (trial-table columns, worker furnace-<k>)
    selection: Selection  # positions into ``table``
    free: Selection  # the unconstrained batch on the campaign's study (positions into its table)
    schedules: list[dict[str, Any]] = field(default_factory=list)  # per outer trial
    chosen_schedules: list[str] = field(default_factory=list)
    n_evaluations: int = 0


def _inner_search(
    problem: Problem,
    fixed: dict[str, Any],
    seeds: list[dict[str, Any]],
    n_trials: int,
    eval_batch: int,
    seed: int,
    worker: str,
) -> pd.DataFrame:
    """NSGA-II over the genes not in ``fixed``; returns its trial table."""
    space = problem.space
    free = {k: d for k, d in space.flat_distributions.items() if k not in fixed}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sampler = NSGAIISampler(population_size=max(min(eval_batch, 100), 2), seed=seed)
    study = optuna.create_study(directions=problem.campaign.directions, sampler=sampler)
    for s in seeds:
        study.enqueue_trial({k: v for k, v in s.items() if k in free}, skip_if_exists=True)
    done = 0
    while done < n_trials:
        m = min(eval_batch, n_trials - done)
        trials = [study.ask() for _ in range(m)]
        designs = []
        for t in trials:
            vals = dict(fixed)
            for name, dist in free.items():
                if isinstance(dist, FloatDistribution):
                    vals[name] = t.suggest_float(name, dist.low, dist.high, log=dist.log)
                else:
                    vals[name] = t.suggest_categorical(name, dist.choices)
            designs.append(space.decode_flat(vals))
        ev = problem.evaluator(*space.matrices(designs))
        values, cons = problem.score(designs, ev)
        for i, (t, d) in enumerate(zip(trials, designs, strict=True)):
            t.set_user_attr("worker", worker)
            t.set_user_attr("design", json.dumps(d.to_dict()))
            t.set_user_attr(
                "eval",
                json.dumps(
                    {k: (float(v[i]) if np.isfinite(v[i]) else None) for k, v in ev.items()}
                ),
            )
            for name, cv in cons.items():
                t.set_constraint(name, float(cv[i]))
            if np.isfinite(values[i]).all():
                study.tell(t, values[i].tolist())
            else:
                study.tell(t, state=TrialState.FAIL)
        done += m
    return trials_frame(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)), problem)


def _schedule_distributions(space: DesignSpace, genes: list[str]) -> dict[str, Any]:
    return {g: space.flat_distributions[g] for g in genes}


def furnace_batch(
    problem: Problem,
    table: pd.DataFrame,
    q: int,
    seed: int,
    *,
    pending: Sequence[Design] = (),
    exclude: Sequence[Design] = (),
    measured_y: np.ndarray | None = None,
    fantasy: str = "believer",
    n_schedules: int = N_SCHEDULES,
    trials_per_schedule: int | None = None,
    eval_batch: int | None = None,
) -> FurnaceResult:
    """The furnace-shared batch of a campaign (see the module docstring).

    Args:
        problem: the campaign's problem; ``problem.campaign.furnace`` must be active.
        table: the campaign's study as a trial table (seeds the schedules and the inner searches,
            and gives the unconstrained batch the shared one is compared with).
        q: batch size.
        seed: seeds the outer and inner samplers.
        pending, exclude, measured_y, fantasy: as in :func:`select_with_fantasies`.
        n_schedules: outer trials (schedules tried).
        trials_per_schedule: inner evaluations per schedule (default: ``INNER_FRACTION`` of the
            campaign's ``n_trials``, at least one ``eval_batch``).
        eval_batch: designs evaluated per call (default: the campaign's).
    """
    c = problem.campaign
    spec = c.furnace
    if not spec.active:
        raise AlloyMLError(f"campaign {c.name!r} shares no process stage (shared_process)")
    space = problem.space
    eval_batch = int(eval_batch or c.eval_batch)
    per = int(trials_per_schedule or max(eval_batch, int(c.n_trials * INNER_FRACTION)))
    kw = {"pending": pending, "exclude": exclude, "measured_y": measured_y, "fantasy": fantasy}
    free = select_with_fantasies(table, problem, q, **kw)
    genes = shared_genes(space, spec)
    order = ranking(table, c, enough=max(50 * q, 500)) if len(table) else np.zeros(0, int)
    top = designs_of(table.iloc[order[: max(N_GRAFTED * 4, 100)]], space) if len(order) else []
    grafts = [encode_flat(space, d) for d in top[:N_GRAFTED]]
    seeded: list[dict[str, Any]] = []
    seen: set[tuple] = set()
    for d in top:
        k = schedule_key(d, spec)
        if k not in seen:
            seen.add(k)
            genes_d = encode_flat(space, d)
            seeded.append({g: genes_d[g] for g in genes})
        if len(seeded) >= max(1, int(n_schedules * SEEDED_FRACTION)):
            break
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outer = optuna.create_study(direction="maximize", sampler=TPESampler(seed=seed))
    for s in seeded:
        outer.enqueue_trial(s, skip_if_exists=True)
    dists = _schedule_distributions(space, genes)
    inner_tables: list[pd.DataFrame] = []
    schedules: list[dict[str, Any]] = []
    selections: list[Selection] = []
    with threadpool_limits(limits=1):
        for k in range(n_schedules):
            t = outer.ask()
            fixed = {}
            for g, dist in dists.items():
                if isinstance(dist, CategoricalDistribution):
                    fixed[g] = t.suggest_categorical(g, dist.choices)
                else:
                    fixed[g] = t.suggest_float(g, dist.low, dist.high)
            seeds = [g | fixed for g in grafts]
            inner = _inner_search(
                problem, fixed, seeds, per, eval_batch, seed + 1 + k, f"furnace-{k}"
            )
            sel = select_with_fantasies(inner, problem, q, **kw)
            value = sel.value if sel.chosen else -1e300
            outer.tell(t, value)
            inner_tables.append(inner)
            selections.append(sel)
            key = schedule_key(designs_of(inner.iloc[:1], space)[0], spec) if len(inner) else ()
            schedules.append(
                {
                    "trial": k,
                    "schedule": describe_schedule(key, spec) if key else "",
                    "batch_value": sel.value if sel.chosen else None,
                    "n_candidates": len(sel.chosen),
                    "seeded": k < len(seeded),
                }
            )
            log.info("%s: schedule %d (%s): batch value %s", c.name, k,
                     schedules[-1]["schedule"], schedules[-1]["batch_value"])  # fmt: skip
    offsets = np.cumsum([0] + [len(t) for t in inner_tables])
    combined = pd.concat(inner_tables, ignore_index=True) if inner_tables else table.iloc[0:0]
    best = int(np.argmax([s.value for s in selections])) if selections else 0
    groups = [best]
    selection = Selection([int(p + offsets[best]) for p in selections[best].chosen],
                          list(selections[best].values))  # fmt: skip
    while len(groups) < spec.groups:
        trial_best: tuple[float, int, Selection] | None = None
        for k in range(len(inner_tables)):
            if k in groups:
                continue
            positions = np.concatenate(
                [np.arange(offsets[g], offsets[g + 1]) for g in [*groups, k]]
            )
            sel = select_with_fantasies(combined, problem, q, positions=positions, **kw)
            if trial_best is None or sel.value > trial_best[0]:
                trial_best = (sel.value, k, sel)
        if trial_best is None or trial_best[0] <= selection.value + 1e-12:
            break
        groups.append(trial_best[1])
        selection = trial_best[2]
    chosen_designs = designs_of(combined.iloc[selection.chosen], space)
    keys = list(dict.fromkeys(schedule_key(d, spec) for d in chosen_designs))
    if len(keys) > spec.groups:  # the construction makes this impossible: a bug if it happens
        raise AlloyMLError(f"furnace batch uses {len(keys)} schedules > {spec.groups}")
    return FurnaceResult(
        table=combined,
        selection=selection,
        free=free,
        schedules=schedules,
        chosen_schedules=[describe_schedule(k, spec) for k in keys],
        n_evaluations=int(len(combined)),
    )
