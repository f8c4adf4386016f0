"""Prediction intervals with a coverage guarantee, and the domain of applicability.

Intervals: split-conformal on cross-validated residuals (the CV+ family, Barber et al., Ann.
Statist. 49 (2021) 486). The absolute out-of-fold residuals ``|y - mu_-k(x)|`` of a grouped
K-fold on the training data give the conformal quantile
``q = |r|_(ceil((n + 1)(1 - alpha)))``; a new prediction gets ``mu(x) +/- q * s(x)``. With
``s(x) = 1`` this is the plain interval, valid at level ``1 - alpha`` under exchangeability (up to
the CV+ ``1 - 2 alpha`` worst case). With ``normalised=True`` ``s(x)`` is a difficulty estimate
(the k-nearest-neighbour residual scale), giving narrower intervals where the model is good and
wider ones where it is not (Papadopoulos et al., JAIR 40 (2011) 815); the conformal guarantee
holds the same way because the score ``|r| / s`` is calibrated. A calibration row's own scale
skips the rows of its composition group (and a shifted row's, the rows of its source or
family): grouped folds hold a group out together, so group mates share an error, and with them
among the neighbours the scale would follow the row's own residual and the quantile would come
out too small for a new alloy (Al UTS grouped coverage 0.874 at nominal 0.90 before, 0.922 after).

Domain of applicability: the mean Euclidean distance of a row to its ``k`` nearest training
rows in standardised feature space. The threshold is the ``level`` quantile of the same distance
for held-out rows (grouped folds), so that about ``1 - level`` of genuinely new compositions
seen in validation would be flagged, and anything farther than that is out of domain. A
composition can be close to training rows in that space and still be new where it matters: a
cast Mg-RE alloy in the as-cast state when training holds only extruded or heat-treated Mg-RE
rows. With ``support_groups`` the domain also counts the training rows that share the row's
*process key* (alloy family, route family, temper class: the argmax of each one-hot group) and
flags a row whose key has fewer than ``min_support`` training rows.

Intervals under shift (Mondrian conformal prediction, V. Vovk, A. Gammerman, G. Shafer,
*Algorithmic Learning in a Random World*, Springer 2005, ch. 4; for regression H. Boström,
U. Johansson, Proc. COPA 2020, PMLR 128:90): calibration rows are split into two categories,
in and out of the domain of applicability, and each category gets its own conformal quantile,
so the coverage guarantee holds within each category. Rows out of domain are mostly rows of a
source or alloy family the model did not see, so their residuals come from *shift*
cross-validation (leave-sources-out or leave-families-out folds, see :mod:`alloyml.modeling.train`); an
input the domain model flags gets the interval width measured on such shifted rows. Where both
kinds of shift can be measured (Al: several sources, several families) the out-of-domain
category pools the residuals of both: a flagged row may come from a new lab or be of a family
the model has not seen, and its interval must hold for either.

Intervals at the frontier (issue 11 §5): a tree ensemble never predicts above the strongest
alloy it saw, so an alloy stronger than every measured one is predicted at the top of the data,
too low. The extrapolation protocol measures this (train below the top decile, predict it; see
:meth:`ConformalInterval.fit_frontier`): the held-out alloys are under-predicted, and their
predictions sit a gap under the best value the protocol's model was trained on (taken where
``1 - alpha`` of them reach). A prediction of the final model at or above its own best training
value less that gap is at the frontier: its *upper* bound is raised to the split-conformal
quantile, at level ``1 - alpha / 2``, of the signed residuals ``y - pred`` of the held-out top
decile, whatever its domain flag. The lower bound keeps its calibration: at the frontier the
model errs low, and a design predicted strong is no weaker for being at the top of the data.

Exploration width (issue 11): the campaigns and the discovery backtest rank designs by an
optimistic bound ``mu + kappa sigma``. The interval above is calibrated on measured alloys and
its neighbour-residual scale does not grow for a design unlike anything measured, so it says
little about where to look. :class:`SpreadInterval` is the split-conformal interval normalised
by the model's own spread (tree-to-tree standard deviation of a forest, a GP's predictive
standard deviation; :func:`alloyml.modeling.models.predict_with_spread`), calibrated on the same
grouped out-of-fold predictions, which widens where the model has seen nothing alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

# scikit-learn's NearestNeighbors is imported where a model is fitted: a loaded bundle searches
# neighbours with alloyml.modeling.compact.Neighbours, so prediction does not import scikit-learn.
from alloyml.config import DEFAULT_ALPHA


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


def process_keys(X: np.ndarray, groups: tuple[tuple[int, ...], ...]) -> np.ndarray:
    """Integer key per row: the argmax of each one-hot column group, combined (-1 = no groups)."""
    X = np.asarray(X, dtype=float)
    if not groups:
        return np.full(len(X), -1, dtype=np.int64)
    key = np.zeros(len(X), dtype=np.int64)
    for cols in groups:
        block = X[:, list(cols)]
        key = key * (len(cols) + 1) + np.where(
            block.max(axis=1) > 0, block.argmax(axis=1), len(cols)
        )
    return key


@dataclass
class Domain:
    """k-NN distance model of the training data, plus process-key support (see module docstring).

    Args:
        k: neighbours averaged in the distance.
        level: quantile of held-out distances used as the threshold.
        support_groups: column index groups of the one-hot encodings forming the process key.
        min_support: training rows a process key needs for a row to be in domain.
    """

    k: int = 5
    level: float = 0.95
    support_groups: tuple[tuple[int, ...], ...] = ()
    min_support: int = 5

    def fit(self, X: np.ndarray) -> Domain:
        from sklearn.neighbors import NearestNeighbors

        X = np.asarray(X, dtype=float)
        self.mean_, self.scale_ = _feature_scale(X)
        self.train_ = _standardise(X, self.mean_, self.scale_)
        self.nn_ = NearestNeighbors(n_neighbors=min(self.k, len(X))).fit(self.train_)
        self.threshold_ = float("inf")
        keys, counts = np.unique(process_keys(X, self.support_groups), return_counts=True)
        self.support_keys_, self.support_counts_ = keys, counts
        return self

    def support(self, X: np.ndarray) -> np.ndarray:
        """Training rows sharing each row's process key (all rows when there is no key)."""
        if not self.support_groups:
            return np.full(len(X), len(self.train_), dtype=np.int64)
        keys = process_keys(X, self.support_groups)
        pos = np.searchsorted(self.support_keys_, keys)
        pos = np.clip(pos, 0, len(self.support_keys_) - 1)
        hit = self.support_keys_[pos] == keys
        return np.where(hit, self.support_counts_[pos], 0)

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
        return (self.distance(X) <= self.threshold_) & (self.support(X) >= self.min_support)


@dataclass
class ConformalScale:
    """Difficulty estimate ``s(x)``: mean |residual| of the k nearest calibration rows."""

    k: int = 15
    floor: float = 0.25

    def fit(self, X: np.ndarray, abs_residuals: np.ndarray) -> ConformalScale:
        from sklearn.neighbors import NearestNeighbors

        X = np.asarray(X, dtype=float)
        self.mean_, self.scale_ = _feature_scale(X)
        self.res_ = np.asarray(abs_residuals, dtype=float)
        self.global_ = float(np.mean(self.res_)) or 1.0
        self.nn_ = NearestNeighbors(n_neighbors=min(self.k, len(X))).fit(
            _standardise(X, self.mean_, self.scale_)
        )
        return self

    def __call__(
        self,
        X: np.ndarray,
        exclude_self: bool = False,
        labels: np.ndarray | None = None,
        fit_labels: np.ndarray | None = None,
    ) -> np.ndarray:
        """Scale of each row of ``X``.

        Args:
            exclude_self: ``X`` are the calibration rows themselves; skip each row's own entry.
            labels, fit_labels: a label of each row of ``X`` and of each calibration row (a
                composition group, a source); neighbours sharing the row's label are skipped.
                A calibration row scored this way sees what a new row of an unseen group or
                source sees: only other groups' residuals. With ``exclude_self`` alone its
                group mates (the same composition in other tempers or tests, held out with it
                and so sharing its error) sit among its neighbours, the scale tracks its own
                residual, and the calibrated quantile comes out too small for new groups.
        """
        if (labels is None) != (fit_labels is None):
            raise ValueError("ConformalScale: give both labels and fit_labels, or neither")
        Z = _standardise(X, self.mean_, self.scale_)
        if labels is None:
            k = min(self.k + int(exclude_self), len(self.res_))
            _, idx = self.nn_.kneighbors(Z, n_neighbors=k)
            if exclude_self:
                idx = idx[:, 1:]
            local = self.res_[idx].mean(axis=1)
        else:
            labels, fit_labels = np.asarray(labels), np.asarray(fit_labels)
            _, counts = np.unique(fit_labels, return_counts=True)
            kk = min(self.k + int(counts.max()), len(self.res_))
            _, idx = self.nn_.kneighbors(Z, n_neighbors=kk)
            keep = fit_labels[idx] != labels[:, None]
            keep &= np.cumsum(keep, axis=1) <= self.k
            n_keep = keep.sum(axis=1)
            total = (self.res_[idx] * keep).sum(axis=1)
            local = np.where(n_keep > 0, total / np.maximum(n_keep, 1), self.global_)
        # relative scale, floored so that one lucky neighbourhood cannot collapse an interval
        return np.maximum(local / self.global_, self.floor)


@dataclass
class SpreadInterval:
    """Half-width ``q * max(spread(x), floor)``: split-conformal, normalised by the model's spread.

    ``q`` is the conformal quantile of ``|y - pred| / max(spread, floor)`` over out-of-fold
    predictions, so ``pred +/- q max(spread, floor)`` covers ``1 - alpha`` of exchangeable rows
    (normalised conformal, Papadopoulos et al. 2011; Johansson et al., Mach. Learn. 97 (2014)
    155). ``floor`` (a ``floor_share`` of the median calibration spread) keeps a row where every
    tree agrees from getting a zero width.

    >>> iv = SpreadInterval(alpha=0.5).fit(np.array([1.0, 2.0, 4.0]), np.zeros(3),
    ...                                    np.array([1.0, 1.0, 2.0]))
    >>> iv.q_, iv.half_width(np.array([0.0, 3.0])).tolist()
    (2.0, [0.1, 6.0])
    """

    alpha: float = DEFAULT_ALPHA
    floor_share: float = 0.05

    def fit(self, y: np.ndarray, pred: np.ndarray, spread: np.ndarray) -> SpreadInterval:
        spread = np.asarray(spread, dtype=float)
        self.floor_ = max(self.floor_share * float(np.median(spread)), 1e-12)
        r = np.abs(np.asarray(y, dtype=float) - np.asarray(pred, dtype=float))
        score = r / np.maximum(spread, self.floor_)
        q = conformal_quantile(score, self.alpha)
        self.q_ = float(q if math.isfinite(q) else np.max(score))
        return self

    def half_width(self, spread: np.ndarray) -> np.ndarray:
        return self.q_ * np.maximum(np.asarray(spread, dtype=float), self.floor_)

    @classmethod
    def from_meta(cls, meta: dict) -> SpreadInterval | None:
        """The calibration a bundle's ``meta.json`` stores (``q_spread``, ``spread_floor``),
        or None for a model trained without one."""
        if "q_spread" not in meta:
            return None
        iv = cls(alpha=float(meta.get("alpha", DEFAULT_ALPHA)))
        iv.q_, iv.floor_ = float(meta["q_spread"]), float(meta["spread_floor"])
        return iv


@dataclass
class ShiftCalibration:
    """Out-of-fold residuals of shifted rows (held-out sources or families) for Mondrian intervals.

    Attributes:
        X: features of the held-out rows.
        y: their measured values.
        pred: predictions of models that did not see their source (or family).
        in_domain: the domain flag of each row relative to the training part that predicted it.
        labels: the source (or family) of each row, and ``cal_labels`` that of each calibration
            row of the interval: a row's difficulty scale then skips neighbours of its own
            source, as it would for a row of a source the model has not seen. None: the scale
            of an unseen row (every calibration row a possible neighbour).
    """

    X: np.ndarray
    y: np.ndarray
    pred: np.ndarray
    in_domain: np.ndarray
    labels: np.ndarray | None = None
    cal_labels: np.ndarray | None = None


@dataclass
class ConformalInterval:
    """Calibrated symmetric interval ``pred +/- q * s(x)`` at nominal coverage ``1 - alpha``.

    Without shift calibration one quantile ``q_`` serves every row. With it (Mondrian by
    domain, see the module docstring) ``q_`` serves rows in domain and ``q_out_`` rows out of it.

    ``normalised`` asks for the difficulty scale ``s(x)``; it is used when the calibration has
    more than 30 rows and, when its composition groups are given, at least ``min_groups`` of
    them. A row's scale averages the residuals of ``k = 15`` neighbours outside its own group;
    with few groups those neighbours come from one or two other compositions, and the scale
    describes them rather than the row. Mg hardness (278 rows in 14 groups, one source, the
    largest group 64 rows) showed it: calibration rows' scales 0.25-1.14 (q10-q90) against
    1.26-2.06 for held-out groups, so the normalised quantile came out at 41 and grouped
    coverage at 0.95 with a mean width of 79 HV, where plain intervals gave 31-34 HV and
    coverage 0.78-0.96 over three seeds of the grouped folds (0.89 on average; with 14 groups a
    fold's coverage rides on two or three compositions). Every other target has 600 groups or
    more.
    """

    alpha: float = DEFAULT_ALPHA
    normalised: bool = True
    min_groups: int = 30

    def fit(
        self,
        X_cal: np.ndarray,
        y_cal: np.ndarray,
        oof_pred: np.ndarray,
        in_domain_cal: np.ndarray | None = None,
        shift: ShiftCalibration | Sequence[ShiftCalibration] | None = None,
        groups: np.ndarray | None = None,
    ) -> ConformalInterval:
        """Calibrate on out-of-fold predictions ``oof_pred`` of rows ``(X_cal, y_cal)``.

        Args:
            in_domain_cal: domain flag of each calibration row relative to the model that
                predicted it (grouped folds); None = all in domain.
            shift: residuals of held-out sources or families, or several such calibrations
                (sources and families); their out-of-domain rows (and the out-of-domain
                grouped rows) calibrate ``q_out_``.
            groups: the composition group of each calibration row (the groups the
                out-of-fold predictions held out together); a row's difficulty scale then
                skips its group mates (:meth:`ConformalScale.__call__`), and fewer than
                ``min_groups`` of them give plain (unnormalised) intervals. None: a row's
                scale skips only itself.
        """
        r = np.abs(np.asarray(y_cal, dtype=float) - np.asarray(oof_pred, dtype=float))
        enough_groups = groups is None or len(np.unique(groups)) >= self.min_groups
        if self.normalised and len(r) > 30 and enough_groups:
            self.scaler_ = ConformalScale().fit(X_cal, r)
            s = self.scaler_(X_cal, exclude_self=True, labels=groups, fit_labels=groups)
        else:
            self.scaler_ = None
            s = np.ones_like(r)
        score = r / s
        self.scores_ = score  # the calibration scores (the training's calibration curve)
        self.q_ = conformal_quantile(score, self.alpha)
        self.q_out_ = self.q_
        shifts = [shift] if isinstance(shift, ShiftCalibration) else list(shift or ())
        shifts = [sh for sh in shifts if len(sh.y)]
        if shifts:
            s_scores, s_doms = [], []
            for sh in shifts:
                rs = np.abs(np.asarray(sh.y, dtype=float) - np.asarray(sh.pred, dtype=float))
                ss = (
                    self.scaler_(sh.X, labels=sh.labels, fit_labels=sh.cal_labels)
                    if self.scaler_ is not None
                    else np.ones_like(rs)
                )
                s_scores.append(rs / ss)
                s_doms.append(np.asarray(sh.in_domain, dtype=bool))
            s_score, sdom = np.concatenate(s_scores), np.concatenate(s_doms)
            dom = np.ones(len(r), bool) if in_domain_cal is None else np.asarray(in_domain_cal)
            out_scores = np.concatenate([score[~dom], s_score[~sdom]])
            if len(out_scores) < math.ceil(1.0 / self.alpha):  # too few to calibrate alone
                out_scores = np.concatenate([out_scores, s_score])
            q_out = conformal_quantile(out_scores, self.alpha)
            if not math.isfinite(q_out):
                q_out = float(np.max(out_scores))
            self.q_out_ = max(self.q_, q_out)
        return self

    def fit_frontier(
        self,
        y_train: np.ndarray,
        y_top: np.ndarray,
        pred_top: np.ndarray,
        y_protocol: np.ndarray,
    ) -> ConformalInterval:
        """Calibrate the upper bound of a prediction at the frontier of the measured values.

        ``(y_top, pred_top)`` are the rows of the extrapolation protocol (a model trained on the
        rows of ``y_train`` below the top decile, predicting the rows of the top decile) and
        their predictions. The protocol's model put ``1 - alpha`` of those alloys, each stronger
        than any it was trained on, at or above a gap ``g = max(y below the top decile) -
        quantile(pred_top, alpha)`` under its own best training value. ``frontier_`` becomes
        ``max(y_train) - g``: the level above which the model trained on *all* of ``y_train`` is
        expected to place most alloys stronger than any it saw (the same gap under its own best
        training value). ``q_frontier_`` becomes the
        split-conformal quantile (J. Lei et al., J. Am. Stat. Assoc. 113 (2018) 1094) at level
        ``1 - alpha / 2`` of the signed residuals ``y_top - pred_top``: the upper side's share of
        the miscoverage, the lower bound being left to the interval's own calibration. A
        prediction at or above ``frontier_`` gets an upper half-width of at least
        ``q_frontier_`` (:meth:`frontier_half_width`).

        Why not the best measured value as the threshold: a forest's prediction is an average
        of training targets and never exceeds it, so the widening would never apply to the
        models that need it most. Why not a level of ``pred_top`` itself: that level is where a
        model *without* the top decile saturates; the model that uses the frontier was trained
        with it and reaches higher, so well-measured strong alloys would be raised too (with the
        median of ``pred_top`` as the frontier, 7075-T651's yield strength, predicted 502 MPa,
        had an upper bound near 800 MPa). Why the ``alpha`` quantile and not the median: the gap
        grows with the level (scratch runs, Al UTS with extra trees: 40 MPa one decile down,
        53 MPa at the top decile), so a median gap raised under a third of the protocol's
        held-out rows. The gap is clipped at zero, so a prediction above the best measured value
        is always at the frontier.

        ``y below the top decile`` is ``y_protocol``, the targets the protocol's model was
        trained on (:func:`alloyml.modeling.validation.extrapolation_split` leaves out the rows
        whose composition group has a top-decile row, so its best training value can sit under
        the best value below the top decile).
        """
        y_train = np.asarray(y_train, dtype=float)
        y_top = np.asarray(y_top, dtype=float)
        pred_top = np.asarray(pred_top, dtype=float)
        if len(y_top) == 0:
            self.frontier_ = float(np.max(y_train))
            self.q_frontier_ = 0.0
            return self
        r = y_top - pred_top
        below = np.asarray(y_protocol, dtype=float)
        level = float(np.quantile(pred_top, self.alpha))
        gap = max(float(np.max(below)) - level, 0.0) if len(below) else 0.0
        self.frontier_ = float(np.max(y_train)) - gap
        q = conformal_quantile(r, self.alpha / 2.0)
        self.q_frontier_ = max(float(q if math.isfinite(q) else np.max(r)), 0.0)
        return self

    def calibrate_frontier(
        self,
        y: np.ndarray,
        groups: np.ndarray,
        quantile: float,
        fit_predict: Callable[[np.ndarray, np.ndarray], np.ndarray],
    ) -> bool:
        """Run the extrapolation protocol on the rows the model is fit on and calibrate the
        frontier with it (:meth:`fit_frontier`); the training stage and the discovery backtest
        share this. ``fit_predict(train_idx, test_idx)`` fits the model on the rows below the
        ``quantile`` of ``y`` and returns its predictions for the rows above it. Returns False,
        leaving the frontier uncalibrated, when there are too few rows for the split."""
        from alloyml.modeling.validation import extrapolation_split

        splits = extrapolation_split(y, groups, quantile)
        if not splits:
            return False
        tr, te = splits[0]
        y = np.asarray(y, dtype=float)
        self.fit_frontier(y, y[te], fit_predict(tr, te), y[tr])
        return True

    def frontier_half_width(self, pred: np.ndarray, half: np.ndarray) -> np.ndarray:
        """Upper half-width: ``half`` raised to ``q_frontier_`` where ``pred`` is at or above
        ``frontier_`` (the exploration width of the campaigns uses it too)."""
        front = getattr(self, "frontier_", math.inf)
        q_front = getattr(self, "q_frontier_", 0.0)
        at_front = np.asarray(pred, dtype=float) >= front
        return np.where(at_front, np.maximum(half, q_front), half)

    def half_width(self, X: np.ndarray, in_domain: np.ndarray | None = None) -> np.ndarray:
        n = len(X)
        s = self.scaler_(X) if self.scaler_ is not None else np.ones(n)
        q_out = getattr(self, "q_out_", self.q_)
        if in_domain is None:
            return self.q_ * s
        return np.where(np.asarray(in_domain, dtype=bool), self.q_, q_out) * s

    def predict_interval(
        self, X: np.ndarray, pred: np.ndarray, in_domain: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        pred = np.asarray(pred, dtype=float)
        h = self.half_width(X, in_domain)
        return pred - h, pred + self.frontier_half_width(pred, h)
