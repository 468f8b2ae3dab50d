"""A damaged, truncated, empty, newer-schema or read-only meta.db gives one clear line (issue 12)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import pytest

from nbtrack.errors import StoreUnavailable
from nbtrack.store.meta import SCHEMA_HEAD, MetaStore, known_revisions
from nbtrack.store.runs import insert_run  # noqa: F401  (the schema's users import fine)


def _db(tmp_path, rows: int = 50) -> str:
    path = str(tmp_path / "meta.db")
    meta = MetaStore(f"sqlite:///{path}")
    meta.migrate()
    with meta.write() as conn:
        for i in range(rows):
            conn.exec_driver_sql(f"INSERT INTO tags (run_id, key, value) VALUES ('r{i}', 'k', '{'v' * 400}')")
    meta.dispose()
    _checkpoint(path)
    return path


def _checkpoint(path: str) -> None:
    # in another process: a second connection in this one would drop our locks (INTERFACES.md)
    subprocess.run([sys.executable, "-c", f"import sqlite3; c = sqlite3.connect({path!r}); "
                    "c.execute('PRAGMA wal_checkpoint(TRUNCATE)'); c.close()"], check=True)


def _one_line(e: pytest.ExceptionInfo) -> str:
    msg = str(e.value)
    assert "\n" not in msg
    return msg


def test_truncated_database(tmp_path):
    path = _db(tmp_path)
    os.truncate(path, os.path.getsize(path) // 2)
    meta = MetaStore(f"sqlite:///{path}")
    with pytest.raises(StoreUnavailable) as e:
        with meta.read() as conn:
            conn.exec_driver_sql("SELECT count(*) FROM tags").scalar()
    msg = _one_line(e)
    assert "is damaged" in msg and "backup" in msg and ".recover" in msg


def test_garbage_database(tmp_path):
    path = tmp_path / "meta.db"
    path.write_bytes(os.urandom(8192))
    with pytest.raises(StoreUnavailable, match="is damaged .*not a database"):
        MetaStore(f"sqlite:///{path}").migrate()


def test_newer_schema_names_the_version_needed(tmp_path):
    path = _db(tmp_path, rows=0)
    subprocess.run([sys.executable, "-c", f"import sqlite3; c = sqlite3.connect({path!r}); "
                    "c.execute(\"update alembic_version set version_num='0099'\"); c.commit(); c.close()"], check=True)
    with pytest.raises(StoreUnavailable) as e:
        with MetaStore(f"sqlite:///{path}").write():
            pass
    msg = _one_line(e)
    assert f"schema 0099, newer than this nbtrack understands (up to {SCHEMA_HEAD})" in msg
    assert "pip install -U nbtrack" in msg


def test_known_revisions_are_the_shipped_migrations():
    assert SCHEMA_HEAD in known_revisions() and "0001" in known_revisions()


def test_an_empty_file_is_never_silently_recreated_over(tmp_path):
    path = tmp_path / "meta.db"
    path.write_bytes(b"")
    with pytest.raises(StoreUnavailable, match=r"is empty \(0 bytes\).*move it aside"):
        MetaStore(f"sqlite:///{path}", empty_ok=lambda: False).migrate()
    assert path.stat().st_size == 0  # untouched
    MetaStore(f"sqlite:///{path}", empty_ok=lambda: True).migrate()  # nothing to lose: a fresh workspace
    assert path.stat().st_size > 0


def test_a_workspace_with_objects_and_an_empty_database_refuses(workspace):
    import nbtrack
    from nbtrack import workspace as ws_mod

    with nbtrack.track("r") as run:
        run.log_artifact(b"kept", name="k.bin")
    ws_mod.reset_cache()
    db = os.path.join(workspace.root, "meta.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.unlink(db + suffix)
    open(db, "w").close()
    ws_mod.use_workspace(workspace.root)
    with pytest.raises(StoreUnavailable, match="holds objects"):
        nbtrack.runs()
    assert os.path.getsize(db) == 0


def test_a_read_only_database_is_read_and_refuses_writes_in_one_line(tmp_path):
    """As another user (root ignores permission bits): the folder and file are not writable."""
    folder = tempfile.mkdtemp(dir="/tmp", prefix="nbtrack-ro-")
    try:
        os.chmod(folder, 0o755)
        path = _db(type("P", (), {"__truediv__": lambda self, n: os.path.join(folder, n)})())
        os.chmod(path, 0o644)
        code = f"""
import sys
from nbtrack.store.meta import MetaStore
from nbtrack.errors import StoreUnavailable
m = MetaStore("sqlite:///{path}")
assert m.read_only == "immutable", m.read_only
with m.read() as conn:
    print(conn.exec_driver_sql("SELECT count(*) FROM tags").scalar())
try:
    with m.write() as conn:
        pass
except StoreUnavailable as e:
    print(e)
"""
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
        out = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
                              code], capture_output=True, text=True, env=env, cwd="/tmp")
        assert out.returncode == 0, out.stderr
        count, msg = out.stdout.strip().splitlines()
        assert count == "50" and "read-only" in msg and "nothing was recorded" in msg
    finally:
        subprocess.run(["rm", "-rf", folder])
