"""Read what a pipeline run left behind: processed data, rejects, metrics, backtests, candidates.

The notebooks and ``alloyml report`` hold no pipeline logic; they read a project directory
through :class:`Workspace`. The layout is the one ``dvc.yaml`` writes:

* ``data/processed/<system>.parquet`` and ``<system>.rejects.csv`` (clean stage);
* ``reports/data/<system>.json`` (data card: accounting and coverage);
* ``reports/metrics/<system>.json`` (train: champion, metrics per protocol, calibration);
* ``reports/plots/<system>/*.png`` (train plots);
* ``reports/backtest/<dataset>.json`` and ``.png`` (discovery backtest);
* ``reports/candidates/<campaign>/`` (search: candidates.csv, pareto.csv, summary.json, PNGs);
* ``data/rounds/<campaign>/round-N/`` (lab rounds: ``alloyml round propose`` / ``record``);
* ``mlflow.db`` or ``$ALLOYML_TRACKING_URI`` (MLflow runs of every stage that logs).

:meth:`Workspace.find` takes ``$ALLOYML_WORKSPACE`` when set (the tests point it at a quick
real-data run), otherwise the nearest directory above the current one that holds ``dvc.yaml``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from alloyml.errors import AlloyMLError
from alloyml.params import load_yaml
from alloyml.paths import ProjectPaths

if TYPE_CHECKING:
    from alloyml.rounds import Rounds
    from alloyml.rounds.status import Status

WORKSPACE_ENV = "ALLOYML_WORKSPACE"

#: What the report and notebook 03 say when no campaign has a lab round yet.
NO_ROUNDS = (
    "no lab rounds yet (data/rounds/<campaign>/round-N): "
    "`alloyml round propose <campaign>` starts one"
)


class WorkspaceError(AlloyMLError):
    """A pipeline output the caller asked for is not there (the stage has not run)."""


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def find(cls, start: str | Path | None = None) -> Workspace:
        env = os.environ.get(WORKSPACE_ENV)
        if env:
            root = Path(env)
            if not (root / "dvc.yaml").is_file():
                raise WorkspaceError(f"${WORKSPACE_ENV}={env} holds no dvc.yaml")
            return cls(root.resolve())
        here = Path(start or Path.cwd()).resolve()
        for d in (here, *here.parents):
            if (d / "dvc.yaml").is_file() and (d / "params.yaml").is_file():
                return cls(d)
        raise WorkspaceError(
            f"no alloyml project (dvc.yaml + params.yaml) in {here} or above; "
            f"run from the project or set ${WORKSPACE_ENV}"
        )

    @classmethod
    def at(cls, root: str | Path) -> Workspace:
        """The project at ``root`` exactly (an explicit ``--project`` wins over the environment)."""
        root = Path(root)
        if not (root / "dvc.yaml").is_file():
            raise WorkspaceError(f"{root} is not an alloyml project (no dvc.yaml)")
        return cls(root.resolve())

    # -- paths ---------------------------------------------------------------------------------
    @property
    def paths(self) -> ProjectPaths:
        """The project's output paths (:mod:`alloyml.paths`) under this root."""
        return ProjectPaths(self.root)

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    def _need(self, p: Path, stage: str) -> Path:
        if not p.exists():
            rel = p.relative_to(self.root) if p.is_relative_to(self.root) else p
            raise WorkspaceError(f"{rel} is missing: run `dvc repro {stage}` first")
        return p

    def _json(self, p: Path, stage: str) -> dict[str, Any]:
        return json.loads(self._need(p, stage).read_text(encoding="utf-8"))

    # -- params --------------------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        return load_yaml(self.path("params.yaml"))

    @property
    def systems(self) -> list[str]:
        return list(self.params()["base"]["systems"])

    # -- data ----------------------------------------------------------------------------------
    def processed(self, system: str) -> pd.DataFrame:
        p = self.paths.processed(system)
        return pd.read_parquet(self._need(p, f"clean@{system}"))

    def rejects(self, system: str) -> pd.DataFrame:
        p = self.paths.rejects(system)
        return pd.read_csv(self._need(p, f"clean@{system}"))

    def datacard(self, system: str) -> dict[str, Any]:
        return self._json(self.paths.data_card(system), f"clean@{system}")

    def accounting(self, system: str) -> pd.DataFrame:
        """One row per source: rows in, kept, merged, rejected (and the reasons)."""
        card = self.datacard(system)
        rows = []
        for sid, s in card["sources"].items():
            reasons = s.get("rejected_by_reason") or {}
            rows.append({"source_id": sid} | {k: v for k, v in s.items() if k != "rejected_by_reason"}
                        | {"reject_reasons": ", ".join(f"{k} {v}" for k, v in reasons.items())})  # fmt: skip
        return pd.DataFrame(rows)

    # -- models --------------------------------------------------------------------------------
    def metrics(self, system: str) -> dict[str, Any]:
        return self._json(self.paths.metrics(system), f"train@{system}")

    def model_meta(self, system: str, target: str) -> dict[str, Any]:
        """Metadata of the trained model of ``target`` (``models/<system>/<target>/meta.json``)."""
        from alloyml.modeling.bundle import read_meta

        p = self._need(self.paths.models(system, target), f"train@{system}")
        try:
            return read_meta(p)
        except AlloyMLError as e:
            raise WorkspaceError(str(e)) from e

    def calibration_table(self, system: str) -> pd.DataFrame:
        """Nominal vs observed interval coverage (grouped CV) per target."""
        rows = []
        for target, m in self.metrics(system).items():
            for nominal, observed in m.get("calibration_curve", []):
                rows.append({"target": target, "nominal": nominal, "observed": observed})
        return pd.DataFrame(rows)

    # -- backtest ------------------------------------------------------------------------------
    def backtests(self) -> dict[str, dict[str, Any]]:
        d = self.paths.reports("backtest")
        return {p.stem: json.loads(p.read_text()) for p in sorted(d.glob("*.json"))}

    def anchors(self) -> list[dict[str, Any]]:
        """Published-result comparisons (optional ``anchors`` stage)."""
        doc = self._json(self.paths.paper_protocols(), "anchors")
        return list(doc) if isinstance(doc, list) else []

    # -- search --------------------------------------------------------------------------------
    def campaigns(self) -> list[str]:
        """Campaigns that have candidates, in params order (then any others found)."""
        d = self.paths.reports("candidates")
        found = {p.parent.name for p in d.glob("*/candidates.csv")} if d.is_dir() else set()
        order = list(self.params().get("search", {}).get("campaigns", {}))
        return [c for c in order if c in found] + sorted(found - set(order))

    def candidates(self, campaign: str) -> pd.DataFrame:
        p = self.paths.candidates(campaign, "candidates.csv")
        return pd.read_csv(self._need(p, f"search@{campaign}"))

    def pareto(self, campaign: str) -> pd.DataFrame:
        p = self.paths.candidates(campaign, "pareto.csv")
        return pd.read_csv(self._need(p, f"search@{campaign}"))

    def search_summary(self, campaign: str) -> dict[str, Any]:
        p = self.paths.candidates(campaign, "summary.json")
        return self._json(p, f"search@{campaign}")

    def campaign_file(self, campaign: str, name: str) -> Path:
        """A file the search wrote for ``campaign`` (e.g. ``pareto.png``, ``history.png``)."""
        return self._need(self.paths.candidates(campaign, name), f"search@{campaign}")

    def candidates_markdown(self, campaign: str) -> str:
        p = self.paths.candidates(campaign, "candidates.md")
        return self._need(p, f"search@{campaign}").read_text(encoding="utf-8")

    # -- lab rounds ----------------------------------------------------------------------------
    def round_campaigns(self) -> list[str]:
        """Campaigns with at least one lab round, in params order (then any others found)."""
        from alloyml.rounds import Rounds

        d = self.paths.rounds()
        found = (
            {p.name for p in d.iterdir() if p.is_dir() and Rounds(d, p.name).numbers()}
            if d.is_dir()
            else set()
        )
        order = list((self.params().get("search") or {}).get("campaigns") or {})
        return [c for c in order if c in found] + sorted(found - set(order))

    def rounds(self, campaign: str) -> Rounds:
        """The rounds folder of ``campaign`` (``data/rounds/<campaign>``)."""
        from alloyml.rounds import Rounds

        return Rounds(self.paths.rounds(), campaign)

    def round_status(self, campaign: str) -> Status:
        """What ``alloyml round status <campaign>`` prints, as tables
        (:func:`alloyml.rounds.status.round_status`; best values judged by the campaign's first
        objective as ``params.yaml`` declares it, like the command)."""
        from alloyml.rounds.status import round_status
        from alloyml.search.campaign import get_campaign

        rounds = self.rounds(campaign)
        if not rounds.numbers():
            raise WorkspaceError(
                f"no lab round of {campaign!r} in {rounds.folder.relative_to(self.root)}: "
                f"run `alloyml round propose {campaign}` first"
            )
        try:
            camp = get_campaign(self.params(), campaign)
        except AlloyMLError as e:
            raise WorkspaceError(f"rounds of {campaign!r}: {e}") from e
        try:
            return round_status(camp, rounds)
        except (KeyError, TypeError, ValueError, OSError) as e:
            raise WorkspaceError(
                f"rounds of {campaign!r} in {rounds.folder.relative_to(self.root)} cannot be "
                f"read ({type(e).__name__}: {e}); check round.json and measured.csv"
            ) from e

    # -- tracking ------------------------------------------------------------------------------
    @property
    def tracking_uri(self) -> str:
        """``$ALLOYML_TRACKING_URI``, else the project's ``mlflow.db`` (as the stages use it)."""
        return os.environ.get("ALLOYML_TRACKING_URI") or f"sqlite:///{self.path('mlflow.db')}"

    def _open_store(self) -> str:
        """The tracking URI, with a copied project's SQLite store pointed at its own artefacts."""
        from alloyml.modeling.tracking import relocate_artifacts, sqlite_path

        uri = self.tracking_uri
        db = sqlite_path(uri)
        if db is not None:
            relocate_artifacts(db)
        return uri

    def runs(self, experiment: str = "alloyml-train") -> pd.DataFrame:
        """MLflow runs of one experiment as a table (params, metrics, tags columns).

        The columns of ``mlflow.search_runs(output_format="pandas")``, read through a client of
        this workspace's store: MLflow's process-wide tracking URI is left as it was.
        """
        import mlflow

        uri = self._open_store()
        client = mlflow.MlflowClient(tracking_uri=uri)
        exp = client.get_experiment_by_name(experiment)
        if exp is None:
            raise WorkspaceError(f"no MLflow experiment {experiment!r} at {uri}")
        runs, token = [], None
        while True:
            page = client.search_runs([exp.experiment_id], max_results=1000, page_token=token)
            runs.extend(page)
            token = page.token
            if not token:
                break
        return _runs_frame(runs)

    def train_runs(self) -> pd.DataFrame:
        """The latest training run per (system, target, model) as a tidy table.

        Columns: system, target, model, role (``champion`` or ``candidate``), run_id, and the
        metrics: ``r2``/``mae``/... of a candidate family under grouped CV, and
        ``<protocol>_<metric>`` of a champion. Earlier repetitions of the same run (an older
        ``dvc repro``) are dropped, so the table describes the models on disk.
        """
        runs = self.runs("alloyml-train").sort_values("start_time", ascending=False)
        names = runs.set_index("run_id")["tags.mlflow.runName"]
        parent = runs.get("tags.mlflow.parentRunId", pd.Series(index=runs.index, dtype=object))
        child = runs[parent.notna()].copy()
        child["system"] = parent[child.index].map(names).str.removeprefix("train-")
        parts = child["tags.mlflow.runName"].str.split("/")
        child["target"] = parts.str[0]
        child["role"] = (
            child["tags.role"].fillna("candidate") if "tags.role" in child else "candidate"
        )
        child["model"] = child["params.model"]
        metrics = [c for c in child.columns if c.startswith("metrics.")]
        out = child[["system", "target", "model", "role", "run_id", "start_time", *metrics]]
        out = out.rename(columns={c: c.removeprefix("metrics.") for c in metrics})
        out = out.drop_duplicates(["system", "target", "model", "role"], keep="first")
        return out.dropna(axis=1, how="all").reset_index(drop=True)

    def run_artifact(self, run_id: str, path: str) -> Path:
        """Download one artefact of an MLflow run (e.g. ``plots/uts_mpa_parity.png``)."""
        import mlflow

        return Path(mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path=path, tracking_uri=self._open_store()))  # fmt: skip


_RUN_INFO = ("run_id", "experiment_id", "status", "artifact_uri", "start_time", "end_time")


def _runs_frame(runs: list[Any]) -> pd.DataFrame:
    """MLflow runs as one row each: run info, then ``metrics.*``, ``params.*``, ``tags.*``."""
    rows = []
    for run in runs:
        info = run.info
        row: dict[str, Any] = {
            "run_id": info.run_id,
            "experiment_id": info.experiment_id,
            "status": info.status,
            "artifact_uri": info.artifact_uri,
            "start_time": pd.to_datetime(info.start_time, unit="ms", utc=True),
            "end_time": pd.to_datetime(info.end_time, unit="ms", utc=True),
        }
        row |= {f"metrics.{k}": v for k, v in run.data.metrics.items()}
        row |= {f"params.{k}": v for k, v in run.data.params.items()}
        row |= {f"tags.{k}": v for k, v in run.data.tags.items()}
        rows.append(row)
    frame = pd.DataFrame(rows)
    rest = sorted(c for c in frame.columns if c not in _RUN_INFO)
    return frame.reindex(columns=[*_RUN_INFO, *rest])
