"""A team shares results, not just code: `dvc push` from one clone, `dvc pull` in a fresh one.

The project's `.dvc/config` names a default remote `team`; its URL is a folder beside the
project and a team points it at shared storage (see the README, "Sharing results"). Here the
remote is a temporary folder (`dvc remote modify --local`, which writes `.dvc/config.local`,
never committed) so the test touches nothing outside its temporary directory.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import REPO, workspace_env


def _ok(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def test_project_config_names_a_default_team_remote():
    text = (REPO / ".dvc" / "config").read_text()
    assert "remote = team" in text
    assert "['remote \"team\"']" in text


def test_push_then_pull_on_a_fresh_clone_needs_no_retraining(workspace, tmp_path, mirror):
    first, fresh, store = tmp_path / "first", tmp_path / "fresh", tmp_path / "store"
    shutil.copytree(workspace, first, symlinks=True)
    env = workspace_env(first, mirror)
    dvc = [sys.executable, "-m", "dvc"]
    # the first member commits the run (dvc.lock, reports) and pushes the cached outputs
    _ok(["git", "add", "-A"], first, env)
    _ok(["git", "commit", "-qm", "run"], first, env)
    _ok([*dvc, "remote", "modify", "--local", "team", "url", str(store)], first, env)
    _ok([*dvc, "push"], first, env)
    assert any(store.rglob("*")), "dvc push wrote nothing to the remote"
    # a fresh clone has code and reports but no models or candidates
    committed = _ok(["git", "ls-files", ".dvc"], first, env).split()
    assert sorted(committed) == [".dvc/.gitignore", ".dvc/config"]  # no cache, no config.local
    _ok(["git", "clone", "-q", str(first), str(fresh)], tmp_path, env)
    env = workspace_env(fresh, mirror)
    assert not (fresh / "models" / "al").exists()
    _ok([*dvc, "remote", "modify", "--local", "team", "url", str(store)], fresh, env)
    _ok([*dvc, "pull"], fresh, env)
    # everything is there and up to date: `dvc repro` would retrain nothing
    params = yaml.safe_load((fresh / "params.yaml").read_text())
    run = [f"search@{c}" for c in params["search"]["campaigns"]]  # what the workspace ran
    run += [f"backtest@{d}" for d in params["backtest"]["datasets"]]
    status = json.loads(_ok([*dvc, "status", "--json", *run], fresh, env) or "{}")
    assert status == {}, f"stages out of date after dvc pull: {sorted(status)}"
    for name in params["search"]["campaigns"]:
        assert (fresh / "reports" / "candidates" / name / "candidates.csv").is_file()
    for system in ("al", "mg"):
        assert any((fresh / "models" / system).rglob("meta.json"))
    out = _ok([sys.executable, "-m", "alloyml.cli", "predict", "--system", "al",
               "Al-5.6Zn-2.5Mg-1.6Cu-0.23Cr", "--temper", "T651", "--models-dir",
               str(fresh / "models")], fresh, env)  # fmt: skip
    assert "uts_mpa" in out or "UTS" in out
