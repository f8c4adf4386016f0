"""The contract every adapter keeps, checked once per declared source on its real files.

Columns and dtypes of the canonical schema, provenance on every row, a reject log in the reject
schema, and every input row accounted for exactly once (rows in = kept + rejected). What is
particular to one source (its counts, units, traps) stays in that source's test module.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from alloyml.params import ingest_params, load_yaml
from alloyml.schema import ADAPTER_COLUMNS, BALANCE, REJECT_COLUMNS, TEXT_COLUMNS, conform

pytestmark = pytest.mark.realdata

#: Every source the pipeline ingests (``params.yaml`` ``ingest.sources``).
SOURCE_IDS = sorted(
    ingest_params(load_yaml(Path(__file__).resolve().parents[2] / "params.yaml")).sources
)
COMP_BASES = {"measured", "nominal", "spec_midpoint"}


def test_the_seven_sources_are_covered():
    assert len(SOURCE_IDS) == 7


@pytest.mark.parametrize("source_id", SOURCE_IDS)
def test_columns_and_dtypes(real_source, source_id):
    rows = real_source(source_id).rows
    assert len(rows) > 0
    assert list(rows.columns) == list(ADAPTER_COLUMNS)
    pd.testing.assert_frame_equal(rows, conform(rows))  # conform changes nothing
    for col in rows.columns:
        if col in TEXT_COLUMNS:
            assert rows[col].dtype == "string", col
        elif col == "source_row":
            assert rows[col].dtype == "Int64"
        else:
            assert rows[col].dtype == np.float64, col


@pytest.mark.parametrize("source_id", SOURCE_IDS)
def test_provenance_on_every_row(real_source, sources, source_id):
    spec = sources[source_id]
    rows = real_source(source_id).rows
    assert (rows["source_id"] == source_id).all()
    assert (rows["system"] == spec.system).all() and spec.system in BALANCE
    assert rows["source_row"].notna().all() and (rows["source_row"] >= 0).all()
    assert list(rows["row_uid"]) == [f"{source_id}:{int(i)}" for i in rows["source_row"]]
    assert rows["row_uid"].is_unique
    assert rows["comp_basis"].notna().all() and set(rows["comp_basis"]) <= COMP_BASES
    if spec.doi:  # one paper for the whole table: its DOI on every row
        assert (rows["doi"] == spec.doi).all()


@pytest.mark.parametrize("source_id", SOURCE_IDS)
def test_every_input_row_kept_or_rejected_once(real_source, source_id):
    res = real_source(source_id)
    res.check_accounting()
    kept = set(res.rows["source_row"].astype(int))
    rejected = res.rejects["source_row"].astype(int)
    assert rejected.is_unique and not kept & set(rejected)
    assert res.rows_in == len(res.rows) + len(res.rejects)
    assert list(res.rejects.columns) == list(REJECT_COLUMNS)
    assert (res.rejects["source_id"] == source_id).all()
    for col in ("reason", "column", "detail"):
        assert res.rejects[col].astype(str).str.strip().ne("").all(), col
