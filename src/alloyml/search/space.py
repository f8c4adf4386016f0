"""The design space of a campaign: Optuna parameters -> an exact, bounded alloy design.

A :class:`Design` is what the search evaluates and what a candidate card shows: wt % of the
balance element and of every alloying element of the campaign (0 = absent), route, temper and the
canonical numeric process columns that exist (``sol1_T_C``, ``age2_t_h``, ``extrusion_ratio``…;
a stage that does not exist has no columns at all, never a dummy value).

Two encodings map Optuna parameters to a design (see ``Campaign.encoding``):

* ``conditional`` (TPE): define-by-run. An optional element has ``<El>_present`` and, only when
  present, ``<El>`` in wt %; an optional stage has ``<stage>_present`` and, only when present,
  ``<stage>_T_C`` / ``<stage>_t_h``; ageing stages belong to the temper chosen
  (``T7.age2_T_C``); a route-bound numeric parameter exists only for its routes.
* ``flat`` (NSGA-II, random): every trial has the same parameters, because NSGA-II samples any
  parameter outside the search space shared by all trials at random. A required element is its
  wt %; an optional one is ``<El>_x`` in ``[-hi, hi]`` (amount ``max(x, 0)``, so about half the
  draws leave it out). Each stage has unit genes ``x_<stage>_T`` and ``x_<stage>_t`` mapped to
  the bounds of the stage (of the chosen temper for ageing stages; time on a log scale); the
  temperature gene of a stage that is optional somewhere spans ``[-1, 1]``, a negative value
  meaning "absent" where the stage is optional, and ``|x|`` giving the temperature. Genes of
  stages that do not exist are ignored. One gene per quantity keeps the number of Optuna
  parameters, and so the per-trial cost of ask/tell, low.

Both end in :meth:`DesignSpace.finish`, which makes the design exact: amounts on the ``step_wt``
grid and clipped to their bounds, optional amounts below ``min_amount_wt`` set to 0, the
``max_elements`` largest (relative to their upper bound) kept, the total solute brought under its
maximum by removing the excess from each element's slack above its lower bound (rounding down),
the balance computed as ``100 - sum``; temperatures rounded to 1 °C, times to 0.01 h, clipped.
The minimum total solute is not repaired: it is a constraint (``total_solute_min``).
:meth:`DesignSpace.violations` re-checks every bound of a design and is applied to every
candidate written out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution

from alloyml.config import NONE
from alloyml.errors import ConfigError
from alloyml.features.presets import Preset
from alloyml.features.process import (
    PROCESS_INPUT_COLUMNS,
    STAGES,
    STATE_INPUT_COLUMNS,
    state_row,
)
from alloyml.schema import ELEMENTS
from alloyml.search.campaign import Campaign, StageSpec

_EPS = 1e-9
#: Distance scale of stage temperatures (see :meth:`DesignSpace.vectors`): 50 °C = 1 unit.
T_SCALE_C = 50.0
#: Stage reference (T °C, t h) when a campaign does not bound that stage.
_STAGE_REF = {"homog": (470.0, 24.0), "sol": (470.0, 1.0), "age": (120.0, 24.0)}
_COL = {c: j for j, c in enumerate(PROCESS_INPUT_COLUMNS)}


def _kind(stage: str) -> str:
    return "homog" if stage == "homog" else stage[:3]


def _grid(x: float, step: float) -> float:
    return round(round(x / step) * step, 10)


def _unit_to_stage(s: StageSpec, uT: float, ut: float) -> tuple[float, float]:
    """Unit genes -> (T °C, t h) inside the stage's bounds; time on a log scale."""
    T = s.T_C[0] + uT * (s.T_C[1] - s.T_C[0])
    lt0, lt1 = math.log(s.t_h[0]), math.log(s.t_h[1])
    return T, math.exp(lt0 + ut * (lt1 - lt0))


def _clip(x: float, lo: float, hi: float) -> float:
    return min(max(x, lo), hi)


@dataclass(frozen=True)
class Design:
    """One exact design: what is evaluated, stored with the trial and written out."""

    wt: dict[str, float]  # balance + every campaign element, wt % (0 = absent)
    route: str  # a route or "none"
    temper: str  # a temper class or "none"
    process: dict[str, float]  # canonical numeric process columns that exist

    def to_dict(self) -> dict[str, Any]:
        return {"wt": self.wt, "route": self.route, "temper": self.temper, "process": self.process}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Design:
        return cls(
            wt={k: float(v) for k, v in d["wt"].items()},
            route=str(d["route"]),
            temper=str(d["temper"]),
            process={k: float(v) for k, v in d["process"].items()},
        )

    def stages(self) -> list[str]:
        return [s for s in STAGES if f"{s}_T_C" in self.process]


class DesignSpace:
    """Parameters, decoding, exactness checks and distances of one campaign's design space.

    Args:
        campaign: the validated campaign.
        preset: feature preset of the models (its frozen route/temper lists give the codes of
            the process matrix).
    """

    def __init__(self, campaign: Campaign, preset: Preset) -> None:
        self.campaign = campaign
        self.elements: tuple[str, ...] = (campaign.balance, *campaign.symbols)
        self._bounds = {e.symbol: e for e in campaign.elements}
        proc = campaign.process
        self.routes = proc.routes
        self.tempers = tuple(proc.tempers)
        for r in self.routes:
            if r != NONE and r not in preset.routes:
                raise ConfigError(f"route {r!r} is not in the models' preset {preset.name!r}")
        for t in self.tempers:
            if t != NONE and t not in preset.tempers:
                raise ConfigError(f"temper {t!r} is not in the models' preset {preset.name!r}")
        self._route_code = {r: float(preset.routes.index(r)) for r in self.routes if r != NONE}
        self._temper_code = {t: float(preset.tempers.index(t)) for t in self.tempers if t != NONE}
        # process_v2 presets also take the decoded state of each temper (one decode per temper)
        self._state: dict[str, tuple[float, ...]] | None = None
        if "process_v2" in preset.groups:
            self._state = {
                t: state_row(None if t == NONE else t, None if t == NONE else t, campaign.system)
                for t in self.tempers
            }
        # ageing stage names over all tempers, and those optional in at least one temper
        self._tstages = sorted({s.name for ts in proc.tempers.values() for s in ts})
        self._toptional = sorted({s.name for ts in proc.tempers.values() for s in ts if s.optional})
        self._stage_ref = self._stage_references()
        self.flat_distributions = self._flat_distributions()

    # -- Optuna parameters -------------------------------------------------------------------

    def _flat_distributions(self) -> dict[str, BaseDistribution]:
        c = self.campaign
        d: dict[str, BaseDistribution] = {}
        for e in c.elements:
            if e.required:
                d[e.symbol] = FloatDistribution(e.lo, e.hi)
            else:
                d[f"{e.symbol}_x"] = FloatDistribution(-e.hi, e.hi)
        if len(self.routes) > 1:
            d["route"] = CategoricalDistribution(self.routes)
        if len(self.tempers) > 1:
            d["temper"] = CategoricalDistribution(self.tempers)
        for s in c.process.stages:
            d[f"x_{s.name}_T"] = FloatDistribution(-1.0 if s.optional else 0.0, 1.0)
            d[f"x_{s.name}_t"] = FloatDistribution(0.0, 1.0)
        for name in self._tstages:
            d[f"x_{name}_T"] = FloatDistribution(-1.0 if name in self._toptional else 0.0, 1.0)
            d[f"x_{name}_t"] = FloatDistribution(0.0, 1.0)
        for n in c.process.numeric:
            d[n.column] = FloatDistribution(n.lo, n.hi, log=n.log)
        return d

    def suggest(self, trial: Any) -> Design:
        """Draw one design from an Optuna trial with the campaign's encoding."""
        if self.campaign.encoding == "flat":
            values = {}
            for name, dist in self.flat_distributions.items():
                if isinstance(dist, FloatDistribution):
                    values[name] = trial.suggest_float(name, dist.low, dist.high, log=dist.log)
                else:
                    values[name] = trial.suggest_categorical(name, dist.choices)
            return self.decode_flat(values)
        return self._suggest_conditional(trial)

    def decode_flat(self, v: dict[str, Any]) -> Design:
        """Design of a complete set of flat-encoding parameter values (pure function)."""
        c = self.campaign
        amounts = {}
        for e in c.elements:
            x = v[e.symbol] if e.required else v[f"{e.symbol}_x"]
            amounts[e.symbol] = max(float(x), 0.0)
        route = v.get("route", self.routes[0])
        temper = v.get("temper", self.tempers[0])
        stages: dict[str, tuple[float, float]] = {}
        chain = {"homog": True, "sol": True, "age": True}
        for s in [*c.process.stages, *c.process.tempers[temper]]:
            xT, xt = float(v[f"x_{s.name}_T"]), float(v[f"x_{s.name}_t"])
            if (xT >= 0 or not s.optional) and chain[_kind(s.name)]:
                stages[s.name] = _unit_to_stage(s, abs(xT), xt)
            else:
                chain[_kind(s.name)] = False
        numeric = {
            n.column: float(v[n.column])
            for n in c.process.numeric
            if not n.routes or route in n.routes
        }
        return self.finish(amounts, route, temper, stages, numeric)

    def _suggest_conditional(self, trial: Any) -> Design:
        c = self.campaign
        amounts = {}
        for e in c.elements:
            if e.required:
                amounts[e.symbol] = trial.suggest_float(e.symbol, e.lo, e.hi)
            elif trial.suggest_categorical(f"{e.symbol}_present", (False, True)):
                amounts[e.symbol] = trial.suggest_float(e.symbol, max(e.lo, c.min_amount_wt), e.hi)
            else:
                amounts[e.symbol] = 0.0
        route = (
            trial.suggest_categorical("route", self.routes)
            if len(self.routes) > 1
            else self.routes[0]
        )
        temper = (
            trial.suggest_categorical("temper", self.tempers)
            if len(self.tempers) > 1
            else self.tempers[0]
        )
        stages: dict[str, tuple[float, float]] = {}

        def draw(specs: Iterable[StageSpec], prefix: str) -> None:
            chain = {"homog": True, "sol": True, "age": True}
            for s in specs:
                k = _kind(s.name)
                if not chain[k]:
                    continue
                if s.optional and not trial.suggest_categorical(
                    f"{prefix}{s.name}_present", (False, True)
                ):
                    chain[k] = False
                    continue
                stages[s.name] = (
                    trial.suggest_float(f"{prefix}{s.name}_T_C", *s.T_C),
                    trial.suggest_float(f"{prefix}{s.name}_t_h", *s.t_h, log=True),
                )

        draw(c.process.stages, "")
        draw(c.process.tempers[temper], f"{temper}.")
        numeric = {
            n.column: trial.suggest_float(n.column, n.lo, n.hi, log=n.log)
            for n in c.process.numeric
            if not n.routes or route in n.routes
        }
        return self.finish(amounts, route, temper, stages, numeric)

    # -- exactness ------------------------------------------------------------------------------

    def finish(
        self,
        amounts: dict[str, float],
        route: str,
        temper: str,
        stages: dict[str, tuple[float, float]],
        numeric: dict[str, float],
    ) -> Design:
        """Make a raw draw exact (see the module docstring); deterministic."""
        c = self.campaign
        syms = c.symbols
        lo = np.array([self._bounds[s].lo for s in syms])
        hi = np.array([self._bounds[s].hi for s in syms])
        a = np.array([_clip(_grid(float(amounts.get(s, 0.0)), c.step_wt), lo[i], hi[i])
                      for i, s in enumerate(syms)])  # fmt: skip
        optional = lo <= 0
        a[optional & (a < c.min_amount_wt - _EPS)] = 0.0
        present = a > 0
        excess_n = int(present.sum()) - c.max_elements
        if excess_n > 0:  # keep the largest relative to their upper bound
            cand = np.flatnonzero(present & optional)
            order = cand[np.argsort(a[cand] / hi[cand], kind="stable")]
            a[order[:excess_n]] = 0.0
        a = self._repair_total(a, lo, hi)
        a[optional & (a < c.min_amount_wt - _EPS)] = 0.0
        wt = {c.balance: round(100.0 - float(a.sum()), 10)}
        wt |= {s: float(a[i]) for i, s in enumerate(syms)}
        process: dict[str, float] = {}
        specs = {s.name: s for s in c.process.stages} | {
            s.name: s for s in c.process.tempers[temper]
        }
        for name in STAGES:
            if name not in stages:
                continue
            s = specs[name]
            T, t = stages[name]
            process[f"{name}_T_C"] = _clip(float(round(T)), *s.T_C)
            process[f"{name}_t_h"] = _clip(round(t, 2), *s.t_h)
        for n in c.process.numeric:
            if n.column in numeric:
                digits = 0 if n.column.endswith("_T_C") else 2
                process[n.column] = _clip(round(numeric[n.column], digits), n.lo, n.hi)
        process |= c.process.fixed
        return Design(wt=wt, route=str(route), temper=str(temper), process=process)

    def _repair_total(self, a: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Bring the total solute down to its maximum: the excess is taken from each element's
        slack above its lower bound in proportion, on the step grid (largest remainders first),
        so that the total lands on the maximum (to within the grid) and never above it."""
        c = self.campaign
        max_total, step = c.total_solute_wt[1], c.step_wt
        excess = float(a.sum()) - max_total
        if excess <= _EPS:
            return a
        slack = a - lo
        target = a - slack * min(1.0, excess / float(slack.sum()))
        a = np.maximum(np.round(np.floor(target / step + _EPS) * step, 10), lo)
        over = float(a.sum()) - max_total
        while over > _EPS:  # lower bounds off the step grid can add a little back
            j = int(np.argmax(a - lo))
            a[j] = max(lo[j], round(a[j] - math.ceil(over / step - _EPS) * step, 10))
            over = float(a.sum()) - max_total
        # give back what flooring took, one step at a time, largest remainder first
        k = int(math.floor(-over / step + _EPS))
        rem = np.where((a > 0) & (a + step <= hi + _EPS), target - a, -np.inf)
        for j in np.argsort(-rem, kind="stable")[:k]:
            if np.isfinite(rem[j]):
                a[j] = round(a[j] + step, 10)
        return a

    def total_solute(self, design: Design) -> float:
        return float(sum(design.wt[s] for s in self.campaign.symbols))

    def violations(self, design: Design, minimum_total: bool = True) -> list[str]:
        """Every bound the design breaks (empty list = exact and inside the design space).

        ``minimum_total=False`` skips the minimum total solute, which the search treats as a
        constraint (``total_solute_min``) rather than a bound of the draw.
        """
        c = self.campaign
        out: list[str] = []
        extra = set(design.wt) - set(self.elements)
        if extra:
            out.append(f"elements outside the campaign: {sorted(extra)}")
        n_present = 0
        for e in c.elements:
            a = design.wt.get(e.symbol, 0.0)
            if a < 0:
                out.append(f"{e.symbol} negative")
            elif a > 0:
                n_present += 1
                if a < e.lo - _EPS or a > e.hi + _EPS:
                    out.append(f"{e.symbol} = {a:g} outside [{e.lo:g}, {e.hi:g}]")
                if not e.required and a < c.min_amount_wt - _EPS:
                    out.append(f"{e.symbol} = {a:g} below min_amount_wt {c.min_amount_wt:g}")
            elif e.required:
                out.append(f"required element {e.symbol} absent")
        total = self.total_solute(design)
        lo_total = c.total_solute_wt[0] if minimum_total else 0.0
        if not lo_total - _EPS <= total <= c.total_solute_wt[1] + _EPS:
            out.append(f"total solute {total:g} outside {list(c.total_solute_wt)}")
        if n_present > c.max_elements:
            out.append(f"{n_present} alloying elements > max_elements {c.max_elements}")
        if abs(design.wt.get(c.balance, -1.0) + total - 100.0) > 1e-6:
            out.append(f"balance {c.balance} is not 100 - sum of the others")
        if design.route not in self.routes:
            out.append(f"route {design.route!r} not among {self.routes}")
        if design.temper not in self.tempers:
            out.append(f"temper {design.temper!r} not among {self.tempers}")
            return out
        specs = list(c.process.stages) + list(c.process.tempers[design.temper])
        allowed: set[str] = set()
        chain = {"homog": True, "sol": True, "age": True}
        for s in specs:
            present = f"{s.name}_T_C" in design.process and f"{s.name}_t_h" in design.process
            if present != (f"{s.name}_t_h" in design.process or f"{s.name}_T_C" in design.process):
                out.append(f"stage {s.name} has only one of T/t")
            if present and not chain[_kind(s.name)]:
                out.append(
                    f"stage {s.name} present although an earlier {_kind(s.name)} stage is not"
                )
            if not present:
                chain[_kind(s.name)] = False
                if not s.optional:
                    out.append(f"required stage {s.name} missing")
                continue
            allowed |= {f"{s.name}_T_C", f"{s.name}_t_h"}
            T, t = design.process[f"{s.name}_T_C"], design.process[f"{s.name}_t_h"]
            if not s.T_C[0] - _EPS <= T <= s.T_C[1] + _EPS:
                out.append(f"{s.name}_T_C = {T:g} outside {list(s.T_C)}")
            if not s.t_h[0] - _EPS <= t <= s.t_h[1] + _EPS:
                out.append(f"{s.name}_t_h = {t:g} outside {list(s.t_h)}")
        for n in c.process.numeric:
            should = not n.routes or design.route in n.routes
            if should != (n.column in design.process):
                out.append(
                    f"{n.column} {'missing' if should else 'present'} for route {design.route}"
                )
            if n.column in design.process:
                allowed.add(n.column)
                v = design.process[n.column]
                if not n.lo - _EPS <= v <= n.hi + _EPS:
                    out.append(f"{n.column} = {v:g} outside [{n.lo:g}, {n.hi:g}]")
        for col, v in c.process.fixed.items():
            allowed.add(col)
            if design.process.get(col) != v:
                out.append(f"{col} must be fixed at {v:g}")
        stray = set(design.process) - allowed
        if stray:
            out.append(f"process values for stages/parameters that do not exist: {sorted(stray)}")
        return out

    def active_bounds(self, design: Design) -> list[str]:
        """Bounds the design sits on (within half a step): what limits it."""
        c = self.campaign
        tol = c.step_wt / 2
        out = []
        for e in c.elements:
            a = design.wt[e.symbol]
            if a > 0 and abs(a - e.hi) <= tol:
                out.append(f"{e.symbol} at upper bound {e.hi:g} wt%")
            elif e.required and abs(a - e.lo) <= tol:
                out.append(f"{e.symbol} at lower bound {e.lo:g} wt%")
        total = self.total_solute(design)
        if abs(total - c.total_solute_wt[1]) <= tol:
            out.append(f"total solute at max {c.total_solute_wt[1]:g} wt%")
        n = sum(design.wt[s] > 0 for s in c.symbols)
        if n == c.max_elements and c.max_elements < len(c.elements):
            out.append(f"{n} alloying elements (max_elements)")
        specs = {s.name: s for s in c.process.stages} | {
            s.name: s for s in c.process.tempers[design.temper]
        }
        for name in design.stages():
            s = specs[name]
            T, t = design.process[f"{name}_T_C"], design.process[f"{name}_t_h"]
            for what, v, (blo, bhi), tl in (("T", T, s.T_C, 0.5), ("t", t, s.t_h, 0.005)):
                if blo < bhi and abs(v - bhi) <= tl:
                    out.append(f"{name} {what} at upper bound {bhi:g}")
                elif blo < bhi and abs(v - blo) <= tl:
                    out.append(f"{name} {what} at lower bound {blo:g}")
        return out

    # -- model input -----------------------------------------------------------------------------

    def matrices(self, designs: Sequence[Design]) -> tuple[np.ndarray, np.ndarray]:
        """wt % matrix (columns :attr:`elements`) and process matrix (``PROCESS_INPUT_COLUMNS``,
        plus the decoded state columns for ``process_v2`` presets)."""
        n = len(designs)
        wt = np.array([[d.wt[e] for e in self.elements] for d in designs], dtype=float)
        width = len(PROCESS_INPUT_COLUMNS) + (len(STATE_INPUT_COLUMNS) if self._state else 0)
        proc = np.full((n, width), np.nan)
        for i, d in enumerate(designs):
            for col, v in d.process.items():
                proc[i, _COL[col]] = v
            proc[i, _COL["route"]] = self._route_code.get(d.route, np.nan)
            proc[i, _COL["temper_class"]] = self._temper_code.get(d.temper, np.nan)
            if self._state:
                proc[i, len(PROCESS_INPUT_COLUMNS) :] = self._state[d.temper]
        return wt.reshape(n, len(self.elements)), proc

    # -- distances -------------------------------------------------------------------------------

    def _stage_references(self) -> dict[str, tuple[float, float]]:
        specs: dict[str, list[StageSpec]] = {}
        for s in self.campaign.process.stages:
            specs.setdefault(s.name, []).append(s)
        for ts in self.campaign.process.tempers.values():
            for s in ts:
                specs.setdefault(s.name, []).append(s)
        ref = {}
        for name in STAGES:
            if name in specs:
                Ts = [v for s in specs[name] for v in s.T_C]
                ts = [v for s in specs[name] for v in s.t_h]
                ref[name] = ((min(Ts) + max(Ts)) / 2, math.sqrt(min(ts) * max(ts)))
            else:
                ref[name] = _STAGE_REF[_kind(name)]
        return ref

    def vector_labels(self) -> list[str]:
        comp = [e for e in ELEMENTS if e != self.campaign.balance]
        labels = [f"wt:{e}" for e in comp]
        labels += [f"route:{r}" for r in self.routes] + ["route:other"]
        labels += [f"temper:{t}" for t in self.tempers] + ["temper:other"]
        for s in STAGES:
            labels += [f"{s}:has", f"{s}:T", f"{s}:logt"]
        return labels

    def vectors(self, designs: Sequence[Design]) -> np.ndarray:
        """Design-space coordinates for distances (diversity, nearest measured alloys).

        One unit is 1 wt % of any element (every element of the schema, so that a measured alloy
        with an element outside the campaign is far), a different route or temper (one-hot over
        sqrt 2), a stage added or removed, 50 °C on a stage temperature or a factor 10 on its
        time (``(T - T_ref) / 50``, ``log10(t / t_ref)`` around the campaign's mid-range
        reference, 0 when the stage is absent). The process part is multiplied by
        ``process_weight``. Candidates at least ``min_distance`` apart therefore differ by that
        many wt % in composition, or by a process change of that size.
        """
        comp = [e for e in ELEMENTS if e != self.campaign.balance]
        wt = np.array([[d.wt.get(e, 0.0) for e in comp] for d in designs], dtype=float)
        frame = pd.DataFrame(wt, columns=comp)
        frame["route"] = [d.route for d in designs]
        frame["temper_class"] = [d.temper for d in designs]
        for s in STAGES:
            frame[f"{s}_T_C"] = [d.process.get(f"{s}_T_C", np.nan) for d in designs]
            frame[f"{s}_t_h"] = [d.process.get(f"{s}_t_h", np.nan) for d in designs]
        return self.vectors_frame(frame)

    def vectors_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """:meth:`vectors` of canonical rows (e.g. the processed table of measured alloys).

        Stage presence follows the feature convention (time known: ``t > 0``; else temperature
        known); an unknown temperature or time of a present stage is taken at the reference.
        Missing route/temper count as ``none``.
        """
        c = self.campaign
        n = len(frame)
        comp = [e for e in ELEMENTS if e != c.balance]
        wt = np.zeros((n, len(comp)))
        for j, e in enumerate(comp):
            if e in frame.columns:
                wt[:, j] = pd.to_numeric(frame[e], errors="coerce").fillna(0.0).to_numpy(float)
        parts = [wt]

        def onehot(col: str, choices: tuple[str, ...]) -> np.ndarray:
            vals = frame[col] if col in frame.columns else pd.Series([None] * n)
            vals = pd.Series(vals).astype(object).where(pd.Series(vals).notna(), NONE).to_numpy()
            out = np.zeros((n, len(choices) + 1))
            idx = {v: i for i, v in enumerate(choices)}
            for i, v in enumerate(vals):
                out[i, idx.get(str(v), len(choices))] = 1.0
            return out / math.sqrt(2.0)

        proc = [onehot("route", self.routes), onehot("temper_class", self.tempers)]
        for s in STAGES:
            T = pd.to_numeric(frame.get(f"{s}_T_C", pd.Series(np.nan, index=frame.index)),
                              errors="coerce").to_numpy(float)  # fmt: skip
            t = pd.to_numeric(frame.get(f"{s}_t_h", pd.Series(np.nan, index=frame.index)),
                              errors="coerce").to_numpy(float)  # fmt: skip
            has = np.where(~np.isnan(t), np.nan_to_num(t) > 0, ~np.isnan(T))
            T_ref, t_ref = self._stage_ref[s]
            dT = np.where(has & ~np.isnan(T), (np.nan_to_num(T) - T_ref) / T_SCALE_C, 0.0)
            safe_t = np.where(has & ~np.isnan(t) & (np.nan_to_num(t) > 0), t, t_ref)
            dt = np.where(has, np.log10(safe_t / t_ref), 0.0)
            proc.append(np.column_stack([has.astype(float), dT, dt]))
        parts.append(np.hstack(proc) * c.process_weight)
        return np.hstack(parts)
