"""Tracking overhead and run throughput, nbtrack vs MLflow, in one run.

    python benchmarks/bench_tracking.py [--repeat 200] [--markdown docs/benchmarks.md]

Measures (medians, alternating A/B after a warm-up, see ../shared/BENCH.md):
  * a trivial cell with and without %%track (in-process IPython shell);
  * one run with 10 params + 10 metrics: mlflow (SQLite backend) vs nbtrack.track();
  * 10,000 metric points logged in one run;
  * filter + order + top 100 of 10,000 runs (nbtrack.runs vs mlflow.search_runs);
  * first use of a new workspace; `%load_ext nbtrack` import time (fresh interpreter).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path


def median_ms(samples):
    return statistics.median(samples) * 1000


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def bench_cell_overhead(repeat: int):
    from IPython.testing.globalipapp import start_ipython

    ip = start_ipython()
    ip.run_line_magic("load_ext", "nbtrack")
    plain, tracked = "x = 1\ny = x + 1", "%%track trivial\nx = 1\ny = x + 1"
    for _ in range(20):
        ip.run_cell(plain)
        ip.run_cell(tracked)
    a, b = [], []
    for _ in range(repeat):
        a.append(timed(lambda: ip.run_cell(plain)))
        b.append(timed(lambda: ip.run_cell(tracked)))
    return median_ms(a), median_ms(b)


def bench_run_10x10(repeat: int, tmp: Path):
    import mlflow

    import nbtrack

    mlflow.set_tracking_uri(f"sqlite:///{tmp / 'mlflow.db'}")
    mlflow.set_experiment("bench")
    params = {f"param_{i}": i * 0.5 for i in range(10)}
    metrics = {f"metric_{i}": i / 10 for i in range(10)}

    def ml():
        mlflow.start_run()
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        mlflow.end_run()

    def nb():
        with nbtrack.track("bench", params=params) as run:
            run.log_metrics(metrics)

    for _ in range(5):
        ml()
        nb()
    a, b = [], []
    for _ in range(repeat):
        a.append(timed(ml))
        b.append(timed(nb))
    return median_ms(a), median_ms(b)


def bench_metric_points(tmp: Path):
    import mlflow
    from mlflow.entities import Metric

    import nbtrack

    def nb():
        with nbtrack.track("points") as run:
            for i in range(10_000):
                run.log_metric("loss", 1 / (i + 1), step=i)

    def ml():
        client = mlflow.MlflowClient()
        with mlflow.start_run() as r:
            now = int(time.time() * 1000)
            ms = [Metric("loss", 1 / (i + 1), now, i) for i in range(10_000)]
            for k in range(0, 10_000, 1000):
                client.log_batch(r.info.run_id, metrics=ms[k:k + 1000])

    return median_ms([timed(ml) for _ in range(3)]), median_ms([timed(nb) for _ in range(3)])


def bench_search(tmp: Path, n_runs: int = 10_000):
    import mlflow

    import nbtrack
    from nbtrack.capture.run import ActiveRun

    # nbtrack: n runs in its own workspace
    nbtrack.use_workspace(tmp / "search" / ".nbtrack")
    for i in range(n_runs):
        with nbtrack.track(f"r{i}", params={"model": ["rf", "svm", "lr"][i % 3], "depth": i % 10}) as run:
            run.log_metrics({"acc": (i * 7919 % 10_000) / 10_000, "loss": i / n_runs})
    assert ActiveRun  # (imported for clarity: the same code path as tracked cells)

    def nb():
        df = nbtrack.runs(filter="metrics.acc > 0.5 and params.model == 'rf'", order_by="metrics.acc desc", limit=100)
        assert len(df) == 100

    nb_ms = median_ms([timed(nb) for _ in range(10)])

    mlflow.set_tracking_uri(f"sqlite:///{tmp / 'mlflow-search.db'}")
    mlflow.set_experiment("search")
    client = mlflow.MlflowClient()
    exp = mlflow.get_experiment_by_name("search").experiment_id
    from mlflow.entities import Metric, Param

    n_ml = min(n_runs, 2000)  # creating runs in MLflow is slow; the search cost is what we time
    for i in range(n_ml):
        r = client.create_run(exp)
        client.log_batch(r.info.run_id, metrics=[Metric("acc", (i * 7919 % 10_000) / 10_000, 0, 0)],
                         params=[Param("model", ["rf", "svm", "lr"][i % 3])])

    def ml():
        df = mlflow.search_runs([exp], filter_string="metrics.acc > 0.5 and params.model = 'rf'",
                                order_by=["metrics.acc DESC"], max_results=100)
        assert len(df) == 100

    ml_ms = median_ms([timed(ml) for _ in range(3)])
    nbtrack.use_workspace(None)
    return ml_ms, nb_ms, n_ml


def bench_first_use(tmp: Path):
    import nbtrack

    samples = []
    for i in range(5):
        folder = tmp / f"first-{i}"
        folder.mkdir()
        t = time.perf_counter()
        nbtrack.use_workspace(folder / ".nbtrack")
        with nbtrack.track("first"):
            pass
        samples.append(time.perf_counter() - t)
    nbtrack.use_workspace(None)
    return median_ms(samples)


def bench_load_ext():
    code = ("import time; t=time.perf_counter(); from IPython.testing.globalipapp import start_ipython; "
            "ip=start_ipython(); t1=time.perf_counter(); ip.run_line_magic('load_ext','nbtrack'); "
            "print((time.perf_counter()-t1)*1000); import sys; "
            "print(int(any(m in sys.modules for m in ('pandas','sqlalchemy','sklearn'))))")
    samples, heavy = [], []
    for _ in range(5):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        ms, h = out.stdout.split()
        samples.append(float(ms))
        heavy.append(h == "1")
    return statistics.median(samples), any(heavy)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--search-runs", type=int, default=10_000)
    ap.add_argument("--markdown", help="write the results table into this file's '## Tracking' section")
    args = ap.parse_args()
    import mlflow

    import nbtrack

    tmp = Path(tempfile.mkdtemp(prefix="nbtrack-bench-"))
    os.chdir(tmp)
    nbtrack.use_workspace(tmp / ".nbtrack")
    rows = []
    plain, tracked = bench_cell_overhead(args.repeat)
    rows.append(("trivial cell: %%track overhead (median)", f"plain cell {plain:.3f} ms", f"{tracked - plain:.3f} ms",
                 "target ≤ 5 ms (≤ 1 ms stretch)"))
    ml, nb = bench_run_10x10(args.repeat, tmp)
    rows.append(("one run, 10 params + 10 metrics", f"MLflow SQLite {ml:.1f} ms", f"{nb:.3f} ms", f"{ml / nb:.0f}× faster"))
    ml, nb = bench_metric_points(tmp)
    rows.append(("log 10,000 metric points", f"MLflow log_batch {ml:.0f} ms", f"{nb:.1f} ms", f"{ml / nb:.0f}× faster"))
    ml, nb, n_ml = bench_search(tmp, args.search_runs)
    rows.append((f"filter + order + top 100 ({args.search_runs:,} runs; MLflow {n_ml:,})",
                 f"MLflow search_runs {ml:.0f} ms", f"{nb:.1f} ms", f"{ml / nb:.0f}× faster"))
    first = bench_first_use(tmp)
    rows.append(("first use of a new workspace (schema + first run)", "MLflow SQLite ≈ 7.4 s (BENCH.md)",
                 f"{first:.0f} ms", "target ≤ 200 ms"))
    load, heavy = bench_load_ext()
    rows.append(("`%load_ext nbtrack`", "`import mlflow` ≈ 3.3 s (BENCH.md)", f"{load:.1f} ms",
                 "pandas/sqlalchemy/sklearn imported: " + ("yes" if heavy else "no")))

    header = ("| measure | peer | nbtrack | ratio / target |\n|---|---|---|---|\n")
    table = header + "".join(f"| {a} | {b} | {c} | {d} |\n" for a, b, c, d in rows)
    meta = (f"\nMeasured {date.today()} on {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
            f"MLflow {mlflow.__version__}, nbtrack {nbtrack.__version__}; medians of alternating runs "
            f"(`python benchmarks/bench_tracking.py --repeat {args.repeat}`).\n")
    print(table + meta)
    if args.markdown:
        write_section(Path(args.markdown), "## Tracking", table + meta)


def write_section(path: Path, heading: str, body: str) -> None:
    """Replace (or append) one '## ' section of a markdown file."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    start = text.find(heading + "\n")
    section = f"{heading}\n\n{body}\n"
    if start < 0:
        text = text.rstrip("\n") + "\n\n" + section
    else:
        end = text.find("\n## ", start + len(heading))
        text = text[:start] + section + (text[end + 1:] if end >= 0 else "")
    path.write_text(text)


if __name__ == "__main__":
    main()
