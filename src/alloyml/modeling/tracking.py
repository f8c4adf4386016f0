"""MLflow tracking: the only module that imports mlflow (apart from the pyfunc wrapper).

The tracking URI comes from ``ALLOYML_TRACKING_URI`` (team mode: an MLflow server with a
PostgreSQL backend), default ``sqlite:///mlflow.db`` with artefacts in ``./mlartifacts``. Nothing
happens at import: a :class:`Tracker` is opened with :func:`open_tracker` inside a ``with``.

MLflow stores artefact locations as absolute URIs. So that a project copied or moved elsewhere
logs into (and reads from) its own ``mlartifacts/``, not the original's, the artefact root of a
SQLite store is resolved against the database's folder each time the store is opened
(:func:`relocate_artifacts`): locations under another folder's ``mlartifacts/`` (or ``mlruns/``)
are rewritten to the same paths beside the database.

What a scientist sees first in ``mlflow ui`` is set up here too:

* every alloyml experiment is tagged ``mlflow.experimentKind = custom_model_development`` (MLflow
  3's marker for "Machine learning"/model training, as opposed to GenAI apps; the 3.17 UI takes
  its mode from its sidebar switch instead, hence the mode in :func:`champions_view_url`);
* :meth:`Tracker.log_champion` marks the champion run of a (system, target) as the current one,
  copies its headline numbers onto the parent run (``<target>/grouped_r2`` …), writes the
  experiment's description (shown above the runs table) as a table of the current champions and
  their headline numbers, and stores a view of the runs page listing only those champions with
  their metric columns (:data:`CHAMPIONS_VIEW`, opened by :func:`champions_view_url`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pandas as pd

log = logging.getLogger(__name__)

URI_ENV = "ALLOYML_TRACKING_URI"
DEFAULT_URI = "sqlite:///mlflow.db"

#: Experiment tag MLflow 3 reads for the kind of an experiment, and its value for model training.
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"
#: Experiment tag holding the experiment's description (Markdown, shown above the runs table).
DESCRIPTION_TAG = "mlflow.note.content"
#: Share key of the stored runs-page view listing the current champions
#: (experiment tag ``mlflow.sharedViewState.<key>``, the format of the UI's "share view").
CHAMPIONS_VIEW = "champions"
SHARED_VIEW_PREFIX = "mlflow.sharedViewState."
#: Run tag marking the current champion of a (system, target): "true", "false" once superseded.
CURRENT_TAG = "current"
#: Headline metrics of a champion run (names as logged on it: ``<protocol>_<metric>``), in the
#: order of the champions table; a run shows those it has.
CHAMPION_METRICS: tuple[tuple[str, str], ...] = (
    ("grouped_r2", "R² grouped"),
    ("loso_r2", "R² LOSO"),
    ("family_r2", "R² family"),
    ("grouped_mae", "MAE grouped"),
    ("grouped_coverage", "coverage grouped"),
)
#: Headline key (:func:`alloyml.headline.target_headline`) -> metric of the champion run.
HEADLINE_TO_RUN_METRIC = {
    "grouped_r2": "grouped_r2",
    "loso_r2": "loso_r2",
    "family_r2": "family_r2",
    "mae": "grouped_mae",
    "coverage": "grouped_coverage",
}


ARTIFACT_DIR = "mlartifacts"

#: Columns of MLflow's SQL schema that hold artefact locations (those absent in a schema version
#: are skipped).
_LOCATION_COLUMNS: tuple[tuple[str, str], ...] = (
    ("experiments", "artifact_location"),
    ("runs", "artifact_uri"),
    ("logged_models", "artifact_location"),
    ("model_versions", "storage_location"),
    ("model_versions", "source"),
)


def tracking_uri() -> str:
    return os.environ.get(URI_ENV) or DEFAULT_URI


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` tracking URI (``None`` for other stores)."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri.removeprefix("sqlite:///"))


def relocate_artifacts(db: str | Path) -> int:
    """Point a SQLite MLflow store at the artefact folder beside it; return the rows rewritten.

    An experiment whose artefact location is ``file://<elsewhere>/mlartifacts`` (the store was
    copied or moved from ``<elsewhere>``) gets ``<db folder>/mlartifacts`` instead, and so does
    every run, logged model and model version under it; ``<elsewhere>/mlruns`` (MLflow's default
    experiment) becomes ``<db folder>/mlruns``. A store already in place is left untouched.
    """
    db = Path(db)
    if not db.is_file():
        return 0
    try:
        return _relocate(db)
    except sqlite3.Error as exc:  # a read-only or locked copy: runs still work, logged elsewhere
        log.warning("could not point MLflow store %s at its own artefact folder: %s", db, exc)
        return 0


def _relocate(db: Path) -> int:
    here = db.resolve().parent
    con = sqlite3.connect(db, timeout=30)
    try:
        tables = {
            t: {r[1] for r in con.execute(f"pragma table_info({t})")}
            for (t,) in con.execute("select name from sqlite_master where type = 'table'")
        }
        if "artifact_location" not in tables.get("experiments", set()):
            return 0
        moves: dict[str, str] = {}
        for (loc,) in con.execute("select artifact_location from experiments"):
            loc = (loc or "").rstrip("/")
            if not loc.startswith("file://") or not loc.endswith("/" + ARTIFACT_DIR):
                continue
            old_dir = Path(unquote(urlparse(loc).path)).parent
            if old_dir == here:
                continue
            moves[loc] = (here / ARTIFACT_DIR).as_uri()
            moves[(old_dir / "mlruns").as_uri()] = (here / "mlruns").as_uri()
            moves[str(old_dir / "mlruns")] = str(here / "mlruns")
        changed = 0
        with con:
            for old, new in moves.items():
                for table, col in _LOCATION_COLUMNS:
                    if col not in tables.get(table, set()):
                        continue
                    cur = con.execute(
                        f"update {table} set {col} = ? || substr({col}, ?) "
                        f"where {col} = ? or substr({col}, 1, ?) = ?",
                        (new, len(old) + 1, old, len(old) + 1, old + "/"),
                    )
                    changed += cur.rowcount
        if changed:
            log.info("MLflow store %s moved: %d artefact locations now under %s", db, changed, here)
        return changed
    finally:
        con.close()


def git(*args: str, cwd: str | Path | None = None) -> str | None:
    """Stripped output of ``git [-C cwd] <args>``; ``None`` without git or outside a repository.

    The one place the package shells out to git (run provenance of the stages and the report).
    """
    cmd = ["git", *(["-C", str(cwd)] if cwd is not None else []), *args]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def git_commit(cwd: str | Path | None = None, mark_dirty: bool = False) -> str:
    """HEAD commit of the repository at ``cwd`` (default: the current directory), ``"unknown"``
    outside one. With ``mark_dirty``, `` (with uncommitted changes)`` is appended when a tracked
    file differs from the commit."""
    commit = git("rev-parse", "HEAD", cwd=cwd)
    if not commit:
        return "unknown"
    if mark_dirty and git(
        "--no-optional-locks", "status", "--porcelain", "--untracked-files=no", cwd=cwd
    ):
        commit += " (with uncommitted changes)"
    return commit


def file_digest(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:16]


def champions_view_url(experiment_id: str, base_url: str = "") -> str:
    """Link to the runs page showing the current champions with their metric columns.

    ``workflowType=machine_learning`` opens MLflow 3.17+ in its model-training mode whatever the
    browser last chose (those versions pick the mode from the sidebar switch, not from the
    experiment tag); ``viewStateShareKey`` loads the stored :data:`CHAMPIONS_VIEW`.
    """
    return (
        f"{base_url}#/experiments/{experiment_id}/runs"
        f"?workflowType=machine_learning&viewStateShareKey={CHAMPIONS_VIEW}"
    )


def champions_view_state() -> dict[str, Any]:
    """The stored runs-page view: current champion runs with their headline metric columns."""
    columns = ["tags.`system`", "tags.`target`", "tags.`model`"]
    columns += [f"metrics.`{key}`" for key, _ in CHAMPION_METRICS]
    return {
        "searchFilter": f"tags.{CURRENT_TAG} = 'true'",
        # sorted by a metric, the runs page lists the nested champion runs flat, not under
        # their (collapsed) parents as it does when sorted by start time
        "orderByKey": f"metrics.`{CHAMPION_METRICS[0][0]}`",
        "orderByAsc": False,
        "selectedColumns": columns,
        "columnOrder": columns,  # which champion first, then its numbers
        # narrow enough for the whole row to fit beside the run name on a laptop screen (px)
        "columnWidths": {
            c: {"tags.`target`": 104}.get(c, 64 if c.startswith("tags") else 96) for c in columns
        },
    }


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.3g}"


def champions_description(experiment_id: str, champions: list[dict[str, Any]]) -> str:
    """Markdown description of the experiment: one row per current champion.

    ``champions``: dicts with ``system``, ``target``, ``model`` and ``metrics`` (run metrics by
    name). R² and coverage are fractions; MAE is in the target's units (MPa, %, HV).
    """
    present = [
        (k, label) for k, label in CHAMPION_METRICS if any(k in c["metrics"] for c in champions)
    ]
    lines = [
        f"[**Current champions and their metrics**]({champions_view_url(experiment_id)}): "
        "cross-validated R² grouped by composition and leave-one-source-out (LOSO), MAE in "
        "the target's units, coverage = observed fraction inside the interval.",
        "",
        "| system | target | model | " + " | ".join(label for _, label in present) + " |",
        "|---|---|---|" + "---|" * len(present),
    ]
    for c in sorted(champions, key=lambda c: (c["system"], c["target"])):
        cells = [_cell(c["metrics"].get(k)) for k, _ in present]
        lines.append(
            f"| {c['system']} | {c['target']} | {c['model']} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines) + "\n"


def _finite(metrics: dict[str, Any]) -> dict[str, float]:
    out = {}
    for k, v in metrics.items():
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if f == f and abs(f) != float("inf"):
            out[k] = f
    return out


class Tracker:
    """Thin façade over mlflow for alloyml's runs."""

    def __init__(self, mlflow_module: Any, experiment: str) -> None:
        self.mlflow = mlflow_module
        self.experiment = experiment

    @contextmanager
    def run(
        self, name: str, tags: dict[str, str] | None = None, nested: bool = False
    ) -> Iterator[Any]:
        with self.mlflow.start_run(run_name=name, nested=nested, tags=tags or {}) as r:
            yield r

    def log_params(self, params: dict[str, Any]) -> None:
        self.mlflow.log_params({k: str(v)[:500] for k, v in params.items()})

    def log_metrics(self, metrics: dict[str, Any], prefix: str = "") -> None:
        self.mlflow.log_metrics({f"{prefix}{k}": v for k, v in _finite(metrics).items()})

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        self.mlflow.log_artifact(str(path), artifact_path=artifact_path)

    def log_dataset(
        self, frame: pd.DataFrame, source: str, name: str, digest: str, context: str = "training"
    ) -> None:
        ds = self.mlflow.data.from_pandas(frame, source=source, name=name, digest=digest)
        self.mlflow.log_input(ds, context=context)

    def log_champion(self, system: str, target: str, headline: dict[str, float]) -> None:
        """Publish the active run as the current champion of (``system``, ``target``).

        Call inside the champion's run. ``headline``: :func:`alloyml.headline.target_headline`
        of the target. Tags the run ``current=true`` (older champions of the same system and
        target: ``false``), logs ``<target>/<key>`` for each headline number on the parent run
        (the row a scientist sees unexpanded), and rewrites the experiment's description and
        champions view from the current champions.
        """
        mlflow = self.mlflow
        run = mlflow.active_run()
        if run is None:
            raise RuntimeError("log_champion needs the champion's run to be active")
        client = mlflow.MlflowClient()
        exp_id = run.info.experiment_id
        older = client.search_runs(
            [exp_id],
            filter_string=(
                f"tags.{CURRENT_TAG} = 'true' and tags.system = '{system}' "
                f"and tags.target = '{target}'"
            ),
        )
        for r in older:
            if r.info.run_id != run.info.run_id:
                client.set_tag(r.info.run_id, CURRENT_TAG, "false")
        mlflow.set_tag(CURRENT_TAG, "true")
        parent = client.get_run(run.info.run_id).data.tags.get("mlflow.parentRunId")
        if parent:
            from mlflow.entities import Metric

            stamp = int(run.info.start_time or 0)
            metrics = [Metric(f"{target}/{k}", v, stamp, 0) for k, v in _finite(headline).items()]
            client.log_batch(parent, metrics=metrics)
        current = client.search_runs([exp_id], filter_string=f"tags.{CURRENT_TAG} = 'true'")
        champions = [
            {
                "system": r.data.tags.get("system", "?"),
                "target": r.data.tags.get("target", "?"),
                "model": r.data.tags.get("model", "?"),
                "metrics": dict(r.data.metrics),
            }
            for r in current
        ]
        client.set_experiment_tag(exp_id, DESCRIPTION_TAG, champions_description(exp_id, champions))
        client.set_experiment_tag(
            exp_id, SHARED_VIEW_PREFIX + CHAMPIONS_VIEW, json.dumps(champions_view_state())
        )

    def log_bundle_model(
        self,
        bundle_dir: str | Path,
        example: pd.DataFrame,
        registered_name: str,
        pip_requirements: list[str],
    ) -> str | None:
        """Log the bundle as a pyfunc model from code, register it, set alias ``champion``."""
        from mlflow.models import infer_signature

        from alloyml.modeling.bundle import load_bundle

        b = load_bundle(bundle_dir)
        out = b.predict(example[b.features].to_numpy(dtype=float))
        out_df = pd.DataFrame({k: out[k] for k in ("pred", "lo", "hi", "in_domain")})
        signature = infer_signature(example[b.features], out_df)
        code = Path(__file__).with_name("mlflow_model.py")
        info = self.mlflow.pyfunc.log_model(
            name="model",
            python_model=str(code),
            artifacts={"bundle": str(Path(bundle_dir).resolve())},
            signature=signature,
            input_example=example[b.features].head(3),
            pip_requirements=pip_requirements,
            registered_model_name=registered_name,
        )
        version = getattr(info, "registered_model_version", None)
        if version is not None:
            self.mlflow.MlflowClient().set_registered_model_alias(
                registered_name, "champion", str(version)
            )
        return None if version is None else str(version)


@contextmanager
def open_tracker(experiment: str, uri: str | None = None) -> Iterator[Tracker]:
    """Configure mlflow for ``experiment`` and yield a :class:`Tracker`.

    With a SQLite store, artefacts go to ``mlartifacts/`` next to the database, also when the
    project was copied from elsewhere (see :func:`relocate_artifacts`).
    """
    import mlflow

    uri = uri or tracking_uri()
    db = sqlite_path(uri)
    if db is not None:
        relocate_artifacts(db)
        uri = f"sqlite:///{db.resolve()}"  # absolute: MLflow caches stores by URI, not by cwd
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    exp = mlflow.get_experiment_by_name(experiment)
    if exp is None:
        location = None
        if db is not None:
            location = (db.resolve().parent / ARTIFACT_DIR).as_uri()
        mlflow.create_experiment(
            experiment,
            artifact_location=location,
            tags={EXPERIMENT_KIND_TAG: MODEL_TRAINING},
        )
    elif exp.tags.get(EXPERIMENT_KIND_TAG) != MODEL_TRAINING:  # created before the tag existed
        mlflow.MlflowClient().set_experiment_tag(
            exp.experiment_id, EXPERIMENT_KIND_TAG, MODEL_TRAINING
        )
    mlflow.set_experiment(experiment)
    try:
        yield Tracker(mlflow, experiment)
    finally:
        if mlflow.active_run() is not None:
            mlflow.end_run()
