"""The batched ask/tell loop (``alloyml.search.runner``) and the samplers (``search.sampler``).

The models are replaced by a closed-form problem of the design (no training, no data): the
objective is the Zn content, one constraint caps it at 8 wt %. What is checked is what the loop
promises: batch sizes, the exact budget, designs stored exactly as evaluated and inside the design
space, constraint values, failed trials kept out, other workers' trials synced in, a seeded run
reproduced, NSGA-II's generations and its no-clone rule.
"""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import optuna
import pytest
import yaml
from optuna.samplers import RandomSampler, TPESampler
from optuna.trial import TrialState

from alloyml.features.presets import get_preset
from alloyml.search import optuna_compat as oc
from alloyml.search.campaign import SamplerSpec, parse_campaign
from alloyml.search.runner import BatchRunner, derive_seed
from alloyml.search.sampler import BatchNSGAIISampler, make_sampler
from alloyml.search.space import Design, DesignSpace
from alloyml.search.storage import open_storage

from .conftest import TEST_PARAMS

ZN_CAP = 8.0


def _campaign(name: str, **over):
    doc = yaml.safe_load(TEST_PARAMS.read_text())
    return parse_campaign(name, doc["search"]["campaigns"][name] | over)


class ZnProblem:
    """Maximise Zn; constraint ``Zn <= ZN_CAP``; optionally a NaN objective above ``nan_above``."""

    def __init__(self, space: DesignSpace, nan_above: float = np.inf) -> None:
        self.space = space
        self.zn = space.elements.index("Zn")
        self.nan_above = nan_above
        self.batches: list[int] = []

    def evaluator(self, wt: np.ndarray, proc: np.ndarray) -> dict[str, np.ndarray]:
        self.batches.append(len(wt))
        return {"zn": wt[:, self.zn].copy(), "n_proc": np.isfinite(proc).sum(axis=1) * 1.0}

    def score(self, designs, ev):
        zn = ev["zn"]
        values = np.where(zn > self.nan_above, np.nan, zn)[:, None]
        return values, {"zn_cap": (zn - ZN_CAP) / ZN_CAP}


def _runner(tmp_path, campaign, seed=42, eval_batch=50, worker="w0", nan_above=np.inf):
    space = DesignSpace(campaign, get_preset("alloy_v1"))
    handle = open_storage(None, tmp_path)
    study = optuna.create_study(
        storage=handle.storage, study_name="s", directions=campaign.directions, load_if_exists=True
    )
    sampler = make_sampler(campaign, seed, eval_batch, space.flat_distributions)
    problem = ZnProblem(space, nan_above)
    return BatchRunner(study, handle, space, problem, sampler, worker), problem


@pytest.fixture(scope="module")
def al_small(tmp_path_factory):
    """130 trials of t_al (NSGA-II, population 50) in rounds of 50: 50 + 50 + 30."""
    c = _campaign("t_al", sampler={"name": "nsga2", "population_size": 50})
    runner, problem = _runner(tmp_path_factory.mktemp("run"), c)
    calls = []
    stats = runner.run(130, 50, progress=lambda done, total, s: calls.append((done, total)))
    return runner, problem, stats, calls


def test_rounds_batches_and_exact_budget(al_small):
    runner, problem, stats, calls = al_small
    assert problem.batches == [50, 50, 30]  # one evaluation per round, the last one trimmed
    assert (stats.n_before, stats.n_new, stats.n_complete, stats.n_rounds) == (0, 130, 130, 3)
    assert calls == [(0, 130), (50, 130), (100, 130), (130, 130)]
    trials = runner.study.get_trials(states=(TrialState.COMPLETE,))
    assert [t.number for t in trials] == list(range(130))
    assert len(runner.study.trials) == 130  # nothing else (no RUNNING or FAIL) reached storage


def test_stored_trials_are_exact_designs_with_their_evaluation(al_small):
    runner, problem, _, _ = al_small
    space = runner.space
    for t in runner.study.get_trials(states=(TrialState.COMPLETE,)):
        assert t.user_attrs["worker"] == "w0"
        design = Design.from_dict(json.loads(t.user_attrs["design"]))
        assert space.violations(design, minimum_total=False) == []
        assert sum(design.wt.values()) == pytest.approx(100.0, abs=1e-9)
        # the design decodes again from the stored parameters
        assert space.decode_flat(t.params).to_dict() == design.to_dict()
        ev = json.loads(t.user_attrs["eval"])
        assert ev["zn"] == design.wt["Zn"] == t.values[0]
        assert t.constraints == {"zn_cap": pytest.approx((design.wt["Zn"] - ZN_CAP) / ZN_CAP)}


def test_nsga2_generations_and_no_parent_clones(al_small):
    runner, _, _, _ = al_small
    sampler = runner.working.sampler
    assert isinstance(sampler, BatchNSGAIISampler) and oc.population_size(sampler) == 50
    key = oc.generation_key(sampler)
    trials = runner.study.get_trials(states=(TrialState.COMPLETE,))
    assert [t.system_attrs[key] for t in trials] == [i // 50 for i in range(130)]
    floats = sorted(
        n for n, d in runner.space.flat_distributions.items()
        if isinstance(d, optuna.distributions.FloatDistribution)
    )  # fmt: skip
    for g in (1, 2):
        parents = sampler.get_parent_population(runner.working, g)
        assert len(parents) == 50
        assert all(p.system_attrs[key] < g for p in parents)
        keys = {tuple(p.params[n] for n in floats) for p in parents}
        children = [t for t in trials if t.system_attrs[key] == g]
        assert children and all(tuple(t.params[n] for n in floats) not in keys for t in children)


def test_seeded_run_is_reproduced_and_another_seed_differs(tmp_path):
    c = _campaign("t_al", sampler={"name": "nsga2", "population_size": 20})

    def params(seed, sub):
        runner, _ = _runner(tmp_path / sub, c, seed=seed, eval_batch=20)
        runner.run(60, 20)
        return [t.params for t in runner.study.get_trials(states=(TrialState.COMPLETE,))]

    a, b, other = params(7, "a"), params(7, "b"), params(8, "c")
    assert a == b
    assert a != other


def test_non_finite_objective_is_not_stored_and_budget_still_met(tmp_path):
    c = _campaign("t_al", sampler={"name": "random"})
    runner, problem = _runner(tmp_path, c, eval_batch=40, nan_above=7.0)
    stats = runner.run(100, 40)
    stored = runner.study.get_trials()
    assert len(stored) == stats.n_complete >= 100
    assert all(t.state == TrialState.COMPLETE and t.values[0] <= 7.0 for t in stored)
    failed = runner.working.get_trials(states=(TrialState.FAIL,))
    assert failed and all(json.loads(t.user_attrs["eval"])["zn"] > 7.0 for t in failed)
    assert sum(problem.batches) == len(stored) + len(failed)


def test_sync_adds_other_workers_trials_once(tmp_path):
    c = _campaign("t_al", sampler={"name": "random"})
    first, _ = _runner(tmp_path, c, worker="w1", eval_batch=10)
    first.run(20, 10)
    second, _ = _runner(tmp_path, c, worker="w2", eval_batch=10)
    assert second.sync() == 20
    assert len(second.working.trials) == 20  # w1's trials, as finished trials
    assert second.sync() == 20 and len(second.working.trials) == 20  # not added twice
    stats = second.run(35, 10)
    assert (stats.n_before, stats.n_new, stats.n_complete) == (20, 15, 35)
    workers = [t.user_attrs["worker"] for t in second.study.get_trials()]
    assert workers.count("w1") == 20 and workers.count("w2") == 15
    assert len(second.working.get_trials(states=(TrialState.COMPLETE,))) == 35


def test_failed_evaluation_marks_the_round_failed_and_raises(tmp_path):
    c = _campaign("t_al", sampler={"name": "random"})
    runner, problem = _runner(tmp_path, c, eval_batch=5)

    def broken(wt, proc):
        raise RuntimeError("model exploded")

    problem.evaluator = broken
    with pytest.raises(RuntimeError, match="exploded"):
        runner.round(5)
    assert [t.state for t in runner.working.trials] == [TrialState.FAIL] * 5
    assert runner.study.trials == []


def test_derive_seed():
    assert derive_seed(42, 0) == 42  # fresh embedded study: base.seed itself
    resumed = derive_seed(42, 120)
    assert resumed != 42 and resumed == derive_seed(42, 120)
    assert derive_seed(42, 0, salt=1) != derive_seed(42, 0, salt=2) != 42
    assert derive_seed(42, 120) != derive_seed(43, 120)


def test_make_sampler_follows_the_campaign():
    al = _campaign("t_al")
    space = DesignSpace(al, get_preset("alloy_v1"))
    s = make_sampler(al, 3, 100, space.flat_distributions)
    assert isinstance(s, BatchNSGAIISampler) and oc.population_size(s) == 100
    assert s.infer_relative_search_space(None, None) == space.flat_distributions
    default = replace(al, sampler=SamplerSpec("nsga2"))
    assert oc.population_size(make_sampler(default, 3, 600, None)) == 250  # capped
    assert oc.population_size(make_sampler(default, 3, 1, None)) == 2  # at least 2
    tpe = make_sampler(_campaign("t_mg_pareto"), 3, 40, None)
    assert isinstance(tpe, TPESampler)
    rnd = make_sampler(replace(al, sampler=SamplerSpec("random")), 3, 10, None)
    assert isinstance(rnd, RandomSampler)
