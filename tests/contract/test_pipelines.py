"""Contract: approve a notebook and run it as a pipeline (a real kernel) on both backends."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

import nbtrack

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"


@pytest.mark.slow
def test_approve_and_run_a_notebook(backend, tmp_path):
    shutil.copy(NOTEBOOKS / "train.ipynb", tmp_path / "train.ipynb")
    v = nbtrack.approve(str(tmp_path / "train.ipynb"), name="churn-train", reason="contract")
    assert v.version == 1
    nbtrack.run_pipeline("churn-train", params={"C": 2})
    runs = nbtrack.runs()
    pipe = runs[runs.kind == "pipeline"].iloc[0]
    assert pipe.status == "finished" and pipe["params.C"] == 2.0 and pipe["metrics.auc"] > 0.5
    assert (runs.kind == "cell").any() and set(runs[runs.kind == "cell"].parent) == {pipe.id}
    nb = nbformat.reads(nbtrack.get_run(pipe.id).artifact("executed.ipynb").decode(), as_version=4)
    assert any("injected-parameters" in c.metadata.get("tags", []) for c in nb.cells)
    local_objects = tmp_path / ".nbtrack" / "objects"
    if not backend.objects.local:  # everything went to S3
        assert not local_objects.exists() or not any(local_objects.iterdir())
