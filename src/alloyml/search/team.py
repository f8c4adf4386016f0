"""Team backends: an Optuna journal in PostgreSQL or Redis, with an exact shared trial budget.

Both are :class:`optuna.storages.journal.BaseJournalBackend` implementations for
:class:`optuna.storages.JournalStorage`: the study is a log of Optuna operations that every worker
replays. alloyml only ever stores finished trials (see :mod:`.runner`), each as one log entry, so
a round of ``eval_batch`` evaluated trials is written in **one** round trip: one multi-row
``INSERT`` in one transaction on PostgreSQL, one Lua script on Redis. Optuna's RDB storage, by
contrast, writes a trial row by row (parameters, attributes, values: about 0.15 s per trial).

**Exact budget.** Each backend keeps, per study, a counter of complete trials and a table of
*reservations* (worker, number of trials, lease expiry). Before evaluating a round a worker
reserves at most ``n_trials - complete - (live reservations of others)`` trials
(:meth:`reserve`); the write of the round adds its trials to the counter and drops the
reservation in the same transaction, and never stores more than the reservation (or, if the lease
ran out, than the budget still free). So the study ends with exactly ``n_trials`` complete
trials, whatever the number of workers.

**Dead workers.** A worker renews its lease from a heartbeat thread (:class:`Heartbeat`); a worker
killed with SIGKILL stops renewing, its reservation expires after ``lease_s`` seconds and the
trials it held are reserved, asked and evaluated again by the others (or by a resumed worker).
Trials it had stored are untouched, and since unfinished trials never reach the study, nothing
is left RUNNING: this plays the part of Optuna's heartbeat and failed-trial retry, for the
batched loop. ``$ALLOYML_TEAM_LEASE_S`` sets the lease (default 60 s).

Layout. PostgreSQL: tables ``alloyml_journal(log_number, entry)``, ``alloyml_budget`` and
``alloyml_complete`` in the database of the URL; every write takes one transaction-level advisory
lock, so log numbers are dense and committed in order (what a journal reader needs). Redis: the
keys of Optuna's own ``JournalRedisBackend`` (``<prefix>:log_number``, ``<prefix>:log:<n>``;
Optuna's backend, e.g. in optuna-dashboard, reads the study) plus
``<prefix>:alloyml:complete:<study id>`` and ``<prefix>:alloyml:budget:<study id>``. The prefix
comes from the URL's ``prefix`` query parameter (default empty, as Optuna's).
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from alloyml.errors import ConfigError
from alloyml.search.storage import BatchingJournalBackend, Claim, Grant

log = logging.getLogger(__name__)

LEASE_ENV = "ALLOYML_TEAM_LEASE_S"
DEFAULT_LEASE_S = 60.0
_LOCK_KEY = 0x616C6C6F796D6C  # transaction advisory lock of the journal ("alloyml")


def lease_seconds() -> float:
    """Lease of a reservation in seconds (``$ALLOYML_TEAM_LEASE_S``, default 60)."""
    raw = os.environ.get(LEASE_ENV)
    if not raw:
        return DEFAULT_LEASE_S
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{LEASE_ENV}={raw!r} is not a number of seconds") from None
    if not value > 0:
        raise ConfigError(f"{LEASE_ENV}={raw!r} must be > 0 seconds")
    return value


def open_backend(url: str) -> BatchingJournalBackend:
    """The team backend of a ``postgresql://`` or ``redis://`` URL."""
    if url.startswith(("redis://", "rediss://")):
        return RedisJournalBackend(url)
    return PostgresJournalBackend(url)


def _dumps(entry: dict[str, Any]) -> str:
    return json.dumps(entry, separators=(",", ":"))


class PostgresJournalBackend(BatchingJournalBackend):
    """Optuna journal in PostgreSQL tables, one transaction per write (see the module docstring).

    Args:
        url: ``postgresql://user[:password]@host[:port]/database`` (``postgresql+psycopg2://``
            accepted).
    """

    budgeted = True

    def __init__(self, url: str) -> None:
        super().__init__()
        self._dsn = url.replace("postgresql+psycopg2://", "postgresql://", 1)
        self._lock = threading.Lock()  # one connection, shared with the heartbeat thread
        self._conn: Any = None
        self._tx(self._create_tables, retry=True)

    def _connection(self) -> Any:
        import psycopg2

        if self._conn is None or self._conn.closed:
            self._conn = psycopg2.connect(self._dsn, connect_timeout=10)
        return self._conn

    def _tx(self, fn: Callable[[Any], Any], retry: bool = False) -> Any:
        """Run ``fn(cursor)`` in one transaction.

        With ``retry`` (reads, reservations: safe to repeat) a connection the server dropped is
        reopened and ``fn`` run once more; a write is never repeated, since its commit may have
        gone through before the connection was lost.
        """
        import psycopg2

        with self._lock:
            for attempt in (0, 1):
                conn = self._connection()
                try:
                    with conn.cursor() as cur:
                        out = fn(cur)
                    conn.commit()
                    return out
                except psycopg2.OperationalError:
                    if not conn.closed:
                        conn.rollback()
                        raise
                    self._conn = None
                    if retry and attempt == 0:
                        continue
                    raise
                except BaseException:
                    if not conn.closed:
                        conn.rollback()
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    def _locked(cur: Any) -> None:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))

    def _create_tables(self, cur: Any) -> None:
        self._locked(cur)  # concurrent CREATE TABLE IF NOT EXISTS may otherwise collide
        cur.execute(
            "CREATE TABLE IF NOT EXISTS alloyml_journal ("
            " log_number bigint PRIMARY KEY, entry text NOT NULL)"
        )
        cur.execute(
            "CREATE TABLE IF NOT EXISTS alloyml_complete ("
            " study_id integer PRIMARY KEY, n bigint NOT NULL)"
        )
        cur.execute(
            "CREATE TABLE IF NOT EXISTS alloyml_budget ("
            " study_id integer NOT NULL, worker text NOT NULL, reserved integer NOT NULL,"
            " expires timestamptz NOT NULL, PRIMARY KEY (study_id, worker))"
        )

    def _read(self, log_number_from: int) -> Iterable[dict[str, Any]]:
        def read(cur: Any) -> list[str]:
            cur.execute(
                "SELECT entry FROM alloyml_journal WHERE log_number >= %s ORDER BY log_number",
                (log_number_from,),
            )
            return [r[0] for r in cur.fetchall()]

        return [json.loads(e) for e in self._tx(read, retry=True)]

    @staticmethod
    def _insert(cur: Any, logs: list[dict[str, Any]]) -> None:
        from psycopg2.extras import execute_values

        cur.execute("SELECT coalesce(max(log_number), -1) FROM alloyml_journal")
        first = int(cur.fetchone()[0]) + 1
        rows = [(first + i, _dumps(e)) for i, e in enumerate(logs)]
        execute_values(
            cur, "INSERT INTO alloyml_journal (log_number, entry) VALUES %s", rows,
            page_size=max(len(rows), 1),
        )  # fmt: skip

    def _append(self, logs: list[dict[str, Any]]) -> None:
        def append(cur: Any) -> None:
            self._locked(cur)
            self._insert(cur, logs)

        self._tx(append)

    @staticmethod
    def _state(cur: Any, claim: Claim) -> tuple[int, int, int | None]:
        """(complete, reserved by other live workers, own live reservation or None)."""
        cur.execute(
            "INSERT INTO alloyml_complete (study_id, n) VALUES (%s, %s) ON CONFLICT DO NOTHING",
            (claim.study_id, claim.complete_hint),
        )
        cur.execute(
            "DELETE FROM alloyml_budget WHERE study_id = %s AND expires < clock_timestamp()",
            (claim.study_id,),
        )
        cur.execute("SELECT n FROM alloyml_complete WHERE study_id = %s", (claim.study_id,))
        complete = int(cur.fetchone()[0])
        cur.execute(
            "SELECT worker, reserved FROM alloyml_budget WHERE study_id = %s", (claim.study_id,)
        )
        others, own = 0, None
        for worker, reserved in cur.fetchall():
            if worker == claim.worker:
                own = int(reserved)
            else:
                others += int(reserved)
        return complete, others, own

    def _commit(self, logs: list[dict[str, Any]], claim: Claim | None) -> int:
        def commit(cur: Any) -> int:
            self._locked(cur)
            keep = logs
            if claim is not None:
                complete, others, own = self._state(cur, claim)
                allowed = own if own is not None else claim.n_trials - complete - others
                keep = logs[: max(allowed, 0)]
                cur.execute(
                    "UPDATE alloyml_complete SET n = n + %s WHERE study_id = %s",
                    (len(keep), claim.study_id),
                )
                cur.execute(
                    "DELETE FROM alloyml_budget WHERE study_id = %s AND worker = %s",
                    (claim.study_id, claim.worker),
                )
            if keep:
                self._insert(cur, keep)
            return len(keep)

        return self._tx(commit)

    def reserve(self, claim: Claim, want: int, lease_s: float) -> Grant:
        def reserve(cur: Any) -> Grant:
            self._locked(cur)
            complete, others, _ = self._state(cur, claim)
            granted = max(0, min(want, claim.n_trials - complete - others))
            if granted:
                cur.execute(
                    "INSERT INTO alloyml_budget (study_id, worker, reserved, expires)"
                    " VALUES (%s, %s, %s, clock_timestamp() + %s * interval '1 second')"
                    " ON CONFLICT (study_id, worker) DO UPDATE"
                    " SET reserved = EXCLUDED.reserved, expires = EXCLUDED.expires",
                    (claim.study_id, claim.worker, granted, lease_s),
                )
            else:
                cur.execute(
                    "DELETE FROM alloyml_budget WHERE study_id = %s AND worker = %s",
                    (claim.study_id, claim.worker),
                )
            return Grant(granted, complete, others)

        return self._tx(reserve, retry=True)

    def renew(self, claim: Claim, lease_s: float) -> bool:
        def renew(cur: Any) -> bool:
            self._locked(cur)
            cur.execute(
                "UPDATE alloyml_budget SET expires = clock_timestamp() + %s * interval '1 second'"
                " WHERE study_id = %s AND worker = %s AND expires >= clock_timestamp()",
                (lease_s, claim.study_id, claim.worker),
            )
            return cur.rowcount > 0

        return self._tx(renew, retry=True)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and not self._conn.closed:
                self._conn.close()
            self._conn = None


# Redis: every write is one Lua script, atomic on a standalone server (as Optuna's own backend
# assumes). Budget state: a counter of complete trials and a hash worker -> "reserved expiry_ms".
_LUA_STATE = """
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function state(complete_key, budget_key, worker, hint)
  redis.call('SETNX', complete_key, hint)
  local complete = tonumber(redis.call('GET', complete_key))
  local now = now_ms()
  local others, own = 0, nil
  local all = redis.call('HGETALL', budget_key)
  for i = 1, #all, 2 do
    local n, expiry = string.match(all[i + 1], '(%d+) (%d+)')
    if tonumber(expiry) < now then
      redis.call('HDEL', budget_key, all[i])
    elseif all[i] == worker then
      own = tonumber(n)
    else
      others = others + tonumber(n)
    end
  end
  return complete, others, own, now
end
local function append(prefix, logs, first, last)
  redis.call('SETNX', prefix .. ':log_number', -1)
  for i = first, last do
    local n = redis.call('INCR', prefix .. ':log_number')
    redis.call('SET', prefix .. ':log:' .. n, logs[i])
  end
end
"""

# ARGV: prefix, entries...
_LUA_APPEND = (
    _LUA_STATE
    + """
local logs = {}
for i = 2, #ARGV do logs[#logs + 1] = ARGV[i] end
append(ARGV[1], logs, 1, #logs)
return #logs
"""
)

# ARGV: prefix, complete_key, budget_key, worker, hint, n_trials, entries...
_LUA_COMMIT = (
    _LUA_STATE
    + """
local complete, others, own = state(ARGV[2], ARGV[3], ARGV[4], ARGV[5])
local logs = {}
for i = 7, #ARGV do logs[#logs + 1] = ARGV[i] end
local allowed = own
if allowed == nil then allowed = tonumber(ARGV[6]) - complete - others end
local keep = math.max(0, math.min(allowed, #logs))
append(ARGV[1], logs, 1, keep)
redis.call('INCRBY', ARGV[2], keep)
redis.call('HDEL', ARGV[3], ARGV[4])
return keep
"""
)

# ARGV: complete_key, budget_key, worker, hint, n_trials, want, lease_ms
_LUA_RESERVE = (
    _LUA_STATE
    + """
local complete, others, own, now = state(ARGV[1], ARGV[2], ARGV[3], ARGV[4])
local granted = math.max(0, math.min(tonumber(ARGV[6]), tonumber(ARGV[5]) - complete - others))
if granted > 0 then
  redis.call('HSET', ARGV[2], ARGV[3], granted .. ' ' .. (now + tonumber(ARGV[7])))
else
  redis.call('HDEL', ARGV[2], ARGV[3])
end
return {granted, complete, others}
"""
)

# ARGV: budget_key, worker, lease_ms
_LUA_RENEW = (
    _LUA_STATE
    + """
local cur = redis.call('HGET', ARGV[1], ARGV[2])
if not cur then return 0 end
local n, expiry = string.match(cur, '(%d+) (%d+)')
local now = now_ms()
if tonumber(expiry) < now then return 0 end
redis.call('HSET', ARGV[1], ARGV[2], n .. ' ' .. (now + tonumber(ARGV[3])))
return 1
"""
)


class RedisJournalBackend(BatchingJournalBackend):
    """Optuna journal in Redis, one Lua script per write (see the module docstring).

    Args:
        url: ``redis://[:password@]host:port/db[?prefix=name]``.
    """

    budgeted = True
    _chunk = 2000  # log entries per MGET when reading

    def __init__(self, url: str) -> None:
        super().__init__()
        try:
            import redis
        except ImportError:
            raise ConfigError(
                "a redis:// storage needs the redis package (pip install redis)"
            ) from None
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        self.prefix = query.pop("prefix", "")
        self._url = urlunsplit(parts._replace(query=urlencode(query)))
        self._redis = redis.Redis.from_url(self._url)
        self._redis.ping()
        self._scripts = {
            name: self._redis.register_script(src)
            for name, src in (("append", _LUA_APPEND), ("commit", _LUA_COMMIT),
                              ("reserve", _LUA_RESERVE), ("renew", _LUA_RENEW))
        }  # fmt: skip

    def _keys(self, study_id: int) -> tuple[str, str]:
        return (f"{self.prefix}:alloyml:complete:{study_id}",
                f"{self.prefix}:alloyml:budget:{study_id}")  # fmt: skip

    def _read(self, log_number_from: int) -> Iterable[dict[str, Any]]:
        top = self._redis.get(f"{self.prefix}:log_number")
        if top is None:
            return []
        out: list[dict[str, Any]] = []
        for start in range(log_number_from, int(top) + 1, self._chunk):
            stop = min(start + self._chunk, int(top) + 1)
            values = self._redis.mget([f"{self.prefix}:log:{n}" for n in range(start, stop)])
            for v in values:
                if v is None:  # not written yet (cannot happen with atomic scripts): stop here
                    return out
                out.append(json.loads(v))
        return out

    def _append(self, logs: list[dict[str, Any]]) -> None:
        self._scripts["append"](args=[self.prefix, *map(_dumps, logs)])

    def _commit(self, logs: list[dict[str, Any]], claim: Claim | None) -> int:
        if claim is None:
            self._append(logs)
            return len(logs)
        complete_key, budget_key = self._keys(claim.study_id)
        args = [self.prefix, complete_key, budget_key, claim.worker, claim.complete_hint,
                claim.n_trials, *map(_dumps, logs)]  # fmt: skip
        return int(self._scripts["commit"](args=args))

    def reserve(self, claim: Claim, want: int, lease_s: float) -> Grant:
        complete_key, budget_key = self._keys(claim.study_id)
        args = [complete_key, budget_key, claim.worker, claim.complete_hint, claim.n_trials,
                want, int(lease_s * 1000)]  # fmt: skip
        granted, complete, others = self._scripts["reserve"](args=args)
        return Grant(int(granted), int(complete), int(others))

    def renew(self, claim: Claim, lease_s: float) -> bool:
        _, budget_key = self._keys(claim.study_id)
        args = [budget_key, claim.worker, int(lease_s * 1000)]
        return bool(self._scripts["renew"](args=args))

    def close(self) -> None:
        self._redis.close()


class Heartbeat:
    """Renews a worker's reservation every ``lease_s / 3`` seconds from a daemon thread."""

    def __init__(self, backend: BatchingJournalBackend, claim: Claim, lease_s: float) -> None:
        self.backend, self.claim, self.lease_s = backend, claim, lease_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="alloyml-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _beat(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            try:
                self.backend.renew(self.claim, self.lease_s)
            except Exception as exc:  # the next round's reserve/commit reports real failures
                log.warning("heartbeat of %s failed: %s", self.claim.worker, exc)
