"""Ingest one source: fetch its files (mirror or origin URL, sha256 checked) and run its adapter.

Outputs of one source (written by :func:`write_interim`):

- ``<dir>/<source>.parquet``: canonical rows (:data:`alloyml.schema.ADAPTER_COLUMNS`);
- ``<dir>/<source>.rejects.csv``: rows the adapter could not read, with reason and column;
- ``<dir>/<source>.json``: ``rows_in``, counts and the adapter's notes, for the accounting
  done by the clean stage.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from alloyml.sources.base import AdapterResult, get_adapter
from alloyml.sources.fetch import fetch
from alloyml.sources.registry import SourceSpec


def ingest_source(
    spec: SourceSpec, raw_dir: str | Path = "data/raw", mirror: str | Path | None = None
) -> AdapterResult:
    """Fetch the files of ``spec`` and map them to canonical rows with its adapter."""
    paths = [fetch(f, spec.id, raw_dir=raw_dir, mirror=mirror) for f in spec.files]
    adapt = get_adapter(spec.adapter)
    result = adapt(spec, paths)
    result.check_accounting()
    return result


def write_interim(result: AdapterResult, spec: SourceSpec, out_dir: str | Path) -> dict:
    """Write rows, rejects and metadata of one ingested source; return the metadata."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result.rows.to_parquet(out / f"{spec.id}.parquet", index=False)
    result.rejects.to_csv(out / f"{spec.id}.rejects.csv", index=False, lineterminator="\n")
    meta = {
        "source_id": spec.id,
        "system": spec.system,
        "rows_in": int(result.rows_in),
        "rows_out": len(result.rows),
        "rejected": len(result.rejects),
        "rejected_by_reason": {
            str(k): int(v) for k, v in result.rejects["reason"].value_counts().sort_index().items()
        },
        "files": [{"path": f.path, "sha256": f.sha256} for f in spec.files],
        "citation": spec.citation,
        "notes": result.notes,
    }
    (out / f"{spec.id}.json").write_text(
        json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8"
    )
    return meta


def read_interim(in_dir: str | Path, source_id: str) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Read what :func:`write_interim` wrote for one source."""
    d = Path(in_dir)
    rows = pd.read_parquet(d / f"{source_id}.parquet")
    rejects = pd.read_csv(
        d / f"{source_id}.rejects.csv",
        dtype={"column": str, "detail": str, "raw": str},
        keep_default_na=False,
    )
    meta = json.loads((d / f"{source_id}.json").read_text(encoding="utf-8"))
    return rows, rejects, meta
