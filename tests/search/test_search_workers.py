"""Real worker processes: SIGKILL and resume on the embedded journal; on each team backend
(PostgreSQL and Redis, servers of the CI, see ``pg_url``/``redis_url`` in conftest), two
concurrent workers that end with exactly ``n_trials``, and a SIGKILL then resume that loses
nothing, leaves nothing RUNNING and ends exact."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter

import optuna
from optuna.trial import TrialState

from alloyml.search import optuna_compat as oc
from alloyml.search.storage import Claim, open_storage

from .conftest import run_worker, search_cmd, worker_env


def _study(storage, name_prefix: str) -> optuna.Study:
    names = [n for n in optuna.get_all_study_names(storage) if n.startswith(name_prefix + "-")]
    assert len(names) == 1, names
    return optuna.load_study(study_name=names[0], storage=storage)


def _check_trials(trials, n: int) -> None:
    assert [t.number for t in trials] == list(range(len(trials)))  # unique and contiguous
    assert all(t.state == TrialState.COMPLETE for t in trials)
    # no trial stored twice: the same worker, start time and parameters twice (two workers'
    # NSGA-II may, rarely, breed the same child from the same parents: that is not a duplicate)
    keys = [(t.user_attrs["worker"], t.datetime_start, json.dumps(t.params, sort_keys=True))
            for t in trials]  # fmt: skip
    assert len(set(keys)) == len(keys)
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


def _team_study(url: str, prefix: str) -> optuna.Study:
    return _study(open_storage(url, "unused").storage, prefix)


def _spawn(cmd: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# A worker process that runs the campaign as `alloyml search --resume` does, but waits at the
# start of its loop (first progress call) until the test says go: both workers then ask, evaluate
# and write at the same time (a CLI worker's start-up, ~5-10 s, outlasts its loop here).
_GATED_WORKER = """
import sys, time
from pathlib import Path
from alloyml.params import base_params, load_yaml
from alloyml.search import run_campaign
from alloyml.search.campaign import get_campaign
params, name, root, out, url, n, batch, gate = sys.argv[1:]
doc = load_yaml(Path(params))
first = []
def progress(done, total, stats):
    if not first:
        first.append(1)
        Path(gate, Path(out).name).touch()
        deadline = time.monotonic() + 60
        while not Path(gate, "go").exists():
            assert time.monotonic() < deadline, "no go"
            time.sleep(0.01)
run_campaign(get_campaign(doc, name), seed=base_params(doc).seed, models_dir=Path(root, "models"),
             processed_path=Path(root, "data", "processed", "mg.parquet"), output_dir=Path(out),
             storage=url, n_trials=int(n), eval_batch=int(batch), resume=True, progress=progress)
"""


def test_two_workers_fill_a_team_study_exactly(search_root, params_file, tmp_path, team_url):
    name = f"t_team_{uuid.uuid4().hex[:8]}"
    params = params_file(rename={"t_mgli": name})
    n_trials, eval_batch = 1203, 50  # not a multiple of the batch: the last rounds are partial
    gate = tmp_path / "gate"
    gate.mkdir()
    procs = []
    try:
        for k in range(2):
            cmd = [sys.executable, "-c", _GATED_WORKER, str(params), name, str(search_root),
                   str(tmp_path / f"w{k}"), team_url, str(n_trials), str(eval_batch), str(gate)]  # fmt: skip
            procs.append(_spawn(cmd, worker_env()))
        deadline = time.monotonic() + 90
        while not ((gate / "w0").exists() and (gate / "w1").exists()):
            for p in procs:
                assert p.poll() is None, p.communicate()
            assert time.monotonic() < deadline, "workers did not start in 90 s"
            time.sleep(0.05)
        (gate / "go").touch()
        outs = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (o, e) in zip(procs, outs, strict=True):
        assert p.returncode == 0, f"worker failed:\n{o}\n{e}"
    study = _team_study(team_url, name)
    trials = study.trials
    assert len(trials) == n_trials  # exact: budget reserved before asking
    _check_trials(trials, n_trials)
    by_worker = Counter(t.user_attrs["worker"] for t in trials)
    assert len(by_worker) == 2 and min(by_worker.values()) >= eval_batch, by_worker
    summaries = [json.loads((tmp_path / f"w{k}" / "summary.json").read_text()) for k in (0, 1)]
    assert {s["worker"]: s["n_trials_this_run"] for s in summaries} == dict(by_worker)
    assert all(s["n_trials_complete"] == n_trials for s in summaries)
    assert summaries[0]["study_name"] == summaries[1]["study_name"] == study.study_name
    assert {s["storage"].split(":")[0] for s in summaries} == {team_url.split(":")[0]}


def test_sigkill_of_a_team_worker_then_resume_is_exact(search_root, params_file, tmp_path,
                                                        team_url):  # fmt: skip
    name = f"t_kill_{uuid.uuid4().hex[:8]}"
    params = params_file(rename={"t_mgli": name})
    # a short lease: the killed worker's reservation is free again 2 s after its last heartbeat
    env = worker_env(ALLOYML_OPTUNA_STORAGE=team_url, ALLOYML_TEAM_LEASE_S="2")
    n_trials = 1000
    cmd = search_cmd(search_root, params, name, tmp_path / "w", "--resume",
                     "--n-trials", str(n_trials), "--eval-batch", "50")  # fmt: skip
    proc = _spawn(cmd, env)
    try:
        stored, deadline = 0, time.monotonic() + 60
        while stored < 200:  # let it store a few rounds, then kill it mid-run
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "worker stored nothing in 60 s"
            time.sleep(0.05)
            st = open_storage(team_url, "unused").storage
            names = [n for n in optuna.get_all_study_names(st) if n.startswith(name + "-")]
            if names:
                stored = len(optuna.load_study(study_name=names[0], storage=st).trials)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    study = _team_study(team_url, name)
    before = study.trials
    assert 200 <= len(before) < n_trials, "the worker must be killed mid-run"
    _check_trials(before, 200)
    # the budget kept by the backend agrees with the study; the dead worker holds at most a batch
    handle = open_storage(team_url, "unused")
    probe = handle.backend.reserve(Claim(oc.study_id(study), "probe", n_trials), 0, 1.0)
    assert probe.complete == len(before) and probe.held_by_others <= 50
    stdout = run_worker([*cmd], env)  # the resumed worker, with the killed one's budget back
    assert f"{n_trials} trials" in stdout
    after = _team_study(team_url, name).trials
    assert len(after) == n_trials
    _check_trials(after, n_trials)  # all COMPLETE: nothing left RUNNING, nothing twice
    assert [t.params for t in after[: len(before)]] == [t.params for t in before]  # none lost
    assert len({t.user_attrs["worker"] for t in after}) == 2
    summary = json.loads((tmp_path / "w" / "summary.json").read_text())
    assert summary["n_trials_this_run"] == n_trials - len(before)
