"""Clean stage: physical checks, replicates, cross-source duplicates, derived columns, accounting."""

from __future__ import annotations

import json
import runpy

import numpy as np
import pandas as pd
import pytest

from alloyml.curation.clean import (
    aggregate_replicates,
    clean_system,
    composition_key,
    physical_checks,
)
from alloyml.errors import AccountingError
from alloyml.params import CleanParams, clean_params, load_yaml
from alloyml.schema import ADAPTER_COLUMNS, PROCESSED_SCHEMA, conform

PARAMS = CleanParams(
    replicate_spread_flag={"uts_mpa": 50.0},
    plausible={"al": {"uts_mpa": (20.0, 1000.0)}, "mg": {"uts_mpa": (20.0, 800.0)}},
    basis_uncertain_sources=("src_b",),
)


def rows(source: str, system: str, records: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(records)
    df["source_id"] = source
    df["system"] = system
    df["source_row"] = range(len(df))
    df["row_uid"] = [f"{source}:{i}" for i in range(len(df))]
    df["comp_basis"] = "measured"
    return conform(df[[c for c in df.columns if c in ADAPTER_COLUMNS]])


def interim(*frames: pd.DataFrame, rejects: dict[str, int] | None = None) -> dict:
    out = {}
    for f in frames:
        sid = f["source_id"].iloc[0]
        n_rej = (rejects or {}).get(sid, 0)
        rej = pd.DataFrame(
            {
                "source_id": [sid] * n_rej,
                "source_row": range(1000, 1000 + n_rej),
                "reason": "non_numeric",
                "column": "Zn",
                "detail": "x",
                "raw": "",
            }
        )
        out[sid] = (f, rej, {"system": f["system"].iloc[0], "rows_in": len(f) + n_rej})
    return out


AA7075 = {"Al": 90.07, "Zn": 5.6, "Mg": 2.5, "Cu": 1.6, "Cr": 0.23}


def test_physical_checks_reject_with_reason_and_column():
    df = rows(
        "src_a",
        "al",
        [
            AA7075 | {"uts_mpa": 570.0, "ys_mpa": 500.0},  # fine
            AA7075 | {"Zn": -0.1, "Al": 95.77, "uts_mpa": 570.0},  # negative
            {"Al": 90.0, "Zn": 12.0, "uts_mpa": 500.0},  # sums to 102
            {"Al": 30.0, "Mg": 70.0, "uts_mpa": 200.0},  # not an Al alloy
            AA7075,  # no property
            AA7075 | {"uts_mpa": 500.0, "ys_mpa": 520.0},  # YS > UTS
            AA7075 | {"uts_mpa": 500.0, "elong_pct": 0.0},  # elongation out of range
            AA7075 | {"uts_mpa": 1500.0},  # implausible
            {"Al": 90.3, "Zn": 5.6, "Mg": 2.5, "Cu": 1.6, "Cr": 0.23, "uts_mpa": 560.0},  # 100.23
        ],
    )
    kept, rej = physical_checks(df, "al", PARAMS)
    reasons = dict(
        zip(rej["source_row"], zip(rej["reason"], rej["column"], strict=True), strict=True)
    )
    assert reasons == {
        1: ("negative_amount", "Zn"),
        2: ("composition_sum", "composition"),
        3: ("wrong_base", "Mg"),
        4: ("no_target", "properties"),
        5: ("ys_gt_uts", "ys_mpa"),
        6: ("elong_out_of_range", "elong_pct"),
        7: ("implausible_property", "uts_mpa"),
    }
    assert sorted(kept["source_row"]) == [0, 8]
    assert kept.set_index("source_row").loc[8, "flag_sum_off"]
    assert not kept.set_index("source_row").loc[0, "flag_sum_off"]


def test_balance_filled_when_missing():
    df = rows("src_a", "al", [{"Zn": 6.0, "Mg": 2.0, "uts_mpa": 500.0}])
    kept, rej = physical_checks(df, "al", PARAMS)
    assert rej.empty
    assert kept["Al"].iloc[0] == pytest.approx(92.0)


def test_composition_key_rounds_and_ignores_not_reported():
    a = rows(
        "s", "al", [AA7075 | {"uts_mpa": 1.0}, AA7075 | {"Zn": 5.6004, "Fe": 0.0, "uts_mpa": 1.0}]
    )
    keys = composition_key(a, 2)
    assert keys.iloc[0] == keys.iloc[1] == "Al90.07 Cr0.23 Cu1.60 Mg2.50 Zn5.60"


def test_replicates_are_folded_with_mean_spread_and_count():
    rec = AA7075 | {"temper": "T6", "temper_class": "T6", "age1_T_C": 120.0, "age1_t_h": 24.0}
    df = rows(
        "src_a",
        "al",
        [
            rec | {"uts_mpa": 560.0, "ys_mpa": 500.0},
            rec | {"uts_mpa": 580.0, "ys_mpa": 510.0},
            rec | {"uts_mpa": 660.0, "ys_mpa": 520.0},
            rec | {"age1_t_h": 48.0, "uts_mpa": 550.0},  # other schedule: not a replicate
        ],
    )
    kept, _ = physical_checks(df, "al", PARAMS)
    agg = aggregate_replicates(kept, PARAMS)
    assert len(agg) == 2
    first = agg.loc[agg["row_uid"] == "src_a:0"].iloc[0]
    assert first["n_replicates"] == 3
    assert first["uts_mpa"] == pytest.approx(600.0)
    assert first["uts_mpa_std"] == pytest.approx(np.std([560, 580, 660], ddof=1))
    assert first["merged_rows"] == "src_a:1;src_a:2"
    assert bool(first["flag_replicate_spread"])  # spread 100 MPa > 50
    other = agg.loc[agg["row_uid"] == "src_a:3"].iloc[0]
    assert other["n_replicates"] == 1 and pd.isna(other["merged_rows"])
    assert agg["group_id"].nunique() == 1  # same composition, one group for grouped CV


def test_ys_gt_uts_is_a_reject_per_row_and_a_flag_on_conflicting_replicate_means():
    rec = AA7075 | {"temper": "T6", "temper_class": "T6", "age1_T_C": 120.0, "age1_t_h": 24.0}
    df = rows(
        "src_a",
        "al",
        [
            rec | {"ys_mpa": 560.0},  # yield alone
            rec | {"uts_mpa": 540.0},  # tensile strength alone: means 560 > 540
            rec | {"age1_t_h": 48.0, "ys_mpa": 500.0, "uts_mpa": 500.0},  # equal: fine
            rec | {"age1_t_h": 72.0, "ys_mpa": 510.0, "uts_mpa": 505.0},  # one row: reject
            rec | {"age1_t_h": 96.0, "ys_mpa": 480.0},  # no tensile strength: not comparable
        ],
    )
    res = clean_system("al", interim(df), PARAMS)
    rej = res.rejects.set_index("source_row")
    assert list(rej.index) == [3] and rej.loc[3, "reason"] == "ys_gt_uts"
    t = res.table.set_index("row_uid")
    assert t["flag_ys_gt_uts"].to_dict() == {"src_a:0": True, "src_a:2": False, "src_a:4": False}
    assert t.loc["src_a:0", "merged_rows"] == "src_a:1"


def test_cross_source_duplicates_merge_only_when_values_agree():
    a = rows(
        "src_a",
        "al",
        [
            AA7075 | {"temper_class": "T6", "uts_mpa": 572.0, "ys_mpa": 503.0},
            AA7075 | {"temper_class": "T7", "uts_mpa": 505.0},
        ],
    )
    b = rows(
        "src_b",
        "al",
        [
            AA7075
            | {
                "temper": "T651",
                "temper_class": "T6",
                "age1_T_C": 120.0,
                "uts_mpa": 570.0,
                "ys_mpa": 505.0,
            },
            AA7075 | {"temper": "T73", "temper_class": "T7", "uts_mpa": 470.0},  # disagrees: kept
        ],
    )
    res = clean_system("al", interim(a, b), PARAMS)
    t = res.table.set_index("row_uid")
    # the row with more processing detail (src_b) is kept, src_a:0 folded into it
    assert "src_a:0" not in t.index
    assert t.loc["src_b:0", "merged_rows"] == "src_a:0"
    assert t.loc["src_b:0", "n_replicates"] == 1
    assert {"src_a:1", "src_b:1"} <= set(t.index)
    assert res.report["sources"]["src_a"] == {
        "rows_in": 2,
        "kept": 1,
        "merged": 1,
        "rejected": 0,
        "rejected_by_reason": {},
    }
    assert bool(t.loc["src_b:1", "flag_basis_uncertain"]) and not bool(
        t.loc["src_a:1", "flag_basis_uncertain"]
    )


def test_accounting_counts_ingest_rejects_and_fails_on_lost_rows():
    a = rows("src_a", "al", [AA7075 | {"uts_mpa": 570.0}, AA7075 | {"uts_mpa": 1500.0}])
    data = interim(a, rejects={"src_a": 2})
    res = clean_system("al", data, PARAMS)
    s = res.report["sources"]["src_a"]
    assert (s["rows_in"], s["kept"], s["merged"], s["rejected"]) == (4, 1, 0, 3)
    assert s["rejected_by_reason"] == {"implausible_property": 1, "non_numeric": 2}
    assert set(res.rejects["stage"]) == {"ingest", "clean"}
    f, rej, meta = data["src_a"]
    lost = {"src_a": (f, rej, meta | {"rows_in": 5})}
    with pytest.raises(AccountingError, match="rows_in=5"):
        clean_system("al", lost, PARAMS)


def test_mg_li_phase_fields_and_impurity_li():
    df = rows(
        "src_m",
        "mg",
        [
            {"Mg": 96.0, "Li": 3.0, "Al": 1.0, "uts_mpa": 200.0},
            {"Mg": 91.0, "Li": 8.0, "Al": 1.0, "uts_mpa": 180.0},
            {"Mg": 84.75, "Li": 14.0, "Al": 1.25, "uts_mpa": 145.0},
            {"Mg": 92.8, "Li": 0.2, "Y": 4.0, "Nd": 3.0, "uts_mpa": 250.0},  # WE43-like
            {"Mg": 97.0, "Al": 3.0, "uts_mpa": 240.0},
        ],
    )
    res = clean_system("mg", interim(df), PARAMS)
    t = res.table.set_index("source_row")
    assert t.loc[0, "li_phase"] == "alpha"
    assert t.loc[1, "li_phase"] == "alpha+beta"
    assert t.loc[2, "li_phase"] == "beta"
    assert pd.isna(t.loc[3, "li_phase"]) and bool(t.loc[3, "flag_impurity_li"])
    assert pd.isna(t.loc[4, "li_phase"])
    # LA141 density by rule of mixtures ~1.35 g/cm3 (ANCHORS.md), within 2.5 %
    assert t.loc[2, "density_calc_g_cm3"] == pytest.approx(1.35, rel=0.025)


def test_processed_table_passes_strict_schema_and_density_of_7075():
    res = clean_system("al", interim(rows("src_a", "al", [AA7075 | {"uts_mpa": 572.0}])), PARAMS)
    PROCESSED_SCHEMA.validate(res.table)
    # AA7075 handbook density 2.81 g/cm3 (ASM Handbook Vol. 2); ideal mixing within 1 %
    assert res.table["density_calc_g_cm3"].iloc[0] == pytest.approx(2.81, rel=0.01)


# ---- the real datasets -------------------------------------------------------------------


def _stage(repo, name: str):
    """The ``main`` of a DVC stage script, loaded in-process (no interpreter start-up)."""
    return runpy.run_path(str(repo / "pipelines" / f"{name}.py"), run_name="stage")["main"]


@pytest.fixture(scope="module")
def real_clean(tmp_path_factory, repo, mirror):
    """Run the ingest and clean stage scripts on the real mirror; clean twice into two folders."""
    doc = load_yaml(repo / "params.yaml")
    ingest, clean = _stage(repo, "ingest"), _stage(repo, "clean")
    params = str(repo / "params.yaml")
    base = tmp_path_factory.mktemp("clean")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ALLOYML_DATA_MIRROR", str(mirror))
        mp.chdir(repo)
        for sid, system in doc["ingest"]["sources"].items():
            ingest(
                ["--source", sid, "--out-dir", str(base / "interim" / system), "--params", params]
            )
        out = {}
        for run in ("a", "b"):
            for system in ("al", "mg"):
                clean(
                    [
                        "--system", system, "--interim-dir", str(base / "interim" / system),
                        "--out", str(base / run / "processed" / f"{system}.parquet"),
                        "--report-dir", str(base / run / "reports"), "--params", params,
                        "--headline", str(base / run / "headline" / f"clean_{system}.json"),
                    ]
                )  # fmt: skip
            out[run] = base / run
    return out


@pytest.mark.realdata
def test_real_clean_accounts_for_every_row(real_clean):
    base = real_clean["a"]
    for system, n_sources in (("al", 5), ("mg", 2)):
        rep = json.loads((base / "reports" / f"{system}.json").read_text())
        assert len(rep["sources"]) == n_sources
        for sid, s in rep["sources"].items():
            assert s["rows_in"] == s["kept"] + s["merged"] + s["rejected"], sid
        table = pd.read_parquet(base / "processed" / f"{system}.parquet")
        PROCESSED_SCHEMA.validate(table)
        assert len(table) == rep["totals"]["kept"]
        assert (base / "reports" / f"{system}.md").is_file()
        assert (base / "reports" / f"{system}_coverage.png").stat().st_size > 1000
        head = json.loads((base / "headline" / f"clean_{system}.json").read_text())
        assert head == {k: rep["totals"][k] for k in ("rows_in", "kept", "rejected")}
    al = json.loads((base / "reports" / "al.json").read_text())["sources"]
    assert al["anu_al_1154"]["rows_in"] == 1154
    assert al["park_7xxx"]["rejected_by_reason"] == {"normalisation_row": 2}
    assert al["hu_uq_wrought_al"]["rejected_by_reason"]["model_prediction"] == 4
    # yield above tensile strength in one row: ANU row 1067 (637 > 581), Hu row 986
    assert {s: al[s]["rejected_by_reason"].get("ys_gt_uts", 0) for s in al} == {
        "anu_al_1154": 1, "hu_uq_wrought_al": 1, "jiang_7xxx": 0, "park_7xxx": 0, "a357_lpdc": 0,
    }  # fmt: skip
    # ANU's 181 exact duplicate rows are folded, not kept twice
    assert al["anu_al_1154"]["merged"] >= 181
    mg = json.loads((base / "reports" / "mg.json").read_text())["sources"]
    assert mg["ghorbani_m916"]["rejected_by_reason"].get("composite_material") == 6


@pytest.mark.realdata
def test_real_clean_is_byte_identical_across_runs(real_clean):
    for name in ("al.parquet", "mg.parquet", "al.rejects.csv", "mg.rejects.csv"):
        a = (real_clean["a"] / "processed" / name).read_bytes()
        b = (real_clean["b"] / "processed" / name).read_bytes()
        assert a == b, name


@pytest.mark.realdata
def test_real_mg_li_rows_and_phases(real_clean):
    mg = pd.read_parquet(real_clean["a"] / "processed" / "mg.parquet")
    li = mg.loc[mg["li_phase"].notna()]
    assert set(li["li_phase"]) == {"alpha", "alpha+beta", "beta"}
    assert (li.loc[li["li_phase"] == "beta", "Li"] > 10.3).all()
    assert mg["flag_impurity_li"].sum() == 2  # WE43-T6 and WE54-T6
    assert mg.loc[mg["source_id"] == "zhang_mgcazn", "flag_basis_uncertain"].all()


def test_real_params_load(repo):
    cp = clean_params(load_yaml(repo / "params.yaml"))
    assert cp.sum_tolerance_wt == 0.5 and "al" in cp.plausible
