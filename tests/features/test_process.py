"""Process descriptors: presence encoding, Hollomon–Jaffe exposure, RRA, deformation, one-hots."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from alloyml.errors import SchemaError
from alloyml.features.presets import get_preset
from alloyml.features.process import (
    HJ_CONSTANT,
    KELVIN,
    PROCESS_INPUT_COLUMNS,
    process_features,
    process_labels,
)

PRESET = get_preset("alloy_v1")
LABELS = process_labels(PRESET.routes, PRESET.tempers)
RRA_CODE = PRESET.tempers.index("RRA")


def run(*stages: dict[str, object]) -> list[dict[str, float]]:
    """Process features of rows given as ``{column: value}`` (codes for route/temper by name)."""
    proc = np.full((len(stages), len(PROCESS_INPUT_COLUMNS)), np.nan)
    for r, row in enumerate(stages):
        for colname, value in row.items():
            if colname == "route":
                value = PRESET.routes.index(str(value))
            elif colname == "temper_class":
                value = PRESET.tempers.index(str(value))
            proc[r, PROCESS_INPUT_COLUMNS.index(colname)] = value
    X = process_features(proc, len(PRESET.routes), len(PRESET.tempers), RRA_CODE)
    assert X.shape == (len(stages), len(LABELS))
    return [dict(zip(LABELS, x, strict=True)) for x in X]


def hj(t_c: float, t_h: float) -> float:
    return (t_c + KELVIN) * (HJ_CONSTANT + math.log10(t_h))


T6 = {"sol1_T_C": 480, "sol1_t_h": 1, "age1_T_C": 120, "age1_t_h": 24}


def test_absent_stage_is_zero_with_indicator_off() -> None:
    (row,) = run({})
    assert all(row[f"proc_has_{s}"] == 0 for s in ("homog", "sol1", "age1", "age3"))
    assert row["proc_age2_T_C"] == 0 and row["proc_age2_t_h"] == 0 and row["proc_age2_hj_K"] == 0
    assert row["proc_route_unknown"] == 1 and row["proc_temper_unknown"] == 1
    assert row["proc_n_age_stages"] == 0 and row["proc_age_hj_eq_K"] == 0


def test_zero_time_means_absent_even_with_a_dummy_temperature() -> None:
    # Jiang et al. Sheet5 writes absent stages as T = 160 °C, t = 0
    (row,) = run(T6 | {"age2_T_C": 160, "age2_t_h": 0})
    assert row["proc_has_age2"] == 0 and row["proc_age2_T_C"] == 0
    assert row["proc_n_age_stages"] == 1


def test_t6_stage_values_and_hollomon_jaffe() -> None:
    (row,) = run(T6 | {"temper_class": "T6", "route": "extruded"})
    assert row["proc_has_sol1"] == 1 and row["proc_sol1_T_C"] == 480 and row["proc_sol1_t_h"] == 1
    assert row["proc_age1_hj_K"] == pytest.approx(hj(120, 24))
    assert row["proc_age1_hj_K"] == pytest.approx(8405.63, abs=0.01)
    assert row["proc_age_hj_eq_K"] == pytest.approx(row["proc_age1_hj_K"], rel=1e-12)
    assert row["proc_age_hj_max_K"] == row["proc_age1_hj_K"]
    assert row["proc_temper_T6"] == 1 and row["proc_route_extruded"] == 1
    assert row["proc_temper_unknown"] == 0 and row["proc_route_unknown"] == 0
    assert row["proc_n_sol_stages"] == 1 and row["proc_n_age_stages"] == 1
    assert row["proc_rra"] == 0 and row["proc_n_params_unknown"] == 0


def test_equivalent_exposure_adds_equivalent_times() -> None:
    (two, one) = run(
        T6 | {"age2_T_C": 120, "age2_t_h": 24},  # 2 x 24 h at 120 °C ...
        T6 | {"age1_t_h": 48},  # ... equals 48 h at 120 °C
    )
    assert two["proc_age_hj_eq_K"] == pytest.approx(one["proc_age1_hj_K"], rel=1e-12)
    assert two["proc_age_total_t_h"] == 48
    (step,) = run({"age1_T_C": 107, "age1_t_h": 6, "age2_T_C": 177, "age2_t_h": 8})
    low_at_ref = 10 ** (hj(107, 6) / (177 + KELVIN) - HJ_CONSTANT)  # same P, hours at 177 °C
    expected = (177 + KELVIN) * (HJ_CONSTANT + math.log10(8 + low_at_ref))
    assert step["proc_age_hj_eq_K"] == pytest.approx(expected, rel=1e-12)
    assert step["proc_age_hj_max_K"] == pytest.approx(hj(177, 8))
    assert step["proc_age_hj_eq_K"] > step["proc_age_hj_max_K"]


@pytest.mark.parametrize(
    ("ageing", "temper", "expected"),
    [
        ([(120, 24), (190, 0.5), (120, 24)], None, 1),  # classic RRA (Cina 1974)
        ([(135, 16), (190, 0.17)], None, 0),  # retrogression, no re-ageing
        ([(107, 6), (177, 8)], None, 0),  # T74 two-step
        ([(25, 48), (120, 6), (165, 16)], None, 0),  # pre-ageing + two steps, rising
        ([(120, 24), (190, 30), (120, 24)], None, 0),  # long middle stage: not a retrogression
        ([(120, 24)], "RRA", 1),  # temper class says so
    ],
)
def test_rra_flag(ageing, temper, expected: int) -> None:
    row: dict[str, object] = {}
    for i, (t_c, t_h) in enumerate(ageing, start=1):
        row |= {f"age{i}_T_C": t_c, f"age{i}_t_h": t_h}
    if temper:
        row["temper_class"] = temper
    assert run(row)[0]["proc_rra"] == expected


def test_partially_known_stage_counts_unknown() -> None:
    (row,) = run({"sol1_T_C": 475, "age1_t_h": 24})
    assert row["proc_has_sol1"] == 1 and row["proc_sol1_t_h"] == 0
    assert row["proc_has_age1"] == 1 and row["proc_age1_T_C"] == 0
    assert row["proc_age1_hj_K"] == 0  # needs both T and t
    assert row["proc_n_params_unknown"] == 2


def test_deformation_encoding() -> None:
    (known, unknown) = run({"cold_work_pct": 2, "extrusion_ratio": 25}, {})
    assert known["proc_cold_work_pct"] == 2 and known["proc_cold_work_known"] == 1
    assert known["proc_log_extrusion_ratio"] == pytest.approx(math.log(25))
    assert known["proc_extrusion_ratio_known"] == 1
    assert unknown["proc_cold_work_known"] == 0 and unknown["proc_log_extrusion_ratio"] == 0


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("age1_t_h", -1.0, "negative time"),
        ("sol1_T_C", -300.0, "absolute zero"),
        ("cold_work_pct", -5.0, "negative percentage"),
        ("extrusion_ratio", 0.0, "extrusion ratio"),
        ("age2_T_C", np.inf, "infinite"),
        ("route", 99.0, "category code"),
        ("temper_class", 1.5, "category code"),
    ],
)
def test_impossible_values_name_row_and_column(column: str, value: float, message: str) -> None:
    proc = np.full((3, len(PROCESS_INPUT_COLUMNS)), np.nan)
    proc[2, PROCESS_INPUT_COLUMNS.index(column)] = value
    with pytest.raises(SchemaError, match=rf"row 'c'.*{column}.*{message}"):
        process_features(proc, len(PRESET.routes), len(PRESET.tempers), RRA_CODE, ["a", "b", "c"])


@settings(max_examples=60, deadline=None)
@given(
    arrays(
        np.float64,
        (4, len(PROCESS_INPUT_COLUMNS) - 2),
        elements=st.one_of(st.just(np.nan), st.floats(0.0, 600.0)),
    ),
    st.lists(st.one_of(st.just(np.nan), st.integers(0, 13).map(float)), min_size=8, max_size=8),
)
def test_outputs_finite_and_indicators_binary(numeric: np.ndarray, codes: list[float]) -> None:
    numeric = numeric.copy()
    er = PROCESS_INPUT_COLUMNS.index("extrusion_ratio")
    numeric[:, er] = np.where(numeric[:, er] == 0, 1.0, numeric[:, er])
    proc = np.hstack([numeric, np.array(codes).reshape(4, 2)])
    X = process_features(proc, len(PRESET.routes), len(PRESET.tempers), RRA_CODE)
    assert np.isfinite(X).all()
    for j, label in enumerate(LABELS):
        if label.startswith(("proc_has_", "proc_route_", "proc_temper_")) or label.endswith(
            "_known"
        ):
            assert set(np.unique(X[:, j])) <= {0.0, 1.0}, label
    onehot = [j for j, lab in enumerate(LABELS) if lab.startswith("proc_route_")]
    assert (X[:, onehot].sum(axis=1) == 1).all()


# ---------------------------------------------------------------- process_v2 (decoded state)


def _v2_frame() -> pd.DataFrame:
    """Four 7xxx rows: T6 by designation, T6 by schedule only, as-cast, unknown state."""
    base = {"Al": 90.0, "Zn": 6.0, "Mg": 2.5, "Cu": 1.5}
    rows = [
        base | {"temper": "T651", "route": "rolled"},
        base | {"sol1_T_C": 475.0, "sol1_t_h": 1.0, "age1_T_C": 120.0, "age1_t_h": 24.0,
                "route": "extruded"},
        base | {"temper": "as-cast", "route": "cast_die"},
        base | {"temper": "no idea", "route": "rolled"},
        base | {"temper": "heat treated", "route": "cast"},
    ]  # fmt: skip
    return pd.DataFrame(rows)


def test_process_v2_temper_and_schedule_rows_share_the_state():
    from alloyml.features import featurize

    F = featurize(_v2_frame(), "alloy_v2")
    for col in ("proc_state_solution_treated", "proc_state_artificial_aged",
                "proc_state_heat_treated", "proc_stages_implied"):  # fmt: skip
        assert F[col].iloc[0] == F[col].iloc[1] == 1.0, col
    assert F["proc_schedule_known"].tolist() == [0.0, 1.0, 0.0, 0.0, 0.0]
    assert F["proc_state_stretched"].iloc[0] == 1.0  # T651: stress relieved by stretching
    # as-cast: known, nothing done after casting; route family cast
    assert F["proc_state_known"].iloc[2] == 1.0
    assert F["proc_state_heat_treated"].iloc[2] == 0.0
    assert F["proc_route_family_cast"].iloc[2] == 1.0
    # an undecodable state stays explicitly unknown
    assert F["proc_state_known"].iloc[3] == 0.0
    assert F["proc_state_solution_treated"].iloc[3] == -2.0
    # "heat treated" with no detail: the HT pseudo-class, heat treated, detail unknown
    assert F["proc_temper_HT"].iloc[4] == 1.0
    assert F["proc_state_heat_treated"].iloc[4] == 1.0
    assert F["proc_state_detail_known"].iloc[4] == 0.0
    assert F["family_7xxx"].iloc[0] == 1.0


def test_schedule_imputer_fills_temper_rows_from_scheduled_rows_of_their_class():
    from alloyml.features import featurize
    from alloyml.modeling.models import ScheduleImputer, make_model

    frame = _v2_frame()
    # the T651 row (class T6) gives no schedule; the scheduled row, written T6, teaches the class
    frame.loc[1, "temper"] = "T6"
    F = featurize(frame, "alloy_v2")
    names = tuple(F.columns)
    X = F.to_numpy()
    imp = ScheduleImputer(names).fit(X)
    Z = imp.transform(X)
    j = names.index("proc_sol1_T_C")
    k = names.index("proc_age1_t_h")
    assert X[0, j] == 0.0 and Z[0, j] == 475.0 and Z[0, k] == 24.0
    # rows not implying stages, or already scheduled, are untouched
    np.testing.assert_array_equal(Z[1:], X[1:])
    model = make_model("ridge", 0, 1, names)
    assert type(model).__name__ == "ImputedRegressor"
    assert type(make_model("ridge", 0, 1, names[:10])).__name__ != "ImputedRegressor"


def test_schedule_imputer_uses_the_schedule_of_the_rows_alloy_family():
    """A 6061-T6 without a schedule takes the T6 schedule of scheduled 6xxx rows, not that of
    the (more numerous) scheduled 7xxx rows; a family with too few scheduled rows of the class
    takes the class median over every family."""
    from alloyml.features import featurize
    from alloyml.modeling.models import ScheduleImputer

    al7 = {"Al": 90.0, "Zn": 6.0, "Mg": 2.5, "Cu": 1.5}
    al6 = {"Al": 97.7, "Mg": 1.0, "Si": 0.6, "Cu": 0.3, "Cr": 0.2, "Fe": 0.2}
    al2 = {"Al": 93.5, "Cu": 4.4, "Mg": 1.5, "Mn": 0.6}
    sched = {"sol1_T_C": 530.0, "sol1_t_h": 1.0, "temper": "T6", "route": "extruded"}
    rows = (
        [al7 | sched | {"sol1_T_C": 475.0, "age1_T_C": 120.0, "age1_t_h": 24.0}] * 9
        + [al6 | sched | {"age1_T_C": 175.0, "age1_t_h": 8.0}] * 5
        + [al2 | sched | {"age1_T_C": 190.0, "age1_t_h": 12.0}] * 2  # too few: class median
        + [al6 | {"temper": "T6", "route": "extruded"}, al2 | {"temper": "T6", "route": "rolled"}]
    )
    F = featurize(pd.DataFrame(rows), "alloy_v2")
    names = tuple(F.columns)
    X = F.to_numpy()
    Z = ScheduleImputer(names).fit(X[:16]).transform(X)
    t, h = names.index("proc_age1_T_C"), names.index("proc_age1_t_h")
    assert (Z[16, t], Z[16, h]) == (175.0, 8.0)  # the 6xxx T6 schedule
    assert Z[17, t] == np.median(X[:16, t]) == 120.0  # 2xxx: the T6 median of every family
    np.testing.assert_array_equal(Z[:16], X[:16])
    # without the family one-hot the imputer is per temper class, as before
    keep = [j for j, f in enumerate(names) if not f.startswith("family_")]
    plain = ScheduleImputer(tuple(names[j] for j in keep)).fit(X[:16][:, keep])
    assert plain.transform(X[:, keep])[16, keep.index(t)] == 120.0
    # a bundle written before the family slots stores the class medians alone (2-D)
    from alloyml.modeling.compact import ScheduleFill

    imp = ScheduleImputer(names).fit(X[:16])
    old = ScheduleFill(names, imp.medians_[-1], imp.fitted_keys_[-1]).transform(X)
    assert old[16, t] == old[17, t] == 120.0


def test_schedule_imputer_gives_t9_the_t6_schedule_when_no_t9_row_has_one():
    """T9 is the T6 treatment followed by cold work (ANSI H35.1). With no scheduled T9 row in
    training, a 6061-T9 takes the 6xxx T6 schedule (left at "no stage", it came out below T6);
    a scheduled T9 row teaches its own class; a T10 row without any T5 schedule is left as is."""
    from alloyml.features import featurize
    from alloyml.modeling.compact import ScheduleFill
    from alloyml.modeling.models import ScheduleImputer

    al6 = {"Al": 97.7, "Mg": 1.0, "Si": 0.6, "Cu": 0.3, "Cr": 0.2, "Fe": 0.2, "route": "extruded"}
    t6 = {"sol1_T_C": 530.0, "sol1_t_h": 1.0, "age1_T_C": 175.0, "age1_t_h": 8.0, "temper": "T6"}
    rows = [al6 | t6] * 5 + [al6 | {"temper": "T9"}, al6 | {"temper": "T10"}]
    F = featurize(pd.DataFrame(rows), "alloy_v2")
    names = tuple(F.columns)
    X = F.to_numpy()
    imp = ScheduleImputer(names).fit(X[:5])
    t, h = names.index("proc_age1_T_C"), names.index("proc_age1_t_h")
    for Z in (imp.transform(X), ScheduleFill(names, imp.medians_, imp.fitted_keys_).transform(X)):
        assert (Z[5, t], Z[5, h]) == (175.0, 8.0)
        assert Z[5, names.index("proc_state_cold_work_after_ageing")] == 1.0
        assert Z[5, names.index("proc_temper_T9")] == 1.0  # the class stays T9
        np.testing.assert_array_equal(Z[6], X[6])  # no T5 schedule: nothing to take
    # a scheduled T9 row in training: T9 rows take their own class's schedule
    own = pd.DataFrame([al6 | t6 | {"temper": "T9", "age1_T_C": 160.0, "age1_t_h": 10.0}])
    X9 = featurize(own, "alloy_v2").to_numpy()
    Z = ScheduleImputer(names).fit(np.vstack([X[:5], X9])).transform(X)
    assert (Z[5, t], Z[5, h]) == (160.0, 10.0)


def test_process_v2_decodes_each_row_by_its_systems_standard():
    """T2 is annealed for a magnesium casting (ASTM B296) and cold worked + naturally aged for
    aluminium (ANSI H35.1): the featurizer reads the standard off each row's base element."""
    from alloyml.features import featurize

    frame = pd.DataFrame(
        [
            {"Mg": 90.0, "Al": 9.0, "Zn": 1.0, "temper": "T2", "route": "cast_sand"},
            {"Al": 95.6, "Cu": 4.4, "temper": "T2", "route": "extruded"},
        ]
    )
    F = featurize(frame, "alloy_v2")
    assert F["family_Mg-Al"].iloc[0] == 1.0 and F["family_2xxx"].iloc[1] == 1.0
    assert F["proc_state_annealed"].tolist() == [1.0, 0.0]
    assert F["proc_state_cold_work_before_ageing"].tolist() == [0.0, 1.0]
    assert F["proc_state_natural_aged"].tolist() == [0.0, 1.0]


def test_schedule_completes_the_designation_without_contradicting_it():
    """A room-temperature ageing stage (Hu's and Jiang's 25 degC rows) is natural ageing, not
    artificial; a solution-column temperature on an O temper (an anneal) does not make the row
    solution treated; a schedule on a row without a designation still sets both."""
    from alloyml.features import featurize

    base = {"Al": 95.6, "Cu": 4.4, "route": "rolled"}
    frame = pd.DataFrame(
        [
            {**base, "temper": "T4", "sol1_T_C": 495.0, "age1_T_C": 25.0, "age1_t_h": 96.0},
            {**base, "temper": "O", "sol1_T_C": 413.0},
            {**base, "temper": None, "sol1_T_C": 495.0, "age1_T_C": 190.0, "age1_t_h": 12.0},
            {**base, "temper": None, "sol1_T_C": 495.0, "age1_T_C": 25.0, "age1_t_h": 96.0},
        ]
    )
    F = featurize(frame, "alloy_v2")
    assert F["proc_state_natural_aged"].tolist() == [1.0, 0.0, -2.0, 1.0]
    assert F["proc_state_artificial_aged"].tolist() == [0.0, 0.0, 1.0, -2.0]
    assert F["proc_state_solution_treated"].tolist() == [1.0, 0.0, 1.0, 1.0]
    assert F["proc_state_annealed"].tolist()[:2] == [0.0, 1.0]


def test_strain_hardened_row_of_unstated_degree_sits_at_half_hard():
    """ANU's 'strain hardened' class gives no H degree: half hard (4 eighths), flagged as a
    detail not given, not the unknown code that sorts it below every H temper."""
    from alloyml.features import featurize

    base = {"Al": 98.8, "Mn": 1.2, "route": "rolled"}
    frame = pd.DataFrame([{**base, "temper": t} for t in ("strain hardened", "H18", "O", "H112")])
    F = featurize(frame, "alloy_v2")
    # a designation keeps the decoder's degree (H112: one eighth, as fabricated)
    assert F["proc_state_hardness_eighths"].tolist() == [4.0, 8.0, -2.0, 1.0]
    assert F["proc_state_detail_known"].tolist() == [0.0, 1.0, 1.0, 1.0]
