"""The metadata database: one SQLAlchemy engine, SQLite by default, PostgreSQL for teams.

SQLite is opened in WAL mode with a busy timeout, and write transactions start
with ``BEGIN IMMEDIATE`` so concurrent writers queue on the lock instead of
failing with "database is locked" when a read transaction tries to upgrade.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import OperationalError

from ..errors import StoreUnavailable

# The newest migration. tests/store/test_migrations.py checks it is alembic's head.
SCHEMA_HEAD = "0003"
BUSY_TIMEOUT_S = 60.0
MIGRATIONS = os.path.join(os.path.dirname(__file__), "migrations")


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # pragma: no cover - exercised by every test
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own is deferred only).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        # Checkpoints (which fsync) every ~40 MB of WAL instead of every 4 MB:
        # a run touches a dozen pages, so the default made every ~40th run slow.
        cur.execute("PRAGMA wal_autocheckpoint=10000")
        cur.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get("nbtrack_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")

    return engine


class MetaStore:
    """Engine + transactions + schema migration for one metadata database."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.dialect = url.split(":", 1)[0].split("+", 1)[0]
        try:
            if self.dialect == "sqlite":
                self.engine = _sqlite_engine(url)
            else:
                self.engine = create_engine(url, pool_pre_ping=True)
        except Exception as e:  # bad URL, missing driver
            raise StoreUnavailable(f"cannot open metadata database {url}: {e}") from e
        self._migrated = False
        self._local = threading.local()

    # -- transactions ----------------------------------------------------------
    @contextlib.contextmanager
    def _connection(self) -> Iterator[Connection]:
        """A connection for one transaction.

        SQLite keeps one connection per thread (and per process, for fork safety):
        checking one out of the pool for every transaction costs more than the
        transaction itself. A nested use in the same thread gets a pooled one.
        """
        if self.dialect != "sqlite":
            with self.engine.connect() as conn:
                yield conn
            return
        held = getattr(self._local, "conn", None)
        if held is None or held[0] != os.getpid() or held[1].closed or held[1].invalidated:
            held = self._local.conn = (os.getpid(), self.engine.connect())
        conn = held[1]
        if conn.in_transaction():
            with self.engine.connect() as other:
                yield other
            return
        yield conn

    @contextlib.contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction. SQLite writers queue on the lock (busy timeout)."""
        self.migrate()
        try:
            with self._connection() as conn:
                conn.execution_options(nbtrack_write=True)
                try:
                    with conn.begin():
                        yield conn
                finally:
                    conn.execution_options(nbtrack_write=False)
        except OperationalError as e:
            raise _unavailable(self.url, e) from e

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        self.migrate()
        try:
            with self._connection() as conn:
                with conn.begin():
                    yield conn
        except OperationalError as e:
            raise _unavailable(self.url, e) from e

    # -- schema ------------------------------------------------------------------
    def current_revision(self) -> str | None:
        with self.engine.connect() as conn:
            try:
                return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            except Exception:
                return None

    def migrate(self) -> None:
        """Create or upgrade the schema with alembic (a no-op once at head)."""
        if self._migrated:
            return
        try:
            if self.current_revision() != SCHEMA_HEAD:
                self._run_alembic()
        except OperationalError as e:
            raise _unavailable(self.url, e) from e
        self._migrated = True

    def _run_alembic(self) -> None:
        from alembic import command
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", MIGRATIONS)
        with self.engine.connect() as conn:
            conn.execution_options(nbtrack_write=True)
            cfg.attributes["connection"] = conn
            # Another process may be migrating at the same time: re-check under the lock.
            with conn.begin():
                if self.dialect == "postgresql":
                    conn.exec_driver_sql("SELECT pg_advisory_xact_lock(727472)")
                if _revision(conn) != SCHEMA_HEAD:
                    command.upgrade(cfg, "head")

    def dispose(self) -> None:
        held = getattr(self._local, "conn", None)
        if held is not None and held[0] == os.getpid():
            held[1].close()
        self._local = threading.local()
        self.engine.dispose()


def _revision(conn: Connection) -> str | None:
    try:
        with conn.begin_nested():
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except Exception:
        return None


def _unavailable(url: str, e: Exception) -> StoreUnavailable:
    orig = getattr(e, "orig", e)
    hint = "another process holds the lock for too long" if "locked" in str(orig) else (
        "check that the workspace folder is writable and the disk is not full"
    )
    return StoreUnavailable(f"metadata database {_safe_url(url)} failed: {orig}; {hint}")


def _safe_url(url: str) -> str:
    """The URL without a password, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return url
