"""Pipeline fixtures: approved fixture notebooks in a fresh workspace."""

from __future__ import annotations

import ast
import json
import shutil
import time
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"


def _insert_version(ws, path: Path, name: str) -> int:
    """Stand-in for nbtrack.approve until the registry's approval lands (issue #4)."""
    import nbformat
    from papermill.inspection import _infer_parameters
    from sqlalchemy import insert, select, func

    from nbtrack.store.schema import pipeline_versions, pipelines

    from papermill.iorw import load_notebook_node

    nb = load_notebook_node(str(path))
    schema = []
    for p in _infer_parameters(nb):
        try:
            default = ast.literal_eval(p.default)
        except ValueError:
            default = p.default
        schema.append({"name": p.name, "default": default, "type": None})
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    oid = ws.objects.put(nbformat.writes(nb).encode())
    now = time.time()
    with ws.meta.write() as conn:
        pid = conn.execute(select(pipelines.c.id).where(pipelines.c.name == name)).scalar()
        if pid is None:
            pid = conn.execute(insert(pipelines).values(name=name, created=now)).inserted_primary_key[0]
        version = (conn.execute(select(func.max(pipeline_versions.c.version))
                                .where(pipeline_versions.c.pipeline_id == pid)).scalar() or 0) + 1
        conn.execute(insert(pipeline_versions).values(
            pipeline_id=pid, version=version, notebook_path=str(path), notebook_oid=oid,
            parameters=json.dumps(schema), pins=json.dumps({}), status="approved", created=now))
    return version


@pytest.fixture
def approve(workspace, tmp_path):
    """``approve("train.ipynb", name="churn-train")`` -> version number of the new approval."""

    def _approve(fixture: str, name: str) -> int:
        path = tmp_path / fixture
        if not path.exists():
            shutil.copy(NOTEBOOKS / fixture, path)
        try:
            from nbtrack.registry.approve import approve as registry_approve
        except ImportError:
            return _insert_version(workspace, path, name)
        return registry_approve(str(path), name=name, reason="test").version

    return _approve
