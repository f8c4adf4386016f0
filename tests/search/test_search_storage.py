"""Study storage: grouped journal writes, tail repair, URL resolution."""

from __future__ import annotations

import optuna
import pytest
from optuna.storages import JournalStorage

from alloyml.errors import ConfigError
from alloyml.search.storage import (
    STORAGE_ENV,
    BatchedJournalFileBackend,
    open_storage,
    repair_journal_tail,
)


def _finished(n: int, offset: int = 0) -> list[optuna.trial.FrozenTrial]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    mem = optuna.create_study(directions=["maximize"])
    out = []
    for i in range(n):
        t = mem.ask()
        t.suggest_float("x", 0, 1)
        t.set_user_attr("worker", "w")
        t.set_constraint("c", -1.0)
        out.append(mem.tell(t, float(i + offset)))
    return out


def test_batch_is_one_locked_append_and_readable_by_others(tmp_path):
    handle = open_storage(None, tmp_path)
    assert handle.kind == "journal" and not handle.shared
    study = optuna.create_study(storage=handle.storage, study_name="s", directions=["maximize"])
    writes = handle.backend.n_writes
    with handle.batch():
        study.add_trials(_finished(50))
    assert handle.backend.n_writes == writes + 1
    with handle.batch():
        study.add_trials(_finished(30, offset=50))
    # a second process's view of the file: every trial once, numbered in file order
    other = JournalStorage(BatchedJournalFileBackend(tmp_path / "study.journal"))
    trials = optuna.load_study(study_name="s", storage=other).trials
    assert [t.number for t in trials] == list(range(80))
    assert [t.value for t in trials] == [float(i) for i in range(80)]
    assert all(t.constraints == {"c": -1.0} and t.user_attrs["worker"] == "w" for t in trials)


def test_only_trial_creations_may_be_batched(tmp_path):
    handle = open_storage(None, tmp_path)
    study = optuna.create_study(storage=handle.storage, study_name="s")
    with pytest.raises(RuntimeError, match="add_trials"), handle.batch():
        study.set_user_attr("k", 1)


def test_partial_last_line_is_cut(tmp_path):
    handle = open_storage(None, tmp_path)
    study = optuna.create_study(storage=handle.storage, study_name="s", directions=["maximize"])
    with handle.batch():
        study.add_trials(_finished(5))
    path = tmp_path / "study.journal"
    good = path.read_bytes()
    path.write_bytes(good + b'{"op_code": 4, "worker_id": "x", "study_id": 0, "datetime_')
    assert repair_journal_tail(path)
    assert path.read_bytes() == good
    assert not repair_journal_tail(path)
    reopened = open_storage(None, tmp_path)
    assert len(optuna.load_study(study_name="s", storage=reopened.storage).trials) == 5


def test_storage_urls(tmp_path, monkeypatch):
    monkeypatch.delenv(STORAGE_ENV, raising=False)
    journal = open_storage(f"journal:{tmp_path / 'x' / 'team.journal'}", tmp_path)
    assert journal.kind == "journal" and journal.shared
    assert (tmp_path / "x" / "team.journal").is_file()
    monkeypatch.setenv(STORAGE_ENV, f"sqlite:///{tmp_path / 'team.db'}")
    rdb = open_storage(None, tmp_path)
    assert rdb.kind == "rdb" and rdb.shared and rdb.url.startswith("sqlite:///")
    with pytest.raises(ConfigError, match="neither an RDB URL"):
        open_storage("not a url", tmp_path)
