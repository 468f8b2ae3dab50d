"""Keeping an embedded (SQLite) workspace complete in ``meta.db`` alone, and copying it safely.

SQLite in WAL mode writes new pages to ``meta.db-wal`` first and copies them into
``meta.db`` at a *checkpoint*. With a large autocheckpoint threshold (see
:mod:`.meta`) a kernel could leave megabytes of runs in the WAL only, and a
copy of ``meta.db`` alone would lose them. So:

* after writes, once the store has been idle for ``IDLE_S`` seconds, one
  background thread runs a PASSIVE checkpoint (it never waits for, nor blocks,
  other writers);
* when the process exits normally (a kernel shut down, a script ending), every
  store written to is checkpointed with TRUNCATE (the WAL is emptied) and its
  connections are closed;
* :func:`backup` copies a workspace safely while it is in use: SQLite's online
  backup API for ``meta.db`` (a consistent snapshot, WAL included), then the
  content-addressed objects, which never change once written.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import threading
import time
import weakref
from typing import Any

from ..errors import InvalidInput

MetaStore = Any  # nbtrack.store.meta.MetaStore (which imports this module)

IDLE_S = 10.0
EXIT_BUSY_MS = 2000  # at exit, wait at most this long for another process's writer

_dirty: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()  # store -> last write
_lock = threading.Lock()
_thread: threading.Thread | None = None
_thread_pid: int | None = None


def note_write(meta: MetaStore) -> None:
    """A write transaction committed on ``meta`` (cheap: a dict store, a thread started once)."""
    global _thread, _thread_pid
    if meta.dialect != "sqlite":
        return
    _dirty[meta] = time.monotonic()
    if _thread is None or _thread_pid != os.getpid():  # threads do not survive fork
        with _lock:
            if _thread is None or _thread_pid != os.getpid():
                _thread_pid = os.getpid()
                _thread = threading.Thread(target=_idle_loop, name="nbtrack-checkpoint", daemon=True)
                _thread.start()


def _idle_loop() -> None:
    while True:
        time.sleep(IDLE_S / 4)
        now = time.monotonic()
        for meta, last in list(_dirty.items()):
            if now - last >= IDLE_S and _dirty.get(meta) == last:
                try:
                    checkpoint(meta, "PASSIVE")
                    if _dirty.get(meta) == last:
                        _dirty.pop(meta, None)
                except Exception:  # locked, closed, removed: the next idle period tries again
                    pass


def checkpoint(meta: MetaStore, mode: str = "PASSIVE", busy_ms: int | None = None) -> tuple[int, int, int]:
    """Run ``PRAGMA wal_checkpoint(mode)``; returns SQLite's (busy, log frames, checkpointed frames)."""
    if meta.dialect != "sqlite" or meta.read_only:
        return (0, 0, 0)
    assert mode in ("PASSIVE", "FULL", "RESTART", "TRUNCATE")
    if getattr(meta, "direct", False):  # the thread's sqlite3 connection: no SQLAlchemy needed
        from .sqlite_direct import checkpoint as direct_checkpoint

        return direct_checkpoint(meta, mode, busy_ms)
    with meta._connection() as conn:
        if conn.in_transaction():  # never checkpoint from inside a transaction of ours
            return (1, -1, -1)
        raw = conn.connection.driver_connection
        if busy_ms is not None:
            raw.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
        row = raw.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
    return tuple(row) if row else (0, 0, 0)


@atexit.register
def _at_exit() -> None:
    # Runs queued run writes first (a locked database at the end of a cell): the capture
    # writer registered its own exit flush earlier, so it would run after this one.
    # Looked up, not imported: the store layer does not import capture.
    writer = sys.modules.get("nbtrack.capture.writer")
    if writer is not None:
        try:
            writer.flush()
        except Exception:
            pass
    for meta in list(_dirty.keys()):
        try:
            checkpoint(meta, "TRUNCATE", busy_ms=EXIT_BUSY_MS)
        except Exception:
            pass
        try:
            meta.dispose()
        except Exception:
            pass
    _dirty.clear()


def backup(meta: MetaStore, objects_dir: str | None, dest: str, extra_files: list[str] | None = None) -> dict[str, Any]:
    """Copy an embedded workspace to the folder ``dest`` (created; must not hold a ``meta.db``).

    Returns ``{"meta": path, "objects": copied, "objects_skipped": already there, "bytes": n}``.
    """
    import sqlite3


    if meta.dialect != "sqlite":
        raise InvalidInput("nbtrack backup copies embedded (SQLite) workspaces; back up PostgreSQL with "
                           "pg_dump and the object store with your storage's own tools")
    os.makedirs(dest, exist_ok=True)
    target = os.path.join(dest, "meta.db")
    if os.path.exists(target):
        raise InvalidInput(f"{target} already exists: back up into a new or empty folder")
    meta.migrate()
    with meta._connection() as conn:
        src = conn.connection.driver_connection
        out = sqlite3.connect(target)
        try:
            src.backup(out)  # a consistent snapshot of the database, WAL included
            out.execute("PRAGMA journal_mode=DELETE")  # the copy is one self-contained file
        finally:
            out.close()
    copied = skipped = size = 0
    if objects_dir and os.path.isdir(objects_dir):
        for root, dirs, files in os.walk(objects_dir):
            dirs[:] = [d for d in dirs if not d.startswith(".")]  # damage markers, nothing else
            rel = os.path.relpath(root, objects_dir)
            for name in files:
                if name.startswith(".") or ".tmp" in name:  # temporaries of writes in progress
                    continue
                to = os.path.join(dest, "objects", rel, name)
                if os.path.exists(to):
                    skipped += 1
                    continue
                os.makedirs(os.path.dirname(to), exist_ok=True)
                shutil.copy2(os.path.join(root, name), to)
                copied += 1
                size += os.path.getsize(to)
    marker = os.path.join(objects_dir or "", ".nbtrack-encryption")  # an encrypted store's key check
    if objects_dir and os.path.isfile(marker):
        os.makedirs(os.path.join(dest, "objects"), exist_ok=True)
        shutil.copy2(marker, os.path.join(dest, "objects", ".nbtrack-encryption"))
    for path in extra_files or []:
        if os.path.isfile(path):
            shutil.copy2(path, os.path.join(dest, os.path.basename(path)))
    return {"meta": target, "objects": copied, "objects_skipped": skipped, "bytes": size,
            "source": meta.url.split(":///", 1)[-1].split("?", 1)[0]}
