"""Benchmark: start-up cost of the ``alloyml`` command line (``--help`` and ``import alloyml.cli``).

Each command runs ``--repeats`` times as a fresh process; the script reports the median wall time
and the peak resident set size of each (``ru_maxrss`` of that child from ``os.wait4``, the number
``/usr/bin/time -v`` prints as "Maximum resident set size"). In the same run it times two
references: an empty interpreter (``python -c pass``) and ``python -c "import pandas, sklearn"``,
the imports the command line used to pay before it printed anything.

``alloyml --help`` runs the console script next to the interpreter when there is one (the
environment ``./run.sh`` builds), else ``python -c "from alloyml.cli import main; main()" --help``.

The last line is ``RESULT ratio=... help_s=... help_rss_mb=... import_s=... pass_s=...
heavy_s=...`` where ``ratio`` is ``help_s / heavy_s`` (below 1: ``--help`` is cheaper than
importing pandas and scikit-learn). The issue's target is ``help_s <= 0.5``.

Run: ``.venv/bin/python benchmarks/cli.py [--repeats 5]``
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
from pathlib import Path

from measure import run_once  # benchmarks/measure.py


def measure(cmd: list[str], repeats: int) -> tuple[float, float]:
    """Median wall time (s) and max peak RSS (MB) over ``repeats`` runs, after one warm-up."""
    run_once(cmd)  # warm the page cache so the first measured run is not an outlier
    runs = [run_once(cmd) for _ in range(repeats)]
    return statistics.median(r[0] for r in runs), max(r[1] for r in runs)


def help_command() -> list[str]:
    """The ``alloyml --help`` command for the current interpreter's environment."""
    script = Path(sys.executable).with_name("alloyml")
    if script.is_file():
        return [str(script), "--help"]
    found = shutil.which("alloyml")
    if found:
        return [found, "--help"]
    return [sys.executable, "-c", "from alloyml.cli import main; main()", "--help"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    py = sys.executable
    cases = {
        "pass": [py, "-c", "pass"],
        "heavy": [py, "-c", "import pandas, sklearn"],
        "import": [py, "-c", "import alloyml.cli"],
        "help": help_command(),
    }
    res: dict[str, tuple[float, float]] = {}
    for name, cmd in cases.items():
        res[name] = measure(cmd, args.repeats)
        wall, rss = res[name]
        print(f"{name:>7}: {wall:6.3f} s  {rss:6.1f} MB  ({' '.join(Path(c).name for c in cmd)})")
    help_s, help_rss = res["help"]
    print(
        f"RESULT ratio={help_s / res['heavy'][0]:.3f} help_s={help_s:.3f} "
        f"help_rss_mb={help_rss:.1f} import_s={res['import'][0]:.3f} "
        f"pass_s={res['pass'][0]:.3f} heavy_s={res['heavy'][0]:.3f}"
    )


if __name__ == "__main__":
    main()
