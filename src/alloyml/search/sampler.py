"""Seeded Optuna samplers for batched ask/tell.

* ``tpe``: :class:`optuna.samplers.TPESampler`, multivariate and grouped (it models the
  conditional parameters of the ``conditional`` encoding), with the constant liar so that the
  trials asked together in one batch do not all land on the same point. Its cost per ask grows
  with the number of finished trials: use it for budgets up to a few thousand evaluations.
* ``nsga2``: :class:`BatchNSGAIISampler`, Optuna's NSGA-II (single- and multi-objective, with the
  constrained-domination rule for trials that carry constraints) with three book-keeping methods
  made incremental. Stock NSGA-II rescans every finished trial on each ask (generation count,
  parent lookup, search-space intersection), which makes a 20,000-evaluation campaign quadratic;
  here the generation count advances with a cursor once per round (:meth:`refresh`, called by
  the runner), each generation's parent population is computed once and kept, and the search
  space is the flat encoding's fixed one. The selection,
  crossover and mutation are Optuna's own.
  The default population is ``min(eval_batch, 250)``: parent selection costs O(population) per
  child. With ``eval_batch`` above the population a round is one generation of ``eval_batch``
  children (NSGA-II with mu = population, lambda = eval_batch).
* ``random``: :class:`optuna.samplers.RandomSampler` (baseline).
"""

from __future__ import annotations

import warnings
from typing import Any

from optuna.distributions import BaseDistribution, FloatDistribution
from optuna.samplers import BaseSampler, NSGAIISampler, RandomSampler, TPESampler
from optuna.study import Study
from optuna.trial import FrozenTrial, TrialState

from alloyml.search import optuna_compat as oc
from alloyml.search.campaign import Campaign


class BatchNSGAIISampler(NSGAIISampler):
    """NSGA-II whose per-ask book-keeping does not grow with the number of trials.

    Args:
        search_space: fixed search space of every trial (the flat encoding); ``None`` falls back
            to Optuna's intersection search space.
        **kwargs: :class:`optuna.samplers.NSGAIISampler` arguments (``population_size``,
            ``seed``, ...).
    """

    def __init__(self, search_space: dict[str, BaseDistribution] | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self._fixed_space = search_space
        self._cursor: dict[int, dict[str, int]] = {}
        self._parents: dict[tuple[int, int], list[FrozenTrial]] = {}
        self._parent_keys: dict[tuple[int, int], set[tuple]] = {}

    def infer_relative_search_space(
        self, study: Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        if self._fixed_space is None:
            return super().infer_relative_search_space(study, trial)
        return dict(self._fixed_space)

    def refresh(self, study: Study) -> None:
        """Count the finished trials per generation, from where the last count stopped.

        The runner calls this once per round (asks within a round see no new finished trial);
        a trial still running stops the cursor until it finishes.
        """
        key = oc.generation_key(self)
        c = self._cursor.setdefault(oc.study_id(study), {"i": 0, "max": 0, "count": 0})
        trials = oc.study_storage(study).get_all_trials(oc.study_id(study), deepcopy=False)
        i = c["i"]
        while i < len(trials):
            t = trials[i]
            if not t.state.is_finished():
                break
            if t.state == TrialState.COMPLETE:
                g = t.system_attrs.get(key, -1)
                if g > c["max"]:
                    c["max"], c["count"] = g, 1
                elif g == c["max"]:
                    c["count"] += 1
            i += 1
        c["i"] = i

    def get_trial_generation(self, study: Study, trial: FrozenTrial) -> int:
        key = oc.generation_key(self)
        generation = trial.system_attrs.get(key)
        if generation is not None:
            return generation
        if oc.study_id(study) not in self._cursor:
            self.refresh(study)
        c = self._cursor[oc.study_id(study)]
        size = oc.population_size(self)
        generation = c["max"] if c["count"] < size else c["max"] + 1
        oc.study_storage(study).set_trial_system_attr(oc.trial_id(trial), key, generation)
        return generation

    def get_parent_population(self, study: Study, generation: int) -> list[FrozenTrial]:
        if generation == 0:
            return []
        k = (oc.study_id(study), generation)
        if k not in self._parents:
            self._parents[k] = self.select_parent(study, generation)
            floats = self._float_names()
            self._parent_keys[k] = {
                tuple(t.params.get(n) for n in floats) for t in self._parents[k]
            }
        return self._parents[k]

    def sample_relative(
        self, study: Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        """Optuna's child, except that a copy of a parent gets one float gene redrawn.

        NSGA-II copies a parent instead of crossing over in ``1 - crossover_prob`` of the
        children and mutates each gene with probability ``1 / n_params`` (a mutated gene is left
        out here and drawn at random later), so about a third of those children are clones, or
        clones up to a categorical gene that may be redrawn to the same value: evaluating one
        again teaches nothing. When every float gene of the child equals a parent's, one of them
        is left out too, so that Optuna draws it independently (NSGA-II's own mutation).
        """
        params = super().sample_relative(study, trial, search_space)
        floats = self._float_names()
        if not params or not floats or any(n not in params for n in floats):
            return params
        generation = self.get_trial_generation(study, trial)
        if tuple(params[n] for n in floats) in self._parent_keys.get(
            (oc.study_id(study), generation), ()
        ):
            params.pop(floats[int(oc.sampler_rng(self).randint(len(floats)))])
        return params

    def _float_names(self) -> list[str]:
        space = self._fixed_space or {}
        return sorted(n for n, d in space.items() if isinstance(d, FloatDistribution))


def make_sampler(
    campaign: Campaign,
    seed: int,
    eval_batch: int,
    flat_space: dict[str, BaseDistribution] | None,
) -> BaseSampler:
    """The campaign's sampler, seeded (``seed`` comes from ``base.seed`` via the runner)."""
    spec = campaign.sampler
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna flags `group`/`constant_liar` as experimental
        if spec.name == "tpe":
            return TPESampler(
                seed=seed,
                multivariate=spec.multivariate,
                group=spec.multivariate and campaign.encoding == "conditional",
                constant_liar=True,
                n_startup_trials=spec.n_startup_trials or eval_batch,
            )
        if spec.name == "nsga2":
            return BatchNSGAIISampler(
                search_space=flat_space if campaign.encoding == "flat" else None,
                population_size=spec.population_size or max(min(eval_batch, 250), 2),
                seed=seed,
            )
        return RandomSampler(seed=seed)
