"""DVC stage `clean@<system>`: harmonise the interim tables of one system.

Reads params `clean.*` and `ingest.sources`; writes data/processed/<system>.parquet and
.rejects.csv, reports/data/<system>.json (accounting details) and the data card
reports/data/<system>.md; `--headline` (rows in / kept / rejected: the DVC metrics).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from alloyml.cli_support import run_stage
from alloyml.curation.clean import clean_system
from alloyml.curation.datacard import write_card
from alloyml.headline import clean_headline, write_headline
from alloyml.params import clean_params, ingest_params, load_yaml
from alloyml.sources.ingest import read_interim


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--system", required=True, choices=["al", "mg"])
    ap.add_argument("--interim-dir", required=True)
    ap.add_argument("--out", required=True, help="processed parquet path")
    ap.add_argument("--report-dir", required=True)
    ap.add_argument("--headline", help="reports/headline/clean_<system>.json (DVC metrics)")
    ap.add_argument("--params", default="params.yaml")
    args = ap.parse_args(argv)
    doc = load_yaml(args.params)
    sources = [s for s, sys_ in ingest_params(doc).sources.items() if sys_ == args.system]
    interim = {sid: read_interim(args.interim_dir, sid) for sid in sources}
    result = clean_system(args.system, interim, clean_params(doc))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result.table.to_parquet(out, index=False)
    result.rejects.to_csv(out.with_suffix(".rejects.csv"), index=False, lineterminator="\n")
    rep_dir = Path(args.report_dir)
    rep_dir.mkdir(parents=True, exist_ok=True)
    (rep_dir / f"{args.system}.json").write_text(
        json.dumps(result.report, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    write_card(result.table, result.report, args.system, rep_dir)
    if args.headline:
        write_headline(args.headline, clean_headline(result.report))
    logging.getLogger("alloyml.curation.clean").info("%s: %s", args.system, result.report["totals"])


if __name__ == "__main__":
    sys.exit(run_stage(main))
