"""The first %track_browser after %load_ext is fast: the read path is imported in the background."""

from __future__ import annotations

import os
import subprocess
import sys

CODE = r'''
import sys, time
import pandas, ipywidgets
from IPython.core.interactiveshell import InteractiveShell
sh = InteractiveShell.instance()
t0 = time.perf_counter()
sh.run_line_magic("load_ext", "nbtrack")
load = time.perf_counter() - t0
from nbtrack.ipython import extension, warm as warmup
extension.warm_read_path().join(30)   # the user types the next cell meanwhile
warm = all(m in sys.modules for m in warmup.MODULES)
t0 = time.perf_counter()
w = sh.run_line_magic("track_browser", "*")
first = time.perf_counter() - t0
print(load, warm, first, len(w.rows))
'''


def test_first_browser_after_load_ext_is_warm(workspace, tmp_path):
    import nbtrack

    for i in range(5):
        with nbtrack.track(f"r{i}", params={"C": i}):
            nbtrack.log_metric("acc", i / 5)
    out = subprocess.run([sys.executable, "-c", CODE], cwd=tmp_path, env=dict(os.environ), capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    load, warm, first, rows = out.stdout.split()
    assert warm == "True" and rows == "5"
    # benchmarks/browser_first_open.py measures it in a real kernel (docs/benchmarks.md); here, under any
    # load, the first open must at least not pay SQLAlchemy's import again
    assert float(first) < 1.0, out.stdout


NO_OVERLAP = r'''
from IPython.core.interactiveshell import InteractiveShell
sh = InteractiveShell.instance()
sh.run_line_magic("load_ext", "nbtrack")
from nbtrack.ipython import warm
seen = []
sh.events.register("pre_run_cell", lambda info: seen.append(warm._thread.is_alive()))
sh.run_cell("from nbtrack.query.runs import Run")  # at once, as Run All would
print(seen, warm._thread.is_alive())
'''


def test_no_cell_runs_while_the_read_path_is_imported(workspace, tmp_path):
    """A cell right after %load_ext waits for the background imports (no half-initialised modules)."""
    out = subprocess.run([sys.executable, "-c", NO_OVERLAP], cwd=tmp_path, env=dict(os.environ), capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    # our pre_run_cell hook runs first and joins the thread: later hooks (and the cell) never see it alive
    assert "[False]" in out.stdout and out.stdout.split()[-1] == "False", out.stdout
