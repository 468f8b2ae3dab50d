"""IPython's cell events handed to the cell recorder (:mod:`nbtrack.capture.recorder`).

``pre_run_cell`` recognises a ``%%track`` cell and starts its run,
``post_run_cell`` ends the run and shows the summary when asked. Nothing runs
in ``post_execute``: figures are taken from the display path
(:mod:`nbtrack.ipython.display`), so matplotlib's own callbacks run untouched.
A failure in any of them is one warning line; the cell itself is untouched.
"""

from __future__ import annotations

import os
import sys

from .._secrets import PY_BODY_MAGICS
from ..capture.recorder import CellRecorder, warn
from ..ui import show_summary
from . import warm
from .magics import MAGIC_LINE, find_track_line, parse_track_line


class TrackEvents:
    """The event callbacks of one shell; ``recorder`` holds the tracked cell's state."""

    def __init__(self, shell) -> None:
        self.shell = shell
        self.recorder = CellRecorder(shell)
        self.nested = 0  # run_cell calls made inside the tracked cell (%%capture, a cell running cells)

    def pre_run_cell(self, info) -> None:
        warm.wait()  # never run a cell while the read path is being imported in the background
        background = sys.modules.get("nbtrack.capture.background")
        if background is not None:  # what failed in the background snapshot writer: one line, at the next cell
            background.show_warning()
        if self.recorder.active:  # a tracked cell that runs cells: track the outer one only
            self.nested += 1
            return
        raw = (getattr(info, "raw_cell", "") or "").lstrip("\n")
        transformed = getattr(info, "transformed_cell", None)
        if not MAGIC_LINE.match(raw):
            stacked = find_track_line(raw)
            if stacked is None:
                return
            outer, i = stacked
            if not all(m in PY_BODY_MAGICS - {"timeit"} for m in outer):
                print(f"nbtrack: %%track must be the cell's first line (it follows %%{outer[0]}); "
                      "the cell ran without tracking it", file=sys.stderr)
                return
            lines = raw.split("\n")  # %%time then %%track: the body runs in this shell, track it
            raw = "\n".join([lines[i], *lines[:i], *lines[i + 1:]])
            transformed = None
        try:
            first, _, body = raw.partition("\n")
            args = parse_track_line(first)
            self.recorder.begin(args, body, getattr(info, "cell_id", None), transformed)
            self.nested = 0
        except Exception as e:
            self.recorder.abort()
            warn("starting the run", e)
        except KeyboardInterrupt:  # Ctrl-C while snapshotting the inputs: one line, no traceback
            self.recorder.interrupted_at_start()
            print("nbtrack: interrupted while starting the run; the cell ran without tracking it",
                  file=sys.stderr)

    def post_run_cell(self, result) -> None:
        if self.nested:
            self.nested -= 1
            return
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
