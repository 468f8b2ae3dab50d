"""Recording runs on SQLite with the standard library's ``sqlite3``, without SQLAlchemy.

Importing SQLAlchemy is most of what the first run of a fresh process costs. On an
embedded workspace whose schema is current, what a run writes (its start, its params,
tags, metrics, artifacts, inputs and end; closing the runs of ended processes; the
journal's replay) goes through :func:`transaction` and the plain statements below:
same connection settings as :mod:`.meta` (WAL, ``synchronous``, autocheckpoint, busy
timeout), same ``BEGIN IMMEDIATE``, same error messages. SQLAlchemy is imported only
when something else needs it (queries, the registry, migrations, PostgreSQL).

The statements are built from :data:`TABLES`; ``tests/store/test_sqlite_direct.py``
checks those columns and conflict keys against :mod:`.schema`, and that both write
paths leave identical rows.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

# The columns of the tables written here, in schema order (checked against store/schema.py).
TABLES: dict[str, tuple[str, ...]] = {
    "experiments": ("id", "name", "created"),
    "runs": ("id", "experiment_id", "name", "kind", "status", "parent_id", "notebook", "cell_id", "cell_key",
             "cell_version", "source_oid", "env_oid", "stdout_oid", "git_commit", "git_dirty", "started", "ended",
             "duration", "error_type", "error_message", "user", "host", "pid", "reads", "writes"),
    "params": ("run_id", "key", "value", "num", "vtype"),
    "metrics": ("id", "run_id", "key", "value", "step", "ts"),
    "latest_metrics": ("run_id", "key", "value", "step", "ts"),
    "tags": ("run_id", "key", "value"),
    "artifacts": ("run_id", "name", "oid", "kind", "media_type", "size"),
    "lineage": ("id", "run_id", "direction", "dataset_version_id", "model_version_id", "variable"),
}
# The unique keys upserts conflict on (primary keys; experiments.name is unique).
KEYS: dict[str, tuple[str, ...]] = {
    "experiments": ("name",),
    "params": ("run_id", "key"),
    "latest_metrics": ("run_id", "key"),
    "tags": ("run_id", "key"),
    "artifacts": ("run_id", "name"),
}
PENDING_SNAPSHOTS_TAG = "nbtrack.pending_snapshots"  # = store.runs.PENDING_SNAPSHOTS_TAG (tested)

_savepoints = itertools.count()
_inherited: list[sqlite3.Connection] = []
_sql: dict[tuple, str] = {}


class DirectConn:
    """An open write transaction on a stdlib ``sqlite3`` connection."""

    def __init__(self, raw: sqlite3.Connection) -> None:
        self.raw = raw

    def execute(self, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
        return self.raw.execute(sql, params)

    @contextlib.contextmanager
    def begin_nested(self) -> Iterator[DirectConn]:
        """A savepoint: what the block wrote is undone if it raises, the transaction goes on."""
        name = f"nbtrack_sp{next(_savepoints)}"
        self.raw.execute(f"SAVEPOINT {name}")
        try:
            yield self
        except BaseException:
            self.raw.execute(f"ROLLBACK TO {name}")
            self.raw.execute(f"RELEASE {name}")
            raise
        self.raw.execute(f"RELEASE {name}")


# -- connections and transactions -------------------------------------------------------------
def connect(path: str, pragmas: Iterable[str], timeout: float) -> sqlite3.Connection:
    """A connection set up like :mod:`.meta`'s engine sets up its own (autocommit: we BEGIN)."""
    raw = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    try:
        for pragma in pragmas:
            raw.execute(pragma)
    except BaseException:
        raw.close()
        raise
    return raw


def held(meta: Any) -> sqlite3.Connection:
    """This thread's connection to ``meta`` (one per thread and process, like the engine's)."""
    h = getattr(meta._local, "direct", None)
    if h is None or h[0] != os.getpid():
        if h is not None:  # inherited through fork: never used nor closed here (it is the parent's)
            _inherited.append(h[1])
        h = meta._local.direct = (os.getpid(), meta._direct_connect(), [None])
    return h[1]


def close_held(meta: Any) -> None:
    h = getattr(meta._local, "direct", None)
    meta._local.direct = None
    if h is not None and h[0] == os.getpid():
        with contextlib.suppress(Exception):
            h[1].close()
    elif h is not None:
        _inherited.append(h[1])


@contextlib.contextmanager
def transaction(meta: Any, busy_s: float, provisional: bool = False) -> Iterator[DirectConn]:
    """A ``BEGIN IMMEDIATE`` write transaction, committed when the block ends, rolled back if
    it raises. A use nested in another transaction of this thread gets a connection of its own
    (a nested *write* then waits for the outer one's lock, as on the SQLAlchemy path)."""
    raw = held(meta)
    temp = raw.in_transaction
    if temp:
        raw = meta._direct_connect()
    try:
        slot = meta._local.direct[2]
        if temp or slot[0] != busy_s:
            raw.execute(f"PRAGMA busy_timeout={int(busy_s * 1000)}")
            if not temp:
                slot[0] = busy_s
        relax = provisional and meta.durability == "full"
        if relax:  # see MetaStore.write: the run's end makes this commit durable
            raw.execute("PRAGMA synchronous=NORMAL")
        try:
            raw.execute("BEGIN IMMEDIATE")
            try:
                yield DirectConn(raw)
                raw.execute("COMMIT")
            except BaseException:
                _rollback(raw)
                raise
        finally:
            if relax:
                raw.execute("PRAGMA synchronous=FULL")
    finally:
        if temp:
            raw.close()


def revision(raw: sqlite3.Connection) -> str | None:
    """alembic's schema revision (None for a database without nbtrack's tables)."""
    try:
        row = raw.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.OperationalError as e:
        if "no such table" in str(e):
            return None
        raise
    return None if row is None else row[0]


# -- statements ---------------------------------------------------------------------------------
def _check(table: str, cols: Iterable[str]) -> tuple[str, ...]:
    cols = tuple(cols)
    unknown = [c for c in cols if c not in TABLES[table]]
    if unknown:
        raise ValueError(f"table {table} has no column(s) {', '.join(map(repr, unknown))}")
    return cols


def _q(name: str) -> str:
    return f'"{name}"'


def _insert(table: str, cols: tuple[str, ...]) -> str:
    key = ("insert", table, cols)
    sql = _sql.get(key)
    if sql is None:
        sql = _sql[key] = (f"INSERT INTO {table} ({', '.join(map(_q, _check(table, cols)))}) "
                           f"VALUES ({', '.join('?' * len(cols))})")
    return sql


def _upsert(table: str, cols: tuple[str, ...], where: str = "") -> str:
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET the other columns [WHERE ...]."""
    key = ("upsert", table, cols, where)
    sql = _sql.get(key)
    if sql is None:
        keys = KEYS[table]
        sets = ", ".join(f"{_q(c)} = excluded.{_q(c)}" for c in cols if c not in keys)
        sql = _sql[key] = (_insert(table, cols) + f" ON CONFLICT ({', '.join(map(_q, keys))}) DO UPDATE SET {sets}"
                           + (f" WHERE {where}" if where else ""))
    return sql


def _upsert_rows(conn: DirectConn, table: str, rows: Sequence[dict], where: str = "") -> None:
    if not rows:
        return
    keys = KEYS[table]
    if len(rows) > 1:  # the last value of a key wins (as in store.runs.upsert)
        rows = list({tuple(r[k] for k in keys): r for r in rows}.values())
    cols = tuple(rows[0])
    data = [tuple(r[c] for c in cols) for r in rows]
    if len(data) == 1:
        conn.raw.execute(_upsert(table, cols, where), data[0])
    else:
        conn.raw.executemany(_upsert(table, cols, where), data)


@contextlib.contextmanager
def pipelined(conn: DirectConn) -> Iterator[None]:
    """Nothing to batch on SQLite (as store.runs.pipelined)."""
    yield


def run_exists(conn: DirectConn, run_id: str) -> bool:
    return conn.raw.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone() is not None


def experiment_id(conn: DirectConn, name: str, now: float) -> int:
    select = "SELECT id FROM experiments WHERE name = ?"
    row = conn.raw.execute(select, (name,)).fetchone()
    if row is not None:
        return row[0]
    conn.raw.execute("INSERT INTO experiments (name, created) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", (name, now))
    return conn.raw.execute(select, (name,)).fetchone()[0]


def next_cell_version(conn: DirectConn, cell_key: str) -> int:
    """1 + the highest version recorded for this cell's history (index-only lookup)."""
    last = conn.raw.execute("SELECT max(cell_version) FROM runs WHERE cell_key = ?", (cell_key,)).fetchone()[0]
    return (last or 0) + 1


def insert_run(conn: DirectConn, row: dict) -> None:
    """Keys that are not columns of ``runs`` are left out (as store.runs.insert_run does)."""
    cols = tuple(c for c in row if c in TABLES["runs"])
    conn.raw.execute(_insert("runs", cols), tuple(row[c] for c in cols))


def update_run(conn: DirectConn, run_id: str, **values: Any) -> None:
    cols = tuple(sorted(values))
    key = ("update_run", cols)
    sql = _sql.get(key)
    if sql is None:
        sets = ", ".join(f"{_q(c)} = ?" for c in _check("runs", cols))
        sql = _sql[key] = f"UPDATE runs SET {sets} WHERE id = ?"
    conn.raw.execute(sql, (*(values[c] for c in cols), run_id))


def write_params(conn: DirectConn, run_id: str, values: dict[str, Any]) -> None:
    from .param_codec import encode_param

    rows = []
    for key, value in values.items():
        text, num, vtype = encode_param(value)
        rows.append({"run_id": run_id, "key": key, "value": text, "num": num, "vtype": vtype})
    _upsert_rows(conn, "params", rows)


def write_tags(conn: DirectConn, run_id: str, values: dict[str, str]) -> None:
    _upsert_rows(conn, "tags", [{"run_id": run_id, "key": k, "value": str(v)} for k, v in values.items()])


# keep the row with the highest (step, ts), as store.runs.upsert(newer_only=True)
_NEWER = ('excluded."step" > latest_metrics."step" OR '
          '(excluded."step" = latest_metrics."step" AND excluded."ts" >= latest_metrics."ts")')


def write_metrics(conn: DirectConn, run_id: str, points: Iterable[tuple[str, float | None, int, float]]) -> None:
    rows = [(run_id, k, v, s, t) for k, v, s, t in points]
    if not rows:
        return
    cols = ("run_id", "key", "value", "step", "ts")
    if len(rows) == 1:
        conn.raw.execute(_insert("metrics", cols), rows[0])
    else:
        conn.raw.executemany(_insert("metrics", cols), rows)
    last: dict[str, tuple] = {}
    for row in rows:  # the latest value per key: highest step, then newest
        cur = last.get(row[1])
        if cur is None or (row[3], row[4]) >= (cur[3], cur[4]):
            last[row[1]] = row
    _upsert_rows(conn, "latest_metrics", [dict(zip(cols, r)) for r in last.values()], _NEWER)


def write_artifacts(conn: DirectConn, run_id: str, rows: Iterable[dict]) -> None:
    _upsert_rows(conn, "artifacts", [{"run_id": run_id, **r} for r in rows])


def link(conn: DirectConn, run_id: str, direction: str, dataset_version_id: int,
         variable: str | None = None) -> None:
    """As store.lineage.link: record that ``run_id`` used or produced a dataset version (idempotent)."""
    if direction not in ("input", "output"):
        from ..errors import InvalidInput

        raise InvalidInput(f"direction must be 'input' or 'output', got {direction!r}")
    same_var = "variable IS NULL" if variable is None else "variable = ?"
    args: tuple = (run_id, direction, dataset_version_id) + (() if variable is None else (variable,))
    found = conn.raw.execute("SELECT id FROM lineage WHERE run_id = ? AND direction = ? AND dataset_version_id = ? "
                             f"AND {same_var}", args).fetchone()
    if found is None:
        conn.raw.execute("INSERT INTO lineage (run_id, direction, dataset_version_id, variable) VALUES (?, ?, ?, ?)",
                         (run_id, direction, dataset_version_id, variable))


def mark_interrupted(conn: DirectConn, host: str, alive) -> list[str]:
    """As store.runs.mark_interrupted: close this host's runs whose process is gone."""
    rows = conn.raw.execute("SELECT id, pid, status FROM runs WHERE status IN ('running', 'snapshotting') "
                            "AND host = ?", (host,)).fetchall()
    dead = [(rid, status) for rid, pid, status in rows if pid is None or not alive(pid)]
    running = [rid for rid, status in dead if status == "running"]
    for lo in range(0, len(running), 500):
        part = running[lo:lo + 500]
        conn.raw.execute(f"UPDATE runs SET status = 'interrupted', error_message = ? "
                         f"WHERE id IN ({', '.join('?' * len(part))}) AND status = 'running'",
                         ("the process ended before the run did", *part))
    for rid, status in dead:
        if status == "snapshotting":
            mark_snapshots_lost(conn, rid, "the process ended before its snapshots were stored")
    return [rid for rid, _status in dead]


def mark_snapshots_lost(conn: DirectConn, run_id: str, why: str) -> bool:
    """As store.runs.mark_snapshots_lost."""
    row = conn.raw.execute("SELECT value FROM tags WHERE run_id = ? AND key = ?",
                           (run_id, PENDING_SNAPSHOTS_TAG)).fetchone()
    message = f"{why}; not recorded: {(row[0] if row else None) or 'unknown'}"
    cur = conn.raw.execute("UPDATE runs SET status = 'capture_failed', error_type = 'SnapshotsLost', "
                           "error_message = ? WHERE id = ? AND status = 'snapshotting'", (message[:4000], run_id))
    return bool(cur.rowcount)


def checkpoint(meta: Any, mode: str, busy_ms: int | None) -> tuple[int, int, int]:
    """``PRAGMA wal_checkpoint(mode)`` on this thread's connection (see store/durability.py)."""
    raw = held(meta)
    if raw.in_transaction:  # never checkpoint from inside a transaction of ours
        return (1, -1, -1)
    if busy_ms is not None:
        raw.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
        meta._local.direct[2][0] = None  # the next transaction sets its own again
    row = raw.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
    return (row[0], row[1], row[2]) if row else (0, 0, 0)


def create_schema(raw: sqlite3.Connection) -> bool:
    """Give an empty database the current schema (store/sqlite_schema.py: what the migrations
    create, stamped with their head) in one ``BEGIN IMMEDIATE`` transaction; False, leaving it
    alone, when it is not empty (another process created it first, or it needs alembic)."""
    from . import sqlite_schema

    raw.execute("BEGIN IMMEDIATE")
    try:
        if raw.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            raw.execute("ROLLBACK")
            return False
        for sql in sqlite_schema.STATEMENTS:
            raw.execute(sql)
        raw.execute("INSERT INTO alembic_version (version_num) VALUES (?)", (sqlite_schema.REVISION,))
        raw.execute("COMMIT")
    except BaseException:
        _rollback(raw)
        raise
    return True


def _rollback(raw: sqlite3.Connection) -> None:
    """Roll back an open transaction after an error, keeping that error (a failed rollback is moot)."""
    if raw.in_transaction:
        with contextlib.suppress(sqlite3.Error):
            raw.execute("ROLLBACK")
