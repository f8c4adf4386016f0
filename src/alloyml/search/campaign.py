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

:func:`search_campaigns` validates everything once (the models of
:class:`alloyml.config.CampaignSpec`) and returns frozen :class:`Campaign` objects; every message
names the campaign and the key.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from alloyml import config
from alloyml.config import DOMAIN_MODES, CampaignSpec
from alloyml.errors import AlloyMLError, ConfigError
from alloyml.features.process import STAGES
from alloyml.schema import BALANCE, TARGETS


class SearchError(AlloyMLError):
    """A search cannot run or resume (study mismatch, missing models, no feasible candidate)."""


#: Defaults of the run settings (the fields of :class:`alloyml.config.CampaignSpec`).
DEFAULTS: dict[str, Any] = {
    k: CampaignSpec.model_fields[k].default
    for k in ("n_trials", "eval_batch", "batch_size", "min_distance", "process_weight")
}
SPECIFIC = {"specific_ys": "ys_mpa", "specific_uts": "uts_mpa"}


def quantity_target(quantity: str) -> str | None:
    """The model target a quantity needs (``None`` for density, computed from composition)."""
    if quantity in TARGETS:
        return quantity
    return SPECIFIC.get(quantity)


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
    #: the validated YAML entry: a key added to :class:`alloyml.config.CampaignSpec` is read
    #: here (``campaign.spec.<key>``) without touching this class or the study digest
    spec: CampaignSpec | None = field(default=None, compare=False, repr=False)
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
        for k in ("raw", "spec", "description", "n_trials", "eval_batch", "batch_size", "min_distance",
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


# -- from the validated YAML (alloyml.config) to the runtime objects ----------------------------


def _stages(stages: dict[str, config.StageBounds]) -> tuple[StageSpec, ...]:
    return tuple(StageSpec(n, b.T_C, b.t_h, b.optional) for n, b in stages.items())


def _process(p: config.ProcessSpace) -> ProcessSpec:
    return ProcessSpec(
        routes=p.route,
        stages=_stages(p.stages),
        tempers={t: _stages(st) for t, st in p.temper.items()},
        numeric=tuple(
            NumericSpec(col, n.range[0], n.range[1], n.routes, n.log)
            for col, n in p.numeric.items()
        ),
        fixed=dict(p.fixed),
    )


def _objective(o: config.ObjectiveSpec) -> Objective:
    direction = o.direction or ("minimize" if o.quantity == "density_g_cm3" else "maximize")
    return Objective(o.quantity, direction, o.acquisition, o.kappa)


def _constraint(c: config.ConstraintSpec) -> Constraint:
    op, value = (">=", c.min) if c.min is not None else ("<=", c.max)
    # conservative by default: a floor is judged on the lower bound, a ceiling on the upper
    on = c.judged_on or ("lo" if op == ">=" else "hi")
    return Constraint(c.quantity, op, float(value), on)


def _domain(d: config.DomainSpec) -> DomainPolicy:
    base = DOMAIN_MODES[d.mode]
    return DomainPolicy(
        d.mode,
        base["max_score"] if d.max_score is None else d.max_score,
        base["penalty"] if d.penalty is None else d.penalty,
    )


def campaign_from_spec(name: str, spec: CampaignSpec, raw: dict[str, Any]) -> Campaign:
    """The runtime :class:`Campaign` of a validated ``search.campaigns.<name>`` entry."""
    comp = spec.composition
    s = spec.sampler
    return Campaign(
        name=name,
        system=spec.system,
        description=spec.description.strip(),
        elements=tuple(ElementBound(el, lo, hi) for el, (lo, hi) in comp.elements.items()),
        step_wt=comp.step_wt,
        min_amount_wt=comp.min_amount,
        total_solute_wt=comp.total_solute,
        max_elements=comp.n_max_elements,
        process=(process := _process(spec.process)),
        objectives=tuple(_objective(o) for o in spec.objectives),
        constraints=tuple(_constraint(c) for c in spec.constraints),
        domain=_domain(spec.domain),
        known_limits=tuple(
            KnownLimit(k.quantity, k.max, dict(k.when), k.note) for k in spec.known_limits
        ),
        reference=dict(spec.reference),
        sampler=SamplerSpec(
            s.name, s.population_size, s.n_startup_trials, s.multivariate, s.encoding
        ),
        n_trials=spec.n_trials,
        eval_batch=spec.eval_batch,
        batch_size=spec.batch_size,
        min_distance=spec.min_distance,
        process_weight=spec.process_weight,
        raw=json.loads(json.dumps(raw, default=str)),
        spec=spec,
        furnace=parse_furnace(raw, process, f"params.yaml: search.campaigns.{name}.shared_process"),
    )


def parse_campaign(name: str, sec: Any) -> Campaign:
    """Validate one ``search.campaigns.<name>`` entry."""
    spec = config.validate(CampaignSpec, sec, f"params.yaml: search.campaigns.{name}")
    return campaign_from_spec(name, spec, sec)


def search_campaigns(doc: dict[str, Any]) -> dict[str, Campaign]:
    """Every campaign of the ``search`` section of a loaded ``params.yaml``."""
    sec = doc.get("search")
    if not isinstance(sec, dict) or not isinstance(sec.get("campaigns"), dict):
        raise ConfigError(
            "params.yaml: missing section `search.campaigns` (named design problems); see the "
            "README for an example"
        )
    p = config.section(doc, "search", config.SearchParams)
    return {
        str(n): campaign_from_spec(str(n), c, sec["campaigns"][n]) for n, c in p.campaigns.items()
    }


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
