"""What every command benchmark measures: wall time and peak RSS of one child process.

Peak RSS is ``ru_maxrss`` of the child from ``os.wait4`` (the number ``/usr/bin/time -v``
prints), so the benchmarking process's own memory never counts.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_once(cmd: list[str], cwd: Path = ROOT) -> tuple[float, float]:
    """Wall time in s and peak RSS in MB of one run of ``cmd`` (stdout discarded)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=cwd)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err}")
    return wall, usage.ru_maxrss / 1024.0  # Linux reports KiB
