"""Lab rounds on real data (issue 12): two rounds of a campaign replayed on Jiang 7xxx.

The Jiang et al. 7xxx table (read by the project's adapter from the mirror and cleaned) is split
by composition group: a training part, on which small ridge bundles are trained with the
project's own functions, and a held-out "lab" part. Each proposal is answered with the nearest
held-out measured row (its measured composition, schedule and properties), written into the lab
sheet that ``alloyml round sheet`` produced. Two rounds run end to end through the CLI:
propose -> sheet -> record -> retrain (ingest of the registered round source, clean, featurize,
train: what ``dvc repro`` does, at test scale) -> propose.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from alloyml.cli import app

REPO = Path(__file__).resolve().parents[1]
CAMPAIGN = "t_round"
ELEMENTS_BOUNDS = {
    "Zn": [5.0, 9.0], "Mg": [1.2, 2.8], "Cu": [1.4, 2.6], "Zr": [0.0, 0.2], "Ti": [0.0, 0.1],
    "Fe": [0.0, 0.2], "Si": [0.0, 0.15], "Mn": [0.0, 0.3], "Cr": [0.0, 0.25],
}  # fmt: skip
CAMPAIGN_DEF = {
    "system": "al",
    "description": "replay test campaign on Jiang 7xxx",
    "n_trials": 200,
    "eval_batch": 100,
    "batch_size": 4,
    "min_distance": 0.3,
    "process_weight": 0.3,
    "sampler": {"name": "nsga2", "population_size": 100},
    "composition": {
        "step_wt": 0.01,
        "min_amount_wt": 0.02,
        "total_solute_wt": [7.0, 14.0],
        "max_elements": 9,
        "elements": ELEMENTS_BOUNDS,
    },  # fmt: skip
    "process": {
        "route": ["wrought"],
        "stages": {"sol1": {"T_C": [450, 490], "t_h": [0.5, 4.0]}},
        "temper": {
            "T6": {"age1": {"T_C": [100, 140], "t_h": [8, 48]}},
            "T7": {
                "age1": {"T_C": [100, 125], "t_h": [4, 24]},
                "age2": {"T_C": [150, 180], "t_h": [4, 24]},
            },  # fmt: skip
        },
    },
    "objectives": [{"quantity": "uts_mpa", "acquisition": "ucb", "kappa": 1.0}],
    "constraints": [{"quantity": "elong_pct", "min": 3.0, "judged_on": "lo"}],
    "domain": {"mode": "explore", "max_score": 4.0},
    "reference": {"Zn": [3.0, 100.0]},
}
TARGETS = ("uts_mpa", "elong_pct")


@pytest.fixture(scope="module")
def jiang(mirror, sources):
    """Jiang rows as ingested (``rows``, ``rejects``, ``rows_in``) and the cleaned table."""
    from alloyml.curation.clean import clean_system
    from alloyml.params import clean_params, load_yaml
    from alloyml.sources.ingest import ingest_source

    res = ingest_source(sources["jiang_7xxx"], mirror=mirror)
    meta = {"system": "al", "rows_in": res.rows_in}
    cp = clean_params(load_yaml(REPO / "params.yaml"))
    table = clean_system("al", {"jiang_7xxx": (res.rows, res.rejects, meta)}, cp).table
    return res, table


def _workspace(root: Path, jiang_spec_text: str) -> None:
    """A project folder: params.yaml (with comments), data/sources.yaml, dvc.yaml, DVC init."""
    from dvc.repo import Repo

    doc = yaml.safe_load((REPO / "params.yaml").read_text())
    doc["ingest"]["sources"] = {"jiang_7xxx": "al"}
    doc["search"] = {"campaigns": {CAMPAIGN: CAMPAIGN_DEF}}
    doc["backtest"]["datasets"] = {"jiang_uts": doc["backtest"]["datasets"]["jiang_uts"]}
    text = yaml.safe_dump(doc, sort_keys=False)
    text = text.replace("ingest:\n", "ingest:\n  # sources of the replay workspace\n", 1)
    (root / "params.yaml").write_text("# replay workspace\n" + text)
    (root / "data").mkdir()
    (root / "data" / "sources.yaml").write_text(
        "# replay workspace: one public source, then the recorded rounds\nsources:\n"
        + jiang_spec_text
    )
    shutil.copyfile(REPO / "dvc.yaml", root / "dvc.yaml")
    Repo.init(str(root), no_scm=True).close()


def _jiang_entry() -> str:
    text = (REPO / "data" / "sources.yaml").read_text()
    start = text.index("  - id: jiang_7xxx")
    return text[start : text.index("  - id: park_7xxx")]


def _retrain(root: Path, mirror: Path, train_uids: set[str]) -> pd.DataFrame:
    """What ``dvc repro`` does, at test scale: ingest every registered source (the recorded
    rounds from the project folder), clean, keep the training part of Jiang plus every round
    row, featurize, train small ridge bundles into ``models/al``."""
    from threadpoolctl import threadpool_limits

    from alloyml.curation.clean import clean_system
    from alloyml.features import featurize
    from alloyml.modeling.bundle import save_bundle
    from alloyml.modeling.train import TrainConfig, train_target
    from alloyml.params import clean_params, load_yaml
    from alloyml.sources import load_sources
    from alloyml.sources.ingest import ingest_source

    doc = load_yaml(root / "params.yaml")
    specs = load_sources(root / "data" / "sources.yaml")
    interim = {}
    for sid in doc["ingest"]["sources"]:
        r = ingest_source(specs[sid], mirror=mirror, raw_dir=root / "data" / "raw")
        rows = r.rows
        if sid == "jiang_7xxx":  # the held-out part is the lab: not in training
            rows = rows[rows["row_uid"].astype(str).isin(train_uids)]
        interim[sid] = (rows, r.rejects, {"system": "al", "rows_in": len(rows) + len(r.rejects)})
    table = clean_system("al", interim, clean_params(doc)).table
    table = table.sort_values("row_uid").reset_index(drop=True)
    proc = root / "data" / "processed" / "al.parquet"
    proc.parent.mkdir(parents=True, exist_ok=True)
    table.to_parquet(proc, index=False)
    feats = featurize(table, "alloy_v1")
    cfg = TrainConfig(seed=42, models=("ridge",), folds=3, inner_folds=2, tuning_trials=0,
                      n_jobs=1, learning_curve_fractions=(1.0,))  # fmt: skip
    for target in TARGETS:
        m = table[target].notna().to_numpy()
        with threadpool_limits(1):
            res = train_target(
                feats.to_numpy(float)[m], table[target].to_numpy(float)[m],
                table["group_id"].astype(str).to_numpy()[m],
                table["source_id"].astype(str).to_numpy()[m], list(feats.columns), target, cfg,
            )  # fmt: skip
        res.bundle.meta |= {"system": "al", "preset": "alloy_v1", "data_digest": "replay"}
        save_bundle(res.bundle, root / "models" / "al" / target)
    return table


def _invoke(*args: str):
    result = CliRunner().invoke(
        app, ["round", *args], env={"COLUMNS": "250", "ALLOYML_OPTUNA_STORAGE": ""}
    )
    assert "Traceback" not in result.output, result.output
    return result


def _fill(sheet: pd.DataFrame, answers: pd.DataFrame, process_cols: dict[str, str]) -> pd.DataFrame:
    """The lab's filled sheet: measured composition, schedule and properties of the answers."""
    out = sheet.copy().astype(object)
    for i, (_, a) in enumerate(answers.iterrows()):
        for el in ["Al", *ELEMENTS_BOUNDS]:
            v = a.get(el)
            out.loc[i, f"{el} measured (wt%)"] = "" if pd.isna(v) else round(float(v), 4)
        out.loc[i, "temper"] = "" if pd.isna(a["temper_class"]) else a["temper_class"]
        for col, header in process_cols.items():
            out.loc[i, header] = "" if pd.isna(a.get(col)) else a[col]
        out.loc[i, "UTS Rm (MPa)"] = a["uts_mpa"]
        out.loc[i, "YS Rp0.2 (MPa)"] = "" if pd.isna(a["ys_mpa"]) else a["ys_mpa"]
        out.loc[i, "Elongation A (%)"] = a["elong_pct"]
    return out


def test_two_rounds_replayed_on_jiang(tmp_path, monkeypatch, mirror, jiang):
    from alloyml.features.presets import get_preset
    from alloyml.rounds.sheet import process_header
    from alloyml.search import get_campaign
    from alloyml.search.candidates import process_columns
    from alloyml.search.space import Design, DesignSpace

    res, table = jiang
    complete = table[table["uts_mpa"].notna() & table["elong_pct"].notna()]
    groups = complete["group_id"].astype(str).unique()
    rng = np.random.default_rng(0)
    held_groups = set(rng.choice(groups, size=len(groups) // 2, replace=False))
    held = complete[complete["group_id"].astype(str).isin(held_groups)]
    others = [c for c in ("Ag", "Sc", "Ni", "Li", "V", "B", "Be") if c in held.columns]
    held = held[held[others].fillna(0).eq(0).all(axis=1) & held["sol2_T_C"].isna()]
    held = held[held["temper_class"].isin(["T6", "T7"])].reset_index(drop=True)
    train = complete[~complete["group_id"].astype(str).isin(held_groups)].sample(
        250, random_state=0
    )
    train_uids = set(train["row_uid"].astype(str))

    root = tmp_path / "project"
    root.mkdir()
    _workspace(root, _jiang_entry())
    monkeypatch.chdir(root)
    _retrain(root, mirror, train_uids)
    camp = get_campaign(yaml.safe_load(Path("params.yaml").read_text()), CAMPAIGN)
    space = DesignSpace(camp, get_preset("alloy_v1"))
    held_vec = space.vectors_frame(held)
    proc_headers = {c: process_header(c) for c in process_columns(camp)}

    # ---- round 1: propose, sheet -------------------------------------------------------
    r = _invoke("propose", CAMPAIGN, "--no-track")
    assert r.exit_code == 0, r.output
    assert "0 pending candidate(s)" in r.output
    man1 = json.loads(Path(f"data/rounds/{CAMPAIGN}/round-1/round.json").read_text())
    ids1 = [c["id"] for c in man1["candidates"]]
    assert len(ids1) == 4 and ids1[0] == f"{CAMPAIGN}-r1-c1"
    assert set(man1["models"]) == set(TARGETS) and man1["params_digest"]
    r = _invoke("sheet", CAMPAIGN, "1")
    assert r.exit_code == 0, r.output
    folder = Path(f"data/rounds/{CAMPAIGN}/round-1")
    sheet = pd.read_csv(folder / "sheet.csv")
    xlsx = pd.read_excel(folder / "sheet.xlsx", sheet_name="round")
    assert list(xlsx.columns) == list(sheet.columns) and len(sheet) == 4
    assert sheet["UTS Rm (MPa)"].isna().all() and sheet["Zn measured (wt%)"].isna().all()
    designs1 = [Design.from_dict(c["design"]) for c in man1["candidates"]]
    assert np.allclose(sheet["Zn target (wt%)"], [d.wt["Zn"] for d in designs1])

    # the lab answers three candidates with the nearest held-out measured row; the fourth is not
    # made yet (pending); a replicate specimen has an unreadable UTS, another lost its Zn value
    d = np.linalg.norm(space.vectors(designs1)[:, None, :] - held_vec[None, :, :], axis=2)
    # each proposal gets its own nearest row: two candidates answered by one measured alloy
    # would be replicates of one composition, merged into one row by clean
    picks: list[int] = []
    for row in d:
        row = row.copy()
        row[picks] = np.inf
        picks.append(int(row.argmin()))
    answers = held.iloc[picks].reset_index(drop=True)
    filled = _fill(sheet, answers, proc_headers)
    filled.loc[3, [c for c in filled.columns if "measured" in c]] = ""
    for col in ("UTS Rm (MPa)", "YS Rp0.2 (MPa)", "Elongation A (%)"):
        filled.loc[3, col] = ""
    bad = filled.iloc[[0, 1]].copy()
    bad.iloc[0, bad.columns.get_loc("UTS Rm (MPa)")] = "broke in grip"
    bad.iloc[1, bad.columns.get_loc("Zn measured (wt%)")] = ""
    filled = pd.concat([filled, bad], ignore_index=True)
    lab_file = tmp_path / "lab_round1.xlsx"
    with pd.ExcelWriter(lab_file) as xw:
        filled.to_excel(xw, sheet_name="round", index=False)

    # ---- round 1: record -----------------------------------------------------------------
    r = _invoke("record", CAMPAIGN, "1", str(lab_file))
    assert r.exit_code == 0, r.output
    rec = json.loads((folder / "record.json").read_text())
    assert rec["rows_in"] == 6 == rec["kept"] + rec["rejected"]  # in = kept + rejected
    assert rec["kept"] == 3
    assert rec["rejected_by_reason"] == {
        "missing_all_targets": 1, "missing_required": 1, "non_numeric": 1
    }  # fmt: skip
    assert rec["measured"] == ids1[:3] and rec["pending"] == [ids1[3]]
    rejects = pd.read_csv(folder / "rejects.csv")
    assert set(rejects["column"]) >= {"Zn", "UTS Rm (MPa)"} and rejects["reason"].notna().all()
    assert "ingest@round_t_round_1" in r.output and "train@al" in r.output
    assert "search@t_round" in r.output
    # registered as a source; every other line, comments included, is as it was
    src_text = Path("data/sources.yaml").read_text()
    assert src_text.startswith("# replay workspace: one public source")
    assert "id: round_t_round_1" in src_text and "local: true" in src_text
    params_text = Path("params.yaml").read_text()
    assert "  # sources of the replay workspace\n" in params_text
    assert yaml.safe_load(params_text)["ingest"]["sources"] == {
        "jiang_7xxx": "al", "round_t_round_1": "al"
    }  # fmt: skip
    # a malformed sheet is a message, not a traceback, and changes nothing
    broken = tmp_path / "broken.csv"
    broken.write_text("candidate_id,UTS Rm (MPa)\nx,500\n")
    r = _invoke("record", CAMPAIGN, "1", str(broken))
    assert r.exit_code == 1 and "error" in r.output
    assert json.loads((folder / "record.json").read_text()) == rec

    # ---- retrain on the recorded round, as dvc repro would -------------------------------
    processed = _retrain(root, mirror, train_uids)
    mine = processed[processed["source_id"] == "round_t_round_1"].sort_values("alloy_name")
    assert list(mine["alloy_name"]) == ids1[:3]
    # the measured composition entered training, not the nominal one
    assert np.allclose(mine["Zn"].to_numpy(float), answers["Zn"].iloc[:3].to_numpy(float))
    assert not np.allclose(mine["Zn"].to_numpy(float), [dd.wt["Zn"] for dd in designs1[:3]])

    # ---- round 2 ---------------------------------------------------------------------------
    r = _invoke("propose", CAMPAIGN, "--no-track", "--fantasy", "liar")
    assert r.exit_code == 0, r.output
    man2 = json.loads(Path(f"data/rounds/{CAMPAIGN}/round-2/round.json").read_text())
    assert man2["pending_fantasies"] == [ids1[3]]
    assert man2["excluded_measured"] == ids1[:3]
    assert man2["models"]["uts_mpa"]["files"] != man1["models"]["uts_mpa"]["files"]
    designs2 = [Design.from_dict(c["design"]) for c in man2["candidates"]]
    assert designs2
    gap = np.linalg.norm(
        space.vectors(designs2)[:, None, :] - space.vectors(designs1)[None, :, :], axis=2
    )
    assert gap.min() >= camp.min_distance  # no pending or measured candidate proposed again
    assert all(not space.violations(dd) for dd in designs2)

    # ---- status ------------------------------------------------------------------------------
    out_csv = tmp_path / "status.csv"
    r = _invoke("status", CAMPAIGN, "--output", str(out_csv))
    assert r.exit_code == 0, r.output
    detail = pd.read_csv(out_csv)
    hits = []
    for c, a in zip(man1["candidates"][:3], answers.iloc[:3].itertuples(), strict=True):
        for t in TARGETS:
            p = c["predictions"][t]
            hits.append(p["lo"] <= getattr(a, t) <= p["hi"])
    measured = detail[detail["measured"].notna()]
    assert len(measured) == len(hits) == 6
    assert measured["hit"].astype(bool).tolist() == hits
    assert f"interval hit rate over all rounds: {np.mean(hits):.0%}" in r.output
    assert f"{sum(hits)}/6" in r.output
    best = max(float(a) for a in answers["uts_mpa"].iloc[:3])
    assert f"{best:.4g}" in r.output
    # the report's Lab rounds section and notebook 03 read the same status through the workspace
    from alloyml.reporting.workspace import Workspace
    from alloyml.rounds.status import hit_label

    st = Workspace.at(root).round_status(CAMPAIGN)
    assert st.hit_rate == pytest.approx(np.mean(hits))
    shown = st.candidates.loc[st.candidates["measured"].notna(), "hit"].map(hit_label)
    assert shown.tolist() == ["hit" if h else "MISS" for h in hits]
    assert Workspace.at(root).round_campaigns() == [CAMPAIGN]
