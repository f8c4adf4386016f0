"""Shared fixtures: the real-data mirror, the repository root, the sources, real-data subsets."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def mirror_dir() -> Path:
    """The shared real-data mirror: $ALLOYML_DATA_MIRROR or ../shared/data beside the repo."""
    env = os.environ.get("ALLOYML_DATA_MIRROR")
    # resolved once: the workflow tests run dvc repro in a copy of the project elsewhere
    return (Path(env) if env else (REPO.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def mirror() -> Path:
    path = mirror_dir()
    if not (path / "MANIFEST.tsv").is_file():
        pytest.fail(f"real-data mirror not found at {path}; set ALLOYML_DATA_MIRROR")
    return path


@pytest.fixture(scope="session")
def sources():
    from alloyml.sources import load_sources

    return load_sources(REPO / "data" / "sources.yaml")


@pytest.fixture(scope="session")
def jiang_subset(mirror, repo, sources, tmp_path_factory) -> Callable[..., pd.DataFrame]:
    """``jiang_subset(n, seed, targets=("uts_mpa",))``: a small real-data training subset.

    ``n`` rows of the cleaned jiang_7xxx table (that source alone, ingested from the mirror and
    cleaned with ``params.yaml``) that report every target, sampled with ``random_state=seed``
    and renumbered from 0. The cleaned table is built once a session; each call returns a new frame.
    """
    from alloyml.curation.clean import clean_system
    from alloyml.params import clean_params, load_yaml
    from alloyml.sources.ingest import ingest_source

    spec = sources["jiang_7xxx"]
    res = ingest_source(spec, raw_dir=tmp_path_factory.mktemp("raw"), mirror=mirror)
    meta = {"system": spec.system, "rows_in": res.rows_in}
    table = clean_system(
        "al",
        {spec.id: (res.rows, res.rejects, meta)},
        clean_params(load_yaml(repo / "params.yaml")),
    ).table

    def subset(n: int, seed: int, targets: tuple[str, ...] = ("uts_mpa",)) -> pd.DataFrame:
        keep = table[list(targets)].notna().all(axis=1)
        return table.loc[keep].sample(n, random_state=seed).reset_index(drop=True)

    return subset
