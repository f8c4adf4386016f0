"""The Optuna internals alloyml relies on (``alloyml.search.optuna_compat``) still behave.

Each test names the internal it checks: after an Optuna upgrade, a failure here says which part of
``optuna_compat`` to adapt, before any search runs into it.
"""

from __future__ import annotations

import ast
import re
import warnings
from pathlib import Path

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import BaseJournalBackend

from alloyml.search import optuna_compat as oc


class _Recorder(BaseJournalBackend):
    def __init__(self) -> None:
        self.logs: list[dict] = []

    def read_logs(self, log_number_from: int) -> list[dict]:
        return self.logs[log_number_from:]

    def append_logs(self, logs: list[dict]) -> None:
        self.logs.extend(logs)


def _finished(n: int) -> list[optuna.trial.FrozenTrial]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    mem = optuna.create_study()
    out = []
    for i in range(n):
        t = mem.ask()
        t.suggest_float("x", 0, 1)
        out.append(mem.tell(t, float(i)))
    return out


def test_installed_optuna_is_a_tested_version():
    major_minor = ".".join(optuna.__version__.split(".")[:2])
    assert major_minor in oc.TESTED, (
        f"Optuna {optuna.__version__} is not among the versions alloyml.search.optuna_compat was "
        f"checked against {oc.TESTED}: run tests/search, adapt optuna_compat, then extend TESTED "
        "and the bound in pyproject.toml"
    )


def test_add_trials_writes_one_complete_trial_creation_per_trial():
    backend = _Recorder()
    study = optuna.create_study(storage=JournalStorage(backend), study_name="s")
    before = len(backend.logs)
    study.add_trials(_finished(3))
    entries = backend.logs[before:]
    assert len(entries) == 3
    assert all(e["op_code"] == oc.CREATE_TRIAL for e in entries)
    assert all(oc.is_complete_trial_creation(e) for e in entries)
    study.set_user_attr("k", 1)
    assert not oc.is_complete_trial_creation(backend.logs[-1])


def test_deferred_creation_works_before_any_trial_was_created():
    class Deferred(_Recorder):
        held: list[dict] | None = None

        def append_logs(self, logs: list[dict]) -> None:
            if self.held is None:
                super().append_logs(logs)
            else:
                self.held.extend(logs)

    backend = Deferred()
    storage = JournalStorage(backend)
    study = optuna.create_study(storage=storage, study_name="s")
    oc.prepare_deferred_creation(storage)
    backend.held = []
    study.add_trials(_finished(4))  # nothing written yet: create_new_trial must not fail
    held, backend.held = backend.held, None
    backend.append_logs(held)
    assert [t.value for t in study.trials] == [0.0, 1.0, 2.0, 3.0]


def test_study_and_trial_ids():
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage, study_name="s")
    study.add_trials(_finished(2))
    assert oc.study_storage(study) is storage
    assert oc.study_id(study) == storage.get_study_id_from_name("s")
    for t in study.trials:
        assert oc.trial_id(t) == storage.get_trial_id_from_study_id_trial_number(
            oc.study_id(study), t.number
        )


def test_nsga2_internals():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sampler = optuna.samplers.NSGAIISampler(population_size=4, seed=0)
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=10)
    key = oc.generation_key(sampler)
    assert [t.system_attrs[key] for t in study.trials] == [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]
    assert oc.population_size(sampler) == 4
    assert 0 <= int(oc.sampler_rng(sampler).randint(5)) < 5


def test_shared_trial_is_added_as_an_equal_independent_trial():
    original = _finished(1)[0]
    original.set_user_attr("design", "{}")
    study = optuna.create_study()
    study.add_trials([oc.shared_trial(original)])
    added = study.trials[0]
    assert (added.params, added.distributions, added.values, added.user_attrs) == (
        original.params, original.distributions, original.values, original.user_attrs
    )  # fmt: skip
    assert added.params is not original.params  # containers copied, not shared
    study.trials[0].user_attrs["x"] = 1  # a copy of the stored trial: the original is untouched
    assert "x" not in original.user_attrs and study.trials[0].number == 0


def test_journal_replay_uses_the_memoised_distribution_parser():
    oc.cache_journal_distributions()
    oc.cache_journal_distributions()  # idempotent: one cache, not a cache of a cache
    backend = _Recorder()
    study = optuna.create_study(storage=JournalStorage(backend), study_name="s")
    study.add_trials(_finished(3))
    # a second process's replay of the same journal: equal distributions, parsed once
    replayed = optuna.load_study(study_name="s", storage=JournalStorage(backend)).trials
    dists = [t.distributions["x"] for t in replayed]
    assert dists[0] == optuna.distributions.FloatDistribution(0, 1)
    assert dists[0] is dists[1] is dists[2]


def test_nsga2_child_sampling_goes_through_the_overridable_hooks():
    """``BatchNSGAIISampler`` counts generations and caches parents by overriding NSGA-II's
    ``get_trial_generation`` / ``get_parent_population`` (which calls ``select_parent``): Optuna's
    ``sample_relative`` must still call them, or the overrides would silently do nothing."""
    calls: dict[str, int] = {"get_trial_generation": 0, "get_parent_population": 0}

    class Spy(optuna.samplers.NSGAIISampler):
        def get_trial_generation(self, study, trial):
            calls["get_trial_generation"] += 1
            return super().get_trial_generation(study, trial)

        def get_parent_population(self, study, generation):
            calls["get_parent_population"] += 1
            parents = self.select_parent(study, generation) if generation > 0 else []
            assert generation == 0 or len(parents) == oc.population_size(self)
            return parents

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sampler = Spy(population_size=4, seed=0)
    study = optuna.create_study(sampler=sampler)
    study.optimize(lambda t: t.suggest_float("x", 0, 1) + t.suggest_float("y", 0, 1), n_trials=10)
    assert calls["get_trial_generation"] >= 10
    assert calls["get_parent_population"] >= 6  # the children of generations 1 and 2


def _private_optuna_uses(path: Path) -> list[str]:
    """Private Optuna API in one module: imports from private modules or of private names,
    private attributes inherited by a subclass of an Optuna class, and, in a module that imports
    Optuna, any ``obj._name`` on something other than ``self`` / ``cls``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[str] = []
    optuna_names: set[str] = set()
    uses_optuna = False
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "optuna":
            uses_optuna = True
            optuna_names |= {a.asname or a.name for a in node.names}
            parts = node.module.split(".") + [a.name for a in node.names]
            if any(p.startswith("_") for p in parts):
                found.append(f"{path.name}:{node.lineno}: import from {node.module}")
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] == "optuna":
                    uses_optuna = True
                    if any(p.startswith("_") for p in a.name.split(".")):
                        found.append(f"{path.name}:{node.lineno}: import {a.name}")
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        bases = {ast.unparse(b) for b in cls.bases}
        if not any(b in optuna_names or b.startswith("optuna.") for b in bases):
            continue
        own = {f.name for f in cls.body if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)}
        attrs = [n for n in ast.walk(cls) if isinstance(n, ast.Attribute)]
        own |= {n.attr for n in attrs if isinstance(n.ctx, ast.Store)}
        for n in attrs:
            if (isinstance(n.value, ast.Name) and n.value.id in ("self", "cls")
                    and n.attr.startswith("_") and not n.attr.startswith("__")
                    and n.attr not in own):  # fmt: skip
                found.append(f"{path.name}:{n.lineno}: {cls.name} uses inherited {n.attr}")
    if uses_optuna:
        for n in ast.walk(tree):
            if (isinstance(n, ast.Attribute) and n.attr.startswith("_")
                    and not n.attr.startswith("__") and n.attr not in NAMEDTUPLE_API
                    and not (isinstance(n.value, ast.Name) and n.value.id in ("self", "cls"))):  # fmt: skip
                found.append(f"{path.name}:{n.lineno}: {ast.unparse(n)}")
    return found


NAMEDTUPLE_API = {"_replace", "_fields", "_asdict", "_make"}


def test_private_optuna_api_only_in_optuna_compat():
    package = Path(oc.__file__).resolve().parents[1]
    modules = [p for p in sorted(package.rglob("*.py")) if p.name != "optuna_compat.py"]
    assert len(modules) > 20
    found = [use for p in modules for use in _private_optuna_uses(p)]
    assert not found, "private Optuna API outside alloyml.search.optuna_compat:\n" + "\n".join(
        found
    )
    # the scan itself finds what it looks for
    assert _private_optuna_uses(Path(oc.__file__))


def test_pyproject_bounds_optuna_to_the_tested_versions():
    text = (Path(oc.__file__).resolve().parents[3] / "pyproject.toml").read_text(encoding="utf-8")
    bound = re.search(r'"optuna>=([0-9.]+),<([0-9.]+)"', text)
    assert bound, "pyproject.toml must bound optuna from above (private API in optuna_compat)"
    lo, hi = (tuple(int(x) for x in v.split(".")) for v in bound.groups())
    for version in oc.TESTED:
        assert lo <= tuple(int(x) for x in version.split(".")) < hi
    assert hi <= (lo[0], lo[1] + len(oc.TESTED))  # nothing untested allowed above
