"""Shared fixtures: a fresh workspace per test and a real-kernel notebook runner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from nbhelpers import outputs_text  # noqa: F401  (re-exported for tests)

from nbtrack import workspace as ws_mod


@pytest.fixture(autouse=True)
def _no_run_outlives_its_test():
    """Each test starts with no active run: a run one test left open (or an implicit script
    run) would otherwise receive the next tests' params, models and datasets."""
    from nbtrack import context
    from nbtrack.capture import run as run_mod

    yield
    context._stack.set(())
    run_mod._implicit = None


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
def pg_database(pg_url):
    """A fresh PostgreSQL database URL on the test server (dropped afterwards)."""
    import uuid

    import sqlalchemy as sa

    name = f"nbtrack_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    yield pg_url.rsplit("/", 1)[0] + "/" + name
    ws_mod.reset_cache()
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


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


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(url: str, timeout: float = 30.0) -> None:
    import socket
    import time
    from urllib.parse import urlparse

    u = urlparse(url)
    deadline = time.time() + timeout
    while True:
        try:
            socket.create_connection((u.hostname, u.port), timeout=0.5).close()
            return
        except OSError:
            if time.time() > deadline:
                raise RuntimeError(f"S3 server at {url} did not come up in {timeout:.0f} s") from None
            time.sleep(0.1)


@pytest.fixture(scope="session")
def s3_server():
    """The endpoint URL of a real S3-compatible server (moto) for the whole session.

    ``.ci/run`` starts one and exports ``NBTRACK_TEST_S3_ENDPOINT``; without it a
    ``python -m moto.server`` is started here (and stopped at the end). Skips when moto,
    s3fs or boto3 are not installed (outside CI).
    """
    url = os.environ.get("NBTRACK_TEST_S3_ENDPOINT")
    if url:
        _wait_port(url)
        yield url
        return
    for mod in ("s3fs", "boto3", "moto.server"):
        try:
            __import__(mod)
        except ImportError:
            if os.environ.get("CI"):
                raise
            pytest.skip(f"S3 test: {mod} is not installed (pip install -e '.[test]')")
    import subprocess
    import sys

    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_port(url)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
          "AWS_EC2_METADATA_DISABLED": "true"}


@pytest.fixture
def s3_bucket(s3_server, monkeypatch):
    """A fresh, empty bucket on the session's S3 server; the AWS_* variables point at it.

    Returns the ``s3://bucket`` URL; the bucket and its objects are deleted afterwards.
    Child processes (kernels, workers) inherit the variables.
    """
    import uuid

    import boto3

    for k, v in {**S3_ENV, "AWS_ENDPOINT_URL": s3_server}.items():
        monkeypatch.setenv(k, v)
    name = f"nbtrack-{uuid.uuid4().hex[:12]}"
    client = boto3.client("s3", endpoint_url=s3_server)
    client.create_bucket(Bucket=name)
    import s3fs

    # s3fs caches filesystems by constructor arguments, not by environment: a cached one
    # would keep talking to another test's endpoint
    s3fs.S3FileSystem.clear_instance_cache()
    yield f"s3://{name}"
    s3fs.S3FileSystem.clear_instance_cache()
    try:
        bucket = boto3.resource("s3", endpoint_url=s3_server).Bucket(name)
        bucket.objects.all().delete()
        bucket.delete()
    except Exception:
        pass


@pytest.fixture
def s3_workspace_factory(s3_bucket, tmp_path, monkeypatch):
    """``make(meta=None)`` → a workspace whose objects live in the test's S3 bucket.

    ``meta`` is a metadata URL (e.g. a PostgreSQL database) or None for the workspace's
    own SQLite file.
    """

    def make(meta: str | None = None, prefix: str = "ws"):
        folder = tmp_path / ".nbtrack"
        folder.mkdir(exist_ok=True)
        monkeypatch.chdir(tmp_path)
        monkeypatch.delenv("NBTRACK_PARENT_RUN", raising=False)
        if meta:
            monkeypatch.setenv("NBTRACK_OBJECTS", f"{s3_bucket}/{prefix}")
        else:
            (folder / "config.toml").write_text(f'[store]\nobjects = "{s3_bucket}/{prefix}"\n')
        monkeypatch.setenv("NBTRACK_URI", meta or str(folder))
        ws_mod.reset_cache()
        ws = ws_mod.get_workspace(create=True)
        ws.meta.migrate()
        return ws

    yield make
    ws_mod.reset_cache()
