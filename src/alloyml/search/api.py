"""Run a campaign end to end: models -> study -> batched search -> candidates -> reports.

:func:`run_campaign` is what the command line (``alloyml search``), the DVC stage
(``pipelines/search.py``) and the benchmark call. Outputs in ``output_dir``:

* ``candidates.csv`` / ``candidates.md``: the diverse batch for the next experimental round;
* ``pareto.csv``: feasible non-dominated trials on the campaign's trade-off axes;
* ``history.png`` / ``pareto.png``: optimisation history and trade-off front;
* ``summary.json``: counts, best values, speed, models used;
* ``study.journal``: the study itself, unless ``--storage``/``$ALLOYML_OPTUNA_STORAGE`` points
  elsewhere.

The study is named ``<campaign>-<digest>``, the digest covering the campaign's problem definition,
``base.seed`` and the files of the champion models: resuming or joining a study is only possible
with the same problem and the same models (workers sharing a study evaluate with identical
models), while changing ``n_trials`` or the candidate-selection settings keeps the study.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from alloyml.features.presets import get_preset
from alloyml.modeling.bundle import Bundle
from alloyml.modeling.predict import load_bundles
from alloyml.search import candidates as cands
from alloyml.search import plots
from alloyml.search.campaign import Campaign, SearchError
from alloyml.search.evaluate import Problem
from alloyml.search.measured import (
    Measured,
    in_ranges,
    measured_quantity,
    read_processed,
    reference_values,
)
from alloyml.search.runner import BatchRunner, Progress, RunStats, derive_seed
from alloyml.search.sampler import make_sampler
from alloyml.search.space import Design, DesignSpace
from alloyml.search.storage import StorageHandle, open_storage

log = logging.getLogger(__name__)


@dataclass
class SearchResult:
    campaign: Campaign
    stats: RunStats
    table: pd.DataFrame  # every complete trial of the study
    candidates: pd.DataFrame  # the diverse batch, with card fields
    front: pd.DataFrame
    summary: dict[str, Any]
    paths: dict[str, Path] = field(default_factory=dict)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)
    problem: Problem | None = None  # objectives, constraints, models (for notebooks/tests)
    measured: Measured | None = None


def _digest_files(d: Path) -> str:
    h = hashlib.sha256()
    from alloyml.modeling.bundle import MODEL_FILES

    for name in ("meta.json", *MODEL_FILES, "calibration.npz"):
        p = d / name
        if p.is_file():
            h.update(name.encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:12]


def models_info(models_dir: Path, system: str, bundles: dict[str, Bundle]) -> dict[str, dict]:
    """Identity of each champion model: family, data digest, preset, digest of its files."""
    out = {}
    for t, b in sorted(bundles.items()):
        m = b.meta
        out[t] = {
            "model": str(m.get("model", "?")),
            "tuned": bool(m.get("tuned", False)),
            "preset": str(m.get("preset", "?")),
            "data_digest": str(m.get("data_digest", "")),
            "n_rows": int(m.get("n_rows", 0)),
            "files": _digest_files(models_dir / system / t),
        }
    return out


def fingerprint(info: dict[str, dict]) -> str:
    text = json.dumps({t: v["files"] for t, v in info.items()}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def check_features_table(path: Path | None, preset: str) -> None:
    """Warn when the features table was built with another preset than the models'."""
    if path is None or not Path(path).is_file():
        return
    import pyarrow.parquet as pq

    meta = (pq.read_schema(path).metadata or {}).get(b"alloyml.features")
    if meta:
        built = json.loads(meta).get("preset")
        if built and built != preset:
            log.warning("features table %s uses preset %s, the models %s", path, built, preset)


def worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def open_study(
    campaign: Campaign, handle: StorageHandle, study_name: str, resume: bool, info: dict
) -> tuple[optuna.Study, int]:
    """Create or load the study; refuse to extend a non-empty one without ``resume``."""
    study = optuna.create_study(
        storage=handle.storage,
        study_name=study_name,
        directions=campaign.directions,
        load_if_exists=True,
    )
    trials = study.get_trials(deepcopy=False)
    n_complete = sum(t.state == TrialState.COMPLETE for t in trials)
    others = len(trials) - n_complete
    if n_complete and not resume:
        raise SearchError(
            f"study {study_name!r} in {handle.url} already holds {n_complete} trials; pass "
            "--resume to continue it (or to join it as another worker), or use another --output"
        )
    if others:
        log.warning(
            "study %s holds %d trials that are not COMPLETE (alloyml never stores such trials: "
            "they come from another tool); they are ignored",
            study_name,
            others,
        )
    if "alloyml" not in study.user_attrs:
        study.set_user_attr("alloyml", {"campaign": campaign.raw, "models": info})
    return study, n_complete


def run_campaign(
    campaign: Campaign,
    *,
    seed: int,
    models_dir: str | Path,
    processed_path: str | Path,
    output_dir: str | Path,
    features_path: str | Path | None = None,
    storage: str | None = None,
    n_trials: int | None = None,
    eval_batch: int | None = None,
    batch_size: int | None = None,
    resume: bool = False,
    progress: Progress | None = None,
    tracker: Any = None,
    worker: str | None = None,
    pending: Sequence[Design] = (),
    exclude: Sequence[Design] = (),
    fantasy: str = "believer",
    furnace_options: dict[str, int] | None = None,
) -> SearchResult:
    """Run (or resume, or join) a campaign and write its candidates; see the module docstring.

    Args:
        campaign: the validated campaign (``search.campaigns.<name>``).
        seed: ``base.seed``.
        models_dir: directory holding ``<system>/<target>/`` champion bundles.
        processed_path: the system's processed table (measured alloys).
        output_dir: where candidates, plots, summary (and the default journal) go.
        features_path: the system's features table (preset consistency check).
        storage: Optuna storage URL (default ``$ALLOYML_OPTUNA_STORAGE``, else the journal;
            :data:`~alloyml.search.storage.EMBEDDED`: the journal whatever the environment says).
        n_trials, eval_batch, batch_size: override the campaign's settings.
        resume: continue (or join) a study that already holds trials.
        progress: called after every round with ``(done, total, stats)``.
        tracker: an open :class:`alloyml.modeling.tracking.Tracker` to log the run to, or None.
        worker: worker id (default ``host-pid-random``).
        pending: designs of earlier rounds not measured yet: fantasies of the batch selection,
            never proposed again nor anything within ``min_distance`` (issue 12).
        exclude: designs never to propose again nor anything within ``min_distance`` (measured
            candidates of earlier rounds).
        fantasy: ``believer`` or ``liar`` (see :mod:`.fantasy`).
        furnace_options: ``n_schedules`` / ``trials_per_schedule`` of a furnace-shared batch
            (see :mod:`.furnace`).

    With ``pending``/``exclude`` or a campaign sharing process stages (``shared_process``,
    ``furnace_groups``), the batch is chosen greedily with fantasies (:mod:`.fantasy`,
    :mod:`.furnace`); otherwise by rank and mutual distance.
    """
    n_trials = int(n_trials or campaign.n_trials)
    eval_batch = int(eval_batch or campaign.eval_batch)
    q = int(batch_size or campaign.batch_size)
    if min(n_trials, eval_batch, q) < 1:
        raise SearchError("n_trials, eval batch and batch size must be >= 1")
    models_dir, out = Path(models_dir), Path(output_dir)
    bundles = load_bundles(models_dir, campaign.system)
    info = models_info(models_dir, campaign.system, bundles)
    preset_name = next(iter(bundles.values())).meta.get("preset", "alloy_v1")
    check_features_table(Path(features_path) if features_path else None, preset_name)
    space = DesignSpace(campaign, get_preset(preset_name))
    frame = read_processed(processed_path, campaign.system)
    reference = reference_values(campaign, frame)
    problem = Problem(campaign, space, bundles, reference)

    out.mkdir(parents=True, exist_ok=True)
    handle = open_storage(storage, out)
    study_name = campaign.study_name(seed, fingerprint(info))
    study, n_before = open_study(campaign, handle, study_name, resume, info)
    worker = worker or worker_id()
    salt = zlib.crc32(worker.encode()) if handle.shared else 0
    sampler_seed = derive_seed(seed, n_before, salt)
    sampler = make_sampler(campaign, sampler_seed, eval_batch, space.flat_distributions)
    log.info("%s: study %s in %s, %d/%d trials stored, worker %s, sampler seed %d",
             campaign.name, study_name, handle.url, n_before, n_trials, worker, sampler_seed)  # fmt: skip
    runner = BatchRunner(study, handle, space, problem, sampler, worker)
    stats = runner.run(n_trials, eval_batch, progress)

    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    table = cands.trials_frame(trials, problem)
    measured = Measured.build(frame, space)
    chosen: list[int] = []
    pool, selection = table, None
    if campaign.furnace.active or pending or exclude:
        # issue 12: pending experiments as fantasies, earlier rounds excluded, shared schedules
        pool, selection = _select_rounds(
            problem, table, q, sampler_seed, frame, pending, exclude, fantasy, furnace_options
        )
        chosen = list(selection["chosen"])
    else:
        order = cands.ranking(table, campaign, enough=max(50 * q, 500))
        if len(order):
            vecs = space.vectors_frame(table.iloc[order])
            picked = cands.select_diverse(np.arange(len(order)), vecs, q, campaign.min_distance)
            chosen = [int(order[i]) for i in picked]
    cand = cands.card_table(pool, chosen, problem, measured)
    axes = cands.tradeoff_axes(campaign)
    fr = cands.front(table, axes) if axes else table.iloc[0:0]
    if len(cand) < q:
        log.warning("%s: %d feasible, mutually distinct candidates (asked for %d)",
                    campaign.name, len(cand), q)  # fmt: skip

    summary = _summary(campaign, stats, table, cand, reference.best, info, sampler_seed, q)
    if selection is not None:
        summary["selection"] = {k: v for k, v in selection.items() if k != "chosen"}
    context = _context(campaign, stats, summary, info, q)
    paths = {
        "candidates_csv": cands.write_csv(cand, problem, out / "candidates.csv"),
        "candidates_md": cands.write_markdown(cand, problem, context, out / "candidates.md"),
    }
    if axes:
        keep = ["trial", *space.elements, "route", "temper_class", *[a[0] for a in axes]]
        fr[[k for k in dict.fromkeys(keep) if k in fr.columns]].to_csv(
            out / "pareto.csv", index=False, lineterminator="\n"
        )
        paths["pareto_csv"] = out / "pareto.csv"
    if len(table):
        paths["history_png"] = plots.history(
            table, [(o.quantity, o.direction) for o in campaign.objectives],
            f"{campaign.name}: optimisation history ({len(table)} trials)", out / "history.png",
        )  # fmt: skip
        if axes:
            paths["pareto_png"] = plots.pareto(
                table, axes[0][:2], axes[1][:2], fr, cand,
                f"{campaign.name}: trade-off and candidates", out / "pareto.png",
            )  # fmt: skip
    (out / "summary.json").write_text(
        json.dumps(summary, indent=2, sort_keys=True, default=_json) + "\n"
    )
    paths["summary_json"] = out / "summary.json"
    result = SearchResult(campaign, stats, table, cand, fr, summary, paths, info, problem, measured)
    if tracker is not None:
        from alloyml.search.track import log_search

        log_search(tracker, result, processed_path)
    return result


def _select_rounds(
    problem: Problem,
    table: pd.DataFrame,
    q: int,
    seed: int,
    frame: pd.DataFrame,
    pending: Sequence[Design],
    exclude: Sequence[Design],
    fantasy: str,
    furnace_options: dict[str, int] | None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Batch by fantasies (and shared furnace schedules): the trial table the chosen positions
    refer to, and what the summary records about the selection."""
    from alloyml.search.fantasy import select_with_fantasies

    c = problem.campaign
    ref = frame[in_ranges(frame, c.reference)]
    measured_y = measured_quantity(ref, c.objectives[0].quantity).to_numpy(float)
    kw = {"pending": pending, "exclude": exclude, "measured_y": measured_y, "fantasy": fantasy}
    info: dict[str, Any] = {"fantasy": fantasy, "n_pending": len(pending),
                            "n_excluded": len(exclude)}  # fmt: skip
    if not c.furnace.active:
        sel = select_with_fantasies(table, problem, q, **kw)
        return table, info | {"chosen": sel.chosen, "batch_value": sel.value}
    from alloyml.search.furnace import furnace_batch

    fb = furnace_batch(problem, table, q, seed, **kw, **(furnace_options or {}))
    ratio = (
        fb.selection.value / fb.free.value if fb.free.value not in (0.0, float("-inf")) else None
    )
    info |= {
        "chosen": fb.selection.chosen,
        "batch_value": fb.selection.value,
        "furnace": {
            "shared_process": list(c.furnace.stages),
            "furnace_groups": c.furnace.groups,
            "schedules": fb.chosen_schedules,
            "unconstrained_batch_value": fb.free.value,
            "ratio_to_unconstrained": ratio,
            "n_evaluations": fb.n_evaluations,
            "outer_trials": fb.schedules,
        },
    }
    return fb.table, info


def _json(x: Any) -> Any:
    if isinstance(x, np.generic):
        return x.item()
    return str(x)


def _summary(campaign, stats, table, cand, ref_best, info, sampler_seed, q) -> dict[str, Any]:
    feas = table[table["constraints_ok"]] if len(table) else table
    best: dict[str, float] = {}
    for o in campaign.objectives:
        col = f"objective_{o.quantity}"
        if len(feas):
            best[o.quantity] = float(
                feas[col].max() if o.direction == "maximize" else feas[col].min()
            )
    return {
        "campaign": campaign.name,
        "system": campaign.system,
        "study_name": stats.study_name,
        "storage": stats.storage,
        "worker": stats.worker,
        "sampler": campaign.sampler.name,
        "encoding": campaign.encoding,
        "sampler_seed": sampler_seed,
        "n_trials_requested": stats.n_trials,
        "n_trials_complete": int(len(table)),
        "n_trials_this_run": stats.n_new,
        "n_workers": int(table["worker"].nunique()) if len(table) else 0,
        "n_feasible": int(len(feas)),
        "feasible_fraction": float(len(feas) / len(table)) if len(table) else 0.0,
        "best_objective": best,
        # what best_objective measures: the acquisition score of each objective (e.g. ucb), not
        # necessarily a predicted property value
        "objectives": [
            {
                "quantity": o.quantity,
                "direction": o.direction,
                "acquisition": o.acquisition,
                "kappa": o.kappa,
                "label": o.label,
            }
            for o in campaign.objectives
        ],
        "reference_best": ref_best,
        "evals_per_s": stats.evals_per_s if stats.n_new else None,
        "seconds": stats.seconds,
        "timings_s": stats.timings,
        "n_candidates": int(len(cand)),
        "n_candidates_requested": q,
        "n_candidates_extrapolating": int(cand["extrapolation"].sum()) if len(cand) else 0,
        "n_candidates_in_domain": int(cand["in_domain"].sum()) if len(cand) else 0,
        "models": info,
    }


def _context(campaign, stats, summary, info, q) -> dict[str, str]:
    models = ", ".join(f"{t}: {v['model']}{' (tuned)' if v['tuned'] else ''} [{v['files']}]"
                       for t, v in info.items())  # fmt: skip
    ref = ", ".join(f"{k} {v:.4g}" for k, v in summary["reference_best"].items()) or "–"
    cons = "; ".join(c.describe() for c in campaign.constraints) or "none"
    return {
        "study": f"`{stats.study_name}` ({stats.storage})",
        "trials": f"{summary['n_trials_complete']} complete ({summary['n_feasible']} feasible), "
        f"{summary['n_workers']} worker(s)",
        "sampler": f"{campaign.sampler.name} ({campaign.encoding} encoding)",
        "objectives": ", ".join(f"{o.direction} {o.label}" for o in campaign.objectives),
        "constraints": cons,
        "domain policy": f"{campaign.domain.mode} (score <= {campaign.domain.max_score:g}, "
        f"penalty {campaign.domain.penalty:g})",
        "best measured reference": ref,
        "selection": _selection_text(campaign, summary, q),
        "models": models,
    }


def _selection_text(campaign: Campaign, summary: dict[str, Any], q: int) -> str:
    sel = summary.get("selection")
    text = f"{q} best feasible, at least {campaign.min_distance:g} apart"
    if not sel:
        return text
    text += (
        f", greedily with fantasies ({sel['fantasy']}; {sel['n_pending']} pending, "
        f"{sel['n_excluded']} measured designs of earlier rounds excluded)"
    )
    fur = sel.get("furnace")
    if fur:
        text += f"; shared furnace schedule(s): {' | '.join(fur['schedules'])}"
    return text
