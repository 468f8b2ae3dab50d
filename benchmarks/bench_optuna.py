"""Tuned sweeps: per-trial overhead of ``nbtrack sweep --optuna`` over plain Optuna in one process.

    python benchmarks/bench_optuna.py [--trials 8] [--reps 3]

The objective is a trivial notebook (``score = -(x - 2) ** 2`` logged with
``nbtrack.log_metric``); plain Optuna optimises the same function in this process
(in-memory storage, and once more with an RDB SQLite storage like nbtrack's). nbtrack
runs each trial as a recorded pipeline run in a real kernel (sequential, warm kernels:
the next trial's kernel starts while the current one runs), its study in the
workspace's ``optuna.db``. Alternating A and B after a warm-up; medians of seconds
per trial; the overhead is nbtrack's median minus plain Optuna's. A grid sweep of the
same notebook (same number of runs, no Optuna) separates the cost of a recorded
pipeline run from the cost of the tuning layer.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path


def notebook(path: Path) -> None:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    params = new_code_cell("x = 0.0")
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[params, new_code_cell("import nbtrack\nnbtrack.log_metric('score', -(x - 2) ** 2)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def plain(trials: int, storage: str | None) -> float:
    import optuna

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=1),
                                storage=storage, study_name=uuid.uuid4().hex if storage else None)
    t = time.perf_counter()
    study.optimize(lambda tr: -(tr.suggest_float("x", -10, 10) - 2) ** 2, n_trials=trials)
    return (time.perf_counter() - t) / trials


CPU: dict[str, list[float]] = {"tuned": [], "grid": []}  # this process's CPU seconds per trial


def tracked(trials: int) -> float:
    import nbtrack

    c = time.process_time()
    t = time.perf_counter()
    res = nbtrack.sweep("trivial", {"x": "-10..10"}, progress=False,
                        search=nbtrack.OptunaSearch(trials=trials, objective="metrics.score max", seed=1,
                                                    study=uuid.uuid4().hex))
    elapsed = (time.perf_counter() - t) / trials
    CPU["tuned"].append((time.process_time() - c) / trials)
    assert sum(o["status"] == "finished" for o in res.outcomes) == trials, res.outcomes
    return elapsed


def grid(trials: int) -> float:
    """The same notebook as a grid sweep of as many runs: the pipeline runs without Optuna."""
    import nbtrack

    c = time.process_time()
    t = time.perf_counter()
    res = nbtrack.sweep("trivial", {"x": [float(i) for i in range(trials)]}, progress=False)
    elapsed = (time.perf_counter() - t) / trials
    CPU["grid"].append((time.process_time() - c) / trials)
    assert not res.failed, res.failed
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    folder = Path(tempfile.mkdtemp(prefix="bench-optuna-"))
    os.chdir(folder)
    import nbtrack
    from nbtrack.pipeline import execute

    execute.TRIM_PAPERMILL_IMPORT = True  # as the CLI does
    nbtrack.init(str(folder))
    notebook(folder / "trivial.ipynb")
    nbtrack.approve(str(folder / "trivial.ipynb"), name="trivial", reason="bench")
    sqlite = f"sqlite:///{folder}/plain-optuna.db"
    tracked(2), plain(args.trials, None), plain(args.trials, sqlite)  # warm-up
    CPU["tuned"].clear()
    ours, mem, rdb, grids = [], [], [], []
    for _ in range(args.reps):
        ours.append(tracked(args.trials))
        mem.append(plain(args.trials, None))
        rdb.append(plain(args.trials, sqlite))
        grids.append(grid(args.trials))
    m_ours, m_mem, m_rdb, m_grid = (statistics.median(v) for v in (ours, mem, rdb, grids))
    load = os.getloadavg()[0]
    print(f"{args.trials} trials x {args.reps} reps; load average {load:.1f}; optuna {optuna.__version__}, "
          f"python {sys.version.split()[0]}")
    print("| what | plain Optuna (in memory) | plain Optuna (SQLite) | nbtrack grid sweep, per run | "
          "nbtrack --optuna | overhead per trial over plain Optuna | of which the Optuna layer |")
    print("|---|---|---|---|---|---|---|")
    print(f"| s per trial, trivial notebook | {m_mem:.4f} | {m_rdb:.4f} | {m_grid:.3f} | {m_ours:.3f} | "
          f"{m_ours - m_mem:.3f} s | {m_ours - m_grid:+.3f} s |")
    print("nbtrack --optuna:", [round(v, 3) for v in ours], "grid:", [round(v, 3) for v in grids])
    c_ours, c_grid = statistics.median(CPU["tuned"]), statistics.median(CPU["grid"])
    print(f"CPU of the sweep process per trial (kernels not included): --optuna {c_ours:.3f} s, "
          f"grid {c_grid:.3f} s, the Optuna layer {c_ours - c_grid:+.3f} s")


if __name__ == "__main__":
    main()
