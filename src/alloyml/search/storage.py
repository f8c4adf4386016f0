"""Where a study lives: an embedded journal file, or any Optuna RDB URL (team mode).

* **Embedded default**: ``<output>/study.journal``, an Optuna :class:`JournalStorage` on a file
  (one JSON line per operation, appended under a file lock and fsync'ed). The search persists each
  evaluated batch with :meth:`optuna.study.Study.add_trials`; :class:`BatchedJournalFileBackend`
  collects the batch's trial-creation lines and appends them in **one** locked write + fsync, so
  persisting costs one disk sync per batch instead of one per trial. Each line is a complete trial
  (template creation), so the batch is all-or-nothing per line and the file stays valid for any
  other reader or writer of the same journal (JournalStorage numbers trials when it replays the
  lines, in file order).
* **Team mode**: ``--storage URL`` or ``$ALLOYML_OPTUNA_STORAGE``. A ``postgresql://`` (or any
  SQLAlchemy) URL opens :class:`optuna.storages.RDBStorage`; ``journal:///abs/path`` or a path
  ending ``.journal`` opens a journal file elsewhere. Several ``alloyml search`` workers on one or
  many machines then share one study by name — Optuna's own distributed mode.

A worker killed with SIGKILL while writing could, in principle, leave a partial last line; on open
:func:`repair_journal_tail` (under the journal's lock) cuts such a line, which held no complete
trial.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
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

log = logging.getLogger(__name__)

STORAGE_ENV = "ALLOYML_OPTUNA_STORAGE"
JOURNAL_NAME = "study.journal"
_CREATE_TRIAL = 4  # optuna.storages.journal._storage.JournalOperation.CREATE_TRIAL


class BatchedJournalFileBackend(BaseJournalBackend):
    """:class:`JournalFileBackend` whose appends can be grouped into one write.

    Inside ``with backend.batch():`` only trial creations from a template (what
    :meth:`~optuna.study.Study.add_trials` writes) may be appended; they are kept in memory and
    written, under the file lock, in one ``append_logs`` call when the block ends. Any other
    operation inside a batch raises, since JournalStorage reads its result back at once.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = JournalFileSymlinkLock(str(self.path))
        self._file = JournalFileBackend(str(self.path), lock_obj=self._lock)
        self._pending: list[dict[str, Any]] | None = None
        self.n_writes = 0

    def read_logs(self, log_number_from: int) -> Any:
        return self._file.read_logs(log_number_from)

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        if self._pending is None:
            self._file.append_logs(logs)
            self.n_writes += 1
            return
        for entry in logs:
            if entry.get("op_code") != _CREATE_TRIAL or "state" not in entry:
                raise RuntimeError(
                    "only add_trials may run inside BatchedJournalFileBackend.batch()"
                )
        self._pending.extend(logs)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group the trial creations of the block into one locked append."""
        if self._pending is not None:
            raise RuntimeError("batches do not nest")
        self._pending = []
        try:
            yield
        finally:
            pending, self._pending = self._pending, None
            if pending:  # complete lines only: flush them even if the block failed midway
                self._file.append_logs(pending)
                self.n_writes += 1


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
    kind: str  # "journal" or "rdb"
    shared: bool  # given explicitly (team mode) rather than the embedded default
    backend: BatchedJournalFileBackend | None = None

    def batch(self) -> Any:
        """Context in which :meth:`~optuna.study.Study.add_trials` is persisted at once.

        ``JournalStorage.create_new_trial`` returns the id of the trial it just wrote by reading
        the journal back; inside a batch nothing is written yet, so it returns the previous one
        (``Study.add_trials`` ignores it). Before this process's first flush that attribute of
        the replay state does not exist yet: it is initialised to -1, as Optuna does on restore.
        """
        if self.backend is None:
            return nullcontext()
        replay = getattr(self.storage, "_replay_result", None)
        if replay is not None and not hasattr(replay, "_last_created_trial_id_by_this_process"):
            replay._last_created_trial_id_by_this_process = -1
        return self.backend.batch()


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
    """Storage from ``url``, else ``$ALLOYML_OPTUNA_STORAGE``, else ``<output_dir>/study.journal``."""
    url = url or os.environ.get(STORAGE_ENV) or None
    if url is None:
        return _journal(Path(output_dir) / JOURNAL_NAME, shared=False)
    if url.startswith("journal:"):
        path = url.removeprefix("journal:")
        path = path[2:] if path.startswith("//") else path
        return _journal(Path(path), shared=True)
    if url.endswith((".journal", ".log")) and "://" not in url:
        return _journal(Path(url), shared=True)
    if "://" not in url:
        raise ConfigError(
            f"storage {url!r} is neither an RDB URL (postgresql+psycopg2://user@host/db, "
            "sqlite:///file.db) nor a journal file (journal:///path or *.journal)"
        )
    last: Exception | None = None
    for attempt in range(4):  # concurrent first use may race on CREATE TABLE
        try:
            storage = optuna.storages.RDBStorage(url, engine_kwargs={"pool_pre_ping": True})
            return StorageHandle(storage, _masked(url), "rdb", shared=True)
        except Exception as exc:
            last = exc
            time.sleep(0.5 * (attempt + 1))
    raise ConfigError(f"cannot open Optuna storage {_masked(url)}: {last}") from None
