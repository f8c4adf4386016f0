"""Benchmark: batched search vs a naive Optuna loop, same campaign, same models, same run.

* **batched**: :func:`alloyml.search.run_campaign` — ``eval_batch`` trials asked per round, one
  featurization and one prediction per model per round, told, persisted to the embedded journal
  in one write per round (the default ``alloyml search`` path).
* **naive**: ``study.optimize`` with SQLite storage, one trial -> one featurization -> one
  prediction per model, stock Optuna sampler of the same kind (NSGA-II / TPE / random) and the
  same design space, objectives, constraints (``set_constraint``) and stored records.

Rates are complete evaluations per wall-clock second of the search loop (model loading and
candidate writing excluded, reported apart). CPU seconds are printed too: on a shared machine they
show what the loop costs regardless of load. The last line is
``RESULT ratio=<batched/naive> evals_per_s=<batched> naive_evals_per_s=<naive>``.

Run from the repository root::

    .venv/bin/python benchmarks/search.py                      # al_uhs, 20,000 evaluations
    .venv/bin/python benchmarks/search.py --campaign mgli_light --n 5000

The campaign comes from ``params.yaml`` (``search.campaigns``). The champion bundles come from
``--models-dir`` (``models/`` by default); with ``--quick-models`` missing ones are trained on the
spot (ridge, from ``data/features``) into a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

import optuna
import pandas as pd

REPO = Path(__file__).resolve().parents[1]


def load_campaign(params: Path, name: str):
    from alloyml.params import base_params, load_yaml
    from alloyml.search.campaign import get_campaign

    doc = load_yaml(params)
    seed = base_params(doc).seed
    return get_campaign(doc, name), seed


def quick_models(system: str, targets: list[str], out: Path, seed: int) -> Path:
    """Ridge bundles from data/features (only when real champions are missing)."""
    from threadpoolctl import threadpool_limits

    from alloyml.features import feature_labels
    from alloyml.modeling.bundle import save_bundle
    from alloyml.modeling.train import TrainConfig, train_target

    feats = pd.read_parquet(REPO / "data" / "features" / f"{system}.parquet")
    proc = pd.read_parquet(REPO / "data" / "processed" / f"{system}.parquet")
    df = feats.merge(proc[["row_uid", "source_id"]], on="row_uid")
    labels = feature_labels("alloy_v1")
    cfg = TrainConfig(seed=seed, models=("ridge",), folds=3, inner_folds=2, tuning_trials=0,
                      n_jobs=1, learning_curve_fractions=(1.0,))  # fmt: skip
    for t in targets:
        sub = df[df[t].notna()]
        with threadpool_limits(1):
            res = train_target(sub[labels].to_numpy(float), sub[t].to_numpy(float),
                               sub["group_id"].astype(str).to_numpy(),
                               sub["source_id"].astype(str).to_numpy(), labels, t, cfg)  # fmt: skip
        res.bundle.meta |= {"system": system, "preset": "alloy_v1", "data_digest": "quick"}
        save_bundle(res.bundle, out / system / t)
    return out


def naive(campaign, seed, models_dir: Path, processed: Path, n: int, db: Path) -> tuple:
    """One trial -> one featurize -> one predict per model, SQLite storage."""
    from threadpoolctl import threadpool_limits

    from alloyml.features.presets import get_preset
    from alloyml.modeling.predict import load_bundles
    from alloyml.search.evaluate import Problem
    from alloyml.search.measured import read_processed, reference_values
    from alloyml.search.space import DesignSpace

    bundles = load_bundles(models_dir, campaign.system)
    preset = next(iter(bundles.values())).meta.get("preset", "alloy_v1")
    space = DesignSpace(campaign, get_preset(preset))
    reference = reference_values(campaign, read_processed(processed, campaign.system))
    problem = Problem(campaign, space, bundles, reference)
    spec = campaign.sampler
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if spec.name == "nsga2":
            sampler = optuna.samplers.NSGAIISampler(
                seed=seed, population_size=spec.population_size or campaign.eval_batch
            )
        elif spec.name == "tpe":
            sampler = optuna.samplers.TPESampler(seed=seed, multivariate=spec.multivariate,
                                                 group=campaign.encoding == "conditional")  # fmt: skip
        else:
            sampler = optuna.samplers.RandomSampler(seed=seed)
    study = optuna.create_study(storage=f"sqlite:///{db}", sampler=sampler,
                                directions=campaign.directions)  # fmt: skip

    def objective(trial):
        design = space.suggest(trial)
        wt, proc = space.matrices([design])
        ev = problem.evaluator(wt, proc)
        values, cons = problem.score([design], ev)
        trial.set_user_attr("worker", "naive")
        trial.set_user_attr("design", json.dumps(design.to_dict()))  # the same records as the
        trial.set_user_attr("eval", json.dumps({k: float(v[0]) for k, v in ev.items()}))  # runner
        for name, c in cons.items():
            trial.set_constraint(name, float(c[0]))
        return values[0].tolist()

    objective(optuna.create_study(directions=campaign.directions).ask())  # warm-up, not timed
    with threadpool_limits(limits=1):  # same BLAS setting as the batched loop
        w0, c0 = time.perf_counter(), time.process_time()
        study.optimize(objective, n_trials=n)
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
    return n / wall, n / cpu, wall


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--campaign", default="al_uhs")
    ap.add_argument("--params", type=Path, default=REPO / "params.yaml")
    ap.add_argument("--models-dir", type=Path, default=REPO / "models")
    ap.add_argument("--processed-dir", type=Path, default=REPO / "data" / "processed")
    ap.add_argument("--n", type=int, default=20000, help="batched evaluations")
    ap.add_argument("--naive-n", type=int, default=200, help="naive evaluations")
    ap.add_argument("--eval-batch", type=int, default=None)
    ap.add_argument("--quick-models", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from alloyml.search import run_campaign

    campaign, seed = load_campaign(args.params, args.campaign)
    tmp = Path(tempfile.mkdtemp(prefix="alloyml-search-bench-"))
    models = args.models_dir
    have = {t for t in campaign.targets() if (models / campaign.system / t / "meta.json").is_file()}
    if have != set(campaign.targets()):
        if not args.quick_models:
            sys.exit(f"champion models missing under {models}/{campaign.system} "
                     f"(need {campaign.targets()}): run `dvc repro` or pass --quick-models")  # fmt: skip
        print(f"training quick ridge models for {campaign.targets()} (no champions found)")
        models = quick_models(campaign.system, campaign.targets(), tmp / "models", seed)
    processed = args.processed_dir / f"{campaign.system}.parquet"
    print(f"campaign {campaign.name} ({campaign.sampler.name}, {campaign.encoding} encoding, "
          f"{len(campaign.symbols)} elements), models {models}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")  # fmt: skip

    n_rate, n_cpu_rate, n_wall = naive(campaign, seed, models, processed, args.naive_n,
                                       tmp / "naive.db")  # fmt: skip
    print(f"naive  : {args.naive_n} evaluations in {n_wall:.1f} s -> {n_rate:.1f} evals/s "
          f"({n_cpu_rate:.1f} per CPU-second)")  # fmt: skip

    w0, c0 = time.perf_counter(), time.process_time()
    res = run_campaign(campaign, seed=seed, models_dir=models, processed_path=processed,
                       output_dir=tmp / "batched", n_trials=args.n, eval_batch=args.eval_batch)  # fmt: skip
    total, cpu_total = time.perf_counter() - w0, time.process_time() - c0
    st = res.stats
    cpu_loop = cpu_total  # upper bound of the loop's CPU time (includes loading and reports)
    print(f"batched: {st.n_new} evaluations in {st.seconds:.1f} s (eval batch "
          f"{args.eval_batch or campaign.eval_batch}) -> {st.evals_per_s:.1f} evals/s; whole "
          f"campaign incl. loading and candidates {total:.1f} s wall, {cpu_total:.1f} s CPU "
          f"(>= {st.n_new / cpu_loop:.0f} evals per CPU-second)")  # fmt: skip
    print("batched loop breakdown (s): " + ", ".join(f"{k} {v:.1f}" for k, v in st.timings.items()))
    print(f"feasible {res.summary['n_feasible']}/{res.summary['n_trials_complete']}, best "
          f"{res.summary['best_objective']}, candidates {len(res.candidates)}")  # fmt: skip
    ratio = st.evals_per_s / n_rate
    print(f"RESULT ratio={ratio:.1f} evals_per_s={st.evals_per_s:.1f} "
          f"naive_evals_per_s={n_rate:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
