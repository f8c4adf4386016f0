"""Magpie statistics: equal to matminer's ElementProperty on real and synthetic compositions."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alloyml.features import Featurizer
from alloyml.features.composition import (
    MAGPIE_PROPERTIES,
    MAGPIE_STATS,
    magpie_labels,
    magpie_stats,
)


@pytest.fixture(scope="module")
def magpie_fz() -> Featurizer:
    return Featurizer("magpie_v1")


@pytest.fixture(scope="module")
def matminer_magpie():
    from matminer.featurizers.composition import ElementProperty

    return ElementProperty.from_preset("magpie")


def _matminer(ep, fz: Featurizer, wt: np.ndarray) -> np.ndarray:
    """matminer features of wt % rows; Composition built from the same wt %, same element order."""
    from pymatgen.core import Composition

    rows = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for row in wt:
            comp = Composition.from_weight_dict(
                {e: w for e, w in zip(fz.elements, row, strict=True) if w > 0}
            )
            rows.append(ep.featurize(comp))
    return np.array(rows, dtype=float)


def _real_compositions(mirror, fz: Featurizer, n_per_source: int = 200) -> np.ndarray:
    """Distinct real compositions (wt %) from two shared datasets, in ``fz.elements`` order."""
    anu = pd.read_csv(mirror / "al" / "anu_al_1154" / "al_data.csv")
    anu_els = [c for c in anu.columns if c in fz.elements]
    anu_wt = anu[anu_els] * 100.0  # mass fractions -> wt %
    m916 = pd.read_csv(mirror / "mg" / "ghorbani_m916" / "m916_wt.csv", encoding="utf-8-sig")
    mg_els = [c for c in m916.columns if c in fz.elements]
    parts = []
    for frame in (anu_wt, m916[mg_els].astype(float)):
        uniq = frame.fillna(0.0).drop_duplicates()
        uniq = uniq[(uniq > 0).any(axis=1)]
        parts.append(uniq.head(n_per_source).reindex(columns=fz.elements, fill_value=0.0))
    return pd.concat(parts).to_numpy(dtype=float)


def test_labels_are_matminers(matminer_magpie, magpie_fz: Featurizer) -> None:
    assert list(magpie_fz.labels) == matminer_magpie.feature_labels()
    assert len(magpie_fz.labels) == 132 == len(MAGPIE_PROPERTIES) * len(MAGPIE_STATS)


@pytest.mark.realdata
def test_equals_matminer_on_real_compositions(mirror, matminer_magpie, magpie_fz) -> None:
    wt = _real_compositions(mirror, magpie_fz)
    assert len(wt) >= 300
    ours = magpie_fz.transform(wt)
    ref = _matminer(matminer_magpie, magpie_fz, wt)
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=0)


def test_equals_matminer_on_ties_traces_and_many_elements(
    matminer_magpie, magpie_fz: Featurizer, at_rows, wt_rows
) -> None:
    at = at_rows(
        magpie_fz,
        [
            {"Al": 0.5, "Ni": 0.5},  # mode tie -> smaller property
            {"Al": 0.2, "Co": 0.2, "Cr": 0.2, "Fe": 0.2, "Ni": 0.2},  # 5-way tie
            {"Co": 0.25, "Cr": 0.25, "Fe": 0.25, "Ni": 0.25},
        ],
    )
    wt = wt_rows(
        magpie_fz,
        [
            {"Al": 90.0, "Zn": 6.0, "Mg": 2.5, "Cu": 1.5, "Zr": 1e-9},  # trace below 1e-8 at.
            {"Mg": 100.0},  # single element
            # 12 elements: numpy's pairwise summation order
            {"Al": 80, "Zn": 6, "Mg": 3, "Cu": 2, "Cr": 0.2, "Mn": 0.5, "Zr": 0.1, "Ti": 0.05,
             "Si": 0.3, "Fe": 0.4, "Sc": 0.2, "Ag": 0.3},
        ],
    )  # fmt: skip
    both = np.vstack([at, wt])
    ours = magpie_fz.transform(both)
    ref = _matminer(matminer_magpie, magpie_fz, both)
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=0)
    number_mode = ours[0, magpie_fz.labels.index("MagpieData mode Number")]
    assert number_mode == 13.0  # Al (13) and Ni (28) tie: matminer returns the smaller


def test_trace_element_below_tolerance_is_absent(magpie_fz: Featurizer, wt_rows) -> None:
    base = {"Al": 94.0, "Mg": 6.0}
    X = magpie_fz.transform(wt_rows(magpie_fz, [base, base | {"Zr": 1e-9}, base | {"Zr": 1e-3}]))
    i = magpie_fz.labels.index("MagpieData maximum Number")
    assert X[0, i] == X[1, i] == 13.0  # Zr at ~3e-12 atomic fraction is dropped
    assert X[2, i] == 40.0  # 1e-3 wt% Zr takes part


def test_continuous_only_is_the_mean_and_avg_dev_subset(magpie_fz: Featurizer, wt_rows) -> None:
    wt = wt_rows(
        magpie_fz, [{"Al": 90, "Zn": 6, "Mg": 2.5, "Cu": 1.5}, {"Mg": 85, "Li": 14, "Al": 1}]
    )
    cont = Featurizer("magpie_v1", continuous_only=True)
    full, part = magpie_fz.transform(wt), cont.transform(wt)
    assert list(cont.labels) == magpie_labels(continuous_only=True)
    assert len(cont.labels) == 44
    idx = [magpie_fz.labels.index(lab) for lab in cont.labels]
    np.testing.assert_array_equal(part, full[:, idx])


def test_blocking_does_not_change_values(magpie_fz: Featurizer) -> None:
    rng = np.random.default_rng(3)
    x = rng.dirichlet(np.ones(12), size=300) * (rng.random((300, 12)) > 0.3)
    x[:, 0] += 1e-3
    x /= x.sum(axis=1, keepdims=True)
    table = np.arange(12 * 22, dtype=float).reshape(12, 22) % 17
    np.testing.assert_array_equal(magpie_stats(x, table, chunk=7), magpie_stats(x, table))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(0.0, 50.0), min_size=6, max_size=6).filter(lambda v: sum(v) > 1e-3),
)
def test_statistics_are_ordered_and_finite(amounts: list[float]) -> None:
    fz = Featurizer("magpie_v1", elements=("Al", "Zn", "Mg", "Cu", "Li", "Zr"))
    X = fz.transform([amounts])
    assert np.isfinite(X).all()
    k = len(MAGPIE_STATS)
    stats = X.reshape(len(MAGPIE_PROPERTIES), k)
    lo, hi, rng_, mean, dev, mode = (stats[:, j] for j in range(k))
    tol = 1e-9 * np.maximum(1.0, np.abs(hi))
    assert (lo <= mean + tol).all() and (mean <= hi + tol).all()
    assert (lo <= mode).all() and (mode <= hi).all()
    assert (dev >= 0).all() and (dev <= rng_ + tol).all()
    np.testing.assert_allclose(rng_, hi - lo)
