"""Prediction intervals with a coverage guarantee, and the domain of applicability.

Intervals: split-conformal on cross-validated residuals (the CV+ family, Barber et al., Ann.
Statist. 49 (2021) 486). The absolute out-of-fold residuals ``|y - mu_-k(x)|`` of a grouped
K-fold on the training data give the conformal quantile
``q = |r|_(ceil((n + 1)(1 - alpha)))``; a new prediction gets ``mu(x) +/- q * s(x)``. With
``s(x) = 1`` this is the plain interval, valid at level ``1 - alpha`` under exchangeability (up to
the CV+ ``1 - 2 alpha`` worst case). With ``normalised=True`` ``s(x)`` is a difficulty estimate
(the k-nearest-neighbour residual scale), giving narrower intervals where the model is good and
wider ones where it is not (Papadopoulos et al., JAIR 40 (2011) 815); the conformal guarantee
holds the same way because the score ``|r| / s`` is calibrated.

Domain of applicability: the mean Euclidean distance of a row to its ``k`` nearest training
rows in standardised feature space. The threshold is the ``level`` quantile of the same distance
for held-out rows (grouped folds), so that about ``1 - level`` of genuinely new compositions
seen in validation would be flagged, and anything farther than that is out of domain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from sklearn.neighbors import NearestNeighbors


def conformal_quantile(scores: np.ndarray, alpha: float) -> float:
    """The ``ceil((n + 1)(1 - alpha))``-th smallest score (inf if n is too small)."""
    s = np.sort(np.asarray(scores, dtype=float))
    n = len(s)
    k = math.ceil((n + 1) * (1.0 - alpha))
    return float("inf") if k > n else float(s[k - 1])


def _feature_scale(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations; near-constant columns get scale 1.

    The floor is relative (``1e-6`` of the column's magnitude, at least ``1e-6``): a column that
    is constant up to floating-point rounding would otherwise get a standard deviation of
    ``1e-15`` and turn any new value into a huge distance.
    """
    mean = X.mean(axis=0)
    sd = X.std(axis=0)
    floor = 1e-6 * np.maximum(np.abs(mean), 1.0)
    return mean, np.where(sd > floor, sd, 1.0)


def _standardise(X: np.ndarray, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    return (np.asarray(X, dtype=float) - mean) / scale


@dataclass
class Domain:
    """k-NN distance model of the training data in standardised feature space."""

    k: int = 5
    level: float = 0.95

    def fit(self, X: np.ndarray) -> Domain:
        X = np.asarray(X, dtype=float)
        self.mean_, self.scale_ = _feature_scale(X)
        self.train_ = _standardise(X, self.mean_, self.scale_)
        self.nn_ = NearestNeighbors(n_neighbors=min(self.k, len(X))).fit(self.train_)
        self.threshold_ = float("inf")
        return self

    def distance(self, X: np.ndarray, exclude_self: bool = False) -> np.ndarray:
        Z = _standardise(X, self.mean_, self.scale_)
        k = min(self.k + int(exclude_self), len(self.train_))
        d, _ = self.nn_.kneighbors(Z, n_neighbors=k)
        if exclude_self:
            d = d[:, 1:]
        return d.mean(axis=1)

    def calibrate(self, heldout_distances: np.ndarray) -> Domain:
        self.threshold_ = float(np.quantile(heldout_distances, self.level))
        return self

    def in_domain(self, X: np.ndarray) -> np.ndarray:
        return self.distance(X) <= self.threshold_


@dataclass
class ConformalScale:
    """Difficulty estimate ``s(x)``: mean |residual| of the k nearest calibration rows."""

    k: int = 15
    floor: float = 0.25

    def fit(self, X: np.ndarray, abs_residuals: np.ndarray) -> ConformalScale:
        X = np.asarray(X, dtype=float)
        self.mean_, self.scale_ = _feature_scale(X)
        self.res_ = np.asarray(abs_residuals, dtype=float)
        self.global_ = float(np.mean(self.res_)) or 1.0
        self.nn_ = NearestNeighbors(n_neighbors=min(self.k, len(X))).fit(
            _standardise(X, self.mean_, self.scale_)
        )
        return self

    def __call__(self, X: np.ndarray, exclude_self: bool = False) -> np.ndarray:
        k = min(self.k + int(exclude_self), len(self.res_))
        _, idx = self.nn_.kneighbors(_standardise(X, self.mean_, self.scale_), n_neighbors=k)
        if exclude_self:
            idx = idx[:, 1:]
        local = self.res_[idx].mean(axis=1)
        # relative scale, floored so that one lucky neighbourhood cannot collapse an interval
        return np.maximum(local / self.global_, self.floor)


@dataclass
class ConformalInterval:
    """Calibrated symmetric interval ``pred +/- q * s(x)`` at nominal coverage ``1 - alpha``."""

    alpha: float = 0.1
    normalised: bool = True

    def fit(self, X_cal: np.ndarray, y_cal: np.ndarray, oof_pred: np.ndarray) -> ConformalInterval:
        """Calibrate on out-of-fold predictions ``oof_pred`` of rows ``(X_cal, y_cal)``."""
        r = np.abs(np.asarray(y_cal, dtype=float) - np.asarray(oof_pred, dtype=float))
        if self.normalised and len(r) > 30:
            self.scaler_ = ConformalScale().fit(X_cal, r)
            s = self.scaler_(X_cal, exclude_self=True)
        else:
            self.scaler_ = None
            s = np.ones_like(r)
        self.q_ = conformal_quantile(r / s, self.alpha)
        return self

    def half_width(self, X: np.ndarray) -> np.ndarray:
        n = len(X)
        s = self.scaler_(X) if self.scaler_ is not None else np.ones(n)
        return self.q_ * s

    def predict_interval(self, X: np.ndarray, pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h = self.half_width(X)
        return pred - h, pred + h
