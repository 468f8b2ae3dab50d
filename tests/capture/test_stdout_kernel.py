"""stdout of tracked cells in real kernels: C-level output (file descriptor 1) is recorded, and the
cell shows exactly what it shows untracked; sys.stdout stays the kernel's own stream."""

from __future__ import annotations

import pytest

import nbtrack

pytestmark = pytest.mark.slow

BODY = """\
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


def test_c_level_output_recorded_and_shown_as_untracked(run_notebook, monkeypatch):
    # ipykernel does not watch file descriptors when it sees pytest's variable
    monkeypatch.delenv("PYTEST_CURRENT_TEST", raising=False)
    plain = run_notebook([BODY], name="plain.ipynb")
    tracked = run_notebook(["%load_ext nbtrack", "%%track svc\n" + BODY])
    shown = _stdout(tracked.cells[1])
    # the fd watcher forwards C output asynchronously, interleaved with Python's at any character:
    # compare what was written, not the interleaving
    assert sorted(shown) == sorted(_stdout(plain.cells[0]))
    assert "after True" in shown and "Total nSV" in shown
    run = nbtrack.get_run(nbtrack.runs().id[0])
    for line in ("before", "[LibSVM]", "optimization finished", "Total nSV = ", "raw fd line", "after True"):
        assert line in run.stdout, line
    assert sorted(run.stdout) == sorted(shown)
    assert not [o for o in tracked.cells[1].outputs if o.get("name") == "stderr"]
