"""Paper protocols: every accuracy a source's papers reported, repeated on our rows their way.

Each source dataset came with published (or, for M-916, measured) accuracy numbers. This module
repeats each number's protocol on the same source's rows as its authors used them, with
alloyml's features and models, and writes both numbers side by side. The numbers, their
citations and one protocol spec per experiment are data, in ``paper_protocols.yaml`` beside this
module (:func:`load_protocols`); the code knows no paper.

Inputs are the *interim* per-source tables (``data/interim/<system>/<source>.parquet``: every row
as its adapter mapped it, before the cross-source clean/dedup step), because the papers used the
rows as published. What a paper did with its source (which rows, which fixed split, which of the
source's own process categories it fed its model) lives in that source's adapter
(:mod:`alloyml.sources.adapters`: ``paper_rows``, ``paper_split``, ``paper_categories``,
``paper_features``).

One experiment, for each of its targets (rows with the target):

1. **Outer splits** as the paper did them (``outer`` of the spec): repeated random 80/20 hold-out,
   hold-out of composition groups, K-fold, GroupKFold by composition, or the adapter's fixed
   split (:mod:`alloyml.modeling.validation`).
2. **Honest model choice** in every outer split: the model is chosen among the spec's candidate
   set (model family x feature view, plus the mean of any two candidates) by inner
   cross-validation on the training part only (pooled out-of-fold mean squared error; the
   out-of-fold predictions are :func:`alloyml.modeling.train.oof_predictions`, the models
   :func:`alloyml.modeling.models.make_model`), then refitted on the whole training part and scored once
   on the test part. The test part never influences a choice. Grouped protocols use grouped inner
   folds.
3. **Scores**: R², MAE, RMSE, MAPE per outer split (:func:`alloyml.modeling.validation.regression_metrics`),
   reported as their mean with the spread.

Feature views: ``full`` (:func:`alloyml.features.featurize` of the preset plus the adapter's
``paper_categories``), ``lean`` (its wt % and process columns plus the categories, no Magpie or
physics descriptors) and ``raw`` (the adapter's ``paper_features``).

Composition groups: :func:`alloyml.curation.clean.composition_key` (wt % rounded to
``clean.composition_decimals``, process ignored): a grouped test composition is never seen in
training under any process.

Output (:func:`run_paper_protocols`): a list of records ``{dataset, protocol, target, metric,
value, anchor_value, higher_is_better, model, note}``, one per number of the YAML file;
``anchor_value`` is ``None`` for the extra rows reported beside the published numbers (the
grouped ANU split). :func:`summary_lines` renders the comparison.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import re
import time
import warnings
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from joblib import Parallel, delayed
from sklearn.exceptions import ConvergenceWarning

from alloyml.curation.clean import composition_key
from alloyml.errors import AlloyMLError, ConfigError, SchemaError
from alloyml.features import featurize
from alloyml.modeling.train import TrainConfig, oof_predictions
from alloyml.modeling.validation import (
    Splits,
    grouped_holdout_splits,
    grouped_splits,
    holdout_splits,
    random_splits,
    regression_metrics,
)
from alloyml.schema import ELEMENTS
from alloyml.sources.base import adapter_module
from alloyml.sources.registry import SourceSpec

log = logging.getLogger("alloyml.paper_protocols")

#: The protocol file shipped with the package.
PROTOCOLS_FILE = "paper_protocols.yaml"

TARGETS: tuple[str, ...] = ("ys_mpa", "uts_mpa", "elong_pct")
TARGET_LABEL = {"ys_mpa": "YS", "uts_mpa": "UTS", "elong_pct": "EL"}
METRICS: tuple[str, ...] = ("r2", "mae", "rmse", "mape")
HIGHER_IS_BETTER = {"r2": True, "mae": False, "rmse": False, "mape": False}
OUTER_SPLITS: tuple[str, ...] = (
    "holdout",
    "grouped_holdout",
    "kfold",
    "group_kfold",
    "paper_split",
)
VIEWS: tuple[str, ...] = ("full", "lean", "raw")

#: Record keys, in order.
RECORD_KEYS: tuple[str, ...] = (
    "dataset",
    "protocol",
    "target",
    "metric",
    "value",
    "anchor_value",
    "higher_is_better",
    "model",
    "note",
)


# -- the protocol file ------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One model the inner CV may choose: a :func:`~alloyml.modeling.models.make_model` family on a view."""

    family: str
    view: str
    overrides: tuple[tuple[str, Any], ...] = ()

    @property
    def name(self) -> str:
        return f"{self.family}[{self.view}]"

    @classmethod
    def parse(cls, text: str) -> Candidate:
        """``"xgb[lean]"`` -> ``Candidate("xgb", "lean")``."""
        m = re.fullmatch(r"\s*([a-z_]+)\[([a-z_]+)\]\s*", str(text))
        if m is None:
            raise ConfigError(f"candidate {text!r} is not 'family[view]'")
        return cls(m.group(1), m.group(2))


@dataclass(frozen=True)
class Citation:
    """Where a number comes from: ``label`` goes into the record's note."""

    label: str
    reference: str
    where: str


@dataclass(frozen=True)
class Dataset:
    """How an experiment reads its source: which rows, which feature views."""

    source_id: str
    views: tuple[str, ...]
    features: str = ""  # protocol text describing the features
    rows: str | None = None  # adapter hook selecting the papers' rows ("paper_rows")


@dataclass(frozen=True)
class Experiment:
    """One protocol run on one dataset (one outer split scheme, one inner CV, one candidate set)."""

    name: str
    dataset: str
    outer: str
    inner: str  # "random" or "grouped"
    inner_folds: int
    candidates: tuple[Candidate, ...]
    protocol: str  # format string, see the YAML file's header
    targets: tuple[str, ...] = TARGETS
    repeats: int = 1
    folds: int = 5


@dataclass(frozen=True)
class Anchor:
    """One number of the protocol file (``value`` ``None``: an extra row beside them)."""

    experiment: str
    target: str
    metric: str
    value: float | None
    label: str  # the citation's label (or the extra row's)
    citation: Citation | None = None
    why_not: str = ""  # honest reason, reported when the number is not beaten
    protocol_suffix: str = ""  # appended to the experiment's protocol text


@dataclass(frozen=True)
class Protocols:
    """The parsed protocol file."""

    datasets: dict[str, Dataset]
    experiments: dict[str, Experiment]
    anchors: tuple[Anchor, ...]
    blends: bool = True
    inner_trees: int | None = 100


def _mapping(doc: Any, where: str) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise ConfigError(f"{where} must be a mapping")
    return doc


def _need(doc: dict[str, Any], key: str, where: str) -> Any:
    if key not in doc or doc[key] is None:
        raise ConfigError(f"{where}: missing required key {key!r}")
    return doc[key]


def _one_of(value: Any, allowed: Sequence[str], where: str) -> str:
    if value not in allowed:
        raise ConfigError(f"{where}: {value!r} is not one of {', '.join(allowed)}")
    return str(value)


def _positive_int(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ConfigError(f"{where} must be a positive integer, got {value!r}")
    return value


def parse_protocols(doc: Any, where: str = PROTOCOLS_FILE) -> Protocols:
    """Validate the parsed protocol document; every error names the key."""
    doc = _mapping(doc, where)
    sel = _mapping(doc.get("selection") or {}, f"{where}: selection")
    trees = sel.get("inner_trees", 100)
    if trees is not None:
        trees = _positive_int(trees, f"{where}: selection.inner_trees")

    sets: dict[str, tuple[Candidate, ...]] = {}
    for name, items in _mapping(
        _need(doc, "candidate_sets", where), f"{where}: candidate_sets"
    ).items():
        if not isinstance(items, list) or not items:
            raise ConfigError(f"{where}: candidate_sets.{name} must be a non-empty list")
        try:
            sets[name] = tuple(Candidate.parse(c) for c in items)
        except ConfigError as exc:
            raise ConfigError(f"{where}: candidate_sets.{name}: {exc}") from None

    datasets: dict[str, Dataset] = {}
    for sid, d in _mapping(_need(doc, "datasets", where), f"{where}: datasets").items():
        here = f"{where}: datasets.{sid}"
        d = _mapping(d, here)
        views = tuple(_one_of(v, VIEWS, f"{here}.views") for v in _need(d, "views", here))
        rows = d.get("rows")
        if rows is not None:
            rows = _one_of(rows, ("paper_rows",), f"{here}.rows")
        datasets[sid] = Dataset(sid, views, str(d.get("features") or ""), rows)

    experiments: dict[str, Experiment] = {}
    for name, e in _mapping(_need(doc, "experiments", where), f"{where}: experiments").items():
        here = f"{where}: experiments.{name}"
        e = _mapping(e, here)
        dataset = str(_need(e, "dataset", here))
        if dataset not in datasets:
            raise ConfigError(f"{here}.dataset: {dataset!r} is not under datasets")
        cset = _one_of(_need(e, "candidates", here), tuple(sets), f"{here}.candidates")
        for c in sets[cset]:
            if c.view not in datasets[dataset].views:
                raise ConfigError(f"{here}: candidate {c.name} needs view {c.view!r}, which "
                                  f"datasets.{dataset}.views does not build")  # fmt: skip
        targets = tuple(_one_of(t, TARGETS, f"{here}.targets") for t in e.get("targets", TARGETS))
        experiments[name] = Experiment(
            name=name,
            dataset=dataset,
            outer=_one_of(_need(e, "outer", here), OUTER_SPLITS, f"{here}.outer"),
            inner=_one_of(_need(e, "inner", here), ("random", "grouped"), f"{here}.inner"),
            inner_folds=_positive_int(_need(e, "inner_folds", here), f"{here}.inner_folds"),
            candidates=sets[cset],
            protocol=str(_need(e, "protocol", here)),
            targets=targets,
            repeats=_positive_int(e.get("repeats", 1), f"{here}.repeats"),
            folds=_positive_int(e.get("folds", 5), f"{here}.folds"),
        )

    citations: dict[str, Citation] = {}
    for key, c in _mapping(_need(doc, "citations", where), f"{where}: citations").items():
        here = f"{where}: citations.{key}"
        c = _mapping(c, here)
        citations[key] = Citation(
            *(str(_need(c, k, here)).strip() for k in ("label", "reference", "where"))
        )
    reasons = {
        k: str(v).strip()
        for k, v in _mapping(doc.get("reasons") or {}, f"{where}: reasons").items()
    }

    anchors: list[Anchor] = []
    items = _need(doc, "anchors", where)
    if not isinstance(items, list):
        raise ConfigError(f"{where}: anchors must be a list")
    for i, a in enumerate(items):
        here = f"{where}: anchors[{i}]"
        a = _mapping(a, here)
        exp = str(_need(a, "experiment", here))
        if exp not in experiments:
            raise ConfigError(f"{here}.experiment: {exp!r} is not under experiments")
        target = _one_of(_need(a, "target", here), experiments[exp].targets, f"{here}.target")
        metric = _one_of(_need(a, "metric", here), METRICS, f"{here}.metric")
        value = a.get("value")
        if value is not None and (
            not isinstance(value, int | float)
            or isinstance(value, bool)
            or not math.isfinite(value)
        ):
            raise ConfigError(f"{here}.value must be a finite number or null, got {value!r}")
        if value is None:
            citation, label = None, str(_need(a, "label", here))
        else:
            key = _one_of(_need(a, "citation", here), tuple(citations), f"{here}.citation")
            citation = citations[key]
            label = citation.label
        why = a.get("why_not")
        if why is not None:
            why = reasons[_one_of(why, tuple(reasons), f"{here}.why_not")]
        anchors.append(
            Anchor(
                experiment=exp,
                target=target,
                metric=metric,
                value=None if value is None else float(value),
                label=label,
                citation=citation,
                why_not=why or "",
                protocol_suffix=str(a.get("protocol_suffix") or ""),
            )
        )
    return Protocols(datasets, experiments, tuple(anchors), bool(sel.get("blends", True)), trees)


def load_protocols(path: str | Path | None = None) -> Protocols:
    """Read the protocol file (default: the one shipped with the package)."""
    if path is None:
        text = (resources.files("alloyml.evaluation") / PROTOCOLS_FILE).read_text("utf-8")
        where = PROTOCOLS_FILE
    else:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"paper protocol file {p} not found")
        text, where = p.read_text(encoding="utf-8"), str(p)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML ({exc})") from None
    return parse_protocols(doc, where)


# -- run configuration ------------------------------------------------------------------------


@dataclass(frozen=True)
class RunConfig:
    """Knobs of :func:`run_paper_protocols` that are not protocol (defaults = the DVC stage).

    Attributes:
        seed: ``base.seed``; outer split ``i`` of a repeated hold-out uses ``seed + i``.
        preset: ``featurize.preset``.
        decimals: ``clean.composition_decimals`` (the composition key of the groups).
        n_jobs: parallel fits (processes; each inner-CV fit is single-threaded).
        experiments: which experiments to run (keys of the protocol file); ``None`` = all.
        candidates: replaces every experiment's candidate set (quick or test runs); ``None``:
            the protocol file's sets.
    """

    seed: int = 42
    preset: str = "alloy_v1"
    decimals: int = 2
    n_jobs: int = 2
    experiments: tuple[str, ...] | None = None
    candidates: tuple[Candidate, ...] | None = None


# -- data, groups, views ----------------------------------------------------------------------


def load_source(interim_dir: str | Path, system: str, source_id: str) -> pd.DataFrame:
    """The interim canonical table of one source (every source row, before clean/dedup)."""
    path = Path(interim_dir) / system / f"{source_id}.parquet"
    if not path.is_file():
        raise AlloyMLError(
            f"interim table {path} not found; run `dvc repro ingest@{source_id}` first"
        )
    return pd.read_parquet(path).reset_index(drop=True)


def composition_groups(frame: pd.DataFrame, decimals: int = 2) -> np.ndarray:
    """One integer id per distinct :func:`~alloyml.curation.clean.composition_key` (process ignored)."""
    if not any(e in frame.columns for e in ELEMENTS):
        raise SchemaError("no element columns: cannot group by composition")
    wt = frame.reindex(columns=list(ELEMENTS)).apply(pd.to_numeric, errors="coerce")
    return pd.factorize(composition_key(wt, decimals))[0].astype(int)


def paper_categories(frame: pd.DataFrame, adapter: Any) -> pd.DataFrame:
    """The adapter's ``paper_categories`` (none when it has no such hook), constant and
    duplicate columns dropped. Only the category vocabulary of the whole table is used (never a
    target), so building it on train + test together leaks nothing."""
    hook = getattr(adapter, "paper_categories", None)
    if hook is None:
        return pd.DataFrame(index=frame.index)
    out = hook(frame)
    out = out.loc[:, out.nunique() > 1]
    return out.loc[:, ~out.T.duplicated().to_numpy()]


def feature_views(
    frame: pd.DataFrame, adapter: Any, preset: str, views: Sequence[str] = ("full", "lean")
) -> dict[str, np.ndarray]:
    """Feature matrices offered to the inner CV, by view name (constant columns dropped)."""
    feats = featurize(frame, preset)
    feats = feats.loc[:, feats.nunique() > 1]
    cats = paper_categories(frame, adapter)
    out: dict[str, np.ndarray] = {}
    for view in views:
        if view == "full":
            out[view] = pd.concat([feats, cats], axis=1).to_numpy(dtype=float)
        elif view == "lean":
            lean = [c for c in feats.columns if c.startswith(("wt_pct_", "proc_"))]
            out[view] = pd.concat([feats[lean], cats], axis=1).to_numpy(dtype=float)
        elif view == "raw":
            out[view] = _hook(adapter, "paper_features")(frame).to_numpy(dtype=float)
        else:
            raise ConfigError(f"unknown feature view {view!r}; known {', '.join(VIEWS)}")
    return out


def _hook(adapter: Any, name: str) -> Any:
    fn = getattr(adapter, name, None)
    if fn is None:
        raise ConfigError(f"adapter {adapter.__name__} has no {name}() for this paper protocol")
    return fn


@dataclass
class PaperTable:
    """One source's rows as its papers used them, with their feature views and groups."""

    label: str  # "<system>/<source id>"
    frame: pd.DataFrame
    adapter: Any
    views: dict[str, np.ndarray]
    groups: np.ndarray


def load_table(
    interim_dir: str | Path, spec: SourceSpec, dataset: Dataset, cfg: RunConfig
) -> PaperTable:
    """Read a source's interim table and build what its experiments share."""
    adapter = adapter_module(spec.adapter)
    frame = load_source(interim_dir, spec.system, spec.id)
    if dataset.rows is not None:
        frame = _hook(adapter, dataset.rows)(frame).reset_index(drop=True)
    return PaperTable(
        label=f"{spec.system}/{spec.id}",
        frame=frame,
        adapter=adapter,
        views=feature_views(frame, adapter, cfg.preset, dataset.views),
        groups=composition_groups(frame, cfg.decimals),
    )


# -- honest model selection -------------------------------------------------------------------


@dataclass
class Choice:
    """What the inner CV chose on one training part."""

    members: tuple[Candidate, ...]
    inner_mse: float
    scores: dict[str, float] = field(default_factory=dict)
    inner_metrics: dict[str, float] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return "+".join(m.name for m in self.members)


def _fit_predict(
    cand: Candidate,
    views: dict[str, np.ndarray],
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    seed: int,
    n_jobs: int,
) -> np.ndarray:
    """Fit ``cand`` on ``train`` rows and predict ``test`` rows (training's fit-and-predict)."""
    if cand.view not in views:
        raise AlloyMLError(f"candidate {cand.name}: no feature view {cand.view!r} ({list(views)})")
    # XGBoost's OpenMP threads slow down ~10x when the 2 cores are shared with another
    # process (e.g. a concurrent stage); one thread is robust. sklearn ensembles use n_jobs.
    cfg = TrainConfig(seed=seed, n_jobs=1 if cand.family == "xgb" else n_jobs)
    with warnings.catch_warnings():  # GP kernel bounds on tiny folds: noise, not an error
        warnings.simplefilter("ignore", ConvergenceWarning)
        _, pred = oof_predictions(
            cand.family, dict(cand.overrides), views[cand.view], y, [(train, test)], cfg
        )
    return np.asarray(pred, dtype=float)


def inner_splits(n: int, k: int, seed: int, groups: np.ndarray | None = None) -> Splits:
    """Inner CV folds over ``n`` training rows (grouped when ``groups`` is given)."""
    if groups is not None:
        return grouped_splits(groups, k, seed)
    return random_splits(n, k, 1, seed)


def _inner(cand: Candidate, trees: int | None) -> Candidate:
    if trees is None or cand.family not in ("rf", "et"):
        return cand
    return replace(cand, overrides=(*cand.overrides, ("n_estimators", trees)))


def select_model(
    views: dict[str, np.ndarray],
    y: np.ndarray,
    train: np.ndarray,
    candidates: Sequence[Candidate],
    k: int,
    seed: int,
    *,
    n_jobs: int = 1,
    groups: np.ndarray | None = None,
    blends: bool = True,
    inner_trees: int | None = None,
) -> Choice:
    """Choose among ``candidates`` (and pairwise means) by inner CV on ``train`` rows only.

    The criterion is the pooled out-of-fold mean squared error; ties go to the earlier
    candidate. ``groups`` (per row of ``y``) makes the inner folds grouped. ``inner_trees`` sets
    ``n_estimators`` of RF/ET candidates during this inner CV only.
    """
    train = np.asarray(train)
    if len(candidates) == 1:
        return Choice(members=(candidates[0],), inner_mse=float("nan"))
    g = None if groups is None else np.asarray(groups)[train]
    folds = inner_splits(len(train), k, seed, g)
    jobs = [(j, ite, _inner(cand, inner_trees), train[itr], train[ite])
            for j, cand in enumerate(candidates) for itr, ite in folds]  # fmt: skip
    # one single-threaded fit per task, ``n_jobs`` processes: scales on both cores for every
    # family (XGBoost threads included) and is robust to a concurrent stage
    preds = Parallel(n_jobs=n_jobs)(
        delayed(_fit_predict)(cand, views, y, tr, te, seed, 1) for _, _, cand, tr, te in jobs
    )
    oof = np.zeros((len(train), len(candidates)))
    for (j, ite, *_), pred in zip(jobs, preds, strict=True):
        oof[ite, j] = pred
    yt = y[train]
    options: list[tuple[tuple[int, ...], np.ndarray]] = [
        ((j,), oof[:, j]) for j in range(oof.shape[1])
    ]
    if blends:
        for a, b in itertools.combinations(range(len(candidates)), 2):
            options.append(((a, b), 0.5 * (oof[:, a] + oof[:, b])))
    scores = {
        "+".join(candidates[j].name for j in idx): float(np.mean((pred - yt) ** 2))
        for idx, pred in options
    }
    best_idx, best_pred = min(options, key=lambda o: float(np.mean((o[1] - yt) ** 2)))
    return Choice(
        members=tuple(candidates[j] for j in best_idx),
        inner_mse=float(np.mean((best_pred - yt) ** 2)),
        scores=scores,
        inner_metrics=regression_metrics(yt, best_pred),
    )


def fit_predict_choice(
    choice: Choice,
    views: dict[str, np.ndarray],
    y: np.ndarray,
    train: np.ndarray,
    test: np.ndarray,
    seed: int,
    n_jobs: int = 1,
) -> np.ndarray:
    """Refit the chosen member(s) on all of ``train`` and predict ``test`` (mean of members)."""
    if len(choice.members) == 1:
        return _fit_predict(choice.members[0], views, y, train, test, seed, n_jobs)
    preds = Parallel(n_jobs=min(n_jobs, len(choice.members)))(
        delayed(_fit_predict)(m, views, y, train, test, seed, 1) for m in choice.members
    )
    return np.mean(preds, axis=0)


@dataclass
class ProtocolResult:
    """Scores of one (experiment, target): metrics per outer split and the models chosen."""

    per_split: list[dict[str, float]]
    chosen: list[str]
    n_train: list[int]
    n_test: list[int]
    inner: list[dict[str, float]] = field(default_factory=list)  # inner-CV scores of the choice

    def mean(self, metric: str) -> float:
        vals = [s[metric] for s in self.per_split if math.isfinite(s[metric])]
        return float(np.mean(vals)) if vals else float("nan")

    def sd(self, metric: str) -> float:
        vals = [s[metric] for s in self.per_split if math.isfinite(s[metric])]
        return float(np.std(vals, ddof=1)) if len(vals) > 1 else float("nan")

    def inner_mean(self, metric: str) -> float:
        vals = [s[metric] for s in self.inner if math.isfinite(s.get(metric, float("nan")))]
        return float(np.mean(vals)) if vals else float("nan")

    def model_summary(self) -> str:
        """The chosen model(s): ``name`` for one split, else ``name xN, ...`` by frequency."""
        counts = Counter(self.chosen)
        if len(self.chosen) == 1:
            return self.chosen[0]
        return ", ".join(f"{name} x{c}" for name, c in counts.most_common())


def evaluate_protocol(
    views: dict[str, np.ndarray],
    y: np.ndarray,
    splits: Splits,
    candidates: Sequence[Candidate],
    inner_folds: int,
    seed: int,
    *,
    n_jobs: int = 1,
    groups: np.ndarray | None = None,
    blends: bool = True,
    inner_trees: int | None = None,
) -> ProtocolResult:
    """Outer splits: choose by inner CV on the training part, refit, score the test part."""
    res = ProtocolResult([], [], [], [])
    for tr, te in splits:
        choice = select_model(
            views, y, tr, candidates, inner_folds, seed,
            n_jobs=n_jobs, groups=groups, blends=blends, inner_trees=inner_trees,
        )  # fmt: skip
        pred = fit_predict_choice(choice, views, y, tr, te, seed, n_jobs)
        res.per_split.append(regression_metrics(y[te], pred))
        res.chosen.append(choice.name)
        res.n_train.append(len(tr))
        res.n_test.append(len(te))
        res.inner.append(choice.inner_metrics)
    return res


# -- the one runner ---------------------------------------------------------------------------


@dataclass
class ExperimentResult:
    """One experiment run: its protocol text, its dataset label and the scores per target."""

    protocol: str
    dataset: str
    by_target: dict[str, ProtocolResult]


def outer_splits(
    exp: Experiment, table: PaperTable, rows: np.ndarray, groups: np.ndarray, seed: int
) -> Splits:
    """The experiment's outer splits over ``rows`` (positions in the table; ``groups`` per row)."""
    n = len(rows)
    if exp.outer == "holdout":
        return holdout_splits(n, exp.repeats, seed)
    if exp.outer == "grouped_holdout":
        return grouped_holdout_splits(groups, exp.repeats, seed)
    if exp.outer == "kfold":
        return random_splits(n, exp.folds, 1, seed)
    if exp.outer == "group_kfold":
        return grouped_splits(groups, exp.folds, seed)
    train, test = _hook(table.adapter, "paper_split")(table.frame)
    return [(np.flatnonzero(np.isin(rows, train)), np.flatnonzero(np.isin(rows, test)))]


def protocol_text(exp: Experiment, dataset: Dataset, table: PaperTable, cfg: RunConfig) -> str:
    """The experiment's protocol format string filled in (fields: see the YAML file's header)."""
    n_train = n_test = 0
    if exp.outer == "paper_split":
        train, test = _hook(table.adapter, "paper_split")(table.frame)
        n_train, n_test = len(train), len(test)
    ctx: dict[str, Any] = {
        "preset": cfg.preset,
        "decimals": cfg.decimals,
        "n_rows": len(table.frame),
        "n_with": {t: len(_has(table.frame, t)) for t in TARGETS},
        "n_train": n_train,
        "n_test": n_test,
        "repeats": exp.repeats,
        "last_repeat": exp.repeats - 1,
        "folds": exp.folds,
        "inner_folds": exp.inner_folds,
    }
    try:
        ctx["features"] = dataset.features.format(**ctx)
        return exp.protocol.format(**ctx)
    except (KeyError, IndexError, AttributeError) as exc:
        raise ConfigError(f"experiments.{exp.name}.protocol: unknown field {exc}") from None


def _has(frame: pd.DataFrame, target: str) -> np.ndarray:
    return np.flatnonzero(pd.to_numeric(frame[target], errors="coerce").notna().to_numpy())


def run_experiment(
    exp: Experiment, table: PaperTable, cfg: RunConfig, protocols: Protocols
) -> ExperimentResult:
    """Every target of one experiment (rows with the target)."""
    candidates = cfg.candidates or exp.candidates
    by_target: dict[str, ProtocolResult] = {}
    for t in exp.targets:
        rows = _has(table.frame, t)
        y = table.frame[t].to_numpy(dtype=float)[rows]
        views = {k: v[rows] for k, v in table.views.items()}
        groups = table.groups[rows]
        by_target[t] = evaluate_protocol(
            views, y, outer_splits(exp, table, rows, groups, cfg.seed), candidates,
            exp.inner_folds, cfg.seed, n_jobs=cfg.n_jobs,
            groups=groups if exp.inner == "grouped" else None,
            blends=protocols.blends, inner_trees=protocols.inner_trees,
        )  # fmt: skip
        res = by_target[t]
        log.info("%s %s: R2 %.3f (%s)", exp.name, t, res.mean("r2"), res.model_summary())
    text = protocol_text(exp, protocols.datasets[exp.dataset], table, cfg)
    return ExperimentResult(text, table.label, by_target)


def run_paper_protocols(
    interim_dir: str | Path,
    sources: Mapping[str, SourceSpec],
    config: RunConfig | None = None,
    protocols: Protocols | None = None,
) -> list[dict[str, Any]]:
    """Run the experiments of the protocol file on the interim tables; return the records.

    Args:
        sources: the source registry (``data/sources.yaml``): each dataset's system and adapter.
    """
    cfg = config or RunConfig()
    proto = protocols or load_protocols()
    wanted = cfg.experiments or tuple(proto.experiments)
    unknown = [e for e in wanted if e not in proto.experiments]
    if unknown:
        raise AlloyMLError(
            f"unknown paper-protocol experiments {unknown}; known {list(proto.experiments)}"
        )
    tables: dict[str, PaperTable] = {}
    results: dict[str, ExperimentResult] = {}
    for name in wanted:
        exp = proto.experiments[name]
        if exp.dataset not in tables:
            if exp.dataset not in sources:
                raise AlloyMLError(f"source {exp.dataset!r} is not in the source registry")
            tables[exp.dataset] = load_table(
                interim_dir, sources[exp.dataset], proto.datasets[exp.dataset], cfg
            )
        t0 = time.perf_counter()
        results[name] = run_experiment(exp, tables[exp.dataset], cfg, proto)
        log.info("%s done in %.1f s", name, time.perf_counter() - t0)
    records = make_records(results, proto.anchors)
    validate_records(records)
    return records


# -- records ----------------------------------------------------------------------------------


def beaten(record: dict[str, Any]) -> bool | None:
    """Whether ``value`` beats ``anchor_value`` (``None`` when there is no anchor or no value)."""
    a, v = record.get("anchor_value"), record.get("value")
    if a is None or v is None or not math.isfinite(v):
        return None
    return v > a if record["higher_is_better"] else v < a


def _fmt(x: float) -> str:
    return "nan" if not math.isfinite(x) else f"{x:.4g}"


def make_records(
    results: Mapping[str, ExperimentResult], anchors: Sequence[Anchor]
) -> list[dict[str, Any]]:
    """One record per number whose experiment and target were run, in the file's order."""
    out: list[dict[str, Any]] = []
    for a in anchors:
        run = results.get(a.experiment)
        if run is None or a.target not in run.by_target:
            continue
        res = run.by_target[a.target]
        value = res.mean(a.metric)
        n_splits = len(res.per_split)
        parts = [f"anchor: {a.label}"]
        if n_splits > 1:
            parts.append(
                f"mean of {n_splits} splits, sd {_fmt(res.sd(a.metric))}, "
                f"range {_fmt(min(s[a.metric] for s in res.per_split))}.."
                f"{_fmt(max(s[a.metric] for s in res.per_split))}"
            )
        inner = res.inner_mean(a.metric)
        if math.isfinite(inner):
            parts.append(f"inner-CV estimate on the training part(s): {_fmt(inner)}")
        parts.append(f"n_test {int(np.mean(res.n_test))}, n_train {int(np.mean(res.n_train))}")
        rec: dict[str, Any] = {
            "dataset": run.dataset,
            "protocol": run.protocol + a.protocol_suffix,
            "target": a.target,
            "metric": a.metric,
            "value": round(value, 4) if math.isfinite(value) else None,
            "anchor_value": a.value,
            "higher_is_better": HIGHER_IS_BETTER[a.metric],
            "model": res.model_summary(),
        }
        if beaten(rec) is False:
            parts.insert(0, "NOT BEATEN: " + (a.why_not or "no explanation recorded"))
        rec["note"] = "; ".join(parts)
        out.append({k: rec[k] for k in RECORD_KEYS})
    return out


def validate_records(records: Sequence[dict[str, Any]]) -> None:
    """Raise :class:`AlloyMLError` unless every record has the output schema."""
    for i, r in enumerate(records):
        missing = [k for k in RECORD_KEYS[:7] if k not in r]
        if missing:
            raise AlloyMLError(f"paper-protocol record {i} lacks {missing}")
        if r["metric"] not in METRICS:
            raise AlloyMLError(f"paper-protocol record {i}: unknown metric {r['metric']!r}")
        if r["higher_is_better"] is not HIGHER_IS_BETTER[r["metric"]]:
            raise AlloyMLError(
                f"paper-protocol record {i}: higher_is_better wrong for {r['metric']}"
            )
        for k in ("value", "anchor_value"):
            v = r[k]
            if v is not None and not (isinstance(v, int | float) and math.isfinite(v)):
                raise AlloyMLError(
                    f"paper-protocol record {i}: {k} must be a finite number or null"
                )


def summary_lines(records: Sequence[dict[str, Any]]) -> list[str]:
    """Human-readable comparison table (for logs), one line per record, then the tally."""
    lines = [
        f"{'dataset':22} {'experiment':34} {'tgt':4} {'metric':5} {'ours':>9} {'paper':>9}  beaten"
    ]
    n_beat = n_total = 0
    for r in records:
        b = beaten(r)
        mark = "-" if b is None else ("yes" if b else "NO")
        if b is not None:
            n_total += 1
            n_beat += int(b)
        short = r["protocol"].split(";")[0][:34]
        anchor = "" if r["anchor_value"] is None else f"{r['anchor_value']:.4g}"
        value = "nan" if r["value"] is None else f"{r['value']:.4g}"
        lines.append(
            f"{r['dataset']:22} {short:34} {TARGET_LABEL.get(r['target'], r['target']):4} "
            f"{r['metric']:5} {value:>9} {anchor:>9}  {mark}"
        )
    lines.append(f"beaten {n_beat} of {n_total} paper numbers")
    return lines


def write_records(records: Sequence[dict[str, Any]], path: str | Path) -> None:
    """Write the records as a JSON list."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(list(records), indent=2) + "\n", encoding="utf-8")
