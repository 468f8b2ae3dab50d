"""``%%track`` and the ``%track_*`` magics: argument parsing and display, nothing else.

The cell is *not* re-run by ``%%track``: an input transformer blanks the magic
line (keeping line numbers), IPython runs the body exactly as it would without
the magic, and the events (:mod:`.events`) record the run around it.
"""

from __future__ import annotations

import re
from typing import Any

from IPython.core.error import UsageError
from IPython.core.inputtransformer2 import cell_magic as cell_magic_call
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from ..capture.data_hook import restore
from ..capture.recorder import TrackOptions, notebook_path
from ..errors import NbtrackError
from ..ui import browser, compare, history

MAGIC_LINE = re.compile(r"^%%track(\s|$)")


def blank_magic_line(lines: list[str]) -> list[str]:
    """Input transformer: `%%track ...` on the first line becomes an empty line.

    A cell magic stacked under it (``%%track`` then ``%%time``, ``%%capture x``,
    ``%%bash`` …) becomes the call IPython itself makes for that magic, so the
    inner magic runs exactly as it would on the cell's first line."""
    if not lines or not MAGIC_LINE.match(lines[0]):
        return lines
    rest = lines[1:]
    k = 0
    while k < len(rest) and not rest[k].strip():  # IPython drops leading blank lines too
        k += 1
    if k < len(rest) and rest[k].startswith("%%"):
        return ["\n"] * (1 + k) + cell_magic_call(rest[k:])
    return ["\n", *rest]


def find_track_line(raw: str) -> tuple[list[str], int] | None:
    """For a cell whose leading cell-magic lines include ``%%track`` after others
    (``%%time`` then ``%%track``): (the magics before it, its line index); else None."""
    if "%%track" not in raw:
        return None
    lines = raw.split("\n")
    outer: list[str] = []
    for i, line in enumerate(lines):
        if MAGIC_LINE.match(line):
            return (outer, i) if outer else None
        if not line.startswith("%%"):
            return None
        outer.append(line[2:].split(None, 1)[0] if line[2:].strip() else "")
    return None


@magics_class
class TrackMagics(Magics):
    @property
    def ip(self) -> Any:
        """The shell these magics are registered on (always set once registered)."""
        assert self.shell is not None
        return self.shell

    @magic_arguments()
    @argument("name", nargs="?", default=None, help="run name; also names the cell's history")
    @argument("--tag", action="append", default=[], metavar="K=V", help="tag the run (repeatable)")
    @argument("--no-params", action="store_true", help="do not log literal assignments as params")
    @argument("--params", default=None, metavar="NAMES",
              help="comma-separated variables to log as params instead of the detected ones")
    @argument("--metrics", default=None, metavar="NAMES",
              help="comma-separated variables to log as metrics instead of the detected ones")
    @argument("--no-metrics", action="store_true", help="do not log automatically detected metrics")
    @argument("--no-data", action="store_true", help="do not snapshot DataFrames the cell reads or writes")
    @argument("--no-models", action="store_true", help="do not store fitted scikit-learn models as model versions")
    @argument("--summary", action="store_true", help="show a one-line summary of the run")
    @cell_magic
    def track(self, line: str, cell: str) -> None:
        """Record this cell's execution as a run: code, params, metrics, figures, stdout.

        Small literal top-level assignments (``lr = 0.1``) are params, scores the
        cell computes or shows are metrics, new matplotlib figures are PNG
        artifacts (docs/track.md says exactly what is recorded). Use
        ``nbtrack.log_metric`` etc. inside the cell for anything else.
        """
        # Reached only when called programmatically (run_cell_magic): normally the
        # input transformer removes the magic line and the events do the work.
        self.ip.run_cell(f"%%track {line}\n{cell}", store_history=False)

    # -- data: %track_restore (logic in capture/data_hook.py) ---------------------------------
    @line_magic
    def track_restore(self, line: str) -> None:
        """%track_restore RUN_ID: load the run's input DataFrames back under their variable
        names and put its cell source into the next input cell, ready to run again."""
        try:
            restored = restore(line, self.ip)
        except NbtrackError as e:
            raise UsageError(str(e)) from None
        done = ", ".join(f"{var} = {ref}" for var, ref in restored.items()) or "no input datasets"
        print(f"nbtrack: restored {done}; the run's code is in the next cell")

    @line_magic
    def track_runs(self, line: str):
        """Show the runs table (same arguments as nbtrack.runs: a filter expression)."""
        from ..query import runs  # pandas + SQLAlchemy: on use, not at %load_ext

        return runs(filter=line.strip() or None)

    # -- ui: the version browser and quick views (logic in nbtrack/ui) -----------------------
    @line_magic
    def track_browser(self, line: str):
        """%track_browser [NOTEBOOK | *]: the version browser widget (this notebook's runs; * for all)."""
        nb = line.strip() or notebook_path(self.ip.user_ns) or ""
        return browser(notebook="" if nb == "*" else nb, restore=lambda run_id: restore(run_id, self.ip))

    @magic_arguments()
    @argument("cell", nargs="?", default=None, help="cell (%%track NAME) or run name; default: the last tracked cell")
    @argument("-a", type=int, default=None, help="diff from this version (default: the one before -b)")
    @argument("-b", type=int, default=None, help="diff to this version (default: the latest)")
    @line_magic
    def track_history(self, line: str):
        """Versions of a tracked cell with their metrics and a code diff (HTML, or text outside notebooks)."""
        args = parse_argstring(self.track_history, line)
        try:
            return history(args.cell, notebook_path(self.ip.user_ns), a=args.a, b=args.b)
        except NbtrackError as e:
            raise UsageError(str(e)) from None

    @line_magic
    def track_compare(self, line: str):
        """%track_compare RUN RUN ...: params and metrics side by side, differences highlighted, with plots."""
        try:
            return compare(*line.split())
        except NbtrackError as e:
            raise UsageError(str(e)) from None


def parse_track_line(first: str) -> TrackOptions:
    """The options of a ``%%track ...`` first line, as the magic's own parser reads them."""
    try:
        ns = parse_argstring(TrackMagics.track, first[len("%%track"):])
    except Exception as e:
        raise ValueError(f"bad %%track arguments: {e}") from None
    return TrackOptions(name=ns.name, tag=list(ns.tag), no_params=ns.no_params, no_data=ns.no_data,
                        no_models=ns.no_models, summary=ns.summary, params=ns.params, metrics=ns.metrics,
                        no_metrics=ns.no_metrics)
