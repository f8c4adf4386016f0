"""``params.yaml`` read into typed, frozen objects: one accessor per stage section.

The models, defaults and checks live in :mod:`alloyml.config`; this module reads the file and
hands each stage its section (``backtest`` and ``search`` have their accessors next to their
runtime objects: :func:`alloyml.evaluation.backtest.backtest_params`, :func:`alloyml.search.get_campaign`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alloyml import config
from alloyml.config import BaseParams, CleanParams, IngestParams

__all__ = [
    "BaseParams",
    "CleanParams",
    "IngestParams",
    "base_params",
    "clean_params",
    "featurize_preset",
    "ingest_params",
    "load_yaml",
    "train_params",
]


def load_yaml(path: str | Path = "params.yaml") -> dict[str, Any]:
    """The parameters file as a mapping of sections (validated per section by the accessors)."""
    return config.load_yaml(path, "parameters file", " (run from the project root)")


def base_params(doc: dict[str, Any]) -> BaseParams:
    return config.section(doc, "base", BaseParams)


def ingest_params(doc: dict[str, Any]) -> IngestParams:
    return config.section(doc, "ingest", IngestParams)


def clean_params(doc: dict[str, Any]) -> CleanParams:
    return config.section(doc, "clean", CleanParams)


def featurize_preset(doc: dict[str, Any]) -> str:
    return config.section(doc, "featurize", config.FeaturizeParams).preset


def train_params(doc: dict[str, Any]):
    """Return ``(targets_by_system, TrainConfig)`` from the ``train`` section (+ ``base.seed``)."""
    from alloyml.modeling.train import TrainConfig

    seed = base_params(doc).seed
    p = config.section(doc, "train", config.TrainParams)
    cfg = TrainConfig(
        seed=seed,
        models=p.models,
        gp_max_rows=p.gp_max_rows,
        folds=p.folds,
        random_repeats=p.random_repeats,
        inner_folds=p.inner_folds,
        extrapolation_quantile=p.extrapolation_quantile,
        alpha=p.alpha,
        normalised_intervals=p.normalised_intervals,
        normalised_min_groups=p.normalised_min_groups,
        source_weight_power=p.source_weight_power,
        tuning_trials=p.tuning.n_trials,
        tuning_models=p.tuning.models,
        domain_k=p.domain.k,
        domain_level=p.domain.level,
        domain_min_support=p.domain.min_support,
        shift_folds=p.shift_folds,
        loso_min_rows=p.loso_min_rows,
        selection=p.selection,
        min_rows=p.min_rows,
        n_jobs=p.n_jobs,
    )
    return dict(p.targets), cfg
