"""Approving notebooks: frozen content, typed parameters, pinned data, environment, revoke."""

from __future__ import annotations

import json

import nbformat
import pytest
from registry.regfixtures import dataset_version
from sqlalchemy import insert, select

import nbtrack
from nbtrack.errors import ApprovalRequired, InvalidInput, NotFound
from nbtrack.registry.notebook import parse_parameters
from nbtrack.store.schema import lineage, runs

PARAMS = '''\
# defaults for the pipeline
lr: float = 0.1  # learning rate
epochs = 10
tags = ["a", "b"]
name: str = "churn"
threshold = None
%matplotlib inline
'''


def _notebook(path, params: str | None = PARAMS) -> str:
    nb = nbformat.v4.new_notebook()
    cells = [nbformat.v4.new_code_cell("import nbtrack")]
    if params is not None:
        cells.append(nbformat.v4.new_code_cell(params, metadata={"tags": ["parameters"]}))
    train = nbformat.v4.new_code_cell("%%track\nprint(lr)")
    train.outputs = [nbformat.v4.new_output("stream", name="stdout", text="0.1\n")]
    train.execution_count = 3
    nb.cells = cells + [train]
    nbformat.write(nb, path)
    return str(path)


def _tracked_run(ws, notebook: str, cell: str, inputs=(), outputs=()):
    with nbtrack.track(kind="cell", notebook=notebook, cell_key=f"{notebook}::{cell}") as run:
        pass
    with ws.meta.write() as conn:
        for direction, ids in (("input", inputs), ("output", outputs)):
            for dv in ids:
                conn.execute(insert(lineage).values(run_id=run.id, direction=direction, dataset_version_id=dv))
    return run


def test_parameters_schema():
    schema = parse_parameters(PARAMS)
    assert schema == [
        {"name": "lr", "default": 0.1, "type": "float", "help": "learning rate"},
        {"name": "epochs", "default": 10, "type": "int", "help": ""},
        {"name": "tags", "default": ["a", "b"], "type": "list", "help": ""},
        {"name": "name", "default": "churn", "type": "str", "help": ""},
        {"name": "threshold", "default": None, "type": None, "help": ""},
    ]
    # papermill injects overrides after the cell, so a computed default is a parameter too (issue 11)
    assert parse_parameters("import os\npath = os.getcwd()") == [
        {"name": "path", "computed": "os.getcwd()", "type": None, "help": ""}]
    with pytest.raises(InvalidInput, match=r"does not parse \(line 2: `= 2`\)"):
        parse_parameters("a = 1\n= 2")


def test_approve_freezes_pins_and_versions(workspace, tmp_path):
    path = _notebook(tmp_path / "train.ipynb")
    raw1, raw2 = dataset_version(workspace, "customers", 1), dataset_version(workspace, "customers", 2)
    feats = dataset_version(workspace, "features", 1)
    _tracked_run(workspace, path, "load", inputs=[raw1])
    load = _tracked_run(workspace, path, "load", inputs=[raw2], outputs=[feats])  # the latest run of the cell
    _tracked_run(workspace, path, "fit", inputs=[feats])
    _tracked_run(workspace, str(tmp_path / "other.ipynb"), "x", inputs=[raw1])

    p = nbtrack.approve(path, name="churn-train", reason="reviewed by bob")
    assert (p.ref, p.status, p.notebook_path) == ("churn-train@1", "approved", path)
    assert [x["name"] for x in p.parameters] == ["lr", "epochs", "tags", "name", "threshold"]
    assert p.pins == {"customers": 2}  # features is produced by the notebook itself: not pinned
    with workspace.meta.read() as conn:
        assert p.env_oid == conn.execute(select(runs.c.env_oid).where(runs.c.id == load.id)).scalar()
    assert json.loads(workspace.objects.get(p.env_oid))  # the environment is stored
    frozen = p.notebook()
    assert all(c.get("outputs", []) == [] for c in frozen.cells)
    assert all(c.get("execution_count") is None for c in frozen.cells if c.cell_type == "code")
    assert frozen.cells[1].metadata["tags"] == ["parameters"]

    p2 = nbtrack.approve(path, name="churn-train")
    assert p2.version == 2 and p2.notebook_oid == p.notebook_oid  # same content, same object
    table = nbtrack.pipelines()
    assert list(table["version"]) == [2, 1] and table["pins"].iloc[0] == "customers@2"
    ev = nbtrack.events(target="churn-train")
    assert list(ev["action"]) == ["pipeline.approve", "pipeline.approve"]
    assert ev["reason"].iloc[0] == "reviewed by bob" and ev["detail"].iloc[0]["pins"] == {"customers": 2}


def test_approval_refused_without_parameters_cell(workspace, tmp_path):
    path = _notebook(tmp_path / "bare.ipynb", params=None)
    with pytest.raises(InvalidInput) as info:
        nbtrack.approve(path, name="bare")
    msg = str(info.value)
    assert "no cell tagged `parameters`" in msg and "Cell Toolbar > Tags" in msg and "property inspector" in msg
    assert nbtrack.pipelines().empty and nbtrack.events().empty
    with pytest.raises(NotFound):
        nbtrack.approve(tmp_path / "missing.ipynb", name="x")


def test_revoked_version_cannot_run(workspace, tmp_path, monkeypatch):
    monkeypatch.setenv("NBTRACK_USER", "carol")
    path = _notebook(tmp_path / "train.ipynb")
    nbtrack.approve(path, name="train")
    nbtrack.approve(path, name="train")
    assert nbtrack.get_pipeline("train").version == 2
    with pytest.raises(InvalidInput, match="reason"):
        nbtrack.revoke("train", 2, "")
    revoked = nbtrack.revoke("train", 2, "leaks the label")
    assert revoked.status == "revoked"
    assert nbtrack.get_pipeline("train").version == 1  # the newest approved one
    with pytest.raises(ApprovalRequired, match=r"train@2 was revoked by carol .*leaks the label"):
        nbtrack.get_pipeline("train", version=2)
    with pytest.raises(ApprovalRequired):
        nbtrack.get_pipeline("train@2")
    nbtrack.revoke("train", 1, "superseded")
    with pytest.raises(ApprovalRequired, match="approve the notebook"):
        nbtrack.get_pipeline("train")
    with pytest.raises(NotFound):
        nbtrack.get_pipeline("nope")
    assert list(nbtrack.events(action="pipeline.revoke")["actor"]) == ["carol", "carol"]
