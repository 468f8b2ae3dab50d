"""IPython's cell events handed to the cell recorder (:mod:`nbtrack.capture.recorder`).

``pre_run_cell`` recognises a ``%%track`` cell and starts its run,
``post_run_cell`` ends the run and shows the summary when asked. Nothing runs
in ``post_execute``: figures are taken from the display path
(:mod:`nbtrack.ipython.display`), so matplotlib's own callbacks run untouched.
A failure in any of them is one warning line; the cell itself is untouched.
"""

from __future__ import annotations

import os

from ..capture.recorder import CellRecorder, warn
from ..ui import show_summary
from .magics import MAGIC_LINE, parse_track_line


class TrackEvents:
    """The event callbacks of one shell; ``recorder`` holds the tracked cell's state."""

    def __init__(self, shell) -> None:
        self.shell = shell
        self.recorder = CellRecorder(shell)

    def pre_run_cell(self, info) -> None:
        raw = (getattr(info, "raw_cell", "") or "").lstrip("\n")
        if not MAGIC_LINE.match(raw):
            return
        if self.recorder.active:  # a tracked cell that runs a tracked cell: track the outer one only
            return
        try:
            first, _, body = raw.partition("\n")
            args = parse_track_line(first)
            self.recorder.begin(args, body, getattr(info, "cell_id", None), getattr(info, "transformed_cell", None))
        except Exception as e:
            self.recorder.abort()
            warn("starting the run", e)

    def post_run_cell(self, result) -> None:
        cell = self.recorder.cell
        if cell is None:
            return
        run = self.recorder.finish(result)
        if run is not None and (cell.args.summary or os.environ.get("NBTRACK_SUMMARY") == "1"):
            try:
                show_summary(run.id)
            except Exception as e:
                warn("showing the summary", e)

    def register(self) -> None:
        for event, fn in self._callbacks():
            self.shell.events.register(event, fn)

    def unregister(self) -> None:
        for event, fn in self._callbacks():
            try:
                self.shell.events.unregister(event, fn)
            except ValueError:
                pass

    def _callbacks(self):
        return (("pre_run_cell", self.pre_run_cell), ("post_run_cell", self.post_run_cell))
