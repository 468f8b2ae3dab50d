"""The metadata database: one SQLAlchemy engine, SQLite by default, PostgreSQL for teams.

SQLite is opened in WAL mode with a busy timeout, and write transactions start
with ``BEGIN IMMEDIATE`` so concurrent writers queue on the lock instead of
failing with "database is locked" when a read transaction tries to upgrade.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..errors import StoreUnavailable, missing_extra
from . import durability

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

# SQLAlchemy is imported when first needed (the engine is made lazily on SQLite): a run on a
# current SQLite schema is written with the standard library's sqlite3 (store/sqlite_direct.py).

# The newest migration. tests/store/test_migrations.py checks it is alembic's head.
SCHEMA_HEAD = "0009"
BUSY_TIMEOUT_S = 60.0
FULL = "full"  # MetaStore.read_only when a full disk forces reading meta.db as a snapshot
MIGRATIONS = os.path.join(os.path.dirname(__file__), "migrations")


# ``durability`` of a workspace ([store] durability in config.toml) -> SQLite's synchronous mode.
# "normal" (default): WAL + synchronous=NORMAL, no fsync per commit; survives a crash of the
# process, may lose the last commits on a power loss or OS crash. "full": WAL + synchronous=FULL,
# the WAL is fsynced at every commit; a committed run survives a power loss.
DURABILITY = {"normal": "NORMAL", "full": "FULL"}


def _pragmas(durability: str) -> list[str]:
    """How every writable SQLite connection is set up (the engine's and sqlite_direct's)."""
    return [
        "PRAGMA journal_mode=WAL",
        f"PRAGMA synchronous={DURABILITY[durability]}",
        # Checkpoints (which fsync) every ~40 MB of WAL instead of every 4 MB:
        # a run touches a dozen pages, so the default made every ~40th run slow.
        "PRAGMA wal_autocheckpoint=10000",
        f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}",
    ]


def _db_errors() -> tuple[type[Exception], ...]:
    """The database errors that can be raised: sqlite3's, and SQLAlchemy's once it is imported
    (none of its errors can be raised before)."""
    exc = sys.modules.get("sqlalchemy.exc")
    return (sqlite3.DatabaseError,) if exc is None else (sqlite3.DatabaseError, exc.DatabaseError)


def _sqlite_engine(url: str, read_only: str | None = None, durability: str = "normal") -> Engine:
    """``read_only``: None, "ro" (we may not write) or "immutable" (a read-only file system)."""
    from sqlalchemy import create_engine, event

    if read_only:
        path = sqlite_path(url)
        flags = "mode=ro&immutable=1" if read_only == "immutable" else "mode=ro"
        url = f"sqlite:///file:{path}?{flags}&uri=true"
    engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # pragma: no cover - exercised by every test
        # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own is deferred only).
        dbapi_conn.isolation_level = None
        if read_only:
            return
        cur = dbapi_conn.cursor()
        for pragma in _pragmas(durability):
            cur.execute(pragma)
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.get_execution_options().get("nbtrack_write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")

    return engine


# A pooled server connection idle longer than this is pinged before use (a restarted server or a
# dropped idle connection); a busy one is not: a ping per transaction was one extra round trip
# on every run's start and end.
PING_IDLE_S = 10.0


def _server_engine(url: str, **kw) -> Engine:
    """PostgreSQL (or another server): a pool whose idle connections are checked before reuse."""
    from sqlalchemy import create_engine, event, exc

    engine = create_engine(url, **kw)

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn, record, _proxy) -> None:  # pragma: no cover - exercised by PG tests
        now = time.monotonic()
        last = record.info.get("nbtrack_used", now)
        record.info["nbtrack_used"] = now
        if now - last < PING_IDLE_S:
            return
        try:
            cur = dbapi_conn.cursor()
            cur.execute("SELECT 1")
            cur.close()
            if not getattr(dbapi_conn, "autocommit", True):
                dbapi_conn.rollback()  # the ping's implicit transaction, not the caller's
        except Exception as e:
            raise exc.DisconnectionError(f"pooled connection is gone: {e}") from e  # the pool reconnects

    return engine


_inherited: list = []  # what MetaStore.after_fork took from the parent: kept alive, untouched


class MetaStore:
    """Engine + transactions + schema migration for one metadata database."""

    def __init__(self, url: str, empty_ok: Callable[[], bool] | None = None, durability: str = "normal") -> None:
        """``empty_ok`` says whether a 0-byte SQLite file may be given a new schema
        (the workspace holds nothing it would orphan); by default it may not.
        ``durability``: "normal" or "full" (see :data:`DURABILITY`; SQLite only)."""
        if durability not in DURABILITY:
            raise StoreUnavailable(f"durability must be one of {', '.join(map(repr, DURABILITY))}, "
                                   f"got {durability!r}")
        self.durability = durability
        self.url = url
        self.dialect = url.split(":", 1)[0].split("+", 1)[0]
        self._empty_ok = empty_ok or (lambda: False)
        self.read_only: str | None = _sqlite_read_only(url) if self.dialect == "sqlite" else None
        # a file database through the standard driver: runs are written with sqlite3 directly
        self.direct = self.dialect == "sqlite" and _direct_path(url) is not None
        self._engine: Engine | None = None
        self._engine_lock = threading.Lock()
        try:
            if self.dialect == "sqlite":
                if not self.direct:
                    self.engine = _sqlite_engine(url, self.read_only, durability)
            else:
                self.engine = _server_engine(url)
                # reads need no BEGIN/COMMIT round trips: at READ COMMITTED every statement sees
                # what was committed when it started, in a transaction or not
                self.read_engine = _server_engine(url, isolation_level="AUTOCOMMIT")
        except Exception as e:  # bad URL, missing driver
            extra = missing_extra(e)
            if extra is not None:
                raise extra from e
            raise StoreUnavailable(f"cannot open metadata database {url}: {e}") from e
        self._migrated = False
        self._local = threading.local()
        # set by store/pg_direct when it first writes a run here (it imports this module)
        self.before_use: Callable[[], None] | None = None
        self.on_dispose: Callable[[], None] | None = None

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine (on SQLite made, and SQLAlchemy imported, when first used)."""
        engine = self._engine
        if engine is None:
            with self._engine_lock:
                if self._engine is None:
                    try:
                        self._engine = _sqlite_engine(self.url, self.read_only, self.durability)
                    except Exception as e:  # a bad URL
                        raise StoreUnavailable(f"cannot open metadata database {self.url}: {e}") from e
                engine = self._engine
        return engine

    @engine.setter
    def engine(self, engine: Engine) -> None:
        self._engine = engine

    def _direct_connect(self) -> sqlite3.Connection:
        """A new writable sqlite3 connection set up as the engine's are (store/sqlite_direct.py)."""
        from . import sqlite_direct

        return sqlite_direct.connect(_direct_path(self.url) or "", _pragmas(self.durability), BUSY_TIMEOUT_S)

    # -- transactions ----------------------------------------------------------
    @contextlib.contextmanager
    def _connection(self, read: bool = False) -> Iterator[Connection]:
        """A connection for one transaction.

        SQLite keeps one connection per thread (and per process, for fork safety):
        checking one out of the pool for every transaction costs more than the
        transaction itself. A nested use in the same thread gets a pooled one.
        """
        if self.dialect != "sqlite":
            if self.before_use is not None:
                self.before_use()  # store/pg_direct: read the replies of run starts sent without waiting
            with (self.read_engine if read else self.engine).connect() as conn:
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
    def busy_timeout(self, seconds: float) -> Iterator[None]:
        """Writes in this thread wait at most ``seconds`` for SQLite's lock (then fail as
        StoreUnavailable "database is locked"); no effect on PostgreSQL."""
        prev = getattr(self._local, "busy", None)
        self._local.busy = seconds
        try:
            yield
        finally:
            self._local.busy = prev

    def _apply_busy(self, conn: Connection) -> None:
        if self.dialect != "sqlite":
            return
        want = getattr(self._local, "busy", None) or BUSY_TIMEOUT_S
        if conn.info.get("nbtrack_busy", BUSY_TIMEOUT_S) != want:
            driver = conn.connection.driver_connection  # sqlite3.Connection
            assert driver is not None  # a checked-out connection always has one
            driver.execute(f"PRAGMA busy_timeout={int(want * 1000)}")
            conn.info["nbtrack_busy"] = want

    @contextlib.contextmanager
    def write(self, provisional: bool = False, direct: bool = False) -> Iterator[Any]:
        """A write transaction. SQLite writers queue on the lock (busy timeout).

        ``provisional``: a commit another one soon completes (a run's start row, before its
        end): with ``durability = "full"`` it is not fsynced itself; the WAL is append-only,
        so the fsync of the next full commit makes it durable too (one fsync per run).
        ``direct``: the block writes through the statements of store/sqlite_direct.py; on a
        SQLite file it gets a :class:`~.sqlite_direct.DirectConn` (no SQLAlchemy), elsewhere
        a SQLAlchemy connection (``capture.journal.ops`` picks the statements for either).
        """
        if self.read_only == FULL and not _disk_full(self.url):
            self._reopen()  # space was freed: back to the normal, writable database
        self.migrate()  # first: it may find the disk full and open the database as a snapshot
        if self.read_only == FULL:
            raise StoreUnavailable(f"the disk holding {sqlite_path(self.url)} is full: free some space; "
                                   "the workspace can be read, nothing was recorded")
        if self.read_only:
            raise StoreUnavailable(
                f"the workspace holding {sqlite_path(self.url)} is read-only: it can be read and checked "
                "(`nbtrack fsck`), not written; nothing was recorded"
            )
        if direct and self.direct:
            from . import sqlite_direct

            try:
                busy = getattr(self._local, "busy", None) or BUSY_TIMEOUT_S
                with sqlite_direct.transaction(self, busy, provisional) as dconn:
                    yield dconn
            except sqlite3.DatabaseError as e:
                raise _unavailable(self.url, e) from e
            durability.note_write(self)
            return
        from sqlalchemy.exc import DatabaseError

        try:
            with self._connection() as conn:
                self._apply_busy(conn)
                conn.execution_options(nbtrack_write=True)
                relax = provisional and self.durability == "full" and self.dialect == "sqlite"
                driver = conn.connection.driver_connection if relax else None
                if driver is not None:
                    driver.execute("PRAGMA synchronous=NORMAL")
                try:
                    with conn.begin():
                        yield conn
                finally:
                    conn.execution_options(nbtrack_write=False)
                    if driver is not None:
                        driver.execute("PRAGMA synchronous=FULL")
        except (DatabaseError, sqlite3.DatabaseError) as e:  # the run hot path uses the DBAPI cursor
            raise _unavailable(self.url, e) from e
        durability.note_write(self)  # checkpointed once idle and at exit: meta.db alone is complete

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        self.migrate()
        from sqlalchemy.exc import DatabaseError

        try:
            with self._connection(read=True) as conn:
                with conn.begin():
                    yield conn
        except DatabaseError as e:
            raise _unavailable(self.url, e) from e

    # -- schema ------------------------------------------------------------------
    def current_revision(self) -> str | None:
        """The schema revision (None for a database without nbtrack's tables)."""
        if self.direct and not self.read_only:  # sqlite3 alone: no SQLAlchemy for a current schema
            from . import sqlite_direct

            return sqlite_direct.revision(sqlite_direct.held(self))
        with self.engine.connect() as conn:
            return _revision_or_none(conn)

    def migrate(self) -> None:
        """Create or upgrade the schema with alembic (a no-op once at head).

        Refuses, with one line each: a damaged database, one from a newer nbtrack,
        and an empty (0-byte) SQLite file in a workspace that holds objects — a lost
        history is never silently replaced by a new, empty one.
        """
        if self._migrated:
            return
        try:
            self._check_not_emptied()
            rev = self.current_revision()
            if rev != SCHEMA_HEAD:
                if rev is not None and rev not in known_revisions():
                    raise StoreUnavailable(
                        f"this workspace's metadata uses schema {rev}, newer than this nbtrack understands "
                        f"(up to {SCHEMA_HEAD}): upgrade nbtrack (pip install -U nbtrack)"
                    )
                if self.read_only:
                    raise StoreUnavailable(
                        f"the read-only workspace holding {sqlite_path(self.url)} has metadata schema {rev}, "
                        f"this nbtrack needs {SCHEMA_HEAD}: make it writable once to upgrade it"
                    )
                if rev is not None or not self._create_direct():
                    self._run_alembic()
        except _db_errors() as e:
            if self._read_despite_full_disk():
                return
            raise _unavailable(self.url, e) from e
        except StoreUnavailable:
            raise
        except Exception as e:  # alembic's own errors
            raise StoreUnavailable(f"upgrading the metadata schema of {_safe_url(self.url)} failed: "
                                   f"{type(e).__name__}: {e}") from e
        self._migrated = True

    def _read_despite_full_disk(self) -> bool:
        """On a full disk SQLite cannot create its shared-memory file, so nothing opens.
        When meta.db holds everything (no write-ahead log left to apply), read it as a
        snapshot until space is freed; writes say the disk is full."""
        if self.dialect != "sqlite" or self.read_only or not _disk_full(self.url):
            return False
        path = sqlite_path(self.url)
        if os.path.exists(path + "-wal") and os.path.getsize(path + "-wal") > 0:
            return False
        from sqlalchemy.exc import DatabaseError

        engine = _sqlite_engine(self.url, "immutable")
        try:
            with engine.connect() as conn:
                ok = _revision_or_none(conn) == SCHEMA_HEAD
        except DatabaseError:
            ok = False
        if not ok:
            engine.dispose()
            return False
        self._close_local()
        if self._engine is not None:
            self._engine.dispose()
        self.engine, self.read_only, self._migrated = engine, FULL, True
        return True

    def _reopen(self) -> None:
        self._close_local()
        if self._engine is not None:
            self._engine.dispose()
        self._engine = None if self.direct else _sqlite_engine(self.url, None, self.durability)
        self.read_only, self._migrated = None, False

    def _close_local(self) -> None:
        """Close this thread's connections; other threads open new ones."""
        held = getattr(self._local, "conn", None)
        if held is not None and held[0] == os.getpid():
            held[1].close()
        from .sqlite_direct import close_held

        close_held(self)
        self._local = threading.local()

    def _check_not_emptied(self) -> None:
        if self.dialect != "sqlite":
            return
        path = sqlite_path(self.url)
        if not _empty_file(path) or self._empty_ok():
            return
        time.sleep(0.2)  # a process creating the database writes its header within microseconds
        if _empty_file(path):
            raise StoreUnavailable(
                f"{path} is empty (0 bytes) but the workspace holds objects: its history was lost "
                "(a crash or a full disk?); nbtrack will not start a new one over it. Restore meta.db "
                "from a backup, or move it aside (mv meta.db meta.db.empty) to start an empty history"
            )

    def _create_direct(self) -> bool:
        """A new SQLite database: the current schema without alembic (store/sqlite_schema.py,
        generated from the migrations and compared with them by the tests); False when it
        is not empty or not a plain file (then alembic)."""
        if not self.direct:
            return False
        from . import sqlite_direct, sqlite_schema

        if sqlite_schema.REVISION != SCHEMA_HEAD:
            return False
        return sqlite_direct.create_schema(sqlite_direct.held(self))

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

    def after_fork(self) -> None:
        """In a forked child: keep this store (its engine's compiled statements) but none of the
        parent's connections (SQLAlchemy's recipe: a new pool; the parent's connections are left
        open for the parent). SQLite only."""
        assert self.dialect == "sqlite"
        _inherited.append(self._local)  # never closed, nor freed (sqlite3 would close them) here
        self._local = threading.local()
        self._engine_lock = threading.Lock()
        if self._engine is not None:
            _inherited.append(self._engine.pool)
            self._engine.dispose(close=False)

    def dispose(self) -> None:
        self._close_local()
        if self._engine is not None:
            self._engine.dispose()
        if self.dialect != "sqlite":
            if self.on_dispose is not None:
                self.on_dispose()  # store/pg_direct: its run-writing connections
            self.read_engine.dispose()


def _revision(conn: Connection) -> str | None:
    from sqlalchemy import text
    from sqlalchemy.exc import DatabaseError

    try:
        with conn.begin_nested():
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DatabaseError as e:
        if _no_table(e):
            return None
        raise


def _revision_or_none(conn: Connection) -> str | None:
    from sqlalchemy import text
    from sqlalchemy.exc import DatabaseError

    try:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DatabaseError as e:
        if _no_table(e):
            return None
        raise


def _disk_full(url: str) -> bool:
    try:
        st = os.statvfs(os.path.dirname(sqlite_path(url)) or ".")
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 1 << 20


def _empty_file(path: str) -> bool:
    try:
        return os.path.getsize(path) == 0 and not os.path.exists(path + "-wal")
    except OSError:
        return False


def _no_table(e: Exception) -> bool:
    return any(s in str(e) for s in ("no such table", "does not exist", "UndefinedTable"))


def known_revisions() -> set[str]:
    """Revision ids of the migrations this nbtrack ships."""
    out = set()
    folder = os.path.join(MIGRATIONS, "versions")
    for name in os.listdir(folder):
        if name.endswith(".py"):
            with open(os.path.join(folder, name)) as f:
                m = re.search(r'^revision\s*(?::\s*\w+\s*)?=\s*["\'](\w+)["\']', f.read(), re.M)
            if m:
                out.add(m.group(1))
    return out


def _direct_path(url: str) -> str | None:
    """The file of a SQLite URL that sqlite_direct may write (the standard driver, a plain
    path); None for anything else (``:memory:``, URI options, another driver)."""
    scheme = url.split(":", 1)[0]
    if scheme not in ("sqlite", "sqlite+pysqlite") or ":///" not in url or "?" in url:
        return None
    path = sqlite_path(url)
    return None if path in ("", ":memory:") or path.startswith("file:") else path


def sqlite_path(url: str) -> str:
    return url.split(":///", 1)[1].split("?", 1)[0] if ":///" in url else url


def _sqlite_read_only(url: str) -> str | None:
    """How to open a SQLite file we cannot write: "immutable" on a read-only file
    system (nobody can change it), "ro" when only our permissions forbid writing."""
    path = sqlite_path(url)
    if path in ("", ":memory:") or not os.path.exists(path):
        return None
    folder = os.path.dirname(os.path.abspath(path))
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return "immutable"
    except (OSError, AttributeError):
        pass
    if os.access(folder, os.W_OK) and os.access(path, os.W_OK):
        return None
    # Reading a WAL database needs its shared-memory file; where we cannot create or
    # write it, the file is read as a snapshot (what another writer adds later is not seen).
    return "ro" if os.access(path + "-shm", os.W_OK) else "immutable"


def _unavailable(url: str, e: Exception) -> StoreUnavailable:
    orig = getattr(e, "orig", e)
    text_ = str(orig)
    if "not a database" in text_ or "malformed" in text_ or "encrypted" in text_:
        path = sqlite_path(url)
        return StoreUnavailable(
            f"metadata database {path} is damaged ({text_}): restore it from a backup, or save what SQLite "
            f"can still read with `sqlite3 {path} .recover | sqlite3 recovered.db` and put that in its place"
        )
    if "readonly" in text_ or "read-only" in text_:
        hint = "the workspace is read-only: it can be read, not written"
    elif ("disk" in text_ or "full" in text_) and _disk_full(url):
        hint = f"the disk holding {os.path.dirname(sqlite_path(url))} is full: free some space"
    elif "locked" in text_:
        hint = "another process holds the lock for too long"
    else:
        hint = "check that the workspace folder is writable and the disk is not full"
    return StoreUnavailable(f"metadata database {_safe_url(url)} failed: {text_}; {hint}")


def _safe_url(url: str) -> str:
    """The URL without a password, for messages."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}:***@{host}"
    return url
