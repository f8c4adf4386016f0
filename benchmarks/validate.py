"""Benchmark: peak memory and wall time of ``alloyml data validate`` on a large in-house sheet.

Writes a seeded CSV of ``--rows`` rows shaped like ``tests/data/inhouse_7xxx.csv`` (element
columns in wt %, ``bal.`` for Al, temper, route, YS/UTS/elongation) to a temporary folder and
runs ``alloyml data validate`` on it with the test spec, as a fresh process. In the same run it
measures a reference: a fresh interpreter that only reads the same file with
``pandas.read_csv``. Peak RSS is ``ru_maxrss`` of each child from ``os.wait4``, the number
``/usr/bin/time -v`` prints as "Maximum resident set size".

The last line is ``RESULT ratio=... validate_rss_mb=... validate_s=... read_csv_rss_mb=...
rows=...`` where ``ratio`` is ``validate_rss_mb / read_csv_rss_mb``.

Run: ``.venv/bin/python benchmarks/validate.py [--rows 200000] [--seed 0]`` from the project
root (about 15 s of CPU for 200,000 rows).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from measure import run_once  # benchmarks/measure.py

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "tests" / "data" / "inhouse_7xxx.spec.yaml"


def write_sheet(path: Path, n: int, seed: int) -> None:
    """A plausible 7xxx sheet of ``n`` rows (YS = 0.9 UTS, so the physical checks keep them)."""
    rng = np.random.default_rng(seed)
    uts = rng.uniform(450, 700, n).round(0)
    pd.DataFrame(
        {
            "Sample": [f"S{i}" for i in range(n)],
            "Zn (wt%)": rng.uniform(4, 9, n).round(2),
            "Mg (wt%)": rng.uniform(1, 3, n).round(2),
            "Cu (wt%)": rng.uniform(0.5, 2.5, n).round(2),
            "Zr (wt%)": rng.uniform(0.05, 0.15, n).round(3),
            "Al": "bal.",
            "Temper": rng.choice(["T6", "T651", "T7351", "T73"], n),
            "Route": rng.choice(["extruded", "rolled"], n),
            "Rp0.2 (MPa)": (0.9 * uts).round(0),
            "Rm (MPa)": uts,
            "A (%)": rng.uniform(5, 15, n).round(1),
            "Operator": "MK",
        }
    ).to_csv(path, index=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sheet = Path(tmp) / "big.csv"
        write_sheet(sheet, args.rows, args.seed)
        size_mb = sheet.stat().st_size / 1e6
        validate = [
            sys.executable, "-c", "from alloyml.cli import main; main()",
            "data", "validate", str(sheet), "--spec", str(SPEC), "--params", str(ROOT / "params.yaml"),
        ]  # fmt: skip
        reference = [sys.executable, "-c", f"import pandas; pandas.read_csv({str(sheet)!r})"]
        ref_s, ref_mb = run_once(reference)
        val_s, val_mb = run_once(validate)
    print(f"sheet: {args.rows} rows, {size_mb:.1f} MB")
    print(f"read_csv reference: {ref_s:6.2f} s  {ref_mb:7.1f} MB")
    print(f"data validate:      {val_s:6.2f} s  {val_mb:7.1f} MB")
    print(
        f"RESULT ratio={val_mb / ref_mb:.2f} validate_rss_mb={val_mb:.0f} validate_s={val_s:.2f} "
        f"read_csv_rss_mb={ref_mb:.0f} rows={args.rows}"
    )


if __name__ == "__main__":
    main()
