"""Matplotlib PNGs for training reports (DVC plots and MLflow artefacts)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

_META = {"Software": None}


def save_png(fig, path: Path) -> Path:
    """Write ``fig`` as a PNG without the software-version stamp (stable bytes), then close it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=100, metadata=_META)
    plt.close(fig)
    return path


def parity(y, pred, lo, hi, in_domain, title: str, path: Path) -> Path:
    """Predicted vs measured with interval bars; out-of-domain rows in orange."""
    fig, ax = plt.subplots(figsize=(5, 5))
    y, pred = np.asarray(y), np.asarray(pred)
    dom = np.ones(len(y), bool) if in_domain is None else np.asarray(in_domain, bool)
    if lo is not None:
        ax.errorbar(
            y, pred, yerr=[pred - lo, hi - pred], fmt="none", ecolor="0.8", lw=0.6, zorder=1
        )
    ax.scatter(y[dom], pred[dom], s=8, label="in domain", zorder=2)
    if (~dom).any():
        ax.scatter(y[~dom], pred[~dom], s=10, c="tab:orange", label="out of domain", zorder=3)
    lim = [min(y.min(), pred.min()), max(y.max(), pred.max())]
    ax.plot(lim, lim, "k--", lw=1)
    ax.set_xlabel("measured")
    ax.set_ylabel("predicted")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    return save_png(fig, path)


def residuals(y, pred, title: str, path: Path) -> Path:
    """Residual against the measured target: does the model shrink the strong alloys?"""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.scatter(y, np.asarray(pred) - np.asarray(y), s=8)
    ax.axhline(0, color="k", lw=1)
    ax.set_xlabel("measured")
    ax.set_ylabel("predicted − measured")
    ax.set_title(title, fontsize=9)
    return save_png(fig, path)


def calibration(curve: list[tuple[float, float]], title: str, path: Path) -> Path:
    """Empirical against nominal interval coverage (grouped protocol)."""
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    if curve:
        nom, emp = zip(*curve, strict=True)
        ax.plot(nom, emp, "o-", label="empirical")
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="ideal")
    ax.set_xlabel("nominal coverage")
    ax.set_ylabel("empirical coverage")
    ax.set_xlim(0.4, 1)
    ax.set_ylim(0.4, 1)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    return save_png(fig, path)


def importance(imp: dict[str, float], title: str, path: Path) -> Path:
    """Permutation importance (increase of MAE when a feature is shuffled)."""
    names = list(imp)[:20][::-1]
    fig, ax = plt.subplots(figsize=(6, 0.28 * len(names) + 1))
    ax.barh(names, [imp[n] for n in names])
    ax.set_xlabel("MAE increase when permuted")
    ax.set_title(title, fontsize=9)
    ax.tick_params(axis="y", labelsize=7)
    return save_png(fig, path)


def learning_curve(points: list[tuple[float, float]], title: str, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    fr, mae = zip(*points, strict=True)
    ax.plot(fr, mae, "o-")
    ax.set_xlabel("fraction of training folds used")
    ax.set_ylabel("grouped-CV MAE")
    ax.set_title(title, fontsize=9)
    return save_png(fig, path)
