"""An opt-in timeline of what a pipeline run or sweep spends its time on.

``NBTRACK_TIMELINE=/path/file`` appends one line per event (wall time, pid, thread, event,
details) from every process of a command (the driver's child, sweep workers); unset, each
:func:`mark` costs one dictionary lookup. Read it with ``python -m nbtrack.pipeline.timeline FILE``.
"""

from __future__ import annotations

import os
import sys
import threading
import time

ENV = "NBTRACK_TIMELINE"


def mark(event: str, **details: object) -> None:
    """Record ``event`` now (only when ``NBTRACK_TIMELINE`` names a file)."""
    path = os.environ.get(ENV)
    if not path:
        return
    extra = " ".join(f"{k}={v}" for k, v in details.items())
    line = f"{time.time():.6f} {os.getpid()} {threading.current_thread().name} {event} {extra}\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())  # one write per line: lines of concurrent processes never mix
        finally:
            os.close(fd)
    except OSError:
        pass


def show(path: str) -> str:
    """The timeline as milliseconds since its first event."""
    rows = []
    with open(path) as f:
        for line in f:
            t, pid, thread, rest = line.rstrip("\n").split(" ", 3)
            rows.append((float(t), pid, thread, rest))
    rows.sort()
    t0 = rows[0][0] if rows else 0.0
    return "\n".join(f"{(t - t0) * 1000:8.1f} {pid:>7} {thread[:18]:<18} {rest}" for t, pid, thread, rest in rows)


if __name__ == "__main__":
    print(show(sys.argv[1]))
