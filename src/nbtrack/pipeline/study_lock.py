"""One process per study: a tuned sweep holds its study while it runs.

A second ``nbtrack sweep --optuna`` on the same study would take the first one's
running trials for a crash's leftovers (and fail them): it stops instead, with one
line naming the holder (CLI exit 2).

The lock dies with its holder, so a sweep killed with ``kill -9`` (or a machine that
went away) never blocks the next run of the same command, which resumes the study:

* SQLite workspace: a POSIX record lock (``fcntl.lockf``) on ``studies/<hash>.lock``
  next to ``optuna.db``; the kernel drops it when the process ends, however it ends,
  and forked workers do not inherit it.
* PostgreSQL workspace: a session advisory lock (``pg_try_advisory_lock``) on a
  connection the sweep keeps open; the server drops it when that session ends
  (closed, killed, or its TCP connection gone).
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from typing import Any

from ..errors import InvalidInput


# (storage URL, study) pairs this process holds: POSIX record locks belong to the process, so a
# second sweep on the same study in this process (another thread) would get the file lock too,
# and its release would drop the first one's.
_held: set[tuple[str, str]] = set()
_held_lock = threading.Lock()


def _key(name: str) -> bytes:
    return hashlib.sha256(f"nbtrack.study:{name}".encode()).digest()


def holder_text() -> str:
    """This process, as the error of a second sweep names it."""
    return f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%H:%M:%S')}"


class StudyLock:
    """Held from :meth:`acquire` until :meth:`release` (or the process's end)."""

    def __init__(self, url: str, kwargs: dict, name: str) -> None:
        self.url, self.kwargs, self.name = url, kwargs, name
        self._fd: int | None = None
        self._conn: Any = None

    def acquire(self, holder_of: Any = None) -> None:
        """Take the lock or raise InvalidInput; ``holder_of()`` names the current holder."""
        with _held_lock:
            ok = (self.url, self.name) not in _held
            if ok:
                ok = self._file_lock() if self.url.startswith("sqlite") else self._pg_lock()
            if ok:
                _held.add((self.url, self.name))
        if not ok:
            who = (holder_of() if holder_of else None) or "another process"
            raise InvalidInput(f"study {self.name!r} is being run by {who}: one sweep per study at a time; "
                               "wait for it to end (or stop it), or give another --study")

    def _file_lock(self) -> bool:
        import fcntl

        from sqlalchemy.engine import make_url

        folder = os.path.join(os.path.dirname(os.path.abspath(make_url(self.url).database or ".")), "studies")
        os.makedirs(folder, exist_ok=True)
        fd = os.open(os.path.join(folder, _key(self.name).hex()[:32] + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def _pg_lock(self) -> bool:
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        engine = create_engine(self.url, poolclass=NullPool, **self.kwargs)
        conn = engine.connect()
        key = int.from_bytes(_key(self.name)[:8], "big", signed=True)
        got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
        conn.commit()  # the lock is the session's, not the transaction's
        if not got:
            conn.close()
            engine.dispose()
            return False
        self._conn, self._engine = conn, engine
        return True

    def release(self) -> None:
        if self._fd is not None or self._conn is not None:
            with _held_lock:
                _held.discard((self.url, self.name))
        if self._fd is not None:
            os.close(self._fd)  # closing drops the record lock
            self._fd = None
        if self._conn is not None:
            try:
                self._conn.close()  # ends the session: the advisory lock goes with it
                self._engine.dispose()
            except Exception:
                pass
            self._conn = None

    def __enter__(self) -> StudyLock:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()
