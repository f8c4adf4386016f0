"""``alloyml round record``: a filled lab sheet back into the data, with every row accounted.

1. The file (``.xlsx`` or ``.csv``) is copied as received to ``round-N/results.<ext>``.
2. It is checked exactly as ``alloyml data validate`` and ``dvc repro`` check any source
   (:func:`alloyml.sources.check.check_sheet`: the ``table`` adapter with the round's spec,
   :func:`alloyml.rounds.sheet.sheet_options`, then the clean stage's physical checks). Bad
   cells reject their row with a reason (``non_numeric``, ``missing_required``,
   ``composition_sum``, ``ys_gt_uts`` …); a row without any result is rejected as
   ``missing_all_targets`` and its candidate stays pending. ``rows in = kept + rejected`` is
   checked; the kept rows go to ``measured.csv``, the rejects to ``rejects.csv``, the counts to
   ``record.json``.
3. The file is registered as source ``round_<campaign>_<N>`` (adapter ``table``, its sha256, the
   same spec, ``local: true``: kept with the project) in ``data/sources.yaml`` and under
   ``ingest.sources`` in ``params.yaml``, by a text edit that leaves every other line (and
   comment) as it was; recording the round again replaces its entry.
4. The DVC stages that will rerun are read from DVC's own stage graph: ``ingest@<source>`` and
   every stage downstream of it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import yaml

from alloyml.errors import AlloyMLError, ConfigError
from alloyml.rounds.sheet import ID, sheet_options
from alloyml.rounds.store import MEASURED, RECORD, RoundError, Rounds, source_id
from alloyml.schema import ELEMENTS, PROCESS_NUMERIC, TARGETS
from alloyml.search.campaign import Campaign
from alloyml.sources.check import check_sheet
from alloyml.sources.fetch import sha256_file
from alloyml.sources.registry import FileSpec, SourceSpec, parse_sources

if TYPE_CHECKING:
    from alloyml.params import CleanParams


@dataclass
class Recorded:
    source_id: str
    folder: Path
    rows_in: int
    kept: int
    rejected: int
    rejected_by_reason: dict[str, int]
    measured: list[str]  # candidate ids with a kept row
    pending: list[str]  # candidate ids of the round without one
    unknown: list[str]  # kept rows whose candidate_id is not a candidate of the round
    sources_change: str  # added | updated | unchanged
    params_change: str
    stages: list[str] | None  # DVC stages that will rerun (None: not a DVC project)
    notes: dict[str, Any] = field(default_factory=dict)


def record_round(
    campaign: Campaign,
    rounds: Rounds,
    n: int,
    file: Path,
    *,
    clean: CleanParams,
    sources_file: Path,
    params_file: Path,
    project_dir: Path | None = None,
) -> Recorded:
    """Record the filled sheet ``file`` of round ``n`` (see the module docstring)."""
    project = Path(project_dir or Path.cwd()).resolve()
    manifest = rounds.manifest(n)
    if manifest["campaign"] != campaign.name:
        raise RoundError(f"round {n} in {rounds.dir(n)} belongs to {manifest['campaign']!r}")
    file = Path(file)
    if not file.is_file():
        raise RoundError(f"sheet {file} not found")
    ext = file.suffix.lower()
    if ext not in (".csv", ".xlsx"):
        raise RoundError(f"{file}: give the lab sheet as .xlsx or .csv (got {ext or 'no suffix'})")
    folder = rounds.dir(n)
    dest = folder / f"results{ext}"
    try:
        rel = Path(os.path.relpath(dest.resolve(), project))
    except ValueError:
        rel = Path("..")
    if rel.parts[:1] == ("..",):
        raise RoundError(
            f"the rounds folder {rounds.root} is outside the project directory {project}: a "
            "recorded round is a source kept with the project (run from the project directory)"
        )
    sid = source_id(campaign.name, n)
    options = sheet_options(campaign, n)
    if ext == ".csv":
        options.pop("sheet")
    # check a copy first: a sheet that cannot be read leaves the round as it was
    staging = folder / f".incoming{ext}"
    shutil.copyfile(file, staging)
    try:
        spec = SourceSpec(
            id=sid,
            system=campaign.system,
            adapter="table",
            files=(FileSpec(path=rel.as_posix(), sha256=sha256_file(staging), local=True),),
            options=options,
            citation=f"In-house measurements of round {n} of campaign {campaign.name} "
            "(alloyml round record).",
            licence="in-house",
        )
        checked = check_sheet(spec, [staging], clean, keep_rows=True)
    except AlloyMLError:
        staging.unlink(missing_ok=True)
        raise
    rejects = checked.rejects
    kept = checked.kept if checked.kept is not None else pd.DataFrame()
    if checked.rows_in != checked.n_kept + len(rejects):
        staging.unlink(missing_ok=True)
        raise AlloyMLError(
            f"{file}: {checked.rows_in} rows in but {checked.n_kept} kept + {len(rejects)} "
            "rejected (accounting error)"
        )
    rejects.to_csv(folder / "rejects.csv", index=False, lineterminator="\n")
    if checked.n_kept == 0:
        staging.unlink(missing_ok=True)
        reasons = ", ".join(f"{k} {v}" for k, v in rejects["reason"].value_counts().items())
        raise RoundError(
            f"{file}: no row has a usable result ({checked.rows_in} rows: {reasons}); nothing "
            f"recorded, the rejects with reasons are in {folder / 'rejects.csv'}"
        )
    for old in folder.glob("results.*"):
        old.unlink()
    staging.replace(dest)
    ids = [c["id"] for c in manifest["candidates"]]
    kept_ids = kept["alloy_name"].astype(str).tolist() if "alloy_name" in kept else []
    measured = [i for i in ids if i in set(kept_ids)]
    unknown = sorted({i for i in kept_ids if i not in ids})
    cols = [c for c in (*ELEMENTS, "route", "temper", "temper_class", *PROCESS_NUMERIC, *TARGETS)
            if c in kept.columns and kept[c].notna().any()]  # fmt: skip
    out = kept[["alloy_name", "source_row", *cols]].rename(columns={"alloy_name": ID})
    out.to_csv(folder / MEASURED, index=False, lineterminator="\n")
    sources_change = register_source(sources_file, _entry(spec))
    params_change = register_ingest(params_file, sid, campaign.system)
    stages = stages_to_rerun(project, f"ingest@{sid}")
    by_reason = {str(k): int(v) for k, v in rejects["reason"].value_counts().sort_index().items()}
    rec = Recorded(
        source_id=sid,
        folder=folder,
        rows_in=int(checked.rows_in),
        kept=int(checked.n_kept),
        rejected=len(rejects),
        rejected_by_reason=by_reason,
        measured=measured,
        pending=[i for i in ids if i not in measured],
        unknown=unknown,
        sources_change=sources_change,
        params_change=params_change,
        stages=stages,
        notes=checked.notes,
    )
    doc = {
        "campaign": campaign.name,
        "round": n,
        "source_id": sid,
        "file": rel.as_posix(),
        "received_as": file.name,
        "sha256": spec.main.sha256,
        "rows_in": rec.rows_in,
        "kept": rec.kept,
        "rejected": rec.rejected,
        "rejected_by_reason": by_reason,
        "measured": measured,
        "pending": rec.pending,
        "unknown_candidate_ids": unknown,
        "dvc_stages_to_rerun": stages,
    }
    (folder / RECORD).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return rec


def _entry(spec: SourceSpec) -> dict[str, Any]:
    f = spec.main
    return {
        "id": spec.id,
        "system": spec.system,
        "adapter": spec.adapter,
        "files": [{"path": f.path, "sha256": f.sha256, "local": True}],
        "options": spec.options,
        "citation": spec.citation,
        "licence": spec.licence,
    }


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def register_source(sources_file: Path, entry: dict[str, Any]) -> str:
    """Add (or replace) ``entry`` in the sources registry by a text edit; the rest of the file
    is left as written. Returns ``added``, ``updated`` or ``unchanged``."""
    path = Path(sources_file)
    if not path.is_file():
        raise ConfigError(f"source registry {path} not found")
    text = path.read_text(encoding="utf-8")
    block = yaml.safe_dump([entry], sort_keys=False, allow_unicode=True, width=100)
    block = "".join(f"  {line}" if line.strip() else line for line in block.splitlines(True))
    head = re.compile(rf"^  - id: {re.escape(entry['id'])}\s*$", re.MULTILINE)
    m = head.search(text)
    if m:
        nxt = re.compile(r"^  - id: |^\S", re.MULTILINE).search(text, m.end())
        end = nxt.start() if nxt else len(text)
        old = text[m.start() : end]
        tail = "\n" if nxt else ""
        if old.strip() == block.strip():
            return "unchanged"
        new, change = text[: m.start()] + block + tail + text[end:], "updated"
    else:
        new = text.rstrip("\n") + "\n\n" + block
        change = "added"
    specs = parse_sources(yaml.safe_load(new), where=str(path))  # the result must still validate
    before = parse_sources(yaml.safe_load(text), where=str(path))
    if set(specs) - set(before) - {entry["id"]} or set(before) - set(specs):
        raise ConfigError(f"{path}: editing the registry would change other sources; add "
                          f"source {entry['id']!r} by hand")  # fmt: skip
    _atomic_write(path, new)
    return change


def register_ingest(params_file: Path, sid: str, system: str) -> str:
    """Add ``sid: system`` under ``ingest.sources`` of ``params.yaml`` by a text edit."""
    path = Path(params_file)
    if not path.is_file():
        raise ConfigError(f"params file {path} not found")
    text = path.read_text(encoding="utf-8")
    doc = yaml.safe_load(text) or {}
    srcs = (doc.get("ingest") or {}).get("sources")
    if not isinstance(srcs, dict):
        raise ConfigError(f"{path}: no `ingest.sources` mapping to register {sid!r} in")
    if sid in srcs:
        if srcs[sid] != system:
            raise ConfigError(f"{path}: ingest.sources.{sid} is {srcs[sid]!r}, not {system!r}")
        return "unchanged"
    lines = text.splitlines(keepends=True)
    manual = ConfigError(f"{path}: cannot find the block `ingest: sources:`; add `{sid}: {system}` "
                         "under ingest.sources by hand")  # fmt: skip
    try:
        i = next(k for k, ln in enumerate(lines) if re.match(r"^ingest:\s*(#.*)?$", ln))
        j = next(
            k
            for k in range(i + 1, len(lines))
            if re.match(r"^(\s+)sources:\s*(#.*)?$", lines[k]) or re.match(r"^\S", lines[k])
        )
    except StopIteration:
        raise manual from None
    m = re.match(r"^(\s+)sources:", lines[j])
    if not m:
        raise manual
    parent = len(m.group(1))
    last, indent = j, None
    for k in range(j + 1, len(lines)):
        ln = lines[k]
        if not ln.strip() or ln.lstrip().startswith("#"):
            continue
        ind = len(ln) - len(ln.lstrip(" "))
        if ind <= parent:
            break
        indent = indent if indent is not None else ind
        last = k
    if indent is None:
        raise manual
    lines.insert(last + 1, f"{' ' * indent}{sid}: {system}\n")
    new = "".join(lines)
    new_doc = yaml.safe_load(new)
    expected = json.loads(json.dumps(doc))
    expected["ingest"]["sources"][sid] = system
    if json.loads(json.dumps(new_doc)) != expected:
        raise manual
    _atomic_write(path, new)
    return "added"


def stages_to_rerun(project_dir: Path, stage: str) -> list[str] | None:
    """``stage`` and every DVC stage downstream of it, from DVC's stage graph; ``None`` when the
    folder is not a DVC project (or DVC cannot read it)."""
    if not (Path(project_dir) / "dvc.yaml").is_file():
        return None
    try:
        import networkx as nx
        from dvc.repo import Repo

        with Repo(str(project_dir)) as repo:
            graph = repo.index.graph
            node = next((s for s in graph if s.addressing == stage), None)
            if node is None:
                return None
            return [stage, *sorted(s.addressing for s in nx.ancestors(graph, node))]
    except Exception:  # DVC not initialised, unreadable dvc.yaml: the caller says so
        return None
