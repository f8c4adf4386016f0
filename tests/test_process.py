"""Temper classes (ANSI H35.1) and processing routes."""

from __future__ import annotations

import pytest

from alloyml.process import normalise_route, temper_class
from alloyml.schema import ROUTES, TEMPER_CLASSES

TEMPERS = [
    ("T6", "T6"),
    ("T651", "T6"),
    ("T6511", "T6"),
    ("T73", "T7"),
    ("T7351", "T7"),
    ("T74", "T7"),
    ("T76", "T7"),
    ("T8", "T8"),
    ("T851", "T8"),
    ("T4", "T4"),
    ("T3", "T3"),
    ("T5", "T5"),
    ("H18", "H"),
    ("H112", "H"),
    ("H32", "H"),
    ("O", "O"),
    ("F", "F"),
    ("W", "W"),
    ("W51", "W"),
    ("RRA", "RRA"),
    ("T6 + RRA", "RRA"),
    ("rra", "RRA"),
    ("retrogression and re-ageing", "RRA"),
    ("t651", "T6"),
    ("h18", "H"),
    ("o", "O"),
    ("  T7351 ", "T7"),
    ("\ufeffT651", "T6"),
    ("\ufeffO", "O"),
    ("", None),
    ("   ", None),
    (None, None),
    ("X", None),
    ("T0", None),
    ("Other", None),
    ("OA", None),
    ("as-cast", None),
]


@pytest.mark.parametrize(("temper", "expected"), TEMPERS, ids=[repr(t) for t, _ in TEMPERS])
def test_temper_class(temper, expected):
    assert temper_class(temper) == expected


def test_temper_classes_are_in_the_schema_vocabulary():
    got = {temper_class(t) for t, _ in TEMPERS} - {None}
    assert got <= set(TEMPER_CLASSES)


def test_temper_t10_is_not_t1():
    """ANSI H35.1 defines T10 (cooled from shaping, cold worked, artificially aged): its class is
    not T1 (cooled from shaping, naturally aged). 'T10' must not be read as 'T1' + suffix '0'."""
    assert temper_class("T10") != "T1"


ROUTE_CASES = [
    ("cast", "cast"),
    ("as-cast", "cast"),
    ("As Cast", "cast"),
    ("sand cast", "cast_sand"),
    ("HPDC", "cast_die"),
    ("die cast", "cast_die"),
    ("LPDC", "cast_perm_mould"),
    ("permanent mold", "cast_perm_mould"),
    ("cast_perm_mould", "cast_perm_mould"),
    ("cast perm mould", "cast_perm_mould"),
    ("Extruded", "extruded"),
    ("extrusion", "extruded"),
    (" rolled ", "rolled"),
    ("sheet", "rolled"),
    ("Forging", "forged"),
    ("ECAE", "ecap"),
    ("additive", "am"),
    ("wrought", "wrought"),
    ("", None),
    ("  ", None),
    (None, None),
]


@pytest.mark.parametrize(("route", "expected"), ROUTE_CASES, ids=[repr(r) for r, _ in ROUTE_CASES])
def test_normalise_route(route, expected):
    assert normalise_route(route) == expected


@pytest.mark.parametrize("route", ROUTES)
def test_every_canonical_route_maps_to_itself(route):
    assert normalise_route(route) == route
    assert normalise_route(route.upper()) == route


@pytest.mark.parametrize("route", ["teleported", "cast iron", "rolled and extruded", "T6"])
def test_unknown_route_raises(route):
    with pytest.raises(ValueError, match="unknown route") as exc:
        normalise_route(route)
    assert repr(route) in str(exc.value)
    assert "extruded" in str(exc.value)  # lists the known routes
