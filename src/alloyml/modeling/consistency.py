"""Consistency between targets predicted by separate models: yield strength <= tensile strength.

Used wherever several targets' bundles are evaluated together: ``alloyml predict``
(:mod:`alloyml.modeling.predict`) and the campaigns' design evaluator
(:class:`alloyml.search.evaluate.Evaluator`), so that a search cannot rank a design on a pair a
user would never be shown.
"""

from __future__ import annotations

import numpy as np


def project_ys_uts(
    ys: np.ndarray, uts: np.ndarray, h_ys: np.ndarray, h_uts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Predicted yield and tensile strengths made consistent (yield <= tensile strength).

    The two models are trained on different rows (Jiang et al.'s 7xxx table reports no yield
    strength), so a design far from the yield model's rows can get a yield strength above its
    tensile strength. Where it does, both move to their weighted mean, weights 1/h^2 from the
    interval half-widths ``h``: the projection, in the norm those weights define, onto the
    convex set {YS <= UTS} that holds every real pair. Projection onto a closed convex set never
    moves a point farther from any point of the set (H. H. Bauschke, P. L. Combettes, *Convex
    Analysis and Monotone Operator Theory in Hilbert Spaces*, Springer 2011, ch. 4), so the
    projected pair is never farther from the true pair than the raw one.

    Returns the new yield and tensile strengths and which rows moved.

    >>> ys, uts, moved = project_ys_uts(np.array([500.0, 300.0]), np.array([400.0, 350.0]),
    ...                                 np.array([50.0, 20.0]), np.array([100.0, 20.0]))
    >>> ys.tolist(), uts.tolist(), moved.tolist()
    ([480.0, 300.0], [480.0, 350.0], [True, False])
    """
    ys, uts = np.asarray(ys, dtype=float), np.asarray(uts, dtype=float)
    moved = ys > uts
    w_ys = 1.0 / np.maximum(np.asarray(h_ys, dtype=float), 1e-9) ** 2
    w_uts = 1.0 / np.maximum(np.asarray(h_uts, dtype=float), 1e-9) ** 2
    mean = (w_ys * ys + w_uts * uts) / (w_ys + w_uts)
    return np.where(moved, mean, ys), np.where(moved, mean, uts), moved


def consistent_strengths(
    results: dict[str, dict[str, np.ndarray]],
) -> tuple[dict[str, dict[str, np.ndarray]], np.ndarray | None]:
    """:func:`project_ys_uts` applied to per-target predictions (``{target: {"pred", "lo",
    "hi", ...}}``, as :meth:`alloyml.modeling.bundle.Bundle.predict` returns them).

    Returns new result dicts (the input is left as it is), in which each interval moves with its
    prediction and keeps its width, and the rows that moved; without both strengths the results
    unchanged and None.

    >>> r = {"ys_mpa": {"pred": np.array([500.0]), "lo": np.array([450.0]),
    ...                 "hi": np.array([550.0])},
    ...      "uts_mpa": {"pred": np.array([400.0]), "lo": np.array([300.0]),
    ...                  "hi": np.array([500.0])}}
    >>> new, moved = consistent_strengths(r)
    >>> new["ys_mpa"]["pred"].tolist(), new["uts_mpa"]["lo"].tolist(), moved.tolist()
    ([480.0], [380.0], [True])
    >>> r["ys_mpa"]["pred"].tolist()
    [500.0]
    """
    if "ys_mpa" not in results or "uts_mpa" not in results:
        return results, None
    y, u = results["ys_mpa"], results["uts_mpa"]
    ys, uts, moved = project_ys_uts(y["pred"], u["pred"], y["hi"] - y["pred"], u["hi"] - u["pred"])
    out = dict(results)
    for t, r, new in (("ys_mpa", y, ys), ("uts_mpa", u, uts)):
        shift = new - r["pred"]
        out[t] = {**r, "pred": new, "lo": r["lo"] + shift, "hi": r["hi"] + shift}
    return out, moved
