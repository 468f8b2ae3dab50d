"""Cold start (issue 18, target 5): the first run, the first tracked cell, the first browser.

    python benchmarks/bench_coldstart.py [--n 9] [--kernels 5]

Every sample is a fresh process (or a fresh kernel), nbtrack and its floor alternating:

* **first run**: ``import nbtrack`` then time ``with nbtrack.track(...): log_metric(...)`` in
  a new interpreter, against the floor: the same process writing one row to a WAL-mode
  SQLite file with the standard library (what a run must at least do);
* **first tracked cell**: in a new kernel, ``%load_ext nbtrack``, a pause (the user types),
  then the round trip of the first ``%%track`` cell (it waits for the background warm-up if
  that is still running) against the round trip of the same cell untracked just after it;
* **first browser**: in a new kernel with pandas and ipywidgets imported, ``%load_ext
  nbtrack``, a pause, then ``%track_browser *`` timed in the kernel (200 runs in the workspace)
  (see also ``browser_first_open.py``).

The first-run processes use a bytecode cache of their own (``PYTHONPYCACHEPREFIX`` in the temporary
folder, filled by the warm-up process), as an installed package has (pip compiles ``.pyc`` files);
``--no-pyc`` measures them compiling every module from source instead (a source checkout with
``PYTHONDONTWRITEBYTECODE`` set). The script also checks that the first run did not import SQLAlchemy
(on SQLite a run is written with the standard library's sqlite3).

Prints median, p10, p90 and n as markdown (docs/benchmarks.md, "Cold start").
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

FIRST_RUN = """
import time
t0 = time.perf_counter()
import nbtrack
t1 = time.perf_counter()
c1 = time.process_time()
with nbtrack.track("cold", params={"C": 1}):
    nbtrack.log_metric("acc", 0.5)
t2 = time.perf_counter()
c2 = time.process_time()
import sys
assert "sqlalchemy" not in sys.modules, "the first run imported SQLAlchemy"
print("ELAPSED", t2 - t1, c2 - c1)
"""

FLOOR = """
import time
t0 = time.perf_counter()
import os, sqlite3, uuid
t1 = time.perf_counter()
c1 = time.process_time()
con = sqlite3.connect(os.path.join({folder!r}, "floor.db"), isolation_level=None)
con.execute("PRAGMA journal_mode=WAL")
con.execute("PRAGMA synchronous=NORMAL")
con.execute("CREATE TABLE IF NOT EXISTS runs (id TEXT PRIMARY KEY, name TEXT, started REAL, acc REAL)")
con.execute("BEGIN IMMEDIATE")
con.execute("INSERT INTO runs VALUES (?, ?, ?, ?)", (uuid.uuid4().hex, "cold", time.time(), 0.5))
con.execute("COMMIT")
con.close()
t2 = time.perf_counter()
print("ELAPSED", t2 - t1, time.process_time() - c1)
"""


def in_fresh_process(code: str, env: dict, cwd: str, cpu: list[float] | None = None) -> float:
    """Wall time the code printed; its CPU time (which the machine's load inflates far less)
    is appended to ``cpu``."""
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0 or "ELAPSED" not in out.stdout:
        raise SystemExit(f"failed:\n{out.stdout}\n{out.stderr}")
    wall, used = out.stdout.split("ELAPSED", 1)[1].split()[:2]
    if cpu is not None:
        cpu.append(float(used))
    return float(wall)


def quantiles(xs: list[float]) -> str:
    s = sorted(xs)

    def pick(q: float) -> float:
        return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]

    return f"{statistics.median(s) * 1000:.0f} ms ({pick(0.1) * 1000:.0f}–{pick(0.9) * 1000:.0f}, n={len(s)})"


def run_cell(kc, code: str) -> tuple[float, str]:
    """Round trip of one cell (execute request to idle status) and what it printed."""
    t = time.perf_counter()
    msg_id = kc.execute(code)
    out = []
    while True:
        msg = kc.get_iopub_msg(timeout=120)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "stream":
            out.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            raise RuntimeError("\n".join(msg["content"]["traceback"]))
        elif msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            return time.perf_counter() - t, "".join(out)


def kernel_round(pause: float) -> tuple[float, float, float]:
    """(untracked cell, first %%track cell, first %track_browser) in two fresh kernels."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3")
    try:
        run_cell(kc, "%load_ext nbtrack")
        time.sleep(pause)
        tracked, _ = run_cell(kc, "%%track cold\ny = sum(range(10))")  # includes any warm-up still running
        plain, _ = run_cell(kc, "y = sum(range(10))")
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        run_cell(kc, "import pandas, ipywidgets")
        run_cell(kc, "%load_ext nbtrack")
        time.sleep(pause)
        _, out = run_cell(kc, "import time as _t\n_t0 = _t.perf_counter()\n"
                              "_w = get_ipython().run_line_magic('track_browser', '*')\n"
                              "print('ELAPSED', _t.perf_counter() - _t0)")
        browser = float(out.split("ELAPSED", 1)[1].split()[0])
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    return plain, tracked, browser


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=9, help="fresh processes per side for the first run")
    ap.add_argument("--kernels", type=int, default=5, help="rounds of fresh kernels")
    ap.add_argument("--pause", type=float, default=1.0, help="seconds between %%load_ext and the next cell")
    ap.add_argument("--no-pyc", action="store_true", help="first runs without a bytecode cache (compile from source)")
    ap.add_argument("--no-kernels", action="store_true", help="only the first run (no kernels)")
    a = ap.parse_args()
    folder = tempfile.mkdtemp(prefix="bench-cold-")
    env = {**os.environ, "NBTRACK_URI": os.path.join(folder, ".nbtrack")}
    for k in ("NBTRACK_PARENT_RUN", "NBTRACK_EXPERIMENT"):
        env.pop(k, None)
    if a.no_pyc:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = os.path.join(folder, "pycache")
    os.environ.update(NBTRACK_URI=env["NBTRACK_URI"])
    import nbtrack

    nbtrack.init(folder)
    for i in range(200):
        with nbtrack.track(f"run-{i}", params={"C": i % 7}):
            nbtrack.log_metric("acc", i / 200)
    floor_code = FLOOR.format(folder=folder)
    in_fresh_process(FIRST_RUN, env, folder), in_fresh_process(floor_code, env, folder)  # warm-up: .pyc, disk cache
    first, floor, first_cpu, floor_cpu, new, new_cpu = [], [], [], [], [], []
    for _ in range(a.n):
        first.append(in_fresh_process(FIRST_RUN, env, folder, first_cpu))
        floor.append(in_fresh_process(floor_code, env, folder, floor_cpu))
        fresh = tempfile.mkdtemp(prefix="new-", dir=folder)  # the run creates the workspace and its schema
        new.append(in_fresh_process(FIRST_RUN, {**env, "NBTRACK_URI": os.path.join(fresh, ".nbtrack")}, fresh, new_cpu))
    plain, tracked, browser = [], [], []
    if not a.no_kernels:
        kernel_round(a.pause)  # warm-up
    for _ in range(0 if a.no_kernels else a.kernels):
        p, t, b = kernel_round(a.pause)
        plain.append(p), tracked.append(t), browser.append(b)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}, "
          f"{time.strftime('%Y-%m-%d')}")
    print("| what | nbtrack: median (p10–p90, n) | floor: median (p10–p90, n) | target |")
    print("|---|---|---|---|")
    cache = "no bytecode cache" if a.no_pyc else "with a bytecode cache"
    print(f"| first run in a fresh process (after `import nbtrack`, {cache}) | {quantiles(first)} | "
          f"sqlite3 insert + commit {quantiles(floor)} | ≤ 150 ms |")
    print(f"| same, CPU time of that process | {quantiles(first_cpu)} | {quantiles(floor_cpu)} | — |")
    print(f"| first run in a brand-new folder (creates the workspace), wall / CPU | {quantiles(new)} / "
          f"{quantiles(new_cpu)} | — | — |")
    if not a.no_kernels:
        print(f"| first `%%track` cell, {a.pause:g} s after `%load_ext` (round trip) | {quantiles(tracked)} | "
              f"same cell untracked, next {quantiles(plain)} | ≤ 100 ms |")
        print(f"| first `%track_browser *` (pandas + ipywidgets loaded, 200 runs) | {quantiles(browser)} | — "
              "| ≤ 300 ms |")
    print("raw:", {"first": first, "floor": floor, "first_cpu": first_cpu, "new": new, "new_cpu": new_cpu,
                   "plain": plain, "tracked": tracked, "browser": browser})
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
