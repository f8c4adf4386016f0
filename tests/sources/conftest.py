"""Shared fixtures of the adapter tests: the real files of a declared source, fetched and adapted.

Each is a session-scoped factory keyed by source id and cached, so that every real file is
fetched and adapted once per session however many modules ask for it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

import pytest

from alloyml.sources import AdapterResult, fetch, get_adapter


@pytest.fixture(scope="session")
def real_paths(mirror, sources) -> Callable[[str], list[Path]]:
    """``real_paths(source_id)``: the checksum-verified mirror paths of the source's files."""

    @functools.cache
    def paths(source_id: str) -> list[Path]:
        spec = sources[source_id]
        return [fetch(f, spec.id, mirror=mirror) for f in spec.files]

    return paths


@pytest.fixture(scope="session")
def real_source(sources, real_paths) -> Callable[[str], AdapterResult]:
    """``real_source(source_id)``: the source's declared adapter run on its real files."""

    @functools.cache
    def result(source_id: str) -> AdapterResult:
        spec = sources[source_id]
        return get_adapter(spec.adapter)(spec, real_paths(source_id))

    return result
