"""The ``alloyml`` command line (typer). Errors print one message and exit non-zero."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from alloyml import paths
from alloyml.errors import AlloyMLError, ConfigError
from alloyml.paths import ProjectPaths

# Only typer, rich's console and alloyml.errors are imported at module level, so that
# ``alloyml --help`` starts in a fraction of a second: pandas, scikit-learn, mlflow, optuna and
# the package's own heavy modules are imported inside the commands that need them.

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="alloyml: light-alloy design with ML."
)
data_app = typer.Typer(no_args_is_help=True, help="Check and inspect data.")
app.add_typer(data_app, name="data")
round_app = typer.Typer(
    no_args_is_help=True,
    help="Run a campaign round by round: propose, lab sheet, record results, status.",
)
app.add_typer(round_app, name="round")

console = Console()
err_console = Console(stderr=True)


def _fail(exc: Exception) -> None:
    err_console.print(f"[bold red]error:[/] {exc}", highlight=False)
    raise typer.Exit(code=1)


def _spec_from_file(path: Path, data_file: Path):
    from alloyml.config import load_yaml
    from alloyml.sources.registry import FileSpec, SourceSpec, parse_sources

    top_level = "expected a mapping with id, system, adapter, options"
    doc = load_yaml(path, "spec file", top_level=top_level)
    if "sources" in doc:
        specs = parse_sources(doc, where=str(path))
        if len(specs) != 1:
            raise ConfigError(f"{path}: give exactly one source to validate against")
        spec = next(iter(specs.values()))
    else:
        entry = dict(doc)
        entry.setdefault("adapter", "table")
        entry["files"] = [{"path": data_file.name, "sha256": "0" * 64}]
        spec = next(iter(parse_sources({"sources": [entry]}, where=str(path)).values()))
    return SourceSpec(
        id=spec.id,
        system=spec.system,
        adapter=spec.adapter,
        files=(FileSpec(path=data_file.name, sha256="0" * 64),),
        options=spec.options,
    )


#: Rejected rows printed in the terminal; all of them go to ``--rejects``.
MAX_REJECTS_SHOWN = 50


def _writable_csv(path: Path, what: str) -> Path:
    """``path`` with its folder created, or a :class:`ConfigError` saying why it cannot be."""
    if path.is_dir():
        raise ConfigError(f"{what} {path} is a folder: give a file name, e.g. {path / 'out.csv'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the folder of {what} {path}: {exc.strerror}") from None
    return path


def _write_csv(frame, path: Path, what: str) -> None:
    try:
        frame.to_csv(_writable_csv(path, what), index=False)
    except OSError as exc:
        raise ConfigError(f"cannot write {what} {path}: {exc.strerror or exc}") from None


def _read_predict_csv(path: Path):
    """The ``predict --input`` table: UTF-8 text, delimiter detected, element columns required.

    A ``;``-separated file (a European Excel export) is read with decimal commas.
    """
    import io

    import pandas as pd

    from alloyml.schema import ELEMENTS
    from alloyml.sources.base import sniff_delimiter

    if not path.is_file():
        raise ConfigError(f"input file {path} not found")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path} is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}): save it "
            "as UTF-8 (Excel: 'CSV UTF-8')"
        ) from None
    sep = sniff_delimiter(text)
    try:
        table = pd.read_csv(io.StringIO(text), sep=sep, decimal="," if sep == ";" else ".")
    except (ValueError, pd.errors.ParserError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    if not any(c in ELEMENTS for c in table.columns):
        raise ConfigError(
            f"{path}: no element column (found {list(table.columns)}); name the columns by "
            "element symbol, in wt %, e.g. Zn, Mg, Cu"
        )
    return table


@data_app.command("validate")
def data_validate(
    file: Annotated[Path, typer.Argument(help="CSV or Excel sheet to check")],
    spec: Annotated[
        Path, typer.Option("--spec", help="YAML source spec (id, system, adapter, options)")
    ],
    rejects_out: Annotated[
        Path | None,
        typer.Option("--rejects", help="write the rejected rows to this CSV (folders created)"),
    ] = None,
    params_file: Annotated[
        Path, typer.Option("--params", help="params.yaml for the clean checks")
    ] = Path("params.yaml"),
) -> None:
    """Check an in-house sheet against a source spec before adding it to data/sources.yaml.

    Runs the spec's adapter and the clean stage's physical checks, prints a summary and the
    rejects with reasons. Exits 1 on a hard error (unreadable file, missing column, bad spec).
    Text files are read as UTF-8 with the delimiter detected; a spec may set options.encoding
    (e.g. latin-1) and options.delimiter.
    """
    from rich.table import Table

    from alloyml.params import CleanParams, clean_params, load_yaml
    from alloyml.schema import ELEMENTS, TARGETS
    from alloyml.sources.check import check_sheet

    columns = [*ELEMENTS, *TARGETS]
    try:
        if not file.is_file():
            raise ConfigError(f"data file {file} not found")
        if rejects_out is not None:
            _writable_csv(rejects_out, "--rejects file")
        src = _spec_from_file(spec, file)
        cp = clean_params(load_yaml(params_file)) if params_file.is_file() else CleanParams()
        checked = check_sheet(src, [file], cp)
    except AlloyMLError as exc:
        _fail(exc)
        return
    rows_in, n_kept, coverage = checked.rows_in, checked.n_kept, checked.coverage
    notes, rejects = checked.notes, checked.rejects
    summary = Table(title=f"{file.name} as source {src.id!r} ({src.system})")
    summary.add_column("rows in", justify="right")
    summary.add_column("usable", justify="right")
    summary.add_column("rejected", justify="right")
    summary.add_row(str(rows_in), str(n_kept), str(len(rejects)))
    console.print(summary)
    cov = Table(title="columns read")
    cov.add_column("column")
    cov.add_column("rows with a value", justify="right")
    for col in columns:
        if coverage[col]:
            cov.add_row(col, str(coverage[col]))
    console.print(cov)
    if notes.get("unmapped_columns"):
        err_console.print(f"[yellow]warning:[/] columns ignored: {notes['unmapped_columns']}")
    if len(rejects):
        shown = rejects.sort_values("source_row", kind="stable").head(MAX_REJECTS_SHOWN)
        rt = Table(title="rejected rows")
        for c in ("source_row", "stage", "reason", "column", "detail"):
            rt.add_column(c)
        for _, r in shown.iterrows():
            rt.add_row(
                str(r["source_row"]), r["stage"], r["reason"], str(r["column"]), str(r["detail"])
            )
        console.print(rt)
        if len(rejects) > len(shown):
            more = len(rejects) - len(shown)
            by_reason = ", ".join(f"{k} {v}" for k, v in rejects["reason"].value_counts().items())
            console.print(
                f"{more} more rejected rows not shown ({by_reason} in all)"
                + ("" if rejects_out is not None else "; write them all with --rejects FILE"),
                highlight=False,
            )
    if rejects_out is not None:
        try:
            _write_csv(rejects, rejects_out, "--rejects file")
        except AlloyMLError as exc:
            _fail(exc)
            return
        console.print(f"rejects written to {rejects_out}")


@data_app.command("inspect")
def data_inspect(
    system: Annotated[str, typer.Argument(help="al or mg")],
    processed_dir: Annotated[Path, typer.Option(help="directory of the processed tables")] = Path(
        "data/processed"
    ),
) -> None:
    """Summarise a processed table: rows per source, property coverage and ranges."""
    import pandas as pd
    from rich.table import Table

    from alloyml.schema import TARGETS

    path = processed_dir / f"{system}.parquet"
    if not path.is_file():
        _fail(ConfigError(f"{path} not found: run `dvc repro clean@{system}` first"))
    df = pd.read_parquet(path)
    t = Table(title=f"{path} — {len(df)} rows, {df['group_id'].nunique()} composition groups")
    t.add_column("source")
    t.add_column("rows", justify="right")
    for prop in TARGETS:
        t.add_column(prop, justify="right")
    for sid, g in df.groupby("source_id"):
        t.add_row(
            sid,
            str(len(g)),
            *[
                f"{g[p].notna().sum()} ({g[p].min():.0f}–{g[p].max():.0f})"
                if g[p].notna().any()
                else "–"
                for p in TARGETS
            ],
        )
    console.print(t)


@app.command("predict")
def predict_cmd(
    alloy: Annotated[
        str | None, typer.Argument(help="alloy string, e.g. Al-5.6Zn-2.5Mg-1.6Cu-0.23Cr")
    ] = None,
    system: Annotated[str, typer.Option("--system", help="al or mg")] = "al",
    temper: Annotated[
        str | None,
        typer.Option(
            "--temper",
            help="designation (T6, T651, T7351, H18, O, F, RRA) or a state ('as-cast', 'cast + T6')",
        ),
    ] = None,
    route: Annotated[
        str | None, typer.Option("--route", help="e.g. cast, extruded, rolled")
    ] = None,
    input_csv: Annotated[
        Path | None, typer.Option("--input", help="CSV of element wt% columns")
    ] = None,
    output_csv: Annotated[
        Path | None, typer.Option("--output", help="where to write the predictions")
    ] = None,
    models_dir: Annotated[Path, typer.Option("--models-dir")] = Path(paths.MODELS),
) -> None:
    """Predict strength and ductility with calibrated intervals and a domain flag."""
    import pandas as pd
    from rich.table import Table

    from alloyml.modeling.predict import load_bundles, predict_string, predict_table

    if system not in ("al", "mg"):
        _fail(ConfigError(f"--system must be al or mg, got {system!r}"))
    if (alloy is None) == (input_csv is None):
        _fail(ConfigError("give either an alloy string or --input CSV (not both)"))
    try:
        if output_csv is not None:
            _writable_csv(output_csv, "--output file")
        table = _read_predict_csv(input_csv) if input_csv is not None else None
        bundles = load_bundles(models_dir, system)
        if table is not None:
            result = predict_table(table, system, bundles)
            unknown = result.attrs.get("unused_columns")
            if unknown:
                err_console.print(f"[yellow]warning:[/] columns not used: {unknown}")
        else:
            result = predict_string(alloy, system, bundles, temper=temper, route=route)
    except (AlloyMLError, ValueError) as exc:
        _fail(exc)
        return
    n_err = int((result["error"] != "").sum())
    if alloy is not None and n_err:  # one alloy from the command line: its error is the answer
        _fail(AlloyMLError(f"{alloy}: {result['error'].iloc[0]}"))
    if n_err == len(result):
        first = "; ".join(f"row {i}: {e}" for i, e in result["error"].head(3).items())
        _fail(AlloyMLError(f"no row could be predicted ({first}{'; …' if n_err > 3 else ''})"))
    if output_csv is not None:
        try:
            _write_csv(result, output_csv, "--output file")
        except AlloyMLError as exc:
            _fail(exc)
            return
        console.print(f"{len(result) - n_err} rows predicted, {n_err} with errors -> {output_csv}")
        n_unknown = int(((result["error"] == "") & ~result["process_known"]).sum())
        if n_unknown:
            err_console.print(
                f"[yellow]warning:[/] {n_unknown} predicted rows have an unknown process state "
                "(process_known = False): no temper, or one alloyml cannot decode"
            )
        return
    for i, row in result.iterrows():
        if alloy is not None:
            title = alloy + (f" {temper}" if temper else "")
        else:  # rows are numbered from 0 after the header, as in `data validate`
            title = f"row {i}" + (f" ({row['id']})" if pd.notna(row.get("id")) else "")
        t = Table(title=title)
        for c in ("property", "prediction", "interval (90 %)", "in domain"):
            t.add_column(c)
        if row["error"]:
            err_console.print(f"{title}: {row['error']}", style="red", highlight=False)
            continue
        if not row.get("process_known", True):
            err_console.print(
                f"note: {title}: process state unknown to the model (no temper, or one alloyml "
                "cannot decode); give e.g. --temper T6, 'as-cast' or 'cast + T6'"
            )
        if row.get("route_assumed"):
            err_console.print(
                "note: no --route given; assumed 'wrought' (Al training rows are mostly wrought)"
            )
        for target in bundles:
            t.add_row(
                target,
                f"{row[f'{target}_pred']:.1f}",
                f"[{row[f'{target}_lo']:.1f}, {row[f'{target}_hi']:.1f}]",
                "yes"
                if row[f"{target}_in_domain"]
                else "[yellow]no: far from the training data[/]",
            )
        console.print(t)


@app.command("search")
def search_cmd(
    campaign: Annotated[str, typer.Argument(help="campaign name (params.yaml search.campaigns)")],
    n_trials: Annotated[
        int | None, typer.Option("--n-trials", min=1, help="evaluations the study should hold")
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option("--batch-size", min=1, help="candidates for the next experimental round"),
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            help="Optuna storage URL (default $ALLOYML_OPTUNA_STORAGE, else "
            "<output>/study.journal); team mode: postgresql://user@host/db or "
            "redis://host:6379/0 (exact shared --n-trials)",
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", help="default reports/candidates/<campaign>")
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="continue (or join as a worker) an existing study")
    ] = False,
    eval_batch: Annotated[
        int | None, typer.Option("--eval-batch", min=1, help="trials asked and evaluated per round")
    ] = None,
    params_file: Annotated[Path, typer.Option("--params")] = Path("params.yaml"),
    models_dir: Annotated[Path, typer.Option("--models-dir")] = Path(paths.MODELS),
    processed_dir: Annotated[Path, typer.Option("--processed-dir")] = Path(paths.PROCESSED),
    features_dir: Annotated[Path, typer.Option("--features-dir")] = Path(paths.FEATURES),
    track: Annotated[
        bool, typer.Option("--track/--no-track", help="log the run to MLflow (alloyml-search)")
    ] = True,
) -> None:
    """Search composition + process space for candidates (Optuna, batched, constrained)."""
    from contextlib import nullcontext

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from alloyml.params import base_params, load_yaml
    from alloyml.search import get_campaign, run_campaign

    try:
        doc = load_yaml(params_file)
        camp = get_campaign(doc, campaign)
        seed = base_params(doc).seed
    except AlloyMLError as exc:
        _fail(exc)
        return
    out = output or ProjectPaths().candidates(campaign)
    bar = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), console=err_console,
    )  # fmt: skip
    task = bar.add_task(campaign, total=n_trials or camp.n_trials, rate="")

    def progress(done: int, total: int, stats) -> None:
        rate = f"{stats.evals_per_s:.0f} evals/s" if stats.n_new else ""
        bar.update(task, completed=done, total=total, rate=rate)

    try:
        if track:
            from alloyml.modeling.tracking import open_tracker
            from alloyml.search.track import EXPERIMENT

            tracking = open_tracker(EXPERIMENT)
        else:
            tracking = nullcontext()
        with tracking as tracker, bar:
            result = run_campaign(
                camp, seed=seed, models_dir=models_dir,
                processed_path=processed_dir / f"{camp.system}.parquet", output_dir=out,
                features_path=features_dir / f"{camp.system}.parquet",
                storage=storage, n_trials=n_trials, eval_batch=eval_batch,
                batch_size=batch_size, resume=resume, progress=progress, tracker=tracker,
            )  # fmt: skip
    except AlloyMLError as exc:
        _fail(exc)
        return
    s = result.summary
    t = Table(title=f"{campaign}: {len(result.candidates)} candidates "
                    f"({s['n_feasible']} feasible of {s['n_trials_complete']} trials)")  # fmt: skip
    for col in ("#", "alloy", "route / temper"):
        t.add_column(col)
    quantities = [q for q in camp.quantities() if q != "density_g_cm3"]
    for q in quantities:
        t.add_column(q, justify="right")
    t.add_column("density", justify="right")
    t.add_column("domain", justify="right")
    t.add_column("notes")
    for _, r in result.candidates.iterrows():
        cells = [
            f"{r[f'{q}_pred']:.4g} [{r[f'{q}_lo']:.4g}, {r[f'{q}_hi']:.4g}]" for q in quantities
        ]
        dom = f"{r['domain_score']:.2f}" + ("" if r["in_domain"] else " (out)")
        notes = "extrapolation" if r["extrapolation"] else ""
        t.add_row(str(r["candidate"]), r["alloy"], f"{r['route']} / {r['temper_class']}",
                  *cells, f"{r['density_g_cm3']:.3f}", dom, notes)  # fmt: skip
    console.print(t)
    rate = f", {s['evals_per_s']:.0f} evals/s" if s["evals_per_s"] else ""
    console.print(
        f"study [bold]{s['study_name']}[/] in {s['storage']}: {s['n_trials_complete']} trials "
        f"({s['n_trials_this_run']} this run{rate}, {s['n_workers']} worker(s))",
        highlight=False,
    )
    console.print(f"candidates: {result.paths['candidates_csv']}, {result.paths['candidates_md']}")


@app.command("report")
def report_cmd(
    output: Annotated[
        Path | None,
        typer.Option("--output", help="HTML file to write (default reports/report.html)"),
    ] = None,
    project: Annotated[
        Path | None,
        typer.Option("--project", help="project directory (default: the one around the cwd)"),
    ] = None,
) -> None:
    """Write one self-contained HTML report of the last pipeline run.

    Data card, model metrics per protocol, interval coverage, backtest curves and candidates
    per campaign, with the plots embedded, so the single file can be mailed or archived.
    """
    from alloyml.reporting.report import build_report
    from alloyml.reporting.workspace import Workspace

    try:
        ws = Workspace.at(project) if project is not None else Workspace.find()
        path = build_report(ws, output or ws.paths.report_html())
    except (AlloyMLError, OSError) as exc:
        _fail(exc)
        return
    console.print(f"report written to {path}", highlight=False, soft_wrap=True)


# -- rounds (issue 12) --------------------------------------------------------------------------

RoundsDir = Annotated[
    Path, typer.Option("--rounds-dir", help="folder of the rounds (<dir>/<campaign>/round-N)")
]
ParamsFile = Annotated[Path, typer.Option("--params")]


def _round_campaign(params_file: Path, campaign: str):
    from alloyml.params import base_params, load_yaml
    from alloyml.search import get_campaign

    doc = load_yaml(params_file)
    return doc, get_campaign(doc, campaign), base_params(doc).seed


@round_app.command("propose")
def round_propose(
    campaign: Annotated[str, typer.Argument(help="campaign name (params.yaml search.campaigns)")],
    rounds_dir: RoundsDir = Path("data/rounds"),
    fantasy: Annotated[
        str,
        typer.Option(
            "--fantasy",
            help="pending candidates as `believer` (kriging believer) or "
            "`liar` (constant liar: the lowest measured value)",
        ),
    ] = "believer",
    n_trials: Annotated[int | None, typer.Option("--n-trials", min=1)] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1)] = None,
    eval_batch: Annotated[int | None, typer.Option("--eval-batch", min=1)] = None,
    storage: Annotated[str | None, typer.Option("--storage", help="Optuna storage URL")] = None,
    params_file: ParamsFile = Path("params.yaml"),
    models_dir: Annotated[Path, typer.Option("--models-dir")] = Path(paths.MODELS),
    processed_dir: Annotated[Path, typer.Option("--processed-dir")] = Path(paths.PROCESSED),
    features_dir: Annotated[Path, typer.Option("--features-dir")] = Path(paths.FEATURES),
    track: Annotated[
        bool, typer.Option("--track/--no-track", help="log the round to MLflow (alloyml-search)")
    ] = True,
) -> None:
    """Propose the next round: search, then a batch away from every pending or measured one."""
    from contextlib import nullcontext

    from rich.table import Table

    from alloyml.search.acquisition import FANTASIES

    try:
        if fantasy not in FANTASIES:
            raise ConfigError(f"--fantasy must be one of {', '.join(FANTASIES)}, got {fantasy!r}")
        _, camp, seed = _round_campaign(params_file, campaign)
        from alloyml.rounds.propose import propose_round

        if track:
            from alloyml.modeling.tracking import open_tracker
            from alloyml.search.track import EXPERIMENT

            tracking = open_tracker(EXPERIMENT)
        else:
            tracking = nullcontext()
        with tracking as tracker:
            prop = propose_round(
                camp, seed=seed, rounds_root=rounds_dir, models_dir=models_dir,
                processed_path=processed_dir / f"{camp.system}.parquet",
                features_path=features_dir / f"{camp.system}.parquet", storage=storage,
                n_trials=n_trials, eval_batch=eval_batch, batch_size=batch_size,
                fantasy=fantasy, tracker=tracker,
            )  # fmt: skip
    except AlloyMLError as exc:
        _fail(exc)
        return
    m = prop.manifest
    t = Table(title=f"{campaign} round {prop.number}: {len(m['candidates'])} candidates")
    for col in ("candidate", "alloy", "route / temper", "load"):
        t.add_column(col)
    shown = [q for q in camp.targets()]
    for q in shown:
        t.add_column(q, justify="right")
    for c in m["candidates"]:
        d = c["design"]
        cells = [
            f"{c['predictions'][q]['pred']:.4g} [{c['predictions'][q]['lo']:.4g}, "
            f"{c['predictions'][q]['hi']:.4g}]"
            for q in shown
        ]
        load = "" if c["furnace_load"] is None else str(c["furnace_load"])
        t.add_row(c["id"], c["alloy"], f"{d['route']} / {d['temper']}", load, *cells)
    console.print(t)
    console.print(
        f"{len(m['pending_fantasies'])} pending candidate(s) of earlier rounds used as fantasies "
        f"({fantasy}), {len(m['excluded_measured'])} measured one(s) excluded; "
        f"written to {prop.folder}",
        highlight=False,
        soft_wrap=True,
    )
    console.print(f"next: alloyml round sheet {campaign} {prop.number}", highlight=False)


@round_app.command("sheet")
def round_sheet(
    campaign: Annotated[str, typer.Argument(help="campaign name")],
    number: Annotated[int, typer.Argument(help="round number", min=1)],
    rounds_dir: RoundsDir = Path("data/rounds"),
    params_file: ParamsFile = Path("params.yaml"),
) -> None:
    """Write the lab sheet of a round (.xlsx and .csv)."""
    try:
        _, camp, _ = _round_campaign(params_file, campaign)
        from alloyml.rounds import Rounds
        from alloyml.rounds.sheet import write_sheet

        xlsx, csv = write_sheet(camp, Rounds(rounds_dir, campaign), number)
    except AlloyMLError as exc:
        _fail(exc)
        return
    console.print(f"lab sheet: {xlsx} and {csv}", highlight=False, soft_wrap=True)
    console.print(
        f"fill it, then: alloyml round record {campaign} {number} <filled sheet>", highlight=False
    )


@round_app.command("record")
def round_record(
    campaign: Annotated[str, typer.Argument(help="campaign name")],
    number: Annotated[int, typer.Argument(help="round number", min=1)],
    file: Annotated[Path, typer.Argument(help="the filled lab sheet (.xlsx or .csv)")],
    rounds_dir: RoundsDir = Path("data/rounds"),
    params_file: ParamsFile = Path("params.yaml"),
) -> None:
    """Record the measured results of a round: validate, register as a source, list the reruns."""
    from rich.table import Table

    try:
        doc, camp, _ = _round_campaign(params_file, campaign)
        from alloyml.params import clean_params, ingest_params
        from alloyml.rounds import Rounds
        from alloyml.rounds.record import record_round

        rec = record_round(
            camp, Rounds(rounds_dir, campaign), number, file, clean=clean_params(doc),
            sources_file=Path(ingest_params(doc).sources_file), params_file=params_file,
        )  # fmt: skip
    except AlloyMLError as exc:
        _fail(exc)
        return
    t = Table(title=f"{file.name} as round {number} of {campaign} (source {rec.source_id})")
    for col in ("rows in", "kept", "rejected"):
        t.add_column(col, justify="right")
    t.add_row(str(rec.rows_in), str(rec.kept), str(rec.rejected))
    console.print(t)
    if rec.rejected:
        console.print(
            "rejected: " + ", ".join(f"{k} {v}" for k, v in rec.rejected_by_reason.items())
            + f" (rows and reasons: {rec.folder / 'rejects.csv'})",
            highlight=False, soft_wrap=True,
        )  # fmt: skip
    console.print(
        f"measured: {', '.join(rec.measured) or 'none'}; still pending: "
        f"{', '.join(rec.pending) or 'none'}",
        highlight=False,
        soft_wrap=True,
    )
    if rec.unknown:
        err_console.print(
            f"[yellow]warning:[/] kept rows with ids that are not candidates of round {number}: "
            f"{rec.unknown} (they enter training, but no prediction is compared with them)"
        )
    console.print(
        f"source {rec.source_id}: data/sources.yaml {rec.sources_change}, params.yaml "
        f"ingest.sources {rec.params_change}",
        highlight=False,
    )
    if rec.stages is None:
        console.print("not a DVC project here: run `dvc status` in the project to see the reruns")
    else:
        console.print(
            f"`dvc repro` will rerun {len(rec.stages)} stages: {', '.join(rec.stages)}",
            highlight=False,
            soft_wrap=True,
        )


@round_app.command("status")
def round_status_cmd(
    campaign: Annotated[str, typer.Argument(help="campaign name")],
    rounds_dir: RoundsDir = Path("data/rounds"),
    params_file: ParamsFile = Path("params.yaml"),
    output: Annotated[
        Path | None, typer.Option("--output", help="also write the per-candidate table (CSV)")
    ] = None,
) -> None:
    """Per round: predicted vs measured, interval hit or miss, best so far, model versions."""
    import math

    from rich.table import Table

    try:
        _, camp, _ = _round_campaign(params_file, campaign)
        from alloyml.rounds import Rounds
        from alloyml.rounds.status import round_status

        rounds = Rounds(rounds_dir, campaign)
        if not rounds.numbers():
            raise ConfigError(f"no round of {campaign!r} in {rounds.folder}")
        st = round_status(camp, rounds)
        if output is not None:
            _write_csv(st.candidates, output, "--output file")
    except AlloyMLError as exc:
        _fail(exc)
        return

    def num(v, fmt=".4g") -> str:
        return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)

    d = st.candidates
    t = Table(title=f"{campaign}: predicted vs measured")
    for col in ("round", "candidate", "property", "predicted [interval]", "measured", "hit"):
        t.add_column(col)
    for _, r in d.iterrows():
        hit = "–" if r["hit"] is None or pd_isna(r["hit"]) else ("hit" if r["hit"] else "MISS")
        t.add_row(str(r["round"]), r["candidate_id"], r["property"],
                  f"{num(r['pred'])} [{num(r['lo'])}, {num(r['hi'])}]", num(r["measured"]),
                  hit)  # fmt: skip
    console.print(t)
    q = st.objective
    s = Table(title=f"{campaign}: rounds")
    for col in ("round", "candidates", "measured", "pending", "interval hits", "hit rate",
                f"best {q}", "best so far", "models"):  # fmt: skip
        s.add_column(col)
    for _, r in st.rounds.iterrows():
        s.add_row(str(r["round"]), str(r["candidates"]), str(r["measured"]), str(r["pending"]),
                  f"{r['hits']}/{r['pairs']}", num(r["hit_rate"], ".0%"), num(r[f"best_{q}"]),
                  num(r[f"best_so_far_{q}"]), r["models"])  # fmt: skip
    console.print(s)
    console.print(f"interval hit rate over all rounds: {num(st.hit_rate, '.0%')} "
                  "(intervals at nominal 90 %)", highlight=False)  # fmt: skip


def pd_isna(v) -> bool:
    import pandas as pd

    return bool(pd.isna(v))


def main() -> None:
    """Console entry point."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()


if __name__ == "__main__":
    main()
