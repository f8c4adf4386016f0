"""Check a sheet as ``dvc repro`` would read it: the source's adapter, then the clean stage's
physical checks. Used by ``alloyml data validate`` and ``alloyml round record`` (one set of rules).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from alloyml.schema import ELEMENTS, TARGETS
from alloyml.sources.base import get_adapter
from alloyml.sources.registry import SourceSpec

if TYPE_CHECKING:
    from alloyml.params import CleanParams

#: Rows per chunk of the physical checks (row-wise; chunks keep the peak memory of a
#: 200,000-row sheet low).
CHECK_CHUNK_ROWS = 20_000


@dataclass
class SheetCheck:
    """What the adapter and the physical checks made of a sheet."""

    rows_in: int
    n_kept: int
    rejects: pd.DataFrame  # REJECT_COLUMNS + ``stage`` (ingest | clean)
    coverage: dict[str, int]  # kept rows with a value, per element / target column
    notes: dict[str, Any] = field(default_factory=dict)
    kept: pd.DataFrame | None = None  # the kept rows (only with ``keep_rows``)


def check_sheet(
    spec: SourceSpec, paths: list[Path], clean: CleanParams, keep_rows: bool = False
) -> SheetCheck:
    """Run ``spec``'s adapter on ``paths`` and the physical checks on its rows.

    Raises the adapter's :class:`~alloyml.errors.AlloyMLError` on a hard error (unreadable file,
    missing column, bad spec); rows it cannot use are rejects with a reason.
    """
    from alloyml.curation.clean import physical_checks

    columns = [*ELEMENTS, *TARGETS]
    result = get_adapter(spec.adapter)(spec, paths)
    rows, rows_in, notes, ingest_rej = result.rows, result.rows_in, result.notes, result.rejects
    del result
    n_kept, coverage = 0, dict.fromkeys(columns, 0)
    clean_parts, kept_parts = [], []
    for start in range(0, len(rows), CHECK_CHUNK_ROWS):
        kept, rej = physical_checks(rows.iloc[start : start + CHECK_CHUNK_ROWS], spec.system, clean)
        n_kept += len(kept)
        for col in columns:
            if col in kept:
                coverage[col] += int(kept[col].notna().sum())
        clean_parts.append(rej)
        if keep_rows:
            kept_parts.append(kept)
        del kept
    del rows
    clean_rej = pd.concat(clean_parts, ignore_index=True) if clean_parts else ingest_rej.head(0)
    rejects = pd.concat(
        [ingest_rej.assign(stage="ingest"), clean_rej.assign(stage="clean")], ignore_index=True
    )
    kept_all = None
    if keep_rows:
        kept_all = pd.concat(kept_parts, ignore_index=True) if kept_parts else pd.DataFrame()
    return SheetCheck(rows_in, n_kept, rejects, coverage, notes, kept_all)
