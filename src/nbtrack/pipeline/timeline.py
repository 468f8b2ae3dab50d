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
    """Record ``event`` now (only when ``NBTRACK_TIMELINE`` names a file), with this process's CPU
    time so far in ms (``cpu=``)."""
    path = os.environ.get(ENV)
    if not path:
        return
    extra = " ".join(f"{k}={v}" for k, v in {**details, "cpu": f"{time.process_time() * 1000:.1f}"}.items())
    thread = threading.current_thread().name.replace(" ", "_")  # ("Thread-3 (run)": one column)
    line = f"{time.time():.6f} {os.getpid()} {thread} {event} {extra}\n"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode())  # one write per line: lines of concurrent processes never mix
        finally:
            os.close(fd)
    except OSError:
        pass


def show(path: str) -> str:
    """The timeline as milliseconds since its first event (lines that are not events are skipped,
    and counted at the end)."""
    rows = []
    skipped = 0
    with open(path, errors="replace") as f:
        for line in f:
            parts = line.rstrip("\n").split(" ", 3)
            try:
                rows.append((float(parts[0]), parts[1], parts[2], parts[3]))
            except (ValueError, IndexError):
                skipped += 1
    rows.sort()
    t0 = rows[0][0] if rows else 0.0
    out = [f"{(t - t0) * 1000:8.1f} {pid:>7} {thread[:18]:<18} {rest}" for t, pid, thread, rest in rows]
    if skipped:
        out.append(f"({skipped} line(s) of {path} are not timeline events: skipped)")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m nbtrack.pipeline.timeline",
        description=f"Print a timeline written with {ENV}=FILE, in ms since its first event.")
    parser.add_argument("file")
    args = parser.parse_args(argv)
    try:
        print(show(args.file))
    except OSError as e:
        print(f"error: cannot read {args.file}: {e.strerror or e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
