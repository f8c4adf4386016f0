"""Presets are frozen: names, dates, groups and the exact label lists never change."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest

from alloyml.errors import ConfigError
from alloyml.features import PRESETS, Preset, feature_labels, get_preset
from alloyml.features.presets import GROUPS
from alloyml.schema import ELEMENTS, ROUTES, TEMPER_CLASSES

#: sha256 prefixes of the newline-joined labels, frozen when each preset was released.
FROZEN = {
    "alloy_v1": (255, "7049f3876ac00878"),
    "alloy_continuous_v1": (164, "a1526033278b3284"),
    "composition_v1": (186, "6e1032311a0fe5ee"),
    "magpie_v1": (132, "8fdff659a0533249"),
    "alloy_v2": (308, "44b659cdfc048077"),
}


@pytest.mark.parametrize("name", sorted(FROZEN))
def test_released_label_lists_are_frozen(name: str) -> None:
    labels = feature_labels(name)
    digest = hashlib.sha256("\n".join(labels).encode()).hexdigest()[:16]
    assert (len(labels), digest) == FROZEN[name], (
        f"preset {name!r} changed its features: register a new preset instead of editing it"
    )
    assert len(set(labels)) == len(labels)


def test_every_registered_preset_is_frozen_here() -> None:
    assert set(PRESETS) == set(FROZEN)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_are_dated_and_use_known_groups(name: str) -> None:
    p = PRESETS[name]
    assert p.name == name
    assert dt.date.fromisoformat(p.date) <= dt.date.today()
    assert p.groups and set(p.groups) <= set(GROUPS)


def test_alloy_v1_matches_todays_schema() -> None:
    # If the schema grows, alloy_v1 must not: add alloy_v2 and update this test.
    p = get_preset("alloy_v1")
    assert p.elements == ELEMENTS
    assert p.routes == ROUTES
    assert p.tempers == TEMPER_CLASSES


def test_continuous_preset_equals_continuous_option() -> None:
    assert feature_labels("alloy_continuous_v1") == feature_labels("alloy_v1", True)
    assert not any(
        "mode" in lab or "li_phase" in lab for lab in feature_labels("alloy_continuous_v1")
    )


def test_unknown_preset_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="alloy_v1"):
        get_preset("alloy_v0")


def test_preset_rejects_unknown_group() -> None:
    with pytest.raises(ConfigError, match="magpie_v9"):
        Preset("x", "2026-01-01", ("magpie_v9",), ("Al",), (), (), "test")
