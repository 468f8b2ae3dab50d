"""Runs on SQLite are written with stdlib sqlite3 (store/sqlite_direct.py): same schema, same rows,
same connection settings as the SQLAlchemy path, and no SQLAlchemy import (issue 18, target 5)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from nbtrack.capture import journal
from nbtrack.errors import StoreUnavailable
from nbtrack.store import runs as store_runs, schema, sqlite_direct
from nbtrack.store.meta import MetaStore

from .teamdata import table_rows


def test_statement_tables_match_the_schema():
    for name, cols in sqlite_direct.TABLES.items():
        assert cols == tuple(c.name for c in schema.metadata.tables[name].columns), name
    for name, keys in sqlite_direct.KEYS.items():
        table = schema.metadata.tables[name]
        pk = tuple(c.name for c in table.primary_key.columns)
        unique = [tuple(c.name for c in u.columns) for u in table.constraints if hasattr(u, "columns")]
        unique += [(c.name,) for c in table.columns if c.unique]
        assert keys == pk or keys in unique, name
    # every column the upserts of store/runs.py write is one of ours
    for table in (schema.params, schema.tags, schema.latest_metrics, schema.artifacts, schema.metrics):
        assert set(table.c.keys()) == set(sqlite_direct.TABLES[table.name])
    assert sqlite_direct.PENDING_SNAPSHOTS_TAG == store_runs.PENDING_SNAPSHOTS_TAG


@pytest.mark.parametrize("durability", ["normal", "full"])
def test_connection_settings_match_the_engine(tmp_path, durability):
    meta = MetaStore(f"sqlite:///{tmp_path / 'meta.db'}", durability=durability)
    meta.migrate()
    pragmas = ("journal_mode", "synchronous", "wal_autocheckpoint", "busy_timeout")
    direct = sqlite_direct.held(meta)
    with meta.engine.connect() as conn:
        raw = conn.connection.driver_connection
        engine_side = [raw.execute(f"PRAGMA {p}").fetchone()[0] for p in pragmas]
    assert [direct.execute(f"PRAGMA {p}").fetchone()[0] for p in pragmas] == engine_side
    assert engine_side[:2] == ["wal", 2 if durability == "full" else 1]
    # a provisional commit is not fsynced itself; the connection is back to FULL afterwards
    with meta.write(provisional=True, direct=True) as conn:
        inside = conn.execute("PRAGMA synchronous").fetchone()[0]
    assert inside == 1
    assert direct.execute("PRAGMA synchronous").fetchone()[0] == engine_side[1]
    meta.dispose()


def _payloads(run_id: str, other: str) -> list[dict]:
    row = {"id": run_id, "name": "r", "kind": "script", "status": "running", "parent_id": None, "started": 1.0,
           "env_oid": "e" * 64, "git_commit": None, "git_dirty": True, "user": "u", "host": "h", "pid": 1,
           "cell_key": "nb::cell", "source": "not a column: left out"}
    params = {"C": 0.5, "n": 3, "flag": False, "obj": {"a": [1, 2]}, "none": None, "big": 2**1279, "s": "x"}
    return [
        journal.start_payload(row, "exp"),
        journal.start_payload({**row, "id": other, "name": "second", "status": "snapshotting", "pid": 2}, "exp"),
        journal.flush_payload(run_id, params, {"t": "1"},
                              [("acc", 0.5, 0, 10.0), ("acc", 0.7, 1, 11.0), ("acc", 0.9, 1, 10.5),
                               ("loss", None, 0, 12.0)],
                              [{"name": "a.txt", "oid": "o" * 64, "kind": "text", "media_type": "text/plain",
                                "size": 3}], [7, 7, 8], None),
        journal.flush_payload(run_id, {"C": 0.25}, {"t": "2"}, [("acc", 0.1, 0, 20.0)],
                              [{"name": "a.txt", "oid": "p" * 64, "kind": "text", "media_type": None, "size": 4}],
                              [7], {"status": "finished", "ended": 30.0, "duration": 29.0}),
        journal.flush_payload(other, {}, {store_runs.PENDING_SNAPSHOTS_TAG: "df"}, [], [], [], None),
    ]


def _write_all(meta: MetaStore, direct: bool) -> list:
    memo: dict = {}
    for p in _payloads("run1", "run2"):
        with meta.write(direct=direct) as conn:
            journal.apply(conn, p, memo)
    with meta.write(direct=direct) as conn:
        journal.apply(conn, _payloads("run1", "run2")[0])  # a replay of a start already written: skipped
        with pytest.raises(ZeroDivisionError), conn.begin_nested():
            journal.apply(conn, journal.start_payload({**_payloads("run3", "x")[0]["row"]}, "exp"), memo)
            raise ZeroDivisionError  # the savepoint is rolled back, the transaction goes on
        journal.apply(conn, journal.start_payload({**_payloads("run4", "x")[0]["row"], "cell_key": "nb::cell"}, "e2"))
        dead = journal.ops(conn).mark_interrupted(conn, "h", lambda pid: False)
    return sorted(dead)


def test_both_write_paths_leave_the_same_rows(tmp_path):
    dumps, dead = [], []
    for direct in (True, False):
        meta = MetaStore(f"sqlite:///{tmp_path / f'{direct}.db'}")
        meta.migrate()
        dead.append(_write_all(meta, direct))
        with meta.engine.connect() as conn:
            dumps.append(table_rows(conn))
        meta.dispose()
    assert dead[0] == dead[1] == ["run2", "run4"]
    assert dumps[0] == dumps[1]
    rows = dumps[0]
    assert {r["id"]: r["status"] for r in rows["runs"]} == {"run1": "finished", "run2": "capture_failed",
                                                            "run4": "interrupted"}
    assert [r["cell_version"] for r in rows["runs"]] == [1, 2, 3]
    assert {r["key"]: r["value"] for r in rows["latest_metrics"]} == {"acc": 0.7, "loss": None}
    assert {r["key"]: (r["value"], r["vtype"]) for r in rows["params"]}["big"] == (str(2**1279), "int")
    assert [r["dataset_version_id"] for r in rows["lineage"]] == [7, 8]
    assert rows["artifacts"][0]["oid"] == "p" * 64
    assert "df" in next(r["error_message"] for r in rows["runs"] if r["id"] == "run2")


def test_busy_timeout_and_errors_on_the_direct_path(tmp_path):
    meta = MetaStore(f"sqlite:///{tmp_path / 'meta.db'}")
    meta.migrate()
    other = sqlite3.connect(tmp_path / "meta.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    t = time.monotonic()
    with meta.busy_timeout(0.3), pytest.raises(StoreUnavailable, match="locked"):
        with meta.write(direct=True) as conn:
            conn.execute("SELECT 1")
    assert time.monotonic() - t < 5
    other.execute("ROLLBACK")
    with meta.write(direct=True) as conn:  # the default timeout is back
        sqlite_direct.write_tags(conn, "r", {"a": "1"})
    assert sqlite_direct.held(meta).execute("PRAGMA busy_timeout").fetchone()[0] == 60000
    with pytest.raises(ValueError, match="no column"):
        with meta.write(direct=True) as conn:
            sqlite_direct.update_run(conn, "r", nope=1)
    # a failed transaction was rolled back: the connection is usable and holds no lock
    assert not sqlite_direct.held(meta).in_transaction
    meta.dispose()


def test_direct_only_for_plain_sqlite_files(tmp_path):
    assert MetaStore(f"sqlite:///{tmp_path / 'a.db'}").direct
    assert not MetaStore("sqlite:///:memory:").direct
    assert not MetaStore(f"sqlite:///{tmp_path / 'a.db'}?timeout=3").direct
    memory = MetaStore("sqlite:///:memory:")
    memory.migrate()
    with memory.write(direct=True) as conn:  # a SQLAlchemy connection: the SQLAlchemy statements
        assert journal.ops(conn) is store_runs
        store_runs.write_tags(conn, "r", {"a": "1"})


FIRST_RUN = """
import sys, nbtrack
with nbtrack.track("first", params={"C": 1, "obj": [1, 2]}, tags={"team": "a"}) as run:
    nbtrack.log_metric("acc", 0.5)
    nbtrack.log_metrics({"acc": 0.75, "loss": 0.1})
    nbtrack.log_artifact(b"abc", name="a.bin")
assert run.status == "finished"
out = {"imported": sorted(m for m in ("sqlalchemy", "alembic", "pandas") if m in sys.modules)}
# everything else works afterwards in the same process (and imports SQLAlchemy then)
got = nbtrack.get_run(run.id)
out["run"] = [got.status, got.params, got.metrics, got.tags, [a["name"] for a in got.artifacts]]
out["filtered"] = len(nbtrack.runs(filter="metrics.acc > 0.7"))
out["models"] = len(nbtrack.models())
with nbtrack.track("second"):
    nbtrack.log_metric("acc", 0.9)
out["count"] = nbtrack.count_runs()
out["fsck"] = nbtrack.fsck().ok
out["sqlalchemy_after"] = "sqlalchemy" in sys.modules
print("OUT" + __import__("json").dumps(out))
"""


def test_first_run_of_a_process_does_not_import_sqlalchemy(tmp_path):
    env = {**os.environ, "NBTRACK_URI": str(tmp_path / ".nbtrack")}
    env.pop("NBTRACK_PARENT_RUN", None)
    subprocess.run([sys.executable, "-c", f"import nbtrack; nbtrack.init({str(tmp_path)!r})"], env=env,
                   check=True, cwd=tmp_path)  # a fresh workspace, made by another process
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(FIRST_RUN)], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout.split("OUT", 1)[1])
    assert res["imported"] == []
    assert res["run"] == ["finished", {"C": 1, "obj": [1, 2]}, {"acc": 0.75, "loss": 0.1}, {"team": "a"}, ["a.bin"]]
    assert res["filtered"] == 1 and res["models"] == 0 and res["count"] == 2
    assert res["fsck"] is True and res["sqlalchemy_after"] is True


# -- the schema a new workspace is given without alembic (store/sqlite_schema.py) --------------
def _migrated_by_alembic(path) -> sqlite3.Connection:
    meta = MetaStore(f"sqlite:///{path}")
    meta._run_alembic()  # what the migrations make of an empty database
    meta.dispose()
    return sqlite3.connect(path)


def _master(raw: sqlite3.Connection) -> list[tuple]:
    return raw.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid").fetchall()


def schema_module(raw: sqlite3.Connection) -> str:
    """The text of src/nbtrack/store/sqlite_schema.py for the database ``raw`` (migrated to head)."""
    rev = raw.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    lines = [
        '"""The current metadata schema for SQLite, as alembic\'s migrations leave it (GENERATED: do not edit).',
        "",
        "A new embedded workspace is given this schema directly (store/sqlite_direct.py",
        "``create_schema``), without importing alembic and SQLAlchemy. Regenerate it after adding",
        "a migration: ``python -m tests.store.test_sqlite_direct`` in the repository (the tests compare",
        "it with what the migrations create, statement by statement).",
        '"""',
        "",
        f"REVISION = {json.dumps(rev)}",
        "",
        "STATEMENTS = (",
    ]
    for (sql,) in raw.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid"):
        parts = sql.splitlines(keepends=True)
        if len(parts) == 1:
            lines.append(f"    {json.dumps(sql)},")
            continue
        lines.append("    (")
        lines += [f"        {json.dumps(p)}" for p in parts]
        lines.append("    ),")
    lines.append(")")
    return "\n".join(lines) + "\n"


SCHEMA_MODULE = os.path.join(os.path.dirname(sqlite_direct.__file__), "sqlite_schema.py")


def test_generated_schema_is_what_the_migrations_create(tmp_path):
    from nbtrack.store import sqlite_schema
    from nbtrack.store.meta import SCHEMA_HEAD

    by_alembic = _migrated_by_alembic(tmp_path / "alembic.db")
    with open(SCHEMA_MODULE) as f:
        assert f.read() == schema_module(by_alembic), "regenerate: python -m tests.store.test_sqlite_direct"
    assert sqlite_schema.REVISION == SCHEMA_HEAD
    direct = sqlite3.connect(tmp_path / "direct.db", isolation_level=None)
    assert sqlite_direct.create_schema(direct) is True
    assert _master(direct) == _master(by_alembic)
    assert direct.execute("SELECT * FROM alembic_version").fetchall() == [(SCHEMA_HEAD,)]
    assert sqlite_direct.create_schema(direct) is False  # not empty: left alone


def test_a_new_workspace_gets_its_schema_without_alembic(tmp_path):
    env = {**os.environ, "NBTRACK_URI": str(tmp_path / ".nbtrack")}
    env.pop("NBTRACK_PARENT_RUN", None)
    code = ("import sys, nbtrack\n"
            "with nbtrack.track('first') as run:\n"
            "    nbtrack.log_metric('acc', 0.5)\n"
            "assert 'sqlalchemy' not in sys.modules and 'alembic' not in sys.modules, sys.modules.keys()\n"
            "assert nbtrack.get_run(run.id).metrics == {'acc': 0.5}\n"
            "from nbtrack.store.meta import SCHEMA_HEAD\n"
            "assert nbtrack.get_workspace().meta.current_revision() == SCHEMA_HEAD\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    # the rest of the schema is usable: the registry, datasets (tables the first run did not touch)
    env2 = {**env, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", "import nbtrack; print(len(nbtrack.models()), nbtrack.fsck().ok)"],
                         env=env2, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0", "True"]


if __name__ == "__main__":  # regenerate src/nbtrack/store/sqlite_schema.py from the migrations
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        text = schema_module(_migrated_by_alembic(os.path.join(d, "meta.db")))
    with open(SCHEMA_MODULE, "w") as f:
        f.write(text)
    print("wrote", SCHEMA_MODULE)
