"""Fetch raw source files: from a mirror directory or the pinned origin URL, sha256 verified.

Order: ``$ALLOYML_DATA_MIRROR/<path>`` when the variable (or ``mirror=``) is set and the file is
there; else ``<raw_dir>/<path>`` if a previous download left it; else download ``url`` into
``<raw_dir>/<path>``. A sha256 mismatch is always an error: the bytes are not the ones the
adapters were written and tested against.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.request
from pathlib import Path

from alloyml.errors import ChecksumError, SourceError
from alloyml.sources.registry import FileSpec

log = logging.getLogger(__name__)

MIRROR_ENV = "ALLOYML_DATA_MIRROR"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _verify(path: Path, spec: FileSpec, source_id: str) -> Path:
    got = sha256_file(path)
    if got != spec.sha256:
        raise ChecksumError(
            f"sha256 mismatch for {path}: expected {spec.sha256}, got {got}. The file is not the "
            "pinned version; restore it or update sources.yaml after re-checking the adapter",
            source_id=source_id,
        )
    return path


def fetch(
    spec: FileSpec,
    source_id: str,
    raw_dir: str | Path = "data/raw",
    mirror: str | Path | None = None,
    timeout: float = 60.0,
) -> Path:
    """Return a local, checksum-verified path to the bytes of ``spec``.

    A ``local`` file (kept with the project) is read from ``spec.path`` relative to the current
    directory (the project directory for ``dvc repro`` and the command line).
    """
    if spec.local:
        path = Path(spec.path)
        if not path.is_file():
            raise SourceError(
                f"{spec.path} (a file kept with the project) not found in {Path.cwd()}",
                source_id=source_id,
            )
        return _verify(path, spec, source_id)
    mirror = mirror if mirror is not None else os.environ.get(MIRROR_ENV)
    if mirror:
        candidate = Path(mirror) / spec.path
        if candidate.is_file():
            return _verify(candidate, spec, source_id)
        log.warning("%s not in mirror %s; trying the download cache", spec.path, mirror)
    cached = Path(raw_dir) / spec.path
    if cached.is_file():
        return _verify(cached, spec, source_id)
    if not spec.url:
        raise SourceError(
            f"{spec.path} is not in the mirror ({mirror or f'${MIRROR_ENV} unset'}) and the source "
            "declares no origin URL: set ALLOYML_DATA_MIRROR to a directory holding it",
            source_id=source_id,
        )
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(cached.suffix + ".part")
    log.info("downloading %s", spec.url)
    try:
        with urllib.request.urlopen(spec.url, timeout=timeout) as resp, open(tmp, "wb") as fh:
            fh.write(resp.read())
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise SourceError(
            f"could not download {spec.url} ({exc}); set ALLOYML_DATA_MIRROR to a local copy",
            source_id=source_id,
        ) from None
    try:
        _verify(tmp, spec, source_id)
    except ChecksumError:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(cached)
    return cached
