"""DVC stage `ingest@<source>`: fetch one source and map it to canonical rows.

Reads params `ingest.*`; writes data/interim/<system>/<source>.{parquet,rejects.csv,json}.
"""

from __future__ import annotations

import argparse
import logging
import sys

from alloyml.cli_support import run_stage
from alloyml.params import ingest_params, load_yaml
from alloyml.sources.ingest import ingest_source, write_interim
from alloyml.sources.registry import load_sources


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--source", required=True)
    ap.add_argument("--out-dir", required=True)
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args(argv)
    p = ingest_params(load_yaml(args.params))
    specs = load_sources(p.sources_file)
    if args.source not in specs:
        raise SystemExit(f"error: source {args.source!r} is not declared in {p.sources_file}")
    spec = specs[args.source]
    if p.sources.get(spec.id) != spec.system:
        raise SystemExit(
            f"error: params.yaml ingest.sources.{spec.id} is {p.sources.get(spec.id)!r} but "
            f"{p.sources_file} declares system {spec.system!r}"
        )
    result = ingest_source(spec, raw_dir=p.raw_dir)
    meta = write_interim(result, spec, args.out_dir)
    logging.getLogger("alloyml.sources.ingest").info(
        "%s: %d rows in, %d out, %d rejected %s",
        spec.id, meta["rows_in"], meta["rows_out"], meta["rejected"], meta["rejected_by_reason"],
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(run_stage(main))
