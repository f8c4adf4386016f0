"""Elemental property tables, read from library data files at run time (never typed by hand).

Every table alloyml's descriptors use comes from a maintained library:

* **Magpie** element tables (Ward et al., npj Comput. Mater. 2 (2016) 16028) as shipped in
  matminer's package data ``matminer/utils/data_files/magpie_elementdata/<Property>.table``
  (one value per line, line ``Z-1`` holds element ``Z``). They are parsed exactly like
  ``matminer.utils.data.MagpieData`` parses them, but *without* importing matminer (its import pulls
  in much of pymatgen and scikit-learn) and *without* matminer's silent imputation.
* **Miedema-model binary mixing enthalpies** ``ΔH_AB^mix`` (kJ/mol, equiatomic liquid) tabulated by
  A. Takeuchi, A. Inoue, Mater. Trans. 46 (2005) 2817, shipped by matminer as
  ``data_files/MiedemaLiquidDeltaHf.tsv``.
* **Miedema-model element parameters** (``data_files/Miedema.csv``: F. R. de Boer et al., *Cohesion
  in Metals*, North-Holland 1988); alloyml uses its ``valence_electrons`` column for the valence
  electron concentration.
* **Pauling electronegativity** from pymatgen's periodic table (``Element.X``).

Missing values are never imputed. matminer's ``impute_nan=True`` default replaces a missing value
by the mean over the whole periodic table, which a model then learns from as if it were real;
here an element without a value raises :class:`~alloyml.errors.CompositionError` naming the
element and the table, when the :class:`~alloyml.features.Featurizer` is built. Every element of
``alloyml.schema.ELEMENTS`` (the 39 elements any source reports) has a value in every table used
by the ``alloy_v1`` preset; ``tests/features/test_elemental.py`` checks that, so a new element
column without data fails a test rather than a model.

matminer is a dev/test dependency in ``pyproject.toml``; its *data files* are needed at run time
and are located through ``importlib.util.find_spec`` (the package is not imported). When matminer
is absent, :func:`matminer_data_dir` raises an :class:`~alloyml.errors.AlloyMLError` that says so.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import math
from collections.abc import Sequence
from functools import cache
from pathlib import Path

import numpy as np

from alloyml.errors import AlloyMLError, CompositionError

#: Citations of the tables, keyed by table name.
TABLE_CITATIONS: dict[str, str] = {
    "magpie": (
        "L. Ward, A. Agrawal, A. Choudhary, C. Wolverton, A general-purpose machine learning "
        "framework for predicting properties of inorganic materials, npj Comput. Mater. 2 (2016) "
        "16028, doi:10.1038/npjcompumats.2016.28 (element tables as shipped by matminer: "
        "L. Ward et al., Comput. Mater. Sci. 152 (2018) 60, doi:10.1016/j.commatsci.2018.05.018)"
    ),
    "miracle_radius": (
        "D. B. Miracle, D. V. Louzguine-Luzgin, L. V. Louzguina-Luzgina, A. Inoue, An assessment "
        "of binary metallic glasses: correlations between structure, glass forming ability and "
        "stability, Int. Mater. Rev. 55 (2010) 218, doi:10.1179/095066010X12646898728200"
    ),
    "miedema_mixing": (
        "A. Takeuchi, A. Inoue, Classification of bulk metallic glasses by atomic size "
        "difference, heat of mixing and period of constituent elements and its application to "
        "characterization of the main alloying element, Mater. Trans. 46 (2005) 2817, "
        "doi:10.2320/matertrans.46.2817"
    ),
    "miedema_parameters": (
        "F. R. de Boer, R. Boom, W. C. M. Mattens, A. R. Miedema, A. K. Niessen, Cohesion in "
        "Metals: Transition Metal Alloys, North-Holland, Amsterdam (1988)"
    ),
    "pauling": (
        "L. Pauling, The Nature of the Chemical Bond, 3rd ed., Cornell University Press (1960); "
        "values from pymatgen (S. P. Ong et al., Comput. Mater. Sci. 68 (2013) 314)"
    ),
}


def matminer_data_dir() -> Path:
    """Directory of matminer's element data files (``matminer/utils/data_files``).

    Found with :func:`importlib.util.find_spec`, so matminer itself is not imported.

    Raises:
        AlloyMLError: matminer is not installed, or its data directory is missing.
    """
    spec = importlib.util.find_spec("matminer")
    if spec is None or not spec.submodule_search_locations:
        raise AlloyMLError(
            "matminer is not installed: alloyml reads its elemental property tables (Magpie, "
            "Miedema) from matminer's package data at run time; install it with "
            "`pip install 'matminer>=0.9'` (it is in alloyml's dev extras and requirements.lock)"
        )
    root = Path(next(iter(spec.submodule_search_locations)))
    data_dir = root / "utils" / "data_files"
    if not (data_dir / "magpie_elementdata").is_dir():
        raise AlloyMLError(f"matminer's data directory {data_dir} has no magpie_elementdata/")
    return data_dir


def matminer_version() -> str:
    """Installed matminer version (recorded with every feature table), or ``'unknown'``."""
    try:
        return importlib.metadata.version("matminer")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@cache
def _atomic_number(symbol: str) -> int:
    from pymatgen.core.periodic_table import Element

    try:
        return int(Element(symbol).Z)
    except ValueError:
        raise CompositionError(
            f"unknown element symbol {symbol!r}: use a chemical symbol such as Zn, Mg, Cu"
        ) from None


def check_symbols(symbols: Sequence[str]) -> tuple[str, ...]:
    """Validate element symbols: known to pymatgen and not repeated.

    Raises:
        CompositionError: naming the unknown or repeated symbol.
    """
    seen: set[str] = set()
    for sym in symbols:
        if not isinstance(sym, str):
            raise CompositionError(f"element symbol must be a string, got {sym!r}")
        _atomic_number(sym)
        if sym in seen:
            raise CompositionError(f"element {sym} given twice in the element list")
        seen.add(sym)
    return tuple(symbols)


@cache
def _magpie_column(prop: str) -> dict[str, float]:
    """One Magpie table as ``{symbol: value}`` (NaN where the file has no number).

    Parsed like ``matminer.utils.data.MagpieData`` (line ``Z-1``, ``float(line)``, unreadable or
    absent lines are NaN), without imputation.
    """
    from pymatgen.core.periodic_table import Element

    path = matminer_data_dir() / "magpie_elementdata" / f"{prop}.table"
    if not path.is_file():
        raise AlloyMLError(f"Magpie property table {prop!r} not found at {path}")
    lines = path.read_text().splitlines()
    out: dict[str, float] = {}
    for z in range(1, 119):
        try:
            value = float(lines[z - 1])
        except (ValueError, IndexError):
            value = math.nan
        out[Element.from_Z(z).symbol] = value
    return out


def magpie_table(properties: Sequence[str], symbols: Sequence[str]) -> np.ndarray:
    """Magpie element properties as a float array of shape ``(len(symbols), len(properties))``.

    Units are those of the Magpie tables (see matminer's
    ``magpie_elementdata/README.txt``): e.g. ``MeltingT`` K, ``CovalentRadius`` pm,
    ``GSvolume_pa`` Å³/atom, ``GSbandgap`` eV, ``MiracleRadius`` pm.

    Raises:
        CompositionError: an element has no value for a property (no imputation).
    """
    check_symbols(symbols)
    out = np.empty((len(symbols), len(properties)))
    for k, prop in enumerate(properties):
        column = _magpie_column(prop)
        for e, sym in enumerate(symbols):
            value = column[sym]
            if math.isnan(value):
                raise CompositionError(
                    f"element {sym} has no value for Magpie property {prop!r} (matminer would "
                    f"silently impute the table mean; alloyml does not): remove {sym} from the "
                    "element list or use a preset without this property"
                )
            out[e, k] = value
    return out


@cache
def _miedema_pairs() -> dict[tuple[str, str], float]:
    path = matminer_data_dir() / "MiedemaLiquidDeltaHf.tsv"
    pairs: dict[tuple[str, str], float] = {}
    with path.open() as fh:
        header = fh.readline().split()
        if header != ["elem_A", "elem_B", "delta_Hf"]:
            raise AlloyMLError(f"unexpected header {header} in {path}")
        for line in fh:
            parts = line.split()
            if not parts:
                continue
            a, b, value = parts
            key = (a, b) if a <= b else (b, a)
            pairs[key] = float(value)
    return pairs


def miedema_mixing_matrix(symbols: Sequence[str]) -> np.ndarray:
    """Symmetric matrix of Miedema binary mixing enthalpies ``ΔH_AB^mix`` in kJ/mol, zero diagonal.

    Values are Takeuchi & Inoue's (2005) equiatomic liquid-phase enthalpies, e.g. Al-Ni -22.

    Raises:
        CompositionError: a pair of the given elements is not in the table.
    """
    check_symbols(symbols)
    pairs = _miedema_pairs()
    n = len(symbols)
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            a, b = symbols[i], symbols[j]
            key = (a, b) if a <= b else (b, a)
            if key not in pairs:
                raise CompositionError(
                    f"no Miedema mixing enthalpy for the pair {a}-{b} in Takeuchi & Inoue's table "
                    "(matminer MiedemaLiquidDeltaHf.tsv): remove one of them from the element list"
                )
            out[i, j] = out[j, i] = pairs[key]
    return out


@cache
def _miedema_parameters() -> dict[str, dict[str, float]]:
    import csv

    path = matminer_data_dir() / "Miedema.csv"
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    table: dict[str, dict[str, float]] = {}
    for row in rows:
        sym = row["element"]
        table[sym] = {
            k: float(v) if v not in ("", None) else math.nan
            for k, v in row.items()
            if k and k != "element"
        }
    return table


def miedema_parameter(column: str, symbols: Sequence[str]) -> np.ndarray:
    """One column of matminer's ``Miedema.csv`` for ``symbols`` (e.g. ``valence_electrons``).

    Raises:
        CompositionError: an element is not in the table or has no value.
    """
    check_symbols(symbols)
    table = _miedema_parameters()
    out = np.empty(len(symbols))
    for e, sym in enumerate(symbols):
        value = table.get(sym, {}).get(column, math.nan)
        if math.isnan(value):
            raise CompositionError(
                f"element {sym} has no {column!r} in the Miedema parameter table "
                "(matminer Miedema.csv): remove it from the element list"
            )
        out[e] = value
    return out


def pauling_electronegativity(symbols: Sequence[str]) -> np.ndarray:
    """Pauling electronegativity of each element (dimensionless), from pymatgen ``Element.X``.

    Raises:
        CompositionError: pymatgen has no Pauling value for an element.
    """
    import warnings

    from pymatgen.core.periodic_table import Element

    check_symbols(symbols)
    out = np.empty(len(symbols))
    for e, sym in enumerate(symbols):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = float(Element(sym).X)
        if math.isnan(value):
            raise CompositionError(
                f"element {sym} has no Pauling electronegativity in pymatgen: remove it from "
                "the element list"
            )
        out[e] = value
    return out


def array_digest(*arrays: np.ndarray) -> str:
    """Short sha256 of the bytes of ``arrays`` (records which table values built a feature set)."""
    h = hashlib.sha256()
    for arr in arrays:
        a = np.ascontiguousarray(arr, dtype=np.float64)
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]
