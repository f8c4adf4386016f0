"""Acquisition functions and batch fantasies, shared by the campaigns and the discovery backtest.

A surrogate gives, for each candidate, a prediction ``mu`` and a Gaussian-equivalent scale
``sigma`` (for a conformal interval ``[lo, hi]`` at nominal coverage ``1 - alpha``:
``sigma = (hi - lo) / (2 z)``, ``z = Phi^-1(1 - alpha / 2)``, see :func:`sigma_from_half_width`).
Values are in the units of the quantity (e.g. MPa).

* ``pred``: ``mu``;
* ``ucb``: the optimistic bound in the objective's direction, ``mu + kappa sigma`` when
  maximising, ``mu - kappa sigma`` when minimising. The "lower confidence bound" (LCB) of the
  minimisation literature (e.g. Liang et al., npj Comput. Mater. 7 (2021) 188, who minimise) is
  this bound for a minimised quantity; maximising ``y`` with ``ucb`` is minimising ``-y`` with LCB;
* ``lcb``: the pessimistic bound, ``mu - kappa sigma`` when maximising (a cautious choice);
* ``ei``: expected improvement over the best value ``f*`` so far (Jones et al., J. Glob. Optim.
  13 (1998) 455): ``(mu - f*) Phi(z) + sigma phi(z)``, ``z = (mu - f*) / sigma`` when maximising,
  returned with the objective's sign (so that a minimised objective keeps "smaller is better").

Batch selection (``q`` candidates before any result is known) by sequential fantasies
(Ginsbourger et al., "Kriging is well-suited to parallelize optimization", 2010): pick the best
candidate, pretend it was measured, update the surrogate and pick again. The fantasy value is the
surrogate's own prediction (*kriging believer*) or a constant (*constant liar*, e.g. the minimum
measured value, which pushes the next picks away from the first).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy.stats import norm

from alloyml.errors import ConfigError

ACQUISITIONS: tuple[str, ...] = ("pred", "ucb", "lcb", "ei")
FANTASIES: tuple[str, ...] = ("believer", "liar")
LIES: tuple[str, ...] = ("min", "mean", "max")

#: ``predict(train_rows, train_y) -> (mu, sigma)`` at every candidate (a refit on fantasy data)
PredictFn = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]
#: ``score(mu, sigma, best) -> acquisition values`` (higher is better)
ScoreFn = Callable[[np.ndarray, np.ndarray, float], np.ndarray]


def interval_z(alpha: float) -> float:
    """``Phi^-1(1 - alpha/2)``: half-width of a central interval in Gaussian standard units."""
    return float(norm.ppf(1.0 - alpha / 2.0)) if 0 < alpha < 1 else math.inf


def sigma_from_half_width(half: np.ndarray, alpha: float) -> np.ndarray:
    """Gaussian-equivalent scale of a symmetric interval of half-width ``half`` at ``1 - alpha``."""
    return np.asarray(half, dtype=float) / interval_z(alpha)


def expected_improvement(mu: np.ndarray, best: float, sigma: np.ndarray) -> np.ndarray:
    """Expected improvement of a maximisation over ``best`` (``max(mu - best, 0)`` at sigma 0)."""
    mu = np.asarray(mu, dtype=float)
    sigma = np.asarray(sigma, dtype=float)
    imp = mu - best
    out = np.maximum(imp, 0.0)
    pos = sigma > 0
    if pos.any():
        z = imp[pos] / sigma[pos]
        out[pos] = imp[pos] * norm.cdf(z) + sigma[pos] * norm.pdf(z)
    return out


def acquire(
    name: str,
    mu: np.ndarray,
    sigma: np.ndarray,
    *,
    best: float | None = None,
    kappa: float = 1.0,
    maximize: bool = True,
) -> np.ndarray:
    """Acquisition values of ``name`` in the objective's direction (same units as ``mu``).

    Args:
        name: one of :data:`ACQUISITIONS`.
        mu, sigma: prediction and Gaussian-equivalent scale per candidate.
        best: best value so far in the objective's direction (``ei`` only).
        kappa: width multiplier of ``ucb`` / ``lcb``.
        maximize: direction of the objective; with ``False`` every value keeps the objective's
            orientation (smaller is better).
    """
    mu = np.asarray(mu, dtype=float)
    sign = 1.0 if maximize else -1.0
    if name == "pred":
        return mu
    if name == "ucb":
        return mu + sign * kappa * np.asarray(sigma, dtype=float)
    if name == "lcb":
        return mu - sign * kappa * np.asarray(sigma, dtype=float)
    if name == "ei":
        if best is None:
            raise ConfigError("expected improvement needs the best value so far")
        return sign * expected_improvement(sign * mu, sign * best, np.asarray(sigma, dtype=float))
    raise ConfigError(f"unknown acquisition {name!r}; choose from {', '.join(ACQUISITIONS)}")


def _rank_first(score: np.ndarray, rng: np.random.Generator | None) -> int:
    """Position of the highest score (ties broken at random when ``rng`` is given)."""
    if rng is None:
        return int(np.argmax(score))
    top = np.flatnonzero(score == np.max(score))
    return int(top[rng.integers(len(top))]) if len(top) > 1 else int(top[0])


def select_batch(
    candidates: np.ndarray,
    train_rows: np.ndarray,
    train_y: np.ndarray,
    q: int,
    predict: PredictFn,
    score: ScoreFn,
    *,
    fantasy: str = "believer",
    lie: str = "min",
    first: tuple[np.ndarray, np.ndarray] | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """Choose ``q`` of ``candidates`` by sequential fantasies.

    Args:
        candidates: row ids that may be chosen (``predict`` returns values in this order).
        train_rows, train_y: measured row ids and their values.
        q: batch size (``q = 1`` is plain greedy acquisition, no fantasy).
        predict: surrogate refit on ``(rows, y)`` returning ``(mu, sigma)`` at ``candidates``.
        score: acquisition on ``(mu, sigma, best)``, higher is better (maximisation).
        fantasy: ``believer`` (fantasy value = the prediction ``mu``) or ``liar`` (a constant).
        lie: the constant liar's value over the measured ``train_y``: ``min``, ``mean`` or ``max``.
        first: ``(mu, sigma)`` already computed on ``(train_rows, train_y)`` (saves one refit).
        rng: random tie-breaking; ``None`` takes the first of equal scores.

    Returns:
        the chosen row ids, in the order they were picked.
    """
    if fantasy not in FANTASIES:
        raise ConfigError(f"unknown batch fantasy {fantasy!r}; choose from {FANTASIES}")
    if lie not in LIES:
        raise ConfigError(f"unknown constant lie {lie!r}; choose from {LIES}")
    candidates = np.asarray(candidates)
    rows = np.asarray(train_rows)
    ys = np.asarray(train_y, dtype=float)
    lie_value = float({"min": np.min, "mean": np.mean, "max": np.max}[lie](ys))
    available = np.ones(len(candidates), bool)
    chosen: list[int] = []
    mu, sigma = first if first is not None else predict(rows, ys)
    for j in range(min(q, len(candidates))):
        free = np.flatnonzero(available)
        k = int(free[_rank_first(score(mu, sigma, float(np.max(ys)))[free], rng)])
        chosen.append(int(candidates[k]))
        available[k] = False
        if j + 1 == min(q, len(candidates)):
            break
        value = float(mu[k]) if fantasy == "believer" else lie_value
        rows = np.append(rows, candidates[k])
        ys = np.append(ys, value)
        mu, sigma = predict(rows, ys)
    return np.asarray(chosen, dtype=candidates.dtype)
