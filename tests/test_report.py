"""``alloyml report`` on a small hand-written project (no training, no real data): escaping, the
settings read from what the stages recorded, the search summary, the page layout.

The end-to-end report of a real quick pipeline run is in ``tests/workflow/test_report.py``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tomllib
from fnmatch import fnmatch
from importlib.resources import files
from pathlib import Path

import pandas as pd
import pytest
import yaml

from alloyml.modeling.tracking import git, git_commit
from alloyml.reporting.report import render
from alloyml.reporting.workspace import Workspace

from .html_tables import tables

REPO = Path(__file__).resolve().parents[1]

SCRIPT = "<script>alert(1)</script>"


def _write_json(path: Path, doc) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc), encoding="utf-8")


def _metrics(alpha: float | None) -> dict:
    m = {
        "champion": "et",
        "tuned": False,
        "n_rows": 120,
        "params": {},
        "protocols": {
            "grouped": {
                "n": 120,
                "r2": 0.8,
                "mae": 30.0,
                "rmse": 41.0,
                "coverage": 0.78,
                "interval_width": 150.0,
                "in_domain_rate": 0.9,
            },
        },
        "calibration_curve": [[0.5, 0.52], [0.8, 0.78], [0.9, 0.86]],
        "extrapolation_quantile": 0.85,
    }
    if alpha is not None:
        m["alpha"] = alpha
    return m


@pytest.fixture
def project(tmp_path) -> Path:
    """A project after a (pretend) run: a data card, metrics of one model trained at
    alpha = 0.2 while params.yaml now says 0.1, one campaign searched with a UCB objective."""
    root = tmp_path / "proj"
    root.mkdir()
    (root / "dvc.yaml").write_text("stages: {}\n")
    params = {
        "base": {"systems": ["al"]},
        "train": {"alpha": 0.1},
        "backtest": {"datasets": {}},
        "search": {"campaigns": {"uhs": {"description": f"strong {SCRIPT} alloys"}}},
    }
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    src = f"src{SCRIPT}"
    _write_json(root / "reports" / "data" / "al.json", {
        "rows": 120, "groups": 40,
        "sources": {src: {"rows_in": 130, "kept": 120, "merged": 6, "rejected": 4,
                          "rejected_by_reason": {"uts_lt_ys": 4}}},
        "totals": {"rows_in": 130, "kept": 120, "merged": 6, "rejected": 4},
        "coverage": {"properties": {"uts_mpa": 120}},
    })  # fmt: skip
    _write_json(root / "reports" / "metrics" / "al.json", {"uts_mpa": _metrics(0.2)})
    cdir = root / "reports" / "candidates" / "uhs"
    cand = pd.DataFrame(
        {
            "candidate": [1, 2],
            "alloy": [f"Al-5.6Zn {SCRIPT}", "Al-4.4Cu-1.5Mg"],
            "route": ["wrought", "wrought"],
            "temper_class": ["T6", "T6"],
            "solution_T_C": [475.0, 495.0],
            "solution_t_h": [1.0, 2.0],
            "uts_mpa_pred": [741.0, 702.5],
            "uts_mpa_lo": [612.0, 590.0],
            "uts_mpa_hi": [870.0, 815.0],
            "density_g_cm3": [2.81, 2.78],
            "objective_uts_mpa": [856.0, 810.0],
            "in_domain": [True, False],
            "domain_score": [0.4, 1.3],
            "constraints_ok": [True, True],
            "extrapolation": [False, True],
            "extrapolation_notes": ["", "above the best measured"],
            # a wide table: many columns of long text
            **{f"nearest_{i}": ["x" * 60, "y" * 60] for i in range(12)},
        }
    )
    cdir.mkdir(parents=True)
    cand.to_csv(cdir / "candidates.csv", index=False)
    _write_json(cdir / "summary.json", {
        "campaign": "uhs", "system": "al", "sampler": "nsga2", "encoding": "mixed",
        "n_trials_complete": 300, "n_feasible": 240, "feasible_fraction": 0.8,
        "best_objective": {"uts_mpa": 856.0}, "reference_best": {"uts_mpa": 793.0},
        "objectives": [{"quantity": "uts_mpa", "direction": "maximize", "acquisition": "ucb",
                        "kappa": 1.0, "label": "ucb(uts_mpa)"}],
        "n_candidates": 2, "n_candidates_requested": 2, "n_candidates_in_domain": 1,
        "n_candidates_extrapolating": 1,
    })  # fmt: skip
    return root


def _summary(html: str) -> dict[str, str]:
    return {r[0]: r[1] for r in tables(html)["summary-uhs"][1:]}


def test_names_are_escaped(project):
    """A source, campaign description or alloy name holding markup is shown as text."""
    html = render(Workspace.at(project))
    assert "<script" not in html.lower()
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 3  # source, description, alloy
    first = tables(html)["candidates-uhs"][1]
    assert first[1] == f"Al-5.6Zn {SCRIPT}"  # the parsed cell is the name, as text
    assert tables(html)["accounting-al"][1][0] == f"src{SCRIPT}"


def test_best_candidate_is_not_the_acquisition_score(project):
    """The best feasible UCB score (856) is not shown as the predicted strength: the best
    candidate's prediction (741 MPa) is, and the score is named as the acquisition it is."""
    s = _summary(render(Workspace.at(project)))
    assert "best feasible objective" not in s
    assert s["best candidate: predicted"] == "uts_mpa 741.0 MPa [612.0, 870.0] (candidate 1)"
    score = s["best acquisition score of a feasible trial"]
    assert score.startswith("ucb(uts_mpa) 856 (upper confidence bound")
    assert "856" not in s["best candidate: predicted"]
    assert s["best measured reference"] == "uts_mpa 793 MPa"


def test_acquisition_from_params_when_the_summary_predates_it(project):
    """A summary written before it recorded its objectives: the label comes from the campaign
    as params.yaml declares it (parsed by the search's own loader), never from a guess."""
    summary = project / "reports" / "candidates" / "uhs" / "summary.json"
    doc = json.loads(summary.read_text())
    del doc["objectives"]
    summary.write_text(json.dumps(doc))
    s = _summary(render(Workspace.at(project)))
    # the toy params.yaml is not a valid campaign: no acquisition is claimed
    assert s["best acquisition score of a feasible trial"] == "objective(uts_mpa) 856"
    assert s["best candidate: predicted"].startswith("uts_mpa 741.0 MPa")
    # the repository's params.yaml: al_uhs maximises ucb(uts_mpa)
    (project / "params.yaml").write_text((REPO / "params.yaml").read_text())
    cdir = project / "reports" / "candidates"
    (cdir / "uhs").rename(cdir / "al_uhs")
    html = render(Workspace.at(project))
    s = {r[0]: r[1] for r in tables(html)["summary-al_uhs"][1:]}
    assert s["best acquisition score of a feasible trial"].startswith("ucb(uts_mpa) 856 (upper")


def test_nominal_coverage_from_the_metrics(project):
    """alpha 0.2 recorded with the model: 80 % everywhere, whatever params.yaml says now."""
    html = render(Workspace.at(project))
    t = tables(html)
    header = t["metrics-al-uts_mpa"][0]
    assert "coverage (nominal 0.80)" in header
    assert "uts_mpa [MPa]: predicted [80 % interval]" in t["candidates-uhs"][0]
    assert "Every prediction carries an interval of 80 % nominal coverage" in html
    assert "uts_mpa: 0.78 of measured values inside the 80 % interval — about right." in html
    assert "(bars: 80 % interval" in html
    assert "90 % interval" not in html
    # the extrapolation split as trained (0.85), not a fixed "90 %"
    assert "train on the lower 85 %, test on the top 15 %" in html


def test_nominal_coverage_from_the_model_metadata(project):
    """Metrics written before they carried alpha: the trained model's meta.json says it."""
    _write_json(project / "reports" / "metrics" / "al.json", {"uts_mpa": _metrics(None)})
    _write_json(project / "models" / "al" / "uts_mpa" / "meta.json", {"alpha": 0.05})
    t = tables(render(Workspace.at(project)))
    assert "coverage (nominal 0.95)" in t["metrics-al-uts_mpa"][0]
    assert "uts_mpa [MPa]: predicted [95 % interval]" in t["candidates-uhs"][0]


def test_nominal_coverage_unknown_is_said_not_guessed(project):
    _write_json(project / "reports" / "metrics" / "al.json", {"uts_mpa": _metrics(None)})
    html = render(Workspace.at(project))
    t = tables(html)
    assert "coverage (nominal unknown)" in t["metrics-al-uts_mpa"][0]
    assert "uts_mpa [MPa]: predicted [interval]" in t["candidates-uhs"][0]
    assert "run `dvc repro train@al`" in html
    assert not re.search(r"\d+ % interval", html)


def test_wide_tables_scroll_in_their_box(project):
    """Every table sits in a box that scrolls sideways, so a wide candidate table is never cut
    off at the page width."""
    html = render(Workspace.at(project))
    n_tables = len(re.findall(r"<table\b", html))
    assert n_tables >= 4
    assert len(re.findall(r'<div class="table"><table\b', html)) == n_tables
    css = re.search(r"<style>(.*?)</style>", html, flags=re.S).group(1)
    rule = re.search(r"div\.table\s*\{([^}]*)\}", css).group(1)
    assert "overflow-x: auto" in rule and "max-width: 100%" in rule


def test_templates_are_package_data():
    """Every template file is matched by pyproject's package-data, so an installed (not
    editable) package finds them."""
    conf = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = conf["tool"]["setuptools"]["package-data"]["alloyml.reporting"]
    templates = [
        p for p in files("alloyml.reporting").joinpath("templates").iterdir() if p.is_file()
    ]
    assert {p.name for p in templates} >= {"report.html.j2", "_macros.html.j2", "report.css"}
    for p in templates:
        assert any(fnmatch(f"templates/{p.name}", pat) for pat in patterns), p.name


def test_provenance_commit(project):
    """The report names the project's commit (and says when tracked files changed), through the
    package's one git helper; outside a repository it says so."""
    assert git_commit(project) == "unknown"
    assert "unknown (no git repository)" in render(Workspace.at(project))
    env = ["-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    for args in (["init", "-q"], ["add", "-A"], [*env, "commit", "-qm", "run"]):
        subprocess.run(["git", *args], cwd=project, check=True, capture_output=True, timeout=60)
    head = git("rev-parse", "HEAD", cwd=project)
    assert head and re.fullmatch(r"[0-9a-f]{40}", head)
    html = render(Workspace.at(project))
    assert f"<dt>git commit</dt><dd>{head}</dd>" in html
    (project / "params.yaml").write_text("base: {systems: [al]}\n")
    assert git_commit(project, mark_dirty=True) == f"{head} (with uncommitted changes)"
    assert git_commit(project) == head


# -- lab rounds (issue 12) ---------------------------------------------------------------------
ROUND_CAMPAIGN = "al_uhs"  # a campaign of the repository's params.yaml (maximises uts_mpa)
# round -> candidate -> (alloy, {property: (pred, lo, hi)}); measured specimens per candidate
ROUNDS = {
    1: {
        "c1": (
            f"Al-8Zn {SCRIPT}",
            {"uts_mpa": (700.0, 650.0, 750.0), "elong_pct": (10.0, 8.0, 12.0)},
        ),
        "c2": ("Al-7Zn-2Mg", {"uts_mpa": (690.0, 640.0, 740.0), "elong_pct": (9.0, 7.0, 11.0)}),
        "c3": ("Al-9Zn-2Cu", {"uts_mpa": (710.0, 655.0, 765.0), "elong_pct": (8.5, 6.5, 10.5)}),
    },
    2: {
        "c1": ("Al-8.5Zn-2Mg", {"uts_mpa": (760.0, 700.0, 820.0), "elong_pct": (9.0, 7.0, 11.0)}),
        "c2": ("Al-10Zn-2Mg", {"uts_mpa": (780.0, 710.0, 850.0), "elong_pct": (8.0, 6.0, 10.0)}),
    },
}
SPECIMENS = {  # round -> rows of measured.csv (c3 of round 1 and c2 of round 2 are pending)
    1: [("c1", 720.0, 7.0), ("c1", 740.0, 7.4), ("c2", 600.0, 11.0)],
    2: [("c1", 705.0, None)],
}


def _write_rounds(root: Path) -> None:
    """Round folders as ``alloyml round propose`` and ``record`` leave them: the manifest
    (``round.json``) and the kept specimens (``measured.csv``) that the status reads."""
    for n, cands in ROUNDS.items():
        folder = root / "data" / "rounds" / ROUND_CAMPAIGN / f"round-{n}"
        manifest = {
            "campaign": ROUND_CAMPAIGN, "round": n, "created_utc": f"2025-0{n}-01T10:00:00Z",
            "models": {"uts_mpa": {"model": f"et{SCRIPT}", "registry_version": str(n + 2),
                                   "files": f"abc{n}"},
                       "elong_pct": {"model": "gbr", "registry_version": "n/a",
                                     "files": f"def{n}"}},
            "candidates": [
                {"id": f"{ROUND_CAMPAIGN}-r{n}-{k}", "alloy": alloy,
                 "predictions": {t: {"pred": p, "lo": lo, "hi": hi}
                                 for t, (p, lo, hi) in preds.items()}}
                for k, (alloy, preds) in cands.items()
            ],
        }  # fmt: skip
        _write_json(folder / "round.json", manifest)
        rows = [
            {"candidate_id": f"{ROUND_CAMPAIGN}-r{n}-{k}", "uts_mpa": u, "elong_pct": e}
            for k, u, e in SPECIMENS[n]
        ]
        pd.DataFrame(rows).to_csv(folder / "measured.csv", index=False)


def _expected_status() -> tuple[list[list[str]], dict[int, tuple[int, int, float]]]:
    """Hit cells per candidate-property, and per round (hits, pairs, best uts_mpa in round)."""
    cells, per_round = [], {}
    for n, cands in ROUNDS.items():
        hits = pairs = 0
        best = float("nan")
        for k, (_, preds) in cands.items():
            rows = [s for s in SPECIMENS[n] if s[0] == k]
            for i, (t, (_, lo, hi)) in enumerate(preds.items()):
                vals = [r[1 + i] for r in rows if r[1 + i] is not None]
                if not vals:
                    cells.append([f"{ROUND_CAMPAIGN}-r{n}-{k}", t, "–"])
                    continue
                m = sum(vals) / len(vals)
                pairs += 1
                hits += lo <= m <= hi
                cells.append([f"{ROUND_CAMPAIGN}-r{n}-{k}", t, "hit" if lo <= m <= hi else "MISS"])
                if t == "uts_mpa" and not m <= best:
                    best = m
        per_round[n] = (hits, pairs, best)
    return cells, per_round


@pytest.fixture
def rounds_project(project) -> Path:
    (project / "params.yaml").write_text((REPO / "params.yaml").read_text())
    _write_rounds(project)
    return project


def test_lab_rounds_section(rounds_project):
    """Per round: measured/pending, interval hits and hit rate, best and best so far, the
    model versions; per candidate: predicted vs measured with hit or MISS. Names are text."""
    html = render(Workspace.at(rounds_project))
    t = tables(html)
    cells, per_round = _expected_status()
    assert {c[2] for c in cells} == {"hit", "MISS", "–"}  # the fixture has all three
    detail = t[f"round-candidates-{ROUND_CAMPAIGN}"]
    header = detail[0]
    assert header[-1] == "hit" and "predicted [interval]" in header
    got = [[r[header.index("candidate")], r[header.index("property")].split(" ")[0], r[-1]]
           for r in detail[1:]]  # fmt: skip
    assert got == cells
    first = detail[1]
    assert first[header.index("alloy")] == f"Al-8Zn {SCRIPT}"
    assert first[header.index("predicted [interval]")] == "700.0 [650.0, 750.0]"
    assert first[header.index("measured")] == "730.0"  # mean of the two kept specimens
    assert first[header.index("specimens")] == "2"

    summary = t[f"rounds-{ROUND_CAMPAIGN}"]
    h = summary[0]
    best_so_far = float("-inf")
    for row, n in zip(summary[1:], ROUNDS, strict=True):
        hits, pairs, best = per_round[n]
        best_so_far = max(best_so_far, best)
        measured = len({s[0] for s in SPECIMENS[n]})
        assert row[h.index("round")] == str(n)
        assert row[h.index("measured")] == str(measured)
        assert row[h.index("pending")] == str(len(ROUNDS[n]) - measured)
        assert row[h.index("interval hits")] == f"{hits}/{pairs}"
        assert row[h.index("hit rate")] == f"{100 * hits / pairs:.0f} %"
        assert row[h.index("best uts_mpa [MPa] in round")] == f"{best:.1f}"
        assert row[h.index("best so far")] == f"{best_so_far:.1f}"
        models = row[-1]
        assert f"registry v{n + 2}, files abc{n}" in models and f"files def{n}" in models
        assert f"et{SCRIPT}" in models  # escaped in the page, text in the parsed cell
    assert per_round[1][0] / per_round[1][1] != per_round[2][0] / per_round[2][1]
    all_hits = sum(v[0] for v in per_round.values())
    all_pairs = sum(v[1] for v in per_round.values())
    assert f"interval hit rate over all rounds {100 * all_hits / all_pairs:.0f} % " in html
    assert "<script" not in html.lower()
    assert "<li><a href='#rounds'>Lab rounds</a></li>" in html
    assert "no lab rounds yet" not in html


def test_lab_rounds_none_or_unreadable(rounds_project):
    """No rounds: one line says so. A campaign folder the params do not declare, or a broken
    round.json, is a note in its block, never a crash of the report."""
    from alloyml.reporting.workspace import NO_ROUNDS

    shutil.rmtree(rounds_project / "data" / "rounds")
    html = render(Workspace.at(rounds_project))
    assert html.count(NO_ROUNDS.replace("<", "&lt;").replace(">", "&gt;")) == 1
    assert "rounds-" not in "".join(tables(html))

    _write_rounds(rounds_project)
    man = rounds_project / "data" / "rounds" / ROUND_CAMPAIGN / "round-2" / "round.json"
    man.write_text(man.read_text().replace('"candidates"', '"cands"'))
    other = rounds_project / "data" / "rounds" / "gone" / "round-1"
    shutil.copytree(man.parent.parent / "round-1", other)
    html = render(Workspace.at(rounds_project))
    assert "rounds of &#39;al_uhs&#39; in data/rounds/al_uhs cannot be read (KeyError" in html
    assert "rounds of &#39;gone&#39;: unknown campaign &#39;gone&#39;" in html
    assert "no lab rounds yet" not in html
