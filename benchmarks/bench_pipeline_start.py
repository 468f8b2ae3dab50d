"""Pipeline start-up: ``nbtrack run`` vs the papermill CLI, and sweeps (issue 18, target 6).

    python benchmarks/bench_pipeline_start.py [--reps 7] [--sweep-reps 3]

Side by side in one run, alternating after a warm-up (which also starts the kernel
template and the pre-imported driver, :mod:`nbtrack.cli.driver`): ``nbtrack run`` of a
trivial approved notebook as users get it (driver + fork-server kernels), with
``NBTRACK_DRIVER=0`` (in process, fork-server kernels), with both off, and the papermill
CLI given the same start-up trims as ``nbtrack run``; then 8-run sweeps with
``--parallel 2`` and ``--parallel 1``. Prints median, p10, p90 and n of wall time and of
CPU time (the command's own processes: the client plus, when served, the driver's child and
its sweep workers, read from the driver's log, and the kernels forked by the kernel template,
read from the template's reaped children; papermill's kernel is its own child), and the
ratios, as markdown (docs/benchmarks.md, "Pipeline start-up"). ``NBTRACK_TIMELINE=FILE``
also records where a command spends its time (:mod:`nbtrack.pipeline.timeline`).
"""

from __future__ import annotations

import argparse
import glob
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from bench_pipeline import BIN, trivial_notebook  # noqa: E402

CPU: dict[str, list[float]] = {}  # label -> CPU seconds per sample
TEMPLATE: list[int] = []  # the kernel template's pid, once known: its reaped kernels' CPU is counted too


def kernels_cpu() -> float:
    """CPU of every kernel the template forked and reaped so far (its children's rusage)."""
    if not TEMPLATE:
        return 0.0
    try:
        with open(f"/proc/{TEMPLATE[0]}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")  # cutime + cstime
    except (OSError, IndexError, ValueError):
        return 0.0


def driver_cpu(folder: str) -> list[float]:
    """CPU of every command the driver served so far (its log: "done PID: ... cpu X s")."""
    out = []
    for path in glob.glob(os.path.join(folder, "*.log")):
        for line in open(path):
            if line.startswith("done "):
                out.append(float(line.rsplit("cpu ", 1)[1].split()[0]))
    return out


def timed(label: str, cmd: list, cwd: Path, env: dict, folder: str) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    served = len(driver_cpu(folder))
    forked = kernels_cpu()
    t = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed:\n{done.stdout}\n{done.stderr}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    for _ in range(100):  # the server logs the child's exit right after replying
        extra = driver_cpu(folder)[served:]
        if extra or env.get("NBTRACK_DRIVER") == "0":
            break
        time.sleep(0.01)
    CPU.setdefault(label, []).append(cpu + sum(extra) + kernels_cpu() - forked)
    return elapsed


def quantiles(xs: list[float]) -> tuple[float, float, float]:
    s = sorted(xs)
    def pick(q):
        return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]
    return statistics.median(s), pick(0.1), pick(0.9)


def cell(xs: list[float]) -> str:
    med, p10, p90 = quantiles(xs)
    return f"{med:.2f} s ({p10:.2f}–{p90:.2f}, n={len(xs)})"


def cpu(label: str) -> str:
    xs = CPU[label][1:]  # without the warm-up sample
    return f"{statistics.median(xs):.2f} s"


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
    drv = tempfile.mkdtemp(prefix="nbd-", dir="/tmp")  # a private driver server, stopped at the end
    env = {**os.environ, "NBTRACK_URI": str(folder / ".nbtrack"), "NBTRACK_DRIVER_DIR": drv,
           "NBTRACK_DRIVER_IDLE": "120"}
    for k in ("NBTRACK_PARENT_RUN", "NBTRACK_FORK_KERNELS", "NBTRACK_DRIVER"):
        env.pop(k, None)
    no_driver = {**env, "NBTRACK_DRIVER": "0"}
    no_fork = {**no_driver, "NBTRACK_FORK_KERNELS": "0"}
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
    try:
        timed("start", run, folder, env, drv)  # starts the driver server for the next commands
        deadline = time.time() + 120
        while not glob.glob(os.path.join(drv, "*.sock")) and time.time() < deadline:
            time.sleep(0.1)
        from nbtrack.pipeline import forkserver

        with open(BIN / "nbtrack") as f:  # the driver's interpreter: the one its kernels are launched with
            python = f.readline()[2:].strip() or sys.executable
        sock = forkserver.ensure_template(python, env)  # the template the commands' kernels fork from
        pid = forkserver.template_pid(sock) if sock else None
        TEMPLATE.extend([pid] if pid else [])
        single = rounds({
            "driver": lambda: timed("driver", run, folder, env, drv),
            "papermill": lambda: timed("papermill", [sys.executable, "-c", trims, "trivial.ipynb", "c.ipynb",
                                                     "-p", "x", "2", "--no-progress-bar"], folder, env, drv),
            "nodriver": lambda: timed("nodriver", run, folder, no_driver, drv),
            "nofork": lambda: timed("nofork", run, folder, no_fork, drv),
        }, args.reps)
        values = ",".join(str(i) for i in range(1, 9))

        def sweep(label, k, e):
            return lambda: timed(label, [str(BIN / "nbtrack"), "sweep", "trivial", "-p", "x", values,
                                         "--parallel", str(k)], folder, e, drv)
        sweeps = rounds({"par2": sweep("par2", 2, env), "par1": sweep("par1", 1, env),
                         "par2_nodriver": sweep("par2_nodriver", 2, no_driver)}, args.sweep_reps)
    finally:
        for sock in glob.glob(os.path.join(drv, "*.sock")):
            os.unlink(sock)  # the server exits
        time.sleep(1.5)
        shutil.rmtree(drv, ignore_errors=True)
        shutil.rmtree(folder, ignore_errors=True)

    import papermill

    def med(xs):
        return statistics.median(xs)
    pm = med(single["papermill"])
    print(f"python {sys.version.split()[0]}, papermill {papermill.__version__}, {os.cpu_count()} cores, "
          f"load {os.getloadavg()[0]:.1f}, {time.strftime('%Y-%m-%d')}")
    print("| what | wall: median (p10–p90, n) | CPU: median | wall ratio |")
    print("|---|---|---|---|")
    print(f"| `papermill` CLI (same start-up trims) | {cell(single['papermill'])} | {cpu('papermill')} | 1 |")
    for label, what in (("driver", "`nbtrack run` (driver + fork-server kernels: the default)"),
                        ("nodriver", "`nbtrack run`, `NBTRACK_DRIVER=0` (in process, fork-server kernels)"),
                        ("nofork", "`nbtrack run`, `NBTRACK_DRIVER=0 NBTRACK_FORK_KERNELS=0`")):
        print(f"| {what} | {cell(single[label])} | {cpu(label)} | {med(single[label]) / pm:.2f} "
              f"({pm / med(single[label]):.2f}× faster) |")
    print(f"| sweep of 8 trivial runs, `--parallel 1` | {cell(sweeps['par1'])} | {cpu('par1')} | 1 |")
    print(f"| same, `--parallel 2` | {cell(sweeps['par2'])} | {cpu('par2')} | speed-up "
          f"{med(sweeps['par1']) / med(sweeps['par2']):.2f}× |")
    print(f"| same, `--parallel 2`, `NBTRACK_DRIVER=0` | {cell(sweeps['par2_nodriver'])} | "
          f"{cpu('par2_nodriver')} | speed-up {med(sweeps['par1']) / med(sweeps['par2_nodriver']):.2f}× |")
    print("raw:", {k: [round(x, 3) for x in v] for k, v in {**single, **sweeps}.items()})


if __name__ == "__main__":
    main()
