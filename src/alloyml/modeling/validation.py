"""Cross-validation protocols and regression metrics.

Protocols (each returns a list of ``(train_idx, test_idx)`` pairs over row positions):

- ``random``: repeated shuffled K-fold. Optimistic when the same alloy appears in several rows.
- ``grouped``: K-fold over ``group_id`` (same composition never in train and test); the
  selection criterion, because a new alloy is a new composition.
- ``loso``: leave one source out (a new lab / compilation).
- ``extrapolation``: train below the top decile of the target, test on the top decile, with
  every composition group that has a test row removed from training: can the model see
  stronger alloys than it was shown?
- ``holdout`` / ``grouped_holdout``: repeated random 80/20 hold-out, of rows or of groups (the
  protocol of several published results, see :mod:`alloyml.evaluation.paper_protocols`).
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import GroupKFold, GroupShuffleSplit, KFold, train_test_split

Splits = list[tuple[np.ndarray, np.ndarray]]

#: The validation protocols of ``train``, in report order: random K-fold, grouped K-fold (by
#: composition), leave-one-source-out, leave-one-alloy-family-out, extrapolation (top decile).
PROTOCOLS: tuple[str, ...] = ("random", "grouped", "loso", "family", "extrapolation")


def random_splits(n: int, k: int, repeats: int, seed: int) -> Splits:
    out: Splits = []
    for r in range(repeats):
        kf = KFold(n_splits=k, shuffle=True, random_state=seed + r)
        out.extend((tr, te) for tr, te in kf.split(np.zeros(n)))
    return out


def grouped_splits(groups: np.ndarray, k: int, seed: int) -> Splits:
    groups = np.asarray(groups)
    k = min(k, len(np.unique(groups)))
    gkf = GroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return [(tr, te) for tr, te in gkf.split(np.zeros(len(groups)), groups=groups)]


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


def loso_splits(sources: np.ndarray, min_test: int = 20) -> Splits:
    """One split per source with at least ``min_test`` rows (and at least two sources)."""
    sources = np.asarray(sources)
    names, counts = np.unique(sources, return_counts=True)
    if len(names) < 2:
        return []
    return [
        (np.flatnonzero(sources != s), np.flatnonzero(sources == s))
        for s, c in zip(names, counts, strict=True)
        if c >= min_test
    ]


def extrapolation_split(y: np.ndarray, groups: np.ndarray, quantile: float = 0.9) -> Splits:
    """Train below the ``quantile`` of ``y``, test on the rest; test groups leave training."""
    y = np.asarray(y, dtype=float)
    groups = np.asarray(groups)
    thr = np.quantile(y, quantile)
    test = np.flatnonzero(y >= thr)
    test_groups = set(groups[test].tolist())
    train = np.flatnonzero((y < thr) & ~np.isin(groups, list(test_groups)))
    if len(train) < 10 or len(test) < 5:
        return []
    return [(train, test)]


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """R², MAE, RMSE and MAPE (%) of ``pred`` against ``y``."""
    y = np.asarray(y, dtype=float)
    pred = np.asarray(pred, dtype=float)
    err = pred - y
    ss_res = float(np.sum(err**2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    nz = np.abs(y) > 1e-12
    return {
        "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan"),
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mape": float(np.mean(np.abs(err[nz] / y[nz])) * 100.0) if nz.any() else float("nan"),
        "n": int(len(y)),
    }
