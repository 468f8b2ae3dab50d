"""PostgreSQL: the run_id foreign keys of the hot child tables as statement-level triggers
(migration 0008) keep referential integrity for every writer: orphans refused, referenced runs
not deletable, concurrent inserts and deletes serialized by the run row's lock, and the
downgrade restores real foreign keys."""

from __future__ import annotations

import importlib

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

import nbtrack
from nbtrack.errors import StoreUnavailable
from nbtrack.store import pg_direct
from nbtrack.store.meta import MIGRATIONS, SCHEMA_HEAD
from nbtrack.store.schema import RUN_ID_CHECKED

pytestmark = pytest.mark.postgres

ROWS = {  # a row of each child table (run_id filled in)
    "params": "INSERT INTO params (run_id, key, value, num, vtype) VALUES (%s, 'k', '1', 1.0, 'int')",
    "metrics": "INSERT INTO metrics (run_id, key, value, step, ts) VALUES (%s, 'k', 1.0, 0, 1.0)",
    "latest_metrics": "INSERT INTO latest_metrics (run_id, key, value, step, ts) VALUES (%s, 'k', 1.0, 0, 1.0)",
    "tags": "INSERT INTO tags (run_id, key, value) VALUES (%s, 'k', 'v')",
    "artifacts": "INSERT INTO artifacts (run_id, name, oid, kind) VALUES (%s, 'k', 'x', 'file')",
}


def _conninfo(ws) -> str:
    url = ws.meta.engine.url
    return f"host={url.host} port={url.port} user={url.username} dbname={url.database}"


def _connect(ws, autocommit: bool = True) -> psycopg.Connection:
    return psycopg.connect(_conninfo(ws), autocommit=autocommit)


@pytest.fixture
def two_runs(pg_workspace):
    with nbtrack.track("a", params={"x": 1}) as a:
        a.log_metric("m", 1.0)
    with nbtrack.track("b") as b:
        pass
    return pg_workspace, a.id, b.id


def test_the_migration_lists_the_tables_of_the_schema():
    mig = importlib.import_module("nbtrack.store.migrations.versions.0008_pg_run_id_checks")
    assert mig.TABLES == RUN_ID_CHECKED
    assert set(ROWS) == set(RUN_ID_CHECKED)


@pytest.mark.parametrize("table", RUN_ID_CHECKED)
def test_an_orphan_row_is_refused(two_runs, table):
    ws, a, _ = two_runs
    with _connect(ws) as conn:
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match=f'"{table}_run_id_fkey"'):
            conn.execute(ROWS[table], ("no-such-run",))
        # several runs in one statement: one missing one is enough
        head, values = ROWS[table].split(" VALUES ")
        sql = head + " VALUES " + values + ", " + values.replace("'k'", "'k2'")
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match="no-such-run"):
            conn.execute(sql, (a, "no-such-run"))
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute(sql, ("no-such-run", a))
        conn.execute(ROWS[table].replace("'k'", "'fine'"), (a,))  # an existing run: accepted
        # moving a row to a run that does not exist
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute(f"UPDATE {table} SET run_id = 'no-such-run' WHERE run_id = %s", (a,))
        n = conn.execute(f"SELECT count(*) FROM {table} WHERE run_id NOT IN (SELECT id FROM runs)").fetchone()
        assert n == (0,)


def test_the_general_path_refuses_an_orphan(two_runs):
    ws, _, _ = two_runs
    from nbtrack.store import runs as store_runs

    with pytest.raises((sa.exc.IntegrityError, psycopg.IntegrityError), match="foreign key"):  # as with the constraint
        with ws.meta.write() as conn:
            store_runs.write_params(conn, "no-such-run", {"x": 1})
    with ws.meta.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM params WHERE run_id = 'no-such-run'").scalar() == 0


def test_pg_direct_refuses_an_orphan(two_runs):
    ws, _, _ = two_runs
    payload = {"op": "flush", "run_id": "no-such-run", "params": {"x": ["1", "int"]}, "tags": {"t": "v"},
               "metrics": [["m", 1.0, 0, 1.0]], "artifacts": [], "inputs": [], "run_values": {}}
    with pytest.raises(StoreUnavailable, match="foreign key"):
        pg_direct.write_flush(ws.meta, payload)
    with ws.meta.read() as conn:
        for t in RUN_ID_CHECKED:
            assert conn.exec_driver_sql(f"SELECT count(*) FROM {t} WHERE run_id = 'no-such-run'").scalar() == 0


def test_a_referenced_run_cannot_be_deleted_or_renamed(two_runs):
    ws, a, b = two_runs
    with _connect(ws) as conn:
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match="still referenced"):
            conn.execute("DELETE FROM runs WHERE id = %s", (a,))
        with pytest.raises(psycopg.errors.ForeignKeyViolation, match="still referenced"):
            conn.execute("DELETE FROM runs WHERE id IN (%s, %s)", (a, b))
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute("UPDATE runs SET id = 'renamed' WHERE id = %s", (a,))
        with pytest.raises(psycopg.errors.FeatureNotSupported):
            conn.execute("TRUNCATE runs")
        for t in RUN_ID_CHECKED:  # each table on its own keeps the run
            conn.execute(ROWS[t], (b,))
            with pytest.raises(psycopg.errors.ForeignKeyViolation, match=f'"{t}_run_id_fkey"'):
                conn.execute("DELETE FROM runs WHERE id = %s", (b,))
            conn.execute(f"DELETE FROM {t} WHERE run_id = %s", (b,))
        conn.execute("DELETE FROM runs WHERE id = %s", (b,))  # no rows left: deletable
        conn.execute("UPDATE runs SET name = 'renamed' WHERE id = %s", (a,))  # other columns: fine
        conn.execute("TRUNCATE runs, params, metrics, latest_metrics, tags, artifacts, lineage")  # all at once
    assert nbtrack.runs().empty


def test_a_run_delete_outside_read_committed_is_refused(two_runs):
    ws, _, b = two_runs
    with _connect(ws, autocommit=False) as conn:
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        with pytest.raises(psycopg.errors.SerializationFailure, match="READ COMMITTED"):
            conn.execute("DELETE FROM runs WHERE id = %s", (b,))
        conn.rollback()
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        conn.execute("DELETE FROM runs WHERE id = 'no-such-run'")  # nothing deleted: nothing refused
        conn.commit()
    assert nbtrack.get_run(b).name == "b"


def test_insert_and_delete_of_the_same_run_are_serialized(two_runs):
    ws, _, b = two_runs
    # an uncommitted insert of a child row locks its run: a delete waits for it, then fails
    with _connect(ws, autocommit=False) as writer, _connect(ws) as deleter:
        writer.execute(ROWS["params"], (b,))
        deleter.execute("SET lock_timeout = '300ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            deleter.execute("DELETE FROM runs WHERE id = %s", (b,))
        writer.commit()
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            deleter.execute("DELETE FROM runs WHERE id = %s", (b,))
    # an uncommitted delete of a run: an insert of its rows waits for it, then fails
    with _connect(ws) as conn:
        conn.execute("DELETE FROM params WHERE run_id = %s", (b,))
    with _connect(ws, autocommit=False) as deleter, _connect(ws) as writer:
        deleter.execute("DELETE FROM runs WHERE id = %s", (b,))
        writer.execute("SET lock_timeout = '300ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            writer.execute(ROWS["metrics"], (b,))
        deleter.commit()
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            writer.execute(ROWS["metrics"], (b,))


def test_downgrade_restores_the_foreign_keys_and_upgrade_replaces_them(two_runs):
    ws, a, _ = two_runs
    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS)
    engine = sa.create_engine(ws.meta.engine.url)

    def fks() -> set[str]:
        insp = sa.inspect(engine)
        return {t for t in RUN_ID_CHECKED if any(fk["referred_table"] == "runs" for fk in insp.get_foreign_keys(t))}

    def migrate(fn, rev: str) -> None:
        with engine.connect() as conn:
            cfg.attributes["connection"] = conn
            with conn.begin():
                fn(cfg, rev)

    assert fks() == set()
    migrate(command.downgrade, "0007")
    assert fks() == set(RUN_ID_CHECKED)
    with _connect(ws) as conn:
        assert conn.execute("SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal").fetchone() == (0,)
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute(ROWS["params"], ("no-such-run",))
    migrate(command.upgrade, SCHEMA_HEAD)
    assert fks() == set()
    with _connect(ws) as conn:
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute(ROWS["params"], ("no-such-run",))
    engine.dispose()
    assert nbtrack.get_run(a).params == {"x": 1}
