"""``params.yaml``: the real file loads and agrees with ``data/sources.yaml``; bad values fail."""

from __future__ import annotations

import copy

import pytest

from alloyml.errors import ConfigError
from alloyml.params import (
    BaseParams,
    CleanParams,
    IngestParams,
    base_params,
    clean_params,
    ingest_params,
    load_yaml,
    train_params,
)
from alloyml.schema import TARGETS
from alloyml.sources import load_sources


@pytest.fixture(scope="module")
def doc(repo):
    return load_yaml(repo / "params.yaml")


def test_real_params_load(doc):
    b = base_params(doc)
    assert isinstance(b, BaseParams)
    assert isinstance(b.seed, int)
    assert set(b.systems) == {"al", "mg"}
    i = ingest_params(doc)
    assert isinstance(i, IngestParams)
    assert i.sources_file == "data/sources.yaml"
    assert i.sources
    c = clean_params(doc)
    assert isinstance(c, CleanParams)
    assert 0 < c.sum_flag_wt <= c.sum_tolerance_wt
    assert set(c.plausible) == {"al", "mg"}
    for ranges in c.plausible.values():
        assert set(ranges) <= set(TARGETS)
        assert all(lo < hi for lo, hi in ranges.values())
    assert set(c.basis_uncertain_sources) <= set(i.sources)


def test_ingest_sources_match_registry(doc, repo):
    """dvc.yaml iterates over ingest.sources: it must list exactly the declared sources."""
    ingest = ingest_params(doc)
    registry = load_sources(repo / ingest.sources_file)
    assert sorted(ingest.sources) == sorted(registry)
    for sid, system in ingest.sources.items():
        assert registry[sid].system == system, sid


def test_every_system_has_sources(doc):
    systems = set(ingest_params(doc).sources.values())
    assert systems == set(base_params(doc).systems)


def _set(path: str, value):
    def mutate(d):
        *parents, last = path.split(".")
        for p in parents:
            d = d[p]
        d[last] = value

    return mutate


def _delete(path: str):
    def mutate(d):
        *parents, last = path.split(".")
        for p in parents:
            d = d[p]
        del d[last]

    return mutate


INVALID = {
    # case: (mutation, loader, message fragment)
    "missing_base": (_delete("base"), base_params, "missing section 'base'"),
    "missing_ingest": (_delete("ingest"), ingest_params, "missing section 'ingest'"),
    "missing_clean": (_delete("clean"), clean_params, "missing section 'clean'"),
    "base_not_mapping": (_set("base", [1, 2]), base_params, "missing section 'base'"),
    "missing_seed": (_delete("base.seed"), base_params, "base.seed"),
    "seed_not_int": (_set("base.seed", "42"), base_params, "base.seed"),
    "seed_bool": (_set("base.seed", True), base_params, "base.seed"),
    "bad_base_system": (_set("base.systems", ["al", "ti"]), base_params, "'ti'"),
    "systems_not_list": (_set("base.systems", "al"), base_params, "base.systems"),
    "bad_ingest_system": (
        _set("ingest.sources.anu_al_1154", "steel"),
        ingest_params,
        "anu_al_1154",
    ),
    "missing_sources_file": (_delete("ingest.sources_file"), ingest_params, "ingest.sources_file"),
    "sources_not_mapping": (
        _set("ingest.sources", ["anu_al_1154"]),
        ingest_params,
        "ingest.sources",
    ),
    "plausible_reversed": (_set("clean.plausible.al.ys_mpa", [900.0, 5.0]), clean_params, "ys_mpa"),
    "plausible_equal": (
        _set("clean.plausible.mg.uts_mpa", [100.0, 100.0]),
        clean_params,
        "uts_mpa",
    ),
    "plausible_one_bound": (_set("clean.plausible.al.elong_pct", [0.0]), clean_params, "elong_pct"),
    "plausible_not_target": (_set("clean.plausible.al.colour", [0.0, 1.0]), clean_params, "colour"),
    "plausible_bad_system": (
        _set("clean.plausible.ti", {"ys_mpa": [1.0, 2.0]}),
        clean_params,
        "'ti'",
    ),
    "sum_flag_gt_tolerance": (_set("clean.sum_flag_wt", 1.0), clean_params, "sum_flag_wt"),
    "sum_tolerance_zero": (_set("clean.sum_tolerance_wt", 0.0), clean_params, "sum_tolerance_wt"),
    "selection_unknown_protocol": (
        _set("train.selection", ["grouped", "loso"]),
        train_params,
        "train.selection",
    ),
    "selection_empty": (_set("train.selection", []), train_params, "train.selection"),
    "decimals_too_many": (
        _set("clean.composition_decimals", 9),
        clean_params,
        "composition_decimals",
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_params(doc, case):
    mutate, loader, fragment = INVALID[case]
    bad = copy.deepcopy(doc)
    mutate(bad)
    with pytest.raises(ConfigError, match="params.yaml") as exc:
        loader(bad)
    assert fragment in str(exc.value)


def test_invalid_mutations_leave_other_sections_valid(doc):
    """A sanity check on the cases above: each breaks only its own section."""
    bad = copy.deepcopy(doc)
    _set("clean.sum_flag_wt", 1.0)(bad)
    assert base_params(bad) == base_params(doc)
    assert ingest_params(bad) == ingest_params(doc)


def test_sum_flag_equal_to_tolerance_is_allowed(doc):
    ok = copy.deepcopy(doc)
    ok["clean"]["sum_flag_wt"] = ok["clean"]["sum_tolerance_wt"]
    assert clean_params(ok).sum_flag_wt == ok["clean"]["sum_tolerance_wt"]


def test_clean_defaults_when_optional_keys_absent():
    c = clean_params({"clean": {}})
    assert c == CleanParams(replicate_spread_flag={}, plausible={})


@pytest.mark.parametrize(
    ("text", "match"),
    [("base: [unclosed\n", "not valid YAML"), ("- a\n- b\n", "mapping of sections")],
    ids=["not_yaml", "top_level_list"],
)
def test_load_yaml_errors(tmp_path, text, match):
    p = tmp_path / "params.yaml"
    p.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=match):
        load_yaml(p)


def test_load_yaml_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_yaml(tmp_path / "params.yaml")


def test_load_yaml_empty_file_is_empty_mapping_and_sections_missing(tmp_path):
    p = tmp_path / "params.yaml"
    p.write_text("", encoding="utf-8")
    assert load_yaml(p) == {}
    with pytest.raises(ConfigError, match="missing section 'base'"):
        base_params(load_yaml(p))


def test_train_tuning_models_must_be_screened(doc):
    from alloyml.params import train_params

    _, cfg = train_params(doc)
    assert cfg.tuning_models and set(cfg.tuning_models) <= set(cfg.models)
    bad = copy.deepcopy(doc)
    bad["train"]["models"] = ["mean", "ridge", "et", "xgb"]
    bad["train"]["tuning"]["models"] = ["xgb", "gbr"]  # gbr is a known model, but not screened
    with pytest.raises(ConfigError, match=r"train: tuning\.models has \[.gbr.\]"):
        train_params(bad)
