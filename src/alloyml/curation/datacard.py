"""The data card of a processed system table: a short markdown page and matplotlib PNGs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from alloyml.reporting.plots import figure, save_png
from alloyml.schema import BALANCE, ELEMENTS, TARGETS, UNITS


def plot_coverage(table: pd.DataFrame, system: str, path: Path) -> None:
    """Bar chart: rows containing each alloying element, stacked by source."""
    base = BALANCE[system]
    elems = [e for e in ELEMENTS if e != base and (table[e].fillna(0) > 0).any()]
    counts = pd.DataFrame(
        {sid: (g[elems].fillna(0) > 0).sum() for sid, g in table.groupby("source_id")}
    ).reindex(elems)
    counts = counts.loc[counts.sum(axis=1).sort_values(ascending=False).index]
    fig, ax = figure(figsize=(10, 4))
    counts.plot.bar(stacked=True, ax=ax, width=0.8)
    ax.set_ylabel("rows with element > 0")
    ax.set_title(f"{system}: composition coverage by source")
    ax.legend(fontsize=8)
    save_png(fig, path, dpi=110)


def plot_properties(table: pd.DataFrame, system: str, path: Path) -> None:
    """Histograms of each reported property, one colour per source."""
    props = [t for t in TARGETS if table[t].notna().any()]
    fig, axes = figure(1, len(props), figsize=(4 * len(props), 3.4), squeeze=False)
    for ax, prop in zip(axes[0], props, strict=True):
        for sid, g in table.groupby("source_id"):
            vals = g[prop].dropna()
            if len(vals):
                ax.hist(vals, bins=30, alpha=0.55, label=f"{sid} ({len(vals)})")
        ax.set_xlabel(f"{prop} [{UNITS[prop]}]")
        ax.set_ylabel("rows")
        ax.legend(fontsize=7)
    fig.suptitle(f"{system}: property distributions per source")
    save_png(fig, path, dpi=110)


def write_card(table: pd.DataFrame, report: dict[str, Any], system: str, out_dir: Path) -> Path:
    """Write ``<out_dir>/<system>.md`` with its two PNGs; return the markdown path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cov_png = out_dir / f"{system}_coverage.png"
    prop_png = out_dir / f"{system}_properties.png"
    plot_coverage(table, system, cov_png)
    plot_properties(table, system, prop_png)
    lines = [
        f"# Data card: `{system}`",
        "",
        f"{report['rows']} clean rows in {report['groups']} composition groups "
        f"(balance element {BALANCE[system]}).",
        "",
        "| source | rows in | kept | merged | rejected | main reject reasons |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for sid, s in report["sources"].items():
        reasons = ", ".join(
            f"{k} {v}" for k, v in sorted(s["rejected_by_reason"].items(), key=lambda kv: -kv[1])
        )
        lines.append(
            f"| {sid} | {s['rows_in']} | {s['kept']} | {s['merged']} | {s['rejected']} | {reasons or '–'} |"
        )
    t = report["totals"]
    lines += [
        f"| **total** | {t['rows_in']} | {t['kept']} | {t['merged']} | {t['rejected']} | |",
        "",
    ]
    lines += [
        "## Properties",
        "",
        "| property | rows | min | median | max |",
        "|---|---:|---:|---:|---:|",
    ]
    for prop in TARGETS:
        v = table[prop].dropna()
        if len(v):
            lines.append(
                f"| {prop} | {len(v)} | {v.min():.1f} | {v.median():.1f} | {v.max():.1f} |"
            )
    flags = [c for c in table.columns if c.startswith("flag_") and table[c].any()]
    if flags:
        lines += ["", "## Flags (rows kept)", ""]
        lines += [f"- `{f}`: {int(table[f].sum())} rows" for f in flags]
    if "li_phase" in table and table["li_phase"].notna().any():
        lines += ["", "## Mg-Li phase fields", ""]
        lines += [
            f"- {k}: {int(v)} rows"
            for k, v in table["li_phase"].value_counts().sort_index().items()
        ]
    lines += [
        "",
        f"![composition coverage]({cov_png.name})",
        "",
        f"![property distributions]({prop_png.name})",
        "",
    ]
    md = out_dir / f"{system}.md"
    md.write_text("\n".join(lines), encoding="utf-8")
    return md
