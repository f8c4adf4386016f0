"""DVC stage `anchors`: reproduce every row of the ANCHORS.md accuracy table under its protocol.

Reads the interim per-source tables (``--interim-dir``, every row of each paper's own dataset as
its adapter mapped it, before cross-source dedup) and params ``base.seed`` and
``featurize.preset``. Writes ``--output`` (JSON list of ``{dataset, protocol, target, metric,
value, anchor_value, higher_is_better, model, note}``) and logs the comparison table.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

from alloyml.anchors import RunConfig, run_anchors, summary_lines, write_records
from alloyml.cli_support import run_stage
from alloyml.params import base_params, featurize_preset, load_yaml

log = logging.getLogger("alloyml.anchors")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--interim-dir", default="data/interim")
    ap.add_argument("--output", default="reports/benchmarks/anchors.json")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--n-jobs", type=int, default=2, help="threads per scikit-learn fit")
    args = ap.parse_args(argv)
    doc = load_yaml(args.params)
    seed = base_params(doc).seed
    preset = featurize_preset(doc)
    t0 = time.perf_counter()
    records = run_anchors(
        args.interim_dir, seed=seed, preset=preset, config=RunConfig(n_jobs=args.n_jobs)
    )
    write_records(records, args.output)
    for line in summary_lines(records):
        log.info("%s", line)
    log.info(
        "wrote %d records to %s in %.0f s", len(records), args.output, time.perf_counter() - t0
    )


if __name__ == "__main__":
    sys.exit(run_stage(main))
