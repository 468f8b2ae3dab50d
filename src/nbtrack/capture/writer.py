"""Run writes that never freeze a cell: written now, or queued while the database is locked.

SQLite has one writer at a time. When another process holds the write lock for
long (a backup, a long migration, ``sqlite3`` left inside ``BEGIN EXCLUSIVE``), a
tracked cell would otherwise wait up to the 60 s busy timeout, twice. A run's
writes (its start, periodic flushes, its end) go through :func:`write` instead:
they wait at most :data:`SHORT_WAIT_S` for the lock; if it is still held, the
write is queued and a background thread retries it until the lock clears. The
queue keeps order (a run's start before its end, one run before the next), and
every later write to the same workspace queues behind it, so nothing is written
out of order and nothing recorded is lost. At interpreter (kernel) exit the queue
is flushed, waiting at most :data:`EXIT_WAIT_S`; a run whose end still could not
be written keeps its ``running`` row with a dead pid, and the next nbtrack process
on the workspace (or ``nbtrack fsck``) closes it as ``interrupted``.
"""

from __future__ import annotations

import atexit
import collections
import threading
import time
from collections.abc import Callable
from typing import Any

from ..errors import StoreUnavailable
from . import journal

SHORT_WAIT_S = 0.5  # longest wait for the lock on the caller's path
RETRY_WAIT_S = 2.0  # the background thread's wait per attempt
EXIT_WAIT_S = 60.0  # longest wait at exit for queued writes (the busy timeout a write had before)
MAX_FAILURES = 20  # attempts for an error other than a lock (full disk, read-only) before giving up

_queue: collections.deque[tuple[Any, Callable[[], None], str, Any]] = collections.deque()
_cond = threading.Condition()
_thread: threading.Thread | None = None
dropped: list[str] = []  # writes given up on (not a lock; failed MAX_FAILURES times): for diagnostics


def is_locked(e: BaseException) -> bool:
    text = str(e).lower()
    return "locked" in text or "busy" in text


def pending(ws: Any = None) -> int:
    """Writes queued (for workspace ``ws``, or for any)."""
    with _cond:
        return sum(1 for w, *_ in _queue if ws is None or w is ws)


def write(ws: Any, fn: Callable[[], None], what: str = "write", payload: dict | None = None) -> bool:
    """Run ``fn`` (which opens its own ``ws.meta.write()`` transaction) now, or queue it.

    True when written now; False when queued (the database was locked, or earlier
    writes to ``ws`` are still queued); a queued write's ``payload`` (what ``fn``
    writes, as data) is kept in the workspace until it is done (capture/journal.py).
    Any other failure is raised.
    """
    if not _queue or not pending(ws):  # an empty queue is seen without its lock (the usual case)
        try:
            if getattr(ws.meta, "dialect", None) == "postgresql":
                fn()  # no lock to wait for: a busy timeout would change nothing
            else:
                with ws.meta.busy_timeout(SHORT_WAIT_S):
                    fn()
            return True
        except StoreUnavailable as e:
            if not is_locked(e):
                raise
    _enqueue(ws, fn, what, journal.save(ws, payload))
    return False


def _enqueue(ws: Any, fn: Callable[[], None], what: str, kept: Any = None) -> None:
    global _thread
    with _cond:
        _queue.append((ws, fn, what, kept))
        if _thread is None or not _thread.is_alive():
            _thread = threading.Thread(target=_work, name="nbtrack-writer", daemon=True)
            _thread.start()
        _cond.notify_all()


def _work() -> None:
    failures = 0
    while True:
        with _cond:
            while not _queue:
                _cond.wait()
            ws, fn, what, kept = _queue[0]  # stays queued while in flight: later writes wait behind it
        ok = False
        try:
            with ws.meta.busy_timeout(RETRY_WAIT_S):
                fn()
            ok = done = True
        except StoreUnavailable as e:
            failures = 0 if is_locked(e) else failures + 1
            done = failures >= MAX_FAILURES
            if done:
                dropped.append(f"{what}: {e}")
            else:
                time.sleep(0.05 if is_locked(e) else min(0.1 * failures, 2.0))
        except Exception as e:  # a bug, not the store: never retry forever
            dropped.append(f"{what}: {type(e).__name__}: {e}")
            done = True
        if done:
            failures = 0
            if ok:  # written: its copy on disk goes (a dropped one stays for a later replay)
                journal.discard(kept)
            with _cond:
                _queue.popleft()
                _cond.notify_all()


def flush(timeout: float = EXIT_WAIT_S) -> bool:
    """Wait until every queued write is done (at most ``timeout`` s); True if none is left."""
    deadline = time.monotonic() + timeout
    with _cond:
        while _queue:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            _cond.wait(min(left, 0.5))
    return True


atexit.register(flush)
