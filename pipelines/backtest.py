"""DVC stage `backtest@<dataset>`: simulated discovery campaign against random selection.

Reads params `base.seed`, `featurize.preset`, `backtest.*`; the dataset (pool rows, target) is
`backtest.datasets.<dataset>`. Writes reports/backtest/<dataset>.json (details and curves),
reports/backtest/<dataset>.png and `--headline` (the acceleration factors: the DVC metrics). Definitions: :mod:`alloyml.evaluation.backtest`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

import pandas as pd

from alloyml.cli_support import run_stage
from alloyml.errors import ConfigError
from alloyml.evaluation.backtest import (
    backtest_params,
    build_pool,
    methods_of,
    plot_backtest,
    run_backtest,
)
from alloyml.features import feature_labels
from alloyml.headline import backtest_headline, write_headline
from alloyml.params import featurize_preset, load_yaml
from alloyml.paths import ProjectPaths

log = logging.getLogger("alloyml.evaluation.backtest")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", required=True, help="a key of backtest.datasets")
    ap.add_argument("--system", required=True, choices=["al", "mg"])
    ap.add_argument("--processed", required=True, help="data/processed/<system>.parquet")
    ap.add_argument("--features", required=True, help="data/features/<system>.parquet")
    ap.add_argument("--output-dir", default=str(ProjectPaths().reports("backtest")))
    ap.add_argument("--headline", help="reports/headline/backtest_<dataset>.json (DVC metrics)")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--n-jobs", type=int, default=None, help="override backtest.n_jobs")
    args = ap.parse_args(argv)
    doc = load_yaml(args.params)
    cfg = backtest_params(doc)
    if args.n_jobs is not None:
        if args.n_jobs < 1:
            raise ConfigError(f"--n-jobs must be >= 1, got {args.n_jobs}")
        cfg = dataclasses.replace(cfg, n_jobs=args.n_jobs)
    spec = cfg.datasets.get(args.dataset)
    if spec is None:
        raise ConfigError(
            f"dataset {args.dataset!r} not in backtest.datasets ({', '.join(cfg.datasets)})"
        )
    if spec.system != args.system:
        raise ConfigError(
            f"--system {args.system} but backtest.datasets.{args.dataset}.system is {spec.system}"
        )
    labels = feature_labels(featurize_preset(doc))
    pool = build_pool(pd.read_parquet(args.features), pd.read_parquet(args.processed), spec, labels)
    shown = cfg
    if spec.product_variants is not None:  # the dataset's own variants (as run_backtest does)
        shown = dataclasses.replace(cfg, product_variants=spec.product_variants)
    log.info(
        "%s: %d rows (%d groups), %d non-constant features; %d seeds x %s x batch %s + random",
        spec.name, len(pool.y), len(set(pool.group_id)), pool.X.shape[1], cfg.n_seeds,
        ", ".join(m.name for m in methods_of(shown)), cfg.batch_sizes,
    )  # fmt: skip
    report = run_backtest(pool, cfg, spec.name, spec.target)
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{spec.name}.json").write_text(
        json.dumps(report, indent=1, sort_keys=False) + "\n", encoding="utf-8"
    )
    plot_backtest(report, out / f"{spec.name}.png")
    if args.headline:
        write_headline(args.headline, backtest_headline(report))
    log.info(
        "%s: acceleration factors (%s vs exact random) top-1 %% %.2f, half of top-5 %% %.2f, "
        "all of top-5 %% %.2f in %.0f s",
        spec.name, report["primary"], report["acceleration_factor_top1"],
        report["acceleration_factor_top5_half"], report["acceleration_factor_top5_all"],
        report["runtime_s"],
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(run_stage(main))
