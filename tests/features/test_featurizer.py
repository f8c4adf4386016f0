"""The one code path: frame and matrix inputs, subsets, single rows, bad input, metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alloyml.compositions import wt_to_at
from alloyml.errors import AlloyMLError, CompositionError, SchemaError
from alloyml.features import (
    Featurizer,
    Preset,
    citations,
    feature_labels,
    feature_table,
    featurize,
    get_preset,
)

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def tiny() -> pd.DataFrame:
    return pd.read_csv(DATA / "processed_al_tiny.csv")


def test_featurize_frame_equals_matrix_path(tiny: pd.DataFrame, alloy_fz: Featurizer) -> None:
    out = featurize(tiny)
    assert list(out.columns) == feature_labels("alloy_v1") == list(alloy_fz.labels)
    assert out.index.equals(tiny.index)
    assert np.isfinite(out.to_numpy()).all()
    wt = tiny.reindex(columns=alloy_fz.elements).to_numpy(dtype=float)
    X = alloy_fz.transform(wt, alloy_fz.encode_process(tiny))
    np.testing.assert_array_equal(out.to_numpy(), X)
    assert out.loc[1, "proc_rra"] == 1 and out.loc[0, "proc_rra"] == 0
    assert out.loc[3, "proc_route_extruded"] == 1 and out.loc[4, "proc_temper_O"] == 1
    assert out.loc[4, "proc_n_age_stages"] == 0


def test_single_row_equals_batch_row(tiny: pd.DataFrame, alloy_fz: Featurizer) -> None:
    wt = tiny.reindex(columns=alloy_fz.elements).to_numpy(dtype=float)
    proc = alloy_fz.encode_process(tiny)
    batch = alloy_fz.transform(wt, proc)
    for i in range(len(tiny)):
        # equal to rounding: BLAS sums over the elements present in the row vs in the batch
        np.testing.assert_allclose(
            alloy_fz.transform(wt[i], proc[i]), batch[i : i + 1], rtol=1e-13, atol=1e-13
        )


def test_element_subset_gives_the_same_features(tiny: pd.DataFrame, alloy_fz: Featurizer) -> None:
    els = ("Al", "Zn", "Mg", "Cu", "Cr", "Mn", "Zr", "Si", "Fe")
    sub = Featurizer("alloy_v1", elements=els)
    proc = alloy_fz.encode_process(tiny)
    full = alloy_fz.transform(tiny.reindex(columns=alloy_fz.elements).to_numpy(float), proc)
    part = sub.transform(tiny[list(els)].to_numpy(float), proc)
    np.testing.assert_allclose(part, full, rtol=1e-12, atol=1e-12)


def test_wt_pct_group_is_normalised(comp_fz: Featurizer, wt_rows) -> None:
    X = comp_fz.transform(wt_rows(comp_fz, [{"Al": 45.0, "Zn": 3.0, "Mg": 2.0}]))
    wt = X[:, [comp_fz.labels.index(f"wt_pct_{e}") for e in comp_fz.preset.elements]]
    assert wt.sum() == pytest.approx(100.0)
    assert X[0, comp_fz.labels.index("wt_pct_Zn")] == pytest.approx(6.0)


@pytest.mark.parametrize(
    ("comp", "message"),
    [
        ({"Al": 0.0, "Zn": 0.0}, "row 'bad': all element amounts are zero"),
        ({"Al": np.nan, "Zn": np.nan}, "row 'bad': every element amount is NaN"),
        ({"Al": 95.0, "Zn": -1.0}, r"row 'bad': invalid amount -1.0 wt% of Zn"),
        ({"Al": np.inf, "Zn": 1.0}, "row 'bad': invalid amount inf wt% of Al"),
    ],
)
def test_bad_composition_names_the_row(comp: dict[str, float], message: str) -> None:
    good = {"row_uid": "ok", "Al": 95.0, "Zn": 5.0}
    frame = pd.DataFrame([good, {"row_uid": "bad", **comp}])
    with pytest.raises(CompositionError, match=message):
        featurize(frame, preset="composition_v1")


def test_matrix_errors_name_the_position(comp_fz: Featurizer) -> None:
    wt = np.zeros((3, len(comp_fz.elements)))
    wt[0, 0] = wt[1, 1] = 1.0
    with pytest.raises(CompositionError, match="row 2: all element amounts are zero"):
        comp_fz.transform(wt)
    with pytest.raises(CompositionError, match="shape"):
        comp_fz.transform(np.ones((2, 3)))


def test_unknown_or_foreign_elements_are_named() -> None:
    with pytest.raises(CompositionError, match="'Xx'"):
        Featurizer("alloy_v1", elements=("Al", "Xx"))
    with pytest.raises(CompositionError, match="Nb"):
        Featurizer("alloy_v1", elements=("Al", "Nb"))  # real element, not in the preset
    frame = pd.DataFrame({"Al": [95.0], "Zn": [4.0], "Nb": [1.0]})
    with pytest.raises(CompositionError, match="Nb"):
        featurize(frame, preset="composition_v1")
    # an all-zero foreign column carries no composition and is accepted
    zero_nb = featurize(frame.assign(Nb=0.0), preset="composition_v1")
    assert np.isfinite(zero_nb.to_numpy()).all()
    with pytest.raises(CompositionError, match="no element columns"):
        featurize(pd.DataFrame({"route": ["cast"]}), preset="composition_v1")


def test_element_without_table_value_fails_at_compile_time() -> None:
    p = get_preset("alloy_v1")
    custom = Preset("x_test", "2026-11-28", p.groups, ("Al", "Fr"), p.routes, p.tempers, "test")
    with pytest.raises(CompositionError, match="Fr"):
        Featurizer(custom)


def test_process_matrix_is_required_and_validated(tiny: pd.DataFrame, alloy_fz) -> None:
    wt = tiny.reindex(columns=alloy_fz.elements).to_numpy(dtype=float)
    with pytest.raises(AlloyMLError, match="process matrix"):
        alloy_fz.transform(wt)
    bad = tiny.copy()
    bad.loc[2, "temper_class"] = "T651"  # raw temper, not a class
    with pytest.raises(SchemaError, match=r"row 'fx:2', column 'temper_class'.*'T651'"):
        featurize(bad)
    bad = tiny.copy()
    bad.loc[3, "age1_t_h"] = -6.0
    with pytest.raises(SchemaError, match=r"row 'fx:3', column 'age1_t_h'"):
        featurize(bad)


def test_missing_process_columns_mean_unknown(caplog: pytest.LogCaptureFixture) -> None:
    frame = pd.DataFrame({"Al": [94.0], "Mg": [6.0]})
    with caplog.at_level("WARNING", logger="alloyml.features"):
        out = featurize(frame)
    assert "treated as unknown" in caplog.text
    assert out.loc[0, "proc_route_unknown"] == 1 and out.loc[0, "proc_n_age_stages"] == 0


def test_rows_not_summing_to_100_are_normalised_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    frame = pd.DataFrame(
        {"row_uid": ["a", "b"], "Al": [90.0, 0.0], "Zn": [10.0, 6.0], "Mg": [0.0, 4.0]}
    )
    with caplog.at_level("WARNING", logger="alloyml.features"):
        out = featurize(frame, preset="composition_v1")
    assert "1 of 2 rows" in caplog.text and "row 'b'" in caplog.text
    assert out.loc[1, "wt_pct_Zn"] == pytest.approx(60.0)


def test_feature_table_and_citations_cover_every_label() -> None:
    table = feature_table("alloy_v1")
    assert table["label"].tolist() == feature_labels("alloy_v1")
    assert (table["unit"].str.len() > 0).all() and (table["citation"].str.len() > 0).all()
    cites = citations()
    assert list(cites) == feature_labels("alloy_v1")
    assert "Takeuchi" in cites["dH_mix_kJ_mol"] and "Zhang" in cites["delta_size_pct"]
    assert "Ward" in cites["MagpieData mean MeltingT"]
    assert "Hollomon" in cites["proc_age1_hj_K"]
    assert set(table.loc[~table["continuous"], "group"]) == {"magpie_v1", "physics_v1"}


def test_continuous_features_do_not_jump_when_a_trace_element_appears() -> None:
    cont = Featurizer("composition_v1", continuous_only=True, elements=("Al", "Zn", "Mg", "Sc"))
    full = Featurizer("composition_v1", elements=("Al", "Zn", "Mg", "Sc"))
    rows = np.array([[90.0, 6.0, 4.0, 0.0], [90.0, 6.0, 4.0, 1e-4]])  # 6e-7 at. fraction Sc
    c, f = cont.transform(rows), full.transform(rows)
    np.testing.assert_allclose(c[1], c[0], rtol=1e-4, atol=1e-3)
    jump = np.abs(f[1] - f[0]).max()
    assert jump > 1.0  # e.g. MagpieData maximum MeltingT jumps to Sc's


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.floats(0.0, 100.0), min_size=8, max_size=8).filter(lambda v: sum(v) > 1e-6),
)
def test_fractions_sum_to_one_and_features_finite(amounts: list[float]) -> None:
    els = ("Al", "Mg", "Zn", "Cu", "Li", "Sc", "Zr", "Nd")
    fz = Featurizer("composition_v1", elements=els)
    x = fz.atomic_fractions([amounts])
    assert x.sum() == pytest.approx(1.0, rel=1e-12)
    np.testing.assert_allclose(x, wt_to_at(np.array([amounts]), els), rtol=1e-12, atol=1e-15)
    assert np.isfinite(fz.transform([amounts])).all()
