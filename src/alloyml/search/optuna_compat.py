"""Every use of Optuna's private API in alloyml, in one place.

alloyml relies on a few Optuna internals that have no public equivalent:

* the journal's log format: the op code of a trial creation and the replay state's "last trial
  created by this process" (grouped journal writes, :mod:`.storage` and :mod:`.team`);
* a study's storage and storage id (:class:`~alloyml.search.sampler.BatchNSGAIISampler`, which
  reads the trials and stores each trial's generation the way Optuna's NSGA-II does);
* NSGA-II's generation key, population size and random state;
* the journal replay's parser of parameter distributions, which :func:`cache_journal_distributions`
  memoises.

:class:`~alloyml.search.sampler.BatchNSGAIISampler` also relies on NSGA-II's child sampling going
through the public, overridable ``get_trial_generation`` / ``get_parent_population`` hooks.

``tests/search/test_optuna_compat.py`` checks each of them against the installed Optuna, so an
upgrade that moves one fails there, loudly, instead of deep inside a search; it also scans the
package for private Optuna API outside this module. ``pyproject.toml`` bounds Optuna to the
versions that passed (:data:`TESTED`), which the same test checks.
"""

from __future__ import annotations

import functools
from typing import Any

import optuna
from optuna.samplers import NSGAIISampler
from optuna.storages import BaseStorage, JournalStorage
from optuna.storages.journal import _storage as _journal_storage
from optuna.storages.journal._storage import JournalOperation

#: Optuna versions (major.minor prefixes) this module was checked against.
TESTED = ("5.0",)

#: Op code of a trial creation in an Optuna journal (one log entry, one trial, when the trial is
#: created from a finished template as :meth:`optuna.study.Study.add_trials` does).
CREATE_TRIAL: int = int(JournalOperation.CREATE_TRIAL)


def is_complete_trial_creation(entry: dict[str, Any]) -> bool:
    """True for a journal entry that creates one COMPLETE trial from a template."""
    return (
        entry.get("op_code") == CREATE_TRIAL
        and entry.get("state") == optuna.trial.TrialState.COMPLETE
    )


def prepare_deferred_creation(storage: BaseStorage) -> None:
    """Let ``JournalStorage.create_new_trial`` run while its log entry is not written yet.

    ``create_new_trial`` returns the id of the trial it just wrote by reading the journal back;
    when the write is deferred (a grouped write, see :mod:`.storage`) it returns the previous one
    (``Study.add_trials`` ignores it). Before this process created any trial, that attribute of
    the replay state does not exist: it is initialised to -1, as Optuna does on restore.
    """
    if not isinstance(storage, JournalStorage):
        return
    replay = storage._replay_result
    if not hasattr(replay, "_last_created_trial_id_by_this_process"):
        replay._last_created_trial_id_by_this_process = -1


def study_storage(study: optuna.Study) -> BaseStorage:
    """The storage object of ``study``."""
    return study._storage


def study_id(study: optuna.Study) -> int:
    """The storage's id of ``study``."""
    return study._study_id


def trial_id(trial: optuna.trial.FrozenTrial) -> int:
    """The storage's id of ``trial``."""
    return trial._trial_id


def generation_key(sampler: NSGAIISampler) -> str:
    """System attribute under which NSGA-II stores a trial's generation."""
    return sampler._get_generation_key()


def population_size(sampler: NSGAIISampler) -> int:
    size = sampler._population_size
    assert size is not None, "NSGA-II population size must be set"
    return int(size)


def sampler_rng(sampler: NSGAIISampler) -> Any:
    """NSGA-II's seeded :class:`numpy.random.RandomState`."""
    return sampler._rng.rng


class _SharedTrial(optuna.trial.FrozenTrial):
    """A finished trial whose deep copies share its values (see :func:`shared_trial`)."""

    def __deepcopy__(self, memo: dict[int, Any]) -> _SharedTrial:
        twin = _SharedTrial.__new__(_SharedTrial)
        for name, value in vars(self).items():
            if isinstance(value, dict):
                value = dict(value)
            elif isinstance(value, list):
                value = list(value)
            twin.__dict__[name] = value
        return twin


def shared_trial(trial: optuna.trial.FrozenTrial) -> optuna.trial.FrozenTrial:
    """A view of a finished trial that storages copy in O(number of fields), not in depth.

    ``InMemoryStorage.create_new_trial`` deep-copies the trial it adds: for a trial read from
    another worker (30-60 parameters, each with its distribution object) that was the largest cost
    of a worker's sync. The trial's containers are copied, their values (numbers, strings,
    distributions, which nobody modifies once a trial is finished) shared.
    """
    view = _SharedTrial.__new__(_SharedTrial)
    view.__dict__.update(vars(trial))
    return view


def cache_journal_distributions() -> None:
    """Memoise the journal replay's ``json_to_distribution`` (idempotent, process-wide).

    Replaying a journal parses every parameter's distribution from its JSON text, once per
    parameter per trial: about 20 µs each, 0.4 ms per trial of a 7xxx campaign, a third of a
    worker's time per evaluation, and twice that in a team (each worker replays the others'
    trials too). A campaign has a few dozen distinct distributions, so a cache answers almost
    every call; distributions are immutable values, which trials may share.
    """
    parse = _journal_storage.json_to_distribution
    if getattr(parse, "alloyml_cached", False):
        return
    cached = functools.lru_cache(maxsize=4096)(parse)
    cached.alloyml_cached = True  # type: ignore[attr-defined]
    _journal_storage.json_to_distribution = cached
