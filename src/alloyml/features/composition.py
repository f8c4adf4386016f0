"""Composition statistics: matminer's Magpie ``ElementProperty`` preset, vectorised.

For each of the 22 Magpie element properties of ``ElementProperty.from_preset("magpie")`` the six
statistics *minimum, maximum, range, mean, avg_dev, mode* are computed over the elements of a
composition, weighted by atomic fraction (L. Ward, A. Agrawal, A. Choudhary, C. Wolverton, npj
Comput. Mater. 2 (2016) 16028). Labels are matminer's, e.g. ``"MagpieData mean MeltingT"``, and
the values equal matminer's to floating-point rounding (tested at ``rtol=1e-9`` on real alloy
compositions; ``benchmarks/featurize.py`` reports the deviation and the speed-up).

Semantics, exactly as matminer (``matminer.featurizers.utils.stats.PropertyStats`` applied to
``pymatgen.Composition.element_composition``):

* an element takes part only if its atomic fraction is at least ``1e-8``
  (pymatgen's ``Composition.amount_tolerance``; smaller amounts are dropped, and the weights of the
  remaining elements are *not* renormalised, ``np.average`` divides by their sum);
* ``mean = Σ x_i p_i / Σ x_i``; ``avg_dev = Σ x_i |p_i - mean| / Σ x_i``;
* ``minimum``/``maximum``/``range`` ignore the weights (over the elements taking part);
* ``mode`` is the property of the element with the largest fraction; elements whose fraction is
  ``np.isclose`` (rtol 1e-5, atol 1e-8) to the largest count as tied and the smallest property
  value among them is returned.

``minimum``, ``maximum``, ``range`` and ``mode`` jump when an element appears or the majority
element changes; ``continuous_only`` keeps ``mean`` and ``avg_dev`` only.

Unlike matminer, element data are never imputed (see :mod:`alloyml.features.elemental`).
"""

from __future__ import annotations

import numpy as np

#: The 22 Magpie properties of matminer's ``magpie`` preset, in matminer's order.
MAGPIE_PROPERTIES: tuple[str, ...] = (
    "Number", "MendeleevNumber", "AtomicWeight", "MeltingT", "Column", "Row", "CovalentRadius",
    "Electronegativity", "NsValence", "NpValence", "NdValence", "NfValence", "NValence",
    "NsUnfilled", "NpUnfilled", "NdUnfilled", "NfUnfilled", "NUnfilled", "GSvolume_pa",
    "GSbandgap", "GSmagmom", "SpaceGroupNumber",
)  # fmt: skip

#: Statistics of the ``magpie`` preset, in matminer's order.
MAGPIE_STATS: tuple[str, ...] = ("minimum", "maximum", "range", "mean", "avg_dev", "mode")

#: Statistics that are continuous functions of the composition.
CONTINUOUS_STATS: frozenset[str] = frozenset({"mean", "avg_dev"})

#: Atomic fraction below which an element is treated as absent (pymatgen amount_tolerance).
AMOUNT_TOLERANCE = 1e-8

#: ``np.isclose`` defaults used by matminer's ``PropertyStats.mode`` to detect ties.
_MODE_RTOL = 1e-5
_MODE_ATOL = 1e-8

#: Magpie property units (from matminer's magpie_elementdata/README.txt).
MAGPIE_UNITS: dict[str, str] = {
    "Number": "-", "MendeleevNumber": "-", "AtomicWeight": "g/mol", "MeltingT": "K",
    "Column": "-", "Row": "-", "CovalentRadius": "pm", "Electronegativity": "Pauling",
    "NsValence": "electrons", "NpValence": "electrons", "NdValence": "electrons",
    "NfValence": "electrons", "NValence": "electrons", "NsUnfilled": "states",
    "NpUnfilled": "states", "NdUnfilled": "states", "NfUnfilled": "states", "NUnfilled": "states",
    "GSvolume_pa": "A^3/atom", "GSbandgap": "eV", "GSmagmom": "mu_B/atom",
    "SpaceGroupNumber": "-",
}  # fmt: skip


def magpie_labels(
    properties: tuple[str, ...] = MAGPIE_PROPERTIES,
    stats: tuple[str, ...] = MAGPIE_STATS,
    continuous_only: bool = False,
) -> list[str]:
    """Feature labels in matminer's order: for each property, for each statistic."""
    use = [s for s in stats if not continuous_only or s in CONTINUOUS_STATS]
    return [f"MagpieData {stat} {prop}" for prop in properties for stat in use]


def magpie_stats(
    x: np.ndarray,
    table: np.ndarray,
    stats: tuple[str, ...] = MAGPIE_STATS,
    continuous_only: bool = False,
    chunk: int = 1024,
) -> np.ndarray:
    """Weighted element-property statistics of each composition row.

    Args:
        x: atomic fractions, shape ``(n, E)``, rows summing to 1, no NaN (validated upstream).
        table: element properties, shape ``(E, K)``, finite.
        stats: statistics to compute, a subset of :data:`MAGPIE_STATS`.
        continuous_only: keep only ``mean`` and ``avg_dev``.
        chunk: rows per block (keeps the working set in cache).

    Returns:
        Array of shape ``(n, K * len(stats_used))`` ordered property-major like
        :func:`magpie_labels`.

    Implementation: rows are processed in blocks; in a block, the elements taking part in each
    row are gathered in column order into a dense ``(k, rows, K)`` array, and sums over the
    element axis follow numpy's own order for a 1-D array of ``k`` values (sequential below 8,
    8-way pairwise from 8 on), which is what ``np.average`` does on matminer's per-composition
    lists: the results are bit-identical to matminer's when the element order is the same.
    Rows with fewer than 8 elements share blocks, padded with a copy of their first element at
    weight 0 (adds exact zeros; changes no minimum, maximum or mode); rows with 8 or more are
    blocked by element count so no padding enters a pairwise sum.
    """
    n, k = x.shape[0], table.shape[1]
    use = [s for s in stats if not continuous_only or s in CONTINUOUS_STATS]
    unknown = [s for s in use if s not in MAGPIE_STATS]
    if unknown:
        raise ValueError(f"unknown statistics {unknown}; choose from {MAGPIE_STATS}")
    pos = {s: j for j, s in enumerate(use)}
    out = np.empty((n, k, len(use)))
    present = x >= AMOUNT_TOLERANCE
    count = present.sum(axis=1)
    if (count < _PAIRWISE_MIN).all():
        groups = [np.arange(n)]
    else:
        groups = [np.flatnonzero(count < _PAIRWISE_MIN)]
        groups += [np.flatnonzero(count == c) for c in np.unique(count[count >= _PAIRWISE_MIN])]
    for rows in groups:
        for start in range(0, rows.size, chunk):
            sel = rows[start : start + chunk]
            if sel.size == n:  # single block of all rows: avoid copies
                out[:] = _block(x, present, table, pos)
            elif sel.size:
                out[sel] = _block(x[sel], present[sel], table, pos)
    return out.reshape(n, k * len(use))


#: Length from which numpy sums a 1-D array pairwise with 8 accumulators.
_PAIRWISE_MIN = 8


def _sum_axis0(a: np.ndarray) -> np.ndarray:
    """Sum over axis 0 in the order numpy's 1-D ``sum`` adds ``a.shape[0]`` numbers.

    numpy (``pairwise_sum`` in its add reduction) adds fewer than 8 values sequentially from 0;
    8 to 128 values go into 8 interleaved accumulators combined as
    ``((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))``, then the remainder sequentially.
    """
    c = a.shape[0]
    if c < _PAIRWISE_MIN:
        s = a[0].copy()
        for i in range(1, c):
            s += a[i]
        return s
    r = a[:8].copy()
    full = c - c % 8
    for i in range(8, full, 8):
        r += a[i : i + 8]
    s = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    for i in range(full, c):
        s += a[i]
    return s


def _block(
    x: np.ndarray,
    present: np.ndarray,
    table: np.ndarray,
    pos: dict[str, int],
) -> np.ndarray:
    """Statistics of one block of rows, shape ``(m, K, n_stats)``."""
    out = np.empty((x.shape[0], table.shape[1], len(pos)))
    count = present.sum(axis=1)
    k_max = int(count.max())
    # Columns of the elements taking part, in column order, padded with the first one.
    order = np.argsort(~present, axis=1, kind="stable")[:, :k_max]
    valid = np.arange(k_max) < count[:, None]
    idx = np.where(valid, order, order[:, :1])
    w = np.where(valid, np.take_along_axis(x, idx, axis=1), 0.0)  # (m, k_max)
    w_t = np.ascontiguousarray(w.T)  # (k_max, m)
    vals = table[idx.T]  # (k_max, m, K)
    weights = np.broadcast_to(w_t[:, :, None], vals.shape)

    total = _sum_axis0(w_t)[:, None]
    work = vals * weights
    mean = _sum_axis0(work)
    mean /= total
    if "mean" in pos:
        out[:, :, pos["mean"]] = mean
    if "avg_dev" in pos:
        np.subtract(vals, mean, out=work)
        np.abs(work, out=work)
        work *= weights
        dev = _sum_axis0(work)
        dev /= total
        out[:, :, pos["avg_dev"]] = dev
    if {"minimum", "maximum", "range"} & pos.keys():
        lo = vals.min(axis=0)
        hi = vals.max(axis=0)
        for stat, value in (("minimum", lo), ("maximum", hi), ("range", hi - lo)):
            if stat in pos:
                out[:, :, pos[stat]] = value
    if "mode" in pos:
        out[:, :, pos["mode"]] = _mode(w, valid, idx, table)
    return out


def _mode(w: np.ndarray, valid: np.ndarray, idx: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Property of the majority element; ties (np.isclose to the largest) -> smallest property."""
    wmax = w.max(axis=1, keepdims=True)
    tied = (np.abs(w - wmax) <= _MODE_ATOL + _MODE_RTOL * np.abs(wmax)) & valid
    rows = np.arange(w.shape[0])
    out = table[idx[rows, np.argmax(w, axis=1)]]
    multi = np.flatnonzero(tied.sum(axis=1) > 1)
    if multi.size:
        vals = np.where(tied[multi, :, None], table[idx[multi]], np.inf)
        out[multi] = vals.min(axis=1)
    return out
