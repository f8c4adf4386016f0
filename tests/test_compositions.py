"""Alloy strings, wt % <-> at %, and densities against handbook values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alloyml.compositions import (
    at_to_wt,
    atomic_mass,
    composition_frame,
    density_rule_of_mixtures,
    format_alloy,
    parse_alloy,
    solid_density,
    wt_to_at,
)
from alloyml.errors import CompositionError
from alloyml.schema import ELEMENTS

AA7075 = "Al-5.6Zn-2.5Mg-1.6Cu-0.23Cr"
LA141 = "Mg-14Li-1.25Al"

# --------------------------------------------------------------------------------------------
# parse_alloy / format_alloy
# --------------------------------------------------------------------------------------------


def test_parse_aa7075():
    comp = parse_alloy(AA7075)
    assert comp == pytest.approx({"Zn": 5.6, "Mg": 2.5, "Cu": 1.6, "Cr": 0.23, "Al": 90.07})
    assert comp["Al"] == pytest.approx(90.07, abs=1e-9)
    assert sum(comp.values()) == pytest.approx(100.0)


def test_parse_mg_li():
    assert parse_alloy("Mg-14Li-1Al") == {"Li": 14.0, "Al": 1.0, "Mg": 85.0}


@pytest.mark.parametrize(
    ("text", "balance", "expected"),
    [
        ("5.6Zn-2.5Mg", "Al", {"Zn": 5.6, "Mg": 2.5, "Al": 91.9}),
        ("Al 5.6Zn 2.5Mg", None, {"Zn": 5.6, "Mg": 2.5, "Al": 91.9}),
        ("Al-.5Sc", None, {"Sc": 0.5, "Al": 99.5}),
        ("Al", None, {"Al": 100.0}),
        ("Mg-9Li-1Zn", "Mg", {"Li": 9.0, "Zn": 1.0, "Mg": 90.0}),
    ],
)
def test_parse_alloy_forms(text, balance, expected):
    assert parse_alloy(text, balance=balance) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("Al-5Xx", "unknown element symbol 'Xx'"),
        ("Al-5Zn-3Zn", "Zn given twice"),
        ("Al-60Zn-50Mg", "sum to 110"),
        ("5.6Zn-2.5Mg", "no balance element"),
        ("", "empty"),
        ("   ", "empty"),
        ("Al-Mg-5Zn", "two balance elements"),
        ("Al-5Al", "balance element Al also given"),
        ("Al-5zn", "cannot read '5zn'"),
        ("Al-5%Zn", "cannot read"),
        # a doubled or dangling separator is a typo (or a minus sign), never a silent +2 Mg
        ("Al-5Zn--2Mg", "empty part"),
        ("Al-5Zn- -2Mg", "empty part"),
        ("-Al-5Zn", "empty part"),
        ("Al-5Zn-", "empty part"),
        ("Al-5Zn−2Mg", "cannot read"),  # a Unicode minus sign
    ],
)
def test_parse_alloy_errors(text, match):
    with pytest.raises(CompositionError, match=match):
        parse_alloy(text)


def test_composition_error_is_value_error():
    with pytest.raises(ValueError):
        parse_alloy("Al-5Xx")


@pytest.mark.parametrize("text", [AA7075, "Mg-14Li-1Al", "Al-6Zn-4Mg", "Mg-8Li-3Al-1Zn-0.5Y"])
def test_format_alloy_inverts_parse_alloy(text):
    balance = text.split("-")[0]
    assert format_alloy(parse_alloy(text), balance) == text


def test_format_alloy_example():
    assert format_alloy({"Al": 90, "Zn": 6, "Mg": 4}, "Al") == "Al-6Zn-4Mg"
    assert format_alloy({"Al": 95, "Zn": 5, "Cu": 0.0}, "Al") == "Al-5Zn"


_ALLOYING = ["Zn", "Mg", "Cu", "Li", "Zr", "Cr", "Sc", "Mn"]


@given(
    st.dictionaries(
        st.sampled_from(_ALLOYING),
        st.integers(min_value=1, max_value=2000).map(lambda n: n / 100),  # 0.01 .. 20 wt%
        min_size=1,
        max_size=4,
    )
)
def test_parse_alloy_inverts_format_alloy(alloying):
    comp = {**alloying, "Al": 100.0 - sum(alloying.values())}
    back = parse_alloy(format_alloy(comp, "Al"))
    assert back.keys() == comp.keys()
    for sym, wt in comp.items():
        assert back[sym] == pytest.approx(wt, abs=1e-9)


# --------------------------------------------------------------------------------------------
# wt % <-> at %
# --------------------------------------------------------------------------------------------

SYMBOLS = ["Al", "Zn", "Mg", "Cu", "Li"]


@settings(max_examples=60)
@given(
    st.lists(
        st.lists(
            st.floats(min_value=1e-3, max_value=100.0), min_size=len(SYMBOLS), max_size=len(SYMBOLS)
        ),
        min_size=1,
        max_size=5,
    )
)
def test_wt_at_wt_round_trip(rows):
    wt = np.array(rows)
    wt = 100.0 * wt / wt.sum(axis=1, keepdims=True)
    at = wt_to_at(wt, SYMBOLS)
    np.testing.assert_allclose(at.sum(axis=1), 1.0, atol=1e-12)
    assert (at > 0).all()
    back = at_to_wt(at, SYMBOLS)
    np.testing.assert_allclose(back, wt, rtol=0, atol=1e-9)


def test_wt_to_at_hand_value():
    # Mg-14Li (wt%): x_Li = (14/6.94) / (14/6.94 + 86/24.305)
    at = wt_to_at(np.array([[86.0, 14.0]]), ["Mg", "Li"])
    n_li, n_mg = 14.0 / atomic_mass("Li"), 86.0 / atomic_mass("Mg")
    assert at[0, 1] == pytest.approx(n_li / (n_li + n_mg), rel=1e-12)
    assert at[0, 1] == pytest.approx(0.363, abs=0.002)  # Mg-14Li is ~36 at% Li


def test_wt_to_at_nan_counts_as_zero():
    at = wt_to_at(np.array([[90.0, np.nan, 10.0]]), ["Al", "Zn", "Mg"])
    assert at[0, 1] == 0.0
    assert at.sum() == pytest.approx(1.0)


@pytest.mark.parametrize("convert", [wt_to_at, at_to_wt], ids=["wt_to_at", "at_to_wt"])
@pytest.mark.parametrize(
    ("row", "match"),
    [
        ([0.0, 0.0, 0.0], "all-zero"),
        ([np.nan, np.nan, np.nan], "all-zero"),
        ([101.0, -1.0, 0.0], "negative"),
    ],
    ids=["zeros", "nans", "negative"],
)
def test_conversion_rejects_bad_rows(convert, row, match):
    arr = np.array([[90.0, 6.0, 4.0], row])
    with pytest.raises(CompositionError, match=match):
        convert(arr, ["Al", "Zn", "Mg"])


def test_wt_to_at_error_names_the_row():
    arr = np.array([[90.0, 6.0, 4.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    with pytest.raises(CompositionError, match="row 2"):
        wt_to_at(arr, ["Al", "Zn", "Mg"])


def test_unknown_symbol_in_conversion():
    with pytest.raises(CompositionError, match="'Xx'"):
        wt_to_at(np.array([[100.0]]), ["Xx"])


# --------------------------------------------------------------------------------------------
# densities (golden values)
# --------------------------------------------------------------------------------------------


def _density(text: str) -> float:
    comp = parse_alloy(text)
    syms = list(comp)
    return float(density_rule_of_mixtures(np.array([[comp[s] for s in syms]]), syms)[0])


@pytest.mark.parametrize(
    ("text", "reference", "rel"),
    [
        (AA7075, 2.81, 0.015),  # ASM Handbook Vol. 2 (1990), 7075
        (LA141, 1.35, 0.025),  # LA141, docs/ANCHORS.md
        ("Al", 2.70, 0.005),  # pure Al
        ("Mg", 1.74, 0.005),  # pure Mg
    ],
)
def test_density_golden_values(text, reference, rel):
    assert _density(text) == pytest.approx(reference, rel=rel)


def test_density_is_lower_with_lithium():
    assert _density("Mg-14Li-1Al") < _density("Mg-8Li-1Al") < _density("Mg-1Al")


def test_density_all_zero_row_is_nan():
    rho = density_rule_of_mixtures(np.array([[0.0, 0.0], [50.0, 50.0]]), ["Al", "Mg"])
    assert np.isnan(rho[0])
    assert 1.74 < rho[1] < 2.70


def test_density_renormalises_rows():
    a = density_rule_of_mixtures(np.array([[90.0, 10.0]]), ["Al", "Zn"])
    b = density_rule_of_mixtures(np.array([[0.9, 0.1]]), ["Al", "Zn"])
    assert a[0] == pytest.approx(b[0], rel=1e-12)


def test_element_data_from_pymatgen():
    assert atomic_mass("Li") == pytest.approx(6.94, abs=0.01)
    assert solid_density("Al") == pytest.approx(2.70, abs=0.01)
    with pytest.raises(CompositionError, match="'Qq'"):
        solid_density("Qq")


# --------------------------------------------------------------------------------------------
# composition_frame
# --------------------------------------------------------------------------------------------


def test_composition_frame_layout():
    df = composition_frame([parse_alloy(AA7075), parse_alloy("Mg-14Li-1Al")])
    assert list(df.columns) == list(ELEMENTS)
    assert df.loc[0, "Al"] == pytest.approx(90.07)
    assert df.loc[1, "Li"] == 14.0
    assert df.loc[0, "Li"] == 0.0


@pytest.mark.parametrize(("sym", "match"), [("Hf", "not among"), ("Xx", "unknown element")])
def test_composition_frame_rejects_unmodelled(sym, match):
    with pytest.raises(CompositionError, match=match):
        composition_frame([{"Al": 99.0, sym: 1.0}])
