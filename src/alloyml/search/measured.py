"""The measured alloys of a system, as the search needs them.

* **Reference values** (:func:`reference_values`): the best measured value of each objective
  quantity among the campaign's reference alloys (rows inside ``reference`` element ranges) that
  satisfy the campaign's constraints as measured — the incumbent an expected improvement is taken
  over, and the unit of the domain penalty. When no reference alloy satisfies every measurable
  constraint, the best over all reference alloys is used (logged).
* **Measured maxima** (``Measured.maxima``): the largest measured value of each target among
  the campaign's reference alloys (all alloys of the system when the campaign sets no
  ``reference``); a candidate predicted above it is an extrapolation. For Mg-Li this is the best
  *Mg-Li* alloy, not the best Mg alloy, whose strength comes from other chemistries.
* **Nearest measured alloys** (:meth:`Measured.nearest`): k nearest rows in the design space of
  the campaign (:meth:`~alloyml.search.space.DesignSpace.vectors`), with their distances.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.neighbors import NearestNeighbors

from alloyml.errors import AlloyMLError
from alloyml.schema import TARGETS
from alloyml.search.campaign import SPECIFIC, Campaign
from alloyml.search.evaluate import DENSITY, Reference
from alloyml.search.space import DesignSpace

log = logging.getLogger(__name__)

#: Columns of the processed table shown for a nearest measured alloy.
SHOWN = ("row_uid", "source_id", "alloy_name", "route", "temper_class", *TARGETS)


def read_processed(path: str | Path, system: str) -> pd.DataFrame:
    """Rows of the processed table of ``system`` with at least one measured target."""
    p = Path(path)
    if not p.is_file():
        raise AlloyMLError(f"processed table {p} not found: run `dvc repro clean@{system}` first")
    frame = pd.read_parquet(p)
    if "system" in frame.columns:
        frame = frame[frame["system"].astype(str) == system]
    targets = [t for t in TARGETS if t in frame.columns]
    frame = frame[frame[targets].notna().any(axis=1)].reset_index(drop=True)
    if frame.empty:
        raise AlloyMLError(f"{p} holds no measured {system} alloy")
    return frame


def measured_quantity(frame: pd.DataFrame, q: str) -> pd.Series:
    """A campaign quantity as measured (density: measured, else the rule-of-mixtures value)."""
    if q == DENSITY:
        rho = frame.get(DENSITY, pd.Series(np.nan, index=frame.index))
        calc = frame.get("density_calc_g_cm3", pd.Series(np.nan, index=frame.index))
        return rho.fillna(calc).astype(float)
    if q in SPECIFIC:
        return frame[SPECIFIC[q]].astype(float) / measured_quantity(frame, DENSITY)
    return frame[q].astype(float) if q in frame.columns else pd.Series(np.nan, index=frame.index)


def in_ranges(frame: pd.DataFrame, ranges: dict[str, tuple[float, float]]) -> pd.Series:
    """Rows whose element wt % (NaN = 0) lie inside every range."""
    ok = pd.Series(True, index=frame.index)
    for el, (lo, hi) in ranges.items():
        v = frame[el].fillna(0.0) if el in frame.columns else pd.Series(0.0, index=frame.index)
        ok &= (v >= lo) & (v <= hi)
    return ok


def reference_values(campaign: Campaign, frame: pd.DataFrame) -> Reference:
    ref = frame[in_ranges(frame, campaign.reference)]
    feasible = pd.Series(True, index=ref.index)
    for con in campaign.constraints:
        v = measured_quantity(ref, con.quantity)
        feasible &= (v >= con.value) if con.op == ">=" else (v <= con.value)
    best: dict[str, float] = {}
    for o in campaign.objectives:
        v = measured_quantity(ref, o.quantity)
        pool = v[feasible & v.notna()]
        if pool.empty:
            pool = v.dropna()
            if not pool.empty:
                log.info(
                    "%s: no reference alloy meets every constraint as measured; best %s taken "
                    "over all %d reference alloys",
                    campaign.name,
                    o.quantity,
                    len(pool),
                )
        if not pool.empty:
            best[o.quantity] = float(pool.max() if o.direction == "maximize" else pool.min())
    scale = {q: abs(v) if v else 1.0 for q, v in best.items()}
    return Reference(best=best, scale=scale)


@dataclass
class Measured:
    """Measured alloys of the system in the campaign's design space."""

    frame: pd.DataFrame
    vectors: np.ndarray
    maxima: dict[str, float]
    nn: NearestNeighbors

    @classmethod
    def build(cls, frame: pd.DataFrame, space: DesignSpace) -> Measured:
        vectors = space.vectors_frame(frame)
        ref = frame[in_ranges(frame, space.campaign.reference)]
        maxima = {t: float(ref[t].max()) for t in TARGETS if t in ref and ref[t].notna().any()}
        nn = NearestNeighbors(n_neighbors=min(3, len(frame))).fit(vectors)
        return cls(frame=frame, vectors=vectors, maxima=maxima, nn=nn)

    def nearest(self, vectors: np.ndarray, k: int = 3) -> tuple[np.ndarray, np.ndarray]:
        """Distances and row positions of the ``k`` nearest measured alloys."""
        k = min(k, len(self.frame))
        return self.nn.kneighbors(vectors, n_neighbors=k)
