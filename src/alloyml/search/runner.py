"""The batched ask/tell loop: many trials per round, one featurization and prediction per round.

Each round a worker

1. asks ``q`` trials of its **working study** (in memory, the campaign's seeded sampler) and
   draws one design per trial (:meth:`DesignSpace.suggest`);
2. evaluates the ``q`` designs at once: one wt % matrix + one process matrix, one
   ``Featurizer.transform``, one ``Bundle.predict`` per model (:class:`Evaluator`);
3. sets per trial its design and predictions (user attributes, so the candidate written out is
   exactly what was evaluated), its named constraint values (``Trial.set_constraint``, which
   Optuna 5's samplers read for constrained domination / feasibility; ``constraints_func`` is
   deprecated there) and tells the objective values;
4. persists the ``q`` finished trials to the **study** in the configured storage with
   ``Study.add_trials`` (journal: one locked append per round, see :mod:`.storage`);
5. syncs: finished trials other workers have added to the study since the last round are added to
   the working study, so every worker's sampler learns from the whole study.

Why a working study: with a persistent storage every ``suggest``/``set_*`` of a trial is one
storage write (one fsync each for a journal file, one transaction each for SQLite/PostgreSQL):
20-90 trials/s at best, whatever the batching. Only finished trials ever reach the storage, so a
worker killed at any moment leaves no RUNNING trial behind and loses at most the round it was
evaluating, which the resumed search draws afresh (its sampler is reseeded from the number of
trials already stored, so it does not replay the same draws). Trials are never duplicated: a
trial reaches the storage once, in the round that evaluated it.

Budget: ``n_trials`` is the number of complete trials the *study* should hold; each worker stops
when it sees that many. On a team backend (PostgreSQL or Redis, :mod:`.team`) the budget is exact:
before each round a worker reserves its trials in the storage (never more than remain once the
other live workers' reservations are counted), renews the reservation from a heartbeat thread
while it evaluates, and its write stores at most what it reserved; a killed worker's reservation
expires and its share is evaluated by the others. Elsewhere (journal file, RDB) several workers
may exceed it by at most one round per other worker (like ``optuna.study.MaxTrialsCallback``).
"""

from __future__ import annotations

import gc
import json
import logging
import math
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
from optuna.samplers import BaseSampler
from optuna.storages import InMemoryStorage
from optuna.trial import FrozenTrial, TrialState
from threadpoolctl import threadpool_limits

from alloyml.search import optuna_compat as oc
from alloyml.search.evaluate import Problem
from alloyml.search.space import DesignSpace
from alloyml.search.storage import Claim, StorageHandle

log = logging.getLogger(__name__)

Progress = Callable[[int, int, "RunStats"], None]


@dataclass
class RunStats:
    """What one worker's run did."""

    study_name: str
    storage: str
    worker: str
    n_trials: int  # requested total in the study
    n_before: int  # complete trials in the study when this worker started
    n_new: int = 0  # trials this worker evaluated and stored
    n_complete: int = 0  # complete trials in the study at the end
    n_rounds: int = 0
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def evals_per_s(self) -> float:
        return self.n_new / self.seconds if self.seconds > 0 else float("nan")


class BatchRunner:
    """Runs the batched loop of one worker against one persistent study.

    Args:
        study: the study in its (persistent or shared) storage.
        handle: that storage (for grouped journal writes).
        space: the campaign's design space.
        problem: objectives, constraints and the models.
        sampler: the seeded sampler of this worker.
        worker: this worker's id (stored as the ``worker`` user attribute of its trials).
    """

    def __init__(
        self,
        study: optuna.Study,
        handle: StorageHandle,
        space: DesignSpace,
        problem: Problem,
        sampler: BaseSampler,
        worker: str,
    ) -> None:
        self.study = study
        self.handle = handle
        self.space = space
        self.problem = problem
        self.worker = worker
        self.working = optuna.create_study(
            storage=InMemoryStorage(), sampler=sampler, directions=study.directions
        )
        self._seen: set[int] = set()
        self.timings = {"ask": 0.0, "evaluate": 0.0, "tell": 0.0, "persist": 0.0, "sync": 0.0,
                        "reserve": 0.0, "wait": 0.0}  # fmt: skip

    def sync(self) -> int:
        """Add other workers' new complete trials to the working study; return the study's
        number of complete trials."""
        t0 = time.perf_counter()
        trials = self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
        foreign: list[FrozenTrial] = []
        for t in trials:
            if t.number in self._seen:
                continue
            self._seen.add(t.number)
            if t.user_attrs.get("worker") != self.worker:
                foreign.append(t)
        if foreign:  # shared views: the in-memory study copies them cheaply
            self.working.add_trials([oc.shared_trial(t) for t in foreign])
        self.timings["sync"] += time.perf_counter() - t0
        return len(trials)

    def round(self, q: int, claim: Claim | None = None) -> int:
        """Ask, evaluate, tell and persist ``q`` trials; return how many were stored.

        With a ``claim`` (team backends) the write stores at most what the claim still may.
        """
        t0 = time.perf_counter()
        trials = [self.working.ask() for _ in range(q)]
        try:
            designs = [self.space.suggest(t) for t in trials]
            t1 = time.perf_counter()
            wt, proc = self.space.matrices(designs)
            ev = self.problem.evaluator(wt, proc)
            values, cons = self.problem.score(designs, ev)
        except BaseException:
            for t in trials:
                self.working.tell(t, state=TrialState.FAIL)
            raise
        t2 = time.perf_counter()
        done: list[FrozenTrial] = []
        for i, (trial, design) in enumerate(zip(trials, designs, strict=True)):
            trial.set_user_attr("worker", self.worker)
            # JSON text, not dicts: Optuna deep-copies every attribute of a trial on each tell
            # (a third of the loop's time with ~60 nested values); a string copies for free
            trial.set_user_attr("design", json.dumps(design.to_dict()))
            trial.set_user_attr("eval", json.dumps({k: _finite(v[i]) for k, v in ev.items()}))
            for name, c in cons.items():
                trial.set_constraint(name, float(c[i]))
            if np.isfinite(values[i]).all():
                done.append(self.working.tell(trial, values[i].tolist()))
            else:  # cannot happen with finite features; kept out of the study if it does
                log.warning("trial with non-finite objective %s not stored", values[i])
                self.working.tell(trial, state=TrialState.FAIL)
        t3 = time.perf_counter()
        with self.handle.batch(claim) as outcome:
            self.study.add_trials(done)
        t4 = time.perf_counter()
        stored = len(done) if outcome.stored < 0 else outcome.stored
        if stored < len(done):
            log.warning("%s: budget spent by others meanwhile, %d of %d evaluated trials not "
                        "stored (lease of this worker expired?)", self.worker,
                        len(done) - stored, len(done))  # fmt: skip
        self.timings["ask"] += t1 - t0
        self.timings["evaluate"] += t2 - t1
        self.timings["tell"] += t3 - t2
        self.timings["persist"] += t4 - t3
        return stored

    def run(self, n_trials: int, eval_batch: int, progress: Progress | None = None) -> RunStats:
        """Rounds of ``eval_batch`` trials until the study holds ``n_trials`` complete trials.

        Python's cyclic garbage collector runs once per round on the young generations only
        (the trials kept in memory would otherwise be rescanned over and over). BLAS runs on
        one thread meanwhile: the loop is sequential Python around small matrix
        products (k-NN domain distances), where more threads mostly add contention on a shared
        machine, and a fixed thread count keeps the floating-point results, hence the whole
        seeded search, identical from one machine to another.
        """
        gc_enabled = gc.isenabled()
        gc.disable()  # collected by hand once per round, see _run
        try:
            with threadpool_limits(limits=1):
                return self._run(n_trials, eval_batch, progress)
        finally:
            if gc_enabled:
                gc.enable()

    def _run(self, n_trials: int, eval_batch: int, progress: Progress | None) -> RunStats:
        n = self.sync()
        stats = RunStats(
            study_name=self.study.study_name,
            storage=self.handle.url,
            worker=self.worker,
            n_trials=n_trials,
            n_before=n,
            n_complete=n,
        )
        claim: Claim | None = None
        heartbeat: Any = nullcontext()
        if self.handle.budgeted:
            from alloyml.search.team import Heartbeat, lease_seconds

            lease = lease_seconds()
            claim = Claim(oc.study_id(self.study), self.worker, n_trials, n)
            heartbeat = Heartbeat(self.handle.backend, claim, lease)
        start = time.perf_counter()
        if progress is not None:
            progress(n, n_trials, stats)
        with heartbeat:
            while n < n_trials:
                q = min(eval_batch, n_trials - n)
                if claim is not None:
                    t0 = time.perf_counter()
                    claim.complete_hint = n
                    grant = self.handle.backend.reserve(claim, eval_batch, lease)
                    self.timings["reserve"] += time.perf_counter() - t0
                    if grant.granted == 0:
                        if grant.complete >= n_trials:
                            break
                        # the rest is reserved by other workers: they store it, or their lease
                        # runs out (killed) and it is free again
                        t1 = time.perf_counter()
                        time.sleep(min(0.25, lease / 10))
                        self.timings["wait"] += time.perf_counter() - t1
                        n = self.sync()
                        continue
                    q = grant.granted
                refresh = getattr(self.working.sampler, "refresh", None)
                if refresh is not None:
                    refresh(self.working)
                stats.n_new += self.round(q, claim)
                stats.n_rounds += 1
                n = self.sync()
                # Young generations only: the automatic collector would also rescan the whole
                # (growing) set of stored trials again and again; long-lived cyclic garbage, if
                # any, waits for the end of the run.
                gc.collect(1)
                stats.n_complete = n
                stats.seconds = time.perf_counter() - start
                stats.timings = dict(self.timings)
                if progress is not None:
                    progress(n, n_trials, stats)
                log.debug("round %d: study has %d/%d trials", stats.n_rounds, n, n_trials)
        stats.n_complete = self.sync()
        stats.seconds = time.perf_counter() - start
        stats.timings = dict(self.timings)
        return stats


def _finite(x: float) -> float | None:
    f = float(x)
    return f if math.isfinite(f) else None


def derive_seed(base_seed: int, n_before: int, salt: int = 0) -> int:
    """Sampler seed of a run: ``base.seed`` for a fresh embedded study (reproducible); mixed with
    the number of trials already stored on resume (so a resumed run does not replay the first
    run's draws) and with a worker salt in team mode (so workers draw different points)."""
    if n_before == 0 and salt == 0:
        return int(base_seed)
    ss = np.random.SeedSequence([int(base_seed), int(n_before), int(salt)])
    return int(ss.generate_state(1)[0])
