"""``alloyml.config``: every section of the real files validates; typos and wrong types are
refused with the file and the full key path; one default interval level everywhere."""

from __future__ import annotations

import copy

import pydantic
import pytest
import yaml
from typer.testing import CliRunner

from alloyml import config
from alloyml.errors import ConfigError
from alloyml.params import load_yaml

SECTIONS = {
    "base": config.BaseParams,
    "ingest": config.IngestParams,
    "clean": config.CleanParams,
    "featurize": config.FeaturizeParams,
    "train": config.TrainParams,
    "backtest": config.BacktestParams,
    "search": config.SearchParams,
}


@pytest.fixture(scope="module")
def doc(repo):
    return load_yaml(repo / "params.yaml")


def test_every_section_of_params_yaml_is_modelled_and_valid(doc):
    assert set(doc) == set(SECTIONS)
    for name, model in SECTIONS.items():
        assert isinstance(config.section(doc, name, model), model)


def test_sources_yaml_validates(repo):
    parsed = config.parse_sources_file(load_yaml(repo / "data" / "sources.yaml"))
    assert len(parsed.sources) >= 7 and all(
        len(f.sha256) == 64 for s in parsed.sources for f in s.files
    )


@pytest.mark.parametrize(
    ("section", "path", "value", "fragment"),
    [
        ("train", "domain.min_suport", 5, "params.yaml: train.domain: unknown key(s) ['min_suport']"),
        ("train", "domain.min_support", "5", "params.yaml: train.domain.min_support: must be an integer"),
        ("train", "alpha", 1.5, "params.yaml: train.alpha:"),
        ("train", "normalised_intervals", "yes", "train.normalised_intervals: must be a boolean"),
        ("backtest", "product.alpha", 0.9, "params.yaml: backtest.product.alpha:"),
        ("backtest", "datasets.jiang_uts.sources", "jiang_7xxx", "backtest.datasets.jiang_uts.sources"),
        ("search", "campaigns.al_uhs.process.temper.T6.age1.t_h", [0, 4], "temper.T6.age1: t_h must be > 0"),
        ("search", "campaigns.mgli_light.known_limits", [{"quantity": "uts_mpa"}],
         "search.campaigns.mgli_light.known_limits[0].max: required key 'max' is missing"),
        ("clean", "replicate_spread_flag.colour", 1.0, "clean.replicate_spread_flag.colour: unknown target"),
    ],
)  # fmt: skip
def test_bad_values_name_the_file_and_the_key(doc, section, path, value, fragment):
    bad = copy.deepcopy(doc)
    node = bad[section]
    *parents, last = path.split(".")
    for p in parents:
        node = node[p]
    node[last] = value
    with pytest.raises(ConfigError) as exc:
        config.section(bad, section, SECTIONS[section])
    assert fragment in str(exc.value)


def test_models_are_frozen(doc):
    train = config.section(doc, "train", config.TrainParams)
    with pytest.raises(pydantic.ValidationError):
        train.alpha = 0.2  # type: ignore[misc]


def test_one_default_interval_level():
    from alloyml.evaluation.backtest import BacktestConfig
    from alloyml.modeling.train import TrainConfig
    from alloyml.modeling.uncertainty import ConformalInterval

    defaults = {
        "train section": config.TrainParams.model_fields["alpha"].default,
        "backtest product": config.BacktestProduct().alpha,
        "BacktestConfig": BacktestConfig().product.alpha,
        "TrainConfig": TrainConfig().alpha,
        "ConformalInterval": ConformalInterval().alpha,
    }
    assert set(defaults.values()) == {config.DEFAULT_ALPHA}, defaults


def test_a_campaign_keeps_its_validated_entry(doc):
    from alloyml.search.campaign import get_campaign

    c = get_campaign(doc, "al_uhs")
    assert isinstance(c.spec, config.CampaignSpec)
    assert c.spec.composition.elements["Zn"] == (c.elements[0].lo, c.elements[0].hi) == (5.0, 11.0)
    assert "spec" not in c.problem_dict()


def test_cli_reports_a_bad_params_file_without_traceback(repo, tmp_path):
    from alloyml.cli import app

    doc = yaml.safe_load((repo / "params.yaml").read_text(encoding="utf-8"))
    doc["search"]["campaigns"]["al_uhs"]["batch_size"] = "eight"
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(doc), encoding="utf-8")
    result = CliRunner().invoke(
        app, ["search", "al_uhs", "--params", str(params), "--no-track"], env={"COLUMNS": "200"}
    )
    assert result.exit_code == 1, result.output
    assert "search.campaigns.al_uhs.batch_size" in result.output
    assert "Traceback" not in result.output
