"""An 8-run sweep on a 2-worker Dask cluster vs the same sweep locally (``--parallel 1``, and ``--parallel 2``).

    NBTRACK_TEST_PG_URL=postgresql+psycopg://postgres@127.0.0.1:54329/postgres \\
        python benchmarks/bench_dask.py [--reps 3] [--work 0,2]

Every sweep is the user's command (``nbtrack sweep NB -p x 1..8 ...`` in a fresh
process) against the same shared store: a fresh PostgreSQL database and an S3 bucket
on a moto server (``NBTRACK_TEST_S3_ENDPOINT`` or one started here). The cluster is
``dask scheduler`` + two ``dask worker`` processes (one thread each) from
tests/daskcluster.py, each in its own namespaces when run as root (the client's folder
hidden): they share nothing with the client but the store. Each run executes a tracked
cell that burns ``--work`` seconds of CPU (0: a trivial cell, so the numbers are
overhead). Alternating after a warm-up; medians and ratios as a markdown table
(docs/benchmarks.md, "Sweeps on a Dask cluster").
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from daskcluster import DaskCluster, aws_env, moto_server, pg_database, team_config  # noqa: E402

RUNS = 8


def notebook(path: Path) -> None:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    params = new_code_cell("x = 1\nwork = 0.0")
    params.metadata["tags"] = ["parameters"]
    body = ("%%track bench\nimport time\nt0 = time.process_time()\nwhile time.process_time() - t0 < work:\n"
            "    pass\nscore = x * 2")
    nb = new_notebook(cells=[params, new_code_cell("%load_ext nbtrack"), new_code_cell(body)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def sweep(folder: Path, env: dict, work: float, *extra: str) -> float:
    cmd = [str(BIN / "nbtrack"), "sweep", "bench", "-p", "x", ",".join(str(i) for i in range(1, RUNS + 1)),
           "-p", "work", str(work), "--select", "metrics.score", *extra]
    t = time.perf_counter()
    done = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if done.returncode != 0 or "failed run(s)" in done.stdout + done.stderr:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--work", default="0,2", help="CPU seconds per run, comma-separated workloads")
    args = ap.parse_args()
    pg = os.environ.get("NBTRACK_TEST_PG_URL")
    if not pg:
        raise SystemExit("set NBTRACK_TEST_PG_URL to a PostgreSQL server (bash .ci/start-postgres.sh)")
    import fsspec
    import nbtrack

    with tempfile.TemporaryDirectory(prefix="bench-dask-") as tmp, moto_server() as endpoint, \
            pg_database(pg) as meta:
        client = Path(tmp) / "client"
        client.mkdir()
        aws = aws_env(endpoint)
        os.environ.update(aws)
        fsspec.filesystem("s3").mkdir("bench-dask")
        folder = team_config(client, meta, "s3://bench-dask/ws")
        env = {**os.environ, "NBTRACK_URI": str(folder)}
        os.environ["NBTRACK_URI"] = str(folder)
        os.chdir(client)
        nbtrack.init(client)
        notebook(client / "bench.ipynb")
        nbtrack.approve(str(client / "bench.ipynb"), name="bench", reason="benchmark")
        t = time.perf_counter()
        with DaskCluster(2, hide=[client], env=aws) as cluster:
            started = time.perf_counter() - t
            print(f"cluster up in {started:.1f} s (namespaces: {cluster.isolated}); load {os.getloadavg()[0]:.1f}",
                  file=sys.stderr)
            modes = {"local --parallel 1": ("--parallel", "1"), "Dask, 2 workers": ("--dask", cluster.address),
                     "local --parallel 2": ("--parallel", "2")}
            rows = []
            for work in (float(w) for w in args.work.split(",")):
                times: dict[str, list[float]] = {m: [] for m in modes}
                for extra in modes.values():  # warm-up
                    sweep(client, env, work, *extra)
                for _ in range(args.reps):
                    for m, extra in modes.items():
                        times[m].append(sweep(client, env, work, *extra))
                        print(f"work={work:g} {m}: {times[m][-1]:.2f} s", file=sys.stderr)
                rows.append((work, {m: statistics.median(v) for m, v in times.items()}))
        print(f"\n8-run sweep, {args.reps} reps after a warm-up, median seconds "
              f"(load {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores):\n")
        print("| CPU per run | local `--parallel 1` | Dask, 2 workers | speed-up | local `--parallel 2` "
              "| Dask vs parallel 2 |")
        print("|---|---|---|---|---|---|")
        for work, med in rows:
            seq, dk, par = med["local --parallel 1"], med["Dask, 2 workers"], med["local --parallel 2"]
            print(f"| {work:g} s | {seq:.1f} s | {dk:.1f} s | {seq / dk:.2f}x | {par:.1f} s | {par / dk:.2f}x |")
        print(f"\ncluster start (scheduler + 2 workers, not in the times): {started:.1f} s")


if __name__ == "__main__":
    main()
