"""Log a campaign execution to MLflow (experiment ``alloyml-search``) through a Tracker.

mlflow itself is only imported by :mod:`alloyml.modeling.tracking`; this module receives the open
:class:`~alloyml.modeling.tracking.Tracker`. One run per campaign execution, tagged with the campaign, the
study, the git commit, the data digest of the processed table and, per target, the champion model
it used (family, data digest, digest of the bundle files) and the registry version carrying the
``champion`` alias of ``alloyml-<system>-<target>`` when the registry has one. Params: the
campaign definition (flattened) and the run settings; metrics: counts, best values, speed;
artefacts: candidates (CSV + Markdown), Pareto front, summary, the history and Pareto PNGs.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from alloyml.modeling.tracking import file_digest, git_commit

log = logging.getLogger(__name__)

EXPERIMENT = "alloyml-search"


def champion_versions(tracker: Any, system: str, targets: list[str]) -> dict[str, str]:
    """Registry version with alias ``champion`` per target (targets without one are left out)."""
    out: dict[str, str] = {}
    try:
        client = tracker.mlflow.MlflowClient()
    except Exception:
        return out
    for t in targets:
        try:
            mv = client.get_model_version_by_alias(f"alloyml-{system}-{t}", "champion")
            out[t] = str(mv.version)
        except Exception:
            continue
    return out


def flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts/lists -> ``a.b.0.c`` keys (MLflow params are flat strings)."""
    out: dict[str, Any] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out |= flatten(v, f"{prefix}{k}.")
    elif isinstance(d, list) and d and any(isinstance(v, dict | list) for v in d):
        for i, v in enumerate(d):
            out |= flatten(v, f"{prefix}{i}.")
    else:
        out[prefix.rstrip(".")] = json.dumps(d) if isinstance(d, list) else d
    return out


def log_search(tracker: Any, result: Any, processed_path: str | Path | None = None) -> None:
    """Log one :class:`~alloyml.search.api.SearchResult` as a run of the tracker's experiment."""
    c, s = result.campaign, result.summary
    versions = champion_versions(tracker, c.system, list(result.models))
    tags = {
        "stage": "search",
        "campaign": c.name,
        "system": c.system,
        "study_name": s["study_name"],
        "storage": s["storage"],
        "worker": s["worker"],
        "git_commit": git_commit(),
    }
    if processed_path is not None and Path(processed_path).is_file():
        tags["data_digest"] = file_digest(processed_path)
    for t, m in result.models.items():
        tags[f"model.{t}"] = f"{m['model']}{' tuned' if m['tuned'] else ''}"
        tags[f"model.{t}.files"] = m["files"]
        tags[f"model.{t}.data_digest"] = m["data_digest"]
        tags[f"model.{t}.registry_version"] = versions.get(t, "n/a")
    params = flatten(c.raw, "campaign.")
    params |= {
        "n_trials": s["n_trials_requested"],
        "sampler_seed": s["sampler_seed"],
        "encoding": s["encoding"],
        "batch_size": s["n_candidates_requested"],
    }
    metrics: dict[str, Any] = {
        k: s[k] if s[k] is not None else float("nan")
        for k in (
            "n_trials_complete",
            "n_trials_this_run",
            "n_feasible",
            "feasible_fraction",
            "evals_per_s",
            "seconds",
            "n_candidates",
            "n_candidates_extrapolating",
            "n_candidates_in_domain",
            "n_workers",
        )  # fmt: skip
    }
    metrics |= {f"best_{k}": v for k, v in s["best_objective"].items()}
    metrics |= {f"reference_best_{k}": v for k, v in s["reference_best"].items()}
    metrics |= {f"time_{k}_s": v for k, v in s["timings_s"].items()}
    with tracker.run(f"search-{c.name}", tags=tags):
        tracker.log_params(params)
        tracker.log_metrics(metrics)
        for p in result.paths.values():
            tracker.log_artifact(p, "candidates")
    log.info("logged search %s to MLflow experiment %s", c.name, tracker.experiment)
