"""The source registry: ``data/sources.yaml`` read and validated into :class:`SourceSpec` objects."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from alloyml.errors import ConfigError

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")


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


def _require(entry: dict[str, Any], key: str, where: str) -> Any:
    if key not in entry or entry[key] in (None, ""):
        raise ConfigError(f"{where}: missing required key {key!r}")
    return entry[key]


def parse_sources(doc: Any, where: str = "sources.yaml") -> dict[str, SourceSpec]:
    """Validate the parsed YAML document of ``sources.yaml`` and return specs by id."""
    if not isinstance(doc, dict) or not isinstance(doc.get("sources"), list):
        raise ConfigError(f"{where}: expected a top-level 'sources:' list")
    specs: dict[str, SourceSpec] = {}
    for i, entry in enumerate(doc["sources"]):
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: sources[{i}] is not a mapping")
        sid = _require(entry, "id", f"{where}: sources[{i}]")
        here = f"{where}: source {sid!r}"
        if not _ID.match(str(sid)):
            raise ConfigError(f"{here}: id must be lower_snake_case")
        if sid in specs:
            raise ConfigError(f"{here}: duplicate id")
        system = _require(entry, "system", here)
        if system not in ("al", "mg"):
            raise ConfigError(f"{here}: system must be 'al' or 'mg', got {system!r}")
        files = []
        declared = _require(entry, "files", here)
        if not isinstance(declared, list) or not declared:
            raise ConfigError(f"{here}: 'files' must be a non-empty list")
        options = entry.get("options") or {}
        if not isinstance(options, dict):
            raise ConfigError(f"{here}: 'options' must be a mapping")
        for j, f in enumerate(declared):
            fwhere = f"{here} files[{j}]"
            if not isinstance(f, dict):
                raise ConfigError(f"{fwhere}: must be a mapping with path and sha256")
            sha = str(_require(f, "sha256", fwhere)).lower()
            if not _SHA256.match(sha):
                raise ConfigError(f"{fwhere}: sha256 must be 64 hex digits")
            path = str(_require(f, "path", fwhere))
            if Path(path).is_absolute() or ".." in Path(path).parts:
                raise ConfigError(f"{fwhere}: path must be relative to the data root")
            local = f.get("local", False)
            if not isinstance(local, bool):
                raise ConfigError(f"{fwhere}: local must be true or false")
            files.append(FileSpec(path=path, sha256=sha, url=f.get("url"), local=local))
        specs[sid] = SourceSpec(
            id=sid,
            system=system,
            adapter=str(_require(entry, "adapter", here)),
            files=tuple(files),
            options=dict(options),
            citation=str(entry.get("citation", "")),
            licence=str(entry.get("licence", "")),
            doi=entry.get("doi"),
        )
    return specs


def load_sources(path: str | Path) -> dict[str, SourceSpec]:
    """Read and validate ``sources.yaml``."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"source registry {p} not found")
    try:
        doc = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML ({exc})") from None
    return parse_sources(doc, where=str(p))
