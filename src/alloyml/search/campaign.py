"""Campaigns: named design problems read from the ``search`` section of ``params.yaml``.

A scientist adds a campaign by adding an entry under ``search.campaigns``; nothing in the code
names a campaign. One entry declares

* the **design space**: wt % bounds per alloying element (the balance element of the system is
  computed), a wt % step, the smallest amount that counts as "present", a total-solute range, a
  maximum number of alloying elements; route and temper choices; process stages with °C / h
  bounds, optionally conditional (``optional: true``), ageing stages per temper; route-dependent
  numeric process parameters;
* the **objectives** (a predicted target, ``density_g_cm3`` or ``specific_<target>`` = target /
  density) each with an acquisition (``pred``, ``ucb``, ``ei``) and a direction;
* the **constraints**, each judged on the predicted interval's lower bound, the prediction or the
  upper bound;
* the **domain policy** (``exploit``: stay inside the models' domain of applicability; ``explore``:
  allow moderate extrapolation at a penalty) and known physical limits that mark extrapolations;
* the **run settings**: sampler, number of evaluations, evaluations per ask/tell round, number of
  candidates in the experimental batch and their minimum mutual distance.

:func:`search_campaigns` validates everything once and returns frozen :class:`Campaign` objects;
every message names the campaign and the key.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from alloyml.errors import AlloyMLError, ConfigError
from alloyml.features.process import STAGES
from alloyml.schema import BALANCE, ELEMENTS, PROCESS_NUMERIC, ROUTES, TARGETS, TEMPER_CLASSES


class SearchError(AlloyMLError):
    """A search cannot run or resume (study mismatch, missing models, no feasible candidate)."""


#: Derived quantities besides the model targets: density by the rule of mixtures and specific
#: strength (target / density, MPa per g/cm3 = kN m/kg).
DERIVED_QUANTITIES: tuple[str, ...] = ("density_g_cm3", "specific_ys", "specific_uts")
SPECIFIC = {"specific_ys": "ys_mpa", "specific_uts": "uts_mpa"}
ACQUISITIONS: tuple[str, ...] = ("pred", "ucb", "ei")
SAMPLERS: tuple[str, ...] = ("nsga2", "tpe", "random")
ENCODINGS: tuple[str, ...] = ("auto", "conditional", "flat")
BOUNDS_ON: tuple[str, ...] = ("lo", "pred", "hi")
#: Text that stands for "no route/temper given" (encoded as unknown, like most Mg-Li rows).
NONE = "none"

#: Domain policies: ``max_score`` is the largest allowed domain score (k-NN distance to the
#: training data over the model's domain threshold; 1 = edge of the domain), ``penalty`` the
#: fraction of the best measured value subtracted per unit of score beyond 1.
DOMAIN_MODES: dict[str, dict[str, float]] = {
    "exploit": {"max_score": 1.0, "penalty": 0.5},
    "explore": {"max_score": 2.0, "penalty": 0.1},
}

#: Defaults of the run settings.
DEFAULTS: dict[str, Any] = {
    "n_trials": 2000,
    "eval_batch": 200,
    "batch_size": 8,
    "min_distance": 0.5,
    "process_weight": 1.0,
}


def quantity_target(quantity: str) -> str | None:
    """The model target a quantity needs (``None`` for density, computed from composition)."""
    if quantity in TARGETS:
        return quantity
    return SPECIFIC.get(quantity)


def _where(campaign: str, key: str) -> str:
    return f"params.yaml: search.campaigns.{campaign}.{key}"


def _pair(value: Any, where: str, lo_min: float = -math.inf, hi_max: float = math.inf):
    if not (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        raise ConfigError(f"{where} must be [low, high] numbers, got {value!r}")
    lo, hi = float(value[0]), float(value[1])
    if not (lo_min <= lo <= hi <= hi_max):
        raise ConfigError(
            f"{where} must satisfy {lo_min:g} <= low <= high <= {hi_max:g}, got {value!r}"
        )
    return lo, hi


def _only(sec: dict[str, Any], allowed: set[str], where: str) -> None:
    unknown = sorted(set(sec) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")


@dataclass(frozen=True)
class ElementBound:
    """wt % bounds of one alloying element; ``lo > 0`` makes the element required."""

    symbol: str
    lo: float
    hi: float

    @property
    def required(self) -> bool:
        return self.lo > 0


@dataclass(frozen=True)
class StageSpec:
    """One heat-treatment stage: temperature (°C) and time (h) bounds; optional = conditional."""

    name: str
    T_C: tuple[float, float]
    t_h: tuple[float, float]
    optional: bool = False


@dataclass(frozen=True)
class NumericSpec:
    """A numeric process parameter (e.g. ``extrusion_ratio``), present for the listed routes."""

    column: str
    lo: float
    hi: float
    routes: tuple[str, ...] = ()  # empty = every route
    log: bool = False


@dataclass(frozen=True)
class ProcessSpec:
    routes: tuple[str, ...]
    stages: tuple[StageSpec, ...]  # stages independent of the temper (homog, sol1, ...)
    tempers: dict[str, tuple[StageSpec, ...]]  # temper -> its (ageing) stages
    numeric: tuple[NumericSpec, ...] = ()
    fixed: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Objective:
    quantity: str
    direction: str  # maximize | minimize
    acquisition: str = "pred"
    kappa: float = 1.0

    @property
    def label(self) -> str:
        return f"{self.acquisition}({self.quantity})"


@dataclass(frozen=True)
class Constraint:
    quantity: str
    op: str  # ">=" or "<="
    value: float
    on: str  # lo | pred | hi

    @property
    def name(self) -> str:
        side = "ge" if self.op == ">=" else "le"
        return f"{self.quantity}_{self.on}_{side}_{self.value:g}"

    def describe(self) -> str:
        bound = {"lo": "lower bound", "pred": "prediction", "hi": "upper bound"}[self.on]
        return f"{self.quantity} {self.op} {self.value:g} (on the {bound})"


@dataclass(frozen=True)
class DomainPolicy:
    mode: str
    max_score: float
    penalty: float


@dataclass(frozen=True)
class KnownLimit:
    """A prediction above ``value`` for compositions inside ``when`` is marked extrapolation."""

    quantity: str
    value: float
    when: dict[str, tuple[float, float]]
    note: str


@dataclass(frozen=True)
class SamplerSpec:
    name: str
    population_size: int | None = None  # nsga2; default: min(eval_batch, 250)
    n_startup_trials: int | None = None  # tpe; default: eval_batch
    multivariate: bool = True  # tpe
    encoding: str = "auto"


@dataclass(frozen=True)
class Campaign:
    """One validated design problem (see the module docstring for the YAML keys)."""

    name: str
    system: str
    description: str
    elements: tuple[ElementBound, ...]
    step_wt: float
    min_amount_wt: float
    total_solute_wt: tuple[float, float]
    max_elements: int
    process: ProcessSpec
    objectives: tuple[Objective, ...]
    constraints: tuple[Constraint, ...]
    domain: DomainPolicy
    known_limits: tuple[KnownLimit, ...]
    reference: dict[str, tuple[float, float]]
    sampler: SamplerSpec
    n_trials: int
    eval_batch: int
    batch_size: int
    min_distance: float
    process_weight: float
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    furnace: FurnaceSpec = field(default_factory=lambda: FurnaceSpec())  # issue 12, see below

    @property
    def balance(self) -> str:
        return BALANCE[self.system]

    @property
    def symbols(self) -> tuple[str, ...]:
        """Alloying elements of the design space, in params order."""
        return tuple(e.symbol for e in self.elements)

    @property
    def directions(self) -> list[str]:
        return [o.direction for o in self.objectives]

    @property
    def encoding(self) -> str:
        """``conditional`` (define-by-run Optuna conditionals) or ``flat`` (fixed-length genes).

        ``auto`` picks ``conditional`` for TPE, which models conditional parameters, and ``flat``
        for NSGA-II/random: NSGA-II samples every parameter outside the search space shared by
        all trials at random, so conditional parameters would never be evolved.
        """
        if self.sampler.encoding != "auto":
            return self.sampler.encoding
        return "conditional" if self.sampler.name == "tpe" else "flat"

    def quantities(self) -> list[str]:
        """Every quantity the campaign optimises or constrains, in first-use order."""
        out: list[str] = []
        for q in [o.quantity for o in self.objectives] + [c.quantity for c in self.constraints]:
            if q not in out:
                out.append(q)
        return out

    def targets(self) -> list[str]:
        """Model targets the objectives and constraints need (domain scores are taken on these)."""
        out: list[str] = []
        for q in self.quantities():
            t = quantity_target(q)
            if t is not None and t not in out:
                out.append(t)
        for lim in self.known_limits:
            t = quantity_target(lim.quantity)
            if t is not None and t not in out:
                out.append(t)
        return out

    def problem_dict(self) -> dict[str, Any]:
        """What defines the optimisation problem (for the study digest): not the budget, nor
        the candidate-selection settings, which may change when a study is resumed."""
        d = asdict(self)
        for k in ("raw", "description", "n_trials", "eval_batch", "batch_size", "min_distance",
                  "process_weight", "furnace"):  # fmt: skip
            d.pop(k)
        return d

    def digest(self, seed: int, models_fingerprint: str = "") -> str:
        """Digest of the problem, the seed and the models: the study name's suffix."""
        doc = {"problem": self.problem_dict(), "seed": seed, "models": models_fingerprint}
        text = json.dumps(doc, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:10]

    def study_name(self, seed: int, models_fingerprint: str = "") -> str:
        return f"{self.name}-{self.digest(seed, models_fingerprint)}"


# -- parsing ------------------------------------------------------------------------------------


def _parse_stage(name: str, spec: Any, where: str) -> StageSpec:
    if name not in STAGES:
        raise ConfigError(f"{where}: unknown stage {name!r}; stages are {STAGES}")
    if not isinstance(spec, dict):
        raise ConfigError(f"{where}.{name} must be a mapping with T_C and t_h")
    _only(spec, {"T_C", "t_h", "optional"}, f"{where}.{name}")
    if "T_C" not in spec or "t_h" not in spec:
        raise ConfigError(f"{where}.{name} needs T_C: [low, high] and t_h: [low, high]")
    T = _pair(spec["T_C"], f"{where}.{name}.T_C", -273.0, 1000.0)
    t = _pair(spec["t_h"], f"{where}.{name}.t_h", 0.0, 1e5)
    if t[0] <= 0:
        raise ConfigError(f"{where}.{name}.t_h must be > 0 h (an absent stage is `optional`)")
    return StageSpec(name=name, T_C=T, t_h=t, optional=bool(spec.get("optional", False)))


def _check_chain(stages: tuple[StageSpec, ...], where: str) -> None:
    """Within a kind (sol, age), stages are numbered in order and an optional stage is never
    followed by a required one (stage k+1 can only exist when stage k does)."""
    for kind in ("homog", "sol", "age"):
        chain = [s for s in stages if s.name.startswith(kind)]
        names = [s.name for s in chain]
        if kind != "homog":
            expected = [f"{kind}{i}" for i in range(1, len(chain) + 1)]
            if names != expected:
                raise ConfigError(f"{where}: {kind} stages must be {expected}, got {names}")
        seen_optional = False
        for s in chain:
            if seen_optional and not s.optional:
                raise ConfigError(
                    f"{where}: required stage {s.name} follows an optional one; a later stage "
                    "can only exist when the earlier one does"
                )
            seen_optional |= s.optional


def _parse_process(sec: Any, where: str) -> ProcessSpec:
    if not isinstance(sec, dict):
        raise ConfigError(f"{where} must be a mapping (route, stages, temper, numeric, fixed)")
    _only(sec, {"route", "stages", "temper", "numeric", "fixed"}, where)
    routes = sec.get("route", [NONE])
    if not isinstance(routes, list) or not routes:
        raise ConfigError(f"{where}.route must be a non-empty list of routes")
    for r in routes:
        if r != NONE and r not in ROUTES:
            raise ConfigError(f"{where}.route: unknown route {r!r}; known: {ROUTES} or {NONE!r}")
    stages_sec = sec.get("stages") or {}
    if not isinstance(stages_sec, dict):
        raise ConfigError(f"{where}.stages must be a mapping stage -> bounds")
    stages = tuple(_parse_stage(n, s, f"{where}.stages") for n, s in stages_sec.items())
    if any(s.name.startswith("age") for s in stages):
        raise ConfigError(f"{where}.stages: ageing stages belong under `temper` (per temper)")
    _check_chain(stages, f"{where}.stages")
    tempers_sec = sec.get("temper", {NONE: {}})
    if not isinstance(tempers_sec, dict) or not tempers_sec:
        raise ConfigError(f"{where}.temper must map each temper choice to its ageing stages")
    tempers: dict[str, tuple[StageSpec, ...]] = {}
    for temper, tsec in tempers_sec.items():
        temper = str(temper)
        if temper != NONE and temper not in TEMPER_CLASSES:
            raise ConfigError(
                f"{where}.temper: unknown temper {temper!r}; known: {TEMPER_CLASSES} or {NONE!r}"
            )
        tsec = tsec or {}
        if not isinstance(tsec, dict):
            raise ConfigError(f"{where}.temper.{temper} must map stages to bounds (or be empty)")
        ts = tuple(_parse_stage(n, s, f"{where}.temper.{temper}") for n, s in tsec.items())
        if any(not s.name.startswith("age") for s in ts):
            raise ConfigError(f"{where}.temper.{temper}: only ageing stages (age1..age3) here")
        _check_chain(ts, f"{where}.temper.{temper}")
        tempers[temper] = ts
    numeric: list[NumericSpec] = []
    for col, nsec in (sec.get("numeric") or {}).items():
        w = f"{where}.numeric.{col}"
        if col not in PROCESS_NUMERIC or col.endswith(("_T_C", "_t_h")) and col[:-4] in STAGES:
            raise ConfigError(
                f"{w}: not a free numeric process column; use one of cold_work_pct, "
                "extrusion_ratio, rolling_reduction_pct, deform_T_C (stages go under stages/temper)"
            )
        if isinstance(nsec, list):
            nsec = {"range": nsec}
        if not isinstance(nsec, dict):
            raise ConfigError(f"{w} must be [low, high] or {{range: [low, high], routes: [...]}}")
        _only(nsec, {"range", "routes", "log"}, w)
        lo, hi = _pair(nsec.get("range"), f"{w}.range", 0.0, 1000.0)
        r_only = tuple(nsec.get("routes") or ())
        bad = [r for r in r_only if r not in routes]
        if bad:
            raise ConfigError(f"{w}.routes {bad} are not among the campaign's routes {routes}")
        if col == "extrusion_ratio" and lo <= 0:
            raise ConfigError(f"{w}: extrusion ratio must be > 0")
        numeric.append(NumericSpec(col, lo, hi, r_only, bool(nsec.get("log", False))))
    fixed = {}
    for col, val in (sec.get("fixed") or {}).items():
        if col not in PROCESS_NUMERIC or not isinstance(val, int | float):
            raise ConfigError(f"{where}.fixed.{col}: must be a numeric process column -> number")
        fixed[col] = float(val)
    clash = {n.column for n in numeric} & set(fixed)
    if clash:
        raise ConfigError(f"{where}: {sorted(clash)} both free (numeric) and fixed")
    return ProcessSpec(tuple(str(r) for r in routes), stages, tempers, tuple(numeric), fixed)


def _parse_quantity(q: Any, where: str) -> str:
    allowed = (*TARGETS, *DERIVED_QUANTITIES)
    if q not in allowed:
        raise ConfigError(f"{where}: unknown quantity {q!r}; choose from {allowed}")
    return str(q)


def _parse_objectives(sec: Any, where: str) -> tuple[Objective, ...]:
    if not isinstance(sec, list) or not sec:
        raise ConfigError(f"{where} must be a non-empty list of objectives")
    out = []
    for i, o in enumerate(sec):
        w = f"{where}[{i}]"
        if not isinstance(o, dict):
            raise ConfigError(f"{w} must be a mapping with `quantity`")
        _only(o, {"quantity", "direction", "acquisition", "kappa"}, w)
        q = _parse_quantity(o.get("quantity"), f"{w}.quantity")
        default_dir = "minimize" if q == "density_g_cm3" else "maximize"
        direction = o.get("direction", default_dir)
        if direction not in ("maximize", "minimize"):
            raise ConfigError(f"{w}.direction must be maximize or minimize, got {direction!r}")
        acq = o.get("acquisition", "pred")
        if acq not in ACQUISITIONS:
            raise ConfigError(f"{w}.acquisition must be one of {ACQUISITIONS}, got {acq!r}")
        kappa = float(o.get("kappa", 1.0))
        if kappa < 0:
            raise ConfigError(f"{w}.kappa must be >= 0")
        out.append(Objective(q, direction, acq, kappa))
    names = [o.quantity for o in out]
    if len(set(names)) != len(names):
        raise ConfigError(f"{where}: a quantity appears twice ({names})")
    return tuple(out)


def _parse_constraints(sec: Any, where: str) -> tuple[Constraint, ...]:
    if sec is None:
        return ()
    if not isinstance(sec, list):
        raise ConfigError(f"{where} must be a list")
    out = []
    for i, c in enumerate(sec):
        w = f"{where}[{i}]"
        if not isinstance(c, dict):
            raise ConfigError(f"{w} must be a mapping: quantity, min or max, judged_on")
        if True in c:
            raise ConfigError(f"{w}: write `judged_on:` (YAML reads a bare `on` as true)")
        _only(c, {"quantity", "min", "max", "judged_on"}, w)
        q = _parse_quantity(c.get("quantity"), f"{w}.quantity")
        if ("min" in c) == ("max" in c):
            raise ConfigError(f"{w}: give exactly one of min / max")
        op = ">=" if "min" in c else "<="
        value = c["min"] if "min" in c else c["max"]
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ConfigError(f"{w}: the bound must be a number, got {value!r}")
        # conservative by default: a floor is judged on the lower bound, a ceiling on the upper
        on = c.get("judged_on", "lo" if op == ">=" else "hi")
        if on not in BOUNDS_ON:
            raise ConfigError(f"{w}.judged_on must be one of {BOUNDS_ON}, got {on!r}")
        out.append(Constraint(q, op, float(value), on))
    return tuple(out)


def _parse_ranges(sec: Any, where: str) -> dict[str, tuple[float, float]]:
    if sec is None:
        return {}
    if not isinstance(sec, dict):
        raise ConfigError(f"{where} must map element -> [low, high] wt%")
    out = {}
    for el, pair in sec.items():
        if el not in ELEMENTS:
            raise ConfigError(f"{where}: unknown element {el!r}")
        out[str(el)] = _pair(pair, f"{where}.{el}", 0.0, 100.0)
    return out


def parse_campaign(name: str, sec: Any) -> Campaign:
    """Validate one ``search.campaigns.<name>`` entry."""
    if not isinstance(sec, dict):
        raise ConfigError(f"params.yaml: search.campaigns.{name} must be a mapping")
    allowed = {
        "system", "description", "composition", "process", "objectives", "constraints",
        "domain", "known_limits", "reference", "sampler", *DEFAULTS, *FURNACE_KEYS,
    }  # fmt: skip
    _only(sec, allowed, f"params.yaml: search.campaigns.{name}")
    system = sec.get("system")
    if system not in BALANCE:
        raise ConfigError(f"{_where(name, 'system')} must be one of {tuple(BALANCE)}")
    balance = BALANCE[system]
    comp = sec.get("composition")
    w = _where(name, "composition")
    if not isinstance(comp, dict) or not isinstance(comp.get("elements"), dict):
        raise ConfigError(f"{w} needs `elements: {{El: [low, high]}}` (wt%)")
    _only(comp, {"elements", "step_wt", "min_amount_wt", "total_solute_wt", "max_elements"}, w)
    elements = []
    for el, pair in comp["elements"].items():
        if el not in ELEMENTS:
            raise ConfigError(f"{w}.elements: unknown element {el!r}; known: {ELEMENTS}")
        if el == balance:
            raise ConfigError(
                f"{w}.elements: {el} is the balance element of {system}; it is computed"
            )
        lo, hi = _pair(pair, f"{w}.elements.{el}", 0.0, 100.0)
        if hi <= 0:
            raise ConfigError(f"{w}.elements.{el}: upper bound must be > 0 (drop the element)")
        elements.append(ElementBound(str(el), lo, hi))
    step = float(comp.get("step_wt", 0.01))
    if not 0 < step <= 1:
        raise ConfigError(f"{w}.step_wt must be in (0, 1] wt%")
    min_amount = float(comp.get("min_amount_wt", step))
    if min_amount < step:
        raise ConfigError(f"{w}.min_amount_wt must be >= step_wt ({step:g})")
    for e in elements:
        if not e.required and e.hi < min_amount:
            raise ConfigError(f"{w}.elements.{e.symbol}: upper bound below min_amount_wt")
    sum_lo = sum(e.lo for e in elements)
    sum_hi = sum(e.hi for e in elements)
    total = _pair(
        comp.get("total_solute_wt", [0.0, min(sum_hi, 50.0)]), f"{w}.total_solute_wt", 0, 50
    )
    if sum_lo > total[1] + 1e-9:
        raise ConfigError(
            f"{w}: the lower bounds sum to {sum_lo:g} wt% > total_solute_wt max {total[1]:g}"
        )
    if total[0] > sum_hi:
        raise ConfigError(f"{w}: total_solute_wt min {total[0]:g} > sum of upper bounds {sum_hi:g}")
    max_el = int(comp.get("max_elements", len(elements)))
    n_req = sum(e.required for e in elements)
    if not n_req <= max_el <= len(elements) or max_el < 1:
        raise ConfigError(
            f"{w}.max_elements must be between the number of required elements ({n_req}) and "
            f"the number of elements ({len(elements)}), got {max_el}"
        )
    process = _parse_process(sec.get("process", {}), _where(name, "process"))
    objectives = _parse_objectives(sec.get("objectives"), _where(name, "objectives"))
    constraints = _parse_constraints(sec.get("constraints"), _where(name, "constraints"))
    dsec = sec.get("domain", {"mode": "exploit"})
    wd = _where(name, "domain")
    if not isinstance(dsec, dict) or dsec.get("mode") not in DOMAIN_MODES:
        raise ConfigError(f"{wd} needs mode: one of {tuple(DOMAIN_MODES)}")
    _only(dsec, {"mode", "max_score", "penalty"}, wd)
    dom = DOMAIN_MODES[dsec["mode"]] | {k: float(v) for k, v in dsec.items() if k != "mode"}
    if dom["max_score"] <= 0 or dom["penalty"] < 0:
        raise ConfigError(f"{wd}: max_score must be > 0 and penalty >= 0")
    domain = DomainPolicy(dsec["mode"], dom["max_score"], dom["penalty"])
    limits = []
    for i, lim in enumerate(sec.get("known_limits") or []):
        wl = f"{_where(name, 'known_limits')}[{i}]"
        if not isinstance(lim, dict):
            raise ConfigError(f"{wl} must be a mapping: quantity, max, when, note")
        _only(lim, {"quantity", "max", "when", "note"}, wl)
        q = _parse_quantity(lim.get("quantity"), f"{wl}.quantity")
        if not isinstance(lim.get("max"), int | float):
            raise ConfigError(f"{wl}.max must be a number")
        limits.append(
            KnownLimit(
                q,
                float(lim["max"]),
                _parse_ranges(lim.get("when"), f"{wl}.when"),
                str(lim.get("note", "")),
            )  # fmt: skip
        )
    ssec = sec.get("sampler", {"name": "nsga2"})
    ws = _where(name, "sampler")
    if isinstance(ssec, str):
        ssec = {"name": ssec}
    if not isinstance(ssec, dict) or ssec.get("name") not in SAMPLERS:
        raise ConfigError(f"{ws} needs name: one of {SAMPLERS}")
    _only(ssec, {"name", "population_size", "n_startup_trials", "multivariate", "encoding"}, ws)
    if ssec.get("encoding", "auto") not in ENCODINGS:
        raise ConfigError(f"{ws}.encoding must be one of {ENCODINGS}")
    sampler = SamplerSpec(
        name=ssec["name"],
        population_size=int(ssec["population_size"]) if "population_size" in ssec else None,
        n_startup_trials=int(ssec["n_startup_trials"]) if "n_startup_trials" in ssec else None,
        multivariate=bool(ssec.get("multivariate", True)),
        encoding=str(ssec.get("encoding", "auto")),
    )
    if sampler.population_size is not None and sampler.population_size < 2:
        raise ConfigError(f"{ws}.population_size must be >= 2")
    run = {k: sec.get(k, v) for k, v in DEFAULTS.items()}
    for k in ("n_trials", "eval_batch", "batch_size"):
        if not isinstance(run[k], int) or run[k] < 1:
            raise ConfigError(f"{_where(name, k)} must be a positive integer, got {run[k]!r}")
    for k in ("min_distance", "process_weight"):
        if not isinstance(run[k], int | float) or run[k] < 0:
            raise ConfigError(f"{_where(name, k)} must be a number >= 0, got {run[k]!r}")
    return Campaign(
        name=name,
        system=system,
        description=str(sec.get("description", "")).strip(),
        elements=tuple(elements),
        step_wt=step,
        min_amount_wt=min_amount,
        total_solute_wt=total,
        max_elements=max_el,
        process=process,
        objectives=objectives,
        constraints=constraints,
        domain=domain,
        known_limits=tuple(limits),
        reference=_parse_ranges(sec.get("reference"), _where(name, "reference")),
        sampler=sampler,
        n_trials=int(run["n_trials"]),
        eval_batch=int(run["eval_batch"]),
        batch_size=int(run["batch_size"]),
        min_distance=float(run["min_distance"]),
        process_weight=float(run["process_weight"]),
        raw=json.loads(json.dumps(sec, default=str)),
        furnace=parse_furnace(sec, process, _where(name, "shared_process")),
    )


def search_campaigns(doc: dict[str, Any]) -> dict[str, Campaign]:
    """Every campaign of the ``search`` section of a loaded ``params.yaml``."""
    sec = doc.get("search")
    if not isinstance(sec, dict) or not isinstance(sec.get("campaigns"), dict):
        raise ConfigError(
            "params.yaml: missing section `search.campaigns` (named design problems); see the "
            "README for an example"
        )
    return {str(n): parse_campaign(str(n), c) for n, c in sec["campaigns"].items()}


def get_campaign(doc: dict[str, Any], name: str) -> Campaign:
    campaigns = search_campaigns(doc)
    if name not in campaigns:
        raise ConfigError(
            f"unknown campaign {name!r}; campaigns in params.yaml: {sorted(campaigns)}"
        )
    return campaigns[name]


# -- furnace-shared batches (issue 12) ------------------------------------------------------------
# Batch-selection settings, not part of the optimisation problem (left out of the study digest,
# like batch_size): everything about them is parsed here, in one place.

#: Campaign keys of a furnace-shared batch.
FURNACE_KEYS: tuple[str, ...] = ("shared_process", "furnace_groups")
#: Heat-treatment stages a batch can share (a furnace load).
FURNACE_STAGES: tuple[str, ...] = tuple(s for s in STAGES if s[:3] in ("hom", "sol", "age"))


@dataclass(frozen=True)
class FurnaceSpec:
    """Process stages every candidate of a batch shares, in at most ``groups`` schedules.

    ``shared_process: [sol1, age1, age2]`` alone: one schedule of those stages for the whole
    batch (``groups = 1``); ``furnace_groups: N`` alone: at most N schedules of every
    heat-treatment stage of the campaign; both: at most N schedules of the listed stages.
    Sharing an ageing stage shares the temper too (an ageing schedule belongs to its temper).
    Empty ``stages``: no constraint.
    """

    stages: tuple[str, ...] = ()
    groups: int = 1

    @property
    def active(self) -> bool:
        return bool(self.stages)


def parse_furnace(sec: dict[str, Any], process: ProcessSpec, where: str) -> FurnaceSpec:
    """``shared_process`` / ``furnace_groups`` of a campaign entry, checked against its stages."""
    names = [s.name for s in process.stages] + [
        s.name for ts in process.tempers.values() for s in ts
    ]
    declared = list(dict.fromkeys(names))
    heat = [s for s in FURNACE_STAGES if s in declared]
    shared, groups = sec.get("shared_process"), sec.get("furnace_groups")
    wg = where.rsplit(".", 1)[0] + ".furnace_groups"
    if groups is not None and (isinstance(groups, bool) or not isinstance(groups, int)
                               or groups < 1):  # fmt: skip
        raise ConfigError(f"{wg} must be a positive integer (schedules per batch), got {groups!r}")
    if shared is None:
        if groups is None:
            return FurnaceSpec()
        if not heat:
            raise ConfigError(f"{wg}: the campaign has no heat-treatment stage to share")
        return FurnaceSpec(tuple(heat), int(groups))
    if not isinstance(shared, list) or not shared or not all(isinstance(s, str) for s in shared):
        raise ConfigError(f"{where} must be a non-empty list of stage names, e.g. [sol1, age1]")
    unknown = [s for s in shared if s not in declared]
    if unknown:
        raise ConfigError(
            f"{where}: {unknown} not among the campaign's process stages {declared or '(none)'}"
        )
    if len(set(shared)) != len(shared):
        raise ConfigError(f"{where}: a stage is listed twice ({shared})")
    return FurnaceSpec(tuple(s for s in FURNACE_STAGES if s in shared), int(groups or 1))
