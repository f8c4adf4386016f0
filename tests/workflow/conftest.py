"""A real pipeline run for the workflow tests: `dvc repro` of the repository's own dvc.yaml.

The session fixture ``workspace`` copies the pipeline definition (dvc.yaml, params.yaml,
pipelines/, data/sources.yaml, the package sources DVC hashes) into a temporary git repository,
merges ``data/quick_overrides.yaml`` into its params.yaml (fewer model families, folds, seeds and
trials; the data are the full real sources from the mirror) and runs ``dvc repro`` for the
search campaigns and the backtest, which pulls in ingest, clean, featurize and train. MLflow runs
go to ``mlflow.db`` inside the workspace. The notebooks, the report and the MLflow UI test read
what this run wrote, exactly as a scientist reads a `dvc repro` of the defaults.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
OVERRIDES = HERE / "data" / "quick_overrides.yaml"
COPY = ("dvc.yaml", "params.yaml", ".dvcignore", "pipelines", "src", "data/sources.yaml",
        "requirements.lock", ".dvc/config", ".dvc/.gitignore")  # fmt: skip


def merge(base: dict, over: dict) -> dict:
    """Deep merge: mappings merge, other values replace, ``None`` deletes the key."""
    out = dict(base)
    for key, value in over.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float) -> None:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-60:])
        pytest.fail(f"{' '.join(cmd)} failed ({proc.returncode}):\n{tail}")


def workspace_env(root: Path, mirror: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALLOYML_")}
    bindir = str(Path(sys.executable).parent)
    return env | {
        "ALLOYML_DATA_MIRROR": str(mirror),
        "ALLOYML_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "PATH": bindir + os.pathsep + env.get("PATH", ""),
        "MPLBACKEND": "Agg",
        "GIT_AUTHOR_NAME": "alloyml-tests", "GIT_AUTHOR_EMAIL": "tests@alloyml.invalid",
        "GIT_COMMITTER_NAME": "alloyml-tests", "GIT_COMMITTER_EMAIL": "tests@alloyml.invalid",
    }  # fmt: skip


def build_workspace(root: Path, mirror: Path) -> Path:
    for rel in COPY:
        src, dst = REPO / rel, root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, dst)
    params = merge(yaml.safe_load((REPO / "params.yaml").read_text()),
                   yaml.safe_load(OVERRIDES.read_text()))  # fmt: skip
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = workspace_env(root, mirror)
    _run(["git", "init", "-q"], root, env, 60)
    _run(["git", "add", "-A"], root, env, 60)
    _run(["git", "commit", "-qm", "workspace"], root, env, 60)
    targets = [f"search@{c}" for c in params["search"]["campaigns"]]
    targets += [f"backtest@{d}" for d in params["backtest"]["datasets"]]
    _run([sys.executable, "-m", "dvc", "repro", *targets], root, env, 1800)
    return root


REUSE_ENV = "ALLOYML_TEST_WORKSPACE"


@pytest.fixture(scope="session")
def workspace(tmp_path_factory, mirror) -> Path:
    """Root of a finished quick `dvc repro` on the real data (see the module docstring).

    Developers iterating on the notebooks may set ``$ALLOYML_TEST_WORKSPACE`` to a workspace an
    earlier session built (``build_workspace``); CI leaves it unset and builds a fresh one.
    """
    reuse = os.environ.get(REUSE_ENV)
    if reuse:
        root = Path(reuse)
        if not (root / "dvc.lock").is_file():
            pytest.fail(f"${REUSE_ENV}={reuse} is not a built workspace (no dvc.lock)")
        return root
    return build_workspace(tmp_path_factory.mktemp("workspace"), mirror)
