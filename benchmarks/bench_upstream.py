"""What each patch of another project's internals buys: with it (A) and the plain path (B).

    python benchmarks/bench_upstream.py [--reps 5]

Each measure runs A and B alternately (fresh processes where start-up is measured),
after a warm-up, and prints medians as a markdown table (docs/benchmarks.md,
"Upstream internals"). The gain is compared with a typical run of the thing it
speeds up: ``nbtrack run`` of a trivial pipeline for the CLI and kernel trims, a
tracked cell that stores a small model for skops, a re-snapshot for the fingerprint.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def in_fresh_process(code: str) -> float:
    """Seconds the snippet reports (it prints one float)."""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


IMPORT_JSONSCHEMA = """
import sys, time
{hide}
t = time.perf_counter(); import jsonschema; print(time.perf_counter() - t)
"""

IMPORT_PAPERMILL = """
import sys, time
sys.modules["rfc3987_syntax"] = None
from nbtrack.pipeline import execute
execute.TRIM_PAPERMILL_IMPORT = {trim}
t = time.perf_counter(); execute.import_papermill(); print(time.perf_counter() - t)
"""

# Dropped (saves ~0.09 s of kernel CPU, < 5% of `nbtrack run`), kept here to measure it again:
# start ipykernel with debugpy hidden while it decides whether to enable its debugger.
LAUNCHER = (
    "import sys\n"
    "if sys.path and sys.path[0] == '': del sys.path[0]\n"
    "sys.modules['debugpy'] = None\n"
    "import ipykernel.debugger\n"
    "del sys.modules['debugpy']\n"
    "from ipykernel import kernelapp\n"
    "kernelapp.launch_new_instance()\n"
)

KERNEL = """
import resource
from jupyter_client import KernelManager

class KM(KernelManager):
    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        if {launcher}:
            i = cmd.index("ipykernel_launcher")
            cmd = [*cmd[:i - 1], "-c", {code!r}, *cmd[i + 1:]]
        return cmd

km = KM(kernel_name="python3")
km.start_kernel()
kc = km.client(); kc.start_channels(); kc.wait_for_ready(timeout=60)
kc.execute_interactive("y = 1 + 1", timeout=60)
kc.stop_channels(); km.shutdown_kernel()
r = resource.getrusage(resource.RUSAGE_CHILDREN)  # the kernel's CPU over its whole life
print(r.ru_utime + r.ru_stime)
"""


CLI = """
import sys
{patch}
sys.argv = ["nbtrack", *sys.argv[1:]]
from nbtrack.cli import main
main()
"""
NO_TRIMS = "import nbtrack.cli.pipeline as p; p.skip_slow_optional_imports = lambda: None"


def nbtrack_run(folder, patch: str = "") -> float:
    """Seconds of ``nbtrack run trivial -p x 2`` end to end (a fresh CLI process)."""
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", CLI.format(patch=patch), "run", "trivial", "-p", "x", "2"],
                   cwd=folder, check=True, capture_output=True)
    return time.perf_counter() - t


def pipeline_workspace():
    import os
    import tempfile
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_pipeline import trivial_notebook

    folder = Path(tempfile.mkdtemp(prefix="bench-upstream-"))
    os.environ["NBTRACK_URI"] = str(folder / ".nbtrack")
    os.environ.pop("NBTRACK_PARENT_RUN", None)
    trivial_notebook(folder / "trivial.ipynb")
    for args in (["init", str(folder)], ["approve", "trivial.ipynb", "--name", "trivial", "--reason", "bench"]):
        subprocess.run([sys.executable, "-m", "nbtrack", *args], cwd=folder, check=True, capture_output=True)
    return folder


def median_pair(a_fn, b_fn, reps: int) -> tuple[float, float]:
    a_fn(), b_fn()  # warm-up (page cache, .pyc)
    a, b = [], []
    for _ in range(reps):
        a.append(a_fn())
        b.append(b_fn())
    return statistics.median(a), statistics.median(b)


def model():
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    X = rng.normal(size=(1000, 10))
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(X, X[:, 0] > 0)


def frame():
    import numpy as np
    import pandas as pd

    n = 200_000
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "f": rng.normal(size=n), "i": rng.integers(0, 100, n),
        "n": pd.array(rng.integers(0, 100, n), dtype="Int64"),
        "s": pd.array([f"k{i % 1000}" for i in range(n)], dtype="string[pyarrow]"),
        "t": pd.date_range("2026-01-01", periods=n, freq="s"),
        "c": pd.Categorical([f"c{i % 7}" for i in range(n)]),
    })


def timed(fn, reps: int = 1) -> float:
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    reps = ap.parse_args().reps
    rows = []
    folder = pipeline_workspace()
    run_a, run_no_trims = median_pair(lambda: nbtrack_run(folder), lambda: nbtrack_run(folder, NO_TRIMS), reps)
    typical = run_a

    a, b = median_pair(lambda: in_fresh_process(IMPORT_JSONSCHEMA.format(hide='sys.modules["rfc3987_syntax"] = None')),
                       lambda: in_fresh_process(IMPORT_JSONSCHEMA.format(hide="")), reps)
    rows.append(("jsonschema without `rfc3987_syntax` (CLI only)", "`import jsonschema`", a, b, typical))

    a, b = median_pair(lambda: in_fresh_process(IMPORT_PAPERMILL.format(trim=True)),
                       lambda: in_fresh_process(IMPORT_PAPERMILL.format(trim=False)), reps)
    rows.append(("papermill without its remote-storage handlers (CLI only)", "`import papermill`", a, b, typical))
    rows.append(("both CLI trims together", "`nbtrack run` of a trivial pipeline, end to end", run_a, run_no_trims,
                 typical))

    a, b = median_pair(lambda: in_fresh_process(KERNEL.format(launcher=True, code=LAUNCHER)),
                       lambda: in_fresh_process(KERNEL.format(launcher=False, code=LAUNCHER)), max(reps, 9))
    rows.append(("(dropped) ipykernel started without debugpy", "kernel CPU, start to shutdown", a, b, typical))

    from nbtrack.snapshot import model_io

    import itertools

    import nbtrack

    nbtrack.init(folder)
    base = model()
    fresh = itertools.count()
    private = model_io._skops_state

    def log_new(state_fn) -> float:  # a new model version: what a tracked cell that fits one stores
        m = base.set_params(logisticregression__C=1.0 + next(fresh) / 1000)
        model_io._skops_state = state_fn
        try:
            return timed(lambda: nbtrack.log_model(m, "bench"))
        finally:
            model_io._skops_state = private

    a, b = median_pair(lambda: timed(lambda: model_io._archive(*model_io._private_state(base)), 20),
                       lambda: timed(lambda: model_io._archive(*model_io._public_state(base)), 20), reps)
    logged = statistics.median(log_new(private) for _ in range(15))
    rows.append(("skops state without its zip/JSON round trip", "serialize a small sklearn pipeline", a, b, None))
    rows[-1] = (*rows[-1][:4], None, logged)

    from nbtrack.snapshot import fingerprint as fp_mod

    df = frame()
    fast = fp_mod.buffers

    def with_plain():  # what the fingerprint does without pandas' private fields
        fp_mod.buffers = lambda values: None
        try:
            return timed(lambda: fp_mod.fingerprint(df))
        finally:
            fp_mod.buffers = fast

    a, b = median_pair(lambda: timed(lambda: fp_mod.fingerprint(df)), with_plain, reps)
    rows.append(("fingerprint from pandas' buffers (`_ndarray`, `_data`/`_mask`, `_pa_array`)",
                 "fingerprint 200,000 x 6 (float, int, Int64, string[pyarrow], datetime, category)", a, b, None))

    print("| patch | measure | with it (median) | plain path (median) | saved | share of a typical run |")
    print("|---|---|---|---|---|---|")
    for what, measure, a, b, typical, *whole in rows:
        if typical:
            share = f"{(b - a) / typical:.0%} of `nbtrack run` ({typical:.2f} s)"
        elif whole:
            share = f"{(b - a) / whole[0]:.0%} of `nbtrack.log_model` ({whole[0] * 1000:.1f} ms)"
        else:
            share = f"{(b - a) / b:.0%} of the plain path"
        print(f"| {what} | {measure} | {a * 1000:.0f} ms | {b * 1000:.0f} ms | {(b - a) * 1000:.0f} ms | {share} |")


if __name__ == "__main__":
    main()
