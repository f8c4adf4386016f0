"""Alloy-physics descriptors against published and handbook values."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alloyml.features import Featurizer
from alloyml.features.physics import (
    GAS_CONSTANT,
    RATIO_CAP,
    capped_ratio,
    ideal_mixing_entropy,
    physics_labels,
    size_mismatch_pct,
)

HEA = [
    {"Al": 0.2, "Co": 0.2, "Cr": 0.2, "Fe": 0.2, "Ni": 0.2},  # AlCoCrFeNi
    {"Co": 0.25, "Cr": 0.25, "Fe": 0.25, "Ni": 0.25},  # CoCrFeNi
    {"Al": 0.5, "Ni": 0.5},
]
AA7075 = {"Al": 89.87, "Zn": 5.6, "Mg": 2.5, "Cu": 1.6, "Cr": 0.23, "Fe": 0.1, "Si": 0.1}
LA141 = {"Mg": 84.75, "Li": 14.0, "Al": 1.25}


@pytest.fixture(scope="module")
def hea(comp_fz: Featurizer, at_rows) -> np.ndarray:
    return comp_fz.transform(at_rows(comp_fz, HEA))


def test_mixing_enthalpy_golden(comp_fz: Featurizer, hea: np.ndarray, feat) -> None:
    # ΔHmix = Σ 4 ΔH_ij c_i c_j with Takeuchi & Inoue (2005) pairs: equimolar Al-Ni = -22,
    # CoCrFeNi -3.75 and AlCoCrFeNi -12.32 kJ/mol (Zhang et al. 2008; Guo et al. 2011).
    dh = feat(comp_fz, hea, "dH_mix_kJ_mol")
    np.testing.assert_allclose(dh, [-12.32, -3.75, -22.0], atol=1e-9)


def test_size_mismatch_formula_reproduces_zhang_2008() -> None:
    # Zhang et al. (2008) radii (Å): Al 1.432, Co 1.251, Cr 1.249, Fe 1.241, Ni 1.246;
    # published δ: AlCoCrFeNi 5.78 %, CoCrFeNi 0.30 %.
    radii = np.array([1.432, 1.251, 1.249, 1.241, 1.246])
    x = np.array([[0.2] * 5, [0.0, 0.25, 0.25, 0.25, 0.25]])
    np.testing.assert_allclose(size_mismatch_pct(x, radii), [5.78, 0.30], atol=0.005)


def test_size_mismatch_with_library_radii_equals_matminer_yang(
    comp_fz: Featurizer, at_rows, wt_rows, feat
) -> None:
    from matminer.featurizers.composition import YangSolidSolution
    from pymatgen.core import Composition

    yang = YangSolidSolution()
    wt = np.vstack([at_rows(comp_fz, HEA), wt_rows(comp_fz, [AA7075, LA141])])
    ours = feat(comp_fz, comp_fz.transform(wt), "delta_size_pct")
    ref = []
    for row in wt:
        comp = Composition.from_weight_dict(
            {e: w for e, w in zip(comp_fz.elements, row, strict=True) if w > 0}
        )
        ref.append(100.0 * yang.compute_delta(comp))
    np.testing.assert_allclose(ours, ref, rtol=1e-9)
    assert ours[0] == pytest.approx(4.70, abs=0.01)  # Miracle radii: 4.70 % for AlCoCrFeNi


def test_ideal_entropy_golden(comp_fz: Featurizer, hea: np.ndarray, feat) -> None:
    s = feat(comp_fz, hea, "S_mix_ideal_J_molK")
    assert s[0] == pytest.approx(13.38, abs=0.005)  # R ln 5
    assert s[0] == pytest.approx(GAS_CONSTANT * math.log(5), rel=1e-12)
    assert s[2] == pytest.approx(GAS_CONSTANT * math.log(2), rel=1e-12)  # 5.76
    assert ideal_mixing_entropy(np.array([[1.0, 0.0]]))[0] == 0.0


def test_entropy_sign_fixes_matminer_wenalloys() -> None:
    from matminer.featurizers.composition import WenAlloys

    fractions = [0.2] * 5
    wen = WenAlloys.compute_configuration_entropy(fractions)  # kJ/(mol K), wrong sign
    ours = ideal_mixing_entropy(np.array([fractions]))[0]
    assert wen < 0 < ours
    assert ours == pytest.approx(-wen * 1000 * GAS_CONSTANT / 8.314, rel=1e-12)


def test_vec_and_electronegativity_golden(comp_fz: Featurizer, hea: np.ndarray, feat) -> None:
    # Guo et al. J. Appl. Phys. 109 (2011) 103505: VEC AlCoCrFeNi 7.2, CoCrFeNi 8.25.
    np.testing.assert_allclose(feat(comp_fz, hea, "vec")[:2], [7.2, 8.25], atol=1e-12)
    # Δχ from CRC Pauling values Al 1.61, Co 1.88, Cr 1.66, Fe 1.83, Ni 1.91:
    chi = np.array([1.61, 1.88, 1.66, 1.83, 1.91])
    expected = math.sqrt(np.mean((chi - chi.mean()) ** 2))
    assert expected == pytest.approx(0.1206, abs=1e-4)
    assert feat(comp_fz, hea, "dchi_pauling")[0] == pytest.approx(expected, rel=1e-12)


def test_density_handbook(comp_fz: Featurizer, wt_rows, feat) -> None:
    rho = feat(comp_fz, comp_fz.transform(wt_rows(comp_fz, [AA7075, LA141])), "density_rom_g_cm3")
    assert rho[0] == pytest.approx(2.81, rel=0.01)  # ASM handbook AA7075
    assert rho[1] == pytest.approx(1.35, rel=0.02)  # LA141 (ideal mixing, no excess volume)


def test_7xxx_ratios_and_solute(comp_fz: Featurizer, wt_rows, feat) -> None:
    comps = [AA7075, {"Al": 93.7, "Cu": 6.3}, {"Al": 99.0, "Si": 1.0}, {"Al": 90.0, "Zn": 10.0}]
    X = comp_fz.transform(wt_rows(comp_fz, comps))
    np.testing.assert_allclose(feat(comp_fz, X, "zn_mg_ratio"), [5.6 / 2.5, 0.0, 0.0, RATIO_CAP])
    np.testing.assert_allclose(feat(comp_fz, X, "cu_mg_ratio"), [1.6 / 2.5, RATIO_CAP, 0.0, 0.0])
    np.testing.assert_allclose(feat(comp_fz, X, "zn_mg_cu_wt_pct"), [9.7, 6.3, 0.0, 10.0])
    np.testing.assert_allclose(feat(comp_fz, X, "solute_wt_pct"), [10.13, 6.3, 1.0, 10.0])


def test_capped_ratio_edges() -> None:
    num = np.array([0.0, 1.0, 1.0, 500.0, 2.0])
    den = np.array([0.0, 0.0, 2.0, 1.0, 1e-300])
    np.testing.assert_array_equal(
        capped_ratio(num, den), [0.0, RATIO_CAP, 0.5, RATIO_CAP, RATIO_CAP]
    )


@pytest.mark.parametrize(
    ("comp", "phase"),
    [
        ({"Mg": 96.0, "Li": 4.0}, (1, 0, 0)),
        ({"Mg": 94.3, "Li": 5.7}, (0, 1, 0)),  # limits: α < 5.7 ≤ α+β ≤ 10.3 < β
        ({"Mg": 92.0, "Li": 8.0}, (0, 1, 0)),
        ({"Mg": 89.7, "Li": 10.3}, (0, 1, 0)),
        ({"Mg": 84.75, "Li": 14.0, "Al": 1.25}, (0, 0, 1)),
        ({"Mg": 95.0, "Zn": 5.0}, (1, 0, 0)),  # Li-free Mg is hcp α
        ({"Al": 97.5, "Li": 2.5}, (0, 0, 0)),  # Al-Li: not a Mg-Li phase field
    ],
)
def test_li_phase_field(comp_fz: Featurizer, wt_rows, feat, comp, phase) -> None:
    X = comp_fz.transform(wt_rows(comp_fz, [comp]))
    got = tuple(int(feat(comp_fz, X, f"li_phase_{p}")[0]) for p in ("alpha", "alpha_beta", "beta"))
    assert got == phase
    assert feat(comp_fz, X, "li_wt_pct")[0] == pytest.approx(comp.get("Li", 0.0))


def test_continuous_only_drops_phase_one_hot() -> None:
    assert "li_phase_beta" in physics_labels()
    assert not any(lab.startswith("li_phase") for lab in physics_labels(continuous_only=True))


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0.0, 30.0), min_size=5, max_size=5), st.floats(40.0, 100.0))
def test_physics_bounds(solutes: list[float], base: float) -> None:
    fz = Featurizer("composition_v1", elements=("Al", "Zn", "Mg", "Cu", "Li", "Sc"))
    X = fz.transform([[base, *solutes]])
    row = dict(zip(fz.labels, X[0], strict=True))
    assert np.isfinite(X).all()
    n_el = 1 + sum(s > 0 for s in solutes)
    assert 0.0 <= row["S_mix_ideal_J_molK"] <= GAS_CONSTANT * math.log(n_el) + 1e-9
    assert row["delta_size_pct"] >= 0.0 and row["dchi_pauling"] >= 0.0
    assert 0.534 < row["density_rom_g_cm3"] < 8.96  # between Li and Cu
    assert 0.0 <= row["zn_mg_ratio"] <= RATIO_CAP
