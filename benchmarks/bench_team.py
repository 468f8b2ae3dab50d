"""Team scale: nbtrack on PostgreSQL vs MLflow on PostgreSQL (the same server), in one run.

    python benchmarks/bench_team.py [--pg postgresql+psycopg://postgres@127.0.0.1:54329/postgres]
        [--repeat 300] [--sizes 10000,100000] [--api-runs 1000] [--markdown docs/benchmarks.md]
        [--durable start|no] [--durable-pg URL] [--durable-sizes 10000]

Two servers: ``--pg`` (the test server of ``.ci/start-postgres.sh``: fsync=off) and, unless
``--durable no``, a second throwaway server with PostgreSQL's stock durability (fsync=on,
synchronous_commit=on: every commit waits for its WAL flush, as a team's server runs) that
the script starts with ``NBTRACK_PG_DURABLE=1 .ci/start-postgres.sh`` and stops at the end.
Each row of the table names its server.

Each tool gets its own new database on the server (created here, dropped at the end):

* **run logging** — one run with 10 params + 10 metrics: ``nbtrack.track(params=...)`` +
  ``run.log_metrics`` vs ``mlflow.start_run`` + ``log_params`` + ``log_metrics`` + ``end_run``,
  alternating A/B after a warm-up; median, p10, p90, n.
* **filter + order + top 100** — ``nbtrack.runs(filter="metrics.acc > 0.5 and params.model ==
  'rf'", order_by="metrics.acc desc", limit=100)`` vs ``mlflow.search_runs`` with the same
  filter and order, over N runs (each with params ``model``, ``depth`` and metrics ``acc``,
  ``loss``; ``acc`` is a permutation of i/N, so both tools must return the same 100 values —
  checked). Populating: the first ``--api-runs`` runs of each tool through its own Python API
  (MLflow: ``create_run`` + ``log_batch`` + ``set_terminated``), the rest by bulk SQL inserts
  that copy the rows the API wrote for those runs (same columns, same tags, new ids and values),
  so the tables hold what the API would have written. Only the query is timed; each tool's
  database gets ``VACUUM ANALYZE`` after populating.

Timed with the garbage collector paused (as ``timeit`` does) and a collection between samples.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import sqlalchemy as sa

PARAMS = {f"param_{i}": i * 0.5 for i in range(10)}
METRICS = {f"metric_{i}": i / 10 for i in range(10)}
FILTER_NB = "metrics.acc > 0.5 and params.model == 'rf'"
FILTER_ML = "metrics.acc > 0.5 and params.model = 'rf'"
MODELS = ("rf", "svm", "lr")


def stats(samples: list[float]) -> dict:
    s = sorted(samples)
    q = statistics.quantiles(s, n=10) if len(s) >= 10 else [s[0]] * 9
    return {"median": statistics.median(s) * 1000, "p10": q[0] * 1000, "p90": q[-1] * 1000, "n": len(s)}


def fmt(st: dict) -> str:
    def f(x: float) -> str:
        return f"{x:.2f}" if x < 10 else f"{x:.0f}"

    return f"{f(st['median'])} ms (p10 {f(st['p10'])}, p90 {f(st['p90'])}, n={st['n']})"


def timed(fn) -> float:
    """Wall time of ``fn()`` with the garbage collector paused, as ``timeit`` does: both tools run
    in this one process, and a collection of MLflow's garbage must not land in nbtrack's timing
    (or the other way round); :meth:`Cpu.timed` collects between samples instead."""
    gc.disable()
    try:
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t
    finally:
        gc.enable()


class Cpu:
    """CPU seconds spent on one tool's operations: this process plus the PostgreSQL backends
    serving its database (read from /proc: the server runs on this machine). Unlike wall time,
    it does not grow when other jobs load the machine; the mean per operation is reported."""

    def __init__(self, admin: sa.Engine, database: str) -> None:
        self.admin, self.database, self.total, self.n = admin, database, 0.0, 0
        self.tick = os.sysconf("SC_CLK_TCK")

    def _server(self) -> float:
        with self.admin.connect() as conn:
            pids = conn.execute(sa.text("SELECT pid FROM pg_stat_activity WHERE datname = :d "
                                        "AND backend_type = 'client backend'"),  # not autovacuum
                                {"d": self.database}).scalars().all()
        total = 0
        for pid in pids:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
            except (OSError, IndexError, ValueError):
                continue
        return total / self.tick

    def timed(self, fn) -> float:
        gc.collect()  # not counted: the timed call pauses the collector
        s0, c0 = self._server(), time.process_time()
        t = timed(fn)
        self.total += (time.process_time() - c0) + (self._server() - s0)
        self.n += 1
        return t

    def per_op_ms(self) -> float:
        return self.total / max(self.n, 1) * 1000


# -- databases -----------------------------------------------------------------------------
class Databases:
    def __init__(self, pg: str) -> None:
        self.pg = pg
        self.admin = sa.create_engine(pg, isolation_level="AUTOCOMMIT")
        self.names: list[str] = []

    def new(self, prefix: str) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
        self.names.append(name)
        return self.pg.rsplit("/", 1)[0] + "/" + name

    def drop_all(self) -> None:
        with self.admin.connect() as conn:
            for name in self.names:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        self.admin.dispose()


def analyze(url: str) -> None:
    """VACUUM ANALYZE after a bulk load: the state of a database whose rows arrived over time
    (autovacuum kept up: statistics, hint bits, visibility map). With ANALYZE alone, autovacuum
    starts on the freshly loaded tables during the timed queries and competes for the CPU."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()


# -- run logging -----------------------------------------------------------------------------
def bench_logging(repeat: int, cpu_ml: Cpu, cpu_nb: Cpu) -> tuple[dict, dict]:
    import mlflow

    import nbtrack

    mlflow.set_experiment("logging")

    def ml() -> None:
        mlflow.start_run()
        mlflow.log_params(PARAMS)
        mlflow.log_metrics(METRICS)
        mlflow.end_run()

    def nb() -> None:
        with nbtrack.track("bench", params=PARAMS) as run:
            run.log_metrics(METRICS)

    for _ in range(20):
        ml()
        nb()
    a, b = [], []
    for _ in range(repeat):
        a.append(cpu_ml.timed(ml))
        b.append(cpu_nb.timed(nb))
    return stats(a), stats(b)


# -- populating --------------------------------------------------------------------------------
def acc_of(i: int, n: int) -> float:
    return ((i * 7919) % n) / n  # a permutation of 0..n-1 over n (7919 is prime, coprime with 10^k)


def populate_nbtrack(url: str, start: int, stop: int, n_total: int, api_runs: int) -> None:
    """Runs start..stop-1 (names r{i}); the first ``api_runs`` overall through nbtrack.track."""
    import nbtrack
    from nbtrack.store import pg_summary
    from nbtrack.store.runs import encode_param
    from nbtrack.store.schema import experiments, latest_metrics, metrics, params, runs

    nbtrack.set_experiment("search")
    for i in range(start, min(stop, api_runs)):
        with nbtrack.track(f"r{i}", params={"model": MODELS[i % 3], "depth": i % 10}) as run:
            run.log_metrics({"acc": acc_of(i, n_total), "loss": i / n_total})
    if stop <= api_runs:
        return
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        template = conn.execute(sa.select(runs).where(runs.c.name == "r0")).mappings().one()
        exp = conn.execute(sa.select(experiments.c.id).where(experiments.c.name == "search")).scalar()
        assert template["experiment_id"] == exp
    for lo in range(max(start, api_runs), stop, 10_000):
        hi = min(stop, lo + 10_000)
        rrows, prows, mrows, lrows = [], [], [], []
        now = time.time()
        for i in range(lo, hi):
            rid = uuid.uuid4().hex
            rrows.append({**template, "id": rid, "name": f"r{i}", "started": now + i * 1e-3, "ended": now + i * 1e-3})
            for key, value in (("model", MODELS[i % 3]), ("depth", i % 10)):
                text, num, vtype = encode_param(value)  # what nbtrack.track writes
                prows.append({"run_id": rid, "key": key, "value": text, "num": num, "vtype": vtype})
            for k, v in (("acc", acc_of(i, n_total)), ("loss", i / n_total)):
                mrows.append({"run_id": rid, "key": k, "value": v, "step": 0, "ts": now})
                lrows.append({"run_id": rid, "key": k, "value": v, "step": 0, "ts": now})
        with engine.begin() as conn:
            conn.execute(sa.insert(runs), rrows)
            conn.execute(sa.insert(params), prows)
            conn.execute(sa.insert(metrics), mrows)
            conn.execute(sa.insert(latest_metrics), lrows)
            pg_summary.refresh(conn, [r["id"] for r in rrows])  # each run's params/metrics JSON, as nbtrack writes it
    engine.dispose()


def populate_mlflow(url: str, exp_id: str, start: int, stop: int, n_total: int, api_runs: int) -> None:
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    client = MlflowClient()
    for i in range(start, min(stop, api_runs)):
        r = client.create_run(exp_id, run_name=f"r{i}")
        now = int(time.time() * 1000)
        client.log_batch(r.info.run_id, params=[Param("model", MODELS[i % 3]), Param("depth", str(i % 10))],
                         metrics=[Metric("acc", acc_of(i, n_total), now, 0), Metric("loss", i / n_total, now, 0)])
        client.set_terminated(r.info.run_id)
    if stop <= api_runs:
        return
    engine = sa.create_engine(url)
    md = sa.MetaData()
    md.reflect(engine, only=["runs", "tags", "params", "metrics", "latest_metrics"])
    runs, tags, params, metrics, latest = (md.tables[t] for t in ("runs", "tags", "params", "metrics",
                                                                   "latest_metrics"))
    with engine.begin() as conn:
        template = conn.execute(sa.select(runs).where(runs.c.name == "r0")).mappings().one()
        ttags = [dict(t) for t in conn.execute(sa.select(tags).where(tags.c.run_uuid == template["run_uuid"]))
                 .mappings()]
    for lo in range(max(start, api_runs), stop, 10_000):
        hi = min(stop, lo + 10_000)
        rrows, trows, prows, mrows, lrows = [], [], [], [], []
        now = int(time.time() * 1000)
        for i in range(lo, hi):
            rid = uuid.uuid4().hex
            rrows.append({**template, "run_uuid": rid, "name": f"r{i}", "start_time": now + i, "end_time": now + i,
                          "artifact_uri": template["artifact_uri"].replace(template["run_uuid"], rid)})
            trows += [{**t, "run_uuid": rid, "value": f"r{i}" if t["key"] == "mlflow.runName" else t["value"]}
                      for t in ttags]
            prows += [{"run_uuid": rid, "key": "model", "value": MODELS[i % 3]},
                      {"run_uuid": rid, "key": "depth", "value": str(i % 10)}]
            for k, v in (("acc", acc_of(i, n_total)), ("loss", i / n_total)):
                mrows.append({"run_uuid": rid, "key": k, "value": v, "timestamp": now, "step": 0, "is_nan": False})
                lrows.append({"run_uuid": rid, "key": k, "value": v, "timestamp": now, "step": 0, "is_nan": False})
        with engine.begin() as conn:
            conn.execute(sa.insert(runs), rrows)
            if trows:
                conn.execute(sa.insert(tags), trows)
            conn.execute(sa.insert(params), prows)
            conn.execute(sa.insert(metrics), mrows)
            conn.execute(sa.insert(latest), lrows)
    engine.dispose()


# -- the query -----------------------------------------------------------------------------------
def bench_query(exp_id: str, n: int, reps: int, cpu_ml: Cpu, cpu_nb: Cpu) -> tuple[dict, dict]:
    import mlflow

    import nbtrack

    def nb():
        return nbtrack.runs(filter=FILTER_NB, order_by="metrics.acc desc", limit=100, experiment="search")

    def ml():
        return mlflow.search_runs([exp_id], filter_string=FILTER_ML, order_by=["metrics.acc DESC"],
                                  max_results=100)

    got_nb, got_ml = nb(), ml()  # warm-up, and both must find the same runs
    assert len(got_nb) == 100 and len(got_ml) == 100, (len(got_nb), len(got_ml))
    assert got_nb["metrics.acc"].tolist() == got_ml["metrics.acc"].tolist()
    assert sorted(got_nb["name"]) == sorted(got_ml["tags.mlflow.runName"])
    a, b = [], []
    for _ in range(reps):
        a.append(cpu_ml.timed(ml))
        b.append(cpu_nb.timed(nb))
    return stats(a), stats(b)


def measure(pg: str, repeat: int, sizes: list[int], api_runs: int, query_reps: int, label: str) -> list[tuple]:
    """Every row of the table on one server: run logging, then the query at each size."""
    dbs = Databases(pg)
    tmp = Path(tempfile.mkdtemp(prefix="nbtrack-team-"))
    os.chdir(tmp)
    rows = []
    try:
        nb_url, ml_url = dbs.new("bench_nbtrack"), dbs.new("bench_mlflow")
        os.environ["NBTRACK_URI"], os.environ["NBTRACK_OBJECTS"] = nb_url, str(tmp / "objects")
        import mlflow

        import nbtrack
        from nbtrack import workspace

        workspace.reset_cache()
        nbtrack.set_experiment(None)
        mlflow.set_tracking_uri(ml_url)
        mlflow.set_experiment("search")
        exp_id = mlflow.get_experiment_by_name("search").experiment_id
        nbtrack.runs(limit=1)  # schema

        def cpus():
            return (Cpu(dbs.admin, ml_url.rsplit("/", 1)[1]), Cpu(dbs.admin, nb_url.rsplit("/", 1)[1]))

        c_ml, c_nb = cpus()
        ml, nb = bench_logging(repeat, c_ml, c_nb)
        rows.append((label, "one run, 10 params + 10 metrics", fmt(ml), fmt(nb), ml["median"] / nb["median"], 20,
                     c_ml.per_op_ms(), c_nb.per_op_ms()))
        print(rows[-1], flush=True)

        done = 0
        for n in sizes:
            t = time.perf_counter()
            populate_nbtrack(nb_url, done, n, sizes[-1], api_runs)
            t_nb = time.perf_counter() - t
            t = time.perf_counter()
            populate_mlflow(ml_url, exp_id, done, n, sizes[-1], api_runs)
            t_ml = time.perf_counter() - t
            done = n
            analyze(nb_url), analyze(ml_url)
            print(f"populated {n:,} runs: nbtrack {t_nb:.0f} s, mlflow {t_ml:.0f} s", flush=True)
            reps = query_reps or (30 if n <= 10_000 else 10)
            c_ml, c_nb = cpus()
            ml, nb = bench_query(exp_id, n, reps, c_ml, c_nb)
            rows.append((label, f"filter + order + top 100 of {n:,} runs", fmt(ml), fmt(nb),
                         ml["median"] / nb["median"], 50 if n >= 100_000 else None, c_ml.per_op_ms(),
                         c_nb.per_op_ms()))
            print(rows[-1], flush=True)
    finally:
        from nbtrack import workspace

        workspace.reset_cache()
        dbs.drop_all()
    return rows


def server_settings(pg: str) -> tuple[str, str]:
    server = sa.create_engine(pg)
    with server.connect() as conn:
        version = conn.exec_driver_sql("SHOW server_version").scalar()
        settings = ", ".join(f"{s}={conn.exec_driver_sql(f'SHOW {s}').scalar()}"
                             for s in ("fsync", "synchronous_commit", "full_page_writes", "wal_sync_method"))
    server.dispose()
    return version, settings


def start_durable_server() -> tuple[str, str]:
    """A second, throwaway PostgreSQL server with stock durability (.ci/start-postgres.sh with
    NBTRACK_PG_DURABLE=1): its URL and the shell command that stops it and removes its data."""
    script = Path(__file__).resolve().parent.parent / ".ci" / "start-postgres.sh"
    out = subprocess.run(["bash", str(script)], check=True, capture_output=True, text=True,
                         env={**os.environ, "NBTRACK_PG_DURABLE": "1", "NBTRACK_PG_PORT": "54380"}).stdout
    env = dict(re.findall(r'^export (\w+)=(.*)$', out, re.M))
    return env["NBTRACK_TEST_PG_URL"], env["NBTRACK_PG_STOP"].strip('"').replace('\\"', '"')


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--pg", default=os.environ.get("NBTRACK_TEST_PG_URL",
                                                   "postgresql+psycopg://postgres@127.0.0.1:54329/postgres"))
    ap.add_argument("--repeat", type=int, default=300, help="runs logged per tool (alternating)")
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--api-runs", type=int, default=1000, help="runs per tool populated through its own API")
    ap.add_argument("--query-reps", type=int, default=0, help="default: 30 at 10k, 10 at 100k")
    ap.add_argument("--durable", choices=("start", "no"), default="start",
                    help="start: also measure on a second server with stock durability (fsync=on, "
                         "synchronous_commit=on) started here with .ci/start-postgres.sh (needs root: initdb "
                         "runs as the postgres user); no: only --pg")
    ap.add_argument("--durable-pg", help="measure on this already running stock-durability server instead")
    ap.add_argument("--durable-sizes", default="", help="query sizes on the durable server (default: none; "
                                                        "reads do not depend on fsync)")
    ap.add_argument("--markdown", help="write the results into this file's '## Team scale' section")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    durable_sizes = [int(s) for s in args.durable_sizes.split(",") if s]

    servers = [(args.pg, "test server")]
    stop = None
    if args.durable_pg:
        servers.append((args.durable_pg, "stock durability"))
    elif args.durable == "start":
        url, stop = start_durable_server()
        servers.append((url, "stock durability"))
    rows, notes = [], []
    try:
        for pg, label in servers:
            version, settings = server_settings(pg)
            notes.append(f"{label}: PostgreSQL {version} ({settings})")
            rows += measure(pg, args.repeat, sizes if label == "test server" else durable_sizes, args.api_runs,
                            args.query_reps, label)
    finally:
        if stop:
            subprocess.run(stop, shell=True, check=False)

    import mlflow
    import psycopg

    import nbtrack

    lines = [
        f"Measured {date.today()} on 2 cores shared with other jobs (load average {os.getloadavg()[0]:.1f}), "
        f"Python {sys.version.split()[0]}, psycopg {psycopg.__version__}, MLflow {mlflow.__version__}, nbtrack "
        f"{nbtrack.__version__}: `python benchmarks/bench_team.py --repeat {args.repeat} --sizes {args.sizes} "
        f"--api-runs {args.api_runs}`. Both tools on the same server (a new database each), alternating A/B "
        "after a warm-up. Servers, both on 127.0.0.1: " + "; ".join(notes) + ".",
        "",
        "| server | operation | MLflow on PostgreSQL | nbtrack on PostgreSQL | nbtrack faster (medians) | target "
        "| CPU per operation, client + server (mean): MLflow / nbtrack |",
        "|---|---|---|---|---|---|---|",
    ]
    for label, name, a, b, ratio, target, cpu_a, cpu_b in rows:
        verdict = "" if target is None else (f"≥ {target}× {'met' if ratio >= target else 'NOT met'}")
        lines.append(f"| {label} | {name} | {a} | {b} | {ratio:.0f}× | {verdict} | {cpu_a:.1f} ms / {cpu_b:.2f} ms "
                     f"({cpu_a / max(cpu_b, 1e-9):.0f}×) |")
    lines += [
        "",
        f"Populating the query tables: the first {args.api_runs:,} runs of each tool went through its own "
        "Python API; the rest were inserted with bulk SQL that copies the rows the API wrote (for MLflow: "
        "its `runs`, `tags`, `params`, `metrics` and `latest_metrics` rows, with the run's own tags; for "
        "nbtrack: `runs`, `params`, `metrics`, `latest_metrics`). Only the query is timed; both tools must "
        "return the same 100 `acc` values (checked).",
    ]
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        write_section(Path(args.markdown), "## Team scale: PostgreSQL, nbtrack vs MLflow (issue 15)", text)


def write_section(path: Path, title: str, body: str) -> None:
    doc = path.read_text()
    block = f"{title}\n\n{body}\n"
    if title in doc:
        start = doc.index(title)
        nxt = doc.find("\n## ", start + len(title))
        doc = doc[:start] + block + ("" if nxt == -1 else doc[nxt:])
    else:
        doc = doc.rstrip("\n") + "\n\n" + block
    path.write_text(doc)


if __name__ == "__main__":
    main()
