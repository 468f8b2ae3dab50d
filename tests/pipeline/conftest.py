"""Pipeline fixtures: fixture notebooks approved (with the registry's approve) in a fresh workspace."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from daskcluster import cluster, team_ws  # noqa: F401  (a real Dask cluster over PostgreSQL + S3)

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"


@pytest.fixture
def approve(workspace, tmp_path):
    """``approve("train.ipynb", name="churn-train")`` -> version number of the new approval."""
    import nbtrack

    def _approve(fixture: str, name: str) -> int:
        path = tmp_path / fixture
        if not path.exists():
            shutil.copy(NOTEBOOKS / fixture, path)
        return nbtrack.approve(str(path), name=name, reason="test").version

    return _approve
