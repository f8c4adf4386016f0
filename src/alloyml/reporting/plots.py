"""Matplotlib PNGs for training reports (DVC plots and MLflow artefacts).

Figures are made with matplotlib's object-oriented API (:func:`figure`: a
:class:`~matplotlib.figure.Figure` on an Agg canvas), never through ``pyplot``: importing this
module leaves the caller's matplotlib backend alone, and no figure is kept in pyplot's registry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from alloyml.schema import TARGETS

_META = {"Software": None}

#: Physical lower limit of each property: strengths, elongation and hardness are never negative.
#: Interval bars in the plots stop there (a conformal interval is symmetric about the prediction
#: and can reach below it; the interval itself, in the metrics, is left as computed).
PHYSICAL_MIN: dict[str, float] = dict.fromkeys(TARGETS, 0.0)


def figure(nrows: int = 1, ncols: int = 1, **kw: Any) -> tuple[Figure, Any]:
    """A figure on its own Agg canvas and its axes (``Figure.subplots`` keywords, e.g.
    ``figsize``, ``squeeze``): PNGs without pyplot, whatever backend the process uses."""
    fig_kw = {k: kw.pop(k) for k in ("figsize", "dpi") if k in kw}
    fig = Figure(**fig_kw)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, **kw)


def save_png(fig: Figure, path: Path, dpi: int = 100) -> Path:
    """Write ``fig`` as a PNG without the software-version stamp (stable bytes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi, metadata=_META)
    return path


def interval_bars(
    pred: np.ndarray, lo: np.ndarray, hi: np.ndarray, floor: float | None
) -> np.ndarray:
    """``[[below], [above]]`` error-bar lengths of the intervals, the lower end stopped at
    ``floor`` (the physical minimum of the property, e.g. 0 MPa) when given."""
    pred, lo, hi = (np.asarray(a, dtype=float) for a in (pred, lo, hi))
    if floor is not None:
        lo = np.maximum(lo, floor)
    return np.vstack([np.clip(pred - lo, 0.0, None), np.clip(hi - pred, 0.0, None)])


def parity(y, pred, lo, hi, in_domain, title: str, path: Path, floor: float | None = 0.0) -> Path:
    """Predicted vs measured with interval bars; out-of-domain rows in orange.

    ``floor``: the property's physical minimum (:data:`PHYSICAL_MIN`; 0 for every target),
    where the interval bars stop; ``None`` draws them as computed.
    """
    fig, ax = figure(figsize=(5, 5))
    y, pred = np.asarray(y), np.asarray(pred)
    dom = np.ones(len(y), bool) if in_domain is None else np.asarray(in_domain, bool)
    if lo is not None:
        ax.errorbar(
            y, pred, yerr=interval_bars(pred, lo, hi, floor), fmt="none", ecolor="0.8", lw=0.6,
            zorder=1,
        )  # fmt: skip
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
    fig, ax = figure(figsize=(6, 3.5))
    ax.scatter(y, np.asarray(pred) - np.asarray(y), s=8)
    ax.axhline(0, color="k", lw=1)
    ax.set_xlabel("measured")
    ax.set_ylabel("predicted − measured")
    ax.set_title(title, fontsize=9)
    return save_png(fig, path)


def calibration(curve: list[tuple[float, float]], title: str, path: Path) -> Path:
    """Empirical against nominal interval coverage (grouped protocol)."""
    fig, ax = figure(figsize=(4.5, 4.5))
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
    fig, ax = figure(figsize=(6, 0.28 * len(names) + 1))
    ax.barh(names, [imp[n] for n in names])
    ax.set_xlabel("MAE increase when permuted")
    ax.set_title(title, fontsize=9)
    ax.tick_params(axis="y", labelsize=7)
    return save_png(fig, path)


def learning_curve(points: list[tuple[float, float]], title: str, path: Path) -> Path:
    fig, ax = figure(figsize=(5, 3.5))
    fr, mae = zip(*points, strict=True)
    ax.plot(fr, mae, "o-")
    ax.set_xlabel("fraction of training folds used")
    ax.set_ylabel("grouped-CV MAE")
    ax.set_title(title, fontsize=9)
    return save_png(fig, path)
