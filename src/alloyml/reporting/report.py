"""One self-contained HTML page of the last pipeline run (``alloyml report``).

A materials scientist should be able to mail this single file to a colleague and have it read
without the project, a browser plugin or network access: every PNG is embedded as a base64
``data:`` URI, the CSS is inline and there is no JavaScript. Every table says in a sentence or
two what it measures, because the numbers (grouped CV, LOSO, interval coverage, acceleration
factor) mean little without their protocol.

The page is laid out by Jinja templates shipped with the package (``alloyml/reporting/templates``,
autoescaped: a source or alloy name is text, never markup); this module only gathers and
formats the numbers. Everything is read through :class:`~alloyml.reporting.workspace.Workspace`, and the
settings a number depends on (the nominal coverage of the intervals, the extrapolation split,
the acquisition of a search objective) come from what the stage recorded with its output, not
from today's ``params.yaml``. A stage that has not run yet leaves a visible "not run:
``dvc repro <stage>``" note in its section instead of failing the whole report; only a project
with no outputs at all is an error (:class:`~alloyml.reporting.workspace.WorkspaceError`).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
from jinja2 import Environment, PackageLoader, StrictUndefined

from alloyml.errors import AlloyMLError
from alloyml.headline import best_candidate
from alloyml.modeling.tracking import file_digest, git_commit
from alloyml.modeling.validation import PROTOCOLS
from alloyml.paths import ProjectPaths
from alloyml.reporting.workspace import NO_ROUNDS, Workspace, WorkspaceError
from alloyml.rounds.status import hit_label
from alloyml.schema import PROCESS_NUMERIC, TARGETS, UNITS

# Number formats of the report, public so that tests and notebooks can find a value as printed.
R2_FORMAT = "{:.3f}"
ERROR_FORMAT = "{:.1f}"  # MAE, RMSE, interval width: in the target's unit
FRACTION_FORMAT = "{:.2f}"  # coverage, in-domain rate, calibration
FACTOR_FORMAT = "{:.2f}"  # backtest acceleration factors

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
    "extrapolation": "extrapolation: train on {lower}, test on {upper} of the target (the best "
    "alloys), with their composition groups removed from training. Can the model recognise "
    "alloys better than any it was shown?",
}

#: What the best feasible score of a search objective is, per acquisition (see
#: :mod:`alloyml.search.acquisition`): only ``pred`` is a predicted property value.
ACQUISITION_TEXT = {
    "pred": "the predicted value itself",
    "ucb": "upper confidence bound: prediction + κ × σ of the interval, an optimistic score "
    "that rewards uncertainty",
    "ei": "expected improvement over the best measured value",
}

TEMPLATES = "templates"


# -- what the templates receive --------------------------------------------------------------
@dataclass(frozen=True)
class Table:
    """A table as text: header cells and rows of formatted cells (escaped by the template)."""

    id: str
    header: list[str]
    rows: list[list[str]]
    caption: str = ""
    text: bool = False  # left-aligned cells (words, not numbers)


@dataclass(frozen=True)
class Figure:
    caption: str
    src: str = ""  # data URI; empty when the PNG is missing


@dataclass
class Block:
    """One titled part of a section (a system, a dataset, a campaign)."""

    id: str
    title: str
    parts: list[tuple[str, Any]] = field(default_factory=list)  # (kind, item) in page order

    def add(self, kind: str, item: Any) -> Block:
        if item is not None and item != "":
            self.parts.append((kind, item))
        return self


# -- formatting ------------------------------------------------------------------------------
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


def _cell(x: Any) -> str:
    return "–" if _missing(x) else str(x)


def _yes_no(x: Any) -> str:
    if _missing(x):
        return "–"
    if isinstance(x, str):
        return {"true": "yes", "false": "no"}.get(x.lower(), x)
    return "yes" if bool(x) else "no"


def _percent(fraction: float) -> str:
    """``0.9`` -> ``90 %`` (a nominal coverage as the page prints it)."""
    return f"{100 * fraction:.0f} %"


def _table(
    df: pd.DataFrame,
    table_id: str,
    caption: str = "",
    text: bool = False,
    formatters: Mapping[str, Callable[[Any], str]] | None = None,
) -> Table:
    """A frame as a :class:`Table`: ``formatters`` per column, ``–`` for a missing value."""
    fm = formatters or {}
    rows = [
        [fm.get(c, _cell)(v) for c, v in zip(df.columns, r, strict=True)]
        for r in df.itertuples(index=False, name=None)
    ]
    table_id = re.sub(r"[^A-Za-z0-9_.-]", "_", table_id)
    return Table(table_id, [str(c) for c in df.columns], rows, caption, text)


def _img(path: Path, caption: str) -> Figure:
    """The PNG as a base64 data URI (an empty ``src`` when the file is not there)."""
    if not path.is_file():
        return Figure(caption)
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return Figure(caption, f"data:image/png;base64,{data}")


#: the project's paths relative to its root, as a "not run" note names them
_REL = ProjectPaths()


def _not_run(stage: str, what: Path) -> dict[str, str]:
    return {"stage": stage, "what": str(what)}


def _label(q: str) -> str:
    unit = UNITS.get(q)
    return f"{q} [{unit}]" if unit else q


def _with_unit(q: str, value: str) -> str:
    unit = UNITS.get(q)
    return f"{value} {unit}" if unit else value


# -- settings recorded with the models -------------------------------------------------------
def _alpha(ws: Workspace, system: str, target: str, m: Mapping[str, Any]) -> float | None:
    """Miscoverage ``alpha`` of the target's intervals: from the metrics the train stage wrote,
    else from the trained model's metadata; ``None`` when neither records it."""
    a = m.get("alpha")
    if a is None:
        try:
            a = ws.model_meta(system, target).get("alpha")
        except WorkspaceError:
            return None
    try:
        a = float(a)
    except (TypeError, ValueError):
        return None
    return a if 0.0 < a < 1.0 else None


def _nominal_levels(ws: Workspace, systems: list[str]) -> dict[str, dict[str, float | None]]:
    """``{system: {target: nominal coverage (1 - alpha) or None}}`` of every trained target."""
    out: dict[str, dict[str, float | None]] = {}
    for system in systems:
        try:
            metrics = ws.metrics(system)
        except WorkspaceError:
            continue
        out[system] = {}
        for target, m in metrics.items():
            if isinstance(m, Mapping) and "champion" in m:
                a = _alpha(ws, system, target, m)
                out[system][target] = None if a is None else 1.0 - a
    return out


def _one_level(levels: Mapping[str, float | None]) -> float | None:
    """The common nominal coverage of ``levels``, ``None`` when unknown or not shared."""
    found = set(levels.values())
    return found.pop() if len(found) == 1 else None


def _extrapolation_text(metrics: Mapping[str, Mapping[str, Any]]) -> str:
    qs = {m.get("extrapolation_quantile") for m in metrics.values() if isinstance(m, Mapping)}
    q = qs.pop() if len(qs) == 1 else None
    if isinstance(q, int | float) and 0 < q < 1:
        lower, upper = f"the lower {_percent(q)}", f"the top {_percent(1 - q)}"
    else:
        lower, upper = "the lower values", "the highest values"
    return PROTOCOL_TEXT["extrapolation"].format(lower=lower, upper=upper)


# -- provenance ------------------------------------------------------------------------------
def _provenance(ws: Workspace) -> dict[str, str]:
    """Which run this is: git commit of the project, digests of params.yaml and dvc.lock."""
    commit = git_commit(ws.root, mark_dirty=True)
    info = {
        "project": ws.root.name,
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "git commit": "unknown (no git repository)" if commit == "unknown" else commit,
    }
    for name in ("params.yaml", "dvc.lock"):
        p = ws.path(name)
        info[f"{name} digest"] = file_digest(p) if p.is_file() else "missing"
    return info


# -- sections --------------------------------------------------------------------------------
def _data_section(ws: Workspace, systems: list[str]) -> list[Block]:
    blocks = []
    for system in systems:
        b = Block(f"data-{system}", system)
        blocks.append(b)
        try:
            card = ws.datacard(system)
        except WorkspaceError:
            b.add("not_run", _not_run(f"clean@{system}", _REL.data_card(system)))
            continue
        n_src = len(card.get("sources", {}))
        b.add(
            "p",
            f"{card.get('rows', '–')} clean rows in {card.get('groups', '–')} "
            f"composition groups from {n_src} source(s).",
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
        b.add("table", _table(acc, f"accounting-{system}", "Row accounting per source"))
        _properties(ws, system, card, b)
        b.add(
            "figure",
            _img(
                ws.paths.data_card(system, "_coverage.png"),
                f"{system}: rows containing each alloying element, by source",
            ),
        )
        b.add(
            "figure",
            _img(
                ws.paths.data_card(system, "_properties.png"),
                f"{system}: distribution of each property, by source",
            ),
        )
    return blocks


def _properties(ws: Workspace, system: str, card: dict[str, Any], b: Block) -> None:
    """Rows with each property (and its range, from the processed table when present)."""
    counts = (card.get("coverage") or {}).get("properties") or {}
    try:
        table = ws.processed(system)
    except WorkspaceError:
        table = None
    rows = []
    order = [t for t in TARGETS if t in counts] + [t for t in counts if t not in TARGETS]
    for prop in order:
        row = {"property": _label(prop), "rows with a value": counts[prop]}
        if table is not None and prop in table and table[prop].notna().any():
            v = table[prop].dropna()
            row |= {"min": v.min(), "median": v.median(), "max": v.max()}
        rows.append(row)
    if not rows:
        return
    df = pd.DataFrame(rows)
    fm = {c: _fmt("{:.1f}") for c in ("min", "median", "max") if c in df}
    b.add("table", _table(df, f"properties-{system}", "Property coverage", formatters=fm))
    if table is not None:
        flags = {
            c: int(table[c].fillna(False).astype(bool).sum())
            for c in table.columns
            if c.startswith("flag_")
        }
        flags = {k: v for k, v in flags.items() if v}
        if flags:
            b.add(
                "p",
                "Rows kept but flagged: " + ", ".join(f"{k} {v}" for k, v in flags.items()) + ".",
            )


_METRIC_SPEC = {
    "n": "{:.0f}",
    "r2": R2_FORMAT,
    "mae": ERROR_FORMAT,
    "rmse": ERROR_FORMAT,
    "coverage": FRACTION_FORMAT,
    "interval_width": ERROR_FORMAT,
    "in_domain_rate": FRACTION_FORMAT,
}


def _models_section(
    ws: Workspace, systems: list[str], levels: dict[str, dict[str, float | None]]
) -> dict[str, Any]:
    all_levels = {(s, t): v for s, lv in levels.items() for t, v in lv.items()}
    common = _one_level({f"{s}/{t}": v for (s, t), v in all_levels.items()})
    if common is not None:
        interval = (
            f"Every prediction carries an interval of {_percent(common)} nominal coverage; "
            "coverage = fraction of "
            f"measured values inside their interval, nominal {FRACTION_FORMAT.format(common)}"
        )
    else:
        interval = (
            "Every prediction carries an interval at the nominal coverage its table states; "
            "coverage = fraction of measured values inside their interval"
        )
    extrapolation = {}
    blocks = []
    for system in systems:
        b = Block(f"models-{system}", system)
        blocks.append(b)
        try:
            metrics = ws.metrics(system)
        except WorkspaceError:
            b.add("not_run", _not_run(f"train@{system}", _REL.metrics(system)))
            continue
        trained = {t: m for t, m in metrics.items() if isinstance(m, Mapping) and "champion" in m}
        extrapolation[system] = _extrapolation_text(trained)
        for target, m in trained.items():
            nominal = levels.get(system, {}).get(target)
            nom = "unknown" if nominal is None else FRACTION_FORMAT.format(nominal)
            iv = "interval" if nominal is None else f"{_percent(nominal)} interval"
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
            fm = {cols[k]: _fmt(v) for k, v in _METRIC_SPEC.items()}
            rows = [
                {"protocol": p} | {cols[k]: protos[p].get(k) for k in cols}
                for p in PROTOCOLS
                if protos.get(p)
            ]
            tuned = " (tuned)" if m.get("tuned") else ""
            b.add(
                "h4",
                f"{target} — {NAMES.get(target, target)} [{UNITS.get(target, '')}]: "
                f"champion {m.get('champion', '?')}{tuned}, {m.get('n_rows', '–')} rows",
            )
            if rows:
                b.add(
                    "table",
                    _table(
                        pd.DataFrame(rows),
                        f"metrics-{system}-{target}",
                        f"{target}: metrics per protocol",
                        formatters=fm,
                    ),
                )
            missing = [p for p in PROTOCOLS if not protos.get(p)]
            if missing:
                b.add(
                    "p",
                    "Not evaluated: " + ", ".join(missing) + " (e.g. LOSO needs at least two "
                    "sources with enough rows of this property).",
                )
            b.add(
                "figure",
                _img(
                    ws.paths.train_plots(system) / f"{target}_parity.png",
                    f"{system} {target}: predicted vs measured, grouped CV "
                    f"(bars: {iv}, cut at the physical minimum 0; orange: out of domain)",
                ),
            )
            b.add(
                "figure",
                _img(
                    ws.paths.train_plots(system) / f"{target}_calibration.png",
                    f"{system} {target}: observed vs nominal interval coverage",
                ),
            )
        unknown = [t for t in trained if levels.get(system, {}).get(t) is None]
        if unknown:
            b.parts.insert(0, ("note", (
                f"{', '.join(unknown)}: the nominal coverage of the intervals is recorded "
                "neither in the metrics (written before they carried it) nor in a trained "
                f"model's metadata; run `dvc repro train@{system}`"
            )))  # fmt: skip
        _calibration(ws, system, levels.get(system, {}), b)
    texts = set(extrapolation.values())
    protocols = [
        (texts.pop() if len(texts) == 1 else _extrapolation_text({}))
        if p == "extrapolation"
        else PROTOCOL_TEXT[p]
        for p in PROTOCOLS
    ]
    return {
        "protocols": protocols,
        "interval": interval,
        "systems": blocks,
        "benchmarks": _benchmarks(ws),
    }


def _verdict(obs: float, nominal: float) -> str:
    if abs(obs - nominal) <= 0.03:
        return "about right"
    return "too narrow (over-confident)" if obs < nominal else "wider than needed"


def _calibration(ws: Workspace, system: str, levels: Mapping[str, float | None], b: Block) -> None:
    """Nominal vs observed coverage (grouped CV), one column per target, and a verdict at each
    target's own nominal level."""
    cal = ws.calibration_table(system)
    if cal.empty:
        b.add("note", f"{system}: no calibration curve in the metrics")
        return
    wide = cal.pivot_table(index="nominal", columns="target", values="observed", sort=True)
    wide = wide.reset_index().rename(columns={"nominal": "nominal coverage"})
    wide.columns.name = None
    fm = {c: _fmt(FRACTION_FORMAT) for c in wide.columns}
    b.add("h4", f"{system}: interval calibration (grouped CV)")
    b.add(
        "p",
        "Each row is an interval level: the fraction of held-out measured values that fell "
        "inside the predicted interval of that nominal coverage. Well calibrated intervals give "
        "observed ≈ nominal; observed below nominal means the uncertainty is understated.",
    )
    b.add(
        "table",
        _table(wide, f"calibration-{system}", "Observed coverage by nominal level", formatters=fm),
    )
    for target, g in cal.groupby("target", sort=False):
        nominal = levels.get(str(target))
        if nominal is None:
            continue
        at = g.loc[(g["nominal"] - nominal).abs() < 1e-9, "observed"]
        if at.empty:
            continue
        obs = float(at.iloc[0])
        b.add(
            "p",
            f"{target}: {FRACTION_FORMAT.format(obs)} of measured values inside the "
            f"{_percent(nominal)} interval — {_verdict(obs, nominal)}.",
        )


def _benchmarks(ws: Workspace) -> Table | None:
    """Published-result anchors (optional stage ``anchors``)."""
    try:
        anchors = ws.anchors()
    except WorkspaceError:
        return None
    if not anchors:
        return None
    df = pd.DataFrame(anchors)
    cols = [c for c in ("dataset", "target", "metric", "value", "anchor_value", "note") if c in df]
    df = df[cols].rename(columns={"value": "ours", "anchor_value": "published"})
    fm = {c: _fmt("{:.3f}") for c in ("ours", "published") if c in df}
    return _table(df, "benchmarks", "", text=True, formatters=fm)


_BACKTEST_METRICS = {
    "top1": "first top 1 %",
    "top5_half": "half of top 5 %",
    "top5_all": "all of top 5 %",
    "beat_init": "beat initial best",
}


def _backtest_section(ws: Workspace) -> dict[str, Any]:
    try:
        declared = list((ws.params().get("backtest") or {}).get("datasets") or {})
    except AttributeError:
        declared = []
    found = ws.backtests()
    names = declared + [d for d in found if d not in declared]
    blocks = []
    for name in names:
        b = Block(f"backtest-{name}", name)
        blocks.append(b)
        bt = found.get(name)
        if bt is None:
            b.add("not_run", _not_run(f"backtest@{name}", _REL.backtest(name)))
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
        b.add("table", _table(pd.DataFrame([row]), f"backtest-{name}", "", formatters=fm))
        others = []
        for key, rep in (bt.get("methods") or {}).items():
            if rep.get("method") == "random":
                continue
            r = {"method": key + (" (primary)" if key == bt.get("primary") else "")}
            for k, label in _BACKTEST_METRICS.items():
                af = rep.get(f"acceleration_factor_{k}")
                ci = rep.get(f"acceleration_factor_{k}_ci90")
                r[label] = (
                    f"{FACTOR_FORMAT.format(af)} ({FACTOR_FORMAT.format(ci[0])}–"
                    f"{FACTOR_FORMAT.format(ci[1])})"
                    if af is not None and ci
                    else ""
                )
            others.append(r)
        if others:
            b.add("p", "Acceleration factors of every method (90 % bootstrap interval):")
            b.add("table", _table(pd.DataFrame(others), f"backtest-{name}-methods", ""))
        definition = (bt.get("definitions") or {}).get("acceleration_factor")
        if definition:
            b.add("p", "Definition: " + str(definition) + ".")
        b.add(
            "figure",
            _img(
                ws.paths.backtest(name, ".png"),
                f"{name}: enhancement factor vs number of measurements",
            ),
        )
    return {"datasets": blocks}


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


def _digits(q: str) -> Callable[[Any], str]:
    return _fmt("{:.3g}" if q.startswith("specific") else "{:.1f}")


def _candidate_table(cand: pd.DataFrame, nominal: float | None) -> pd.DataFrame:
    """The columns a scientist needs to choose what to make: alloy, process, predictions with
    their interval (at ``nominal`` coverage when known), density and the warnings (domain,
    constraints, extrapolation)."""
    quantities = list(
        dict.fromkeys(c[: -len("_pred")] for c in cand.columns if c.endswith("_pred"))
    )
    iv = "interval" if nominal is None else f"{_percent(nominal)} interval"
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
        f = _digits(q)
        if lo is not None and hi is not None:
            out[f"{_label(q)}: predicted [{iv}]"] = [
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


def _objectives(ws: Workspace, name: str, summary: Mapping[str, Any]) -> dict[str, dict]:
    """``{quantity: {"acquisition", "label", "kappa"}}`` of the campaign's objectives: as the
    search recorded them in its summary, else as ``params.yaml`` declares the campaign now."""
    recorded = summary.get("objectives")
    if isinstance(recorded, list) and recorded:
        return {str(o["quantity"]): dict(o) for o in recorded if isinstance(o, Mapping)}
    try:
        from alloyml.search.campaign import get_campaign

        campaign = get_campaign(ws.params(), name)
    except (AlloyMLError, AttributeError, KeyError, TypeError):
        return {}
    return {
        o.quantity: {"acquisition": o.acquisition, "label": o.label, "kappa": o.kappa}
        for o in campaign.objectives
    }


def _search_summary(
    ws: Workspace, name: str, s: Mapping[str, Any], cand: pd.DataFrame
) -> pd.DataFrame:
    """The search in a few lines. The best candidate's predicted property values (with their
    interval) are kept apart from the best acquisition score of the search (e.g. a UCB, which
    is a prediction plus an uncertainty bonus, not a predicted value)."""
    objectives = _objectives(ws, name, s)
    quantities = list(dict.fromkeys([*(s.get("best_objective") or {}), *objectives]))
    first = best_candidate(cand.to_dict("records"), quantities) if len(cand) else {}
    predicted = []
    for q, block in first.items():
        f = _digits(q)
        text = _with_unit(q, f(block["pred"]))
        if "lo" in block and "hi" in block:
            text += f" [{f(block['lo'])}, {f(block['hi'])}]"
        predicted.append(f"{q} {text}")
    if predicted and "candidate" in cand:
        predicted[-1] += f" (candidate {_cell(cand['candidate'].iloc[0])})"
    scores = []
    for q, v in (s.get("best_objective") or {}).items():
        o = objectives.get(q) or {}
        label = o.get("label") or f"objective({q})"
        acq = ACQUISITION_TEXT.get(str(o.get("acquisition")))
        scores.append(f"{label} {v:.4g}" + (f" ({acq})" if acq else ""))
    ref = ", ".join(
        f"{k} {_with_unit(k, f'{v:.4g}')}" for k, v in (s.get("reference_best") or {}).items()
    )
    frac = s.get("feasible_fraction")
    return pd.DataFrame(
        [
            ("system", s.get("system")),
            ("sampler", f"{s.get('sampler', '?')} ({s.get('encoding', '?')} encoding)"),
            ("trials evaluated", s.get("n_trials_complete")),
            (
                "feasible trials (constraints met)",
                f"{s.get('n_feasible')}" + ("" if frac is None else f" ({frac:.0%})"),
            ),
            ("best candidate: predicted", "; ".join(predicted) or "–"),
            ("best acquisition score of a feasible trial", "; ".join(scores) or "–"),
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


def _candidates_section(
    ws: Workspace, levels: dict[str, dict[str, float | None]]
) -> dict[str, Any]:
    try:
        declared = dict((ws.params().get("search") or {}).get("campaigns") or {})
    except AttributeError:
        declared = {}
    found = ws.campaigns()
    names = list(declared) + [c for c in found if c not in declared]
    blocks = []
    for name in names:
        b = Block(f"campaign-{name}", name)
        blocks.append(b)
        spec = declared.get(name) or {}
        if isinstance(spec, dict) and spec.get("description"):
            b.add("p", " ".join(str(spec["description"]).split()))
        if name not in found:
            b.add("not_run", _not_run(f"search@{name}", _REL.candidates(name, "candidates.csv")))
            continue
        try:
            s = ws.search_summary(name)
        except WorkspaceError:
            s = {}
        cand = ws.candidates(name)
        if s:
            summary = _search_summary(ws, name, s, cand)
            b.add("table", _table(summary, f"summary-{name}", "Search summary", text=True))
        if cand.empty:
            b.add("note", "no feasible candidate: relax the constraints or run more trials")
        else:
            system = str(s.get("system") or (spec.get("system") if isinstance(spec, dict) else ""))
            nominal = _one_level(levels.get(system, {}))
            b.add(
                "table",
                _table(
                    _candidate_table(cand, nominal),
                    f"candidates-{name}",
                    f"{len(cand)} candidates, best first",
                    text=True,
                ),
            )
        cdir = ws.paths.candidates(name)
        b.add(
            "figure",
            _img(
                cdir / "history.png",
                f"{name}: objective of every trial and the best feasible value so far",
            ),
        )
        if (cdir / "pareto.png").is_file():
            b.add(
                "figure",
                _img(
                    cdir / "pareto.png",
                    f"{name}: trade-off between the objectives (Pareto front of feasible trials)",
                ),
            )
    return {"campaigns": blocks}


def _rounds_section(ws: Workspace) -> dict[str, Any]:
    """Lab rounds (``data/rounds/<campaign>/``): per round and per candidate, what
    ``alloyml round status`` prints (:meth:`Workspace.round_status`, no second implementation)."""
    blocks = []
    for name in ws.round_campaigns():
        b = Block(f"rounds-{name}", name)
        blocks.append(b)
        try:
            st = ws.round_status(name)
        except WorkspaceError as e:
            b.add("note", str(e))
            continue
        q = st.objective
        r, d = st.rounds, st.candidates
        hits, pairs = int(r["hits"].sum()), int(r["pairs"].sum())
        rate = (
            f"interval hit rate over all rounds {_percent(st.hit_rate)} ({hits} of {pairs} "
            "measured candidate–property pairs inside the interval predicted when proposed)"
            if pairs
            else "nothing measured yet, so no interval hit rate"
        )
        best = "highest" if st.direction == "maximize" else "lowest"
        b.add(
            "p",
            f"{len(r)} round(s), {int(r['candidates'].sum())} candidates, "
            f"{int(r['measured'].sum())} measured, {int(r['pending'].sum())} pending; {rate}. "
            f"Best = the {best} measured {_label(q)} (the campaign's first objective), mean of "
            "a candidate's kept specimens.",
        )
        f = _digits(q)
        per_round = pd.DataFrame(
            {
                "round": r["round"],
                "proposed": r["proposed"],
                "candidates": r["candidates"],
                "measured": r["measured"],
                "pending": r["pending"],
                "interval hits": [f"{h}/{n}" for h, n in zip(r["hits"], r["pairs"], strict=True)],
                "hit rate": [_cell(None) if _missing(x) else _percent(x) for x in r["hit_rate"]],
                f"best {_label(q)} in round": r[f"best_{q}"].map(f),
                "best so far": r[f"best_so_far_{q}"].map(f),
                "models (registry version, digest of the files)": [
                    "; ".join(str(m).splitlines()) for m in r["models"]
                ],
            }
        )
        b.add("table", _table(per_round, f"rounds-{name}", "Rounds", text=True))
        if d.empty:
            continue
        cand = pd.DataFrame(
            {
                "round": d["round"],
                "candidate": d["candidate_id"],
                "alloy": d["alloy"],
                "property": d["property"].map(_label),
                "predicted [interval]": [
                    f"{_digits(t)(p)} [{_digits(t)(lo)}, {_digits(t)(hi)}]"
                    for t, p, lo, hi in zip(d["property"], d["pred"], d["lo"], d["hi"], strict=True)
                ],
                "measured": [
                    _digits(t)(m) for t, m in zip(d["property"], d["measured"], strict=True)
                ],
                "specimens": d["n_specimens"],
                "hit": d["hit"].map(hit_label),
            }
        )
        b.add(
            "table",
            _table(
                cand,
                f"round-candidates-{name}",
                "Predicted vs measured (hit: inside the interval; MISS: outside; –: no measured value yet)",
                text=True,
            ),
        )
    return {"campaigns": blocks, "none": NO_ROUNDS}


# -- the page --------------------------------------------------------------------------------
def _systems(ws: Workspace) -> list[str]:
    """Systems of params.yaml, then any others the run left a data card or metrics for."""
    try:
        declared = ws.systems
    except (KeyError, TypeError):
        declared = []
    seen = [p.stem for p in sorted(ws.paths.reports("data").glob("*.json"))]
    seen += [
        p.stem
        for p in sorted(ws.paths.reports("metrics").glob("*.json"))
        if not p.stem.startswith("search_")
    ]
    return list(dict.fromkeys([*declared, *seen]))


def _anything(ws: Workspace) -> bool:
    patterns = [("data", "*.json"), ("metrics", "*.json"), ("backtest", "*.json"),
                ("candidates", "*/candidates.csv")]  # fmt: skip
    return any(any(ws.paths.reports(d).glob(g)) for d, g in patterns)


@cache
def environment() -> Environment:
    """The Jinja environment of the report templates (package data, autoescaping on)."""
    return Environment(
        loader=PackageLoader("alloyml.reporting", TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(ws: Workspace) -> str:
    """The report of ``ws`` as one HTML string (see :func:`build_report`)."""
    if not _anything(ws):
        raise WorkspaceError(
            f"nothing to report in {ws.root}: no data card, metrics, backtest or candidates "
            "under reports/; run `dvc repro` first"
        )
    systems = _systems(ws)
    levels = _nominal_levels(ws, systems)
    return (
        environment()
        .get_template("report.html.j2")
        .render(
            project=ws.root.name,
            provenance=_provenance(ws),
            data={"systems": _data_section(ws, systems)},
            models=_models_section(ws, systems, levels),
            backtest=_backtest_section(ws),
            candidates=_candidates_section(ws, levels),
            rounds=_rounds_section(ws),
        )
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
