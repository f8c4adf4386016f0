"""``alloyml round propose``: the next round's batch, aware of the earlier rounds.

The campaign's search runs as usual (:func:`alloyml.search.api.run_campaign`, its study under
``round-N/search/``) with the round's own seed (mixed from ``base.seed`` and N, so every round
draws afresh and is reproducible). The batch is then chosen greedily with fantasies: candidates of
earlier rounds without a kept measurement are pending and condition the acquisition (kriging
believer or constant liar, :mod:`alloyml.search.fantasy`); neither they nor the measured ones, nor
anything within ``min_distance`` of them, is proposed again. A campaign with ``shared_process`` /
``furnace_groups`` gets its furnace-shared batch (:mod:`alloyml.search.furnace`).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alloyml.rounds.store import MANIFEST, RoundError, Rounds, candidate_id, design_of
from alloyml.search.api import SearchResult, run_campaign
from alloyml.search.campaign import Campaign
from alloyml.search.candidates import designs_of

EXPERIMENT = "alloyml-search"


def round_seed(base_seed: int, n: int) -> int:
    """Seed of round ``n``: ``base.seed`` and the round number mixed (reproducible, distinct)."""
    return int(np.random.SeedSequence([int(base_seed), int(n)]).generate_state(1)[0] % (2**31 - 1))


def params_digest(campaign: Campaign) -> str:
    """Digest of the campaign's parameters as written in params.yaml."""
    text = json.dumps(campaign.raw, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass
class Proposal:
    number: int
    folder: Path
    manifest: dict[str, Any]
    result: SearchResult


def _finite(x: Any) -> Any:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return x
    return f if np.isfinite(f) else None


def propose_round(
    campaign: Campaign,
    *,
    seed: int,
    rounds_root: str | Path,
    models_dir: str | Path,
    processed_path: str | Path,
    features_path: str | Path | None = None,
    storage: str | None = None,
    n_trials: int | None = None,
    eval_batch: int | None = None,
    batch_size: int | None = None,
    fantasy: str = "believer",
    furnace_options: dict[str, int] | None = None,
    tracker: Any = None,
) -> Proposal:
    """Search and write round N = (last round + 1) of ``campaign`` (see the module docstring)."""
    rounds = Rounds(Path(rounds_root), campaign.name)
    n = rounds.next_number()
    pending, measured = rounds.pending_and_measured()
    rs = round_seed(seed, n)
    folder = rounds.dir(n)
    result = run_campaign(
        campaign, seed=rs, models_dir=models_dir, processed_path=processed_path,
        output_dir=folder / "search", features_path=features_path, storage=storage,
        n_trials=n_trials, eval_batch=eval_batch, batch_size=batch_size, resume=True,
        tracker=tracker, pending=[design_of(c) for c in pending],
        exclude=[design_of(c) for c in measured], fantasy=fantasy,
        furnace_options=furnace_options,
    )  # fmt: skip
    cand = result.candidates
    if cand.empty:
        raise RoundError(
            f"{campaign.name}: no feasible candidate away from the {len(pending)} pending and "
            f"{len(measured)} measured ones; round {n} not written (raise n_trials, relax the "
            "constraints or lower min_distance)"
        )
    problem = result.problem
    assert problem is not None
    designs = designs_of(cand, problem.space)
    ids = [candidate_id(campaign.name, n, int(k)) for k in cand["candidate"]]
    loads: list[int | None] = [None] * len(designs)
    if campaign.furnace.active:
        from alloyml.search.furnace import schedule_key

        keys = list(dict.fromkeys(schedule_key(d, campaign.furnace) for d in designs))
        loads = [keys.index(schedule_key(d, campaign.furnace)) + 1 for d in designs]
    versions: dict[str, str] = {}
    if tracker is not None:
        from alloyml.search.track import champion_versions

        versions = champion_versions(tracker, campaign.system, list(result.models))
    models = {t: m | {"registry_version": versions.get(t, "n/a")} for t, m in result.models.items()}
    targets = problem.reporter.targets
    entries = []
    for i, (cid, d) in enumerate(zip(ids, designs, strict=True)):
        r = cand.iloc[i]
        entries.append(
            {
                "id": cid,
                "alloy": str(r["alloy"]),
                "design": d.to_dict(),
                "furnace_load": loads[i],
                "predictions": {
                    t: {k: _finite(r[f"{t}_{k}"]) for k in ("pred", "lo", "hi")}
                    | {"in_domain": bool(r[f"{t}_in_domain"])}
                    for t in targets
                },
                "objectives": {
                    o.quantity: _finite(r[f"objective_{o.quantity}"]) for o in campaign.objectives
                },
                "domain_score": _finite(r["domain_score"]),
            }
        )
    s = result.summary
    manifest = {
        "campaign": campaign.name,
        "system": campaign.system,
        "round": n,
        "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "params_digest": params_digest(campaign),
        "base_seed": int(seed),
        "round_seed": rs,
        "sampler_seed": s["sampler_seed"],
        "study_name": s["study_name"],
        "n_trials": s["n_trials_complete"],
        "fantasy": fantasy,
        "pending_fantasies": [c["id"] for c in pending],
        "excluded_measured": [c["id"] for c in measured],
        "selection": s.get("selection", {}),
        "objectives": [
            {"quantity": o.quantity, "direction": o.direction, "acquisition": o.acquisition}
            for o in campaign.objectives
        ],  # fmt: skip
        "models": models,
        "candidates": entries,
    }
    table = pd.read_csv(result.paths["candidates_csv"])
    table.insert(0, "candidate_id", ids)
    if campaign.furnace.active:
        table.insert(1, "furnace_load", loads)
    table.to_csv(folder / "candidates.csv", index=False, lineterminator="\n")
    shutil.copyfile(result.paths["candidates_md"], folder / "candidates.md")
    (folder / ".gitignore").write_text("# the round's Optuna study (large; rebuilt from the seed)\n"
                                       "search/\n")  # fmt: skip
    # written last: its presence makes the round exist
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    if tracker is not None:
        _log(tracker, manifest, folder)
    return Proposal(n, folder, manifest, result)


def _log(tracker: Any, manifest: dict[str, Any], folder: Path) -> None:
    tags = {
        "stage": "round",
        "campaign": manifest["campaign"],
        "system": manifest["system"],
        "round": str(manifest["round"]),
        "study_name": manifest["study_name"],
        "params_digest": manifest["params_digest"],
    }
    for t, m in manifest["models"].items():
        tags[f"model.{t}.files"] = m["files"]
        tags[f"model.{t}.registry_version"] = m["registry_version"]
    with tracker.run(f"round-{manifest['campaign']}-{manifest['round']}", tags=tags):
        tracker.log_params(
            {
                "round_seed": manifest["round_seed"],
                "fantasy": manifest["fantasy"],
                "n_pending": len(manifest["pending_fantasies"]),
                "n_excluded": len(manifest["excluded_measured"]),
            }
        )
        tracker.log_metrics({"n_candidates": len(manifest["candidates"])})
        for name in (MANIFEST, "candidates.csv", "candidates.md"):
            tracker.log_artifact(folder / name, "round")
