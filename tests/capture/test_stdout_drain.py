"""Draining ipykernel's fd watcher: the copy closes only after bytes already written to the
descriptor went through write(), judged from what the kernel says the thread is doing."""

from __future__ import annotations

import os
import threading
import time
from types import SimpleNamespace

import pytest

from nbtrack.capture import stdout

linux = pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="needs Linux /proc")


def _watcher(fid: int, got: list, lag: float):
    def _watch_pipe_fd():
        bts = os.read(fid, 1000)
        while bts:
            time.sleep(lag)  # the bytes are out of the pipe but not yet forwarded
            got.append(bts)
            bts = os.read(fid, 1000)

    t = threading.Thread(target=_watch_pipe_fd, daemon=True)
    t.start()
    return t


@linux
def test_blocked_in_read_tells_asleep_on_the_pipe_from_busy():
    r, w = os.pipe()
    got: list = []
    t = _watcher(r, got, lag=0.3)
    try:
        deadline = time.monotonic() + 5
        while not stdout._blocked_in_read(t, r):
            assert time.monotonic() < deadline
            time.sleep(0.005)
        assert stdout._blocked_in_read(t, w) is False  # asleep, but not on that descriptor
        os.write(w, b"x")
        time.sleep(0.05)
        assert stdout._blocked_in_read(t, r) is False  # forwarding (here: sleeping in between)
    finally:
        os.close(w)
        t.join(5)
        os.close(r)


@linux
@pytest.mark.parametrize("lag", [0.0, 0.02, 0.2])
def test_drain_waits_for_bytes_the_watcher_holds(lag):
    r, w = os.pipe()
    got: list = []
    t = _watcher(r, got, lag)
    stream = SimpleNamespace(_fid=r, watch_fd_thread=t)
    try:
        for i in range(20):
            os.write(w, b"line %d\n" % i)
            stdout.drain_fd_watcher(stream, timeout=5)
            assert b"".join(got).endswith(b"line %d\n" % i)
    finally:
        os.close(w)
        t.join(5)
        os.close(r)


def test_drain_returns_at_once_without_a_watcher():
    start = time.monotonic()
    stdout.drain_fd_watcher(SimpleNamespace(_fid=None, watch_fd_thread=None))
    assert time.monotonic() - start < 0.05
