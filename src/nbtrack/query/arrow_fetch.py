"""Large SQLite result sets straight into Arrow, read by a forked child (issue 18, target 4).

The ADBC SQLite driver (``adbc-driver-sqlite``) steps SQLite in C and fills Arrow arrays with no
Python object per cell: the three queries of ``runs()`` at 100k runs take ~270 ms instead of
~550 ms through the standard library's ``sqlite3``.

Never in this process: the driver bundles its own copy of SQLite, and two copies of SQLite in one
process corrupt a WAL database (https://sqlite.org/howtocorrupt.html, "multiple copies of SQLite
linked into the same application"). POSIX locks belong to the process, so neither copy sees the
other's: measured here, the driver's first open finds the -shm "unlocked" and truncates it under
the standard library's connections, and the standard library's last close deletes the WAL and
the -shm under the driver's connection, which then never sees a later commit again. A forked
child holds no locks of its own (fcntl locks are not inherited) and only the driver's SQLite
touches the database there: the ordinary many-processes case SQLite is made for. It opens the
file read-only (``mode=ro``: no schema, no journal-mode change, no checkpoint), runs every
statement in one read transaction (one snapshot), writes each result as an Arrow IPC stream into
a memfd and exits; the parent maps the memfds (no copy).

Anything unexpected (no driver installed, not Linux, a child error or timeout, a type the caller
did not expect) returns None and the caller reads with ``sqlite3`` as before.
"""

from __future__ import annotations

import os
import select
import sys
import threading
import time
import warnings
from typing import Any

TIMEOUT_S = 60.0  # a child that has not answered by then is killed (the caller reads with sqlite3)
BATCH_ROWS = str(1 << 30)  # one batch: the driver infers each column's type from all of its rows
_lock = threading.Lock()  # one reading child at a time per process
_broken: list[str] = []  # why the fast path is off in this process (a child timed out)
last_error = ""  # what the last child that failed said (for diagnostics)


def available() -> bool:
    """The driver is installed, the platform forks safely (Linux), nothing disabled it."""
    if _broken or not sys.platform.startswith("linux") or not hasattr(os, "memfd_create"):
        return False
    if os.environ.get("NBTRACK_ARROW_READ", "1") == "0":
        return False
    try:
        import adbc_driver_sqlite.dbapi  # noqa: F401
    except ImportError:
        return False
    return True


def _uri(path: str, immutable: bool) -> str:
    from urllib.parse import quote

    return f"file:{quote(os.path.abspath(path))}?mode=ro" + ("&immutable=1" if immutable else "")


def fetch(path: str, statements: list[tuple[str, list]], immutable: bool = False,
          setup: list[tuple[str, list]] | None = None) -> list[Any] | None:
    """The results of ``statements`` (SQL with ``?`` parameters, and their values) as pyarrow Tables,
    read in one snapshot by a forked child; None if that could not be done. ``setup``: statements
    run first in the same transaction, results not kept (e.g. a TEMP table the others read)."""
    import pyarrow as pa
    import adbc_driver_sqlite.dbapi  # noqa: F401 - imported here, before the fork: never in the child

    with _lock:
        fds = [os.memfd_create("nbtrack-table", os.MFD_CLOEXEC) for _ in statements]
        try:
            if not _run_child(path, statements, fds, immutable, setup or []):
                return None
            out = []
            import mmap

            for fd in fds:
                size = os.fstat(fd).st_size
                if size == 0:
                    return None
                try:
                    buf = pa.py_buffer(mmap.mmap(fd, size, prot=mmap.PROT_READ))  # the tables keep the map
                    out.append(pa.ipc.open_stream(buf).read_all())
                except (OSError, ValueError, pa.ArrowException) as e:
                    global last_error
                    last_error = f"unreadable result: {e}"
                    return None
            return out
        finally:
            for fd in fds:
                os.close(fd)


def _run_child(path: str, statements: list[tuple[str, list]], fds: list[int], immutable: bool,
               setup: list[tuple[str, list]]) -> bool:
    global last_error
    r, w = os.pipe()
    uri = _uri(path, immutable)
    try:
        with warnings.catch_warnings():  # 3.12+ warns of fork with threads: the child uses none of their state
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
    except OSError as e:  # e.g. no memory to fork a large process
        os.close(r)
        os.close(w)
        last_error = f"fork failed: {e}"
        return False
    if pid == 0:  # the child: no Python-level locks, no imports, no finalizers (os._exit)
        status = 1
        try:
            os.close(r)
            _child(uri, statements, fds, setup)
            os.write(w, b"ok")
            status = 0
        except BaseException as e:  # noqa: BLE001 - reported to the parent, never raised here
            try:
                os.write(w, f"{type(e).__name__}: {e}"[:2000].encode())
            except BaseException:  # noqa: BLE001
                pass
        finally:
            os._exit(status)
    os.close(w)
    answer = b""
    done = False
    deadline = time.monotonic() + TIMEOUT_S
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([r], [], [], left)[0]:
                _broken.append(f"the reading child timed out after {TIMEOUT_S:.0f} s")
                break
            chunk = os.read(r, 4096)
            if not chunk:
                done = True
                break
            answer += chunk
    finally:  # also on KeyboardInterrupt: no child left behind
        os.close(r)
        if not done:
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:  # SIGCHLD ignored: already reaped
            pass
    if answer != b"ok":
        last_error = answer.decode(errors="replace") or "the reading child died"
    return answer == b"ok"


def _child(uri: str, statements: list[tuple[str, list]], fds: list[int], setup: list[tuple[str, list]]) -> None:
    import pyarrow as pa
    import adbc_driver_sqlite
    import adbc_driver_sqlite.dbapi as dbapi

    con = dbapi.connect(uri)  # autocommit off: one read transaction, one snapshot for every statement
    try:
        cur = con.cursor()
        cur.adbc_statement.set_options(**{adbc_driver_sqlite.StatementOptions.BATCH_ROWS.value: BATCH_ROWS})
        if setup:
            cur.execute("PRAGMA temp_store = MEMORY")  # TEMP tables: this connection's own, in memory
        for sql, params in setup:
            cur.execute(sql, params or None)
        for fd, (sql, params) in zip(fds, statements):
            cur.execute(sql, params or None)
            table = cur.fetch_arrow_table()
            with pa.OSFile(f"/proc/self/fd/{fd}", "wb") as f, pa.ipc.new_stream(f, table.schema) as writer:
                writer.write_table(table)
        cur.close()
        con.rollback()
    finally:
        con.close()
