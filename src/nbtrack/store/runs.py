"""Writes of runs and their params, metrics, tags and artifacts (SQL only)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.engine import Connection

from .param_codec import decode_param, encode_param  # noqa: F401 (re-exported: readers import them from here)
from . import pg_summary
from .schema import artifacts, experiments, latest_metrics, metrics, params, runs, tags


_stmts: dict[tuple, Any] = {}
_compiled: dict[tuple, tuple[str, Any]] = {}


@contextlib.contextmanager
def pipelined(conn: Connection) -> Iterator[None]:
    """PostgreSQL: the statements of the block go to the server together (psycopg's pipeline
    mode: one round trip instead of one per statement); a no-op elsewhere."""
    driver: Any = conn.connection.driver_connection
    if conn.dialect.name != "postgresql" or not hasattr(driver, "pipeline"):
        yield
        return
    with driver.pipeline():
        yield


def fast_execute(conn: Connection, stmt, rows: Sequence[dict]) -> None:
    """Execute a cached Core statement straight through the DBAPI cursor.

    On the run hot path SQLAlchemy's per-execution bookkeeping costs more than
    SQLite itself, so the statement is compiled once per dialect and column set
    and its parameters are handed to the driver directly (same connection, same
    transaction).
    """
    if not rows:
        return
    cols = tuple(rows[0])
    key = (id(stmt), conn.dialect.name, cols)
    hit = _compiled.get(key)
    if hit is None:
        compiled = stmt.compile(dialect=conn.dialect, column_keys=list(cols))
        hit = _compiled[key] = (compiled.string, compiled.positiontup)
    sql, order = hit
    driver: Any = conn.connection.driver_connection  # the DB-API connection (sqlite3 or psycopg)
    if len(rows) > 1 and conn.dialect.name == "postgresql" and _multi_values(sql, 1) is not None:
        # one statement per PG_PARAMS parameters: one message, one plan, one round trip
        per = max(1, PG_PARAMS // len(cols))
        cur = driver.cursor()
        try:
            for lo in range(0, len(rows), per):
                part = rows[lo:lo + per]
                multi_sql, names = _multi_values(sql, len(part)) or ("", [])
                cur.execute(multi_sql, [r[n] for r in part for n in names])
        finally:
            cur.close()
        return
    data = [tuple(r[k] for k in order) for r in rows] if order is not None else list(rows)
    cur = driver.cursor()
    try:
        if len(data) == 1:
            cur.execute(sql, data[0])
        else:
            cur.executemany(sql, data)
    finally:
        cur.close()


_VALUES = re.compile(r"^(?P<head>INSERT INTO .*? VALUES )"
                     r"(?P<row>\((?:%\(\w+\)s(?:::\w+)?(?:, )?)+\))"  # (%(a)s::VARCHAR, %(b)s)
                     r"(?P<tail>(?: ON CONFLICT .*)?)$", re.S)
PG_PARAMS = 30_000  # parameters per statement (PostgreSQL allows 65,535)
_multi: dict[tuple[str, int], tuple[str, list[str]] | None] = {}


def _multi_values(sql: str, n: int) -> tuple[str, list[str]] | None:
    """``INSERT ... VALUES (%(a)s, %(b)s) [ON CONFLICT ...]`` for ``n`` rows with positional
    parameters, and the row keys in their order; None for a statement of another shape."""
    if (sql, n) in _multi:
        return _multi[(sql, n)]
    m = _VALUES.match(sql)
    out = None
    if m is not None and "%(" not in m.group("tail"):
        names = re.findall(r"%\((\w+)\)s", m.group("row"))
        row = re.sub(r"%\(\w+\)s", "%s", m.group("row"))  # casts (::VARCHAR) stay
        out = (m.group("head") + ", ".join([row] * n) + m.group("tail"), names)
    if len(_multi) < 4096:
        _multi[(sql, n)] = out
    return out


def fast_scalar(conn: Connection, stmt, params: dict) -> Any:
    """The first column of the first row of a cached statement, through the DBAPI cursor."""
    key = (id(stmt), conn.dialect.name, None)
    hit = _compiled.get(key)
    if hit is None:
        compiled = stmt.compile(dialect=conn.dialect)
        hit = _compiled[key] = (compiled.string, compiled.positiontup)
    sql, order = hit
    driver: Any = conn.connection.driver_connection  # the DB-API connection (sqlite3 or psycopg)
    cur = driver.cursor()
    try:
        cur.execute(sql, tuple(params[k] for k in order) if order is not None else params)
        row = cur.fetchone()
    finally:
        cur.close()
    return None if row is None else row[0]


def _upsert_stmt(dialect: str, table, keys: tuple[str, ...], cols: tuple[str, ...], newer_only: bool):
    """Build (once) an INSERT ... ON CONFLICT DO UPDATE for SQLite or PostgreSQL."""
    cache_key = (dialect, table.name, keys, cols, newer_only)
    stmt: Any = _stmts.get(cache_key)
    if stmt is None:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            stmt = pg_insert(table)
        else:
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            stmt = sqlite_insert(table)
        where = None
        if newer_only:  # keep the row with the highest (step, ts)
            ex = stmt.excluded
            where = (ex.step > table.c.step) | ((ex.step == table.c.step) & (ex.ts >= table.c.ts))
        stmt = _stmts[cache_key] = stmt.on_conflict_do_update(
            index_elements=list(keys), set_={c: stmt.excluded[c] for c in cols}, where=where
        )
    return stmt


def upsert(conn: Connection, table, rows: Sequence[dict], keys: Sequence[str], newer_only: bool = False) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE, on SQLite and PostgreSQL alike."""
    if not rows:
        return
    cols = tuple(c for c in rows[0] if c not in keys)
    if len(rows) > 1:  # one statement may not update a row twice (PostgreSQL): the last value wins
        rows = list({tuple(r[k] for k in keys): r for r in rows}.values())
    fast_execute(conn, _upsert_stmt(conn.dialect.name, table, tuple(keys), cols, newer_only), rows)


def insert_ignore(conn: Connection, table, row: dict, keys: Sequence[str]) -> None:
    """INSERT unless a row with the same unique ``keys`` exists (safe under concurrency)."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt: Any = pg_insert(table)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(table)
    conn.execute(stmt.values(**row).on_conflict_do_nothing(index_elements=list(keys)))


def experiment_id(conn: Connection, name: str, now: float) -> int:
    found = conn.execute(select(experiments.c.id).where(experiments.c.name == name)).scalar()
    if found is not None:
        return found
    insert_ignore(conn, experiments, {"name": name, "created": now}, ("name",))
    return conn.execute(select(experiments.c.id).where(experiments.c.name == name)).scalar_one()


def write_params(conn: Connection, run_id: str, values: dict[str, Any]) -> None:
    rows = []
    for key, value in values.items():
        text, num, vtype = encode_param(value)
        rows.append({"run_id": run_id, "key": key, "value": text, "num": num, "vtype": vtype})
    upsert(conn, params, rows, ("run_id", "key"))
    if rows:
        pg_summary.refresh(conn, [run_id], metrics=False)  # PostgreSQL: the run's params JSON (0009)


def write_tags(conn: Connection, run_id: str, values: dict[str, str]) -> None:
    rows = [{"run_id": run_id, "key": k, "value": str(v)} for k, v in values.items()]
    upsert(conn, tags, rows, ("run_id", "key"))


_INSERT_METRICS = insert(metrics)
_INSERT_RUN = insert(runs)


def write_metrics(conn: Connection, run_id: str, points: Iterable[tuple[str, float | None, int, float]]) -> None:
    rows: list[dict[str, Any]] = [{"run_id": run_id, "key": k, "value": v, "step": s, "ts": t}
                                  for k, v, s, t in points]
    if not rows:
        return
    fast_execute(conn, _INSERT_METRICS, rows)
    last: dict[str, dict] = {}
    for row in rows:  # the latest value per key: highest step, then newest
        cur = last.get(row["key"])
        if cur is None or (row["step"], row["ts"]) >= (cur["step"], cur["ts"]):
            last[row["key"]] = row
    upsert(conn, latest_metrics, list(last.values()), ("run_id", "key"), newer_only=True)
    pg_summary.refresh(conn, [run_id], params=False)  # PostgreSQL: the run's latest metrics JSON (0009)


def write_artifacts(conn: Connection, run_id: str, rows: Iterable[dict]) -> None:
    upsert(conn, artifacts, [{"run_id": run_id, **r} for r in rows], ("run_id", "name"))


def insert_run(conn: Connection, row: dict) -> None:
    fast_execute(conn, _INSERT_RUN, [row])


_MAX_CELL_VERSION = select(func.max(runs.c.cell_version)).where(runs.c.cell_key == bindparam("cell_key"))


def next_cell_version(conn: Connection, cell_key: str) -> int:
    """1 + the highest version recorded for this cell's history (index-only lookup)."""
    last = fast_scalar(conn, _MAX_CELL_VERSION, {"cell_key": cell_key})
    return (last or 0) + 1


def update_run(conn: Connection, run_id: str, **values: Any) -> None:
    cols = tuple(sorted(values))
    stmt = _stmts.get(("update_run", cols))
    if stmt is None:
        stmt = _stmts[("update_run", cols)] = (
            update(runs).where(runs.c.id == bindparam("run_id_")).values({c: bindparam(c) for c in cols})
        )
    fast_execute(conn, stmt, [{"run_id_": run_id, **values}])


# Every status a run can have, and what it means. Readers (browser, sidebar, exports) take
# their vocabulary from here; tests check they cover all of it.
RUN_STATUSES: dict[str, str] = {
    "running": "the cell, script or pipeline is executing",
    "snapshotting": "the cell ran; its snapshots are still being stored in the background",
    "finished": "ran to the end and everything was recorded",
    "failed": "the code raised (or a pipeline's notebook failed)",
    "interrupted": "stopped by Ctrl-C, a kill or a dead process",
    "capture_failed": "the code ran, but part of what it made could not be recorded",
    "pruned": "a tuning trial stopped early by the sweep's pruner",
}

PENDING_SNAPSHOTS_TAG = "nbtrack.pending_snapshots"  # what a `snapshotting` run still waits for


def mark_interrupted(conn: Connection, host: str, alive) -> list[str]:
    """Mark this host's `running` runs whose process is gone as `interrupted`, and its
    `snapshotting` runs (snapshots still being stored by a background writer,
    capture/background.py) as `capture_failed`, naming the snapshots that were lost."""
    rows = conn.execute(
        select(runs.c.id, runs.c.pid, runs.c.status)
        .where(runs.c.status.in_(("running", "snapshotting")), runs.c.host == host)
    ).all()
    dead = [(rid, status) for rid, pid, status in rows if pid is None or not alive(pid)]
    running = [rid for rid, status in dead if status == "running"]
    if running:
        conn.execute(
            update(runs)
            .where(runs.c.id.in_(running), runs.c.status == "running")
            .values(status="interrupted", error_message="the process ended before the run did")
        )
    for rid, status in dead:
        if status == "snapshotting":
            mark_snapshots_lost(conn, rid, "the process ended before its snapshots were stored")
    return [rid for rid, _status in dead]


def mark_snapshots_lost(conn: Connection, run_id: str, why: str) -> bool:
    """A `snapshotting` run whose snapshots will never be stored becomes `capture_failed`,
    its error naming them; False when the run is not `snapshotting` (any more)."""
    lost = conn.execute(select(tags.c.value).where(tags.c.run_id == run_id,
                                                   tags.c.key == PENDING_SNAPSHOTS_TAG)).scalar()
    message = f"{why}; not recorded: {lost or 'unknown'}"
    done = conn.execute(
        update(runs).where(runs.c.id == run_id, runs.c.status == "snapshotting")
        .values(status="capture_failed", error_type="SnapshotsLost", error_message=message[:4000])
    ).rowcount
    return bool(done)
