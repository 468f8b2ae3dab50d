"""Re-logging an unchanged model on a SQLite workspace: two plain ``sqlite3`` statements.

:func:`.models.log_model` of a model whose archive is already the latest version of its
name records nothing new but the producing run's lineage edge (run -> version, once per
run and version). Through SQLAlchemy that bookkeeping (model id, latest version, the
edge) cost more than the model's fingerprint; here it is one prepared lookup of the
latest version by name and, with a run, the same edge check and insert as
:func:`.models.link_output`, in one ``BEGIN IMMEDIATE`` transaction of
``store/sqlite_direct.py`` (so it orders with every other writer exactly as before).
A read-only workspace takes the general path (which refuses to write, as before).

The lookup reads through whichever of this thread's two connections holds current pages:
SQLite drops a connection's page cache when *another* connection commits, so right after
a model's save (written through SQLAlchemy's connection) the direct connection would
re-read every page of the lookup, and the save's own connection would not (see
:func:`_reader`; either connection reads the same committed state in autocommit).

And right after a save, the lookup need not run at all: the save noted the version it
committed with SQLite's ``PRAGMA data_version`` of its connection, read inside its write
transaction (:func:`saved`, :func:`committed`). That number changes as soon as any *other*
connection commits, and the connection's own row-change counter as soon as it writes, so
while both are as noted (and the direct connection wrote nothing either), the database is
the one the save left: its version is still the latest (:func:`_remembered`).

Anything else (a new version, a dataset reference to resolve, another backend) returns
None and the caller takes the general path, which decides again inside its own transaction.
"""

from __future__ import annotations

import os
import sqlite3
from typing import Any

from ..store.sqlite_direct import DirectConn, held
from ..workspace import Workspace

# The columns :func:`.models.row_to_version` reads, named (no cursor description to build per lookup).
_COLUMNS = ("id", "version", "oid", "format", "unsafe", "class_name", "signature", "params", "metrics", "run_id",
            "dataset_version_id", "source_version_id", "creator", "created", "description")
_NAMES = (*_COLUMNS, "name")
_LATEST = (f"SELECT {', '.join('v.' + c for c in _COLUMNS)}, m.name FROM models AS m "
           "JOIN model_versions AS v ON v.model_id = m.id WHERE m.name = ? ORDER BY v.version DESC LIMIT 1")
_LINKED = "SELECT id FROM lineage WHERE run_id = ? AND model_version_id = ? AND direction = 'output'"
_LINK = "INSERT INTO lineage (run_id, direction, model_version_id, variable) VALUES (?, 'output', ?, ?)"


class Row:
    """The latest version's row, read like a SQLAlchemy row (``._mapping``) by ``models.row_to_version``."""

    __slots__ = ("_mapping",)

    def __init__(self, mapping: dict[str, Any]) -> None:
        self._mapping = mapping


def relog(ws: Workspace, name: str, values: dict[str, Any], dataset_version: Any, variable: str | None) -> Row | None:
    """The row of the latest version of ``name`` if it holds ``values["oid"]`` (the run's edge recorded),
    else None. Only on a writable SQLite file workspace, without a dataset reference to resolve.

    The lookup runs outside any transaction (autocommit: a consistent read, no write lock), so
    a new model costs one indexed SELECT here; without a run a re-log writes nothing; with one,
    the lookup is repeated inside the write transaction that records the edge."""
    meta = ws.meta
    if (not getattr(meta, "direct", False) or meta.read_only
            or not (dataset_version is None or type(dataset_version) is int)):
        return None
    meta.migrate()
    raw = held(meta)
    if raw.in_transaction:  # (inside the caller's own write: the general path)
        return None
    found = _remembered(meta, raw, name, values["oid"])
    if found is None:
        found = _latest(_reader(meta, raw), name, values["oid"])
    if found is None:
        _seen(meta, raw)
        return None
    run_id = values.get("run_id")
    if run_id is not None:
        with meta.write(direct=True) as conn:
            if not isinstance(conn, DirectConn):
                return None
            found = _latest(conn.raw, name, values["oid"])
            if found is None:  # (another writer added a version in between)
                return None
            if conn.raw.execute(_LINKED, (run_id, found["id"])).fetchone() is None:
                conn.raw.execute(_LINK, (run_id, found["id"], variable))
    _seen(meta, raw)
    return Row(found)


def _reader(meta: Any, raw: sqlite3.Connection) -> sqlite3.Connection:
    """The connection to look the latest version up with: this thread's SQLAlchemy connection
    if it is the only one of the two that wrote since the last lookup here (a save of the
    model just went through it: its pages are current), else the direct one, ``raw``.

    Only a choice of cache: both are connections of this process to the same file in
    autocommit (no transaction open on either), so both read the latest committed state."""
    seen = getattr(meta._local, "relog_seen", None)
    own = _own(meta)
    if seen is None or own is None:
        return raw
    conn, other = own
    if (conn.in_transaction() or other is raw or other.in_transaction
            or (id(other), raw.total_changes) != seen[:2] or other.total_changes == seen[2]):
        return raw
    return other


def _own(meta: Any) -> tuple[Any, sqlite3.Connection] | None:
    """This thread's SQLAlchemy connection (made in this process, open and valid) and its sqlite3
    connection, or None."""
    held = getattr(meta._local, "conn", None)
    if held is None or held[0] != os.getpid() or held[1].closed or held[1].invalidated:
        return None
    driver = held[1].connection.driver_connection
    return (held[1], driver) if type(driver) is sqlite3.Connection else None


LATEST_ROW = "nbtrack_latest_version_row"  # (Connection.info key: models._store's row of the latest version)


def saved(meta: Any, conn: Any, name: str) -> None:
    """Inside the write transaction in which :func:`.models.commit_model` recorded ``name``'s latest
    version through SQLAlchemy's connection ``conn``: note that row and ``PRAGMA data_version``
    (the transaction holds SQLite's write lock: no other commit can come between)."""
    meta._local.relog_pending = None
    info = getattr(conn, "info", None)
    found = info.pop(LATEST_ROW, None) if info is not None else None
    if found is None or found[0] != name or not getattr(meta, "direct", False) or meta.read_only:
        return
    driver = conn.connection.driver_connection
    if type(driver) is not sqlite3.Connection or not driver.in_transaction:
        return
    version = driver.execute("PRAGMA data_version").fetchone()[0]
    meta._local.relog_pending = (os.getpid(), driver, version, name, dict(found[1]))


def committed(meta: Any) -> None:
    """After that transaction committed: remember the version with both connections' write counters."""
    pending = getattr(meta._local, "relog_pending", None)
    meta._local.relog_pending = None
    meta._local.relog_latest = None
    if pending is None or pending[0] != os.getpid() or pending[1].in_transaction:
        return
    direct = getattr(meta._local, "direct", None)
    changes = direct[1].total_changes if direct is not None and direct[0] == os.getpid() else None
    meta._local.relog_latest = (*pending, pending[1].total_changes, changes)


def _remembered(meta: Any, raw: sqlite3.Connection, name: str, oid: str) -> dict[str, Any] | None:
    """The row :func:`committed` remembered for ``name`` if it holds ``oid`` and nothing was committed
    since by anyone (data version and both connections' counters as noted), else None."""
    rec = getattr(meta._local, "relog_latest", None)
    if rec is None or rec[3] != name or rec[0] != os.getpid() or rec[4]["oid"] != oid:
        return None
    _, driver, version, _, row, changes, direct_changes = rec
    own = _own(meta)
    if (own is None or own[0].in_transaction() or own[1] is not driver or driver.in_transaction
            or driver.total_changes != changes or raw.total_changes != direct_changes):
        return None
    if driver.execute("PRAGMA data_version").fetchone()[0] != version:
        meta._local.relog_latest = None
        return None
    return dict(row)


def _seen(meta: Any, raw: sqlite3.Connection) -> None:
    """Note both connections' write counters (what :func:`_reader` compares against next time)."""
    own = _own(meta)
    meta._local.relog_seen = None if own is None else (id(own[1]), raw.total_changes, own[1].total_changes)


def _latest(raw: Any, name: str, oid: str) -> dict[str, Any] | None:
    row = raw.execute(_LATEST, (name,)).fetchone()
    if row is None or row[2] != oid:
        return None
    return dict(zip(_NAMES, row))
