"""Pinned inputs: inside a pipeline run, ``nbtrack.load("customers")`` is the approved version."""

from __future__ import annotations

import json

import nbformat
import pandas as pd

import nbtrack
from nbtrack.snapshot.datasets import pinned_version

from .conftest import NOTEBOOKS


def test_pinned_version_reads_nbtrack_pins(monkeypatch):
    monkeypatch.setenv("NBTRACK_PINS", json.dumps({"customers": 2}))
    assert pinned_version("customers") == 2 and pinned_version("other") is None
    monkeypatch.setenv("NBTRACK_PINS", "not json")
    assert pinned_version("customers") is None


def test_pipeline_uses_the_pinned_version_not_the_latest(run_notebook, workspace, tmp_path):
    nbtrack.snapshot(pd.DataFrame({"x": [1.0, 2.0, 3.0]}), "customers")
    cells = nbformat.read(NOTEBOOKS / "pinned.ipynb", as_version=4).cells
    run_notebook(cells, name="pinned.ipynb")  # the data scientist's run: reads customers@1
    pv = nbtrack.approve(str(tmp_path / "pinned.ipynb"), name="scoring", reason="validated on customers@1")
    assert pv.pins == {"customers": 1}
    nbtrack.snapshot(pd.DataFrame({"x": [10.0, 20.0, 30.0, 40.0]}), "customers")  # newer data arrives

    latest = nbtrack.run_pipeline("scoring", params={"dataset": "customers@latest"})
    assert latest.metrics["rows"] == 4  # an explicit version is never overridden

    res = nbtrack.run_pipeline("scoring")
    assert res.pins == {"customers": 1}
    assert res.metrics["rows"] == 3 and res.metrics["total"] == 6.0
    assert json.loads(nbtrack.get_run(res.run_id).tags["nbtrack.pins"]) == {"customers": 1}
