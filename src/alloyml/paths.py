"""Where every stage writes and what the readers read: one home for the project's paths.

The pipelines (their option defaults), the command line, the workspace the report and notebooks
read, and the rounds all take their paths from :class:`ProjectPaths`. ``dvc.yaml`` spells the
same paths literally (DVC needs them there); ``tests/test_paths.py`` checks that the two agree,
stage by stage.

>>> p = ProjectPaths()
>>> str(p.metrics("al")), str(p.candidates("al_uhs")), str(p.models("mg", "uts_mpa"))
('reports/metrics/al.json', 'reports/candidates/al_uhs', 'models/mg/uts_mpa')
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

#: Top-level folders of a project (relative to its root).
MODELS = "models"
PROCESSED = "data/processed"
FEATURES = "data/features"
INTERIM = "data/interim"
ROUNDS = "data/rounds"
REPORTS = "reports"


@dataclass(frozen=True)
class ProjectPaths:
    """Paths of one project; relative when ``root`` is ``.`` (the default), else under ``root``."""

    root: Path = Path(".")

    def _at(self, *parts: str) -> Path:
        return self.root.joinpath(*parts) if self.root != Path(".") else Path(*parts)

    # -- data ----------------------------------------------------------------------------------
    def interim(self, system: str) -> Path:
        return self._at(INTERIM, system)

    def processed(self, system: str) -> Path:
        return self._at(PROCESSED, f"{system}.parquet")

    def rejects(self, system: str) -> Path:
        return self._at(PROCESSED, f"{system}.rejects.csv")

    def features(self, system: str) -> Path:
        return self._at(FEATURES, f"{system}.parquet")

    def rounds(self) -> Path:
        return self._at(ROUNDS)

    # -- models --------------------------------------------------------------------------------
    def models(self, system: str | None = None, target: str | None = None) -> Path:
        parts = [MODELS] + ([system] if system else []) + ([target] if target else [])
        return self._at(*parts)

    # -- reports -------------------------------------------------------------------------------
    def reports(self, *parts: str) -> Path:
        return self._at(REPORTS, *parts)

    def data_card(self, system: str, suffix: str = ".json") -> Path:
        """``reports/data/<system>.json`` (or ``.md``, ``_coverage.png``, ``_properties.png``)."""
        return self.reports("data", f"{system}{suffix}")

    def metrics(self, system: str) -> Path:
        return self.reports("metrics", f"{system}.json")

    def train_plots(self, system: str) -> Path:
        return self.reports("plots", system)

    def backtest(self, dataset: str, suffix: str = ".json") -> Path:
        return self.reports("backtest", f"{dataset}{suffix}")

    def paper_protocols(self) -> Path:
        return self.reports("benchmarks", "anchors.json")

    def candidates(self, campaign: str, name: str | None = None) -> Path:
        base = self.reports("candidates", campaign)
        return base / name if name else base

    def search_metrics(self, campaign: str) -> Path:
        return self.reports("metrics", f"search_{campaign}.json")

    def headline(self, stage: str, key: str) -> Path:
        """``reports/headline/<stage>_<key>.json``: the DVC metrics of stage ``stage@key``."""
        return self.reports("headline", f"{stage}_{key}.json")

    def report_html(self) -> Path:
        return self.reports("report.html")
