"""Pipelines: ``nbtrack run`` vs plain ``papermill``; a sweep with ``--parallel 2`` vs sequential.

    python benchmarks/bench_pipeline.py [--reps 5] [--sweep-reps 2]

Side by side in the same run, alternating A and B after a warm-up; medians and
ratios are printed as a markdown table (see docs/benchmarks.md, "Pipelines").
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


def trivial_notebook(path: Path, body: str = "y = x + 1") -> None:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    params = new_code_cell("x = 1")
    params.metadata["tags"] = ["parameters"]
    nb = new_notebook(cells=[params, new_code_cell(body)])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def timed(cmd: list[str], cwd: Path, env: dict) -> float:
    t = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    return elapsed


def alternate(a, b, reps: int) -> tuple[list[float], list[float]]:
    a(), b()  # warm-up (disk cache, kernelspec lookup, .pyc)
    ta, tb = [], []
    for _ in range(reps):
        ta.append(a())
        tb.append(b())
    return ta, tb


def in_process(folder: Path, reps: int) -> tuple[list[float], list[float]]:
    """Same comparison without interpreter start and imports: run_pipeline vs execute_notebook."""
    import papermill

    import nbtrack

    nbtrack.use_workspace(folder / ".nbtrack")

    def a():
        t = time.perf_counter()
        nbtrack.run_pipeline("trivial", params={"x": 2}, output=str(folder / "api.ipynb"))
        return time.perf_counter() - t

    def b():
        t = time.perf_counter()
        papermill.execute_notebook(str(folder / "trivial.ipynb"), str(folder / "pm-api.ipynb"),
                                   parameters={"x": 2}, progress_bar=False)
        return time.perf_counter() - t

    return alternate(a, b, reps)


def row(what: str, peer: str, tn: list[float], tp: list[float]) -> str:
    mn, mp = statistics.median(tn), statistics.median(tp)
    return f"| {what} | {peer} {mp:.2f} s | {mn:.2f} s | {mn / mp:.3f} |"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--sweep-reps", type=int, default=2)
    ap.add_argument("--only-sweeps", action="store_true")
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    env = {**os.environ, "NBTRACK_URI": str(folder / ".nbtrack")}
    env.pop("NBTRACK_PARENT_RUN", None)
    trivial_notebook(folder / "trivial.ipynb")
    # about half a second of pure-Python work per run, like a small training step
    trivial_notebook(folder / "work.ipynb", "y = sum(i * i for i in range(4_000_000 + x))")
    subprocess.run([BIN / "nbtrack", "init", str(folder)], env=env, check=True, capture_output=True)
    for nb in ("trivial", "work"):
        subprocess.run([BIN / "nbtrack", "approve", f"{nb}.ipynb", "--name", nb, "--reason", "bench"],
                       cwd=folder, env=env, check=True, capture_output=True)

    run = lambda: timed([str(BIN / "nbtrack"), "run", "trivial", "-p", "x", "2", "--output", "a.ipynb"], folder, env)
    pm = lambda: timed([str(BIN / "papermill"), "trivial.ipynb", "b.ipynb", "-p", "x", "2", "--no-progress-bar"],
                       folder, env)
    # papermill's CLI given the same start-up trims as `nbtrack run` (see
    # nbtrack.cli.pipeline.skip_slow_optional_imports): no rfc3987_syntax grammar, no
    # remote-storage handlers. What remains is the work itself.
    from nbtrack.pipeline.execute import PAPERMILL_REMOTE_IO

    trims = ("import sys; sys.modules['rfc3987_syntax'] = None; "
             f"hidden = {PAPERMILL_REMOTE_IO!r}; sys.modules.update(dict.fromkeys(hidden)); "
             "import papermill.iorw; [sys.modules.pop(m) for m in hidden]; "
             "from papermill.cli import papermill; papermill()")
    pm_skip = lambda: timed([sys.executable, "-c", trims, "trivial.ipynb", "c.ipynb",
                             "-p", "x", "2", "--no-progress-bar"], folder, env)
    none: list[float] = [float("nan")]
    t_run = t_pm = t_run2 = t_pm_skip = t_api = t_pm_api = none
    if not args.only_sweeps:
        t_run, t_pm = alternate(run, pm, args.reps)
        t_run2, t_pm_skip = alternate(run, pm_skip, args.reps)
        t_api, t_pm_api = in_process(folder, args.reps)
    values = ",".join(str(i) for i in range(1, 9))
    sweep = lambda nb, k, *extra: lambda: timed([str(BIN / "nbtrack"), "sweep", nb, "-p", "x", values,
                                                 "--parallel", str(k), *extra], folder, env)
    modes = {"--warm": ("--warm",), "--no-warm": ("--no-warm",)}
    sweeps = {(nb, mode): alternate(sweep(nb, 2, *flags), sweep(nb, 1, *flags), args.sweep_reps)
              for mode, flags in modes.items() for nb in ("trivial", "work")}

    import papermill

    print(f"python {sys.version.split()[0]}, papermill {papermill.__version__}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}, {time.strftime('%Y-%m-%d')}")
    print("| what | peer (median) | nbtrack (median) | ratio |")
    print("|---|---|---|---|")
    print(row("`nbtrack run` of a trivial approved notebook (CLI, end to end)", "`papermill` CLI", t_run, t_pm))
    print(row("same, papermill CLI given the same start-up trims", "`papermill` CLI (trimmed)", t_run2, t_pm_skip))
    print(row("same, in process (`run_pipeline` vs `papermill.execute_notebook`)", "papermill API", t_api, t_pm_api))
    med = statistics.median
    for (nb, mode), (par, seq) in sweeps.items():
        what = "8 trivial runs" if nb == "trivial" else "8 runs with ~0.5 s of Python work each"
        print(row(f"sweep of {what}, {mode}: `--parallel 2`", "`--parallel 1`", par, seq)
              + f" speed-up {med(seq) / med(par):.2f}x")
    for nb in ("trivial", "work"):
        par, seq = sweeps[(nb, "--warm")][0], sweeps[(nb, "--no-warm")][1]
        print(f"| {nb}: default `--parallel 2` (warm) vs strictly one kernel at a time "
              f"(`--parallel 1 --no-warm`) | {med(seq):.2f} s | {med(par):.2f} s | speed-up {med(seq) / med(par):.2f}x |")
    print("raw:", {"run": t_run, "papermill": t_pm, "run2": t_run2, "papermill_trimmed": t_pm_skip, "api": t_api,
                   "papermill_api": t_pm_api, **{f"{nb} {mode}": v for (nb, mode), v in sweeps.items()}})

if __name__ == "__main__":
    main()
