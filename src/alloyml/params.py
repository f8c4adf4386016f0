"""Load and validate ``params.yaml`` into typed, frozen objects (read in one place, once)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from alloyml.errors import ConfigError
from alloyml.schema import BALANCE, TARGETS


@dataclass(frozen=True)
class BaseParams:
    seed: int
    systems: tuple[str, ...]


@dataclass(frozen=True)
class IngestParams:
    sources_file: str
    raw_dir: str
    sources: dict[str, str]  # source id -> system


@dataclass(frozen=True)
class CleanParams:
    composition_decimals: int = 2
    sum_tolerance_wt: float = 0.5
    sum_flag_wt: float = 0.05
    duplicate_rel_tol: float = 0.01
    replicate_spread_flag: dict[str, float] | None = None
    impurity_li_max_wt: float = 0.2
    basis_uncertain_sources: tuple[str, ...] = ()
    plausible: dict[str, dict[str, tuple[float, float]]] | None = None


def _section(doc: dict[str, Any], name: str) -> dict[str, Any]:
    sec = doc.get(name)
    if not isinstance(sec, dict):
        raise ConfigError(f"params.yaml: missing section {name!r}")
    return sec


def _get(sec: dict[str, Any], key: str, where: str, typ: type | tuple[type, ...]) -> Any:
    if key not in sec:
        raise ConfigError(f"params.yaml: {where}.{key} is required")
    val = sec[key]
    if not isinstance(val, typ) or isinstance(val, bool) and typ is not bool:
        raise ConfigError(f"params.yaml: {where}.{key} must be {typ}, got {val!r}")
    return val


def load_yaml(path: str | Path = "params.yaml") -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"parameters file {p} not found (run from the project root)")
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML ({exc})") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{p}: top level must be a mapping of sections")
    return doc


def base_params(doc: dict[str, Any]) -> BaseParams:
    sec = _section(doc, "base")
    systems = tuple(_get(sec, "systems", "base", list))
    bad = [s for s in systems if s not in BALANCE]
    if bad:
        raise ConfigError(f"params.yaml: base.systems has unknown system(s) {bad}; use al, mg")
    return BaseParams(seed=int(_get(sec, "seed", "base", int)), systems=systems)


def ingest_params(doc: dict[str, Any]) -> IngestParams:
    sec = _section(doc, "ingest")
    sources = _get(sec, "sources", "ingest", dict)
    for sid, system in sources.items():
        if system not in BALANCE:
            raise ConfigError(f"params.yaml: ingest.sources.{sid} has unknown system {system!r}")
    return IngestParams(
        sources_file=str(_get(sec, "sources_file", "ingest", str)),
        raw_dir=str(sec.get("raw_dir", "data/raw")),
        sources=dict(sources),
    )


def clean_params(doc: dict[str, Any]) -> CleanParams:
    sec = _section(doc, "clean")
    plausible: dict[str, dict[str, tuple[float, float]]] = {}
    for system, ranges in (sec.get("plausible") or {}).items():
        if system not in BALANCE:
            raise ConfigError(f"params.yaml: clean.plausible has unknown system {system!r}")
        plausible[system] = {}
        for prop, bounds in ranges.items():
            if prop not in TARGETS:
                raise ConfigError(f"params.yaml: clean.plausible.{system}.{prop} is not a target")
            if not (isinstance(bounds, list) and len(bounds) == 2 and bounds[0] < bounds[1]):
                raise ConfigError(
                    f"params.yaml: clean.plausible.{system}.{prop} must be [low, high], got {bounds!r}"
                )
            plausible[system][prop] = (float(bounds[0]), float(bounds[1]))
    spread = {str(k): float(v) for k, v in (sec.get("replicate_spread_flag") or {}).items()}
    cp = CleanParams(
        composition_decimals=int(sec.get("composition_decimals", 2)),
        sum_tolerance_wt=float(sec.get("sum_tolerance_wt", 0.5)),
        sum_flag_wt=float(sec.get("sum_flag_wt", 0.05)),
        duplicate_rel_tol=float(sec.get("duplicate_rel_tol", 0.01)),
        replicate_spread_flag=spread,
        impurity_li_max_wt=float(sec.get("impurity_li_max_wt", 0.2)),
        basis_uncertain_sources=tuple(sec.get("basis_uncertain_sources") or ()),
        plausible=plausible,
    )
    if not 0 <= cp.composition_decimals <= 6:
        raise ConfigError("params.yaml: clean.composition_decimals must be between 0 and 6")
    if cp.sum_tolerance_wt <= 0 or cp.sum_flag_wt > cp.sum_tolerance_wt:
        raise ConfigError("params.yaml: need 0 < clean.sum_flag_wt <= clean.sum_tolerance_wt")
    return cp


def featurize_preset(doc: dict[str, Any]) -> str:
    sec = _section(doc, "featurize")
    return str(_get(sec, "preset", "featurize", str))


def train_params(doc: dict[str, Any]):
    """Return ``(targets_by_system, TrainConfig)`` from the ``train`` section (+ ``base.seed``)."""
    from alloyml.models import MODEL_NAMES
    from alloyml.train import TrainConfig

    seed = base_params(doc).seed
    sec = _section(doc, "train")
    targets = _get(sec, "targets", "train", dict)
    for system, ts in targets.items():
        if system not in BALANCE:
            raise ConfigError(f"params.yaml: train.targets has unknown system {system!r}")
        bad = [t for t in ts if t not in TARGETS]
        if bad:
            raise ConfigError(f"params.yaml: train.targets.{system} has unknown target(s) {bad}")
    models = tuple(_get(sec, "models", "train", list))
    bad = [m for m in models if m not in MODEL_NAMES]
    if bad:
        raise ConfigError(
            f"params.yaml: train.models has unknown model(s) {bad}; known {MODEL_NAMES}"
        )
    tuning = sec.get("tuning") or {}
    domain = sec.get("domain") or {}
    alpha = float(sec.get("alpha", 0.1))
    if not 0 < alpha < 1:
        raise ConfigError("params.yaml: train.alpha must be in (0, 1)")
    cfg = TrainConfig(
        seed=seed,
        models=models,
        gp_max_rows=int(sec.get("gp_max_rows", 600)),
        folds=int(sec.get("folds", 5)),
        random_repeats=int(sec.get("random_repeats", 1)),
        inner_folds=int(sec.get("inner_folds", 3)),
        extrapolation_quantile=float(sec.get("extrapolation_quantile", 0.9)),
        alpha=alpha,
        normalised_intervals=bool(sec.get("normalised_intervals", True)),
        tuning_trials=int(tuning.get("n_trials", 0)),
        tuning_models=tuple(tuning.get("models", ())),
        domain_k=int(domain.get("k", 5)),
        domain_level=float(domain.get("level", 0.95)),
        domain_min_support=int(domain.get("min_support", 5)),
        shift_folds=int(sec.get("shift_folds", 3)),
        loso_min_rows=int(sec.get("loso_min_rows", 20)),
        selection=tuple(sec.get("selection", ("grouped",))),
        min_rows=int(sec.get("min_rows", 40)),
        n_jobs=int(sec.get("n_jobs", 2)),
    )
    if cfg.folds < 2 or cfg.inner_folds < 2:
        raise ConfigError("params.yaml: train.folds and train.inner_folds must be >= 2")
    bad = [p for p in cfg.selection if p not in ("grouped", "shift")] or (not cfg.selection)
    if bad:
        raise ConfigError(
            f"params.yaml: train.selection must list protocols among grouped, shift; got {list(cfg.selection)}"
        )
    check_tuning_models(cfg.models, cfg.tuning_models)
    return {k: tuple(v) for k, v in targets.items()}, cfg


def check_tuning_models(models: tuple[str, ...], tuning_models: tuple[str, ...]) -> None:
    """Refuse a ``train.tuning.models`` entry that ``train.models`` does not screen.

    Only the screened champion is tuned, so such an entry would never be used.
    """
    unscreened = [m for m in tuning_models if m not in models]
    if unscreened:
        raise ConfigError(
            f"params.yaml: train.tuning.models has {unscreened}, not in train.models {list(models)}:"
            " only a screened model can be the champion that is tuned"
        )
