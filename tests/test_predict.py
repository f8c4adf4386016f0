"""Prediction for scientists: input canonicalisation, tables, alloy strings and ``alloyml predict``.

Bundles for ``uts_mpa`` and ``elong_pct`` are trained once per module with ``train_target``
(ridge only, 150 real jiang_7xxx rows, full ``alloy_v1`` preset) and saved under a temporary
``models/al/``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits
from typer.testing import CliRunner

from alloyml.cli import app
from alloyml.errors import AlloyMLError
from alloyml.features import feature_labels, featurize
from alloyml.modeling.bundle import Bundle, save_bundle
from alloyml.modeling.predict import canonical_inputs, load_bundles, predict_string, predict_table
from alloyml.modeling.train import TrainConfig, train_target
from alloyml.schema import ELEMENTS, PROCESS_NUMERIC

TARGETS = ("uts_mpa", "elong_pct")
ALLOY = "Al-5.6Zn-2.5Mg-1.6Cu-0.23Cr"
CFG = TrainConfig(
    seed=42,
    models=("ridge",),
    folds=3,
    inner_folds=2,
    tuning_trials=0,
    n_jobs=1,
    learning_curve_fractions=(1.0,),
)


# ---------------------------------------------------------------- canonical_inputs (no model)


@pytest.fixture
def user_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["ok", "neg", "over", "temper?", "route?", "nan", "al-ok", "al-off"],
            "Zn": [5.6, -1.0, 60.0, 5.6, 5.6, "abc", 6.0, 6.0],
            "Mg": [2.5, 2.0, 50.0, 2.5, 2.5, 2.0, None, None],
            "Cu": [1.6, 1.0, 1.0, 1.6, 1.6, 1.0, None, None],
            "Cr": [0.23, None, None, None, None, None, None, None],
            "Al": [None, None, None, None, None, None, 94.0, 80.0],
            "temper": ["T651", "T6", None, "Q9", "T7351", None, "O", None],
            "route": ["rolled", None, None, None, "teleported", None, "Extruded", None],
            "age1_T_C": [120.0, None, None, None, None, None, None, None],
            "colour": ["grey"] * 8,
        },
        index=[10, 11, 12, 13, 14, 15, 16, 17],
    )


def test_column_names_are_read_whatever_their_case(user_table):
    """A spreadsheet's "Temper", "ROUTE", " zn " and "AGE1_T_C" are the canonical columns."""
    shouted = user_table.rename(
        columns={"temper": "Temper", "route": "ROUTE", "Zn": " zn ", "age1_T_C": "AGE1_T_C"}
    )
    rows, errors, unknown = canonical_inputs(shouted, "al")
    ref_rows, ref_errors, ref_unknown = canonical_inputs(user_table, "al")
    pd.testing.assert_frame_equal(rows, ref_rows)
    pd.testing.assert_series_equal(errors, ref_errors)
    assert unknown == ref_unknown == ["colour"]
    # ambiguous: two spellings of one column, or a spelling beside the canonical name
    both = user_table.assign(TEMPER=["T6"] * len(user_table))
    _, _, unknown = canonical_inputs(both, "al")
    assert "TEMPER" in unknown
    twice = shouted.assign(tEmPeR=["T6"] * len(shouted))
    rows, _, unknown = canonical_inputs(twice, "al")
    assert {"Temper", "tEmPeR"} <= set(unknown) and rows["temper"].isna().all()


def test_canonical_inputs_balance_and_defaults(user_table):
    rows, errors, unknown = canonical_inputs(user_table, "al")
    assert unknown == ["colour"]
    assert list(rows.index) == list(user_table.index)
    assert set(ELEMENTS) <= set(rows.columns) and set(PROCESS_NUMERIC) <= set(rows.columns)
    ok = rows.loc[10]
    assert ok["Al"] == pytest.approx(100.0 - 5.6 - 2.5 - 1.6 - 0.23)
    assert ok["Li"] == 0.0 and ok["Si"] == 0.0  # elements not given are 0
    assert ok["temper_class"] == "T6"  # T651 is a T6 variant
    assert ok["route"] == "rolled"
    assert ok["age1_T_C"] == 120.0 and np.isnan(ok["age1_t_h"])  # unknown process stays NaN
    assert rows.loc[16, "route"] == "extruded" and rows.loc[16, "temper_class"] == "O"
    assert errors.loc[10] == "" and errors.loc[16] == ""
    assert rows.loc[16, "Al"] == pytest.approx(94.0)


@pytest.mark.parametrize(
    ("idx", "fragment"),
    [
        (11, "negative element amount"),
        (12, "more than 100 wt%"),
        (14, "unknown route 'teleported'"),
        (15, "Zn: not a number"),
        (17, "Al + other elements differ from 100 wt%"),
    ],
)
def test_canonical_inputs_bad_rows_get_a_message(user_table, idx, fragment):
    _, errors, _ = canonical_inputs(user_table, "al")
    assert fragment in errors.loc[idx]
    assert not errors.loc[idx].endswith(";")


def test_undecodable_temper_is_predicted_with_an_unknown_process_flag(user_table):
    """'Q9' cannot be decoded: the row is still an alloy (no error) and is flagged instead."""
    rows, errors, _ = canonical_inputs(user_table, "al")
    assert errors.loc[13] == ""
    assert not rows.loc[13, "process_known"] and pd.isna(rows.loc[13, "temper_class"])
    assert rows.loc[10, "process_known"]  # T651
    assert not rows.loc[17, "process_known"]  # no temper at all: unknown, not a default


STATES = [
    # temper, temper_class column, route column -> temper_class, process_known, route
    ("T7451", None, "rolled", "T7", True, "rolled"),
    ("cast + T6", None, None, "T6", True, "cast"),
    ("as-cast", None, None, "F", True, "cast"),
    ("Die cast F", None, None, "F", True, "cast_die"),
    ("extruded + T5", None, None, "T5", True, "extruded"),
    ("solution treated + quenched + peak aged", None, "forged", "T6", True, "forged"),
    ("retrogression and re-ageing", None, None, "RRA", True, "wrought"),
    ("heat treated", None, "cast", None, True, "cast"),
    (None, "T7", "extruded", "T7", True, "extruded"),
    ("T4P", None, None, "T4", True, "wrought"),
    ("T10", None, None, None, True, "wrought"),
    ("wibble", None, None, None, False, "wrought"),
]


@pytest.mark.parametrize(("temper", "cls_in", "route_in", "cls", "known", "route"), STATES,
                         ids=[repr(s[0]) for s in STATES])  # fmt: skip
def test_canonical_inputs_decode_designations_and_free_text(
    temper, cls_in, route_in, cls, known, route
):
    table = pd.DataFrame(
        {"Zn": [5.6], "Mg": [2.5], "temper": [temper], "temper_class": [cls_in],
         "route": [route_in]}
    )  # fmt: skip
    rows, errors, _ = canonical_inputs(table, "al")
    assert errors.iloc[0] == ""
    got_cls = rows["temper_class"].iloc[0]
    assert (None if pd.isna(got_cls) else got_cls) == cls
    assert bool(rows["process_known"].iloc[0]) is known
    assert rows["route"].iloc[0] == route
    assert bool(rows["route_from_temper"].iloc[0]) is (route_in is None and route != "wrought")


def test_mg_as_cast_takes_its_route_from_the_temper():
    rows, errors, _ = canonical_inputs(
        pd.DataFrame({"Zn": [1.0], "Ca": [0.3], "temper": ["as-cast"]}), "mg"
    )
    assert errors.iloc[0] == "" and rows["route"].iloc[0] == "cast"
    assert rows["temper_class"].iloc[0] == "F" and not rows["route_assumed"].iloc[0]


def test_mg_t2_is_decoded_with_astm_b296():
    rows, _, _ = canonical_inputs(pd.DataFrame({"Al": [9.0], "temper": ["T2"]}), "mg")
    assert rows["temper_class"].iloc[0] == "T2" and rows["process_known"].iloc[0]


@pytest.mark.parametrize(
    ("temper", "route", "fragment"),
    [("wibble", None, "temper 'wibble' not recognised"),
     ("T6", "teleported", "unknown route 'teleported'")],
)  # fmt: skip
def test_predict_string_rejects_undecodable_process(temper, route, fragment):
    with pytest.raises(AlloyMLError, match=fragment):
        predict_string(ALLOY, "al", {}, temper=temper, route=route)


def test_canonical_inputs_mg_balance():
    rows, errors, _ = canonical_inputs(pd.DataFrame({"Li": [14.0], "Al": [1.0]}), "mg")
    assert errors.iloc[0] == ""
    assert rows["Mg"].iloc[0] == pytest.approx(85.0)
    assert rows["Al"].iloc[0] == 1.0


# ---------------------------------------------------------------- trained bundles


@pytest.fixture(scope="module")
def jiang(jiang_subset) -> pd.DataFrame:
    """150 cleaned jiang_7xxx rows (UTS and elongation), sampled with a fixed seed."""
    return jiang_subset(150, seed=5, targets=("uts_mpa", "elong_pct"))


@pytest.fixture(scope="module")
def models_dir(jiang, tmp_path_factory) -> Path:
    feats = feature_labels("alloy_v1")
    X = featurize(jiang, "alloy_v1")[feats].to_numpy(dtype=float)
    out = tmp_path_factory.mktemp("models")
    with threadpool_limits(limits=1):
        for target in TARGETS:
            res = train_target(
                X,
                jiang[target].to_numpy(dtype=float),
                jiang["group_id"].to_numpy(),
                jiang["source_id"].astype(str).to_numpy(),
                feats,
                target,
                CFG,
            )
            res.bundle.meta |= {"system": "al", "preset": "alloy_v1", "data_digest": "test"}
            save_bundle(res.bundle, out / "al" / target)
    return out


@pytest.fixture(scope="module")
def bundles(models_dir) -> dict[str, Bundle]:
    return load_bundles(models_dir, "al")


realdata = pytest.mark.realdata


@realdata
def test_load_bundles_finds_every_trained_target(bundles, models_dir, tmp_path):
    assert set(bundles) == set(TARGETS)
    with pytest.raises(AlloyMLError, match="dvc repro"):
        load_bundles(models_dir, "mg")
    with pytest.raises(AlloyMLError, match="dvc repro"):
        load_bundles(tmp_path / "nowhere", "al")


@realdata
def test_predict_table_columns_and_errors(bundles, user_table, caplog):
    with caplog.at_level(logging.WARNING, logger="alloyml.modeling.predict"):
        out = predict_table(user_table, "al", bundles)
    assert "colour" in caplog.text
    assert list(out.index) == list(user_table.index)
    assert list(out.columns[: len(user_table.columns)]) == list(user_table.columns)
    for t in TARGETS:
        assert {f"{t}_pred", f"{t}_lo", f"{t}_hi", f"{t}_in_domain"} <= set(out.columns)
    assert {"in_domain", "error", "Al_wt"} <= set(out.columns)
    ok = out["error"] == ""
    assert ok.tolist() == [True, False, False, True, False, False, True, False]
    assert out["process_known"].tolist() == [True, True, False, False, True, False, True, False]
    for t in TARGETS:
        good = out.loc[ok]
        assert np.isfinite(good[f"{t}_pred"].astype(float)).all()
        assert (good[f"{t}_lo"] <= good[f"{t}_pred"]).all()
        assert (good[f"{t}_pred"] <= good[f"{t}_hi"]).all()
        assert (good[f"{t}_lo"] >= 0).all()  # properties are non-negative
        bad = out.loc[~ok]
        assert bad[[f"{t}_pred", f"{t}_lo", f"{t}_hi"]].isna().all().all()
        assert bad[f"{t}_in_domain"].isna().all()
    assert out.loc[~ok, "in_domain"].isna().all()
    both = out.loc[ok, "uts_mpa_in_domain"] & out.loc[ok, "elong_pct_in_domain"]
    assert out.loc[ok, "in_domain"].tolist() == both.tolist()
    assert out.loc[10, "Al_wt"] == pytest.approx(90.07)


@realdata
def test_large_tables_predict_the_targets_in_threads_with_the_same_result(
    bundles, user_table, monkeypatch
):
    import alloyml.modeling.predict as predict_module

    big = pd.concat([user_table] * 3, ignore_index=True)
    monkeypatch.setattr(predict_module, "PARALLEL_ROWS", 10**9)
    sequential = predict_table(big, "al", bundles)
    monkeypatch.setattr(predict_module, "PARALLEL_ROWS", 1)
    threaded = predict_table(big, "al", bundles)
    pd.testing.assert_frame_equal(threaded, sequential)
    assert (threaded["error"] == "").sum() == 9


@realdata
def test_predict_table_on_training_rows_matches_the_training_features(bundles, jiang):
    """The user path (canonical_inputs + featurize) rebuilds exactly the training features."""
    cols = [*ELEMENTS, *PROCESS_NUMERIC, "route", "temper_class"]
    rows = jiang.head(20)
    out = predict_table(rows[cols].copy(), "al", bundles)
    assert (out["error"] == "").all()
    for t, b in bundles.items():
        want = b.predict(featurize(rows, "alloy_v1")[b.features].to_numpy(dtype=float))
        np.testing.assert_allclose(out[f"{t}_pred"].to_numpy(float), want["pred"], rtol=1e-9)
        assert out[f"{t}_in_domain"].astype(bool).tolist() == want["in_domain"].tolist()
    assert out["in_domain"].mean() > 0.8  # training rows are in domain


@realdata
def test_far_alloy_is_out_of_domain(bundles):
    out = predict_table(pd.DataFrame({"Li": [3.0], "Si": [12.0], "Ni": [5.0]}), "al", bundles)
    assert out["error"].iloc[0] == ""
    assert not out["in_domain"].iloc[0]


@realdata
def test_predict_string(bundles):
    out = predict_string(ALLOY, "al", bundles, temper="T651", route="rolled")
    assert len(out) == 1
    row = out.iloc[0]
    assert row["id"] == ALLOY and row["error"] == ""
    assert row["Al_wt"] == pytest.approx(90.07)
    assert 300 < row["uts_mpa_pred"] < 800  # a peak-aged 7xxx alloy
    assert row["uts_mpa_lo"] <= row["uts_mpa_pred"] <= row["uts_mpa_hi"]
    # same alloy through the table path
    table = pd.DataFrame(
        [{"Zn": 5.6, "Mg": 2.5, "Cu": 1.6, "Cr": 0.23, "temper": "T651", "route": "rolled"}]
    )
    via_table = predict_table(table, "al", bundles)
    assert via_table["uts_mpa_pred"].iloc[0] == pytest.approx(row["uts_mpa_pred"])


@realdata
def test_predict_string_rejects_other_system(bundles):
    with pytest.raises(AlloyMLError, match="not a al alloy"):
        predict_string("Mg-14Li-1Al", "al", bundles)


# ---------------------------------------------------------------- alloyml predict


@pytest.fixture
def run():
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, ["predict", *args], env={"COLUMNS": "240"})

    return invoke


def _assert_clean_failure(result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    for frag in fragments:
        assert frag in result.output, result.output


@realdata
def test_cli_predict_string(run, models_dir):
    result = run(ALLOY, "--temper", "T6", "--models-dir", str(models_dir))
    assert result.exit_code == 0, result.output
    assert result.exception is None
    for t in TARGETS:
        assert t in result.output
    assert ALLOY in result.output


@realdata
def test_cli_predict_csv(run, models_dir, tmp_path):
    src = tmp_path / "in.csv"
    pd.DataFrame(
        {
            "id": ["a", "b"],
            "Zn": [5.6, -2.0],
            "Mg": [2.5, 2.5],
            "Cu": [1.6, 1.6],
            "temper": ["T6", "T6"],
        }
    ).to_csv(src, index=False)
    dst = tmp_path / "out.csv"
    result = run("--input", str(src), "--output", str(dst), "--models-dir", str(models_dir))
    assert result.exit_code == 0, result.output
    assert "1 rows predicted, 1 with errors" in result.output
    out = pd.read_csv(dst, keep_default_na=False, na_values=[""])
    for t in TARGETS:
        assert {f"{t}_pred", f"{t}_lo", f"{t}_hi", f"{t}_in_domain"} <= set(out.columns)
    assert np.isfinite(out.loc[0, "uts_mpa_pred"])
    assert np.isnan(out.loc[1, "uts_mpa_pred"])
    assert "negative element amount" in out.loc[1, "error"]


@realdata
@pytest.mark.parametrize("temper", ["cast + T6", "solution treated + peak aged", "T7451", "RRA"])
def test_cli_predict_string_accepts_states(run, models_dir, temper):
    result = run(ALLOY, "--temper", temper, "--models-dir", str(models_dir))
    assert result.exit_code == 0, result.output
    assert "uts_mpa" in result.output and "unknown" not in result.output


@realdata
@pytest.mark.parametrize(
    ("args", "fragment"),
    [(("--temper", "wibble"), "temper 'wibble' not recognised"),
     (("--temper", "T6", "--route", "teleported"), "unknown route 'teleported'")],
)  # fmt: skip
def test_cli_predict_string_undecodable_process_fails_cleanly(run, models_dir, args, fragment):
    _assert_clean_failure(run(ALLOY, *args, "--models-dir", str(models_dir)), fragment)


@realdata
def test_cli_predict_string_without_temper_says_the_state_is_unknown(run, models_dir):
    result = run(ALLOY, "--models-dir", str(models_dir))
    assert result.exit_code == 0, result.output
    assert "process state unknown" in result.output


@realdata
def test_cli_predict_csv_process_known_column(run, models_dir, tmp_path):
    src = tmp_path / "in.csv"
    tempers = ["T651", "cast + T6", "as-cast", "wibble", "", "heat treated"]
    pd.DataFrame({"Zn": [5.6] * 6, "Mg": [2.5] * 6, "Cu": [1.6] * 6, "temper": tempers}).to_csv(
        src, index=False
    )
    dst = tmp_path / "out.csv"
    result = run("--input", str(src), "--output", str(dst), "--models-dir", str(models_dir))
    assert result.exit_code == 0, result.output
    assert "2 predicted rows have an unknown process state" in result.output
    out = pd.read_csv(dst, keep_default_na=False, na_values=[""])
    assert out["process_known"].tolist() == [True, True, True, False, False, True]
    assert (out["error"].fillna("") == "").all()
    assert np.isfinite(out["uts_mpa_pred"].astype(float)).all()
    for t in TARGETS:  # the contract is unchanged
        assert {f"{t}_pred", f"{t}_lo", f"{t}_hi", f"{t}_in_domain"} <= set(out.columns)
    assert {"in_domain", "error"} <= set(out.columns)


def test_cli_missing_models_dir(run, tmp_path):
    result = run(ALLOY, "--models-dir", str(tmp_path / "no-models"))
    _assert_clean_failure(result, "dvc repro")


def test_cli_string_and_input_together(run, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("Zn,Mg\n5.6,2.5\n")
    _assert_clean_failure(run(ALLOY, "--input", str(src), "--models-dir", str(tmp_path)), "either")
    _assert_clean_failure(run("--models-dir", str(tmp_path)), "either")


def test_cli_rejects_unknown_system(run, tmp_path):
    _assert_clean_failure(run(ALLOY, "--system", "ti", "--models-dir", str(tmp_path)), "al or mg")


def test_route_assumed_for_al_only():
    table = pd.DataFrame({"Zn": [5.6, 5.6], "Mg": [2.5, 2.5], "route": [None, "extruded"]})
    rows, errors, _ = canonical_inputs(table, "al")
    assert list(rows["route"]) == ["wrought", "extruded"]
    assert list(rows["route_assumed"]) == [True, False]
    mg = pd.DataFrame({"Li": [14.0], "Al": [1.0]})
    rows_mg, _, _ = canonical_inputs(mg, "mg")
    assert pd.isna(rows_mg["route"].iloc[0]) and not rows_mg["route_assumed"].iloc[0]


# ---------------------------------------------------------------- bad inputs (issue 13 probes)


def _errors(table: dict, system: str = "al") -> pd.Series:
    return canonical_inputs(pd.DataFrame(table), system)[1]


def test_non_numeric_process_cell_is_a_row_error_not_nan():
    errors = _errors({"Zn": [5.6, 5.6], "Mg": [2.5, 2.5], "age1_T_C": ["hot", "120"]})
    assert "age1_T_C" in errors.iloc[0] and "'hot'" in errors.iloc[0]
    assert errors.iloc[1] == ""


@pytest.mark.parametrize("value", ["inf", "-inf", float("inf")])
def test_infinite_amount_is_named_as_such(value):
    errors = _errors({"Zn": [value], "Mg": [2.5]})
    assert "Zn: not a finite number" in errors.iloc[0]
    assert "more than 100" not in errors.iloc[0]


def test_infinite_process_value_is_a_row_error():
    assert "age1_t_h: not a finite number" in _errors({"Zn": [5.6], "age1_t_h": [np.inf]}).iloc[0]


@pytest.mark.parametrize(
    "table",
    [
        {"Al": [90.3], "Zn": [5.6], "Mg": [2.5], "Cu": [1.6]},  # Mg given, sums to 100
        {"Zn": [5.6], "Cu": [1.6], "Al": [92.8]},  # no Mg column: Mg would be 0
    ],
)
def test_al_alloy_is_refused_under_mg(table):
    """The string path refuses 'Al-5.6Zn' under --system mg; the table path must too."""
    err = _errors(table, "mg").iloc[0]
    assert "not a mg alloy" in err and "largest constituent is Al" in err
    assert _errors({"Li": [14.0], "Al": [1.0]}, "mg").iloc[0] == ""


def test_unmodelled_element_column_makes_the_row_an_error():
    rows, errors, unknown = canonical_inputs(
        pd.DataFrame({"Zn": [5.6, 5.6, 5.6], "Mg": [2.5] * 3, "Hf": [2.0, 0.0, None]}), "al"
    )
    assert "Hf" in unknown
    assert "Hf" in errors.iloc[0] and "not modelled" in errors.iloc[0]
    assert errors.iloc[1] == "" and errors.iloc[2] == ""  # no hafnium: nothing dropped
    assert rows["Al"].iloc[1] == pytest.approx(91.9)


def test_element_column_with_a_unit_is_not_silently_ignored():
    errors = _errors({"Zn (wt%)": [5.6], "Mg": [2.5]})
    assert "'Zn (wt%)'" in errors.iloc[0] and "name the column Zn" in errors.iloc[0]


def test_predict_string_and_table_share_the_system_rule():
    """No model needed: the string path refuses before predicting."""
    with pytest.raises(AlloyMLError, match="not a mg alloy: its largest constituent is Al"):
        predict_string("Al-5.6Zn-2.5Mg", "mg", {})


@realdata
@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--temper", "Q9"), "not recognised"),
        (("--route", "teleported"), "unknown route 'teleported'"),
    ],
)
def test_cli_unknown_temper_or_route_exits_non_zero(run, models_dir, args, fragment):
    _assert_clean_failure(run(ALLOY, *args, "--models-dir", str(models_dir)), fragment)


@realdata
def test_cli_doubled_dash_is_refused(run, models_dir):
    _assert_clean_failure(run("Al-5Zn--2Mg", "--models-dir", str(models_dir)), "empty part")


@realdata
def test_cli_csv_row_errors_name_row_and_column(run, models_dir, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("Zn,Mg,Cu,temper,age1_T_C,Hf\n5.6,2.5,1.6,T6,hot,0\n5.6,2.5,1.6,T6,120,0\n")
    dst = tmp_path / "new" / "folder" / "out.csv"  # --output into a missing folder
    result = run("--input", str(src), "--output", str(dst), "--models-dir", str(models_dir))
    assert result.exit_code == 0, result.output
    assert "1 rows predicted, 1 with errors" in result.output
    out = pd.read_csv(dst, keep_default_na=False, na_values=[""])
    assert "age1_T_C: 'hot' is not a number" in out.loc[0, "error"]
    assert pd.isna(out.loc[1, "error"]) and np.isfinite(out.loc[1, "uts_mpa_pred"])
    shown = run("--input", str(src), "--models-dir", str(models_dir))
    assert shown.exit_code == 0, shown.output
    assert "row 0: age1_T_C: 'hot' is not a number" in shown.output


@realdata
def test_cli_csv_with_no_usable_row_exits_non_zero(run, models_dir, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text("Zn,Mg,age1_T_C\ninf,2.5,120\n5.6,2.5,hot\n")
    _assert_clean_failure(
        run("--input", str(src), "--models-dir", str(models_dir)), "no row could be predicted"
    )


def test_cli_output_that_cannot_be_written(run, tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    result = run(ALLOY, "--output", str(blocker / "out.csv"), "--models-dir", str(tmp_path))
    _assert_clean_failure(result, "--output", "a_file")


@realdata
def test_cli_semicolon_csv_with_decimal_commas(run, models_dir, tmp_path):
    """A ';' file used to be read as one unknown column and every row predicted as pure Al."""
    comma, semi = tmp_path / "comma.csv", tmp_path / "semi.csv"
    comma.write_text("Zn,Mg,Cu,temper\n5.6,2.5,1.6,T6\n")
    semi.write_text("Zn;Mg;Cu;temper\n5,6;2,5;1,6;T6\n")
    outs = []
    for src in (comma, semi):
        dst = tmp_path / f"{src.stem}.out.csv"
        result = run("--input", str(src), "--output", str(dst), "--models-dir", str(models_dir))
        assert result.exit_code == 0, result.output
        outs.append(pd.read_csv(dst))
    assert outs[1].loc[0, "Al_wt"] == pytest.approx(90.3)
    assert outs[1].loc[0, "uts_mpa_pred"] == pytest.approx(outs[0].loc[0, "uts_mpa_pred"])


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"alloy|strength\nx|1\n", "no element column"),
        ("Zn,Mg,id\n5.6,2.5,Jürgen\n".encode("latin-1"), "not UTF-8 text"),
    ],
)
def test_cli_unreadable_input_csv(run, tmp_path, content, fragment):
    src = tmp_path / "in.csv"
    src.write_bytes(content)
    _assert_clean_failure(run("--input", str(src), "--models-dir", str(tmp_path)), fragment)


def test_project_ys_uts_is_a_projection_that_never_moves_away_from_a_real_pair():
    from alloyml.modeling.consistency import project_ys_uts

    rng = np.random.default_rng(3)
    ys, uts = rng.uniform(100, 700, 500), rng.uniform(100, 700, 500)
    h_ys, h_uts = rng.uniform(10, 200, 500), rng.uniform(10, 200, 500)
    new_ys, new_uts, moved = project_ys_uts(ys, uts, h_ys, h_uts)
    assert moved.tolist() == (ys > uts).tolist() and 0 < moved.sum() < 500
    assert (new_ys <= new_uts + 1e-9).all()
    np.testing.assert_array_equal(new_ys[~moved], ys[~moved])  # consistent rows stay
    np.testing.assert_array_equal(new_uts[~moved], uts[~moved])
    # the wider interval moves more: the moved pair meets nearer the narrower one
    w = 1 / h_ys**2, 1 / h_uts**2
    np.testing.assert_allclose(new_ys[moved], ((w[0] * ys + w[1] * uts) / (w[0] + w[1]))[moved])
    # any real pair (yield <= tensile): the projected prediction is never farther from it
    true_uts = rng.uniform(100, 700, 500)
    true_ys = true_uts * rng.uniform(0.4, 1.0, 500)
    before = w[0] * (ys - true_ys) ** 2 + w[1] * (uts - true_uts) ** 2
    after = w[0] * (new_ys - true_ys) ** 2 + w[1] * (new_uts - true_uts) ** 2
    assert (after <= before + 1e-9).all() and (after < before)[moved].any()


class _Shifted:
    """An estimator predicting ``shift`` above another (a yield model gone astray)."""

    def __init__(self, est, shift: float) -> None:
        self.est, self.shift = est, shift

    def predict(self, X):
        return self.est.predict(X) + self.shift


@realdata
def test_predicted_yield_never_exceeds_tensile_strength(bundles, user_table):
    import copy

    ys = copy.deepcopy(bundles["uts_mpa"])  # a yield model predicting above the tensile one
    ys.estimator = _Shifted(ys.estimator, 50.0)
    with_ys = bundles | {"ys_mpa": ys}
    out = predict_table(user_table, "al", with_ys)
    ok = out["error"] == ""
    good = out.loc[ok]
    assert (good["ys_mpa_pred"] <= good["uts_mpa_pred"] + 1e-9).all()
    assert good["ys_uts_projected"].all() and out.loc[~ok, "ys_uts_projected"].isna().all()
    # moved pairs meet at one value; the intervals move with them and keep their widths
    np.testing.assert_allclose(good["ys_mpa_pred"], good["uts_mpa_pred"])
    raw = predict_table(user_table, "al", bundles).loc[ok]
    np.testing.assert_allclose(
        good["uts_mpa_hi"] - good["uts_mpa_lo"], raw["uts_mpa_hi"] - raw["uts_mpa_lo"]
    )
    assert "ys_uts_projected" not in raw  # without both strengths nothing is projected
