"""Adapter ``a357``: 265 industrial low-pressure die-cast A357 castings, composition + YS/UTS/EL.

Source ``a357_lpdc`` (see ``al/a357_lpdc_cast/SOURCE.md``): O. Al, F. Candan, S. Candan,
A. M. Acilar, E. Candan, Comput. Mater. Sci. 244 (2024) 113275,
doi:10.1016/j.commatsci.2024.113275. Workbook ``00. A 357 ANFIS ALL DATA.xlsx`` with the sheets
``215 TRAIN DATA`` and ``50 TEST DATA - RESULTS`` (``options.train_sheet`` /
``options.test_sheet``), column names on row 0. One row = one foundry casting with its
spectrometer chemistry and tensile result.

Decisions

Sheets and the authors' split
    Both sheets are read and every row gets ``source_split`` = ``'train'`` or ``'test'``: the
    authors' fixed 215/50 split, kept so that their ANFIS result can be compared like for like.
    The third sheet ``265`` is train + test concatenated (SOURCE.md, verified in the tests) and
    is **not** read: its rows would be the same castings a second time.

``source_row``
    Train rows keep the :func:`read_table` index 0-214 (0-based data row of the train sheet);
    test rows get ``TEST_ROW_OFFSET + i`` = 1000-1049 (``i`` = 0-based data row of the test
    sheet), so ``source_row`` is unique within the source and still points into its sheet. The
    running number ``S.NO`` restarts in the test sheet and is not used.

Columns (names matched ignoring case and spaces; all nine are required in both sheets)
    ``Al % Si % Mg % Cu % Fe % Ti %`` -> element columns, wt %; ``UTS (MPa)`` -> ``uts_mpa``,
    ``YS (MPa)`` -> ``ys_mpa``, ``E (%)`` -> ``elong_pct``. The test sheet's
    ``NN - UTS (MPa)``, ``NN - YS (MPa)``, ``NN - E (%)`` are the paper's ANFIS predictions,
    not measurements: ignored (listed in ``notes['ignored_columns']``), never read as
    properties.

Composition
    Measured spectrometer chemistry -> ``comp_basis = 'measured'``. Al is given explicitly and
    kept as given (the six elements sum to 99.82-100.00; the ~0.05 wt % rest, e.g. Mn, Zn, Sr,
    is not reported and is not pushed into Al). Only a blank Al cell would be filled as
    ``100 - sum(others)``. Elements without a column stay NaN = not reported.

Process
    ``route``: LPDC fills a permanent metal die under low gas pressure, i.e. a permanent-mould
    process (slow, non-turbulent filling, permanent-mould-like solidification and porosity),
    not high-pressure die casting -> ``cast_perm_mould``, via
    :func:`alloyml.process.normalise_route` (``'lpdc'`` is an alias of ``cast_perm_mould`` there;
    ``cast_die`` is reserved for HPDC). ``alloy_name = 'A357'``.

    ``temper_class = 'T6'`` is an **assumption**: the files do not state the heat treatment.
    SOURCE.md notes that A357 castings are normally T6, and the properties agree (YS 180-309 MPa
    with UTS - YS of 6-46 MPa and 1.9-5.3 % elongation is T6-like; as-cast or T5 A357 has YS
    well below 180 MPa). ``temper`` (the raw temper string) stays empty because the source
    writes none; no numeric stage (solution/ageing T, t) is given, so all stay NaN. The state
    is :func:`alloyml.process.decode_state` ``(None, 'T6')``: solution treated, quenched,
    artificially aged (issue 10: the class is decoded as a designation when no temper is
    written), on the primary route ``cast_perm_mould``.

Rejects
    Unreadable numeric text -> ``non_numeric`` naming the column; a row with no UTS, YS or E
    -> ``missing_all_targets``. On the pinned file: 265 in (215 + 50), 265 kept, 0 rejected.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from alloyml.errors import SchemaError, SourceError
from alloyml.process import normalise_route
from alloyml.sources.base import (
    AdapterResult,
    RejectLog,
    fill_balance,
    finish,
    parse_numeric_columns,
    read_table,
    require_columns,
)
from alloyml.sources.registry import SourceSpec

TEST_ROW_OFFSET = 1000
ELEMENTS = ("Al", "Si", "Mg", "Cu", "Fe", "Ti")
#: canonical column -> header as written in the workbook
COLUMNS: dict[str, str] = {
    **{e: f"{e} %" for e in ELEMENTS},
    "uts_mpa": "UTS (MPa)",
    "ys_mpa": "YS (MPa)",
    "elong_pct": "E (%)",
}
PROPS = ("ys_mpa", "uts_mpa", "elong_pct")
DEFAULT_SHEETS = {"train": "215 TRAIN DATA", "test": "50 TEST DATA - RESULTS"}


def _key(name: str) -> str:
    return re.sub(r"\s+", "", str(name)).lower()


def _read_sheet(
    path: Path, spec: SourceSpec, sheet: str, rejects: RejectLog, offset: int
) -> tuple[pd.DataFrame, int, list[str]]:
    raw = read_table(path, spec.id, sheet=sheet, header=int(spec.options.get("header", 0)))
    by_key = {_key(c): c for c in raw.columns}
    # require_columns names every missing header as written in the workbook
    present = {canon: by_key[_key(h)] for canon, h in COLUMNS.items() if _key(h) in by_key}
    require_columns(
        raw.rename(columns={v: COLUMNS[k] for k, v in present.items()}),
        COLUMNS.values(),
        spec.id,
        f"{path.name} sheet {sheet!r}",
    )
    ids = [int(i) + offset for i in raw.index]
    values, _ = parse_numeric_columns(
        raw, {present[c]: c for c in COLUMNS}, rejects, balance_ok=["Al"], row_ids=ids
    )
    rows = values.copy()
    rows.insert(0, "source_row", ids)
    ignored = [c for c in raw.columns if c not in present.values()]
    return rows, len(raw), ignored


def adapt(spec: SourceSpec, paths: list[Path]) -> AdapterResult:
    opts = spec.options
    path = paths[0]
    rejects = RejectLog(spec.id)
    frames, rows_in, ignored = [], 0, {}
    for split in ("train", "test"):
        sheet = opts.get(f"{split}_sheet", DEFAULT_SHEETS[split])
        offset = 0 if split == "train" else TEST_ROW_OFFSET
        rows, n, ign = _read_sheet(path, spec, sheet, rejects, offset)
        if split == "train" and int(rows["source_row"].max()) >= TEST_ROW_OFFSET:
            raise SourceError(
                f"train sheet {sheet!r} has more than {TEST_ROW_OFFSET} rows: the test-row offset "
                "would collide; raise TEST_ROW_OFFSET",
                source_id=spec.id,
            )
        rows["source_split"] = split
        frames.append(rows)
        rows_in += n
        ignored[sheet] = ign
    rows = pd.concat(frames, ignore_index=True)
    others = [e for e in ELEMENTS if e != "Al"]
    rows["Al"] = rows["Al"].fillna(fill_balance(rows[others], "Al"))
    rows["route"] = normalise_route("lpdc")
    rows["temper_class"] = "T6"  # assumption, see the module docstring
    rows["alloy_name"] = "A357"
    rows["comp_basis"] = "measured"
    no_target = rows[list(PROPS)].isna().all(axis=1)
    for sid in rows.loc[no_target, "source_row"]:
        rejects.add(int(sid), "missing_all_targets", "UTS (MPa),YS (MPa),E (%)", "no UTS, YS or E")
    return finish(rows, spec, rejects, rows_in=rows_in, ignored_columns=ignored)


# -- what the paper on this source did (see :mod:`alloyml.sources.adapters`) ------------------


def paper_split(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Row positions of the authors' fixed ``source_split`` train (215) / test (50) castings."""
    split = frame["source_split"].astype("string").str.strip().str.lower()
    train = np.flatnonzero((split == "train").fillna(False).to_numpy(dtype=bool))
    test = np.flatnonzero((split == "test").fillna(False).to_numpy(dtype=bool))
    if len(train) == 0 or len(test) == 0:
        raise SchemaError("source_split has no 'train' or no 'test' rows")
    return train, test


def paper_features(frame: pd.DataFrame) -> pd.DataFrame:
    """The measured wt % of Si, Mg, Cu, Fe and Ti (Al is their balance)."""
    return frame[[e for e in ELEMENTS if e != "Al"]].astype(float)
