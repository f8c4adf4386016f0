"""dvc.yaml spells every output path literally; alloyml.paths is where the code takes them from.

The two must agree stage by stage, or a reader (report, notebooks, CLI) would look where no
stage writes.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from alloyml.paths import ProjectPaths

REPO = Path(__file__).resolve().parents[1]
DVC = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())
P = ProjectPaths()


def _declared(stage: str, key: str, item: str) -> set[str]:
    """Every out, metric and plot of ``stage@key`` with ``${key}``/``${item}`` substituted."""
    do = DVC[stage].get("do", DVC[stage])
    out: set[str] = set()
    for section in ("outs", "metrics", "plots"):
        for entry in do.get(section, []):
            path = next(iter(entry)) if isinstance(entry, dict) else entry
            out.add(path.replace("${key}", key).replace("${item}", item))
    return out


@pytest.mark.parametrize("system", PARAMS["base"]["systems"])
def test_clean_featurize_train_paths(system):
    assert {str(P.processed(system)), str(P.rejects(system)), str(P.data_card(system)),
            str(P.data_card(system, ".md")), str(P.data_card(system, "_coverage.png")),
            str(P.data_card(system, "_properties.png")),
            str(P.headline("clean", system))} == _declared("clean", system, system)  # fmt: skip
    assert {str(P.features(system))} == _declared("featurize", system, system)
    assert {str(P.models(system)), str(P.metrics(system)), str(P.train_plots(system)),
            str(P.headline("train", system))} == _declared("train", system, system)  # fmt: skip


@pytest.mark.parametrize("campaign", list(PARAMS["search"]["campaigns"]))
def test_search_paths(campaign):
    assert {str(P.candidates(campaign)), str(P.search_metrics(campaign)),
            str(P.headline("search", campaign))} == _declared("search", campaign, "")  # fmt: skip


@pytest.mark.parametrize("dataset", list(PARAMS["backtest"]["datasets"]))
def test_backtest_paths(dataset):
    assert {str(P.backtest(dataset)), str(P.backtest(dataset, ".png")),
            str(P.headline("backtest", dataset))} == _declared("backtest", dataset, "")  # fmt: skip


def test_paper_protocols_path():
    assert {str(P.paper_protocols())} == _declared("paper_protocols", "", "")


def test_rooted_paths_are_under_the_root(tmp_path):
    rooted = ProjectPaths(tmp_path)
    assert rooted.metrics("al") == tmp_path / "reports" / "metrics" / "al.json"
    assert rooted.models("al", "ys_mpa") == tmp_path / "models" / "al" / "ys_mpa"
