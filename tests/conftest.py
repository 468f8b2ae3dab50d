"""Shared fixtures: a fresh workspace per test and a real-kernel notebook runner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nbtrack import workspace as ws_mod


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A fresh workspace in tmp_path/.nbtrack; the test runs in tmp_path."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NBTRACK_URI", str(tmp_path / ".nbtrack"))
    monkeypatch.delenv("NBTRACK_PARENT_RUN", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    ws_mod.reset_cache()
    ws = ws_mod.init(tmp_path)
    yield ws
    ws_mod.reset_cache()


@pytest.fixture
def run_notebook(workspace, tmp_path, monkeypatch):
    """Execute code cells in a real kernel (nbclient); return the executed notebook.

    ``run_notebook(["%load_ext nbtrack", "%%track\\nx = 1"], name="nb.ipynb")``;
    cells may also be ``nbformat`` cell dicts. The kernel's workspace is the
    test's, and its notebook path is ``tmp_path / name``.
    """
    import nbformat
    from nbclient import NotebookClient

    def run(cells, name: str = "nb.ipynb", allow_errors: bool = False, timeout: int = 120, env: dict | None = None):
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(c) if isinstance(c, str) else c for c in cells]
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        path = Path(tmp_path) / name
        nbformat.write(nb, path)
        monkeypatch.setenv("NBTRACK_NOTEBOOK", str(path))
        for k, v in (env or {}).items():
            monkeypatch.setenv(k, v)
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=allow_errors,
                                resources={"metadata": {"path": str(tmp_path)}})
        client.execute()
        nbformat.write(nb, path)
        ws_mod.reset_cache()
        return nb

    return run


def outputs_text(cell) -> str:
    """All text a cell showed (streams, results, errors), for assertions."""
    parts = []
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream":
            parts.append(out["text"])
        elif out["output_type"] in ("execute_result", "display_data"):
            parts.append(out["data"].get("text/plain", ""))
        elif out["output_type"] == "error":
            parts.append(f"{out['ename']}: {out['evalue']}")
    return "".join(parts)


@pytest.fixture
def pg_url():
    """A PostgreSQL URL from NBTRACK_TEST_PG_URL (started by .ci/run); skip without one."""
    url = os.environ.get("NBTRACK_TEST_PG_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("NBTRACK_TEST_PG_URL must be set in CI (.ci/run starts PostgreSQL)")
        pytest.skip("NBTRACK_TEST_PG_URL not set (bash .ci/run starts a PostgreSQL server)")
    return url
