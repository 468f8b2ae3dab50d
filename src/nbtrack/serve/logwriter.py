"""The prediction log's writer: a child process that turns buffered rows into dataset versions.

Building the frame, checking data contracts, encoding parquet chunks and
recomputing statistics take the GIL for tens to hundreds of milliseconds per
write; in the server's own process that would stall the event loop and show in
every request's tail latency. So the server's log thread only pickles the
buffered rows to this process (``python -m nbtrack.serve.logwriter``) over a
pipe and waits for the answer (the GIL is free while it waits). Messages are
length-prefixed pickles: ``("open", meta_url, objects_url)``,
``("write", name, items, run_id)`` -> ``("ok", rows, ref)`` or ``("error", text)``.

If the child dies, the write fails (the rows stay buffered) and the next write
starts a new child.
"""

from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
import threading
from typing import IO, Any

_HEAD = struct.Struct("<Q")


class WriteFailed(Exception):
    """The rows could not be written (store unavailable, writer died); they stay buffered."""


def send(f: IO[bytes] | None, obj: Any) -> None:
    if f is None:  # a Popen pipe is only None without stdin/stdout=PIPE
        raise OSError("the log writer has no pipe")
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    f.write(_HEAD.pack(len(data)))
    f.write(data)
    f.flush()


def recv(f: IO[bytes] | None) -> Any:
    if f is None:
        raise OSError("the log writer has no pipe")
    head = f.read(_HEAD.size)
    if len(head) < _HEAD.size:
        raise EOFError
    size = _HEAD.unpack(head)[0]
    data = f.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)


class Writer:
    """The server's side: one child process, started on demand, one write at a time."""

    def __init__(self, workspace: Any) -> None:
        self.urls = (workspace.meta_url, workspace.objects_url)
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            self._ensure()

    def _ensure(self) -> subprocess.Popen:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen([sys.executable, "-m", "nbtrack.serve.logwriter"], stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, env=_child_env())
            send(self._proc.stdin, ("open", *self.urls))
        return self._proc

    def write(self, name: str, items: list[tuple], run_id: str | None) -> tuple[int, str]:
        """``(rows written, "NAME.predictions@N")`` or :class:`WriteFailed`."""
        with self._lock:
            try:
                proc = self._ensure()
                send(proc.stdin, ("write", name, items, run_id))
                answer = recv(proc.stdout)
            except (OSError, EOFError, pickle.PickleError) as e:
                self._kill()
                raise WriteFailed(f"the log writer process failed ({type(e).__name__}: {e})") from None
        if answer[0] != "ok":
            raise WriteFailed(answer[1])
        return answer[1], answer[2]

    def close(self) -> None:
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            send(proc.stdin, ("close",))
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            proc.kill()
            proc.wait()
        finally:
            if proc.stdout:
                proc.stdout.close()

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._proc = None


def _child_env() -> dict[str, str]:
    """The child imports the same nbtrack as this process (a worktree on sys.path included)."""
    src = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (src, path) if p)}


def main() -> None:
    """The child: answer write requests until stdin closes."""
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # stray prints must not corrupt the protocol
    stdin = sys.stdin.buffer
    from ..snapshot.append import append_frame
    from ..workspace import Workspace
    from .logrows import contract_flags, rows_frame

    ws: Workspace | None = None
    contracts: dict[int, Any] = {}
    while True:
        try:
            msg = recv(stdin)
        except EOFError:
            return
        if msg[0] == "close":
            return
        if msg[0] == "open":
            ws = Workspace(msg[1], msg[2])
            continue
        _, name, items, run_id = msg
        try:
            frame = contract_flags(rows_frame(items), name, ws, contracts)
            version = append_frame(frame, f"{name}.predictions", run_id=run_id, workspace=ws)
            send(out, ("ok", len(frame), version.ref))
        except Exception as e:
            text = str(e).splitlines()[0][:300] if str(e) else type(e).__name__
            send(out, ("error", f"{type(e).__name__}: {text}"))


if __name__ == "__main__":
    main()
