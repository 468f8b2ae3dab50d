"""Figures and stdout in real kernels: every figure a tracked cell shows is saved once, from the bytes
shown; C-level output (file descriptor 1) is recorded; the cell's output (matplotlib's own errors
included) is exactly what it is untracked, and sys.stdout stays the kernel's own stream."""

from __future__ import annotations

import base64
import re

import pytest

import nbtrack

pytestmark = pytest.mark.slow

# counts renders, so tracked and untracked notebooks can be compared
SETUP = """\
import matplotlib.pyplot as plt
from matplotlib.backend_bases import FigureCanvasBase
from IPython.display import display
renders = []
_pf = FigureCanvasBase.print_figure
def _count(self, *a, **k):
    renders.append(k.get("format"))
    return _pf(self, *a, **k)
FigureCanvasBase.print_figure = _count
"""

CELLS = [
    # 1: plt.show() at the end (the inline backend closes the figure before post_execute)
    "plt.plot([1, 2, 3]); plt.title('shown'); plt.show()",
    # 2: a loop of shown figures
    "for i in range(3):\n    plt.figure(); plt.plot([i, 1, i]); plt.show()",
    # 3: several figures left open at the end; an empty one is not shown
    "f1 = plt.figure(); plt.plot([1, 3]); f2 = plt.figure(); plt.plot([2, 0]); f3 = plt.figure()",
    # 4: display(fig), savefig, then the same figure flushed again at the end of the cell
    "fig, ax = plt.subplots(); ax.plot([3, 1]); display(fig); fig.savefig('x.png')",
    # 5: a figure as the cell's value
    "fig, ax = plt.subplots(); ax.bar([1, 2], [2, 1]); plt.close(fig); fig",
    # 6: a figure that fails to draw: matplotlib's own messages
    "plt.plot([1, 2]); plt.title(r'$\\frac{$')",
    # 7: nothing shown
    "x = 1",
]
SHOWN = [1, 3, 2, 1, 1, 0, 0]  # distinct figures each cell shows

# C-level output: libsvm's verbose log and a raw write to file descriptor 1
SVC = """\
import os, sys
from sklearn.svm import SVC
from sklearn.datasets import load_iris
from ipykernel.iostream import OutStream
X, y = load_iris(return_X_y=True)
print("before")
model = SVC(verbose=True).fit(X, y)
os.write(1, b"raw fd line\\n")
print("after", isinstance(sys.stdout, OutStream))
"""


def _stdout(cell) -> str:
    return "".join(o["text"] for o in cell.outputs if o.get("name") == "stdout")


def _norm(outputs) -> list:
    out = []
    for o in outputs:
        if o["output_type"] == "stream":
            out.append((o["name"], re.sub(r" at 0x[0-9a-f]+", "", o["text"])))
        elif o["output_type"] == "error":
            out.append(("error", o["ename"], o["evalue"]))
        else:
            out.append((o["output_type"], sorted(o["data"]), o["data"].get("image/png")))
    return out


def test_shown_figures_saved_once_and_c_level_output_recorded(run_notebook, monkeypatch):
    # ipykernel does not watch file descriptors when it sees pytest's variable
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    # C output the fd watcher forwards after a cell's reply lands in the next cell: give it one
    after = "import time; time.sleep(0.5)"
    untracked = run_notebook([SETUP, *CELLS, "print(len(renders))", SVC, after], name="plain.ipynb",
                             allow_errors=True)
    tracked = run_notebook(["%load_ext nbtrack\n" + SETUP, *[f"%%track c{i}\n{c}" for i, c in enumerate(CELLS, 1)],
                            "print(len(renders))", "%%track svc\n" + SVC, after], allow_errors=True)
    for plain, cell in zip(untracked.cells[1:-2], tracked.cells[1:-2]):
        assert _norm(cell.outputs) == _norm(plain.outputs), cell.source
    assert "Error in callback" in "".join(o.get("text", "") for o in tracked.cells[6].outputs)
    # drawn exactly as often as untracked: the saved PNG is the one displayed
    assert tracked.cells[-3].outputs[0]["text"] == untracked.cells[-3].outputs[0]["text"]

    runs = {r.name: nbtrack.get_run(r.id) for r in nbtrack.runs().itertuples()}
    for i, (cell, n) in enumerate(zip(tracked.cells[1:-3], SHOWN), 1):
        run = runs[f"c{i}"]
        figs = [a for a in run.artifacts if a["kind"] == "figure"]
        assert len(figs) == n, (cell.source, figs)
        assert "capture_warnings" not in run.tags
        shown = {base64.b64decode(o["data"]["image/png"]) for o in cell.outputs if "image/png" in o.get("data", {})}
        saved = {run.artifact(f["name"]) for f in figs}
        assert saved == shown, cell.source  # the bytes the user saw, not a second rendering
        assert sorted(f["name"] for f in figs) == [f"figure-{k}.png" for k in range(1, n + 1)]

    # the fd watcher forwards C output asynchronously, interleaved with Python's at any character:
    # compare what was written, not the interleaving
    shown = _stdout(tracked.cells[-2]) + _stdout(tracked.cells[-1])
    assert sorted(shown) == sorted(_stdout(untracked.cells[-2]) + _stdout(untracked.cells[-1]))
    assert not _stdout(tracked.cells[-1])  # the tracked cell waited for its own C output
    assert "after True" in shown and "Total nSV" in shown
    for line in ("before", "[LibSVM]", "optimization finished", "Total nSV = ", "raw fd line", "after True"):
        assert line in runs["svc"].stdout, line
    assert sorted(runs["svc"].stdout) == sorted(shown)
    assert not [o for o in tracked.cells[-2].outputs if o.get("name") == "stderr"]


def test_open_figures_without_inline_display_are_rendered(run_notebook):
    run_notebook([
        "%load_ext nbtrack\nimport matplotlib\nmatplotlib.use('agg')\nimport matplotlib.pyplot as plt",
        "%%track agg\nfig, ax = plt.subplots(); ax.plot([1, 2]); empty = plt.figure()",
        "%%track again\nax.set_title('same figure, not new')",
    ])
    runs = {r.name: nbtrack.get_run(r.id) for r in nbtrack.runs().itertuples()}
    assert [a["name"] for a in runs["agg"].artifacts] == ["figure-1.png"]
    assert runs["agg"].artifact("figure-1.png").startswith(b"\x89PNG")
    assert runs["again"].artifacts == []
