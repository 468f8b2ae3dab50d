"""Sweep progress: runs done / failed / running and the best value so far.

``rich`` in a terminal (the CLI), ``tqdm.auto`` from Python (a widget in a
notebook, text elsewhere), one line per finished run when output is not a
terminal (CI logs), or nothing.
"""

from __future__ import annotations

import sys
from typing import Any


class SweepProgress:
    """Shows a sweep's progress; use as a context manager and call :meth:`update`."""

    def __init__(self, total: int, label: str, mode: str | bool | None = "auto") -> None:
        self.total, self.label = total, label
        if mode == "auto":
            mode = "rich" if sys.stderr.isatty() else "lines"
        self.mode = "tqdm" if mode is True else (mode or None)
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> SweepProgress:
        if self.mode == "rich":
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[status]}"), TimeElapsedColumn(), transient=False)
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total, status="")
        elif self.mode == "tqdm":
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.total, desc=self.label, unit="run")
        return self

    def update(self, done: int, failed: int, running: int, best: str | None, last: dict | None = None) -> None:
        """Redraw with the counts; ``last`` is the outcome that just finished."""
        status = f"done {done} failed {failed} running {running}" + (f" best {best}" if best else "")
        if self.mode == "rich":
            self._bar.update(self._task, completed=done + failed, status=status)
        elif self.mode == "tqdm":
            self._bar.n = done + failed
            self._bar.set_postfix_str(status, refresh=True)
        elif self.mode == "lines" and last is not None:
            what = "failed" if last.get("status") == "failed" else "done"
            print(f"[{done + failed}/{self.total}] {what} {last.get('run_id') or '-'} {last['params']} ({status})",
                  file=sys.stderr, flush=True)

    def __exit__(self, *exc: object) -> None:
        if self.mode in ("rich", "tqdm") and self._bar is not None:
            if self.mode == "rich":
                self._bar.stop()
            else:
                self._bar.close()
