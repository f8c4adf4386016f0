"""Alloy families: the series rules on handbook compositions, and on the real processed tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alloyml.families import FAMILIES, al_family, alloy_family, mg_family

# Nominal compositions (wt %) of registered alloys: ASM Handbook Vol. 2 (Al) and ASTM B275
# family letters (Mg). The family each one must get is the one its designation states.
AL_CASES = [
    ("1100", {"Cu": 0.12, "Fe": 0.4, "Si": 0.2}, False, "1xxx"),
    ("2024", {"Cu": 4.4, "Mg": 1.5, "Mn": 0.6}, False, "2xxx"),
    ("2014", {"Cu": 4.4, "Si": 0.8, "Mg": 0.5, "Mn": 0.8}, False, "2xxx"),
    ("3003", {"Mn": 1.2, "Cu": 0.12}, False, "3xxx"),
    ("4032", {"Si": 12.2, "Mg": 1.0, "Cu": 0.9, "Ni": 0.9}, False, "4xxx"),
    ("5052", {"Mg": 2.5, "Cr": 0.25, "Si": 0.25}, False, "5xxx"),
    ("5083", {"Mg": 4.4, "Mn": 0.7, "Cr": 0.15}, False, "5xxx"),
    ("6061", {"Mg": 1.0, "Si": 0.6, "Cu": 0.28, "Cr": 0.2}, False, "6xxx"),
    ("6063", {"Mg": 0.7, "Si": 0.4}, False, "6xxx"),
    ("7075", {"Zn": 5.6, "Mg": 2.5, "Cu": 1.6, "Cr": 0.23}, False, "7xxx"),
    ("8090", {"Li": 2.4, "Cu": 1.3, "Mg": 0.95, "Zr": 0.1}, False, "8xxx"),
    ("A356", {"Si": 7.0, "Mg": 0.35}, True, "cast_3xx"),
    ("413", {"Si": 12.0}, True, "cast_4xx"),
    ("206", {"Cu": 4.5, "Mg": 0.25, "Mn": 0.3}, True, "cast_2xx"),
    ("535", {"Mg": 6.9, "Mn": 0.18}, True, "cast_5xx"),
    ("712", {"Zn": 5.8, "Mg": 0.6, "Cr": 0.5}, True, "cast_7xx"),
]

MG_CASES = [
    ("AZ91", {"Al": 9.0, "Zn": 0.7, "Mn": 0.2}, "Mg-Al"),
    ("ZK60", {"Zn": 5.5, "Zr": 0.5}, "Mg-Zn"),
    ("WE43", {"Y": 4.0, "Nd": 2.25, "Zr": 0.5, "Li": 0.2}, "Mg-RE"),
    ("GW103", {"Gd": 10.0, "Y": 3.0, "Zr": 0.5}, "Mg-RE"),
    ("LA141", {"Li": 14.0, "Al": 1.25}, "Mg-Li"),
    ("AZ31-5Li", {"Al": 3.0, "Zn": 1.0, "Li": 5.0}, "Mg-Li"),
    ("M1A", {"Mn": 1.5}, "Mg-Mn"),
    ("Mg-1Ca", {"Ca": 1.0}, "Mg-Ca"),
    ("pure", {"Mn": 0.02}, "Mg-pure"),
]


def _wt(comp: dict[str, float]) -> dict[str, np.ndarray]:
    return {k: np.array([v]) for k, v in comp.items()}


@pytest.mark.parametrize(("name", "comp", "cast", "family"), AL_CASES)
def test_al_series_of_registered_alloys(name, comp, cast, family):
    assert al_family(_wt(comp), np.array([cast])).tolist() == [family], name


@pytest.mark.parametrize(("name", "comp", "family"), MG_CASES)
def test_mg_family_of_registered_alloys(name, comp, family):
    assert mg_family(_wt(comp)).tolist() == [family], name


def test_alloy_family_frame_and_unknown_system():
    frame = pd.DataFrame({"Al": [90.1, 97.0], "Zn": [5.6, 0.0], "Si": [0.0, 7.0], "Mg": [2.5, 0.4]})
    fam = alloy_family(frame, "al", ["wrought", "cast"])
    assert fam.tolist() == ["7xxx", "cast_3xx"]
    with pytest.raises(ValueError, match="unknown system"):
        alloy_family(frame, "ti")


@pytest.mark.realdata
@pytest.mark.parametrize("system", ["al", "mg"])
def test_every_real_row_gets_a_family_of_its_system(system, sources, mirror, tmp_path):
    from alloyml.sources.ingest import ingest_source

    frames = []
    for spec in sources.values():
        if spec.system == system:
            frames.append(ingest_source(spec, raw_dir=tmp_path, mirror=mirror).rows)
    table = pd.concat(frames, ignore_index=True)
    fam = alloy_family(table.fillna({"Al": 0.0, "Mg": 0.0}), system)
    assert fam.notna().all()
    assert set(fam) <= set(FAMILIES[system])
    if system == "mg":
        assert (fam == "Mg-Li").sum() >= 20  # M-916 holds the Mg-Li rows (>= 5.7 wt% Li: 19)
    else:
        assert (fam == "7xxx").sum() >= 1000  # Jiang alone holds 1021 7xxx rows
