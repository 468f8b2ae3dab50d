"""nbtrack.cells(): the tracked cells of a notebook, for version browsers."""

from __future__ import annotations

import time

import nbtrack
from nbtrack.capture.run import ActiveRun


def _cell_run(notebook: str, label: str, cell_id: str, status: str = "finished") -> str:
    r = ActiveRun(label, "cell", notebook=notebook, cell_id=cell_id, cell_key=f"{notebook}::{label}").start()
    r.end(status)
    time.sleep(0.002)
    return r.id


def test_cells_groups_runs_by_history_key(workspace):
    a1 = _cell_run("/x/nb.ipynb", "train", "c1")
    b1 = _cell_run("/x/nb.ipynb", "plot", "c2")
    a2 = _cell_run("/x/nb.ipynb", "train", "c1-new", status="failed")
    _cell_run("/x/other.ipynb", "train", "c9")
    with nbtrack.track("script"):  # not a cell: never listed
        pass
    df = nbtrack.cells("/x/nb.ipynb")
    assert list(df["label"]) == ["train", "plot"]  # most recently run first
    train = df.iloc[0]
    assert train["versions"] == 2 and train["latest_run"] == a2 and train["latest_status"] == "failed"
    assert train["cell_id"] == "c1-new" and train["latest_version"] == 2
    assert train["cell_key"] == "/x/nb.ipynb::train"
    assert df.iloc[1]["latest_run"] == b1 and df.iloc[1]["versions"] == 1
    assert train["first_started"] < train["latest_started"]
    assert a1 not in set(df["latest_run"])


def test_cells_accepts_several_spellings_and_all_notebooks(workspace):
    _cell_run("/x/nb.ipynb", "train", "c1")
    _cell_run("nb.ipynb", "other", "c2")
    assert len(nbtrack.cells(["/x/nb.ipynb", "nb.ipynb"])) == 2
    assert len(nbtrack.cells()) == 2
    assert nbtrack.cells("/nowhere.ipynb").empty
