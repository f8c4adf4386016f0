"""Benchmark: team mode (several ``alloyml search`` workers sharing one study) per storage.

Each worker is a real process running :func:`alloyml.search.run_campaign` as
``alloyml search --resume`` does; the workers of one measurement wait at the start of their loop
until all are ready, then run together. Rates are complete evaluations per wall-clock second of
the search loop (model loading and candidate writing excluded); evaluations per CPU-second of the
loop are printed too (on a shared machine they show what the loop costs regardless of load).

Measured, each on a fresh database / key prefix:

* **before**: Optuna's RDB storage on PostgreSQL (``rdb+postgresql://...``, the path every
  ``postgresql://`` URL took before the team backends), one worker; then two workers with a budget
  smaller than two eval batches, to show how far they overshoot it;
* **after**: the PostgreSQL journal backend (``postgresql://``), one worker then two workers (each
  worker evaluates ``--n`` trials); the same on Redis (``redis://``).

The last line is ``RESULT per_worker_evals_per_s=<slowest of the two PostgreSQL workers>
scaling_2_workers=<two PostgreSQL workers' throughput / one worker's>
scaling_2_workers_per_cpu=<the same from evaluations per CPU-second> before_per_worker_evals_per_s=
<RDB, one worker>`` (throughput = all trials stored / wall time of the slower worker's loop). The
wall-clock scaling needs two idle cores; on a loaded machine the per-CPU figure says what two
workers reach with a core each (it leaves out the database server's own CPU).

The campaign (``t_al`` of the search tests by default) and its models come from the tests' small
fixture (ridge models on a few hundred real rows, built once into ``--work``), so the benchmark
needs no trained champions. Run from the repository root::

    .venv/bin/python benchmarks/team.py                 # 3000 evaluations per worker
    .venv/bin/python benchmarks/team.py --n 1000 --before-n 100

PostgreSQL (``--pg``, a server URL; the benchmark creates and drops its own databases) and Redis
(``--redis``) must be running.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEST_PARAMS = REPO / "tests" / "search" / "data" / "params_search.yaml"


def worker_main(argv: list[str]) -> None:
    """One worker process: run the campaign, wait at the gate, print its loop's figures."""
    params, name, root, out, url, n, batch, gate = argv
    from alloyml.params import base_params, load_yaml
    from alloyml.search import run_campaign
    from alloyml.search.campaign import get_campaign

    logging.basicConfig(level=logging.WARNING)
    doc = load_yaml(Path(params))
    campaign = get_campaign(doc, name)
    marks: dict[str, float] = {}

    def progress(done: int, total: int, stats) -> None:
        if not marks:
            Path(gate, Path(out).name).touch()
            while not Path(gate, "go").exists():
                time.sleep(0.01)
            marks["cpu0"] = time.process_time()
        marks["cpu1"] = time.process_time()

    res = run_campaign(
        campaign, seed=base_params(doc).seed, models_dir=Path(root, "models"),
        processed_path=Path(root, "data", "processed", f"{campaign.system}.parquet"),
        output_dir=Path(out), storage=url, n_trials=int(n), eval_batch=int(batch), resume=True,
        progress=progress,
    )  # fmt: skip
    st = res.stats
    cpu = marks.get("cpu1", 0.0) - marks.get("cpu0", 0.0)
    print("BENCH " + json.dumps({"n_new": st.n_new, "seconds": st.seconds, "cpu": cpu,
                                 "n_complete": st.n_complete, "timings": st.timings}))  # fmt: skip


def run_workers(
    k: int, url: str, n_trials: int, eval_batch: int, root: Path, campaign: str, tmp: Path
) -> list[dict]:
    """``k`` gated worker processes on ``url``; their figures."""
    gate = tmp / f"gate-{uuid.uuid4().hex[:6]}"
    gate.mkdir()
    env = os.environ | {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    env.pop("ALLOYML_OPTUNA_STORAGE", None)
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--worker",
                str(TEST_PARAMS),
                campaign,
                str(root),
                str(gate / f"w{i}"),
                url,
                str(n_trials),
                str(eval_batch),
                str(gate),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i in range(k)
    ]
    while not all((gate / f"w{i}").exists() for i in range(k)):
        for p in procs:
            if p.poll() is not None:
                sys.exit(f"worker failed:\n{p.communicate()}")
        time.sleep(0.05)
    (gate / "go").touch()
    out = []
    for p in procs:
        o, e = p.communicate()
        if p.returncode != 0:
            sys.exit(f"worker failed:\n{o}\n{e}")
        out.append(json.loads(next(x for x in o.splitlines() if x.startswith("BENCH "))[6:]))
    return out


def describe(label: str, ws: list[dict]) -> tuple[float, float]:
    """Print one measurement; return (slowest worker's rate, throughput of all)."""
    rates = [w["n_new"] / w["seconds"] for w in ws]
    total = sum(w["n_new"] for w in ws)
    throughput = total / max(w["seconds"] for w in ws)
    per_cpu = [w["n_new"] / w["cpu"] for w in ws if w["cpu"] > 0]
    persist = sum(w["timings"]["persist"] + w["timings"]["reserve"] for w in ws)
    print(f"{label}: {len(ws)} worker(s), {total} trials stored (study: "
          f"{ws[0]['n_complete']}), per worker " + ", ".join(f"{r:.1f}" for r in rates)
          + f" evals/s ({', '.join(f'{c:.0f}' for c in per_cpu)} per CPU-s), throughput "
          f"{throughput:.1f} evals/s, writing {persist:.1f} s of "
          f"{sum(w['seconds'] for w in ws):.1f} worker-s")  # fmt: skip
    return min(rates), throughput


class Databases:
    """Fresh PostgreSQL databases on one server, dropped at the end."""

    def __init__(self, server: str) -> None:
        import psycopg2
        from sqlalchemy.engine import make_url

        self.server = make_url(server)
        self.admin = psycopg2.connect(
            self.server.set(drivername="postgresql").render_as_string(False)
        )
        self.admin.autocommit = True
        self.names: list[str] = []

    def new(self) -> str:
        name = f"alloyml_bench_{uuid.uuid4().hex[:8]}"
        with self.admin.cursor() as cur:
            cur.execute(f"CREATE DATABASE {name}")
        self.names.append(name)
        return self.server.set(drivername="postgresql", database=name).render_as_string(False)

    def drop(self) -> None:
        with self.admin.cursor() as cur:
            for name in self.names:
                cur.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self.admin.close()


def _rdb(url: str) -> str:
    return "rdb+" + url.replace("postgresql://", "postgresql+psycopg2://", 1)


def drop_redis(url: str, prefixes: list[str]) -> None:
    import redis

    client = redis.Redis.from_url(url)
    for prefix in prefixes:
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
    client.close()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--campaign", default="t_al", help="campaign of the tests' params file")
    ap.add_argument("--n", type=int, default=3000, help="evaluations per worker (after)")
    ap.add_argument("--before-n", type=int, default=100, help="evaluations, RDB storage (before)")
    ap.add_argument("--eval-batch", type=int, default=100)
    ap.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    ap.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "alloyml-team-bench")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)

    root = args.work / "fixture"
    if not (root / "models").is_dir():
        print(f"building the tests' small models into {root} (once)")
        sys.path.insert(0, str(REPO / "tests" / "search"))
        from conftest import build_search_fixture

        from alloyml.sources import load_sources

        mirror = Path(os.environ.get("ALLOYML_DATA_MIRROR", REPO.parent / "shared" / "data"))
        build_search_fixture(root, mirror.resolve(), load_sources(REPO / "data" / "sources.yaml"))
    print(f"campaign {args.campaign}, eval batch {args.eval_batch}, load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix="alloyml-team-bench-"))
    dbs = Databases(args.pg)
    batch = args.eval_batch
    prefixes: list[str] = []
    try:
        run = lambda k, url, n, b=batch: run_workers(k, url, n, b, root, args.campaign, tmp)  # noqa: E731
        before, _ = describe("before (RDB, PostgreSQL)", run(1, _rdb(dbs.new()), args.before_n))
        over_n = max(batch // 2, 2)
        ws = run(2, _rdb(dbs.new()), over_n, batch)
        describe(f"before (RDB, PostgreSQL), budget {over_n}", ws)
        over_stored = sum(w["n_new"] for w in ws)
        one_ws = run(1, dbs.new(), args.n)
        one, _ = describe("after (journal, PostgreSQL)", one_ws)
        two = run(2, dbs.new(), 2 * args.n)
        slowest, both = describe("after (journal, PostgreSQL)", two)
        exact = all(w["n_complete"] == 2 * args.n for w in two)
        prefixes = [f"alloyml_bench_{uuid.uuid4().hex[:8]}" for _ in range(2)]
        r1, _ = describe("after (journal, Redis)",
                         run(1, f"{args.redis}?prefix={prefixes[0]}", args.n))  # fmt: skip
        _, r2 = describe("after (journal, Redis)",
                         run(2, f"{args.redis}?prefix={prefixes[1]}", 2 * args.n))  # fmt: skip
    finally:
        dbs.drop()
        drop_redis(args.redis, prefixes)
    print(f"before: RDB {before:.1f} evals/s per worker, two workers with a budget of {over_n} "
          f"stored {over_stored}; after: exact budget with two workers: {exact}; Redis "
          f"{r1:.1f} evals/s one worker, scaling {r2 / r1:.2f}")  # fmt: skip
    # what two workers would reach with a core each: evaluations per CPU-second of the loop,
    # two workers together against one alone (each worker replays the other's trials too)
    cpu_one = one_ws[0]["n_new"] / one_ws[0]["cpu"]
    cpu_two = sum(w["n_new"] for w in two) / sum(w["cpu"] for w in two)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; PostgreSQL, per "
          f"CPU-second: one worker {cpu_one:.0f} evals, two workers {cpu_two:.0f} evals each")  # fmt: skip
    print(f"RESULT per_worker_evals_per_s={slowest:.1f} scaling_2_workers={both / one:.2f} "
          f"scaling_2_workers_per_cpu={2 * cpu_two / cpu_one:.2f} "
          f"before_per_worker_evals_per_s={before:.1f}")  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker_main(sys.argv[2:])
    else:
        main()
