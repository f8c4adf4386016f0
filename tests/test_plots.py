"""The PNG modules (training plots, data card, search plots): no backend switching at import,
and interval bars that stop at the property's physical minimum."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from alloyml.reporting import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_import_leaves_the_backend_alone(tmp_path):
    """A notebook or GUI that chose its backend keeps it after importing the plotting modules
    and drawing a figure; pyplot is never imported (no global figure registry)."""
    code = f"""
import sys
import matplotlib
matplotlib.use("pdf")
import alloyml.reporting.plots, alloyml.curation.datacard, alloyml.search.plots
import numpy as np
from pathlib import Path
assert matplotlib.get_backend() == "pdf", matplotlib.get_backend()
alloyml.reporting.plots.parity(np.arange(5.0) + 1, np.arange(5.0), np.arange(5.0) - 1, np.arange(5.0) + 1,
                     None, "t", Path({str(tmp_path / "p.png")!r}))
assert matplotlib.get_backend() == "pdf", matplotlib.get_backend()
assert "matplotlib.pyplot" not in sys.modules
print("ok")
"""
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "ok"
    assert (tmp_path / "p.png").read_bytes().startswith(PNG_MAGIC)


def test_interval_bars_stop_at_the_floor():
    pred = np.array([20.0, 300.0, -5.0])
    lo = np.array([-40.0, 250.0, -60.0])
    hi = np.array([80.0, 350.0, 50.0])
    bars = plots.interval_bars(pred, lo, hi, floor=0.0)
    # lower ends: 0 (not -40), 250 (untouched), and a prediction below the floor has no lower bar
    np.testing.assert_allclose(pred - bars[0], [0.0, 250.0, -5.0])
    np.testing.assert_allclose(pred + bars[1], hi)
    assert (bars >= 0).all()
    # without a floor the interval is drawn as computed
    np.testing.assert_allclose(plots.interval_bars(pred, lo, hi, None)[0], pred - lo)


def test_physical_minimum_of_every_target():
    from alloyml.schema import TARGETS

    assert plots.PHYSICAL_MIN == dict.fromkeys(TARGETS, 0.0)


def _bars_lowest_y(path: Path, **floor: float | None) -> float:
    """Lowest y drawn by the error bars of a parity plot with intervals reaching below zero."""
    from matplotlib.collections import LineCollection

    seen: list[float] = []
    original = plots.save_png

    def spy(fig, p, dpi=100):
        for coll in fig.axes[0].collections:
            if isinstance(coll, LineCollection):
                seen.extend(float(seg[:, 1].min()) for seg in coll.get_segments())
        return original(fig, p, dpi)

    y = np.array([10.0, 50.0, 400.0])
    pred = np.array([15.0, 60.0, 390.0])
    mp = pytest.MonkeyPatch()
    mp.setattr(plots, "save_png", spy)
    try:
        plots.parity(y, pred, pred - 100.0, pred + 100.0, None, "t", path, **floor)
    finally:
        mp.undo()
    assert seen, "no interval bars drawn"
    return min(seen)


def test_parity_bars_do_not_go_below_zero(tmp_path):
    # the default floor is the targets' physical minimum, 0
    assert _bars_lowest_y(tmp_path / "clipped.png") == pytest.approx(0.0)
    assert (tmp_path / "clipped.png").read_bytes().startswith(PNG_MAGIC)
    # a prediction (15) below the floor (20) keeps no lower bar: the lowest end is the point
    assert _bars_lowest_y(tmp_path / "floor.png", floor=20.0) == pytest.approx(15.0)
    # None shows the raw interval
    assert _bars_lowest_y(tmp_path / "raw.png", floor=None) == pytest.approx(-85.0)


def test_data_card_pngs_and_markdown(tmp_path):
    import pandas as pd

    from alloyml.curation.datacard import write_card
    from alloyml.schema import ELEMENTS, TARGETS

    rng = np.random.default_rng(0)
    n = 30
    table = pd.DataFrame({e: 0.0 for e in ELEMENTS}, index=range(n))
    table["Al"] = 90.0
    table["Zn"] = rng.uniform(0, 8, n)
    table["Cu"] = np.where(np.arange(n) % 2 == 0, 1.5, 0.0)
    table["source_id"] = np.where(np.arange(n) < 20, "a", "b")
    for t in TARGETS:
        table[t] = np.nan
    table["uts_mpa"] = rng.uniform(200, 600, n)
    acc = {"rows_in": 20, "kept": 20, "merged": 0, "rejected": 0, "rejected_by_reason": {}}
    report = {
        "rows": n,
        "groups": n,
        "sources": {"a": acc, "b": acc | {"rows_in": 10, "kept": 10}},
        "totals": {"rows_in": 30, "kept": 30, "merged": 0, "rejected": 0},
    }
    md = write_card(table, report, "al", tmp_path / "card")
    text = md.read_text()
    assert "| a | 20 | 20 | 0 | 0 | – |" in text and "| uts_mpa | 30 |" in text
    for name in ("al_coverage.png", "al_properties.png"):
        assert (tmp_path / "card" / name).read_bytes().startswith(PNG_MAGIC)
        assert f"]({name})" in text
