"""Batch selection with fantasies: pending experiments and earlier picks condition the rest.

A campaign's surrogate is the champion models, far too costly to refit for every pick of a
batch. :func:`select_with_fantasies` keeps them and conditions their predictive distribution
instead, through :func:`alloyml.search.acquisition.select_batch` (the loop the discovery backtest
uses): each quantity is read as a Gaussian process whose prior mean and scale are the models'
prediction ``mu(x)`` and Gaussian-equivalent scale ``sigma(x)`` (:meth:`Problem.sigma`) and whose
correlation is ``rho(x, x') = exp(-d^2 / (2 l^2))`` over the design-space distance ``d``
(:meth:`DesignSpace.vectors`; ``l`` = the campaign's ``min_distance``, 1 when it is 0). A fantasy
observation ``y_F`` at designs ``F`` (a pending experiment of an earlier round, or a candidate
already picked) gives the usual conditional moments

    mu'(x)      = mu(x) + k(x, F) K_FF^-1 (y_F - mu_F)
    sigma'^2(x) = sigma^2(x) - k(x, F) K_FF^-1 k(F, x),   k(x, x') = sigma(x) sigma(x') rho(x, x')

*Kriging believer* (``y_F = mu_F``) leaves the prediction and shrinks the uncertainty near
``F``, so an upper confidence bound or expected improvement there drops; *constant liar*
(``y_F`` = the minimum measured value of the quantity, in the objective's direction) also pulls
the prediction near ``F`` down (Ginsbourger et al. 2010, see :mod:`.acquisition`). Each
candidate's objective value keeps its domain penalty: the acquisition is recomputed from
``(mu', sigma')`` and the difference added to the stored objective value.

Hard rules on top of the fantasies: a candidate within ``min_distance`` of an excluded design
(pending or measured in an earlier round) or of a candidate already picked is never chosen, and
only feasible trials (every constraint <= 0) are candidates. With several objectives the first
one carries the fantasy values (believer or liar); the others are conditioned as believers, and
the batch is picked on the sum of the objectives, each divided by its spread (standard
deviation) over the pool, in its direction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from alloyml.errors import ConfigError
from alloyml.search.acquisition import FANTASIES, select_batch
from alloyml.search.evaluate import DENSITY, Problem
from alloyml.search.space import Design

#: Largest pool of candidates per batch: the best feasible trials by the first objective (a
#: converged study holds thousands of near-copies of its best design; the pool must reach past
#: them to find ``q`` designs ``min_distance`` apart).
POOL_MAX = 50_000


@dataclass
class Selection:
    """Positions into the trial table, best first, and the batch's acquisition values."""

    chosen: list[int]
    values: list[float]  # first objective's (fantasy-conditioned) acquisition value per pick

    @property
    def value(self) -> float:
        """Batch acquisition value: the sum over the picks (units of the first objective)."""
        return float(np.sum(self.values)) if self.values else float("-inf")


def _ev(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """The evaluation columns of trial-table rows, as :class:`Evaluator` returns them."""
    ends = ("_pred", "_lo", "_hi", "_half_in", "_score")
    cols = [k for k in frame.columns if k == DENSITY or str(k).endswith(ends)]
    return {k: pd.to_numeric(frame[k], errors="coerce").to_numpy(float) for k in cols}


def quantity_moments(problem: Problem, ev: dict[str, np.ndarray]) -> list[tuple[np.ndarray, ...]]:
    """``(mu, sigma)`` of each objective quantity (``sigma = 0`` for ``pred`` objectives)."""
    out = []
    for o in problem.campaign.objectives:
        mu = problem.quantity(o.quantity, ev)[0]
        sigma = problem.sigma(o.quantity, ev) if o.acquisition != "pred" else np.zeros_like(mu)
        out.append((np.asarray(mu, float), np.asarray(sigma, float)))
    return out


def _sqdist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances ``(len(a), len(b))`` without an ``(n, m, d)`` temporary."""
    d2 = (a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2.0 * a @ b.T
    return np.maximum(d2, 0.0)


def _rho(a: np.ndarray, b: np.ndarray, length: float) -> np.ndarray:
    return np.exp(-_sqdist(a, b) / (2.0 * length**2))


def condition(
    mu: np.ndarray,
    sigma: np.ndarray,
    rho_xf: np.ndarray,
    rho_ff: np.ndarray,
    mu_f: np.ndarray,
    sigma_f: np.ndarray,
    y_f: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Conditional ``(mu', sigma')`` at the candidates given fantasy values ``y_f`` (module doc)."""
    if rho_ff.shape[0] == 0:
        return mu, sigma
    K = np.outer(sigma_f, sigma_f) * rho_ff
    K = K + np.eye(len(K)) * (1e-9 * (float(np.max(np.diag(K), initial=0.0)) + 1.0))
    k_xf = sigma[:, None] * sigma_f[None, :] * rho_xf
    A = np.linalg.solve(K, k_xf.T).T  # k(x, F) K^-1
    var = sigma**2 - np.sum(A * k_xf, axis=1)
    return mu + A @ (y_f - mu_f), np.sqrt(np.maximum(var, 0.0))


def select_with_fantasies(
    table: pd.DataFrame,
    problem: Problem,
    q: int,
    *,
    pending: Sequence[Design] = (),
    exclude: Sequence[Design] = (),
    measured_y: np.ndarray | None = None,
    fantasy: str = "believer",
    positions: np.ndarray | None = None,
) -> Selection:
    """Pick ``q`` rows of the trial table (see the module docstring).

    Args:
        table: :func:`~alloyml.search.candidates.trials_frame` rows (objective, constraint and
            evaluation columns).
        problem: the campaign's problem (models, acquisitions).
        q: batch size.
        pending: designs proposed earlier and not measured yet: fantasies, and excluded with
            everything within ``min_distance`` of them.
        exclude: other designs never to propose again, nor anything within ``min_distance``
            (measured candidates of earlier rounds).
        measured_y: measured values of the first objective's quantity (the constant liar's
            value is their minimum in the objective's direction).
        fantasy: ``believer`` or ``liar``.
        positions: restrict the pool to these positions of ``table`` (default: every row).
    """
    if fantasy not in FANTASIES:
        raise ConfigError(f"unknown batch fantasy {fantasy!r}; choose from {FANTASIES}")
    c = problem.campaign
    space = problem.space
    signs = np.array([1.0 if o.direction == "maximize" else -1.0 for o in c.objectives])
    pos = np.arange(len(table)) if positions is None else np.asarray(positions, dtype=int)
    if len(pos):
        pos = pos[table.iloc[pos]["constraints_ok"].to_numpy(bool)]
    length = c.min_distance if c.min_distance > 0 else 1.0

    if len(pos) and (len(pending) or len(exclude)):
        vec = space.vectors_frame(table.iloc[pos])
        away = space.vectors([*pending, *exclude])
        dmin = np.sqrt(_sqdist(vec, away)).min(axis=1)
        pos = pos[dmin >= c.min_distance - 1e-9]
    if not len(pos) or q < 1:
        return Selection([], [])
    obj1 = table.iloc[pos][f"objective_{c.objectives[0].quantity}"].to_numpy(float) * signs[0]
    if len(pos) > POOL_MAX:
        pos = pos[np.argsort(-obj1, kind="stable")[:POOL_MAX]]
    pool = table.iloc[pos]
    n = len(pool)
    vec = space.vectors_frame(pool)
    moments = quantity_moments(problem, _ev(pool))
    objective = [pool[f"objective_{o.quantity}"].to_numpy(float) for o in c.objectives]
    offsets = []
    for o, (mu, sigma), value in zip(c.objectives, moments, objective, strict=True):
        offsets.append(value - problem.acquisition(o, mu, sigma))
    spread = [max(float(np.std(v)), 1e-12) for v in objective]
    # pending designs: evaluated with the current models (their conditioning moments)
    if len(pending):
        ev_p = problem.evaluator(*space.matrices(list(pending)))
        p_moments = quantity_moments(problem, ev_p)
        vec_all = np.vstack([vec, space.vectors(list(pending))])
    else:
        p_moments = [(np.zeros(0), np.zeros(0)) for _ in c.objectives]
        vec_all = vec
    mu_all = [np.concatenate([m[0], p[0]]) for m, p in zip(moments, p_moments, strict=True)]
    sd_all = [np.concatenate([m[1], p[1]]) for m, p in zip(moments, p_moments, strict=True)]
    ys = np.asarray(measured_y if measured_y is not None else [], dtype=float)
    ys = ys[np.isfinite(ys)] * signs[0]
    if not len(ys):  # no measured value: the pool's lowest prediction stands in for the lie
        ys = np.array([float(np.min(signs[0] * moments[0][0]))])
    train_rows = np.concatenate([-1 - np.arange(len(ys)), n + np.arange(len(pending))])
    mu_p1 = signs[0] * p_moments[0][0]
    believe = fantasy == "believer"
    lie = float(np.min(ys))
    train_y = np.concatenate([ys, mu_p1 if believe else np.full(len(pending), lie)])
    state: dict[str, object] = {}

    def predict(rows: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        f = np.asarray(rows) >= 0
        frows, fy = np.asarray(rows)[f].astype(int), np.asarray(values, float)[f]
        rho_xf = _rho(vec, vec_all[frows], length)
        rho_ff = _rho(vec_all[frows], vec_all[frows], length)
        conditioned = []
        for j, (mu, sd) in enumerate(zip(mu_all, sd_all, strict=True)):
            y_f = signs[0] * fy if j == 0 else mu[frows]  # first objective carries the fantasy
            conditioned.append(condition(mu[:n], sd[:n], rho_xf, rho_ff, mu[frows], sd[frows], y_f))
        picked = frows[frows < n]
        blocked = np.zeros(n, bool)
        if len(picked):
            blocked = np.sqrt(_sqdist(vec, vec[picked])).min(axis=1) < c.min_distance - 1e-9
            blocked[picked] = True
        state["conditioned"], state["blocked"] = conditioned, blocked
        mu1, sd1 = conditioned[0]
        return signs[0] * mu1, sd1

    def values_of(conditioned: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
        return [
            off + problem.acquisition(o, mu, sd)
            for o, (mu, sd), off in zip(c.objectives, conditioned, offsets, strict=True)
        ]

    def score(mu: np.ndarray, sigma: np.ndarray, best: float) -> np.ndarray:
        vals = values_of(state["conditioned"])  # type: ignore[arg-type]
        total = sum(s * v / sp for s, v, sp in zip(signs, vals, spread, strict=True))
        return np.where(state["blocked"], -np.inf, total)  # type: ignore[arg-type]

    first = predict(train_rows, train_y)
    picks = select_batch(
        np.arange(n), train_rows, train_y, min(q, n), predict, score,
        fantasy=fantasy, lie="min", first=first,
    )  # fmt: skip
    # replay the picks: value at pick time, and stop where only blocked designs were left
    chosen: list[int] = []
    values: list[float] = []
    rows, ys_f = train_rows.copy(), train_y.copy()
    for k in picks:
        mu1, _ = predict(rows, ys_f)
        if state["blocked"][k]:  # type: ignore[index]
            break
        chosen.append(int(pos[k]))
        values.append(float(values_of(state["conditioned"])[0][k]))  # type: ignore[arg-type]
        rows = np.append(rows, k)
        ys_f = np.append(ys_f, float(mu1[k]) if believe else lie)
    return Selection(chosen, values)
