"""A bounded copy of what a tracked cell prints: the output still goes where it went.

In a Jupyter kernel, ``sys.stdout`` is ipykernel's ``OutStream``. Its ``write``
is wrapped on the instance, so ``sys.stdout`` stays the kernel's own object
(``isinstance`` checks, ``fileno()``, ``%%capture`` all behave as untracked), and
output written at the C level to file descriptor 1 (libsvm's verbose log,
``os.write(1, ...)``) is kept too: ipykernel's fd watcher thread forwards it
through the same ``write``. Before the copy is closed, the watcher's pipe is
drained so output that is already written is not lost: on Linux the copy waits until the
kernel shows the watcher asleep in ``read`` on an empty pipe (``/proc``), elsewhere until its
Python frame is back at ``os.read`` (a heuristic with a small window). Elsewhere (a terminal,
a script) ``sys.stdout`` is replaced by a :class:`Tee` for the cell.
"""

from __future__ import annotations

import sys
import time
from typing import Any

MAX_STDOUT = 1_000_000  # characters kept per run; the rest is counted, not stored
DRAIN_S = 0.5  # longest wait for the kernel's fd watcher to forward C-level output


class Tee:
    def __init__(self, stream: Any, limit: int = MAX_STDOUT, write: Any = None) -> None:
        self._stream = stream
        self._write = write or stream.write
        self._parts: list[str] = []
        self._size = 0
        self._limit = limit
        self.dropped = 0

    def write(self, s: str) -> int:
        try:
            if isinstance(s, str):
                room = self._limit - self._size
                if room > 0:
                    self._parts.append(s[:room])
                    self._size += min(len(s), room)
                self.dropped += max(0, len(s) - max(room, 0))
        except Exception:
            pass
        return self._write(s)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def text(self) -> str:
        out = "".join(self._parts)
        if self.dropped:
            out += f"\n[nbtrack: {self.dropped} more characters not kept]\n"
        return out


class capture_stdout:
    """Copy what is written to ``sys.stdout`` until ``stop()``."""

    def __init__(self) -> None:
        self.tee: Tee | None = None
        self._prev: Any = None
        self._patched: Any = None  # the stream whose write() is wrapped
        self._had_own_write = False

    def start(self) -> None:
        stream = self._prev = sys.stdout
        if _is_kernel_stream(stream):
            try:
                self._had_own_write = "write" in vars(stream)
                self.tee = Tee(stream, write=stream.write)
                setattr(stream, "write", self.tee.write)  # noqa: B010  (monkeypatch the bound method)
                self._patched = stream
                return
            except Exception:
                self._patched = None
        self.tee = Tee(stream)
        sys.stdout = self.tee

    def stop(self) -> str:
        if self.tee is None:
            return ""
        stream, tee = self._patched, self.tee
        if stream is not None:
            try:
                drain_fd_watcher(stream)
            finally:
                if self._had_own_write:
                    stream.write = tee._write
                else:
                    vars(stream).pop("write", None)
        elif sys.stdout is tee:
            sys.stdout = self._prev
        text = tee.text()
        self.tee = self._patched = None
        return text


def _is_kernel_stream(stream: Any) -> bool:
    cls = type(stream)
    return cls.__name__ == "OutStream" and cls.__module__.startswith("ipykernel") and hasattr(stream, "__dict__")


def drain_fd_watcher(stream: Any, timeout: float = DRAIN_S) -> None:
    """Wait (briefly) until ipykernel's fd watcher has forwarded what is in its pipe."""
    fid = getattr(stream, "_fid", None)
    thread = getattr(stream, "watch_fd_thread", None)
    if fid is None or thread is None or not thread.is_alive():
        return
    deadline = time.monotonic() + timeout
    # asleep in read() on an empty pipe, seen twice around the emptiness check: everything
    # written to the descriptor before this call has been forwarded through write()
    while not _watcher_idle(thread, fid) or _pending(fid) or not _watcher_idle(thread, fid):
        if time.monotonic() > deadline:
            return
        time.sleep(0.001)


def _pending(fid: int) -> int:
    try:
        import array
        import fcntl
        import termios

        buf = array.array("i", [0])
        fcntl.ioctl(fid, termios.FIONREAD, buf)
        return buf[0]
    except Exception:
        return 0


# read(2)'s number per machine, to recognise a thread blocked reading the pipe in /proc
_READ_SYSCALL = {"x86_64": 0, "amd64": 0, "aarch64": 63, "arm64": 63}


def _blocked_in_read(thread: Any, fid: int) -> bool | None:
    """Whether the kernel has ``thread`` asleep in ``read(fid)``; None when it cannot tell.

    Linux's ``/proc/self/task/TID/syscall`` names the system call a blocked thread sleeps in
    and its arguments, and says ``running`` for a thread that is not asleep: one that has
    just been woken by new bytes, or is forwarding a chunk, or waits for nothing. Unlike the
    thread's Python frame (which still points at ``os.read`` after the read returned, while
    the thread waits for the GIL with the bytes in hand), this has no window.
    """
    import platform

    number = _READ_SYSCALL.get(platform.machine().lower())
    tid = getattr(thread, "native_id", None)
    if number is None or tid is None:
        return None
    try:
        with open(f"/proc/self/task/{tid}/syscall") as f:
            fields = f.read().split()
    except OSError:
        return None
    if not fields or fields[0] == "running":
        return False
    try:
        return int(fields[0]) == number and int(fields[1], 16) == fid
    except (ValueError, IndexError):
        return None


def _watcher_idle(thread: Any, fid: int | None = None) -> bool:
    """True when the watcher thread is blocked reading its pipe (not forwarding a chunk)."""
    if fid is not None:
        blocked = _blocked_in_read(thread, fid)
        if blocked is not None:
            return blocked
    frame = sys._current_frames().get(thread.ident)
    if frame is None:
        return True
    if frame.f_code.co_name != "_watch_pipe_fd":
        return False
    try:
        import linecache

        line = linecache.getline(frame.f_code.co_filename, frame.f_lineno)
    except Exception:
        return True
    return not line or "os.read" in line  # without its source, do not wait on it
