"""Where a study lives: an embedded journal file, a team backend, or an Optuna RDB URL.

* **Embedded default**: ``<output>/study.journal``, an Optuna :class:`JournalStorage` on a file
  (one JSON line per operation, appended under a file lock and fsync'ed). The search persists each
  evaluated batch with :meth:`optuna.study.Study.add_trials`; :class:`BatchedJournalFileBackend`
  collects the batch's trial-creation lines and appends them in **one** locked write + fsync, so
  persisting costs one disk sync per batch instead of one per trial. Each line is a complete trial
  (template creation), so the batch is all-or-nothing per line and the file stays valid for any
  other reader or writer of the same journal (JournalStorage numbers trials when it replays the
  lines, in file order).
* **Team mode**: ``--storage URL`` or ``$ALLOYML_OPTUNA_STORAGE``. ``postgresql://`` and
  ``redis://`` URLs open an Optuna journal in PostgreSQL or Redis (:mod:`.team`): one round trip
  per evaluated batch and an exact shared budget of trials. ``rdb+postgresql://...`` or another
  SQLAlchemy URL (``sqlite:///``) opens :class:`optuna.storages.RDBStorage`; ``journal:///abs/path``
  or a path ending ``.journal`` opens a journal file elsewhere. Several ``alloyml search`` workers
  on one or many machines then share one study by name — Optuna's own distributed mode.

A worker killed with SIGKILL while writing could, in principle, leave a partial last line; on open
:func:`repair_journal_tail` (under the journal's lock) cuts such a line, which held no complete
trial.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.storages import BaseStorage, JournalStorage
from optuna.storages.journal import (
    BaseJournalBackend,
    JournalFileBackend,
    JournalFileSymlinkLock,
)

from alloyml.errors import ConfigError
from alloyml.search import optuna_compat as oc

log = logging.getLogger(__name__)

STORAGE_ENV = "ALLOYML_OPTUNA_STORAGE"
JOURNAL_NAME = "study.journal"
#: ``open_storage(EMBEDDED, out)``: the embedded journal in ``out``, whatever ``$STORAGE_ENV`` says.
EMBEDDED = "embedded"


@dataclass
class Claim:
    """Whose budget a grouped write spends: one worker's share of one study's ``n_trials``.

    ``complete_hint`` is the number of complete trials the worker last read from the study; a
    team backend starts its counter of complete trials from it the first time the study is
    budgeted (later, the counter is kept by the backend, atomically with each write).
    """

    study_id: int
    worker: str
    n_trials: int
    complete_hint: int = 0


@dataclass
class Grant:
    """Answer to a reservation: trials this worker may evaluate now, and what it saw."""

    granted: int
    complete: int  # complete trials in the study
    held_by_others: int  # trials reserved by other live workers


@dataclass
class BatchOutcome:
    """How many of a grouped write's trials were stored (filled when the block ends)."""

    stored: int = 0
    offered: int = 0


class BatchingJournalBackend(BaseJournalBackend):
    """A journal backend whose appends can be grouped into one write (one round trip).

    Inside ``with backend.batch(claim) as outcome:`` only creations of complete trials from a
    template (what :meth:`~optuna.study.Study.add_trials` writes) may be appended; they are kept
    in memory and written in one :meth:`_commit` when the block ends. Any other operation inside
    a batch raises, since JournalStorage reads its result back at once. While a batch is open,
    :meth:`read_logs` returns nothing new (JournalStorage re-reads after every trial it creates;
    the entries are read once the batch is written).

    A backend with ``budgeted = True`` (the team backends of :mod:`.team`) also keeps each
    study's budget: :meth:`reserve` before evaluating, and a commit under a :class:`Claim` stores
    at most what the claim still may, so a study never exceeds its ``n_trials``.
    """

    budgeted = False

    def __init__(self) -> None:
        self._pending: list[dict[str, Any]] | None = None
        self.n_writes = 0

    # subclasses implement these two, plus _commit for grouped writes
    def _read(self, log_number_from: int) -> Iterable[dict[str, Any]]:
        raise NotImplementedError

    def _append(self, logs: list[dict[str, Any]]) -> None:
        raise NotImplementedError

    def _commit(self, logs: list[dict[str, Any]], claim: Claim | None) -> int:
        """Write ``logs`` at once (within ``claim``'s budget); return how many were written."""
        self._append(logs)
        return len(logs)

    def read_logs(self, log_number_from: int) -> Iterable[dict[str, Any]]:
        if self._pending is not None:
            return []
        return self._read(log_number_from)

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        if self._pending is None:
            self._append(logs)
            self.n_writes += 1
            return
        for entry in logs:
            if not oc.is_complete_trial_creation(entry):
                raise RuntimeError("only add_trials of complete trials may run inside a batch()")
        self._pending.extend(logs)

    @contextmanager
    def batch(self, claim: Claim | None = None) -> Iterator[BatchOutcome]:
        """Group the trial creations of the block into one write (see the class docstring)."""
        if self._pending is not None:
            raise RuntimeError("batches do not nest")
        self._pending = []
        outcome = BatchOutcome()
        try:
            yield outcome
        finally:
            pending, self._pending = self._pending, None
            outcome.offered = len(pending)
            if pending:  # complete entries only: written even if the block failed midway
                outcome.stored = self._commit(pending, claim)
                self.n_writes += 1

    def reserve(self, claim: Claim, want: int, lease_s: float) -> Grant:
        """Reserve up to ``want`` trials of the study's budget for ``lease_s`` seconds."""
        raise NotImplementedError(f"{type(self).__name__} keeps no budget")

    def renew(self, claim: Claim, lease_s: float) -> bool:
        """Extend this worker's reservation (heartbeat); False when it has none left."""
        raise NotImplementedError(f"{type(self).__name__} keeps no budget")


class BatchedJournalFileBackend(BatchingJournalBackend):
    """:class:`JournalFileBackend` whose appends can be grouped into one locked write + fsync."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        self._lock = JournalFileSymlinkLock(str(self.path))
        self._file = JournalFileBackend(str(self.path), lock_obj=self._lock)

    def _read(self, log_number_from: int) -> Iterable[dict[str, Any]]:
        return self._file.read_logs(log_number_from)

    def _append(self, logs: list[dict[str, Any]]) -> None:
        self._file.append_logs(logs)


def repair_journal_tail(path: str | Path) -> bool:
    """Cut a partial last line of a journal file (left by a writer killed mid-write).

    Returns True when something was cut. Runs under the journal's own lock.
    """
    p = Path(path)
    if not p.is_file() or p.stat().st_size == 0:
        return False
    lock = JournalFileSymlinkLock(str(p))
    lock.acquire()
    try:
        with open(p, "rb+") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(size - 1)
            if fh.read(1) == b"\n":
                return False
            block = min(size, 1 << 20)
            fh.seek(size - block)
            tail = fh.read(block)
            cut = tail.rfind(b"\n")
            keep = size - block + cut + 1 if cut >= 0 else 0
            fh.truncate(keep)
    finally:
        lock.release()
    log.warning("%s: removed a partial last line (%d bytes) left by a killed writer", p,
                size - keep)  # fmt: skip
    return True


@dataclass
class StorageHandle:
    """An opened study storage and how to describe it."""

    storage: BaseStorage
    url: str  # for logs and MLflow, password hidden
    kind: str  # "journal", "postgresql", "redis" (journal backends) or "rdb"
    shared: bool  # given explicitly (team mode) rather than the embedded default
    backend: BatchingJournalBackend | None = None

    @property
    def budgeted(self) -> bool:
        """True when the storage keeps an exact, shared trial budget (:mod:`.team`)."""
        return self.backend is not None and self.backend.budgeted

    def batch(self, claim: Claim | None = None) -> Any:
        """Context in which :meth:`~optuna.study.Study.add_trials` is persisted at once.

        It yields a :class:`BatchOutcome` whose ``stored`` counts the trials written when the
        block ends (fewer than added only when ``claim``'s budget ran out meanwhile). Storages
        without grouped writes (RDB) write each trial as it is added.
        """
        if self.backend is None:
            return _unbatched()
        oc.prepare_deferred_creation(self.storage)
        return self.backend.batch(claim)


@contextmanager
def _unbatched() -> Iterator[BatchOutcome]:
    outcome = BatchOutcome()
    yield outcome
    outcome.stored = outcome.offered = -1  # unknown: every added trial was written


def _journal(path: Path, shared: bool) -> StorageHandle:
    path.parent.mkdir(parents=True, exist_ok=True)
    repair_journal_tail(path)
    backend = BatchedJournalFileBackend(path)
    return StorageHandle(JournalStorage(backend), f"journal:{path}", "journal", shared, backend)


def _masked(url: str) -> str:
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


def open_storage(url: str | None, output_dir: str | Path) -> StorageHandle:
    """Storage from ``url``, else ``$ALLOYML_OPTUNA_STORAGE``, else ``<output_dir>/study.journal``.

    ``url=EMBEDDED`` asks for ``<output_dir>/study.journal`` whatever the environment says.

    Journal storages replay with a memoised distribution parser
    (:func:`~alloyml.search.optuna_compat.cache_journal_distributions`).

    * ``postgresql://`` / ``postgresql+psycopg2://``: an Optuna journal in PostgreSQL tables
      (:class:`~alloyml.search.team.PostgresJournalBackend`), exact shared budget;
    * ``redis://``: an Optuna journal in Redis (:class:`~alloyml.search.team.RedisJournalBackend`,
      the key layout of Optuna's ``JournalRedisBackend``), exact shared budget;
    * ``rdb+<sqlalchemy url>`` or any other SQLAlchemy URL (``sqlite:///``, ``mysql://``):
      Optuna's :class:`~optuna.storages.RDBStorage` (slow: one row per parameter; the budget may be
      exceeded by one round per other worker);
    * ``journal:///path`` or ``*.journal``: a journal file.
    """
    oc.cache_journal_distributions()  # before a JournalStorage replays anything
    return _open(url, output_dir)


def _open(url: str | None, output_dir: str | Path) -> StorageHandle:
    url = url or os.environ.get(STORAGE_ENV) or None
    if url is None or url == EMBEDDED:
        return _journal(Path(output_dir) / JOURNAL_NAME, shared=False)
    if url.startswith("journal:"):
        path = url.removeprefix("journal:")
        path = path[2:] if path.startswith("//") else path
        return _journal(Path(path), shared=True)
    if url.endswith((".journal", ".log")) and "://" not in url:
        return _journal(Path(url), shared=True)
    if "://" not in url:
        raise ConfigError(
            f"storage {url!r} is neither a team URL (postgresql://user@host/db, "
            "redis://host:6379/0), an RDB URL (sqlite:///file.db, rdb+postgresql://user@host/db) "
            "nor a journal file (journal:///path or *.journal)"
        )
    scheme = url.split("://", 1)[0]
    if scheme in ("postgresql", "postgresql+psycopg2", "redis", "rediss"):
        from alloyml.search import team

        team.lease_seconds()  # a bad $ALLOYML_TEAM_LEASE_S is reported before any work
        try:
            backend = team.open_backend(url)
        except ConfigError:
            raise
        except Exception as exc:
            raise ConfigError(f"cannot open Optuna storage {_masked(url)}: {exc}") from None
        kind = "redis" if scheme.startswith("redis") else "postgresql"
        return StorageHandle(JournalStorage(backend), _masked(url), kind, True, backend)
    url = url.removeprefix("rdb+")
    last: Exception | None = None
    for attempt in range(4):  # concurrent first use may race on CREATE TABLE
        try:
            storage = optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
            return StorageHandle(storage, _masked(url), "rdb", shared=True)
        except Exception as exc:
            last = exc
            time.sleep(0.5 * (attempt + 1))
    raise ConfigError(f"cannot open Optuna storage {_masked(url)}: {last}") from None
