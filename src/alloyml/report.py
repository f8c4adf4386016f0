"""One self-contained HTML page of the last pipeline run (``alloyml report``).

A materials scientist should be able to mail this single file to a colleague and have it read
without the project, a browser plugin or network access: every PNG is embedded as a base64
``data:`` URI, the CSS is inline and there is no JavaScript. Every table says in a sentence or
two what it measures, because the numbers (grouped CV, LOSO, interval coverage, acceleration
factor) mean little without their protocol.

Everything is read through :class:`~alloyml.workspace.Workspace`; this module holds no pipeline
logic. A stage that has not run yet leaves a visible "not run: ``dvc repro <stage>``" note in
its section instead of failing the whole report; only a project with no outputs at all is an
error (:class:`~alloyml.workspace.WorkspaceError`).
"""

from __future__ import annotations

import base64
import html
import re
import subprocess
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from alloyml.config import DEFAULT_ALPHA
from alloyml.schema import PROCESS_NUMERIC, TARGETS
from alloyml.tracking import file_digest
from alloyml.workspace import PROTOCOLS, Workspace, WorkspaceError

# Number formats of the report, public so that tests and notebooks can find a value as printed.
R2_FORMAT = "{:.3f}"
ERROR_FORMAT = "{:.1f}"  # MAE, RMSE, interval width: in the target's unit
FRACTION_FORMAT = "{:.2f}"  # coverage, in-domain rate, calibration
FACTOR_FORMAT = "{:.2f}"  # backtest acceleration factors

UNITS = {
    "ys_mpa": "MPa",
    "uts_mpa": "MPa",
    "elong_pct": "%",
    "hardness_hv": "HV",
    "density_g_cm3": "g/cm³",
    "specific_ys": "MPa·cm³/g",
    "specific_uts": "MPa·cm³/g",
}
NAMES = {
    "ys_mpa": "yield strength",
    "uts_mpa": "tensile strength",
    "elong_pct": "elongation",
    "hardness_hv": "hardness",
    "density_g_cm3": "density",
    "specific_ys": "specific yield strength",
    "specific_uts": "specific tensile strength",
}

PROTOCOL_TEXT = {
    "random": "random K-fold CV: rows shuffled into folds. Replicates and other tempers of the "
    "same composition can sit in training and test, so this is the optimistic number.",
    "grouped": "grouped CV: whole composition groups held out (every row of one chemistry is in "
    "the same fold). The honest estimate for a composition that was never measured; "
    "the champion model is chosen on it.",
    "loso": "LOSO, leave one source out: train on all other sources, test on one. Does the model "
    "transfer to another laboratory or compilation?",
    "family": "family, leave one alloy family out: train on every other family (Aluminum "
    "Association series, cast series, Mg principal-element families), test on one. Does the "
    "model know what it does not know about a new kind of alloy?",
    "extrapolation": "extrapolation: train on the lower 90 %, test on the top decile of the "
    "target (the best alloys), with their composition groups removed from training. "
    "Can the model recognise alloys better than any it was shown?",
}

CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif;
       max-width: 1150px; margin: 2em auto; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 3px solid #345; padding-bottom: .2em; }
h2 { border-bottom: 1px solid #aab; margin-top: 2.2em; }
h3 { margin-top: 1.6em; color: #234; }
table { border-collapse: collapse; margin: .6em 0 1em; font-size: .9em; }
th, td { border: 1px solid #ccd; padding: .25em .6em; text-align: right; vertical-align: top; }
th { background: #eef1f5; }
td:first-child, th:first-child { text-align: left; }
table.text td { text-align: left; }
caption { caption-side: top; text-align: left; font-weight: 600; padding-bottom: .3em; }
p.explain { color: #444; font-size: .92em; margin: .3em 0 .6em; max-width: 60em; }
p.note { background: #fff4e0; border-left: 4px solid #e0a030; padding: .4em .8em; }
code { background: #f2f2f2; padding: 0 .25em; border-radius: 3px; }
figure { display: inline-block; margin: .4em 1em .8em 0; vertical-align: top; }
figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: .85em; color: #555; }
dl.meta { display: grid; grid-template-columns: max-content auto; gap: .15em 1em; }
dl.meta dt { font-weight: 600; } dl.meta dd { margin: 0; font-family: monospace; }
nav ul { columns: 2; }
"""


# -- small HTML helpers ----------------------------------------------------------------------
def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _missing(x: Any) -> bool:
    return x is None or (pd.api.types.is_scalar(x) and bool(pd.isna(x)))


def _fmt(spec: str) -> Callable[[Any], str]:
    """A cell formatter that prints ``–`` for a missing value instead of ``nan``."""

    def f(x: Any) -> str:
        if _missing(x):
            return "–"
        try:
            return spec.format(float(x))
        except (TypeError, ValueError):
            return str(x)

    return f


def _yes_no(x: Any) -> str:
    if _missing(x):
        return "–"
    if isinstance(x, str):
        return {"true": "yes", "false": "no"}.get(x.lower(), x)
    return "yes" if bool(x) else "no"


def _p(text: str) -> str:
    return f'<p class="explain">{_e(text)}</p>'


def _note_not_run(stage: str, what: str) -> str:
    return f'<p class="note">not run: <code>dvc repro {_e(stage)}</code> ({_e(what)} missing)</p>'


def _note(text: str) -> str:
    return f'<p class="note">{_e(text)}</p>'


def _table(df: pd.DataFrame, table_id: str, caption: str = "", text: bool = False, **kw) -> str:
    """``DataFrame.to_html`` with escaping on and ``–`` for missing values."""
    table_id = re.sub(r"[^A-Za-z0-9_.-]", "_", table_id)  # pandas writes the id unescaped
    out = df.to_html(
        index=False,
        escape=True,
        na_rep="–",
        border=0,
        table_id=table_id,
        classes="text" if text else None,
        **kw,
    )
    if caption:
        out = out.replace(">", f"><caption>{_e(caption)}</caption>", 1)
    return out


def _img(path: Path, caption: str) -> str:
    """The PNG as a base64 data URI in a figure; a note when the file is not there."""
    if not path.is_file():
        return _note(f"figure {path.name} missing")
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{_e(caption)}">'
        f"<figcaption>{_e(caption)}</figcaption></figure>"
    )


def _label(q: str) -> str:
    unit = UNITS.get(q)
    return f"{q} [{unit}]" if unit else q


# -- provenance ------------------------------------------------------------------------------
def _git(root: Path, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, text=True, check=True, timeout=20
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def _provenance(ws: Workspace) -> dict[str, str]:
    """Which run this is: git commit of the project, digests of params.yaml and dvc.lock."""
    commit = _git(ws.root, "rev-parse", "HEAD") or "unknown (no git repository)"
    status = _git(ws.root, "--no-optional-locks", "status", "--porcelain", "--untracked-files=no")
    if status:
        commit += " (with uncommitted changes)"
    info = {
        "project": ws.root.name,
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "git commit": commit,
    }
    for name in ("params.yaml", "dvc.lock"):
        p = ws.path(name)
        info[f"{name} digest"] = file_digest(p) if p.is_file() else "missing"
    return info


# -- sections --------------------------------------------------------------------------------
def _data_section(ws: Workspace, systems: list[str]) -> str:
    out = [
        "<h2 id='data'>Data</h2>",
        _p(
            "What went into the models. Each source is read as published; the clean stage "
            "rejects physically impossible rows (with a reason code) and merges replicate "
            "measurements of the same composition and process, and the same value copied "
            "into two compilations, into one row. For every source: rows in = kept + merged "
            "+ rejected. A composition group is one chemistry (wt % rounded to 0.01), "
            "whatever its temper or source."
        ),
    ]
    for system in systems:
        out.append(f"<h3 id='data-{_e(system)}'>{_e(system)}</h3>")
        try:
            card = ws.datacard(system)
        except WorkspaceError:
            out.append(_note_not_run(f"clean@{system}", f"reports/data/{system}.json"))
            continue
        n_src = len(card.get("sources", {}))
        out.append(
            _p(
                f"{card.get('rows', '–')} clean rows in {card.get('groups', '–')} "
                f"composition groups from {n_src} source(s)."
            )
        )
        acc = ws.accounting(system)
        cols = ["source_id", "rows_in", "kept", "merged", "rejected", "reject_reasons"]
        acc = acc[[c for c in cols if c in acc.columns]]
        tot = card.get("totals") or {}
        if tot:
            total = {"source_id": "total", "reject_reasons": ""} | tot
            acc = pd.concat([acc, pd.DataFrame([total])[acc.columns]], ignore_index=True)
        acc = acc.rename(
            columns={
                "source_id": "source",
                "rows_in": "rows in",
                "reject_reasons": "reject reasons (count)",
            }
        )
        out.append(_table(acc, f"accounting-{system}", "Row accounting per source"))
        out.append(_properties(ws, system, card))
        out.append(
            _img(
                ws.path("reports", "data", f"{system}_coverage.png"),
                f"{system}: rows containing each alloying element, by source",
            )
        )
        out.append(
            _img(
                ws.path("reports", "data", f"{system}_properties.png"),
                f"{system}: distribution of each property, by source",
            )
        )
    return "\n".join(out)


def _properties(ws: Workspace, system: str, card: dict[str, Any]) -> str:
    """Rows with each property (and its range, from the processed table when present)."""
    counts = (card.get("coverage") or {}).get("properties") or {}
    try:
        table = ws.processed(system)
    except WorkspaceError:
        table = None
    rows = []
    order = [t for t in TARGETS if t in counts] + [t for t in counts if t not in TARGETS]
    for prop in order:
        n = counts[prop]
        row = {"property": _label(prop), "rows with a value": n}
        if table is not None and prop in table and table[prop].notna().any():
            v = table[prop].dropna()
            row |= {"min": v.min(), "median": v.median(), "max": v.max()}
        rows.append(row)
    if not rows:
        return ""
    df = pd.DataFrame(rows)
    fm = {c: _fmt("{:.1f}") for c in ("min", "median", "max") if c in df}
    html_out = _table(df, f"properties-{system}", "Property coverage", formatters=fm)
    if table is not None:
        flags = {
            c: int(table[c].fillna(False).astype(bool).sum())
            for c in table.columns
            if c.startswith("flag_")
        }
        flags = {k: v for k, v in flags.items() if v}
        if flags:
            html_out += _p(
                "Rows kept but flagged: " + ", ".join(f"{k} {v}" for k, v in flags.items()) + "."
            )
    return html_out


def _nominal(ws: Workspace) -> float:
    try:
        return 1.0 - float(ws.params().get("train", {}).get("alpha", DEFAULT_ALPHA))
    except (TypeError, ValueError):
        return 1.0 - DEFAULT_ALPHA


def _models_section(ws: Workspace, systems: list[str]) -> str:
    nominal = _nominal(ws)
    nom = FRACTION_FORMAT.format(nominal)
    out = [
        "<h2 id='models'>Models</h2>",
        _p(
            "One model per system and property. Several model families are compared by "
            "grouped CV; the best (the champion) is then scored under four protocols:"
        ),
        "<ul>" + "".join(f"<li>{_e(PROTOCOL_TEXT[p])}</li>" for p in PROTOCOLS) + "</ul>",
        _p(
            f"R² = 1 − (squared error / variance of the measured values): 1 is perfect, 0 "
            "is no better than predicting the mean, negative is worse. MAE and RMSE are the "
            "mean absolute and root-mean-square errors in the property's unit. Every "
            f"prediction carries a {nominal:.0%} interval; coverage = fraction of measured "
            f"values inside their interval, nominal {nom}: lower means the intervals are "
            "too narrow (over-confident). In-domain rate = fraction of test rows close "
            "enough to the training data for the model's domain check to accept them."
        ),
    ]
    for system in systems:
        out.append(f"<h3 id='models-{_e(system)}'>{_e(system)}</h3>")
        try:
            metrics = ws.metrics(system)
        except WorkspaceError:
            out.append(_note_not_run(f"train@{system}", f"reports/metrics/{system}.json"))
            continue
        for target, m in metrics.items():
            protos = m.get("protocols") or {}
            unit = f" [{UNITS[target]}]" if target in UNITS else ""
            cols = {
                "n": "test rows",
                "r2": "R²",
                "mae": f"MAE{unit}",
                "rmse": f"RMSE{unit}",
                "coverage": f"coverage (nominal {nom})",
                "interval_width": f"mean interval width{unit}",
                "in_domain_rate": "in-domain rate",
            }
            spec = {
                "n": "{:.0f}",
                "r2": R2_FORMAT,
                "mae": ERROR_FORMAT,
                "rmse": ERROR_FORMAT,
                "coverage": FRACTION_FORMAT,
                "interval_width": ERROR_FORMAT,
                "in_domain_rate": FRACTION_FORMAT,
            }
            fm = {cols[k]: _fmt(v) for k, v in spec.items()}
            rows = [
                {"protocol": p} | {cols[k]: protos[p].get(k) for k in cols}
                for p in PROTOCOLS
                if protos.get(p)
            ]
            tuned = " (tuned)" if m.get("tuned") else ""
            cap = (
                f"{target} — {NAMES.get(target, target)} [{UNITS.get(target, '')}]: "
                f"champion {m.get('champion', '?')}{tuned}, {m.get('n_rows', '–')} rows"
            )
            out.append(f"<h4>{_e(cap)}</h4>")
            if rows:
                out.append(
                    _table(
                        pd.DataFrame(rows),
                        f"metrics-{system}-{target}",
                        f"{target}: metrics per protocol",
                        formatters=fm,
                    )
                )
            missing = [p for p in PROTOCOLS if not protos.get(p)]
            if missing:
                out.append(
                    _p(
                        "Not evaluated: " + ", ".join(missing) + " (e.g. LOSO needs at "
                        "least two sources with enough rows of this property)."
                    )
                )
            out.append(
                _img(
                    ws.path("reports", "plots", system, f"{target}_parity.png"),
                    f"{system} {target}: predicted vs measured, grouped CV "
                    "(bars: 90 % interval; orange: out of domain)",
                )
            )
            out.append(
                _img(
                    ws.path("reports", "plots", system, f"{target}_calibration.png"),
                    f"{system} {target}: observed vs nominal interval coverage",
                )
            )
        out.append(_calibration(ws, system, nominal))
    out.append(_benchmarks(ws))
    return "\n".join(out)


def _calibration(ws: Workspace, system: str, nominal: float) -> str:
    """Nominal vs observed coverage (grouped CV), one column per target, and a verdict."""
    cal = ws.calibration_table(system)
    if cal.empty:
        return _note(f"{system}: no calibration curve in the metrics")
    wide = cal.pivot_table(index="nominal", columns="target", values="observed", sort=True)
    wide = wide.reset_index().rename(columns={"nominal": "nominal coverage"})
    wide.columns.name = None
    fm = {c: _fmt(FRACTION_FORMAT) for c in wide.columns}
    out = [
        f"<h4>{_e(system)}: interval calibration (grouped CV)</h4>",
        _p(
            "Each row is an interval level: the fraction of held-out measured values that "
            "fell inside the predicted interval of that nominal coverage. Well calibrated "
            "intervals give observed ≈ nominal; observed below nominal means the "
            "uncertainty is understated."
        ),
        _table(wide, f"calibration-{system}", "Observed coverage by nominal level", formatters=fm),
    ]
    verdicts = []
    for target, g in cal.groupby("target", sort=False):
        at = g.loc[(g["nominal"] - nominal).abs() < 1e-9, "observed"]
        if at.empty:
            continue
        obs = float(at.iloc[0])
        word = (
            "about right"
            if abs(obs - nominal) <= 0.03
            else "too narrow (over-confident)"
            if obs < nominal
            else "wider than needed"
        )
        verdicts.append(
            f"{target}: {FRACTION_FORMAT.format(obs)} of measured values inside the "
            f"{nominal:.0%} interval — {word}."
        )
    out.extend(_p(v) for v in verdicts)
    return "\n".join(out)


def _benchmarks(ws: Workspace) -> str:
    """Published-result anchors (optional stage ``anchors``)."""
    try:
        anchors = ws.anchors()
    except WorkspaceError:
        return ""
    if not anchors:
        return ""
    df = pd.DataFrame(anchors)
    cols = [c for c in ("dataset", "target", "metric", "value", "anchor_value", "note") if c in df]
    df = df[cols].rename(columns={"value": "ours", "anchor_value": "published"})
    fm = {c: _fmt("{:.3f}") for c in ("ours", "published") if c in df}
    return "\n".join(
        [
            "<h3 id='benchmarks'>Published benchmarks</h3>",
            _p(
                "The same dataset under the published protocol, compared with the "
                "number reported in the literature (the note says how)."
            ),
            _table(df, "benchmarks", "", text=True, formatters=fm),
        ]
    )


def _backtest_section(ws: Workspace) -> str:
    try:
        declared = list((ws.params().get("backtest") or {}).get("datasets") or {})
    except AttributeError:
        declared = []
    found = ws.backtests()
    out = [
        "<h2 id='backtest'>Discovery backtest</h2>",
        _p(
            "A replay of the campaign loop on data already measured: start from a few random "
            "alloys, let the model pick the next alloys to 'measure', and count how many "
            "measurements it takes to find the first top-1 % alloy, half and all of the top-5 % "
            "alloys, and an alloy better than the best of the starting set. The acceleration "
            "factor is the exact expected number of measurements by random picking divided by "
            "the mean number the guided search needed over the seeds (2 = half the "
            "experiments), with a 90 % bootstrap interval; baselines of the literature (random "
            "forest and Gaussian process with a lower confidence bound, Liang et al. 2021) run "
            "in the same backtest. The curves show the enhancement factor: top-5 % alloys found "
            "by the method over those random picking finds, after the same number of "
            "measurements."
        ),
    ]
    names = declared + [d for d in found if d not in declared]
    if not names:
        out.append(_note("no backtest datasets in params.yaml (backtest.datasets)"))
    metrics = {
        "top1": "first top 1 %",
        "top5_half": "half of top 5 %",
        "top5_all": "all of top 5 %",
        "beat_init": "beat initial best",
    }
    for name in names:
        out.append(f"<h3 id='backtest-{_e(name)}'>{_e(name)}</h3>")
        bt = found.get(name)
        if bt is None:
            out.append(_note_not_run(f"backtest@{name}", f"reports/backtest/{name}.json"))
            continue
        row = {
            "target": bt.get("target"),
            "candidate pool (rows)": bt.get("n_pool"),
            "composition groups": bt.get("n_groups"),
            "top 5 % rows": bt.get("n_top5"),
            "seeds": bt.get("n_seeds"),
            "method": bt.get("primary", "?"),
            "acceleration top 1 %": bt.get("acceleration_factor_top1"),
            "acceleration half of top 5 %": bt.get("acceleration_factor_top5_half"),
            "acceleration all of top 5 %": bt.get("acceleration_factor_top5_all"),
        }
        fm = {k: _fmt(FACTOR_FORMAT) for k in row if k.startswith("acceleration")}
        out.append(_table(pd.DataFrame([row]), f"backtest-{name}", "", formatters=fm))
        others = []
        for key, rep in (bt.get("methods") or {}).items():
            if rep.get("method") == "random":
                continue
            r = {"method": key + (" (primary)" if key == bt.get("primary") else "")}
            for k, label in metrics.items():
                af, ci = (
                    rep.get(f"acceleration_factor_{k}"),
                    rep.get(f"acceleration_factor_{k}_ci90"),
                )
                r[label] = (
                    f"{FACTOR_FORMAT.format(af)} ({FACTOR_FORMAT.format(ci[0])}–"
                    f"{FACTOR_FORMAT.format(ci[1])})"
                    if af is not None and ci
                    else ""
                )
            others.append(r)
        if others:
            out.append(_p("Acceleration factors of every method (90 % bootstrap interval):"))
            out.append(_table(pd.DataFrame(others), f"backtest-{name}-methods", ""))
        definition = (bt.get("definitions") or {}).get("acceleration_factor")
        if definition:
            out.append(_p("Definition: " + str(definition) + "."))
        out.append(
            _img(
                ws.path("reports", "backtest", f"{name}.png"),
                f"{name}: enhancement factor vs number of measurements",
            )
        )
    return "\n".join(out)


def _schedule(r: pd.Series) -> str:
    """Heat-treatment stages and deformation of one candidate, as a line a lab can follow."""
    parts = []
    for col in PROCESS_NUMERIC:
        v = r.get(col)
        if v is None or _missing(v) or col.endswith("_t_h"):
            continue
        if col.endswith("_T_C") and col != "deform_T_C":
            stage = col[: -len("_T_C")]
            t = r.get(f"{stage}_t_h")
            parts.append(f"{stage} {v:.0f} °C" + ("" if _missing(t) else f" × {t:.2f} h"))
        else:
            parts.append(f"{col} {v:g}")
    return "; ".join(parts)


def _candidate_table(cand: pd.DataFrame) -> pd.DataFrame:
    """The columns a scientist needs to choose what to make: alloy, process, predictions with
    their interval, density and the warnings (domain, constraints, extrapolation)."""
    quantities = list(
        dict.fromkeys(c[: -len("_pred")] for c in cand.columns if c.endswith("_pred"))
    )
    out = pd.DataFrame(index=cand.index)
    for c in ("candidate", "alloy"):
        if c in cand:
            out[c] = cand[c]
    if "route" in cand or "temper_class" in cand:
        route = cand.get("route", pd.Series("", index=cand.index)).fillna("")
        temper = cand.get("temper_class", pd.Series("", index=cand.index)).fillna("")
        out["route / temper"] = route.astype(str) + " / " + temper.astype(str)
    schedule = [_schedule(r) for _, r in cand.iterrows()]
    if any(schedule):
        out["heat treatment / deformation"] = schedule
    for q in quantities:
        pred, lo, hi = cand[f"{q}_pred"], cand.get(f"{q}_lo"), cand.get(f"{q}_hi")
        digits = "{:.3g}" if q.startswith("specific") else "{:.1f}"
        f = _fmt(digits)
        if lo is not None and hi is not None:
            out[f"{_label(q)}: predicted [90 % interval]"] = [
                f"{f(p)} [{f(a)}, {f(b)}]" for p, a, b in zip(pred, lo, hi, strict=True)
            ]
        else:
            out[f"{_label(q)}: predicted"] = pred.map(f)
    if "density_g_cm3" in cand:
        out["density [g/cm³]"] = cand["density_g_cm3"].map(_fmt("{:.3f}"))
    if "in_domain" in cand:
        score = cand["domain_score"] if "domain_score" in cand else cand["in_domain"] * float("nan")
        out["in domain (score)"] = [
            _yes_no(d) + ("" if _missing(s) else f" ({s:.2f})")
            for d, s in zip(cand["in_domain"], score, strict=True)
        ]
    if "li_phase" in cand and cand["li_phase"].notna().any():
        out["Mg-Li phase"] = cand["li_phase"]
    if "constraints_ok" in cand:
        out["constraints met"] = cand["constraints_ok"].map(_yes_no)
    if "extrapolation" in cand:
        notes = cand.get("extrapolation_notes", pd.Series("", index=cand.index)).fillna("")
        out["extrapolation"] = [
            ("yes: " + str(n)) if _yes_no(x) == "yes" and n else _yes_no(x)
            for x, n in zip(cand["extrapolation"], notes, strict=True)
        ]
    return out


def _candidates_section(ws: Workspace) -> str:
    try:
        declared = dict((ws.params().get("search") or {}).get("campaigns") or {})
    except AttributeError:
        declared = {}
    found = ws.campaigns()
    out = [
        "<h2 id='candidates'>Candidates</h2>",
        _p(
            "Alloys proposed for the next round of experiments, per design campaign. Each "
            "candidate is a composition and a process (route and temper) predicted to do "
            "well on the campaign's objectives while meeting its constraints. Read the "
            "interval, not just the prediction. 'In domain' says whether the candidate is "
            "close enough to measured alloys for the model to be trusted (the number is its "
            "distance score; larger is further away). 'Extrapolation' marks a prediction "
            "above the best value measured in the system's data, or beyond a known physical "
            "limit of the campaign: treat it as a hypothesis to test, not a forecast."
        ),
    ]
    names = list(declared) + [c for c in found if c not in declared]
    if not names:
        out.append(_note("no campaigns in params.yaml (search.campaigns)"))
    for name in names:
        out.append(f"<h3 id='campaign-{_e(name)}'>{_e(name)}</h3>")
        spec = declared.get(name) or {}
        if isinstance(spec, dict) and spec.get("description"):
            out.append(_p(" ".join(str(spec["description"]).split())))
        if name not in found:
            out.append(_note_not_run(f"search@{name}", f"reports/candidates/{name}/candidates.csv"))
            continue
        try:
            s = ws.search_summary(name)
        except WorkspaceError:
            s = {}
        if s:
            best = ", ".join(f"{k} {v:.4g}" for k, v in (s.get("best_objective") or {}).items())
            ref = ", ".join(f"{k} {v:.4g}" for k, v in (s.get("reference_best") or {}).items())
            frac = s.get("feasible_fraction")
            summary = pd.DataFrame(
                [
                    ("system", s.get("system")),
                    ("sampler", f"{s.get('sampler', '?')} ({s.get('encoding', '?')} encoding)"),
                    ("trials evaluated", s.get("n_trials_complete")),
                    (
                        "feasible trials (constraints met)",
                        f"{s.get('n_feasible')}" + ("" if frac is None else f" ({frac:.0%})"),
                    ),
                    ("best feasible objective", best or "–"),
                    ("best measured reference", ref or "–"),
                    (
                        "candidates (requested)",
                        f"{s.get('n_candidates')} ({s.get('n_candidates_requested')})",
                    ),
                    ("candidates in domain", s.get("n_candidates_in_domain")),
                    ("candidates extrapolating", s.get("n_candidates_extrapolating")),
                ],
                columns=["search", "value"],
            )
            out.append(_table(summary, f"summary-{name}", "Search summary", text=True))
        cand = ws.candidates(name)
        if cand.empty:
            out.append(_note("no feasible candidate: relax the constraints or run more trials"))
        else:
            out.append(
                _table(
                    _candidate_table(cand),
                    f"candidates-{name}",
                    f"{len(cand)} candidates, best first",
                    text=True,
                )
            )
        cdir = ws.path("reports", "candidates", name)
        out.append(
            _img(
                cdir / "history.png",
                f"{name}: objective of every trial and the best feasible value so far",
            )
        )
        if (cdir / "pareto.png").is_file():
            out.append(
                _img(
                    cdir / "pareto.png",
                    f"{name}: trade-off between the objectives (Pareto front of feasible trials)",
                )
            )
    return "\n".join(out)


# -- the page --------------------------------------------------------------------------------
def _systems(ws: Workspace) -> list[str]:
    """Systems of params.yaml, then any others the run left a data card or metrics for."""
    try:
        declared = ws.systems
    except (KeyError, TypeError):
        declared = []
    seen = [p.stem for p in sorted(ws.path("reports", "data").glob("*.json"))]
    seen += [
        p.stem
        for p in sorted(ws.path("reports", "metrics").glob("*.json"))
        if not p.stem.startswith("search_")
    ]
    return list(dict.fromkeys([*declared, *seen]))


def _anything(ws: Workspace) -> bool:
    patterns = [
        ("reports/data", "*.json"),
        ("reports/metrics", "*.json"),
        ("reports/backtest", "*.json"),
        ("reports/candidates", "*/candidates.csv"),
    ]
    return any(any(ws.path(d).glob(g)) for d, g in patterns)


def _toc(entries: Iterable[tuple[str, str]]) -> str:
    items = "".join(f"<li><a href='#{_e(a)}'>{_e(t)}</a></li>" for a, t in entries)
    return f"<nav><ul>{items}</ul></nav>"


def render(ws: Workspace) -> str:
    """The report of ``ws`` as one HTML string (see :func:`build_report`)."""
    if not _anything(ws):
        raise WorkspaceError(
            f"nothing to report in {ws.root}: no data card, metrics, backtest or candidates "
            "under reports/; run `dvc repro` first"
        )
    systems = _systems(ws)
    prov = _provenance(ws)
    meta = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in prov.items())
    body = [
        f"<h1>alloyml report: {_e(ws.root.name)}</h1>",
        f"<dl class='meta'>{meta}</dl>",
        _p(
            "Generated by `alloyml report` from the outputs of the last `dvc repro` in this "
            "project. Sections whose pipeline stage has not run say so, with the command to "
            "run."
        ),
        _toc(
            [
                ("data", "Data"),
                ("models", "Models"),
                ("backtest", "Discovery backtest"),
                ("candidates", "Candidates"),
            ]
        ),
        _data_section(ws, systems),
        _models_section(ws, systems),
        _backtest_section(ws),
        _candidates_section(ws),
    ]
    return (
        "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
        f"<title>alloyml report: {_e(ws.root.name)}</title>\n<style>{CSS}</style>\n"
        "</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )


def build_report(ws: Workspace, out: Path) -> Path:
    """Write the self-contained HTML report of ``ws`` to ``out`` and return ``out``.

    Raises:
        WorkspaceError: the project holds no pipeline output at all.
    """
    text = render(ws)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    return out
