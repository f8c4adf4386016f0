"""Campaign parsing: the repository's params.yaml campaigns and invalid definitions."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from alloyml.errors import ConfigError
from alloyml.params import load_yaml
from alloyml.search.campaign import parse_campaign, search_campaigns

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


@pytest.fixture(scope="module")
def repo_params() -> dict:
    """The repository's own params.yaml: its campaigns are the ones `dvc repro` runs."""
    return load_yaml(REPO / "params.yaml")


def test_repository_campaigns(repo_params):
    cs = search_campaigns(repo_params)
    assert {"al_uhs", "mgli_light"} <= set(cs)
    al = cs["al_uhs"]
    assert al.system == "al" and al.balance == "Al"
    assert set(al.symbols) == {"Zn", "Mg", "Cu", "Zr", "Mn", "Cr", "Ti", "Fe", "Si", "Sc", "Ag"}
    assert [e.symbol for e in al.elements if e.required] == ["Zn", "Mg", "Cu"]
    assert al.constraints[0].name == "elong_pct_lo_ge_8" and al.constraints[0].on == "lo"
    assert al.objectives[0].acquisition == "ucb" and al.encoding == "flat"
    assert {s.name for s in al.process.tempers["RRA"]} == {"age1", "age2", "age3"}
    assert [s.optional for s in al.process.stages] == [False, True]
    mg = cs["mgli_light"]
    assert mg.balance == "Mg" and mg.targets() == ["uts_mpa", "elong_pct"]
    assert [c.name for c in mg.constraints] == ["density_g_cm3_pred_le_1.5", "elong_pct_lo_ge_10"]
    assert mg.known_limits[0].value == 300 and mg.known_limits[0].when == {"Li": (5.7, 100.0)}
    assert cs["mgli_pareto"].encoding == "conditional" and len(cs["mgli_pareto"].directions) == 2
    assert cs["al_strength_ductility"].directions == ["maximize", "maximize"]


def test_study_digest_covers_the_problem_not_the_budget(repo_params):
    sec = repo_params["search"]["campaigns"]["al_uhs"]
    base = parse_campaign("al_uhs", sec)
    more = parse_campaign("al_uhs", sec | {"n_trials": 99, "batch_size": 3, "min_distance": 1.0})
    other = parse_campaign("al_uhs", sec | {"constraints": [{"quantity": "elong_pct", "min": 9}]})
    assert base.study_name(42, "m") == more.study_name(42, "m")
    assert base.study_name(42, "m") != other.study_name(42, "m")
    assert base.study_name(42, "m") != base.study_name(43, "m")
    assert base.study_name(42, "m") != base.study_name(42, "other-models")
    assert base.study_name(42, "m").startswith("al_uhs-")


def test_repository_params_search_section():
    doc = load_yaml(REPO / "params.yaml")
    cs = search_campaigns(doc)
    assert cs and all(c.system in doc["base"]["systems"] for c in cs.values())
    without = {k: v for k, v in doc.items() if k != "search"}
    with pytest.raises(ConfigError, match="search.campaigns"):
        search_campaigns(without)


def _minimal(**over) -> dict:
    sec = {
        "system": "al",
        "composition": {"elements": {"Zn": [4.0, 8.0], "Mg": [0.0, 3.0]}},
        "objectives": [{"quantity": "uts_mpa"}],
    }
    return sec | over


BAD = [
    ({"system": "ti"}, "system"),
    ({"composition": {"elements": {"Xx": [0, 1]}}}, "unknown element"),
    ({"composition": {"elements": {"Al": [0, 1]}}}, "balance element"),
    ({"composition": {"elements": {"Zn": [5, 4]}}}, "low <= high"),
    ({"composition": {"elements": {"Zn": [8, 9], "Mg": [3, 4]}, "total_solute_wt": [1, 10]}},
     "lower bounds sum"),
    ({"composition": {"elements": {"Zn": [1, 2], "Mg": [1, 2]}, "max_elements": 1}},
     "max_elements"),
    ({"process": {"route": ["teleported"]}}, "unknown route"),
    ({"process": {"temper": {"T99": {}}}}, "unknown temper"),
    ({"process": {"stages": {"age1": {"T_C": [100, 120], "t_h": [1, 2]}}}}, "under `temper`"),
    ({"process": {"stages": {"sol1": {"T_C": [450, 480], "t_h": [1, 2], "optional": True},
                             "sol2": {"T_C": [450, 480], "t_h": [1, 2]}}}}, "follows an optional"),
    ({"process": {"stages": {"sol2": {"T_C": [450, 480], "t_h": [1, 2]}}}}, "sol stages must be"),
    ({"process": {"route": ["rolled"], "numeric": {"extrusion_ratio": {"range": [5, 9],
                                                                          "routes": ["extruded"]}}}},
     "not among the campaign's routes"),
    ({"objectives": [{"quantity": "beauty"}]}, "unknown quantity"),
    ({"objectives": [{"quantity": "uts_mpa", "acquisition": "pi"}]}, "acquisition"),
    ({"constraints": [{"quantity": "elong_pct", "min": 8, "max": 9}]}, "exactly one of"),
    ({"constraints": [{"quantity": "elong_pct", "min": 8, True: "lo"}]}, "judged_on"),
    ({"domain": {"mode": "yolo"}}, "mode"),
    ({"sampler": {"name": "cmaes"}}, "sampler"),
    ({"n_trials": 0}, "n_trials"),
    ({"colour": "red"}, "unknown key"),
]  # fmt: skip


@pytest.mark.parametrize(("over", "fragment"), BAD)
def test_invalid_campaigns_are_refused(over, fragment):
    with pytest.raises(ConfigError, match=fragment):
        parse_campaign("bad", _minimal(**over))


def test_yaml_on_key_is_explained():
    sec = yaml.safe_load("constraints: [{quantity: elong_pct, min: 8, on: lo}]")
    with pytest.raises(ConfigError, match="judged_on"):
        parse_campaign("bad", _minimal(**sec))


def test_unknown_campaign_lists_the_known_ones(repo_params):
    from alloyml.search.campaign import get_campaign

    with pytest.raises(ConfigError, match="al_uhs"):
        get_campaign(repo_params, "al_uhz")
