"""Elemental tables: read from matminer's data files, complete for alloyml's elements, no imputation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from alloyml.errors import AlloyMLError, CompositionError
from alloyml.features import elemental
from alloyml.features.composition import MAGPIE_PROPERTIES
from alloyml.schema import ELEMENTS


def test_every_schema_element_has_every_value_alloy_v1_uses() -> None:
    table = elemental.magpie_table((*MAGPIE_PROPERTIES, "MiracleRadius"), ELEMENTS)
    assert table.shape == (len(ELEMENTS), len(MAGPIE_PROPERTIES) + 1)
    assert np.isfinite(table).all()
    dh = elemental.miedema_mixing_matrix(ELEMENTS)
    assert np.isfinite(dh).all() and np.allclose(dh, dh.T) and (np.diag(dh) == 0).all()
    assert np.isfinite(elemental.miedema_parameter("valence_electrons", ELEMENTS)).all()
    assert np.isfinite(elemental.pauling_electronegativity(ELEMENTS)).all()


def test_magpie_parse_equals_matminer_magpiedata() -> None:
    from matminer.utils.data import MagpieData

    ref = MagpieData(impute_nan=False).all_elemental_props
    props = (*MAGPIE_PROPERTIES, "MiracleRadius")
    ours = elemental.magpie_table(props, ELEMENTS)
    expected = np.array([[ref[p][e] for p in props] for e in ELEMENTS])
    np.testing.assert_array_equal(ours, expected)


def test_miedema_pairs_equal_matminer_and_takeuchi_inoue_values() -> None:
    from matminer.utils.data import MixingEnthalpy
    from pymatgen.core.periodic_table import Element

    ref = MixingEnthalpy(impute_nan=False)
    dh = elemental.miedema_mixing_matrix(ELEMENTS)
    for (i, a), (j, b) in itertools.combinations(enumerate(ELEMENTS), 2):
        assert dh[i, j] == ref.get_mixing_enthalpy(Element(a), Element(b))
    # Takeuchi & Inoue, Mater. Trans. 46 (2005) 2817, Table: Al-Ni -22, Co-Cr -4, Fe-Ni -2, Al-Co -19
    sub = elemental.miedema_mixing_matrix(("Al", "Ni", "Co", "Cr", "Fe"))
    assert sub[0, 1] == -22.0
    assert sub[2, 3] == -4.0
    assert sub[4, 1] == -2.0
    assert sub[0, 2] == -19.0


def test_valence_and_pauling_tables_hold_handbook_values() -> None:
    vec = elemental.miedema_parameter("valence_electrons", ("Al", "Cu", "Zn", "Ni", "Sn", "Mg"))
    assert vec.tolist() == [3, 11, 12, 10, 4, 2]  # Guo et al. 2011 VEC convention
    chi = elemental.pauling_electronegativity(("Al", "Mg", "Zn", "Cu", "Li"))
    assert chi.tolist() == [1.61, 1.31, 1.65, 1.90, 0.98]  # CRC Handbook Pauling values


def test_unknown_symbol_is_named() -> None:
    with pytest.raises(CompositionError, match="'Xx'"):
        elemental.magpie_table(("Number",), ("Al", "Xx"))
    with pytest.raises(CompositionError, match="twice"):
        elemental.check_symbols(("Al", "Zn", "Al"))


@pytest.mark.parametrize(
    ("call", "named"),
    [
        (lambda: elemental.magpie_table(("MeltingT",), ("Al", "Fr")), "Fr"),  # no Tm for Fr
        (lambda: elemental.magpie_table(("MiracleRadius",), ("Mg", "Xe")), "Xe"),
        (lambda: elemental.miedema_mixing_matrix(("Al", "Ar")), "Al-Ar"),
        (lambda: elemental.miedema_parameter("valence_electrons", ("Al", "Ar")), "Ar"),
        (lambda: elemental.pauling_electronegativity(("Al", "He")), "He"),
    ],
)
def test_missing_value_raises_instead_of_imputing(call, named: str) -> None:
    with pytest.raises(CompositionError, match=named):
        call()


def test_missing_matminer_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(elemental.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(AlloyMLError, match="matminer is not installed"):
        elemental.matminer_data_dir()


def test_matminer_is_not_imported_to_read_tables() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from alloyml.features import Featurizer; Featurizer('alloy_v1'); "
        "print('matminer' in sys.modules)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "False"
