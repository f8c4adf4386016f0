"""The MLflow UI shows the training runs the pipeline logged, checked in a real headless browser.

A scientist reads the `dvc repro` results on the ``alloyml-train`` runs page of ``mlflow ui``. The
REST API returning the runs is not enough: the single-page React app has to load, query the
server and render the runs with their metrics. So this test starts ``mlflow server`` on loopback
against (a copy of) the tracking database the ``workspace`` fixture filled, loads the runs page in
headless Chromium (Debian's ``chromium``; ``run.sh test`` installs it), and reads the rendered DOM
and a screenshot.

What a scientist sees first is checked first. The train stage tags the experiment as model
training (``mlflow.experimentKind``), writes its description as a table of the current champions
and their headline metrics, and stores a view of the runs page listing those champions with
their metric columns (see :mod:`alloyml.modeling.tracking`). So: the default runs page carries the
description (folded to its first line, a link to the champions view; its chevron unfolds the table
of every current champion's numbers); that link opens the runs page in MLflow's model-training
mode, listing exactly the current champion runs with system, target, model and the headline
metric columns filled with the logged values. MLflow 3.17 chooses GenAI or model-training mode
from its sidebar switch (remembered per browser), not from the experiment tag, so the link
carries the mode; the tag is checked through the API.

The runs table is an ag-grid: every row carries ``row-id=<run id>`` and every cell
``col-id=<column key>`` (``attributes.`Run Name```, ``metrics.`r2```), so rows are matched to runs
by id, not by (duplicated) run names. By default the table shows no metric columns and folds the
nested per-model runs under their parent, so every run's metrics are checked on a *shared view*
of the same runs page: MLflow's "share view" stores the view as the experiment tag
``mlflow.sharedViewState.<key>`` and opens it as ``#/experiments/<id>/runs?viewStateShareKey=<key>``.
The test writes such a tag (into its own copy of the database) selecting a few metric columns and
sorting by a metric, which also lists the nested runs flat.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Iterator
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

EXPERIMENT = "alloyml-train"
SHARE_KEY = "alloyml-ui-test"
RUN_NAME_COL = "attributes.`Run Name`"
# The runs page fetches 100 runs per page and ag-grid renders 101 rows beyond the viewport, so
# up to 100 runs are all in the DOM whatever the window height.
PAGE_SIZE = 100
# Metrics preferred as table columns (in this order) when several cover the same runs.
PREFERRED_METRICS = ("r2", "grouped_r2", "mae", "grouped_mae")
SERVER_START_TIMEOUT = 180.0  # s; a cold `mlflow server` import takes ~50 s on a busy 2-core box
CHROMIUM_TIMEOUT = 240.0  # s of wall time for one page load
VIRTUAL_TIME_BUDGET = 30_000  # ms of page time; virtual time stands still while fetches pend
WINDOW_WIDTH = 1600
# The closed CI network refuses Chromium's own connections (updates, sync, QUIC probes); without
# these flags it waits on them. --no-sandbox: CI runs as root.
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
VOID_TAGS = frozenset(
    "area base br col embed hr img input link meta param source track wbr".split()
)


# ----------------------------------------------------------------------------- helpers


def free_port() -> int:
    """A loopback port nobody listens on (bound to port 0, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def js_number(value: float) -> str:
    """``Number.prototype.toString`` of ``value``: how the runs table prints a metric.

    Python's ``repr`` and JavaScript both print the shortest round-trip digits; they differ only in
    when they switch to exponent notation (JS: exponent >= 21 or <= -7) and in ``868.0``/``868``.
    """
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    dec = Decimal(repr(value)).normalize()
    exponent = dec.adjusted()
    if -7 < exponent < 21:
        return format(dec, "f")
    sign, digits, _ = dec.as_tuple()
    text = "".join(map(str, digits))
    mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}e{'+' if exponent > 0 else '-'}{abs(exponent)}"


class GridParser(HTMLParser):
    """Collect the text of every ag-grid cell: ``rows[row_id][col_id]`` = list of text pieces.

    A row's cells sit in two containers (pinned name column, scrolled metric columns) that share
    the ``row-id``; the pieces of both are merged.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        self._stack: list[tuple[str | None, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VOID_TAGS:
            return
        row, col = self._stack[-1] if self._stack else (None, None)
        found = dict(attrs)
        row = found.get("row-id") or row
        col = found.get("col-id") or (None if "row-id" in found else col)
        self._stack.append((row, col))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        return

    def handle_endtag(self, tag: str) -> None:
        if tag not in VOID_TAGS and self._stack:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        if self._stack and data.strip():
            row, col = self._stack[-1]
            if row is not None and col is not None:
                self.rows[row][col].append(data.strip())


def grid_rows(dom: str) -> dict[str, dict[str, list[str]]]:
    parser = GridParser()
    parser.feed(dom)
    parser.close()
    return parser.rows


def page_text(dom: str) -> str:
    """Visible-ish text of a DOM dump, whitespace collapsed (scripts and styles dropped)."""
    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S | re.I)

    class Text(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.parts: list[str] = []

        def handle_data(self, data: str) -> None:
            self.parts.append(data)

    parser = Text()
    parser.feed(dom)
    return " ".join(" ".join(parser.parts).split())


def metric_col(key: str) -> str:
    return f"metrics.`{key}`"


def table_metrics(runs: list) -> list[str]:
    """A few metric keys that give every run with metrics at least one filled column.

    Greedy set cover (most runs first, then :data:`PREFERRED_METRICS`, then alphabetical), plus
    the remaining preferred keys that exist, so the table stays narrow enough that ag-grid's
    column virtualisation keeps every selected column in the DOM.
    """

    def rank(key: str) -> tuple[int, str]:
        pref = PREFERRED_METRICS.index(key) if key in PREFERRED_METRICS else len(PREFERRED_METRICS)
        return pref, key

    todo = [set(r.data.metrics) for r in runs if r.data.metrics]
    chosen: list[str] = []
    while todo:
        counts = Counter(k for keys in todo for k in keys)
        best = min(counts, key=lambda k: (-counts[k], *rank(k)))
        chosen.append(best)
        todo = [keys for keys in todo if best not in keys]
    present = {k for r in runs for k in r.data.metrics}
    chosen += [k for k in PREFERRED_METRICS if k in present and k not in chosen]
    return chosen[:6]


def copy_database(src: Path, dst: Path) -> None:
    """Consistent copy via SQLite's backup API; the server then never touches the workspace."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(src) as source, sqlite3.connect(dst) as target:
        source.backup(target)
    source.close()
    target.close()


def kill_group(proc: subprocess.Popen, sig: int) -> None:
    """Signal the process group this test started (``start_new_session=True``) — nothing else."""
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def http_ok(url: str, timeout: float = 5.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def log_tail(path: Path, lines: int = 40) -> str:
    if not path.is_file():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def start_server(uri: str, workdir: Path) -> tuple[subprocess.Popen, str, Path]:
    """``mlflow server`` on a free loopback port; returns (process, base URL, log file).

    ``--workers 1`` and no job-execution runner (it forks seven huey consumers): the UI needs
    neither, and the machine has two cores. No usage telemetry: the network is closed. Artefacts
    and any default store land in ``workdir``.
    """
    port = free_port()
    log = workdir / "mlflow-server.log"
    env = os.environ | {
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
    }
    cmd = [
        sys.executable, "-m", "mlflow", "server",
        "--backend-store-uri", uri,
        "--artifacts-destination", str(workdir / "mlartifacts"),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    return proc, f"http://127.0.0.1:{port}", log


def wait_ready(proc: subprocess.Popen, url: str, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"mlflow server exited ({proc.returncode}):\n{log_tail(log)}")
        if http_ok(f"{url}/health", timeout=2):
            return
        time.sleep(0.5)
    pytest.fail(f"mlflow server not healthy after {SERVER_START_TIMEOUT:.0f} s:\n{log_tail(log)}")


def stop_server(proc: subprocess.Popen) -> None:
    """SIGTERM (mlflow forwards it to uvicorn), then SIGKILL to the whole group if it lingers."""
    kill_group(proc, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        kill_group(proc, signal.SIGKILL)
        proc.wait(timeout=30)
    kill_group(proc, signal.SIGKILL)  # a uvicorn child that outlived its parent


def render(chromium: str, url: str, out: Path, height: int) -> str:
    """Load ``url`` in headless ``chromium``; write ``out``.png (screenshot), ``out``.html (DOM).

    A fresh ``--user-data-dir`` each time: the runs page keeps its view (columns, sort) in local
    storage, which must not leak from one load to the next.
    """
    profile = out.with_name(out.name + "-profile")
    profile.mkdir(parents=True)
    png = out.with_suffix(".png")
    cmd = [
        chromium, *CHROMIUM_FLAGS,
        f"--user-data-dir={profile}",
        f"--window-size={WINDOW_WIDTH},{height}",
        f"--virtual-time-budget={VIRTUAL_TIME_BUDGET}",
        f"--screenshot={png}",
        "--dump-dom", url,
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        dom, err = proc.communicate(timeout=CHROMIUM_TIMEOUT)
    except subprocess.TimeoutExpired:
        kill_group(proc, signal.SIGKILL)
        proc.communicate()
        pytest.fail(f"chromium did not finish {url} within {CHROMIUM_TIMEOUT:.0f} s")
    finally:
        kill_group(proc, signal.SIGKILL)  # crashpad handler and other helpers, if any linger
    out.with_suffix(".html").write_text(dom)
    tail = "\n".join(err.splitlines()[-20:])
    assert proc.returncode == 0, f"chromium exited {proc.returncode} on {url}:\n{tail}"
    assert dom.strip(), f"chromium dumped an empty DOM for {url}:\n{tail}"
    return dom


def check_screenshot(png: Path, height: int) -> None:
    """A real PNG of the window size, with an actual page on it (not a blank or error frame)."""
    import matplotlib.image

    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{png} is not a PNG"
    assert len(data) > 20_000, f"{png} is only {len(data)} bytes"
    pixels = matplotlib.image.imread(png)
    assert pixels.shape[:2] == (height, WINDOW_WIDTH), pixels.shape
    rgb = (np.round(pixels[..., :3] * 255).astype(np.uint32) * [1 << 16, 1 << 8, 1]).sum(axis=-1)
    colours = np.unique(rgb).size
    assert colours > 50, f"{png} has only {colours} colours: a blank page?"


def links(dom: str) -> list[tuple[str, str]]:
    """``(href, text)`` of every ``<a>`` of a DOM dump."""

    class Links(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.found: list[tuple[str, str]] = []
            self._href: str | None = None
            self._text: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "a":
                self._href = dict(attrs).get("href") or ""
                self._text = []

        def handle_endtag(self, tag: str) -> None:
            if tag == "a" and self._href is not None:
                self.found.append((self._href, " ".join("".join(self._text).split())))
                self._href = None

        def handle_data(self, data: str) -> None:
            if self._href is not None:
                self._text.append(data)

    parser = Links()
    parser.feed(dom)
    return parser.found


def current_champions(runs: list) -> list:
    """The runs the train stage published as the current champion of their (system, target)."""
    from alloyml.modeling.tracking import CURRENT_TAG

    return [r for r in runs if r.data.tags.get(CURRENT_TAG) == "true"]


def check_first_view(
    chromium: str, uri: str, base_url: str, exp_id: str, runs: list, shots: Path
) -> None:
    """The default runs page and the champions view linked from it, as a scientist sees them."""
    from mlflow import MlflowClient

    from alloyml.modeling.tracking import (
        CHAMPION_METRICS,
        CHAMPIONS_VIEW,
        EXPERIMENT_KIND_TAG,
        MODEL_TRAINING,
    )

    champions = current_champions(runs)
    keys = {(r.data.tags["system"], r.data.tags["target"]) for r in champions}
    assert champions and len(keys) == len(champions), "one current champion per (system, target)"
    assert all(r.data.tags.get("role") == "champion" for r in champions)

    # 0. The experiment is a model-training one, not a GenAI one.
    exp = MlflowClient(tracking_uri=uri).get_experiment(exp_id)
    assert exp.tags.get(EXPERIMENT_KIND_TAG) == MODEL_TRAINING, exp.tags

    # 1. The runs page as opened from the experiment list: above the table, the description
    #    (first line shown, the rest one chevron away) names every current champion with its
    #    headline numbers (3 significant digits).
    dom = render(chromium, f"{base_url}/#/experiments/{exp_id}/runs", shots / "first", 1000)
    text = page_text(dom)
    assert "Current champions" in text, text[:1500]
    for run in champions:
        t, m = run.data.tags, run.data.metrics
        numbers = " ".join(f"{m[k]:.3g}" if k in m else "–" for k, _ in CHAMPION_METRICS
                           if any(k in c.data.metrics for c in champions))  # fmt: skip
        row = f"{t['system']} {t['target']} {t['model']} {numbers}"
        assert row in text, f"description lacks the champion row {row!r}: {text[:2000]}"
    check_screenshot(shots / "first.png", 1000)

    # 2. Its first link opens the champions view: model-training mode, the current champions
    #    only, each with system, target, model and headline metric columns.
    href = next((h for h, label in links(dom) if "Current champions" in label), None)
    assert href is not None, links(dom)
    assert f"viewStateShareKey={CHAMPIONS_VIEW}" in href and "workflowType=machine_learning" in href
    dom = render(chromium, f"{base_url}/{href.lstrip('/')}", shots / "champions", 1000)
    text = page_text(dom)
    assert "Model registry" in text and "Observability" not in text, f"not model training: {text}"
    assert f"{len(champions)} matching runs" in text, text
    rows = grid_rows(dom)
    assert set(rows) == {r.info.run_id for r in champions}, (sorted(rows), text)
    for run in champions:
        row = rows[run.info.run_id]
        assert run.info.run_name in row[RUN_NAME_COL], (run.info.run_name, dict(row))
        for tag in ("system", "target", "model"):
            assert row.get(f"tags.`{tag}`") == [run.data.tags[tag]], (tag, dict(row))
        for key, _ in CHAMPION_METRICS:
            value = run.data.metrics.get(key)
            if value is None:
                continue  # a protocol this run did not have (e.g. family)
            cell = " ".join(row.get(metric_col(key), []))
            assert cell == js_number(value), f"{run.info.run_name} {key}: {cell!r} != {value}"
    check_screenshot(shots / "champions.png", 1000)


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture
def chromium() -> str:
    """Path of Debian's ``chromium``; a missing browser fails the test (before the server starts)."""
    exe = shutil.which("chromium")
    if exe is None:
        pytest.fail(
            "Chromium not found on PATH: the MLflow UI test needs Debian's `chromium` package "
            "(apt-get install -y chromium; `./run.sh test` installs it when run as root)."
        )
    return exe


@pytest.fixture
def tracking(workspace: Path, tmp_path: Path) -> tuple[str, str, list]:
    """(URI of a copy of the workspace's tracking DB, experiment id, its runs).

    The copy keeps the session-wide workspace read-only for the other workflow tests: the server
    may migrate or write to its store, and this test adds a shared-view tag.
    """
    from mlflow import MlflowClient

    src = workspace / "mlflow.db"
    assert src.is_file(), f"the workspace run left no tracking database at {src}"
    db = tmp_path / "tracking" / "mlflow.db"
    copy_database(src, db)
    uri = f"sqlite:///{db}"
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    exp = client.get_experiment_by_name(EXPERIMENT)
    assert exp is not None, f"no MLflow experiment {EXPERIMENT!r} in {src}"
    runs = client.search_runs([exp.experiment_id], max_results=PAGE_SIZE + 1)
    assert runs, f"experiment {EXPERIMENT!r} has no runs"
    assert len(runs) <= PAGE_SIZE, f"{len(runs)} runs: more than the UI's first page"
    assert any(r.data.metrics for r in runs), f"no run of {EXPERIMENT!r} logged a metric"
    return uri, exp.experiment_id, runs


@pytest.fixture
def mlflow_ui(tracking, tmp_path: Path) -> Iterator[str]:
    """Base URL of an ``mlflow server`` on loopback over :func:`tracking`; stopped afterwards."""
    workdir = tmp_path / "server"
    workdir.mkdir()
    proc, url, log = start_server(tracking[0], workdir)
    try:
        wait_ready(proc, url, log)
        yield url
    finally:
        stop_server(proc)
    assert proc.poll() is not None, "mlflow server still running after stop"
    assert not http_ok(f"{url}/health", timeout=2), f"{url} still answers after the server stopped"


# ----------------------------------------------------------------------------- the test


def test_runs_page_shows_runs_and_metrics(chromium, workspace, tracking, mlflow_ui, tmp_path):
    """The champions come first; the runs page lists every run; a view shows their metrics."""
    from mlflow import MlflowClient

    uri, exp_id, runs = tracking
    height = max(1000, 400 + 36 * len(runs))
    shots = tmp_path / "screenshots"
    shots.mkdir()

    # 0. What a scientist sees first: the champions and their headline metrics.
    check_first_view(chromium, uri, mlflow_ui, exp_id, runs, shots)

    # 1. The default runs page, as a scientist first opens it: top-level runs, all counted.
    dom = render(chromium, f"{mlflow_ui}/#/experiments/{exp_id}/runs", shots / "runs-page", height)
    text = page_text(dom)
    assert EXPERIMENT in text, f"experiment name missing from the runs page: {text[:800]}"
    assert f"{len(runs)} matching runs" in text, f"expected '{len(runs)} matching runs': {text}"
    rows = grid_rows(dom)
    for run in runs:
        if "mlflow.parentRunId" in run.data.tags:
            continue  # folded under its parent in the default view
        row = rows.get(run.info.run_id)
        assert row is not None, f"top-level run {run.info.run_name} not on the runs page: {text}"
        assert run.info.run_name in row[RUN_NAME_COL], (run.info.run_name, dict(row))
    check_screenshot(shots / "runs-page.png", height)

    # 2. The same page with metric columns (a shared view): every run, flat, with its values.
    keys = table_metrics(runs)
    state = {
        "selectedColumns": [metric_col(k) for k in keys],
        "orderByKey": metric_col(keys[0]),
        "orderByAsc": False,
    }
    MlflowClient(tracking_uri=uri).set_experiment_tag(
        exp_id, f"mlflow.sharedViewState.{SHARE_KEY}", json.dumps(state)
    )
    url = f"{mlflow_ui}/#/experiments/{exp_id}/runs?viewStateShareKey={SHARE_KEY}"
    dom = render(chromium, url, shots / "runs-metrics", height)
    rows = grid_rows(dom)
    text = page_text(dom)
    missing = [r.info.run_name for r in runs if r.info.run_id not in rows]
    assert not missing, f"runs missing from the metrics view: {missing}\n{text}"
    shown = 0
    for run in runs:
        row = rows[run.info.run_id]
        assert run.info.run_name in row[RUN_NAME_COL], (run.info.run_name, dict(row))
        for key in keys:
            value = run.data.metrics.get(key)
            expected = "-" if value is None else js_number(value)
            cell = " ".join(row.get(metric_col(key), []))
            assert cell == expected, f"{run.info.run_name} {key}: UI shows {cell!r}, logged {value}"
            shown += value is not None
    assert shown >= sum(1 for r in runs if r.data.metrics), "a run's metrics are not on the page"
    check_screenshot(shots / "runs-metrics.png", height)
