"""Reproduce the accuracy table of ``ANCHORS.md``: every row under that row's own protocol.

Each published (or measured) number is compared with ours on the same source's rows as its
authors used them, read from the *interim* per-source tables (``data/interim/<system>/<source>``,
every source row as its adapter mapped it, before the cross-source clean/dedup step):

==========================  ==========================================================  ===========
dataset                     protocol                                                    inner CV
==========================  ==========================================================  ===========
al/anu_al_1154              random 80/20 hold-out, rows as published (duplicates in),   random
                            mean of ``anu_repeats`` seeds; grouped 80/20 beside it
al/hu_uq_wrought_al         train on named alloys, test on the 286 ``Unspecified``      grouped
                            rows of Sheet1; EL also over ``hu_el_splits`` random 80/20   random
al/a357_lpdc                the authors' fixed 215/50 split                             random (5)
mg/ghorbani_m916            5-fold random CV and 5-fold GroupKFold by composition       as outer
==========================  ==========================================================  ===========

Model choice is honest: in every outer split the model is chosen among a small fixed candidate
list (model family x feature view, plus the mean of any two candidates) by inner cross-validation
on the training part only (pooled out-of-fold mean squared error), then refitted on the whole
training part and scored once on the test part. The test part never influences a choice.
Grouped protocols use grouped inner folds; the named -> ``Unspecified`` protocol (new alloys)
uses grouped inner folds too, because that is what the test asks.

Features: :func:`alloyml.features.featurize` of the canonical rows (composition + physics +
process) plus the source's own process categories, one-hot, when the papers used them and the
preset does not carry them (ANU ``Processing`` class, Hu's categorical process columns and temper,
M-916 ``Coded``). Two views are offered to the inner CV: ``full`` (the preset's features + the
source categories) and ``lean`` (wt % + process features + the source categories, no Magpie or
physics descriptors). A357 offers ``raw`` (the five measured wt % columns) and ``full``.

Composition groups: wt % of every element rounded to :data:`COMPOSITION_DECIMALS` decimals
(the ``clean.composition_decimals`` default), process ignored: a grouped test composition is
never seen in training under any process.

Output (:func:`run_anchors`): a list of records ``{dataset, protocol, target, metric, value,
anchor_value, higher_is_better, model, note}``; ``anchor_value`` is ``None`` for the extra rows
reported beside the anchors (the grouped ANU split). :func:`summary_lines` renders the comparison.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GroupKFold, GroupShuffleSplit, KFold, train_test_split

from alloyml.errors import AlloyMLError, SchemaError
from alloyml.features import featurize
from alloyml.modeling.models import make_estimator
from alloyml.modeling.validation import Splits, grouped_splits, random_splits, regression_metrics
from alloyml.schema import ELEMENTS

log = logging.getLogger("alloyml.anchors")

#: Decimals of the wt % composition key used for grouping (``clean.composition_decimals``).
COMPOSITION_DECIMALS = 2

#: Source row numbers at or above this come from extra sheets (Hu: ``Loop I``/``Loop II``).
HU_SHEET1_MAX_ROW = 10_000
HU_UNSPECIFIED = "Unspecified"

TARGET_LABEL = {"ys_mpa": "YS", "uts_mpa": "UTS", "elong_pct": "EL"}
METRICS: tuple[str, ...] = ("r2", "mae", "rmse", "mape")
HIGHER_IS_BETTER = {"r2": True, "mae": False, "rmse": False, "mape": False}

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


# -- configuration ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One model the inner CV may choose: a :func:`make_estimator` family on a feature view."""

    family: str
    view: str
    overrides: tuple[tuple[str, Any], ...] = ()

    @property
    def name(self) -> str:
        return f"{self.family}[{self.view}]"


@dataclass(frozen=True)
class RunConfig:
    """Knobs of :func:`run_anchors` (defaults = the DVC stage).

    Attributes:
        seed: ``base.seed``; outer split ``i`` of a repeated protocol uses ``seed + i``.
        preset: ``featurize.preset``.
        n_jobs: parallel fits (processes; each inner-CV fit is single-threaded).
        anu_repeats: seeds of the ANU 80/20 hold-out (random and grouped).
        hu_el_splits: random 80/20 splits of the Hu EL protocol (the anchor used 100; 10 keep
            the stage under ~8 min: the standard error of the mean R2 is then ~0.01).
        folds: outer folds of the M-916 CV.
        inner_folds: inner CV folds (A357 uses ``a357_inner_folds``).
        a357_inner_folds: inner CV folds on the 215 A357 training rows.
        candidates: (family, view) pairs offered on ANU, Hu and M-916.
        a357_candidates: pairs offered on A357 (small data: linear and GP too; GP on the five
            raw wt % columns only, where a single length scale makes sense).
        blends: also offer the mean of any two candidates.
        inner_trees: trees of RF/ET during the inner CV only (``None``: the family default);
            the chosen model is refitted with the default (200). Fewer trees add variance but
            not bias to a forest, so the ranking is kept at about half the cost.
        datasets: which dataset runners to run (keys of :data:`RUNNERS`); ``None`` = all.
    """

    seed: int = 42
    preset: str = "alloy_v1"
    n_jobs: int = 2
    anu_repeats: int = 5
    hu_el_splits: int = 10
    folds: int = 5
    inner_folds: int = 3
    a357_inner_folds: int = 5
    candidates: tuple[Candidate, ...] = (
        Candidate("xgb", "lean"),
        Candidate("xgb", "full"),
        Candidate("et", "lean"),
        Candidate("et", "full"),
        Candidate("rf", "lean"),
        Candidate("rf", "full"),
    )
    a357_candidates: tuple[Candidate, ...] = (
        Candidate("ridge", "raw"),
        Candidate("gp", "raw"),
        Candidate("rf", "raw"),
        Candidate("et", "raw"),
        Candidate("xgb", "raw"),
        Candidate("ridge", "full"),
        Candidate("rf", "full"),
        Candidate("et", "full"),
        Candidate("xgb", "full"),
    )
    blends: bool = True
    inner_trees: int | None = 100
    datasets: tuple[str, ...] | None = None


# -- the anchors ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Anchor:
    """One number of the ANCHORS.md accuracy table (or an extra row with ``value=None``)."""

    experiment: str  # key into the experiment results (dataset/protocol run)
    target: str
    metric: str
    value: float | None
    source: str
    why_not: str = ""  # honest reason, reported when the anchor is not beaten
    protocol_suffix: str = ""  # appended to the experiment's protocol text


# Anchor values carry the precision of their source (SOURCE.md), not the rounded ANCHORS.md table:
# comparing against 0.58 when the source says 0.584 would flatter us.
KOLEV = "Kolev et al. (abstract): Bayesian-tuned XGBoost, held-out split not stated"
IEOM = (
    "IEOM proceedings (abstract): XGBoost, held-out test, on a '1145 sample' copy of the data "
    "(ours has the 1154 rows as published)"
)
HU_RF = "model_metrics.xlsx of a public copy (haitaobu18/pythonProject3): RF 500 trees"
SOOFI = "Soofi/Gu/Liu notebook: default RF, 100 random 80/20 splits, 930-row version"
ANFIS = (
    "metrics of the authors' ANFIS test predictions (a357_test_with_anfis_predictions.xlsx), "
    "recomputed"
)
M916_RF = "measured here: RF 300 trees, 31 wt% + one-hot Coded, mean of 3 seeds"
M916_PAPER = "Ghorbani et al. Part B abstract: 'accuracies of ~80 % and 70 %', metric unstated"

_SPLIT_NOISE = (
    "the shortfall is within the split-to-split spread of this protocol (see sd); the anchor's "
    "split is not published, so a single favourable split cannot be ruled out"
)

ANCHORS: tuple[Anchor, ...] = (
    Anchor("anu_random", "ys_mpa", "r2", 0.9392, KOLEV, _SPLIT_NOISE),
    Anchor("anu_random", "uts_mpa", "r2", 0.9491, KOLEV, _SPLIT_NOISE),
    Anchor("anu_random", "elong_pct", "r2", 0.6767, KOLEV, _SPLIT_NOISE),
    Anchor("anu_random", "uts_mpa", "r2", 0.9416, IEOM, _SPLIT_NOISE),
    Anchor("anu_random", "uts_mpa", "rmse", 37.3, IEOM, _SPLIT_NOISE),
    *(
        Anchor("anu_grouped", t, m, None, "extra row: the honest grouped protocol, no anchor")
        for t in ("ys_mpa", "uts_mpa", "elong_pct")
        for m in ("r2", "rmse")
    ),
    Anchor(
        "hu_named_to_unspecified",
        "ys_mpa",
        "r2",
        0.584,
        HU_RF,
        "the 'Unspecified' rows are novel experimental alloys outside the named-alloy training "
        "domain: an extrapolation test",
    ),
    Anchor("hu_named_to_unspecified", "ys_mpa", "mae", 91.4, HU_RF),
    Anchor("hu_named_to_unspecified", "uts_mpa", "r2", 0.541, HU_RF),
    Anchor("hu_named_to_unspecified", "uts_mpa", "mae", 104.0, HU_RF),
    Anchor(
        "hu_named_to_unspecified",
        "elong_pct",
        "r2",
        -1.24,
        HU_RF,
        "elongation of novel alloys is barely predictable from named-alloy data: every model "
        "is worse than the test-set mean (R2 < 0)",
    ),
    Anchor("hu_named_to_unspecified", "elong_pct", "mae", 8.53, HU_RF),
    Anchor(
        "hu_el_random",
        "elong_pct",
        "r2",
        0.533,
        SOOFI,
        "different data: the anchor used the earlier 930-row version (783 rows with EL)",
    ),
    Anchor(
        "hu_el_random",
        "elong_pct",
        "mae",
        3.85,
        SOOFI,
        "different data: the anchor used the earlier 930-row version (783 rows with EL)",
    ),
    Anchor("a357_fixed", "ys_mpa", "r2", 0.242, ANFIS),
    Anchor("a357_fixed", "ys_mpa", "mae", 20.46, ANFIS),
    Anchor("a357_fixed", "ys_mpa", "mape", 8.26, ANFIS),
    Anchor("a357_fixed", "uts_mpa", "r2", 0.175, ANFIS),
    Anchor("a357_fixed", "uts_mpa", "mae", 22.24, ANFIS),
    Anchor("a357_fixed", "uts_mpa", "mape", 8.19, ANFIS),
    Anchor("a357_fixed", "elong_pct", "r2", 0.634, ANFIS),
    Anchor(
        "a357_fixed",
        "elong_pct",
        "mae",
        0.252,
        ANFIS,
        "the ANFIS errors are small on most test castings and very large on a few (max 1.54 %, "
        "hence its lower R2); squared-error models chosen by CV trade that the other way. The "
        "50 test castings are harder than the training ones (compare the inner-CV estimate); "
        "choosing an MAE-optimal model by looking at the test set would not be honest",
    ),
    Anchor("m916_random", "ys_mpa", "r2", 0.684, M916_RF),
    Anchor("m916_random", "ys_mpa", "mae", 39.1, M916_RF),
    Anchor("m916_random", "uts_mpa", "r2", 0.729, M916_RF),
    Anchor("m916_random", "uts_mpa", "mae", 35.9, M916_RF),
    Anchor("m916_random", "elong_pct", "r2", 0.487, M916_RF),
    Anchor("m916_random", "elong_pct", "mae", 3.98, M916_RF),
    Anchor("m916_grouped", "ys_mpa", "r2", 0.613, M916_RF),
    Anchor("m916_grouped", "uts_mpa", "r2", 0.675, M916_RF),
    Anchor("m916_grouped", "elong_pct", "r2", 0.312, M916_RF),
    Anchor(
        "m916_random",
        "uts_mpa",
        "r2",
        0.80,
        M916_PAPER,
        "the paper's 'accuracy' metric and split are not stated (probably R2, possibly on its "
        "own hold-out set); compared here as R2 of our 5-fold random CV, which may not be the "
        "same quantity. Our features already include the atomic (Magpie) and thermodynamic "
        "(Miedema) descriptors of the augmentation the abstract describes",
        "; compared with the 'CV + hold-out' accuracy of the paper's abstract",
    ),
    Anchor(
        "m916_random",
        "elong_pct",
        "r2",
        0.70,
        M916_PAPER,
        "the paper's 'accuracy' metric and split are not stated (a neural network for "
        "ductility); compared here as R2 of our 5-fold random CV, which may not be the same "
        "quantity",
        "; compared with the 'CV + hold-out' accuracy of the paper's abstract",
    ),
)

DATASET_OF = {
    "anu": "al/anu_al_1154",
    "hu": "al/hu_uq_wrought_al",
    "a357": "al/a357_lpdc",
    "m916": "mg/ghorbani_m916",
}

#: (system, source id) of each dataset runner.
SOURCES = {
    "anu": ("al", "anu_al_1154"),
    "hu": ("al", "hu_uq_wrought_al"),
    "a357": ("al", "a357_lpdc"),
    "m916": ("mg", "ghorbani_m916"),
}


# -- data, groups and protocol splits ---------------------------------------------------------


def load_source(interim_dir: str | Path, system: str, source_id: str) -> pd.DataFrame:
    """The interim canonical table of one source (every source row, before clean/dedup)."""
    path = Path(interim_dir) / system / f"{source_id}.parquet"
    if not path.is_file():
        raise AlloyMLError(
            f"interim table {path} not found; run `dvc repro ingest@{source_id}` first"
        )
    return pd.read_parquet(path).reset_index(drop=True)


def composition_groups(frame: pd.DataFrame, decimals: int = COMPOSITION_DECIMALS) -> np.ndarray:
    """One integer id per distinct composition (every element's wt % rounded to ``decimals``)."""
    cols = [e for e in ELEMENTS if e in frame.columns]
    if not cols:
        raise SchemaError("no element columns: cannot group by composition")
    wt = frame[cols].apply(pd.to_numeric, errors="coerce").fillna(0.0).round(decimals) + 0.0
    keys = pd.MultiIndex.from_frame(wt)
    return pd.factorize(keys)[0].astype(int)


def holdout_splits(n: int, repeats: int, seed: int, test_size: float = 0.2) -> Splits:
    """``repeats`` random ``1 - test_size`` / ``test_size`` hold-out splits (seeds seed, seed+1..)."""
    idx = np.arange(n)
    out: Splits = []
    for r in range(repeats):
        tr, te = train_test_split(idx, test_size=test_size, random_state=seed + r)
        out.append((np.sort(tr), np.sort(te)))
    return out


def grouped_holdout_splits(
    groups: np.ndarray, repeats: int, seed: int, test_size: float = 0.2
) -> Splits:
    """Hold-out splits where ``test_size`` of the *groups* go to test (no group in both parts)."""
    groups = np.asarray(groups)
    out: Splits = []
    for r in range(repeats):
        gss = GroupShuffleSplit(n_splits=1, test_size=test_size, random_state=seed + r)
        tr, te = next(gss.split(np.zeros(len(groups)), groups=groups))
        out.append((np.sort(tr), np.sort(te)))
    return out


def hu_sheet1(frame: pd.DataFrame) -> pd.DataFrame:
    """The 1150 rows of Hu's ``Sheet1`` (drops the authors' own Loop I/II measurements)."""
    rows = pd.to_numeric(frame["source_row"], errors="coerce")
    return frame[rows < HU_SHEET1_MAX_ROW].reset_index(drop=True)


def hu_named_unspecified_split(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Row positions (of a Sheet1 frame): train = named alloys, test = ``Unspecified`` rows."""
    name = frame["alloy_name"].astype("string").str.strip()
    test = (name == HU_UNSPECIFIED).fillna(False).to_numpy(dtype=bool)
    return np.flatnonzero(~test), np.flatnonzero(test)


def fixed_source_split(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of the source's own ``source_split`` train / test rows."""
    split = frame["source_split"].astype("string").str.strip().str.lower()
    train = np.flatnonzero((split == "train").fillna(False).to_numpy(dtype=bool))
    test = np.flatnonzero((split == "test").fillna(False).to_numpy(dtype=bool))
    if len(train) == 0 or len(test) == 0:
        raise SchemaError("source_split has no 'train' or no 'test' rows")
    return train, test


# -- features ---------------------------------------------------------------------------------


def _onehot(values: pd.Series, prefix: str) -> pd.DataFrame:
    s = values.astype("string").str.strip().fillna("NA")
    return pd.get_dummies(s, prefix=prefix, prefix_sep="=", dtype=float)


def _split_process_code(code: pd.Series) -> pd.DataFrame:
    """Hu's ``process_code`` ``'Key=Value; Key=Value'`` into one column per key."""
    rows = []
    for text in code.astype("string").fillna(""):
        parts = [p.split("=", 1) for p in str(text).split(";") if "=" in p]
        rows.append({k.strip(): v.strip() for k, v in parts})
    return pd.DataFrame(rows, index=code.index)


def source_categories(frame: pd.DataFrame, source_id: str) -> pd.DataFrame:
    """One-hot of the source's own process categories that the preset does not carry.

    - ANU: the 10 ``Processing`` classes (``process_code``); ``temper_class`` maps them one to
      one except that both strain-hardened classes (``Strain Harderned (Hard)``, 197 rows, and
      ``Strain hardened``, 41) become ``H``;
    - Hu: the raw temper (``H14`` vs ``H18``), quench medium, product form and each categorical
      process column (``StrainHardeningMethod``, ``AgeingType``, ``TreatmentAfterward``...);
    - M-916: ``Coded`` (the integer before ``|`` in ``process_code``).

    Only the category vocabulary of the whole table is used (never a target), so building it on
    train + test together leaks nothing.
    """
    if source_id == "anu_al_1154":
        out = _onehot(frame["process_code"], "processing")
    elif source_id == "hu_uq_wrought_al":
        parts = _split_process_code(frame["process_code"])
        blocks = [
            _onehot(frame["temper"], "temper"),
            _onehot(frame["quench"], "quench"),
            _onehot(frame["product_form"], "form"),
        ]
        blocks += [_onehot(parts[c], c) for c in parts.columns]
        out = pd.concat(blocks, axis=1)
    elif source_id == "ghorbani_m916":
        coded = frame["process_code"].astype("string").str.split("|").str[0]
        out = _onehot(coded, "coded")
    else:
        return pd.DataFrame(index=frame.index)
    out = out.loc[:, out.nunique() > 1]
    return out.loc[:, ~out.T.duplicated().to_numpy()]


def feature_views(frame: pd.DataFrame, source_id: str, preset: str) -> dict[str, np.ndarray]:
    """Feature matrices offered to the inner CV, by view name (constant columns dropped)."""
    feats = featurize(frame, preset)
    feats = feats.loc[:, feats.nunique() > 1]
    if source_id == "a357_lpdc":
        raw = frame[["Si", "Mg", "Cu", "Fe", "Ti"]].astype(float)
        return {"raw": raw.to_numpy(), "full": feats.to_numpy(dtype=float)}
    cats = source_categories(frame, source_id)
    lean_cols = [c for c in feats.columns if c.startswith(("wt_pct_", "proc_"))]
    full = pd.concat([feats, cats], axis=1)
    lean = pd.concat([feats[lean_cols], cats], axis=1)
    return {"full": full.to_numpy(dtype=float), "lean": lean.to_numpy(dtype=float)}


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
    if cand.view not in views:
        raise AlloyMLError(f"candidate {cand.name}: no feature view {cand.view!r} ({list(views)})")
    X = views[cand.view]
    # XGBoost's OpenMP threads slow down ~10x when the 2 cores are shared with another
    # process (e.g. a concurrent stage); one thread is robust. sklearn ensembles use n_jobs.
    threads = 1 if cand.family == "xgb" else n_jobs
    est = make_estimator(cand.family, seed, n_jobs=threads, **dict(cand.overrides))
    with warnings.catch_warnings():  # GP kernel bounds on tiny folds: noise, not an error
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(X[train], y[train])
    return np.asarray(est.predict(X[test]), dtype=float)


def inner_splits(
    n: int, k: int, seed: int, groups: np.ndarray | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Inner CV folds over ``n`` training rows (grouped when ``groups`` is given)."""
    if groups is not None:
        k = min(k, len(np.unique(groups)))
        gkf = GroupKFold(n_splits=k, shuffle=True, random_state=seed)
        return list(gkf.split(np.zeros(n), groups=groups))
    kf = KFold(n_splits=k, shuffle=True, random_state=seed)
    return list(kf.split(np.zeros(n)))


def select_model(
    views: dict[str, np.ndarray],
    y: np.ndarray,
    train: np.ndarray,
    candidates: Sequence[Candidate],
    k: int,
    seed: int,
    n_jobs: int = 1,
    groups: np.ndarray | None = None,
    blends: bool = True,
    inner_trees: int | None = None,
) -> Choice:
    """Choose among ``candidates`` (and pairwise means) by inner CV on ``train`` rows only.

    The criterion is the pooled out-of-fold mean squared error; ties go to the earlier
    candidate. ``groups`` (per row of the full table) makes the inner folds grouped.
    ``inner_trees`` sets ``n_estimators`` of RF/ET candidates during this inner CV only.
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


def _inner(cand: Candidate, trees: int | None) -> Candidate:
    if trees is None or cand.family not in ("rf", "et"):
        return cand
    return replace(cand, overrides=(*cand.overrides, ("n_estimators", trees)))


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
    inner_k: int,
    seed: int,
    n_jobs: int = 1,
    groups: np.ndarray | None = None,
    blends: bool = True,
    inner_trees: int | None = None,
) -> ProtocolResult:
    """Outer splits: choose by inner CV on the training part, refit, score the test part."""
    res = ProtocolResult([], [], [], [])
    for tr, te in splits:
        choice = select_model(
            views, y, tr, candidates, inner_k, seed, n_jobs, groups, blends, inner_trees
        )
        pred = fit_predict_choice(choice, views, y, tr, te, seed, n_jobs)
        res.per_split.append(regression_metrics(y[te], pred))
        res.chosen.append(choice.name)
        res.n_train.append(len(tr))
        res.n_test.append(len(te))
        res.inner.append(choice.inner_metrics)
    return res


def _subset(views: dict[str, np.ndarray], rows: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[rows] for k, v in views.items()}


# -- experiment runners -----------------------------------------------------------------------
# Each runner returns {experiment key: (protocol text, {target: ProtocolResult})}.

Results = dict[str, tuple[str, dict[str, ProtocolResult]]]
TARGETS3: tuple[str, ...] = ("ys_mpa", "uts_mpa", "elong_pct")


def _has(frame: pd.DataFrame, target: str) -> np.ndarray:
    return np.flatnonzero(pd.to_numeric(frame[target], errors="coerce").notna().to_numpy())


def run_anu(frame: pd.DataFrame, cfg: RunConfig) -> Results:
    views = feature_views(frame, "anu_al_1154", cfg.preset)
    groups = composition_groups(frame)
    cands = cfg.candidates
    rnd: dict[str, ProtocolResult] = {}
    grp: dict[str, ProtocolResult] = {}
    for t in TARGETS3:
        rows = _has(frame, t)
        y = frame[t].to_numpy(dtype=float)[rows]
        v = _subset(views, rows)
        g = groups[rows]
        rnd[t] = evaluate_protocol(
            v, y, holdout_splits(len(rows), cfg.anu_repeats, cfg.seed), cands,
            cfg.inner_folds, cfg.seed, cfg.n_jobs, None, cfg.blends, cfg.inner_trees,
        )  # fmt: skip
        grp[t] = evaluate_protocol(
            v, y, grouped_holdout_splits(g, cfg.anu_repeats, cfg.seed), cands,
            cfg.inner_folds, cfg.seed, cfg.n_jobs, g, cfg.blends, cfg.inner_trees,
        )  # fmt: skip
        log.info("anu %s: random R2 %.3f, grouped R2 %.3f", t, rnd[t].mean("r2"), grp[t].mean("r2"))
    inner = f"model chosen per split by {cfg.inner_folds}-fold inner CV on the training part"
    feats = (
        f"features: featurize({cfg.preset}) of composition + temper class, plus the source's 10 "
        "Processing classes one-hot"
    )
    return {
        "anu_random": (
            f"random 80/20 hold-out on the 1154 rows as published (duplicates in, rows with the "
            f"target), mean of {cfg.anu_repeats} seeds (base.seed+0..{cfg.anu_repeats - 1}); "
            f"{inner}; {feats}",
            rnd,
        ),
        "anu_grouped": (
            f"80/20 hold-out grouped by composition (wt% rounded to {COMPOSITION_DECIMALS} dp, "
            f"process ignored: no test composition in training), mean of {cfg.anu_repeats} "
            f"seeds; {inner} (grouped inner folds); {feats}",
            grp,
        ),
    }


def run_hu(frame: pd.DataFrame, cfg: RunConfig) -> Results:
    frame = hu_sheet1(frame)
    views = feature_views(frame, "hu_uq_wrought_al", cfg.preset)
    groups = composition_groups(frame)
    cands = cfg.candidates
    named, unspec = hu_named_unspecified_split(frame)
    ood: dict[str, ProtocolResult] = {}
    for t in TARGETS3:
        has = _has(frame, t)
        tr, te = np.intersect1d(named, has), np.intersect1d(unspec, has)
        y = frame[t].to_numpy(dtype=float)
        ood[t] = evaluate_protocol(
            views, y, [(tr, te)], cands, cfg.inner_folds, cfg.seed, cfg.n_jobs, groups,
            cfg.blends, cfg.inner_trees,
        )  # fmt: skip
        log.info("hu %s: named->Unspecified R2 %.3f", t, ood[t].mean("r2"))
    rows = _has(frame, "elong_pct")
    y = frame["elong_pct"].to_numpy(dtype=float)[rows]
    el = evaluate_protocol(
        _subset(views, rows), y, holdout_splits(len(rows), cfg.hu_el_splits, cfg.seed), cands,
        cfg.inner_folds, cfg.seed, cfg.n_jobs, None, cfg.blends, cfg.inner_trees,
    )  # fmt: skip
    log.info("hu elong_pct: random 80/20 R2 %.3f", el.mean("r2"))
    n_test = len(unspec)
    feats = (
        f"features: featurize({cfg.preset}) of composition + process, plus the source's raw "
        "temper, quench, product form and categorical process columns one-hot"
    )
    return {
        "hu_named_to_unspecified": (
            f"Sheet1 only ({len(frame)} rows): train on the {len(named)} named-alloy rows, test "
            f"on the {n_test} 'Unspecified' rows (those with the target); model chosen by "
            f"{cfg.inner_folds}-fold inner CV grouped by composition on the named rows; {feats}",
            ood,
        ),
        "hu_el_random": (
            f"{cfg.hu_el_splits} random 80/20 splits of the {len(frame)}-row Sheet1 version "
            f"({len(rows)} rows with EL), mean; the anchor used the earlier 930-row version "
            f"(783 rows with EL) and 100 splits; model chosen per split by {cfg.inner_folds}-fold "
            f"inner CV on the training part; {feats}",
            {"elong_pct": el},
        ),
    }


def run_a357(frame: pd.DataFrame, cfg: RunConfig) -> Results:
    views = feature_views(frame, "a357_lpdc", cfg.preset)
    cands = cfg.a357_candidates
    tr, te = fixed_source_split(frame)
    out: dict[str, ProtocolResult] = {}
    for t in TARGETS3:
        y = frame[t].to_numpy(dtype=float)
        has = _has(frame, t)
        out[t] = evaluate_protocol(
            views, y, [(np.intersect1d(tr, has), np.intersect1d(te, has))], cands,
            cfg.a357_inner_folds, cfg.seed, cfg.n_jobs, None, cfg.blends, cfg.inner_trees,
        )  # fmt: skip
        log.info("a357 %s: test R2 %.3f (%s)", t, out[t].mean("r2"), out[t].chosen[0])
    return {
        "a357_fixed": (
            f"the authors' fixed split: train on the {len(tr)} 'train' castings, test on the "
            f"{len(te)} 'test' castings; features = measured Si, Mg, Cu, Fe, Ti wt% ('raw') or "
            f"their featurize() descriptors ('full'); model chosen by {cfg.a357_inner_folds}-fold "
            "CV on the train rows only",
            out,
        )
    }


def run_m916(frame: pd.DataFrame, cfg: RunConfig) -> Results:
    views = feature_views(frame, "ghorbani_m916", cfg.preset)
    groups = composition_groups(frame)
    cands = cfg.candidates
    rnd: dict[str, ProtocolResult] = {}
    grp: dict[str, ProtocolResult] = {}
    for t in TARGETS3:
        rows = _has(frame, t)
        y = frame[t].to_numpy(dtype=float)[rows]
        v = _subset(views, rows)
        g = groups[rows]
        rnd[t] = evaluate_protocol(
            v, y, random_splits(len(rows), cfg.folds, 1, cfg.seed), cands,
            cfg.inner_folds, cfg.seed, cfg.n_jobs, None, cfg.blends, cfg.inner_trees,
        )  # fmt: skip
        grp[t] = evaluate_protocol(
            v, y, grouped_splits(g, cfg.folds, cfg.seed), cands,
            cfg.inner_folds, cfg.seed, cfg.n_jobs, g, cfg.blends, cfg.inner_trees,
        )  # fmt: skip
        log.info(
            "m916 %s: random R2 %.3f, grouped R2 %.3f", t, rnd[t].mean("r2"), grp[t].mean("r2")
        )
    inner = f"model chosen per fold by {cfg.inner_folds}-fold inner CV on the training folds"
    feats = (
        f"features: featurize({cfg.preset}) of composition + process, plus the source's Coded "
        "process category one-hot"
    )
    return {
        "m916_random": (
            f"{cfg.folds}-fold random CV (shuffled, seed base.seed) on the 916 rows, mean over "
            f"folds; {inner}; {feats}",
            rnd,
        ),
        "m916_grouped": (
            f"{cfg.folds}-fold GroupKFold by composition (wt% rounded to "
            f"{COMPOSITION_DECIMALS} dp), mean over folds; {inner} (grouped inner folds); {feats}",
            grp,
        ),
    }


RUNNERS: dict[str, Callable[[pd.DataFrame, RunConfig], Results]] = {
    "anu": run_anu,
    "hu": run_hu,
    "a357": run_a357,
    "m916": run_m916,
}

EXPERIMENT_DATASET = {
    "anu_random": "anu",
    "anu_grouped": "anu",
    "hu_named_to_unspecified": "hu",
    "hu_el_random": "hu",
    "a357_fixed": "a357",
    "m916_random": "m916",
    "m916_grouped": "m916",
}


# -- records ----------------------------------------------------------------------------------


def beaten(record: dict[str, Any]) -> bool | None:
    """Whether ``value`` beats ``anchor_value`` (``None`` when there is no anchor or no value)."""
    a, v = record.get("anchor_value"), record.get("value")
    if a is None or v is None or not math.isfinite(v):
        return None
    return v > a if record["higher_is_better"] else v < a


def _fmt(x: float) -> str:
    return "nan" if not math.isfinite(x) else f"{x:.4g}"


def make_records(results: Results, anchors: Sequence[Anchor] = ANCHORS) -> list[dict[str, Any]]:
    """One record per anchor whose experiment and target were run."""
    out: list[dict[str, Any]] = []
    for a in anchors:
        if a.experiment not in results:
            continue
        protocol, by_target = results[a.experiment]
        if a.target not in by_target:
            continue
        res = by_target[a.target]
        value = res.mean(a.metric)
        n_splits = len(res.per_split)
        parts = [f"anchor: {a.source}"]
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
            "dataset": DATASET_OF[EXPERIMENT_DATASET[a.experiment]],
            "protocol": protocol + a.protocol_suffix,
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
            raise AlloyMLError(f"anchors record {i} lacks {missing}")
        if r["metric"] not in METRICS:
            raise AlloyMLError(f"anchors record {i}: unknown metric {r['metric']!r}")
        if r["higher_is_better"] is not HIGHER_IS_BETTER[r["metric"]]:
            raise AlloyMLError(f"anchors record {i}: higher_is_better wrong for {r['metric']}")
        for k in ("value", "anchor_value"):
            v = r[k]
            if v is not None and not (isinstance(v, int | float) and math.isfinite(v)):
                raise AlloyMLError(f"anchors record {i}: {k} must be a finite number or null")


def run_anchors(
    interim_dir: str | Path = "data/interim",
    seed: int = 42,
    preset: str = "alloy_v1",
    config: RunConfig | None = None,
) -> list[dict[str, Any]]:
    """Run every anchor protocol on the interim tables; return the output records."""
    cfg = replace(config or RunConfig(), seed=seed, preset=preset)
    wanted = cfg.datasets or tuple(RUNNERS)
    unknown = [d for d in wanted if d not in RUNNERS]
    if unknown:
        raise AlloyMLError(f"unknown anchor datasets {unknown}; known {list(RUNNERS)}")
    results: Results = {}
    for key in wanted:
        system, source_id = SOURCES[key]
        frame = load_source(interim_dir, system, source_id)
        t0 = time.perf_counter()
        results |= RUNNERS[key](frame, cfg)
        log.info("%s done in %.1f s", key, time.perf_counter() - t0)
    records = make_records(results)
    validate_records(records)
    return records


def summary_lines(records: Sequence[dict[str, Any]]) -> list[str]:
    """Human-readable comparison table (for logs), one line per record, then the tally."""
    lines = [
        f"{'dataset':22} {'experiment':34} {'tgt':4} {'metric':5} {'ours':>9} {'anchor':>9}  beaten"
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
    lines.append(f"beaten {n_beat} of {n_total} anchors")
    return lines


def write_records(records: Sequence[dict[str, Any]], path: str | Path) -> None:
    """Write the records as a JSON list."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(list(records), indent=2) + "\n", encoding="utf-8")
