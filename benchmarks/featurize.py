"""Benchmark: alloyml's vectorised Magpie statistics against matminer's ElementProperty.

Builds N random Al-base compositions (seeded), times matminer's
``ElementProperty.from_preset("magpie")`` (n_jobs=1) on the first ``--n-matminer`` of them (in
four chunks, best chunk rate) and
alloyml's :class:`~alloyml.features.Featurizer` (preset ``magpie_v1``, same 132 columns) on all N,
in the same run, compares the values on the rows both computed, and reports single-row latency.

matminer is timed on prebuilt pymatgen ``Composition`` objects (building them is not counted
against it); alloyml is timed from the raw wt % matrix (validation and wt -> at conversion
included), best of ``--repeats`` runs. CPU-time rates are printed too (less sensitive to other
load on a shared machine); the RESULT line uses wall-clock rates. Relative deviation is ``|a - b| / |b|`` over every compared value with ``b != 0``;
a value where matminer gives exactly 0 and alloyml does not counts as infinite deviation.

The last line is ``RESULT ratio=... max_rel_dev=... alloyml_per_s=... matminer_per_s=...``.

Run: ``.venv/bin/python benchmarks/featurize.py [--n 20000] [--n-matminer 1000] [--seed 0]``
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np

from alloyml.features import Featurizer
from alloyml.schema import ELEMENTS

#: Solute ranges (wt %) of the random Al alloys: 2xxx/6xxx/7xxx/8xxx-like chemistries.
SOLUTE_RANGES: dict[str, tuple[float, float]] = {
    "Zn": (0.0, 10.0),
    "Mg": (0.0, 6.0),
    "Cu": (0.0, 5.0),
    "Si": (0.0, 1.5),
    "Fe": (0.0, 0.6),
    "Mn": (0.0, 1.2),
    "Cr": (0.0, 0.3),
    "Zr": (0.0, 0.25),
    "Ti": (0.0, 0.15),
    "Sc": (0.0, 0.4),
    "Li": (0.0, 2.5),
    "Ag": (0.0, 0.5),
    "Ni": (0.0, 1.0),
    "V": (0.0, 0.15),
}


def random_al_compositions(n: int, seed: int) -> np.ndarray:
    """``(n, len(ELEMENTS))`` wt % matrix: Al balance plus 2–8 random solutes per row."""
    rng = np.random.default_rng(seed)
    col = {e: i for i, e in enumerate(ELEMENTS)}
    solutes = list(SOLUTE_RANGES)
    wt = np.zeros((n, len(ELEMENTS)))
    for r in range(n):
        k = int(rng.integers(2, 9))
        for el in rng.choice(solutes, size=k, replace=False):
            lo, hi = SOLUTE_RANGES[str(el)]
            wt[r, col[str(el)]] = round(float(rng.uniform(lo, hi)), 3) or 0.001
        wt[r, col["Al"]] = 100.0 - wt[r].sum()
    return wt


def best_time(fn, repeats: int) -> float:
    """Best wall time of ``repeats`` calls, in seconds."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def max_relative_deviation(ours: np.ndarray, ref: np.ndarray) -> float:
    """Max of ``|a-b|/|b|`` over ``b != 0``; inf if ``b == 0`` but ``a != 0``."""
    diff = np.abs(ours - ref)
    nz = ref != 0
    if (diff[~nz] > 0).any():
        return float("inf")
    return float((diff[nz] / np.abs(ref[nz])).max()) if nz.any() else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="compositions for alloyml")
    parser.add_argument("--n-matminer", type=int, default=1_000, help="subset timed in matminer")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=5, help="alloyml timing repeats (best)")
    args = parser.parse_args()

    from matminer.featurizers.composition import ElementProperty
    from pymatgen.core import Composition

    wt = random_al_compositions(args.n, args.seed)
    n_mm = min(args.n_matminer, args.n)
    print(f"compositions: {args.n} random Al-base rows, {len(ELEMENTS)} element columns")

    # matminer, n_jobs=1, on prebuilt Composition objects
    t0 = time.perf_counter()
    comps = [
        Composition.from_weight_dict({e: w for e, w in zip(ELEMENTS, row, strict=True) if w > 0})
        for row in wt[:n_mm]
    ]
    t_build = time.perf_counter() - t0
    ep = ElementProperty.from_preset("magpie")
    ep.set_n_jobs(1)
    # Timed in chunks; the best chunk rate is used, like the best-of-repeats for alloyml, so that
    # load from other processes on a shared machine does not favour either side.
    chunk = max(1, n_mm // 4)
    parts, best_chunk, cpu_mm = [], float("inf"), 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for start in range(0, n_mm, chunk):
            part = comps[start : start + chunk]
            c0, t0 = time.process_time(), time.perf_counter()
            parts.append(np.array(ep.featurize_many(part, pbar=False), dtype=float))
            best_chunk = min(best_chunk, (time.perf_counter() - t0) / len(part))
            cpu_mm += time.process_time() - c0
    ref = np.vstack(parts)
    mm_per_s = 1.0 / best_chunk
    print(
        f"matminer ElementProperty(magpie), n_jobs=1: {n_mm} rows, best chunk "
        f"{mm_per_s:,.0f} /s wall, {n_mm / cpu_mm:,.0f} /s CPU "
        f"(Composition objects built beforehand in {t_build:.2f} s, not counted)"
    )

    # alloyml, same preset columns, all N rows
    t0 = time.perf_counter()
    fz = Featurizer("magpie_v1")
    t_compile = time.perf_counter() - t0
    assert list(fz.labels) == ep.feature_labels(), "label mismatch with matminer"
    fz.transform(wt[:100])  # warm-up
    t_al = best_time(lambda: fz.transform(wt), args.repeats)
    c0 = time.process_time()
    fz.transform(wt)
    cpu_al = time.process_time() - c0
    al_per_s = args.n / t_al
    print(
        f"alloyml Featurizer('magpie_v1'): {args.n} rows in {t_al * 1e3:.1f} ms "
        f"= {al_per_s:,.0f} /s wall (best of {args.repeats}), {args.n / cpu_al:,.0f} /s CPU; "
        f"compile {t_compile * 1e3:.0f} ms once"
    )
    print(f"CPU-time ratio: {(args.n / cpu_al) / (n_mm / cpu_mm):.0f}")

    ours = fz.transform(wt[:n_mm])
    dev = max_relative_deviation(ours, ref)
    print(
        f"values: {ours.shape[1]} columns x {n_mm} rows compared, max relative deviation {dev:.3g}"
    )

    # full preset throughput and single-row latency
    full = Featurizer("alloy_v1")
    proc = np.full((args.n, len(full.process_columns)), np.nan)
    t_full = best_time(lambda: full.transform(wt, proc), args.repeats)
    print(
        f"alloyml Featurizer('alloy_v1'), {len(full.labels)} features: "
        f"{args.n / t_full:,.0f} rows/s"
    )
    for name, f, p in (
        ("magpie_v1", fz, None),
        ("alloy_v1", full, proc[:1]),
        ("alloy_v1 continuous_only, 6-element search space", None, proc[:1]),
    ):
        if f is None:
            els = ("Al", "Zn", "Mg", "Cu", "Zr", "Cr")
            f = Featurizer("alloy_v1", continuous_only=True, elements=els)
            row = np.array([[88.0, 6.5, 2.5, 2.0, 0.12, 0.2]])
        else:
            row = wt[:1]
        lat = []
        for _ in range(2000):
            t0 = time.perf_counter()
            f.transform(row, p)
            lat.append(time.perf_counter() - t0)
        print(f"single-row latency {name}: median {statistics.median(lat) * 1e6:.0f} us")
    lat_mm = []
    for c in comps[:200]:
        t0 = time.perf_counter()
        ep.featurize(c)
        lat_mm.append(time.perf_counter() - t0)
    print(f"single-row latency matminer magpie: median {statistics.median(lat_mm) * 1e6:.0f} us")

    ratio = al_per_s / mm_per_s
    print(
        f"RESULT ratio={ratio:.1f} max_rel_dev={dev:.3g} "
        f"alloyml_per_s={al_per_s:.0f} matminer_per_s={mm_per_s:.1f}"
    )


if __name__ == "__main__":
    main()
