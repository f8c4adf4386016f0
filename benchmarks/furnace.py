"""Benchmark: a furnace-shared batch against the unconstrained batch, same campaign, same run.

* **shared**: the campaign with ``shared_process`` (default ``sol1, age1, age2``) and
  ``furnace_groups`` (default 1): its study of ``--n`` evaluations, then the furnace search
  (:mod:`alloyml.search.furnace`: ``--schedules`` schedules, each with its own composition search)
  and the greedy batch with fantasies under the shared schedule(s).
* **unconstrained**: the same campaign without the option, its study given the same total
  number of evaluations (``--n`` + the furnace search's), batch chosen by the same greedy
  selection with fantasies (:func:`alloyml.search.fantasy.select_with_fantasies`).

The batch acquisition value is the sum over the batch of the first objective's acquisition (for
``al_uhs`` the UCB of UTS in MPa, domain penalty included) at the time each candidate was
picked, after the fantasies of the earlier picks. The last line is
``RESULT ratio=<shared/unconstrained> shared=<value> unconstrained=<value> ...``: what sharing
one furnace load costs in acquisition value (1.0 = nothing). The in-run ratio against the
unconstrained batch of the shared run's own study is printed too.

Run from the repository root::

    .venv/bin/python benchmarks/furnace.py --quick-models          # al_uhs, 5,000 + furnace
    .venv/bin/python benchmarks/furnace.py --groups 2 --n 20000

The champion bundles come from ``--models-dir`` (``models/`` by default); with
``--quick-models`` missing ones are trained on the spot (ridge, from ``data/features``; see
``benchmarks/search.py``) into a temporary directory.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import logging
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _search_bench():
    spec = importlib.util.spec_from_file_location("bench_search", REPO / "benchmarks/search.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--campaign", default="al_uhs")
    ap.add_argument("--params", type=Path, default=REPO / "params.yaml")
    ap.add_argument("--shared", default="sol1,age1,age2", help="stages shared by the batch")
    ap.add_argument("--groups", type=int, default=1, help="furnace_groups")
    ap.add_argument("--n", type=int, default=5000, help="evaluations of the campaign's study")
    ap.add_argument("--schedules", type=int, default=12)
    ap.add_argument("--per-schedule", type=int, default=None, help="default: n / 10")
    ap.add_argument("--models-dir", type=Path, default=REPO / "models")
    ap.add_argument("--processed", type=Path, default=None)
    ap.add_argument("--quick-models", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    from alloyml.params import base_params, load_yaml
    from alloyml.search import get_campaign, run_campaign

    doc = load_yaml(args.params)
    seed = base_params(doc).seed
    plain = get_campaign(doc, args.campaign)
    shared_doc = copy.deepcopy(doc)
    entry = shared_doc["search"]["campaigns"][args.campaign]
    entry["shared_process"] = [s.strip() for s in args.shared.split(",") if s.strip()]
    entry["furnace_groups"] = args.groups
    shared = get_campaign(shared_doc, args.campaign)
    processed = args.processed or REPO / "data" / "processed" / f"{plain.system}.parquet"
    per = args.per_schedule or max(plain.eval_batch, args.n // 10)
    with tempfile.TemporaryDirectory() as tmp:
        models = args.models_dir
        missing = [t for t in plain.targets() if not (models / plain.system / t).is_dir()]
        if missing:
            if not args.quick_models:
                sys.exit(f"no champion models for {missing} in {models}: train them or pass "
                         "--quick-models")  # fmt: skip
            models = _search_bench().quick_models(
                plain.system, plain.targets(), Path(tmp) / "models", seed
            )
        t0 = time.perf_counter()
        res_s = run_campaign(
            shared, seed=seed, models_dir=models, processed_path=processed,
            output_dir=Path(tmp) / "shared", storage=f"journal:{Path(tmp) / 's.journal'}",
            n_trials=args.n,
            furnace_options={"n_schedules": args.schedules, "trials_per_schedule": per},
        )  # fmt: skip
        t_shared = time.perf_counter() - t0
        fur = res_s.summary["selection"]["furnace"]
        total = args.n + fur["n_evaluations"]
        t0 = time.perf_counter()
        res_u = run_campaign(
            plain, seed=seed, models_dir=models, processed_path=processed,
            output_dir=Path(tmp) / "free", storage=f"journal:{Path(tmp) / 'u.journal'}",
            n_trials=total,
        )  # fmt: skip
        t_free = time.perf_counter() - t0
        from alloyml.search.api import _select_rounds  # same selector, no pending designs

        _, info = _select_rounds(res_u.problem, res_u.table, plain.batch_size, seed,
                                 res_u.measured.frame, (), (), "believer", None)  # fmt: skip
        free_value = info["batch_value"]
    shared_value = res_s.summary["selection"]["batch_value"]
    print(f"campaign {args.campaign}: batch of {plain.batch_size}, shared stages "
          f"{list(shared.furnace.stages)}, at most {shared.furnace.groups} schedule(s)")  # fmt: skip
    print(f"shared: {args.n} study + {fur['n_evaluations']} furnace evaluations "
          f"({args.schedules} schedules x {per}), {t_shared:.1f} s; schedule(s): "
          f"{' | '.join(fur['schedules'])}")  # fmt: skip
    print(f"unconstrained: {total} study evaluations, {t_free:.1f} s")
    print(f"batch acquisition value: shared {shared_value:.1f}, unconstrained {free_value:.1f}; "
          f"in-run unconstrained (shared run's own study) {fur['unconstrained_batch_value']:.1f}, "
          f"in-run ratio {fur['ratio_to_unconstrained']:.4f}")  # fmt: skip
    print(f"RESULT ratio={shared_value / free_value:.4f} shared={shared_value:.1f} "
          f"unconstrained={free_value:.1f} evaluations={total} "
          f"in_run_ratio={fur['ratio_to_unconstrained']:.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
