"""DVC stage `train@<system>`: select, validate, calibrate and save one model per target.

Reads params `base.seed`, `featurize.preset`, `train.*`; writes models/<system>/<target>/,
reports/metrics/<system>.json and PNGs under reports/plots/<system>/; logs to MLflow
(experiment `alloyml-train`, URI from $ALLOYML_TRACKING_URI, default sqlite:///mlflow.db).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from alloyml.cli_support import run_stage
from alloyml.headline import train_headline, write_headline
from alloyml.modeling.tracking import file_digest, git_commit, open_tracker
from alloyml.modeling.train import train_system
from alloyml.params import featurize_preset, load_yaml, train_params


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--system", required=True, choices=["al", "mg"])
    ap.add_argument("--features", required=True)
    ap.add_argument("--processed", required=True)
    ap.add_argument("--models-dir", required=True)
    ap.add_argument("--metrics", required=True)
    ap.add_argument("--plots-dir", required=True)
    ap.add_argument("--headline", help="reports/headline/train_<system>.json (DVC metrics)")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--no-tracking", action="store_true")
    args = ap.parse_args(argv)
    doc = load_yaml(args.params)
    targets, cfg = train_params(doc)
    preset = featurize_preset(doc)
    features = pd.read_parquet(args.features)
    processed = pd.read_parquet(args.processed)
    digest = file_digest(args.processed)
    kwargs = dict(
        system=args.system, features=features, processed=processed,
        targets=targets.get(args.system, ()), cfg=cfg, preset=preset,
        models_dir=args.models_dir, plots_dir=args.plots_dir,
        data_source=args.processed, data_digest=digest,
    )  # fmt: skip
    # BLAS threads would fight the estimators' own n_jobs threads on a small machine
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
    if args.no_tracking:
        metrics = train_system(**kwargs)
    else:
        with open_tracker("alloyml-train") as tracker:
            tags = {
                "system": args.system,
                "git_commit": git_commit(),
                "data_digest": digest,
                "stage": "train",
            }
            with tracker.run(f"train-{args.system}", tags=tags):
                tracker.log_params({"preset": preset, **{k: v for k, v in cfg.__dict__.items()}})
                metrics = train_system(tracker=tracker, **kwargs)
    out = Path(args.metrics)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(metrics, indent=2, sort_keys=True, default=float) + "\n", encoding="utf-8"
    )
    if args.headline:
        write_headline(args.headline, train_headline(json.loads(out.read_text(encoding="utf-8"))))


if __name__ == "__main__":
    sys.exit(run_stage(main))
