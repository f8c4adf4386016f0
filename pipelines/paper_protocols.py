"""DVC stage `paper_protocols`: each source paper's accuracy beside ours, under the paper's protocol.

Reads the interim per-source tables (``--interim-dir``, every row of each paper's own dataset as
its adapter mapped it, before cross-source dedup), the source registry (``ingest.sources_file``)
and params ``base.seed``, ``featurize.preset`` and ``clean.composition_decimals``; the numbers
and protocols are ``src/alloyml/evaluation/paper_protocols.yaml``. Writes ``--output`` (JSON
list of ``{dataset, protocol, target, metric, value, anchor_value, higher_is_better, model,
note}``) and logs the comparison table.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from alloyml import paths
from alloyml.cli_support import run_stage
from alloyml.evaluation.paper_protocols import (
    RunConfig,
    run_paper_protocols,
    summary_lines,
    write_records,
)
from alloyml.params import base_params, clean_params, featurize_preset, ingest_params, load_yaml
from alloyml.sources import load_sources

log = logging.getLogger("alloyml.paper_protocols")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--interim-dir", default=paths.INTERIM)
    ap.add_argument("--output", default="reports/benchmarks/anchors.json")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--n-jobs", type=int, default=2, help="parallel fits")
    args = ap.parse_args(argv)
    doc = load_yaml(args.params)
    cfg = RunConfig(
        seed=base_params(doc).seed,
        preset=featurize_preset(doc),
        decimals=clean_params(doc).composition_decimals,
        n_jobs=args.n_jobs,
    )
    sources = load_sources(ingest_params(doc).sources_file)
    t0 = time.perf_counter()
    records = run_paper_protocols(args.interim_dir, sources, cfg)
    write_records(records, args.output)
    for line in summary_lines(records):
        log.info("%s", line)
    log.info(
        "wrote %d records to %s in %.0f s", len(records), args.output, time.perf_counter() - t0
    )


if __name__ == "__main__":
    sys.exit(run_stage(main))
