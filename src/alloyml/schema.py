"""Canonical columns of alloyml tables, with units in the names.

One canonical row is one alloy condition plus one test (see ``DESIGN.md``). Composition is in
wt %, the balance element explicit; ``NaN`` in an element column means *not reported by the
source* and is kept distinct from ``0`` (reported as absent). Process stage columns are empty
(``NaN``) when a stage is absent or unknown, never a dummy value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    import pandera.pandas as pa

#: Every element any source reports, in a fixed order (alphabetical). A processed table carries
#: all of them so that both systems share one column layout.
ELEMENTS: tuple[str, ...] = (
    "Ag", "Al", "B", "Be", "Bi", "Ca", "Cd", "Ce", "Co", "Cr", "Cu", "Dy", "Er", "Eu", "Fe",
    "Ga", "Gd", "Ho", "La", "Li", "Mg", "Mn", "Nd", "Ni", "Pb", "Pr", "Sb", "Sc", "Si", "Sn",
    "Sr", "Tb", "Th", "Ti", "V", "Y", "Yb", "Zn", "Zr",
)  # fmt: skip

#: Balance (base) element of each alloy system.
BALANCE: dict[str, str] = {"al": "Al", "mg": "Mg"}

PROVENANCE: tuple[str, ...] = (
    "row_uid",  # stable id: <source_id>:<source_row>
    "source_id",
    "source_row",  # 0-based data-row index in the source table (after the header)
    "doi",
    "reference",  # free-text bibliographic reference, when the source gives one
    "alloy_name",
    "system",  # 'al' or 'mg'
    "comp_basis",  # measured / nominal / spec_midpoint
    "source_split",  # a split fixed by the source's authors (e.g. 'train'/'test'), else empty
)

#: Integer process-stage columns; temperatures in degC, times in hours.
STAGE_COLUMNS: tuple[str, ...] = (
    "homog_T_C", "homog_t_h",
    "sol1_T_C", "sol1_t_h", "sol2_T_C", "sol2_t_h", "sol3_T_C", "sol3_t_h",
    "age1_T_C", "age1_t_h", "age2_T_C", "age2_t_h", "age3_T_C", "age3_t_h",
)  # fmt: skip

PROCESS_NUMERIC: tuple[str, ...] = (
    *STAGE_COLUMNS,
    "cold_work_pct",
    "extrusion_ratio",
    "rolling_reduction_pct",
    "deform_T_C",
)

PROCESS_TEXT: tuple[str, ...] = (
    "route",  # wrought, cast, cast_sand, cast_die, cast_perm_mould, extruded, rolled, forged, ecap, ...
    "temper",  # raw temper string as the source wrote it
    "temper_class",  # F, O, H, W, T1..T9, RRA
    "product_form",  # sheet, plate, rod, ...
    "quench",  # water / air / furnace
    "process_code",  # source-specific process category or codes, kept verbatim
    "condition_text",  # free-text condition, kept raw
)

PROPERTIES: tuple[str, ...] = (
    "ys_mpa",
    "uts_mpa",
    "elong_pct",
    "hardness_hv",
    "density_g_cm3",  # measured density when the source gives it
    "test_T_C",
)

TARGETS: tuple[str, ...] = ("ys_mpa", "uts_mpa", "elong_pct", "hardness_hv")

#: Units of every property and derived quantity as reports, cards and plots print them.
UNITS: dict[str, str] = {
    "ys_mpa": "MPa",
    "uts_mpa": "MPa",
    "elong_pct": "%",
    "hardness_hv": "HV",
    "density_g_cm3": "g/cm³",
    "specific_ys": "MPa·cm³/g",
    "specific_uts": "MPa·cm³/g",
}

TEMPER_CLASSES: tuple[str, ...] = (
    "F", "O", "H", "W", "T1", "T2", "T3", "T4", "T5", "T6", "T7", "T8", "T9", "RRA",
)  # fmt: skip

ROUTES: tuple[str, ...] = (
    "wrought", "cast", "cast_sand", "cast_die", "cast_perm_mould", "cast_book_mould",
    "extruded", "rolled", "forged", "drawn", "ecap", "thixoformed", "am", "powder",
)  # fmt: skip

LI_PHASES: tuple[str, ...] = ("alpha", "alpha+beta", "beta")

#: Li phase-field limits of binary Mg-Li in wt % (hcp alpha up to ~5.7, bcc beta above ~10.3).
#: A. A. Nayeb-Hashemi, J. B. Clark, A. D. Pelton, Bull. Alloy Phase Diagr. 5 (1984) 365.
LI_ALPHA_MAX_WT = 5.7
LI_BETA_MIN_WT = 10.3

#: Columns written only by the clean stage.
DERIVED: tuple[str, ...] = (
    "group_id",
    "density_calc_g_cm3",
    "li_phase",
    "n_replicates",
    "merged_rows",  # ';'-joined row_uids folded into this row (replicates / cross-source duplicates)
    "ys_mpa_std",
    "uts_mpa_std",
    "elong_pct_std",
    "hardness_hv_std",
)

#: Boolean flag columns (row kept, something worth knowing about it).
FLAGS: tuple[str, ...] = (
    "flag_ys_gt_uts",
    "flag_sum_off",
    "flag_replicate_spread",
    "flag_impurity_li",
    "flag_basis_uncertain",
)

#: Columns an adapter may emit (everything but the clean-stage columns).
ADAPTER_COLUMNS: tuple[str, ...] = (
    *PROVENANCE,
    *ELEMENTS,
    *PROCESS_TEXT,
    *PROCESS_NUMERIC,
    *PROPERTIES,
)

CLEAN_COLUMNS: tuple[str, ...] = (*ADAPTER_COLUMNS, *DERIVED, *FLAGS)

TEXT_COLUMNS: frozenset[str] = frozenset(
    {
        "row_uid", "source_id", "doi", "reference", "alloy_name", "system", "comp_basis",
        "source_split", "group_id", "li_phase", "merged_rows", *PROCESS_TEXT,
    }
)  # fmt: skip

REJECT_COLUMNS: tuple[str, ...] = ("source_id", "source_row", "reason", "column", "detail", "raw")


def conform(frame: pd.DataFrame, columns: tuple[str, ...] = ADAPTER_COLUMNS) -> pd.DataFrame:
    """Return ``frame`` with exactly ``columns``, in order, missing ones added empty, dtypes fixed.

    Text columns become pandas ``string`` dtype, ``source_row`` and ``n_replicates`` ``Int64``,
    flags ``bool`` and every other column ``float64``. Raises ``KeyError`` for unknown columns so
    that a typo in an adapter is caught at once.
    """
    unknown = [c for c in frame.columns if c not in columns]
    if unknown:
        raise KeyError(f"columns not in the canonical schema: {unknown}")
    out = pd.DataFrame(index=frame.index)
    for col in columns:
        if col in TEXT_COLUMNS:
            values = frame[col] if col in frame else pd.Series(pd.NA, index=frame.index)
            out[col] = values.astype("string")
        elif col in ("source_row", "n_replicates"):
            values = frame[col] if col in frame else pd.Series(pd.NA, index=frame.index)
            out[col] = pd.array(values, dtype="Int64")
        elif col.startswith("flag_"):
            values = frame[col] if col in frame else pd.Series(False, index=frame.index)
            out[col] = values.fillna(False).astype(bool)
        else:
            values = frame[col] if col in frame else pd.Series(float("nan"), index=frame.index)
            out[col] = pd.to_numeric(values, errors="raise").astype("float64")
    return out


def _processed_schema() -> pa.DataFrameSchema:
    import pandera.pandas as pa

    nonneg = pa.Check.ge(0)
    cols: dict[str, pa.Column] = {}
    for col in CLEAN_COLUMNS:
        if col in TEXT_COLUMNS:
            checks = []
            if col == "temper_class":
                checks = [pa.Check.isin(TEMPER_CLASSES)]
            elif col == "route":
                checks = [pa.Check.isin(ROUTES)]
            elif col == "li_phase":
                checks = [pa.Check.isin(LI_PHASES)]
            elif col == "system":
                checks = [pa.Check.isin(tuple(BALANCE))]
            elif col == "comp_basis":
                checks = [pa.Check.isin(("measured", "nominal", "spec_midpoint"))]
            nullable = col not in ("row_uid", "source_id", "system", "group_id", "comp_basis")
            cols[col] = pa.Column("string", checks=checks, nullable=nullable)
        elif col in ("source_row", "n_replicates"):
            cols[col] = pa.Column("Int64", checks=[pa.Check.ge(0 if col == "source_row" else 1)])
        elif col.startswith("flag_"):
            cols[col] = pa.Column(bool)
        elif col in ELEMENTS:
            cols[col] = pa.Column(float, checks=[nonneg, pa.Check.le(100)], nullable=True)
        elif col == "elong_pct":
            cols[col] = pa.Column(float, checks=[pa.Check.gt(0), pa.Check.lt(100)], nullable=True)
        elif col.endswith("_T_C"):
            cols[col] = pa.Column(float, checks=[pa.Check.between(-273.15, 1000)], nullable=True)
        elif col == "test_T_C":
            cols[col] = pa.Column(float, nullable=True)
        else:
            cols[col] = pa.Column(float, checks=[nonneg], nullable=True)
    return pa.DataFrameSchema(cols, strict=True, ordered=True, unique=["row_uid"])


def __getattr__(name: str) -> Any:
    # PROCESSED_SCHEMA, the strict schema of ``data/processed/<system>.parquet``, is built on
    # first use: pandera takes about 0.3 s to import, and ``alloyml predict`` needs only the
    # column constants of this module
    if name == "PROCESSED_SCHEMA":
        schema = _processed_schema()
        globals()[name] = schema
        return schema
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
