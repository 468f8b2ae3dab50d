"""After %load_ext and its background warm-up, the first %%track cell and the first browser
import nothing of nbtrack or SQLAlchemy any more (they paid ~0.1 s of imports on the cell's path)."""

from __future__ import annotations

import os
import subprocess
import sys

CODE = r'''
import sys
import pandas, ipywidgets
from IPython.core.interactiveshell import InteractiveShell
sh = InteractiveShell.instance()
sh.run_line_magic("load_ext", "nbtrack")
from nbtrack.ipython import warm
warm.start().join(60)  # the user types the next cell meanwhile

def new_modules(code):
    before = set(sys.modules)
    sh.run_cell(code)
    return sorted(m for m in set(sys.modules) - before if m.startswith(("nbtrack", "sqlalchemy", "pyarrow")))

print("CELL", new_modules("%%track first\ny = sum(range(10))"))
print("BROWSER", new_modules("_w = get_ipython().run_line_magic('track_browser', '*')"))
import nbtrack
print("RUNS", len(nbtrack.runs()))
'''


def test_first_tracked_cell_and_browser_find_their_modules_warm(workspace, tmp_path):
    import nbtrack

    for i in range(3):
        with nbtrack.track(f"r{i}", params={"C": i}):
            nbtrack.log_metric("acc", i / 3)
    out = subprocess.run([sys.executable, "-c", CODE], cwd=tmp_path, env=dict(os.environ), capture_output=True,
                         text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines() if line.split(" ", 1)[0] in
                 ("CELL", "BROWSER", "RUNS"))
    assert lines["RUNS"] == "4", out.stdout  # the tracked cell was recorded
    assert lines["CELL"] == "[]", out.stdout
    assert lines["BROWSER"] == "[]", out.stdout
