"""Vectorised evaluation of designs: one featurization and one prediction per model per batch.

:class:`Evaluator` turns a batch of :class:`~alloyml.search.space.Design` into predictions of
every champion model of the system (point, calibrated interval, domain distance) and the density
by the rule of mixtures; where it holds both strength models, a yield strength predicted above
the tensile strength is projected onto YS <= UTS as in ``alloyml predict``
(:mod:`alloyml.modeling.consistency`). :class:`Problem` turns those into the campaign's objective values
(acquisitions), named constraint values (feasible when <= 0) and the domain score.

Acquisitions (``pred``, ``ucb``, ``ei``) come from :mod:`alloyml.search.acquisition`, the module
the discovery backtest uses too, on the quantity's prediction ``mu`` and the Gaussian scale
``sigma = h / z``, ``z = Phi^-1(1 - alpha / 2)``, of an exploration half-width ``h``: for a
model with a spread of its own (a forest's trees, the forest member of a blend) the
split-conformal half-width normalised by that spread
(:class:`alloyml.modeling.uncertainty.SpreadInterval`, calibrated in training on grouped
out-of-fold predictions), which grows where the trees disagree; for other models the in-domain
half-width of the conformal interval. Above the best measured value either is widened to the
extrapolation-calibrated half-width. ``ei`` improves on the best measured value ``f*`` of the
quantity among the campaign's reference alloys.

Domain: each model's domain distance over its calibrated threshold is the model's domain score
(1 = edge of the domain of applicability); the candidate's score is the largest over the models
the campaign uses. The campaign policy adds the constraint ``domain_score <= max_score`` and
moves every objective by ``penalty * |f*| * clip(score - 1, 0, max_score)`` in its worse
direction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from alloyml.compositions import density_rule_of_mixtures
from alloyml.config import DEFAULT_ALPHA
from alloyml.errors import AlloyMLError
from alloyml.features import Featurizer
from alloyml.modeling.bundle import Bundle
from alloyml.modeling.consistency import consistent_strengths
from alloyml.modeling.uncertainty import SpreadInterval
from alloyml.search.acquisition import acquire, interval_z
from alloyml.search.campaign import SPECIFIC, Campaign, Constraint, Objective, quantity_target
from alloyml.search.space import Design, DesignSpace

DENSITY = "density_g_cm3"


class Evaluator:
    """Champion models of one system, compiled for fast batch prediction.

    Args:
        bundles: ``{target: Bundle}`` (all must share one feature preset).
        elements: wt % column order of the designs (balance first), see ``DesignSpace.elements``.
    """

    def __init__(self, bundles: dict[str, Bundle], elements: Sequence[str]) -> None:
        if not bundles:
            raise AlloyMLError("no trained models to search with: run `dvc repro` (train) first")
        presets = {b.meta.get("preset", "alloy_v1") for b in bundles.values()}
        if len(presets) != 1:
            raise AlloyMLError(f"the champion models use different feature presets {presets}")
        self.preset_name = presets.pop()
        self.bundles = dict(bundles)
        for b in self.bundles.values():
            # one thread per model: a forest's threads sum tree outputs in completion order,
            # so thread count changes the last bits of a prediction; the search is run
            # single-threaded (see ``runner``), which makes it reproducible on any machine
            est = b.estimator
            if hasattr(est, "get_params") and "n_jobs" in est.get_params(deep=False):
                est.set_params(n_jobs=1)
        self.elements = tuple(elements)
        self.featurizer = Featurizer(self.preset_name, elements=self.elements)
        labels = {lab: j for j, lab in enumerate(self.featurizer.labels)}
        self._cols: dict[str, np.ndarray] = {}
        for target, b in self.bundles.items():
            missing = [f for f in b.features if f not in labels]
            if missing:
                raise AlloyMLError(
                    f"model {target}: features {missing[:5]} are not produced by preset "
                    f"{self.preset_name!r}; retrain the models"
                )
            self._cols[target] = np.array([labels[f] for f in b.features], dtype=int)
        self.alpha = {t: float(b.meta.get("alpha", DEFAULT_ALPHA)) for t, b in self.bundles.items()}
        self._explore = {t: SpreadInterval.from_meta(b.meta) for t, b in self.bundles.items()}

    @property
    def targets(self) -> list[str]:
        return list(self.bundles)

    def __call__(self, wt: np.ndarray, proc: np.ndarray) -> dict[str, np.ndarray]:
        """Predictions for a batch: ``<t>_pred/_lo/_hi/_score``, ``density_g_cm3``.

        ``_lo`` is floored at 0 (properties are non-negative); ``_score`` is the domain distance
        (k-NN, standardised features) over the model's threshold.
        """
        X = self.featurizer.transform(wt, proc)
        results = {
            t: b.predict(X[:, self._cols[t]], spread=self._explore[t] is not None)
            for t, b in self.bundles.items()
        }
        # a design's yield strength is never ranked above its tensile strength: the pair is
        # projected as `alloyml predict` projects it (when the evaluator has both models)
        results, _ = consistent_strengths(results)
        out: dict[str, np.ndarray] = {}
        for t, b in self.bundles.items():
            r = results[t]
            out[f"{t}_pred"] = r["pred"]
            iv = b.interval
            if "spread" in r:
                # the exploration signal of the acquisitions: the half-width normalised by the
                # model's own spread (trees that disagree), calibrated on grouped out-of-fold
                # predictions (SpreadInterval)
                half_in = self._explore[t].half_width(r["spread"])
            else:
                # no spread: the in-domain (exchangeable) half-width q_in * s(x), rescaled from
                # the Mondrian interval (no second k-NN scale query)
                q_row = np.where(r["in_domain"], iv.q_, getattr(iv, "q_out_", iv.q_))
                safe = np.where(q_row > 0, q_row, 1.0)
                half_in = np.where(q_row > 0, (r["hi"] - r["pred"]) * iv.q_ / safe, 0.0)
            # at the frontier of what was measured the extrapolation-calibrated half-width is
            # the model's uncertainty, in domain or not (issue 11 §5)
            out[f"{t}_half_in"] = iv.frontier_half_width(r["pred"], half_in)
            out[f"{t}_lo"] = np.maximum(r["lo"], 0.0)
            out[f"{t}_hi"] = r["hi"]
            thr = b.domain.threshold_
            score = (
                r["domain_distance"] / thr if np.isfinite(thr) and thr > 0 else np.zeros(len(wt))
            )
            # a process key (family, route family, temper class) too rare in training is out of
            # domain however close the composition: score just above the threshold at least
            rare = r["domain_support"] < b.domain.min_support
            out[f"{t}_score"] = np.where(rare, np.maximum(score, 1.0 + 1e-6), score)
        out[DENSITY] = density_rule_of_mixtures(wt, self.elements)
        return out


@dataclass
class Reference:
    """Measured values the acquisitions and penalties are relative to, per quantity."""

    best: dict[str, float]  # best measured value of each objective quantity (campaign direction)
    scale: dict[str, float]  # |best| (penalty unit), 1 when unknown


class Problem:
    """Objectives, constraints and domain policy of a campaign on evaluated designs.

    Args:
        campaign, space: the campaign and its design space.
        bundles: every champion model of the system.
        reference: measured reference values.

    Attributes:
        evaluator: the models the campaign needs (objectives, constraints, known limits), used
            in the search loop;
        reporter: every model of the system, used once on the chosen candidates (their cards
            show every property).
    """

    def __init__(
        self,
        campaign: Campaign,
        space: DesignSpace,
        bundles: dict[str, Bundle],
        reference: Reference,
    ) -> None:
        self.campaign = campaign
        self.space = space
        self.reference = reference
        missing = [t for t in campaign.targets() if t not in bundles]
        if missing:
            raise AlloyMLError(
                f"campaign {campaign.name!r} needs models for {missing} ({campaign.system}); "
                f"trained: {sorted(bundles)}"
            )
        self.evaluator = Evaluator({t: bundles[t] for t in campaign.targets()}, space.elements)
        self.reporter = Evaluator(bundles, space.elements)
        for o in campaign.objectives:
            if o.acquisition == "ei" and o.quantity not in reference.best:
                raise AlloyMLError(
                    f"campaign {campaign.name!r}: expected improvement on {o.quantity} needs a "
                    "measured reference value, but no reference alloy has it"
                )
        self.domain_targets = campaign.targets()

    @property
    def constraint_names(self) -> list[str]:
        names = [c.name for c in self.campaign.constraints]
        if self.campaign.total_solute_wt[0] > 0:
            names.append("total_solute_min")
        return [*names, "domain"]

    def quantity(self, q: str, ev: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
        """``(pred, lo, hi)`` of a quantity."""
        if q == DENSITY:
            rho = ev[DENSITY]
            return rho, rho, rho
        if q in SPECIFIC:
            t, rho = SPECIFIC[q], ev[DENSITY]
            return ev[f"{t}_pred"] / rho, ev[f"{t}_lo"] / rho, ev[f"{t}_hi"] / rho
        return ev[f"{q}_pred"], ev[f"{q}_lo"], ev[f"{q}_hi"]

    def sigma(self, q: str, ev: dict[str, np.ndarray]) -> np.ndarray:
        t = quantity_target(q)
        if t is None:
            return np.zeros(len(ev[DENSITY]))
        # The exploration bonus is the exploration half-width (spread-normalised, or the
        # in-domain conformal one): the model's own uncertainty. A design out of the domain
        # carries the wider shift-calibrated interval in its card and in its constraints, but
        # being out of domain is never a bonus for UCB or EI beyond what the model's spread
        # says: the campaign's domain policy decides how far out the search may go.
        half = np.maximum(ev[f"{t}_half_in"], 0.0)
        if q in SPECIFIC:
            half = half / ev[DENSITY]
        return half / interval_z(self.evaluator.alpha[t])

    def acquisition(self, objective: Objective, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
        """The objective's acquisition of predictions ``mu`` with Gaussian scale ``sigma``
        (before the domain penalty); the batch fantasies call it on conditioned moments."""
        return acquire(
            objective.acquisition,
            mu,
            sigma,
            best=self.reference.best.get(objective.quantity),
            kappa=objective.kappa,
            maximize=objective.direction == "maximize",
        )

    def domain_score(self, ev: dict[str, np.ndarray]) -> np.ndarray:
        return np.max(np.column_stack([ev[f"{t}_score"] for t in self.domain_targets]), axis=1)

    def score(
        self, designs: Sequence[Design], ev: dict[str, np.ndarray]
    ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Objective values ``(n, n_objectives)`` and named constraint values (feasible <= 0)."""
        c = self.campaign
        n = len(designs)
        dom = self.domain_score(ev)
        # beyond max_score a trial is infeasible anyway: cap the penalty there
        excess = np.clip(dom - 1.0, 0.0, c.domain.max_score)
        values = np.empty((n, len(c.objectives)))
        for k, o in enumerate(c.objectives):
            mu = self.quantity(o.quantity, ev)[0]
            sign = 1.0 if o.direction == "maximize" else -1.0
            sigma = self.sigma(o.quantity, ev) if o.acquisition != "pred" else np.zeros_like(mu)
            v = self.acquisition(o, mu, sigma)
            penalty = c.domain.penalty * self.reference.scale.get(o.quantity, 1.0) * excess
            values[:, k] = v - sign * penalty
        cons: dict[str, np.ndarray] = {}
        for con in c.constraints:
            cons[con.name] = constraint_value(con, self.quantity(con.quantity, ev))
        if c.total_solute_wt[0] > 0:
            total = np.array([self.space.total_solute(d) for d in designs])
            cons["total_solute_min"] = (c.total_solute_wt[0] - total) / c.total_solute_wt[0]
        cons["domain"] = (dom - c.domain.max_score) / c.domain.max_score
        return values, cons


def constraint_value(con: Constraint, q: tuple[np.ndarray, ...]) -> np.ndarray:
    """Relative violation (feasible when <= 0): ``(threshold - v) / |threshold|`` for a floor,
    ``(v - threshold) / |threshold|`` for a ceiling (scale 1 for a zero threshold).

    Relative values make violations of different units comparable: Optuna's samplers rank
    infeasible trials by the sum of their positive constraint values.
    """
    v = {"pred": q[0], "lo": q[1], "hi": q[2]}[con.on]
    scale = abs(con.value) or 1.0
    return (con.value - v) / scale if con.op == ">=" else (v - con.value) / scale
