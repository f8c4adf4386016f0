"""Fixtures of the search tests: tiny champion bundles trained on real rows, a test params file.

The bundles are trained with :func:`alloyml.modeling.train.train_target` (ridge only, 3 folds, no tuning,
one BLAS thread) on a few hundred real rows of the shared mirror (Al: jiang_7xxx; Mg: every
Mg-Li row of ghorbani_m916 plus 150 others), ingested and cleaned by the package itself, and
saved with :func:`alloyml.modeling.bundle.save_bundle` as ``models/<system>/<target>/`` in a temporary
directory; the processed tables go to ``data/processed/<system>.parquet`` beside them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
TEST_PARAMS = HERE / "data" / "params_search.yaml"
TARGETS = {"al": ("uts_mpa", "elong_pct"), "mg": ("uts_mpa", "elong_pct")}
SOURCES = {"al": ("jiang_7xxx",), "mg": ("ghorbani_m916",)}


def build_search_fixture(root: Path, mirror: Path, sources: dict) -> Path:
    """Processed tables and trained bundles under ``root`` (see the module docstring)."""
    from threadpoolctl import threadpool_limits

    from alloyml.curation.clean import clean_system
    from alloyml.features import featurize
    from alloyml.modeling.bundle import save_bundle
    from alloyml.modeling.train import TrainConfig, train_target
    from alloyml.params import clean_params, load_yaml
    from alloyml.sources.ingest import ingest_source

    cp = clean_params(load_yaml(REPO / "params.yaml"))
    cfg = TrainConfig(
        seed=42, models=("ridge",), folds=3, inner_folds=2, tuning_trials=0, n_jobs=1,
        learning_curve_fractions=(1.0,),
    )  # fmt: skip
    for system, sids in SOURCES.items():
        interim = {}
        for sid in sids:
            r = ingest_source(sources[sid], mirror=mirror)
            meta = {"system": system, "rows_in": r.rows_in, "notes": r.notes}
            interim[sid] = (r.rows, r.rejects, meta)
        table = clean_system(system, interim, cp).table
        if system == "mg":
            li = table[table["Li"].fillna(0) > 0.3]
            rest = table.drop(li.index).sample(150, random_state=0)
            table = pd.concat([li, rest])
        else:
            table = table.sample(220, random_state=0)
        table = table.sort_values("row_uid").reset_index(drop=True)
        proc = root / "data" / "processed" / f"{system}.parquet"
        proc.parent.mkdir(parents=True, exist_ok=True)
        table.to_parquet(proc, index=False)
        feats = featurize(table, "alloy_v1")
        labels = list(feats.columns)
        for target in TARGETS[system]:
            m = table[target].notna().to_numpy()
            with threadpool_limits(1):
                res = train_target(
                    feats.to_numpy(float)[m],
                    table[target].to_numpy(float)[m],
                    table["group_id"].astype(str).to_numpy()[m],
                    table["source_id"].astype(str).to_numpy()[m],
                    labels,
                    target,
                    cfg,
                )
            res.bundle.meta |= {"system": system, "preset": "alloy_v1", "data_digest": "fixture"}
            save_bundle(res.bundle, root / "models" / system / target)
    return root


@pytest.fixture(scope="session")
def search_root(tmp_path_factory, mirror, sources) -> Path:
    """Root with ``models/`` and ``data/processed/`` of the tiny real-data fixture."""
    return build_search_fixture(tmp_path_factory.mktemp("search"), mirror, sources)


@pytest.fixture(scope="session")
def test_doc() -> dict:
    """The test params (base + search section with small campaigns)."""
    return yaml.safe_load(TEST_PARAMS.read_text())


@pytest.fixture
def params_file(tmp_path, test_doc):
    """Write a params file with the test campaigns, optionally renamed/overridden."""

    def write(overrides: dict | None = None, rename: dict | None = None) -> Path:
        doc = yaml.safe_load(yaml.safe_dump(test_doc))
        for name, new in (rename or {}).items():
            doc["search"]["campaigns"][new] = doc["search"]["campaigns"].pop(name)
        for name, over in (overrides or {}).items():
            doc["search"]["campaigns"][name] |= over
        path = tmp_path / f"params-{uuid.uuid4().hex[:6]}.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    return write


def search_cmd(root: Path, params: Path, campaign: str, out: Path, *extra: str) -> list[str]:
    """Command line of a real ``alloyml search`` worker process."""
    return [
        sys.executable, "-m", "alloyml.cli", "search", campaign,
        "--params", str(params), "--models-dir", str(root / "models"),
        "--processed-dir", str(root / "data" / "processed"), "--output", str(out),
        "--no-track", *extra,
    ]  # fmt: skip


def worker_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "ALLOYML_OPTUNA_STORAGE"}
    env |= {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env |= {"PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    return env | extra


def run_worker(cmd: list[str], env: dict[str, str], timeout: float = 120) -> str:
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"worker failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


# Team backends: the CI machine runs PostgreSQL (127.0.0.1:5432, trust auth, user postgres) and
# Redis (127.0.0.1:6379). Each test gets a database / key prefix of its own, removed afterwards.
# An unreachable server is a failure, never a skip.
PG_SERVER = os.environ.get(
    "ALLOYML_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)
REDIS_SERVER = os.environ.get("ALLOYML_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture
def pg_url():
    """URL of a fresh PostgreSQL database (dropped after the test)."""
    from sqlalchemy.engine import make_url

    try:
        import psycopg2

        admin = psycopg2.connect(
            make_url(PG_SERVER).set(drivername="postgresql").render_as_string(False),
            connect_timeout=5,
        )
    except Exception as exc:
        pytest.fail(f"PostgreSQL not reachable at {PG_SERVER} ({exc}); the team tests need it "
                    "(set ALLOYML_TEST_PG_URL to another server)")  # fmt: skip
    admin.autocommit = True
    name = f"alloyml_t_{uuid.uuid4().hex[:10]}"
    with admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE {name}")
    try:
        yield make_url(PG_SERVER).set(database=name).render_as_string(False)
    finally:
        with admin.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


@pytest.fixture
def redis_url():
    """``redis://`` URL with a key prefix of its own (its keys deleted after the test)."""
    try:
        import redis

        client = redis.Redis.from_url(REDIS_SERVER)
        client.ping()
    except Exception as exc:
        pytest.fail(f"Redis not reachable at {REDIS_SERVER} ({exc}); the team tests need it "
                    "(set ALLOYML_TEST_REDIS_URL to another server)")  # fmt: skip
    prefix = f"alloyml_t_{uuid.uuid4().hex[:10]}"
    sep = "&" if "?" in REDIS_SERVER else "?"
    try:
        yield f"{REDIS_SERVER}{sep}prefix={prefix}"
    finally:
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
        client.close()


@pytest.fixture(params=["postgresql", "redis"])
def team_url(request):
    """Each team backend in turn."""
    return request.getfixturevalue("pg_url" if request.param == "postgresql" else "redis_url")
