"""Alloy-physics descriptors of a composition, with units and a citation per descriptor.

All functions are vectorised over rows: ``x`` is the atomic-fraction matrix ``(n, E)`` (rows sum
to 1) and ``wt`` the wt % matrix ``(n, E)`` normalised to 100 per row, both with the element order
of ``symbols``. Inputs are validated upstream (:class:`alloyml.features.Featurizer`), so every
output is finite.

Descriptors (label, unit, definition, source):

* ``delta_size_pct`` (%) atomic size mismatch ``δ = 100 √(Σ c_i (1 - r_i/r̄)²)``, ``r̄ = Σ c_i r_i``
  (Y. Zhang, Y. J. Zhou, J. P. Lin, G. L. Chen, P. K. Liaw, Adv. Eng. Mater. 10 (2008) 534);
  radii: Miracle et al. 2010 metallic radii (Magpie ``MiracleRadius``, pm), the table matminer's
  ``YangSolidSolution`` uses. With Zhang's own (Goldschmidt) radii the formula gives 5.78 % for
  AlCoCrFeNi; with the Miracle radii it gives 4.70 % — same formula, different radius table.
* ``dH_mix_kJ_mol`` (kJ/mol) regular-solution mixing enthalpy ``ΔH = Σ_{i<j} 4 ΔH_ij c_i c_j``
  with Takeuchi & Inoue's (2005) Miedema binary values (Al-Ni -22 kJ/mol). The sign is kept
  (matminer's ``WenAlloys`` returns ``|ΔH|``).
* ``S_mix_ideal_J_molK`` (J/(mol K)) ideal configurational entropy ``ΔS = -R Σ c_i ln c_i ≥ 0``
  (J.-W. Yeh et al., Adv. Eng. Mater. 6 (2004) 299); ``R = 8.314462618`` J/(mol K). matminer's
  ``WenAlloys`` omits the minus sign and uses kJ; not here.
* ``vec`` (electrons/atom) valence electron concentration ``Σ c_i VEC_i``
  (S. Guo, C. Ng, J. Lu, C. T. Liu, J. Appl. Phys. 109 (2011) 103505). ``VEC_i`` is the Miedema
  parameter table's ``valence_electrons`` (de Boer et al. 1988; matminer ``Miedema.csv``): s + d
  electrons for transition and noble metals (Cu 11, Zn 12, Ni 10), s + p for p-block metals
  (Al 3, Sn 4, Pb 4; Magpie's ``NValence`` would count their filled d shell, Sn 14), and 4f
  electrons counted for lanthanides (Gd 10, Er 14), unlike the trivalent convention some papers use.
* ``dchi_pauling`` (Pauling units) electronegativity difference ``√(Σ c_i (χ_i - χ̄)²)``
  (S. Fang, X. Xiao, L. Xia, W. Li, Y. Dong, J. Non-Cryst. Solids 321 (2003) 120; Guo 2011),
  Pauling values from pymatgen.
* ``density_rom_g_cm3`` (g/cm3) ideal-solution density ``1/ρ = Σ w_i/ρ_i`` from
  :func:`alloyml.compositions.density_rule_of_mixtures` (pymatgen solid densities).
* ``solute_wt_pct`` (wt %) ``100 - max_i w_i``: everything but the base (largest) element.
* ``zn_mg_cu_wt_pct`` (wt %) ``Zn + Mg + Cu``, the 7xxx strengthening-solute total.
* ``zn_mg_ratio``, ``cu_mg_ratio`` (wt/wt) 7xxx ratios governing η/T/S-phase balance
  (J. R. Davis (ed.), *Aluminum and Aluminum Alloys*, ASM Specialty Handbook 1993). Finite
  encoding: the exact ratio capped at :data:`RATIO_CAP` = 50; a zero denominator gives the cap
  when the numerator is positive and 0 when both are zero. The capped ratio is continuous except at the single corner
  where numerator and denominator both vanish.
* ``li_wt_pct`` (wt %), ``li_at_pct`` (at %) Li content.
* ``li_phase_alpha``, ``li_phase_alpha_beta``, ``li_phase_beta`` (0/1) binary Mg-Li phase field
  (hcp α below 5.7 wt % Li, α+β from 5.7 to 10.3, bcc β above 10.3; A. A. Nayeb-Hashemi,
  J. B. Clark, A. D. Pelton, Bull. Alloy Phase Diagr. 5 (1984) 365; limits from
  :mod:`alloyml.schema`). Only meaningful for Mg-base alloys: all three are 0 when Mg is not the
  largest element (e.g. Al-Li alloys). Discontinuous, dropped by ``continuous_only``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from alloyml.compositions import density_rule_of_mixtures
from alloyml.schema import LI_ALPHA_MAX_WT, LI_BETA_MIN_WT

#: Molar gas constant, J/(mol K) (CODATA 2018, exact).
GAS_CONSTANT = 8.314462618

#: Upper cap of the 7xxx wt ratios (Zn/Mg, Cu/Mg); see module docstring.
RATIO_CAP = 50.0

ZHANG_2008 = (
    "Y. Zhang, Y. J. Zhou, J. P. Lin, G. L. Chen, P. K. Liaw, Solid-solution phase formation "
    "rules for multi-component alloys, Adv. Eng. Mater. 10 (2008) 534, "
    "doi:10.1002/adem.200700240"
)
TAKEUCHI_2005 = (
    "A. Takeuchi, A. Inoue, Mater. Trans. 46 (2005) 2817, doi:10.2320/matertrans.46.2817"
)
YEH_2004 = (
    "J.-W. Yeh et al., Nanostructured high-entropy alloys with multiple principal elements, "
    "Adv. Eng. Mater. 6 (2004) 299, doi:10.1002/adem.200300567"
)
GUO_2011 = (
    "S. Guo, C. Ng, J. Lu, C. T. Liu, Effect of valence electron concentration on stability of "
    "fcc or bcc phase in high entropy alloys, J. Appl. Phys. 109 (2011) 103505, "
    "doi:10.1063/1.3587228"
)
FANG_2003 = (
    "S. Fang, X. Xiao, L. Xia, W. Li, Y. Dong, Relationship between the widths of supercooled "
    "liquid regions and bond parameters of Mg-based bulk metallic glasses, J. Non-Cryst. Solids "
    "321 (2003) 120"
)
MIRACLE_2010 = (
    "D. B. Miracle et al., Int. Mater. Rev. 55 (2010) 218, doi:10.1179/095066010X12646898728200"
)
DE_BOER_1988 = "F. R. de Boer et al., Cohesion in Metals, North-Holland, Amsterdam (1988)"
ASM_AL_1993 = (
    "J. R. Davis (ed.), Aluminum and Aluminum Alloys, ASM Specialty Handbook, ASM International, "
    "Materials Park OH (1993)"
)
NAYEB_HASHEMI_1984 = (
    "A. A. Nayeb-Hashemi, J. B. Clark, A. D. Pelton, The Li-Mg (lithium-magnesium) system, "
    "Bull. Alloy Phase Diagr. 5 (1984) 365"
)
DENSITY_ROM = "inverse rule of mixtures with pymatgen pure-element solid densities"


@dataclass(frozen=True)
class Descriptor:
    """Metadata of one feature: label, unit, meaning, citation, continuity in composition."""

    label: str
    unit: str
    description: str
    citation: str
    continuous: bool = True


PHYSICS_DESCRIPTORS: tuple[Descriptor, ...] = (
    Descriptor(
        "delta_size_pct",
        "%",
        "atomic size mismatch, Miracle radii",
        f"{ZHANG_2008}; {MIRACLE_2010}",
    ),
    Descriptor(
        "dH_mix_kJ_mol", "kJ/mol", "Miedema regular-solution mixing enthalpy", TAKEUCHI_2005
    ),
    Descriptor("S_mix_ideal_J_molK", "J/(mol K)", "ideal configurational entropy", YEH_2004),
    Descriptor(
        "vec", "electrons/atom", "valence electron concentration", f"{GUO_2011}; {DE_BOER_1988}"
    ),
    Descriptor("dchi_pauling", "Pauling", "electronegativity difference", FANG_2003),
    Descriptor("density_rom_g_cm3", "g/cm3", "rule-of-mixtures density", DENSITY_ROM),
    Descriptor("solute_wt_pct", "wt%", "100 - wt% of the largest element", "definition"),
    Descriptor("zn_mg_cu_wt_pct", "wt%", "Zn + Mg + Cu", ASM_AL_1993),
    Descriptor("zn_mg_ratio", "wt/wt", "Zn/Mg, capped at 50 (x/0 -> 50, 0/0 -> 0)", ASM_AL_1993),
    Descriptor("cu_mg_ratio", "wt/wt", "Cu/Mg, capped at 50 (x/0 -> 50, 0/0 -> 0)", ASM_AL_1993),
    Descriptor("li_wt_pct", "wt%", "Li content", "definition"),
    Descriptor("li_at_pct", "at%", "Li content", "definition"),
    Descriptor(
        "li_phase_alpha", "0/1", "Mg-base and Li < 5.7 wt% (hcp)", NAYEB_HASHEMI_1984, False
    ),
    Descriptor(
        "li_phase_alpha_beta", "0/1", "Mg-base and 5.7 <= Li <= 10.3 wt%", NAYEB_HASHEMI_1984, False
    ),
    Descriptor(
        "li_phase_beta", "0/1", "Mg-base and Li > 10.3 wt% (bcc)", NAYEB_HASHEMI_1984, False
    ),
)


def size_mismatch_pct(x: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Atomic size mismatch δ in % (Zhang et al. 2008): ``100 √(Σ c_i (1 - r_i/r̄)²)``."""
    rbar = x @ radii
    acc = np.zeros(x.shape[0])
    for e in range(x.shape[1]):
        acc += x[:, e] * (1.0 - radii[e] / rbar) ** 2
    return 100.0 * np.sqrt(acc)


def mixing_enthalpy(x: np.ndarray, dh_pairs: np.ndarray) -> np.ndarray:
    """Regular-solution mixing enthalpy in kJ/mol: ``Σ_{i<j} 4 ΔH_ij c_i c_j = 2 xᵀHx``.

    ``dh_pairs`` is the symmetric, zero-diagonal matrix of binary ``ΔH_ij`` (kJ/mol).
    """
    return 2.0 * np.einsum("ni,ij,nj->n", x, dh_pairs, x)


def ideal_mixing_entropy(x: np.ndarray) -> np.ndarray:
    """Ideal configurational entropy in J/(mol K): ``-R Σ c_i ln c_i`` (0 ln 0 = 0), always ≥ 0."""
    safe = np.where(x > 0, x, 1.0)
    return 0.0 - GAS_CONSTANT * np.sum(x * np.log(safe), axis=1)


def weighted_mean(x: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Fraction-weighted mean ``Σ c_i v_i`` (rows of ``x`` sum to 1)."""
    return x @ values


def weighted_spread(x: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Weighted standard deviation ``√(Σ c_i (v_i - v̄)²)`` (e.g. Δχ of Fang et al. 2003)."""
    vbar = x @ values
    acc = np.zeros(x.shape[0])
    for e in range(x.shape[1]):
        acc += x[:, e] * (values[e] - vbar) ** 2
    return np.sqrt(acc)


def capped_ratio(num: np.ndarray, den: np.ndarray, cap: float = RATIO_CAP) -> np.ndarray:
    """``min(num/den, cap)`` with ``num/0 = cap`` for ``num > 0`` and ``0/0 = 0``; never NaN."""
    out = np.where(num > 0, cap, 0.0)
    pos = den > 0
    with np.errstate(over="ignore"):  # huge quotients are capped anyway
        ratio = np.divide(num, den, out=np.zeros_like(num), where=pos)
    np.minimum(ratio, cap, out=out, where=pos)
    return out


def li_phase_onehot(li_wt: np.ndarray, mg_base: np.ndarray) -> np.ndarray:
    """One-hot ``(alpha, alpha+beta, beta)`` of binary Mg-Li; all zero when not Mg-base."""
    alpha = mg_base & (li_wt < LI_ALPHA_MAX_WT)
    beta = mg_base & (li_wt > LI_BETA_MIN_WT)
    both = mg_base & ~alpha & ~beta
    return np.column_stack([alpha, both, beta]).astype(float)


def physics_features(
    x: np.ndarray,
    wt: np.ndarray,
    symbols: Sequence[str],
    radii: np.ndarray,
    dh_pairs: np.ndarray,
    vec: np.ndarray,
    chi: np.ndarray,
    continuous_only: bool = False,
) -> np.ndarray:
    """All physics descriptors, columns in the order of :data:`PHYSICS_DESCRIPTORS`.

    Args:
        x: atomic fractions ``(n, E)``, rows sum to 1.
        wt: wt % ``(n, E)``, rows sum to 100.
        symbols: element symbols of the columns.
        radii: Miracle radii (pm), ``(E,)``.
        dh_pairs: Miedema ``ΔH_ij`` (kJ/mol), ``(E, E)``.
        vec: valence electrons per element, ``(E,)``.
        chi: Pauling electronegativity per element, ``(E,)``.
        continuous_only: drop the Li phase-field one-hot columns.
    """
    n = x.shape[0]
    index = {s: i for i, s in enumerate(symbols)}

    def wt_of(sym: str) -> np.ndarray:
        return wt[:, index[sym]] if sym in index else np.zeros(n)

    zn, mg, cu, li = wt_of("Zn"), wt_of("Mg"), wt_of("Cu"), wt_of("Li")
    li_at = 100.0 * x[:, index["Li"]] if "Li" in index else np.zeros(n)
    base = np.argmax(wt, axis=1)
    cols = [
        size_mismatch_pct(x, radii),
        mixing_enthalpy(x, dh_pairs),
        ideal_mixing_entropy(x),
        weighted_mean(x, vec),
        weighted_spread(x, chi),
        density_rule_of_mixtures(wt, list(symbols)),
        100.0 - wt.max(axis=1),
        zn + mg + cu,
        capped_ratio(zn, mg),
        capped_ratio(cu, mg),
        li,
        li_at,
    ]
    out = np.column_stack(cols)
    if continuous_only:
        return out
    mg_base = base == index["Mg"] if "Mg" in index else np.zeros(n, dtype=bool)
    return np.hstack([out, li_phase_onehot(li, mg_base)])


def physics_labels(continuous_only: bool = False) -> list[str]:
    """Labels of :func:`physics_features` columns."""
    return [d.label for d in PHYSICS_DESCRIPTORS if d.continuous or not continuous_only]
