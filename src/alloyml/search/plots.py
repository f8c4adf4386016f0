"""Matplotlib PNGs of a search: optimisation history and the Pareto front (no plotly)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from alloyml.reporting.plots import figure, save_png


def _limits(setter, values: np.ndarray) -> None:
    """Axis range of the values that matter (feasible trials), so that a few far-off infeasible
    trials (e.g. huge out-of-domain penalties) do not squash the plot."""
    v = values[np.isfinite(values)]
    if not len(v):
        return
    lo, hi = np.percentile(v, 0.5), np.percentile(v, 100)
    pad = 0.08 * (hi - lo) if hi > lo else max(abs(hi) * 0.05, 1.0)
    setter(lo - pad, hi + pad)


def history(table: pd.DataFrame, objectives: list[tuple[str, str]], title: str, path: Path) -> Path:
    """Objective value of every trial (feasible vs not) and the running best feasible value.

    Args:
        table: trials with ``trial``, ``constraints_ok`` and ``objective_<quantity>`` columns.
        objectives: ``(quantity, direction)`` per objective.
    """
    k = len(objectives)
    fig, axes = figure(k, 1, figsize=(7, 3.2 * k), squeeze=False)
    t = table.sort_values("trial")
    ok = t["constraints_ok"].to_numpy(bool)
    for ax, (q, direction) in zip(axes[:, 0], objectives, strict=True):
        y = t[f"objective_{q}"].to_numpy(float)
        x = t["trial"].to_numpy()
        ax.scatter(x[~ok], y[~ok], s=3, c="0.75", label="infeasible", rasterized=True)
        ax.scatter(x[ok], y[ok], s=3, c="tab:blue", label="feasible", rasterized=True)
        best = np.where(ok, y, -np.inf if direction == "maximize" else np.inf)
        run = (np.maximum if direction == "maximize" else np.minimum).accumulate(best)
        run = np.where(np.isfinite(run), run, np.nan)
        ax.plot(x, run, c="tab:red", lw=1.5, label="best feasible so far")
        _limits(ax.set_ylim, y[ok] if ok.any() else y)
        ax.set_xlabel("trial")
        ax.set_ylabel(f"objective: {q}")
        ax.legend(fontsize=7, loc="lower right" if direction == "maximize" else "upper right")
    axes[0, 0].set_title(title, fontsize=9)
    return save_png(fig, path)


def pareto(
    table: pd.DataFrame,
    x: tuple[str, str],
    y: tuple[str, str],
    front: pd.DataFrame,
    chosen: pd.DataFrame,
    title: str,
    path: Path,
) -> Path:
    """Trade-off of two quantities: every feasible trial, the Pareto front, the candidates.

    ``x``/``y`` are ``(column, label)``.
    """
    fig, ax = figure(figsize=(6, 4.5))
    feas = table[table["constraints_ok"]]
    ax.scatter(table[x[0]], table[y[0]], s=3, c="0.85", label="infeasible", rasterized=True)
    ax.scatter(feas[x[0]], feas[y[0]], s=3, c="tab:blue", label="feasible", rasterized=True)
    if len(front):
        f = front.sort_values(x[0])
        ax.plot(f[x[0]], f[y[0]], "-o", c="tab:red", ms=3, lw=1.2, label="Pareto front")
    if len(chosen):
        ax.scatter(chosen[x[0]], chosen[y[0]], s=60, facecolors="none", edgecolors="k",
                   lw=1.3, label="candidates", zorder=5)  # fmt: skip
        for _, r in chosen.iterrows():
            ax.annotate(str(int(r["candidate"])), (r[x[0]], r[y[0]]), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")  # fmt: skip
    for col, setter in ((x[0], ax.set_xlim), (y[0], ax.set_ylim)):
        v = table[col].to_numpy(float)
        _limits(setter, feas[col].to_numpy(float) if len(feas) else v)
    ax.set_xlabel(x[1])
    ax.set_ylabel(y[1])
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return save_png(fig, path)
