"""Export of many runs to MLflow: ``nbtrack.export_mlflow`` vs MLflow's own ``log_batch`` loop.

    python benchmarks/bench_interop.py [--runs 10000] [--rounds 1] [--markdown docs/benchmarks.md]
    python benchmarks/bench_interop.py --pg postgresql+psycopg://postgres@127.0.0.1:54329/postgres

With ``--pg SERVER_URL`` MLflow's tracking store is PostgreSQL instead of SQLite: each side of each
round gets a fresh database on that server (cloned from a template database holding MLflow's
tables, dropped afterwards). MLflow on SQLite is bound by one fsynced commit per call; on
PostgreSQL the same calls are network round trips to the server.

Same data, same backend: a workspace of RUNS runs with 10 params and 10 metrics each is
exported to a fresh MLflow SQLite store (its tables created beforehand, so neither side pays
for MLflow's migrations). The peer writes the very same runs (read from the workspace before
the clock starts, which favours it) the way an MLflow user would: ``create_run`` with the
tags, one ``log_batch`` with params and metrics, ``set_terminated`` with the end time.
Rounds alternate peer and nbtrack; runs/s are medians over rounds. A second export of the
same workspace to the same store (nothing changed: every run is skipped by its digest) is
timed too, and each side's store is checked to hold every run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")


def make_workspace(root: Path, n: int) -> None:
    import nbtrack

    nbtrack.use_workspace(str(root / ".nbtrack"))
    nbtrack.init(root)
    for i in range(n):
        with nbtrack.track(f"run-{i}", params={f"param_{j}": i * 0.5 + j for j in range(10)}):
            nbtrack.log_metrics({f"metric_{j}": (i + j) / 100 for j in range(10)})


def template_store(tmp: Path) -> Path:
    """An MLflow SQLite file with its tables made and an experiment named like the workspace's."""
    from mlflow import MlflowClient

    path = tmp / "template.db"
    client = MlflowClient(f"sqlite:///{path}")
    client.create_experiment("default", artifact_location=str(tmp / "artifacts"))
    return path


def fresh(template: Path, tmp: Path, name: str) -> str:
    path = tmp / f"{name}.db"
    shutil.copy(template, path)
    return f"sqlite:///{path}"


class PgStores:
    """Fresh MLflow databases on a PostgreSQL server, cloned from a template with MLflow's tables."""

    def __init__(self, server: str, tmp: Path) -> None:
        from sqlalchemy.engine import make_url

        self.server = make_url(server)
        self.tmp = tmp
        self.prefix = f"bench_mlflow_{os.getpid()}"
        self.made: list[str] = []
        self.template = self._create(f"{self.prefix}_template")
        from mlflow import MlflowClient

        client = MlflowClient(self.url(self.template))
        client.create_experiment("default", artifact_location=str(tmp / "artifacts"))
        self._kick(self.template)

    def url(self, db: str) -> str:
        return self.server.set(database=db).render_as_string(hide_password=False)

    def _admin(self, sql: str) -> None:
        import psycopg

        dsn = self.server.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(sql)

    def _kick(self, db: str) -> None:
        """End the sessions MLflow's engine keeps open on DB (a template must have none to be cloned)."""
        self._admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    f"WHERE datname = '{db}' AND pid <> pg_backend_pid()")

    def _create(self, name: str, template: str | None = None) -> str:
        self._admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        self.made.append(name)
        return name

    def fresh(self, name: str) -> str:
        return self.url(self._create(f"{self.prefix}_{name}", self.template))

    def drop(self) -> None:
        for name in reversed(self.made):
            self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def peer(uri: str, runs: list) -> float:
    """MLflow's own loop: create_run, log_batch, set_terminated per run."""
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("default").experiment_id
    t = time.perf_counter()
    for r in runs:
        run = client.create_run(exp, start_time=int(r.started * 1000), tags=dict(r.tags), run_name=r.name)
        client.log_batch(run.info.run_id,
                         metrics=[Metric(k, v, int(r.started * 1000), 0) for k, v in r.metrics.items()],
                         params=[Param(k, str(v)) for k, v in r.params.items()])
        client.set_terminated(run.info.run_id, "FINISHED", int(r.ended * 1000))
    return time.perf_counter() - t


def ours(uri: str) -> float:
    import nbtrack

    t = time.perf_counter()
    nbtrack.export_mlflow(uri, models=False)
    return time.perf_counter() - t


def count(uri: str) -> int:
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("default").experiment_id
    total, token = 0, None
    while True:
        page = client.search_runs([exp], max_results=5000, page_token=token)
        total += len(page)
        token = page.token
        if not token:
            return total


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--pg", "--mlflow-uri", dest="pg", metavar="SERVER_URL",
                    help="PostgreSQL server for MLflow's store (a fresh database per side and round)")
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args()
    import mlflow

    import nbtrack

    tmp = Path(tempfile.mkdtemp(prefix="bench-interop-"))
    os.chdir(tmp)
    pg = None
    theirs, mine, again = [], [], []
    cpu: dict[str, list[float]] = {"peer": [], "ours": [], "again": []}

    def timed(side: str, fn, *a) -> float:
        c = time.process_time()
        wall = fn(*a)
        cpu[side].append(time.process_time() - c)
        return wall

    try:
        t = time.perf_counter()
        make_workspace(tmp, args.runs)
        print(f"workspace of {args.runs} runs made in {time.perf_counter() - t:.1f} s", flush=True)
        runs = [nbtrack.get_run(i) for i in nbtrack.runs(limit=0)["id"]]
        if args.pg:
            pg = PgStores(args.pg, tmp)
            store = pg.fresh
        else:
            template = template_store(tmp)

            def store(name: str) -> str:
                return fresh(template, tmp, name)
        for k in range(args.rounds):
            u = store(f"peer_{k}")
            theirs.append(timed("peer", peer, u, runs))
            assert count(u) == args.runs
            u = store(f"nbtrack_{k}")
            mine.append(timed("ours", ours, u))
            assert count(u) == args.runs
            again.append(timed("again", ours, u))
            assert count(u) == args.runs
            print(f"round {k + 1}: MLflow loop {theirs[-1]:.1f} s (cpu {cpu['peer'][-1]:.1f} s), "
                  f"export {mine[-1]:.1f} s (cpu {cpu['ours'][-1]:.1f} s), "
                  f"re-export {again[-1]:.2f} s", flush=True)
    finally:
        if pg is not None:
            pg.drop()
        shutil.rmtree(tmp, ignore_errors=True)
    n = args.runs
    backend = "PostgreSQL" if args.pg else "SQLite"
    peer_rate, our_rate = n / statistics.median(theirs), n / statistics.median(mine)
    med = {k: statistics.median(v) for k, v in cpu.items()}
    rows = [
        ("export (new store)", f"{peer_rate:,.1f} runs/s (cpu {med['peer']:.0f} s)",
         f"{our_rate:,.1f} runs/s (cpu {med['ours']:.0f} s)", f"{our_rate / peer_rate:.2f}×"),
        ("export again (nothing changed)", f"{peer_rate:,.1f} runs/s (writes all again)",
         f"{n / statistics.median(again):,.0f} runs/s", f"{(n / statistics.median(again)) / peer_rate:.0f}×"),
    ]
    where = "PostgreSQL server (a fresh database per side and round)" if args.pg else \
        "MLflow SQLite store (tables made beforehand)"
    command = "python benchmarks/bench_interop.py" + (f" --runs {n}" if n != 10_000 else "") + \
        (f" --rounds {args.rounds}" if args.rounds != 1 else "") + (" --pg URL" if args.pg else "")
    title = "## MLflow export to PostgreSQL (" if args.pg else "## MLflow export ("
    table = [f"{title}{date.today().isoformat()}, mlflow {mlflow.__version__}, "
             f"{n:,} runs × 10 params + 10 metrics, {backend}, {args.rounds} round(s))", "",
             f"`{command}` — `nbtrack.export_mlflow` vs MLflow's own loop "
             "(`create_run` + `log_batch` + `set_terminated` per run) writing the same runs to a fresh "
             f"{where}. Walls: MLflow loop {', '.join(f'{x:.0f} s' for x in theirs)}; "
             f"export {', '.join(f'{x:.0f} s' for x in mine)}; "
             f"re-export {', '.join(f'{x:.1f} s' for x in again)} (cpu = this process's CPU time).", "",
             "| measure | MLflow `log_batch` loop | nbtrack export | ratio |", "|---|---|---|---|"]
    table += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    text = "\n".join(table) + "\n"
    print(text)
    if args.markdown:
        _write_section(args.markdown, text, title)


def _write_section(path: Path, text: str, title: str) -> None:
    """Replace (or append) this benchmark's own section of docs/benchmarks.md."""
    doc = path.read_text() if path.exists() else ""
    start = doc.find(title)
    if start >= 0:
        end = doc.find("\n## ", start + 1)
        doc = doc[:start] + text + (doc[end + 1:] if end >= 0 else "")
    else:
        doc = doc.rstrip("\n") + "\n\n" + text
    path.write_text(doc)


if __name__ == "__main__":
    sys.exit(main())
