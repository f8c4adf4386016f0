"""Shared fixtures: the real-data mirror, the repository root, the declared sources."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def mirror_dir() -> Path:
    """The shared real-data mirror: $ALLOYML_DATA_MIRROR or ../shared/data beside the repo."""
    env = os.environ.get("ALLOYML_DATA_MIRROR")
    return Path(env) if env else (REPO.parent / "shared" / "data")


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
