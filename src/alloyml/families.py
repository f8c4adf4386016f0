"""Alloy families from composition and primary route: one rule, used by training, domain and cards.

The family is what a metallurgist would call the alloy class: the Aluminum Association series of
a wrought Al alloy, its cast-alloy series, or the principal-element family of a Mg alloy. It is
computed from the wt % composition (and, for Al, whether the route is a casting), never read from
a source, so that every source and every user row gets it the same way.

Aluminium, wrought (The Aluminum Association, *International Alloy Designations and Chemical
Composition Limits for Wrought Aluminum and Wrought Aluminum Alloys* ("Teal Sheets"), 2015; the
series is set by the principal alloying element): ``1xxx`` at least 99.00 wt % Al; ``2xxx`` Cu;
``3xxx`` Mn; ``4xxx`` Si; ``5xxx`` Mg; ``6xxx`` Mg and Si together (Mg2Si-forming: both present,
Mg at most :data:`AL_6XXX_MG_MAX`, Si at most :data:`AL_6XXX_SI_MAX`); ``7xxx`` Zn; ``8xxx``
other elements (Li, Fe, Sn, Ni ...).

Aluminium, cast (The Aluminum Association, *Designations and Chemical Composition Limits for
Aluminum Alloys in the Form of Castings and Ingot* ("Pink Sheets"), 2018): ``cast_2xx`` Cu;
``cast_3xx`` Si with Cu and/or Mg (Cu >= 0.5 or Mg >= 0.2 wt %); ``cast_4xx`` Si alone;
``cast_5xx`` Mg; ``cast_7xx`` Zn; ``cast_8xx`` Sn or others. Applied when the route is a
casting (:func:`alloyml.process.route_family` ``"cast"``).

Magnesium (letter codes of ASTM B275, *Standard Practice for Codification of Certain Nonferrous
Metals and Alloys, Cast and Wrought*: A Al, Z Zn, E rare earth, W Y, K Zr, L Li, M Mn, X Ca,
T Sn, Q Ag): the family is the principal alloying addition, with the rare earths and Y counted
together as ``Mg-RE`` (their solid-solution and precipitation strengthening act alike; Gd, Y,
Nd, Ce, La ...). Li at or above :data:`MG_LI_MIN_WT` makes ``Mg-Li`` whatever else is added
(LA141, LZ91, AZ31-5Li: the Li phase field dominates), and Zr alone (grain refiner) counts as
``Mg-Zr``. Less than :data:`PURE_SOLUTE_MAX_WT` of additions is ``Mg-pure``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

#: Rare-earth elements and Y (ASTM B275 letters E and W), counted together for Mg families.
RARE_EARTHS: tuple[str, ...] = (
    "Y", "Sc", "La", "Ce", "Pr", "Nd", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb", "Lu",
)  # fmt: skip

#: Below this total of alloying additions (wt %) an alloy is commercially pure (1xxx; Mg-pure).
PURE_SOLUTE_MAX_WT = 1.0
#: 6xxx limits: Mg and Si both present, neither beyond the 6xxx range of the Teal Sheets.
AL_6XXX_MG_MIN, AL_6XXX_SI_MIN = 0.3, 0.2
AL_6XXX_MG_MAX, AL_6XXX_SI_MAX = 1.6, 1.8
#: Li content (wt %) from which a Mg alloy is a Mg-Li alloy (AZ31-1Li and up; the 0.2 wt % Li of
#: WE43 specifications is an impurity limit, not an addition).
MG_LI_MIN_WT = 1.0

AL_WROUGHT_FAMILIES: tuple[str, ...] = (
    "1xxx", "2xxx", "3xxx", "4xxx", "5xxx", "6xxx", "7xxx", "8xxx",
)  # fmt: skip
AL_CAST_FAMILIES: tuple[str, ...] = (
    "cast_2xx", "cast_3xx", "cast_4xx", "cast_5xx", "cast_7xx", "cast_8xx",
)  # fmt: skip
MG_FAMILIES: tuple[str, ...] = (
    "Mg-pure", "Mg-Al", "Mg-Zn", "Mg-RE", "Mg-Ca", "Mg-Li", "Mg-Mn", "Mg-Sn", "Mg-Zr", "Mg-other",
)  # fmt: skip

#: Every family label of each system, in a fixed order (the feature one-hot order).
FAMILIES: dict[str, tuple[str, ...]] = {
    "al": AL_WROUGHT_FAMILIES + AL_CAST_FAMILIES,
    "mg": MG_FAMILIES,
}

FAMILY_CITATION = (
    "The Aluminum Association, International Alloy Designations and Chemical Composition Limits "
    "for Wrought Aluminum (Teal Sheets, 2015) and for Castings and Ingot (Pink Sheets, 2018); "
    "ASTM B275, Codification of Certain Nonferrous Metals and Alloys"
)


def _col(wt: Mapping[str, np.ndarray], el: str, n: int) -> np.ndarray:
    v = wt.get(el)
    return np.zeros(n) if v is None else np.nan_to_num(np.asarray(v, dtype=float))


def al_family(wt: Mapping[str, np.ndarray], cast: np.ndarray | None = None) -> np.ndarray:
    """Aluminium family label per row (see the module docstring).

    Args:
        wt: element symbol -> wt % array (missing elements and NaN count as 0).
        cast: boolean array, True where the route is a casting; None = all wrought.

    Examples:
        >>> al_family({"Zn": [5.6], "Mg": [2.5], "Cu": [1.6]}).tolist()
        ['7xxx']
        >>> al_family({"Mg": [1.0], "Si": [0.6], "Cu": [0.28]}).tolist()
        ['6xxx']
        >>> al_family({"Si": [7.0], "Mg": [0.55]}, cast=np.array([True])).tolist()
        ['cast_3xx']
    """
    n = len(next(iter(wt.values()))) if wt else 0
    names = sorted(e for e in wt if e != "Al")
    M = np.column_stack([_col(wt, e, n) for e in names]) if names else np.zeros((n, 0))
    total = M.sum(axis=1) if names else np.zeros(n)
    g = {e: _col(wt, e, n) for e in ("Cu", "Mn", "Si", "Mg", "Zn", "Li", "Sn")}
    main = np.array(names, dtype=object)[M.argmax(axis=1)] if names else np.full(n, "", object)
    cast = np.zeros(n, bool) if cast is None else np.asarray(cast, bool)
    out = np.full(n, "8xxx", dtype=object)
    wrought_map = {"Cu": "2xxx", "Mn": "3xxx", "Si": "4xxx", "Mg": "5xxx", "Zn": "7xxx"}
    for el, fam in wrought_map.items():
        out[main == el] = fam
    six = (
        np.isin(main, ["Mg", "Si"])
        & (g["Mg"] >= AL_6XXX_MG_MIN)
        & (g["Si"] >= AL_6XXX_SI_MIN)
        & (g["Mg"] <= AL_6XXX_MG_MAX)
        & (g["Si"] <= AL_6XXX_SI_MAX)
    )
    out[six] = "6xxx"
    out[total < PURE_SOLUTE_MAX_WT] = "1xxx"
    cast_map = {"Cu": "cast_2xx", "Si": "cast_4xx", "Mg": "cast_5xx", "Zn": "cast_7xx"}
    cfam = np.full(n, "cast_8xx", dtype=object)
    for el, fam in cast_map.items():
        cfam[main == el] = fam
    cfam[(main == "Si") & ((g["Cu"] >= 0.5) | (g["Mg"] >= 0.2))] = "cast_3xx"
    out[cast] = cfam[cast]
    return out


def mg_family(wt: Mapping[str, np.ndarray]) -> np.ndarray:
    """Magnesium family label per row (see the module docstring).

    Examples:
        >>> mg_family({"Al": [3.0], "Zn": [1.0], "Mn": [0.3]}).tolist()
        ['Mg-Al']
        >>> mg_family({"Li": [14.0], "Al": [1.25]}).tolist()
        ['Mg-Li']
        >>> mg_family({"Gd": [9.0], "Y": [3.0], "Zr": [0.5]}).tolist()
        ['Mg-RE']
    """
    n = len(next(iter(wt.values()))) if wt else 0
    re_sum = sum((_col(wt, e, n) for e in RARE_EARTHS), np.zeros(n))
    cand = {
        "Mg-Al": _col(wt, "Al", n),
        "Mg-Zn": _col(wt, "Zn", n),
        "Mg-RE": re_sum,
        "Mg-Ca": _col(wt, "Ca", n),
        "Mg-Mn": _col(wt, "Mn", n),
        "Mg-Sn": _col(wt, "Sn", n),
        "Mg-Zr": _col(wt, "Zr", n),
    }
    labels = np.array(list(cand), dtype=object)
    M = np.column_stack(list(cand.values()))
    out = labels[M.argmax(axis=1)]
    others = [
        e for e in wt if e not in ("Mg", "Li", *RARE_EARTHS, "Al", "Zn", "Ca", "Mn", "Sn", "Zr")
    ]
    other_max = (
        np.column_stack([_col(wt, e, n) for e in others]).max(axis=1) if others else np.zeros(n)
    )
    out[other_max > M.max(axis=1)] = "Mg-other"
    total = (
        M.sum(axis=1)
        + _col(wt, "Li", n)
        + (np.column_stack([_col(wt, e, n) for e in others]).sum(axis=1) if others else 0.0)
    )
    out[total < PURE_SOLUTE_MAX_WT] = "Mg-pure"
    out[_col(wt, "Li", n) >= MG_LI_MIN_WT] = "Mg-Li"
    return out


def alloy_family(
    frame: pd.DataFrame, system: str, route_family: Sequence[str | None] | None = None
) -> pd.Series:
    """Family of every row of a frame with element wt % columns named by symbol.

    Args:
        frame: element columns in wt % (missing columns and NaN count as 0).
        system: ``"al"`` or ``"mg"``.
        route_family: per row ``"cast"``/``"wrought"``/... (:func:`alloyml.process.route_family`);
            used for Al (cast series); None = wrought.
    """
    from alloyml.schema import ELEMENTS

    wt = {e: frame[e].to_numpy(dtype=float) for e in ELEMENTS if e in frame.columns}
    if system == "al":
        cast = None
        if route_family is not None:
            cast = np.array([rf == "cast" for rf in route_family], dtype=bool)
        labels = al_family(wt, cast)
    elif system == "mg":
        labels = mg_family(wt)
    else:
        raise ValueError(f"unknown system {system!r}; expected 'al' or 'mg'")
    return pd.Series(labels, index=frame.index, dtype="string", name="family")
