"""DVC stage `featurize@<system>`: composition, alloy-physics and process descriptors.

Reads only the processed table given by ``--input`` (parquet; ``.csv`` also accepted for small
fixtures) and the preset name given by ``--preset`` (dvc.yaml passes ``${featurize.preset}``).
Writes ``--output`` (parquet): ``row_uid``, ``group_id``, the targets present in the input
(``ys_mpa``, ``uts_mpa``, ``elong_pct``, ``hardness_hv``) and the preset's features, in label
order. The parquet's key-value metadata ``alloyml.features`` records the preset, its date, the
elemental-table digest and the matminer version.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from alloyml.cli_support import run_stage
from alloyml.errors import SchemaError
from alloyml.features import Featurizer, provenance
from alloyml.schema import TARGETS

log = logging.getLogger("alloyml.features")

ID_COLUMNS = ("row_uid", "group_id")


def read_table(path: Path) -> pd.DataFrame:
    """Read the processed table (parquet, or CSV for fixtures)."""
    if not path.is_file():
        raise SchemaError(f"input table {path} not found; run the clean stage first")
    if path.suffix == ".csv":
        return pd.read_csv(path)
    return pd.read_parquet(path)


def build_features(table: pd.DataFrame, preset: str, system: str) -> tuple[pd.DataFrame, dict]:
    """Feature table (ids, targets, features) and its provenance metadata."""
    missing = [c for c in ID_COLUMNS if c not in table.columns]
    if missing:
        raise SchemaError(f"processed table lacks {missing}: is it the clean stage's output?")
    if "system" in table.columns:
        other = table["system"].dropna().astype(str).unique().tolist()
        if any(s != system for s in other):
            raise SchemaError(f"--system {system!r} but the table holds systems {other}")
    fz = Featurizer(preset)
    feats = fz.transform_frame(table)
    targets = [t for t in TARGETS if t in table.columns]
    out = pd.concat(
        [table[list(ID_COLUMNS)].astype("string"), table[targets].astype(float), feats], axis=1
    ).reset_index(drop=True)
    meta = provenance(fz) | {"system": system, "rows": str(len(out))}
    return out, meta


def write_parquet(frame: pd.DataFrame, path: Path, meta: dict) -> None:
    """Write ``frame`` with ``meta`` under the schema metadata key ``alloyml.features``."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    kv = dict(table.schema.metadata or {})
    kv[b"alloyml.features"] = json.dumps(meta, sort_keys=True).encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.replace_schema_metadata(kv), path)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--system", required=True, choices=["al", "mg"])
    ap.add_argument("--input", required=True, help="data/processed/<system>.parquet")
    ap.add_argument("--output", required=True, help="data/features/<system>.parquet")
    ap.add_argument("--preset", required=True, help="feature preset, e.g. alloy_v1")
    args = ap.parse_args(argv)
    table = read_table(Path(args.input))
    out, meta = build_features(table, args.preset, args.system)
    write_parquet(out, Path(args.output), meta)
    log.info(
        "%s: %d rows x %d features (preset %s, tables %s) -> %s",
        args.system,
        len(out),
        int(meta["n_features"]),
        args.preset,
        meta["table_digest"],
        args.output,
    )


if __name__ == "__main__":
    sys.exit(run_stage(main))
