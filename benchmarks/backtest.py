"""Benchmark: can a ``backtest@<dataset>`` stage run within its budget (10 minutes on 2 cores)?

Runs every campaign of the stage (every method and batch size of ``params.yaml`` ``backtest``)
for ``--seeds`` seeds on the real pool, measures CPU seconds per seed and projects the stage's
wall-clock time as ``CPU per seed x n_seeds / cores`` (campaigns are independent and spread over
``backtest.n_jobs`` worker processes; reports and plots take a few seconds more). With
``--report`` it reads a finished stage's JSON instead: the CPU seconds of all its campaigns
(``cpu_s``, measured) over ``--cores``, and prints its measured wall time beside (which, on a
shared machine or with fewer workers, says more about the machine than the stage).

The last line is ``RESULT ratio=<budget / projected wall time> projected_s=<s> budget_s=<s>``:
a ratio >= 1 means the stage fits its budget.

Run from the repository root::

    .venv/bin/python benchmarks/backtest.py --dataset jiang_uts
    .venv/bin/python benchmarks/backtest.py --dataset jiang_uts --cores 2 --seeds 1
    .venv/bin/python benchmarks/backtest.py --report reports/backtest/jiang_uts.json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from alloyml.evaluation.backtest import (  # noqa: E402
    TOP_FRACTIONS,
    backtest_params,
    build_pool,
    initial_design,
    methods_of,
    run_campaign,
    top_mask,
)
from alloyml.features import feature_labels  # noqa: E402
from alloyml.params import featurize_preset, load_yaml  # noqa: E402

log = logging.getLogger("alloyml.benchmarks.backtest")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="jiang_uts", help="a key of backtest.datasets")
    ap.add_argument("--data-dir", default=str(REPO / "data"), help="holds processed/, features/")
    ap.add_argument("--params", default=str(REPO / "params.yaml"))
    ap.add_argument("--seeds", type=int, default=2, help="seeds measured (then projected)")
    ap.add_argument("--cores", type=int, default=2, help="cores of the stage")
    ap.add_argument("--budget-s", type=float, default=600.0, help="wall-clock budget, seconds")
    ap.add_argument("--report", default=None, help="a finished stage's JSON: use its runtime_s")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    if args.report:
        rep = json.loads(Path(args.report).read_text(encoding="utf-8"))
        projected = float(rep["cpu_s"]) / args.cores
        print(
            f"{rep['dataset']}: campaigns' CPU {rep['cpu_s']:.0f} s / {args.cores} cores = "
            f"{projected:.0f} s; measured wall time of that run {rep['runtime_s']:.0f} s"
        )
    else:
        doc = load_yaml(args.params)
        cfg = backtest_params(doc)
        spec = cfg.datasets[args.dataset]
        data = Path(args.data_dir)
        pool = build_pool(
            pd.read_parquet(data / "features" / f"{spec.system}.parquet"),
            pd.read_parquet(data / "processed" / f"{spec.system}.parquet"),
            spec,
            feature_labels(featurize_preset(doc)),
        )
        max_guided = spec.max_guided or cfg.max_guided
        top5 = top_mask(pool.y, TOP_FRACTIONS["top5"])
        per_seed = 0.0
        for i in range(args.seeds):
            seed = cfg.seed + i
            init = initial_design(top5, cfg.n_init, np.random.default_rng([seed, 104729]))
            for m in methods_of(cfg):
                sizes = cfg.batch_sizes if m.name == "product" else cfg.other_batch_sizes
                for q in sizes:
                    t0 = time.process_time()
                    run_campaign(pool, m, init, q, cfg, seed, max_guided)
                    dt = time.process_time() - t0
                    per_seed += dt / args.seeds
                    print(f"seed {seed} {m.name}@b{q}: {dt:.1f} s CPU")
        projected = per_seed * cfg.n_seeds / max(1, min(args.cores, cfg.n_jobs))
        print(
            f"{args.dataset}: {per_seed:.1f} s CPU per seed x {cfg.n_seeds} seeds / "
            f"{min(args.cores, cfg.n_jobs)} worker(s) = {projected:.0f} s projected"
        )
    print(
        f"RESULT ratio={args.budget_s / projected:.2f} projected_s={projected:.0f} "
        f"budget_s={args.budget_s:.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
