"""Every notebook in notebooks/ executes cleanly in a real kernel, and `nbtrack demo` works."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import nbtrack

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_example_notebook_executes(path, workspace, tmp_path, monkeypatch):
    nb = nbformat.read(path, as_version=4)
    monkeypatch.setenv("NBTRACK_NOTEBOOK", str(tmp_path / path.name))
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    warnings = [o["text"] for c in nb.cells for o in c.get("outputs", [])
                if o.get("name") == "stderr" and "nbtrack:" in o.get("text", "")]
    assert not warnings, warnings
    assert len(nbtrack.runs()) > 0


@pytest.mark.slow
def test_quickstart_records_what_it_promises(workspace, tmp_path, monkeypatch):
    path = next(p for p in NOTEBOOKS if p.name == "quickstart.ipynb")
    nb = nbformat.read(path, as_version=4)
    monkeypatch.setenv("NBTRACK_NOTEBOOK", str(tmp_path / path.name))
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    df = nbtrack.runs(kind="cell")
    by_name = {r["name"]: r for _, r in df.iterrows()}
    assert {"load-data", "logistic-regression", "random-forest"} <= set(by_name)
    rf = nbtrack.get_run(by_name["random-forest"]["id"])
    assert rf.params["n_estimators"] == 50 and 0.8 < rf.metrics["roc_auc"] <= 1
    assert any(a["kind"] == "figure" for a in rf.artifacts)
    assert rf.tags["family"] == "trees"
    assert len(nbtrack.runs(filter="name == 'C-sweep'")) == 4


@pytest.mark.slow
def test_demo_command(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("NBTRACK_URI", "NBTRACK_NOTEBOOK")}
    keep = tmp_path / "demo"
    out = subprocess.run([sys.executable, "-m", "nbtrack", "demo", "--keep", str(keep)], capture_output=True,
                         text=True, env=env, cwd=tmp_path, timeout=900)
    assert out.returncode == 0, out.stderr
    assert "random-forest" in out.stdout and "logistic-regression" in out.stdout
    listed = subprocess.run([sys.executable, "-m", "nbtrack", "runs", "--format", "json"], capture_output=True,
                            text=True, env=env, cwd=keep, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert len(json.loads(listed.stdout)) >= 7
