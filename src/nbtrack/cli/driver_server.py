"""The driver server behind :mod:`.driver`: pre-imported, it forks one child per command.

Started detached by the first pipeline command of a key (see :func:`.driver.key`). It
imports what ``nbtrack run|sweep|reproduce`` import (and compiles nbformat's schema
validator), freezes the heap (``gc.freeze``: forked children share its pages), then listens.
For each request it forks a child, replies ``{"pid": N}`` and, when the child exits,
``{"code": N}`` or ``{"signal": N}``. A client that goes away first gets its child stopped
(SIGHUP to its process group, SIGKILL after 5 s). The server refuses to fork if it has
threads, serves only its own user (``SO_PEERCRED``), and exits when it has had no request
and no running child for ``idle`` seconds, or when its socket file is removed or replaced.
"""

from __future__ import annotations

import contextlib
import fcntl
import gc
import io
import json
import os
import selectors
import signal
import socket
import struct
import sys
import threading
import time

PRELOAD = (
    "nbtrack.cli", "nbtrack.cli.pipeline", "nbtrack.pipeline.run", "nbtrack.pipeline.sweep",
    "nbtrack.pipeline.workers", "nbtrack.pipeline.reproduce", "nbtrack.pipeline.kernels",
    "nbtrack.pipeline.forkserver", "nbtrack.pipeline.execute", "nbtrack.pipeline.progress",
    "nbtrack.registry.approve", "nbtrack.store.backends.local", "nbtrack.store.crypto",
    "nbtrack.store.audit_chain", "nbtrack.capture.run", "nbtrack.capture.env", "nbtrack.store.runs",
    "sqlalchemy.dialects.sqlite", "jupyter_client.manager", "jupyter_client.asynchronous",
    "jupyter_client.provisioning", "nbclient", "nbformat", "papermill.engines", "papermill.clientwrap",
    "ipykernel.kernelspec", "IPython", "IPython.paths", "tqdm.auto", "concurrent.futures.process",
    "multiprocessing.popen_fork", "rich.console", "rich.table", "rich.text", "rich.progress",
)


_server_streams: list = []  # the server's own stream objects, kept: freeing them would close fds 0-2


class Child:
    def __init__(self, pid: int, conn: socket.socket) -> None:
        self.pid, self.conn = pid, conn
        self.pidfd = os.pidfd_open(pid)
        self.hung_up: float | None = None
        self.started = time.monotonic()


def preload() -> None:
    """Import what a pipeline command imports (each on its own: one failure skips one module)."""
    import importlib

    from nbtrack.cli.pipeline import skip_slow_optional_imports

    skip_slow_optional_imports()
    from nbtrack.pipeline.execute import import_papermill

    import_papermill()
    for name in PRELOAD:
        with contextlib.suppress(Exception):
            importlib.import_module(name)
    with contextlib.suppress(Exception):  # nbformat compiles its schema validator on first use
        import nbformat
        from nbformat.v4 import new_notebook

        nbformat.validate(new_notebook())
    with contextlib.suppress(Exception):  # jupyter_client reads every installed package's entry points
        from jupyter_client.provisioning import KernelProvisionerFactory  # for its provisioners at the

        KernelProvisionerFactory.instance()  # first kernel of each process: ~40 ms, here once
    with contextlib.suppress(Exception):  # the mime types table, read at the first artifact (~10 ms)
        import mimetypes

        mimetypes.init()


def _stat(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def _peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[2]


def _receive(conn: socket.socket) -> tuple[dict, list[int]] | None:
    conn.settimeout(5)
    msg, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
    while msg and not msg.endswith(b"\n"):
        more = conn.recv(1 << 20)
        if not more:
            break
        msg += more
    conn.settimeout(None)
    if not msg.endswith(b"\n") or len(fds) != 3:
        for fd in fds:
            os.close(fd)
        return None
    return json.loads(msg), fds


def _send(conn: socket.socket, msg: dict) -> None:
    with contextlib.suppress(OSError):
        conn.sendall(json.dumps(msg).encode() + b"\n")


def _log(line: str) -> None:
    """One line to the server's log file (its stdout: a file in the private socket folder, never a terminal)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def serve(path: str, idle: float) -> tuple[dict, list[int]] | None:
    """The accept loop. Returns only in a forked child: the request it is to run."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    tmp = f"{path}.{os.getpid()}.tmp"
    listener.bind(tmp)
    listener.listen(64)
    os.replace(tmp, path)
    mine = _stat(path)
    _log(f"driver server {os.getpid()} listening on {path}")
    sel = selectors.DefaultSelector()
    sel.register(listener, selectors.EVENT_READ, "accept")
    children: dict[int, Child] = {}
    last = time.monotonic()
    served = 0
    while True:
        for skey, _ in sel.select(timeout=1.0):
            what = skey.data
            if what == "accept":
                conn, _ = listener.accept()
                last = time.monotonic()
                try:
                    got = _receive(conn) if _peer_uid(conn) == os.getuid() else None
                except (OSError, ValueError):
                    got = None
                if got is None or threading.active_count() > 1:
                    conn.close()
                    continue
                req, fds = got
                pid = os.fork()
                if pid == 0:  # the child: leave the loop with nothing of the server's open
                    sel.close()
                    listener.close()
                    conn.close()
                    for c in children.values():
                        c.conn.close()
                        os.close(c.pidfd)
                    return req, fds
                for fd in fds:
                    os.close(fd)
                served += 1
                _log(f"served {served}: pid {pid}")  # never argv: parameters may hold secrets
                child = Child(pid, conn)
                children[pid] = child
                _send(conn, {"pid": pid})
                sel.register(child.pidfd, selectors.EVENT_READ, ("exit", pid))
                sel.register(conn, selectors.EVENT_READ, ("client", pid))
            elif what[0] == "exit":
                child = children.pop(what[1])
                sel.unregister(child.pidfd)
                if child.hung_up is None:  # else unregistered when its client went away
                    sel.unregister(child.conn)
                _, status, usage = os.wait4(child.pid, 0)
                _log(f"done {child.pid}: status {status} in {time.monotonic() - child.started:.3f} s, "
                     f"cpu {usage.ru_utime + usage.ru_stime:.3f} s")
                if os.WIFSIGNALED(status):
                    _send(child.conn, {"signal": os.WTERMSIG(status)})
                else:
                    _send(child.conn, {"code": os.waitstatus_to_exitcode(status)})
                child.conn.close()
                os.close(child.pidfd)
                last = time.monotonic()
            elif what[1] in children:  # the client wrote or went away (it never writes again): gone
                child = children[what[1]]
                sel.unregister(child.conn)
                _hang_up(child)
        now = time.monotonic()
        for child in children.values():
            if child.hung_up is not None and now - child.hung_up > 5:
                with contextlib.suppress(OSError):
                    os.killpg(child.pid, signal.SIGKILL)
                child.hung_up = float("inf")
        if not children and (now - last > idle or _stat(path) != mine):
            if _stat(path) == mine:
                with contextlib.suppress(OSError):
                    os.unlink(path)
            return None


def _hang_up(child: Child) -> None:
    with contextlib.suppress(OSError):
        os.killpg(child.pid, signal.SIGHUP)
    child.hung_up = time.monotonic()


def become(req: dict, fds: list[int]) -> None:
    """In the forked child: take the client's streams, cwd, umask, environment and argv."""
    os.setsid()
    for target, fd in enumerate(fds):
        if fd != target:
            os.dup2(fd, target)
            os.close(fd)
    os.chdir(req["cwd"])
    os.umask(req["umask"])
    os.environ.clear()
    os.environ.update(req["env"])
    sys.argv = list(req["argv"])
    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGCHLD, signal.SIGPIPE):
        signal.signal(s, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # as Python sets it up at start
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for s in req.get("ignored", []):  # ignored by the client's parent: ignored here too
        signal.signal(s, signal.SIG_IGN)
    _server_streams.extend((sys.stdin, sys.stdout, sys.stderr, sys.__stdin__, sys.__stdout__, sys.__stderr__))
    enc = sys.__stdout__.encoding if sys.__stdout__ else "utf-8"  # the same locale: it is in the key
    out = open(1, "wb", closefd=False)  # noqa: SIM115
    err = open(2, "wb", closefd=False)  # noqa: SIM115
    sys.stdin = sys.__stdin__ = open(0, encoding=enc, closefd=False)  # type: ignore[misc]  # noqa: SIM115
    sys.stdout = sys.__stdout__ = io.TextIOWrapper(out, encoding=enc, line_buffering=os.isatty(1))  # type: ignore[misc]
    sys.stderr = sys.__stderr__ = io.TextIOWrapper(  # type: ignore[misc]
        err, encoding=enc, errors="backslashreplace", line_buffering=True, write_through=True)


def main(path: str, idle: float) -> None:
    """Entry of the detached server process (see :func:`.driver.start_server`)."""
    os.chdir("/")
    with open(path[:-len(".sock")] + ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return  # another server for this key is starting or running
        preload()
        if threading.active_count() > 1:
            _log("threads after the imports: not serving")
            return
        gc.freeze()
        got = serve(path, idle)
        if got is None:
            return
    req, fds = got  # in a forked child (its copy of the lock is closed: the server keeps the lock)
    become(req, fds)
    from nbtrack.cli import main as cli_main

    try:
        cli_main()
        code: object = 0
    except SystemExit as e:
        code = e.code
    exit_now(code)  # anything else raised: the interpreter's own exit (traceback, code 1)


def exit_now(code: object) -> None:
    """End the command's process as the interpreter would, less its module teardown.

    In order: non-daemon threads joined (and what ``concurrent.futures`` registered there), the
    ``atexit`` handlers, files still open and the standard streams flushed, then ``os._exit``.
    Tearing down every module would touch (and so copy, page by page) the whole heap inherited
    from the server: ~0.1 s of CPU and wall at the end of every command, for nothing.
    """
    import atexit

    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("message"): printed, status 1
        with contextlib.suppress(Exception):
            sys.stderr.write(f"{code}\n")
        status = 1
    with contextlib.suppress(Exception):
        threading._shutdown()  # type: ignore[attr-defined]  # what Py_Finalize does first
    with contextlib.suppress(Exception):
        atexit._run_exitfuncs()
    with contextlib.suppress(Exception):
        for obj in gc.get_objects():  # this process's objects only: the server's are frozen
            if isinstance(obj, io.IOBase) and not obj.closed:
                with contextlib.suppress(Exception):
                    obj.flush()
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(Exception):
            if stream is not None:
                stream.flush()
    os._exit(status)
