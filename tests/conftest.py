"""Shared fixtures: a fresh workspace per test and a real-kernel notebook runner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nbhelpers import outputs_text  # noqa: F401  (re-exported for tests)

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


@pytest.fixture
def pg_url():
    """A PostgreSQL URL from NBTRACK_TEST_PG_URL (started by .ci/run); skip without one."""
    url = os.environ.get("NBTRACK_TEST_PG_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("NBTRACK_TEST_PG_URL must be set in CI (.ci/run starts PostgreSQL)")
        pytest.skip('PostgreSQL test: set NBTRACK_TEST_PG_URL, e.g. eval "$(bash .ci/start-postgres.sh)" '
                    '(bash .ci/run does it)')
    return url


@pytest.fixture
def pg_workspace(pg_url, tmp_path, monkeypatch):
    """A workspace whose metadata lives in a fresh PostgreSQL database."""
    import uuid

    import sqlalchemy as sa

    name = f"nbtrack_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    url = pg_url.rsplit("/", 1)[0] + "/" + name
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NBTRACK_URI", url)
    monkeypatch.setenv("NBTRACK_OBJECTS", str(tmp_path / "objects"))
    ws_mod.reset_cache()
    ws = ws_mod.get_workspace(create=True)
    ws.meta.migrate()
    yield ws
    ws_mod.reset_cache()
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()
