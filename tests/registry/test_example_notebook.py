"""notebooks/train_register_promote.ipynb executes cleanly in a real kernel and does what it says."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import nbtrack
from nbtrack import workspace as ws_mod

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "train_register_promote.ipynb"

pytestmark = pytest.mark.slow


def test_train_register_promote_notebook(workspace, tmp_path, monkeypatch):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    monkeypatch.setenv("NBTRACK_NOTEBOOK", str(tmp_path / NOTEBOOK.name))
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors, errors
    ws_mod.reset_cache()
    assert nbtrack.get_model_version("breast-cancer@production").version == 1
    actions = list(nbtrack.events(target="breast-cancer")["action"])
    assert actions == ["model.register", "alias.promote", "model.register", "alias.promote_refused"]
    assert len(nbtrack.model_versions("breast-cancer")) == 2
    approved = nbtrack.approve(NOTEBOOK, name="train-register-promote", reason="example")
    assert [(p["name"], p["type"]) for p in approved.parameters] == [("C", "float"), ("min_auc", "float")]
