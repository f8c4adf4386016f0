"""Headline numbers: the few values per stage that DVC declares as metrics.

Every stage writes a detailed JSON report (``reports/data/<system>.json``,
``reports/metrics/<system>.json``, ``reports/backtest/<dataset>.json``,
``reports/metrics/search_<campaign>.json``) for the data card, the HTML report and the notebooks.
Those reports hold hundreds of nested values; side by side in ``dvc metrics show`` or
``dvc exp show`` nobody can compare two experiments. So each stage also writes a small headline
document under ``reports/headline/`` (the only files ``dvc.yaml`` declares as ``metrics``),
computed from its detailed document by the pure functions here:

* ``clean_<system>.json``: rows in, kept, rejected (counts of rows, all sources);
* ``train_<system>.json``: per target, the champion's grouped-CV R², leave-one-source-out R²,
  grouped-CV MAE (target units: MPa, %, HV) and grouped-CV coverage of its interval (fraction),
  plus the R² of any extra protocol listed in :data:`EXTRA_R2_PROTOCOLS` that the report holds;
* ``backtest_<dataset>.json``: the acceleration factors only (every top-level
  ``acceleration_factor_*`` number, and ``baselines.<name>.acceleration_factor_*`` if present);
* ``search_<campaign>.json``: the number of feasible trials and, per objective, the best
  candidate's prediction with its interval (``pred``, ``lo``, ``hi`` in the quantity's units).

The functions take the detailed document as parsed JSON and return a small nested dict of
numbers (one nesting level per target, baseline or objective); they ignore keys they do not know,
so the detailed reports can grow without breaking the headline.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

#: Directory of the headline files, relative to the project root.
HEADLINE_DIR = Path("reports", "headline")
#: Protocols whose R² is a headline number when present in a target's ``protocols``, besides
#: ``grouped`` and ``loso`` (the family-held-out protocol is optional).
EXTRA_R2_PROTOCOLS: tuple[str, ...] = ("family",)
FACTOR_PREFIX = "acceleration_factor_"
CLEAN_TOTALS: tuple[str, ...] = ("rows_in", "kept", "rejected")


def _number(value: Any) -> float | int | None:
    """``value`` if it is a finite real number (bools excluded), else ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    num = _number(value)
    if num is not None:
        out[key] = num


def target_headline(entry: Mapping[str, Any]) -> dict[str, float]:
    """Headline of one target of ``reports/metrics/<system>.json``.

    Keys: ``grouped_r2``, ``loso_r2``, ``mae`` (grouped CV, target units), ``coverage`` (grouped
    CV, observed fraction of rows inside the interval), and ``<protocol>_r2`` for the protocols of
    :data:`EXTRA_R2_PROTOCOLS` present. A key whose value is missing or not finite is left out.
    """
    protocols = entry.get("protocols") or {}
    grouped = protocols.get("grouped") or {}
    out: dict[str, float] = {}
    _put(out, "grouped_r2", grouped.get("r2"))
    _put(out, "loso_r2", (protocols.get("loso") or {}).get("r2"))
    _put(out, "mae", grouped.get("mae"))
    _put(out, "coverage", grouped.get("coverage"))
    for proto in EXTRA_R2_PROTOCOLS:
        _put(out, f"{proto}_r2", (protocols.get(proto) or {}).get("r2"))
    return out


def train_headline(doc: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """Headline of ``reports/metrics/<system>.json``: ``{target: target_headline}``.

    Targets without a champion (skipped for too few rows) are left out.
    """
    out = {}
    for target, entry in sorted(doc.items()):
        if isinstance(entry, Mapping) and "champion" in entry:
            numbers = target_headline(entry)
            if numbers:
                out[target] = numbers
    return out


def backtest_headline(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Headline of ``reports/backtest/<dataset>.json``: the acceleration factors only.

    Every top-level numeric ``acceleration_factor_*`` key, and ``{name: {acceleration_factor_*}}``
    under ``baselines`` when the document compares against named baselines.
    """
    out: dict[str, Any] = {}
    for key, value in sorted(doc.items()):
        if key.startswith(FACTOR_PREFIX):
            _put(out, key, value)
    baselines = doc.get("baselines")
    if isinstance(baselines, Mapping):
        found = {}
        for name, block in sorted(baselines.items()):
            if isinstance(block, Mapping):
                factors: dict[str, Any] = {}
                for key, value in sorted(block.items()):
                    if key.startswith(FACTOR_PREFIX):
                        _put(factors, key, value)
                if factors:
                    found[name] = factors
        if found:
            out["baselines"] = found
    return out


def best_candidate(
    rows: Iterable[Mapping[str, Any]], quantities: Iterable[str]
) -> dict[str, dict[str, float]]:
    """Prediction and interval of the first (best-ranked) candidate, per objective quantity.

    ``rows`` are candidate records best first (columns ``<q>_pred``, ``<q>_lo``, ``<q>_hi``; a
    quantity computed without interval, like density, has a single column ``<q>``). Returns
    ``{quantity: {"pred", "lo", "hi"}}`` (``lo``/``hi`` only when the candidate has them), ``{}``
    when there is no candidate.
    """
    first = next(iter(rows), None)
    if first is None:
        return {}
    out: dict[str, dict[str, float]] = {}
    for q in quantities:
        block: dict[str, float] = {}
        _put(block, "pred", first.get(f"{q}_pred", first.get(q)))
        _put(block, "lo", first.get(f"{q}_lo"))
        _put(block, "hi", first.get(f"{q}_hi"))
        if "pred" in block:
            out[q] = block
    return out


def search_headline(doc: Mapping[str, Any]) -> dict[str, Any]:
    """Headline of ``reports/metrics/search_<campaign>.json``.

    ``n_feasible`` (feasible complete trials) and ``best`` = the document's ``best_candidate``
    (see :func:`best_candidate`). A document written before ``best_candidate`` existed gives the
    best feasible objective values instead, as ``best_objective`` (no interval).
    """
    out: dict[str, Any] = {}
    _put(out, "n_feasible", doc.get("n_feasible"))
    best = doc.get("best_candidate")
    if isinstance(best, Mapping) and best:
        out["best"] = {
            q: {k: v for k, v in block.items() if _number(v) is not None}
            for q, block in sorted(best.items())
            if isinstance(block, Mapping)
        }
    else:
        objective: dict[str, Any] = {}
        for q, value in sorted((doc.get("best_objective") or {}).items()):
            _put(objective, q, value)
        if objective:
            out["best_objective"] = objective
    return out


def clean_headline(doc: Mapping[str, Any]) -> dict[str, int]:
    """Headline of ``reports/data/<system>.json``: totals of rows in, kept and rejected."""
    totals = doc.get("totals") or {}
    out: dict[str, int] = {}
    for key in CLEAN_TOTALS:
        _put(out, key, totals.get(key))
    return out


def headline_path(root: str | Path, stage: str, name: str) -> Path:
    """``<root>/reports/headline/<stage>_<name>.json``."""
    return Path(root) / HEADLINE_DIR / f"{stage}_{name}.json"


def write_headline(path: str | Path, headline: Mapping[str, Any]) -> Path:
    """Write ``headline`` as sorted, indented JSON (creating the folder); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(headline, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


#: Detailed report (glob relative to the root) -> (stage, function, name of the file's stem).
SOURCES: tuple[tuple[str, str, Any], ...] = (
    ("reports/data/*.json", "clean", clean_headline),
    ("reports/backtest/*.json", "backtest", backtest_headline),
    ("reports/metrics/search_*.json", "search", search_headline),
    ("reports/metrics/*.json", "train", train_headline),
)


def from_reports(root: str | Path) -> list[Path]:
    """(Re)write every headline file of ``root`` from the detailed reports found there.

    What the stages write themselves; useful when the detailed reports are at hand but the stages
    cannot be re-run (e.g. after a change of the headline definition). Returns the paths written.
    """
    root = Path(root)
    written = []
    for pattern, stage, func in SOURCES:
        for src in sorted(root.glob(pattern)):
            name = src.stem
            if stage == "train" and name.startswith("search_"):
                continue
            if stage == "search":
                name = name.removeprefix("search_")
            doc = json.loads(src.read_text(encoding="utf-8"))
            written.append(write_headline(headline_path(root, stage, name), func(doc)))
    return written
