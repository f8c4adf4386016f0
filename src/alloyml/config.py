"""Typed configuration: every ``params.yaml`` section and ``data/sources.yaml`` as pydantic models.

One module for the shape, the defaults and the checks of the configuration files, and one YAML
loader (:func:`load_yaml`). The models mirror the YAML exactly: frozen, unknown keys refused
(``extra="forbid"``, the message lists the allowed keys), scalars strict (``"42"`` or ``true`` is
not an integer). A bad value raises :class:`~alloyml.errors.ConfigError` naming the file and the
key, e.g. ``params.yaml: train.domain.min_support: must be greater than 0, got 0``.

The stages turn a validated section into their own runtime objects: :mod:`alloyml.params`
(base, ingest, clean, featurize, train), :func:`alloyml.evaluation.backtest.backtest_params`,
:func:`alloyml.search.campaign.parse_campaign` and :mod:`alloyml.sources.registry`.

Adding a key to a section is one line here: a field with its type and default. A campaign key
added to :class:`CampaignSpec` is read at run time as ``campaign.spec.<key>``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    model_validator,
)

from alloyml.errors import ConfigError
from alloyml.schema import BALANCE, ELEMENTS, PROCESS_NUMERIC, ROUTES, TARGETS, TEMPER_CLASSES

#: Interval miscoverage: every prediction interval is at nominal 1 - 0.1 = 90 % coverage unless
#: ``train.alpha`` (models) or ``backtest.product.alpha`` (discovery backtest) says otherwise.
DEFAULT_ALPHA: float = 0.1

# -- vocabulary of the search campaigns (re-exported by alloyml.search.campaign) -----------------

#: Derived quantities besides the model targets: density by the rule of mixtures and specific
#: strength (target / density, MPa per g/cm3 = kN m/kg).
DERIVED_QUANTITIES: tuple[str, ...] = ("density_g_cm3", "specific_ys", "specific_uts")
QUANTITIES: tuple[str, ...] = (*TARGETS, *DERIVED_QUANTITIES)
CAMPAIGN_ACQUISITIONS: tuple[str, ...] = ("pred", "ucb", "ei")
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
#: Discovery-backtest baselines (Liang et al. 2021).
BASELINE_KINDS: tuple[str, ...] = ("rf_lcb", "gp_ard_lcb")

# -- the one YAML loader ------------------------------------------------------------------------


def load_yaml(
    path: str | Path,
    what: str = "parameters file",
    hint: str = "",
    top_level: str = "top level must be a mapping of sections",
) -> dict[str, Any]:
    """Read a YAML file whose top level is a mapping (an empty file is an empty mapping).

    ``what`` and ``hint`` word the missing-file message, ``top_level`` the wrong-shape one.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{what} {p} not found{hint}")
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML ({exc})") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{p}: {top_level}")
    return doc


# -- validation errors -> ConfigError -----------------------------------------------------------


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _loc_text(loc: Iterable[Any]) -> str:
    """``('domain', 'min_support')`` -> ``.domain.min_support``; list items as ``[i]``."""
    return "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc if part != "[key]"
    )


def _message(err: dict[str, Any]) -> str:
    kind, msg = err["type"], err["msg"]
    if kind == "missing":
        return f"required key {str(err['loc'][-1])!r} is missing"
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    if kind == "too_short":
        n = err.get("ctx", {}).get("min_length", 1)
        return f"must have at least {n} item{'s' if n != 1 else ''}, got {_short(err['input'])}"
    if kind in ("model_type", "dict_type", "model_attributes_type"):
        return f"must be a mapping, got {_short(err['input'])}"
    msg = msg.replace("Input should be a valid", "must be a").replace("Input should be", "must be")
    msg = msg.replace("must be a integer", "must be an integer")
    return f"{msg}, got {_short(err['input'])}"


def format_errors(exc: ValidationError, where: str, render_loc=_loc_text) -> str:
    """One line per error: ``<where><rendered key path>: <what is wrong>``."""
    errors = exc.errors()
    locs = [tuple(e["loc"]) for e in errors]
    lines = []
    for err in errors:
        here = tuple(err["loc"])
        if err["type"] == "too_short" and any(len(o) > len(here) and o[: len(here)] == here
                                              for o in locs):  # fmt: skip
            continue  # "at least 1 item after validation": the item's own error says why
        head = (where + render_loc(here)).rstrip(":")
        lines.append(f"{head}: {_message(err)}")
    return "\n".join(lines)


def validate(model: type[BaseModel], data: Any, where: str, render_loc=_loc_text):
    """``model`` validated from ``data``; a :class:`ConfigError` naming ``where`` + key if not."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, where, render_loc)) from None


def section(doc: dict[str, Any], name: str, model: type[BaseModel], file: str = "params.yaml"):
    """Validated section ``name`` of a loaded parameters document."""
    sec = doc.get(name)
    if not isinstance(sec, dict):
        raise ConfigError(f"{file}: missing section {name!r}")
    return validate(model, sec, f"{file}: {name}")


# -- field types --------------------------------------------------------------------------------

Int = Annotated[int, Strict()]
Float = Annotated[float, Strict()]  # an int is accepted, a bool or a string is not
Str = Annotated[str, Strict()]
Bool = Annotated[bool, Strict()]


def _one_of(options: tuple[str, ...] | Callable[[], tuple[str, ...]], what: str):
    """Validator: the value is one of ``options`` (a callable is resolved at validation time)."""

    def check(value: str) -> str:
        allowed = options() if callable(options) else options
        if value not in allowed:
            raise ValueError(f"unknown {what} {value!r}; choose from {', '.join(allowed)}")
        return value

    return AfterValidator(check)


def _lazy(module: str, *names: str) -> Callable[[], tuple[str, ...]]:
    """Options defined in a module that imports this one (resolved when validating)."""

    def get() -> tuple[str, ...]:
        import importlib

        mod = importlib.import_module(module)
        return tuple(x for n in names for x in getattr(mod, n))

    return get


def _backtest_families() -> tuple[str, ...]:
    from alloyml.modeling.models import EXTRAPOLATING_NAMES, MODEL_NAMES

    return (*(m for m in MODEL_NAMES if m not in ("mean", "gp")), *EXTRAPOLATING_NAMES)


def _stages() -> tuple[str, ...]:
    from alloyml.features.process import STAGES

    return STAGES


System = Annotated[Str, _one_of(tuple(BALANCE), "system")]
Target = Annotated[Str, _one_of(TARGETS, "target")]
Element = Annotated[Str, _one_of(ELEMENTS, "element")]
Quantity = Annotated[Str, _one_of(QUANTITIES, "quantity")]
ModelName = Annotated[Str, _one_of(_lazy("alloyml.modeling.models", "MODEL_NAMES"), "model")]
Family = Annotated[Str, _one_of(_backtest_families, "model family")]
StageName = Annotated[Str, _one_of(_stages, "stage")]
PositiveInt = Annotated[Int, Field(ge=1)]


def Pair(lo_min: float = -math.inf, hi_max: float = math.inf, strict: bool = False):
    """``[low, high]`` numbers with ``lo_min <= low <= high <= hi_max`` (``low < high`` if strict)."""

    def check(value: tuple[float, float]) -> tuple[float, float]:
        lo, hi = value
        if not (lo_min <= lo <= hi <= hi_max) or strict and lo == hi:
            rule = f"low {'<' if strict else '<='} high"
            rule = (f"{lo_min:g} <= " if lo_min > -math.inf else "") + rule
            rule += f" <= {hi_max:g}" if hi_max < math.inf else ""
            raise ValueError(f"must be [low, high] with {rule}, got {[lo, hi]}")
        return value

    return Annotated[tuple[Float, Float], AfterValidator(check)]


def _tuple_or_empty(value: Any) -> Any:
    return () if value is None else value


# -- base model ---------------------------------------------------------------------------------


class ConfigModel(BaseModel):
    """Frozen, unknown keys refused with the list of allowed keys; ``key: null`` = key absent."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    #: keys whose ``""`` also means absent (besides ``null``)
    _empty_is_absent: ClassVar[bool] = False

    @classmethod
    def _prepare(cls, data: Any) -> Any:
        """Hook for subclasses: reshape the raw value before validation."""
        return data

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        data = cls._prepare(data)
        if not isinstance(data, dict):
            return data

        def absent(value: Any) -> bool:
            return value is None or cls._empty_is_absent and isinstance(value, str) and not value

        data = {k: v for k, v in data.items() if not absent(v)}
        unknown = [str(k) for k in data if k not in cls.model_fields]
        if unknown:
            raise ValueError(
                f"unknown key(s) {sorted(unknown)}; allowed: {sorted(cls.model_fields)}"
            )
        return data


# -- params.yaml: base, ingest, clean, featurize ------------------------------------------------

#: The seed when ``base.seed`` is not given (stages that only need the seed).
DEFAULT_SEED = 42


class BaseParams(ConfigModel):
    """``base``: seed and systems."""

    seed: Int
    systems: tuple[System, ...]


def base_seed(doc: dict[str, Any]) -> int:
    """``base.seed`` (``DEFAULT_SEED`` without a ``base`` section or seed), checked."""
    base = doc.get("base")
    seed = base.get("seed") if isinstance(base, dict) else None
    if seed is None:
        return DEFAULT_SEED
    return validate(_Seed, {"seed": seed}, "params.yaml: base").seed


class _Seed(ConfigModel):
    seed: Int


class IngestParams(ConfigModel):
    """``ingest``: the source registry file, the download cache, source id -> system."""

    sources_file: Str
    raw_dir: Str = "data/raw"
    sources: dict[Str, System]


class CleanParams(ConfigModel):
    """``clean``: the cleaning thresholds (see :mod:`alloyml.curation.clean`)."""

    composition_decimals: Annotated[Int, Field(ge=0, le=6)] = 2
    sum_tolerance_wt: Annotated[Float, Field(gt=0)] = 0.5
    sum_flag_wt: Annotated[Float, Field(ge=0)] = 0.05
    duplicate_rel_tol: Annotated[Float, Field(ge=0)] = 0.01
    replicate_spread_flag: dict[Target, Float] = {}
    impurity_li_max_wt: Annotated[Float, Field(ge=0)] = 0.2
    basis_uncertain_sources: tuple[Str, ...] = ()
    plausible: dict[System, dict[Target, Pair(strict=True)]] = {}

    @model_validator(mode="after")
    def _flag_within_tolerance(self) -> CleanParams:
        if self.sum_flag_wt > self.sum_tolerance_wt:
            raise ValueError("need sum_flag_wt <= sum_tolerance_wt")
        return self


class FeaturizeParams(ConfigModel):
    """``featurize``: the feature preset."""

    preset: Str


# -- params.yaml: train -------------------------------------------------------------------------


class TrainTuning(ConfigModel):
    n_trials: Annotated[Int, Field(ge=0)] = 0  # Optuna trials per (outer fold, target)
    models: tuple[ModelName, ...] = ()


class TrainDomain(ConfigModel):
    k: PositiveInt = 5
    level: Annotated[Float, Field(gt=0, lt=1)] = 0.95
    min_support: Annotated[Int, Field(ge=0)] = 5


class TrainParams(ConfigModel):
    """``train``: targets per system, model families, validation and interval settings."""

    targets: dict[System, tuple[Target, ...]]
    models: tuple[ModelName, ...]
    gp_max_rows: PositiveInt = 600
    folds: Annotated[Int, Field(ge=2)] = 5
    random_repeats: PositiveInt = 1
    inner_folds: Annotated[Int, Field(ge=2)] = 3
    extrapolation_quantile: Annotated[Float, Field(gt=0, lt=1)] = 0.9
    alpha: Annotated[Float, Field(gt=0, lt=1)] = DEFAULT_ALPHA
    normalised_intervals: Bool = True
    #: composition groups a calibration needs before its intervals are normalised
    normalised_min_groups: PositiveInt = 30
    #: sample weight n_s ** -power of a row whose source holds n_s rows (0: unweighted)
    source_weight_power: Annotated[Float, Field(ge=0, le=1)] = 0.0
    tuning: TrainTuning = TrainTuning()
    domain: TrainDomain = TrainDomain()
    shift_folds: Annotated[Int, Field(ge=2)] = 3
    loso_min_rows: PositiveInt = 20
    #: protocols of the champion rule (alloyml.modeling.train.select_champion)
    selection: Annotated[tuple[Literal["grouped", "shift"], ...], Field(min_length=1)] = (
        "grouped",
    )
    min_rows: PositiveInt = 40
    n_jobs: PositiveInt = 2

    @model_validator(mode="after")
    def _tuned_models_are_screened(self) -> TrainParams:
        # only the screened champion is tuned: an unscreened entry would never be used
        unscreened = [m for m in self.tuning.models if m not in self.models]
        if unscreened:
            raise ValueError(
                f"tuning.models has {unscreened}, not in models {list(self.models)}: only a "
                "screened model can be the champion that is tuned"
            )
        return self


# -- params.yaml: backtest ----------------------------------------------------------------------


def _ranged_int(lo: int, hi: int):
    return Annotated[Int, Field(ge=lo, le=hi)]


def _ranged_float(lo: float, hi: float):
    return Annotated[Float, Field(ge=lo, le=hi)]


class BacktestProduct(ConfigModel):
    """``backtest.product``: the campaigns' loop (family, conformal intervals, domain rule)."""

    family: Family = "et"
    n_estimators: _ranged_int(5, 2000) = 50
    acquisition: Annotated[
        Str, _one_of(_lazy("alloyml.search.acquisition", "ACQUISITIONS"), "acquisition")
    ] = "ucb"
    kappa: _ranged_float(0.0, 100.0) = 1.0
    alpha: _ranged_float(0.001, 0.5) = DEFAULT_ALPHA
    folds: _ranged_int(2, 20) = 3
    recalibrate_every: _ranged_int(1, 1000) = 5
    domain: Annotated[Str, _one_of((*DOMAIN_MODES, "off"), "domain mode")] = "explore"


class BacktestBaseline(ConfigModel):
    """Settings of the baselines (``backtest.baselines`` without ``methods``)."""

    rf_n_estimators: _ranged_int(5, 2000) = 100
    kappa: _ranged_float(0.0, 100.0) = 2.0
    gp_refit_every: _ranged_int(1, 1000) = 10
    gp_max_iter: _ranged_int(1, 10_000) = 60


class BacktestBaselines(BacktestBaseline):
    """``backtest.baselines``: which baselines run, and their settings."""

    methods: tuple[Annotated[Str, _one_of(BASELINE_KINDS, "baseline")], ...] = BASELINE_KINDS


class BacktestDataset(ConfigModel):
    """``backtest.datasets.<name>``: rows of ``system`` from ``sources`` (empty = all)."""

    system: System
    target: Target
    sources: tuple[Str, ...] = ()
    max_guided: _ranged_int(1, 1_000_000) | None = None
    product_variants: tuple[Family, ...] | None = None


BatchSizes = Annotated[tuple[PositiveInt, ...], Field(min_length=1)]


class BacktestParams(ConfigModel):
    """``backtest``: the discovery backtest (issue 11), see :mod:`alloyml.evaluation.backtest`."""

    n_seeds: _ranged_int(1, 10_000) = 20
    n_init: _ranged_int(2, 10_000) = 10
    batch_sizes: BatchSizes = (1, 8)
    other_batch_sizes: BatchSizes | None = None  # default: the first of batch_sizes
    max_guided: _ranged_int(1, 1_000_000) = 120
    fantasy: Annotated[
        Str, _one_of(_lazy("alloyml.search.acquisition", "FANTASIES"), "fantasy")
    ] = "believer"
    lie: Annotated[Str, _one_of(_lazy("alloyml.search.acquisition", "LIES"), "lie")] = "min"
    product: BacktestProduct = BacktestProduct()
    product_variants: Annotated[tuple[Family, ...], BeforeValidator(_tuple_or_empty)] = ()
    baselines: BacktestBaselines = BacktestBaselines()
    n_jobs: _ranged_int(1, 64) = 1
    n_boot: _ranged_int(100, 100_000) = 2000
    datasets: Annotated[dict[Str, BacktestDataset], Field(min_length=1)]

    @model_validator(mode="after")
    def _other_among_batch_sizes(self) -> BacktestParams:
        if self.other_batch_sizes and any(
            b not in self.batch_sizes for b in self.other_batch_sizes
        ):
            raise ValueError("other_batch_sizes must be among batch_sizes")
        return self


# -- params.yaml: search ------------------------------------------------------------------------


class StageBounds(ConfigModel):
    """One heat-treatment stage: °C and h bounds; ``optional`` = conditional (may be absent)."""

    T_C: Pair(-273.0, 1000.0)
    t_h: Pair(0.0, 1e5)
    optional: Bool = False

    @model_validator(mode="after")
    def _positive_time(self) -> StageBounds:
        if self.t_h[0] <= 0:
            raise ValueError("t_h must be > 0 h (an absent stage is `optional`)")
        return self


def _check_chain(stages: dict[str, StageBounds], where: str) -> None:
    """Within a kind (sol, age), stages are numbered in order and an optional stage is never
    followed by a required one (stage k+1 can only exist when stage k does)."""
    for kind in ("homog", "sol", "age"):
        names = [n for n in stages if n.startswith(kind)]
        if kind != "homog":
            expected = [f"{kind}{i}" for i in range(1, len(names) + 1)]
            if names != expected:
                raise ValueError(f"{where}: {kind} stages must be {expected}, got {names}")
        seen_optional = False
        for n in names:
            if seen_optional and not stages[n].optional:
                raise ValueError(
                    f"{where}: required stage {n} follows an optional one; a later stage "
                    "can only exist when the earlier one does"
                )
            seen_optional |= stages[n].optional


class NumericRange(ConfigModel):
    """A free numeric process parameter: ``[low, high]`` or ``{range, routes, log}``."""

    range: Pair(0.0, 1000.0)
    routes: tuple[Str, ...] = ()  # empty = every route
    log: Bool = False

    @classmethod
    def _prepare(cls, data: Any) -> Any:
        return {"range": data} if isinstance(data, list) else data


def _free_numeric(col: str) -> str:
    if col not in PROCESS_NUMERIC or col.endswith(("_T_C", "_t_h")) and col[:-4] in _stages():
        raise ValueError(
            f"{col!r} is not a free numeric process column; use one of cold_work_pct, "
            "extrusion_ratio, rolling_reduction_pct, deform_T_C (stages go under stages/temper)"
        )
    return col


def _process_column(col: str) -> str:
    if col not in PROCESS_NUMERIC:
        raise ValueError(f"{col!r} is not a numeric process column; choose from {PROCESS_NUMERIC}")
    return col


Route = Annotated[Str, _one_of((*ROUTES, NONE), "route")]
Temper = Annotated[Str, _one_of((*TEMPER_CLASSES, NONE), "temper")]
Stages = Annotated[dict[StageName, StageBounds], BeforeValidator(lambda v: {} if v is None else v)]


class ProcessSpace(ConfigModel):
    """``process``: route and temper choices, stages, free and fixed numeric parameters."""

    route: Annotated[tuple[Route, ...], Field(min_length=1)] = (NONE,)
    stages: Stages = {}
    temper: Annotated[dict[Temper, Stages], Field(min_length=1)] = {NONE: {}}
    numeric: dict[Annotated[Str, AfterValidator(_free_numeric)], NumericRange] = {}
    fixed: dict[Annotated[Str, AfterValidator(_process_column)], Float] = {}

    @model_validator(mode="after")
    def _consistent(self) -> ProcessSpace:
        if any(n.startswith("age") for n in self.stages):
            raise ValueError("stages: ageing stages belong under `temper` (per temper)")
        _check_chain(self.stages, "stages")
        for temper, stages in self.temper.items():
            if any(not n.startswith("age") for n in stages):
                raise ValueError(f"temper.{temper}: only ageing stages (age1..age3) here")
            _check_chain(stages, f"temper.{temper}")
        for col, spec in self.numeric.items():
            bad = [r for r in spec.routes if r not in self.route]
            if bad:
                raise ValueError(
                    f"numeric.{col}.routes {bad} are not among the campaign's routes "
                    f"{list(self.route)}"
                )
            if col == "extrusion_ratio" and spec.range[0] <= 0:
                raise ValueError(f"numeric.{col}: extrusion ratio must be > 0")
        clash = set(self.numeric) & set(self.fixed)
        if clash:
            raise ValueError(f"{sorted(clash)} both free (numeric) and fixed")
        return self


class Composition(ConfigModel):
    """``composition``: wt % bounds per alloying element and the composition rules."""

    elements: dict[Element, Pair(0.0, 100.0)]
    step_wt: Annotated[Float, Field(gt=0, le=1)] = 0.01
    min_amount_wt: Float | None = None  # default: step_wt
    total_solute_wt: Pair(0.0, 50.0) | None = None  # default: [0, min(sum of highs, 50)]
    max_elements: Int | None = None  # default: every element

    @model_validator(mode="after")
    def _consistent(self) -> Composition:
        for el, (_lo, hi) in self.elements.items():
            if hi <= 0:
                raise ValueError(f"elements.{el}: upper bound must be > 0 (drop the element)")
        if self.min_amount_wt is not None and self.min_amount_wt < self.step_wt:
            raise ValueError(f"min_amount_wt must be >= step_wt ({self.step_wt:g})")
        min_amount = self.min_amount
        for el, (lo, hi) in self.elements.items():
            if lo <= 0 and hi < min_amount:
                raise ValueError(f"elements.{el}: upper bound below min_amount_wt")
        sum_lo = sum(lo for lo, _ in self.elements.values())
        sum_hi = sum(hi for _, hi in self.elements.values())
        total = self.total_solute
        if sum_lo > total[1] + 1e-9:
            raise ValueError(
                f"the lower bounds sum to {sum_lo:g} wt% > total_solute_wt max {total[1]:g}"
            )
        if total[0] > sum_hi:
            raise ValueError(f"total_solute_wt min {total[0]:g} > sum of upper bounds {sum_hi:g}")
        n_req = sum(lo > 0 for lo, _ in self.elements.values())
        n = self.n_max_elements
        if not n_req <= n <= len(self.elements) or n < 1:
            raise ValueError(
                f"max_elements must be between the number of required elements ({n_req}) and "
                f"the number of elements ({len(self.elements)}), got {n}"
            )
        return self

    @property
    def min_amount(self) -> float:
        return self.step_wt if self.min_amount_wt is None else self.min_amount_wt

    @property
    def total_solute(self) -> tuple[float, float]:
        if self.total_solute_wt is not None:
            return self.total_solute_wt
        return (0.0, min(sum(hi for _, hi in self.elements.values()), 50.0))

    @property
    def n_max_elements(self) -> int:
        return len(self.elements) if self.max_elements is None else self.max_elements


class ObjectiveSpec(ConfigModel):
    quantity: Quantity
    direction: Literal["maximize", "minimize"] | None = None  # default: min density, max others
    acquisition: Annotated[Str, _one_of(CAMPAIGN_ACQUISITIONS, "acquisition")] = "pred"
    kappa: Annotated[Float, Field(ge=0)] = 1.0


class ConstraintSpec(ConfigModel):
    """``{quantity, min | max, judged_on}``; judged_on defaults to lo for min, hi for max."""

    quantity: Quantity
    min: Float | None = None
    max: Float | None = None
    judged_on: Annotated[Str, _one_of(BOUNDS_ON, "judged_on")] | None = None

    @classmethod
    def _prepare(cls, data: Any) -> Any:
        if isinstance(data, dict) and True in data:
            raise ValueError("write `judged_on:` (YAML reads a bare `on` as true)")
        return data

    @model_validator(mode="after")
    def _one_bound(self) -> ConstraintSpec:
        if (self.min is None) == (self.max is None):
            raise ValueError("give exactly one of min / max")
        return self


class DomainSpec(ConfigModel):
    mode: Annotated[Str, _one_of(tuple(DOMAIN_MODES), "domain mode")]
    max_score: Annotated[Float, Field(gt=0)] | None = None  # default: DOMAIN_MODES[mode]
    penalty: Annotated[Float, Field(ge=0)] | None = None


class KnownLimitSpec(ConfigModel):
    """A prediction above ``max`` for compositions inside ``when`` is marked extrapolation."""

    quantity: Quantity
    max: Float
    when: dict[Element, Pair(0.0, 100.0)] = {}
    note: Str = ""


class SamplerSettings(ConfigModel):
    name: Annotated[Str, _one_of(SAMPLERS, "sampler")]
    population_size: Annotated[Int, Field(ge=2)] | None = None  # nsga2; min(eval_batch, 250)
    n_startup_trials: PositiveInt | None = None  # tpe; default: eval_batch
    multivariate: Bool = True  # tpe
    encoding: Annotated[Str, _one_of(ENCODINGS, "encoding")] = "auto"

    @classmethod
    def _prepare(cls, data: Any) -> Any:
        return {"name": data} if isinstance(data, str) else data


class CampaignSpec(ConfigModel):
    """``search.campaigns.<name>``: one design problem (see :mod:`alloyml.search.campaign`)."""

    system: System
    description: Str = ""
    composition: Composition
    process: ProcessSpace = ProcessSpace()
    objectives: Annotated[tuple[ObjectiveSpec, ...], Field(min_length=1)]
    constraints: tuple[ConstraintSpec, ...] = ()
    domain: DomainSpec = DomainSpec(mode="exploit")
    known_limits: tuple[KnownLimitSpec, ...] = ()
    reference: dict[Element, Pair(0.0, 100.0)] = {}
    sampler: SamplerSettings = SamplerSettings(name="nsga2")
    n_trials: PositiveInt = 2000  # evaluations (complete trials) in the study
    eval_batch: PositiveInt = 200  # trials asked and evaluated per round
    batch_size: PositiveInt = 8  # candidates for the next experimental round
    min_distance: Annotated[Float, Field(ge=0)] = 0.5  # between candidates, design-space units
    process_weight: Annotated[Float, Field(ge=0)] = 1.0  # process differences' weight in it
    # furnace-shared batches (issue 12): checked against the process stages by
    # alloyml.search.campaign.parse_furnace
    shared_process: Any = None  # stages every candidate of a batch shares, e.g. [sol1, age1]
    furnace_groups: Any = None  # at most this many schedules per batch

    @model_validator(mode="after")
    def _consistent(self) -> CampaignSpec:
        balance = BALANCE[self.system]
        if balance in self.composition.elements:
            raise ValueError(
                f"composition.elements: {balance} is the balance element of {self.system}; "
                "it is computed"
            )
        names = [o.quantity for o in self.objectives]
        if len(set(names)) != len(names):
            raise ValueError(f"objectives: a quantity appears twice ({names})")
        return self


class SearchParams(ConfigModel):
    """``search``: named design problems."""

    campaigns: dict[Str, CampaignSpec]


# -- data/sources.yaml --------------------------------------------------------------------------


def _sha256(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _check_sha256(value: str) -> str:
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise ValueError("sha256 must be 64 hex digits")
    return value


def _relative(value: str) -> str:
    p = Path(value)
    if p.is_absolute() or ".." in p.parts:
        raise ValueError(f"path must be relative to the data root, got {value!r}")
    return value


def _snake_id(value: str) -> str:
    if not (value[:1].isascii() and value[:1].islower()) or not all(
        c.isascii() and (c.islower() or c.isdigit() or c == "_") for c in value
    ):
        raise ValueError(f"id must be lower_snake_case, got {value!r}")
    return value


class SourceFileEntry(ConfigModel):
    """One raw file of a source: path relative to the data root, pinned origin URL, sha256."""

    _empty_is_absent: ClassVar[bool] = True

    path: Annotated[Str, AfterValidator(_relative)]
    sha256: Annotated[Str, BeforeValidator(_sha256), AfterValidator(_check_sha256)]
    url: Str | None = None
    #: kept with the project (e.g. a recorded lab round under data/rounds/): ``path`` is
    #: relative to the project directory instead of the data root
    local: Bool = False


class SourceEntry(ConfigModel):
    """One declared data source (see :class:`alloyml.sources.registry.SourceSpec`)."""

    _empty_is_absent: ClassVar[bool] = True

    id: Annotated[Str, AfterValidator(_snake_id)]
    system: System
    adapter: Str
    files: Annotated[tuple[SourceFileEntry, ...], Field(min_length=1)]
    options: dict[Str, Any] = {}
    citation: Str = ""
    licence: Str = ""
    doi: Str | None = None


SOURCES_TOP_LEVEL = "expected a top-level 'sources:' list"


class SourcesFile(ConfigModel):
    """``data/sources.yaml``: every data source alloyml reads."""

    sources: tuple[SourceEntry, ...]

    @classmethod
    def _prepare(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not isinstance(data.get("sources"), list):
            raise ValueError(SOURCES_TOP_LEVEL)
        return data

    @model_validator(mode="after")
    def _unique_ids(self) -> SourcesFile:
        seen: set[str] = set()
        for s in self.sources:
            if s.id in seen:
                raise ValueError(f"source {s.id!r}: duplicate id")
            seen.add(s.id)
        return self


def parse_sources_file(doc: Any, where: str = "sources.yaml") -> SourcesFile:
    """Validated ``sources.yaml`` document; messages name the source by id where it has one."""
    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: {SOURCES_TOP_LEVEL}")
    entries = doc.get("sources") if isinstance(doc.get("sources"), list) else []

    def render(loc: tuple[Any, ...]) -> str:
        if len(loc) >= 2 and loc[0] == "sources" and isinstance(loc[1], int):
            entry = entries[loc[1]] if loc[1] < len(entries) else None
            sid = entry.get("id") if isinstance(entry, dict) else None
            head = f"source {sid!r}" if isinstance(sid, str) and sid else f"sources[{loc[1]}]"
            rest = _loc_text(loc[2:]).lstrip(".")
            return f" {head}" + (f" {rest}" if rest else "")
        return " " + _loc_text(loc).lstrip(".") if loc else ""

    return validate(SourcesFile, doc, f"{where}:", render)
