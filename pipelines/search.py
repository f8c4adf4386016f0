"""DVC stage `search@<campaign>`: run one design campaign, write its candidates.

Reads params `base.seed` and `search.campaigns.<campaign>`; the champion models under
`--models-dir/<system>/`, the processed and features tables of the campaign's system. Writes
`--output` (candidates.csv/.md, pareto.csv, history/pareto PNGs, summary.json and the study's
journal file), `--metrics` (the run summary with the best candidate's prediction and interval)
and `--headline` (its few headline numbers: the DVC metrics). Logs one run to the MLflow
experiment `alloyml-search` (URI from $ALLOYML_TRACKING_URI, default sqlite:///mlflow.db).

The study always lives in the output directory's journal here (DVC removes the outputs before
the stage runs, so every run is a fresh, seeded, reproducible search); team workers sharing a
PostgreSQL study use `alloyml search` instead.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
from pathlib import Path

from alloyml import paths
from alloyml.cli_support import run_stage
from alloyml.headline import best_candidate, search_headline, write_headline
from alloyml.modeling.tracking import open_tracker
from alloyml.params import base_params, load_yaml
from alloyml.search import get_campaign, run_campaign
from alloyml.search.storage import EMBEDDED, JOURNAL_NAME, STORAGE_ENV
from alloyml.search.track import EXPERIMENT


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--campaign", required=True)
    ap.add_argument("--output", required=True, help="reports/candidates/<campaign>")
    ap.add_argument("--metrics", required=True, help="reports/metrics/search_<campaign>.json")
    ap.add_argument("--headline", help="reports/headline/search_<campaign>.json (DVC metrics)")
    ap.add_argument("--models-dir", default=paths.MODELS)
    ap.add_argument("--processed-dir", default=paths.PROCESSED)
    ap.add_argument("--features-dir", default=paths.FEATURES)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--no-tracking", action="store_true")
    args = ap.parse_args(argv)
    doc = load_yaml(args.params)
    campaign = get_campaign(doc, args.campaign)
    out = Path(args.output)
    if out.exists():  # a stage run is always a fresh study (DVC normally removed it already)
        shutil.rmtree(out)
    kwargs = dict(
        seed=base_params(doc).seed,
        models_dir=args.models_dir,
        processed_path=Path(args.processed_dir) / f"{campaign.system}.parquet",
        features_path=Path(args.features_dir) / f"{campaign.system}.parquet",
        output_dir=out,
        storage=EMBEDDED,
    )
    if os.environ.get(STORAGE_ENV):
        logging.getLogger("alloyml.search").info(
            "%s ignored by the DVC stage: the study lives in %s/%s", STORAGE_ENV, out, JOURNAL_NAME
        )
    if args.no_tracking:
        result = run_campaign(campaign, **kwargs)
    else:
        with open_tracker(EXPERIMENT) as tracker:
            result = run_campaign(campaign, tracker=tracker, **kwargs)
    metrics = Path(args.metrics)
    metrics.parent.mkdir(parents=True, exist_ok=True)
    keep = ("n_trials_complete", "n_feasible", "feasible_fraction", "best_objective",
            "reference_best", "evals_per_s", "seconds", "n_candidates",
            "n_candidates_extrapolating", "n_candidates_in_domain")  # fmt: skip
    doc_out = {k: result.summary[k] for k in keep}
    doc_out["best_candidate"] = best_candidate(
        result.candidates.to_dict("records"), [o.quantity for o in campaign.objectives]
    )
    metrics.write_text(json.dumps(doc_out, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    if args.headline:
        write_headline(args.headline, search_headline(doc_out))


if __name__ == "__main__":
    sys.exit(run_stage(main))
