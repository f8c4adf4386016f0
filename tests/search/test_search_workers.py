"""Real worker processes: SIGKILL and resume on the embedded journal; two workers on PostgreSQL.

The PostgreSQL test needs the server of the CI (127.0.0.1:5432, database ``test``, trust auth,
user ``postgres``; ``ALLOYML_TEST_PG_URL`` overrides the URL). It fails, never skips, when the
server cannot be reached.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid

import optuna
import pytest
from optuna.trial import TrialState

from alloyml.search.storage import open_storage

from .conftest import run_worker, search_cmd, worker_env

PG_URL = os.environ.get("ALLOYML_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


def _study(storage, name_prefix: str) -> optuna.Study:
    names = [n for n in optuna.get_all_study_names(storage) if n.startswith(name_prefix + "-")]
    assert len(names) == 1, names
    return optuna.load_study(study_name=names[0], storage=storage)


def _check_trials(trials, n: int) -> None:
    assert [t.number for t in trials] == list(range(len(trials)))  # unique and contiguous
    assert all(t.state == TrialState.COMPLETE for t in trials)
    keys = [json.dumps(t.params, sort_keys=True) for t in trials]
    assert len(set(keys)) == len(keys)  # no trial evaluated and stored twice
    assert len(trials) >= n


def test_sigkill_then_resume_loses_and_duplicates_nothing(search_root, params_file, tmp_path):
    params = params_file(rename={"t_al": "t_kill"})
    out = tmp_path / "kill"
    cmd = search_cmd(search_root, params, "t_kill", out, "--n-trials", "800", "--eval-batch", "50")
    env = worker_env()
    journal = out / "study.journal"
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        stored = 0
        deadline = time.monotonic() + 120
        while stored < 150:  # let it store a few rounds, then kill it mid-run
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "worker stored nothing in 120 s"
            time.sleep(0.1)
            if journal.is_file():
                st = open_storage(None, out).storage
                names = optuna.get_all_study_names(st)
                if names:
                    stored = len(optuna.load_study(study_name=names[0], storage=st).trials)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    storage = open_storage(None, out).storage
    before = _study(storage, "t_kill").trials
    assert 150 <= len(before) < 800, "the worker must be killed mid-run"
    _check_trials(before, 150)
    # restart on the same journal with --resume: the study is completed to exactly 800
    stdout = run_worker([*cmd, "--resume"], env)
    assert "800 trials" in stdout
    after = _study(open_storage(None, out).storage, "t_kill").trials
    assert len(after) == 800
    _check_trials(after, 800)
    # the trials stored before the kill are untouched, the rest come from the second worker
    assert [t.params for t in after[: len(before)]] == [t.params for t in before]
    workers = [t.user_attrs["worker"] for t in after]
    assert len(set(workers)) == 2
    assert set(workers[len(before) :]) == {workers[-1]} != {workers[0]}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_trials_complete"] == 800
    assert summary["n_trials_this_run"] == 800 - len(before)


def _pg_storage():
    try:
        import psycopg2

        raw = PG_URL.replace("postgresql+psycopg2://", "postgresql://")
        psycopg2.connect(raw, connect_timeout=5).close()
    except Exception as exc:  # the CI runs PostgreSQL: an unreachable server is a failure
        pytest.fail(
            f"PostgreSQL not reachable at {PG_URL} ({exc}); the multi-worker test needs it "
            "(set ALLOYML_TEST_PG_URL to another server)"
        )
    return optuna.storages.RDBStorage(PG_URL)


def test_two_workers_share_one_postgresql_study(search_root, params_file, tmp_path):
    storage = _pg_storage()
    name = f"t_pg_{uuid.uuid4().hex[:8]}"  # a study nobody else uses
    params = params_file(rename={"t_mgli": name})
    env = worker_env(ALLOYML_OPTUNA_STORAGE=PG_URL)
    n_trials, eval_batch = 100, 10
    procs = []
    try:
        for k in range(2):
            cmd = search_cmd(search_root, params, name, tmp_path / f"w{k}", "--resume",
                             "--n-trials", str(n_trials), "--eval-batch", str(eval_batch))  # fmt: skip
            procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, text=True))  # fmt: skip
        outs = [p.communicate(timeout=300) for p in procs]
        for p, (o, e) in zip(procs, outs, strict=True):
            assert p.returncode == 0, f"worker failed:\n{o}\n{e}"
        study = _study(storage, name)
        trials = study.trials
        # budget shared: at most one extra round per other worker (like MaxTrialsCallback)
        assert n_trials <= len(trials) <= n_trials + eval_batch
        _check_trials(trials, n_trials)
        by_worker: dict[str, int] = {}
        for t in trials:
            by_worker[t.user_attrs["worker"]] = by_worker.get(t.user_attrs["worker"], 0) + 1
        assert len(by_worker) == 2 and min(by_worker.values()) > 0, by_worker
        summaries = [json.loads((tmp_path / f"w{k}" / "summary.json").read_text()) for k in (0, 1)]
        assert sum(s["n_trials_this_run"] for s in summaries) == len(trials)
        assert {s["worker"] for s in summaries} == set(by_worker)
        assert all(s["storage"].startswith("postgresql") for s in summaries)
        assert summaries[0]["study_name"] == summaries[1]["study_name"] == study.study_name
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        for n in optuna.get_all_study_names(storage):
            if n.startswith(name + "-"):
                optuna.delete_study(study_name=n, storage=storage)
