"""``alloyml round status``: did the model's promises hold, round by round?

Per candidate and property: the prediction and its interval when proposed, the measured value
(mean of the kept replicate rows) and whether it fell inside the interval (*hit*). Per round:
candidates, measured, pending, the interval hit rate (hits over measured candidate-property
pairs; the intervals are nominally 90 %), the best measured value of the campaign's first
objective in the round and so far, and the models that proposed it (registry version and digest
of the bundle files).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from alloyml.compositions import density_rule_of_mixtures
from alloyml.rounds.store import Rounds
from alloyml.schema import ELEMENTS, TARGETS
from alloyml.search.campaign import SPECIFIC, Campaign

DENSITY = "density_g_cm3"


@dataclass
class Status:
    candidates: pd.DataFrame  # one row per candidate and property
    rounds: pd.DataFrame  # one row per round
    objective: str  # the first objective's quantity
    direction: str

    @property
    def hit_rate(self) -> float:
        m = self.candidates["measured"].notna()
        return float(self.candidates.loc[m, "hit"].mean()) if m.any() else float("nan")


def _measured_quantity(rows: pd.DataFrame, q: str) -> pd.Series:
    if q in TARGETS:
        return rows[q] if q in rows else pd.Series(np.nan, index=rows.index)
    els = [e for e in ELEMENTS if e in rows]
    rho = pd.Series(
        density_rule_of_mixtures(rows[els].fillna(0.0).to_numpy(float), els), index=rows.index
    )
    if q == DENSITY:
        return rho
    base = SPECIFIC[q]
    return (rows[base] if base in rows else pd.Series(np.nan, index=rows.index)) / rho


def hit_label(hit: Any) -> str:
    """``hit``, ``MISS`` or ``–`` (not measured yet): a :attr:`Status.candidates` ``hit`` as the
    report and notebook 03 print it (the words of ``alloyml round status``)."""
    if hit is None or bool(pd.isna(hit)):
        return "–"
    return "hit" if bool(hit) else "MISS"


def _version(model: dict[str, Any]) -> str:
    v = str(model.get("registry_version", "n/a"))
    return "n/a" if v == "n/a" else f"v{v}"


def round_status(campaign: Campaign, rounds: Rounds) -> Status:
    """The status of every round of ``campaign`` (see the module docstring)."""
    obj = campaign.objectives[0]
    sign = 1.0 if obj.direction == "maximize" else -1.0
    detail: list[dict[str, Any]] = []
    per_round: list[dict[str, Any]] = []
    best_so_far = np.nan
    for n in rounds.numbers():
        man = rounds.manifest(n)
        rows = rounds.measured_rows(n)
        by_id = {str(k): g for k, g in rows.groupby("candidate_id")} if len(rows) else {}
        hits = pairs = 0
        best_round = np.nan
        for c in man["candidates"]:
            g = by_id.get(c["id"])
            for t, p in c["predictions"].items():
                meas = (
                    float(g[t].mean()) if g is not None and t in g and g[t].notna().any() else None
                )
                hit = None if meas is None else bool(p["lo"] <= meas <= p["hi"])
                if hit is not None:
                    pairs += 1
                    hits += int(hit)
                detail.append(
                    {
                        "round": n, "candidate_id": c["id"], "alloy": c["alloy"], "property": t,
                        "pred": p["pred"], "lo": p["lo"], "hi": p["hi"], "measured": meas,
                        "hit": hit, "n_specimens": 0 if g is None else int(len(g)),
                    }
                )  # fmt: skip
            if g is not None:
                v = _measured_quantity(g, obj.quantity).mean()
                if pd.notna(v) and (np.isnan(best_round) or sign * v > sign * best_round):
                    best_round = float(v)
        if not np.isnan(best_round) and (
            np.isnan(best_so_far) or sign * best_round > sign * best_so_far
        ):
            best_so_far = best_round
        n_measured = sum(c["id"] in by_id for c in man["candidates"])
        models = "\n".join(
            f"{t}: {m.get('model', '?')}, registry {_version(m)}, files {m.get('files', '?')}"
            for t, m in sorted(man.get("models", {}).items())
        )
        per_round.append(
            {
                "round": n,
                "proposed": man.get("created_utc", ""),
                "candidates": len(man["candidates"]),
                "measured": n_measured,
                "pending": len(man["candidates"]) - n_measured,
                "hits": hits,
                "pairs": pairs,
                "hit_rate": hits / pairs if pairs else np.nan,
                f"best_{obj.quantity}": best_round,
                f"best_so_far_{obj.quantity}": best_so_far,
                "models": models,
            }
        )
    return Status(pd.DataFrame(detail), pd.DataFrame(per_round), obj.quantity, obj.direction)
