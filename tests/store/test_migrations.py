"""The alembic migrations create exactly the tables in schema.py."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from nbtrack.store.meta import MIGRATIONS, SCHEMA_HEAD, MetaStore
from nbtrack.store.schema import metadata


def test_schema_head_is_alembic_head():
    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS)
    assert ScriptDirectory.from_config(cfg).get_current_head() == SCHEMA_HEAD


def test_migrated_database_matches_metadata(tmp_path):
    meta = MetaStore(f"sqlite:///{tmp_path / 'meta.db'}")
    meta.migrate()
    with meta.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []
    assert meta.current_revision() == SCHEMA_HEAD


def test_migrate_is_idempotent_and_upgrades_old_databases(tmp_path):
    from alembic import command

    url = f"sqlite:///{tmp_path / 'meta.db'}"
    meta = MetaStore(url)
    cfg = Config()
    cfg.set_main_option("script_location", MIGRATIONS)
    with meta.engine.connect() as conn:
        cfg.attributes["connection"] = conn
        with conn.begin():
            command.upgrade(cfg, "0001")
    assert meta.current_revision() == "0001"
    assert "datasets" not in inspect(meta.engine).get_table_names()
    MetaStore(url).migrate()
    assert meta.current_revision() == SCHEMA_HEAD
    assert "datasets" in inspect(meta.engine).get_table_names()
    MetaStore(url).migrate()  # no-op at head


def test_sqlite_runs_in_wal_mode(tmp_path):
    meta = MetaStore(f"sqlite:///{tmp_path / 'meta.db'}")
    with meta.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10000
