"""Pipeline start-up with fork-server kernels: ``nbtrack run`` vs the papermill CLI, and sweeps.

    python benchmarks/bench_pipeline_start.py [--reps 7] [--sweep-reps 3]

Side by side in one run, alternating after a warm-up (which also starts the kernel
template): ``nbtrack run`` of a trivial approved notebook (fork-server kernels, the
default), the same with ``NBTRACK_FORK_KERNELS=0`` (kernels launched as before), and the
papermill CLI given the same start-up trims as ``nbtrack run``; then 8-run sweeps with
``--parallel 2`` and ``--parallel 1``. Prints median, p10, p90 and n of each, and the
ratios, as markdown (docs/benchmarks.md, "Pipeline start-up").
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

sys.path.insert(0, str(Path(__file__).parent))
from bench_pipeline import BIN, timed, trivial_notebook  # noqa: E402


def quantiles(xs: list[float]) -> tuple[float, float, float]:
    s = sorted(xs)
    def pick(q):
        return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]
    return statistics.median(s), pick(0.1), pick(0.9)


def cell(xs: list[float]) -> str:
    med, p10, p90 = quantiles(xs)
    return f"{med:.2f} s ({p10:.2f}–{p90:.2f}, n={len(xs)})"


def rounds(fns: dict, reps: int) -> dict[str, list[float]]:
    for fn in fns.values():  # warm-up: disk cache, .pyc, kernelspec lookup, the kernel template
        fn()
    out: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(reps):
        for k, fn in fns.items():
            out[k].append(fn())
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--sweep-reps", type=int, default=3)
    args = ap.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-start-"))
    env = {**os.environ, "NBTRACK_URI": str(folder / ".nbtrack")}
    env.pop("NBTRACK_PARENT_RUN", None)
    env.pop("NBTRACK_FORK_KERNELS", None)
    no_fork = {**env, "NBTRACK_FORK_KERNELS": "0"}
    trivial_notebook(folder / "trivial.ipynb")
    subprocess.run([BIN / "nbtrack", "init", str(folder)], env=env, check=True, capture_output=True)
    subprocess.run([BIN / "nbtrack", "approve", "trivial.ipynb", "--name", "trivial", "--reason", "bench"],
                   cwd=folder, env=env, check=True, capture_output=True)
    from nbtrack.pipeline.execute import JSONSCHEMA_UNUSED, PAPERMILL_REMOTE_IO

    trims = ("import sys; "  # exactly what `nbtrack run` hides while it imports papermill
             f"hidden = {PAPERMILL_REMOTE_IO + JSONSCHEMA_UNUSED!r}; sys.modules.update(dict.fromkeys(hidden)); "
             "import papermill.iorw; [sys.modules.pop(m) for m in hidden]; "
             "from papermill.cli import papermill; papermill()")
    run = [str(BIN / "nbtrack"), "run", "trivial", "-p", "x", "2", "--output", "a.ipynb"]
    single = rounds({
        "fork": lambda: timed(run, folder, env),
        "papermill": lambda: timed([sys.executable, "-c", trims, "trivial.ipynb", "c.ipynb", "-p", "x", "2",
                                    "--no-progress-bar"], folder, env),
        "nofork": lambda: timed(run, folder, no_fork),
    }, args.reps)
    values = ",".join(str(i) for i in range(1, 9))
    def sweep(k, e):
        return lambda: timed([str(BIN / "nbtrack"), "sweep", "trivial", "-p", "x", values,
                                            "--parallel", str(k)], folder, e)
    sweeps = rounds({"par2": sweep(2, env), "par1": sweep(1, env), "par2_nofork": sweep(2, no_fork)},
                    args.sweep_reps)

    import papermill

    def med(xs):
        return statistics.median(xs)
    print(f"python {sys.version.split()[0]}, papermill {papermill.__version__}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}, {time.strftime('%Y-%m-%d')}")
    print("| what | median (p10–p90, n) | ratio |")
    print("|---|---|---|")
    print(f"| `papermill` CLI (same start-up trims) | {cell(single['papermill'])} | 1 |")
    print(f"| `nbtrack run`, fork-server kernels (default) | {cell(single['fork'])} | "
          f"{med(single['fork']) / med(single['papermill']):.2f} |")
    print(f"| `nbtrack run`, `NBTRACK_FORK_KERNELS=0` | {cell(single['nofork'])} | "
          f"{med(single['nofork']) / med(single['papermill']):.2f} |")
    print(f"| sweep of 8 trivial runs, `--parallel 1` | {cell(sweeps['par1'])} | 1 |")
    print(f"| same, `--parallel 2` | {cell(sweeps['par2'])} | speed-up "
          f"{med(sweeps['par1']) / med(sweeps['par2']):.2f}x |")
    print(f"| same, `--parallel 2`, `NBTRACK_FORK_KERNELS=0` | {cell(sweeps['par2_nofork'])} | "
          f"{med(sweeps['par2_nofork']) / med(sweeps['par2']):.2f}x the forked |")
    print("raw:", {k: [round(x, 3) for x in v] for k, v in {**single, **sweeps}.items()})


if __name__ == "__main__":
    main()
