"""Benchmark: ``alloyml predict`` cold, for one alloy and for a 10,000-row CSV, and bundle sizes.

Each command runs as a fresh process (``--repeats`` times after one warm-up; median wall time,
largest peak RSS: ``ru_maxrss`` of the child from ``os.wait4``, the number ``/usr/bin/time -v``
prints as "Maximum resident set size"):

* ``one``: ``alloyml predict --system al "Al-5.6Zn-2.5Mg-1.6Cu-0.23Cr" --temper T651``;
* ``10k``: ``alloyml predict --system al --input <csv> --output <csv>`` on a seeded CSV of
  10,000 plausible 7xxx alloys (element columns, temper, route);
* the reference, in the same run: ``python -c "import pandas, sklearn"`` (what the command used
  to import before it could predict anything).

Models: the Al bundles of ``--models-dir`` (default ``models``). When that folder holds no
trained Al models (a fresh clone before ``dvc repro``), the benchmark trains the Al champions of
``reports/metrics/al.json`` (family defaults, as ``train`` fits them) on
``data/features/al.parquet`` with the project's own functions and saves them with
:func:`alloyml.modeling.bundle.save_bundle` into a temporary folder (or ``--keep DIR``, reused by later
runs), so sizes and load times are those of real bundles. Calibration uses grouped out-of-fold
predictions as in ``train`` (without the shift calibration, which adds one number).

The last line is ``RESULT ratio=... predict_one_s=... predict_one_rss_mb=... predict_10k_s=...
bundle_max_mb=... heavy_s=...`` where ``ratio`` is ``predict_one_s / heavy_s``. The issue's
targets: ``predict_one_s <= 2``, ``predict_one_rss_mb <= 300``, ``predict_10k_s <= 5``,
``bundle_max_mb <= 10`` (MB = 10^6 bytes; a bundle is its folder).

The measuring process imports numpy only (a child's peak RSS includes its parent's memory at
the fork); bundles are built in a child process.

Run from the project root: ``.venv/bin/python benchmarks/predict.py [--repeats 5]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from measure import run_once  # benchmarks/measure.py

ROOT = Path(__file__).resolve().parents[1]
ALLOY = "Al-5.6Zn-2.5Mg-1.6Cu-0.23Cr"


def measure(cmd: list[str], repeats: int) -> tuple[float, float]:
    """Median wall time (s) and max peak RSS (MB) over ``repeats`` runs, after one warm-up."""
    run_once(cmd)
    runs = [run_once(cmd) for _ in range(repeats)]
    return statistics.median(r[0] for r in runs), max(r[1] for r in runs)


def alloyml_command() -> list[str]:
    """``alloyml`` of the current interpreter's environment (the console script when present)."""
    script = Path(sys.executable).with_name("alloyml")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", "from alloyml.cli import main; main()"]


def write_inputs(path: Path, n: int, seed: int) -> None:
    """``n`` plausible 7xxx alloys as a ``predict --input`` CSV (numpy only: the parent stays
    small, see :func:`main`)."""
    rng = np.random.default_rng(seed)
    cols = {
        "id": np.array([f"S{i}" for i in range(n)]),
        "Zn": rng.uniform(4, 9, n).round(2),
        "Mg": rng.uniform(1, 3, n).round(2),
        "Cu": rng.uniform(0.5, 2.5, n).round(2),
        "Zr": rng.uniform(0.05, 0.15, n).round(3),
        "Cr": rng.choice([0.0, 0.2], n),
        "temper": rng.choice(["T6", "T651", "T7351", "T73", "T76"], n),
        "route": rng.choice(["extruded", "rolled", "forged"], n),
    }
    lines = [",".join(cols)]
    lines += [",".join(str(v) for v in row) for row in zip(*cols.values(), strict=True)]
    path.write_text("\n".join(lines) + "\n")


def has_bundles(models_dir: Path, system: str = "al") -> bool:
    return any((models_dir / system).glob("*/meta.json"))


def build_bundles(models_dir: Path, system: str = "al") -> None:
    """Train ``system``'s champions (family defaults) as ``train``'s final fit and save them."""
    from dataclasses import replace

    import pandas as pd

    from alloyml.features import feature_labels
    from alloyml.modeling.bundle import Bundle, save_bundle
    from alloyml.modeling.models import make_model
    from alloyml.modeling.train import _domain, _heldout_distances, _heldout_flags, _oof
    from alloyml.modeling.uncertainty import ConformalInterval
    from alloyml.modeling.validation import grouped_splits, regression_metrics
    from alloyml.params import featurize_preset, load_yaml, train_params

    params = load_yaml(ROOT / "params.yaml")
    targets, cfg = train_params(params)
    preset = featurize_preset(params)
    feats = feature_labels(preset)
    cfg = replace(cfg, feature_names=tuple(feats))
    table = ROOT / "data" / "features" / f"{system}.parquet"
    if not table.is_file():
        raise SystemExit(f"no trained models and no {table}: run `dvc repro featurize@{system}`")
    df = pd.read_parquet(table)
    report = ROOT / "reports" / "metrics" / f"{system}.json"
    champions = json.loads(report.read_text()) if report.is_file() else {}
    for target in targets[system]:
        name = champions.get(target, {}).get("champion", "et")
        sub = df.loc[df[target].notna()].reset_index(drop=True)
        X, y = sub[feats].to_numpy(dtype=float), sub[target].to_numpy(dtype=float)
        t0 = time.perf_counter()
        grp = grouped_splits(sub["group_id"].to_numpy(), cfg.folds, cfg.seed)
        idx, pred = _oof(name, {}, X, y, grp, cfg)
        oof = np.empty(len(y))
        oof[idx] = pred
        dm = _domain(cfg).fit(X).calibrate(_heldout_distances(X, grp, cfg))
        flags = np.empty(len(y), dtype=bool)
        flags[idx] = _heldout_flags(X, grp, dm.threshold_, cfg)
        iv = ConformalInterval(alpha=cfg.alpha, normalised=cfg.normalised_intervals).fit(
            X, y, oof, in_domain_cal=flags, groups=sub["group_id"].to_numpy()
        )
        est = make_model(name, cfg.seed, cfg.n_jobs, feats).fit(X, y)
        meta = {
            "target": target, "model": name, "params": {}, "features": feats,
            "alpha": cfg.alpha, "system": system, "preset": preset, "n_rows": len(y),
            "metrics": {"grouped": regression_metrics(y, oof)},
        }  # fmt: skip
        save_bundle(
            Bundle(estimator=est, interval=iv, domain=dm, meta=meta), models_dir / system / target
        )
        print(
            f"built {system}/{target} ({name}, {len(y)} rows) in {time.perf_counter() - t0:.0f} s"
        )


def bundle_sizes(models_dir: Path, system: str = "al") -> dict[str, float]:
    """MB (10^6 bytes) of each bundle folder of ``system``."""
    return {
        d.name: sum(f.stat().st_size for f in d.iterdir() if f.is_file()) / 1e6
        for d in sorted((models_dir / system).iterdir())
        if (d / "meta.json").is_file()
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--models-dir", type=Path, default=ROOT / "models")
    ap.add_argument("--keep", type=Path, help="build missing bundles here and keep them")
    ap.add_argument("--build-only", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.build_only:
        build_bundles(args.build_only)
        return
    with tempfile.TemporaryDirectory() as tmp:
        models = args.models_dir
        if not has_bundles(models):
            models = args.keep or Path(tmp) / "models"
            if not has_bundles(models):
                print(f"no Al bundles under {args.models_dir}: building them in {models}")
                # in a child process: a child's peak RSS counts its parent's memory at the fork,
                # so the measuring process must stay small
                cmd = [sys.executable, str(Path(__file__).resolve()), "--build-only", str(models)]
                subprocess.run(cmd, check=True, cwd=ROOT)
        sizes = bundle_sizes(models)
        for name, mb in sizes.items():
            files = ", ".join(f.name for f in sorted((models / "al" / name).iterdir()))
            print(f"bundle al/{name}: {mb:5.2f} MB ({files})")
        csv_in, csv_out = Path(tmp) / "alloys.csv", Path(tmp) / "out" / "pred.csv"
        write_inputs(csv_in, args.rows, args.seed)
        cli = alloyml_command()
        common = ["predict", "--models-dir", str(models), "--system", "al"]
        cases = {
            "heavy": [sys.executable, "-c", "import pandas, sklearn"],
            "one": [*cli, *common, ALLOY, "--temper", "T651"],
            "10k": [*cli, *common, "--input", str(csv_in), "--output", str(csv_out)],
        }
        res: dict[str, tuple[float, float]] = {}
        for name, cmd in cases.items():
            res[name] = measure(cmd, args.repeats if name != "10k" else max(1, args.repeats // 2))
            print(f"{name:>6}: {res[name][0]:6.3f} s  {res[name][1]:6.1f} MB")
        print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    one_s, one_mb = res["one"]
    print(
        f"RESULT ratio={one_s / res['heavy'][0]:.3f} predict_one_s={one_s:.3f} "
        f"predict_one_rss_mb={one_mb:.1f} predict_10k_s={res['10k'][0]:.3f} "
        f"bundle_max_mb={max(sizes.values()):.2f} heavy_s={res['heavy'][0]:.3f}"
    )


if __name__ == "__main__":
    main()
