"""The source registry: ``data/sources.yaml`` read and validated (:class:`alloyml.config.SourcesFile`)
into :class:`SourceSpec` objects."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alloyml.config import SOURCES_TOP_LEVEL, load_yaml, parse_sources_file


@dataclass(frozen=True)
class FileSpec:
    """One raw file of a source: path relative to the data root, pinned origin URL, sha256.

    ``local``: the file is kept with the project (e.g. a recorded lab round under
    ``data/rounds/``) and ``path`` is relative to the project directory instead.
    """

    path: str
    sha256: str
    url: str | None = None
    local: bool = False


@dataclass(frozen=True)
class SourceSpec:
    """A declared data source.

    Attributes:
        id: short identifier (``anu_al_1154``), used in file names and provenance.
        system: ``al`` or ``mg``.
        adapter: name of the adapter that maps the raw table to canonical rows.
        files: the raw files; the first one is the main table.
        options: adapter/reader options (``sheet``, ``header``, ...).
        citation, licence, doi: provenance text carried into reports.
    """

    id: str
    system: str
    adapter: str
    files: tuple[FileSpec, ...]
    options: dict[str, Any] = field(default_factory=dict)
    citation: str = ""
    licence: str = ""
    doi: str | None = None

    @property
    def main(self) -> FileSpec:
        return self.files[0]


def parse_sources(doc: Any, where: str = "sources.yaml") -> dict[str, SourceSpec]:
    """Validate the parsed YAML document of ``sources.yaml`` and return specs by id."""
    parsed = parse_sources_file(doc, where)
    return {
        s.id: SourceSpec(
            id=s.id,
            system=s.system,
            adapter=s.adapter,
            files=tuple(FileSpec(f.path, f.sha256, f.url, f.local) for f in s.files),
            options=dict(s.options),
            citation=s.citation,
            licence=s.licence,
            doi=s.doi,
        )
        for s in parsed.sources
    }


def load_sources(path: str | Path) -> dict[str, SourceSpec]:
    """Read and validate ``sources.yaml``."""
    doc = load_yaml(path, "source registry", top_level=SOURCES_TOP_LEVEL)
    return parse_sources(doc, where=str(path))
