"""One code path for training, prediction and search: :class:`Featurizer` and :func:`featurize`.

:class:`Featurizer` is compiled once per preset (tables read, arrays laid out) and then turns a
wt % matrix plus a numeric process matrix into features with a handful of numpy operations, fast
enough for an Optuna objective (one row) and for hundreds of thousands of search candidates.
:func:`featurize` is the table path used by the pipeline: it takes a canonical frame, checks it,
builds the two matrices and calls the same :meth:`Featurizer.transform`.

Composition input: element contents in wt % (any scale; each row is normalised), ``NaN`` = not
reported = 0. A row that is all zero or all NaN, or that has a negative or infinite amount, raises
:class:`~alloyml.errors.CompositionError` naming the row. Atomic fractions come from pymatgen
atomic masses (:func:`alloyml.compositions.atomic_mass`), exactly like
:func:`alloyml.compositions.wt_to_at`.

Output: finite ``float64`` only. Where a quantity is undefined (absent process stage, zero ratio
denominator, Li phase field of a non-Mg alloy) the encoding is documented in the group's module.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from alloyml.compositions import atomic_mass
from alloyml.errors import AlloyMLError, CompositionError
from alloyml.features import composition, physics, process
from alloyml.features.elemental import (
    TABLE_CITATIONS,
    array_digest,
    check_symbols,
    magpie_table,
    matminer_version,
    miedema_mixing_matrix,
    miedema_parameter,
    pauling_electronegativity,
)
from alloyml.features.presets import Preset, get_preset

logger = logging.getLogger(__name__)

_SYMBOL_LIKE = re.compile(r"^[A-Z][a-z]?$")

#: :meth:`Featurizer.transform_frame` warns when a row's element amounts miss 100 wt% by more.
SUM_WARN_WT = 1.0


class Featurizer:
    """Compiled feature map of one preset.

    Args:
        preset: preset name or :class:`~alloyml.features.presets.Preset` (default ``alloy_v1``).
        continuous_only: keep only features continuous in composition (drops Magpie
            minimum/maximum/range/mode and the Mg-Li phase one-hot) — what a search needs.
            Always on for presets defined continuous (``alloy_continuous_v1``).
        elements: element columns of the wt % matrix given to :meth:`transform`; default the
            preset's element list. A subset (e.g. the 6 elements of a search space) gives the same
            features, faster; an element outside the preset raises ``CompositionError``.

    Attributes:
        preset: the resolved preset.
        elements: column order of the wt % input.
        labels: feature labels, in output column order.
        table_digest: sha256 prefix of every elemental table value used (for provenance).

    Examples:
        >>> f = Featurizer("composition_v1", elements=("Al", "Zn", "Mg", "Cu"))
        >>> X = f.transform([[90.0, 6.0, 2.5, 1.5]])
        >>> X.shape == (1, len(f.labels))
        True
    """

    def __init__(
        self,
        preset: str | Preset = "alloy_v1",
        continuous_only: bool = False,
        elements: Sequence[str] | None = None,
    ) -> None:
        self.preset = get_preset(preset)
        self.continuous_only = bool(continuous_only) or self.preset.continuous_only
        els = self.preset.elements if elements is None else tuple(elements)
        check_symbols(els)
        outside = [e for e in els if e not in self.preset.elements]
        if outside:
            raise CompositionError(
                f"elements {outside} are not in preset {self.preset.name!r} "
                f"(its elements: {self.preset.elements}); use a preset that includes them"
            )
        if not els:
            raise CompositionError("no elements given")
        self.elements: tuple[str, ...] = els
        self._masses = np.array([atomic_mass(s) for s in els])
        self._wt_pos = np.array([self.preset.elements.index(e) for e in els], dtype=int)
        groups = self.preset.groups
        tables: list[np.ndarray] = [self._masses]
        if "magpie_v1" in groups:
            self._magpie = magpie_table(composition.MAGPIE_PROPERTIES, els)
            tables.append(self._magpie)
        if "physics_v1" in groups:
            self._radii = magpie_table(("MiracleRadius",), els)[:, 0]
            self._dh = miedema_mixing_matrix(els)
            self._vec = miedema_parameter("valence_electrons", els)
            self._chi = pauling_electronegativity(els)
            tables += [self._radii, self._dh, self._vec, self._chi]
        self._rra_code = self.preset.tempers.index("RRA") if "RRA" in self.preset.tempers else None
        self.labels: tuple[str, ...] = tuple(feature_labels(self.preset, self.continuous_only))
        self.table_digest = array_digest(*tables)

    @property
    def needs_process(self) -> bool:
        """Whether :meth:`transform` needs a process matrix."""
        return any(g in self.preset.groups for g in ("process_v1", "process_v2", "family_v1"))

    @property
    def process_columns(self) -> tuple[str, ...]:
        """Column order of the process matrix (route/temper as integer codes, NaN unknown).

        ``process_v2`` presets add the decoded state columns
        (:data:`alloyml.features.process.STATE_INPUT_COLUMNS`).
        """
        if "process_v2" in self.preset.groups:
            return process.PROCESS_INPUT_COLUMNS_V2
        return process.PROCESS_INPUT_COLUMNS

    def __repr__(self) -> str:
        return (
            f"Featurizer(preset={self.preset.name!r}, continuous_only={self.continuous_only}, "
            f"n_elements={len(self.elements)}, n_features={len(self.labels)})"
        )

    def atomic_fractions(
        self, wt: np.ndarray | Sequence[Sequence[float]], row_names: Sequence[object] | None = None
    ) -> np.ndarray:
        """Validated atomic fractions ``(n, len(elements))`` of a wt % matrix; rows sum to 1."""
        arr = self._check_wt(wt, row_names)
        return self._fractions(arr, np.arange(arr.shape[1]))

    def transform(
        self,
        wt: np.ndarray | Sequence[Sequence[float]],
        process_matrix: np.ndarray | None = None,
        *,
        row_names: Sequence[object] | None = None,
    ) -> np.ndarray:
        """Features of each row.

        Args:
            wt: wt % matrix ``(n, len(elements))`` (a 1-D array is one row); NaN = 0.
            process_matrix: ``(n, len(process_columns))`` float matrix, NaN = absent/unknown;
                required when the preset has the process group (pass an all-NaN matrix for
                "no process information").
            row_names: names used in error messages (default: row positions).

        Returns:
            ``(n, len(labels))`` float64 array, all finite.

        Raises:
            CompositionError: bad composition (wrong shape, negative, infinite, all zero/NaN).
            SchemaError: impossible process value or category code.
        """
        arr = self._check_wt(wt, row_names)
        n = arr.shape[0]
        active = np.flatnonzero((arr > 0).any(axis=0))
        wt_a = arr[:, active]
        x = self._fractions(wt_a, active)
        wt_sum = wt_a.sum(axis=1)
        wt_norm = 100.0 * wt_a / wt_sum[:, None]
        blocks: list[np.ndarray] = []
        for group in self.preset.groups:
            if group == "wt_pct_v1":
                block = np.zeros((n, len(self.preset.elements)))
                block[:, self._wt_pos[active]] = wt_norm
                blocks.append(block)
            elif group == "magpie_v1":
                blocks.append(
                    composition.magpie_stats(
                        x, self._magpie[active], continuous_only=self.continuous_only
                    )
                )
            elif group == "physics_v1":
                blocks.append(
                    physics.physics_features(
                        x,
                        wt_norm,
                        [self.elements[i] for i in active],
                        self._radii[active],
                        self._dh[np.ix_(active, active)],
                        self._vec[active],
                        self._chi[active],
                        continuous_only=self.continuous_only,
                    )
                )
            elif group in ("process_v1", "process_v2", "family_v1"):
                if process_matrix is None:
                    raise AlloyMLError(
                        f"preset {self.preset.name!r} has process features: pass a process matrix "
                        f"with columns {self.process_columns} (all-NaN rows = no process "
                        "information)"
                    )
                proc = np.asarray(process_matrix, dtype=float)
                if proc.ndim == 1:
                    proc = proc.reshape(1, -1)
                if proc.shape[0] != n:
                    raise AlloyMLError(
                        f"process matrix has {proc.shape[0]} rows, composition has {n}"
                    )
                if group == "family_v1":
                    blocks.append(self._family_block(wt_norm, active, proc))
                elif group == "process_v2":
                    blocks.append(
                        process.process_features_v2(
                            proc, self.preset.routes, self.preset.tempers, self._rra_code, row_names
                        )
                    )
                else:
                    blocks.append(
                        process.process_features(
                            proc,
                            len(self.preset.routes),
                            len(self.preset.tempers),
                            self._rra_code,
                            row_names,
                        )
                    )
        out = np.hstack(blocks) if len(blocks) > 1 else blocks[0]
        if not np.isfinite(out).all():  # defensive: inputs are validated, so this is a bug
            r, c = np.argwhere(~np.isfinite(out))[0]
            raise AlloyMLError(
                f"non-finite feature {self.labels[c]!r} in {process.row_label(int(r), row_names)}: "
                "please report this as a bug"
            )
        return out

    def transform_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Features of a canonical frame (see :func:`featurize`), index kept."""
        wt, row_names = self._frame_wt(frame)
        total = np.nansum(wt, axis=1)
        off = np.flatnonzero(np.abs(total - 100.0) > SUM_WARN_WT)
        if off.size:
            i = int(off[0])
            logger.warning(
                "%d of %d rows have element amounts summing outside 100 +/- %g wt%% (e.g. %s: "
                "%.4g); features use the row-normalised composition. Is the balance element "
                "column missing?",
                off.size,
                len(frame),
                SUM_WARN_WT,
                process.row_label(i, row_names),
                total[i],
            )
        if self.needs_process:
            # the temper standard follows the base element: ASTM B296 for Mg, ANSI H35.1 else
            base = np.array(self.elements, dtype=object)[np.nan_to_num(wt, nan=-1.0).argmax(axis=1)]
            systems = np.where(base == "Mg", "mg", "al")
            proc = self.encode_process(frame, row_names, systems=systems)
        else:
            proc = None
        values = self.transform(wt, proc, row_names=row_names)
        return pd.DataFrame(values, index=frame.index, columns=list(self.labels))

    def _family_block(
        self, wt_norm: np.ndarray, active: np.ndarray, proc: np.ndarray
    ) -> np.ndarray:
        """One-hot alloy family (:mod:`alloyml.families`); the system is the base element's."""
        from alloyml import families

        syms = [self.elements[i] for i in active]
        wt = {e: wt_norm[:, j] for j, e in enumerate(syms)}
        n = wt_norm.shape[0]
        codes = proc[:, process.PROCESS_INPUT_COLUMNS.index("route")]
        cast = np.array(
            [
                not np.isnan(c) and process.route_family(self.preset.routes[int(c)]) == "cast"
                for c in codes
            ],
            dtype=bool,
        )
        base = np.array(syms, dtype=object)[wt_norm.argmax(axis=1)]
        labels = np.full(n, "", dtype=object)
        is_al, is_mg = base == "Al", base == "Mg"
        if is_al.any():
            sub = {e: v[is_al] for e, v in wt.items()}
            labels[is_al] = families.al_family(sub, cast[is_al])
        if is_mg.any():
            labels[is_mg] = families.mg_family({e: v[is_mg] for e, v in wt.items()})
        names = family_labels()
        out = np.zeros((n, len(names)))
        lookup = {f: j for j, f in enumerate(families.FAMILIES["al"] + families.FAMILIES["mg"])}
        for i, lab in enumerate(labels):
            out[i, lookup.get(lab, len(names) - 1)] = 1.0
        return out

    def encode_process(
        self,
        frame: pd.DataFrame,
        row_names: Sequence[object] | None = None,
        systems: Sequence[str] | None = None,
    ) -> np.ndarray:
        """Process matrix of a canonical frame; missing process columns count as unknown.

        For ``process_v2`` presets the temper class code comes from ``temper_class``, else from
        the decoded ``temper`` text (``HT`` for "heat treated" with no detail), and the state
        columns from :func:`alloyml.process.decode_state` of ``temper`` (``temper_class`` when
        there is no text), by the standard of each row's system (``systems``: ``"al"`` or
        ``"mg"`` per row; ``"al"`` when not given).
        """
        n = len(frame)
        if row_names is None:
            row_names = _row_names(frame)
        v2 = "process_v2" in self.preset.groups
        if v2:
            frame = self._with_state(frame, systems)
        missing = [c for c in self.process_columns if c not in frame.columns]
        if missing:
            logger.warning("process columns absent from the input, treated as unknown: %s", missing)
        out = np.full((n, len(self.process_columns)), np.nan)
        for j, col in enumerate(self.process_columns):
            if col not in frame.columns:
                continue
            if col in ("route", "temper_class"):
                cats = self.preset.routes if col == "route" else self.preset.tempers
                out[:, j] = process.encode_categories(frame[col], cats, col, row_names)
            else:
                try:
                    out[:, j] = pd.to_numeric(frame[col], errors="raise").to_numpy(
                        dtype=float, na_value=np.nan
                    )
                except (ValueError, TypeError) as exc:
                    raise AlloyMLError(f"process column {col!r} is not numeric: {exc}") from None
        return out

    def _with_state(
        self, frame: pd.DataFrame, systems: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """``frame`` with the v2 temper class and the decoded state columns, each distinct
        (temper, class, system) decoded once."""
        temper = (
            frame["temper"] if "temper" in frame.columns else pd.Series(None, index=frame.index)
        )
        tclass = (
            frame["temper_class"]
            if "temper_class" in frame.columns
            else pd.Series(None, index=frame.index)
        )
        if systems is None:
            systems = ["al"] * len(frame)
        keys = list(
            zip(
                temper.astype(object).where(temper.notna(), None),
                tclass.astype(object).where(tclass.notna(), None),
                systems,
                strict=True,
            )
        )
        cache: dict[tuple[object, object, str], tuple[str | None, tuple[float, ...]]] = {}
        for k in set(keys):
            cache[k] = (process.state_class(*k), process.state_row(*k))
        out = frame.copy()
        out["temper_class"] = pd.Series(
            [cache[k][0] for k in keys], index=frame.index, dtype=object
        )
        states = np.array([cache[k][1] for k in keys], dtype=float).reshape(
            len(keys), len(process.STATE_INPUT_COLUMNS)
        )
        for j, c in enumerate(process.STATE_INPUT_COLUMNS):
            out[c] = states[:, j]
        return out

    # -- internals ---------------------------------------------------------------------------

    def _frame_wt(self, frame: pd.DataFrame) -> tuple[np.ndarray, list[object]]:
        extra = [
            c
            for c in frame.columns
            if isinstance(c, str)
            and _SYMBOL_LIKE.match(c)
            and c not in self.elements
            and _is_element(c)
            and (pd.to_numeric(frame[c], errors="coerce").fillna(0) != 0).any()
        ]
        if extra:
            raise CompositionError(
                f"element columns {extra} hold non-zero amounts but are not among the "
                f"featurizer's elements {self.elements} (preset {self.preset.name!r}); they "
                "would be silently ignored"
            )
        present = [e for e in self.elements if e in frame.columns]
        if not present:
            raise CompositionError(
                f"no element columns found; expected wt % columns named by symbol, e.g. "
                f"{self.elements[:4]}"
            )
        wt = np.full((len(frame), len(self.elements)), np.nan)  # absent column = not reported
        for j, el in enumerate(self.elements):
            if el in frame.columns:
                try:
                    wt[:, j] = pd.to_numeric(frame[el], errors="raise").to_numpy(
                        dtype=float, na_value=np.nan
                    )
                except (ValueError, TypeError) as exc:
                    raise CompositionError(f"element column {el!r} is not numeric: {exc}") from None
        return wt, _row_names(frame)

    def _check_wt(
        self, wt: np.ndarray | Sequence[Sequence[float]], row_names: Sequence[object] | None
    ) -> np.ndarray:
        arr = np.array(wt, dtype=float)
        if arr.ndim == 1:
            arr = arr.reshape(1, -1)
        if arr.ndim != 2 or arr.shape[1] != len(self.elements):
            raise CompositionError(
                f"wt % matrix must have shape (n, {len(self.elements)}) with columns "
                f"{self.elements}, got {arr.shape}"
            )
        if arr.shape[0] == 0:
            raise CompositionError("empty composition matrix (0 rows)")
        nan = np.isnan(arr)
        if nan.any():
            all_nan = nan.all(axis=1)
            if all_nan.any():
                i = int(np.flatnonzero(all_nan)[0])
                raise CompositionError(
                    f"{process.row_label(i, row_names)}: every element amount is NaN (no composition)"
                )
            arr[nan] = 0.0
        bad = np.isinf(arr) | (arr < 0)
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise CompositionError(
                f"{process.row_label(int(i), row_names)}: invalid amount {float(arr[i, j])!r} wt% of "
                f"{self.elements[j]} (must be finite and >= 0)"
            )
        zero = ~(arr > 0).any(axis=1)
        if zero.any():
            i = int(np.flatnonzero(zero)[0])
            raise CompositionError(
                f"{process.row_label(i, row_names)}: all element amounts are zero"
            )
        return arr

    def _fractions(self, wt_a: np.ndarray, active: np.ndarray) -> np.ndarray:
        moles = wt_a / self._masses[active]
        total = np.zeros(wt_a.shape[0])
        for e in range(moles.shape[1]):  # sequential, like pymatgen's Composition.from_weight_dict
            total += moles[:, e]
        return moles / total[:, None]


def _is_element(symbol: str) -> bool:
    from pymatgen.core.periodic_table import Element

    return bool(Element.is_valid_symbol(symbol))


def _row_names(frame: pd.DataFrame) -> list[object]:
    if "row_uid" in frame.columns:
        return frame["row_uid"].tolist()
    return frame.index.tolist()


def featurize(
    frame: pd.DataFrame,
    preset: str | Preset = "alloy_v1",
    continuous_only: bool = False,
) -> pd.DataFrame:
    """Features of every row of a canonical frame (batch path of training and prediction).

    Args:
        frame: element wt % columns named by symbol (missing element columns = 0; ``NaN`` = 0),
            and, for presets with process features, the canonical process columns
            (``homog_T_C`` … ``age3_t_h``, ``cold_work_pct``, ``extrusion_ratio``,
            ``rolling_reduction_pct``, ``deform_T_C``, ``route``, ``temper_class``; missing
            columns = unknown, with a warning). Other columns are ignored; an element-symbol
            column outside the preset raises.
        preset: preset name (see :data:`alloyml.features.presets.PRESETS`).
        continuous_only: keep only features continuous in composition.

    Returns:
        Frame with the same index and the columns :func:`feature_labels` gives.

    Raises:
        CompositionError: bad composition, naming the row (``row_uid`` when present).
        SchemaError: bad process value, naming the row and column.
    """
    return Featurizer(preset, continuous_only).transform_frame(frame)


def _group_meta(preset: Preset, group: str, continuous_only: bool) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    if group == "wt_pct_v1":
        for el in preset.elements:
            rows.append(
                dict(
                    label=f"wt_pct_{el}",
                    unit="wt%",
                    description=f"{el} content, row normalised to 100 wt%",
                    citation="input composition",
                    continuous=True,
                )
            )
    elif group == "magpie_v1":
        for prop in composition.MAGPIE_PROPERTIES:
            for stat in composition.MAGPIE_STATS:
                cont = stat in composition.CONTINUOUS_STATS
                if continuous_only and not cont:
                    continue
                unit = composition.MAGPIE_UNITS[prop]
                rows.append(
                    dict(
                        label=f"MagpieData {stat} {prop}",
                        unit=unit,
                        description=f"{stat} of Magpie {prop} over the elements (at. fraction)",
                        citation=TABLE_CITATIONS["magpie"],
                        continuous=cont,
                    )
                )
    elif group == "physics_v1":
        for d in physics.PHYSICS_DESCRIPTORS:
            if continuous_only and not d.continuous:
                continue
            rows.append(
                dict(
                    label=d.label,
                    unit=d.unit,
                    description=d.description,
                    citation=d.citation,
                    continuous=d.continuous,
                )
            )
    elif group == "family_v1":
        from alloyml.families import FAMILY_CITATION

        for lab in family_labels():
            rows.append(
                dict(
                    label=lab,
                    unit="0/1",
                    description="alloy family one-hot (alloyml.families)",
                    citation=FAMILY_CITATION,
                    continuous=False,
                )
            )
    elif group == "process_v2":
        units = process.process_units(preset.routes, preset.tempers)
        for label in process.process_v2_labels(preset.routes, preset.tempers):
            if label in units and "_hj_" in label:
                cite = process.HOLLOMON_JAFFE
            elif label == "proc_rra":
                cite = process.CINA_1974
            elif label.startswith("proc_state_"):
                cite = process.DECODER_CITATION
            else:
                cite = "input process (alloyml.features.process encoding)"
            rows.append(
                dict(
                    label=label,
                    unit=units.get(label, "0/1 (-2 unknown)" if "state_" in label else "0/1"),
                    description="process descriptor (composition-independent)",
                    citation=cite,
                    continuous=True,
                )
            )
    elif group == "process_v1":
        units = process.process_units(preset.routes, preset.tempers)
        for label in process.process_labels(preset.routes, preset.tempers):
            if "_hj_" in label and "eq" in label:
                cite = f"{process.HOLLOMON_JAFFE}; {process.SHERCLIFF_ASHBY}"
            elif "_hj_" in label:
                cite = process.HOLLOMON_JAFFE
            elif label == "proc_rra":
                cite = process.CINA_1974
            else:
                cite = "input process (alloyml.features.process encoding)"
            rows.append(
                dict(
                    label=label,
                    unit=units[label],
                    description="process descriptor (composition-independent)",
                    citation=cite,
                    continuous=True,
                )
            )
    for r in rows:
        r["group"] = group
    return rows


def family_labels() -> list[str]:
    """Labels of the ``family_v1`` one-hot: every Al and Mg family, then ``unknown``."""
    from alloyml.families import FAMILIES

    return [f"family_{f}" for f in (*FAMILIES["al"], *FAMILIES["mg"], "unknown")]


def feature_table(preset: str | Preset = "alloy_v1", continuous_only: bool = False) -> pd.DataFrame:
    """One row per feature: ``label, group, unit, description, citation, continuous``."""
    p = get_preset(preset)
    cont = continuous_only or p.continuous_only
    rows = [r for g in p.groups for r in _group_meta(p, g, cont)]
    return pd.DataFrame(
        rows, columns=["label", "group", "unit", "description", "citation", "continuous"]
    )


def feature_labels(preset: str | Preset = "alloy_v1", continuous_only: bool = False) -> list[str]:
    """Feature labels of a preset, in output column order (no tables are read)."""
    return feature_table(preset, continuous_only)["label"].astype(str).tolist()


def citations(preset: str | Preset = "alloy_v1", continuous_only: bool = False) -> dict[str, str]:
    """Citation of every feature of a preset, ``{label: reference}``."""
    table = feature_table(preset, continuous_only)
    return dict(zip(table["label"], table["citation"], strict=True))


def provenance(featurizer: Featurizer) -> dict[str, str]:
    """What built a feature table: preset name/date, continuity option, tables digest, matminer."""
    p = featurizer.preset
    return {
        "preset": p.name,
        "preset_date": p.date,
        "continuous_only": str(featurizer.continuous_only),
        "table_digest": featurizer.table_digest,
        "matminer_version": matminer_version(),
        "n_features": str(len(featurizer.labels)),
    }
